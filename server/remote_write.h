/* server/remote_write.h: Prometheus remote-write 1.0 wire codec (snappy + protobuf).
 *
 * Owns: decoding a POST /api/v1/write body into eng_ts/eng_sample (the form eng_write
 *   takes), and encoding the same for tests and tools (bench/rwtool).
 * Format: https://prometheus.io/docs/specs/remote_write_spec/ and prompb/types.proto,
 *   remote.proto. The body is snappy *block* format (not framed) around a WriteRequest:
 *     WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
 *     TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
 *                    repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
 *     Label        { string name = 1; string value = 2; }
 *     Sample       { double value = 1; int64 timestamp = 2; }   (timestamp in ms)
 *   Metadata, exemplars, histograms and unknown fields of any wire type are skipped.
 *   Groups (wire types 3, 4), wire types 6/7, field number 0 and a known field with the
 *   wrong wire type are rejected.
 * Rules: the decoder checks snappy's declared length against the caller's cap before it
 *   allocates anything, then checks every length against an end pointer. It does not
 *   validate labels (the engine normalises them): duplicates, empty or invalid names and
 *   series without labels or samples pass through as sent. It only enforces the caps of
 *   core.h: AX_MAX_LABELS per series, AX_MAX_LABEL_NAME / AX_MAX_LABEL_VALUE bytes.
 * Memory: everything the decoder returns lives in the caller's arena (the decompressed
 *   body, the eng_ts array, label spans pointing into the body, sample arrays); it stays
 *   valid until ax_arena_clear. Nothing is malloc'd outside the arena.
 * Threads: pure functions; run them on a worker thread, never on the loop (STYLE.md 1, 8).
 */
#ifndef SRV_REMOTE_WRITE_H
#define SRV_REMOTE_WRITE_H

#include "core/core.h"
#include "engine/engine.h"

/* Decode a remote-write body (`len` bytes of snappy block format).
 * max_decoded caps the decompressed protobuf size (e.g. 32 MB): a larger declared length
 * fails before any allocation. OUT (only on success): *ts_out = array of *n_out series in
 * request order, labels in the order sent; *samples_out = total samples in them. An empty
 * WriteRequest is valid (*n_out = 0, *ts_out may be NULL).
 * Returns 0 or, with a message in e (may be NULL):
 *   AX_EINVAL  not snappy, corrupt snappy, malformed or truncated protobuf (the message
 *              names the message type and byte offset in the decompressed protobuf),
 *              more than AX_MAX_LABELS labels or an oversized label name/value;
 *   AX_ETOOBIG declared decompressed length above max_decoded, or the arena budget is
 *              too small for the decoded request;
 *   AX_ENOMEM  malloc failed below the arena budget. */
int srv_rw_decode(const uint8_t *body, size_t len, size_t max_decoded, ax_arena *a,
                  eng_ts **ts_out, size_t *n_out, size_t *samples_out, ax_err *e);

/* As srv_rw_decode, for a WriteRequest protobuf that is not snappy-compressed. `pb` is
 * borrowed and must outlive the result (label spans point into it). */
int srv_rw_decode_raw(const uint8_t *pb, size_t len, ax_arena *a, eng_ts **ts_out,
                      size_t *n_out, size_t *samples_out, ax_err *e);

/* Append the WriteRequest protobuf for ts[0..n) to dst, not compressed. Canonical proto3
 * encoding: empty strings, a zero timestamp and +0.0 values are omitted; -0.0 and NaN
 * payloads are kept bit for bit. Returns 0, AX_ETOOBIG (dst's ceiling; dst emptied),
 * AX_ENOMEM, AX_EINVAL (a label longer than 4 GiB cannot come from eng_ts; never). */
int srv_rw_encode_raw(ax_buf *dst, const eng_ts *ts, size_t n);

/* Append a remote-write body: snappy block format of srv_rw_encode_raw's bytes.
 * Returns 0, AX_ETOOBIG (dst's ceiling; dst emptied), AX_ENOMEM. */
int srv_rw_encode(ax_buf *dst, const eng_ts *ts, size_t n);

/* Append snappy block format of src[0..len) to dst (for tests and tools that build
 * deliberately malformed bodies). Returns 0, AX_ETOOBIG (dst emptied), AX_ENOMEM. */
int srv_rw_snappy(ax_buf *dst, const uint8_t *src, size_t len);

#endif
