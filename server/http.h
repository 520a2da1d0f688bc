/* server/http.h: the generic HTTP/1.1 server (libuv loop + llhttp) that every route sits on.
 *
 * Owns: the listening socket, connections, request parsing (llhttp), routing by method and
 *   path, request memory (one ax_arena per request), response framing, keep-alive and
 *   pipelining, timeouts, connection and size limits, off-loop work (uv_queue_work) and the
 *   counters /metrics prints. Routes (remote-write, query, export, ...) live elsewhere and
 *   register here with srv_http_route().
 *
 * Threads: everything runs on the loop thread passed to srv_http_new(), except the `work`
 *   function given to srv_req_work(), which runs on a libuv threadpool thread. While `work`
 *   runs, only it may touch the request; replies are made on the loop thread only (from the
 *   handler, from `after`, or later from any loop callback), never from a work thread.
 *
 * Request lifecycle, per connection (requests are handled strictly one at a time, in order):
 *   IDLE -(first byte)-> HEAD -(headers complete: route chosen, body cap known)-> BODY
 *   BODY -(message complete: parser paused)-> BUSY (handler called; no further bytes parsed,
 *     pipelined bytes wait in a buffer) -(exactly one reply)-> IDLE, or CLOSING when the reply
 *     carries `Connection: close`.
 *   any -(bad bytes / cap exceeded / timeout)-> error reply, CLOSING.
 *   Invariant 1: a srv_req lives until it has been replied to, its handler or `after` has
 *     returned, and no work is in flight; then its arena and body are freed in one go.
 *   Invariant 2: a client that disconnects never frees a request under its handler: the
 *     connection struct is reference-counted, the reply is dropped, memory freed afterwards.
 *
 * Limits (srv_http_opts): body bytes (413 + close, the rest of the body is not read), header
 *   bytes (431, or 414 for the URL alone), connections (beyond: accept, 503, close), idle
 *   keep-alive timeout, header read timeout (408, against slowloris).
 *
 * Errors: error replies have the Prometheus shape
 *   {"status":"error","errorType":"bad_data","error":"..."}; srv_http_status_of() is the one
 *   table from AX_E* status codes to HTTP statuses and Prometheus error types.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include "core/core.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct srv_http srv_http;
typedef struct srv_req srv_req;

/* Methods, as a bitmask for srv_http_route() and as the value of srv_req_method(). */
enum {
    SRV_GET = 1u << 0,
    SRV_POST = 1u << 1,
    SRV_PUT = 1u << 2,
    SRV_DELETE = 1u << 3,
    SRV_HEAD = 1u << 4,
};

/* Server options; a zero field takes the default in brackets. */
typedef struct srv_http_opts {
    size_t max_body_bytes;       /* [32 MiB] -maxInsertRequestSize; bigger bodies get 413 */
    size_t max_header_bytes;     /* [64 KiB] request line + headers; beyond: 414 / 431 */
    size_t max_conns;            /* [1024] open connections; beyond: 503 and close */
    size_t max_arena_bytes;      /* [256 MiB] budget of each request's arena */
    uint64_t idle_timeout_ms;    /* [60000] keep-alive connection with no request */
    uint64_t header_timeout_ms;  /* [30000] from a request's first byte to its last header */
} srv_http_opts;

/* A borrowed byte span (request memory: valid until the reply). */
typedef struct srv_span {
    const char *p;  /* NUL-terminated as well */
    size_t len;
} srv_span;

/* A route handler, called on the loop thread with the complete request (headers and body)
 * and the ctx given to srv_http_route(). It must eventually reply exactly once: now, from
 * `after` of srv_req_work(), or later from another loop callback. */
typedef void (*srv_handler_fn)(srv_req *r, void *ctx);

/* ---- process setup ---- */

/* Call once at start-up, before any loop runs: sets UV_THREADPOOL_SIZE=16 unless the
 * environment already sets it (libuv reads it at the first uv_queue_work), and ignores
 * SIGPIPE (a write to a closed socket must fail with EPIPE, not kill the process). */
void srv_http_global_init(void);

/* ---- server ---- */

/* Create a server on `loop` (borrowed; must outlive the server), from the thread that will
 * run the loop (replies assert they are made on it). `o` may be NULL for the defaults. OUT: *out. Returns 0 or AX_ENOMEM. Release with srv_http_close(). */
int srv_http_new(uv_loop_t *loop, const srv_http_opts *o, srv_http **out);

/* Register a handler for `methods` (SRV_* mask; SRV_GET implies SRV_HEAD, answered without
 * a body) on `path` ("/api/v1/query"), matched exactly or, if `prefix`, as a prefix of the
 * decoded request path ("/api/v1/label/"). Among the routes that match the path and allow
 * the method, an exact match beats a prefix match and a longer prefix a shorter one. If
 * routes match the path but none allows the method: 405 with an Allow header listing
 * their methods; no match: 404. `path` is copied, `ctx` borrowed. Register before
 * srv_http_listen(). Returns 0, AX_EINVAL (empty or unknown mask, path not starting with
 * '/', NULL fn, or called after srv_http_listen) or AX_ENOMEM. */
int srv_http_route(srv_http *s, unsigned methods, const char *path, bool prefix,
                   srv_handler_fn fn, void *ctx);

/* Access classes of a route, per method (server/auth.c assigns them and documents the
 * table). SRV_ACCESS_UNSET: no class given; a gate must then ask for full credentials.
 * SRV_ACCESS_ANY is what the gate is asked for a request no route takes (404/405): any
 * valid credentials, so that unknown paths do not answer unauthenticated clients. */
enum {
    SRV_ACCESS_UNSET = 0,
    SRV_ACCESS_PUBLIC,  /* no credentials needed */
    SRV_ACCESS_READ,    /* read token or full credentials */
    SRV_ACCESS_WRITE,   /* write token or full credentials */
    SRV_ACCESS_ANY,     /* unrouted: any valid credentials */
};

/* Set the access class (SRV_ACCESS_PUBLIC, _READ or _WRITE) of the `methods` (SRV_* mask;
 * SRV_GET includes SRV_HEAD) of every route registered on exactly `path` (same `prefix`).
 * Returns 0, AX_EINVAL (bad class or mask) or AX_ENOTFOUND (no such route, or it allows
 * none of `methods`). */
int srv_http_route_access(srv_http *s, const char *path, bool prefix, unsigned methods,
                          int access);
/* The access class of route i (registration order) for one method bit (SRV_GET...):
 * SRV_ACCESS_*, or -1 when i is out of range or the route does not allow the method. */
int srv_http_route_access_get(srv_http *s, size_t i, unsigned method);

/* An access check, run when a request's headers are complete: before its body is kept and
 * before any handler. `access` is the class of the chosen route for the request's method
 * (SRV_ACCESS_ANY when no route takes it). Returns 0 (go on), 401 or 403, with a static
 * reason in *msg. A 401 reply carries `WWW-Authenticate: Basic realm="auspex"` and
 * `WWW-Authenticate: Bearer realm="auspex"`; a denied request's body is read and dropped.
 * Loop thread; must not keep r. */
typedef int (*srv_gate_fn)(const srv_req *r, int access, void *ctx, const char **msg);
/* Install the gate (NULL: none, every request goes through; the default). `ctx` borrowed. */
void srv_http_set_gate(srv_http *s, srv_gate_fn fn, void *ctx);

/* Override the body cap of every route registered so far on exactly `path` (same `prefix`
 * flag); e.g. a smaller cap for query routes. Returns 0 or AX_ENOTFOUND. */
int srv_http_route_max_body(srv_http *s, const char *path, bool prefix, size_t max_body_bytes);

/* Bind and listen on `addr`: "127.0.0.1:9444", "[::1]:9444", "localhost:9444" or ":9444"
 * (all IPv4 interfaces); port 0 picks a free port (see srv_http_port). Returns 0,
 * AX_EINVAL (bad address, or already listening) or AX_EIO (bind/listen failed); e says
 * which. */
int srv_http_listen(srv_http *s, const char *addr, ax_err *e);

/* The bound TCP port after a successful srv_http_listen(), else 0. */
int srv_http_port(srv_http *s);

/* Stop accepting, close idle and half-received connections, let requests already handed to
 * a handler finish (their replies carry `Connection: close`), then call done_cb(arg) (may
 * be NULL) on the loop thread and free the server. `s` must not be used after this call;
 * done_cb always runs from the loop, never inside srv_http_close(). */
void srv_http_close(srv_http *s, void (*done_cb)(void *arg), void *arg);

/* ---- counters (loop thread) ---- */

typedef struct srv_http_stats {
    uint64_t requests_by_class[6]; /* replies by status class: [1] 1xx ... [5] 5xx */
    uint64_t bytes_in;             /* bytes read from sockets */
    uint64_t bytes_out;            /* response bytes written to sockets */
    uint64_t conns_open;           /* connections currently open */
    uint64_t conns_accepted;       /* connections accepted since start */
    uint64_t conns_rejected;       /* connections refused over max_conns */
    uint64_t bad_requests;         /* requests rejected by the parser or a limit */
    uint64_t timeouts;             /* connections closed by the header timeout */
} srv_http_stats;

/* Copy the server-wide counters into *out. */
void srv_http_stats_get(srv_http *s, srv_http_stats *out);

typedef struct srv_route_stats {
    const char *path;        /* borrowed from the server */
    bool prefix;
    unsigned methods;
    uint64_t requests;       /* replies to requests routed here */
    double duration_sum_s;   /* seconds from a request's first byte to its reply, summed */
} srv_route_stats;

/* Number of registered routes (index them with srv_http_route_stats). */
size_t srv_http_route_count(srv_http *s);
/* Counters of route i (registration order). Returns 0 or AX_ENOTFOUND (i out of range). */
int srv_http_route_stats(srv_http *s, size_t i, srv_route_stats *out);

/* ---- request (borrowed by the handler; valid until the reply, see Invariant 1) ---- */

/* SRV_GET, SRV_POST, SRV_PUT, SRV_DELETE or SRV_HEAD. */
unsigned srv_req_method(const srv_req *r);
/* The method as sent ("GET"). */
const char *srv_req_method_name(const srv_req *r);
/* Percent-decoded path, without query string. OUT: *len (may be NULL). Never NULL. */
const char *srv_req_path(const srv_req *r, size_t *len);
/* Raw query string after '?', not decoded ("" if none). OUT: *len (may be NULL). */
const char *srv_req_query(const srv_req *r, size_t *len);

/* First value of parameter `name`, percent-decoded with '+' as space, or NULL. Parameters
 * come from the form body (POST/PUT with Content-Type application/x-www-form-urlencoded)
 * first, then from the URL query, as Go's Request.Form orders them. A malformed escape
 * ("%zz") is kept literally. OUT: *len (may be NULL). NULL as well if the request arena
 * budget is exhausted. */
const char *srv_req_param(srv_req *r, const char *name, size_t *len);
/* All values of parameter `name` ("match[]"), in the order above. Fills out[0..cap).
 * Returns the number of values (may exceed cap, like snprintf). */
size_t srv_req_params(srv_req *r, const char *name, srv_span *out, size_t cap);
/* Take parameters from the URL query only, whatever the Content-Type: for routes whose
 * body is data (imports), which `curl -d @file` labels as a form. Call before the first
 * srv_req_param(s). */
void srv_req_body_is_data(srv_req *r);
/* Parameter `name` as a time (RFC 3339 or Unix seconds with fraction, see ax_time_parse).
 * Absent or empty: *out = dflt. OUT: *out; *given (may be NULL) set true when present.
 * Returns 0 or AX_EINVAL with `invalid parameter "start": cannot parse ...` in e. */
int srv_req_param_time(srv_req *r, const char *name, int64_t dflt, int64_t *out, bool *given,
                       ax_err *e);
/* Parameter `name` as a whole number in [0, max]. Absent or empty: *out = dflt. OUT: *out.
 * Returns 0 or AX_EINVAL with the reason in e. */
int srv_req_param_uint(srv_req *r, const char *name, uint64_t dflt, uint64_t max, uint64_t *out,
                       ax_err *e);

/* Value of the first header named `name` (case-insensitive), trailing blanks trimmed, or
 * NULL. OUT: *len (may be NULL). */
const char *srv_req_header(const srv_req *r, const char *name, size_t *len);

/* Request body bytes (after chunked decoding; content encodings untouched). OUT: *len.
 * Never NULL (an empty body gives a pointer to ""). */
const uint8_t *srv_req_body(const srv_req *r, size_t *len);

/* The request's arena: allocations live until the request is freed after the reply. */
ax_arena *srv_req_arena(srv_req *r);
/* The ctx given to srv_http_route(). */
void *srv_req_ctx(const srv_req *r);
/* True once the client has disconnected (its reply will be dropped): a handler or `after`
 * may skip expensive work. Loop thread only. */
bool srv_req_gone(const srv_req *r);
/* A pointer of the caller's for this request (e.g. state between handler, work, after). */
void srv_req_set_udata(srv_req *r, void *udata);
void *srv_req_udata(const srv_req *r);

/* ---- off-loop work ---- */

/* Run work(r) on a threadpool thread, then after(r) on the loop thread, which usually
 * replies. Call from the handler or from a previous `after`, before replying; at most one
 * work item per request at a time. The request (and its connection struct) stay valid
 * until `after` has returned, even if the client disconnects meanwhile (the reply is then
 * dropped). */
void srv_req_work(srv_req *r, void (*work)(srv_req *r), void (*after)(srv_req *r));

/* ---- responses: exactly one per request (a second is a BUG) ---- */

/* Add a response header (e.g. "Retry-After", "5") before replying. The server writes
 * Content-Length, Connection and, for srv_reply_error, Content-Type itself. Returns 0,
 * AX_EINVAL (CR, LF or NUL in name or value, or an empty name) or AX_ETOOBIG (more than
 * 16 KiB of added headers). */
int srv_reply_header(srv_req *r, const char *name, const char *value);

/* Reply with `status` and `len` bytes of `body` (copied; may be NULL when len is 0).
 * content_type may be NULL (no Content-Type header). HEAD replies carry the same headers
 * and no body. If the client is gone the reply is dropped. */
void srv_reply(srv_req *r, int status, const char *content_type, const void *body, size_t len);

/* Like srv_reply, but takes b's memory (no copy); b is left empty (data NULL, len 0). */
void srv_reply_buf_take(srv_req *r, int status, const char *content_type, ax_buf *b);

/* Reply `status` with the Prometheus error JSON
 * {"status":"error","errorType":"<error_type>","error":"<printf message, JSON-escaped>"}
 * (invalid UTF-8 in the message becomes U+FFFD). */
void srv_reply_error(srv_req *r, int status, const char *error_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void srv_reply_verror(srv_req *r, int status, const char *error_type, const char *fmt,
                      va_list ap);

/* ---- streamed responses (chunked transfer encoding; for bodies too big to build whole) ----
 * srv_reply_stream_begin writes the status line and headers; each srv_reply_stream_take
 * sends one chunk; srv_reply_stream_end(r, true) sends the last chunk and completes the
 * reply (the request then counts as replied). Between them the request may go on using
 * srv_req_work (produce the next piece on a worker, send it from `after`). HTTP/1.0
 * clients get the body unframed and the connection closed at the end. end(r, false)
 * aborts: the connection is closed without the last chunk, so the client sees the body
 * is incomplete. Loop thread only. */
void srv_reply_stream_begin(srv_req *r, int status, const char *content_type);
/* Send b's bytes as one chunk, taking b's memory (b is left empty). Returns 0, or AX_EIO
 * when the client is gone (stop producing, then call srv_reply_stream_end). */
int srv_reply_stream_take(srv_req *r, ax_buf *b);
/* Bytes queued on the connection and not yet written (to pace a producer). */
size_t srv_reply_stream_queued(const srv_req *r);
void srv_reply_stream_end(srv_req *r, bool complete);

/* The table from a status code to HTTP: AX_EINVAL -> 400 bad_data, AX_ETOOBIG -> 413
 * bad_data, AX_ELIMIT -> 422 execution, AX_ENOTFOUND -> 404 not_found, AX_EAGAIN, AX_EIO,
 * AX_EFULL, AX_ENOMEM -> 503 unavailable, AX_ECORRUPT and anything else -> 500 internal.
 * OUT: *error_type (may be NULL). Returns the HTTP status. */
int srv_http_status_of(int rc, const char **error_type);

/* ---- test hook (fuzz_http, unit tests): no sockets ---- */

/* Run the server's parser, limits and routes on `len` bytes as if they arrived on one
 * connection in pieces cut at the ascending offsets splits[0..n_splits), then at EOF.
 * Response bytes are appended to `out` (its cap bounds them; excess is dropped).
 * srv_req_work runs work and after inline. Handlers must reply before returning or from
 * `after`. Returns 0 or AX_ENOMEM. Loop thread only; timeouts do not apply. */
int srv__http_feed(srv_http *s, const void *data, size_t len, const size_t *splits,
                   size_t n_splits, ax_buf *out);

#endif
