/* Unit tests for core/sha256.c: the FIPS 180-2 SHA-256 examples, RFC 4231 HMAC-SHA256
 * test cases 1, 2, 3, 4, 6 and 7, incremental updates split at every offset and in uneven
 * chunks, and ax_hex. Static helpers are prefixed sh_ (this file shares unit_core). */
#include "core/core.h"
#include "test.h"

#include <stdlib.h>

static void sh_check(const char *what, const uint8_t d[32], const char *want_hex) {
    char hex[65];
    ax_hex(d, 32, hex);
    if (strcmp(hex, want_hex)) FAILF("%s: expected %s, got %s", what, want_hex, hex);
}

/* One-shot digest of s, on an exact-size heap copy so ASan sees overreads. */
static void sh_one(const char *s, const char *want_hex) {
    size_t n = strlen(s);
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    uint8_t d[32];
    ax_sha256(copy, n, d);
    free(copy);
    sh_check(s, d, want_hex);
}

TEST(test_sha256_fips_vectors) {
    sh_one("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sh_one("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sh_one("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    uint8_t d[32];
    ax_sha256(NULL, 0, d);
    sh_check("NULL, 0", d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(test_sha256_million_a_uneven_chunks) {
    const size_t total = 1000000;
    uint8_t *a = malloc(total);
    memset(a, 'a', total);
    static const size_t chunk[] = {1, 63, 64, 65, 0, 127, 4096, 3, 55, 56, 57, 1000};
    ax_sha256_ctx ctx;
    ax_sha256_init(&ctx);
    size_t off = 0;
    for (size_t i = 0; off < total; i++) {
        size_t n = chunk[i % (sizeof chunk / sizeof chunk[0])];
        if (n > total - off) n = total - off;
        ax_sha256_update(&ctx, a + off, n);
        off += n;
    }
    uint8_t d[32];
    ax_sha256_final(&ctx, d);
    sh_check("1e6 x 'a' in chunks", d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    ax_sha256(a, total, d);
    sh_check("1e6 x 'a' one-shot", d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

TEST(test_sha256_split_at_every_offset) {
    uint8_t msg[131], want[32], got[32];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 37 + 11);
    ax_sha256(msg, sizeof msg, want);
    for (size_t cut = 0; cut <= sizeof msg; cut++) {
        ax_sha256_ctx ctx;
        ax_sha256_init(&ctx);
        ax_sha256_update(&ctx, msg, cut);
        ax_sha256_update(&ctx, msg + cut, sizeof msg - cut);
        ax_sha256_final(&ctx, got);
        if (memcmp(want, got, 32)) FAILF("split at %zu differs from one-shot", cut);
    }
    /* and byte by byte */
    ax_sha256_ctx ctx;
    ax_sha256_init(&ctx);
    for (size_t i = 0; i < sizeof msg; i++) ax_sha256_update(&ctx, msg + i, 1);
    ax_sha256_final(&ctx, got);
    CHECK(!memcmp(want, got, 32));
    /* every length 0..130 around the padding boundaries (55, 56, 63, 64, 119, 120): the
     * incremental path with a 1-byte first piece agrees with one-shot */
    for (size_t n = 1; n < sizeof msg; n++) {
        ax_sha256(msg, n, want);
        ax_sha256_init(&ctx);
        ax_sha256_update(&ctx, msg, 1);
        ax_sha256_update(&ctx, msg + 1, n - 1);
        ax_sha256_final(&ctx, got);
        if (memcmp(want, got, 32)) FAILF("length %zu: 1 + rest differs from one-shot", n);
    }
}

static void sh_hmac(int tc, const uint8_t *key, size_t klen, const void *msg, size_t mlen,
                    const char *want_hex) {
    uint8_t d[32];
    ax_hmac_sha256(key, klen, msg, mlen, d);
    char what[32];
    snprintf(what, sizeof what, "RFC 4231 case %d", tc);
    sh_check(what, d, want_hex);
}

TEST(test_sha256_hmac_rfc4231) {
    uint8_t key[131], data[50];

    memset(key, 0x0b, 20);
    sh_hmac(1, key, 20, "Hi There", 8,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    const char *m2 = "what do ya want for nothing?";
    sh_hmac(2, (const uint8_t *)"Jefe", 4, m2, strlen(m2),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    sh_hmac(3, key, 20, data, 50,
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

    for (int i = 0; i < 25; i++) key[i] = (uint8_t)(i + 1);
    memset(data, 0xcd, 50);
    sh_hmac(4, key, 25, data, 50,
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

    memset(key, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    sh_hmac(6, key, 131, m6, strlen(m6),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    sh_hmac(7, key, 131, m7, strlen(m7),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(test_sha256_hex_lowercase) {
    static const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff, 0x10};
    char out[11];
    memset(out, 'x', sizeof out);
    ax_hex(b, sizeof b, out);
    CHECK_EQ_STR("000fa5ff10", out);
    char empty[1] = {'x'};
    ax_hex(b, 0, empty);
    CHECK_EQ_STR("", empty);
}
