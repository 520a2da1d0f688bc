/* tests/fuzz/fuzz_rules.c: fuzz srv_rules_parse (the -rules YAML file; server/rules.h).
 * Links ax_server, which holds server/rules.c and server/yaml_tree.c.
 *
 * Input: the YAML, parsed from an exact-size heap copy so ASan catches any read past the
 * end. On failure the status is negative, e has the same code and a message, and an
 * AX_EINVAL message starts with "line " and never holds the secret. On success the rules
 * are checked against the documented invariants: names set and unique, 1..16 signals
 * with down_at < up_at (or NaN), step > 0, horizon in 1..20000 steps, horizon <= history,
 * lead < horizon, margin in [0,1], coverage in (0,1), cap_min <= cap_max, target > 0,
 * webhook references in range, exec programs absolute.
 */
/* link: ax_server */
#include "server/rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FZ_SECRET "fuzz-secret-value-xyzzy"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setenv("FUZZ_SECRET", FZ_SECRET, 1);
    char *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    srv_rules *rs = NULL;
    ax_err e = {0};
    int rc = srv_rules_parse(copy, size, &rs, &e);
    free(copy);
    if (rc) {
        if (rc > 0 || e.code != rc || !e.msg[0]) abort();
        if (rc == AX_EINVAL && strncmp(e.msg, "line ", 5)) abort();
        /* the secret's value must not leak from the environment into a message (the input
         * itself may spell it, and a message may quote the input) */
        if (strstr(e.msg, FZ_SECRET) && !memmem(data, size, FZ_SECRET, strlen(FZ_SECRET))) abort();
        return 0;
    }
    for (size_t i = 0; i < rs->n_webhooks; i++) {
        const srv_webhook *w = &rs->webhooks[i];
        if (!w->name || !w->url || w->timeout_ms <= 0 || w->max_tries < 1) abort();
        if (strncmp(w->url, "http://", 7) && strncmp(w->url, "https://", 8)) abort();
        for (size_t k = 0; k < i; k++)
            if (!strcmp(rs->webhooks[k].name, w->name)) abort();
    }
    for (size_t i = 0; i < rs->n_rules; i++) {
        const srv_rule *r = &rs->rules[i];
        const fc_rule_cfg *c = &r->cfg;
        if (!r->name || r->n_signals < 1 || r->n_signals > SRV_RULES_MAX_SIGNALS) abort();
        for (size_t k = 0; k < i; k++)
            if (!strcmp(rs->rules[k].name, r->name)) abort();
        for (size_t s = 0; s < r->n_signals; s++) {
            const srv_rule_signal *g = &r->signals[s];
            if (!g->name || !g->expr || !isfinite(g->up_at)) abort();
            if (!isnan(g->down_at) && !(g->down_at < g->up_at)) abort();
        }
        if (r->step_ms <= 0 || c->horizon < 1 || c->horizon > 20000 || r->horizon_ms > r->history_ms) abort();
        if (r->lead_ms >= r->horizon_ms || !(c->margin >= 0 && c->margin <= 1)) abort();
        if (!(c->fopts.coverage > 0 && c->fopts.coverage < 1)) abort();
        if (!(c->cap_min <= c->cap_max) || !(c->target > 0)) abort();
        if ((r->cap_query == NULL) == isnan(r->cap_current)) abort();
        for (size_t a = 0; a < r->n_actions; a++) {
            const srv_rule_action *x = &r->actions[a];
            if (x->kind == SRV_ACT_WEBHOOK && x->webhook >= rs->n_webhooks) abort();
            if (x->kind == SRV_ACT_EXEC && (!x->argc || x->argv[0][0] != '/' || x->argv[x->argc])) abort();
        }
    }
    srv_rules_free(rs);
    return 0;
}
