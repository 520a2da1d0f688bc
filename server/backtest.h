/* server/backtest.h: replay a scaling rule on the stored data (docs/backtest.md):
 * `auspex backtest` (server/cli_backtest.c) and GET|POST /api/v1/rules/<name>/backtest
 * (server/api_backtest.c), both built on srv_backtest_run.
 *
 * srv_backtest_run reads the rule's signals and capacity over [from - history, to] with
 * srv_rule_eval (the grid ends at `to`), turns each signal into a load (signal x capacity;
 * where the capacity has no value: the last known one, before the first known one that
 * one, and the rule's fixed number when the query never had a value), and replays the
 * span [from, to] with fc_backtest_n twice: predictive (fc_decide) and reactive. The
 * replay starts on the capacity recorded at `from`.
 * Threads: any thread (it only reads the engine); the run costs one fit per signal and
 * check, seconds for weeks of data. Memory: a srv_bt_report owns its action logs.
 */
#ifndef SRV_BACKTEST_H
#define SRV_BACKTEST_H

#include "core/core.h"
#include "engine/engine.h"
#include "forecast/forecast.h"
#include "query/query.h"
#include "server/rules.h"

struct srv_app;

#define SRV_BT_MAX_SPAN_MS (90LL * 86400000) /* to - from at most */
#define SRV_BT_DEFAULT_SPAN_MS (7LL * 86400000)
#define SRV_BT_MAX_LOG 10000                 /* actions logged per policy */

typedef struct srv_bt_policy {
    fc_bt_result res;
    fc_bt_action *log;    /* the first min(res.actions, SRV_BT_MAX_LOG) actions */
    size_t n_log;
} srv_bt_policy;

typedef struct srv_bt_report {
    const char *rule;     /* borrowed from the rules */
    int64_t from_ms, to_ms;   /* the replayed span: grid points from_ms, ..., to_ms */
    int64_t step_ms, every_ms;
    double start_capacity;
    char note[512];       /* merges and capacity fill-ins, "" when none */
    srv_bt_policy pol[2]; /* [FC_BT_PREDICTIVE], [FC_BT_REACTIVE] */
} srv_bt_report;

/* Time for -from/-to and from=/to=: RFC 3339 or Unix seconds (ax_time_parse), "now", or
 * "now-7d" / "now+1h" (a duration, ax_duration_parse). OUT: *out ms. Returns 0, AX_EINVAL. */
int srv_backtest_time_parse(const char *s, size_t len, int64_t now_ms, int64_t *out);

/* Replay rule r over [from_ms, to_ms] (to_ms is aligned down to the rule's step first;
 * from_ms < to_ms, span at most SRV_BT_MAX_SPAN_MS). o: query limits (NULL: defaults).
 * OUT: *out (free with srv_bt_report_free). Returns 0, AX_EINVAL (bad span, a query's
 * execution error, no capacity value at all, or fc_backtest_n refusing the rule),
 * AX_ELIMIT, AX_ETIMEOUT, AX_ENOMEM, AX_EIO; message in err. */
int srv_backtest_run(eng *e, const srv_rule *r, int64_t from_ms, int64_t to_ms,
                     const pql_opts *o, srv_bt_report *out, ax_err *err);
void srv_bt_report_free(srv_bt_report *rep); /* accepts NULL and a zeroed struct */

/* Append the report as the JSON object of docs/backtest.md (the route's "data"). */
int srv_bt_report_json(const srv_bt_report *rep, ax_buf *out);

/* `auspex backtest -rules=FILE -rule=NAME -from=T -to=T [...]`: exit 0, 1 (runtime error,
 * e.g. the data folder in use), 2 (bad flags, rules file or rule name). */
int srv_cli_backtest(int argc, char **argv);

/* Register GET|POST /api/v1/rules/<name>/backtest. Returns 0 or AX_ENOMEM. */
int srv_api_backtest_register(struct srv_app *app);

#endif
