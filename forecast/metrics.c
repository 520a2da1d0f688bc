/* forecast/metrics.c: accuracy measures as the M4 competition defines them (sMAPE in percent,
 * MASE scaled by the in-sample seasonal-naive error), and resampling of irregular samples
 * onto the regular grid the models expect. Pairs with a non-finite actual or forecast are
 * skipped, so a gap in the holdout does not turn the score into NaN. */
#include "forecast/forecast.h"

#include <math.h>

double fc_smape(const double *y, const double *f, size_t h) {
    double s = 0;
    size_t c = 0;
    for (size_t i = 0; i < h; i++) {
        if (!isfinite(y[i]) || !isfinite(f[i])) continue;
        double d = fabs(y[i]) + fabs(f[i]);
        if (d > 0) s += fabs(y[i] - f[i]) / d;
        if (!isfinite(s)) return NAN;
        c++;
    }
    return c ? 200.0 * s / (double)c : NAN;
}

double fc_mase(const double *train, size_t n_train, size_t m, const double *y, const double *f,
               size_t h) {
    if (m < 1) m = 1;
    double scale = 0, err = 0;
    size_t cs = 0, ce = 0;
    for (size_t i = m; i < n_train; i++) {
        if (!isfinite(train[i]) || !isfinite(train[i - m])) continue;
        scale += fabs(train[i] - train[i - m]);
        cs++;
    }
    for (size_t i = 0; i < h; i++) {
        if (!isfinite(y[i]) || !isfinite(f[i])) continue;
        err += fabs(y[i] - f[i]);
        ce++;
    }
    if (!cs || !ce || !(scale > 0)) return NAN;
    double r = (err / (double)ce) / (scale / (double)cs);
    return isfinite(r) ? r : NAN;
}

/* One pass with two cursors: j is the last sample at or before grid point i. */
void fc_resample(const double *t, const double *y, size_t n, double t0, double step, size_t n_out,
                 double max_gap, double *out) {
    size_t j = 0; /* samples t[0..j) are <= the current grid time */
    for (size_t i = 0; i < n_out; i++) {
        double g = t0 + step * (double)i;
        while (j < n && t[j] <= g) j++;
        out[i] = (j > 0 && g - t[j - 1] <= max_gap) ? y[j - 1] : NAN;
    }
}
