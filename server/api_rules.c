/* server/api_rules.c: GET /api/v1/rules — the configuration of the -rules file.
 *
 *   {"status":"success","data":{
 *     "webhooks":[{"name":"scaler","url":"http://...","format":"json","secret_env":"NAME",
 *                  "timeout":"10s","max_tries":8}],
 *     "rules":[{"name":"web-cpu","signals":[{"name":"web-cpu","expr":"...","scale_up_at":80,
 *               "scale_down_at":20}], "history":"2w","step":"5m","horizon":"4h",
 *               "every":"30m","lead_time":"30m","cooldown":"30m","smoothing":"3h",
 *               "model":"auto","coverage":0.8,"safety_margin":0.15,
 *               "capacity":{"current":"count(up)" or 3,"min":2,"max":20,"target_per_unit":70},
 *               "scale_down_window":"02:00-04:00" or null,"timezone":"+00:00","mode":"auto",
 *               "actions":[{"webhook":"scaler"},{"exec":["/bin/x","{{desired}}"],"timeout":"1m"}],
 *               "health":"ok","lastError":"","lastEvaluation":"2026-...Z" or null,
 *               "lastDecision":"no_action" or null,"currentCapacity":4,"desiredCapacity":4}],
 *     "groups":[]}}
 * "groups" is Prometheus' list of alerting and recording rule groups, always empty here: it
 * lets Grafana's alert views read this route as they read Prometheus'. GET /api/v1/alerts
 * likewise answers {"alerts":[]}. No rules file: the lists are empty. A secret's value is
 * never written (only the variable's name). The rules are immutable, so the loop thread
 * formats them directly.
 */
#include "server/app.h"
#include "server/actions.h"
#include "server/rules.h"
#include "server/rules_sched.h"
#include "server/scrape_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int put_str(ax_buf *b, const char *s) { return srv_json_str(b, s, strlen(s)); }

static int put_dur(ax_buf *b, int64_t ms) {
    char d[64];
    srv_duration_fmt(d, ms);
    return put_str(b, d);
}

static int put_num(ax_buf *b, double x) {
    if (!isfinite(x)) return ax_buf_append_str(b, "null");
    return ax_buf_printf(b, "%.17g", x);
}

static int write_rule(ax_buf *b, const srv_rules *rs, const srv_rule *r) {
    int rc = ax_buf_append_str(b, "{\"name\":");
    rc |= put_str(b, r->name);
    rc |= ax_buf_append_str(b, ",\"signals\":[");
    for (size_t i = 0; i < r->n_signals; i++) {
        const srv_rule_signal *s = &r->signals[i];
        rc |= ax_buf_append_str(b, i ? ",{\"name\":" : "{\"name\":");
        rc |= put_str(b, s->name);
        rc |= ax_buf_append_str(b, ",\"expr\":");
        rc |= put_str(b, s->expr);
        rc |= ax_buf_append_str(b, ",\"scale_up_at\":");
        rc |= put_num(b, s->up_at);
        rc |= ax_buf_append_str(b, ",\"scale_down_at\":");
        rc |= put_num(b, s->down_at);
        rc |= ax_buf_append_str(b, "}");
    }
    static const char *const dn[] = {"history", "step", "horizon", "every", "lead_time", "cooldown", "smoothing"};
    const int64_t dv[] = {r->history_ms, r->step_ms, r->horizon_ms, r->every_ms, r->lead_ms, r->cooldown_ms,
                          r->smoothing_ms};
    rc |= ax_buf_append_str(b, "]");
    for (size_t i = 0; i < 7; i++) {
        rc |= ax_buf_printf(b, ",\"%s\":", dn[i]);
        rc |= put_dur(b, dv[i]);
    }
    rc |= ax_buf_append_str(b, ",\"model\":");
    rc |= put_str(b, fc_model_name(r->cfg.fopts.model));
    rc |= ax_buf_append_str(b, ",\"coverage\":");
    rc |= put_num(b, r->cfg.fopts.coverage);
    rc |= ax_buf_append_str(b, ",\"safety_margin\":");
    rc |= put_num(b, r->cfg.margin);
    rc |= ax_buf_append_str(b, ",\"capacity\":{\"current\":");
    if (r->cap_query) rc |= put_str(b, r->cap_query);
    else rc |= put_num(b, r->cap_current);
    rc |= ax_buf_append_str(b, ",\"min\":");
    rc |= put_num(b, r->cfg.cap_min);
    rc |= ax_buf_append_str(b, ",\"max\":");
    rc |= put_num(b, r->cfg.cap_max);
    rc |= ax_buf_append_str(b, ",\"target_per_unit\":");
    rc |= put_num(b, r->cfg.target);
    rc |= ax_buf_append_str(b, "},\"scale_down_window\":");
    if (r->has_window)
        rc |= ax_buf_printf(b, "\"%02d:%02d-%02d:%02d\"", r->cfg.down_from_min / 60, r->cfg.down_from_min % 60,
                            r->cfg.down_to_min / 60, r->cfg.down_to_min % 60);
    else rc |= ax_buf_append_str(b, "null");
    int tz = r->cfg.tz_offset_min, atz = tz < 0 ? -tz : tz;
    rc |= ax_buf_printf(b, ",\"timezone\":\"%c%02d:%02d\",\"mode\":", tz < 0 ? '-' : '+', atz / 60, atz % 60);
    rc |= put_str(b, srv_rule_mode_name(r->mode));
    rc |= ax_buf_append_str(b, ",\"actions\":[");
    for (size_t i = 0; i < r->n_actions; i++) {
        const srv_rule_action *a = &r->actions[i];
        if (i) rc |= ax_buf_append_str(b, ",");
        if (a->kind == SRV_ACT_WEBHOOK) {
            rc |= ax_buf_append_str(b, "{\"webhook\":");
            rc |= put_str(b, rs->webhooks[a->webhook].name);
        } else {
            rc |= ax_buf_append_str(b, "{\"exec\":[");
            for (size_t j = 0; j < a->argc; j++) {
                if (j) rc |= ax_buf_append_str(b, ",");
                rc |= put_str(b, a->argv[j]);
            }
            rc |= ax_buf_append_str(b, "],\"timeout\":");
            rc |= put_dur(b, a->timeout_ms);
        }
        rc |= ax_buf_append_str(b, "}");
    }
    rc |= ax_buf_append_str(b, "]"); /* the object stays open for its status */
    return rc;
}

/* The rule's state, Prometheus-like (health, lastError, lastEvaluation), then the close of
 * the object write_rule left open. */
static int write_status(ax_buf *b, srv_sched *sched, size_t i) {
    srv_rule_status st;
    if (srv_sched_rule_status(sched, i, &st)) return ax_buf_append_str(b, "}");
    static const char *const H[] = {"unknown", "ok", "err"};
    int rc = ax_buf_printf(b, ",\"health\":\"%s\",\"lastError\":", H[st.health]);
    rc |= put_str(b, st.last_error);
    rc |= ax_buf_append_str(b, ",\"lastEvaluation\":");
    if (isfinite(st.last_check)) {
        char t[40];
        ax_fmt_rfc3339(t, (int64_t)llround(st.last_check * 1000.0));
        rc |= put_str(b, t);
    } else {
        rc |= ax_buf_append_str(b, "null");
    }
    rc |= ax_buf_append_str(b, ",\"lastDecision\":");
    if (st.last_kind >= 0) rc |= put_str(b, srv_decision_kind_name(st.last_kind));
    else rc |= ax_buf_append_str(b, "null");
    rc |= ax_buf_append_str(b, ",\"currentCapacity\":");
    rc |= put_num(b, st.capacity);
    rc |= ax_buf_append_str(b, ",\"desiredCapacity\":");
    rc |= put_num(b, st.desired);
    rc |= ax_buf_append_str(b, "}");
    return rc;
}

static int write_rules(ax_buf *b, const srv_rules *rs, srv_sched *sched) {
    int rc = ax_buf_append_str(b, "{\"status\":\"success\",\"data\":{\"webhooks\":[");
    for (size_t i = 0; rs && i < rs->n_webhooks; i++) {
        const srv_webhook *w = &rs->webhooks[i];
        rc |= ax_buf_append_str(b, i ? ",{\"name\":" : "{\"name\":");
        rc |= put_str(b, w->name);
        rc |= ax_buf_append_str(b, ",\"url\":");
        rc |= put_str(b, w->url);
        rc |= ax_buf_append_str(b, ",\"format\":");
        rc |= put_str(b, srv_webhook_format_name(w->format));
        rc |= ax_buf_append_str(b, ",\"secret_env\":");
        if (w->secret_env) rc |= put_str(b, w->secret_env);
        else rc |= ax_buf_append_str(b, "null");
        rc |= ax_buf_append_str(b, ",\"timeout\":");
        rc |= put_dur(b, w->timeout_ms);
        rc |= ax_buf_printf(b, ",\"max_tries\":%u}", w->max_tries);
    }
    rc |= ax_buf_append_str(b, "],\"rules\":[");
    for (size_t i = 0; rs && i < rs->n_rules; i++) {
        if (i) rc |= ax_buf_append_str(b, ",");
        rc |= write_rule(b, rs, &rs->rules[i]);
        rc |= write_status(b, sched, i);
    }
    rc |= ax_buf_append_str(b, "],\"groups\":[]}}");
    return rc;
}

static void h_rules(srv_req *r, void *ctx) {
    srv_app *app = ctx;
    ax_buf b;
    ax_buf_init(&b, (size_t)64 << 20);
    if (write_rules(&b, app->rules, app->sched)) {
        ax_buf_free(&b);
        srv_reply_error(r, 503, "unavailable", "out of memory");
        return;
    }
    srv_reply_buf_take(r, 200, "application/json", &b);
    ax_buf_free(&b);
}

/* GET /api/v1/alerts: auspex evaluates no alerting rules; Prometheus' empty answer, for
 * Grafana's alert list and scripts that poll every datasource. */
static void h_alerts(srv_req *r, void *ctx) {
    static const char body[] = "{\"status\":\"success\",\"data\":{\"alerts\":[]}}";
    srv_reply(r, 200, "application/json", body, sizeof body - 1);
}

int srv_api_rules_register(srv_app *app) {
    int rc = srv_http_route(app->http, SRV_GET, "/api/v1/rules", false, h_rules, app);
    if (!rc) rc = srv_http_route(app->http, SRV_GET, "/api/v1/alerts", false, h_alerts, app);
    return rc;
}
