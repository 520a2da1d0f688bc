/* Unit tests for server/remote_read.c (and the shared helpers of server/pb.c).
 *
 * Requests are encoded here by hand (a few protobuf writers below, independent of the
 * code under test); answers are decoded here by hand too. Checked: every matcher type and
 * field, hints and unknown fields of every wire type skipped, packed and unpacked response
 * types, negotiation, truncation at every byte, malformed input with its message, the
 * caps (queries, matchers, decoded size, series, samples, answer bytes), execution against
 * an engine in a temp folder (inclusive range, anchored regexes, stale markers bit for
 * bit, two queries in order, series sorted), and the route end to end through the HTTP
 * parser hook: status, headers, snappy body, errors in Prometheus' shape. */
#include "engine/engine.h"
#include "server/app.h"
#include "server/pb.h"
#include "server/remote_read.h"
#include "test.h"

#include <math.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- protobuf writers (test side) ---- */

static void w_varint(ax_buf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    ax_buf_append(b, tmp, n);
}
static void w_tag(ax_buf *b, uint32_t field, int wt) { w_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }
static void w_bytes(ax_buf *b, uint32_t field, const void *p, size_t len) {
    w_tag(b, field, 2);
    w_varint(b, len);
    ax_buf_append(b, p, len);
}
static void w_str(ax_buf *b, uint32_t field, const char *s) { w_bytes(b, field, s, strlen(s)); }
static void w_msg(ax_buf *b, uint32_t field, const ax_buf *m) { w_bytes(b, field, m->data, m->len); }
static void w_int(ax_buf *b, uint32_t field, int64_t v) {
    w_tag(b, field, 0);
    w_varint(b, (uint64_t)v);
}

/* LabelMatcher { type, name, value } */
static void w_matcher(ax_buf *q, int type, const char *name, const char *value) {
    ax_buf m;
    ax_buf_init(&m, 1 << 20);
    if (type) w_int(&m, 1, type);
    w_str(&m, 2, name);
    w_str(&m, 3, value);
    w_msg(q, 3, &m);
    ax_buf_free(&m);
}

/* A Query with start, end and up to 4 matchers given as (type, name, value) triples. */
typedef struct t_match {
    int type;
    const char *name, *value;
} t_match;
static void w_query(ax_buf *rq, int64_t start, int64_t end, const t_match *ms, size_t n) {
    ax_buf q;
    ax_buf_init(&q, 1 << 20);
    w_int(&q, 1, start);
    w_int(&q, 2, end);
    for (size_t i = 0; i < n; i++) w_matcher(&q, ms[i].type, ms[i].name, ms[i].value);
    w_msg(rq, 1, &q);
    ax_buf_free(&q);
}

static ax_buf snappy_of(const ax_buf *raw) {
    ax_buf z;
    ax_buf_init(&z, 64u << 20);
    size_t olen = snappy_max_compressed_length(raw->len);
    ax_buf_reserve(&z, olen);
    snappy_compress((const char *)raw->data, raw->len, (char *)z.data, &olen);
    z.len = olen;
    return z;
}

/* ---- ReadResponse decoder (test side) ---- */

#define T_MAX_SERIES 16
#define T_MAX_SAMPLES 64
typedef struct t_series {
    char labels[512]; /* "name=value,name=value" in wire order */
    int64_t ts[T_MAX_SAMPLES];
    uint64_t bits[T_MAX_SAMPLES];
    size_t n;
} t_series;
typedef struct t_result {
    t_series s[T_MAX_SERIES];
    size_t n;
} t_result;

static bool r_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int sh = 0; sh < 70 && *p < end; sh += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* Decode a ReadResponse protobuf into res[0..cap). Returns the number of results or -1. */
static int decode_response(const uint8_t *p, size_t len, t_result *res, size_t cap) {
    const uint8_t *end = p + len;
    size_t nr = 0;
    while (p < end) {
        uint64_t tag, l;
        if (!r_varint(&p, end, &tag) || tag != 0x0a || !r_varint(&p, end, &l) || l > (uint64_t)(end - p) || nr == cap)
            return -1;
        t_result *r = &res[nr++];
        memset(r, 0, sizeof *r);
        const uint8_t *qe = p + l;
        while (p < qe) {
            uint64_t st, sl;
            if (!r_varint(&p, qe, &st) || st != 0x0a || !r_varint(&p, qe, &sl) || sl > (uint64_t)(qe - p) ||
                r->n == T_MAX_SERIES)
                return -1;
            t_series *s = &r->s[r->n++];
            const uint8_t *se = p + sl;
            size_t lo = 0;
            while (p < se) {
                uint64_t ft, fl;
                if (!r_varint(&p, se, &ft) || !r_varint(&p, se, &fl) || fl > (uint64_t)(se - p)) return -1;
                const uint8_t *fe = p + fl;
                if (ft == 0x0a) { /* Label */
                    char name[256] = "", value[256] = "";
                    while (p < fe) {
                        uint64_t lt, ll;
                        if (!r_varint(&p, fe, &lt) || !r_varint(&p, fe, &ll) || ll > (uint64_t)(fe - p) || ll > 255)
                            return -1;
                        memcpy(lt == 0x0a ? name : value, p, ll);
                        (lt == 0x0a ? name : value)[ll] = 0;
                        p += ll;
                    }
                    lo += (size_t)snprintf(s->labels + lo, sizeof s->labels - lo, "%s%s=%s", lo ? "," : "",
                                           name, value);
                } else if (ft == 0x12) { /* Sample */
                    if (s->n == T_MAX_SAMPLES) return -1;
                    uint64_t bits = 0, t = 0;
                    while (p < fe) {
                        uint64_t k;
                        if (!r_varint(&p, fe, &k)) return -1;
                        if (k == 0x09 && fe - p >= 8) {
                            bits = ax_get_u64le(p);
                            p += 8;
                        } else if (k == 0x10) {
                            if (!r_varint(&p, fe, &t)) return -1;
                        } else {
                            return -1;
                        }
                    }
                    s->ts[s->n] = (int64_t)t;
                    s->bits[s->n++] = bits;
                } else {
                    return -1;
                }
                p = fe;
            }
        }
    }
    return (int)nr;
}

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

#define STALE_BITS 0x7ff0000000000002ULL

/* ---- decode ---- */

TEST(test_rr_decode_all_fields_and_matcher_types) {
    ax_buf rq, q, m, hints;
    ax_buf_init(&rq, 1 << 20);
    ax_buf_init(&q, 1 << 20);
    ax_buf_init(&m, 1 << 20);
    ax_buf_init(&hints, 1 << 20);
    /* unknown fields of every wire type before, between and after known ones */
    w_tag(&rq, 9, 0), w_varint(&rq, 300);
    w_int(&q, 1, -5);                  /* negative start: 10-byte varint */
    w_int(&q, 2, 1700000000000LL);
    w_matcher(&q, 0, "__name__", "up");
    w_matcher(&q, 1, "job", "x");
    w_matcher(&q, 2, "instance", "a.*");
    /* NRE, with fields in reverse order and unknown fields inside */
    w_str(&m, 3, "b|c");
    w_tag(&m, 7, 1), ax_buf_append(&m, "\1\2\3\4\5\6\7\10", 8);
    w_str(&m, 2, "zone");
    w_tag(&m, 8, 5), ax_buf_append(&m, "\1\2\3\4", 4);
    w_int(&m, 1, 3);
    w_msg(&q, 3, &m);
    /* hints { step_ms = 1; func = 2; start_ms = 3; end_ms = 4 }, skipped */
    w_int(&hints, 1, 15000);
    w_str(&hints, 2, "rate");
    w_int(&hints, 3, 1);
    w_int(&hints, 4, 2);
    w_msg(&q, 4, &hints);
    w_str(&q, 12, "unknown string");
    w_msg(&rq, 1, &q);
    w_tag(&rq, 10, 5), ax_buf_append(&rq, "abcd", 4);
    w_tag(&rq, 2, 0), w_varint(&rq, 1);      /* unpacked STREAMED_XOR_CHUNKS */
    w_bytes(&rq, 2, "\0\1", 2);               /* packed SAMPLES, STREAMED_XOR_CHUNKS */
    w_query(&rq, 10, 20, (t_match[]){{0, "a", "b"}}, 1);

    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_rr_request r;
    ax_err e = {0};
    int rc = srv_rr_decode_raw(rq.data, rq.len, &a, &r, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    if (!rc) {
        CHECK_EQ_INT(2, r.n_q);
        CHECK_EQ_INT(-5, r.q[0].start_ms);
        CHECK_EQ_INT(1700000000000LL, r.q[0].end_ms);
        CHECK_EQ_INT(4, r.q[0].n_m);
        int ops[4] = {ENG_MATCH_EQ, ENG_MATCH_NEQ, ENG_MATCH_RE, ENG_MATCH_NRE};
        const char *names[4] = {"__name__", "job", "instance", "zone"};
        const char *values[4] = {"up", "x", "a.*", "b|c"};
        for (int i = 0; i < 4 && r.q[0].n_m == 4; i++) {
            const eng_matcher *mm = &r.q[0].m[i];
            CHECK_EQ_INT(ops[i], mm->op);
            CHECK(mm->name_len == strlen(names[i]) && !memcmp(mm->name, names[i], mm->name_len));
            CHECK(mm->value_len == strlen(values[i]) && !memcmp(mm->value, values[i], mm->value_len));
        }
        CHECK_EQ_INT(10, r.q[1].start_ms);
        CHECK_EQ_INT(20, r.q[1].end_ms);
        CHECK_EQ_INT(1, r.q[1].n_m);
        CHECK_EQ_INT(3, r.n_types);
        CHECK_EQ_INT(1, r.types[0]);
        CHECK_EQ_INT(0, r.types[1]);
        CHECK_EQ_INT(1, r.types[2]);
        CHECK_EQ_INT(0, srv_rr_negotiate(&r, &e)); /* SAMPLES is in the list */
    }
    ax_arena_clear(&a);
    ax_buf_free(&rq), ax_buf_free(&q), ax_buf_free(&m), ax_buf_free(&hints);
}

TEST(test_rr_decode_empty_request_and_snappy) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_rr_request r;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_rr_decode_raw((const uint8_t *)"", 0, &a, &r, &e));
    CHECK_EQ_INT(0, r.n_q);
    CHECK_EQ_INT(0, r.n_types);
    CHECK_EQ_INT(0, srv_rr_negotiate(&r, &e)); /* no types: SAMPLES */
    /* through snappy */
    ax_buf rq;
    ax_buf_init(&rq, 1 << 20);
    w_query(&rq, 1, 2, (t_match[]){{0, "__name__", "m"}}, 1);
    ax_buf z = snappy_of(&rq);
    CHECK_EQ_INT(0, srv_rr_decode(z.data, z.len, 1 << 20, &a, &r, &e));
    CHECK_EQ_INT(1, r.n_q);
    /* errors: empty body, not snappy, gzip, over the decoded cap */
    CHECK_EQ_INT(AX_EINVAL, srv_rr_decode((const uint8_t *)"", 0, 1 << 20, &a, &r, &e));
    CHECK_EQ_STR("snappy: empty body", e.msg);
    CHECK_EQ_INT(AX_EINVAL, srv_rr_decode((const uint8_t *)"\xff\xff\xff\xff\xff\xff", 6, 1 << 20, &a, &r, &e));
    CHECK(strstr(e.msg, "snappy") != NULL);
    CHECK_EQ_INT(AX_EINVAL, srv_rr_decode((const uint8_t *)"\x1f\x8b\x08\x00", 4, 1 << 20, &a, &r, &e));
    CHECK(strstr(e.msg, "gzip") != NULL);
    static const uint8_t framed[] = {0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y', 0x01};
    CHECK_EQ_INT(AX_EINVAL, srv_rr_decode(framed, sizeof framed, 1 << 20, &a, &r, &e));
    CHECK(strstr(e.msg, "remote read uses the block format") != NULL);
    /* declared length 90 MB, nothing behind it: refused before any allocation */
    static const uint8_t huge[] = {0x80, 0x80, 0x80, 0x2d};
    size_t used = a.used;
    CHECK_EQ_INT(AX_ETOOBIG, srv_rr_decode(huge, sizeof huge, 32u << 20, &a, &r, &e));
    CHECK_EQ_STR("snappy: decoded length 90 MB exceeds 32 MB", e.msg);
    CHECK_EQ_INT(used, a.used);
    /* a truncated snappy body */
    CHECK_EQ_INT(AX_EINVAL, srv_rr_decode(z.data, z.len - 1, 1 << 20, &a, &r, &e));
    CHECK(strstr(e.msg, "snappy: corrupt") != NULL);
    ax_arena_clear(&a);
    ax_buf_free(&rq);
    ax_buf_free(&z);
}

TEST(test_rr_decode_truncated_at_every_byte) {
    ax_buf rq;
    ax_buf_init(&rq, 1 << 20);
    w_query(&rq, 1000, 2000, (t_match[]){{0, "__name__", "metric"}, {2, "job", "node.*"}}, 2);
    w_query(&rq, -1, 1LL << 40, (t_match[]){{3, "x", "y"}}, 1);
    w_bytes(&rq, 2, "\0", 1);
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_rr_request r;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_rr_decode_raw(rq.data, rq.len, &a, &r, &e));
    size_t ok = 0;
    for (size_t cut = 0; cut < rq.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        memcpy(copy, rq.data, cut);
        e.msg[0] = 0;
        int rc = srv_rr_decode_raw(copy, cut, &a, &r, &e);
        if (rc == 0) ok++;
        else if (rc != AX_EINVAL || !strstr(e.msg, "protobuf: ")) FAILF("cut %zu: rc %d \"%s\"", cut, rc, e.msg);
        free(copy);
    }
    /* only the cuts at the boundaries of top-level fields decode: 0 and after each query */
    CHECK_EQ_INT(3, ok);
    CHECK_EQ_INT(AX_EINVAL, srv_rr_decode_raw(rq.data, 5, &a, &r, &e));
    CHECK_EQ_STR("protobuf: truncated Query at byte 0", e.msg);
    ax_arena_clear(&a);
    ax_buf_free(&rq);
}

/* Decode raw protobuf bytes; returns rc, message in e. */
static int dec(const void *p, size_t len, srv_rr_request *r, ax_err *e) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, p, len);
    int rc = srv_rr_decode_raw(copy, len, &a, r, e);
    free(copy);
    ax_arena_clear(&a);
    return rc;
}

TEST(test_rr_decode_malformed_messages) {
    srv_rr_request r;
    ax_err e = {0};
    /* a group at top level */
    CHECK_EQ_INT(AX_EINVAL, dec("\x0b", 1, &r, &e));
    CHECK(strstr(e.msg, "group") != NULL);
    /* wire type 7 */
    CHECK_EQ_INT(AX_EINVAL, dec("\x0f", 1, &r, &e));
    CHECK(strstr(e.msg, "invalid wire type 7") != NULL);
    /* field number 0 */
    CHECK_EQ_INT(AX_EINVAL, dec("\x00\x00", 2, &r, &e));
    CHECK(strstr(e.msg, "invalid field number 0") != NULL);
    /* queries as a varint */
    CHECK_EQ_INT(AX_EINVAL, dec("\x08\x01", 2, &r, &e));
    CHECK_EQ_STR("protobuf: field 1 of ReadRequest at byte 0 has wire type 0, want 2", e.msg);
    /* start_timestamp_ms as a string */
    CHECK_EQ_INT(AX_EINVAL, dec("\x0a\x03\x0a\x01x", 5, &r, &e));
    CHECK_EQ_STR("protobuf: field 1 of Query at byte 2 has wire type 2, want 0", e.msg);
    /* an 11-byte varint */
    CHECK_EQ_INT(AX_EINVAL, dec("\x0a\x0c\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 14, &r, &e));
    CHECK(strstr(e.msg, "varint longer than 10 bytes") != NULL);
    /* matcher type 7 */
    ax_buf rq;
    ax_buf_init(&rq, 1 << 20);
    w_query(&rq, 0, 1, (t_match[]){{7, "a", "b"}}, 1);
    CHECK_EQ_INT(AX_EINVAL, dec(rq.data, rq.len, &r, &e));
    CHECK(strstr(e.msg, "unknown matcher type 7") != NULL);
    /* a matcher name over AX_MAX_LABEL_NAME */
    ax_buf_reset(&rq);
    char longname[AX_MAX_LABEL_NAME + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    w_query(&rq, 0, 1, (t_match[]){{0, longname, "b"}}, 1);
    CHECK_EQ_INT(AX_EINVAL, dec(rq.data, rq.len, &r, &e));
    CHECK(strstr(e.msg, "matcher name of 257 bytes") != NULL);
    /* more than SRV_RR_MAX_QUERIES queries */
    ax_buf_reset(&rq);
    for (int i = 0; i <= SRV_RR_MAX_QUERIES; i++) w_query(&rq, 0, 1, (t_match[]){{0, "a", "b"}}, 1);
    CHECK_EQ_INT(AX_EINVAL, dec(rq.data, rq.len, &r, &e));
    CHECK(strstr(e.msg, "more than 100 queries") != NULL);
    /* exactly SRV_RR_MAX_QUERIES is fine */
    ax_buf_reset(&rq);
    for (int i = 0; i < SRV_RR_MAX_QUERIES; i++) w_query(&rq, 0, 1, (t_match[]){{0, "a", "b"}}, 1);
    CHECK_EQ_INT(0, dec(rq.data, rq.len, &r, &e));
    /* more than SRV_RR_MAX_MATCHERS matchers in one query */
    ax_buf_reset(&rq);
    ax_buf q;
    ax_buf_init(&q, 1 << 20);
    for (int i = 0; i <= SRV_RR_MAX_MATCHERS; i++) w_matcher(&q, 0, "a", "b");
    w_msg(&rq, 1, &q);
    CHECK_EQ_INT(AX_EINVAL, dec(rq.data, rq.len, &r, &e));
    CHECK(strstr(e.msg, "more than 64 matchers") != NULL);
    /* too many response types */
    ax_buf_reset(&rq);
    for (int i = 0; i <= SRV_RR_MAX_TYPES; i++) w_int(&rq, 2, 1);
    CHECK_EQ_INT(AX_EINVAL, dec(rq.data, rq.len, &r, &e));
    CHECK(strstr(e.msg, "accepted response types") != NULL);
    /* a packed list cut inside a varint */
    CHECK_EQ_INT(AX_EINVAL, dec("\x12\x01\x80", 3, &r, &e));
    CHECK(strstr(e.msg, "truncated ReadRequest") != NULL);
    ax_buf_free(&q);
    ax_buf_free(&rq);
}

TEST(test_rr_negotiate_response_types) {
    srv_rr_request r;
    memset(&r, 0, sizeof r);
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_rr_negotiate(&r, &e));
    r.n_types = 1, r.types[0] = SRV_RR_STREAMED_XOR_CHUNKS;
    CHECK_EQ_INT(AX_EINVAL, srv_rr_negotiate(&r, &e));
    CHECK_EQ_STR("none of the accepted response types [STREAMED_XOR_CHUNKS] is supported: this "
                 "server answers only SAMPLES (0)", e.msg);
    r.n_types = 2, r.types[1] = 9;
    CHECK_EQ_INT(AX_EINVAL, srv_rr_negotiate(&r, &e));
    CHECK(strstr(e.msg, "[STREAMED_XOR_CHUNKS, 9]") != NULL);
    r.n_types = 3, r.types[2] = SRV_RR_SAMPLES;
    CHECK_EQ_INT(0, srv_rr_negotiate(&r, &e));
}

TEST(test_rr_request_encode_round_trip) {
    eng_matcher m[3] = {
        {.op = ENG_MATCH_EQ, .name = "__name__", .name_len = 8, .value = "up", .value_len = 2},
        {.op = ENG_MATCH_NRE, .name = "job", .name_len = 3, .value = "a|b", .value_len = 3},
        {.op = ENG_MATCH_NEQ, .name = "x", .name_len = 1, .value = "", .value_len = 0},
    };
    srv_rr_query q[2] = {{-7, INT64_MAX, m, 3}, {0, 0, m + 1, 1}};
    srv_rr_request rq = {.q = q, .n_q = 2, .types = {1, 0}, .n_types = 2};
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    CHECK_EQ_INT(0, srv_rr_request_encode(&b, &rq));
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_rr_request out;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_rr_decode_raw(b.data, b.len, &a, &out, &e));
    CHECK_EQ_INT(2, out.n_q);
    CHECK_EQ_INT(2, out.n_types);
    if (out.n_q == 2) {
        CHECK_EQ_INT(-7, out.q[0].start_ms);
        CHECK_EQ_INT(INT64_MAX, out.q[0].end_ms);
        CHECK_EQ_INT(3, out.q[0].n_m);
        for (size_t i = 0; i < 3 && out.q[0].n_m == 3; i++) {
            CHECK_EQ_INT(m[i].op, out.q[0].m[i].op);
            CHECK(out.q[0].m[i].value_len == m[i].value_len);
        }
        CHECK_EQ_INT(0, out.q[1].start_ms);
        CHECK_EQ_INT(1, out.q[1].n_m);
    }
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

/* ---- execute against an engine ---- */

#define T0 1700000000000LL

static int put(eng *e, const char *name, const char *job, const char *inst, size_t n, double base) {
    ax_label ls[3] = {{"__name__", name, 8, (uint32_t)strlen(name)},
                      {"job", job, 3, (uint32_t)strlen(job)},
                      {"instance", inst, 8, (uint32_t)strlen(inst)}};
    eng_sample s[16];
    for (size_t i = 0; i < n && i < 16; i++) {
        s[i].ts = T0 + (int64_t)i * 1000;
        s[i].v = base + (double)i;
    }
    eng_ts ts = {ls, 3, s, n < 16 ? n : 16};
    ax_err err = {0};
    int rc = eng_write(e, &ts, 1, &err);
    if (rc) FAILF("eng_write: %s", err.msg);
    return rc;
}

typedef struct fixture {
    char dir[64];
    eng *e;
} fixture;

static bool fx_open(fixture *f) {
    snprintf(f->dir, sizeof f->dir, "/tmp/auspex-rr-XXXXXX");
    if (!mkdtemp(f->dir)) {
        FAILF("mkdtemp");
        return false;
    }
    eng_opts eo = {.path = f->dir, .nosync = true};
    ax_err err = {0};
    if (eng_open(&eo, &f->e, &err)) {
        FAILF("eng_open: %s", err.msg);
        test_rm_rf(f->dir);
        return false;
    }
    /* m{job=a,instance=1..3}: 10 samples each, values base+i; other{job=a}; a stale
     * marker on m{instance=1} at T0+10s */
    put(f->e, "m", "a", "1", 10, 100);
    put(f->e, "m", "a", "2", 10, 200);
    put(f->e, "m", "ab", "3", 10, 300);
    put(f->e, "other", "a", "1", 3, 0);
    ax_label ls[3] = {{"__name__", "m", 8, 1}, {"job", "a", 3, 1}, {"instance", "1", 8, 1}};
    eng_sample st = {T0 + 10000, 0};
    uint64_t sb = STALE_BITS;
    memcpy(&st.v, &sb, sizeof sb);
    eng_ts ts = {ls, 3, &st, 1};
    ax_err werr = {0};
    if (eng_write(f->e, &ts, 1, &werr)) FAILF("eng_write stale: %s", werr.msg);
    return true;
}

static void fx_close(fixture *f) {
    eng_close(f->e);
    test_rm_rf(f->dir);
}

/* Encode rq (test side), decode it with the code under test, execute it. */
static int run(fixture *f, const ax_buf *rq, const srv_rr_limits *lim, size_t max_bytes,
               t_result *res, size_t cap, int *n_res, ax_err *e) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_rr_request r;
    int rc = srv_rr_decode_raw(rq->data, rq->len, &a, &r, e);
    ax_buf out;
    ax_buf_init(&out, max_bytes);
    if (!rc) rc = srv_rr_execute(f->e, &r, lim, &out, e);
    if (!rc) {
        *n_res = decode_response(out.data, out.len, res, cap);
        if (*n_res < 0) FAILF("the answer does not decode");
    }
    ax_buf_free(&out);
    ax_arena_clear(&a);
    return rc;
}

TEST(test_rr_execute_matchers_range_and_stale) {
    fixture f;
    if (!fx_open(&f)) return;
    static t_result res[4];
    int nr = 0;
    ax_err e = {0};
    srv_rr_limits lim = {0};
    ax_buf rq;
    ax_buf_init(&rq, 1 << 20);
    /* q0: EQ + RE anchored (job=~"a" must not match "ab"), [T0+2s, T0+4s] inclusive */
    w_query(&rq, T0 + 2000, T0 + 4000, (t_match[]){{0, "__name__", "m"}, {2, "job", "a"}}, 2);
    /* q1: NEQ and NRE: instance!="1", job!~"a" -> m{ab,3} only; to the stale marker */
    w_query(&rq, T0 + 8000, T0 + 10000, (t_match[]){{1, "instance", "1"}, {3, "job", "a"}, {0, "__name__", "m"}}, 3);
    /* q2: the stale marker comes back bit for bit */
    w_query(&rq, T0 + 9000, T0 + 20000, (t_match[]){{0, "__name__", "m"}, {0, "instance", "1"}}, 2);
    /* q3: end before start: empty */
    w_query(&rq, T0 + 5000, T0 + 1000, (t_match[]){{0, "__name__", "m"}}, 1);
    CHECK_EQ_INT(0, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK_EQ_INT(4, nr);
    if (nr == 4) {
        CHECK_EQ_INT(2, res[0].n);
        CHECK_EQ_STR("__name__=m,instance=1,job=a", res[0].s[0].labels);
        CHECK_EQ_STR("__name__=m,instance=2,job=a", res[0].s[1].labels);
        CHECK_EQ_INT(3, res[0].s[0].n);
        CHECK_EQ_INT(T0 + 2000, res[0].s[0].ts[0]);
        CHECK_EQ_INT(T0 + 4000, res[0].s[0].ts[2]);
        CHECK_EQ_U64(bits_of(102), res[0].s[0].bits[0]);
        CHECK_EQ_U64(bits_of(204), res[0].s[1].bits[2]);
        CHECK_EQ_INT(1, res[1].n);
        CHECK_EQ_STR("__name__=m,instance=3,job=ab", res[1].s[0].labels);
        CHECK_EQ_INT(2, res[1].s[0].n);
        CHECK_EQ_U64(bits_of(309), res[1].s[0].bits[1]);
        CHECK_EQ_INT(1, res[2].n);
        CHECK_EQ_INT(2, res[2].s[0].n);
        CHECK_EQ_U64(bits_of(109), res[2].s[0].bits[0]);
        CHECK_EQ_U64(STALE_BITS, res[2].s[0].bits[1]);
        CHECK_EQ_INT(T0 + 10000, res[2].s[0].ts[1]);
        CHECK_EQ_INT(0, res[3].n);
    }
    /* a query whose matchers all match "" is refused; a bad regex names the matcher */
    ax_buf_reset(&rq);
    w_query(&rq, T0, T0 + 1000, (t_match[]){{1, "job", "a"}, {2, "x", ".*"}}, 2);
    CHECK_EQ_INT(AX_EINVAL, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK_EQ_STR("query 0: at least one matcher must not match the empty string", e.msg);
    ax_buf_reset(&rq);
    w_query(&rq, T0, T0 + 1000, (t_match[]){{0, "__name__", "m"}}, 1);
    w_query(&rq, T0, T0 + 1000, (t_match[]){{0, "__name__", "m"}, {2, "job", "a(("}}, 2);
    CHECK_EQ_INT(AX_EINVAL, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK(strncmp(e.msg, "query 1, matcher 1: ", 20) == 0);
    /* no matching series: an empty result, not an error */
    ax_buf_reset(&rq);
    w_query(&rq, T0, T0 + 1000, (t_match[]){{0, "__name__", "nope"}}, 1);
    CHECK_EQ_INT(0, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK_EQ_INT(1, nr);
    CHECK_EQ_INT(0, res[0].n);
    ax_buf_free(&rq);
    fx_close(&f);
}

TEST(test_rr_execute_limits) {
    fixture f;
    if (!fx_open(&f)) return;
    static t_result res[4];
    int nr = 0;
    ax_err e = {0};
    ax_buf rq;
    ax_buf_init(&rq, 1 << 20);
    /* three m series, 10 samples each in [T0, T0+9s], 11 for instance 1 (stale marker) */
    w_query(&rq, T0, T0 + 20000, (t_match[]){{0, "__name__", "m"}}, 1);
    srv_rr_limits lim = {.max_series = 2};
    CHECK_EQ_INT(AX_ELIMIT, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK(strstr(e.msg, "query 0 matches more than 2 series") != NULL);
    lim.max_series = 3;
    CHECK_EQ_INT(0, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    /* samples: 31 in all; a cap of 31 passes, 30 fails, also across two queries */
    lim.max_samples = 31;
    CHECK_EQ_INT(0, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    lim.max_samples = 30;
    CHECK_EQ_INT(AX_ELIMIT, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK(strstr(e.msg, "more than 30 samples") != NULL);
    w_query(&rq, T0, T0 + 20000, (t_match[]){{0, "__name__", "other"}}, 1);
    lim.max_samples = 33;
    CHECK_EQ_INT(AX_ELIMIT, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK(strstr(e.msg, "(query 1)") != NULL);
    lim.max_samples = 34;
    CHECK_EQ_INT(0, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    CHECK_EQ_INT(2, nr);
    /* the answer's byte ceiling */
    lim.max_samples = 0;
    CHECK_EQ_INT(AX_ELIMIT, run(&f, &rq, &lim, 200, res, 4, &nr, &e));
    CHECK(strstr(e.msg, "answer would exceed 200 bytes") != NULL);
    /* a deadline in the past */
    lim.deadline_ns = 1;
    CHECK_EQ_INT(AX_ETIMEOUT, run(&f, &rq, &lim, 1 << 20, res, 4, &nr, &e));
    ax_buf_free(&rq);
    fx_close(&f);
}

/* ---- the route, through the HTTP parser hook ---- */

static void on_done(void *arg) { *(int *)arg = 1; }

/* POST body to /api/v1/read; out gets the raw HTTP response. */
static void post(srv_http *s, const ax_buf *body, const char *extra_headers, ax_buf *out) {
    ax_buf req;
    ax_buf_init(&req, 64u << 20);
    ax_buf_printf(&req,
                  "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                  "%sContent-Length: %zu\r\n\r\n",
                  extra_headers, body->len);
    ax_buf_append(&req, body->data, body->len);
    ax_buf_reset(out);
    if (srv__http_feed(s, req.data, req.len, NULL, 0, out)) FAILF("srv__http_feed");
    ax_buf_free(&req);
}

/* Status code and a pointer to the body of a raw response. */
static int status_of(const ax_buf *resp, const uint8_t **body, size_t *len) {
    if (resp->len < 12) return -1;
    const uint8_t *d = resp->data + 9; /* "HTTP/1.1 " */
    if (d[0] < '0' || d[0] > '9' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9') return -1;
    int st = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    const uint8_t *p = resp->data, *end = resp->data + resp->len;
    for (; p + 4 <= end; p++)
        if (!memcmp(p, "\r\n\r\n", 4)) break;
    *body = p + 4 <= end ? p + 4 : end;
    *len = (size_t)(end - *body);
    return st;
}

static bool has_header(const ax_buf *resp, const char *h) {
    size_t hl = strlen(h);
    for (size_t i = 0; i + hl <= resp->len; i++)
        if (!strncasecmp((const char *)resp->data + i, h, hl)) return true;
    return false;
}

TEST(test_rr_route_answers_and_errors) {
    fixture f;
    if (!fx_open(&f)) return;
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_http *s = NULL;
    srv_http_opts ho = {.max_body_bytes = 1 << 20};
    CHECK_EQ_INT(0, srv_http_new(&loop, &ho, &s));
    srv_app app;
    memset(&app, 0, sizeof app);
    app.e = f.e;
    app.http = s;
    app.loop = &loop;
    app.max_insert_bytes = 1 << 20;
    app.max_export_bytes = 1 << 20;
    app.query_max_samples = 1000;
    app.query_max_series = 2;
    CHECK_EQ_INT(0, srv_api_query_register(&app));
    CHECK_EQ_INT(0, srv_api_remote_read_register(&app));
    ax_buf rq, out;
    ax_buf_init(&rq, 1 << 20);
    ax_buf_init(&out, 16u << 20);
    const uint8_t *body;
    size_t blen;

    /* a good request: 200, snappy protobuf with the two series of m{job="a"} */
    w_query(&rq, T0, T0 + 1000, (t_match[]){{0, "__name__", "m"}, {0, "job", "a"}}, 2);
    ax_buf z = snappy_of(&rq);
    post(s, &z, "Content-Encoding: snappy\r\nX-Prometheus-Remote-Read-Version: 0.1.0\r\n", &out);
    CHECK_EQ_INT(200, status_of(&out, &body, &blen));
    CHECK(has_header(&out, "Content-Encoding: snappy"));
    CHECK(has_header(&out, "Content-Type: application/x-protobuf"));
    size_t ulen = 0;
    static t_result res[2];
    if (snappy_uncompressed_length((const char *)body, blen, &ulen) == SNAPPY_OK && ulen < (1u << 20)) {
        char *u = malloc(ulen ? ulen : 1);
        CHECK(snappy_uncompress((const char *)body, blen, u, &ulen) == SNAPPY_OK);
        CHECK_EQ_INT(1, decode_response((const uint8_t *)u, ulen, res, 2));
        CHECK_EQ_INT(2, res[0].n);
        CHECK_EQ_INT(2, res[0].s[0].n);
        free(u);
    } else {
        FAILF("the body is not snappy");
    }
    ax_buf_free(&z);

    /* garbage: 400 bad_data in Prometheus' shape */
    ax_buf g;
    ax_buf_init(&g, 1 << 10);
    ax_buf_append(&g, "\x05hello", 6);
    post(s, &g, "", &out);
    CHECK_EQ_INT(400, status_of(&out, &body, &blen));
    CHECK(blen > 0 && strstr((const char *)body, "\"errorType\":\"bad_data\"") != NULL);
    ax_buf_free(&g);

    /* STREAMED_XOR_CHUNKS only: 400 */
    ax_buf_reset(&rq);
    w_query(&rq, T0, T0 + 1000, (t_match[]){{0, "__name__", "m"}}, 1);
    w_int(&rq, 2, SRV_RR_STREAMED_XOR_CHUNKS);
    z = snappy_of(&rq);
    post(s, &z, "", &out);
    CHECK_EQ_INT(400, status_of(&out, &body, &blen));
    CHECK(strstr((const char *)body, "only SAMPLES") != NULL);
    ax_buf_free(&z);

    /* over the series limit (2): 422 execution */
    ax_buf_reset(&rq);
    w_query(&rq, T0, T0 + 1000, (t_match[]){{0, "__name__", "m"}}, 1);
    z = snappy_of(&rq);
    post(s, &z, "", &out);
    CHECK_EQ_INT(422, status_of(&out, &body, &blen));
    CHECK(strstr((const char *)body, "\"errorType\":\"execution\"") != NULL);
    ax_buf_free(&z);

    /* another encoding: 415 */
    post(s, &rq, "Content-Encoding: gzip\r\n", &out);
    CHECK_EQ_INT(415, status_of(&out, &body, &blen));

    /* declared decoded size over the cap: 413 */
    ax_buf big;
    ax_buf_init(&big, 16);
    ax_buf_append(&big, "\x80\x80\x80\x2d", 4);
    post(s, &big, "", &out);
    CHECK_EQ_INT(413, status_of(&out, &body, &blen));
    ax_buf_free(&big);

    /* and it still answers */
    ax_buf_reset(&rq);
    w_query(&rq, T0, T0 + 1000, (t_match[]){{0, "__name__", "other"}}, 1);
    z = snappy_of(&rq);
    post(s, &z, "", &out);
    CHECK_EQ_INT(200, status_of(&out, &body, &blen));
    ax_buf_free(&z);

    int done = 0;
    srv_http_close(s, on_done, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(1, done);
    CHECK_EQ_INT(0, uv_loop_close(&loop));
    free(app.query_gate);
    ax_buf_free(&rq);
    ax_buf_free(&out);
    fx_close(&f);
}
