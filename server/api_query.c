/* server/api_query.c: Prometheus' PromQL query routes.
 *   GET|POST /api/v1/query?query=…&time=…&timeout=…                 instant query
 *   GET|POST /api/v1/query_range?query=…&start=…&end=…&step=…&timeout=…   range query
 *   GET|POST /api/v1/query_exemplars?query=…&start=…&end=…   always empty (no exemplars kept)
 * Parameters come from the form body and the URL as Go's Request.Form orders them. Parsing
 * (pql_parse), evaluation (pql_exec) and rendering all run on the threadpool, never on the
 * loop thread. Reference for the API and its error shapes: docs/query-api.md.
 *
 * PARAMS -(parse: 400 bad_data on a bad parameter or query)-> PARSED
 * PARSED -(pql_exec: 422 execution, 503 timeout, 503/500 storage)-> EVALUATED
 * EVALUATED -(render: header and series into `out` until it holds QP_PIECE bytes)-> PIECE
 * PIECE, all series rendered, nothing sent yet -> one reply with Content-Length (the usual
 *   case: small results).
 * PIECE, series left -> stream_begin(200) + chunk; each further work item renders the next
 *   piece, `after` sends it (pausing while QP_QUEUE_MAX bytes wait on the socket), then
 *   stream_end(true). A client that goes away stops the rendering (stream_end(false)).
 * Invariant: no byte of a 200 leaves before evaluation succeeded, so every error gets its
 *   Prometheus status and shape; the result is freed exactly once, on the last `after`.
 *
 * JSON is written straight from the result arrays as Prometheus 2.42 writes it: vector and
 * matrix timestamps as seconds with up to three decimals ("1435781451.780", as its
 * jsonutil.MarshalTimestamp), sample values as strings in Go's FormatFloat 'f' format, or
 * 'e' when |v| < 1e-6 or >= 1e21; scalar and string results as encoding/json prints
 * [float64(t)/1000, "v"] (no trailing zeros, value always 'f').
 */
#include "query/query.h"
#include "server/app.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QP_PIECE (1u << 20)         /* bytes of JSON rendered per work item */
#define QP_QUEUE_MAX (8u << 20)     /* pause rendering while this much waits on the socket */
#define QP_MAX_BODY (1u << 20)      /* form bodies of the query routes */

enum { ST_PARAMS, ST_EXEC, ST_RENDER };

typedef struct q_job {
    bool range;
    srv_gate_slot slot; /* -search.maxConcurrentRequests */
    int rc;
    int stage;          /* ST_*: where rc came from (picks the HTTP status) */
    ax_err err;
    uint64_t t0_ns;     /* arrival, for the deadline */
    pql_result *res;
    ax_buf out;
    size_t next;        /* vector/matrix: next series to render */
    size_t emitted;     /* series written so far (for the commas) */
    bool head;          /* the head has been written */
    bool done;          /* everything rendered (the closing bytes included) */
    bool started;       /* stream begun */
} q_job;

/* [t,"v"] */
static int put_point(ax_buf *b, int64_t t, double v) {
    int rc = ax_buf_reserve(b, 32 + AX_FMT_GO_MAX);
    if (rc) return rc;
    char *p = (char *)b->data + b->len;
    size_t o = 0;
    p[o++] = '[';
    o += srv_json_ts(p + o, t, false);
    p[o++] = ',';
    p[o++] = '"';
    o += srv_json_sample(p + o, v);
    p[o++] = '"';
    p[o++] = ']';
    b->len += o;
    return 0;
}


/* Prometheus' parser.DocumentedType, for the range-query type error. */
static const char *documented_type(int t) {
    switch (t) {
    case PQL_T_VECTOR: return "instant vector";
    case PQL_T_MATRIX: return "range vector";
    default: return pql_type_name(t);
    }
}

/* Render into j->out: the head on the first call, then series until the piece is full,
 * then the tail. Sets j->done after the tail. */
static int render(q_job *j) {
    const pql_result *res = j->res;
    ax_buf *b = &j->out;
    int rc = 0;
    if (!j->head) {
        j->head = true;
        rc = ax_buf_printf(b, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":",
                           pql_type_name(res->type));
        if (rc) return rc;
        if (res->type == PQL_T_SCALAR || res->type == PQL_T_STRING) {
            char ts[32];
            rc = ax_buf_append(b, "[", 1);
            if (!rc) rc = ax_buf_append(b, ts, srv_json_ts(ts, res->t, true));
            if (!rc) rc = ax_buf_append(b, ",", 1);
            if (!rc && res->type == PQL_T_SCALAR) {
                char v[AX_FMT_GO_MAX];
                size_t n = ax_fmt_go(v, res->scalar, 'f');
                rc = ax_buf_append(b, "\"", 1);
                if (!rc) rc = ax_buf_append(b, v, n);
                if (!rc) rc = ax_buf_append(b, "\"", 1);
            } else if (!rc) {
                rc = srv_json_str(b, res->str.p, res->str.len);
            }
            if (!rc) rc = ax_buf_append(b, "]", 1);
            j->next = SIZE_MAX; /* nothing to iterate */
        } else {
            rc = ax_buf_append(b, "[", 1);
        }
        if (rc) return rc;
    }
    bool matrix = res->type == PQL_T_MATRIX;
    while (j->next < res->n && b->len < QP_PIECE && !rc) {
        const pql_rseries *s = &res->s[j->next];
        if (!matrix && s->n == 0) { /* a vector series carries exactly one point */
            j->next++;
            continue;
        }
        if (j->emitted++ && (rc = ax_buf_append(b, ",", 1))) break;
        rc = srv_json_metric(b, s->ls, s->n_ls);
        if (!rc && matrix) {
            rc = ax_buf_append(b, ",\"values\":[", 11);
            for (size_t i = 0; i < s->n && !rc; i++) {
                if (i) rc = ax_buf_append(b, ",", 1);
                if (!rc) rc = put_point(b, s->ts[i], s->v[i]);
            }
            if (!rc) rc = ax_buf_append(b, "]}", 2);
        } else if (!rc) {
            rc = ax_buf_append(b, ",\"value\":", 9);
            if (!rc) rc = put_point(b, s->ts[s->n - 1], s->v[s->n - 1]);
            if (!rc) rc = ax_buf_append(b, "}", 1);
        }
        j->next++;
    }
    if (rc) return rc;
    if (j->next >= res->n || j->next == SIZE_MAX) {
        if (res->type == PQL_T_VECTOR || res->type == PQL_T_MATRIX) rc = ax_buf_append(b, "]", 1);
        if (!rc) rc = ax_buf_append(b, "}", 1);
        if (!rc && res->n_warnings) {
            rc = ax_buf_append_str(b, ",\"warnings\":[");
            for (size_t i = 0; i < res->n_warnings && !rc; i++) {
                if (i) rc = ax_buf_append(b, ",", 1);
                if (!rc) rc = srv_json_str(b, res->warnings[i], strlen(res->warnings[i]));
            }
            if (!rc) rc = ax_buf_append(b, "]", 1);
        }
        if (!rc) rc = ax_buf_append(b, "}", 1);
        if (!rc) j->done = true;
    }
    return rc;
}

/* "11,000" */
static void fmt_thousands(char *out, size_t cap, uint64_t v) {
    char d[24];
    size_t n = (size_t)snprintf(d, sizeof d, "%llu", (unsigned long long)v), o = 0;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) out[o++] = ',';
        out[o++] = d[i];
    }
    out[o] = 0;
}

/* A duration parameter (step, timeout) as Prometheus' parseDuration reads it. */
static int param_duration(srv_req *r, const char *name, int64_t *ms, bool *given, ax_err *e) {
    size_t len = 0;
    const char *v = srv_req_param(r, name, &len);
    *given = v && len;
    if (!*given) return 0;
    if (ax_api_duration_parse(v, len, ms))
        return ax_err_set(e, AX_EINVAL, "invalid parameter \"%s\": cannot parse \"%.*s\" to a valid duration",
                          name, (int)(len > 64 ? 64 : len), v);
    return 0;
}

/* A required time parameter (start, end): Prometheus refuses an absent one. */
static int param_time_req(srv_req *r, const char *name, int64_t *out, ax_err *e) {
    bool given = false;
    int rc = srv_req_param_time(r, name, 0, out, &given, e);
    if (!rc && !given)
        rc = ax_err_set(e, AX_EINVAL, "invalid parameter \"%s\": cannot parse \"\" to a valid timestamp", name);
    return rc;
}

static void q_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    q_job *j = srv_req_udata(r);
    ax_err *e = &j->err;
    int64_t start = 0, end = 0, step = 0, timeout = 0;
    bool has_timeout = false;
    /* an app that main did not configure (tests) gets the flags' defaults */
    size_t max_points = app->query_max_points ? app->query_max_points : 11000;
    int64_t max_ms = app->query_max_duration_ms > 0 ? app->query_max_duration_ms : 30000;
    j->stage = ST_PARAMS;
    if (j->range) {
        if ((j->rc = param_time_req(r, "start", &start, e)) || (j->rc = param_time_req(r, "end", &end, e)))
            return;
        if (end < start) {
            j->rc = ax_err_set(e, AX_EINVAL, "invalid parameter \"end\": end timestamp must not be before start time");
            return;
        }
        bool given = false;
        if ((j->rc = param_duration(r, "step", &step, &given, e))) return;
        if (!given) {
            j->rc = ax_err_set(e, AX_EINVAL, "invalid parameter \"step\": cannot parse \"\" to a valid duration");
            return;
        }
        if (step <= 0) {
            j->rc = ax_err_set(e, AX_EINVAL, "invalid parameter \"step\": zero or negative query resolution "
                                             "step widths are not accepted. Try a positive integer");
            return;
        }
        if ((uint64_t)(end - start) / (uint64_t)step > max_points) {
            char n[32];
            fmt_thousands(n, sizeof n, max_points);
            j->rc = ax_err_set(e, AX_EINVAL, "exceeded maximum resolution of %s points per timeseries. "
                                             "Try decreasing the query resolution (?step=XX)", n);
            return;
        }
    } else {
        ax_err te = {0};
        if (srv_req_param_time(r, "time", ax_now_ms(), &start, NULL, &te)) {
            size_t len = 0;
            const char *v = srv_req_param(r, "time", &len);
            j->rc = ax_err_set(e, AX_EINVAL, "invalid parameter \"time\": Invalid time value for 'time': "
                                             "cannot parse \"%.*s\" to a valid timestamp",
                               (int)(len > 64 ? 64 : len), v ? v : "");
            return;
        }
        end = start;
    }
    if ((j->rc = param_duration(r, "timeout", &timeout, &has_timeout, e))) return;

    size_t qlen = 0;
    const char *q = srv_req_param(r, "query", &qlen);
    pql_node *root = NULL;
    ax_err pe = {0};
    j->rc = pql_parse(q ? q : "", q ? qlen : 0, srv_req_arena(r), &root, &pe);
    if (j->rc == AX_ETOOBIG) {
        j->rc = ax_err_set(e, AX_EINVAL, "invalid parameter \"query\": the query is longer than %u bytes",
                           PQL_MAX_QUERY_LEN);
        return;
    }
    if (j->rc) {
        if (j->rc == AX_EINVAL) ax_err_set(e, AX_EINVAL, "invalid parameter \"query\": %s", pe.msg);
        else ax_err_set(e, j->rc, "parsing the query: %s", pe.msg[0] ? pe.msg : ax_strerror(j->rc));
        return;
    }
    int type = pql_node_type(root);
    if (j->range && type != PQL_T_VECTOR && type != PQL_T_SCALAR) {
        pql_node_free(root);
        j->rc = ax_err_set(e, AX_EINVAL, "invalid expression type \"%s\" for "
                                         "range query, must be Scalar or instant Vector", documented_type(type));
        return;
    }

    /* the deadline: -search.maxQueryDuration from arrival, or the request's timeout if
     * that is sooner (a zero or negative timeout has passed already, as in Prometheus) */
    int64_t limit_ms = max_ms;
    if (has_timeout && timeout < limit_ms) limit_ms = timeout;
    uint64_t deadline = limit_ms <= 0 ? j->t0_ns : j->t0_ns + (uint64_t)limit_ms * 1000000u;
    if (deadline == 0) deadline = 1;
    pql_opts o = {
        .lookback_ms = app->query_lookback_ms,
        .max_samples = app->query_max_samples,
        .max_series = app->query_max_series,
        .max_points = max_points + 1, /* the check above allows (end-start)/step + 1 */
        .deadline_ns = deadline,
        .mem_max = app->query_mem_max,
    };
    j->stage = ST_EXEC;
    ax_err xe = {0};
    j->rc = pql_exec_cached(app->query_cache, app->e, root, start, end, step, j->range, &o,
                            ax_now_ms(), &j->res, &xe);
    pql_node_free(root);
    if (j->rc) {
        if (xe.msg[0]) *e = xe;
        else if (j->rc == AX_ETIMEOUT) ax_err_set(e, j->rc, "query timed out in expression evaluation");
        else ax_err_set(e, j->rc, "query failed: %s", ax_strerror(j->rc));
        return;
    }
    j->stage = ST_RENDER;
    ax_buf_init(&j->out, app->max_export_bytes);
    if ((j->rc = render(j)))
        ax_err_set(e, j->rc, "rendering the result: %s", ax_strerror(j->rc));
}

static void q_more_work(srv_req *r) {
    q_job *j = srv_req_udata(r);
    ax_buf_init(&j->out, ((srv_app *)srv_req_ctx(r))->max_export_bytes);
    if ((j->rc = render(j))) ax_err_set(&j->err, j->rc, "rendering the result: %s", ax_strerror(j->rc));
}

/* The client reads slower than we render: wait a little on the worker, render nothing. */
static void q_wait_work(srv_req *r) {
    q_job *j = srv_req_udata(r);
    ax_buf_init(&j->out, 0);
    struct timespec d = {0, 5 * 1000000L};
    nanosleep(&d, NULL);
}

static void q_release(q_job *j) {
    pql_result_free(j->res);
    j->res = NULL;
    ax_buf_free(&j->out);
}

static void q_after(srv_req *r) {
    q_job *j = srv_req_udata(r);
    srv_query_gate_release(srv_req_ctx(r), &j->slot);
    if (j->rc && !j->started) {
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        if (j->stage == ST_PARAMS && j->rc == AX_EINVAL) {
            status = 400, etype = "bad_data";
        } else if (j->stage == ST_EXEC) {
            switch (j->rc) {
            case AX_EINVAL: case AX_ELIMIT: case AX_ENOMEM: status = 422, etype = "execution"; break;
            case AX_ETIMEOUT: status = 503, etype = "timeout"; break;
            case AX_EIO: case AX_EAGAIN: status = 503, etype = "unavailable"; break;
            default: status = 500, etype = "internal"; break;
            }
        } else if (j->rc == AX_ETOOBIG) {
            status = 422, etype = "execution";
        }
        q_release(j);
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
        return;
    }
    if (!j->started && j->done) { /* the whole answer in one piece */
        pql_result_free(j->res);
        j->res = NULL;
        srv_reply_buf_take(r, 200, "application/json", &j->out);
        return;
    }
    if (!j->started) {
        srv_reply_stream_begin(r, 200, "application/json");
        j->started = true;
    }
    bool gone = srv_reply_stream_take(r, &j->out) != 0;
    if (j->rc) fprintf(stderr, "auspex: query reply aborted: %s\n", j->err.msg);
    if (!gone && !j->rc && !j->done) {
        srv_req_work(r, srv_reply_stream_queued(r) < QP_QUEUE_MAX ? q_more_work : q_wait_work, q_after);
        return;
    }
    bool complete = !gone && !j->rc;
    q_release(j);
    srv_reply_stream_end(r, complete);
}

/* ---- concurrency gate (declared in app.h; /api/v1/forecast uses it too) ----
 * At most -search.maxConcurrentRequests evaluations run at once (the threadpool also
 * decodes and commits writes: queries must not take all of it). Others wait in arrival
 * order on the loop thread (a waiting request holds no thread); one that waited longer
 * than -search.maxQueueDuration gets 503 when its turn comes. A slot is released by the
 * request's first `after`. */
struct srv_query_gate {
    size_t running;
    srv_gate_slot *head, *tail;
};

static void gate_start(srv_app *app, srv_gate_slot *s) {
    app->query_gate->running++;
    s->held = true;
    srv_req_work(s->req, s->work, s->after);
}

void srv_query_gate_run(srv_app *app, srv_gate_slot *s, srv_req *r, void (*work)(srv_req *r),
                        void (*after)(srv_req *r)) {
    struct srv_query_gate *g = app->query_gate;
    *s = (srv_gate_slot){.req = r, .work = work, .after = after};
    if (g->running < app->query_max_concurrent) {
        gate_start(app, s);
        return;
    }
    s->queued_ns = ax_mono_ns();
    if (g->tail) g->tail->next = s; else g->head = s;
    g->tail = s;
}

void srv_query_gate_release(srv_app *app, srv_gate_slot *s) {
    if (!s->held) return;
    s->held = false;
    struct srv_query_gate *g = app->query_gate;
    g->running--;
    while (g->head && g->running < app->query_max_concurrent) {
        srv_gate_slot *w = g->head;
        g->head = w->next;
        if (!g->head) g->tail = NULL;
        uint64_t waited_ms = (ax_mono_ns() - w->queued_ns) / 1000000u;
        if ((int64_t)waited_ms > app->query_max_queue_ms) {
            srv_reply_error(w->req, 503, "unavailable",
                            "couldn't start executing the query in %.3f seconds, since "
                            "-search.maxConcurrentRequests=%zu queries are running",
                            (double)waited_ms / 1000.0, app->query_max_concurrent);
            continue;
        }
        gate_start(app, w);
    }
}

static void q_start(srv_req *r, bool range) {
    q_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->range = range;
    j->t0_ns = ax_mono_ns();
    srv_req_set_udata(r, j);
    srv_query_gate_run(srv_req_ctx(r), &j->slot, r, q_work, q_after);
}

static void h_query(srv_req *r, void *ctx) { q_start(r, false); }
static void h_query_range(srv_req *r, void *ctx) { q_start(r, true); }

/* GET|POST /api/v1/query_exemplars?query=&start=&end=: auspex keeps no exemplars (remote
 * write's are dropped), so a valid request gets Prometheus' empty answer; Grafana asks this
 * route for every panel with exemplars switched on. Bad parameters or query: 400 bad_data,
 * as Prometheus. The status and error wait in the request's udata between work and after. */
typedef struct {
    int status;
    ax_err err;
} exm_job;

static void exm_work(srv_req *r) {
    exm_job *j = srv_req_udata(r);
    ax_err *e = &j->err;
    int64_t start = 0, end = 0;
    j->status = 400;
    if (srv_req_param_time(r, "start", INT64_MIN / 2, &start, NULL, e) ||
        srv_req_param_time(r, "end", INT64_MAX / 2, &end, NULL, e))
        return;
    if (end < start) {
        ax_err_set(e, AX_EINVAL, "end timestamp must not be before start timestamp");
        return;
    }
    size_t qlen = 0;
    const char *q = srv_req_param(r, "query", &qlen);
    pql_node *root = NULL;
    ax_err pe = {0};
    int rc = pql_parse(q ? q : "", q ? qlen : 0, srv_req_arena(r), &root, &pe);
    if (rc == AX_ETOOBIG) {
        ax_err_set(e, rc, "invalid parameter \"query\": the query is longer than %u bytes", PQL_MAX_QUERY_LEN);
    } else if (rc == AX_EINVAL) {
        *e = pe; /* Prometheus words this one without the parameter's name */
    } else if (rc) {
        j->status = 503;
        ax_err_set(e, rc, "parsing the query: %s", ax_strerror(rc));
    } else {
        j->status = 200;
        pql_node_free(root);
    }
}

static void exm_after(srv_req *r) {
    exm_job *j = srv_req_udata(r);
    static const char body[] = "{\"status\":\"success\",\"data\":[]}";
    if (j->status == 200) srv_reply(r, 200, "application/json", body, sizeof body - 1);
    else srv_reply_error(r, j->status, j->status == 400 ? "bad_data" : "unavailable", "%s", j->err.msg);
}

static void h_query_exemplars(srv_req *r, void *ctx) {
    exm_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    srv_req_set_udata(r, j);
    srv_req_work(r, exm_work, exm_after);
}

int srv_api_query_register(srv_app *app) {
    srv_http *h = app->http;
    app->query_gate = calloc(1, sizeof *app->query_gate);
    if (!app->query_gate) return AX_ENOMEM;
    if (!app->query_max_concurrent) app->query_max_concurrent = 8;
    int rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/query", false, h_query, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/query_range", false, h_query_range, app);
    if (!rc) rc = srv_http_route_max_body(h, "/api/v1/query", false, QP_MAX_BODY);
    if (!rc) rc = srv_http_route_max_body(h, "/api/v1/query_range", false, QP_MAX_BODY);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/query_exemplars", false, h_query_exemplars, app);
    if (!rc) rc = srv_http_route_max_body(h, "/api/v1/query_exemplars", false, QP_MAX_BODY);
    return rc;
}
