/* bench/forecast_bench.c: accuracy and speed of forecast/ on real series.
 *
 * Three parts, each printed as a plain-text table plus machine-readable `result ...` lines
 * (key=value, one per set/group/model) that bench/forecast_run.py merges with the peers':
 *
 * nab: the NAB cloud traces (/work/shared/data/nab, 5-minute steps), put on an exact 5-minute
 *   grid (each grid point takes the last sample at or before it: ec2_disk_write_bytes has 11
 *   duplicate timestamps and a 61-minute gap). Rolling origin: 8 origins 12 hours apart, the
 *   last one 4 hours before the end of the trace; at each origin the model is fitted on the
 *   last 14 days before it (4,032 points, or all there is) and forecasts 48 steps (4 hours).
 *   opts.step_s = 300 and no period hint: the forecaster detects the day itself, as it does
 *   behind the query API. Scores per group (cpu: the 7 EC2/RDS/ASG CPU % traces, network:
 *   EC2 network bytes in, disk: EC2 disk write bytes (mostly exact zeros, so sMAPE is near
 *   200 wherever a model forecasts a non-zero), requests: ELB request count; all: the 80
 *   splits together): mean sMAPE, mean MASE (lag 288 = one day
 *   of the training window, 1 if the window is shorter than two days), and MAPE over the
 *   actuals with |y| >= 1% of the training window's mean |y| (near-zero actuals skipped).
 * m4: the 414 M4 hourly training rows; the last 48 values of each are held out, the models
 *   forecast 48 with opts.periods[0] = 24 (auto also without a hint, and with {24, 168}:
 *   a hint replaces detection, which finds the week too), step_s 3600.
 *   sMAPE, MASE (lag 24) and OWA relative to Naive2 (seasonally adjusted naive: the M4
 *   90% autocorrelation seasonality test at lag 24, classical multiplicative decomposition as
 *   R's decompose(), naive on the adjusted series, reseasonalised), computed here on the
 *   same split; seasonal naive (lag 24, computed here) is reported as a reference too.
 * speed: fit + 48-step forecast on 4,032 points (the last 14 days of every NAB trace), the
 *   median time per call per model; then 1,000 perturbed copies of the traces through auto
 *   on one thread (wall and CPU seconds, series per second).
 * Times per call are the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID): the machine is
 *   shared, and wall time there measures the neighbours as much as the code.
 *
 * --splits DIR writes the exact training/test windows as DIR/nab_splits.csv and
 * DIR/m4_splits.csv (for the parts that run), and the speed part's windows as
 * DIR/speed_series.csv (h = 0), one split a line: set,group,id,origin,period,mase_lag,h,
 * n_train, then n_train training values and h actuals, %.17g; bench/forecast_peers.R scores
 * the peers on these identical numbers.
 *
 * Metrics are computed here (same formulas as fc_smape/fc_mase, which are used as a
 * cross-check: any disagreement above 1e-9 is reported).
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

#define NAB_STEP 300
#define NAB_H 48
#define NAB_ORIGINS 8
#define NAB_ORIGIN_EVERY 144 /* 12 hours */
#define NAB_TRAIN_MAX 4032   /* 14 days */
#define NAB_DAY 288
#define M4_H 48
#define M4_SEASON 24
#define MAPE_MIN_FRAC 0.01

static const char *NAB_FILES[][2] = {
    {"ec2_cpu_utilization_24ae8d", "cpu"},       {"ec2_cpu_utilization_53ea38", "cpu"},
    {"ec2_cpu_utilization_5f5533", "cpu"},       {"ec2_cpu_utilization_77c1ca", "cpu"},
    {"ec2_cpu_utilization_825cc2", "cpu"},       {"rds_cpu_utilization_cc0c53", "cpu"},
    {"cpu_utilization_asg_misconfiguration", "cpu"}, {"ec2_network_in_257a54", "network"},
    {"ec2_disk_write_bytes_1ef3de", "disk"},     {"elb_request_count_8c0756", "requests"},
};
#define N_NAB (sizeof NAB_FILES / sizeof NAB_FILES[0])
static const char *GROUPS[] = {"cpu", "network", "disk", "requests", "all"};
#define N_GROUPS 5

/* A run of the forecaster: a model with or without the period hint. */
typedef struct run {
    const char *label;
    int model;
    int hint; /* 1: opts.periods[0] = the dataset's season; 2: also periods[1] = 7 seasons */
} run;

/* Pseudo-models computed in this file (reference baselines). */
enum { REF_SNAIVE = 1000, REF_NAIVE2 };

typedef struct split {
    const char *group, *id;
    size_t origin;        /* index of the first forecast point in the original series */
    const double *train;  /* borrowed */
    size_t n_train;
    const double *test;   /* borrowed, h values */
    size_t h, mase_lag, period;
} split;

typedef struct score {   /* accumulated over splits */
    double smape, mase, ape;
    size_t n, n_mase, n_ape, n_fail;
    double *times; size_t n_times, cap_times;
    size_t chosen[FC_N_MODELS];
} score;

static double now_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "forecast_bench: %s: %s\n", what, detail);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory", "");
    return p;
}

static char *read_all(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, strerror(errno));
    size_t cap = 1 << 20, len = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) { cap *= 2; b = realloc(b, cap); if (!b) die("out of memory", ""); }
        size_t r = fread(b + len, 1, cap - len - 1, f);
        if (!r) break;
        len += r;
    }
    fclose(f);
    b[len] = 0;
    *len_out = len;
    return b;
}

/* ---- metrics (the definitions of forecast.h and the M4 guidelines) ---- */

static double m_smape(const double *y, const double *f, size_t h) {
    double s = 0;
    for (size_t i = 0; i < h; i++) {
        double d = fabs(y[i]) + fabs(f[i]);
        if (d > 0) s += fabs(y[i] - f[i]) / d;
    }
    return 200.0 * s / (double)h;
}

static double m_mase(const double *tr, size_t n, size_t m, const double *y, const double *f,
                     size_t h) {
    if (m == 0 || n <= m) return NAN;
    double sc = 0;
    for (size_t i = m; i < n; i++) sc += fabs(tr[i] - tr[i - m]);
    sc /= (double)(n - m);
    if (!(sc > 0)) return NAN;
    double e = 0;
    for (size_t i = 0; i < h; i++) e += fabs(y[i] - f[i]);
    return e / (double)h / sc;
}

/* ---- data ---- */


typedef struct series {
    const char *id, *group;
    double *y;
    size_t n;
} series;

/* Read a NAB CSV onto the 5-minute grid (bench/nab.h). */
static void nab_load(const char *dir, const char *name, series *out) {
    double t0;
    out->y = nab_load_grid(dir, name, &out->n, &t0);
}

/* Parse hourly-train.csv: rows "id","v1",...,"" (padded). */
static size_t m4_load(const char *path, series **out, size_t limit) {
    size_t len;
    char *b = read_all(path, &len);
    char *p = strchr(b, '\n');
    if (!p) die(path, "no header");
    p++;
    size_t cap = 512, ns = 0;
    series *ss = xmalloc(cap * sizeof *ss);
    while (*p && ns < limit) {
        char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        *eol = 0;
        if (eol > p && eol[-1] == '\r') eol[-1] = 0;
        series s = {0};
        size_t vcap = 1024;
        s.y = xmalloc(vcap * sizeof *s.y);
        char *f = p;
        int first = 1;
        while (f) {
            char *comma = strchr(f, ',');
            if (comma) *comma = 0;
            char *q = f;
            if (*q == '"') q++;
            size_t ql = strlen(q);
            if (ql && q[ql - 1] == '"') q[--ql] = 0;
            if (first) {
                s.id = strdup(q);
                first = 0;
            } else if (ql) {
                if (s.n == vcap) { vcap *= 2; s.y = realloc(s.y, vcap * sizeof *s.y); }
                s.y[s.n++] = strtod(q, NULL);
            }
            f = comma ? comma + 1 : NULL;
        }
        s.group = "hourly";
        if (s.n > M4_H) {
            if (ns == cap) { cap *= 2; ss = realloc(ss, cap * sizeof *ss); }
            ss[ns++] = s;
        }
        if (eol >= b + len) break;
        p = eol + 1;
    }
    free(b);
    *out = ss;
    return ns;
}

/* ---- reference baselines ---- */

static void ref_snaive(const double *y, size_t n, size_t m, size_t h, double *out) {
    for (size_t i = 0; i < h; i++) out[i] = n >= m ? y[n - m + i % m] : y[n - 1];
}

/* M4's SeasonalityTest: 90% test of the autocorrelation at lag m (R's acf). */
static int m4_seasonal(const double *y, size_t n, size_t m) {
    if (n < 3 * m) return 0;
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += y[i];
    mean /= (double)n;
    double d = 0;
    for (size_t i = 0; i < n; i++) d += (y[i] - mean) * (y[i] - mean);
    if (!(d > 0)) return 0;
    double sum2 = 0, acf_m = 0;
    for (size_t k = 1; k <= m; k++) {
        double c = 0;
        for (size_t i = 0; i + k < n; i++) c += (y[i] - mean) * (y[i + k] - mean);
        c /= d;
        if (k < m) sum2 += c * c;
        else acf_m = c;
    }
    double lim = 1.645 / sqrt((double)n) * sqrt(1 + 2 * sum2);
    return fabs(acf_m) > lim;
}

/* Naive2: R's decompose(type = "multiplicative") seasonal indices (phase = index mod m from
 * the first value), naive forecast of y / SI, times the SI of the forecast steps. */
static void ref_naive2(const double *y, size_t n, size_t m, size_t h, double *out) {
    if (!m4_seasonal(y, n, m)) {
        for (size_t i = 0; i < h; i++) out[i] = y[n - 1];
        return;
    }
    double *ratio = xmalloc(n * sizeof *ratio);
    size_t half = m / 2;
    for (size_t t = 0; t < n; t++) {
        ratio[t] = NAN;
        if (t < half || t + half >= n) continue;
        double s = 0;
        if (m % 2 == 0) {
            s = 0.5 * y[t - half] + 0.5 * y[t + half];
            for (size_t j = t - half + 1; j < t + half; j++) s += y[j];
        } else {
            for (size_t j = t - half; j <= t + half; j++) s += y[j];
        }
        ratio[t] = y[t] / (s / (double)m);
    }
    double fig[64] = {0}, figmean = 0;
    for (size_t k = 0; k < m; k++) {
        double s = 0;
        size_t c = 0;
        for (size_t t = k; t < n; t += m)
            if (!isnan(ratio[t])) { s += ratio[t]; c++; }
        fig[k] = c ? s / (double)c : 1;
        figmean += fig[k];
    }
    figmean /= (double)m;
    for (size_t k = 0; k < m; k++) fig[k] /= figmean;
    double last = y[n - 1] / fig[(n - 1) % m];
    for (size_t i = 0; i < h; i++) out[i] = last * fig[(n + i) % m];
    free(ratio);
}

/* ---- scoring ---- */

static void score_add_time(score *s, double t) {
    if (s->n_times == s->cap_times) {
        s->cap_times = s->cap_times ? 2 * s->cap_times : 256;
        s->times = realloc(s->times, s->cap_times * sizeof *s->times);
        if (!s->times) die("out of memory", "");
    }
    s->times[s->n_times++] = t;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    if (!n) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double xcheck_max; /* largest |ours - fc_*| seen */

/* The machine-readable lines, printed together after the tables. */
static char *res_buf;
static size_t res_len;
static FILE *res;
static FILE *scores; /* --scores: one line per split and run, or NULL */

static void write_score(const char *set, const char *model, const split *sp, const double *f,
                        double t) {
    if (!scores) return;
    fprintf(scores, "split set=%s group=%s id=%s origin=%zu model=%s impl=auspex smape=%.6f "
            "mase=%.6f t_ms=%.4f\n", set, sp->group, sp->id, sp->origin, model,
            m_smape(sp->test, f, sp->h),
            m_mase(sp->train, sp->n_train, sp->mase_lag, sp->test, f, sp->h), 1e3 * t);
}

static void score_split(score *s, const split *sp, const double *f) {
    int finite = 1;
    for (size_t i = 0; i < sp->h; i++) finite &= isfinite(f[i]);
    if (!finite) { s->n_fail++; return; }
    double sm = m_smape(sp->test, f, sp->h);
    double ms = m_mase(sp->train, sp->n_train, sp->mase_lag, sp->test, f, sp->h);
    double sm2 = fc_smape(sp->test, f, sp->h);
    double ms2 = fc_mase(sp->train, sp->n_train, sp->mase_lag, sp->test, f, sp->h);
    double d1 = fabs(sm - sm2), d2 = isnan(ms) && isnan(ms2) ? 0 : fabs(ms - ms2);
    if (isnan(d1)) d1 = INFINITY;
    if (isnan(d2)) d2 = INFINITY;
    if (d1 / (1 + fabs(sm)) > xcheck_max) xcheck_max = d1 / (1 + fabs(sm));
    if (d2 / (1 + fabs(ms)) > xcheck_max) xcheck_max = d2 / (1 + fabs(ms));
    s->smape += sm;
    s->n++;
    if (!isnan(ms)) { s->mase += ms; s->n_mase++; }
    double lvl = 0;
    for (size_t i = 0; i < sp->n_train; i++) lvl += fabs(sp->train[i]);
    lvl /= (double)sp->n_train;
    for (size_t i = 0; i < sp->h; i++) {
        if (fabs(sp->test[i]) < MAPE_MIN_FRAC * lvl || sp->test[i] == 0) continue;
        s->ape += 100.0 * fabs(sp->test[i] - f[i]) / fabs(sp->test[i]);
        s->n_ape++;
    }
}

/* Forecast one split with run r; OUT: f[0..h). Returns seconds spent in the call. */
static double run_split(const run *r, const split *sp, double step_s, double *f, score *s) {
    double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    if (r->model == REF_SNAIVE) {
        ref_snaive(sp->train, sp->n_train, sp->period, sp->h, f);
    } else if (r->model == REF_NAIVE2) {
        ref_naive2(sp->train, sp->n_train, sp->period, sp->h, f);
    } else {
        fc_opts o = {.model = r->model, .step_s = step_s};
        if (r->hint) o.periods[0] = sp->period;
        if (r->hint == 2) o.periods[1] = 7 * sp->period;
        fc_info info;
        memset(&info, 0, sizeof info);
        int rc = fc_forecast(sp->train, sp->n_train, sp->h, &o, f, NULL, NULL, &info);
        if (rc) {
            for (size_t i = 0; i < sp->h; i++) f[i] = NAN;
        } else if (info.model >= 0 && info.model < FC_N_MODELS) {
            s->chosen[info.model]++;
        }
    }
    return now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
}

static void print_chosen(FILE *o, const score *s) {
    int any = 0;
    for (int m = 0; m < FC_N_MODELS; m++) {
        if (!s->chosen[m]) continue;
        fprintf(o, "%s%s:%zu", any ? "," : "", fc_model_name(m), s->chosen[m]);
        any = 1;
    }
    if (!any) fprintf(o, "-");
}

static double nanmean(double sum, size_t n) { return n ? sum / (double)n : NAN; }

static double mean_of(const double *v, size_t n) {
    double a = 0;
    for (size_t i = 0; i < n; i++) a += v[i];
    return n ? a / (double)n : NAN;
}

/* ---- the NAB part ---- */

static const run NAB_RUNS[] = {
    {"auto", FC_AUTO, 0},          {"seasonal", FC_SEASONAL, 0},
    {"holt_winters", FC_ETS, 0},   {"seasonal_naive", FC_SEASONAL_NAIVE, 0},
    {"drift", FC_DRIFT, 0},        {"linear", FC_LINEAR, 0},
    {"naive", FC_NAIVE, 0},        {"snaive_ref", REF_SNAIVE, 0},
};
#define N_NAB_RUNS (sizeof NAB_RUNS / sizeof NAB_RUNS[0])

static void write_split(FILE *f, const char *set, const split *sp) {
    fprintf(f, "%s,%s,%s,%zu,%zu,%zu,%zu,%zu", set, sp->group, sp->id, sp->origin, sp->period,
            sp->mase_lag, sp->h, sp->n_train);
    for (size_t i = 0; i < sp->n_train; i++) fprintf(f, ",%.17g", sp->train[i]);
    for (size_t i = 0; i < sp->h; i++) fprintf(f, ",%.17g", sp->test[i]);
    fputc('\n', f);
}

static int group_index(const char *g) {
    for (int i = 0; i < N_GROUPS; i++)
        if (!strcmp(GROUPS[i], g)) return i;
    return -1;
}

static void emit_result(const char *set, const char *group, const char *model, score *s,
                        double owa) {
    fprintf(res, "result set=%s group=%s model=%s impl=auspex n=%zu fail=%zu smape=%.6f mase=%.6f "
           "mape=%.6f owa=%.6f t_med_ms=%.4f t_mean_ms=%.4f chosen=",
           set, group, model, s->n, s->n_fail, nanmean(s->smape, s->n),
           nanmean(s->mase, s->n_mase), nanmean(s->ape, s->n_ape), owa,
           1e3 * median(s->times, s->n_times), 1e3 * mean_of(s->times, s->n_times));
    print_chosen(res, s);
    fprintf(res, "\n");
}

static void nab_part(series *ss, size_t ns, FILE *splits_out) {
    split sp[N_NAB * NAB_ORIGINS];
    size_t nsp = 0;
    for (size_t i = 0; i < ns; i++) {
        for (int k = NAB_ORIGINS - 1; k >= 0; k--) {
            if (ss[i].n < NAB_H + (size_t)k * NAB_ORIGIN_EVERY + 2 * NAB_DAY) continue;
            size_t origin = ss[i].n - NAB_H - (size_t)k * NAB_ORIGIN_EVERY;
            size_t start = origin > NAB_TRAIN_MAX ? origin - NAB_TRAIN_MAX : 0;
            split s = {.group = ss[i].group, .id = ss[i].id, .origin = origin,
                       .train = ss[i].y + start, .n_train = origin - start,
                       .test = ss[i].y + origin, .h = NAB_H, .period = NAB_DAY};
            s.mase_lag = s.n_train >= 2 * NAB_DAY ? NAB_DAY : 1;
            sp[nsp++] = s;
            if (splits_out) write_split(splits_out, "nab", &s);
        }
    }
    score sc[N_NAB_RUNS][N_GROUPS];
    memset(sc, 0, sizeof sc);
    double f[NAB_H];
    for (size_t r = 0; r < N_NAB_RUNS; r++) {
        for (size_t i = 0; i < nsp; i++) {
            int g = group_index(sp[i].group);
            score *s = &sc[r][g], *all = &sc[r][N_GROUPS - 1];
            double t = run_split(&NAB_RUNS[r], &sp[i], NAB_STEP, f, s);
            if (NAB_RUNS[r].model < FC_N_MODELS) {
                score_add_time(s, t);
                score_add_time(all, t);
            }
            score_split(s, &sp[i], f);
            score_split(all, &sp[i], f);
            write_score("nab", NAB_RUNS[r].label, &sp[i], f, t);
        }
        /* auto's choices were counted in the group scores; sum them into "all" */
        for (int m = 0; m < FC_N_MODELS; m++) {
            size_t c = 0;
            for (int g = 0; g < N_GROUPS - 1; g++) c += sc[r][g].chosen[m];
            sc[r][N_GROUPS - 1].chosen[m] = c;
        }
    }
    printf("\nNAB cloud traces: %zu series, %zu rolling-origin splits (8 origins 12 h apart, "
           "train <= 14 d, h = 48 x 5 min)\n", ns, nsp);
    printf("%-10s %-15s %6s %9s %8s %9s %10s  %s\n", "group", "model", "splits", "sMAPE", "MASE",
           "MAPE", "CPU ms", "auto chose");
    for (int g = 0; g < N_GROUPS; g++) {
        for (size_t r = 0; r < N_NAB_RUNS; r++) {
            score *s = &sc[r][g];
            printf("%-10s %-15s %6zu %9.3f %8.3f %9.3f %10.3f  ", GROUPS[g], NAB_RUNS[r].label,
                   s->n, nanmean(s->smape, s->n), nanmean(s->mase, s->n_mase),
                   nanmean(s->ape, s->n_ape), 1e3 * median(s->times, s->n_times));
            if (NAB_RUNS[r].model == FC_AUTO) print_chosen(stdout, s);
            if (s->n_fail) printf(" (%zu failed)", s->n_fail);
            printf("\n");
        }
    }
    for (int g = 0; g < N_GROUPS; g++)
        for (size_t r = 0; r < N_NAB_RUNS; r++)
            emit_result("nab", GROUPS[g], NAB_RUNS[r].label, &sc[r][g], NAN);
    for (size_t r = 0; r < N_NAB_RUNS; r++)
        for (int g = 0; g < N_GROUPS; g++) free(sc[r][g].times);
}

/* ---- the M4 part ---- */

static const run M4_RUNS[] = {
    {"auto", FC_AUTO, 1},          {"auto_nohint", FC_AUTO, 0},   {"auto_24_168", FC_AUTO, 2},
    {"seasonal", FC_SEASONAL, 1},  {"holt_winters", FC_ETS, 1},
    {"seasonal_naive", FC_SEASONAL_NAIVE, 1}, {"drift", FC_DRIFT, 1},
    {"linear", FC_LINEAR, 1},      {"naive", FC_NAIVE, 1},
    {"snaive_ref", REF_SNAIVE, 1}, {"naive2", REF_NAIVE2, 1},
};
#define N_M4_RUNS (sizeof M4_RUNS / sizeof M4_RUNS[0])

static void m4_part(series *ss, size_t ns, FILE *splits_out) {
    split *sp = xmalloc(ns * sizeof *sp);
    for (size_t i = 0; i < ns; i++) {
        split s = {.group = "hourly", .id = ss[i].id, .origin = ss[i].n - M4_H,
                   .train = ss[i].y, .n_train = ss[i].n - M4_H, .test = ss[i].y + ss[i].n - M4_H,
                   .h = M4_H, .period = M4_SEASON, .mase_lag = M4_SEASON};
        sp[i] = s;
        if (splits_out) write_split(splits_out, "m4", &s);
    }
    score sc[N_M4_RUNS];
    memset(sc, 0, sizeof sc);
    double f[M4_H];
    for (size_t r = 0; r < N_M4_RUNS; r++) {
        for (size_t i = 0; i < ns; i++) {
            double t = run_split(&M4_RUNS[r], &sp[i], 3600, f, &sc[r]);
            if (M4_RUNS[r].model < FC_N_MODELS) score_add_time(&sc[r], t);
            score_split(&sc[r], &sp[i], f);
            write_score("m4", M4_RUNS[r].label, &sp[i], f, t);
        }
    }
    const score *n2 = &sc[N_M4_RUNS - 1];
    double n2s = nanmean(n2->smape, n2->n), n2m = nanmean(n2->mase, n2->n_mase);
    printf("\nM4 hourly: %zu series, last 48 of each training row held out, h = 48, "
           "season 24 (OWA relative to Naive2 on this split)\n", ns);
    printf("%-15s %6s %9s %8s %7s %10s  %s\n", "model", "series", "sMAPE", "MASE", "OWA",
           "CPU ms", "auto chose");
    for (size_t r = 0; r < N_M4_RUNS; r++) {
        score *s = &sc[r];
        double owa = 0.5 * (nanmean(s->smape, s->n) / n2s + nanmean(s->mase, s->n_mase) / n2m);
        printf("%-15s %6zu %9.3f %8.3f %7.3f %10.3f  ", M4_RUNS[r].label, s->n,
               nanmean(s->smape, s->n), nanmean(s->mase, s->n_mase), owa,
               1e3 * median(s->times, s->n_times));
        if (M4_RUNS[r].model == FC_AUTO) print_chosen(stdout, s);
        if (s->n_fail) printf(" (%zu failed)", s->n_fail);
        printf("\n");
    }
    for (size_t r = 0; r < N_M4_RUNS; r++) {
        score *s = &sc[r];
        double owa = 0.5 * (nanmean(s->smape, s->n) / n2s + nanmean(s->mase, s->n_mase) / n2m);
        emit_result("m4", "hourly", M4_RUNS[r].label, s, owa);
        free(s->times);
    }
    free(sp);
}

/* ---- speed ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rng_unit(void) { /* splitmix64 -> [0,1) */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static void speed_part(series *ss, size_t ns, int reps, size_t n_bulk) {
    const size_t len = NAB_TRAIN_MAX;
    double f[NAB_H];
    printf("\nSpeed: fit + 48-step forecast on %zu points (last 14 days of each of %zu NAB "
           "traces), %d calls per trace, one thread, CPU time\n", len, ns, reps);
    printf("%-15s %10s %10s %10s\n", "model", "median ms", "mean ms", "max ms");
    for (int m = 0; m < FC_N_MODELS; m++) {
        double *t = xmalloc(ns * (size_t)reps * sizeof *t);
        size_t nt = 0;
        double sum = 0, mx = 0;
        for (size_t i = 0; i < ns; i++) {
            if (ss[i].n < len) continue;
            const double *y = ss[i].y + ss[i].n - len;
            for (int r = 0; r < reps; r++) {
                fc_opts o = {.model = m, .step_s = NAB_STEP};
                double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
                fc_forecast(y, len, NAB_H, &o, f, NULL, NULL, NULL);
                double dt = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
                t[nt++] = dt;
                sum += dt;
                if (dt > mx) mx = dt;
            }
        }
        double med = median(t, nt);
        printf("%-15s %10.3f %10.3f %10.3f\n", fc_model_name(m), 1e3 * med, 1e3 * sum / nt,
               1e3 * mx);
        fprintf(res, "result set=speed group=4032pts model=%s impl=auspex n=%zu t_med_ms=%.4f "
               "t_mean_ms=%.4f t_max_ms=%.4f\n", fc_model_name(m), nt, 1e3 * med,
               1e3 * sum / nt, 1e3 * mx);
        free(t);
    }
    if (!n_bulk) return;
    /* n_bulk series: trace i % ns scaled by a random factor in [0.5, 2) plus noise of 2% of
     * the trace's mean absolute value, so that no two calls see the same numbers. */
    double *y = xmalloc(len * sizeof *y);
    double wall = 0, cpu = 0;
    size_t fails = 0;
    for (size_t k = 0; k < n_bulk; k++) {
        const series *s = &ss[k % ns];
        const double *src = s->y + s->n - len;
        double lvl = 0;
        for (size_t i = 0; i < len; i++) lvl += fabs(src[i]);
        lvl /= (double)len;
        double scale = 0.5 + 1.5 * rng_unit();
        for (size_t i = 0; i < len; i++)
            y[i] = scale * src[i] + 0.02 * lvl * (rng_unit() - 0.5) * 3.4641;
        fc_opts o = {.model = FC_AUTO, .step_s = NAB_STEP};
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        int rc = fc_forecast(y, len, NAB_H, &o, f, NULL, NULL, NULL);
        wall += now_s(CLOCK_MONOTONIC) - w0;
        cpu += now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (rc || !isfinite(f[0])) fails++;
    }
    printf("\nauto on %zu series x %zu points, one thread: %.2f s wall, %.2f s CPU, "
           "%.1f series/s (CPU), %zu failed\n", n_bulk, len, wall, cpu, n_bulk / cpu, fails);
    fprintf(res, "result set=speed group=bulk model=auto impl=auspex n=%zu wall_s=%.4f cpu_s=%.4f "
           "series_per_s=%.3f fail=%zu\n", n_bulk, wall, cpu, n_bulk / cpu, fails);
    free(y);
}

static void usage(void) {
    fprintf(stderr,
            "usage: forecast_bench [--data DIR] [--only nab|m4|speed] [--splits DIR]\n"
            "                      [--m4-limit N] [--speed-reps N] [--bulk N] [--scores FILE]\n"
            "  --data DIR     datasets (default /work/shared/data: nab/*.csv, m4/hourly-train.csv)\n"
            "  --splits DIR   also write DIR/nab_splits.csv and DIR/m4_splits.csv for the peers\n"
            "  --m4-limit N   only the first N M4 series (default all 414)\n"
            "  --speed-reps N calls per trace for the per-model timing (default 5)\n"
            "  --bulk N       series through auto for the throughput figure (default 1000)\n"
            "  --scores FILE  sMAPE and MASE of every split and run, one line each\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *data = "/work/shared/data", *only = NULL, *splits = NULL;
    size_t m4_limit = SIZE_MAX, bulk = 1000;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        if (!strcmp(a, "--data")) data = argv[++i];
        else if (!strcmp(a, "--only")) only = argv[++i];
        else if (!strcmp(a, "--splits")) splits = argv[++i];
        else if (!strcmp(a, "--m4-limit")) m4_limit = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--speed-reps")) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--bulk")) bulk = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--scores")) {
            if (!(scores = fopen(argv[++i], "w"))) die(argv[i], strerror(errno));
        }
        else usage();
    }
    char dir[1024], path[1100];
    res = open_memstream(&res_buf, &res_len);
    if (!res) die("open_memstream", strerror(errno));
    snprintf(dir, sizeof dir, "%s/nab", data);
    series nab[N_NAB];
    for (size_t i = 0; i < N_NAB; i++) {
        nab[i].id = NAB_FILES[i][0];
        nab[i].group = NAB_FILES[i][1];
        nab_load(dir, NAB_FILES[i][0], &nab[i]);
    }
    FILE *nab_out = NULL, *m4_out = NULL;
    if (splits) {
        snprintf(path, sizeof path, "%s/nab_splits.csv", splits);
        if (!(nab_out = fopen(path, "w"))) die(path, strerror(errno));
        snprintf(path, sizeof path, "%s/m4_splits.csv", splits);
        if (!(m4_out = fopen(path, "w"))) die(path, strerror(errno));
    }
    if (splits) { /* the windows the speed part times, for the peers' timing */
        snprintf(path, sizeof path, "%s/speed_series.csv", splits);
        FILE *f = fopen(path, "w");
        if (!f) die(path, strerror(errno));
        for (size_t i = 0; i < N_NAB; i++) {
            if (nab[i].n < NAB_TRAIN_MAX) continue;
            split s = {.group = nab[i].group, .id = nab[i].id, .origin = nab[i].n,
                       .train = nab[i].y + nab[i].n - NAB_TRAIN_MAX, .n_train = NAB_TRAIN_MAX,
                       .test = NULL, .h = 0, .period = NAB_DAY, .mase_lag = NAB_DAY};
            write_split(f, "speed", &s);
        }
        fclose(f);
    }
    if (!only || !strcmp(only, "nab")) nab_part(nab, N_NAB, nab_out);
    if (!only || !strcmp(only, "m4")) {
        snprintf(path, sizeof path, "%s/m4/hourly-train.csv", data);
        series *m4;
        size_t nm4 = m4_load(path, &m4, m4_limit);
        m4_part(m4, nm4, m4_out);
        for (size_t i = 0; i < nm4; i++) { free(m4[i].y); free((char *)m4[i].id); }
        free(m4);
    }
    if (nab_out) fclose(nab_out);
    if (m4_out) fclose(m4_out);
    if (!only || !strcmp(only, "speed")) speed_part(nab, N_NAB, reps, bulk);
    printf("\nmetric cross-check (this file vs fc_smape/fc_mase): max relative difference %.3g%s\n",
           xcheck_max, xcheck_max > 1e-9 ? "  MISMATCH" : "");
    fprintf(res, "result set=check group=metrics model=- impl=auspex xcheck=%.3g\n", xcheck_max);
    fclose(res);
    if (scores) fclose(scores);
    printf("\n# machine-readable (bench/forecast_run.py)\n%s", res_buf);
    free(res_buf);
    for (size_t i = 0; i < N_NAB; i++) free(nab[i].y);
    return 0;
}
