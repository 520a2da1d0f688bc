/* Fuzz target: chunk decoder (storage/codec). Decodes the input; a chunk that decodes must
 * agree with its peeked header, have strictly increasing timestamps, and survive a re-encode
 * and decode bit for bit (abort otherwise). Seeds: tests/fuzz/corpus/chunk/. */
/* link: ax_codec */
#include "storage/codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ts[CODEC_MAX_SAMPLES], ts2[CODEC_MAX_SAMPLES];
static double v[CODEC_MAX_SAMPLES], v2[CODEC_MAX_SAMPLES];

static void die(const char *what) {
    fprintf(stderr, "fuzz_chunk: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static codec_ctx *c;
    if (!c && !(c = codec_ctx_new())) die("codec_ctx_new");
    size_t n = 0, pn = 0, n2 = 0;
    int64_t mint, maxt;
    if (codec_chunk_decode(c, data, size, ts, v, CODEC_MAX_SAMPLES, &n) != 0) return 0;
    if (codec_chunk_peek(data, size, &pn, &mint, &maxt) != 0 || pn != n || mint != ts[0] ||
        maxt != ts[n - 1])
        die("peek disagrees with decode");
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1]) die("decoded timestamps not increasing");
    ax_buf b;
    ax_buf_init(&b, 64u << 20);
    if (codec_chunk_encode(c, &b, ts, v, n) != 0) die("re-encode failed");
    if (codec_chunk_decode(c, b.data, b.len, ts2, v2, CODEC_MAX_SAMPLES, &n2) != 0 || n2 != n)
        die("re-decode failed");
    if (memcmp(ts, ts2, n * sizeof ts[0]) || memcmp(v, v2, n * sizeof v[0]))
        die("round trip not bit-exact");
    ax_buf_free(&b);
    return 0;
}
