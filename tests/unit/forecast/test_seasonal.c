/* Unit tests for forecast/seasonal.c (the trend + Fourier regression) and forecast/linalg.c
 * (fc__solve_spd). The model tests build 5-minute series (daily period 288 steps, weekly 2016)
 * with a known noiseless truth from a fixed-seed generator, hold out the next h steps and
 * bound the forecast's mean absolute error against that truth in units of the noise sd.
 * The bounds sit 2-10x above the errors measured when the tests were written (noted next
 * to them), so they catch a broken fit without being fragile. */
#include "forecast/forecast_int.h"
#include "fc_test.h"

#include <math.h>
#include <stdlib.h>

#define DAY 288
#define WEEK 2016

#define CHECK_BELOW(bound, act)                                                       \
    do {                                                                              \
        double b_ = (bound), a_ = (act);                                              \
        if (!(a_ <= b_)) FAILF("%s: expected <= %.4g, got %.4g", #act, b_, a_);       \
    } while (0)


/* Noiseless truth at step i: level + slope*i + daily shape + weekly shape (weekend dip). */
typedef struct shape {
    double level, slope, daily, weekly;
} shape;
static double truth(const shape *s, size_t i) {
    double t = (double)i;
    double d = sin(2 * M_PI * t / DAY) + 0.4 * cos(4 * M_PI * t / DAY) + 0.2 * sin(6 * M_PI * t / DAY);
    double wk = cos(2 * M_PI * t / WEEK) + 0.3 * sin(4 * M_PI * t / WEEK);
    return s->level + s->slope * t + s->daily * d + s->weekly * wk;
}

/* y[0..n+h) = truth + sd * noise; the model sees y[0..n), the test scores y_true[n..n+h). */
static void make(const shape *s, double sd, uint64_t seed, size_t n, size_t h, double *y,
                 double *yt) {
    rng r = {seed};
    for (size_t i = 0; i < n + h; i++) {
        yt[i] = truth(s, i);
        y[i] = yt[i] + sd * gauss(&r);
    }
}

static double mae(const double *a, const double *b, size_t h) {
    double s = 0;
    for (size_t i = 0; i < h; i++) s += fabs(a[i] - b[i]);
    return s / (double)h;
}

static int all_finite(const double *a, size_t h) {
    for (size_t i = 0; i < h; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

/* Fit on y[0..n), forecast h, return MAE against yt[n..n+h) divided by `unit` (-1 on error). */
static double score(const double *y, const double *yt, size_t n, size_t h, const size_t *per,
                    size_t np, double unit) {
    double *out = malloc(h * sizeof(double));
    if (!out) return -1;
    int rc = fc__seasonal(y, n, per, np, h, out);
    double e = -1;
    if (rc != 0) FAILF("fc__seasonal returned %d", rc);
    else if (!all_finite(out, h)) FAILF("non-finite forecast");
    else e = mae(out, yt + n, h) / unit;
    free(out);
    return e;
}

/* ---- linalg ---- */

TEST(test_linalg_solve_spd_known_system) {
    /* A = L L' with L = [2 0 0; 6 1 0; -8 5 3]; x = (1, 2, 3) -> b = A x */
    double A[9] = {4, 12, -16, 12, 37, -43, -16, -43, 98};
    double b[3] = {-20, -43, 192};
    CHECK_EQ_INT(0, fc__solve_spd(A, b, 3, 0));
    CHECK_NEAR(1.0, b[0], 1e-12);
    CHECK_NEAR(2.0, b[1], 1e-12);
    CHECK_NEAR(3.0, b[2], 1e-12);
    /* the lower triangle now holds L */
    CHECK_NEAR(2.0, A[0], 1e-12);
    CHECK_NEAR(6.0, A[3], 1e-12);
    CHECK_NEAR(1.0, A[4], 1e-12);
    CHECK_NEAR(-8.0, A[6], 1e-12);
    CHECK_NEAR(5.0, A[7], 1e-12);
    CHECK_NEAR(3.0, A[8], 1e-12);
    CHECK_EQ_DBL(12.0, A[1]); /* strict upper triangle untouched */
}

TEST(test_linalg_solve_spd_ridge_and_failures) {
    double I2[4] = {1, 0, 0, 1}, b[2] = {2, 4};
    CHECK_EQ_INT(0, fc__solve_spd(I2, b, 2, 1.0)); /* (I + 1 I) x = b */
    CHECK_NEAR(1.0, b[0], 1e-15);
    CHECK_NEAR(2.0, b[1], 1e-15);
    double indef[4] = {1, 2, 2, 1}, b2[2] = {1, 1};
    CHECK_EQ_INT(FC_EINVAL, fc__solve_spd(indef, b2, 2, 0));
    double sing[4] = {1, 1, 1, 1}, b3[2] = {1, 1};
    CHECK_EQ_INT(FC_EINVAL, fc__solve_spd(sing, b3, 2, 0));
    double sing2[4] = {1, 1, 1, 1}, b4[2] = {2, 2}; /* the ridge makes it solvable */
    CHECK_EQ_INT(0, fc__solve_spd(sing2, b4, 2, 1e-3));
    CHECK_NEAR(1.0, b4[0], 1e-3);
    CHECK_NEAR(1.0, b4[1], 1e-3);
    double empty[1] = {0}, be[1] = {0};
    CHECK_EQ_INT(0, fc__solve_spd(empty, be, 0, 0));
}

TEST(test_linalg_solve_spd_hilbert_6) {
    /* Hilbert matrix (condition ~1.5e7): b = H * ones must give back ones to ~1e-8 */
    double H[36], b[6];
    for (int i = 0; i < 6; i++) {
        b[i] = 0;
        for (int j = 0; j < 6; j++) {
            H[i * 6 + j] = 1.0 / (i + j + 1);
            b[i] += H[i * 6 + j];
        }
    }
    CHECK_EQ_INT(0, fc__solve_spd(H, b, 6, 0));
    for (int i = 0; i < 6; i++) CHECK_NEAR(1.0, b[i], 1e-8);
}

/* ---- seasonal model ---- */

TEST(test_seasonal_daily_weekly_trend) {
    /* 2 weeks of history (4032 points), trend + daily + weekly, noise sd 1 */
    enum { N = 2 * WEEK, H = DAY };
    static double y[N + H], yt[N + H];
    shape s = {100, 0.002, 10, 4};
    make(&s, 1.0, 42, N, H, y, yt);
    size_t per[2] = {DAY, WEEK};
    double e48 = score(y, yt, N, 48, per, 2, 1.0);
    double e288 = score(y, yt, N, H, per, 2, 1.0);
    printf("  daily+weekly+trend: MAE/sd vs truth h=48 %.3f, h=288 %.3f\n", e48, e288);
    CHECK(e48 >= 0);
    CHECK_BELOW(0.2, e48);  /* measured 0.044 */
    CHECK_BELOW(0.2, e288); /* measured 0.036 */
}

TEST(test_seasonal_daily_only_short_history) {
    /* 3 days, daily period only, the weekly hint is longer than the history and ignored */
    enum { N = 3 * DAY, H = DAY };
    static double y[N + H], yt[N + H];
    shape s = {50, -0.01, 5, 0};
    make(&s, 0.5, 7, N, H, y, yt);
    size_t per[2] = {DAY, WEEK};
    double e = score(y, yt, N, H, per, 2, 0.5);
    printf("  3 days daily: MAE/sd vs truth h=288 %.3f\n", e);
    CHECK(e >= 0);
    CHECK_BELOW(0.25, e); /* measured 0.050 */
}

TEST(test_seasonal_level_shift) {
    /* a deploy at 60% of the history lifts the level by 15 sd; the forecast must be at the
     * new level. Other runs put the shift at 90% and at 98% (the last 80 points). */
    enum { N = 2 * WEEK, H = DAY };
    static double y[N + H], yt[N + H];
    shape s = {100, 0, 10, 4};
    size_t per[2] = {DAY, WEEK};
    const double at[3] = {0.6, 0.9, 0.98};
    const double bound[3] = {0.3, 0.7, 1.0}; /* measured 0.088, 0.342, 0.364 */
    for (int c = 0; c < 3; c++) {
        make(&s, 1.0, 99 + (uint64_t)c, N, H, y, yt);
        for (size_t i = (size_t)(at[c] * N); i < N + H; i++) {
            y[i] += 15;
            yt[i] += 15;
        }
        double e = score(y, yt, N, H, per, 2, 1.0);
        printf("  level shift +15 sd at %.0f%%: MAE/sd vs truth h=288 %.3f\n", at[c] * 100, e);
        CHECK(e >= 0);
        CHECK_BELOW(bound[c], e);
    }
}

TEST(test_seasonal_slope_change) {
    /* the trend turns from +0.01/step to -0.005/step at 50%: extrapolate the new slope */
    enum { N = 2 * WEEK, H = DAY };
    static double y[N + H], yt[N + H];
    shape s = {100, 0, 10, 0};
    make(&s, 1.0, 5, N, H, y, yt);
    for (size_t i = 0; i < N + H; i++) {
        double tr = i < N / 2 ? 0.01 * (double)i : 0.01 * (N / 2) - 0.005 * (double)(i - N / 2);
        y[i] += tr;
        yt[i] += tr;
    }
    size_t per[1] = {DAY};
    double e = score(y, yt, N, H, per, 1, 1.0);
    printf("  slope change at 50%%: MAE/sd vs truth h=288 %.3f\n", e);
    CHECK(e >= 0);
    CHECK_BELOW(0.3, e); /* measured 0.103 */
}

TEST(test_seasonal_spikes_do_not_bend_the_fit) {
    /* 2% of the points get a +50 sd spike, a few -50 sd dips; plus one 30-point burst */
    enum { N = 2 * WEEK, H = DAY };
    static double y[N + H], yt[N + H];
    shape s = {100, 0.002, 10, 4};
    make(&s, 1.0, 1234, N, H, y, yt);
    rng r = {77};
    for (size_t i = 0; i < N; i++) {
        double u = unif(&r);
        if (u < 0.02) y[i] += 50;
        else if (u < 0.025) y[i] -= 50;
    }
    for (size_t i = N - 200; i < N - 170; i++) y[i] += 40;
    size_t per[2] = {DAY, WEEK};
    double e = score(y, yt, N, H, per, 2, 1.0);
    printf("  spikes: MAE/sd vs truth h=288 %.3f\n", e);
    CHECK(e >= 0);
    CHECK_BELOW(0.3, e); /* measured 0.099 */
}

TEST(test_seasonal_gaps) {
    /* 10% of the points missing at random, one missing day, and the last 5 points missing */
    enum { N = 2 * WEEK, H = DAY };
    static double y[N + H], yt[N + H];
    shape s = {100, 0.002, 10, 4};
    make(&s, 1.0, 555, N, H, y, yt);
    rng r = {8};
    for (size_t i = 0; i < N; i++)
        if (unif(&r) < 0.1) y[i] = NAN;
    for (size_t i = 5 * DAY; i < 6 * DAY; i++) y[i] = NAN;
    for (size_t i = N - 5; i < N; i++) y[i] = NAN;
    y[100] = INFINITY; /* treated as missing too */
    size_t per[2] = {DAY, WEEK};
    double e = score(y, yt, N, H, per, 2, 1.0);
    printf("  gaps: MAE/sd vs truth h=288 %.3f\n", e);
    CHECK(e >= 0);
    CHECK_BELOW(0.3, e); /* measured 0.070 */
}

TEST(test_seasonal_constant_series) {
    enum { N = 500, H = 20 };
    double y[N], out[H];
    for (size_t i = 0; i < N; i++) y[i] = i % 7 == 3 ? NAN : 42.5;
    size_t per[1] = {DAY};
    CHECK_EQ_INT(0, fc__seasonal(y, N, per, 1, H, out));
    for (size_t i = 0; i < H; i++) CHECK_EQ_DBL(42.5, out[i]);
    for (size_t i = 0; i < N; i++) y[i] = 0;
    CHECK_EQ_INT(0, fc__seasonal(y, N, per, 1, H, out));
    for (size_t i = 0; i < H; i++) CHECK_EQ_DBL(0.0, out[i]);
}

TEST(test_seasonal_exact_line_and_sine) {
    /* noiseless y = 3 + 0.5 i + 2 sin(2 pi i / 24): the forecast must be exact to ~1e-6 */
    enum { N = 240, H = 30 };
    double y[N], out[H];
    for (size_t i = 0; i < N; i++) y[i] = 3 + 0.5 * (double)i + 2 * sin(2 * M_PI * (double)i / 24);
    size_t per[1] = {24};
    CHECK_EQ_INT(0, fc__seasonal(y, N, per, 1, H, out));
    for (size_t j = 0; j < H; j++) {
        double i = (double)(N + j);
        CHECK_NEAR(3 + 0.5 * i + 2 * sin(2 * M_PI * i / 24), out[j], 1e-6 * (3 + 0.5 * i));
    }
}

TEST(test_seasonal_no_periods_trend_only) {
    /* no usable period (none given, or longer than half the history): a robust line */
    enum { N = 300, H = 50 };
    double y[N], out[H];
    rng r = {3};
    for (size_t i = 0; i < N; i++) y[i] = 10 - 0.05 * (double)i + 0.3 * gauss(&r);
    size_t per[1] = {200};
    for (int c = 0; c < 2; c++) {
        CHECK_EQ_INT(0, fc__seasonal(y, N, c ? per : NULL, c ? 1 : 0, H, out));
        double e = 0;
        for (size_t j = 0; j < H; j++) e += fabs(out[j] - (10 - 0.05 * (double)(N + j)));
        e /= H * 0.3;
        printf("  trend only (%s): MAE/sd vs truth h=50 %.3f\n", c ? "period 200" : "no period", e);
        CHECK_BELOW(0.1, e); /* measured 0.007 */
    }
}

TEST(test_seasonal_wrong_period_hint) {
    /* pure noise around a level, with a period hint: no invented season, no drift */
    enum { N = 1000, H = 100 };
    double y[N], out[H];
    rng r = {11};
    for (size_t i = 0; i < N; i++) y[i] = 20 + gauss(&r);
    size_t per[1] = {50};
    CHECK_EQ_INT(0, fc__seasonal(y, N, per, 1, H, out));
    double e = 0;
    for (size_t j = 0; j < H; j++) e += fabs(out[j] - 20);
    e /= H;
    printf("  noise with period hint 50: MAE vs level h=100 %.3f sd\n", e);
    CHECK_BELOW(0.2, e); /* measured 0.031 */
}

TEST(test_seasonal_too_short_is_einval) {
    double y[20], out[5];
    for (int i = 0; i < 20; i++) y[i] = i;
    CHECK_EQ_INT(FC_EINVAL, fc__seasonal(y, 11, NULL, 0, 5, out)); /* 11 points */
    for (int i = 0; i < 20; i += 2) y[i] = NAN;                    /* 10 finite of 20 */
    CHECK_EQ_INT(FC_EINVAL, fc__seasonal(y, 20, NULL, 0, 5, out));
    for (int i = 0; i < 20; i++) y[i] = NAN;
    CHECK_EQ_INT(FC_EINVAL, fc__seasonal(y, 20, NULL, 0, 5, out));
    for (int i = 0; i < 20; i++) y[i] = i;
    CHECK_EQ_INT(0, fc__seasonal(y, 12, NULL, 0, 5, out)); /* 12 points: runs */
    for (int j = 0; j < 5; j++) CHECK_NEAR(12.0 + j, out[j], 1e-6);
}

TEST(test_seasonal_never_nan) {
    /* awkward inputs: huge magnitudes, a single huge spike, tiny variation on a huge level,
     * odd periods (2, 3, equal, multiples), h much longer than the history */
    enum { N = 400, H = 1000 };
    static double y[N], out[H];
    rng r = {2024};
    size_t per[3] = {2, 3, 6};
    for (int c = 0; c < 5; c++) {
        for (size_t i = 0; i < N; i++) {
            double g = gauss(&r);
            switch (c) {
            case 0: y[i] = 1e300 * (0.5 + 0.1 * g); break;
            case 1: y[i] = i == 200 ? 1e250 : g; break;
            case 2: y[i] = 1e12 + 1e-3 * g; break;
            case 3: y[i] = (i % 3) * 1e-200; break;
            default: y[i] = i < 390 ? NAN : g; break;
            }
        }
        int rc = fc__seasonal(y, N, per, 3, H, out);
        if (c == 4) CHECK_EQ_INT(FC_EINVAL, rc);
        else if (rc == 0) CHECK(all_finite(out, H));
        else CHECK_EQ_INT(FC_EINVAL, rc);
    }
    size_t same[3] = {24, 24, 48};
    for (size_t i = 0; i < N; i++) y[i] = sin(2 * M_PI * (double)i / 24) + 0.1 * gauss(&r);
    CHECK_EQ_INT(0, fc__seasonal(y, N, same, 3, H, out));
    CHECK(all_finite(out, H));
}
