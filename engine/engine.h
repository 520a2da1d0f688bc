/* engine/engine.h: series registry, head, durable write path, flush, reads.
 *
 * Owns: the registry (canonical label bytes -> 64-bit series id, in memory for every
 *   series, hashed for lookup), the head (recent samples per series, raw), the WAL
 *   (append-only files under <path>/wal, group-committed with fdatasync), the writer
 *   thread that makes batches durable, and the flusher thread that moves head samples
 *   into LMDB chunks and then drops WAL segments. Protocol: engine/ingest.c, top.
 * Guarantee: eng_write returns 0 only once every sample of the batch is in a WAL segment
 *   that has been fdatasync'd; after kill -9, eng_open replays it. A failed eng_write has
 *   applied nothing (the batch is all or nothing).
 * Threads: eng_write blocks its caller (a worker thread, never the event loop) until the
 *   group commit that carries the batch is durable. Reads (eng_select, eng_series_read)
 *   may run on any thread concurrently with writes.
 * Errors: 0 or negative AX_E*: AX_EINVAL (bad labels: message in e), AX_ELIMIT (series
 *   limit), AX_EAGAIN (overloaded / shutting down), AX_EIO (WAL or LMDB trouble).
 */
#ifndef AX_ENGINE_H
#define AX_ENGINE_H

#include "core/core.h"

typedef struct eng eng;

typedef struct eng_opts {
    const char *path;          /* data folder (LMDB env + wal/) */
    size_t head_max_samples;   /* flush when the head holds this many samples (0: 4M) */
    int64_t flush_interval_ms; /* flush at least this often when the head is not empty (0: 60s) */
    size_t chunk_max_samples;  /* samples per stored chunk at most (0: codec default) */
    uint64_t wal_max_bytes;    /* flush when WAL segments exceed this (0: 256 MB) */
    size_t max_series;         /* 0: unlimited */
    /* Cardinality limits (docs/limits.md; engine/limits.c), VictoriaMetrics' flags of the
     * same meaning. A series over one of them is dropped from the batch (its samples are
     * not stored, counted in eng_stats.rows_dropped), the rest of the batch is stored:
     * these are not errors. 0: no limit. max_hourly_series / max_daily_series: distinct
     * series that may receive samples within the current UTC hour / day (series already
     * admitted this hour / day keep ingesting). max_labels_per_series, max_label_name_len,
     * max_label_value_len: of the normalised label set (empty values removed); the hard
     * caps of core.h (AX_MAX_LABELS, AX_MAX_LABEL_NAME / _VALUE) stay errors (AX_EINVAL). */
    size_t max_hourly_series;
    size_t max_daily_series;
    size_t max_labels_per_series;
    size_t max_label_name_len;
    size_t max_label_value_len;
    bool nosync;               /* tests only: skip fsync (durability off) */
    /* Retention (docs/retention.md): chunks ending before now - retention_ms are deleted by
     * a background pass every retention_interval_ms, and samples older than that are
     * dropped at ingest. retention_ms 0: keep everything. Interval 0: retention / 20,
     * within [1 min, 1 h]; < 0: no background pass (tests call eng_retention_run). */
    int64_t retention_ms;
    int64_t retention_interval_ms;
    int64_t (*now_ms)(void);   /* tests only: the clock for retention and the hourly / daily
                                * limits (NULL: wall clock) */
    /* Downsampling (docs/downsampling.md): past each age, raw samples are replaced by one
     * rollup point per step (ENG_MAX_DOWNSAMPLE levels, ages increasing, each step a
     * multiple of the previous one). Run by the retention thread after each retention
     * pass. n_downsample 0: off. */
    struct {
        int64_t age_ms, step_ms;
    } downsample[4];
    size_t n_downsample;
} eng_opts;
#define ENG_MAX_DOWNSAMPLE 4

/* Open the data folder: load series, replay the WAL into the head, start the writer and
 * flusher threads. OUT: *out. Returns 0 or AX_EIO/AX_ECORRUPT (message in e). */
int eng_open(const eng_opts *o, eng **out, ax_err *e);
/* Stop accepting writes, flush the head to LMDB, stop threads, close. Accepts NULL. */
void eng_close(eng *e);

/* ---- write ---- */
typedef struct eng_sample {
    int64_t ts; /* ms */
    double v;
} eng_sample;

/* One incoming series: labels as spans (not yet normalised; eng_write sorts them in place
 * and validates), with its samples in any order. */
typedef struct eng_ts {
    ax_label *labels;
    size_t n_labels;
    eng_sample *samples;
    size_t n_samples;
} eng_ts;

/* Validate and make durable n series' samples, all or nothing. Normalises labels in place
 * (see ax_labels_normalize). With retention on, samples older than now - retention are
 * dropped first (in place: samples[] is compacted and n_samples shrinks; counted in
 * eng_stats.samples_too_old; a series left with none is skipped whole). A series over a
 * cardinality limit (eng_opts.max_hourly_series...) is dropped whole: its n_samples is set
 * to 0 (so callers forwarding ts[] skip it), counted in eng_stats.rows_dropped; the rest
 * is stored and 0 returned. Blocks until durable. Returns 0, AX_EINVAL (e says which
 * series and why; nothing applied), AX_ELIMIT (max_series), AX_EAGAIN, AX_EIO. */
int eng_write(eng *e, eng_ts *ts, size_t n, ax_err *err);

/* Make everything in the head durable in LMDB now (tests, shutdown, snapshots). */
int eng_flush(eng *e);

/* Write a consistent copy of the store to folder `dir` (created if missing; must not hold a
 * data.mdb), openable with eng_open as a data folder of its own: flush the head (so every
 * sample acknowledged before the call is in LMDB), then copy the LMDB environment in one
 * read txn. Writes and reads go on meanwhile; the copy may also hold samples acknowledged
 * during the call. Code: engine/snapshot.c. Returns 0, AX_EIO, AX_EFULL, AX_EAGAIN (flush
 * failed; message in err). */
int eng_snapshot(eng *e, const char *dir, ax_err *err);

/* ---- read ---- */
enum { ENG_MATCH_EQ, ENG_MATCH_NEQ, ENG_MATCH_RE, ENG_MATCH_NRE };
typedef struct eng_matcher {
    int op;
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    void *re; /* compiled regex for RE/NRE (from eng_matcher_compile), else NULL */
} eng_matcher;

/* Compile m->value as a fully anchored regex for RE/NRE matchers (no-op for others).
 * Returns 0 or AX_EINVAL (message in err). Free with eng_matcher_free. */
int eng_matcher_compile(eng_matcher *m, ax_err *err);
void eng_matcher_free(eng_matcher *m);
/* Does value v match? (For a missing label, pass "" as Prometheus does.) */
bool eng_matcher_match(const eng_matcher *m, const char *v, size_t len);

/* A selection: the series matching all matchers (at least one must not match ""),
 * as a snapshot of ids and label bytes owned by the selection. */
typedef struct eng_sel eng_sel;
/* OUT: *out. Returns 0, AX_ELIMIT (more than max_series series; 0 = no limit), AX_EIO. */
int eng_select(eng *e, const eng_matcher *m, size_t n, size_t max_series, eng_sel **out);
size_t eng_sel_count(const eng_sel *s);
uint64_t eng_sel_sid(const eng_sel *s, size_t i);
const uint8_t *eng_sel_labels(const eng_sel *s, size_t i, size_t *len_out);
void eng_sel_free(eng_sel *s);

/* Samples of one series in [mint, maxt], sorted by time, duplicates removed, merged from
 * LMDB chunks and the head. Arrays are malloc'd and grow up to max_samples (0 = no cap).
 * Returns 0, AX_ELIMIT (more than max_samples), AX_ECORRUPT, AX_EIO. */
typedef struct eng_samples {
    int64_t *ts;
    double *v;
    size_t n, cap;
} eng_samples;
int eng_series_read(eng *e, uint64_t sid, int64_t mint, int64_t maxt, size_t max_samples,
                    eng_samples *out);
void eng_samples_free(eng_samples *s);

/* ---- downsampled data (engine/downsample.c, docs/downsampling.md) ----
 * A rollup point stands for the raw samples of one series in one step-aligned interval
 * (a, a + step] that were replaced by downsampling: every field below is computed from
 * exactly those samples, so functions over whole intervals give what the raw samples
 * gave. Rolling up rollups (a later level) merges them: first of the first, last of the
 * last, min of the mins, sums of sum/sum_sq/count/resets/changes, cum_* carried over.
 * cum is the series as a counter with resets undone (Prometheus' counter correction: at
 * each decrease the previous value is added), running from the series' first sample:
 * rate/increase over rollups take differences of cum. Stale markers are not rolled up
 * (they are dropped from the raw samples first); an interval of only stale markers makes
 * no point. Points are sorted by t; a series' rollups all lie before its first remaining
 * raw sample (downsampling replaces raw data from the oldest end). */
typedef struct eng_rollups {
    size_t n, cap;
    int64_t *t;          /* time of the interval's last raw sample (ms) */
    int64_t *first_t;    /* time of its first raw sample */
    int64_t *step;       /* the interval's length (ms): which level made it */
    double *first, *last;          /* raw values of its first and last sample */
    double *min, *max, *sum, *sum_sq;
    double *cum_first, *cum_last;  /* cum at its first and last sample */
    uint32_t *count;     /* raw samples it stands for (>= 1) */
    uint32_t *resets;    /* decreases between consecutive samples (counter resets) */
    uint32_t *changes;   /* value changes between consecutive samples */
} eng_rollups;

/* The rollup points of series sid with t in [mint, maxt], sorted by t, appended to out
 * (arrays malloc'd, grown as needed; out->n = 0 first to reuse). Returns 0, AX_ECORRUPT,
 * AX_EIO, AX_ENOMEM. A series without downsampled data gives n = 0. */
int eng_series_read_rollups(eng *e, uint64_t sid, int64_t mint, int64_t maxt, eng_rollups *out);
void eng_rollups_free(eng_rollups *r); /* accepts NULL and a zeroed struct */

/* As eng_series_read, with the downsampled part of [mint, maxt] first: each rollup point
 * as one sample (its time t and last value), as VictoriaMetrics' downsampling keeps the
 * last sample per interval. For readers that want samples, not aggregates: export,
 * remote read, "does the series have data in this range". max_samples counts both. */
int eng_series_read_all(eng *e, uint64_t sid, int64_t mint, int64_t maxt, size_t max_samples,
                        eng_samples *out);

typedef struct eng_downsample_stats {
    uint64_t raw_samples;    /* raw samples replaced by rollups */
    uint64_t points_written; /* rollup points written (all levels) */
    uint64_t series;         /* series touched */
    uint64_t dropped;        /* raw samples deleted without a point: stale markers, and
                              * samples older than the series' newest rollup point */
} eng_downsample_stats;
/* One downsampling pass as of now_ms: for each level (age, step), every series' stored data
 * (raw chunks for level 0, the previous level's rollups for the next) whose intervals end
 * at or before now_ms - age is rolled up at that step and the source deleted, in bounded
 * LMDB txns (as retention). Only data already in LMDB chunks is rolled up (not the head).
 * OUT: *out (may be NULL). Returns 0 (also when downsampling is off), AX_EAGAIN (closing),
 * AX_EIO, AX_ENOMEM. */
int eng_downsample_run(eng *e, int64_t now_ms, eng_downsample_stats *out);

/* ---- deletion (engine/retention.c, docs/retention.md) ---- */
typedef struct eng_retention_stats {
    uint64_t chunks_deleted;
    uint64_t rollup_points_deleted; /* downsampled points older than the cutoff */
    uint64_t series_deleted;   /* series left with no data, removed from LMDB and selections */
} eng_retention_stats;
/* One retention pass as of now_ms: delete every stored chunk whose newest sample is older
 * than now_ms - retention_ms (a chunk straddling that cutoff is kept whole), in LMDB txns of
 * at most 1000 chunks / 4 MB so that flushes run in between, then delete the series left
 * with no chunk and nothing in the head. The background pass calls it with the wall clock.
 * OUT: *out (may be NULL; filled also on failure with what was done). Returns 0 (also when
 * retention_ms is 0: nothing to do), AX_EAGAIN (engine closing: pass cut short), AX_EIO,
 * AX_ENOMEM. */
int eng_retention_run(eng *e, int64_t now_ms, eng_retention_stats *out);

/* Delete series whole: flush, then remove their chunks, series records, postings and head
 * samples, and hide them from eng_select (a later sample for one brings it back, as a new
 * series with the same id). Unknown or already deleted sids are skipped. OUT: *n_deleted
 * (may be NULL). Returns 0, AX_EIO, AX_ENOMEM, AX_EAGAIN. */
int eng_series_delete(eng *e, const uint64_t *sids, size_t n, size_t *n_deleted);

/* The oldest sample timestamp made visible by eng_write since the previous call (INT64_MAX:
 * none), for caches of query results: answers for times at or after it may have changed.
 * One consumer. */
int64_t eng_take_oldest_write(eng *e);

/* ---- stats for /metrics ---- */
/* why eng_write dropped a series (eng_stats.rows_dropped; docs/limits.md) */
enum {
    ENG_DROP_HOURLY,          /* max_hourly_series */
    ENG_DROP_DAILY,           /* max_daily_series */
    ENG_DROP_TOO_MANY_LABELS, /* max_labels_per_series */
    ENG_DROP_LABEL_NAME,      /* max_label_name_len */
    ENG_DROP_LABEL_VALUE,     /* max_label_value_len */
    ENG_DROP_N
};
typedef struct eng_stats {
    uint64_t samples_ingested;      /* acknowledged samples */
    uint64_t samples_duplicate;     /* dropped as exact duplicates */
    uint64_t series_total;          /* known series */
    uint64_t series_created;
    uint64_t head_samples;          /* samples waiting in the head */
    uint64_t wal_bytes;             /* bytes in live WAL segments */
    uint64_t commits;               /* WAL group commits */
    uint64_t commit_batches;        /* batches carried by them */
    double commit_seconds_sum;      /* time spent in write+fdatasync */
    uint64_t flushes;
    double flush_seconds_sum;
    uint64_t flush_errors;
    uint64_t disk_bytes;            /* LMDB file + WAL */
    uint64_t lmdb_bytes;
    uint64_t samples_too_old;       /* dropped at ingest: older than now - retention */
    uint64_t retention_chunks_deleted;
    uint64_t retention_series_deleted;
    uint64_t retention_passes;      /* completed passes */
    int64_t retention_last_pass_ms; /* wall clock at the end of the last pass (0: none) */
    uint64_t series_deleted;        /* by eng_series_delete */
    uint64_t downsample_points;     /* rollup points written (all levels) */
    uint64_t downsample_raw_samples; /* raw samples replaced by rollup points */
    uint64_t downsample_passes;     /* completed downsampling passes */
    int64_t downsample_last_pass_ms; /* wall clock at the end of the last pass (0: none) */
    uint64_t rollup_blocks;         /* blocks in LMDB's rollups db */
    uint64_t rows_dropped[ENG_DROP_N];   /* samples of series dropped by a limit, by reason */
    uint64_t series_dropped[ENG_DROP_N]; /* those series (once per batch), by reason */
    uint64_t hourly_series, daily_series; /* series admitted in the current hour / day */
    uint64_t hourly_series_max, daily_series_max; /* the limits (0: none) */
} eng_stats;
void eng_stats_get(eng *e, eng_stats *out);

#endif
