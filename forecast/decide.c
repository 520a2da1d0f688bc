/* forecast/decide.c: fc_decide, the scaling decision of a rule (semantics: forecast.h,
 * "scaling decisions"). Pure: no I/O, no clock, no global state.
 *
 * Per signal i:
 *  0. With a capacity history (fc_signal.cap), y[j] becomes y[j] * cap[j] / capacity: what
 *     the current capacity would have measured, so earlier scaling is not read as load.
 *  1. Count finite points. Fewer than min_history (0: 2 * horizon): cold start. The signal is
 *     judged on its last finite value v alone, held flat over the horizon: it "crosses" at
 *     `now` when v >= up_at (no margin: reactive), its peak is v at `now`, and it counts as
 *     low when v < down_at. fc[i] (if asked) receives v as yhat, lower and upper.
 *  2. Otherwise fc_forecast(y, n, horizon) with the band; the upper band hi[0..h) is smoothed
 *     by a trailing moving average of w = max(smooth, 1) steps, s[k] = mean(hi[k-w+1..k]);
 *     the first w-1 points average over the forecast points available so far (hi[0..k]),
 *     never over observed history, so the band is not pulled down by the past.
 *     fc[i] (if asked) receives yhat, lower, upper as fc_forecast returned them (unsmoothed).
 *     The crossing is the first k with s[k] >= up_at * (1 - margin): cross_at =
 *     now + (k + 1) * step_s (forecast step k lies k + 1 steps after now). The peak is
 *     max s[k] and its time. The signal is low when the point forecast, smoothed the same
 *     way, stays under down_at (max over k < down_at): lowness is a judgement on the
 *     expected load; the band still sets the size, so a scale-down keeps the band covered.
 * Then over all signals:
 *  desired = ceil(capacity * max_i peak_i / target), clamped to [cap_min, cap_max] (a
 *    1e-9 slack under the ceiling keeps 4 * 70 / 70 at 4).
 *  driving signal: the earliest crossing (ties: the higher peak); with no crossing, the
 *    highest peak (the one that sets desired).
 *  kind: earliest crossing - now <= lead_s -> SCALE_UP_NOW (act_at = now, urgency 1);
 *    a later crossing -> SCALE_UP_PREPARED (act_at = cross_at - lead_s, urgency
 *    1 - (act_at - now) / (horizon * step_s), in [0, 1]); either with desired <= capacity
 *    -> NO_ACTION ("already enough capacity": hysteresis).
 *    No crossing, every signal low, `now` inside the scale-down window and desired <=
 *    capacity - 1 -> SCALE_DOWN (act_at = now, urgency 1: an immediate decision); desired
 *    already is the floor the upper band allows, so a scale-down never goes below it.
 *    Else NO_ACTION (urgency 0, act_at NaN).
 *  cooldown: last_action_at finite and now - last_action_at < cooldown_s turns any action
 *    into NO_ACTION; every forecast field (cross_at, peak, desired, signal, model) stays
 *    filled and the reason says what would have been done.
 * Window: minutes of the day in local time (UTC + tz_offset_min), [from, to); from > to
 *   wraps midnight (22:00-02:00); from == to is the whole day; -1 (both) is always.
 * Only act_at and cross_at may be NaN (none); every other number in the decision is finite.
 */
#include "forecast/forecast.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CEIL_SLACK 1e-9

typedef struct sig_eval {
    size_t finite;     /* finite points in the history */
    double last;       /* last finite value */
    int cold;
    int model;
    int crosses;       /* the smoothed upper band reaches the threshold in the horizon */
    double cross_at, cross_val;
    double peak, peak_at;
    double mid_peak;   /* highest smoothed point forecast: the signal is low when it is under down_at */
} sig_eval;

/* Minutes of the day of Unix time t shifted by off_min minutes, in [0, 1440). */
static int minute_of_day(double t, int off_min) {
    double s = fmod(floor(t) + 60.0 * off_min, 86400.0);
    if (s < 0) s += 86400.0;
    return (int)(s / 60.0);
}

static int in_window(const fc_rule_cfg *r, double now) {
    if (r->down_from_min < 0 || r->down_to_min < 0) return 1;
    int m = minute_of_day(now, r->tz_offset_min), a = r->down_from_min, b = r->down_to_min;
    if (a == b) return 1;
    return a < b ? (m >= a && m < b) : (m >= a || m < b);
}

/* "14:35" (UTC) */
static void fmt_clock(char *buf, size_t cap, double t) {
    int m = minute_of_day(t, 0);
    snprintf(buf, cap, "%02d:%02d", m / 60, m % 60);
}

/* "2h10m", "45m", "1d2h", "30s" */
static void fmt_dur(char *buf, size_t cap, double s) {
    if (!(s > 0)) { snprintf(buf, cap, "0m"); return; }
    if (s < 60) { snprintf(buf, cap, "%.0fs", s); return; }
    long long m = (long long)floor(s / 60.0 + 0.5);
    long long d = m / 1440, h = m % 1440 / 60, mm = m % 60;
    if (d) snprintf(buf, cap, h ? "%lldd%lldh" : "%lldd", d, h);
    else if (h) snprintf(buf, cap, mm ? "%lldh%lldm" : "%lldh", h, mm);
    else snprintf(buf, cap, "%lldm", mm);
}

static void fmt_window(char *buf, size_t cap, const fc_rule_cfg *r) {
    if (r->down_from_min < 0 || r->down_to_min < 0) { snprintf(buf, cap, "always"); return; }
    snprintf(buf, cap, "%02d:%02d-%02d:%02d local", r->down_from_min / 60, r->down_from_min % 60,
             r->down_to_min / 60, r->down_to_min % 60);
}

/* The threshold as "76 (80 - 5%)", or "80" without a margin. */
static void fmt_thr(char *buf, size_t cap, double up_at, double margin) {
    if (margin == 0) snprintf(buf, cap, "%.4g", up_at);
    else snprintf(buf, cap, "%.4g (%.4g - %.4g%%)", up_at * (1 - margin), up_at, 100 * margin);
}

static int fail(fc_decision *out, double now, double capacity, const char *fmt, ...) {
    memset(out, 0, sizeof *out);
    out->kind = FC_DEC_NO_ACTION;
    out->now = isfinite(now) ? now : 0;
    out->act_at = out->cross_at = NAN;
    out->peak_at = out->now;
    out->capacity = out->desired = isfinite(capacity) ? capacity : 0;
    out->signal = -1;
    out->model = FC_NAIVE;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return FC_EINVAL;
}

static int check_cfg(const fc_rule_cfg *r, const fc_signal *sig, size_t n_sig, double capacity,
                     double now, fc_decision *out) {
    if (!r) return fail(out, now, capacity, "bad rule: no config");
    if (!sig || n_sig == 0) return fail(out, now, capacity, "bad rule: no signals");
    if (n_sig > 1000000) return fail(out, now, capacity, "bad rule: %zu signals", n_sig);
    if (!(r->step_s > 0) || !isfinite(r->step_s))
        return fail(out, now, capacity, "bad rule: step %g s must be > 0", r->step_s);
    if (r->horizon == 0 || r->horizon > (size_t)1 << 24)
        return fail(out, now, capacity, "bad rule: horizon %zu steps out of [1, 16777216]",
                    r->horizon);
    if (!(r->lead_s >= 0) || !isfinite(r->lead_s))
        return fail(out, now, capacity, "bad rule: lead time %g s must be >= 0", r->lead_s);
    if (!(r->cooldown_s >= 0) || !isfinite(r->cooldown_s))
        return fail(out, now, capacity, "bad rule: cooldown %g s must be >= 0", r->cooldown_s);
    if (!(r->margin >= 0 && r->margin < 1))
        return fail(out, now, capacity, "bad rule: safety margin %g out of [0, 1)", r->margin);
    if (!(r->target > 0) || !isfinite(r->target))
        return fail(out, now, capacity, "bad rule: target per unit %g must be > 0", r->target);
    if (!(r->cap_min >= 0) || !isfinite(r->cap_max) || !(r->cap_min <= r->cap_max))
        return fail(out, now, capacity, "bad rule: capacity bounds [%g, %g]", r->cap_min,
                    r->cap_max);
    int a = r->down_from_min, b = r->down_to_min;
    if ((a < 0) != (b < 0) || (a >= 0 && (a >= 1440 || b >= 1440)) || (a < 0 && (a != -1 || b != -1)))
        return fail(out, now, capacity, "bad rule: scale-down window %d-%d (minutes of day or -1)",
                    a, b);
    if (r->tz_offset_min < -1440 || r->tz_offset_min > 1440)
        return fail(out, now, capacity, "bad rule: tz offset %d min", r->tz_offset_min);
    if (!isfinite(now)) return fail(out, now, capacity, "bad call: now is not finite");
    if (!(capacity > 0) || !isfinite(capacity))
        return fail(out, now, capacity, "bad call: capacity %g must be > 0", capacity);
    for (size_t i = 0; i < n_sig; i++) {
        const fc_signal *s = &sig[i];
        if (!isfinite(s->up_at) || isinf(s->down_at) || !(isnan(s->down_at) || s->down_at <= s->up_at))
            return fail(out, now, capacity,
                        "bad rule: signal %zu thresholds up %g, down %g (need down <= up, or NaN: never)", i,
                        s->up_at, s->down_at);
        size_t k = 0;
        if (s->y)
            for (size_t j = 0; j < s->n; j++) k += isfinite(s->y[j]) != 0;
        if (!k) return fail(out, now, capacity, "signal %zu: no finite value in its history", i);
    }
    return 0;
}

static int eval_series(const fc_rule_cfg *r, const fc_signal *s, const double *y, double now,
                       double *buf, double *rec, sig_eval *e, size_t minh, size_t h);

/* Evaluate signal i (see the file comment, steps 1-2). buf: 4 * h doubles of scratch. */
static int eval_signal(const fc_rule_cfg *r, const fc_signal *s, double capacity, double now,
                       double *buf, double *rec, sig_eval *e) {
    size_t h = r->horizon, minh = r->min_history ? r->min_history : 2 * h;
    memset(e, 0, sizeof *e);
    e->cross_at = NAN;
    /* measured under other capacities: as the current capacity would have seen it */
    double *adj = NULL;
    const double *y = s->y;
    if (s->cap) {
        if (!(adj = malloc((s->n ? s->n : 1) * sizeof *adj))) return FC_ENOMEM;
        for (size_t j = 0; j < s->n; j++)
            adj[j] = isfinite(s->cap[j]) && s->cap[j] > 0 ? s->y[j] * s->cap[j] / capacity : NAN;
        y = adj;
    }
    int rc = eval_series(r, s, y, now, buf, rec, e, minh, h);
    free(adj);
    return rc;
}

/* eval_signal on the (rescaled) history y[0..s->n). */
static int eval_series(const fc_rule_cfg *r, const fc_signal *s, const double *y, double now,
                       double *buf, double *rec, sig_eval *e, size_t minh, size_t h) {
    for (size_t j = 0; j < s->n; j++)
        if (isfinite(y[j])) { e->finite++; e->last = y[j]; }
    double thr = s->up_at * (1 - r->margin);
    if (e->finite < minh) {
        e->cold = 1;
        e->model = FC_NAIVE;
        e->peak = e->mid_peak = e->last;
        e->peak_at = now;
        if (e->last >= s->up_at) { e->crosses = 1; e->cross_at = now; e->cross_val = e->last; }
        if (rec)
            for (size_t k = 0; k < 3 * h; k++) rec[k] = e->last;
        return 0;
    }
    double *yhat = buf, *lo = buf + h, *hi = buf + 2 * h, *sm = buf + 3 * h;
    fc_opts fo = r->fopts;
    if (fo.step_s == 0) fo.step_s = r->step_s;
    fc_info info;
    int rc = fc_forecast(y, s->n, h, &fo, yhat, lo, hi, &info);
    if (rc) return rc;
    e->model = info.model;
    size_t w = r->smooth > 1 ? r->smooth : 1;
    double sum = 0, msum = 0;
    e->mid_peak = -INFINITY;
    for (size_t k = 0; k < h; k++) {
        sum += hi[k];
        msum += yhat[k];
        if (k >= w) sum -= hi[k - w], msum -= yhat[k - w];
        double div = (double)(k + 1 < w ? k + 1 : w), mid = msum / div;
        sm[k] = sum / div;
        if (!isfinite(sm[k])) sm[k] = hi[k]; /* overflow in the sum: keep the raw band */
        if (!isfinite(mid)) mid = yhat[k];
        if (mid > e->mid_peak) e->mid_peak = mid;
    }
    e->peak = sm[0];
    e->peak_at = now + r->step_s;
    for (size_t k = 0; k < h; k++) {
        double t = now + (double)(k + 1) * r->step_s;
        if (sm[k] > e->peak) { e->peak = sm[k]; e->peak_at = t; }
        if (!e->crosses && sm[k] >= thr) { e->crosses = 1; e->cross_at = t; e->cross_val = sm[k]; }
    }
    if (rec) memcpy(rec, buf, 3 * h * sizeof *rec);
    return 0;
}

/* Append to out->reason. */
static void say(fc_decision *out, const char *fmt, ...) {
    size_t len = strlen(out->reason);
    if (len + 1 >= sizeof out->reason) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason + len, sizeof out->reason - len, fmt, ap);
    va_end(ap);
}

int fc_decide(const fc_rule_cfg *r, const fc_signal *sig, size_t n_sig, double capacity,
              double now, double last_action_at, fc_decision *out, double **fc) {
    if (!out) return FC_EINVAL;
    int rc = check_cfg(r, sig, n_sig, capacity, now, out);
    if (rc) return rc;
    size_t h = r->horizon;
    double *buf = malloc(4 * h * sizeof *buf);
    sig_eval *ev = calloc(n_sig, sizeof *ev);
    if (!buf || !ev) { free(buf); free(ev); return FC_ENOMEM; }
    for (size_t i = 0; i < n_sig; i++) {
        rc = eval_signal(r, &sig[i], capacity, now, buf, fc ? fc[i] : NULL, &ev[i]);
        if (rc) {
            free(buf);
            free(ev);
            if (rc == FC_EINVAL)
                return fail(out, now, capacity, "signal %zu: forecast rejected the options "
                            "(model %d, coverage %g)", i, r->fopts.model, r->fopts.coverage);
            return rc;
        }
    }
    free(buf);

    /* driving signal, overall peak, crossings, lowness */
    size_t drv = 0, top = 0;
    int any_cross = 0, all_low = 1, any_cold = 0, any_down = 0;
    for (size_t i = 0; i < n_sig; i++) {
        const sig_eval *e = &ev[i];
        any_cold |= e->cold;
        /* a signal without down_at (NaN) neither allows nor blocks a scale-down */
        if (!isnan(sig[i].down_at)) {
            any_down = 1;
            if (!(e->mid_peak < sig[i].down_at)) all_low = 0;
        }
        if (e->peak > ev[top].peak) top = i;
        if (e->crosses) {
            if (!any_cross || e->cross_at < ev[drv].cross_at ||
                (e->cross_at == ev[drv].cross_at && e->peak > ev[drv].peak))
                drv = i;
            any_cross = 1;
        }
    }
    if (!any_down) all_low = 0;
    if (!any_cross) drv = top;
    const sig_eval *d = &ev[drv];
    const fc_signal *ds = &sig[drv];

    double desired = ceil(capacity * ev[top].peak / r->target - CEIL_SLACK);
    if (!(desired >= r->cap_min)) desired = r->cap_min; /* also catches NaN */
    if (desired > r->cap_max) desired = r->cap_max;

    memset(out, 0, sizeof *out);
    out->kind = FC_DEC_NO_ACTION;
    out->now = now;
    out->act_at = NAN;
    out->cross_at = any_cross ? d->cross_at : NAN;
    out->peak = d->peak;
    out->peak_at = d->peak_at;
    out->capacity = capacity;
    out->desired = desired;
    out->signal = (int)drv;
    out->cold_start = any_cold;
    out->model = d->model;

    int in_cd = isfinite(last_action_at) && now - last_action_at < r->cooldown_s;
    if (in_cd) {
        char ago[32], cd[32];
        fmt_dur(ago, sizeof ago, now - last_action_at);
        fmt_dur(cd, sizeof cd, r->cooldown_s);
        say(out, "cooldown: last action %s ago (< %s), no action; otherwise: ", ago, cd);
    }

    char thr[64], clk[16], dur[32], win[32];
    int kind = FC_DEC_NO_ACTION;
    double act_at = NAN, urgency = 0;
    if (d->cold) say(out, "signal %zu: cold start: %zu points of history, reactive on the "
                     "current value %.4g", drv, d->finite, d->last);

    if (any_cross) {
        double lead_to = d->cross_at - now;
        if (lead_to <= r->lead_s) {
            kind = FC_DEC_SCALE_UP_NOW;
            act_at = now;
            urgency = 1;
        } else {
            kind = FC_DEC_SCALE_UP_PREPARED;
            act_at = d->cross_at - r->lead_s;
            urgency = 1 - (act_at - now) / ((double)h * r->step_s);
            if (urgency < 0) urgency = 0;
            if (urgency > 1) urgency = 1;
        }
        if (d->cold) {
            say(out, " >= %.4g: act now", ds->up_at);
        } else {
            fmt_thr(thr, sizeof thr, ds->up_at, r->margin);
            fmt_clock(clk, sizeof clk, d->cross_at);
            fmt_dur(dur, sizeof dur, lead_to);
            say(out, "signal %zu: upper band %.4g crosses %s at %s UTC, in %s", drv,
                d->cross_val, thr, clk, dur);
            fmt_dur(dur, sizeof dur, r->lead_s);
            if (kind == FC_DEC_SCALE_UP_NOW) {
                say(out, ", within lead %s: act now", dur);
            } else {
                fmt_clock(clk, sizeof clk, act_at);
                say(out, "; lead %s: act at %s", dur, clk);
            }
        }
        if (desired <= capacity) {
            say(out, "; already enough capacity: desired %.0f (have %.0f%s)", desired, capacity,
                desired >= r->cap_max ? ", at max" : "");
            kind = FC_DEC_NO_ACTION;
            act_at = NAN;
            urgency = 0;
        } else {
            say(out, "; desired %.0f (from %.0f)", desired, capacity);
        }
    } else {
        if (d->cold) {
            say(out, " (up at %.4g, down at %.4g)", ds->up_at, ds->down_at);
        } else {
            fmt_thr(thr, sizeof thr, ds->up_at, r->margin);
            fmt_clock(clk, sizeof clk, d->peak_at);
            fmt_dur(dur, sizeof dur, (double)h * r->step_s);
            say(out, "signal %zu: upper band peaks at %.4g at %s UTC, under %s over %s", drv,
                d->peak, clk, thr, dur);
        }
        fmt_window(win, sizeof win, r);
        if (!all_low) {
            say(out, "; no action");
        } else if (!in_window(r, now)) {
            say(out, "; every point forecast under its down threshold (%.4g) but outside the scale-down "
                "window %s: no action", ds->down_at, win);
        } else if (!(desired <= capacity - 1)) {
            say(out, "; every point forecast under its down threshold (%.4g) but desired %.0f is not "
                "below %.0f: no action", ds->down_at, desired, capacity);
        } else {
            kind = FC_DEC_SCALE_DOWN;
            act_at = now;
            urgency = 1;
            say(out, "; every point forecast under its down threshold (%.4g), in window %s: scale down; "
                "desired %.0f (from %.0f)", ds->down_at, win, desired, capacity);
        }
    }
    for (size_t i = 0; i < n_sig; i++)
        if (ev[i].cold && i != drv)
            say(out, "; signal %zu: cold start: %zu points of history, reactive on the current "
                "value %.4g", i, ev[i].finite, ev[i].last);
    free(ev);

    if (in_cd || kind == FC_DEC_NO_ACTION) {
        out->kind = FC_DEC_NO_ACTION;
        out->act_at = NAN;
        out->urgency = 0;
    } else {
        out->kind = kind;
        out->act_at = act_at;
        out->urgency = urgency;
    }
    return 0;
}
