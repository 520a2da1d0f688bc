/* server/jsonl_import.c: VictoriaMetrics JSON-lines parser (format in jsonl_import.h).
 *
 * Same shape as the text exposition parser: two passes over the body, each line split off
 * with memchr and every read checked against the line's end pointer:
 *   1. count: parse every line fully (JSON syntax, labels, numbers, caps, equal lengths)
 *      and count the series, labels and samples the result will hold;
 *   2. fill: with exactly sized arena arrays, parse each line again, this time writing the
 *      samples straight into the sample array and unescaping strings that held escapes
 *      into arena copies.
 * So the first bad line fails the body before anything is allocated, and the caller's
 * out-params are written only when all of it parsed.
 *
 * Strings are held as jl_str: the raw span between the quotes plus the decoded length;
 * jl_str_decode both measures (out == NULL) and writes, so validation and copying share
 * one code path. Unknown keys are skipped by a recursive walker bounded by JL_MAX_DEPTH.
 * Values go through strtod (C locale) from a NUL-terminated copy after the JSON number
 * grammar was checked here; timestamps are converted exactly here (integer-valued
 * decimals only, explicit int64 overflow check), never through a double.
 */
#include "server/parse_msg.h"
#include "server/jsonl_import.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JL_MAX_NUMBER 400 /* longest number token we convert */

typedef struct jl_str {
    const char *raw; /* bytes between the quotes, escapes intact */
    size_t raw_len;
    size_t len; /* decoded length */
    bool esc;
} jl_str;

typedef struct jl_line {
    jl_str names[AX_MAX_LABELS], values[AX_MAX_LABELS];
    size_t n_labels;
    size_t n_samples;
} jl_line;

typedef struct jl_parser {
    const ax_label *extra;
    size_t n_extra;
    size_t lineno;
    ax_err *e;
} jl_parser;

enum { LINE_SKIP = 0, LINE_SERIES = 1 }; /* parse_line's results >= 0 */
enum { ARR_VALUES, ARR_TIMESTAMPS };

/* ---- errors ---- */

static int fail(jl_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(jl_parser *p, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ax_err_set(p->e, AX_EINVAL, "line %zu: %s", p->lineno, msg);
}

/* ---- lexing ---- */

static inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r'; }
static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_tok(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
           c == '-' || c == '.';
}

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && is_ws(*s)) s++;
    return s;
}

static bool span_is(const char *s, size_t len, const char *lit) {
    size_t n = strlen(lit);
    return len == n && !memcmp(s, lit, n);
}

/* ---- strings ---- */

static bool hex4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        uint32_t d;
        if (is_digit(c)) d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
        else return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* UTF-8 of code point cp (< 0x110000, not a surrogate) into out (may be NULL). */
static size_t put_utf8(char *out, uint32_t cp) {
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (out) memcpy(out, b, n);
    return n;
}

/* Decode the raw string s[0..len) (between the quotes). out == NULL: measure only.
 * Returns false on a bad escape (unknown, short \u, lone surrogate). OUT: *len_out. */
static bool jl_str_decode(const char *s, size_t len, char *out, size_t *len_out) {
    size_t i = 0, n = 0;
    while (i < len) {
        if (s[i] != '\\') {
            if (out) out[n] = s[i];
            n++, i++;
            continue;
        }
        if (len - i < 2) return false;
        char x = s[i + 1], r;
        i += 2;
        switch (x) {
        case '"': r = '"'; break;
        case '\\': r = '\\'; break;
        case '/': r = '/'; break;
        case 'b': r = '\b'; break;
        case 'f': r = '\f'; break;
        case 'n': r = '\n'; break;
        case 'r': r = '\r'; break;
        case 't': r = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (len - i < 4 || !hex4(s + i, &cp)) return false;
            i += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff) return false;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || !hex4(s + i + 2, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return false;
                i += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(out ? out + n : NULL, cp);
            continue;
        }
        default: return false;
        }
        if (out) out[n] = r;
        n++;
    }
    *len_out = n;
    return true;
}

/* Scan the string whose opening quote is at *sp; check its escapes. Advances *sp past
 * the closing quote. `what` names it in messages. */
static int jl_str_scan(jl_parser *p, const char **sp, const char *end, jl_str *str,
                       const char *what) {
    const char *s = *sp + 1, *start = s;
    bool esc = false;
    for (;;) {
        if (s >= end) return fail(p, "unterminated string in %s", what);
        unsigned char c = (unsigned char)*s;
        if (c == '"') break;
        if (c < 0x20) return fail(p, "raw control byte 0x%02x in a string in %s", c, what);
        if (c == '\\') {
            if (end - s < 2) return fail(p, "unterminated string in %s", what);
            esc = true;
            s += 2;
        } else {
            s++;
        }
    }
    str->raw = start;
    str->raw_len = (size_t)(s - start);
    str->esc = esc;
    str->len = str->raw_len;
    if (esc && !jl_str_decode(start, str->raw_len, NULL, &str->len)) {
        char b[64];
        return fail(p, "bad escape in string \"%s\" in %s", srv__excerpt(b, sizeof b, start, str->raw_len),
                    what);
    }
    *sp = s + 1;
    return 0;
}

/* The decoded text of a short string for comparisons: str itself when unescaped, else
 * decoded into buf (cap bytes); a longer escaped string gives an empty span. */
static void jl_str_peek(const jl_str *str, char *buf, size_t cap, const char **s, size_t *len) {
    *s = str->raw;
    *len = str->raw_len;
    if (!str->esc) return;
    *len = 0;
    if (str->len <= cap && jl_str_decode(str->raw, str->raw_len, buf, len)) *s = buf;
}

/* ---- numbers ---- */

/* JSON number -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s. Returns its end or NULL. */
static const char *jl_num_scan(const char *s, const char *end) {
    if (s < end && *s == '-') s++;
    if (s >= end || !is_digit(*s)) return NULL;
    if (*s == '0') s++;
    else while (s < end && is_digit(*s)) s++;
    if (s < end && *s == '.') {
        s++;
        if (s >= end || !is_digit(*s)) return NULL;
        while (s < end && is_digit(*s)) s++;
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < end && (*s == '+' || *s == '-')) s++;
        if (s >= end || !is_digit(*s)) return NULL;
        while (s < end && is_digit(*s)) s++;
    }
    return s;
}

/* Exact int64 value of a valid JSON number s[0..len) if it is integer-valued. */
static bool jl_int_parse(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg) i++;
    const char *ip = s + i, *fp = s;
    size_t il = 0, fl = 0;
    while (i < len && is_digit(s[i])) i++, il++;
    if (i < len && s[i] == '.') {
        fp = s + ++i;
        while (i < len && is_digit(s[i])) i++, fl++;
    }
    long exp = 0;
    if (i < len) { /* [eE] */
        bool eneg = false;
        i++;
        if (s[i] == '+' || s[i] == '-') eneg = s[i++] == '-';
        for (; i < len; i++)
            if (exp < 1000000) exp = exp * 10 + (s[i] - '0');
        if (eneg) exp = -exp;
    }
    while (fl && fp[fl - 1] == '0') fl--;
    char d[40];
    size_t nd = 0;
    for (size_t k = 0; k < il + fl; k++) { /* significant digits of int then fraction */
        char c = k < il ? ip[k] : fp[k - il];
        if (!nd && c == '0') continue;
        if (nd == sizeof d) return false;
        d[nd++] = c;
    }
    if (!nd) {
        *out = 0;
        return true;
    }
    long adj = exp - (long)fl;
    if (adj < 0) {
        size_t tz = 0;
        while (tz < nd && d[nd - 1 - tz] == '0') tz++;
        if ((unsigned long)-adj > tz) return false; /* a fraction remains */
        nd -= (size_t)-adj;
    } else {
        if (nd + (unsigned long)adj > 19) return false;
        for (long k = 0; k < adj; k++) d[nd++] = '0';
    }
    if (nd > 19) return false;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (size_t k = 0; k < nd; k++) {
        uint64_t dg = (uint64_t)(d[k] - '0');
        if (v > (lim - dg) / 10) return false;
        v = v * 10 + dg;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v; /* 0 - v wraps to INT64_MIN at lim */
    return true;
}

/* One element of "values" at *sp. */
static int value_elem(jl_parser *p, const char **sp, const char *end, size_t idx, double *out) {
    const char *s = *sp, *t;
    char b[64], b2[32];
    size_t tl;
    if (*s == '"') {
        jl_str str;
        char buf[8];
        int rc = jl_str_scan(p, &s, end, &str, "\"values\"");
        if (rc) return rc;
        jl_str_peek(&str, buf, sizeof buf, &t, &tl);
        if (span_is(t, tl, "NaN")) *out = NAN;
        else if (span_is(t, tl, "Inf") || span_is(t, tl, "+Inf")) *out = INFINITY;
        else if (span_is(t, tl, "-Inf")) *out = -INFINITY;
        else
            return fail(p, "values[%zu]: string \"%s\" is not a number (want \"NaN\", \"Inf\", "
                           "\"+Inf\" or \"-Inf\")", idx, srv__excerpt(b, sizeof b, str.raw, str.raw_len));
        *sp = s;
        return 0;
    }
    t = s;
    while (s < end && is_tok(*s)) s++;
    tl = (size_t)(s - t);
    if (!tl) return fail(p, "values[%zu]: expected a number, found %s", idx, srv__found(b2, sizeof b2, s, end));
    if (span_is(t, tl, "NaN")) *out = NAN;
    else if (span_is(t, tl, "Inf") || span_is(t, tl, "+Inf")) *out = INFINITY;
    else if (span_is(t, tl, "-Inf")) *out = -INFINITY;
    else {
        if (jl_num_scan(t, s) != s) return fail(p, "values[%zu]: bad number \"%s\"", idx, srv__excerpt(b, sizeof b, t, tl));
        if (tl > JL_MAX_NUMBER) return fail(p, "values[%zu]: number of %zu bytes is too long", idx, tl);
        if (ax_decimal_fast(t, tl, out)) { /* the common case, exact */
            *sp = s;
            return 0;
        }
        char nb[JL_MAX_NUMBER + 1];
        memcpy(nb, t, tl);
        nb[tl] = 0;
        char *stop = NULL;
        double v = strtod(nb, &stop);
        if (stop != nb + tl) return fail(p, "values[%zu]: bad number \"%s\"", idx, srv__excerpt(b, sizeof b, t, tl));
        if (isinf(v)) return fail(p, "values[%zu]: number \"%s\" is out of range", idx, srv__excerpt(b, sizeof b, t, tl));
        *out = v;
    }
    *sp = s;
    return 0;
}

/* One element of "timestamps" at *sp. */
static int ts_elem(jl_parser *p, const char **sp, const char *end, size_t idx, int64_t *out) {
    const char *s = *sp, *t = s;
    char b[64], b2[32];
    while (s < end && is_tok(*s)) s++;
    size_t tl = (size_t)(s - t);
    if (!tl) return fail(p, "timestamps[%zu]: expected an integer, found %s", idx, srv__found(b2, sizeof b2, s, end));
    if (jl_num_scan(t, s) != s) return fail(p, "timestamps[%zu]: bad number \"%s\"", idx, srv__excerpt(b, sizeof b, t, tl));
    if (!jl_int_parse(t, tl, out))
        return fail(p, "timestamps[%zu]: \"%s\" is not an int64 number of milliseconds", idx,
                    srv__excerpt(b, sizeof b, t, tl));
    *sp = s;
    return 0;
}

/* ---- structure ---- */

/* Skip any JSON value at *sp (after optional whitespace); depth = nesting so far. */
static int skip_value(jl_parser *p, const char **sp, const char *end, int depth) {
    const char *s = skip_ws(*sp, end);
    char b2[32];
    int rc;
    if (s >= end) return fail(p, "expected a value, found end of line");
    if (*s == '{' || *s == '[') {
        bool obj = *s == '{';
        char close = obj ? '}' : ']';
        if (depth >= JL_MAX_DEPTH) return fail(p, "values nested deeper than %d", JL_MAX_DEPTH);
        s = skip_ws(s + 1, end);
        if (s < end && *s == close) {
            *sp = s + 1;
            return 0;
        }
        for (;;) {
            if (obj) {
                jl_str k;
                s = skip_ws(s, end);
                if (s >= end || *s != '"')
                    return fail(p, "expected a key string, found %s", srv__found(b2, sizeof b2, s, end));
                if ((rc = jl_str_scan(p, &s, end, &k, "a key"))) return rc;
                s = skip_ws(s, end);
                if (s >= end || *s != ':')
                    return fail(p, "expected ':' after a key, found %s", srv__found(b2, sizeof b2, s, end));
                s++;
            }
            if ((rc = skip_value(p, &s, end, depth + 1))) return rc;
            s = skip_ws(s, end);
            if (s < end && *s == ',') {
                s++;
                continue;
            }
            if (s < end && *s == close) {
                s++;
                break;
            }
            return fail(p, "expected ',' or '%c', found %s", close, srv__found(b2, sizeof b2, s, end));
        }
    } else if (*s == '"') {
        jl_str str;
        if ((rc = jl_str_scan(p, &s, end, &str, "a skipped value"))) return rc;
    } else if (end - s >= 4 && (!memcmp(s, "true", 4) || !memcmp(s, "null", 4))) {
        s += 4;
    } else if (end - s >= 5 && !memcmp(s, "false", 5)) {
        s += 5;
    } else {
        const char *n = jl_num_scan(s, end);
        if (!n) return fail(p, "expected a JSON value, found %s", srv__found(b2, sizeof b2, s, end));
        s = n;
    }
    *sp = s;
    return 0;
}

/* The "metric" object at *sp: string keys to string values, into ln->names/values. */
static int parse_metric(jl_parser *p, const char **sp, const char *end, jl_line *ln) {
    const char *s = *sp;
    char b[64], b2[32];
    int rc;
    if (s >= end || *s != '{') return fail(p, "\"metric\" must be an object, found %s", srv__found(b2, sizeof b2, s, end));
    s = skip_ws(s + 1, end);
    if (s < end && *s == '}') {
        *sp = s + 1;
        return 0;
    }
    for (;;) {
        jl_str name, value;
        s = skip_ws(s, end);
        if (s >= end || *s != '"')
            return fail(p, "expected a label name string in \"metric\", found %s", srv__found(b2, sizeof b2, s, end));
        if ((rc = jl_str_scan(p, &s, end, &name, "\"metric\""))) return rc;
        s = skip_ws(s, end);
        if (s >= end || *s != ':')
            return fail(p, "expected ':' after label name \"%s\", found %s",
                        srv__excerpt(b, sizeof b, name.raw, name.raw_len), srv__found(b2, sizeof b2, s, end));
        s = skip_ws(s + 1, end);
        if (s >= end || *s != '"')
            return fail(p, "value of label \"%s\" is not a string, found %s",
                        srv__excerpt(b, sizeof b, name.raw, name.raw_len), srv__found(b2, sizeof b2, s, end));
        if ((rc = jl_str_scan(p, &s, end, &value, "\"metric\""))) return rc;
        if (name.len > AX_MAX_LABEL_NAME)
            return fail(p, "label name \"%s\" of %zu bytes exceeds %d",
                        srv__excerpt(b, sizeof b, name.raw, name.raw_len), name.len, AX_MAX_LABEL_NAME);
        if (value.len > AX_MAX_LABEL_VALUE)
            return fail(p, "value of label \"%s\" of %zu bytes exceeds %d",
                        srv__excerpt(b, sizeof b, name.raw, name.raw_len), value.len, AX_MAX_LABEL_VALUE);
        if (ln->n_labels >= AX_MAX_LABELS) return fail(p, "more than %d labels", AX_MAX_LABELS);
        ln->names[ln->n_labels] = name;
        ln->values[ln->n_labels] = value;
        ln->n_labels++;
        s = skip_ws(s, end);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '}') {
            s++;
            break;
        }
        return fail(p, "expected ',' or '}' in \"metric\", found %s", srv__found(b2, sizeof b2, s, end));
    }
    *sp = s;
    return 0;
}

/* The "values" or "timestamps" array at *sp. Element i is written to out[i] when
 * out != NULL and i < cap. OUT: *n_out elements. */
static int parse_array(jl_parser *p, const char **sp, const char *end, int kind,
                       eng_sample *out, size_t cap, size_t *n_out) {
    const char *s = *sp;
    const char *what = kind == ARR_VALUES ? "values" : "timestamps";
    char b2[32];
    size_t n = 0;
    int rc;
    if (s >= end || *s != '[') return fail(p, "\"%s\" must be an array, found %s", what, srv__found(b2, sizeof b2, s, end));
    s = skip_ws(s + 1, end);
    if (s < end && *s == ']') {
        *sp = s + 1;
        *n_out = 0;
        return 0;
    }
    for (;;) {
        s = skip_ws(s, end);
        if (s >= end) return fail(p, "\"%s\" not closed: expected a number", what);
        double v = 0;
        int64_t ts = 0;
        if (kind == ARR_VALUES) rc = value_elem(p, &s, end, n, &v);
        else rc = ts_elem(p, &s, end, n, &ts);
        if (rc) return rc;
        if (out && n < cap) {
            if (kind == ARR_VALUES) out[n].v = v;
            else out[n].ts = ts;
        }
        n++;
        s = skip_ws(s, end);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == ']') {
            s++;
            break;
        }
        return fail(p, "expected ',' or ']' in \"%s\", found %s", what, srv__found(b2, sizeof b2, s, end));
    }
    *sp = s;
    *n_out = n;
    return 0;
}

/* Parse line s[0..end) (no '\n'). Samples go to out[0..cap) when out != NULL.
 * Returns LINE_SKIP, LINE_SERIES (ln filled) or a negative status. */
static int parse_line(jl_parser *p, const char *s, const char *end, jl_line *ln, eng_sample *out,
                      size_t cap) {
    char b[64], b2[32];
    int rc;
    bool seen_m = false, seen_v = false, seen_t = false;
    size_t nv = 0, nt = 0;
    ln->n_labels = 0;
    ln->n_samples = 0;
    s = skip_ws(s, end);
    if (s >= end) return LINE_SKIP;
    if (*s != '{') return fail(p, "expected '{' to open the line's object, found %s", srv__found(b2, sizeof b2, s, end));
    s = skip_ws(s + 1, end);
    if (s < end && *s == '}') s++;
    else for (;;) {
        jl_str key;
        char kb[16];
        const char *k;
        size_t kl;
        s = skip_ws(s, end);
        if (s >= end || *s != '"') return fail(p, "expected a key string, found %s", srv__found(b2, sizeof b2, s, end));
        if ((rc = jl_str_scan(p, &s, end, &key, "a key"))) return rc;
        jl_str_peek(&key, kb, sizeof kb, &k, &kl);
        s = skip_ws(s, end);
        if (s >= end || *s != ':')
            return fail(p, "expected ':' after key \"%s\", found %s", srv__excerpt(b, sizeof b, key.raw, key.raw_len),
                        srv__found(b2, sizeof b2, s, end));
        s = skip_ws(s + 1, end);
        bool *seen = span_is(k, kl, "metric") ? &seen_m : span_is(k, kl, "values") ? &seen_v
                     : span_is(k, kl, "timestamps") ? &seen_t : NULL;
        if (seen && *seen) return fail(p, "key \"%.*s\" repeated", (int)kl, k);
        if (seen) *seen = true;
        if (seen == &seen_m) rc = parse_metric(p, &s, end, ln);
        else if (seen == &seen_v) rc = parse_array(p, &s, end, ARR_VALUES, out, cap, &nv);
        else if (seen == &seen_t) rc = parse_array(p, &s, end, ARR_TIMESTAMPS, out, cap, &nt);
        else rc = skip_value(p, &s, end, 0);
        if (rc) return rc;
        s = skip_ws(s, end);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '}') {
            s++;
            break;
        }
        return fail(p, "expected ',' or '}' after the value of key \"%s\", found %s",
                    srv__excerpt(b, sizeof b, key.raw, key.raw_len), srv__found(b2, sizeof b2, s, end));
    }
    s = skip_ws(s, end);
    if (s < end) return fail(p, "unexpected %s after the object", srv__found(b2, sizeof b2, s, end));
    if (!seen_m) return fail(p, "missing \"metric\"");
    if (!seen_v) return fail(p, "missing \"values\"");
    if (!seen_t) return fail(p, "missing \"timestamps\"");
    if (nv != nt) return fail(p, "%zu values but %zu timestamps", nv, nt);
    ln->n_samples = nv;
    return LINE_SERIES;
}

/* ---- merging extras ---- */

static bool overridden(const jl_parser *p, const char *name, size_t len) {
    for (size_t j = 0; j < p->n_extra; j++)
        if (p->extra[j].name_len == len && (len == 0 || !memcmp(p->extra[j].name, name, len)))
            return true;
    return false;
}

/* The decoded bytes of str: a span into the body, or an arena copy if it had escapes. */
static int jl_str_out(jl_parser *p, ax_arena *a, const jl_str *str, const char **out) {
    if (!str->esc) {
        *out = str->raw;
        return 0;
    }
    char *m = ax_arena_alloc(a, str->len ? str->len : 1);
    size_t n = 0;
    if (!m) return ax_err_set(p->e, AX_ETOOBIG, "line %zu: unescaped string exceeds the request budget of %zu bytes",
                              p->lineno, a->max);
    bool ok = jl_str_decode(str->raw, str->raw_len, m, &n);
    AX_ASSERT(ok && n == str->len); /* the count pass decoded the same bytes */
    *out = m;
    return 0;
}

/* Labels the series of line ln will have once the extras are merged in. */
static size_t out_count(const jl_parser *p, const jl_line *ln) {
    size_t n = p->n_extra;
    char kb[AX_MAX_LABEL_NAME];
    for (size_t i = 0; i < ln->n_labels; i++) {
        const char *k;
        size_t kl;
        jl_str_peek(&ln->names[i], kb, sizeof kb, &k, &kl);
        n += !overridden(p, k, kl);
    }
    return n;
}

/* ---- arena ---- */

static int jl_alloc(jl_parser *p, ax_arena *a, size_t n, size_t size, const char *what, void **out) {
    *out = NULL;
    if (!n) return 0;
    if (n > SIZE_MAX / size) return ax_err_set(p->e, AX_ETOOBIG, "%s: size overflow", what);
    void *m = ax_arena_alloc(a, n * size);
    if (!m)
        return ax_err_set(p->e, AX_ETOOBIG, "%s of %zu bytes exceeds the request budget of %zu bytes",
                          what, n * size, a->max);
    *out = m;
    return 0;
}

/* ---- the two passes ---- */

typedef struct jl_out {
    eng_ts *ts;
    ax_label *ls;
    eng_sample *ss;
    size_t n_ts, n_ls, n_ss;
    size_t cap_ss;
} jl_out;

/* Count pass (fill false): count series, labels and samples into o. Fill pass: write them
 * into o's arrays, sized by the count pass. */
static int walk(jl_parser *p, const char *body, size_t len, ax_arena *a, jl_line *ln, jl_out *o,
                bool fill) {
    const char *s = body, *end = body + len;
    p->lineno = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *lend = nl ? nl : end;
        p->lineno++;
        eng_sample *out = fill ? o->ss + o->n_ss : NULL;
        int rc = parse_line(p, s, lend, ln, out, fill ? o->cap_ss - o->n_ss : 0);
        s = nl ? nl + 1 : end;
        if (rc < 0) return rc;
        if (rc == LINE_SKIP) continue;
        size_t nl_out = out_count(p, ln);
        if (nl_out > AX_MAX_LABELS)
            return fail(p, "more than %d labels with the extra labels", AX_MAX_LABELS);
        if (!ln->n_samples) continue;
        if (!fill) {
            o->n_ts++;
            o->n_ls += nl_out;
            o->n_ss += ln->n_samples;
            continue;
        }
        AX_ASSERT(ln->n_samples <= o->cap_ss - o->n_ss);
        ax_label *l = o->ls ? o->ls + o->n_ls : NULL; /* NULL: no labels at all yet */
        size_t k = 0;
        for (size_t i = 0; i < ln->n_labels; i++) {
            const char *name, *value;
            if ((rc = jl_str_out(p, a, &ln->names[i], &name))) return rc;
            if (overridden(p, name, ln->names[i].len)) continue;
            if ((rc = jl_str_out(p, a, &ln->values[i], &value))) return rc;
            l[k++] = (ax_label){name, value, (uint32_t)ln->names[i].len, (uint32_t)ln->values[i].len};
        }
        for (size_t j = 0; j < p->n_extra; j++) l[k++] = p->extra[j];
        AX_ASSERT(k == nl_out);
        o->ts[o->n_ts] = (eng_ts){k ? l : NULL, k, out, ln->n_samples};
        o->n_ts++;
        o->n_ls += k;
        o->n_ss += ln->n_samples;
    }
    return 0;
}

int srv_jsonl_parse(const char *body, size_t len, const ax_label *extra, size_t n_extra,
                    ax_arena *a, eng_ts **ts_out, size_t *n_out, size_t *samples_out,
                    ax_err *e) {
    jl_parser p = {extra, n_extra, 0, e};
    if (len == 0 || !body) {
        *ts_out = NULL;
        *n_out = *samples_out = 0;
        return 0;
    }
    jl_line line; /* ~3 KB */
    jl_out c = {0}, o = {0};
    void *m = NULL;
    int rc = walk(&p, body, len, a, &line, &c, false);
    if (!rc && !(rc = jl_alloc(&p, a, c.n_ts, sizeof(eng_ts), "series array", &m))) o.ts = m;
    if (!rc && !(rc = jl_alloc(&p, a, c.n_ls, sizeof(ax_label), "label array", &m))) o.ls = m;
    if (!rc && !(rc = jl_alloc(&p, a, c.n_ss, sizeof(eng_sample), "sample array", &m))) o.ss = m;
    o.cap_ss = c.n_ss;
    if (!rc && c.n_ts) rc = walk(&p, body, len, a, &line, &o, true);
    if (rc) return rc;
    AX_ASSERT(o.n_ts == c.n_ts && o.n_ls == c.n_ls && o.n_ss == c.n_ss);
    *ts_out = c.n_ts ? o.ts : NULL;
    *n_out = c.n_ts;
    *samples_out = c.n_ss;
    return 0;
}
