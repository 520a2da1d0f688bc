/* query/query.h: PromQL. Series selectors (pql_selector_parse: the match[] parameter of the
 * metadata and export APIs: `up`, `{job="node"}`, `node_cpu_seconds_total{mode!="idle"}`) and
 * the full expression language of Prometheus 2.42 (pql_parse: lexer query/lex.c, parser and
 * type checker query/parse.c, function table and printer query/ast.c), evaluated by pql_exec.
 *
 * Strings follow PromQL: "double", 'single' or `raw` quotes; Go escapes in the first two.
 * Regexes are fully anchored, as Prometheus anchors them. Like Prometheus, a selector
 * must have at least one matcher that does not match the empty string.
 * Memory: matcher names and values, and every AST node, are allocated in the caller's arena;
 *   compiled regexes are malloc'd and freed by pql_matchers_free / pql_node_free.
 * Errors: 0 or a negative AX_E*; AX_EINVAL fills ax_err with a Prometheus-shaped message
 *   "<line>:<col>: parse error: <what>" (1-based, col counts bytes). What is accepted:
 *   docs/promql.md.
 */
#ifndef AX_QUERY_H
#define AX_QUERY_H

#include "core/core.h"
#include "engine/engine.h"

#define PQL_MAX_MATCHERS 64

/* Parse s[0..len) as a series selector. OUT: *out (arena array) and *n_out matchers, with
 * regexes compiled (free them with pql_matchers_free). Returns 0, AX_EINVAL (message with
 * the byte position in e), AX_ENOMEM. */
int pql_selector_parse(const char *s, size_t len, ax_arena *a, eng_matcher **out, size_t *n_out,
                       ax_err *e);
void pql_matchers_free(eng_matcher *m, size_t n);

/* ---- PromQL expressions ---- */
#define PQL_MAX_QUERY_LEN (256u * 1024) /* bytes of query text */
#define PQL_MAX_DEPTH 500               /* AST height (nesting of parentheses, calls, operators) */
#define PQL_MAX_LIST 1000               /* call arguments, grouping labels */

/* Value types, as Prometheus' ValueType. */
enum { PQL_T_NONE, PQL_T_SCALAR, PQL_T_VECTOR, PQL_T_MATRIX, PQL_T_STRING };

/* Node kinds. */
enum {
    PQL_NUMBER = 1, PQL_STRING, PQL_VECTOR_SEL, PQL_MATRIX_SEL, PQL_SUBQUERY, PQL_CALL, PQL_AGG,
    PQL_BINARY, PQL_UNARY, PQL_PAREN
};

/* Binary and unary operators (unary: PQL_OP_ADD / PQL_OP_SUB). */
enum {
    PQL_OP_ADD, PQL_OP_SUB, PQL_OP_MUL, PQL_OP_DIV, PQL_OP_MOD, PQL_OP_POW, PQL_OP_ATAN2,
    PQL_OP_EQLC, PQL_OP_NEQ, PQL_OP_LTE, PQL_OP_LSS, PQL_OP_GTE, PQL_OP_GTR,
    PQL_OP_AND, PQL_OP_OR, PQL_OP_UNLESS
};

/* Aggregation operators; the last four take a parameter. */
enum {
    PQL_AGG_SUM, PQL_AGG_AVG, PQL_AGG_COUNT, PQL_AGG_MIN, PQL_AGG_MAX, PQL_AGG_GROUP,
    PQL_AGG_STDDEV, PQL_AGG_STDVAR, PQL_AGG_TOPK, PQL_AGG_BOTTOMK, PQL_AGG_COUNT_VALUES,
    PQL_AGG_QUANTILE
};

/* @ modifier: none, a fixed time (at_ms), start() or end() of the query range. */
enum { PQL_AT_NONE, PQL_AT_TS, PQL_AT_START, PQL_AT_END };

/* Vector matching cardinality (binary operators between two instant vectors). */
enum { PQL_CARD_ONE_TO_ONE, PQL_CARD_MANY_TO_ONE, PQL_CARD_ONE_TO_MANY, PQL_CARD_MANY_TO_MANY };

/* A byte span (arena memory, NUL-terminated for convenience). */
typedef struct pql_str {
    const char *p;
    size_t len;
} pql_str;

/* One entry of the function table (Prometheus' parser.Functions plus auspex's forecast*).
 * Arguments: arg_types[0..n_args); variadic 0: exactly n_args; k > 0: n_args-1 .. n_args-1+k
 * (the last type repeats); -1: at least n_args-1, no upper bound. */
typedef struct pql_func {
    const char *name;
    int arg_types[5];
    int n_args;
    int variadic;
    int ret; /* PQL_T_* */
    int min_args; /* > 0: the trailing arguments from this many on are optional (forecast) */
} pql_func;

/* The function called `name` (exact, case-sensitive), or NULL. */
const pql_func *pql_func_lookup(const char *name, size_t len);

/* An AST node: a tagged union whose fields the evaluator reads directly.
 * pos/end: byte range of the node in the query text. */
typedef struct pql_node pql_node;
struct pql_node {
    int kind;       /* PQL_NUMBER ... */
    uint32_t pos, end;
    uint32_t height; /* 1 + height of the tallest child */
    union {
        double number; /* PQL_NUMBER (unary minus on a literal is folded in, as Prometheus) */
        pql_str string; /* PQL_STRING: decoded bytes */
        struct {        /* PQL_VECTOR_SEL */
            pql_str name;       /* metric name written before '{', or empty */
            eng_matcher *m;     /* all matchers, the name as __name__="name" first; ready for eng_select */
            size_t n_m;
            int64_t offset_ms;  /* `offset` (negative allowed), 0 = none */
            int at;             /* PQL_AT_* */
            int64_t at_ms;      /* for PQL_AT_TS */
            pql_node *next_sel; /* internal: every selector of a parse, for cleanup */
        } sel;
        struct {        /* PQL_MATRIX_SEL: offset/@ live on the inner selector, as Prometheus */
            pql_node *vs;       /* a PQL_VECTOR_SEL */
            int64_t range_ms;
        } matrix;
        struct {        /* PQL_SUBQUERY: expr[range:step] */
            pql_node *expr;
            int64_t range_ms;
            int64_t step_ms;    /* 0: the evaluation's default step */
            int64_t offset_ms;
            int at;
            int64_t at_ms;
        } subq;
        struct {        /* PQL_CALL */
            const pql_func *fn;
            pql_node **args;
            size_t n_args;
        } call;
        struct {        /* PQL_AGG */
            int op;             /* PQL_AGG_* */
            pql_node *expr;
            pql_node *param;    /* topk/bottomk/quantile/count_values, else NULL */
            pql_str *grouping;  /* labels of by/without */
            size_t n_grouping;
            bool without;
        } agg;
        struct {        /* PQL_BINARY */
            int op;             /* PQL_OP_* */
            pql_node *lhs, *rhs;
            bool return_bool;   /* `bool` modifier */
            /* vector matching, only meaningful when both sides are instant vectors */
            int card;           /* PQL_CARD_*; set operators are many-to-many */
            bool on;            /* on(...) rather than ignoring(...) */
            pql_str *matching;  /* labels of on/ignoring */
            size_t n_matching;
            pql_str *include;   /* labels of group_left/group_right */
            size_t n_include;
            uint32_t op_pos;    /* byte offset of the operator */
        } bin;
        struct {        /* PQL_UNARY */
            int op;             /* PQL_OP_ADD or PQL_OP_SUB */
            pql_node *expr;
        } unary;
        struct {        /* PQL_PAREN */
            pql_node *expr;
        } paren;
    };
};

/* Parse q[0..len) (need not be NUL-terminated; at most PQL_MAX_QUERY_LEN bytes) as a PromQL
 * expression and type-check it as Prometheus 2.42 does. Nodes, names and strings go into
 * arena `a` (q is not referenced afterwards); regexes are compiled (free with pql_node_free).
 * OUT: *out, the root. Returns 0, AX_EINVAL (syntax or type error: message
 * "1:5: parse error: ..." in e), AX_ETOOBIG (query longer than PQL_MAX_QUERY_LEN),
 * AX_ENOMEM (arena budget exhausted or malloc failed). On error nothing needs freeing
 * except the arena. */
int pql_parse(const char *q, size_t len, ax_arena *a, pql_node **out, ax_err *e);

/* Result type of an expression: PQL_T_SCALAR, PQL_T_VECTOR, PQL_T_MATRIX, PQL_T_STRING. */
int pql_node_type(const pql_node *n);

/* Append the canonical text of n to out, as Prometheus' Expr.String() prints it (sorted
 * matchers, `sum by (job) (x)`, Go float and duration formats). Parsing the output gives the
 * same tree. Returns 0 or AX_ETOOBIG/AX_ENOMEM from the buffer. */
int pql_print(const pql_node *n, ax_buf *out);

/* Free the compiled regexes of every selector under n; the nodes themselves live in the
 * arena. Accepts NULL. */
void pql_node_free(pql_node *n);

/* Name of an operator ("+", "and", "atan2"...) and of an aggregation ("sum", "topk"...). */
const char *pql_op_name(int op);
const char *pql_agg_name(int op);
/* Name of a value type as Prometheus' ValueType prints it: "scalar", "vector", "matrix",
 * "string" ("none" otherwise). */
const char *pql_type_name(int t);

/* ---- evaluation (query/eval.c, functions query/funcs.c, arithmetic query/kernels.c) ----
 * pql_exec evaluates a parsed expression against the engine as Prometheus 2.42's engine
 * does: an instant query at one time, or a range query at start, start+step, ... <= end.
 * Lookback: an instant vector selector at time t takes the newest sample in
 * [t - lookback, t] (closed, as Prometheus 2.x) unless it is a staleness marker; range
 * selectors take [t - range, t]; offset and @ shift t. Every node is evaluated for all steps
 * at once (one read per selected series). Memory: the result owns its arena.
 * Errors: AX_EINVAL: an execution error (Prometheus errorType "execution": duplicate
 *   series, many-to-many matching, a bad label_replace regex...; message in err);
 *   AX_ELIMIT: a limit of pql_opts was passed (message names it); AX_ETIMEOUT: deadline;
 *   AX_ENOMEM: the memory budget; AX_EIO/AX_ECORRUPT from storage. */
typedef struct pql_opts {
    int64_t lookback_ms;  /* 0: 5 minutes */
    size_t max_samples;   /* samples held (range-vector samples, selector step points); 0: 50,000,000 */
    size_t max_series;    /* series one selector may match; 0: no limit */
    size_t max_points;    /* steps of a range query; 0: 11,000 (Prometheus' cap) */
    uint64_t deadline_ns; /* ax_mono_ns() value after which evaluation stops; 0: none */
    size_t mem_max;       /* bytes the evaluation may allocate; 0: 4 GiB */
} pql_opts;

/* One series of a result: its labels (sorted by name) and points, ascending in time.
 * A vector result has exactly one point per series (at the evaluation time). */
typedef struct pql_rseries {
    const ax_label *ls;
    size_t n_ls;
    const int64_t *ts; /* ms */
    const double *v;
    size_t n;
} pql_rseries;

typedef struct pql_result {
    int type;           /* PQL_T_SCALAR, PQL_T_VECTOR, PQL_T_MATRIX, PQL_T_STRING */
    pql_rseries *s;     /* vector and matrix */
    size_t n;
    double scalar;      /* PQL_T_SCALAR */
    int64_t t;          /* time of a scalar or string result (ms) */
    pql_str str;        /* PQL_T_STRING */
    const char **warnings;
    size_t n_warnings;
    ax_arena arena;     /* everything above lives here */
} pql_result;

/* Evaluate root. range = false: an instant query at `start` (end and step unused).
 * range = true: a range query; the result is always a matrix (a scalar becomes one series
 * without labels); a string expression is refused (AX_EINVAL). Matrix results are sorted
 * by labels; vector results keep evaluation order (sort() and friends order them).
 * OUT: *out (free with pql_result_free). */
int pql_exec(eng *e, const pql_node *root, int64_t start, int64_t end, int64_t step, bool range,
             const pql_opts *o, pql_result **out, ax_err *err);
void pql_result_free(pql_result *r);

/* ---- result cache (query/cache.c) ----
 * Keeps range-query points for steps older than now - offset_ms, and instant results for
 * such times, keyed by query text, step, step phase and lookback; later queries evaluate
 * only the newer steps. Entries drop their steps at or after the oldest sample written
 * since (eng_take_oldest_write). Queries with @ or a negative offset are never cached.
 * Threads: any number of callers. */
typedef struct pql_cache pql_cache;
pql_cache *pql_cache_new(size_t max_bytes, int64_t offset_ms); /* NULL: out of memory */
void pql_cache_free(pql_cache *c);                             /* accepts NULL */
void pql_cache_reset(pql_cache *c);                            /* drop everything */
void pql_cache_stats(pql_cache *c, uint64_t *hits, uint64_t *partial, uint64_t *misses,
                     size_t *bytes);
/* pql_exec through the cache c (NULL: plain pql_exec); now_ms: the wall clock. */
int pql_exec_cached(pql_cache *c, eng *e, const pql_node *root, int64_t start, int64_t end,
                    int64_t step, bool range, const pql_opts *o, int64_t now_ms,
                    pql_result **out, ax_err *err);

#endif
