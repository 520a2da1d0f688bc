/* tests/fuzz/fuzz_scrape_config.c: fuzz srv_scrape_config_parse and srv_scrape_targets
 * (Prometheus scrape config YAML). Links ax_server, which holds server/scrape_config.c.
 *
 * Input: the YAML, parsed from an exact-size heap copy so ASan catches any read past the
 * end. On failure the status is negative, e has the same code and a message, and an
 * AX_EINVAL message starts with "line ". On success the jobs are checked against the
 * documented invariants (names set and unique, timeout <= interval, http/https), then
 * the targets are generated and each must have a URL, a job and instance label, no
 * "__" label, sorted valid label names, and timeout <= interval.
 * Secret files named by the input are read relative to the current directory: the
 * corpus names none that exist, and a read failure is just AX_EIO.
 */
/* link: ax_server */
#include "server/scrape_config.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    srv_scrape_config *c = NULL;
    ax_err e = {0};
    int rc = srv_scrape_config_parse(copy, size, &c, &e);
    free(copy);
    if (rc) {
        if (rc > 0 || e.code != rc || !e.msg[0]) abort();
        if (rc == AX_EINVAL && strncmp(e.msg, "line ", 5)) abort();
        return 0;
    }
    if (c->timeout_ms > c->interval_ms || c->interval_ms <= 0) abort();
    for (size_t i = 0; i < c->n_jobs; i++) {
        const srv_scrape_job *j = &c->jobs[i];
        if (!j->job_name || !*j->job_name || !j->metrics_path || !j->scheme) abort();
        if (j->timeout_ms > j->interval_ms || j->interval_ms <= 0) abort();
        if (strcmp(j->scheme, "http") && strcmp(j->scheme, "https")) abort();
        if ((j->bearer_token != NULL) != (j->auth_type != NULL)) abort();
        for (size_t k = 0; k < i; k++)
            if (!strcmp(c->jobs[k].job_name, j->job_name)) abort();
    }
    srv_scrape_target *t = NULL;
    size_t n = 0;
    rc = srv_scrape_targets(c, &t, &n, &e);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            const srv_scrape_target *x = &t[i];
            if (!x->url || !x->job || x->timeout_ms > x->interval_ms || x->timeout_ms <= 0) abort();
            if (strncmp(x->url, "http://", 7) && strncmp(x->url, "https://", 8)) abort();
            bool job = false, inst = false;
            for (size_t k = 0; k < x->n_labels; k++) {
                const ax_label *l = &x->labels[k];
                if (!ax_label_name_valid(l->name, l->name_len) || !l->value_len) abort();
                if (l->name_len >= 2 && l->name[0] == '_' && l->name[1] == '_') abort();
                if (strlen(l->name) != l->name_len || strlen(l->value) != l->value_len) abort();
                if (k && strcmp(x->labels[k - 1].name, l->name) >= 0) abort();
                job |= !strcmp(l->name, "job");
                inst |= !strcmp(l->name, "instance");
            }
            if (!job || !inst) abort();
        }
        srv_scrape_targets_free(t, n);
    } else if (rc > 0 || !e.msg[0]) {
        abort();
    }
    srv_scrape_config_free(c);
    return 0;
}
