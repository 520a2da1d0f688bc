/* Unit tests for query/kernels.c: PromQL's function arithmetic on plain arrays.
 * Most expected values come from Prometheus v2.53.5's own test data
 * (/work/shared/promql-tests/functions.test, histograms.test), reproduced here at the kernel
 * level: each test builds the samples a `load` block would store, takes the window an `eval`
 * would select ([t - range, t], closed) and checks the number the test file expects. The
 * rest are worked out by hand in the comments next to them. */
#include "query/kernels.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

#define MIN_MS (60 * 1000)

/* Samples as a `load <step>` line stores them: value i at i * step. */
typedef struct series {
    int64_t t[2100];
    double v[2100];
    size_t n;
} series;

/* Append `a+bxN`: N+1 values a, a+b, ... (N = count). */
static void series_lin(series *s, int64_t step_ms, double a, double b, size_t count) {
    for (size_t i = 0; i <= count && s->n < 2100; i++, s->n++) {
        s->t[s->n] = (int64_t)s->n * step_ms;
        s->v[s->n] = a + b * (double)i;
    }
}

static void series_vals(series *s, int64_t step_ms, const double *v, size_t n) {
    for (size_t i = 0; i < n && s->n < 2100; i++, s->n++) {
        s->t[s->n] = (int64_t)s->n * step_ms;
        s->v[s->n] = v[i];
    }
}

/* The samples of s in [lo, hi], as a range selector would hand them over. */
static pqk_win window(const series *s, int64_t lo, int64_t hi) {
    size_t i = 0, j;
    while (i < s->n && s->t[i] < lo) i++;
    for (j = i; j < s->n && s->t[j] <= hi; j++) {}
    pqk_win w = {s->t + i, s->v + i, j - i, lo, hi};
    return w;
}

/* `range` ending at eval time `at` (both ms). */
static pqk_win window_at(const series *s, int64_t at, int64_t range) {
    return window(s, at - range, at);
}

/* Within a relative 1e-12, for values Prometheus' test files print rounded. */
#define CHECK_NEAR(exp, act)                                                      \
    do {                                                                          \
        double e_ = (exp), a_ = (act);                                            \
        if (!(fabs(e_ - a_) <= 1e-12 * fmax(fabs(e_), 1e-300)) && !(e_ == a_))    \
            FAILF("%s: expected %.17g, got %.17g", #act, e_, a_);                 \
    } while (0)
#define CHECK_NAN(act)                                                            \
    do {                                                                          \
        double a_ = (act);                                                        \
        if (!isnan(a_)) FAILF("%s: expected NaN, got %.17g", #act, a_);           \
    } while (0)

static double rate_of(const pqk_win *w, bool counter, bool is_rate) {
    double r = -12345;
    if (!pqk_extrapolated_rate(w, counter, is_rate, &r)) FAILF("extrapolated_rate gave no output");
    return r;
}

TEST(test_kernels_increase_extrapolates_to_zero) {
    series foo = {0}, bar = {0}, dings = {0}, bumms = {0};
    series_lin(&foo, 5 * MIN_MS, 0, 10, 10);
    series_lin(&bar, 5 * MIN_MS, 0, 10, 5);
    series_lin(&bar, 5 * MIN_MS, 0, 10, 5);
    series_lin(&dings, 5 * MIN_MS, 10, 10, 10);
    series_lin(&bumms, 5 * MIN_MS, 1, 10, 10);
    pqk_win w;
    /* increase(http_requests[50m]) at 50m */
    w = window_at(&foo, 50 * MIN_MS, 50 * MIN_MS);
    CHECK_EQ_DBL(100, rate_of(&w, true, false));
    w = window_at(&bar, 50 * MIN_MS, 50 * MIN_MS);
    CHECK_EQ_DBL(90, rate_of(&w, true, false));
    w = window_at(&dings, 50 * MIN_MS, 50 * MIN_MS);
    CHECK_EQ_DBL(100, rate_of(&w, true, false));
    /* [100m], Prometheus 2.42's order (zero point first, then the 1.1-gap threshold):
     * dings reaches zero 300 s back, within the 330 s threshold, so the extrapolation goes
     * the full 300 s: 100 x 3300/3000 = 110 (2.46+ would cut it to half a gap: 105);
     * bumms reaches zero 30 s back: 100 x 3030/3000 = 101 either way. */
    w = window_at(&foo, 50 * MIN_MS, 100 * MIN_MS);
    CHECK_EQ_DBL(100, rate_of(&w, true, false));
    w = window_at(&bar, 50 * MIN_MS, 100 * MIN_MS);
    CHECK_EQ_DBL(90, rate_of(&w, true, false));
    w = window_at(&dings, 50 * MIN_MS, 100 * MIN_MS);
    CHECK(fabs(rate_of(&w, true, false) - 110) < 1e-9);
    w = window_at(&bumms, 50 * MIN_MS, 100 * MIN_MS);
    CHECK_EQ_DBL(101, rate_of(&w, true, false));
}

TEST(test_kernels_rate_counter_resets) {
    static const double v1[] = {0, 1, 2, 3, 2, 3, 4};
    series s = {0}, mid = {0}, end = {0};
    series_vals(&s, 5 * MIN_MS, v1, 7);
    pqk_win w = window_at(&s, 30 * MIN_MS, 30 * MIN_MS);
    CHECK_EQ_DBL(7, rate_of(&w, true, false)); /* 3 2 is read as 3 0 1 2 */

    series_lin(&mid, 5 * MIN_MS, 0, 10, 4);
    series_lin(&mid, 5 * MIN_MS, 0, 10, 5);
    w = window_at(&mid, 50 * MIN_MS, 50 * MIN_MS);
    CHECK_NEAR(0.03, rate_of(&w, true, true));

    series_lin(&end, 5 * MIN_MS, 0, 10, 9);
    static const double tail[] = {0, 10};
    series_vals(&end, 5 * MIN_MS, tail, 2);
    w = window_at(&end, 50 * MIN_MS, 5 * MIN_MS); /* 90 then 0: a reset to 0 adds nothing */
    CHECK_EQ_DBL(0, rate_of(&w, true, true));
}

TEST(test_kernels_rate_per_second_and_offset) {
    series win = {0}, a = {0}, b = {0};
    series_lin(&win, 5 * MIN_MS, 0, 80, 10);
    series_lin(&a, 5 * MIN_MS, 0, 10, 10);
    series_lin(&b, 5 * MIN_MS, 0, 20, 10);
    pqk_win w = window_at(&win, 50 * MIN_MS, 50 * MIN_MS);
    CHECK_NEAR(0.26666666666666666, rate_of(&w, true, true));
    /* rate(x[10m] offset 5m) at 50m: the window is [35m, 45m] */
    w = window(&a, 35 * MIN_MS, 45 * MIN_MS);
    CHECK_NEAR(0.03333333333333333, rate_of(&w, true, true));
    w = window(&b, 35 * MIN_MS, 45 * MIN_MS);
    CHECK_NEAR(0.06666666666666667, rate_of(&w, true, true));
}

TEST(test_kernels_rate_partial_window_and_delta) {
    /* delta(http_requests[20m]) at 20m */
    static const double up[] = {0, 50, 100, 150, 200}, down[] = {200, 150, 100, 50, 0};
    series u = {0}, d = {0};
    series_vals(&u, 5 * MIN_MS, up, 5);
    series_vals(&d, 5 * MIN_MS, down, 5);
    pqk_win w = window_at(&u, 20 * MIN_MS, 20 * MIN_MS);
    CHECK_EQ_DBL(200, rate_of(&w, false, false));
    w = window_at(&d, 20 * MIN_MS, 20 * MIN_MS);
    CHECK_EQ_DBL(-200, rate_of(&w, false, false));

    /* Samples at 100 s and 160 s (values 10, 16) in a window [0, 300 s]: the gap is 60 s, so
     * the 100 s to the start and the 140 s to the end are both beyond 66 s and each side
     * gets 30 s: increase 6 * 120 / 60 = 12. As a counter, the zero point is 100 s back,
     * not closer than 30 s. Rate divides by the 300 s range. */
    static const int64_t t2[] = {100000, 160000};
    static const double v2[] = {10, 16};
    pqk_win p = {t2, v2, 2, 0, 300000};
    CHECK_EQ_DBL(12, rate_of(&p, false, false));
    CHECK_EQ_DBL(12, rate_of(&p, true, false));
    CHECK_EQ_DBL(0.04, rate_of(&p, true, true));
    /* A counter at 1 then 7: zero is 10 s before the first sample, closer than 30 s. */
    static const double v3[] = {1, 7};
    p.v = v3;
    CHECK_EQ_DBL(6.0 * 100 / 60, rate_of(&p, true, false));
    /* delta of a falling gauge is extrapolated both ways: -6 * 120 / 60 */
    static const double v4[] = {16, 10};
    p.v = v4;
    CHECK_EQ_DBL(-12, rate_of(&p, false, false));
    /* negative first value: no zero-point rule */
    static const double v5[] = {-5, 1};
    p.v = v5;
    CHECK_EQ_DBL(12, rate_of(&p, true, false));
}

TEST(test_kernels_rate_edges) {
    double r = 7;
    static const int64_t t1[] = {1000};
    static const double v1[] = {5};
    pqk_win one = {t1, v1, 1, 0, 60000};
    CHECK(!pqk_extrapolated_rate(&one, true, true, &r));
    pqk_win none = {NULL, NULL, 0, 0, 60000};
    CHECK(!pqk_extrapolated_rate(&none, true, true, &r));
    CHECK_EQ_DBL(7, r); /* untouched without output */

    /* Two samples at the same time: sampled interval 0, Prometheus computes 0/0. */
    static const int64_t teq[] = {30000, 30000};
    static const double veq[] = {1, 3};
    pqk_win eq = {teq, veq, 2, 0, 60000};
    CHECK_NAN(rate_of(&eq, true, true));

    /* NaN and Inf pass through the arithmetic. */
    static const int64_t t2[] = {0, 60000};
    static const double vnan[] = {1, NAN}, vinf[] = {1, INFINITY};
    pqk_win wn = {t2, vnan, 2, 0, 60000};
    CHECK_NAN(rate_of(&wn, true, true));
    pqk_win wi = {t2, vinf, 2, 0, 60000};
    CHECK_EQ_DBL(INFINITY, rate_of(&wi, true, false));
}

TEST(test_kernels_irate_idelta) {
    series foo = {0}, bar = {0};
    series_lin(&foo, 5 * MIN_MS, 0, 10, 10);
    series_lin(&bar, 5 * MIN_MS, 0, 10, 5);
    series_lin(&bar, 5 * MIN_MS, 0, 10, 5);
    double r = -1;
    pqk_win w = window_at(&foo, 50 * MIN_MS, 50 * MIN_MS);
    CHECK(pqk_instant_rate(&w, true, &r));
    CHECK_NEAR(0.03333333333333333, r);
    w = window_at(&bar, 50 * MIN_MS, 50 * MIN_MS);
    CHECK(pqk_instant_rate(&w, true, &r));
    CHECK_NEAR(0.03333333333333333, r);
    w = window_at(&bar, 30 * MIN_MS, 50 * MIN_MS); /* 50 then 0: reset, last value alone */
    CHECK(pqk_instant_rate(&w, true, &r));
    CHECK_EQ_DBL(0, r);

    static const double up[] = {0, 50, 100, 150}, dip[] = {0, 50, 100, 50};
    series u = {0}, d = {0};
    series_vals(&u, 5 * MIN_MS, up, 4);
    series_vals(&d, 5 * MIN_MS, dip, 4);
    w = window_at(&u, 20 * MIN_MS, 20 * MIN_MS);
    CHECK(pqk_instant_rate(&w, false, &r));
    CHECK_EQ_DBL(50, r);
    w = window_at(&d, 20 * MIN_MS, 20 * MIN_MS);
    CHECK(pqk_instant_rate(&w, false, &r));
    CHECK_EQ_DBL(-50, r);

    /* irate after a reset: 3 then 2 over 4 s is 2 / 4 = 0.5 per second */
    static const int64_t t3[] = {0, 10000, 14000};
    static const double v3[] = {1, 3, 2};
    pqk_win x = {t3, v3, 3, 0, 20000};
    CHECK(pqk_instant_rate(&x, true, &r));
    CHECK_EQ_DBL(0.5, r);

    r = 9;
    static const int64_t teq[] = {5000, 5000};
    pqk_win eq = {teq, v3, 2, 0, 20000};
    CHECK(!pqk_instant_rate(&eq, true, &r));
    CHECK(!pqk_instant_rate(&eq, false, &r));
    pqk_win one = {t3, v3, 1, 0, 20000};
    CHECK(!pqk_instant_rate(&one, true, &r));
    CHECK_EQ_DBL(9, r);
}

TEST(test_kernels_changes_resets) {
    static const double foo[] = {1, 2, 3, 0, 1, 0, 0, 1, 2, 0};
    static const double bar[] = {1, 2, 3, 4, 5, 1, 2, 3, 4, 5};
    static const double biz[] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
    series f = {0}, b = {0}, z = {0};
    series_vals(&f, 5 * MIN_MS, foo, 10);
    series_vals(&b, 5 * MIN_MS, bar, 10);
    series_vals(&z, 5 * MIN_MS, biz, 10);
    /* functions.test at 50m: resets for [5m] [20m] [30m] [50m], then changes */
    static const int64_t ranges[] = {5, 20, 30, 50};
    static const double resets[3][4] = {{0, 1, 2, 3}, {0, 0, 1, 1}, {0, 0, 0, 0}};
    static const double changes[3][4] = {{0, 3, 4, 8}, {0, 3, 5, 9}, {0, 0, 1, 1}};
    const series *all[3] = {&f, &b, &z};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 4; i++) {
            pqk_win w = window_at(all[s], 50 * MIN_MS, ranges[i] * MIN_MS);
            double r = -1, c = -1;
            CHECK(pqk_resets(&w, &r) && pqk_changes(&w, &c));
            if (r != resets[s][i]) FAILF("series %d [%" PRId64 "m]: resets %g, want %g", s, ranges[i], r, resets[s][i]);
            if (c != changes[s][i]) FAILF("series %d [%" PRId64 "m]: changes %g, want %g", s, ranges[i], c, changes[s][i]);
        }
    }
    /* NaN to NaN is no change; 0 NaN 0 is two. */
    static const double nn[] = {NAN, NAN, NAN}, zn[] = {0, NAN, 0};
    series a = {0}, c = {0};
    series_vals(&a, 5 * MIN_MS, nn, 3);
    series_vals(&c, 5 * MIN_MS, zn, 3);
    double r = -1;
    pqk_win w = window_at(&a, 15 * MIN_MS, 15 * MIN_MS);
    CHECK(pqk_changes(&w, &r));
    CHECK_EQ_DBL(0, r);
    w = window_at(&c, 15 * MIN_MS, 15 * MIN_MS);
    CHECK(pqk_changes(&w, &r));
    CHECK_EQ_DBL(2, r);
    CHECK(pqk_resets(&w, &r)); /* comparisons with NaN are false: no reset */
    CHECK_EQ_DBL(0, r);

    w = window_at(&c, 0, 0); /* one sample */
    CHECK(pqk_changes(&w, &r) && r == 0);
    CHECK(pqk_resets(&w, &r) && r == 0);
    pqk_win none = {NULL, NULL, 0, 0, 1000};
    CHECK(!pqk_changes(&none, &r));
    CHECK(!pqk_resets(&none, &r));
}

TEST(test_kernels_deriv_predict_linear) {
    series mid = {0}, lin = {0};
    series_lin(&mid, 5 * MIN_MS, 0, 10, 4);
    series_lin(&mid, 5 * MIN_MS, 0, 10, 5);
    series_lin(&lin, 5 * MIN_MS, 0, 80, 10);
    double r = 0;
    pqk_win w = window_at(&lin, 50 * MIN_MS, 50 * MIN_MS);
    CHECK(pqk_deriv(&w, &r));
    CHECK_NEAR(0.26666666666666666, r);
    w = window_at(&mid, 50 * MIN_MS, 100 * MIN_MS);
    CHECK(pqk_deriv(&w, &r));
    CHECK_NEAR(0.010606060606060607, r);

    /* predict_linear(testcounter_reset_middle[50m], 3600) at 50m, then with @ 3000 evaluated
     * at 10m and 70m: same window, the intercept moves with the evaluation time. */
    w = window(&mid, 0, 50 * MIN_MS);
    CHECK(pqk_predict_linear(&w, 50 * MIN_MS, 3600, &r));
    CHECK_NEAR(76.81818181818181, r);
    CHECK(pqk_predict_linear(&w, 10 * MIN_MS, 3600, &r));
    CHECK_NEAR(51.36363636363637, r);
    CHECK(pqk_predict_linear(&w, 70 * MIN_MS, 3600, &r));
    CHECK_NEAR(89.54545454545455, r);
    /* On a straight line predict_linear(x, d) == x + deriv * d. */
    w = window_at(&lin, 50 * MIN_MS, 50 * MIN_MS);
    double slope;
    CHECK(pqk_deriv(&w, &slope) && pqk_predict_linear(&w, 50 * MIN_MS, 3600, &r));
    CHECK_NEAR(800 + slope * 3600, r);

    /* Constant values: slope 0 exactly, prediction the value; constant Inf: NaN. */
    static const int64_t t[] = {0, 15000, 30000};
    static const double c[] = {4.5, 4.5, 4.5}, ci[] = {INFINITY, INFINITY, INFINITY};
    pqk_win cw = {t, c, 3, 0, 30000};
    CHECK(pqk_deriv(&cw, &r));
    CHECK_EQ_DBL(0, r);
    CHECK(pqk_predict_linear(&cw, 30000, 600, &r));
    CHECK_EQ_DBL(4.5, r);
    cw.v = ci;
    CHECK(pqk_deriv(&cw, &r));
    CHECK_NAN(r);
    /* Equal timestamps with different values: var(x) = 0, 0/0. */
    static const int64_t teq[] = {1000, 1000};
    static const double veq[] = {1, 2};
    pqk_win eq = {teq, veq, 2, 0, 1000};
    CHECK(pqk_deriv(&eq, &r));
    CHECK_NAN(r);
    pqk_win one = {t, c, 1, 0, 30000};
    CHECK(!pqk_deriv(&one, &r));
    CHECK(!pqk_predict_linear(&one, 0, 1, &r));
}

TEST(test_kernels_holt_winters) {
    /* functions.test: holt_winters(http_requests[1m], 0.01, 0.1) at 8000s, loaded at 10s */
    static const struct { double a1, b1, a2, b2, want; } cases[] = {
        {0, 10, 100, 30, 8000},      {0, 20, 200, 30, 16000},    {0, 30, 300, 80, 24000},
        {8000, -10, 0, 0, 0},        {0, -20, 0, 0, -16000},     {0, -40, 0, 40, -32000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        series s = {0};
        series_lin(&s, 10000, cases[i].a1, cases[i].b1, 1000);
        series_lin(&s, 10000, cases[i].a2, cases[i].b2, 1000);
        pqk_win w = window_at(&s, 8000000, MIN_MS);
        CHECK_EQ_INT(7, w.n);
        double r = 0;
        CHECK(pqk_holt_winters(&w, 0.01, 0.1, &r));
        if (!(fabs(r - cases[i].want) <= 1e-9 * fmax(1, fabs(cases[i].want))))
            FAILF("case %zu: expected %g, got %.17g", i, cases[i].want, r);
    }
    /* By hand, sf = tf = 0.5 on 1 3 4: s = 1, b = 2; i=1: s = 0.5*3 + 0.5*(1+2) = 3;
     * i=2: b = 0.5*(3-1) + 0.5*2 = 2, s = 0.5*4 + 0.5*(3+2) = 4.5 */
    static const int64_t t[] = {0, 1000, 2000};
    static const double v[] = {1, 3, 4};
    pqk_win w = {t, v, 3, 0, 2000};
    double r = 0;
    CHECK(pqk_holt_winters(&w, 0.5, 0.5, &r));
    CHECK_EQ_DBL(4.5, r);
    w.n = 2; /* two samples: s = 0.5*3 + 0.5*(1+2) */
    CHECK(pqk_holt_winters(&w, 0.5, 0.5, &r));
    CHECK_EQ_DBL(3, r);
    w.n = 1;
    CHECK(!pqk_holt_winters(&w, 0.5, 0.5, &r));
}

static double over_time(int which, const double *v, size_t n) {
    int64_t t[16];
    double scratch[16];
    for (size_t i = 0; i < n; i++) t[i] = (int64_t)i * 10000;
    pqk_win w = {t, v, n, 0, 60000};
    double r = -12345;
    if (!pqk_over_time(which, &w, scratch, &r)) FAILF("over_time(%d) gave no output", which);
    return r;
}

TEST(test_kernels_avg_sum_over_time_infinities) {
    /* functions.test "Tests for avg_over_time": avg, then sum/count. */
    const double big = 9.988465674311579e+307;
    static const struct { double v[5]; size_t n; double avg, sum_div; } c[] = {
        {{1, 2, 3, 4, 5}, 5, 3, 3},
        {{1, 2, 3, 4, INFINITY}, 5, INFINITY, INFINITY},
        {{1, 2, 3, 4, -INFINITY}, 5, -INFINITY, -INFINITY},
        {{1, 2, 3, INFINITY, -INFINITY}, 5, NAN, NAN},
        {{INFINITY, 0, INFINITY}, 3, INFINITY, INFINITY},
        {{INFINITY, INFINITY, INFINITY, -INFINITY}, 4, NAN, NAN},
        {{1, 2, 3, -INFINITY, -INFINITY}, 5, -INFINITY, -INFINITY},
        {{-INFINITY, 0, -INFINITY}, 3, -INFINITY, -INFINITY},
        {{-INFINITY, -INFINITY, -INFINITY, INFINITY}, 4, NAN, NAN},
        {{1, 2, -INFINITY, -INFINITY, INFINITY}, 5, NAN, NAN},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        double avg = over_time(PQK_AVG, c[i].v, c[i].n);
        double sd = over_time(PQK_SUM, c[i].v, c[i].n) / over_time(PQK_COUNT, c[i].v, c[i].n);
        if (!(avg == c[i].avg || (isnan(avg) && isnan(c[i].avg))))
            FAILF("case %zu: avg expected %g, got %g", i, c[i].avg, avg);
        if (!(sd == c[i].sum_div || (isnan(sd) && isnan(c[i].sum_div))))
            FAILF("case %zu: sum/count expected %g, got %g", i, c[i].sum_div, sd);
    }
    /* Near the top of the float range the mean stays finite while the sum overflows. */
    const double m8[] = {big, big}, m9[] = {-big, -big, -big}, m10[] = {-big, big};
    CHECK_EQ_DBL(big, over_time(PQK_AVG, m8, 2));
    CHECK_EQ_DBL(INFINITY, over_time(PQK_SUM, m8, 2));
    CHECK_EQ_DBL(-big, over_time(PQK_AVG, m9, 3));
    CHECK_EQ_DBL(-INFINITY, over_time(PQK_SUM, m9, 3));
    CHECK_EQ_DBL(0, over_time(PQK_AVG, m10, 2));
    CHECK_EQ_DBL(0, over_time(PQK_SUM, m10, 2));
    /* Compensated sum keeps what the big terms would swallow. */
    static const double cancel[] = {1, 1e100, 1, -1e100};
    CHECK_EQ_DBL(2, over_time(PQK_SUM, cancel, 4));
    static const double tenths[] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    CHECK_EQ_DBL(1, over_time(PQK_SUM, tenths, 10)); /* naive summation gives 0.9999999999999999 */
    static const double nanv[] = {1, NAN, 2};
    CHECK_NAN(over_time(PQK_SUM, nanv, 3));
    CHECK_NAN(over_time(PQK_AVG, nanv, 3));
}

TEST(test_kernels_stddev_stdvar_mad) {
    static const double m[] = {0, 8, 8, 2, 3};
    CHECK_NEAR(10.56, over_time(PQK_STDVAR, m, 5));
    CHECK_NEAR(sqrt(10.56), over_time(PQK_STDDEV, m, 5));
    if (fabs(over_time(PQK_STDDEV, m, 5) - 3.249615) > 1e-6) FAILF("stddev not 3.249615");
    /* #4927: identical values give exactly 0, not a rounding residue. */
    static const double same[] = {1.5990505637277868, 1.5990505637277868, 1.5990505637277868};
    CHECK_EQ_DBL(0, over_time(PQK_STDVAR, same, 3));
    CHECK_EQ_DBL(0, over_time(PQK_STDDEV, same, 3));
    static const double one[] = {42};
    CHECK_EQ_DBL(0, over_time(PQK_STDVAR, one, 1));
    /* mad_over_time: median 2, deviations 2 4 0 1 997 1 0 -> median 1 */
    static const double mad[] = {4, 6, 2, 1, 999, 1, 2};
    CHECK_EQ_DBL(1, over_time(PQK_MAD, mad, 7));
    static const double mad2[] = {1, 2, 3, 4}; /* median 2.5, deviations 1.5 .5 .5 1.5 -> 1 */
    CHECK_EQ_DBL(1, over_time(PQK_MAD, mad2, 4));
    CHECK_EQ_DBL(0, over_time(PQK_MAD, one, 1));
    static const double inf[] = {1, INFINITY};
    CHECK_NAN(over_time(PQK_STDVAR, inf, 2));
}

TEST(test_kernels_min_max_last_count_present) {
    /* functions.test "Tests for *_over_time" */
    static const double data[5][3] = {
        {2, 0, 3}, {2, 0, NAN}, {2, NAN, 1}, {NAN, 0, 1}, {NAN, NAN, NAN},
    };
    static const double mins[] = {0, 0, 1, 0, NAN}, maxs[] = {3, 2, 2, 1, NAN};
    static const double lasts[] = {3, NAN, 1, 1, NAN};
    for (int i = 0; i < 5; i++) {
        double mn = over_time(PQK_MIN, data[i], 3), mx = over_time(PQK_MAX, data[i], 3);
        double ls = over_time(PQK_LAST, data[i], 3);
        if (!(mn == mins[i] || (isnan(mn) && isnan(mins[i])))) FAILF("row %d: min %g, want %g", i, mn, mins[i]);
        if (!(mx == maxs[i] || (isnan(mx) && isnan(maxs[i])))) FAILF("row %d: max %g, want %g", i, mx, maxs[i]);
        if (!(ls == lasts[i] || (isnan(ls) && isnan(lasts[i])))) FAILF("row %d: last %g, want %g", i, ls, lasts[i]);
        CHECK_EQ_DBL(3, over_time(PQK_COUNT, data[i], 3));
        CHECK_EQ_DBL(1, over_time(PQK_PRESENT, data[i], 3));
    }
    static const double inf[] = {-INFINITY, 5, INFINITY};
    CHECK_EQ_DBL(-INFINITY, over_time(PQK_MIN, inf, 3));
    CHECK_EQ_DBL(INFINITY, over_time(PQK_MAX, inf, 3));

    /* An empty window gives no output for every kind. */
    pqk_win none = {NULL, NULL, 0, 0, 60000};
    double r = 5, scratch[1];
    for (int k = PQK_AVG; k <= PQK_MAD; k++) CHECK(!pqk_over_time(k, &none, scratch, &r));
    CHECK(!pqk_quantile_over_time(0.5, &none, scratch, &r));
    CHECK_EQ_DBL(5, r);
}

TEST(test_kernels_quantile_over_time) {
    /* functions.test "Tests for quantile_over_time": two, three and uneven samples */
    static const double two[] = {0, 1}, three[] = {0, 1, 2}, uneven[] = {0, 1, 4};
    static const struct { double q, w2, w3, wu; } c[] = {
        {0, 0, 0, 0},         {0.5, 0.5, 1, 1},   {0.75, 0.75, 1.5, 2.5},
        {0.8, 0.8, 1.6, 2.8}, {1, 1, 2, 4},       {-1, -INFINITY, -INFINITY, -INFINITY},
        {2, INFINITY, INFINITY, INFINITY},
    };
    int64_t t[3] = {0, 10000, 20000};
    double scratch[3], r;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        pqk_win w2 = {t, two, 2, 0, 60000}, w3 = {t, three, 3, 0, 60000}, wu = {t, uneven, 3, 0, 60000};
        CHECK(pqk_quantile_over_time(c[i].q, &w2, scratch, &r));
        CHECK_NEAR(c[i].w2, r);
        CHECK(pqk_quantile_over_time(c[i].q, &w3, scratch, &r));
        CHECK_NEAR(c[i].w3, r);
        CHECK(pqk_quantile_over_time(c[i].q, &wu, scratch, &r));
        CHECK_NEAR(c[i].wu, r);
    }
    /* The window's values are not reordered; the copy in scratch is. */
    static const double desc[] = {4, 1, 0};
    pqk_win wd = {t, desc, 3, 0, 60000};
    CHECK(pqk_quantile_over_time(0.5, &wd, scratch, &r));
    CHECK_EQ_DBL(1, r);
    CHECK(desc[0] == 4 && desc[2] == 0);
    CHECK(pqk_quantile_over_time(NAN, &wd, scratch, &r));
    CHECK_NAN(r);
}

TEST(test_kernels_quantile_sorting_and_nan) {
    double v[] = {3, 1, 2};
    CHECK_EQ_DBL(2, pqk_quantile(0.5, v, 3));
    CHECK(v[0] == 1 && v[1] == 2 && v[2] == 3); /* sorted in place */
    CHECK_NAN(pqk_quantile(0.5, v, 0));
    CHECK_NAN(pqk_quantile(NAN, v, 3));
    CHECK_EQ_DBL(-INFINITY, pqk_quantile(-0.1, v, 3));
    CHECK_EQ_DBL(INFINITY, pqk_quantile(1.1, v, 3));
    /* NaN sorts first (as Prometheus' vectorByValueHeap): the lowest rank is NaN, the top
     * is the largest number. */
    double w[] = {5, NAN, 1};
    CHECK_NAN(pqk_quantile(0, w, 3));
    double x[] = {5, NAN, 1};
    CHECK_EQ_DBL(5, pqk_quantile(1, x, 3));
    double y[] = {5, NAN, 1}; /* rank 1 of NaN, 1, 5 */
    CHECK_EQ_DBL(1, pqk_quantile(0.5, y, 3));
    double z[] = {7};
    CHECK_EQ_DBL(7, pqk_quantile(0.9, z, 1));
    /* The weighted average multiplies the neighbour by weight 0, and Inf * 0 is NaN, in
     * Go as in C: Prometheus returns NaN for the median of -Inf 0 +Inf. */
    double inf[] = {-INFINITY, 0, INFINITY};
    CHECK_NAN(pqk_quantile(0.5, inf, 3));
    CHECK_EQ_DBL(-INFINITY, pqk_quantile(0, inf, 3));
    CHECK_EQ_DBL(INFINITY, pqk_quantile(0.75, inf, 3)); /* 0 * 0.5 + Inf * 0.5 */
}

static double bq(double q, const pqk_bucket *src, size_t n) {
    pqk_bucket b[16];
    memcpy(b, src, n * sizeof *b);
    return pqk_bucket_quantile(q, b, n);
}

TEST(test_kernels_bucket_quantile_histograms_test) {
    /* histograms.test at 50m: counts are 10 x the per-step increments (order shuffled,
     * the kernel sorts by bound). */
    static const pqk_bucket pos[] = {{1, 110}, {0.1, 50}, {INFINITY, 120}, {0.2, 70}};
    static const pqk_bucket neg[] = {{-0.2, 10}, {-0.1, 20}, {0.3, 20}, {INFINITY, 30}};
    CHECK_EQ_DBL(-INFINITY, bq(-0.1, pos, 4));
    CHECK_EQ_DBL(INFINITY, bq(1.01, neg, 4));
    CHECK_NAN(bq(NAN, pos, 4));
    CHECK_EQ_DBL(0, bq(0, pos, 4));
    CHECK_EQ_DBL(-0.2, bq(0, neg, 4)); /* lowest bucket bound <= 0 is returned as is */
    CHECK_EQ_DBL(1, bq(1, pos, 4));    /* +Inf bucket: the highest finite bound */
    CHECK_EQ_DBL(0.3, bq(1, neg, 4));
    CHECK_NEAR(0.048, bq(0.2, pos, 4));
    CHECK_EQ_DBL(-0.2, bq(0.2, neg, 4));
    CHECK_NEAR(0.15, bq(0.5, pos, 4));
    CHECK_NEAR(-0.15, bq(0.5, neg, 4));
    CHECK_NEAR(0.72, bq(0.8, pos, 4));
    CHECK_EQ_DBL(0.3, bq(0.8, neg, 4));

    /* testhistogram2 at 7m: each quantile in the middle of its bucket */
    static const pqk_bucket h2[] = {{0, 0}, {2, 1}, {4, 2}, {6, 3}, {INFINITY, 3}};
    CHECK_NEAR(1, bq(1. / 6., h2, 5));
    CHECK_EQ_DBL(3, bq(0.5, h2, 5));
    CHECK_NEAR(5, bq(5. / 6., h2, 5));

    /* sum(rate(request_duration_seconds_bucket[5m])) by (le): 10, 19, 25 per 300 s */
    static const pqk_bucket agg[] = {{0.1, 10. / 300}, {0.2, 19. / 300}, {INFINITY, 25. / 300}};
    CHECK_NEAR(0.075, bq(0.3, agg, 3));
    CHECK_NEAR(0.1277777777777778, bq(0.5, agg, 3));
}

TEST(test_kernels_bucket_quantile_monotonic_and_coalesce) {
    /* nonmonotonic_bucket at 50m: 20 10 50 40 90 80 read as 20 20 50 50 90 90 */
    static const pqk_bucket nm[] = {{0.1, 20}, {1, 10}, {10, 50}, {100, 40}, {1000, 90}, {INFINITY, 80}};
    CHECK_NEAR(0.0045, bq(0.01, nm, 6));
    CHECK_NEAR(8.5, bq(0.5, nm, 6));
    CHECK_NEAR(979.75, bq(0.99, nm, 6));

    /* mixed_bucket: le "0.2", "2e-1", "2.0e-1" are one bucket with the counts summed */
    static const pqk_bucket mixed[] = {{0.1, 1}, {0.2, 1}, {0.2, 1}, {0.2, 1}, {INFINITY, 4}};
    CHECK_NEAR(0.15, bq(0.5, mixed, 5));
    CHECK_NEAR(0.2, bq(0.75, mixed, 5));
    CHECK_EQ_DBL(0.2, bq(1, mixed, 5));
    /* "+inf" and "+Inf" coalesce into one bucket: fewer than 2 -> NaN */
    static const pqk_bucket infs[] = {{INFINITY, 0}, {INFINITY, 0}};
    CHECK_NAN(bq(0.5, infs, 2));
    /* empty_bucket: no observations */
    static const pqk_bucket empty[] = {{0.1, 0}, {0.2, 0}, {INFINITY, 0}};
    CHECK_NAN(bq(0.2, empty, 3));
    /* no +Inf bucket, a single bucket, no bucket */
    static const pqk_bucket noinf[] = {{0.1, 1}, {0.2, 2}};
    CHECK_NAN(bq(0.5, noinf, 2));
    static const pqk_bucket single[] = {{INFINITY, 5}};
    CHECK_NAN(bq(0.5, single, 1));
    CHECK_NAN(pqk_bucket_quantile(0.5, NULL, 0));
    /* -Inf as the last bound is not +Inf */
    static const pqk_bucket neginf[] = {{-INFINITY, 1}, {-1, 2}};
    CHECK_NAN(bq(0.5, neginf, 2));

    /* A relative difference under 1e-12 is float noise and ignored in both directions:
     * counts 10, 10(1+1e-13), 10(1+1e-13) are read as 10 10 10, so q=1 falls into the
     * first bucket (1), not the second (2). */
    const double up = 10 * (1 + 1e-13);
    const pqk_bucket noise[] = {{1, 10}, {2, up}, {INFINITY, up}};
    CHECK_EQ_DBL(1, bq(1, noise, 3));
    /* A real increase is kept: q=1 of 10 10.5 10.5 is in the second bucket. */
    const pqk_bucket real[] = {{1, 10}, {2, 10.5}, {INFINITY, 10.5}};
    CHECK_EQ_DBL(2, bq(1, real, 3));
}

TEST(test_kernels_date_functions_test) {
    /* functions.test "Test time-related functions" */
    CHECK_EQ_DBL(1970, pqk_date(PQK_YEAR, 0));
    CHECK_EQ_DBL(1, pqk_date(PQK_MONTH, 0));
    CHECK_EQ_DBL(1, pqk_date(PQK_DAY_OF_MONTH, 0));
    CHECK_EQ_DBL(1, pqk_date(PQK_DAY_OF_YEAR, 0));
    CHECK_EQ_DBL(4, pqk_date(PQK_DAY_OF_WEEK, 0)); /* Thursday */
    CHECK_EQ_DBL(0, pqk_date(PQK_HOUR, 0));
    CHECK_EQ_DBL(0, pqk_date(PQK_MINUTE, 0));
    CHECK_EQ_DBL(31, pqk_date(PQK_DAYS_IN_MONTH, 0));
    /* 2006-01-02 22:04:05, a Monday */
    CHECK_EQ_DBL(2006, pqk_date(PQK_YEAR, 1136239445));
    CHECK_EQ_DBL(1, pqk_date(PQK_MONTH, 1136239445));
    CHECK_EQ_DBL(2, pqk_date(PQK_DAY_OF_MONTH, 1136239445));
    CHECK_EQ_DBL(2, pqk_date(PQK_DAY_OF_YEAR, 1136239445));
    CHECK_EQ_DBL(1, pqk_date(PQK_DAY_OF_WEEK, 1136239445));
    CHECK_EQ_DBL(22, pqk_date(PQK_HOUR, 1136239445));
    CHECK_EQ_DBL(4, pqk_date(PQK_MINUTE, 1136239445));
    CHECK_EQ_DBL(2008, pqk_date(PQK_YEAR, 1230767999));
    CHECK_EQ_DBL(2009, pqk_date(PQK_YEAR, 1230768000));
    CHECK_NEAR(2.29, pqk_date(PQK_MONTH, 1456790399) + pqk_date(PQK_DAY_OF_MONTH, 1456790399) / 100);
    CHECK_NEAR(3.01, pqk_date(PQK_MONTH, 1456790400) + pqk_date(PQK_DAY_OF_MONTH, 1456790400) / 100);
    CHECK_EQ_DBL(366, pqk_date(PQK_DAY_OF_YEAR, 1483191420));
    CHECK_EQ_DBL(365, pqk_date(PQK_DAY_OF_YEAR, 1672493820));
    CHECK_EQ_DBL(29, pqk_date(PQK_DAYS_IN_MONTH, 1454284800));
    CHECK_EQ_DBL(28, pqk_date(PQK_DAYS_IN_MONTH, 1485907200));
}

TEST(test_kernels_date_negative_and_truncation) {
    /* -1: 1969-12-31 23:59:59, a Wednesday, day 365 */
    CHECK_EQ_DBL(1969, pqk_date(PQK_YEAR, -1));
    CHECK_EQ_DBL(12, pqk_date(PQK_MONTH, -1));
    CHECK_EQ_DBL(31, pqk_date(PQK_DAY_OF_MONTH, -1));
    CHECK_EQ_DBL(23, pqk_date(PQK_HOUR, -1));
    CHECK_EQ_DBL(59, pqk_date(PQK_MINUTE, -1));
    CHECK_EQ_DBL(3, pqk_date(PQK_DAY_OF_WEEK, -1));
    CHECK_EQ_DBL(365, pqk_date(PQK_DAY_OF_YEAR, -1));
    /* Go's int64() truncates toward zero: -0.5 and 0.9 are both 1970-01-01 00:00:00. */
    CHECK_EQ_DBL(1970, pqk_date(PQK_YEAR, -0.5));
    CHECK_EQ_DBL(0, pqk_date(PQK_HOUR, -0.5));
    CHECK_EQ_DBL(1970, pqk_date(PQK_YEAR, 0.9));
    CHECK_EQ_DBL(23, pqk_date(PQK_HOUR, -1.5)); /* -1 s */
    /* 1968-12-31 (leap year): day 366, a Tuesday */
    CHECK_EQ_DBL(366, pqk_date(PQK_DAY_OF_YEAR, -31622400));
    CHECK_EQ_DBL(2, pqk_date(PQK_DAY_OF_WEEK, -31622400));
    /* 1900-02-01: 1900 is not a leap year; 2000-02-29: 2000 is */
    CHECK_EQ_DBL(28, pqk_date(PQK_DAYS_IN_MONTH, -2206310400.0));
    CHECK_EQ_DBL(32, pqk_date(PQK_DAY_OF_YEAR, -2206310400.0));
    CHECK_EQ_DBL(4, pqk_date(PQK_DAY_OF_WEEK, -2206310400.0));
    CHECK_EQ_DBL(29, pqk_date(PQK_DAYS_IN_MONTH, 951782400));
    CHECK_EQ_DBL(29, pqk_date(PQK_DAY_OF_MONTH, 951782400));
    CHECK_EQ_DBL(60, pqk_date(PQK_DAY_OF_YEAR, 951782400));
    CHECK_EQ_DBL(2, pqk_date(PQK_DAY_OF_WEEK, 951782400));
    /* 1600-12-31 23:59:59 (leap, divisible by 400), a Sunday; year 1 and 9999 */
    CHECK_EQ_DBL(1600, pqk_date(PQK_YEAR, -11644473601.0));
    CHECK_EQ_DBL(366, pqk_date(PQK_DAY_OF_YEAR, -11644473601.0));
    CHECK_EQ_DBL(0, pqk_date(PQK_DAY_OF_WEEK, -11644473601.0));
    CHECK_EQ_DBL(1, pqk_date(PQK_YEAR, -62135596800.0));
    CHECK_EQ_DBL(1, pqk_date(PQK_DAY_OF_WEEK, -62135596800.0));
    CHECK_EQ_DBL(9999, pqk_date(PQK_YEAR, 253402300799.0));
    CHECK_EQ_DBL(5, pqk_date(PQK_DAY_OF_WEEK, 253402300799.0));
    /* NaN and out-of-range times do not crash (Go's conversion gives INT64_MIN on amd64). */
    double y = pqk_date(PQK_YEAR, NAN);
    CHECK(!isnan(y));
    CHECK(pqk_date(PQK_YEAR, INFINITY) == y);
}

TEST(test_kernels_kahan_add) {
    /* Neumaier: the compensation holds what the running sum cannot. */
    double s = 0, c = 0;
    pqk_kahan_add(1e16, &s, &c);
    pqk_kahan_add(1, &s, &c);
    pqk_kahan_add(-1e16, &s, &c);
    CHECK_EQ_DBL(0, s);
    CHECK_EQ_DBL(1, s + c);
}
