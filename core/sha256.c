/* core/sha256.c: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for webhook signatures
 * and content digests. Written from the specifications; no dependency on OpenSSL.
 *
 * The message is processed in 64-byte blocks. ax_sha256_update() keeps a partial block in
 * ctx->buf (ctx->buf_len bytes, always < 64 between calls) and compresses whole blocks
 * straight from the caller's memory. ax_sha256_final() appends 0x80, zero bytes up to 56
 * mod 64, then the message length in bits as a 64-bit big-endian number.
 */
#include "core/core.h"

#include <string.h>

/* First 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void compress(uint32_t h[8], const uint8_t *blk) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)blk[4 * t] << 24 | (uint32_t)blk[4 * t + 1] << 16 |
               (uint32_t)blk[4 * t + 2] << 8 | (uint32_t)blk[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + S1 + ch + K[t] + w[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        k = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void ax_sha256_init(ax_sha256_ctx *ctx) {
    static const uint32_t H0[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    memcpy(ctx->h, H0, sizeof H0);
    ctx->total_len = 0;
    ctx->buf_len = 0;
}

void ax_sha256_update(ax_sha256_ctx *ctx, const void *p, size_t len) {
    const uint8_t *s = p;
    if (!len) return; /* p may be NULL then */
    ctx->total_len += len;
    if (ctx->buf_len) {
        size_t take = 64 - ctx->buf_len;
        if (take > len) take = len;
        memcpy(ctx->buf + ctx->buf_len, s, take);
        ctx->buf_len += take;
        s += take;
        len -= take;
        if (ctx->buf_len < 64) return;
        compress(ctx->h, ctx->buf);
        ctx->buf_len = 0;
    }
    for (; len >= 64; s += 64, len -= 64) compress(ctx->h, s);
    if (len) {
        memcpy(ctx->buf, s, len);
        ctx->buf_len = len;
    }
}

void ax_sha256_final(ax_sha256_ctx *ctx, uint8_t out[32]) {
    uint64_t bits = ctx->total_len * 8;
    size_t n = ctx->buf_len;
    ctx->buf[n++] = 0x80;
    if (n > 56) {
        memset(ctx->buf + n, 0, 64 - n);
        compress(ctx->h, ctx->buf);
        n = 0;
    }
    memset(ctx->buf + n, 0, 56 - n);
    ax_put_u64be(ctx->buf + 56, bits);
    compress(ctx->h, ctx->buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(ctx->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)ctx->h[i];
    }
    memset(ctx, 0, sizeof *ctx); /* no message bytes left behind */
}

void ax_sha256(const void *p, size_t len, uint8_t out[32]) {
    ax_sha256_ctx ctx;
    ax_sha256_init(&ctx);
    ax_sha256_update(&ctx, p, len);
    ax_sha256_final(&ctx, out);
}

/* HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), K0 = K (hashed first when longer
 * than the 64-byte block) zero-padded to 64 bytes, ipad = 0x36.., opad = 0x5c.. */
void ax_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]) {
    uint8_t k0[64] = {0}, pad[64], inner[32];
    if (klen > 64)
        ax_sha256(key, klen, k0);
    else if (klen)
        memcpy(k0, key, klen);
    ax_sha256_ctx ctx;
    for (int i = 0; i < 64; i++) pad[i] = k0[i] ^ 0x36;
    ax_sha256_init(&ctx);
    ax_sha256_update(&ctx, pad, 64);
    ax_sha256_update(&ctx, msg, mlen);
    ax_sha256_final(&ctx, inner);
    for (int i = 0; i < 64; i++) pad[i] = k0[i] ^ 0x5c;
    ax_sha256_init(&ctx);
    ax_sha256_update(&ctx, pad, 64);
    ax_sha256_update(&ctx, inner, 32);
    ax_sha256_final(&ctx, out);
    memset(k0, 0, sizeof k0);
    memset(pad, 0, sizeof pad);
}

void ax_hex(const uint8_t *p, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}
