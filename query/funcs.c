/* query/funcs.c: PromQL's functions (Prometheus 2.x promql/functions.go), over the
 * all-steps values of eval_int.h. The arithmetic lives in query/kernels.c; this file picks
 * series, windows and steps, handles labels (which functions drop __name__, label_replace,
 * label_join, absent's labels) and argument checks.
 *
 * Range-vector functions walk each series' samples with two cursors: at step time t the
 * window is [hi - range, hi], hi = (@ time or t) - offset. Like Prometheus, a range
 * function whose outputs collide on a label set after __name__ is dropped is an error, even
 * at different steps; element-wise functions only fail where two collide at one step.
 */
#include "forecast/forecast.h"
#include "query/eval_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Go's math.Min / math.Max: NaN wins, -0 < +0. */
static double go_min(double a, double b) {
    if (isnan(a) || isnan(b)) return NAN;
    if (a == 0 && b == 0) return signbit(a) ? a : b;
    return a < b ? a : b;
}
static double go_max(double a, double b) {
    if (isnan(a) || isnan(b)) return NAN;
    if (a == 0 && b == 0) return signbit(a) ? b : a;
    return a > b ? a : b;
}

static double sgn(double v) { return v > 0 ? 1 : v < 0 ? -1 : v; }

/* Element-wise functions on one value. */
static double math_fn(const char *name, double v) {
    static const struct {
        const char *name;
        double (*f)(double);
    } fns[] = {
        {"abs", fabs},   {"ceil", ceil},   {"floor", floor}, {"exp", exp},   {"sqrt", sqrt},
        {"ln", log},     {"log2", log2},   {"log10", log10}, {"sgn", sgn},   {"acos", acos},
        {"acosh", acosh}, {"asin", asin},  {"asinh", asinh}, {"atan", atan}, {"atanh", atanh},
        {"cos", cos},    {"cosh", cosh},   {"sin", sin},     {"sinh", sinh}, {"tan", tan},
        {"tanh", tanh},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (!strcmp(fns[i].name, name)) return fns[i].f(v);
    if (!strcmp(name, "deg")) return v * 180 / M_PI;
    if (!strcmp(name, "rad")) return v * M_PI / 180;
    return NAN;
}

static bool is_math_fn(const char *name) {
    static const char *const names[] = {
        "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "acos", "acosh",
        "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg",
        "rad"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i], name)) return true;
    return false;
}

static int date_fn(const char *name) {
    static const char *const names[] = {"day_of_month", "day_of_week", "day_of_year",
                                        "days_in_month", "hour", "minute", "month", "year"};
    for (int i = 0; i < 8; i++)
        if (!strcmp(names[i], name)) return i; /* PQK_DAY_OF_MONTH ... PQK_YEAR order */
    return -1;
}

/* A scalar array for every step. */
static double *scalar_new(pql_ev *ev) {
    double *s = ax_arena_alloc(ev->a, ev->n_steps * sizeof *s);
    if (!s) pql__nomem(ev);
    return s;
}

/* vector(time()) style: one series without labels, present at every step. */
static int single_series(pql_ev *ev, pql_val *out) {
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, sizeof *out->vs);
    if (!out->vs || !pql__vs_init(ev, out->vs, NULL, 0)) return pql__nomem(ev);
    out->n = 1;
    memset(out->vs->ok, 1, ev->n_steps);
    return 0;
}

/* Replace every series' value array with a fresh one (inputs may be shared) and drop
 * __name__ when asked. */
static int own_values(pql_ev *ev, pql_val *v, bool drop_name) {
    for (size_t k = 0; k < v->n; k++) {
        pql_vs *s = &v->vs[k];
        double *nv = ax_arena_dup(ev->a, s->v, ev->n_steps * sizeof *nv);
        if (!nv) return pql__nomem(ev);
        s->v = nv;
        if (drop_name) {
            int rc = pql__lbl_drop_name(ev, s->ls, s->n_ls, &s->ls, &s->n_ls);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- range-vector functions ---- */

enum {
    R_RATE, R_INCREASE, R_DELTA, R_IRATE, R_IDELTA, R_CHANGES, R_RESETS, R_DERIV, R_PREDICT,
    R_HOLT, R_QUANTILE, R_OVER /* + PQK_* */
};

static const struct {
    const char *name;
    int kind, over;
} range_fns[] = {
    {"rate", R_RATE, 0}, {"increase", R_INCREASE, 0}, {"delta", R_DELTA, 0},
    {"irate", R_IRATE, 0}, {"idelta", R_IDELTA, 0}, {"changes", R_CHANGES, 0},
    {"resets", R_RESETS, 0}, {"deriv", R_DERIV, 0}, {"predict_linear", R_PREDICT, 0},
    {"holt_winters", R_HOLT, 0}, {"quantile_over_time", R_QUANTILE, 0},
    {"avg_over_time", R_OVER, PQK_AVG}, {"min_over_time", R_OVER, PQK_MIN},
    {"max_over_time", R_OVER, PQK_MAX}, {"sum_over_time", R_OVER, PQK_SUM},
    {"count_over_time", R_OVER, PQK_COUNT}, {"last_over_time", R_OVER, PQK_LAST},
    {"stddev_over_time", R_OVER, PQK_STDDEV}, {"stdvar_over_time", R_OVER, PQK_STDVAR},
    {"present_over_time", R_OVER, PQK_PRESENT}, {"mad_over_time", R_OVER, PQK_MAD},
};

/* Functions that read rollup points for what they stand for; the others (irate, deriv,
 * quantile_over_time...) see each point as one sample: its time and last value. */
static bool rollup_aware(int kind, int over) {
    return kind == R_RATE || kind == R_INCREASE || kind == R_DELTA || kind == R_CHANGES ||
           kind == R_RESETS || (kind == R_OVER && over != PQK_MAD);
}

/* Window of step i. */
static void window(const pql_ev *ev, const pql_val *m, size_t i, int64_t *lo, int64_t *hi) {
    *hi = (m->at ? m->at_ms : pql__t(ev, i)) - m->offset_ms;
    *lo = *hi - m->range_ms;
}

/* The samples of series s in step i's window: s->t[*a .. *b) within [*lo, *hi]. The
 * cursors only move forward while steps advance (reset for a fixed @ time). */
static void window_at(const pql_ev *ev, const pql_val *m, const pql_ms *s, size_t i, size_t *a,
                      size_t *b, int64_t *lo, int64_t *hi) {
    window(ev, m, i, lo, hi);
    if (m->at) *a = *b = 0;
    while (*a < s->n && s->t[*a] < *lo) (*a)++;
    if (*b < *a) *b = *a;
    while (*b < s->n && s->t[*b] <= *hi) (*b)++;
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Strict uniqueness of label sets (range functions: Prometheus checks the whole matrix). */
static int unique_labels(pql_ev *ev, pql_val *v) {
    if (v->n < 2) return 0;
    uint64_t *h = ax_arena_alloc(ev->a, v->n * sizeof *h);
    if (!h) return pql__nomem(ev);
    for (size_t k = 0; k < v->n; k++) h[k] = pql__lbl_hash(v->vs[k].ls, v->vs[k].n_ls);
    qsort(h, v->n, sizeof *h, u64_cmp);
    for (size_t k = 1; k < v->n; k++)
        if (h[k] == h[k - 1])
            return pql__fail(ev, AX_EINVAL, "vector cannot contain metrics with the same labelset");
    return 0;
}

/* Scalar argument i of the call, evaluated for all steps. */
static int scalar_arg(pql_ev *ev, const pql_node *n, size_t i, double **out) {
    pql_val v;
    int rc = pql__eval(ev, n->call.args[i], &v);
    if (rc) return rc;
    *out = v.sc;
    return 0;
}

static int call_range(pql_ev *ev, const pql_node *n, int kind, int over, size_t marg,
                      pql_val *out) {
    const char *name = n->call.fn->name;
    double *p1 = NULL, *p2 = NULL;
    int rc = 0;
    if (kind == R_QUANTILE) rc = scalar_arg(ev, n, 0, &p1);
    if (kind == R_PREDICT || kind == R_HOLT) rc = scalar_arg(ev, n, 1, &p1);
    if (!rc && kind == R_HOLT) rc = scalar_arg(ev, n, 2, &p2);
    if (rc) return rc;
    if (kind == R_HOLT)
        for (size_t i = 0; i < ev->n_steps; i++) {
            if (!(p1[i] > 0 && p1[i] < 1))
                return pql__fail(ev, AX_EINVAL,
                                 "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", p1[i]);
            if (!(p2[i] > 0 && p2[i] < 1))
                return pql__fail(ev, AX_EINVAL, "invalid trend factor. Expected: 0 < tf < 1, got: %f",
                                 p2[i]);
        }
    pql_val m;
    if ((rc = pql__eval(ev, n->call.args[marg], &m))) return rc;
    bool keep_name = !strcmp(name, "last_over_time");
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, (m.n_ms ? m.n_ms : 1) * sizeof *out->vs);
    size_t maxn = 1;
    for (size_t k = 0; k < m.n_ms; k++) if (m.ms[k].n > maxn) maxn = m.ms[k].n;
    double *scratch = ax_arena_alloc(ev->a, maxn * sizeof *scratch);
    if (!out->vs || !scratch) return pql__nomem(ev);
    out->n = 0;
    for (size_t k = 0; k < m.n_ms; k++) {
        if ((k & 63) == 0 && (rc = pql__check(ev))) return rc;
        const pql_ms *s = &m.ms[k];
        ax_label *ls = s->ls;
        uint32_t nl = s->n_ls;
        if (!keep_name && (rc = pql__lbl_drop_name(ev, s->ls, s->n_ls, &ls, &nl))) return rc;
        pql_vs *o = pql__vs_init(ev, &out->vs[out->n], ls, nl);
        if (!o) return pql__nomem(ev);
        bool any = false;
        size_t a = 0, b = 0;
        for (size_t i = 0; i < ev->n_steps; i++) {
            int64_t lo, hi;
            window_at(ev, &m, s, i, &a, &b, &lo, &hi);
            pqk_win w = {s->t + a, s->v + a, b - a, lo, hi};
            double v = 0;
            bool ok = false;
            if (a < s->n_ru && rollup_aware(kind, over)) {
                /* downsampled: the window's rollup points, then its raw samples */
                size_t e = b < s->n_ru ? b : s->n_ru, ro = s->ru_off + a;
                const eng_rollups *r = s->ru;
                pqk_rollups ru = {r->t + ro, r->first_t + ro, r->first + ro, r->last + ro, r->min + ro,
                                  r->max + ro, r->sum + ro, r->sum_sq + ro, r->cum_first + ro,
                                  r->cum_last + ro, r->count + ro, r->resets + ro, r->changes + ro,
                                  e - a, ro ? r->last[ro - 1] : NAN};
                pqk_win raw = {s->t + e, s->v + e, b - e, lo, hi};
                if (kind == R_OVER) ok = pqk_rollup_over_time(over, &ru, &raw, &v);
                else if (kind == R_CHANGES || kind == R_RESETS)
                    ok = pqk_rollup_changes(&ru, &raw, kind == R_RESETS, &v);
                else ok = pqk_rollup_rate(&ru, &raw, kind != R_DELTA, kind == R_RATE, &v);
            } else switch (kind) {
            case R_RATE: ok = pqk_extrapolated_rate(&w, true, true, &v); break;
            case R_INCREASE: ok = pqk_extrapolated_rate(&w, true, false, &v); break;
            case R_DELTA: ok = pqk_extrapolated_rate(&w, false, false, &v); break;
            case R_IRATE: ok = pqk_instant_rate(&w, true, &v); break;
            case R_IDELTA: ok = pqk_instant_rate(&w, false, &v); break;
            case R_CHANGES: ok = pqk_changes(&w, &v); break;
            case R_RESETS: ok = pqk_resets(&w, &v); break;
            case R_DERIV: ok = pqk_deriv(&w, &v); break;
            case R_PREDICT: ok = pqk_predict_linear(&w, pql__t(ev, i), p1[i], &v); break;
            case R_HOLT: ok = pqk_holt_winters(&w, p1[i], p2[i], &v); break;
            case R_QUANTILE: ok = pqk_quantile_over_time(p1[i], &w, scratch, &v); break;
            case R_OVER: ok = pqk_over_time(over, &w, scratch, &v); break;
            }
            if (!ok) continue;
            o->v[i] = v;
            o->ok[i] = 1;
            any = true;
        }
        if (any) out->n++;
    }
    return unique_labels(ev, out);
}

/* ---- absent ---- */

/* Labels absent() reports: the equality matchers of a selector argument, except a label
 * matched twice (Prometheus' historic behaviour). */
static int absent_labels(pql_ev *ev, const pql_node *arg, ax_label **out, uint32_t *n_out) {
    arg = pql__unparen(arg);
    if (arg->kind == PQL_MATRIX_SEL) arg = arg->matrix.vs;
    *out = NULL;
    *n_out = 0;
    if (arg->kind != PQL_VECTOR_SEL) return 0;
    ax_label *ls = NULL;
    uint32_t nl = 0;
    for (size_t i = 0; i < arg->sel.n_m; i++) {
        const eng_matcher *m = &arg->sel.m[i];
        if (m->name_len == 8 && !memcmp(m->name, "__name__", 8)) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = arg->sel.m[j].name_len == m->name_len && !memcmp(arg->sel.m[j].name, m->name, m->name_len);
        bool set = m->op == ENG_MATCH_EQ && !seen;
        int rc = pql__lbl_set(ev, ls, nl, m->name, m->name_len, set ? m->value : "",
                              set ? m->value_len : 0, &ls, &nl);
        if (rc) return rc;
    }
    *out = ls;
    *n_out = nl;
    return 0;
}

static int call_absent(pql_ev *ev, const pql_node *n, bool over_time, pql_val *out) {
    pql_val v;
    int rc = pql__eval(ev, n->call.args[0], &v);
    if (rc) return rc;
    ax_label *ls;
    uint32_t nl;
    if ((rc = absent_labels(ev, n->call.args[0], &ls, &nl))) return rc;
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, sizeof *out->vs);
    if (!out->vs || !pql__vs_init(ev, out->vs, ls, nl)) return pql__nomem(ev);
    bool any = false;
    for (size_t i = 0; i < ev->n_steps; i++) {
        bool present = false;
        if (!over_time) {
            for (size_t k = 0; k < v.n && !present; k++) present = v.vs[k].ok[i];
        } else {
            int64_t lo, hi;
            window(ev, &v, i, &lo, &hi);
            for (size_t k = 0; k < v.n_ms && !present; k++) {
                const pql_ms *s = &v.ms[k];
                /* binary search for the first sample >= lo */
                size_t a = 0, b = s->n;
                while (a < b) {
                    size_t mid = (a + b) / 2;
                    if (s->t[mid] < lo) a = mid + 1; else b = mid;
                }
                present = a < s->n && s->t[a] <= hi;
            }
        }
        if (present) continue;
        out->vs->v[i] = 1;
        out->vs->ok[i] = 1;
        any = true;
    }
    out->n = any;
    return 0;
}

/* ---- label_replace / label_join ---- */

/* String literal argument i (the parser guarantees the type; parentheses are allowed). */
static pql_str str_arg(const pql_node *n, size_t i) { return pql__unparen(n->call.args[i])->string; }

/* Go's Regexp.Expand of template t with the match groups of src. */
static int expand(pql_ev *ev, const char *t, size_t tl, const char *src, const ax_span *g,
                  size_t ng, ax_buf *out) {
    for (size_t i = 0; i < tl; i++) {
        if (t[i] != '$' || i + 1 == tl) {
            if (ax_buf_append(out, &t[i], 1)) return pql__nomem(ev);
            continue;
        }
        if (t[i + 1] == '$') {
            if (ax_buf_append(out, "$", 1)) return pql__nomem(ev);
            i++;
            continue;
        }
        size_t a = i + 1, b;
        bool brace = t[a] == '{';
        if (brace) a++;
        for (b = a; b < tl && (t[b] == '_' || (t[b] >= '0' && t[b] <= '9') ||
                               ((t[b] | 32) >= 'a' && (t[b] | 32) <= 'z'));)
            b++;
        if (b == a || (brace && (b >= tl || t[b] != '}'))) { /* not a reference: literal '$' */
            if (ax_buf_append(out, "$", 1)) return pql__nomem(ev);
            continue;
        }
        bool digits = true;
        size_t num = 0;
        for (size_t j = a; j < b; j++) {
            if (t[j] < '0' || t[j] > '9') { digits = false; break; }
            num = num * 10 + (size_t)(t[j] - '0');
            if (num > 1000000) num = 1000000;
        }
        if (digits && num < ng && g[num].off >= 0 &&
            ax_buf_append(out, src + g[num].off, (size_t)g[num].len))
            return pql__nomem(ev);
        i = brace ? b : b - 1;
    }
    return 0;
}

static int call_label_replace(pql_ev *ev, const pql_node *n, pql_val *out) {
    pql_str dst = str_arg(n, 1), repl = str_arg(n, 2), src = str_arg(n, 3), re = str_arg(n, 4);
    ax_regex *rx = NULL;
    ax_err rerr = {0};
    if (ax_regex_compile(re.p, re.len, &rx, &rerr))
        return pql__fail(ev, AX_EINVAL, "invalid regular expression in label_replace(): %.*s",
                         (int)re.len, re.p);
    int rc = 0;
    if (!ax_label_name_valid(dst.p, dst.len))
        rc = pql__fail(ev, AX_EINVAL, "invalid destination label name in label_replace(): %.*s",
                       (int)dst.len, dst.p);
    if (!rc) rc = pql__eval(ev, n->call.args[0], out);
    size_t ng = ax_regex_groups(rx) + 1;
    if (ng > 100) ng = 100;
    ax_span g[100];
    ax_buf b;
    ax_buf_init(&b, AX_MAX_LABEL_VALUE);
    for (size_t k = 0; k < out->n && !rc; k++) {
        pql_vs *s = &out->vs[k];
        const ax_label *l = pql__lbl_get(s->ls, s->n_ls, src.p, src.len);
        const char *sv = l ? l->value : "";
        size_t sl = l ? l->value_len : 0;
        if (!ax_regex_match(rx, sv, sl, g, ng)) continue;
        ax_buf_reset(&b);
        if ((rc = expand(ev, repl.p, repl.len, sv, g, ng, &b))) break;
        char *val = ax_arena_strndup(ev->a, (const char *)b.data, b.len); /* b is not terminated */
        if (!val) { rc = pql__nomem(ev); break; }
        rc = pql__lbl_set(ev, s->ls, s->n_ls, dst.p, dst.len, val, b.len, &s->ls, &s->n_ls);
    }
    ax_buf_free(&b);
    ax_regex_free(rx);
    return rc ? rc : pql__vec_dedupe(ev, out);
}

static int call_label_join(pql_ev *ev, const pql_node *n, pql_val *out) {
    pql_str dst = str_arg(n, 1), sep = str_arg(n, 2);
    if (!ax_label_name_valid(dst.p, dst.len))
        return pql__fail(ev, AX_EINVAL, "invalid destination label name in label_join(): %.*s",
                         (int)dst.len, dst.p);
    for (size_t j = 3; j < n->call.n_args; j++) {
        pql_str s = str_arg(n, j);
        if (!ax_label_name_valid(s.p, s.len))
            return pql__fail(ev, AX_EINVAL, "invalid source label name in label_join(): %.*s",
                             (int)s.len, s.p);
    }
    int rc = pql__eval(ev, n->call.args[0], out);
    ax_buf b;
    ax_buf_init(&b, (size_t)1 << 24);
    for (size_t k = 0; k < out->n && !rc; k++) {
        pql_vs *s = &out->vs[k];
        ax_buf_reset(&b);
        for (size_t j = 3; j < n->call.n_args && !rc; j++) {
            pql_str src = str_arg(n, j);
            const ax_label *l = pql__lbl_get(s->ls, s->n_ls, src.p, src.len);
            if (j > 3 && ax_buf_append(&b, sep.p, sep.len)) rc = pql__nomem(ev);
            if (!rc && l && ax_buf_append(&b, l->value, l->value_len)) rc = pql__nomem(ev);
        }
        if (rc) break;
        char *val = ax_arena_strndup(ev->a, (const char *)b.data, b.len); /* b is not terminated */
        if (!val) { rc = pql__nomem(ev); break; }
        rc = pql__lbl_set(ev, s->ls, s->n_ls, dst.p, dst.len, val, b.len, &s->ls, &s->n_ls);
    }
    ax_buf_free(&b);
    return rc ? rc : pql__vec_dedupe(ev, out);
}

/* ---- histogram_quantile ---- */

static int call_histogram_quantile(pql_ev *ev, const pql_node *n, pql_val *out) {
    double *q;
    pql_val in;
    int rc = scalar_arg(ev, n, 0, &q);
    if (!rc) rc = pql__eval(ev, n->call.args[1], &in);
    if (rc) return rc;
    /* Group by labels without le and __name__; remember each member's bound. */
    size_t *grp = ax_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *grp);
    double *upper = ax_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *upper);
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, (in.n ? in.n : 1) * sizeof *out->vs);
    uint64_t *gh = ax_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *gh);
    ax_label **gls = ax_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *gls);
    uint32_t *ngls = ax_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *ngls);
    if (!grp || !upper || !out->vs || !gh || !gls || !ngls) return pql__nomem(ev);
    out->n = 0;
    for (size_t k = 0; k < in.n; k++) {
        pql_vs *s = &in.vs[k];
        grp[k] = SIZE_MAX;
        const ax_label *le = pql__lbl_get(s->ls, s->n_ls, "le", 2);
        char buf[64];
        if (!le || le->value_len >= sizeof buf) continue;
        memcpy(buf, le->value, le->value_len);
        buf[le->value_len] = 0;
        char *end;
        double ub = strtod(buf, &end);
        if (end == buf || *end) continue;
        upper[k] = ub;
        /* Buckets group by their labels without le (__name__ included, as Prometheus);
         * the output drops __name__ too, so two histograms may collide (an error). */
        ax_label *ls, *outls;
        uint32_t nl, n_outls;
        if ((rc = pql__lbl_set(ev, s->ls, s->n_ls, "le", 2, "", 0, &ls, &nl))) return rc;
        uint64_t h = pql__lbl_hash(ls, nl);
        size_t g;
        for (g = 0; g < out->n; g++)
            if (gh[g] == h && pql__lbl_eq(gls[g], ngls[g], ls, nl)) break;
        if (g == out->n) {
            if ((rc = pql__lbl_drop_name(ev, ls, nl, &outls, &n_outls))) return rc;
            if (!pql__vs_init(ev, &out->vs[out->n++], outls, n_outls)) return pql__nomem(ev);
            gh[g] = h;
            gls[g] = ls;
            ngls[g] = nl;
        }
        grp[k] = g;
    }
    pqk_bucket *b = ax_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *b);
    size_t *nb = pql__alloc(ev, (out->n ? out->n : 1) * sizeof *nb);
    size_t *base = pql__alloc(ev, (out->n ? out->n : 1) * sizeof *base);
    if (!b || !nb || !base) return pql__nomem(ev);
    /* bucket slots per group: counts of members */
    for (size_t k = 0; k < in.n; k++) if (grp[k] != SIZE_MAX) nb[grp[k]]++;
    for (size_t g = 1; g < out->n; g++) base[g] = base[g - 1] + nb[g - 1];
    size_t *fill = pql__alloc(ev, (out->n ? out->n : 1) * sizeof *fill);
    if (!fill) return pql__nomem(ev);
    for (size_t i = 0; i < ev->n_steps; i++) {
        memset(fill, 0, out->n * sizeof *fill);
        for (size_t k = 0; k < in.n; k++) {
            if (grp[k] == SIZE_MAX || !in.vs[k].ok[i]) continue;
            size_t g = grp[k];
            b[base[g] + fill[g]++] = (pqk_bucket){upper[k], in.vs[k].v[i]};
        }
        for (size_t g = 0; g < out->n; g++) {
            if (!fill[g]) continue;
            out->vs[g].v[i] = pqk_bucket_quantile(q[i], &b[base[g]], fill[g]);
            out->vs[g].ok[i] = 1;
        }
    }
    /* drop groups never present */
    size_t w = 0;
    for (size_t g = 0; g < out->n; g++) {
        bool any = false;
        for (size_t i = 0; i < ev->n_steps && !any; i++) any = out->vs[g].ok[i];
        if (any) out->vs[w++] = out->vs[g];
    }
    out->n = w;
    return pql__vec_dedupe(ev, out);
}

/* ---- sorting (instant queries only; a range query's matrix is sorted by labels) ---- */

typedef struct sort_ctx {
    const pql_str *labels; /* sort_by_label: the labels, in order */
    size_t n_labels;
    bool desc;
} sort_ctx;

/* sort/sort_desc: by value, NaN last either way. */
static int by_value(const pql_vs *x, const pql_vs *y, const sort_ctx *c) {
    double u = x->v[0], v = y->v[0];
    if (isnan(u) || isnan(v)) return isnan(u) - isnan(v);
    return c->desc ? (u < v) - (u > v) : (u > v) - (u < v);
}

/* Natural order: runs of digits compare as numbers. */
static int natcmp(const char *a, size_t na, const char *b, size_t nb) {
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        bool da = a[i] >= '0' && a[i] <= '9', db = b[j] >= '0' && b[j] <= '9';
        if (da && db) {
            size_t si = i, sj = j;
            while (si < na && a[si] == '0') si++;
            while (sj < nb && b[sj] == '0') sj++;
            size_t ei = si, ej = sj;
            while (ei < na && a[ei] >= '0' && a[ei] <= '9') ei++;
            while (ej < nb && b[ej] >= '0' && b[ej] <= '9') ej++;
            if (ei - si != ej - sj) return ei - si < ej - sj ? -1 : 1;
            int c = memcmp(a + si, b + sj, ei - si);
            if (c) return c;
            i = ei;
            j = ej;
            continue;
        }
        if (a[i] != b[j]) return (unsigned char)a[i] < (unsigned char)b[j] ? -1 : 1;
        i++;
        j++;
    }
    return (na - i > nb - j) - (na - i < nb - j);
}

/* sort_by_label: by the given labels' values in natural order. */
static int by_labels(const pql_vs *x, const pql_vs *y, const sort_ctx *c) {
    for (size_t i = 0; i < c->n_labels; i++) {
        const pql_str *n = &c->labels[i];
        const ax_label *u = pql__lbl_get(x->ls, x->n_ls, n->p, n->len);
        const ax_label *v = pql__lbl_get(y->ls, y->n_ls, n->p, n->len);
        int r = natcmp(u ? u->value : "", u ? u->value_len : 0, v ? v->value : "", v ? v->value_len : 0);
        if (r) return c->desc ? -r : r;
    }
    return 0;
}

typedef int (*vs_cmp)(const pql_vs *, const pql_vs *, const sort_ctx *);

/* Stable merge sort of a[0..n) with scratch tmp[0..n). */
static void merge_sort(pql_vs *a, pql_vs *tmp, size_t n, vs_cmp cmp, const sort_ctx *c) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(a, tmp, h, cmp, c);
    merge_sort(a + h, tmp, n - h, cmp, c);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp(&a[j], &a[i], c) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

static int call_sort(pql_ev *ev, const pql_node *n, bool desc, bool labels, pql_val *out) {
    int rc = pql__eval(ev, n->call.args[0], out);
    if (rc || ev->n_steps != 1 || out->n < 2) return rc;
    pql_vs *tmp = ax_arena_alloc(ev->a, out->n * sizeof *tmp);
    pql_str *names = ax_arena_alloc(ev->a, n->call.n_args * sizeof *names);
    if (!tmp || !names) return pql__nomem(ev);
    sort_ctx c = {names, 0, desc};
    merge_sort(out->vs, tmp, out->n, by_value, &c); /* sort_by_label breaks ties by value */
    if (labels) {
        for (size_t j = 1; j < n->call.n_args; j++)
            names[c.n_labels++] = pql__unparen(n->call.args[j])->string;
        merge_sort(out->vs, tmp, out->n, by_labels, &c);
    }
    return 0;
}

/* ---- forecast(v range-vector, horizon_s [, "model" [, coverage]]) ----
 * Per series and step: the window's samples are put on a regular grid (the series' median
 * sample spacing, coarser when the window or the horizon would need more than
 * FC_MAX_GRID / FC_MAX_AHEAD points; a grid point takes the last sample at most two grid
 * steps old, else it is a gap), ending at the window's end; forecast/ fits the model and
 * predicts; the answer is the forecast (or a band edge) `horizon` after the window's end,
 * interpolated between grid points. Range queries reuse a series' fit for the following
 * steps while they are less than FC_REUSE of the window (at most an hour, at least one grid
 * step) after it: the prediction is read further ahead on the same forecast. */
#define FC_MAX_GRID 5000
#define FC_MAX_AHEAD 20000

typedef struct fc_fit {
    int64_t t_end;   /* the window's end the fit saw (ms) */
    double step;     /* grid step (ms) */
    double last;     /* last finite grid value (the forecast's origin) */
    size_t h;        /* forecast points */
    double *y, *lo, *hi;
} fc_fit;

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Median spacing of t[0..n) (ms), 0 for fewer than 2 samples. */
static double median_gap(pql_ev *ev, const int64_t *t, size_t n) {
    if (n < 2) return 0;
    size_t m = n - 1 < 4096 ? n - 1 : 4096; /* the newest gaps are enough */
    int64_t *d = ax_arena_alloc(ev->a, m * sizeof *d);
    if (!d) return 0;
    for (size_t i = 0; i < m; i++) d[i] = t[n - m + i] - t[n - m + i - 1];
    qsort(d, m, sizeof *d, cmp_i64);
    return (double)d[m / 2];
}

/* Fit the window w (samples t/v in [lo, hi]) and forecast far enough for `ahead_ms`. */
static int fc_fit_window(pql_ev *ev, const pqk_win *w, double ahead_ms, const fc_opts *fo,
                         double *scratch_t, fc_fit *f) {
    double gap = median_gap(ev, w->t, w->n);
    double range = (double)(w->hi - w->lo);
    double step = gap > 0 ? gap : (range > 0 ? range : 60000);
    if (range / step + 1 > FC_MAX_GRID) step = range / (FC_MAX_GRID - 1);
    if (ahead_ms / step > FC_MAX_AHEAD) step = ahead_ms / FC_MAX_AHEAD;
    size_t npts = (size_t)(range / step) + 1;
    size_t h = (size_t)ceil(ahead_ms / step - 1e-9);
    if (h == 0) h = 1;
    double *grid = ax_arena_alloc(ev->a, npts * sizeof *grid);
    f->y = ax_arena_alloc(ev->a, h * sizeof *f->y);
    f->lo = ax_arena_alloc(ev->a, h * sizeof *f->lo);
    f->hi = ax_arena_alloc(ev->a, h * sizeof *f->hi);
    if (!grid || !f->y || !f->lo || !f->hi) return pql__nomem(ev);
    for (size_t i = 0; i < w->n; i++) scratch_t[i] = (double)w->t[i] / 1000.0;
    double t0 = ((double)w->hi - (double)(npts - 1) * step) / 1000.0;
    fc_resample(scratch_t, w->v, w->n, t0, step / 1000.0, npts, 2 * step / 1000.0, grid);
    f->last = NAN;
    for (size_t i = npts; i-- > 0 && isnan(f->last);) f->last = grid[i];
    if (isnan(f->last)) return 1; /* nothing finite in the window: no output */
    fc_opts o = *fo;
    o.step_s = step / 1000.0;
    int rc = fc_forecast(grid, npts, h, &o, f->y, f->lo, f->hi, NULL);
    if (rc == FC_ENOMEM) return pql__nomem(ev);
    if (rc) return 1;
    f->t_end = w->hi;
    f->step = step;
    f->h = h;
    return 0;
}

/* The fit's band (0 forecast, 1 lower, 2 upper) at time t (ms, after the fit's end). */
static double fc_at(const fc_fit *f, int band, double t) {
    const double *a = band == 1 ? f->lo : band == 2 ? f->hi : f->y;
    double p = (t - (double)f->t_end) / f->step; /* grid steps after the end; 1 = a[0] */
    if (p <= 0) return f->last;
    size_t i = (size_t)floor(p);
    double frac = p - (double)i;
    double x0 = i == 0 ? f->last : a[i - 1 < f->h ? i - 1 : f->h - 1];
    double x1 = a[i < f->h ? i : f->h - 1];
    return x0 + (x1 - x0) * frac;
}

static int call_forecast(pql_ev *ev, const pql_node *n, int band, pql_val *out) {
    double *horizon, *cov = NULL;
    int rc = scalar_arg(ev, n, 1, &horizon);
    if (!rc && n->call.n_args > 3) rc = scalar_arg(ev, n, 3, &cov);
    if (rc) return rc;
    fc_opts fo = {0};
    if (n->call.n_args > 2) {
        pql_str m = str_arg(n, 2);
        fo.model = fc_model_parse(m.p, m.len);
        if (fo.model < 0)
            return pql__fail(ev, AX_EINVAL, "%s(): unknown model \"%.*s\"", n->call.fn->name,
                             (int)m.len, m.p);
    }
    double max_h = 0;
    for (size_t i = 0; i < ev->n_steps; i++) {
        if (!(horizon[i] > 0) || !isfinite(horizon[i]))
            return pql__fail(ev, AX_EINVAL, "%s(): the horizon must be a positive number of seconds, got %g",
                             n->call.fn->name, horizon[i]);
        if (cov && !(cov[i] > 0 && cov[i] < 1))
            return pql__fail(ev, AX_EINVAL, "%s(): the coverage must be between 0 and 1, got %g",
                             n->call.fn->name, cov[i]);
        if (horizon[i] > max_h) max_h = horizon[i];
    }
    pql_val m;
    if ((rc = pql__eval(ev, n->call.args[0], &m))) return rc;
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, (m.n_ms ? m.n_ms : 1) * sizeof *out->vs);
    size_t maxn = 1;
    for (size_t k = 0; k < m.n_ms; k++) if (m.ms[k].n > maxn) maxn = m.ms[k].n;
    double *st = ax_arena_alloc(ev->a, maxn * sizeof *st);
    if (!out->vs || !st) return pql__nomem(ev);
    int64_t reuse = m.range_ms / 100;
    if (reuse > 3600000) reuse = 3600000;
    out->n = 0;
    for (size_t k = 0; k < m.n_ms; k++) {
        if ((rc = pql__check(ev))) return rc;
        const pql_ms *s = &m.ms[k];
        ax_label *ls;
        uint32_t nl;
        if ((rc = pql__lbl_drop_name(ev, s->ls, s->n_ls, &ls, &nl))) return rc;
        pql_vs *o = pql__vs_init(ev, &out->vs[out->n], ls, nl);
        if (!o) return pql__nomem(ev);
        bool any = false, have = false;
        fc_fit f = {0};
        size_t a = 0, b = 0;
        for (size_t i = 0; i < ev->n_steps; i++) {
            int64_t lo, hi;
            window_at(ev, &m, s, i, &a, &b, &lo, &hi);
            if (a == b) { have = false; continue; }
            if (cov) fo.coverage = cov[i];
            /* f.step can be huge for an absurd horizon: clamp before converting */
            int64_t fstep = f.step >= 0 && f.step < 9e18 ? (int64_t)f.step : INT64_MAX;
            int64_t r = reuse > fstep ? reuse : fstep;
            if (!have || hi < f.t_end || hi - f.t_end > r || cov) {
                pqk_win w = {s->t + a, s->v + a, b - a, lo, hi};
                /* an instant query asks exactly ceil(horizon / step) points, as
                 * /api/v1/forecast and the CLI do for the same grid, so all three agree */
                double ahead = max_h * 1000.0 + (double)(ev->n_steps > 1 ? (reuse > 0 ? reuse : 0) : 0);
                int fr = fc_fit_window(ev, &w, ahead, &fo, st, &f);
                if (fr < 0) return fr;
                have = fr == 0;
                if (!have) continue;
            }
            o->v[i] = fc_at(&f, band, (double)hi + horizon[i] * 1000.0);
            o->ok[i] = !isnan(o->v[i]);
            any |= o->ok[i];
        }
        if (any) out->n++;
    }
    return unique_labels(ev, out);
}

/* ---- dispatch ---- */

int pql__call(pql_ev *ev, const pql_node *n, pql_val *out) {
    const char *name = n->call.fn->name;
    int rc;
    for (size_t i = 0; i < sizeof range_fns / sizeof range_fns[0]; i++)
        if (!strcmp(range_fns[i].name, name))
            return call_range(ev, n, range_fns[i].kind, range_fns[i].over,
                              range_fns[i].kind == R_QUANTILE ? 1 : 0, out);
    if (is_math_fn(name)) {
        if ((rc = pql__eval(ev, n->call.args[0], out)) || (rc = own_values(ev, out, true))) return rc;
        for (size_t k = 0; k < out->n; k++)
            for (size_t i = 0; i < ev->n_steps; i++)
                if (out->vs[k].ok[i]) out->vs[k].v[i] = math_fn(name, out->vs[k].v[i]);
        return pql__vec_dedupe(ev, out);
    }
    int date = date_fn(name);
    if (date >= 0) {
        if (n->call.n_args == 0) {
            if ((rc = single_series(ev, out))) return rc;
            for (size_t i = 0; i < ev->n_steps; i++) out->vs->v[i] = (double)pql__t(ev, i) / 1000.0;
        } else if ((rc = pql__eval(ev, n->call.args[0], out)) || (rc = own_values(ev, out, true))) {
            return rc;
        }
        for (size_t k = 0; k < out->n; k++)
            for (size_t i = 0; i < ev->n_steps; i++)
                if (out->vs[k].ok[i]) out->vs[k].v[i] = pqk_date(date, out->vs[k].v[i]);
        return pql__vec_dedupe(ev, out);
    }
    if (!strcmp(name, "time") || !strcmp(name, "pi")) {
        out->type = PQL_T_SCALAR;
        if (!(out->sc = scalar_new(ev))) return AX_ENOMEM;
        for (size_t i = 0; i < ev->n_steps; i++)
            out->sc[i] = name[0] == 'p' ? M_PI : (double)pql__t(ev, i) / 1000.0;
        return 0;
    }
    if (!strcmp(name, "vector")) {
        double *s;
        if ((rc = scalar_arg(ev, n, 0, &s)) || (rc = single_series(ev, out))) return rc;
        memcpy(out->vs->v, s, ev->n_steps * sizeof *s);
        return 0;
    }
    if (!strcmp(name, "scalar")) {
        pql_val v;
        if ((rc = pql__eval(ev, n->call.args[0], &v))) return rc;
        out->type = PQL_T_SCALAR;
        if (!(out->sc = scalar_new(ev))) return AX_ENOMEM;
        for (size_t i = 0; i < ev->n_steps; i++) {
            size_t cnt = 0;
            double val = NAN;
            for (size_t k = 0; k < v.n && cnt < 2; k++)
                if (v.vs[k].ok[i]) { cnt++; val = v.vs[k].v[i]; }
            out->sc[i] = cnt == 1 ? val : NAN;
        }
        return 0;
    }
    if (!strcmp(name, "timestamp")) {
        const pql_node *a = pql__unparen(n->call.args[0]);
        if (a->kind == PQL_VECTOR_SEL) rc = pql__eval_selector_ts(ev, a, out);
        else if (!(rc = pql__eval(ev, a, out)) && !(rc = own_values(ev, out, false)))
            for (size_t k = 0; k < out->n; k++)
                for (size_t i = 0; i < ev->n_steps; i++) out->vs[k].v[i] = (double)pql__t(ev, i) / 1000.0;
        if (rc) return rc;
        for (size_t k = 0; k < out->n; k++)
            if ((rc = pql__lbl_drop_name(ev, out->vs[k].ls, out->vs[k].n_ls, &out->vs[k].ls,
                                         &out->vs[k].n_ls)))
                return rc;
        return pql__vec_dedupe(ev, out);
    }
    if (!strcmp(name, "round") || !strcmp(name, "clamp") || !strcmp(name, "clamp_min") ||
        !strcmp(name, "clamp_max")) {
        double *a1 = NULL, *a2 = NULL;
        if (n->call.n_args > 1 && (rc = scalar_arg(ev, n, 1, &a1))) return rc;
        if (n->call.n_args > 2 && (rc = scalar_arg(ev, n, 2, &a2))) return rc;
        if ((rc = pql__eval(ev, n->call.args[0], out)) || (rc = own_values(ev, out, true))) return rc;
        for (size_t k = 0; k < out->n; k++) {
            pql_vs *s = &out->vs[k];
            for (size_t i = 0; i < ev->n_steps; i++) {
                if (!s->ok[i]) continue;
                double v = s->v[i];
                switch (name[0] == 'r' ? 0 : name[5] == 0 ? 1 : name[7] == 'i' ? 2 : 3) {
                case 0: {
                    double inv = 1.0 / (a1 ? a1[i] : 1.0);
                    v = floor(v * inv + 0.5) / inv;
                    break;
                }
                case 1:
                    if (a2[i] < a1[i]) { s->ok[i] = 0; continue; }
                    v = go_max(a1[i], go_min(a2[i], v));
                    break;
                case 2: v = go_max(a1[i], v); break;
                case 3: v = go_min(a1[i], v); break;
                }
                s->v[i] = v;
            }
        }
        return pql__vec_dedupe(ev, out);
    }
    if (!strcmp(name, "forecast")) return call_forecast(ev, n, 0, out);
    if (!strcmp(name, "forecast_lower")) return call_forecast(ev, n, 1, out);
    if (!strcmp(name, "forecast_upper")) return call_forecast(ev, n, 2, out);
    if (!strcmp(name, "absent")) return call_absent(ev, n, false, out);
    if (!strcmp(name, "absent_over_time")) return call_absent(ev, n, true, out);
    if (!strcmp(name, "label_replace")) return call_label_replace(ev, n, out);
    if (!strcmp(name, "label_join")) return call_label_join(ev, n, out);
    if (!strcmp(name, "histogram_quantile")) return call_histogram_quantile(ev, n, out);
    if (!strcmp(name, "sort")) return call_sort(ev, n, false, false, out);
    if (!strcmp(name, "sort_desc")) return call_sort(ev, n, true, false, out);
    if (!strcmp(name, "sort_by_label")) return call_sort(ev, n, false, true, out);
    if (!strcmp(name, "sort_by_label_desc")) return call_sort(ev, n, true, true, out);
    return pql__fail(ev, AX_EINVAL, "function %s is not available in this version", name);
}
