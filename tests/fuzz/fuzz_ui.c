/* Fuzz target: what the web UI's routes read from a request (server/ui.c): the
 * Accept-Encoding header and the asset name after /ui/; the answer must not depend on
 * bytes past the given length. */
#include "server/ui.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 'g'; /* a byte past the end that a bounds slip would read as part of "gzip" */
    int a = srv_ui_accepts_gzip(s, size);
    s[size] = 0;
    if (a != srv_ui_accepts_gzip(s, size)) abort();
    const srv_ui_asset *f = srv_ui_find(s, size);
    if (f && (strlen(f->name) != size || memcmp(f->name, s, size))) abort();
    (void)srv_ui_content_type(s);
    free(s);
    return 0;
}
