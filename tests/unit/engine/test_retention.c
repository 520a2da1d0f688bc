/* Unit tests for engine/retention.c: the retention pass on simulated time, the ingest-time
 * drop of too-old samples, deleted series coming back, eng_series_delete, and the LMDB
 * file staying the same size once retention deletes as much as is written. */
#include "engine/engine.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_MS 60000LL
#define DAY_MS 86400000LL
/* a fixed "now": 2024-01-01T00:00:00Z, so nothing depends on the wall clock */
#define T0 1704067200000LL

static int64_t g_now;
static int64_t test_clock(void) { return g_now; }

static char *tmpdir(void) {
    char *t = strdup("/tmp/auspex-ret-XXXXXX");
    if (!mkdtemp(t)) abort();
    return t;
}

static eng *open_ret(const char *dir, int64_t retention_ms, size_t chunk_max) {
    eng_opts o = {.path = dir, .head_max_samples = 1u << 26, .flush_interval_ms = 3600000,
                  .chunk_max_samples = chunk_max, .nosync = true, .retention_ms = retention_ms,
                  .retention_interval_ms = -1, .now_ms = test_clock};
    eng *e = NULL;
    ax_err err = {0};
    if (eng_open(&o, &e, &err)) FAILF("eng_open: %s", err.msg);
    return e;
}

static ax_label LB(const char *n, const char *v) {
    ax_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

/* value of series `host` at time t: a pure function, so reads can be checked exactly */
static double val(int host, int64_t t) { return (double)((t / MIN_MS) % 9973) + host * 0.25; }

/* write {__name__=name, host=host} at t0, t0+step, ... (n samples) */
static int write_run(eng *e, const char *name, int host, int64_t t0, int64_t step, size_t n) {
    char hs[16];
    snprintf(hs, sizeof hs, "h%d", host);
    ax_label ls[2] = {LB("__name__", name), LB("host", hs)};
    eng_sample *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].ts = t0 + (int64_t)i * step;
        s[i].v = val(host, s[i].ts);
    }
    eng_ts ts = {ls, 2, s, n};
    ax_err err = {0};
    int rc = eng_write(e, &ts, 1, &err);
    if (rc) FAILF("eng_write: %s", err.msg);
    free(s);
    return rc;
}

static uint64_t find_sid(eng *e, const char *name, int host) {
    char hs[16];
    snprintf(hs, sizeof hs, "h%d", host);
    eng_matcher m[2] = {{ENG_MATCH_EQ, "__name__", 8, name, strlen(name), NULL},
                        {ENG_MATCH_EQ, "host", 4, hs, strlen(hs), NULL}};
    eng_sel *sel = NULL;
    if (eng_select(e, m, 2, 0, &sel)) return 0;
    uint64_t sid = eng_sel_count(sel) == 1 ? eng_sel_sid(sel, 0) : 0;
    eng_sel_free(sel);
    return sid;
}

static size_t count_all(eng *e) {
    eng_matcher m = {ENG_MATCH_RE, "__name__", 8, ".+", 2, NULL};
    ax_err err = {0};
    if (eng_matcher_compile(&m, &err)) return 0;
    eng_sel *sel = NULL;
    size_t n = eng_select(e, &m, 1, 0, &sel) ? 0 : eng_sel_count(sel);
    eng_sel_free(sel);
    eng_matcher_free(&m);
    return n;
}

/* Promised by docs/retention.md after a pass with cutoff c: every sample >= c is there;
 * older ones only in the one chunk that straddles c, i.e. fewer than chunk_max of them, all
 * just before c. Series written every `step` from first to last. */
static void check_after_pass(eng *e, const char *name, int host, int64_t first, int64_t last,
                             int64_t step, int64_t cutoff, size_t chunk_max) {
    uint64_t sid = find_sid(e, name, host);
    if (!sid) {
        FAILF("%s{host=h%d} not found", name, host);
        return;
    }
    eng_samples s = {0};
    CHECK_EQ_INT(0, eng_series_read(e, sid, INT64_MIN, INT64_MAX, 0, &s));
    int64_t keep_from = first >= cutoff ? first : first + (cutoff - first + step - 1) / step * step;
    size_t want_new = (size_t)((last - keep_from) / step + 1);
    size_t old = 0;
    while (old < s.n && s.ts[old] < cutoff) old++;
    if (old >= chunk_max) FAILF("h%d: %zu samples older than the cutoff remain (< %zu promised)",
                                host, old, chunk_max);
    CHECK_EQ_INT(want_new, s.n - old);
    for (size_t i = 0; i < s.n; i++) {
        int64_t want_ts = (old ? s.ts[0] : keep_from) + (int64_t)i * step;
        if (s.ts[i] != want_ts || s.v[i] != val(host, want_ts)) {
            FAILF("h%d sample %zu: expected (%lld, %g) got (%lld, %g)", host, i,
                  (long long)want_ts, val(host, want_ts), (long long)s.ts[i], s.v[i]);
            break;
        }
    }
    if (old && s.ts[0] < cutoff - (int64_t)chunk_max * step)
        FAILF("h%d: oldest sample %lld is more than one chunk before the cutoff %lld", host,
              (long long)s.ts[0], (long long)cutoff);
    eng_samples_free(&s);
}

TEST(test_retention_pass_deletes_old_chunks_and_series) {
    char *dir = tmpdir();
    const size_t chunk_max = 256;
    const int64_t ret = 30 * DAY_MS;
    /* write 60 days while "now" is 30 days earlier (so nothing is too old yet) */
    g_now = T0 - 30 * DAY_MS;
    eng *e = open_ret(dir, ret, chunk_max);
    const int64_t first = T0 - 60 * DAY_MS, last = T0 - MIN_MS;
    for (int day = 0; day < 60; day++)
        for (int h = 1; h <= 4; h++)
            write_run(e, "m", h, first + day * DAY_MS, MIN_MS, 1440);
    /* a series that ends 40 days before T0: wholly older than the cutoff */
    write_run(e, "gone", 1, first, MIN_MS, 20 * 1440);
    CHECK_EQ_INT(0, eng_flush(e));
    CHECK_EQ_INT(5, count_all(e));

    g_now = T0;
    eng_retention_stats st = {0};
    CHECK_EQ_INT(0, eng_retention_run(e, T0, &st));
    const int64_t cutoff = T0 - ret;
    /* 4 series x 43200 samples before the cutoff and 28800 of "gone", in chunks of at most
     * 256: at least that many chunks, less the one straddling the cutoff per series */
    const unsigned min_deleted = 4 * (43200 / 256 - 1) + 28800 / 256;
    if (st.chunks_deleted < min_deleted)
        FAILF("chunks deleted: %llu, expected at least %u", (unsigned long long)st.chunks_deleted,
              min_deleted);
    CHECK_EQ_U64(1, st.series_deleted);
    for (int h = 1; h <= 4; h++) check_after_pass(e, "m", h, first, last, MIN_MS, cutoff, chunk_max);
    CHECK_EQ_U64(0, find_sid(e, "gone", 1));
    CHECK_EQ_INT(4, count_all(e));
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(4, s.series_total);
    CHECK_EQ_U64(st.chunks_deleted, s.retention_chunks_deleted);
    CHECK_EQ_U64(1, s.retention_series_deleted);
    CHECK_EQ_U64(1, s.retention_passes);

    /* a second pass at the same time finds nothing */
    CHECK_EQ_INT(0, eng_retention_run(e, T0, &st));
    CHECK_EQ_U64(0, st.chunks_deleted);
    CHECK_EQ_U64(0, st.series_deleted);

    /* samples older than now - retention are dropped at ingest, not an error */
    uint64_t too_old0 = s.samples_too_old;
    CHECK_EQ_INT(0, write_run(e, "m", 1, cutoff - 100 * MIN_MS, MIN_MS, 110)); /* 100 too old */
    CHECK_EQ_INT(0, write_run(e, "late", 1, cutoff - 1000 * MIN_MS, MIN_MS, 10)); /* all */
    eng_stats_get(e, &s);
    CHECK_EQ_U64(too_old0 + 110, s.samples_too_old);
    CHECK_EQ_U64(0, find_sid(e, "late", 1)); /* a series with nothing left is not created */
    eng_samples rs = {0};
    CHECK_EQ_INT(0, eng_series_read(e, find_sid(e, "m", 1), INT64_MIN, cutoff - 1000 * MIN_MS, 0, &rs));
    CHECK_EQ_INT(0, rs.n);
    eng_samples_free(&rs);
    eng_close(e);

    /* the same after a restart */
    e = open_ret(dir, ret, chunk_max);
    CHECK_EQ_U64(0, find_sid(e, "gone", 1));
    CHECK_EQ_INT(4, count_all(e));
    for (int h = 2; h <= 4; h++) check_after_pass(e, "m", h, first, last, MIN_MS, cutoff, chunk_max);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

/* copy a data folder while the engine is idle (no flush, no pass): what a kill -9 leaves */
static void copy_tree(const char *from, const char *to) {
    mkdir(to, 0755);
    DIR *d = opendir(from);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            !strcmp(de->d_name, "lock.mdb") || !strcmp(de->d_name, "lock"))
            continue;
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", from, de->d_name);
        snprintf(b, sizeof b, "%s/%s", to, de->d_name);
        struct stat st;
        if (stat(a, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            copy_tree(a, b);
            continue;
        }
        int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char buf[65536];
        ssize_t r;
        while (in >= 0 && out >= 0 && (r = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)r) != r) break;
        if (in >= 0) close(in);
        if (out >= 0) close(out);
    }
    closedir(d);
}

TEST(test_retention_deleted_series_comes_back) {
    char *dir = tmpdir();
    const int64_t ret = 10 * DAY_MS;
    g_now = T0 - 10 * DAY_MS;
    eng *e = open_ret(dir, ret, 256);
    write_run(e, "x", 1, T0 - 20 * DAY_MS, MIN_MS, 1440); /* one day, 20 days before T0 */
    write_run(e, "x", 2, T0 - 2 * DAY_MS, MIN_MS, 100);
    CHECK_EQ_INT(0, eng_flush(e));
    uint64_t sid = find_sid(e, "x", 1);
    CHECK(sid != 0);
    g_now = T0;
    eng_retention_stats st = {0};
    CHECK_EQ_INT(0, eng_retention_run(e, T0, &st));
    CHECK_EQ_U64(1, st.series_deleted);
    CHECK_EQ_U64(0, find_sid(e, "x", 1));

    /* written again: visible at once, with the same id, holding only the new samples */
    write_run(e, "x", 1, T0 - 60 * MIN_MS, MIN_MS, 30);
    CHECK_EQ_U64(sid, find_sid(e, "x", 1));
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(2, s.series_total);
    /* before any flush its series record is gone from LMDB: a crash now must replay it */
    char *crash = tmpdir();
    copy_tree(dir, crash);
    CHECK_EQ_INT(0, eng_flush(e));
    eng_close(e);

    const char *dirs[2] = {dir, crash};
    for (int k = 0; k < 2; k++) {
        e = open_ret(dirs[k], ret, 256);
        uint64_t got = find_sid(e, "x", 1);
        if (got != sid) FAILF("%s: resurrected series has sid %llu, expected %llu",
                              k ? "after a crash" : "after close", (unsigned long long)got,
                              (unsigned long long)sid);
        eng_samples rs = {0};
        CHECK_EQ_INT(0, eng_series_read(e, sid, INT64_MIN, INT64_MAX, 0, &rs));
        CHECK_EQ_INT(30, rs.n);
        if (rs.n) CHECK_EQ_INT(T0 - 60 * MIN_MS, rs.ts[0]);
        eng_samples_free(&rs);
        CHECK(find_sid(e, "x", 2) != 0);
        eng_close(e);
    }
    test_rm_rf(crash);
    free(crash);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_retention_series_delete) {
    char *dir = tmpdir();
    g_now = T0;
    eng *e = open_ret(dir, 0, 256); /* retention off: deletion works on its own */
    for (int h = 1; h <= 3; h++) write_run(e, "d", h, T0 - DAY_MS, MIN_MS, 1000);
    CHECK_EQ_INT(0, eng_flush(e));
    /* some samples only in the head (and the WAL) */
    for (int h = 1; h <= 3; h++) write_run(e, "d", h, T0 - DAY_MS + 1000 * MIN_MS, MIN_MS, 50);
    uint64_t sids[2] = {find_sid(e, "d", 1), find_sid(e, "d", 2)};
    size_t nd = 0;
    CHECK_EQ_INT(0, eng_series_delete(e, sids, 2, &nd));
    CHECK_EQ_INT(2, nd);
    CHECK_EQ_U64(0, find_sid(e, "d", 1));
    CHECK_EQ_U64(0, find_sid(e, "d", 2));
    eng_samples rs = {0};
    CHECK_EQ_INT(0, eng_series_read(e, sids[0], INT64_MIN, INT64_MAX, 0, &rs));
    CHECK_EQ_INT(0, rs.n);
    eng_samples_free(&rs);
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(1, s.series_total);
    CHECK_EQ_U64(2, s.series_deleted);
    CHECK_EQ_U64(0, s.head_samples);
    /* deleting again: nothing */
    CHECK_EQ_INT(0, eng_series_delete(e, sids, 2, &nd));
    CHECK_EQ_INT(0, nd);
    /* head samples of the third survive; the deleted ones stay gone after a restart */
    write_run(e, "d", 3, T0, MIN_MS, 5);
    eng_close(e);
    e = open_ret(dir, 0, 256);
    CHECK_EQ_U64(0, find_sid(e, "d", 1));
    CHECK_EQ_U64(0, find_sid(e, "d", 2));
    CHECK_EQ_INT(1, count_all(e));
    uint64_t sid3 = find_sid(e, "d", 3);
    CHECK_EQ_INT(0, eng_series_read(e, sid3, INT64_MIN, INT64_MAX, 0, &rs));
    CHECK_EQ_INT(1055, rs.n);
    eng_samples_free(&rs);
    /* a deleted series written after a restart starts afresh */
    write_run(e, "d", 1, T0, MIN_MS, 7);
    uint64_t again = find_sid(e, "d", 1);
    CHECK(again != 0);
    CHECK_EQ_INT(0, eng_series_read(e, again, INT64_MIN, INT64_MAX, 0, &rs));
    CHECK_EQ_INT(7, rs.n);
    eng_samples_free(&rs);
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

/* Ingest a day, flush, run retention, for many simulated days: once retention deletes as
 * much as is written, LMDB reuses the freed pages and data.mdb stops growing. */
TEST(test_retention_disk_size_stable) {
    char *dir = tmpdir();
    const int nseries = 100, keep_days = 10, cycles = 16;
    const int64_t ret = keep_days * DAY_MS;
    int64_t day0 = T0 - keep_days * DAY_MS;
    g_now = day0;
    eng *e = open_ret(dir, ret, 0);
    /* values: a random walk per series (realistic chunk sizes), the same on every run */
    uint64_t rng = 42;
    double *walk = calloc((size_t)nseries, sizeof *walk);
    eng_sample *smp = malloc(1440 * sizeof *smp);
    uint64_t sizes[64] = {0};
    for (int c = 0; c < keep_days + cycles; c++) {
        int64_t start = day0 + (int64_t)c * DAY_MS; /* day c; "now" is its end */
        g_now = start + DAY_MS;
        for (int h = 0; h < nseries; h++) {
            char hs[16];
            snprintf(hs, sizeof hs, "h%d", h);
            ax_label ls[2] = {LB("__name__", "disk"), LB("host", hs)};
            for (int i = 0; i < 1440; i++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                walk[h] += (double)((int)(rng >> 55) - 256) / 16.0;
                smp[i].ts = start + (int64_t)i * MIN_MS;
                smp[i].v = walk[h];
            }
            eng_ts ts = {ls, 2, smp, 1440};
            ax_err err = {0};
            if (eng_write(e, &ts, 1, &err)) FAILF("eng_write: %s", err.msg);
        }
        CHECK_EQ_INT(0, eng_flush(e));
        if (c >= keep_days) {
            eng_retention_stats st;
            CHECK_EQ_INT(0, eng_retention_run(e, g_now, &st));
            int k = c - keep_days;
            sizes[k] = file_size(dir);
            eng_stats s;
            eng_stats_get(e, &s);
            printf("    cycle %2d: data.mdb %7.2f MB (allocated %7.2f MB), chunks deleted %5llu\n",
                   k + 1, (double)sizes[k] / 1048576.0, (double)s.lmdb_bytes / 1048576.0,
                   (unsigned long long)st.chunks_deleted);
            if (k > 0 && st.chunks_deleted == 0) FAILF("cycle %d deleted nothing", k + 1);
        }
    }
    /* after the first few cycles, the file grows by less than 5% over the rest */
    uint64_t base = sizes[3], end = sizes[cycles - 1];
    if (end > base + base / 20)
        FAILF("data.mdb grew from %llu to %llu bytes over cycles 4..%d (> 5%%)",
              (unsigned long long)base, (unsigned long long)end, cycles);
    /* and nothing older than one chunk before the cutoff is left */
    eng_matcher m = {ENG_MATCH_EQ, "__name__", 8, "disk", 4, NULL};
    eng_sel *sel = NULL;
    CHECK_EQ_INT(0, eng_select(e, &m, 1, 0, &sel));
    CHECK_EQ_INT(nseries, eng_sel_count(sel));
    eng_samples rs = {0};
    CHECK_EQ_INT(0, eng_series_read(e, eng_sel_sid(sel, 0), INT64_MIN, INT64_MAX, 0, &rs));
    if (rs.n) CHECK(rs.ts[0] > g_now - ret - 16384 * MIN_MS);
    CHECK(rs.n >= (size_t)keep_days * 1440);
    eng_samples_free(&rs);
    eng_sel_free(sel);
    free(walk);
    free(smp);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}
