/* tests/fuzz/fuzz_metadata.c: fuzz srv_meta_observe and the JSON it then writes.
 *
 * Input: a text exposition body, scanned from an exact-size heap copy (ASan catches reads
 * past the end) into a table capped at 64 names; the JSON written afterwards must start
 * with '{' and end with '}' and the count must not pass the cap.
 */
/* link: ax_server */
#include "server/metadata.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    srv_meta *m = srv_meta_new(64);
    srv_meta_observe(m, copy, size);
    if (srv_meta_count(m) > 64) abort();
    ax_buf b;
    ax_buf_init(&b, 16u << 20);
    if (srv_meta_write_json(m, NULL, 0, 0, &b) || b.len < 2 || b.data[0] != '{' || b.data[b.len - 1] != '}')
        abort();
    ax_buf_free(&b);
    srv_meta_free(m);
    free(copy);
    return 0;
}
