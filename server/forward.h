/* server/forward.h: -remoteWrite.url: forward every accepted sample upstream (docs/forwarding.md).
 *
 * Owns: one durable on-disk queue per upstream URL under <data>/forward/<id>/ and one
 *   sender thread per URL that POSTs the queue's records as Prometheus remote-write
 *   requests (snappy + protobuf) to the upstream (VictoriaMetrics, Mimir, Thanos Receive,
 *   Prometheus with --web.enable-remote-write-receiver).
 * Protocol, per queue:
 *   ACCEPTED -(srv_fwd_append: encoded, appended, fdatasync'd)-> QUEUED
 *   QUEUED -(sender: batched into one request, 2xx)-> SENT -(read position fsync'd)-> DONE
 *   QUEUED -(5xx, 429, transport error)-> retried with backoff, for as long as it takes
 *   QUEUED -(other 4xx: the upstream refuses the data itself)-> DROPPED (logged, counted)
 *   QUEUED -(queue over -remoteWrite.maxDiskUsagePerURL)-> oldest segments DROPPED (counted)
 * Invariant 1: a sample is acknowledged to its writer only once its record is durable in
 *   every queue (the caller replies after srv_fwd_append returns 0).
 * Invariant 2: the read position only moves past a record after the upstream answered 2xx
 *   for it, and is made durable before the next request: a restart resends at most the one
 *   batch whose answer was lost with the process (kill -9 between the 2xx and the fsync).
 * Files: segments NNNNNNNNNNNNNNNN.seg (16 hex digits) of records
 *   u32le payload length | u32le crc32 (zlib) of payload | u32le samples | payload (snappy
 *   of a protobuf WriteRequest); "position": "<segment> <offset>\n", replaced atomically.
 *   A torn record at the end of the newest segment (a crash mid-append) is cut off at open.
 * Threads: srv_fwd_append from any thread (group commit: concurrent appenders share one
 *   fdatasync); one sender thread per URL; metrics from any thread.
 */
#ifndef SRV_FORWARD_H
#define SRV_FORWARD_H

#include "core/core.h"
#include "engine/engine.h"

typedef struct srv_fwd srv_fwd;

typedef struct srv_fwd_opts {
    const char *dir;            /* <data>/forward: one sub-folder per URL */
    const char *const *urls;    /* http(s) URLs of remote-write receivers */
    size_t n_urls;
    uint64_t max_disk_bytes;    /* per URL; 0: 1 GiB */
    size_t max_batch_samples;   /* samples per upstream request at most; 0: 10000 */
    int64_t retry_min_ms;       /* first wait after a failed request; 0: 1s (doubles, 1m cap) */
    int64_t timeout_ms;         /* per request; 0: 30s */
    uint64_t segment_bytes;     /* a segment file is closed past this; 0: 64 MiB */
    bool nosync;                /* tests only */
} srv_fwd_opts;

/* Open (or create) every URL's queue, repair a torn tail, start the senders. The folder
 * of a URL is named by a hash of the URL, so reordering the flags keeps each queue.
 * OUT: *out. Returns 0, AX_EINVAL (a URL that is not http:// or https://), AX_EIO. */
int srv_fwd_open(const srv_fwd_opts *o, srv_fwd **out, ax_err *e);

/* Stop the senders (a request in flight is finished or abandoned after its timeout; what
 * is not sent stays queued for the next start) and close. Accepts NULL. */
void srv_fwd_close(srv_fwd *f);

/* Queue n series (labels already normalised by eng_write) for every URL, durably. Blocks
 * for the group commit's fdatasync. Returns 0, AX_ENOMEM, AX_EIO (disk trouble: the caller
 * answers 503 so the writer retries). */
int srv_fwd_append(srv_fwd *f, const eng_ts *ts, size_t n);

/* Append the forwarding metrics (Prometheus text format) to b. Returns 0 or AX_ETOOBIG. */
int srv_fwd_metrics(srv_fwd *f, ax_buf *b);

typedef struct srv_fwd_stats {
    uint64_t samples_sent, samples_dropped, requests, failures, queued_bytes;
} srv_fwd_stats;
/* Counters of URL i (tests). Returns 0 or AX_ENOTFOUND. */
int srv_fwd_stats_get(srv_fwd *f, size_t i, srv_fwd_stats *out);

/* Block until every queue is empty (all sent) or timeout_ms passes (tests, shutdown).
 * Returns 0 or AX_EAGAIN (time out). */
int srv_fwd_drain(srv_fwd *f, int64_t timeout_ms);

#endif
