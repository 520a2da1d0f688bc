/* server/api_decisions.c: the decision log over HTTP (docs/decisions.md).
 *
 *   GET  /api/v1/decisions?rule=&decision=&actionable=true&limit=100&before=<id>
 *        {"status":"success","data":{"decisions":[record, ...]}}   newest first
 *   GET  /api/v1/decisions/<id>            {"status":"success","data":record}
 *   POST /api/v1/decisions/<id>/approve    a waiting decision's actions are sent
 *   POST /api/v1/decisions/<id>/reject     they are not
 * Records are the log's JSON (server/decisions.h). Unknown id: 404 not_found; approving
 * what does not wait (sent, rejected, expired, superseded, no action): 409 conflict.
 * Without -rules the list is empty. The log is read and written on the threadpool.
 */
#include "server/app.h"
#include "server/decisions.h"
#include "server/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEC_MAX_LIMIT 1000

enum { OP_LIST, OP_GET, OP_APPROVE, OP_REJECT };

typedef struct dec_job {
    int op;
    uint64_t id, before;
    size_t limit;
    char rule[160], kind[40];
    bool actionable;
    int rc;
    ax_err err;
    char *json; /* the reply's data, malloc'd */
} dec_job;

static void dec_work(srv_req *r) {
    dec_job *j = srv_req_udata(r);
    srv_app *app = srv_req_ctx(r);
    cJSON *data = NULL;
    if (!app->dlog) {
        if (j->op == OP_LIST) {
            data = cJSON_CreateObject();
            if (data) cJSON_AddArrayToObject(data, "decisions");
        } else {
            j->rc = ax_err_set(&j->err, AX_ENOTFOUND, "decision %llu not found (no -rules)", (unsigned long long)j->id);
        }
    } else if (j->op == OP_LIST) {
        cJSON *arr = NULL;
        j->rc = srv_dlog_list(app->dlog, j->before, j->limit, j->rule[0] ? j->rule : NULL,
                              j->kind[0] ? j->kind : NULL, j->actionable, &arr);
        if (!j->rc && (data = cJSON_CreateObject())) cJSON_AddItemToObject(data, "decisions", arr);
        else cJSON_Delete(arr);
    } else if (j->op == OP_GET) {
        j->rc = srv_dlog_get(app->dlog, j->id, &data);
        if (j->rc == AX_ENOTFOUND) ax_err_set(&j->err, AX_ENOTFOUND, "decision %llu not found", (unsigned long long)j->id);
    } else {
        j->rc = srv_dlog_approve(app->dlog, j->id, j->op == OP_APPROVE, (double)ax_now_ms() / 1000.0, &data, &j->err);
    }
    if (!j->rc && !data) j->rc = AX_ENOMEM;
    if (!j->rc) {
        char *s = cJSON_PrintUnformatted(data);
        size_t n = s ? strlen(s) : 0;
        j->json = s ? malloc(n + 40) : NULL;
        if (j->json) snprintf(j->json, n + 40, "{\"status\":\"success\",\"data\":%s}", s);
        else j->rc = AX_ENOMEM;
        free(s);
    }
    cJSON_Delete(data);
}

static void dec_after(srv_req *r) {
    dec_job *j = srv_req_udata(r);
    srv_app *app = srv_req_ctx(r);
    if (!j->rc) {
        if (j->op == OP_APPROVE) srv_outbox_wake(app->outbox);
        srv_reply(r, 200, "application/json", j->json, strlen(j->json));
    } else if (j->rc == AX_ENOTFOUND) {
        srv_reply_error(r, 404, "not_found", "%s", j->err.msg);
    } else if (j->rc == AX_EINVAL) {
        srv_reply_error(r, 409, "conflict", "%s", j->err.msg);
    } else {
        srv_reply_error(r, 500, "internal", "decision log: %s", j->err.msg[0] ? j->err.msg : ax_strerror(j->rc));
    }
    free(j->json);
}

static dec_job *job_new(srv_req *r, int op) {
    dec_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of memory");
        return NULL;
    }
    memset(j, 0, sizeof *j);
    j->op = op;
    srv_req_set_udata(r, j);
    return j;
}

static void h_list(srv_req *r, void *ctx) {
    ax_err e = {0};
    uint64_t limit = 0, before = 0;
    if (srv_req_param_uint(r, "limit", 100, DEC_MAX_LIMIT, &limit, &e) ||
        srv_req_param_uint(r, "before", 0, UINT64_MAX, &before, &e)) {
        srv_reply_error(r, 400, "bad_data", "%s", e.msg);
        return;
    }
    size_t rl = 0, kl = 0, al = 0;
    const char *rule = srv_req_param(r, "rule", &rl), *kind = srv_req_param(r, "decision", &kl);
    const char *act = srv_req_param(r, "actionable", &al);
    if (rl >= 160 || kl >= 40) {
        srv_reply_error(r, 400, "bad_data", "invalid parameter \"%s\": too long", rl >= 160 ? "rule" : "decision");
        return;
    }
    bool actionable = false;
    if (act && al) {
        if (!strcmp(act, "true") || !strcmp(act, "1")) actionable = true;
        else if (strcmp(act, "false") && strcmp(act, "0")) {
            srv_reply_error(r, 400, "bad_data", "invalid parameter \"actionable\": use true or false");
            return;
        }
    }
    dec_job *j = job_new(r, OP_LIST);
    if (!j) return;
    j->limit = (size_t)limit;
    j->before = before;
    j->actionable = actionable;
    if (rule) memcpy(j->rule, rule, rl);
    if (kind) memcpy(j->kind, kind, kl);
    srv_req_work(r, dec_work, dec_after);
}

/* /api/v1/decisions/<id>[/approve|/reject] */
static void h_one(srv_req *r, void *ctx) {
    static const char pre[] = "/api/v1/decisions/";
    size_t len = 0;
    const char *path = srv_req_path(r, &len);
    const char *p = path + sizeof pre - 1, *end = path + len;
    uint64_t id = 0;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9' && q - p < 19) id = id * 10 + (uint64_t)(*q++ - '0');
    int op = -1;
    if (q > p && q == end) op = OP_GET;
    else if (q > p && (size_t)(end - q) == 8 && !memcmp(q, "/approve", 8)) op = OP_APPROVE;
    else if (q > p && (size_t)(end - q) == 7 && !memcmp(q, "/reject", 7)) op = OP_REJECT;
    if (op < 0) {
        srv_reply_error(r, 404, "not_found", "no route for %.*s (use /api/v1/decisions/<id>, .../approve, .../reject)",
                        (int)(len > 128 ? 128 : len), path);
        return;
    }
    unsigned m = srv_req_method(r);
    if (op == OP_GET ? !(m & (SRV_GET | SRV_HEAD)) : m != SRV_POST) {
        srv_reply_header(r, "Allow", op == OP_GET ? "GET, HEAD" : "POST");
        srv_reply_error(r, 405, "bad_data", "method %s not allowed here (use %s)", srv_req_method_name(r),
                        op == OP_GET ? "GET" : "POST");
        return;
    }
    dec_job *j = job_new(r, op);
    if (!j) return;
    j->id = id;
    srv_req_work(r, dec_work, dec_after);
}

int srv_api_decisions_register(srv_app *app) {
    int rc = srv_http_route(app->http, SRV_GET, "/api/v1/decisions", false, h_list, app);
    if (!rc) rc = srv_http_route(app->http, SRV_GET | SRV_POST, "/api/v1/decisions/", true, h_one, app);
    return rc;
}
