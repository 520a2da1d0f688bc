/* tests/unit/server/test_metadata.c: the # HELP / # TYPE / # UNIT table behind
 * /api/v1/metadata. */
#include "server/metadata.h"
#include "test.h"

#include <stdlib.h>

static char *json(srv_meta *m, const char *metric, size_t limit) {
    ax_buf b;
    ax_buf_init(&b, 1u << 20);
    int rc = srv_meta_write_json(m, metric, metric ? strlen(metric) : 0, limit, &b);
    CHECK_EQ_INT(0, rc);
    ax_buf_append(&b, "", 1);
    return (char *)b.data;
}

TEST(test_meta_help_type_unit) {
    srv_meta *m = srv_meta_new(100);
    const char body[] =
        "# HELP node_load1 1m load average.\n"
        "# TYPE node_load1 gauge\n"
        "node_load1 0.5\n"
        "  # TYPE http_requests_total counter\n"
        "# HELP http_requests_total Requests with \\\"quotes\\\", a \\\\ and a\\nnewline.\n"
        "# TYPE old_style untyped\n"
        "# UNIT rtt_seconds seconds\r\n"
        "# a comment that is neither\n"
        "# TYPE bad-name gauge\n"
        "# TYPE bad_type flux\n"
        "# HELPx nope x\n";
    CHECK_EQ_INT(6, srv_meta_observe(m, body, sizeof body - 1));
    CHECK_EQ_INT(4, srv_meta_count(m));
    char *s = json(m, NULL, 0);
    const char *want =
        "{\"http_requests_total\":[{\"type\":\"counter\",\"help\":\"Requests with \\\\\\\"quotes\\\\\\\", a \\\\ and a\\nnewline.\",\"unit\":\"\"}],"
        "\"node_load1\":[{\"type\":\"gauge\",\"help\":\"1m load average.\",\"unit\":\"\"}],"
        "\"old_style\":[{\"type\":\"unknown\",\"help\":\"\",\"unit\":\"\"}],"
        "\"rtt_seconds\":[{\"type\":\"unknown\",\"help\":\"\",\"unit\":\"seconds\"}]}";
    if (strcmp(s, want)) FAILF("got %s\nwant %s", s, want);
    free(s);
    s = json(m, "node_load1", 0);
    CHECK(strcmp(s, "{\"node_load1\":[{\"type\":\"gauge\",\"help\":\"1m load average.\",\"unit\":\"\"}]}") == 0);
    free(s);
    s = json(m, NULL, 1);
    CHECK(strncmp(s, "{\"http_requests_total\"", 22) == 0 && strstr(s, "node_load1") == NULL);
    free(s);
    s = json(m, "absent", 0);
    CHECK(strcmp(s, "{}") == 0);
    free(s);
    /* the latest text wins */
    const char again[] = "# HELP node_load1 new text\n# TYPE node_load1 counter";
    CHECK_EQ_INT(2, srv_meta_observe(m, again, sizeof again - 1));
    s = json(m, "node_load1", 0);
    CHECK(strstr(s, "\"type\":\"counter\",\"help\":\"new text\"") != NULL);
    free(s);
    srv_meta_free(m);
}

TEST(test_meta_cap_and_eof_and_growth) {
    srv_meta *m = srv_meta_new(1000);
    char line[64];
    ax_buf b;
    ax_buf_init(&b, 1u << 20);
    for (int i = 0; i < 1500; i++) {
        int n = snprintf(line, sizeof line, "# TYPE m_%d gauge\n", i);
        ax_buf_append(&b, line, (size_t)n);
    }
    ax_buf_append_str(&b, "# EOF\n# TYPE after_eof gauge\n");
    CHECK_EQ_INT(1000, srv_meta_observe(m, (const char *)b.data, b.len));
    CHECK_EQ_INT(1000, srv_meta_count(m));
    char *s = json(m, "m_999", 0);
    CHECK(strstr(s, "m_999") != NULL);
    free(s);
    ax_buf_free(&b);
    srv_meta_free(m);
}

/* Every prefix of a body is scanned without reading past it (ASan) and never records
 * more than the whole body does. */
TEST(test_meta_every_truncation) {
    const char body[] = "# HELP a_b Some help \\n text\n# TYPE a_b counter\n# UNIT a_b bytes\n";
    for (size_t cut = 0; cut <= sizeof body - 1; cut++) {
        char *p = malloc(cut ? cut : 1);
        memcpy(p, body, cut);
        srv_meta *m = srv_meta_new(10);
        size_t n = srv_meta_observe(m, p, cut);
        CHECK(n <= 3);
        srv_meta_free(m);
        free(p);
    }
}
