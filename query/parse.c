/* query/parse.c: PromQL parser and type checker (Prometheus 2.42 grammar).
 *
 * Recursive descent with precedence climbing, mirroring promql/parser/generated_parser.y:
 *   or < and unless < == != <= < >= > < + - < * / % atan2 < ^ (right-assoc);
 *   unary +/- binds like * (so -2 ^ 2 is -(2 ^ 2)); postfix [range], [range:step], offset and
 *   @ bind tightest. Grammar actions (aggregate arity, unknown functions, offset/@ placement,
 *   range on a non-selector) fail during parsing; the type rules of parse.go's checkAST run
 *   afterwards over the finished tree, in the same order, so the first error reported is the
 *   one Prometheus reports first. Only the first error is reported.
 * Limits: PQL_MAX_QUERY_LEN bytes, AST height PQL_MAX_DEPTH (the recursion of every later
 *   walk is bounded by it), PQL_MAX_MATCHERS matchers per selector, PQL_MAX_LIST list items.
 * Cleanup: every selector is linked on p->sels as it is made, so an error anywhere frees the
 *   regexes compiled so far; nodes themselves live in the arena.
 */
#include "forecast/forecast.h"
#include "query/pql_int.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t len;
    pql_lex lx;
    pql_tok tok; /* current token */
    ax_arena *a;
    ax_err *e;
    pql_node *sels;
    int depth;
} parser;

static int next(parser *p) { return pql__lex(&p->lx, &p->tok, p->e); }

/* The token after the current one, without consuming anything. */
static int peek(parser *p, pql_tok *out) {
    pql_lex copy = p->lx;
    ax_err tmp;
    if (pql__lex(&copy, out, &tmp)) out->t = -1;
    return 0;
}

#define ERR(pos, ...) pql__errf(p->e, p->s, p->len, (pos), __VA_ARGS__)

static const char *const tok_text[] = {
    [T_LPAREN] = "(", [T_RPAREN] = ")", [T_LBRACE] = "{", [T_RBRACE] = "}", [T_LBRACKET] = "[",
    [T_RBRACKET] = "]", [T_COMMA] = ",", [T_COLON] = ":", [T_AT] = "@", [T_EQL] = "=",
    [T_EQL_REGEX] = "=~", [T_NEQ_REGEX] = "!~",
};

/* "unexpected <token>[ in <context>][, expected <what>]" at the current token, as parse.go. */
static int unexpected(parser *p, const char *context, const char *expected) {
    const pql_tok *t = &p->tok;
    char desc[80];
    int n = t->len > 24 ? 24 : (int)t->len;
    const char *txt = p->s + t->pos;
    if (t->t == T_EOF) snprintf(desc, sizeof desc, "end of input");
    else if (t->t == T_IDENT) snprintf(desc, sizeof desc, "identifier \"%.*s\"", n, txt);
    else if (t->t == T_METRIC_IDENT) snprintf(desc, sizeof desc, "metric identifier \"%.*s\"", n, txt);
    else if (t->t == T_NUMBER) snprintf(desc, sizeof desc, "number \"%.*s\"", n, txt);
    else if (t->t == T_DURATION) snprintf(desc, sizeof desc, "duration \"%.*s\"", n, txt);
    else if (t->t == T_STRING) snprintf(desc, sizeof desc, "string %.*s%s", n, txt, (int)t->len > n ? "..." : "");
    else if (T_IS_OP(t->t)) snprintf(desc, sizeof desc, "<op:%.*s>", n, txt);
    else if (T_IS_AGG(t->t)) snprintf(desc, sizeof desc, "<aggr:%.*s>", n, txt);
    else if (t->t < (int)(sizeof tok_text / sizeof tok_text[0]) && tok_text[t->t])
        snprintf(desc, sizeof desc, "\"%s\"", tok_text[t->t]);
    else snprintf(desc, sizeof desc, "<%.*s>", n, txt);
    return ERR(t->pos, "unexpected %s%s%s%s%s", desc, context ? " in " : "", context ? context : "",
               expected ? ", expected " : "", expected ? expected : "");
}

static pql_node *node_new(parser *p, int kind, uint32_t pos) {
    pql_node *n = ax_arena_alloc(p->a, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->pos = pos;
    n->end = pos;
    n->height = 1;
    return n;
}

/* Record the height of n from a child; AX_EINVAL past PQL_MAX_DEPTH. */
static int grow(parser *p, pql_node *n, const pql_node *child) {
    if (child && child->height + 1 > n->height) n->height = child->height + 1;
    if (n->height > PQL_MAX_DEPTH)
        return ERR(n->pos, "expression nesting exceeds the limit of %d", PQL_MAX_DEPTH);
    return 0;
}

static int dup_tok(parser *p, const pql_tok *t, pql_str *out) {
    char *d = ax_arena_alloc(p->a, t->len + 1);
    if (!d) return AX_ENOMEM;
    memcpy(d, p->s + t->pos, t->len);
    d[t->len] = 0;
    *out = (pql_str){d, t->len};
    return 0;
}

/* Grow an arena array of `size`-byte items holding n, to room for n+1. */
static int push(parser *p, void **arr, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return 0;
    if (n >= PQL_MAX_LIST) return ERR(p->tok.pos, "more than %d items in a list", PQL_MAX_LIST);
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = ax_arena_alloc(p->a, nc * size);
    if (!na) return AX_ENOMEM;
    if (n) memcpy(na, *arr, n * size);
    *arr = na;
    *cap = nc;
    return 0;
}

static int parse_expr(parser *p, int min_prec, pql_node **out);

/* ---- literals ---- */

static int number_value(parser *p, const pql_tok *t, double *out) {
    char buf[80];
    if (t->len >= sizeof buf) return ERR(t->pos, "error parsing number: \"%.*s...\"", 20, p->s + t->pos);
    memcpy(buf, p->s + t->pos, t->len);
    buf[t->len] = 0;
    size_t n = t->len;
    /* Go's strconv.ParseInt(s, 0, 64) first: 0x hex, leading-0 octal, decimal */
    bool intlike = true;
    for (size_t i = 0; i < n; i++) intlike &= (buf[i] >= '0' && buf[i] <= '9') || (i == 1 && (buf[i] == 'x' || buf[i] == 'X')) ||
                                              (i > 1 && (buf[1] == 'x' || buf[1] == 'X') && strchr("abcdefABCDEF", buf[i]));
    if (intlike && n > 1 && (buf[1] == 'x' || buf[1] == 'X')) {
        if (n == 2) return ERR(t->pos, "error parsing number: invalid syntax: \"%s\"", buf);
        errno = 0;
        unsigned long long v = strtoull(buf + 2, NULL, 16);
        if (errno || v > INT64_MAX) return ERR(t->pos, "error parsing number: value out of range: \"%s\"", buf);
        *out = (double)v;
        return 0;
    }
    if (intlike && n > 1 && buf[0] == '0') {
        bool oct = true;
        for (size_t i = 1; i < n; i++) oct &= buf[i] <= '7';
        errno = 0;
        unsigned long long v = oct ? strtoull(buf + 1, NULL, 8) : 0;
        if (oct && !errno && v <= INT64_MAX) { *out = (double)v; return 0; }
    }
    if (buf[0] != 'i' && buf[0] != 'I' && buf[0] != 'n' && buf[0] != 'N') {
        for (size_t i = 0; i < n; i++) /* the lexer let through only digits . e E + - here */
            if (!strchr("0123456789.eE+-", buf[i]))
                return ERR(t->pos, "error parsing number: invalid syntax: \"%s\"", buf);
    }
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + n) return ERR(t->pos, "error parsing number: invalid syntax: \"%s\"", buf);
    if (isinf(v) && buf[0] != 'i' && buf[0] != 'I')
        return ERR(t->pos, "error parsing number: value out of range: \"%s\"", buf);
    *out = v;
    return 0;
}

static int duration_value(parser *p, const pql_tok *t, int64_t *out) {
    if (!pql__duration(p->s + t->pos, t->len, out))
        return ERR(t->pos, "not a valid duration string: \"%.*s\"", (int)(t->len > 40 ? 40 : t->len), p->s + t->pos);
    if (*out == 0) return ERR(t->pos, "duration must be greater than 0");
    return 0;
}

/* ---- selectors ---- */

/* name (may be NULL) [ '{' matchers '}' ]; the current token is the name or '{'. */
static int parse_selector(parser *p, const pql_tok *name, pql_node **out) {
    pql_node *n = node_new(p, PQL_VECTOR_SEL, p->tok.pos);
    if (!n) return AX_ENOMEM;
    n->sel.m = ax_arena_alloc(p->a, PQL_MAX_MATCHERS * sizeof *n->sel.m);
    if (!n->sel.m) return AX_ENOMEM;
    n->sel.next_sel = p->sels;
    p->sels = n;
    int rc;
    if (name) {
        if ((rc = dup_tok(p, name, &n->sel.name))) return rc;
        n->sel.m[n->sel.n_m++] = (eng_matcher){ENG_MATCH_EQ, "__name__", 8, n->sel.name.p, n->sel.name.len, NULL};
        n->end = name->pos + name->len;
        if ((rc = next(p))) return rc;
    }
    if (p->tok.t == T_LBRACE) {
        if ((rc = next(p))) return rc;
        for (;;) {
            if (p->tok.t == T_RBRACE) break;
            if (p->tok.t != T_IDENT) return unexpected(p, "label matching", "identifier or \"}\"");
            pql_tok lt = p->tok;
            if ((rc = next(p))) return rc;
            int op;
            switch (p->tok.t) {
            case T_EQL: op = ENG_MATCH_EQ; break;
            case T_NEQ: op = ENG_MATCH_NEQ; break;
            case T_EQL_REGEX: op = ENG_MATCH_RE; break;
            case T_NEQ_REGEX: op = ENG_MATCH_NRE; break;
            default: return unexpected(p, "label matching", "label matching operator");
            }
            if ((rc = next(p))) return rc;
            if (p->tok.t != T_STRING) return unexpected(p, "label matching", "string");
            if (n->sel.n_m == PQL_MAX_MATCHERS)
                return ERR(lt.pos, "more than %d label matchers", PQL_MAX_MATCHERS);
            pql_str ln, lv;
            if ((rc = dup_tok(p, &lt, &ln))) return rc;
            if ((rc = pql__unquote(p->s, p->len, p->tok.pos, p->tok.len, p->a, &lv, p->e))) return rc;
            eng_matcher *m = &n->sel.m[n->sel.n_m];
            *m = (eng_matcher){op, ln.p, ln.len, lv.p, lv.len, NULL};
            ax_err ce = {0};
            if (eng_matcher_compile(m, &ce)) {
                m->re = NULL;
                return ERR(lt.pos, "%s", ce.msg);
            }
            n->sel.n_m++;
            if ((rc = next(p))) return rc;
            if (p->tok.t == T_COMMA) {
                if ((rc = next(p))) return rc;
                continue;
            }
            if (p->tok.t != T_RBRACE) return unexpected(p, "label matching", "\",\" or \"}\"");
        }
        n->end = p->tok.pos + 1;
        if ((rc = next(p))) return rc;
    }
    *out = n;
    return 0;
}

/* ---- lists ---- */

/* '(' [label {',' label} [',']] ')' for by/without/on/ignoring/group_x. */
static int parse_labels(parser *p, pql_str **out, size_t *n_out) {
    int rc;
    if (p->tok.t != T_LPAREN) return unexpected(p, "grouping opts", "\"(\"");
    if ((rc = next(p))) return rc;
    pql_str *arr = NULL;
    size_t n = 0, cap = 0;
    while (p->tok.t != T_RPAREN) {
        int t = p->tok.t;
        bool word = t == T_IDENT || T_IS_AGG(t) || t == T_LAND || t == T_LOR || t == T_LUNLESS ||
                    t == T_ATAN2 || (t >= T_OFFSET && t <= T_END);
        if (!word) return unexpected(p, "grouping opts", "label");
        if ((rc = push(p, (void **)&arr, &cap, n, sizeof *arr))) return rc;
        if ((rc = dup_tok(p, &p->tok, &arr[n]))) return rc;
        n++;
        if ((rc = next(p))) return rc;
        if (p->tok.t == T_COMMA) {
            if ((rc = next(p))) return rc;
        } else if (p->tok.t != T_RPAREN) return unexpected(p, "grouping opts", "\",\" or \")\"");
    }
    if ((rc = next(p))) return rc;
    *out = arr;
    *n_out = n;
    return 0;
}

/* '(' [expr {',' expr}] ')'. agg: an aggregation's parameters (Prometheus words a bad
 * token there "in aggregation"). OUT: args, *n_out; *end_out = byte after ')'. */
static int parse_args(parser *p, bool agg, pql_node ***out, size_t *n_out, uint32_t *end_out) {
    int rc;
    if (p->tok.t != T_LPAREN) return unexpected(p, "function call", "\"(\"");
    if ((rc = next(p))) return rc;
    pql_node **arr = NULL;
    size_t n = 0, cap = 0;
    if (p->tok.t != T_RPAREN) {
        for (;;) {
            if ((rc = push(p, (void **)&arr, &cap, n, sizeof *arr))) return rc;
            if ((rc = parse_expr(p, 0, &arr[n]))) return rc;
            n++;
            if (p->tok.t == T_RPAREN) break;
            if (p->tok.t != T_COMMA)
                return agg ? unexpected(p, "aggregation", NULL)
                           : unexpected(p, "function call", "\",\" or \")\"");
            if ((rc = next(p))) return rc;
            if (p->tok.t == T_RPAREN) return ERR(p->tok.pos, "trailing commas not allowed in function call args");
        }
    }
    *end_out = p->tok.pos + 1;
    if ((rc = next(p))) return rc;
    *out = arr;
    *n_out = n;
    return 0;
}

static int parse_agg(parser *p, pql_node **out) {
    pql_node *n = node_new(p, PQL_AGG, p->tok.pos);
    if (!n) return AX_ENOMEM;
    n->agg.op = p->tok.t - T_SUM;
    int rc = next(p);
    bool have_mod = false;
    if (!rc && (p->tok.t == T_BY || p->tok.t == T_WITHOUT)) {
        n->agg.without = p->tok.t == T_WITHOUT;
        have_mod = true;
        if (!(rc = next(p))) rc = parse_labels(p, &n->agg.grouping, &n->agg.n_grouping);
    }
    if (rc) return rc;
    if (p->tok.t != T_LPAREN) return unexpected(p, "aggregation", "\"(\"");
    pql_node **args = NULL;
    size_t na = 0;
    uint32_t end = 0;
    if ((rc = parse_args(p, true, &args, &na, &end))) return rc;
    n->end = end;
    if (!have_mod && (p->tok.t == T_BY || p->tok.t == T_WITHOUT)) {
        n->agg.without = p->tok.t == T_WITHOUT;
        if (!(rc = next(p))) rc = parse_labels(p, &n->agg.grouping, &n->agg.n_grouping);
        if (rc) return rc;
    }
    if (na == 0) return ERR(n->pos, "no arguments for aggregate expression provided");
    size_t want = n->agg.op >= PQL_AGG_TOPK ? 2 : 1;
    if (na != want)
        return ERR(n->pos, "wrong number of arguments for aggregate expression provided, expected %zu, got %zu", want, na);
    if (want == 2) n->agg.param = args[0];
    n->agg.expr = args[want - 1];
    for (size_t i = 0; i < na; i++)
        if ((rc = grow(p, n, args[i]))) return rc;
    *out = n;
    return 0;
}

static int parse_call(parser *p, pql_node **out) {
    pql_tok name = p->tok;
    const pql_func *fn = pql_func_lookup(p->s + name.pos, name.len);
    if (!fn) return ERR(name.pos, "unknown function with name \"%.*s\"", (int)(name.len > 64 ? 64 : name.len), p->s + name.pos);
    pql_node *n = node_new(p, PQL_CALL, name.pos);
    if (!n) return AX_ENOMEM;
    n->call.fn = fn;
    int rc = next(p);
    if (!rc) rc = parse_args(p, false, &n->call.args, &n->call.n_args, &n->end);
    for (size_t i = 0; !rc && i < n->call.n_args; i++) rc = grow(p, n, n->call.args[i]);
    if (rc) return rc;
    *out = n;
    return 0;
}

/* ---- postfix: [range], [range:step], offset, @ ---- */

static int set_offset(parser *p, pql_node *x, int64_t off, uint32_t pos) {
    int64_t *slot;
    if (x->kind == PQL_VECTOR_SEL) slot = &x->sel.offset_ms;
    else if (x->kind == PQL_MATRIX_SEL) slot = &x->matrix.vs->sel.offset_ms;
    else if (x->kind == PQL_SUBQUERY) slot = &x->subq.offset_ms;
    else return ERR(x->pos, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
    if (*slot) return ERR(x->pos, "offset may not be set multiple times"); /* Prometheus: the expression's position */
    *slot = off;
    return 0;
}

static int set_at(parser *p, pql_node *x, int at, int64_t ms, uint32_t pos) {
    int *slot;
    int64_t *ts;
    if (x->kind == PQL_VECTOR_SEL) { slot = &x->sel.at; ts = &x->sel.at_ms; }
    else if (x->kind == PQL_MATRIX_SEL) { slot = &x->matrix.vs->sel.at; ts = &x->matrix.vs->sel.at_ms; }
    else if (x->kind == PQL_SUBQUERY) { slot = &x->subq.at; ts = &x->subq.at_ms; }
    else return ERR(x->pos, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
    if (*slot) return ERR(x->pos, "@ <timestamp> may not be set multiple times");
    *slot = at;
    *ts = ms;
    return 0;
}

static int parse_postfix(parser *p, pql_node **xp) {
    int rc;
    for (;;) {
        pql_node *x = *xp;
        if (p->tok.t == T_LBRACKET) {
            if ((rc = next(p))) return rc;
            if (p->tok.t != T_DURATION) return unexpected(p, "subquery or range", "duration");
            int64_t range;
            if ((rc = duration_value(p, &p->tok, &range))) return rc;
            if ((rc = next(p))) return rc;
            if (p->tok.t == T_COLON) {
                int64_t step = 0;
                if ((rc = next(p))) return rc;
                bool have_step = p->tok.t == T_DURATION;
                if (have_step) {
                    if ((rc = duration_value(p, &p->tok, &step))) return rc;
                    if ((rc = next(p))) return rc;
                }
                if (p->tok.t != T_RBRACKET)
                    return unexpected(p, "subquery selector", have_step ? "\"]\"" : "duration or \"]\"");
                pql_node *n = node_new(p, PQL_SUBQUERY, x->pos);
                if (!n) return AX_ENOMEM;
                n->subq.expr = x;
                n->subq.range_ms = range;
                n->subq.step_ms = step;
                n->end = p->tok.pos + 1;
                if ((rc = grow(p, n, x))) return rc;
                *xp = n;
            } else {
                if (p->tok.t != T_RBRACKET) return unexpected(p, "range selector", "\"]\" or \":\"");
                if (x->kind != PQL_VECTOR_SEL) return ERR(x->pos, "ranges only allowed for vector selectors");
                if (x->sel.offset_ms) return ERR(x->pos, "no offset modifiers allowed before range");
                if (x->sel.at) return ERR(x->pos, "no @ modifiers allowed before range");
                pql_node *n = node_new(p, PQL_MATRIX_SEL, x->pos);
                if (!n) return AX_ENOMEM;
                n->matrix.vs = x;
                n->matrix.range_ms = range;
                n->end = p->tok.pos + 1;
                if ((rc = grow(p, n, x))) return rc;
                *xp = n;
            }
            if ((rc = next(p))) return rc;
        } else if (p->tok.t == T_OFFSET) {
            uint32_t pos = p->tok.pos;
            if ((rc = next(p))) return rc;
            bool neg = false;
            if (p->tok.t == T_SUB) {
                neg = true;
                if ((rc = next(p))) return rc;
            }
            if (p->tok.t != T_DURATION) return unexpected(p, "offset", "duration");
            int64_t off;
            if ((rc = duration_value(p, &p->tok, &off))) return rc;
            if ((rc = set_offset(p, x, neg ? -off : off, pos))) return rc;
            x->end = p->tok.pos + p->tok.len;
            if ((rc = next(p))) return rc;
        } else if (p->tok.t == T_AT) {
            uint32_t pos = p->tok.pos;
            if ((rc = next(p))) return rc;
            if (p->tok.t == T_START || p->tok.t == T_END) {
                int at = p->tok.t == T_START ? PQL_AT_START : PQL_AT_END;
                if ((rc = next(p))) return rc;
                if (p->tok.t != T_LPAREN) return unexpected(p, "@", "\"(\"");
                if ((rc = next(p))) return rc;
                if (p->tok.t != T_RPAREN) return unexpected(p, "@", "\")\"");
                if ((rc = set_at(p, x, at, 0, pos))) return rc;
            } else {
                bool neg = false;
                if (p->tok.t == T_SUB || p->tok.t == T_ADD) {
                    neg = p->tok.t == T_SUB;
                    if ((rc = next(p))) return rc;
                }
                if (p->tok.t != T_NUMBER) return unexpected(p, "@", "timestamp");
                double v;
                if ((rc = number_value(p, &p->tok, &v))) return rc;
                if (neg) v = -v;
                /* 2^50 ms keeps the printed seconds exact when read back */
                if (!(fabs(v * 1000) < 1125899906842624.0))
                    return ERR(p->tok.pos, "timestamp out of bounds for @ modifier: %f", v);
                if ((rc = set_at(p, x, PQL_AT_TS, llround(v * 1000), pos))) return rc;
            }
            x->end = p->tok.pos + p->tok.len;
            if ((rc = next(p))) return rc;
        } else {
            return 0;
        }
    }
}

/* ---- expressions ---- */

static int parse_primary(parser *p, pql_node **out) {
    int rc = 0;
    pql_node *n = NULL;
    int t = p->tok.t;
    pql_tok nx;
    switch (t) {
    case T_NUMBER: {
        if (!(n = node_new(p, PQL_NUMBER, p->tok.pos))) return AX_ENOMEM;
        if ((rc = number_value(p, &p->tok, &n->number))) return rc;
        n->end = p->tok.pos + p->tok.len;
        rc = next(p);
        break;
    }
    case T_STRING:
        if (!(n = node_new(p, PQL_STRING, p->tok.pos))) return AX_ENOMEM;
        if ((rc = pql__unquote(p->s, p->len, p->tok.pos, p->tok.len, p->a, &n->string, p->e))) return rc;
        n->end = p->tok.pos + p->tok.len;
        rc = next(p);
        break;
    case T_LPAREN: {
        if (!(n = node_new(p, PQL_PAREN, p->tok.pos))) return AX_ENOMEM;
        if ((rc = next(p))) return rc;
        if ((rc = parse_expr(p, 0, &n->paren.expr))) return rc;
        if (p->tok.t != T_RPAREN) return unexpected(p, "paren expression", "\")\"");
        n->end = p->tok.pos + 1;
        if ((rc = grow(p, n, n->paren.expr))) return rc;
        rc = next(p);
        break;
    }
    case T_LBRACE:
        rc = parse_selector(p, NULL, &n);
        break;
    case T_IDENT:
        peek(p, &nx);
        if (nx.t == T_LPAREN) rc = parse_call(p, &n);
        else {
            pql_tok name = p->tok;
            rc = parse_selector(p, &name, &n);
        }
        break;
    default:
        if (T_IS_AGG(t)) {
            peek(p, &nx);
            if (nx.t == T_LPAREN || nx.t == T_BY || nx.t == T_WITHOUT) {
                rc = parse_agg(p, &n);
                break;
            }
        }
        /* keywords usable as metric names, as the grammar's metric_identifier */
        if (t == T_METRIC_IDENT || T_IS_AGG(t) || t == T_BY || t == T_WITHOUT || t == T_OFFSET ||
            t == T_LAND || t == T_LOR || t == T_LUNLESS || t == T_START || t == T_END) {
            pql_tok name = p->tok;
            rc = parse_selector(p, &name, &n);
            break;
        }
        return unexpected(p, NULL, NULL);
    }
    if (rc) return rc;
    if ((rc = parse_postfix(p, &n))) return rc;
    *out = n;
    return 0;
}

static int prec_of(int t) {
    switch (t) {
    case T_LOR: return 1;
    case T_LAND: case T_LUNLESS: return 2;
    case T_EQLC: case T_NEQ: case T_LTE: case T_LSS: case T_GTE: case T_GTR: return 3;
    case T_ADD: case T_SUB: return 4;
    case T_MUL: case T_DIV: case T_MOD: case T_ATAN2: return 5;
    case T_POW: return 6;
    default: return 0;
    }
}

static int parse_unary(parser *p, pql_node **out) {
    int t = p->tok.t;
    if (t != T_ADD && t != T_SUB) return parse_primary(p, out);
    uint32_t pos = p->tok.pos;
    int rc = next(p);
    if (rc) return rc;
    if (++p->depth > 2 * PQL_MAX_DEPTH + 4) return ERR(pos, "expression nesting exceeds the limit of %d", PQL_MAX_DEPTH);
    pql_node *x;
    rc = parse_expr(p, 6, &x); /* binds like *: only ^ (and postfix) bind tighter */
    p->depth--;
    if (rc) return rc;
    if (x->kind == PQL_NUMBER) {
        if (t == T_SUB) x->number = -x->number;
        x->pos = pos;
        *out = x;
        return 0;
    }
    pql_node *n = node_new(p, PQL_UNARY, pos);
    if (!n) return AX_ENOMEM;
    n->unary.op = t == T_SUB ? PQL_OP_SUB : PQL_OP_ADD;
    n->unary.expr = x;
    n->end = x->end;
    if ((rc = grow(p, n, x))) return rc;
    *out = n;
    return 0;
}

static int parse_expr(parser *p, int min_prec, pql_node **out) {
    if (++p->depth > 2 * PQL_MAX_DEPTH + 4)
        return ERR(p->tok.pos, "expression nesting exceeds the limit of %d", PQL_MAX_DEPTH);
    pql_node *lhs = NULL;
    int rc = parse_unary(p, &lhs);
    while (!rc) {
        int t = p->tok.t, prec = prec_of(t);
        if (!prec || prec < min_prec) break;
        pql_node *n = node_new(p, PQL_BINARY, lhs->pos);
        if (!n) { rc = AX_ENOMEM; break; }
        n->bin.op = t - T_ADD;
        n->bin.op_pos = p->tok.pos;
        n->bin.lhs = lhs;
        if ((rc = next(p))) break;
        if (p->tok.t == T_BOOL) {
            n->bin.return_bool = true;
            if ((rc = next(p))) break;
        }
        if (p->tok.t == T_ON || p->tok.t == T_IGNORING) {
            n->bin.on = p->tok.t == T_ON;
            if ((rc = next(p))) break;
            if ((rc = parse_labels(p, &n->bin.matching, &n->bin.n_matching))) break;
            if (p->tok.t == T_GROUP_LEFT || p->tok.t == T_GROUP_RIGHT) {
                n->bin.card = p->tok.t == T_GROUP_LEFT ? PQL_CARD_MANY_TO_ONE : PQL_CARD_ONE_TO_MANY;
                if ((rc = next(p))) break;
                if (p->tok.t == T_LPAREN && (rc = parse_labels(p, &n->bin.include, &n->bin.n_include))) break;
            }
        }
        if (t == T_LAND || t == T_LOR || t == T_LUNLESS) {
            if (n->bin.card == PQL_CARD_ONE_TO_ONE) n->bin.card = PQL_CARD_MANY_TO_MANY;
        }
        if ((rc = parse_expr(p, t == T_POW ? prec : prec + 1, &n->bin.rhs))) break;
        n->end = n->bin.rhs->end;
        if ((rc = grow(p, n, lhs)) || (rc = grow(p, n, n->bin.rhs))) break;
        lhs = n;
    }
    p->depth--;
    if (!rc) *out = lhs;
    return rc;
}

/* ---- type checking (parse.go's checkAST) ---- */

static const char *doc_type(int t) {
    switch (t) {
    case PQL_T_SCALAR: return "scalar";
    case PQL_T_VECTOR: return "instant vector";
    case PQL_T_MATRIX: return "range vector";
    case PQL_T_STRING: return "string";
    default: return "none";
    }
}

/* forecast*(v, horizon [, "model" [, coverage]]): literal arguments are checked here so a
 * bad one is a 400 with the call's position, not an evaluation error. */
static int check_forecast(parser *p, const pql_node *n) {
    const pql_node *h = n->call.args[1];
    while (h->kind == PQL_PAREN) h = h->paren.expr;
    if (h->kind == PQL_NUMBER && !(h->number > 0 && isfinite(h->number)))
        return ERR(h->pos, "the horizon of \"%s\" must be a positive number of seconds, got %g",
                   n->call.fn->name, h->number);
    if (n->call.n_args > 2) {
        const pql_node *m = n->call.args[2];
        while (m->kind == PQL_PAREN) m = m->paren.expr;
        if (m->kind == PQL_STRING && fc_model_parse(m->string.p, m->string.len) < 0)
            return ERR(m->pos, "unknown model \"%.*s\" in call to \"%s\" (models: auto, seasonal, "
                       "holt_winters, seasonal_naive, drift, linear, naive)",
                       (int)(m->string.len > 64 ? 64 : m->string.len), m->string.p, n->call.fn->name);
    }
    if (n->call.n_args > 3) {
        const pql_node *c = n->call.args[3];
        while (c->kind == PQL_PAREN) c = c->paren.expr;
        if (c->kind == PQL_NUMBER && !(c->number > 0 && c->number < 1))
            return ERR(c->pos, "the coverage of \"%s\" must be between 0 and 1, got %g",
                       n->call.fn->name, c->number);
    }
    return 0;
}

static int check(parser *p, pql_node *n);

static int expect_type(parser *p, pql_node *n, int want, const char *ctx, const char *fname) {
    int rc = check(p, n);
    if (rc) return rc;
    int t = pql_node_type(n);
    if (t != want) {
        if (fname) return ERR(n->pos, "expected type %s in call to function \"%s\", got %s", doc_type(want), fname, doc_type(t));
        return ERR(n->pos, "expected type %s in %s, got %s", doc_type(want), ctx, doc_type(t));
    }
    return 0;
}

static bool is_cmp(int op) { return op >= PQL_OP_EQLC && op <= PQL_OP_GTR; }
static bool is_set(int op) { return op >= PQL_OP_AND; }

static int check(parser *p, pql_node *n) {
    int rc;
    switch (n->kind) {
    case PQL_AGG:
        if ((rc = expect_type(p, n->agg.expr, PQL_T_VECTOR, "aggregation expression", NULL))) return rc;
        if (n->agg.op == PQL_AGG_TOPK || n->agg.op == PQL_AGG_BOTTOMK || n->agg.op == PQL_AGG_QUANTILE)
            return expect_type(p, n->agg.param, PQL_T_SCALAR, "aggregation parameter", NULL);
        if (n->agg.op == PQL_AGG_COUNT_VALUES)
            return expect_type(p, n->agg.param, PQL_T_STRING, "aggregation parameter", NULL);
        return 0;
    case PQL_BINARY: {
        if ((rc = check(p, n->bin.lhs)) || (rc = check(p, n->bin.rhs))) return rc;
        int lt = pql_node_type(n->bin.lhs), rt = pql_node_type(n->bin.rhs), op = n->bin.op;
        uint32_t opos = n->bin.op_pos;
        if (n->bin.return_bool && !is_cmp(op))
            return ERR(opos, "bool modifier can only be used on comparison operators");
        if (is_cmp(op) && !n->bin.return_bool && lt == PQL_T_SCALAR && rt == PQL_T_SCALAR)
            return ERR(opos, "comparisons between scalars must use BOOL modifier");
        if (n->bin.on)
            for (size_t i = 0; i < n->bin.n_matching; i++)
                for (size_t j = 0; j < n->bin.n_include; j++)
                    if (n->bin.matching[i].len == n->bin.include[j].len &&
                        !memcmp(n->bin.matching[i].p, n->bin.include[j].p, n->bin.include[j].len))
                        return ERR(opos, "label \"%s\" must not occur in ON and GROUP clause at once", n->bin.include[j].p);
        if (lt != PQL_T_SCALAR && lt != PQL_T_VECTOR)
            return ERR(n->bin.lhs->pos, "binary expression must contain only scalar and instant vector types");
        if (rt != PQL_T_SCALAR && rt != PQL_T_VECTOR)
            return ERR(n->bin.rhs->pos, "binary expression must contain only scalar and instant vector types");
        if (lt != PQL_T_VECTOR || rt != PQL_T_VECTOR) {
            if (n->bin.n_matching) return ERR(n->pos, "vector matching only allowed between instant vectors");
            /* Prometheus drops the matching here: nothing of it is printed or used */
            n->bin.on = false;
            n->bin.card = PQL_CARD_ONE_TO_ONE;
            n->bin.n_include = 0;
        } else if (is_set(op)) {
            if (n->bin.card == PQL_CARD_ONE_TO_MANY || n->bin.card == PQL_CARD_MANY_TO_ONE)
                return ERR(n->pos, "no grouping allowed for \"%s\" operation", pql_op_name(op));
        }
        if ((lt == PQL_T_SCALAR || rt == PQL_T_SCALAR) && is_set(op))
            return ERR(n->pos, "set operator \"%s\" not allowed in binary scalar expression", pql_op_name(op));
        return 0;
    }
    case PQL_CALL: {
        const pql_func *f = n->call.fn;
        int na = f->n_args;
        size_t got = n->call.n_args;
        if (f->min_args) {
            if (got < (size_t)f->min_args || got > (size_t)na)
                return ERR(n->pos, "expected %d to %d argument(s) in call to \"%s\", got %zu",
                           f->min_args, na, f->name, got);
        } else if (f->variadic == 0) {
            if ((size_t)na != got)
                return ERR(n->pos, "expected %d argument(s) in call to \"%s\", got %zu", na, f->name, got);
        } else {
            if ((size_t)(na - 1) > got)
                return ERR(n->pos, "expected at least %d argument(s) in call to \"%s\", got %zu", na - 1, f->name, got);
            if (f->variadic > 0 && (size_t)(na - 1 + f->variadic) < got)
                return ERR(n->pos, "expected at most %d argument(s) in call to \"%s\", got %zu", na - 1 + f->variadic, f->name, got);
        }
        for (size_t i = 0; i < got; i++) {
            size_t k = i;
            if (k >= (size_t)na) {
                if (f->variadic == 0) break;
                k = (size_t)na - 1;
            }
            if ((rc = expect_type(p, n->call.args[i], f->arg_types[k], NULL, f->name))) return rc;
        }
        if (!strncmp(f->name, "forecast", 8)) return check_forecast(p, n);
        return 0;
    }
    case PQL_PAREN:
        return check(p, n->paren.expr);
    case PQL_UNARY: {
        if ((rc = check(p, n->unary.expr))) return rc;
        int t = pql_node_type(n->unary.expr);
        if (t != PQL_T_SCALAR && t != PQL_T_VECTOR)
            return ERR(n->pos, "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"", doc_type(t));
        return 0;
    }
    case PQL_SUBQUERY:
        if ((rc = check(p, n->subq.expr))) return rc;
        if (pql_node_type(n->subq.expr) != PQL_T_VECTOR)
            return ERR(n->pos, "subquery is only allowed on instant vector, got %s instead", pql_type_name(pql_node_type(n->subq.expr)));
        return 0;
    case PQL_MATRIX_SEL:
        return check(p, n->matrix.vs);
    case PQL_VECTOR_SEL: {
        if (n->sel.name.len) {
            for (size_t i = 1; i < n->sel.n_m; i++)
                if (n->sel.m[i].name_len == 8 && !memcmp(n->sel.m[i].name, "__name__", 8))
                    return ERR(n->pos, "metric name must not be set twice: \"%s\" or \"%.*s\"", n->sel.name.p,
                               (int)(n->sel.m[i].value_len > 64 ? 64 : n->sel.m[i].value_len), n->sel.m[i].value);
            return 0;
        }
        for (size_t i = 0; i < n->sel.n_m; i++)
            if (!eng_matcher_match(&n->sel.m[i], "", 0)) return 0;
        return ERR(n->pos, "vector selector must contain at least one non-empty matcher");
    }
    default:
        return 0;
    }
}

static void free_sels(pql_node *s) {
    for (; s; s = s->sel.next_sel) pql_matchers_free(s->sel.m, s->sel.n_m);
}

int pql_parse(const char *q, size_t len, ax_arena *a, pql_node **out, ax_err *e) {
    if (len > PQL_MAX_QUERY_LEN)
        return ax_err_set(e, AX_ETOOBIG, "query of %zu bytes exceeds the limit of %u", len, PQL_MAX_QUERY_LEN);
    parser p = {.s = q, .len = len, .lx = {.s = q, .len = len}, .a = a, .e = e};
    pql_node *root = NULL;
    int rc = next(&p);
    if (!rc && p.tok.t == T_EOF) rc = pql__errf(e, q, len, 0, "no expression found in input");
    if (!rc) rc = parse_expr(&p, 0, &root);
    if (!rc && p.tok.t != T_EOF) rc = unexpected(&p, NULL, NULL);
    if (!rc) rc = check(&p, root);
    if (rc == AX_ENOMEM) ax_err_set(e, AX_ENOMEM, "query needs more memory than its budget");
    if (rc) {
        free_sels(p.sels);
        return rc;
    }
    *out = root;
    return 0;
}
