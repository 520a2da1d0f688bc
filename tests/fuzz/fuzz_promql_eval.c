/* Fuzz target: PromQL evaluation. Every input that parses is evaluated as an instant query
 * and as a range query against a small engine (counters, gauges with NaN/Inf and a
 * staleness marker, a classic histogram) with tight limits (samples, memory, points, a
 * deadline). Any status is fine; a crash, a sanitizer report or a malformed result is not.
 * The engine lives in a temporary folder made on the first input and removed at exit. */
/* link: ax_query */
#include "query/query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static eng *g_eng;
static char g_dir[64];

static void cleanup(void) {
    eng_close(g_eng);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "fuzz_promql_eval: could not remove %s\n", g_dir);
}

static void put(eng *e, const char *name, const char *k, const char *v, const char *k2,
                const char *v2, double start, double step, int n, int stale_at) {
    ax_label ls[3] = {{"__name__", name, 8, (uint32_t)strlen(name)},
                      {k, v, (uint32_t)strlen(k), (uint32_t)strlen(v)},
                      {k2, v2, (uint32_t)strlen(k2), (uint32_t)strlen(v2)}};
    eng_sample s[64];
    for (int i = 0; i < n && i < 64; i++) {
        s[i].ts = (int64_t)i * 60000;
        s[i].v = i == stale_at ? 0 : start + step * i;
        if (i == stale_at) {
            uint64_t b = 0x7ff0000000000002ull;
            memcpy(&s[i].v, &b, sizeof b);
        }
    }
    eng_ts ts = {ls, k2[0] ? 3 : 2, s, (size_t)n};
    ax_err err;
    if (eng_write(e, &ts, 1, &err)) {
        fprintf(stderr, "fuzz_promql_eval: seeding failed: %s\n", err.msg);
        abort();
    }
}

static eng *engine(void) {
    if (g_eng) return g_eng;
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz_promql_eval.XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    eng_opts o = {.path = g_dir, .nosync = true};
    ax_err err;
    if (eng_open(&o, &g_eng, &err)) abort();
    atexit(cleanup);
    put(g_eng, "http_requests_total", "job", "api", "instance", "a", 0, 10, 60, -1);
    put(g_eng, "http_requests_total", "job", "api", "instance", "b", 5, 3, 60, -1);
    put(g_eng, "http_requests_total", "job", "db", "", "", 100, -2, 60, 30); /* resets, stale */
    put(g_eng, "temp", "job", "api", "instance", "a", -1e300, 1e299, 40, -1);
    put(g_eng, "temp", "job", "db", "instance", "c", NAN, 1, 20, -1);
    put(g_eng, "temp", "job", "web", "instance", "d", INFINITY, 0, 20, -1);
    static const char *const le[] = {"0.1", "0.5", "1", "+Inf"};
    for (int i = 0; i < 4; i++) put(g_eng, "rq_bucket", "le", le[i], "job", "api", i, i + 1, 60, -1);
    return g_eng;
}

/* A result must be internally consistent: points ascending, labels sorted. */
static void check(const pql_result *r) {
    for (size_t k = 0; k < r->n; k++) {
        const pql_rseries *s = &r->s[k];
        for (size_t i = 1; i < s->n; i++)
            if (s->ts[i] <= s->ts[i - 1]) { fprintf(stderr, "points out of order\n"); abort(); }
        for (size_t i = 1; i < s->n_ls; i++) {
            size_t a = s->ls[i - 1].name_len, b = s->ls[i].name_len;
            int c = memcmp(s->ls[i - 1].name, s->ls[i].name, a < b ? a : b);
            if (c > 0 || (c == 0 && a >= b)) { fprintf(stderr, "labels not sorted\n"); abort(); }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    eng *e = engine();
    ax_arena a;
    ax_arena_init(&a, 64 << 20);
    pql_node *n = NULL;
    ax_err err;
    if (pql_parse((const char *)data, size, &a, &n, &err) == 0) {
        pql_opts o = {.max_samples = 200000, .max_points = 500, .mem_max = 64 << 20,
                      .deadline_ns = ax_mono_ns() + 2000000000ull};
        pql_result *r = NULL;
        if (pql_exec(e, n, 1800000, 0, 0, false, &o, &r, &err) == 0) {
            check(r);
            pql_result_free(r);
        }
        int t = pql_node_type(n);
        if ((t == PQL_T_SCALAR || t == PQL_T_VECTOR) &&
            pql_exec(e, n, 0, 3600000, 30000, true, &o, &r, &err) == 0) {
            if (r->type != PQL_T_MATRIX) { fprintf(stderr, "range query gave type %d\n", r->type); abort(); }
            check(r);
            pql_result_free(r);
        }
        pql_node_free(n);
    }
    ax_arena_clear(&a);
    return 0;
}
