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
 *   1. pick the chunks to replace (find_old): every chunk overlapping [ts[0], ts[n-1]]; if
 *      none, the series' tail of small chunks just before ts[0]: all of it when, with the
 *      new samples, it makes a sealed chunk, else only its last chunk while that is tiny;
 *   2. decode them back to back (already sorted, by the invariant) and merge with the new
 *      samples by timestamp; on equal timestamps the new sample wins;
 *   3. delete the replaced keys and write the run (write_run): sealed chunks that fill most
 *      of one LMDB overflow page (or hold max_per_chunk samples), then small chunks of at
 *      most STOR_CHUNK_INLINE_BYTES, never cut below STOR__MIN_CUT_SAMPLES. Every output
 *      chunk covers a contiguous part of the merged run, and the run covers exactly the
 *      replaced chunks plus the new samples, so output chunks neither overlap each other
 *      nor the chunks left in place.
 * Why: values of 1-2 KB in leaf pages leave B-tree pages ~60% full after splits, while a
 * value cut to fill one overflow page wastes almost nothing; and rewriting only a short
 * tail keeps the work per sample at about two encodings.
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

int stor__blocks_range(stor_txn *t, MDB_dbi dbi, uint64_t sid, int64_t mint, int64_t maxt,
                       stor__peek_fn peek_view, void *out, size_t view_size, size_t cap, size_t *n_out) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (mint > maxt) {
        *n_out = 0;
        return 0;
    }
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, dbi, &c);
    if (mrc) return stor__err(mrc);
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, mint);
    MDB_val k = {sizeof kb, kb}, d;
    size_t n = 0;
    char *views = out;
    int64_t bmax;
    /* the block before (sid, mint) may start before mint and reach into the range */
    int seek = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    mrc = mdb_cursor_get(c, &k, &d, seek == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    if (!mrc && key_of(&k, sid)) {
        if (!(rc = peek_view(sid, &k, &d, NULL, &bmax)) && bmax >= mint) {
            if (cap == 0) rc = AX_ETOOBIG;
            else if (!(rc = peek_view(sid, &k, &d, views, &bmax))) n++;
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
            if (n == cap) {
                rc = AX_ETOOBIG;
                break;
            }
            if ((rc = peek_view(sid, &k, &d, views + n * view_size, &bmax))) break;
            n++;
        }
        if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__err(mrc);
    }
    mdb_cursor_close(c);
    if (!rc || rc == AX_ETOOBIG) *n_out = n;
    return rc;
}

/* stor__peek_fn for chunks: view (may be NULL) is a stor_chunk_view. */
static int chunk_view(uint64_t sid, const MDB_val *k, const MDB_val *d, void *view, int64_t *maxt) {
    size_t cn;
    int64_t cmin;
    int rc = peek(sid, k, d, &cn, &cmin, maxt);
    if (!rc && view) *(stor_chunk_view *)view = (stor_chunk_view){cmin, *maxt, cn, d->mv_data, d->mv_size};
    return rc;
}

int stor_chunks_range(stor_txn *t, uint64_t sid, int64_t mint, int64_t maxt,
                      stor_chunk_view *out, size_t cap, size_t *n_out) {
    return stor__blocks_range(t, t->s->chunks, sid, mint, maxt, chunk_view, out, sizeof *out, cap, n_out);
}

int stor__blocks_delete_all(stor_txn *t, MDB_dbi dbi, uint64_t sid, size_t *n_out) {
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, dbi, &c);
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

/* ---- retention ---- */

int stor_chunks_expire(stor_txn *t, int64_t cutoff, uint64_t from_sid, size_t max_chunks,
                       uint64_t max_bytes, stor_sids *emptied, stor_expire_out *out) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (t->kind != STOR_TXN_WRITE || max_chunks == 0 || max_bytes == 0) return AX_EINVAL;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->chunks, &c);
    if (mrc) return stor__fail(t, mrc);
    stor_expire_out o = {0, 0, INT64_MAX, 0};
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, from_sid, INT64_MIN);
    /* the series being walked: chunks this call deleted of it, and whether one stays */
    uint64_t cur = 0;
    bool have_cur = false, kept = false;
    size_t deleted_here = 0;
    for (;;) {
        MDB_val k = {sizeof kb, kb}, d;
        if ((mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE))) break;
        if (k.mv_size != STOR__CHUNK_KEY_LEN) {
            /* only the chunk store writes here; a foreign key ends the walk */
            fprintf(stderr, "auspex: storage: chunks db holds a %zu-byte key; retention "
                            "walk stopped there\n", k.mv_size);
            mrc = MDB_NOTFOUND;
            break;
        }
        uint64_t sid = ax_get_u64be(k.mv_data);
        int64_t start = stor__chunk_key_ts(k.mv_data);
        if (!have_cur || sid != cur) {
            if (have_cur && deleted_here && !kept && emptied &&
                (rc = stor_sids_push(emptied, cur)))
                break;
            cur = sid;
            have_cur = true;
            kept = false;
            deleted_here = 0;
        }
        size_t n;
        int64_t mint, maxt;
        if (peek(sid, &k, &d, &n, &mint, &maxt)) {
            /* unreadable header (logged): keep it, look at the next chunk of sid */
            kept = true;
            if (start < INT64_MAX) {
                stor__chunk_key(kb, sid, start + 1);
                continue;
            }
        } else if (maxt < cutoff) {
            if (o.chunks >= max_chunks || o.bytes >= max_bytes) {
                o.next_sid = sid; /* resume at this series: its old chunks come first */
                break;
            }
            uint64_t len = d.mv_size;
            if ((mrc = mdb_cursor_del(c, 0))) break;
            o.chunks++;
            o.bytes += len;
            if (start < o.min_mint) o.min_mint = start;
            deleted_here++;
            stor__chunk_key(kb, sid, start + 1); /* start <= maxt < cutoff: no overflow */
            continue;
        } else {
            kept = true; /* reaches the cutoff: every later chunk of sid is newer still */
        }
        if (sid == UINT64_MAX) {
            mrc = MDB_NOTFOUND;
            break;
        }
        stor__chunk_key(kb, sid + 1, INT64_MIN);
    }
    mdb_cursor_close(c);
    if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__fail(t, mrc);
    /* the walk reached the end: the last series is done too */
    if (!rc && o.next_sid == 0 && have_cur && deleted_here && !kept && emptied)
        rc = stor_sids_push(emptied, cur);
    if (!rc) *out = o;
    return rc;
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

/* Chunk classes. A sealed chunk fills (most of) one LMDB overflow page, or holds
 * max_per_chunk samples, and is not reopened for appends. Small chunks (at most
 * STOR_CHUNK_INLINE_BYTES, kept inside leaf pages) are the tail of a series: new samples
 * become a new small chunk (or extend the last one while it is tiny), and once the tail
 * plus the new samples make about a page, the whole tail is rewritten as sealed chunks.
 * So most bytes live in full pages, and each sample is encoded about twice in all. */
#define SMALL_REOPEN_BYTES 512   /* the last small chunk is extended while under this */
#define TAIL_MAX 64              /* small chunks gathered into one seal at most */
#define SEAL_FILL 0.85           /* a sealed chunk fills at least this much of its page */

static bool is_sealed(size_t len, size_t n, size_t max) {
    return len > STOR_CHUNK_INLINE_BYTES || n >= max;
}

static size_t seal_target(const stor_env *s) { return s->page_size - 16; /* page header */ }

static int old_push(stor__scratch *w, size_t *n, const MDB_val *k, const MDB_val *d, size_t cn) {
    int rc = grow((void **)&w->old, &w->old_cap, *n + 1, sizeof *w->old);
    if (rc) return rc;
    w->old[(*n)++] = (stor__old){stor__chunk_key_ts(k->mv_data), d->mv_data, d->mv_size, cn};
    return 0;
}

/* Step 1: collect the chunks to replace into w->old, in time order. Chunks overlapping
 * [first, last] always (OUT *seal = true: cut the merged run into sealed chunks). If none
 * overlap: the small chunks just before `first` (the tail), all of them when with the
 * new samples they make a sealed chunk (*seal = true), else the last one while it is
 * tiny. OUT: *n_old. */
static int find_old(stor_txn *t, uint64_t sid, int64_t first, int64_t last, size_t n_new,
                    size_t max, size_t *n_old, bool *seal) {
    stor__scratch *w = &t->s->w;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->chunks, &c);
    if (mrc) return stor__fail(t, mrc);
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, first);
    MDB_val k = {sizeof kb, kb}, d;
    size_t n = 0;
    int rc = 0;
    *seal = false;
    /* overlap: the chunk before `first` if it reaches it, and chunks starting in range */
    int seek = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    mrc = mdb_cursor_get(c, &k, &d, seek == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    bool have_prev = !mrc && key_of(&k, sid);
    size_t pn = 0, plen = have_prev ? d.mv_size : 0;
    int64_t pmin = 0, pmax = 0;
    bool prev_bad = have_prev && peek(sid, &k, &d, &pn, &pmin, &pmax) != 0;
    if (have_prev && (prev_bad || pmax >= first)) {
        rc = old_push(w, &n, &k, &d, prev_bad ? 0 : pn); /* n = 0: unreadable, dropped */
        *seal = true;
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
            *seal = true;
        }
        if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__fail(t, mrc);
    }
    if (rc || n || !have_prev || prev_bad || is_sealed(plen, pn, max)) goto out;

    /* no overlap: look at the tail of small chunks that ends just before `first` */
    stor__chunk_key(kb, sid, pmin);
    k.mv_data = kb;
    k.mv_size = sizeof kb;
    mrc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY);
    size_t tail_bytes = 0, tail_n = 0, last_len = d.mv_size;
    while (!mrc && key_of(&k, sid) && n < TAIL_MAX) {
        size_t cn;
        int64_t cmin, cmax;
        if (peek(sid, &k, &d, &cn, &cmin, &cmax) || is_sealed(d.mv_size, cn, max)) break;
        if ((rc = old_push(w, &n, &k, &d, cn))) goto out;
        tail_bytes += d.mv_size;
        tail_n += cn;
        mrc = mdb_cursor_get(c, &k, &d, MDB_PREV);
    }
    if (mrc && mrc != MDB_NOTFOUND) {
        rc = stor__fail(t, mrc);
        goto out;
    }
    /* collected newest first: put them in time order */
    for (size_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) {
        stor__old tmp = w->old[i];
        w->old[i] = w->old[j];
        w->old[j] = tmp;
    }
    double per_sample = tail_n ? (double)tail_bytes / (double)tail_n : 2.0;
    if (tail_bytes + per_sample * (double)n_new >= seal_target(t->s) * SEAL_FILL ||
        tail_n + n_new >= max) {
        *seal = true;                    /* rewrite the whole tail as sealed chunks */
    } else if (last_len < SMALL_REOPEN_BYTES) {
        w->old[0] = w->old[n - 1];       /* extend only the last, tiny chunk */
        n = 1;
    } else {
        n = 0;                           /* the new samples make a new small chunk */
    }
out:
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

static int put_chunk(stor_txn *t, uint64_t sid, int64_t start, const ax_buf *enc) {
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, start);
    MDB_val key = {sizeof kb, kb}, d = {enc->len, enc->data};
    int mrc = mdb_put(t->txn, t->s->chunks, &key, &d, 0);
    return mrc ? stor__fail(t, mrc) : 0;
}

/* Encode ts/v[0..k) into w->enc, cutting k down until the chunk is at most `limit` bytes
 * (never below STOR__MIN_CUT_SAMPLES). OUT: *k. */
static int encode_fit(stor__scratch *w, const int64_t *ts, const double *v, size_t *k,
                      size_t limit) {
    for (;;) {
        ax_buf_reset(&w->enc);
        int rc = codec_chunk_encode(w->codec, &w->enc, ts, v, *k);
        if (rc) return rc;
        size_t len = w->enc.len;
        if (len <= limit || *k <= STOR__MIN_CUT_SAMPLES) return 0;
        /* aim a little under the limit: sizes are not quite linear in k */
        size_t k2 = (size_t)((double)*k * (double)limit * 0.97 / (double)len);
        if (k2 >= *k) k2 = *k - 1;
        *k = k2 < STOR__MIN_CUT_SAMPLES ? STOR__MIN_CUT_SAMPLES : k2;
    }
}

/* Step 3: write ts/v[0..n) as chunks: with `seal`, first as many sealed chunks (each
 * filling most of a page, or holding max samples) as the run allows; the rest as small
 * chunks of at most STOR_CHUNK_INLINE_BYTES. */
static int write_run(stor_txn *t, uint64_t sid, const int64_t *ts, const double *v, size_t n,
                     size_t max, bool seal) {
    stor__scratch *w = &t->s->w;
    size_t target = seal_target(t->s);
    size_t i = 0;
    int rc;
    while (seal && i < n) {
        size_t k = n - i < max ? n - i : max;
        if ((rc = encode_fit(w, ts + i, v + i, &k, target))) return rc;
        if (k < max && (double)w->enc.len < (double)target * SEAL_FILL) break;
        if ((rc = put_chunk(t, sid, ts[i], &w->enc))) return rc;
        i += k;
    }
    while (i < n) {
        size_t k = n - i < max ? n - i : max;
        if ((rc = encode_fit(w, ts + i, v + i, &k, STOR_CHUNK_INLINE_BYTES))) return rc;
        if ((rc = put_chunk(t, sid, ts[i], &w->enc))) return rc;
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
    bool seal = false;
    if ((rc = find_old(t, sid, ts[0], ts[n - 1], n, max, &n_old, &seal))) return rc;
    if (n_old == 0) return write_run(t, sid, ts, v, n, max, true);
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
    return write_run(t, sid, w->ts, w->v, m, max, seal);
}

int stor__block_delete(stor_txn *t, MDB_dbi dbi, uint64_t sid, int64_t start) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (t->kind != STOR_TXN_WRITE) return AX_EINVAL;
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, start);
    MDB_val k = {sizeof kb, kb};
    int mrc = mdb_del(t->txn, dbi, &k, NULL);
    if (mrc == MDB_NOTFOUND) return AX_ENOTFOUND;
    return mrc ? stor__fail(t, mrc) : 0;
}

int stor_chunk_delete(stor_txn *t, uint64_t sid, int64_t start) {
    return stor__block_delete(t, t->s->chunks, sid, start);
}
