/* server/main.c: command line, start-up and shutdown of the auspex server.
 *
 * Flags follow VictoriaMetrics' names where the meaning is the same (-storageDataPath,
 * -httpListenAddr, -retentionPeriod, -maxInsertRequestSize), written -flag=value,
 * -flag value or --flag=value. Start-up: parse flags, open the engine (which replays the
 * WAL), listen, run the loop. SIGTERM/SIGINT: stop accepting, finish requests in flight,
 * then close the engine (which flushes the head into LMDB) and exit 0.
 */
#include "engine/engine.h"
#include "server/app.h"
#include "server/auth.h"
#include "server/backtest.h"
#include "server/cli.h"
#include "server/http.h"
#include "server/node_collector.h"
#include "server/forward.h"
#include "server/rules.h"
#include "server/rules_sched.h"

#include <curl/curl.h>
#include "server/scrape.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -downsampling.period: "age:step,age:step" (VictoriaMetrics' syntax), ages increasing,
 * each step a multiple of the previous one, at most ENG_MAX_DOWNSAMPLE pairs; "" = off.
 * Fills eo. Returns 0, or 2 after printing what is wrong. */
static int parse_downsampling(const char *v, eng_opts *eo) {
    eo->n_downsample = 0;
    const char *p = v, *end = v + strlen(v);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *colon = memchr(p, ':', (size_t)(e - p));
        int64_t age = 0, step = 0;
        size_t k = eo->n_downsample;
        const char *why = NULL;
        if (k == ENG_MAX_DOWNSAMPLE) why = "more than 4 age:step pairs";
        else if (!colon || ax_duration_parse(p, (size_t)(colon - p), &age) || age <= 0 ||
                 ax_duration_parse(colon + 1, (size_t)(e - colon - 1), &step) || step <= 0)
            why = "each pair must be age:step with positive durations, e.g. 30d:5m";
        else if (k && age <= eo->downsample[k - 1].age_ms) why = "ages must increase";
        else if (k && (step <= eo->downsample[k - 1].step_ms ||
                       step % eo->downsample[k - 1].step_ms))
            why = "each step must be a larger multiple of the previous one";
        if (why) {
            fprintf(stderr, "auspex: -downsampling.period: \"%s\": %.*s: %s\n", v,
                    (int)(e - p), p, why);
            return 2;
        }
        eo->downsample[k].age_ms = age;
        eo->downsample[k].step_ms = step;
        eo->n_downsample++;
        p = comma ? comma + 1 : end;
        if (comma && p == end) {
            fprintf(stderr, "auspex: -downsampling.period: \"%s\": trailing comma\n", v);
            return 2;
        }
    }
    return 0;
}

typedef struct cfg {
    const char *data_path;
    const char *listen;
    const char *retention;
    const char *retention_check;
    const char *downsampling;
    const char *max_insert;
    const char *max_series;
    const char *max_hourly_series, *max_daily_series; /* docs/limits.md */
    const char *max_labels, *max_label_name_len, *max_label_value_len;
    const char *flush_interval;
    const char *head_max;
    const char *node_collect;
    const char *scrape_config;
    const char *rules;
    const char *rules_max_decisions;
    const char *rules_retry_backoff;
    const char *external_url;
    const char *http_max_conns;
    const char *http_idle_timeout;
    const char *http_header_timeout;
    const char *rules_datasource;
    const char *rw_urls[16];   /* -remoteWrite.url, repeatable */
    size_t n_rw_urls;
    const char *rw_max_disk;
    const char *rw_retry_min;
    const char *max_scrape_size;
    const char *lookback;
    const char *max_query_duration;
    const char *max_samples;
    const char *max_points;
    const char *max_unique_series;
    const char *max_query_mem;
    const char *cache_offset;
    const char *cache_size;
    const char *max_concurrent;
    const char *max_queue;
    bool disable_cache;
    bool insecure;
    const char *auth_user;      /* -httpAuth.*: secrets as given (value, file:, env:) */
    const char *auth_pass;
    const char *auth_token;
    const char *auth_read_token;
    const char *auth_write_token;
    bool auth_public_metrics;
    bool auth_public_health;
    bool version;
    bool help;
} cfg;

typedef struct flag_def {
    const char *name;
    const char **str;  /* value flags */
    bool *boolean;     /* switches */
    const char *help;
} flag_def;

/* Flags that may be given several times: values collected into an array. */
#define MAX_LIST_FLAG 16
typedef struct list_flag_def {
    const char *name;
    const char **values; /* MAX_LIST_FLAG of them */
    size_t *n;
    const char *help;
} list_flag_def;

static cfg C = {
    .data_path = "auspex-data",
    .listen = "127.0.0.1:9444",
    .retention = "1y",
    .retention_check = "0",
    .downsampling = "",
    .max_insert = "32MB",
    .max_series = "0",
    .max_hourly_series = "0",
    .max_daily_series = "0",
    .max_labels = "40",          /* VictoriaMetrics' defaults (lib/timeserieslimits) */
    .max_label_name_len = "256",
    .max_label_value_len = "4096",
    .flush_interval = "60s",
    .head_max = "2000000",
    .node_collect = "15s",
    .scrape_config = "",
    .rules = "",
    .rules_max_decisions = "20000",
    .rules_datasource = "",
    .rw_max_disk = "1GiB",
    .rw_retry_min = "1s",
    .rules_retry_backoff = "1s",
    .external_url = "",
    .http_max_conns = "1024",
    .http_idle_timeout = "1m",
    .http_header_timeout = "30s",
    .max_scrape_size = "16MB",
    .lookback = "5m",
    .max_query_duration = "30s",
    .max_samples = "50000000",
    .max_points = "11000",
    .max_unique_series = "300000",
    .max_query_mem = "4GiB",
    .cache_offset = "5m",
    .cache_size = "256MB",
    .max_concurrent = "8",
    .max_queue = "10s",
    .auth_user = "",
    .auth_pass = "",
    .auth_token = "",
    .auth_read_token = "",
    .auth_write_token = "",
    .auth_public_health = true,
};

static const flag_def FLAGS[] = {
    {"storageDataPath", &C.data_path, NULL, "data folder (LMDB file and WAL)"},
    {"httpListenAddr", &C.listen, NULL,
     "listen address; a non-loopback address needs -httpAuth.* credentials or -http.insecure "
     "(docs/security.md)"},
    {"retentionPeriod", &C.retention, NULL,
     "delete data older than this (h, d, w, y; a bare number is months, as in VictoriaMetrics; "
     "at least 1h); older samples are dropped at ingest (docs/retention.md)"},
    {"retention.checkInterval", &C.retention_check, NULL,
     "run the retention pass this often (0: retentionPeriod/20 within 1m..1h)"},
    {"downsampling.period", &C.downsampling, NULL,
     "comma-separated age:step pairs, e.g. 30d:5m,180d:1h: past each age keep one rollup "
     "point per step (docs/downsampling.md); empty: off"},
    {"maxInsertRequestSize", &C.max_insert, NULL,
     "largest write body, compressed or decoded (e.g. 32MB); larger ones get 413"},
    {"storage.maxSeries", &C.max_series, NULL, "refuse writes that create series past this (0: no limit)"},
    {"storage.maxHourlySeries", &C.max_hourly_series, NULL,
     "series that may receive samples within the current UTC hour; samples of further new "
     "series are dropped and counted, the rest of the write is stored (0: no limit; docs/limits.md)"},
    {"storage.maxDailySeries", &C.max_daily_series, NULL,
     "as -storage.maxHourlySeries, for the current UTC day (0: no limit)"},
    {"maxLabelsPerTimeseries", &C.max_labels, NULL,
     "series with more labels are dropped and counted (0: only the hard cap of 64, which fails "
     "the request)"},
    {"maxLabelNameLen", &C.max_label_name_len, NULL,
     "series with a longer label name (bytes) are dropped and counted (at most 256)"},
    {"maxLabelValueLen", &C.max_label_value_len, NULL,
     "series with a longer label value (bytes) are dropped and counted (0: only the hard cap "
     "of 16384, which fails the request)"},
    {"storage.flushInterval", &C.flush_interval, NULL,
     "move the in-memory head into LMDB at least this often"},
    {"storage.headMaxSamples", &C.head_max, NULL,
     "flush when the head holds this many samples (memory: ~16 bytes each)"},
    {"node.collect", &C.node_collect, NULL,
     "collect this host's metrics (node_exporter names, job=\"node\") this often; 0 disables"},
    {"promscrape.config", &C.scrape_config, NULL,
     "scrape the targets of this Prometheus-format YAML file (scrape_configs; docs/scraping.md)"},
    {"rules", &C.rules, NULL,
     "scaling rules and webhooks from this YAML file (docs/rules.md); a bad file stops start-up"},
    {"rules.datasource", &C.rules_datasource, NULL,
     "run the rules' queries on this Prometheus-compatible API instead of the local store "
     "(e.g. http://vmselect:8481/select/0/prometheus; docs/forwarding.md)"},
    {"remoteWrite.maxDiskUsagePerURL", &C.rw_max_disk, NULL,
     "cap of each -remoteWrite.url queue on disk; past it the oldest data is dropped"},
    {"remoteWrite.retryMinInterval", &C.rw_retry_min, NULL,
     "first wait after a failed forward (doubles up to 1m)"},
    {"rules.maxDecisions", &C.rules_max_decisions, NULL,
     "keep this many decisions in the log (<data>/decisions); older finished ones are deleted"},
    {"rules.retryBackoff", &C.rules_retry_backoff, NULL,
     "first wait before a failed webhook delivery is tried again; doubles per try, at most 5m"},
    {"http.externalURL", &C.external_url, NULL,
     "the URL auspex is reached at, for links in webhook bodies (default http://<-httpListenAddr>)"},
    {"promscrape.maxScrapeSize", &C.max_scrape_size, NULL,
     "a scrape whose response body is larger fails (up=0)"},
    {"search.lookbackDelta", &C.lookback, NULL,
     "PromQL: an instant selector takes the newest sample at most this old (Prometheus' "
     "-query.lookback-delta)"},
    {"search.maxQueryDuration", &C.max_query_duration, NULL,
     "PromQL: a query running longer fails with 503 timeout (a request's timeout= may lower it)"},
    {"search.maxSamplesPerQuery", &C.max_samples, NULL,
     "PromQL: samples one query may hold in memory at once (Prometheus' -query.max-samples); "
     "beyond: 422"},
    {"search.maxPointsPerTimeseries", &C.max_points, NULL,
     "PromQL: a range query may have at most this many steps (+1); beyond: 400, as Prometheus' "
     "11,000 cap"},
    {"search.maxUniqueTimeseries", &C.max_unique_series, NULL,
     "PromQL: series one selector of a query may match (0: no limit); beyond: 422"},
    {"search.maxMemoryPerQuery", &C.max_query_mem, NULL,
     "PromQL: bytes one query's evaluation may allocate; beyond: 422"},
    {"search.maxConcurrentRequests", &C.max_concurrent, NULL,
     "PromQL: queries evaluated at once; more wait (the threadpool also serves writes)"},
    {"search.maxQueueDuration", &C.max_queue, NULL,
     "PromQL: a query waiting longer than this for its turn gets 503"},
    {"search.disableCache", NULL, &C.disable_cache,
     "PromQL: do not keep query results for reuse (VictoriaMetrics' flag of this name)"},
    {"search.cacheTimestampOffset", &C.cache_offset, NULL,
     "PromQL: results for times newer than now minus this are not kept (they may still change)"},
    {"search.cacheSize", &C.cache_size, NULL,
     "PromQL: memory for kept query results (least recently used go first)"},
    {"http.insecure", NULL, &C.insecure, "allow a non-loopback listen address without auth"},
    {"http.maxConns", &C.http_max_conns, NULL,
     "open connections at most; past it a new connection gets 503 and is closed"},
    {"http.idleConnTimeout", &C.http_idle_timeout, NULL,
     "close a keep-alive connection idle this long (VictoriaMetrics' flag of this name)"},
    {"http.headerReadTimeout", &C.http_header_timeout, NULL,
     "close a connection whose request head takes longer than this to arrive (slow clients)"},
    {"httpAuth.username", &C.auth_user, NULL,
     "basic auth user name (with -httpAuth.password): full access (docs/security.md)"},
    {"httpAuth.password", &C.auth_pass, NULL,
     "basic auth password: the value, file:<path> or env:<NAME> (default: $AUSPEX_HTTP_AUTH_PASSWORD)"},
    {"httpAuth.token", &C.auth_token, NULL,
     "bearer token with full access (Authorization: Bearer <t>): the value, file:<path> or "
     "env:<NAME> (default: $AUSPEX_HTTP_AUTH_TOKEN)"},
    {"httpAuth.readToken", &C.auth_read_token, NULL,
     "bearer token for read routes only (queries, export, UI...): value, file:<path> or env:<NAME>"},
    {"httpAuth.writeToken", &C.auth_write_token, NULL,
     "bearer token for write routes only (remote write, imports, admin): value, file:<path> or "
     "env:<NAME>"},
    {"httpAuth.publicMetrics", NULL, &C.auth_public_metrics,
     "with auth: serve /metrics without credentials (default: read credentials needed)"},
    {"httpAuth.publicHealth", NULL, &C.auth_public_health,
     "with auth: serve /-/healthy, /-/ready and /health without credentials (default true)"},
    {"version", NULL, &C.version, "print the version and exit"},
    {"help", NULL, &C.help, "print this help and exit"},
};
static const list_flag_def LIST_FLAGS[] = {
    {"remoteWrite.url", C.rw_urls, &C.n_rw_urls,
     "forward every accepted sample to this remote-write URL through a durable on-disk queue "
     "(repeatable; docs/forwarding.md)"},
};
#define N_LIST_FLAGS (sizeof LIST_FLAGS / sizeof LIST_FLAGS[0])
#define N_FLAGS (sizeof FLAGS / sizeof FLAGS[0])

/* Flags whose value is never printed. */
static bool flag_secret(const flag_def *f) {
    return f->str == &C.auth_pass || f->str == &C.auth_token || f->str == &C.auth_read_token ||
           f->str == &C.auth_write_token;
}

static void usage(FILE *f) {
    fprintf(f, "auspex %s: a time-series store that forecasts its own series.\n\n"
               "usage: auspex [flags]\n"
               "       auspex forecast -input=FILE.csv -horizon=N [...]  (forecast a CSV series; "
               "auspex forecast -help)\n\nflags:\n", AUSPEX_VERSION);
    for (size_t i = 0; i < N_FLAGS; i++) {
        if (FLAGS[i].str)
            fprintf(f, "  -%s=%s\n      %s\n", FLAGS[i].name,
                    flag_secret(&FLAGS[i]) ? "<secret>" : *FLAGS[i].str, FLAGS[i].help);
        else
            fprintf(f, "  -%s\n      %s\n", FLAGS[i].name, FLAGS[i].help);
    }
    for (size_t i = 0; i < N_LIST_FLAGS; i++)
        fprintf(f, "  -%s=...\n      %s\n", LIST_FLAGS[i].name, LIST_FLAGS[i].help);
}

static int parse_flags(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            fprintf(stderr, "auspex: unexpected argument \"%s\" (flags start with -)\n", a);
            return 2;
        }
        a += a[1] == '-' ? 2 : 1;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const flag_def *f = NULL;
        const list_flag_def *lf = NULL;
        for (size_t k = 0; k < N_FLAGS && !f; k++)
            if (strlen(FLAGS[k].name) == nl && !strncmp(FLAGS[k].name, a, nl)) f = &FLAGS[k];
        for (size_t k = 0; k < N_LIST_FLAGS && !f && !lf; k++)
            if (strlen(LIST_FLAGS[k].name) == nl && !strncmp(LIST_FLAGS[k].name, a, nl)) lf = &LIST_FLAGS[k];
        if (lf) {
            const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || *lf->n == MAX_LIST_FLAG) {
                fprintf(stderr, "auspex: -%s %s\n", lf->name, v ? "is given more than 16 times" : "needs a value");
                return 2;
            }
            lf->values[(*lf->n)++] = v;
            continue;
        }
        if (!f) {
            fprintf(stderr, "auspex: unknown flag -%.*s (see -help)\n", (int)nl, a);
            return 2;
        }
        if (f->boolean) {
            if (!eq || !strcmp(eq + 1, "true") || !strcmp(eq + 1, "1")) *f->boolean = true;
            else if (!strcmp(eq + 1, "false") || !strcmp(eq + 1, "0")) *f->boolean = false;
            else {
                fprintf(stderr, "auspex: -%s takes true or false, not \"%s\"\n", f->name, eq + 1);
                return 2;
            }
            continue;
        }
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "auspex: -%s needs a value\n", f->name);
            return 2;
        }
        *f->str = v;
    }
    return 0;
}

static bool is_loopback(const char *addr) {
    if (addr[0] == ':') return false; /* all interfaces */
    if (!strncmp(addr, "127.", 4) || !strncmp(addr, "[::1]", 5) || !strncmp(addr, "localhost:", 10))
        return true;
    return false;
}

/* Resolve the secret of -<flag> (value, file:<path>, env:<NAME>), or of environment
 * variable `env` (may be NULL) when the flag is absent. OUT: *out (NULL: neither given).
 * Returns 0, or 2 after printing what failed (never the secret). */
static int auth_secret(const char *flag, const char *v, const char *env, char **out) {
    *out = NULL;
    if (!v[0] && env && getenv(env) && getenv(env)[0]) v = getenv(env);
    else if (!v[0]) return 0;
    ax_err e = {0};
    if (srv_auth_secret_load(v, out, &e)) {
        fprintf(stderr, "auspex: -%s: %s\n", flag, e.msg);
        return 2;
    }
    return 0;
}

static void secret_wipe(char *s) {
    if (!s) return;
    volatile char *p = s;
    while (*p) *p++ = 0;
    free(s);
}

/* Build the -httpAuth.* checker. OUT: *out (NULL: no auth configured). Returns 0 or 2. */
static int load_auth(srv_auth **out) {
    char *pass = NULL, *token = NULL, *rtoken = NULL, *wtoken = NULL;
    int rc = auth_secret("httpAuth.password", C.auth_pass, "AUSPEX_HTTP_AUTH_PASSWORD", &pass);
    if (!rc) rc = auth_secret("httpAuth.token", C.auth_token, "AUSPEX_HTTP_AUTH_TOKEN", &token);
    if (!rc) rc = auth_secret("httpAuth.readToken", C.auth_read_token, NULL, &rtoken);
    if (!rc) rc = auth_secret("httpAuth.writeToken", C.auth_write_token, NULL, &wtoken);
    if (!rc) {
        srv_auth_cfg ac = {.username = C.auth_user, .password = pass, .token = token,
                           .read_token = rtoken, .write_token = wtoken};
        ax_err e = {0};
        if (srv_auth_new(&ac, out, &e)) {
            fprintf(stderr, "auspex: %s\n", e.msg);
            rc = 2;
        } else if (*out) {
            fprintf(stderr, "auspex: auth on:%s%s%s%s\n", C.auth_user[0] ? " basic" : "",
                    token ? " token" : "", rtoken ? " readToken" : "", wtoken ? " writeToken" : "");
        }
    }
    secret_wipe(pass);
    secret_wipe(token);
    secret_wipe(rtoken);
    secret_wipe(wtoken);
    return rc;
}

static int parse_count(const char *flag, const char *v, uint64_t *out) {
    if (ax_size_parse(v, strlen(v), out)) {
        fprintf(stderr, "auspex: -%s: cannot parse \"%s\"\n", flag, v);
        return 2;
    }
    return 0;
}

/* ---- shutdown ---- */

static uv_signal_t sig_term, sig_int;
static srv_app APP;

static void on_http_closed(void *arg) {
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
    static bool closing;
    if (closing) return;
    closing = true;
    fprintf(stderr, "auspex: %s received, shutting down\n", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    srv_node_stop(&APP);
    srv_scrape_stop(APP.scrape);
    APP.scrape = NULL;
    srv_sched_stop(APP.sched);
    srv_http_close(APP.http, on_http_closed, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "forecast")) return srv_cli_forecast(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "backtest")) return srv_cli_backtest(argc - 1, argv + 1);
    int rc = parse_flags(argc, argv);
    if (rc) return rc;
    if (C.help) {
        usage(stdout);
        return 0;
    }
    if (C.version) {
        printf("auspex version %s\n", AUSPEX_VERSION);
        return 0;
    }
    int64_t retention_ms = 0, flush_ms = 0, retention_check_ms = 0;
    size_t rl = strlen(C.retention);
    bool months = rl > 0 && strspn(C.retention, "0123456789") == rl; /* VictoriaMetrics: "12" */
    if (months && rl <= 4) retention_ms = strtoll(C.retention, NULL, 10) * 31 * 86400000LL;
    else if (months || ax_duration_parse(C.retention, rl, &retention_ms)) retention_ms = -1;
    if (retention_ms < 3600000) {
        fprintf(stderr, "auspex: -retentionPeriod: \"%s\" is not a duration of at least 1h "
                        "(e.g. 30d, 1y; a bare number counts months)\n", C.retention);
        return 2;
    }
    if (ax_duration_parse(C.retention_check, strlen(C.retention_check), &retention_check_ms) ||
        (retention_check_ms > 0 && retention_check_ms < 1000)) {
        fprintf(stderr, "auspex: -retention.checkInterval: cannot parse \"%s\" (e.g. 1h, at "
                        "least 1s; 0: default)\n", C.retention_check);
        return 2;
    }
    if (ax_duration_parse(C.flush_interval, strlen(C.flush_interval), &flush_ms) || flush_ms <= 0) {
        fprintf(stderr, "auspex: -storage.flushInterval: cannot parse \"%s\"\n", C.flush_interval);
        return 2;
    }
    eng_opts ds_opts = {0};
    if (parse_downsampling(C.downsampling, &ds_opts)) return 2;
    int64_t node_ms = 0;
    if (strcmp(C.node_collect, "0") != 0 &&
        (ax_duration_parse(C.node_collect, strlen(C.node_collect), &node_ms) || node_ms < 0)) {
        fprintf(stderr, "auspex: -node.collect: cannot parse \"%s\" (e.g. 15s, 0 to disable)\n",
                C.node_collect);
        return 2;
    }
    uint64_t max_insert = 0, max_series = 0, head_max = 0, max_scrape = 0;
    if (parse_count("promscrape.maxScrapeSize", C.max_scrape_size, &max_scrape)) return 2;
    /* the scrape config is read before anything starts: a bad one stops start-up */
    srv_scrape_config *scfg = NULL;
    if (C.scrape_config[0]) {
        ax_err se = {0};
        if (srv_scrape_config_load(C.scrape_config, &scfg, &se)) {
            fprintf(stderr, "auspex: -promscrape.config=%s: %s\n", C.scrape_config, se.msg);
            return 2;
        }
    }
    if (C.rules[0]) {
        ax_err re = {0};
        if (srv_rules_load(C.rules, &APP.rules, &re)) {
            fprintf(stderr, "auspex: -rules=%s: %s\n", C.rules, re.msg);
            srv_scrape_config_free(scfg);
            return 2;
        }
    }
    uint64_t max_decisions = 0;
    int64_t retry_backoff_ms = 0;
    if (parse_count("rules.maxDecisions", C.rules_max_decisions, &max_decisions)) return 2;
    if (max_decisions < 1 || max_decisions > 10000000) {
        fprintf(stderr, "auspex: -rules.maxDecisions must be 1..10000000\n");
        return 2;
    }
    if (ax_duration_parse(C.rules_retry_backoff, strlen(C.rules_retry_backoff), &retry_backoff_ms) ||
        retry_backoff_ms <= 0) {
        fprintf(stderr, "auspex: -rules.retryBackoff: cannot parse \"%s\" (e.g. 1s)\n", C.rules_retry_backoff);
        return 2;
    }
    if (C.external_url[0] && strncmp(C.external_url, "http://", 7) && strncmp(C.external_url, "https://", 8)) {
        fprintf(stderr, "auspex: -http.externalURL must start with http:// or https://\n");
        return 2;
    }
    if (C.rules_datasource[0] && strncmp(C.rules_datasource, "http://", 7) &&
        strncmp(C.rules_datasource, "https://", 8)) {
        fprintf(stderr, "auspex: -rules.datasource must start with http:// or https://\n");
        return 2;
    }
    uint64_t rw_max_disk = 0;
    int64_t rw_retry_min_ms = 0;
    if (parse_count("remoteWrite.maxDiskUsagePerURL", C.rw_max_disk, &rw_max_disk)) return 2;
    if (ax_duration_parse(C.rw_retry_min, strlen(C.rw_retry_min), &rw_retry_min_ms) || rw_retry_min_ms <= 0) {
        fprintf(stderr, "auspex: -remoteWrite.retryMinInterval: cannot parse \"%s\" (e.g. 1s)\n", C.rw_retry_min);
        return 2;
    }
    if (parse_count("maxInsertRequestSize", C.max_insert, &max_insert) ||
        parse_count("storage.maxSeries", C.max_series, &max_series) ||
        parse_count("storage.headMaxSamples", C.head_max, &head_max))
        return 2;
    uint64_t max_hourly = 0, max_daily = 0, max_labels = 0, max_lname = 0, max_lvalue = 0;
    if (parse_count("storage.maxHourlySeries", C.max_hourly_series, &max_hourly) ||
        parse_count("storage.maxDailySeries", C.max_daily_series, &max_daily) ||
        parse_count("maxLabelsPerTimeseries", C.max_labels, &max_labels) ||
        parse_count("maxLabelNameLen", C.max_label_name_len, &max_lname) ||
        parse_count("maxLabelValueLen", C.max_label_value_len, &max_lvalue))
        return 2;
    if (max_labels > AX_MAX_LABELS || max_lname > AX_MAX_LABEL_NAME ||
        max_lvalue > AX_MAX_LABEL_VALUE) {
        fprintf(stderr, "auspex: -maxLabelsPerTimeseries, -maxLabelNameLen and -maxLabelValueLen "
                        "may be at most %d, %d and %d (the hard caps)\n",
                AX_MAX_LABELS, AX_MAX_LABEL_NAME, AX_MAX_LABEL_VALUE);
        return 2;
    }
    int64_t lookback_ms = 0, max_query_ms = 0;
    uint64_t max_samples = 0, max_points = 0, max_unique = 0, max_qmem = 0;
    if (ax_duration_parse(C.lookback, strlen(C.lookback), &lookback_ms) || lookback_ms <= 0) {
        fprintf(stderr, "auspex: -search.lookbackDelta: cannot parse \"%s\" (e.g. 5m)\n", C.lookback);
        return 2;
    }
    if (ax_duration_parse(C.max_query_duration, strlen(C.max_query_duration), &max_query_ms) ||
        max_query_ms <= 0) {
        fprintf(stderr, "auspex: -search.maxQueryDuration: cannot parse \"%s\" (e.g. 30s)\n",
                C.max_query_duration);
        return 2;
    }
    if (parse_count("search.maxSamplesPerQuery", C.max_samples, &max_samples) ||
        parse_count("search.maxPointsPerTimeseries", C.max_points, &max_points) ||
        parse_count("search.maxUniqueTimeseries", C.max_unique_series, &max_unique) ||
        parse_count("search.maxMemoryPerQuery", C.max_query_mem, &max_qmem))
        return 2;
    int64_t cache_offset_ms = 0;
    uint64_t cache_size = 0;
    if (ax_duration_parse(C.cache_offset, strlen(C.cache_offset), &cache_offset_ms) ||
        cache_offset_ms < 0) {
        fprintf(stderr, "auspex: -search.cacheTimestampOffset: cannot parse \"%s\" (e.g. 5m)\n",
                C.cache_offset);
        return 2;
    }
    if (parse_count("search.cacheSize", C.cache_size, &cache_size)) return 2;
    uint64_t max_concurrent = 0;
    int64_t max_queue_ms = 0;
    if (parse_count("search.maxConcurrentRequests", C.max_concurrent, &max_concurrent)) return 2;
    if (max_concurrent == 0 || max_concurrent > 15) {
        fprintf(stderr, "auspex: -search.maxConcurrentRequests must be 1..15 (the threadpool has 16 threads)\n");
        return 2;
    }
    if (ax_duration_parse(C.max_queue, strlen(C.max_queue), &max_queue_ms) || max_queue_ms < 0) {
        fprintf(stderr, "auspex: -search.maxQueueDuration: cannot parse \"%s\" (e.g. 10s)\n", C.max_queue);
        return 2;
    }
    if (max_samples == 0 || max_points == 0 || max_qmem < (1u << 20)) {
        fprintf(stderr, "auspex: -search.maxSamplesPerQuery and -search.maxPointsPerTimeseries must be "
                        "positive, -search.maxMemoryPerQuery at least 1MB\n");
        return 2;
    }
    if (max_insert < 1024) {
        fprintf(stderr, "auspex: -maxInsertRequestSize must be at least 1KB\n");
        return 2;
    }
    srv_auth *auth = NULL;
    if (load_auth(&auth)) return 2;
    if (!is_loopback(C.listen) && !C.insecure && !auth) {
        fprintf(stderr, "auspex: -httpListenAddr=%s is not a loopback address: configure "
                        "-httpAuth.* credentials (docs/security.md), or pass -http.insecure to "
                        "expose auspex without auth\n", C.listen);
        return 2;
    }

    /* Memory: one malloc arena instead of one per worker thread (head buffers grow in
     * whichever worker inserts into them; per-thread arenas each kept their own peak:
     * 40 MB more RSS on the bench, no faster), big buffers (decoded bodies) from mmap so
     * that freeing them returns them to the system, and trimming at 1 MB. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    srv_http_global_init();
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: webhooks (server/webhook_send.c) */
    uv_loop_t *loop = uv_default_loop();

    eng_opts eo = {.path = C.data_path, .head_max_samples = (size_t)head_max,
                   .flush_interval_ms = flush_ms, .max_series = (size_t)max_series,
                   .retention_ms = retention_ms, .retention_interval_ms = retention_check_ms,
                   .max_hourly_series = (size_t)max_hourly, .max_daily_series = (size_t)max_daily,
                   .max_labels_per_series = (size_t)max_labels,
                   .max_label_name_len = (size_t)max_lname,
                   .max_label_value_len = (size_t)max_lvalue};
    memcpy(eo.downsample, ds_opts.downsample, sizeof eo.downsample);
    eo.n_downsample = ds_opts.n_downsample;
    ax_err err = {0};
    eng *e = NULL;
    rc = eng_open(&eo, &e, &err);
    if (rc) {
        fprintf(stderr, "auspex: cannot open storage at %s: %s\n", C.data_path, err.msg);
        return 1;
    }

    if (C.n_rw_urls) {
        static char fdir[4096];
        snprintf(fdir, sizeof fdir, "%s/forward", C.data_path);
        srv_fwd_opts fo = {.dir = fdir, .urls = C.rw_urls, .n_urls = C.n_rw_urls,
                           .max_disk_bytes = rw_max_disk, .retry_min_ms = rw_retry_min_ms};
        if ((rc = srv_fwd_open(&fo, &APP.fwd, &err))) {
            fprintf(stderr, "auspex: -remoteWrite.url: %s\n", err.msg);
            eng_close(e);
            return rc == AX_EINVAL ? 2 : 1;
        }
    }

    uint64_t max_conns = 0;
    int64_t idle_ms = 0, header_ms = 0;
    if (parse_count("http.maxConns", C.http_max_conns, &max_conns) || !max_conns) {
        fprintf(stderr, "auspex: -http.maxConns must be a count of at least 1\n");
        return 2;
    }
    if (ax_duration_parse(C.http_idle_timeout, strlen(C.http_idle_timeout), &idle_ms) || idle_ms <= 0 ||
        ax_duration_parse(C.http_header_timeout, strlen(C.http_header_timeout), &header_ms) || header_ms <= 0) {
        fprintf(stderr, "auspex: -http.idleConnTimeout and -http.headerReadTimeout take durations (e.g. 1m, 30s)\n");
        return 2;
    }
    srv_http_opts ho = {.max_body_bytes = (size_t)max_insert, .max_conns = (size_t)max_conns,
                        .idle_timeout_ms = (uint64_t)idle_ms, .header_timeout_ms = (uint64_t)header_ms};
    srv_http *http = NULL;
    if (srv_http_new(loop, &ho, &http)) {
        fprintf(stderr, "auspex: out of memory\n");
        eng_close(e);
        return 1;
    }
    APP.e = e;
    APP.http = http;
    APP.loop = loop;
    APP.max_insert_bytes = (size_t)max_insert;
    APP.max_export_bytes = (size_t)1 << 30;
    APP.query_lookback_ms = lookback_ms;
    APP.query_max_duration_ms = max_query_ms;
    APP.query_max_samples = (size_t)max_samples;
    APP.query_max_points = (size_t)max_points;
    APP.query_max_series = (size_t)max_unique;
    APP.query_mem_max = (size_t)max_qmem;
    APP.query_max_concurrent = (size_t)max_concurrent;
    APP.query_max_queue_ms = max_queue_ms;
    APP.query_cache = C.disable_cache || !cache_size ? NULL : pql_cache_new((size_t)cache_size, cache_offset_ms);
    APP.start_ms = ax_now_ms();
    APP.retention = C.retention;
    APP.data_path = C.data_path;
    APP.rules_datasource = C.rules_datasource[0] ? C.rules_datasource : NULL;
    if (srv_api_register(&APP)) {
        fprintf(stderr, "auspex: cannot register routes\n");
        return 1;
    }
    if (srv_auth_classify(http, C.auth_public_metrics, C.auth_public_health, &err))
        fprintf(stderr, "auspex: %s; it needs full credentials\n", err.msg);
    if (auth) srv_http_set_gate(http, srv_auth_gate, auth);
    rc = srv_http_listen(http, C.listen, &err);
    if (rc) {
        fprintf(stderr, "auspex: cannot listen on %s: %s\n", C.listen, err.msg);
        srv_http_close(http, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        eng_close(e);
        return 1;
    }
    if (node_ms > 0 && (rc = srv_node_start(&APP, node_ms, &err)))
        fprintf(stderr, "auspex: node collector not started: %s\n", err.msg);
    if (scfg) {
        srv_scrape_opts so = {.max_scrape_bytes = (size_t)max_scrape};
        if ((rc = srv_scrape_start(&APP, scfg, &so, &APP.scrape, &err))) {
            fprintf(stderr, "auspex: -promscrape.config=%s: %s\n", C.scrape_config, err.msg);
            srv_scrape_config_free(scfg);
            srv_http_close(http, NULL, NULL);
            srv_node_stop(&APP);
            uv_run(loop, UV_RUN_DEFAULT);
            eng_close(e);
            return 2;
        }
    }
    if (APP.rules) {
        static char ext[600]; /* the scheduler keeps the pointer */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/decisions", C.data_path);
        if (C.external_url[0]) snprintf(ext, sizeof ext, "%s", C.external_url);
        else snprintf(ext, sizeof ext, "http://%s%s", C.listen[0] == ':' ? "127.0.0.1" : "", C.listen);
        srv_sched_opts so = {.external_url = ext};
        if ((rc = srv_dlog_open(dir, (size_t)max_decisions, &APP.dlog, &err)) ||
            (rc = srv_outbox_start(APP.dlog, APP.rules, retry_backoff_ms, &APP.outbox, &err)) ||
            (so.log = APP.dlog, so.outbox = APP.outbox,
             (rc = srv_sched_start(&APP, &so, &APP.sched, &err)))) {
            fprintf(stderr, "auspex: cannot start the rules: %s\n", err.msg);
            srv_outbox_stop(APP.outbox);
            srv_dlog_close(APP.dlog);
            srv_scrape_stop(APP.scrape);
            srv_node_stop(&APP);
            srv_http_close(http, NULL, NULL);
            uv_run(loop, UV_RUN_DEFAULT);
            eng_close(e);
            return 1;
        }
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    fprintf(stderr, "auspex %s: listening on http://%s, data in %s\n", AUSPEX_VERSION, C.listen,
            C.data_path);

    uv_run(loop, UV_RUN_DEFAULT);
    srv_outbox_stop(APP.outbox);
    srv_sched_free(APP.sched);
    srv_dlog_close(APP.dlog);
    srv_fwd_close(APP.fwd); /* nothing appends any more: scrapers, rules and HTTP are stopped */
    eng_close(e);
    pql_cache_free(APP.query_cache);
    srv_rules_free(APP.rules);
    srv_auth_free(auth);
    uv_loop_close(loop);
    fprintf(stderr, "auspex: stopped\n");
    return 0;
}
