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

/* ---- scaling decisions (forecast/decide.c) and their backtest (forecast/backtest.c) ----
 * A rule watches signals: utilisation-like series (CPU %, connections per instance...) that
 * are measured per unit of capacity, so with capacity c and load L a signal reads L / c.
 * The decision forecasts each signal (fc_forecast, with band), smooths the upper band with a
 * trailing moving average, finds when it first crosses up_at * (1 - margin), and sizes the
 * capacity that keeps every signal's upper band at or under `target` through the horizon:
 * desired = ceil(c * max(upper) / target), clamped to [cap_min, cap_max].
 * Decision kinds (and when):
 *   FC_DEC_SCALE_UP_NOW       the crossing is within the lead time (or already happening);
 *   FC_DEC_SCALE_UP_PREPARED  the crossing is later in the horizon: act at crossing - lead;
 *   FC_DEC_SCALE_DOWN         every signal with a down_at has its (smoothed) point forecast
 *                             under it for the whole horizon, `now` is inside the scale-down
 *                             window, and the size the upper band needs is a unit or more
 *                             below the capacity (so the band stays covered);
 *   FC_DEC_NO_ACTION          otherwise, or inside the cooldown after the last action, or when
 *                             the change would be smaller than one unit (hysteresis).
 * Cold start: with fewer than min_history finite points in a signal, that signal is judged on
 * its current value alone (reactive: up when it is over up_at), and the decision says so.
 * Times are Unix seconds; the grid's last point is `now`. Pure functions: no I/O, no clock. */
enum { FC_DEC_NO_ACTION, FC_DEC_SCALE_UP_NOW, FC_DEC_SCALE_UP_PREPARED, FC_DEC_SCALE_DOWN };

typedef struct fc_rule_cfg {
    double step_s;        /* grid step of the signals (seconds) */
    size_t horizon;       /* steps forecast ahead */
    double lead_s;        /* provisioning time: act this long before the crossing */
    double cooldown_s;    /* no new action this long after the last one */
    double margin;        /* safety margin: cross at up_at * (1 - margin) */
    size_t smooth;        /* moving average of the upper band over this many steps (0, 1: none) */
    double cap_min, cap_max;
    double target;        /* utilisation per unit the desired capacity aims at (signal units) */
    int down_from_min, down_to_min; /* scale-down window, minutes of the day (local time); -1: always */
    int tz_offset_min;    /* local time = UTC + this */
    size_t min_history;   /* fewer finite points: cold start (0: 2 * horizon) */
    fc_opts fopts;        /* model, coverage, periods for fc_forecast */
} fc_rule_cfg;

typedef struct fc_signal {
    const double *y;      /* history on the grid, oldest first, y[n-1] at `now` (NaN = gap) */
    size_t n;
    double up_at, down_at;/* thresholds in the signal's units; down_at NaN: never scale down on it */
    const double *cap;    /* capacity in effect at each point (NULL: `capacity` throughout). A
                           * signal measured under another capacity is rescaled to the current
                           * one (y * cap / capacity) before it is forecast, so past scaling
                           * does not look like load changes. */
} fc_signal;

typedef struct fc_decision {
    int kind;             /* FC_DEC_* */
    double urgency;       /* 1 = act now ... 0 = nothing to do; prepared: 1 - (act_at-now)/horizon */
    double now;           /* the evaluation time */
    double act_at;        /* when to act (now for immediate decisions; NaN for none) */
    double cross_at;      /* first crossing of the smoothed upper band (NaN: none) */
    double peak_at, peak; /* highest smoothed upper band value over the horizon, and when */
    double capacity, desired;
    int signal;           /* index of the signal that drove the decision (-1: none) */
    int cold_start;       /* some signal was judged on its current value only */
    int model;            /* the model of the driving signal's forecast */
    char reason[256];     /* one sentence: what was seen and why this decision */
} fc_decision;

/* Decide for n_sig signals at time `now` with current capacity `capacity`; last_action_at:
 * the time of the previous action (NaN: none) for the cooldown. OUT: *out; fc[i] (optional,
 * NULL or arrays of 3 * horizon doubles per signal: yhat, lower, upper) receive the forecasts
 * for the record. Returns 0, FC_EINVAL (bad config: message in out->reason), FC_ENOMEM. */
int fc_decide(const fc_rule_cfg *r, const fc_signal *sig, size_t n_sig, double capacity,
              double now, double last_action_at, fc_decision *out, double **fc);

/* Backtest a rule on one demand series: load[0..n) on the grid (absolute units, e.g. cores
 * used), starting at t0. From index `from` on, every `every` steps the policy sees the
 * signal load / capacity (as it would have been measured under its own capacity) up to that
 * point only, decides, and a scale-up takes effect lead_s later (a scale-down at once).
 * Policy FC_BT_PREDICTIVE uses fc_decide; FC_BT_REACTIVE scales to ceil(load/target) when
 * the current signal is over up_at (and down under down_at), same lead, cooldown, clamps.
 * Result: actions taken, minutes under-provisioned (steps where load > capacity * target,
 * in minutes), mean capacity over the replayed span. fc_backtest is fc_backtest_n with one
 * signal and no action log. */
enum { FC_BT_PREDICTIVE, FC_BT_REACTIVE };
typedef struct fc_bt_result {
    size_t actions;
    double minutes_under;
    double mean_capacity;
    size_t steps;         /* steps replayed */
} fc_bt_result;
int fc_backtest(const fc_rule_cfg *r, const double *load, size_t n, double t0, size_t from,
                size_t every, double up_at, double down_at, double start_capacity, int policy,
                fc_bt_result *out);

/* One signal of a multi-signal backtest: its load in absolute units (load[0..n), NaN = gap;
 * the policy sees load / capacity) and its thresholds in signal units. down_at NaN: this
 * signal never blocks a scale-down; when no signal has a down_at, no scale-down at all. */
typedef struct fc_bt_signal {
    const double *load;
    double up_at, down_at;
} fc_bt_signal;

/* One action of the replay, in decision order. A later decision may cancel a scale-up
 * before effective_at (see forecast/backtest.c); the log keeps it as decided. */
typedef struct fc_bt_action {
    double at;            /* decision time (Unix seconds) */
    double from_cap;      /* capacity in effect at the decision */
    double to_cap;        /* capacity decided */
    double effective_at;  /* when it is (would be) in place: at + lead for a scale-up now,
                             act_at + lead for a prepared one, `at` for a scale-down */
    int kind;             /* FC_DEC_SCALE_UP_NOW, _PREPARED or _DOWN (reactive: UP_NOW or
                             DOWN) */
} fc_bt_action;

/* fc_backtest on n_sig signals sharing one capacity: a step is under-provisioned when any
 * signal's load > capacity * target. Predictive: fc_decide on all signals; reactive: up
 * to the largest ceil(load / target) over the signals when any signal is over its up_at,
 * down to that when every signal with a down_at is under it (and one has one). OUT: *out;
 * acts[0..min(actions, max_acts)) when acts is not NULL (out->actions counts them all).
 * Returns as fc_backtest, also FC_EINVAL for sig NULL, n_sig 0 or a NULL load. */
int fc_backtest_n(const fc_rule_cfg *r, const fc_bt_signal *sig, size_t n_sig, size_t n,
                  double t0, size_t from, size_t every, double start_capacity, int policy,
                  fc_bt_result *out, fc_bt_action *acts, size_t max_acts);

#endif
