/* forecast/forecast.h: time-series forecasting on plain arrays (libm only).
 *
 * Owns: the models (Prophet-style trend + Fourier seasonality regression, exponential
 *   smoothing (ETS), baselines), period detection, automatic model choice by rolling-origin
 *   backtest, prediction intervals, accuracy metrics. Algorithms: docs/forecast.md.
 * Input: y[0..n) on a regular grid (one value per `step` seconds; NaN = missing), oldest
 *   first. Callers with irregular samples resample first (fc_resample). Counters should be
 *   turned into rates before (the query layer does).
 * Output: point forecasts for the next h grid steps and a band at the requested coverage.
 *   Never NaN for n >= 1 finite values: short or degenerate input falls back to simpler
 *   models, and fc_info says which model ran and why.
 * Threads: no global state; every call may run concurrently with others.
 * Memory: each call allocates its scratch with malloc and frees it before returning.
 * Errors: 0 or a negative FC_E* code.
 */
#ifndef AX_FORECAST_H
#define AX_FORECAST_H

#include <stddef.h>
#include <stdint.h>

enum { FC_OK = 0, FC_EINVAL = -1, FC_ENOMEM = -2 };

/* Models. FC_AUTO picks one of the others per series. */
enum {
    FC_AUTO,
    FC_SEASONAL,       /* "seasonal": piecewise-linear trend + Fourier day/week, robust */
    FC_ETS,            /* "holt_winters": exponential smoothing, damped trend, seasonal */
    FC_SEASONAL_NAIVE, /* "seasonal_naive": the value one period earlier */
    FC_DRIFT,          /* "drift": naive with drift (the line through first and last) */
    FC_LINEAR,         /* "linear": least-squares line */
    FC_NAIVE,          /* "naive": the last value */
    FC_N_MODELS
};

/* "auto", "seasonal", "holt_winters", "seasonal_naive", "drift", "linear", "naive". */
const char *fc_model_name(int model);
/* The model called s[0..len), or -1. Also accepts "prophet" and "ets" as aliases. */
int fc_model_parse(const char *s, size_t len);

#define FC_MAX_PERIODS 3

typedef struct fc_opts {
    int model;            /* FC_*; 0 = FC_AUTO */
    double coverage;      /* central band coverage in (0, 1); 0 = 0.8 */
    double step_s;        /* seconds per grid step (used to find daily/weekly periods); 0 = unknown */
    size_t periods[FC_MAX_PERIODS]; /* season lengths in steps as a hint; all 0 = detect */
} fc_opts;

typedef struct fc_info {
    int model;            /* the model that produced the forecast (never FC_AUTO) */
    size_t periods[FC_MAX_PERIODS]; /* seasonal periods used, in steps (0-terminated) */
    double smape, mase;   /* rolling-origin backtest score of that model (NaN when too short) */
    char note[160];       /* why a fallback happened, e.g. "3 points: naive"; "" otherwise */
} fc_info;

/* Forecast h steps after y[n-1]. OUT: yhat[0..h), lo[0..h), hi[0..h) (caller's arrays; lo
 * and hi may be NULL), *info (may be NULL). Returns 0, FC_EINVAL (h == 0, no finite value
 * in y, bad coverage or model), FC_ENOMEM. */
int fc_forecast(const double *y, size_t n, size_t h, const fc_opts *o, double *yhat, double *lo,
                double *hi, fc_info *info);

/* Seasonal periods present in y (autocorrelation/periodogram at the grid's resolution,
 * preferring a day and a week when step_s is known), strongest first. OUT: periods[0..max),
 * returns how many (0 = not seasonal). */
size_t fc_detect_periods(const double *y, size_t n, double step_s, size_t *periods, size_t max);

/* Resample irregular samples (t ascending, seconds) onto the grid t0, t0+step, ... (n_out
 * points): each grid point takes the last sample at or before it within `max_gap` seconds,
 * else NaN. */
void fc_resample(const double *t, const double *y, size_t n, double t0, double step, size_t n_out,
                 double max_gap, double *out);

/* Accuracy: sMAPE in percent (200/h * sum |y - f| / (|y| + |f|), 0/0 terms count 0) and MASE
 * (mean absolute error scaled by the in-sample mean absolute difference at lag m of
 * train[0..n_train); m = 1 when no season). NaN when undefined. */
double fc_smape(const double *y, const double *f, size_t h);
double fc_mase(const double *train, size_t n_train, size_t m, const double *y, const double *f,
               size_t h);

#endif
