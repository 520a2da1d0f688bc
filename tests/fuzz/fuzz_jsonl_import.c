/* tests/fuzz/fuzz_jsonl_import.c: fuzz srv_jsonl_parse (VictoriaMetrics JSON lines).
 * Links ax_server, which holds server/jsonl_import.c.
 *
 * Input: a flag byte, then the body, parsed from an exact-size heap copy so ASan catches
 * any read past body + len. Flag bit 0 set: two extra labels (job, and a "b" that
 * overrides a metric label) are passed. On success the counts must add up, every series
 * has at least one sample, at most AX_MAX_LABELS labels within the size caps, the extras
 * last; on failure the status is negative and an EINVAL message names a line.
 */
/* link: ax_server */
#include "server/jsonl_import.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t flag = data[0];
    data++;
    size--;
    char *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    ax_label extra[2] = {{"job", "fuzz", 3, 4}, {"b", "x", 1, 1}};
    size_t n_extra = (flag & 1) ? 2 : 0;
    ax_arena a;
    ax_arena_init(&a, 64u << 20);
    eng_ts *ts = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    int rc = srv_jsonl_parse(copy, size, extra, n_extra, &a, &ts, &n, &ns, &e);
    if (rc) {
        if (rc > 0 || e.code != rc || !e.msg[0]) abort(); /* every error says what */
        if (rc == AX_EINVAL && strncmp(e.msg, "line ", 5)) abort();
    } else {
        if (n && !ts) abort();
        size_t tot = 0;
        for (size_t i = 0; i < n; i++) {
            const eng_ts *t = &ts[i];
            if (!t->n_samples || t->n_labels > AX_MAX_LABELS || t->n_labels < n_extra) abort();
            tot += t->n_samples;
            volatile char sink = 0; /* touch every byte: ASan checks the spans */
            for (size_t j = 0; j < t->n_labels; j++) {
                const ax_label *l = &t->labels[j];
                if (l->name_len > AX_MAX_LABEL_NAME || l->value_len > AX_MAX_LABEL_VALUE) abort();
                for (size_t k = 0; k < l->name_len; k++) sink ^= l->name[k];
                for (size_t k = 0; k < l->value_len; k++) sink ^= l->value[k];
            }
            for (size_t j = 0; j < t->n_samples; j++) sink ^= (char)t->samples[j].ts;
            (void)sink;
            for (size_t j = 0; j < n_extra; j++)
                if (memcmp(&t->labels[t->n_labels - n_extra + j], &extra[j], sizeof extra[j])) abort();
        }
        if (tot != ns) abort();
    }
    ax_arena_clear(&a);
    free(copy);
    return 0;
}
