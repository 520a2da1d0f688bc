/* Unit tests for forecast/baseline.c, forecast/metrics.c and forecast/auto.c: the baselines
 * and metrics against hand-worked values, period detection on synthetic daily/weekly data,
 * and fc_forecast end to end on synthetic series with a known truth (accuracy bounds, band
 * coverage measured over many series, no NaN ever), plus one real NAB series if present.
 * Every random series comes from a fixed-seed generator, so the numbers are reproducible. */
#include "forecast/forecast_int.h"
#include "fc_test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>


/* ---- baselines ---- */

TEST(test_baseline_naive_last_finite) {
    double y[] = {1, 2, 3, NAN, INFINITY}, out[3];
    CHECK_EQ_INT(0, fc__naive(y, 5, NULL, 0, 3, out));
    for (int i = 0; i < 3; i++) CHECK_EQ_DBL(3.0, out[i]);
    double none[] = {NAN, NAN};
    CHECK_EQ_INT(FC_EINVAL, fc__naive(none, 2, NULL, 0, 3, out));
}

TEST(test_baseline_drift_first_to_last) {
    /* first finite 2 at i=1, last finite 8 at i=4: slope 2; n = 6, so step 1 ahead is i = 6,
     * two steps past the last finite value: 8 + 2*2 = 12, then 14, 16 */
    double y[] = {NAN, 2, 5, 3, 8, NAN}, out[3];
    CHECK_EQ_INT(0, fc__drift(y, 6, NULL, 0, 3, out));
    CHECK_EQ_DBL(12.0, out[0]);
    CHECK_EQ_DBL(14.0, out[1]);
    CHECK_EQ_DBL(16.0, out[2]);
    double one[] = {7}, o1[2];
    CHECK_EQ_INT(0, fc__drift(one, 1, NULL, 0, 2, o1));
    CHECK_EQ_DBL(7.0, o1[0]);
    CHECK_EQ_DBL(7.0, o1[1]);
}

TEST(test_baseline_linear_least_squares) {
    /* points (0,1) (1,3) (2,2) (3,5): mean x 1.5, mean y 2.75, sxy = 2.625 - 0.125 - 0.375
     * + 3.375 = 5.5, sxx = 5, slope 1.1, intercept 2.75 - 1.65 = 1.1; x = 4: 5.5, x = 5: 6.6 */
    double y[] = {1, 3, 2, 5}, out[2];
    CHECK_EQ_INT(0, fc__linear(y, 4, NULL, 0, 2, out));
    CHECK_NEAR(5.5, out[0], 1e-12);
    CHECK_NEAR(6.6, out[1], 1e-12);
    /* a gap is skipped: (0,1) (2,5) (3,7): exact line 1 + 2x -> x=4: 9 */
    double g[] = {1, NAN, 5, 7};
    CHECK_EQ_INT(0, fc__linear(g, 4, NULL, 0, 1, out));
    CHECK_NEAR(9.0, out[0], 1e-12);
}

TEST(test_baseline_seasonal_naive_phase) {
    size_t m = 3;
    double y[] = {1, 2, 3, 4, 5, 6, 7}, out[5];
    /* last period is y[4..7) = 5 6 7, repeated */
    CHECK_EQ_INT(0, fc__seasonal_naive(y, 7, &m, 1, 5, out));
    double exp[] = {5, 6, 7, 5, 6};
    for (int i = 0; i < 5; i++) CHECK_EQ_DBL(exp[i], out[i]);
    /* missing at the same phase: y[5] NaN -> y[2] = 3 */
    double g[] = {1, 2, 3, 4, 5, NAN, 7};
    CHECK_EQ_INT(0, fc__seasonal_naive(g, 7, &m, 1, 3, out));
    CHECK_EQ_DBL(5.0, out[0]);
    CHECK_EQ_DBL(3.0, out[1]);
    CHECK_EQ_DBL(7.0, out[2]);
    /* a phase with no finite value at all takes the last finite value */
    double p[] = {NAN, 2, 3, NAN, 5, 6};
    CHECK_EQ_INT(0, fc__seasonal_naive(p, 6, &m, 1, 1, out));
    CHECK_EQ_DBL(6.0, out[0]);
    /* no period, or less than one period of history */
    CHECK_EQ_INT(FC_EINVAL, fc__seasonal_naive(y, 7, NULL, 0, 1, out));
    size_t big = 8;
    CHECK_EQ_INT(FC_EINVAL, fc__seasonal_naive(y, 7, &big, 1, 1, out));
}

/* ---- metrics ---- */

TEST(test_metrics_smape_m4) {
    /* 200/3 * (|100-110|/210 + |200-180|/380 + 0/0->0) */
    double y[] = {100, 200, 0}, f[] = {110, 180, 0};
    CHECK_NEAR(200.0 / 3 * (10.0 / 210 + 20.0 / 380), fc_smape(y, f, 3), 1e-12);
    /* NaN pairs are skipped: only the first pair counts */
    double y2[] = {100, NAN, 5}, f2[] = {110, 3, NAN};
    CHECK_NEAR(200.0 * 10.0 / 210, fc_smape(y2, f2, 3), 1e-12);
    double y3[] = {NAN}, f3[] = {1};
    CHECK(isnan(fc_smape(y3, f3, 1)));
    /* opposite signs: the maximum 200 */
    double y4[] = {1}, f4[] = {-1};
    CHECK_NEAR(200.0, fc_smape(y4, f4, 1), 1e-12);
}

TEST(test_metrics_mase_m4) {
    /* train 1 3 2 5 4, m = 1: |2|+|1|+|3|+|1| = 7 / 4 = 1.75; errors |6-5|,|7-9| -> 1.5;
     * MASE = 1.5 / 1.75 */
    double tr[] = {1, 3, 2, 5, 4}, y[] = {6, 7}, f[] = {5, 9};
    CHECK_NEAR(1.5 / 1.75, fc_mase(tr, 5, 1, y, f, 2), 1e-12);
    /* m = 2: |2-1| + |5-3| + |4-2| = 5 / 3 */
    CHECK_NEAR(1.5 / (5.0 / 3), fc_mase(tr, 5, 2, y, f, 2), 1e-12);
    /* NaN in train skips its pairs; NaN in the holdout skips the pair */
    double tr2[] = {1, 3, NAN, 5, 4}, y2[] = {6, NAN}, f2[] = {5, 9};
    CHECK_NEAR(1.0 / 1.5, fc_mase(tr2, 5, 1, y2, f2, 2), 1e-12);
    /* constant training part: undefined */
    double c[] = {2, 2, 2};
    CHECK(isnan(fc_mase(c, 3, 1, y, f, 2)));
    /* m >= n_train: undefined */
    CHECK(isnan(fc_mase(tr, 5, 5, y, f, 2)));
}

TEST(test_metrics_resample_last_within_gap) {
    double t[] = {0, 9, 10, 31, 70}, v[] = {1, 2, 3, 4, 5}, out[8];
    fc_resample(t, v, 5, 0, 10, 8, 15, out);
    /* grid 0 10 20 30 40 50 60 70 */
    CHECK_EQ_DBL(1.0, out[0]);
    CHECK_EQ_DBL(3.0, out[1]);  /* t=10 exactly */
    CHECK_EQ_DBL(3.0, out[2]);  /* 20 - 10 = 10 <= 15 */
    CHECK(isnan(out[3]));       /* 30 - 10 = 20 > 15, sample 31 is after */
    CHECK_EQ_DBL(4.0, out[4]);  /* 40 - 31 = 9 */
    CHECK(isnan(out[5]));       /* 19 > 15 */
    CHECK(isnan(out[6]));
    CHECK_EQ_DBL(5.0, out[7]);
    /* a grid before every sample */
    fc_resample(t, v, 5, -20, 10, 2, 100, out);
    CHECK(isnan(out[0]) && isnan(out[1]));
}

TEST(test_model_names) {
    for (int m = 0; m < FC_N_MODELS; m++) {
        const char *s = fc_model_name(m);
        CHECK_EQ_INT(m, fc_model_parse(s, strlen(s)));
    }
    CHECK_EQ_STR("holt_winters", fc_model_name(FC_ETS));
    CHECK_EQ_INT(FC_SEASONAL, fc_model_parse("prophet", 7));
    CHECK_EQ_INT(FC_ETS, fc_model_parse("ets", 3));
    CHECK_EQ_INT(-1, fc_model_parse("naive2", 6));
    CHECK_EQ_INT(-1, fc_model_parse("naive", 4));
}

/* ---- period detection ---- */

/* 5-minute data: daily sine, weekday/weekend difference, trend, noise. */
static void gen_5m(double *y, size_t n, uint64_t seed, double weekly) {
    rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        double day = (double)(i % 288) / 288.0, dow = (double)((i / 288) % 7);
        double wk = dow >= 5 ? -weekly : 0;
        y[i] = 50 + 0.002 * (double)i + 10 * sin(2 * M_PI * day) + 4 * cos(4 * M_PI * day) + wk +
               1.5 * gauss(&r);
    }
}

/* Hourly data with a daily cycle: level, sine, noise. */
static void gen_hourly(double *y, size_t n, uint64_t seed, double amp, double sd) {
    rng r = {seed};
    for (size_t i = 0; i < n; i++)
        y[i] = 100 + amp * sin(2 * M_PI * (double)i / 24) + sd * gauss(&r);
}

TEST(test_detect_hourly_daily) {
    double y[24 * 21];
    gen_hourly(y, 24 * 21, 1, 10, 3);
    size_t p[3] = {0};
    size_t k = fc_detect_periods(y, 24 * 21, 3600, p, 3);
    CHECK_EQ_INT(1, k);
    CHECK_EQ_U64(24, p[0]);
    /* step unknown: found among the ACF peaks */
    k = fc_detect_periods(y, 24 * 21, 0, p, 3);
    CHECK(k >= 1);
    CHECK_EQ_U64(24, p[0]);
    /* white noise: none */
    rng r = {7};
    for (size_t i = 0; i < 24 * 21; i++) y[i] = gauss(&r);
    CHECK_EQ_INT(0, fc_detect_periods(y, 24 * 21, 3600, p, 3));
    CHECK_EQ_INT(0, fc_detect_periods(y, 24 * 21, 0, p, 3));
    /* random walk: none */
    double s = 0;
    for (size_t i = 0; i < 24 * 21; i++) y[i] = s += gauss(&r);
    CHECK_EQ_INT(0, fc_detect_periods(y, 24 * 21, 3600, p, 3));
    CHECK_EQ_INT(0, fc_detect_periods(y, 24 * 21, 0, p, 3));
}

TEST(test_detect_5m_daily_weekly) {
    size_t n = 4032;
    double *y = malloc(n * sizeof *y);
    gen_5m(y, n, 3, 8);
    size_t p[3] = {0};
    size_t k = fc_detect_periods(y, n, 300, p, 3);
    CHECK_EQ_INT(2, k);
    CHECK((p[0] == 288 && p[1] == 2016) || (p[0] == 2016 && p[1] == 288));
    /* no weekly effect: the day only */
    gen_5m(y, n, 4, 0);
    k = fc_detect_periods(y, n, 300, p, 3);
    CHECK_EQ_INT(1, k);
    CHECK_EQ_U64(288, p[0]);
    /* with gaps and infinities */
    gen_5m(y, n, 5, 8);
    for (size_t i = 0; i < n; i += 7) y[i] = NAN;
    for (size_t i = 1000; i < 1300; i++) y[i] = NAN;
    y[50] = INFINITY;
    y[51] = -INFINITY;
    k = fc_detect_periods(y, n, 300, p, 3);
    CHECK_EQ_INT(2, k);
    CHECK((p[0] == 288 && p[1] == 2016) || (p[0] == 2016 && p[1] == 288));
    free(y);
}

/* ---- fc_forecast ---- */

static double mae(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs(a[i] - b[i]);
    return s / (double)n;
}

/* The band holds yhat and nothing is NaN. */
static void check_band(const double *yhat, const double *lo, const double *hi, size_t h) {
    size_t bad = 0;
    for (size_t i = 0; i < h; i++)
        if (!isfinite(yhat[i]) || !isfinite(lo[i]) || !isfinite(hi[i]) || lo[i] > yhat[i] ||
            hi[i] < yhat[i])
            bad++;
    if (bad) FAILF("%zu of %zu band points NaN or not around yhat", bad, h);
}

TEST(test_forecast_trend_daily_weekly) {
    /* two weeks of 5-minute data, forecast the next day; compare with the noise-free truth */
    size_t n = 4032, h = 288;
    double *y = malloc((n + h) * sizeof *y), *truth = malloc((n + h) * sizeof *truth);
    gen_5m(y, n + h, 11, 8);
    for (size_t i = 0; i < n + h; i++) {
        double day = (double)(i % 288) / 288.0, dow = (double)((i / 288) % 7);
        truth[i] = 50 + 0.002 * (double)i + 10 * sin(2 * M_PI * day) + 4 * cos(4 * M_PI * day) +
                   (dow >= 5 ? -8 : 0);
    }
    double yhat[288], lo[288], hi[288];
    fc_opts o = {.step_s = 300};
    fc_info info;
    CHECK_EQ_INT(0, fc_forecast(y, n, h, &o, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
    double e = mae(yhat, truth + n, h), naive[288];
    fc__naive(y, n, NULL, 0, h, naive);
    double en = mae(naive, truth + n, h);
    printf("  trend+daily+weekly: model %s note \"%s\" periods %zu,%zu MAE vs truth %.3f (naive %.3f, "
           "noise sd 1.5) backtest sMAPE %.2f MASE %.3f\n", fc_model_name(info.model), info.note,
           info.periods[0], info.periods[1], e, en, info.smape, info.mase);
    /* the daily amplitude is 10 and the weekend dip 8: a forecast that has the shape is
     * within a third of either and far better than the last value */
    if (!(e < 3.5 && e < 0.4 * en)) FAILF("MAE vs truth %.3f, want < 3.5 and < 0.4 x naive %.3f", e, en);
    CHECK(info.model != FC_AUTO);
    CHECK(isfinite(info.smape) && isfinite(info.mase));
    free(y);
    free(truth);
}

TEST(test_forecast_level_shift) {
    /* flat at 10, then at 20 for the last 100 of 600 hourly points */
    size_t n = 600, h = 24;
    double y[600], yhat[24], lo[24], hi[24];
    rng r = {21};
    for (size_t i = 0; i < n; i++) y[i] = (i < 500 ? 10 : 20) + 0.5 * gauss(&r);
    fc_opts o = {.step_s = 3600};
    fc_info info;
    CHECK_EQ_INT(0, fc_forecast(y, n, h, &o, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
    double m = 0;
    for (size_t i = 0; i < h; i++) m += yhat[i] / (double)h;
    printf("  level shift: model %s, mean forecast %.3f (want 20)\n", fc_model_name(info.model), m);
    CHECK_NEAR(20.0, m, 1.0);
}

TEST(test_forecast_outliers_and_gaps) {
    /* hourly daily cycle, 4 weeks; spikes of 100x, a 2-day gap, scattered NaN and +-Inf */
    size_t n = 672, h = 48;
    double y[672 + 48], truth[48], yhat[48], lo[48], hi[48];
    gen_hourly(y, n + h, 31, 10, 1);
    for (size_t i = 0; i < h; i++) truth[i] = 100 + 10 * sin(2 * M_PI * (double)(n + i) / 24);
    y[100] = 1e4;
    y[350] = -1e4;
    y[600] = 1e4;
    for (size_t i = 400; i < 448; i++) y[i] = NAN;
    for (size_t i = 3; i < n; i += 11) y[i] = NAN;
    y[500] = INFINITY;
    y[501] = -INFINITY;
    fc_opts o = {.step_s = 3600};
    fc_info info;
    CHECK_EQ_INT(0, fc_forecast(y, n, h, &o, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
    double e = mae(yhat, truth, h);
    printf("  outliers+gaps: model %s periods %zu MAE vs truth %.3f\n", fc_model_name(info.model),
           info.periods[0], e);
    if (!(e < 3.0)) FAILF("MAE vs truth %.3f, want < 3 (amplitude 10)", e);
    /* trailing gap: still a forecast */
    for (size_t i = n - 30; i < n; i++) y[i] = NAN;
    CHECK_EQ_INT(0, fc_forecast(y, n, h, &o, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
}

TEST(test_forecast_constant_and_short) {
    double y[50], yhat[10], lo[10], hi[10];
    for (int i = 0; i < 50; i++) y[i] = 4.25;
    y[7] = NAN;
    fc_info info;
    CHECK_EQ_INT(0, fc_forecast(y, 50, 10, NULL, yhat, lo, hi, &info));
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_DBL(4.25, yhat[i]);
        CHECK_EQ_DBL(4.25, lo[i]);
        CHECK_EQ_DBL(4.25, hi[i]);
    }
    CHECK_EQ_STR("constant series", info.note);
    /* three points: naive, band from the one-step differences */
    double s[] = {NAN, 1, 3, 2};
    CHECK_EQ_INT(0, fc_forecast(s, 4, 10, NULL, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, 10);
    for (int i = 0; i < 10; i++) CHECK_EQ_DBL(2.0, yhat[i]);
    CHECK_EQ_INT(FC_NAIVE, info.model);
    CHECK_EQ_STR("3 points: naive", info.note);
    CHECK(hi[9] > hi[0]);
    /* one point: zero width */
    double one[] = {5};
    CHECK_EQ_INT(0, fc_forecast(one, 1, 3, NULL, yhat, NULL, NULL, &info));
    CHECK_EQ_DBL(5.0, yhat[2]);
    /* errors */
    double nan2[] = {NAN, INFINITY};
    CHECK_EQ_INT(FC_EINVAL, fc_forecast(nan2, 2, 3, NULL, yhat, lo, hi, &info));
    CHECK_EQ_INT(FC_EINVAL, fc_forecast(s, 4, 0, NULL, yhat, lo, hi, &info));
    fc_opts bad = {.coverage = 1.0};
    CHECK_EQ_INT(FC_EINVAL, fc_forecast(s, 4, 3, &bad, yhat, lo, hi, &info));
    fc_opts badm = {.model = FC_N_MODELS};
    CHECK_EQ_INT(FC_EINVAL, fc_forecast(s, 4, 3, &badm, yhat, lo, hi, &info));
}

TEST(test_forecast_huge_values_and_forced_models) {
    size_t n = 300, h = 30;
    double y[300], yhat[30], lo[30], hi[30];
    rng r = {41};
    for (size_t i = 0; i < n; i++)
        y[i] = 1e306 * (5 + sin(2 * M_PI * (double)i / 24) + 0.1 * gauss(&r));
    fc_opts o = {0};
    fc_info info;
    CHECK_EQ_INT(0, fc_forecast(y, n, h, &o, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
    /* every model by name; the seasonal ones told the period */
    for (int m = FC_SEASONAL; m < FC_N_MODELS; m++) {
        fc_opts om = {.model = m, .periods = {24}};
        CHECK_EQ_INT(0, fc_forecast(y, n, h, &om, yhat, lo, hi, &info));
        check_band(yhat, lo, hi, h);
        if (info.model != m) FAILF("model %s ran as %s (%s)", fc_model_name(m), fc_model_name(info.model), info.note);
    }
    /* seasonal naive without any period falls back and says so */
    for (size_t i = 0; i < n; i++) y[i] = (double)i;
    fc_opts sn = {.model = FC_SEASONAL_NAIVE};
    CHECK_EQ_INT(0, fc_forecast(y, n, h, &sn, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
    CHECK(info.model != FC_SEASONAL_NAIVE);
    CHECK(strstr(info.note, "seasonal_naive could not run") != NULL);
    /* near +-DBL_MAX: clamped, never Inf or NaN */
    for (size_t i = 0; i < n; i++) y[i] = DBL_MAX * (i % 2 ? 1.0 : -1.0);
    CHECK_EQ_INT(0, fc_forecast(y, n, h, &o, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
}

/* Series kinds for the coverage study: each is a plausible metric shape. */
static void gen_kind(int kind, uint64_t seed, double *y, size_t n) {
    rng r = {seed};
    double s = 0, a = 0, ph = unif(&r) * 24;
    double amp = 2 + 8 * unif(&r), sd = 0.5 + 2 * unif(&r);
    for (size_t i = 0; i < n; i++) {
        double t = (double)i;
        switch (kind) {
        case 0: /* daily cycle + trend + noise */
            y[i] = 50 + 0.01 * t + amp * sin(2 * M_PI * (t + ph) / 24) + sd * gauss(&r);
            break;
        case 1: /* random walk */
            y[i] = 100 + (s += sd * gauss(&r));
            break;
        case 2: /* AR(1) around a level */
            a = 0.7 * a + sd * gauss(&r);
            y[i] = 30 + a;
            break;
        case 3: /* daily cycle with AR(1) noise */
            a = 0.5 * a + sd * gauss(&r);
            y[i] = 80 + amp * sin(2 * M_PI * (t + ph) / 24) + 0.5 * amp * (((size_t)t / 24) % 7 >= 5 ? -1 : 0) + a;
            break;
        default: /* linear trend + noise */
            y[i] = 10 + 0.05 * t + sd * gauss(&r);
            break;
        }
    }
}

/* Fraction of future values inside the band, over many series and horizons. */
static double coverage_study(double cov, size_t n_series, size_t n, size_t h, double *mean_ms) {
    double *y = malloc((n + h) * sizeof *y), *yhat = malloc(h * sizeof *yhat);
    double *lo = malloc(h * sizeof *lo), *hi = malloc(h * sizeof *hi);
    size_t in = 0, tot = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t k = 0; k < n_series; k++) {
        gen_kind((int)(k % 5), 1000 + k, y, n + h);
        fc_opts o = {.coverage = cov, .step_s = 3600};
        fc_info info;
        if (fc_forecast(y, n, h, &o, yhat, lo, hi, &info)) { FAILF("series %zu failed", k); continue; }
        check_band(yhat, lo, hi, h);
        for (size_t i = 0; i < h; i++, tot++) in += y[n + i] >= lo[i] && y[n + i] <= hi[i];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *mean_ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) /
               (double)n_series;
    free(y); free(yhat); free(lo); free(hi);
    return (double)in / (double)tot;
}

TEST(test_forecast_band_coverage) {
    static const double covs[] = {0.8, 0.95, 0.5};
    static const size_t hs[] = {24, 6, 72};
    for (size_t c = 0; c < 3; c++) {
        double ms, got = coverage_study(covs[c], 200, 24 * 21, hs[c], &ms);
        printf("  coverage nominal %.2f h=%zu: empirical %.3f over 200 series (%.2f ms/forecast)\n",
               covs[c], hs[c], got, ms);
        if (fabs(got - covs[c]) > 0.05) FAILF("coverage %.3f, nominal %.2f", got, covs[c]);
    }
}

TEST(test_forecast_timing_n4032) {
    size_t n = 4032, h = 288, reps = 20;
    double *y = malloc(n * sizeof *y), yhat[288], lo[288], hi[288];
    gen_5m(y, n, 51, 8);
    fc_opts o = {.step_s = 300};
    fc_info info;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < reps; i++) CHECK_EQ_INT(0, fc_forecast(y, n, h, &o, yhat, lo, hi, &info));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / (double)reps;
    printf("  fc_forecast(auto) n=4032 h=288: %.2f ms (model %s, %s)\n", ms, fc_model_name(info.model), info.note);
    free(y);
}

/* ---- real data ---- */


TEST(test_forecast_nab_ec2_cpu) {
    double *y = malloc(8192 * sizeof *y);
    size_t n = fc_test_nab("ec2_cpu_utilization_5f5533", y, 8192);
    if (!n) { free(y); return; }
    CHECK(n > 4000);
    /* hold out the last 288 (one day at 5 minutes) */
    size_t h = 288, tr = n - h;
    double yhat[288], lo[288], hi[288];
    fc_opts o = {.step_s = 300};
    fc_info info;
    CHECK_EQ_INT(0, fc_forecast(y, tr, h, &o, yhat, lo, hi, &info));
    check_band(yhat, lo, hi, h);
    size_t in = 0;
    for (size_t i = 0; i < h; i++) in += y[tr + i] >= lo[i] && y[tr + i] <= hi[i];
    double sm = fc_smape(y + tr, yhat, h), ms = fc_mase(y, tr, 288, y + tr, yhat, h);
    double naive[288];
    fc__naive(y, tr, NULL, 0, h, naive);
    double sm_naive = fc_smape(y + tr, naive, h);
    printf("  NAB ec2_cpu_5f5533: model %s periods %zu,%zu note \"%s\": holdout sMAPE %.2f (naive %.2f) "
           "MASE %.3f, 80%% band holds %.0f%%\n", fc_model_name(info.model), info.periods[0],
           info.periods[1], info.note, sm, sm_naive, ms, 100.0 * (double)in / (double)h);
    CHECK(isfinite(sm));
    if (!(sm < 1.5 * sm_naive + 1)) FAILF("sMAPE %.2f much worse than naive %.2f", sm, sm_naive);
    free(y);
}

/* A noiseless periodic series: the seasonal-naive scale is rounding noise (~1e-14), so the
 * reported MASE of an exact forecast must not come out as noise / noise (it did: ~1.4). */
TEST(test_forecast_exact_periodic_mase) {
    double y[24 * 21], yhat[24], lo[24], hi[24];
    for (int i = 0; i < 24 * 21; i++) y[i] = -100 + 10 * sin(2 * M_PI * i / 24.0);
    fc_info info;
    CHECK_EQ_INT(0, fc_forecast(y, 24 * 21, 24, NULL, yhat, lo, hi, &info));
    for (int k = 0; k < 24; k++) CHECK(fabs(yhat[k] - (-100 + 10 * sin(2 * M_PI * (24 * 21 + k) / 24.0))) < 1e-6);
    CHECK(info.smape < 1e-6);
    if (!(info.mase < 0.1)) FAILF("mase %g for an exact forecast", info.mase);
}
