/* server/rules.h: the rules file (-rules=FILE): webhooks and the scaling rules that the
 * scheduler (to come) evaluates with fc_decide (forecast/forecast.h).
 *
 * Owns: parsing the YAML (server/yaml_tree.h) and a strict walk of it: every key known,
 *   once, with the right shape; defaults applied; cross-field checks (horizon <= history,
 *   lead_time < horizon, scale_down_at < scale_up_at, min <= max, ...); PromQL checked with
 *   pql_parse (instant vector or scalar); webhook references resolved to indexes.
 *   Keys, defaults and checks: docs/rules.md.
 * Errors: AX_EINVAL with a message naming the line, the rule (or webhook) and the field,
 *   e.g. `rules.yml: line 12: rule "web-cpu": horizon (5d) is longer than history (1d)`
 *   (srv_rules_load prefixes the path; srv_rules_parse starts with "line "). A secret's
 *   value (the environment variable named by secret_env) never appears in a message.
 * Limits: SRV_RULES_MAX_FILE bytes of YAML, SRV_RULES_MAX rules, SRV_RULES_MAX_WEBHOOKS
 *   webhooks, SRV_RULES_MAX_SIGNALS signals and SRV_RULES_MAX_ACTIONS actions per rule.
 * Memory: a srv_rules owns everything it points to (one arena); immutable once built, so
 *   any thread may read it.
 */
#ifndef SRV_RULES_H
#define SRV_RULES_H

#include "core/core.h"
#include "forecast/forecast.h"

#define SRV_RULES_MAX_FILE (1u << 20)
#define SRV_RULES_MAX 1000
#define SRV_RULES_MAX_WEBHOOKS 100
#define SRV_RULES_MAX_SIGNALS 16
#define SRV_RULES_MAX_ACTIONS 16
#define SRV_EXEC_DEFAULT_TIMEOUT_MS 60000

enum { SRV_WH_JSON, SRV_WH_SLACK, SRV_WH_DINGTALK, SRV_WH_ALERTMANAGER };
enum { SRV_MODE_AUTO, SRV_MODE_APPROVE, SRV_MODE_DRY_RUN };
enum { SRV_ACT_WEBHOOK, SRV_ACT_EXEC };

typedef struct srv_webhook {
    char *name;
    char *url;          /* http:// or https:// */
    int format;         /* SRV_WH_* (default json) */
    char *secret_env;   /* the variable's name, or NULL */
    char *secret;       /* its value read at load time (never print it), or NULL */
    int64_t timeout_ms; /* default 10s */
    unsigned max_tries; /* default 8 */
} srv_webhook;

typedef struct srv_rule_signal {
    char *name;         /* the rule's name for the single-signal shorthand */
    char *expr;         /* PromQL, instant vector or scalar */
    double up_at;
    double down_at;     /* NaN: never scale down on this signal */
} srv_rule_signal;

typedef struct srv_rule_action {
    int kind;           /* SRV_ACT_* */
    size_t webhook;     /* SRV_ACT_WEBHOOK: index into srv_rules.webhooks */
    char **argv;        /* SRV_ACT_EXEC: argv[0] an absolute path; {{desired}}, {{current}},
                           {{rule}}, {{decision}}, {{urgency}} templates left in place */
    size_t argc;
    int64_t timeout_ms; /* SRV_ACT_EXEC: kill the program after this long (`timeout`, default 1m) */
} srv_rule_action;

typedef struct srv_rule {
    char *name;         /* [a-zA-Z0-9_-]+, unique */
    int line;           /* where the rule starts */
    srv_rule_signal *signals;
    size_t n_signals;
    int64_t history_ms, step_ms, horizon_ms, every_ms, lead_ms, cooldown_ms, smoothing_ms;
    char *cap_query;    /* capacity.current as PromQL, or NULL */
    double cap_current; /* capacity.current as a number (NaN when cap_query) */
    bool has_window;    /* scale_down_window given (cfg.down_from_min/down_to_min) */
    int mode;           /* SRV_MODE_* */
    srv_rule_action *actions;
    size_t n_actions;
    fc_rule_cfg cfg;    /* the numbers for fc_decide: step_s, horizon (steps), lead_s,
                           cooldown_s, margin, smooth (steps), cap_min, cap_max, target,
                           window minutes (-1: always), tz_offset_min, fopts (model,
                           coverage, step_s); min_history 0 */
} srv_rule;

typedef struct srv_rules {
    srv_webhook *webhooks;
    size_t n_webhooks;
    srv_rule *rules;
    size_t n_rules;
    ax_arena mem;       /* owns every string and array above */
} srv_rules;

/* Parse yaml[0..len) (need not be NUL-terminated); secret_env variables are read now.
 * OUT: *out (free with srv_rules_free). Returns 0, AX_EINVAL (message in e), AX_ETOOBIG
 * (over SRV_RULES_MAX_FILE), AX_ENOMEM. */
int srv_rules_parse(const char *yaml, size_t len, srv_rules **out, ax_err *e);

/* Read and parse the file at path; messages start with the path. Same returns as
 * srv_rules_parse; AX_EIO when the file cannot be read. */
int srv_rules_load(const char *path, srv_rules **out, ax_err *e);

void srv_rules_free(srv_rules *r); /* accepts NULL */

const char *srv_webhook_format_name(int format); /* "json", "slack", ... */
const char *srv_rule_mode_name(int mode);        /* "auto", "approve", "dry_run" */

#endif
