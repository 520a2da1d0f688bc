/* Unit tests for query/lex.c, query/parse.c, query/ast.c: the PromQL parser and printer.
 * Expected strings are what Prometheus 2.42's Expr.String() prints for the same input. */
#include "query/query.h"
#include "test.h"

#include <dirent.h>
#include <stdlib.h>

typedef struct parsed {
    ax_arena a;
    pql_node *n;
    ax_err e;
    int rc;
} parsed;

static void parse_s(parsed *p, const char *q, size_t len) {
    ax_arena_init(&p->a, 64 << 20);
    p->n = NULL;
    memset(&p->e, 0, sizeof p->e);
    p->rc = pql_parse(q, len, &p->a, &p->n, &p->e);
}

static void parsed_done(parsed *p) {
    if (!p->rc) pql_node_free(p->n);
    ax_arena_clear(&p->a);
}

/* Parse q, print it; returns malloc'd text or NULL (error in *e). */
static char *print_of(const char *q, ax_err *e) {
    parsed p;
    parse_s(&p, q, strlen(q));
    char *r = NULL;
    if (!p.rc) {
        ax_buf b;
        ax_buf_init(&b, 1 << 20);
        if (pql_print(p.n, &b) == 0 && ax_buf_append(&b, "", 1) == 0) r = strdup((char *)b.data);
        ax_buf_free(&b);
    }
    if (e) *e = p.e;
    parsed_done(&p);
    return r;
}

static void check_print(const char *q, const char *want) {
    ax_err e;
    char *got = print_of(q, &e);
    if (!got) { FAILF("%s: parse failed: %s", q, e.msg); return; }
    if (strcmp(got, want)) FAILF("%s: expected \"%s\", got \"%s\"", q, want, got);
    /* and the printed text parses back to itself */
    char *again = print_of(got, &e);
    if (!again || strcmp(again, got)) FAILF("%s: reprint of \"%s\" gives \"%s\"", q, got, again ? again : e.msg);
    free(again);
    free(got);
}

TEST(test_parse_print_canonical) {
    static const char *const cases[][2] = {
        {"1", "1"}, {"-1", "-1"}, {"+1", "1"}, {"1.5e3", "1500"}, {"1e6", "1e+06"}, {"123456", "123456"},
        {".5", "0.5"}, {"0.0001", "0.0001"}, {"0.00001", "1e-05"}, {"0x1F", "31"}, {"0X1f", "31"}, {"010", "8"},
        {"09", "9"}, {"Inf", "+Inf"}, {"-inf", "-Inf"}, {"NaN", "NaN"}, {"nAn", "NaN"}, {"1e-7", "1e-07"},
        /* a signed number left of ^ is parenthesised, or it would read back as -(1 ^ 2) */
        {"Inf ^ 2", "(+Inf) ^ 2"}, {"(-1) ^ 2", "(-1) ^ 2"}, {"-1 ^ 2", "-1 ^ 2"}, {"2 ^ -1", "2 ^ -1"},
        {"\"a\\nb\"", "\"a\\nb\""}, {"'it\\'s'", "\"it's\""}, {"`raw\\d`", "\"raw\\\\d\""},
        {"\"\\u00e9\\x41\\101\"", "\"\xc3\xa9" "AA\""},
        {"up", "up"}, {"up{}", "up"}, {"up{job=\"x\"}", "up{job=\"x\"}"},
        {"up { b = 'x', a =~ \"y.*\" , }", "up{a=~\"y.*\",b=\"x\"}"},
        {"{__name__=\"up\"}", "{__name__=\"up\"}"}, {"{__name__=~\"u.*\",job!~\"a\"}", "{__name__=~\"u.*\",job!~\"a\"}"},
        {"node:cpu:rate5m", "node:cpu:rate5m"}, {"sum", "sum"}, {"offset", "offset"}, {"by{a=\"b\"}", "by{a=\"b\"}"},
        {"x offset 5m", "x offset 5m"}, {"x offset -1h30m", "x offset -1h30m"}, {"x offset 90m", "x offset 1h30m"},
        {"x @ 100", "x @ 100.000"}, {"x @ -1.5", "x @ -1.500"}, {"x @ start()", "x @ start()"},
        {"x offset 5m @ end()", "x @ end() offset 5m"}, {"x[5m]", "x[5m]"}, {"x[1d]", "x[1d]"},
        {"x[14d]", "x[2w]"}, {"x[365d]", "x[1y]"}, {"x[100ms]", "x[100ms]"}, {"x[90s]", "x[1m30s]"},
        {"x[5m] offset 1m", "x[5m] offset 1m"}, {"x[5m] @ 10 offset -1m", "x[5m] @ 10.000 offset -1m"},
        {"x[30m:1m]", "x[30m:1m]"}, {"x[30m:]", "x[30m:]"}, {"rate(x[5m])[30m:1m] offset 1h", "rate(x[5m])[30m:1m] offset 1h"},
        {"(a + b)[5m:] @ start()", "(a + b)[5m:] @ start()"},
        {"rate(x[5m])", "rate(x[5m])"}, {"time()", "time()"}, {"pi()", "pi()"}, {"round(x)", "round(x)"},
        {"round(x, 5)", "round(x, 5)"}, {"hour()", "hour()"}, {"hour(x)", "hour(x)"},
        {"label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")", "label_join(x, \"d\", \",\", \"a\", \"b\", \"c\")"},
        {"label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")"},
        {"forecast(x[1d], 3600)", "forecast(x[1d], 3600)"}, {"forecast_upper(x[1d], 60)", "forecast_upper(x[1d], 60)"},
        {"sum(x)", "sum(x)"}, {"sum by (job) (rate(x[5m]))", "sum by (job) (rate(x[5m]))"},
        {"sum(rate(x[5m])) by (job, instance)", "sum by (job, instance) (rate(x[5m]))"},
        {"SUM without (a,) (x)", "sum without (a) (x)"}, {"sum without () (x)", "sum without () (x)"},
        {"sum by () (x)", "sum(x)"}, {"topk(5, x)", "topk(5, x)"}, {"bottomk by (a) (3, x)", "bottomk by (a) (3, x)"},
        {"quantile(0.9, x)", "quantile(0.9, x)"}, {"count_values(\"v\", x)", "count_values(\"v\", x)"},
        {"sum by (sum, by, on, group_left) (x)", "sum by (sum, by, on, group_left) (x)"},
        {"a + b", "a + b"}, {"a+b*c", "a + b * c"}, {"(a+b)*c", "(a + b) * c"}, {"a > bool 1", "a > bool 1"},
        {"1 == bool 1", "1 == bool 1"}, {"a and b or c unless d", "a and b or c unless d"},
        {"a * on(x, y) group_left(z) b", "a * on (x, y) group_left (z) b"},
        {"a * ignoring(x) group_right b", "a * ignoring (x) group_right () b"},
        {"a / on() b", "a / on () b"}, {"a - ignoring() b", "a - b"}, {"a ATAN2 b", "a atan2 b"},
        {"a and on(x) b", "a and on (x) b"}, {"1 + on() x", "1 + x"},
        {"-x", "-x"}, {"- - x", "--x"}, {"-(1)", "-(1)"}, {"--1", "1"}, {"1 - -1", "1 - -1"},
        {"a # comment\n + b", "a + b"}, {"\"a\"", "\"a\""},
        {"{a=\"\\xff\\u0001\\u0085\"}", "{a=\"\\xff\\x01\\u0085\"}"},
        {"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m])))",
         "100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m])))"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_print(cases[i][0], cases[i][1]);
}

/* The tree shape, printed with explicit parentheses. */
static void shape(const pql_node *n, ax_buf *b) {
    switch (n->kind) {
    case PQL_BINARY:
        ax_buf_append_str(b, "(");
        shape(n->bin.lhs, b);
        ax_buf_printf(b, " %s ", pql_op_name(n->bin.op));
        shape(n->bin.rhs, b);
        ax_buf_append_str(b, ")");
        break;
    case PQL_UNARY:
        ax_buf_printf(b, "(%s", pql_op_name(n->unary.op));
        shape(n->unary.expr, b);
        ax_buf_append_str(b, ")");
        break;
    case PQL_PAREN: shape(n->paren.expr, b); break;
    default: pql_print(n, b);
    }
}

TEST(test_parse_precedence) {
    static const char *const cases[][2] = {
        {"1 + 2 * 3", "(1 + (2 * 3))"}, {"1 * 2 + 3", "((1 * 2) + 3)"}, {"2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"},
        {"-2 ^ 2", "(-(2 ^ 2))"}, {"-2 * 3", "(-2 * 3)"}, {"1 - 2 - 3", "((1 - 2) - 3)"},
        {"a or b and c", "(a or (b and c))"}, {"a and b unless c", "((a and b) unless c)"},
        {"a + b > bool c * d", "((a + b) > bool (c * d))"}, {"a atan2 b + c", "((a atan2 b) + c)"},
        {"a % b ^ c", "(a % (b ^ c))"}, {"- a * b", "((-a) * b)"}, {"2 ^ -3 ^ 2", "(2 ^ (-(3 ^ 2)))"},
        {"a == b or c < d", "((a == b) or (c < d))"}, {"a + b offset 5m", "(a + b offset 5m)"},
        {"-x offset 5m", "(-x offset 5m)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed p;
        parse_s(&p, cases[i][0], strlen(cases[i][0]));
        if (p.rc) { FAILF("%s: %s", cases[i][0], p.e.msg); parsed_done(&p); continue; }
        ax_buf b;
        ax_buf_init(&b, 1 << 16);
        shape(p.n, &b);
        ax_buf_append(&b, "", 1);
        /* shape() prints "bool" only through pql_print; add it for the one case */
        if (p.n->kind == PQL_BINARY && p.n->bin.return_bool) {
            char *s = (char *)b.data, *gt = strstr(s, " > ");
            if (gt) { ax_buf c; ax_buf_init(&c, 1 << 16); ax_buf_append(&c, s, (size_t)(gt - s) + 2);
                      ax_buf_append_str(&c, " bool"); ax_buf_append_str(&c, gt + 2); ax_buf_append(&c, "", 1);
                      ax_buf_free(&b); b = c; }
        }
        CHECK_EQ_STR(cases[i][1], (char *)b.data);
        ax_buf_free(&b);
        parsed_done(&p);
    }
}

TEST(test_parse_types_and_fields) {
    static const struct { const char *q; int type; } cases[] = {
        {"1", PQL_T_SCALAR}, {"\"s\"", PQL_T_STRING}, {"x", PQL_T_VECTOR}, {"x[5m]", PQL_T_MATRIX},
        {"x[5m:]", PQL_T_MATRIX}, {"1 + 1", PQL_T_SCALAR}, {"1 + x", PQL_T_VECTOR}, {"time()", PQL_T_SCALAR},
        {"scalar(x)", PQL_T_SCALAR}, {"(x[5m])", PQL_T_MATRIX}, {"-time()", PQL_T_SCALAR}, {"sum(x)", PQL_T_VECTOR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed p;
        parse_s(&p, cases[i].q, strlen(cases[i].q));
        if (p.rc) FAILF("%s: %s", cases[i].q, p.e.msg);
        else if (pql_node_type(p.n) != cases[i].type) FAILF("%s: type %d, want %d", cases[i].q, pql_node_type(p.n), cases[i].type);
        parsed_done(&p);
    }
    /* selector fields: matchers ready for eng_select, offsets and @ in ms */
    const char *q = "http_requests_total{job=~\"api|web\",code!=\"500\"}[5m] @ 1609746000.5 offset -30s";
    parsed p;
    parse_s(&p, q, strlen(q));
    CHECK_EQ_INT(0, p.rc);
    if (!p.rc) {
        CHECK_EQ_INT(PQL_MATRIX_SEL, p.n->kind);
        CHECK_EQ_INT(300000, p.n->matrix.range_ms);
        const pql_node *vs = p.n->matrix.vs;
        CHECK_EQ_INT(3, vs->sel.n_m);
        CHECK_EQ_STR("__name__", vs->sel.m[0].name);
        CHECK_EQ_STR("http_requests_total", vs->sel.m[0].value);
        CHECK_EQ_INT(ENG_MATCH_RE, vs->sel.m[1].op);
        CHECK(eng_matcher_match(&vs->sel.m[1], "web", 3) && !eng_matcher_match(&vs->sel.m[1], "webx", 4));
        CHECK_EQ_INT(-30000, vs->sel.offset_ms);
        CHECK_EQ_INT(PQL_AT_TS, vs->sel.at);
        CHECK_EQ_INT(1609746000500LL, vs->sel.at_ms);
    }
    parsed_done(&p);
    q = "sum without (a) (x) / on (b) group_left (c) topk(3, y)";
    parse_s(&p, q, strlen(q));
    CHECK_EQ_INT(0, p.rc);
    if (!p.rc) {
        CHECK_EQ_INT(PQL_BINARY, p.n->kind);
        CHECK_EQ_INT(PQL_OP_DIV, p.n->bin.op);
        CHECK_EQ_INT(PQL_CARD_MANY_TO_ONE, p.n->bin.card);
        CHECK(p.n->bin.on && p.n->bin.n_matching == 1 && p.n->bin.n_include == 1);
        CHECK(p.n->bin.lhs->agg.without && p.n->bin.lhs->agg.op == PQL_AGG_SUM);
        CHECK_EQ_INT(PQL_AGG_TOPK, p.n->bin.rhs->agg.op);
        CHECK_EQ_DBL(3, p.n->bin.rhs->agg.param->number);
    }
    parsed_done(&p);
    q = "a or b";
    parse_s(&p, q, strlen(q));
    CHECK(!p.rc && p.n->bin.card == PQL_CARD_MANY_TO_MANY);
    parsed_done(&p);
}

TEST(test_parse_functions_all_known) {
    static const char *const names[] = {
        "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
        "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
        "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate", "label_replace",
        "label_join", "last_over_time", "ln", "log10", "log2", "minute", "month", "predict_linear", "rate",
        "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector",
        "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
        "quantile_over_time", "stddev_over_time", "stdvar_over_time", "present_over_time", "acos", "acosh",
        "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad", "pi",
        "forecast", "forecast_lower", "forecast_upper"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const pql_func *f = pql_func_lookup(names[i], strlen(names[i]));
        if (!f || strcmp(f->name, names[i])) FAILF("function %s not found", names[i]);
    }
    CHECK(pql_func_lookup("rat", 3) == NULL);
    CHECK(pql_func_lookup("rates", 5) == NULL);
    CHECK(pql_func_lookup("Rate", 4) == NULL);
}

static void check_error(const char *q, const char *want) {
    parsed p;
    parse_s(&p, q, strlen(q));
    if (p.rc != AX_EINVAL) FAILF("\"%s\": expected AX_EINVAL, got %d", q, p.rc);
    else if (strcmp(p.e.msg, want)) FAILF("\"%s\": expected \"%s\", got \"%s\"", q, want, p.e.msg);
    parsed_done(&p);
}

TEST(test_parse_errors) {
    static const char *const cases[][2] = {
        {"", "1:1: parse error: no expression found in input"},
        {"  # only a comment", "1:1: parse error: no expression found in input"},
        {"1 +", "1:4: parse error: unexpected end of input"},
        {"a b", "1:3: parse error: unexpected identifier \"b\""},
        {"sum(x", "1:6: parse error: unclosed left parenthesis"},
        {"x)", "1:2: parse error: unexpected right parenthesis ')'"},
        {"x[5m", "1:5: parse error: unclosed left bracket"},
        {"x]", "1:2: parse error: unexpected right bracket ']'"},
        {"x{a=\"b\"", "1:8: parse error: unexpected end of input inside braces"},
        {"x{a}", "1:4: parse error: unexpected \"}\" in label matching, expected label matching operator"},
        {"x{a=b}", "1:5: parse error: unexpected identifier \"b\" in label matching, expected string"},
        {"x{a=\"b\" c=\"d\"}", "1:9: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\""},
        {"x{a:b=\"c\"}", "1:4: parse error: unexpected character inside braces: ':'"},
        {"\"abc", "1:1: parse error: unterminated quoted string"},
        {"\"a\\qb\"", "1:3: parse error: unknown escape sequence '\\q'"},
        {"'a\\\"'", "1:3: parse error: unknown escape sequence '\\\"'"},
        {"1 $ 2", "1:3: parse error: unexpected character: '$'"},
        /* the next lines are what a live Prometheus 2.42 answers */
        {"5x", "1:1: parse error: bad number or duration syntax: \"5\""},
        {"rate(x[5mx])", "1:8: parse error: bad duration syntax: \"5mx\""},
        {"x[5m:1]", "1:6: parse error: unexpected number \"1\" in subquery selector, expected duration or \"]\""},
        {"x[5m:1x]", "1:6: parse error: bad number or duration syntax: \"1\""},
        {"sum(x[5])", "1:7: parse error: missing unit character in duration"},
        {"avg(foo=\"1\")", "1:8: parse error: unexpected \"=\" in aggregation"},
        {"1e", "1:1: parse error: error parsing number: invalid syntax: \"1e\""},
        {"1e400", "1:1: parse error: error parsing number: value out of range: \"1e400\""},
        {"x[5]", "1:3: parse error: missing unit character in duration"},
        {"x[1.5m]", "1:3: parse error: not a valid duration string: \"1.5m\""},
        {"x[5m1h]", "1:3: parse error: not a valid duration string: \"5m1h\""},
        {"x[0s]", "1:3: parse error: duration must be greater than 0"},
        {"5m", "1:1: parse error: unexpected duration \"5m\""},
        {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"{a=~\".*\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"x{__name__=\"y\"}", "1:1: parse error: metric name must not be set twice: \"x\" or \"y\""},
        {"x{a=~\"(\"}", NULL},
        {"foo(x)", "1:1: parse error: unknown function with name \"foo\""},
        {"rate(x)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"},
        {"rate(x[5m], 1)", "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2"},
        {"round()", "1:1: parse error: expected at least 1 argument(s) in call to \"round\", got 0"},
        {"round(x, 1, 2)", "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3"},
        {"label_join(x, \"a\")", "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 2"},
        {"label_join(x, \"a\", \",\", 1)", "1:25: parse error: expected type string in call to function \"label_join\", got scalar"},
        {"rate(x[5m],)", "1:12: parse error: trailing commas not allowed in function call args"},
        {"sum()", "1:1: parse error: no arguments for aggregate expression provided"},
        {"topk(x)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1"},
        {"sum(1)", "1:5: parse error: expected type instant vector in aggregation expression, got scalar"},
        {"topk(\"a\", x)", "1:6: parse error: expected type scalar in aggregation parameter, got string"},
        {"count_values(1, x)", "1:14: parse error: expected type string in aggregation parameter, got scalar"},
        {"sum by (a:b) (x)", "1:9: parse error: unexpected metric identifier \"a:b\" in grouping opts, expected label"},
        {"x[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types"},
        {"1 + \"a\"", "1:5: parse error: binary expression must contain only scalar and instant vector types"},
        {"1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
        {"a + bool b", "1:3: parse error: bool modifier can only be used on comparison operators"},
        {"1 and x", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
        {"a and on(x) group_left b", "1:1: parse error: no grouping allowed for \"and\" operation"},
        {"1 + on(a) x", "1:1: parse error: vector matching only allowed between instant vectors"},
        {"a * on(x) group_left(x) b", "1:3: parse error: label \"x\" must not occur in ON and GROUP clause at once"},
        {"-\"a\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\""},
        {"x[5m][10m:]", "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
        {"rate(x[5m])[5m]", "1:1: parse error: ranges only allowed for vector selectors"},
        {"x offset 5m[5m]", "1:1: parse error: no offset modifiers allowed before range"},
        {"x @ 1 [5m]", "1:1: parse error: no @ modifiers allowed before range"},
        {"sum(x) offset 5m", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
        {"(x) @ 5", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
        {"x offset 5m offset 1m", "1:1: parse error: offset may not be set multiple times"},
        {"x @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"},
        {"x @ Inf", "1:5: parse error: timestamp out of bounds for @ modifier: inf"},
        {"x @ foo", "1:5: parse error: unexpected identifier \"foo\" in @, expected timestamp"},
        {"a\n+\n$", "3:1: parse error: unexpected character: '$'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i][1]) { check_error(cases[i][0], cases[i][1]); continue; }
        parsed p;
        parse_s(&p, cases[i][0], strlen(cases[i][0]));
        if (p.rc != AX_EINVAL || strncmp(p.e.msg, "1:3: parse error: ", 18))
            FAILF("\"%s\": rc %d, message \"%s\"", cases[i][0], p.rc, p.e.msg);
        parsed_done(&p);
    }
}

TEST(test_parse_limits) {
    /* nesting: 400 parentheses parse, 600 do not (and do not crash) */
    static const int depths[] = {400, 600, 100000};
    for (size_t di = 0; di < 3; di++) {
        int depth = depths[di];
        size_t len = (size_t)depth * 2 + 1;
        char *q = malloc(len + 1);
        memset(q, '(', (size_t)depth);
        q[depth] = '1';
        memset(q + depth + 1, ')', (size_t)depth);
        q[len] = 0;
        parsed p;
        parse_s(&p, q, len);
        if (depth == 400) CHECK_EQ_INT(0, p.rc);
        else {
            CHECK_EQ_INT(AX_EINVAL, p.rc);
            CHECK(strstr(p.e.msg, "nesting exceeds") != NULL);
        }
        parsed_done(&p);
        free(q);
    }
    /* long left-assoc chains and unary chains are limited by the tree height too */
    for (int kind = 0; kind < 3; kind++) {
        ax_buf b;
        ax_buf_init(&b, 1 << 20);
        for (int i = 0; i < 5000; i++) ax_buf_append_str(&b, kind == 0 ? "a + " : kind == 1 ? "-" : "abs(");
        ax_buf_append_str(&b, "a");
        for (int i = 0; kind == 2 && i < 5000; i++) ax_buf_append_str(&b, ")");
        parsed p;
        parse_s(&p, (char *)b.data, b.len);
        CHECK_EQ_INT(AX_EINVAL, p.rc);
        parsed_done(&p);
        ax_buf_free(&b);
    }
    /* size cap */
    size_t big = PQL_MAX_QUERY_LEN + 1;
    char *q = malloc(big);
    memset(q, 'a', big);
    parsed p;
    parse_s(&p, q, big);
    CHECK_EQ_INT(AX_ETOOBIG, p.rc);
    parsed_done(&p);
    free(q);
    /* arena budget: a tiny arena fails cleanly */
    ax_arena a;
    ax_arena_init(&a, 256);
    pql_node *n = NULL;
    ax_err e;
    CHECK_EQ_INT(AX_ENOMEM, pql_parse("sum by (a) (rate(x{a=~\"b.*\"}[5m]))", 33, &a, &n, &e));
    ax_arena_clear(&a);
}

TEST(test_parse_truncations_no_crash) {
    static const char *const qs[] = {
        "sum by (job) (rate(http_requests_total{job=~\"api|web\",code!=\"500\"}[5m] offset -1m @ 100)) / on (job) group_left (team) max(x)",
        "histogram_quantile(0.99, sum without (pod) (rate(x_bucket{le!=\"+Inf\"}[5m:30s] @ start())))",
        "label_join(up{a='x\\n\\u00e9'}, \"d\", \",\", `a`, \"b\") > bool 1 unless -absent(y) ^ 2 ^ -3",
        "topk(3, count_values(\"v\", x) * ignoring (a) group_right b) or vector(1 + 0x1F * .5e-3 % Inf)",
        "{__name__=~\"node_.*\", instance!~\"\"} # comment\n and on() vector(time())",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        size_t n = strlen(qs[i]);
        parsed p;
        parse_s(&p, qs[i], n);
        if (p.rc) FAILF("%s: %s", qs[i], p.e.msg);
        parsed_done(&p);
        for (size_t k = 0; k < n; k++) {
            char *c = malloc(k ? k : 1); /* exact size: ASan catches reads past the end */
            memcpy(c, qs[i], k);
            parse_s(&p, c, k);
            if (p.rc && !p.e.msg[0]) FAILF("%s[..%zu]: error without a message", qs[i], k);
            parsed_done(&p);
            free(c);
        }
    }
}

/* ---- Prometheus' own test files: every `eval` expression must parse ---- */

/* ../shared/promql-tests beside the checkout (found from this file's path); skipped
 * where it is absent */
static const char *promql_tests_dir(void) {
    static char dir[1024];
    const char *me = __FILE__, *cut = strstr(me, "tests/unit/query/");
    if (!cut) return "../shared/promql-tests";
    snprintf(dir, sizeof dir, "%.*s../shared/promql-tests", (int)(cut - me), me);
    return dir;
}
#define PROMQL_TESTS_DIR promql_tests_dir()

static const char *eval_expr(char *line) {
    /* eval[_ordered|_fail|...] instant at <t> <expr>  |  eval... range from <a> to <b> step <c> <expr> */
    char *s = strchr(line, ' ');
    if (!s) return NULL;
    int skip = 0;
    if (!strncmp(s + 1, "instant ", 8)) skip = 3;
    else if (!strncmp(s + 1, "range ", 6)) skip = 7;
    else return NULL;
    for (int i = 0; i < skip && s; i++) s = strchr(s + 1, ' ');
    return s ? s + 1 : NULL;
}

TEST(test_parse_prometheus_test_files) {
    DIR *d = opendir(PROMQL_TESTS_DIR);
    if (!d) { printf("  (skipped: %s not found)\n", PROMQL_TESTS_DIR); return; }
    int ok = 0, bad = 0, fail_total = 0, fail_rejected = 0, regex_unsupported = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 5, ".test")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", PROMQL_TESTS_DIR, de->d_name);
        FILE *f = fopen(path, "r");
        char line[8192];
        int lineno = 0;
        while (f && fgets(line, sizeof line, f)) {
            lineno++;
            line[strcspn(line, "\r\n")] = 0;
            if (strncmp(line, "eval", 4)) continue;
            const char *q = eval_expr(line);
            if (!q) continue;
            bool is_fail = !strncmp(line, "eval_fail", 9);
            parsed p;
            parse_s(&p, q, strlen(q));
            if (is_fail) {
                fail_total++;
                if (p.rc) { fail_rejected++; printf("  eval_fail rejected at parse time: %s -> %s\n", q, p.e.msg); }
            } else if (p.rc && strstr(p.e.msg, "invalid regex")) {
                /* a limit of core/regex.c (RE2 on POSIX ERE: no inline flag groups such as
                 * (?i:x), no lazy quantifiers), not of the parser: counted, reported */
                regex_unsupported++;
                printf("  regex not supported by ax_regex: %s -> %s\n", q, p.e.msg);
            } else if (p.rc) {
                bad++;
                FAILF("%s:%d: %s: %s", de->d_name, lineno, q, p.e.msg);
            } else {
                ok++;
                /* and the printed form reparses to the same text */
                ax_buf b, b2;
                ax_buf_init(&b, 1 << 20);
                ax_buf_init(&b2, 1 << 20);
                pql_print(p.n, &b);
                parsed p2;
                parse_s(&p2, (char *)b.data, b.len);
                if (p2.rc) FAILF("%s:%d: reparse of printed text failed: %s", de->d_name, lineno, p2.e.msg);
                else {
                    pql_print(p2.n, &b2);
                    if (b.len != b2.len || memcmp(b.data, b2.data, b.len)) FAILF("%s:%d: print not stable", de->d_name, lineno);
                }
                parsed_done(&p2);
                ax_buf_free(&b);
                ax_buf_free(&b2);
            }
            parsed_done(&p);
        }
        if (f) fclose(f);
    }
    closedir(d);
    printf("  promql-tests: eval %d parsed, %d failed, %d rejected for an unsupported regex; "
           "eval_fail %d, %d rejected at parse time\n", ok, bad, regex_unsupported, fail_total, fail_rejected);
    CHECK_EQ_INT(0, bad);
    CHECK(ok > 500);
}
