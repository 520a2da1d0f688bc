/* Unit tests for server/decisions.c: the decision log's state machine on a real LMDB
 * environment in a temporary folder: ids and keys across reopen, due deliveries and
 * backoff times, attempts ending delivered / retried / failed, an exec left running by a
 * crash (failed at the next open, never re-run), approval, rejection, supersession,
 * expiry, list filters and paging, pruning past max_decisions, the rules' state. */
#include "server/decisions.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir(void) {
    char tmpl[] = "/tmp/auspex-dlog-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static const char *dlv_state(const cJSON *rec, int i) {
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "deliveries"), i);
    const cJSON *s = cJSON_GetObjectItem(d, "state");
    return cJSON_IsString(s) ? s->valuestring : "(none)";
}

static double dlv_num(const cJSON *rec, int i, const char *key) {
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "deliveries"), i);
    const cJSON *v = cJSON_GetObjectItem(d, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A record of rule `rule` with a webhook delivery in state s0 and, if exec, an exec one. */
static cJSON *make_rec(const char *rule, const char *decision, const char *s0, bool exec,
                       const char *expires) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "rule", rule);
    cJSON_AddStringToObject(r, "decision", decision);
    cJSON_AddNumberToObject(r, "desired_capacity", 7);
    cJSON_AddStringToObject(r, "state", "acted");
    if (expires) cJSON_AddStringToObject(r, "expires_at", expires);
    cJSON *dl = cJSON_AddArrayToObject(r, "deliveries");
    if (s0) {
        cJSON *w = cJSON_CreateObject();
        cJSON_AddNumberToObject(w, "action", 0);
        cJSON_AddStringToObject(w, "kind", "webhook");
        cJSON_AddStringToObject(w, "state", s0);
        cJSON_AddNumberToObject(w, "tries", 0);
        cJSON_AddNumberToObject(w, "max_tries", 3);
        cJSON_AddItemToArray(dl, w);
    }
    if (exec) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "action", 1);
        cJSON_AddStringToObject(x, "kind", "exec");
        cJSON_AddStringToObject(x, "state", "pending");
        cJSON_AddItemToArray(dl, x);
    }
    return r;
}

static uint64_t add(srv_dlog *d, cJSON *rec, const char *body) {
    uint64_t id = srv_dlog_reserve_id(d);
    const uint8_t *bodies[2] = {(const uint8_t *)body, NULL};
    size_t lens[2] = {body ? strlen(body) : 0, 0};
    ax_err e = {0};
    int rc = srv_dlog_add(d, id, rec, bodies, lens, NULL, &e);
    if (rc) FAILF("srv_dlog_add: %d %s", rc, e.msg);
    cJSON_Delete(rec);
    return id;
}

TEST(test_dlog_attempts_retry_deliver_and_crashed_exec) {
    char *dir = tmpdir();
    srv_dlog *d = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_dlog_open(dir, 100, &d, &e));
    uint64_t id = add(d, make_rec("r", "scale_up_immediately", "pending", true, NULL), "{\"a\":1}");
    char k1[64], k2[64];
    srv_dlog_key(d, id, 0, k1);
    double now = (double)ax_now_ms() / 1000.0;
    srv_dlv_due due[8];
    size_t n = 0;
    double next = 0;
    CHECK_EQ_INT(0, srv_dlog_due(d, now, due, 8, &n, &next));
    CHECK_EQ_U64(2, n);
    CHECK(isinf(next));
    /* the webhook: body back byte for byte, retried later */
    cJSON *rec = NULL, *dlv = NULL;
    uint8_t *body = NULL;
    size_t len = 0;
    CHECK_EQ_INT(0, srv_dlog_attempt_begin(d, id, 0, now, &rec, &dlv, &body, &len));
    CHECK(len == 7 && body && !memcmp(body, "{\"a\":1}", 7));
    free(body);
    cJSON_Delete(rec);
    srv_dlv_outcome o = {.state = SRV_DLV_PENDING, .at = now, .next_try_at = now + 30, .status = 503,
                         .error = "HTTP 503"};
    CHECK_EQ_INT(0, srv_dlog_attempt_end(d, id, 0, &o, &e));
    /* the exec: running, then auspex "crashes" (closed without finishing it) */
    CHECK_EQ_INT(0, srv_dlog_attempt_begin(d, id, 1, now, &rec, &dlv, &body, &len));
    CHECK(body == NULL);
    cJSON_Delete(rec);
    CHECK_EQ_INT(0, srv_dlog_due(d, now + 1, due, 8, &n, &next));
    CHECK_EQ_U64(0, n); /* webhook waits for its retry time; exec is running */
    CHECK(fabs(next - (now + 30)) < 0.01);
    srv_dlog_close(d);

    d = NULL;
    CHECK_EQ_INT(0, srv_dlog_open(dir, 100, &d, &e));
    srv_dlog_key(d, id, 0, k2);
    CHECK_EQ_STR(k1, k2); /* the same key after a restart */
    CHECK(srv_dlog_reserve_id(d) > id); /* ids keep growing */
    CHECK_EQ_INT(0, srv_dlog_get(d, id, &rec));
    CHECK_EQ_STR("failed", dlv_state(rec, 1)); /* a command is never run twice */
    CHECK_EQ_STR("pending", dlv_state(rec, 0));
    CHECK(dlv_num(rec, 0, "tries") == 1 && dlv_num(rec, 0, "last_status") == 503);
    cJSON_Delete(rec);
    CHECK_EQ_INT(0, srv_dlog_due(d, now + 31, due, 8, &n, &next));
    CHECK_EQ_U64(1, n);
    CHECK(due[0].id == id && due[0].action == 0);
    CHECK_EQ_INT(0, srv_dlog_attempt_begin(d, id, 0, now + 31, &rec, &dlv, &body, &len));
    free(body);
    cJSON_Delete(rec);
    o = (srv_dlv_outcome){.state = SRV_DLV_DELIVERED, .at = now + 31, .status = 200, .error = ""};
    CHECK_EQ_INT(0, srv_dlog_attempt_end(d, id, 0, &o, &e));
    CHECK_EQ_INT(0, srv_dlog_get(d, id, &rec));
    CHECK_EQ_STR("delivered", dlv_state(rec, 0));
    CHECK(dlv_num(rec, 0, "tries") == 2);
    CHECK_EQ_INT(2, cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "deliveries"), 0), "attempts")));
    cJSON_Delete(rec);
    /* nothing open any more; a second begin on a finished delivery is refused */
    CHECK_EQ_INT(0, srv_dlog_due(d, now + 100, due, 8, &n, &next));
    CHECK_EQ_U64(0, n);
    CHECK(isinf(next));
    CHECK_EQ_INT(AX_EINVAL, srv_dlog_attempt_begin(d, id, 0, now, &rec, &dlv, &body, &len));
    CHECK_EQ_INT(AX_ENOTFOUND, srv_dlog_get(d, 999999, &rec));
    srv_dlog_close(d);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_dlog_approve_reject_supersede_expire) {
    char *dir = tmpdir();
    srv_dlog *d = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_dlog_open(dir, 100, &d, &e));
    double now = (double)ax_now_ms() / 1000.0;
    uint64_t a = add(d, make_rec("g", "scale_up_immediately", "waiting", false, NULL), "A");
    uint64_t b = add(d, make_rec("g", "scale_up_immediately", "waiting", false, NULL), "B");
    uint64_t other = add(d, make_rec("h", "scale_up_immediately", "waiting", false, "2000-01-01T00:00:00Z"), "C");
    cJSON *rec = NULL;
    /* b superseded a (same rule), not the other rule's */
    CHECK_EQ_INT(0, srv_dlog_get(d, a, &rec));
    CHECK_EQ_STR("superseded", dlv_state(rec, 0));
    cJSON_Delete(rec);
    CHECK_EQ_INT(AX_EINVAL, srv_dlog_approve(d, a, true, now, NULL, &e));
    CHECK(strstr(e.msg, "superseded") != NULL);
    /* nothing due while waiting */
    srv_dlv_due due[4];
    size_t n = 0;
    double next = 0;
    CHECK_EQ_INT(0, srv_dlog_due(d, now, due, 4, &n, &next));
    CHECK_EQ_U64(0, n);
    /* the other rule's decision expired (expires_at in the past) */
    CHECK_EQ_INT(0, srv_dlog_get(d, other, &rec));
    CHECK_EQ_STR("expired", dlv_state(rec, 0));
    cJSON_Delete(rec);
    CHECK_EQ_INT(AX_EINVAL, srv_dlog_approve(d, other, true, now, NULL, &e));
    /* approve b: pending and due now; the rule's state records the action */
    srv_rule_state st;
    CHECK_EQ_INT(0, srv_dlog_rule_state(d, "g", &st));
    CHECK(isnan(st.last_action_at) && isnan(st.capacity));
    CHECK_EQ_INT(0, srv_dlog_approve(d, b, true, now, &rec, &e));
    CHECK_EQ_STR("pending", dlv_state(rec, 0));
    CHECK_EQ_STR("approved", cJSON_GetObjectItem(rec, "state")->valuestring);
    cJSON_Delete(rec);
    CHECK_EQ_INT(0, srv_dlog_rule_state(d, "g", &st));
    CHECK(fabs(st.last_action_at - now) < 1e-6 && st.capacity == 7);
    CHECK_EQ_INT(0, srv_dlog_due(d, now, due, 4, &n, &next));
    CHECK_EQ_U64(1, n);
    CHECK(due[0].id == b);
    CHECK_EQ_INT(AX_EINVAL, srv_dlog_approve(d, b, true, now, NULL, &e)); /* twice */
    CHECK_EQ_INT(AX_EINVAL, srv_dlog_approve(d, b, false, now, NULL, &e));
    /* reject a new one */
    uint64_t c = add(d, make_rec("g", "consider_scale_down", "waiting", false, NULL), "D");
    CHECK_EQ_INT(0, srv_dlog_approve(d, c, false, now, &rec, &e));
    CHECK_EQ_STR("rejected", dlv_state(rec, 0));
    cJSON_Delete(rec);
    CHECK_EQ_INT(AX_ENOTFOUND, srv_dlog_approve(d, 424242, true, now, NULL, &e));
    srv_dlog_close(d);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_dlog_list_filters_paging_and_prune) {
    char *dir = tmpdir();
    srv_dlog *d = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_dlog_open(dir, 5, &d, &e));
    uint64_t open_id = add(d, make_rec("x", "scale_up_immediately", "pending", false, NULL), "P");
    uint64_t ids[8];
    for (int i = 0; i < 8; i++)
        ids[i] = add(d, make_rec(i % 2 ? "x" : "y", i % 3 ? "no_action" : "consider_scale_down", NULL, false, NULL), NULL);
    cJSON *arr = NULL;
    CHECK_EQ_INT(0, srv_dlog_list(d, 0, 100, NULL, NULL, false, &arr));
    /* at most 5 kept, but the one with an open delivery survives pruning */
    CHECK_EQ_INT(5, cJSON_GetArraySize(arr));
    char want[24];
    snprintf(want, sizeof want, "%llu", (unsigned long long)ids[7]);
    CHECK_EQ_STR(want, cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuestring); /* newest first */
    cJSON_Delete(arr);
    cJSON *rec = NULL;
    CHECK_EQ_INT(0, srv_dlog_get(d, open_id, &rec));
    cJSON_Delete(rec);
    CHECK_EQ_INT(AX_ENOTFOUND, srv_dlog_get(d, ids[0], &rec));
    /* filters */
    CHECK_EQ_INT(0, srv_dlog_list(d, 0, 100, "y", NULL, false, &arr));
    int ny = cJSON_GetArraySize(arr);
    for (int i = 0; i < ny; i++) CHECK_EQ_STR("y", cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "rule")->valuestring);
    CHECK(ny >= 1);
    cJSON_Delete(arr);
    CHECK_EQ_INT(0, srv_dlog_list(d, 0, 100, NULL, NULL, true, &arr));
    CHECK_EQ_INT(1, cJSON_GetArraySize(arr));
    cJSON_Delete(arr);
    CHECK_EQ_INT(0, srv_dlog_list(d, 0, 100, NULL, "consider_scale_down", false, &arr));
    for (int i = 0; i < cJSON_GetArraySize(arr); i++)
        CHECK_EQ_STR("consider_scale_down", cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "decision")->valuestring);
    cJSON_Delete(arr);
    /* paging: before = the newest id gives the ones below it, limit respected */
    CHECK_EQ_INT(0, srv_dlog_list(d, ids[7], 2, NULL, NULL, false, &arr));
    CHECK_EQ_INT(2, cJSON_GetArraySize(arr));
    snprintf(want, sizeof want, "%llu", (unsigned long long)ids[6]);
    CHECK_EQ_STR(want, cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuestring);
    cJSON_Delete(arr);
    CHECK_EQ_INT(0, srv_dlog_list(d, ids[7] + 1000, 1, NULL, NULL, false, &arr));
    snprintf(want, sizeof want, "%llu", (unsigned long long)ids[7]);
    CHECK_EQ_STR(want, cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuestring);
    cJSON_Delete(arr);
    /* the rules' state goes with a decision */
    srv_rule_state st = {1000.5, 3}, got;
    uint64_t id = srv_dlog_reserve_id(d);
    cJSON *r = make_rec("z", "scale_up_immediately", NULL, false, NULL);
    CHECK_EQ_INT(0, srv_dlog_add(d, id, r, NULL, NULL, &st, &e));
    cJSON_Delete(r);
    srv_dlog_close(d);
    CHECK_EQ_INT(0, srv_dlog_open(dir, 5, &d, &e));
    CHECK_EQ_INT(0, srv_dlog_rule_state(d, "z", &got));
    CHECK(got.last_action_at == 1000.5 && got.capacity == 3);
    srv_dlog_close(d);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_dlog_open_fails_cleanly) {
    srv_dlog *d = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EIO, srv_dlog_open("/proc/auspex-no-such/decisions", 10, &d, &e));
    CHECK(d == NULL && e.msg[0]);
}
