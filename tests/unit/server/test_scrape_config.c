/* Unit tests for server/scrape_config.c: a full realistic config, defaults, every error
 * class with its line number and key path, secrets kept out of messages, secret files,
 * every truncation of a sample config, and target generation (relabeling of __address__,
 * __param_*, instance defaulting, default ports, dedup, drops).
 * Static helpers are prefixed sc_ (this file shares unit_server with other test files). */
#include "server/scrape_config.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static const char *sc_full =
    "# a realistic prometheus.yml\n"
    "global:\n"
    "  scrape_interval: 15s\n"
    "  scrape_timeout: 5s\n"
    "  evaluation_interval: 30s\n"
    "  external_labels:\n"
    "    cluster: eu-1\n"
    "    replica: \"a\"\n"
    "rule_files: []\n"
    "scrape_configs:\n"
    "  - job_name: node\n"
    "    static_configs:\n"
    "      - targets: ['10.0.0.1:9100', '10.0.0.2:9100']\n"
    "        labels:\n"
    "          env: prod\n"
    "      - targets: [\"10.0.0.3:9100\"]\n"
    "    metric_relabel_configs:\n"
    "      - source_labels: [__name__]\n"
    "        regex: go_.*\n"
    "        action: drop\n"
    "  - job_name: api\n"
    "    scrape_interval: 1m\n"
    "    scrape_timeout: 30s\n"
    "    metrics_path: /internal/metrics\n"
    "    scheme: https\n"
    "    honor_labels: true\n"
    "    honor_timestamps: false\n"
    "    sample_limit: 5000\n"
    "    params:\n"
    "      format: [prometheus]\n"
    "      module: [a, b]\n"
    "    basic_auth:\n"
    "      username: scraper\n"
    "      password: s3cr3t-pw\n"
    "    tls_config:\n"
    "      insecure_skip_verify: true\n"
    "    static_configs:\n"
    "      - targets: [api.example.com]\n"
    "    relabel_configs:\n"
    "      - source_labels: [__address__]\n"
    "        regex: '([^.]+)\\..*'\n"
    "        target_label: host\n"
    "        replacement: $1\n"
    "  - job_name: blackbox\n"
    "    metrics_path: /probe\n"
    "    params:\n"
    "      module: [http_2xx]\n"
    "    bearer_token: tok-123\n"
    "    static_configs:\n"
    "      - targets:\n"
    "          - https://example.org\n"
    "          - example.net\n"
    "    relabel_configs:\n"
    "      - source_labels: [__address__]\n"
    "        target_label: __param_target\n"
    "      - source_labels: [__param_target]\n"
    "        target_label: instance\n"
    "      - target_label: __address__\n"
    "        replacement: 127.0.0.1:9115\n";

static srv_scrape_config *sc_parse_ok(const char *y) {
    srv_scrape_config *c = NULL;
    ax_err e = {0};
    size_t n = strlen(y);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, y, n);
    int rc = srv_scrape_config_parse(copy, n, &c, &e);
    free(copy);
    if (rc) FAILF("parse: %d %s", rc, e.msg);
    return c;
}

/* Parse must fail with code and a message containing want (and never secret). */
static void sc_bad(const char *y, int code, const char *want) {
    srv_scrape_config *c = NULL;
    ax_err e = {0};
    int rc = srv_scrape_config_parse(y, strlen(y), &c, &e);
    if (rc != code) {
        FAILF("expected %d, got %d (%s) for:\n%s", code, rc, e.msg, y);
        srv_scrape_config_free(c);
        return;
    }
    if (!strstr(e.msg, want)) FAILF("message \"%s\" lacks \"%s\"", e.msg, want);
    if (strstr(e.msg, "s3cr3t") || strstr(e.msg, "tok-")) FAILF("secret in message \"%s\"", e.msg);
}

static const char *sc_lv(const srv_scrape_target *t, const char *name) {
    for (size_t i = 0; i < t->n_labels; i++)
        if (!strcmp(t->labels[i].name, name)) return t->labels[i].value;
    return NULL;
}

/* All labels as "a=1,b=2" (sorted by construction). */
static void sc_labels(const srv_scrape_target *t, char *out, size_t cap) {
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < t->n_labels && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", i ? "," : "", t->labels[i].name, t->labels[i].value);
}

TEST(test_scrape_config_full) {
    srv_scrape_config *c = sc_parse_ok(sc_full);
    if (!c) return;
    CHECK_EQ_INT(15000, c->interval_ms);
    CHECK_EQ_INT(5000, c->timeout_ms);
    CHECK_EQ_INT(2, c->n_external);
    CHECK_EQ_STR("cluster", c->external_labels[0].name);
    CHECK_EQ_STR("eu-1", c->external_labels[0].value);
    CHECK_EQ_INT(3, c->n_jobs);
    const srv_scrape_job *n = &c->jobs[0], *a = &c->jobs[1], *b = &c->jobs[2];
    CHECK_EQ_STR("node", n->job_name);
    CHECK_EQ_INT(15000, n->interval_ms);
    CHECK_EQ_INT(5000, n->timeout_ms);
    CHECK_EQ_STR("/metrics", n->metrics_path);
    CHECK_EQ_STR("http", n->scheme);
    CHECK(!n->honor_labels);
    CHECK(n->honor_timestamps);
    CHECK_EQ_INT(2, n->n_static);
    CHECK_EQ_INT(2, n->static_configs[0].n_targets);
    CHECK_EQ_STR("10.0.0.2:9100", n->static_configs[0].targets[1]);
    CHECK_EQ_STR("env", n->static_configs[0].labels[0].name);
    CHECK_EQ_INT(1, n->n_metric_relabel);
    CHECK_EQ_INT(SRV_RELABEL_DROP, n->metric_relabel[0].action);
    CHECK(n->basic_user == NULL && n->bearer_token == NULL);

    CHECK_EQ_INT(60000, a->interval_ms);
    CHECK_EQ_INT(30000, a->timeout_ms);
    CHECK_EQ_STR("/internal/metrics", a->metrics_path);
    CHECK_EQ_STR("https", a->scheme);
    CHECK(a->honor_labels);
    CHECK(!a->honor_timestamps);
    CHECK(a->insecure_skip_verify);
    CHECK_EQ_INT(5000, a->sample_limit);
    CHECK_EQ_STR("scraper", a->basic_user);
    CHECK_EQ_STR("s3cr3t-pw", a->basic_pass);
    CHECK_EQ_INT(2, a->n_params);
    CHECK_EQ_STR("module", a->params[1].name);
    CHECK_EQ_INT(2, a->params[1].n_values);
    CHECK_EQ_STR("b", a->params[1].values[1]);
    CHECK_EQ_INT(1, a->n_relabel);

    CHECK_EQ_STR("tok-123", b->bearer_token);
    CHECK_EQ_STR("Bearer", b->auth_type);
    CHECK_EQ_INT(3, b->n_relabel);

    srv_scrape_target *t = NULL;
    size_t nt = 0;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_scrape_targets(c, &t, &nt, &e));
    CHECK_EQ_INT(6, nt);
    if (nt == 6) {
        char buf[512];
        CHECK_EQ_STR("http://10.0.0.1:9100/metrics", t[0].url);
        sc_labels(&t[0], buf, sizeof buf);
        CHECK_EQ_STR("env=prod,instance=10.0.0.1:9100,job=node", buf);
        CHECK_EQ_INT(15000, t[0].interval_ms);
        CHECK_EQ_INT(5000, t[0].timeout_ms);
        CHECK(t[0].job == n);
        sc_labels(&t[2], buf, sizeof buf);
        CHECK_EQ_STR("instance=10.0.0.3:9100,job=node", buf);
        /* https without a port gets :443 (Prometheus 2.42); params sorted, encoded */
        CHECK_EQ_STR("https://api.example.com:443/internal/metrics?format=prometheus&module=a&module=b", t[3].url);
        sc_labels(&t[3], buf, sizeof buf);
        CHECK_EQ_STR("host=api,instance=api.example.com:443,job=api", buf);
        /* blackbox: __param_target from the address, __address__ rewritten */
        CHECK_EQ_STR("http://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.org", t[4].url);
        sc_labels(&t[4], buf, sizeof buf);
        CHECK_EQ_STR("instance=https://example.org,job=blackbox", buf);
        CHECK_EQ_STR("example.net", sc_lv(&t[5], "instance"));
        CHECK(t[5].job == b);
    }
    srv_scrape_targets_free(t, nt);
    srv_scrape_config_free(c);
}

TEST(test_scrape_config_defaults) {
    srv_scrape_config *c = sc_parse_ok("scrape_configs:\n  - job_name: j\n");
    if (!c) return;
    CHECK_EQ_INT(60000, c->interval_ms);
    CHECK_EQ_INT(10000, c->timeout_ms);
    CHECK_EQ_INT(1, c->n_jobs);
    CHECK_EQ_INT(60000, c->jobs[0].interval_ms);
    CHECK_EQ_INT(10000, c->jobs[0].timeout_ms);
    CHECK_EQ_INT(0, c->jobs[0].sample_limit);
    CHECK(c->jobs[0].honor_timestamps);
    srv_scrape_target *t = (srv_scrape_target *)1;
    size_t nt = 7;
    CHECK_EQ_INT(0, srv_scrape_targets(c, &t, &nt, NULL));
    CHECK_EQ_INT(0, nt);
    CHECK(t == NULL);
    srv_scrape_config_free(c);
    /* timeout defaults to min(global timeout, job interval) */
    c = sc_parse_ok("global: {scrape_timeout: 20s, scrape_interval: 1m}\n"
                    "scrape_configs:\n  - job_name: j\n    scrape_interval: 5s\n  - job_name: k\n");
    if (!c) return;
    CHECK_EQ_INT(5000, c->jobs[0].timeout_ms);
    CHECK_EQ_INT(20000, c->jobs[1].timeout_ms);
    srv_scrape_config_free(c);
    /* empty file, empty sections */
    c = sc_parse_ok("");
    if (c) CHECK_EQ_INT(0, c->n_jobs);
    srv_scrape_config_free(c);
    c = sc_parse_ok("global:\nscrape_configs:\nremote_write: []\nalerting: {}\n");
    if (c) CHECK_EQ_INT(60000, c->interval_ms);
    srv_scrape_config_free(c);
    c = sc_parse_ok("scrape_configs:\n  - job_name: d\n    scrape_interval: 1h30m\n    scrape_timeout: 100ms\n");
    if (c) {
        CHECK_EQ_INT(5400000, c->jobs[0].interval_ms);
        CHECK_EQ_INT(100, c->jobs[0].timeout_ms);
    }
    srv_scrape_config_free(c);
    srv_scrape_config_free(NULL);
    srv_scrape_targets_free(NULL, 0);
}

TEST(test_scrape_config_errors) {
    sc_bad("scrape_configs:\n  - job_name: j\n    static_configs: []\n\n\n\n    scrape_intervall: 5s\n", AX_EINVAL,
           "line 7: scrape_configs[0]: unknown key \"scrape_intervall\"");
    sc_bad("global:\n  scrape_interval: 5 minutes\n", AX_EINVAL, "line 2: global: \"scrape_interval\": not a valid duration");
    sc_bad("global:\n  scrape_interval: 30\n", AX_EINVAL, "not a valid duration");
    sc_bad("global:\n  scrape_interval: 1.5s\n", AX_EINVAL, "not a valid duration");
    sc_bad("global:\n  scrape_interval: -1s\n", AX_EINVAL, "not a valid duration");
    sc_bad("global:\n  scrape_interval: [1s]\n", AX_EINVAL, "\"scrape_interval\" must be a duration, got a list");
    sc_bad("global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n", AX_EINVAL, "global scrape timeout greater");
    sc_bad("scrape_configs:\n  - job_name: j\n    scrape_interval: 5s\n    scrape_timeout: 6s\n", AX_EINVAL,
           "line 2: scrape_configs[0]: scrape timeout greater than scrape interval");
    sc_bad("scrape_configs:\n  - job_name: j\n  - job_name: k\n  - job_name: j\n", AX_EINVAL,
           "line 4: scrape_configs[2]: found multiple scrape configs with job name \"j\"");
    sc_bad("scrape_configs:\n  - scrape_interval: 5s\n", AX_EINVAL, "job_name is missing");
    sc_bad("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - action: explode\n", AX_EINVAL,
           "line 4: scrape_configs[0].relabel_configs[0]: unknown relabel action \"explode\"");
    sc_bad("scrape_configs:\n  - job_name: j\n    metric_relabel_configs:\n      - action: keep\n        regex: '(a'\n",
           AX_EINVAL, "metric_relabel_configs[0]: invalid regex \"(a\"");
    sc_bad("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {action: replace}\n", AX_EINVAL,
           "requires 'target_label'");
    sc_bad("scrape_configs:\n  - job_name: j\n    relabel_configs:\n      - {action: hashmod, target_label: x}\n",
           AX_EINVAL, "non-zero modulus");
    /* wrong types */
    sc_bad("scrape_configs: {a: 1}\n", AX_EINVAL, "line 1: scrape_configs: expected a list, got a mapping");
    sc_bad("scrape_configs:\n  - job_name: [a]\n", AX_EINVAL, "\"job_name\" must be a string, got a list");
    sc_bad("scrape_configs:\n  - job_name: j\n    honor_labels: maybe\n", AX_EINVAL, "\"honor_labels\" must be true or false");
    sc_bad("scrape_configs:\n  - job_name: j\n    sample_limit: -1\n", AX_EINVAL, "\"sample_limit\" must be a non-negative integer");
    sc_bad("scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: a:1\n", AX_EINVAL, "\"targets\" must be a list");
    sc_bad("scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: [a:1]\n        labels: {1x: y}\n",
           AX_EINVAL, "\"1x\" is not a valid label name");
    sc_bad("scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['']\n", AX_EINVAL,
           "line 4: scrape_configs[0].static_configs[0]: empty target address");
    sc_bad("scrape_configs:\n  - job_name: j\n    scheme: ftp\n", AX_EINVAL, "\"scheme\" must be http or https");
    sc_bad("- a\n- b\n", AX_EINVAL, "line 1: expected a mapping, got a list");
    sc_bad("scrape_configs:\n  - job_name: j\n    job_name: k\n", AX_EINVAL, "line 3: scrape_configs[0]: duplicate key \"job_name\"");
    /* unsupported sections and keys */
    sc_bad("remote_write:\n  - url: http://x\n", AX_EINVAL, "line 1: \"remote_write\" is not supported by auspex");
    sc_bad("scrape_configs:\n  - job_name: j\n    kubernetes_sd_configs: []\n", AX_EINVAL,
           "\"kubernetes_sd_configs\" is not supported by auspex");
    sc_bad("scrape_configs:\n  - job_name: j\n    tls_config:\n      ca_file: /x\n", AX_EINVAL,
           "line 4: scrape_configs[0].tls_config: \"ca_file\" is not supported by auspex");
    sc_bad("global:\n  query_log_file: x\n", AX_EINVAL, "line 2: global: unknown key \"query_log_file\"");
    sc_bad("bogus: 1\n", AX_EINVAL, "line 1: unknown key \"bogus\"");
    /* YAML syntax */
    sc_bad("scrape_configs:\n  - job_name: j\n   bad indent: [\n", AX_EINVAL, "YAML syntax error");
    sc_bad("a: [1, 2\n", AX_EINVAL, "line ");
    sc_bad("x: &a {b: 1}\ny: *a\n", AX_EINVAL, "line 2: YAML aliases are not supported");
    sc_bad("a: 1\n---\nb: 2\n", AX_EINVAL, "only one YAML document");
    /* auth conflicts */
    sc_bad("scrape_configs:\n  - job_name: j\n    bearer_token: tok-1\n    basic_auth: {username: u, password: s3cr3t}\n",
           AX_EINVAL, "at most one of basic_auth");
    sc_bad("scrape_configs:\n  - job_name: j\n    authorization: {type: Basic, credentials: s3cr3t}\n", AX_EINVAL,
           "use \"basic_auth\" instead");
    sc_bad("scrape_configs:\n  - job_name: j\n    basic_auth: {username: u, password: s3cr3t, password_file: f}\n",
           AX_EINVAL, "at most one of basic_auth password & password_file");
    sc_bad("scrape_configs:\n  - job_name: j\n    basic_auth: {username: u, pasword: s3cr3t}\n", AX_EINVAL,
           "unknown key \"pasword\"");
    sc_bad("scrape_configs:\n  - job_name: j\n    bearer_token_file: /nonexistent/auspex-token\n", AX_EIO,
           "cannot read bearer_token_file \"/nonexistent/auspex-token\"");
    /* secrets of a wrong shape are not echoed */
    sc_bad("scrape_configs:\n  - job_name: j\n    bearer_token: [tok-9]\n", AX_EINVAL, "\"bearer_token\" must be a string");
    /* deep nesting */
    char deep[400];
    size_t o = 0;
    for (int i = 0; i < 100; i++) deep[o++] = '[';
    deep[o] = 0;
    sc_bad(deep, AX_EINVAL, "line 1: ");
}

TEST(test_scrape_config_limits) {
    char *big = malloc(SRV_SCRAPE_MAX_CONFIG + 2);
    memset(big, '#', SRV_SCRAPE_MAX_CONFIG + 1);
    big[SRV_SCRAPE_MAX_CONFIG + 1] = 0;
    srv_scrape_config *c = NULL;
    CHECK_EQ_INT(AX_ETOOBIG, srv_scrape_config_parse(big, SRV_SCRAPE_MAX_CONFIG + 1, &c, NULL));
    free(big);
    /* more than SRV_SCRAPE_MAX_TARGETS targets */
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    ax_buf_append_str(&b, "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets:\n");
    for (int i = 0; i <= SRV_SCRAPE_MAX_TARGETS; i++) ax_buf_printf(&b, "        - h%d:80\n", i);
    ax_err e = {0};
    CHECK_EQ_INT(AX_ELIMIT, srv_scrape_config_parse((const char *)b.data, b.len, &c, &e));
    CHECK(strstr(e.msg, "more than 10000 targets") != NULL);
    ax_buf_free(&b);
}

TEST(test_scrape_config_truncations_do_not_crash) {
    size_t n = strlen(sc_full);
    for (size_t i = 0; i <= n; i++) {
        char *copy = malloc(i ? i : 1);
        memcpy(copy, sc_full, i);
        srv_scrape_config *c = NULL;
        ax_err e = {0};
        int rc = srv_scrape_config_parse(copy, i, &c, &e);
        free(copy);
        if (rc) {
            if (rc > 0 || !e.msg[0]) FAILF("length %zu: rc %d without a message", i, rc);
            if (strstr(e.msg, "s3cr3t") || strstr(e.msg, "tok-123")) FAILF("length %zu: secret in \"%s\"", i, e.msg);
            continue;
        }
        srv_scrape_target *t = NULL;
        size_t nt = 0;
        if (srv_scrape_targets(c, &t, &nt, NULL) == 0) srv_scrape_targets_free(t, nt);
        srv_scrape_config_free(c);
    }
}

TEST(test_scrape_config_secret_files) {
    char dir[] = "/tmp/auspex-sc-XXXXXX";
    if (!mkdtemp(dir)) { FAILF("mkdtemp"); return; }
    char p[256];
    snprintf(p, sizeof p, "%s/pw", dir);
    FILE *f = fopen(p, "w");
    fputs("  file-s3cr3t\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/tok", dir);
    f = fopen(p, "w");
    fputs("tok-file\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/prometheus.yml", dir);
    f = fopen(p, "w");
    fputs("scrape_configs:\n"
          "  - job_name: a\n    basic_auth: {username: u, password_file: pw}\n"
          "  - job_name: b\n    bearer_token_file: tok\n"
          "  - job_name: c\n    authorization: {type: Token, credentials_file: tok}\n", f);
    fclose(f);
    srv_scrape_config *c = NULL;
    ax_err e = {0};
    int rc = srv_scrape_config_load(p, &c, &e);
    CHECK_EQ_INT(0, rc);
    if (!rc) {
        CHECK_EQ_STR("file-s3cr3t", c->jobs[0].basic_pass);
        CHECK_EQ_STR("tok-file", c->jobs[1].bearer_token);
        CHECK_EQ_STR("Bearer", c->jobs[1].auth_type);
        CHECK_EQ_STR("tok-file", c->jobs[2].bearer_token);
        CHECK_EQ_STR("Token", c->jobs[2].auth_type);
        srv_scrape_config_free(c);
    }
    snprintf(p, sizeof p, "%s/missing.yml", dir);
    CHECK_EQ_INT(AX_EIO, srv_scrape_config_load(p, &c, &e));
    const char *names[] = {"pw", "tok", "prometheus.yml"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

TEST(test_scrape_targets_relabel) {
    srv_scrape_config *c = sc_parse_ok(
        "scrape_configs:\n"
        "  - job_name: r\n"
        "    scrape_interval: 10s\n"
        "    static_configs:\n"
        "      - targets: [a:1, b:2, c:3, d:4, a:1, 'e']\n"
        "        labels: {team: x, __meta_z: q}\n"
        "    relabel_configs:\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'b:.*'\n"
        "        action: drop\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'c:(.*)'\n"
        "        target_label: __address__\n"
        "        replacement: 'c.internal:$1'\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'd:.*'\n"
        "        target_label: __address__\n"
        "        replacement: ''\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'a:1'\n"
        "        target_label: __scrape_interval__\n"
        "        replacement: 5s\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'a:1'\n"
        "        target_label: __scrape_timeout__\n"
        "        replacement: 2s\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'e.*'\n"
        "        target_label: instance\n"
        "        replacement: custom\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'e.*'\n"
        "        target_label: __param_x\n"
        "        replacement: 'a b&c'\n"
        "      - source_labels: [__address__]\n"
        "        regex: 'e.*'\n"
        "        target_label: __metrics_path__\n"
        "        replacement: '/m p'\n");
    if (!c) return;
    srv_scrape_target *t = NULL;
    size_t nt = 0;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_scrape_targets(c, &t, &nt, &e));
    CHECK_EQ_INT(3, nt); /* a (once), c rewritten, e; b dropped, d emptied */
    if (nt == 3) {
        char buf[512];
        CHECK_EQ_STR("http://a:1/metrics", t[0].url);
        CHECK_EQ_INT(5000, t[0].interval_ms);
        CHECK_EQ_INT(2000, t[0].timeout_ms);
        sc_labels(&t[0], buf, sizeof buf);
        CHECK_EQ_STR("instance=a:1,job=r,team=x", buf);
        CHECK_EQ_STR("http://c.internal:3/metrics", t[1].url);
        CHECK_EQ_STR("c.internal:3", sc_lv(&t[1], "instance"));
        CHECK_EQ_INT(10000, t[1].interval_ms);
        CHECK_EQ_STR("http://e:80/m%20p?x=a+b%26c", t[2].url);
        CHECK_EQ_STR("custom", sc_lv(&t[2], "instance"));
    }
    srv_scrape_targets_free(t, nt);
    srv_scrape_config_free(c);
    /* a static label overrides job, drop-all yields no targets */
    c = sc_parse_ok("scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: [h:1]\n        labels: {job: other}\n"
                    "  - job_name: k\n    static_configs: [{targets: [h:2]}]\n    relabel_configs: [{action: drop}]\n"
                    "  - job_name: slash\n    static_configs: [{targets: ['http://h:4/x']}]\n"
                    "  - job_name: bad\n    static_configs: [{targets: [h:3]}]\n"
                    "    relabel_configs: [{target_label: __scrape_timeout__, replacement: 2m}]\n"
                    "  - job_name: plain\n    static_configs: [{targets: [h:5]}]\n"
                    "    relabel_configs: [{target_label: __scrape_interval__, replacement: '30'}]\n");
    if (!c) return;
    CHECK_EQ_INT(0, srv_scrape_targets(c, &t, &nt, &e));
    CHECK_EQ_INT(1, nt);
    if (nt == 1) CHECK_EQ_STR("other", sc_lv(&t[0], "job"));
    srv_scrape_targets_free(t, nt);
    srv_scrape_config_free(c);
}

TEST(test_scrape_duration_fmt) {
    char b[64];
    srv_duration_fmt(b, 60000);
    CHECK_EQ_STR("1m", b);
    srv_duration_fmt(b, 5400000);
    CHECK_EQ_STR("1h30m", b);
    srv_duration_fmt(b, 100);
    CHECK_EQ_STR("100ms", b);
    srv_duration_fmt(b, 0);
    CHECK_EQ_STR("0s", b);
    srv_duration_fmt(b, 8 * 86400000LL);
    CHECK_EQ_STR("8d", b);
    srv_duration_fmt(b, 14 * 86400000LL);
    CHECK_EQ_STR("2w", b);
}

TEST(test_relabel_parse_yaml) {
    const char *y = "- source_labels: [a]\n  target_label: b\n- action: labeldrop\n  regex: tmp.*\n";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_relabel *r = NULL;
    size_t n = 0;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_relabel_parse_yaml(y, strlen(y), &a, &r, &n, &e));
    CHECK_EQ_INT(2, n);
    if (n == 2) CHECK_EQ_INT(SRV_RELABEL_LABELDROP, r[1].action);
    srv_relabel_fini(r, n);
    free(r);
    CHECK_EQ_INT(AX_EINVAL, srv_relabel_parse_yaml("- action: nope\n", 15, &a, &r, &n, &e));
    CHECK(strstr(e.msg, "line 1: relabel_configs[0]: unknown relabel action") != NULL);
    ax_arena_clear(&a);
}

/* Prometheus cuts the default 10s global timeout to a shorter global interval, but an
 * explicit timeout longer than the interval is an error (tested above). */
TEST(test_scrape_config_global_timeout_default_cut) {
    srv_scrape_config *c = sc_parse_ok("global:\n  scrape_interval: 500ms\nscrape_configs:\n  - job_name: j\n");
    if (!c) return;
    CHECK_EQ_INT(500, c->timeout_ms);
    CHECK_EQ_INT(500, c->jobs[0].timeout_ms);
    srv_scrape_config_free(c);
    c = sc_parse_ok("global:\n  scrape_interval: 30s\nscrape_configs:\n  - job_name: j\n    scrape_interval: 2s\n");
    if (!c) return;
    CHECK_EQ_INT(10000, c->timeout_ms);
    CHECK_EQ_INT(2000, c->jobs[0].timeout_ms);
    srv_scrape_config_free(c);
}
