/* server/http.c: listening socket, connections, llhttp parsing, routing, writes, timeouts.
 *
 * Reads land in one server-wide buffer and are parsed straight from it; llhttp pauses at
 * the end of each message (on_message_complete returns HPE_PAUSED), the handler runs
 * outside the parser, and any bytes after that message (pipelining) are copied into the
 * connection's `in` buffer until the reply is queued. Reading stops while `in` holds
 * IN_HIGH bytes or the socket's write queue holds WQ_HIGH bytes, so a client that sends
 * without reading cannot grow our memory.
 *
 * Connection phases (c->phase; the timer enforces each):
 *   PH_IDLE  -(first byte of a request)-> PH_HEAD       timer: idle_timeout_ms
 *   PH_HEAD  -(headers complete)-> PH_BODY               timer: header_timeout_ms -> 408
 *   PH_BODY  -(message complete)-> PH_BUSY               timer: idle_timeout_ms per read
 *   PH_BUSY  -(reply queued, keep-alive)-> PH_IDLE       timer: off
 *   any      -(reply or error with close)-> writes drain -> shutdown(SHUT_WR) -> PH_LINGER:
 *            read and discard for LINGER_MS so the client sees the reply instead of a RST
 *            -> uv_close.
 * References on a connection (c->refs): its TCP handle and its timer (each released by
 * its close callback), the request it holds, and conn_process while it runs. The struct
 * is freed when the count reaches zero, so a request whose client left stays valid.
 */
#include "server/http_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RBUF_LEN (64 * 1024)
#define IN_HIGH (64 * 1024)          /* stop reading while this much waits unparsed */
#define WQ_HIGH (1024 * 1024)        /* stop handling requests while this much waits to go out */
#define LINGER_MS 2000
#define REJECT_SLACK 64              /* connections over max_conns that still get a 503 */
#define SIZE_RESERVE_MAX (1024 * 1024)

enum { PH_IDLE, PH_HEAD, PH_BODY, PH_BUSY, PH_LINGER };

struct srv_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    srv_http *srv;
    srv_conn *prev, *next;
    llhttp_t parser;
    int refs;
    int phase;
    srv_req *req;             /* request being parsed or handled */
    ax_buf in;                /* bytes read but not parsed yet */
    ax_buf acc;               /* URL / header name / header value being assembled */
    size_t head_bytes;        /* request line + headers so far */
    int reject;               /* status a parser callback chose before failing the parse */
    const char *reject_msg;
    char reject_buf[96];      /* reject_msg when it carries a number */
    size_t writes;            /* uv_write requests in flight */
    size_t wq_mark;           /* write queue size when the timer was armed */
    ax_buf *capture;          /* fake connection (srv__http_feed): response bytes go here */
    bool fake;
    bool closed;              /* conn_close called */
    bool close_after_write;   /* no more requests: shut down once writes drain */
    bool peer_eof;
    bool reading;
    bool processing;
    bool wait_write;
};

typedef struct wreq {
    uv_write_t req;
    srv_conn *conn;
    char *head, *body;
    size_t len;
} wreq;

static void conn_process(srv_conn *c, const char *p, size_t len);
static void conn_close(srv_conn *c);
static void conn_update_reading(srv_conn *c);
static void srv_maybe_done(srv_http *s);

/* ---- process setup ---- */

void srv_http_global_init(void) {
    setenv("UV_THREADPOOL_SIZE", "16", 0);
    signal(SIGPIPE, SIG_IGN);
}

bool srv__on_loop(const srv_http *s) {
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &s->loop_thread) != 0;
}

/* ---- server ---- */

int srv_http_new(uv_loop_t *loop, const srv_http_opts *o, srv_http **out) {
    srv_http *s = calloc(1, sizeof *s);
    if (!s) return AX_ENOMEM;
    s->rbuf = malloc(RBUF_LEN);
    if (!s->rbuf) {
        free(s);
        return AX_ENOMEM;
    }
    s->loop = loop;
    s->loop_thread = uv_thread_self();
    if (o) s->opts = *o;
    if (!s->opts.max_body_bytes) s->opts.max_body_bytes = 32u << 20;
    if (!s->opts.max_header_bytes) s->opts.max_header_bytes = 64u << 10;
    if (!s->opts.max_conns) s->opts.max_conns = 1024;
    if (!s->opts.max_arena_bytes) s->opts.max_arena_bytes = 256u << 20;
    if (!s->opts.idle_timeout_ms) s->opts.idle_timeout_ms = 60000;
    if (!s->opts.header_timeout_ms) s->opts.header_timeout_ms = 30000;
    uv_tcp_init(loop, &s->listener);  /* no socket until bind; cannot fail for AF_UNSPEC */
    s->listener.data = s;
    *out = s;
    return 0;
}

int srv_http_route(srv_http *s, unsigned methods, const char *path, bool prefix,
                   srv_handler_fn fn, void *ctx) {
    unsigned all = SRV_GET | SRV_POST | SRV_PUT | SRV_DELETE | SRV_HEAD;
    if (!(methods & all) || (methods & ~all) || !path || path[0] != '/' || !fn) return AX_EINVAL;
    if (s->listening || s->closing) return AX_EINVAL;  /* requests point into s->routes */
    if (s->n_routes == s->cap_routes) {
        size_t cap = s->cap_routes ? s->cap_routes * 2 : 16;
        srv_route *rs = realloc(s->routes, cap * sizeof *rs);
        if (!rs) return AX_ENOMEM;
        s->routes = rs;
        s->cap_routes = cap;
    }
    char *p = strdup(path);
    if (!p) return AX_ENOMEM;
    if (methods & SRV_GET) methods |= SRV_HEAD;
    s->routes[s->n_routes++] = (srv_route){
        .path = p, .path_len = strlen(p), .prefix = prefix, .methods = methods,
        .fn = fn, .ctx = ctx, .max_body = s->opts.max_body_bytes,
    };
    return 0;
}

int srv_http_route_max_body(srv_http *s, const char *path, bool prefix, size_t max_body_bytes) {
    int rc = AX_ENOTFOUND;
    for (size_t i = 0; i < s->n_routes; i++) {
        if (s->routes[i].prefix == prefix && !strcmp(s->routes[i].path, path)) {
            s->routes[i].max_body = max_body_bytes;
            rc = 0;
        }
    }
    return rc;
}

static unsigned method_index(unsigned bit) { return (unsigned)__builtin_ctz(bit); }

int srv_http_route_access(srv_http *s, const char *path, bool prefix, unsigned methods,
                          int access) {
    unsigned all = SRV_GET | SRV_POST | SRV_PUT | SRV_DELETE | SRV_HEAD;
    if (!(methods & all) || (methods & ~all) ||
        (access != SRV_ACCESS_PUBLIC && access != SRV_ACCESS_READ && access != SRV_ACCESS_WRITE))
        return AX_EINVAL;
    if (methods & SRV_GET) methods |= SRV_HEAD;
    int rc = AX_ENOTFOUND;
    for (size_t i = 0; i < s->n_routes; i++) {
        srv_route *rt = &s->routes[i];
        if (rt->prefix != prefix || strcmp(rt->path, path) || !(rt->methods & methods)) continue;
        for (unsigned m = SRV_GET; m <= SRV_HEAD; m <<= 1)
            if (methods & rt->methods & m) rt->access[method_index(m)] = (uint8_t)access;
        rc = 0;
    }
    return rc;
}

int srv_http_route_access_get(srv_http *s, size_t i, unsigned method) {
    if (i >= s->n_routes || !method || (method & (method - 1)) || method > SRV_HEAD ||
        !(s->routes[i].methods & method))
        return -1;
    return s->routes[i].access[method_index(method)];
}

void srv_http_set_gate(srv_http *s, srv_gate_fn fn, void *ctx) {
    s->gate = fn;
    s->gate_ctx = ctx;
}

/* Parse "host:port", "[v6]:port" or ":port" into *sa. */
static int addr_parse(const char *addr, struct sockaddr_storage *sa, ax_err *e) {
    const char *colon = strrchr(addr, ':');
    if (!colon) return ax_err_set(e, AX_EINVAL, "listen address \"%s\": missing :port", addr);
    const char *ps = colon + 1;
    unsigned port = 0;
    if (!*ps) return ax_err_set(e, AX_EINVAL, "listen address \"%s\": missing port", addr);
    for (const char *q = ps; *q; q++) {
        if (*q < '0' || *q > '9' || port > 65535)
            return ax_err_set(e, AX_EINVAL, "listen address \"%s\": bad port", addr);
        port = port * 10 + (unsigned)(*q - '0');
    }
    if (port > 65535) return ax_err_set(e, AX_EINVAL, "listen address \"%s\": bad port", addr);
    char host[64];
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    bool v6 = false;
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        h = addr + 1;
        hl -= 2;
        v6 = true;
    }
    if (hl >= sizeof host) return ax_err_set(e, AX_EINVAL, "listen address \"%s\": host too long", addr);
    memcpy(host, h, hl);
    host[hl] = 0;
    if (hl == 0) strcpy(host, "0.0.0.0");
    else if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    int rc = v6 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa)
                : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa);
    if (rc) return ax_err_set(e, AX_EINVAL, "listen address \"%s\": not a numeric address", addr);
    return 0;
}

static srv_conn *conn_new(srv_http *s);
static void timer_set(srv_conn *c, uint64_t ms);
static void conn_send_error(srv_conn *c, int status, const char *type, const char *msg);

static void on_connection(uv_stream_t *ls, int status) {
    srv_http *s = ls->data;
    if (status < 0 || s->closing) return;
    srv_conn *c = conn_new(s);
    if (!c) {
        /* accept into a throwaway handle so the kernel queue does not spin the loop */
        uv_tcp_t *t = malloc(sizeof *t);
        if (t && uv_tcp_init(s->loop, t) == 0) {
            uv_accept(ls, (uv_stream_t *)t);
            uv_close((uv_handle_t *)t, (uv_close_cb)free);
        } else {
            free(t);
        }
        return;
    }
    if (uv_accept(ls, (uv_stream_t *)&c->tcp)) {
        conn_close(c);
        return;
    }
    s->stats.conns_accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    timer_set(c, s->opts.idle_timeout_ms);
    if (s->n_conns > s->opts.max_conns) {
        s->stats.conns_rejected++;
        if (s->n_conns > s->opts.max_conns + REJECT_SLACK) conn_close(c);
        else conn_send_error(c, 503, "unavailable", "too many open connections");
        return;
    }
    conn_update_reading(c);
}

int srv_http_listen(srv_http *s, const char *addr, ax_err *e) {
    if (s->listening || s->closing) return ax_err_set(e, AX_EINVAL, "server already listening");
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    int rc = addr_parse(addr, &sa, e);
    if (rc) return rc;
    int urc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
    if (!urc) urc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (urc) return ax_err_set(e, AX_EIO, "listen on %s: %s", addr, uv_strerror(urc));
    s->listening = true;
    return 0;
}

int srv_http_port(srv_http *s) {
    if (!s->listening) return 0;
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&sa, &len)) return 0;
    if (sa.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&sa)->sin_port);
    if (sa.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    return 0;
}

static void on_listener_closed(uv_handle_t *h) {
    srv_http *s = h->data;
    s->listener_closed = true;
    srv_maybe_done(s);
}

void srv_http_close(srv_http *s, void (*done_cb)(void *arg), void *arg) {
    AX_ASSERT(!s->closing);
    s->closing = true;
    s->done_cb = done_cb;
    s->done_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    srv_conn *next;
    for (srv_conn *c = s->conns; c; c = next) {
        next = c->next;
        if (c->closed) continue;
        if (c->req && c->req->dispatched) continue;  /* its reply will say Connection: close */
        if (c->writes) c->close_after_write = true;
        else conn_close(c);
    }
}

static void srv_maybe_done(srv_http *s) {
    if (!s->closing || !s->listener_closed || s->n_conns) return;
    if (s->done_cb) s->done_cb(s->done_arg);
    for (size_t i = 0; i < s->n_routes; i++) free(s->routes[i].path);
    free(s->routes);
    free(s->rbuf);
    free(s);
}

void srv_http_stats_get(srv_http *s, srv_http_stats *out) {
    *out = s->stats;
    out->conns_open = s->n_conns;
}

size_t srv_http_route_count(srv_http *s) { return s->n_routes; }

int srv_http_route_stats(srv_http *s, size_t i, srv_route_stats *out) {
    if (i >= s->n_routes) return AX_ENOTFOUND;
    const srv_route *rt = &s->routes[i];
    *out = (srv_route_stats){
        .path = rt->path, .prefix = rt->prefix, .methods = rt->methods,
        .requests = rt->requests, .duration_sum_s = (double)rt->duration_ns / 1e9,
    };
    return 0;
}

/* ---- connections ---- */

static void conn_unref(srv_conn *c) {
    AX_ASSERT(c->refs > 0);
    if (--c->refs) return;
    srv_http *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else if (s->conns == c) s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_conns--;
    ax_buf_free(&c->in);
    ax_buf_free(&c->acc);
    free(c);
    srv_maybe_done(s);
}

static void on_handle_closed(uv_handle_t *h) { conn_unref(h->data); }

static const llhttp_settings_t *parser_settings(void);

static void conn_init_common(srv_conn *c, srv_http *s) {
    c->srv = s;
    llhttp_init(&c->parser, HTTP_REQUEST, parser_settings());
    c->parser.data = c;
    ax_buf_init(&c->in, IN_HIGH + RBUF_LEN);
    ax_buf_init(&c->acc, s->opts.max_header_bytes);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
}

static srv_conn *conn_new(srv_http *s) {
    srv_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (uv_tcp_init(s->loop, &c->tcp)) {
        free(c);
        return NULL;
    }
    uv_timer_init(s->loop, &c->timer);  /* cannot fail */
    c->tcp.data = c->timer.data = c;
    c->refs = 2;
    conn_init_common(c, s);
    return c;
}

static void timer_set(srv_conn *c, uint64_t ms);

/* Free r and drop its reference on the connection. A request that was handled and
 * replied to lets the connection go on with pipelined bytes; one dropped before dispatch
 * (error, timeout, close) does not. */
static void req_free(srv_req *r) {
    srv_conn *c = r->conn;
    AX_ASSERT(c->req == r);
    bool done = r->dispatched;
    c->req = NULL;
    ax_arena_clear(&r->arena);
    ax_buf_free(&r->body);
    ax_buf_free(&r->out_headers);
    free(r);
    c->head_bytes = 0;
    if (done && !c->closed && !c->close_after_write) {
        c->phase = PH_IDLE;
        timer_set(c, c->srv->opts.idle_timeout_ms);
        conn_process(c, NULL, 0);  /* pipelined bytes; a no-op while conn_process runs */
    }
    conn_unref(c);
}

void srv__req_maybe_free(srv_req *r) {
    if (r->replied && !r->in_cb && !r->work_pending) req_free(r);
}

static void conn_close(srv_conn *c) {
    if (c->closed) return;
    c->closed = true;
    if (c->req && !c->req->dispatched) req_free(c->req);
    if (c->fake) {
        AX_ASSERT(c->refs > 2);  /* srv__http_feed holds one more */
        c->refs -= 2;            /* the two "handles" of a fake connection */
        return;
    }
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* Header timeout: 408 and close. Otherwise (idle, linger, a reply that does not drain)
 * close, unless the client has read some of our pending response since the timer was
 * armed: a slow download is not an idle connection. */
static void on_timer(uv_timer_t *t) {
    srv_conn *c = t->data;
    if (c->closed) return;
    bool receiving = (c->phase == PH_HEAD || c->phase == PH_BODY) && !c->close_after_write;
    if (receiving) {
        c->srv->stats.timeouts++;
        if (c->req) req_free(c->req);
        conn_send_error(c, 408, "timeout", "request not received in time");
        return;
    }
    if (c->writes && c->tcp.write_queue_size < c->wq_mark) {
        timer_set(c, c->srv->opts.idle_timeout_ms);
        return;
    }
    conn_close(c);
}

static void timer_set(srv_conn *c, uint64_t ms) {
    if (c->fake || c->closed) return;
    c->wq_mark = c->tcp.write_queue_size;
    if (ms) uv_timer_start(&c->timer, on_timer, ms, 0);
    else uv_timer_stop(&c->timer);
}

/* ---- reading ---- */

/* New bytes from the client: parse them in place, or queue them behind unparsed bytes or
 * a request in flight. */
static void conn_input(srv_conn *c, const char *p, size_t len) {
    if (c->closed || c->phase == PH_LINGER || c->close_after_write) return;  /* discard */
    if (c->in.len || (c->req && c->req->dispatched) || c->wait_write) {
        if (ax_buf_append(&c->in, p, len)) conn_close(c);  /* cannot happen: reads stop at IN_HIGH */
        else conn_process(c, NULL, 0);
    } else {
        conn_process(c, p, len);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    srv_conn *c = h->data;
    buf->base = c->srv->rbuf;
    buf->len = RBUF_LEN;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    srv_conn *c = st->data;
    if (nread == 0 || c->closed) return;
    if (nread < 0) {
        if (nread == UV_EOF && c->phase != PH_LINGER) {
            c->peer_eof = true;
            conn_update_reading(c);
            conn_process(c, NULL, 0);
        } else {
            conn_close(c);
        }
        return;
    }
    c->srv->stats.bytes_in += (uint64_t)nread;
    if (c->phase == PH_BODY) timer_set(c, c->srv->opts.idle_timeout_ms);
    conn_input(c, buf->base, (size_t)nread);
}

static void conn_update_reading(srv_conn *c) {
    if (c->fake || c->closed) return;
    bool want = !c->peer_eof && !c->wait_write && c->in.len < IN_HIGH &&
                (c->phase == PH_LINGER || !c->close_after_write);
    if (want && !c->reading) c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ---- writing ---- */

static void on_shutdown(uv_shutdown_t *sr, int status) {
    srv_conn *c = sr->data;
    if (c->closed) return;
    if (status < 0 || c->peer_eof || c->srv->closing) {
        conn_close(c);
        return;
    }
    timer_set(c, LINGER_MS);
    conn_update_reading(c);
}

/* All writes are done and no more requests will be read: close gracefully. */
static void conn_finish(srv_conn *c) {
    if (c->closed) return;
    if (c->fake || c->peer_eof || c->srv->closing) {
        conn_close(c);
        return;
    }
    c->phase = PH_LINGER;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown)) conn_close(c);
}

static void on_write(uv_write_t *w, int status) {
    wreq *wr = (wreq *)w;
    srv_conn *c = wr->conn;
    c->writes--;
    if (status == 0) c->srv->stats.bytes_out += wr->len;
    free(wr->head);
    free(wr->body);
    free(wr);
    if (c->closed) return;
    if (status < 0) {
        conn_close(c);
    } else if (c->close_after_write) {
        if (!c->writes) conn_finish(c);
    } else if (c->wait_write && c->tcp.write_queue_size < WQ_HIGH) {
        c->wait_write = false;
        conn_process(c, NULL, 0);
    }
}

/* Queue head then body (both malloc'd, taken; body may be NULL). */
static void conn_write(srv_conn *c, char *head, size_t hlen, char *body, size_t blen) {
    if (c->closed) {
        free(head);
        free(body);
        return;
    }
    if (c->fake) {
        if (c->capture) {
            /* a full capture buffer just drops bytes: the fuzz target only needs no crash */
            if (ax_buf_append(c->capture, head, hlen) == 0 && blen)
                ax_buf_append(c->capture, body, blen);
        }
        c->srv->stats.bytes_out += hlen + blen;
        free(head);
        free(body);
        if (c->close_after_write) conn_finish(c);
        return;
    }
    wreq *wr = malloc(sizeof *wr);
    if (!wr) {
        free(head);
        free(body);
        conn_close(c);
        return;
    }
    wr->conn = c;
    wr->head = head;
    wr->body = body;
    wr->len = hlen + blen;
    /* uv_buf_t lengths are unsigned int: a body past 1 GiB goes in 1 GiB pieces */
    enum { PIECE = 1u << 30, MAX_BUFS = 9 };
    uv_buf_t bufs[MAX_BUFS];
    unsigned n = 0;
    bufs[n++] = uv_buf_init(head, (unsigned)hlen);
    for (size_t off = 0; off < blen && n < MAX_BUFS; off += PIECE) {
        size_t piece = blen - off < PIECE ? blen - off : PIECE;
        bufs[n++] = uv_buf_init(body + off, (unsigned)piece);
    }
    c->writes++;
    if (blen > (size_t)PIECE * (MAX_BUFS - 1) ||
        uv_write(&wr->req, (uv_stream_t *)&c->tcp, bufs, n, on_write)) {
        c->writes--;
        free(head);
        free(body);
        free(wr);
        conn_close(c);
    }
}

/* Reply without a handler (parse errors, limits, timeouts) and close after writing. */
static void conn_send_error(srv_conn *c, int status, const char *type, const char *msg) {
    if (c->closed || c->close_after_write) return;
    size_t len;
    char *resp = srv__error_response(status, type, msg, false, &len);
    c->srv->stats.requests_by_class[status / 100]++;
    c->close_after_write = true;
    timer_set(c, c->srv->opts.idle_timeout_ms);  /* bounds a write the client never reads */
    conn_update_reading(c);
    if (!resp) {
        conn_close(c);
        return;
    }
    conn_write(c, resp, len, NULL, 0);
    if (!c->fake && !c->closed && !c->writes) conn_finish(c);
}

void srv__req_send(srv_req *r, int status, char *head, size_t head_len, char *body,
                   size_t body_len, bool keep_alive) {
    srv_conn *c = r->conn;
    srv_http *s = r->srv;
    s->stats.requests_by_class[status >= 100 && status < 600 ? status / 100 : 5]++;
    if (r->route) {
        srv_route *rt = (srv_route *)r->route;
        rt->requests++;
        rt->duration_ns += ax_mono_ns() - r->t_start_ns;
    }
    if (!keep_alive && !c->closed) {
        c->close_after_write = true;
        timer_set(c, s->opts.idle_timeout_ms);  /* bounds a write the client never reads */
        conn_update_reading(c);
    }
    if (head) conn_write(c, head, head_len, body, body_len);
    else conn_close(c);  /* no memory for the head: the client sees the connection close */
    if (!c->closed && !c->fake && c->wait_write == false && c->tcp.write_queue_size >= WQ_HIGH)
        c->wait_write = true;
    srv__req_maybe_free(r);
}

bool srv_req_gone(const srv_req *r) { return r->conn->closed; }

/* ---- streamed replies (chunked transfer encoding) ---- */

void srv_reply_stream_begin(srv_req *r, int status, const char *content_type) {
    AX_ASSERT(srv__on_loop(r->srv) && r->dispatched && !r->replied && !r->streaming);
    r->streaming = true;
    r->stream_status = status;
    /* HTTP/1.0 has no chunked encoding: the body ends when the connection closes */
    r->stream_keep = r->keep_alive && !r->srv->closing && !r->http10;
    ax_buf h;
    ax_buf_init(&h, SIZE_MAX);
    int rc = ax_buf_printf(&h, "HTTP/1.1 %d %s\r\n", status, srv__status_text(status));
    if (!rc && content_type) rc = ax_buf_printf(&h, "Content-Type: %s\r\n", content_type);
    if (!rc && !r->http10) rc = ax_buf_append_str(&h, "Transfer-Encoding: chunked\r\n");
    if (!rc && r->out_headers.len) rc = ax_buf_append(&h, r->out_headers.data, r->out_headers.len);
    if (!rc && !r->stream_keep) rc = ax_buf_append_str(&h, "Connection: close\r\n");
    if (!rc) rc = ax_buf_append(&h, "\r\n", 2);
    if (rc) {
        ax_buf_free(&h);
        conn_close(r->conn); /* no memory for the head: the client sees the close */
        return;
    }
    conn_write(r->conn, (char *)h.data, h.len, NULL, 0);
}

int srv_reply_stream_take(srv_req *r, ax_buf *b) {
    AX_ASSERT(srv__on_loop(r->srv) && r->streaming && !r->replied);
    srv_conn *c = r->conn;
    if (c->closed) {
        ax_buf_free(b);
        return AX_EIO;
    }
    if (!b->len || r->method == SRV_HEAD) {
        ax_buf_free(b);
        return 0;
    }
    char *size_line = NULL;
    size_t slen = 0;
    if (!r->http10) {
        if (ax_buf_append(b, "\r\n", 2) || !(size_line = malloc(24))) {
            ax_buf_free(b);
            conn_close(c);
            return AX_ENOMEM;
        }
        slen = (size_t)snprintf(size_line, 24, "%zx\r\n", b->len - 2);
    } else if (!(size_line = malloc(1))) {
        ax_buf_free(b);
        conn_close(c);
        return AX_ENOMEM;
    }
    char *body = (char *)b->data;
    size_t blen = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    conn_write(c, size_line, slen, body, blen);
    return c->closed ? AX_EIO : 0;
}

size_t srv_reply_stream_queued(const srv_req *r) {
    return r->conn->closed || r->conn->fake ? 0 : r->conn->tcp.write_queue_size;
}

void srv_reply_stream_end(srv_req *r, bool complete) {
    AX_ASSERT(srv__on_loop(r->srv) && r->streaming && !r->replied && !r->work_pending);
    r->replied = true;
    if (!complete) {
        /* no last chunk: the client sees a truncated body, not a short success */
        srv__req_send(r, r->stream_status, NULL, 0, NULL, 0, false);
        return;
    }
    bool chunked = !r->http10;
    char *tail = malloc(6);
    if (tail && chunked) memcpy(tail, "0\r\n\r\n", 5);
    srv__req_send(r, r->stream_status, tail, chunked ? 5 : 0, NULL, 0, r->stream_keep);
}

/* ---- off-loop work ---- */

static void on_work(uv_work_t *w) {
    srv_req *r = w->data;
    r->work_fn(r);
}

static void on_after_work(uv_work_t *w, int status) {
    srv_req *r = w->data;
    r->work_pending = false;
    r->in_cb++;
    r->after_fn(r);
    r->in_cb--;
    srv__req_maybe_free(r);
}

void srv_req_work(srv_req *r, void (*work)(srv_req *r), void (*after)(srv_req *r)) {
    AX_ASSERT(srv__on_loop(r->srv) && !r->replied && !r->work_pending && work && after);
    r->work_pending = true;
    r->work_fn = work;
    r->after_fn = after;
    r->work.data = r;
    if (r->conn->fake) {
        on_work(&r->work);
        on_after_work(&r->work, 0);
        return;
    }
    int rc = uv_queue_work(r->srv->loop, &r->work, on_work, on_after_work);
    AX_ASSERT(rc == 0);  /* fails only on NULL callbacks */
}

/* ---- parser callbacks ---- */

#define CONN(p) ((srv_conn *)(p)->data)

static int reject(srv_conn *c, int status, const char *msg) {
    c->reject = status;
    c->reject_msg = msg;
    return HPE_USER;
}

static int too_big(srv_conn *c, size_t cap) {
    snprintf(c->reject_buf, sizeof c->reject_buf, "request body larger than %zu bytes", cap);
    return reject(c, 413, c->reject_buf);
}

static int on_message_begin(llhttp_t *p) {
    srv_conn *c = CONN(p);
    srv_http *s = c->srv;
    AX_ASSERT(!c->req);
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return reject(c, 503, "out of memory");
    r->srv = s;
    r->conn = c;
    r->t_start_ns = ax_mono_ns();
    ax_arena_init(&r->arena, s->opts.max_arena_bytes);
    ax_buf_init(&r->body, 0);
    ax_buf_init(&r->out_headers, 16 * 1024);
    c->req = r;
    c->refs++;
    c->head_bytes = 0;
    c->reject = 0;
    c->phase = PH_HEAD;
    ax_buf_reset(&c->acc);
    timer_set(c, s->opts.header_timeout_ms);
    return 0;
}

static int acc_add(srv_conn *c, const char *at, size_t len, int status, const char *msg) {
    c->head_bytes += len;
    if (c->head_bytes > c->srv->opts.max_header_bytes || ax_buf_append(&c->acc, at, len))
        return reject(c, status, msg);
    return 0;
}

/* The assembled token as a NUL-terminated arena string; resets acc. */
static char *acc_take(srv_conn *c, size_t *len) {
    char *s = ax_arena_alloc(&c->req->arena, c->acc.len + 1);
    if (!s) return NULL;
    if (c->acc.len) memcpy(s, c->acc.data, c->acc.len);
    s[c->acc.len] = 0;
    *len = c->acc.len;
    ax_buf_reset(&c->acc);
    return s;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
    return acc_add(CONN(p), at, len, 414, "request URI too long");
}

static int on_url_complete(llhttp_t *p) {
    srv_conn *c = CONN(p);
    c->req->url = acc_take(c, &c->req->url_len);
    return c->req->url ? 0 : reject(c, 503, "request arena exhausted");
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    return acc_add(CONN(p), at, len, 431, "request headers too large");
}

static int on_header_field_complete(llhttp_t *p) {
    srv_conn *c = CONN(p);
    c->req->cur_name = acc_take(c, &c->req->cur_name_len);
    return c->req->cur_name ? 0 : reject(c, 503, "request arena exhausted");
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    return acc_add(CONN(p), at, len, 431, "request headers too large");
}

static int on_header_value_complete(llhttp_t *p) {
    srv_conn *c = CONN(p);
    srv_req *r = c->req;
    while (c->acc.len && (c->acc.data[c->acc.len - 1] == ' ' || c->acc.data[c->acc.len - 1] == '\t'))
        c->acc.len--;
    srv_header *h = ax_arena_alloc(&r->arena, sizeof *h);
    if (!h || !r->cur_name) return reject(c, 503, "request arena exhausted");
    size_t vlen;
    char *v = acc_take(c, &vlen);
    if (!v) return reject(c, 503, "request arena exhausted");
    *h = (srv_header){.name = r->cur_name, .name_len = r->cur_name_len, .value = v, .value_len = vlen};
    r->cur_name = NULL;
    if (r->headers_tail) r->headers_tail->next = h;
    else r->headers = h;
    r->headers_tail = h;
    return 0;
}

static unsigned method_bit(uint8_t m) {
    switch (m) {
    case HTTP_GET: return SRV_GET;
    case HTTP_POST: return SRV_POST;
    case HTTP_PUT: return SRV_PUT;
    case HTTP_DELETE: return SRV_DELETE;
    case HTTP_HEAD: return SRV_HEAD;
    default: return 0;
    }
}

/* Split the request target into a decoded path and a raw query. Returns 0 or AX_EINVAL. */
static int url_split(srv_req *r) {
    const char *u = r->url, *end = r->url + r->url_len;
    if (r->url_len >= 8 && (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8))) {
        u = memchr(u, '/', (size_t)(end - u)) + 2;             /* after "//" */
        const char *slash = memchr(u, '/', (size_t)(end - u));  /* absolute-form: drop host */
        if (!slash) {
            r->path = "/";
            r->path_len = 1;
            r->query = "";
            return 0;
        }
        u = slash;
    }
    if (u == end || *u != '/') return AX_EINVAL;
    const char *hash = memchr(u, '#', (size_t)(end - u));
    if (hash) end = hash;
    const char *q = memchr(u, '?', (size_t)(end - u));
    const char *pend = q ? q : end;
    r->path = ax_arena_alloc(&r->arena, (size_t)(pend - u) + 1);
    if (!r->path) return AX_ENOMEM;
    r->path_len = srv__pct_decode(r->path, u, (size_t)(pend - u), false);
    if (q) {
        r->query = (char *)q + 1;  /* r->url is ours: cut it in place */
        r->query_len = (size_t)(end - q - 1);
        r->query[r->query_len] = 0;
    } else {
        r->query = "";
    }
    return 0;
}

/* Choose the route: among routes whose path matches and that allow the method, exact
 * beats prefix and a longer prefix beats a shorter one (first registered on a tie). With
 * no such route, r->allow collects the methods of every route whose path matches: 405 if
 * any, else 404. */
static void route_pick(srv_req *r) {
    srv_http *s = r->srv;
    size_t best = 0;
    r->route = NULL;
    r->allow = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const srv_route *rt = &s->routes[i];
        size_t score;
        if (!rt->prefix) {
            if (rt->path_len != r->path_len || memcmp(rt->path, r->path, r->path_len)) continue;
            score = SIZE_MAX;
        } else {
            if (rt->path_len > r->path_len || memcmp(rt->path, r->path, rt->path_len)) continue;
            score = rt->path_len;
        }
        r->allow |= rt->methods;
        if ((rt->methods & r->method) && (!r->route || score > best)) {
            r->route = rt;
            best = score;
        }
    }
    if (r->route) r->allow = 0;
}

static int on_headers_complete(llhttp_t *p) {
    srv_conn *c = CONN(p);
    srv_req *r = c->req;
    srv_http *s = c->srv;
    if (!r->url || url_split(r)) {
        c->reject = 400;
        c->reject_msg = "bad request target";
        return -1;
    }
    r->llmethod = (uint8_t)llhttp_get_method(p);
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    r->method = method_bit(r->llmethod);
    route_pick(r);
    if (s->gate) {
        int access = r->route && r->method ? r->route->access[method_index(r->method)] : SRV_ACCESS_ANY;
        r->deny_msg = "access denied";
        r->deny = s->gate(r, access, s->gate_ctx, &r->deny_msg);
    }
    size_t cap = r->route ? r->route->max_body : s->opts.max_body_bytes;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > cap) {
        too_big(c, cap);
        return -1;
    }
    ax_buf_init(&r->body, cap);
    if (r->route && !r->deny && (p->flags & F_CONTENT_LENGTH) && p->content_length)
        ax_buf_reserve(&r->body, p->content_length < SIZE_RESERVE_MAX ? p->content_length : SIZE_RESERVE_MAX);
    const char *expect = srv_req_header(r, "expect", NULL);
    if (expect && !strcasecmp(expect, "100-continue") && p->http_major == 1 && p->http_minor >= 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        char *m = malloc(sizeof cont - 1);
        if (m) {
            memcpy(m, cont, sizeof cont - 1);
            conn_write(c, m, sizeof cont - 1, NULL, 0);
        }
    }
    c->phase = PH_BODY;
    timer_set(c, s->opts.idle_timeout_ms);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    srv_conn *c = CONN(p);
    srv_req *r = c->req;
    if (!r->route || r->deny) {
        r->discarded += len;
        return r->discarded > r->body.max ? too_big(c, r->body.max) : 0;
    }
    int rc = ax_buf_append(&r->body, at, len);
    if (rc == AX_ETOOBIG) return too_big(c, r->body.max);
    if (rc) return reject(c, 503, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    srv_conn *c = CONN(p);
    srv_req *r = c->req;
    r->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
    r->complete = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t *parser_settings(void) {
    static const llhttp_settings_t st = {
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_url_complete = on_url_complete,
        .on_header_field = on_header_field,
        .on_header_field_complete = on_header_field_complete,
        .on_header_value = on_header_value,
        .on_header_value_complete = on_header_value_complete,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
    };
    return &st;
}

/* ---- processing ---- */

static void conn_parse_error(srv_conn *c) {
    int status = c->reject ? c->reject : 400;
    char msg[160];
    if (c->reject) snprintf(msg, sizeof msg, "%s", c->reject_msg);
    else snprintf(msg, sizeof msg, "malformed HTTP request: %s", llhttp_get_error_reason(&c->parser));
    c->srv->stats.bad_requests++;
    if (c->req) req_free(c->req);
    conn_send_error(c, status, status == 503 ? "unavailable" : "bad_data", msg);
}

/* Run llhttp on p[0..len). Returns the bytes consumed; a paused parser has a complete
 * request in c->req. */
static size_t conn_parse(srv_conn *c, const char *p, size_t len) {
    llhttp_errno_t err = llhttp_execute(&c->parser, p, len);
    if (err == HPE_OK) return len;
    if (err == HPE_PAUSED && c->req && c->req->complete) {
        size_t n = (size_t)(llhttp_get_error_pos(&c->parser) - p);
        llhttp_resume(&c->parser);
        return n;
    }
    conn_parse_error(c);
    return len;
}

static void conn_dispatch(srv_conn *c) {
    srv_req *r = c->req;
    r->dispatched = true;
    c->phase = PH_BUSY;
    timer_set(c, 0);
    r->in_cb++;
    if (r->deny) {
        if (r->deny == 401) {
            srv_reply_header(r, "WWW-Authenticate", "Basic realm=\"auspex\"");
            srv_reply_header(r, "WWW-Authenticate", "Bearer realm=\"auspex\"");
        }
        srv_reply_error(r, r->deny, r->deny == 401 ? "unauthorized" : "forbidden", "%s", r->deny_msg);
    } else if (r->route) {
        r->route->fn(r, r->route->ctx);
    } else if (r->allow) {
        char allow[64] = "";
        size_t n = 0;
        static const struct { unsigned bit; const char *name; } ms[] = {
            {SRV_GET, "GET"}, {SRV_HEAD, "HEAD"}, {SRV_POST, "POST"}, {SRV_PUT, "PUT"}, {SRV_DELETE, "DELETE"},
        };
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
            if (r->allow & ms[i].bit)
                n += (size_t)snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", ms[i].name);
        }
        srv_reply_header(r, "Allow", allow);
        srv_reply_error(r, 405, "bad_data", "method %s not allowed for %s", srv_req_method_name(r), r->path);
    } else {
        srv_reply_error(r, 404, "not_found", "no route for %s %s", srv_req_method_name(r), r->path);
    }
    r->in_cb--;
    srv__req_maybe_free(r);
}

/* Parse and dispatch requests from p[0..len), or from c->in when p is NULL, until the
 * bytes run out or a request is in flight; keep what is left in c->in. */
static void conn_process(srv_conn *c, const char *p, size_t len) {
    if (c->processing || c->closed) return;
    c->processing = true;
    c->refs++;
    bool from_in = p == NULL;
    if (from_in) {
        p = (const char *)c->in.data;
        len = c->in.len;
    }
    size_t off = 0;
    for (;;) {
        if (c->closed || c->close_after_write || (c->req && c->req->dispatched)) break;
        if (c->wait_write) break;
        if (c->req && c->req->complete) {
            conn_dispatch(c);
            continue;
        }
        if (off == len) break;
        off += conn_parse(c, p + off, len - off);
    }
    if (!c->closed) {
        size_t left = len - off;
        if (from_in) {
            if (left && off) memmove(c->in.data, c->in.data + off, left);
            c->in.len = left;
        } else if (left && !c->close_after_write && ax_buf_append(&c->in, p + off, left)) {
            conn_close(c);
        }
    }
    if (!c->closed && c->peer_eof && !c->close_after_write && !c->in.len && !c->wait_write &&
        !(c->req && c->req->dispatched)) {
        /* the client sent everything: finish once our replies are out */
        if (c->req) req_free(c->req);  /* a request cut off by EOF gets no answer */
        c->close_after_write = true;
        if (c->fake || !c->writes) conn_finish(c);
    }
    conn_update_reading(c);
    c->processing = false;
    conn_unref(c);
}

/* ---- test hook ---- */

int srv__http_feed(srv_http *s, const void *data, size_t len, const size_t *splits,
                   size_t n_splits, ax_buf *out) {
    srv_conn *c = calloc(1, sizeof *c);
    if (!c) return AX_ENOMEM;
    c->fake = true;
    c->capture = out;
    c->refs = 2;
    conn_init_common(c, s);
    c->refs++;  /* ours, while we feed */
    const char *p = data;
    size_t at = 0;
    for (size_t i = 0; i <= n_splits && !c->closed; i++) {
        size_t cut = i < n_splits && splits[i] <= len ? splits[i] : len;
        if (cut < at) continue;
        size_t n = cut - at;
        if (n) {
            s->stats.bytes_in += n;
            conn_input(c, p + at, n);
        }
        at = cut;
    }
    if (!c->closed) {
        c->peer_eof = true;
        conn_process(c, NULL, 0);
    }
    /* a handler that kept its request without replying leaves it to srv_http_close */
    if (!c->closed) conn_close(c);
    conn_unref(c);
    return 0;
}
