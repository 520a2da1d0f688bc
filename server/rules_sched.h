/* server/rules_sched.h: the rules scheduler: every rule of -rules checked on a libuv timer
 * (`every`), its decision recorded in the decision log and its actions queued in the
 * outbox; the forecasts written back as series; gauges for /metrics.
 *
 * A check (on a threadpool thread; at most SCHED_MAX_RUNNING at once, so queries and writes
 * keep their threads): read the signals and capacity over the history (server/rule_eval.h),
 * fc_decide (forecast/forecast.h) with the rule's state from the log (last action, the
 * capacity it asked for), then
 *   scale_up_immediately / consider_scale_down: one delivery per action, committed with the
 *     decision before anything is sent: auto -> pending (sent now), approve -> waiting
 *     (POST /api/v1/decisions/<id>/approve), dry_run -> recorded only;
 *   scale_up_prepared: recorded as planned, and the rule is checked again at its act_at
 *     (when it is earlier than the next regular check), where the fresh forecast decides;
 *   no_action: recorded.
 * and the forecasts go into the store: auspex_forecast, auspex_forecast_lower and
 * auspex_forecast_upper{rule, signal} at the future times they predict (a later check
 * overwrites them), so `auspex_forecast{rule="x"}` beside the signal shows what was
 * predicted. Capacity: the rule's query, or, for a fixed number, the capacity the rule last
 * asked for (auspex keeps the count), else the number.
 * /metrics gauges: auspex_desired_capacity{rule}, auspex_current_capacity{rule},
 * auspex_forecast{rule,signal} (the point forecast at now + lead_time, one step when the
 * lead time is 0) with _lower/_upper, auspex_forecast_error{rule,signal} (MAPE, percent,
 * of the newest forecast whose whole horizon has passed, against the signal's values).
 * Threads: start/stop on the loop thread; srv_sched_metrics from any thread.
 */
#ifndef SRV_RULES_SCHED_H
#define SRV_RULES_SCHED_H

#include "server/app.h"
#include "server/decisions.h"
#include "server/outbox.h"

typedef struct srv_sched srv_sched;

typedef struct srv_sched_opts {
    srv_dlog *log;
    srv_outbox *outbox;
    const char *external_url;  /* links in webhook bodies */
    int64_t first_check_ms;    /* delay of the first check after start (0: 1s) */
} srv_sched_opts;

int srv_sched_start(srv_app *app, const srv_sched_opts *o, srv_sched **out, ax_err *e);
/* Stop the timers; checks in flight finish (their results are recorded). */
void srv_sched_stop(srv_sched *s);
/* Free after the loop has ended. Accepts NULL. */
void srv_sched_free(srv_sched *s);
/* How rule i (index in app->rules) is doing, for GET /api/v1/rules. */
typedef struct srv_rule_status {
    int health;             /* 0: not checked yet, 1: ok, 2: the last check failed */
    char last_error[300];   /* "" unless health 2 */
    double last_check;      /* Unix s of the last check's end (NaN: none) */
    int last_kind;          /* FC_DEC_* of the last decision (-1: none) */
    double desired, capacity; /* as the gauges (NaN: not known yet) */
} srv_rule_status;
/* Any thread. Returns 0 or AX_ENOTFOUND (no scheduler, or i out of range). */
int srv_sched_rule_status(srv_sched *s, size_t i, srv_rule_status *out);

/* Append the gauges and counters (Prometheus text format). */
int srv_sched_metrics(srv_sched *s, ax_buf *out);

#endif
