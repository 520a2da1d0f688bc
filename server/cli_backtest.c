/* server/cli_backtest.c: the backtest of a rule on stored data (srv_backtest_run, its
 * report as text and JSON) and `auspex backtest` (docs/backtest.md, docs/cli.md).
 *
 * srv_backtest_run: srv_rule_eval over [from - history, to] on the rule's grid (ending at
 * `to`, aligned down to the step), the capacity filled in where its query had no value,
 * load = signal x capacity per signal, then fc_backtest_n from the grid index of `from`,
 * a check every every/step steps (at least 1), once per policy, with an action log.
 * The command opens the data folder itself (so not while a server holds it: the engine's
 * folder lock says so, and the route GET /api/v1/rules/<name>/backtest is the way then),
 * loads the rules file, runs srv_backtest_run and prints the report.
 * Exit status: 0; 2 for bad flags, an unreadable or invalid rules file, an unknown rule;
 * 1 for runtime errors (no data folder, folder in use, query errors, out of memory).
 */
#include "server/backtest.h"
#include "server/cli.h"

#include "server/app.h"
#include "server/rule_eval.h"
#include "server/scrape_config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- time parameters ---------------------------------------------------------------- */

int srv_backtest_time_parse(const char *s, size_t len, int64_t now_ms, int64_t *out) {
    if (len >= 3 && !memcmp(s, "now", 3)) {
        if (len == 3) {
            *out = now_ms;
            return 0;
        }
        if (s[3] != '-' && s[3] != '+') return AX_EINVAL;
        int64_t d = 0;
        if (len == 4 || ax_duration_parse(s + 4, len - 4, &d) || d < 0 || d > 100LL * 365 * 86400000)
            return AX_EINVAL;
        *out = s[3] == '-' ? now_ms - d : now_ms + d;
        return 0;
    }
    int64_t t = 0;
    if (ax_time_parse(s, len, &t)) return AX_EINVAL;
    *out = t;
    return 0;
}

/* ---- the run ------------------------------------------------------------------------ */

void srv_bt_report_free(srv_bt_report *rep) {
    if (!rep) return;
    for (int p = 0; p < 2; p++) free(rep->pol[p].log);
    memset(rep, 0, sizeof *rep);
}

/* Fill the capacity's gaps: the last known value, before the first known one that one.
 * Returns how many points were filled, or SIZE_MAX when none is known. */
static size_t fill_cap(double *cap, size_t n) {
    size_t first = n, filled = 0;
    for (size_t i = 0; i < n && first == n; i++)
        if (isfinite(cap[i])) first = i;
    if (first == n) return SIZE_MAX;
    for (size_t i = 0; i < first; i++) cap[i] = cap[first], filled++;
    for (size_t i = first + 1; i < n; i++)
        if (!isfinite(cap[i])) cap[i] = cap[i - 1], filled++;
    return filled;
}

int srv_backtest_run(eng *e, const srv_rule *r, int64_t from_ms, int64_t to_ms,
                     const pql_opts *o, srv_bt_report *out, ax_err *err) {
    int64_t step = r->step_ms;
    if (step <= 0) return ax_err_set(err, AX_EINVAL, "rule \"%s\": no step", r->name);
    to_ms -= ((to_ms % step) + step) % step;
    if (from_ms >= to_ms)
        return ax_err_set(err, AX_EINVAL, "the span is empty: from must be at least one step "
                          "(%lld ms) before to", (long long)step);
    if (to_ms - from_ms > SRV_BT_MAX_SPAN_MS)
        return ax_err_set(err, AX_EINVAL, "the span is longer than 90d");

    srv_rule_data d = {0};
    int rc = srv_rule_eval(e, r, from_ms - r->history_ms, to_ms, o, &d, err);
    if (rc) return rc;
    srv_bt_report rep = {0};
    double *loads = NULL;
    fc_bt_signal *sg = NULL;
    size_t n = d.n, fi = 0;
    if (from_ms > d.t0_ms) fi = (size_t)((from_ms - d.t0_ms + step - 1) / step);
    if (fi >= n) {
        rc = ax_err_set(err, AX_EINVAL, "the span is empty");
        goto out;
    }
    snprintf(rep.note, sizeof rep.note, "%s", d.note);
    size_t filled = fill_cap(d.cap, n);
    if (filled == SIZE_MAX) {
        if (!isfinite(r->cap_current)) {
            rc = ax_err_set(err, AX_EINVAL, "rule \"%s\": capacity: the query has no value from "
                            "%lld to %lld (ms)", r->name, (long long)d.t0_ms, (long long)to_ms);
            goto out;
        }
        for (size_t i = 0; i < n; i++) d.cap[i] = r->cap_current;
    } else if (filled) {
        size_t len = strlen(rep.note);
        snprintf(rep.note + len, sizeof rep.note - len, "%scapacity: %zu of %zu points without a "
                 "value, the last known one used", len ? "; " : "", filled, n);
    }
    for (size_t s = 0; s < d.n_signals; s++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) k += isfinite(d.sig[s][i]) != 0;
        if (!k) {
            rc = ax_err_set(err, AX_EINVAL, "rule \"%s\": signal \"%s\": the query has no value "
                            "in the history or the span", r->name, r->signals[s].name);
            goto out;
        }
    }
    loads = malloc(d.n_signals * n * sizeof *loads);
    sg = calloc(d.n_signals, sizeof *sg);
    if (!loads || !sg) {
        rc = ax_err_set(err, AX_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t s = 0; s < d.n_signals; s++) {
        double *l = loads + s * n;
        for (size_t i = 0; i < n; i++) l[i] = d.sig[s][i] * d.cap[i];
        sg[s] = (fc_bt_signal){l, r->signals[s].up_at, r->signals[s].down_at};
    }
    double start = d.cap[fi];
    if (!(start > 0)) {
        start = r->cfg.cap_min >= 1 ? r->cfg.cap_min : 1;
        size_t len = strlen(rep.note);
        snprintf(rep.note + len, sizeof rep.note - len, "%sthe capacity at from is %g: the "
                 "replay starts at %g", len ? "; " : "", d.cap[fi], start);
    }
    size_t every = (size_t)(r->every_ms / step);
    if (every < 1) every = 1;
    size_t n_checks = (n - fi + every - 1) / every;
    size_t cap_log = n_checks < SRV_BT_MAX_LOG ? n_checks : SRV_BT_MAX_LOG;
    for (int p = 0; p < 2; p++) {
        if (!(rep.pol[p].log = calloc(cap_log ? cap_log : 1, sizeof *rep.pol[p].log))) {
            rc = ax_err_set(err, AX_ENOMEM, "out of memory");
            goto out;
        }
        int policy = p == 0 ? FC_BT_PREDICTIVE : FC_BT_REACTIVE;
        int frc = fc_backtest_n(&r->cfg, sg, d.n_signals, n, (double)d.t0_ms / 1000.0, fi, every,
                                start, policy, &rep.pol[p].res, rep.pol[p].log, cap_log);
        if (frc == FC_ENOMEM) {
            rc = ax_err_set(err, AX_ENOMEM, "out of memory");
            goto out;
        }
        if (frc) {
            rc = ax_err_set(err, AX_EINVAL, "rule \"%s\": the %s replay refused the rule (a "
                            "signal without any value in the week before a check?)", r->name,
                            p == 0 ? "predictive" : "reactive");
            goto out;
        }
        size_t a = rep.pol[p].res.actions;
        rep.pol[p].n_log = a < cap_log ? a : cap_log;
    }
    rep.rule = r->name;
    rep.from_ms = d.t0_ms + (int64_t)fi * step;
    rep.to_ms = to_ms;
    rep.step_ms = step;
    rep.every_ms = (int64_t)every * step;
    rep.start_capacity = start;
    *out = rep;
    memset(&rep, 0, sizeof rep);
out:
    srv_bt_report_free(&rep);
    free(loads);
    free(sg);
    srv_rule_data_free(&d);
    return rc;
}

/* ---- the report --------------------------------------------------------------------- */

static const char *kind_name(int kind) {
    switch (kind) {
    case FC_DEC_SCALE_UP_NOW: return "scale_up_now";
    case FC_DEC_SCALE_UP_PREPARED: return "scale_up_prepared";
    case FC_DEC_SCALE_DOWN: return "scale_down";
    default: return "no_action";
    }
}

static int64_t sec_to_ms(double s) { return (int64_t)llround(s * 1000.0); }

static int put_str(ax_buf *b, const char *s) { return srv_json_str(b, s, strlen(s)); }

static int put_num(ax_buf *b, double v) {
    if (!isfinite(v)) return ax_buf_append_str(b, "null");
    char tmp[40];
    return ax_buf_append(b, tmp, ax_fmt_double(tmp, v));
}

static int put_time(ax_buf *b, int64_t ms) {
    char t[AX_FMT_RFC3339_MAX];
    size_t n = ax_fmt_rfc3339(t, ms);
    int rc = ax_buf_append(b, "\"", 1);
    rc |= ax_buf_append(b, t, n);
    rc |= ax_buf_append(b, "\"", 1);
    return rc;
}

static int put_dur(ax_buf *b, int64_t ms) {
    char d[64];
    srv_duration_fmt(d, ms);
    return put_str(b, d);
}

int srv_bt_report_json(const srv_bt_report *rep, ax_buf *b) {
    int rc = ax_buf_append_str(b, "{\"rule\":");
    rc |= put_str(b, rep->rule ? rep->rule : "");
    rc |= ax_buf_append_str(b, ",\"from\":");
    rc |= put_time(b, rep->from_ms);
    rc |= ax_buf_append_str(b, ",\"to\":");
    rc |= put_time(b, rep->to_ms);
    rc |= ax_buf_append_str(b, ",\"step\":");
    rc |= put_dur(b, rep->step_ms);
    rc |= ax_buf_append_str(b, ",\"every\":");
    rc |= put_dur(b, rep->every_ms);
    rc |= ax_buf_printf(b, ",\"steps\":%zu,\"start_capacity\":", rep->pol[0].res.steps);
    rc |= put_num(b, rep->start_capacity);
    rc |= ax_buf_append_str(b, ",\"note\":");
    rc |= put_str(b, rep->note);
    for (int p = 0; p < 2 && !rc; p++) {
        const srv_bt_policy *pol = &rep->pol[p];
        rc |= ax_buf_printf(b, ",\"%s\":{\"actions\":%zu,\"minutes_under\":",
                            p == 0 ? "predictive" : "reactive", pol->res.actions);
        rc |= put_num(b, pol->res.minutes_under);
        rc |= ax_buf_append_str(b, ",\"mean_capacity\":");
        rc |= put_num(b, pol->res.mean_capacity);
        rc |= ax_buf_append_str(b, ",\"log\":[");
        for (size_t i = 0; i < pol->n_log && !rc; i++) {
            const fc_bt_action *a = &pol->log[i];
            rc |= ax_buf_append_str(b, i ? ",{\"at\":" : "{\"at\":");
            rc |= put_time(b, sec_to_ms(a->at));
            rc |= ax_buf_printf(b, ",\"kind\":\"%s\",\"from\":", kind_name(a->kind));
            rc |= put_num(b, a->from_cap);
            rc |= ax_buf_append_str(b, ",\"to\":");
            rc |= put_num(b, a->to_cap);
            rc |= ax_buf_append_str(b, ",\"in_place_at\":");
            rc |= put_time(b, sec_to_ms(a->effective_at));
            rc |= ax_buf_append_str(b, "}");
        }
        rc |= ax_buf_printf(b, "],\"log_truncated\":%s}",
                            pol->n_log < pol->res.actions ? "true" : "false");
    }
    rc |= ax_buf_append_str(b, "}");
    return rc ? AX_ENOMEM : 0;
}

static void print_text(FILE *f, const srv_bt_report *rep) {
    char a[AX_FMT_RFC3339_MAX], b[AX_FMT_RFC3339_MAX], st[64], ev[64];
    ax_fmt_rfc3339(a, rep->from_ms);
    ax_fmt_rfc3339(b, rep->to_ms);
    srv_duration_fmt(st, rep->step_ms);
    srv_duration_fmt(ev, rep->every_ms);
    fprintf(f, "rule %s: %s .. %s, step %s, a check every %s\n", rep->rule, a, b, st, ev);
    fprintf(f, "steps %zu, start capacity %g\n", rep->pol[0].res.steps, rep->start_capacity);
    if (rep->note[0]) fprintf(f, "note: %s\n", rep->note);
    fprintf(f, "\n%-12s %8s %14s %14s\n", "policy", "actions", "minutes under", "mean capacity");
    for (int p = 0; p < 2; p++)
        fprintf(f, "%-12s %8zu %14.0f %14.2f\n", p == 0 ? "predictive" : "reactive",
                rep->pol[p].res.actions, rep->pol[p].res.minutes_under,
                rep->pol[p].res.mean_capacity);
    const srv_bt_policy *pol = &rep->pol[0];
    fprintf(f, "\npredictive actions%s\n", pol->n_log ? ":" : ": none");
    for (size_t i = 0; i < pol->n_log; i++) {
        const fc_bt_action *x = &pol->log[i];
        ax_fmt_rfc3339(a, sec_to_ms(x->at));
        ax_fmt_rfc3339(b, sec_to_ms(x->effective_at));
        fprintf(f, "  %s  %-17s  %g -> %g  in place at %s\n", a, kind_name(x->kind), x->from_cap,
                x->to_cap, b);
    }
    if (pol->n_log < pol->res.actions)
        fprintf(f, "  ... %zu more (only the first %zu are logged)\n",
                pol->res.actions - pol->n_log, pol->n_log);
}

/* ---- the command -------------------------------------------------------------------- */

typedef struct cli_cfg {
    const char *rules, *rule, *from, *to, *data, *format;
    bool help;
} cli_cfg;

#define SF(f) offsetof(cli_cfg, f)
static const srv_cli_flag CLI_FLAGS[] = {
    {"rules", SF(rules), 0, false, "the rules file (as the server's -rules)"},
    {"rule", SF(rule), 0, false, "the name of the rule to replay"},
    {"from", SF(from), 0, false,
     "start of the replay: RFC 3339, Unix seconds, now or now-7d (default: to - 7d)"},
    {"to", SF(to), 0, false, "end of the replay, same forms (default: now)"},
    {"storageDataPath", SF(data), 0, false, "the data folder (not in use by a server)"},
    {"format", SF(format), 0, false, "text or json"},
    {"help", 0, SF(help), true, "print this help and exit"},
};
#define N_CLI_FLAGS (sizeof CLI_FLAGS / sizeof CLI_FLAGS[0])
#define ERR_PREFIX "auspex backtest: "

static void cli_usage(FILE *f, const cli_cfg *c) {
    fprintf(f, "usage: auspex backtest -rules=FILE -rule=NAME [-from=T] [-to=T] "
               "[-storageDataPath=auspex-data] [-format=text|json]\n\n"
               "Replay a scaling rule on the stored data, predictive and reactive, and print "
               "actions, minutes under-provisioned and mean capacity (docs/backtest.md).\n"
               "The data folder must not be in use by a running server: use GET "
               "/api/v1/rules/NAME/backtest there.\n\nflags:\n");
    srv_cli_flags_usage(f, CLI_FLAGS, N_CLI_FLAGS, c);
}

static const srv_rule *find_rule(const srv_rules *rs, const char *name) {
    for (size_t i = 0; i < rs->n_rules; i++)
        if (!strcmp(rs->rules[i].name, name)) return &rs->rules[i];
    return NULL;
}

int srv_cli_backtest(int argc, char **argv) {
    cli_cfg c = {.data = "auspex-data", .format = "text"};
    int rc = srv_cli_flags_parse(argc, argv, CLI_FLAGS, N_CLI_FLAGS, &c, "backtest", "-rule=NAME");
    if (rc) return rc;
    if (c.help) {
        cli_usage(stdout, &c);
        return 0;
    }
    if (!c.rules || !c.rules[0]) {
        fprintf(stderr, ERR_PREFIX "-rules=FILE is required\n");
        return 2;
    }
    if (!c.rule || !c.rule[0]) {
        fprintf(stderr, ERR_PREFIX "-rule=NAME is required\n");
        return 2;
    }
    bool json = !strcmp(c.format, "json");
    if (!json && strcmp(c.format, "text")) {
        fprintf(stderr, ERR_PREFIX "-format must be text or json, not \"%s\"\n", c.format);
        return 2;
    }
    int64_t now = ax_now_ms(), to = now, from = 0;
    if (c.to && srv_backtest_time_parse(c.to, strlen(c.to), now, &to)) {
        fprintf(stderr, ERR_PREFIX "-to: cannot parse \"%s\" (RFC 3339, Unix seconds, now, "
                        "now-7d)\n", c.to);
        return 2;
    }
    from = to - SRV_BT_DEFAULT_SPAN_MS;
    if (c.from && srv_backtest_time_parse(c.from, strlen(c.from), now, &from)) {
        fprintf(stderr, ERR_PREFIX "-from: cannot parse \"%s\" (RFC 3339, Unix seconds, now, "
                        "now-7d)\n", c.from);
        return 2;
    }
    if (from >= to || to - from > SRV_BT_MAX_SPAN_MS) {
        fprintf(stderr, ERR_PREFIX "-from must be before -to, at most 90d before it\n");
        return 2;
    }

    srv_rules *rs = NULL;
    ax_err err = {0};
    if ((rc = srv_rules_load(c.rules, &rs, &err))) {
        fprintf(stderr, ERR_PREFIX "-rules=%s: %s\n", c.rules, err.msg);
        return rc == AX_ENOMEM ? 1 : 2;
    }
    const srv_rule *r = find_rule(rs, c.rule);
    if (!r) {
        ax_buf names;
        ax_buf_init(&names, 4096);
        for (size_t i = 0; i < rs->n_rules; i++)
            if (ax_buf_printf(&names, "%s%s", i ? ", " : "", rs->rules[i].name)) break;
        fprintf(stderr, ERR_PREFIX "no rule \"%s\" in %s (rules: %.*s)\n", c.rule, c.rules,
                names.len ? (int)names.len : 6, names.len ? (const char *)names.data : "none");
        ax_buf_free(&names);
        srv_rules_free(rs);
        return 2;
    }
    struct stat st;
    if (stat(c.data, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, ERR_PREFIX "-storageDataPath=%s: no such data folder\n", c.data);
        srv_rules_free(rs);
        return 1;
    }
    eng_opts eo = {.path = c.data};
    eng *e = NULL;
    if ((rc = eng_open(&eo, &e, &err))) {
        fprintf(stderr, ERR_PREFIX "%s%s\n", err.msg,
                strstr(err.msg, "in use by another") ? " (stop it, or use GET /api/v1/rules/<name>/backtest)" : "");
        srv_rules_free(rs);
        return 1;
    }
    srv_bt_report rep = {0};
    rc = srv_backtest_run(e, r, from, to, NULL, &rep, &err);
    eng_close(e);
    if (rc) {
        fprintf(stderr, ERR_PREFIX "%s\n", err.msg[0] ? err.msg : ax_strerror(rc));
        srv_rules_free(rs);
        return 1;
    }
    int out_rc = 0;
    if (json) {
        ax_buf b;
        ax_buf_init(&b, (size_t)1 << 30);
        if (srv_bt_report_json(&rep, &b) || ax_buf_append(&b, "\n", 1)) out_rc = 1;
        else if (fwrite(b.data, 1, b.len, stdout) != b.len) out_rc = 1;
        ax_buf_free(&b);
    } else {
        print_text(stdout, &rep);
    }
    if (fflush(stdout) || ferror(stdout)) out_rc = 1;
    srv_bt_report_free(&rep);
    srv_rules_free(rs);
    return out_rc;
}
