/* server/rules.c: rules file YAML -> srv_rules (see server/rules.h, docs/rules.md).
 *
 * The YAML becomes a srv_yn tree in a scratch arena (server/yaml_tree.h); then one
 * function per object walks its mapping strictly. Each error names the line, the object
 * (`rule "web-cpu"`, `webhook "scaler"`, or `rules[3]` before the name is known) and the
 * field. Cross-field checks run after a rule's mapping is walked, on the line of the
 * field at fault. What is kept is copied into the result's arena; the tree is dropped at
 * the end. The value of a secret_env variable is copied but never formatted anywhere:
 * only names, numbers, durations and enum words are echoed in messages.
 */
#include "server/rules.h"
#include "query/query.h"
#include "server/scrape_config.h"
#include "server/yaml_tree.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GRID 20000 /* history / step and horizon / step */

typedef srv_yn ynode;

typedef struct rc_ctx {
    ax_arena *a;
    ax_err *e;
    const char *file;    /* message prefix, or NULL */
    ax_arena scratch;    /* PromQL parses */
} rc_ctx;

static int bad(rc_ctx *c, const ynode *n, const char *obj, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(rc_ctx *c, const ynode *n, const char *obj, const char *fmt, ...) {
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return ax_err_set(c->e, AX_EINVAL, "%s%sline %d: %s%s%s", c->file ? c->file : "", c->file ? ": " : "",
                      n ? n->line : 1, obj ? obj : "", obj && *obj ? ": " : "", m);
}

static int nomem(rc_ctx *c) { return ax_err_set(c->e, AX_ENOMEM, "rules: out of memory"); }

static int check_map(rc_ctx *c, const ynode *m, const char *obj, const char *field) {
    char msg[160];
    const ynode *at = srv_yn_map_check(m, msg, sizeof msg);
    if (!at) return 0;
    return field ? bad(c, at, obj, "%s: %s", field, msg) : bad(c, at, obj, "%s", msg);
}

static char *dup_arena(rc_ctx *c, const char *s, size_t n) {
    char *d = ax_arena_alloc(c->a, n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

static int get_str(rc_ctx *c, const ynode *v, const char *obj, const char *key, char **out) {
    if (v->kind != SRV_YN_SCALAR || v->null_ || v->len == 0)
        return bad(c, v, obj, "%s must be a non-empty string", key);
    if (memchr(v->s, 0, v->len)) return bad(c, v, obj, "%s contains a NUL byte", key);
    *out = dup_arena(c, v->s, v->len);
    return *out ? 0 : nomem(c);
}

static bool name_ok(const char *s, size_t n) {
    if (!n || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return false;
    }
    return true;
}

/* PromQL duration: "0" or digit+unit groups, as Prometheus' model.ParseDuration. */
static int get_duration(rc_ctx *c, const ynode *v, const char *obj, const char *key, int64_t *ms) {
    if (v->kind != SRV_YN_SCALAR || v->null_) return bad(c, v, obj, "%s must be a duration", key);
    const char *s = v->s;
    size_t len = v->len;
    bool ok = len == 1 && s[0] == '0';
    int64_t x = 0;
    if (!ok && len && len <= 32 && s[len - 1] >= 'a' && s[len - 1] <= 'z') {
        ok = true;
        for (size_t i = 0; i < len; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z'))) ok = false;
        ok = ok && ax_duration_parse(s, len, &x) == 0 && x >= 0;
    }
    if (!ok) return bad(c, v, obj, "%s: not a valid duration \"%.32s\" (use e.g. 30s, 5m, 4h, 14d)", key, s);
    *ms = x;
    return 0;
}

static bool parse_num(const ynode *v, double *out) {
    if (v->kind != SRV_YN_SCALAR || v->null_ || v->quoted || !v->len || v->len > 64) return false;
    char buf[72];
    memcpy(buf, v->s, v->len);
    buf[v->len] = 0;
    char *end = NULL;
    errno = 0;
    double x = strtod(buf, &end);
    if (end != buf + v->len || !isfinite(x) || errno) return false;
    for (size_t i = 0; i < v->len; i++)
        if (buf[i] == 'x' || buf[i] == 'X' || buf[i] == 'p' || buf[i] == 'P') return false; /* no hex */
    *out = x;
    return true;
}

static int get_num(rc_ctx *c, const ynode *v, const char *obj, const char *key, double *out) {
    if (!parse_num(v, out))
        return bad(c, v, obj, "%s must be a number, got %s", key,
                   v->kind == SRV_YN_SCALAR ? "a string" : srv_yn_kind_name(v));
    return 0;
}

/* A PromQL expression that yields an instant vector or a scalar. */
static int get_expr(rc_ctx *c, const ynode *v, const char *obj, const char *key, char **out) {
    int rc = get_str(c, v, obj, key, out);
    if (rc) return rc;
    pql_node *root = NULL;
    ax_err pe = {0};
    rc = pql_parse(v->s, v->len, &c->scratch, &root, &pe);
    int ty = rc ? PQL_T_NONE : pql_node_type(root);
    ax_arena_clear(&c->scratch);
    if (rc == AX_ENOMEM) return nomem(c);
    if (rc) return bad(c, v, obj, "%s: invalid PromQL: %.200s", key, pe.msg);
    if (ty != PQL_T_VECTOR && ty != PQL_T_SCALAR)
        return bad(c, v, obj, "%s: PromQL must be an instant vector or scalar expression", key);
    return 0;
}

static const char *const FORMATS[] = {"json", "slack", "dingtalk", "alertmanager"};
static const char *const MODES[] = {"auto", "approve", "dry_run"};

const char *srv_webhook_format_name(int f) { return f >= 0 && f < 4 ? FORMATS[f] : "?"; }
const char *srv_rule_mode_name(int m) { return m >= 0 && m < 3 ? MODES[m] : "?"; }

static int get_enum(rc_ctx *c, const ynode *v, const char *obj, const char *key, const char *const *names, int n,
                    int *out) {
    if (v->kind == SRV_YN_SCALAR && !v->null_)
        for (int i = 0; i < n; i++)
            if (srv_yn_key_is(v, names[i])) { *out = i; return 0; }
    char list[200] = "";
    for (int i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? "|" : "", names[i]);
    }
    return bad(c, v, obj, "%s must be one of %s", key, list);
}

/* ---- webhooks ---- */

static int parse_webhook(rc_ctx *c, const ynode *m, size_t idx, srv_rules *out, srv_webhook *w) {
    char obj[200];
    snprintf(obj, sizeof obj, "webhooks[%zu]", idx);
    int rc = check_map(c, m, obj, NULL);
    if (rc) return rc;
    const ynode *nm = srv_yn_get(m, "name");
    if (!nm) return bad(c, m, obj, "name is required");
    if (nm->kind != SRV_YN_SCALAR || !name_ok(nm->s, nm->len))
        return bad(c, nm, obj, "name must match [a-zA-Z0-9_-]+ (at most 128 bytes)");
    snprintf(obj, sizeof obj, "webhook \"%s\"", nm->s);
    for (size_t i = 0; i < idx; i++)
        if (!strcmp(out->webhooks[i].name, nm->s)) return bad(c, nm, obj, "name: duplicate webhook name");
    w->format = SRV_WH_JSON;
    w->timeout_ms = 10000;
    w->max_tries = 8;
    const ynode *url = NULL;
    for (const ynode *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const ynode *v = k->next;
        if (srv_yn_key_is(k, "name")) rc = get_str(c, v, obj, "name", &w->name);
        else if (srv_yn_key_is(k, "url")) { url = v; rc = get_str(c, v, obj, "url", &w->url); }
        else if (srv_yn_key_is(k, "format")) rc = get_enum(c, v, obj, "format", FORMATS, 4, &w->format);
        else if (srv_yn_key_is(k, "secret_env")) {
            rc = get_str(c, v, obj, "secret_env", &w->secret_env);
            if (!rc && !name_ok(v->s, v->len))
                rc = bad(c, v, obj, "secret_env must name an environment variable, not hold the secret");
            if (!rc) {
                const char *val = getenv(w->secret_env);
                if (!val || !*val)
                    rc = bad(c, v, obj, "secret_env: environment variable %s is not set", w->secret_env);
                else if (!(w->secret = dup_arena(c, val, strlen(val)))) rc = nomem(c);
            }
        } else if (srv_yn_key_is(k, "timeout")) {
            rc = get_duration(c, v, obj, "timeout", &w->timeout_ms);
            if (!rc && w->timeout_ms <= 0) rc = bad(c, v, obj, "timeout must be more than 0");
        } else if (srv_yn_key_is(k, "max_tries")) {
            double x;
            rc = get_num(c, v, obj, "max_tries", &x);
            if (!rc && (x < 1 || x > 100 || x != floor(x))) rc = bad(c, v, obj, "max_tries must be an integer in 1..100");
            if (!rc) w->max_tries = (unsigned)x;
        } else rc = bad(c, k, obj, "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (!url) return bad(c, m, obj, "url is required");
    const char *u = w->url;
    size_t pre = !strncmp(u, "http://", 7) ? 7 : !strncmp(u, "https://", 8) ? 8 : 0;
    if (!pre || !u[pre] || u[pre] == '/' || strpbrk(u, " \t\r\n"))
        return bad(c, url, obj, "url must be an http:// or https:// URL with a host");
    return 0;
}

/* ---- rules ---- */

static int parse_signal(rc_ctx *c, const ynode *m, const char *obj, size_t idx, srv_rule_signal *s) {
    char o2[260];
    snprintf(o2, sizeof o2, "%s: signals[%zu]", obj, idx);
    int rc = check_map(c, m, o2, NULL);
    if (rc) return rc;
    bool up = false;
    s->down_at = NAN;
    for (const ynode *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const ynode *v = k->next;
        if (srv_yn_key_is(k, "name")) {
            rc = get_str(c, v, o2, "name", &s->name);
            if (!rc && !name_ok(v->s, v->len)) rc = bad(c, v, o2, "name must match [a-zA-Z0-9_-]+");
        } else if (srv_yn_key_is(k, "expr")) rc = get_expr(c, v, o2, "expr", &s->expr);
        else if (srv_yn_key_is(k, "scale_up_at")) { up = true; rc = get_num(c, v, o2, "scale_up_at", &s->up_at); }
        else if (srv_yn_key_is(k, "scale_down_at")) rc = get_num(c, v, o2, "scale_down_at", &s->down_at);
        else rc = bad(c, k, o2, "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (!s->name) return bad(c, m, o2, "name is required");
    if (!s->expr) return bad(c, m, o2, "expr is required");
    if (!up) return bad(c, m, o2, "scale_up_at is required");
    if (!isnan(s->down_at) && s->down_at >= s->up_at)
        return bad(c, srv_yn_get(m, "scale_down_at"), o2, "scale_down_at (%g) must be less than scale_up_at (%g)",
                   s->down_at, s->up_at);
    return 0;
}

static int parse_capacity(rc_ctx *c, const ynode *m, const char *obj, srv_rule *r) {
    int rc = check_map(c, m, obj, "capacity");
    if (rc) return rc;
    bool has_max = false, has_target = false, has_cur = false;
    r->cfg.cap_min = 1;
    r->cap_current = NAN;
    for (const ynode *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const ynode *v = k->next;
        if (srv_yn_key_is(k, "current")) {
            has_cur = true;
            if (!parse_num(v, &r->cap_current)) rc = get_expr(c, v, obj, "capacity.current", &r->cap_query);
            else if (r->cap_current < 0) rc = bad(c, v, obj, "capacity.current must not be negative");
        } else if (srv_yn_key_is(k, "min")) {
            rc = get_num(c, v, obj, "capacity.min", &r->cfg.cap_min);
            if (!rc && r->cfg.cap_min < 0) rc = bad(c, v, obj, "capacity.min must not be negative");
        } else if (srv_yn_key_is(k, "max")) {
            has_max = true;
            rc = get_num(c, v, obj, "capacity.max", &r->cfg.cap_max);
        } else if (srv_yn_key_is(k, "target_per_unit")) {
            has_target = true;
            rc = get_num(c, v, obj, "capacity.target_per_unit", &r->cfg.target);
            if (!rc && r->cfg.target <= 0) rc = bad(c, v, obj, "capacity.target_per_unit must be more than 0");
        } else rc = bad(c, k, obj, "capacity: unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (!has_cur) return bad(c, m, obj, "capacity.current is required (a PromQL expression or a number)");
    if (!has_max) return bad(c, m, obj, "capacity.max is required");
    if (!has_target) return bad(c, m, obj, "capacity.target_per_unit is required");
    if (r->cfg.cap_min > r->cfg.cap_max)
        return bad(c, srv_yn_get(m, "max"), obj, "capacity.min (%g) is more than capacity.max (%g)", r->cfg.cap_min,
                   r->cfg.cap_max);
    return 0;
}

static bool hhmm(const char *s, int *min) {
    if (!(s[0] >= '0' && s[0] <= '2' && s[1] >= '0' && s[1] <= '9' && s[2] == ':' && s[3] >= '0' && s[3] <= '5' &&
          s[4] >= '0' && s[4] <= '9'))
        return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    if (h > 23) return false;
    *min = h * 60 + (s[3] - '0') * 10 + (s[4] - '0');
    return true;
}

static int parse_window(rc_ctx *c, const ynode *v, const char *obj, srv_rule *r) {
    if (v->kind != SRV_YN_SCALAR || v->len != 11 || v->s[5] != '-' || !hhmm(v->s, &r->cfg.down_from_min) ||
        !hhmm(v->s + 6, &r->cfg.down_to_min))
        return bad(c, v, obj, "scale_down_window must be \"HH:MM-HH:MM\" (e.g. \"02:00-04:00\")");
    if (r->cfg.down_from_min == r->cfg.down_to_min)
        return bad(c, v, obj, "scale_down_window is empty (start equals end)");
    r->has_window = true;
    return 0;
}

static int parse_tz(rc_ctx *c, const ynode *v, const char *obj, srv_rule *r) {
    if (v->kind == SRV_YN_SCALAR && (srv_yn_key_is(v, "UTC") || srv_yn_key_is(v, "Z"))) {
        r->cfg.tz_offset_min = 0;
        return 0;
    }
    int m;
    if (v->kind == SRV_YN_SCALAR && v->len == 6 && (v->s[0] == '+' || v->s[0] == '-') && hhmm(v->s + 1, &m) &&
        m <= 14 * 60) {
        r->cfg.tz_offset_min = v->s[0] == '-' ? -m : m;
        return 0;
    }
    return bad(c, v, obj, "timezone must be \"UTC\" or an offset like \"+02:00\"");
}

static int parse_action(rc_ctx *c, const ynode *m, const char *obj, size_t idx, const srv_rules *out,
                        srv_rule_action *a) {
    char o2[260];
    snprintf(o2, sizeof o2, "%s: actions[%zu]", obj, idx);
    int rc = check_map(c, m, o2, NULL);
    if (rc) return rc;
    const ynode *k = m->kid, *v = k->next;
    a->timeout_ms = SRV_EXEC_DEFAULT_TIMEOUT_MS;
    if (m->n == 4 && srv_yn_key_is(k, "exec") && srv_yn_key_is(v->next, "timeout")) {
        rc = get_duration(c, v->next->next, o2, "timeout", &a->timeout_ms);
        if (rc) return rc;
        if (a->timeout_ms <= 0) return bad(c, v->next->next, o2, "timeout must be more than 0");
    } else if (m->n == 4 && srv_yn_key_is(k, "timeout") && srv_yn_key_is(v->next, "exec")) {
        rc = get_duration(c, v, o2, "timeout", &a->timeout_ms);
        if (rc) return rc;
        if (a->timeout_ms <= 0) return bad(c, v, o2, "timeout must be more than 0");
        k = v->next;
        v = k->next;
    } else if (m->n != 2) {
        return bad(c, m, o2, "an action has exactly one key, webhook or exec (an exec may add timeout)");
    }
    if (srv_yn_key_is(k, "webhook")) {
        a->kind = SRV_ACT_WEBHOOK;
        if (v->kind != SRV_YN_SCALAR || v->null_) return bad(c, v, o2, "webhook must be a webhook name");
        for (size_t i = 0; i < out->n_webhooks; i++)
            if (!strcmp(out->webhooks[i].name, v->s)) { a->webhook = i; return 0; }
        return bad(c, v, o2, "webhook \"%.64s\" is not defined under webhooks", v->s);
    }
    if (!srv_yn_key_is(k, "exec")) return bad(c, k, o2, "unknown key \"%.64s\" (use webhook or exec)", k->s);
    a->kind = SRV_ACT_EXEC;
    if (v->kind != SRV_YN_SEQ || v->n == 0 || v->n > 64)
        return bad(c, v, o2, "exec must be a list [program, args...] of 1 to 64 strings");
    a->argv = ax_arena_alloc(c->a, (v->n + 1) * sizeof *a->argv);
    if (!a->argv) return nomem(c);
    size_t i = 0;
    for (const ynode *it = v->kid; it; it = it->next, i++) {
        if (it->kind != SRV_YN_SCALAR || it->null_) return bad(c, it, o2, "exec[%zu] must be a string", i);
        if (memchr(it->s, 0, it->len)) return bad(c, it, o2, "exec[%zu] contains a NUL byte", i);
        if (i == 0 && it->s[0] != '/') return bad(c, it, o2, "exec: the program must be an absolute path");
        for (const char *p = strstr(it->s, "{{"); p; p = strstr(p + 2, "{{")) {
            static const char *const T[] = {"desired", "current", "rule", "decision", "urgency"};
            const char *end = strstr(p + 2, "}}");
            if (!end) return bad(c, it, o2, "exec[%zu]: unterminated \"{{\"", i);
            size_t n = (size_t)(end - p - 2);
            bool ok = false;
            for (size_t t = 0; t < 5 && !ok; t++) ok = strlen(T[t]) == n && !memcmp(T[t], p + 2, n);
            if (!ok)
                return bad(c, it, o2,
                           "exec[%zu]: unknown template \"{{%.*s}}\" (use desired, current, rule, decision, urgency)",
                           i, (int)(n > 32 ? 32 : n), p + 2);
            p = end;
        }
        if (!(a->argv[i] = dup_arena(c, it->s, it->len))) return nomem(c);
    }
    a->argv[i] = NULL;
    a->argc = i;
    return 0;
}

static int parse_rule(rc_ctx *c, const ynode *m, size_t idx, srv_rules *out, srv_rule *r) {
    char obj[200];
    snprintf(obj, sizeof obj, "rules[%zu]", idx);
    int rc = check_map(c, m, obj, NULL);
    if (rc) return rc;
    r->line = m->line;
    const ynode *nm = srv_yn_get(m, "name");
    if (!nm) return bad(c, m, obj, "name is required");
    if (nm->kind != SRV_YN_SCALAR || !name_ok(nm->s, nm->len))
        return bad(c, nm, obj, "name must match [a-zA-Z0-9_-]+ (at most 128 bytes)");
    snprintf(obj, sizeof obj, "rule \"%s\"", nm->s);
    for (size_t i = 0; i < idx; i++)
        if (!strcmp(out->rules[i].name, nm->s)) return bad(c, nm, obj, "name: duplicate rule name");
    r->history_ms = 14 * 86400000LL;
    r->step_ms = 300000;
    r->horizon_ms = 4 * 3600000LL;
    r->every_ms = 1800000;
    r->cooldown_ms = 1800000;
    r->cfg.margin = 0.1;
    r->cfg.fopts.coverage = 0.8;
    r->cfg.fopts.model = FC_AUTO;
    r->cfg.down_from_min = r->cfg.down_to_min = -1;
    r->mode = SRV_MODE_AUTO;
    const ynode *expr = NULL, *up = NULL, *down = NULL, *sigs = NULL, *cap = NULL, *acts = NULL, *tz = NULL;
    const ynode *n_hist = NULL, *n_step = NULL, *n_hor = NULL, *n_lead = NULL, *n_every = NULL;
    for (const ynode *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const ynode *v = k->next;
        if (srv_yn_key_is(k, "name")) rc = get_str(c, v, obj, "name", &r->name);
        else if (srv_yn_key_is(k, "expr")) expr = v;
        else if (srv_yn_key_is(k, "scale_up_at")) up = v;
        else if (srv_yn_key_is(k, "scale_down_at")) down = v;
        else if (srv_yn_key_is(k, "signals")) sigs = v;
        else if (srv_yn_key_is(k, "capacity")) cap = v;
        else if (srv_yn_key_is(k, "actions")) acts = v;
        else if (srv_yn_key_is(k, "timezone")) tz = v;
        else if (srv_yn_key_is(k, "history")) { n_hist = v; rc = get_duration(c, v, obj, "history", &r->history_ms); }
        else if (srv_yn_key_is(k, "step")) { n_step = v; rc = get_duration(c, v, obj, "step", &r->step_ms); }
        else if (srv_yn_key_is(k, "horizon")) { n_hor = v; rc = get_duration(c, v, obj, "horizon", &r->horizon_ms); }
        else if (srv_yn_key_is(k, "every")) { n_every = v; rc = get_duration(c, v, obj, "every", &r->every_ms); }
        else if (srv_yn_key_is(k, "lead_time")) { n_lead = v; rc = get_duration(c, v, obj, "lead_time", &r->lead_ms); }
        else if (srv_yn_key_is(k, "cooldown")) rc = get_duration(c, v, obj, "cooldown", &r->cooldown_ms);
        else if (srv_yn_key_is(k, "smoothing")) rc = get_duration(c, v, obj, "smoothing", &r->smoothing_ms);
        else if (srv_yn_key_is(k, "model")) {
            int mo = v->kind == SRV_YN_SCALAR ? fc_model_parse(v->s, v->len) : -1;
            if (mo < 0)
                rc = bad(c, v, obj,
                         "model must be one of auto|seasonal|holt_winters|seasonal_naive|drift|linear|naive");
            else r->cfg.fopts.model = mo;
        } else if (srv_yn_key_is(k, "coverage")) {
            rc = get_num(c, v, obj, "coverage", &r->cfg.fopts.coverage);
            if (!rc && !(r->cfg.fopts.coverage > 0 && r->cfg.fopts.coverage < 1))
                rc = bad(c, v, obj, "coverage (%g) must be between 0 and 1 (exclusive)", r->cfg.fopts.coverage);
        } else if (srv_yn_key_is(k, "safety_margin")) {
            rc = get_num(c, v, obj, "safety_margin", &r->cfg.margin);
            if (!rc && !(r->cfg.margin >= 0 && r->cfg.margin <= 1))
                rc = bad(c, v, obj, "safety_margin (%g) must be in 0..1", r->cfg.margin);
        } else if (srv_yn_key_is(k, "scale_down_window")) rc = parse_window(c, v, obj, r);
        else if (srv_yn_key_is(k, "mode")) rc = get_enum(c, v, obj, "mode", MODES, 3, &r->mode);
        else rc = bad(c, k, obj, "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (tz && (rc = parse_tz(c, tz, obj, r))) return rc;
    /* durations */
    char a[64], b[64];
    if (r->step_ms <= 0) return bad(c, n_step, obj, "step must be more than 0");
    if (r->history_ms <= 0) return bad(c, n_hist, obj, "history must be more than 0");
    if (r->horizon_ms <= 0) return bad(c, n_hor, obj, "horizon must be more than 0");
    if (r->every_ms <= 0) return bad(c, n_every, obj, "every must be more than 0");
    if (r->horizon_ms > r->history_ms) {
        srv_duration_fmt(a, r->horizon_ms);
        srv_duration_fmt(b, r->history_ms);
        return bad(c, n_hor ? n_hor : n_hist, obj, "horizon (%s) is longer than history (%s)", a, b);
    }
    if (r->history_ms / r->step_ms > MAX_GRID)
        return bad(c, n_step ? n_step : n_hist, obj, "history / step is more than %d steps", MAX_GRID);
    if (r->lead_ms >= r->horizon_ms) {
        srv_duration_fmt(a, r->lead_ms);
        srv_duration_fmt(b, r->horizon_ms);
        return bad(c, n_lead ? n_lead : n_hor, obj, "lead_time (%s) must be shorter than horizon (%s)", a, b);
    }
    /* signals */
    if (sigs && (expr || up || down))
        return bad(c, sigs, obj, "signals: use either signals or expr/scale_up_at/scale_down_at, not both");
    if (sigs) {
        if (sigs->kind != SRV_YN_SEQ || sigs->n == 0 || sigs->n > SRV_RULES_MAX_SIGNALS)
            return bad(c, sigs, obj, "signals must be a list of 1 to %d signals", SRV_RULES_MAX_SIGNALS);
        r->signals = ax_arena_alloc(c->a, sigs->n * sizeof *r->signals);
        if (!r->signals) return nomem(c);
        memset(r->signals, 0, sigs->n * sizeof *r->signals);
        size_t i = 0;
        for (const ynode *it = sigs->kid; it; it = it->next, i++) {
            if ((rc = parse_signal(c, it, obj, i, &r->signals[i]))) return rc;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(r->signals[j].name, r->signals[i].name))
                    return bad(c, srv_yn_get(it, "name"), obj, "signals[%zu]: duplicate signal name", i);
        }
        r->n_signals = i;
    } else {
        if (!expr) return bad(c, m, obj, "expr (or signals) is required");
        if (!up) return bad(c, m, obj, "scale_up_at is required");
        r->signals = ax_arena_alloc(c->a, sizeof *r->signals);
        if (!r->signals) return nomem(c);
        srv_rule_signal *s = r->signals;
        memset(s, 0, sizeof *s);
        s->name = r->name;
        s->down_at = NAN;
        if ((rc = get_expr(c, expr, obj, "expr", &s->expr))) return rc;
        if ((rc = get_num(c, up, obj, "scale_up_at", &s->up_at))) return rc;
        if (down && (rc = get_num(c, down, obj, "scale_down_at", &s->down_at))) return rc;
        if (!isnan(s->down_at) && s->down_at >= s->up_at)
            return bad(c, down, obj, "scale_down_at (%g) must be less than scale_up_at (%g)", s->down_at, s->up_at);
        r->n_signals = 1;
    }
    /* capacity */
    if (!cap) return bad(c, m, obj, "capacity is required ({current, min, max, target_per_unit})");
    if ((rc = parse_capacity(c, cap, obj, r))) return rc;
    /* actions */
    if (acts && !srv_yn_is_null(acts)) {
        if (acts->kind != SRV_YN_SEQ || acts->n > SRV_RULES_MAX_ACTIONS)
            return bad(c, acts, obj, "actions must be a list of at most %d actions", SRV_RULES_MAX_ACTIONS);
        r->actions = acts->n ? ax_arena_alloc(c->a, acts->n * sizeof *r->actions) : NULL;
        if (acts->n && !r->actions) return nomem(c);
        size_t i = 0;
        for (const ynode *it = acts->kid; it; it = it->next, i++) {
            memset(&r->actions[i], 0, sizeof r->actions[i]);
            if ((rc = parse_action(c, it, obj, i, out, &r->actions[i]))) return rc;
        }
        r->n_actions = i;
    }
    /* the numbers for fc_decide */
    r->cfg.step_s = (double)r->step_ms / 1000;
    r->cfg.horizon = (size_t)((r->horizon_ms + r->step_ms - 1) / r->step_ms);
    if (r->cfg.horizon > MAX_GRID) return bad(c, n_hor, obj, "horizon / step is more than %d steps", MAX_GRID);
    r->cfg.lead_s = (double)r->lead_ms / 1000;
    r->cfg.cooldown_s = (double)r->cooldown_ms / 1000;
    r->cfg.smooth = (size_t)((r->smoothing_ms + r->step_ms - 1) / r->step_ms);
    if (r->cfg.smooth > r->cfg.horizon) r->cfg.smooth = r->cfg.horizon;
    r->cfg.fopts.step_s = r->cfg.step_s;
    return 0;
}

static int parse_doc(const char *yaml, size_t len, const char *file, srv_rules **out, ax_err *e) {
    if (len > SRV_RULES_MAX_FILE)
        return ax_err_set(e, AX_ETOOBIG, "%s%srules file is %zu bytes, more than the %u KB limit", file ? file : "",
                          file ? ": " : "", len, SRV_RULES_MAX_FILE >> 10);
    srv_rules *rs = calloc(1, sizeof *rs);
    if (!rs) return ax_err_set(e, AX_ENOMEM, "rules: out of memory");
    ax_arena_init(&rs->mem, 64u << 20);
    ax_arena tree;
    ax_arena_init(&tree, 256u << 20);
    rc_ctx c = {.a = &rs->mem, .e = e, .file = file};
    ax_arena_init(&c.scratch, 64u << 20);
    ynode *root = NULL;
    int rc = srv_yaml_tree(yaml, len, &tree, &root, e);
    if (rc == AX_EINVAL && file) {
        char m[sizeof e->msg];
        snprintf(m, sizeof m, "%s", e->msg);
        ax_err_set(e, rc, "%s: %s", file, m);
    }
    if (!rc && root && !srv_yn_is_null(root)) {
        rc = check_map(&c, root, NULL, NULL);
        const ynode *whs = NULL, *rules = NULL;
        for (const ynode *k = !rc ? root->kid : NULL; k && k->next && !rc; k = k->next->next) {
            if (srv_yn_key_is(k, "webhooks")) whs = k->next;
            else if (srv_yn_key_is(k, "rules")) rules = k->next;
            else rc = bad(&c, k, NULL, "unknown key \"%.64s\" (expected webhooks, rules)", k->s);
        }
        if (!rc && whs && !srv_yn_is_null(whs)) {
            if (whs->kind != SRV_YN_SEQ || whs->n > SRV_RULES_MAX_WEBHOOKS)
                rc = bad(&c, whs, NULL, "webhooks must be a list of at most %d webhooks", SRV_RULES_MAX_WEBHOOKS);
            else if (whs->n && !(rs->webhooks = ax_arena_alloc(&rs->mem, whs->n * sizeof *rs->webhooks)))
                rc = nomem(&c);
            size_t i = 0;
            for (const ynode *it = !rc ? whs->kid : NULL; it && !rc; it = it->next, i++) {
                memset(&rs->webhooks[i], 0, sizeof rs->webhooks[i]);
                rc = parse_webhook(&c, it, i, rs, &rs->webhooks[i]);
                if (!rc) rs->n_webhooks++;
            }
        }
        if (!rc && rules && !srv_yn_is_null(rules)) {
            if (rules->kind != SRV_YN_SEQ || rules->n > SRV_RULES_MAX)
                rc = bad(&c, rules, NULL, "rules must be a list of at most %d rules", SRV_RULES_MAX);
            else if (rules->n && !(rs->rules = ax_arena_alloc(&rs->mem, rules->n * sizeof *rs->rules)))
                rc = nomem(&c);
            size_t i = 0;
            for (const ynode *it = !rc ? rules->kid : NULL; it && !rc; it = it->next, i++) {
                memset(&rs->rules[i], 0, sizeof rs->rules[i]);
                rc = parse_rule(&c, it, i, rs, &rs->rules[i]);
                if (!rc) rs->n_rules++;
            }
        }
    }
    ax_arena_clear(&tree);
    ax_arena_clear(&c.scratch);
    if (rc) {
        srv_rules_free(rs);
        return rc;
    }
    *out = rs;
    return 0;
}

int srv_rules_parse(const char *yaml, size_t len, srv_rules **out, ax_err *e) {
    return parse_doc(yaml, len, NULL, out, e);
}

int srv_rules_load(const char *path, srv_rules **out, ax_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return ax_err_set(e, AX_EIO, "cannot open rules file \"%.200s\": %s", path, strerror(errno));
    char *buf = malloc(SRV_RULES_MAX_FILE + 1);
    if (!buf) { fclose(f); return ax_err_set(e, AX_ENOMEM, "rules: out of memory"); }
    size_t n = fread(buf, 1, SRV_RULES_MAX_FILE + 1, f);
    bool err = ferror(f);
    fclose(f);
    int rc;
    if (err) rc = ax_err_set(e, AX_EIO, "cannot read rules file \"%.200s\"", path);
    else if (n > SRV_RULES_MAX_FILE)
        rc = ax_err_set(e, AX_ETOOBIG, "%.200s: larger than %u KB", path, SRV_RULES_MAX_FILE >> 10);
    else {
        const char *base = strrchr(path, '/');
        rc = parse_doc(buf, n, base ? base + 1 : path, out, e);
    }
    free(buf);
    return rc;
}

void srv_rules_free(srv_rules *r) {
    if (!r) return;
    ax_arena_clear(&r->mem);
    free(r);
}
