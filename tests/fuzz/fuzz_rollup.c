/* Fuzz target: rollup block decoder (storage/codec/rollup.c, downsampled data on disk).
 * A block that decodes must agree with its peeked header, have strictly increasing times,
 * first_t <= t, and survive a re-encode and decode bit for bit (abort otherwise).
 * Seeds: tests/fuzz/corpus/rollup/. */
/* link: ax_codec */
#include "storage/codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 4096

typedef struct cols {
    int64_t t[CAP], first_t[CAP];
    double first[CAP], last[CAP], min[CAP], max[CAP], sum[CAP], sum_sq[CAP], cum_first[CAP], cum_last[CAP];
    uint32_t count[CAP], resets[CAP], changes[CAP];
} cols;

static cols A, B;

static codec_rollup_cols view(cols *c) {
    return (codec_rollup_cols){c->t, c->first_t, c->first, c->last, c->min, c->max, c->sum, c->sum_sq,
                               c->cum_first, c->cum_last, c->count, c->resets, c->changes};
}

static void die(const char *what) {
    fprintf(stderr, "fuzz_rollup: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static codec_ctx *c;
    if (!c && !(c = codec_ctx_new())) die("codec_ctx_new");
    codec_rollup_cols a = view(&A), b = view(&B);
    size_t n = 0, pn = 0, n2 = 0;
    int64_t mint, maxt, step;
    if (codec_rollup_decode(c, data, size, &a, 0, CAP, &n) != 0) return 0;
    if (codec_rollup_peek(data, size, &pn, &mint, &maxt, &step) != 0 || pn != n || mint != A.t[0] ||
        maxt != A.t[n - 1])
        die("peek disagrees with decode");
    for (size_t i = 0; i < n; i++) {
        if (i && A.t[i] <= A.t[i - 1]) die("decoded times not increasing");
        if (A.first_t[i] > A.t[i]) die("first_t after t");
    }
    ax_buf buf;
    ax_buf_init(&buf, 64u << 20);
    if (codec_rollup_encode(c, &buf, &a, 0, n, step) != 0) die("a decoded block does not re-encode");
    if (codec_rollup_decode(c, buf.data, buf.len, &b, 0, CAP, &n2) != 0 || n2 != n) die("re-encoded block does not decode");
#define SAME(f) if (memcmp(A.f, B.f, n * sizeof A.f[0])) die("column " #f " differs after re-encode")
    SAME(t); SAME(first_t); SAME(first); SAME(last); SAME(min); SAME(max); SAME(sum); SAME(sum_sq);
    SAME(cum_first); SAME(cum_last); SAME(count); SAME(resets); SAME(changes);
#undef SAME
    ax_buf_free(&buf);
    return 0;
}
