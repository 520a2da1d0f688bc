/* engine/ingest.c: the durable write path, the head, and the flush to LMDB.
 *
 * RECEIVED -(eng_write: normalise, find/create series, frame one WAL record)-> STAGED
 * STAGED -(writer thread: one write()+fdatasync() for every batch waiting)-> DURABLE
 * DURABLE -(writer wakes the callers; each inserts its own batch into the head, in
 *   parallel)-> VISIBLE -(eng_write returns 0)-> ACKED
 * any -(error)-> FAILED: eng_write returns it; nothing of the batch is in the head, and
 *   its WAL bytes were cut off again (or the WAL refuses all writes until restart).
 * Invariant 1: eng_write returns 0 only for a batch whose record was fdatasync'd.
 * Invariant 2: every sample in a WAL segment numbered <= meta "wal_flushed" is in LMDB
 *   (or was deleted since: retention, eng_series_delete; engine/retention.c).
 * With retention on, eng_write first drops samples older than now - retention (counted;
 *   a series left with none is validated but not created, logged or applied).
 * Cardinality limits (engine/limits.c): after validating the whole batch, a series over
 *   a label limit, or new this hour / day when that window's set is full, is dropped
 *   like a too-old one (not created, logged or applied; n_samples set to 0); the rest of
 *   the batch goes on. Invalid input still fails the whole batch (AX_EINVAL).
 *
 * Flush (flusher thread, at most one at a time), when the head holds head_max_samples,
 * the WAL exceeds wal_max_bytes, flush_interval has passed, or eng_flush asks:
 *   1. ask the writer to rotate the WAL: segment S closes; everything in segments <= S
 *      is already in the head, because the writer rotates only when no durable batch is
 *      still being inserted (e->applying == 0);
 *   2. take the dirty-series list and move each one's head buffer to its `fl` slot
 *      (pointer swap under the series' stripe lock; readers see buf + fl);
 *   3. one LMDB write txn: new series and their postings, stor_samples_write of every fl
 *      (merging into the series' last small chunk), meta wal_flushed = S; commit (fsync);
 *   4. free the fl buffers, delete WAL segments <= S.
 * A failed flush keeps fl and puts the series back on the dirty list for the next try.
 * After a crash, eng_open loads series from LMDB and replays segments > wal_flushed.
 *
 * One process per data folder: eng_open takes flock(LOCK_EX | LOCK_NB) on <path>/lock
 * (created if missing, never removed) before touching LMDB or the WAL, and eng_close
 * releases it last; a second open (another server, `auspex backtest`) fails with AX_EIO
 * "data folder <path> is in use by another auspex process". The kernel drops the lock
 * when the process dies, so kill -9 leaves nothing stale; the fd is O_CLOEXEC, so
 * programs the server runs do not inherit it.
 */
#include "engine/engine_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HEAD_MAX (4u << 20)
#define DEFAULT_FLUSH_MS 60000
#ifndef DEFAULT_CHUNK_MAX
#define DEFAULT_CHUNK_MAX 16384
#endif
#define DEFAULT_WAL_MAX (256ull << 20)
#define FLUSH_SLICE 1024 /* series per LMDB txn in a flush */

/* ---- head ---- */

static int head_grow(eng_series *s, size_t need) {
    if (need <= s->cap) return 0;
    size_t cap = s->cap ? s->cap * 2 : 8;
    while (cap < need) cap *= 2;
    if (cap > UINT32_MAX) return AX_ELIMIT;
    eng_sample *nb = realloc(s->buf, cap * sizeof *nb);
    if (!nb) return AX_ENOMEM;
    s->buf = nb;
    s->cap = (uint32_t)cap;
    return 0;
}

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

int eng__head_insert(eng_series *s, const eng_sample *in, size_t n, size_t *added, size_t *dups) {
    size_t add = 0, dup = 0;
    int rc = head_grow(s, s->n + n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        eng_sample x = in[i];
        if (s->n == 0 || x.ts > s->buf[s->n - 1].ts) {
            s->buf[s->n++] = x;
            add++;
            continue;
        }
        size_t lo = 0, hi = s->n; /* first index with ts >= x.ts */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->buf[mid].ts < x.ts) lo = mid + 1; else hi = mid;
        }
        if (s->buf[lo].ts == x.ts) {
            if (same_bits(s->buf[lo].v, x.v)) dup++;
            else s->buf[lo].v = x.v; /* a rewrite of the same timestamp: last write wins */
            continue;
        }
        memmove(&s->buf[lo + 1], &s->buf[lo], (s->n - lo) * sizeof *s->buf);
        s->buf[lo] = x;
        s->n++;
        add++;
    }
    *added = add;
    *dups = dup;
    return 0;
}

void eng__mark_dirty(eng *e, eng_series *s) {
    pthread_mutex_lock(&e->dirty_mu);
    if (!s->dirty) {
        s->dirty = true;
        s->dirty_next = e->dirty;
        e->dirty = s;
    }
    pthread_mutex_unlock(&e->dirty_mu);
}

/* ---- WAL payload encoding and replay ---- */

static int put_series_entry(ax_buf *b, const eng_series *s) {
    int rc = ax_buf_put_u8(b, ENG_WAL_SERIES);
    if (!rc) rc = ax_buf_put_uvarint(b, s->sid);
    if (!rc) rc = ax_buf_put_uvarint(b, s->labels_len);
    if (!rc) rc = ax_buf_append(b, s->labels, s->labels_len);
    return rc;
}

static int put_data_entry(ax_buf *b, uint64_t sid, const eng_sample *smp, size_t n) {
    int rc = ax_buf_reserve(b, 21 + n * 18);
    if (rc) return rc;
    uint8_t *p = b->data + b->len;
    *p++ = ENG_WAL_DATA;
    p += ax_uvarint_put(p, sid);
    p += ax_uvarint_put(p, n);
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        p += ax_uvarint_put(p, ax_zigzag_enc((int64_t)((uint64_t)smp[i].ts - (uint64_t)prev)));
        prev = smp[i].ts;
        uint64_t bits;
        memcpy(&bits, &smp[i].v, 8);
        ax_put_u64le(p, bits);
        p += 8;
    }
    b->len = (size_t)(p - b->data);
    return 0;
}

typedef struct replay_ctx {
    eng *e;
    eng_sample *tmp;
    size_t tmp_cap;
    uint64_t records, samples, bad;
} replay_ctx;

static int replay_cb(void *arg, const uint8_t *p, size_t len) {
    replay_ctx *rc = arg;
    eng *e = rc->e;
    const uint8_t *end = p + len;
    rc->records++;
    while (p < end) {
        uint8_t type = *p++;
        uint64_t sid, n;
        if (ax_uvarint_get(&p, end, &sid) || ax_uvarint_get(&p, end, &n)) goto corrupt;
        if (type == ENG_WAL_SERIES) {
            if (n > (uint64_t)(end - p)) goto corrupt;
            uint64_t h = ax_hash(p, n, 0);
            bool created, limited;
            eng_series *other = eng__registry_by_sid(&e->reg, sid);
            if (other && (other->labels_len != n || memcmp(other->labels, p, n))) {
                fprintf(stderr, "auspex: WAL reuses series id %" PRIu64 " for other labels; "
                                "entry skipped\n", sid);
                rc->bad++;
                p += n;
                continue;
            }
            eng_series *s = eng__registry_get_or_add(&e->reg, p, n, h, sid, 0, &created, &limited);
            if (!s) return AX_ENOMEM;
            if (s->sid != sid) {
                fprintf(stderr, "auspex: WAL names series %" PRIu64 " but its labels belong to "
                                "%" PRIu64 "; record skipped\n", sid, s->sid);
                rc->bad++;
            }
            atomic_store(&s->wal_logged, true);
            p += n;
        } else if (type == ENG_WAL_DATA) {
            if (n > (uint64_t)(end - p) / 9) goto corrupt;
            if (n > rc->tmp_cap) {
                eng_sample *t = realloc(rc->tmp, n * sizeof *t);
                if (!t) return AX_ENOMEM;
                rc->tmp = t;
                rc->tmp_cap = n;
            }
            int64_t prev = 0;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t zz;
                if (ax_uvarint_get(&p, end, &zz) || end - p < 8) goto corrupt;
                prev = (int64_t)((uint64_t)prev + (uint64_t)ax_zigzag_dec(zz));
                uint64_t bits = ax_get_u64le(p);
                p += 8;
                rc->tmp[i].ts = prev;
                memcpy(&rc->tmp[i].v, &bits, 8);
            }
            eng_series *s = eng__registry_by_sid(&e->reg, sid);
            if (!s) {
                rc->bad++;
                continue;
            }
            size_t added = 0, dups = 0;
            if (eng__head_insert(s, rc->tmp, n, &added, &dups)) return AX_ENOMEM;
            atomic_fetch_add(&e->head_samples, added);
            if (added) eng__mark_dirty(e, s);
            rc->samples += n;
        } else {
            goto corrupt;
        }
    }
    return 0;
corrupt:
    /* the CRC matched, so this is a bug or a foreign file: keep what was read, say so */
    fprintf(stderr, "auspex: WAL record with a bad entry (CRC ok); rest of record skipped\n");
    rc->bad++;
    return 0;
}

/* ---- writer thread ---- */

static void apply_batch(eng *e, eng_batch *b) {
    size_t total_add = 0, total_dup = 0;
    for (size_t i = 0; i < b->n; i++) {
        eng_series *s = b->series[i];
        if (!s) continue; /* left out: every sample too old */
        atomic_store(&s->wal_logged, true);
        if (!b->ts[i].n_samples) {
            atomic_fetch_sub(&s->inflight, 1);
            continue;
        }
        size_t added = 0, dups = 0;
        pthread_mutex_t *mu = eng__stripe(e, s->sid);
        pthread_mutex_lock(mu);
        int rc = eng__head_insert(s, b->ts[i].samples, b->ts[i].n_samples, &added, &dups);
        if (atomic_load(&s->deleted) && s->n) {
            /* a deleted series written again: visible again; the next flush puts its
             * series record and postings back (persisted was cleared) */
            atomic_store(&s->deleted, false);
            atomic_fetch_sub(&e->deleted_live, 1);
        }
        atomic_fetch_sub(&s->inflight, 1);
        pthread_mutex_unlock(mu);
        if (rc) {
            /* durable in the WAL but not in memory: a restart will replay it */
            fprintf(stderr, "auspex: out of memory adding samples to the head\n");
        }
        if (added) eng__mark_dirty(e, s);
        total_add += added;
        total_dup += dups;
    }
    atomic_fetch_add(&e->head_samples, total_add);
    atomic_fetch_add(&e->st_dup, total_dup);
    atomic_fetch_add(&e->st_ingested, b->n_samples);
}

static bool flush_due_by_size(eng *e) {
    return atomic_load(&e->head_samples) >= e->o.head_max_samples ||
           atomic_load(&e->wal.total_bytes) >= e->o.wal_max_bytes;
}

static void wake_flusher(eng *e) {
    pthread_mutex_lock(&e->fl_mu);
    pthread_cond_signal(&e->fl_cond);
    pthread_mutex_unlock(&e->fl_mu);
}

static void *writer_main(void *arg) {
    eng *e = arg;
    ax_buf group;
    ax_buf_init(&group, (size_t)4 << 30);
    for (;;) {
        pthread_mutex_lock(&e->q_mu);
        while (!e->q_head && !e->rotate_req && !e->stopping) pthread_cond_wait(&e->q_cond, &e->q_mu);
        eng_batch *list = e->q_head;
        e->q_head = e->q_tail = NULL;
        bool rot = e->rotate_req;
        bool stop = e->stopping && !list && !rot;
        pthread_mutex_unlock(&e->q_mu);
        if (stop) break;

        if (list) {
            const uint8_t *bytes;
            size_t len;
            size_t nb = 0;
            if (!list->next) {
                bytes = list->rec.data;
                len = list->rec.len;
                nb = 1;
            } else {
                ax_buf_reset(&group);
                int rc = 0;
                for (eng_batch *b = list; b && !rc; b = b->next, nb++)
                    rc = ax_buf_append(&group, b->rec.data, b->rec.len);
                bytes = group.data;
                len = rc ? 0 : group.len;
                if (rc) nb = 0;
            }
            uint64_t t0 = ax_mono_ns();
            int rc = nb ? eng__wal_append_sync(&e->wal, bytes, len) : AX_ENOMEM;
            atomic_fetch_add(&e->st_commit_ns, ax_mono_ns() - t0);
            atomic_fetch_add(&e->st_commits, 1);
            atomic_fetch_add(&e->st_commit_batches, nb);
            /* each writer puts its own batch into the head once woken (in parallel, off this
             * thread); `applying` counts those still doing so */
            pthread_mutex_lock(&e->q_mu);
            for (eng_batch *b = list, *next; b; b = next) {
                next = b->next;
                b->status = rc;
                b->done = true;
                if (!rc) e->applying++;
            }
            pthread_cond_broadcast(&e->done_cond);
            pthread_mutex_unlock(&e->q_mu);
            if (flush_due_by_size(e)) wake_flusher(e);
        }
        if (rot) {
            /* everything written to the old segment must be in the head before the flusher
             * takes the dirty list, so wait for the writers still inserting */
            pthread_mutex_lock(&e->q_mu);
            while (e->applying) pthread_cond_wait(&e->applied_cond, &e->q_mu);
            pthread_mutex_unlock(&e->q_mu);
            uint64_t old = 0;
            int rc = eng__wal_rotate(&e->wal, &old);
            pthread_mutex_lock(&e->q_mu);
            e->rotate_req = false;
            e->rotated = true;
            e->rotated_seg = rc ? 0 : old;
            pthread_cond_broadcast(&e->rotate_cond);
            pthread_mutex_unlock(&e->q_mu);
        }
    }
    ax_buf_free(&group);
    return NULL;
}

/* ---- eng_write ---- */

/* Sorted by name, names unique, no empty values: the canonical form, if valid. */
static bool already_canonical(const ax_label *ls, size_t n) {
    if (n == 0 || n > AX_MAX_LABELS) return false;
    for (size_t i = 0; i < n; i++) {
        if (ls[i].value_len == 0 || ls[i].name_len == 0) return false;
        if (i) {
            size_t m = ls[i - 1].name_len < ls[i].name_len ? ls[i - 1].name_len : ls[i].name_len;
            int c = memcmp(ls[i - 1].name, ls[i].name, m);
            if (c > 0 || (c == 0 && ls[i - 1].name_len >= ls[i].name_len)) return false;
        }
    }
    return true;
}

/* Find or create the series of t (labels normalised). OUT: *out. Returns 0, AX_ELIMIT
 * (max_series; message in err), AX_ENOMEM. */
static int series_resolve(eng *e, const eng_ts *t, ax_buf *lb, eng_series **out, ax_err *err) {
    ax_buf_reset(lb);
    int rc = ax_labels_encode(lb, t->labels, t->n_labels);
    if (rc) return rc;
    bool created, limited;
    eng_series *s = eng__registry_get_or_add(&e->reg, lb->data, lb->len,
                                             ax_hash(lb->data, lb->len, 0), 0, e->o.max_series,
                                             &created, &limited);
    if (!s)
        return limited ? ax_err_set(err, AX_ELIMIT, "series limit of %zu reached", e->o.max_series)
                       : AX_ENOMEM;
    if (created) atomic_fetch_add(&e->st_created, 1);
    *out = s;
    return 0;
}

/* A series left out of the batch, and why (skip[] values). */
enum { SKIP_NO, SKIP_TOO_OLD, SKIP_DROP /* + ENG_DROP_* */ };

int eng_write(eng *e, eng_ts *ts, size_t n, ax_err *err) {
    if (atomic_load(&e->head_samples) >= 3 * (uint64_t)e->o.head_max_samples)
        return ax_err_set(err, AX_EAGAIN, "head is full: flushing cannot keep up");
    eng_batch b;
    memset(&b, 0, sizeof b);
    b.ts = ts;
    b.n = n;
    ax_buf_init(&b.rec, ENG_WAL_MAX_RECORD);
    ax_buf lb;
    ax_buf_init(&lb, 1 << 20);
    int rc = 0;
    size_t held = 0;            /* b.series[0..held) hold an inflight reference */
    bool applied = false;
    uint64_t too_old = 0;
    uint8_t *skip = NULL;       /* SKIP_*: series left out whole (too old, over a limit) */
    uint64_t drop_rows[ENG_DROP_N] = {0}, drop_series[ENG_DROP_N] = {0};
    size_t drop_first[ENG_DROP_N];
    for (int r = 0; r < ENG_DROP_N; r++) drop_first[r] = SIZE_MAX;
    const eng_opts *o = &e->o;
    bool label_limits = o->max_labels_per_series || o->max_label_name_len ||
                        o->max_label_value_len;
    bool window_limits = o->max_hourly_series || o->max_daily_series;
    b.series = calloc(n ? n : 1, sizeof *b.series);
    if (!b.series) { rc = AX_ENOMEM; goto out; }
    if ((label_limits || window_limits) && !(skip = calloc(n ? n : 1, 1))) {
        rc = AX_ENOMEM;
        goto out;
    }
    /* retention: samples older than now - retention are dropped here, as VictoriaMetrics
     * does (the request still succeeds); the next retention pass would delete them anyway */
    if (e->o.retention_ms > 0) {
        int64_t now = eng__now_ms(e);
        int64_t cutoff = now > INT64_MIN + e->o.retention_ms ? now - e->o.retention_ms : INT64_MIN;
        for (size_t i = 0; i < n; i++) {
            eng_sample *sm = ts[i].samples;
            size_t k = 0, m = ts[i].n_samples;
            for (size_t j = 0; j < m; j++)
                if (sm[j].ts >= cutoff) sm[k++] = sm[j];
            if (k == m) continue;
            too_old += m - k;
            ts[i].n_samples = k;
            if (k == 0) {
                if (!skip && !(skip = calloc(n, 1))) { rc = AX_ENOMEM; goto out; }
                skip[i] = SKIP_TOO_OLD;
            }
        }
    }
    /* pass 1: find known series (their labels were validated when they were created) and
     * validate the rest, before creating or logging anything */
    for (size_t i = 0; i < n && !rc; i++) {
        bool canon = already_canonical(ts[i].labels, ts[i].n_labels);
        if (!canon && ts[i].n_labels <= AX_MAX_LABELS) {
            /* unsorted (text lines put __name__ first): sort, which normalising would do
             * anyway, so that a known series is found without validating it again */
            ax_labels_sort(ts[i].labels, ts[i].n_labels);
            canon = already_canonical(ts[i].labels, ts[i].n_labels);
        }
        if (canon) {
            ax_buf_reset(&lb);
            if ((rc = ax_labels_encode(&lb, ts[i].labels, ts[i].n_labels))) break;
            b.series[i] = eng__registry_find(&e->reg, lb.data, lb.len, ax_hash(lb.data, lb.len, 0));
        }
        if (!b.series[i]) {
            size_t k = 0;
            rc = ax_labels_normalize(ts[i].labels, ts[i].n_labels, &k, err);
            if (rc) {
                if (err) {
                    char tmp[sizeof err->msg];
                    snprintf(tmp, sizeof tmp, "series %zu: %.200s", i, err->msg);
                    memcpy(err->msg, tmp, sizeof tmp);
                }
                goto out;
            }
            ts[i].n_labels = k;
        }
        /* label limits: known series too (the limits may have been lowered since) */
        int why = label_limits && !skip[i] ? eng__limits_labels(o, ts[i].labels, ts[i].n_labels) : -1;
        if (why >= 0) skip[i] = (uint8_t)(SKIP_DROP + why);
    }
    /* pass 1b (hourly / daily limits): admit or drop each series, creating the new ones
     * that fit, all under e->lim.mu so that a window's set never exceeds its limit */
    if (!rc && window_limits) {
        eng__limits_lock(e, eng__now_ms(e));
        for (size_t i = 0; i < n && !rc; i++) {
            if (skip[i]) continue;
            int why = -1;
            if (!b.series[i]) {
                /* not looked up in pass 1 (labels were not canonical), or new */
                ax_buf_reset(&lb);
                if ((rc = ax_labels_encode(&lb, ts[i].labels, ts[i].n_labels))) break;
                b.series[i] = eng__registry_find(&e->reg, lb.data, lb.len,
                                                 ax_hash(lb.data, lb.len, 0));
            }
            if (!b.series[i]) {
                rc = eng__limits_admit(e, 0, &why); /* room for one more? */
                if (!rc && why < 0) rc = series_resolve(e, &ts[i], &lb, &b.series[i], err);
            }
            if (!rc && why < 0) rc = eng__limits_admit(e, b.series[i]->sid, &why);
            if (!rc && why >= 0) skip[i] = (uint8_t)(SKIP_DROP + why);
        }
        eng__limits_unlock(e);
        if (rc) goto out;
    }
    /* count and empty the dropped series (callers forwarding ts[] then skip them) */
    for (size_t i = 0; i < n && skip && !rc; i++) {
        if (skip[i] < SKIP_DROP) continue;
        int r = skip[i] - SKIP_DROP;
        drop_rows[r] += ts[i].n_samples;
        drop_series[r]++;
        if (drop_first[r] == SIZE_MAX) drop_first[r] = i;
        ts[i].n_samples = 0;
    }
    /* pass 2: create new series and frame the WAL record */
    if (!rc) rc = ax_buf_append(&b.rec, "\0\0\0\0\0\0\0\0", 8);
    for (size_t i = 0; i < n && !rc; i++) {
        if (skip && skip[i]) {
            b.series[i] = NULL; /* not created, not logged, not applied */
            held = i + 1;
            continue;
        }
        eng_series *s = b.series[i];
        if (!s) {
            if ((rc = series_resolve(e, &ts[i], &lb, &s, err))) break;
            b.series[i] = s;
        }
        b.n_samples += ts[i].n_samples;
        /* inflight before wal_logged: see eng_series.inflight (a deleted series' record
         * is gone from LMDB, so its samples need an 'S' entry to survive a replay) */
        atomic_fetch_add(&s->inflight, 1);
        held = i + 1;
        if (!atomic_load(&s->wal_logged)) rc = put_series_entry(&b.rec, s);
        if (!rc && ts[i].n_samples)
            rc = put_data_entry(&b.rec, s->sid, ts[i].samples, ts[i].n_samples);
    }
    if (rc) {
        if (rc == AX_ETOOBIG) ax_err_set(err, rc, "batch too large for one WAL record");
        goto out;
    }
    if (b.rec.len == 8) goto out; /* nothing left to log (every sample was too old) */
    int64_t oldest = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < ts[i].n_samples; j++)
            if (ts[i].samples[j].ts < oldest) oldest = ts[i].samples[j].ts;
    size_t plen = b.rec.len - 8;
    ax_put_u32le(b.rec.data, (uint32_t)plen);
    ax_put_u32le(b.rec.data + 4, eng__crc32c(0, b.rec.data + 8, plen));

    pthread_mutex_lock(&e->q_mu);
    if (e->closed_writes) {
        pthread_mutex_unlock(&e->q_mu);
        rc = ax_err_set(err, AX_EAGAIN, "shutting down");
        goto out;
    }
    if (e->q_tail) e->q_tail->next = &b; else e->q_head = &b;
    e->q_tail = &b;
    pthread_cond_signal(&e->q_cond);
    while (!b.done) pthread_cond_wait(&e->done_cond, &e->q_mu);
    pthread_mutex_unlock(&e->q_mu);
    rc = b.status;
    if (!rc) {
        /* tell result caches, before the samples become visible */
        int64_t cur = atomic_load(&e->oldest_write);
        while (oldest < cur && !atomic_compare_exchange_weak(&e->oldest_write, &cur, oldest)) {}
        apply_batch(e, &b); /* durable: now visible; drops the inflight references */
        applied = true;
        pthread_mutex_lock(&e->q_mu);
        if (--e->applying == 0) pthread_cond_broadcast(&e->applied_cond);
        pthread_mutex_unlock(&e->q_mu);
    }
    if (rc) ax_err_set(err, rc, "write-ahead log: %s", ax_strerror(rc));
out:
    if (!applied)
        for (size_t i = 0; i < held; i++)
            if (b.series[i]) atomic_fetch_sub(&b.series[i]->inflight, 1);
    if (!rc && too_old) atomic_fetch_add(&e->st_too_old, too_old);
    if (!rc) eng__limits_note(e, drop_rows, drop_series, drop_first, ts);
    free(skip);
    ax_buf_free(&lb);
    ax_buf_free(&b.rec);
    free(b.series);
    return rc;
}

/* ---- flush ---- */

static int sid_cmp(const void *a, const void *b) {
    uint64_t x = (*(eng_series *const *)a)->sid, y = (*(eng_series *const *)b)->sid;
    return (x > y) - (x < y);
}

/* Merge buf into fl (both sorted; buf wins on equal ts). Caller holds the stripe. */
static int merge_into_fl(eng_series *s) {
    size_t n = (size_t)s->fl_n + s->n, i = 0, j = 0, k = 0;
    eng_sample *m = malloc((n ? n : 1) * sizeof *m);
    if (!m) return AX_ENOMEM;
    while (i < s->fl_n || j < s->n) {
        if (j == s->n || (i < s->fl_n && s->fl[i].ts < s->buf[j].ts)) m[k++] = s->fl[i++];
        else {
            if (i < s->fl_n && s->fl[i].ts == s->buf[j].ts) i++;
            m[k++] = s->buf[j++];
        }
    }
    free(s->fl);
    s->fl = m;
    s->fl_n = (uint32_t)k;
    s->n = 0;
    return 0;
}

static int request_rotation(eng *e, uint64_t *seg) {
    pthread_mutex_lock(&e->q_mu);
    if (!e->threads_started || e->stopping) {
        pthread_mutex_unlock(&e->q_mu);
        uint64_t old = 0;
        int rc = eng__wal_rotate(&e->wal, &old);
        *seg = rc ? 0 : old;
        return rc;
    }
    e->rotate_req = true;
    e->rotated = false;
    pthread_cond_signal(&e->q_cond);
    while (!e->rotated) pthread_cond_wait(&e->rotate_cond, &e->q_mu);
    *seg = e->rotated_seg;
    pthread_mutex_unlock(&e->q_mu);
    return *seg ? 0 : AX_EIO;
}

static int flush_txn(eng *e, eng_series **v, size_t nv, uint64_t seg, int64_t **ts_scr,
                     double **v_scr, size_t *scr_cap) {
    stor_txn *t = NULL;
    int rc = stor_txn_begin(e->stor, STOR_TXN_WRITE, &t);
    for (size_t i = 0; i < nv && !rc; i++) {
        eng_series *s = v[i];
        if (atomic_load(&s->deleted)) continue; /* deleted since it was put on the list */
        if (!s->persisted) rc = stor_series_put(t, s->sid, s->labels, s->labels_len);
        if (rc || !s->fl_n) continue;
        if (s->fl_n > *scr_cap) {
            size_t cap = s->fl_n * 2;
            int64_t *a = realloc(*ts_scr, cap * sizeof *a);
            if (a) *ts_scr = a;
            double *b = realloc(*v_scr, cap * sizeof *b);
            if (b) *v_scr = b;
            if (!a || !b) { rc = AX_ENOMEM; break; }
            *scr_cap = cap;
        }
        for (size_t k = 0; k < s->fl_n; k++) {
            (*ts_scr)[k] = s->fl[k].ts;
            (*v_scr)[k] = s->fl[k].v;
        }
        rc = stor_samples_write(t, s->sid, *ts_scr, *v_scr, s->fl_n, e->o.chunk_max_samples);
    }
    if (!rc) rc = stor_meta_put(t, "next_sid", eng__registry_max_sid(&e->reg) + 1);
    if (!rc && seg) rc = stor_meta_put(t, "wal_flushed", seg);
    if (!rc) {
        rc = stor_txn_commit(t);
        t = NULL;
    }
    stor_txn_abort(t);
    return rc;
}

static int do_flush(eng *e) {
    atomic_fetch_add(&e->flush_waiting, 1);
    pthread_mutex_lock(&e->flush_mu);
    atomic_fetch_sub(&e->flush_waiting, 1);
    uint64_t t0 = ax_mono_ns();
    uint64_t seg = 0;
    int rot_rc = request_rotation(e, &seg);
    if (rot_rc) seg = 0;

    /* Take the dirty list and copy it out under the lock: once a series' dirty flag is
     * cleared, the writer may put it on the next list, rewriting its dirty_next. */
    pthread_mutex_lock(&e->dirty_mu);
    size_t nv = 0, cap = 1024;
    eng_series **v = malloc(cap * sizeof *v);
    for (eng_series *s = e->dirty; s && v; s = s->dirty_next) {
        if (nv == cap) {
            eng_series **nb = realloc(v, cap * 2 * sizeof *v);
            if (!nb) { free(v); v = NULL; break; }
            v = nb;
            cap *= 2;
        }
        v[nv++] = s;
    }
    if (v) {
        for (size_t i = 0; i < nv; i++) v[i]->dirty = false;
        e->dirty = NULL;
    }
    pthread_mutex_unlock(&e->dirty_mu);
    if (!v) {
        pthread_mutex_unlock(&e->flush_mu);
        return AX_ENOMEM; /* the list stays in place for the next try */
    }
    qsort(v, nv, sizeof *v, sid_cmp);

    int rc = 0;
    for (size_t i = 0; i < nv; i++) {
        eng_series *s = v[i];
        pthread_mutex_t *mu = eng__stripe(e, s->sid);
        pthread_mutex_lock(mu);
        if (s->n) {
            if (s->fl) {
                if (merge_into_fl(s)) rc = AX_ENOMEM;
            } else {
                s->fl = s->buf;
                s->fl_n = s->n;
                s->buf = NULL;
                s->n = s->cap = 0;
            }
        }
        pthread_mutex_unlock(mu);
    }

    int64_t *ts_scr = NULL;
    double *v_scr = NULL;
    size_t scr_cap = 0;
    /* Commit in slices of FLUSH_SLICE series: LMDB copies every page a txn touches and
     * keeps those copies (and frees the originals) per txn, so small txns bound both the
     * memory of a flush and the free pages it leaves in the file. A crash between slices
     * is harmless: wal_flushed moves only with the last slice, so recovery replays the
     * WAL, and stor_samples_write merges the replayed samples over what is stored. */
    size_t done = 0;
    while (!rc && done < nv) {
        size_t k = nv - done < FLUSH_SLICE ? nv - done : FLUSH_SLICE;
        bool last = done + k == nv;
        for (int attempt = 0; attempt < 8; attempt++) {
            rc = flush_txn(e, v + done, k, last ? seg : 0, &ts_scr, &v_scr, &scr_cap);
            if (rc != AX_EAGAIN) break; /* AX_EAGAIN: map grown, redo the slice */
        }
        if (rc) break;
        uint64_t freed = 0;
        for (size_t i = done; i < done + k; i++) {
            eng_series *s = v[i];
            pthread_mutex_t *mu = eng__stripe(e, s->sid);
            pthread_mutex_lock(mu);
            eng_sample *old = s->fl;
            freed += s->fl_n;
            s->fl = NULL;
            s->fl_n = 0;
            pthread_mutex_unlock(mu);
            free(old);
            if (!atomic_load(&s->deleted)) s->persisted = true; /* flush_txn skipped it */
        }
        atomic_fetch_sub(&e->head_samples, freed);
        done += k;
        stor_env_drop_cache(e->stor); /* the chunks just read need not stay in our RSS */
    }
    /* nothing dirty, yet the WAL rotated: record that its old segments hold nothing new */
    if (!rc && nv == 0 && seg) rc = flush_txn(e, v, 0, seg, &ts_scr, &v_scr, &scr_cap);
    free(ts_scr);
    free(v_scr);

    if (!rc) {
        if (seg) eng__wal_remove_upto(&e->wal, seg);
        atomic_fetch_add(&e->st_flushes, 1);
        if (e->flush_failing) fprintf(stderr, "auspex: flush works again\n");
        e->flush_failing = false;
    }
    if (rc) {
        /* the first failure of a run is logged, not every retry (a full disk retries 5 times
         * a second); auspex_flush_errors_total counts them all */
        if (!e->flush_failing)
            fprintf(stderr, "auspex: flush of %zu series failed after %zu: %s; retrying until it "
                    "works\n", nv, done, ax_strerror(rc));
        e->flush_failing = true;
        atomic_fetch_add(&e->st_flush_errors, 1);
        for (size_t i = done; i < nv; i++) eng__mark_dirty(e, v[i]);
    }
    free(v);
    atomic_fetch_add(&e->st_flush_ns, ax_mono_ns() - t0);
    pthread_mutex_unlock(&e->flush_mu);
    return rc ? rc : rot_rc;
}

static bool head_or_wal_pending(eng *e) {
    pthread_mutex_lock(&e->dirty_mu);
    bool dirty = e->dirty != NULL;
    pthread_mutex_unlock(&e->dirty_mu);
    return dirty || atomic_load(&e->head_samples) > 0;
}

static void *flusher_main(void *arg) {
    eng *e = arg;
    uint64_t last = ax_mono_ns();
    for (;;) {
        pthread_mutex_lock(&e->fl_mu);
        for (;;) {
            if (e->stopping || e->flush_req || flush_due_by_size(e)) break;
            if (ax_mono_ns() - last >= (uint64_t)e->o.flush_interval_ms * 1000000ull) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&e->fl_cond, &e->fl_mu, &ts);
        }
        if (e->stopping && !e->flush_req) {
            pthread_mutex_unlock(&e->fl_mu);
            break;
        }
        uint64_t gen = e->flush_req_gen;
        bool forced = e->flush_req;
        e->flush_req = false;
        pthread_mutex_unlock(&e->fl_mu);

        int rc = 0;
        if (forced || head_or_wal_pending(e)) rc = do_flush(e);
        last = ax_mono_ns();

        pthread_mutex_lock(&e->fl_mu);
        e->last_flush_rc = rc;
        if (e->flush_done_gen < gen) e->flush_done_gen = gen;
        pthread_cond_broadcast(&e->flush_done_cond);
        pthread_mutex_unlock(&e->fl_mu);
        if (rc) {
            /* back off a little before trying again */
            struct timespec d = {0, 200 * 1000000L};
            nanosleep(&d, NULL);
        }
    }
    return NULL;
}

int eng_flush(eng *e) {
    pthread_mutex_lock(&e->fl_mu);
    if (!e->threads_started) {
        pthread_mutex_unlock(&e->fl_mu);
        return do_flush(e);
    }
    uint64_t gen = ++e->flush_req_gen;
    e->flush_req = true;
    pthread_cond_signal(&e->fl_cond);
    while (e->flush_done_gen < gen) pthread_cond_wait(&e->flush_done_cond, &e->fl_mu);
    int rc = e->last_flush_rc;
    pthread_mutex_unlock(&e->fl_mu);
    return rc;
}

/* ---- open / close ---- */

static int load_series_cb(void *ctx, uint64_t sid, const uint8_t *labels, size_t len) {
    eng *e = ctx;
    bool created, limited;
    eng_series *s = eng__registry_get_or_add(&e->reg, labels, len, ax_hash(labels, len, 0), sid,
                                             0, &created, &limited);
    if (!s) return AX_ENOMEM;
    s->persisted = true;
    atomic_store(&s->wal_logged, true);
    return 0;
}

static int lock_folder(const char *path, int *fd_out, ax_err *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/lock", path);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ax_err_set(err, AX_EIO, "cannot open %s: %s", p, strerror(errno));
    while (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno == EINTR) continue;
        int busy = errno == EWOULDBLOCK;
        int rc = busy ? ax_err_set(err, AX_EIO, "data folder %s is in use by another auspex "
                                   "process", path)
                      : ax_err_set(err, AX_EIO, "cannot lock %s: %s", p, strerror(errno));
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int eng_open(const eng_opts *o, eng **out, ax_err *err) {
    eng *e = calloc(1, sizeof *e);
    if (e) e->lock_fd = -1;
    if (e) atomic_init(&e->oldest_write, INT64_MAX);
    if (!e) return ax_err_set(err, AX_ENOMEM, "out of memory");
    e->o = *o;
    if (!e->o.head_max_samples) e->o.head_max_samples = DEFAULT_HEAD_MAX;
    if (!e->o.flush_interval_ms) e->o.flush_interval_ms = DEFAULT_FLUSH_MS;
    if (!e->o.chunk_max_samples) e->o.chunk_max_samples = DEFAULT_CHUNK_MAX;
    if (!e->o.wal_max_bytes) e->o.wal_max_bytes = DEFAULT_WAL_MAX;
    eng__registry_init(&e->reg);
    for (int i = 0; i < ENG_STRIPES; i++) pthread_mutex_init(&e->stripes[i], NULL);
    pthread_mutex_init(&e->q_mu, NULL);
    pthread_cond_init(&e->q_cond, NULL);
    pthread_cond_init(&e->done_cond, NULL);
    pthread_cond_init(&e->rotate_cond, NULL);
    pthread_cond_init(&e->applied_cond, NULL);
    pthread_mutex_init(&e->dirty_mu, NULL);
    pthread_mutex_init(&e->flush_mu, NULL);
    pthread_mutex_init(&e->fl_mu, NULL);
    pthread_cond_init(&e->fl_cond, NULL);
    pthread_cond_init(&e->flush_done_cond, NULL);
    pthread_mutex_init(&e->ret_mu, NULL);
    pthread_cond_init(&e->ret_cond, NULL);
    e->wal.fd = -1;
    eng__limits_init(&e->lim);

    int rc;
    if (mkdir(o->path, 0755) && errno != EEXIST) {
        rc = ax_err_set(err, AX_EIO, "cannot create %s: %s", o->path, strerror(errno));
        goto fail;
    }
    if ((rc = lock_folder(o->path, &e->lock_fd, err))) goto fail;
    stor_opts so = {.path = o->path, .map_size = 0, .nosync = o->nosync};
    rc = stor_env_open(&so, &e->stor, err);
    if (rc) goto fail;

    uint64_t flushed = 0, next_sid = 1;
    stor_txn *t = NULL;
    rc = stor_txn_begin(e->stor, STOR_TXN_READ, &t);
    if (!rc) {
        if (stor_meta_get(t, "wal_flushed", &flushed)) flushed = 0;
        if (stor_meta_get(t, "next_sid", &next_sid)) next_sid = 1;
        rc = stor_series_foreach(t, load_series_cb, e);
        stor_txn_abort(t);
    }
    if (rc) {
        ax_err_set(err, rc, "cannot load series from %s: %s", o->path, ax_strerror(rc));
        goto fail;
    }
    if (atomic_load(&e->reg.next_sid) < next_sid) atomic_store(&e->reg.next_sid, next_sid);

    /* replay WAL segments newer than the last flush */
    char wdir[4096];
    snprintf(wdir, sizeof wdir, "%s/wal", o->path);
    uint64_t *segs = NULL;
    size_t ns = 0;
    if (mkdir(wdir, 0755) && errno != EEXIST) {
        rc = ax_err_set(err, AX_EIO, "cannot create %s: %s", wdir, strerror(errno));
        goto fail;
    }
    rc = eng__wal_list(wdir, &segs, &ns);
    if (rc) {
        ax_err_set(err, rc, "cannot list %s", wdir);
        goto fail;
    }
    replay_ctx rctx = {.e = e};
    for (size_t i = 0; i < ns && !rc; i++)
        if (segs[i] > flushed) rc = eng__wal_replay_segment(wdir, segs[i], replay_cb, &rctx);
    free(segs);
    free(rctx.tmp);
    if (rc) {
        ax_err_set(err, rc, "WAL replay failed: %s", ax_strerror(rc));
        goto fail;
    }
    if (rctx.records)
        fprintf(stderr, "auspex: replayed %" PRIu64 " WAL records, %" PRIu64 " samples%s\n",
                rctx.records, rctx.samples, rctx.bad ? " (some entries skipped)" : "");

    rc = eng__wal_open(&e->wal, o->path, o->nosync, flushed + 1, err);
    if (rc) goto fail;
    eng__wal_remove_upto(&e->wal, flushed);

    if (pthread_create(&e->writer, NULL, writer_main, e)) {
        rc = ax_err_set(err, AX_EIO, "cannot start writer thread");
        goto fail;
    }
    if (pthread_create(&e->flusher, NULL, flusher_main, e)) {
        pthread_mutex_lock(&e->q_mu);
        e->stopping = true;
        pthread_cond_signal(&e->q_cond);
        pthread_mutex_unlock(&e->q_mu);
        pthread_join(e->writer, NULL);
        rc = ax_err_set(err, AX_EIO, "cannot start flusher thread");
        goto fail;
    }
    e->threads_started = true;
    if ((rc = eng__retention_start(e))) {
        ax_err_set(err, rc, "cannot start retention thread");
        eng_close(e); /* stops the writer and flusher */
        return rc;
    }
    *out = e;
    return 0;
fail:
    if (e->wal.dir) eng__wal_close(&e->wal);
    stor_env_close(e->stor);
    eng__registry_fini(&e->reg);
    eng__limits_fini(&e->lim);
    if (e->lock_fd >= 0) close(e->lock_fd);
    free(e);
    return rc;
}

void eng_close(eng *e) {
    if (!e) return;
    pthread_mutex_lock(&e->q_mu);
    e->closed_writes = true;
    pthread_mutex_unlock(&e->q_mu);
    eng__retention_stop(e); /* a pass in progress stops after its current batch */
    if (e->threads_started) {
        int rc = eng_flush(e);
        if (rc) fprintf(stderr, "auspex: final flush failed (%s): the WAL keeps the data\n",
                        ax_strerror(rc));
        pthread_mutex_lock(&e->fl_mu);
        e->stopping = true;
        pthread_cond_signal(&e->fl_cond);
        pthread_mutex_unlock(&e->fl_mu);
        pthread_join(e->flusher, NULL);
        pthread_mutex_lock(&e->q_mu);
        e->stopping = true;
        pthread_cond_signal(&e->q_cond);
        pthread_mutex_unlock(&e->q_mu);
        pthread_join(e->writer, NULL);
    }
    eng__wal_close(&e->wal);
    stor_env_close(e->stor);
    eng__downsample_fini(e);
    eng__registry_fini(&e->reg);
    eng__limits_fini(&e->lim);
    for (int i = 0; i < ENG_STRIPES; i++) pthread_mutex_destroy(&e->stripes[i]);
    if (e->lock_fd >= 0) close(e->lock_fd); /* releases the folder, last */
    free(e);
}

void eng_stats_get(eng *e, eng_stats *s) {
    memset(s, 0, sizeof *s);
    s->samples_ingested = atomic_load(&e->st_ingested);
    s->samples_duplicate = atomic_load(&e->st_dup);
    uint64_t all = atomic_load(&e->reg.count), gone = atomic_load(&e->deleted_live);
    s->series_total = all > gone ? all - gone : 0;
    s->series_created = atomic_load(&e->st_created);
    s->head_samples = atomic_load(&e->head_samples);
    s->wal_bytes = atomic_load(&e->wal.total_bytes);
    s->commits = atomic_load(&e->st_commits);
    s->commit_batches = atomic_load(&e->st_commit_batches);
    s->commit_seconds_sum = (double)atomic_load(&e->st_commit_ns) / 1e9;
    s->flushes = atomic_load(&e->st_flushes);
    s->flush_seconds_sum = (double)atomic_load(&e->st_flush_ns) / 1e9;
    s->flush_errors = atomic_load(&e->st_flush_errors);
    s->samples_too_old = atomic_load(&e->st_too_old);
    s->retention_chunks_deleted = atomic_load(&e->st_ret_chunks);
    s->retention_series_deleted = atomic_load(&e->st_ret_series);
    s->retention_passes = atomic_load(&e->st_ret_passes);
    s->retention_last_pass_ms = atomic_load(&e->st_ret_last_ms);
    s->series_deleted = atomic_load(&e->st_series_deleted);
    s->downsample_points = atomic_load(&e->st_ds_points);
    s->downsample_raw_samples = atomic_load(&e->st_ds_raw);
    s->downsample_passes = atomic_load(&e->st_ds_passes);
    s->downsample_last_pass_ms = atomic_load(&e->st_ds_last_ms);
    stor_stats ss;
    if (stor_env_stats(e->stor, &ss) == 0) {
        s->lmdb_bytes = ss.file_bytes;
        s->rollup_blocks = ss.rollup_blocks;
    }
    s->disk_bytes = s->lmdb_bytes + s->wal_bytes;
    eng__limits_stats(e, s);
}

int64_t eng_take_oldest_write(eng *e) { return atomic_exchange(&e->oldest_write, INT64_MAX); }
