/* Unit tests for engine/snapshot.c: eng_snapshot copies what was acknowledged before it,
 * and the copy opens as a data folder of its own. */
#include "engine/engine.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char *snap_tmpdir(void) {
    char *t = strdup("/tmp/auspex-snap-XXXXXX");
    if (!mkdtemp(t)) abort();
    return t;
}

static eng *snap_open(const char *dir) {
    eng_opts o = {.path = dir, .head_max_samples = 1 << 20, .flush_interval_ms = 3600000,
                  .chunk_max_samples = 128};
    eng *e = NULL;
    ax_err err = {0};
    if (eng_open(&o, &e, &err)) FAILF("eng_open %s: %s", dir, err.msg);
    return e;
}

/* {__name__="snap", host=host}: n samples at t0 + i*1000 with value base + i */
static int snap_write(eng *e, const char *host, int64_t t0, size_t n, double base) {
    ax_label ls[2] = {{"__name__", "snap", 8, 4}, {"host", host, 4, (uint32_t)strlen(host)}};
    eng_sample *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) s[i] = (eng_sample){t0 + (int64_t)i * 1000, base + (double)i};
    eng_ts ts = {ls, 2, s, n};
    int rc = eng_write(e, &ts, 1, NULL);
    free(s);
    return rc;
}

/* Samples of {__name__="snap", host=host} into out (caller frees); 0 series found: n = 0. */
static size_t snap_read(eng *e, const char *host, eng_samples *out) {
    eng_matcher m[2] = {{ENG_MATCH_EQ, "__name__", 8, "snap", 4, NULL},
                        {ENG_MATCH_EQ, "host", 4, host, strlen(host), NULL}};
    eng_sel *sel = NULL;
    memset(out, 0, sizeof *out);
    if (eng_select(e, m, 2, 0, &sel)) return 0;
    size_t n = eng_sel_count(sel);
    if (n == 1) CHECK_EQ_INT(0, eng_series_read(e, eng_sel_sid(sel, 0), INT64_MIN, INT64_MAX, 0, out));
    eng_sel_free(sel);
    return n;
}

static void snap_check(eng *e, const char *host, int64_t t0, size_t n, double base) {
    eng_samples s;
    CHECK_EQ_INT(1, snap_read(e, host, &s));
    CHECK_EQ_INT(n, s.n);
    for (size_t i = 0; i < n && i < s.n; i++) {
        if (s.ts[i] != t0 + (int64_t)i * 1000 || s.v[i] != base + (double)i) {
            FAILF("%s sample %zu: expected (%lld, %g) got (%lld, %g)", host, i,
                  (long long)(t0 + (int64_t)i * 1000), base + (double)i, (long long)s.ts[i], s.v[i]);
            break;
        }
    }
    eng_samples_free(&s);
}

TEST(test_snapshot_holds_exactly_what_came_before) {
    char *dir = snap_tmpdir();
    eng *e = snap_open(dir);
    /* part one: some flushed to LMDB, some only in the head and WAL */
    CHECK_EQ_INT(0, snap_write(e, "a", 0, 500, 0));
    CHECK_EQ_INT(0, eng_flush(e));
    CHECK_EQ_INT(0, snap_write(e, "a", 500000, 100, 500));
    CHECK_EQ_INT(0, snap_write(e, "b", 0, 50, 7));

    char snap[4200];
    snprintf(snap, sizeof snap, "%s/snapshots/s1", dir);
    ax_err err = {0};
    CHECK_EQ_INT(0, eng_snapshot(e, snap, &err));
    if (err.msg[0]) fprintf(stderr, "  eng_snapshot: %s\n", err.msg);
    /* a second copy into the same folder is refused, the first stays intact */
    CHECK(eng_snapshot(e, snap, &err) != 0);

    /* part two: after the snapshot, in the head and in LMDB */
    CHECK_EQ_INT(0, snap_write(e, "a", 600000, 100, 600));
    CHECK_EQ_INT(0, snap_write(e, "c", 0, 10, 0));
    CHECK_EQ_INT(0, eng_flush(e));
    CHECK_EQ_INT(0, snap_write(e, "b", 50000, 10, 57));

    /* the copy: exactly part one */
    eng *c = snap_open(snap);
    if (c) {
        snap_check(c, "a", 0, 600, 0);
        snap_check(c, "b", 0, 50, 7);
        eng_samples s;
        CHECK_EQ_INT(0, snap_read(c, "c", &s));
        eng_samples_free(&s);
        /* and it takes writes of its own */
        CHECK_EQ_INT(0, snap_write(c, "a", 600000, 5, 600));
        snap_check(c, "a", 0, 605, 0);
        eng_close(c);
    }
    /* the source still has everything, snapshots/ inside its folder notwithstanding */
    snap_check(e, "a", 0, 700, 0);
    snap_check(e, "b", 0, 60, 7);
    snap_check(e, "c", 0, 10, 0);
    eng_close(e);
    e = snap_open(dir);
    if (e) {
        snap_check(e, "a", 0, 700, 0);
        snap_check(e, "b", 0, 60, 7);
        eng_close(e);
    }
    test_rm_rf(dir);
    free(dir);
}

TEST(test_snapshot_of_empty_store_opens) {
    char *dir = snap_tmpdir();
    eng *e = snap_open(dir);
    char snap[4200];
    snprintf(snap, sizeof snap, "%s/copy", dir);
    ax_err err = {0};
    CHECK_EQ_INT(0, eng_snapshot(e, snap, &err));
    eng_close(e);
    struct stat st;
    CHECK_EQ_INT(0, stat(snap, &st));
    char wal[4300];
    snprintf(wal, sizeof wal, "%s/wal", snap);
    CHECK(stat(wal, &st) != 0); /* no wal/ in the copy: eng_open makes one */
    eng *c = snap_open(snap);
    if (c) {
        eng_samples s;
        CHECK_EQ_INT(0, snap_read(c, "a", &s));
        eng_samples_free(&s);
        eng_close(c);
    }
    test_rm_rf(dir);
    free(dir);
}
