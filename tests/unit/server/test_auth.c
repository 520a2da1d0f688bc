/* Unit tests for server/auth.c: the Authorization parser (good, truncated, oversized and
 * malformed values), the constant-time comparison, secrets from file:/env:, the check
 * matrix, the gate through the HTTP parser (srv__http_feed), and the class of every route
 * srv_api_register registers: a new route without a row in auth.c's table fails here. */
#include "server/app.h"
#include "server/auth.h"
#include "server/metadata.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int parse(const char *v, srv_cred *c) {
    static char buf[SRV_AUTH_MAX_HEADER];
    return srv_auth_header_parse(v, strlen(v), buf, sizeof buf, c);
}

TEST(test_auth_parse_basic_and_bearer) {
    srv_cred c;
    CHECK_EQ_INT(0, parse("Basic dTpw", &c)); /* u:p */
    CHECK_EQ_INT(SRV_CRED_BASIC, c.kind);
    CHECK(c.user_len == 1 && c.user[0] == 'u' && c.secret_len == 1 && c.secret[0] == 'p');
    CHECK_EQ_INT(0, parse("  basic   YWxhZGRpbjpvcGVuIHNlc2FtZQ==  ", &c)); /* aladdin:open sesame */
    CHECK(c.user_len == 7 && !memcmp(c.user, "aladdin", 7));
    CHECK(c.secret_len == 11 && !memcmp(c.secret, "open sesame", 11));
    CHECK_EQ_INT(0, parse("Basic YWxhZGRpbjpvcGVuIHNlc2FtZQ", &c)); /* no padding */
    CHECK(c.secret_len == 11);
    CHECK_EQ_INT(0, parse("Basic Og==", &c)); /* ":" : empty user and password */
    CHECK(c.user_len == 0 && c.secret_len == 0);
    CHECK_EQ_INT(0, parse("Basic dTpwOnE=", &c)); /* u:p:q: the first ':' splits */
    CHECK(c.user_len == 1 && c.secret_len == 3 && !memcmp(c.secret, "p:q", 3));
    CHECK_EQ_INT(0, parse("Bearer abc.DEF-123_~+/=", &c));
    CHECK_EQ_INT(SRV_CRED_BEARER, c.kind);
    CHECK(c.user == NULL && c.secret_len == 16 && !memcmp(c.secret, "abc.DEF-123_~+/=", 16));
    CHECK_EQ_INT(0, parse("BEARER\tt", &c));
    CHECK(c.secret_len == 1);
}

TEST(test_auth_parse_malformed) {
    srv_cred c = {0};
    const char *bad[] = {
        "", " ", "Basic", "Basic ", "Bearer", "Bearer   ", "Digest abc", "Basi dTpw",
        "BasicdTpw", "Bearerabc", "Basic dTpw dTpw", "Bearer a b", "Basic dA==",  /* "t": no ':' */
        "Basic d", "Basic dTpw=", "Basic dT=w", "Basic =dTp", "Basic dTpw===",
        "Basic dT!w", "Basic dTpw\x01", "Bearer a\x7f", "Bearer \x01", "Token abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], &c);
        if (rc != AX_EINVAL) FAILF("\"%s\": expected AX_EINVAL, got %d", bad[i], rc);
    }
    /* "dTp" is 3 chars = 2 bytes "u:": accepted (padding optional) */
    CHECK_EQ_INT(0, parse("Basic dTp", &c));
    CHECK(c.user_len == 1 && c.secret_len == 0);
    /* truncated: only len bytes are read (an exact-size heap copy lets ASan see a slip);
     * a prefix either fails or yields a shorter password, never the whole one */
    const char full[] = "Basic dXNlcjpwYXNz"; /* user:pass */
    char buf[64];
    for (size_t n = 0; n < strlen(full); n++) {
        char *cp = malloc(n ? n : 1);
        memcpy(cp, full, n);
        int rc = srv_auth_header_parse(cp, n, buf, sizeof buf, &c);
        if (rc != 0 && rc != AX_EINVAL) FAILF("prefix of %zu bytes: rc %d", n, rc);
        if (rc == 0 && c.secret_len >= 4) FAILF("prefix of %zu bytes gave the whole password", n);
        free(cp);
    }
}

TEST(test_auth_parse_oversized) {
    srv_cred c;
    size_t n = SRV_AUTH_MAX_HEADER + 1;
    char *v = malloc(n + 1);
    memcpy(v, "Bearer ", 7);
    memset(v + 7, 'a', n - 7);
    v[n] = 0;
    char buf[SRV_AUTH_MAX_HEADER];
    CHECK_EQ_INT(AX_ETOOBIG, srv_auth_header_parse(v, n, buf, sizeof buf, &c));
    CHECK_EQ_INT(0, srv_auth_header_parse(v, n - 1, buf, sizeof buf, &c));
    /* decoded bytes past the caller's buffer: refused, nothing written past cap */
    char small[4] = {'x', 'x', 'x', 'x'};
    CHECK_EQ_INT(AX_ETOOBIG, srv_auth_header_parse("Basic dXNlcjpwYXNz", 18, small, 3, &c));
    CHECK_EQ_INT('x', small[3]);
    CHECK_EQ_INT(0, srv_auth_header_parse("Basic dXNlcjpwYXNz", 18, buf, 9, &c)); /* user:pass */
    CHECK(c.secret_len == 4 && !memcmp(c.secret, "pass", 4));
    free(v);
}

TEST(test_auth_ct_equal) {
    uint8_t a[32], b[32];
    for (int i = 0; i < 32; i++) a[i] = b[i] = (uint8_t)(i * 7);
    CHECK(srv_auth_ct_equal(a, b, 32));
    CHECK(srv_auth_ct_equal(a, b, 0));
    for (int i = 0; i < 32; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            if (srv_auth_ct_equal(a, b, 32)) FAILF("byte %d bit %d flipped, still equal", i, bit);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK(srv_auth_ct_equal(a, b, 32));
}

static srv_auth *mk(void) {
    srv_auth_cfg cfg = {.username = "admin", .password = "pw", .token = "FULL",
                        .read_token = "READ", .write_token = "WRITE"};
    srv_auth *a = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_auth_new(&cfg, &a, &e));
    CHECK(a != NULL);
    return a;
}

static int chk(srv_auth *a, const char *hdr, int access) {
    const char *msg = NULL;
    int st = srv_auth_check(a, hdr, hdr ? strlen(hdr) : 0, access, &msg);
    if (st && !msg) FAILF("status %d without a reason", st);
    return st;
}

TEST(test_auth_check_matrix) {
    srv_auth *a = mk();
    struct { const char *hdr; int read, write, any, unset; } rows[] = {
        {NULL, 401, 401, 401, 401},
        {"Bearer FULL", 0, 0, 0, 0},
        {"Bearer READ", 0, 403, 0, 403},
        {"Bearer WRITE", 403, 0, 0, 403},
        {"Bearer FUL", 401, 401, 401, 401},
        {"Bearer FULLL", 401, 401, 401, 401},
        {"Bearer pw", 401, 401, 401, 401},
        {"Basic YWRtaW46cHc=", 0, 0, 0, 0},     /* admin:pw */
        {"Basic YWRtaW46cHg=", 401, 401, 401, 401}, /* admin:px */
        {"Basic YWRtaW46", 401, 401, 401, 401},   /* admin: */
        {"Basic OkZVTEw=", 0, 0, 0, 0},           /* :FULL, a token as the password */
        {"Basic eDpSRUFE", 0, 403, 0, 403},       /* x:READ */
        {"Basic YWRtaW46V1JJVEU=", 403, 0, 0, 403}, /* admin:WRITE */
        {"Basic UkVBRDo=", 401, 401, 401, 401},   /* READ: (the token as the user name) */
        {"Basic !!!", 401, 401, 401, 401},
        {"Bearer", 401, 401, 401, 401},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *h = rows[i].hdr ? rows[i].hdr : "(none)";
        int got;
        if ((got = chk(a, rows[i].hdr, SRV_ACCESS_READ)) != rows[i].read) FAILF("%s read: expected %d, got %d", h, rows[i].read, got);
        if ((got = chk(a, rows[i].hdr, SRV_ACCESS_WRITE)) != rows[i].write) FAILF("%s write: expected %d, got %d", h, rows[i].write, got);
        if ((got = chk(a, rows[i].hdr, SRV_ACCESS_ANY)) != rows[i].any) FAILF("%s any: expected %d, got %d", h, rows[i].any, got);
        if ((got = chk(a, rows[i].hdr, SRV_ACCESS_UNSET)) != rows[i].unset) FAILF("%s unset: expected %d, got %d", h, rows[i].unset, got);
        if ((got = chk(a, rows[i].hdr, SRV_ACCESS_PUBLIC)) != 0) FAILF("%s public: expected 0, got %d", h, got);
    }
    srv_auth_free(a);
}

TEST(test_auth_new_config) {
    srv_auth *a = (srv_auth *)1;
    ax_err e = {0};
    srv_auth_cfg none = {.username = "", .password = NULL};
    CHECK_EQ_INT(0, srv_auth_new(&none, &a, &e));
    CHECK(a == NULL);
    srv_auth_cfg half = {.username = "u"};
    CHECK_EQ_INT(AX_EINVAL, srv_auth_new(&half, &a, &e));
    srv_auth_cfg half2 = {.password = "p"};
    CHECK_EQ_INT(AX_EINVAL, srv_auth_new(&half2, &a, &e));
    /* only a write token: a read route refuses it, basic auth is not configured */
    srv_auth_cfg w = {.write_token = "W"};
    CHECK_EQ_INT(0, srv_auth_new(&w, &a, &e));
    CHECK_EQ_INT(0, chk(a, "Bearer W", SRV_ACCESS_WRITE));
    CHECK_EQ_INT(403, chk(a, "Bearer W", SRV_ACCESS_READ));
    CHECK_EQ_INT(401, chk(a, "Basic Ok=", SRV_ACCESS_WRITE));  /* ":" never matches unset basic */
    CHECK_EQ_INT(401, chk(a, "Basic Og==", SRV_ACCESS_WRITE));
    CHECK_EQ_INT(401, chk(a, "Bearer ", SRV_ACCESS_WRITE));
    srv_auth_free(a);
    srv_auth_free(NULL);
}

TEST(test_auth_secret_load) {
    char path[] = "/tmp/auspex-auth-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_EQ_INT(9, write(fd, "s3cret\r\n\n", 9));
    close(fd);
    char v[64], *s = NULL;
    ax_err e = {0};
    snprintf(v, sizeof v, "file:%s", path);
    CHECK_EQ_INT(0, srv_auth_secret_load(v, &s, &e));
    CHECK_EQ_STR("s3cret", s);
    free(s);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK_EQ_INT(1, write(fd, "\n", 1));
    close(fd);
    CHECK_EQ_INT(AX_EINVAL, srv_auth_secret_load(v, &s, &e));
    unlink(path);
    CHECK_EQ_INT(AX_EIO, srv_auth_secret_load(v, &s, &e));
    CHECK(strstr(e.msg, path) != NULL);
    setenv("AUSPEX_TEST_AUTH_SECRET", "from-env", 1);
    CHECK_EQ_INT(0, srv_auth_secret_load("env:AUSPEX_TEST_AUTH_SECRET", &s, &e));
    CHECK_EQ_STR("from-env", s);
    free(s);
    unsetenv("AUSPEX_TEST_AUTH_SECRET");
    CHECK_EQ_INT(AX_ENOTFOUND, srv_auth_secret_load("env:AUSPEX_TEST_AUTH_SECRET", &s, &e));
    CHECK_EQ_INT(0, srv_auth_secret_load("plain", &s, &e));
    CHECK_EQ_STR("plain", s);
    free(s);
    CHECK_EQ_INT(AX_EINVAL, srv_auth_secret_load("", &s, &e));
}

/* ---- the gate in the HTTP server ---- */

static void h_ok(srv_req *r, void *ctx) { srv_reply(r, 200, "text/plain", "ok", 2); }

static void feed(srv_http *s, const char *in, ax_buf *out) {
    ax_buf_reset(out);
    CHECK_EQ_INT(0, srv__http_feed(s, in, strlen(in), NULL, 0, out));
    ax_buf_append(out, "", 1);
    out->len--;
}

TEST(test_auth_gate_http) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_http *s = NULL;
    CHECK_EQ_INT(0, srv_http_new(&loop, NULL, &s));
    CHECK_EQ_INT(0, srv_http_route(s, SRV_GET | SRV_POST, "/r", false, h_ok, NULL));
    CHECK_EQ_INT(0, srv_http_route(s, SRV_GET, "/pub", false, h_ok, NULL));
    CHECK_EQ_INT(0, srv_http_route(s, SRV_GET, "/unset", false, h_ok, NULL));
    CHECK_EQ_INT(0, srv_http_route_access(s, "/r", false, SRV_GET, SRV_ACCESS_READ));
    CHECK_EQ_INT(0, srv_http_route_access(s, "/r", false, SRV_POST, SRV_ACCESS_WRITE));
    CHECK_EQ_INT(0, srv_http_route_access(s, "/pub", false, SRV_GET, SRV_ACCESS_PUBLIC));
    CHECK_EQ_INT(AX_ENOTFOUND, srv_http_route_access(s, "/pub", false, SRV_POST, SRV_ACCESS_READ));
    CHECK_EQ_INT(AX_EINVAL, srv_http_route_access(s, "/pub", false, SRV_GET, SRV_ACCESS_ANY));
    CHECK_EQ_INT(SRV_ACCESS_READ, srv_http_route_access_get(s, 0, SRV_HEAD));
    CHECK_EQ_INT(SRV_ACCESS_WRITE, srv_http_route_access_get(s, 0, SRV_POST));
    CHECK_EQ_INT(-1, srv_http_route_access_get(s, 0, SRV_PUT));
    CHECK_EQ_INT(SRV_ACCESS_UNSET, srv_http_route_access_get(s, 2, SRV_GET));
    srv_auth *a = mk();
    srv_http_set_gate(s, srv_auth_gate, a);
    ax_buf out;
    ax_buf_init(&out, 1 << 20);
    feed(s, "GET /r HTTP/1.1\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 401 Unauthorized") != NULL);
    CHECK(strstr((char *)out.data, "WWW-Authenticate: Basic realm=\"auspex\"\r\n") != NULL);
    CHECK(strstr((char *)out.data, "WWW-Authenticate: Bearer realm=\"auspex\"\r\n") != NULL);
    CHECK(strstr((char *)out.data, "{\"status\":\"error\",\"errorType\":\"unauthorized\"") != NULL);
    feed(s, "GET /r HTTP/1.1\r\nAuthorization: Bearer READ\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 200 OK") != NULL);
    /* denied POST with a body: the body is dropped, the next request still parses */
    feed(s, "POST /r HTTP/1.1\r\nAuthorization: Bearer READ\r\nContent-Length: 5\r\n\r\nhello"
            "GET /r HTTP/1.1\r\nAuthorization: Bearer WRITE\r\n\r\n"
            "POST /r HTTP/1.1\r\nAuthorization: Bearer WRITE\r\nContent-Length: 2\r\n\r\nhi", &out);
    const char *p = strstr((char *)out.data, "HTTP/1.1 403 Forbidden");
    CHECK(p != NULL && strstr(p, "\"errorType\":\"forbidden\"") != NULL);
    CHECK(p && (p = strstr(p + 1, "HTTP/1.1 403 Forbidden")) != NULL);
    CHECK(p && strstr(p + 1, "HTTP/1.1 200 OK") != NULL);
    feed(s, "GET /pub HTTP/1.1\r\nAuthorization: Basic !!!\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 200 OK") != NULL);
    feed(s, "GET /unset HTTP/1.1\r\nAuthorization: Bearer READ\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 403 Forbidden") != NULL);
    feed(s, "GET /unset HTTP/1.1\r\nAuthorization: Bearer FULL\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 200 OK") != NULL);
    /* no route: credentials first, then 404 / 405 */
    feed(s, "GET /nope HTTP/1.1\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 401") != NULL);
    feed(s, "GET /nope HTTP/1.1\r\nAuthorization: Bearer WRITE\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 404") != NULL);
    feed(s, "DELETE /pub HTTP/1.1\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 401") != NULL);
    feed(s, "HEAD /r HTTP/1.1\r\n\r\n", &out);
    CHECK(strstr((char *)out.data, "HTTP/1.1 401") != NULL);
    ax_buf_free(&out);
    srv_http_close(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(0, uv_loop_close(&loop));
    srv_auth_free(a);
}

/* ---- every registered route has a class ---- */

static const char *method_name(unsigned m) {
    return m == SRV_GET ? "GET" : m == SRV_POST ? "POST" : m == SRV_PUT ? "PUT" : m == SRV_DELETE ? "DELETE" : "HEAD";
}

static void classify_all(bool public_metrics, bool public_health, srv_http **out_s, uv_loop_t *loop,
                         srv_app *app) {
    memset(app, 0, sizeof *app);
    CHECK_EQ_INT(0, srv_http_new(loop, NULL, &app->http));
    app->loop = loop;
    CHECK_EQ_INT(0, srv_api_register(app));
    ax_err e = {0};
    int rc = srv_auth_classify(app->http, public_metrics, public_health, &e);
    if (rc) FAILF("srv_auth_classify: %s", e.msg);
    *out_s = app->http;
}

static void unclassify(uv_loop_t *loop, srv_app *app) {
    srv_http_close(app->http, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    srv_meta_free(app->meta);
    free(app->query_gate);
}

static int class_of(srv_http *s, const char *path, unsigned method) {
    for (size_t i = 0; i < srv_http_route_count(s); i++) {
        srv_route_stats st;
        srv_http_route_stats(s, i, &st);
        if (!strcmp(st.path, path) && (st.methods & method)) return srv_http_route_access_get(s, i, method);
    }
    return -2;
}

TEST(test_auth_every_route_classified) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_app app;
    srv_http *s = NULL;
    classify_all(false, true, &s, &loop, &app);
    size_t n = srv_http_route_count(s);
    CHECK(n > 30);
    for (size_t i = 0; i < n; i++) {
        srv_route_stats st;
        CHECK_EQ_INT(0, srv_http_route_stats(s, i, &st));
        for (unsigned m = SRV_GET; m <= SRV_HEAD; m <<= 1) {
            if (!(st.methods & m)) continue;
            int c = srv_http_route_access_get(s, i, m);
            if (c != SRV_ACCESS_PUBLIC && c != SRV_ACCESS_READ && c != SRV_ACCESS_WRITE)
                FAILF("route %s%s %s has no access class (add it to ROUTES in server/auth.c)",
                      st.path, st.prefix ? "*" : "", method_name(m));
        }
    }
    /* spot checks of the table */
    struct { const char *path; unsigned m; int want; } want[] = {
        {"/api/v1/write", SRV_POST, SRV_ACCESS_WRITE},
        {"/api/v1/import", SRV_POST, SRV_ACCESS_WRITE},
        {"/api/v1/import/prometheus", SRV_POST, SRV_ACCESS_WRITE},
        {"/api/v1/query", SRV_GET, SRV_ACCESS_READ},
        {"/api/v1/query", SRV_POST, SRV_ACCESS_READ},
        {"/api/v1/query_range", SRV_HEAD, SRV_ACCESS_READ},
        {"/api/v1/read", SRV_POST, SRV_ACCESS_READ},
        {"/api/v1/export", SRV_POST, SRV_ACCESS_READ},
        {"/api/v1/decisions/", SRV_GET, SRV_ACCESS_READ},
        {"/api/v1/decisions/", SRV_POST, SRV_ACCESS_WRITE},
        {"/api/v1/admin/tsdb/delete_series", SRV_GET, SRV_ACCESS_WRITE},
        {"/snapshot/create", SRV_GET, SRV_ACCESS_WRITE},
        {"/snapshot/list", SRV_GET, SRV_ACCESS_READ},
        {"/internal/force_flush", SRV_GET, SRV_ACCESS_WRITE},
        {"/internal/resetRollupResultCache", SRV_POST, SRV_ACCESS_WRITE},
        {"/", SRV_GET, SRV_ACCESS_READ},
        {"/ui/", SRV_GET, SRV_ACCESS_READ},
        {"/metrics", SRV_GET, SRV_ACCESS_READ},
        {"/-/healthy", SRV_GET, SRV_ACCESS_PUBLIC},
        {"/-/ready", SRV_GET, SRV_ACCESS_PUBLIC},
        {"/health", SRV_GET, SRV_ACCESS_PUBLIC},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int got = class_of(s, want[i].path, want[i].m);
        if (got != want[i].want) FAILF("%s %s: expected class %d, got %d", method_name(want[i].m), want[i].path, want[i].want, got);
    }
    unclassify(&loop, &app);
    /* the two switches */
    classify_all(true, false, &s, &loop, &app);
    CHECK_EQ_INT(SRV_ACCESS_PUBLIC, class_of(s, "/metrics", SRV_GET));
    CHECK_EQ_INT(SRV_ACCESS_READ, class_of(s, "/-/ready", SRV_GET));
    CHECK_EQ_INT(SRV_ACCESS_READ, class_of(s, "/health", SRV_GET));
    unclassify(&loop, &app);
    CHECK_EQ_INT(0, uv_loop_close(&loop));
}

TEST(test_auth_unknown_route_reported) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv_http *s = NULL;
    CHECK_EQ_INT(0, srv_http_new(&loop, NULL, &s));
    CHECK_EQ_INT(0, srv_http_route(s, SRV_GET, "/api/v1/query", false, h_ok, NULL));
    CHECK_EQ_INT(0, srv_http_route(s, SRV_GET, "/brand-new", false, h_ok, NULL));
    ax_err e = {0};
    CHECK_EQ_INT(AX_ENOTFOUND, srv_auth_classify(s, false, true, &e));
    CHECK(strstr(e.msg, "/brand-new") != NULL);
    CHECK_EQ_INT(SRV_ACCESS_READ, srv_http_route_access_get(s, 0, SRV_GET));
    CHECK_EQ_INT(SRV_ACCESS_UNSET, srv_http_route_access_get(s, 1, SRV_GET));
    srv_http_close(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(0, uv_loop_close(&loop));
}
