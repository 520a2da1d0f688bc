/* tests/fuzz/fuzz_csv_import.c: fuzz srv_csv_format_parse and srv_csv_parse (VictoriaMetrics'
 * CSV import; custom time layouts included). Links ax_server, which holds
 * server/csv.c.
 *
 * Input: a flag byte, the format description up to the first '\n', then the body; each is
 * parsed from an exact-size heap copy so ASan catches any read past its end. Flag bit 0
 * set: two extra labels (job, and an "l" that overrides a label column of that name). On
 * success the counts must add up, every series has samples, at most AX_MAX_LABELS labels,
 * __name__ first with a valid metric name and the extras last; on failure the status is
 * negative with a message. The description is also read as an export format (CSV export,
 * same file) and, when valid, renders a fixed series of awkward labels and times, which
 * must give one line per sample.
 */
/* link: ax_server */
#include "server/csv.h"

#include <stdlib.h>
#include <string.h>

static char *dup_exact(const uint8_t *p, size_t n) {
    char *c = malloc(n ? n : 1);
    if (c && n) memcpy(c, p, n);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t flag = data[0];
    data++;
    size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t flen = nl ? (size_t)(nl - data) : size;
    size_t blen = nl ? size - flen - 1 : 0;
    char *fmt = dup_exact(data, flen), *body = dup_exact(data + flen + (nl ? 1 : 0), blen);
    ax_label extra[2] = {{"job", "fuzz", 3, 4}, {"l", "x", 1, 1}};
    size_t n_extra = (flag & 1) ? 2 : 0;
    ax_arena a;
    ax_arena_init(&a, 64u << 20);
    srv_csv_format *f = NULL;
    ax_err e = {0};
    int rc = srv_csv_format_parse(fmt, flen, &a, &f, &e);
    if (rc) {
        if (rc > 0 || !e.msg[0] || f) abort();
    } else {
        eng_ts *ts = NULL;
        size_t n = 0, ns = 0;
        rc = srv_csv_parse(f, body, blen, 42, extra, n_extra, &a, &ts, &n, &ns, &e);
        if (rc) {
            if (rc > 0 || e.code != rc || !e.msg[0]) abort();
            if (rc == AX_EINVAL && strncmp(e.msg, "line ", 5) && strncmp(e.msg, "more than", 9)) abort();
        } else {
            size_t total = 0;
            if (n && !ts) abort();
            for (size_t i = 0; i < n; i++) {
                const eng_ts *t = &ts[i];
                if (!t->n_samples || t->n_labels > AX_MAX_LABELS || t->n_labels < 1 + n_extra) abort();
                if (t->labels[0].name_len != 8 || memcmp(t->labels[0].name, "__name__", 8)) abort();
                if (!ax_metric_name_valid(t->labels[0].value, t->labels[0].value_len)) abort();
                for (size_t j = 1; j < t->n_labels; j++) {
                    const ax_label *l = &t->labels[j];
                    if (!ax_label_name_valid(l->name, l->name_len) || l->value_len > AX_MAX_LABEL_VALUE) abort();
                    volatile char sink = 0; /* touch every byte: ASan checks the spans */
                    for (size_t k = 0; k < l->value_len; k++) sink ^= l->value[k];
                    (void)sink;
                }
                for (size_t j = 0; j < n_extra; j++)
                    if (memcmp(&t->labels[t->n_labels - n_extra + j], &extra[j], sizeof extra[j])) abort();
                total += t->n_samples;
            }
            if (total != ns) abort();
        }
    }
    srv_csv_out *o = NULL;
    ax_err oe = {0};
    int orc = srv_csv_out_parse(fmt, flen, &a, &o, &oe);
    if (orc && (orc > 0 || !oe.msg[0] || o)) abort();
    if (!orc) {
        ax_label ls[] = {{"__name__", "m", 8, 1}, {"l", "a,\"b\"\n\x01\xff", 1, 9}};
        ax_buf lb, out;
        ax_buf_init(&lb, 1 << 16);
        ax_buf_init(&out, 1 << 24);
        int64_t ts[] = {0, -1500, 1700000000123, INT64_MAX / 2, -62135596800000};
        double v[] = {0, -1e-7, 1e300, 0.0 / 0.0, -1.0 / 0.0};
        if (ax_labels_encode(&lb, ls, 2)) abort();
        if (srv_csv_out_lines(&out, o, lb.data, lb.len, ts, v, 5)) abort();
        size_t lines = 0;
        for (size_t i = 0; i < out.len; i++) lines += out.data[i] == '\n';
        if (lines != 5) abort();
        ax_buf_free(&lb);
        ax_buf_free(&out);
    }
    ax_arena_clear(&a);
    free(fmt);
    free(body);
    return 0;
}
