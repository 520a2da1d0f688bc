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

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 1000000u
#define PARSE_ARENA_MAX ((size_t)64 << 20)

enum { MERGE_MAX, MERGE_SUM };

/* Run expr over the grid into v[0..n) (NaN where no series has a value). OUT: *n_series. */
static int run_expr(eng *e, const char *expr, int64_t start, int64_t end, int64_t step, size_t n,
                    const pql_opts *o, int merge, double *v, size_t *n_series, ax_err *err) {
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
        for (size_t j = 0; j < s->n; j++) {
            if (s->ts[j] < start || s->ts[j] > end) continue;
            int64_t off = s->ts[j] - start;
            if (off % step) continue;
            size_t i = (size_t)(off / step);
            double x = s->v[j];
            if (isnan(x)) continue;
            if (isnan(v[i])) v[i] = x;
            else if (merge == MERGE_SUM) v[i] += x;
            else if (x > v[i]) v[i] = x;
        }
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

int srv_rule_eval(eng *e, const srv_rule *r, int64_t t0_ms, int64_t t1_ms, const pql_opts *o,
                  srv_rule_data *out, ax_err *err) {
    if (!e || !r || !out || r->step_ms <= 0 || r->n_signals == 0)
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
        rc = run_expr(e, sg->expr, start, t1_ms, r->step_ms, n, &q, MERGE_MAX, d.sig[s], &ns, &qe);
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
        rc = run_expr(e, r->cap_query, start, t1_ms, r->step_ms, n, &q, MERGE_SUM, d.cap, &ns, &qe);
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
