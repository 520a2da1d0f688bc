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
#include "server/backtest.h"
#include "query/query.h"
#include "server/gzip.h"
#include "server/ui.h"
#include "server/forward.h"
#include "server/remote_write.h"
#include "server/scrape.h"
#include "server/jsonl_import.h"
#include "server/csv.h"
#include "server/metadata.h"
#include "server/text_import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Give the request a zeroed job of `size` bytes in its arena (as udata). NULL (and a 503
 * reply) when the request's memory budget is spent. */
static void *job_new(srv_req *r, size_t size) {
    void *j = ax_arena_alloc(srv_req_arena(r), size);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return NULL;
    }
    memset(j, 0, size);
    srv_req_set_udata(r, j);
    return j;
}

/* ---- POST /api/v1/write ---- */

typedef struct rw_job {
    int rc;
    int fmt;            /* imports: IMP_TEXT, IMP_JSON or IMP_CSV */
    int enc;            /* imports: SRV_ENC_* of the body */
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
    j->rc = srv_store(app, ts, n, &j->err);
    if (j->rc == AX_EINVAL) j->reason = SRV_REJ_LABELS;
    else if (j->rc == AX_ELIMIT) j->reason = SRV_REJ_LIMIT;
    else j->reason = SRV_REJ_UNAVAILABLE;
}

/* Reply to a write (remote-write or an import): 204, or the error with its status. */
static void write_after(srv_req *r, bool remote_write) {
    srv_app *app = srv_req_ctx(r);
    rw_job *j = srv_req_udata(r);
    if (!j->rc) {
        srv_reply(r, 204, NULL, NULL, 0);
        return;
    }
    if (remote_write) atomic_fetch_add(&app->rw_requests_failed, 1);
    atomic_fetch_add(&app->rejected[j->reason], 1);
    atomic_fetch_add(&app->rejected_rows[j->reason], j->samples);
    const char *etype = NULL;
    int status = srv_http_status_of(j->rc, &etype);
    if (j->rc == AX_ELIMIT) status = 400; /* a write over a limit is the sender's to fix */
    if (status == 503) srv_reply_header(r, "Retry-After", "1");
    srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
}

static void rw_after(srv_req *r) { write_after(r, true); }
static void import_after(srv_req *r) { write_after(r, false); }

static void h_write(srv_req *r, void *ctx) {
    srv_app *app = ctx;
    atomic_fetch_add(&app->rw_requests, 1);
    srv_req_body_is_data(r);
    if (srv_req_param(r, "get_vm_proto_version", NULL)) {
        /* vmagent >= 1.88 asks whether VictoriaMetrics' own (zstd) protocol is spoken; a
         * non-2xx answer makes it fall back to Prometheus remote-write */
        srv_reply_error(r, 400, "bad_data",
                        "only the Prometheus remote-write protocol (snappy) is supported");
        return;
    }
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
    if (job_new(r, sizeof(rw_job))) srv_req_work(r, rw_work, rw_after);
}

/* ---- POST /api/v1/import/prometheus ----
 * Prometheus text exposition (optional per-line timestamps in ms; lines without one get the
 * time of the request), with VictoriaMetrics' extra_label=name=value parameters. All or
 * nothing, like remote-write: the first bad line refuses the body with its line number. */

#define MAX_EXTRA 16

/* extra_label=name=value parameters into extra[0..MAX_EXTRA). OUT: *n. */
static int extra_labels(srv_req *r, ax_label *extra, size_t *n, ax_err *e) {
    srv_span xs[MAX_EXTRA];
    size_t nx = srv_req_params(r, "extra_label", xs, MAX_EXTRA);
    if (nx > MAX_EXTRA)
        return ax_err_set(e, AX_EINVAL, "at most %d extra_label parameters", MAX_EXTRA);
    for (size_t i = 0; i < nx; i++) {
        const char *eq = memchr(xs[i].p, '=', xs[i].len);
        if (!eq || eq == xs[i].p || !ax_label_name_valid(xs[i].p, (size_t)(eq - xs[i].p)))
            return ax_err_set(e, AX_EINVAL,
                              "extra_label \"%.*s\": want name=value with a valid label name",
                              (int)(xs[i].len > 64 ? 64 : xs[i].len), xs[i].p);
        extra[i] = (ax_label){xs[i].p, eq + 1, (uint32_t)(eq - xs[i].p),
                              (uint32_t)(xs[i].len - (size_t)(eq + 1 - xs[i].p))};
    }
    *n = nx;
    return 0;
}

/* The common end of an import: hand the decoded series to the engine. */
static void import_write(srv_app *app, rw_job *j, eng_ts *ts, size_t n) {
    j->rc = srv_store(app, ts, n, &j->err);
    if (j->rc == AX_EINVAL) j->reason = SRV_REJ_LABELS;
    else if (j->rc == AX_ELIMIT) j->reason = SRV_REJ_LIMIT;
    else j->reason = SRV_REJ_UNAVAILABLE;
}

static bool same_labels(const eng_ts *x, const eng_ts *y) {
    if (x->n_labels != y->n_labels) return false;
    for (size_t i = 0; i < x->n_labels; i++) {
        const ax_label *a = &x->labels[i], *b = &y->labels[i];
        if (a->name_len != b->name_len || a->value_len != b->value_len ||
            memcmp(a->value, b->value, a->value_len) || memcmp(a->name, b->name, a->name_len))
            return false;
    }
    return true;
}

/* Text files written series by series (backfills, dumps) hold runs of lines of one
 * series: merge each run into one eng_ts, so the engine looks the series up and logs it
 * once per run instead of once per line. Order within the body is kept. OUT: *n. */
static int merge_runs(eng_ts *ts, size_t *n, ax_arena *a) {
    size_t k = 0;
    for (size_t i = 0; i < *n;) {
        size_t j = i + 1, m = ts[i].n_samples;
        while (j < *n && same_labels(&ts[i], &ts[j])) m += ts[j++].n_samples;
        eng_ts run = ts[i];
        if (j - i > 1) {
            eng_sample *s = ax_arena_alloc(a, m * sizeof *s);
            if (!s) return AX_ETOOBIG;
            size_t o = 0;
            for (size_t x = i; x < j; x++) {
                memcpy(s + o, ts[x].samples, ts[x].n_samples * sizeof *s);
                o += ts[x].n_samples;
            }
            run.samples = s;
            run.n_samples = m;
        }
        ts[k++] = run;
        i = j;
    }
    *n = k;
    return 0;
}

enum { IMP_TEXT, IMP_JSON, IMP_CSV };

/* The imports: extra labels, parse the body with the route's format, hand it on. */
static void import_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    rw_job *j = srv_req_udata(r);
    ax_label extra[MAX_EXTRA];
    size_t nx = 0;
    j->reason = SRV_REJ_DECODE;
    if ((j->rc = extra_labels(r, extra, &nx, &j->err))) return;
    size_t len = 0;
    const char *body = (const char *)srv_req_body(r, &len);
    /* a compressed body is inflated into `plain`, capped like a plain one; the parsed
     * series point into it, so it lives until eng_write is done */
    ax_buf plain;
    ax_buf_init(&plain, app->max_insert_bytes);
    if (j->enc != SRV_ENC_IDENTITY) {
        j->rc = srv_inflate((const uint8_t *)body, len, j->enc, app->max_insert_bytes, &plain, &j->err);
        if (j->rc) {
            if (j->rc == AX_ETOOBIG) j->reason = SRV_REJ_TOO_BIG;
            ax_buf_free(&plain);
            return;
        }
        body = (const char *)plain.data;
        len = plain.len;
    }
    eng_ts *ts = NULL;
    size_t n = 0;
    if (j->fmt == IMP_JSON) {
        j->rc = srv_jsonl_parse(body, len, extra, nx, srv_req_arena(r), &ts, &n, &j->samples,
                                &j->err);
    } else if (j->fmt == IMP_CSV) {
        size_t fl = 0;
        const char *fs = srv_req_param(r, "format", &fl);
        srv_csv_format *cf = NULL;
        j->rc = srv_csv_format_parse(fs ? fs : "", fs ? fl : 0, srv_req_arena(r), &cf, &j->err);
        if (!j->rc)
            j->rc = srv_csv_parse(cf, body, len, ax_now_ms(), extra, nx, srv_req_arena(r), &ts, &n,
                                  &j->samples, &j->err);
    } else {
        j->rc = srv_text_parse(body, len, ax_now_ms(), extra, nx, srv_req_arena(r), &ts, &n,
                               &j->samples, &j->err);
        if (!j->rc) j->rc = merge_runs(ts, &n, srv_req_arena(r));
    }
    if (j->rc) {
        if (j->rc == AX_ETOOBIG || j->rc == AX_ELIMIT) j->reason = SRV_REJ_TOO_BIG;
    } else {
        import_write(app, j, ts, n);
        if (!j->rc && j->fmt == IMP_TEXT) srv_meta_observe(app->meta, body, len);
    }
    ax_buf_free(&plain);
}

static void import_start(srv_req *r, int fmt) {
    srv_req_body_is_data(r);
    size_t clen = 0;
    const char *enc = srv_req_header(r, "content-encoding", &clen);
    int code = srv_content_encoding(enc, clen);
    if (code < 0) {
        srv_reply_error(r, 415, "bad_data",
                        "unsupported Content-Encoding \"%.*s\" (gzip, deflate or none)",
                        (int)(clen > 32 ? 32 : clen), enc);
        return;
    }
    rw_job *j = job_new(r, sizeof *j);
    if (!j) return;
    j->fmt = fmt;
    j->enc = code;
    srv_req_work(r, import_work, import_after);
}

static void h_import_text(srv_req *r, void *ctx) { import_start(r, IMP_TEXT); }

/* ---- POST /api/v1/import ----
 * VictoriaMetrics JSON lines, the counterpart of /api/v1/export; all or nothing. */
static void h_import_json(srv_req *r, void *ctx) { import_start(r, IMP_JSON); }

/* ---- POST /api/v1/import/csv?format=… ----
 * VictoriaMetrics' CSV import (server/csv.h); all or nothing. */
static void h_import_csv(srv_req *r, void *ctx) { import_start(r, IMP_CSV); }

/* ---- GET /api/v1/export ----
 * Streamed: the first work item parses match[], selects and sorts the series; each work
 * item then renders up to EX_PIECE bytes of lines and `after` sends them as one chunk and
 * queues the next item, so memory stays at a piece or two whatever the export's size.
 * Nothing is sent before the selection succeeded, so errors in the request still get a
 * proper 4xx; a read error after that aborts the body (no final chunk).
 *
 * ---- GET /federate ----
 * Prometheus' federation on the same machinery: for each series matched by a match[], the
 * newest sample in [now - -search.lookbackDelta, now] unless it is a staleness marker, as
 * text exposition (`# TYPE name untyped`, then `name{labels} value timestamp_ms`), the
 * series ordered by metric name so each family is written once, instance="" added where
 * a series has no instance label; no match[]: an empty body, as Prometheus. Values print
 * as Go's expfmt prints them ('g' shortest: 1.5e+06). */

#define MAX_MATCH 32
#define EX_PIECE (1u << 20)
#define EX_QUEUE_MAX (8u << 20)   /* pause producing while this much waits on the socket */

typedef struct ex_item {
    uint64_t sid;
    const uint8_t *labels;
    size_t len;
    const char *name;   /* federate: the metric name (the sort key); NULL: nameless */
    size_t name_len;
} ex_item;

typedef struct ex_job {
    int rc;
    ax_err err;
    ax_buf out;
    eng_sel *sels[MAX_MATCH];
    size_t nm;
    ex_item *items;
    size_t n_items, next;
    int64_t start, end;
    bool started;
    eng_samples smp;
    bool federate;
    bool csv_route;     /* /api/v1/export/csv */
    srv_csv_out *csv;   /* its format: the fields of a line */
    const char *family; /* federate: the name whose # TYPE line was written last */
    size_t family_len;
} ex_job;

static int ex_cmp(const void *a, const void *b) {
    uint64_t x = ((const ex_item *)a)->sid, y = ((const ex_item *)b)->sid;
    return (x > y) - (x < y);
}

/* federate: by metric name, then by series id (so duplicates from several match[] stay
 * adjacent) */
static int fed_cmp(const void *a, const void *b) {
    const ex_item *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = n ? memcmp(x->name, y->name, n) : 0;
    if (c) return c;
    if (x->name_len != y->name_len) return x->name_len < y->name_len ? -1 : 1;
    return ex_cmp(a, b);
}

/* A float as expfmt writes it: 0, 1, -1, NaN, +Inf, -Inf spelled out, else Go's
 * strconv.FormatFloat(v, 'g', -1, 64): the shortest round-trip digits, in exponent form
 * when the decimal exponent is below -4 or at least 6 ("1e-05", "123456", "1.5e+06"). */
static size_t fmt_expfmt(char *out, double v) {
    if (v == 0) return (size_t)snprintf(out, 4, "0"); /* -0 too: expfmt tests v == 0 */
    if (!isfinite(v) || v == 1 || v == -1) return ax_fmt_double(out, v);
    char e[AX_FMT_GO_MAX];
    ax_fmt_go(e, v, 'e');
    const char *x = strchr(e, 'e');
    int exp = x ? atoi(x + 1) : 0;
    if (exp < -4 || exp >= 6) return (size_t)snprintf(out, AX_FMT_GO_MAX, "%s", e);
    return ax_fmt_go(out, v, 'f');
}

static int put_federate_line(ex_job *j, const ex_item *it, const eng_samples *s) {
    double v = s->v[s->n - 1];
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (!it->name || bits == SRV_STALE_NAN_BITS) return 0;
    ax_buf *b = &j->out;
    int rc = 0;
    if (!j->family || j->family_len != it->name_len || memcmp(j->family, it->name, it->name_len)) {
        rc = ax_buf_printf(b, "# TYPE %.*s untyped\n", (int)it->name_len, it->name);
        j->family = it->name;
        j->family_len = it->name_len;
    }
    ax_label ls[AX_MAX_LABELS];
    size_t n = 0;
    if (!rc) rc = ax_labels_decode(it->labels, it->len, ls, AX_MAX_LABELS, &n);
    if (!rc) rc = ax_buf_append(b, it->name, it->name_len);
    bool open = false;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!ls[i].value_len || (ls[i].name_len == 8 && !memcmp(ls[i].name, "__name__", 8))) continue;
        rc = ax_buf_append(b, open ? "," : "{", 1);
        open = true;
        if (!rc) rc = ax_buf_append(b, ls[i].name, ls[i].name_len);
        if (!rc) rc = ax_buf_append(b, "=\"", 2);
        for (uint32_t k = 0; k < ls[i].value_len && !rc; k++) { /* text format escapes */
            char c = ls[i].value[k];
            rc = c == '\\' ? ax_buf_append(b, "\\\\", 2)
                 : c == '"' ? ax_buf_append(b, "\\\"", 2)
                 : c == '\n' ? ax_buf_append(b, "\\n", 2)
                              : ax_buf_append(b, &c, 1);
        }
        if (!rc) rc = ax_buf_append(b, "\"", 1);
    }
    /* Prometheus attaches its external labels, and always instance="", to series that lack
     * them, so that a federating server with honor_labels keeps no instance of its own */
    if (!rc && !ax_labels_get(it->labels, it->len, "instance", 8, &(size_t){0}))
        rc = ax_buf_append_str(b, open ? ",instance=\"\"}" : "{instance=\"\"}");
    else if (!rc && open) rc = ax_buf_append(b, "}", 1);
    char num[AX_FMT_GO_MAX];
    size_t k = fmt_expfmt(num, v);
    if (!rc) rc = ax_buf_append(b, " ", 1);
    if (!rc) rc = ax_buf_append(b, num, k);
    if (!rc) rc = ax_buf_printf(b, " %lld\n", (long long)s->ts[s->n - 1]);
    return rc;
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
    for (size_t i = 0; i < s->n && !rc; i++) {
        char num[24];
        int k = snprintf(num, sizeof num, i ? ",%lld" : "%lld", (long long)s->ts[i]);
        rc = ax_buf_append(b, num, (size_t)k);
    }
    if (!rc) rc = ax_buf_append(b, "]}\n", 3);
    return rc;
}

static void ex_free(ex_job *j) {
    for (size_t i = 0; i < j->nm; i++) eng_sel_free(j->sels[i]);
    j->nm = 0;
    free(j->items);
    j->items = NULL;
    eng_samples_free(&j->smp);
    ax_buf_free(&j->out);
}

/* Render lines into j->out until it holds a piece or the series run out. */
static void ex_produce(srv_app *app, ex_job *j) {
    ax_buf_init(&j->out, app->max_export_bytes);
    while (j->next < j->n_items && j->out.len < EX_PIECE && !j->rc) {
        ex_item *it = &j->items[j->next++];
        if (j->next > 1 && it->sid == j->items[j->next - 2].sid) continue;
        int rc = eng_series_read_all(app->e, it->sid, j->start, j->end, 0, &j->smp);
        if (rc == AX_ENOTFOUND) continue;
        if (rc) {
            j->rc = ax_err_set(&j->err, rc, "reading series %llu: %s", (unsigned long long)it->sid,
                               ax_strerror(rc));
            break;
        }
        if (!j->smp.n) continue;
        if (j->csv) rc = srv_csv_out_lines(&j->out, j->csv, it->labels, it->len, j->smp.ts, j->smp.v, j->smp.n);
        else if (j->federate) rc = put_federate_line(j, it, &j->smp);
        else rc = put_export_line(&j->out, it->labels, it->len, &j->smp);
        if (rc) j->rc = ax_err_set(&j->err, rc == AX_ETOOBIG ? AX_ELIMIT : rc,
                                   "one series renders to more than %zu bytes", app->max_export_bytes);
    }
}

static void ex_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    ex_job *j = srv_req_udata(r);
    ax_arena *a = srv_req_arena(r);
    srv_span ms[MAX_MATCH];
    size_t nm = srv_req_params(r, "match[]", ms, MAX_MATCH);
    if (nm == 0 && !j->federate) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "missing match[] parameter");
        return;
    }
    if (nm > MAX_MATCH) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "too many match[] parameters (at most %d)", MAX_MATCH);
        return;
    }
    if (j->csv_route) {
        size_t fl = 0;
        const char *fs = srv_req_param(r, "format", &fl);
        if ((j->rc = srv_csv_out_parse(fs ? fs : "", fs ? fl : 0, a, &j->csv, &j->err))) return;
    }
    if (j->federate) {
        j->end = ax_now_ms();
        j->start = j->end - app->query_lookback_ms;
    } else {
        if ((j->rc = srv_req_param_time(r, "start", INT64_MIN, &j->start, NULL, &j->err))) return;
        if ((j->rc = srv_req_param_time(r, "end", INT64_MAX, &j->end, NULL, &j->err))) return;
    }
    if (j->end < j->start) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "end timestamp must not be before start time");
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < nm && !j->rc; i++) {
        eng_matcher *m = NULL;
        size_t n = 0;
        j->rc = pql_selector_parse(ms[i].p, ms[i].len, a, &m, &n, &j->err);
        if (j->rc) break;
        j->rc = eng_select(app->e, m, n, 0, &j->sels[j->nm]);
        pql_matchers_free(m, n);
        if (!j->rc) total += eng_sel_count(j->sels[j->nm++]);
    }
    if (!j->rc) {
        j->items = malloc((total ? total : 1) * sizeof *j->items);
        if (!j->items) j->rc = AX_ENOMEM;
    }
    for (size_t i = 0; i < j->nm && !j->rc; i++)
        for (size_t k = 0; k < eng_sel_count(j->sels[i]); k++) {
            ex_item *it = &j->items[j->n_items++];
            it->sid = eng_sel_sid(j->sels[i], k);
            it->labels = eng_sel_labels(j->sels[i], k, &it->len);
            it->name = ax_labels_get(it->labels, it->len, "__name__", 8, &it->name_len);
        }
    if (!j->rc && j->n_items)
        qsort(j->items, j->n_items, sizeof *j->items, j->federate ? fed_cmp : ex_cmp);
    if (!j->rc) ex_produce(app, j);
}

static void ex_more_work(srv_req *r) { ex_produce(srv_req_ctx(r), srv_req_udata(r)); }

/* The client reads slower than we render: wait a little on the worker, render nothing. */
static void ex_wait_work(srv_req *r) {
    ex_job *j = srv_req_udata(r);
    ax_buf_init(&j->out, 0);
    struct timespec d = {0, 5 * 1000000L};
    nanosleep(&d, NULL);
}

static void ex_after(srv_req *r) {
    ex_job *j = srv_req_udata(r);
    if (j->rc && !j->started) {
        ex_free(j);
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
        return;
    }
    if (!j->started) {
        srv_reply_stream_begin(r, 200, j->csv        ? "text/csv; charset=utf-8"
                                       : j->federate ? "text/plain; version=0.0.4; charset=utf-8"
                                                     : "application/stream+json; charset=utf-8");
        j->started = true;
    }
    bool gone = srv_reply_stream_take(r, &j->out) != 0;
    if (j->rc) fprintf(stderr, "auspex: export aborted: %s\n", j->err.msg);
    if (!gone && !j->rc && j->next < j->n_items) {
        /* the socket drains while the next piece renders; past EX_QUEUE_MAX the next
         * piece waits for it (bounded memory for slow readers) */
        if (srv_reply_stream_queued(r) < EX_QUEUE_MAX) {
            srv_req_work(r, ex_more_work, ex_after);
            return;
        }
        srv_req_work(r, ex_wait_work, ex_after);
        return;
    }
    bool complete = !gone && !j->rc;
    ex_free(j);
    srv_reply_stream_end(r, complete);
}

static void h_export(srv_req *r, void *ctx) {
    if (job_new(r, sizeof(ex_job))) srv_req_work(r, ex_work, ex_after);
}

/* GET|POST /api/v1/export/csv?format=…&match[]=…: VictoriaMetrics' CSV export (server/csv.h) */
static void h_export_csv(srv_req *r, void *ctx) {
    ex_job *j = job_new(r, sizeof *j);
    if (!j) return;
    j->csv_route = true;
    srv_req_work(r, ex_work, ex_after);
}

static void h_federate(srv_req *r, void *ctx) {
    ex_job *j = job_new(r, sizeof *j);
    if (!j) return;
    j->federate = true;
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
    buf_job *j = job_new(r, sizeof *j);
    if (!j) return;
    ax_buf_init(&j->out, 64u << 20);
    j->rc = srv_metrics_http_write(ctx, &j->out); /* server counters: loop thread only */
    srv_req_work(r, metrics_work, metrics_after);
}

static void h_healthy(srv_req *r, void *ctx) {
    static const char ok[] = "auspex is Healthy.\n";
    srv_reply(r, 200, "text/plain; charset=utf-8", ok, sizeof ok - 1);
}

/* ---- GET /api/v1/metadata ----
 * Prometheus' metric metadata: what # HELP / # TYPE / # UNIT lines of imports and scrapes
 * said, latest first; `metric` narrows to one name, `limit` caps the names. */
typedef struct meta_job {
    int rc;
    ax_err err;
    ax_buf out;
} meta_job;

static void metadata_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    meta_job *j = srv_req_udata(r);
    size_t ml = 0;
    const char *metric = srv_req_param(r, "metric", &ml);
    uint64_t limit = 0;
    if ((j->rc = srv_req_param_uint(r, "limit", 0, 1u << 30, &limit, &j->err))) return;
    ax_buf_init(&j->out, 256u << 20);
    j->rc = ax_buf_append_str(&j->out, "{\"status\":\"success\",\"data\":");
    if (!j->rc) j->rc = srv_meta_write_json(app->meta, metric && ml ? metric : NULL, ml, (size_t)limit, &j->out);
    if (!j->rc) j->rc = ax_buf_append(&j->out, "}", 1);
    if (j->rc) ax_err_set(&j->err, j->rc, "metadata: %s", ax_strerror(j->rc));
}

static void metadata_after(srv_req *r) {
    meta_job *j = srv_req_udata(r);
    if (j->rc) {
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        srv_reply_error(r, status, etype, "%s", j->err.msg);
    } else {
        srv_reply_buf_take(r, 200, "application/json", &j->out);
    }
    ax_buf_free(&j->out);
}

static void h_metadata(srv_req *r, void *ctx) {
    if (job_new(r, sizeof(meta_job))) srv_req_work(r, metadata_work, metadata_after);
}

/* ---- GET /api/v1/targets ---- the built-in scraper's targets, Prometheus' shape */
static void h_targets(srv_req *r, void *ctx) {
    srv_app *app = ctx;
    ax_buf out;
    ax_buf_init(&out, 256u << 20);
    int rc = ax_buf_append_str(&out, "{\"status\":\"success\",\"data\":");
    if (!rc) rc = srv_scrape_targets_json(app->scrape, &out);
    if (!rc) rc = ax_buf_append(&out, "}", 1);
    if (rc) srv_reply_error(r, 503, "unavailable", "targets: %s", ax_strerror(rc));
    else srv_reply_buf_take(r, 200, "application/json", &out);
    ax_buf_free(&out);
}

/* VictoriaMetrics' probe (vmctl checks it before migrating) */
static void h_health(srv_req *r, void *ctx) { srv_reply(r, 200, "text/plain; charset=utf-8", "OK", 2); }

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
    if (job_new(r, sizeof(buf_job))) srv_req_work(r, flush_work, flush_after);
}

/* ---- /internal/resetRollupResultCache (VictoriaMetrics' route): forget kept results ---- */
static void h_reset_cache(srv_req *r, void *ctx) {
    srv_app *app = ctx;
    pql_cache_reset(app->query_cache);
    srv_reply(r, 204, "text/plain", "", 0);
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

/* Prometheus' runtimeinfo fields that mean something here, then auspex's own figures (the
 * web UI's status page reads them). */
static void h_runtimeinfo(srv_req *r, void *ctx) {
    srv_app *app = ctx;
    eng_stats s;
    eng_stats_get(app->e, &s);
    srv_http_stats hs;
    srv_http_stats_get(app->http, &hs);
    char start[AX_FMT_RFC3339_MAX], cwd[1024];
    ax_fmt_rfc3339(start, app->start_ms);
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    ax_buf b;
    ax_buf_init(&b, 64u << 10);
    int rc = ax_buf_printf(&b, "{\"status\":\"success\",\"data\":{\"startTime\":\"%s\",\"CWD\":", start);
    if (!rc) rc = srv_json_str(&b, cwd, strlen(cwd));
    if (!rc) rc = ax_buf_printf(&b, ",\"reloadConfigSuccess\":true,\"lastConfigTime\":\"%s\","
                                "\"corruptionCount\":0,\"storageRetention\":", start);
    if (!rc) rc = srv_json_str(&b, app->retention ? app->retention : "", app->retention ? strlen(app->retention) : 0);
    if (!rc) rc = ax_buf_append_str(&b, ",\"storagePath\":");
    if (!rc) rc = srv_json_str(&b, app->data_path ? app->data_path : "", app->data_path ? strlen(app->data_path) : 0);
    if (!rc)
        rc = ax_buf_printf(&b, ",\"uptimeSeconds\":%.3f,\"series\":%llu,\"samplesIngested\":%llu,"
                           "\"headSamples\":%llu,\"diskBytes\":{\"lmdb\":%llu,\"wal\":%llu},"
                           "\"openConnections\":%llu,\"scrapeTargets\":%s,\"rules\":%s}}",
                           (double)(ax_now_ms() - app->start_ms) / 1000.0,
                           (unsigned long long)s.series_total, (unsigned long long)s.samples_ingested,
                           (unsigned long long)s.head_samples, (unsigned long long)s.lmdb_bytes,
                           (unsigned long long)s.wal_bytes, (unsigned long long)hs.conns_open,
                           app->scrape ? "true" : "false", app->rules ? "true" : "false");
    if (rc) srv_reply_error(r, 503, "unavailable", "runtimeinfo: %s", ax_strerror(rc));
    else srv_reply_buf_take(r, 200, "application/json", &b);
    ax_buf_free(&b);
}

int srv_store(srv_app *app, eng_ts *ts, size_t n, ax_err *e) {
    int rc = eng_write(app->e, ts, n, e);
    if (!rc && app->fwd && (rc = srv_fwd_append(app->fwd, ts, n)))
        ax_err_set(e, rc, "stored, but not queued for -remoteWrite.url: %s", ax_strerror(rc));
    return rc;
}

int srv_api_register(srv_app *app) {
    srv_http *h = app->http;
    int rc = 0;
    if (!app->meta && !(app->meta = srv_meta_new(100000))) return AX_ENOMEM;
    if (!rc) rc = srv_http_route(h, SRV_POST, "/api/v1/write", false, h_write, app);
    if (!rc) rc = srv_http_route(h, SRV_POST, "/api/v1/import/prometheus", false, h_import_text, app);
    if (!rc) rc = srv_http_route(h, SRV_POST, "/api/v1/import", false, h_import_json, app);
    if (!rc) rc = srv_http_route(h, SRV_POST, "/api/v1/import/csv", false, h_import_csv, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/export", false, h_export, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/federate", false, h_federate, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/export/csv", false, h_export_csv, app);
    if (!rc) rc = srv_http_route_max_body(h, "/api/v1/export", false, 1u << 20);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/metrics", false, h_metrics, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/-/healthy", false, h_healthy, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/-/ready", false, h_ready, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/health", false, h_health, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/metadata", false, h_metadata, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/api/v1/targets", false, h_targets, app);
    if (!rc) rc = srv_api_series_register(app);
    if (!rc) rc = srv_api_query_register(app);
    if (!rc) rc = srv_api_remote_read_register(app);
    if (!rc) rc = srv_api_forecast_register(app);
    if (!rc) rc = srv_api_rules_register(app);
    if (!rc) rc = srv_api_backtest_register(app);
    if (!rc) rc = srv_api_decisions_register(app);
    if (!rc) rc = srv_api_admin_register(app);
    if (!rc) rc = srv_api_snapshot_register(app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/internal/resetRollupResultCache", false,
                                 h_reset_cache, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/internal/force_flush", false,
                                 h_force_flush, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/api/v1/status/buildinfo", false, h_buildinfo, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/api/v1/status/runtimeinfo", false, h_runtimeinfo, app);
    if (!rc) rc = srv_ui_register(app);
    return rc;
}
