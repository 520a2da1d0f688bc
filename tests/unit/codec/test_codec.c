/* Unit tests for storage/codec/: bit-exact round trips of every encoding (XOR, decimal,
 * each with and without zstd; encoding 2 with each value stream, sections raw or zstd'd;
 * and the automatic choice), timestamp edge cases, input
 * validation, and hostile bytes (every truncation, random bit flips) that must give an
 * error or a well-formed result, never a crash. */
#include "storage/codec/codec.h"
#include "storage/codec/codec_int.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state;
static uint64_t rng(void) { /* splitmix64, fixed seeds only */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* Encoder settings every round trip runs through. */
static const struct mode { const char *name; int enc, zstd, vk; } modes[] = {
    {"auto+zstd", CODEC__AUTO, 1, CODEC__AUTO},
    {"auto-v1", CODEC__AUTO_V1, 1, CODEC__AUTO},
    {"xor", CODEC__ENC_XOR, 0, CODEC__AUTO},
    {"xor+zstd", CODEC__ENC_XOR, 1, CODEC__AUTO},
    {"dec", CODEC__ENC_DEC, 0, CODEC__AUTO},
    {"dec+zstd", CODEC__ENC_DEC, 1, CODEC__AUTO},
    {"split", CODEC__ENC_SPLIT, 0, CODEC__AUTO},
    {"split-xor", CODEC__ENC_SPLIT, 0, CODEC__V_XOR},
    {"split-xor+zstd", CODEC__ENC_SPLIT, 1, CODEC__V_XOR},
    {"split-dec", CODEC__ENC_SPLIT, 0, CODEC__V_DEC},
    {"split-dec+zstd", CODEC__ENC_SPLIT, 1, CODEC__V_DEC},
    {"split-planes", CODEC__ENC_SPLIT, 0, CODEC__V_PLANES},
    {"split-planes+zstd", CODEC__ENC_SPLIT, 1, CODEC__V_PLANES},
};

static int64_t *g_ts;
static double *g_v;

/* Encode in one mode, decode, compare bits, check peek. Returns the chunk length. */
static size_t roundtrip_mode(const char *what, const struct mode *m, const int64_t *ts,
                             const double *v, size_t n) {
    codec_ctx *c = codec_ctx_new();
    ax_buf b;
    ax_buf_init(&b, 64u << 20);
    codec__ctx_tune(c, m->enc, 1, m->zstd);
    codec__ctx_values(c, m->vk);
    int rc = codec_chunk_encode(c, &b, ts, v, n);
    if (rc) {
        FAILF("%s/%s n=%zu: encode returned %s", what, m->name, n, ax_strerror(rc));
        goto out;
    }
    size_t pn = 0, dn = 0;
    int64_t mint = 0, maxt = 0;
    rc = codec_chunk_peek(b.data, b.len, &pn, &mint, &maxt);
    if (rc || pn != n || mint != ts[0] || maxt != ts[n - 1])
        FAILF("%s/%s: peek rc=%d n=%zu mint=%" PRId64 " maxt=%" PRId64, what, m->name, rc, pn,
              mint, maxt);
    rc = codec_chunk_decode(c, b.data, b.len, g_ts, g_v, CODEC_MAX_SAMPLES, &dn);
    if (rc || dn != n) {
        FAILF("%s/%s n=%zu: decode returned %s, n=%zu", what, m->name, n, ax_strerror(rc), dn);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (g_ts[i] != ts[i]) {
            FAILF("%s/%s: ts[%zu] expected %" PRId64 ", got %" PRId64, what, m->name, i, ts[i],
                  g_ts[i]);
            break;
        }
        if (memcmp(&g_v[i], &v[i], 8)) {
            FAILF("%s/%s: v[%zu] expected bits %016" PRIx64 ", got %016" PRIx64, what, m->name,
                  i, dbits(v[i]), dbits(g_v[i]));
            break;
        }
    }
out:;
    size_t len = b.len;
    ax_buf_free(&b);
    codec_ctx_free(c);
    return len;
}

static void roundtrip(const char *what, const int64_t *ts, const double *v, size_t n) {
    for (size_t i = 0; i < NELEM(modes); i++) roundtrip_mode(what, &modes[i], ts, v, n);
}

static int64_t *regular_ts(size_t n, int64_t t0, int64_t step) {
    int64_t *ts = malloc(n * sizeof *ts);
    for (size_t i = 0; i < n; i++) ts[i] = t0 + (int64_t)i * step + (int64_t)(rng() % 5);
    return ts;
}

__attribute__((constructor)) static void setup(void) {
    g_ts = malloc(CODEC_MAX_SAMPLES * sizeof *g_ts);
    g_v = malloc(CODEC_MAX_SAMPLES * sizeof *g_v);
}

/* ---- values ---- */

TEST(test_codec_special_values_bit_exact) {
    static const uint64_t bits[] = {
        0x7ff0000000000002ull, /* Prometheus stale marker */
        0x7ff8000000000000ull, /* quiet NaN */
        0xfff8000000000000ull, /* negative quiet NaN */
        0x7ff0000000000001ull, /* signalling NaN */
        0x7fffffffffffffffull, /* NaN, all payload bits */
        0x7ff4000000000abcull, 0x7ff0000000000000ull, /* +Inf */
        0xfff0000000000000ull,                       /* -Inf */
        0x8000000000000000ull,                       /* -0 */
        0x0000000000000000ull,                       /* +0 */
        0x0000000000000001ull,                       /* smallest denormal */
        0x000fffffffffffffull,                       /* largest denormal */
        0x800ffffffffffff0ull,                       /* negative denormal */
        0x7fefffffffffffffull,                       /* DBL_MAX */
        0xffefffffffffffffull,                       /* -DBL_MAX */
        0x0010000000000000ull,                       /* DBL_MIN */
    };
    double v[NELEM(bits)];
    for (size_t i = 0; i < NELEM(bits); i++) v[i] = bitsd(bits[i]);
    rng_state = 1;
    int64_t *ts = regular_ts(NELEM(bits), 1700000000000, 15000);
    roundtrip("special", ts, v, NELEM(bits));
    /* each special value alone, and repeated, and between decimals */
    for (size_t i = 0; i < NELEM(bits); i++) {
        double one[1] = {v[i]}, rep[8], mix[9];
        for (int k = 0; k < 8; k++) rep[k] = v[i];
        for (int k = 0; k < 9; k++) mix[k] = k == 4 ? v[i] : 0.25 * k;
        char name[64];
        snprintf(name, sizeof name, "special[%zu]", i);
        roundtrip(name, ts, one, 1);
        roundtrip(name, ts, rep, 8);
        int64_t ts9[9];
        for (int k = 0; k < 9; k++) ts9[k] = 1000 * k;
        roundtrip(name, ts9, mix, 9);
    }
    free(ts);
}

TEST(test_codec_value_tables_bit_exact) {
    static const double ints[] = {0, 1, 2, 3, 100, 1000, 1e6, -5, 9007199254740991.0,
                                  -9007199254740991.0, 9007199254740994.0, 123456789012.0};
    static const double decs[] = {0.1, 99.95, 0.2, 0.3, 0.30000000000000004, 12345.67, -0.001,
                                  1.5, 3.14159, 1e-7, 2.5e-12, 0.1 + 0.2, 1e21, 1e22, 1e23,
                                  123.456e10, 4.35, 0.07};
    static const double mags[] = {1e300, -1e-300, DBL_MAX, DBL_MIN, 5e-324, 1e-320, 1e15 + 0.3};
    struct { const char *name; const double *v; size_t n; } tab[] = {
        {"ints", ints, NELEM(ints)}, {"decimals", decs, NELEM(decs)}, {"magnitudes", mags, NELEM(mags)},
    };
    rng_state = 2;
    int64_t *ts = regular_ts(64, -1000000, 15000);
    for (size_t t = 0; t < NELEM(tab); t++) roundtrip(tab[t].name, ts, tab[t].v, tab[t].n);
    free(ts);
}

TEST(test_codec_random_doubles) {
    size_t n = 2000;
    double *v = malloc(n * sizeof *v);
    rng_state = 3;
    int64_t *ts = regular_ts(n, 0, 1000);
    for (size_t i = 0; i < n; i++) v[i] = bitsd(rng()); /* includes NaNs and denormals */
    roundtrip("random bits", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = (double)(rng() >> 11) / 9007199254740992.0;
    roundtrip("random [0,1)", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = (double)(int64_t)(rng() % 2000001 - 1000000) / 100;
    roundtrip("random 2-decimal gauge", ts, v, n);
    free(v);
    free(ts);
}

TEST(test_codec_counters_constants_mixed) {
    size_t n = 4096;
    double *v = malloc(n * sizeof *v);
    rng_state = 4;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double acc = 0;
    for (size_t i = 0; i < n; i++) { acc += (double)(rng() % 100000); v[i] = acc; }
    roundtrip("int counter", ts, v, n);
    int64_t cents = 123456789;
    for (size_t i = 0; i < n; i++) { cents += 1500 + (int64_t)(rng() % 7); v[i] = (double)cents / 100; }
    roundtrip("cpu-seconds counter", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = 42.5;
    roundtrip("constant", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = (double)((i % 50) * 4096 + 81920000);
    roundtrip("memory gauge", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = (double)(i * 1000);
    roundtrip("trailing zeros", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = i % 97 == 5 ? bitsd(0x7ff0000000000002ull) : (double)(i % 13) / 10;
    roundtrip("decimal with stale markers", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = i % 1000 == 500 ? bitsd(0x7ff0000000000002ull) : 7;
    roundtrip("constant with stale markers inside zero runs", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = i < n / 2 ? 3 + 0.5 * (double)i : 100;
    roundtrip("steady counter then flat", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = i % 3 ? -0.0 : 0.0;
    roundtrip("signed zeros", ts, v, n);
    /* exponent grows mid-chunk: earlier mantissas are rescaled */
    for (size_t i = 0; i < n; i++) v[i] = i < 100 ? (double)i : i < 200 ? i / 10.0 : i / 1000.0;
    roundtrip("growing exponent", ts, v, n);
    /* mantissa overflows on rescale: large integers then a fine decimal */
    for (size_t i = 0; i < n; i++) v[i] = i % 2 ? 4503599627370496.0 + (double)i : 0.123456;
    roundtrip("rescale overflow", ts, v, n);
    free(v);
    free(ts);
}

TEST(test_codec_single_and_max_samples) {
    int64_t t1[1] = {INT64_MIN};
    double v1[1] = {bitsd(0x7ff0000000000002ull)};
    roundtrip("single", t1, v1, 1);
    t1[0] = INT64_MAX;
    v1[0] = -0.0;
    roundtrip("single max ts", t1, v1, 1);

    size_t n = CODEC_MAX_SAMPLES;
    double *v = malloc(n * sizeof *v);
    rng_state = 5;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    for (size_t i = 0; i < n; i++) v[i] = (double)(rng() % 1000) / 4;
    roundtrip("max samples decimal", ts, v, n);
    for (size_t i = 0; i < n; i++) v[i] = bitsd(rng());
    roundtrip("max samples random", ts, v, n);
    free(v);
    free(ts);
}

/* ---- timestamps ---- */

TEST(test_codec_timestamp_edges) {
    double v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t huge[3] = {-((int64_t)1 << 62), 0, (int64_t)1 << 62};
    roundtrip("ts -2^62..2^62", huge, v, 3);
    int64_t ext[2] = {INT64_MIN, INT64_MAX};
    roundtrip("ts INT64_MIN, INT64_MAX", ext, v, 2);
    int64_t ext2[4] = {INT64_MIN, INT64_MIN + 1, INT64_MAX - 1, INT64_MAX};
    roundtrip("ts extremes", ext2, v, 4);
    int64_t neg[5] = {-100000, -99999, -50000, -1, 0};
    roundtrip("negative ts", neg, v, 5);
    int64_t dense[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    roundtrip("1 ms apart", dense, v, 8);

    size_t n = 5000;
    int64_t *ts = malloc(n * sizeof *ts);
    double *vv = malloc(n * sizeof *vv);
    rng_state = 6;
    int64_t t = -1234567890123;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng();
        int64_t step = (int64_t)1 + (int64_t)((r >> 8) % ((r & 3) == 0 ? 5 : (r & 3) == 1 ? 60000
                                                         : (r & 3) == 2 ? 100000000 : 1ull << 40));
        t += step;
        ts[i] = t;
        vv[i] = (double)i;
    }
    roundtrip("irregular ts", ts, vv, n);
    free(ts);
    free(vv);
}

TEST(test_codec_rejects_bad_input) {
    codec_ctx *c = codec_ctx_new();
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    ax_buf_append(&b, "abc", 3);
    double v[3] = {1, 2, 3};
    int64_t eq[3] = {10, 20, 20}, dec[3] = {10, 5, 30}, ok[3] = {1, 2, 3};
    CHECK_EQ_INT(AX_EINVAL, codec_chunk_encode(c, &b, eq, v, 3));
    CHECK_EQ_INT(3, b.len);
    CHECK_EQ_INT(AX_EINVAL, codec_chunk_encode(c, &b, dec, v, 3));
    CHECK_EQ_INT(3, b.len);
    CHECK_EQ_INT(AX_EINVAL, codec_chunk_encode(c, &b, ok, v, 0));
    CHECK_EQ_INT(AX_EINVAL, codec_chunk_encode(c, &b, ok, v, CODEC_MAX_SAMPLES + 1));
    CHECK_EQ_INT(3, b.len);
    CHECK(memcmp(b.data, "abc", 3) == 0);
    /* appends after existing bytes */
    CHECK_EQ_INT(0, codec_chunk_encode(c, &b, ok, v, 3));
    size_t n = 0;
    int64_t ts[3];
    double vo[3];
    CHECK_EQ_INT(0, codec_chunk_decode(c, b.data + 3, b.len - 3, ts, vo, 3, &n));
    CHECK_EQ_INT(3, n);
    /* cap too small */
    n = 77;
    CHECK_EQ_INT(AX_ETOOBIG, codec_chunk_decode(c, b.data + 3, b.len - 3, ts, vo, 2, &n));
    CHECK_EQ_INT(77, n);
    /* NULL ctx works both ways */
    ax_buf b2;
    ax_buf_init(&b2, 1 << 20);
    CHECK_EQ_INT(0, codec_chunk_encode(NULL, &b2, ok, v, 3));
    CHECK_EQ_INT(0, codec_chunk_decode(NULL, b2.data, b2.len, ts, vo, 3, &n));
    CHECK_EQ_INT(3, n);
    /* dst ceiling */
    ax_buf small;
    ax_buf_init(&small, 4);
    CHECK_EQ_INT(AX_ETOOBIG, codec_chunk_encode(c, &small, ok, v, 3));
    /* empty and garbage input */
    CHECK_EQ_INT(AX_ECORRUPT, codec_chunk_decode(c, NULL, 0, ts, vo, 3, &n));
    CHECK_EQ_INT(AX_ECORRUPT, codec_chunk_peek((const uint8_t *)"", 0, &n, NULL, NULL));
    static const uint8_t big_n[] = {0x10, 0x81, 0x80, 0x04, 0x00, 0x00, 0x00}; /* n = 65537 */
    CHECK_EQ_INT(AX_ECORRUPT, codec_chunk_decode(c, big_n, sizeof big_n, ts, vo, 3, &n));
    ax_buf_free(&b);
    ax_buf_free(&b2);
    ax_buf_free(&small);
    codec_ctx_free(c);
}

TEST(test_codec_auto_picks_encoding) {
    codec_ctx *c = codec_ctx_new();
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    size_t n = 512;
    double *v = malloc(n * sizeof *v);
    rng_state = 7;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    for (size_t i = 0; i < n; i++) v[i] = (double)(rng() % 10000) / 100;
    CHECK_EQ_INT(0, codec_chunk_encode(c, &b, ts, v, n));
    CHECK_EQ_INT(CODEC__ENC_SPLIT, b.data[0] & CODEC__ENC_MASK);
    CHECK_EQ_INT(0, b.data[0] & CODEC__F_ZSTD);
    /* the old rule, still available */
    codec__ctx_tune(c, CODEC__AUTO_V1, 1, 1);
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, codec_chunk_encode(c, &b, ts, v, n));
    CHECK_EQ_INT(CODEC__ENC_DEC, b.data[0] & CODEC__ENC_MASK);
    ax_buf_reset(&b);
    for (size_t i = 0; i < n; i++) v[i] = bitsd(rng());
    CHECK_EQ_INT(0, codec_chunk_encode(c, &b, ts, v, n));
    CHECK_EQ_INT(CODEC__ENC_XOR, b.data[0] & CODEC__ENC_MASK);
    codec__ctx_tune(c, CODEC__AUTO, CODEC__LEVEL, 1);
    /* regular scrapes of a constant: almost nothing per sample */
    for (size_t i = 0; i < n; i++) { ts[i] = 1700000000000 + 15000 * (int64_t)i; v[i] = 1; }
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, codec_chunk_encode(c, &b, ts, v, n));
    if (b.len > 40) FAILF("constant regular chunk of %zu samples took %zu bytes", n, b.len);
    free(v);
    free(ts);
    ax_buf_free(&b);
    codec_ctx_free(c);
}

TEST(test_codec_grid_timestamps) {
    /* scrapes every 15 s with +-3 ms jitter, missed scrapes, a restart offset, drift */
    size_t n = 5760;
    int64_t *ts = malloc(n * sizeof *ts);
    double *v = malloc(n * sizeof *v);
    rng_state = 10;
    int64_t base = 1795564810486;
    for (size_t i = 0; i < n; i++) {
        ts[i] = base + 15000 * (int64_t)i + (int64_t)(rng() % 7) - 3;
        v[i] = 1;
    }
    roundtrip("jittered grid", ts, v, n);
    codec_ctx *c = codec_ctx_new();
    ax_buf b;
    ax_buf_init(&b, 1 << 22);
    CHECK_EQ_INT(0, codec_chunk_encode(c, &b, ts, v, n));
    /* log2(7) = 2.81 bits of jitter per sample; bit-packed dod took ~0.76 bytes */
    if (b.len > n * 45 / 100) FAILF("jittered constant chunk: %zu bytes for %zu samples", b.len, n);
    for (size_t i = 0; i < n; i++) ts[i] = base + 15000 * (int64_t)i;
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, codec_chunk_encode(c, &b, ts, v, n));
    if (b.len > 60) FAILF("regular constant chunk: %zu bytes for %zu samples", b.len, n);
    int64_t t = base;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng();
        t += (r % 100 == 0 ? 30000 : r % 1000 == 1 ? 7777 : 15000) + (int64_t)(r >> 60) - 7;
        ts[i] = t;
    }
    roundtrip("grid with gaps and restarts", ts, v, n);
    for (size_t i = 0; i < n; i++) ts[i] = base + 15001 * (int64_t)i + (int64_t)(i / 7);
    roundtrip("drifting grid", ts, v, n);
    ax_buf_free(&b);
    codec_ctx_free(c);
    free(ts);
    free(v);
}

/* ---- hostile bytes ---- */

/* A few valid chunks of every encoding, for the truncation and bit-flip tests. */
static size_t sample_chunks(ax_buf *out, size_t *ends, size_t max) {
    static const struct mode ms[] = {
        {"xor", CODEC__ENC_XOR, 0, CODEC__AUTO},           {"xor+zstd", CODEC__ENC_XOR, 1, CODEC__AUTO},
        {"dec", CODEC__ENC_DEC, 0, CODEC__AUTO},           {"dec+zstd", CODEC__ENC_DEC, 1, CODEC__AUTO},
        {"split-xor", CODEC__ENC_SPLIT, 0, CODEC__V_XOR},  {"split-xor+z", CODEC__ENC_SPLIT, 1, CODEC__V_XOR},
        {"split-dec", CODEC__ENC_SPLIT, 0, CODEC__V_DEC},  {"split-dec+z", CODEC__ENC_SPLIT, 1, CODEC__V_DEC},
        {"split-pl", CODEC__ENC_SPLIT, 0, CODEC__V_PLANES}, {"split-pl+z", CODEC__ENC_SPLIT, 1, CODEC__V_PLANES},
    };
    codec_ctx *c = codec_ctx_new();
    size_t k = 0, n = 300;
    double *v = malloc(n * sizeof *v);
    rng_state = 8;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    for (int data = 0; data < 4; data++) {
        for (size_t i = 0; i < n; i++)
            v[i] = data == 3 ? (double)(i / 50) /* zero runs */
                 : data == 0 ? (double)(i * 7 % 100) / 10
                 : data == 1 ? (i == 17 ? bitsd(0x7ff0000000000002ull) : (double)(i * 1000 + rng() % 3))
                             : bitsd(rng() | 1);
        for (size_t m = 0; m < NELEM(ms) && k < max; m++) {
            codec__ctx_tune(c, ms[m].enc, 1, ms[m].zstd);
            codec__ctx_values(c, ms[m].vk);
            size_t cnt = data == 2 ? 40 : n;
            if (codec_chunk_encode(c, out, ts, v, cnt) == 0) ends[k++] = out->len;
        }
    }
    free(v);
    free(ts);
    codec_ctx_free(c);
    return k;
}

TEST(test_codec_every_truncation_fails) {
    ax_buf b;
    ax_buf_init(&b, 1 << 22);
    size_t ends[40];
    size_t k = sample_chunks(&b, ends, 40);
    CHECK(k == 40);
    codec_ctx *c = codec_ctx_new();
    size_t start = 0;
    for (size_t i = 0; i < k; i++) {
        size_t len = ends[i] - start;
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1); /* exact size so ASan sees any over-read */
            memcpy(copy, b.data + start, cut);
            size_t n = 12345;
            int rc = codec_chunk_decode(c, copy, cut, g_ts, g_v, CODEC_MAX_SAMPLES, &n);
            if (rc == 0) FAILF("chunk %zu cut at %zu of %zu decoded (n=%zu)", i, cut, len, n);
            free(copy);
        }
        size_t n = 0;
        CHECK_EQ_INT(0, codec_chunk_decode(c, b.data + start, len, g_ts, g_v, CODEC_MAX_SAMPLES, &n));
        start = ends[i];
    }
    codec_ctx_free(c);
    ax_buf_free(&b);
}

TEST(test_codec_bit_flips_never_crash) {
    ax_buf b;
    ax_buf_init(&b, 1 << 22);
    size_t ends[40];
    size_t k = sample_chunks(&b, ends, 40);
    CHECK(k == 40);
    codec_ctx *c = codec_ctx_new();
    rng_state = 9;
    size_t start = 0, ok = 0, bad = 0;
    for (size_t i = 0; i < k; i++) {
        size_t len = ends[i] - start;
        uint8_t *copy = malloc(len);
        for (int trial = 0; trial < 400; trial++) {
            memcpy(copy, b.data + start, len);
            int flips = 1 + (int)(rng() % 3);
            for (int f = 0; f < flips; f++) {
                size_t bit = rng() % (8 * len);
                copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            }
            size_t n = 0, pn = 0;
            int rc = codec_chunk_decode(c, copy, len, g_ts, g_v, CODEC_MAX_SAMPLES, &n);
            if (rc == 0) {
                ok++;
                if (codec_chunk_peek(copy, len, &pn, NULL, NULL) != 0 || pn != n)
                    FAILF("flipped chunk decoded n=%zu but peek says %zu", n, pn);
                for (size_t j = 1; j < n; j++)
                    if (g_ts[j] <= g_ts[j - 1]) { FAILF("decoded ts not increasing"); break; }
            } else {
                bad++;
                if (rc != AX_ECORRUPT && rc != AX_ETOOBIG)
                    FAILF("unexpected status %s", ax_strerror(rc));
            }
        }
        free(copy);
        start = ends[i];
    }
    CHECK(bad > 0);
    ax_buf_free(&b);
    codec_ctx_free(c);
}
