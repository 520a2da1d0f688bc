/* core/regex.c: RE2-syntax regexes (as Prometheus writes them) on glibc's POSIX ERE.
 *
 * ax_regex_compile translates the RE2 pattern into an ERE in one left-to-right pass and
 * wraps it as ^(ere)$, so alternation stays inside the anchors ("a|b" never matches
 * "ab"). ERE has no non-capturing groups, so every group we emit captures; map[] takes
 * RE2 group i to its ERE subexpression (the wrapper is ERE group 1). Character classes
 * are evaluated into a 256-bit byte set and written back as a bracket expression whose
 * specials (']' first, '^' not first, '-' last) POSIX can read; \d, \w, [[:alpha:]] and
 * case folding for (?i) all happen in that set, so we never rely on REG_ICASE or on
 * backslashes inside POSIX brackets (which are literal there). Matching is byte-wise in
 * the C locale, whatever locale the process has set: compile and match switch the calling
 * thread to a "C" locale_t for their duration (uselocale is per thread), since in a UTF-8
 * locale glibc would read our raw high bytes as malformed multi-byte characters. See
 * core.h for the deviations from RE2 this implies.
 */
#include "core.h"

#include <ctype.h>
#include <locale.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define RX_MAX_REPEAT 1000
#define RX_MAX_DEPTH 1000

struct ax_regex {
    regex_t re;
    size_t n_groups; /* RE2 capture groups */
    size_t n_ere;    /* ERE subexpressions, wrapper included */
    uint32_t *map;   /* map[i]: ERE subexpression of RE2 group i (1..n_groups) */
    bool lazy;       /* see ax_regex_lazy */
};

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* Switch this thread to the C locale; returns what to restore (0: nothing). */
static locale_t enter_c(void) {
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale ? uselocale(c_locale) : (locale_t)0;
}
static void leave_c(locale_t old) {
    if (old) uselocale(old);
}

typedef struct rx_set {
    uint8_t bits[32];
} rx_set;

static void set_add(rx_set *s, unsigned c) { s->bits[c >> 3] |= (uint8_t)(1u << (c & 7)); }
static bool set_has(const rx_set *s, unsigned c) { return s->bits[c >> 3] >> (c & 7) & 1; }
static void set_range(rx_set *s, unsigned lo, unsigned hi) {
    for (unsigned c = lo; c <= hi; c++) set_add(s, c);
}
static void set_or(rx_set *d, const rx_set *s) {
    for (int i = 0; i < 32; i++) d->bits[i] |= s->bits[i];
}
static void set_negate(rx_set *s) {
    for (int i = 0; i < 32; i++) s->bits[i] = (uint8_t)~s->bits[i];
}
static void set_fold(rx_set *s) {
    for (unsigned c = 'a'; c <= 'z'; c++)
        if (set_has(s, c) || set_has(s, c - 32)) { set_add(s, c); set_add(s, c - 32); }
}

typedef struct rx {
    const char *p, *end;
    ax_buf out;
    uint32_t *map;
    size_t n_groups, n_ere;
    bool icase, dotnl;
    bool lazy;       /* a lazy quantifier was read (and translated greedy) */
    const char *err; /* static message on failure */
} rx;

static int put(rx *r, const char *s, size_t n) { return ax_buf_append(&r->out, s, n); }
static int putc1(rx *r, char c) { return ax_buf_append(&r->out, &c, 1); }

static bool ere_special(unsigned c) { return c && strchr(".[]{}()\\*+?^$|", (int)c) != NULL; }

/* Write a byte set: a never-matching class when empty (NUL never occurs in a subject), a
 * literal when it holds one byte, else a POSIX bracket. Byte 0 is always dropped. */
static int put_set(rx *r, rx_set s) {
    s.bits[0] &= (uint8_t)~1u;
    int count = 0, only = 0;
    for (unsigned c = 1; c < 256; c++)
        if (set_has(&s, c)) { count++; only = (int)c; }
    if (count == 0) return put(r, "[^\x01-\xff]", 6);
    if (count == 1) {
        if (ere_special((unsigned)only) && putc1(r, '\\')) return AX_ETOOBIG;
        return putc1(r, (char)only);
    }
    bool has_rb = set_has(&s, ']'), has_dash = set_has(&s, '-'), has_caret = set_has(&s, '^');
    if (count == 2 && has_dash && has_caret) return put(r, "[-^]", 4);
    int rc = putc1(r, '[');
    if (!rc && has_rb) rc = putc1(r, ']');
    for (unsigned c = 1; c < 256 && !rc;) {
        if (!set_has(&s, c) || c == ']' || c == '-' || c == '^') { c++; continue; }
        unsigned hi = c;
        while (hi + 1 < 256 && set_has(&s, hi + 1) && hi + 1 != ']' && hi + 1 != '-' && hi + 1 != '^')
            hi++;
        rc = putc1(r, (char)c);
        if (!rc && hi == c + 1) rc = putc1(r, (char)hi);
        else if (!rc && hi > c + 1) {
            rc = putc1(r, '-');
            if (!rc) rc = putc1(r, (char)hi);
        }
        c = hi + 1;
    }
    if (!rc && has_caret) rc = putc1(r, '^');
    if (!rc && has_dash) rc = putc1(r, '-');
    if (!rc) rc = putc1(r, ']');
    return rc;
}

/* A literal byte outside brackets. */
static int put_lit(rx *r, unsigned c) {
    if (c == 0) return put(r, "[^\x01-\xff]", 6);
    if (r->icase && isalpha((int)c) && c < 128) {
        rx_set s = {{0}};
        set_add(&s, c);
        set_fold(&s);
        return put_set(r, s);
    }
    if (ere_special(c) && putc1(r, '\\')) return AX_ETOOBIG;
    return putc1(r, (char)c);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Perl classes \d \s \w and their negations. Returns false if c is not one. */
static bool perl_class(int c, rx_set *s) {
    memset(s, 0, sizeof *s);
    switch (c) {
    case 'd': case 'D': set_range(s, '0', '9'); break;
    case 's': case 'S':
        set_add(s, '\t'); set_add(s, '\n'); set_add(s, '\f'); set_add(s, '\r'); set_add(s, ' ');
        break;
    case 'w': case 'W':
        set_range(s, '0', '9'); set_range(s, 'a', 'z'); set_range(s, 'A', 'Z'); set_add(s, '_');
        break;
    default: return false;
    }
    if (isupper(c)) set_negate(s);
    return true;
}

/* Encode code point cp as UTF-8 into b; returns bytes. */
static int utf8_put(uint8_t *b, uint32_t cp) {
    if (cp < 0x80) { b[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { b[0] = (uint8_t)(0xc0 | cp >> 6); b[1] = (uint8_t)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12); b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (uint8_t)(0xf0 | cp >> 18); b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)); b[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* After the 'x' of \x: \xHH or \x{H...}. OUT: *cp. */
static bool parse_hex(rx *r, uint32_t *cp) {
    if (r->p < r->end && *r->p == '{') {
        r->p++;
        uint32_t v = 0;
        int nd = 0;
        while (r->p < r->end && *r->p != '}') {
            int h = hexval((unsigned char)*r->p++);
            if (h < 0 || ++nd > 6) return false;
            v = v << 4 | (uint32_t)h;
        }
        if (r->p >= r->end || nd == 0 || v > 0x10ffff) return false;
        r->p++;
        *cp = v;
        return true;
    }
    if (r->end - r->p < 2) return false;
    int h1 = hexval((unsigned char)r->p[0]), h2 = hexval((unsigned char)r->p[1]);
    if (h1 < 0 || h2 < 0) return false;
    r->p += 2;
    *cp = (uint32_t)(h1 << 4 | h2);
    return true;
}

/* One escape's single character inside or outside a class (\n, \x41, \.); the
 * backslash and letter are consumed. OUT: *cp. */
static bool simple_escape(rx *r, int c, uint32_t *cp) {
    switch (c) {
    case 'n': *cp = '\n'; return true;
    case 't': *cp = '\t'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case 'a': *cp = '\a'; return true;
    case 'x': if (parse_hex(r, cp)) return true; r->err = "invalid \\x escape"; return false;
    }
    if (c < 128 && !isalnum(c)) { *cp = (uint32_t)c; return true; }
    if (c >= '1' && c <= '9') r->err = "backreferences are not supported";
    else if (c == 'p' || c == 'P') r->err = "Unicode classes \\p are not supported";
    else r->err = "invalid escape sequence";
    return false;
}

static const struct { const char *name; int (*fn)(int); } posix_classes[] = {
    {"alnum", isalnum}, {"alpha", isalpha}, {"blank", isblank}, {"cntrl", iscntrl},
    {"digit", isdigit}, {"graph", isgraph}, {"lower", islower}, {"print", isprint},
    {"punct", ispunct}, {"space", isspace}, {"upper", isupper}, {"xdigit", isxdigit},
};

/* [[:name:]] or [[:^name:]] at r->p (pointing at "[:"). */
static bool posix_class(rx *r, rx_set *s) {
    const char *q = r->p + 2;
    bool neg = q < r->end && *q == '^';
    if (neg) q++;
    const char *nm = q;
    while (q < r->end && islower((unsigned char)*q)) q++;
    if (r->end - q < 2 || q[0] != ':' || q[1] != ']') return false;
    size_t nl = (size_t)(q - nm);
    memset(s, 0, sizeof *s);
    if (nl == 5 && !memcmp(nm, "ascii", 5)) set_range(s, 0, 127);
    else if (nl == 4 && !memcmp(nm, "word", 4)) perl_class('w', s);
    else {
        size_t i;
        for (i = 0; i < sizeof posix_classes / sizeof *posix_classes; i++)
            if (strlen(posix_classes[i].name) == nl && !memcmp(posix_classes[i].name, nm, nl)) break;
        if (i == sizeof posix_classes / sizeof *posix_classes) return false;
        for (unsigned c = 0; c < 128; c++)
            if (posix_classes[i].fn((int)c)) set_add(s, c);
    }
    if (neg) { set_negate(s); s->bits[0] &= (uint8_t)~1u; }
    r->p = q + 2;
    return true;
}

/* A bracket class; r->p is just past '['. */
static int parse_class(rx *r) {
    rx_set s = {{0}};
    bool neg = r->p < r->end && *r->p == '^';
    if (neg) r->p++;
    bool first = true;
    for (;;) {
        if (r->p >= r->end) { r->err = "missing closing ]"; return AX_EINVAL; }
        unsigned c = (unsigned char)*r->p;
        if (c == ']' && !first) { r->p++; break; }
        first = false;
        rx_set sub;
        if (c == '[' && r->end - r->p >= 2 && r->p[1] == ':') {
            if (!posix_class(r, &sub)) { r->err = "invalid character class"; return AX_EINVAL; }
            set_or(&s, &sub);
            continue;
        }
        uint32_t lo;
        if (c == '\\') {
            if (r->end - r->p < 2) { r->err = "trailing backslash"; return AX_EINVAL; }
            int ec = (unsigned char)r->p[1];
            if (perl_class(ec, &sub)) { r->p += 2; set_or(&s, &sub); continue; }
            r->p += 2;
            if (!simple_escape(r, ec, &lo)) return AX_EINVAL;
        } else {
            lo = c;
            r->p++;
        }
        if (lo >= 128) { r->err = "non-ASCII characters inside [...] are not supported"; return AX_EINVAL; }
        uint32_t hi = lo;
        if (r->end - r->p >= 2 && r->p[0] == '-' && r->p[1] != ']') {
            r->p++;
            unsigned d = (unsigned char)*r->p;
            if (d == '\\') {
                if (r->end - r->p < 2) { r->err = "trailing backslash"; return AX_EINVAL; }
                int ec = (unsigned char)r->p[1];
                r->p += 2;
                if (!simple_escape(r, ec, &hi)) return AX_EINVAL;
            } else {
                hi = d;
                r->p++;
            }
            if (hi >= 128) { r->err = "non-ASCII characters inside [...] are not supported"; return AX_EINVAL; }
            if (hi < lo) { r->err = "invalid character class range"; return AX_EINVAL; }
        }
        set_range(&s, lo, hi);
    }
    if (r->icase) set_fold(&s);
    if (neg) set_negate(&s);
    return put_set(r, s);
}

/* Is r->p ("{...") a repetition {n}, {n,} or {n,m}? Returns its length, 0 when it is not
 * one (then '{' is a literal, as in RE2), or AX_EINVAL for a bad count. */
static long brace_len(rx *r) {
    const char *q = r->p + 1;
    long n, m, v = 0;
    const char *d0 = q;
    while (q < r->end && *q >= '0' && *q <= '9' && v <= RX_MAX_REPEAT) v = v * 10 + (*q++ - '0');
    if (q == d0 || q >= r->end) return 0;
    n = v;
    if (*q == ',') {
        q++;
        const char *d1 = q;
        v = 0;
        while (q < r->end && *q >= '0' && *q <= '9' && v <= RX_MAX_REPEAT) v = v * 10 + (*q++ - '0');
        m = q == d1 ? -1 : v;
    } else {
        m = n;
    }
    if (q >= r->end || *q != '}') return 0;
    if (n > RX_MAX_REPEAT || m > RX_MAX_REPEAT) { r->err = "repeat count over 1000"; return AX_EINVAL; }
    if (m >= 0 && m < n) { r->err = "invalid repeat count"; return AX_EINVAL; }
    return q + 1 - r->p;
}

static int translate(rx *r) {
    int depth = 0, rc = 0;
    bool saved_ic[RX_MAX_DEPTH + 1], saved_dn[RX_MAX_DEPTH + 1]; /* flags outside each group */
    bool can_quant = false;  /* the previous item can take a quantifier */
    bool after_quant = false;
    /* leading flags: (?i) (?s) (?is) ... */
    if (r->end - r->p >= 3 && r->p[0] == '(' && r->p[1] == '?') {
        const char *q = r->p + 2;
        bool ic = false, dn = false;
        while (q < r->end && (*q == 'i' || *q == 's')) { if (*q == 'i') ic = true; else dn = true; q++; }
        if (q < r->end && *q == ')' && q > r->p + 2) {
            r->icase = ic;
            r->dotnl = dn;
            r->p = q + 1;
        }
    }
    while (r->p < r->end && !rc) {
        unsigned c = (unsigned char)*r->p;
        bool quant = c == '*' || c == '+' || c == '?';
        long blen = 0;
        if (c == '{') {
            blen = brace_len(r);
            if (blen < 0) return (int)blen;
            if (blen == 0) {
                rc = put_lit(r, '{');
                r->p++;
                can_quant = true;
                after_quant = false;
                continue;
            }
            quant = true;
        }
        if (quant) {
            if (after_quant) {
                r->err = "invalid nested repetition operator";
                return AX_EINVAL;
            }
            if (!can_quant) { r->err = "missing argument to repetition operator"; return AX_EINVAL; }
            if (blen) {
                rc = put(r, r->p, (size_t)blen);
                r->p += blen;
            } else {
                rc = putc1(r, (char)c);
                r->p++;
            }
            can_quant = false;
            after_quant = true;
            /* lazy: whether a whole string matches does not depend on it, so it is read
             * as greedy; only capture groups could differ (ax_regex_lazy tells) */
            if (r->p < r->end && *r->p == '?') {
                r->p++;
                r->lazy = true;
            }
            continue;
        }
        after_quant = false;
        switch (c) {
        case '(': {
            r->p++;
            bool capture = true;
            bool ic = r->icase, dn = r->dotnl;
            if (r->p < r->end && *r->p == '?') {
                /* flags: (?flags:re) scopes them to the group, (?flags) sets them until
                 * the end of the enclosing group (RE2); flags are i and s, '-' clears */
                const char *q = r->p + 1;
                bool neg = false, any = false;
                while (q < r->end && (*q == 'i' || *q == 's' || (*q == '-' && !neg))) {
                    if (*q == '-') neg = true;
                    else if (*q == 'i') ic = !neg;
                    else dn = !neg;
                    any = true;
                    q++;
                }
                if (any && q < r->end && *q == ')') {
                    r->icase = ic;
                    r->dotnl = dn;
                    r->p = q + 1;
                    can_quant = false;
                    continue;
                }
                if (any && q < r->end && *q == ':') {
                    capture = false;
                    r->p = q + 1;
                } else if (r->end - r->p >= 2 && r->p[1] == ':') {
                    capture = false;
                    r->p += 2;
                } else {
                    q = r->p + 1;
                    if (q < r->end && (*q == '=' || *q == '!' || (*q == '<' && q + 1 < r->end && (q[1] == '=' || q[1] == '!'))))
                        r->err = "lookaround (?= ?! ?<= ?<!) is not supported";
                    else if (q < r->end && (*q == 'P' || *q == '<'))
                        r->err = "named groups (?P<name>...) are not supported";
                    else
                        r->err = "flags are supported only as a leading (?i), (?s) or (?is)";
                    return AX_EINVAL;
                }
            }
            if (++depth > RX_MAX_DEPTH) { r->err = "nesting too deep"; return AX_EINVAL; }
            saved_ic[depth] = r->icase;
            saved_dn[depth] = r->dotnl;
            r->icase = ic;
            r->dotnl = dn;
            r->n_ere++;
            if (capture) r->map[++r->n_groups] = (uint32_t)r->n_ere;
            rc = putc1(r, '(');
            can_quant = false;
            continue;
        }
        case ')':
            if (depth == 0) { r->err = "unexpected )"; return AX_EINVAL; }
            r->icase = saved_ic[depth];
            r->dotnl = saved_dn[depth];
            depth--;
            rc = putc1(r, ')');
            r->p++;
            can_quant = true;
            continue;
        case '|':
            rc = putc1(r, '|');
            r->p++;
            can_quant = false;
            continue;
        case '^':
        case '$':
            rc = putc1(r, (char)c);
            r->p++;
            can_quant = false;
            continue;
        case '.':
            r->p++;
            can_quant = true;
            if (r->dotnl) rc = putc1(r, '.');
            else {
                rx_set s;
                memset(&s, 0xff, sizeof s);
                s.bits['\n' >> 3] &= (uint8_t)~(1u << ('\n' & 7));
                rc = put_set(r, s);
            }
            continue;
        case '[':
            r->p++;
            rc = parse_class(r);
            can_quant = true;
            continue;
        case '\\': {
            if (r->end - r->p < 2) { r->err = "trailing backslash"; return AX_EINVAL; }
            int ec = (unsigned char)r->p[1];
            rx_set s;
            r->p += 2;
            if (perl_class(ec, &s)) { rc = put_set(r, s); can_quant = true; continue; }
            if (ec == 'b' || ec == 'B') { rc = put(r, ec == 'b' ? "\\b" : "\\B", 2); can_quant = false; continue; }
            if (ec == 'A' || ec == 'z') { rc = putc1(r, ec == 'A' ? '^' : '$'); can_quant = false; continue; }
            if (ec == 'Q') {
                const char *q = r->p;
                while (q < r->end && !(q + 1 < r->end && q[0] == '\\' && q[1] == 'E')) q++;
                bool any = q > r->p;
                /* the last literal takes a following quantifier alone, as in RE2 */
                while (r->p < q && !rc) rc = put_lit(r, (unsigned char)*r->p++);
                r->p = q < r->end ? q + 2 : q;
                can_quant = any;
                continue;
            }
            if (ec == 'E') continue; /* a stray \E is ignored, as in RE2 */
            uint32_t cp;
            if (!simple_escape(r, ec, &cp)) return AX_EINVAL;
            if (cp < 128) { rc = put_lit(r, cp); can_quant = true; continue; }
            uint8_t u[4];
            int n = utf8_put(u, cp);
            bool wrap = r->p < r->end && strchr("*+?{", *r->p);
            if (wrap) { r->n_ere++; rc = putc1(r, '('); }
            for (int i = 0; i < n && !rc; i++) rc = put_lit(r, u[i]);
            if (wrap && !rc) rc = putc1(r, ')');
            can_quant = true;
            continue;
        }
        default: {
            /* a multi-byte UTF-8 character is one atom: group it when a quantifier follows */
            size_t n = 1;
            if (c >= 0xc0)
                while (r->p + n < r->end && n < 4 && ((unsigned char)r->p[n] & 0xc0) == 0x80) n++;
            bool wrap = n > 1 && r->p + n < r->end && strchr("*+?{", r->p[n]);
            if (wrap) { r->n_ere++; rc = putc1(r, '('); }
            for (size_t i = 0; i < n && !rc; i++) rc = put_lit(r, (unsigned char)r->p[i]);
            if (wrap && !rc) rc = putc1(r, ')');
            r->p += n;
            can_quant = true;
            continue;
        }
        }
    }
    if (rc) return rc;
    if (depth) { r->err = "missing closing )"; return AX_EINVAL; }
    return 0;
}

int ax_regex_compile(const char *pat, size_t len, ax_regex **out, ax_err *e) {
    int show = len > 64 ? 64 : (int)len;
    if (len > AX_REGEX_MAX_LEN)
        return ax_err_set(e, AX_EINVAL, "invalid regex \"%.*s...\": longer than %u bytes", show, pat,
                          AX_REGEX_MAX_LEN);
    rx r = {.p = pat, .end = pat + len};
    ax_buf_init(&r.out, 16 * len + 64);
    r.map = malloc((len + 2) * sizeof *r.map);
    ax_regex *re = calloc(1, sizeof *re);
    int rc = r.map && re ? 0 : AX_ENOMEM;
    r.n_ere = 1; /* the wrapper */
    if (!rc) rc = put(&r, "^(", 2);
    if (!rc) rc = translate(&r);
    if (!rc) rc = put(&r, ")$", 3); /* with the NUL */
    if (rc == AX_EINVAL || r.err) {
        rc = ax_err_set(e, AX_EINVAL, "invalid regex \"%.*s%s\": %s at offset %ld", show, pat,
                        (size_t)show < len ? "..." : "", r.err ? r.err : "syntax error",
                        (long)(r.p - pat));
    } else if (rc == AX_ETOOBIG) {
        rc = ax_err_set(e, AX_EINVAL, "invalid regex \"%.*s...\": too complex", show, pat);
    } else if (rc) {
        rc = ax_err_set(e, rc, "regex: out of memory");
    }
    if (!rc) {
        locale_t old = enter_c();
        int crc = regcomp(&re->re, (const char *)r.out.data, REG_EXTENDED);
        leave_c(old);
        if (crc) {
            char msg[128];
            regerror(crc, &re->re, msg, sizeof msg);
            rc = ax_err_set(e, crc == REG_ESPACE ? AX_ENOMEM : AX_EINVAL, "invalid regex \"%.*s%s\": %s",
                            show, pat, (size_t)show < len ? "..." : "", msg);
        } else if (re->re.re_nsub != r.n_ere) {
            regfree(&re->re);
            rc = ax_err_set(e, AX_EINVAL, "invalid regex \"%.*s%s\": unsupported syntax", show, pat,
                            (size_t)show < len ? "..." : "");
        }
    }
    ax_buf_free(&r.out);
    if (rc) {
        free(r.map);
        free(re);
        return rc;
    }
    re->map = r.map;
    re->n_groups = r.n_groups;
    re->lazy = r.lazy;
    re->n_ere = r.n_ere;
    *out = re;
    return 0;
}

bool ax_regex_match(const ax_regex *re, const char *s, size_t len, ax_span *groups,
                    size_t n_groups) {
    if (len && memchr(s, 0, len)) return false;
    char stack[512];
    char *str = len < sizeof stack ? stack : malloc(len + 1);
    if (!str) return false;
    if (len) memcpy(str, s, len);
    str[len] = 0;
    size_t nm = groups && n_groups ? re->n_ere + 1 : 0;
    regmatch_t mstack[32];
    regmatch_t *m = nm <= 32 ? mstack : malloc(nm * sizeof *m);
    bool hit = false;
    if (m) {
        locale_t old = enter_c();
        hit = regexec(&re->re, str, nm, nm ? m : NULL, 0) == 0;
        leave_c(old);
        if (hit && nm) {
            for (size_t i = 0; i < n_groups; i++) {
                groups[i].off = -1;
                groups[i].len = 0;
                if (i > re->n_groups) continue;
                const regmatch_t *g = &m[i == 0 ? 0 : re->map[i]];
                if (g->rm_so < 0) continue;
                groups[i].off = g->rm_so;
                groups[i].len = g->rm_eo - g->rm_so;
            }
        }
        if (m != mstack) free(m);
    }
    if (str != stack) free(str);
    return hit;
}

size_t ax_regex_groups(const ax_regex *re) { return re->n_groups; }

void ax_regex_free(ax_regex *re) {
    if (!re) return;
    regfree(&re->re);
    free(re->map);
    free(re);
}

bool ax_regex_lazy(const ax_regex *re) { return re && re->lazy; }
