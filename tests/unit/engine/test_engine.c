/* Unit tests for engine/: write path, head, flush, WAL replay, reads, selection. */
#include "engine/engine.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir(void) {
    char *t = strdup("/tmp/auspex-eng-XXXXXX");
    if (!mkdtemp(t)) abort();
    return t;
}

static eng *open_eng(const char *dir, size_t head_max) {
    eng_opts o = {.path = dir, .head_max_samples = head_max, .flush_interval_ms = 3600000,
                  .chunk_max_samples = 128};
    eng *e = NULL;
    ax_err err = {0};
    int rc = eng_open(&o, &e, &err);
    if (rc) FAILF("eng_open: %s", err.msg);
    return e;
}

static ax_label LB(const char *n, const char *v) {
    ax_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

/* write one series {__name__=name, host=host} with samples ts[i] = t0 + i*step, v = f(i) */
static int write_series(eng *e, const char *name, const char *host, int64_t t0, int64_t step,
                        size_t n, double base) {
    ax_label ls[2] = {LB("host", host), LB("__name__", name)}; /* unsorted on purpose */
    eng_sample *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].ts = t0 + (int64_t)i * step;
        s[i].v = base + (double)i;
    }
    eng_ts ts = {ls, 2, s, n};
    ax_err err = {0};
    int rc = eng_write(e, &ts, 1, &err);
    free(s);
    return rc;
}

static uint64_t find_sid(eng *e, const char *name, const char *host) {
    eng_matcher m[2] = {{ENG_MATCH_EQ, "__name__", 8, name, strlen(name), NULL},
                        {ENG_MATCH_EQ, "host", 4, host, strlen(host), NULL}};
    eng_sel *sel = NULL;
    if (eng_select(e, m, 2, 0, &sel)) return 0;
    uint64_t sid = eng_sel_count(sel) == 1 ? eng_sel_sid(sel, 0) : 0;
    eng_sel_free(sel);
    return sid;
}

static void check_series(eng *e, const char *name, const char *host, int64_t t0, int64_t step,
                         size_t n, double base) {
    uint64_t sid = find_sid(e, name, host);
    if (!sid) { FAILF("series %s{host=%s} not found", name, host); return; }
    eng_samples s = {0};
    CHECK_EQ_INT(0, eng_series_read(e, sid, INT64_MIN, INT64_MAX, 0, &s));
    CHECK_EQ_INT(n, s.n);
    for (size_t i = 0; i < n && i < s.n; i++) {
        if (s.ts[i] != t0 + (int64_t)i * step || s.v[i] != base + (double)i) {
            FAILF("sample %zu: expected (%lld, %g) got (%lld, %g)", i,
                  (long long)(t0 + (int64_t)i * step), base + (double)i, (long long)s.ts[i], s.v[i]);
            break;
        }
    }
    eng_samples_free(&s);
}

TEST(test_engine_write_read_head_and_flushed) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 1 << 20);
    CHECK_EQ_INT(0, write_series(e, "cpu", "a", 1000, 15000, 300, 10));
    check_series(e, "cpu", "a", 1000, 15000, 300, 10);   /* from the head */
    CHECK_EQ_INT(0, eng_flush(e));
    check_series(e, "cpu", "a", 1000, 15000, 300, 10);   /* from LMDB */
    CHECK_EQ_INT(0, write_series(e, "cpu", "a", 1000 + 300 * 15000, 15000, 50, 310));
    check_series(e, "cpu", "a", 1000, 15000, 350, 10);   /* merged LMDB + head */
    eng_samples s = {0};
    uint64_t sid = find_sid(e, "cpu", "a");
    CHECK_EQ_INT(0, eng_series_read(e, sid, 1000 + 15000 * 10, 1000 + 15000 * 19, 0, &s));
    CHECK_EQ_INT(10, s.n);
    CHECK_EQ_INT(AX_ELIMIT, eng_series_read(e, sid, INT64_MIN, INT64_MAX, 100, &s));
    eng_samples_free(&s);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_engine_out_of_order_and_duplicates) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 1 << 20);
    ax_label ls[1] = {LB("__name__", "m")};
    eng_sample a[] = {{5000, 5}, {1000, 1}, {3000, 3}, {3000, 3}};
    eng_ts t = {ls, 1, a, 4};
    CHECK_EQ_INT(0, eng_write(e, &t, 1, NULL));
    CHECK_EQ_INT(0, eng_flush(e));
    ax_label ls2[1] = {LB("__name__", "m")};
    eng_sample b[] = {{2000, 2}, {4000, 4}, {5000, 5}, {1000, 100}};
    eng_ts t2 = {ls2, 1, b, 4};
    CHECK_EQ_INT(0, eng_write(e, &t2, 1, NULL));
    eng_matcher m = {ENG_MATCH_EQ, "__name__", 8, "m", 1, NULL};
    eng_sel *sel = NULL;
    CHECK_EQ_INT(0, eng_select(e, &m, 1, 0, &sel));
    CHECK_EQ_INT(1, eng_sel_count(sel));
    for (int round = 0; round < 2; round++) {
        eng_samples s = {0};
        CHECK_EQ_INT(0, eng_series_read(e, eng_sel_sid(sel, 0), INT64_MIN, INT64_MAX, 0, &s));
        double want[] = {100, 2, 3, 4, 5};
        CHECK_EQ_INT(5, s.n);
        for (size_t i = 0; i < 5 && i < s.n; i++) {
            CHECK_EQ_INT((int64_t)(i + 1) * 1000, s.ts[i]);
            CHECK_EQ_DBL(want[i], s.v[i]);
        }
        eng_samples_free(&s);
        CHECK_EQ_INT(0, eng_flush(e)); /* second round reads it all from LMDB */
    }
    eng_sel_free(sel);
    eng_stats st;
    eng_stats_get(e, &st);
    CHECK(st.samples_duplicate >= 1);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_engine_invalid_batch_applies_nothing) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 1 << 20);
    ax_label good[1] = {LB("__name__", "ok")};
    ax_label bad[2] = {LB("__name__", "bad"), LB("a-b", "x")};
    eng_sample s[1] = {{1000, 1}};
    eng_ts ts[2] = {{good, 1, s, 1}, {bad, 2, s, 1}};
    ax_err err = {0};
    CHECK_EQ_INT(AX_EINVAL, eng_write(e, ts, 2, &err));
    CHECK(strstr(err.msg, "series 1") != NULL);
    eng_stats st;
    eng_stats_get(e, &st);
    CHECK_EQ_INT(0, st.series_total);
    CHECK_EQ_INT(0, st.samples_ingested);
    CHECK_EQ_INT(0, find_sid(e, "ok", ""));
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

/* a crash is simulated by copying the data folder while the engine runs (everything
 * acknowledged must already be on disk), then opening the copy */
static void copy_tree(const char *from, const char *to) {
    mkdir(to, 0755);
    DIR *d = opendir(from);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", from, de->d_name);
        snprintf(b, sizeof b, "%s/%s", to, de->d_name);
        struct stat st;
        lstat(a, &st);
        if (S_ISDIR(st.st_mode)) { copy_tree(a, b); continue; }
        int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char buf[65536];
        ssize_t k;
        while ((k = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)k) != k) break;
        close(in);
        close(out);
    }
    if (d) closedir(d);
}

TEST(test_engine_crash_recovery_replays_wal) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 1 << 20);
    CHECK_EQ_INT(0, write_series(e, "x", "a", 0, 1000, 500, 0));
    CHECK_EQ_INT(0, eng_flush(e));
    CHECK_EQ_INT(0, write_series(e, "x", "a", 500000, 1000, 100, 500)); /* only in WAL */
    CHECK_EQ_INT(0, write_series(e, "y", "b", 0, 1000, 10, 7));        /* new series, WAL only */
    char crash[512];
    snprintf(crash, sizeof crash, "%s-crash", dir);
    copy_tree(dir, crash);
    eng_close(e);

    eng *r = open_eng(crash, 1 << 20);
    check_series(r, "x", "a", 0, 1000, 600, 0);
    check_series(r, "y", "b", 0, 1000, 10, 7);
    /* new series after recovery get fresh ids */
    CHECK_EQ_INT(0, write_series(r, "z", "c", 0, 1000, 3, 1));
    uint64_t sy = find_sid(r, "y", "b"), sz = find_sid(r, "z", "c");
    CHECK(sz > sy && sy != 0);
    eng_close(r);
    /* and a clean reopen after the clean close */
    r = open_eng(crash, 1 << 20);
    check_series(r, "x", "a", 0, 1000, 600, 0);
    check_series(r, "z", "c", 0, 1000, 3, 1);
    eng_close(r);
    test_rm_rf(crash);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_engine_torn_wal_tail_is_cut) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 1 << 20);
    CHECK_EQ_INT(0, write_series(e, "x", "a", 0, 1000, 20, 0));
    char crash[512];
    snprintf(crash, sizeof crash, "%s-crash", dir);
    copy_tree(dir, crash);
    eng_close(e);
    /* append garbage that looks like the start of a record to the newest segment */
    char wal[600];
    snprintf(wal, sizeof wal, "%s/wal", crash);
    DIR *d = opendir(wal);
    struct dirent *de;
    char last[1024] = "";
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".wal")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", wal, de->d_name);
        if (strcmp(p, last) > 0) snprintf(last, sizeof last, "%s", p); /* newest segment */
    }
    closedir(d);
    int fd = open(last, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    uint8_t junk[12] = {100, 0, 0, 0, 1, 2, 3, 4, 'D', 1, 2, 3};
    CHECK_EQ_INT(12, write(fd, junk, 12));
    close(fd);
    eng *r = open_eng(crash, 1 << 20);
    check_series(r, "x", "a", 0, 1000, 20, 0);
    CHECK_EQ_INT(0, write_series(r, "x", "a", 20000, 1000, 5, 20));
    eng_close(r);
    r = open_eng(crash, 1 << 20);
    check_series(r, "x", "a", 0, 1000, 25, 0);
    eng_close(r);
    test_rm_rf(crash);
    test_rm_rf(dir);
    free(dir);
}

typedef struct { eng *e; int id; int rc; } writer_arg;

static void *writer_thread(void *p) {
    writer_arg *a = p;
    char host[16];
    snprintf(host, sizeof host, "h%d", a->id);
    for (int round = 0; round < 40 && !a->rc; round++) {
        /* AX_EAGAIN is backpressure (the head is 3x its size while a flush catches up):
         * a client waits and sends the same batch again, as Prometheus does on 503 */
        for (int tries = 0; tries < 5000; tries++) {
            a->rc = write_series(a->e, "load", host, round * 10000, 1000, 10, round * 10);
            if (a->rc != AX_EAGAIN) break;
            struct timespec d = {0, 1000000};
            nanosleep(&d, NULL);
        }
    }
    return NULL;
}

TEST(test_engine_concurrent_writers_with_flushes) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 500); /* tiny head: many flushes during the run */
    pthread_t th[6];
    writer_arg args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (writer_arg){e, i, 0};
        pthread_create(&th[i], NULL, writer_thread, &args[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(0, args[i].rc);
    }
    for (int i = 0; i < 6; i++) {
        char host[16];
        snprintf(host, sizeof host, "h%d", i);
        check_series(e, "load", host, 0, 1000, 400, 0);
    }
    eng_stats st;
    eng_stats_get(e, &st);
    CHECK_EQ_INT(2400, st.samples_ingested);
    CHECK(st.commits >= 1 && st.commits <= 240);
    CHECK(st.flushes >= 1);
    eng_close(e);
    e = open_eng(dir, 1 << 20);
    for (int i = 0; i < 6; i++) {
        char host[16];
        snprintf(host, sizeof host, "h%d", i);
        check_series(e, "load", host, 0, 1000, 400, 0);
    }
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_engine_select_matchers) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 1 << 20);
    CHECK_EQ_INT(0, write_series(e, "up", "web-1", 0, 1000, 1, 1));
    CHECK_EQ_INT(0, write_series(e, "up", "web-2", 0, 1000, 1, 1));
    CHECK_EQ_INT(0, write_series(e, "up", "db-1", 0, 1000, 1, 1));
    CHECK_EQ_INT(0, write_series(e, "down", "web-1", 0, 1000, 1, 1));
    struct { eng_matcher m[2]; size_t n; size_t want; } cases[] = {
        {{{ENG_MATCH_EQ, "__name__", 8, "up", 2, NULL}}, 1, 3},
        {{{ENG_MATCH_EQ, "__name__", 8, "up", 2, NULL}, {ENG_MATCH_RE, "host", 4, "web-.*", 6, NULL}}, 2, 2},
        {{{ENG_MATCH_EQ, "__name__", 8, "up", 2, NULL}, {ENG_MATCH_NRE, "host", 4, "web", 3, NULL}}, 2, 3},
        {{{ENG_MATCH_NEQ, "__name__", 8, "up", 2, NULL}}, 1, 1},
        {{{ENG_MATCH_RE, "host", 4, "web-1|db-1", 10, NULL}}, 1, 3},
        {{{ENG_MATCH_EQ, "nope", 4, "", 0, NULL}, {ENG_MATCH_EQ, "host", 4, "db-1", 4, NULL}}, 2, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t i = 0; i < cases[c].n; i++) CHECK_EQ_INT(0, eng_matcher_compile(&cases[c].m[i], NULL));
        eng_sel *sel = NULL;
        CHECK_EQ_INT(0, eng_select(e, cases[c].m, cases[c].n, 0, &sel));
        if (eng_sel_count(sel) != cases[c].want)
            FAILF("case %zu: expected %zu series, got %zu", c, cases[c].want, eng_sel_count(sel));
        eng_sel_free(sel);
        for (size_t i = 0; i < cases[c].n; i++) eng_matcher_free(&cases[c].m[i]);
    }
    eng_matcher bad = {ENG_MATCH_RE, "host", 4, "(", 1, NULL};
    ax_err err = {0};
    CHECK_EQ_INT(AX_EINVAL, eng_matcher_compile(&bad, &err));
    eng_matcher all = {ENG_MATCH_RE, "__name__", 8, ".+", 2, NULL};
    eng_matcher_compile(&all, NULL);
    eng_sel *sel = NULL;
    CHECK_EQ_INT(AX_ELIMIT, eng_select(e, &all, 1, 2, &sel));
    eng_matcher_free(&all);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_engine_special_values_survive_flush) {
    char *dir = tmpdir();
    eng *e = open_eng(dir, 1 << 20);
    uint64_t bits[] = {0x7ff0000000000002ull, 0x7ff8000000000001ull, 0x7ff0000000000000ull,
                       0xfff0000000000000ull, 0x8000000000000000ull, 1ull};
    eng_sample s[6];
    for (int i = 0; i < 6; i++) {
        s[i].ts = 1000 * (i + 1);
        memcpy(&s[i].v, &bits[i], 8);
    }
    ax_label ls[1] = {LB("__name__", "special")};
    eng_ts t = {ls, 1, s, 6};
    CHECK_EQ_INT(0, eng_write(e, &t, 1, NULL));
    eng_close(e);
    e = open_eng(dir, 1 << 20);
    eng_matcher m = {ENG_MATCH_EQ, "__name__", 8, "special", 7, NULL};
    eng_sel *sel = NULL;
    CHECK_EQ_INT(0, eng_select(e, &m, 1, 0, &sel));
    CHECK_EQ_INT(1, eng_sel_count(sel));
    eng_samples out = {0};
    CHECK_EQ_INT(0, eng_series_read(e, eng_sel_sid(sel, 0), INT64_MIN, INT64_MAX, 0, &out));
    CHECK_EQ_INT(6, out.n);
    for (size_t i = 0; i < 6 && i < out.n; i++) {
        uint64_t b;
        memcpy(&b, &out.v[i], 8);
        CHECK_EQ_U64(bits[i], b);
    }
    eng_samples_free(&out);
    eng_sel_free(sel);
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}
