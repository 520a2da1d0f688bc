/* server/api.c: the routes of this milestone: remote-write in, export out, probes,
 * force-flush, build info. Each heavy route hands its work to the threadpool
 * (srv_req_work) and replies from `after` on the loop thread.
 *
 * POST /api/v1/write: RECEIVED (body in a capped buffer, 413 past the cap)
 *   -(work: srv_rw_decode, eng_write: validate all, WAL group commit)-> DURABLE or FAILED
 *   -(after: 204, or 4xx/503 with the Prometheus error shape)-> ACKED.
 *   Invariant: 204 only after eng_write returned 0, i.e. after the fdatasync.
 */
#include "server/app.h"
#include "query/query.h"
#include "server/remote_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- POST /api/v1/write ---- */

typedef struct rw_job {
    int rc;
    int reason;
    size_t samples;
    ax_err err;
} rw_job;

static void rw_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    rw_job *j = srv_req_udata(r);
    size_t len = 0;
    const uint8_t *body = srv_req_body(r, &len);
    eng_ts *ts = NULL;
    size_t n = 0;
    j->rc = srv_rw_decode(body, len, app->max_insert_bytes, srv_req_arena(r), &ts, &n, &j->samples,
                          &j->err);
    if (j->rc) {
        j->reason = j->rc == AX_ETOOBIG ? SRV_REJ_TOO_BIG : SRV_REJ_DECODE;
        return;
    }
    j->rc = eng_write(app->e, ts, n, &j->err);
    if (j->rc == AX_EINVAL) j->reason = SRV_REJ_LABELS;
    else if (j->rc == AX_ELIMIT) j->reason = SRV_REJ_LIMIT;
    else j->reason = SRV_REJ_UNAVAILABLE;
}

static void rw_after(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    rw_job *j = srv_req_udata(r);
    if (!j->rc) {
        srv_reply(r, 204, NULL, NULL, 0);
        return;
    }
    atomic_fetch_add(&app->rw_requests_failed, 1);
    atomic_fetch_add(&app->rejected[j->reason], 1);
    atomic_fetch_add(&app->rejected_rows[j->reason], j->samples);
    const char *etype = NULL;
    int status = srv_http_status_of(j->rc, &etype);
    if (j->rc == AX_ELIMIT) status = 400; /* a write over a limit is the sender's to fix */
    if (status == 503) srv_reply_header(r, "Retry-After", "1");
    srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
}

static void h_write(srv_req *r, void *ctx) {
    srv_app *app = ctx;
    atomic_fetch_add(&app->rw_requests, 1);
    size_t clen = 0;
    const char *enc = srv_req_header(r, "content-encoding", &clen);
    if (enc && !(clen == 6 && !strncasecmp(enc, "snappy", 6))) {
        atomic_fetch_add(&app->rw_requests_failed, 1);
        atomic_fetch_add(&app->rejected[SRV_REJ_DECODE], 1);
        srv_reply_error(r, 415, "bad_data",
                        "unsupported Content-Encoding \"%.*s\": remote-write bodies are snappy",
                        (int)(clen > 32 ? 32 : clen), enc);
        return;
    }
    rw_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    srv_req_set_udata(r, j);
    srv_req_work(r, rw_work, rw_after);
}

/* ---- GET /api/v1/export ---- */

#define MAX_MATCH 32

typedef struct ex_job {
    int rc;
    ax_err err;
    ax_buf out;
} ex_job;

typedef struct ex_item {
    uint64_t sid;
    const uint8_t *labels;
    size_t len;
} ex_item;

static int ex_cmp(const void *a, const void *b) {
    uint64_t x = ((const ex_item *)a)->sid, y = ((const ex_item *)b)->sid;
    return (x > y) - (x < y);
}

static int parse_time_param(srv_req *r, const char *name, int64_t dflt, int64_t *out,
                            ax_err *e) {
    size_t len = 0;
    const char *v = srv_req_param(r, name, &len);
    if (!v || !len) {
        *out = dflt;
        return 0;
    }
    if (ax_time_parse(v, len, out))
        return ax_err_set(e, AX_EINVAL, "cannot parse \"%.*s\" to a valid timestamp",
                          (int)(len > 64 ? 64 : len), v);
    return 0;
}

static int put_export_line(ax_buf *b, const uint8_t *labels, size_t len, const eng_samples *s) {
    int rc = ax_buf_append(b, "{\"metric\":", 10);
    if (!rc) rc = srv_json_labels(b, labels, len);
    if (!rc) rc = ax_buf_append(b, ",\"values\":[", 11);
    for (size_t i = 0; i < s->n && !rc; i++) {
        char num[40];
        size_t k = ax_fmt_double(num, s->v[i]);
        if (i) rc = ax_buf_append(b, ",", 1);
        if (!rc) rc = ax_buf_append(b, num, k);
    }
    if (!rc) rc = ax_buf_append(b, "],\"timestamps\":[", 16);
    for (size_t i = 0; i < s->n && !rc; i++) rc = ax_buf_printf(b, i ? ",%lld" : "%lld", (long long)s->ts[i]);
    if (!rc) rc = ax_buf_append(b, "]}\n", 3);
    return rc;
}

static void ex_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    ex_job *j = srv_req_udata(r);
    ax_arena *a = srv_req_arena(r);
    srv_span ms[MAX_MATCH];
    size_t nm = srv_req_params(r, "match[]", ms, MAX_MATCH);
    int64_t start, end;
    eng_sel *sels[MAX_MATCH] = {0};
    ex_item *items = NULL;
    size_t n_items = 0;
    eng_samples smp = {0};
    if (nm == 0) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "missing match[] parameter");
        return;
    }
    if (nm > MAX_MATCH) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "too many match[] parameters (at most %d)", MAX_MATCH);
        return;
    }
    if ((j->rc = parse_time_param(r, "start", INT64_MIN, &start, &j->err))) return;
    if ((j->rc = parse_time_param(r, "end", INT64_MAX, &end, &j->err))) return;
    if (end < start) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "end timestamp must not be before start time");
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < nm && !j->rc; i++) {
        eng_matcher *m = NULL;
        size_t n = 0;
        j->rc = pql_selector_parse(ms[i].p, ms[i].len, a, &m, &n, &j->err);
        if (j->rc) break;
        j->rc = eng_select(app->e, m, n, 0, &sels[i]);
        pql_matchers_free(m, n);
        if (!j->rc) total += eng_sel_count(sels[i]);
    }
    if (!j->rc) {
        items = malloc((total ? total : 1) * sizeof *items);
        if (!items) j->rc = AX_ENOMEM;
    }
    for (size_t i = 0; i < nm && !j->rc; i++)
        for (size_t k = 0; k < eng_sel_count(sels[i]); k++) {
            items[n_items].sid = eng_sel_sid(sels[i], k);
            items[n_items].labels = eng_sel_labels(sels[i], k, &items[n_items].len);
            n_items++;
        }
    if (!j->rc && n_items) qsort(items, n_items, sizeof *items, ex_cmp);
    ax_buf_init(&j->out, app->max_export_bytes);
    for (size_t i = 0; i < n_items && !j->rc; i++) {
        if (i && items[i].sid == items[i - 1].sid) continue;
        int rc = eng_series_read(app->e, items[i].sid, start, end, 0, &smp);
        if (rc == AX_ENOTFOUND) continue;
        if (rc) {
            j->rc = ax_err_set(&j->err, rc, "reading series: %s", ax_strerror(rc));
            break;
        }
        if (!smp.n) continue;
        rc = put_export_line(&j->out, items[i].labels, items[i].len, &smp);
        if (rc == AX_ETOOBIG)
            j->rc = ax_err_set(&j->err, AX_ELIMIT,
                               "export larger than %zu bytes: narrow match[] or start/end",
                               app->max_export_bytes);
        else j->rc = rc;
    }
    eng_samples_free(&smp);
    free(items);
    for (size_t i = 0; i < nm && i < MAX_MATCH; i++) eng_sel_free(sels[i]);
}

static void ex_after(srv_req *r) {
    ex_job *j = srv_req_udata(r);
    if (j->rc) {
        ax_buf_free(&j->out);
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
        return;
    }
    srv_reply_buf_take(r, 200, "application/stream+json; charset=utf-8", &j->out);
}

static void h_export(srv_req *r, void *ctx) {
    ex_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    srv_req_set_udata(r, j);
    srv_req_work(r, ex_work, ex_after);
}

/* ---- /metrics, probes, flush, build info ---- */

typedef struct buf_job {
    int rc;
    ax_buf out;
} buf_job;

static void metrics_work(srv_req *r) {
    buf_job *j = srv_req_udata(r);
    if (!j->rc) j->rc = srv_metrics_write(srv_req_ctx(r), &j->out);
}

static void metrics_after(srv_req *r) {
    buf_job *j = srv_req_udata(r);
    if (j->rc) {
        ax_buf_free(&j->out);
        srv_reply_error(r, 500, "internal", "cannot render metrics: %s", ax_strerror(j->rc));
        return;
    }
    srv_reply_buf_take(r, 200, "text/plain; version=0.0.4; charset=utf-8", &j->out);
}

static void h_metrics(srv_req *r, void *ctx) {
    buf_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    ax_buf_init(&j->out, 64u << 20);
    j->rc = srv_metrics_http_write(ctx, &j->out); /* server counters: loop thread only */
    srv_req_set_udata(r, j);
    srv_req_work(r, metrics_work, metrics_after);
}

static void h_healthy(srv_req *r, void *ctx) {
    static const char ok[] = "auspex is Healthy.\n";
    srv_reply(r, 200, "text/plain; charset=utf-8", ok, sizeof ok - 1);
}

static void h_ready(srv_req *r, void *ctx) {
    static const char ok[] = "auspex is Ready.\n";
    srv_reply(r, 200, "text/plain; charset=utf-8", ok, sizeof ok - 1);
}

static void flush_work(srv_req *r) {
    buf_job *j = srv_req_udata(r);
    j->rc = eng_flush(((srv_app *)srv_req_ctx(r))->e);
}

static void flush_after(srv_req *r) {
    buf_job *j = srv_req_udata(r);
    if (j->rc) {
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        srv_reply_error(r, status, etype, "flush failed: %s", ax_strerror(j->rc));
        return;
    }
    srv_reply(r, 200, NULL, NULL, 0);
}

static void h_force_flush(srv_req *r, void *ctx) {
    buf_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    srv_req_set_udata(r, j);
    srv_req_work(r, flush_work, flush_after);
}

static void h_buildinfo(srv_req *r, void *ctx) {
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"status\":\"success\",\"data\":{\"version\":\"%s\",\"revision\":\"\","
                     "\"branch\":\"main\",\"buildUser\":\"\",\"buildDate\":\"\","
                     "\"goVersion\":\"none (C11)\"}}",
                     AUSPEX_VERSION);
    srv_reply(r, 200, "application/json", body, (size_t)n);
}

int srv_api_register(srv_app *app) {
    srv_http *h = app->http;
    int rc = 0;
    if (!rc) rc = srv_http_route(h, SRV_POST, "/api/v1/write", false, h_write, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/export", false, h_export, app);
    if (!rc) rc = srv_http_route_max_body(h, "/api/v1/export", false, 1u << 20);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/metrics", false, h_metrics, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/-/healthy", false, h_healthy, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/-/ready", false, h_ready, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/internal/force_flush", false,
                                 h_force_flush, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/api/v1/status/buildinfo", false, h_buildinfo, app);
    return rc;
}
