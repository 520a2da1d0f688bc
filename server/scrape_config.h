/* server/scrape_config.h: the Prometheus scrape config file (-promscrape.config) and the
 * targets it yields.
 *
 * Owns: parsing the YAML (libyaml events into a small tree, then a strict walk), the
 *   defaults and checks of Prometheus 2.42 config/config.go for the supported subset,
 *   and target generation as Prometheus 2.42 scrape/target.go populateLabels does it.
 * Supported (full list, defaults and what is rejected: docs/scraping.md):
 *   global: scrape_interval (1m), scrape_timeout (10s), evaluation_interval (ignored),
 *     external_labels;
 *   scrape_configs[]: job_name (required, unique), scrape_interval, scrape_timeout,
 *     metrics_path (/metrics), scheme (http|https), params, static_configs[] {targets,
 *     labels}, honor_labels (false), honor_timestamps (true), basic_auth {username,
 *     password | password_file}, bearer_token | bearer_token_file, authorization {type,
 *     credentials | credentials_file}, tls_config {insecure_skip_verify}, sample_limit,
 *     relabel_configs[], metric_relabel_configs[] (server/relabel.h).
 *   Other Prometheus top-level sections (rule_files, alerting, remote_write,
 *   remote_read, storage, tracing) are accepted only when empty; service discovery
 *   (*_sd_configs) and other job keys are rejected as unsupported.
 * Errors: AX_EINVAL with a message naming the 1-based line and the key path, e.g.
 *   `line 7: scrape_configs[0]: unknown key "scrape_intervall"`; YAML syntax errors give
 *   the line and libyaml's problem. Secrets (passwords, tokens, credentials and the
 *   contents of their files) never appear in a message. Aliases are rejected.
 * Limits: SRV_SCRAPE_MAX_CONFIG bytes of YAML, SRV_SCRAPE_MAX_TARGETS static targets,
 *   nesting depth 64, 200,000 YAML nodes.
 * Memory: a config owns everything it points to (one arena plus the compiled regexes);
 *   targets are malloc'd separately and point at their job, so the config must outlive
 *   them. Both are immutable once built: any thread may read them.
 */
#ifndef SRV_SCRAPE_CONFIG_H
#define SRV_SCRAPE_CONFIG_H

#include "core/core.h"
#include "server/relabel.h"

#define SRV_SCRAPE_MAX_CONFIG (4u << 20) /* bytes of YAML */
#define SRV_SCRAPE_MAX_TARGETS 10000     /* static targets over all jobs */

/* One `params` entry: ?name=values[0]&name=values[1]... */
typedef struct srv_scrape_param {
    char *name;
    char **values;
    size_t n_values;
} srv_scrape_param;

/* One static_configs entry. */
typedef struct srv_static_config {
    char **targets; /* host:port as written */
    size_t n_targets;
    ax_label *labels; /* NUL-terminated name and value strings */
    size_t n_labels;
} srv_static_config;

typedef struct srv_scrape_job {
    char *job_name;
    int64_t interval_ms, timeout_ms; /* defaults applied */
    char *metrics_path, *scheme;     /* "/metrics", "http" by default */
    bool honor_labels, honor_timestamps, insecure_skip_verify;
    char *basic_user, *basic_pass; /* basic_pass from password or password_file (trimmed) */
    char *bearer_token; /* bearer_token(_file) or authorization credentials(_file); NULL if none */
    char *auth_type;    /* scheme for bearer_token in the Authorization header: "Bearer" unless
                           authorization.type says otherwise; NULL when bearer_token is NULL */
    size_t sample_limit; /* 0: none */
    srv_relabel *relabel;
    size_t n_relabel;
    srv_relabel *metric_relabel;
    size_t n_metric_relabel;
    srv_scrape_param *params;
    size_t n_params;
    srv_static_config *static_configs;
    size_t n_static;
} srv_scrape_job;

typedef struct srv_scrape_config {
    int64_t interval_ms, timeout_ms; /* global */
    ax_label *external_labels;       /* NUL-terminated strings */
    size_t n_external;
    srv_scrape_job *jobs;
    size_t n_jobs;
    ax_arena mem; /* owns every string and array above */
} srv_scrape_config;

/* Parse a config from yaml[0..len) (need not be NUL-terminated). password_file,
 * bearer_token_file and credentials_file are read now, relative to the current directory.
 * OUT: *out (free with srv_scrape_config_free). Returns 0, AX_EINVAL (message in e),
 * AX_ETOOBIG (over SRV_SCRAPE_MAX_CONFIG), AX_ELIMIT (over SRV_SCRAPE_MAX_TARGETS),
 * AX_EIO (a secret file cannot be read; the message names the file), AX_ENOMEM. */
int srv_scrape_config_parse(const char *yaml, size_t len, srv_scrape_config **out, ax_err *e);

/* Read and parse the file at path; secret files are relative to the config file's folder.
 * Same returns as srv_scrape_config_parse; AX_EIO when path cannot be read. */
int srv_scrape_config_load(const char *path, srv_scrape_config **out, ax_err *e);

void srv_scrape_config_free(srv_scrape_config *c); /* accepts NULL */

/* Parse a YAML list of relabel_config entries (the metric_relabel_configs syntax) into
 * rules whose strings live in arena a. OUT: *out (malloc'd array; free with
 * srv_relabel_fini(*out, *n_out) then free()), *n_out. Returns 0, AX_EINVAL, AX_ENOMEM.
 * Used by fuzz_relabel and for ad-hoc rule lists. */
int srv_relabel_parse_yaml(const char *yaml, size_t len, ax_arena *a, srv_relabel **out,
                           size_t *n_out, ax_err *e);

/* One scrape target after relabel_configs, as Prometheus computes it. */
typedef struct srv_scrape_target {
    char *url;        /* scheme://address metrics_path ?params (URL-encoded, from params and
                         __param_* labels) */
    ax_label *labels; /* final target labels, sorted by name: job, instance (defaults to
                         __address__), static labels, relabel results; no "__"-prefixed
                         labels. NUL-terminated strings. */
    size_t n_labels;
    const srv_scrape_job *job;
    int64_t interval_ms, timeout_ms; /* from __scrape_interval__/__scrape_timeout__ after relabel */
} srv_scrape_target;

/* All targets of all jobs in config order (targets dropped by relabeling are omitted;
 * targets with the same URL and labels appear once). Following Prometheus, a target that
 * relabeling leaves invalid (empty __address__, an address with '/', a scheme other than
 * http/https, an unparsable or zero __scrape_interval__/__scrape_timeout__, timeout over
 * interval, an invalid label name or non-UTF-8 value) is skipped, not an error; an address
 * without a port gets :80 or :443 by scheme, as in Prometheus 2.42.
 * OUT: *out (free with srv_scrape_targets_free; NULL when *n_out = 0), *n_out. Returns 0,
 * AX_ENOMEM, AX_ELIMIT (a target would need more than 512 labels). */
int srv_scrape_targets(const srv_scrape_config *c, srv_scrape_target **out, size_t *n_out,
                       ax_err *e);
void srv_scrape_targets_free(srv_scrape_target *t, size_t n); /* accepts NULL */

/* Format a duration as Prometheus does ("1m", "1h30m", "100ms", "0s"); writes at most 64
 * bytes with the NUL. Returns the length. */
size_t srv_duration_fmt(char *out, int64_t ms);

#endif
