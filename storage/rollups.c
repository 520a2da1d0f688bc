/* storage/rollups.c: the rollups database, blocks of downsampled points.
 *
 * Key: sid (u64 BE) | t of the block's first point (sign bit flipped, BE), exactly as chunk
 * keys, so a series' blocks are adjacent and in time order. The value is one codec rollup
 * block (storage/codec/rollup.c) whose uncompressed header gives n, mint (== the key's
 * time, checked on every read), maxt and step. The engine (engine/downsample.c) decides
 * what goes in them and keeps the invariant that a series' blocks never overlap in time;
 * this file only reads, writes, deletes and expires them. Layout: docs/storage.md.
 */
#include "storage/storage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_corrupt(uint64_t sid, int64_t start, const char *what) {
    fprintf(stderr, "auspex: storage: series %llu: rollup block at %lld %s\n",
            (unsigned long long)sid, (long long)start, what);
}

static int peek(uint64_t sid, const MDB_val *k, const MDB_val *d, stor_rollup_view *v) {
    int64_t start = stor__chunk_key_ts(k->mv_data);
    if (codec_rollup_peek(d->mv_data, d->mv_size, &v->n, &v->mint, &v->maxt, &v->step) ||
        v->mint != start) {
        log_corrupt(sid, start, "has an unreadable header");
        return AX_ECORRUPT;
    }
    v->data = d->mv_data;
    v->len = d->mv_size;
    return 0;
}

static bool key_of(const MDB_val *k, uint64_t sid) {
    return k->mv_size == STOR__CHUNK_KEY_LEN && ax_get_u64be(k->mv_data) == sid;
}

/* stor__peek_fn for rollup blocks: view (may be NULL) is a stor_rollup_view. */
static int rollup_view(uint64_t sid, const MDB_val *k, const MDB_val *d, void *view, int64_t *maxt) {
    stor_rollup_view v;
    int rc = peek(sid, k, d, &v);
    if (!rc) {
        *maxt = v.maxt;
        if (view) *(stor_rollup_view *)view = v;
    }
    return rc;
}

int stor_rollups_range(stor_txn *t, uint64_t sid, int64_t mint, int64_t maxt,
                       stor_rollup_view *out, size_t cap, size_t *n_out) {
    return stor__blocks_range(t, t->s->rollups, sid, mint, maxt, rollup_view, out, sizeof *out, cap, n_out);
}

int stor_rollups_last(stor_txn *t, uint64_t sid, stor_rollup_view *out) {
    int rc = stor__live(t);
    if (rc) return rc;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->rollups, &c);
    if (mrc) return stor__err(mrc);
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, INT64_MAX);
    MDB_val k = {sizeof kb, kb}, d;
    int seek = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    if (seek == 0 && key_of(&k, sid)) {
        mrc = 0; /* a block starting at INT64_MAX: it is the last */
    } else {
        mrc = seek && seek != MDB_NOTFOUND ? seek
              : mdb_cursor_get(c, &k, &d, seek == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    }
    stor_rollup_view v;
    if (mrc == MDB_NOTFOUND || (!mrc && !key_of(&k, sid))) rc = AX_ENOTFOUND;
    else if (mrc) rc = stor__err(mrc);
    else rc = peek(sid, &k, &d, &v);
    mdb_cursor_close(c);
    if (!rc) *out = v;
    return rc;
}

int stor_rollup_put(stor_txn *t, uint64_t sid, const uint8_t *block, size_t len) {
    int rc = stor__live(t);
    if (rc) return rc;
    int64_t mint;
    if (t->kind != STOR_TXN_WRITE || codec_rollup_peek(block, len, NULL, &mint, NULL, NULL))
        return AX_EINVAL;
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, mint);
    MDB_val k = {sizeof kb, kb}, d = {len, (void *)block};
    int mrc = mdb_put(t->txn, t->s->rollups, &k, &d, 0);
    return mrc ? stor__fail(t, mrc) : 0;
}

int stor_rollup_delete(stor_txn *t, uint64_t sid, int64_t start) {
    return stor__block_delete(t, t->s->rollups, sid, start);
}

/* Is there any key of sid in dbi? */
static int any_key(stor_txn *t, MDB_dbi dbi, uint64_t sid, bool *out) {
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, dbi, &c);
    if (mrc) return stor__err(mrc);
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, sid, INT64_MIN);
    MDB_val k = {sizeof kb, kb}, d;
    mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    mdb_cursor_close(c);
    if (mrc && mrc != MDB_NOTFOUND) return stor__err(mrc);
    *out = !mrc && key_of(&k, sid);
    return 0;
}

int stor_series_has_data(stor_txn *t, uint64_t sid, bool *out) {
    int rc = stor__live(t);
    if (rc) return rc;
    bool a = false, b = false;
    rc = any_key(t, t->s->chunks, sid, &a);
    if (!rc && !a) rc = any_key(t, t->s->rollups, sid, &b);
    if (!rc) *out = a || b;
    return rc;
}

/* Rewrite block v of sid keeping only its points with t >= cutoff. OUT: *dropped. */
static int trim_block(stor_txn *t, uint64_t sid, const stor_rollup_view *v, int64_t cutoff,
                      size_t *dropped) {
    size_t n = v->n, got = 0;
    int64_t *ia = malloc(2 * n * sizeof *ia);
    double *da = malloc(8 * n * sizeof *da);
    uint32_t *ua = malloc(3 * n * sizeof *ua);
    ax_buf enc;
    ax_buf_init(&enc, (size_t)64 << 20);
    int rc = ia && da && ua ? 0 : AX_ENOMEM;
    codec_rollup_cols c = {ia, ia + n, da, da + n, da + 2 * n, da + 3 * n, da + 4 * n,
                           da + 5 * n, da + 6 * n, da + 7 * n, ua, ua + n, ua + 2 * n};
    if (!rc) rc = codec_rollup_decode(t->s->w.codec, v->data, v->len, &c, 0, n, &got);
    size_t keep = 0;
    while (!rc && keep < got && c.t[keep] < cutoff) keep++;
    if (!rc && keep < got) rc = codec_rollup_encode(t->s->w.codec, &enc, &c, keep, got - keep, v->step);
    int64_t old = v->mint;
    if (!rc) rc = stor_rollup_delete(t, sid, old); /* v->data is dead from here */
    if (!rc && enc.len) rc = stor_rollup_put(t, sid, enc.data, enc.len);
    if (!rc) *dropped = keep;
    if (rc == AX_ECORRUPT) {
        log_corrupt(sid, old, "does not decode; deleted by retention");
        rc = stor_rollup_delete(t, sid, old);
        *dropped = n;
    }
    ax_buf_free(&enc);
    free(ia);
    free(da);
    free(ua);
    return rc;
}

int stor_rollups_expire(stor_txn *t, int64_t cutoff, uint64_t from_sid, size_t max_blocks,
                        stor_sids *emptied, stor_expire_out *out) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (t->kind != STOR_TXN_WRITE || max_blocks == 0) return AX_EINVAL;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->rollups, &c);
    if (mrc) return stor__fail(t, mrc);
    stor_expire_out o = {0, 0, INT64_MAX, 0};
    uint8_t kb[STOR__CHUNK_KEY_LEN];
    stor__chunk_key(kb, from_sid, INT64_MIN);
    for (;;) {
        MDB_val k = {sizeof kb, kb}, d;
        if ((mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE))) break;
        if (k.mv_size != STOR__CHUNK_KEY_LEN) {
            mrc = MDB_NOTFOUND;
            break;
        }
        uint64_t sid = ax_get_u64be(k.mv_data);
        int64_t start = stor__chunk_key_ts(k.mv_data);
        stor_rollup_view v;
        bool next_series = true;
        if (peek(sid, &k, &d, &v)) {
            next_series = start == INT64_MAX; /* unreadable header: keep it, look further */
            if (!next_series) stor__chunk_key(kb, sid, start + 1);
        } else if (v.mint < cutoff) {
            if (o.chunks >= max_blocks) {
                o.next_sid = sid;
                break;
            }
            size_t dropped = v.n;
            if (v.maxt < cutoff) {
                if ((mrc = mdb_cursor_del(c, 0))) break;
            } else {
                mdb_cursor_close(c); /* trim writes through its own calls */
                c = NULL;
                if ((rc = trim_block(t, sid, &v, cutoff, &dropped))) break;
                if ((mrc = mdb_cursor_open(t->txn, t->s->rollups, &c))) {
                    c = NULL;
                    break;
                }
            }
            o.chunks++;
            o.bytes += dropped;
            if (start < o.min_mint) o.min_mint = start;
            next_series = v.maxt >= cutoff; /* trimmed: the rest of sid is newer */
            if (!next_series) {
                stor__chunk_key(kb, sid, start + 1);
                /* was it the series' last block? */
                MDB_val k2 = {sizeof kb, kb}, d2;
                int m2 = mdb_cursor_get(c, &k2, &d2, MDB_SET_RANGE);
                if (m2 && m2 != MDB_NOTFOUND) {
                    mrc = m2;
                    break;
                }
                if ((m2 || !key_of(&k2, sid)) && emptied && (rc = stor_sids_push(emptied, sid)))
                    break;
            }
        }
        if (!next_series) continue;
        if (sid == UINT64_MAX) {
            mrc = MDB_NOTFOUND;
            break;
        }
        stor__chunk_key(kb, sid + 1, INT64_MIN);
    }
    if (c) mdb_cursor_close(c);
    if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__fail(t, mrc);
    if (!rc) *out = o;
    return rc;
}
