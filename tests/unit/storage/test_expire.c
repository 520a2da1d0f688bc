/* Unit tests for stor_chunks_expire (storage/chunks.c): which chunks go, batching with a
 * resume point, the list of series left without chunks. */
#include "storage/storage.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static stor_env *open_env(char *dir) {
    if (!mkdtemp(dir)) abort();
    stor_opts o = {.path = dir, .nosync = true};
    stor_env *s = NULL;
    ax_err e = {0};
    if (stor_env_open(&o, &s, &e)) FAILF("stor_env_open: %s", e.msg);
    return s;
}

static void put_series(stor_env *s, uint64_t sid, int64_t t0, size_t n) {
    int64_t *ts = malloc(n * sizeof *ts);
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        ts[i] = t0 + (int64_t)i * 10;
        v[i] = (double)(i % 7) * 1.5;
    }
    stor_txn *t = NULL;
    uint8_t lb[32];
    size_t ll = 0;
    lb[ll++] = 8; memcpy(lb + ll, "__name__", 8); ll += 8;
    lb[ll++] = 1; lb[ll++] = (uint8_t)('a' + sid);
    CHECK_EQ_INT(0, stor_txn_begin(s, STOR_TXN_WRITE, &t));
    CHECK_EQ_INT(0, stor_series_put(t, sid, lb, ll));
    CHECK_EQ_INT(0, stor_samples_write(t, sid, ts, v, n, 100));
    CHECK_EQ_INT(0, stor_txn_commit(t));
    free(ts);
    free(v);
}

/* chunks of sid ending before cutoff, and all chunks of sid */
static void count_chunks(stor_env *s, uint64_t sid, int64_t cutoff, size_t *old, size_t *all) {
    stor_txn *t = NULL;
    stor_chunk_view v[512];
    size_t n = 0;
    *old = *all = 0;
    CHECK_EQ_INT(0, stor_txn_begin(s, STOR_TXN_READ, &t));
    CHECK_EQ_INT(0, stor_chunks_range(t, sid, INT64_MIN, INT64_MAX, v, 512, &n));
    for (size_t i = 0; i < n; i++) *old += v[i].maxt < cutoff;
    *all = n;
    stor_txn_abort(t);
}

TEST(test_storage_expire_batches_and_emptied) {
    char dir[] = "/tmp/auspex-exp-XXXXXX";
    stor_env *s = open_env(dir);
    const int64_t cutoff = 5000;
    put_series(s, 1, 0, 400);      /* 0..3990: all before the cutoff */
    put_series(s, 2, 2000, 600);   /* 2000..7990: straddles */
    put_series(s, 3, 6000, 300);   /* all after */
    put_series(s, 5, -3000, 100);  /* negative times, all before */
    size_t old[6] = {0}, all[6] = {0}, want = 0;
    for (uint64_t sid = 1; sid <= 5; sid++) {
        count_chunks(s, sid, cutoff, &old[sid], &all[sid]);
        want += old[sid];
    }
    CHECK(old[1] == all[1] && all[1] >= 4);
    CHECK(old[2] >= 2 && old[2] < all[2]);
    CHECK_EQ_INT(0, old[3]);

    /* batches of 3 chunks, resuming where the last one stopped */
    stor_sids emptied = {0};
    uint64_t next = 0;
    size_t total = 0, calls = 0;
    do {
        stor_txn *t = NULL;
        stor_expire_out o;
        CHECK_EQ_INT(0, stor_txn_begin(s, STOR_TXN_WRITE, &t));
        int rc = stor_chunks_expire(t, cutoff, next, 3, 1u << 20, &emptied, &o);
        CHECK_EQ_INT(0, rc);
        CHECK_EQ_INT(0, stor_txn_commit(t));
        if (rc) break;
        CHECK(o.chunks <= 3);
        total += o.chunks;
        next = o.next_sid;
        calls++;
    } while (next && calls < 100);
    CHECK_EQ_INT(want, total);
    CHECK_EQ_INT((want + 2) / 3, calls); /* a call stops only in front of an old chunk */
    CHECK_EQ_INT(2, emptied.n);
    if (emptied.n == 2) {
        CHECK_EQ_U64(1, emptied.v[0]);
        CHECK_EQ_U64(5, emptied.v[1]);
    }
    for (uint64_t sid = 1; sid <= 5; sid++) {
        size_t o2, a2;
        count_chunks(s, sid, cutoff, &o2, &a2);
        CHECK_EQ_INT(0, o2);
        CHECK_EQ_INT(all[sid] - old[sid], a2);
    }
    /* series records stay: stor_series_delete removes them */
    stor_txn *t = NULL;
    const uint8_t *lb;
    size_t ll;
    CHECK_EQ_INT(0, stor_txn_begin(s, STOR_TXN_READ, &t));
    CHECK_EQ_INT(0, stor_series_get(t, 1, &lb, &ll));
    stor_txn_abort(t);
    /* again: nothing to do; a read txn or a zero cap is refused */
    stor_expire_out o;
    emptied.n = 0;
    CHECK_EQ_INT(0, stor_txn_begin(s, STOR_TXN_WRITE, &t));
    CHECK_EQ_INT(0, stor_chunks_expire(t, cutoff, 0, 1000, 1u << 20, &emptied, &o));
    CHECK_EQ_INT(0, o.chunks);
    CHECK_EQ_U64(0, o.next_sid);
    CHECK_EQ_INT(0, emptied.n);
    CHECK_EQ_INT(AX_EINVAL, stor_chunks_expire(t, cutoff, 0, 0, 1u << 20, NULL, &o));
    stor_txn_abort(t);
    CHECK_EQ_INT(0, stor_txn_begin(s, STOR_TXN_READ, &t));
    CHECK_EQ_INT(AX_EINVAL, stor_chunks_expire(t, cutoff, 0, 10, 1u << 20, NULL, &o));
    stor_txn_abort(t);
    stor_sids_free(&emptied);
    stor_env_close(s);
    test_rm_rf(dir);
}
