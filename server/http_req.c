/* server/http_req.c: what a handler sees of a request (accessors, query and form
 * parameters) and how its reply is framed (status line, headers, the Prometheus error
 * JSON). Connection handling and writes are in http.c; this file only builds bytes and
 * hands them to srv__req_send().
 *
 * Parameters are parsed once, on first use, into an array in the request arena: form
 * body pairs first, then URL query pairs, each name and value percent-decoded with '+' as
 * space. Response heads are one malloc'd string; the body travels separately (copied for
 * srv_reply, taken for srv_reply_buf_take) so a large body is never copied twice.
 */
#include "server/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- accessors ---- */

unsigned srv_req_method(const srv_req *r) { return r->method; }

const char *srv_req_method_name(const srv_req *r) {
    return llhttp_method_name((llhttp_method_t)r->llmethod);
}

const char *srv_req_path(const srv_req *r, size_t *len) {
    if (len) *len = r->path_len;
    return r->path ? r->path : "";
}

const char *srv_req_query(const srv_req *r, size_t *len) {
    if (len) *len = r->query_len;
    return r->query ? r->query : "";
}

const char *srv_req_header(const srv_req *r, const char *name, size_t *len) {
    size_t nl = strlen(name);
    for (const srv_header *h = r->headers; h; h = h->next) {
        if (h->name_len == nl && !strncasecmp(h->name, name, nl)) {
            if (len) *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

const uint8_t *srv_req_body(const srv_req *r, size_t *len) {
    *len = r->body.len;
    return r->body.data ? r->body.data : (const uint8_t *)"";
}

ax_arena *srv_req_arena(srv_req *r) { return &r->arena; }
void *srv_req_ctx(const srv_req *r) { return r->route ? r->route->ctx : NULL; }
void srv_req_set_udata(srv_req *r, void *udata) { r->udata = udata; }
void *srv_req_udata(const srv_req *r) { return r->udata; }

/* ---- parameters ---- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t srv__pct_decode(char *dst, const char *src, size_t len, bool plus_space) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        int hi, lo;
        if (ch == '%' && i + 2 < len && (hi = hexval(src[i + 1])) >= 0 &&
            (lo = hexval(src[i + 2])) >= 0) {
            dst[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (ch == '+' && plus_space) {
            dst[n++] = ' ';
        } else {
            dst[n++] = ch;
        }
    }
    dst[n] = 0;
    return n;
}

/* Count the '&'-separated pairs of s[0..len) (an upper bound: empty pieces are skipped). */
static size_t pairs_max(const char *s, size_t len) {
    size_t n = len ? 1 : 0;
    for (size_t i = 0; i < len; i++) n += s[i] == '&';
    return n;
}

/* Decode the pairs of s[0..len) into r->params. Returns 0 or AX_ENOMEM (arena budget). */
static int pairs_parse(srv_req *r, const char *s, size_t len) {
    const char *end = s + len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pe = amp ? amp : end;
        if (pe > s) {
            const char *eq = memchr(s, '=', (size_t)(pe - s));
            const char *ne = eq ? eq : pe;
            const char *vs = eq ? eq + 1 : pe;
            char *name = ax_arena_alloc(&r->arena, (size_t)(ne - s) + 1);
            char *val = ax_arena_alloc(&r->arena, (size_t)(pe - vs) + 1);
            if (!name || !val) return AX_ENOMEM;
            srv_param *pr = &r->params[r->n_params++];
            pr->name = name;
            pr->name_len = srv__pct_decode(name, s, (size_t)(ne - s), true);
            pr->value = val;
            pr->value_len = srv__pct_decode(val, vs, (size_t)(pe - vs), true);
        }
        s = amp ? amp + 1 : end;
    }
    return 0;
}

static bool is_form(const srv_req *r) {
    if (r->method != SRV_POST && r->method != SRV_PUT) return false;
    size_t len;
    const char *ct = srv_req_header(r, "content-type", &len);
    static const char form[] = "application/x-www-form-urlencoded";
    size_t fl = sizeof form - 1;
    if (!ct || len < fl || strncasecmp(ct, form, fl)) return false;
    return len == fl || ct[fl] == ';' || ct[fl] == ' ' || ct[fl] == '\t';
}

void srv_req_body_is_data(srv_req *r) { r->body_is_data = true; }

static void params_parse(srv_req *r) {
    r->params_parsed = true;
    bool form = !r->body_is_data && is_form(r);
    const char *body = (const char *)r->body.data;
    size_t blen = form ? r->body.len : 0;
    size_t n = pairs_max(r->query ? r->query : "", r->query_len) + pairs_max(body, blen);
    if (!n) return;
    r->params = ax_arena_alloc(&r->arena, n * sizeof *r->params);
    if (!r->params) return;
    if ((blen && pairs_parse(r, body, blen)) || pairs_parse(r, r->query, r->query_len)) {
        r->n_params = 0;  /* out of budget: no parameters rather than some */
    }
}

const char *srv_req_param(srv_req *r, const char *name, size_t *len) {
    srv_span v;
    if (!srv_req_params(r, name, &v, 1)) return NULL;
    if (len) *len = v.len;
    return v.p;
}

size_t srv_req_params(srv_req *r, const char *name, srv_span *out, size_t cap) {
    if (!r->params_parsed) params_parse(r);
    size_t nl = strlen(name), n = 0;
    for (size_t i = 0; i < r->n_params; i++) {
        const srv_param *pr = &r->params[i];
        if (pr->name_len != nl || memcmp(pr->name, name, nl)) continue;
        if (n < cap) out[n] = (srv_span){pr->value, pr->value_len};
        n++;
    }
    return n;
}

/* ---- response framing ---- */

const char *srv__status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

int srv_http_status_of(int rc, const char **error_type) {
    int status;
    const char *type;
    switch (rc) {
    case AX_EINVAL: status = 400; type = "bad_data"; break;
    case AX_ETOOBIG: status = 413; type = "bad_data"; break;
    case AX_ELIMIT: status = 422; type = "execution"; break;
    case AX_ENOTFOUND: status = 404; type = "not_found"; break;
    case AX_EAGAIN:
    case AX_EIO:
    case AX_EFULL:
    case AX_ENOMEM: status = 503; type = "unavailable"; break;
    default: status = 500; type = "internal"; break;
    }
    if (error_type) *error_type = type;
    return status;
}

static bool bodyless_status(int status) { return status < 200 || status == 204 || status == 304; }

char *srv__head_build(srv_req *r, int status, const char *content_type, size_t body_len,
                      bool keep_alive, size_t *len) {
    ax_buf h;
    ax_buf_init(&h, SIZE_MAX);
    int rc = ax_buf_printf(&h, "HTTP/1.1 %d %s\r\n", status, srv__status_text(status));
    if (!rc && content_type) rc = ax_buf_printf(&h, "Content-Type: %s\r\n", content_type);
    if (!rc && !bodyless_status(status)) rc = ax_buf_printf(&h, "Content-Length: %zu\r\n", body_len);
    if (!rc && r && r->out_headers.len) rc = ax_buf_append(&h, r->out_headers.data, r->out_headers.len);
    if (!rc && !keep_alive) rc = ax_buf_append_str(&h, "Connection: close\r\n");
    else if (!rc && r && r->http10) rc = ax_buf_append_str(&h, "Connection: keep-alive\r\n");
    if (!rc) rc = ax_buf_append(&h, "\r\n", 2);
    if (rc) {
        ax_buf_free(&h);
        return NULL;
    }
    *len = h.len;
    return (char *)h.data;
}

int srv_reply_header(srv_req *r, const char *name, const char *value) {
    AX_ASSERT(!r->replied);
    if (!*name || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return AX_EINVAL;
    int rc = ax_buf_printf(&r->out_headers, "%s: %s\r\n", name, value);
    return rc == AX_ETOOBIG ? AX_ETOOBIG : rc ? AX_ENOMEM : 0;
}

/* Common tail of every reply; takes body (malloc'd or NULL). */
static void reply_bytes(srv_req *r, int status, const char *content_type, char *body, size_t len) {
    AX_ASSERT(srv__on_loop(r->srv));
    AX_ASSERT(r->dispatched && !r->replied && !r->work_pending);
    r->replied = true;
    bool keep = r->keep_alive && !r->srv->closing;
    size_t hlen = 0;
    char *head = srv__head_build(r, status, content_type, len, keep, &hlen);
    if (r->method == SRV_HEAD || bodyless_status(status)) {
        free(body);
        body = NULL;
        len = 0;
    }
    if (!head) {  /* out of memory: the client gets a closed connection */
        free(body);
        srv__req_send(r, status, NULL, 0, NULL, 0, false);
        return;
    }
    srv__req_send(r, status, head, hlen, body, len, keep);
}

void srv_reply(srv_req *r, int status, const char *content_type, const void *body, size_t len) {
    char *copy = NULL;
    if (len && r->method != SRV_HEAD) {
        copy = malloc(len);
        if (copy) memcpy(copy, body, len);
        else status = 503, content_type = NULL, len = 0;
    }
    reply_bytes(r, status, content_type, copy, len);
}

void srv_reply_buf_take(srv_req *r, int status, const char *content_type, ax_buf *b) {
    char *body = (char *)b->data;
    size_t len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    reply_bytes(r, status, content_type, body, len);
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { need = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { need = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 4; cp = c & 0x07; }
    else return 0;
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

int srv__json_escape(ax_buf *out, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    int rc = 0;
    for (size_t i = 0; i < len && !rc;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = ax_buf_append(out, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            const char *e = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (e) rc = ax_buf_append_str(out, e);
            else rc = ax_buf_printf(out, "\\u%04x", c);
            i++;
        } else {
            size_t n = utf8_seq(p + i, len - i);
            if (n) rc = ax_buf_append(out, p + i, n);
            else rc = ax_buf_append_str(out, "\\ufffd");
            i += n ? n : 1;
        }
    }
    return rc;
}

static char *error_json(const char *error_type, const char *msg, size_t *len) {
    ax_buf b;
    ax_buf_init(&b, SIZE_MAX);
    int rc = ax_buf_append_str(&b, "{\"status\":\"error\",\"errorType\":\"");
    if (!rc) rc = srv__json_escape(&b, error_type, strlen(error_type));
    if (!rc) rc = ax_buf_append_str(&b, "\",\"error\":\"");
    if (!rc) rc = srv__json_escape(&b, msg, strlen(msg));
    if (!rc) rc = ax_buf_append_str(&b, "\"}");
    if (rc) {
        ax_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return (char *)b.data;
}

void srv_reply_verror(srv_req *r, int status, const char *error_type, const char *fmt,
                      va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = 0;
    char *body = error_json(error_type, msg, &len);
    reply_bytes(r, status, body ? "application/json" : NULL, body, body ? len : 0);
}

void srv_reply_error(srv_req *r, int status, const char *error_type, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    srv_reply_verror(r, status, error_type, fmt, ap);
    va_end(ap);
}

char *srv__error_response(int status, const char *error_type, const char *msg, bool head,
                          size_t *len) {
    size_t blen = 0;
    char *body = error_json(error_type, msg, &blen);
    if (!body) return NULL;
    size_t hlen = 0;
    char *h = srv__head_build(NULL, status, "application/json", blen, false, &hlen);
    char *out = h ? realloc(h, hlen + (head ? 0 : blen)) : NULL;
    if (!out) {
        free(h);
        free(body);
        return NULL;
    }
    if (!head) memcpy(out + hlen, body, blen);
    free(body);
    *len = hlen + (head ? 0 : blen);
    return out;
}

int srv_req_param_time(srv_req *r, const char *name, int64_t dflt, int64_t *out, bool *given,
                       ax_err *e) {
    size_t len = 0;
    const char *v = srv_req_param(r, name, &len);
    if (!v || !len) {
        *out = dflt;
        return 0;
    }
    if (given) *given = true;
    if (ax_time_parse(v, len, out))
        return ax_err_set(e, AX_EINVAL, "invalid parameter \"%s\": cannot parse \"%.*s\" to a valid timestamp",
                          name, (int)(len > 64 ? 64 : len), v);
    return 0;
}

int srv_req_param_uint(srv_req *r, const char *name, uint64_t dflt, uint64_t max, uint64_t *out,
                       ax_err *e) {
    size_t len = 0;
    const char *v = srv_req_param(r, name, &len);
    if (!v || !len) {
        *out = dflt;
        return 0;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || n > (max - (uint64_t)(v[i] - '0')) / 10)
            return ax_err_set(e, AX_EINVAL, "invalid parameter \"%s\": \"%.*s\" is not a whole number "
                                            "from 0 to %llu", name, (int)(len > 32 ? 32 : len), v,
                              (unsigned long long)max);
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 0;
}
