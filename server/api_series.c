/* server/api_series.c: Prometheus' metadata routes over the series index:
 *   GET|POST /api/v1/series?match[]=…&start=…&end=…&limit=…   label sets
 *   GET|POST /api/v1/labels?match[]=…                          label names
 *   GET|POST /api/v1/label/<name>/values?match[]=…             values of one label
 * match[] are series selectors (a union); without match[], /labels and /label/…/values
 * look at every series, /series refuses (as Prometheus). With start or end, only series
 * with a sample in [start, end] count (for names and values: in the UTC days it touches). Results are sorted (label sets by their canonical
 * bytes, names and values bytewise) and cut at `limit` when it is > 0. The work runs on
 * the threadpool; the reply is built in one buffer.
 */
#include "query/query.h"
#include "server/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MATCH 32
#define MAX_REPLY ((size_t)1 << 30)

enum { Q_SERIES, Q_LABELS, Q_VALUES };

typedef struct ms_job {
    int kind;
    int rc;
    ax_err err;
    ax_buf out;
    char name[AX_MAX_LABEL_NAME + 1]; /* Q_VALUES: the label */
    size_t name_len;
} ms_job;

typedef struct item {
    uint64_t sid;
    const uint8_t *labels;
    size_t len;
} item;

typedef struct span {
    const char *p;
    size_t len;
} span;

static int item_cmp(const void *a, const void *b) {
    const item *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->labels, y->labels, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Does the series hold a sample in [start, end]? */
static int has_data(eng *e, uint64_t sid, int64_t start, int64_t end, bool *yes) {
    eng_samples s = {0};
    int rc = eng_series_read_all(e, sid, start, end, 1, &s);
    *yes = rc == AX_ELIMIT || (rc == 0 && s.n > 0);
    eng_samples_free(&s);
    return rc == AX_ELIMIT || rc == AX_ENOTFOUND ? 0 : rc;
}

static void ms_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    ms_job *j = srv_req_udata(r);
    ax_arena *a = srv_req_arena(r);
    eng_sel *sels[MAX_MATCH + 1];
    size_t nsel = 0, total = 0;
    item *items = NULL;
    span *spans = NULL;
    srv_span ms[MAX_MATCH];
    size_t nm = srv_req_params(r, "match[]", ms, MAX_MATCH);
    int64_t start, end;
    uint64_t limit = 0;
    bool timed = false;
    if (nm > MAX_MATCH) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "too many match[] parameters (at most %d)", MAX_MATCH);
        return;
    }
    if (nm == 0 && j->kind == Q_SERIES) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "no match[] parameter provided");
        return;
    }
    if ((j->rc = srv_req_param_time(r, "start", INT64_MIN, &start, &timed, &j->err)) ||
        (j->rc = srv_req_param_time(r, "end", INT64_MAX, &end, &timed, &j->err)) ||
        (j->rc = srv_req_param_uint(r, "limit", 0, 1u << 30, &limit, &j->err)))
        return;
    if (end < start) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "end timestamp must not be before start time");
        return;
    }
    /* the selections: each match[], or every series */
    for (size_t i = 0; i < (nm ? nm : 1) && !j->rc; i++) {
        eng_matcher all = {.op = ENG_MATCH_RE, .name = "__name__", .name_len = 8, .value = ".+", .value_len = 2};
        eng_matcher *m = &all;
        size_t n = 1;
        if (nm) j->rc = pql_selector_parse(ms[i].p, ms[i].len, a, &m, &n, &j->err);
        else j->rc = eng_matcher_compile(&all, &j->err);
        if (j->rc) break;
        j->rc = eng_select(app->e, m, n, 0, &sels[nsel]);
        if (nm) pql_matchers_free(m, n);
        else eng_matcher_free(&all);
        if (!j->rc) total += eng_sel_count(sels[nsel++]);
    }
    if (!j->rc && !(items = malloc((total ? total : 1) * sizeof *items))) j->rc = AX_ENOMEM;
    size_t ni = 0;
    for (size_t i = 0; i < nsel && !j->rc; i++)
        for (size_t k = 0; k < eng_sel_count(sels[i]); k++) {
            items[ni].sid = eng_sel_sid(sels[i], k);
            items[ni].labels = eng_sel_labels(sels[i], k, &items[ni].len);
            ni++;
        }
    if (!j->rc) qsort(items, ni, sizeof *items, item_cmp);
    /* unique, and with data in the range when one was asked for. Names and values look at
     * whole UTC days around the range, as VictoriaMetrics does (Prometheus looks at whole
     * index blocks): cheaper, and a dashboard's variable list does not flicker. */
    if (timed && j->kind != Q_SERIES) {
        const int64_t day = 86400000;
        if (start > INT64_MIN + day) start = start - ((start % day) + day) % day;
        if (end < INT64_MAX - day) end = end - ((end % day) + day) % day + day - 1;
    }
    size_t nk = 0;
    for (size_t i = 0; i < ni && !j->rc; i++) {
        if (nk && items[nk - 1].sid == items[i].sid) continue;
        if (timed) {
            bool yes = false;
            if ((j->rc = has_data(app->e, items[i].sid, start, end, &yes))) {
                ax_err_set(&j->err, j->rc, "reading series: %s", ax_strerror(j->rc));
                break;
            }
            if (!yes) continue;
        }
        items[nk++] = items[i];
    }
    ax_buf_init(&j->out, MAX_REPLY);
    if (!j->rc) j->rc = ax_buf_append_str(&j->out, "{\"status\":\"success\",\"data\":[");
    if (!j->rc && j->kind == Q_SERIES) {
        for (size_t i = 0; i < nk && !j->rc && (!limit || i < limit); i++) {
            if (i) j->rc = ax_buf_append(&j->out, ",", 1);
            if (!j->rc) j->rc = srv_json_labels(&j->out, items[i].labels, items[i].len);
        }
    } else if (!j->rc) {
        /* names (or one label's values) of every kept series, sorted and unique */
        size_t cap = 0, ns = 0;
        for (size_t i = 0; i < nk && !j->rc; i++) {
            ax_label ls[AX_MAX_LABELS];
            size_t nl = 0;
            if (ax_labels_decode(items[i].labels, items[i].len, ls, AX_MAX_LABELS, &nl)) continue;
            for (size_t k = 0; k < nl; k++) {
                if (j->kind == Q_VALUES &&
                    !(ls[k].name_len == j->name_len && !memcmp(ls[k].name, j->name, j->name_len)))
                    continue;
                if (ns == cap) {
                    cap = cap ? cap * 2 : 1024;
                    span *n2 = realloc(spans, cap * sizeof *spans);
                    if (!n2) {
                        j->rc = AX_ENOMEM;
                        break;
                    }
                    spans = n2;
                }
                spans[ns++] = j->kind == Q_VALUES ? (span){ls[k].value, ls[k].value_len}
                                                  : (span){ls[k].name, ls[k].name_len};
            }
        }
        if (!j->rc && ns) qsort(spans, ns, sizeof *spans, span_cmp);
        size_t out_n = 0;
        for (size_t i = 0; i < ns && !j->rc; i++) {
            if (i && !span_cmp(&spans[i - 1], &spans[i])) continue;
            if (limit && out_n >= limit) break;
            if (out_n++) j->rc = ax_buf_append(&j->out, ",", 1);
            if (!j->rc) j->rc = srv_json_str(&j->out, spans[i].p, spans[i].len);
        }
    }
    if (!j->rc) j->rc = ax_buf_append(&j->out, "]}", 2);
    if (j->rc == AX_ETOOBIG) ax_err_set(&j->err, AX_ELIMIT, "the reply exceeds %zu bytes", MAX_REPLY);
    free(spans);
    free(items);
    for (size_t i = 0; i < nsel; i++) eng_sel_free(sels[i]);
}

static void ms_after(srv_req *r) {
    ms_job *j = srv_req_udata(r);
    if (j->rc) {
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        if (j->rc == AX_ELIMIT) status = 422, etype = "execution";
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
    } else {
        srv_reply_buf_take(r, 200, "application/json", &j->out);
    }
    ax_buf_free(&j->out);
}

int srv_api_tsdb_register(srv_app *app);

static ms_job *ms_start(srv_req *r, int kind) {
    ms_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return NULL;
    }
    memset(j, 0, sizeof *j);
    j->kind = kind;
    srv_req_set_udata(r, j);
    return j;
}

static void h_series(srv_req *r, void *ctx) {
    if (ms_start(r, Q_SERIES)) srv_req_work(r, ms_work, ms_after);
}

static void h_labels(srv_req *r, void *ctx) {
    if (ms_start(r, Q_LABELS)) srv_req_work(r, ms_work, ms_after);
}

/* /api/v1/label/<name>/values */
static void h_label_values(srv_req *r, void *ctx) {
    static const char pre[] = "/api/v1/label/", suf[] = "/values";
    size_t len = 0;
    const char *path = srv_req_path(r, &len);
    size_t pl = sizeof pre - 1, sl = sizeof suf - 1;
    if (len <= pl + sl || memcmp(path + len - sl, suf, sl) != 0) {
        srv_reply_error(r, 404, "not_found", "no route for %.*s", (int)(len > 128 ? 128 : len), path);
        return;
    }
    const char *name = path + pl;
    size_t nl = len - pl - sl;
    if (nl > AX_MAX_LABEL_NAME || !ax_label_name_valid(name, nl)) {
        srv_reply_error(r, 400, "bad_data", "invalid label name: \"%.*s\"", (int)(nl > 64 ? 64 : nl), name);
        return;
    }
    ms_job *j = ms_start(r, Q_VALUES);
    if (!j) return;
    memcpy(j->name, name, nl);
    j->name_len = nl;
    srv_req_work(r, ms_work, ms_after);
}

int srv_api_series_register(srv_app *app) {
    srv_http *h = app->http;
    int rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/series", false, h_series, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/labels", false, h_labels, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/api/v1/label/", true, h_label_values, app);
    if (!rc) rc = srv_api_tsdb_register(app);
    return rc;
}

/* ---- GET /api/v1/status/tsdb ----
 * Cardinality as Prometheus reports it for its head: numSeries, numLabelPairs, the top 10
 * metric names by series, label names by distinct values, label names by bytes of their
 * distinct values, and name=value pairs by series. Over every series (auspex has one index,
 * not a head and blocks); `limit` (default 10) sets the length of the top lists. */

typedef struct pair {
    span name, value;
} pair;

static int pair_cmp(const void *a, const void *b) {
    const pair *x = a, *y = b;
    int c = span_cmp(&x->name, &y->name);
    return c ? c : span_cmp(&x->value, &y->value);
}

typedef struct top {
    span k1, k2; /* name, or name and value (printed "name=value"); point into the selection */
    bool pair;
    uint64_t n;
} top;

/* Keep the `cap` largest (n, then key ascending) in t[0..*len). */
static void top_add(top *t, size_t *len, size_t cap, const char *k1, size_t l1, const char *k2, size_t l2,
                    uint64_t n) {
    if (cap == 0) return;
    if (*len == cap && t[cap - 1].n >= n) return;
    size_t at = *len < cap ? (*len)++ : cap - 1;
    while (at > 0 && t[at - 1].n < n) {
        t[at] = t[at - 1];
        at--;
    }
    t[at] = (top){{k1, l1}, {k2, l2}, k2 != NULL, n};
}

static int put_top(ax_buf *b, const char *field, const top *t, size_t n) {
    int rc = ax_buf_printf(b, ",\"%s\":[", field);
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = ax_buf_append(b, ",", 1);
        if (!rc) rc = ax_buf_append_str(b, "{\"name\":");
        if (!t[i].pair) {
            if (!rc) rc = srv_json_str(b, t[i].k1.p, t[i].k1.len);
        } else {
            char *k = malloc(t[i].k1.len + t[i].k2.len + 1);
            if (!k) return AX_ENOMEM;
            memcpy(k, t[i].k1.p, t[i].k1.len);
            k[t[i].k1.len] = '=';
            memcpy(k + t[i].k1.len + 1, t[i].k2.p, t[i].k2.len);
            if (!rc) rc = srv_json_str(b, k, t[i].k1.len + t[i].k2.len + 1);
            free(k);
        }
        if (!rc) rc = ax_buf_printf(b, ",\"value\":%llu}", (unsigned long long)t[i].n);
    }
    if (!rc) rc = ax_buf_append(b, "]", 1);
    return rc;
}

static void tsdb_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    ms_job *j = srv_req_udata(r);
    uint64_t lim = 10;
    if ((j->rc = srv_req_param_uint(r, "limit", 10, 10000, &lim, &j->err))) return;
    if (lim == 0) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "invalid parameter \"limit\": must be at least 1");
        return;
    }
    size_t limit = (size_t)lim;
    eng_matcher all = {.op = ENG_MATCH_RE, .name = "__name__", .name_len = 8, .value = ".+", .value_len = 2};
    eng_sel *sel = NULL;
    pair *pairs = NULL;
    top *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;
    if ((j->rc = eng_matcher_compile(&all, &j->err))) return;
    j->rc = eng_select(app->e, &all, 1, 0, &sel);
    eng_matcher_free(&all);
    size_t ns = j->rc ? 0 : eng_sel_count(sel), np = 0, cap = 0;
    for (size_t i = 0; i < ns && !j->rc; i++) {
        size_t len = 0;
        const uint8_t *lb = eng_sel_labels(sel, i, &len);
        ax_label ls[AX_MAX_LABELS];
        size_t nl = 0;
        if (ax_labels_decode(lb, len, ls, AX_MAX_LABELS, &nl)) continue;
        if (np + nl > cap) {
            cap = (np + nl) * 2 + 1024;
            pair *p2 = realloc(pairs, cap * sizeof *pairs);
            if (!p2) {
                j->rc = AX_ENOMEM;
                break;
            }
            pairs = p2;
        }
        for (size_t k = 0; k < nl; k++)
            pairs[np++] = (pair){{ls[k].name, ls[k].name_len}, {ls[k].value, ls[k].value_len}};
    }
    if (!j->rc && (!(t1 = calloc(limit, sizeof *t1)) || !(t2 = calloc(limit, sizeof *t2)) ||
                   !(t3 = calloc(limit, sizeof *t3)) || !(t4 = calloc(limit, sizeof *t4))))
        j->rc = AX_ENOMEM;
    size_t n1 = 0, n2 = 0, n3 = 0, n4 = 0, distinct_pairs = 0;
    if (!j->rc) {
        qsort(pairs, np, sizeof *pairs, pair_cmp);
        /* runs of one pair: series per pair; runs of one name: distinct values and bytes */
        size_t i = 0;
        while (i < np) {
            size_t nstart = i;
            uint64_t values = 0, bytes = 0;
            while (i < np && !span_cmp(&pairs[i].name, &pairs[nstart].name)) {
                size_t pstart = i;
                while (i < np && !pair_cmp(&pairs[i], &pairs[pstart])) i++;
                values++;
                bytes += pairs[pstart].value.len;
                distinct_pairs++;
                const pair *p = &pairs[pstart];
                top_add(t4, &n4, limit, p->name.p, p->name.len, p->value.p, p->value.len, i - pstart);
                if (p->name.len == 8 && !memcmp(p->name.p, "__name__", 8))
                    top_add(t1, &n1, limit, p->value.p, p->value.len, NULL, 0, i - pstart);
            }
            top_add(t2, &n2, limit, pairs[nstart].name.p, pairs[nstart].name.len, NULL, 0, values);
            top_add(t3, &n3, limit, pairs[nstart].name.p, pairs[nstart].name.len, NULL, 0, bytes);
        }
    }
    ax_buf_init(&j->out, MAX_REPLY);
    if (!j->rc)
        j->rc = ax_buf_printf(&j->out, "{\"status\":\"success\",\"data\":{\"headStats\":{\"numSeries\":%zu,"
                                       "\"numLabelPairs\":%zu,\"chunkCount\":0,\"minTime\":0,\"maxTime\":0}",
                              ns, distinct_pairs);
    if (!j->rc) j->rc = put_top(&j->out, "seriesCountByMetricName", t1, n1);
    if (!j->rc) j->rc = put_top(&j->out, "labelValueCountByLabelName", t2, n2);
    if (!j->rc) j->rc = put_top(&j->out, "memoryInBytesByLabelName", t3, n3);
    if (!j->rc) j->rc = put_top(&j->out, "seriesCountByLabelValuePair", t4, n4);
    if (!j->rc) j->rc = ax_buf_append(&j->out, "}}", 2);
    free(t1), free(t2), free(t3), free(t4);
    free(pairs);
    eng_sel_free(sel);
}

static void h_tsdb(srv_req *r, void *ctx) {
    if (ms_start(r, Q_SERIES)) srv_req_work(r, tsdb_work, ms_after);
}

int srv_api_tsdb_register(srv_app *app) {
    return srv_http_route(app->http, SRV_GET, "/api/v1/status/tsdb", false, h_tsdb, app);
}
