/* Fuzz target: series selector parser (match[] parameters). */
/* link: ax_query */
#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_matcher *m = NULL;
    size_t n = 0;
    ax_err e;
    if (pql_selector_parse((const char *)data, size, &a, &m, &n, &e) == 0) {
        for (size_t i = 0; i < n; i++) (void)eng_matcher_match(&m[i], "abc", 3);
        pql_matchers_free(m, n);
    }
    ax_arena_clear(&a);
    return 0;
}
