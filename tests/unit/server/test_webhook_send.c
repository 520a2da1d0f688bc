/* tests/unit/server/test_webhook_send.c: srv_webhook_post against a tiny HTTP/1.1 server
 * running in a thread of this test on 127.0.0.1 (port 0): it reads the request head and a
 * Content-Length body, records them, and answers with a configured status and body (or
 * never answers). Checks: the body arrives byte-exact, headers (custom, Content-Type
 * default and override, User-Agent), status -> error/retryable mapping, connection
 * refused, timeout, redirects not followed, refusals of bad input.
 * Static helpers are prefixed wh_ (this file shares unit_server). */
#include "server/actions.h"
#include "test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct wh_srv {
    int lfd;
    int port;
    pthread_t th;
    atomic_int stop;
    /* reply */
    int status;
    const char *reply_body;
    const char *reply_headers; /* extra lines, each ending "\r\n", or NULL */
    bool hang;                 /* read the request, never answer */
    /* recorded (read by the test after wh_stop joins the thread) */
    int n_requests;
    char head[16384];          /* request line and headers of the first request */
    size_t head_len;
    uint8_t *body;             /* malloc'd body of the first request */
    size_t body_len;
} wh_srv;

static void wh_init(void) {
    static bool done;
    if (done) return;
    done = true;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* main.c does this in the server */
    /* the test talks to 127.0.0.1 directly, whatever the environment says */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
}

/* Case-insensitive search for needle in hay[0..len). */
static const char *wh_find(const char *hay, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (!strncasecmp(hay + i, needle, n)) return hay + i;
    return NULL;
}

static void wh_serve_one(wh_srv *s, int fd) {
    char buf[1 << 16];
    size_t got = 0, head_end = 0;
    for (;;) { /* until the blank line ending the head */
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n <= 0) return;
        got += (size_t)n;
        const char *e = wh_find(buf, got, "\r\n\r\n");
        if (e) {
            head_end = (size_t)(e - buf) + 4;
            break;
        }
        if (got == sizeof buf) return;
    }
    size_t clen = 0;
    const char *cl = wh_find(buf, head_end, "\r\nContent-Length:");
    if (cl) clen = (size_t)strtoul(cl + 17, NULL, 10);
    uint8_t *body = malloc(clen ? clen : 1);
    size_t have = got - head_end < clen ? got - head_end : clen;
    memcpy(body, buf + head_end, have);
    while (have < clen) {
        ssize_t n = read(fd, body + have, clen - have);
        if (n <= 0) break;
        have += (size_t)n;
    }
    if (s->n_requests++ == 0) {
        s->head_len = head_end < sizeof s->head - 1 ? head_end : sizeof s->head - 1;
        memcpy(s->head, buf, s->head_len);
        s->head[s->head_len] = '\0';
        s->body = body;
        s->body_len = have;
    } else {
        free(body);
    }
    if (s->hang) { /* until the client gives up and closes */
        while (read(fd, buf, sizeof buf) > 0) {}
        return;
    }
    const char *rb = s->reply_body ? s->reply_body : "";
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                      s->status, strlen(rb), s->reply_headers ? s->reply_headers : "");
    if (write(fd, head, (size_t)hl) != hl) return;
    size_t off = 0, rl = strlen(rb);
    while (off < rl) {
        ssize_t n = write(fd, rb + off, rl - off);
        if (n <= 0) return;
        off += (size_t)n;
    }
}

static void *wh_thread(void *arg) {
    wh_srv *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd pf = {.fd = s->lfd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0) continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        wh_serve_one(s, fd);
        close(fd);
    }
    return NULL;
}

static int wh_listen(int *port_out) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 8) ||
        getsockname(fd, (struct sockaddr *)&a, &al)) {
        FAILF("cannot listen on 127.0.0.1");
        if (fd >= 0) close(fd);
        return -1;
    }
    *port_out = ntohs(a.sin_port);
    return fd;
}

/* Listen (s->port is known after this); configure s, then wh_go starts the thread. */
static bool wh_open(wh_srv *s, int status, const char *reply_body) {
    wh_init();
    memset(s, 0, sizeof *s);
    s->status = status;
    s->reply_body = reply_body;
    s->lfd = wh_listen(&s->port);
    return s->lfd >= 0;
}

static bool wh_go(wh_srv *s) {
    atomic_init(&s->stop, 0);
    if (pthread_create(&s->th, NULL, wh_thread, s)) {
        FAILF("pthread_create");
        close(s->lfd);
        return false;
    }
    return true;
}

static bool wh_start(wh_srv *s, int status, const char *reply_body) {
    return wh_open(s, status, reply_body) && wh_go(s);
}

static void wh_stop(wh_srv *s) {
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
}

static void wh_url(const wh_srv *s, const char *path, char *out, size_t cap) {
    snprintf(out, cap, "http://127.0.0.1:%d%s", s->port, path);
}

static srv_post_result wh_res;

static int wh_post(const wh_srv *s, const char *body, size_t len, const char *const *hdrs,
                   size_t nh, int64_t timeout_ms) {
    char url[128];
    wh_url(s, "/hook", url, sizeof url);
    return srv_webhook_post(url, body, len, hdrs, nh, timeout_ms, &wh_res);
}

/* Does the recorded request head contain this exact header line? */
static bool wh_has_line(const wh_srv *s, const char *line) {
    char want[512];
    snprintf(want, sizeof want, "\r\n%s\r\n", line);
    return wh_find(s->head, s->head_len, want) != NULL;
}

TEST(test_webhook_send_ok_body_and_headers) {
    wh_srv s;
    int before = test__failures;
    if (!wh_start(&s, 200, "accepted")) return;
    size_t len = 70000; /* past curl's Expect: 100-continue threshold, every byte value */
    char *body = malloc(len);
    for (size_t i = 0; i < len; i++) body[i] = (char)(i * 7 + (i >> 8));
    const char *hdrs[] = {"X-Auspex-Signature: sha256=0123abcd", "Idempotency-Key: dec-42-1"};
    CHECK_EQ_INT(0, wh_post(&s, body, len, hdrs, 2, 5000));
    wh_stop(&s);
    CHECK_EQ_INT(200, wh_res.status);
    CHECK_EQ_STR("", wh_res.error);
    CHECK_EQ_STR("accepted", wh_res.body);
    CHECK(!wh_res.timed_out);
    CHECK(!srv_post_retryable(&wh_res));
    CHECK_EQ_INT(1, s.n_requests);
    CHECK_EQ_U64(len, s.body_len);
    CHECK(s.body_len == len && !memcmp(s.body, body, len));
    CHECK(!strncmp(s.head, "POST /hook HTTP/1.1\r\n", 21));
    CHECK(wh_has_line(&s, "X-Auspex-Signature: sha256=0123abcd"));
    CHECK(wh_has_line(&s, "Idempotency-Key: dec-42-1"));
    CHECK(wh_has_line(&s, "Content-Type: application/json"));
    CHECK(wh_has_line(&s, "User-Agent: auspex/" AUSPEX_VERSION));
    CHECK(!wh_find(s.head, s.head_len, "Expect:"));
    if (test__failures != before) fprintf(stderr, "  request head:\n%s", s.head);
    free(body);
    free(s.body);
}

TEST(test_webhook_send_content_type_override) {
    wh_srv s;
    if (!wh_start(&s, 204, NULL)) return;
    const char *hdrs[] = {"content-type: text/plain; charset=utf-8"};
    CHECK_EQ_INT(0, wh_post(&s, "hello", 5, hdrs, 1, 5000));
    wh_stop(&s);
    CHECK_EQ_INT(204, wh_res.status);
    CHECK_EQ_STR("", wh_res.error);
    CHECK(wh_has_line(&s, "content-type: text/plain; charset=utf-8"));
    CHECK(!wh_find(s.head, s.head_len, "application/json"));
    CHECK_EQ_U64(5, s.body_len);
    CHECK(s.body_len == 5 && !memcmp(s.body, "hello", 5));
    free(s.body);
}

TEST(test_webhook_send_empty_body) {
    wh_srv s;
    if (!wh_start(&s, 200, "ok")) return;
    CHECK_EQ_INT(0, wh_post(&s, NULL, 0, NULL, 0, 5000));
    wh_stop(&s);
    CHECK_EQ_INT(200, wh_res.status);
    CHECK_EQ_INT(1, s.n_requests);
    CHECK_EQ_U64(0, s.body_len);
    CHECK(wh_has_line(&s, "Content-Length: 0"));
    free(s.body);
}

static void wh_status_case(int status, bool retry) {
    wh_srv s;
    if (!wh_start(&s, status, "{\"error\":\"nope\"}")) return;
    CHECK_EQ_INT(0, wh_post(&s, "{}", 2, NULL, 0, 5000));
    wh_stop(&s);
    free(s.body);
    char want[32];
    snprintf(want, sizeof want, "HTTP %d", status);
    CHECK_EQ_INT(status, wh_res.status);
    CHECK_EQ_STR(want, wh_res.error);
    CHECK_EQ_STR("{\"error\":\"nope\"}", wh_res.body);
    CHECK(!wh_res.timed_out);
    if (srv_post_retryable(&wh_res) != retry)
        FAILF("status %d: retryable expected %d", status, (int)retry);
}

TEST(test_webhook_send_status_mapping) {
    wh_status_case(500, true);
    wh_status_case(503, true);
    wh_status_case(404, false);
    wh_status_case(400, false);
    wh_status_case(429, true);
    wh_status_case(408, true);
}

TEST(test_webhook_send_long_response_cut) {
    wh_srv s;
    char *big = malloc(3001);
    memset(big, 'r', 3000);
    big[3000] = '\0';
    if (!wh_start(&s, 200, big)) {
        free(big);
        return;
    }
    CHECK_EQ_INT(0, wh_post(&s, "{}", 2, NULL, 0, 5000));
    wh_stop(&s);
    free(s.body);
    CHECK_EQ_INT(200, wh_res.status);
    CHECK_EQ_INT(511, strlen(wh_res.body));
    CHECK_EQ_STR("", wh_res.error);
    free(big);
}

TEST(test_webhook_send_connection_refused) {
    wh_init();
    int port = 0;
    int fd = wh_listen(&port);
    if (fd < 0) return;
    close(fd); /* nothing listens there now */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    CHECK_EQ_INT(0, srv_webhook_post(url, "{}", 2, NULL, 0, 3000, &wh_res));
    CHECK_EQ_INT(0, wh_res.status);
    CHECK(!wh_res.timed_out);
    CHECK(wh_res.error[0] != '\0');
    CHECK(srv_post_retryable(&wh_res));
    if (!strstr(wh_res.error, "connect")) FAILF("error \"%s\" does not say connect", wh_res.error);
}

TEST(test_webhook_send_timeout) {
    wh_srv s;
    if (!wh_open(&s, 200, "late")) return;
    s.hang = true;
    if (!wh_go(&s)) return;
    uint64_t t0 = ax_mono_ns();
    CHECK_EQ_INT(0, wh_post(&s, "{}", 2, NULL, 0, 300));
    double el = (double)(ax_mono_ns() - t0) / 1e9;
    wh_stop(&s);
    free(s.body);
    CHECK(wh_res.timed_out);
    CHECK_EQ_INT(0, wh_res.status);
    CHECK(wh_res.error[0] != '\0');
    CHECK(srv_post_retryable(&wh_res));
    if (!(el < 3.0)) FAILF("took %.3f s with a 300 ms timeout", el);
}

TEST(test_webhook_send_redirect_not_followed) {
    wh_srv s;
    if (!wh_open(&s, 302, "moved")) return;
    char loc[128];
    snprintf(loc, sizeof loc, "Location: http://127.0.0.1:%d/elsewhere\r\n", s.port);
    s.reply_headers = loc;
    if (!wh_go(&s)) return;
    CHECK_EQ_INT(0, wh_post(&s, "{}", 2, NULL, 0, 3000));
    wh_stop(&s);
    free(s.body);
    CHECK_EQ_INT(302, wh_res.status);
    CHECK_EQ_STR("HTTP 302", wh_res.error);
    CHECK_EQ_INT(1, s.n_requests);
    CHECK(!srv_post_retryable(&wh_res));
}

TEST(test_webhook_send_refusals) {
    wh_init();
    const char *inject[] = {"X-A: 1\r\nX-Injected: 2"};
    CHECK_EQ_INT(AX_EINVAL, srv_webhook_post("http://127.0.0.1:1/", "{}", 2, inject, 1, 1000, &wh_res));
    const char *nocolon[] = {"NoColon"};
    CHECK_EQ_INT(AX_EINVAL, srv_webhook_post("http://127.0.0.1:1/", "{}", 2, nocolon, 1, 1000, &wh_res));
    CHECK_EQ_INT(AX_EINVAL, srv_webhook_post("", "{}", 2, NULL, 0, 1000, &wh_res));
    CHECK_EQ_INT(AX_EINVAL, srv_webhook_post("http://127.0.0.1:1/", "{}", 2, NULL, 0, 0, &wh_res));
    /* only http and https: file:// is a transport error, nothing is read */
    CHECK_EQ_INT(0, srv_webhook_post("file:///etc/passwd", "{}", 2, NULL, 0, 1000, &wh_res));
    CHECK_EQ_INT(0, wh_res.status);
    CHECK_EQ_STR("", wh_res.body);
    CHECK(wh_res.error[0] != '\0');
}
