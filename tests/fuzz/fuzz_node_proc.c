/* tests/fuzz/fuzz_node_proc.c: fuzz every /proc parser of the node collector
 * (server/node_collector.c) with the same bytes. Links ax_server.
 *
 * Input: the file contents, fed from an exact-size heap copy (ASan catches any read past
 * buf + len) to each srv_node_parse_* in turn. Parsers must never fail on content (only
 * on the arena budget), and every series they produce must be well formed: one sample at
 * the given time, __name__ first and a valid metric name, label values valid UTF-8 within
 * the caps, job="node" and instance last. The mounts parser statfs()es the paths it finds;
 * that is harmless here.
 */
/* link: ax_server */
#include "server/node_collector.h"

#include <stdlib.h>
#include <string.h>

#define TS 1700000000000LL

static srv_node *node(void) {
    static srv_node *n;
    if (!n && srv_node_new("/proc", "/sys", "fuzzhost", &n, NULL)) abort();
    return n;
}

static void check_out(const srv_node_out *o) {
    for (size_t i = 0; i < o->n; i++) {
        const eng_ts *t = &o->ts[i];
        if (t->n_samples != 1 || t->samples[0].ts != TS || t->n_labels < 3 ||
            t->n_labels > AX_MAX_LABELS)
            abort();
        if (t->labels[0].name_len != 8 || memcmp(t->labels[0].name, "__name__", 8)) abort();
        if (!ax_metric_name_valid(t->labels[0].value, t->labels[0].value_len)) abort();
        for (size_t j = 1; j < t->n_labels; j++) {
            const ax_label *l = &t->labels[j];
            if (!ax_label_name_valid(l->name, l->name_len) || l->value_len > AX_MAX_LABEL_VALUE ||
                !ax_utf8_valid(l->value, l->value_len))
                abort();
        }
        const ax_label *job = &t->labels[t->n_labels - 2], *inst = &t->labels[t->n_labels - 1];
        if (job->value_len != 4 || memcmp(job->value, "node", 4) || inst->value_len != 8 ||
            memcmp(inst->value, "fuzzhost", 8))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    srv_node *n = node();
    char *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    ax_arena a;
    ax_arena_init(&a, 64u << 20);
    srv_node_out o;
    if (srv_node_out_init(&o, n, &a, TS)) abort();
    int rc = 0;
    rc |= srv_node_parse_stat(n, &o, buf, size);
    rc |= srv_node_parse_loadavg(n, &o, buf, size);
    rc |= srv_node_parse_meminfo(n, &o, buf, size);
    rc |= srv_node_parse_diskstats(n, &o, buf, size);
    rc |= srv_node_parse_mounts(n, &o, buf, size);
    rc |= srv_node_parse_netdev(n, &o, buf, size);
    rc |= srv_node_parse_netstat(n, &o, buf, size);
    rc |= srv_node_parse_snmp6(n, &o, buf, size);
    rc |= srv_node_parse_sockstat(n, &o, buf, size);
    rc |= srv_node_parse_filefd(n, &o, buf, size);
    rc |= srv_node_parse_vmstat(n, &o, buf, size);
    rc |= srv_node_parse_pressure(n, &o, "io", buf, size);
    rc |= srv_node_parse_pressure(n, &o, "cpu", buf, size);
    rc |= srv_node_parse_softnet(n, &o, buf, size);
    rc |= srv_node_parse_single(n, &o, "node_entropy_available_bits", buf, size);
    if (rc && rc != AX_ETOOBIG && rc != AX_ENOMEM) abort();
    check_out(&o);
    ax_arena_clear(&a);
    free(buf);
    return 0;
}
