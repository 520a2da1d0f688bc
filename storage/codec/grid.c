/* storage/codec/grid.c: timestamps as byte-aligned residuals from a regular grid (encoding 2).
 *
 * Scrapes are periodic: ts[i] is close to ts[0] + i * step. Bit-packed delta-of-deltas
 * (xor.c) cost ~5.4 bits per sample under a few ms of jitter, and bit-packed data leaves
 * nothing for zstd. Here every timestamp is one zigzag varint, the residual from a
 * predicted grid point, so random jitter of +-3 ms is one byte out of 7 values that zstd's
 * Huffman stage codes in under 3 bits.
 *
 * Prediction, identical in encoder and decoder: g = ts[0]; for i >= 1, pred = g + step,
 * r = ts[i] - pred (uint64 wrap-around), g = (|r| <= thr) ? pred : ts[i]. With thr > 0
 * the grid stays put under jitter (residual = the jitter itself); a residual beyond thr
 * (a missed scrape, a restart) re-anchors the grid on that timestamp. thr = 0 re-anchors
 * always, i.e. the residual is delta - step. The encoder picks step as the median of a
 * sample of deltas and thr by an estimate of the bits each choice costs. Layout:
 * docs/chunk-format.md.
 */
#include "storage/codec/codec_int.h"

static inline uint8_t *put_uvarint(uint8_t *p, uint64_t x) {
    while (x >= 0x80) { *p++ = (uint8_t)(x | 0x80); x >>= 7; }
    *p++ = (uint8_t)x;
    return p;
}

static inline int get_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) { *out = *p; *pp = p + 1; return 0; }
    return ax_uvarint_get(pp, end, out);
}

static inline uint64_t uabs(uint64_t r) { return (int64_t)r < 0 ? 0 - r : r; }

/* Median of up to 63 deltas spread over the chunk (n >= 2). */
static uint64_t median_step(const int64_t *ts, size_t n) {
    uint64_t d[63];
    size_t k = n - 1 < 63 ? n - 1 : 63;
    for (size_t j = 0; j < k; j++) {
        size_t i = 1 + j * (n - 1) / k;
        uint64_t x = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        size_t a = j;
        for (; a > 0 && d[a - 1] > x; a--) d[a] = d[a - 1]; /* insertion sort */
        d[a] = x;
    }
    return d[k / 2];
}

/* Estimated bits of the residuals for one (step, thr): the significant bits of each
 * zigzag residual, the stand-in for what zstd's entropy stage will make of the bytes. */
static size_t cost(const int64_t *ts, size_t n, uint64_t step, uint64_t thr) {
    uint64_t g = (uint64_t)ts[0];
    size_t bits = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t pred = g + step, r = (uint64_t)ts[i] - pred;
        g = uabs(r) <= thr ? pred : (uint64_t)ts[i];
        bits += (size_t)(64 - __builtin_clzll(ax_zigzag_enc((int64_t)r) | 1));
    }
    return bits;
}

uint8_t *codec__grid_write(uint8_t *p, const int64_t *ts, size_t n) {
    uint64_t step = 0, thr = 0;
    if (n >= 2) {
        step = median_step(ts, n);
        uint64_t t = step / 4; /* jitter is well under a quarter of the interval */
        if (t > 0 && cost(ts, n, step, t) < cost(ts, n, step, 0)) thr = t;
    }
    p = put_uvarint(p, step);
    p = put_uvarint(p, thr);
    uint64_t g = (uint64_t)ts[0];
    for (size_t i = 1; i < n; i++) {
        uint64_t pred = g + step, r = (uint64_t)ts[i] - pred;
        g = uabs(r) <= thr ? pred : (uint64_t)ts[i];
        p = put_uvarint(p, ax_zigzag_enc((int64_t)r));
    }
    return p;
}

int codec__grid_decode(const uint8_t *p, size_t len, int64_t mint, int64_t *ts, size_t n) {
    const uint8_t *end = p + len;
    uint64_t step, thr, z;
    if (get_uvarint(&p, end, &step) || get_uvarint(&p, end, &thr)) return AX_ECORRUPT;
    uint64_t g = (uint64_t)mint, prev = (uint64_t)mint;
    ts[0] = mint;
    for (size_t i = 1; i < n; i++) {
        if (get_uvarint(&p, end, &z)) return AX_ECORRUPT;
        uint64_t r = (uint64_t)ax_zigzag_dec(z), pred = g + step, cur = pred + r;
        if ((int64_t)cur <= (int64_t)prev) return AX_ECORRUPT;
        g = uabs(r) <= thr ? pred : cur;
        ts[i] = (int64_t)cur;
        prev = cur;
    }
    return p == end ? 0 : AX_ECORRUPT;
}
