/* Unit tests for forecast/ets.c: exponential smoothing fitted and selected per series.
 * Synthetic series from a fixed-seed generator (xorshift64 + Box-Muller), so every run sees
 * the same numbers. Accuracy is the mean absolute error of the forecast against the noise-free
 * signal, bounded relative to the noise's sigma. The hand-checkable case: for a level plus
 * noise series ETS(A,N,N) must win, and its forecast must equal the textbook simple
 * exponential smoothing recursion l = alpha y + (1 - alpha) l (from l0 = mean of the first 10
 * points) at the alpha that minimises its SSE, found here by a plain grid search. */
#include "forecast/forecast_int.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s ? s : 88172645463325252ull; }

static double unif(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void) { return sqrt(-2.0 * log(unif())) * cos(2.0 * M_PI * unif()); }

/* Forecast y[0..n) h steps and return the MAE against truth[n..n+h). Fails on a non-zero
 * status or a non-finite forecast. */
static double ets_mae(const double *y, size_t n, size_t m, size_t h, const double *truth) {
    double *out = malloc(h * sizeof *out);
    size_t per[1] = {m};
    int rc = fc__ets(y, n, per, m ? 1 : 0, h, out);
    double mae = 0;
    if (rc != 0) FAILF("fc__ets returned %d", rc);
    for (size_t k = 0; k < h; k++) {
        if (!isfinite(out[k])) { FAILF("out[%zu] = %g", k, out[k]); mae = INFINITY; break; }
        mae += fabs(out[k] - truth[n + k]);
    }
    free(out);
    return mae / (double)h;
}

#define CHECK_LE(bound, act)                                                         \
    do {                                                                             \
        double b_ = (bound), a_ = (act);                                             \
        if (!(a_ <= b_)) FAILF("%s: expected <= %.6g, got %.6g", #act, b_, a_);      \
    } while (0)

/* Textbook SES: l0 = mean of the first min(10, n) values, then l = alpha y + (1-alpha) l.
 * Returns the final level (the forecast for every horizon); *sse = sum of (y - l_prev)^2. */
static double ses(const double *y, size_t n, double alpha, double *sse) {
    size_t w = n < 10 ? n : 10;
    double l = 0;
    for (size_t t = 0; t < w; t++) l += y[t];
    l /= (double)w;
    *sse = 0;
    for (size_t t = 0; t < n; t++) {
        *sse += (y[t] - l) * (y[t] - l);
        l = alpha * y[t] + (1 - alpha) * l;
    }
    return l;
}

TEST(test_ets_ses_textbook_recursion) {
    /* By hand, alpha 0.5 on 10, 12, 11, 13: l0 = 11.5, then 10.75, 11.375, 11.1875, 12.09375. */
    double tiny[4] = {10, 12, 11, 13}, sse;
    CHECK_EQ_DBL(12.09375, ses(tiny, 4, 0.5, &sse));
    /* A local level (random walk) plus noise: ETS(A,N,N) is the right model. */
    enum { N = 300, H = 5 };
    double y[N], lvl = 20, out[H];
    rng_seed(7);
    for (size_t t = 0; t < N; t++) {
        lvl += 0.5 * gauss();
        y[t] = lvl + gauss();
    }
    double best_a = 0, best_sse = INFINITY;
    for (int i = 1; i <= 9999; i++) {
        double a = i * 1e-4, s;
        ses(y, N, a, &s);
        if (s < best_sse) { best_sse = s; best_a = a; }
    }
    /* The optimiser stops when its simplex is small and flat (relative 1e-4 on the SSE), not
     * at the exact minimum, so accept the SES forecast of any alpha whose SSE is within a
     * relative 1e-3 of the minimum. */
    double want_lo = INFINITY, want_hi = -INFINITY;
    for (int i = 1; i <= 9999; i++) {
        double a = i * 1e-4, s, l = ses(y, N, a, &s);
        if (s > best_sse * (1 + 1e-3)) continue;
        want_lo = fmin(want_lo, l);
        want_hi = fmax(want_hi, l);
    }
    CHECK_EQ_INT(0, fc__ets(y, N, NULL, 0, H, out));
    for (size_t k = 0; k < H; k++) {
        if (!(out[k] >= want_lo - 1e-9 && out[k] <= want_hi + 1e-9))
            FAILF("out[%zu] = %.6f, SES near alpha %.4f gives %.6f..%.6f", k, out[k], best_a,
                  want_lo, want_hi);
        CHECK_EQ_DBL(out[0], out[k]); /* no trend, no season: flat */
    }
    (void)sse;
}

TEST(test_ets_level_noise) {
    enum { N = 500, H = 24 };
    double y[N + H];
    rng_seed(1);
    for (size_t t = 0; t < N + H; t++) y[t] = 50 + gauss();
    double truth[N + H];
    for (size_t t = 0; t < N + H; t++) truth[t] = 50;
    CHECK_LE(0.4, ets_mae(y, N, 0, H, truth)); /* sigma 1 */
}

TEST(test_ets_trend_noise) {
    enum { N = 300, H = 30 };
    double y[N + H], truth[N + H];
    rng_seed(2);
    for (size_t t = 0; t < N + H; t++) {
        truth[t] = 10 + 0.5 * (double)t;
        y[t] = truth[t] + gauss();
    }
    CHECK_LE(1.5, ets_mae(y, N, 0, H, truth)); /* sigma 1; a naive forecast is off by ~8 */
}

static void seasonal_case(size_t m, size_t seasons, double sigma, double *mae_out) {
    size_t n = m * seasons, h = 2 * m;
    double *y = malloc((n + h) * sizeof *y), *truth = malloc((n + h) * sizeof *truth);
    for (size_t t = 0; t < n + h; t++) {
        double ph = 2.0 * M_PI * (double)(t % m) / (double)m;
        truth[t] = 100 + 0.002 * (double)t + 20 * sin(ph) + 5 * cos(2 * ph);
        y[t] = truth[t] + sigma * gauss();
    }
    *mae_out = ets_mae(y, n, m, h, truth);
    free(y);
    free(truth);
}

TEST(test_ets_additive_season_24) {
    double mae;
    rng_seed(3);
    seasonal_case(24, 14, 1.0, &mae);
    CHECK_LE(0.6, mae); /* sigma 1; ignoring the season costs ~13 */
}

TEST(test_ets_additive_season_288) {
    double mae;
    rng_seed(4);
    seasonal_case(288, 14, 2.0, &mae);
    CHECK_LE(1.0, mae); /* sigma 2 */
}

TEST(test_ets_additive_season_two_seasons_only) {
    /* 2m points: R's AICc with the m - 1 seasonal states; must still run and be finite. */
    double mae;
    rng_seed(5);
    seasonal_case(24, 2, 0.5, &mae);
    CHECK_LE(3.0, mae);
}

TEST(test_ets_multiplicative_season) {
    enum { M = 24, N = 24 * 12, H = 48 };
    double y[N + H], truth[N + H];
    rng_seed(6);
    for (size_t t = 0; t < N + H; t++) {
        double ph = 2.0 * M_PI * (double)(t % M) / M;
        truth[t] = (50 + 0.2 * (double)t) * (1 + 0.4 * sin(ph));
        y[t] = truth[t] + 0.5 * gauss();
    }
    /* the amplitude grows from 20 to 43: an additive season would lag behind it */
    CHECK_LE(2.0, ets_mae(y, N, M, H, truth));
}

TEST(test_ets_damped_trend) {
    /* A saturating curve: the slope decays by 0.98 a step; a straight line would overshoot
     * by ~1.5 at h = 40. */
    enum { N = 80, H = 40 };
    double y[N + H], truth[N + H];
    rng_seed(8);
    for (size_t t = 0; t < N + H; t++) {
        truth[t] = 100 + 30 * (1 - pow(0.98, (double)t));
        y[t] = truth[t] + 0.2 * gauss();
    }
    CHECK_LE(1.2, ets_mae(y, N, 0, H, truth));
}

TEST(test_ets_nan_gaps) {
    enum { M = 24, N = 24 * 14, H = 48 };
    double y[N + H], truth[N + H];
    rng_seed(9);
    for (size_t t = 0; t < N + H; t++) {
        double ph = 2.0 * M_PI * (double)(t % M) / M;
        truth[t] = 100 + 10 * sin(ph);
        y[t] = truth[t] + gauss();
        if (unif() < 0.1) y[t] = NAN;             /* 10% scattered gaps */
        if (t < 5 || (t >= 150 && t < 180)) y[t] = NAN; /* leading gap and a 30-point hole */
        if (t >= N - 6 && t < N) y[t] = NAN;      /* trailing gap */
    }
    y[40] = INFINITY; /* treated as missing too */
    CHECK_LE(0.8, ets_mae(y, N, M, H, truth));
}

TEST(test_ets_constant) {
    enum { N = 100, H = 30 };
    double y[N], out[H];
    size_t per[1] = {24};
    for (size_t t = 0; t < N; t++) y[t] = 7.5;
    CHECK_EQ_INT(0, fc__ets(y, N, per, 1, H, out));
    for (size_t k = 0; k < H; k++)
        if (!(fabs(out[k] - 7.5) <= 1e-9)) FAILF("out[%zu] = %.17g, want 7.5", k, out[k]);
    for (size_t t = 0; t < N; t++) y[t] = 0;
    CHECK_EQ_INT(0, fc__ets(y, N, NULL, 0, H, out));
    for (size_t k = 0; k < H; k++) CHECK_EQ_DBL(0, out[k]);
}

TEST(test_ets_short_input) {
    double out[10];
    size_t per[1] = {24};
    double three[3] = {1, 2, 3};
    CHECK_EQ_INT(FC_EINVAL, fc__ets(three, 3, NULL, 0, 10, out));
    double gappy[6] = {NAN, 1, NAN, 2, 3, NAN}; /* 3 finite */
    CHECK_EQ_INT(FC_EINVAL, fc__ets(gappy, 6, NULL, 0, 10, out));
    CHECK_EQ_INT(FC_EINVAL, fc__ets(three, 3, NULL, 0, 0, out)); /* h == 0 */
    double five[5] = {1, 2, 3, 4, 5};
    CHECK_EQ_INT(0, fc__ets(five, 5, per, 1, 10, out)); /* < 2 seasons: non-seasonal */
    for (size_t k = 0; k < 10; k++) {
        CHECK(isfinite(out[k]));
        CHECK(out[k] > 1 && out[k] < 10);
    }
    /* 30 points with period 24: seasonal variants are skipped, the fit still runs */
    double y[30];
    for (size_t t = 0; t < 30; t++) y[t] = 10 + sin((double)t);
    CHECK_EQ_INT(0, fc__ets(y, 30, per, 1, 10, out));
    for (size_t k = 0; k < 10; k++) CHECK(isfinite(out[k]) && fabs(out[k] - 10) < 2);
}

TEST(test_ets_extreme_values_stay_finite) {
    /* Huge spikes, a level jump of 1e12 and a period as long as half the series. */
    enum { N = 400, H = 50 };
    double y[N], out[H];
    size_t per[1] = {200};
    rng_seed(10);
    for (size_t t = 0; t < N; t++) {
        y[t] = (t < 300 ? 1.0 : 1e12) + gauss();
        if (t % 37 == 0) y[t] = -1e9;
    }
    CHECK_EQ_INT(0, fc__ets(y, N, per, 1, H, out));
    for (size_t k = 0; k < H; k++) CHECK(isfinite(out[k]));
}

TEST(test_ets_scale_invariant) {
    /* 1e300 x a seasonal series forecasts 1e300 x its forecast (the fit is scaled by 2^k). */
    enum { M = 24, N = 24 * 6, H = 24 };
    double y[N], big[N], out[H], out_big[H];
    size_t per[1] = {M};
    rng_seed(11);
    for (size_t t = 0; t < N; t++) {
        y[t] = 5 + sin(2.0 * M_PI * (double)(t % M) / M) + 0.1 * gauss();
        big[t] = ldexp(y[t], 1000);
    }
    CHECK_EQ_INT(0, fc__ets(y, N, per, 1, H, out));
    CHECK_EQ_INT(0, fc__ets(big, N, per, 1, H, out_big));
    for (size_t k = 0; k < H; k++) CHECK_EQ_DBL(ldexp(out[k], 1000), out_big[k]);
    for (size_t t = 0; t < N; t++) big[t] = DBL_MAX * (t % 2 ? 1.0 : -1.0);
    CHECK_EQ_INT(0, fc__ets(big, N, per, 1, H, out_big));
    for (size_t k = 0; k < H; k++) CHECK(isfinite(out_big[k]));
}
