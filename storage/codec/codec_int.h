/* storage/codec/codec_int.h: shared by the codec .c files, its unit tests and its bench only.
 *
 * Bit writer/reader, the timestamp and value stream encoders, and the knobs the tests and
 * the bench use to force one value encoding or turn zstd off. Byte layout of every stream:
 * docs/chunk-format.md.
 */
#ifndef AX_CODEC_INT_H
#define AX_CODEC_INT_H

#include "storage/codec/codec.h"

#include <string.h>

/* Header byte: high nibble = format version, low nibble = flags. */
#define CODEC__VERSION 1
#define CODEC__ENC_XOR 0       /* values: Gorilla XOR bitstream */
#define CODEC__ENC_DEC 1       /* values: decimal mantissa/exponent, delta or delta-of-delta */
#define CODEC__ENC_SPLIT 2     /* byte-aligned sections, each zstd'd on its own (the default) */
#define CODEC__ENC_MASK 0x03
#define CODEC__F_ZSTD 0x08     /* body is one zstd frame (encodings 0 and 1 only) */

/* Encoding 2: body = section(timestamps) section(values), section = tag:u8 len:uvarint
 * payload[len]; tag bit 7 = payload is one zstd frame, bits 0-6 = the stream kind. */
#define CODEC__SEC_ZSTD 0x80
#define CODEC__TS_GRID 0       /* timestamps: grid residual varints (grid.c) */
#define CODEC__V_XOR 0         /* values: the Gorilla XOR bitstream */
#define CODEC__V_DEC 1         /* values: the decimal varint stream */
#define CODEC__V_PLANES 2      /* values: decimal residuals as byte planes */

/* Upper bound of an uncompressed body for n samples: timestamps <= 69 bits, XOR values
 * <= 77 bits, decimal values <= 11 (exception) or 10 (varint) bytes per sample. */
#define CODEC__BODY_MAX(n) (32 * (size_t)(n) + 64)
/* Header: 1 flag byte, uvarint n, zigzag varint mint, uvarint (maxt - mint). */
#define CODEC__HDR_MAX (1 + 10 + 10 + 10)

/* Bodies shorter than this are stored raw: a zstd frame costs ~10 bytes of overhead and
 * several microseconds per call, and never pays off that small. */
#define CODEC__ZSTD_MIN 48

/* Encoder choices; the defaults (auto = encoding 2 with the smaller value stream, level 1,
 * zstd on) are what codec_chunk_encode uses. enc may force CODEC__ENC_XOR, _DEC, _SPLIT or
 * CODEC__AUTO_V1. */
#define CODEC__AUTO (-1)
#define CODEC__AUTO_V1 (-2)    /* encodings 0/1 by the old rule (decimal if it fits), for comparison */
#define CODEC__LEVEL 1
void codec__ctx_tune(codec_ctx *c, int enc, int zstd_level, int use_zstd);
/* Encoding 2's value stream: CODEC__AUTO (smallest of decimal varints and planes, XOR when
 * decimal does not fit) or one CODEC__V_* forced (XOR when decimal cannot be used). */
void codec__ctx_values(codec_ctx *c, int vkind);

/* ---- bit writer: MSB first into a buffer the caller sized with CODEC__BODY_MAX ---- */
typedef struct codec__bw {
    uint8_t *p;
    uint64_t acc;   /* low `nacc` bits are pending, oldest highest */
    unsigned nacc;  /* < 32 between calls */
} codec__bw;

/* Append the low nb bits of v, 1 <= nb <= 32. */
static inline void codec__bw_put(codec__bw *w, uint64_t v, unsigned nb) {
    w->acc = (w->acc << nb) | (v & ((1ull << nb) - 1));
    w->nacc += nb;
    if (w->nacc >= 32) {
        uint32_t b = (uint32_t)(w->acc >> (w->nacc - 32));
        w->p[0] = (uint8_t)(b >> 24); w->p[1] = (uint8_t)(b >> 16);
        w->p[2] = (uint8_t)(b >> 8); w->p[3] = (uint8_t)b;
        w->p += 4;
        w->nacc -= 32;
    }
}
/* Append nb bits, 1 <= nb <= 64. */
static inline void codec__bw_put_wide(codec__bw *w, uint64_t v, unsigned nb) {
    if (nb > 32) { codec__bw_put(w, v >> 32, nb - 32); nb = 32; }
    codec__bw_put(w, v, nb);
}
/* Pad with zero bits to a byte boundary; returns the end of the written bytes. */
static inline uint8_t *codec__bw_finish(codec__bw *w) {
    while (w->nacc >= 8) { *w->p++ = (uint8_t)(w->acc >> (w->nacc - 8)); w->nacc -= 8; }
    if (w->nacc) { *w->p++ = (uint8_t)(w->acc << (8 - w->nacc)); w->nacc = 0; }
    return w->p;
}

/* ---- bit reader: bounds-checked; reads past the end yield zero bits and are detected
 * afterwards by codec__br_overrun(), so loops need no per-bit checks ---- */
typedef struct codec__br {
    const uint8_t *b;
    size_t len;     /* bytes */
    size_t pos;     /* bits consumed */
} codec__br;

static inline uint64_t codec__br_word(const codec__br *r) {
    size_t i = r->pos >> 3;
    uint64_t v = 0;
    if (i + 8 <= r->len) {
        memcpy(&v, r->b + i, 8);
        return __builtin_bswap64(v);
    }
    for (int k = 0; k < 8; k++) v = (v << 8) | (i + (size_t)k < r->len ? r->b[i + k] : 0);
    return v;
}
/* Read nb bits, 1 <= nb <= 57. */
static inline uint64_t codec__br_get(codec__br *r, unsigned nb) {
    uint64_t v = (codec__br_word(r) << (r->pos & 7)) >> (64 - nb);
    r->pos += nb;
    return v;
}
static inline uint64_t codec__br_get_wide(codec__br *r, unsigned nb) {
    if (nb <= 57) return codec__br_get(r, nb);
    uint64_t hi = codec__br_get(r, nb - 32);
    return (hi << 32) | codec__br_get(r, 32);
}
/* Count leading one bits, at most max (consumes them and the terminating zero if any). */
static inline unsigned codec__br_ones(codec__br *r, unsigned max) {
    uint64_t w = ~(codec__br_word(r) << (r->pos & 7));
    unsigned k = w ? (unsigned)__builtin_clzll(w) : 64;
    if (k >= max) { r->pos += max; return max; }
    r->pos += k + 1;
    return k;
}
static inline int codec__br_overrun(const codec__br *r) { return r->pos > 8 * r->len; }

/* ---- streams (ts.c, xor.c, decimal.c) ---- */
/* Timestamps as bucketed delta-of-delta bits; ts[0] is in the header, not the stream. */
void codec__ts_encode(codec__bw *w, const int64_t *ts, size_t n);
/* Decode n timestamps given ts[0] = mint; checks strictly increasing. 0 or AX_ECORRUPT. */
int codec__ts_decode(codec__br *r, int64_t mint, int64_t *ts, size_t n);

void codec__xor_encode(codec__bw *w, const double *v, size_t n);
int codec__xor_decode(codec__br *r, double *v, size_t n);

/* Decimal analysis: mantissas into m[0..n) (scratch), exceptions flagged in exc[0..n).
 * Returns the number of exceptions, or n + 1 when the chunk should not use decimal. */
size_t codec__dec_analyze(const double *v, size_t n, int64_t *m, uint8_t *exc, int *exp_out);
/* Write the decimal stream for an analysis; returns the end pointer. */
uint8_t *codec__dec_write(uint8_t *p, const double *v, size_t n, const int64_t *m,
                          const uint8_t *exc, size_t nexc, int exp);
/* Decode the decimal stream p[0..len) (must be consumed exactly). 0 or AX_ECORRUPT. */
int codec__dec_decode(const uint8_t *p, size_t len, double *v, size_t n);
/* The same residuals as fixed-width byte planes (width:u8, then byte b of every residual
 * at plane b); the end pointer / 0 or AX_ECORRUPT. */
uint8_t *codec__dec_write_planes(uint8_t *p, const double *v, size_t n, const int64_t *m,
                                 const uint8_t *exc, size_t nexc, int exp);
int codec__dec_decode_planes(const uint8_t *p, size_t len, double *v, size_t n);

/* Grid timestamps (grid.c): ts[0] is in the header. Write returns the end pointer (at most
 * 10 * n + 30 bytes); decode must consume p[0..len) exactly and checks strictly increasing
 * timestamps. 0 or AX_ECORRUPT. */
uint8_t *codec__grid_write(uint8_t *p, const int64_t *ts, size_t n);
int codec__grid_decode(const uint8_t *p, size_t len, int64_t mint, int64_t *ts, size_t n);

#endif
