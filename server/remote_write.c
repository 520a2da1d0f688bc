/* server/remote_write.c: remote-write 1.0 codec: snappy block format around a protobuf
 * WriteRequest (see remote_write.h for the schema).
 *
 * Decoding is done in two passes over the decompressed protobuf, both checked against the
 * end pointer:
 *   1. count: walk WriteRequest and each TimeSeries field by field (label and sample
 *      bodies are skipped by length), validating tags, wire types and lengths, counting
 *      series, labels and samples, and enforcing AX_MAX_LABELS per series;
 *   2. fill: with exactly sized arena arrays (one for series, one for labels, one for
 *      samples), walk again and parse the Label and Sample bodies.
 * So the arena holds the body plus 32 bytes per series, 24 per label and 16 per sample,
 * with no growth or copying, and nothing is written to the caller unless all of it
 * decodes. Label spans point into the decompressed body, which lives in the arena.
 *
 * Protobuf rules applied (proto3, as Prometheus' gogo-generated code reads it): a field
 * may appear any number of times and in any order; for singular fields the last one
 * wins; absent fields are zero/empty. Unknown fields of wire types 0, 1, 2, 5 are
 * skipped; groups (3, 4), wire types 6 and 7, field number 0 and a known field sent with
 * another wire type are errors, as are varints longer than 10 bytes.
 * Error offsets are byte offsets into the decompressed protobuf.
 */
#include "server/remote_write.h"

#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- protobuf primitives ---- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };
enum { VARINT_OK = 0, VARINT_TRUNC = 1, VARINT_LONG = 2 };

/* Parsing context: the start of the protobuf (for offsets in messages) and the error. */
typedef struct rw_dec {
    const uint8_t *base;
    ax_err *e;
} rw_dec;

static int varint_slow(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end) return VARINT_TRUNC;
        uint8_t c = *p++;
        if (shift == 63 && c > 1) return VARINT_LONG;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *pp = p;
            *out = v;
            return VARINT_OK;
        }
    }
    return VARINT_LONG;
}

/* Unsigned varint at *pp (< end); advances only on success. */
static inline __attribute__((always_inline)) int varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && p[0] < 0x80) {
        *out = p[0];
        *pp = p + 1;
        return VARINT_OK;
    }
    if (end - p >= 2 && p[1] < 0x80) {
        *out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        *pp = p + 2;
        return VARINT_OK;
    }
    return varint_slow(pp, end, out);
}

static int fail_at(rw_dec *d, const uint8_t *at, const char *what, const char *msg) {
    return ax_err_set(d->e, AX_EINVAL, "protobuf: %s %s at byte %zu", msg, what,
                      (size_t)(at - d->base));
}

static int fail_varint(rw_dec *d, int vrc, const uint8_t *at, const char *msg) {
    return fail_at(d, at, msg, vrc == VARINT_LONG ? "varint longer than 10 bytes in" : "truncated");
}

/* Read one field tag at *pp. OUT: *field, *wt. Rejects field 0, field numbers over
 * 2^29-1 and wire types that are not 0, 1, 2, 5 (groups included). */
static int tag_slow(rw_dec *d, const uint8_t **pp, const uint8_t *end, const char *msg,
                    uint32_t *field, int *wt) {
    uint64_t t;
    const uint8_t *at = *pp;
    int vrc = varint(pp, end, &t);
    if (vrc) return fail_varint(d, vrc, at, msg);
    *wt = (int)(t & 7);
    if (t >> 3 == 0 || t >> 3 > 0x1fffffff)
        return ax_err_set(d->e, AX_EINVAL, "protobuf: invalid field number %llu in %s at byte %zu",
                          (unsigned long long)(t >> 3), msg, (size_t)(at - d->base));
    if (*wt == WT_SGROUP || *wt == WT_EGROUP)
        return ax_err_set(d->e, AX_EINVAL,
                          "protobuf: group (wire type %d) in %s at byte %zu: not supported",
                          *wt, msg, (size_t)(at - d->base));
    if (*wt != WT_VARINT && *wt != WT_I64 && *wt != WT_LEN && *wt != WT_I32)
        return ax_err_set(d->e, AX_EINVAL, "protobuf: invalid wire type %d in %s at byte %zu",
                          *wt, msg, (size_t)(at - d->base));
    *field = (uint32_t)(t >> 3);
    return 0;
}

/* Fast path: a one-byte tag (fields 1..15) with an accepted wire type. */
#define WT_OK_MASK (1u << WT_VARINT | 1u << WT_I64 | 1u << WT_LEN | 1u << WT_I32)
static inline __attribute__((always_inline)) int tag_get(rw_dec *d, const uint8_t **pp,
                                                         const uint8_t *end, const char *msg,
                                                         uint32_t *field, int *wt) {
    const uint8_t *p = *pp;
    if (p < end && p[0] < 0x80 && p[0] >= 8 && (WT_OK_MASK >> (p[0] & 7) & 1)) {
        *field = p[0] >> 3;
        *wt = p[0] & 7;
        *pp = p + 1;
        return 0;
    }
    return tag_slow(d, pp, end, msg, field, wt);
}

/* Read the length of a length-delimited field and check it against end.
 * `at` is the field's tag, for the message. OUT: *len. */
static inline int len_get(rw_dec *d, const uint8_t **pp, const uint8_t *end, const uint8_t *at,
                          const char *msg, size_t *len) {
    uint64_t n;
    int vrc = varint(pp, end, &n);
    if (vrc) return fail_varint(d, vrc, at, msg);
    if (n > (uint64_t)(end - *pp)) return fail_at(d, at, msg, "truncated");
    *len = (size_t)n;
    return 0;
}

/* Skip the value of a field of wire type wt (tag already read; `at` points to it). */
static int skip_value(rw_dec *d, const uint8_t **pp, const uint8_t *end, const uint8_t *at,
                      const char *msg, int wt) {
    uint64_t v;
    size_t n = 0;
    int vrc, rc;
    switch (wt) {
    case WT_VARINT:
        vrc = varint(pp, end, &v);
        return vrc ? fail_varint(d, vrc, at, msg) : 0;
    case WT_I64:
        if (end - *pp < 8) return fail_at(d, at, msg, "truncated");
        *pp += 8;
        return 0;
    case WT_I32:
        if (end - *pp < 4) return fail_at(d, at, msg, "truncated");
        *pp += 4;
        return 0;
    case WT_LEN:
        if ((rc = len_get(d, pp, end, at, msg, &n))) return rc;
        *pp += n;
        return 0;
    }
    AX_ASSERT(0 && "tag_get admits only wire types 0, 1, 2, 5");
    return AX_EINVAL;
}

static int wrong_type(rw_dec *d, const uint8_t *at, const char *msg, uint32_t field, int wt,
                      int want) {
    return ax_err_set(d->e, AX_EINVAL,
                      "protobuf: field %u of %s at byte %zu has wire type %d, want %d", field,
                      msg, (size_t)(at - d->base), wt, want);
}

/* ---- pass 1: count ---- */

typedef struct rw_counts {
    size_t series, labels, samples;
} rw_counts;

static int count_series(rw_dec *d, const uint8_t *p, const uint8_t *end, const uint8_t *ts_at,
                        size_t idx, rw_counts *c) {
    size_t nl = 0, ns = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = tag_get(d, &p, end, "TimeSeries", &f, &wt))) return rc;
        if (f == 1 || f == 2) {
            if (wt != WT_LEN) return wrong_type(d, at, "TimeSeries", f, wt, WT_LEN);
            if ((rc = len_get(d, &p, end, at, f == 1 ? "Label" : "Sample", &n))) return rc;
            p += n;
            if (f == 1 && ++nl > AX_MAX_LABELS)
                return ax_err_set(d->e, AX_EINVAL,
                                  "series %zu (byte %zu) has more than %d labels", idx,
                                  (size_t)(ts_at - d->base), AX_MAX_LABELS);
            if (f == 2) ns++;
        } else if ((rc = skip_value(d, &p, end, at, "TimeSeries", wt))) {
            return rc; /* exemplars (3), histograms (4), unknown */
        }
    }
    c->labels += nl;
    c->samples += ns;
    return 0;
}

static int count_request(rw_dec *d, const uint8_t *p, const uint8_t *end, rw_counts *c) {
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = tag_get(d, &p, end, "WriteRequest", &f, &wt))) return rc;
        if (f == 1) {
            if (wt != WT_LEN) return wrong_type(d, at, "WriteRequest", f, wt, WT_LEN);
            if ((rc = len_get(d, &p, end, at, "TimeSeries", &n))) return rc;
            if ((rc = count_series(d, p, p + n, at, c->series, c))) return rc;
            c->series++;
            p += n;
        } else if ((rc = skip_value(d, &p, end, at, "WriteRequest", wt))) {
            return rc; /* metadata (3), unknown */
        }
    }
    return 0;
}

/* ---- pass 2: fill ---- */

static int parse_label(rw_dec *d, const uint8_t *p, const uint8_t *end, size_t idx, ax_label *l) {
    /* fast path: name then value, both shorter than 128 bytes, nothing else (what every
     * Prometheus-compatible sender writes for a label with non-empty name and value) */
    if (end - p >= 4 && p[0] == 0x0a && p[1] < 0x80 && p[1] <= end - p - 4) {
        const uint8_t *q = p + 2 + p[1];
        if (q[0] == 0x12 && q[1] < 0x80 && q[1] == end - q - 2) {
            l->name = (const char *)p + 2;
            l->name_len = p[1];
            l->value = (const char *)q + 2;
            l->value_len = q[1];
            return 0;
        }
    }
    l->name = l->value = "";
    l->name_len = l->value_len = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = tag_get(d, &p, end, "Label", &f, &wt))) return rc;
        if (f == 1 || f == 2) {
            if (wt != WT_LEN) return wrong_type(d, at, "Label", f, wt, WT_LEN);
            if ((rc = len_get(d, &p, end, at, "Label", &n))) return rc;
            if (f == 1) {
                if (n > AX_MAX_LABEL_NAME)
                    return ax_err_set(d->e, AX_EINVAL,
                                      "label name of %zu bytes at series %zu (byte %zu) exceeds %d",
                                      n, idx, (size_t)(at - d->base), AX_MAX_LABEL_NAME);
                l->name = (const char *)p;
                l->name_len = (uint32_t)n;
            } else {
                if (n > AX_MAX_LABEL_VALUE)
                    return ax_err_set(d->e, AX_EINVAL,
                                      "label value of %zu bytes at series %zu (byte %zu) exceeds %d",
                                      n, idx, (size_t)(at - d->base), AX_MAX_LABEL_VALUE);
                l->value = (const char *)p;
                l->value_len = (uint32_t)n;
            }
            p += n;
        } else if ((rc = skip_value(d, &p, end, at, "Label", wt))) {
            return rc;
        }
    }
    return 0;
}

static int parse_sample(rw_dec *d, const uint8_t *p, const uint8_t *end, eng_sample *s) {
    uint64_t bits = 0, ts = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc, vrc;
        if ((rc = tag_get(d, &p, end, "Sample", &f, &wt))) return rc;
        if (f == 1) {
            if (wt != WT_I64) return wrong_type(d, at, "Sample", f, wt, WT_I64);
            if (end - p < 8) return fail_at(d, at, "Sample", "truncated");
            bits = ax_get_u64le(p);
            p += 8;
        } else if (f == 2) {
            if (wt != WT_VARINT) return wrong_type(d, at, "Sample", f, wt, WT_VARINT);
            if ((vrc = varint(&p, end, &ts))) return fail_varint(d, vrc, at, "Sample");
        } else if ((rc = skip_value(d, &p, end, at, "Sample", wt))) {
            return rc;
        }
    }
    memcpy(&s->v, &bits, sizeof bits);
    s->ts = (int64_t)ts; /* int64 on the wire is two's complement in 10 bytes */
    return 0;
}

/* Fill ts[] from a request that count_request accepted; ls and ss have exactly the counted
 * room. Structural errors cannot recur here, but every read is still checked. */
static int fill_request(rw_dec *d, const uint8_t *p, const uint8_t *end, eng_ts *ts,
                        ax_label *ls, eng_sample *ss) {
    size_t idx = 0, nl = 0, ns = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = tag_get(d, &p, end, "WriteRequest", &f, &wt))) return rc;
        if (f != 1) {
            if ((rc = skip_value(d, &p, end, at, "WriteRequest", wt))) return rc;
            continue;
        }
        if ((rc = len_get(d, &p, end, at, "TimeSeries", &n))) return rc;
        const uint8_t *tend = p + n;
        size_t l0 = nl, s0 = ns; /* this series' first label and sample */
        while (p < tend) {
            const uint8_t *fat = p;
            size_t m = 0;
            if ((rc = tag_get(d, &p, tend, "TimeSeries", &f, &wt))) return rc;
            if (f == 1) {
                if ((rc = len_get(d, &p, tend, fat, "Label", &m))) return rc;
                if ((rc = parse_label(d, p, p + m, idx, &ls[nl++]))) return rc;
                p += m;
            } else if (f == 2) {
                if ((rc = len_get(d, &p, tend, fat, "Sample", &m))) return rc;
                if ((rc = parse_sample(d, p, p + m, &ss[ns++]))) return rc;
                p += m;
            } else if ((rc = skip_value(d, &p, tend, fat, "TimeSeries", wt))) {
                return rc;
            }
        }
        ts[idx].labels = nl > l0 ? &ls[l0] : NULL;
        ts[idx].n_labels = nl - l0;
        ts[idx].samples = ns > s0 ? &ss[s0] : NULL;
        ts[idx].n_samples = ns - s0;
        idx++;
    }
    return 0;
}

/* ---- arena and sizes ---- */

static void fmt_size(char *out, size_t cap, size_t v) {
    const size_t mb = 1024 * 1024;
    if (v < mb) snprintf(out, cap, "%zu bytes", v);
    else if (v % mb == 0) snprintf(out, cap, "%zu MB", v / mb);
    else snprintf(out, cap, "%.1f MB", (double)v / (double)mb);
}

/* Arena allocation of n * size bytes; AX_ETOOBIG when over the budget, AX_ENOMEM when
 * malloc failed below it. */
static int rw_alloc(ax_arena *a, size_t n, size_t size, const char *what, void **out, ax_err *e) {
    *out = NULL;
    if (!n) return 0;
    if (n > SIZE_MAX / size) return ax_err_set(e, AX_ETOOBIG, "%s: size overflow", what);
    size_t len = n * size;
    void *p = ax_arena_alloc(a, len);
    if (!p) {
        size_t room = a->max > a->used ? a->max - a->used : 0;
        if (len + (128 << 10) >= room) {
            char need[32], budget[32];
            fmt_size(need, sizeof need, len);
            fmt_size(budget, sizeof budget, a->max);
            return ax_err_set(e, AX_ETOOBIG, "%s needs %s more than the request budget of %s",
                              what, need, budget);
        }
        return ax_err_set(e, AX_ENOMEM, "%s: out of memory", what);
    }
    *out = p;
    return 0;
}

/* ---- decode ---- */

int srv_rw_decode_raw(const uint8_t *pb, size_t len, ax_arena *a, eng_ts **ts_out,
                      size_t *n_out, size_t *samples_out, ax_err *e) {
    rw_dec d = {pb, e};
    rw_counts c = {0, 0, 0};
    const uint8_t *end = pb + len;
    int rc = count_request(&d, pb, end, &c);
    if (rc) return rc;
    void *ts = NULL, *ls = NULL, *ss = NULL;
    if ((rc = rw_alloc(a, c.series, sizeof(eng_ts), "series array", &ts, e))) return rc;
    if ((rc = rw_alloc(a, c.labels, sizeof(ax_label), "label array", &ls, e))) return rc;
    if ((rc = rw_alloc(a, c.samples, sizeof(eng_sample), "sample array", &ss, e))) return rc;
    if ((rc = fill_request(&d, pb, end, ts, ls, ss))) return rc;
    *ts_out = ts;
    *n_out = c.series;
    *samples_out = c.samples;
    return 0;
}

/* Snappy refused the body: say what it looks like when that is recognisable. */
static int not_snappy(const uint8_t *body, size_t len, const char *why, ax_err *e) {
    if (len >= 10 && !memcmp(body, "\xff\x06\x00\x00sNaPpY", 10))
        return ax_err_set(e, AX_EINVAL, "snappy: body is in framed format; remote write uses "
                                        "the block format");
    if (len >= 2 && body[0] == 0x1f && body[1] == 0x8b)
        return ax_err_set(e, AX_EINVAL, "snappy: body is gzip, not snappy");
    if (len >= 4 && !memcmp(body, "\x28\xb5\x2f\xfd", 4))
        return ax_err_set(e, AX_EINVAL, "snappy: body is zstd, not snappy");
    return ax_err_set(e, AX_EINVAL, "snappy: %s", why);
}

int srv_rw_decode(const uint8_t *body, size_t len, size_t max_decoded, ax_arena *a,
                  eng_ts **ts_out, size_t *n_out, size_t *samples_out, ax_err *e) {
    size_t dlen = 0;
    if (len == 0) return ax_err_set(e, AX_EINVAL, "snappy: empty body");
    if (snappy_uncompressed_length((const char *)body, len, &dlen) != SNAPPY_OK)
        return not_snappy(body, len, "body is not snappy block format (bad length header)", e);
    if (dlen > max_decoded) {
        char have[32], cap[32];
        fmt_size(have, sizeof have, dlen);
        fmt_size(cap, sizeof cap, max_decoded);
        return ax_err_set(e, AX_ETOOBIG, "snappy: decoded length %s exceeds %s", have, cap);
    }
    void *buf = NULL;
    int rc = rw_alloc(a, dlen ? dlen : 1, 1, "snappy: decoded body", &buf, e);
    if (rc) return rc;
    size_t got = dlen;
    if (snappy_uncompress((const char *)body, len, buf, &got) != SNAPPY_OK || got != dlen)
        return not_snappy(body, len, "corrupt data (not snappy block format, or truncated)", e);
    return srv_rw_decode_raw(buf, dlen, a, ts_out, n_out, samples_out, e);
}

/* ---- encode ---- */

static inline size_t vsize(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline size_t field_len(size_t len) { return 1 + vsize(len) + len; } /* tag < 16 */

static size_t label_len(const ax_label *l) {
    return (l->name_len ? field_len(l->name_len) : 0) +
           (l->value_len ? field_len(l->value_len) : 0);
}

static size_t sample_len(const eng_sample *s) {
    uint64_t bits;
    memcpy(&bits, &s->v, sizeof bits);
    return (bits ? 9 : 0) + (s->ts ? 1 + vsize((uint64_t)s->ts) : 0);
}

static size_t series_len(const eng_ts *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->n_labels; i++) n += field_len(label_len(&t->labels[i]));
    for (size_t i = 0; i < t->n_samples; i++) n += field_len(sample_len(&t->samples[i]));
    return n;
}

static inline uint8_t *put_len_field(uint8_t *p, uint8_t tag, size_t len) {
    *p++ = tag;
    return p + ax_uvarint_put(p, len);
}

int srv_rw_encode_raw(ax_buf *dst, const eng_ts *ts, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += field_len(series_len(&ts[i]));
    if (total == 0) return 0; /* dst->data may still be NULL */
    int rc = ax_buf_reserve(dst, total);
    if (rc) return rc;
    uint8_t *p = dst->data + dst->len;
    for (size_t i = 0; i < n; i++) {
        const eng_ts *t = &ts[i];
        p = put_len_field(p, 0x0a, series_len(t)); /* WriteRequest.timeseries = 1 */
        for (size_t j = 0; j < t->n_labels; j++) {
            const ax_label *l = &t->labels[j];
            p = put_len_field(p, 0x0a, label_len(l)); /* TimeSeries.labels = 1 */
            if (l->name_len) {
                p = put_len_field(p, 0x0a, l->name_len); /* Label.name = 1 */
                memcpy(p, l->name, l->name_len);
                p += l->name_len;
            }
            if (l->value_len) {
                p = put_len_field(p, 0x12, l->value_len); /* Label.value = 2 */
                memcpy(p, l->value, l->value_len);
                p += l->value_len;
            }
        }
        for (size_t j = 0; j < t->n_samples; j++) {
            const eng_sample *s = &t->samples[j];
            uint64_t bits;
            memcpy(&bits, &s->v, sizeof bits);
            p = put_len_field(p, 0x12, sample_len(s)); /* TimeSeries.samples = 2 */
            if (bits) {
                *p++ = 0x09; /* Sample.value = 1, fixed64 */
                ax_put_u64le(p, bits);
                p += 8;
            }
            if (s->ts) {
                *p++ = 0x10; /* Sample.timestamp = 2, varint */
                p += ax_uvarint_put(p, (uint64_t)s->ts);
            }
        }
    }
    AX_ASSERT((size_t)(p - (dst->data + dst->len)) == total);
    dst->len += total;
    return 0;
}

int srv_rw_snappy(ax_buf *dst, const uint8_t *src, size_t len) {
    if (len > UINT32_MAX) { /* snappy's length header is 32 bits */
        dst->len = 0;
        return AX_ETOOBIG;
    }
    size_t olen = snappy_max_compressed_length(len);
    char *tmp = malloc(olen ? olen : 1);
    if (!tmp) return AX_ENOMEM;
    int rc = AX_ENOMEM;
    if (snappy_compress((const char *)src, len, tmp, &olen) == SNAPPY_OK)
        rc = ax_buf_append(dst, tmp, olen);
    free(tmp);
    return rc;
}

int srv_rw_encode(ax_buf *dst, const eng_ts *ts, size_t n) {
    ax_buf raw;
    ax_buf_init(&raw, (size_t)UINT32_MAX);
    int rc = srv_rw_encode_raw(&raw, ts, n);
    if (rc == AX_ETOOBIG) dst->len = 0;
    if (!rc) rc = srv_rw_snappy(dst, raw.data, raw.len);
    ax_buf_free(&raw);
    return rc;
}
