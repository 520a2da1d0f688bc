/* server/api_backtest.c: GET|POST /api/v1/rules/<name>/backtest — replay rule <name> of the
 * -rules file on the stored data (srv_backtest_run, docs/backtest.md).
 *
 *   from=<time>   start of the replay (default to - 7d)
 *   to=<time>     end (default now; aligned down to the rule's step)
 * Times: RFC 3339, Unix seconds, "now" or "now-7d" (srv_backtest_time_parse); to - from at
 * most 90d. Answer: {"status":"success","data":<the report, as `auspex backtest
 * -format=json` prints it>}.
 * Errors (Prometheus' shape): no -rules file or no such rule 404 not_found; bad from/to
 * 400 bad_data; a query's execution error, a limit or a refused rule 422 execution; the
 * deadline 503 timeout. The path is matched on the prefix /api/v1/rules/ (GET /api/v1/rules
 * itself is an exact route in api_rules.c); anything but <name>/backtest under it is 404.
 * The work (queries and fits) runs on the threadpool through the query API's concurrency
 * gate, with its limits and deadline for the queries; the replay itself is not cut off.
 */
#include "server/app.h"
#include "server/backtest.h"
#include "server/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY ((size_t)64 << 20)

typedef struct bt_job {
    srv_gate_slot slot;
    const srv_rule *rule;
    int64_t from, to;
    int rc;
    ax_err err;
    ax_buf out;
} bt_job;

static void bt_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    bt_job *j = srv_req_udata(r);
    pql_opts o = {
        .lookback_ms = app->query_lookback_ms,
        .max_samples = app->query_max_samples,
        .max_series = app->query_max_series,
        .deadline_ns = ax_mono_ns() + (uint64_t)(app->query_max_duration_ms > 0 ? app->query_max_duration_ms : 30000) * 1000000u,
        .mem_max = app->query_mem_max,
    };
    srv_bt_report rep = {0};
    j->rc = srv_backtest_run(app->e, j->rule, j->from, j->to, &o, &rep, &j->err);
    if (j->rc) return;
    ax_buf_init(&j->out, MAX_REPLY);
    j->rc = ax_buf_append_str(&j->out, "{\"status\":\"success\",\"data\":");
    if (!j->rc) j->rc = srv_bt_report_json(&rep, &j->out);
    if (!j->rc) j->rc = ax_buf_append_str(&j->out, "}");
    if (j->rc) ax_err_set(&j->err, AX_ELIMIT, "the reply exceeds %zu bytes", MAX_REPLY);
    srv_bt_report_free(&rep);
}

static void bt_after(srv_req *r) {
    bt_job *j = srv_req_udata(r);
    srv_query_gate_release(srv_req_ctx(r), &j->slot);
    if (j->rc) {
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        if (j->rc == AX_EINVAL || j->rc == AX_ELIMIT || j->rc == AX_ENOMEM) status = 422, etype = "execution";
        else if (j->rc == AX_ETIMEOUT) status = 503, etype = "timeout";
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
    } else {
        srv_reply_buf_take(r, 200, "application/json", &j->out);
    }
    ax_buf_free(&j->out);
}

/* Parameter `name` as a backtest time; absent or empty: dflt. */
static int param_time(srv_req *r, const char *name, int64_t now, int64_t dflt, int64_t *out) {
    size_t len = 0;
    const char *v = srv_req_param(r, name, &len);
    if (!v || !len) {
        *out = dflt;
        return 0;
    }
    if (srv_backtest_time_parse(v, len, now, out)) {
        srv_reply_error(r, 400, "bad_data", "invalid parameter \"%s\": cannot parse \"%.*s\" to a "
                        "timestamp (RFC 3339, Unix seconds, now, now-7d)", name,
                        (int)(len > 64 ? 64 : len), v);
        return AX_EINVAL;
    }
    return 0;
}

static void h_backtest(srv_req *r, void *ctx) {
    srv_app *app = ctx;
    static const char pre[] = "/api/v1/rules/", suf[] = "/backtest";
    size_t pl = sizeof pre - 1, sl = sizeof suf - 1, len = 0;
    const char *path = srv_req_path(r, &len);
    if (len <= pl + sl || memcmp(path + len - sl, suf, sl) ||
        memchr(path + pl, '/', len - pl - sl)) {
        srv_reply_error(r, 404, "not_found", "no route for %.*s", (int)(len > 128 ? 128 : len), path);
        return;
    }
    const char *name = path + pl;
    size_t nl = len - pl - sl;
    const srv_rules *rs = app->rules;
    if (!rs) {
        srv_reply_error(r, 404, "not_found", "no rules file: start the server with -rules=FILE");
        return;
    }
    const srv_rule *rule = NULL;
    for (size_t i = 0; i < rs->n_rules && !rule; i++)
        if (strlen(rs->rules[i].name) == nl && !memcmp(rs->rules[i].name, name, nl))
            rule = &rs->rules[i];
    if (!rule) {
        srv_reply_error(r, 404, "not_found", "rule \"%.*s\" not found", (int)(nl > 128 ? 128 : nl), name);
        return;
    }
    int64_t now = ax_now_ms(), to = now, from = 0;
    if (param_time(r, "to", now, now, &to)) return;
    if (param_time(r, "from", now, to - SRV_BT_DEFAULT_SPAN_MS, &from)) return;
    if (from >= to) {
        srv_reply_error(r, 400, "bad_data", "invalid parameter \"from\": must be before \"to\"");
        return;
    }
    if (to - from > SRV_BT_MAX_SPAN_MS) {
        srv_reply_error(r, 400, "bad_data", "invalid parameters: the span from \"from\" to \"to\" "
                        "is longer than 90d");
        return;
    }
    bt_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->rule = rule;
    j->from = from;
    j->to = to;
    srv_req_set_udata(r, j);
    srv_query_gate_run(app, &j->slot, r, bt_work, bt_after);
}

int srv_api_backtest_register(struct srv_app *app) {
    int rc = srv_http_route(app->http, SRV_GET | SRV_POST, "/api/v1/rules/", true, h_backtest, app);
    if (!rc) rc = srv_http_route_max_body(app->http, "/api/v1/rules/", true, 1u << 20);
    return rc;
}
