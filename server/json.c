/* server/json.c: the little JSON writing that responses need, without building trees.
 * Strings are escaped as Go's encoding/json does for what Prometheus emits: quotes,
 * backslash and control characters, and (its default HTML-safe escaping) <, >, & as
 * \u003c \u003e \u0026 and U+2028, U+2029 as \u2028 \u2029; bytes that are not valid
 * UTF-8 become U+FFFD. */
#include "server/app.h"

#include <math.h>
#include <string.h>

static size_t utf8_len(const uint8_t *p, size_t left) {
    uint8_t c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
    else return 0;
    if (left < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int srv_json_str(ax_buf *b, const char *s, size_t len) {
    int rc = ax_buf_reserve(b, len + 2);
    if (rc) return rc;
    b->data[b->len++] = '"';
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    while (p < end) {
        const uint8_t *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\' && *p != '<' &&
               *p != '>' && *p != '&')
            p++;
        if (p > run && (rc = ax_buf_append(b, run, (size_t)(p - run)))) return rc;
        if (p == end) break;
        uint8_t c = *p;
        if (c == '<' || c == '>' || c == '&') {
            rc = ax_buf_printf(b, "\\u%04x", c);
            p++;
        } else if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = ax_buf_append(b, esc, 2);
            p++;
        } else if (c < 0x20) {
            const char *e = NULL;
            switch (c) {
            case '\n': e = "\\n"; break;
            case '\r': e = "\\r"; break;
            case '\t': e = "\\t"; break;
            default: break;
            }
            if (e) rc = ax_buf_append(b, e, 2);
            else rc = ax_buf_printf(b, "\\u%04x", c);
            p++;
        } else {
            size_t n = utf8_len(p, (size_t)(end - p));
            if (n == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
                rc = ax_buf_printf(b, "\\u%04x", p[2] == 0xa8 ? 0x2028 : 0x2029);
                p += n;
            } else if (n) {
                rc = ax_buf_append(b, p, n);
                p += n;
            } else {
                rc = ax_buf_append(b, "\xef\xbf\xbd", 3);
                p++;
            }
        }
        if (rc) return rc;
    }
    return ax_buf_append(b, "\"", 1);
}

/* {"name":"value",...} */
static int label_object(ax_buf *b, const ax_label *ls, size_t n) {
    int rc = ax_buf_append(b, "{", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = ax_buf_append(b, ",", 1);
        if (!rc) rc = srv_json_str(b, ls[i].name, ls[i].name_len);
        if (!rc) rc = ax_buf_append(b, ":", 1);
        if (!rc) rc = srv_json_str(b, ls[i].value, ls[i].value_len);
    }
    if (!rc) rc = ax_buf_append(b, "}", 1);
    return rc;
}

int srv_json_labels(ax_buf *b, const uint8_t *labels, size_t len) {
    ax_label ls[AX_MAX_LABELS];
    size_t n = 0;
    int rc = ax_labels_decode(labels, len, ls, AX_MAX_LABELS, &n);
    if (rc) return rc;
    return label_object(b, ls, n);
}

/* ---- Prometheus' number and metric formats (query and forecast APIs) ---- */

static size_t put_u64(char *p, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    return n;
}

size_t srv_json_ts(char *p, int64_t t, bool trim) {
    size_t o = 0;
    uint64_t u = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    if (t < 0) p[o++] = '-';
    o += put_u64(p + o, u / 1000);
    unsigned f = (unsigned)(u % 1000);
    if (f) {
        p[o++] = '.';
        p[o++] = (char)('0' + f / 100);
        p[o++] = (char)('0' + f / 10 % 10);
        p[o++] = (char)('0' + f % 10);
        if (trim)
            while (p[o - 1] == '0') o--;
    }
    return o;
}

size_t srv_json_sample(char *p, double v) {
    double a = fabs(v);
    return ax_fmt_go(p, v, a != 0 && (a < 1e-6 || a >= 1e21) ? 'e' : 'f');
}

int srv_json_metric(ax_buf *b, const ax_label *ls, size_t n) {
    int rc = ax_buf_append(b, "{\"metric\":", 10);
    return rc ? rc : label_object(b, ls, n);
}
