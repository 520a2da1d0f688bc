/* tests/fuzz/fuzz_gzip.c: fuzz srv_inflate (gzip and zlib request bodies).
 *
 * Input: a flag byte (bit 0: deflate rather than gzip), then the compressed body, copied
 * to an exact-size heap buffer so ASan catches reads past the end. The output cap is
 * 1 MiB: whatever the input, the output never passes it, and a failure is a negative
 * status with a message.
 */
/* link: ax_server */
#include "server/gzip.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int enc = (data[0] & 1) ? SRV_ENC_DEFLATE : SRV_ENC_GZIP;
    data++;
    size--;
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    ax_buf out;
    ax_buf_init(&out, 1u << 20);
    ax_err e = {0};
    int rc = srv_inflate(copy, size, enc, 1u << 20, &out, &e);
    if (rc > 0 || (rc == 0 && out.len > (1u << 20)) || (rc < 0 && !e.msg[0])) abort();
    ax_buf_free(&out);
    free(copy);
    return 0;
}
