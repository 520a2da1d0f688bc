/* query/kernels.h: the arithmetic of PromQL's functions and aggregations on plain arrays,
 * as Prometheus 2.42 computes it (promql/functions.go, promql/quantile.go). No labels, no
 * allocation (callers pass scratch space), no errors: the evaluator (query/eval.c,
 * query/funcs.c) picks the series, the windows and the steps and validates arguments.
 *
 * Windows: a range selector or subquery at evaluation time t gives, per series, the samples
 * with timestamps in [lo, hi] (closed at both ends, Prometheus 2.x), ascending, staleness
 * markers already removed. lo = t - offset - range, hi = t - offset.
 * Floats: sums use Kahan-Babuska (Neumaier) compensation as Prometheus' kahanSumInc.
 */
#ifndef AX_QUERY_KERNELS_H
#define AX_QUERY_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pqk_win {
    const int64_t *t; /* ms */
    const double *v;
    size_t n;
    int64_t lo, hi;   /* the window's bounds (ms) */
} pqk_win;

/* rate (is_counter, is_rate), increase (is_counter), delta (neither): Prometheus'
 * extrapolatedRate, counter resets corrected, extrapolated to the window's bounds unless the
 * gap exceeds 1.1 x the average sample interval, never below zero for counters.
 * Returns false (no output) with fewer than 2 samples. */
bool pqk_extrapolated_rate(const pqk_win *w, bool is_counter, bool is_rate, double *out);
/* irate (is_rate) / idelta: the last two samples. false with fewer than 2. */
bool pqk_instant_rate(const pqk_win *w, bool is_rate, double *out);
/* changes / resets: need 1 sample (false with 0). */
bool pqk_changes(const pqk_win *w, double *out);
bool pqk_resets(const pqk_win *w, double *out);
/* deriv: slope per second of the least-squares line (intercept time = first sample);
 * predict_linear: the line's value at eval_t + dur_s seconds (intercept time = eval_t).
 * false with fewer than 2 samples. */
bool pqk_deriv(const pqk_win *w, double *out);
bool pqk_predict_linear(const pqk_win *w, int64_t eval_t, double dur_s, double *out);
/* holt_winters(sf, tf): double exponential smoothing; sf, tf already checked in (0, 1).
 * false with fewer than 2 samples. */
bool pqk_holt_winters(const pqk_win *w, double sf, double tf, double *out);

/* *_over_time: false with an empty window. */
enum {
    PQK_AVG, PQK_MIN, PQK_MAX, PQK_SUM, PQK_COUNT, PQK_LAST, PQK_STDDEV, PQK_STDVAR,
    PQK_PRESENT, PQK_MAD
};
/* scratch: room for w->n doubles (PQK_MAD sorts a copy there). */
bool pqk_over_time(int which, const pqk_win *w, double *scratch, double *out);
/* quantile_over_time(q): scratch as above. */
bool pqk_quantile_over_time(double q, const pqk_win *w, double *scratch, double *out);

/* Downsampled data (engine/engine.h eng_rollups): rollup points, each standing for `count`
 * raw samples from first_t to t, that come before a window's raw samples. A window made of
 * whole rollup intervals gives what the raw samples gave: counters by differences of cum
 * (resets undone), *_over_time from the sums, extremes and counts. */
typedef struct pqk_rollups {
    const int64_t *t, *first_t;
    const double *first, *last, *min, *max, *sum, *sum_sq, *cum_first, *cum_last;
    const uint32_t *count, *resets, *changes;
    size_t n;
    /* the last value of the point before ru's first, whose step into ru's first sample is
     * counted in ru->resets[0] / changes[0] but lies outside the window; NaN: none */
    double prev_last;
} pqk_rollups;
/* rate/increase/delta over rollup points ru then raw samples w (ru->n 0: as
 * pqk_extrapolated_rate). false with fewer than 2 samples in all. */
bool pqk_rollup_rate(const pqk_rollups *ru, const pqk_win *w, bool is_counter, bool is_rate, double *out);
/* avg/min/max/sum/count/last/present/stddev/stdvar_over_time over ru then w (not MAD: false). */
bool pqk_rollup_over_time(int which, const pqk_rollups *ru, const pqk_win *w, double *out);
/* changes (resets false) or resets over ru then w. */
bool pqk_rollup_changes(const pqk_rollups *ru, const pqk_win *w, bool resets, double *out);

/* Prometheus' quantile(): sorts v[0..n) in place; NaN for n == 0, -Inf for q < 0, +Inf for
 * q > 1, NaN for q NaN; linear interpolation between closest ranks. */
double pqk_quantile(double q, double *v, size_t n);

/* histogram_quantile over one group of classic buckets (upper bound `le`, cumulative count).
 * Sorts b in place; Prometheus' bucketQuantile: NaN without a +Inf bucket or with fewer than
 * 2 buckets, counts made monotonic, q < 0 -> -Inf, q > 1 -> +Inf, interpolation within the
 * bucket (the lowest bucket starts at 0 when its bound is positive). */
typedef struct pqk_bucket {
    double upper;
    double count;
} pqk_bucket;
double pqk_bucket_quantile(double q, pqk_bucket *b, size_t n);

/* Date functions on a Unix time in seconds (UTC), as Go's time package: */
enum {
    PQK_DAY_OF_MONTH, PQK_DAY_OF_WEEK, PQK_DAY_OF_YEAR, PQK_DAYS_IN_MONTH, PQK_HOUR, PQK_MINUTE,
    PQK_MONTH, PQK_YEAR
};
double pqk_date(int which, double t_s);

/* Neumaier-compensated sum step, Prometheus' kahanSumInc: *sum + *c is the running total;
 * once the sum is infinite the compensation is dropped (it would be NaN). */
static inline void pqk_kahan_add(double x, double *sum, double *c) {
    double t = *sum + x;
    if (t - t != 0) /* t is ±Inf or NaN */
        *c = 0;
    else if ((*sum >= 0 ? *sum : -*sum) >= (x >= 0 ? x : -x))
        *c += (*sum - t) + x; /* the smaller operand x lost low-order bits */
    else
        *c += (x - t) + *sum;
    *sum = t;
}

#endif
