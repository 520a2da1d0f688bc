/* server/rules_sched.c: the rules scheduler (server/rules_sched.h). */
#include "server/rules_sched.h"

#include "server/actions.h"
#include "server/rule_eval.h"
#include "server/rules.h"
#include "server/scrape_config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_MAX_RUNNING 2
#define SCHED_KEEP_FC 64 /* past forecasts kept per rule for auspex_forecast_error */

typedef struct past_fc {
    double made_at;    /* Unix s: point k predicts made_at + (k + 1) * step */
    double *yhat;      /* n_signals * h */
} past_fc;

typedef struct sig_gauge {
    double fc, lo, hi, err;
} sig_gauge;

typedef struct rule_run {
    srv_sched *s;
    const srv_rule *r;
    uv_timer_t timer;
    uv_work_t work;
    bool running, queued;
    struct rule_run *next_queued;
    /* result of the check, handed from the work thread to the loop thread */
    int rc;
    ax_err err;
    double next_extra_at;  /* a planned decision's act_at (NaN: none) */
    bool delivered;        /* something went to the outbox */
    /* history of forecasts (work thread only: one check of a rule at a time) */
    past_fc past[SCHED_KEEP_FC];
    size_t n_past;
    /* gauges, under s->mu */
    double desired, capacity, last_eval;
    int last_kind;
    char last_error[300];
    sig_gauge *g;
    uint64_t evals, failures;
    uint64_t kinds[4];
} rule_run;

struct srv_sched {
    srv_app *app;
    srv_sched_opts o;
    rule_run *runs;
    size_t n;
    size_t running;
    rule_run *q_head, *q_tail;
    bool stopping;
    pthread_mutex_t mu;
};

static double now_s(void) { return (double)ax_now_ms() / 1000.0; }

/* ---- the check (threadpool) ---- */

static cJSON *num_or_null(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static cJSON *time_or_null(double s) {
    if (!isfinite(s)) return cJSON_CreateNull();
    char t[40];
    ax_fmt_rfc3339(t, (int64_t)llround(s * 1000.0));
    return cJSON_CreateString(t);
}

static cJSON *dur_str(int64_t ms) {
    char d[64];
    srv_duration_fmt(d, ms);
    return cJSON_CreateString(d);
}

static cJSON *num_array(const double *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, num_or_null(v[i]));
    return a;
}

static double last_finite(const double *v, size_t n, size_t *count) {
    double last = NAN;
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) last = v[i], c++;
    if (count) *count = c;
    return last;
}

/* MAPE (percent) of the newest kept forecast whose horizon has passed, signal si, against
 * the values on this check's grid (nearest point within half a step). */
static double forecast_error(const rule_run *rr, size_t si, const srv_rule_data *d, double now) {
    const srv_rule *r = rr->r;
    size_t h = r->cfg.horizon;
    double step = r->cfg.step_s;
    for (size_t p = rr->n_past; p-- > 0;) {
        const past_fc *f = &rr->past[p];
        if (f->made_at + (double)h * step > now) continue;
        double sum = 0;
        size_t n = 0;
        for (size_t k = 0; k < h; k++) {
            double t = f->made_at + (double)(k + 1) * step;
            double idx = (t * 1000.0 - (double)d->t0_ms) / (double)d->step_ms;
            long i = lround(idx);
            if (i < 0 || (size_t)i >= d->n || fabs(idx - (double)i) > 0.5) continue;
            double a = d->sig[si][i], y = f->yhat[si * h + k];
            if (!isfinite(a) || !isfinite(y) || a == 0) continue;
            sum += fabs(a - y) / fabs(a);
            n++;
        }
        return n ? 100.0 * sum / (double)n : NAN;
    }
    return NAN;
}

static void keep_forecast(rule_run *rr, double now, double *const *fc) {
    const srv_rule *r = rr->r;
    size_t h = r->cfg.horizon, ns = r->n_signals;
    double min_gap = (double)h * r->cfg.step_s / (SCHED_KEEP_FC / 2);
    if (rr->n_past && now - rr->past[rr->n_past - 1].made_at < min_gap) return;
    double *y = malloc(ns * h * sizeof *y);
    if (!y) return;
    for (size_t i = 0; i < ns; i++) memcpy(y + i * h, fc[i], h * sizeof *y);
    if (rr->n_past == SCHED_KEEP_FC) {
        free(rr->past[0].yhat);
        memmove(rr->past, rr->past + 1, (SCHED_KEEP_FC - 1) * sizeof rr->past[0]);
        rr->n_past--;
    }
    rr->past[rr->n_past++] = (past_fc){now, y};
}

/* Write the forecasts as series at the times they predict. */
static int write_feedback(srv_app *app, const srv_rule *r, double now, double *const *fc, ax_err *e) {
    size_t h = r->cfg.horizon, ns = r->n_signals;
    static const char *const names[3] = {"auspex_forecast", "auspex_forecast_lower", "auspex_forecast_upper"};
    eng_ts *ts = calloc(3 * ns, sizeof *ts);
    ax_label *ls = calloc(3 * ns * 3, sizeof *ls);
    eng_sample *sm = calloc(3 * ns * h, sizeof *sm);
    int rc = ts && ls && sm ? 0 : AX_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; !rc && i < ns; i++) {
        for (size_t k = 0; k < 3; k++) {
            ax_label *l = ls + n * 3;
            l[0] = (ax_label){"__name__", names[k], 8, (uint32_t)strlen(names[k])};
            l[1] = (ax_label){"rule", r->name, 4, (uint32_t)strlen(r->name)};
            l[2] = (ax_label){"signal", r->signals[i].name, 6, (uint32_t)strlen(r->signals[i].name)};
            eng_sample *s = sm + n * h;
            size_t m = 0;
            for (size_t j = 0; j < h; j++) {
                double v = fc[i][k * h + j];
                if (!isfinite(v)) continue;
                s[m++] = (eng_sample){(int64_t)llround((now + (double)(j + 1) * r->cfg.step_s) * 1000.0), v};
            }
            if (m) ts[n++] = (eng_ts){l, 3, s, m};
        }
    }
    if (!rc && n) rc = srv_store(app, ts, n, e);
    free(ts);
    free(ls);
    free(sm);
    return rc;
}

static cJSON *build_record(const rule_run *rr, const srv_rule_data *d, const fc_decision *dec,
                           double *const *fc, double now, double capacity, const srv_rule_state *st,
                           const char *state) {
    const srv_rule *r = rr->r;
    size_t h = r->cfg.horizon;
    cJSON *rec = cJSON_CreateObject();
    if (!rec) return NULL;
    const char *sig = dec->signal >= 0 ? r->signals[dec->signal].name : NULL;
    double thr = NAN;
    if (dec->signal >= 0)
        thr = dec->kind == FC_DEC_SCALE_DOWN ? r->signals[dec->signal].down_at : r->signals[dec->signal].up_at;
    cJSON_AddStringToObject(rec, "rule", r->name);
    cJSON_AddItemToObject(rec, "time", time_or_null(now));
    cJSON_AddStringToObject(rec, "decision", srv_decision_kind_name(dec->kind));
    cJSON_AddNumberToObject(rec, "urgency", dec->urgency);
    cJSON_AddStringToObject(rec, "mode", srv_rule_mode_name(r->mode));
    cJSON_AddStringToObject(rec, "state", state);
    cJSON_AddStringToObject(rec, "reason", dec->reason);
    cJSON_AddBoolToObject(rec, "cold_start", dec->cold_start);
    cJSON_AddItemToObject(rec, "model", dec->signal >= 0 ? cJSON_CreateString(fc_model_name(dec->model)) : cJSON_CreateNull());
    cJSON_AddItemToObject(rec, "signal", sig ? cJSON_CreateString(sig) : cJSON_CreateNull());
    cJSON_AddItemToObject(rec, "threshold", num_or_null(thr));
    cJSON_AddItemToObject(rec, "current_capacity", num_or_null(capacity));
    cJSON_AddItemToObject(rec, "desired_capacity", num_or_null(dec->desired));
    cJSON_AddItemToObject(rec, "act_at", time_or_null(dec->act_at));
    cJSON_AddItemToObject(rec, "crossing_time", time_or_null(dec->cross_at));
    cJSON *peak = isfinite(dec->peak) ? cJSON_CreateObject() : cJSON_CreateNull();
    if (cJSON_IsObject(peak)) {
        cJSON_AddItemToObject(peak, "time", time_or_null(dec->peak_at));
        cJSON_AddNumberToObject(peak, "value", dec->peak);
    }
    cJSON_AddItemToObject(rec, "peak", peak);
    if (r->mode == SRV_MODE_APPROVE) cJSON_AddItemToObject(rec, "expires_at", time_or_null(now + (double)r->horizon_ms / 1000.0));
    /* inputs */
    cJSON *in = cJSON_AddObjectToObject(rec, "inputs");
    if (in) {
        cJSON_AddItemToObject(in, "history", dur_str(r->history_ms));
        cJSON_AddItemToObject(in, "step", dur_str(r->step_ms));
        cJSON_AddItemToObject(in, "horizon", dur_str(r->horizon_ms));
        cJSON_AddItemToObject(in, "lead_time", dur_str(r->lead_ms));
        cJSON_AddItemToObject(in, "cooldown", dur_str(r->cooldown_ms));
        cJSON_AddNumberToObject(in, "safety_margin", r->cfg.margin);
        cJSON_AddItemToObject(in, "last_action_at", time_or_null(st->last_action_at));
        cJSON *cap = cJSON_AddObjectToObject(in, "capacity");
        if (cap) {
            if (r->cap_query) cJSON_AddStringToObject(cap, "query", r->cap_query);
            else cJSON_AddNumberToObject(cap, "fixed", r->cap_current);
            cJSON_AddItemToObject(cap, "value", num_or_null(capacity));
            cJSON_AddNumberToObject(cap, "min", r->cfg.cap_min);
            cJSON_AddNumberToObject(cap, "max", r->cfg.cap_max);
            cJSON_AddNumberToObject(cap, "target_per_unit", r->cfg.target);
        }
        cJSON *ss = cJSON_AddArrayToObject(in, "signals");
        for (size_t i = 0; ss && i < r->n_signals; i++) {
            cJSON *o = cJSON_CreateObject();
            size_t pts = 0;
            double cur = last_finite(d->sig[i], d->n, &pts);
            cJSON_AddStringToObject(o, "name", r->signals[i].name);
            cJSON_AddStringToObject(o, "expr", r->signals[i].expr);
            cJSON_AddNumberToObject(o, "scale_up_at", r->signals[i].up_at);
            cJSON_AddItemToObject(o, "scale_down_at", num_or_null(r->signals[i].down_at));
            cJSON_AddItemToObject(o, "current", num_or_null(cur));
            cJSON_AddNumberToObject(o, "points", (double)pts);
            cJSON_AddItemToArray(ss, o);
        }
        if (d->note[0]) cJSON_AddStringToObject(in, "note", d->note);
    }
    /* forecast of every signal */
    cJSON *f = cJSON_AddObjectToObject(rec, "forecast");
    if (f) {
        cJSON_AddItemToObject(f, "start", time_or_null(now + r->cfg.step_s));
        cJSON_AddNumberToObject(f, "step_seconds", r->cfg.step_s);
        cJSON *ss = cJSON_AddArrayToObject(f, "signals");
        for (size_t i = 0; ss && i < r->n_signals; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", r->signals[i].name);
            cJSON_AddItemToObject(o, "yhat", num_array(fc[i], h));
            cJSON_AddItemToObject(o, "lower", num_array(fc[i] + h, h));
            cJSON_AddItemToObject(o, "upper", num_array(fc[i] + 2 * h, h));
            cJSON_AddItemToArray(ss, o);
        }
    }
    return rec;
}

/* The deliveries of an actionable decision: bodies rendered now, committed with it. */
static int add_deliveries(srv_sched *s, const rule_run *rr, uint64_t id, cJSON *rec, const fc_decision *dec,
                          double *const *fc, double capacity, int dstate, uint8_t **bodies, size_t *lens) {
    const srv_rule *r = rr->r;
    const srv_rules *rs = s->app->rules;
    size_t h = r->cfg.horizon;
    cJSON *dl = cJSON_AddArrayToObject(rec, "deliveries");
    if (!dl) return AX_ENOMEM;
    int ds = dec->signal >= 0 ? dec->signal : 0;
    srv_dec_view v = {
        .id = id, .rule = r->name, .kind = dec->kind, .urgency = dec->urgency,
        .mode = srv_rule_mode_name(r->mode), .now = dec->now, .act_at = dec->act_at,
        .cross_at = dec->cross_at, .peak_at = dec->peak_at, .peak = dec->peak, .capacity = capacity,
        .desired = dec->desired, .signal = dec->signal >= 0 ? r->signals[ds].name : NULL,
        .threshold = NAN, .cold_start = dec->cold_start,
        .model = dec->signal >= 0 ? fc_model_name(dec->model) : NULL, .reason = dec->reason,
        .yhat = fc[ds], .lower = fc[ds] + h, .upper = fc[ds] + 2 * h, .h = h, .step_s = r->cfg.step_s,
        .external_url = s->o.external_url};
    if (dec->signal >= 0)
        v.threshold = dec->kind == FC_DEC_SCALE_DOWN ? r->signals[ds].down_at : r->signals[ds].up_at;
    for (size_t i = 0; i < r->n_actions; i++) {
        const srv_rule_action *a = &r->actions[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(dl, o)) return AX_ENOMEM;
        char key[64];
        srv_dlog_key(s->o.log, id, i, key);
        cJSON_AddNumberToObject(o, "action", (double)i);
        cJSON_AddStringToObject(o, "kind", a->kind == SRV_ACT_EXEC ? "exec" : "webhook");
        cJSON_AddStringToObject(o, "state", srv_dlv_state_name(dstate));
        cJSON_AddNumberToObject(o, "tries", 0);
        if (a->kind == SRV_ACT_WEBHOOK) {
            const srv_webhook *w = &rs->webhooks[a->webhook];
            cJSON_AddStringToObject(o, "target", w->name);
            cJSON_AddStringToObject(o, "url", w->url);
            cJSON_AddStringToObject(o, "format", srv_webhook_format_name(w->format));
            cJSON_AddNumberToObject(o, "max_tries", (double)w->max_tries);
            cJSON_AddStringToObject(o, "idempotency_key", key);
            ax_buf b;
            ax_buf_init(&b, 16u << 20);
            v.idempotency_key = key;
            v.receiver = w->name;
            int rc = srv_webhook_body(w->format, &v, &b);
            if (rc) {
                ax_buf_free(&b);
                return rc;
            }
            bodies[i] = b.data;
            lens[i] = b.len;
        } else {
            cJSON_AddStringToObject(o, "target", a->argv[0]);
            cJSON *av = cJSON_AddArrayToObject(o, "argv");
            for (size_t j = 0; av && j < a->argc; j++) {
                ax_buf b;
                ax_buf_init(&b, 1u << 20);
                int rc = srv_exec_render(a->argv[j], &v, &b);
                if (rc) {
                    ax_buf_free(&b);
                    return rc;
                }
                cJSON_AddItemToArray(av, cJSON_CreateString(b.data ? (const char *)b.data : ""));
                ax_buf_free(&b);
            }
            cJSON_AddNumberToObject(o, "timeout_seconds", (double)a->timeout_ms / 1000.0);
            cJSON_AddNumberToObject(o, "max_tries", 1);
        }
        if (dstate == SRV_DLV_PENDING) cJSON_AddItemToObject(o, "next_try_at", time_or_null(dec->now));
    }
    return 0;
}

static int check_rule(rule_run *rr) {
    srv_sched *s = rr->s;
    srv_app *app = s->app;
    const srv_rule *r = rr->r;
    size_t h = r->cfg.horizon, ns = r->n_signals;
    int64_t now_ms = ax_now_ms();
    double now = (double)now_ms / 1000.0;
    rr->next_extra_at = NAN;
    rr->delivered = false;
    pql_opts po = {.lookback_ms = app->query_lookback_ms, .max_samples = app->query_max_samples,
                   .max_series = app->query_max_series, .mem_max = app->query_mem_max,
                   .deadline_ns = ax_mono_ns() + (uint64_t)app->query_max_duration_ms * 1000000u};
    srv_rule_data d = {0};
    int rc = app->rules_datasource
                 ? srv_rule_eval_remote(app->rules_datasource, r, now_ms - r->history_ms, now_ms, &d, &rr->err)
                 : srv_rule_eval(app->e, r, now_ms - r->history_ms, now_ms, &po, &d, &rr->err);
    if (rc) return rc;
    /* a signal with no recent value (a typo, a target gone) must not read as "load 0" and
     * scale down: the check fails instead, visible in /api/v1/rules */
    int64_t stale_ms = 3 * r->step_ms > 15 * 60000 ? 3 * r->step_ms : 15 * 60000;
    for (size_t i = 0; !rc && i < ns; i++) {
        size_t k = d.n;
        while (k > 0 && !isfinite(d.sig[i][k - 1])) k--;
        if (k == 0)
            rc = ax_err_set(&rr->err, AX_EINVAL, "rule \"%s\": signal \"%s\": the query returned no value over the history",
                            r->name, r->signals[i].name);
        else if ((int64_t)(d.n - k) * r->step_ms > stale_ms)
            rc = ax_err_set(&rr->err, AX_EINVAL, "rule \"%s\": signal \"%s\": no value in the last %lld minutes",
                            r->name, r->signals[i].name, (long long)((int64_t)(d.n - k) * r->step_ms / 60000));
    }
    srv_rule_state st;
    if (!rc) rc = srv_dlog_rule_state(s->o.log, r->name, &st);
    double capacity = NAN;
    if (!rc) {
        if (r->cap_query) {
            capacity = last_finite(d.cap, d.n, NULL);
            if (!isfinite(capacity) || capacity < 0)
                rc = ax_err_set(&rr->err, AX_EINVAL, "rule \"%s\": the capacity query returned no value", r->name);
        } else {
            capacity = isfinite(st.capacity) ? st.capacity : r->cap_current;
        }
    }
    fc_signal *sig = calloc(ns, sizeof *sig);
    double **fc = calloc(ns, sizeof *fc);
    if (!rc && (!sig || !fc)) rc = AX_ENOMEM;
    for (size_t i = 0; !rc && i < ns; i++) {
        fc[i] = malloc(3 * h * sizeof **fc);
        if (!fc[i]) rc = AX_ENOMEM;
        else for (size_t k = 0; k < 3 * h; k++) fc[i][k] = NAN;
        sig[i] = (fc_signal){d.sig[i], d.n, r->signals[i].up_at, r->signals[i].down_at, r->cap_query ? d.cap : NULL};
    }
    fc_decision dec;
    if (!rc) {
        int frc = fc_decide(&r->cfg, sig, ns, capacity, now, st.last_action_at, &dec, fc);
        if (frc == FC_ENOMEM) rc = AX_ENOMEM;
        else if (frc) rc = ax_err_set(&rr->err, AX_EINVAL, "rule \"%s\": %s", r->name, dec.reason);
    }
    if (!rc && dec.kind == FC_DEC_SCALE_UP_PREPARED && !(dec.act_at > now + r->cfg.step_s)) {
        /* acting at the crossing minus the lead time is less than a step away: the next
         * look would find the same, one step on; act now */
        dec.kind = FC_DEC_SCALE_UP_NOW;
        dec.act_at = now;
        dec.urgency = 1;
        size_t l = strlen(dec.reason);
        snprintf(dec.reason + l, sizeof dec.reason - l, "; that is within one step: act now");
    }
    if (!rc) {
        /* forecast error first: it compares earlier forecasts with what this check read */
        double err[SRV_RULES_MAX_SIGNALS];
        for (size_t i = 0; i < ns; i++) err[i] = forecast_error(rr, i, &d, now);
        keep_forecast(rr, now, fc);
        bool actionable = dec.kind == FC_DEC_SCALE_UP_NOW || dec.kind == FC_DEC_SCALE_DOWN;
        const char *state = "recorded";
        int dstate = SRV_DLV_PENDING;
        if (dec.kind == FC_DEC_SCALE_UP_PREPARED) state = "planned";
        if (actionable) {
            if (r->mode == SRV_MODE_APPROVE) state = "waiting_approval", dstate = SRV_DLV_WAITING;
            else if (r->mode == SRV_MODE_DRY_RUN) state = "dry_run", dstate = SRV_DLV_DRY_RUN;
            else state = "acted";
        }
        uint64_t id = srv_dlog_reserve_id(s->o.log);
        cJSON *rec = build_record(rr, &d, &dec, fc, now, capacity, &st, state);
        uint8_t *bodies[SRV_RULES_MAX_ACTIONS] = {0};
        size_t lens[SRV_RULES_MAX_ACTIONS] = {0};
        if (!rec) rc = AX_ENOMEM;
        if (!rc && actionable) rc = add_deliveries(s, rr, id, rec, &dec, fc, capacity, dstate, bodies, lens);
        else if (!rc) cJSON_AddArrayToObject(rec, "deliveries");
        srv_rule_state nst = {now, dec.desired};
        bool acts = actionable && r->mode != SRV_MODE_APPROVE;
        if (!rc)
            rc = srv_dlog_add(s->o.log, id, rec, (const uint8_t *const *)bodies, lens, acts ? &nst : NULL, &rr->err);
        for (size_t i = 0; i < SRV_RULES_MAX_ACTIONS; i++) free(bodies[i]);
        cJSON_Delete(rec);
        if (!rc) {
            rr->delivered = actionable && r->n_actions && dstate == SRV_DLV_PENDING;
            if (dec.kind == FC_DEC_SCALE_UP_PREPARED) rr->next_extra_at = dec.act_at;
            ax_err we = {0};
            if (write_feedback(app, r, now, fc, &we))
                fprintf(stderr, "auspex: rule \"%s\": cannot write the forecast series: %s\n", r->name, we.msg);
            size_t li = r->lead_ms > 0 ? (size_t)ceil((double)r->lead_ms / 1000.0 / r->cfg.step_s) : 1;
            if (li < 1) li = 1;
            if (li > h) li = h;
            pthread_mutex_lock(&s->mu);
            rr->desired = acts ? dec.desired : isfinite(st.capacity) ? st.capacity : capacity;
            rr->capacity = capacity;
            rr->last_eval = now;
            rr->kinds[dec.kind & 3]++;
            rr->last_kind = dec.kind;
            for (size_t i = 0; i < ns; i++)
                rr->g[i] = (sig_gauge){fc[i][li - 1], fc[i][h + li - 1], fc[i][2 * h + li - 1], err[i]};
            pthread_mutex_unlock(&s->mu);
        }
    }
    for (size_t i = 0; fc && i < ns; i++) free(fc[i]);
    free(fc);
    free(sig);
    srv_rule_data_free(&d);
    return rc;
}

/* ---- timers and the run queue (loop thread) ---- */

static void start_check(rule_run *rr);
static void timer_cb(uv_timer_t *t) { start_check(t->data); }

static void work_cb(uv_work_t *w) {
    rule_run *rr = w->data;
    rr->err.msg[0] = 0;
    rr->rc = check_rule(rr);
}

static void arm(rule_run *rr, double now) {
    double next = now + (double)rr->r->every_ms / 1000.0;
    if (isfinite(rr->next_extra_at) && rr->next_extra_at < next) next = rr->next_extra_at;
    double delay_ms = (next - now_s()) * 1000.0;
    if (delay_ms < 1) delay_ms = 1;
    uv_timer_start(&rr->timer, timer_cb, (uint64_t)delay_ms, 0);
}

static void after_cb(uv_work_t *w, int status) {
    rule_run *rr = w->data;
    srv_sched *s = rr->s;
    rr->running = false;
    s->running--;
    pthread_mutex_lock(&s->mu);
    rr->evals++;
    if (rr->rc) rr->failures++;
    snprintf(rr->last_error, sizeof rr->last_error, "%.299s",
             !rr->rc ? "" : rr->err.msg[0] ? rr->err.msg : ax_strerror(rr->rc));
    if (rr->rc) rr->last_eval = now_s();
    pthread_mutex_unlock(&s->mu);
    if (rr->rc)
        fprintf(stderr, "auspex: rule \"%s\": check failed: %s\n", rr->r->name,
                rr->err.msg[0] ? rr->err.msg : ax_strerror(rr->rc));
    if (rr->delivered) srv_outbox_wake(s->o.outbox);
    if (!s->stopping) arm(rr, now_s());
    /* start the next queued check */
    while (!s->stopping && s->q_head && s->running < SCHED_MAX_RUNNING) {
        rule_run *q = s->q_head;
        s->q_head = q->next_queued;
        if (!s->q_head) s->q_tail = NULL;
        q->queued = false;
        start_check(q);
    }
}

static void start_check(rule_run *rr) {
    srv_sched *s = rr->s;
    if (rr->running || s->stopping) return;
    if (s->running >= SCHED_MAX_RUNNING) {
        if (rr->queued) return;
        rr->queued = true;
        rr->next_queued = NULL;
        if (s->q_tail) s->q_tail->next_queued = rr;
        else s->q_head = rr;
        s->q_tail = rr;
        return;
    }
    rr->running = true;
    s->running++;
    rr->work.data = rr;
    if (uv_queue_work(s->app->loop, &rr->work, work_cb, after_cb)) {
        rr->running = false;
        s->running--;
        arm(rr, now_s());
    }
}

int srv_sched_start(srv_app *app, const srv_sched_opts *o, srv_sched **out, ax_err *e) {
    const srv_rules *rs = app->rules;
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return AX_ENOMEM;
    s->app = app;
    s->o = *o;
    s->n = rs ? rs->n_rules : 0;
    s->runs = calloc(s->n ? s->n : 1, sizeof *s->runs);
    if (!s->runs) {
        free(s);
        return AX_ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    int64_t first = o->first_check_ms > 0 ? o->first_check_ms : 1000;
    for (size_t i = 0; i < s->n; i++) {
        rule_run *rr = &s->runs[i];
        rr->s = s;
        rr->r = &rs->rules[i];
        rr->desired = rr->capacity = rr->last_eval = NAN;
        rr->next_extra_at = NAN;
        rr->last_kind = -1;
        rr->g = calloc(rr->r->n_signals, sizeof *rr->g);
        if (!rr->g) return ax_err_set(e, AX_ENOMEM, "out of memory");
        for (size_t k = 0; k < rr->r->n_signals; k++) rr->g[k] = (sig_gauge){NAN, NAN, NAN, NAN};
        uv_timer_init(app->loop, &rr->timer);
        rr->timer.data = rr;
        uv_timer_start(&rr->timer, timer_cb, (uint64_t)first + 50 * (uint64_t)(i % 200), 0);
    }
    *out = s;
    return 0;
}

void srv_sched_stop(srv_sched *s) {
    if (!s || s->stopping) return;
    s->stopping = true;
    s->q_head = s->q_tail = NULL;
    for (size_t i = 0; i < s->n; i++) {
        uv_timer_stop(&s->runs[i].timer);
        uv_close((uv_handle_t *)&s->runs[i].timer, NULL);
    }
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t p = 0; p < s->runs[i].n_past; p++) free(s->runs[i].past[p].yhat);
        free(s->runs[i].g);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->runs);
    free(s);
}

int srv_sched_rule_status(srv_sched *s, size_t i, srv_rule_status *out) {
    if (!s || i >= s->n) return AX_ENOTFOUND;
    const rule_run *rr = &s->runs[i];
    pthread_mutex_lock(&s->mu);
    out->health = !rr->evals ? 0 : rr->last_error[0] ? 2 : 1;
    snprintf(out->last_error, sizeof out->last_error, "%s", rr->last_error);
    out->last_check = rr->last_eval;
    out->last_kind = rr->last_kind;
    out->desired = rr->desired;
    out->capacity = rr->capacity;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---- /metrics ---- */

static int gauge_line(ax_buf *b, const char *name, const char *rule, const char *sig, double v) {
    char num[40];
    ax_fmt_double(num, v);
    int rc = ax_buf_printf(b, "%s{rule=", name);
    rc |= srv_json_str(b, rule, strlen(rule)); /* rule and signal names are [a-zA-Z0-9_-] */
    if (sig) {
        rc |= ax_buf_append_str(b, ",signal=");
        rc |= srv_json_str(b, sig, strlen(sig));
    }
    rc |= ax_buf_printf(b, "} %s\n", num);
    return rc;
}

int srv_sched_metrics(srv_sched *s, ax_buf *b) {
    if (!s || !s->n) return 0;
    static const struct { const char *name, *type, *help; } M[] = {
        {"auspex_desired_capacity", "gauge", "Capacity the rule's newest decision asks for (the current one when it asks for no change)."},
        {"auspex_current_capacity", "gauge", "Capacity the rule's newest check saw."},
        {"auspex_forecast", "gauge", "Point forecast of the signal at now + lead_time (one step ahead when the lead time is 0)."},
        {"auspex_forecast_lower", "gauge", "Lower band of that forecast."},
        {"auspex_forecast_upper", "gauge", "Upper band of that forecast."},
        {"auspex_forecast_error", "gauge", "MAPE (percent) of the newest forecast whose horizon has passed, against the signal."},
        {"auspex_rule_last_check_timestamp_seconds", "gauge", "When the rule was last checked."},
        {"auspex_rule_checks_total", "counter", "Checks of the rule."},
        {"auspex_rule_check_failures_total", "counter", "Checks that failed (query error, no capacity)."},
    };
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t m = 0; m < sizeof M / sizeof M[0]; m++) {
        rc |= ax_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", M[m].name, M[m].help, M[m].name, M[m].type);
        for (size_t i = 0; i < s->n; i++) {
            const rule_run *rr = &s->runs[i];
            const srv_rule *r = rr->r;
            if (m >= 2 && m <= 5) {
                for (size_t k = 0; k < r->n_signals; k++) {
                    const sig_gauge *g = &rr->g[k];
                    double v = m == 2 ? g->fc : m == 3 ? g->lo : m == 4 ? g->hi : g->err;
                    if (isfinite(v)) rc |= gauge_line(b, M[m].name, r->name, r->signals[k].name, v);
                }
                continue;
            }
            double v = m == 0 ? rr->desired : m == 1 ? rr->capacity : m == 6 ? rr->last_eval
                     : m == 7 ? (double)rr->evals : (double)rr->failures;
            if (isfinite(v)) rc |= gauge_line(b, M[m].name, r->name, NULL, v);
        }
    }
    rc |= ax_buf_append_str(b, "# HELP auspex_decisions_total Decisions made, by rule and kind.\n"
                               "# TYPE auspex_decisions_total counter\n");
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < 4; k++)
            rc |= ax_buf_printf(b, "auspex_decisions_total{rule=\"%s\",decision=\"%s\"} %llu\n", s->runs[i].r->name,
                                srv_decision_kind_name(k), (unsigned long long)s->runs[i].kinds[k]);
    pthread_mutex_unlock(&s->mu);
    if (s->o.outbox) {
        const srv_outbox_stats *os = srv_outbox_stats_of(s->o.outbox);
        rc |= ax_buf_printf(b,
            "# HELP auspex_delivery_attempts_total Webhook posts and commands attempted.\n"
            "# TYPE auspex_delivery_attempts_total counter\nauspex_delivery_attempts_total %llu\n"
            "# HELP auspex_deliveries_total Deliveries finished, by result.\n"
            "# TYPE auspex_deliveries_total counter\n"
            "auspex_deliveries_total{result=\"delivered\"} %llu\nauspex_deliveries_total{result=\"failed\"} %llu\n"
            "# HELP auspex_delivery_retries_total Attempts that will be retried.\n"
            "# TYPE auspex_delivery_retries_total counter\nauspex_delivery_retries_total %llu\n",
            (unsigned long long)atomic_load(&os->attempts), (unsigned long long)atomic_load(&os->delivered),
            (unsigned long long)atomic_load(&os->failed), (unsigned long long)atomic_load(&os->retries));
    }
    return rc ? AX_ENOMEM : 0;
}
