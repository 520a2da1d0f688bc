/* Unit tests for server/remote_write.c: round trips bit for bit, canonical bytes, unknown
 * fields of every wire type, malformed protobuf (truncation at every length, lengths past
 * the enclosing message, long varints, wrong wire types, groups), snappy errors and caps.
 * Static helpers are prefixed rw_ (this file shares unit_server with other test files). */
#include "server/remote_write.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* ---- helpers ---- */

static uint64_t rw_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double rw_from_bits(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static ax_label rw_L(const char *n, const char *v) {
    ax_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

static bool rw_span_eq(const char *p, uint32_t len, const char *s) {
    return len == strlen(s) && (len == 0 || !memcmp(p, s, len));
}

/* A tiny protobuf writer for hand-built messages. */
static void rw_pb_tag(ax_buf *b, uint32_t field, int wt) {
    ax_buf_put_uvarint(b, (uint64_t)field << 3 | (uint64_t)wt);
}
static void rw_pb_varint(ax_buf *b, uint32_t field, uint64_t v) {
    rw_pb_tag(b, field, 0);
    ax_buf_put_uvarint(b, v);
}
static void rw_pb_fixed64(ax_buf *b, uint32_t field, uint64_t v) {
    rw_pb_tag(b, field, 1);
    ax_buf_put_u64le(b, v);
}
static void rw_pb_fixed32(ax_buf *b, uint32_t field, uint32_t v) {
    rw_pb_tag(b, field, 5);
    ax_buf_put_u32le(b, v);
}
static void rw_pb_bytes(ax_buf *b, uint32_t field, const void *p, size_t len) {
    rw_pb_tag(b, field, 2);
    ax_buf_put_uvarint(b, len);
    ax_buf_append(b, p, len);
}
static void rw_pb_str(ax_buf *b, uint32_t field, const char *s) { rw_pb_bytes(b, field, s, strlen(s)); }
static void rw_pb_msg(ax_buf *b, uint32_t field, ax_buf *m) { /* appends m, then resets it */
    rw_pb_bytes(b, field, m->data, m->len);
    ax_buf_reset(m);
}
/* One unknown field of every wire type, numbered from `base`. */
static void rw_pb_unknowns(ax_buf *b, uint32_t base) {
    rw_pb_varint(b, base, UINT64_MAX); /* 10-byte varint */
    rw_pb_fixed64(b, base + 1, 0x0123456789abcdefull);
    rw_pb_str(b, base + 2, "\x0a\x02zz garbage inside an unknown field");
    rw_pb_fixed32(b, base + 3, 0xdeadbeef);
    rw_pb_varint(b, 536870911, 1); /* largest field number */
}

/* Decode raw protobuf from an exact-size heap copy, so ASan sees any overread; on success
 * decode again from an arena copy, whose spans stay valid for the caller. */
static int rw_decode_raw_copy(const uint8_t *pb, size_t len, ax_arena *a, eng_ts **ts,
                              size_t *n, size_t *ns, ax_err *e) {
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, pb, len);
    int rc = srv_rw_decode_raw(copy, len, a, ts, n, ns, e);
    free(copy);
    if (rc) return rc;
    uint8_t *keep = ax_arena_dup(a, pb, len ? len : 1);
    if (!keep) return AX_ENOMEM;
    return srv_rw_decode_raw(keep, len, a, ts, n, ns, e);
}

/* Exact-size heap copy for the snappy path (the body is borrowed only during the call). */
static int rw_decode_copy(const uint8_t *body, size_t len, size_t max, ax_arena *a, eng_ts **ts,
                          size_t *n, size_t *ns, ax_err *e) {
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, body, len);
    int rc = srv_rw_decode(copy, len, max, a, ts, n, ns, e);
    free(copy);
    return rc;
}

static int rw_expect_raw_error(const ax_buf *pb, const char *needle) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = (eng_ts *)(uintptr_t)1;
    size_t n = 777, ns = 777;
    ax_err e = {0};
    int rc = rw_decode_raw_copy(pb->data, pb->len, &a, &ts, &n, &ns, &e);
    if (rc == 0) FAILF("expected an error containing \"%s\", got success", needle);
    else if (needle && !strstr(e.msg, needle))
        FAILF("expected an error containing \"%s\", got \"%s\"", needle, e.msg);
    if (n != 777 || ns != 777 || ts != (eng_ts *)(uintptr_t)1) FAILF("out params written on error");
    ax_arena_clear(&a);
    return rc;
}

/* A small valid request used by several tests: 3 series, mixed label and sample counts. */
static ax_label rw_ls0[3], rw_ls1[1], rw_ls2[2];
static eng_sample rw_ss0[2], rw_ss2[1];
static eng_ts rw_sample_req[3];
static void rw_make_sample_req(void) {
    rw_ls0[0] = rw_L("__name__", "http_requests_total");
    rw_ls0[1] = rw_L("job", "api");
    rw_ls0[2] = rw_L("instance", "10.0.0.1:9100");
    rw_ls1[0] = rw_L("__name__", "up");
    rw_ls2[0] = rw_L("z", "last");
    rw_ls2[1] = rw_L("a", "first");
    rw_ss0[0] = (eng_sample){1700000000000, 1.5};
    rw_ss0[1] = (eng_sample){1700000015000, -2.25};
    rw_ss2[0] = (eng_sample){-5, 42};
    rw_sample_req[0] = (eng_ts){rw_ls0, 3, rw_ss0, 2};
    rw_sample_req[1] = (eng_ts){rw_ls1, 1, NULL, 0};
    rw_sample_req[2] = (eng_ts){rw_ls2, 2, rw_ss2, 1};
}

static bool rw_ts_equal(const eng_ts *x, const eng_ts *y) {
    if (x->n_labels != y->n_labels || x->n_samples != y->n_samples) return false;
    for (size_t i = 0; i < x->n_labels; i++) {
        const ax_label *a = &x->labels[i], *b = &y->labels[i];
        if (a->name_len != b->name_len || a->value_len != b->value_len) return false;
        if (a->name_len && memcmp(a->name, b->name, a->name_len)) return false;
        if (a->value_len && memcmp(a->value, b->value, a->value_len)) return false;
    }
    for (size_t i = 0; i < x->n_samples; i++) {
        if (x->samples[i].ts != y->samples[i].ts) return false;
        if (rw_bits(x->samples[i].v) != rw_bits(y->samples[i].v)) return false;
    }
    return true;
}

/* ---- round trips ---- */

TEST(test_rw_roundtrip_values_bit_exact) {
    static const uint64_t vbits[] = {
        0x7ff0000000000002ull, /* Prometheus stale marker */
        0x7ff8000000000001ull, /* Prometheus NormalNaN */
        0xfff8000000000123ull, /* negative NaN with a payload */
        0x7ff0000000000000ull, /* +Inf */
        0xfff0000000000000ull, /* -Inf */
        0x8000000000000000ull, /* -0 */
        0x0000000000000000ull, /* +0 (omitted on the wire) */
        0x0000000000000001ull, /* smallest denormal */
        0x7fefffffffffffffull, /* DBL_MAX */
        0x3ff0000000000000ull, /* 1 */
    };
    static const int64_t tss[] = {0, -1, INT64_MIN, INT64_MAX, 1700000000000, 1, -1700000000000,
                                  127, 128, 1700000000000};
    enum { N = sizeof vbits / sizeof vbits[0] };
    eng_sample ss[N];
    for (size_t i = 0; i < N; i++) ss[i] = (eng_sample){tss[i], rw_from_bits(vbits[i])};
    ax_label ls[] = {rw_L("__name__", "m"), rw_L("k", "v\n\"\\ \xe2\x82\xac")};
    eng_ts in[] = {{ls, 2, ss, N}, {NULL, 0, ss + 3, 1}, {ls + 1, 1, NULL, 0}};

    ax_buf body;
    ax_buf_init(&body, 1 << 20);
    CHECK_EQ_INT(0, srv_rw_encode(&body, in, 3));
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *out = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    int rc = rw_decode_copy(body.data, body.len, 1 << 20, &a, &out, &n, &ns, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(3, n);
    CHECK_EQ_INT(N + 1, ns);
    if (!rc && n == 3) {
        for (size_t i = 0; i < 3; i++)
            if (!rw_ts_equal(&in[i], &out[i])) FAILF("series %zu differs after round trip", i);
        for (size_t i = 0; i < N && out[0].n_samples == N; i++) {
            CHECK_EQ_U64(vbits[i], rw_bits(out[0].samples[i].v));
            CHECK_EQ_INT(tss[i], out[0].samples[i].ts);
        }
        CHECK(out[1].labels == NULL && out[2].samples == NULL);
    }
    ax_arena_clear(&a);
    ax_buf_free(&body);
}

TEST(test_rw_encode_canonical_bytes) {
    /* {__name__="up"} 1 @ 1000, computed by hand from the .proto */
    static const uint8_t want[] = {
        0x0a, 0x1e,                                           /* timeseries, 30 bytes */
        0x0a, 0x0e,                                           /*  label, 14 bytes */
        0x0a, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_',   /*   name */
        0x12, 0x02, 'u', 'p',                                 /*   value */
        0x12, 0x0c,                                           /*  sample, 12 bytes */
        0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,                   /*   value 1.0 */
        0x10, 0xe8, 0x07,                                     /*   timestamp 1000 */
    };
    ax_label l = rw_L("__name__", "up");
    eng_sample s = {1000, 1.0};
    eng_ts t = {&l, 1, &s, 1};
    ax_buf b;
    ax_buf_init(&b, 1024);
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, &t, 1));
    CHECK_EQ_INT(sizeof want, b.len);
    CHECK(b.len == sizeof want && !memcmp(b.data, want, sizeof want));
    /* zero value, zero timestamp, empty strings: omitted as proto3 does */
    ax_buf_reset(&b);
    ax_label l0 = rw_L("", "");
    eng_sample s0 = {0, 0.0};
    eng_ts t0 = {&l0, 1, &s0, 1};
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, &t0, 1));
    static const uint8_t want0[] = {0x0a, 0x04, 0x0a, 0x00, 0x12, 0x00};
    CHECK(b.len == sizeof want0 && !memcmp(b.data, want0, sizeof want0));
    ax_buf_free(&b);
}

TEST(test_rw_labels_kept_as_sent) {
    /* unsorted, duplicated, empty and invalid names all pass through untouched */
    ax_label ls[] = {rw_L("zeta", "1"), rw_L("alpha", "2"), rw_L("zeta", "3"), rw_L("", "empty-name"),
                     rw_L("bad-name", ""), rw_L("__name__", "not a metric")};
    eng_ts t = {ls, 6, NULL, 0};
    ax_buf b;
    ax_buf_init(&b, 1 << 16);
    CHECK_EQ_INT(0, srv_rw_encode(&b, &t, 1));
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *out;
    size_t n = 0, ns = 9;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_rw_decode(b.data, b.len, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK_EQ_INT(1, n);
    CHECK_EQ_INT(0, ns);
    if (n == 1) {
        CHECK_EQ_INT(6, out[0].n_labels);
        CHECK(rw_ts_equal(&t, &out[0]));
        CHECK(rw_span_eq(out[0].labels[0].name, out[0].labels[0].name_len, "zeta"));
        CHECK(rw_span_eq(out[0].labels[1].name, out[0].labels[1].name_len, "alpha"));
        CHECK(rw_span_eq(out[0].labels[3].value, out[0].labels[3].value_len, "empty-name"));
    }
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

TEST(test_rw_empty_request_is_valid) {
    ax_buf b;
    ax_buf_init(&b, 64);
    CHECK_EQ_INT(0, srv_rw_encode(&b, NULL, 0));
    CHECK_EQ_INT(1, b.len); /* snappy of nothing: the length header 0 */
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *out = (eng_ts *)(uintptr_t)1;
    size_t n = 5, ns = 5;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_rw_decode(b.data, b.len, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK_EQ_INT(0, n);
    CHECK_EQ_INT(0, ns);
    n = ns = 5;
    CHECK_EQ_INT(0, srv_rw_decode_raw((const uint8_t *)"", 0, &a, &out, &n, &ns, &e));
    CHECK_EQ_INT(0, n);
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

/* ---- unknown fields ---- */

TEST(test_rw_skips_unknown_fields_everywhere) {
    ax_buf req, ts, lab, smp, tmp;
    ax_buf_init(&req, 1 << 16);
    ax_buf_init(&ts, 1 << 16);
    ax_buf_init(&lab, 1 << 16);
    ax_buf_init(&smp, 1 << 16);
    ax_buf_init(&tmp, 1 << 16);

    rw_pb_unknowns(&req, 20);
    rw_pb_varint(&req, 2, 7); /* reserved field 2 */
    rw_pb_str(&tmp, 1, "type");  /* metadata (field 3) with content */
    rw_pb_str(&tmp, 2, "http_requests_total");
    rw_pb_msg(&req, 3, &tmp);

    /* series 1: every message sprinkled with unknown fields, labels in odd order */
    rw_pb_unknowns(&lab, 3);
    rw_pb_str(&lab, 2, "b-value");
    rw_pb_unknowns(&lab, 10);
    rw_pb_str(&lab, 1, "b");
    rw_pb_unknowns(&lab, 50);
    rw_pb_unknowns(&ts, 5);
    rw_pb_msg(&ts, 1, &lab);
    rw_pb_str(&lab, 1, "__name__");
    rw_pb_str(&lab, 2, "m");
    rw_pb_msg(&ts, 1, &lab);

    rw_pb_unknowns(&smp, 3);
    rw_pb_varint(&smp, 2, 99);          /* timestamp, overridden below (last wins) */
    rw_pb_fixed64(&smp, 1, rw_bits(3.25));
    rw_pb_unknowns(&smp, 7);
    rw_pb_varint(&smp, 2, (uint64_t)(int64_t)-1234);
    rw_pb_msg(&ts, 2, &smp);

    rw_pb_str(&tmp, 1, "exemplar bytes"); /* exemplars (3), histograms (4) */
    rw_pb_msg(&ts, 3, &tmp);
    rw_pb_fixed64(&tmp, 4, 1);
    rw_pb_msg(&ts, 4, &tmp);
    rw_pb_unknowns(&ts, 100);
    rw_pb_msg(&ts, 2, &smp);           /* empty sample: 0 @ 0 */
    rw_pb_msg(&req, 1, &ts);

    rw_pb_unknowns(&req, 1000);
    rw_pb_msg(&req, 1, &ts);             /* series 2: empty TimeSeries */
    rw_pb_fixed32(&req, 9, 1);

    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *out = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    int rc = rw_decode_raw_copy(req.data, req.len, &a, &out, &n, &ns, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(2, n);
    CHECK_EQ_INT(2, ns);
    if (!rc && n == 2) {
        CHECK_EQ_INT(2, out[0].n_labels);
        CHECK_EQ_INT(2, out[0].n_samples);
        CHECK(rw_span_eq(out[0].labels[0].name, out[0].labels[0].name_len, "b"));
        CHECK(rw_span_eq(out[0].labels[0].value, out[0].labels[0].value_len, "b-value"));
        CHECK(rw_span_eq(out[0].labels[1].name, out[0].labels[1].name_len, "__name__"));
        CHECK(rw_span_eq(out[0].labels[1].value, out[0].labels[1].value_len, "m"));
        CHECK_EQ_DBL(3.25, out[0].samples[0].v);
        CHECK_EQ_INT(-1234, out[0].samples[0].ts);
        CHECK_EQ_U64(0, rw_bits(out[0].samples[1].v));
        CHECK_EQ_INT(0, out[0].samples[1].ts);
        CHECK_EQ_INT(0, out[1].n_labels);
        CHECK_EQ_INT(0, out[1].n_samples);
    }
    /* the same through snappy */
    ax_buf body;
    ax_buf_init(&body, 1 << 20);
    CHECK_EQ_INT(0, srv_rw_snappy(&body, req.data, req.len));
    n = 0;
    CHECK_EQ_INT(0, srv_rw_decode(body.data, body.len, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK_EQ_INT(2, n);
    ax_buf_free(&body);
    ax_arena_clear(&a);
    ax_buf_free(&req);
    ax_buf_free(&ts);
    ax_buf_free(&lab);
    ax_buf_free(&smp);
    ax_buf_free(&tmp);
}

/* ---- malformed protobuf ---- */

TEST(test_rw_every_truncation_fails_or_is_a_shorter_request) {
    rw_make_sample_req();
    ax_buf pb;
    ax_buf_init(&pb, 1 << 16);
    CHECK_EQ_INT(0, srv_rw_encode_raw(&pb, rw_sample_req, 3));
    /* top-level boundaries: after each complete TimeSeries */
    size_t bounds[4] = {0}, nb = 1;
    {
        const uint8_t *p = pb.data, *end = pb.data + pb.len;
        while (p < end && nb < 4) {
            uint64_t l;
            p++; /* tag 0x0a */
            CHECK_EQ_INT(0, ax_uvarint_get(&p, end, &l));
            p += l;
            bounds[nb++] = (size_t)(p - pb.data);
        }
        CHECK_EQ_INT(4, nb);
        CHECK_EQ_INT(pb.len, bounds[3]);
    }
    for (size_t k = 0; k <= pb.len; k++) {
        size_t whole = 99;
        for (size_t i = 0; i < nb; i++)
            if (bounds[i] == k) whole = i;
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *out;
        size_t n = 99, ns;
        ax_err e = {0};
        int rc = rw_decode_raw_copy(pb.data, k, &a, &out, &n, &ns, &e);
        if (whole != 99) {
            if (rc || n != whole) FAILF("cut at %zu: want %zu whole series, got rc %d n %zu (%s)", k,
                                        whole, rc, n, e.msg);
            for (size_t i = 0; !rc && i < n; i++)
                if (!rw_ts_equal(&rw_sample_req[i], &out[i])) FAILF("cut at %zu: series %zu", k, i);
        } else {
            if (rc != AX_EINVAL) FAILF("cut at %zu of %zu: want EINVAL, got %d", k, pb.len, rc);
            if (!strstr(e.msg, "protobuf: truncated")) FAILF("cut at %zu: message \"%s\"", k, e.msg);
        }
        /* the same cut, snappy-compressed */
        ax_buf body;
        ax_buf_init(&body, 1 << 16);
        CHECK_EQ_INT(0, srv_rw_snappy(&body, pb.data, k));
        int rc2 = rw_decode_copy(body.data, body.len, 1 << 20, &a, &out, &n, &ns, &e);
        if (rc2 != rc) FAILF("cut at %zu: raw rc %d, snappy rc %d", k, rc, rc2);
        ax_buf_free(&body);
        ax_arena_clear(&a);
    }
    ax_buf_free(&pb);
}

TEST(test_rw_truncation_message_names_message_and_byte) {
    /* second TimeSeries claims 50 bytes, 3 remain */
    ax_buf b;
    ax_buf_init(&b, 1024);
    static const uint8_t pb[] = {0x0a, 0x00, 0x0a, 0x32, 0x0a, 0x01, 0x00};
    ax_buf_append(&b, pb, sizeof pb);
    rw_expect_raw_error(&b, "protobuf: truncated TimeSeries at byte 2");
    ax_buf_free(&b);
}

TEST(test_rw_lengths_past_the_enclosing_message) {
    ax_buf b;
    ax_buf_init(&b, 1024);
    /* Label length 10 inside a 4-byte TimeSeries, with plenty of buffer after it */
    static const uint8_t lab_over[] = {0x0a, 0x04, 0x0a, 0x0a, 0x0a, 0x00,
                                       0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00};
    ax_buf_append(&b, lab_over, sizeof lab_over);
    rw_expect_raw_error(&b, "truncated Label at byte 2");
    /* name length past the Label's end (but inside the TimeSeries) */
    ax_buf_reset(&b);
    static const uint8_t name_over[] = {0x0a, 0x04, 0x0a, 0x02, 0x0a, 0x05,
                                        0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00};
    ax_buf_append(&b, name_over, sizeof name_over);
    rw_expect_raw_error(&b, "truncated Label at byte 4");
    /* sample value fixed64 cut by the Sample's length */
    ax_buf_reset(&b);
    static const uint8_t val_over[] = {0x0a, 0x06, 0x12, 0x04, 0x09, 1, 2, 3, 0x0a, 0x00, 0x0a, 0x00};
    ax_buf_append(&b, val_over, sizeof val_over);
    rw_expect_raw_error(&b, "truncated Sample at byte 4");
    /* a length varint of 2^63 */
    ax_buf_reset(&b);
    static const uint8_t huge[] = {0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    ax_buf_append(&b, huge, sizeof huge);
    rw_expect_raw_error(&b, "truncated TimeSeries at byte 0");
    /* unknown length-delimited field past the end */
    ax_buf_reset(&b);
    static const uint8_t unk[] = {0x2a, 0x05, 0x00};
    ax_buf_append(&b, unk, sizeof unk);
    rw_expect_raw_error(&b, "truncated WriteRequest at byte 0");
    ax_buf_free(&b);
}

TEST(test_rw_overlong_varints) {
    ax_buf b;
    ax_buf_init(&b, 1024);
    static const uint8_t eleven[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    /* as a tag */
    ax_buf_append(&b, eleven, sizeof eleven);
    rw_expect_raw_error(&b, "varint longer than 10 bytes in WriteRequest at byte 0");
    /* as a timestamp */
    ax_buf_reset(&b);
    static const uint8_t head[] = {0x0a, 0x0e, 0x12, 0x0c, 0x10};
    ax_buf_append(&b, head, sizeof head);
    ax_buf_append(&b, eleven, sizeof eleven);
    rw_expect_raw_error(&b, "varint longer than 10 bytes in Sample at byte 4");
    /* as an unknown varint field; and 10 bytes that overflow 64 bits */
    ax_buf_reset(&b);
    static const uint8_t unk[] = {0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    ax_buf_append(&b, unk, sizeof unk);
    rw_expect_raw_error(&b, "varint longer than 10 bytes in WriteRequest");
    /* a length of 11 bytes */
    ax_buf_reset(&b);
    ax_buf_put_u8(&b, 0x0a);
    ax_buf_append(&b, eleven, sizeof eleven);
    rw_expect_raw_error(&b, "varint longer than 10 bytes");
    /* 10 bytes ending in 0x01 are fine: INT64_MIN timestamp */
    ax_buf_reset(&b);
    static const uint8_t ok[] = {0x0a, 0x0d, 0x12, 0x0b, 0x10, 0x80, 0x80, 0x80, 0x80,
                                 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    ax_buf_append(&b, ok, sizeof ok);
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *out;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    CHECK_EQ_INT(0, rw_decode_raw_copy(b.data, b.len, &a, &out, &n, &ns, &e));
    CHECK_EQ_INT(1, ns);
    if (ns == 1) CHECK(out[0].samples[0].ts == INT64_MIN);
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

TEST(test_rw_wrong_wire_types_groups_and_bad_tags) {
    ax_buf b;
    ax_buf_init(&b, 1024);
    struct { const char *bytes; size_t len; const char *msg; } cases[] = {
        {"\x08\x01", 2, "field 1 of WriteRequest at byte 0 has wire type 0, want 2"},
        {"\x0a\x09\x09\x01\x02\x03\x04\x05\x06\x07\x08", 11,
         "field 1 of TimeSeries at byte 2 has wire type 1, want 2"},
        {"\x0a\x02\x2d\x00", 4, "truncated TimeSeries at byte 2"}, /* unknown fixed32, cut */
        {"\x0a\x05\x15\x00\x00\x00\x00", 7, "field 2 of TimeSeries at byte 2 has wire type 5"},
        {"\x0a\x04\x0a\x02\x08\x05", 6, "field 1 of Label at byte 4 has wire type 0, want 2"},
        {"\x0a\x04\x0a\x02\x10\x05", 6, "field 2 of Label at byte 4 has wire type 0, want 2"},
        {"\x0a\x04\x12\x02\x08\x05", 6, "field 1 of Sample at byte 4 has wire type 0, want 1"},
        {"\x0a\x0b\x12\x09\x11\x01\x02\x03\x04\x05\x06\x07\x08", 13,
         "field 2 of Sample at byte 4 has wire type 1, want 0"},
        {"\x0b\x0c", 2, "group (wire type 3) in WriteRequest at byte 0"},
        {"\x0a\x02\x1c\x00", 4, "group (wire type 4) in TimeSeries at byte 2"},
        {"\x0a\x04\x12\x02\x13\x14", 6, "group (wire type 3) in Sample at byte 4"},
        {"\x0a\x04\x0a\x02\x1b\x1c", 6, "group (wire type 3) in Label at byte 4"},
        {"\x0e\x00", 2, "invalid wire type 6 in WriteRequest at byte 0"},
        {"\x0a\x02\x0f\x00", 4, "invalid wire type 7 in TimeSeries at byte 2"},
        {"\x02\x00", 2, "invalid field number 0 in WriteRequest at byte 0"},
        {"\x0a\x04\x12\x02\x00\x00", 6, "invalid field number 0 in Sample at byte 4"},
        {"\x0a\x06\x12\x04\x80\x80\x80\x80", 8, "truncated Sample"},
        {"\x0a\x08\x0a\x06\x80\x80\x80\x80\x80\x02", 10, "invalid field number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ax_buf_reset(&b);
        ax_buf_append(&b, cases[i].bytes, cases[i].len);
        if (rw_expect_raw_error(&b, cases[i].msg) != AX_EINVAL) FAILF("case %zu: not EINVAL", i);
    }
    ax_buf_free(&b);
}

/* ---- caps ---- */

TEST(test_rw_label_count_and_size_caps) {
    ax_label ls[AX_MAX_LABELS + 1];
    char names[AX_MAX_LABELS + 1][8];
    for (int i = 0; i <= AX_MAX_LABELS; i++) {
        snprintf(names[i], sizeof names[i], "l%d", i);
        ls[i] = rw_L(names[i], "v");
    }
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    ax_arena a;
    ax_arena_init(&a, 4 << 20);
    eng_ts *out;
    size_t n = 0, ns;
    ax_err e = {0};
    eng_ts t = {ls, AX_MAX_LABELS, NULL, 0};
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, &t, 1));
    CHECK_EQ_INT(0, rw_decode_raw_copy(b.data, b.len, &a, &out, &n, &ns, &e));
    CHECK(n == 1 && out[0].n_labels == AX_MAX_LABELS);
    ax_buf_reset(&b);
    t.n_labels = AX_MAX_LABELS + 1;
    eng_ts two[2] = {{ls, 1, NULL, 0}, t};
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, two, 2));
    rw_expect_raw_error(&b, "series 1 (byte 11) has more than 64 labels");

    /* name of AX_MAX_LABEL_NAME bytes is fine, one more is not; same for values */
    char *big = malloc(AX_MAX_LABEL_VALUE + 2);
    memset(big, 'x', AX_MAX_LABEL_VALUE + 1);
    big[AX_MAX_LABEL_VALUE + 1] = 0;
    ax_label l = {big, "v", AX_MAX_LABEL_NAME, 1};
    eng_ts t1 = {&l, 1, NULL, 0};
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, &t1, 1));
    CHECK_EQ_INT(0, rw_decode_raw_copy(b.data, b.len, &a, &out, &n, &ns, &e));
    l.name_len++;
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, &t1, 1));
    rw_expect_raw_error(&b, "label name of 257 bytes at series 0");
    l = (ax_label){"n", big, 1, AX_MAX_LABEL_VALUE};
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, &t1, 1));
    CHECK_EQ_INT(0, rw_decode_raw_copy(b.data, b.len, &a, &out, &n, &ns, &e));
    l.value_len++;
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, srv_rw_encode_raw(&b, &t1, 1));
    rw_expect_raw_error(&b, "label value of 16385 bytes at series 0");
    free(big);
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

TEST(test_rw_declared_length_over_cap_allocates_nothing) {
    ax_buf b;
    ax_buf_init(&b, 1024);
    ax_buf_put_uvarint(&b, 90u << 20); /* claims 90 MB */
    ax_buf_append(&b, "\x00\x01\x02\x03", 4);
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *out;
    size_t n = 7, ns = 7;
    ax_err e = {0};
    CHECK_EQ_INT(AX_ETOOBIG, srv_rw_decode(b.data, b.len, 32u << 20, &a, &out, &n, &ns, &e));
    CHECK_EQ_STR("snappy: decoded length 90 MB exceeds 32 MB", e.msg);
    CHECK_EQ_INT(0, a.used);
    CHECK_EQ_INT(7, n);
    /* under the cap but over the arena budget: ETOOBIG too, still nothing allocated */
    CHECK_EQ_INT(AX_ETOOBIG, srv_rw_decode(b.data, b.len, 128u << 20, &a, &out, &n, &ns, &e));
    CHECK(strstr(e.msg, "request budget") != NULL);
    CHECK_EQ_INT(0, a.used);
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

TEST(test_rw_arena_budget_bounds_samples) {
    /* 2000 series of one sample decode in 1 MB, not in 64 KB */
    enum { N = 2000 };
    static ax_label ls[N];
    static eng_sample ss[N];
    static eng_ts in[N];
    static char vals[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        ls[i] = rw_L("i", vals[i]);
        ss[i] = (eng_sample){i, i};
        in[i] = (eng_ts){&ls[i], 1, &ss[i], 1};
    }
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    CHECK_EQ_INT(0, srv_rw_encode(&b, in, N));
    ax_arena a;
    ax_arena_init(&a, 64 << 10);
    eng_ts *out = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    CHECK_EQ_INT(AX_ETOOBIG, srv_rw_decode(b.data, b.len, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK(out == NULL && n == 0);
    ax_arena_clear(&a);
    ax_arena_init(&a, 1 << 20);
    CHECK_EQ_INT(0, srv_rw_decode(b.data, b.len, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK_EQ_INT(N, n);
    CHECK_EQ_INT(N, ns);
    for (int i = 0; i < N && n == N; i++)
        if (!rw_ts_equal(&in[i], &out[i])) { FAILF("series %d differs", i); break; }
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

/* ---- snappy errors ---- */

TEST(test_rw_not_snappy_and_corrupt_snappy) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *out;
    size_t n, ns;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy(NULL, 0, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK_EQ_STR("snappy: empty body", e.msg);
    static const uint8_t badhdr[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy(badhdr, sizeof badhdr, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK(strstr(e.msg, "not snappy") != NULL);
    static const uint8_t framed[] = {0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y', 0x01};
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy(framed, sizeof framed, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK(strstr(e.msg, "framed") != NULL);
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff};
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy(gz, sizeof gz, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK(strstr(e.msg, "gzip") != NULL);
    /* a plausible header and garbage: plain text, a copy reaching before the start */
    const char *text = "hello, this is not snappy";
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy((const uint8_t *)text, strlen(text), 1 << 20, &a, &out,
                                           &n, &ns, &e));
    CHECK(strstr(e.msg, "snappy: corrupt") != NULL);
    static const uint8_t backref[] = {0x08, 0x05, 0x10, 0x00}; /* copy offset 16 of nothing */
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy(backref, sizeof backref, 1 << 20, &a, &out, &n, &ns, &e));
    /* a valid snappy body whose declared length disagrees with its content */
    ax_buf b;
    ax_buf_init(&b, 1 << 16);
    CHECK_EQ_INT(0, srv_rw_snappy(&b, (const uint8_t *)"abcdef", 6));
    b.data[0] = 9;
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy(b.data, b.len, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK(strstr(e.msg, "snappy: corrupt") != NULL);
    /* snappy of garbage: snappy is fine, the protobuf is not */
    ax_buf_reset(&b);
    static const uint8_t junk[] = {0x0a, 0xff, 0x0f, 0x99, 0x13, 0x27};
    CHECK_EQ_INT(0, srv_rw_snappy(&b, junk, sizeof junk));
    CHECK_EQ_INT(AX_EINVAL, rw_decode_copy(b.data, b.len, 1 << 20, &a, &out, &n, &ns, &e));
    CHECK(strstr(e.msg, "protobuf: truncated TimeSeries at byte 0") != NULL);
    /* a truncated snappy body */
    rw_make_sample_req();
    ax_buf_reset(&b);
    CHECK_EQ_INT(0, srv_rw_encode(&b, rw_sample_req, 3));
    for (size_t k = 1; k < b.len; k++) {
        int rc = rw_decode_copy(b.data, k, 1 << 20, &a, &out, &n, &ns, &e);
        if (rc != AX_EINVAL) FAILF("snappy cut at %zu of %zu: rc %d", k, b.len, rc);
    }
    ax_buf_free(&b);
    ax_arena_clear(&a);
}

TEST(test_rw_encode_respects_buffer_ceiling) {
    rw_make_sample_req();
    ax_buf b;
    ax_buf_init(&b, 16);
    CHECK_EQ_INT(AX_ETOOBIG, srv_rw_encode_raw(&b, rw_sample_req, 3));
    CHECK_EQ_INT(0, b.len);
    CHECK_EQ_INT(AX_ETOOBIG, srv_rw_encode(&b, rw_sample_req, 3));
    CHECK_EQ_INT(0, b.len);
    ax_buf_free(&b);
}

TEST(test_rw_label_bodies_table) {
    struct { const char *body; size_t len; int rc; const char *name, *value; } cases[] = {
        {"\x0a\x01n\x12\x01v", 6, 0, "n", "v"},          /* the usual shape */
        {"\x0a\x00\x12\x00", 4, 0, "", ""},              /* explicit empty strings */
        {"", 0, 0, "", ""},                              /* all fields absent */
        {"\x12\x01v\x0a\x01n", 6, 0, "n", "v"},          /* value first */
        {"\x0a\x01n\x12\x01v\x18\x01", 8, 0, "n", "v"},  /* trailing unknown field */
        {"\x0a\x01n\x12\x01v\x12\x01w", 9, 0, "n", "w"}, /* repeated: last wins */
        {"\x0a\x01n\x0a\x01m", 6, 0, "m", ""},
        {"\x0a\x01n", 3, 0, "n", ""},
        {"\x0a\x01n\x12", 4, AX_EINVAL, NULL, NULL},
        {"\x0a\x01n\x12\x02v", 6, AX_EINVAL, NULL, NULL},
        {"\x0a\x05n\x12\x01v", 6, AX_EINVAL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ax_buf lab, ts, req;
        ax_buf_init(&lab, 1024);
        ax_buf_init(&ts, 1024);
        ax_buf_init(&req, 1024);
        ax_buf_append(&lab, cases[i].body, cases[i].len);
        rw_pb_msg(&ts, 1, &lab);
        rw_pb_msg(&req, 1, &ts);
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *out;
        size_t n = 0, ns = 0;
        ax_err e = {0};
        int rc = rw_decode_raw_copy(req.data, req.len, &a, &out, &n, &ns, &e);
        if (rc != cases[i].rc) FAILF("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, e.msg);
        if (!rc && !cases[i].rc) {
            if (n != 1 || out[0].n_labels != 1) FAILF("case %zu: want one label", i);
            else if (!rw_span_eq(out[0].labels[0].name, out[0].labels[0].name_len, cases[i].name) ||
                     !rw_span_eq(out[0].labels[0].value, out[0].labels[0].value_len, cases[i].value))
                FAILF("case %zu: got %.*s=%.*s", i, (int)out[0].labels[0].name_len,
                      out[0].labels[0].name, (int)out[0].labels[0].value_len, out[0].labels[0].value);
        }
        ax_arena_clear(&a);
        ax_buf_free(&lab);
        ax_buf_free(&ts);
        ax_buf_free(&req);
    }
}
