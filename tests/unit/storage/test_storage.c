/* Unit tests for storage/: series, postings, label iteration, meta, chunk ranges, the merge
 * in stor_samples_write (checked against a reference model), delete, map growth from 1 MiB,
 * reopen, and corrupt chunks. Each test works in a fresh /tmp folder it removes afterwards.
 * test_bench_* runs only with AUSPEX_STOR_BENCH=1 in the environment (it prints, never
 * asserts on, timings). */
#include "storage/storage.h"
#include "storage/codec/codec.h"
#include "test.h"

#include <dirent.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

typedef struct tdir {
    char path[64];
} tdir;

static void tdir_make(tdir *d) {
    snprintf(d->path, sizeof d->path, "/tmp/auspex-stor-XXXXXX");
    if (!mkdtemp(d->path)) {
        perror("mkdtemp");
        abort();
    }
}

static void rm_tree(const char *path) {
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            struct stat st;
            if (!lstat(p, &st) && S_ISDIR(st.st_mode)) rm_tree(p);
            else unlink(p);
        }
        closedir(dir);
    }
    rmdir(path);
}

static stor_env *env_open(const char *path, uint64_t map_size) {
    stor_opts o = {.path = path, .map_size = map_size, .nosync = true};
    stor_env *s = NULL;
    ax_err e = {0};
    int rc = stor_env_open(&o, &s, &e);
    if (rc) FAILF("stor_env_open %s: %s %s", path, ax_strerror(rc), e.msg);
    return s;
}

static stor_txn *wbegin(stor_env *s) {
    stor_txn *t = NULL;
    int rc = stor_txn_begin(s, STOR_TXN_WRITE, &t);
    if (rc) FAILF("begin write: %s", ax_strerror(rc));
    return t;
}

static stor_txn *rbegin(stor_env *s) {
    stor_txn *t = NULL;
    int rc = stor_txn_begin(s, STOR_TXN_READ, &t);
    if (rc) FAILF("begin read: %s", ax_strerror(rc));
    return t;
}

/* Canonical label bytes of "n1","v1","n2","v2",... (already sorted by name). */
static void labels(ax_buf *b, int n, const char **kv) {
    ax_label ls[16];
    for (int i = 0; i < n; i++)
        ls[i] = (ax_label){kv[2 * i], kv[2 * i + 1], (uint32_t)strlen(kv[2 * i]),
                           (uint32_t)strlen(kv[2 * i + 1])};
    ax_buf_reset(b);
    if (ax_labels_encode(b, ls, (size_t)n)) FAILF("labels encode");
}

static int write_samples(stor_env *s, uint64_t sid, const int64_t *ts, const double *v, size_t n,
                         size_t max) {
    for (int attempt = 0; attempt < 10; attempt++) {
        stor_txn *t = NULL;
        int rc = stor_txn_begin(s, STOR_TXN_WRITE, &t);
        if (!rc) rc = stor_samples_write(t, sid, ts, v, n, max);
        if (!rc) {
            rc = stor_txn_commit(t);
            t = NULL;
        }
        stor_txn_abort(t);
        if (rc != AX_EAGAIN) return rc;
    }
    return AX_EAGAIN;
}

/* Samples of one series read back through stor_chunks_range in small batches. */
typedef struct samples {
    int64_t *ts;
    double *v;
    size_t n, cap;
    size_t chunks;
} samples;

static void samples_free(samples *x) {
    free(x->ts);
    free(x->v);
    memset(x, 0, sizeof *x);
}

/* Read [mint, maxt] of sid, checking chunk order, non-overlap and headers against data.
 * Returns the first error status. */
static int read_range(stor_env *s, uint64_t sid, int64_t mint, int64_t maxt, samples *out) {
    stor_txn *t = rbegin(s);
    if (!t) return AX_EIO;
    stor_chunk_view views[5];
    int64_t from = mint, prev_max = INT64_MIN;
    bool first = true;
    int rc = 0;
    for (;;) {
        size_t nv = 0;
        int r = stor_chunks_range(t, sid, from, maxt, views, 5, &nv);
        if (r && r != AX_ETOOBIG) {
            rc = r;
            break;
        }
        for (size_t i = 0; i < nv; i++) {
            if (!first && views[i].mint <= prev_max)
                FAILF("sid %llu: chunk [%lld,%lld] overlaps previous max %lld",
                      (unsigned long long)sid, (long long)views[i].mint, (long long)views[i].maxt,
                      (long long)prev_max);
            if (views[i].maxt < mint || views[i].mint > maxt) FAILF("chunk outside the range");
            first = false;
            prev_max = views[i].maxt;
            out->chunks++;
            if (out->n + views[i].n > out->cap) {
                out->cap = (out->n + views[i].n) * 2;
                out->ts = realloc(out->ts, out->cap * sizeof *out->ts);
                out->v = realloc(out->v, out->cap * sizeof *out->v);
            }
            size_t got = 0;
            int d = codec_chunk_decode(NULL, views[i].data, views[i].len, out->ts + out->n,
                                       out->v + out->n, out->cap - out->n, &got);
            if (d) {
                rc = d;
                break;
            }
            if (got != views[i].n || out->ts[out->n] != views[i].mint ||
                out->ts[out->n + got - 1] != views[i].maxt)
                FAILF("chunk header n=%zu [%lld,%lld] disagrees with its data", views[i].n,
                      (long long)views[i].mint, (long long)views[i].maxt);
            out->n += got;
        }
        if (rc || r != AX_ETOOBIG) break;
        if (views[nv - 1].maxt >= maxt) break;
        from = views[nv - 1].maxt + 1;
    }
    stor_txn_abort(t);
    return rc;
}

/* A reference model: dense timestamps base + i*step, present flag and value. */
typedef struct model {
    int64_t base, step;
    size_t n;
    bool *has;
    double *v;
} model;

static void model_init(model *m, int64_t base, int64_t step, size_t n) {
    m->base = base;
    m->step = step;
    m->n = n;
    m->has = calloc(n, 1);
    m->v = calloc(n, sizeof *m->v);
}
static void model_free(model *m) {
    free(m->has);
    free(m->v);
}
static void model_put(model *m, const int64_t *ts, const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)((ts[i] - m->base) / m->step);
        m->has[k] = true;
        m->v[k] = v[i];
    }
}

/* Compare everything stored for sid with the model (inside [mint, maxt]). */
static void check_model(stor_env *s, uint64_t sid, const model *m, int64_t mint, int64_t maxt) {
    samples got = {0};
    int rc = read_range(s, sid, mint, maxt, &got);
    if (rc) FAILF("read_range: %s", ax_strerror(rc));
    size_t j = 0, bad = 0;
    for (size_t k = 0; k < m->n; k++) {
        int64_t ts = m->base + (int64_t)k * m->step;
        if (!m->has[k] || ts < mint || ts > maxt) continue;
        /* chunks overlapping the range may hold samples outside it: skip those */
        while (j < got.n && got.ts[j] < ts && got.ts[j] < mint) j++;
        if (j >= got.n || got.ts[j] != ts || memcmp(&got.v[j], &m->v[k], 8)) {
            if (bad++ < 3)
                FAILF("sid %llu: at ts %lld expected %g, got ts %lld v %g",
                      (unsigned long long)sid, (long long)ts, m->v[k],
                      j < got.n ? (long long)got.ts[j] : -1LL, j < got.n ? got.v[j] : NAN);
            break;
        }
        j++;
    }
    size_t extra = 0;
    for (; j < got.n; j++)
        if (got.ts[j] >= mint && got.ts[j] <= maxt) extra++;
    if (!bad && extra) FAILF("sid %llu: %zu samples not in the model", (unsigned long long)sid, extra);
    samples_free(&got);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t count_chunks(stor_env *s) {
    stor_stats st;
    if (stor_env_stats(s, &st)) return 0;
    return (size_t)st.chunks;
}

/* ---- series, postings, labels, meta ---- */

typedef struct seen {
    uint64_t sids[16];
    char vals[16][1300];
    size_t lens[16];
    int n;
    int stop_at;
} seen;

static int series_cb(void *ctx, uint64_t sid, const uint8_t *lb, size_t len) {
    seen *x = ctx;
    if (x->n < 16) x->sids[x->n] = sid;
    x->n++;
    return x->stop_at && x->n == x->stop_at ? 7 : 0;
}

static int value_cb(void *ctx, const char *p, size_t len) {
    seen *x = ctx;
    if (x->n < 16) {
        size_t l = len < 1299 ? len : 1299;
        memcpy(x->vals[x->n], p, l);
        x->vals[x->n][l] = 0;
        x->lens[x->n] = len;
    }
    x->n++;
    return x->stop_at && x->n == x->stop_at ? 9 : 0;
}

TEST(test_storage_series_put_get_foreach) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    stor_txn *t = wbegin(s);
    uint64_t sids[] = {300, 2, 70000};
    for (int i = 0; i < 3; i++) {
        char inst[16];
        snprintf(inst, sizeof inst, "h%d", i);
        const char *kv[] = {"__name__", "up", "instance", inst};
        labels(&b, 2, kv);
        CHECK_EQ_INT(0, stor_series_put(t, sids[i], b.data, b.len));
        CHECK_EQ_INT(0, stor_series_put(t, sids[i], b.data, b.len)); /* idempotent */
    }
    CHECK_EQ_INT(0, stor_txn_commit(t));

    t = rbegin(s);
    const uint8_t *lb = NULL;
    size_t len = 0;
    CHECK_EQ_INT(0, stor_series_get(t, 300, &lb, &len));
    size_t vlen = 0;
    const char *v = ax_labels_get(lb, len, "instance", 8, &vlen);
    CHECK(v && vlen == 2 && !memcmp(v, "h0", 2));
    CHECK_EQ_INT(AX_ENOTFOUND, stor_series_get(t, 301, &lb, &len));
    seen x = {0};
    CHECK_EQ_INT(0, stor_series_foreach(t, series_cb, &x));
    CHECK_EQ_INT(3, x.n);
    CHECK_EQ_U64(2, x.sids[0]);
    CHECK_EQ_U64(300, x.sids[1]);
    CHECK_EQ_U64(70000, x.sids[2]);
    seen y = {.stop_at = 2};
    CHECK_EQ_INT(7, stor_series_foreach(t, series_cb, &y));
    CHECK_EQ_INT(2, y.n);
    stor_txn_abort(t);

    stor_stats st;
    CHECK_EQ_INT(0, stor_env_stats(s, &st));
    CHECK_EQ_U64(3, st.series);
    CHECK(st.file_bytes > 0 && st.used_bytes > 0 && st.map_bytes == (1ull << 30));
    ax_buf_free(&b);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_postings_sorted_and_deduplicated) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    stor_txn *t = wbegin(s);
    /* 5000 series in scrambled order: job=big holds all (many pages of sids) */
    const size_t N = 5000;
    for (size_t i = 0; i < N; i++) {
        uint64_t sid = (i * 7919) % N + 1;
        char inst[32];
        snprintf(inst, sizeof inst, "h%llu", (unsigned long long)sid);
        const char *kv[] = {"__name__", sid % 2 ? "odd" : "even", "instance", inst, "job", "big"};
        labels(&b, 3, kv);
        CHECK_EQ_INT(0, stor_series_put(t, sid, b.data, b.len));
        if (i % 3 == 0) CHECK_EQ_INT(0, stor_series_put(t, sid, b.data, b.len));
    }
    CHECK_EQ_INT(0, stor_txn_commit(t));

    t = rbegin(s);
    stor_sids out = {0};
    CHECK_EQ_INT(0, stor_postings_get(t, "job", 3, "big", 3, &out));
    CHECK_EQ_INT(N, out.n);
    for (size_t i = 0; i < out.n && i < N; i++)
        if (out.v[i] != i + 1) {
            FAILF("job=big[%zu]: expected %zu, got %llu", i, i + 1, (unsigned long long)out.v[i]);
            break;
        }
    out.n = 0;
    CHECK_EQ_INT(0, stor_postings_get(t, "", 0, "", 0, &out));
    CHECK_EQ_INT(N, out.n);
    out.n = 0;
    CHECK_EQ_INT(0, stor_postings_get(t, "__name__", 8, "odd", 3, &out));
    CHECK_EQ_INT(N / 2, out.n);
    for (size_t i = 1; i < out.n; i++) CHECK(out.v[i] > out.v[i - 1] && out.v[i] % 2);
    out.n = 0;
    CHECK_EQ_INT(0, stor_postings_get(t, "instance", 8, "h77", 3, &out)); /* single sid */
    CHECK_EQ_INT(1, out.n);
    CHECK_EQ_U64(77, out.v[0]);
    out.n = 0;
    CHECK_EQ_INT(0, stor_postings_get(t, "instance", 8, "nope", 4, &out));
    CHECK_EQ_INT(0, out.n);
    CHECK_EQ_INT(0, stor_postings_get(t, "zzz", 3, "x", 1, &out));
    CHECK_EQ_INT(0, out.n);
    stor_sids_free(&out);
    stor_sids_free(NULL);
    stor_txn_abort(t);
    ax_buf_free(&b);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_label_names_and_values) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    char longv[1200];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    longv[700] = 'y'; /* beyond any key prefix: only the hash tells them apart */
    char longv2[1200];
    memcpy(longv2, longv, sizeof longv);
    longv2[701] = 'z';
    const char *sets[][8] = {
        {"__name__", "up", "a", "1", "job", "node", NULL, NULL},
        {"__name__", "up", "a_b", "2", "job", "api", NULL, NULL},
        {"__name__", "http_requests", "job", "api", "path", longv, NULL, NULL},
        {"__name__", "http_requests", "job", "api", "path", longv2, NULL, NULL},
    };
    stor_txn *t = wbegin(s);
    for (int i = 0; i < 4; i++) {
        labels(&b, 3, sets[i]);
        CHECK_EQ_INT(0, stor_series_put(t, (uint64_t)i + 1, b.data, b.len));
    }
    CHECK_EQ_INT(0, stor_txn_commit(t));

    t = rbegin(s);
    seen x = {0};
    CHECK_EQ_INT(0, stor_label_names_foreach(t, value_cb, &x));
    CHECK_EQ_INT(5, x.n);
    const char *names[] = {"__name__", "a", "a_b", "job", "path"};
    for (int i = 0; i < 5 && i < x.n; i++) CHECK_EQ_STR(names[i], x.vals[i]);
    seen x2 = {0};
    CHECK_EQ_INT(0, stor_label_values_foreach(t, NULL, 0, value_cb, &x2));
    CHECK_EQ_INT(5, x2.n);

    seen y = {0};
    CHECK_EQ_INT(0, stor_label_values_foreach(t, "job", 3, value_cb, &y));
    CHECK_EQ_INT(2, y.n);
    CHECK_EQ_STR("api", y.vals[0]);
    CHECK_EQ_STR("node", y.vals[1]);
    seen z = {0};
    CHECK_EQ_INT(0, stor_label_values_foreach(t, "__name__", 8, value_cb, &z));
    CHECK_EQ_INT(2, z.n);
    CHECK_EQ_STR("http_requests", z.vals[0]);
    CHECK_EQ_STR("up", z.vals[1]);
    seen stop = {.stop_at = 1};
    CHECK_EQ_INT(9, stor_label_values_foreach(t, "job", 3, value_cb, &stop));
    seen none = {0};
    CHECK_EQ_INT(0, stor_label_values_foreach(t, "jo", 2, value_cb, &none)); /* a prefix of job */
    CHECK_EQ_INT(0, none.n);

    /* values longer than an LMDB key come back whole, and postings find them exactly */
    seen p = {0};
    CHECK_EQ_INT(0, stor_label_values_foreach(t, "path", 4, value_cb, &p));
    CHECK_EQ_INT(2, p.n);
    bool has1 = false, has2 = false;
    for (int i = 0; i < p.n && i < 2; i++) {
        CHECK_EQ_INT(sizeof longv - 1, p.lens[i]);
        has1 |= !strcmp(p.vals[i], longv);
        has2 |= !strcmp(p.vals[i], longv2);
    }
    CHECK(has1 && has2);
    stor_sids out = {0};
    CHECK_EQ_INT(0, stor_postings_get(t, "path", 4, longv2, strlen(longv2), &out));
    CHECK_EQ_INT(1, out.n);
    if (out.n) CHECK_EQ_U64(4, out.v[0]);
    stor_sids_free(&out);
    stor_txn_abort(t);
    ax_buf_free(&b);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_meta) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    stor_txn *t = wbegin(s);
    uint64_t v = 0;
    CHECK_EQ_INT(AX_ENOTFOUND, stor_meta_get(t, "next_sid", &v));
    CHECK_EQ_INT(0, stor_meta_put(t, "next_sid", 42));
    CHECK_EQ_INT(0, stor_meta_put(t, "wal_flushed", UINT64_MAX));
    CHECK_EQ_INT(0, stor_meta_put(t, "next_sid", 43));
    CHECK_EQ_INT(AX_EINVAL, stor_meta_put(t, "", 1));
    CHECK_EQ_INT(0, stor_txn_commit(t));
    t = rbegin(s);
    CHECK_EQ_INT(0, stor_meta_get(t, "next_sid", &v));
    CHECK_EQ_U64(43, v);
    CHECK_EQ_INT(0, stor_meta_get(t, "wal_flushed", &v));
    CHECK_EQ_U64(UINT64_MAX, v);
    CHECK_EQ_INT(AX_EINVAL, stor_meta_put(t, "x", 1)); /* read txn */
    stor_txn_abort(t);
    stor_env_close(s);
    rm_tree(d.path);
}

/* ---- chunks ---- */

TEST(test_storage_chunks_range_before_after_inside) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    /* sid 5: 1000 samples at -50000, -49000, ... (negative times must sort first) */
    const size_t N = 1000;
    int64_t ts[1000];
    double v[1000];
    for (size_t i = 0; i < N; i++) {
        ts[i] = -50000 + (int64_t)i * 1000;
        v[i] = (double)i * 0.5;
    }
    CHECK_EQ_INT(0, write_samples(s, 5, ts, v, N, 120));
    /* neighbours that must never show up */
    int64_t one = 0;
    double ov = 1;
    CHECK_EQ_INT(0, write_samples(s, 4, &one, &ov, 1, 120));
    CHECK_EQ_INT(0, write_samples(s, 6, &one, &ov, 1, 120));
    CHECK_EQ_INT(9 + 2, count_chunks(s)); /* ceil(1000/120) = 9 */

    samples all = {0};
    CHECK_EQ_INT(0, read_range(s, 5, INT64_MIN, INT64_MAX, &all));
    CHECK_EQ_INT(N, all.n);
    CHECK_EQ_INT(9, all.chunks);
    for (size_t i = 0; i < all.n; i++)
        if (all.ts[i] != ts[i] || all.v[i] != v[i]) {
            FAILF("sample %zu differs", i);
            break;
        }
    samples_free(&all);

    stor_txn *t = rbegin(s);
    stor_chunk_view views[16];
    size_t nv = 99;
    CHECK_EQ_INT(0, stor_chunks_range(t, 5, INT64_MIN, -50001, views, 16, &nv)); /* before */
    CHECK_EQ_INT(0, nv);
    CHECK_EQ_INT(0, stor_chunks_range(t, 5, ts[N - 1] + 1, INT64_MAX, views, 16, &nv)); /* after */
    CHECK_EQ_INT(0, nv);
    CHECK_EQ_INT(0, stor_chunks_range(t, 5, ts[N - 1], ts[N - 1], views, 16, &nv)); /* last one */
    CHECK_EQ_INT(1, nv);
    CHECK_EQ_INT(ts[960], views[0].mint);
    CHECK_EQ_INT(40, views[0].n);
    /* inside one chunk, not at its start: found by stepping back */
    CHECK_EQ_INT(0, stor_chunks_range(t, 5, ts[130], ts[140], views, 16, &nv));
    CHECK_EQ_INT(1, nv);
    CHECK_EQ_INT(ts[120], views[0].mint);
    CHECK_EQ_INT(ts[239], views[0].maxt);
    /* a range across three chunks, from a chunk start to just past the next-but-one start */
    CHECK_EQ_INT(0, stor_chunks_range(t, 5, ts[240], ts[480], views, 16, &nv));
    CHECK_EQ_INT(3, nv);
    CHECK_EQ_INT(ts[240], views[0].mint);
    CHECK_EQ_INT(ts[480], views[2].mint);
    /* between two samples of adjacent chunks */
    CHECK_EQ_INT(0, stor_chunks_range(t, 5, ts[119] + 1, ts[120] - 1, views, 16, &nv));
    CHECK_EQ_INT(0, nv);
    /* cap too small: AX_ETOOBIG with the first cap views */
    CHECK_EQ_INT(AX_ETOOBIG, stor_chunks_range(t, 5, INT64_MIN, INT64_MAX, views, 4, &nv));
    CHECK_EQ_INT(4, nv);
    CHECK_EQ_INT(ts[360], views[3].mint);
    CHECK_EQ_INT(0, stor_chunks_range(t, 77, INT64_MIN, INT64_MAX, views, 16, &nv));
    CHECK_EQ_INT(0, nv);
    stor_txn_abort(t);
    stor_env_close(s);
    rm_tree(d.path);
}

static void fill(int64_t *ts, double *v, size_t n, int64_t t0, int64_t step, double v0) {
    for (size_t i = 0; i < n; i++) {
        ts[i] = t0 + (int64_t)i * step;
        v[i] = v0 + (double)i;
    }
}

TEST(test_storage_merge_append_overlap_replace_older) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    model m;
    model_init(&m, 0, 10, 20000);
    int64_t ts[2000];
    double v[2000];

    /* append after last */
    fill(ts, v, 1000, 50000, 10, 0);
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 1000, 240));
    model_put(&m, ts, v, 1000);
    fill(ts, v, 500, 60000, 10, 1000);
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 500, 240));
    model_put(&m, ts, v, 500);
    check_model(s, 1, &m, INT64_MIN, INT64_MAX);
    size_t c1 = count_chunks(s);
    CHECK(c1 >= 7 && c1 <= 8); /* 1500 / 240 = 6.25 */

    /* overlap in the middle, denser than before: every 5 ms is off-grid, so use the grid
     * with new values, spanning several chunks */
    fill(ts, v, 300, 54000, 10, 1e6);
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 300, 240));
    model_put(&m, ts, v, 300);
    check_model(s, 1, &m, INT64_MIN, INT64_MAX);

    /* the same timestamps with other values: the new ones win */
    fill(ts, v, 3, 50000, 10, -7);
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 3, 240));
    model_put(&m, ts, v, 3);
    ts[0] = 64990;
    v[0] = 42; /* the very last sample */
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 1, 240));
    model_put(&m, ts, v, 1);
    check_model(s, 1, &m, INT64_MIN, INT64_MAX);

    /* out of order, older than every chunk */
    fill(ts, v, 50, 100, 10, 3e3);
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 50, 240));
    model_put(&m, ts, v, 50);
    check_model(s, 1, &m, INT64_MIN, INT64_MAX);
    check_model(s, 1, &m, 0, 1000);

    /* a sparse write filling the gaps between two runs, touching both */
    for (size_t i = 0; i < 100; i++) {
        ts[i] = 590 + (int64_t)i * 500;
        v[i] = -(double)i;
    }
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 100, 240));
    model_put(&m, ts, v, 100);
    check_model(s, 1, &m, INT64_MIN, INT64_MAX);
    check_model(s, 1, &m, 52345, 61234);

    /* bad input */
    stor_txn *t = wbegin(s);
    int64_t bad_ts[2] = {5, 5};
    CHECK_EQ_INT(AX_EINVAL, stor_samples_write(t, 1, bad_ts, v, 2, 240));
    CHECK_EQ_INT(AX_EINVAL, stor_samples_write(t, 1, bad_ts, v, 0, 240));
    CHECK_EQ_INT(AX_EINVAL, stor_samples_write(t, 1, bad_ts, v, 1, 0));
    stor_txn_abort(t);
    model_free(&m);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_merge_special_values_bit_exact) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    uint64_t bits[] = {0x7ff0000000000002ull, 0x7ff8000000000001ull, 0x8000000000000000ull,
                       0x0000000000000001ull, 0x7ff0000000000000ull, 0xfff0000000000000ull};
    int64_t ts[6];
    double v[6];
    for (int i = 0; i < 6; i++) {
        ts[i] = 1000 * i;
        memcpy(&v[i], &bits[i], 8);
    }
    CHECK_EQ_INT(0, write_samples(s, 9, ts, v, 3, 120));
    CHECK_EQ_INT(0, write_samples(s, 9, ts + 3, v + 3, 3, 120)); /* reopens the small chunk */
    samples got = {0};
    CHECK_EQ_INT(0, read_range(s, 9, INT64_MIN, INT64_MAX, &got));
    CHECK_EQ_INT(6, got.n);
    CHECK_EQ_INT(1, got.chunks);
    for (size_t i = 0; i < got.n && i < 6; i++) CHECK(!memcmp(&got.v[i], &bits[i], 8));
    samples_free(&got);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_last_small_chunk_grows) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    model m;
    model_init(&m, 0, 15000, 5000);
    /* 4000 samples flushed one at a time, then 7 at a time, with max 120 per chunk */
    size_t done = 0;
    for (; done < 2000; done++) {
        int64_t ts = (int64_t)done * 15000;
        double v = (double)done;
        CHECK_EQ_INT(0, write_samples(s, 3, &ts, &v, 1, 120));
        model_put(&m, &ts, &v, 1);
    }
    while (done + 7 <= 4000) {
        int64_t ts[7];
        double v[7];
        fill(ts, v, 7, (int64_t)done * 15000, 15000, (double)done);
        CHECK_EQ_INT(0, write_samples(s, 3, ts, v, 7, 120));
        model_put(&m, ts, v, 7);
        done += 7;
    }
    check_model(s, 3, &m, INT64_MIN, INT64_MAX);
    size_t chunks = count_chunks(s);
    size_t ideal = (done + 119) / 120;
    printf("  %zu samples in %zu chunks (max 120 per chunk, ideal %zu)\n", done, chunks, ideal);
    CHECK(chunks >= ideal && chunks <= ideal + ideal / 10 + 1);
    model_free(&m);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_random_writes_match_model) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    enum { SLOTS = 6000, SERIES = 3 };
    model m[SERIES];
    for (int i = 0; i < SERIES; i++) model_init(&m[i], -30000 * 10, 10, SLOTS);
    rng_state = 12345;
    int64_t *ts = malloc(SLOTS * sizeof *ts);
    double *v = malloc(SLOTS * sizeof *v);
    for (int round = 0; round < 300; round++) {
        int sid = (int)(rnd() % SERIES);
        /* a window anywhere, density between 1/1 and 1/8, sometimes big */
        size_t width = 1 + rnd() % (round % 10 == 0 ? 3000 : 300);
        size_t start = rnd() % (SLOTS - width);
        size_t every = 1 + rnd() % 8, n = 0;
        for (size_t k = start; k < start + width; k += every) {
            ts[n] = m[sid].base + (int64_t)k * m[sid].step;
            v[n++] = (double)(rnd() % 100000) / 100.0;
        }
        size_t max = (round / 100) ? 240 : 50; /* change max_per_chunk midway too */
        int rc = write_samples(s, (uint64_t)sid + 1, ts, v, n, max);
        if (rc) {
            FAILF("round %d: %s", round, ax_strerror(rc));
            break;
        }
        model_put(&m[sid], ts, v, n);
        if (round % 25 == 24)
            for (int i = 0; i < SERIES; i++)
                check_model(s, (uint64_t)i + 1, &m[i], INT64_MIN, INT64_MAX);
    }
    for (int i = 0; i < SERIES; i++) {
        check_model(s, (uint64_t)i + 1, &m[i], INT64_MIN, INT64_MAX);
        check_model(s, (uint64_t)i + 1, &m[i], m[i].base + 1234 * 10, m[i].base + 2345 * 10);
        model_free(&m[i]);
    }
    free(ts);
    free(v);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_delete_series) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    int64_t ts[500];
    double v[500];
    fill(ts, v, 500, 0, 1000, 0);
    stor_txn *t = wbegin(s);
    for (uint64_t sid = 1; sid <= 3; sid++) {
        const char *kv[] = {"__name__", "up", "job", sid == 2 ? "only2" : "shared"};
        labels(&b, 2, kv);
        CHECK_EQ_INT(0, stor_series_put(t, sid, b.data, b.len));
        CHECK_EQ_INT(0, stor_samples_write(t, sid, ts, v, 500, 100));
    }
    CHECK_EQ_INT(0, stor_txn_commit(t));
    CHECK_EQ_INT(15, count_chunks(s));

    t = wbegin(s);
    CHECK_EQ_INT(0, stor_series_delete(t, 2));
    CHECK_EQ_INT(AX_ENOTFOUND, stor_series_delete(t, 2));
    CHECK_EQ_INT(0, stor_txn_commit(t));

    t = rbegin(s);
    const uint8_t *lb;
    size_t len;
    CHECK_EQ_INT(AX_ENOTFOUND, stor_series_get(t, 2, &lb, &len));
    stor_sids out = {0};
    CHECK_EQ_INT(0, stor_postings_get(t, "", 0, "", 0, &out));
    CHECK_EQ_INT(2, out.n);
    if (out.n == 2) CHECK(out.v[0] == 1 && out.v[1] == 3);
    out.n = 0;
    CHECK_EQ_INT(0, stor_postings_get(t, "job", 3, "only2", 5, &out));
    CHECK_EQ_INT(0, out.n);
    seen x = {0};
    CHECK_EQ_INT(0, stor_label_values_foreach(t, "job", 3, value_cb, &x));
    CHECK_EQ_INT(1, x.n);
    CHECK_EQ_STR("shared", x.vals[0]);
    stor_chunk_view views[8];
    size_t nv = 9;
    CHECK_EQ_INT(0, stor_chunks_range(t, 2, INT64_MIN, INT64_MAX, views, 8, &nv));
    CHECK_EQ_INT(0, nv);
    CHECK_EQ_INT(AX_ETOOBIG, stor_chunks_range(t, 3, INT64_MIN, INT64_MAX, views, 2, &nv));
    stor_sids_free(&out);
    stor_txn_abort(t);
    CHECK_EQ_INT(10, count_chunks(s));
    ax_buf_free(&b);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_map_grows_from_1mib) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 1u << 20);
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    /* random doubles hardly compress: ~9 bytes a sample, 64 series x 100k samples > 50 MiB */
    enum { SERIES = 64, PER = 100000, BATCH = 10000 };
    int64_t *ts = malloc(BATCH * sizeof *ts);
    double *v = malloc(BATCH * sizeof *v);
    int eagain = 0, rc = 0;
    rng_state = 777;
    for (int part = 0; part < PER / BATCH && !rc; part++) {
        for (int attempt = 0;; attempt++) {
            stor_txn *t = NULL;
            rc = stor_txn_begin(s, STOR_TXN_WRITE, &t);
            uint64_t seed = rng_state;
            for (uint64_t sid = 1; sid <= SERIES && !rc; sid++) {
                char name[32];
                snprintf(name, sizeof name, "s%llu", (unsigned long long)sid);
                const char *kv[] = {"__name__", name};
                labels(&b, 1, kv);
                rc = stor_series_put(t, sid, b.data, b.len);
                for (int i = 0; i < BATCH && !rc; i++) {
                    ts[i] = ((int64_t)part * BATCH + i) * 1000;
                    uint64_t r = rnd();
                    memcpy(&v[i], &r, 8);
                    if (isnan(v[i])) v[i] = (double)r;
                }
                if (!rc) rc = stor_samples_write(t, sid, ts, v, BATCH, 2048);
            }
            if (rc == AX_EAGAIN && t) CHECK_EQ_INT(AX_EAGAIN, stor_meta_put(t, "dead", 1));
            if (!rc) {
                rc = stor_txn_commit(t);
                t = NULL;
            }
            stor_txn_abort(t);
            if (rc != AX_EAGAIN || attempt > 5) break;
            eagain++;
            rng_state = seed; /* redo the same data */
        }
        CHECK_EQ_INT(0, rc);
    }
    stor_stats st;
    CHECK_EQ_INT(0, stor_env_stats(s, &st));
    printf("  map grew %d times to %llu MiB; file %llu MiB, used %llu MiB, %llu chunks\n", eagain,
           (unsigned long long)(st.map_bytes >> 20), (unsigned long long)(st.file_bytes >> 20),
           (unsigned long long)(st.used_bytes >> 20), (unsigned long long)st.chunks);
    CHECK(eagain >= 1);
    CHECK(st.map_bytes > (1u << 20));
    CHECK(st.used_bytes >= 50ull << 20);
    CHECK_EQ_U64(SERIES, st.series);
    samples got = {0};
    CHECK_EQ_INT(0, read_range(s, SERIES, INT64_MIN, INT64_MAX, &got));
    CHECK_EQ_INT(PER, got.n);
    CHECK_EQ_INT((int64_t)(PER - 1) * 1000, got.n ? got.ts[got.n - 1] : -1);
    CHECK_EQ_INT(0, memcmp(v + BATCH - 1, got.v + got.n - 1, 8) == 0 ? 0 : 1);
    samples_free(&got);
    free(ts);
    free(v);
    ax_buf_free(&b);
    stor_env_close(s);
    rm_tree(d.path);
}

TEST(test_storage_reopen_reads_everything_back) {
    tdir d;
    tdir_make(&d);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b", d.path); /* folders are created as needed */
    stor_env *s = env_open(sub, 0);
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    model m[4];
    stor_txn *t = wbegin(s);
    int64_t ts[700];
    double v[700];
    for (uint64_t sid = 1; sid <= 4; sid++) {
        char inst[16];
        snprintf(inst, sizeof inst, "h%llu", (unsigned long long)sid);
        const char *kv[] = {"__name__", "cpu", "instance", inst};
        labels(&b, 2, kv);
        CHECK_EQ_INT(0, stor_series_put(t, sid, b.data, b.len));
        model_init(&m[sid - 1], 0, 1000, 700);
        fill(ts, v, 700, 0, 1000, (double)sid * 1000);
        CHECK_EQ_INT(0, stor_samples_write(t, sid, ts, v, 700, 120));
        model_put(&m[sid - 1], ts, v, 700);
    }
    CHECK_EQ_INT(0, stor_meta_put(t, "next_sid", 5));
    CHECK_EQ_INT(0, stor_txn_commit(t));
    stor_env_close(s);

    s = env_open(sub, 0);
    for (uint64_t sid = 1; sid <= 4; sid++) check_model(s, sid, &m[sid - 1], INT64_MIN, INT64_MAX);
    t = rbegin(s);
    uint64_t next = 0;
    CHECK_EQ_INT(0, stor_meta_get(t, "next_sid", &next));
    CHECK_EQ_U64(5, next);
    seen x = {0};
    CHECK_EQ_INT(0, stor_series_foreach(t, series_cb, &x));
    CHECK_EQ_INT(4, x.n);
    stor_sids out = {0};
    CHECK_EQ_INT(0, stor_postings_get(t, "instance", 8, "h3", 2, &out));
    CHECK_EQ_INT(1, out.n);
    stor_sids_free(&out);
    stor_txn_abort(t);
    for (int i = 0; i < 4; i++) model_free(&m[i]);
    ax_buf_free(&b);
    stor_env_close(s);
    rm_tree(d.path);
}

/* A reader thread keeps opening read txns (reading what is there) while the writer fills a
 * 1 MiB map: growth must wait for it, never deadlock, and its reads stay valid. */
typedef struct reader_arg {
    stor_env *s;
    atomic_bool stop;
    long txns, bad;
} reader_arg;

static void *reader_main(void *p) {
    reader_arg *a = p;
    while (!atomic_load(&a->stop)) {
        stor_txn *t = NULL;
        if (stor_txn_begin(a->s, STOR_TXN_READ, &t)) {
            a->bad++;
            continue;
        }
        stor_chunk_view views[4];
        size_t nv = 0;
        int rc = stor_chunks_range(t, 1, INT64_MIN, INT64_MAX, views, 4, &nv);
        if (rc && rc != AX_ETOOBIG) a->bad++;
        for (size_t i = 0; i < nv; i++) {
            size_t n;
            int64_t mn, mx;
            if (codec_chunk_peek(views[i].data, views[i].len, &n, &mn, &mx) || n != views[i].n)
                a->bad++;
        }
        stor_txn_abort(t);
        a->txns++;
    }
    return NULL;
}

TEST(test_storage_map_growth_with_concurrent_reader) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 1u << 20);
    reader_arg a = {.s = s};
    pthread_t th;
    pthread_create(&th, NULL, reader_main, &a);
    enum { N = 20000 };
    int64_t *ts = malloc(N * sizeof *ts);
    double *v = malloc(N * sizeof *v);
    rng_state = 5;
    for (int part = 0; part < 8; part++) {
        for (int i = 0; i < N; i++) {
            ts[i] = ((int64_t)part * N + i) * 10;
            uint64_t r = rnd() >> 12;
            v[i] = (double)r;
        }
        for (uint64_t sid = 1; sid <= 4; sid++) CHECK_EQ_INT(0, write_samples(s, sid, ts, v, N, 1000));
    }
    atomic_store(&a.stop, true);
    pthread_join(th, NULL);
    stor_stats st;
    CHECK_EQ_INT(0, stor_env_stats(s, &st));
    CHECK(st.map_bytes > (1u << 20));
    CHECK_EQ_INT(0, a.bad);
    CHECK(a.txns > 0);
    samples got = {0};
    CHECK_EQ_INT(0, read_range(s, 4, INT64_MIN, INT64_MAX, &got));
    CHECK_EQ_INT(8 * N, got.n);
    samples_free(&got);
    free(ts);
    free(v);
    stor_env_close(s);
    rm_tree(d.path);
}

/* Overwrite the value of chunk (sid, start) with `len` bytes of `p` through raw LMDB. */
static int poke_chunk(const char *path, uint64_t sid, int64_t start, const void *p, size_t len) {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc) return rc;
    mdb_env_set_maxdbs(env, 8);
    mdb_env_set_mapsize(env, 1u << 30);
    if (!(rc = mdb_env_open(env, path, 0, 0644)) && !(rc = mdb_txn_begin(env, NULL, 0, &txn))) {
        uint8_t kb[16];
        ax_put_u64be(kb, sid);
        ax_put_u64be(kb + 8, (uint64_t)start ^ 0x8000000000000000ull);
        MDB_val k = {16, kb}, d = {len, (void *)p};
        if (!(rc = mdb_dbi_open(txn, "chunks", 0, &dbi)) && !(rc = mdb_put(txn, dbi, &k, &d, 0)))
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return rc;
}

TEST(test_storage_corrupt_chunk_read_error_write_drops) {
    tdir d;
    tdir_make(&d);
    stor_env *s = env_open(d.path, 0);
    int64_t ts[300];
    double v[300];
    fill(ts, v, 300, 0, 1000, 0.25);
    for (size_t i = 0; i < 300; i++) v[i] = sin((double)i) * 1e3; /* not too compressible */
    CHECK_EQ_INT(0, write_samples(s, 1, ts, v, 300, 100));
    CHECK_EQ_INT(0, write_samples(s, 2, ts, v, 300, 100));
    /* copy the chunk at 100000 to keep its header with a cut-off body */
    stor_txn *t = rbegin(s);
    stor_chunk_view views[4];
    size_t nv = 0;
    uint8_t copy[4096];
    size_t clen = 0;
    CHECK_EQ_INT(0, stor_chunks_range(t, 2, 100000, 100000, views, 4, &nv));
    CHECK_EQ_INT(1, nv);
    if (nv == 1 && views[0].len <= sizeof copy) {
        clen = views[0].len;
        memcpy(copy, views[0].data, clen);
    }
    stor_txn_abort(t);
    stor_env_close(s);
    CHECK(clen > 8);
    CHECK_EQ_INT(0, poke_chunk(d.path, 1, 100000, "\x01\x02\x03", 3)); /* garbage header */
    CHECK_EQ_INT(0, poke_chunk(d.path, 2, 100000, copy, clen / 2));     /* truncated body */

    s = env_open(d.path, 0);
    t = rbegin(s);
    CHECK_EQ_INT(AX_ECORRUPT, stor_chunks_range(t, 1, 150000, 160000, views, 4, &nv));
    CHECK_EQ_INT(AX_ECORRUPT, stor_chunks_range(t, 1, INT64_MIN, INT64_MAX, views, 4, &nv));
    CHECK_EQ_INT(0, stor_chunks_range(t, 1, 0, 99000, views, 4, &nv)); /* other chunks fine */
    CHECK_EQ_INT(1, nv);
    int r2 = stor_chunks_range(t, 2, 150000, 150000, views, 4, &nv);
    size_t got = 0;
    if (r2 == 0 && nv == 1)
        r2 = codec_chunk_decode(NULL, views[0].data, views[0].len, ts, v, 300, &got);
    CHECK_EQ_INT(AX_ECORRUPT, r2);
    stor_txn_abort(t);
    /* a write over a corrupt chunk drops that chunk (it cannot be read anyway) and goes
     * through: one bad chunk must not stop ingestion; the rest of the series is kept */
    int64_t nts = 150000;
    double nval = 1;
    CHECK_EQ_INT(0, write_samples(s, 1, &nts, &nval, 1, 100));
    CHECK_EQ_INT(0, write_samples(s, 2, &nts, &nval, 1, 100));
    t = rbegin(s);
    for (uint64_t sid = 1; sid <= 2; sid++) {
        CHECK_EQ_INT(0, stor_chunks_range(t, sid, INT64_MIN, INT64_MAX, views, 4, &nv));
        size_t total = 0;
        bool has_new = false;
        for (size_t i = 0; i < nv; i++) {
            size_t k = 0;
            CHECK_EQ_INT(0, codec_chunk_decode(NULL, views[i].data, views[i].len, ts, v, 300, &k));
            total += k;
            for (size_t j = 0; j < k; j++) has_new |= ts[j] == 150000 && v[j] == 1;
        }
        CHECK_EQ_INT(201, total); /* 100 before + 100 after the dropped chunk + the new one */
        CHECK(has_new);
    }
    stor_txn_abort(t);
    nts = 500000;
    CHECK_EQ_INT(0, write_samples(s, 2, &nts, &nval, 1, 100));
    /* and the series can still be deleted */
    t = wbegin(s);
    CHECK_EQ_INT(0, stor_series_delete(t, 1));
    CHECK_EQ_INT(0, stor_txn_commit(t));
    stor_env_close(s);
    rm_tree(d.path);
}

/* ---- benchmark (AUSPEX_STOR_BENCH=1) ---- */

TEST(test_bench_flush_append) {
    const char *on = getenv("AUSPEX_STOR_BENCH");
    if (!on || !*on) return;
    size_t series = 15000, per = 300, flushes = 6, max = 2048;
    const char *e;
    if ((e = getenv("AUSPEX_STOR_BENCH_MAX"))) max = (size_t)strtoul(e, NULL, 10);
    bool sync = getenv("AUSPEX_STOR_BENCH_SYNC") != NULL;
    tdir d;
    tdir_make(&d);
    stor_opts o = {.path = d.path, .map_size = 0, .nosync = !sync};
    stor_env *s = NULL;
    CHECK_EQ_INT(0, stor_env_open(&o, &s, NULL));
    if (!s) return;
    int64_t *ts = malloc(per * sizeof *ts);
    double *v = malloc(per * sizeof *v);
    double *level = calloc(series, sizeof *level);
    rng_state = 99;
    uint64_t total_ns = 0, total = 0;
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    for (size_t f = 0; f < flushes; f++) {
        uint64_t t0 = ax_mono_ns();
        stor_txn *t = NULL;
        int rc = stor_txn_begin(s, STOR_TXN_WRITE, &t);
        for (size_t k = 0; k < series && !rc; k++) {
            for (size_t i = 0; i < per; i++) {
                ts[i] = 1700000000000 + (int64_t)(f * per + i) * 15000 + (int64_t)(rnd() % 3);
                /* half counters, half gauges with two decimals */
                if (k % 2) level[k] += (double)(rnd() % 50);
                else level[k] = (double)(int64_t)(rnd() % 10000) / 100.0;
                v[i] = level[k];
            }
            rc = stor_samples_write(t, k + 1, ts, v, per, max);
        }
        if (!rc) {
            rc = stor_txn_commit(t);
            t = NULL;
        }
        stor_txn_abort(t);
        CHECK_EQ_INT(0, rc);
        uint64_t dt = ax_mono_ns() - t0;
        total_ns += dt;
        total += series * per;
        printf("  flush %zu: %zu samples in %.3f s = %.2f M samples/s\n", f, series * per,
               (double)dt / 1e9, (double)(series * per) / ((double)dt / 1e3));
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    printf("  cpu %.2f s: %.2f M samples per cpu-second\n", cpu, (double)total / cpu / 1e6);
    stor_stats st;
    CHECK_EQ_INT(0, stor_env_stats(s, &st));
    printf("  total %llu samples, %.2f M samples/s (max %zu/chunk, %s); file %.2f bytes/sample, "
           "used %.2f bytes/sample, %llu chunks (%.0f samples/chunk)\n",
           (unsigned long long)total, (double)total / ((double)total_ns / 1e3), max,
           sync ? "fsync" : "nosync", (double)st.file_bytes / (double)total,
           (double)st.used_bytes / (double)total, (unsigned long long)st.chunks,
           (double)total / (double)st.chunks);
    uint64_t payload = 0;
    stor_txn *t = NULL;
    if (!stor_txn_begin(s, STOR_TXN_READ, &t)) {
        stor_chunk_view views[64];
        for (size_t k = 0; k < series; k++) {
            size_t nv = 0;
            stor_chunks_range(t, k + 1, INT64_MIN, INT64_MAX, views, 64, &nv);
            for (size_t i = 0; i < nv; i++) payload += views[i].len;
        }
        stor_txn_abort(t);
    }
    printf("  chunk payload %.2f bytes/sample (%.0f bytes/chunk)\n",
           (double)payload / (double)total, (double)payload / (double)st.chunks);
    free(ts);
    free(v);
    free(level);
    stor_env_close(s);
    rm_tree(d.path);
}
