/* storage/codec/decimal.c: values as integer mantissas with one decimal exponent per chunk.
 *
 * The idea is VictoriaMetrics': most samples are decimals with few digits (0.5, 99.95,
 * 1234567), so v = M / 10^E (E >= 0) or v = M * 10^-E (E < 0, common trailing zeros) with
 * one E for the chunk and |M| < 2^53, and the mantissas are stored as zigzag varint deltas
 * (gauges) or delta-of-deltas (counters), whichever is smaller, with runs of zero residuals
 * (constant gauges, steady counters) collapsed to a count; zstd then squeezes the bytes.
 * Unlike VictoriaMetrics this is lossless: the decoder computes (double)M / 10^E, one
 * correctly rounded IEEE operation on two exact operands (|M| < 2^53, E <= 22), and the
 * encoder keeps a mantissa only if that exact computation gives back the same 64 bits.
 * Every other value (NaN incl. stale markers, +-Inf, -0, values needing 16+ digits) is an
 * exception stored raw. Stream layout: docs/chunk-format.md.
 */
#include "storage/codec/codec_int.h"

#define MANT_LIM 9007199254740992.0 /* 2^53 */
#define MANT_MAX ((int64_t)1 << 53)
#define EXP_MAX 22

static const double p10[EXP_MAX + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
static const int64_t p10i[19] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
    10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000,
    1000000000000000, 10000000000000000, 100000000000000000, 1000000000000000000,
};

static inline uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static inline double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

static inline double dec_value(int64_t m, int e) {
    return e >= 0 ? (double)m / p10[e] : (double)m * p10[-e];
}

static inline size_t uvarint_len(uint64_t x) {
    return ((size_t)(64 - __builtin_clzll(x | 1)) + 6) / 7;
}

/* Mantissa of x at the smallest exponent >= e0 that reproduces x exactly; -1 if none. */
static inline int find_mantissa(double x, int e0, int64_t *m_out) {
    for (int e = e0; e <= EXP_MAX; e++) {
        double y = x * p10[e];
        if (!(y > -MANT_LIM && y < MANT_LIM)) return -1;
        int64_t m = (int64_t)(y < 0 ? y - 0.5 : y + 0.5);
        if (m > -MANT_MAX && m < MANT_MAX && dbits((double)m / p10[e]) == dbits(x)) {
            *m_out = m;
            return e;
        }
    }
    return -1;
}

size_t codec__dec_analyze(const double *v, size_t n, int64_t *m, uint8_t *k, int *exp_out) {
    size_t nexc = 0, limit = n / 4; /* more exceptions than this: XOR is better anyway */
    int e = 0;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        int ki;
        if (x == 0 && !(dbits(x) >> 63)) {
            m[i] = 0;
            ki = e;
        } else {
            ki = x == x && x != 0 ? find_mantissa(x, e, &m[i]) : -1;
        }
        if (ki < 0) {
            k[i] = 0xff;
            if (++nexc > limit) return n + 1;
            continue;
        }
        k[i] = (uint8_t)ki;
        if (ki > e) e = ki;
    }
    if (nexc == n) return n + 1;
    /* bring every mantissa to the common exponent e */
    for (size_t i = 0; i < n; i++) {
        if (k[i] == 0xff || k[i] == e) continue;
        int d = e - k[i];
        int64_t mi = m[i];
        if (d > 18 || mi > MANT_MAX / p10i[d] || mi < -MANT_MAX / p10i[d] ||
            mi * p10i[d] >= MANT_MAX || mi * p10i[d] <= -MANT_MAX) {
            k[i] = 0xff;
            if (++nexc > limit || nexc == n) return n + 1;
            continue;
        }
        m[i] = mi * p10i[d];
        k[i] = (uint8_t)e;
    }
    /* integers: factor out common trailing decimal zeros (1000, 2000 -> 1, 2 at E = -3) */
    if (e == 0) {
        int t = 18;
        for (size_t i = 0; i < n && t > 0; i++) {
            if (k[i] == 0xff || m[i] == 0) continue;
            while (t > 0 && m[i] % p10i[t] != 0) t--;
        }
        if (t > 0) {
            for (size_t i = 0; i < n; i++)
                if (k[i] != 0xff) m[i] /= p10i[t];
            e = -t;
        }
    }
    *exp_out = e;
    return nexc;
}

static inline uint8_t *put_uvarint(uint8_t *p, uint64_t x) {
    while (x >= 0x80) { *p++ = (uint8_t)(x | 0x80); x >>= 7; }
    *p++ = (uint8_t)x;
    return p;
}

/* Delta (0) or delta-of-delta (1), by the varint bytes each would take. */
static int pick_dod(size_t n, const int64_t *m, const uint8_t *k) {
    size_t cost_d = 0, cost_dd = 0, j = 0;
    int64_t pm = 0, pdl = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] == 0xff) continue;
        int64_t dl = m[i] - pm, dd = dl - pdl;
        if (j == 0) dd = dl; /* the first delta is written as is in both modes */
        cost_d += uvarint_len(ax_zigzag_enc(dl));
        cost_dd += uvarint_len(ax_zigzag_enc(j == 1 ? dl : dd));
        pm = m[i];
        pdl = dl;
        j++;
    }
    return cost_dd < cost_d;
}

/* mode, exponent and the exception list: the part both decimal streams share. */
static uint8_t *write_head(uint8_t *p, int mode, const double *v, size_t n, const uint8_t *k,
                           size_t nexc, int exp) {
    *p++ = (uint8_t)mode;
    *p++ = (uint8_t)(exp + EXP_MAX);
    p = put_uvarint(p, nexc);
    size_t last = 0;
    for (size_t i = 0; i < n && nexc; i++) {
        if (k[i] != 0xff) continue;
        p = put_uvarint(p, i - last);
        ax_put_u64le(p, dbits(v[i]));
        p += 8;
        last = i + 1;
    }
    return p;
}

uint8_t *codec__dec_write(uint8_t *p, const double *v, size_t n, const int64_t *m,
                          const uint8_t *k, size_t nexc, int exp) {
    int dod = pick_dod(n, m, k);
    p = write_head(p, dod ? 2 : 1, v, n, k, nexc, exp);
    int64_t pm = 0, pdl = 0;
    size_t j = 0;
    size_t zeros = 0; /* a run of zero residuals is written as 0, uvarint(run - 1) */
    for (size_t i = 0; i < n; i++) {
        if (k[i] == 0xff) continue;
        int64_t dl = m[i] - pm;
        int64_t out = dod && j >= 2 ? dl - pdl : dl;
        pm = m[i];
        pdl = dl;
        j++;
        if (out == 0) {
            zeros++;
            continue;
        }
        if (zeros) {
            *p++ = 0;
            p = put_uvarint(p, zeros - 1);
            zeros = 0;
        }
        p = put_uvarint(p, ax_zigzag_enc(out));
    }
    if (zeros) {
        *p++ = 0;
        p = put_uvarint(p, zeros - 1);
    }
    return p;
}

uint8_t *codec__dec_write_planes(uint8_t *p, const double *v, size_t n, const int64_t *m,
                                 const uint8_t *k, size_t nexc, int exp) {
    int dod = pick_dod(n, m, k);
    p = write_head(p, dod ? 2 : 1, v, n, k, nexc, exp);
    size_t cnt = n - nexc, j = 0;
    int64_t pm = 0, pdl = 0;
    uint64_t all = 0;
    for (size_t i = 0; i < n; i++) { /* pass 1: width */
        if (k[i] == 0xff) continue;
        int64_t dl = m[i] - pm;
        all |= ax_zigzag_enc(dod && j >= 2 ? dl - pdl : dl);
        pm = m[i];
        pdl = dl;
        j++;
    }
    unsigned width = (unsigned)(64 - __builtin_clzll(all | 1) + 7) / 8;
    *p++ = (uint8_t)width;
    pm = 0;
    pdl = 0;
    j = 0;
    for (size_t i = 0; i < n; i++) { /* pass 2: byte b of residual j at p[b * cnt + j] */
        if (k[i] == 0xff) continue;
        int64_t dl = m[i] - pm;
        uint64_t z = ax_zigzag_enc(dod && j >= 2 ? dl - pdl : dl);
        pm = m[i];
        pdl = dl;
        for (unsigned b = 0; b < width; b++) p[b * cnt + j] = (uint8_t)(z >> (8 * b));
        j++;
    }
    return p + width * cnt;
}

static inline int get_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) { *out = *p; *pp = p + 1; return 0; }
    return ax_uvarint_get(pp, end, out);
}

/* Parse mode, exponent and exceptions; exceptions are stored into v. OUT: *dod, *e, *nexc,
 * *exc (start of the exception list), returns the end of the head or NULL if malformed. */
static const uint8_t *read_head(const uint8_t *p, const uint8_t *end, double *v, size_t n,
                                int *dod, int *e, size_t *nexc_out, const uint8_t **exc) {
    if (end - p < 3) return NULL;
    if (p[0] != 1 && p[0] != 2) return NULL;
    if (p[1] > 2 * EXP_MAX) return NULL;
    *dod = p[0] == 2;
    *e = (int)p[1] - EXP_MAX;
    p += 2;
    uint64_t nexc, gap;
    if (get_uvarint(&p, end, &nexc) || nexc >= n) return NULL;
    *exc = p;
    size_t idx = 0;
    for (uint64_t i = 0; i < nexc; i++) {
        if (get_uvarint(&p, end, &gap) || gap >= n - idx || end - p < 8) return NULL;
        idx += gap;
        v[idx] = bitsd(ax_get_u64le(p));
        p += 8;
        idx++;
    }
    *nexc_out = (size_t)nexc;
    return p;
}

/* Iterates the exception indices again (the list was validated by read_head). */
typedef struct exc_walk {
    const uint8_t *p, *end;
    size_t left, next;
} exc_walk;

static void exc_start(exc_walk *w, const uint8_t *p, const uint8_t *end, size_t nexc, size_t n) {
    w->p = p;
    w->end = end;
    w->left = nexc;
    w->next = n;
    if (w->left) {
        uint64_t gap = 0;
        get_uvarint(&w->p, end, &gap);
        w->next = (size_t)gap;
        w->p += 8;
        w->left--;
    }
}

static void exc_step(exc_walk *w, size_t i, size_t n) {
    if (w->left) {
        uint64_t gap = 0;
        get_uvarint(&w->p, w->end, &gap);
        w->next = i + 1 + (size_t)gap;
        w->p += 8;
        w->left--;
    } else {
        w->next = n;
    }
}

int codec__dec_decode(const uint8_t *p, size_t len, double *v, size_t n) {
    const uint8_t *end = p + len, *exc;
    int dod, e;
    size_t nexc;
    if (!(p = read_head(p, end, v, n, &dod, &e, &nexc, &exc))) return AX_ECORRUPT;
    /* mantissas, skipping exception slots (re-walking the exception list) */
    exc_walk w;
    exc_start(&w, exc, end, nexc, n);
    uint64_t pm = 0, pdl = 0, u, zeros = 0;
    size_t j = 0, left_m = n - nexc; /* mantissas still to decode */
    for (size_t i = 0; i < n; i++) {
        if (i == w.next) {
            exc_step(&w, i, n);
            continue;
        }
        uint64_t d = 0;
        if (zeros) {
            zeros--;
        } else {
            if (get_uvarint(&p, end, &u)) return AX_ECORRUPT;
            if (u == 0) {
                if (get_uvarint(&p, end, &zeros) || zeros >= left_m) return AX_ECORRUPT;
            } else {
                d = (uint64_t)ax_zigzag_dec(u);
            }
        }
        left_m--;
        uint64_t dl = dod && j >= 2 ? pdl + d : d;
        uint64_t mu = pm + dl;
        int64_t m = (int64_t)mu;
        if (m <= -MANT_MAX || m >= MANT_MAX) return AX_ECORRUPT;
        v[i] = dec_value(m, e);
        pm = mu;
        pdl = dl;
        j++;
    }
    return p == end ? 0 : AX_ECORRUPT;
}

int codec__dec_decode_planes(const uint8_t *p, size_t len, double *v, size_t n) {
    const uint8_t *end = p + len, *exc;
    int dod, e;
    size_t nexc;
    if (!(p = read_head(p, end, v, n, &dod, &e, &nexc, &exc))) return AX_ECORRUPT;
    size_t cnt = n - nexc;
    if (p == end) return AX_ECORRUPT;
    unsigned width = *p++;
    if (width < 1 || width > 8 || (size_t)(end - p) != width * cnt) return AX_ECORRUPT;
    exc_walk w;
    exc_start(&w, exc, end, nexc, n);
    uint64_t pm = 0, pdl = 0;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == w.next) {
            exc_step(&w, i, n);
            continue;
        }
        uint64_t z = 0;
        for (unsigned b = 0; b < width; b++) z |= (uint64_t)p[b * cnt + j] << (8 * b);
        uint64_t d = (uint64_t)ax_zigzag_dec(z);
        uint64_t dl = dod && j >= 2 ? pdl + d : d;
        uint64_t mu = pm + dl;
        int64_t m = (int64_t)mu;
        if (m <= -MANT_MAX || m >= MANT_MAX) return AX_ECORRUPT;
        v[i] = dec_value(m, e);
        pm = mu;
        pdl = dl;
        j++;
    }
    return 0;
}
