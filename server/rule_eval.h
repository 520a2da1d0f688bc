/* server/rule_eval.h: a rule's signals and capacity read from the store onto the rule's grid,
 * for the scheduler (server/rules_sched.c) and the backtest (server/cli_backtest.c,
 * GET /api/v1/rules/<name>/backtest).
 *
 * Each signal's PromQL runs as one range query over [t0, t1] at the rule's step (the grid's
 * last point is t1 exactly). A signal that yields several series is read as their maximum
 * at each step (the busiest instance decides), and note says so. The capacity is the
 * rule's fixed number, or its query run the same way, several series summed.
 * Threads: any thread (it only reads the engine). Memory: srv_rule_data owns its arrays.
 * Errors: the query's (AX_EINVAL execution error, AX_ELIMIT, AX_ETIMEOUT...) with a message
 * naming the rule and the signal.
 */
#ifndef SRV_RULE_EVAL_H
#define SRV_RULE_EVAL_H

#include "engine/engine.h"
#include "query/query.h"
#include "server/rules.h"

typedef struct srv_rule_data {
    size_t n;               /* grid points: t0_ms + i * step_ms, the last one t1 */
    int64_t t0_ms, step_ms;
    size_t n_signals;       /* = rule->n_signals */
    double **sig;           /* sig[s][0..n), NaN where the query had no value */
    double *cap;            /* capacity at each point, NaN where the query had no value */
    char note[256];         /* what was merged, e.g. "signal cpu: 3 series, their max"; "" */
} srv_rule_data;

/* Read rule r's signals and capacity over [t0_ms, t1_ms] (t1 - t0 at most the rule's history
 * plus any replay span; at most 1,000,000 points). o: limits for the queries (max_points is
 * raised to the grid size). OUT: *out (free with srv_rule_data_free). Returns 0, AX_EINVAL
 * (t1 < t0, or an execution error), AX_ELIMIT, AX_ETIMEOUT, AX_ENOMEM, AX_EIO. */
int srv_rule_eval(eng *e, const srv_rule *r, int64_t t0_ms, int64_t t1_ms, const pql_opts *o,
                  srv_rule_data *out, ax_err *err);
/* As srv_rule_eval, with the queries sent to an upstream Prometheus-compatible API
 * (-rules.datasource: Prometheus, VictoriaMetrics, Mimir, Thanos Query; `url` is the base
 * that /api/v1/query_range is appended to, user:password@ in it is sent as basic auth) as
 * POST /api/v1/query_range, 60 s timeout, answers up to 256 MB. Errors: AX_EIO (transport,
 * or a 5xx), AX_EINVAL (a 4xx: the upstream's message is in err), AX_ELIMIT, AX_ENOMEM. */
int srv_rule_eval_remote(const char *url, const srv_rule *r, int64_t t0_ms, int64_t t1_ms,
                         srv_rule_data *out, ax_err *err);
void srv_rule_data_free(srv_rule_data *d); /* accepts NULL and a zeroed struct */

#endif
