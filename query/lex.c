/* query/lex.c: the PromQL lexer, string unquoting, durations, error positions.
 *
 * Follows Prometheus' promql/parser/lex.go: keywords are case-insensitive ("inf" and "nan" are
 * numbers), a word with ':' is a metric identifier, inside {...} only label names, strings,
 * matcher operators and commas exist, inside [...] ':' separates a subquery's range and step.
 * Unbalanced ( { [ are lexer errors, worded as Prometheus words them. The lexer only reads
 * s[0..len), so the query needs no terminator.
 */
#include "query/pql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int pql__errf(ax_err *e, const char *s, size_t len, size_t pos, const char *fmt, ...) {
    if (pos > len) pos = len;
    size_t line = 1, last_nl = (size_t)-1;
    for (size_t i = 0; i < pos; i++)
        if (s[i] == '\n') { line++; last_nl = i; }
    size_t col = pos - last_nl; /* 1-based */
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ax_err_set(e, AX_EINVAL, "%zu:%zu: parse error: %s", line, col, msg);
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static const struct { const char *w; int t; } keywords[] = {
    {"and", T_LAND}, {"or", T_LOR}, {"unless", T_LUNLESS}, {"atan2", T_ATAN2},
    {"sum", T_SUM}, {"avg", T_AVG}, {"count", T_COUNT}, {"min", T_MIN}, {"max", T_MAX},
    {"group", T_GROUP}, {"stddev", T_STDDEV}, {"stdvar", T_STDVAR}, {"topk", T_TOPK},
    {"bottomk", T_BOTTOMK}, {"count_values", T_COUNT_VALUES}, {"quantile", T_QUANTILE},
    {"offset", T_OFFSET}, {"by", T_BY}, {"without", T_WITHOUT}, {"on", T_ON},
    {"ignoring", T_IGNORING}, {"group_left", T_GROUP_LEFT}, {"group_right", T_GROUP_RIGHT},
    {"bool", T_BOOL}, {"start", T_START}, {"end", T_END}, {"inf", T_NUMBER}, {"nan", T_NUMBER},
};

static int keyword(const char *s, size_t n) {
    if (n > 12) return -1;
    char low[13];
    for (size_t i = 0; i < n; i++) low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].w) == n && !memcmp(keywords[i].w, low, n)) return keywords[i].t;
    return -1;
}

static int lex_err(pql_lex *lx, ax_err *e, size_t pos, const char *fmt, char c) {
    return pql__errf(e, lx->s, lx->len, pos, fmt, c);
}

/* A string token: find its end, checking for newlines (not in raw strings) and valid UTF-8;
 * escapes are checked when the parser decodes it. */
static int lex_string(pql_lex *lx, pql_tok *out, ax_err *e) {
    const char *s = lx->s;
    size_t st = lx->pos, i = st + 1;
    char q = s[st];
    while (i < lx->len && s[i] != q) {
        if (q != '`' && s[i] == '\\') {
            i++;
            if (i >= lx->len) break;
        }
        if (q != '`' && s[i] == '\n') break;
        i++;
    }
    if (i >= lx->len || s[i] != q)
        return pql__errf(e, s, lx->len, st, q == '`' ? "unterminated raw string" : "unterminated quoted string");
    if (!ax_utf8_valid(s + st, i + 1 - st)) return pql__errf(e, s, lx->len, st, "invalid UTF-8 rune");
    *out = (pql_tok){T_STRING, (uint32_t)st, (uint32_t)(i + 1 - st)};
    lx->pos = i + 1;
    return 0;
}

/* Number or duration, as lex.go's scanNumber/acceptRemainingDuration. */
static int lex_number(pql_lex *lx, pql_tok *out, ax_err *e) {
    const char *s = lx->s;
    size_t n = lx->len, st = lx->pos, i = st;
    bool hex = false;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) { hex = true; i += 2; }
#define DIG(c) (hex ? (is_digit(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F')) : is_digit(c))
    while (i < n && DIG(s[i])) i++;
    if (i < n && s[i] == '.') { i++; while (i < n && DIG(s[i])) i++; }
#undef DIG
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        while (i < n && is_digit(s[i])) i++;
    }
    bool dur_only = lx->bracket_start; /* right after '[' only a duration may follow */
    if (i >= n || !is_alnum(s[i])) {
        if (dur_only) return pql__errf(e, s, n, st, "missing unit character in duration");
        *out = (pql_tok){T_NUMBER, (uint32_t)st, (uint32_t)(i - st)};
        lx->pos = i;
        return 0;
    }
    /* a duration: unit, optional 's' (ms), then more digit+unit groups; on a failure the
     * message quotes the text up to where acceptRemainingDuration stopped, as lex.go */
    if (!strchr("smhdwy", s[i])) goto bad;
    i++;
    if (i < n && s[i] == 's') i++;
    while (i < n && is_digit(s[i])) {
        while (i < n && is_digit(s[i])) i++;
        if (i >= n || !is_alpha(s[i]) || !strchr("smhdw", s[i])) goto bad;
        i++;
        if (i < n && s[i] == 's') i++;
    }
    if (i < n && is_alnum(s[i])) {
        i++; /* lex.go's final l.next() took it */
        goto bad;
    }
    *out = (pql_tok){T_DURATION, (uint32_t)st, (uint32_t)(i - st)};
    lx->pos = i;
    return 0;
bad:
    return pql__errf(e, s, n, st, dur_only ? "bad duration syntax: \"%.*s\"" : "bad number or duration syntax: \"%.*s\"",
                     (int)(i - st > 40 ? 40 : i - st), s + st);
}

static int lex_token(pql_lex *lx, pql_tok *out, ax_err *e) {
    const char *s = lx->s;
    size_t n = lx->len;
    for (;;) {
        while (lx->pos < n && is_space(s[lx->pos])) lx->pos++;
        if (lx->pos < n && s[lx->pos] == '#' && !lx->in_brace) {
            while (lx->pos < n && s[lx->pos] != '\n') lx->pos++;
            continue;
        }
        break;
    }
    size_t p = lx->pos;
    if (p >= n) {
        if (lx->in_brace) return pql__errf(e, s, n, p, "unexpected end of input inside braces");
        if (lx->in_bracket) return pql__errf(e, s, n, p, "unclosed left bracket");
        if (lx->parens) return pql__errf(e, s, n, p, "unclosed left parenthesis");
        *out = (pql_tok){T_EOF, (uint32_t)p, 0};
        return 0;
    }
    char c = s[p], c2 = p + 1 < n ? s[p + 1] : 0;
    int t = -1, w = 1;
    if (lx->in_brace) {
        if (is_alpha(c)) {
            size_t i = p;
            while (i < n && is_alnum(s[i])) i++;
            *out = (pql_tok){T_IDENT, (uint32_t)p, (uint32_t)(i - p)};
            lx->pos = i;
            return 0;
        }
        switch (c) {
        case '"': case '\'': case '`': return lex_string(lx, out, e);
        case ',': t = T_COMMA; break;
        case '=': if (c2 == '~') { t = T_EQL_REGEX; w = 2; } else t = T_EQL; break;
        case '!':
            if (c2 == '~') { t = T_NEQ_REGEX; w = 2; }
            else if (c2 == '=') { t = T_NEQ; w = 2; }
            else return lex_err(lx, e, p, "unexpected character inside braces: '%c'", c);
            break;
        case '}': t = T_RBRACE; lx->in_brace = false; break;
        case '{': return lex_err(lx, e, p, "unexpected left brace '%c'", c);
        default:
            if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
                return pql__errf(e, s, n, p, "unexpected character inside braces: '\\x%02x'", (unsigned char)c);
            return lex_err(lx, e, p, "unexpected character inside braces: '%c'", c);
        }
        *out = (pql_tok){t, (uint32_t)p, (uint32_t)w};
        lx->pos = p + (size_t)w;
        return 0;
    }
    if (lx->in_bracket && c == ':') t = T_COLON;
    else if (is_digit(c) || (c == '.' && is_digit(c2))) return lex_number(lx, out, e);
    else if (is_alpha(c) || c == ':') {
        size_t i = p;
        bool colon = false;
        while (i < n && (is_alnum(s[i]) || s[i] == ':')) colon |= s[i++] == ':';
        int kw = colon ? -1 : keyword(s + p, i - p);
        *out = (pql_tok){kw >= 0 ? kw : colon ? T_METRIC_IDENT : T_IDENT, (uint32_t)p, (uint32_t)(i - p)};
        lx->pos = i;
        return 0;
    } else switch (c) {
        case '"': case '\'': case '`': return lex_string(lx, out, e);
        case ',': t = T_COMMA; break;
        case '(': t = T_LPAREN; lx->parens++; break;
        case ')':
            if (!lx->parens) return lex_err(lx, e, p, "unexpected right parenthesis '%c'", c);
            t = T_RPAREN; lx->parens--;
            break;
        case '{': t = T_LBRACE; lx->in_brace = true; break;
        case '}': return lex_err(lx, e, p, "unexpected right brace '%c'", c);
        case '[':
            if (lx->in_bracket) return lex_err(lx, e, p, "unexpected left bracket '%c'", c);
            t = T_LBRACKET; lx->in_bracket = true;
            break;
        case ']':
            if (!lx->in_bracket) return lex_err(lx, e, p, "unexpected right bracket '%c'", c);
            t = T_RBRACKET; lx->in_bracket = false;
            break;
        case '@': t = T_AT; break;
        case '+': t = T_ADD; break;
        case '-': t = T_SUB; break;
        case '*': t = T_MUL; break;
        case '/': t = T_DIV; break;
        case '%': t = T_MOD; break;
        case '^': t = T_POW; break;
        case '=':
            if (c2 == '=') { t = T_EQLC; w = 2; }
            else if (c2 == '~') { t = T_EQL_REGEX; w = 2; }
            else t = T_EQL;
            break;
        case '!':
            if (c2 == '=') { t = T_NEQ; w = 2; }
            else if (c2 == '~') { t = T_NEQ_REGEX; w = 2; }
            else return lex_err(lx, e, p, "unexpected character after '!': '%c'", c2 ? c2 : ' ');
            break;
        case '<': if (c2 == '=') { t = T_LTE; w = 2; } else t = T_LSS; break;
        case '>': if (c2 == '=') { t = T_GTE; w = 2; } else t = T_GTR; break;
        default:
            if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
                return pql__errf(e, s, n, p, "unexpected character: '\\x%02x'", (unsigned char)c);
            return lex_err(lx, e, p, "unexpected character: '%c'", c);
        }
    *out = (pql_tok){t, (uint32_t)p, (uint32_t)w};
    lx->pos = p + (size_t)w;
    return 0;
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

int pql__unquote(const char *src, size_t srclen, size_t base, size_t len, ax_arena *a, pql_str *out,
                 ax_err *e) {
    const char *s = src + base;
    char q = s[0];
    char *o = ax_arena_alloc(a, len); /* decoded is never longer than the token */
    if (!o) return AX_ENOMEM;
    size_t k = 0, end = len - 1;
    for (size_t i = 1; i < end;) {
        char c = s[i++];
        if (c != '\\' || q == '`') { o[k++] = c; continue; }
        size_t at = base + i - 1;
        char x = s[i++];
        switch (x) {
        case 'a': o[k++] = '\a'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'v': o[k++] = '\v'; break;
        case '\\': o[k++] = '\\'; break;
        case 'x': case 'u': case 'U': {
            int nd = x == 'x' ? 2 : x == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int d = 0; d < nd; d++) {
                int h = i < end ? hexval(s[i]) : -1;
                if (h < 0) return pql__errf(e, src, srclen, at, "invalid escape sequence in string");
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (x == 'x') o[k++] = (char)cp;
            else {
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                    return pql__errf(e, src, srclen, at, "escape sequence is an invalid Unicode code point");
                k += put_utf8(o + k, cp);
            }
            break;
        }
        default:
            if (x == q) { o[k++] = x; break; }
            if (x >= '0' && x <= '7') {
                uint32_t v = (uint32_t)(x - '0');
                for (int d = 0; d < 2; d++) {
                    if (i >= end || s[i] < '0' || s[i] > '7')
                        return pql__errf(e, src, srclen, at, "invalid escape sequence in string");
                    v = v * 8 + (uint32_t)(s[i++] - '0');
                }
                if (v > 255) return pql__errf(e, src, srclen, at, "octal escape sequence out of range");
                o[k++] = (char)v;
                break;
            }
            return pql__errf(e, src, srclen, at, "unknown escape sequence '\\%c'", x >= 0x20 && x < 0x7f ? x : '?');
        }
    }
    o[k] = 0;
    *out = (pql_str){o, k};
    return 0;
}

bool pql__duration(const char *s, size_t len, int64_t *ms_out) {
    static const int64_t mult[] = {365LL * 86400000, 7LL * 86400000, 86400000, 3600000, 60000, 1000, 1};
    size_t i = 0;
    int last = -1;
    int64_t total = 0;
    if (len == 0) return false;
    while (i < len) {
        if (!is_digit(s[i])) return false;
        int64_t v = 0;
        while (i < len && is_digit(s[i])) {
            if (v > (INT64_MAX - 9) / 10) return false;
            v = v * 10 + (s[i++] - '0');
        }
        if (i >= len) return false;
        int u;
        switch (s[i]) {
        case 'y': u = 0; break;
        case 'w': u = 1; break;
        case 'd': u = 2; break;
        case 'h': u = 3; break;
        case 'm': u = i + 1 < len && s[i + 1] == 's' ? 6 : 4; break;
        case 's': u = 5; break;
        default: return false;
        }
        i += u == 6 ? 2 : 1;
        if (u <= last) return false;
        last = u;
        if (v > (INT64_MAX / 4) / mult[u]) return false;
        total += v * mult[u];
        if (total > INT64_MAX / 4) return false;
    }
    *ms_out = total;
    return true;
}

int pql__lex(pql_lex *lx, pql_tok *out, ax_err *e) {
    int rc = lex_token(lx, out, e);
    lx->bracket_start = !rc && out->t == T_LBRACKET;
    return rc;
}
