/* Unit tests for server/jsonl_import.c: VictoriaMetrics JSON lines (key order, whitespace,
 * escapes, NaN/Inf bare and quoted, timestamps), unknown keys skipped, extra labels, every
 * error with its line number, caps and every truncation of a valid input.
 * Static helpers are prefixed jl_ (this file shares unit_server with other test files). */
#include "server/jsonl_import.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static bool jl_span_eq(const char *p, uint32_t len, const char *s) {
    return len == strlen(s) && (len == 0 || !memcmp(p, s, len));
}

/* Parse body[0..len) from an exact-size heap copy (ASan sees any overread); on success
 * parse again from an arena copy, whose spans stay valid for the caller. */
static int jl_parse_n(const char *body, size_t len, const ax_label *extra, size_t n_extra,
                      ax_arena *a, eng_ts **ts, size_t *n, size_t *ns, ax_err *e) {
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, body, len);
    int rc = srv_jsonl_parse(copy, len, extra, n_extra, a, ts, n, ns, e);
    free(copy);
    if (rc) return rc;
    char *keep = ax_arena_dup(a, body, len ? len : 1);
    if (!keep) return AX_ENOMEM;
    return srv_jsonl_parse(keep, len, extra, n_extra, a, ts, n, ns, e);
}

static int jl_parse(const char *body, const ax_label *extra, size_t n_extra, ax_arena *a,
                    eng_ts **ts, size_t *n, ax_err *e) {
    size_t ns = 0;
    return jl_parse_n(body, strlen(body), extra, n_extra, a, ts, n, &ns, e);
}

/* Check series t has exactly the labels in want[] (name, value pairs, NULL-terminated). */
static void jl_check_labels(const eng_ts *t, const char *const *want, const char *ctx) {
    size_t n = 0;
    while (want[2 * n]) n++;
    if (t->n_labels != n) {
        FAILF("%s: %zu labels, want %zu", ctx, t->n_labels, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const ax_label *l = &t->labels[i];
        if (!jl_span_eq(l->name, l->name_len, want[2 * i]) ||
            !jl_span_eq(l->value, l->value_len, want[2 * i + 1]))
            FAILF("%s: label %zu is %.*s=\"%.*s\", want %s=\"%s\"", ctx, i, (int)l->name_len,
                  l->name, (int)l->value_len, l->value, want[2 * i], want[2 * i + 1]);
    }
}

/* Expect body to fail with AX_EINVAL and a message starting with `prefix`. */
static void jl_expect_err(const char *body, const char *prefix) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = (eng_ts *)&a; /* sentinel: must stay untouched */
    size_t n = 777;
    ax_err e = {0};
    int rc = jl_parse(body, NULL, 0, &a, &ts, &n, &e);
    if (rc != AX_EINVAL) FAILF("body %s: rc %d (%s), want EINVAL", body, rc, e.msg);
    else if (strncmp(e.msg, prefix, strlen(prefix)))
        FAILF("body %s: message \"%s\", want prefix \"%s\"", body, e.msg, prefix);
    if (ts != (eng_ts *)&a || n != 777) FAILF("body %s: out-params written on failure", body);
    ax_arena_clear(&a);
}

/* ---- valid input ---- */

TEST(test_jsonl_basic_lines) {
    const char *body =
        "{\"metric\":{\"__name__\":\"up\",\"job\":\"x\"},\"values\":[1,2.5,-3e2],\"timestamps\":[1700000000000,1700000001000,1700000002000]}\n"
        "\n"
        "  {  \"timestamps\" : [ 5 ] , \"values\" : [ 0.25 ] ,\t\"metric\" : { \"instance\" : \"h:9100\" , \"__name__\" : \"m2\" } }  \r\n"
        "{\"values\":[],\"timestamps\":[],\"metric\":{\"__name__\":\"empty\"}}\n"
        "{\"metric\":{},\"values\":[7],\"timestamps\":[-1700000000000]}";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    int rc = jl_parse_n(body, strlen(body), NULL, 0, &a, &ts, &n, &ns, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(3, n);
    CHECK_EQ_INT(5, ns);
    if (n == 3) {
        jl_check_labels(&ts[0], (const char *const[]){"__name__", "up", "job", "x", NULL}, "line 1");
        CHECK_EQ_INT(3, ts[0].n_samples);
        CHECK_EQ_DBL(1, ts[0].samples[0].v);
        CHECK_EQ_DBL(2.5, ts[0].samples[1].v);
        CHECK_EQ_DBL(-300, ts[0].samples[2].v);
        CHECK_EQ_INT(1700000000000LL, ts[0].samples[0].ts);
        CHECK_EQ_INT(1700000002000LL, ts[0].samples[2].ts);
        jl_check_labels(&ts[1], (const char *const[]){"instance", "h:9100", "__name__", "m2", NULL}, "line 3");
        CHECK_EQ_INT(1, ts[1].n_samples);
        CHECK_EQ_DBL(0.25, ts[1].samples[0].v);
        CHECK_EQ_INT(5, ts[1].samples[0].ts);
        CHECK_EQ_INT(0, ts[2].n_labels);
        CHECK_EQ_INT(-1700000000000LL, ts[2].samples[0].ts);
        CHECK_EQ_DBL(7, ts[2].samples[0].v);
    }
    ax_arena_clear(&a);
}

TEST(test_jsonl_escapes) {
    const char *body =
        "{\"metric\":{\"__name__\":\"caf\\u00e9\",\"q\":\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\","
        "\"emoji\":\"\\ud83d\\ude00!\",\"l\\u0061bel\":\"plain\",\"k\":\"\\u20AC\"},"
        "\"v\\u0061lues\":[1],\"timestamps\":[2]}\n";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = jl_parse(body, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(1, n);
    if (n == 1)
        jl_check_labels(&ts[0], (const char *const[]){"__name__", "caf\xc3\xa9", "q", "a\"b\\c/d\n\t\r\b\f",
                                                      "emoji", "\xf0\x9f\x98\x80!", "label", "plain",
                                                      "k", "\xe2\x82\xac", NULL}, "escapes");
    ax_arena_clear(&a);
}

TEST(test_jsonl_nan_inf) {
    const char *body =
        "{\"metric\":{\"__name__\":\"x\"},\"values\":[NaN,Inf,+Inf,-Inf,\"NaN\",\"Inf\",\"+Inf\",\"-Inf\",-0,1e-400,"
        "1.7976931348623157e308],\"timestamps\":[1,2,3,4,5,6,7,8,9,10,11]}\n";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = jl_parse(body, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    if (n == 1 && ts[0].n_samples == 11) {
        const eng_sample *s = ts[0].samples;
        CHECK(isnan(s[0].v) && isnan(s[4].v));
        CHECK(isinf(s[1].v) && s[1].v > 0 && isinf(s[2].v) && s[2].v > 0);
        CHECK(isinf(s[5].v) && s[5].v > 0 && isinf(s[6].v) && s[6].v > 0);
        CHECK(isinf(s[3].v) && s[3].v < 0 && isinf(s[7].v) && s[7].v < 0);
        CHECK(s[8].v == 0 && signbit(s[8].v));
        CHECK_EQ_DBL(0, s[9].v);
        CHECK_EQ_DBL(1.7976931348623157e308, s[10].v);
        for (int i = 0; i < 11; i++) CHECK_EQ_INT(i + 1, s[i].ts);
    } else {
        FAILF("n %zu", n);
    }
    ax_arena_clear(&a);
}

TEST(test_jsonl_timestamps) {
    const char *body =
        "{\"metric\":{\"a\":\"b\"},\"values\":[1,2,3,4,5,6,7,8],\"timestamps\":"
        "[9223372036854775807,-9223372036854775808,0,-0,1.7e12,10.000,1000e-3,17000000000000E-1]}\n";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = jl_parse(body, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    if (n == 1 && ts[0].n_samples == 8) {
        const eng_sample *s = ts[0].samples;
        CHECK_EQ_INT(INT64_MAX, s[0].ts);
        CHECK_EQ_INT(INT64_MIN, s[1].ts);
        CHECK_EQ_INT(0, s[2].ts);
        CHECK_EQ_INT(0, s[3].ts);
        CHECK_EQ_INT(1700000000000LL, s[4].ts);
        CHECK_EQ_INT(10, s[5].ts);
        CHECK_EQ_INT(1, s[6].ts);
        CHECK_EQ_INT(1700000000000LL, s[7].ts);
    } else {
        FAILF("n %zu", n);
    }
    ax_arena_clear(&a);
}

TEST(test_jsonl_unknown_keys_skipped) {
    const char *body =
        "{\"x\":{\"a\":[1,{\"b\":null},[[]],\"s\\\"]\"],\"c\":{}},\"metric\":{\"__name__\":\"m\"},"
        "\"t\":true,\"f\":false,\"n\":null,\"num\":-1.5e+3,\"arr\":[],\"str\":\"}{\","
        "\"values\":[1],\"timestamps\":[2],\"deep\":[[[[[{\"z\":[0]}]]]]]}\n";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = jl_parse(body, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(1, n);
    if (n == 1) jl_check_labels(&ts[0], (const char *const[]){"__name__", "m", NULL}, "unknown");

    /* nesting: JL_MAX_DEPTH levels below the value are fine, one more is refused */
    char deep[512];
    for (int lvl = JL_MAX_DEPTH; lvl <= JL_MAX_DEPTH + 1; lvl++) {
        size_t k = 0;
        k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"metric\":{},\"values\":[],\"timestamps\":[],\"d\":");
        for (int i = 0; i < lvl; i++) deep[k++] = '[';
        for (int i = 0; i < lvl; i++) deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = 0;
        rc = jl_parse(deep, NULL, 0, &a, &ts, &n, &e);
        if (lvl == JL_MAX_DEPTH) CHECK_EQ_INT(0, rc);
        else CHECK_EQ_INT(AX_EINVAL, rc);
    }
    ax_arena_clear(&a);
}

TEST(test_jsonl_extras_override) {
    const char *body =
        "{\"metric\":{\"__name__\":\"up\",\"job\":\"orig\",\"instance\":\"i\"},\"values\":[1],\"timestamps\":[2]}\n"
        "{\"metric\":{\"j\\u006fb\":\"esc\",\"a\":\"b\"},\"values\":[1],\"timestamps\":[2]}\n";
    ax_label extra[2] = {{"job", "new", 3, 3}, {"env", "prod", 3, 4}};
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = jl_parse(body, extra, 2, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(2, n);
    if (n == 2) {
        jl_check_labels(&ts[0], (const char *const[]){"__name__", "up", "instance", "i", "job", "new",
                                                      "env", "prod", NULL}, "line 1");
        jl_check_labels(&ts[1], (const char *const[]){"a", "b", "job", "new", "env", "prod", NULL}, "line 2");
    }
    ax_arena_clear(&a);
}

TEST(test_jsonl_empty_body) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = (eng_ts *)&a;
    size_t n = 9, ns = 9;
    ax_err e = {0};
    CHECK_EQ_INT(0, jl_parse_n("", 0, NULL, 0, &a, &ts, &n, &ns, &e));
    CHECK(ts == NULL && n == 0 && ns == 0);
    CHECK_EQ_INT(0, jl_parse_n("\n \r\n\t\n", 6, NULL, 0, &a, &ts, &n, &ns, &e));
    CHECK(ts == NULL && n == 0 && ns == 0);
    ax_arena_clear(&a);
}

/* ---- errors ---- */

#define JL_OK "{\"metric\":{\"__name__\":\"a\"},\"values\":[1],\"timestamps\":[2]}\n"

TEST(test_jsonl_errors) {
    jl_expect_err(JL_OK "\n[1]\n", "line 3: expected '{'");
    jl_expect_err(JL_OK "{\"values\":[1],\"timestamps\":[2]}", "line 2: missing \"metric\"");
    jl_expect_err("{\"metric\":{},\"timestamps\":[2]}", "line 1: missing \"values\"");
    jl_expect_err(JL_OK JL_OK "{\"metric\":{},\"values\":[2]}", "line 3: missing \"timestamps\"");
    jl_expect_err(JL_OK "{\"metric\":{},\"values\":[1,2],\"timestamps\":[2]}", "line 2: 2 values but 1 timestamps");
    jl_expect_err("{\"metric\":{\"a\":1},\"values\":[1],\"timestamps\":[2]}", "line 1: value of label \"a\" is not a string");
    jl_expect_err("{\"metric\":{\"a\":null},\"values\":[1],\"timestamps\":[2]}", "line 1: value of label \"a\" is not a string");
    jl_expect_err("{\"metric\":[],\"values\":[1],\"timestamps\":[2]}", "line 1: \"metric\" must be an object");
    jl_expect_err("{\"metric\":{},\"values\":1,\"timestamps\":[2]}", "line 1: \"values\" must be an array");
    jl_expect_err("{\"metric\":{},\"values\":[1.2.3],\"timestamps\":[2]}", "line 1: values[0]: bad number");
    jl_expect_err("{\"metric\":{},\"values\":[1,01],\"timestamps\":[2,3]}", "line 1: values[1]: bad number");
    jl_expect_err("{\"metric\":{},\"values\":[nan],\"timestamps\":[2]}", "line 1: values[0]: bad number");
    jl_expect_err("{\"metric\":{},\"values\":[\"1\"],\"timestamps\":[2]}", "line 1: values[0]: string \"1\" is not a number");
    jl_expect_err("{\"metric\":{},\"values\":[1e400],\"timestamps\":[2]}", "line 1: values[0]: number \"1e400\" is out of range");
    jl_expect_err("{\"metric\":{},\"values\":[,],\"timestamps\":[2]}", "line 1: values[0]: expected a number");
    jl_expect_err("{\"metric\":{},\"values\":[1,],\"timestamps\":[2]}", "line 1: values[1]: expected a number");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[1.5]}", "line 1: timestamps[0]: \"1.5\" is not an int64");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[9223372036854775808]}", "line 1: timestamps[0]: \"9223372036854775808\" is not an int64");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[1e19]}", "line 1: timestamps[0]: \"1e19\" is not an int64");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[\"2\"]}", "line 1: timestamps[0]: expected an integer");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[+2]}", "line 1: timestamps[0]: bad number");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[2]", "line 1: expected ',' or '}'");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[2]} x", "line 1: unexpected 'x' after the object");
    jl_expect_err("{\"metric\":{},\"metric\":{},\"values\":[1],\"timestamps\":[2]}", "line 1: key \"metric\" repeated");
    jl_expect_err("{\"metric\":{\"a\":\"b\\x\"},\"values\":[1],\"timestamps\":[2]}", "line 1: bad escape");
    jl_expect_err("{\"metric\":{\"a\":\"\\ud800\"},\"values\":[1],\"timestamps\":[2]}", "line 1: bad escape");
    jl_expect_err("{\"metric\":{\"a\":\"\\udc00\\ud800\"},\"values\":[1],\"timestamps\":[2]}", "line 1: bad escape");
    jl_expect_err("{\"metric\":{\"a\":\"\\u12\"},\"values\":[1],\"timestamps\":[2]}", "line 1: bad escape");
    jl_expect_err("{\"metric\":{\"a\":\"x\ty\"},\"values\":[1],\"timestamps\":[2]}", "line 1: raw control byte 0x09");
    jl_expect_err("{\"metric\":{\"a\":\"b}", "line 1: unterminated string");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[2],\"x\":tru}", "line 1: expected a JSON value");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[2],\"x\":NaN}", "line 1: expected a JSON value");
    jl_expect_err("{\"metric\":{},\"values\":[1],\"timestamps\":[2],\"x\":{1:2}}", "line 1: expected a key string");
    jl_expect_err("{metric:{}}", "line 1: expected a key string");
}

TEST(test_jsonl_caps) {
    ax_arena a;
    ax_arena_init(&a, 8 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    /* AX_MAX_LABELS labels fit, one more does not; with an extra, the limit counts it */
    char body[8192];
    for (int nl = AX_MAX_LABELS; nl <= AX_MAX_LABELS + 1; nl++) {
        size_t k = (size_t)snprintf(body, sizeof body, JL_OK "{\"metric\":{");
        for (int i = 0; i < nl; i++) k += (size_t)snprintf(body + k, sizeof body - k, "%s\"l%d\":\"v\"", i ? "," : "", i);
        snprintf(body + k, sizeof body - k, "},\"values\":[1],\"timestamps\":[2]}\n");
        int rc = jl_parse(body, NULL, 0, &a, &ts, &n, &e);
        if (nl == AX_MAX_LABELS) {
            CHECK_EQ_INT(0, rc);
            ax_label extra = {"env", "p", 3, 1};
            CHECK_EQ_INT(AX_EINVAL, jl_parse(body, &extra, 1, &a, &ts, &n, &e));
            CHECK_EQ_STR("line 2: more than 64 labels with the extra labels", e.msg);
            ax_label over = {"l0", "p", 2, 1}; /* overrides one: still 64 */
            CHECK_EQ_INT(0, jl_parse(body, &over, 1, &a, &ts, &n, &e));
        } else {
            CHECK_EQ_INT(AX_EINVAL, rc);
            CHECK_EQ_STR("line 2: more than 64 labels", e.msg);
        }
    }
    /* name and value sizes, counted after unescaping */
    size_t big = AX_MAX_LABEL_VALUE + 64;
    char *b = malloc(big + 128);
    for (int over = 0; over <= 1; over++) {
        size_t k = (size_t)sprintf(b, "{\"metric\":{\"n\":\"");
        memset(b + k, 'v', AX_MAX_LABEL_VALUE - 1 + (size_t)over);
        k += AX_MAX_LABEL_VALUE - 1 + (size_t)over;
        k += (size_t)sprintf(b + k, "\\u0041\"},\"values\":[1],\"timestamps\":[2]}");
        int rc = jl_parse(b, NULL, 0, &a, &ts, &n, &e);
        if (!over) {
            CHECK_EQ_INT(0, rc);
            if (!rc) CHECK_EQ_INT(AX_MAX_LABEL_VALUE, ts[0].labels[0].value_len);
        } else {
            CHECK_EQ_INT(AX_EINVAL, rc);
            CHECK(strstr(e.msg, "line 1: value of label \"n\" of 16385 bytes exceeds 16384") == e.msg);
        }
        k = (size_t)sprintf(b, "{\"metric\":{\"");
        memset(b + k, 'n', AX_MAX_LABEL_NAME + (size_t)over);
        k += AX_MAX_LABEL_NAME + (size_t)over;
        sprintf(b + k, "\":\"v\"},\"values\":[1],\"timestamps\":[2]}");
        rc = jl_parse(b, NULL, 0, &a, &ts, &n, &e);
        CHECK_EQ_INT(over ? AX_EINVAL : 0, rc);
    }
    free(b);
    ax_arena_clear(&a);

    /* arena budget too small: ETOOBIG, out-params untouched */
    ax_arena small;
    ax_arena_init(&small, 64);
    ts = NULL;
    n = 5;
    const char *body2 = "{\"metric\":{\"a\":\"b\"},\"values\":[1,2,3,4,5,6,7,8],\"timestamps\":[1,2,3,4,5,6,7,8]}";
    CHECK_EQ_INT(AX_ETOOBIG, srv_jsonl_parse(body2, strlen(body2), NULL, 0, &small, &ts, &n, &(size_t){0}, &e));
    CHECK(ts == NULL && n == 5 && e.code == AX_ETOOBIG);
    ax_arena_clear(&small);
}

TEST(test_jsonl_every_truncation) {
    const char *body =
        "{\"metric\":{\"__name__\":\"http_requests_total\",\"job\":\"a\\u00e9\\ud83d\\ude00\"},"
        "\"values\":[1,NaN,\"+Inf\",-2.5e-3],\"timestamps\":[1700000000000,1700000015000,-1,20]}\r\n"
        "{\"timestamps\":[5,6],\"extra\":{\"k\":[1,{\"x\":\"y\"}]},\"values\":[-Inf,1e3],"
        "\"metric\":{\"__name__\":\"b\"}}\n"
        "  { \"metric\" : { \"q\" : \"\\\"\\n\" } , \"values\" : [ 42 ] , \"timestamps\" : [ 1.7e12 ] }  \n";
    size_t len = strlen(body);
    ax_arena fa;
    ax_arena_init(&fa, 1 << 20);
    eng_ts *full = NULL;
    size_t nfull = 0;
    ax_err e = {0};
    int rc = jl_parse(body, NULL, 0, &fa, &full, &nfull, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(3, nfull);
    for (size_t k = 0; k <= len; k++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *ts = NULL;
        size_t n = 0, ns = 0;
        e.msg[0] = 0;
        rc = jl_parse_n(body, k, NULL, 0, &a, &ts, &n, &ns, &e);
        if (rc) {
            if (rc != AX_EINVAL || strncmp(e.msg, "line ", 5)) FAILF("prefix %zu: rc %d msg \"%s\"", k, rc, e.msg);
        } else if (n > nfull) {
            FAILF("prefix %zu: %zu series > %zu", k, n, nfull);
        } else {
            size_t tot = 0;
            for (size_t i = 0; i < n; i++) {
                tot += ts[i].n_samples;
                if (ts[i].n_labels != full[i].n_labels || ts[i].n_samples != full[i].n_samples) {
                    FAILF("prefix %zu: series %zu shape differs", k, i);
                    continue;
                }
                for (size_t j = 0; j < ts[i].n_labels; j++) {
                    const ax_label *x = &ts[i].labels[j], *y = &full[i].labels[j];
                    if (x->name_len != y->name_len || x->value_len != y->value_len ||
                        memcmp(x->name, y->name, x->name_len) ||
                        (x->value_len && memcmp(x->value, y->value, x->value_len)))
                        FAILF("prefix %zu: series %zu label %zu differs", k, i, j);
                }
                for (size_t j = 0; j < ts[i].n_samples; j++)
                    if (ts[i].samples[j].ts != full[i].samples[j].ts ||
                        memcmp(&ts[i].samples[j].v, &full[i].samples[j].v, sizeof(double)))
                        FAILF("prefix %zu: series %zu sample %zu differs", k, i, j);
            }
            if (tot != ns) FAILF("prefix %zu: samples_out %zu != %zu", k, ns, tot);
        }
        ax_arena_clear(&a);
    }
    ax_arena_clear(&fa);
}
