/* query/eval.c: the PromQL evaluator (Prometheus 2.x semantics).
 *
 * Shape: every node is evaluated for all steps of the query at once (see eval_int.h). A
 * selector reads each matching series once over the whole span the steps need, then
 * walks the steps with a cursor; functions, operators and aggregations work series by
 * series over step arrays. Because a series' labels are fixed, vector matching and
 * grouping are worked out once per series, and only presence varies per step; where
 * Prometheus detects a conflict at a step (two series with one label set, many-to-many
 * matches) we check the same per step.
 * Subqueries evaluate their inner expression over their own aligned steps, and the result
 * is used as a range vector, exactly as stored samples would be.
 * Limits: the deadline and arena budget are checked between series; samples held in memory
 * (raw samples of range vectors, step points of selected instant vectors) are counted
 * against max_samples, as Prometheus' --query.max-samples.
 */
#include "query/eval_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALE_NAN_BITS 0x7ff0000000000002ull
#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_MAX_SAMPLES 50000000u
#define DEFAULT_MAX_POINTS 11000u
#define DEFAULT_MEM ((size_t)4 << 30)
#define DEFAULT_SUBQUERY_STEP_MS 60000

static bool is_stale(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == STALE_NAN_BITS;
}

/* ---- context helpers ---- */

int pql__fail(pql_ev *ev, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ax_err_set(ev->err, code, "%s", msg);
}

int pql__nomem(pql_ev *ev) {
    return pql__fail(ev, AX_ENOMEM, "query needs more memory than allowed (%zu bytes)",
                     ev->o.mem_max);
}

void *pql__alloc(pql_ev *ev, size_t len) {
    void *p = ax_arena_alloc(ev->a, len ? len : 1);
    if (p) memset(p, 0, len);
    return p;
}

int pql__check(pql_ev *ev) {
    if (ev->o.deadline_ns && ax_mono_ns() > ev->o.deadline_ns)
        return pql__fail(ev, AX_ETIMEOUT, "query timed out in expression evaluation");
    return 0;
}

void pql__warn(pql_ev *ev, const char *msg) {
    for (size_t i = 0; i < ev->n_warn; i++)
        if (!strcmp(ev->warn[i], msg)) return;
    const char **w = pql__alloc(ev, (ev->n_warn + 1) * sizeof *w);
    char *copy = ax_arena_dup(ev->a, msg, strlen(msg) + 1);
    if (!w || !copy) return;
    if (ev->n_warn) memcpy(w, ev->warn, ev->n_warn * sizeof *w);
    w[ev->n_warn++] = copy;
    ev->warn = w;
}

/* ---- labels ---- */

const ax_label *pql__lbl_get(const ax_label *ls, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (ls[i].name_len == len && !memcmp(ls[i].name, name, len)) return &ls[i];
    return NULL;
}

static bool is_name(const ax_label *l) {
    return l->name_len == 8 && !memcmp(l->name, "__name__", 8);
}

int pql__lbl_drop_name(pql_ev *ev, const ax_label *ls, size_t n, ax_label **out, uint32_t *n_out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += !is_name(&ls[i]);
    if (k == n) { /* nothing to drop: share the array (label arrays are never mutated) */
        *out = (ax_label *)ls;
        *n_out = (uint32_t)n;
        return 0;
    }
    ax_label *o = pql__alloc(ev, (k ? k : 1) * sizeof *o);
    if (!o) return pql__nomem(ev);
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_name(&ls[i])) o[k++] = ls[i];
    *out = o;
    *n_out = (uint32_t)k;
    return 0;
}

static int name_cmp(const char *a, size_t na, const char *b, size_t nb) {
    size_t m = na < nb ? na : nb;
    int c = memcmp(a, b, m);
    return c ? c : (na > nb) - (na < nb);
}

int pql__lbl_set(pql_ev *ev, const ax_label *ls, size_t n, const char *name, size_t name_len,
                 const char *value, size_t value_len, ax_label **out, uint32_t *n_out) {
    ax_label *o = pql__alloc(ev, (n + 1) * sizeof *o);
    if (!o) return pql__nomem(ev);
    size_t k = 0, i = 0;
    bool done = false;
    for (; i < n; i++) {
        int c = name_cmp(ls[i].name, ls[i].name_len, name, name_len);
        if (c < 0) { o[k++] = ls[i]; continue; }
        if (!done && value_len)
            o[k++] = (ax_label){name, value, (uint32_t)name_len, (uint32_t)value_len};
        done = true;
        if (c > 0) o[k++] = ls[i];
    }
    if (!done && value_len) o[k++] = (ax_label){name, value, (uint32_t)name_len, (uint32_t)value_len};
    *out = o;
    *n_out = (uint32_t)k;
    return 0;
}

uint64_t pql__lbl_hash(const ax_label *ls, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        h = ax_hash(ls[i].name, ls[i].name_len, h ^ 0xff);
        h = ax_hash(ls[i].value, ls[i].value_len, h ^ 0xfe);
    }
    return h;
}

bool pql__lbl_eq(const ax_label *a, size_t na, const ax_label *b, size_t nb) {
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].name_len != b[i].name_len || a[i].value_len != b[i].value_len ||
            memcmp(a[i].name, b[i].name, a[i].name_len) ||
            memcmp(a[i].value, b[i].value, a[i].value_len))
            return false;
    return true;
}

/* Prometheus' labels.Compare: by name, then value, label by label; shorter first. */
int pql__lbl_cmp(const ax_label *a, size_t na, const ax_label *b, size_t nb) {
    size_t m = na < nb ? na : nb;
    for (size_t i = 0; i < m; i++) {
        int c = name_cmp(a[i].name, a[i].name_len, b[i].name, b[i].name_len);
        if (c) return c;
        c = name_cmp(a[i].value, a[i].value_len, b[i].value, b[i].value_len);
        if (c) return c;
    }
    return (na > nb) - (na < nb);
}

/* Prometheus' Labels.String(): {a="b", c="d"} (the name is not pulled out). */
static void lbl_str(const ax_label *ls, size_t n, char *out, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(out + k, cap - k, "{");
    for (size_t i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%.*s=\"%.*s\"", i ? ", " : "",
                              (int)ls[i].name_len, ls[i].name, (int)ls[i].value_len, ls[i].value);
    if (k < cap) snprintf(out + k, cap - k, "}");
}

/* ---- series and vectors ---- */

pql_vs *pql__vs_init(pql_ev *ev, pql_vs *s, ax_label *ls, uint32_t n_ls) {
    s->ls = ls;
    s->n_ls = n_ls;
    s->v = ax_arena_alloc(ev->a, ev->n_steps * sizeof(double));
    s->ok = pql__alloc(ev, ev->n_steps);
    if (!s->v || !s->ok) return NULL;
    return s;
}

pql_vs *pql__vec_push(pql_ev *ev, pql_val *val, size_t *cap) {
    if (val->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        pql_vs *ns = ax_arena_alloc(ev->a, nc * sizeof *ns);
        if (!ns) return NULL;
        if (val->n) memcpy(ns, val->vs, val->n * sizeof *ns);
        val->vs = ns;
        *cap = nc;
    }
    pql_vs *s = &val->vs[val->n++];
    memset(s, 0, sizeof *s);
    return s;
}

/* Hash table of label-set hashes -> first index (open addressing; n_slots a power of 2). */
typedef struct htab {
    uint64_t *key;
    size_t *idx;
    size_t mask;
} htab;

static int htab_init(pql_ev *ev, htab *h, size_t n) {
    size_t slots = 16;
    while (slots < n * 2) slots <<= 1;
    h->key = pql__alloc(ev, slots * sizeof *h->key);
    h->idx = ax_arena_alloc(ev->a, slots * sizeof *h->idx);
    if (!h->key || !h->idx) return pql__nomem(ev);
    for (size_t i = 0; i < slots; i++) h->idx[i] = SIZE_MAX;
    h->mask = slots - 1;
    return 0;
}

/* Slot of key k: either holding k or empty (idx SIZE_MAX). */
static size_t htab_slot(const htab *h, uint64_t k) {
    size_t i = (size_t)(k * 0x9e3779b97f4a7c15ull) & h->mask;
    while (h->idx[i] != SIZE_MAX && h->key[i] != k) i = (i + 1) & h->mask;
    return i;
}

int pql__vec_dedupe(pql_ev *ev, pql_val *val) {
    if (val->n < 2) return 0;
    htab h;
    int rc = htab_init(ev, &h, val->n);
    if (rc) return rc;
    size_t k = 0;
    for (size_t i = 0; i < val->n; i++) {
        pql_vs *s = &val->vs[i];
        uint64_t hk = pql__lbl_hash(s->ls, s->n_ls);
        size_t slot = htab_slot(&h, hk);
        if (h.idx[slot] == SIZE_MAX) {
            h.key[slot] = hk;
            h.idx[slot] = k;
            val->vs[k++] = *s;
            continue;
        }
        pql_vs *d = &val->vs[h.idx[slot]];
        for (size_t j = 0; j < ev->n_steps; j++) {
            if (!s->ok[j]) continue;
            if (d->ok[j])
                return pql__fail(ev, AX_EINVAL, "vector cannot contain metrics with the same labelset");
            d->ok[j] = 1;
            d->v[j] = s->v[j];
        }
    }
    val->n = k;
    return 0;
}

/* ---- selectors ---- */

/* Reference time of a selector at step i: (@ time or step time) - offset. */
static int64_t sel_ref(const pql_ev *ev, const pql_node *vs, size_t i) {
    int64_t t;
    switch (vs->sel.at) {
    case PQL_AT_TS: t = vs->sel.at_ms; break;
    case PQL_AT_START: t = ev->q_start; break;
    case PQL_AT_END: t = ev->q_end; break;
    default: t = pql__t(ev, i);
    }
    return t - vs->sel.offset_ms;
}

static int64_t at_time(const pql_ev *ev, int at, int64_t at_ms, int64_t dflt) {
    switch (at) {
    case PQL_AT_TS: return at_ms;
    case PQL_AT_START: return ev->q_start;
    case PQL_AT_END: return ev->q_end;
    default: return dflt;
    }
}

/* A selected series: its id and labels (copied to the arena). */
typedef struct sel_series {
    ax_label *ls;
    uint32_t n_ls;
    uint64_t sid;
} sel_series;

static int sel_cmp(const void *a, const void *b) {
    const sel_series *x = a, *y = b;
    return pql__lbl_cmp(x->ls, x->n_ls, y->ls, y->n_ls);
}

/* The series selector vs matches, sorted by labels. OUT: *out, *n_out. */
static int select_series(pql_ev *ev, const pql_node *vs, sel_series **out, size_t *n_out) {
    eng_sel *sel = NULL;
    int rc = eng_select(ev->e, vs->sel.m, vs->sel.n_m, ev->o.max_series, &sel);
    if (rc == AX_ELIMIT)
        return pql__fail(ev, AX_ELIMIT,
                         "the selector matches more than %zu series (-search.maxUniqueTimeseries)",
                         ev->o.max_series);
    if (rc) return pql__fail(ev, rc, "selecting series: %s", ax_strerror(rc));
    size_t n = eng_sel_count(sel);
    sel_series *ss = pql__alloc(ev, n * sizeof *ss);
    if (!ss) { eng_sel_free(sel); return pql__nomem(ev); }
    for (size_t i = 0; i < n && !rc; i++) {
        size_t len;
        const uint8_t *lb = eng_sel_labels(sel, i, &len);
        uint8_t *copy = ax_arena_dup(ev->a, lb, len);
        ax_label tmp[AX_MAX_LABELS];
        size_t nl = 0;
        if (!copy) { rc = pql__nomem(ev); break; }
        if (ax_labels_decode(copy, len, tmp, AX_MAX_LABELS, &nl)) {
            rc = pql__fail(ev, AX_ECORRUPT, "series labels do not decode");
            break;
        }
        ss[i].ls = ax_arena_dup(ev->a, tmp, (nl ? nl : 1) * sizeof *tmp);
        ss[i].n_ls = (uint32_t)nl;
        ss[i].sid = eng_sel_sid(sel, i);
        if (!ss[i].ls) rc = pql__nomem(ev);
    }
    eng_sel_free(sel);
    if (rc) return rc;
    /* Prometheus' storage returns series sorted by labels; so do we, which fixes the order
     * of instant-vector results and of floating-point sums. */
    qsort(ss, n, sizeof *ss, sel_cmp);
    *out = ss;
    *n_out = n;
    return 0;
}

/* Count n more samples held in memory by the query (raw samples of range vectors, points
 * of instant vectors), as Prometheus' --query.max-samples counts them. */
static int hold(pql_ev *ev, size_t n) {
    ev->samples += n;
    if (ev->samples <= ev->o.max_samples) return 0;
    return pql__fail(ev, AX_ELIMIT,
                     "query processing would load too many samples into memory in query "
                     "execution (more than %zu: -search.maxSamplesPerQuery)",
                     ev->o.max_samples);
}

/* Read one series' samples in [mint, maxt] into buf (reusing its arrays). */
static int read_series(pql_ev *ev, uint64_t sid, int64_t mint, int64_t maxt, eng_samples *buf) {
    int rc = pql__check(ev);
    if (rc) return rc;
    rc = eng_series_read(ev->e, sid, mint, maxt, 0, buf);
    if (rc) return pql__fail(ev, rc, "reading samples: %s", ax_strerror(rc));
    return 0;
}

/* Downsampled points of one series with t in [mint, maxt] before its first raw sample
 * (raw_first; INT64_MAX: none) into ru (reused). OUT: *n_out = points kept. */
static int read_rollups(pql_ev *ev, uint64_t sid, int64_t mint, int64_t maxt, int64_t raw_first,
                        eng_rollups *ru, size_t *n_out) {
    ru->n = 0;
    int rc = eng_series_read_rollups(ev->e, sid, mint, maxt, ru);
    if (rc) return pql__fail(ev, rc, "reading downsampled data: %s", ax_strerror(rc));
    size_t n = 0;
    while (n < ru->n && ru->t[n] < raw_first) n++;
    *n_out = n;
    return 0;
}

/* A rollup point stands for a whole interval: an instant selector finds it up to its step
 * back, not just the lookback delta, so old data stays continuous at its resolution. */
#define ROLLUP_LOOKBACK_MAX_MS (7 * 86400000LL)

/* Instant vector selector: per step, the newest sample at or before the reference time
 * and no older than the lookback delta, unless it is a staleness marker (before the raw
 * data: the newest rollup point no older than its own step or the lookback delta).
 * want_ts: the value is the sample's timestamp in seconds (timestamp()). */
static int eval_vector_sel(pql_ev *ev, const pql_node *n, bool want_ts, pql_val *out) {
    int64_t lo = sel_ref(ev, n, 0), hi = sel_ref(ev, n, ev->n_steps - 1);
    if (lo > hi) { int64_t t = lo; lo = hi; hi = t; }
    sel_series *ss;
    size_t ns;
    int rc = select_series(ev, n, &ss, &ns);
    if (rc) return rc;
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, ns * sizeof *out->vs);
    if (!out->vs) return pql__nomem(ev);
    out->n = 0;
    eng_samples buf = {0}; /* one buffer for every series: values are copied per step */
    eng_rollups ru = {0};
    for (size_t k = 0; k < ns && !rc; k++) {
        if ((rc = read_series(ev, ss[k].sid, lo - ev->o.lookback_ms, hi, &buf))) break;
        const eng_samples *s = &buf;
        size_t nru = 0;
        int64_t back = ev->o.lookback_ms > ROLLUP_LOOKBACK_MAX_MS ? ev->o.lookback_ms : ROLLUP_LOOKBACK_MAX_MS;
        if ((rc = read_rollups(ev, ss[k].sid, lo - back, hi, s->n ? s->ts[0] : INT64_MAX, &ru, &nru))) break;
        if (!s->n && !nru) continue;
        if ((rc = hold(ev, ev->n_steps))) break;
        pql_vs *o = pql__vs_init(ev, &out->vs[out->n], ss[k].ls, ss[k].n_ls);
        if (!o) { rc = pql__nomem(ev); break; }
        bool any = false;
        size_t j = 0; /* first sample with t > ref, for nondecreasing refs */
        for (size_t i = 0; i < ev->n_steps; i++) {
            int64_t ref = sel_ref(ev, n, i);
            if (n->sel.at != PQL_AT_NONE) j = 0;
            while (j < s->n && s->ts[j] <= ref) j++;
            int64_t t;
            double v;
            if (j) {
                t = s->ts[j - 1];
                v = s->v[j - 1];
                if (t < ref - ev->o.lookback_ms || is_stale(v)) continue;
            } else {
                /* before the raw data: the newest rollup point at or before ref */
                size_t lo_i = 0, hi_i = nru;
                while (lo_i < hi_i) {
                    size_t mid = (lo_i + hi_i) / 2;
                    if (ru.t[mid] <= ref) lo_i = mid + 1; else hi_i = mid;
                }
                if (!lo_i) continue;
                t = ru.t[lo_i - 1];
                v = ru.last[lo_i - 1];
                int64_t reach = ru.step[lo_i - 1] > ev->o.lookback_ms ? ru.step[lo_i - 1] : ev->o.lookback_ms;
                if (t < ref - reach) continue;
            }
            o->v[i] = want_ts ? (double)t / 1000.0 : v;
            o->ok[i] = 1;
            any = true;
        }
        if (any) out->n++;
    }
    eng_samples_free(&buf);
    eng_rollups_free(&ru);
    return rc;
}

int pql__eval_selector_ts(pql_ev *ev, const pql_node *n, pql_val *out) {
    return eval_vector_sel(ev, n, true, out);
}

/* Range selector: raw samples in [min ref - range, max ref], staleness markers dropped. */
static int eval_matrix_sel(pql_ev *ev, const pql_node *n, pql_val *out) {
    const pql_node *vs = n->matrix.vs;
    int64_t lo = sel_ref(ev, vs, 0), hi = sel_ref(ev, vs, ev->n_steps - 1);
    if (lo > hi) { int64_t t = lo; lo = hi; hi = t; }
    sel_series *ss;
    size_t ns;
    int rc = select_series(ev, vs, &ss, &ns);
    if (rc) return rc;
    out->type = PQL_T_MATRIX;
    out->ms = pql__alloc(ev, ns * sizeof *out->ms);
    if (!out->ms) return pql__nomem(ev);
    out->n_ms = 0;
    for (size_t k = 0; k < ns; k++) {
        pql_raw *r = pql__alloc(ev, sizeof *r);
        if (!r) return pql__nomem(ev);
        r->next = ev->raw; /* released at the end of the query */
        ev->raw = r;
        eng_samples *s = &r->s;
        r->ru = (eng_rollups){0};
        if ((rc = read_series(ev, ss[k].sid, lo - n->matrix.range_ms, hi, s)) || (rc = hold(ev, s->n)))
            return rc;
        size_t w = 0;
        for (size_t j = 0; j < s->n; j++) {
            if (is_stale(s->v[j])) continue;
            s->ts[w] = s->ts[j];
            s->v[w++] = s->v[j];
        }
        s->n = w;
        /* rollups from one point before the range: changes() and resets() need the value
         * that precedes the range's first point */
        size_t nall = 0, first = 0;
        int64_t mint = lo - n->matrix.range_ms;
        if ((rc = read_rollups(ev, ss[k].sid, mint - ROLLUP_LOOKBACK_MAX_MS, hi, w ? s->ts[0] : INT64_MAX,
                               &r->ru, &nall)))
            return rc;
        while (first < nall && r->ru.t[first] < mint) first++; /* those before stay in ru only */
        size_t nru = nall - first;
        if ((rc = hold(ev, nru))) return rc;
        if (!w && !nru) continue;
        if (!nru) {
            out->ms[out->n_ms++] = (pql_ms){ss[k].ls, ss[k].n_ls, s->ts, s->v, w, NULL, 0, 0};
            continue;
        }
        /* rollup points first, as samples (time, last value), then the raw samples */
        int64_t *mt = pql__alloc(ev, (nru + w) * sizeof *mt);
        double *mv = pql__alloc(ev, (nru + w) * sizeof *mv);
        if (!mt || !mv) return pql__nomem(ev);
        memcpy(mt, r->ru.t + first, nru * sizeof *mt);
        memcpy(mv, r->ru.last + first, nru * sizeof *mv);
        if (w) {
            memcpy(mt + nru, s->ts, w * sizeof *mt);
            memcpy(mv + nru, s->v, w * sizeof *mv);
        }
        out->ms[out->n_ms++] = (pql_ms){ss[k].ls, ss[k].n_ls, mt, mv, nru + w, &r->ru, first, nru};
    }
    out->range_ms = n->matrix.range_ms;
    out->offset_ms = vs->sel.offset_ms;
    out->at = vs->sel.at != PQL_AT_NONE;
    out->at_ms = at_time(ev, vs->sel.at, vs->sel.at_ms, 0);
    return 0;
}

/* ---- subqueries ---- */

/* expr[range:step] offset o @ t: evaluate expr at the multiples of step in
 * [start - o - range, end - o] (start = end = t with @), then treat the points as samples. */
static int eval_subquery(pql_ev *ev, const pql_node *n, pql_val *out) {
    int64_t step = n->subq.step_ms ? n->subq.step_ms : ev->sub_step;
    int64_t off = n->subq.offset_ms, range = n->subq.range_ms;
    int64_t ostart = at_time(ev, n->subq.at, n->subq.at_ms, ev->start);
    int64_t oend = at_time(ev, n->subq.at, n->subq.at_ms, pql__t(ev, ev->n_steps - 1));
    int64_t first = ostart - off - range;
    int64_t s = step * (first / step);
    if (s < first) s += step;
    int64_t e = oend - off;
    pql_ev sub = *ev;
    sub.start = s;
    sub.end = e;
    sub.step = step;
    if (e < s) {
        out->type = PQL_T_MATRIX;
        out->n_ms = 0;
    } else {
        uint64_t steps = (uint64_t)((e - s) / step) + 1;
        if (steps > (uint64_t)ev->o.max_samples)
            return pql__fail(ev, AX_ELIMIT, "subquery has too many steps (%llu)",
                             (unsigned long long)steps);
        sub.n_steps = (size_t)steps;
        pql_val inner = {0};
        int rc = pql__eval(&sub, n->subq.expr, &inner);
        ev->samples = sub.samples;
        ev->raw = sub.raw;
        ev->warn = sub.warn;
        ev->n_warn = sub.n_warn;
        if (rc) return rc;
        out->type = PQL_T_MATRIX;
        if (inner.type == PQL_T_SCALAR) { /* a scalar subquery: one series without labels */
            inner.vs = pql__alloc(ev, sizeof *inner.vs);
            if (!inner.vs || !pql__vs_init(&sub, inner.vs, NULL, 0)) return pql__nomem(ev);
            for (size_t i = 0; i < sub.n_steps; i++) {
                inner.vs->v[i] = inner.sc[i];
                inner.vs->ok[i] = 1;
            }
            inner.n = 1;
        }
        out->ms = pql__alloc(ev, inner.n * sizeof *out->ms);
        if (!out->ms) return pql__nomem(ev);
        out->n_ms = 0;
        for (size_t k = 0; k < inner.n; k++) {
            const pql_vs *v = &inner.vs[k];
            size_t cnt = 0;
            for (size_t i = 0; i < sub.n_steps; i++) cnt += v->ok[i] && !is_stale(v->v[i]);
            if (!cnt) continue;
            int64_t *t = ax_arena_alloc(ev->a, cnt * sizeof *t);
            double *vv = ax_arena_alloc(ev->a, cnt * sizeof *vv);
            if (!t || !vv) return pql__nomem(ev);
            size_t w = 0;
            for (size_t i = 0; i < sub.n_steps; i++) {
                if (!v->ok[i] || is_stale(v->v[i])) continue;
                t[w] = pql__t(&sub, i);
                vv[w++] = v->v[i];
            }
            out->ms[out->n_ms++] = (pql_ms){v->ls, v->n_ls, t, vv, w, NULL, 0, 0};
        }
    }
    out->range_ms = range;
    out->offset_ms = off;
    out->at = n->subq.at != PQL_AT_NONE;
    out->at_ms = at_time(ev, n->subq.at, n->subq.at_ms, 0);
    return 0;
}

/* ---- binary operators ---- */

static bool is_cmp(int op) { return op >= PQL_OP_EQLC && op <= PQL_OP_GTR; }
static bool is_set(int op) { return op >= PQL_OP_AND; }

/* Prometheus' vectorElemBinop for floats: the value and, for comparisons, whether to keep. */
static double arith(int op, double l, double r, bool *keep) {
    *keep = true;
    switch (op) {
    case PQL_OP_ADD: return l + r;
    case PQL_OP_SUB: return l - r;
    case PQL_OP_MUL: return l * r;
    case PQL_OP_DIV: return l / r;
    case PQL_OP_MOD: return fmod(l, r);
    case PQL_OP_POW: return pow(l, r);
    case PQL_OP_ATAN2: return atan2(l, r);
    case PQL_OP_EQLC: *keep = l == r; return l;
    case PQL_OP_NEQ: *keep = l != r; return l;
    case PQL_OP_GTR: *keep = l > r; return l;
    case PQL_OP_LSS: *keep = l < r; return l;
    case PQL_OP_GTE: *keep = l >= r; return l;
    case PQL_OP_LTE: *keep = l <= r; return l;
    }
    return NAN;
}

static int eval_scalar_scalar(pql_ev *ev, const pql_node *n, const pql_val *l, const pql_val *r,
                              pql_val *out) {
    out->type = PQL_T_SCALAR;
    out->sc = ax_arena_alloc(ev->a, ev->n_steps * sizeof(double));
    if (!out->sc) return pql__nomem(ev);
    for (size_t i = 0; i < ev->n_steps; i++) {
        bool keep;
        double v = arith(n->bin.op, l->sc[i], r->sc[i], &keep);
        out->sc[i] = is_cmp(n->bin.op) ? (keep ? 1 : 0) : v;
    }
    return 0;
}

/* vector op scalar (swap: scalar op vector). */
static int eval_vector_scalar(pql_ev *ev, const pql_node *n, const pql_val *vec,
                              const double *sc, bool swap, pql_val *out) {
    int op = n->bin.op;
    bool drop = !is_cmp(op) || n->bin.return_bool;
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, vec->n * sizeof *out->vs);
    if (!out->vs) return pql__nomem(ev);
    out->n = 0;
    for (size_t k = 0; k < vec->n; k++) {
        const pql_vs *s = &vec->vs[k];
        pql_vs *o = &out->vs[out->n];
        ax_label *ls = s->ls;
        uint32_t nl = s->n_ls;
        if (drop && pql__lbl_drop_name(ev, s->ls, s->n_ls, &ls, &nl)) return AX_ENOMEM;
        if (!pql__vs_init(ev, o, ls, nl)) return pql__nomem(ev);
        bool any = false;
        for (size_t i = 0; i < ev->n_steps; i++) {
            if (!s->ok[i]) continue;
            double lv = s->v[i], rv = sc[i], v;
            bool keep;
            v = swap ? arith(op, rv, lv, &keep) : arith(op, lv, rv, &keep);
            if (is_cmp(op)) v = s->v[i];
            if (n->bin.return_bool) v = keep ? 1 : 0;
            else if (!keep) continue;
            o->v[i] = v;
            o->ok[i] = 1;
            any = true;
        }
        if (any) out->n++;
    }
    return drop ? pql__vec_dedupe(ev, out) : 0;
}

/* Matching signature of a series: on(list) keeps the listed labels, ignoring(list) drops
 * them and __name__. */
static uint64_t sig_of(const pql_node *n, const pql_vs *s) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < s->n_ls; i++) {
        const ax_label *l = &s->ls[i];
        bool listed = false;
        for (size_t j = 0; j < n->bin.n_matching && !listed; j++)
            listed = n->bin.matching[j].len == l->name_len &&
                     !memcmp(n->bin.matching[j].p, l->name, l->name_len);
        if (n->bin.on ? !listed : (listed || is_name(l))) continue;
        h = ax_hash(l->name, l->name_len, h ^ 0xff);
        h = ax_hash(l->value, l->value_len, h ^ 0xfe);
    }
    return h;
}

/* Per signature: the series of one side, chained through next[]. */
typedef struct sig_index {
    htab h;
    size_t *first; /* by slot */
    size_t *next;  /* by series */
    uint64_t *sig; /* by series */
} sig_index;

static int sig_index_build(pql_ev *ev, const pql_node *n, const pql_val *v, sig_index *x) {
    int rc = htab_init(ev, &x->h, v->n);
    if (rc) return rc;
    x->first = ax_arena_alloc(ev->a, (x->h.mask + 1) * sizeof *x->first);
    x->next = ax_arena_alloc(ev->a, (v->n ? v->n : 1) * sizeof *x->next);
    x->sig = ax_arena_alloc(ev->a, (v->n ? v->n : 1) * sizeof *x->sig);
    if (!x->first || !x->next || !x->sig) return pql__nomem(ev);
    for (size_t k = v->n; k-- > 0;) {
        uint64_t s = sig_of(n, &v->vs[k]);
        size_t slot = htab_slot(&x->h, s);
        x->sig[k] = s;
        if (x->h.idx[slot] == SIZE_MAX) {
            x->h.key[slot] = s;
            x->h.idx[slot] = k;
            x->next[k] = SIZE_MAX;
        } else {
            x->next[k] = x->h.idx[slot];
            x->h.idx[slot] = k;
        }
    }
    return 0;
}

/* First series of signature s, or SIZE_MAX. */
static size_t sig_first(const sig_index *x, uint64_t s) {
    size_t slot = htab_slot(&x->h, s);
    return x->h.idx[slot];
}

/* and, or, unless. */
static int eval_set_op(pql_ev *ev, const pql_node *n, const pql_val *l, const pql_val *r,
                       pql_val *out) {
    int op = n->bin.op;
    sig_index rx, lx;
    int rc = sig_index_build(ev, n, r, &rx);
    if (rc) return rc;
    size_t cap = l->n + (op == PQL_OP_OR ? r->n : 0);
    out->type = PQL_T_VECTOR;
    out->vs = pql__alloc(ev, (cap ? cap : 1) * sizeof *out->vs);
    if (!out->vs) return pql__nomem(ev);
    out->n = 0;
    for (size_t k = 0; k < l->n; k++) {
        const pql_vs *s = &l->vs[k];
        if (op == PQL_OP_OR) { out->vs[out->n++] = *s; continue; }
        size_t first = sig_first(&rx, sig_of(n, s));
        pql_vs *o = &out->vs[out->n];
        if (!pql__vs_init(ev, o, s->ls, s->n_ls)) return pql__nomem(ev);
        bool any = false;
        for (size_t i = 0; i < ev->n_steps; i++) {
            if (!s->ok[i]) continue;
            bool matched = false;
            for (size_t j = first; j != SIZE_MAX && !matched; j = rx.next[j]) matched = r->vs[j].ok[i];
            if (matched != (op == PQL_OP_AND)) continue;
            o->v[i] = s->v[i];
            o->ok[i] = 1;
            any = true;
        }
        if (any) out->n++;
    }
    if (op != PQL_OP_OR) return 0;
    if ((rc = sig_index_build(ev, n, l, &lx))) return rc;
    for (size_t k = 0; k < r->n; k++) {
        const pql_vs *s = &r->vs[k];
        size_t first = sig_first(&lx, rx.sig[k]);
        pql_vs *o = &out->vs[out->n];
        if (!pql__vs_init(ev, o, s->ls, s->n_ls)) return pql__nomem(ev);
        bool any = false;
        for (size_t i = 0; i < ev->n_steps; i++) {
            if (!s->ok[i]) continue;
            bool matched = false;
            for (size_t j = first; j != SIZE_MAX && !matched; j = lx.next[j]) matched = l->vs[j].ok[i];
            if (matched) continue;
            o->v[i] = s->v[i];
            o->ok[i] = 1;
            any = true;
        }
        if (any) out->n++;
    }
    return pql__vec_dedupe(ev, out);
}

/* Labels of a vector-vector result (Prometheus' resultMetric). many: the "many" side's
 * series (lhs for one-to-one), one: the matched series. */
static int result_labels(pql_ev *ev, const pql_node *n, const pql_vs *many, const pql_vs *one,
                         ax_label **out, uint32_t *n_out) {
    ax_label *o = pql__alloc(ev, (many->n_ls + n->bin.n_include + 1) * sizeof *o);
    if (!o) return pql__nomem(ev);
    bool drop = !is_cmp(n->bin.op) || n->bin.return_bool;
    size_t k = 0;
    for (size_t i = 0; i < many->n_ls; i++) {
        const ax_label *l = &many->ls[i];
        if (drop && is_name(l)) continue;
        if (n->bin.card == PQL_CARD_ONE_TO_ONE) {
            bool listed = false;
            for (size_t j = 0; j < n->bin.n_matching && !listed; j++)
                listed = n->bin.matching[j].len == l->name_len &&
                         !memcmp(n->bin.matching[j].p, l->name, l->name_len);
            if (n->bin.on ? !listed : listed) continue;
        }
        o[k++] = *l;
    }
    uint32_t nk = (uint32_t)k;
    for (size_t j = 0; j < n->bin.n_include; j++) {
        const pql_str *name = &n->bin.include[j];
        const ax_label *v = pql__lbl_get(one->ls, one->n_ls, name->p, name->len);
        ax_label *next;
        uint32_t nn;
        int rc = pql__lbl_set(ev, o, nk, name->p, name->len, v ? v->value : "", v ? v->value_len : 0,
                              &next, &nn);
        if (rc) return rc;
        o = next;
        nk = nn;
    }
    *out = o;
    *n_out = nk;
    return 0;
}

/* Arithmetic and comparison between two instant vectors with vector matching. */
static int eval_vector_vector(pql_ev *ev, const pql_node *n, const pql_val *lv, const pql_val *rv,
                              pql_val *out) {
    bool swap = n->bin.card == PQL_CARD_ONE_TO_MANY;
    const pql_val *many = swap ? rv : lv, *one = swap ? lv : rv;
    out->type = PQL_T_VECTOR;
    out->n = 0;
    if (!many->n || !one->n) return 0;
    sig_index ox;
    int rc = sig_index_build(ev, n, one, &ox);
    if (rc) return rc;
    /* The "one" side must be unique per signature at every step. */
    for (size_t k = 0; k < one->n; k++) {
        if (sig_first(&ox, ox.sig[k]) != k) continue; /* check each group once, from its head */
        for (size_t j = ox.next[k]; j != SIZE_MAX; j = ox.next[j])
            for (size_t i = 0; i < ev->n_steps; i++) {
                size_t clash = SIZE_MAX;
                for (size_t m = k; m != j && clash == SIZE_MAX; m = ox.next[m])
                    if (one->vs[m].ok[i] && one->vs[j].ok[i]) clash = m;
                if (clash == SIZE_MAX) continue;
                /* Prometheus' message: the match group, then the two series */
                const pql_vs *d = &one->vs[j];
                ax_label grp[AX_MAX_LABELS];
                size_t ng = 0;
                for (size_t x = 0; x < d->n_ls && ng < AX_MAX_LABELS; x++) {
                    bool listed = false;
                    for (size_t y = 0; y < n->bin.n_matching && !listed; y++)
                        listed = n->bin.matching[y].len == d->ls[x].name_len &&
                                 !memcmp(n->bin.matching[y].p, d->ls[x].name, d->ls[x].name_len);
                    if (n->bin.on ? listed : !(listed || is_name(&d->ls[x]))) grp[ng++] = d->ls[x];
                }
                char g[256], a[320], b[320];
                lbl_str(grp, ng, g, sizeof g);
                lbl_str(d->ls, d->n_ls, a, sizeof a);
                lbl_str(one->vs[clash].ls, one->vs[clash].n_ls, b, sizeof b);
                return pql__fail(ev, AX_EINVAL,
                                 "found duplicate series for the match group %s on the %s hand-side "
                                 "of the operation: [%s, %s];many-to-many matching not allowed: "
                                 "matching labels must be unique on one side",
                                 g, swap ? "left" : "right", a, b);
            }
    }
    size_t cap = 0;
    /* For one-to-one, two "many" series with one signature may not both match at a step. */
    uint8_t *used = NULL;
    uint64_t *used_sig = NULL;
    htab uh = {0};
    if (n->bin.card == PQL_CARD_ONE_TO_ONE) {
        if ((rc = htab_init(ev, &uh, many->n))) return rc;
        used = pql__alloc(ev, (uh.mask + 1) * ev->n_steps);
        used_sig = uh.key;
        if (!used) return pql__nomem(ev);
    }
    for (size_t k = 0; k < many->n; k++) {
        if ((k & 255) == 0 && (rc = pql__check(ev))) return rc;
        const pql_vs *s = &many->vs[k];
        uint64_t sig = sig_of(n, s);
        size_t first = sig_first(&ox, sig);
        if (first == SIZE_MAX) continue;
        size_t uslot = 0;
        if (used) {
            uslot = htab_slot(&uh, sig);
            used_sig[uslot] = sig;
            uh.idx[uslot] = 0;
        }
        for (size_t j = first; j != SIZE_MAX; j = ox.next[j]) {
            const pql_vs *m = &one->vs[j];
            pql_vs *o = pql__vec_push(ev, out, &cap);
            ax_label *ls = NULL;
            uint32_t nl = 0;
            if (!o || result_labels(ev, n, s, m, &ls, &nl)) return pql__nomem(ev);
            if (!pql__vs_init(ev, o, ls, nl)) return pql__nomem(ev);
            bool any = false;
            for (size_t i = 0; i < ev->n_steps; i++) {
                if (!s->ok[i] || !m->ok[i]) continue;
                double fl = s->v[i], fr = m->v[i], v;
                if (swap) { double t = fl; fl = fr; fr = t; }
                bool keep;
                v = arith(n->bin.op, fl, fr, &keep);
                if (n->bin.return_bool) v = keep ? 1 : 0;
                else if (!keep) continue;
                if (used) {
                    uint8_t *u = &used[uslot * ev->n_steps + i];
                    if (*u)
                        return pql__fail(ev, AX_EINVAL,
                                         "multiple matches for labels: many-to-one matching must be "
                                         "explicit (group_left/group_right)");
                    *u = 1;
                }
                o->v[i] = v;
                o->ok[i] = 1;
                any = true;
            }
            if (!any) out->n--;
        }
    }
    rc = pql__vec_dedupe(ev, out);
    if (rc == AX_EINVAL && n->bin.card != PQL_CARD_ONE_TO_ONE)
        return pql__fail(ev, AX_EINVAL,
                         "multiple matches for labels: grouping labels must ensure unique matches");
    return rc;
}

static int eval_binary(pql_ev *ev, const pql_node *n, pql_val *out) {
    pql_val l = {0}, r = {0};
    int rc = pql__eval(ev, n->bin.lhs, &l);
    if (!rc) rc = pql__eval(ev, n->bin.rhs, &r);
    if (rc) return rc;
    if (l.type == PQL_T_SCALAR && r.type == PQL_T_SCALAR) return eval_scalar_scalar(ev, n, &l, &r, out);
    if (l.type == PQL_T_VECTOR && r.type == PQL_T_SCALAR)
        return eval_vector_scalar(ev, n, &l, r.sc, false, out);
    if (l.type == PQL_T_SCALAR && r.type == PQL_T_VECTOR)
        return eval_vector_scalar(ev, n, &r, l.sc, true, out);
    if (is_set(n->bin.op)) return eval_set_op(ev, n, &l, &r, out);
    return eval_vector_vector(ev, n, &l, &r, out);
}

/* ---- aggregations ---- */

typedef struct agg_group {
    ax_label *ls;
    uint32_t n_ls;
    size_t *members; /* series indexes */
    size_t n_members, cap;
} agg_group;

static bool in_list(const pql_str *list, size_t n, const ax_label *l) {
    for (size_t j = 0; j < n; j++)
        if (list[j].len == l->name_len && !memcmp(list[j].p, l->name, l->name_len)) return true;
    return false;
}

/* Group labels of a series: by(list) keeps listed labels; without(list) drops them and
 * __name__. */
static int group_labels(pql_ev *ev, const pql_node *n, const pql_vs *s, ax_label **out,
                        uint32_t *n_out) {
    ax_label *o = pql__alloc(ev, (s->n_ls ? s->n_ls : 1) * sizeof *o);
    if (!o) return pql__nomem(ev);
    uint32_t k = 0;
    for (size_t i = 0; i < s->n_ls; i++) {
        bool listed = in_list(n->agg.grouping, n->agg.n_grouping, &s->ls[i]);
        if (n->agg.without ? (listed || is_name(&s->ls[i])) : !listed) continue;
        o[k++] = s->ls[i];
    }
    *out = o;
    *n_out = k;
    return 0;
}

static int make_groups(pql_ev *ev, const pql_node *n, const pql_val *in, agg_group **out,
                       size_t *n_out) {
    htab h;
    int rc = htab_init(ev, &h, in->n);
    if (rc) return rc;
    agg_group *g = pql__alloc(ev, (in->n ? in->n : 1) * sizeof *g);
    if (!g) return pql__nomem(ev);
    size_t ng = 0;
    for (size_t k = 0; k < in->n; k++) {
        ax_label *ls = NULL;
        uint32_t nl = 0;
        if ((rc = group_labels(ev, n, &in->vs[k], &ls, &nl))) return rc;
        uint64_t hk = pql__lbl_hash(ls, nl);
        size_t slot = htab_slot(&h, hk);
        agg_group *gr;
        if (h.idx[slot] == SIZE_MAX) {
            h.key[slot] = hk;
            h.idx[slot] = ng;
            gr = &g[ng++];
            gr->ls = ls;
            gr->n_ls = nl;
        } else {
            gr = &g[h.idx[slot]];
        }
        if (gr->n_members == gr->cap) {
            size_t nc = gr->cap ? gr->cap * 2 : 4;
            size_t *nm = ax_arena_alloc(ev->a, nc * sizeof *nm);
            if (!nm) return pql__nomem(ev);
            if (gr->n_members) memcpy(nm, gr->members, gr->n_members * sizeof *nm);
            gr->members = nm;
            gr->cap = nc;
        }
        gr->members[gr->n_members++] = k;
    }
    *out = g;
    *n_out = ng;
    return 0;
}

/* sum avg count min max group stddev stdvar: one output series per group. */
static int agg_simple(pql_ev *ev, const pql_node *n, const pql_val *in, agg_group *g, size_t ng,
                      pql_val *out) {
    int op = n->agg.op;
    size_t ns = ev->n_steps;
    double *sum = ax_arena_alloc(ev->a, ns * sizeof *sum);
    double *mean = ax_arena_alloc(ev->a, ns * sizeof *mean);
    double *cnt = ax_arena_alloc(ev->a, ns * sizeof *cnt);
    if (!sum || !mean || !cnt) return pql__nomem(ev);
    out->vs = pql__alloc(ev, (ng ? ng : 1) * sizeof *out->vs);
    if (!out->vs) return pql__nomem(ev);
    for (size_t gi = 0; gi < ng; gi++) {
        int rc = pql__check(ev);
        if (rc) return rc;
        pql_vs *o = pql__vs_init(ev, &out->vs[out->n++], g[gi].ls, g[gi].n_ls);
        if (!o) return pql__nomem(ev);
        memset(sum, 0, ns * sizeof *sum);
        memset(mean, 0, ns * sizeof *mean);
        memset(cnt, 0, ns * sizeof *cnt);
        for (size_t m = 0; m < g[gi].n_members; m++) {
            const pql_vs *s = &in->vs[g[gi].members[m]];
            for (size_t i = 0; i < ns; i++) {
                if (!s->ok[i]) continue;
                double v = s->v[i];
                double k = ++cnt[i];
                if (k == 1) { /* the first sample starts the group, as Prometheus */
                    bool var = op == PQL_AGG_STDDEV || op == PQL_AGG_STDVAR;
                    sum[i] = var ? 0 : v;
                    mean[i] = v;
                    continue;
                }
                switch (op) {
                /* sum and avg as Prometheus 2.42: a plain sum in series order (sorted by
                 * labels) and a running mean, so results match it to the last bit */
                case PQL_AGG_SUM: sum[i] += v; break;
                case PQL_AGG_AVG:
                    if (isinf(mean[i])) {
                        if (isinf(v) && (mean[i] > 0) == (v > 0)) break;
                        if (!isinf(v) && !isnan(v)) break;
                    }
                    mean[i] += v / k - mean[i] / k;
                    break;
                case PQL_AGG_COUNT: break;
                case PQL_AGG_GROUP: break;
                case PQL_AGG_MIN:
                    if (k == 1 || v < sum[i] || isnan(sum[i])) sum[i] = v;
                    break;
                case PQL_AGG_MAX:
                    if (k == 1 || v > sum[i] || isnan(sum[i])) sum[i] = v;
                    break;
                case PQL_AGG_STDDEV:
                case PQL_AGG_STDVAR: { /* Welford, as Prometheus */
                    double d = v - mean[i];
                    mean[i] += d / k;
                    sum[i] += d * (v - mean[i]);
                    break;
                }
                }
            }
        }
        for (size_t i = 0; i < ns; i++) {
            if (!cnt[i]) continue;
            double v = 0;
            switch (op) {
            case PQL_AGG_SUM: v = sum[i]; break;
            case PQL_AGG_AVG: v = mean[i]; break;
            case PQL_AGG_COUNT: v = cnt[i]; break;
            case PQL_AGG_GROUP: v = 1; break;
            case PQL_AGG_MIN: case PQL_AGG_MAX: v = sum[i]; break;
            case PQL_AGG_STDVAR: v = sum[i] / cnt[i]; break;
            case PQL_AGG_STDDEV: v = sqrt(sum[i] / cnt[i]); break;
            }
            o->v[i] = v;
            o->ok[i] = 1;
        }
    }
    return 0;
}

/* topk/bottomk: does a rank before b? NaN ranks last for both. */
static bool k_before(bool top, double a, double b) {
    if (isnan(a)) return false;
    if (isnan(b)) return true;
    return top ? a > b : a < b;
}

static int agg_topk(pql_ev *ev, const pql_node *n, const pql_val *in, agg_group *g, size_t ng,
                    const double *param, pql_val *out) {
    bool top = n->agg.op == PQL_AGG_TOPK;
    size_t ns = ev->n_steps;
    out->vs = pql__alloc(ev, (in->n ? in->n : 1) * sizeof *out->vs);
    uint8_t **sel = pql__alloc(ev, (in->n ? in->n : 1) * sizeof *sel);
    if (!out->vs || !sel) return pql__nomem(ev);
    size_t maxm = 1;
    for (size_t gi = 0; gi < ng; gi++) if (g[gi].n_members > maxm) maxm = g[gi].n_members;
    size_t *pick = ax_arena_alloc(ev->a, maxm * sizeof *pick);
    /* Each input series becomes an output series present where it was picked. */
    pql_vs *outs = pql__alloc(ev, (in->n ? in->n : 1) * sizeof *outs);
    if (!pick || !outs) return pql__nomem(ev);
    for (size_t k = 0; k < in->n; k++)
        if (!pql__vs_init(ev, &outs[k], in->vs[k].ls, in->vs[k].n_ls)) return pql__nomem(ev);
    for (size_t i = 0; i < ns; i++) {
        double kf = param[i];
        if (isnan(kf)) return pql__fail(ev, AX_EINVAL, "Parameter value is NaN");
        if (kf >= 9.2233720368547758e18 || kf <= -9.2233720368547758e18)
            return pql__fail(ev, AX_EINVAL, "Scalar value %g overflows int64", kf);
        int64_t kk = (int64_t)kf;
        if (kk < 1) continue;
        for (size_t gi = 0; gi < ng; gi++) {
            size_t np = 0;
            for (size_t m = 0; m < g[gi].n_members; m++) {
                size_t idx = g[gi].members[m];
                if (!in->vs[idx].ok[i]) continue;
                /* insertion into the sorted pick list, cut at k */
                double v = in->vs[idx].v[i];
                size_t pos = np;
                while (pos > 0 && k_before(top, v, in->vs[pick[pos - 1]].v[i])) pos--;
                if ((int64_t)pos >= kk) continue;
                if ((int64_t)np < kk) np++;
                memmove(&pick[pos + 1], &pick[pos], (np - 1 - pos) * sizeof *pick);
                pick[pos] = idx;
            }
            for (size_t p = 0; p < np; p++) {
                outs[pick[p]].v[i] = in->vs[pick[p]].v[i];
                outs[pick[p]].ok[i] = 1;
            }
            if (ns == 1) /* instant query: keep the ranking order in the output */
                for (size_t p = 0; p < np; p++) out->vs[out->n++] = outs[pick[p]];
        }
    }
    if (ns > 1)
        for (size_t k = 0; k < in->n; k++) {
            bool any = false;
            for (size_t i = 0; i < ns && !any; i++) any = outs[k].ok[i];
            if (any) out->vs[out->n++] = outs[k];
        }
    return 0;
}

static int agg_quantile(pql_ev *ev, const pql_val *in, agg_group *g, size_t ng,
                        const double *param, pql_val *out) {
    size_t maxm = 1;
    for (size_t gi = 0; gi < ng; gi++) if (g[gi].n_members > maxm) maxm = g[gi].n_members;
    double *buf = ax_arena_alloc(ev->a, maxm * sizeof *buf);
    out->vs = pql__alloc(ev, (ng ? ng : 1) * sizeof *out->vs);
    if (!buf || !out->vs) return pql__nomem(ev);
    for (size_t gi = 0; gi < ng; gi++) {
        pql_vs *o = pql__vs_init(ev, &out->vs[out->n++], g[gi].ls, g[gi].n_ls);
        if (!o) return pql__nomem(ev);
        for (size_t i = 0; i < ev->n_steps; i++) {
            size_t nb = 0;
            for (size_t m = 0; m < g[gi].n_members; m++) {
                const pql_vs *s = &in->vs[g[gi].members[m]];
                if (s->ok[i]) buf[nb++] = s->v[i];
            }
            if (!nb) continue;
            o->v[i] = pqk_quantile(param[i], buf, nb);
            o->ok[i] = 1;
        }
    }
    return 0;
}

/* count_values("label", v): like Prometheus, each sample's labels first get label=<value>
 * (Go's 'f' -1 format), then group as usual with `label` counted as a `by` label; the
 * output is the count per group and step. */
static int agg_count_values(pql_ev *ev, const pql_node *n, const pql_val *in, pql_str label,
                            pql_val *out) {
    if (!ax_label_name_valid(label.p, label.len))
        return pql__fail(ev, AX_EINVAL, "invalid label name \"%.*s\"", (int)label.len, label.p);
    size_t cap = 0;
    htab h = {0};
    int rc = htab_init(ev, &h, 64);
    if (rc) return rc;
    ax_label tmp[AX_MAX_LABELS + 1];
    for (size_t k = 0; k < in->n; k++) {
        const pql_vs *s = &in->vs[k];
        for (size_t i = 0; i < ev->n_steps; i++) {
            if (!s->ok[i]) continue;
            char txt[40];
            size_t tl = ax_fmt_double(txt, s->v[i]);
            ax_label *ls;
            uint32_t nl, ng = 0;
            if ((rc = pql__lbl_set(ev, s->ls, s->n_ls, label.p, label.len, txt, tl, &ls, &nl)))
                return rc;
            for (uint32_t j = 0; j < nl && ng < AX_MAX_LABELS + 1; j++) {
                bool listed = in_list(n->agg.grouping, n->agg.n_grouping, &ls[j]);
                bool is_value = ls[j].name_len == label.len && !memcmp(ls[j].name, label.p, label.len);
                if (n->agg.without ? (listed || is_name(&ls[j])) : !(listed || is_value)) continue;
                tmp[ng++] = ls[j];
            }
            uint64_t hk = pql__lbl_hash(tmp, ng);
            size_t slot = htab_slot(&h, hk);
            if (h.idx[slot] == SIZE_MAX) {
                if (out->n * 2 >= h.mask) { /* grow: rebuild the table twice as big */
                    if ((rc = htab_init(ev, &h, (h.mask + 1) * 2))) return rc;
                    for (size_t o = 0; o < out->n; o++) {
                        uint64_t ok = pql__lbl_hash(out->vs[o].ls, out->vs[o].n_ls);
                        size_t sl = htab_slot(&h, ok);
                        h.key[sl] = ok;
                        h.idx[sl] = o;
                    }
                    slot = htab_slot(&h, hk);
                }
                pql_vs *nv = pql__vec_push(ev, out, &cap);
                ax_label *gl = ax_arena_dup(ev->a, tmp, (ng ? ng : 1) * sizeof *tmp);
                if (!nv || !gl) return pql__nomem(ev);
                for (uint32_t j = 0; j < ng; j++) /* the value text lives on the stack: copy */
                    if (gl[j].value == txt && !(gl[j].value = ax_arena_dup(ev->a, txt, tl + 1)))
                        return pql__nomem(ev);
                if (!pql__vs_init(ev, nv, gl, ng)) return pql__nomem(ev);
                memset(nv->v, 0, ev->n_steps * sizeof(double));
                h.key[slot] = hk;
                h.idx[slot] = out->n - 1;
            }
            pql_vs *o = &out->vs[h.idx[slot]];
            o->v[i] += 1;
            o->ok[i] = 1;
        }
    }
    return 0;
}

static int eval_agg(pql_ev *ev, const pql_node *n, pql_val *out) {
    pql_val in = {0}, param = {0};
    int rc = 0;
    if (n->agg.param) rc = pql__eval(ev, n->agg.param, &param);
    if (!rc) rc = pql__eval(ev, n->agg.expr, &in);
    if (rc) return rc;
    out->type = PQL_T_VECTOR;
    out->n = 0;
    if (n->agg.op == PQL_AGG_COUNT_VALUES) return agg_count_values(ev, n, &in, param.str, out);
    if (n->agg.op == PQL_AGG_TOPK || n->agg.op == PQL_AGG_BOTTOMK) {
        /* Groups by the grouping labels but outputs the input series themselves. */
        agg_group *g;
        size_t ng;
        if ((rc = make_groups(ev, n, &in, &g, &ng))) return rc;
        return agg_topk(ev, n, &in, g, ng, param.sc, out);
    }
    agg_group *g;
    size_t ng;
    if ((rc = make_groups(ev, n, &in, &g, &ng))) return rc;
    if (n->agg.op == PQL_AGG_QUANTILE) return agg_quantile(ev, &in, g, ng, param.sc, out);
    return agg_simple(ev, n, &in, g, ng, out);
}

/* ---- the rest ---- */

static int eval_unary(pql_ev *ev, const pql_node *n, pql_val *out) {
    int rc = pql__eval(ev, n->unary.expr, out);
    if (rc || n->unary.op != PQL_OP_SUB) return rc;
    if (out->type == PQL_T_SCALAR) {
        for (size_t i = 0; i < ev->n_steps; i++) out->sc[i] = -out->sc[i];
        return 0;
    }
    for (size_t k = 0; k < out->n; k++) {
        pql_vs *s = &out->vs[k];
        double *nv = ax_arena_alloc(ev->a, ev->n_steps * sizeof *nv);
        if (!nv) return pql__nomem(ev);
        for (size_t i = 0; i < ev->n_steps; i++) nv[i] = -s->v[i];
        s->v = nv;
        if ((rc = pql__lbl_drop_name(ev, s->ls, s->n_ls, &s->ls, &s->n_ls))) return rc;
    }
    return pql__vec_dedupe(ev, out);
}

int pql__eval(pql_ev *ev, const pql_node *n, pql_val *out) {
    int rc = pql__check(ev);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    switch (n->kind) {
    case PQL_NUMBER:
        out->type = PQL_T_SCALAR;
        out->sc = ax_arena_alloc(ev->a, ev->n_steps * sizeof(double));
        if (!out->sc) return pql__nomem(ev);
        for (size_t i = 0; i < ev->n_steps; i++) out->sc[i] = n->number;
        return 0;
    case PQL_STRING:
        out->type = PQL_T_STRING;
        out->str = n->string;
        return 0;
    case PQL_PAREN: return pql__eval(ev, n->paren.expr, out);
    case PQL_VECTOR_SEL: return eval_vector_sel(ev, n, false, out);
    case PQL_MATRIX_SEL: return eval_matrix_sel(ev, n, out);
    case PQL_SUBQUERY: return eval_subquery(ev, n, out);
    case PQL_CALL: return pql__call(ev, n, out);
    case PQL_AGG: return eval_agg(ev, n, out);
    case PQL_BINARY: return eval_binary(ev, n, out);
    case PQL_UNARY: return eval_unary(ev, n, out);
    }
    return pql__fail(ev, AX_EINVAL, "unknown expression node %d", n->kind);
}

/* ---- results ---- */

static int rs_cmp(const void *a, const void *b) {
    const pql_rseries *x = a, *y = b;
    return pql__lbl_cmp(x->ls, x->n_ls, y->ls, y->n_ls);
}

/* The points of a range vector at time t (instant query of `x[5m]` or a subquery). */
static int matrix_result(pql_ev *ev, const pql_val *v, pql_result *r) {
    int64_t hi = (v->at ? v->at_ms : ev->start) - v->offset_ms, lo = hi - v->range_ms;
    r->s = pql__alloc(ev, (v->n_ms ? v->n_ms : 1) * sizeof *r->s);
    if (!r->s) return pql__nomem(ev);
    for (size_t k = 0; k < v->n_ms; k++) {
        const pql_ms *m = &v->ms[k];
        size_t a = 0, b;
        while (a < m->n && m->t[a] < lo) a++;
        for (b = a; b < m->n && m->t[b] <= hi;) b++;
        if (a == b) continue;
        r->s[r->n++] = (pql_rseries){m->ls, m->n_ls, m->t + a, m->v + a, b - a};
    }
    qsort(r->s, r->n, sizeof *r->s, rs_cmp);
    return 0;
}

static int vector_result(pql_ev *ev, const pql_val *v, bool range, pql_result *r) {
    r->s = pql__alloc(ev, (v->n ? v->n : 1) * sizeof *r->s);
    if (!r->s) return pql__nomem(ev);
    for (size_t k = 0; k < v->n; k++) {
        const pql_vs *s = &v->vs[k];
        size_t cnt = 0;
        for (size_t i = 0; i < ev->n_steps; i++) cnt += s->ok[i];
        if (!cnt) continue;
        int64_t *t = ax_arena_alloc(ev->a, cnt * sizeof *t);
        double *vv = ax_arena_alloc(ev->a, cnt * sizeof *vv);
        if (!t || !vv) return pql__nomem(ev);
        size_t w = 0;
        for (size_t i = 0; i < ev->n_steps; i++) {
            if (!s->ok[i]) continue;
            t[w] = pql__t(ev, i);
            vv[w++] = s->v[i];
        }
        r->s[r->n++] = (pql_rseries){s->ls, s->n_ls, t, vv, w};
    }
    if (range) qsort(r->s, r->n, sizeof *r->s, rs_cmp);
    return 0;
}

int pql_exec(eng *e, const pql_node *root, int64_t start, int64_t end, int64_t step, bool range,
             const pql_opts *o, pql_result **out, ax_err *err) {
    pql_result *r = calloc(1, sizeof *r);
    if (!r) return ax_err_set(err, AX_ENOMEM, "out of memory");
    pql_ev ev = {0};
    ev.e = e;
    if (o) ev.o = *o;
    if (!ev.o.lookback_ms) ev.o.lookback_ms = DEFAULT_LOOKBACK_MS;
    if (!ev.o.max_samples) ev.o.max_samples = DEFAULT_MAX_SAMPLES;
    if (!ev.o.max_points) ev.o.max_points = DEFAULT_MAX_POINTS;
    if (!ev.o.mem_max) ev.o.mem_max = DEFAULT_MEM;
    ax_arena_init(&r->arena, ev.o.mem_max);
    ev.a = &r->arena;
    ev.err = err;
    ev.sub_step = DEFAULT_SUBQUERY_STEP_MS;
    ev.q_start = start;
    ev.q_end = range ? end : start;
    ev.start = start;
    ev.end = range ? end : start;
    ev.step = range ? step : 1;
    int rc = 0;
    if (range) {
        if (step <= 0 || end < start)
            rc = ax_err_set(err, AX_EINVAL, "bad range: start %lld end %lld step %lld",
                            (long long)start, (long long)end, (long long)step);
        else if ((uint64_t)((end - start) / step) + 1 > ev.o.max_points)
            rc = ax_err_set(err, AX_ELIMIT,
                            "exceeded maximum resolution of %zu points per timeseries. Try "
                            "decreasing the query resolution (?step=XX)",
                            ev.o.max_points);
        else
            ev.n_steps = (size_t)((end - start) / step) + 1;
    } else {
        ev.n_steps = 1;
    }
    int rt = pql_node_type(root);
    if (!rc && range && rt != PQL_T_SCALAR && rt != PQL_T_VECTOR)
        rc = ax_err_set(err, AX_EINVAL,
                        "invalid expression type \"%s\" for range query, must be Scalar or "
                        "instant Vector",
                        rt == PQL_T_STRING ? "string" : "range vector");
    pql_val v = {0};
    if (!rc) rc = pql__eval(&ev, root, &v);
    if (!rc) {
        r->t = start;
        switch (v.type) {
        case PQL_T_SCALAR:
            if (!range) {
                r->type = PQL_T_SCALAR;
                r->scalar = v.sc[0];
                break;
            }
            /* a scalar range query: one series without labels */
            v.vs = pql__alloc(&ev, sizeof *v.vs);
            if (!v.vs || !pql__vs_init(&ev, v.vs, NULL, 0)) { rc = pql__nomem(&ev); break; }
            for (size_t i = 0; i < ev.n_steps; i++) {
                v.vs->v[i] = v.sc[i];
                v.vs->ok[i] = 1;
            }
            v.n = 1;
            /* fall through */
        case PQL_T_VECTOR:
            r->type = range ? PQL_T_MATRIX : PQL_T_VECTOR;
            rc = vector_result(&ev, &v, range, r);
            break;
        case PQL_T_MATRIX:
            r->type = PQL_T_MATRIX;
            rc = matrix_result(&ev, &v, r);
            break;
        case PQL_T_STRING:
            r->type = PQL_T_STRING;
            r->str = v.str;
            break;
        }
    }
    /* Matrix results point into raw sample arrays: copy them before releasing. */
    if (!rc && r->type == PQL_T_MATRIX && !range) {
        for (size_t k = 0; k < r->n && !rc; k++) {
            int64_t *t = ax_arena_dup(ev.a, r->s[k].ts, r->s[k].n * sizeof *t);
            double *vv = ax_arena_dup(ev.a, r->s[k].v, r->s[k].n * sizeof *vv);
            if (!t || !vv) rc = pql__nomem(&ev);
            else { r->s[k].ts = t; r->s[k].v = vv; }
        }
    }
    for (pql_raw *x = ev.raw; x; x = x->next) {
        eng_samples_free(&x->s);
        eng_rollups_free(&x->ru);
    }
    if (rc) {
        pql_result_free(r);
        return rc;
    }
    r->warnings = ev.warn;
    r->n_warnings = ev.n_warn;
    *out = r;
    return 0;
}

void pql_result_free(pql_result *r) {
    if (!r) return;
    ax_arena_clear(&r->arena);
    free(r);
}
