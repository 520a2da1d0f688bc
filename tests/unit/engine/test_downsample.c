/* Unit tests for engine/downsample.c on simulated time: rollup points checked field by
 * field against aggregates computed here from the raw samples written, raw data replaced
 * exactly, idempotent passes, cum continuing across passes, level 2 = merges of level 1,
 * bytes per point, retention and series deletion of rollups, and data.mdb not growing. */
#include "engine/engine.h"
#include "storage/storage.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define T0 1704067200000LL /* 2024-01-01T00:00:00Z */
#define STEP0 (5 * MIN_MS)
#define STEP1 HOUR_MS
#define SCRAPE 15000LL
#define NSER 4

static int64_t g_now;
static int64_t test_clock(void) { return g_now; }

static char *tmpdir(void) {
    char *t = strdup("/tmp/auspex-ds-XXXXXX");
    if (!mkdtemp(t)) abort();
    return t;
}

static eng *open_ds(const char *dir, int64_t retention_ms, size_t nlev, int64_t age0,
                    int64_t age1) {
    eng_opts o = {.path = dir, .head_max_samples = 1u << 26, .flush_interval_ms = 3600000,
                  .nosync = true, .retention_ms = retention_ms, .retention_interval_ms = -1,
                  .now_ms = test_clock};
    o.downsample[0].age_ms = age0;
    o.downsample[0].step_ms = STEP0;
    o.downsample[1].age_ms = age1;
    o.downsample[1].step_ms = STEP1;
    o.n_downsample = nlev;
    eng *e = NULL;
    ax_err err = {0};
    if (eng_open(&o, &e, &err)) FAILF("eng_open: %s", err.msg);
    return e;
}

static ax_label LB(const char *n, const char *v) {
    ax_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

static const char *NAMES[NSER] = {"counter", "gauge", "stale", "gaps"};

static double stale_nan(void) {
    uint64_t b = 0x7ff0000000000002ull;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}
static bool is_stale(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == 0x7ff0000000000002ull;
}

/* the raw samples written, per series */
typedef struct raw {
    int64_t *ts;
    double *v;
    size_t n, cap;
} raw;

static void raw_push(raw *r, int64_t t, double v) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1 << 16;
        r->ts = realloc(r->ts, r->cap * sizeof *r->ts);
        r->v = realloc(r->v, r->cap * sizeof *r->v);
    }
    r->ts[r->n] = t;
    r->v[r->n++] = v;
}

static uint64_t g_rng = 12345;
static uint64_t rnd(void) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return g_rng >> 33;
}

/* generate samples of the four series in [from, to) into r[] */
static void gen(raw *r, int64_t from, int64_t to, double *ctr) {
    for (int64_t t = from; t < to; t += SCRAPE) {
        /* counter with resets */
        if (rnd() % 3000 == 0) *ctr = (double)(rnd() % 3);
        else *ctr += (double)(rnd() % 7);
        raw_push(&r[0], t, *ctr);
        /* gauge with noise */
        raw_push(&r[1], t, round(1000 * (100 + 10 * sin((double)t / 7.5e6))) / 1000.0 +
                               (double)(rnd() % 1000) / 1000.0);
        /* a gauge with stale markers, and a 10-minute run of only stale markers */
        int64_t k = t / SCRAPE;
        double g = (double)(rnd() % 50) * 0.5;
        raw_push(&r[2], t, (k % 997 == 3 || (k % 20000) < 40) ? stale_nan() : g);
        /* gaps: nothing from 05:00 to 09:00, and no days 12..14 after T0 - 40d */
        int64_t hour = ((t % DAY_MS) + DAY_MS) % DAY_MS / HOUR_MS;
        int64_t day = (t - (T0 - 40 * DAY_MS)) / DAY_MS;
        if ((hour < 5 || hour >= 9) && (day < 12 || day > 14))
            raw_push(&r[3], t, (double)(k % 13));
    }
}

static int write_range(eng *e, raw *r, size_t *done) {
    int rc = 0;
    for (int s = 0; s < NSER && !rc; s++) {
        size_t n = r[s].n - done[s];
        if (!n) continue;
        ax_label ls[1] = {LB("__name__", NAMES[s])};
        eng_sample *sm = malloc(n * sizeof *sm);
        for (size_t i = 0; i < n; i++) {
            sm[i].ts = r[s].ts[done[s] + i];
            sm[i].v = r[s].v[done[s] + i];
        }
        eng_ts ts = {ls, 1, sm, n};
        ax_err err = {0};
        rc = eng_write(e, &ts, 1, &err);
        if (rc) FAILF("eng_write: %s", err.msg);
        free(sm);
        done[s] = r[s].n;
    }
    return rc;
}

static uint64_t sid_of(eng *e, const char *name) {
    eng_matcher m = {ENG_MATCH_EQ, "__name__", 8, name, strlen(name), NULL};
    eng_sel *sel = NULL;
    if (eng_select(e, &m, 1, 0, &sel)) return 0;
    uint64_t sid = eng_sel_count(sel) == 1 ? eng_sel_sid(sel, 0) : 0;
    eng_sel_free(sel);
    return sid;
}

static int64_t iend(int64_t t, int64_t step) { return (t / step + (t % step > 0)) * step; }

/* Expected points, computed independently from the raw samples: samples before `upto`,
 * stale markers out; cum, resets and changes over the whole series; a sample goes into
 * its hour when that hour ends at or before cut1, else into its 5-minute interval, split
 * where a pass stopped (bounds[]: the first raw sample left by each earlier pass). */
static void expected(const raw *r, int64_t upto, const int64_t *bounds, size_t nb, int64_t cut1,
                     eng_rollups *o) {
    o->n = 0;
    double offset = 0, pv = 0;
    bool havep = false;
    int64_t cur_key = INT64_MIN, cur_seg = -2;
    for (size_t i = 0; i < r->n; i++) {
        double v = r->v[i];
        int64_t t = r->ts[i];
        if (is_stale(v)) continue;
        if (t >= upto) break;
        uint32_t reset = 0, change = 0;
        if (havep) {
            if (v < pv) {
                reset = 1;
                offset += pv;
            }
            change = v != pv;
        }
        pv = v;
        havep = true;
        double cum = v + offset;
        int64_t step = iend(t, STEP1) <= cut1 ? STEP1 : STEP0;
        int64_t seg = -1;
        if (step == STEP0) {
            seg = 0;
            while ((size_t)seg < nb && t >= bounds[seg]) seg++;
        }
        int64_t key = iend(t, step);
        if (key != cur_key || seg != cur_seg) {
            if (o->n == o->cap) {
                size_t c = o->cap ? o->cap * 2 : 1024;
                o->t = realloc(o->t, c * 8); o->first_t = realloc(o->first_t, c * 8);
                o->step = realloc(o->step, c * 8); o->first = realloc(o->first, c * 8);
                o->last = realloc(o->last, c * 8); o->min = realloc(o->min, c * 8);
                o->max = realloc(o->max, c * 8); o->sum = realloc(o->sum, c * 8);
                o->sum_sq = realloc(o->sum_sq, c * 8); o->cum_first = realloc(o->cum_first, c * 8);
                o->cum_last = realloc(o->cum_last, c * 8); o->count = realloc(o->count, c * 4);
                o->resets = realloc(o->resets, c * 4); o->changes = realloc(o->changes, c * 4);
                o->cap = c;
            }
            size_t j = o->n++;
            o->first_t[j] = t;
            o->step[j] = step;
            o->first[j] = o->min[j] = o->max[j] = v;
            o->sum[j] = o->sum_sq[j] = 0;
            o->cum_first[j] = cum;
            o->count[j] = o->resets[j] = o->changes[j] = 0;
            cur_key = key;
            cur_seg = seg;
        }
        size_t j = o->n - 1;
        o->t[j] = t;
        o->last[j] = v;
        if (v < o->min[j]) o->min[j] = v;
        if (v > o->max[j]) o->max[j] = v;
        o->sum[j] += v;
        o->sum_sq[j] += v * v;
        o->cum_last[j] = cum;
        o->count[j]++;
        o->resets[j] += reset;
        o->changes[j] += change;
    }
}

static bool near(double a, double b) {
    return a == b || fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

/* compare got against want; returns the number of mismatches (reports the first) */
static int compare(const char *what, const eng_rollups *want, const eng_rollups *got) {
    if (want->n != got->n) {
        FAILF("%s: %zu points expected, got %zu", what, want->n, got->n);
        return 1;
    }
    for (size_t i = 0; i < want->n; i++) {
        bool ok = want->t[i] == got->t[i] && want->first_t[i] == got->first_t[i] &&
                  want->step[i] == got->step[i] && want->first[i] == got->first[i] &&
                  want->last[i] == got->last[i] && want->min[i] == got->min[i] &&
                  want->max[i] == got->max[i] && want->count[i] == got->count[i] &&
                  want->resets[i] == got->resets[i] && want->changes[i] == got->changes[i] &&
                  near(want->sum[i], got->sum[i]) && near(want->sum_sq[i], got->sum_sq[i]) &&
                  near(want->cum_first[i], got->cum_first[i]) &&
                  near(want->cum_last[i], got->cum_last[i]);
        if (!ok) {
            FAILF("%s point %zu: expected t=%lld first_t=%lld step=%lld n=%u first=%g last=%g "
                  "min=%g max=%g sum=%.17g sum_sq=%.17g cum=%.17g..%.17g resets=%u changes=%u; "
                  "got t=%lld first_t=%lld step=%lld n=%u first=%g last=%g min=%g max=%g "
                  "sum=%.17g sum_sq=%.17g cum=%.17g..%.17g resets=%u changes=%u", what, i,
                  (long long)want->t[i], (long long)want->first_t[i], (long long)want->step[i],
                  want->count[i], want->first[i], want->last[i], want->min[i], want->max[i],
                  want->sum[i], want->sum_sq[i], want->cum_first[i], want->cum_last[i],
                  want->resets[i], want->changes[i], (long long)got->t[i],
                  (long long)got->first_t[i], (long long)got->step[i], got->count[i],
                  got->first[i], got->last[i], got->min[i], got->max[i], got->sum[i],
                  got->sum_sq[i], got->cum_first[i], got->cum_last[i], got->resets[i],
                  got->changes[i]);
            return 1;
        }
    }
    return 0;
}

/* The raw samples left must be exactly the written ones from the first one left on, and
 * all rollups before it. OUT: *first_left (INT64_MAX: none left). */
static void check_raw(eng *e, uint64_t sid, const raw *r, int64_t cut0, int64_t *first_left) {
    eng_samples s = {0};
    CHECK_EQ_INT(0, eng_series_read(e, sid, INT64_MIN, INT64_MAX, 0, &s));
    int64_t b = s.n ? s.ts[0] : INT64_MAX;
    size_t i0 = 0;
    while (i0 < r->n && r->ts[i0] < b) i0++;
    if (s.n != r->n - i0) FAILF("sid %llu: %zu raw samples left, expected %zu",
                                (unsigned long long)sid, s.n, r->n - i0);
    for (size_t i = 0; i < s.n && i0 + i < r->n; i++)
        if (s.ts[i] != r->ts[i0 + i] || memcmp(&s.v[i], &r->v[i0 + i], 8)) {
            FAILF("sid %llu raw sample %zu differs", (unsigned long long)sid, i);
            break;
        }
    /* only the chunk straddling the cutoff may hold older samples: < 16384 of them */
    size_t older = 0;
    while (older < s.n && s.ts[older] <= cut0) older++;
    if (older >= 16384) FAILF("sid %llu: %zu raw samples older than the cutoff remain",
                              (unsigned long long)sid, older);
    eng_rollups ru = {0};
    CHECK_EQ_INT(0, eng_series_read_rollups(e, sid, INT64_MIN, INT64_MAX, &ru));
    if (ru.n && ru.t[ru.n - 1] >= b) FAILF("sid %llu: a rollup point at or after raw data",
                                           (unsigned long long)sid);
    eng_rollups_free(&ru);
    eng_samples_free(&s);
    *first_left = b;
}

static void free_exp(eng_rollups *r) { eng_rollups_free(r); }

/* bytes of every rollup block, read with storage directly (engine closed) */
static uint64_t rollup_bytes(const char *dir, uint64_t max_sid, uint64_t *blocks) {
    stor_opts so = {.path = dir, .nosync = true};
    stor_env *s = NULL;
    ax_err err = {0};
    if (stor_env_open(&so, &s, &err)) return 0;
    stor_txn *t = NULL;
    uint64_t bytes = 0;
    *blocks = 0;
    if (!stor_txn_begin(s, STOR_TXN_READ, &t)) {
        stor_rollup_view v[256];
        for (uint64_t sid = 1; sid <= max_sid; sid++) {
            size_t n = 0;
            if (stor_rollups_range(t, sid, INT64_MIN, INT64_MAX, v, 256, &n)) continue;
            uint64_t sb = 0, sp = 0;
            for (size_t i = 0; i < n; i++) {
                sb += v[i].len;
                sp += v[i].n;
            }
            if (sp) printf("    sid %llu: %llu points, %.2f bytes per point\n",
                           (unsigned long long)sid, (unsigned long long)sp, (double)sb / (double)sp);
            bytes += sb;
            *blocks += n;
        }
        stor_txn_abort(t);
    }
    stor_env_close(s);
    return bytes;
}

TEST(test_downsample_points_exact_across_passes) {
    char *dir = tmpdir(), *dir1 = tmpdir();
    raw r[NSER] = {{0}};
    double ctr = 0;
    size_t done[NSER] = {0}, done1[NSER] = {0};
    g_now = T0;
    eng *e = open_ds(dir, 0, 2, 10 * DAY_MS, 30 * DAY_MS);
    eng *e1 = open_ds(dir1, 0, 1, 10 * DAY_MS, 0); /* level 1 only: to check merges */
    for (int d = 0; d < 40; d++) {
        gen(r, T0 - (40 - d) * DAY_MS, T0 - (39 - d) * DAY_MS, &ctr);
        write_range(e, r, done);
        write_range(e1, r, done1);
    }
    CHECK_EQ_INT(0, eng_flush(e));
    CHECK_EQ_INT(0, eng_flush(e1));

    eng_downsample_stats st = {0}, st1 = {0};
    CHECK_EQ_INT(0, eng_downsample_run(e, T0, &st));
    CHECK_EQ_INT(0, eng_downsample_run(e1, T0, &st1));
    printf("    pass 1: %llu raw samples -> %llu points (%llu series, %llu dropped)\n",
           (unsigned long long)st.raw_samples, (unsigned long long)st.points_written,
           (unsigned long long)st.series, (unsigned long long)st.dropped);
    CHECK(st.raw_samples > 4 * 25 * 5000);
    const int64_t cut0 = T0 - 10 * DAY_MS, cut1 = T0 - 30 * DAY_MS;
    int64_t b1[NSER];
    eng_rollups want = {0}, got = {0}, got1 = {0};
    for (int s = 0; s < NSER; s++) {
        uint64_t sid = sid_of(e, NAMES[s]);
        CHECK(sid != 0);
        check_raw(e, sid, &r[s], cut0, &b1[s]);
        expected(&r[s], b1[s], NULL, 0, cut1, &want);
        got.n = 0;
        CHECK_EQ_INT(0, eng_series_read_rollups(e, sid, INT64_MIN, INT64_MAX, &got));
        compare(NAMES[s], &want, &got);
        /* level 2 = merges of level 1 (the engine with one level, same data) */
        got1.n = 0;
        CHECK_EQ_INT(0, eng_series_read_rollups(e1, sid_of(e1, NAMES[s]), INT64_MIN, INT64_MAX,
                                                &got1));
        size_t j = 0, nh = 0;
        for (size_t i = 0; i < got.n && got.step[i] == STEP1; i++, nh++) {
            int64_t end = iend(got.t[i], STEP1);
            double sum = 0, mn = INFINITY, mx = -INFINITY;
            uint32_t cnt = 0, rs = 0, ch = 0;
            size_t j0 = j;
            for (; j < got1.n && iend(got1.t[j], STEP1) == end; j++) {
                sum += got1.sum[j];
                mn = fmin(mn, got1.min[j]);
                mx = fmax(mx, got1.max[j]);
                cnt += got1.count[j];
                rs += got1.resets[j];
                ch += got1.changes[j];
            }
            if (j == j0 || got.first_t[i] != got1.first_t[j0] || got.t[i] != got1.t[j - 1] ||
                got.first[i] != got1.first[j0] || got.last[i] != got1.last[j - 1] ||
                got.min[i] != mn || got.max[i] != mx || got.count[i] != cnt ||
                got.resets[i] != rs || got.changes[i] != ch || !near(got.sum[i], sum) ||
                got.cum_first[i] != got1.cum_first[j0] || got.cum_last[i] != got1.cum_last[j - 1]) {
                FAILF("%s: hour point %zu is not the merge of its 5m points", NAMES[s], i);
                break;
            }
        }
        CHECK(nh > 0);
        if (s == 0) printf("    counter: %zu hour points, %zu 5m points, first raw left %lld s "
                           "after the cutoff\n", nh, got.n - nh, (long long)(b1[s] - cut0) / 1000);
    }
    /* the gaps series: days 12..14 make no points; only-stale runs make none either */
    /* idempotent: a second pass at the same time changes nothing */
    CHECK_EQ_INT(0, eng_downsample_run(e, T0, &st));
    CHECK_EQ_U64(0, st.points_written);
    CHECK_EQ_U64(0, st.raw_samples);
    for (int s = 0; s < NSER; s++) {
        expected(&r[s], b1[s], NULL, 0, cut1, &want);
        got.n = 0;
        CHECK_EQ_INT(0, eng_series_read_rollups(e, sid_of(e, NAMES[s]), INT64_MIN, INT64_MAX, &got));
        compare("after a second pass", &want, &got);
    }
    /* a range read returns only points in range */
    got.n = 0;
    CHECK_EQ_INT(0, eng_series_read_rollups(e, sid_of(e, "gauge"), cut1, cut1 + DAY_MS, &got));
    CHECK(got.n > 0);
    for (size_t i = 0; i < got.n; i++) CHECK(got.t[i] >= cut1 && got.t[i] <= cut1 + DAY_MS);

    /* a reset exactly at the pass boundary: the counter's first raw sample left drops */
    size_t ib = 0;
    while (r[0].ts[ib] < b1[0]) ib++;
    double base = r[0].v[ib];
    CHECK(r[0].v[ib - 1] > 0);
    size_t n_re = 0;
    for (size_t i = ib; i < r[0].n && i < ib + 2000; i++, n_re++) {
        if (i > ib && r[0].v[i] < r[0].v[i - 1]) break; /* up to the next reset */
        r[0].v[i] -= base;
    }
    {
        ax_label ls[1] = {LB("__name__", "counter")};
        eng_sample *sm = malloc(n_re * sizeof *sm);
        for (size_t i = 0; i < n_re; i++) sm[i] = (eng_sample){r[0].ts[ib + i], r[0].v[ib + i]};
        eng_ts ts = {ls, 1, sm, n_re};
        ax_err err = {0};
        CHECK_EQ_INT(0, eng_write(e, &ts, 1, &err));
        free(sm);
    }
    /* two more days, then a pass two days later */
    gen(r, T0, T0 + 2 * DAY_MS, &ctr);
    write_range(e, r, done);
    g_now = T0 + 2 * DAY_MS;
    CHECK_EQ_INT(0, eng_flush(e));
    CHECK_EQ_INT(0, eng_downsample_run(e, g_now, &st));
    CHECK(st.points_written > 0);
    const int64_t cut0b = g_now - 10 * DAY_MS, cut1b = g_now - 30 * DAY_MS;
    for (int s = 0; s < NSER; s++) {
        uint64_t sid = sid_of(e, NAMES[s]);
        int64_t b2;
        check_raw(e, sid, &r[s], cut0b, &b2);
        CHECK(b2 > b1[s]);
        expected(&r[s], b2, &b1[s], 1, cut1b, &want);
        got.n = 0;
        CHECK_EQ_INT(0, eng_series_read_rollups(e, sid, INT64_MIN, INT64_MAX, &got));
        compare(s == 0 ? "counter after a reset at the pass boundary" : NAMES[s], &want, &got);
        if (s == 0) {
            /* the point holding the boundary counts the reset once */
            for (size_t i = 0; i < got.n; i++)
                if (got.first_t[i] == b1[0]) {
                    CHECK(got.resets[i] >= 1);
                    CHECK_EQ_DBL(got.cum_first[i], want.cum_first[i]);
                }
        }
    }
    eng_stats es;
    eng_stats_get(e, &es);
    CHECK(es.downsample_points > 0);
    CHECK(es.downsample_raw_samples > 0);
    CHECK_EQ_U64(3, es.downsample_passes);
    uint64_t points = 0;
    for (int s = 0; s < NSER; s++) {
        got.n = 0;
        eng_series_read_rollups(e, sid_of(e, NAMES[s]), INT64_MIN, INT64_MAX, &got);
        points += got.n;
    }
    eng_close(e);
    eng_close(e1);
    uint64_t blocks = 0, bytes = rollup_bytes(dir, 8, &blocks);
    printf("    %llu rollup points in %llu blocks: %.2f bytes per point (block bytes)\n",
           (unsigned long long)points, (unsigned long long)blocks, (double)bytes / (double)points);
    CHECK(bytes > 0 && (double)bytes / (double)points < 20.0);
    free_exp(&want);
    eng_rollups_free(&got);
    eng_rollups_free(&got1);
    for (int s = 0; s < NSER; s++) {
        free(r[s].ts);
        free(r[s].v);
    }
    test_rm_rf(dir);
    test_rm_rf(dir1);
    free(dir);
    free(dir1);
}

static int write_minutes(eng *e, const char *name, int64_t from, int64_t to, double *v) {
    ax_label ls[1] = {LB("__name__", name)};
    size_t n = (size_t)((to - from) / MIN_MS);
    eng_sample *sm = malloc(n * sizeof *sm);
    for (size_t i = 0; i < n; i++) {
        *v += (double)(rnd() % 100) / 4.0 - 12.0;
        sm[i] = (eng_sample){from + (int64_t)i * MIN_MS, *v};
    }
    eng_ts ts = {ls, 1, sm, n};
    ax_err err = {0};
    int rc = eng_write(e, &ts, 1, &err);
    free(sm);
    return rc;
}

TEST(test_downsample_retention_and_delete) {
    char *dir = tmpdir();
    g_now = T0;
    /* retention 20 days; levels 2d:5m, 5d:1h */
    eng *e = open_ds(dir, 20 * DAY_MS, 2, 2 * DAY_MS, 5 * DAY_MS);
    double a = 0, b = 0, c = 0;
    CHECK_EQ_INT(0, write_minutes(e, "a", T0 - 19 * DAY_MS, T0, &a));
    CHECK_EQ_INT(0, write_minutes(e, "b", T0 - 19 * DAY_MS, T0, &b));
    /* "old" stops 10 days ago: it ends up with rollups only */
    CHECK_EQ_INT(0, write_minutes(e, "old", T0 - 19 * DAY_MS, T0 - 10 * DAY_MS, &c));
    CHECK_EQ_INT(0, eng_flush(e));
    CHECK_EQ_INT(0, eng_downsample_run(e, T0, NULL));
    uint64_t sid_old = sid_of(e, "old");
    eng_samples s = {0};
    CHECK_EQ_INT(0, eng_series_read(e, sid_old, INT64_MIN, INT64_MAX, 0, &s));
    CHECK_EQ_INT(0, s.n);
    eng_rollups ru = {0};
    CHECK_EQ_INT(0, eng_series_read_rollups(e, sid_old, INT64_MIN, INT64_MAX, &ru));
    CHECK(ru.n > 0);
    /* retention at T0 (cutoff T0 - 20d) removes nothing; the rollup-only series stays */
    eng_retention_stats rs = {0};
    CHECK_EQ_INT(0, eng_retention_run(e, T0, &rs));
    CHECK_EQ_U64(0, rs.series_deleted);
    CHECK(sid_of(e, "old") == sid_old);
    /* 5 days later: cutoff T0 - 15d; rollups older than that go, the rest stay */
    g_now = T0 + 5 * DAY_MS;
    CHECK_EQ_INT(0, eng_retention_run(e, g_now, &rs));
    CHECK(rs.rollup_points_deleted > 0);
    CHECK_EQ_U64(0, rs.series_deleted);
    const char *names[3] = {"a", "b", "old"};
    for (int k = 0; k < 3; k++) {
        ru.n = 0;
        CHECK_EQ_INT(0, eng_series_read_rollups(e, sid_of(e, names[k]), INT64_MIN, INT64_MAX, &ru));
        CHECK(ru.n > 0);
        if (ru.n && ru.t[0] < g_now - 20 * DAY_MS)
            FAILF("%s: rollup point at %lld older than the retention cutoff", names[k],
                  (long long)ru.t[0]);
    }
    /* the series with only rollups stays selectable across a restart */
    eng_close(e);
    e = open_ds(dir, 20 * DAY_MS, 2, 2 * DAY_MS, 5 * DAY_MS);
    CHECK(sid_of(e, "old") == sid_old);
    /* 11 days later, every point of "old" is past retention: the series goes */
    g_now = T0 + 11 * DAY_MS;
    CHECK_EQ_INT(0, eng_retention_run(e, g_now, &rs));
    CHECK_EQ_U64(0, sid_of(e, "old"));
    /* eng_series_delete removes rollups too */
    uint64_t sid_b = sid_of(e, "b");
    size_t nd = 0;
    CHECK_EQ_INT(0, eng_series_delete(e, &sid_b, 1, &nd));
    CHECK_EQ_INT(1, nd);
    ru.n = 0;
    CHECK_EQ_INT(0, eng_series_read_rollups(e, sid_b, INT64_MIN, INT64_MAX, &ru));
    CHECK_EQ_INT(0, ru.n);
    ru.n = 0;
    CHECK_EQ_INT(0, eng_series_read_rollups(e, sid_of(e, "a"), INT64_MIN, INT64_MAX, &ru));
    CHECK(ru.n > 0);
    eng_rollups_free(&ru);
    eng_samples_free(&s);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

static uint64_t file_size(const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    struct stat st;
    return stat(p, &st) ? 0 : (uint64_t)st.st_size;
}

/* A day written, flushed, retention and downsampling run, many times over: once retention
 * deletes as much as is written, data.mdb stops growing. */
TEST(test_downsample_disk_size_stable) {
    char *dir = tmpdir();
    const int nseries = 50, keep = 8, cycles = 16;
    int64_t day0 = T0;
    g_now = day0;
    eng *e = open_ds(dir, keep * DAY_MS, 2, 2 * DAY_MS, 4 * DAY_MS);
    double *walk = calloc((size_t)nseries, sizeof *walk);
    uint64_t sizes[64] = {0};
    for (int c = 0; c < keep + cycles; c++) {
        int64_t start = day0 + (int64_t)c * DAY_MS;
        g_now = start + DAY_MS;
        for (int h = 0; h < nseries; h++) {
            char nm[16];
            snprintf(nm, sizeof nm, "d%d", h);
            if (write_minutes(e, nm, start, start + DAY_MS, &walk[h])) FAILF("write");
        }
        CHECK_EQ_INT(0, eng_flush(e));
        CHECK_EQ_INT(0, eng_retention_run(e, g_now, NULL));
        eng_downsample_stats st;
        CHECK_EQ_INT(0, eng_downsample_run(e, g_now, &st));
        if (c >= keep) {
            int k = c - keep;
            sizes[k] = file_size(dir);
            eng_stats s;
            eng_stats_get(e, &s);
            printf("    cycle %2d: data.mdb %6.2f MB, %llu points written, %llu rollup blocks\n",
                   k + 1, (double)sizes[k] / 1048576.0, (unsigned long long)st.points_written,
                   (unsigned long long)s.rollup_blocks);
        }
    }
    uint64_t base = sizes[3], end = sizes[cycles - 1];
    if (end > base + base / 20)
        FAILF("data.mdb grew from %llu to %llu bytes over cycles 4..%d (> 5%%)",
              (unsigned long long)base, (unsigned long long)end, cycles);
    free(walk);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}
