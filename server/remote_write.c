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
#include "server/pb.h"

#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Protobuf primitives (varint, tag, length, skip, messages): server/pb.h. */

/* ---- pass 1: count ---- */

typedef struct rw_counts {
    size_t series, labels, samples;
} rw_counts;

static int count_series(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, const uint8_t *ts_at,
                        size_t idx, rw_counts *c) {
    size_t nl = 0, ns = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = srv_pb_tag(d, &p, end, "TimeSeries", &f, &wt))) return rc;
        if (f == 1 || f == 2) {
            if (wt != SRV_PB_LEN) return srv__pb_wrong_type(d, at, "TimeSeries", f, wt, SRV_PB_LEN);
            if ((rc = srv_pb_len(d, &p, end, at, f == 1 ? "Label" : "Sample", &n))) return rc;
            p += n;
            if (f == 1 && ++nl > AX_MAX_LABELS)
                return ax_err_set(d->e, AX_EINVAL,
                                  "series %zu (byte %zu) has more than %d labels", idx,
                                  (size_t)(ts_at - d->base), AX_MAX_LABELS);
            if (f == 2) ns++;
        } else if ((rc = srv__pb_skip(d, &p, end, at, "TimeSeries", wt))) {
            return rc; /* exemplars (3), histograms (4), unknown */
        }
    }
    c->labels += nl;
    c->samples += ns;
    return 0;
}

static int count_request(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, rw_counts *c) {
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = srv_pb_tag(d, &p, end, "WriteRequest", &f, &wt))) return rc;
        if (f == 1) {
            if (wt != SRV_PB_LEN) return srv__pb_wrong_type(d, at, "WriteRequest", f, wt, SRV_PB_LEN);
            if ((rc = srv_pb_len(d, &p, end, at, "TimeSeries", &n))) return rc;
            if ((rc = count_series(d, p, p + n, at, c->series, c))) return rc;
            c->series++;
            p += n;
        } else if ((rc = srv__pb_skip(d, &p, end, at, "WriteRequest", wt))) {
            return rc; /* metadata (3), unknown */
        }
    }
    return 0;
}

/* ---- pass 2: fill ---- */

static int parse_label(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, size_t idx, ax_label *l) {
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
        if ((rc = srv_pb_tag(d, &p, end, "Label", &f, &wt))) return rc;
        if (f == 1 || f == 2) {
            if (wt != SRV_PB_LEN) return srv__pb_wrong_type(d, at, "Label", f, wt, SRV_PB_LEN);
            if ((rc = srv_pb_len(d, &p, end, at, "Label", &n))) return rc;
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
        } else if ((rc = srv__pb_skip(d, &p, end, at, "Label", wt))) {
            return rc;
        }
    }
    return 0;
}

static int parse_sample(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, eng_sample *s) {
    uint64_t bits = 0, ts = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc, vrc;
        if ((rc = srv_pb_tag(d, &p, end, "Sample", &f, &wt))) return rc;
        if (f == 1) {
            if (wt != SRV_PB_I64) return srv__pb_wrong_type(d, at, "Sample", f, wt, SRV_PB_I64);
            if (end - p < 8) return srv__pb_fail_at(d, at, "Sample", "truncated");
            bits = ax_get_u64le(p);
            p += 8;
        } else if (f == 2) {
            if (wt != SRV_PB_VARINT) return srv__pb_wrong_type(d, at, "Sample", f, wt, SRV_PB_VARINT);
            if ((vrc = srv_pb_varint(&p, end, &ts))) return srv__pb_fail_varint(d, vrc, at, "Sample");
        } else if ((rc = srv__pb_skip(d, &p, end, at, "Sample", wt))) {
            return rc;
        }
    }
    memcpy(&s->v, &bits, sizeof bits);
    s->ts = (int64_t)ts; /* int64 on the wire is two's complement in 10 bytes */
    return 0;
}

/* Fill ts[] from a request that count_request accepted; ls and ss have exactly the counted
 * room. Structural errors cannot recur here, but every read is still checked. */
static int fill_request(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, eng_ts *ts,
                        ax_label *ls, eng_sample *ss) {
    size_t idx = 0, nl = 0, ns = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = srv_pb_tag(d, &p, end, "WriteRequest", &f, &wt))) return rc;
        if (f != 1) {
            if ((rc = srv__pb_skip(d, &p, end, at, "WriteRequest", wt))) return rc;
            continue;
        }
        if ((rc = srv_pb_len(d, &p, end, at, "TimeSeries", &n))) return rc;
        const uint8_t *tend = p + n;
        size_t l0 = nl, s0 = ns; /* this series' first label and sample */
        while (p < tend) {
            const uint8_t *fat = p;
            size_t m = 0;
            if ((rc = srv_pb_tag(d, &p, tend, "TimeSeries", &f, &wt))) return rc;
            if (f == 1) {
                if ((rc = srv_pb_len(d, &p, tend, fat, "Label", &m))) return rc;
                if ((rc = parse_label(d, p, p + m, idx, &ls[nl++]))) return rc;
                p += m;
            } else if (f == 2) {
                if ((rc = srv_pb_len(d, &p, tend, fat, "Sample", &m))) return rc;
                if ((rc = parse_sample(d, p, p + m, &ss[ns++]))) return rc;
                p += m;
            } else if ((rc = srv__pb_skip(d, &p, tend, fat, "TimeSeries", wt))) {
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

/* ---- decode ---- */

int srv_rw_decode_raw(const uint8_t *pb, size_t len, ax_arena *a, eng_ts **ts_out,
                      size_t *n_out, size_t *samples_out, ax_err *e) {
    srv_pb_dec d = {pb, e};
    rw_counts c = {0, 0, 0};
    const uint8_t *end = pb + len;
    int rc = count_request(&d, pb, end, &c);
    if (rc) return rc;
    void *ts = NULL, *ls = NULL, *ss = NULL;
    if ((rc = srv__arena_array(a, c.series, sizeof(eng_ts), "series array", &ts, e))) return rc;
    if ((rc = srv__arena_array(a, c.labels, sizeof(ax_label), "label array", &ls, e))) return rc;
    if ((rc = srv__arena_array(a, c.samples, sizeof(eng_sample), "sample array", &ss, e))) return rc;
    if ((rc = fill_request(&d, pb, end, ts, ls, ss))) return rc;
    *ts_out = ts;
    *n_out = c.series;
    *samples_out = c.samples;
    return 0;
}

int srv_rw_decode(const uint8_t *body, size_t len, size_t max_decoded, ax_arena *a,
                  eng_ts **ts_out, size_t *n_out, size_t *samples_out, ax_err *e) {
    const uint8_t *pb = NULL;
    size_t dlen = 0;
    int rc = srv__snappy_decode(body, len, max_decoded, "remote write", a, &pb, &dlen, e);
    if (rc) return rc;
    return srv_rw_decode_raw(pb, dlen, a, ts_out, n_out, samples_out, e);
}

/* ---- encode ---- */

static inline size_t field_len(size_t len) { return 1 + srv_pb_vsize(len) + len; } /* tag < 16 */

static size_t label_len(const ax_label *l) {
    return (l->name_len ? field_len(l->name_len) : 0) +
           (l->value_len ? field_len(l->value_len) : 0);
}

static size_t sample_len(const eng_sample *s) {
    uint64_t bits;
    memcpy(&bits, &s->v, sizeof bits);
    return (bits ? 9 : 0) + (s->ts ? 1 + srv_pb_vsize((uint64_t)s->ts) : 0);
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
