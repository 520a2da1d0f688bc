/* Unit tests for srv_dlog_copy (server/decisions.c), used by snapshots: the copy opens as a
 * decision log of its own with the records, rule state and instance of the original. */
#include "server/decisions.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>

TEST(test_dlog_copy_opens_with_same_records) {
    char *dir = strdup("/tmp/auspex-dlogcp-XXXXXX");
    if (!mkdtemp(dir)) abort();
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/decisions", dir);
    snprintf(dst, sizeof dst, "%s/snap/decisions", dir);
    srv_dlog *d = NULL, *c = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_dlog_open(src, 100, &d, &e));
    if (!d) { FAILF("open: %s", e.msg); return; }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "rule", "z");
    cJSON_AddStringToObject(r, "decision", "scale_up_immediately");
    cJSON_AddStringToObject(r, "state", "acted");
    cJSON_AddArrayToObject(r, "deliveries");
    srv_rule_state st = {1000.5, 3}, got = {0, 0};
    uint64_t id = srv_dlog_reserve_id(d);
    CHECK_EQ_INT(0, srv_dlog_add(d, id, r, NULL, NULL, &st, &e));
    cJSON_Delete(r);

    CHECK_EQ_INT(AX_EIO, srv_dlog_copy(d, "/proc/auspex-no-such/decisions", &e)); /* cannot mkdir */
    char parent[4200]; /* srv_dlog_copy makes the last folder only, as srv_dlog_open */
    snprintf(parent, sizeof parent, "%s/snap", dir);
    CHECK_EQ_INT(0, mkdir(parent, 0755));
    e = (ax_err){0};
    CHECK_EQ_INT(0, srv_dlog_copy(d, dst, &e));
    if (e.msg[0]) fprintf(stderr, "  srv_dlog_copy: %s\n", e.msg);
    CHECK(srv_dlog_copy(d, dst, &e) != 0); /* a data.mdb is there already */

    /* a decision added after the copy is not in it */
    cJSON *r2 = cJSON_CreateObject();
    cJSON_AddStringToObject(r2, "rule", "later");
    cJSON_AddArrayToObject(r2, "deliveries");
    uint64_t id2 = srv_dlog_reserve_id(d);
    CHECK_EQ_INT(0, srv_dlog_add(d, id2, r2, NULL, NULL, NULL, &e));
    cJSON_Delete(r2);

    CHECK_EQ_INT(0, srv_dlog_open(dst, 100, &c, &e));
    if (c) {
        cJSON *rec = NULL;
        CHECK_EQ_INT(0, srv_dlog_get(c, id, &rec));
        cJSON *rule = rec ? cJSON_GetObjectItem(rec, "rule") : NULL;
        CHECK_EQ_STR("z", rule && cJSON_IsString(rule) ? rule->valuestring : NULL);
        cJSON_Delete(rec);
        rec = NULL;
        CHECK_EQ_INT(AX_ENOTFOUND, srv_dlog_get(c, id2, &rec));
        cJSON_Delete(rec);
        CHECK_EQ_INT(0, srv_dlog_rule_state(c, "z", &got));
        CHECK(got.last_action_at == 1000.5 && got.capacity == 3);
        char k1[64], k2[64];
        srv_dlog_key(d, 9, 0, k1);
        srv_dlog_key(c, 9, 0, k2);
        CHECK_EQ_STR(k1, k2); /* same instance: idempotency keys survive a restore */
        srv_dlog_close(c);
    }
    srv_dlog_close(d);
    test_rm_rf(dir);
    free(dir);
}
