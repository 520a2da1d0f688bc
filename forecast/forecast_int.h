/* forecast/forecast_int.h: shared by the files of forecast/ only.
 *
 * A model is a point forecaster: fit on y[0..n) (regular grid, NaN = missing, at least one
 * finite value, n >= 1), with the seasonal periods in steps periods[0..n_periods) (strongest
 * first; the model may use fewer), write h point forecasts into out[0..h). Intervals,
 * model choice and fallbacks live in forecast/auto.c, which calls models through this
 * signature on the full series and on rolling-origin training prefixes.
 * Returns 0, FC_EINVAL (the model cannot run on this input, e.g. too short: auto falls
 * back), FC_ENOMEM. Models must never write NaN into out when they return 0.
 */
#ifndef AX_FORECAST_INT_H
#define AX_FORECAST_INT_H

#include "forecast/forecast.h"

#include <stdbool.h>

typedef int (*fc__model_fn)(const double *y, size_t n, const size_t *periods, size_t n_periods,
                            size_t h, double *out);

int fc__seasonal(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
                 double *out); /* forecast/seasonal.c: trend + Fourier regression */
int fc__ets(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
            double *out);      /* forecast/ets.c */
int fc__seasonal_naive(const double *y, size_t n, const size_t *periods, size_t n_periods,
                       size_t h, double *out); /* forecast/baseline.c */
int fc__drift(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
              double *out);
int fc__linear(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
               double *out);
int fc__naive(const double *y, size_t n, const size_t *periods, size_t n_periods, size_t h,
              double *out);

/* Small dense linear algebra (forecast/linalg.c): solve the symmetric positive definite
 * system A x = b (A: k x k row-major, overwritten by its Cholesky factor), adding `ridge`
 * to the diagonal first. Returns 0 or FC_EINVAL (not positive definite). */
int fc__solve_spd(double *A, double *b, size_t k, double ridge);

#endif
