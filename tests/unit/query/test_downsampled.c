/* tests/unit/query/test_downsampled.c: PromQL over downsampled data (docs/downsampling.md).
 *
 * Two engines get the same 40 simulated days of a counter with resets and a noisy gauge at
 * 15 s (offset 7 s, so no sample sits on an interval boundary): A downsamples 10d:5m and
 * 30d:1h, B keeps the raw samples. Range functions over windows made of whole rollup
 * intervals (ranges and evaluation times multiples of the step) must give what the raw
 * samples give, within float tolerance, at both levels and across the raw/rollup border;
 * a plain selector at the rollup step gives each interval's last value.
 * Static helpers are prefixed ds_ (this file shares unit_query). */
#include "engine/engine.h"
#include "query/query.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DS_MIN 60000LL
#define DS_HOUR (60 * DS_MIN)
#define DS_DAY (24 * DS_HOUR)
#define DS_NOW 1704067200000LL /* 2024-01-01T00:00:00Z */

static int64_t ds_clock(void) { return DS_NOW; }

static eng *ds_open(const char *dir, bool downsample) {
    eng_opts o = {.path = dir, .nosync = true, .now_ms = ds_clock, .retention_interval_ms = -1};
    if (downsample) {
        o.downsample[0].age_ms = 10 * DS_DAY, o.downsample[0].step_ms = 5 * DS_MIN;
        o.downsample[1].age_ms = 30 * DS_DAY, o.downsample[1].step_ms = DS_HOUR;
        o.n_downsample = 2;
    }
    eng *e = NULL;
    ax_err err = {0};
    if (eng_open(&o, &e, &err)) return NULL;
    return e;
}

/* deterministic values: the counter grows by 0..9 per sample and restarts every ~3.1 days;
 * the gauge is a daily wave with noise and a few repeated values */
static double ds_counter(int64_t k) {
    static double c;
    static int64_t last = -1;
    if (k == 0 || k != last + 1) c = 0;
    last = k;
    if (k % 17851 == 0) c = 0;
    c += (double)((k * 2654435761u) % 10);
    return c;
}

static double ds_gauge(int64_t k) {
    double t = (double)k * 15.0;
    double noise = (double)((k * 40503u) % 1000) / 100.0;
    if (k % 7 == 0) noise = 0; /* some repeats, for changes() */
    return 50 + 30 * sin(t / 86400.0 * 6.283185307179586) + noise;
}

static void ds_write(eng *a, eng *b) {
    int64_t t0 = DS_NOW - 40 * DS_DAY + 7000;
    size_t total = (size_t)(40 * DS_DAY / 15000);
    size_t batch = 5760; /* a day */
    eng_sample *cs = malloc(batch * sizeof *cs), *gs = malloc(batch * sizeof *gs);
    for (size_t k0 = 0; k0 < total; k0 += batch) {
        size_t n = total - k0 < batch ? total - k0 : batch;
        for (size_t i = 0; i < n; i++) {
            int64_t k = (int64_t)(k0 + i);
            cs[i] = (eng_sample){t0 + k * 15000, ds_counter(k)};
            gs[i] = (eng_sample){t0 + k * 15000, ds_gauge(k)};
        }
        for (int which = 0; which < 2; which++) {
            eng *e = which ? b : a;
            /* eng_write may reorder in place: give each engine its own copy */
            eng_sample *c2 = malloc(n * sizeof *c2), *g2 = malloc(n * sizeof *g2);
            memcpy(c2, cs, n * sizeof *c2);
            memcpy(g2, gs, n * sizeof *g2);
            ax_label lc[1] = {{"__name__", "c", 8, 1}}, lg[1] = {{"__name__", "g", 8, 1}};
            eng_ts ts[2] = {{lc, 1, c2, n}, {lg, 1, g2, n}};
            ax_err err = {0};
            if (eng_write(e, ts, 2, &err)) FAILF("eng_write: %s", err.msg);
            free(c2);
            free(g2);
        }
    }
    free(cs);
    free(gs);
}

static pql_result *ds_query(eng *e, const char *q, int64_t start, int64_t end, int64_t step) {
    ax_arena ar;
    ax_arena_init(&ar, 1 << 20);
    pql_node *root = NULL;
    ax_err err = {0};
    pql_result *r = NULL;
    pql_opts o = {.lookback_ms = 5 * DS_MIN, .max_samples = 50000000, .max_points = 100000};
    if (pql_parse(q, strlen(q), &ar, &root, &err)) FAILF("parse %s: %s", q, err.msg);
    if (pql_exec(e, root, start, end, step, true, &o, &r, &err)) FAILF("exec %s: %s", q, err.msg);
    pql_node_free(root);
    ax_arena_clear(&ar);
    return r;
}

/* A's and B's answers to q over [start, end] at step: same steps, values within tol. */
static void ds_same(eng *a, eng *b, const char *q, int64_t start, int64_t end, int64_t step, double tol) {
    pql_result *ra = ds_query(a, q, start, end, step), *rb = ds_query(b, q, start, end, step);
    if (ra->n != rb->n) FAILF("%s: %zu series downsampled, %zu raw", q, ra->n, rb->n);
    size_t compared = 0;
    for (size_t k = 0; k < ra->n; k++) {
        const pql_rseries *x = &ra->s[k], *y = &rb->s[k];
        if (x->n != y->n) FAILF("%s: %zu points downsampled, %zu raw", q, x->n, y->n);
        for (size_t i = 0; i < x->n; i++) {
            if (x->ts[i] != y->ts[i]) FAILF("%s: point %zu at %lld vs %lld", q, i, (long long)x->ts[i], (long long)y->ts[i]);
            double d = fabs(x->v[i] - y->v[i]), m = fmax(fabs(x->v[i]), fabs(y->v[i]));
            if (!(d <= tol * fmax(m, 1.0)))
                FAILF("%s at %lld (%.1f days ago): downsampled %.17g, raw %.17g", q, (long long)x->ts[i],
                      (double)(DS_NOW - x->ts[i]) / DS_DAY, x->v[i], y->v[i]);
            compared++;
        }
    }
    if (!compared) FAILF("%s: nothing to compare", q);
    pql_result_free(ra);
    pql_result_free(rb);
}

TEST(test_downsampled_queries_equal_raw_at_the_rollup_step) {
    char da[] = "/tmp/auspex-ds-a-XXXXXX", db[] = "/tmp/auspex-ds-b-XXXXXX";
    CHECK(mkdtemp(da) && mkdtemp(db));
    eng *a = ds_open(da, true), *b = ds_open(db, false);
    CHECK(a && b);
    ds_write(a, b);
    CHECK_EQ_INT(0, eng_flush(a));
    CHECK_EQ_INT(0, eng_flush(b));
    eng_downsample_stats st = {0};
    CHECK_EQ_INT(0, eng_downsample_run(a, DS_NOW, &st));
    if (st.raw_samples < 2 * 29 * 5760) FAILF("only %llu raw samples rolled up", (unsigned long long)st.raw_samples);
    /* A really holds rollups where B holds raw samples */
    pql_result *r = ds_query(a, "count_over_time(g[1h])", DS_NOW - 35 * DS_DAY, DS_NOW - 35 * DS_DAY, DS_HOUR);
    CHECK(r->n == 1 && r->s[0].n == 1 && r->s[0].v[0] == 240);
    pql_result_free(r);

    static const char *fns[] = {
        "rate(c[1h])", "increase(c[3h])", "resets(c[12h])", "changes(g[1h])", "delta(g[2h])",
        "max_over_time(g[1h])", "min_over_time(g[2h])", "avg_over_time(g[1h])", "sum_over_time(g[1h])",
        "count_over_time(g[3h])", "last_over_time(g[1h])", "stddev_over_time(g[2h])",
        "stdvar_over_time(g[1h])", "g", "c",
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        /* level 1 (5m): 12 to 28 days ago, every 5 minutes for the plain selectors */
        const char *q = fns[i];
        bool plain = !strchr(q, '(');
        int64_t l1 = plain ? 5 * DS_MIN : DS_HOUR;
        ds_same(a, b, q, DS_NOW - 28 * DS_DAY, DS_NOW - 12 * DS_DAY, l1, 1e-9);
        /* level 2 (1h): 31 to 39 days ago */
        ds_same(a, b, q, DS_NOW - 39 * DS_DAY, DS_NOW - 31 * DS_DAY, DS_HOUR, 1e-9);
        /* across the raw/rollup border (10 days ago) and the level border (30 days ago) */
        if (!plain) {
            ds_same(a, b, q, DS_NOW - 10 * DS_DAY - 6 * DS_HOUR, DS_NOW - 10 * DS_DAY + 6 * DS_HOUR, DS_HOUR, 1e-9);
            ds_same(a, b, q, DS_NOW - 30 * DS_DAY - 6 * DS_HOUR, DS_NOW - 30 * DS_DAY + 6 * DS_HOUR, DS_HOUR, 1e-9);
        }
    }
    eng_close(a);
    eng_close(b);
    test_rm_rf(da);
    test_rm_rf(db);
}
