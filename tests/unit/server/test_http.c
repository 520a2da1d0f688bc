/* Unit tests for server/http.c: a real server on 127.0.0.1:<free port> whose loop runs on
 * its own thread, driven by plain blocking sockets from the test thread; plus the
 * socket-free parser hook (srv__http_feed). Every test closes the server with
 * srv_http_close and joins the loop thread, so ASan sees every byte freed. */
#include "server/http.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- fixture: a server on a loop thread ---- */

typedef struct fx {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_sem_t ready;
    uv_async_t stop;
    uv_async_t call;
    uv_sem_t called;
    uv_mutex_t lock;       /* orders call_fn and its results between the two threads */
    void (*call_fn)(struct fx *);
    srv_http_opts opts;
    srv_http *s;
    int port;
    atomic_int done_calls;
    /* slow route: work waits for `release`; started/after observed from the test thread */
    uv_sem_t release;
    uv_sem_t work_started;
    srv_req *slow_req;     /* loop thread only */
    atomic_int slow_after_gone;  /* 1: client gone in after, 0: still there, -1: not yet */
    bool gone_probe;       /* result of probe_gone */
    srv_http_stats stats;  /* filled by get_stats */
} fx;

static void h_echo(srv_req *r, void *ctx) {
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    size_t ql;
    const char *q = srv_req_query(r, &ql);
    ax_buf_printf(&b, "method=%s path=%s query=%s", srv_req_method_name(r), srv_req_path(r, NULL), q);
    const char *a = srv_req_param(r, "a", NULL);
    ax_buf_printf(&b, " a=%s", a ? a : "(none)");
    srv_span ms[8];
    size_t n = srv_req_params(r, "match[]", ms, 8);
    ax_buf_printf(&b, " match=");
    for (size_t i = 0; i < n && i < 8; i++) ax_buf_printf(&b, "%s[%s]", i ? "," : "", ms[i].p);
    const char *ua = srv_req_header(r, "x-test", NULL);
    ax_buf_printf(&b, " x-test=%s", ua ? ua : "(none)");
    srv_reply_header(r, "X-Echo", "1");
    srv_reply_buf_take(r, 200, "text/plain", &b);
    ax_buf_free(&b);
}

static void h_body(srv_req *r, void *ctx) {
    size_t len;
    const uint8_t *body = srv_req_body(r, &len);
    srv_reply(r, 200, "application/octet-stream", body, len);
}

typedef struct job { long n, sum; } job;

static void w_sum(srv_req *r) {
    job *j = srv_req_udata(r);
    for (long i = 1; i <= j->n; i++) j->sum += i;
}

static void a_sum(srv_req *r) {
    job *j = srv_req_udata(r);
    char out[64];
    int n = snprintf(out, sizeof out, "sum=%ld", j->sum);
    srv_reply(r, 200, "text/plain", out, (size_t)n);
}

static void h_work(srv_req *r, void *ctx) {
    job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    const char *n = srv_req_param(r, "n", NULL);
    j->n = n ? strtol(n, NULL, 10) : 0;
    j->sum = 0;
    srv_req_set_udata(r, j);
    srv_req_work(r, w_sum, a_sum);
}

static void w_slow(srv_req *r) {
    fx *f = srv_req_ctx(r);
    uv_sem_post(&f->work_started);
    uv_sem_wait(&f->release);
}

static void a_slow(srv_req *r) {
    fx *f = srv_req_ctx(r);
    f->slow_req = NULL;
    atomic_store(&f->slow_after_gone, srv_req_gone(r) ? 1 : 0);
    srv_reply(r, 200, "text/plain", "slow", 4);
}

static void h_slow(srv_req *r, void *ctx) {
    fx *f = ctx;
    f->slow_req = r;
    srv_req_work(r, w_slow, a_slow);
}

static void h_err(srv_req *r, void *ctx) {
    srv_reply_error(r, 422, "execution", "bad \"quote\" \\ and\nnewline \x01 \xff end");
}

static void on_done(void *arg) { atomic_fetch_add(&((fx *)arg)->done_calls, 1); }

static void on_stop(uv_async_t *a) {
    fx *f = a->data;
    srv_http_close(f->s, on_done, f);
    uv_close((uv_handle_t *)&f->stop, NULL);
    uv_close((uv_handle_t *)&f->call, NULL);
}

static void on_call(uv_async_t *a) {
    fx *f = a->data;
    uv_mutex_lock(&f->lock);
    f->call_fn(f);
    uv_mutex_unlock(&f->lock);
    uv_sem_post(&f->called);
}

static void loop_main(void *arg) {
    fx *f = arg;
    uv_loop_init(&f->loop);
    f->stop.data = f->call.data = f;
    uv_async_init(&f->loop, &f->stop, on_stop);
    uv_async_init(&f->loop, &f->call, on_call);
    int rc = srv_http_new(&f->loop, &f->opts, &f->s);
    if (!rc) rc = srv_http_route(f->s, SRV_GET | SRV_POST, "/echo", false, h_echo, f);
    if (!rc) rc = srv_http_route(f->s, SRV_GET | SRV_POST, "/pre/", true, h_echo, f);
    if (!rc) rc = srv_http_route(f->s, SRV_POST | SRV_PUT, "/body", false, h_body, f);
    if (!rc) rc = srv_http_route_max_body(f->s, "/body", false, 1024);
    if (!rc) rc = srv_http_route(f->s, SRV_GET, "/work", false, h_work, f);
    if (!rc) rc = srv_http_route(f->s, SRV_GET, "/slow", false, h_slow, f);
    if (!rc) rc = srv_http_route(f->s, SRV_GET, "/err", false, h_err, f);
    ax_err e = {0};
    if (!rc) rc = srv_http_listen(f->s, "127.0.0.1:0", &e);
    if (rc) fprintf(stderr, "server setup: %s %s\n", ax_strerror(rc), e.msg);
    f->port = rc ? 0 : srv_http_port(f->s);
    uv_sem_post(&f->ready);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int crc = uv_loop_close(&f->loop);
    if (crc) fprintf(stderr, "uv_loop_close: %s\n", uv_strerror(crc));
}

static fx *fx_start(const srv_http_opts *o) {
    srv_http_global_init();
    fx *f = calloc(1, sizeof *f);
    if (o) f->opts = *o;
    atomic_store(&f->slow_after_gone, -1);
    uv_sem_init(&f->ready, 0);
    uv_sem_init(&f->called, 0);
    uv_mutex_init(&f->lock);
    uv_sem_init(&f->release, 0);
    uv_sem_init(&f->work_started, 0);
    uv_thread_create(&f->thread, loop_main, f);
    uv_sem_wait(&f->ready);
    CHECK(f->port > 0);
    return f;
}

/* Run fn(f) on the loop thread and wait for it. */
static void fx_on_loop(fx *f, void (*fn)(fx *)) {
    uv_mutex_lock(&f->lock);
    f->call_fn = fn;
    uv_mutex_unlock(&f->lock);
    uv_async_send(&f->call);
    uv_sem_wait(&f->called);
    uv_mutex_lock(&f->lock);  /* see fn's writes */
    uv_mutex_unlock(&f->lock);
}

static void get_stats(fx *f) { srv_http_stats_get(f->s, &f->stats); }
static srv_route_stats work_route;
static void get_work_route(fx *f) {
    for (size_t i = 0; i < srv_http_route_count(f->s); i++) {
        srv_route_stats rs;
        if (srv_http_route_stats(f->s, i, &rs) == 0 && !strcmp(rs.path, "/work")) work_route = rs;
    }
}
static void probe_gone(fx *f) { f->gone_probe = f->slow_req && srv_req_gone(f->slow_req); }

static void fx_stop(fx *f) {
    uv_async_send(&f->stop);
    uv_thread_join(&f->thread);
    CHECK_EQ_INT(1, atomic_load(&f->done_calls));
    uv_sem_destroy(&f->ready);
    uv_sem_destroy(&f->called);
    uv_mutex_destroy(&f->lock);
    uv_sem_destroy(&f->release);
    uv_sem_destroy(&f->work_started);
    free(f);
}

/* Poll the server's counters (on its loop) until cond holds; false after 10 s. */
static bool wait_stats(fx *f, bool (*cond)(const srv_http_stats *)) {
    for (int i = 0; i < 10000; i++) {
        fx_on_loop(f, get_stats);
        if (cond(&f->stats)) return true;
        usleep(1000);
    }
    return false;
}

static bool no_conns(const srv_http_stats *s) { return s->conns_open == 0; }

/* ---- client ---- */

typedef struct cli {
    int fd;
    char buf[1 << 16];
    size_t len;
} cli;

typedef struct resp {
    int status;
    char head[4096];
    char body[1 << 15];
    size_t body_len;
} resp;

static cli *cli_open(int port) {
    cli *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa)) FAILF("connect: %s", strerror(errno));
    return c;
}

static void cli_close(cli *c) {
    close(c->fd);
    free(c);
}

static void cli_send(cli *c, const char *s, size_t len) {
    while (len) {
        ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
        if (n <= 0) return;  /* the server may close early (413): the read says what happened */
        s += n;
        len -= (size_t)n;
    }
}

static void cli_sends(cli *c, const char *s) { cli_send(c, s, strlen(s)); }

/* Read more bytes into c->buf. Returns bytes read, 0 on EOF, -1 on error/timeout. */
static ssize_t cli_fill(cli *c) {
    if (c->len == sizeof c->buf) return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n > 0) c->len += (size_t)n;
    return n;
}

static void cli_consume(cli *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Value of header `name` in r->head (case-insensitive), copied to out; false if absent. */
static bool resp_header(const resp *r, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            const char *e = strstr(v, "\r\n");
            size_t vl = e ? (size_t)(e - v) : strlen(v);
            if (vl >= cap) vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return true;
        }
    }
    return false;
}

/* Read one response (head and Content-Length body). Returns false on EOF/timeout. */
static bool cli_read(cli *c, resp *r) {
    memset(r, 0, sizeof *r);
    char *end;
    for (;;) {
        end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (end) break;
        if (cli_fill(c) <= 0) return false;
    }
    size_t hl = (size_t)(end - c->buf) + 4;
    if (hl >= sizeof r->head) return false;
    memcpy(r->head, c->buf, hl);
    r->head[hl] = 0;
    cli_consume(c, hl);
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1) return false;
    char cl[32];
    size_t blen = resp_header(r, "content-length", cl, sizeof cl) ? strtoul(cl, NULL, 10) : 0;
    if (blen >= sizeof r->body) return false;
    while (c->len < blen)
        if (cli_fill(c) <= 0) return false;
    memcpy(r->body, c->buf, blen);
    r->body[blen] = 0;
    r->body_len = blen;
    cli_consume(c, blen);
    return true;
}

/* True if the server closes the connection (EOF or reset) with nothing more to read. */
static bool cli_eof(cli *c) { return c->len == 0 && cli_fill(c) <= 0; }

static void get(cli *c, const char *target, resp *r) {
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    cli_sends(c, req);
    if (!cli_read(c, r)) FAILF("no response to GET %s", target);
}

/* ---- tests over sockets ---- */

TEST(test_http_get_query_params_decoded) {
    fx *f = fx_start(NULL);
    cli *c = cli_open(f->port);
    resp r;
    get(c, "/echo?a=x%20y+z&match[]=up&match%5B%5D=%7Bjob%3D%22n%22%7D&bad=%zz#frag", &r);
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_STR("method=GET path=/echo query=a=x%20y+z&match[]=up&match%5B%5D=%7Bjob%3D%22n%22%7D&bad=%zz"
                 " a=x y z match=[up],[{job=\"n\"}] x-test=(none)", r.body);
    char v[64];
    CHECK(resp_header(&r, "x-echo", v, sizeof v) && !strcmp(v, "1"));
    CHECK(resp_header(&r, "content-type", v, sizeof v) && !strcmp(v, "text/plain"));
    /* decoded path, prefix route */
    get(c, "/pre/a%2Fb%20c?", &r);
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_STR("method=GET path=/pre/a/b c query= a=(none) match= x-test=(none)", r.body);
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_post_form_params_merge_with_query) {
    fx *f = fx_start(NULL);
    cli *c = cli_open(f->port);
    const char *body = "a=from+body&match[]=b1&match[]=b%2C2";
    char req[512];
    snprintf(req, sizeof req,
             "POST /echo?match[]=q1 HTTP/1.1\r\nHost: t\r\nX-Test:  hi there  \r\n"
             "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    cli_sends(c, req);
    resp r;
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_STR("method=POST path=/echo query=match[]=q1 a=from body match=[b1],[b,2],[q1] x-test=hi there",
                 r.body);
    /* another content type: the body is not parsed as a form */
    snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
             "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    cli_sends(c, req);
    CHECK(cli_read(c, &r));
    CHECK_EQ_STR("method=POST path=/echo query= a=(none) match= x-test=(none)", r.body);
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_keepalive_three_requests_then_http10_closes) {
    fx *f = fx_start(NULL);
    cli *c = cli_open(f->port);
    resp r;
    for (int i = 0; i < 3; i++) {
        char t[32];
        snprintf(t, sizeof t, "/echo?a=%d", i);
        get(c, t, &r);
        CHECK_EQ_INT(200, r.status);
        char want[128];
        snprintf(want, sizeof want, "method=GET path=/echo query=a=%d a=%d match= x-test=(none)", i, i);
        CHECK_EQ_STR(want, r.body);
        char v[32];
        CHECK(!resp_header(&r, "connection", v, sizeof v));
    }
    fx_on_loop(f, get_stats);
    CHECK_EQ_U64(1, f->stats.conns_accepted);
    CHECK_EQ_U64(3, f->stats.requests_by_class[2]);
    cli_close(c);

    /* HTTP/1.0 without keep-alive: reply then close */
    c = cli_open(f->port);
    cli_sends(c, "GET /echo HTTP/1.0\r\n\r\n");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(200, r.status);
    char v[32];
    CHECK(resp_header(&r, "connection", v, sizeof v) && !strcmp(v, "close"));
    CHECK(cli_eof(c));
    cli_close(c);

    /* HTTP/1.0 with keep-alive: says so and stays open */
    c = cli_open(f->port);
    cli_sends(c, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(cli_read(c, &r));
    CHECK(resp_header(&r, "connection", v, sizeof v) && !strcmp(v, "keep-alive"));
    get(c, "/echo", &r);
    CHECK_EQ_INT(200, r.status);
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_pipelined_answered_in_order) {
    fx *f = fx_start(NULL);
    cli *c = cli_open(f->port);
    /* a work request in the middle: the third must wait for it */
    cli_sends(c, "GET /echo?a=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                 "GET /work?n=100 HTTP/1.1\r\nHost: t\r\n\r\n"
                 "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
                 "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
                 "GET /echo?a=5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                 "GET /echo?a=6 HTTP/1.1\r\nHost: t\r\n\r\n");
    resp r;
    CHECK(cli_read(c, &r));
    CHECK_EQ_STR("method=GET path=/echo query=a=1 a=1 match= x-test=(none)", r.body);
    CHECK(cli_read(c, &r));
    CHECK_EQ_STR("sum=5050", r.body);
    CHECK(cli_read(c, &r));
    CHECK_EQ_STR("xyz", r.body);
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(404, r.status);
    CHECK(cli_read(c, &r));
    CHECK_EQ_STR("method=GET path=/echo query=a=5 a=5 match= x-test=(none)", r.body);
    CHECK(cli_eof(c));  /* the sixth request is never answered: the fifth said close */
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_404_405_and_error_json) {
    fx *f = fx_start(NULL);
    cli *c = cli_open(f->port);
    resp r;
    get(c, "/missing", &r);
    CHECK_EQ_INT(404, r.status);
    CHECK_EQ_STR("{\"status\":\"error\",\"errorType\":\"not_found\",\"error\":\"no route for GET /missing\"}",
                 r.body);
    char v[64];
    CHECK(resp_header(&r, "content-type", v, sizeof v) && !strcmp(v, "application/json"));
    get(c, "/body", &r);
    CHECK_EQ_INT(405, r.status);
    CHECK(resp_header(&r, "allow", v, sizeof v) && !strcmp(v, "POST, PUT"));
    cli_sends(c, "DELETE /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(405, r.status);
    CHECK(resp_header(&r, "allow", v, sizeof v) && !strcmp(v, "GET, HEAD, POST"));
    /* HEAD: GET's headers, no body */
    cli_sends(c, "HEAD /err HTTP/1.1\r\nHost: t\r\n\r\n");
    char head[1024] = "";
    while (!strstr(head, "\r\n\r\n") && cli_fill(c) > 0) {
        memcpy(head, c->buf, c->len < sizeof head - 1 ? c->len : sizeof head - 1);
    }
    CHECK(strstr(head, "HTTP/1.1 422 ") == head);
    CHECK(strstr(head, "Content-Length: 100\r\n") != NULL);
    CHECK(memmem(c->buf, c->len, "\r\n\r\n", 4) == c->buf + c->len - 4);
    c->len = 0;
    /* JSON escaping: quotes, backslash, control chars, invalid UTF-8 */
    get(c, "/err", &r);
    CHECK_EQ_INT(422, r.status);
    CHECK_EQ_STR("{\"status\":\"error\",\"errorType\":\"execution\","
                 "\"error\":\"bad \\\"quote\\\" \\\\ and\\nnewline \\u0001 \\ufffd end\"}", r.body);
    CHECK_EQ_INT(100, r.body_len);
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_413_content_length_and_chunked) {
    fx *f = fx_start(NULL);
    resp r;
    char v[32];
    /* Content-Length over the route's 1024-byte cap: 413 before the body is sent */
    cli *c = cli_open(f->port);
    cli_sends(c, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(413, r.status);
    CHECK_EQ_STR("{\"status\":\"error\",\"errorType\":\"bad_data\","
                 "\"error\":\"request body larger than 1024 bytes\"}", r.body);
    CHECK(resp_header(&r, "connection", v, sizeof v) && !strcmp(v, "close"));
    CHECK(cli_eof(c));
    cli_close(c);
    /* chunked: the cap applies to the decoded body */
    c = cli_open(f->port);
    cli_sends(c, "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[600];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 2; i++) {
        cli_sends(c, "200\r\n");  /* 512 bytes */
        cli_send(c, chunk, 512);
        cli_sends(c, "\r\n");
    }
    cli_sends(c, "1\r\nx\r\n0\r\n\r\n");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(413, r.status);
    CHECK(cli_eof(c));
    cli_close(c);
    /* chunked within the cap, with extensions and a trailer: accepted and decoded */
    c = cli_open(f->port);
    cli_sends(c, "POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_STR("abcde", r.body);
    /* exactly the cap is fine */
    char req[2048];
    int n = snprintf(req, sizeof req, "PUT /body HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n");
    memset(req + n, 'y', 1024);
    cli_send(c, req, (size_t)n + 1024);
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_INT(1024, r.body_len);
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_work_replies_from_after) {
    fx *f = fx_start(NULL);
    cli *c = cli_open(f->port);
    resp r;
    get(c, "/work?n=10", &r);
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_STR("sum=55", r.body);
    get(c, "/work?n=1000", &r);
    CHECK_EQ_STR("sum=500500", r.body);
    fx_on_loop(f, get_work_route);
    CHECK_EQ_U64(2, work_route.requests);
    CHECK_EQ_INT(SRV_GET | SRV_HEAD, work_route.methods);
    CHECK(work_route.duration_sum_s > 0);
    cli_close(c);
    fx_stop(f);
}

static void close_reset(cli *c) {
    struct linger lg = {1, 0};  /* RST instead of FIN */
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    cli_close(c);
}

TEST(test_http_client_gone_while_work_in_flight) {
    fx *f = fx_start(NULL);
    for (int variant = 0; variant < 2; variant++) {
        cli *c = cli_open(f->port);
        cli_sends(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
        uv_sem_wait(&f->work_started);
        if (variant == 0) {
            close_reset(c);
            /* wait until the loop has seen the reset, then let the work finish */
            bool gone = false;
            for (int i = 0; i < 10000 && !gone; i++) {
                fx_on_loop(f, probe_gone);
                gone = f->gone_probe;
                if (!gone) usleep(1000);
            }
            CHECK(gone);
        } else {
            cli_close(c);  /* plain FIN: the reply is written to a half-closed socket */
        }
        uv_sem_post(&f->release);
        CHECK(wait_stats(f, no_conns));
        if (variant == 0) CHECK_EQ_INT(1, atomic_load(&f->slow_after_gone));
    }
    /* the server still answers */
    cli *c = cli_open(f->port);
    resp r;
    get(c, "/echo", &r);
    CHECK_EQ_INT(200, r.status);
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_malformed_request_400_and_close) {
    fx *f = fx_start(NULL);
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost t\r\n\r\n",
        "GET /echo HTTP/9.9\r\n\r\n",
        "POST /body HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST /body HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET echo HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli *c = cli_open(f->port);
        cli_sends(c, bad[i]);
        resp r;
        if (!cli_read(c, &r)) FAILF("no reply to bad request %zu", i);
        if (r.status != 400) FAILF("bad request %zu: expected 400, got %d", i, r.status);
        CHECK(strstr(r.body, "\"status\":\"error\"") != NULL);
        CHECK(cli_eof(c));
        cli_close(c);
    }
    fx_on_loop(f, get_stats);
    CHECK_EQ_U64(sizeof bad / sizeof bad[0], f->stats.bad_requests);
    fx_stop(f);
}

TEST(test_http_expect_100_continue) {
    fx *f = fx_start(NULL);
    cli *c = cli_open(f->port);
    cli_sends(c, "POST /body HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    resp r;
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(100, r.status);
    cli_sends(c, "hello");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_STR("hello", r.body);
    /* over the cap: the final 413 instead of 100 */
    cli_sends(c, "POST /body HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(413, r.status);
    cli_close(c);
    fx_stop(f);
}

TEST(test_http_50_concurrent_connections) {
    fx *f = fx_start(NULL);
    enum { N = 50 };
    cli *cs[N];
    for (int i = 0; i < N; i++) cs[i] = cli_open(f->port);
    for (int i = 0; i < N; i++) {
        char req[128];
        if (i % 2) snprintf(req, sizeof req, "GET /work?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        else snprintf(req, sizeof req, "GET /echo?a=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        cli_sends(cs[i], req);
    }
    int ok = 0;
    for (int i = N - 1; i >= 0; i--) {
        resp r;
        char want[128];
        if (i % 2) snprintf(want, sizeof want, "sum=%d", i * (i + 1) / 2);
        else snprintf(want, sizeof want, "method=GET path=/echo query=a=%d a=%d match= x-test=(none)", i, i);
        if (cli_read(cs[i], &r) && r.status == 200 && !strcmp(r.body, want)) ok++;
        else FAILF("conn %d: status %d body \"%s\"", i, r.status, r.body);
        cli_close(cs[i]);
    }
    CHECK_EQ_INT(N, ok);
    CHECK(wait_stats(f, no_conns));
    CHECK_EQ_U64(N, f->stats.conns_accepted);
    CHECK_EQ_U64(N, f->stats.requests_by_class[2]);
    fx_stop(f);
}

TEST(test_http_close_waits_for_in_flight_request) {
    fx *f = fx_start(NULL);
    cli *idle = cli_open(f->port);
    resp r;
    get(idle, "/echo", &r);  /* now an idle keep-alive connection */
    cli *c = cli_open(f->port);
    cli_sends(c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    uv_sem_wait(&f->work_started);
    uv_async_send(&f->stop);
    CHECK(cli_eof(idle));  /* idle connections are closed at once */
    CHECK_EQ_INT(0, atomic_load(&f->done_calls));
    uv_sem_post(&f->release);
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(200, r.status);
    CHECK_EQ_STR("slow", r.body);
    char v[32];
    CHECK(resp_header(&r, "connection", v, sizeof v) && !strcmp(v, "close"));
    CHECK(cli_eof(c));
    uv_thread_join(&f->thread);
    CHECK_EQ_INT(1, atomic_load(&f->done_calls));
    cli_close(c);
    cli_close(idle);
    uv_sem_destroy(&f->ready);
    uv_sem_destroy(&f->called);
    uv_mutex_destroy(&f->lock);
    uv_sem_destroy(&f->release);
    uv_sem_destroy(&f->work_started);
    free(f);
}

TEST(test_http_limits_header_size_conns_timeout) {
    srv_http_opts o = {.max_header_bytes = 512, .max_conns = 2, .header_timeout_ms = 300};
    fx *f = fx_start(&o);
    resp r;
    /* oversized header: 431; oversized URL: 414 */
    cli *c = cli_open(f->port);
    char req[2048];
    snprintf(req, sizeof req, "GET /echo HTTP/1.1\r\nX-Big: %0600d\r\n\r\n", 0);
    cli_sends(c, req);
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(431, r.status);
    cli_close(c);
    c = cli_open(f->port);
    snprintf(req, sizeof req, "GET /echo?a=%0600d HTTP/1.1\r\n\r\n", 0);
    cli_sends(c, req);
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(414, r.status);
    cli_close(c);
    CHECK(wait_stats(f, no_conns));
    /* max_conns = 2: the third connection gets 503 */
    cli *a = cli_open(f->port), *b = cli_open(f->port);
    get(a, "/echo", &r);
    get(b, "/echo", &r);
    c = cli_open(f->port);
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(503, r.status);
    CHECK(cli_eof(c));
    cli_close(c);
    cli_close(a);
    cli_close(b);
    CHECK(wait_stats(f, no_conns));
    /* slowloris: half a request line, then silence -> 408 and close */
    c = cli_open(f->port);
    cli_sends(c, "GET /echo HTTP/1.1\r\nHost:");
    CHECK(cli_read(c, &r));
    CHECK_EQ_INT(408, r.status);
    CHECK(cli_eof(c));
    cli_close(c);
    fx_on_loop(f, get_stats);
    CHECK_EQ_U64(1, f->stats.conns_rejected);
    CHECK_EQ_U64(1, f->stats.timeouts);
    fx_stop(f);
}

/* ---- socket-free parser hook ---- */

static void h_plain(srv_req *r, void *ctx) {
    size_t len;
    const uint8_t *b = srv_req_body(r, &len);
    const char *a = srv_req_param(r, "a", NULL);
    char out[256];
    int n = snprintf(out, sizeof out, "%s a=%s body=%.*s", srv_req_path(r, NULL), a ? a : "-", (int)len, b);
    srv_reply(r, 200, "text/plain", out, (size_t)n);
}

static void on_done_count(void *arg) { (*(int *)arg)++; }

TEST(test_http_feed_any_split_same_bytes) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_http *s = NULL;
    CHECK_EQ_INT(0, srv_http_new(&loop, NULL, &s));
    CHECK_EQ_INT(0, srv_http_route(s, SRV_GET | SRV_POST, "/p", false, h_plain, NULL));
    const char *in = "GET /p?a=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
                     "4\r\na=%3\r\n1\r\nF\r\n0\r\n\r\n"
                     "GET /q HTTP/1.1\r\n\r\n";
    size_t len = strlen(in);
    ax_buf whole;
    ax_buf_init(&whole, 1 << 20);
    CHECK_EQ_INT(0, srv__http_feed(s, in, len, NULL, 0, &whole));
    const char *want1 = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n/p a=1 body=";
    CHECK(whole.len > strlen(want1) && !memcmp(whole.data, want1, strlen(want1)));
    CHECK(memmem(whole.data, whole.len, "/p a=? body=a=%3F", 17) != NULL);
    CHECK(memmem(whole.data, whole.len, "HTTP/1.1 404 Not Found", 22) != NULL);
    for (size_t cut = 1; cut < len; cut++) {
        size_t cuts[2] = {cut / 2, cut};
        ax_buf got;
        ax_buf_init(&got, 1 << 20);
        CHECK_EQ_INT(0, srv__http_feed(s, in, len, cuts, 2, &got));
        if (got.len != whole.len || memcmp(got.data, whole.data, got.len))
            FAILF("split at %zu,%zu: different response bytes", cuts[0], cut);
        ax_buf_free(&got);
    }
    ax_buf_free(&whole);
    int done = 0;
    srv_http_close(s, on_done_count, &done);
    CHECK_EQ_INT(0, done);  /* never from inside srv_http_close */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(1, done);
    CHECK_EQ_INT(0, uv_loop_close(&loop));
}

TEST(test_http_listen_addresses) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_http *s = NULL;
    CHECK_EQ_INT(0, srv_http_new(&loop, NULL, &s));
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, srv_http_listen(s, "127.0.0.1", &e));
    CHECK_EQ_INT(AX_EINVAL, srv_http_listen(s, "127.0.0.1:99999", &e));
    CHECK_EQ_INT(AX_EINVAL, srv_http_listen(s, "example.com:80", &e));
    CHECK_EQ_INT(AX_EINVAL, srv_http_route(s, 0, "/x", false, h_plain, NULL));
    CHECK_EQ_INT(AX_EINVAL, srv_http_route(s, SRV_GET, "x", false, h_plain, NULL));
    CHECK_EQ_INT(0, srv_http_listen(s, "localhost:0", &e));
    CHECK(srv_http_port(s) > 0);
    CHECK_EQ_INT(AX_EINVAL, srv_http_listen(s, ":0", &e));  /* already listening */
    /* IPv6 parses; binding may fail on a host without IPv6 */
    srv_http *s6 = NULL;
    CHECK_EQ_INT(0, srv_http_new(&loop, NULL, &s6));
    int rc6 = srv_http_listen(s6, "[::1]:0", &e);
    CHECK(rc6 == 0 || rc6 == AX_EIO);
    if (rc6 == 0) CHECK(srv_http_port(s6) > 0);
    int done = 0;
    srv_http_close(s, on_done_count, &done);
    srv_http_close(s6, on_done_count, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(2, done);
    CHECK_EQ_INT(0, uv_loop_close(&loop));
}

TEST(test_http_status_table) {
    const char *t = NULL;
    CHECK_EQ_INT(400, srv_http_status_of(AX_EINVAL, &t));
    CHECK_EQ_STR("bad_data", t);
    CHECK_EQ_INT(413, srv_http_status_of(AX_ETOOBIG, &t));
    CHECK_EQ_INT(422, srv_http_status_of(AX_ELIMIT, &t));
    CHECK_EQ_STR("execution", t);
    CHECK_EQ_INT(503, srv_http_status_of(AX_EAGAIN, &t));
    CHECK_EQ_STR("unavailable", t);
    CHECK_EQ_INT(404, srv_http_status_of(AX_ENOTFOUND, NULL));
    CHECK_EQ_INT(500, srv_http_status_of(AX_ECORRUPT, &t));
    CHECK_EQ_STR("internal", t);
}
