/* Unit tests for forecast/backtest.c: the reactive policy replayed by hand on a step series
 * (every under-provisioned step, action and capacity worked out below), constant load,
 * the clamps, the check interval and the lead time, bad input, and the predictive policy
 * (fc_decide) against the reactive one on a synthetic daily sinusoid with a 30-minute lead;
 * fc_backtest_n: a second signal that does or does not change the hand-worked replay, the
 * action log of that replay and its truncation, bad input.
 * The noise comes from a fixed-seed generator, so the numbers are reproducible. */
#include "forecast/forecast.h"
#include "fc_test.h"

#include <math.h>
#include <stdlib.h>


/* 5-minute grid, lead 10 min (2 steps), cooldown 15 min (3 steps), target 0.5. */
static fc_rule_cfg small_rule(void) {
    fc_rule_cfg r = {0};
    r.step_s = 300;
    r.horizon = 12;
    r.lead_s = 600;
    r.cooldown_s = 900;
    r.margin = 0.05;
    r.smooth = 3;
    r.cap_min = 1;
    r.cap_max = 100;
    r.target = 0.5;
    r.down_from_min = r.down_to_min = -1;
    return r;
}

TEST(test_backtest_reactive_step_series_by_hand) {
    /* up_at 0.8, down_at 0.3, start 10, cap_max 25, a check every step:
     *  t 0-4   load 4   c 10  signal 0.4                         under: no
     *  t 5     load 9   c 10  0.9 > 0.8: up to ceil(9/.5) = 18, in place at t 7 (action 1)
     *  t 6     load 9   c 10  cooldown                            under: t 5, 6
     *  t 7-9   load 9   c 18  0.5 (t 8 is out of the cooldown: nothing to do; 9 > 9 no)
     *  t 10    load 15  c 18  0.83: up to min(30, 25) = 25, in place at t 12 (action 2)
     *  t 11    load 15  c 18  cooldown                            under: t 10, 11
     *  t 12    load 15  c 25  0.6, cooldown; 15 > 12.5            under: t 12
     *  t 13    load 2   c 25  0.08 < 0.3: down to ceil(2/.5) = 4 at once (action 3)
     *  t 14    load 2   c 4   0.5
     *  t 15-16 load 3   c 4   0.75: not over up_at, but 3 > 4 * 0.5 under: t 15, 16
     *  t 17    load 10  c 4   2.5: up to 20, in place at t 19 (action 4)
     *  t 18    load 10  c 4                                       under: t 17, 18
     *  t 19-21 load 10  c 20  0.5: no action; 10 > 10 no
     * under: 9 steps = 45 minutes; capacity 7*10 + 5*18 + 2*25 + 5*4 + 3*20 = 290 over 22. */
    static const double load[22] = {4, 4, 4, 4, 4, 9, 9, 9, 9, 9, 15,
                                    15, 15, 2, 2, 3, 3, 10, 10, 10, 10, 10};
    fc_rule_cfg r = small_rule();
    r.cap_max = 25;
    fc_bt_result res;
    CHECK_EQ_INT(0, fc_backtest(&r, load, 22, 1.7e9, 0, 1, 0.8, 0.3, 10, FC_BT_REACTIVE, &res));
    CHECK_EQ_U64(4, res.actions);
    CHECK_EQ_DBL(45.0, res.minutes_under);
    CHECK_NEAR(290.0 / 22.0, res.mean_capacity, 1e-12);
    CHECK_EQ_U64(22, res.steps);
}

TEST(test_backtest_reactive_check_interval_and_from) {
    /* load 4 then 9 from t 4, start 10, from 2, a check every 3 steps: checks at t 2, 5, 8.
     * t 5 sees 0.9: up to 18, in place at t 7. Under: t 4, 5, 6 = 15 minutes. Steps
     * before `from` are not scored: 8 steps replayed (t 2-9), capacity 10 x 5 + 18 x 3. */
    static const double load[10] = {4, 4, 4, 4, 9, 9, 9, 9, 9, 9};
    fc_rule_cfg r = small_rule();
    fc_bt_result res;
    CHECK_EQ_INT(0, fc_backtest(&r, load, 10, 0, 2, 3, 0.8, 0.3, 10, FC_BT_REACTIVE, &res));
    CHECK_EQ_U64(1, res.actions);
    CHECK_EQ_DBL(15.0, res.minutes_under);
    CHECK_NEAR(104.0 / 8.0, res.mean_capacity, 1e-12);
    CHECK_EQ_U64(8, res.steps);
    /* zero lead: in place at the next step, t 6 */
    r.lead_s = 0;
    CHECK_EQ_INT(0, fc_backtest(&r, load, 10, 0, 2, 3, 0.8, 0.3, 10, FC_BT_REACTIVE, &res));
    CHECK_EQ_DBL(10.0, res.minutes_under);
}

TEST(test_backtest_constant_load_no_action) {
    double load[600];
    for (size_t i = 0; i < 600; i++) load[i] = 5;
    fc_rule_cfg r = small_rule();
    r.target = 0.7;
    fc_bt_result res;
    /* signal 0.5: between down_at and up_at, and 5 <= 10 * 0.7 */
    CHECK_EQ_INT(0, fc_backtest(&r, load, 600, 0, 100, 6, 0.8, 0.3, 10, FC_BT_REACTIVE, &res));
    CHECK_EQ_U64(0, res.actions);
    CHECK_EQ_DBL(0.0, res.minutes_under);
    CHECK_EQ_DBL(10.0, res.mean_capacity);
    CHECK_EQ_U64(500, res.steps);
    /* 7 / 0.7 = 10.000000000000002 in doubles: still 10 units, no action */
    for (size_t i = 0; i < 600; i++) load[i] = 7;
    CHECK_EQ_INT(0, fc_backtest(&r, load, 600, 0, 100, 6, 0.69, 0.3, 10, FC_BT_REACTIVE, &res));
    CHECK_EQ_U64(0, res.actions);
    CHECK_EQ_DBL(10.0, res.mean_capacity);
}

TEST(test_backtest_reactive_clamps) {
    double load[40];
    fc_rule_cfg r = small_rule();
    r.cap_min = 3;
    r.cap_max = 8;
    fc_bt_result res;
    /* load 100 on 2 units: up to ceil(200) clamped to 8 once (from t 2 on), never more */
    for (size_t i = 0; i < 40; i++) load[i] = 100;
    CHECK_EQ_INT(0, fc_backtest(&r, load, 40, 0, 0, 1, 0.8, 0.3, 2, FC_BT_REACTIVE, &res));
    CHECK_EQ_U64(1, res.actions);
    CHECK_NEAR((2 * 2 + 38 * 8) / 40.0, res.mean_capacity, 1e-12);
    CHECK_EQ_DBL(40 * 5.0, res.minutes_under);
    /* load 0.1 on 10 units: down to ceil(0.2) = 1, clamped to cap_min 3, at once */
    for (size_t i = 0; i < 40; i++) load[i] = 0.1;
    CHECK_EQ_INT(0, fc_backtest(&r, load, 40, 0, 0, 1, 0.8, 0.3, 10, FC_BT_REACTIVE, &res));
    CHECK_EQ_U64(1, res.actions);
    CHECK_NEAR((10 + 39 * 3) / 40.0, res.mean_capacity, 1e-12);
    CHECK_EQ_DBL(0.0, res.minutes_under);
}

TEST(test_backtest_bad_input) {
    double load[4] = {1, 1, 1, 1};
    fc_rule_cfg r = small_rule();
    fc_bt_result res = {7, 7, 7, 7};
    CHECK_EQ_INT(FC_EINVAL, fc_backtest(&r, load, 4, 0, 4, 1, 0.8, 0.3, 1, FC_BT_REACTIVE, &res));
    CHECK_EQ_INT(FC_EINVAL, fc_backtest(&r, load, 4, 0, 0, 0, 0.8, 0.3, 1, FC_BT_REACTIVE, &res));
    CHECK_EQ_INT(FC_EINVAL, fc_backtest(&r, load, 4, 0, 0, 1, 0.8, 0.3, 0, FC_BT_REACTIVE, &res));
    CHECK_EQ_INT(FC_EINVAL, fc_backtest(&r, load, 4, 0, 0, 1, 0.8, 0.3, 1, 7, &res));
    CHECK_EQ_INT(FC_EINVAL, fc_backtest(NULL, load, 4, 0, 0, 1, 0.8, 0.3, 1, FC_BT_REACTIVE, &res));
    r.step_s = 0;
    CHECK_EQ_INT(FC_EINVAL, fc_backtest(&r, load, 4, 0, 0, 1, 0.8, 0.3, 1, FC_BT_REACTIVE, &res));
    CHECK_EQ_U64(7, res.actions); /* not written on failure */
}

/* A daily sinusoid between 4 and 16 units plus 2% noise, 6 days on the 5-minute grid; the
 * rule of bench/backtest_bench.c (target 0.7, up 0.8, down 0.3, lead and cooldown 30 min,
 * checks every 30 min, horizon 4 h); replay the last 3 days. */
TEST(test_backtest_predictive_beats_reactive_on_daily_sinusoid) {
    enum { N = 6 * 288, FROM = 3 * 288 };
    double *load = malloc(N * sizeof *load);
    rng g = {42};
    for (size_t i = 0; i < N; i++)
        load[i] = (10 + 6 * sin(2 * M_PI * (double)i / 288.0)) * (1 + 0.02 * gauss(&g));
    fc_rule_cfg r = {0};
    r.step_s = 300;
    r.horizon = 48;
    r.lead_s = 1800;
    r.cooldown_s = 1800;
    r.margin = 0.05;
    r.smooth = 3;
    r.cap_min = 1;
    r.cap_max = 100;
    r.target = 0.7;
    r.down_from_min = r.down_to_min = -1;
    r.fopts.step_s = 300;
    fc_bt_result pre, rea;
    CHECK_EQ_INT(0, fc_backtest(&r, load, N, 1.7e9, FROM, 6, 0.8, 0.3, 20, FC_BT_REACTIVE, &rea));
    CHECK_EQ_INT(0, fc_backtest(&r, load, N, 1.7e9, FROM, 6, 0.8, 0.3, 20, FC_BT_PREDICTIVE, &pre));
    fprintf(stderr, "  sinusoid: reactive %zu actions %.0f min under mean %.2f; predictive %zu"
                    " actions %.0f min under mean %.2f\n", rea.actions, rea.minutes_under,
            rea.mean_capacity, pre.actions, pre.minutes_under, pre.mean_capacity);
    CHECK(rea.minutes_under > 0);
    CHECK(pre.minutes_under <= 0.5 * rea.minutes_under);
    /* The goal is no more mean capacity than reactive; measured 18.4 vs 16.5 (1.11x)
     * once fc_decide rescales the history by the capacity in effect (before: 38, the
     * policy's own scale-ups read as load and ratcheted capacity up). This bound guards that
     * fix; scale-down needs the whole horizon under down_at, which keeps some headroom. */
    CHECK(pre.mean_capacity <= 1.25 * rea.mean_capacity);
    CHECK(pre.actions > 0);
    CHECK_EQ_U64(N - FROM, pre.steps);
    free(load);
}

/* The load of test_backtest_reactive_step_series_by_hand. */
static const double STEP_LOAD[22] = {4, 4, 4, 4, 4, 9, 9, 9, 9, 9, 15,
                                     15, 15, 2, 2, 3, 3, 10, 10, 10, 10, 10};

TEST(test_backtest_n_second_signal_drives) {
    /* signal 0 is a quiet load of 1 (0.1 at 10 units, never over up_at, 2 units needed)
     * without a down_at, so it never blocks a scale-down: the replay is the one-signal
     * replay worked out by hand above, with the step series as signal 1. */
    double quiet[22];
    for (size_t i = 0; i < 22; i++) quiet[i] = 1;
    fc_rule_cfg r = small_rule();
    r.cap_max = 25;
    fc_bt_signal sg[2] = {{quiet, 0.8, NAN}, {STEP_LOAD, 0.8, 0.3}};
    fc_bt_result res;
    CHECK_EQ_INT(0, fc_backtest_n(&r, sg, 2, 22, 1.7e9, 0, 1, 10, FC_BT_REACTIVE, &res, NULL, 0));
    CHECK_EQ_U64(4, res.actions);
    CHECK_EQ_DBL(45.0, res.minutes_under);
    CHECK_NEAR(290.0 / 22.0, res.mean_capacity, 1e-12);
    CHECK_EQ_U64(22, res.steps);
    /* the same with the signals swapped */
    fc_bt_signal sw[2] = {sg[1], sg[0]};
    CHECK_EQ_INT(0, fc_backtest_n(&r, sw, 2, 22, 1.7e9, 0, 1, 10, FC_BT_REACTIVE, &res, NULL, 0));
    CHECK_EQ_U64(4, res.actions);
    CHECK_EQ_DBL(45.0, res.minutes_under);
}

TEST(test_backtest_n_signal_with_down_at_blocks_scale_down) {
    /* signal 0: load 5 with down_at 0.1. t 0-12 go as by hand (5 never needs more than 10
     * units, 0.5 at 10 units is under up_at, 5 > 10 * 0.5 is false). At t 13 signal 1 reads
     * 0.08 < 0.3 but signal 0 reads 5 / 25 = 0.2, not under 0.1: no scale-down, and 25
     * units are enough for the rest. Actions 2; under t 5, 6, 10, 11, 12 = 25 minutes;
     * capacity 7 * 10 + 5 * 18 + 10 * 25 = 410 over 22. */
    double five[22];
    for (size_t i = 0; i < 22; i++) five[i] = 5;
    fc_rule_cfg r = small_rule();
    r.cap_max = 25;
    fc_bt_signal sg[2] = {{five, 0.8, 0.1}, {STEP_LOAD, 0.8, 0.3}};
    fc_bt_result res;
    CHECK_EQ_INT(0, fc_backtest_n(&r, sg, 2, 22, 1.7e9, 0, 1, 10, FC_BT_REACTIVE, &res, NULL, 0));
    CHECK_EQ_U64(2, res.actions);
    CHECK_EQ_DBL(25.0, res.minutes_under);
    CHECK_NEAR(410.0 / 22.0, res.mean_capacity, 1e-12);
    /* without any down_at nothing scales down either */
    fc_bt_signal one = {STEP_LOAD, 0.8, NAN};
    CHECK_EQ_INT(0, fc_backtest_n(&r, &one, 1, 22, 1.7e9, 0, 1, 10, FC_BT_REACTIVE, &res, NULL, 0));
    CHECK_EQ_U64(2, res.actions);
}

TEST(test_backtest_n_action_log_by_hand) {
    /* the four actions of the hand-worked replay: t 5, 10, 13, 17 on the 5-minute grid from
     * t0, scale-ups in place lead (600 s) later, the scale-down at once */
    fc_rule_cfg r = small_rule();
    r.cap_max = 25;
    const double t0 = 1.7e9;
    fc_bt_signal sg = {STEP_LOAD, 0.8, 0.3};
    fc_bt_action acts[8];
    memset(acts, 0, sizeof acts);
    fc_bt_result res;
    CHECK_EQ_INT(0, fc_backtest_n(&r, &sg, 1, 22, t0, 0, 1, 10, FC_BT_REACTIVE, &res, acts, 8));
    CHECK_EQ_U64(4, res.actions);
    static const struct { double at, from, to, eff; int kind; } want[4] = {
        {1500, 10, 18, 2100, FC_DEC_SCALE_UP_NOW},
        {3000, 18, 25, 3600, FC_DEC_SCALE_UP_NOW},
        {3900, 25, 4, 3900, FC_DEC_SCALE_DOWN},
        {5100, 4, 20, 5700, FC_DEC_SCALE_UP_NOW},
    };
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ_DBL(t0 + want[i].at, acts[i].at);
        CHECK_EQ_DBL(want[i].from, acts[i].from_cap);
        CHECK_EQ_DBL(want[i].to, acts[i].to_cap);
        CHECK_EQ_DBL(t0 + want[i].eff, acts[i].effective_at);
        CHECK_EQ_INT(want[i].kind, acts[i].kind);
    }
    CHECK_EQ_DBL(0.0, acts[4].at); /* nothing past the last action */
    /* truncated to 2 entries: the count still says 4, entry 2 untouched */
    fc_bt_action few[3];
    memset(few, 0, sizeof few);
    few[2].at = -1;
    CHECK_EQ_INT(0, fc_backtest_n(&r, &sg, 1, 22, t0, 0, 1, 10, FC_BT_REACTIVE, &res, few, 2));
    CHECK_EQ_U64(4, res.actions);
    CHECK_EQ_DBL(t0 + 3000, few[1].at);
    CHECK_EQ_DBL(25.0, few[1].to_cap);
    CHECK_EQ_DBL(-1.0, few[2].at);
    /* no log at all */
    CHECK_EQ_INT(0, fc_backtest_n(&r, &sg, 1, 22, t0, 0, 1, 10, FC_BT_REACTIVE, &res, NULL, 5));
    CHECK_EQ_U64(4, res.actions);
}

TEST(test_backtest_n_predictive_quiet_second_signal_changes_nothing) {
    /* 2 days of a daily sinusoid, the last day replayed; a second, quiet signal without a
     * down_at neither crosses, nor sets the desired capacity, nor blocks a scale-down, so
     * the predictive replay is the one-signal replay, action by action. */
    enum { N = 2 * 288, FROM = 288 };
    double *load = malloc(N * sizeof *load), *quiet = malloc(N * sizeof *quiet);
    rng g = {7};
    for (size_t i = 0; i < N; i++) {
        load[i] = (10 + 6 * sin(2 * M_PI * (double)i / 288.0)) * (1 + 0.02 * gauss(&g));
        quiet[i] = 0.5;
    }
    fc_rule_cfg r = small_rule();
    r.horizon = 48;
    r.lead_s = r.cooldown_s = 1800;
    r.target = 0.7;
    r.fopts.step_s = 300;
    fc_bt_result one, two;
    fc_bt_action a1[64], a2[64];
    fc_bt_signal s1 = {load, 0.8, 0.3};
    fc_bt_signal s2[2] = {{quiet, 0.8, NAN}, {load, 0.8, 0.3}};
    CHECK_EQ_INT(0, fc_backtest_n(&r, &s1, 1, N, 1.7e9, FROM, 6, 20, FC_BT_PREDICTIVE, &one, a1, 64));
    CHECK_EQ_INT(0, fc_backtest_n(&r, s2, 2, N, 1.7e9, FROM, 6, 20, FC_BT_PREDICTIVE, &two, a2, 64));
    CHECK(one.actions > 0);
    CHECK_EQ_U64(one.actions, two.actions);
    CHECK_EQ_DBL(one.minutes_under, two.minutes_under);
    CHECK_EQ_DBL(one.mean_capacity, two.mean_capacity);
    for (size_t i = 0; i < one.actions && i < 64; i++) {
        CHECK_EQ_DBL(a1[i].at, a2[i].at);
        CHECK_EQ_DBL(a1[i].to_cap, a2[i].to_cap);
        CHECK_EQ_INT(a1[i].kind, a2[i].kind);
        CHECK(a1[i].kind == FC_DEC_SCALE_UP_NOW || a1[i].kind == FC_DEC_SCALE_UP_PREPARED ||
              a1[i].kind == FC_DEC_SCALE_DOWN);
    }
    free(load);
    free(quiet);
}

TEST(test_backtest_n_bad_input) {
    double load[4] = {1, 1, 1, 1};
    fc_rule_cfg r = small_rule();
    fc_bt_result res = {7, 7, 7, 7};
    fc_bt_signal sg[2] = {{load, 0.8, 0.3}, {NULL, 0.8, 0.3}};
    CHECK_EQ_INT(FC_EINVAL, fc_backtest_n(&r, sg, 0, 4, 0, 0, 1, 1, FC_BT_REACTIVE, &res, NULL, 0));
    CHECK_EQ_INT(FC_EINVAL, fc_backtest_n(&r, NULL, 1, 4, 0, 0, 1, 1, FC_BT_REACTIVE, &res, NULL, 0));
    CHECK_EQ_INT(FC_EINVAL, fc_backtest_n(&r, sg, 2, 4, 0, 0, 1, 1, FC_BT_REACTIVE, &res, NULL, 0));
    CHECK_EQ_U64(7, res.actions);
}
