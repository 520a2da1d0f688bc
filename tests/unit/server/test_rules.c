/* Unit tests for server/rules.c (and server/yaml_tree.c through it): a valid file with
 * every key, the defaults and the shorthand, each check failing with its line, rule and
 * field, malformed and truncated YAML, limits, unknown keys, duplicates, bad PromQL, bad
 * windows, and the secret_env value kept out of every message.
 * Static helpers are prefixed rl_ (this file shares unit_server with other test files). */
#include "server/rules.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define RL_SECRET "s3cr3t-VALUE-never-shown"

static const char *rl_full =
    "webhooks:\n"                                                       /* 1 */
    "  - name: scaler\n"                                                /* 2 */
    "    url: http://127.0.0.1:8080/scale\n"                            /* 3 */
    "    format: slack\n"                                               /* 4 */
    "    secret_env: RL_TEST_SECRET\n"                                  /* 5 */
    "    timeout: 5s\n"                                                 /* 6 */
    "    max_tries: 3\n"                                                /* 7 */
    "  - name: plain\n"                                                 /* 8 */
    "    url: https://example.com/hook\n"                               /* 9 */
    "rules:\n"                                                          /* 10 */
    "  - name: web-cpu\n"                                               /* 11 */
    "    signals:\n"                                                    /* 12 */
    "      - name: cpu\n"                                               /* 13 */
    "        expr: 'avg(100 * (1 - rate(node_cpu_seconds_total{mode=\"idle\"}[5m])))'\n"
    "        scale_up_at: 80\n"
    "        scale_down_at: 20\n"
    "      - name: conns\n"
    "        expr: sum(http_connections)\n"
    "        scale_up_at: 1000\n"
    "    history: 7d\n"
    "    step: 10m\n"
    "    horizon: 6h\n"
    "    model: holt_winters\n"
    "    coverage: 0.9\n"
    "    every: 15m\n"
    "    safety_margin: 0.15\n"
    "    lead_time: 30m\n"
    "    cooldown: 1h\n"
    "    smoothing: 1h\n"
    "    capacity: {current: 'count(up{job=\"app\"})', min: 2, max: 20, target_per_unit: 70}\n"
    "    scale_down_window: \"22:00-04:00\"\n"
    "    timezone: \"+02:00\"\n"
    "    mode: approve\n"
    "    actions: [{webhook: plain}, {exec: [\"/usr/local/bin/scale.sh\", \"{{desired}}\", \"--rule={{rule}}\"]}]\n"
    "  - name: short_1\n"
    "    expr: up\n"
    "    scale_up_at: 0.5\n"
    "    capacity: {current: 3, max: 10, target_per_unit: 1}\n";

static int rl_parse(const char *y, srv_rules **out, ax_err *e) { return srv_rules_parse(y, strlen(y), out, e); }

TEST(test_rules_full) {
    setenv("RL_TEST_SECRET", RL_SECRET, 1);
    srv_rules *r = NULL;
    ax_err e = {0};
    int rc = rl_parse(rl_full, &r, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) { fprintf(stderr, "  %s\n", e.msg); return; }
    CHECK_EQ_U64(2, r->n_webhooks);
    CHECK_EQ_STR("scaler", r->webhooks[0].name);
    CHECK_EQ_INT(SRV_WH_SLACK, r->webhooks[0].format);
    CHECK_EQ_STR(RL_SECRET, r->webhooks[0].secret);
    CHECK_EQ_STR("RL_TEST_SECRET", r->webhooks[0].secret_env);
    CHECK_EQ_INT(5000, (int)r->webhooks[0].timeout_ms);
    CHECK_EQ_INT(3, (int)r->webhooks[0].max_tries);
    CHECK_EQ_INT(SRV_WH_JSON, r->webhooks[1].format);
    CHECK_EQ_INT(10000, (int)r->webhooks[1].timeout_ms);
    CHECK_EQ_INT(8, (int)r->webhooks[1].max_tries);
    CHECK(r->webhooks[1].secret == NULL);
    CHECK_EQ_U64(2, r->n_rules);
    const srv_rule *w = &r->rules[0];
    CHECK_EQ_STR("web-cpu", w->name);
    CHECK_EQ_U64(2, w->n_signals);
    CHECK_EQ_STR("cpu", w->signals[0].name);
    CHECK_EQ_DBL(80, w->signals[0].up_at);
    CHECK_EQ_DBL(20, w->signals[0].down_at);
    CHECK(isnan(w->signals[1].down_at));
    CHECK_EQ_STR("sum(http_connections)", w->signals[1].expr);
    CHECK_EQ_DBL(600, w->cfg.step_s);
    CHECK_EQ_U64(36, w->cfg.horizon);
    CHECK_EQ_DBL(1800, w->cfg.lead_s);
    CHECK_EQ_DBL(3600, w->cfg.cooldown_s);
    CHECK_EQ_DBL(0.15, w->cfg.margin);
    CHECK_EQ_U64(6, w->cfg.smooth);
    CHECK_EQ_DBL(2, w->cfg.cap_min);
    CHECK_EQ_DBL(20, w->cfg.cap_max);
    CHECK_EQ_DBL(70, w->cfg.target);
    CHECK_EQ_INT(22 * 60, w->cfg.down_from_min);
    CHECK_EQ_INT(4 * 60, w->cfg.down_to_min);
    CHECK_EQ_INT(120, w->cfg.tz_offset_min);
    CHECK_EQ_INT(FC_ETS, w->cfg.fopts.model);
    CHECK_EQ_DBL(0.9, w->cfg.fopts.coverage);
    CHECK_EQ_DBL(600, w->cfg.fopts.step_s);
    CHECK_EQ_INT(900000, (int)w->every_ms);
    CHECK_EQ_STR("count(up{job=\"app\"})", w->cap_query);
    CHECK_EQ_INT(SRV_MODE_APPROVE, w->mode);
    CHECK_EQ_U64(2, w->n_actions);
    CHECK_EQ_INT(SRV_ACT_WEBHOOK, w->actions[0].kind);
    CHECK_EQ_U64(1, w->actions[0].webhook);
    CHECK_EQ_INT(SRV_ACT_EXEC, w->actions[1].kind);
    CHECK_EQ_U64(3, w->actions[1].argc);
    CHECK_EQ_STR("--rule={{rule}}", w->actions[1].argv[2]);
    CHECK_EQ_INT(60000, w->actions[1].timeout_ms);
    /* defaults and the shorthand */
    const srv_rule *s = &r->rules[1];
    CHECK_EQ_U64(1, s->n_signals);
    CHECK_EQ_STR("short_1", s->signals[0].name);
    CHECK_EQ_STR("up", s->signals[0].expr);
    CHECK(isnan(s->signals[0].down_at));
    CHECK_EQ_DBL(300, s->cfg.step_s);
    CHECK_EQ_U64(48, s->cfg.horizon);
    CHECK(s->history_ms == 14 * 86400000LL);
    CHECK_EQ_DBL(0, s->cfg.lead_s);
    CHECK_EQ_DBL(1800, s->cfg.cooldown_s);
    CHECK_EQ_DBL(0.1, s->cfg.margin);
    CHECK_EQ_U64(0, s->cfg.smooth);
    CHECK_EQ_DBL(1, s->cfg.cap_min);
    CHECK_EQ_DBL(3, s->cap_current);
    CHECK(s->cap_query == NULL);
    CHECK_EQ_INT(-1, s->cfg.down_from_min);
    CHECK_EQ_INT(0, s->cfg.tz_offset_min);
    CHECK_EQ_INT(FC_AUTO, s->cfg.fopts.model);
    CHECK_EQ_DBL(0.8, s->cfg.fopts.coverage);
    CHECK_EQ_INT(SRV_MODE_AUTO, s->mode);
    CHECK_EQ_U64(0, s->n_actions);
    srv_rules_free(r);
    /* empty file: no rules */
    CHECK_EQ_INT(0, rl_parse("", &r, &e));
    CHECK_EQ_U64(0, r->n_rules);
    srv_rules_free(r);
}

#define RL_HEAD "rules:\n  - name: r1\n    expr: up\n    scale_up_at: 80\n"
#define RL_CAP "    capacity: {current: 1, max: 10, target_per_unit: 50}\n"

/* Each case: YAML, and a substring the message must contain (line + rule + field). */
static const struct { const char *y, *msg; } rl_bad[] = {
    {RL_HEAD RL_CAP "    history: 1d\n    horizon: 5d\n",
     "line 7: rule \"r1\": horizon (5d) is longer than history (1d)"},
    {RL_HEAD RL_CAP "    scale_down_at: 90\n", "line 6: rule \"r1\": scale_down_at (90) must be less than scale_up_at (80)"},
    {RL_HEAD "    capacity: {current: 1, min: 5, max: 2, target_per_unit: 50}\n",
     "line 5: rule \"r1\": capacity.min (5) is more than capacity.max (2)"},
    {RL_HEAD RL_CAP "    lead_time: 4h\n", "line 6: rule \"r1\": lead_time (4h) must be shorter than horizon (4h)"},
    {RL_HEAD RL_CAP "    step: 1s\n", "line 6: rule \"r1\": history / step is more than 20000 steps"},
    {RL_HEAD RL_CAP "    step: 0\n", "line 6: rule \"r1\": step must be more than 0"},
    {RL_HEAD RL_CAP "    horizon: 4 hours\n", "line 6: rule \"r1\": horizon: not a valid duration"},
    {RL_HEAD RL_CAP "    horizon: 300\n", "line 6: rule \"r1\": horizon: not a valid duration"},
    {RL_HEAD RL_CAP "    safety_margin: 1.5\n", "line 6: rule \"r1\": safety_margin (1.5) must be in 0..1"},
    {RL_HEAD RL_CAP "    coverage: 1\n", "line 6: rule \"r1\": coverage (1) must be between 0 and 1"},
    {RL_HEAD RL_CAP "    model: prophet2\n", "line 6: rule \"r1\": model must be one of"},
    {RL_HEAD RL_CAP "    mode: yolo\n", "line 6: rule \"r1\": mode must be one of auto|approve|dry_run"},
    {RL_HEAD RL_CAP "    scale_down_window: \"25:00-04:00\"\n", "line 6: rule \"r1\": scale_down_window must be"},
    {RL_HEAD RL_CAP "    scale_down_window: \"2-4\"\n", "line 6: rule \"r1\": scale_down_window must be"},
    {RL_HEAD RL_CAP "    scale_down_window: \"02:00-02:00\"\n", "line 6: rule \"r1\": scale_down_window is empty"},
    {RL_HEAD RL_CAP "    timezone: Europe/Paris\n", "line 6: rule \"r1\": timezone must be"},
    {RL_HEAD RL_CAP "    scale_up_att: 3\n", "line 6: rule \"r1\": unknown key \"scale_up_att\""},
    {RL_HEAD "    capacity: {current: 1, max: 10, target_per_unit: 50, maxx: 3}\n",
     "line 5: rule \"r1\": capacity: unknown key \"maxx\""},
    {RL_HEAD "    capacity: {current: 1, max: 10, target_per_unit: 0}\n",
     "line 5: rule \"r1\": capacity.target_per_unit must be more than 0"},
    {RL_HEAD "    capacity: {current: 1, target_per_unit: 3}\n", "line 5: rule \"r1\": capacity.max is required"},
    {RL_HEAD "    capacity: {current: 'sum(', max: 3, target_per_unit: 3}\n",
     "line 5: rule \"r1\": capacity.current: invalid PromQL"},
    {RL_HEAD, "line 2: rule \"r1\": capacity is required"},
    {"rules:\n  - name: r1\n    expr: 'rate(x[5m]'\n    scale_up_at: 1\n" RL_CAP, "line 3: rule \"r1\": expr: invalid PromQL"},
    {"rules:\n  - name: r1\n    expr: 'x[5m]'\n    scale_up_at: 1\n" RL_CAP,
     "line 3: rule \"r1\": expr: PromQL must be an instant vector or scalar"},
    {"rules:\n  - name: r1\n    scale_up_at: 1\n" RL_CAP, "line 2: rule \"r1\": expr (or signals) is required"},
    {"rules:\n  - name: r1\n    expr: up\n" RL_CAP, "line 2: rule \"r1\": scale_up_at is required"},
    {"rules:\n  - name: r1\n    expr: up\n    scale_up_at: high\n" RL_CAP, "line 4: rule \"r1\": scale_up_at must be a number"},
    {"rules:\n  - name: 'web cpu'\n", "line 2: rules[0]: name must match"},
    {"rules:\n  - expr: up\n", "line 2: rules[0]: name is required"},
    {RL_HEAD RL_CAP "  - name: r1\n    expr: up\n    scale_up_at: 1\n" RL_CAP,
     "line 6: rule \"r1\": name: duplicate rule name"},
    {RL_HEAD RL_CAP "    signals: [{name: a, expr: up, scale_up_at: 1}]\n", "line 6: rule \"r1\": signals: use either"},
    {"rules:\n  - name: r1\n    signals:\n      - {name: a, expr: up, scale_up_at: 1}\n"
     "      - {name: a, expr: up, scale_up_at: 2}\n" RL_CAP,
     "line 5: rule \"r1\": signals[1]: duplicate signal name"},
    {"rules:\n  - name: r1\n    signals:\n      - {name: a, expr: up, scale_up_at: 1, scale_down_at: 1}\n" RL_CAP,
     "line 4: rule \"r1\": signals[0]: scale_down_at (1) must be less than scale_up_at (1)"},
    {"rules:\n  - name: r1\n    signals:\n      - {name: a, expr: up}\n" RL_CAP,
     "line 4: rule \"r1\": signals[0]: scale_up_at is required"},
    {RL_HEAD RL_CAP "    actions: [{webhook: nope}]\n", "line 6: rule \"r1\": actions[0]: webhook \"nope\" is not defined"},
    {RL_HEAD RL_CAP "    actions: [{exec: [scale.sh]}]\n", "line 6: rule \"r1\": actions[0]: exec: the program must be an absolute path"},
    {RL_HEAD RL_CAP "    actions: [{exec: [/bin/x, '{{desire}}']}]\n",
     "line 6: rule \"r1\": actions[0]: exec[1]: unknown template \"{{desire}}\""},
    {RL_HEAD RL_CAP "    actions: [{exec: [/bin/x, '{{desired']}]\n", "line 6: rule \"r1\": actions[0]: exec[1]: unterminated"},
    {RL_HEAD RL_CAP "    actions: [{shell: 'rm -rf /'}]\n", "line 6: rule \"r1\": actions[0]: unknown key \"shell\""},
    {RL_HEAD RL_CAP "    actions: [{exec: [/bin/x], timeout: 0}]\n", "line 6: rule \"r1\": actions[0]: timeout must be more than 0"},
    {RL_HEAD RL_CAP "    actions: [{exec: [/bin/x], timeout: 5}]\n", "line 6: rule \"r1\": actions[0]: timeout"},
    {RL_HEAD RL_CAP "    actions: [{webhook: x, timeout: 5s}]\n", "line 6: rule \"r1\": actions[0]: an action has exactly one key"},
    {RL_HEAD RL_CAP "    actions: [{exec: [/bin/x], retries: 5}]\n", "line 6: rule \"r1\": actions[0]: an action has exactly one key"},
    {"webhooks:\n  - name: a\n    url: ftp://x\n", "line 3: webhook \"a\": url must be an http:// or https:// URL"},
    {"webhooks:\n  - name: a\n", "line 2: webhook \"a\": url is required"},
    {"webhooks:\n  - name: a\n    url: http://x\n    format: xml\n", "line 4: webhook \"a\": format must be one of json|slack|dingtalk|alertmanager"},
    {"webhooks:\n  - {name: a, url: 'http://x'}\n  - {name: a, url: 'http://y'}\n", "line 3: webhook \"a\": name: duplicate webhook name"},
    {"webhooks:\n  - {name: a, url: 'http://x', max_tries: 0}\n", "line 2: webhook \"a\": max_tries must be an integer in 1..100"},
    {"webhooks:\n  - {name: a, url: 'http://x', token: abc}\n", "line 2: webhook \"a\": unknown key \"token\""},
    {"webhooks:\n  - {name: a, url: 'http://x', secret_env: RL_UNSET_VAR_XYZ}\n",
     "line 2: webhook \"a\": secret_env: environment variable RL_UNSET_VAR_XYZ is not set"},
    {"alerting: {}\n", "line 1: unknown key \"alerting\""},
    {"rules: {}\n", "line 1: rules must be a list"},
    {"rules:\n  - name: r1\n  - name: r1\n    oops\n", "line 5: YAML syntax error"},
    {"rules: [\n", "YAML syntax error"},
    {"a: &x 1\nb: *x\n", "aliases are not supported"},
    {"rules: []\n---\nrules: []\n", "only one YAML document"},
};

TEST(test_rules_errors) {
    for (size_t i = 0; i < sizeof rl_bad / sizeof *rl_bad; i++) {
        srv_rules *r = NULL;
        ax_err e = {0};
        int rc = rl_parse(rl_bad[i].y, &r, &e);
        if (rc != AX_EINVAL || !strstr(e.msg, rl_bad[i].msg)) {
            FAILF("case %zu: rc %d, message \"%s\", want \"%s\"", i, rc, e.msg, rl_bad[i].msg);
            srv_rules_free(r);
        }
        if (strncmp(e.msg, "line ", 5)) FAILF("case %zu: message does not start with line: %s", i, e.msg);
    }
}

TEST(test_rules_secret_never_in_messages) {
    setenv("RL_TEST_SECRET", RL_SECRET, 1);
    /* every truncation of the full file, and each with one byte changed */
    size_t n = strlen(rl_full);
    char *buf = malloc(n + 1);
    for (size_t cut = 0; cut <= n; cut++) {
        memcpy(buf, rl_full, n + 1);
        srv_rules *r = NULL;
        ax_err e = {0};
        int rc = srv_rules_parse(buf, cut, &r, &e);
        if (rc) {
            if (rc != AX_EINVAL || strncmp(e.msg, "line ", 5)) FAILF("cut %zu: rc %d %s", cut, rc, e.msg);
            if (strstr(e.msg, RL_SECRET)) FAILF("cut %zu: secret in message", cut);
        }
        srv_rules_free(r);
        if (cut < n) {
            buf[cut] = buf[cut] == ':' ? ' ' : ':';
            r = NULL;
            rc = srv_rules_parse(buf, n, &r, &e);
            if (rc && strstr(e.msg, RL_SECRET)) FAILF("flip %zu: secret in message", cut);
            srv_rules_free(r);
        }
    }
    free(buf);
    /* a secret put where a name goes is refused without echoing it */
    srv_rules *r = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, rl_parse("webhooks:\n  - {name: a, url: 'http://x', secret_env: 's3cr3t-VALUE never shown'}\n", &r, &e));
    CHECK(strstr(e.msg, "secret_env must name an environment variable") != NULL);
    CHECK(strstr(e.msg, "s3cr3t") == NULL);
}

TEST(test_rules_limits) {
    srv_rules *r = NULL;
    ax_err e = {0};
    size_t n = SRV_RULES_MAX_FILE + 1;
    char *big = malloc(n);
    memset(big, '#', n);
    CHECK_EQ_INT(AX_ETOOBIG, srv_rules_parse(big, n, &r, &e));
    free(big);
    char deep[400] = "rules: ";
    for (int i = 0; i < 100; i++) strcat(deep, "[");
    CHECK_EQ_INT(AX_EINVAL, rl_parse(deep, &r, &e));
    CHECK(strstr(e.msg, "nested too deeply") != NULL);
}

TEST(test_rules_load_names_file) {
    char path[] = "/tmp/rules_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *y = RL_HEAD RL_CAP "    history: 1d\n    horizon: 5d\n";
    CHECK_EQ_INT((int)strlen(y), (int)write(fd, y, strlen(y)));
    close(fd);
    srv_rules *r = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, srv_rules_load(path, &r, &e));
    char want[200];
    snprintf(want, sizeof want, "%s: line 7: rule \"r1\": horizon (5d) is longer than history (1d)", strrchr(path, '/') + 1);
    CHECK_EQ_STR(want, e.msg);
    unlink(path);
    CHECK_EQ_INT(AX_EIO, srv_rules_load("/nonexistent/rules.yml", &r, &e));
}
