/* storage/codec/codec.h: chunk codec, arrays of (timestamp, value) <-> bytes.
 *
 * No LMDB, no series ids, no files: plain arrays in, bytes out (appended to the caller's
 * ax_buf), and back. Format, choices and measurements: docs/chunk-format.md.
 *
 * A chunk holds 1..CODEC_MAX_SAMPLES samples with strictly increasing int64 timestamps
 * (ms) and float64 values. It round-trips bit-exactly: every NaN payload (the Prometheus
 * stale marker 0x7ff0000000000002 included), +-Inf, -0 and denormals.
 * The first bytes (codec_chunk_peek) are uncompressed: sample count, min and max time,
 * so readers can skip chunks without decompressing.
 * Threads: a codec_ctx belongs to one thread; functions with a NULL ctx make a temporary.
 */
#ifndef AX_CODEC_H
#define AX_CODEC_H

#include "core/core.h"

#define CODEC_MAX_SAMPLES 65536

typedef struct codec_ctx codec_ctx;

/* Reusable scratch (zstd contexts and buffers) for one thread. NULL on OOM. */
codec_ctx *codec_ctx_new(void);
void codec_ctx_free(codec_ctx *c); /* accepts NULL */

/* Encode n samples (1 <= n <= CODEC_MAX_SAMPLES, ts strictly increasing) and append the
 * chunk to dst. The value encoding (Gorilla XOR or decimal) and zstd are chosen per chunk,
 * whichever is smallest. Returns 0, AX_EINVAL (n out of range, NULL arrays, or ts not
 * strictly increasing; dst unchanged), AX_ETOOBIG (dst's ceiling; dst emptied, as
 * ax_buf_reserve does), AX_ENOMEM (dst unchanged). */
int codec_chunk_encode(codec_ctx *c, ax_buf *dst, const int64_t *ts, const double *v, size_t n);

/* Header of a chunk without decoding it (a few varints, no decompression). OUT: *n_out
 * samples, *mint_out, *maxt_out (each may be NULL). Returns 0 or AX_ECORRUPT. A chunk that
 * peeks fine can still fail codec_chunk_decode. */
int codec_chunk_peek(const uint8_t *p, size_t len, size_t *n_out, int64_t *mint_out,
                     int64_t *maxt_out);

/* Decode a whole chunk into ts[0..cap), v[0..cap). OUT: *n_out. Returns 0, AX_ECORRUPT
 * (any malformed byte: never reads past p+len, never asserts; decoded timestamps must be
 * strictly increasing and match the header), AX_ETOOBIG (cap < n, checked before any
 * work), AX_ENOMEM. Memory: at most 32 * n + 64 bytes of scratch in c, n capped at
 * CODEC_MAX_SAMPLES before the zstd frame is read. On error ts[] and v[] may hold partial
 * output (their contents are unspecified); *n_out is written only on success. */
int codec_chunk_decode(codec_ctx *c, const uint8_t *p, size_t len, int64_t *ts, double *v,
                       size_t cap, size_t *n_out);

/* ---- rollup blocks (engine/downsample.c, docs/storage.md "rollups") ----
 * A block holds n >= 1 rollup points of one series at one step, t strictly increasing.
 * Bytes: u8 version (1) | uvarint n | zigzag varint mint (t[0]) | uvarint maxt - mint |
 * uvarint step | 12 x (uvarint len | codec chunk). Column chunks: 0 has ts = t and values
 * t - first_t; 1..8 first, last, min, max, sum, sum_sq, cum_first, cum_last; 9..11 count,
 * resets, changes; columns 1..11 use ts = 0..n-1 (which costs next to nothing), so each
 * column gets its own value encoding and zstd, and round-trips bit-exactly. */
typedef struct codec_rollup_cols {
    int64_t *t, *first_t;
    double *first, *last, *min, *max, *sum, *sum_sq, *cum_first, *cum_last;
    uint32_t *count, *resets, *changes;
} codec_rollup_cols;

/* Append a block of points c[off .. off+n) (1 <= n <= CODEC_MAX_SAMPLES, t strictly
 * increasing, first_t <= t) at step (> 0) to dst. Returns 0, AX_EINVAL (dst unchanged),
 * AX_ETOOBIG, AX_ENOMEM. */
int codec_rollup_encode(codec_ctx *c, ax_buf *dst, const codec_rollup_cols *cols, size_t off,
                        size_t n, int64_t step);
/* The uncompressed header. OUT: *n_out, *mint_out, *maxt_out, *step_out (each may be NULL).
 * Returns 0 or AX_ECORRUPT. */
int codec_rollup_peek(const uint8_t *p, size_t len, size_t *n_out, int64_t *mint_out,
                      int64_t *maxt_out, int64_t *step_out);
/* Decode a block into out's arrays at [off, off + n) (each array has room for off + cap).
 * OUT: *n_out. Returns 0, AX_ECORRUPT (never reads past p+len), AX_ETOOBIG (cap < n),
 * AX_ENOMEM. */
int codec_rollup_decode(codec_ctx *c, const uint8_t *p, size_t len, codec_rollup_cols *out,
                        size_t off, size_t cap, size_t *n_out);

#endif
