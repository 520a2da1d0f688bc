/* tests/fuzz/fuzz_relabel.c: fuzz relabel rule parsing (srv_relabel_parse_yaml, which
 * validates and compiles each rule's regex through core/regex.c) and srv_relabel_apply.
 * Links ax_server, which holds server/relabel.c and server/scrape_config.c.
 *
 * Input: a YAML list of relabel_config entries, a line "%%", then one label per line as
 * name=value (lines without '=' are skipped). The rules are parsed from an exact-size heap
 * copy; if they parse, they are applied to the label set with a small capacity and a
 * bounded arena (duplicate input names are skipped). The result must be 1, 0 or a
 * negative status; on 1 every label must have a non-empty value, a distinct name, and readable bytes (ASan checks the spans).
 */
/* link: ax_server */
#include "server/relabel.h"
#include "server/scrape_config.h"

#include <stdlib.h>
#include <string.h>

#define FZ_CAP 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    size_t ylen = size;
    const char *sep = NULL;
    for (size_t i = 0; i + 2 <= size; i++)
        if (s[i] == '%' && s[i + 1] == '%' && (i == 0 || s[i - 1] == '\n')) { sep = s + i; ylen = i; break; }
    char *copy = malloc(ylen ? ylen : 1);
    if (ylen) memcpy(copy, s, ylen);
    ax_arena a;
    ax_arena_init(&a, 8u << 20);
    srv_relabel *rules = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = srv_relabel_parse_yaml(copy, ylen, &a, &rules, &n, &e);
    free(copy);
    if (rc) {
        if (rc > 0 || e.code != rc || !e.msg[0]) abort();
        ax_arena_clear(&a);
        return 0;
    }
    ax_label ls[FZ_CAP];
    size_t nl = 0;
    if (sep) {
        const char *p = sep + 2, *end = s + size;
        while (p < end && nl < FZ_CAP) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            if (!eol) eol = end;
            const char *eq = memchr(p, '=', (size_t)(eol - p));
            bool dup = false;
            for (size_t k = 0; eq && k < nl; k++)
                dup |= ls[k].name_len == (size_t)(eq - p) && !memcmp(ls[k].name, p, ls[k].name_len);
            if (eq && eq > p && !dup) { /* a label set has distinct names */
                char *nm = ax_arena_dup(&a, p, (size_t)(eq - p));
                size_t vl = (size_t)(eol - eq - 1);
                const char *v = vl ? ax_arena_dup(&a, eq + 1, vl) : "";
                if (nm && v) ls[nl++] = (ax_label){nm, v, (uint32_t)(eq - p), (uint32_t)vl};
            }
            p = eol + 1;
        }
    }
    rc = srv_relabel_apply(rules, n, ls, &nl, FZ_CAP, &a);
    if (rc > 1) abort();
    if (rc == 1) {
        if (nl > FZ_CAP) abort();
        for (size_t i = 0; i < nl; i++) {
            if (!ls[i].value_len) abort();
            volatile char sink = 0;
            for (size_t k = 0; k < ls[i].name_len; k++) sink ^= ls[i].name[k];
            for (size_t k = 0; k < ls[i].value_len; k++) sink ^= ls[i].value[k];
            (void)sink;
            for (size_t k = 0; k < i; k++)
                if (ls[k].name_len == ls[i].name_len && !memcmp(ls[k].name, ls[i].name, ls[i].name_len)) abort();
        }
    }
    srv_relabel_fini(rules, n);
    free(rules);
    ax_arena_clear(&a);
    return 0;
}
