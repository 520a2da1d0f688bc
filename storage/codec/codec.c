/* storage/codec/codec.c: chunk header, choice of value encoding, zstd, and the public API.
 *
 * A chunk is an uncompressed header (flags, n, mint, maxt - mint) and a body: the
 * timestamp bitstream, padded to a byte, then the value stream in one of two encodings
 * (Gorilla XOR bits, or decimal mantissas). The encoder uses decimal when at most a
 * quarter of the values are exceptions, XOR otherwise, and runs zstd over the body when
 * it is at least CODEC__ZSTD_MIN bytes, keeping the compressed form only if smaller; the
 * flag byte records both choices. The decoder trusts nothing: header fields are range-checked before any
 * allocation, the zstd frame's declared size is checked against the most a body of n
 * samples can take, and every stream must end exactly at its end. Bytes:
 * docs/chunk-format.md.
 */
#include "storage/codec/codec_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>

struct codec_ctx {
    ZSTD_CCtx *cc;
    ZSTD_DCtx *dc;
    uint8_t *buf;   /* scratch, see scratch() */
    size_t cap;
    int enc;        /* CODEC__AUTO (= encoding 2), CODEC__AUTO_V1 or a CODEC__ENC_* */
    int vkind;      /* encoding 2's value stream: CODEC__AUTO or a CODEC__V_* */
    int level;      /* zstd level */
    int use_zstd;
    ax_buf alt[2];  /* small chunks: both formats are built here, the smaller is kept */
};

codec_ctx *codec_ctx_new(void) {
    codec_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cc = ZSTD_createCCtx();
    c->dc = ZSTD_createDCtx();
    if (!c->cc || !c->dc) {
        codec_ctx_free(c);
        return NULL;
    }
    /* single-shot decompression writes into our flat buffer; still refuse huge windows */
    ZSTD_DCtx_setParameter(c->dc, ZSTD_d_windowLogMax, 23);
    ax_buf_init(&c->alt[0], 64u << 20);
    ax_buf_init(&c->alt[1], 64u << 20);
    c->enc = CODEC__AUTO;
    c->vkind = CODEC__AUTO;
    c->level = CODEC__LEVEL;
    c->use_zstd = 1;
    return c;
}

void codec_ctx_free(codec_ctx *c) {
    if (!c) return;
    ZSTD_freeCCtx(c->cc);
    ZSTD_freeDCtx(c->dc);
    ax_buf_free(&c->alt[0]);
    ax_buf_free(&c->alt[1]);
    free(c->buf);
    free(c);
}

void codec__ctx_tune(codec_ctx *c, int enc, int zstd_level, int use_zstd) {
    c->enc = enc;
    c->level = zstd_level;
    c->use_zstd = use_zstd;
}

void codec__ctx_values(codec_ctx *c, int vkind) { c->vkind = vkind; }

static int scratch(codec_ctx *c, size_t need) {
    if (need <= c->cap) return 0;
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < need) cap *= 2;
    uint8_t *p = malloc(cap);
    if (!p) return AX_ENOMEM;
    free(c->buf);
    c->buf = p;
    c->cap = cap;
    return 0;
}

/* ---- header ---- */

typedef struct hdr {
    unsigned flags;
    size_t n;
    int64_t mint, maxt;
    size_t len; /* header bytes */
} hdr;

static int hdr_parse(const uint8_t *p, size_t len, hdr *h) {
    const uint8_t *q = p, *end = p + len;
    uint64_t n, zmint, span;
    if (!p || len < 1 || (p[0] >> 4) != CODEC__VERSION) return AX_ECORRUPT;
    h->flags = p[0] & 0x0f;
    if (h->flags & ~(unsigned)(CODEC__ENC_MASK | CODEC__F_ZSTD)) return AX_ECORRUPT;
    unsigned enc = h->flags & CODEC__ENC_MASK;
    if (enc > CODEC__ENC_SPLIT) return AX_ECORRUPT;
    if (enc == CODEC__ENC_SPLIT && (h->flags & CODEC__F_ZSTD)) return AX_ECORRUPT;
    q++;
    if (ax_uvarint_get(&q, end, &n) || n < 1 || n > CODEC_MAX_SAMPLES) return AX_ECORRUPT;
    if (ax_uvarint_get(&q, end, &zmint) || ax_uvarint_get(&q, end, &span)) return AX_ECORRUPT;
    int64_t mint = ax_zigzag_dec(zmint);
    /* n timestamps strictly increasing need a span of at least n - 1, and maxt fits int64 */
    if (n == 1 ? span != 0 : span < n - 1) return AX_ECORRUPT;
    if (span > (uint64_t)INT64_MAX - (uint64_t)mint) return AX_ECORRUPT;
    h->n = (size_t)n;
    h->mint = mint;
    h->maxt = (int64_t)((uint64_t)mint + span);
    h->len = (size_t)(q - p);
    return 0;
}

int codec_chunk_peek(const uint8_t *p, size_t len, size_t *n_out, int64_t *mint_out,
                     int64_t *maxt_out) {
    hdr h;
    int rc = hdr_parse(p, len, &h);
    if (rc) return rc;
    if (h.len == len) return AX_ECORRUPT; /* a chunk always has a body */
    if (n_out) *n_out = h.n;
    if (mint_out) *mint_out = h.mint;
    if (maxt_out) *maxt_out = h.maxt;
    return 0;
}

/* ---- encode ---- */

/* Compress body[0..len) into z (cap zcap) if that is smaller, with zstd's shortest match at
 * min_match (0: the level's default). OUT: *out, *out_len: the chosen representation;
 * returns the flag to record. */
static unsigned squeeze_mm(codec_ctx *c, const uint8_t *body, size_t len, uint8_t *z,
                           size_t zcap, int min_match, const uint8_t **out, size_t *out_len) {
    *out = body;
    *out_len = len;
    if (!c->use_zstd || len < CODEC__ZSTD_MIN) return 0;
    ZSTD_CCtx_reset(c->cc, ZSTD_reset_parameters);
    ZSTD_CCtx_setParameter(c->cc, ZSTD_c_compressionLevel, c->level);
    ZSTD_CCtx_setParameter(c->cc, ZSTD_c_minMatch, min_match);
    size_t zl = ZSTD_compress2(c->cc, z, zcap, body, len);
    if (ZSTD_isError(zl) || zl >= len) return 0;
    *out = z;
    *out_len = zl;
    return CODEC__F_ZSTD;
}

static unsigned squeeze(codec_ctx *c, const uint8_t *body, size_t len, uint8_t *z, size_t zcap,
                        const uint8_t **out, size_t *out_len) {
    return squeeze_mm(c, body, len, z, zcap, 0, out, out_len);
}

/* Jitter bytes are near-random over a few values: zstd's short matches on them cost more
 * than the Huffman-coded literals they replace (0.45 vs 0.38 bytes/sample at 5760). */
#define TS_MIN_MATCH 7

/* Encoding 2: header, then a timestamp section and a value section, each compressed on its
 * own (zstd sees homogeneous bytes: the literal statistics of jitter bytes and of mantissa
 * bytes differ) and kept raw when that is smaller. Decimal values are written both as
 * varints and as byte planes, and the smaller section wins. */
static int encode_split(codec_ctx *c, ax_buf *dst, const int64_t *ts, const double *v,
                        size_t n, const uint8_t *h, size_t hlen) {
    size_t bmax = CODEC__BODY_MAX(n), zmax = ZSTD_compressBound(bmax);
    /* scratch: [ts raw | vals raw A | vals raw B | zstd ts | zstd A | zstd B | m | k] */
    size_t off_za = 3 * bmax, off_m = (off_za + 3 * zmax + 7) & ~(size_t)7;
    size_t off_k = off_m + 8 * n;
    int rc = scratch(c, off_k + n);
    if (rc) return rc;
    uint8_t *bt = c->buf, *ba = c->buf + bmax, *bb = c->buf + 2 * bmax;
    uint8_t *zt = c->buf + off_za, *za = zt + zmax, *zb = za + zmax;
    int64_t *m = (int64_t *)(void *)(c->buf + off_m);
    uint8_t *k = c->buf + off_k;

    const uint8_t *ts_out, *v_out = NULL;
    size_t ts_len, v_len = SIZE_MAX;
    unsigned ts_tag = CODEC__TS_GRID, v_tag = 0;
    size_t tlen = (size_t)(codec__grid_write(bt, ts, n) - bt);
    if (squeeze_mm(c, bt, tlen, zt, zmax, TS_MIN_MATCH, &ts_out, &ts_len)) ts_tag |= CODEC__SEC_ZSTD;

    int e = 0;
    size_t nexc = c->vkind == CODEC__V_XOR ? n + 1 : codec__dec_analyze(v, n, m, k, &e);
    if (nexc <= n) {
        if (c->vkind != CODEC__V_PLANES) {
            size_t la = (size_t)(codec__dec_write(ba, v, n, m, k, nexc, e) - ba);
            v_tag = CODEC__V_DEC | (squeeze_mm(c, ba, la, za, zmax, 0, &v_out, &v_len) ? CODEC__SEC_ZSTD : 0);
        }
        if (c->vkind != CODEC__V_DEC) {
            const uint8_t *o;
            size_t lb = (size_t)(codec__dec_write_planes(bb, v, n, m, k, nexc, e) - bb), ol;
            unsigned z = squeeze_mm(c, bb, lb, zb, zmax, 0, &o, &ol) ? CODEC__SEC_ZSTD : 0;
            if (ol < v_len) { v_out = o; v_len = ol; v_tag = CODEC__V_PLANES | z; }
        }
    } else {
        codec__bw w = {ba, 0, 0};
        codec__xor_encode(&w, v, n);
        size_t la = (size_t)(codec__bw_finish(&w) - ba);
        v_tag = CODEC__V_XOR | (squeeze_mm(c, ba, la, za, zmax, 0, &v_out, &v_len) ? CODEC__SEC_ZSTD : 0);
    }

    uint8_t sh[2][1 + 10];
    size_t shl[2];
    sh[0][0] = (uint8_t)ts_tag;
    shl[0] = 1 + ax_uvarint_put(sh[0] + 1, ts_len);
    sh[1][0] = (uint8_t)v_tag;
    shl[1] = 1 + ax_uvarint_put(sh[1] + 1, v_len);
    size_t total = hlen + shl[0] + ts_len + shl[1] + v_len;
    rc = ax_buf_reserve(dst, total);
    if (rc) return rc;
    uint8_t *o = dst->data + dst->len;
    memcpy(o, h, hlen); o += hlen;
    memcpy(o, sh[0], shl[0]); o += shl[0];
    memcpy(o, ts_out, ts_len); o += ts_len;
    memcpy(o, sh[1], shl[1]); o += shl[1];
    memcpy(o, v_out, v_len);
    dst->len += total;
    return 0;
}

static int encode_one(codec_ctx *c, ax_buf *dst, const int64_t *ts, const double *v, size_t n,
                      int enc);

/* Up to this many samples, AUTO also builds encoding 0/1 and keeps the smaller chunk: a
 * section's zstd frame pays off only from ~48 bytes, and raw grid residuals cost a byte per
 * sample where the bit-packed delta-of-deltas take ~5 bits. Above it encoding 2 wins on
 * every data set we measured (docs/chunk-format.md) and the second encode is not worth it. */
#define SMALL_MAX 1024

static int encode(codec_ctx *c, ax_buf *dst, const int64_t *ts, const double *v, size_t n) {
    if (!dst || !ts || !v || n < 1 || n > CODEC_MAX_SAMPLES) return AX_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1]) return AX_EINVAL;
    if (c->enc != CODEC__AUTO || n > SMALL_MAX) return encode_one(c, dst, ts, v, n, c->enc);
    ax_buf_reset(&c->alt[0]);
    ax_buf_reset(&c->alt[1]);
    int rc = encode_one(c, &c->alt[0], ts, v, n, CODEC__ENC_SPLIT);
    if (!rc) rc = encode_one(c, &c->alt[1], ts, v, n, CODEC__AUTO_V1);
    if (rc) return rc;
    ax_buf *best = c->alt[1].len < c->alt[0].len ? &c->alt[1] : &c->alt[0];
    return ax_buf_append(dst, best->data, best->len);
}

static int encode_one(codec_ctx *c, ax_buf *dst, const int64_t *ts, const double *v, size_t n,
                      int enc) {
    int rc;

    uint8_t h[CODEC__HDR_MAX], *hp = h + 1;
    hp += ax_uvarint_put(hp, n);
    hp += ax_uvarint_put(hp, ax_zigzag_enc(ts[0]));
    hp += ax_uvarint_put(hp, (uint64_t)ts[n - 1] - (uint64_t)ts[0]);
    if (enc == CODEC__AUTO || enc == CODEC__ENC_SPLIT) {
        h[0] = (uint8_t)(CODEC__VERSION << 4 | CODEC__ENC_SPLIT);
        return encode_split(c, dst, ts, v, n, h, (size_t)(hp - h));
    }

    /* encodings 0 and 1: one body, one zstd frame */
    size_t bmax = CODEC__BODY_MAX(n), zmax = ZSTD_compressBound(bmax);
    /* scratch: [xor body | dec body | zstd out x2 | mantissas | exponents] */
    size_t off_d = bmax, off_z1 = 2 * bmax, off_z2 = off_z1 + zmax, off_m = off_z2 + zmax;
    off_m = (off_m + 7) & ~(size_t)7;
    size_t off_k = off_m + 8 * n;
    rc = scratch(c, off_k + n);
    if (rc) return rc;
    uint8_t *bx = c->buf, *bd = c->buf + off_d;
    int64_t *m = (int64_t *)(void *)(c->buf + off_m);
    uint8_t *k = c->buf + off_k;

    codec__bw w = {bx, 0, 0};
    codec__ts_encode(&w, ts, n);
    size_t tslen = (size_t)(codec__bw_finish(&w) - bx);

    const uint8_t *best = NULL;
    size_t best_len = SIZE_MAX;
    unsigned best_flags = 0;

    /* Decimal when the values allow it (few exceptions), else XOR; no trying both under
     * zstd: one compression per chunk is most of the encode cost, and trying both saves
     * about 1% (docs/chunk-format.md). */
    if (enc != CODEC__ENC_XOR) {
        int e = 0;
        size_t nexc = codec__dec_analyze(v, n, m, k, &e);
        if (nexc <= n) {
            memcpy(bd, bx, tslen);
            size_t dlen = (size_t)(codec__dec_write(bd + tslen, v, n, m, k, nexc, e) - bd);
            best_flags = CODEC__ENC_DEC |
                         squeeze(c, bd, dlen, c->buf + off_z1, zmax, &best, &best_len);
        }
    }
    if (!best) {
        codec__bw wx = {bx + tslen, 0, 0};
        codec__xor_encode(&wx, v, n);
        size_t xlen = (size_t)(codec__bw_finish(&wx) - bx);
        best_flags = CODEC__ENC_XOR | squeeze(c, bx, xlen, c->buf + off_z2, zmax, &best, &best_len);
    }
    h[0] = (uint8_t)(CODEC__VERSION << 4 | best_flags);
    size_t hlen = (size_t)(hp - h);
    rc = ax_buf_reserve(dst, hlen + best_len);
    if (rc) return rc;
    memcpy(dst->data + dst->len, h, hlen);
    memcpy(dst->data + dst->len + hlen, best, best_len);
    dst->len += hlen + best_len;
    return 0;
}

/* Callers without a context of their own (readers on any thread) share one per thread:
 * creating zstd contexts per chunk cost more than decoding a small chunk. The context is
 * freed when its thread exits. */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p) { codec_ctx_free(p); }
static void tls_init(void) { pthread_key_create(&tls_key, tls_free); }

static codec_ctx *thread_ctx(void) {
    pthread_once(&tls_once, tls_init);
    codec_ctx *c = pthread_getspecific(tls_key);
    if (!c && (c = codec_ctx_new()) && pthread_setspecific(tls_key, c)) {
        codec_ctx_free(c);
        c = NULL;
    }
    return c;
}

int codec_chunk_encode(codec_ctx *c, ax_buf *dst, const int64_t *ts, const double *v, size_t n) {
    if (!c && !(c = thread_ctx())) return AX_ENOMEM;
    return encode(c, dst, ts, v, n);
}

/* ---- decode ---- */

/* The bits after pos up to the next byte boundary must be zero. */
static int padding_zero(const codec__br *r) {
    unsigned used = (unsigned)(r->pos & 7);
    if (!used) return 1;
    return (r->b[r->pos >> 3] & (0xffu >> used)) == 0;
}

/* One section of encoding 2 at *pp: its kind and raw payload (decompressed into c->buf if
 * zstd'd, so valid until the next call). */
static int section(codec_ctx *c, const uint8_t **pp, const uint8_t *end, size_t n,
                   unsigned *kind, const uint8_t **out, size_t *out_len) {
    const uint8_t *p = *pp;
    uint64_t len;
    if (p >= end) return AX_ECORRUPT;
    unsigned tag = *p++;
    if (ax_uvarint_get(&p, end, &len) || len == 0 || len > (uint64_t)(end - p)) return AX_ECORRUPT;
    *kind = tag & ~(unsigned)CODEC__SEC_ZSTD;
    *pp = p + len;
    if (!(tag & CODEC__SEC_ZSTD)) {
        *out = p;
        *out_len = (size_t)len;
        return 0;
    }
    unsigned long long fcs = ZSTD_getFrameContentSize(p, (size_t)len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs == 0 ||
        fcs > CODEC__BODY_MAX(n))
        return AX_ECORRUPT;
    int rc = scratch(c, (size_t)fcs);
    if (rc) return rc;
    size_t got = ZSTD_decompressDCtx(c->dc, c->buf, (size_t)fcs, p, (size_t)len);
    if (ZSTD_isError(got) || got != fcs) return AX_ECORRUPT;
    *out = c->buf;
    *out_len = (size_t)fcs;
    return 0;
}

static int decode_split(codec_ctx *c, const hdr *h, const uint8_t *body, size_t blen,
                        int64_t *ts, double *v) {
    const uint8_t *p = body, *end = body + blen, *raw;
    size_t rlen;
    unsigned kind;
    int rc = section(c, &p, end, h->n, &kind, &raw, &rlen);
    if (rc) return rc;
    if (kind != CODEC__TS_GRID) return AX_ECORRUPT;
    rc = codec__grid_decode(raw, rlen, h->mint, ts, h->n);
    if (rc) return rc;
    if (ts[h->n - 1] != h->maxt) return AX_ECORRUPT;
    rc = section(c, &p, end, h->n, &kind, &raw, &rlen);
    if (rc) return rc;
    if (p != end) return AX_ECORRUPT;
    if (kind == CODEC__V_DEC) return codec__dec_decode(raw, rlen, v, h->n);
    if (kind == CODEC__V_PLANES) return codec__dec_decode_planes(raw, rlen, v, h->n);
    if (kind != CODEC__V_XOR) return AX_ECORRUPT;
    codec__br rv = {raw, rlen, 0};
    rc = codec__xor_decode(&rv, v, h->n);
    if (rc) return rc;
    if (((rv.pos + 7) >> 3) != rv.len || !padding_zero(&rv)) return AX_ECORRUPT;
    return 0;
}

static int decode(codec_ctx *c, const uint8_t *p, size_t len, int64_t *ts, double *v,
                  size_t cap, size_t *n_out) {
    hdr h;
    int rc = hdr_parse(p, len, &h);
    if (rc) return rc;
    if (h.n > cap) return AX_ETOOBIG;
    if (!ts || !v) return AX_EINVAL;
    const uint8_t *body = p + h.len;
    size_t blen = len - h.len;
    if (blen == 0) return AX_ECORRUPT;
    if ((h.flags & CODEC__ENC_MASK) == CODEC__ENC_SPLIT) {
        if (!c) return AX_EINVAL;
        rc = decode_split(c, &h, body, blen, ts, v);
        if (!rc) *n_out = h.n;
        return rc;
    }

    if (h.flags & CODEC__F_ZSTD) {
        if (!c) return AX_EINVAL;
        unsigned long long fcs = ZSTD_getFrameContentSize(body, blen);
        if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs == 0 ||
            fcs > CODEC__BODY_MAX(h.n))
            return AX_ECORRUPT;
        rc = scratch(c, (size_t)fcs);
        if (rc) return rc;
        size_t got = ZSTD_decompressDCtx(c->dc, c->buf, (size_t)fcs, body, blen);
        if (ZSTD_isError(got) || got != fcs) return AX_ECORRUPT;
        body = c->buf;
        blen = (size_t)fcs;
    }

    codec__br r = {body, blen, 0};
    rc = codec__ts_decode(&r, h.mint, ts, h.n);
    if (rc) return rc;
    if (ts[h.n - 1] != h.maxt || !padding_zero(&r)) return AX_ECORRUPT;
    size_t tslen = (r.pos + 7) >> 3;
    if (tslen >= blen) return AX_ECORRUPT;

    if ((h.flags & CODEC__ENC_MASK) == CODEC__ENC_XOR) {
        codec__br rv = {body + tslen, blen - tslen, 0};
        rc = codec__xor_decode(&rv, v, h.n);
        if (rc) return rc;
        if (((rv.pos + 7) >> 3) != rv.len || !padding_zero(&rv)) return AX_ECORRUPT;
    } else {
        rc = codec__dec_decode(body + tslen, blen - tslen, v, h.n);
        if (rc) return rc;
    }
    *n_out = h.n;
    return 0;
}

int codec_chunk_decode(codec_ctx *c, const uint8_t *p, size_t len, int64_t *ts, double *v,
                       size_t cap, size_t *n_out) {
    if (c || !len || !p ||
        ((p[0] & CODEC__F_ZSTD) == 0 && (p[0] & CODEC__ENC_MASK) != CODEC__ENC_SPLIT))
        return decode(c, p, len, ts, v, cap, n_out);
    if (!(c = thread_ctx())) return AX_ENOMEM;
    return decode(c, p, len, ts, v, cap, n_out);
}
