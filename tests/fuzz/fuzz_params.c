/* Fuzz target: duration, time and size parameters (core/timefmt.c) and label
 * normalisation, the small parsers every route and flag goes through. */
/* link: ax_core */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    int64_t ms;
    uint64_t sz;
    if (ax_duration_parse(s, size, &ms) == 0 && ms < 0) abort(); /* durations are never negative */
    (void)ax_time_parse(s, size, &ms);
    (void)ax_size_parse(s, size, &sz);
    /* labels: split the input at '\n' into name/value pairs */
    ax_label ls[16];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 16; i++) {
        if (i == size || data[i] == '\n') {
            {
                ls[n].name = s + start;
                ls[n].name_len = (uint32_t)((i - start) / 2);
                ls[n].value = s + start + ls[n].name_len;
                ls[n].value_len = (uint32_t)(i - start - ls[n].name_len);
                n++;
            }
            start = i + 1;
        }
    }
    size_t k;
    ax_err e;
    if (ax_labels_normalize(ls, n, &k, &e) == 0) {
        ax_buf b;
        ax_buf_init(&b, 1 << 20);
        if (ax_labels_encode(&b, ls, k) == 0) {
            ax_label out[16];
            size_t m;
            if (ax_labels_decode(b.data, b.len, out, 16, &m) || m != k) abort();
        }
        ax_buf_free(&b);
    }
    char f[40];
    double d;
    if (size >= 8) {
        memcpy(&d, data, 8);
        size_t len = ax_fmt_double(f, d);
        if (len > 32) abort();
        if (!isnan(d) && strtod(f, NULL) != d && !isinf(d)) abort(); /* round-trips */
    }
    return 0;
}
