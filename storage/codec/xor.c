/* storage/codec/xor.c: the two bitstreams, timestamps (delta-of-delta) and Gorilla XOR values.
 *
 * Timestamps: ts[0] lives in the chunk header; for i >= 1 the stream holds
 * dod = (ts[i] - ts[i-1]) - (ts[i-1] - ts[i-2]) (the first "previous delta" is 0), in
 * uint64 wrap-around arithmetic so any int64 timestamps work, written in one of six
 * prefix-coded buckets ('0' = 0; '10'+3, '110'+5, '1110'+9, '11110'+24 bits two's
 * complement; '11111'+64). A 15 s scrape with no jitter costs 1 bit per sample, +-2 ms of
 * jitter about 5.4 bits. Decoding checks that timestamps strictly increase.
 *
 * Values (Gorilla, as in Facebook's paper and Prometheus' XOR chunks): the first value's
 * 64 bits raw, then the XOR with the previous value: '0' if equal, '10' + the meaningful
 * bits if they fit the previous leading/trailing-zero window, else '11' + 5 bits leading
 * zeros (clamped at 31) + 6 bits (significant bits - 1) + the significant bits.
 * Bucket tables and bit layouts: docs/chunk-format.md.
 */
#include "storage/codec/codec_int.h"

/* Timestamp buckets: index = number of leading 1 bits in the prefix (0..5). */
static const unsigned ts_bits[6] = {0, 3, 5, 9, 24, 64};

static inline int fits(int64_t v, unsigned nb) {
    int64_t lim = (int64_t)1 << (nb - 1);
    return v >= -lim && v < lim;
}

void codec__ts_encode(codec__bw *w, const int64_t *ts, size_t n) {
    uint64_t prev = (uint64_t)ts[0], pd = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t d = (uint64_t)ts[i] - prev;
        uint64_t u = d - pd;
        int64_t dod = (int64_t)u;
        prev = (uint64_t)ts[i];
        pd = d;
        if (dod == 0) {
            codec__bw_put(w, 0, 1);
        } else if (fits(dod, 3)) {
            codec__bw_put(w, (0x2ull << 3) | (u & 0x7), 5);
        } else if (fits(dod, 5)) {
            codec__bw_put(w, (0x6ull << 5) | (u & 0x1f), 8);
        } else if (fits(dod, 9)) {
            codec__bw_put(w, (0xeull << 9) | (u & 0x1ff), 13);
        } else if (fits(dod, 24)) {
            codec__bw_put(w, (0x1eull << 24) | (u & 0xffffff), 29);
        } else {
            codec__bw_put(w, 0x1f, 5);
            codec__bw_put_wide(w, u, 64);
        }
    }
}

int codec__ts_decode(codec__br *r, int64_t mint, int64_t *ts, size_t n) {
    uint64_t prev = (uint64_t)mint, pd = 0;
    ts[0] = mint;
    for (size_t i = 1; i < n; i++) {
        unsigned k = codec__br_ones(r, 5);
        uint64_t u = 0;
        if (k) {
            unsigned nb = ts_bits[k];
            u = codec__br_get_wide(r, nb);
            if (nb < 64) u = (uint64_t)((int64_t)(u << (64 - nb)) >> (64 - nb)); /* sign-extend */
        }
        uint64_t d = pd + u;
        uint64_t cur = prev + d;
        if ((int64_t)cur <= (int64_t)prev) return AX_ECORRUPT;
        ts[i] = (int64_t)cur;
        prev = cur;
        pd = d;
    }
    return codec__br_overrun(r) ? AX_ECORRUPT : 0;
}

static inline uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

void codec__xor_encode(codec__bw *w, const double *v, size_t n) {
    uint64_t prev = dbits(v[0]);
    unsigned plz = 0xff, ptz = 0; /* 0xff: no window yet */
    codec__bw_put_wide(w, prev, 64);
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = dbits(v[i]);
        uint64_t x = cur ^ prev;
        prev = cur;
        if (!x) {
            codec__bw_put(w, 0, 1);
            continue;
        }
        unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
        if (lz > 31) lz = 31;
        if (plz != 0xff && lz >= plz && tz >= ptz) {
            codec__bw_put(w, 0x2, 2);
            codec__bw_put_wide(w, x >> ptz, 64 - plz - ptz);
        } else {
            unsigned sig = 64 - lz - tz;
            codec__bw_put(w, (0x3u << 11) | (lz << 6) | (sig - 1), 13);
            codec__bw_put_wide(w, x >> tz, sig);
            plz = lz;
            ptz = tz;
        }
    }
}

int codec__xor_decode(codec__br *r, double *v, size_t n) {
    uint64_t prev = codec__br_get_wide(r, 64);
    unsigned plz = 0xff, ptz = 0;
    v[0] = bitsd(prev);
    for (size_t i = 1; i < n; i++) {
        unsigned k = codec__br_ones(r, 2);
        if (k == 1) {
            if (plz == 0xff) return AX_ECORRUPT;
            prev ^= codec__br_get_wide(r, 64 - plz - ptz) << ptz;
        } else if (k == 2) {
            unsigned h = (unsigned)codec__br_get(r, 11);
            unsigned lz = h >> 6, sig = (h & 0x3f) + 1;
            if (lz + sig > 64) return AX_ECORRUPT;
            ptz = 64 - lz - sig;
            plz = lz;
            prev ^= codec__br_get_wide(r, sig) << ptz;
        }
        v[i] = bitsd(prev);
        if ((i & 1023) == 0 && codec__br_overrun(r)) return AX_ECORRUPT;
    }
    return codec__br_overrun(r) ? AX_ECORRUPT : 0;
}
