/* server/api_forecast.c: GET|POST /api/v1/forecast — forecasts of a query's series.
 *
 *   query=<PromQL instant-vector expression>   required
 *   horizon=<duration or seconds>              required, > 0
 *   step=<duration or seconds>                 model resolution (default 5m)
 *   history=<duration or seconds>              training window (default 14d)
 *   time=<time>                                end of the history (default now)
 *   model=auto|seasonal|holt_winters|...       (default auto)
 *   coverage=<(0,1)>                           band coverage (default 0.8)
 *
 * The query is evaluated as a range query over the history at `step` (the end aligned down
 * to a multiple of step), so each series arrives on a regular grid (a step without a value
 * is a gap); forecast/ fits each one and predicts h = ceil(horizon / step) steps. Answer:
 *   {"status":"success","data":{"resultType":"forecast","result":[
 *     {"metric":{...},"model":"seasonal","periods":[288],"smape":12.3,"mase":0.81,
 *      "note":"","values":[[t,"yhat","yhat_lower","yhat_upper"],...]}, ...]}}
 * Errors: Prometheus' shape; bad parameters 400 bad_data, evaluation errors 422.
 * The evaluation and the fits run on the threadpool, through the query API's concurrency
 * gate (-search.maxConcurrentRequests) and with its limits (memory, samples, deadline).
 */
#include "forecast/forecast.h"
#include "query/query.h"
#include "server/app.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FC_MAX_POINTS 20000u /* history / step */
#define FC_MAX_H 20000u      /* horizon / step */
#define MAX_REPLY ((size_t)1 << 30)

typedef struct fc_job {
    srv_gate_slot slot; /* one of the query API's concurrent evaluations */
    int rc;
    bool bad_param; /* rc came from the parameters: 400 */
    ax_err err;
    ax_buf out;
} fc_job;

/* A duration parameter: Prometheus' duration syntax or float seconds. */
static int param_dur(srv_req *r, const char *name, int64_t dflt, int64_t *ms, ax_err *e) {
    size_t len = 0;
    const char *v = srv_req_param(r, name, &len);
    *ms = dflt;
    if (!v || !len) return 0;
    if (ax_api_duration_parse(v, len, ms) || *ms <= 0)
        return ax_err_set(e, AX_EINVAL, "invalid parameter \"%s\": cannot parse \"%.*s\" to a positive duration",
                          name, (int)(len > 64 ? 64 : len), v);
    return 0;
}

static int params(srv_req *r, pql_node **root, ax_arena *a, int64_t *end, int64_t *step,
                  int64_t *history, int64_t *horizon, fc_opts *fo, ax_err *e) {
    size_t ql = 0, ml = 0, cl = 0;
    const char *q = srv_req_param(r, "query", &ql);
    if (!q || !ql) return ax_err_set(e, AX_EINVAL, "invalid parameter \"query\": missing");
    bool given = false;
    int rc = srv_req_param_time(r, "time", ax_now_ms(), end, &given, e);
    if (!rc) rc = param_dur(r, "step", 300000, step, e);
    if (!rc) rc = param_dur(r, "history", 14 * 86400000LL, history, e);
    if (!rc) rc = param_dur(r, "horizon", 0, horizon, e);
    if (rc) return rc;
    if (*horizon <= 0) return ax_err_set(e, AX_EINVAL, "invalid parameter \"horizon\": missing or not positive");
    if (*history / *step + 1 > FC_MAX_POINTS)
        return ax_err_set(e, AX_EINVAL, "history / step gives more than %u points: raise step or shorten history",
                          FC_MAX_POINTS);
    if ((*horizon + *step - 1) / *step > FC_MAX_H)
        return ax_err_set(e, AX_EINVAL, "horizon / step gives more than %u points: raise step", FC_MAX_H);
    const char *m = srv_req_param(r, "model", &ml);
    if (m && ml && (fo->model = fc_model_parse(m, ml)) < 0)
        return ax_err_set(e, AX_EINVAL, "invalid parameter \"model\": unknown model \"%.*s\" (auto, seasonal, "
                          "holt_winters, seasonal_naive, drift, linear, naive)", (int)(ml > 64 ? 64 : ml), m);
    const char *c = srv_req_param(r, "coverage", &cl);
    if (c && cl) {
        char tmp[64];
        char *endp;
        snprintf(tmp, sizeof tmp, "%.*s", (int)(cl > 63 ? 63 : cl), c);
        fo->coverage = strtod(tmp, &endp);
        if (*endp || !(fo->coverage > 0 && fo->coverage < 1))
            return ax_err_set(e, AX_EINVAL, "invalid parameter \"coverage\": must be between 0 and 1");
    }
    if ((rc = pql_parse(q, ql, a, root, e))) {
        if (rc == AX_EINVAL) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "invalid parameter \"query\": %.990s", e->msg);
            memcpy(e->msg, msg, sizeof msg);
        }
        return rc;
    }
    int t = pql_node_type(*root);
    if (t != PQL_T_VECTOR && t != PQL_T_SCALAR) {
        pql_node_free(*root);
        return ax_err_set(e, AX_EINVAL, "invalid parameter \"query\": the expression must give an instant "
                          "vector or a scalar");
    }
    *end -= ((*end % *step) + *step) % *step; /* align down to the step */
    fo->step_s = (double)*step / 1000.0;
    return 0;
}

static int num(ax_buf *b, double v) {
    if (!isfinite(v)) return ax_buf_append_str(b, "null");
    char tmp[40];
    return ax_buf_append(b, tmp, ax_fmt_double(tmp, v));
}

/* One series: its grid (n points ending at `end`), the forecast, the JSON. */
static int put_series(ax_buf *b, const pql_rseries *s, int64_t start, int64_t step, size_t n,
                      size_t h, const fc_opts *fo, double *grid, double *y, double *lo, double *hi) {
    for (size_t i = 0; i < n; i++) grid[i] = NAN;
    for (size_t k = 0; k < s->n; k++) {
        int64_t i = (s->ts[k] - start) / step;
        if (i >= 0 && (size_t)i < n) grid[i] = s->v[k];
    }
    fc_info info;
    int rc = fc_forecast(grid, n, h, fo, y, lo, hi, &info);
    if (rc == FC_EINVAL) return 0; /* nothing finite to fit: the series is left out */
    if (rc) return AX_ENOMEM;
    rc = srv_json_metric(b, s->ls, s->n_ls);
    if (!rc) rc = ax_buf_printf(b, ",\"model\":\"%s\",\"periods\":[", fc_model_name(info.model));
    for (size_t i = 0; i < FC_MAX_PERIODS && info.periods[i] && !rc; i++)
        rc = ax_buf_printf(b, "%s%zu", i ? "," : "", info.periods[i]);
    if (!rc) rc = ax_buf_append_str(b, "],\"smape\":");
    if (!rc) rc = num(b, info.smape);
    if (!rc) rc = ax_buf_append_str(b, ",\"mase\":");
    if (!rc) rc = num(b, info.mase);
    if (!rc) rc = ax_buf_append_str(b, ",\"note\":");
    if (!rc) rc = srv_json_str(b, info.note, strlen(info.note));
    if (!rc) rc = ax_buf_append_str(b, ",\"values\":[");
    int64_t t_end = start + (int64_t)(n - 1) * step;
    for (size_t i = 0; i < h && !rc; i++) {
        char p[4 * (AX_FMT_GO_MAX + 8)];
        size_t o = 0;
        if (i) p[o++] = ',';
        p[o++] = '[';
        o += srv_json_ts(p + o, t_end + (int64_t)(i + 1) * step, false);
        const double vals[3] = {y[i], lo[i], hi[i]};
        for (int v = 0; v < 3; v++) {
            p[o++] = ',';
            p[o++] = '"';
            o += srv_json_sample(p + o, vals[v]);
            p[o++] = '"';
        }
        p[o++] = ']';
        rc = ax_buf_append(b, p, o);
    }
    if (!rc) rc = ax_buf_append_str(b, "]}");
    return rc ? rc : 1;
}

static void fc_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    fc_job *j = srv_req_udata(r);
    ax_arena *a = srv_req_arena(r);
    pql_node *root = NULL;
    int64_t end, step, history, horizon;
    fc_opts fo = {0};
    j->rc = params(r, &root, a, &end, &step, &history, &horizon, &fo, &j->err);
    if (j->rc) {
        j->bad_param = j->rc == AX_EINVAL || j->rc == AX_ETOOBIG;
        return;
    }
    size_t n = (size_t)(history / step) + 1, h = (size_t)((horizon + step - 1) / step);
    int64_t start = end - (int64_t)(n - 1) * step;
    pql_opts o = {
        .lookback_ms = app->query_lookback_ms,
        .max_samples = app->query_max_samples,
        .max_series = app->query_max_series,
        .max_points = n + 1,
        .deadline_ns = ax_mono_ns() + (uint64_t)(app->query_max_duration_ms > 0 ? app->query_max_duration_ms : 30000) * 1000000u,
        .mem_max = app->query_mem_max,
    };
    pql_result *res = NULL;
    j->rc = pql_exec(app->e, root, start, end, step, true, &o, &res, &j->err);
    pql_node_free(root);
    if (j->rc) return;
    double *grid = malloc(n * sizeof *grid), *y = malloc(h * sizeof *y);
    double *lo = malloc(h * sizeof *lo), *hi = malloc(h * sizeof *hi);
    ax_buf_init(&j->out, MAX_REPLY);
    if (!grid || !y || !lo || !hi) j->rc = AX_ENOMEM;
    if (!j->rc) j->rc = ax_buf_append_str(&j->out, "{\"status\":\"success\",\"data\":{\"resultType\":\"forecast\",\"result\":[");
    size_t written = 0;
    for (size_t k = 0; k < res->n && !j->rc; k++) {
        size_t mark = j->out.len;
        if (written && (j->rc = ax_buf_append(&j->out, ",", 1))) break;
        int w = put_series(&j->out, &res->s[k], start, step, n, h, &fo, grid, y, lo, hi);
        if (w < 0) j->rc = w;
        else if (w == 0) j->out.len = mark; /* left out: undo the comma */
        else written++;
        if (!j->rc && ax_mono_ns() > o.deadline_ns)
            j->rc = ax_err_set(&j->err, AX_ETIMEOUT, "forecast timed out after %zu of %zu series", k + 1, res->n);
    }
    if (!j->rc) j->rc = ax_buf_append_str(&j->out, "]}}");
    if (j->rc == AX_ETOOBIG) ax_err_set(&j->err, AX_ELIMIT, "the reply exceeds %zu bytes", MAX_REPLY);
    free(grid);
    free(y);
    free(lo);
    free(hi);
    pql_result_free(res);
}

static void fc_after(srv_req *r) {
    fc_job *j = srv_req_udata(r);
    srv_query_gate_release(srv_req_ctx(r), &j->slot);
    if (j->rc) {
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        if (j->bad_param) status = 400, etype = "bad_data";
        else if (j->rc == AX_EINVAL || j->rc == AX_ELIMIT || j->rc == AX_ENOMEM) status = 422, etype = "execution";
        else if (j->rc == AX_ETIMEOUT) status = 503, etype = "timeout";
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
    } else {
        srv_reply_buf_take(r, 200, "application/json", &j->out);
    }
    ax_buf_free(&j->out);
}

static void h_forecast(srv_req *r, void *ctx) {
    fc_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    srv_req_set_udata(r, j);
    srv_query_gate_run(srv_req_ctx(r), &j->slot, r, fc_work, fc_after);
}

int srv_api_forecast_register(srv_app *app) {
    int rc = srv_http_route(app->http, SRV_GET | SRV_POST, "/api/v1/forecast", false, h_forecast, app);
    if (!rc) rc = srv_http_route_max_body(app->http, "/api/v1/forecast", false, 1u << 20);
    return rc;
}
