/* engine/retention.c: the retention pass and deleting series (docs/retention.md).
 *
 * Retention pass (eng_retention_run; the background thread calls it with the wall clock
 * every retention_interval_ms, first right after open): cutoff = now - retention_ms.
 *   walk the chunks db in sid order (stor_chunks_expire) deleting each chunk whose maxt <
 *   cutoff, in batches of at most RET_BATCH_CHUNKS chunks / RET_BATCH_BYTES bytes, one LMDB
 *   write txn per batch. A chunk straddling the cutoff is kept whole (as VictoriaMetrics
 *   keeps whole parts), so samples up to one chunk older than the cutoff can remain.
 *   Then the same walk over rollup blocks (engine/downsample.c; stor_rollups_expire trims
 *   a block straddling the cutoff). A series left without chunks and without rollups
 *   (stor_series_has_data) is deleted in the same txn (series record,
 *   postings) when its head is empty and no write is in flight for it; it is then marked
 *   deleted in the registry (see below). Otherwise it stays: its head samples will be
 *   flushed, and a later pass looks again only if new old chunks appear (a series with
 *   head data is not "left with no data").
 * Why its own thread, not the flusher's: a pass over a large store deletes many chunks;
 *   on the flusher thread it would hold back flushes for all of it and the head would
 *   fill up (eng_write answers AX_EAGAIN at 3x head_max_samples). Here each batch takes
 *   e->flush_mu for one txn only, and between batches it lets a waiting flush go first
 *   (e->flush_waiting), so a flush waits at most one batch (~1000 chunk deletes).
 * Disk: LMDB puts the pages a txn frees on its free list and reuses them in later txns
 *   once no reader still sees them, so once retention deletes a day for each day written,
 *   data.mdb stops growing (tests/unit/engine/test_retention.c measures it).
 *
 * Deleted series: the registry's sid table is append-only and read without locks, so an
 * eng_series is never freed. Deleting one sets s->deleted (eng_select skips it, so do the
 * query, /series, /labels and status routes) and clears s->persisted (only under
 * e->flush_mu, so no flush is running) and s->wal_logged. The next write to it clears
 * deleted under its stripe lock (engine/ingest.c apply_batch), logs a fresh 'S' WAL entry
 * (its old one is long gone with its segment, and the LMDB record is gone too) and the
 * next flush puts its series record and postings back: the same sid, resurrected.
 * Race with eng_write: see eng_series.inflight (engine_int.h). Retention never deletes a
 * series with a write in flight; eng_series_delete deletes its chunks and head but keeps
 * its record then, so the samples in flight land on a series that replay can find.
 *
 * eng_series_delete: flush (so no sample of theirs is only in the head), then per batch of
 * DEL_BATCH_SERIES series under flush_mu: drop the head samples and mark (stripe lock),
 * stor_series_delete in one txn, commit; then flush again, which moves meta wal_flushed
 * past the WAL segments holding the dropped head samples, so a restart does not replay
 * them back.
 */
#include "engine/engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RET_BATCH_CHUNKS 1000
#define RET_BATCH_BYTES ((uint64_t)4 << 20)
#define DEL_BATCH_SERIES 256
#define MIN_INTERVAL_MS 60000
#define MAX_INTERVAL_MS 3600000

int64_t eng__now_ms(eng *e) { return e->o.now_ms ? e->o.now_ms() : ax_now_ms(); }

/* ---- marking series deleted ---- */

enum { MARK_NO, MARK_YES, MARK_BUSY };

/* Hide s. Retention (drop_head false): only if its head is empty and no write holds it.
 * eng_series_delete (drop_head true): always, dropping its head samples; MARK_BUSY when a
 * write is in flight (keep its LMDB record). Caller holds e->flush_mu. */
static int mark_deleted(eng *e, eng_series *s, bool drop_head) {
    pthread_mutex_t *mu = eng__stripe(e, s->sid);
    pthread_mutex_lock(mu);
    if (atomic_load(&s->deleted) || (!drop_head && (s->n || s->fl_n))) {
        pthread_mutex_unlock(mu);
        return MARK_NO;
    }
    atomic_store(&s->deleted, true);
    atomic_store(&s->wal_logged, false); /* before reading inflight: see engine_int.h */
    int r = MARK_YES;
    if (atomic_load(&s->inflight)) {
        if (!drop_head) {
            atomic_store(&s->deleted, false);
            pthread_mutex_unlock(mu);
            return MARK_NO;
        }
        r = MARK_BUSY;
    }
    if (drop_head) {
        /* no flush runs (flush_mu), so fl is only set after a failed one: drop it too */
        uint64_t freed = (uint64_t)s->n + s->fl_n;
        free(s->buf);
        free(s->fl);
        s->buf = s->fl = NULL;
        s->n = s->cap = s->fl_n = 0;
        atomic_fetch_sub(&e->head_samples, freed);
    }
    pthread_mutex_unlock(mu);
    atomic_fetch_add(&e->deleted_live, 1);
    return r;
}

/* The txn that deleted s failed: show it again (unless a write already did). */
static void unmark(eng *e, eng_series *s) {
    pthread_mutex_t *mu = eng__stripe(e, s->sid);
    pthread_mutex_lock(mu);
    if (atomic_load(&s->deleted)) {
        atomic_store(&s->deleted, false);
        atomic_fetch_sub(&e->deleted_live, 1);
    }
    pthread_mutex_unlock(mu);
}

/* Tell result caches that answers from t on may have changed. */
void eng__note_change(eng *e, int64_t t) {
    int64_t cur = atomic_load(&e->oldest_write);
    while (t < cur && !atomic_compare_exchange_weak(&e->oldest_write, &cur, t)) {}
}

/* Take flush_mu, letting a flush that is waiting for it go first. */
void eng__lock_after_flushes(eng *e) {
    for (int i = 0; i < 10000 && atomic_load(&e->flush_waiting); i++) {
        struct timespec d = {0, 1000000L};
        nanosleep(&d, NULL);
    }
    pthread_mutex_lock(&e->flush_mu);
}

/* ---- retention ---- */

/* One batch: one txn, over chunks or (rollups true) rollup blocks. OUT: *next = where the
 * walk resumes (0: done); adds to *st. */
static int retention_batch(eng *e, int64_t cutoff, bool rollups, uint64_t *next,
                           eng_retention_stats *st) {
    stor_sids emptied = {0};
    eng_series **marked = NULL;
    size_t nm = 0, cap = 0;
    uint64_t n_series = 0;
    stor_expire_out xo = {0};
    int rc = 0;
    eng__lock_after_flushes(e);
    for (int attempt = 0; attempt < 8; attempt++) {
        emptied.n = 0;
        nm = 0;
        n_series = 0;
        stor_txn *t = NULL;
        rc = stor_txn_begin(e->stor, STOR_TXN_WRITE, &t);
        if (!rc && rollups)
            rc = stor_rollups_expire(t, cutoff, *next, RET_BATCH_CHUNKS, &emptied, &xo);
        else if (!rc)
            rc = stor_chunks_expire(t, cutoff, *next, RET_BATCH_CHUNKS, RET_BATCH_BYTES, &emptied,
                                    &xo);
        if (!rc && emptied.n > cap) {
            eng_series **nb = realloc(marked, emptied.n * sizeof *nb);
            if (nb) {
                marked = nb;
                cap = emptied.n;
            } else {
                rc = AX_ENOMEM;
            }
        }
        for (size_t i = 0; i < emptied.n && !rc; i++) {
            /* left without chunks but with rollups (or the reverse): it still has data */
            bool has = false;
            if ((rc = stor_series_has_data(t, emptied.v[i], &has)) || has) continue;
            eng_series *s = eng__registry_by_sid(&e->reg, emptied.v[i]);
            /* head data or a write in flight: it keeps its record; nothing to do now */
            if (s && mark_deleted(e, s, false) != MARK_YES) continue;
            if (s) marked[nm++] = s;
            rc = stor_series_delete(t, emptied.v[i]);
            if (rc == AX_ENOTFOUND) rc = 0;
            n_series++;
        }
        if (!rc) {
            rc = stor_txn_commit(t);
            t = NULL;
        }
        stor_txn_abort(t);
        if (rc)
            for (size_t i = 0; i < nm; i++) unmark(e, marked[i]);
        if (rc != AX_EAGAIN) break; /* AX_EAGAIN: map grown, redo the batch */
    }
    if (!rc) {
        for (size_t i = 0; i < nm; i++) marked[i]->persisted = false;
        *next = xo.next_sid;
        if (rollups) st->rollup_points_deleted += xo.bytes;
        else st->chunks_deleted += xo.chunks;
        st->series_deleted += n_series;
        if (xo.chunks) eng__note_change(e, xo.min_mint);
    }
    pthread_mutex_unlock(&e->flush_mu);
    stor_sids_free(&emptied);
    free(marked);
    return rc;
}

int eng_retention_run(eng *e, int64_t now_ms, eng_retention_stats *out) {
    eng_retention_stats st = {0};
    int rc = 0;
    if (e->o.retention_ms > 0) {
        int64_t cutoff = now_ms > INT64_MIN + e->o.retention_ms ? now_ms - e->o.retention_ms
                                                                 : INT64_MIN;
        /* raw chunks first, then rollup blocks (engine/downsample.c) */
        for (int pass = 0; pass < 2 && !rc; pass++) {
            uint64_t next = 0;
            do {
                if (atomic_load(&e->ret_stop)) {
                    rc = AX_EAGAIN;
                    break;
                }
                rc = retention_batch(e, cutoff, pass == 1, &next, &st);
            } while (!rc && next);
        }
        atomic_fetch_add(&e->st_ret_chunks, st.chunks_deleted);
        atomic_fetch_add(&e->st_ret_series, st.series_deleted);
        if (!rc) {
            atomic_fetch_add(&e->st_ret_passes, 1);
            atomic_store(&e->st_ret_last_ms, ax_now_ms());
        }
        stor_env_drop_cache(e->stor);
    }
    if (out) *out = st;
    return rc;
}

static void *retainer_main(void *arg) {
    eng *e = arg;
    int64_t iv = e->o.retention_interval_ms;
    if (iv == 0 && e->o.retention_ms <= 0) {
        iv = MAX_INTERVAL_MS; /* downsampling only */
    } else if (iv == 0) {
        iv = e->o.retention_ms / 20;
        if (iv < MIN_INTERVAL_MS) iv = MIN_INTERVAL_MS;
        if (iv > MAX_INTERVAL_MS) iv = MAX_INTERVAL_MS;
    }
    for (;;) {
        eng_retention_stats st;
        int rc = eng_retention_run(e, eng__now_ms(e), &st);
        if (rc && rc != AX_EAGAIN)
            fprintf(stderr, "auspex: retention pass failed: %s; next try in %" PRId64 " ms\n",
                    ax_strerror(rc), iv);
        if (st.chunks_deleted || st.series_deleted)
            fprintf(stderr, "auspex: retention: deleted %" PRIu64 " chunks, %" PRIu64
                            " series\n", st.chunks_deleted, st.series_deleted);
        /* downsampling after each retention pass (engine/downsample.c) */
        eng_downsample_stats ds = {0};
        rc = eng_downsample_run(e, eng__now_ms(e), &ds);
        if (rc && rc != AX_EAGAIN)
            fprintf(stderr, "auspex: downsampling pass failed: %s\n", ax_strerror(rc));
        if (ds.points_written)
            fprintf(stderr, "auspex: downsampling: %" PRIu64 " raw samples -> %" PRIu64
                            " rollup points in %" PRIu64 " series\n", ds.raw_samples,
                    ds.points_written, ds.series);
        pthread_mutex_lock(&e->ret_mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += iv / 1000;
        ts.tv_nsec += (long)(iv % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!atomic_load(&e->ret_stop) &&
               pthread_cond_timedwait(&e->ret_cond, &e->ret_mu, &ts) == 0) {}
        bool stop = atomic_load(&e->ret_stop);
        pthread_mutex_unlock(&e->ret_mu);
        if (stop) break;
    }
    return NULL;
}

int eng__retention_start(eng *e) {
    if ((e->o.retention_ms <= 0 && e->o.n_downsample == 0) || e->o.retention_interval_ms < 0)
        return 0;
    if (pthread_create(&e->retainer, NULL, retainer_main, e)) return AX_EIO;
    e->retainer_started = true;
    return 0;
}

void eng__retention_stop(eng *e) {
    pthread_mutex_lock(&e->ret_mu);
    atomic_store(&e->ret_stop, true);
    pthread_cond_broadcast(&e->ret_cond);
    pthread_mutex_unlock(&e->ret_mu);
    if (e->retainer_started) pthread_join(e->retainer, NULL);
    e->retainer_started = false;
}

/* ---- deleting series ---- */

static int delete_batch(eng *e, const uint64_t *sids, size_t n, size_t *n_done) {
    eng_series **v = malloc((n ? n : 1) * sizeof *v);
    bool *busy = malloc(n ? n : 1);
    if (!v || !busy) {
        free(v);
        free(busy);
        return AX_ENOMEM;
    }
    size_t nv = 0;
    int rc = 0;
    eng__lock_after_flushes(e);
    for (size_t i = 0; i < n; i++) {
        eng_series *s = eng__registry_by_sid(&e->reg, sids[i]);
        if (!s) continue;
        int m = mark_deleted(e, s, true);
        if (m == MARK_NO) continue; /* already deleted */
        busy[nv] = m == MARK_BUSY;
        v[nv++] = s;
    }
    for (int attempt = 0; attempt < 8 && nv; attempt++) {
        stor_txn *t = NULL;
        rc = stor_txn_begin(e->stor, STOR_TXN_WRITE, &t);
        for (size_t i = 0; i < nv && !rc; i++) {
            rc = stor_series_delete(t, v[i]->sid);
            if (rc == AX_ENOTFOUND) rc = 0; /* only ever in the head */
            /* a write is in flight for it, framed without an 'S' WAL entry: keep its
             * record so that a replay finds it (only its chunks go) */
            if (!rc && busy[i] && v[i]->persisted)
                rc = stor_series_put(t, v[i]->sid, v[i]->labels, v[i]->labels_len);
        }
        if (!rc) {
            rc = stor_txn_commit(t);
            t = NULL;
        }
        stor_txn_abort(t);
        if (rc != AX_EAGAIN) break;
    }
    if (rc) {
        for (size_t i = 0; i < nv; i++) unmark(e, v[i]);
    } else {
        for (size_t i = 0; i < nv; i++)
            if (!busy[i]) v[i]->persisted = false;
        *n_done = nv;
    }
    pthread_mutex_unlock(&e->flush_mu);
    free(v);
    free(busy);
    return rc;
}

int eng_series_delete(eng *e, const uint64_t *sids, size_t n, size_t *n_deleted) {
    size_t done = 0;
    int rc = n ? eng_flush(e) : 0;
    for (size_t i = 0; i < n && !rc; i += DEL_BATCH_SERIES) {
        size_t k = n - i < DEL_BATCH_SERIES ? n - i : DEL_BATCH_SERIES, d = 0;
        rc = delete_batch(e, sids + i, k, &d);
        done += d;
    }
    if (done) {
        atomic_fetch_add(&e->st_series_deleted, done);
        eng__note_change(e, INT64_MIN);
    }
    if (!rc && done) rc = eng_flush(e); /* wal_flushed past the dropped head samples */
    if (!rc && n_deleted) *n_deleted = done;
    return rc;
}
