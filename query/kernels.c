/* query/kernels.c: the numbers behind PromQL's range functions, quantiles and date functions,
 * computed the way Prometheus v2.53 computes them (promql/functions.go, promql/quantile.go),
 * down to the order of floating-point operations where that order changes the last bits:
 * results are compared against Prometheus' own test data, and rate() users compare graphs.
 *
 * Everything here works on plain arrays: no allocation, no labels, no errors. Each function
 * names the Prometheus function it follows; where Prometheus has a special case (a counter
 * reset, an infinite mean, a histogram whose buckets are not monotonic) the comment says why.
 */
#include "query/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Go's time.Duration.Seconds() for a duration in ms: whole seconds plus the fraction, each
 * converted separately. Using it keeps rate()'s divisor bit-identical to Prometheus'. */
static double dur_seconds(int64_t ms) {
    int64_t sec = ms / 1000, rem = ms % 1000;
    return (double)sec + (double)(rem * 1000000) / 1e9;
}

/* ---- rate, increase, delta ------------------------------------------------------------- */

/* last - first, plus every value seen just before a drop when `is_counter` (a counter reset
 * means the counter restarted from zero, so what it had reached counts as increase). */
static double raw_increase(const pqk_win *w, bool is_counter) {
    double r = w->v[w->n - 1] - w->v[0];
    if (!is_counter) return r;
    for (size_t i = 1; i < w->n; i++)
        if (w->v[i] < w->v[i - 1]) r += w->v[i - 1];
    return r;
}

/* Extrapolate `result` (the increase between the first and last sample, n samples) to the
 * window's bounds. */
static double extrapolate(double result, int64_t first_t, int64_t last_t, double first_v, double n,
                          int64_t lo, int64_t hi, bool is_counter, bool is_rate) {
    double to_start = (double)(first_t - lo) / 1000;
    double to_end = (double)(hi - last_t) / 1000;
    double sampled = (double)(last_t - first_t) / 1000;
    double avg_gap = sampled / (n - 1);

    /* A counter cannot go below zero: start no earlier than the time the line through the
     * samples would reach zero. Prometheus 2.42 (the release auspex answers like) applies
     * this before the threshold rule below; 2.46+ after it, which changes results when
     * the window starts well before a series' first sample. */
    if (is_counter && result > 0 && first_v >= 0) {
        double to_zero = sampled * (first_v / result);
        if (to_zero < to_start) to_start = to_zero;
    }
    /* A sample is expected within 1.1 average gaps of each bound; farther away, the series
     * probably starts or ends inside the window, so extrapolate only half a gap. */
    double threshold = avg_gap * 1.1;
    double interval = sampled;
    interval += to_start < threshold ? to_start : avg_gap / 2;
    interval += to_end < threshold ? to_end : avg_gap / 2;

    double factor = interval / sampled;
    if (is_rate) factor /= dur_seconds(hi - lo);
    return result * factor;
}

bool pqk_extrapolated_rate(const pqk_win *w, bool is_counter, bool is_rate, double *out) {
    if (w->n < 2) return false;
    *out = extrapolate(raw_increase(w, is_counter), w->t[0], w->t[w->n - 1], w->v[0], (double)w->n,
                       w->lo, w->hi, is_counter, is_rate);
    return true;
}

/* irate / idelta: only the last two samples; for irate a drop is a counter reset, so the
 * last value is all that was added since. */
bool pqk_instant_rate(const pqk_win *w, bool is_rate, double *out) {
    if (w->n < 2) return false;
    double last = w->v[w->n - 1], prev = w->v[w->n - 2];
    double r = (is_rate && last < prev) ? last : last - prev;
    int64_t dt = w->t[w->n - 1] - w->t[w->n - 2];
    if (dt == 0) return false; /* equal timestamps: no rate (Prometheus drops the element) */
    if (is_rate) r /= (double)dt / 1000;
    *out = r;
    return true;
}

/* changes: NaN followed by NaN is no change (NaN != NaN would count it). */
bool pqk_changes(const pqk_win *w, double *out) {
    if (w->n == 0) return false;
    size_t c = 0;
    for (size_t i = 1; i < w->n; i++) {
        double cur = w->v[i], prev = w->v[i - 1];
        if (cur != prev && !(isnan(cur) && isnan(prev))) c++;
    }
    *out = (double)c;
    return true;
}

bool pqk_resets(const pqk_win *w, double *out) {
    if (w->n == 0) return false;
    size_t c = 0;
    for (size_t i = 1; i < w->n; i++)
        if (w->v[i] < w->v[i - 1]) c++;
    *out = (double)c;
    return true;
}

/* ---- deriv, predict_linear, holt_winters ----------------------------------------------- */

/* Least squares over (t - t0 in seconds, v), Kahan-compensated sums (Prometheus'
 * linearRegression). Constant y gives slope 0 and intercept y (or NaN, NaN for a constant
 * infinity) instead of the 0/0 the formula would produce when all x are equal too. */
static void linear_regression(const pqk_win *w, int64_t t0, double *slope, double *icpt) {
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init_y = w->v[0];
    bool const_y = true;
    for (size_t i = 0; i < w->n; i++) {
        double y = w->v[i];
        if (const_y && i > 0 && y != init_y) const_y = false;
        n += 1.0;
        double x = (double)(w->t[i] - t0) / 1e3;
        pqk_kahan_add(x, &sx, &cx);
        pqk_kahan_add(y, &sy, &cy);
        pqk_kahan_add(x * y, &sxy, &cxy);
        pqk_kahan_add(x * x, &sx2, &cx2);
    }
    if (const_y) {
        *slope = isinf(init_y) ? NAN : 0;
        *icpt = isinf(init_y) ? NAN : init_y;
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov_xy = sxy - sx * sy / n;
    double var_x = sx2 - sx * sx / n;
    *slope = cov_xy / var_x;
    *icpt = sy / n - *slope * sx / n;
}

bool pqk_deriv(const pqk_win *w, double *out) {
    if (w->n < 2) return false;
    double slope, icpt;
    /* x relative to the first sample keeps x small (Prometheus issue 2674). */
    linear_regression(w, w->t[0], &slope, &icpt);
    *out = slope;
    return true;
}

bool pqk_predict_linear(const pqk_win *w, int64_t eval_t, double dur_s, double *out) {
    if (w->n < 2) return false;
    double slope, icpt;
    linear_regression(w, eval_t, &slope, &icpt);
    *out = slope * dur_s + icpt;
    return true;
}

/* Prometheus' double exponential smoothing: level s starts at v[0], trend b at v[1] - v[0];
 * the trend is first updated at the third sample (calcTrendValue returns b for i == 0). */
bool pqk_holt_winters(const pqk_win *w, double sf, double tf, double *out) {
    if (w->n < 2) return false;
    double s0 = 0, s1 = w->v[0], b = w->v[1] - w->v[0];
    for (size_t i = 1; i < w->n; i++) {
        double x = sf * w->v[i];
        if (i > 1) b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return true;
}

/* ---- *_over_time ------------------------------------------------------------------------ */

/* avg_over_time: the running mean with a Kahan-compensated increment, so large values do
 * not overflow a sum. Once the mean is infinite, finite values and infinities of the same
 * sign leave it as it is (Inf - Inf would turn it into NaN); NaN or the other infinity
 * still make it NaN. */
static double avg_of(const double *v, size_t n) {
    double mean = 0, c = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        double f = v[i];
        count++;
        if (isinf(mean)) {
            if (isinf(f) && (mean > 0) == (f > 0)) continue;
            if (!isinf(f) && !isnan(f)) continue;
        }
        pqk_kahan_add(f / count - mean / count, &mean, &c);
    }
    return isinf(mean) ? mean : mean + c;
}

static double sum_of(const double *v, size_t n) {
    double sum = 0, c = 0;
    for (size_t i = 0; i < n; i++) pqk_kahan_add(v[i], &sum, &c);
    return isinf(sum) ? sum : sum + c; /* Inf + c would be NaN when c is -Inf */
}

/* min/max: a NaN is replaced by any later value, so NaN only wins when all are NaN. */
static double min_of(const double *v, size_t n) {
    double m = v[0];
    for (size_t i = 0; i < n; i++)
        if (v[i] < m || isnan(m)) m = v[i];
    return m;
}

static double max_of(const double *v, size_t n) {
    double m = v[0];
    for (size_t i = 0; i < n; i++)
        if (v[i] > m || isnan(m)) m = v[i];
    return m;
}

/* Population variance by Welford's update, mean and sum of squares Kahan-compensated. */
static double variance_of(const double *v, size_t n) {
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = v[i] - (mean + cmean);
        pqk_kahan_add(delta / count, &mean, &cmean);
        pqk_kahan_add(delta * (v[i] - (mean + cmean)), &aux, &caux);
    }
    return (aux + caux) / count;
}

/* Median absolute deviation: median of |v - median(v)|, both medians by pqk_quantile. */
static double mad_of(const double *v, size_t n, double *scratch) {
    memcpy(scratch, v, n * sizeof *scratch);
    double median = pqk_quantile(0.5, scratch, n);
    for (size_t i = 0; i < n; i++) scratch[i] = fabs(v[i] - median);
    return pqk_quantile(0.5, scratch, n);
}

bool pqk_over_time(int which, const pqk_win *w, double *scratch, double *out) {
    if (w->n == 0) return false;
    const double *v = w->v;
    size_t n = w->n;
    switch (which) {
    case PQK_AVG: *out = avg_of(v, n); break;
    case PQK_MIN: *out = min_of(v, n); break;
    case PQK_MAX: *out = max_of(v, n); break;
    case PQK_SUM: *out = sum_of(v, n); break;
    case PQK_COUNT: *out = (double)n; break;
    case PQK_LAST: *out = v[n - 1]; break;
    case PQK_STDDEV: *out = sqrt(variance_of(v, n)); break;
    case PQK_STDVAR: *out = variance_of(v, n); break;
    case PQK_PRESENT: *out = 1; break;
    case PQK_MAD: *out = mad_of(v, n, scratch); break;
    default: return false;
    }
    return true;
}

bool pqk_quantile_over_time(double q, const pqk_win *w, double *scratch, double *out) {
    if (w->n == 0) return false;
    memcpy(scratch, w->v, w->n * sizeof *scratch);
    *out = pqk_quantile(q, scratch, w->n);
    return true;
}

/* ---- quantiles ---------------------------------------------------------------------------- */

/* Ascending with NaN first, as Prometheus' vectorByValueHeap sorts. */
static int cmp_nan_first(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a)) return isnan(b) ? 0 : -1;
    if (isnan(b)) return 1;
    return (a > b) - (a < b);
}

double pqk_quantile(double q, double *v, size_t n) {
    if (n == 0 || isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    qsort(v, n, sizeof *v, cmp_nan_first);
    /* Between two ranks, a weighted average of the two samples. */
    double nn = (double)n;
    double rank = q * (nn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(nn - 1, lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* By upper bound; a NaN bound (le="NaN") sorts first so that +Inf stays last. */
static int cmp_bucket(const void *pa, const void *pb) {
    const pqk_bucket *a = pa, *b = pb;
    return cmp_nan_first(&a->upper, &b->upper);
}

/* Merge buckets with the same bound (sorted input), summing their counts; returns the new n. */
static size_t coalesce_buckets(pqk_bucket *b, size_t n) {
    size_t i = 0;
    pqk_bucket last = b[0];
    for (size_t j = 1; j < n; j++) {
        if (b[j].upper == last.upper) {
            last.count += b[j].count;
        } else {
            b[i++] = last;
            last = b[j];
        }
    }
    b[i++] = last;
    return i;
}

/* Prometheus' almostEqual: relative difference below eps (absolute near zero). */
static bool almost_equal(double a, double b, double eps) {
    const double min_normal = 2.2250738585072014e-308; /* smallest normal float64 */
    if (isnan(a) && isnan(b)) return true;
    if (a == b) return true;
    double abs_sum = fabs(a) + fabs(b);
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal) return diff < eps * min_normal;
    return diff / fmin(abs_sum, 1.7976931348623157e308) < eps;
}

/* ensureMonotonicAndIgnoreSmallDeltas: counts that differ from the last accepted one by a
 * relative 1e-12 (float noise from summing rates) are set equal to it, and any decrease is
 * flattened, so the binary search below sees a monotonic sequence. */
static void ensure_monotonic(pqk_bucket *b, size_t n) {
    double prev = b[0].count;
    for (size_t i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev) continue;
        if (almost_equal(prev, cur, 1e-12) || cur < prev) {
            b[i].count = prev; /* prev stays: the difference is ignored */
            continue;
        }
        prev = cur;
    }
}

/* Go's sort.Search over buckets [0, n): the first index whose count >= rank, n if none. */
static size_t search_rank(const pqk_bucket *b, size_t n, double rank) {
    size_t i = 0, j = n;
    while (i < j) {
        size_t h = i + (j - i) / 2;
        if (!(b[h].count >= rank))
            i = h + 1;
        else
            j = h;
    }
    return i;
}

double pqk_bucket_quantile(double q, pqk_bucket *b, size_t n) {
    if (isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    if (n == 0) return NAN;
    qsort(b, n, sizeof *b, cmp_bucket);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0)) return NAN;
    n = coalesce_buckets(b, n);
    ensure_monotonic(b, n);
    if (n < 2) return NAN;
    double observations = b[n - 1].count;
    if (observations == 0) return NAN;
    double rank = q * observations;
    size_t i = search_rank(b, n - 1, rank);
    /* In the +Inf bucket: the best we know is the highest finite bound. */
    if (i == n - 1) return b[n - 2].upper;
    /* The lowest bucket starts at 0, unless its bound is not above 0. */
    if (i == 0 && b[0].upper <= 0) return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* ---- date functions ----------------------------------------------------------------------- */

/* Go's int64(f): truncation toward zero; NaN and out-of-range values give INT64_MIN as on
 * amd64 (C leaves that case undefined, so it is decided here). */
static int64_t go_int64(double f) {
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)f;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Proleptic Gregorian date of day `z` since 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y_out, int *m_out, int *d_out) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                    /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);             /* [0, 365], from Mar 1 */
    int64_t mp = (5 * doy + 2) / 153;                                  /* [0, 11], Mar = 0 */
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y_out = yoe + era * 400 + (m <= 2);
    *m_out = m;
    *d_out = d;
}

double pqk_date(int which, double t_s) {
    int64_t sec = go_int64(t_s);
    /* Floor division: times before 1970 belong to the earlier day. */
    int64_t days = sec / 86400, sod = sec % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    switch (which) {
    case PQK_DAY_OF_MONTH: return d;
    case PQK_DAY_OF_WEEK: {
        int64_t wd = (days + 4) % 7; /* 1970-01-01 was a Thursday */
        return (double)(wd < 0 ? wd + 7 : wd);
    }
    case PQK_DAY_OF_YEAR: {
        int yday = d;
        for (int i = 1; i < m; i++) yday += month_days(y, i);
        return yday;
    }
    case PQK_DAYS_IN_MONTH: return month_days(y, m);
    case PQK_HOUR: return (double)(sod / 3600);
    case PQK_MINUTE: return (double)(sod % 3600 / 60);
    case PQK_MONTH: return m;
    case PQK_YEAR: return (double)y;
    default: return NAN;
    }
}

/* ---- downsampled windows: rollup points, then raw samples ------------------------------- */

/* Raw samples in a window that also holds rollup points: counted from the rollups' last
 * value, so the step from the last rollup to the first raw sample counts too. */
static double ru_count(const pqk_rollups *ru, const pqk_win *w) {
    double n = (double)w->n;
    for (size_t i = 0; i < ru->n; i++) n += ru->count[i];
    return n;
}

bool pqk_rollup_rate(const pqk_rollups *ru, const pqk_win *w, bool is_counter, bool is_rate, double *out) {
    if (!ru->n) return pqk_extrapolated_rate(w, is_counter, is_rate, out);
    double n = ru_count(ru, w);
    if (n < 2) return false;
    size_t k = ru->n - 1;
    int64_t first_t = ru->first_t[0], last_t = w->n ? w->t[w->n - 1] : ru->t[k];
    double first_v = ru->first[0], last_v = w->n ? w->v[w->n - 1] : ru->last[k];
    double result;
    if (is_counter) {
        /* cum undoes resets inside the rollups; the raw part continues from their last value */
        result = ru->cum_last[k] - ru->cum_first[0];
        double prev = ru->last[k];
        for (size_t i = 0; i < w->n; i++) {
            result += w->v[i] < prev ? w->v[i] : w->v[i] - prev;
            prev = w->v[i];
        }
    } else {
        result = last_v - first_v;
    }
    if (last_t == first_t) return false;
    *out = extrapolate(result, first_t, last_t, first_v, n, w->lo, w->hi, is_counter, is_rate);
    return true;
}

bool pqk_rollup_over_time(int which, const pqk_rollups *ru, const pqk_win *w, double *out) {
    if (!ru->n && !w->n) return false;
    double n = ru_count(ru, w);
    double sum = 0, c = 0, sq = 0, csq = 0;
    double mn = NAN, mx = NAN;
    for (size_t i = 0; i < ru->n; i++) {
        pqk_kahan_add(ru->sum[i], &sum, &c);
        pqk_kahan_add(ru->sum_sq[i], &sq, &csq);
        if (ru->min[i] < mn || isnan(mn)) mn = ru->min[i];
        if (ru->max[i] > mx || isnan(mx)) mx = ru->max[i];
    }
    for (size_t i = 0; i < w->n; i++) {
        double v = w->v[i];
        pqk_kahan_add(v, &sum, &c);
        pqk_kahan_add(v * v, &sq, &csq);
        if (v < mn || isnan(mn)) mn = v;
        if (v > mx || isnan(mx)) mx = v;
    }
    double s = isinf(sum) ? sum : sum + c, s2 = isinf(sq) ? sq : sq + csq;
    switch (which) {
    case PQK_AVG: *out = s / n; break;
    case PQK_MIN: *out = mn; break;
    case PQK_MAX: *out = mx; break;
    case PQK_SUM: *out = s; break;
    case PQK_COUNT: *out = n; break;
    case PQK_LAST: *out = w->n ? w->v[w->n - 1] : ru->last[ru->n - 1]; break;
    case PQK_PRESENT: *out = 1; break;
    case PQK_STDVAR:
    case PQK_STDDEV: {
        double mean = s / n, var = s2 / n - mean * mean;
        if (var < 0) var = 0; /* rounding */
        *out = which == PQK_STDDEV ? sqrt(var) : var;
        break;
    }
    default: return false;
    }
    return true;
}

bool pqk_rollup_changes(const pqk_rollups *ru, const pqk_win *w, bool resets, double *out) {
    if (!ru->n) return resets ? pqk_resets(w, out) : pqk_changes(w, out);
    double c = 0;
    for (size_t i = 0; i < ru->n; i++) c += resets ? ru->resets[i] : ru->changes[i];
    /* the first point's count includes the step into it from the sample before the window */
    double p0 = ru->prev_last, f0 = ru->first[0];
    if (!isnan(p0) && (resets ? f0 < p0 : f0 != p0)) c--;
    double prev = ru->last[ru->n - 1];
    for (size_t i = 0; i < w->n; i++) {
        double cur = w->v[i];
        if (resets ? cur < prev : (cur != prev && !(isnan(cur) && isnan(prev)))) c++;
        prev = cur;
    }
    *out = c;
    return true;
}

