/* server/remote_read.c: Prometheus remote read, samples response (schema and semantics in
 * server/remote_read.h), and its route POST /api/v1/read.
 *
 * Request: RECEIVED (body capped by the route, 413 past -maxInsertRequestSize)
 *   -(query gate: -search.maxConcurrentRequests)-> QUEUED -(work: snappy with the decoded
 *   length checked first, protobuf into the arena, negotiate, select + read each query,
 *   encode, compress)-> ANSWERED -(after: 200 snappy protobuf, or the Prometheus error
 *   JSON)-> REPLIED.
 *   Invariant 1: nothing is sent before every query has run, so an error anywhere gives
 *     one proper 4xx/5xx and never half an answer.
 *   Invariant 2: memory is bounded up front: the decoded request by the cap and the
 *     arena budget, series by -search.maxUniqueTimeseries per query, samples by
 *     -search.maxSamplesPerQuery over the whole request, the answer by a byte ceiling;
 *     only one series' samples are held at a time.
 *
 * Decoding walks each message twice, both times against its end pointer: once to count
 * (queries, then each query's matchers) and validate, once to fill exactly sized arena
 * arrays. The answer is built query by query: each QueryResult body goes into a scratch
 * buffer (its length prefix must come first), then is appended to the response.
 */
#include "server/remote_read.h"
#include "server/app.h"
#include "server/pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- decode ---- */

/* One LabelMatcher body into *m (spans point into the body). */
static int parse_matcher(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, const uint8_t *m_at,
                         eng_matcher *m) {
    uint64_t type = 0;
    *m = (eng_matcher){.op = ENG_MATCH_EQ, .name = "", .value = ""};
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc, vrc;
        size_t n = 0;
        if ((rc = srv_pb_tag(d, &p, end, "LabelMatcher", &f, &wt))) return rc;
        if (f == 1) {
            if (wt != SRV_PB_VARINT) return srv__pb_wrong_type(d, at, "LabelMatcher", f, wt, SRV_PB_VARINT);
            if ((vrc = srv_pb_varint(&p, end, &type))) return srv__pb_fail_varint(d, vrc, at, "LabelMatcher");
        } else if (f == 2 || f == 3) {
            if (wt != SRV_PB_LEN) return srv__pb_wrong_type(d, at, "LabelMatcher", f, wt, SRV_PB_LEN);
            if ((rc = srv_pb_len(d, &p, end, at, "LabelMatcher", &n))) return rc;
            size_t cap = f == 2 ? AX_MAX_LABEL_NAME : AX_MAX_LABEL_VALUE;
            if (n > cap)
                return ax_err_set(d->e, AX_EINVAL,
                                  "matcher %s of %zu bytes at byte %zu exceeds %zu",
                                  f == 2 ? "name" : "value", n, (size_t)(at - d->base), cap);
            if (f == 2) m->name = (const char *)p, m->name_len = n;
            else m->value = (const char *)p, m->value_len = n;
            p += n;
        } else if ((rc = srv__pb_skip(d, &p, end, at, "LabelMatcher", wt))) {
            return rc;
        }
    }
    /* the wire values of LabelMatcher.Type are the order of ENG_MATCH_* */
    if (type > 3)
        return ax_err_set(d->e, AX_EINVAL,
                          "unknown matcher type %llu at byte %zu (want EQ 0, NEQ 1, RE 2, NRE 3)",
                          (unsigned long long)type, (size_t)(m_at - d->base));
    m->op = type == 0 ? ENG_MATCH_EQ : type == 1 ? ENG_MATCH_NEQ : type == 2 ? ENG_MATCH_RE : ENG_MATCH_NRE;
    return 0;
}

/* Walk one Query body. fill: write q (its matcher array already sized); else count its
 * matchers into q->n_m and validate. */
static int walk_query(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, size_t idx, bool fill,
                      srv_rr_query *q) {
    size_t nm = 0;
    uint64_t v;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc, vrc;
        size_t n = 0;
        if ((rc = srv_pb_tag(d, &p, end, "Query", &f, &wt))) return rc;
        if (f == 1 || f == 2) {
            if (wt != SRV_PB_VARINT) return srv__pb_wrong_type(d, at, "Query", f, wt, SRV_PB_VARINT);
            if ((vrc = srv_pb_varint(&p, end, &v))) return srv__pb_fail_varint(d, vrc, at, "Query");
            if (f == 1) q->start_ms = (int64_t)v; /* int64: two's complement in 10 bytes */
            else q->end_ms = (int64_t)v;
        } else if (f == 3) {
            if (wt != SRV_PB_LEN) return srv__pb_wrong_type(d, at, "Query", f, wt, SRV_PB_LEN);
            if ((rc = srv_pb_len(d, &p, end, at, "LabelMatcher", &n))) return rc;
            if (fill) {
                if ((rc = parse_matcher(d, p, p + n, at, &q->m[nm]))) return rc;
            } else if (nm == SRV_RR_MAX_MATCHERS) {
                return ax_err_set(d->e, AX_EINVAL, "query %zu has more than %d matchers", idx,
                                  SRV_RR_MAX_MATCHERS);
            }
            nm++;
            p += n;
        } else if ((rc = srv__pb_skip(d, &p, end, at, "Query", wt))) {
            return rc; /* hints (4), unknown */
        }
    }
    if (!fill) q->n_m = nm;
    return 0;
}

/* One accepted_response_types value. */
static int add_type(srv_pb_dec *d, const uint8_t *at, uint64_t t, srv_rr_request *rq) {
    if (rq->n_types == SRV_RR_MAX_TYPES)
        return ax_err_set(d->e, AX_EINVAL, "more than %d accepted response types (byte %zu)",
                          SRV_RR_MAX_TYPES, (size_t)(at - d->base));
    rq->types[rq->n_types++] = t;
    return 0;
}

/* accepted_response_types: one varint (unpacked) or a run of them (packed). */
static int parse_types(srv_pb_dec *d, const uint8_t **pp, const uint8_t *end, const uint8_t *at,
                       int wt, srv_rr_request *rq) {
    uint64_t t;
    int vrc, rc;
    size_t n = 0;
    if (wt == SRV_PB_VARINT) {
        if ((vrc = srv_pb_varint(pp, end, &t))) return srv__pb_fail_varint(d, vrc, at, "ReadRequest");
        return add_type(d, at, t, rq);
    }
    if (wt != SRV_PB_LEN) return srv__pb_wrong_type(d, at, "ReadRequest", 2, wt, SRV_PB_LEN);
    if ((rc = srv_pb_len(d, pp, end, at, "ReadRequest", &n))) return rc;
    const uint8_t *p = *pp, *pend = p + n;
    while (p < pend) {
        if ((vrc = srv_pb_varint(&p, pend, &t))) return srv__pb_fail_varint(d, vrc, at, "ReadRequest");
        if ((rc = add_type(d, at, t, rq))) return rc;
    }
    *pp = pend;
    return 0;
}

/* Walk the ReadRequest. fill: parse each query into rq->q (sized by the first walk);
 * else count the queries and collect the response types. */
static int walk_request(srv_pb_dec *d, const uint8_t *p, const uint8_t *end, bool fill,
                        srv_rr_request *rq, ax_arena *a) {
    size_t nq = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t f;
        int wt, rc;
        size_t n = 0;
        if ((rc = srv_pb_tag(d, &p, end, "ReadRequest", &f, &wt))) return rc;
        if (f == 1) {
            if (wt != SRV_PB_LEN) return srv__pb_wrong_type(d, at, "ReadRequest", f, wt, SRV_PB_LEN);
            if ((rc = srv_pb_len(d, &p, end, at, "Query", &n))) return rc;
            if (!fill && nq == SRV_RR_MAX_QUERIES)
                return ax_err_set(d->e, AX_EINVAL, "more than %d queries in one request",
                                  SRV_RR_MAX_QUERIES);
            if (fill) {
                srv_rr_query *q = &rq->q[nq];
                *q = (srv_rr_query){0};
                if ((rc = walk_query(d, p, p + n, nq, false, q))) return rc;
                void *m = NULL;
                if ((rc = srv__arena_array(a, q->n_m, sizeof(eng_matcher), "matcher array", &m, d->e)))
                    return rc;
                q->m = m;
                if ((rc = walk_query(d, p, p + n, nq, true, q))) return rc;
            } else {
                srv_rr_query scratch = {0}; /* validates the query and counts its matchers */
                if ((rc = walk_query(d, p, p + n, nq, false, &scratch))) return rc;
            }
            nq++;
            p += n;
        } else if (f == 2) {
            if (fill) {
                if ((rc = srv__pb_skip(d, &p, end, at, "ReadRequest", wt))) return rc;
            } else if ((rc = parse_types(d, &p, end, at, wt, rq))) {
                return rc;
            }
        } else if ((rc = srv__pb_skip(d, &p, end, at, "ReadRequest", wt))) {
            return rc;
        }
    }
    if (!fill) rq->n_q = nq;
    return 0;
}

int srv_rr_decode_raw(const uint8_t *pb, size_t len, ax_arena *a, srv_rr_request *out,
                      ax_err *e) {
    if (!pb) pb = (const uint8_t *)""; /* len is 0: an empty request, no arithmetic on NULL */
    srv_pb_dec d = {pb, e};
    srv_rr_request rq;
    memset(&rq, 0, sizeof rq);
    int rc = walk_request(&d, pb, pb + len, false, &rq, a);
    if (rc) return rc;
    void *q = NULL;
    if ((rc = srv__arena_array(a, rq.n_q, sizeof(srv_rr_query), "query array", &q, e))) return rc;
    rq.q = q;
    if ((rc = walk_request(&d, pb, pb + len, true, &rq, a))) return rc;
    *out = rq;
    return 0;
}

int srv_rr_decode(const uint8_t *body, size_t len, size_t max_decoded, ax_arena *a,
                  srv_rr_request *out, ax_err *e) {
    const uint8_t *pb = NULL;
    size_t dlen = 0;
    int rc = srv__snappy_decode(body, len, max_decoded, "remote read", a, &pb, &dlen, e);
    if (rc) return rc;
    return srv_rr_decode_raw(pb, dlen, a, out, e);
}

int srv_rr_negotiate(const srv_rr_request *rq, ax_err *e) {
    if (rq->n_types == 0) return 0;
    for (size_t i = 0; i < rq->n_types; i++)
        if (rq->types[i] == SRV_RR_SAMPLES) return 0;
    char list[160];
    size_t o = 0;
    for (size_t i = 0; i < rq->n_types && o < sizeof list - 40; i++) {
        uint64_t t = rq->types[i];
        const char *name = t == SRV_RR_STREAMED_XOR_CHUNKS ? "STREAMED_XOR_CHUNKS" : NULL;
        int k = name ? snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", name)
                     : snprintf(list + o, sizeof list - o, "%s%llu", i ? ", " : "",
                                (unsigned long long)t);
        if (k > 0) o += (size_t)k < sizeof list - o ? (size_t)k : sizeof list - o - 1;
    }
    return ax_err_set(e, AX_EINVAL,
                      "none of the accepted response types [%s] is supported: this server "
                      "answers only SAMPLES (0)", list);
}

/* ---- encode: protobuf writers into an ax_buf already reserved ---- */

static inline size_t field_len(size_t len) { return 1 + srv_pb_vsize(len) + len; } /* tag < 16 */

static inline uint8_t *put_len_field(uint8_t *p, uint8_t tag, size_t len) {
    *p++ = tag;
    return p + ax_uvarint_put(p, len);
}

static inline uint8_t *put_bytes_field(uint8_t *p, uint8_t tag, const void *s, size_t len) {
    p = put_len_field(p, tag, len);
    memcpy(p, s, len);
    return p + len;
}

static size_t matcher_len(const eng_matcher *m) {
    uint64_t t = (uint64_t)m->op; /* ENG_MATCH_* are the wire values */
    return (t ? 1 + srv_pb_vsize(t) : 0) + (m->name_len ? field_len(m->name_len) : 0) +
           (m->value_len ? field_len(m->value_len) : 0);
}

static size_t query_len(const srv_rr_query *q) {
    size_t n = (q->start_ms ? 1 + srv_pb_vsize((uint64_t)q->start_ms) : 0) +
               (q->end_ms ? 1 + srv_pb_vsize((uint64_t)q->end_ms) : 0);
    for (size_t i = 0; i < q->n_m; i++) n += field_len(matcher_len(&q->m[i]));
    return n;
}

int srv_rr_request_encode(ax_buf *dst, const srv_rr_request *rq) {
    size_t total = 0;
    for (size_t i = 0; i < rq->n_q; i++) total += field_len(query_len(&rq->q[i]));
    size_t tl = 0;
    for (size_t i = 0; i < rq->n_types; i++) tl += srv_pb_vsize(rq->types[i]);
    if (rq->n_types) total += field_len(tl);
    if (total == 0) return 0;
    int rc = ax_buf_reserve(dst, total);
    if (rc) return rc;
    uint8_t *p = dst->data + dst->len;
    for (size_t i = 0; i < rq->n_q; i++) {
        const srv_rr_query *q = &rq->q[i];
        p = put_len_field(p, 0x0a, query_len(q)); /* ReadRequest.queries = 1 */
        if (q->start_ms) {
            *p++ = 0x08; /* Query.start_timestamp_ms = 1 */
            p += ax_uvarint_put(p, (uint64_t)q->start_ms);
        }
        if (q->end_ms) {
            *p++ = 0x10; /* Query.end_timestamp_ms = 2 */
            p += ax_uvarint_put(p, (uint64_t)q->end_ms);
        }
        for (size_t j = 0; j < q->n_m; j++) {
            const eng_matcher *m = &q->m[j];
            p = put_len_field(p, 0x1a, matcher_len(m)); /* Query.matchers = 3 */
            if (m->op) {
                *p++ = 0x08; /* LabelMatcher.type = 1 */
                p += ax_uvarint_put(p, (uint64_t)m->op);
            }
            if (m->name_len) p = put_bytes_field(p, 0x12, m->name, m->name_len);
            if (m->value_len) p = put_bytes_field(p, 0x1a, m->value, m->value_len);
        }
    }
    if (rq->n_types) {
        p = put_len_field(p, 0x12, tl); /* ReadRequest.accepted_response_types = 2, packed */
        for (size_t i = 0; i < rq->n_types; i++) p += ax_uvarint_put(p, rq->types[i]);
    }
    AX_ASSERT((size_t)(p - (dst->data + dst->len)) == total);
    dst->len += total;
    return 0;
}

/* ---- execute ---- */

typedef struct rr_item {
    uint64_t sid;
    const uint8_t *labels;
    size_t len;
} rr_item;

static int item_cmp(const void *a, const void *b) {
    const rr_item *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->labels, y->labels, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static inline size_t sample_len(int64_t t, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return (bits ? 9 : 0) + (t ? 1 + srv_pb_vsize((uint64_t)t) : 0);
}

/* Append one TimeSeries (field 1 of QueryResult) to b: labels from canonical bytes, then
 * the samples. Returns 0, AX_ETOOBIG (b's ceiling), AX_ENOMEM, AX_ECORRUPT (labels). */
static int put_series(ax_buf *b, const uint8_t *lb, size_t lb_len, const eng_samples *s) {
    ax_label ls[AX_MAX_LABELS];
    size_t nl = 0;
    int rc = ax_labels_decode(lb, lb_len, ls, AX_MAX_LABELS, &nl);
    if (rc) return rc;
    size_t body = 0;
    for (size_t i = 0; i < nl; i++)
        body += field_len(field_len(ls[i].name_len) + field_len(ls[i].value_len));
    for (size_t i = 0; i < s->n; i++) body += field_len(sample_len(s->ts[i], s->v[i]));
    size_t total = field_len(body);
    if ((rc = ax_buf_reserve(b, total))) return rc;
    uint8_t *p = b->data + b->len;
    p = put_len_field(p, 0x0a, body); /* QueryResult.timeseries = 1 */
    for (size_t i = 0; i < nl; i++) {
        p = put_len_field(p, 0x0a, field_len(ls[i].name_len) + field_len(ls[i].value_len));
        p = put_bytes_field(p, 0x0a, ls[i].name, ls[i].name_len);    /* Label.name = 1 */
        p = put_bytes_field(p, 0x12, ls[i].value, ls[i].value_len);  /* Label.value = 2 */
    }
    for (size_t i = 0; i < s->n; i++) {
        uint64_t bits;
        memcpy(&bits, &s->v[i], sizeof bits);
        p = put_len_field(p, 0x12, sample_len(s->ts[i], s->v[i])); /* TimeSeries.samples = 2 */
        if (bits) {
            *p++ = 0x09; /* Sample.value = 1, fixed64: bit for bit, stale NaN included */
            ax_put_u64le(p, bits);
            p += 8;
        }
        if (s->ts[i]) {
            *p++ = 0x10; /* Sample.timestamp = 2 */
            p += ax_uvarint_put(p, (uint64_t)s->ts[i]);
        }
    }
    AX_ASSERT((size_t)(p - (b->data + b->len)) == total);
    b->len += total;
    return 0;
}

/* State shared by the queries of one request. */
typedef struct rr_run {
    eng *e;
    const srv_rr_limits *lim;
    size_t samples;     /* in the answer so far */
    size_t max_bytes;   /* the answer's ceiling, for messages */
    ax_err *err;
} rr_run;

static int too_big(rr_run *x) {
    char cap[32];
    srv__fmt_size(cap, sizeof cap, x->max_bytes);
    return ax_err_set(x->err, AX_ELIMIT, "the remote-read answer would exceed %s", cap);
}

/* Select and read query idx into qb (a QueryResult body). */
static int run_query(rr_run *x, const srv_rr_query *q, size_t idx, ax_buf *qb) {
    eng_sel *sel = NULL;
    rr_item *items = NULL;
    eng_samples smp = {0};
    size_t nc = 0;
    int rc = 0;
    for (; nc < q->n_m && !rc; nc++) rc = eng_matcher_compile(&q->m[nc], x->err);
    if (rc) {
        char why[sizeof x->err->msg];
        memcpy(why, x->err->msg, sizeof why);
        ax_err_set(x->err, rc, "query %zu, matcher %zu: %s", idx, nc - 1, why);
        goto out;
    }
    bool selective = false;
    for (size_t i = 0; i < q->n_m; i++)
        if (!eng_matcher_match(&q->m[i], "", 0)) selective = true;
    if (!selective) {
        rc = ax_err_set(x->err, AX_EINVAL,
                        "query %zu: at least one matcher must not match the empty string", idx);
        goto out;
    }
    if (q->end_ms < q->start_ms) goto out; /* an empty range: an empty result */
    rc = eng_select(x->e, q->m, q->n_m, x->lim->max_series, &sel);
    if (rc == AX_ELIMIT) {
        ax_err_set(x->err, rc,
                   "query %zu matches more than %zu series; narrow the matchers or raise "
                   "-search.maxUniqueTimeseries", idx, x->lim->max_series);
        goto out;
    }
    if (rc) {
        ax_err_set(x->err, rc, "query %zu: selecting series: %s", idx, ax_strerror(rc));
        goto out;
    }
    size_t n = eng_sel_count(sel);
    if (!(items = malloc((n ? n : 1) * sizeof *items))) {
        rc = ax_err_set(x->err, AX_ENOMEM, "query %zu: out of memory", idx);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].sid = eng_sel_sid(sel, i);
        items[i].labels = eng_sel_labels(sel, i, &items[i].len);
    }
    qsort(items, n, sizeof *items, item_cmp);
    size_t max = x->lim->max_samples;
    for (size_t i = 0; i < n; i++) {
        if (x->lim->deadline_ns && ax_mono_ns() > x->lim->deadline_ns) {
            rc = ax_err_set(x->err, AX_ETIMEOUT,
                            "remote read timed out (-search.maxQueryDuration) in query %zu", idx);
            break;
        }
        /* read at most what is left of the budget (+1 to tell "exactly" from "over") */
        size_t room = max ? max - x->samples : 0;
        rc = eng_series_read_all(x->e, items[i].sid, q->start_ms, q->end_ms, max ? room + 1 : 0, &smp);
        if (rc == AX_ENOTFOUND) { /* deleted since the selection */
            rc = 0;
            continue;
        }
        if (!rc && max && smp.n > room) rc = AX_ELIMIT;
        if (rc == AX_ELIMIT) {
            ax_err_set(x->err, rc,
                       "the remote read needs more than %zu samples (query %zu); narrow it or "
                       "raise -search.maxSamplesPerQuery", max, idx);
            break;
        }
        if (rc) {
            ax_err_set(x->err, rc, "query %zu: reading series %llu: %s", idx,
                       (unsigned long long)items[i].sid, ax_strerror(rc));
            break;
        }
        if (!smp.n) continue;
        x->samples += smp.n;
        rc = put_series(qb, items[i].labels, items[i].len, &smp);
        if (rc == AX_ETOOBIG) {
            rc = too_big(x);
            break;
        }
        if (rc) {
            ax_err_set(x->err, rc, "query %zu: encoding series %llu: %s", idx,
                       (unsigned long long)items[i].sid, ax_strerror(rc));
            break;
        }
    }
out:
    for (size_t i = 0; i < nc; i++) eng_matcher_free(&q->m[i]);
    eng_samples_free(&smp);
    free(items);
    eng_sel_free(sel);
    return rc;
}

int srv_rr_execute(eng *e, const srv_rr_request *rq, const srv_rr_limits *lim, ax_buf *out,
                   ax_err *err) {
    rr_run x = {.e = e, .lim = lim, .max_bytes = out->max, .err = err};
    ax_buf qb;
    ax_buf_init(&qb, out->max);
    int rc = 0;
    for (size_t i = 0; i < rq->n_q && !rc; i++) {
        ax_buf_reset(&qb);
        if ((rc = run_query(&x, &rq->q[i], i, &qb))) break;
        /* ReadResponse.results = 1 */
        if ((rc = ax_buf_reserve(out, field_len(qb.len)))) {
            rc = rc == AX_ETOOBIG ? too_big(&x) : ax_err_set(err, rc, "out of memory");
            break;
        }
        uint8_t *p = put_len_field(out->data + out->len, 0x0a, qb.len);
        if (qb.len) memcpy(p, qb.data, qb.len);
        out->len += field_len(qb.len);
    }
    ax_buf_free(&qb);
    return rc;
}

/* ---- POST /api/v1/read ---- */

typedef struct rr_job {
    srv_gate_slot slot; /* -search.maxConcurrentRequests */
    int rc;
    ax_err err;
    uint64_t t0_ns;
    ax_buf out;         /* the snappy answer */
} rr_job;

static void rr_work(srv_req *r) {
    srv_app *app = srv_req_ctx(r);
    rr_job *j = srv_req_udata(r);
    size_t len = 0;
    const uint8_t *body = srv_req_body(r, &len);
    srv_rr_request rq;
    if ((j->rc = srv_rr_decode(body, len, app->max_insert_bytes, srv_req_arena(r), &rq, &j->err)))
        return;
    if ((j->rc = srv_rr_negotiate(&rq, &j->err))) return;
    srv_rr_limits lim = {
        .max_series = app->query_max_series,
        .max_samples = app->query_max_samples,
        .deadline_ns = app->query_max_duration_ms > 0
                           ? j->t0_ns + (uint64_t)app->query_max_duration_ms * 1000000u
                           : 0,
    };
    size_t max = app->max_export_bytes ? app->max_export_bytes : (size_t)1 << 30;
    if (max > UINT32_MAX - 1) max = UINT32_MAX - 1; /* snappy's length header */
    ax_buf pb;
    ax_buf_init(&pb, max);
    j->rc = srv_rr_execute(app->e, &rq, &lim, &pb, &j->err);
    if (!j->rc) {
        ax_buf_init(&j->out, (size_t)UINT32_MAX + (UINT32_MAX / 6) + 64);
        j->rc = srv__snappy_encode(&j->out, pb.data, pb.len);
        if (j->rc) ax_err_set(&j->err, j->rc, "compressing the answer: %s", ax_strerror(j->rc));
    }
    ax_buf_free(&pb);
}

static void rr_after(srv_req *r) {
    rr_job *j = srv_req_udata(r);
    srv_query_gate_release(srv_req_ctx(r), &j->slot);
    if (j->rc) {
        ax_buf_free(&j->out);
        const char *etype = NULL;
        int status = srv_http_status_of(j->rc, &etype);
        if (j->rc == AX_ETIMEOUT) status = 503, etype = "timeout";
        if (status == 503) srv_reply_header(r, "Retry-After", "1");
        srv_reply_error(r, status, etype, "%s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
        return;
    }
    srv_reply_header(r, "Content-Encoding", "snappy");
    srv_reply_buf_take(r, 200, "application/x-protobuf", &j->out);
}

static void h_read(srv_req *r, void *ctx) {
    size_t clen = 0;
    const char *enc = srv_req_header(r, "content-encoding", &clen);
    if (enc && !(clen == 6 && !strncasecmp(enc, "snappy", 6))) {
        srv_reply_error(r, 415, "bad_data",
                        "unsupported Content-Encoding \"%.*s\": remote-read bodies are snappy",
                        (int)(clen > 32 ? 32 : clen), enc);
        return;
    }
    rr_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->t0_ns = ax_mono_ns();
    srv_req_set_udata(r, j);
    srv_query_gate_run(ctx, &j->slot, r, rr_work, rr_after);
}

int srv_api_remote_read_register(srv_app *app) {
    return srv_http_route(app->http, SRV_POST, "/api/v1/read", false, h_read, app);
}
