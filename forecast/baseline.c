/* forecast/baseline.c: the four baseline forecasters (naive, drift, least-squares line,
 * seasonal naive). They are the fallbacks when history is short or the fitted models fail,
 * and the yardsticks every fitted model must beat in auto's backtest, so they are exact and
 * cheap: O(n) to fit, O(h) to forecast. NaN and +-Inf in y count as missing. Signatures and
 * contract: forecast/forecast_int.h. */
#include "forecast/forecast_int.h"

#include <math.h>

/* Index of the last finite value of y[0..n), or n if there is none. */
static size_t last_finite(const double *y, size_t n) {
    for (size_t i = n; i-- > 0;)
        if (isfinite(y[i])) return i;
    return n;
}

int fc__naive(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
              double *out) {
    size_t j = last_finite(y, n);
    if (j == n) return FC_EINVAL;
    for (size_t k = 0; k < h; k++) out[k] = y[j];
    return FC_OK;
}

/* The line through the first and the last finite value, continued from the last one. */
int fc__drift(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
              double *out) {
    size_t j = last_finite(y, n), i = 0;
    if (j == n) return FC_EINVAL;
    while (!isfinite(y[i])) i++;
    double slope = j > i ? (y[j] - y[i]) / (double)(j - i) : 0.0;
    if (!isfinite(slope)) slope = y[j] / (double)(j - i) - y[i] / (double)(j - i);
    for (size_t k = 0; k < h; k++) {
        double v = y[j] + slope * (double)(n - 1 - j + k + 1);
        out[k] = isfinite(v) ? v : y[j];
    }
    return FC_OK;
}

/* Ordinary least squares of y on the index, over the finite values. The sums are taken
 * around the means (two passes), which keeps them exact enough for n in the millions. */
int fc__linear(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
               double *out) {
    double sx = 0, sy = 0;
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i])) { sx += (double)i; sy += y[i]; c++; }
    if (!c) return FC_EINVAL;
    double mx = sx / (double)c, my = sy / (double)c, sxx = 0, sxy = 0;
    if (!isfinite(my)) { /* sums of huge values overflow: average in steps instead */
        my = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(y[i])) { k++; my += (y[i] - my) / (double)k; }
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        double dx = (double)i - mx;
        sxx += dx * dx;
        sxy += dx * (y[i] - my);
    }
    double slope = sxx > 0 ? sxy / sxx : 0.0;
    if (!isfinite(slope)) slope = 0.0;
    for (size_t k = 0; k < h; k++) {
        double v = my + slope * ((double)(n + k) - mx);
        out[k] = isfinite(v) ? v : my;
    }
    return FC_OK;
}

/* Step k (0-based) ahead repeats y[n - m + k % m]; a missing value there is replaced by the
 * latest finite value at the same phase (m, 2m, ... earlier), and a phase with none at all
 * by the last finite value of the series. */
int fc__seasonal_naive(const double *y, size_t n, const size_t *periods, size_t n_periods,
                       size_t h, double *out) {
    if (!n_periods || !periods || periods[0] < 1 || periods[0] > n) return FC_EINVAL;
    size_t m = periods[0], last = last_finite(y, n);
    if (last == n) return FC_EINVAL;
    for (size_t k = 0; k < h && k < m; k++) {
        size_t j = n - m + k;
        double v = y[last];
        for (;;) {
            if (isfinite(y[j])) { v = y[j]; break; }
            if (j < m) break;
            j -= m;
        }
        out[k] = v;
    }
    for (size_t k = m; k < h; k++) out[k] = out[k - m];
    return FC_OK;
}
