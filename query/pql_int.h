/* query/pql_int.h: shared by the PromQL lexer (lex.c), parser (parse.c) and printer (ast.c)
 * only. Tokens, the lexer state, error formatting. */
#ifndef AX_PQL_INT_H
#define AX_PQL_INT_H

#include "query/query.h"

enum {
    T_EOF, T_IDENT, T_METRIC_IDENT, T_NUMBER, T_STRING, T_DURATION,
    T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET, T_COMMA, T_COLON, T_AT,
    T_EQL, T_EQL_REGEX, T_NEQ_REGEX,
    /* binary operators, in PQL_OP_* order */
    T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW, T_ATAN2, T_EQLC, T_NEQ, T_LTE, T_LSS, T_GTE,
    T_GTR, T_LAND, T_LOR, T_LUNLESS,
    /* aggregators, in PQL_AGG_* order */
    T_SUM, T_AVG, T_COUNT, T_MIN, T_MAX, T_GROUP, T_STDDEV, T_STDVAR, T_TOPK, T_BOTTOMK,
    T_COUNT_VALUES, T_QUANTILE,
    /* other keywords */
    T_OFFSET, T_BY, T_WITHOUT, T_ON, T_IGNORING, T_GROUP_LEFT, T_GROUP_RIGHT, T_BOOL, T_START,
    T_END,
};
#define T_IS_OP(t) ((t) >= T_ADD && (t) <= T_LUNLESS)
#define T_IS_AGG(t) ((t) >= T_SUM && (t) <= T_QUANTILE)

typedef struct pql_tok {
    int t;
    uint32_t pos, len; /* bytes of the token in the query */
} pql_tok;

/* Lexer state: a position and the open (, {, [ that change what is a token. */
typedef struct pql_lex {
    const char *s;
    size_t len, pos;
    uint32_t parens;
    bool in_brace, in_bracket;
    bool bracket_start; /* the next token is the first after '[' (lex.go's lexDuration) */
} pql_lex;

/* Next token into *out. Returns 0 or AX_EINVAL (message in e). */
int pql__lex(pql_lex *lx, pql_tok *out, ax_err *e);

/* Set e to AX_EINVAL with "<line>:<col>: parse error: <fmt>" for byte offset pos of s. */
int pql__errf(ax_err *e, const char *s, size_t len, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Decode a quoted string token s[0..len) (quotes included) into arena memory (NUL-terminated).
 * OUT: *out. Returns 0, AX_EINVAL (bad escape, message at its position: src/srclen/base give
 * the query for the position), AX_ENOMEM. */
int pql__unquote(const char *src, size_t srclen, size_t base, size_t len, ax_arena *a, pql_str *out,
                 ax_err *e);

/* Parse a duration as Prometheus' model.ParseDuration ("1h30m", "5m", "100ms"; units in
 * order y w d h m s ms). OUT: *ms_out. Returns true on success. */
bool pql__duration(const char *s, size_t len, int64_t *ms_out);

/* Append Go's %q quoting of s (strconv.Quote) / fmt.Sprint of a float64. */
int pql__quote(ax_buf *b, const char *s, size_t len);
int pql__float(ax_buf *b, double v);
/* model.Duration(ms).String(). */
int pql__dur(ax_buf *b, int64_t ms);

#endif
