/* storage/storage.h: LMDB environment, key layout, series, inverted index, chunk store.
 *
 * Keys and value formats: docs/storage.md (byte diagrams). One LMDB environment (one
 * file, data.mdb) under the data path, with named databases:
 *   series:   sid (u64 BE)                 -> canonical label bytes (core/labels.c)
 *   postings: "name\0value" (dupsort)      -> sids (u64 BE, DUPFIXED), sorted; the
 *             all-series list ""="" has the one-byte key 0x00; a pair longer than LMDB's key
 *             limit (511 bytes) is keyed by a cut prefix, 0xff and a hash of the value
 *   chunks:   sid (u64 BE) | start ts      -> chunk bytes (storage/codec)
 *   meta:     short ASCII name             -> u64 LE (e.g. "next_sid", "wal_flushed")
 *   rollups:  sid (u64 BE) | start t       -> block of rollup points (codec_rollup_*)
 * Invariant: the chunks of one series never overlap in time; stor_samples_write merges.
 * Threads: write txns only on one thread at a time (LMDB has one writer); any thread may
 *   hold one read txn. Readers never block the writer.
 * Lifetime: bytes returned by stor_series_get / stor_chunks_range point into LMDB's map and
 *   stay valid only until their txn ends. Decode or copy them before that.
 * Map growth: when a write txn hits MDB_MAP_FULL the txn fails with AX_EAGAIN after the
 *   map has been grown (to twice its size, at least +1 GiB); the caller aborts and retries the
 *   whole txn. After AX_EAGAIN every call on that txn returns AX_EAGAIN; stor_txn_commit /
 *   stor_txn_abort still free it. The map never shrinks. Growing waits (up to 10 s, then it
 *   is postponed to the next write txn) until no txn of this process is open, so a thread
 *   should not keep a read txn open while it drives a write txn.
 * Errors: 0 or a negative AX_E* code; AX_ECORRUPT names the key in the log.
 *   A write call that fails may have done part of its work: abort the txn on any error.
 */
#ifndef AX_STORAGE_H
#define AX_STORAGE_H

#include "core/core.h"

typedef struct stor_env stor_env;
typedef struct stor_txn stor_txn;

typedef struct stor_opts {
    const char *path;          /* folder; created if missing */
    uint64_t map_size;         /* initial map size in bytes (0: 1 GiB) */
    bool nosync;               /* tests only: skip fsync on commit */
} stor_opts;

/* Open (creating if needed) the environment. OUT: *out. Returns 0, AX_EIO (message in e). */
int stor_env_open(const stor_opts *o, stor_env **out, ax_err *e);
void stor_env_close(stor_env *s); /* accepts NULL; no txn may be open */

typedef struct stor_stats {
    uint64_t file_bytes;   /* size of data.mdb on disk (allocated blocks) */
    uint64_t used_bytes;   /* (pages ever used - pages on LMDB's free list) * page size */
    uint64_t map_bytes;    /* current map size */
    uint64_t series;       /* entries in series db */
    uint64_t chunks;       /* entries in chunks db */
    uint64_t rollup_blocks; /* entries in rollups db */
} stor_stats;
/* Fill *out (opens a short read txn). Returns 0, AX_EIO, AX_ENOMEM. */
int stor_env_stats(stor_env *s, stor_stats *out);

/* Give the pages of the map that this process has touched back to the page cache
 * (madvise MADV_DONTNEED on the shared file mapping): they stop counting in our RSS and
 * fault back in when read. Safe while read txns run. Accepts NULL. */
void stor_env_drop_cache(stor_env *s);

/* Write a compacted copy of the environment, as of one read txn, to <dir>/data.mdb (dir is
 * created if missing and must not hold a data.mdb yet), then fsync the file and dir. Writers
 * go on meanwhile (mdb_env_copy2 with MDB_CP_COMPACT reads in a read txn); a map growth
 * waits for the copy (see Map growth). The copy opens with stor_env_open like any data
 * folder. Returns 0, AX_EINVAL, AX_EFULL (disk full), AX_EIO (message in e). */
int stor_env_copy(stor_env *s, const char *dir, ax_err *e);

enum { STOR_TXN_READ = 0, STOR_TXN_WRITE = 1 };
/* Begin a txn. OUT: *out. Returns 0, AX_EIO, AX_EAGAIN (map grown: retry). */
int stor_txn_begin(stor_env *s, int kind, stor_txn **out);
/* Commit (and fsync unless nosync) and end the txn, successful or not. Returns 0, AX_EIO,
 * AX_EFULL (disk full), AX_EAGAIN (map was full and has been grown: redo the txn). */
int stor_txn_commit(stor_txn *t);
void stor_txn_abort(stor_txn *t); /* accepts NULL */

/* ---- meta ---- */
int stor_meta_put(stor_txn *t, const char *key, uint64_t v);
int stor_meta_get(stor_txn *t, const char *key, uint64_t *out); /* AX_ENOTFOUND */

/* ---- series and postings ---- */
/* Store sid -> canonical labels and add sid to the postings of every label pair and of
 * the all-series posting (""=""). Idempotent. */
int stor_series_put(stor_txn *t, uint64_t sid, const uint8_t *labels, size_t len);
/* OUT: borrowed label bytes (see Lifetime). AX_ENOTFOUND. */
int stor_series_get(stor_txn *t, uint64_t sid, const uint8_t **labels_out, size_t *len_out);
/* Call cb for every series in sid order; a non-zero return from cb stops and is returned. */
typedef int (*stor_series_cb)(void *ctx, uint64_t sid, const uint8_t *labels, size_t len);
int stor_series_foreach(stor_txn *t, stor_series_cb cb, void *ctx);
/* Remove a series: its labels, postings, chunks and rollup blocks. Returns 0, AX_ENOTFOUND
 * (neither labels nor chunks nor rollups of sid), AX_EAGAIN, AX_EIO. */
int stor_series_delete(stor_txn *t, uint64_t sid);

/* A growable sorted list of series ids. */
typedef struct stor_sids {
    uint64_t *v;
    size_t n, cap;
} stor_sids;
void stor_sids_free(stor_sids *s);
int stor_sids_push(stor_sids *s, uint64_t sid);
/* Append the sorted postings of name=value to out (which must be empty or sorted below
 * them; use a fresh list). name "" value "" is every series. Missing pair: 0, nothing
 * appended. */
int stor_postings_get(stor_txn *t, const char *name, size_t name_len, const char *value,
                      size_t value_len, stor_sids *out);
/* Call cb for each distinct value of label `name` (sorted bytewise; values longer than a key
 * sort by their first ~490 bytes, then arbitrarily), or with name NULL for each distinct
 * label name (sorted). Strings are borrowed (see Lifetime). A non-zero return from cb stops
 * and is returned. */
typedef int (*stor_value_cb)(void *ctx, const char *s, size_t len);
int stor_label_values_foreach(stor_txn *t, const char *name, size_t name_len, stor_value_cb cb,
                              void *ctx);
int stor_label_names_foreach(stor_txn *t, stor_value_cb cb, void *ctx);

/* ---- chunks ---- */
typedef struct stor_chunk_view {
    int64_t mint, maxt;
    size_t n;              /* samples */
    const uint8_t *data;   /* borrowed, see Lifetime */
    size_t len;
} stor_chunk_view;

/* Append views of the chunks of sid overlapping [mint, maxt], in time order, to out[0..cap).
 * OUT: *n_out. Returns 0, AX_ETOOBIG (more than cap: out[0..cap) and *n_out = cap are filled;
 * call again with mint past the last view's maxt), AX_ECORRUPT (a chunk header does not
 * read; logged with sid and start), AX_EIO. A chunk may hold samples outside [mint, maxt]. */
int stor_chunks_range(stor_txn *t, uint64_t sid, int64_t mint, int64_t maxt,
                      stor_chunk_view *out, size_t cap, size_t *n_out);

/* Write samples of sid (ts strictly increasing, n >= 1), merging with stored chunks that
 * overlap [ts[0], ts[n-1]] (on an equal timestamp the new sample wins). A series' chunks
 * are sealed (filling most of one LMDB overflow page, or holding max_per_chunk samples;
 * never reopened for appends) or small (at most STOR_CHUNK_INLINE_BYTES, inside leaf
 * pages: the series' tail). New samples after the tail become a new small chunk, or extend
 * the last one while it is under 512 bytes; once tail plus new samples fill about a page,
 * the whole tail is rewritten as sealed chunks. Details: storage/chunks.c, top. Output
 * chunks hold at most max_per_chunk samples (capped at CODEC_MAX_SAMPLES), never fewer
 * than 64 when cut for size. Keeps the invariant that a series' chunks never overlap. A
 * stored chunk in the way that does not decode is dropped (logged with sid and start) so
 * that writes go on. Scratch lives in the env: no malloc per call once warm.
 * Returns 0, AX_EINVAL (n == 0, max_per_chunk == 0, ts not increasing, read txn),
 * AX_EAGAIN (map grown: redo the txn), AX_ENOMEM, AX_EIO. */
/* What one stor_chunks_expire call did. */
typedef struct stor_expire_out {
    size_t chunks;        /* chunks deleted */
    uint64_t bytes;       /* their value bytes */
    int64_t min_mint;     /* smallest start among them (INT64_MAX: none) */
    uint64_t next_sid;    /* resume the walk here; 0: it reached the end */
} stor_expire_out;
/* Retention: delete the chunks that end before cutoff (maxt < cutoff), walking series in
 * sid order from from_sid, and stop once max_chunks chunks or max_bytes value bytes are
 * deleted (call again from out->next_sid, in a new txn, to go on). A chunk holding samples
 * on both sides of cutoff is kept whole. A series' chunks are disjoint and in time order,
 * so its first chunk with maxt >= cutoff ends its walk: one seek per series plus one per
 * deleted chunk. A chunk whose header does not read is kept (logged). The sid of every
 * series this call left without any chunk is appended to emptied (NULL: not wanted); its
 * series record and postings stay (stor_series_delete removes them). OUT: *out. Returns 0,
 * AX_EINVAL (read txn, max_chunks or max_bytes 0), AX_EAGAIN (map grown: redo the txn), AX_ENOMEM,
 * AX_EIO. */
int stor_chunks_expire(stor_txn *t, int64_t cutoff, uint64_t from_sid, size_t max_chunks,
                       uint64_t max_bytes, stor_sids *emptied, stor_expire_out *out);

/* Delete the chunk of sid starting at start. Returns 0, AX_ENOTFOUND, AX_EAGAIN, AX_EIO. */
int stor_chunk_delete(stor_txn *t, uint64_t sid, int64_t start);

/* ---- rollups: blocks of downsampled points (storage/rollups.c) ----
 * Key (sid, t of the block's first point), value one codec_rollup block (codec.h). Same
 * invariant as chunks: a series' blocks never overlap in time (the engine writes them so);
 * each block holds points of one step. */
typedef struct stor_rollup_view {
    int64_t mint, maxt, step; /* times of its first and last point; their step */
    size_t n;                 /* points */
    const uint8_t *data;      /* borrowed, see Lifetime */
    size_t len;
} stor_rollup_view;
/* As stor_chunks_range, for rollup blocks of sid overlapping [mint, maxt]. */
int stor_rollups_range(stor_txn *t, uint64_t sid, int64_t mint, int64_t maxt,
                       stor_rollup_view *out, size_t cap, size_t *n_out);
/* The last (newest) block of sid. OUT: *out. Returns 0, AX_ENOTFOUND, AX_ECORRUPT, AX_EIO. */
int stor_rollups_last(stor_txn *t, uint64_t sid, stor_rollup_view *out);
/* Store a block (its header gives the key; an existing block at that key is replaced).
 * Returns 0, AX_EINVAL (header does not read, read txn), AX_EAGAIN, AX_EIO. */
int stor_rollup_put(stor_txn *t, uint64_t sid, const uint8_t *block, size_t len);
/* Delete the block of sid starting at start. Returns 0, AX_ENOTFOUND, AX_EAGAIN, AX_EIO. */
int stor_rollup_delete(stor_txn *t, uint64_t sid, int64_t start);
/* Does sid have any chunk or rollup block? OUT: *out. Returns 0, AX_EIO. */
int stor_series_has_data(stor_txn *t, uint64_t sid, bool *out);
/* Retention for rollups, as stor_chunks_expire: walk blocks in sid order from from_sid,
 * delete points with t < cutoff: whole blocks when maxt < cutoff, and a block holding
 * points on both sides is rewritten with only its newer points (a block may span months,
 * so it is not kept whole). Stops after max_blocks blocks deleted or rewritten. emptied
 * (may be NULL) gets the series this call left without any rollup block. out->chunks
 * counts blocks, out->bytes points removed. */
int stor_rollups_expire(stor_txn *t, int64_t cutoff, uint64_t from_sid, size_t max_blocks,
                        stor_sids *emptied, stor_expire_out *out);

#ifndef STOR_CHUNK_INLINE_BYTES
#define STOR_CHUNK_INLINE_BYTES 1900
#endif
int stor_samples_write(stor_txn *t, uint64_t sid, const int64_t *ts, const double *v, size_t n,
                       size_t max_per_chunk);

#endif
