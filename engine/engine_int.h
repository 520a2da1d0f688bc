/* engine/engine_int.h: structures shared by the engine's own files only.
 *
 * Locking, from outermost to innermost (never take an outer lock while holding an inner):
 *   e->flush_mu (one flush at a time) > e->q_mu (write queue, writer wake-ups)
 *   > e->lim.mu (hourly / daily series sets: eng_write creates series under it)
 *   > shard->mu (registry hash shard) > stripe mutex (head samples of a series)
 *   > e->dirty_mu (list of series with unflushed samples).
 * The sid -> series table is append-only and read without locks (atomic loads).
 */
#ifndef AX_ENGINE_INT_H
#define AX_ENGINE_INT_H

#include "engine/engine.h"
#include "storage/storage.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct eng_series eng_series;
struct eng_series {
    uint64_t sid;
    uint64_t hash;            /* ax_hash of the canonical label bytes */
    uint8_t *labels;          /* canonical label bytes, owned */
    uint32_t labels_len;
    atomic_bool wal_logged;   /* its 'S' record is in a durable WAL segment */
    bool persisted;           /* in LMDB's series db (written under e->flush_mu only) */
    /* Deletion (engine/retention.c): set under the stripe lock with an empty head and
     * inflight == 0, cleared by the first batch that puts samples in the head again.
     * Deleted series stay in the registry (the sid table is read without locks) but are
     * skipped by eng_select and by the flush. */
    atomic_bool deleted;
    /* eng_write batches holding this series between framing their WAL record and putting
     * it in the head. A series is deleted only at 0, and deletion clears wal_logged before
     * reading it (eng_write increments it before reading wal_logged, both seq_cst): so a
     * batch framed without an 'S' entry never lands on a series whose record is gone. */
    atomic_uint inflight;
    bool dirty;               /* on e->dirty list (under dirty_mu) */
    /* head, under stripe mutex eng__stripe(e, sid) */
    eng_sample *buf;          /* samples not yet handed to a flush, sorted by ts */
    uint32_t n, cap;
    eng_sample *fl;           /* samples being flushed: immutable, readable */
    uint32_t fl_n;
    eng_series *dirty_next;
};

/* ---- registry (registry.c) ---- */
#define ENG_SHARDS 64
#define ENG_STRIPES 256
#define ENG_SID_PAGE_BITS 16
#define ENG_SID_PAGES 65536

typedef struct eng_shard {
    pthread_mutex_t mu;
    eng_series **slots;       /* open addressing, power-of-two size */
    size_t cap, n;
} eng_shard;

typedef struct eng_registry {
    eng_shard shards[ENG_SHARDS];
    _Atomic(eng_series **) pages[ENG_SID_PAGES]; /* sid -> series, 2-level */
    pthread_mutex_t page_mu;
    atomic_uint_fast64_t next_sid;
    atomic_uint_fast64_t count;
} eng_registry;

int eng__registry_init(eng_registry *r);
void eng__registry_fini(eng_registry *r);
/* Find the series with these canonical bytes (hash h) or NULL. */
eng_series *eng__registry_find(eng_registry *r, const uint8_t *lb, size_t len, uint64_t h);
/* Find or create. sid 0 = assign the next id; else use sid (recovery). OUT: *created.
 * Returns NULL on OOM or when max_series would be exceeded (*limited set). */
eng_series *eng__registry_get_or_add(eng_registry *r, const uint8_t *lb, size_t len, uint64_t h,
                                     uint64_t sid, size_t max_series, bool *created,
                                     bool *limited);
eng_series *eng__registry_by_sid(eng_registry *r, uint64_t sid);
uint64_t eng__registry_max_sid(eng_registry *r); /* largest assigned sid, 0 if none */

/* ---- WAL (wal.c) ---- */
typedef struct eng_wal {
    char *dir;                /* <path>/wal */
    int fd;                   /* current segment, opened O_APPEND */
    uint64_t seg;             /* current segment number */
    uint64_t seg_bytes;       /* bytes written to the current segment */
    atomic_uint_fast64_t total_bytes; /* all live segments */
    bool nosync;
    bool broken;              /* a failed write could not be undone: refuse writes */
} eng_wal;

/* Record framing: u32le payload length | u32le crc32c(payload) | payload.
 * Payload entries: 'S' uvarint sid, uvarint len, label bytes
 *                  'D' uvarint sid, uvarint n, n x (zigzag varint ts delta, u64le value bits) */
#define ENG_WAL_SERIES 'S'
#define ENG_WAL_DATA 'D'
#define ENG_WAL_MAX_RECORD (512u << 20)

uint32_t eng__crc32c(uint32_t crc, const void *p, size_t len);
int eng__wal_open(eng_wal *w, const char *path, bool nosync, uint64_t first_seg, ax_err *e);
void eng__wal_close(eng_wal *w);
/* Append the records in buf (already framed) and fdatasync. On failure the segment is
 * truncated back; if that fails too, the WAL is marked broken. */
int eng__wal_append_sync(eng_wal *w, const uint8_t *buf, size_t len);
/* Close the current segment and start seg+1. OUT: *old_seg = the segment just closed. */
int eng__wal_rotate(eng_wal *w, uint64_t *old_seg);
/* Delete segments numbered <= upto. */
void eng__wal_remove_upto(eng_wal *w, uint64_t upto);
/* List segment numbers in dir, sorted. Caller frees *out. */
int eng__wal_list(const char *dir, uint64_t **out, size_t *n_out);
typedef int (*eng_wal_entry_cb)(void *ctx, const uint8_t *payload, size_t len);
/* Read segment `seg`, calling cb per record payload. A torn or corrupt tail ends the
 * segment (logged, truncated away). */
int eng__wal_replay_segment(const char *dir, uint64_t seg, eng_wal_entry_cb cb, void *ctx);

/* ---- cardinality limits (limits.c; docs/limits.md) ---- */
/* The series admitted in one hour or day: bit `sid` set = series sid received samples in
 * window `idx` (now_ms / window length, UTC-aligned). Exact, 1 bit per series id ever
 * assigned; cleared when the window rolls over. */
typedef struct eng_window {
    int64_t idx;              /* -1: no window yet */
    uint64_t *bits;
    size_t words;
    uint64_t n;               /* bits set */
} eng_window;

typedef struct eng_limits {
    pthread_mutex_t mu;       /* hour and day (both checked and set under it, per batch) */
    eng_window hour, day;
    atomic_uint_fast64_t rows[ENG_DROP_N], series[ENG_DROP_N];
    _Atomic int64_t last_log_ms[ENG_DROP_N];       /* wall clock of the last log line */
    atomic_uint_fast64_t unlogged[ENG_DROP_N];     /* series dropped since that line */
} eng_limits;

void eng__limits_init(eng_limits *l);
void eng__limits_fini(eng_limits *l); /* frees the sets; accepts a zeroed struct */
/* The label limits of o (max_labels_per_series, max_label_*_len) on a normalised label
 * set: the ENG_DROP_* reason it breaks first, or -1 (none, or no label limits set). */
int eng__limits_labels(const eng_opts *o, const ax_label *ls, size_t n);
/* Hourly / daily sets: on iff o.max_hourly_series or o.max_daily_series. Take e->lim.mu
 * and roll both windows to now_ms (a new hour / day starts empty). */
void eng__limits_lock(eng *e, int64_t now_ms);
void eng__limits_unlock(eng *e);
/* Under eng__limits_lock. Would series sid (0: a series not created yet) fit in this hour
 * and day? OUT: *why = -1 (yes; for sid != 0 it is now in both sets) or ENG_DROP_HOURLY /
 * ENG_DROP_DAILY (no; nothing changed). Returns 0 or AX_ENOMEM (set could not grow). */
int eng__limits_admit(eng *e, uint64_t sid, int *why);
/* After a successful eng_write: add its drops (samples rows[r], series series[r], first[r]
 * the index in ts of an example, SIZE_MAX: none) to the counters, and log each reason at
 * most once a minute, naming the limit and an example series. */
void eng__limits_note(eng *e, const uint64_t *rows, const uint64_t *series, const size_t *first,
                      const eng_ts *ts);
/* Fill the limit fields of s. */
void eng__limits_stats(eng *e, eng_stats *s);

/* ---- the engine ---- */
typedef struct eng_batch eng_batch;
struct eng_batch {
    ax_buf rec;               /* framed WAL record */
    eng_series **series;      /* per input series */
    eng_ts *ts;               /* input (samples) */
    size_t n;
    size_t n_samples;
    int status;
    bool done;
    eng_batch *next;
};

struct eng {
    eng_opts o;
    int lock_fd; /* flock on <path>/lock: one process per data folder (ingest.c), -1: none */
    _Atomic int64_t oldest_write; /* oldest sample timestamp written since eng_take_oldest_write */
    stor_env *stor;
    eng_registry reg;
    eng_wal wal;
    pthread_mutex_t stripes[ENG_STRIPES];

    pthread_mutex_t q_mu;
    pthread_cond_t q_cond;      /* writer waits for batches / rotation requests */
    pthread_cond_t done_cond;   /* writers of batches wait for completion */
    eng_batch *q_head, *q_tail;
    bool rotate_req;
    bool rotated;
    uint64_t rotated_seg;
    pthread_cond_t rotate_cond;
    size_t applying;            /* durable batches whose writers have not yet put them in
                                 * the head; the writer rotates the WAL only at 0 */
    pthread_cond_t applied_cond;
    bool stopping;
    bool closed_writes;

    pthread_mutex_t dirty_mu;
    eng_series *dirty;

    pthread_mutex_t flush_mu;   /* one flush at a time; also held by each retention or
                                 * deletion txn (engine/retention.c) */
    atomic_uint flush_waiting;  /* flushes blocked on flush_mu: retention lets them first */
    pthread_mutex_t fl_mu;      /* flusher wake-ups */
    pthread_cond_t fl_cond;
    bool flush_req;
    uint64_t flush_req_gen, flush_done_gen;
    pthread_cond_t flush_done_cond;
    int last_flush_rc;
    bool flush_failing;         /* the last flush failed (under flush_mu): log once per run */

    eng_limits lim;             /* cardinality limits (limits.c) */

    pthread_t writer, flusher;
    bool threads_started;

    /* retention (engine/retention.c) */
    pthread_t retainer;
    bool retainer_started;
    pthread_mutex_t ret_mu;     /* retainer wake-ups */
    pthread_cond_t ret_cond;
    atomic_bool ret_stop;       /* closing: passes stop between batches */
    atomic_uint_fast64_t deleted_live; /* series currently marked deleted */
    atomic_uint_fast64_t st_too_old, st_ret_chunks, st_ret_series, st_ret_passes,
        st_series_deleted;
    _Atomic int64_t st_ret_last_ms;
    /* downsampling (engine/downsample.c): its codec scratch, used under flush_mu only */
    struct codec_ctx *ds_codec;
    atomic_uint_fast64_t st_ds_points, st_ds_raw, st_ds_passes;
    _Atomic int64_t st_ds_last_ms;

    atomic_uint_fast64_t head_samples;
    atomic_uint_fast64_t st_ingested, st_dup, st_created, st_commits, st_commit_batches,
        st_flushes, st_flush_errors;
    atomic_uint_fast64_t st_commit_ns, st_flush_ns;
};

static inline pthread_mutex_t *eng__stripe(eng *e, uint64_t sid) {
    return &e->stripes[sid % ENG_STRIPES];
}

/* Insert samples (any order) into s's head under its stripe lock, which the caller holds.
 * OUT: *dups = exact duplicates dropped, *added = samples added. Returns 0 or AX_ENOMEM. */
int eng__head_insert(eng_series *s, const eng_sample *in, size_t n, size_t *added, size_t *dups);
void eng__mark_dirty(eng *e, eng_series *s);

/* Retention clock: o.now_ms or the wall clock. */
int64_t eng__now_ms(eng *e);
/* Start / stop the background retention thread (retention.c). Start is a no-op without
 * retention or with a negative interval. Returns 0 or AX_EIO. */
int eng__retention_start(eng *e);
void eng__retention_stop(eng *e);
/* Free downsampling scratch (downsample.c). */
void eng__downsample_fini(eng *e);
/* Take e->flush_mu, letting a flush that is waiting for it go first (retention.c). */
void eng__lock_after_flushes(eng *e);
/* Tell result caches that answers from t on may have changed (retention.c). */
void eng__note_change(eng *e, int64_t t);

#endif
