/* Unit tests for server/webhook_fmt.c: every body format parsed back with cJSON and its
 * fields and types checked (auspex's json schema with its forecast points, NaN as null,
 * awkward rule names surviving the round trip; Slack's escaping; DingTalk's shape;
 * Alertmanager's version-4 payload and fingerprint), decision kind names, and the exec
 * templates. Static helpers are prefixed wf_ (this file shares unit_server with others). */
#include "server/actions.h"
#include "server/rules.h"
#include "forecast/forecast.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

static const double wf_yhat[3] = {70, 85.5, 91.2};
static const double wf_lower[3] = {60, NAN, 80};
static const double wf_upper[3] = {80, 95, 101};

/* 2026-11-27T10:00:00Z */
#define WF_NOW 1795773600.0

static srv_dec_view wf_view(void) {
    srv_dec_view d = {
        .id = 42,
        .rule = "web-cpu",
        .kind = FC_DEC_SCALE_UP_NOW,
        .urgency = 1,
        .mode = "auto",
        .now = WF_NOW,
        .act_at = WF_NOW,
        .cross_at = WF_NOW + 1200,
        .peak_at = WF_NOW + 1800.5,
        .peak = 91.2,
        .capacity = 4,
        .desired = 6,
        .signal = "cpu",
        .threshold = 80,
        .cold_start = 0,
        .model = "seasonal",
        .reason = "cpu crosses 80 in 20m",
        .yhat = wf_yhat,
        .lower = wf_lower,
        .upper = wf_upper,
        .h = 3,
        .step_s = 600,
        .idempotency_key = "web-cpu-42-0",
        .receiver = "scaler",
        .external_url = "http://127.0.0.1:9444/",
    };
    return d;
}

/* Render d in format, parse it; NULL (with a failure recorded) when either fails. */
static cJSON *wf_render(int format, const srv_dec_view *d) {
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    int rc = srv_webhook_body(format, d, &b);
    cJSON *j = NULL;
    if (rc) FAILF("srv_webhook_body(%d): %d", format, rc);
    else if (!(j = cJSON_ParseWithLength((const char *)b.data, b.len)))
        FAILF("format %d: not JSON: %.*s", format, (int)b.len, (const char *)b.data);
    ax_buf_free(&b);
    return j;
}

static const char *wf_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double wf_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

static bool wf_null(const cJSON *o, const char *key) {
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

TEST(test_webhook_kind_names) {
    CHECK_EQ_STR("no_action", srv_decision_kind_name(FC_DEC_NO_ACTION));
    CHECK_EQ_STR("scale_up_immediately", srv_decision_kind_name(FC_DEC_SCALE_UP_NOW));
    CHECK_EQ_STR("scale_up_prepared", srv_decision_kind_name(FC_DEC_SCALE_UP_PREPARED));
    CHECK_EQ_STR("consider_scale_down", srv_decision_kind_name(FC_DEC_SCALE_DOWN));
    int kinds[] = {FC_DEC_NO_ACTION, FC_DEC_SCALE_UP_NOW, FC_DEC_SCALE_UP_PREPARED, FC_DEC_SCALE_DOWN};
    for (size_t i = 0; i < 4; i++) {
        const char *n = srv_decision_kind_name(kinds[i]);
        CHECK_EQ_INT(kinds[i], srv_decision_kind_parse(n, strlen(n)));
    }
    CHECK_EQ_INT(-1, srv_decision_kind_parse("scale_up", 8));
    CHECK_EQ_INT(-1, srv_decision_kind_parse("no_action_", 10));
    CHECK_EQ_INT(-1, srv_decision_kind_parse("", 0));
    CHECK_EQ_INT(FC_DEC_NO_ACTION, srv_decision_kind_parse("no_actionXX", 9));
}

TEST(test_webhook_json_schema) {
    srv_dec_view d = wf_view();
    cJSON *j = wf_render(SRV_WH_JSON, &d);
    if (!j) return;
    CHECK_EQ_STR("1", wf_str(j, "version"));
    CHECK_EQ_STR("42", wf_str(j, "id"));
    CHECK_EQ_STR("web-cpu-42-0", wf_str(j, "idempotency_key"));
    CHECK_EQ_STR("web-cpu", wf_str(j, "rule"));
    CHECK_EQ_STR("scale_up_immediately", wf_str(j, "decision"));
    CHECK_EQ_DBL(1, wf_num(j, "urgency"));
    CHECK_EQ_STR("auto", wf_str(j, "mode"));
    CHECK_EQ_STR("2026-11-27T10:00:00Z", wf_str(j, "time"));
    CHECK_EQ_STR("2026-11-27T10:00:00Z", wf_str(j, "act_at"));
    CHECK_EQ_STR("2026-11-27T10:20:00Z", wf_str(j, "crossing_time"));
    CHECK_EQ_DBL(4, wf_num(j, "current_capacity"));
    CHECK_EQ_DBL(6, wf_num(j, "desired_capacity"));
    CHECK_EQ_STR("cpu", wf_str(j, "signal"));
    CHECK_EQ_DBL(80, wf_num(j, "threshold"));
    const cJSON *peak = cJSON_GetObjectItemCaseSensitive(j, "peak");
    CHECK(cJSON_IsObject(peak));
    CHECK_EQ_STR("2026-11-27T10:30:00.500Z", wf_str(peak, "time"));
    CHECK_EQ_DBL(91.2, wf_num(peak, "value"));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "cold_start")));
    CHECK_EQ_STR("seasonal", wf_str(j, "model"));
    CHECK_EQ_STR("cpu crosses 80 in 20m", wf_str(j, "reason"));
    CHECK_EQ_STR("http://127.0.0.1:9444/api/v1/decisions/42", wf_str(j, "url"));
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(j, "forecast");
    CHECK(cJSON_IsArray(fc));
    CHECK_EQ_INT(3, cJSON_GetArraySize(fc));
    static const char *const times[3] = {"2026-11-27T10:10:00Z", "2026-11-27T10:20:00Z",
                                         "2026-11-27T10:30:00Z"};
    for (int i = 0; i < 3 && i < cJSON_GetArraySize(fc); i++) {
        const cJSON *p = cJSON_GetArrayItem(fc, i);
        CHECK_EQ_STR(times[i], wf_str(p, "time"));
        CHECK_EQ_DBL(wf_yhat[i], wf_num(p, "yhat"));
        CHECK_EQ_DBL(wf_upper[i], wf_num(p, "upper"));
        if (i == 1) CHECK(wf_null(p, "lower"));
        else CHECK_EQ_DBL(wf_lower[i], wf_num(p, "lower"));
    }
    /* no unexpected members: exactly the documented 20 */
    CHECK_EQ_INT(20, cJSON_GetArraySize(j));
    cJSON_Delete(j);
}

TEST(test_webhook_json_nulls) {
    srv_dec_view d = wf_view();
    d.kind = FC_DEC_NO_ACTION;
    d.urgency = NAN;
    d.act_at = NAN;
    d.cross_at = NAN;
    d.peak = NAN;
    d.peak_at = NAN;
    d.capacity = INFINITY;
    d.desired = -INFINITY;
    d.threshold = NAN;
    d.signal = NULL;
    d.model = NULL;
    d.cold_start = 1;
    d.lower = NULL;
    d.upper = NULL;
    d.external_url = NULL;
    cJSON *j = wf_render(SRV_WH_JSON, &d);
    if (!j) return;
    CHECK_EQ_STR("no_action", wf_str(j, "decision"));
    static const char *const nulls[] = {"urgency", "act_at", "crossing_time", "peak",
                                        "current_capacity", "desired_capacity", "threshold",
                                        "signal", "model", "url"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (!wf_null(j, nulls[i])) FAILF("%s is not null", nulls[i]);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "cold_start")));
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(j, "forecast");
    CHECK_EQ_INT(3, cJSON_GetArraySize(fc));
    const cJSON *p = cJSON_GetArrayItem(fc, 0);
    CHECK(wf_null(p, "lower") && wf_null(p, "upper"));
    CHECK_EQ_DBL(70, wf_num(p, "yhat"));
    cJSON_Delete(j);

    d.yhat = NULL; /* no forecast: [] */
    d.now = NAN;
    j = wf_render(SRV_WH_JSON, &d);
    if (!j) return;
    fc = cJSON_GetObjectItemCaseSensitive(j, "forecast");
    CHECK(cJSON_IsArray(fc) && cJSON_GetArraySize(fc) == 0);
    CHECK(wf_null(j, "time"));
    cJSON_Delete(j);
}

/* quotes, backslashes, newlines, control bytes, <&> and non-ASCII survive every format */
TEST(test_webhook_awkward_strings) {
    static const char rule[] = "we\"b\\ \n\t<&> \x01 caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac";
    srv_dec_view d = wf_view();
    d.rule = rule;
    d.reason = rule;
    cJSON *j = wf_render(SRV_WH_JSON, &d);
    if (j) {
        CHECK_EQ_STR(rule, wf_str(j, "rule"));
        CHECK_EQ_STR(rule, wf_str(j, "reason"));
        cJSON_Delete(j);
    }
    j = wf_render(SRV_WH_ALERTMANAGER, &d);
    if (j) {
        CHECK_EQ_STR(rule, wf_str(cJSON_GetObjectItemCaseSensitive(j, "groupLabels"), "rule"));
        const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "alerts"), 0);
        CHECK_EQ_STR(rule, wf_str(cJSON_GetObjectItemCaseSensitive(a, "labels"), "rule"));
        CHECK_EQ_STR(rule, wf_str(cJSON_GetObjectItemCaseSensitive(a, "annotations"), "description"));
        CHECK_EQ_STR("{}:{rule=\"we\\\"b\\\\ \\n\t<&> \x01 caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\"}",
                     wf_str(j, "groupKey"));
        cJSON_Delete(j);
    }
    j = wf_render(SRV_WH_DINGTALK, &d);
    if (j) {
        const char *t = wf_str(cJSON_GetObjectItemCaseSensitive(j, "markdown"), "text");
        CHECK(t && strstr(t, rule));
        cJSON_Delete(j);
    }
    j = wf_render(SRV_WH_SLACK, &d);
    if (j) {
        const char *t = wf_str(j, "text");
        CHECK(t && strstr(t, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"));
        cJSON_Delete(j);
    }
}

TEST(test_webhook_slack) {
    srv_dec_view d = wf_view();
    d.reason = "a<b & c>d";
    cJSON *j = wf_render(SRV_WH_SLACK, &d);
    if (!j) return;
    const char *t = wf_str(j, "text");
    CHECK(t != NULL);
    if (t) {
        const char *nl = strchr(t, '\n');
        CHECK(nl != NULL);
        const char *first = "auspex: rule *web-cpu*: scale_up_immediately 4 \xe2\x86\x92 6 (urgency 1)\n";
        if (strncmp(t, first, strlen(first))) FAILF("first line: %s", t);
        CHECK(strstr(t, "\na&lt;b &amp; c&gt;d\n") != NULL);
        CHECK(strstr(t, "peak cpu 91.2 at 2026-11-27T10:30:00.500Z") != NULL);
        CHECK(strstr(t, "<http://127.0.0.1:9444/api/v1/decisions/42|decision 42>") != NULL);
        CHECK(strstr(t, "a<b") == NULL);
    }
    CHECK_EQ_INT(1, cJSON_GetArraySize(j));
    cJSON_Delete(j);
}

TEST(test_webhook_dingtalk) {
    srv_dec_view d = wf_view();
    d.kind = FC_DEC_SCALE_UP_PREPARED;
    d.act_at = WF_NOW + 600;
    cJSON *j = wf_render(SRV_WH_DINGTALK, &d);
    if (!j) return;
    CHECK_EQ_STR("markdown", wf_str(j, "msgtype"));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "markdown");
    CHECK(cJSON_IsObject(m));
    CHECK_EQ_STR("auspex: web-cpu scale_up_prepared", wf_str(m, "title"));
    const char *t = wf_str(m, "text");
    CHECK(t && strstr(t, "scale_up_prepared 4 \xe2\x86\x92 6"));
    CHECK(t && strstr(t, "cpu crosses 80 in 20m"));
    CHECK(t && strstr(t, "act at 2026-11-27T10:10:00Z"));
    CHECK(t && strstr(t, "[decision 42](http://127.0.0.1:9444/api/v1/decisions/42)"));
    cJSON_Delete(j);
}

TEST(test_webhook_alertmanager) {
    srv_dec_view d = wf_view();
    cJSON *j = wf_render(SRV_WH_ALERTMANAGER, &d);
    if (!j) return;
    CHECK_EQ_STR("4", wf_str(j, "version"));
    CHECK_EQ_STR("{}:{rule=\"web-cpu\"}", wf_str(j, "groupKey"));
    CHECK_EQ_DBL(0, wf_num(j, "truncatedAlerts"));
    CHECK_EQ_STR("firing", wf_str(j, "status"));
    CHECK_EQ_STR("scaler", wf_str(j, "receiver"));
    CHECK_EQ_STR("http://127.0.0.1:9444", wf_str(j, "externalURL"));
    CHECK_EQ_STR("web-cpu", wf_str(cJSON_GetObjectItemCaseSensitive(j, "groupLabels"), "rule"));
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(j, "commonLabels");
    CHECK_EQ_STR("AuspexScalingDecision", wf_str(cl, "alertname"));
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "commonAnnotations")));
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(j, "alerts");
    CHECK(cJSON_IsArray(al) && cJSON_GetArraySize(al) == 1);
    const cJSON *a = cJSON_GetArrayItem(al, 0);
    CHECK_EQ_STR("firing", wf_str(a, "status"));
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "labels");
    CHECK_EQ_STR("AuspexScalingDecision", wf_str(l, "alertname"));
    CHECK_EQ_STR("web-cpu", wf_str(l, "rule"));
    CHECK_EQ_STR("scale_up_immediately", wf_str(l, "decision"));
    CHECK_EQ_STR("cpu", wf_str(l, "signal"));
    CHECK_EQ_STR("warning", wf_str(l, "severity"));
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(a, "annotations");
    for (const cJSON *it = an ? an->child : NULL; it; it = it->next)
        if (!cJSON_IsString(it)) FAILF("annotation %s is not a string", it->string);
    CHECK_EQ_STR("rule web-cpu: scale_up_immediately 4 \xe2\x86\x92 6", wf_str(an, "summary"));
    CHECK_EQ_STR("cpu crosses 80 in 20m", wf_str(an, "description"));
    CHECK_EQ_STR("4", wf_str(an, "current_capacity"));
    CHECK_EQ_STR("6", wf_str(an, "desired_capacity"));
    CHECK_EQ_STR("1", wf_str(an, "urgency"));
    CHECK_EQ_STR("91.2", wf_str(an, "peak"));
    CHECK_EQ_STR("2026-11-27T10:30:00.500Z", wf_str(an, "peak_time"));
    CHECK_EQ_STR("2026-11-27T10:00:00Z", wf_str(an, "act_at"));
    CHECK_EQ_STR("web-cpu-42-0", wf_str(an, "idempotency_key"));
    CHECK_EQ_STR("2026-11-27T10:00:00Z", wf_str(a, "startsAt"));
    CHECK_EQ_STR("0001-01-01T00:00:00Z", wf_str(a, "endsAt"));
    CHECK_EQ_STR("http://127.0.0.1:9444/api/v1/decisions/42", wf_str(a, "generatorURL"));
    const char *fp = wf_str(a, "fingerprint");
    char fp1[17] = "";
    CHECK(fp && strlen(fp) == 16 && strspn(fp, "0123456789abcdef") == 16);
    if (fp && strlen(fp) == 16) memcpy(fp1, fp, 17);
    cJSON_Delete(j);

    /* another id: another fingerprint; scale-down is "info"; signal omitted when NULL;
     * no external URL: "" */
    d.id = 43;
    d.kind = FC_DEC_SCALE_DOWN;
    d.signal = NULL;
    d.external_url = NULL;
    d.peak = NAN;
    j = wf_render(SRV_WH_ALERTMANAGER, &d);
    if (!j) return;
    a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "alerts"), 0);
    l = cJSON_GetObjectItemCaseSensitive(a, "labels");
    CHECK_EQ_STR("info", wf_str(l, "severity"));
    CHECK(cJSON_GetObjectItemCaseSensitive(l, "signal") == NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "annotations"), "peak") == NULL);
    CHECK_EQ_STR("", wf_str(a, "generatorURL"));
    CHECK_EQ_STR("", wf_str(j, "externalURL"));
    fp = wf_str(a, "fingerprint");
    CHECK(fp && strlen(fp) == 16 && strspn(fp, "0123456789abcdef") == 16);
    CHECK(fp && strcmp(fp, fp1) != 0);
    cJSON_Delete(j);
}

TEST(test_webhook_unknown_format_and_cap) {
    srv_dec_view d = wf_view();
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    CHECK_EQ_INT(AX_EINVAL, srv_webhook_body(99, &d, &b));
    CHECK_EQ_INT(AX_EINVAL, srv_webhook_body(-1, &d, &b));
    ax_buf_free(&b);
    int fmts[] = {SRV_WH_JSON, SRV_WH_SLACK, SRV_WH_DINGTALK, SRV_WH_ALERTMANAGER};
    for (size_t i = 0; i < 4; i++) {
        ax_buf_init(&b, 64);
        CHECK_EQ_INT(AX_ETOOBIG, srv_webhook_body(fmts[i], &d, &b));
        CHECK_EQ_INT(0, b.len);
        ax_buf_free(&b);
    }
}

static int wf_exec(const char *tmpl, const srv_dec_view *d, char *out, size_t cap) {
    ax_buf b;
    ax_buf_init(&b, 4096);
    int rc = srv_exec_render(tmpl, d, &b);
    if (!rc) {
        if (b.data[b.len] != 0 || strlen((char *)b.data) != b.len) FAILF("not NUL-terminated");
        snprintf(out, cap, "%s", (char *)b.data);
    }
    ax_buf_free(&b);
    return rc;
}

TEST(test_webhook_exec_render) {
    srv_dec_view d = wf_view();
    d.urgency = 0.75;
    char out[256];
    CHECK_EQ_INT(0, wf_exec("{{desired}}", &d, out, sizeof out));
    CHECK_EQ_STR("6", out);
    CHECK_EQ_INT(0, wf_exec("{{current}}", &d, out, sizeof out));
    CHECK_EQ_STR("4", out);
    CHECK_EQ_INT(0, wf_exec("{{rule}}", &d, out, sizeof out));
    CHECK_EQ_STR("web-cpu", out);
    CHECK_EQ_INT(0, wf_exec("{{decision}}", &d, out, sizeof out));
    CHECK_EQ_STR("scale_up_immediately", out);
    CHECK_EQ_INT(0, wf_exec("{{urgency}}", &d, out, sizeof out));
    CHECK_EQ_STR("0.75", out);
    CHECK_EQ_INT(0, wf_exec("--replicas={{desired}} --from={{current}}/{{rule}}}} {x}", &d, out, sizeof out));
    CHECK_EQ_STR("--replicas=6 --from=4/web-cpu}} {x}", out);
    CHECK_EQ_INT(0, wf_exec("plain text", &d, out, sizeof out));
    CHECK_EQ_STR("plain text", out);
    CHECK_EQ_INT(0, wf_exec("", &d, out, sizeof out));
    CHECK_EQ_STR("", out);
    d.desired = 2.5;
    CHECK_EQ_INT(0, wf_exec("{{desired}}{{desired}}", &d, out, sizeof out));
    CHECK_EQ_STR("2.52.5", out);
    CHECK_EQ_INT(AX_EINVAL, wf_exec("{{nope}}", &d, out, sizeof out));
    CHECK_EQ_INT(AX_EINVAL, wf_exec("{{desired", &d, out, sizeof out));
    CHECK_EQ_INT(AX_EINVAL, wf_exec("x {{ desired }}", &d, out, sizeof out));
    CHECK_EQ_INT(AX_EINVAL, wf_exec("{{desired}} {{", &d, out, sizeof out));

    /* appends at out->len; an error leaves what was there */
    ax_buf b;
    ax_buf_init(&b, 4096);
    CHECK_EQ_INT(0, ax_buf_append(&b, "ab", 2));
    CHECK_EQ_INT(AX_EINVAL, srv_exec_render("x{{rule}}{{nope}}", &d, &b));
    CHECK_EQ_INT(2, b.len);
    CHECK_EQ_INT(0, srv_exec_render("-{{rule}}", &d, &b));
    CHECK_EQ_INT(10, b.len);
    CHECK_EQ_STR("ab-web-cpu", (char *)b.data);
    ax_buf_free(&b);
    ax_buf_init(&b, 4);
    CHECK_EQ_INT(AX_ETOOBIG, srv_exec_render("{{rule}}", &d, &b));
    ax_buf_free(&b);
}
