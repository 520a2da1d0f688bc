/* Unit tests for forecast/backtest.c: the reactive policy replayed by hand on a step series
 * (every under-provisioned step, action and capacity worked out below), constant load,
 * the clamps, the check interval and the lead time, bad input, and the predictive policy
 * (fc_decide) against the reactive one on a synthetic daily sinusoid with a 30-minute lead.
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
