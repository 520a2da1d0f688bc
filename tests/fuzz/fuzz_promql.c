/* Fuzz target: PromQL parser and printer. Parse; on success print, parse the printed text
 * again (must succeed) and print it again (must be identical). */
/* link: ax_query */
#include "query/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ax_arena a;
    ax_arena_init(&a, 64 << 20);
    pql_node *n = NULL;
    ax_err e;
    if (pql_parse((const char *)data, size, &a, &n, &e) == 0) {
        (void)pql_node_type(n);
        ax_buf b1, b2;
        ax_buf_init(&b1, 16 << 20);
        ax_buf_init(&b2, 16 << 20);
        if (pql_print(n, &b1) == 0) {
            ax_arena a2;
            ax_arena_init(&a2, 64 << 20);
            pql_node *n2 = NULL;
            if (pql_parse((const char *)b1.data, b1.len, &a2, &n2, &e) != 0) {
                fprintf(stderr, "printed text does not parse: %.*s: %s\n", (int)b1.len, (char *)b1.data, e.msg);
                abort();
            }
            if (pql_print(n2, &b2) != 0 || b1.len != b2.len || memcmp(b1.data, b2.data, b1.len)) {
                fprintf(stderr, "print not stable: %.*s vs %.*s\n", (int)b1.len, (char *)b1.data, (int)b2.len,
                        (char *)b2.data);
                abort();
            }
            pql_node_free(n2);
            ax_arena_clear(&a2);
        }
        ax_buf_free(&b1);
        ax_buf_free(&b2);
        pql_node_free(n);
    }
    ax_arena_clear(&a);
    return 0;
}
