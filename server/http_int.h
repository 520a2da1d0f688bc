/* server/http_int.h: structs and helpers shared by server/http.c (server, connections,
 * parsing, writes) and server/http_req.c (request accessors, parameters, replies) only.
 * Nothing outside those two files includes this.
 */
#ifndef SRV_HTTP_INT_H
#define SRV_HTTP_INT_H

#include "server/http.h"

#include <llhttp.h>

typedef struct srv_conn srv_conn;

typedef struct srv_route {
    char *path;
    size_t path_len;
    bool prefix;
    unsigned methods;
    srv_handler_fn fn;
    void *ctx;
    size_t max_body;
    uint8_t access[5];         /* SRV_ACCESS_* by method bit index (GET, POST, PUT, DELETE, HEAD) */
    uint64_t requests;
    uint64_t duration_ns;
} srv_route;

struct srv_http {
    uv_loop_t *loop;
    uv_thread_t loop_thread;
    uv_tcp_t listener;
    srv_http_opts opts;
    srv_route *routes;
    size_t n_routes, cap_routes;
    srv_gate_fn gate;          /* srv_http_set_gate, or NULL */
    void *gate_ctx;
    srv_conn *conns;           /* doubly linked list of open connections */
    size_t n_conns;
    bool listening;            /* listener bound */
    bool closing;              /* srv_http_close called */
    bool listener_closed;
    void (*done_cb)(void *);
    void *done_arg;
    char *rbuf;                /* shared read buffer: every read is consumed or copied at once */
    srv_http_stats stats;
};

typedef struct srv_header {
    struct srv_header *next;
    const char *name, *value;
    size_t name_len, value_len;
} srv_header;

typedef struct srv_param {
    const char *name, *value;
    size_t name_len, value_len;
} srv_param;

struct srv_req {
    srv_http *srv;
    srv_conn *conn;            /* holds a reference on it */
    const srv_route *route;    /* NULL: 404 or 405 (allow != 0) */
    unsigned allow;            /* methods allowed for the path when route is NULL */
    int deny;                  /* 401 or 403 from the gate: body dropped, handler not run */
    const char *deny_msg;
    ax_arena arena;
    unsigned method;           /* SRV_* or 0 for a method we do not route */
    uint8_t llmethod;          /* llhttp_method_t */
    char *url;                 /* raw request target */
    size_t url_len;
    char *path;                /* decoded */
    size_t path_len;
    char *query;               /* raw */
    size_t query_len;
    char *cur_name;            /* header name awaiting its value */
    size_t cur_name_len;
    srv_header *headers, *headers_tail;
    ax_buf body;
    size_t discarded;          /* body bytes of an unrouted request */
    srv_param *params;         /* parsed on first use */
    size_t n_params;
    bool params_parsed;
    bool body_is_data;   /* srv_req_body_is_data: the body is never form parameters */
    ax_buf out_headers;        /* srv_reply_header lines */
    void *udata;
    uv_work_t work;
    void (*work_fn)(srv_req *);
    void (*after_fn)(srv_req *);
    uint64_t t_start_ns;
    int in_cb;                 /* >0 while the handler or `after` runs */
    bool keep_alive;
    bool http10;               /* HTTP/1.0: keep-alive must be said in the reply */
    bool complete;             /* message fully parsed */
    bool dispatched;           /* handed to the handler */
    bool work_pending;
    bool replied;
    bool streaming;            /* srv_reply_stream_begin was called; replied at _end */
    bool stream_keep;          /* keep the connection after the streamed reply */
    int stream_status;
};

/* http.c: queue response bytes on r's connection (takes head and body, both malloc'd; body
 * may be NULL), set close-after-write when !keep_alive, update counters, and free the
 * request when nothing holds it any more. */
void srv__req_send(srv_req *r, int status, char *head, size_t head_len, char *body,
                   size_t body_len, bool keep_alive);
/* http.c: free r if it was replied to and nothing (handler, after, work) still holds it. */
void srv__req_maybe_free(srv_req *r);
/* http.c: true when called on the server's loop thread. */
bool srv__on_loop(const srv_http *s);

/* http_req.c: build the status line and headers of a response into a malloc'd string.
 * OUT: *len. Returns NULL on ENOMEM. */
char *srv__head_build(srv_req *r, int status, const char *content_type, size_t body_len,
                      bool keep_alive, size_t *len);
/* http_req.c: reason phrase of an HTTP status ("Not Found"), "Unknown" if none. */
const char *srv__status_text(int status);
/* http_req.c: append s[0..len) as the inside of a JSON string (no quotes). */
int srv__json_escape(ax_buf *out, const char *s, size_t len);
/* http_req.c: percent-decode src[0..len) into dst (room for len+1); '+' -> ' ' when
 * plus_space. Returns the decoded length; dst is NUL-terminated. */
size_t srv__pct_decode(char *dst, const char *src, size_t len, bool plus_space);
/* http_req.c: a complete error response for a connection without a handler (parse errors,
 * limits, timeouts). OUT: *len. Returns a malloc'd string or NULL. */
char *srv__error_response(int status, const char *error_type, const char *msg, bool head,
                          size_t *len);

#endif
