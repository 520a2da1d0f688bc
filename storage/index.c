/* storage/index.c: series (sid -> canonical labels) and the inverted index (postings).
 *
 * postings is MDB_DUPSORT|MDB_DUPFIXED: key "name\0value", data the 8-byte BE sids of every
 * series carrying that pair, so LMDB keeps them sorted, unique, and packed in pages that
 * MDB_GET_MULTIPLE hands out whole. The all-series list is the pair ""="" whose key is the
 * single byte 0x00. Keys are capped by LMDB (mdb_env_get_maxkeysize, 511 bytes by default);
 * a longer pair is stored under its cut prefix, 0xff and a hash of the full value (see
 * stor__posting_key), and label-value iteration recovers the full value from a series that
 * carries it.
 */
#include "storage/storage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_SEED 0x61757370657821ull
#define KEY_CAP 2048 /* >= any maxkeysize LMDB is built with (511 by default) */

int stor__posting_key(const stor_env *s, const char *name, size_t name_len, const char *value,
                      size_t value_len, uint8_t *key, size_t cap, size_t *len_out) {
    size_t max = (size_t)s->max_key;
    if (cap < max || name_len + 1 + 9 >= max) return AX_EINVAL;
    if (!name_len && value_len) return AX_EINVAL;
    memcpy(key, name, name_len);
    key[name_len] = 0;
    size_t len = name_len + 1 + value_len;
    if (len < max) {
        memcpy(key + name_len + 1, value, value_len);
    } else {
        size_t keep = max - 9 - name_len - 1;
        memcpy(key + name_len + 1, value, keep);
        key[max - 9] = 0xff;
        ax_put_u64be(key + max - 8, ax_hash(value, value_len, HASH_SEED));
        len = max;
    }
    *len_out = len;
    return 0;
}

/* Add (or with del, remove) sid to the postings of every label in labels and of "". */
static int postings_update(stor_txn *t, uint64_t sid, const uint8_t *labels, size_t len,
                           bool del) {
    ax_label ls[AX_MAX_LABELS];
    size_t n = 0;
    if (ax_labels_decode(labels, len, ls, AX_MAX_LABELS, &n)) {
        fprintf(stderr, "auspex: storage: series %llu: label bytes do not decode\n",
                (unsigned long long)sid);
        return AX_ECORRUPT;
    }
    uint8_t sidb[8];
    ax_put_u64be(sidb, sid);
    MDB_val d = {8, sidb};
    uint8_t key[KEY_CAP];
    for (size_t i = 0; i <= n; i++) {
        MDB_val k;
        if (i == n) {
            k.mv_data = (void *)STOR__ALL_KEY;
            k.mv_size = STOR__ALL_KEY_LEN;
        } else {
            size_t klen = 0;
            int rc = stor__posting_key(t->s, ls[i].name, ls[i].name_len, ls[i].value,
                                       ls[i].value_len, key, sizeof key, &klen);
            if (rc) return rc;
            k.mv_data = key;
            k.mv_size = klen;
        }
        int mrc = del ? mdb_del(t->txn, t->s->postings, &k, &d)
                      : mdb_put(t->txn, t->s->postings, &k, &d, MDB_NODUPDATA);
        if (mrc == MDB_KEYEXIST || (del && mrc == MDB_NOTFOUND)) mrc = 0;
        if (mrc) return stor__fail(t, mrc);
    }
    return 0;
}

static MDB_val sid_key(uint8_t *b, uint64_t sid) {
    ax_put_u64be(b, sid);
    MDB_val k = {8, b};
    return k;
}

int stor_series_put(stor_txn *t, uint64_t sid, const uint8_t *labels, size_t len) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (t->kind != STOR_TXN_WRITE || !labels || !len) return AX_EINVAL;
    uint8_t kb[8];
    MDB_val k = sid_key(kb, sid), old;
    int mrc = mdb_get(t->txn, t->s->series, &k, &old);
    if (!mrc && old.mv_size == len && !memcmp(old.mv_data, labels, len)) return 0;
    if (mrc && mrc != MDB_NOTFOUND) return stor__fail(t, mrc);
    if (!mrc) {
        /* sid reused with other labels: drop the old postings first (copy: old points into
         * a page the deletes may change) */
        uint8_t *copy = malloc(old.mv_size);
        if (!copy) return AX_ENOMEM;
        memcpy(copy, old.mv_data, old.mv_size);
        rc = postings_update(t, sid, copy, old.mv_size, true);
        free(copy);
        if (rc && rc != AX_ECORRUPT) return rc;
    }
    if ((rc = postings_update(t, sid, labels, len, false))) return rc;
    MDB_val d = {len, (void *)labels};
    mrc = mdb_put(t->txn, t->s->series, &k, &d, 0);
    return mrc ? stor__fail(t, mrc) : 0;
}

int stor_series_get(stor_txn *t, uint64_t sid, const uint8_t **labels_out, size_t *len_out) {
    int rc = stor__live(t);
    if (rc) return rc;
    uint8_t kb[8];
    MDB_val k = sid_key(kb, sid), d;
    int mrc = mdb_get(t->txn, t->s->series, &k, &d);
    if (mrc) return stor__err(mrc);
    *labels_out = d.mv_data;
    *len_out = d.mv_size;
    return 0;
}

int stor_series_foreach(stor_txn *t, stor_series_cb cb, void *ctx) {
    int rc = stor__live(t);
    if (rc) return rc;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->series, &c);
    if (mrc) return stor__err(mrc);
    MDB_val k, d;
    for (mrc = mdb_cursor_get(c, &k, &d, MDB_FIRST); !mrc && !rc;
         mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 8) {
            fprintf(stderr, "auspex: storage: series key of %zu bytes\n", k.mv_size);
            rc = AX_ECORRUPT;
            break;
        }
        rc = cb(ctx, ax_get_u64be(k.mv_data), d.mv_data, d.mv_size);
    }
    mdb_cursor_close(c);
    if (!rc && mrc != MDB_NOTFOUND) rc = stor__err(mrc);
    return rc;
}

int stor_series_delete(stor_txn *t, uint64_t sid) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (t->kind != STOR_TXN_WRITE) return AX_EINVAL;
    size_t nchunks = 0, nblocks = 0;
    if ((rc = stor__blocks_delete_all(t, t->s->chunks, sid, &nchunks))) return rc;
    if ((rc = stor__blocks_delete_all(t, t->s->rollups, sid, &nblocks))) return rc;
    nchunks += nblocks;
    uint8_t kb[8];
    MDB_val k = sid_key(kb, sid), d;
    int mrc = mdb_get(t->txn, t->s->series, &k, &d);
    if (mrc == MDB_NOTFOUND) return nchunks ? 0 : AX_ENOTFOUND;
    if (mrc) return stor__fail(t, mrc);
    uint8_t *copy = malloc(d.mv_size ? d.mv_size : 1);
    if (!copy) return AX_ENOMEM;
    memcpy(copy, d.mv_data, d.mv_size);
    rc = postings_update(t, sid, copy, d.mv_size, true);
    free(copy);
    if (rc == AX_ECORRUPT) {
        /* unreadable labels: at least take it out of the all-series list */
        uint8_t sidb[8];
        ax_put_u64be(sidb, sid);
        MDB_val ak = {STOR__ALL_KEY_LEN, (void *)STOR__ALL_KEY}, ad = {8, sidb};
        mrc = mdb_del(t->txn, t->s->postings, &ak, &ad);
        rc = mrc && mrc != MDB_NOTFOUND ? stor__fail(t, mrc) : 0;
    }
    if (rc) return rc;
    mrc = mdb_del(t->txn, t->s->series, &k, NULL);
    return mrc ? stor__fail(t, mrc) : 0;
}

void stor_sids_free(stor_sids *s) {
    if (!s) return;
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int sids_reserve(stor_sids *s, size_t extra) {
    if (s->cap - s->n >= extra) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap - s->n < extra) {
        if (cap > SIZE_MAX / 2 / sizeof *s->v) return AX_ENOMEM;
        cap *= 2;
    }
    uint64_t *v = realloc(s->v, cap * sizeof *v);
    if (!v) return AX_ENOMEM;
    s->v = v;
    s->cap = cap;
    return 0;
}

int stor_sids_push(stor_sids *s, uint64_t sid) {
    int rc = sids_reserve(s, 1);
    if (!rc) s->v[s->n++] = sid;
    return rc;
}

int stor_postings_get(stor_txn *t, const char *name, size_t name_len, const char *value,
                      size_t value_len, stor_sids *out) {
    int rc = stor__live(t);
    if (rc) return rc;
    uint8_t key[KEY_CAP];
    size_t klen = 0;
    if ((rc = stor__posting_key(t->s, name, name_len, value, value_len, key, sizeof key, &klen)))
        return rc;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->postings, &c);
    if (mrc) return stor__err(mrc);
    MDB_val k = {klen, key}, d;
    mrc = mdb_cursor_get(c, &k, &d, MDB_SET);
    /* A key with one sid has no sub-database: MDB_GET_MULTIPLE then succeeds and leaves d
     * as MDB_SET returned it, which is that one sid. */
    if (!mrc) mrc = mdb_cursor_get(c, &k, &d, MDB_GET_MULTIPLE);
    while (!mrc && !rc) {
        if (d.mv_size % 8) {
            fprintf(stderr, "auspex: storage: posting %.*s: %zu bytes of sids\n", (int)name_len,
                    name, d.mv_size);
            rc = AX_ECORRUPT;
            break;
        }
        size_t n = d.mv_size / 8;
        if ((rc = sids_reserve(out, n))) break;
        const uint8_t *p = d.mv_data;
        for (size_t i = 0; i < n; i++) out->v[out->n++] = ax_get_u64be(p + 8 * i);
        mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT_MULTIPLE);
    }
    mdb_cursor_close(c);
    if (!rc && mrc != MDB_NOTFOUND) rc = stor__err(mrc);
    return rc;
}

/* Full value of a hashed posting key (cut prefix + 0xff + hash): read it from the labels of
 * the first series in its list. OUT: *v_out, *len_out (borrowed from the map). */
static int full_value(stor_txn *t, MDB_cursor *c, const char *name, size_t name_len,
                      const char **v_out, size_t *len_out) {
    MDB_val k, d;
    int mrc = mdb_cursor_get(c, &k, &d, MDB_GET_CURRENT);
    if (mrc) return stor__err(mrc);
    if (d.mv_size != 8) return AX_ECORRUPT;
    const uint8_t *lb;
    size_t llen;
    int rc = stor_series_get(t, ax_get_u64be(d.mv_data), &lb, &llen);
    if (rc == AX_ENOTFOUND) rc = AX_ECORRUPT;
    if (rc) return rc;
    *v_out = ax_labels_get(lb, llen, name, name_len, len_out);
    return *v_out ? 0 : AX_ECORRUPT;
}

int stor_label_values_foreach(stor_txn *t, const char *name, size_t name_len, stor_value_cb cb,
                              void *ctx) {
    if (!name) return stor_label_names_foreach(t, cb, ctx);
    int rc = stor__live(t);
    if (rc) return rc;
    if (!name_len || name_len + 1 + 9 >= (size_t)t->s->max_key) return AX_EINVAL;
    uint8_t key[KEY_CAP];
    memcpy(key, name, name_len);
    key[name_len] = 0;
    size_t plen = name_len + 1;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->postings, &c);
    if (mrc) return stor__err(mrc);
    MDB_val k = {plen, key}, d;
    for (mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); !mrc && !rc;
         mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP)) {
        if (k.mv_size < plen || memcmp(k.mv_data, key, plen)) break;
        const char *v = (const char *)k.mv_data + plen;
        size_t vlen = k.mv_size - plen;
        if (k.mv_size == (size_t)t->s->max_key) {
            rc = full_value(t, c, name, name_len, &v, &vlen);
            if (rc == AX_ECORRUPT)
                fprintf(stderr, "auspex: storage: label %.*s: long value not in its series\n",
                        (int)name_len, name);
            if (rc) break;
        }
        rc = cb(ctx, v, vlen);
    }
    mdb_cursor_close(c);
    if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__err(mrc);
    return rc;
}

int stor_label_names_foreach(stor_txn *t, stor_value_cb cb, void *ctx) {
    int rc = stor__live(t);
    if (rc) return rc;
    MDB_cursor *c;
    int mrc = mdb_cursor_open(t->txn, t->s->postings, &c);
    if (mrc) return stor__err(mrc);
    /* skip the all-series key 0x00, then jump from name to name: after "name\0..." comes
     * "name\x01" at the earliest (label names never hold bytes below '0') */
    uint8_t key[KEY_CAP];
    key[0] = 0x01;
    MDB_val k = {1, key}, d;
    for (mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); !mrc && !rc;
         mrc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE)) {
        const uint8_t *p = k.mv_data;
        const uint8_t *z = memchr(p, 0, k.mv_size);
        if (!z || z == p) {
            fprintf(stderr, "auspex: storage: posting key without a name\n");
            rc = AX_ECORRUPT;
            break;
        }
        size_t nlen = (size_t)(z - p);
        if (nlen + 1 > sizeof key) {
            rc = AX_ECORRUPT;
            break;
        }
        memcpy(key, p, nlen);
        rc = cb(ctx, (const char *)key, nlen);
        key[nlen] = 0x01;
        k.mv_data = key;
        k.mv_size = nlen + 1;
    }
    mdb_cursor_close(c);
    if (!rc && mrc && mrc != MDB_NOTFOUND) rc = stor__err(mrc);
    return rc;
}
