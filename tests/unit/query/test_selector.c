/* Unit tests for query/selector.c: series selector parsing. */
#include "query/query.h"
#include "test.h"

static int parse(const char *s, eng_matcher **m, size_t *n, ax_arena *a, ax_err *e) {
    return pql_selector_parse(s, strlen(s), a, m, n, e);
}

TEST(test_selector_forms) {
    struct { const char *in; size_t n; int op1; const char *name1; const char *val1; } ok[] = {
        {"up", 1, ENG_MATCH_EQ, "__name__", "up"},
        {"  node:cpu:rate5m ", 1, ENG_MATCH_EQ, "__name__", "node:cpu:rate5m"},
        {"{job=\"node\"}", 1, ENG_MATCH_EQ, "job", "node"},
        {"up{job!=\"a\"}", 2, ENG_MATCH_NEQ, "job", "a"},
        {"up{ job =~ 'n.*' , }", 2, ENG_MATCH_RE, "job", "n.*"},
        {"up{job!~`a\\d`}", 2, ENG_MATCH_NRE, "job", "a\\d"},
        {"{__name__=~\"up|down\",x=\"\\u00e9\\n\\x41\"}", 2, ENG_MATCH_RE, "__name__", "up|down"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_matcher *m = NULL;
        size_t n = 0;
        ax_err e = {0};
        int rc = parse(ok[i].in, &m, &n, &a, &e);
        if (rc) { FAILF("%s: %s", ok[i].in, e.msg); ax_arena_clear(&a); continue; }
        CHECK_EQ_INT(ok[i].n, n);
        size_t k = n == 2 && ok[i].in[0] != '{' ? 1 : 0;
        CHECK_EQ_INT(ok[i].op1, m[k].op);
        CHECK(m[k].name_len == strlen(ok[i].name1) && !memcmp(m[k].name, ok[i].name1, m[k].name_len));
        CHECK(m[k].value_len == strlen(ok[i].val1) && !memcmp(m[k].value, ok[i].val1, m[k].value_len));
        pql_matchers_free(m, n);
        ax_arena_clear(&a);
    }
}

TEST(test_selector_escapes_decoded) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_matcher *m = NULL;
    size_t n = 0;
    CHECK_EQ_INT(0, parse("{x=\"\\u00e9\\n\\x41\\\"\"}", &m, &n, &a, NULL));
    CHECK(n == 1 && m[0].value_len == 5 && !memcmp(m[0].value, "\xc3\xa9\nA\"", 5));
    pql_matchers_free(m, n);
    ax_arena_clear(&a);
}

TEST(test_selector_errors) {
    const char *bad[] = {"", "{}", "{job=\"\"}", "{job=~\".*\"}", "up{", "up{job}", "up{job=}",
                         "up{job=\"a\"", "up{job=\"a", "up{1a=\"x\"}", "up x", "up{job=\"\\q\"}",
                         "up{job=~\"(\"}", "{x=\"\\xZZ\"}", "{x=\"\xff\"}", "{,}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_matcher *m = NULL;
        size_t n = 0;
        ax_err e = {0};
        int rc = parse(bad[i], &m, &n, &a, &e);
        if (rc != AX_EINVAL) FAILF("\"%s\": expected AX_EINVAL, got %d", bad[i], rc);
        else if (!e.msg[0]) FAILF("\"%s\": no message", bad[i]);
        if (!rc) pql_matchers_free(m, n);
        ax_arena_clear(&a);
    }
}
