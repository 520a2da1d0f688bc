/* query/eval_int.h: shared by the evaluator (query/eval.c) and the functions (query/funcs.c)
 * only. Values, the evaluation context, label helpers.
 *
 * Every node is evaluated for all steps of its evaluation at once: a scalar is an array of
 * n_steps values, an instant vector a list of series each with a value and a presence flag
 * per step (a series' labels are fixed; it is simply absent at steps where it has no
 * sample), a range vector the raw samples of each series plus the window every step takes.
 * All memory comes from the evaluation's arena (ev->a), except raw samples read from the
 * engine, which are malloc'd by eng_series_read and released in pql__ev_done.
 */
#ifndef AX_PQL_EVAL_INT_H
#define AX_PQL_EVAL_INT_H

#include "query/kernels.h"
#include "query/query.h"

/* One series of an instant vector over the steps. */
typedef struct pql_vs {
    ax_label *ls;    /* sorted by name */
    uint32_t n_ls;
    double *v;       /* [n_steps] */
    uint8_t *ok;     /* [n_steps]: 1 where the series has a value */
} pql_vs;

/* One series of a range vector: raw samples ascending in time, no staleness markers. */
typedef struct pql_ms {
    ax_label *ls;
    uint32_t n_ls;
    const int64_t *t;
    const double *v;
    size_t n;
    /* downsampled data: t[0..n_ru) and v[0..n_ru) are rollup points (their time and last
     * value), ru's arrays at the same indexes hold the rest (engine/engine.h eng_rollups);
     * raw samples follow. ru NULL, n_ru 0: raw only. */
    const eng_rollups *ru;
    size_t ru_off;  /* ru's point i is t[i - ru_off]: points before ru_off lie before the range */
    size_t n_ru;
} pql_ms;

typedef struct pql_val {
    int type;        /* PQL_T_* */
    double *sc;      /* PQL_T_SCALAR: [n_steps] */
    pql_vs *vs;      /* PQL_T_VECTOR */
    size_t n;
    pql_ms *ms;      /* PQL_T_MATRIX */
    size_t n_ms;
    int64_t range_ms, offset_ms; /* window at step time t: hi = (at ? at_ms : t) - offset */
    bool at;
    int64_t at_ms;
    pql_str str;     /* PQL_T_STRING */
} pql_val;

/* Raw sample arrays to release at the end. */
typedef struct pql_raw {
    eng_samples s;
    eng_rollups ru;
    struct pql_raw *next;
} pql_raw;

typedef struct pql_ev {
    eng *e;
    pql_opts o;
    ax_arena *a;
    ax_err *err;
    int64_t start, end, step; /* this (sub)evaluation's steps: start, start+step, ... <= end */
    size_t n_steps;
    int64_t q_start, q_end;   /* the query's own start and end (for @ start() / end()) */
    int64_t sub_step;         /* default subquery step */
    size_t samples;           /* raw samples read so far */
    pql_raw *raw;
    const char **warn;
    size_t n_warn;
} pql_ev;

static inline int64_t pql__t(const pql_ev *ev, size_t i) { return ev->start + (int64_t)i * ev->step; }

/* Evaluate n over ev's steps into *out. Returns 0 or AX_E* (message in ev->err). */
int pql__eval(pql_ev *ev, const pql_node *n, pql_val *out);
/* A function call (query/funcs.c). */
int pql__call(pql_ev *ev, const pql_node *n, pql_val *out);

/* Deadline and memory checks: 0, AX_ETIMEOUT or AX_ENOMEM with a message. */
int pql__check(pql_ev *ev);
void *pql__alloc(pql_ev *ev, size_t len); /* zeroed arena memory or NULL (set ev->err) */
int pql__nomem(pql_ev *ev);
int pql__fail(pql_ev *ev, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pql__warn(pql_ev *ev, const char *msg);

/* A new series with labels ls (not copied) and all steps absent. NULL on exhaustion. */
pql_vs *pql__vs_init(pql_ev *ev, pql_vs *s, ax_label *ls, uint32_t n_ls);
/* Append room for one more series to val (vector); returns it zeroed, or NULL. */
pql_vs *pql__vec_push(pql_ev *ev, pql_val *val, size_t *cap);
/* Merge series of val with equal labels; a step where two are present is the error
 * "vector cannot contain metrics with the same labelset" (AX_EINVAL). */
int pql__vec_dedupe(pql_ev *ev, pql_val *val);

/* Labels. */
const ax_label *pql__lbl_get(const ax_label *ls, size_t n, const char *name, size_t len);
/* Copy of ls without __name__ (arena). OUT: *out, *n_out. */
int pql__lbl_drop_name(pql_ev *ev, const ax_label *ls, size_t n, ax_label **out, uint32_t *n_out);
/* Copy of ls with name=value set (value "" removes it), kept sorted. */
int pql__lbl_set(pql_ev *ev, const ax_label *ls, size_t n, const char *name, size_t name_len,
                 const char *value, size_t value_len, ax_label **out, uint32_t *n_out);
uint64_t pql__lbl_hash(const ax_label *ls, size_t n);
bool pql__lbl_eq(const ax_label *a, size_t na, const ax_label *b, size_t nb);
int pql__lbl_cmp(const ax_label *a, size_t na, const ax_label *b, size_t nb);

/* Unwrap parentheses. */
static inline const pql_node *pql__unparen(const pql_node *n) {
    while (n && n->kind == PQL_PAREN) n = n->paren.expr;
    return n;
}

/* Evaluate a vector selector giving, per step, the timestamp (seconds) of the sample the
 * selector picks instead of its value (timestamp()). */
int pql__eval_selector_ts(pql_ev *ev, const pql_node *n, pql_val *out);

#endif
