/* server/auth.c: -httpAuth.* access control (server/auth.h; docs/security.md).
 *
 * Where the check sits: every route gets an access class per method at start-up, from the
 * table below (srv_auth_classify -> srv_http_route_access). server/http.c asks the gate
 * when a request's headers are complete, with the class of the route it chose; a denied
 * request never reaches a handler, and its body is read and dropped instead of kept. So a
 * route needs no code of its own for auth, and a route missing from the table is fail-
 * closed (full credentials only) and makes tests/unit/server/test_auth.c fail.
 *
 * Classes: READ = everything that only looks (queries, series, labels, metadata, export,
 *   remote read, status, rules, decisions GET, backtest, the UI); WRITE = everything that
 *   changes the store or its files (remote write, imports, decisions approve/reject,
 *   delete_series, snapshots, force_flush, resetRollupResultCache); PUBLIC by choice:
 *   /-/healthy, /-/ready, /health (-httpAuth.publicHealth, default on), /metrics
 *   (-httpAuth.publicMetrics, default off: then READ).
 *
 * Comparison: a presented secret is never compared with the configured one byte by byte.
 *   Both sides are HMAC-SHA256'd under a random key made at start-up and the 32-byte
 *   digests compared with an OR-accumulating loop, so the time depends neither on where
 *   the first difference is nor on either length. Every configured secret is compared
 *   each time (no early exit between the tokens either).
 */
#include "server/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct srv_auth {
    uint8_t key[32];
    uint8_t user[32], pass[32], token[32], read[32], write[32];
    bool has_basic, has_token, has_read, has_write;
};

static bool set(const char *s) { return s && s[0]; }

static void digest(const srv_auth *a, const void *p, size_t len, uint8_t out[32]) {
    ax_hmac_sha256(a->key, sizeof a->key, p, len, out);
}

int srv_auth_new(const srv_auth_cfg *cfg, srv_auth **out, ax_err *e) {
    *out = NULL;
    if (set(cfg->username) != set(cfg->password))
        return ax_err_set(e, AX_EINVAL, "-httpAuth.username and -httpAuth.password go together");
    if (!set(cfg->username) && !set(cfg->token) && !set(cfg->read_token) && !set(cfg->write_token))
        return 0;
    srv_auth *a = calloc(1, sizeof *a);
    if (!a) return ax_err_set(e, AX_ENOMEM, "out of memory");
    if (getrandom(a->key, sizeof a->key, 0) != (ssize_t)sizeof a->key) {
        /* no getrandom: the key only has to differ from run to run and stay unknown to
         * clients, who never see a digest; mix what we have */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix[4] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
                           (uint64_t)(uintptr_t)a};
        ax_sha256(mix, sizeof mix, a->key);
    }
    if ((a->has_basic = set(cfg->username))) {
        digest(a, cfg->username, strlen(cfg->username), a->user);
        digest(a, cfg->password, strlen(cfg->password), a->pass);
    }
    if ((a->has_token = set(cfg->token))) digest(a, cfg->token, strlen(cfg->token), a->token);
    if ((a->has_read = set(cfg->read_token))) digest(a, cfg->read_token, strlen(cfg->read_token), a->read);
    if ((a->has_write = set(cfg->write_token)))
        digest(a, cfg->write_token, strlen(cfg->write_token), a->write);
    *out = a;
    return 0;
}

void srv_auth_free(srv_auth *a) {
    if (!a) return;
    volatile uint8_t *p = (volatile uint8_t *)a;
    for (size_t i = 0; i < sizeof *a; i++) p[i] = 0;
    free(a);
}

/* ---- secrets ---- */

static int read_secret_file(const char *path, char **out, ax_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return ax_err_set(e, AX_EIO, "cannot read file %s: %s", path, strerror(errno));
    char *buf = malloc(SRV_AUTH_MAX_SECRET + 2);
    if (!buf) {
        fclose(f);
        return ax_err_set(e, AX_ENOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, SRV_AUTH_MAX_SECRET + 1, f);
    int err = ferror(f);
    fclose(f);
    int rc = 0;
    if (err) rc = ax_err_set(e, AX_EIO, "cannot read file %s", path);
    else if (n > SRV_AUTH_MAX_SECRET)
        rc = ax_err_set(e, AX_ETOOBIG, "file %s holds more than %d bytes", path, SRV_AUTH_MAX_SECRET);
    if (rc) {
        memset(buf, 0, SRV_AUTH_MAX_SECRET + 2);
        free(buf);
        return rc;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    buf[n] = 0;
    if (!n || memchr(buf, 0, n)) {
        memset(buf, 0, SRV_AUTH_MAX_SECRET + 2);
        free(buf);
        return ax_err_set(e, AX_EINVAL, "file %s %s", path, n ? "holds a NUL byte" : "is empty");
    }
    *out = buf;
    return 0;
}

int srv_auth_secret_load(const char *value, char **out, ax_err *e) {
    if (!strncmp(value, "file:", 5)) return read_secret_file(value + 5, out, e);
    const char *v = value;
    if (!strncmp(value, "env:", 4)) {
        v = getenv(value + 4);
        if (!v) return ax_err_set(e, AX_ENOTFOUND, "environment variable %s is not set", value + 4);
        if (!v[0]) return ax_err_set(e, AX_EINVAL, "environment variable %s is empty", value + 4);
    }
    size_t n = strlen(v);
    if (!n) return ax_err_set(e, AX_EINVAL, "empty secret");
    if (n > SRV_AUTH_MAX_SECRET)
        return ax_err_set(e, AX_ETOOBIG, "secret longer than %d bytes", SRV_AUTH_MAX_SECRET);
    char *s = malloc(n + 1);
    if (!s) return ax_err_set(e, AX_ENOMEM, "out of memory");
    memcpy(s, v, n + 1);
    *out = s;
    return 0;
}

/* ---- the Authorization header ---- */

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode standard base64 s[0..len) (padding optional, none inside) into buf[0..cap).
 * OUT: *n_out. Returns 0, AX_EINVAL or AX_ETOOBIG. */
static int b64_decode(const char *s, size_t len, char *buf, size_t cap, size_t *n_out) {
    size_t pad = 0;
    while (pad < 2 && len > pad && s[len - 1 - pad] == '=') pad++;
    if (pad && len % 4) return AX_EINVAL;  /* padded input comes in whole quads */
    len -= pad;
    if (len % 4 == 1) return AX_EINVAL;   /* 6 bits cannot end a byte */
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (n > cap) return AX_ETOOBIG;
    uint32_t acc = 0;
    size_t bits = 0, o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) return AX_EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return AX_ETOOBIG;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    *n_out = o;
    return 0;
}

static bool blank(char c) { return c == ' ' || c == '\t'; }

int srv_auth_header_parse(const char *v, size_t len, char *buf, size_t cap, srv_cred *out) {
    if (len > SRV_AUTH_MAX_HEADER) return AX_ETOOBIG;
    const char *p = v, *end = v + len;
    while (p < end && blank(*p)) p++;
    while (end > p && blank(end[-1])) end--;
    const char *sp = p;
    while (sp < end && !blank(*sp)) sp++;
    size_t sl = (size_t)(sp - p);
    int kind = sl == 5 && !strncasecmp(p, "Basic", 5)    ? SRV_CRED_BASIC
               : sl == 6 && !strncasecmp(p, "Bearer", 6) ? SRV_CRED_BEARER
                                                         : 0;
    if (!kind) return AX_EINVAL;
    while (sp < end && blank(*sp)) sp++;
    if (sp == end) return AX_EINVAL;
    for (const char *q = sp; q < end; q++)  /* one credential: no blanks, no control bytes */
        if ((unsigned char)*q <= ' ' || *q == 0x7f) return AX_EINVAL;
    srv_cred c = {.kind = kind};
    if (kind == SRV_CRED_BEARER) {
        c.secret = sp;
        c.secret_len = (size_t)(end - sp);
    } else {
        size_t n = 0;
        int rc = b64_decode(sp, (size_t)(end - sp), buf, cap, &n);
        if (rc) return rc;
        const char *colon = memchr(buf, ':', n);
        if (!colon) return AX_EINVAL;
        c.user = buf;
        c.user_len = (size_t)(colon - buf);
        c.secret = colon + 1;
        c.secret_len = n - c.user_len - 1;
    }
    *out = c;
    return 0;
}

bool srv_auth_ct_equal(const void *a, const void *b, size_t n) {
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d == 0;
}

/* The roles the credentials in hdr[0..len) have: 0 when they match nothing. */
static unsigned cred_roles(const srv_auth *a, const srv_cred *c) {
    uint8_t d[32];
    unsigned roles = 0;
    digest(a, c->secret, c->secret_len, d);
    if (c->kind == SRV_CRED_BASIC) {
        uint8_t du[32];
        digest(a, c->user, c->user_len, du);
        bool u = srv_auth_ct_equal(du, a->user, 32), p = srv_auth_ct_equal(d, a->pass, 32);
        if (a->has_basic & u & p) roles = SRV_ROLE_FULL;
    }
    /* a token works as a bearer token and as a basic-auth password under any user name:
     * a browser can only ask for a user name and a password */
    bool t = srv_auth_ct_equal(d, a->token, 32), r = srv_auth_ct_equal(d, a->read, 32),
         w = srv_auth_ct_equal(d, a->write, 32);
    if (a->has_token & t) roles |= SRV_ROLE_FULL;
    if (a->has_read & r) roles |= SRV_ROLE_READ;
    if (a->has_write & w) roles |= SRV_ROLE_WRITE;
    return roles;
}

int srv_auth_check(const srv_auth *a, const char *hdr, size_t len, int access, const char **msg) {
    if (access == SRV_ACCESS_PUBLIC) return 0;
    if (!hdr) {
        *msg = "authentication required: send basic auth or Authorization: Bearer <token>";
        return 401;
    }
    char buf[SRV_AUTH_MAX_HEADER];
    srv_cred c;
    unsigned roles = 0;
    if (!srv_auth_header_parse(hdr, len, buf, sizeof buf, &c)) roles = cred_roles(a, &c);
    memset(buf, 0, sizeof buf);
    if (!roles) {
        *msg = "invalid credentials";
        return 401;
    }
    unsigned need = access == SRV_ACCESS_READ    ? SRV_ROLE_READ
                    : access == SRV_ACCESS_WRITE ? SRV_ROLE_WRITE
                    : access == SRV_ACCESS_ANY   ? 0
                                                 : SRV_ROLE_FULL;
    if (need ? (roles & need) == need : roles != 0) return 0;
    *msg = access == SRV_ACCESS_READ    ? "these credentials may not read: use the read or the full token"
           : access == SRV_ACCESS_WRITE ? "these credentials may not write: use the write or the full token"
                                        : "this route needs full credentials";
    return 403;
}

int srv_auth_gate(const srv_req *r, int access, void *ctx, const char **msg) {
    size_t len = 0;
    const char *h = srv_req_header(r, "authorization", &len);
    return srv_auth_check(ctx, h, len, access, msg);
}

/* ---- route classes ---- */

enum { C_READ = SRV_ACCESS_READ, C_WRITE = SRV_ACCESS_WRITE, C_METRICS = 100, C_HEALTH };

/* Every route and its class for GET/HEAD and for POST/PUT/DELETE (0: the route has no
 * such method). Keep in step with docs/security.md. */
static const struct route_class {
    const char *path;
    bool prefix;
    int get, post;
} ROUTES[] = {
    /* ingestion */
    {"/api/v1/write", false, 0, C_WRITE},
    {"/api/v1/import/prometheus", false, 0, C_WRITE},
    {"/api/v1/import", false, 0, C_WRITE},
    {"/api/v1/import/csv", false, 0, C_WRITE},
    /* reads */
    {"/api/v1/export", false, C_READ, C_READ},
    {"/federate", false, C_READ, 0},
    {"/api/v1/export/csv", false, C_READ, C_READ},
    {"/api/v1/query", false, C_READ, C_READ},
    {"/api/v1/query_range", false, C_READ, C_READ},
    {"/api/v1/query_exemplars", false, C_READ, C_READ},
    {"/api/v1/read", false, 0, C_READ},
    {"/api/v1/series", false, C_READ, C_READ},
    {"/api/v1/labels", false, C_READ, C_READ},
    {"/api/v1/label/", true, C_READ, C_READ},
    {"/api/v1/metadata", false, C_READ, C_READ},
    {"/api/v1/targets", false, C_READ, 0},
    {"/api/v1/forecast", false, C_READ, C_READ},
    {"/api/v1/status/tsdb", false, C_READ, 0},
    {"/api/v1/status/buildinfo", false, C_READ, 0},
    {"/api/v1/status/runtimeinfo", false, C_READ, 0},
    {"/api/v1/rules", false, C_READ, 0},
    {"/api/v1/alerts", false, C_READ, 0},
    {"/api/v1/rules/", true, C_READ, C_READ},          /* <name>/backtest */
    {"/api/v1/decisions", false, C_READ, 0},
    {"/api/v1/decisions/", true, C_READ, C_WRITE},     /* POST <id>/approve|reject */
    {"/snapshot/list", false, C_READ, 0},
    /* the web UI */
    {"/", false, C_READ, 0},
    {"/ui/", true, C_READ, 0},
    {"/graph", false, C_READ, 0},
    {"/vmui", false, C_READ, 0},
    {"/vmui/", false, C_READ, 0},
    /* changes to the store (GET too: VictoriaMetrics' admin routes answer GET) */
    {"/api/v1/admin/tsdb/delete_series", false, C_WRITE, C_WRITE},
    {"/api/v1/admin/tsdb/snapshot", false, 0, C_WRITE},
    {"/snapshot/create", false, C_WRITE, C_WRITE},
    {"/snapshot/delete", false, C_WRITE, C_WRITE},
    {"/snapshot/delete_all", false, C_WRITE, C_WRITE},
    {"/internal/force_flush", false, C_WRITE, C_WRITE},
    {"/internal/resetRollupResultCache", false, C_WRITE, C_WRITE},
    /* public by choice */
    {"/metrics", false, C_METRICS, 0},
    {"/-/healthy", false, C_HEALTH, 0},
    {"/-/ready", false, C_HEALTH, 0},
    {"/health", false, C_HEALTH, 0},
};

static int resolve(int c, bool public_metrics, bool public_health) {
    if (c == C_METRICS) return public_metrics ? SRV_ACCESS_PUBLIC : SRV_ACCESS_READ;
    if (c == C_HEALTH) return public_health ? SRV_ACCESS_PUBLIC : SRV_ACCESS_READ;
    return c;
}

int srv_auth_classify(srv_http *h, bool public_metrics, bool public_health, ax_err *e) {
    int rc = 0;
    for (size_t i = 0; i < srv_http_route_count(h); i++) {
        srv_route_stats st;
        if (srv_http_route_stats(h, i, &st)) break;
        const struct route_class *rc_ = NULL;
        for (size_t k = 0; k < sizeof ROUTES / sizeof ROUTES[0] && !rc_; k++)
            if (ROUTES[k].prefix == st.prefix && !strcmp(ROUTES[k].path, st.path)) rc_ = &ROUTES[k];
        unsigned get = st.methods & (SRV_GET | SRV_HEAD), post = st.methods & (SRV_POST | SRV_PUT | SRV_DELETE);
        bool ok = rc_ && (!get || rc_->get) && (!post || rc_->post);
        if (ok && get)
            ok = !srv_http_route_access(h, st.path, st.prefix, get, resolve(rc_->get, public_metrics, public_health));
        if (ok && post)
            ok = !srv_http_route_access(h, st.path, st.prefix, post, resolve(rc_->post, public_metrics, public_health));
        if (!ok && !rc)
            rc = ax_err_set(e, AX_ENOTFOUND, "route %s%s (%s) has no access class in server/auth.c",
                            st.path, st.prefix ? "*" : "", get ? "GET" : "POST");
    }
    return rc;
}
