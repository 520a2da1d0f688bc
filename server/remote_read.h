/* server/remote_read.h: Prometheus remote read (POST /api/v1/read), "samples" response type.
 *
 * Owns: decoding a remote-read body into queries (matchers as eng_matcher), negotiating
 *   the response type, running the queries against the engine with limits, and encoding
 *   the ReadResponse. The route itself is srv_api_remote_read_register (server/app.h).
 * Format: prompb/remote.proto and types.proto of Prometheus; docs/remote-read.md. The
 *   request and the answer are snappy *block* format around a protobuf:
 *     ReadRequest  { repeated Query queries = 1; repeated ResponseType accepted_response_types = 2; }
 *     Query        { int64 start_timestamp_ms = 1; int64 end_timestamp_ms = 2;
 *                    repeated LabelMatcher matchers = 3; ReadHints hints = 4; }
 *     LabelMatcher { Type type = 1 (EQ 0, NEQ 1, RE 2, NRE 3); string name = 2; string value = 3; }
 *     ResponseType { SAMPLES = 0; STREAMED_XOR_CHUNKS = 1; }
 *     ReadResponse { repeated QueryResult results = 1; }       one per query, in order
 *     QueryResult  { repeated TimeSeries timeseries = 1; }
 *     TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
 *     Label        { string name = 1; string value = 2; }
 *     Sample       { double value = 1; int64 timestamp = 2; }
 *   Hints and unknown fields are skipped; accepted_response_types may come packed or not.
 *   The protobuf rules of server/pb.h apply (groups, wire types 6/7, field 0 rejected).
 * Semantics: samples in [start, end], both ends included, sorted by time, stale markers
 *   as stored; regex matchers fully anchored as in PromQL; a label a series lacks matches
 *   as "". Each query needs a matcher that does not match "" (as PromQL selectors do).
 *   Series within a result are sorted by their label bytes; series without samples in the
 *   range are left out.
 * Memory: the decoded request lives in the caller's arena (matcher names and values point
 *   into the decompressed body there) until ax_arena_clear. The answer is appended to a
 *   caller's ax_buf whose ceiling bounds it.
 * Threads: decode is pure; srv_rr_execute reads the engine; both run on worker threads.
 */
#ifndef SRV_REMOTE_READ_H
#define SRV_REMOTE_READ_H

#include "core/core.h"
#include "engine/engine.h"

#define SRV_RR_MAX_QUERIES 100  /* queries in one request */
#define SRV_RR_MAX_MATCHERS 64  /* matchers in one query */
#define SRV_RR_MAX_TYPES 16     /* accepted_response_types entries */

enum { SRV_RR_SAMPLES = 0, SRV_RR_STREAMED_XOR_CHUNKS = 1 };

typedef struct srv_rr_query {
    int64_t start_ms, end_ms;
    eng_matcher *m;  /* n_m matchers, regexes not compiled (re NULL) */
    size_t n_m;
} srv_rr_query;

typedef struct srv_rr_request {
    srv_rr_query *q;  /* n_q queries in request order (NULL when n_q is 0) */
    size_t n_q;
    uint64_t types[SRV_RR_MAX_TYPES]; /* accepted_response_types in order, as sent */
    size_t n_types;
} srv_rr_request;

/* Decode a remote-read body (`len` bytes of snappy block format). max_decoded caps the
 * decompressed protobuf, checked before anything is allocated. OUT (only on success): *out.
 * Returns 0 or, with a message in e (may be NULL):
 *   AX_EINVAL  empty body, not snappy, corrupt snappy, malformed or truncated protobuf
 *              (the message names the message type and byte offset), an unknown matcher
 *              type, more than SRV_RR_MAX_QUERIES queries, SRV_RR_MAX_MATCHERS matchers
 *              or SRV_RR_MAX_TYPES response types, a matcher name over AX_MAX_LABEL_NAME
 *              or value over AX_MAX_LABEL_VALUE bytes;
 *   AX_ETOOBIG declared decompressed length over max_decoded, or arena budget spent;
 *   AX_ENOMEM. */
int srv_rr_decode(const uint8_t *body, size_t len, size_t max_decoded, ax_arena *a,
                  srv_rr_request *out, ax_err *e);

/* As srv_rr_decode for a ReadRequest protobuf that is not compressed; `pb` is borrowed
 * and must outlive *out (matcher spans point into it). */
int srv_rr_decode_raw(const uint8_t *pb, size_t len, ax_arena *a, srv_rr_request *out,
                      ax_err *e);

/* Pick the response type as Prometheus does: no accepted types means SAMPLES; otherwise
 * the first supported one in the list, and SAMPLES is the only one served here.
 * Returns 0 (answer with SAMPLES) or AX_EINVAL with the requested types in e. */
int srv_rr_negotiate(const srv_rr_request *rq, ax_err *e);

/* Append the ReadRequest protobuf for rq to dst, not compressed (tests, tools, fuzz
 * round trips). Returns 0, AX_ETOOBIG (dst's ceiling; dst emptied), AX_ENOMEM. */
int srv_rr_request_encode(ax_buf *dst, const srv_rr_request *rq);

typedef struct srv_rr_limits {
    size_t max_series;     /* series one query may match (0: no limit) */
    size_t max_samples;    /* samples in the whole answer (0: no limit) */
    uint64_t deadline_ns;  /* ax_mono_ns() after which the request fails (0: none) */
} srv_rr_limits;

/* Run every query of rq against e and append the ReadResponse protobuf (not compressed)
 * to out; out's ceiling caps the answer. Matchers are compiled here and freed again.
 * Returns 0 or, with a message in err naming the query:
 *   AX_EINVAL  a regex does not compile, or every matcher of a query matches "";
 *   AX_ELIMIT  more than max_series series in a query, more than max_samples samples, or
 *              an answer larger than out's ceiling;
 *   AX_ETIMEOUT the deadline passed;
 *   AX_ENOMEM, AX_EIO, AX_ECORRUPT from the engine. */
int srv_rr_execute(eng *e, const srv_rr_request *rq, const srv_rr_limits *lim, ax_buf *out,
                   ax_err *err);

#endif
