/* link: ax_server */
/* tests/fuzz/fuzz_http.c: HTTP/1.1 framing of server/http.c on arbitrary bytes.
 *
 * Each input runs through srv__http_feed (the server's real parser callbacks, limits,
 * routing and reply framing against a fake connection, no sockets) three times: whole,
 * cut in three pieces, and cut every 7 bytes, with tiny caps so that the 413/414/431
 * paths are hit. Routes exercise parameters, headers, bodies, inline work and error
 * JSON with request bytes in the message. The server is closed and the loop run to
 * completion after every input, so a leak or a double free shows up under ASan.
 */
#include "server/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void h_echo(srv_req *r, void *ctx) {
    ax_buf b;
    ax_buf_init(&b, 1 << 16);
    size_t len = 0;
    const char *a = srv_req_param(r, "a", &len);
    srv_span ms[4];
    size_t n = srv_req_params(r, "match[]", ms, 4);
    const char *h = srv_req_header(r, "x-h", NULL);
    const uint8_t *body = srv_req_body(r, &len);
    ax_buf_printf(&b, "%s|%s|%zu|%s|%zu", srv_req_path(r, NULL), a ? a : "", n, h ? h : "", len);
    ax_buf_append(&b, body, len);
    if (srv_reply_header(r, "X-Path", srv_req_path(r, NULL)) == AX_EINVAL)
        srv_reply_header(r, "X-Path", "invalid");
    srv_reply_buf_take(r, 200, "text/plain", &b);
    ax_buf_free(&b);
}

static void w_count(srv_req *r) {
    size_t len;
    const uint8_t *b = srv_req_body(r, &len);
    size_t *sum = ax_arena_alloc(srv_req_arena(r), sizeof *sum);
    if (sum) {
        *sum = 0;
        for (size_t i = 0; i < len; i++) *sum += b[i];
    }
    srv_req_set_udata(r, sum);
}

static void a_count(srv_req *r) {
    size_t *sum = srv_req_udata(r);
    if (!sum) {
        srv_reply_error(r, 503, "unavailable", "no memory");
        return;
    }
    srv_reply_error(r, 422, "execution", "sum %zu for %s", *sum, srv_req_path(r, NULL));
}

static void h_work(srv_req *r, void *ctx) { srv_req_work(r, w_count, a_count); }

static void h_plain(srv_req *r, void *ctx) {
    size_t len;
    const char *q = srv_req_query(r, &len);
    srv_reply(r, 200, NULL, q, len);
}

static void on_done(void *arg) { (*(int *)arg)++; }

static void run(const uint8_t *data, size_t size, const size_t *cuts, size_t n_cuts) {
    uv_loop_t loop;
    if (uv_loop_init(&loop)) return;
    srv_http_opts o = {.max_body_bytes = 64, .max_header_bytes = 256, .max_arena_bytes = 1 << 20};
    srv_http *s = NULL;
    if (srv_http_new(&loop, &o, &s)) abort();
    srv_http_route(s, SRV_GET | SRV_POST, "/a", false, h_echo, NULL);
    srv_http_route(s, SRV_POST | SRV_PUT, "/w/", true, h_work, NULL);
    srv_http_route(s, SRV_DELETE, "/w/x", false, h_plain, NULL);
    srv_http_route(s, SRV_GET, "/", true, h_plain, NULL);
    srv_http_route_max_body(s, "/w/", true, 16);
    ax_buf out;
    ax_buf_init(&out, 1 << 20);
    srv__http_feed(s, data, size, cuts, n_cuts, &out);
    ax_buf_free(&out);
    int done = 0;
    srv_http_close(s, on_done, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (done != 1 || uv_loop_close(&loop)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size, NULL, 0);
    size_t thirds[2] = {size / 3, 2 * size / 3};
    run(data, size, thirds, 2);
    if (size <= 4096) {
        size_t sevens[4096 / 7 + 1], n = 0;
        for (size_t at = 7; at < size; at += 7) sevens[n++] = at;
        run(data, size, sevens, n);
    }
    return 0;
}
