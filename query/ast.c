/* query/ast.c: the PromQL function table, result types, the printer, and cleanup.
 *
 * The printer reproduces Prometheus 2.42's Expr.String() (promql/parser/printer.go): matchers
 * sorted as strings, the metric name outside the braces, `sum by (job) (x)`, binary operators
 * spaced, numbers as Go's fmt.Sprint(float64) ("1e+06", "+Inf", "NaN"), strings quoted as Go's
 * %q, durations as model.Duration ("1h30m", "90s" -> "1m30s"), @ as seconds with three
 * decimals. One deliberate difference: `ignoring () group_left ()` is printed (Prometheus
 * 2.42 drops an empty ignoring() even when a group modifier follows; later versions fixed it).
 * Go's %q escapes every non-printable rune; here "printable" is ASCII 0x20..0x7e and every
 * code point from U+00A0 except U+00AD (Go's unicode.IsPrint has a finer table).
 */
#include "query/pql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S = PQL_T_SCALAR, V = PQL_T_VECTOR, M = PQL_T_MATRIX, STR = PQL_T_STRING };

/* name, argument types, n_args, variadic, return type (Prometheus' parser.Functions) */
static const pql_func funcs[] = {
    {"abs", {V}, 1, 0, V, 0},
    {"absent", {V}, 1, 0, V, 0},
    {"absent_over_time", {M}, 1, 0, V, 0},
    {"acos", {V}, 1, 0, V, 0},
    {"acosh", {V}, 1, 0, V, 0},
    {"asin", {V}, 1, 0, V, 0},
    {"asinh", {V}, 1, 0, V, 0},
    {"atan", {V}, 1, 0, V, 0},
    {"atanh", {V}, 1, 0, V, 0},
    {"avg_over_time", {M}, 1, 0, V, 0},
    {"ceil", {V}, 1, 0, V, 0},
    {"changes", {M}, 1, 0, V, 0},
    {"clamp", {V, S, S}, 3, 0, V, 0},
    {"clamp_max", {V, S}, 2, 0, V, 0},
    {"clamp_min", {V, S}, 2, 0, V, 0},
    {"cos", {V}, 1, 0, V, 0},
    {"cosh", {V}, 1, 0, V, 0},
    {"count_over_time", {M}, 1, 0, V, 0},
    {"day_of_month", {V}, 1, 1, V, 0},
    {"day_of_week", {V}, 1, 1, V, 0},
    {"day_of_year", {V}, 1, 1, V, 0},
    {"days_in_month", {V}, 1, 1, V, 0},
    {"deg", {V}, 1, 0, V, 0},
    {"delta", {M}, 1, 0, V, 0},
    {"deriv", {M}, 1, 0, V, 0},
    {"exp", {V}, 1, 0, V, 0},
    {"floor", {V}, 1, 0, V, 0},
    /* auspex: forecast(v range-vector, horizon_s [, model [, coverage]]) */
    {"forecast", {M, S, STR, S}, 4, 0, V, 2},
    {"forecast_lower", {M, S, STR, S}, 4, 0, V, 2},
    {"forecast_upper", {M, S, STR, S}, 4, 0, V, 2},
    {"histogram_quantile", {S, V}, 2, 0, V, 0},
    {"holt_winters", {M, S, S}, 3, 0, V, 0},
    {"hour", {V}, 1, 1, V, 0},
    {"idelta", {M}, 1, 0, V, 0},
    {"increase", {M}, 1, 0, V, 0},
    {"irate", {M}, 1, 0, V, 0},
    {"label_join", {V, STR, STR, STR}, 4, -1, V, 0},
    {"label_replace", {V, STR, STR, STR, STR}, 5, 0, V, 0},
    {"last_over_time", {M}, 1, 0, V, 0},
    {"ln", {V}, 1, 0, V, 0},
    {"log10", {V}, 1, 0, V, 0},
    {"log2", {V}, 1, 0, V, 0},
    {"mad_over_time", {M}, 1, 0, V, 0}, /* Prometheus 2.51, used by its 2.53 tests */
    {"max_over_time", {M}, 1, 0, V, 0},
    {"min_over_time", {M}, 1, 0, V, 0},
    {"minute", {V}, 1, 1, V, 0},
    {"month", {V}, 1, 1, V, 0},
    {"pi", {0}, 0, 0, S, 0},
    {"predict_linear", {M, S}, 2, 0, V, 0},
    {"present_over_time", {M}, 1, 0, V, 0},
    {"quantile_over_time", {S, M}, 2, 0, V, 0},
    {"rad", {V}, 1, 0, V, 0},
    {"rate", {M}, 1, 0, V, 0},
    {"resets", {M}, 1, 0, V, 0},
    {"round", {V, S}, 2, 1, V, 0},
    {"scalar", {V}, 1, 0, S, 0},
    {"sgn", {V}, 1, 0, V, 0},
    {"sin", {V}, 1, 0, V, 0},
    {"sinh", {V}, 1, 0, V, 0},
    {"sort", {V}, 1, 0, V, 0},
    {"sort_by_label", {V, STR}, 2, -1, V, 0},      /* Prometheus 2.49 (experimental) */
    {"sort_by_label_desc", {V, STR}, 2, -1, V, 0}, /* Prometheus 2.49 (experimental) */
    {"sort_desc", {V}, 1, 0, V, 0},
    {"sqrt", {V}, 1, 0, V, 0},
    {"stddev_over_time", {M}, 1, 0, V, 0},
    {"stdvar_over_time", {M}, 1, 0, V, 0},
    {"sum_over_time", {M}, 1, 0, V, 0},
    {"tan", {V}, 1, 0, V, 0},
    {"tanh", {V}, 1, 0, V, 0},
    {"time", {0}, 0, 0, S, 0},
    {"timestamp", {V}, 1, 0, V, 0},
    {"vector", {S}, 1, 0, V, 0},
    {"year", {V}, 1, 1, V, 0},
};

const pql_func *pql_func_lookup(const char *name, size_t len) {
    size_t lo = 0, hi = sizeof funcs / sizeof funcs[0];
    while (lo < hi) { /* the table is sorted by name */
        size_t mid = (lo + hi) / 2;
        int c = strncmp(funcs[mid].name, name, len);
        if (c == 0 && funcs[mid].name[len]) c = 1;
        if (c == 0) return &funcs[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static const char *const op_names[] = {"+", "-", "*", "/", "%", "^", "atan2", "==", "!=", "<=", "<",
                                       ">=", ">", "and", "or", "unless"};
static const char *const agg_names[] = {"sum", "avg", "count", "min", "max", "group", "stddev",
                                        "stdvar", "topk", "bottomk", "count_values", "quantile"};

const char *pql_op_name(int op) {
    return op >= 0 && op < (int)(sizeof op_names / sizeof op_names[0]) ? op_names[op] : "?";
}
const char *pql_type_name(int t) {
    switch (t) {
    case PQL_T_SCALAR: return "scalar";
    case PQL_T_VECTOR: return "vector";
    case PQL_T_MATRIX: return "matrix";
    case PQL_T_STRING: return "string";
    default: return "none";
    }
}

const char *pql_agg_name(int op) {
    return op >= 0 && op < (int)(sizeof agg_names / sizeof agg_names[0]) ? agg_names[op] : "?";
}

int pql_node_type(const pql_node *n) {
    switch (n->kind) {
    case PQL_NUMBER: return PQL_T_SCALAR;
    case PQL_STRING: return PQL_T_STRING;
    case PQL_VECTOR_SEL: return PQL_T_VECTOR;
    case PQL_MATRIX_SEL: return PQL_T_MATRIX;
    case PQL_SUBQUERY: return PQL_T_MATRIX;
    case PQL_CALL: return n->call.fn->ret;
    case PQL_AGG: return PQL_T_VECTOR;
    case PQL_BINARY:
        return pql_node_type(n->bin.lhs) == PQL_T_SCALAR && pql_node_type(n->bin.rhs) == PQL_T_SCALAR
                   ? PQL_T_SCALAR : PQL_T_VECTOR;
    case PQL_UNARY: return pql_node_type(n->unary.expr);
    case PQL_PAREN: return pql_node_type(n->paren.expr);
    default: return PQL_T_NONE;
    }
}

void pql_node_free(pql_node *n) {
    if (!n) return;
    switch (n->kind) {
    case PQL_VECTOR_SEL: pql_matchers_free(n->sel.m, n->sel.n_m); break;
    case PQL_MATRIX_SEL: pql_node_free(n->matrix.vs); break;
    case PQL_SUBQUERY: pql_node_free(n->subq.expr); break;
    case PQL_CALL: for (size_t i = 0; i < n->call.n_args; i++) pql_node_free(n->call.args[i]); break;
    case PQL_AGG: pql_node_free(n->agg.param); pql_node_free(n->agg.expr); break;
    case PQL_BINARY: pql_node_free(n->bin.lhs); pql_node_free(n->bin.rhs); break;
    case PQL_UNARY: pql_node_free(n->unary.expr); break;
    case PQL_PAREN: pql_node_free(n->paren.expr); break;
    default: break;
    }
}

/* ---- Go-compatible formatting ---- */

int pql__float(ax_buf *b, double v) {
    if (isnan(v)) return ax_buf_append_str(b, "NaN");
    if (isinf(v)) return ax_buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    if (v == 0) return ax_buf_append_str(b, signbit(v) ? "-0" : "0");
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) { /* shortest digits that read back as v */
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e is [-]d[.ddd]e[+-]XX */
    const char *s = e;
    bool neg = *s == '-';
    if (neg) s++;
    char dig[20];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') dig[nd++] = *s;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    int exp = atoi(s + 1);
    char out[64];
    int k = 0;
    if (neg) out[k++] = '-';
    if (exp < -4 || exp >= 6) { /* Go's %v: shortest 'g' switches to %e at exponent 6 */
        out[k++] = dig[0];
        if (nd > 1) {
            out[k++] = '.';
            for (int i = 1; i < nd; i++) out[k++] = dig[i];
        }
        k += snprintf(out + k, sizeof out - (size_t)k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = -1; i > exp; i--) out[k++] = '0';
        for (int i = 0; i < nd; i++) out[k++] = dig[i];
    } else {
        for (int i = 0; i <= exp || i < nd; i++) {
            if (i == exp + 1) out[k++] = '.';
            out[k++] = i < nd ? dig[i] : '0';
        }
    }
    return ax_buf_append(b, out, (size_t)k);
}

static bool printable(uint32_t r) {
    if (r < 0x80) return r >= 0x20 && r < 0x7f;
    return r >= 0xa0 && r != 0xad && !(r >= 0xd800 && r <= 0xdfff) && r <= 0x10ffff;
}

/* Decode one UTF-8 sequence at s (n bytes left). OUT: *r. Returns its length, or 0 (invalid). */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *r) {
    if (s[0] < 0x80) { *r = s[0]; return 1; }
    size_t l = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (!l || l > n || !ax_utf8_valid((const char *)s, l)) return 0;
    uint32_t c = s[0] & (0x7f >> l);
    for (size_t i = 1; i < l; i++) c = c << 6 | (s[i] & 0x3f);
    *r = c;
    return l;
}

int pql__quote(ax_buf *b, const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    int rc = ax_buf_append(b, "\"", 1);
    for (size_t i = 0; i < len && !rc;) {
        uint32_t r;
        size_t l = utf8_dec(s + i, len - i, &r);
        if (!l) { rc = ax_buf_printf(b, "\\x%02x", s[i]); i++; continue; }
        if (r == '"' || r == '\\') rc = ax_buf_printf(b, "\\%c", (char)r);
        else if (printable(r)) rc = ax_buf_append(b, s + i, l);
        else {
            switch (r) {
            case '\a': rc = ax_buf_append_str(b, "\\a"); break;
            case '\b': rc = ax_buf_append_str(b, "\\b"); break;
            case '\f': rc = ax_buf_append_str(b, "\\f"); break;
            case '\n': rc = ax_buf_append_str(b, "\\n"); break;
            case '\r': rc = ax_buf_append_str(b, "\\r"); break;
            case '\t': rc = ax_buf_append_str(b, "\\t"); break;
            case '\v': rc = ax_buf_append_str(b, "\\v"); break;
            default:
                if (r < 0x20 || r == 0x7f) rc = ax_buf_printf(b, "\\x%02x", r);
                else if (r < 0x10000) rc = ax_buf_printf(b, "\\u%04x", r);
                else rc = ax_buf_printf(b, "\\U%08x", r);
            }
        }
        i += l;
    }
    return rc ? rc : ax_buf_append(b, "\"", 1);
}

int pql__dur(ax_buf *b, int64_t ms) {
    if (ms == 0) return ax_buf_append_str(b, "0s");
    static const struct { const char *u; int64_t mult; bool exact; } units[] = {
        {"y", 365LL * 86400000, true}, {"w", 7LL * 86400000, true}, {"d", 86400000, false},
        {"h", 3600000, false}, {"m", 60000, false}, {"s", 1000, false}, {"ms", 1, false},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0] && !rc; i++) {
        if (units[i].exact && ms % units[i].mult) continue;
        int64_t v = ms / units[i].mult;
        if (v > 0) {
            rc = ax_buf_printf(b, "%lld%s", (long long)v, units[i].u);
            ms -= v * units[i].mult;
        }
    }
    return rc;
}

/* ---- printer ---- */

static int print_mods(ax_buf *b, int at, int64_t at_ms, int64_t off) {
    int rc = 0;
    if (at == PQL_AT_TS) {
        uint64_t a = at_ms < 0 ? (uint64_t)0 - (uint64_t)at_ms : (uint64_t)at_ms;
        rc = ax_buf_printf(b, " @ %s%llu.%03llu", at_ms < 0 ? "-" : "", (unsigned long long)(a / 1000),
                           (unsigned long long)(a % 1000));
    } else if (at == PQL_AT_START) rc = ax_buf_append_str(b, " @ start()");
    else if (at == PQL_AT_END) rc = ax_buf_append_str(b, " @ end()");
    if (!rc && off > 0) {
        if (!(rc = ax_buf_append_str(b, " offset "))) rc = pql__dur(b, off);
    } else if (!rc && off < 0) {
        if (!(rc = ax_buf_append_str(b, " offset -"))) rc = pql__dur(b, -off);
    }
    return rc;
}

static int print_labels(ax_buf *b, const pql_str *l, size_t n) {
    int rc = ax_buf_append(b, "(", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = ax_buf_append(b, ", ", 2);
        if (!rc) rc = ax_buf_append(b, l[i].p, l[i].len);
    }
    return rc ? rc : ax_buf_append(b, ")", 1);
}

typedef struct mstr { size_t off, len; } mstr;

static int mstr_cmp(const uint8_t *base, const mstr *a, const mstr *c) {
    size_t n = a->len < c->len ? a->len : c->len;
    int r = memcmp(base + a->off, base + c->off, n);
    return r ? r : (a->len > c->len) - (a->len < c->len);
}

static int print_sel(ax_buf *b, const pql_node *n, bool mods) {
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    ax_buf tmp;
    ax_buf_init(&tmp, b->max ? b->max : (size_t)64 << 20);
    mstr ms[PQL_MAX_MATCHERS];
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n->sel.n_m && !rc; i++) {
        const eng_matcher *m = &n->sel.m[i];
        if (n->sel.name.len && m->op == ENG_MATCH_EQ && m->name_len == 8 && !memcmp(m->name, "__name__", 8) &&
            m->value_len == n->sel.name.len && !memcmp(m->value, n->sel.name.p, m->value_len))
            continue;
        size_t off = tmp.len;
        rc = ax_buf_append(&tmp, m->name, m->name_len);
        if (!rc) rc = ax_buf_append_str(&tmp, ops[m->op & 3]);
        if (!rc) rc = pql__quote(&tmp, m->value, m->value_len);
        ms[k++] = (mstr){off, tmp.len - off};
    }
    if (!rc) rc = ax_buf_append(b, n->sel.name.p, n->sel.name.len);
    if (!rc && k) {
        for (size_t i = 1; i < k; i++) /* insertion sort: at most PQL_MAX_MATCHERS, no global state */
            for (size_t j = i; j > 0 && mstr_cmp(tmp.data, &ms[j - 1], &ms[j]) > 0; j--) {
                mstr t = ms[j];
                ms[j] = ms[j - 1];
                ms[j - 1] = t;
            }
        rc = ax_buf_append(b, "{", 1);
        for (size_t i = 0; i < k && !rc; i++) {
            if (i) rc = ax_buf_append(b, ",", 1);
            if (!rc) rc = ax_buf_append(b, tmp.data + ms[i].off, ms[i].len);
        }
        if (!rc) rc = ax_buf_append(b, "}", 1);
    }
    ax_buf_free(&tmp);
    if (!rc && mods) rc = print_mods(b, n->sel.at, n->sel.at_ms, n->sel.offset_ms);
    return rc;
}

int pql_print(const pql_node *n, ax_buf *b) {
    int rc = 0;
    switch (n->kind) {
    case PQL_NUMBER: return pql__float(b, n->number);
    case PQL_STRING: return pql__quote(b, n->string.p, n->string.len);
    case PQL_VECTOR_SEL: return print_sel(b, n, true);
    case PQL_MATRIX_SEL: {
        const pql_node *vs = n->matrix.vs;
        if ((rc = print_sel(b, vs, false)) || (rc = ax_buf_append(b, "[", 1)) ||
            (rc = pql__dur(b, n->matrix.range_ms)) || (rc = ax_buf_append(b, "]", 1)))
            return rc;
        return print_mods(b, vs->sel.at, vs->sel.at_ms, vs->sel.offset_ms);
    }
    case PQL_SUBQUERY:
        if ((rc = pql_print(n->subq.expr, b)) || (rc = ax_buf_append(b, "[", 1)) ||
            (rc = pql__dur(b, n->subq.range_ms)) || (rc = ax_buf_append(b, ":", 1)))
            return rc;
        if (n->subq.step_ms && (rc = pql__dur(b, n->subq.step_ms))) return rc;
        if ((rc = ax_buf_append(b, "]", 1))) return rc;
        return print_mods(b, n->subq.at, n->subq.at_ms, n->subq.offset_ms);
    case PQL_CALL:
        if ((rc = ax_buf_append_str(b, n->call.fn->name)) || (rc = ax_buf_append(b, "(", 1))) return rc;
        for (size_t i = 0; i < n->call.n_args && !rc; i++) {
            if (i) rc = ax_buf_append(b, ", ", 2);
            if (!rc) rc = pql_print(n->call.args[i], b);
        }
        return rc ? rc : ax_buf_append(b, ")", 1);
    case PQL_AGG:
        if ((rc = ax_buf_append_str(b, pql_agg_name(n->agg.op)))) return rc;
        if (n->agg.without || n->agg.n_grouping) {
            if ((rc = ax_buf_append_str(b, n->agg.without ? " without " : " by ")) ||
                (rc = print_labels(b, n->agg.grouping, n->agg.n_grouping)) || (rc = ax_buf_append(b, " ", 1)))
                return rc;
        }
        if ((rc = ax_buf_append(b, "(", 1))) return rc;
        if (n->agg.param && ((rc = pql_print(n->agg.param, b)) || (rc = ax_buf_append(b, ", ", 2)))) return rc;
        if ((rc = pql_print(n->agg.expr, b))) return rc;
        return ax_buf_append(b, ")", 1);
    case PQL_BINARY: {
        /* A signed number on the left of ^ would read back as a unary sign over the power
         * (-1 ^ 2 is -(1 ^ 2)); parenthesised it reads back as itself. (Prometheus prints
         * it bare: its printed text then means something else.) */
        const pql_node *l = n->bin.lhs;
        bool wrap = n->bin.op == PQL_OP_POW && l->kind == PQL_NUMBER &&
                    (signbit(l->number) || isinf(l->number));
        if ((wrap && (rc = ax_buf_append(b, "(", 1))) || (rc = pql_print(l, b)) ||
            (wrap && (rc = ax_buf_append(b, ")", 1))) ||
            (rc = ax_buf_printf(b, " %s", pql_op_name(n->bin.op))))
            return rc;
        if (n->bin.return_bool && (rc = ax_buf_append_str(b, " bool"))) return rc;
        if (n->bin.n_matching || n->bin.on || n->bin.card == PQL_CARD_MANY_TO_ONE || n->bin.card == PQL_CARD_ONE_TO_MANY) {
            if ((rc = ax_buf_append_str(b, n->bin.on ? " on " : " ignoring ")) ||
                (rc = print_labels(b, n->bin.matching, n->bin.n_matching)))
                return rc;
            if (n->bin.card == PQL_CARD_MANY_TO_ONE || n->bin.card == PQL_CARD_ONE_TO_MANY) {
                if ((rc = ax_buf_append_str(b, n->bin.card == PQL_CARD_MANY_TO_ONE ? " group_left " : " group_right ")) ||
                    (rc = print_labels(b, n->bin.include, n->bin.n_include)))
                    return rc;
            }
        }
        if ((rc = ax_buf_append(b, " ", 1))) return rc;
        return pql_print(n->bin.rhs, b);
    }
    case PQL_UNARY:
        if ((rc = ax_buf_append_str(b, pql_op_name(n->unary.op)))) return rc;
        return pql_print(n->unary.expr, b);
    case PQL_PAREN:
        if ((rc = ax_buf_append(b, "(", 1)) || (rc = pql_print(n->paren.expr, b))) return rc;
        return ax_buf_append(b, ")", 1);
    default:
        return AX_EINVAL;
    }
}
