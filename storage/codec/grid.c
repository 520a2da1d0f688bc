/* storage/codec/grid.c: timestamps as byte-aligned residuals from a regular grid (encoding 2).
 *
 * Scrapes are periodic: ts[i] is close to ts[0] + i * step. Bit-packed delta-of-deltas
 * (xor.c) cost ~5.4 bits per sample under a few ms of jitter, and bit-packed data leaves
 * nothing for zstd. Here every timestamp is one zigzag varint, the residual from a
 * predicted grid point, so random jitter of +-3 ms is one byte out of 7 values that zstd's
 * Huffman stage codes in under 3 bits.
 *
 * Prediction, identical in encoder and decoder: g = ts[0] + off; for i >= 1, pred = g + step,
 * r = ts[i] - pred (uint64 wrap-around), g = (|r| <= thr) ? pred : ts[i]. With thr > 0
 * the grid stays put under jitter (residual = the jitter itself); a residual beyond thr
 * (a missed scrape, a restart) re-anchors the grid on that timestamp. thr = 0 re-anchors
 * always, i.e. the residual is delta - step. off centres the grid on the samples rather
 * than on ts[0], whose own jitter would otherwise shift every residual. The encoder picks
 * step (median delta, or span / intervals), thr (0 or step / 4) and off (median offset)
 * by an estimate of the bits each choice costs. Layout:
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

/* Median of up to 63 deltas spread over the chunk (n >= 2), or with step != 0, of the
 * offsets ts[i] - ts[0] - i * step (as int64). */
static uint64_t median_sample(const int64_t *ts, size_t n, uint64_t step) {
    uint64_t d[63];
    size_t k = n - 1 < 63 ? n - 1 : 63;
    for (size_t j = 0; j < k; j++) {
        size_t i = 1 + j * (n - 1) / k;
        uint64_t x = step ? (uint64_t)ts[i] - (uint64_t)ts[0] - (uint64_t)i * step
                          : (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        size_t a = j;
        /* insertion sort; offsets compare as signed */
        while (a > 0 && (step ? (int64_t)d[a - 1] > (int64_t)x : d[a - 1] > x)) {
            d[a] = d[a - 1];
            a--;
        }
        d[a] = x;
    }
    return d[k / 2];
}

/* Estimated bits of the residuals for one (step, thr): the significant bits of each
 * zigzag residual, the stand-in for what zstd's entropy stage will make of the bytes. */
static size_t cost(const int64_t *ts, size_t n, uint64_t step, uint64_t thr, uint64_t off) {
    uint64_t g = (uint64_t)ts[0] + off;
    size_t bits = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t pred = g + step, r = (uint64_t)ts[i] - pred;
        g = uabs(r) <= thr ? pred : (uint64_t)ts[i];
        bits += (size_t)(64 - __builtin_clzll(ax_zigzag_enc((int64_t)r) | 1));
    }
    return bits;
}

/* a / b rounded to nearest, without overflow (b >= 1) */
static inline uint64_t div_round(uint64_t a, uint64_t b) {
    uint64_t q = a / b;
    return a % b > (b - 1) / 2 ? q + 1 : q;
}

uint8_t *codec__grid_write(uint8_t *p, const int64_t *ts, size_t n) {
    uint64_t step = 0, thr = 0, off = 0;
    if (n >= 2) {
        /* The median delta is off by a ms or so under jitter, and a grid that drifts by 1
         * per sample is useless: refine it to span / (number of intervals at that step),
         * which is the true period when scrapes are periodic, gaps included. */
        uint64_t s0 = median_sample(ts, n, 0), span = (uint64_t)ts[n - 1] - (uint64_t)ts[0];
        uint64_t s1 = div_round(span, div_round(span, s0) ? div_round(span, s0) : 1);
        size_t best = cost(ts, n, s0, 0, 0);
        step = s0;
        uint64_t cand[2] = {s0, s1};
        for (int i = 0; i < 2; i++) {
            uint64_t t = cand[i] / 4; /* jitter is well under a quarter of the interval */
            if (!t) continue;
            /* centre the grid on the samples, not on ts[0]'s own jitter */
            uint64_t o = median_sample(ts, n, cand[i]);
            if (uabs(o) > t) o = 0;
            size_t c1 = cost(ts, n, cand[i], t, o);
            if (c1 < best) { best = c1; step = cand[i]; thr = t; off = o; }
        }
    }
    p = put_uvarint(p, step);
    p = put_uvarint(p, thr);
    p = put_uvarint(p, ax_zigzag_enc((int64_t)off));
    uint64_t g = (uint64_t)ts[0] + off;
    for (size_t i = 1; i < n; i++) {
        uint64_t pred = g + step, r = (uint64_t)ts[i] - pred;
        g = uabs(r) <= thr ? pred : (uint64_t)ts[i];
        p = put_uvarint(p, ax_zigzag_enc((int64_t)r));
    }
    return p;
}

int codec__grid_decode(const uint8_t *p, size_t len, int64_t mint, int64_t *ts, size_t n) {
    const uint8_t *end = p + len;
    uint64_t step, thr, off, z;
    if (get_uvarint(&p, end, &step) || get_uvarint(&p, end, &thr) || get_uvarint(&p, end, &off))
        return AX_ECORRUPT;
    uint64_t g = (uint64_t)mint + (uint64_t)ax_zigzag_dec(off), prev = (uint64_t)mint;
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
