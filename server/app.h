/* server/app.h: the application state that the HTTP routes share (server module only).
 *
 * One srv_app per process, created by main: the engine, the HTTP server, the limits from
 * the command line and the counters that /metrics prints. Route handlers get it as ctx.
 * Counters are atomics: work threads and the loop thread both bump them.
 */
#ifndef SRV_APP_H
#define SRV_APP_H

#include "core/core.h"
#include "engine/engine.h"
#include "query/query.h"
#include "server/http.h"

#include <stdatomic.h>

/* why rows (samples) of a write were refused, for auspex_rows_rejected_total{reason}
 * (samples the engine drops from accepted writes over a cardinality limit are in the same
 * family, from eng_stats.rows_dropped: server/metrics.c, docs/limits.md) */
enum {
    SRV_REJ_DECODE,       /* body is not snappy / protobuf */
    SRV_REJ_LABELS,       /* invalid, duplicate or empty label names */
    SRV_REJ_TOO_BIG,      /* body or decoded size over -maxInsertRequestSize */
    SRV_REJ_LIMIT,        /* series limit */
    SRV_REJ_UNAVAILABLE,  /* overload or storage trouble (503) */
    SRV_REJ_N
};

typedef struct srv_app {
    eng *e;
    srv_http *http;
    uv_loop_t *loop;
    struct srv_meta *meta;     /* # HELP / # TYPE seen in imports and scrapes */
    size_t max_insert_bytes;   /* -maxInsertRequestSize */
    size_t max_export_bytes;   /* cap on one export response */
    /* PromQL queries (server/api_query.c; docs/query-api.md) */
    int64_t query_lookback_ms;     /* -search.lookbackDelta */
    int64_t query_max_duration_ms; /* -search.maxQueryDuration: deadline of one query */
    size_t query_max_samples;      /* -search.maxSamplesPerQuery */
    size_t query_max_points;       /* -search.maxPointsPerTimeseries: (end-start)/step cap */
    size_t query_max_series;       /* -search.maxUniqueTimeseries: series one selector may match */
    size_t query_mem_max;          /* -search.maxMemoryPerQuery: bytes one evaluation may allocate */
    pql_cache *query_cache;        /* kept results (NULL: -search.disableCache) */
    size_t query_max_concurrent;   /* -search.maxConcurrentRequests: evaluations at once */
    int64_t query_max_queue_ms;    /* -search.maxQueueDuration: longest wait for a slot */
    struct srv_query_gate *query_gate; /* api_query.c */
    int64_t start_ms;
    const char *data_path;
    const char *retention;      /* -retentionPeriod as given, for /api/v1/status/runtimeinfo */
    atomic_uint_fast64_t rw_requests;
    atomic_uint_fast64_t rw_requests_failed;
    atomic_uint_fast64_t rejected[SRV_REJ_N];     /* requests refused, by reason */
    atomic_uint_fast64_t rejected_rows[SRV_REJ_N]; /* samples in them, where known */
    struct srv_node_run *node;
    struct srv_scrape *scrape;  /* built-in scraper (server/scrape.h), or NULL */  /* built-in node collector (server/node_collector.h), or NULL */
    struct srv_rules *rules;    /* -rules (server/rules.h), or NULL; immutable */
    struct srv_dlog *dlog;      /* decision log (server/decisions.h), with -rules; else NULL */
    struct srv_outbox *outbox;  /* delivery thread (server/outbox.h), or NULL */
    struct srv_sched *sched;    /* rules scheduler (server/rules_sched.h), or NULL */
    struct srv_fwd *fwd;        /* -remoteWrite.url queues (server/forward.h), or NULL */
    const char *rules_datasource; /* -rules.datasource base URL, or NULL: the local store */
} srv_app;

/* Store n series (eng_write: durable, all or nothing) and queue them for every
 * -remoteWrite.url (durable too) before returning: every writer (routes, scraper, node
 * collector, rules) stores through this. Returns eng_write's status, or AX_EIO when the
 * samples are stored but could not be queued (the writer gets 503 and retries; the store
 * drops the exact duplicates). */
int srv_store(srv_app *app, eng_ts *ts, size_t n, ax_err *e);

/* Register every route on app->http. Returns 0 or AX_ENOMEM. */
int srv_api_register(srv_app *app);
/* The series/labels/label values routes (server/api_series.c); srv_api_register calls it. */
int srv_api_series_register(srv_app *app);
/* /api/v1/query and /api/v1/query_range (server/api_query.c); srv_api_register calls it. */
int srv_api_query_register(srv_app *app);
/* POST /api/v1/read, Prometheus remote read (server/remote_read.c); srv_api_register calls it after srv_api_query_register (it uses the query gate). */
int srv_api_remote_read_register(srv_app *app);

/* The query concurrency gate (-search.maxConcurrentRequests, server/api_query.c): a request
 * whose work evaluates queries runs it through srv_query_gate_run (now, or later in arrival
 * order, or a 503 after -search.maxQueueDuration) and calls srv_query_gate_release from its
 * first `after`. The slot lives in the request's memory. Loop thread only. */
typedef struct srv_gate_slot {
    srv_req *req;
    void (*work)(srv_req *r);
    void (*after)(srv_req *r);
    uint64_t queued_ns;
    bool held;
    struct srv_gate_slot *next;
} srv_gate_slot;
void srv_query_gate_run(srv_app *app, srv_gate_slot *s, srv_req *r, void (*work)(srv_req *r),
                        void (*after)(srv_req *r));
void srv_query_gate_release(srv_app *app, srv_gate_slot *s);
int srv_api_forecast_register(srv_app *app);
/* GET /api/v1/rules (server/api_rules.c); srv_api_register calls it. */
int srv_api_rules_register(srv_app *app);
/* /api/v1/decisions... (server/api_decisions.c); srv_api_register calls it. */
int srv_api_decisions_register(srv_app *app);
/* POST /api/v1/admin/tsdb/delete_series (server/api_admin.c); srv_api_register calls it. */
int srv_api_admin_register(srv_app *app);
/* /snapshot/... and /api/v1/admin/tsdb/snapshot (server/api_snapshot.c); srv_api_register calls it. */
int srv_api_snapshot_register(srv_app *app);

/* Append the /metrics exposition (Prometheus text format 0.0.4) to out: the HTTP part
 * (loop thread only: it reads the server's counters) and the rest (any thread). */
int srv_metrics_http_write(srv_app *app, ax_buf *out);
int srv_metrics_write(srv_app *app, ax_buf *out);

/* Append s[0..len) as a JSON string (with quotes); invalid UTF-8 becomes U+FFFD. */
int srv_json_str(ax_buf *b, const char *s, size_t len);
/* Append canonical label bytes as a JSON object {"name":"value",...}. */
int srv_json_labels(ax_buf *b, const uint8_t *labels, size_t len);
/* Milliseconds as seconds into p (at most 24 bytes): "12.500", as Prometheus'
 * MarshalTimestamp (vector and matrix points), or "12.5" when trim (Go's float64 JSON:
 * scalar and string results). Returns the length. */
size_t srv_json_ts(char *p, int64_t t, bool trim);
/* A sample value as Prometheus' jsonutil.MarshalValue prints it, without quotes: Go's 'f'
 * format, 'e' below 1e-6 or from 1e21 ("NaN", "+Inf"). At most AX_FMT_GO_MAX bytes. */
size_t srv_json_sample(char *p, double v);
/* Append {"metric":{labels} (the object left open for "value"/"values"). */
int srv_json_metric(ax_buf *b, const ax_label *ls, size_t n);

#endif
