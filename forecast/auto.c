/* forecast/auto.c: the frame around the models: model names, seasonal period detection,
 * automatic model choice by rolling-origin backtest, prediction intervals and fallbacks.
 * What the user sees is described in docs/forecast.md; the numbers below are the ones it
 * quotes.
 *
 * fc_forecast, step by step:
 *  1. Drop leading non-finite values; +-Inf counts as missing (NaN). Rescale by a power of
 *     two, z = y / 2^e with max |z| in [0.5, 1): exact, keeps signs (multiplicative models
 *     still see positive data), and no square can overflow. All model work happens on z;
 *     the result is scaled back and clamped to +-DBL_MAX.
 *  2. Degenerate input: no finite value -> FC_EINVAL; a constant series -> that constant
 *     with a zero-width band; fewer than MIN_AUTO finite values -> naive, band from the
 *     one-step differences times sqrt(horizon).
 *  3. Periods: the caller's hint, else fc_detect_periods.
 *  4. Backtest: H = clamp(h, BT_MIN_H, min(BT_MAX_H, n/4)) steps ahead from the origins
 *     o_j = n - H - j H (disjoint test windows; training z[0..o_j), at least BT_MIN_TRAIN).
 *     Cheap candidates (seasonal naive per period, drift, linear, naive) run on up to
 *     BT_ORIGINS origins; the fitted models (seasonal, ets) on the newest BT_FIT_ORIGINS,
 *     fewer when their training prefixes sum past BT_FIT_POINTS; ets fits only the last
 *     max(ETS_TAIL_MIN, 3 periods) points of each prefix. Score: mean over a candidate's
 *     origins of its MASE on the first Hs = clamp(h, BT_SEL_MIN_H, H) steps (scale: the
 *     training part's mean absolute difference at lag periods[0], lag 1 if undefined,
 *     differences capped at 5x their median; each error capped at BT_ERR_CLIP scales).
 *     Lowest score wins. The mean of the best two (different models) is scored on their
 *     common origins and replaces the winner unless it scores more than COMBO_SLACK (5%)
 *     worse than the winner there (a short backtest picks a winner noisily).
 *  5. Fit the winner(s) on all of z; a fit that fails falls to the next candidate. A model
 *     requested by name that cannot run falls back to auto over the baselines.
 *  6. Band: band_from_errors (horizon shape from a power law fitted to the winner's
 *     backtest |errors|, level from their pooled split-conformal quantile, widened for the
 *     few backtest windows behind it). */
#include "forecast/forecast_int.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#define MIN_AUTO 12         /* fewer finite values: naive */
#define BT_ORIGINS 5        /* backtest origins for the cheap baselines (disjoint windows) */
#define BT_FIT_ORIGINS 2    /* ... and at most this many for the fitted models (seasonal, ets) */
#define BT_FIT_POINTS 16384 /* ... fewer when their training prefixes would sum past this */
#define BT_ERR_CLIP 10.0    /* an error counts at most this many MASE scales (outliers) */
#define BT_SCALE_FLOOR 1e-12 /* smallest MASE scale, relative to max |value|: below is rounding */
#define BT_MIN_H 24         /* backtest at least this many steps ahead (errors for the band) */
#define BT_SEL_MIN_H 8      /* ... and choose on the first max(h, this) of them */
#define ETS_TAIL_MIN 672    /* ets fits the last max(this, 3 periods) points only */
#define ETS_TAIL_PERIODS 3
#define BT_MAX_H 1024
#define COMBO_SLACK 0.05   /* the mean of the best two unless this much worse than the best */
#define BT_MIN_TRAIN 8
#define BAND_DF_PER_ORIGIN 2.5 /* degrees of freedom per backtest origin (band widening) */
#define DETECT_MAX_N 20000  /* period detection looks at the last this many points */
#define ACF_MIN_R 0.15      /* a period needs autocorrelation at least this (and 4/sqrt(pairs)) */
#define ACF_WEEK_GAIN 0.05  /* a week next to a day must beat the mean r of days 1..6 by this */
#define CLIP_MADS 6.0       /* detection clips residuals at median +- this many robust sds */

static const char *const model_names[FC_N_MODELS] = {
    "auto", "seasonal", "holt_winters", "seasonal_naive", "drift", "linear", "naive",
};

const char *fc_model_name(int model) {
    return model >= 0 && model < FC_N_MODELS ? model_names[model] : "unknown";
}

int fc_model_parse(const char *s, size_t len) {
    for (int i = 0; i < FC_N_MODELS; i++)
        if (strlen(model_names[i]) == len && !memcmp(s, model_names[i], len)) return i;
    if (len == 7 && !memcmp(s, "prophet", 7)) return FC_SEASONAL;
    if (len == 3 && !memcmp(s, "ets", 3)) return FC_ETS;
    return -1;
}

/* ---- period detection ---------------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}


/* In-place iterative radix-2 FFT of (re, im)[0..n), n a power of two; tw[0..n) holds
 * cos(2 pi k / n) then -sin(2 pi k / n) for k < n/2. */
static void fft(double *re, double *im, size_t n, const double *tw) {
    for (size_t i = 1, j = 0; i < n; i++) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i]; re[i] = re[j]; re[j] = t;
            t = im[i]; im[i] = im[j]; im[j] = t;
        }
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        size_t step = n / len;
        for (size_t i = 0; i < n; i += len) {
            for (size_t k = 0; k < len / 2; k++) {
                double wr = tw[k * step], wi = tw[n / 2 + k * step];
                size_t p = i + k, q = p + len / 2;
                double xr = re[q] * wr - im[q] * wi, xi = re[q] * wi + im[q] * wr;
                re[q] = re[p] - xr; im[q] = im[p] - xi;
                re[p] += xr; im[p] += xi;
            }
        }
    }
}

/* Raw autocovariance sums out[k] = sum_i x[i] x[i+k] for k <= maxlag, by FFT. */
static int acsum(const double *x, size_t n, size_t maxlag, double *out) {
    size_t p = 1;
    while (p < 2 * n) p <<= 1;
    double *re = calloc(3 * p, sizeof *re);
    if (!re) return FC_ENOMEM;
    double *im = re + p, *tw = im + p;
    for (size_t k = 0; k < p / 2; k++) {
        tw[k] = cos(2.0 * M_PI * (double)k / (double)p);
        tw[p / 2 + k] = -sin(2.0 * M_PI * (double)k / (double)p);
    }
    memcpy(re, x, n * sizeof *x);
    fft(re, im, p, tw);
    for (size_t i = 0; i < p; i++) { re[i] = re[i] * re[i] + im[i] * im[i]; im[i] = 0; }
    fft(re, im, p, tw); /* the power spectrum is real and even: a forward FFT inverts it up to 1/p */
    for (size_t k = 0; k <= maxlag; k++) out[k] = re[k] / (double)p;
    free(re);
    return FC_OK;
}

/* Copy scaled by a power of two so that max |z| is in [0.5, 1): exact, sign-preserving
 * (multiplicative models still see positive data), and no square of z can overflow.
 * Non-finite values become NaN. Returns the count of finite values; *exp_out = the
 * exponent (y = ldexp(z, exp); 2^exp itself may overflow), *const_out = 1 when all finite
 * values are equal. */
static size_t normalise(const double *y, size_t n, double *z, int *exp_out, int *const_out) {
    double lo = INFINITY, hi = -INFINITY, amax = 0;
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i])) {
            c++;
            if (y[i] < lo) lo = y[i];
            if (y[i] > hi) hi = y[i];
            if (fabs(y[i]) > amax) amax = fabs(y[i]);
        }
    int e = 0;
    if (amax > 0) frexp(amax, &e);
    for (size_t i = 0; i < n; i++) z[i] = isfinite(y[i]) ? ldexp(y[i], -e) : NAN;
    *exp_out = e;
    *const_out = c && lo == hi;
    return c;
}

typedef struct acf {
    double *r;     /* r[k]: autocorrelation at lag k (NaN with too few pairs) */
    double *pairs; /* number of finite pairs at lag k */
    size_t maxlag;
} acf;

static double acf_thr(const acf *a, size_t k) {
    return fmax(ACF_MIN_R, 4.0 / sqrt(fmax(a->pairs[k], 1)));
}

/* r[k] standing out from the half-period trough: r[k] - min r over [k/4, 3k/4]. */
static double acf_prominence(const acf *a, size_t k) {
    size_t lo = k / 4 ? k / 4 : 1, hi = 3 * k / 4 > lo ? 3 * k / 4 : lo;
    double m = INFINITY;
    for (size_t i = lo; i <= hi; i++)
        if (isfinite(a->r[i]) && a->r[i] < m) m = a->r[i];
    return isfinite(m) ? a->r[k] - m : 0;
}

static int acf_significant(const acf *a, size_t k) {
    if (k < 2 || k > a->maxlag || !isfinite(a->r[k])) return 0;
    double t = acf_thr(a, k);
    return a->r[k] >= t && acf_prominence(a, k) >= t;
}

/* k is (within 2 %) an integer multiple >= 2 of p. */
static int is_multiple(size_t k, size_t p) {
    if (p == 0 || k < 2 * p - p / 50) return 0;
    double q = round((double)k / (double)p);
    return q >= 2 && fabs((double)k - q * (double)p) <= fmax(1.0, 0.02 * (double)k);
}

/* The k-th smallest of v[0..n) (quickselect; v is reordered). */
static double kth(double *v, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double p = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p) i++;
            while (v[j] > p) j--;
            if (i <= j) {
                double t = v[i]; v[i] = v[j]; v[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return v[k];
}

/* Generic search: significant local maxima of r in [2, maxlag], strongest first, a
 * harmonic replaced by its fundamental when that is nearly as strong. */
static size_t acf_peaks(const acf *a, size_t *periods, size_t max) {
    size_t cand[64], nc = 0, got = 0;
    for (size_t k = 2; k <= a->maxlag && nc < 64; k++) {
        if (!acf_significant(a, k)) continue;
        size_t rad = k / 10 ? k / 10 : 1, lo = k > rad ? k - rad : 0, hi = k + rad;
        int top = 1;
        for (size_t i = lo; i <= hi && i <= a->maxlag && top; i++)
            if (i != k && isfinite(a->r[i]) && (a->r[i] > a->r[k] || (a->r[i] == a->r[k] && i < k)))
                top = 0;
        if (top) cand[nc++] = k;
    }
    while (got < max && nc) {
        size_t b = 0;
        for (size_t i = 1; i < nc; i++)
            if (a->r[cand[i]] > a->r[cand[b]]) b = i;
        size_t k = cand[b];
        /* prefer the smallest fundamental nearly as strong */
        for (size_t i = 0; i < nc; i++)
            if (cand[i] < k && is_multiple(k, cand[i]) && a->r[cand[i]] >= a->r[k] - 0.1) {
                k = cand[i];
                break;
            }
        int ok = 1;
        for (size_t j = 0; j < got && ok; j++) {
            size_t p = periods[j];
            if (k == p || is_multiple(p, k)) ok = 0;
            else if (is_multiple(k, p) && a->r[k] < a->r[p] + ACF_WEEK_GAIN) ok = 0;
        }
        if (ok) periods[got++] = k;
        /* drop k (and the chosen candidate) from the list */
        size_t w = 0;
        for (size_t i = 0; i < nc; i++)
            if (cand[i] != k && i != b) cand[w++] = cand[i];
        nc = w;
    }
    return got;
}

size_t fc_detect_periods(const double *y, size_t n, double step_s, size_t *periods, size_t max) {
    if (!max || !periods || n < 8) return 0;
    if (n > DETECT_MAX_N) { y += n - DETECT_MAX_N; n = DETECT_MAX_N; }
    size_t maxlag = n / 2, got = 0;
    double *x = malloc((3 * n + 2 * (maxlag + 1)) * sizeof *x);
    if (!x) return 0;
    double *mask = x + n, *sorted = mask + n, *r = sorted + n, *pairs = r + maxlag + 1;
    int e, constant;
    size_t c = normalise(y, n, x, &e, &constant);
    if (c < 8 || constant) goto out;
    /* remove the least-squares line */
    double sx = 0, sy = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) { sx += (double)i; sy += x[i]; }
    double mx = sx / (double)c, my = sy / (double)c, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) { sxx += ((double)i - mx) * ((double)i - mx); sxy += ((double)i - mx) * (x[i] - my); }
    double b = sxx > 0 ? sxy / sxx : 0;
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        mask[i] = isfinite(x[i]);
        x[i] = mask[i] ? x[i] - my - b * ((double)i - mx) : 0;
        if (mask[i]) sorted[nf++] = x[i];
    }
    /* outliers would own the variance: clip at the median +- CLIP_MADS robust sds */
    double med = kth(sorted, nf, nf / 2); /* selection, not a sort: the same element */
    for (size_t i = 0; i < nf; i++) sorted[i] = fabs(sorted[i] - med);
    double lim = CLIP_MADS * 1.4826 * kth(sorted, nf, nf / 2);
    if (lim > 0)
        for (size_t i = 0; i < n; i++)
            if (mask[i]) x[i] = fmin(fmax(x[i], med - lim), med + lim);
    if (acsum(x, n, maxlag, r)) goto out;
    if (nf == n) {
        for (size_t k = 0; k <= maxlag; k++) pairs[k] = (double)(n - k);
    } else if (acsum(mask, n, maxlag, pairs)) {
        goto out;
    }
    double var = r[0] / fmax(pairs[0], 1);
    if (!(var > 0)) goto out;
    for (size_t k = 0; k <= maxlag; k++) {
        pairs[k] = round(pairs[k]);
        r[k] = pairs[k] >= 16 ? r[k] / pairs[k] / var : NAN;
    }
    acf a = {r, pairs, maxlag};
    if (step_s > 0 && isfinite(step_s)) {
        double dd = 86400.0 / step_s;
        size_t d = (size_t)llround(dd), w = 7 * d;
        if (d >= 2 && fabs(dd - (double)d) <= 0.01 * dd) {
            int day = acf_significant(&a, d);
            int week = acf_significant(&a, w);
            if (week && day) {
                /* a daily pattern alone correlates at every multiple of the day alike */
                double mean = 0;
                size_t c6 = 0;
                for (size_t j = 1; j < 7; j++)
                    if (isfinite(r[j * d])) { mean += r[j * d]; c6++; }
                week = c6 && r[w] >= mean / (double)c6 + ACF_WEEK_GAIN;
            }
            if (day) periods[got++] = d;
            if (week && got < max) periods[got++] = w;
            if (got == 2 && r[w] > r[d]) { periods[0] = w; periods[1] = d; }
            if (got) goto out;
        }
    }
    got = acf_peaks(&a, periods, max);
out:
    free(x);
    return got;
}

/* ---- forecasting ------------------------------------------------------------------------ */

#define MAX_CAND (FC_N_MODELS + FC_MAX_PERIODS)

typedef struct cand {
    int model;
    fc__model_fn fn;
    size_t per[FC_MAX_PERIODS], np;
    int expensive;
    size_t tail;      /* fit on the last `tail` points only (0: all) */
    size_t k;         /* backtest origins it ran on; 0 = it could not run */
    double score;     /* mean MASE over the origins every candidate ran on (NaN: none scored) */
    double *f;        /* f[j * H + i]: forecast from origin j, step i + 1 */
} cand;

typedef struct ctx {
    const double *y;  /* the caller's series from its first finite value (for sMAPE) */
    const double *z;  /* the normalised copy */
    size_t n;         /* length of both */
    int e;            /* y = ldexp(z, e) */
    double cov;
    size_t h, H, Hs, K; /* horizon, backtest steps, steps scored, origins */
    size_t orig[BT_ORIGINS];
    double scale[BT_ORIGINS]; /* MASE denominators per origin (NaN: undefined) */
    double *err;      /* K * H scratch */
    double *tmp;      /* scratch for quantiles, K * H + n */
} ctx;

/* Split-conformal quantile: the ceil((n + 1) c)-th smallest of v[0..n) (sorted in place),
 * the largest when that rank is past n; 0 for n == 0. */
static double cquant(double *v, size_t n, double c) {
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_dbl);
    size_t r = (size_t)ceil((double)(n + 1) * c);
    if (r < 1) r = 1;
    if (r > n) r = n;
    return v[r - 1];
}

/* The k-th smallest of v[0..n) (k < n), reordering v (Hoare's quickselect). */

/* MASE scale: the mean absolute difference at lag m over z[0..n), each difference capped
 * at 5 times their median so that a few spikes in the training part do not make every
 * error look small (the plain M4 mean when there are none). NaN when no pair or zero.
 * At least BT_SCALE_FLOOR (z is scaled to max |z| in [0.5, 1)): on a noiseless periodic
 * series the differences are rounding noise, and an exact forecast's error over that noise
 * scored (and reported) a MASE around 1 instead of about 0. tmp: n doubles. */
static double mad_lag(const double *z, size_t n, size_t m, double *tmp) {
    size_t c = 0;
    for (size_t i = m; i < n; i++)
        if (isfinite(z[i]) && isfinite(z[i - m])) tmp[c++] = fabs(z[i] - z[i - m]);
    if (!c) return NAN;
    double s = 0, cap = 5 * kth(tmp, c, c / 2);
    for (size_t i = 0; i < c; i++) s += cap > 0 ? fmin(tmp[i], cap) : tmp[i];
    return s > 0 ? fmax(s / (double)c, BT_SCALE_FLOOR) : NAN;
}

/* Mean absolute error of f against z[o .. o + Hs) over finite actuals, each error clipped
 * at `clip` (NaN when no actual is finite). */
static double mae_at(const ctx *x, size_t o, const double *f, double clip) {
    double s = 0;
    size_t c = 0;
    for (size_t i = 0; i < x->Hs; i++)
        if (isfinite(x->z[o + i])) { s += fmin(fabs(x->z[o + i] - f[i]), clip); c++; }
    return c ? s / (double)c : NAN;
}

/* Mean MASE of forecasts f (origins 0..k) and, if smape_out, mean sMAPE in the caller's units. */
static double bt_score(const ctx *x, const double *f, size_t k, double *smape_out) {
    double ms = 0, ss = 0;
    size_t cm = 0, cs = 0;
    for (size_t j = 0; j < k; j++) {
        double e = mae_at(x, x->orig[j], f + j * x->H, BT_ERR_CLIP * x->scale[j]);
        if (isfinite(e) && isfinite(x->scale[j])) { ms += e / x->scale[j]; cm++; }
        if (smape_out) {
            double *fy = x->tmp;
            for (size_t i = 0; i < x->Hs; i++) fy[i] = ldexp(f[j * x->H + i], x->e);
            double sm = fc_smape(x->y + x->orig[j], fy, x->Hs);
            if (isfinite(sm)) { ss += sm; cs++; }
        }
    }
    if (smape_out) *smape_out = cs ? ss / (double)cs : NAN;
    return cm ? ms / (double)cm : NAN;
}

static int all_finite(const double *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* Fit c on z[0..len) (its tail) and forecast h steps into out. */
static int cand_fit(const ctx *x, const cand *c, size_t len, size_t h, double *out) {
    size_t off = c->tail && len > c->tail ? len - c->tail : 0;
    int rc = c->fn(x->z + off, len - off, c->per, c->np, h, out);
    return rc ? rc : all_finite(out, h) ? FC_OK : FC_EINVAL;
}

/* Run candidate c on its backtest origins. Returns 0 or FC_ENOMEM; c->k = 0 when it failed. */
static int bt_run(const ctx *x, cand *c) {
    size_t k = x->K;
    if (c->expensive) {
        size_t len = c->tail && c->tail < x->orig[0] ? c->tail : x->orig[0];
        size_t kb = BT_FIT_POINTS / len;
        k = kb < 1 ? 1 : kb < BT_FIT_ORIGINS ? kb : BT_FIT_ORIGINS;
        if (k > x->K) k = x->K;
    }
    c->k = 0;
    for (size_t j = 0; j < k; j++) {
        double *f = c->f + j * x->H;
        int rc = cand_fit(x, c, x->orig[j], x->H, f);
        if (rc == FC_ENOMEM) return rc;
        if (rc) return FC_OK;
    }
    c->k = k;
    return FC_OK;
}

/* Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
static double norm_quantile(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549671348283425e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) return -norm_quantile(1 - p);
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* Band half-widths q[0..h) (in z units) from backtest errors err[j * H + i], j < k.
 * Shape: a_i = (i + 1)^beta, beta in [0, 1] from the weighted least-squares line of
 * log(mean |e| at horizon i) on log(i + 1) (0: errors flat in the horizon, 0.5: a random
 * walk, 1: a missed trend); two parameters from all k * H errors, so a horizon seen by two
 * origins only cannot make the band collapse there. Level: the split-conformal quantile Q
 * of |e_ji| / a_i pooled over every origin and horizon, then widened for the few
 * independent windows behind it (below). q_i = Q a_i, and past H the band keeps growing
 * as (i / H)^max(beta, 0.5). */
static void band_from_errors(const ctx *x, const double *err, size_t k, double *q) {
    size_t H = x->H, nv = 0;
    double *v = x->tmp, sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < H; i++) {
        double s = 0, c = 0;
        for (size_t j = 0; j < k; j++)
            if (isfinite(err[j * H + i])) { s += fabs(err[j * H + i]); c++; }
        if (!(s > 0)) continue;
        double lx = log((double)(i + 1)), ly = log(s / c);
        sw += c; sx += c * lx; sy += c * ly; sxx += c * lx * lx; sxy += c * lx * ly;
    }
    double beta = 0;
    if (sw > 0) {
        double vx = sxx - sx * sx / sw;
        if (vx > 1e-12) beta = (sxy - sx * sy / sw) / vx;
    }
    beta = isfinite(beta) ? fmin(fmax(beta, 0.0), 1.0) : 0;
    for (size_t j = 0; j < k; j++)
        for (size_t i = 0; i < H; i++)
            if (isfinite(err[j * H + i])) v[nv++] = fabs(err[j * H + i]) / pow((double)(i + 1), beta);
    double Q = cquant(v, nv, x->cov);
    /* The errors come from k backtest windows, so the band's scale is an estimate with few
     * degrees of freedom: widen as Student's t does over the normal (first Cornish-Fisher
     * term, t/z = 1 + (z^2 + 1) / (4 nu)), nu = BAND_DF_PER_ORIGIN * k. */
    double zq = norm_quantile(0.5 + 0.5 * x->cov);
    Q *= 1 + (zq * zq + 1) / (4 * BAND_DF_PER_ORIGIN * (double)k);
    double grow = fmax(beta, 0.5);
    for (size_t i = 0; i < x->h; i++)
        q[i] = i < H ? Q * pow((double)(i + 1), beta)
                     : Q * pow((double)H, beta) * pow((double)(i + 1) / (double)H, grow);
}

/* No backtest: one-step differences of the finite values times sqrt(horizon). */
static void band_in_sample(const ctx *x, double *q) {
    size_t c = 0;
    double prev = NAN;
    for (size_t i = 0; i < x->n; i++) {
        if (!isfinite(x->z[i])) continue;
        if (isfinite(prev)) x->tmp[c++] = fabs(x->z[i] - prev);
        prev = x->z[i];
    }
    double q1 = cquant(x->tmp, c, x->cov);
    for (size_t i = 0; i < x->h; i++) q[i] = q1 * sqrt((double)(i + 1));
}

static void add_cand(cand *cs, size_t *nc, int model, fc__model_fn fn, const size_t *per,
                     size_t np, int expensive) {
    cand *c = &cs[(*nc)++];
    memset(c, 0, sizeof *c);
    c->model = model;
    c->fn = fn;
    c->np = np;
    for (size_t i = 0; i < np; i++) c->per[i] = per[i];
    c->expensive = expensive;
}

/* The candidates for `model` (FC_AUTO: all; baselines_only: the cheap ones). */
static size_t make_cands(int model, const size_t *per, size_t np, size_t n, int baselines_only,
                         cand *cs) {
    size_t nc = 0;
    int all = model == FC_AUTO || baselines_only;
    if (!baselines_only && (all || model == FC_SEASONAL))
        add_cand(cs, &nc, FC_SEASONAL, fc__seasonal, per, np, 1);
    if (!baselines_only && (all || model == FC_ETS)) {
        /* ets uses one season: the strongest that fits 3 times into the history */
        size_t i = 0;
        while (i < np && ETS_TAIL_PERIODS * per[i] > n) i++;
        add_cand(cs, &nc, FC_ETS, fc__ets, per + i, i < np, 1);
        size_t t = i < np ? ETS_TAIL_PERIODS * per[i] : 0;
        cs[nc - 1].tail = t > ETS_TAIL_MIN ? t : ETS_TAIL_MIN;
    }
    if (all || model == FC_SEASONAL_NAIVE)
        for (size_t i = 0; i < np; i++)
            if (per[i] < n) add_cand(cs, &nc, FC_SEASONAL_NAIVE, fc__seasonal_naive, per + i, 1, 0);
    if (all || model == FC_DRIFT) add_cand(cs, &nc, FC_DRIFT, fc__drift, NULL, 0, 0);
    if (all || model == FC_LINEAR) add_cand(cs, &nc, FC_LINEAR, fc__linear, NULL, 0, 0);
    if (all || model == FC_NAIVE) add_cand(cs, &nc, FC_NAIVE, fc__naive, NULL, 0, 0);
    return nc;
}

typedef struct result {
    int model;
    size_t per[FC_MAX_PERIODS], np;
    double smape, mase;
    int combo;          /* the mean of two: model and model2 */
    int model2;
    int ok;
} result;

/* Backtest the candidates, choose, fit the choice on all of z into zh[0..h), band into q.
 * r->ok = 0 when nothing could run (the caller falls back to naive). */
static int choose_and_fit(ctx *x, cand *cs, size_t nc, int allow_combo, double *zh, double *z2,
                          double *q, double *fbuf, result *r) {
    int rc = FC_OK;
    memset(r, 0, sizeof *r);
    r->smape = r->mase = NAN;
    for (size_t i = 0; i < nc; i++) {
        if ((rc = bt_run(x, &cs[i]))) return rc;
        cs[i].score = cs[i].k ? bt_score(x, cs[i].f, cs[i].k, NULL) : NAN;
    }
    /* order by score (NaN last, then the list order: richest model first) */
    size_t ord[MAX_CAND], no = 0;
    for (size_t i = 0; i < nc; i++)
        if (cs[i].k) ord[no++] = i;
    for (size_t i = 1; i < no; i++)
        for (size_t j = i; j > 0; j--) {
            double a = cs[ord[j - 1]].score, b = cs[ord[j]].score;
            if ((isnan(a) && !isnan(b)) || (!isnan(a) && !isnan(b) && b < a)) {
                size_t t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
            } else {
                break;
            }
        }
    if (!no) return FC_OK;
    /* no score at all (the holdout is one gap): prefer naive */
    if (isnan(cs[ord[0]].score))
        for (size_t i = 0; i < no; i++)
            if (cs[ord[i]].model == FC_NAIVE) { size_t t = ord[0]; ord[0] = ord[i]; ord[i] = t; }
    /* the mean of the best two, scored on the common origins */
    int combo = 0;
    if (allow_combo && no >= 2 && isfinite(cs[ord[1]].score) &&
        cs[ord[0]].model != cs[ord[1]].model) {
        cand *a = &cs[ord[0]], *b = &cs[ord[1]];
        size_t kc = a->k < b->k ? a->k : b->k;
        for (size_t i = 0; i < kc * x->H; i++) fbuf[i] = 0.5 * (a->f[i] + b->f[i]);
        double sc = bt_score(x, fbuf, kc, NULL);
        double sa = bt_score(x, a->f, kc, NULL), sb = bt_score(x, b->f, kc, NULL);
        /* A backtest of one or two origins picks a winner noisily; the mean of the best two
         * is more robust, so it is used unless it scores clearly (COMBO_SLACK) worse than
         * the winner on the same origins. Measured on NAB and M4 hourly (bench/README.md):
         * requiring the mean to beat both members gave MASE 0.95 / OWA 0.466, this 0.84 /
         * 0.473, always combining 0.85 / 0.526. */
        (void)sb;
        combo = isfinite(sc) && sc <= sa * (1 + COMBO_SLACK);
        if (combo) {
            /* final fits of both; if either fails, go on with singles */
            if ((rc = cand_fit(x, a, x->n, x->h, zh)) == FC_ENOMEM) return rc;
            int ok = !rc;
            if (ok && (rc = cand_fit(x, b, x->n, x->h, z2)) == FC_ENOMEM) return rc;
            ok = ok && !rc;
            rc = FC_OK;
            if (ok) {
                for (size_t i = 0; i < x->h; i++) zh[i] = 0.5 * (zh[i] + z2[i]);
                for (size_t j = 0; j < kc; j++)
                    for (size_t i = 0; i < x->H; i++) {
                        size_t t = j * x->H + i;
                        fbuf[t] = 0.5 * (a->f[t] + b->f[t]);
                        x->err[t] = x->z[x->orig[j] + i] - fbuf[t];
                    }
                band_from_errors(x, x->err, kc, q);
                r->ok = 1;
                r->combo = 1;
                r->model = a->model;
                r->model2 = b->model;
                r->np = a->np > b->np ? a->np : b->np;
                memcpy(r->per, a->np >= b->np ? a->per : b->per, sizeof r->per);
                r->mase = bt_score(x, fbuf, kc, &r->smape);
                return FC_OK;
            }
        }
    }
    for (size_t oi = 0; oi < no; oi++) {
        cand *c = &cs[ord[oi]];
        rc = cand_fit(x, c, x->n, x->h, zh);
        if (rc == FC_ENOMEM) return rc;
        if (rc) { rc = FC_OK; continue; }
        for (size_t j = 0; j < c->k; j++)
            for (size_t i = 0; i < x->H; i++)
                x->err[j * x->H + i] = x->z[x->orig[j] + i] - c->f[j * x->H + i];
        band_from_errors(x, x->err, c->k, q);
        r->ok = 1;
        r->model = c->model;
        r->np = c->np;
        memcpy(r->per, c->per, sizeof r->per);
        r->mase = bt_score(x, c->f, c->k, &r->smape);
        return FC_OK;
    }
    return FC_OK;
}

static double clampd(double v) {
    if (isfinite(v)) return v;
    return v > 0 ? DBL_MAX : -DBL_MAX; /* callers never pass NaN */
}

int fc_forecast(const double *y, size_t n, size_t h, const fc_opts *o, double *yhat, double *lo,
                double *hi, fc_info *info) {
    static const fc_opts defaults;
    if (!o) o = &defaults;
    double cov = o->coverage == 0 ? 0.8 : o->coverage;
    if (!h || !y || !yhat || !(cov > 0 && cov < 1) || o->model < 0 || o->model >= FC_N_MODELS)
        return FC_EINVAL;
    size_t first = 0;
    while (first < n && !isfinite(y[first])) first++;
    if (first == n) return FC_EINVAL;
    y += first;
    n -= first;

    int rc = FC_OK;
    fc_info inf;
    memset(&inf, 0, sizeof inf);
    inf.smape = inf.mase = NAN;
    cand cs[MAX_CAND];
    size_t nc = 0;
    /* scratch: z n, zh h, q h, tmp (n + 4H), err K H, fbuf K H, candidates MAX_CAND K H */
    size_t H = h < BT_MIN_H ? BT_MIN_H : h;
    if (H > BT_MAX_H) H = BT_MAX_H;
    if (H > n / 4) H = n / 4;
    if (H < 1) H = 1;
    size_t kh = BT_ORIGINS * H;
    size_t total = n + 3 * h + (n + 4 * H + kh) + 2 * kh + MAX_CAND * kh;
    double *mem = malloc(total * sizeof *mem);
    if (!mem) return FC_ENOMEM;
    ctx x = {0};
    double *z = mem, *zh = z + n, *q = zh + h, *z2 = q + h;
    x.tmp = z2 + h;
    x.err = x.tmp + n + 4 * H + kh;
    double *fbuf = x.err + kh, *cbuf = fbuf + kh;
    int constant;
    size_t nfin = normalise(y, n, z, &x.e, &constant);
    x.y = y; x.z = z; x.n = n; x.cov = cov; x.h = h; x.H = H;
    x.Hs = h < BT_SEL_MIN_H ? BT_SEL_MIN_H : h;
    if (x.Hs > H) x.Hs = H;

    if (constant) {
        fc__naive(z, n, NULL, 0, h, zh);
        for (size_t i = 0; i < h; i++) q[i] = 0;
        inf.model = FC_NAIVE;
        snprintf(inf.note, sizeof inf.note, "constant series");
        goto emit;
    }
    if (nfin < MIN_AUTO) {
        fc__naive(z, n, NULL, 0, h, zh);
        band_in_sample(&x, q);
        inf.model = FC_NAIVE;
        snprintf(inf.note, sizeof inf.note, "%zu points: naive", nfin);
        goto emit;
    }

    size_t per[FC_MAX_PERIODS] = {0}, np = 0;
    for (size_t i = 0; i < FC_MAX_PERIODS; i++)
        if (o->periods[i] >= 2) per[np++] = o->periods[i];
    /* a hint is used first; detection still adds the periods the hint left out (a daily
     * hint on data with a weekly rhythm too) */
    {
        size_t det[FC_MAX_PERIODS];
        size_t nd = fc_detect_periods(y, n, o->step_s, det, FC_MAX_PERIODS);
        for (size_t i = 0; i < nd && np < FC_MAX_PERIODS; i++) {
            int dup = 0;
            for (size_t j = 0; j < np; j++) dup |= per[j] == det[i];
            if (!dup) per[np++] = det[i];
        }
    }

    size_t stride = H;
    for (size_t j = 0; j < BT_ORIGINS; j++) {
        if (n < H + j * stride + BT_MIN_TRAIN) break;
        size_t oj = n - H - j * stride;
        double sc = np && per[0] < oj ? mad_lag(z, oj, per[0], x.tmp) : NAN;
        if (!isfinite(sc)) sc = mad_lag(z, oj, 1, x.tmp);
        x.orig[j] = oj;
        x.scale[j] = sc;
        x.K = j + 1;
    }

    result r;
    memset(&r, 0, sizeof r);
    int fell_back = 0;
    nc = make_cands(o->model, per, np, n, 0, cs);
    for (size_t i = 0; i < nc; i++) cs[i].f = cbuf + i * kh;
    if (x.K && (rc = choose_and_fit(&x, cs, nc, o->model == FC_AUTO, zh, z2, q, fbuf, &r))) goto out;
    if (!r.ok && o->model != FC_AUTO && x.K) {
        fell_back = 1;
        nc = make_cands(FC_AUTO, per, np, n, 1, cs);
        for (size_t i = 0; i < nc; i++) cs[i].f = cbuf + i * kh;
        if ((rc = choose_and_fit(&x, cs, nc, 0, zh, z2, q, fbuf, &r))) goto out;
    }
    if (!r.ok) {
        fc__naive(z, n, NULL, 0, h, zh);
        band_in_sample(&x, q);
        inf.model = FC_NAIVE;
        snprintf(inf.note, sizeof inf.note, "no model could be backtested: naive");
        goto emit;
    }
    inf.model = r.model;
    inf.smape = r.smape;
    inf.mase = r.mase;
    if (r.model == FC_SEASONAL || r.model == FC_ETS || r.model == FC_SEASONAL_NAIVE || r.combo)
        memcpy(inf.periods, r.per, sizeof inf.periods);
    if (r.combo)
        snprintf(inf.note, sizeof inf.note, "mean of %s and %s", fc_model_name(r.model),
                 fc_model_name(r.model2));
    else if (fell_back)
        snprintf(inf.note, sizeof inf.note, "%s could not run on %zu points: %s",
                 fc_model_name(o->model), nfin, fc_model_name(r.model));

emit:
    for (size_t i = 0; i < h; i++) {
        double v = clampd(ldexp(zh[i], x.e)), w = ldexp(q[i], x.e); /* zh finite: v not NaN */
        if (!(w >= 0)) w = 0;
        yhat[i] = v;
        if (lo) lo[i] = v - w >= -DBL_MAX ? v - w : -DBL_MAX;
        if (hi) hi[i] = v + w <= DBL_MAX ? v + w : DBL_MAX;
    }
    if (info) *info = inf;
out:
    free(mem);
    return rc;
}
