/* server/rule_eval.c: a rule's signals and capacity read from the store onto the rule's
 * grid (srv_rule_eval, server/rule_eval.h).
 *
 * The grid: n = (t1 - t0) / step + 1 points ending at t1 exactly, so it starts at
 * t1 - (n - 1) * step (at or after t0; t0 itself only when t1 - t0 is a multiple of the
 * step). Each expression is parsed into its own arena and run once as a range query over
 * that grid; a scalar comes back as one series without labels. Points are placed by
 * (ts - start) / step; pql_exec only returns grid times, so no point is dropped.
 * Merging: a signal takes the maximum of its series at each step (NaN only where none has
 * a value), the capacity query their sum (same). note records what was merged.
 * Out-params are written only on success; on failure nothing is left allocated.
 */
#include "server/rule_eval.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 1000000u
#define PARSE_ARENA_MAX ((size_t)64 << 20)

enum { MERGE_MAX, MERGE_SUM };

/* Where a rule reads its data: the local engine, or an upstream Prometheus-compatible API. */
typedef struct source {
    eng *e;
    const char *url; /* base URL of the upstream API (…/api/v1/query_range is appended) */
} source;

/* Put value x at time ts (ms) onto the grid v[0..n) from start by step, merging. */
static void place(double *v, size_t n, int64_t start, int64_t end, int64_t step, int merge,
                  int64_t ts, double x) {
    if (ts < start || ts > end || isnan(x)) return;
    int64_t off = ts - start;
    if (off % step) return;
    size_t i = (size_t)(off / step);
    if (i >= n) return;
    if (isnan(v[i])) v[i] = x;
    else if (merge == MERGE_SUM) v[i] += x;
    else if (x > v[i]) v[i] = x;
}

#define REMOTE_MAX_BODY ((size_t)256 << 20)
#define REMOTE_TIMEOUT_MS 60000

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    ax_buf *b = ud;
    return ax_buf_append(b, p, size * nmemb) ? 0 : size * nmemb;
}

/* Run expr as a range query on the upstream API (POST, form-encoded, as Grafana does) and
 * place its matrix onto the grid. */
static int run_remote(const char *url, const char *expr, int64_t start, int64_t end, int64_t step,
                      size_t n, int merge, double *v, size_t *n_series, ax_err *err) {
    CURL *c = curl_easy_init();
    if (!c) return ax_err_set(err, AX_ENOMEM, "datasource: out of memory");
    ax_buf body, form, full;
    ax_buf_init(&body, REMOTE_MAX_BODY);
    ax_buf_init(&form, 1u << 20);
    ax_buf_init(&full, 8192);
    char *q = curl_easy_escape(c, expr, (int)strlen(expr));
    size_t ul = strlen(url);
    while (ul && url[ul - 1] == '/') ul--;
    int rc = q ? 0 : AX_ENOMEM;
    if (!rc) rc = ax_buf_printf(&form, "query=%s&start=%.3f&end=%.3f&step=%.3f", q, start / 1000.0,
                                end / 1000.0, step / 1000.0);
    if (!rc) rc = ax_buf_printf(&full, "%.*s/api/v1/query_range", (int)ul, url);
    if (!rc) rc = ax_buf_append(&full, "", 1);
    curl_free(q);
    long status = 0;
    if (!rc) {
        curl_easy_setopt(c, CURLOPT_URL, (const char *)full.data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)form.data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)form.len);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)REMOTE_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        CURLcode cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK)
            rc = ax_err_set(err, AX_EIO, "datasource: %s", curl_easy_strerror(cc));
    }
    curl_easy_cleanup(c);
    cJSON *j = rc ? NULL : cJSON_ParseWithLength((const char *)body.data, body.len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(data, "result");
    if (!rc && !cJSON_IsArray(res)) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");
        rc = ax_err_set(err, status >= 400 && status < 500 ? AX_EINVAL : AX_EIO, "datasource: HTTP %ld: %.300s",
                        status, cJSON_IsString(msg) ? msg->valuestring : "the answer is not a query result");
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(data, "resultType");
    if (!rc && !(cJSON_IsString(type) && !strcmp(type->valuestring, "matrix")))
        rc = ax_err_set(err, AX_EINVAL, "datasource: result type %s, want matrix",
                        cJSON_IsString(type) ? type->valuestring : "?");
    if (!rc) {
        for (size_t i = 0; i < n; i++) v[i] = NAN;
        size_t ns = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, res) {
            ns++;
            const cJSON *pt;
            cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(s, "values")) {
                const cJSON *t = cJSON_GetArrayItem(pt, 0), *x = cJSON_GetArrayItem(pt, 1);
                if (!cJSON_IsNumber(t) || !cJSON_IsString(x)) continue;
                /* VictoriaMetrics aligns a range query's points to multiples of the step:
                 * each point goes to the nearest grid time (it is less than a step away) */
                int64_t ts = llround(t->valuedouble * 1000.0);
                int64_t k = (ts - start + step / 2) / step;
                if (ts - start + step / 2 < 0) continue;
                place(v, n, start, end + step, step, merge, start + k * step, strtod(x->valuestring, NULL));
            }
        }
        *n_series = ns;
    }
    cJSON_Delete(j);
    ax_buf_free(&body);
    ax_buf_free(&form);
    ax_buf_free(&full);
    return rc;
}

/* Run expr over the grid into v[0..n) (NaN where no series has a value). OUT: *n_series. */
static int run_expr(const source *src, const char *expr, int64_t start, int64_t end, int64_t step,
                    size_t n, const pql_opts *o, int merge, double *v, size_t *n_series, ax_err *err) {
    if (src->url) return run_remote(src->url, expr, start, end, step, n, merge, v, n_series, err);
    eng *e = src->e;
    ax_arena a;
    ax_arena_init(&a, PARSE_ARENA_MAX);
    pql_node *root = NULL;
    pql_result *res = NULL;
    int rc = pql_parse(expr, strlen(expr), &a, &root, err);
    if (!rc) rc = pql_exec(e, root, start, end, step, true, o, &res, err);
    pql_node_free(root);
    ax_arena_clear(&a);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) v[i] = NAN;
    for (size_t k = 0; k < res->n; k++) {
        const pql_rseries *s = &res->s[k];
        for (size_t j = 0; j < s->n; j++) place(v, n, start, end, step, merge, s->ts[j], s->v[j]);
    }
    *n_series = res->n;
    pql_result_free(res);
    return 0;
}

/* Append "; " (when not first) and a formatted part to note. */
static void note_add(char *note, size_t cap, const char *fmt, const char *name, size_t n) {
    size_t len = strlen(note);
    if (len + 3 >= cap) return;
    if (len) {
        memcpy(note + len, "; ", 3);
        len += 2;
    }
    snprintf(note + len, cap - len, fmt, name, n);
}

void srv_rule_data_free(srv_rule_data *d) {
    if (!d) return;
    if (d->sig)
        for (size_t s = 0; s < d->n_signals; s++) free(d->sig[s]);
    free(d->sig);
    free(d->cap);
    memset(d, 0, sizeof *d);
}

static int eval_on(const source *src, const srv_rule *r, int64_t t0_ms, int64_t t1_ms,
                   const pql_opts *o, srv_rule_data *out, ax_err *err) {
    if (!(src->e || src->url) || !r || !out || r->step_ms <= 0 || r->n_signals == 0)
        return ax_err_set(err, AX_EINVAL, "rule \"%s\": nothing to evaluate",
                          r && r->name ? r->name : "");
    if (t1_ms < t0_ms)
        return ax_err_set(err, AX_EINVAL, "rule \"%s\": the end of the span is before its start",
                          r->name);
    uint64_t steps = ((uint64_t)t1_ms - (uint64_t)t0_ms) / (uint64_t)r->step_ms;
    if (steps >= MAX_POINTS)
        return ax_err_set(err, AX_ELIMIT, "rule \"%s\": the span has more than %u points at step "
                          "%lld ms", r->name, MAX_POINTS, (long long)r->step_ms);
    size_t n = (size_t)steps + 1;
    int64_t start = t1_ms - (int64_t)(n - 1) * r->step_ms;
    pql_opts q = {0};
    if (o) q = *o;
    if (q.max_points < n + 1) q.max_points = n + 1;

    srv_rule_data d = {0};
    d.n = n;
    d.t0_ms = start;
    d.step_ms = r->step_ms;
    d.n_signals = r->n_signals;
    int rc = 0;
    d.sig = calloc(r->n_signals, sizeof *d.sig);
    d.cap = malloc(n * sizeof *d.cap);
    if (!d.sig || !d.cap) {
        rc = ax_err_set(err, AX_ENOMEM, "rule \"%s\": out of memory", r->name);
        goto fail;
    }
    for (size_t s = 0; s < r->n_signals; s++) {
        const srv_rule_signal *sg = &r->signals[s];
        size_t ns = 0;
        if (!(d.sig[s] = malloc(n * sizeof *d.sig[s]))) {
            rc = ax_err_set(err, AX_ENOMEM, "rule \"%s\": out of memory", r->name);
            goto fail;
        }
        ax_err qe = {0};
        rc = run_expr(src, sg->expr, start, t1_ms, r->step_ms, n, &q, MERGE_MAX, d.sig[s], &ns, &qe);
        if (rc) {
            ax_err_set(err, rc, "rule \"%s\": signal \"%s\": %s", r->name, sg->name,
                       qe.msg[0] ? qe.msg : ax_strerror(rc));
            goto fail;
        }
        if (ns > 1) note_add(d.note, sizeof d.note, "signal %s: %zu series, their max", sg->name, ns);
    }
    if (r->cap_query) {
        size_t ns = 0;
        ax_err qe = {0};
        rc = run_expr(src, r->cap_query, start, t1_ms, r->step_ms, n, &q, MERGE_SUM, d.cap, &ns, &qe);
        if (rc) {
            ax_err_set(err, rc, "rule \"%s\": capacity: %s", r->name,
                       qe.msg[0] ? qe.msg : ax_strerror(rc));
            goto fail;
        }
        if (ns > 1) note_add(d.note, sizeof d.note, "%s: %zu series, summed", "capacity", ns);
    } else {
        for (size_t i = 0; i < n; i++) d.cap[i] = r->cap_current;
    }
    *out = d;
    return 0;
fail:
    srv_rule_data_free(&d);
    return rc;
}

int srv_rule_eval(eng *e, const srv_rule *r, int64_t t0_ms, int64_t t1_ms, const pql_opts *o,
                  srv_rule_data *out, ax_err *err) {
    source src = {.e = e};
    return eval_on(&src, r, t0_ms, t1_ms, o, out, err);
}

int srv_rule_eval_remote(const char *url, const srv_rule *r, int64_t t0_ms, int64_t t1_ms,
                         srv_rule_data *out, ax_err *err) {
    source src = {.url = url};
    return eval_on(&src, r, t0_ms, t1_ms, NULL, out, err);
}
