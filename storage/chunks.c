/* storage/chunks.c: the chunk store: range reads and the merge that writes samples.
 *
 * Key: sid (u64 BE) | start (int64 with the sign bit flipped, BE), so one series' chunks
 * are adjacent and in time order, negative times first. The value is one codec chunk whose
 * header (codec_chunk_peek) gives n, mint (== start) and maxt.
 *
 * Invariant: the chunks of one series never overlap: for consecutive chunks A, B of a
 * series, A.maxt < B.start. Hence the chunks overlapping [mint, maxt] are the one before
 * the first key >= (sid, mint), if it reaches mint, and the keys from there up to maxt.
 *
 * stor_samples_write(ts[0..n)) keeps the invariant by read-merge-rewrite:
 *   1. pick the chunks to replace: every chunk overlapping [ts[0], ts[n-1]] (mandatory), and
 *      the chunk just before ts[0] if it is still open (see reopen(): small, or the merged
 *      run would still fit one chunk) so a series' last chunk fills up across flushes;
 *   2. decode them back to back (already sorted, by the invariant) and merge with the new
 *      samples by timestamp; on equal timestamps the new sample wins;
 *   3. delete the replaced keys and write the run as chunks of at most max_per_chunk samples,
 *      each cut earlier when its encoding passes STOR_CHUNK_INLINE_BYTES, but never below
 *      STOR__MIN_CUT_SAMPLES. Every output chunk covers a contiguous part of the merged run,
 *      and the run covers exactly the replaced chunks plus the new samples, so output
 *      chunks neither overlap each other nor the chunks left in place.
 * The common case (all new samples after the last chunk) touches at most that last chunk.
 */
#include "storage/storage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_corrupt(uint64_t sid, int64_t start, const char *what) {
    fprintf(stderr, "auspex: storage: series %llu: chunk at %lld %s\n", (unsigned long long)sid,
            (long long)start, what);
}

/* Peek a chunk value and check it against its key. */
static int peek(uint64_t sid, const MDB_val *k, const MDB_val *d, size_t *n, int64_t *mint,
                int64_t *maxt) {
    int64_t start = stor__chunk_key_ts(k->mv_data);
    if (codec_chunk_peek(d->mv_data, d->mv_size, n, mint, maxt) || *n == 0 || *mint != start ||
        *maxt < *mint) {
        log_corrupt(sid, start, "has an unreadable header");
        return AX_ECORRUPT;
    }
    return 0;
}

static bool key_of(const MDB_val *k, uint64_t sid) {
    return k->mv_size == STOR__CHUNK_KEY_LEN && ax_get_u64be(k->mv_data) == sid;
}

int stor_chunks_range(stor_txn *t, uint64_t sid, int64_t mint, int64_t maxt,
                      stor_chunk_view *out, size_t cap, size_t *n_out) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (mint > maxt) {
        *n_out = 0;
        return 0;
    }
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->chunks, &c);
    if (mrc) return stor__err(mrc);
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, mint);
    MDB_val k = {sizeof kb, kb}, d;
    size_t n = 0;
    /* the chunk before (sid, mint) may start before mint and reach into the range */
    int seek = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    mrc = mdb_cursor_get(c, &k, &d, seek == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (!mrc && key_of(&k, sid)) {
        size_t cn;
        int64_t cmin, cmax;
        rc = peek(sid, &k, &d, &cn, &cmin, &cmax);
        if (!rc && cmax >= mint) {
            if (cap == 0) rc = AX_ETOOBIG;
            else out[n++] = (stor_chunk_view){cmin, cmax, cn, d.mv_data, d.mv_size};
        }
    } else if (mrc && mrc != MDB_NOTFOUND) {
        rc = stor__err(mrc);
    }
    if (!rc && seek && seek != MDB_NOTFOUND) rc = stor__err(seek);
    if (!rc && !seek) {
        k.mv_data = kb;
        k.mv_size = sizeof kb;
        for (mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); !mrc;
             mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
            if (!key_of(&k, sid) || stor__chunk_key_ts(k.mv_data) > maxt) break;
            size_t cn;
            int64_t cmin, cmax;
            if ((rc = peek(sid, &k, &d, &cn, &cmin, &cmax))) break;
            if (n == cap) {
                rc = AX_ETOOBIG;
                break;
            }
            out[n++] = (stor_chunk_view){cmin, cmax, cn, d.mv_data, d.mv_size};
        }
        if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__err(mrc);
    }
    mdb_cursor_close(c);
    if (!rc || rc == AX_ETOOBIG) *n_out = n;
    return rc;
}

int stor__chunks_delete_all(stor_txn *t, uint64_t sid, size_t *n_out) {
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->chunks, &c);
    if (mrc) return stor__fail(t, mrc);
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, INT64_MIN);
    size_t n = 0;
    for (;;) {
        MDB_val k = {sizeof kb, kb}, d;
        mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
        if (mrc || !key_of(&k, sid)) break;
        if ((mrc = mdb_cursor_del(c, 0))) break;
        n++;
    }
    mdb_cursor_close(c);
    if (mrc && mrc != MDB_NOTFOUND) return stor__fail(t, mrc);
    *n_out = n;
    return 0;
}

/* ---- write path ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (*cap >= need) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return AX_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int reserve_pair(int64_t **ts, double **v, size_t *cap, size_t need) {
    if (*cap >= need) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    int64_t *a = realloc(*ts, c * sizeof *a);
    if (!a) return AX_ENOMEM;
    *ts = a;
    double *b = realloc(*v, c * sizeof *b);
    if (!b) return AX_ENOMEM;
    *v = b;
    *cap = c;
    return 0;
}

/* Should the chunk just before the new samples (not overlapping them) be rewritten with
 * them? Yes while it is small (fewer than max/2 samples and under half the inline size),
 * or while the merged run is expected to still fit one chunk. */
static bool reopen(size_t pn, size_t plen, size_t n_new, size_t max) {
    if (plen >= STOR_CHUNK_INLINE_BYTES) return false;
    if (pn < max / 2 && plen < STOR_CHUNK_INLINE_BYTES / 2) return true;
    return pn + n_new <= max && plen + plen * n_new / pn <= STOR_CHUNK_INLINE_BYTES;
}

static int old_push(stor__scratch *w, size_t *n, const MDB_val *k, const MDB_val *d, size_t cn) {
    int rc = grow((void **)&w->old, &w->old_cap, *n + 1, sizeof *w->old);
    if (rc) return rc;
    w->old[(*n)++] = (stor__old){stor__chunk_key_ts(k->mv_data), d->mv_data, d->mv_size, cn};
    return 0;
}

/* Step 1: collect the chunks to replace into w->old. OUT: *n_old. */
static int find_old(stor_txn *t, uint64_t sid, int64_t first, int64_t last, size_t n_new,
                    size_t max, size_t *n_old) {
    stor__scratch *w = &t->s->w;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->chunks, &c);
    if (mrc) return stor__fail(t, mrc);
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, first);
    MDB_val k = {sizeof kb, kb}, d;
    size_t n = 0;
    int rc = 0;
    int seek = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    mrc = mdb_cursor_get(c, &k, &d, seek == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (!mrc && key_of(&k, sid)) {
        size_t cn;
        int64_t cmin, cmax;
        if (peek(sid, &k, &d, &cn, &cmin, &cmax)) rc = old_push(w, &n, &k, &d, 0); /* drop */
        else if (cmax >= first || reopen(cn, d.mv_size, n_new, max))
            rc = old_push(w, &n, &k, &d, cn);
    } else if (mrc && mrc != MDB_NOTFOUND) {
        rc = stor__fail(t, mrc);
    }
    if (!rc && seek && seek != MDB_NOTFOUND) rc = stor__fail(t, seek);
    if (!rc && !seek) {
        k.mv_data = kb;
        k.mv_size = sizeof kb;
        for (mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); !mrc && !rc;
             mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
            if (!key_of(&k, sid) || stor__chunk_key_ts(k.mv_data) > last) break;
            size_t cn;
            int64_t cmin, cmax;
            /* an unreadable chunk in the way is dropped (n = 0), not allowed to stop writes */
            if (peek(sid, &k, &d, &cn, &cmin, &cmax)) cn = 0;
            rc = old_push(w, &n, &k, &d, cn);
        }
        if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__fail(t, mrc);
    }
    mdb_cursor_close(c);
    if (!rc) *n_old = n;
    return rc;
}

/* Step 2a: decode w->old[0..n_old) back to back into w->old_ts/old_v. OUT: *n_out. */
static int decode_old(stor__scratch *w, uint64_t sid, size_t n_old, size_t *n_out) {
    size_t total = 0;
    for (size_t i = 0; i < n_old; i++) total += w->old[i].n;
    int rc = reserve_pair(&w->old_ts, &w->old_v, &w->old_vcap, total);
    if (rc) return rc;
    size_t at = 0;
    for (size_t i = 0; i < n_old; i++) {
        if (w->old[i].n == 0) {
            log_corrupt(sid, w->old[i].start, "is unreadable: dropped to keep writes going");
            continue;
        }
        size_t got = 0;
        rc = codec_chunk_decode(w->codec, w->old[i].data, w->old[i].len, w->old_ts + at,
                                w->old_v + at, total - at, &got);
        if (rc || got != w->old[i].n || (at && w->old_ts[at] <= w->old_ts[at - 1])) {
            log_corrupt(sid, w->old[i].start,
                        rc ? "does not decode: dropped to keep writes going"
                           : "disagrees with its header: dropped to keep writes going");
            continue;
        }
        at += got;
    }
    *n_out = at;
    return 0;
}

/* Step 2b: merge old (sorted) and new (sorted) into w->ts/w->v; new wins ties. */
static int merge(stor__scratch *w, const int64_t *ts, const double *v, size_t n, size_t n_old,
                 size_t *n_out) {
    int rc = reserve_pair(&w->ts, &w->v, &w->cap, n + n_old);
    if (rc) return rc;
    const int64_t *ots = w->old_ts;
    const double *ov = w->old_v;
    size_t i = 0, j = 0, m = 0;
    while (i < n_old && j < n) {
        if (ots[i] < ts[j]) {
            w->ts[m] = ots[i];
            w->v[m++] = ov[i++];
        } else {
            if (ots[i] == ts[j]) i++;
            w->ts[m] = ts[j];
            w->v[m++] = v[j++];
        }
    }
    if (i < n_old) {
        memcpy(w->ts + m, ots + i, (n_old - i) * sizeof *ots);
        memcpy(w->v + m, ov + i, (n_old - i) * sizeof *ov);
        m += n_old - i;
    }
    if (j < n) {
        memcpy(w->ts + m, ts + j, (n - j) * sizeof *ts);
        memcpy(w->v + m, v + j, (n - j) * sizeof *v);
        m += n - j;
    }
    *n_out = m;
    return 0;
}

/* Step 3: write ts/v[0..n) as chunks. */
static int write_run(stor_txn *t, uint64_t sid, const int64_t *ts, const double *v, size_t n,
                     size_t max) {
    stor__scratch *w = &t->s->w;
    size_t i = 0;
    while (i < n) {
        size_t k = n - i < max ? n - i : max;
        int rc;
        for (;;) {
            ax_buf_reset(&w->enc);
            if ((rc = codec_chunk_encode(w->codec, &w->enc, ts + i, v + i, k))) return rc;
            size_t len = w->enc.len;
            if (len <= STOR_CHUNK_INLINE_BYTES || k <= STOR__MIN_CUT_SAMPLES) break;
            /* aim a little under the limit: sizes are not quite linear in k */
            size_t k2 = (size_t)((double)k * STOR_CHUNK_INLINE_BYTES * 0.97 / (double)len);
            if (k2 >= k) k2 = k - 1;
            k = k2 < STOR__MIN_CUT_SAMPLES ? STOR__MIN_CUT_SAMPLES : k2;
        }
        uint8_t kb[STOR__CHUNK_KEY_LEN];
        stor__chunk_key(kb, sid, ts[i]);
        MDB_val key = {sizeof kb, kb}, d = {w->enc.len, w->enc.data};
        int mrc = mdb_put(t->txn, t->s->chunks, &key, &d, 0);
        if (mrc) return stor__fail(t, mrc);
        i += k;
    }
    return 0;
}

int stor_samples_write(stor_txn *t, uint64_t sid, const int64_t *ts, const double *v, size_t n,
                       size_t max_per_chunk) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (t->kind != STOR_TXN_WRITE || !ts || !v || n == 0 || max_per_chunk == 0) return AX_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1]) return AX_EINVAL;
    size_t max = max_per_chunk < CODEC_MAX_SAMPLES ? max_per_chunk : CODEC_MAX_SAMPLES;
    stor__scratch *w = &t->s->w;
    if (!w->codec) return AX_ENOMEM;

    size_t n_old = 0, n_oldv = 0, m = 0;
    if ((rc = find_old(t, sid, ts[0], ts[n - 1], n, max, &n_old))) return rc;
    if (n_old == 0) return write_run(t, sid, ts, v, n, max);
    if ((rc = decode_old(w, sid, n_old, &n_oldv))) return rc;
    if ((rc = merge(w, ts, v, n, n_oldv, &m))) return rc;
    /* the old values are in scratch now; their keys can go. The run's first key, if it was
     * a chunk start, is simply overwritten by the first put. */
    for (size_t i = 0; i < n_old; i++) {
        if (w->old[i].start == w->ts[0]) continue;
        uint8_t kb[STOR__CHUNK_KEY_LEN];
        stor__chunk_key(kb, sid, w->old[i].start);
        MDB_val key = {sizeof kb, kb};
        int mrc = mdb_del(t->txn, t->s->chunks, &key, NULL);
        if (mrc) return stor__fail(t, mrc);
    }
    return write_run(t, sid, w->ts, w->v, m, max);
}
