/* bench/backtest_bench.c: predictive (fc_decide) vs reactive scaling, replayed by fc_backtest
 * on the NAB cloud traces (/work/shared/data/nab, 5-minute steps).
 *
 * Each trace is put on an exact 5-minute grid (each grid point takes the last sample at or
 * before it) and turned into a load in "units" of capacity:
 *   CPU % traces: load = value / 100 * 10, the cores busy in a 10-core pool (50% -> 5 units);
 *   the others (bytes, requests): load = 10 * value / (max of the first 3 days), so the
 *   history's peak is 10 units.
 * Rule: target 0.7, up_at 0.8, down_at 0.3, lead 30 min, cooldown 30 min, a check every
 * 30 min (6 steps), horizon 4 h (48 steps), margin 0.05, upper band smoothed over 3 steps,
 * capacity in [1, 100], scale-down window always, coverage 0.8 (fc_forecast's default),
 * model auto. The replay starts after the first 3 days (from = 864); both policies start
 * at ceil(mean load of the last hour before `from` / 0.7), clamped.
 * Periodicity: the autocorrelation at the daily lag (288) over the whole trace; a trace is
 * "periodic" (counted in the summary) when it is >= 0.3. The strongest local peak of the
 * ACF over lags 4..300 is printed too (5f5533's 40-minute cycle shows as lag 8).
 * Caveat: a CPU trace at ~1% is 0.1 units, so it never leaves cap_min (53ea38, 24ae8d).
 * Output: one line per trace, the summary over the periodic ones (sums of minutes, mean of
 * mean capacities, ratios predictive / reactive), and `result ...` lines (key=value).
 */
/* link: ax_forecast */
#include "bench/nab.h"
#include "forecast/forecast.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEP 300
#define FROM 864
#define ACF_MIN 0.3

static const char *FILES[] = {
    "ec2_cpu_utilization_24ae8d", "ec2_cpu_utilization_53ea38", "ec2_cpu_utilization_5f5533",
    "ec2_cpu_utilization_77c1ca", "ec2_cpu_utilization_825cc2", "rds_cpu_utilization_cc0c53",
    "cpu_utilization_asg_misconfiguration", "ec2_network_in_257a54",
    "ec2_disk_write_bytes_1ef3de", "elb_request_count_8c0756",
};
#define N_FILES (sizeof FILES / sizeof FILES[0])

static void die(const char *what, const char *detail) {
    fprintf(stderr, "backtest_bench: %s: %s\n", what, detail);
    exit(1);
}


static double acf(const double *y, size_t n, size_t lag) {
    if (lag >= n) return NAN;
    double m = 0, d = 0, c = 0;
    for (size_t i = 0; i < n; i++) m += y[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) d += (y[i] - m) * (y[i] - m);
    for (size_t i = lag; i < n; i++) c += (y[i] - m) * (y[i - lag] - m);
    return d > 0 ? c / d : NAN;
}

typedef struct sum {
    double under_p, under_r, cap_p, cap_r;
    size_t act_p, act_r, n;
} sum;

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/work/shared/data/nab";
    fc_rule_cfg r = {0};
    r.step_s = STEP;
    r.horizon = 48;
    r.lead_s = 1800;
    r.cooldown_s = 1800;
    r.margin = 0.05;
    r.smooth = 3;
    r.cap_min = 1;
    r.cap_max = 100;
    r.target = 0.7;
    r.down_from_min = r.down_to_min = -1;
    r.fopts.step_s = STEP;
    const double up_at = 0.8, down_at = 0.3;
    const size_t every = 6;

    printf("%-37s %5s %5s %4s | %4s %4s | %7s %7s %5s | %6s %6s %5s | %5s\n", "trace", "acf1d",
           "acfpk", "lag", "actP", "actR", "underP", "underR", "P/R", "capP", "capR", "P/R",
           "sec");
    sum s = {0};
    for (size_t k = 0; k < N_FILES; k++) {
        size_t n;
        double t0;
        double *y = nab_load_grid(dir, FILES[k], &n, &t0);
        int pct = strstr(FILES[k], "cpu") != NULL;
        double scale = 0.1;
        if (!pct) {
            double mx = 0;
            for (size_t i = 0; i < FROM && i < n; i++) if (y[i] > mx) mx = y[i];
            scale = mx > 0 ? 10.0 / mx : 1;
        }
        for (size_t i = 0; i < n; i++) y[i] *= scale;

        double a1d = acf(y, n, 288), apk = -1;
        size_t lpk = 0;
        for (size_t l = 4; l <= 300; l++) {
            double a = acf(y, n, l);
            if (a > acf(y, n, l - 1) && a >= acf(y, n, l + 1) && a > apk) apk = a, lpk = l;
        }
        int periodic = a1d >= ACF_MIN;

        double m = 0;
        for (size_t i = FROM - 12; i < FROM; i++) m += y[i];
        double start = ceil(m / 12 / r.target - 1e-9);
        if (start < r.cap_min) start = r.cap_min;
        if (start > r.cap_max) start = r.cap_max;

        struct timespec a, b;
        fc_bt_result p, q;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int rc = fc_backtest(&r, y, n, t0, FROM, every, up_at, down_at, start, FC_BT_PREDICTIVE, &p);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (rc) die(FILES[k], "predictive backtest failed");
        if (fc_backtest(&r, y, n, t0, FROM, every, up_at, down_at, start, FC_BT_REACTIVE, &q))
            die(FILES[k], "reactive backtest failed");
        double sec = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
        printf("%-37s %5.2f %5.2f %4zu | %4zu %4zu | %7.0f %7.0f %5.2f | %6.2f %6.2f %5.2f | %5.1f%s\n",
               FILES[k], a1d, apk, lpk, p.actions, q.actions, p.minutes_under, q.minutes_under,
               q.minutes_under > 0 ? p.minutes_under / q.minutes_under : NAN, p.mean_capacity,
               q.mean_capacity, p.mean_capacity / q.mean_capacity, sec, periodic ? "  periodic" : "");
        printf("result trace=%s periodic=%d acf_day=%.4f acf_peak=%.4f acf_peak_lag=%zu "
               "start=%.0f steps=%zu pred_actions=%zu pred_under_min=%.0f pred_mean_cap=%.4f "
               "reac_actions=%zu reac_under_min=%.0f reac_mean_cap=%.4f pred_sec=%.2f\n",
               FILES[k], periodic, a1d, apk, lpk, start, p.steps, p.actions, p.minutes_under,
               p.mean_capacity, q.actions, q.minutes_under, q.mean_capacity, sec);
        if (periodic) {
            s.under_p += p.minutes_under;
            s.under_r += q.minutes_under;
            s.cap_p += p.mean_capacity;
            s.cap_r += q.mean_capacity;
            s.act_p += p.actions;
            s.act_r += q.actions;
            s.n++;
        }
        fflush(stdout);
        free(y);
    }
    if (s.n) {
        printf("\nperiodic traces (%zu): actions %zu vs %zu; under-provisioned %.0f vs %.0f min "
               "(P/R %.2f); mean capacity %.2f vs %.2f (P/R %.2f)\n", s.n, s.act_p, s.act_r,
               s.under_p, s.under_r, s.under_r > 0 ? s.under_p / s.under_r : NAN, s.cap_p / (double)s.n,
               s.cap_r / (double)s.n, s.cap_p / s.cap_r);
        int goal = s.under_p <= 0.5 * s.under_r && s.cap_p <= s.cap_r;
        printf("goal (under-provisioned time at most half of reactive, mean capacity no more): %s\n",
               goal ? "met" : "NOT met");
        printf("result summary=periodic n=%zu pred_under_min=%.0f reac_under_min=%.0f "
               "pred_mean_cap=%.4f reac_mean_cap=%.4f goal=%d\n", s.n, s.under_p, s.under_r,
               s.cap_p / (double)s.n, s.cap_r / (double)s.n, goal);
    }
    return 0;
}
