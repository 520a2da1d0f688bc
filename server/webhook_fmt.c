/* server/webhook_fmt.c: what a decision looks like outside auspex. Four webhook bodies
 * (auspex's own JSON schema, Slack, DingTalk, and Alertmanager's webhook payload version
 * 4 so existing Alertmanager receivers accept it) and the {{...}} templates of exec
 * arguments. Schemas, examples and field tables: docs/webhooks.md.
 *
 * Every body is JSON built by appending to the caller's ax_buf: strings through
 * srv_json_str (valid UTF-8 out whatever comes in), numbers through ax_fmt_double with
 * NaN and ±Inf as null, times (Unix seconds in srv_dec_view) as RFC 3339 UTC strings
 * through ax_fmt_rfc3339, or null when NaN. Nothing here keeps state between calls.
 * Errors from the buffer (AX_ETOOBIG, which empties it, or AX_ENOMEM) are returned as is.
 */
#include "server/actions.h"
#include "server/app.h"
#include "server/rules.h"
#include "forecast/forecast.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const KIND_NAMES[] = {
    [FC_DEC_NO_ACTION] = "no_action",
    [FC_DEC_SCALE_UP_NOW] = "scale_up_immediately",
    [FC_DEC_SCALE_UP_PREPARED] = "scale_up_prepared",
    [FC_DEC_SCALE_DOWN] = "consider_scale_down",
};
#define N_KINDS (sizeof KIND_NAMES / sizeof KIND_NAMES[0])

const char *srv_decision_kind_name(int kind) {
    if (kind < 0 || (size_t)kind >= N_KINDS || !KIND_NAMES[kind]) return "unknown";
    return KIND_NAMES[kind];
}

int srv_decision_kind_parse(const char *s, size_t len) {
    for (size_t k = 0; k < N_KINDS; k++)
        if (KIND_NAMES[k] && strlen(KIND_NAMES[k]) == len && !memcmp(KIND_NAMES[k], s, len))
            return (int)k;
    return -1;
}

/* ---- small pieces ---- */

/* Unix seconds t as RFC 3339 into p (AX_FMT_RFC3339_MAX bytes). Returns the length, or 0
 * when t is NaN, infinite or beyond what int64 milliseconds hold. */
static size_t fmt_time(char *p, double t) {
    if (!isfinite(t) || fabs(t) > 9.2e15) return 0;
    return ax_fmt_rfc3339(p, (int64_t)llround(t * 1000.0));
}

static int put_lit(ax_buf *b, const char *s) { return ax_buf_append(b, s, strlen(s)); }

/* A string, or null for NULL. */
static int put_str(ax_buf *b, const char *s) {
    return s ? srv_json_str(b, s, strlen(s)) : put_lit(b, "null");
}

/* A JSON number, or null for NaN and ±Inf. */
static int put_num(ax_buf *b, double v) {
    if (!isfinite(v)) return put_lit(b, "null");
    char tmp[40];
    size_t n = ax_fmt_double(tmp, v);
    return ax_buf_append(b, tmp, n);
}

/* An RFC 3339 string, or null for NaN. */
static int put_time(ax_buf *b, double t) {
    char tmp[AX_FMT_RFC3339_MAX];
    size_t n = fmt_time(tmp, t);
    if (!n) return put_lit(b, "null");
    return srv_json_str(b, tmp, n);
}

/* `,"key":` (or without the comma for the first member). */
static int put_key(ax_buf *b, const char *key, bool first) {
    int rc = first ? 0 : ax_buf_append(b, ",", 1);
    if (!rc) rc = srv_json_str(b, key, strlen(key));
    if (!rc) rc = ax_buf_append(b, ":", 1);
    return rc;
}

/* `,"key":value` for a string (or null), a number (or null), a time (or null). */
static int kv_str(ax_buf *b, const char *key, const char *s) {
    int rc = put_key(b, key, false);
    return rc ? rc : put_str(b, s);
}
static int kv_num(ax_buf *b, const char *key, double v) {
    int rc = put_key(b, key, false);
    return rc ? rc : put_num(b, v);
}
static int kv_time(ax_buf *b, const char *key, double t) {
    int rc = put_key(b, key, false);
    return rc ? rc : put_time(b, t);
}

/* ax_fmt_double text of v, "NaN" included (for messages and string annotations). */
static const char *num_text(char tmp[40], double v) {
    ax_fmt_double(tmp, v);
    return tmp;
}

static size_t base_url_len(const srv_dec_view *d) {
    if (!d->external_url) return 0;
    size_t n = strlen(d->external_url);
    while (n && d->external_url[n - 1] == '/') n--;
    return n;
}

/* Append "<external_url>/api/v1/decisions/<id>" (raw, not JSON-quoted) to b. The caller
 * checks base_url_len(d) != 0 first. */
static int put_decision_url(ax_buf *b, const srv_dec_view *d) {
    int rc = ax_buf_append(b, d->external_url, base_url_len(d));
    if (!rc) rc = ax_buf_printf(b, "/api/v1/decisions/%llu", (unsigned long long)d->id);
    return rc;
}

/* The decision's URL as a JSON string, or the literal `none` without -http.externalURL. */
static int put_url_json(ax_buf *b, const srv_dec_view *d, const char *none) {
    if (!base_url_len(d)) return put_lit(b, none);
    ax_buf u;
    ax_buf_init(&u, 1u << 16);
    int rc = put_decision_url(&u, d);
    if (!rc) rc = srv_json_str(b, (const char *)u.data, u.len);
    ax_buf_free(&u);
    return rc;
}

/* ---- json: auspex's own schema ---- */

static int body_json(const srv_dec_view *d, ax_buf *b) {
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)d->id);
    int rc = put_lit(b, "{\"version\":\"1\"");
    if (!rc) rc = kv_str(b, "id", id);
    if (!rc) rc = kv_str(b, "idempotency_key", d->idempotency_key);
    if (!rc) rc = kv_str(b, "rule", d->rule);
    if (!rc) rc = kv_str(b, "decision", srv_decision_kind_name(d->kind));
    if (!rc) rc = kv_num(b, "urgency", d->urgency);
    if (!rc) rc = kv_str(b, "mode", d->mode);
    if (!rc) rc = kv_time(b, "time", d->now);
    if (!rc) rc = kv_time(b, "act_at", d->act_at);
    if (!rc) rc = kv_time(b, "crossing_time", d->cross_at);
    if (!rc) rc = kv_num(b, "current_capacity", d->capacity);
    if (!rc) rc = kv_num(b, "desired_capacity", d->desired);
    if (!rc) rc = kv_str(b, "signal", d->signal);
    if (!rc) rc = kv_num(b, "threshold", d->threshold);
    if (!rc) rc = put_key(b, "peak", false);
    if (!rc) {
        if (isfinite(d->peak)) {
            rc = put_lit(b, "{\"time\":");
            if (!rc) rc = put_time(b, d->peak_at);
            if (!rc) rc = put_lit(b, ",\"value\":");
            if (!rc) rc = put_num(b, d->peak);
            if (!rc) rc = put_lit(b, "}");
        } else {
            rc = put_lit(b, "null");
        }
    }
    if (!rc) rc = put_key(b, "cold_start", false);
    if (!rc) rc = put_lit(b, d->cold_start ? "true" : "false");
    if (!rc) rc = kv_str(b, "model", d->model);
    if (!rc) rc = kv_str(b, "reason", d->reason);
    if (!rc) rc = put_key(b, "forecast", false);
    if (!rc) rc = put_lit(b, "[");
    size_t h = d->yhat ? d->h : 0;
    for (size_t i = 0; i < h && !rc; i++) {
        rc = put_lit(b, i ? ",{\"time\":" : "{\"time\":");
        if (!rc) rc = put_time(b, d->now + (double)(i + 1) * d->step_s);
        if (!rc) rc = put_lit(b, ",\"yhat\":");
        if (!rc) rc = put_num(b, d->yhat[i]);
        if (!rc) rc = put_lit(b, ",\"lower\":");
        if (!rc) rc = put_num(b, d->lower ? d->lower[i] : NAN);
        if (!rc) rc = put_lit(b, ",\"upper\":");
        if (!rc) rc = put_num(b, d->upper ? d->upper[i] : NAN);
        if (!rc) rc = put_lit(b, "}");
    }
    if (!rc) rc = put_lit(b, "]");
    if (!rc) rc = put_key(b, "url", false);
    if (!rc) rc = put_url_json(b, d, "null");
    if (!rc) rc = put_lit(b, "}");
    return rc;
}

/* ---- slack and dingtalk: a human-readable message ---- */

/* Append s with Slack's three escapes (& < >) when slack, verbatim otherwise. */
static int put_text(ax_buf *b, const char *s, bool slack) {
    if (!s) return 0;
    if (!slack) return put_lit(b, s);
    int rc = 0;
    for (const char *p = s; *p && !rc; p++) {
        switch (*p) {
        case '&': rc = put_lit(b, "&amp;"); break;
        case '<': rc = put_lit(b, "&lt;"); break;
        case '>': rc = put_lit(b, "&gt;"); break;
        default: rc = ax_buf_append(b, p, 1); break;
        }
    }
    return rc;
}

/* The message text, for Slack (mrkdwn, escaped, link as <url|decision N>) or DingTalk
 * (markdown, a heading, paragraphs separated by blank lines, link as [decision N](url)). */
static int message(const srv_dec_view *d, bool slack, ax_buf *t) {
    char a[40], b2[40], c[40];
    const char *sep = slack ? "\n" : "\n\n";
    int rc = put_lit(t, slack ? "auspex: rule *" : "### auspex: rule **");
    if (!rc) rc = put_text(t, d->rule ? d->rule : "", slack);
    if (!rc) rc = put_lit(t, slack ? "*: " : "**\n\n");
    if (!rc) rc = ax_buf_printf(t, "%s %s \xe2\x86\x92 %s (urgency %s)",
                                srv_decision_kind_name(d->kind), num_text(a, d->capacity),
                                num_text(b2, d->desired), num_text(c, d->urgency));
    if (!rc && d->mode && strcmp(d->mode, "auto")) rc = ax_buf_printf(t, ", mode %s", d->mode);
    if (!rc && d->reason && *d->reason) {
        rc = put_lit(t, sep);
        if (!rc) rc = put_text(t, d->reason, slack);
    }
    char tm[AX_FMT_RFC3339_MAX];
    if (!rc && isfinite(d->peak)) {
        rc = put_lit(t, sep);
        if (!rc) rc = put_lit(t, "peak ");
        if (!rc) rc = put_text(t, d->signal, slack);
        if (!rc && d->signal) rc = put_lit(t, " ");
        if (!rc) rc = put_lit(t, num_text(a, d->peak));
        if (!rc && fmt_time(tm, d->peak_at)) rc = ax_buf_printf(t, " at %s", tm);
        if (!rc && isfinite(d->threshold)) rc = ax_buf_printf(t, " (threshold %s)", num_text(c, d->threshold));
    }
    if (!rc && d->kind == FC_DEC_SCALE_UP_PREPARED && fmt_time(tm, d->act_at)) {
        rc = put_lit(t, sep);
        if (!rc) rc = ax_buf_printf(t, "act at %s", tm);
    }
    if (!rc && base_url_len(d)) {
        ax_buf u;
        ax_buf_init(&u, 1u << 16);
        rc = put_decision_url(&u, d);
        if (!rc) rc = ax_buf_append(&u, "", 1); /* NUL for put_text */
        if (!rc) rc = put_lit(t, sep);
        if (!rc && slack) {
            rc = put_lit(t, "<");
            if (!rc) rc = put_text(t, (const char *)u.data, true);
            if (!rc) rc = ax_buf_printf(t, "|decision %llu>", (unsigned long long)d->id);
        } else if (!rc) {
            rc = ax_buf_printf(t, "[decision %llu](%s)", (unsigned long long)d->id, (const char *)u.data);
        }
        ax_buf_free(&u);
    }
    return rc;
}

static int body_slack(const srv_dec_view *d, ax_buf *b) {
    ax_buf t;
    ax_buf_init(&t, b->max);
    int rc = message(d, true, &t);
    if (!rc) rc = put_lit(b, "{\"text\":");
    if (!rc) rc = srv_json_str(b, (const char *)t.data, t.len);
    if (!rc) rc = put_lit(b, "}");
    ax_buf_free(&t);
    return rc;
}

static int body_dingtalk(const srv_dec_view *d, ax_buf *b) {
    ax_buf t;
    ax_buf_init(&t, b->max);
    int rc = put_lit(&t, "auspex: ");
    if (!rc) rc = put_lit(&t, d->rule ? d->rule : "");
    if (!rc) rc = put_lit(&t, " ");
    if (!rc) rc = put_lit(&t, srv_decision_kind_name(d->kind));
    if (!rc) rc = put_lit(b, "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":");
    if (!rc) rc = srv_json_str(b, (const char *)t.data, t.len);
    if (!rc) {
        ax_buf_reset(&t);
        rc = message(d, false, &t);
    }
    if (!rc) rc = put_lit(b, ",\"text\":");
    if (!rc) rc = srv_json_str(b, (const char *)t.data, t.len);
    if (!rc) rc = put_lit(b, "}}");
    ax_buf_free(&t);
    return rc;
}

/* ---- alertmanager: the webhook payload, version 4 ---- */

/* The alert's labels: alertname, rule, decision, signal (when known), severity. */
static int am_labels(const srv_dec_view *d, ax_buf *b) {
    int rc = put_lit(b, "{\"alertname\":\"AuspexScalingDecision\"");
    if (!rc) rc = kv_str(b, "rule", d->rule ? d->rule : "");
    if (!rc) rc = kv_str(b, "decision", srv_decision_kind_name(d->kind));
    if (!rc && d->signal) {
        rc = put_key(b, "signal", false);
        if (!rc) rc = put_str(b, d->signal);
    }
    if (!rc) rc = kv_str(b, "severity", d->kind == FC_DEC_SCALE_UP_NOW ? "warning" : "info");
    if (!rc) rc = put_lit(b, "}");
    return rc;
}

/* A string annotation holding a number; left out when v is not finite. */
static int am_num(ax_buf *b, const char *key, double v) {
    if (!isfinite(v)) return 0;
    char tmp[40];
    size_t n = ax_fmt_double(tmp, v);
    int rc = put_key(b, key, false);
    if (!rc) rc = srv_json_str(b, tmp, n);
    return rc;
}

/* A string annotation holding a time; left out when t is NaN. */
static int am_time(ax_buf *b, const char *key, double t) {
    char tmp[AX_FMT_RFC3339_MAX];
    size_t n = fmt_time(tmp, t);
    if (!n) return 0;
    int rc = put_key(b, key, false);
    if (!rc) rc = srv_json_str(b, tmp, n);
    return rc;
}

/* Annotations are strings only (Alertmanager's template.KV). */
static int am_annotations(const srv_dec_view *d, ax_buf *b) {
    char a[40], c[40];
    ax_buf s;
    ax_buf_init(&s, b->max);
    int rc = ax_buf_printf(&s, "rule %s: %s %s \xe2\x86\x92 %s", d->rule ? d->rule : "",
                           srv_decision_kind_name(d->kind), num_text(a, d->capacity),
                           num_text(c, d->desired));
    if (!rc) rc = put_lit(b, "{\"summary\":");
    if (!rc) rc = srv_json_str(b, (const char *)s.data, s.len);
    ax_buf_free(&s);
    if (!rc) rc = kv_str(b, "description", d->reason ? d->reason : "");
    if (!rc) rc = am_num(b, "current_capacity", d->capacity);
    if (!rc) rc = am_num(b, "desired_capacity", d->desired);
    if (!rc) rc = am_num(b, "urgency", d->urgency);
    if (!rc) rc = am_num(b, "peak", d->peak);
    if (!rc) rc = am_time(b, "peak_time", d->peak_at);
    if (!rc) rc = am_time(b, "act_at", d->act_at);
    if (!rc && d->idempotency_key) {
        rc = put_key(b, "idempotency_key", false);
        if (!rc) rc = put_str(b, d->idempotency_key);
    }
    if (!rc) rc = put_lit(b, "}");
    return rc;
}

static int body_alertmanager(const srv_dec_view *d, ax_buf *b) {
    const char *rule = d->rule ? d->rule : "";
    /* groupKey as Alertmanager prints it: {}:{rule="<rule>"} with Go's %q quoting */
    ax_buf gk;
    ax_buf_init(&gk, b->max);
    int rc = put_lit(&gk, "{}:{rule=\"");
    for (const char *p = rule; *p && !rc; p++) {
        if (*p == '"' || *p == '\\') rc = ax_buf_printf(&gk, "\\%c", *p);
        else if (*p == '\n') rc = put_lit(&gk, "\\n");
        else rc = ax_buf_append(&gk, p, 1);
    }
    if (!rc) rc = put_lit(&gk, "\"}");
    if (!rc) rc = put_lit(b, "{\"version\":\"4\",\"groupKey\":");
    if (!rc) rc = srv_json_str(b, (const char *)gk.data, gk.len);
    ax_buf_free(&gk);
    if (!rc) rc = put_lit(b, ",\"truncatedAlerts\":0,\"status\":\"firing\",\"receiver\":");
    if (!rc) rc = put_str(b, d->receiver ? d->receiver : "");
    if (!rc) rc = put_lit(b, ",\"groupLabels\":{\"rule\":");
    if (!rc) rc = put_str(b, rule);
    if (!rc) rc = put_lit(b, "},\"commonLabels\":");
    if (!rc) rc = am_labels(d, b);
    if (!rc) rc = put_lit(b, ",\"commonAnnotations\":");
    if (!rc) rc = am_annotations(d, b);
    if (!rc) rc = put_lit(b, ",\"externalURL\":");
    if (!rc) rc = srv_json_str(b, d->external_url ? d->external_url : "", base_url_len(d));
    if (!rc) rc = put_lit(b, ",\"alerts\":[{\"status\":\"firing\",\"labels\":");
    if (!rc) rc = am_labels(d, b);
    if (!rc) rc = put_lit(b, ",\"annotations\":");
    if (!rc) rc = am_annotations(d, b);
    if (!rc) rc = put_lit(b, ",\"startsAt\":");
    if (!rc) {
        char tm[AX_FMT_RFC3339_MAX];
        size_t n = fmt_time(tm, d->now);
        rc = n ? srv_json_str(b, tm, n) : put_lit(b, "\"0001-01-01T00:00:00Z\"");
    }
    if (!rc) rc = put_lit(b, ",\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":");
    if (!rc) rc = put_url_json(b, d, "\"\"");
    if (!rc) {
        /* fingerprint: ax_hash of the rule's bytes, chained into the id's 8 bytes (LE) */
        uint8_t idb[8];
        ax_put_u64le(idb, d->id);
        uint64_t h = ax_hash(idb, sizeof idb, ax_hash(rule, strlen(rule), 0));
        rc = ax_buf_printf(b, ",\"fingerprint\":\"%016llx\"}]}", (unsigned long long)h);
    }
    return rc;
}

int srv_webhook_body(int format, const srv_dec_view *d, ax_buf *out) {
    switch (format) {
    case SRV_WH_JSON: return body_json(d, out);
    case SRV_WH_SLACK: return body_slack(d, out);
    case SRV_WH_DINGTALK: return body_dingtalk(d, out);
    case SRV_WH_ALERTMANAGER: return body_alertmanager(d, out);
    default: return AX_EINVAL;
    }
}

/* ---- exec templates ---- */

/* The result is appended at out->len; on success out->len counts the rendered bytes but
 * not the NUL that follows them (data[len] == 0), so the caller can use out->data as a C
 * string. On AX_EINVAL out->len is back where it was; AX_ETOOBIG empties out. */
int srv_exec_render(const char *tmpl, const srv_dec_view *d, ax_buf *out) {
    size_t start = out->len;
    const char *p = tmpl;
    int rc = 0;
    while (!rc) {
        const char *open = strstr(p, "{{");
        if (!open) {
            rc = put_lit(out, p);
            break;
        }
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            rc = AX_EINVAL;
            break;
        }
        rc = ax_buf_append(out, p, (size_t)(open - p));
        const char *name = open + 2;
        size_t n = (size_t)(close - name);
        char tmp[40];
        const char *val = NULL;
        if (n == 7 && !memcmp(name, "desired", 7)) val = num_text(tmp, d->desired);
        else if (n == 7 && !memcmp(name, "current", 7)) val = num_text(tmp, d->capacity);
        else if (n == 4 && !memcmp(name, "rule", 4)) val = d->rule ? d->rule : "";
        else if (n == 8 && !memcmp(name, "decision", 8)) val = srv_decision_kind_name(d->kind);
        else if (n == 7 && !memcmp(name, "urgency", 7)) val = num_text(tmp, d->urgency);
        if (!rc && !val) rc = AX_EINVAL;
        if (!rc) rc = put_lit(out, val);
        p = close + 2;
    }
    if (!rc) rc = ax_buf_reserve(out, 1);
    if (!rc) out->data[out->len] = 0;
    if (rc == AX_EINVAL && out->len >= start) out->len = start;
    return rc;
}
