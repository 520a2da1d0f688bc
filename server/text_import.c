/* server/text_import.c: Prometheus text exposition parser (grammar in text_import.h).
 *
 * Like the remote-write decoder, it makes two passes over the body, each line split off
 * with memchr and every read checked against the line's end pointer:
 *   1. count: parse every line fully (syntax, value, timestamp, caps), count the sample
 *      lines and the labels each will carry once extras are merged in;
 *   2. fill: with exactly sized arena arrays (series, labels, samples), parse each line
 *      again and write it out; label values with escapes are unescaped into arena copies.
 * So the first bad line fails the body before anything is allocated, and the caller's
 * out-params are written only when all of it parsed. Parsing a line twice is cheap next
 * to the WAL write that follows.
 *
 * A parsed line is held in tx_line: spans into the body for the metric name and each
 * label's name and raw (still escaped) value. At most AX_MAX_LABELS - 1 labels of its own
 * fit next to __name__; one more is an error before the extras are even considered.
 * Numbers: values are checked against Go's ParseFloat syntax here, then converted by
 * strtod (C locale) from a NUL-terminated copy; a finite literal that rounds to Inf is
 * refused, as Go's ErrRange makes Prometheus refuse it. Timestamps are converted here
 * with an explicit int64 overflow check.
 */
#include "server/parse_msg.h"
#include "server/text_import.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_MAX_NUMBER 400 /* longest value token we convert (Go takes any length) */

typedef struct tx_raw_label {
    const char *name, *value; /* value: raw bytes between the quotes, escapes intact */
    size_t name_len, value_len;
    size_t unescaped_len;
    bool escaped;
} tx_raw_label;

typedef struct tx_line {
    const char *name;
    size_t name_len;
    tx_raw_label labels[AX_MAX_LABELS];
    size_t n_labels;
    double v;
    int64_t ts;
} tx_line;

typedef struct tx_parser {
    const ax_label *extra;
    size_t n_extra;
    int64_t default_ts;
    size_t lineno;
    ax_err *e;
} tx_parser;

enum { LINE_SKIP = 0, LINE_SAMPLE = 1, LINE_EOF = 2 }; /* parse_line's results >= 0 */

/* ---- errors ---- */

static int fail(tx_parser *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(tx_parser *p, int code, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ax_err_set(p->e, code, "line %zu: %s", p->lineno, msg);
}

/* ---- lexing helpers ---- */

static inline bool is_ws(char c) { return c == ' ' || c == '\t'; }
static inline bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && is_ws(*s)) s++;
    return s;
}

static bool eq_nocase(const char *s, size_t len, const char *lit) {
    size_t n = strlen(lit);
    if (len != n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != lit[i]) return false;
    }
    return true;
}

/* ---- numbers ---- */

bool srv_parse_go_float(const char *s, size_t len, double *out, bool *range) {
    *range = false;
    size_t i = 0;
    bool neg = false, sign = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        sign = true;
        i++;
    }
    const char *r = s + i;
    size_t rn = len - i;
    if (eq_nocase(r, rn, "inf") || eq_nocase(r, rn, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (!sign && eq_nocase(r, rn, "nan")) {
        *out = NAN;
        return true;
    }
    if (len > TX_MAX_NUMBER) return false;
    size_t digits = 0;
    if (rn >= 2 && r[0] == '0' && (r[1] == 'x' || r[1] == 'X')) {
        i += 2;
        while (i < len && is_hex(s[i])) i++, digits++;
        if (i < len && s[i] == '.') {
            i++;
            while (i < len && is_hex(s[i])) i++, digits++;
        }
        if (!digits || i >= len || (s[i] != 'p' && s[i] != 'P')) return false;
    } else {
        while (i < len && is_digit(s[i])) i++, digits++;
        if (i < len && s[i] == '.') {
            i++;
            while (i < len && is_digit(s[i])) i++, digits++;
        }
        if (!digits) return false;
        if (i < len && s[i] != 'e' && s[i] != 'E') return false;
    }
    if (i < len) { /* exponent: [eEpP] [+-]? digits */
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < len && is_digit(s[i])) i++, ed++;
        if (!ed || i != len) return false;
    }
    if (ax_decimal_fast(s, len, out)) return true; /* the common case, exact */
    char buf[TX_MAX_NUMBER + 1];
    memcpy(buf, s, len);
    buf[len] = 0;
    char *stop = NULL;
    errno = 0;
    double v = strtod(buf, &stop);
    if (stop != buf + len) return false;
    if (isinf(v)) {
        *range = true;
        return false;
    }
    *out = v;
    return true;
}

static bool parse_int64(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == len) return false;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < len; i++) {
        if (!is_digit(s[i])) return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (lim - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v; /* 0 - v wraps to INT64_MIN for lim */
    return true;
}

/* ---- one line ---- */

/* Parse the label set after '{' (at *sp). Fills ln->labels. */
static int parse_labels(tx_parser *p, const char **sp, const char *end, tx_line *ln) {
    const char *s = *sp;
    char b1[64], b2[32];
    for (;;) {
        s = skip_ws(s, end);
        if (s >= end) return fail(p, AX_EINVAL, "label set not closed: expected label name or '}'");
        if (*s == '}') {
            s++;
            break;
        }
        if (!is_alpha_(*s))
            return fail(p, AX_EINVAL, "expected label name or '}', found %s", srv__found(b2, sizeof b2, s, end));
        const char *name = s;
        while (s < end && (is_alpha_(*s) || is_digit(*s))) s++;
        size_t name_len = (size_t)(s - name);
        if (name_len > AX_MAX_LABEL_NAME)
            return fail(p, AX_EINVAL, "label name \"%s\" of %zu bytes exceeds %d",
                        srv__excerpt(b1, sizeof b1, name, name_len), name_len, AX_MAX_LABEL_NAME);
        s = skip_ws(s, end);
        if (s >= end || *s != '=')
            return fail(p, AX_EINVAL, "expected '=' after label name \"%s\", found %s",
                        srv__excerpt(b1, sizeof b1, name, name_len), srv__found(b2, sizeof b2, s, end));
        s = skip_ws(s + 1, end);
        if (s >= end || *s != '"')
            return fail(p, AX_EINVAL, "expected '\"' to open the value of label \"%s\", found %s",
                        srv__excerpt(b1, sizeof b1, name, name_len), srv__found(b2, sizeof b2, s, end));
        const char *value = ++s;
        size_t ulen = 0;
        bool escaped = false;
        for (;;) {
            if (s >= end)
                return fail(p, AX_EINVAL, "unterminated label value of label \"%s\"",
                            srv__excerpt(b1, sizeof b1, name, name_len));
            if (*s == '"') break;
            if (*s == '\\') {
                if (end - s < 2)
                    return fail(p, AX_EINVAL, "unterminated label value of label \"%s\"",
                                srv__excerpt(b1, sizeof b1, name, name_len));
                if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
                    return fail(p, AX_EINVAL,
                                "bad escape '\\%c' in the value of label \"%s\" (want \\\\, \\\" or \\n)",
                                (s[1] >= 0x20 && s[1] < 0x7f) ? s[1] : '?',
                                srv__excerpt(b1, sizeof b1, name, name_len));
                escaped = true;
                s += 2;
            } else {
                s++;
            }
            ulen++;
        }
        size_t value_len = (size_t)(s - value);
        s++; /* closing quote */
        if (ulen > AX_MAX_LABEL_VALUE)
            return fail(p, AX_EINVAL, "value of label \"%s\" of %zu bytes exceeds %d",
                        srv__excerpt(b1, sizeof b1, name, name_len), ulen, AX_MAX_LABEL_VALUE);
        if (ln->n_labels + 1 >= AX_MAX_LABELS) /* + __name__ */
            return fail(p, AX_EINVAL, "more than %d labels", AX_MAX_LABELS);
        tx_raw_label *l = &ln->labels[ln->n_labels++];
        l->name = name;
        l->name_len = name_len;
        l->value = value;
        l->value_len = value_len;
        l->unescaped_len = ulen;
        l->escaped = escaped;
        s = skip_ws(s, end);
        if (s >= end) return fail(p, AX_EINVAL, "label set not closed: expected ',' or '}'");
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '}') {
            s++;
            break;
        }
        return fail(p, AX_EINVAL, "expected ',' or '}' after the value of label \"%s\", found %s",
                    srv__excerpt(b1, sizeof b1, name, name_len), srv__found(b2, sizeof b2, s, end));
    }
    *sp = s;
    return 0;
}

/* Parse line s[0..end) (no '\n'). Returns LINE_SKIP, LINE_SAMPLE (ln filled), LINE_EOF
 * or a negative status. */
static int parse_line(tx_parser *p, const char *s, const char *end, tx_line *ln) {
    char b1[64], b2[32];
    if (s < end && end[-1] == '\r') end--;
    s = skip_ws(s, end);
    if (s >= end) return LINE_SKIP;
    if (*s == '#') {
        const char *t = skip_ws(s + 1, end);
        if (t > s + 1 && end - t >= 3 && !memcmp(t, "EOF", 3) && skip_ws(t + 3, end) == end)
            return LINE_EOF;
        return LINE_SKIP;
    }
    if (!is_alpha_(*s) && *s != ':')
        return fail(p, AX_EINVAL, "expected metric name, found %s", srv__found(b2, sizeof b2, s, end));
    ln->name = s;
    while (s < end && (is_alpha_(*s) || is_digit(*s) || *s == ':')) s++;
    ln->name_len = (size_t)(s - ln->name);
    ln->n_labels = 0;
    if (ln->name_len > AX_MAX_LABEL_VALUE)
        return fail(p, AX_EINVAL, "metric name of %zu bytes exceeds %d", ln->name_len,
                    AX_MAX_LABEL_VALUE);
    const char *after = s;
    s = skip_ws(s, end);
    if (s < end && *s == '{') {
        s++;
        int rc = parse_labels(p, &s, end, ln);
        if (rc) return rc;
        after = s;
        s = skip_ws(s, end);
    }
    if (s >= end) return fail(p, AX_EINVAL, "missing value after \"%s\"", srv__excerpt(b1, sizeof b1, ln->name, ln->name_len));
    if (s == after)
        return fail(p, AX_EINVAL, "unexpected %s after %s", srv__found(b2, sizeof b2, s, end),
                    after > ln->name + ln->name_len ? "the label set" : "the metric name");
    const char *tok = s;
    while (s < end && !is_ws(*s)) s++;
    bool range;
    if (!srv_parse_go_float(tok, (size_t)(s - tok), &ln->v, &range))
        return fail(p, AX_EINVAL, "cannot parse value \"%s\"%s", srv__excerpt(b1, sizeof b1, tok, (size_t)(s - tok)),
                    range ? ": out of range" : "");
    s = skip_ws(s, end);
    ln->ts = p->default_ts;
    if (s < end) {
        tok = s;
        while (s < end && !is_ws(*s)) s++;
        if (!parse_int64(tok, (size_t)(s - tok), &ln->ts))
            return fail(p, AX_EINVAL, "cannot parse timestamp \"%s\" (want int64 milliseconds)",
                        srv__excerpt(b1, sizeof b1, tok, (size_t)(s - tok)));
        s = skip_ws(s, end);
        if (s < end)
            return fail(p, AX_EINVAL, "unexpected \"%s\" after the timestamp",
                        srv__excerpt(b1, sizeof b1, s, (size_t)(end - s)));
    }
    return LINE_SAMPLE;
}

/* ---- merging extras ---- */

static bool overridden(const tx_parser *p, const char *name, size_t len) {
    for (size_t j = 0; j < p->n_extra; j++)
        if (p->extra[j].name_len == len && (len == 0 || !memcmp(p->extra[j].name, name, len)))
            return true;
    return false;
}

/* Labels the series of line ln will have. */
static size_t out_count(const tx_parser *p, const tx_line *ln) {
    size_t n = p->n_extra + !overridden(p, "__name__", 8);
    for (size_t i = 0; i < ln->n_labels; i++)
        n += !overridden(p, ln->labels[i].name, ln->labels[i].name_len);
    return n;
}

static void unescape(char *out, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            i++;
            *out++ = s[i] == 'n' ? '\n' : s[i];
        } else {
            *out++ = s[i];
        }
    }
}

/* ---- arena ---- */

static int tx_alloc(tx_parser *p, ax_arena *a, size_t n, size_t size, const char *what,
                    void **out) {
    *out = NULL;
    if (!n) return 0;
    if (n > SIZE_MAX / size) return ax_err_set(p->e, AX_ETOOBIG, "%s: size overflow", what);
    size_t len = n * size;
    void *m = ax_arena_alloc(a, len);
    if (!m) {
        size_t room = a->max > a->used ? a->max - a->used : 0;
        char where[32] = "";
        if (p->lineno) snprintf(where, sizeof where, "line %zu: ", p->lineno);
        if (len + (128 << 10) >= room)
            return ax_err_set(p->e, AX_ETOOBIG,
                              "%s%s of %zu bytes exceeds the request budget of %zu bytes", where,
                              what, len, a->max);
        return ax_err_set(p->e, AX_ENOMEM, "%s%s: out of memory", where, what);
    }
    *out = m;
    return 0;
}

/* ---- the two passes ---- */

typedef struct tx_out {
    eng_ts *ts;
    ax_label *ls;
    eng_sample *ss;
    size_t n_ts, n_ls;
} tx_out;

/* Count pass (fill false): count sample lines and their labels into o->n_ts, o->n_ls.
 * Fill pass: write them into o's arrays, sized by the count pass. */
static int walk(tx_parser *p, const char *body, size_t len, ax_arena *a, tx_line *ln, tx_out *o,
                bool fill) {
    const char *s = body, *end = body + len;
    p->lineno = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *lend = nl ? nl : end;
        p->lineno++;
        int rc = parse_line(p, s, lend, ln);
        s = nl ? nl + 1 : end;
        if (rc < 0) return rc;
        if (rc == LINE_EOF) break;
        if (rc == LINE_SKIP) continue;
        size_t nl_out = out_count(p, ln);
        if (nl_out > AX_MAX_LABELS)
            return fail(p, AX_EINVAL, "more than %d labels with the extra labels", AX_MAX_LABELS);
        if (!fill) {
            o->n_ts++;
            o->n_ls += nl_out;
            continue;
        }
        eng_ts *t = &o->ts[o->n_ts];
        ax_label *l = &o->ls[o->n_ls];
        size_t k = 0;
        if (!overridden(p, "__name__", 8))
            l[k++] = (ax_label){"__name__", ln->name, 8, (uint32_t)ln->name_len};
        for (size_t i = 0; i < ln->n_labels; i++) {
            const tx_raw_label *r = &ln->labels[i];
            if (overridden(p, r->name, r->name_len)) continue;
            const char *v = r->value;
            if (r->escaped) {
                void *m = NULL;
                if ((rc = tx_alloc(p, a, r->unescaped_len, 1, "unescaped label value", &m))) return rc;
                unescape(m, r->value, r->value_len);
                v = m;
            }
            l[k++] = (ax_label){r->name, v, (uint32_t)r->name_len, (uint32_t)r->unescaped_len};
        }
        for (size_t j = 0; j < p->n_extra; j++) l[k++] = p->extra[j];
        AX_ASSERT(k == nl_out);
        o->ss[o->n_ts] = (eng_sample){ln->ts, ln->v};
        t->labels = k ? l : NULL;
        t->n_labels = k;
        t->samples = &o->ss[o->n_ts];
        t->n_samples = 1;
        o->n_ts++;
        o->n_ls += k;
    }
    return 0;
}

int srv_text_parse(const char *body, size_t len, int64_t default_ts_ms, const ax_label *extra,
                   size_t n_extra, ax_arena *a, eng_ts **ts_out, size_t *n_out,
                   size_t *samples_out, ax_err *e) {
    tx_parser p = {extra, n_extra, default_ts_ms, 0, e};
    tx_out c = {0};
    if (len == 0 || !body) {
        *ts_out = NULL;
        *n_out = *samples_out = 0;
        return 0;
    }
    tx_line line; /* ~3.5 KB */
    tx_line *ln = &line;
    int rc = walk(&p, body, len, a, ln, &c, false);
    tx_out o = {0};
    void *m = NULL;
    p.lineno = 0;
    if (!rc && !(rc = tx_alloc(&p, a, c.n_ts, sizeof(eng_ts), "series array", &m))) o.ts = m;
    if (!rc && !(rc = tx_alloc(&p, a, c.n_ls, sizeof(ax_label), "label array", &m))) o.ls = m;
    if (!rc && !(rc = tx_alloc(&p, a, c.n_ts, sizeof(eng_sample), "sample array", &m))) o.ss = m;
    if (!rc && c.n_ts) rc = walk(&p, body, len, a, ln, &o, true);
    if (rc) return rc;
    AX_ASSERT(o.n_ts == c.n_ts && o.n_ls == c.n_ls);
    *ts_out = c.n_ts ? o.ts : NULL;
    *n_out = c.n_ts;
    *samples_out = c.n_ts;
    return 0;
}
