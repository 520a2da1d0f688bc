/* server/actions.h: what a scaling decision does outside auspex: webhook bodies in four
 * formats, templated exec arguments, the HTTP POST that delivers a body, and the program
 * run that executes a command. The outbox (server/decisions.h) decides when; these do it.
 *
 * Owns: payload rendering (server/webhook_fmt.c; schemas in docs/webhooks.md), the
 *   libcurl POST (server/webhook_send.c), running a program without a shell
 *   (server/exec_run.c).
 * Threads: every function may run on any thread; none keeps state between calls
 *   (srv_webhook_post uses one curl easy handle per call; curl_global_init is done once by
 *   main before threads start).
 * Errors: 0 or a negative AX_E*; messages in ax_err. A secret never appears in output.
 */
#ifndef SRV_ACTIONS_H
#define SRV_ACTIONS_H

#include "core/core.h"

/* A decision as its actions see it. Times are Unix seconds (NaN: none). */
typedef struct srv_dec_view {
    uint64_t id;            /* decision id in the log */
    const char *rule;
    int kind;               /* FC_DEC_* (forecast/forecast.h) */
    double urgency;         /* 0..1 */
    const char *mode;       /* "auto", "approve", "dry_run" */
    double now;             /* when it was decided */
    double act_at, cross_at, peak_at, peak;
    double capacity, desired;
    const char *signal;     /* the driving signal's name, or NULL */
    double threshold;       /* that signal's scale_up_at (or scale_down_at for a scale-down) */
    int cold_start;
    const char *model;      /* model name of the driving forecast, or NULL */
    const char *reason;
    const double *yhat, *lower, *upper; /* driving signal's forecast, h points, may be NULL */
    size_t h;
    double step_s;          /* point i is at now + (i + 1) * step_s */
    const char *idempotency_key; /* of this delivery */
    const char *receiver;   /* the webhook's name */
    const char *external_url; /* e.g. "http://127.0.0.1:9444", or NULL */
} srv_dec_view;

/* "no_action", "scale_up_immediately", "scale_up_prepared", "consider_scale_down". */
const char *srv_decision_kind_name(int kind);
/* The kind named s[0..len), or -1. */
int srv_decision_kind_parse(const char *s, size_t len);

/* Append the body for a webhook of format SRV_WH_* (server/rules.h) to out: json (auspex's
 * schema), slack ({"text":...}), dingtalk ({"msgtype":"markdown",...}), alertmanager (the
 * Alertmanager webhook payload, version 4). Returns 0, AX_EINVAL (unknown format),
 * AX_ENOMEM, AX_ETOOBIG. */
int srv_webhook_body(int format, const srv_dec_view *d, ax_buf *out);

/* Expand the templates {{desired}}, {{current}}, {{rule}}, {{decision}}, {{urgency}} in
 * tmpl (NUL-terminated) into out (NUL-terminated result). Numbers print as ax_fmt_double
 * does. Returns 0, AX_EINVAL (an unknown or unterminated template), AX_ENOMEM, AX_ETOOBIG. */
int srv_exec_render(const char *tmpl, const srv_dec_view *d, ax_buf *out);

/* ---- delivery ---- */
typedef struct srv_post_result {
    long status;            /* HTTP status, 0 when no response (connect error, timeout) */
    bool timed_out;
    char error[256];        /* curl's message or "HTTP 500", "" on 2xx */
    char body[512];         /* the start of the response body (NUL-terminated, may be cut) */
} srv_post_result;

/* POST body[0..len) to url with extra header lines ("Name: value", n_headers of them; the
 * Content-Type is application/json unless one is given), timeout_ms for the whole request.
 * Redirects are not followed. Returns 0 when a response came (any status: see out->status)
 * or when the attempt failed at the transport (out->status 0, out->error says why);
 * AX_ENOMEM / AX_EINVAL only for local trouble. */
int srv_webhook_post(const char *url, const char *body, size_t len, const char *const *headers,
                     size_t n_headers, int64_t timeout_ms, srv_post_result *out);

/* Should a delivery that got `r` be tried again? Transport errors, timeouts, 408, 429 and
 * 5xx: yes; 2xx: done; other 4xx: no (permanent failure). */
bool srv_post_retryable(const srv_post_result *r);

typedef struct srv_exec_result {
    int exit_code;          /* -1 when killed by a signal or not started */
    int term_signal;        /* the signal that ended it, 0 otherwise */
    bool timed_out;         /* killed (SIGKILL) after timeout_ms */
    char output[4096];      /* stdout and stderr interleaved, first bytes (NUL-terminated) */
    size_t output_len;
    bool output_cut;        /* more was written than kept */
} srv_exec_result;

/* Run argv[0] (an absolute path) with argv (NULL-terminated) directly, no shell, with
 * stdin from /dev/null, stdout+stderr captured, auspex's environment, in its own process
 * group, and kill the group (SIGKILL) after timeout_ms. Blocks until it ends. Returns 0 when it ran (see out),
 * AX_EIO when it could not be started (message in e). */
int srv_exec_run(char *const argv[], int64_t timeout_ms, srv_exec_result *out, ax_err *e);

#endif
