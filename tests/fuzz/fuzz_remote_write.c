/* tests/fuzz/fuzz_remote_write.c: fuzz srv_rw_decode (snappy + protobuf).
 * Links ax_server, which holds server/remote_write.c and links snappy.
 *
 * Input: a flag byte, then the payload.
 *   flag bit 0 clear: the payload is a request body, decoded as is (exercises snappy);
 *   flag bit 0 set:   the payload is a protobuf; it is snappy-compressed first so the
 *                     protobuf parser gets arbitrary bytes.
 * Whenever a decode succeeds, the result is re-encoded and decoded again and must come
 * back identical (same series, labels and sample bits), and the counts must add up.
 */
/* link: ax_server */
#include "server/remote_write.h"

#include <stdlib.h>
#include <string.h>

static void fz_check_same(const eng_ts *x, size_t nx, const eng_ts *y, size_t ny) {
    if (nx != ny) abort();
    for (size_t i = 0; i < nx; i++) {
        if (x[i].n_labels != y[i].n_labels || x[i].n_samples != y[i].n_samples) abort();
        for (size_t j = 0; j < x[i].n_labels; j++) {
            const ax_label *a = &x[i].labels[j], *b = &y[i].labels[j];
            if (a->name_len != b->name_len || a->value_len != b->value_len) abort();
            if (a->name_len && memcmp(a->name, b->name, a->name_len)) abort();
            if (a->value_len && memcmp(a->value, b->value, a->value_len)) abort();
        }
        for (size_t j = 0; j < x[i].n_samples; j++) {
            if (x[i].samples[j].ts != y[i].samples[j].ts) abort();
            if (memcmp(&x[i].samples[j].v, &y[i].samples[j].v, sizeof(double))) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t flag = data[0];
    data++;
    size--;
    ax_buf body;
    ax_buf_init(&body, 8u << 20);
    uint8_t *copy = NULL;
    if (flag & 1) {
        if (srv_rw_snappy(&body, data, size)) goto out;
    } else {
        copy = malloc(size ? size : 1); /* exact size, so ASan catches overreads */
        if (size) memcpy(copy, data, size);
    }
    const uint8_t *in = copy ? copy : body.data;
    size_t in_len = copy ? size : body.len;

    ax_arena a;
    ax_arena_init(&a, 64u << 20);
    eng_ts *ts = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    int rc = srv_rw_decode(in, in_len, 4u << 20, &a, &ts, &n, &ns, &e);
    if (rc) {
        if (rc > 0 || e.code != rc || !e.msg[0]) abort(); /* every error says what */
    } else {
        size_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (ts[i].n_labels > AX_MAX_LABELS) abort();
            sum += ts[i].n_samples;
        }
        if (sum != ns) abort();
        ax_buf re;
        ax_buf_init(&re, 64u << 20);
        if (srv_rw_encode(&re, ts, n) == 0) {
            ax_arena a2;
            ax_arena_init(&a2, 256u << 20);
            eng_ts *ts2 = NULL;
            size_t n2 = 0, ns2 = 0;
            int rc2 = srv_rw_decode(re.data, re.len, 64u << 20, &a2, &ts2, &n2, &ns2, &e);
            if (rc2 && rc2 != AX_ETOOBIG && rc2 != AX_ENOMEM) abort();
            if (!rc2) {
                fz_check_same(ts, n, ts2, n2);
                if (ns2 != ns) abort();
            }
            ax_arena_clear(&a2);
        }
        ax_buf_free(&re);
    }
    ax_arena_clear(&a);
out:
    free(copy);
    ax_buf_free(&body);
    return 0;
}
