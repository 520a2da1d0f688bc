/* server/api_admin.c: admin routes.
 *   POST|PUT /api/v1/admin/tsdb/delete_series?match[]=…   (Prometheus' admin route)
 *   GET|POST /api/v1/admin/tsdb/delete_series?match[]=…   (VictoriaMetrics accepts GET too)
 * Deletes the series matching any match[] (a union; at least one is required) whole: their
 * chunks, index entries and head samples (eng_series_delete: flush, delete, flush again so
 * the WAL does not bring them back after a restart), then forgets kept query results. 204
 * on success, as Prometheus. Prometheus' start/end would delete a time range only; auspex
 * deletes whole series, so start/end are accepted only when no sample of a matching series
 * lies outside [start, end] (e.g. promtool's defaults); otherwise 400. docs/retention.md.
 */
#include "query/query.h"
#include "server/app.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MATCH 32

typedef struct del_job {
    int rc;
    ax_err err;
    size_t deleted;
} del_job;

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Does series sid hold a sample in [from, to]? */
static int has_sample(eng *e, uint64_t sid, int64_t from, int64_t to, bool *yes) {
    *yes = false;
    if (from > to) return 0;
    eng_samples s = {0};
    int rc = eng_series_read_all(e, sid, from, to, 1, &s);
    *yes = rc == AX_ELIMIT || (rc == 0 && s.n > 0);
    eng_samples_free(&s);
    return rc == AX_ELIMIT || rc == AX_ENOTFOUND ? 0 : rc;
}

static void del_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    del_job *j = srv_req_udata(r);
    ax_arena *a = srv_req_arena(r);
    srv_span ms[MAX_MATCH];
    size_t nm = srv_req_params(r, "match[]", ms, MAX_MATCH);
    int64_t start, end;
    bool given_start = false, given_end = false;
    uint64_t *sids = NULL;
    size_t n = 0, cap = 0;
    if (nm == 0) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "no match[] parameter provided");
        return;
    }
    if (nm > MAX_MATCH) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "too many match[] parameters (at most %d)", MAX_MATCH);
        return;
    }
    if ((j->rc = srv_req_param_time(r, "start", INT64_MIN, &start, &given_start, &j->err)) ||
        (j->rc = srv_req_param_time(r, "end", INT64_MAX, &end, &given_end, &j->err)))
        return;
    if (end < start) {
        j->rc = ax_err_set(&j->err, AX_EINVAL, "end timestamp must not be before start time");
        return;
    }
    for (size_t i = 0; i < nm && !j->rc; i++) {
        eng_matcher *m = NULL;
        size_t k = 0;
        eng_sel *sel = NULL;
        if ((j->rc = pql_selector_parse(ms[i].p, ms[i].len, a, &m, &k, &j->err))) break;
        j->rc = eng_select(app->e, m, k, 0, &sel);
        pql_matchers_free(m, k);
        size_t c = j->rc ? 0 : eng_sel_count(sel);
        if (!j->rc && n + c > cap) {
            size_t nc = (n + c) * 2;
            uint64_t *ns = realloc(sids, (nc ? nc : 1) * sizeof *ns);
            if (ns) {
                sids = ns;
                cap = nc;
            } else {
                j->rc = AX_ENOMEM;
            }
        }
        for (size_t x = 0; x < c && !j->rc; x++) sids[n++] = eng_sel_sid(sel, x);
        eng_sel_free(sel);
    }
    if (j->rc) {
        if (!j->err.msg[0]) ax_err_set(&j->err, j->rc, "selecting series: %s", ax_strerror(j->rc));
        goto out;
    }
    if (n) qsort(sids, n, sizeof *sids, u64_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (!u || sids[u - 1] != sids[i]) sids[u++] = sids[i];
    n = u;
    /* a range that leaves samples out would need a partial delete: refuse it */
    if (given_start || given_end) {
        for (size_t i = 0; i < n && !j->rc; i++) {
            bool before = false, after = false;
            if (start > INT64_MIN) j->rc = has_sample(app->e, sids[i], INT64_MIN, start - 1, &before);
            if (!j->rc && end < INT64_MAX)
                j->rc = has_sample(app->e, sids[i], end + 1, INT64_MAX, &after);
            if (!j->rc && (before || after))
                j->rc = ax_err_set(&j->err, AX_EINVAL, "deleting a time range is not supported; "
                                   "omit start and end (whole series are deleted)");
        }
        if (j->rc) {
            if (!j->err.msg[0]) ax_err_set(&j->err, j->rc, "reading series: %s", ax_strerror(j->rc));
            goto out;
        }
    }
    j->rc = eng_series_delete(app->e, sids, n, &j->deleted);
    if (j->rc) ax_err_set(&j->err, j->rc, "deleting series: %s", ax_strerror(j->rc));
    pql_cache_reset(app->query_cache); /* also after a partial failure */
out:
    free(sids);
}

static void del_after(srv_req *r) {
    del_job *j = srv_req_udata(r);
    if (j->rc) {
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
        return;
    }
    srv_reply(r, 204, NULL, NULL, 0);
}

static void h_delete_series(srv_req *r, void *ctx) {
    del_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    srv_req_set_udata(r, j);
    srv_req_work(r, del_work, del_after);
}

int srv_api_admin_register(srv_app *app) {
    return srv_http_route(app->http, SRV_GET | SRV_POST | SRV_PUT,
                          "/api/v1/admin/tsdb/delete_series", false, h_delete_series, app);
}
