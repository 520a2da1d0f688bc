/* Unit tests for forecast/decide.c (fc_decide): scenarios on synthetic signals in simulated
 * time (the clock is a number the test steps, nothing sleeps): a daily peak seen coming
 * early enough to act lead_time before it, a flat series, an oscillating series under a
 * cooldown the test feeds back, scale-down only inside its window (also one wrapping
 * midnight), cold start, bad configurations, several signals, and one real NAB series if
 * present. Every decision is checked for NaN (only act_at and cross_at may be NaN, and only
 * when there is none). Random series come from a fixed-seed generator. */
#include "forecast/forecast.h"
#include "fc_test.h"

#include <math.h>
#include <stdlib.h>

#define STEP 300.0
#define DAY 288                    /* steps per day at 5 minutes */
#define T0 1699920000.0            /* 2023-11-14 00:00:00 UTC: grid index 0 */


/* The rule most tests start from: 5-min grid, 4 h ahead, 30 min lead and cooldown. */
static fc_rule_cfg base_rule(void) {
    fc_rule_cfg r = {
        .step_s = STEP, .horizon = 48, .lead_s = 1800, .cooldown_s = 1800, .margin = 0.05,
        .smooth = 3, .cap_min = 1, .cap_max = 20, .target = 60,
        .down_from_min = -1, .down_to_min = -1, .tz_offset_min = 0, .min_history = 0,
        .fopts = {.step_s = STEP},
    };
    return r;
}

/* Only act_at and cross_at may be NaN, and act_at only without an action. */
static void check_sane(const fc_decision *d) {
    if (!isfinite(d->urgency) || !isfinite(d->now) || !isfinite(d->peak) ||
        !isfinite(d->peak_at) || !isfinite(d->capacity) || !isfinite(d->desired))
        FAILF("NaN/Inf in decision: urgency %g now %g peak %g peak_at %g capacity %g desired %g",
              d->urgency, d->now, d->peak, d->peak_at, d->capacity, d->desired);
    if (!(d->urgency >= 0 && d->urgency <= 1)) FAILF("urgency %g out of [0, 1]", d->urgency);
    if ((d->kind == FC_DEC_NO_ACTION) != !isfinite(d->act_at))
        FAILF("kind %d with act_at %g", d->kind, d->act_at);
    if (!isnan(d->cross_at) && !isfinite(d->cross_at)) FAILF("cross_at %g", d->cross_at);
    if (d->desired != floor(d->desired)) FAILF("desired %g not whole", d->desired);
    if (!d->reason[0] || strlen(d->reason) >= sizeof d->reason) FAILF("reason empty/unterminated");
}

static double now_at(size_t n) { return T0 + (double)(n - 1) * STEP; }

/* ---- daily peak ---- */

/* 45 + 35 cos, peak 80 at 15:00 UTC every day (noise sd 2 is added) */
static double daily_mean(size_t i) {
    double ph = 2.0 * M_PI * ((double)(i % DAY) - 15.0 * 12) / DAY;
    return 45.0 + 35.0 * cos(ph);
}

TEST(test_decide_daily_peak_scales_up_before_lead) {
    size_t days = 4, n = days * DAY;
    double *y = malloc(n * sizeof *y);
    rng g = {42};
    for (size_t i = 0; i < n; i++) y[i] = daily_mean(i) + 2.0 * gauss(&g);
    fc_rule_cfg r = base_rule();
    r.fopts.periods[0] = DAY; /* a hint keeps the run short; detection is tested elsewhere */
    fc_signal s = {.y = y, .up_at = 80, .down_at = 10};
    double thr = s.up_at * (1 - r.margin);
    /* the realised crossing on day 4: first step whose noise-free load reaches 76 */
    size_t day4 = 3 * DAY, ic = day4;
    while (daily_mean(ic) < thr) ic++;
    double t_cross = T0 + (double)ic * STEP;
    /* step the clock every 5 minutes from 6 h before that crossing */
    int first_kind = -1;
    double first_now = NAN, first_act = NAN;
    for (size_t at = ic - 72; at <= ic; at++) {
        s.n = at + 1;
        fc_decision d;
        CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(s.n), NAN, &d, NULL));
        check_sane(&d);
        if (d.kind != FC_DEC_NO_ACTION) {
            first_kind = d.kind;
            first_now = d.now;
            first_act = d.act_at;
            CHECK(d.desired > 4);
            CHECK_EQ_INT(0, d.signal);
            CHECK(d.cross_at >= d.now);
            break;
        }
    }
    printf("  daily peak: first decision kind %d at %+.0f min, act at %+.0f min (crossing at 0)\n",
           first_kind, (first_now - t_cross) / 60, (first_act - t_cross) / 60);
    CHECK(first_kind == FC_DEC_SCALE_UP_NOW || first_kind == FC_DEC_SCALE_UP_PREPARED);
    CHECK(first_act <= t_cross - r.lead_s);
    CHECK(first_now <= t_cross - r.lead_s);

    /* far from the crossing (2 h 30 min before it, inside the 4 h horizon): prepared */
    s.n = ic - 30 + 1;
    fc_decision d;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(s.n), NAN, &d, NULL));
    check_sane(&d);
    printf("  2h30 before: %s\n", d.reason);
    CHECK_EQ_INT(FC_DEC_SCALE_UP_PREPARED, d.kind);
    CHECK(d.act_at > d.now && d.act_at <= t_cross - r.lead_s);
    CHECK(fabs(d.act_at - (d.cross_at - r.lead_s)) < 1e-6);
    CHECK(fabs(d.urgency - (1 - (d.act_at - d.now) / (48 * STEP))) < 1e-12);
    CHECK(d.urgency > 0 && d.urgency < 1);
    CHECK(strstr(d.reason, "crosses 76 (80 - 5%)") != NULL);
    CHECK(strstr(d.reason, "act at") != NULL);
    /* close to it (10 min before): now */
    s.n = ic - 2 + 1;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(s.n), NAN, &d, NULL));
    check_sane(&d);
    printf("  10m before: %s\n", d.reason);
    CHECK_EQ_INT(FC_DEC_SCALE_UP_NOW, d.kind);
    CHECK_EQ_DBL(d.now, d.act_at);
    CHECK_EQ_DBL(1.0, d.urgency);
    /* desired = ceil(4 * peak / 60), peak >= 76 so at least 6 */
    CHECK(d.desired >= 6 && d.desired == ceil(4 * d.peak / 60 - 1e-9));
    /* already 8 units: enough for the band's peak, so hysteresis says no action */
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 8, now_at(s.n), NAN, &d, NULL));
    check_sane(&d);
    if (d.desired <= 8) {
        CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
        CHECK(strstr(d.reason, "already enough capacity") != NULL);
    }
    /* at cap_max: no action either */
    r.cap_max = 4;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(s.n), NAN, &d, NULL));
    check_sane(&d);
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
    CHECK_EQ_DBL(4.0, d.desired);
    CHECK(strstr(d.reason, "already enough capacity") != NULL);
    free(y);
}

/* ---- flat ---- */

TEST(test_decide_flat_no_action) {
    size_t n = 3 * DAY;
    double *y = malloc(n * sizeof *y);
    rng g = {7};
    for (size_t i = 0; i < n; i++) y[i] = 50 + 0.5 * gauss(&g);
    fc_rule_cfg r = base_rule();
    fc_signal s = {.y = y, .n = n, .up_at = 80, .down_at = 20};
    double fcb[3 * 48], *fc[1] = {fcb};
    fc_decision d;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(n), NAN, &d, fc));
    check_sane(&d);
    printf("  flat: %s\n", d.reason);
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
    CHECK(isnan(d.act_at) && isnan(d.cross_at));
    CHECK_EQ_DBL(0.0, d.urgency);
    CHECK_EQ_INT(0, d.signal);
    CHECK_EQ_INT(0, d.cold_start);
    CHECK_EQ_DBL(4.0, d.capacity);
    CHECK(d.peak > 50 && d.peak < 60);
    CHECK(d.peak_at > d.now && d.peak_at <= d.now + 48 * STEP);
    CHECK(d.model > FC_AUTO && d.model < FC_N_MODELS);
    /* the recorded forecast: yhat, lower, upper, finite and ordered */
    for (size_t k = 0; k < 48; k++) {
        double yh = fcb[k], lo = fcb[48 + k], hi = fcb[96 + k];
        if (!(isfinite(yh) && lo <= yh && yh <= hi && fabs(yh - 50) < 3))
            FAILF("fc[%zu]: %g %g %g", k, lo, yh, hi);
    }
    free(y);
}

/* ---- cooldown ---- */

TEST(test_decide_oscillating_honours_cooldown) {
    /* 80 +- 12 with a 2 h period: over the threshold every two hours */
    size_t hist = 2 * DAY, span = 12 * 12, n = hist + span;
    double *y = malloc(n * sizeof *y);
    rng g = {11};
    for (size_t i = 0; i < n; i++) y[i] = 80 + 12 * sin(2 * M_PI * (double)i / 24) + gauss(&g);
    fc_rule_cfg r = base_rule();
    r.cooldown_s = 3600;
    r.horizon = 24;
    r.fopts.periods[0] = 24;
    fc_signal s = {.y = y, .up_at = 80, .down_at = 20};
    double last = NAN, prev_action = -INFINITY;
    size_t actions = 0, blocked = 0;
    for (size_t at = hist; at < n; at++) { /* every 5 minutes for 12 h */
        s.n = at + 1;
        double now = now_at(s.n);
        fc_decision d;
        CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now, last, &d, NULL));
        check_sane(&d);
        if (d.kind == FC_DEC_NO_ACTION) {
            if (strstr(d.reason, "cooldown")) {
                blocked++;
                CHECK(now - last < r.cooldown_s);
                CHECK(isfinite(d.peak) && d.desired > 4); /* forecast fields still filled */
            }
            continue;
        }
        if (now - prev_action < r.cooldown_s)
            FAILF("action at +%.0f min only %.0f min after the previous one",
                  (now - now_at(hist + 1)) / 60, (now - prev_action) / 60);
        actions++;
        /* the action happens when the decision says (now, or at act_at if prepared) */
        prev_action = last = d.act_at;
    }
    printf("  oscillating 12 h, cooldown 1 h: %zu actions, %zu decisions held by the cooldown\n",
           actions, blocked);
    CHECK(actions >= 2);
    CHECK(actions <= 12 + 1);
    CHECK(blocked > 0);
    free(y);
}

/* ---- scale-down window ---- */

static int decide_low(fc_rule_cfg *r, const fc_signal *s, double capacity, int hh, int mm,
                      fc_decision *d) {
    /* the same history, read as ending at hh:mm UTC on 2023-11-17 */
    double now = T0 + 3 * 86400.0 + hh * 3600.0 + mm * 60.0;
    int rc = fc_decide(r, s, 1, capacity, now, NAN, d, NULL);
    check_sane(d);
    return rc;
}

TEST(test_decide_scale_down_only_in_window) {
    size_t n = 2 * DAY;
    double *y = malloc(n * sizeof *y);
    rng g = {5};
    for (size_t i = 0; i < n; i++) y[i] = 10 + gauss(&g);
    fc_rule_cfg r = base_rule();
    fc_signal s = {.y = y, .n = n, .up_at = 80, .down_at = 20};
    fc_decision d;
    /* always (-1): down; desired = ceil(6 * peak / 60) = 2 for a peak in (10, 20) */
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 12, 0, &d));
    printf("  low: %s\n", d.reason);
    CHECK_EQ_INT(FC_DEC_SCALE_DOWN, d.kind);
    CHECK_EQ_DBL(d.now, d.act_at);
    CHECK_EQ_DBL(2.0, d.desired);
    CHECK(d.desired == ceil(6 * d.peak / 60 - 1e-9));
    /* no scale_down_at (NaN): never a scale-down, however low */
    s.down_at = NAN;
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 12, 0, &d));
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
    s.down_at = 20;
    /* a window wrapping midnight, 22:00-02:00 UTC */
    r.down_from_min = 22 * 60;
    r.down_to_min = 2 * 60;
    static const struct { int hh, mm, kind; } wrap[] = {
        {23, 0, FC_DEC_SCALE_DOWN}, {22, 0, FC_DEC_SCALE_DOWN}, {0, 0, FC_DEC_SCALE_DOWN},
        {1, 55, FC_DEC_SCALE_DOWN}, {2, 0, FC_DEC_NO_ACTION},   {12, 0, FC_DEC_NO_ACTION},
        {21, 55, FC_DEC_NO_ACTION},
    };
    for (size_t i = 0; i < sizeof wrap / sizeof wrap[0]; i++) {
        CHECK_EQ_INT(0, decide_low(&r, &s, 6, wrap[i].hh, wrap[i].mm, &d));
        if (d.kind != wrap[i].kind)
            FAILF("22:00-02:00 at %02d:%02d: kind %d, expected %d (%s)", wrap[i].hh, wrap[i].mm,
                  d.kind, wrap[i].kind, d.reason);
        if (d.kind == FC_DEC_NO_ACTION) CHECK(strstr(d.reason, "outside the scale-down window"));
    }
    /* 02:00-04:00 local with local = UTC + 2 h: 01:00 UTC is inside, 03:00 UTC is not */
    r.down_from_min = 2 * 60;
    r.down_to_min = 4 * 60;
    r.tz_offset_min = 120;
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 1, 0, &d));
    CHECK_EQ_INT(FC_DEC_SCALE_DOWN, d.kind);
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 3, 0, &d));
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
    /* a negative offset across the date line: 23:30 UTC - 1 h = 22:30 local */
    r.down_from_min = 22 * 60;
    r.down_to_min = 23 * 60;
    r.tz_offset_min = -60;
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 23, 30, &d));
    CHECK_EQ_INT(FC_DEC_SCALE_DOWN, d.kind);
    /* the floor: never below cap_min, and no action when that is no smaller */
    r.down_from_min = r.down_to_min = -1;
    r.cap_min = 3;
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 12, 0, &d));
    CHECK_EQ_INT(FC_DEC_SCALE_DOWN, d.kind);
    CHECK_EQ_DBL(3.0, d.desired);
    CHECK_EQ_INT(0, decide_low(&r, &s, 3, 12, 0, &d));
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
    /* never below what the upper band needs: a target so low that 6 units are needed */
    r.cap_min = 1;
    r.target = 1.5 * 10;
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 12, 0, &d));
    CHECK(d.kind == FC_DEC_NO_ACTION || d.desired >= ceil(6 * d.peak / r.target - 1e-9));
    /* a low series over down_at: no scale-down anywhere */
    r = base_rule();
    s.down_at = 5;
    CHECK_EQ_INT(0, decide_low(&r, &s, 6, 12, 0, &d));
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
    free(y);
}

/* ---- cold start ---- */

TEST(test_decide_low_on_point_forecast_sized_on_band) {
    /* flat at 10 with wide noise: the 80% upper band reaches past down_at (20), the point
     * forecast stays near 10: low, and the new size still covers the band */
    size_t n = 2 * DAY;
    double *y = malloc(n * sizeof *y);
    rng g = {11};
    for (size_t i = 0; i < n; i++) y[i] = 10 + 9 * gauss(&g);
    fc_rule_cfg r = base_rule();
    fc_signal s = {.y = y, .n = n, .up_at = 80, .down_at = 20};
    fc_decision d;
    double *fc = malloc(3 * r.horizon * sizeof *fc);
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 8, now_at(n), NAN, &d, &fc));
    check_sane(&d);
    double top = -INFINITY, mid = -INFINITY;
    for (size_t k = 0; k < r.horizon; k++) {
        if (fc[2 * r.horizon + k] > top) top = fc[2 * r.horizon + k];
        if (fc[k] > mid) mid = fc[k];
    }
    printf("  noisy low: %s\n", d.reason);
    CHECK(top > 20); /* the band alone would have blocked the scale-down */
    CHECK(mid < 20);
    CHECK_EQ_INT(FC_DEC_SCALE_DOWN, d.kind);
    CHECK(d.desired == ceil(8 * d.peak / 60 - 1e-9)); /* sized on the smoothed band */
    CHECK(d.desired * 60 >= 8 * d.peak - 1e-6);
    free(fc);
    free(y);
}

TEST(test_decide_cold_start_reactive) {
    double y[20];
    for (int i = 0; i < 20; i++) y[i] = 60 + i;  /* last value 79 */
    fc_rule_cfg r = base_rule();                  /* min_history 0: 2 * 48 = 96 */
    fc_signal s = {.y = y, .n = 20, .up_at = 80, .down_at = 20};
    double fcb[3 * 48], *fc[1] = {fcb};
    fc_decision d;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(20), NAN, &d, fc));
    check_sane(&d);
    printf("  cold, 79: %s\n", d.reason);
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);  /* 79 < 80: reactive, no forecast */
    CHECK_EQ_INT(1, d.cold_start);
    CHECK(strstr(d.reason, "cold start: 20 points of history, reactive on the current value 79"));
    for (int k = 0; k < 3 * 48; k++) CHECK_EQ_DBL(79.0, fcb[k]);
    y[19] = 90;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(20), NAN, &d, fc));
    check_sane(&d);
    printf("  cold, 90: %s\n", d.reason);
    CHECK_EQ_INT(FC_DEC_SCALE_UP_NOW, d.kind);
    CHECK_EQ_INT(1, d.cold_start);
    CHECK_EQ_DBL(d.now, d.act_at);
    CHECK_EQ_DBL(d.now, d.cross_at);
    CHECK_EQ_DBL(1.0, d.urgency);
    CHECK_EQ_DBL(6.0, d.desired);  /* ceil(4 * 90 / 60) */
    CHECK(strstr(d.reason, "cold start: 20 points of history, reactive on the current value 90"));
    /* gaps: the last finite value counts, and only finite points count as history */
    y[18] = 95;
    y[19] = NAN;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(20), NAN, &d, NULL));
    check_sane(&d);
    CHECK_EQ_INT(FC_DEC_SCALE_UP_NOW, d.kind);
    CHECK_EQ_DBL(7.0, d.desired);  /* ceil(4 * 95 / 60) */
    CHECK(strstr(d.reason, "19 points of history") != NULL);
    /* enough history by the rule's own min_history: forecast, not cold */
    r.min_history = 10;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(20), NAN, &d, NULL));
    check_sane(&d);
    CHECK_EQ_INT(0, d.cold_start);
    /* a cold low signal may scale down (in its window) */
    r.min_history = 0;
    for (int i = 0; i < 20; i++) y[i] = 5;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now_at(20), NAN, &d, NULL));
    check_sane(&d);
    CHECK_EQ_INT(FC_DEC_SCALE_DOWN, d.kind);
    CHECK_EQ_DBL(1.0, d.desired);
}

/* ---- bad config ---- */

TEST(test_decide_bad_config) {
    double y[200];
    for (int i = 0; i < 200; i++) y[i] = 50;
    fc_signal s = {.y = y, .n = 200, .up_at = 80, .down_at = 20};
    fc_decision d;
    fc_rule_cfg r;
#define BAD(field_stmt, what)                                                        \
    do {                                                                           \
        r = base_rule();                                                           \
        field_stmt;                                                                \
        memset(&d, 0xff, sizeof d);                                                \
        CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, &s, 1, 4, now_at(200), NAN, &d, NULL)); \
        if (!strstr(d.reason, what)) FAILF("reason \"%s\" lacks \"%s\"", d.reason, what); \
        CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);                                    \
        CHECK(isfinite(d.desired) && isfinite(d.peak) && isfinite(d.urgency));     \
    } while (0)
    BAD(r.target = 0, "target");
    BAD(r.target = -5, "target");
    BAD(r.target = NAN, "target");
    BAD(r.step_s = 0, "step");
    BAD(r.horizon = 0, "horizon");
    BAD(r.margin = 1, "margin");
    BAD(r.margin = -0.1, "margin");
    BAD(r.lead_s = -1, "lead");
    BAD(r.cooldown_s = NAN, "cooldown");
    BAD((r.cap_min = 5, r.cap_max = 2), "capacity bounds");
    BAD(r.cap_max = INFINITY, "capacity bounds");
    BAD((r.down_from_min = 1500, r.down_to_min = 60), "window");
    BAD((r.down_from_min = -1, r.down_to_min = 60), "window");
    BAD(r.tz_offset_min = 5000, "tz");
    BAD(r.fopts.coverage = 1.5, "coverage");
    BAD(s.down_at = 90, "thresholds");
    s.down_at = 20;
    BAD(s.up_at = NAN, "thresholds");
    s.up_at = 80;
#undef BAD
    r = base_rule();
    CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, &s, 0, 4, now_at(200), NAN, &d, NULL));
    CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, NULL, 1, 4, now_at(200), NAN, &d, NULL));
    CHECK_EQ_INT(FC_EINVAL, fc_decide(NULL, &s, 1, 4, now_at(200), NAN, &d, NULL));
    CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, &s, 1, 4, now_at(200), NAN, NULL, NULL));
    CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, &s, 1, 0, now_at(200), NAN, &d, NULL));
    CHECK(strstr(d.reason, "capacity") != NULL);
    CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, &s, 1, 4, NAN, NAN, &d, NULL));
    double none[3] = {NAN, NAN, INFINITY};
    fc_signal empty = {.y = none, .n = 3, .up_at = 80, .down_at = 20};
    CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, &empty, 1, 4, now_at(3), NAN, &d, NULL));
    CHECK(strstr(d.reason, "no finite value") != NULL);
    fc_signal zero = {.y = NULL, .n = 0, .up_at = 80, .down_at = 20};
    CHECK_EQ_INT(FC_EINVAL, fc_decide(&r, &zero, 1, 4, now_at(1), NAN, &d, NULL));
}

/* ---- several signals ---- */

TEST(test_decide_multi_signal_driver) {
    size_t n = 2 * DAY;
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    rng g = {3};
    for (size_t i = 0; i < n; i++) {
        a[i] = 30 + gauss(&g);                                 /* quiet cpu */
        b[i] = 20 + 60.0 * (double)i / (double)n + gauss(&g);  /* connections ramping to 80 */
        c[i] = 50 + gauss(&g);                                 /* quiet memory */
    }
    fc_rule_cfg r = base_rule();
    fc_signal s[3] = {
        {.y = a, .n = n, .up_at = 80, .down_at = 20},
        {.y = b, .n = n, .up_at = 90, .down_at = 20},
        {.y = c, .n = n, .up_at = 80, .down_at = 20},
    };
    double f0[144], f1[144], f2[144], *fc[3] = {f0, f1, NULL};
    fc_decision d;
    CHECK_EQ_INT(0, fc_decide(&r, s, 3, 4, now_at(n), NAN, &d, fc));
    check_sane(&d);
    printf("  three signals: %s\n", d.reason);
    CHECK(d.kind == FC_DEC_SCALE_UP_NOW || d.kind == FC_DEC_SCALE_UP_PREPARED);
    CHECK_EQ_INT(1, d.signal);
    CHECK(strncmp(d.reason, "signal 1:", 9) == 0);
    CHECK(isfinite(f1[0]) && f1[2 * 48 + 47] > f0[2 * 48 + 47]);
    (void)f2;
    /* nothing crosses: the highest peak drives (signal 2 at ~50) */
    s[1].up_at = 200;
    CHECK_EQ_INT(0, fc_decide(&r, s, 3, 4, now_at(n), NAN, &d, NULL));
    check_sane(&d);
    CHECK_EQ_INT(FC_DEC_NO_ACTION, d.kind);
    CHECK_EQ_INT(1, d.signal); /* the ramp (~80+) still has the highest upper band */
    s[1].y = a;
    CHECK_EQ_INT(0, fc_decide(&r, s, 3, 4, now_at(n), NAN, &d, NULL));
    check_sane(&d);
    CHECK_EQ_INT(2, d.signal);
    /* two crossings: the earlier one drives; a cold signal over its threshold crosses now */
    double cold[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 95};
    s[1].y = b;
    s[1].up_at = 90;
    s[0].y = cold;
    s[0].n = 10;
    CHECK_EQ_INT(0, fc_decide(&r, s, 3, 4, now_at(n), NAN, &d, NULL));
    check_sane(&d);
    printf("  cold + ramp: %s\n", d.reason);
    CHECK_EQ_INT(FC_DEC_SCALE_UP_NOW, d.kind);
    CHECK_EQ_INT(0, d.signal);
    CHECK_EQ_INT(1, d.cold_start);
    /* desired from the highest upper band of all signals: 95 -> ceil(4 * 95 / 60) = 7 */
    CHECK(d.desired >= 7);
    free(a);
    free(b);
    free(c);
}

/* ---- real data ---- */


TEST(test_decide_nab_ec2_cpu_peak) {
    double *y = malloc(8192 * sizeof *y);
    size_t n = fc_test_nab("ec2_cpu_utilization_53ea38", y, 8192);
    if (!n) { free(y); return; }
    CHECK(n > 4000);
    /* 5-min CPU % from 2014-02-14 14:30 UTC, a small daily bump around 03:15 UTC (19:15 in
     * US Pacific time). Decide at 22:00 UTC on Feb 27 (14:00 Pacific, the afternoon before
     * the bump): 8 h ahead, 30 min smoothing, scale up at 1.9 (the 30-min mean reaches it
     * only in the bump on the last days). */
    size_t at = 13 * DAY + 90; /* 2014-02-27 22:00 UTC */
    if (n < at + 97) { FAILF("short file: %zu rows", n); free(y); return; }
    fc_rule_cfg r = base_rule();
    r.horizon = 96;
    r.smooth = 6;
    r.margin = 0;
    r.target = 1.9;
    fc_signal s = {.y = y, .n = at + 1, .up_at = 1.9, .down_at = 1.0};
    double t0 = 1392388200.0, now = t0 + (double)at * STEP; /* 2014-02-14 14:30 UTC */
    /* the realised crossing: first step whose trailing 30-min mean of the actual load
     * reaches up_at */
    double t_real = NAN;
    for (size_t k = at + 1; k <= at + 96 && isnan(t_real); k++) {
        double m = 0;
        for (size_t j = k - 5; j <= k; j++) m += y[j];
        if (m / 6 >= s.up_at) t_real = t0 + (double)k * STEP;
    }
    CHECK(isfinite(t_real));
    fc_decision d;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now, NAN, &d, NULL));
    check_sane(&d);
    printf("  NAB ec2_cpu_53ea38 at 22:00 UTC (model %s), realised crossing in %.0f min: %s\n",
           fc_model_name(d.model), (t_real - now) / 60, d.reason);
    CHECK(d.kind == FC_DEC_SCALE_UP_NOW || d.kind == FC_DEC_SCALE_UP_PREPARED);
    CHECK(d.act_at <= t_real - r.lead_s);
    CHECK(d.cross_at <= t_real);
    CHECK(d.desired > 4);
    /* a threshold only the band's bump reaches: prepared, still before the realised peak */
    s.up_at = 2.0;
    CHECK_EQ_INT(0, fc_decide(&r, &s, 1, 4, now, NAN, &d, NULL));
    check_sane(&d);
    printf("  ... at 2.0: %s\n", d.reason);
    CHECK(d.kind != FC_DEC_SCALE_DOWN);
    if (d.kind != FC_DEC_NO_ACTION) CHECK(d.act_at < t_real);
    free(y);
}
