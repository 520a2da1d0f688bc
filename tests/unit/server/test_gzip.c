/* tests/unit/server/test_gzip.c: srv_inflate and srv_content_encoding. Compressed inputs
 * are made here with zlib's deflate (gzip or zlib wrapper), so each case is checked
 * against an independent producer. */
#include "server/gzip.h"
#include "test.h"

#include <stdlib.h>
#include <zlib.h>

/* Compress in[0..len) with a gzip (gz=1) or zlib (gz=0) wrapper. Returns a malloc'd buffer. */
static uint8_t *pack(const void *in, size_t len, int gz, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, gz ? 16 + MAX_WBITS : MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, len) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    CHECK_EQ_INT(Z_STREAM_END, rc);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static char *text(size_t len) {
    char *s = malloc(len);
    for (size_t i = 0; i < len; i++) s[i] = "metric_a{job=\"x\"} 1\n"[i % 21];
    return s;
}

TEST(test_gzip_content_encoding_names) {
    CHECK_EQ_INT(SRV_ENC_IDENTITY, srv_content_encoding(NULL, 0));
    CHECK_EQ_INT(SRV_ENC_IDENTITY, srv_content_encoding("", 0));
    CHECK_EQ_INT(SRV_ENC_IDENTITY, srv_content_encoding("Identity", 8));
    CHECK_EQ_INT(SRV_ENC_GZIP, srv_content_encoding("gzip", 4));
    CHECK_EQ_INT(SRV_ENC_GZIP, srv_content_encoding(" GZIP ", 6));
    CHECK_EQ_INT(SRV_ENC_GZIP, srv_content_encoding("x-gzip", 6));
    CHECK_EQ_INT(SRV_ENC_DEFLATE, srv_content_encoding("deflate", 7));
    CHECK_EQ_INT(-1, srv_content_encoding("snappy", 6));
    CHECK_EQ_INT(-1, srv_content_encoding("gzip, br", 8));
    CHECK_EQ_INT(-1, srv_content_encoding("zstd", 4));
}

TEST(test_gzip_round_trip_both_wrappers) {
    for (int gz = 0; gz <= 1; gz++) {
        size_t n = 1000003, clen = 0;
        char *s = text(n);
        uint8_t *c = pack(s, n, gz, &clen);
        ax_buf out;
        ax_buf_init(&out, 4u << 20);
        ax_err e = {0};
        int rc = srv_inflate(c, clen, gz ? SRV_ENC_GZIP : SRV_ENC_DEFLATE, 4u << 20, &out, &e);
        CHECK_EQ_INT(0, rc);
        CHECK_EQ_U64(n, out.len);
        CHECK(out.len == n && memcmp(out.data, s, n) == 0);
        ax_buf_free(&out);
        free(c);
        free(s);
    }
}

TEST(test_gzip_concatenated_members) {
    size_t l1 = 0, l2 = 0;
    uint8_t *a = pack("first\n", 6, 1, &l1), *b = pack("second\n", 7, 1, &l2);
    uint8_t *both = malloc(l1 + l2);
    memcpy(both, a, l1);
    memcpy(both + l1, b, l2);
    ax_buf out;
    ax_buf_init(&out, 1024);
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_inflate(both, l1 + l2, SRV_ENC_GZIP, 1024, &out, &e));
    CHECK(out.len == 13 && memcmp(out.data, "first\nsecond\n", 13) == 0);
    ax_buf_free(&out);
    /* garbage after the last member */
    uint8_t *tail = malloc(l1 + 3);
    memcpy(tail, a, l1);
    memcpy(tail + l1, "xyz", 3);
    ax_buf_init(&out, 1024);
    CHECK_EQ_INT(AX_EINVAL, srv_inflate(tail, l1 + 3, SRV_ENC_GZIP, 1024, &out, &e));
    CHECK(strstr(e.msg, "trailing") != NULL);
    ax_buf_free(&out);
    free(a), free(b), free(both), free(tail);
}

/* A bomb: 64 MB of zeros compress to ~64 KB; with a 1 MB cap inflation stops at the cap. */
TEST(test_gzip_bomb_stops_at_cap) {
    size_t n = 64u << 20, clen = 0;
    char *z = calloc(1, n);
    uint8_t *c = pack(z, n, 1, &clen);
    free(z);
    CHECK(clen < n / 500);
    ax_buf out;
    ax_buf_init(&out, 1u << 20);
    ax_err e = {0};
    CHECK_EQ_INT(AX_ETOOBIG, srv_inflate(c, clen, SRV_ENC_GZIP, 1u << 20, &out, &e));
    CHECK(strstr(e.msg, "exceeds 1048576 bytes") != NULL);
    CHECK(out.cap <= (1u << 20) + 4096 || out.len == 0);
    ax_buf_free(&out);
    free(c);
}

/* Output of exactly the cap is fine; one byte more is not. */
TEST(test_gzip_exact_cap) {
    size_t n = 300000, clen = 0;
    char *s = text(n);
    uint8_t *c = pack(s, n, 1, &clen);
    ax_buf out;
    ax_err e = {0};
    ax_buf_init(&out, n);
    CHECK_EQ_INT(0, srv_inflate(c, clen, SRV_ENC_GZIP, n, &out, &e));
    CHECK_EQ_U64(n, out.len);
    ax_buf_free(&out);
    ax_buf_init(&out, n - 1);
    CHECK_EQ_INT(AX_ETOOBIG, srv_inflate(c, clen, SRV_ENC_GZIP, n - 1, &out, &e));
    ax_buf_free(&out);
    free(c), free(s);
}

/* Every truncation of a valid stream is refused as invalid or truncated, never accepted
 * and never read past the end (ASan). */
TEST(test_gzip_every_truncation_refused) {
    size_t n = 5000, clen = 0;
    char *s = text(n);
    uint8_t *c = pack(s, n, 1, &clen);
    for (size_t cut = 0; cut < clen; cut++) {
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, c, cut);
        ax_buf out;
        ax_buf_init(&out, 1u << 20);
        ax_err e = {0};
        int rc = srv_inflate(part, cut, SRV_ENC_GZIP, 1u << 20, &out, &e);
        if (rc != AX_EINVAL) FAILF("cut at %zu of %zu: rc %d", cut, clen, rc);
        ax_buf_free(&out);
        free(part);
    }
    free(c), free(s);
}

TEST(test_gzip_corrupt_and_wrong_wrapper) {
    size_t n = 5000, clen = 0;
    char *s = text(n);
    uint8_t *c = pack(s, n, 1, &clen);
    ax_buf out;
    ax_err e = {0};
    /* flip a byte in the CRC trailer */
    c[clen - 6] ^= 0x55;
    ax_buf_init(&out, 1u << 20);
    CHECK_EQ_INT(AX_EINVAL, srv_inflate(c, clen, SRV_ENC_GZIP, 1u << 20, &out, &e));
    CHECK(strstr(e.msg, "gzip: invalid compressed data") != NULL);
    ax_buf_free(&out);
    c[clen - 6] ^= 0x55;
    /* a gzip stream declared as deflate (zlib wrapper) */
    ax_buf_init(&out, 1u << 20);
    CHECK_EQ_INT(AX_EINVAL, srv_inflate(c, clen, SRV_ENC_DEFLATE, 1u << 20, &out, &e));
    ax_buf_free(&out);
    /* plain text declared as gzip */
    ax_buf_init(&out, 1u << 20);
    CHECK_EQ_INT(AX_EINVAL, srv_inflate((const uint8_t *)s, n, SRV_ENC_GZIP, 1u << 20, &out, &e));
    ax_buf_free(&out);
    free(c), free(s);
}
