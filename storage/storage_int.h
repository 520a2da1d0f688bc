/* storage/storage_int.h: what the storage .c files share and nobody else sees.
 *
 * stor_env owns the LMDB environment, its five named databases, the rwlock that keeps
 * mdb_env_set_mapsize away from live txns, and the single writer's scratch (codec context,
 * decode and merge arrays, encode buffer). A stor_txn is one LMDB txn plus that lock held
 * shared. When LMDB reports MDB_MAP_FULL inside a write txn, stor__fail() aborts the txn,
 * drops the lock, grows the map under the exclusive lock and marks the stor_txn dead: every
 * later call on it returns AX_EAGAIN and stor_txn_commit/abort only free it.
 */
#ifndef AX_STORAGE_INT_H
#define AX_STORAGE_INT_H

#include "storage/storage.h"
#include "storage/codec/codec.h"

#include <lmdb.h>
#include <pthread.h>

/* Key of the all-series posting list: name "" and value "" joined by the separator, i.e.
 * the single byte 0x00 (LMDB rejects empty keys; no label name is empty). */
#define STOR__ALL_KEY "\0"
#define STOR__ALL_KEY_LEN 1
#define STOR__CHUNK_KEY_LEN 16
/* Chunks are not cut below this many samples to honour STOR_CHUNK_INLINE_BYTES. */
#define STOR__MIN_CUT_SAMPLES 64

/* A stored chunk that stor_samples_write is about to replace (data borrowed from the map). */
typedef struct stor__old {
    int64_t start;
    const uint8_t *data;
    size_t len, n;
} stor__old;

/* Scratch of the one write txn at a time (LMDB serialises writers, so one set is enough);
 * kept across calls so a flush of many series does not malloc per series. */
typedef struct stor__scratch {
    codec_ctx *codec;
    stor__old *old;      /* chunks being replaced, time order */
    size_t old_cap;
    int64_t *old_ts;     /* their samples, decoded back to back */
    double *old_v;
    size_t old_vcap;
    int64_t *ts;         /* merged run */
    double *v;
    size_t cap;
    ax_buf enc;          /* one encoded chunk */
} stor__scratch;

struct stor_env {
    MDB_env *env;
    MDB_dbi series, postings, chunks, meta, rollups;
    char *path;
    pthread_rwlock_t lock;   /* txns hold it shared; mdb_env_set_mapsize holds it exclusive */
    pthread_mutex_t grow_mu; /* guards map_size and grow_pending */
    size_t map_size;
    bool grow_pending;       /* a growth could not take the lock in time: retry at next begin */
    int max_key;             /* mdb_env_get_maxkeysize */
    size_t page_size;        /* LMDB page size (sealed chunks are cut to fill pages) */
    stor__scratch w;
};

struct stor_txn {
    stor_env *s;
    MDB_txn *txn;            /* NULL once dead */
    int kind;
    int dead_rc;             /* status returned by every call after the txn died */
    size_t began_map_size;   /* map size when it began: grow only once per MAP_FULL */
};

/* Map an LMDB status to AX_*. Never call with MDB_MAP_FULL inside a txn: use stor__fail. */
int stor__err(int mdb_rc);
/* Turn an LMDB failure inside txn t into a status; on MDB_MAP_FULL abort t, grow the map and
 * return AX_EAGAIN. Afterwards t only answers dead_rc. */
int stor__fail(stor_txn *t, int mdb_rc);
/* 0 if t can be used, else its dead status. */
static inline int stor__live(const stor_txn *t) { return t->txn ? 0 : t->dead_rc; }

/* Posting key of name=value into key (cap bytes, >= s->max_key). OUT: *len_out.
 * A key that would reach max_key bytes is cut to max_key - 9 bytes, then 0xff and the
 * 8-byte BE hash of the whole value follow: exactly max_key bytes. */
int stor__posting_key(const stor_env *s, const char *name, size_t name_len, const char *value,
                      size_t value_len, uint8_t *key, size_t cap, size_t *len_out);

static inline void stor__chunk_key(uint8_t *k, uint64_t sid, int64_t start) {
    ax_put_u64be(k, sid);
    ax_put_u64be(k + 8, (uint64_t)start ^ 0x8000000000000000ull);
}
static inline int64_t stor__chunk_key_ts(const uint8_t *k) {
    return (int64_t)(ax_get_u64be(k + 8) ^ 0x8000000000000000ull);
}

/* Delete every block of sid in dbi (chunks or rollups: keys (sid, start)). OUT: *n_out
 * blocks deleted. */
int stor__blocks_delete_all(stor_txn *t, MDB_dbi dbi, uint64_t sid, size_t *n_out);
/* Delete the block of sid starting at start in dbi. Returns 0, AX_ENOTFOUND, AX_EINVAL (not
 * a write txn), AX_EAGAIN, AX_EIO. */
int stor__block_delete(stor_txn *t, MDB_dbi dbi, uint64_t sid, int64_t start);
void stor__scratch_free(stor__scratch *w);


/* Read a block value (a chunk, a rollup block) of sid at key k: fill *view (when not NULL)
 * and *maxt (its newest time). Returns 0 or AX_ECORRUPT (logged). */
typedef int (*stor__peek_fn)(uint64_t sid, const MDB_val *k, const MDB_val *d, void *view, int64_t *maxt);
/* The blocks of sid in dbi (keys (sid, start) as chunks') overlapping [mint, maxt], in time
 * order, as views of view_size bytes into out[0..cap): stor_chunks_range's contract, for any
 * such database (storage/chunks.c). */
int stor__blocks_range(stor_txn *t, MDB_dbi dbi, uint64_t sid, int64_t mint, int64_t maxt,
                       stor__peek_fn peek, void *out, size_t view_size, size_t cap, size_t *n_out);

#endif
