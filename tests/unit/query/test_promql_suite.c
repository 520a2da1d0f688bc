/* Runs Prometheus' own PromQL test files (every .test file in ../shared/promql-tests, from
 * promql/promqltest/testdata at v2.53.5) against pql_exec, with the semantics of Prometheus'
 * promql/promqltest package:
 *   load <step>         series lines `metric{l="v"} values` into a fresh engine section;
 *                       values start at t=0 and advance by <step>: `a`, `a+bxN` / `a-bxN`
 *                       (N+1 values, b added N times), `axN` (N+1 copies), `_` (no sample),
 *                       `_xN` (N missing), `stale` (the staleness NaN), Inf/NaN. A series
 *                       given twice in one load keeps its last line, as Prometheus.
 *   clear               closes the engine and opens an empty one (a new temp folder).
 *   eval[_ordered|_fail] instant at <dur> <expr>
 *                       then expected lines until a blank line: `{l="v"} value`,
 *                       `metric{...} value`, or one bare number (a scalar result).
 * Each eval runs as an instant query at <dur>; a vector or scalar result is then checked
 * again as a range query from t-1m to t+1m step 1m (its point at t), and, unless the
 * expression calls a time-dependent function, again with `@ t` set on every selector and
 * subquery at the evaluation times -10t, 0, t/5, t, 10t (-1s, 0, 1s when t = 0): what
 * promqltest's atModifierTestCases does. Values compare as Prometheus' almostEqual (relative
 * 1e-6, NaN equals NaN); vector results must hold exactly the expected series (order only
 * for eval_ordered); eval_fail passes when parsing or evaluation fails.
 *
 * Blocks known to fail are listed in promql_known_failures.txt beside this file
 * (`<file>:<line> <reason>`, # comments). The test fails on a failing block that is not
 * listed and on a listed block that passes (so the list stays true). A malformed line of a
 * test file is reported as a failure at file:line. AX_PROMQL_SUITE=<substring> runs only the
 * files whose name contains it. Output goes to stderr:
 *   promql-suite: <file>: <passed>/<total> passed
 *     FAIL <file>:<line>: <expr> — <reason>      ([known] when listed)
 *   promql-suite: total P/T
 */
#include "query/query.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#define SUITE_MAX_FILE (4u << 20)          /* bytes of one .test file */
#define SUITE_MAX_FILES 256                /* .test files in the folder */
#define SUITE_MAX_VALUES (1u << 20)        /* expanded values of one series line */
#define SUITE_MAX_REPEAT 10000000ull       /* N of `xN` */
#define SUITE_MAX_KNOWN 8192               /* entries of the known-failures list */
#define SUITE_ARENA_MAX (256u << 20)       /* bytes per load block / per eval block */
#define SUITE_DEADLINE_NS (20ull * 1000000000ull) /* per query */
#define SUITE_WHY 512                      /* bytes of a failure reason */
#define SUITE_STALE_NAN 0x7ff0000000000002ull

enum { EV_PLAIN, EV_ORDERED, EV_FAIL };

/* One line of a test file: trimmed, NUL-terminated in the file's buffer; a comment line is
 * empty (as promqltest's getLines makes it). no: 1-based line number. */
typedef struct suite_line {
    char *s;
    size_t len;
    int no;
} suite_line;

/* One entry of promql_known_failures.txt. */
typedef struct known {
    char file[128];
    int line;
    bool seen; /* an eval block (or malformed line) at file:line was run */
} known;

/* The run: where things are, the engine of the current section, the counters. */
typedef struct suite {
    known *kn;
    size_t n_kn;
    eng *e;
    char edir[512];     /* temp folder of e */
    const char *file;   /* name of the file being run */
    int passed, total;  /* this file */
    int unlisted;       /* failing blocks not in the known list (all files) */
    bool quiet;         /* the driver's self-test: print nothing */
    long n_exec;        /* pql_exec calls made */
} suite;

/* One expected series of an eval block. pos: 1-based line index inside the block. */
typedef struct expect {
    ax_label *ls; /* sorted by name */
    size_t n_ls;
    double v;
    int pos;
} expect;

typedef struct evalblk {
    int kind;     /* EV_* */
    int line;
    int64_t at_ms;
    const char *expr;
    size_t expr_len;
    bool has_scalar;
    double scalar;
    expect *ex;
    size_t n_ex, cap_ex;
} evalblk;

/* One sample of a vector result (borrowed labels). */
typedef struct rsample {
    const ax_label *ls;
    size_t n_ls;
    double v;
} rsample;

/* One value of a series line: a number or a missing sample. */
typedef struct sval {
    double v;
    bool omit;
} sval;

/* ---- paths ---- */

/* ../shared/promql-tests beside the checkout (found from this file's path). */
static void suite_dir(char *out, size_t cap) {
    const char *me = __FILE__, *cut = strstr(me, "tests/unit/query/");
    if (!cut) snprintf(out, cap, "../shared/promql-tests");
    else snprintf(out, cap, "%.*s../shared/promql-tests", (int)(cut - me), me);
}

/* promql_known_failures.txt in this file's folder. */
static void known_path(char *out, size_t cap) {
    const char *me = __FILE__, *slash = strrchr(me, '/');
    if (!slash) snprintf(out, cap, "promql_known_failures.txt");
    else snprintf(out, cap, "%.*s/promql_known_failures.txt", (int)(slash - me), me);
}

/* ---- reading files ---- */

/* Read path whole (at most SUITE_MAX_FILE bytes) into a malloc'd NUL-terminated buffer.
 * Returns 0, AX_ETOOBIG, AX_EIO, AX_ENOMEM. OUT: *out, *len_out. */
static int file_read(const char *path, char **out, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return AX_EIO;
    char *buf = malloc(SUITE_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, SUITE_MAX_FILE + 1, f) : 0;
    int rc = !buf ? AX_ENOMEM : ferror(f) ? AX_EIO : n > SUITE_MAX_FILE ? AX_ETOOBIG : 0;
    fclose(f);
    if (rc) { free(buf); return rc; }
    buf[n] = 0;
    *out = buf;
    *len_out = n;
    return 0;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Split buf[0..len) into trimmed lines in place. OUT: *out (malloc'd), *n_out. */
static int lines_split(char *buf, size_t len, suite_line **out, size_t *n_out) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += buf[i] == '\n';
    suite_line *ls = calloc(n, sizeof *ls);
    if (!ls) return AX_ENOMEM;
    char *p = buf, *end = buf + len;
    for (size_t k = 0; k < n; k++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *b = p;
        while (b < e && is_space(*b)) b++;
        char *t = e;
        while (t > b && is_space(t[-1])) t--;
        *t = 0; /* t <= e, and e is the '\n' or the buffer's NUL */
        ls[k].s = b;
        ls[k].len = (size_t)(t - b);
        ls[k].no = (int)k + 1;
        if (ls[k].len && b[0] == '#') ls[k].len = 0;
        p = nl ? nl + 1 : end;
    }
    *out = ls;
    *n_out = n;
    return 0;
}

/* Load the known-failures list (a missing file is an empty list). Malformed entries are
 * reported with FAILF. OUT: s->kn, s->n_kn. */
static void known_load(suite *s, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    suite_line *ls = NULL;
    size_t n = 0;
    if (file_read(path, &buf, &len)) return;
    if (lines_split(buf, len, &ls, &n) || !(s->kn = calloc(SUITE_MAX_KNOWN, sizeof *s->kn))) goto out;
    for (size_t i = 0; i < n; i++) {
        if (!ls[i].len) continue;
        const char *l = ls[i].s, *colon = strchr(l, ':');
        char *endp = NULL;
        long no = colon ? strtol(colon + 1, &endp, 10) : 0;
        size_t flen = colon ? (size_t)(colon - l) : 0;
        if (!colon || flen == 0 || flen >= sizeof s->kn[0].file || endp == colon + 1 || no <= 0 ||
            (*endp && !is_space(*endp))) {
            FAILF("%s:%d: malformed entry \"%s\" (want <file>:<line> <reason>)", path, ls[i].no, l);
            continue;
        }
        if (s->n_kn == SUITE_MAX_KNOWN) { FAILF("%s: more than %d entries", path, SUITE_MAX_KNOWN); break; }
        known *k = &s->kn[s->n_kn++];
        memcpy(k->file, l, flen);
        k->file[flen] = 0;
        k->line = (int)no;
    }
out:
    free(ls);
    free(buf);
}

static known *known_find(suite *s, const char *file, int line) {
    for (size_t i = 0; i < s->n_kn; i++)
        if (s->kn[i].line == line && !strcmp(s->kn[i].file, file)) return &s->kn[i];
    return NULL;
}

/* ---- reporting ---- */

/* Count one block (an eval, or a malformed line) of the current file as passed or failed
 * and print it when it failed or when a listed block passes. */
static void report(suite *s, int line, const char *expr, size_t expr_len, bool ok, const char *why) {
    known *k = known_find(s, s->file, line);
    if (k) k->seen = true;
    s->total++;
    if (expr_len > 160) expr_len = 160;
    if (ok) {
        s->passed++;
        if (k) FAILF("%s:%d: %.*s — now passes, remove it from promql_known_failures.txt", s->file, line,
                     (int)expr_len, expr);
        return;
    }
    if (!s->quiet)
        fprintf(stderr, "  FAIL %s:%d: %.*s — %s%s\n", s->file, line, (int)expr_len, expr, why, k ? " [known]" : "");
    if (!k) s->unlisted++;
}

/* Print labels as Prometheus does: name{a="b", c="d"} (truncated to cap). */
static void fmt_labels(char *out, size_t cap, const ax_label *ls, size_t n) {
    size_t o = 0;
    const ax_label *name = NULL;
    for (size_t i = 0; i < n; i++)
        if (ls[i].name_len == 8 && !memcmp(ls[i].name, "__name__", 8)) name = &ls[i];
    int w = name ? snprintf(out, cap, "%.*s{", (int)name->value_len, name->value) : snprintf(out, cap, "{");
    o = w < 0 ? 0 : (size_t)w;
    bool first = true;
    for (size_t i = 0; i < n && o < cap; i++) {
        if (&ls[i] == name) continue;
        w = snprintf(out + o, cap - o, "%s%.*s=\"%.*s\"", first ? "" : ", ", (int)ls[i].name_len, ls[i].name,
                     (int)ls[i].value_len, ls[i].value);
        if (w < 0) break;
        o += (size_t)w;
        first = false;
    }
    if (o < cap) snprintf(out + o, cap - o, "}");
    if (cap) out[cap - 1] = 0;
}

static const char *fmt_num(char *buf, double v) { /* buf: at least 40 bytes */
    ax_fmt_double(buf, v);
    return buf;
}

/* ---- series descriptions: metric{labels} values ---- */

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

static size_t utf8_put(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex_val(char c) {
    return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* Decode the Go string literal at *p (< end): "double" or 'single' with Go escapes, or
 * `raw`. Advances *p past it on success. OUT: *out (arena, NUL-terminated), *len_out.
 * Returns 0, AX_EINVAL (why says what), AX_ENOMEM. */
static int gostr_decode(const char **p, const char *end, ax_arena *a, const char **out, size_t *len_out,
                        char *why, size_t cap) {
    const char *s = *p;
    char q = s < end ? *s : 0;
    if (q != '"' && q != '\'' && q != '`') { snprintf(why, cap, "expected a quoted string"); return AX_EINVAL; }
    char *o = ax_arena_alloc(a, (size_t)(end - s) + 1); /* decoding never grows the text */
    if (!o) return AX_ENOMEM;
    size_t n = 0;
    for (s++; s < end && *s != q; ) {
        if (q == '`' || *s != '\\') { o[n++] = *s++; continue; }
        if (++s == end) break;
        char c = *s++;
        uint32_t cp = 0;
        int digits = 0, base = 16;
        switch (c) {
        case 'a': o[n++] = '\a'; continue;
        case 'b': o[n++] = '\b'; continue;
        case 'f': o[n++] = '\f'; continue;
        case 'n': o[n++] = '\n'; continue;
        case 'r': o[n++] = '\r'; continue;
        case 't': o[n++] = '\t'; continue;
        case 'v': o[n++] = '\v'; continue;
        case '\\': case '\'': case '"': o[n++] = c; continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (c >= '0' && c <= '7') { digits = 2; base = 8; cp = (uint32_t)(c - '0'); break; }
            snprintf(why, cap, "unknown escape \\%c", c);
            return AX_EINVAL;
        }
        for (int i = 0; i < digits; i++) {
            int d = s < end ? hex_val(*s) : -1;
            if (d < 0 || d >= base) { snprintf(why, cap, "bad \\%c escape", c); return AX_EINVAL; }
            cp = cp * (uint32_t)base + (uint32_t)d;
            s++;
        }
        if (c == 'x' || base == 8) {
            if (cp > 255) { snprintf(why, cap, "octal escape above 255"); return AX_EINVAL; }
            o[n++] = (char)cp;
        } else {
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) { snprintf(why, cap, "bad code point"); return AX_EINVAL; }
            n += utf8_put(o + n, cp); /* \uXXXX is 6 bytes of input for at most 3 of output */
        }
    }
    if (s >= end) { snprintf(why, cap, "unterminated string"); return AX_EINVAL; }
    o[n] = 0;
    *p = s + 1;
    *out = o;
    *len_out = n;
    return 0;
}

static const char *skip_space(const char *p, const char *end) {
    while (p < end && is_space(*p)) p++;
    return p;
}

/* Parse `metric`, `metric{a="b", ...}` or `{__name__="m", ...}` at the start of s[0..len).
 * OUT: *ls_out (arena, sorted by name), *n_out, *rest (the text after it). Returns 0,
 * AX_EINVAL (why), AX_ENOMEM. */
static int desc_labels(const char *s, size_t len, ax_arena *a, ax_label **ls_out, size_t *n_out,
                       const char **rest, char *why, size_t cap) {
    const char *p = s, *end = s + len;
    ax_label *ls = ax_arena_alloc(a, (AX_MAX_LABELS + 1) * sizeof *ls);
    size_t n = 0;
    if (!ls) return AX_ENOMEM;
    if (p < end && (is_alpha(*p) || *p == ':')) {
        const char *b = p;
        while (p < end && (is_alnum(*p) || *p == ':')) p++;
        ls[n++] = (ax_label){"__name__", b, 8, (uint32_t)(p - b)};
    }
    if (p < end && *p == '{') {
        p++;
        for (;;) {
            p = skip_space(p, end);
            if (p < end && *p == '}') { p++; break; }
            if (p == end || !is_alpha(*p)) { snprintf(why, cap, "expected a label name at byte %zu", (size_t)(p - s)); return AX_EINVAL; }
            const char *nb = p;
            while (p < end && is_alnum(*p)) p++;
            size_t nlen = (size_t)(p - nb);
            p = skip_space(p, end);
            if (p == end || *p != '=') { snprintf(why, cap, "expected '=' at byte %zu", (size_t)(p - s)); return AX_EINVAL; }
            p = skip_space(p + 1, end);
            const char *v;
            size_t vlen;
            int rc = gostr_decode(&p, end, a, &v, &vlen, why, cap);
            if (rc) return rc;
            if (n == AX_MAX_LABELS) { snprintf(why, cap, "more than %d labels", AX_MAX_LABELS); return AX_EINVAL; }
            if (nlen > UINT32_MAX || vlen > UINT32_MAX) { snprintf(why, cap, "label too long"); return AX_EINVAL; }
            ls[n++] = (ax_label){nb, v, (uint32_t)nlen, (uint32_t)vlen};
            p = skip_space(p, end);
            if (p < end && *p == ',') { p++; continue; }
            if (p < end && *p == '}') { p++; break; }
            snprintf(why, cap, "expected ',' or '}' at byte %zu", (size_t)(p - s));
            return AX_EINVAL;
        }
    }
    if (p == s) { snprintf(why, cap, "expected a metric name or '{'"); return AX_EINVAL; }
    if (p < end && !is_space(*p)) { snprintf(why, cap, "unexpected '%c' after the labels", *p); return AX_EINVAL; }
    ax_labels_sort(ls, n);
    *ls_out = ls;
    *n_out = n;
    *rest = p;
    return 0;
}

/* Scan one series value at *p: [+-](digits[.digits][e[+-]digits] | .digits... | Inf | NaN),
 * no hex (as Prometheus' lexer in series descriptions). Advances *p. Returns true with *out. */
static bool scan_value(const char **p, const char *end, double *out) {
    const char *s = *p, *b = s;
    if (s < end && (*s == '+' || *s == '-')) s++;
    if (s < end && is_alpha(*s)) {
        const char *w = s;
        while (s < end && is_alnum(*s)) s++;
        size_t wl = (size_t)(s - w);
        if (wl != 3 || (strncasecmp(w, "inf", 3) && strncasecmp(w, "nan", 3))) return false;
        double v = (w[0] | 0x20) == 'i' ? INFINITY : NAN;
        *out = *b == '-' ? -v : v;
        *p = s;
        return true;
    }
    const char *m = s;
    while (s < end && is_digit(*s)) s++;
    if (s < end && *s == '.') { s++; while (s < end && is_digit(*s)) s++; }
    if (s == m || (s - m == 1 && *m == '.')) return false;
    if (s < end && (*s == 'e' || *s == 'E')) {
        const char *e = s + 1;
        if (e < end && (*e == '+' || *e == '-')) e++;
        if (e < end && is_digit(*e)) { s = e; while (s < end && is_digit(*s)) s++; }
    }
    if (s < end && is_alnum(*s) && *s != 'x') return false;
    char num[64];
    if ((size_t)(s - b) >= sizeof num) return false;
    memcpy(num, b, (size_t)(s - b));
    num[s - b] = 0;
    *out = strtod(num, NULL);
    *p = s;
    return true;
}

/* Scan `x<uint>` at *p. Returns true with *n_out (at most SUITE_MAX_REPEAT). */
static bool scan_times(const char **p, const char *end, uint64_t *n_out) {
    const char *s = *p;
    if (s == end || *s != 'x') return false;
    s++;
    uint64_t n = 0;
    const char *d = s;
    while (s < end && is_digit(*s) && n <= SUITE_MAX_REPEAT) n = n * 10 + (uint64_t)(*s++ - '0');
    if (s == d || n > SUITE_MAX_REPEAT || (s < end && !is_space(*s))) return false;
    *p = s;
    *n_out = n;
    return true;
}

static int vals_push(sval **vs, size_t *n, size_t *cap, sval v) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        if (nc > SUITE_MAX_VALUES) nc = SUITE_MAX_VALUES;
        if (*n == nc) return AX_ETOOBIG;
        sval *g = realloc(*vs, nc * sizeof *g);
        if (!g) return AX_ENOMEM;
        *vs = g;
        *cap = nc;
    }
    (*vs)[(*n)++] = v;
    return 0;
}

/* Expand the values text s[0..len) (see the top of the file). OUT: *out (malloc'd), *n_out.
 * Returns 0, AX_EINVAL (why), AX_ETOOBIG, AX_ENOMEM. */
static int vals_parse(const char *s, size_t len, sval **out, size_t *n_out, char *why, size_t cap) {
    const char *p = s, *end = s + len;
    sval *vs = NULL;
    size_t n = 0, vcap = 0;
    int rc = 0;
    for (p = skip_space(p, end); p < end && !rc; p = skip_space(p, end)) {
        const char *item = p;
        uint64_t times = 0;
        double a = 0, b = 0;
        if (*p == '_') {
            p++;
            if (p < end && !is_space(*p) && !scan_times(&p, end, &times)) goto bad;
            if (p == item + 1) times = 1;
            for (uint64_t i = 0; i < times && !rc; i++) rc = vals_push(&vs, &n, &vcap, (sval){0, true});
            continue;
        }
        if (end - p >= 5 && !memcmp(p, "stale", 5) && (end - p == 5 || is_space(p[5]))) {
            uint64_t bits = SUITE_STALE_NAN;
            memcpy(&a, &bits, sizeof a);
            p += 5;
            rc = vals_push(&vs, &n, &vcap, (sval){a, false});
            continue;
        }
        if (!scan_value(&p, end, &a)) goto bad;
        if (p == end || is_space(*p)) { rc = vals_push(&vs, &n, &vcap, (sval){a, false}); continue; }
        if (*p == '+' || *p == '-') {
            if (!scan_value(&p, end, &b)) goto bad;
        }
        if (!scan_times(&p, end, &times)) goto bad;
        for (uint64_t i = 0; i <= times && !rc; i++) { /* accumulate as Prometheus does: a += b */
            rc = vals_push(&vs, &n, &vcap, (sval){a, false});
            a += b;
        }
        continue;
    bad:
        p = item;
        while (p < end && !is_space(*p)) p++;
        snprintf(why, cap, "bad value \"%.*s\"", (int)(p - item > 40 ? 40 : p - item), item);
        free(vs);
        return AX_EINVAL;
    }
    if (rc) {
        snprintf(why, cap, "%s", rc == AX_ETOOBIG ? "too many values" : "out of memory");
        free(vs);
        return rc;
    }
    *out = vs;
    *n_out = n;
    return 0;
}

/* Parse a bare number as promqltest's parseNumber does (Go ParseInt base 0, else
 * ParseFloat): the whole of s must be the number. Returns true with *out. */
static bool parse_number(const char *s, size_t len, double *out) {
    if (!len || len > 64 || is_space(s[0])) return false;
    char num[65];
    memcpy(num, s, len);
    num[len] = 0;
    char *e = NULL;
    errno = 0;
    long long i = strtoll(num, &e, 0);
    if (e == num + len && !errno) { *out = (double)i; return true; }
    double d = strtod(num, &e);
    if (e != num + len) return false;
    *out = d;
    return true;
}

/* ---- engine sections ---- */

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static void section_close(suite *s) {
    eng_close(s->e);
    s->e = NULL;
    if (s->edir[0]) nftw(s->edir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    s->edir[0] = 0;
}

/* Close the current engine (if any) and open an empty one in a new temp folder. */
static int section_open(suite *s) {
    section_close(s);
    const char *tmp = getenv("TMPDIR");
    snprintf(s->edir, sizeof s->edir, "%s/auspex-promql-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->edir)) { FAILF("mkdtemp %s failed", s->edir); s->edir[0] = 0; return AX_EIO; }
    eng_opts o = {0};
    o.path = s->edir;
    o.nosync = true;
    ax_err err = {0};
    int rc = eng_open(&o, &s->e, &err);
    if (rc) FAILF("eng_open %s: %s %s", s->edir, ax_strerror(rc), err.msg);
    return rc;
}

/* ---- load ---- */

typedef struct loaddef {
    ax_label *ls;
    size_t n_ls;
    eng_sample *smp;
    size_t n;
} loaddef;

static bool labels_eq(const ax_label *a, size_t na, const ax_label *b, size_t nb) {
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].name_len != b[i].name_len || a[i].value_len != b[i].value_len ||
            memcmp(a[i].name, b[i].name, a[i].name_len) || memcmp(a[i].value, b[i].value, a[i].value_len))
            return false;
    return true;
}

/* Run `load <step>` at lines[i] and its series lines. Returns the index of its last line. */
static size_t run_load(suite *s, const suite_line *lines, size_t n_lines, size_t i, int64_t step) {
    ax_arena a;
    ax_arena_init(&a, SUITE_ARENA_MAX);
    loaddef *defs = NULL;
    size_t n_defs = 0, cap_defs = 0;
    char why[SUITE_WHY] = "";
    int bad_line = 0;
    size_t j = i + 1;
    for (; j < n_lines && lines[j].len; j++) {
        const suite_line *L = &lines[j];
        ax_label *ls;
        size_t n_ls;
        const char *rest;
        sval *vs = NULL;
        size_t n_vs = 0;
        int rc = desc_labels(L->s, L->len, &a, &ls, &n_ls, &rest, why, sizeof why);
        if (!rc) rc = vals_parse(rest, (size_t)(L->s + L->len - rest), &vs, &n_vs, why, sizeof why);
        if (rc) { bad_line = L->no; break; }
        eng_sample *smp = ax_arena_alloc(&a, (n_vs ? n_vs : 1) * sizeof *smp);
        size_t n = 0;
        for (size_t k = 0; smp && k < n_vs; k++)
            if (!vs[k].omit) smp[n++] = (eng_sample){(int64_t)k * step, vs[k].v};
        free(vs);
        if (!smp) { snprintf(why, sizeof why, "out of memory"); bad_line = L->no; break; }
        size_t d = 0;
        while (d < n_defs && !labels_eq(defs[d].ls, defs[d].n_ls, ls, n_ls)) d++;
        if (d == n_defs) {
            if (n_defs == cap_defs) {
                size_t nc = cap_defs ? cap_defs * 2 : 16;
                loaddef *g = realloc(defs, nc * sizeof *g);
                if (!g) { snprintf(why, sizeof why, "out of memory"); bad_line = L->no; break; }
                defs = g;
                cap_defs = nc;
            }
            n_defs++;
        }
        defs[d] = (loaddef){ls, n_ls, smp, n}; /* a repeated series keeps its last line */
    }
    while (j < n_lines && lines[j].len) j++; /* skip the rest of a bad block */
    if (!bad_line) {
        eng_ts *ts = calloc(n_defs ? n_defs : 1, sizeof *ts);
        size_t n_ts = 0;
        for (size_t d = 0; ts && d < n_defs; d++)
            if (defs[d].n) ts[n_ts++] = (eng_ts){defs[d].ls, defs[d].n_ls, defs[d].smp, defs[d].n};
        ax_err err = {0};
        int rc = !ts ? AX_ENOMEM : n_ts ? eng_write(s->e, ts, n_ts, &err) : 0;
        if (rc) {
            snprintf(why, sizeof why, "eng_write: %s %.400s", ax_strerror(rc), err.msg);
            bad_line = lines[i].no;
        }
        free(ts);
    }
    if (bad_line) report(s, bad_line, lines[i].s, lines[i].len, false, why);
    free(defs);
    ax_arena_clear(&a);
    return j - 1;
}

/* ---- comparing results ---- */

/* Prometheus' almostEqual with epsilon 1e-6. */
static bool almost_equal(double a, double b) {
    const double eps = 1e-6, min_normal = 0x1p-1022;
    if (isnan(a) && isnan(b)) return true;
    if (a == b) return true;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal) return diff < eps * min_normal;
    return diff / fmin(abs_sum, DBL_MAX) < eps;
}

/* Prometheus' labels.Compare: <0, 0, >0. */
static int labels_cmp(const ax_label *a, size_t na, const ax_label *b, size_t nb) {
    for (size_t i = 0; i < na && i < nb; i++) {
        size_t m = a[i].name_len < b[i].name_len ? a[i].name_len : b[i].name_len;
        int c = memcmp(a[i].name, b[i].name, m);
        if (c || a[i].name_len != b[i].name_len) return c ? c : a[i].name_len < b[i].name_len ? -1 : 1;
        m = a[i].value_len < b[i].value_len ? a[i].value_len : b[i].value_len;
        c = memcmp(a[i].value, b[i].value, m);
        if (c || a[i].value_len != b[i].value_len) return c ? c : a[i].value_len < b[i].value_len ? -1 : 1;
    }
    return na < nb ? -1 : na > nb;
}

static bool check_scalar(const evalblk *b, double v, char *why, size_t cap) {
    char x[40], y[40];
    if (!b->has_scalar) {
        snprintf(why, cap, "expected a vector of %zu series, got scalar %s", b->n_ex, fmt_num(x, v));
        return false;
    }
    if (almost_equal(b->scalar, v)) return true;
    snprintf(why, cap, "expected scalar %s, got %s", fmt_num(x, b->scalar), fmt_num(y, v));
    return false;
}

/* Does the vector rs[0..n) hold exactly the expected series (in order if ordered)? */
static bool check_vector(const evalblk *b, const rsample *rs, size_t n, bool ordered, char *why, size_t cap) {
    char lb[256], x[40], y[40];
    if (b->has_scalar) {
        snprintf(why, cap, "expected scalar %s, got a vector of %zu series", fmt_num(x, b->scalar), n);
        return false;
    }
    bool *seen = calloc(b->n_ex ? b->n_ex : 1, sizeof *seen);
    bool ok = seen != NULL;
    if (!ok) snprintf(why, cap, "out of memory");
    for (size_t pos = 0; ok && pos < n; pos++) {
        size_t k = 0;
        while (k < b->n_ex && !labels_eq(b->ex[k].ls, b->ex[k].n_ls, rs[pos].ls, rs[pos].n_ls)) k++;
        fmt_labels(lb, sizeof lb, rs[pos].ls, rs[pos].n_ls);
        if (k == b->n_ex) {
            snprintf(why, cap, "unexpected series %s with value %s (got %zu series, expected %zu)", lb,
                     fmt_num(x, rs[pos].v), n, b->n_ex);
            ok = false;
        } else if (ordered && b->ex[k].pos != (int)pos + 1) {
            snprintf(why, cap, "expected %s at position %d, got it at %zu", lb, b->ex[k].pos, pos + 1);
            ok = false;
        } else if (!almost_equal(b->ex[k].v, rs[pos].v)) {
            snprintf(why, cap, "%s: expected %s, got %s", lb, fmt_num(x, b->ex[k].v), fmt_num(y, rs[pos].v));
            ok = false;
        } else {
            seen[k] = true;
        }
    }
    for (size_t k = 0; ok && k < b->n_ex; k++) {
        if (seen[k]) continue;
        fmt_labels(lb, sizeof lb, b->ex[k].ls, b->ex[k].n_ls);
        snprintf(why, cap, "expected series %s with value %s is missing (got %zu series)", lb, fmt_num(x, b->ex[k].v), n);
        ok = false;
    }
    free(seen);
    return ok;
}

/* ---- running one eval ---- */

/* Evaluate root at t as an instant query and compare; then, for vector and scalar results,
 * as a range query t-1m..t+1m step 1m, comparing its point at t. mode prefixes reasons. */
static bool run_case(suite *s, const evalblk *b, const pql_node *root, int64_t t, const char *mode,
                     char *why, size_t cap) {
    char w[SUITE_WHY] = "";
    pql_opts o = {0};
    o.deadline_ns = ax_mono_ns() + SUITE_DEADLINE_NS;
    pql_result *r = NULL;
    ax_err err = {0};
    rsample *rs = NULL;
    bool ok = false;
    int type = PQL_T_NONE;
    int rc = pql_exec(s->e, root, t, t, 0, false, &o, &r, &err);
    s->n_exec++;
    if (b->kind == EV_FAIL) {
        if (!rc) snprintf(w, sizeof w, "expected an error, got none");
        ok = rc != 0;
        goto out;
    }
    if (rc) { snprintf(w, sizeof w, "error %s: %.400s", ax_strerror(rc), err.msg); goto out; }
    type = r->type;
    if (type == PQL_T_SCALAR) {
        ok = check_scalar(b, r->scalar, w, sizeof w);
    } else if (type == PQL_T_VECTOR) {
        rs = calloc(r->n ? r->n : 1, sizeof *rs);
        if (!rs) { snprintf(w, sizeof w, "out of memory"); goto out; }
        for (size_t i = 0; i < r->n; i++) {
            if (r->s[i].n != 1) { snprintf(w, sizeof w, "vector series %zu has %zu points", i, r->s[i].n); goto out; }
            rs[i] = (rsample){r->s[i].ls, r->s[i].n_ls, r->s[i].v[0]};
        }
        ok = check_vector(b, rs, r->n, b->kind == EV_ORDERED, w, sizeof w);
    } else {
        snprintf(w, sizeof w, "instant query returned a %s, which this driver cannot compare",
                 type == PQL_T_MATRIX ? "matrix" : type == PQL_T_STRING ? "string" : "value of no type");
    }
    if (!ok) goto out;

    /* range mode */
    pql_result_free(r);
    r = NULL;
    free(rs);
    rs = NULL;
    ok = false;
    o.deadline_ns = ax_mono_ns() + SUITE_DEADLINE_NS;
    rc = pql_exec(s->e, root, t - 60000, t + 60000, 60000, true, &o, &r, &err);
    s->n_exec++;
    if (rc) { snprintf(w, sizeof w, "range mode: error %s: %.400s", ax_strerror(rc), err.msg); goto out; }
    if (b->kind == EV_ORDERED) { ok = true; goto out; } /* order is not defined for ranges */
    if (r->type != PQL_T_MATRIX) { snprintf(w, sizeof w, "range mode: result is not a matrix"); goto out; }
    rs = calloc(r->n ? r->n : 1, sizeof *rs);
    if (!rs) { snprintf(w, sizeof w, "out of memory"); goto out; }
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const pql_rseries *rv = &r->s[i];
        if (i > 0 && labels_cmp(r->s[i - 1].ls, r->s[i - 1].n_ls, rv->ls, rv->n_ls) > 0) {
            snprintf(w, sizeof w, "range mode: matrix not sorted by labels at series %zu", i);
            goto out;
        }
        for (size_t k = 0; k < rv->n; k++)
            if (rv->ts[k] == t) { rs[n++] = (rsample){rv->ls, rv->n_ls, rv->v[k]}; break; }
    }
    char w2[SUITE_WHY] = "";
    if (type == PQL_T_SCALAR) {
        if (n == 0) snprintf(w2, sizeof w2, "no point at t");
        else ok = check_scalar(b, rs[0].v, w2, sizeof w2);
    } else {
        ok = check_vector(b, rs, n, false, w2, sizeof w2);
    }
    if (!ok) snprintf(w, sizeof w, "range mode: %s", w2);
out:
    pql_result_free(r);
    free(rs);
    if (!ok) snprintf(why, cap, "%s%s", mode, w);
    return ok;
}

/* Does the tree call a function whose result depends on the evaluation time itself
 * (Prometheus' AtModifierUnsafeFunctions, plus auspex's forecast*)? */
static bool at_unsafe(const pql_node *n) {
    static const char *const unsafe[] = {"days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour",
                                         "minute", "month", "year", "predict_linear", "time", "timestamp"};
    if (!n) return false;
    switch (n->kind) {
    case PQL_MATRIX_SEL: return at_unsafe(n->matrix.vs);
    case PQL_SUBQUERY: return at_unsafe(n->subq.expr);
    case PQL_CALL:
        for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++)
            if (!strcmp(n->call.fn->name, unsafe[i])) return true;
        if (!strncmp(n->call.fn->name, "forecast", 8)) return true;
        for (size_t i = 0; i < n->call.n_args; i++)
            if (at_unsafe(n->call.args[i])) return true;
        return false;
    case PQL_AGG: return at_unsafe(n->agg.expr) || at_unsafe(n->agg.param);
    case PQL_BINARY: return at_unsafe(n->bin.lhs) || at_unsafe(n->bin.rhs);
    case PQL_UNARY: return at_unsafe(n->unary.expr);
    case PQL_PAREN: return at_unsafe(n->paren.expr);
    default: return false;
    }
}

/* Set `@ t` on every selector and subquery that has no fixed @ yet, not descending into
 * subqueries (they carry the @ then), as promqltest's atModifierTestCases. */
static void at_set(pql_node *n, int64_t t) {
    if (!n) return;
    switch (n->kind) {
    case PQL_VECTOR_SEL:
        if (n->sel.at != PQL_AT_TS) { n->sel.at = PQL_AT_TS; n->sel.at_ms = t; }
        return;
    case PQL_MATRIX_SEL: at_set(n->matrix.vs, t); return;
    case PQL_SUBQUERY:
        if (n->subq.at != PQL_AT_TS) { n->subq.at = PQL_AT_TS; n->subq.at_ms = t; }
        return;
    case PQL_CALL:
        for (size_t i = 0; i < n->call.n_args; i++) at_set(n->call.args[i], t);
        return;
    case PQL_AGG: at_set(n->agg.expr, t); at_set(n->agg.param, t); return;
    case PQL_BINARY: at_set(n->bin.lhs, t); at_set(n->bin.rhs, t); return;
    case PQL_UNARY: at_set(n->unary.expr, t); return;
    case PQL_PAREN: at_set(n->paren.expr, t); return;
    default: return;
    }
}

/* Run one eval block: parse, instant + range mode, then the @ variants. */
static void run_eval(suite *s, const evalblk *b) {
    char why[SUITE_WHY] = "";
    ax_arena qa;
    ax_arena_init(&qa, SUITE_ARENA_MAX);
    pql_node *root = NULL;
    ax_err err = {0};
    bool ok;
    int rc = pql_parse(b->expr, b->expr_len, &qa, &root, &err);
    if (rc) {
        ok = b->kind == EV_FAIL;
        snprintf(why, sizeof why, "parse error: %.400s", err.msg);
    } else {
        ok = run_case(s, b, root, b->at_ms, "", why, sizeof why);
        if (ok && !at_unsafe(root)) {
            int64_t t = b->at_ms, times[5];
            size_t nt = 0;
            if (t == 0) { times[nt++] = -1000; times[nt++] = 0; times[nt++] = 1000; }
            else { times[nt++] = -10 * t; times[nt++] = 0; times[nt++] = t / 5; times[nt++] = t; times[nt++] = 10 * t; }
            at_set(root, t);
            for (size_t i = 0; ok && i < nt; i++) {
                char mode[96];
                snprintf(mode, sizeof mode, "@ mode (selectors @ %" PRId64 "ms, eval at %" PRId64 "ms): ", t, times[i]);
                ok = run_case(s, b, root, times[i], mode, why, sizeof why);
            }
        }
        pql_node_free(root);
    }
    ax_arena_clear(&qa);
    report(s, b->line, b->expr, b->expr_len, ok, why);
}

/* Parse the expected lines after the eval header at lines[i] into b (labels in arena a).
 * Returns the index of the block's last line; *why non-empty when a line is malformed. */
static size_t eval_expect(const suite_line *lines, size_t n_lines, size_t i, evalblk *b, ax_arena *a, char *why,
                          size_t cap) {
    size_t j = i + 1;
    for (int pos = 1; j < n_lines && lines[j].len; j++, pos++) {
        const suite_line *L = &lines[j];
        char w[SUITE_WHY] = "";
        if (parse_number(L->s, L->len, &b->scalar)) { b->has_scalar = true; return j; }
        ax_label *ls;
        size_t n_ls;
        const char *rest;
        sval *vs = NULL;
        size_t n_vs = 0;
        int rc = desc_labels(L->s, L->len, a, &ls, &n_ls, &rest, w, sizeof w);
        if (!rc) rc = vals_parse(rest, (size_t)(L->s + L->len - rest), &vs, &n_vs, w, sizeof w);
        if (!rc && (n_vs != 1 || vs[0].omit)) { rc = AX_EINVAL; snprintf(w, sizeof w, "expected one value per series"); }
        double v = rc ? 0 : vs[0].v;
        free(vs);
        if (rc) {
            snprintf(why, cap, "line %d: malformed expected result: %s", L->no, w);
            while (j < n_lines && lines[j].len) j++;
            return j - 1;
        }
        size_t k = 0;
        while (k < b->n_ex && !labels_eq(b->ex[k].ls, b->ex[k].n_ls, ls, n_ls)) k++;
        if (k == b->n_ex) {
            if (b->n_ex == b->cap_ex) {
                size_t nc = b->cap_ex ? b->cap_ex * 2 : 16;
                expect *g = ax_arena_alloc(a, nc * sizeof *g);
                if (!g) { snprintf(why, cap, "out of memory"); return j; }
                if (b->n_ex) memcpy(g, b->ex, b->n_ex * sizeof *g);
                b->ex = g;
                b->cap_ex = nc;
            }
            b->n_ex++;
        }
        b->ex[k] = (expect){ls, n_ls, v, pos}; /* a repeated series keeps its last line */
    }
    return j - 1;
}

/* Parse `eval[_ordered|_fail] instant at <dur> <expr>` at L into b. Returns 0 or
 * AX_EINVAL (why). */
static int eval_header(const suite_line *L, evalblk *b, char *why, size_t cap) {
    const char *p = L->s, *end = L->s + L->len;
    size_t wl = strcspn(p, " \t");
    if (wl == 4 && !memcmp(p, "eval", 4)) b->kind = EV_PLAIN;
    else if (wl == 12 && !memcmp(p, "eval_ordered", 12)) b->kind = EV_ORDERED;
    else if (wl == 9 && !memcmp(p, "eval_fail", 9)) b->kind = EV_FAIL;
    else { snprintf(why, cap, "unsupported command \"%.*s\"", (int)(wl > 40 ? 40 : wl), p); return AX_EINVAL; }
    p = skip_space(p + wl, end);
    wl = strcspn(p, " \t");
    if (wl != 7 || memcmp(p, "instant", 7)) { snprintf(why, cap, "only `instant` evals are supported"); return AX_EINVAL; }
    p = skip_space(p + wl, end);
    b->at_ms = 0;
    wl = strcspn(p, " \t");
    if (wl == 2 && !memcmp(p, "at", 2)) {
        p = skip_space(p + wl, end);
        wl = strcspn(p, " \t");
        if (ax_duration_parse(p, wl, &b->at_ms)) { snprintf(why, cap, "bad time \"%.*s\"", (int)(wl > 40 ? 40 : wl), p); return AX_EINVAL; }
        p = skip_space(p + wl, end);
    }
    if (p == end) { snprintf(why, cap, "no expression"); return AX_EINVAL; }
    b->line = L->no;
    b->expr = p;
    b->expr_len = (size_t)(end - p);
    return 0;
}

/* Run every command of one test file. */
static void run_file(suite *s, const char *dir, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *buf = NULL;
    size_t len = 0;
    suite_line *lines = NULL;
    size_t n_lines = 0;
    s->file = name;
    s->passed = s->total = 0;
    int rc = file_read(path, &buf, &len);
    if (!rc) rc = lines_split(buf, len, &lines, &n_lines);
    if (rc) { FAILF("%s: %s", path, ax_strerror(rc)); goto out; }
    if (section_open(s)) goto out;
    for (size_t i = 0; i < n_lines; i++) {
        const suite_line *L = &lines[i];
        char why[SUITE_WHY] = "";
        size_t wl = strcspn(L->s, " \t");
        if (!L->len) continue;
        if (wl == 5 && !memcmp(L->s, "clear", 5) && L->len == 5) {
            if (section_open(s)) goto out;
        } else if (wl == 4 && !memcmp(L->s, "load", 4)) {
            const char *d = skip_space(L->s + 4, L->s + L->len);
            int64_t step = 0;
            if (ax_duration_parse(d, (size_t)(L->s + L->len - d), &step) || step <= 0) {
                report(s, L->no, L->s, L->len, false, "bad load step");
                while (i + 1 < n_lines && lines[i + 1].len) i++;
                continue;
            }
            i = run_load(s, lines, n_lines, i, step);
        } else if (wl >= 4 && !memcmp(L->s, "eval", 4)) {
            evalblk b = {0};
            ax_arena a;
            ax_arena_init(&a, SUITE_ARENA_MAX);
            if (eval_header(L, &b, why, sizeof why)) {
                while (i + 1 < n_lines && lines[i + 1].len) i++;
            } else {
                i = eval_expect(lines, n_lines, i, &b, &a, why, sizeof why);
            }
            if (why[0]) report(s, L->no, L->s, L->len, false, why);
            else run_eval(s, &b);
            ax_arena_clear(&a);
        } else {
            report(s, L->no, L->s, L->len, false, "unknown command");
        }
    }
out:
    section_close(s);
    if (!s->quiet) fprintf(stderr, "promql-suite: %s: %d/%d passed\n", name, s->passed, s->total);
    free(lines);
    free(buf);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

TEST(test_promql_suite_prometheus_files) {
    char dir[1024], kpath[1024];
    suite_dir(dir, sizeof dir);
    known_path(kpath, sizeof kpath);
    DIR *d = opendir(dir);
    if (!d) { printf("  (skipped: %s not found)\n", dir); return; }
    char *names[SUITE_MAX_FILES];
    size_t n_names = 0;
    const char *only = getenv("AX_PROMQL_SUITE");
    struct dirent *de;
    while ((de = readdir(d)) && n_names < SUITE_MAX_FILES) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 5, ".test")) continue;
        if (only && *only && !strstr(de->d_name, only)) continue;
        if ((names[n_names] = strdup(de->d_name))) n_names++;
    }
    closedir(d);
    qsort(names, n_names, sizeof names[0], name_cmp);

    suite s = {0};
    known_load(&s, kpath);
    int passed = 0, total = 0;
    for (size_t i = 0; i < n_names; i++) {
        run_file(&s, dir, names[i]);
        passed += s.passed;
        total += s.total;
    }
    fprintf(stderr, "promql-suite: total %d/%d\n", passed, total);
    if (s.unlisted)
        FAILF("%d failing blocks (FAIL lines above without [known]) are not listed in %s", s.unlisted, kpath);
    for (size_t i = 0; i < s.n_kn; i++) {
        known *k = &s.kn[i];
        bool ran = false;
        for (size_t j = 0; j < n_names && !ran; j++) ran = !strcmp(names[j], k->file);
        if (ran && !k->seen) FAILF("%s:%d is listed in %s but is not an eval block", k->file, k->line, kpath);
    }
    if (!only || !*only) CHECK(total > 500);
    for (size_t i = 0; i < n_names; i++) free(names[i]);
    free(s.kn);
}

/* ---- the driver's own parsing ---- */

TEST(test_promql_suite_values) {
    static const struct { const char *in; const char *want; } cases[] = {
        {"1 2 3", "1 2 3"},
        {"0+10x3", "0 10 20 30"},
        {"8000-10x2", "8000 7990 7980"},
        {"-1-1x2", "-1 -2 -3"},
        {"1x2", "1 1 1"},
        {"0x3", "0 0 0 0"},
        {"1 _ 3", "1 _ 3"},
        {"_x3 1", "_ _ _ 1"},
        {"Inf -Inf NaN +inf", "+Inf -Inf NaN +Inf"},
        {"1e3 -1.5e+300 .5 2.", "1000 -1.5e+300 0.5 2"},
        {"0+1.5x2 stale", "0 1.5 3 stale"},
        {"  1\t2 ", "1 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sval *vs = NULL;
        size_t n = 0;
        char why[SUITE_WHY] = "", got[256] = "";
        int rc = vals_parse(cases[i].in, strlen(cases[i].in), &vs, &n, why, sizeof why);
        if (rc) { FAILF("\"%s\": %s", cases[i].in, why); continue; }
        size_t o = 0;
        for (size_t k = 0; k < n && o < sizeof got; k++) {
            char x[40];
            uint64_t bits;
            memcpy(&bits, &vs[k].v, sizeof bits);
            const char *t = vs[k].omit ? "_" : bits == SUITE_STALE_NAN ? "stale" : fmt_num(x, vs[k].v);
            int w = snprintf(got + o, sizeof got - o, "%s%s", k ? " " : "", t);
            if (w > 0) o += (size_t)w;
        }
        if (strcmp(got, cases[i].want)) FAILF("\"%s\": expected \"%s\", got \"%s\"", cases[i].in, cases[i].want, got);
        free(vs);
    }
    static const char *const bad[] = {"1 x", "0x1f", "1+", "abc", "1+1x", "stalex2", "1..2", "_x", "1e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sval *vs = NULL;
        size_t n = 0;
        char why[SUITE_WHY] = "";
        if (!vals_parse(bad[i], strlen(bad[i]), &vs, &n, why, sizeof why)) {
            FAILF("\"%s\": accepted (%zu values)", bad[i], n);
            free(vs);
        } else if (!why[0]) {
            FAILF("\"%s\": rejected without a reason", bad[i]);
        }
    }
}

TEST(test_promql_suite_labels) {
    static const struct { const char *in; const char *want; const char *rest; } cases[] = {
        {"metric 1", "metric{}", " 1"},
        {"{} 3", "{}", " 3"},
        {"{__name__=\"m\", b='x'} 1", "m{b=\"x\"}", " 1"},
        {"m{b=\"2\",a=\"1\",} 1", "m{a=\"1\", b=\"2\"}", " 1"},
        {"a:b:c{x=`r\\d`}", "a:b:c{x=\"r\\d\"}", ""},
        {"m{x=\"\\u00e9\\x41\\101\\\"\"}", "m{x=\"\xc3\xa9" "AA\"\"}", ""},
        {"m{ x = \"1\" }\t5", "m{x=\"1\"}", "\t5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        ax_label *ls;
        size_t n;
        const char *rest;
        char why[SUITE_WHY] = "", got[256];
        int rc = desc_labels(cases[i].in, strlen(cases[i].in), &a, &ls, &n, &rest, why, sizeof why);
        if (rc) {
            FAILF("\"%s\": %s", cases[i].in, why);
        } else {
            fmt_labels(got, sizeof got, ls, n);
            if (strcmp(got, cases[i].want)) FAILF("\"%s\": expected %s, got %s", cases[i].in, cases[i].want, got);
            if (strcmp(rest, cases[i].rest)) FAILF("\"%s\": rest \"%s\", expected \"%s\"", cases[i].in, rest, cases[i].rest);
        }
        ax_arena_clear(&a);
    }
    static const char *const bad[] = {"", "{", "m{a}", "m{a=1}", "m{a=\"x}", "m{a=\"x\" b=\"y\"}", "m{a=\"\\q\"}",
                                      "{a=\"\\u12\"}", "m{1=\"x\"}", "m{a!=\"x\"}", "m}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        ax_label *ls;
        size_t n;
        const char *rest;
        char why[SUITE_WHY] = "";
        if (!desc_labels(bad[i], strlen(bad[i]), &a, &ls, &n, &rest, why, sizeof why))
            FAILF("\"%s\": accepted", bad[i]);
        else if (!why[0])
            FAILF("\"%s\": rejected without a reason", bad[i]);
        ax_arena_clear(&a);
    }
}

TEST(test_promql_suite_compare) {
    CHECK(almost_equal(NAN, NAN));
    CHECK(almost_equal(INFINITY, INFINITY));
    CHECK(!almost_equal(INFINITY, -INFINITY));
    CHECK(!almost_equal(NAN, 1));
    CHECK(almost_equal(1, 1 + 1e-7));
    CHECK(!almost_equal(1, 1 + 1e-5));
    CHECK(almost_equal(0, 0x1p-1070));
    CHECK(!almost_equal(0, 1e-300));
    CHECK(almost_equal(9.988465674311579e+307, 9.988465674311579e+307 * (1 + 1e-9)));
    double v = 0;
    CHECK(parse_number("0x10", 4, &v) && v == 16);
    CHECK(parse_number("-0.0000002", 10, &v) && v == -0.0000002);
    CHECK(parse_number("+Inf", 4, &v) && isinf(v) && v > 0);
    CHECK(parse_number("NaN", 3, &v) && isnan(v));
    CHECK(!parse_number("{} 1", 4, &v));
    CHECK(!parse_number("metric 1", 8, &v));
    ax_label a[] = {{"a", "1", 1, 1}}, b[] = {{"a", "2", 1, 1}}, c[] = {{"a", "1", 1, 1}, {"b", "", 1, 0}};
    CHECK(labels_cmp(a, 1, b, 1) < 0);
    CHECK(labels_cmp(a, 1, c, 2) < 0);
    CHECK(labels_cmp(c, 2, c, 2) == 0);
    CHECK(labels_eq(a, 1, a, 1) && !labels_eq(a, 1, b, 1));
}

/* The driver itself on a small file whose blocks are meant to pass (P) or fail (F). */
TEST(test_promql_suite_driver) {
    static const char text[] =
        "load 1m\n"
        "  m{a=\"1\"} 1+1x10\n"
        "  m{a=\"2\"} 5 _ stale 7\n"
        "  m{a=\"1\"} 0+2x10\n"                       /* replaces the first line */
        "\n"
        "eval instant at 2m m{a=\"1\"}\n  m{a=\"1\"} 4\n\n"           /* P */
        "eval instant at 1m m\n  m{a=\"1\"} 2\n  {__name__=\"m\",a=\"2\"} 5\n\n" /* P */
        "eval instant at 2m m\n  m{a=\"1\"} 4\n\n"                    /* P: a=2 is stale */
        "eval instant at 3m m{a=\"2\"}\n  m{a=\"2\"} 7\n\n"           /* P */
        "eval instant at 1m m\n  m{a=\"1\"} 3\n  m{a=\"2\"} 5\n\n"    /* F: value */
        "eval instant at 1m m\n  m{a=\"1\"} 2\n\n"                    /* F: unexpected a=2 */
        "eval instant at 1m m\n  m{a=\"1\"} 2\n  m{a=\"2\"} 5\n  m{a=\"3\"} 5\n\n" /* F: missing */
        "eval instant at 1m 1 + 1\n  2\n\n"                           /* P */
        "eval instant at 1m 1 + 1\n  {} 2\n\n"                        /* F: scalar vs vector */
        "eval instant at 1m time()\n  60\n\n"                         /* P */
        "eval_fail instant at 1m m{a=\"1\"}\n\n"                      /* F: no error */
        "eval_fail instant at 1m sum(\n\n"                            /* P: parse error */
        "eval_ordered instant at 1m sort_desc(m)\n  m{a=\"2\"} 5\n  m{a=\"1\"} 2\n\n" /* P */
        "eval_ordered instant at 1m sort(m)\n  m{a=\"2\"} 5\n  m{a=\"1\"} 2\n\n"      /* F: order */
        "eval instant at 1m m\n  m{a=\"1\" 2\n\n"                     /* F: malformed */
        "bogus\n"                                                     /* F: unknown */
        "clear\n"
        "eval instant at 1m m\n\n"                                    /* P: empty */
        "load 5x\n  n 1\n";                                           /* F: bad step */
    char dir[] = "/tmp/auspex-suite-selftest-XXXXXX";
    if (!mkdtemp(dir)) { FAILF("mkdtemp failed"); return; }
    char path[128];
    snprintf(path, sizeof path, "%s/self.test", dir);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(text, 1, sizeof text - 1, f) != sizeof text - 1) FAILF("cannot write %s", path);
    if (f) fclose(f);
    suite s = {0};
    s.quiet = !getenv("AX_PROMQL_SUITE_VERBOSE");
    run_file(&s, dir, "self.test");
    CHECK_EQ_INT(9, s.passed);
    CHECK_EQ_INT(18, s.total);
    CHECK_EQ_INT(9, s.unlisted);
    /* a passing block runs 2 queries (instant, range) plus 2 per @ variant (5 of them),
     * except time() (no @ variants); a failing one stops at its first failing query */
    CHECK_EQ_INT(92, s.n_exec);
    remove(path);
    rmdir(dir);
}
