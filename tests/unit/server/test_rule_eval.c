/* Unit tests for server/rule_eval.c: an engine in a temp folder with two cpu series and two
 * instance counts on a 1-minute grid; rules from YAML. Checked: the grid ends at t1 exactly,
 * several series are merged by max (signal) and by sum (capacity), a signal without data
 * is all NaN, a scalar signal fills every point, a fixed capacity, the message of a query
 * that fails to execute, and the data folder lock (engine/ingest.c) on a second open. */
#include "engine/engine.h"
#include "server/rule_eval.h"
#include "server/rules.h"
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1699999980000LL /* a whole minute */
#define MIN 60000LL

static int put(eng *e, const char *name, const char *host, size_t n, double base, double slope) {
    ax_label ls[2] = {{"__name__", name, 8, (uint32_t)strlen(name)},
                      {"host", host, 4, (uint32_t)strlen(host)}};
    eng_sample s[32];
    for (size_t i = 0; i < n && i < 32; i++) {
        s[i].ts = T0 + (int64_t)i * MIN;
        s[i].v = base + slope * (double)i;
    }
    eng_ts ts = {ls, 2, s, n < 32 ? n : 32};
    ax_err err = {0};
    int rc = eng_write(e, &ts, 1, &err);
    if (rc) FAILF("eng_write: %s", err.msg);
    return rc;
}

static const char RULES[] =
    "rules:\n"
    "  - name: multi\n"
    "    signals:\n"
    "      - {name: cpu, expr: 'cpu', scale_up_at: 8}\n"
    "      - {name: none, expr: 'nope_metric', scale_up_at: 8}\n"
    "      - {name: k, expr: '2 * 3', scale_up_at: 8}\n"
    "    history: 1h\n"
    "    step: 1m\n"
    "    horizon: 10m\n"
    "    capacity: {current: 'inst', max: 40, target_per_unit: 5}\n"
    "  - name: fixed\n"
    "    expr: 'cpu{host=\"a\"}'\n"
    "    scale_up_at: 8\n"
    "    history: 1h\n"
    "    step: 1m\n"
    "    horizon: 10m\n"
    "    capacity: {current: 4, max: 40, target_per_unit: 5}\n"
    "  - name: bad\n"
    "    expr: 'label_replace(cpu, \"host\", \"x\", \"\", \"\")'\n"
    "    scale_up_at: 8\n"
    "    history: 1h\n"
    "    step: 1m\n"
    "    horizon: 10m\n"
    "    capacity: {current: 4, max: 40, target_per_unit: 5}\n";

TEST(test_rule_eval_grid_merge_capacity_and_errors) {
    char dir[] = "/tmp/auspex-rule-eval-XXXXXX";
    if (!mkdtemp(dir)) { FAILF("mkdtemp"); return; }
    eng_opts eo = {.path = dir, .nosync = true};
    eng *e = NULL;
    ax_err err = {0};
    if (eng_open(&eo, &e, &err)) { FAILF("eng_open: %s", err.msg); test_rm_rf(dir); return; }
    /* cpu{a} = i, cpu{b} = 10 - i, inst{a} = 2, inst{b} = 3 at T0 + i minutes, i < 21 */
    put(e, "cpu", "a", 21, 0, 1);
    put(e, "cpu", "b", 21, 10, -1);
    put(e, "inst", "a", 21, 2, 0);
    put(e, "inst", "b", 21, 3, 0);

    srv_rules *rs = NULL;
    if (srv_rules_parse(RULES, sizeof RULES - 1, &rs, &err)) {
        FAILF("srv_rules_parse: %s", err.msg);
        eng_close(e);
        test_rm_rf(dir);
        return;
    }
    CHECK_EQ_U64(3, rs->n_rules);

    /* [T0 + 30s, T0 + 10m]: 10 points ending at T0 + 10m, so starting at T0 + 1m */
    srv_rule_data d = {0};
    pql_opts o = {0};
    CHECK_EQ_INT(0, srv_rule_eval(e, &rs->rules[0], T0 + 30000, T0 + 10 * MIN, &o, &d, &err));
    CHECK_EQ_U64(10, d.n);
    CHECK_EQ_INT(T0 + MIN, d.t0_ms);
    CHECK_EQ_INT(MIN, d.step_ms);
    CHECK_EQ_U64(3, d.n_signals);
    for (size_t i = 0; i < d.n && d.sig; i++) {
        double k = (double)(i + 1), want = k > 10 - k ? k : 10 - k;
        if (d.sig[0][i] != want) FAILF("cpu[%zu]: expected %g, got %g", i, want, d.sig[0][i]);
        if (!isnan(d.sig[1][i])) FAILF("none[%zu]: expected NaN, got %g", i, d.sig[1][i]);
        if (d.sig[2][i] != 6) FAILF("k[%zu]: expected 6, got %g", i, d.sig[2][i]);
        if (d.cap[i] != 5) FAILF("cap[%zu]: expected 5, got %g", i, d.cap[i]);
    }
    CHECK_EQ_STR("signal cpu: 2 series, their max; capacity: 2 series, summed", d.note);
    srv_rule_data_free(&d);
    srv_rule_data_free(&d); /* a zeroed struct is fine */

    /* an exact multiple: t0 is the first point; fixed capacity everywhere */
    CHECK_EQ_INT(0, srv_rule_eval(e, &rs->rules[1], T0, T0 + 5 * MIN, NULL, &d, &err));
    CHECK_EQ_U64(6, d.n);
    CHECK_EQ_INT(T0, d.t0_ms);
    for (size_t i = 0; i < d.n && d.cap; i++) {
        if (d.cap[i] != 4) FAILF("cap[%zu]: expected 4, got %g", i, d.cap[i]);
        if (d.sig[0][i] != (double)i) FAILF("sig[%zu]: expected %zu, got %g", i, i, d.sig[0][i]);
    }
    CHECK_EQ_STR("", d.note);
    srv_rule_data_free(&d);

    /* one point when t0 == t1; t1 < t0 refused */
    CHECK_EQ_INT(0, srv_rule_eval(e, &rs->rules[1], T0 + 3 * MIN, T0 + 3 * MIN, NULL, &d, &err));
    CHECK_EQ_U64(1, d.n);
    if (d.sig) CHECK_EQ_DBL(3.0, d.sig[0][0]);
    srv_rule_data_free(&d);
    CHECK_EQ_INT(AX_EINVAL, srv_rule_eval(e, &rs->rules[1], T0 + MIN, T0, NULL, &d, &err));

    /* an execution error names the rule and the signal; *out untouched */
    d.n = 77;
    err.msg[0] = 0;
    CHECK_EQ_INT(AX_EINVAL, srv_rule_eval(e, &rs->rules[2], T0, T0 + 5 * MIN, NULL, &d, &err));
    const char *pre = "rule \"bad\": signal \"bad\": ";
    if (strncmp(err.msg, pre, strlen(pre)) || strlen(err.msg) <= strlen(pre))
        FAILF("message: expected to start with %s, got \"%s\"", pre, err.msg);
    CHECK_EQ_U64(77, d.n);

    /* the data folder is locked while open */
    eng *e2 = NULL;
    ax_err err2 = {0};
    CHECK_EQ_INT(AX_EIO, eng_open(&eo, &e2, &err2));
    if (!strstr(err2.msg, "is in use by another auspex process"))
        FAILF("lock message: got \"%s\"", err2.msg);
    srv_rules_free(rs);
    eng_close(e);
    /* and free again once closed */
    CHECK_EQ_INT(0, eng_open(&eo, &e2, &err2));
    eng_close(e2);
    test_rm_rf(dir);
}
