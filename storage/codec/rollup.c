/* storage/codec/rollup.c: blocks of rollup points (downsampled data) <-> bytes.
 *
 * A rollup point has 13 numbers (engine/engine.h, eng_rollups); a block stores each of
 * them as one column, and each column as an ordinary codec chunk (codec.c): column 0 has
 * the points' times as its timestamps and t - first_t as values, the other columns use the
 * timestamps 0, 1, ..., n-1, whose delta-of-delta stream is all zeros and compresses to a
 * few bytes. So every column gets the cheaper of decimal and XOR, and zstd when it helps:
 * a counter's cum_* and a constant count column cost well under a byte per point. Integer
 * columns go through as doubles (exact: they are < 2^32). The header repeats n, mint, maxt
 * and the step uncompressed so that storage can index blocks without decoding them.
 * Layout: codec.h, docs/storage.md.
 */
#include "storage/codec/codec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VERSION 1
#define NCOLS 12

int codec_rollup_peek(const uint8_t *p, size_t len, size_t *n_out, int64_t *mint_out,
                      int64_t *maxt_out, int64_t *step_out) {
    const uint8_t *end = p + len;
    uint64_t n, zmint, span, step;
    if (!p || len < 1 || p[0] != VERSION) return AX_ECORRUPT;
    p++;
    if (ax_uvarint_get(&p, end, &n) || ax_uvarint_get(&p, end, &zmint) ||
        ax_uvarint_get(&p, end, &span) || ax_uvarint_get(&p, end, &step))
        return AX_ECORRUPT;
    int64_t mint = ax_zigzag_dec(zmint);
    if (n == 0 || n > CODEC_MAX_SAMPLES || step == 0 || step > INT64_MAX / 2 ||
        span > (uint64_t)INT64_MAX - (mint < 0 ? 0 : (uint64_t)mint) || (n == 1 && span) ||
        (n > 1 && span < n - 1) || p == end)
        return AX_ECORRUPT;
    if (n_out) *n_out = (size_t)n;
    if (mint_out) *mint_out = mint;
    if (maxt_out) *maxt_out = (int64_t)((uint64_t)mint + span);
    if (step_out) *step_out = (int64_t)step;
    return 0;
}

static uint64_t bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}
static double from_bits(uint64_t b) {
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}
/* Predictions that the encoder XORs out and the decoder XORs back (bit-exact both ways,
 * as long as both compute the same prediction: plain IEEE adds, and a NaN prediction,
 * whose payload may differ between CPUs, is replaced by 0). A correct prediction leaves
 * a column of zeros, which costs nothing: min is predicted by first, max by last (true for
 * counters), cum_first by the previous point's cum_last carried over with the counter
 * correction between them, cum_last by cum_first's offset applied to last. */
static uint64_t pred(double p) { return isnan(p) ? 0 : bits(p); }
static double pred_cum_first(const double *first, const double *last, const double *cum_last,
                             size_t i) {
    if (i == 0) return first[0];
    double off = cum_last[i - 1] - last[i - 1];
    if (first[i] < last[i - 1]) off += last[i - 1];
    return first[i] + off;
}
static double pred_cum_last(double first, double last, double cum_first) {
    return last + (cum_first - first);
}

/* header length: re-parse to find where the columns start */
static size_t header_len(const uint8_t *p, size_t len) {
    const uint8_t *q = p + 1, *end = p + len;
    uint64_t x;
    for (int i = 0; i < 4; i++)
        if (ax_uvarint_get(&q, end, &x)) return 0;
    return (size_t)(q - p);
}

int codec_rollup_encode(codec_ctx *c, ax_buf *dst, const codec_rollup_cols *cols, size_t off,
                        size_t n, int64_t step) {
    if (!dst || !cols || n == 0 || n > CODEC_MAX_SAMPLES || step <= 0) return AX_EINVAL;
    const int64_t *t = cols->t + off;
    for (size_t i = 0; i < n; i++)
        if ((i && t[i] <= t[i - 1]) || cols->first_t[off + i] > t[i]) return AX_EINVAL;
    int64_t *idx = malloc(n * sizeof *idx);
    double *v = malloc(n * sizeof *v);
    ax_buf col;
    ax_buf_init(&col, (size_t)64 << 20);
    size_t start = dst->len;
    int rc = idx && v ? 0 : AX_ENOMEM;
    if (!rc) {
        uint64_t hdr[4] = {n, ax_zigzag_enc(t[0]), (uint64_t)(t[n - 1] - t[0]), (uint64_t)step};
        rc = ax_buf_put_u8(dst, VERSION);
        for (int k = 0; k < 4 && !rc; k++) rc = ax_buf_put_uvarint(dst, hdr[k]);
    }
    for (size_t i = 0; i < n && !rc; i++) idx[i] = (int64_t)i;
    const double *dcols[8] = {cols->first, cols->last, cols->min, cols->max,
                              cols->sum, cols->sum_sq, cols->cum_first, cols->cum_last};
    const uint32_t *icols[3] = {cols->count, cols->resets, cols->changes};
    for (int k = 0; k < NCOLS && !rc; k++) {
        const int64_t *ts = k == 0 ? t : idx;
        const double *vals = v;
        if (k == 0)
            for (size_t i = 0; i < n; i++) v[i] = (double)(t[i] - cols->first_t[off + i]);
        else if (k == 3 || k == 4) /* min ^ first, max ^ last */
            for (size_t i = 0; i < n; i++)
                v[i] = from_bits(bits(dcols[k - 1][off + i]) ^ pred(dcols[k - 3][off + i]));
        else if (k == 7)
            for (size_t i = 0; i < n; i++)
                v[i] = from_bits(bits(cols->cum_first[off + i]) ^
                                 pred(pred_cum_first(cols->first + off, cols->last + off,
                                                     cols->cum_last + off, i)));
        else if (k == 8)
            for (size_t i = 0; i < n; i++)
                v[i] = from_bits(bits(cols->cum_last[off + i]) ^
                                 pred(pred_cum_last(cols->first[off + i], cols->last[off + i],
                                                    cols->cum_first[off + i])));
        else if (k <= 8)
            vals = dcols[k - 1] + off;
        else
            for (size_t i = 0; i < n; i++) v[i] = (double)icols[k - 9][off + i];
        ax_buf_reset(&col);
        rc = codec_chunk_encode(c, &col, ts, vals, n);
        if (!rc) rc = ax_buf_put_uvarint(dst, col.len);
        if (!rc) rc = ax_buf_append(dst, col.data, col.len);
    }
    if (rc && rc != AX_ETOOBIG) dst->len = start;
    ax_buf_free(&col);
    free(idx);
    free(v);
    return rc;
}

int codec_rollup_decode(codec_ctx *c, const uint8_t *p, size_t len, codec_rollup_cols *out,
                        size_t off, size_t cap, size_t *n_out) {
    size_t n;
    int64_t mint, maxt, step;
    int rc = codec_rollup_peek(p, len, &n, &mint, &maxt, &step);
    if (rc) return rc;
    if (n > cap) return AX_ETOOBIG;
    size_t h = header_len(p, len);
    if (!h) return AX_ECORRUPT;
    const uint8_t *q = p + h, *end = p + len;
    int64_t *ts = malloc(n * sizeof *ts);
    double *v = malloc(n * sizeof *v);
    if (!ts || !v) rc = AX_ENOMEM;
    double *dcols[8] = {out->first, out->last, out->min, out->max,
                        out->sum, out->sum_sq, out->cum_first, out->cum_last};
    uint32_t *icols[3] = {out->count, out->resets, out->changes};
    for (int k = 0; k < NCOLS && !rc; k++) {
        uint64_t clen;
        size_t got = 0;
        if (ax_uvarint_get(&q, end, &clen) || clen > (uint64_t)(end - q)) {
            rc = AX_ECORRUPT;
            break;
        }
        double *vals = k >= 1 && k <= 8 ? dcols[k - 1] + off : v;
        rc = codec_chunk_decode(c, q, (size_t)clen, k == 0 ? out->t + off : ts, vals, n, &got);
        if (rc == AX_ETOOBIG) rc = AX_ECORRUPT; /* more points than the header says */
        if (!rc && got != n) rc = AX_ECORRUPT;
        q += clen;
        if (rc) break;
        if (k == 0) {
            if (out->t[off] != mint || out->t[off + n - 1] != maxt) rc = AX_ECORRUPT;
            for (size_t i = 0; i < n && !rc; i++) {
                if (!(v[i] >= 0 && v[i] <= 9.0e15) || v[i] != floor(v[i])) rc = AX_ECORRUPT;
                else out->first_t[off + i] = out->t[off + i] - (int64_t)v[i];
            }
        } else if (k > 8) {
            for (size_t i = 0; i < n && !rc; i++) {
                if (!(v[i] >= 0 && v[i] <= 4294967295.0) || v[i] != floor(v[i])) rc = AX_ECORRUPT;
                else icols[k - 9][off + i] = (uint32_t)v[i];
            }
        }
    }
    if (!rc && q != end) rc = AX_ECORRUPT;
    if (!rc) { /* undo the predictions, in the encoder's order */
        double *f = out->first + off, *l = out->last + off, *mn = out->min + off,
               *mx = out->max + off, *cf = out->cum_first + off, *cl = out->cum_last + off;
        for (size_t i = 0; i < n; i++) {
            mn[i] = from_bits(bits(mn[i]) ^ pred(f[i]));
            mx[i] = from_bits(bits(mx[i]) ^ pred(l[i]));
            cf[i] = from_bits(bits(cf[i]) ^ pred(pred_cum_first(f, l, cl, i)));
            cl[i] = from_bits(bits(cl[i]) ^ pred(pred_cum_last(f[i], l[i], cf[i])));
        }
    }
    free(ts);
    free(v);
    if (!rc) *n_out = n;
    return rc;
}
