/* query/selector.c: series selector parser (metric{label op "value", ...}).
 *
 * A small recursive-descent scanner over (pointer, length) that never reads past the end.
 * It is the selector part of PromQL only; the full expression grammar builds on it.
 */
#include "query/query.h"

#include <stdio.h>
#include <string.h>

typedef struct sp {
    const char *s;
    size_t len, pos;
    ax_arena *a;
    ax_err *e;
} sp;

static void skip_ws(sp *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
        else if (c == '#') { /* PromQL comment to end of line */
            while (p->pos < p->len && p->s[p->pos] != '\n') p->pos++;
        } else break;
    }
}

static bool ident_start(char c, bool metric) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}
static bool ident_char(char c, bool metric) {
    return ident_start(c, metric) || (c >= '0' && c <= '9');
}

static int fail(sp *p, const char *what) {
    return ax_err_set(p->e, AX_EINVAL, "parse error at char %zu: %s", p->pos + 1, what);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parse a quoted string at p->pos into arena memory. OUT: *out, *len_out. */
static int parse_string(sp *p, const char **out, size_t *len_out) {
    if (p->pos >= p->len) return fail(p, "expected a string");
    char q = p->s[p->pos];
    if (q != '"' && q != '\'' && q != '`') return fail(p, "expected a quoted string");
    size_t start = ++p->pos;
    /* the decoded string is never longer than the source */
    size_t end = start;
    while (end < p->len && p->s[end] != q) {
        if (q != '`' && p->s[end] == '\\') end++;
        if (q != '`' && end < p->len && p->s[end] == '\n') break;
        end++;
    }
    if (end >= p->len || p->s[end] != q) return fail(p, "unterminated string");
    char *o = ax_arena_alloc(p->a, end - start + 1);
    if (!o) return AX_ENOMEM;
    size_t k = 0;
    for (size_t i = start; i < end;) {
        char c = p->s[i++];
        if (c != '\\' || q == '`') { o[k++] = c; continue; }
        char x = p->s[i++];
        switch (x) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'a': o[k++] = '\a'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'v': o[k++] = '\v'; break;
        case '\\': case '"': case '\'': o[k++] = x; break;
        case 'x': case 'u': case 'U': {
            int nd = x == 'x' ? 2 : x == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int d = 0; d < nd; d++) {
                int h = i < end ? hexval(p->s[i]) : -1;
                if (h < 0) { p->pos = i; return fail(p, "invalid escape sequence"); }
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (x == 'x') o[k++] = (char)cp;
            else {
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                    p->pos = i;
                    return fail(p, "invalid Unicode code point in escape");
                }
                k += put_utf8(o + k, cp);
            }
            break;
        }
        default:
            if (x >= '0' && x <= '7') {
                uint32_t v = (uint32_t)(x - '0');
                for (int d = 0; d < 2; d++) {
                    if (i >= end || p->s[i] < '0' || p->s[i] > '7') {
                        p->pos = i;
                        return fail(p, "invalid octal escape");
                    }
                    v = v * 8 + (uint32_t)(p->s[i++] - '0');
                }
                if (v > 255) { p->pos = i; return fail(p, "octal escape out of range"); }
                o[k++] = (char)v;
                break;
            }
            p->pos = i - 1;
            return fail(p, "unknown escape sequence");
        }
    }
    o[k] = 0;
    if (!ax_utf8_valid(o, k)) return fail(p, "string is not valid UTF-8");
    p->pos = end + 1;
    *out = o;
    *len_out = k;
    return 0;
}

void pql_matchers_free(eng_matcher *m, size_t n) {
    for (size_t i = 0; m && i < n; i++) eng_matcher_free(&m[i]);
}

int pql_selector_parse(const char *s, size_t len, ax_arena *a, eng_matcher **out, size_t *n_out,
                       ax_err *e) {
    sp p = {s, len, 0, a, e};
    eng_matcher *m = ax_arena_alloc(a, PQL_MAX_MATCHERS * sizeof *m);
    if (!m) return AX_ENOMEM;
    size_t n = 0;
    int rc = 0;
    skip_ws(&p);
    if (p.pos < len && ident_start(s[p.pos], true)) {
        size_t st = p.pos;
        while (p.pos < len && ident_char(s[p.pos], true)) p.pos++;
        m[n++] = (eng_matcher){ENG_MATCH_EQ, "__name__", 8, s + st, p.pos - st, NULL};
        skip_ws(&p);
    }
    if (p.pos < len && s[p.pos] == '{') {
        p.pos++;
        for (;;) {
            skip_ws(&p);
            if (p.pos < len && s[p.pos] == '}') { p.pos++; break; }
            if (p.pos >= len || !ident_start(s[p.pos], false)) {
                rc = fail(&p, "expected a label name or '}'");
                goto out;
            }
            size_t st = p.pos;
            while (p.pos < len && ident_char(s[p.pos], false)) p.pos++;
            const char *name = s + st;
            size_t name_len = p.pos - st;
            skip_ws(&p);
            int op;
            if (p.pos + 1 < len && s[p.pos] == '=' && s[p.pos + 1] == '~') { op = ENG_MATCH_RE; p.pos += 2; }
            else if (p.pos + 1 < len && s[p.pos] == '!' && s[p.pos + 1] == '~') { op = ENG_MATCH_NRE; p.pos += 2; }
            else if (p.pos + 1 < len && s[p.pos] == '!' && s[p.pos + 1] == '=') { op = ENG_MATCH_NEQ; p.pos += 2; }
            else if (p.pos < len && s[p.pos] == '=') { op = ENG_MATCH_EQ; p.pos += 1; }
            else { rc = fail(&p, "expected one of =, !=, =~, !~"); goto out; }
            skip_ws(&p);
            const char *val = NULL;
            size_t val_len = 0;
            rc = parse_string(&p, &val, &val_len);
            if (rc) goto out;
            if (n == PQL_MAX_MATCHERS) { rc = fail(&p, "too many label matchers"); goto out; }
            m[n] = (eng_matcher){op, name, name_len, val, val_len, NULL};
            rc = eng_matcher_compile(&m[n], e);
            if (rc) goto out;
            n++;
            skip_ws(&p);
            if (p.pos < len && s[p.pos] == ',') { p.pos++; continue; }
            if (p.pos < len && s[p.pos] == '}') { p.pos++; break; }
            rc = fail(&p, "expected ',' or '}' after a label matcher");
            goto out;
        }
        skip_ws(&p);
    }
    if (p.pos != len) {
        rc = fail(&p, n ? "unexpected characters after the selector" : "expected a series selector");
        goto out;
    }
    if (n == 0) {
        rc = fail(&p, "expected a series selector");
        goto out;
    }
    bool nonempty = false;
    for (size_t i = 0; i < n && !nonempty; i++) nonempty = !eng_matcher_match(&m[i], "", 0);
    if (!nonempty) {
        rc = ax_err_set(e, AX_EINVAL,
                        "vector selector must contain at least one non-empty matcher");
        goto out;
    }
    *out = m;
    *n_out = n;
    return 0;
out:
    pql_matchers_free(m, n);
    return rc;
}
