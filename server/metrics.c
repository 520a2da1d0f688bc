/* server/metrics.c: GET /metrics, the self-monitoring exposition in Prometheus text
 * format: ingestion, rejections by reason, series, WAL commits, flushes, bytes on disk,
 * HTTP requests per route, and the usual process_* gauges read from /proc/self. */
#include "server/app.h"
#include "server/forward.h"
#include "server/rules_sched.h"
#include "server/node_collector.h"
#include "server/scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *reason_names[SRV_REJ_N] = {"decode", "invalid_labels", "too_big",
                                              "series_limit", "unavailable"};
/* samples the engine dropped from accepted writes (docs/limits.md), same family */
static const char *drop_names[ENG_DROP_N] = {"hourly_limit", "daily_limit", "too_many_labels",
                                             "too_long_label_name", "too_long_label_value"};

static int metric(ax_buf *b, const char *name, const char *type, const char *help) {
    return ax_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int process_metrics(ax_buf *b, srv_app *app) {
    int rc = 0;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char line[1024];
        if (fgets(line, sizeof line, f)) {
            /* fields after the ")" that ends the command name: state is field 3 */
            char *p = strrchr(line, ')');
            unsigned long long ut = 0, st = 0, rss = 0;
            /* fields after the ")" that ends the command name; state is field 3 */
            for (int field = 3; p && *p; field++) {
                while (*p == ' ' || *p == ')') p++;
                if (!*p) break;
                char *end = NULL;
                unsigned long long v = strtoull(p, &end, 10);
                if (field == 14) ut = v;
                else if (field == 15) st = v;
                else if (field == 24) rss = v;
                p = strchr(p, ' ');
            }
            if (!rc) rc = metric(b, "process_cpu_seconds_total", "counter",
                                 "Total user and system CPU time spent in seconds.");
            if (!rc) rc = ax_buf_printf(b, "process_cpu_seconds_total %.2f\n",
                                        (double)(ut + st) / (double)tck);
            if (!rc) rc = metric(b, "process_resident_memory_bytes", "gauge",
                                 "Resident memory size in bytes.");
            if (!rc) rc = ax_buf_printf(b, "process_resident_memory_bytes %llu\n",
                                        rss * (unsigned long long)page);
        }
        fclose(f);
    }
    if (!rc && app->query_cache) {
        uint64_t hits, partial, misses;
        size_t bytes;
        pql_cache_stats(app->query_cache, &hits, &partial, &misses, &bytes);
        rc = metric(b, "auspex_query_cache_requests_total", "counter",
                    "PromQL queries by what the result cache gave: all of it, part, nothing.");
        if (!rc)
            rc = ax_buf_printf(b,
                               "auspex_query_cache_requests_total{result=\"hit\"} %llu\n"
                               "auspex_query_cache_requests_total{result=\"partial\"} %llu\n"
                               "auspex_query_cache_requests_total{result=\"miss\"} %llu\n",
                               (unsigned long long)hits, (unsigned long long)partial,
                               (unsigned long long)misses);
        if (!rc) rc = metric(b, "auspex_query_cache_bytes", "gauge", "Memory held by kept query results.");
        if (!rc) rc = ax_buf_printf(b, "auspex_query_cache_bytes %zu\n", bytes);
    }
    if (!rc) rc = metric(b, "process_start_time_seconds", "gauge",
                         "Start time of the process since unix epoch in seconds.");
    if (!rc) rc = ax_buf_printf(b, "process_start_time_seconds %.3f\n", (double)app->start_ms / 1000.0);
    return rc;
}

int srv_metrics_http_write(srv_app *app, ax_buf *b) {
    int rc = 0;
    size_t nr = srv_http_route_count(app->http);
    if (!rc) rc = metric(b, "auspex_http_requests_total", "counter", "HTTP requests by route.");
    for (size_t i = 0; i < nr && !rc; i++) {
        srv_route_stats rs;
        if (srv_http_route_stats(app->http, i, &rs)) continue;
        rc = ax_buf_printf(b, "auspex_http_requests_total{path=\"%s\"} %llu\n", rs.path,
                           (unsigned long long)rs.requests);
    }
    if (!rc) rc = metric(b, "auspex_http_request_duration_seconds_total", "counter",
                         "Time from a request's first byte to its reply, by route.");
    for (size_t i = 0; i < nr && !rc; i++) {
        srv_route_stats rs;
        if (srv_http_route_stats(app->http, i, &rs)) continue;
        rc = ax_buf_printf(b, "auspex_http_request_duration_seconds_total{path=\"%s\"} %.6f\n",
                           rs.path, rs.duration_sum_s);
    }
    srv_http_stats hs;
    srv_http_stats_get(app->http, &hs);
    if (!rc) rc = metric(b, "auspex_http_open_connections", "gauge", "Open HTTP connections.");
    if (!rc) rc = ax_buf_printf(b, "auspex_http_open_connections %llu\n",
                                (unsigned long long)hs.conns_open);
    if (!rc) rc = metric(b, "auspex_http_responses_total", "counter", "HTTP responses by status class.");
    for (int c = 1; c <= 5 && !rc; c++)
        rc = ax_buf_printf(b, "auspex_http_responses_total{code=\"%dxx\"} %llu\n", c,
                           (unsigned long long)hs.requests_by_class[c]);
    return rc;
}

int srv_metrics_write(srv_app *app, ax_buf *b) {
    eng_stats s;
    eng_stats_get(app->e, &s);
    int rc = 0;
#define COUNTER(name, help, fmt, val) \
    if (!rc) rc = metric(b, name, "counter", help); \
    if (!rc) rc = ax_buf_printf(b, name " " fmt "\n", val)
#define GAUGE(name, help, fmt, val) \
    if (!rc) rc = metric(b, name, "gauge", help); \
    if (!rc) rc = ax_buf_printf(b, name " " fmt "\n", val)
    if (!rc) rc = metric(b, "auspex_build_info", "gauge", "Build information.");
    if (!rc) rc = ax_buf_printf(b, "auspex_build_info{version=\"%s\"} 1\n", AUSPEX_VERSION);
    COUNTER("auspex_samples_ingested_total", "Samples acknowledged to writers (durable).",
            "%llu", (unsigned long long)s.samples_ingested);
    COUNTER("auspex_samples_duplicate_total", "Samples dropped as exact duplicates in the head.",
            "%llu", (unsigned long long)s.samples_duplicate);
    COUNTER("auspex_remote_write_requests_total", "Remote-write requests received.", "%llu",
            (unsigned long long)atomic_load(&app->rw_requests));
    COUNTER("auspex_remote_write_requests_failed_total", "Remote-write requests refused.",
            "%llu", (unsigned long long)atomic_load(&app->rw_requests_failed));
    if (!rc) rc = metric(b, "auspex_rows_rejected_total", "counter",
                         "Samples in refused write requests, by reason (0 where the body "
                         "could not be decoded far enough to count them), and samples of "
                         "series dropped by a cardinality limit from accepted writes.");
    for (int i = 0; i < SRV_REJ_N && !rc; i++)
        rc = ax_buf_printf(b, "auspex_rows_rejected_total{reason=\"%s\"} %llu\n", reason_names[i],
                           (unsigned long long)atomic_load(&app->rejected_rows[i]));
    for (int i = 0; i < ENG_DROP_N && !rc; i++)
        rc = ax_buf_printf(b, "auspex_rows_rejected_total{reason=\"%s\"} %llu\n", drop_names[i],
                           (unsigned long long)s.rows_dropped[i]);
    if (!rc) rc = metric(b, "auspex_requests_rejected_total", "counter",
                         "Write requests refused, by reason.");
    for (int i = 0; i < SRV_REJ_N && !rc; i++)
        rc = ax_buf_printf(b, "auspex_requests_rejected_total{reason=\"%s\"} %llu\n",
                           reason_names[i], (unsigned long long)atomic_load(&app->rejected[i]));
    GAUGE("auspex_series", "Series known to the registry.", "%llu",
          (unsigned long long)s.series_total);
    /* -storage.maxHourlySeries / -storage.maxDailySeries (VictoriaMetrics' vm_*_series_limit_*) */
    GAUGE("auspex_hourly_series_limit_current_series",
          "Series that received samples in the current UTC hour (counted with a limit set).",
          "%llu", (unsigned long long)s.hourly_series);
    GAUGE("auspex_hourly_series_limit_max_series", "-storage.maxHourlySeries (0: no limit).",
          "%llu", (unsigned long long)s.hourly_series_max);
    GAUGE("auspex_daily_series_limit_current_series",
          "Series that received samples in the current UTC day (counted with a limit set).",
          "%llu", (unsigned long long)s.daily_series);
    GAUGE("auspex_daily_series_limit_max_series", "-storage.maxDailySeries (0: no limit).",
          "%llu", (unsigned long long)s.daily_series_max);
    COUNTER("auspex_series_created_total", "Series created since start.", "%llu",
            (unsigned long long)s.series_created);
    GAUGE("auspex_head_samples", "Samples in memory waiting for the next flush.", "%llu",
          (unsigned long long)s.head_samples);
    COUNTER("auspex_wal_commits_total", "WAL group commits (one write and fdatasync each).",
            "%llu", (unsigned long long)s.commits);
    COUNTER("auspex_wal_commit_batches_total", "Write requests carried by WAL group commits.",
            "%llu", (unsigned long long)s.commit_batches);
    COUNTER("auspex_wal_commit_seconds_total", "Time spent writing and syncing the WAL.", "%.6f",
            s.commit_seconds_sum);
    COUNTER("auspex_flushes_total", "Flushes of the head into LMDB.", "%llu",
            (unsigned long long)s.flushes);
    COUNTER("auspex_flush_seconds_total", "Time spent flushing the head into LMDB.", "%.6f",
            s.flush_seconds_sum);
    COUNTER("auspex_flush_errors_total", "Flushes that failed (retried).", "%llu",
            (unsigned long long)s.flush_errors);
    /* retention and deletion (docs/retention.md) */
    COUNTER("auspex_samples_too_old_total",
            "Samples dropped at ingest: older than now - retentionPeriod.", "%llu",
            (unsigned long long)s.samples_too_old);
    COUNTER("auspex_retention_chunks_deleted_total", "Chunks deleted by retention passes.",
            "%llu", (unsigned long long)s.retention_chunks_deleted);
    COUNTER("auspex_retention_series_deleted_total",
            "Series deleted by retention passes (no data left).", "%llu",
            (unsigned long long)s.retention_series_deleted);
    COUNTER("auspex_retention_passes_total", "Completed retention passes.", "%llu",
            (unsigned long long)s.retention_passes);
    GAUGE("auspex_retention_last_pass_timestamp_seconds",
          "When the last retention pass ended (Unix seconds; 0: none yet).", "%.3f",
          (double)s.retention_last_pass_ms / 1000.0);
    COUNTER("auspex_series_deleted_total", "Series deleted by /api/v1/admin/tsdb/delete_series.",
            "%llu", (unsigned long long)s.series_deleted);
    /* downsampling (docs/downsampling.md) */
    COUNTER("auspex_downsampling_points_total", "Rollup points written by downsampling.",
            "%llu", (unsigned long long)s.downsample_points);
    COUNTER("auspex_downsampling_raw_samples_total",
            "Raw samples replaced by rollup points.", "%llu",
            (unsigned long long)s.downsample_raw_samples);
    COUNTER("auspex_downsampling_passes_total", "Completed downsampling passes.", "%llu",
            (unsigned long long)s.downsample_passes);
    GAUGE("auspex_downsampling_last_pass_timestamp_seconds",
          "When the last downsampling pass ended (Unix seconds; 0: none yet).", "%.3f",
          (double)s.downsample_last_pass_ms / 1000.0);
    if (!rc) rc = metric(b, "auspex_disk_bytes", "gauge", "Bytes on disk, by part.");
    if (!rc) rc = ax_buf_printf(b, "auspex_disk_bytes{part=\"lmdb\"} %llu\n",
                                (unsigned long long)s.lmdb_bytes);
    if (!rc) rc = ax_buf_printf(b, "auspex_disk_bytes{part=\"wal\"} %llu\n",
                                (unsigned long long)s.wal_bytes);

    if (!rc) rc = process_metrics(b, app);

    /* built-in node collector (server/node_collector.c) */
    if (!rc) rc = srv_node_metrics_write(b);
    if (!rc) rc = srv_scrape_metrics_write(app->scrape, b);
    if (!rc) rc = srv_sched_metrics(app->sched, b);
    if (!rc) rc = srv_fwd_metrics(app->fwd, b);
#undef COUNTER
#undef GAUGE
    return rc;
}
