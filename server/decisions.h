/* server/decisions.h: the decision log and the outbox of actions, durable in LMDB
 * (<data>/decisions/, an environment of its own beside the series store).
 *
 * Owns: decision records (one JSON object each, the shape GET /api/v1/decisions serves;
 *   docs/decisions.md), the bodies of their webhook deliveries, each rule's state (when it
 *   last acted, the capacity it last asked for), and the state machine of deliveries:
 *     waiting (approve mode) -approve-> pending -attempt-> delivered | pending (retry later)
 *       | failed (out of tries, or a permanent 4xx)
 *     waiting -reject-> rejected;  waiting -newer decision of the rule-> superseded;
 *     waiting -past expires_at-> expired;  exec: pending -> running -> delivered | failed
 *     (a `running` exec found at open was interrupted by a crash: failed, never re-run);
 *     dry_run: recorded, never sent.
 *   A decision and its deliveries (bodies included) are committed in one transaction before
 *   anything is sent, so a kill -9 at any point loses nothing: an attempt in flight is
 *   repeated after a restart with the same idempotency key.
 * Threads: every function may be called from any thread (LMDB serialises writers; the
 *   environment is opened MDB_NOTLS). Records come back as cJSON trees the caller frees.
 * Limits: the newest `max_decisions` records are kept; older ones whose deliveries are all
 *   finished are deleted as new ones arrive.
 * Errors: 0 or AX_E*: AX_ENOTFOUND (no such decision), AX_EINVAL (a state change that does
 *   not apply: message says why), AX_EIO (LMDB), AX_ENOMEM.
 */
#ifndef SRV_DECISIONS_H
#define SRV_DECISIONS_H

#include "core/core.h"

#include <cjson/cJSON.h>

enum {
    SRV_DLV_WAITING,    /* approve mode: waits for POST .../approve */
    SRV_DLV_PENDING,    /* to be attempted at next_try_at */
    SRV_DLV_RUNNING,    /* an exec has been started */
    SRV_DLV_DELIVERED,  /* 2xx, or exit status 0 */
    SRV_DLV_FAILED,
    SRV_DLV_REJECTED,
    SRV_DLV_DRY_RUN,
    SRV_DLV_EXPIRED,
    SRV_DLV_SUPERSEDED,
    SRV_DLV_N
};
const char *srv_dlv_state_name(int state); /* "waiting", "pending", ... */

typedef struct srv_dlog srv_dlog;

/* Open (creating) the log in folder dir. Deliveries left `running` become failed.
 * OUT: *out. Returns 0, AX_EIO (message in e), AX_ENOMEM. */
int srv_dlog_open(const char *dir, size_t max_decisions, srv_dlog **out, ax_err *e);
void srv_dlog_close(srv_dlog *d); /* accepts NULL */
/* Write a compacted copy of the log, as of one read txn, to <dir>/data.mdb (dir created if
 * missing; must not hold a data.mdb), fsync'd; srv_dlog_open opens it. Writers go on
 * meanwhile. Returns 0, AX_EIO (message in e). */
int srv_dlog_copy(srv_dlog *d, const char *dir, ax_err *e);

/* A new decision id (ids only grow, also across restarts), and the idempotency key of its
 * action i: "<16 hex chars of this log>-<id>-<i>", the same on every try and restart. */
uint64_t srv_dlog_reserve_id(srv_dlog *d);
void srv_dlog_key(const srv_dlog *d, uint64_t id, size_t action, char out[64]);

/* What a rule remembers between checks (and restarts). */
typedef struct srv_rule_state {
    double last_action_at; /* Unix s of its last action (NaN: none) */
    double capacity;       /* the capacity it last asked for (NaN: none) */
} srv_rule_state;
/* OUT: *st ({NaN, NaN} when the rule never acted). */
int srv_dlog_rule_state(srv_dlog *d, const char *rule, srv_rule_state *st);

/* Record decision `id` (from srv_dlog_reserve_id): rec is the record without "id" (added
 * here); its "deliveries" array (possibly empty) holds one object per action with at least
 * "action" (index), "kind" ("webhook"|"exec"), "state" (a state name) and, for webhooks,
 * "idempotency_key" and "max_tries"; bodies[i] / body_len[i] is the webhook body of
 * deliveries[i] (NULL for exec). st (may be NULL): the rule's new state, in the same
 * transaction. Older `waiting` deliveries of the same rule become superseded. rec stays the
 * caller's. Returns 0, AX_EIO, AX_ENOMEM. */
int srv_dlog_add(srv_dlog *d, uint64_t id, const cJSON *rec, const uint8_t *const *bodies,
                 const size_t *body_len, const srv_rule_state *st, ax_err *e);

/* The record of decision id. OUT: *out (cJSON_Delete it). AX_ENOTFOUND. */
int srv_dlog_get(srv_dlog *d, uint64_t id, cJSON **out);

/* Records newest first: ids below `before` (0: from the newest), at most `limit`, only those
 * of rule `rule` (NULL: any) whose "decision" is `kind` (NULL: any) and, when `actionable`,
 * only decisions with deliveries. OUT: *out, a cJSON array. */
int srv_dlog_list(srv_dlog *d, uint64_t before, size_t limit, const char *rule, const char *kind,
                  bool actionable, cJSON **out);

/* approve: every waiting delivery of id becomes pending (due now), the record's "state"
 * becomes "approved" with "approved_at", and the rule's state is updated (last action now,
 * capacity = the decision's desired). reject: waiting -> rejected, "state" "rejected".
 * AX_EINVAL when nothing waits (message: "decision 7 is delivered, not waiting for
 * approval", "... expired"). OUT: *out, the updated record (may be NULL). */
int srv_dlog_approve(srv_dlog *d, uint64_t id, bool approve, double now, cJSON **out, ax_err *e);

/* ---- the outbox's side ---- */
typedef struct srv_dlv_due {
    uint64_t id;
    size_t action;
} srv_dlv_due;

/* Pending deliveries due at `now` (at most cap; *n_out of them) and the earliest future
 * next_try_at (*next_at, +Inf: none); waiting deliveries past their record's expires_at
 * become expired. */
int srv_dlog_due(srv_dlog *d, double now, srv_dlv_due *out, size_t cap, size_t *n_out,
                 double *next_at);

/* Start an attempt: OUT: *rec (the record, caller frees), *dlv (its delivery object, inside
 * rec), and for a webhook *body (malloc'd copy, caller frees) / *len. An exec delivery is
 * committed as running first. AX_EINVAL when the delivery is no longer pending. */
int srv_dlog_attempt_begin(srv_dlog *d, uint64_t id, size_t action, double now, cJSON **rec,
                           cJSON **dlv, uint8_t **body, size_t *len);

/* The outcome of an attempt. */
typedef struct srv_dlv_outcome {
    int state;            /* SRV_DLV_DELIVERED, SRV_DLV_PENDING (retry at next_try_at) or SRV_DLV_FAILED */
    double at;            /* when the attempt ended */
    double next_try_at;   /* for SRV_DLV_PENDING */
    long status;          /* HTTP status (0: none); for exec the exit code */
    const char *error;    /* "" or why it failed */
    const char *output;   /* exec output, or the start of the HTTP response (may be NULL) */
    double duration_s;
    bool exec;            /* an exec result: status is the exit code (-1: signal/timeout) */
} srv_dlv_outcome;
int srv_dlog_attempt_end(srv_dlog *d, uint64_t id, size_t action, const srv_dlv_outcome *o,
                         ax_err *e);

#endif
