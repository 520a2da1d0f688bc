/* query/selector.c: series selectors for match[] (the metadata and export APIs), parsed by
 * the PromQL parser: the input must be one instant vector selector without offset or @,
 * as Prometheus' parser.ParseMetricSelector requires.
 */
#include "query/query.h"

#include <string.h>

void pql_matchers_free(eng_matcher *m, size_t n) {
    for (size_t i = 0; m && i < n; i++) eng_matcher_free(&m[i]);
}

int pql_selector_parse(const char *s, size_t len, ax_arena *a, eng_matcher **out, size_t *n_out,
                       ax_err *e) {
    pql_node *n = NULL;
    int rc = pql_parse(s, len, a, &n, e);
    if (rc) return rc;
    if (n->kind != PQL_VECTOR_SEL || n->sel.offset_ms != 0 || n->sel.at != PQL_AT_NONE) {
        pql_node_free(n);
        return ax_err_set(e, AX_EINVAL, "1:1: parse error: expected a series selector such as "
                                        "up or {job=\"node\"}, got \"%.*s\"",
                          (int)(len > 64 ? 64 : len), s);
    }
    if (n->sel.n_m > PQL_MAX_MATCHERS) {
        pql_node_free(n);
        return ax_err_set(e, AX_EINVAL, "more than %d matchers", PQL_MAX_MATCHERS);
    }
    /* the compiled matchers now belong to the caller (pql_matchers_free); the node is not
     * freed, its memory is the arena's */
    *out = n->sel.m;
    *n_out = n->sel.n_m;
    return 0;
}
