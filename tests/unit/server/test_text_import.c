/* Unit tests for server/text_import.c: node_exporter-style expositions, escapes, values
 * and timestamps, \r\n, # EOF, extra labels, every error with its line number, caps and
 * every truncation of a valid input.
 * Static helpers are prefixed tx_ (this file shares unit_server with other test files). */
#include "server/text_import.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

#define TX_DEFAULT_TS 1700000000000LL

static bool tx_span_eq(const char *p, uint32_t len, const char *s) {
    return len == strlen(s) && (len == 0 || !memcmp(p, s, len));
}

static ax_label tx_L(const char *n, const char *v) {
    ax_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

/* Parse body[0..len) from an exact-size heap copy (ASan sees any overread); on success
 * parse again from an arena copy, whose spans stay valid for the caller. */
static int tx_parse_n(const char *body, size_t len, const ax_label *extra, size_t n_extra,
                      ax_arena *a, eng_ts **ts, size_t *n, ax_err *e) {
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, body, len);
    size_t ns = 0;
    int rc = srv_text_parse(copy, len, TX_DEFAULT_TS, extra, n_extra, a, ts, n, &ns, e);
    free(copy);
    if (rc) return rc;
    if (ns != *n) FAILF("samples_out %zu != n_out %zu", ns, *n);
    char *keep = ax_arena_dup(a, body, len ? len : 1);
    if (!keep) return AX_ENOMEM;
    return srv_text_parse(keep, len, TX_DEFAULT_TS, extra, n_extra, a, ts, n, &ns, e);
}

static int tx_parse(const char *body, const ax_label *extra, size_t n_extra, ax_arena *a,
                    eng_ts **ts, size_t *n, ax_err *e) {
    return tx_parse_n(body, strlen(body), extra, n_extra, a, ts, n, e);
}

/* Check series t has exactly the labels in want[] (name, value pairs, NULL-terminated). */
static void tx_check_labels(const eng_ts *t, const char *const *want, const char *ctx) {
    size_t n = 0;
    while (want[2 * n]) n++;
    if (t->n_labels != n) {
        FAILF("%s: %zu labels, want %zu", ctx, t->n_labels, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const ax_label *l = &t->labels[i];
        if (!tx_span_eq(l->name, l->name_len, want[2 * i]) ||
            !tx_span_eq(l->value, l->value_len, want[2 * i + 1]))
            FAILF("%s: label %zu is %.*s=\"%.*s\", want %s=\"%s\"", ctx, i, (int)l->name_len,
                  l->name, (int)l->value_len, l->value, want[2 * i], want[2 * i + 1]);
    }
}

/* ---- valid input ---- */

TEST(test_text_node_exporter_lines) {
    const char *body =
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
        "# TYPE node_cpu_seconds_total counter\n"
        "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12345.67\n"
        "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 89.5\n"
        "\n"
        "# HELP node_load1 1m load average.\n"
        "# TYPE node_load1 gauge\n"
        "node_load1 0.42\n"
        "# some other comment\n"
        "go_gc_duration_seconds{quantile=\"0.5\"} 1.234e-05\n"
        "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
        "node:ratio:rate5m 3\n";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = tx_parse(body, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(6, n);
    if (!rc && n == 6) {
        tx_check_labels(&ts[0], (const char *const[]){"__name__", "node_cpu_seconds_total", "cpu", "0", "mode", "idle", NULL}, "0");
        CHECK_EQ_DBL(12345.67, ts[0].samples[0].v);
        CHECK_EQ_INT(TX_DEFAULT_TS, ts[0].samples[0].ts);
        CHECK_EQ_INT(1, ts[0].n_samples);
        tx_check_labels(&ts[1], (const char *const[]){"__name__", "node_cpu_seconds_total", "cpu", "0", "mode", "user", NULL}, "1");
        tx_check_labels(&ts[2], (const char *const[]){"__name__", "node_load1", NULL}, "2");
        CHECK_EQ_DBL(0.42, ts[2].samples[0].v);
        tx_check_labels(&ts[3], (const char *const[]){"__name__", "go_gc_duration_seconds", "quantile", "0.5", NULL}, "3");
        CHECK_EQ_DBL(1.234e-05, ts[3].samples[0].v);
        CHECK_EQ_DBL(1027, ts[4].samples[0].v);
        CHECK_EQ_INT(1395066363000LL, ts[4].samples[0].ts);
        tx_check_labels(&ts[5], (const char *const[]){"__name__", "node:ratio:rate5m", NULL}, "5");
        /* spans without escapes point into the body */
        CHECK(ts[0].labels[1].name >= ts[0].labels[0].value);
    }
    ax_arena_clear(&a);
}

TEST(test_text_escapes_and_whitespace) {
    const char *body =
        "  m{path=\"C:\\\\dir\\\\file\",msg=\"say \\\"hi\\\"\\nbye\",plain=\"x\",} 1\r\n"
        "m\t{ a = \"1\" ,\tb=\"\" }\t2\t-5\t\r\n"
        "m{} 3\n"
        "m{a=\"{},=\\\"# 1 2\"} 4";
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = tx_parse(body, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (rc) FAILF("%s", e.msg);
    CHECK_EQ_INT(4, n);
    if (!rc && n == 4) {
        tx_check_labels(&ts[0], (const char *const[]){"__name__", "m", "path", "C:\\dir\\file", "msg", "say \"hi\"\nbye", "plain", "x", NULL}, "escapes");
        tx_check_labels(&ts[1], (const char *const[]){"__name__", "m", "a", "1", "b", "", NULL}, "ws");
        CHECK_EQ_DBL(2, ts[1].samples[0].v);
        CHECK_EQ_INT(-5, ts[1].samples[0].ts);
        tx_check_labels(&ts[2], (const char *const[]){"__name__", "m", NULL}, "empty set");
        tx_check_labels(&ts[3], (const char *const[]){"__name__", "m", "a", "{},=\"# 1 2", NULL}, "specials");
        CHECK_EQ_DBL(4, ts[3].samples[0].v);
    }
    ax_arena_clear(&a);
}

TEST(test_text_values_and_timestamps) {
    static const struct { const char *text; double v; int64_t ts; } cases[] = {
        {"m 1", 1, TX_DEFAULT_TS},
        {"m -1.5e3 0", -1500, 0},
        {"m +2E-2 9223372036854775807", 0.02, INT64_MAX},
        {"m .5 -9223372036854775808", 0.5, INT64_MIN},
        {"m 5. +7", 5, 7},
        {"m +Inf", INFINITY, TX_DEFAULT_TS},
        {"m -Inf", -INFINITY, TX_DEFAULT_TS},
        {"m Inf", INFINITY, TX_DEFAULT_TS},
        {"m -infinity", -INFINITY, TX_DEFAULT_TS},
        {"m 0x1p-2", 0.25, TX_DEFAULT_TS},
        {"m -0X1.8P1", -3, TX_DEFAULT_TS},
        {"m 1e-400", 0, TX_DEFAULT_TS}, /* underflow is not an error in Go */
        {"m 1.7976931348623157e308", 1.7976931348623157e308, TX_DEFAULT_TS},
        {"m 00012", 12, TX_DEFAULT_TS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *ts = NULL;
        size_t n = 0;
        ax_err e = {0};
        int rc = tx_parse(cases[i].text, NULL, 0, &a, &ts, &n, &e);
        if (rc || n != 1) FAILF("\"%s\": rc %d n %zu (%s)", cases[i].text, rc, n, e.msg);
        else {
            if (ts[0].samples[0].v != cases[i].v)
                FAILF("\"%s\": value %.17g, want %.17g", cases[i].text, ts[0].samples[0].v, cases[i].v);
            if (ts[0].samples[0].ts != cases[i].ts)
                FAILF("\"%s\": ts %lld, want %lld", cases[i].text, (long long)ts[0].samples[0].ts,
                      (long long)cases[i].ts);
        }
        ax_arena_clear(&a);
    }
    const char *nans[] = {"m NaN", "m nan", "m NAN 5"};
    for (size_t i = 0; i < 3; i++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *ts = NULL;
        size_t n = 0;
        ax_err e = {0};
        int rc = tx_parse(nans[i], NULL, 0, &a, &ts, &n, &e);
        if (rc || n != 1 || !isnan(ts[0].samples[0].v)) FAILF("\"%s\": want NaN (rc %d, %s)", nans[i], rc, e.msg);
        ax_arena_clear(&a);
    }
}

TEST(test_text_eof_and_empty) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 99;
    ax_err e = {0};
    CHECK_EQ_INT(0, tx_parse("a 1\n# EOF\nthis is garbage {{{\n", NULL, 0, &a, &ts, &n, &e));
    CHECK_EQ_INT(1, n);
    CHECK_EQ_INT(0, tx_parse("a 1\r\n# EOF\r\n", NULL, 0, &a, &ts, &n, &e));
    CHECK_EQ_INT(1, n);
    CHECK_EQ_INT(0, tx_parse("# EOF", NULL, 0, &a, &ts, &n, &e));
    CHECK_EQ_INT(0, n);
    CHECK(ts == NULL);
    /* "#EOF" and "# EOFX" are only comments */
    CHECK_EQ_INT(0, tx_parse("#EOF\n# EOFX\nb 2\n", NULL, 0, &a, &ts, &n, &e));
    CHECK_EQ_INT(1, n);
    n = 99;
    CHECK_EQ_INT(0, tx_parse("", NULL, 0, &a, &ts, &n, &e));
    CHECK_EQ_INT(0, n);
    CHECK_EQ_INT(0, tx_parse("\n\n  \t\r\n# HELP x y\n# TYPE x gauge\n", NULL, 0, &a, &ts, &n, &e));
    CHECK_EQ_INT(0, n);
    size_t ns = 7;
    n = 7;
    CHECK_EQ_INT(0, srv_text_parse(NULL, 0, 0, NULL, 0, &a, &ts, &n, &ns, &e));
    CHECK_EQ_INT(0, n);
    CHECK_EQ_INT(0, ns);
    ax_arena_clear(&a);
}

TEST(test_text_extra_labels_override) {
    ax_label extra[] = {tx_L("job", "import"), tx_L("instance", "h:1")};
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = tx_parse("m{job=\"node\",a=\"b\",instance=\"x\"} 1\nm 2\n", extra, 2, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    CHECK_EQ_INT(2, n);
    if (!rc && n == 2) {
        tx_check_labels(&ts[0], (const char *const[]){"__name__", "m", "a", "b", "job", "import", "instance", "h:1", NULL}, "override");
        tx_check_labels(&ts[1], (const char *const[]){"__name__", "m", "job", "import", "instance", "h:1", NULL}, "added");
    }
    ax_label rename[] = {tx_L("__name__", "renamed")};
    rc = tx_parse("m{a=\"b\"} 1\n", rename, 1, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (!rc && n == 1) tx_check_labels(&ts[0], (const char *const[]){"a", "b", "__name__", "renamed", NULL}, "name override");
    ax_arena_clear(&a);
}

/* ---- errors ---- */

TEST(test_text_errors_name_the_line) {
    static const struct { const char *body; const char *msg; } cases[] = {
        {"a 1\nb\n", "line 2: missing value after \"b\""},
        {"a 1\n\nb{x=\"y\"}   \n", "line 3: missing value after \"b\""},
        {"a abc\n", "line 1: cannot parse value \"abc\""},
        {"a 1\na 1e999\n", "line 2: cannot parse value \"1e999\": out of range"},
        {"a 1\na 1_000\n", "line 2: cannot parse value \"1_000\""},
        {"a +NaN\n", "line 1: cannot parse value \"+NaN\""},
        {"a 0x10\n", "line 1: cannot parse value \"0x10\""},
        {"# c\n# d\nm{job=\"x} 1\n", "line 3: unterminated label value of label \"job\""},
        {"m{job=\"x\\", "line 1: unterminated label value of label \"job\""},
        {"a 1\na 1\nm{job \"x\"} 1\n", "line 3: expected '=' after label name \"job\", found '\"'"},
        {"m{job=x} 1\n", "line 1: expected '\"' to open the value of label \"job\", found 'x'"},
        {"m{job=\"a\\tb\"} 1\n", "line 1: bad escape '\\t' in the value of label \"job\" (want \\\\, \\\" or \\n)"},
        {"m{job=\"x\" 1\n", "line 1: expected ',' or '}' after the value of label \"job\", found '1'"},
        {"m{job=\"x\",\n", "line 1: label set not closed: expected label name or '}'"},
        {"m{job=\"x\"\r\n", "line 1: label set not closed: expected ',' or '}'"},
        {"m{1a=\"x\"} 1\n", "line 1: expected label name or '}', found '1'"},
        {"m{,} 1\n", "line 1: expected label name or '}', found ','"},
        {"a 1\nm 1 1000 extra\n", "line 2: unexpected \"extra\" after the timestamp"},
        {"m 1 1.5\n", "line 1: cannot parse timestamp \"1.5\" (want int64 milliseconds)"},
        {"m 1 9223372036854775808\n", "line 1: cannot parse timestamp \"9223372036854775808\" (want int64 milliseconds)"},
        {"{__name__=\"x\"} 1\n", "line 1: expected metric name, found '{'"},
        {"1m 1\n", "line 1: expected metric name, found '1'"},
        {"m-x 1\n", "line 1: unexpected '-' after the metric name"},
        {"m{a=\"b\"}1\n", "line 1: unexpected '1' after the label set"},
        {"m\r1\n", "line 1: unexpected byte 0x0d after the metric name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *ts = (eng_ts *)&a; /* must stay untouched */
        size_t n = 12345;
        ax_err e = {0};
        int rc = tx_parse(cases[i].body, NULL, 0, &a, &ts, &n, &e);
        if (rc != AX_EINVAL) FAILF("case %zu: rc %d, want EINVAL", i, rc);
        if (e.code != rc) FAILF("case %zu: e.code %d != rc %d", i, e.code, rc);
        if (strcmp(e.msg, cases[i].msg)) FAILF("case %zu: message\n    got  %s\n    want %s", i, e.msg, cases[i].msg);
        if (n != 12345 || ts != (eng_ts *)&a) FAILF("case %zu: out-params written on error", i);
        ax_arena_clear(&a);
    }
}

TEST(test_text_too_many_labels) {
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    ax_buf_append_str(&b, "ok 1\nm{");
    for (int i = 0; i < AX_MAX_LABELS - 1; i++) ax_buf_printf(&b, "l%d=\"v\",", i);
    ax_buf_append_str(&b, "} 1\n"); /* exactly AX_MAX_LABELS with __name__ */
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    int rc = tx_parse_n((const char *)b.data, b.len, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(0, rc);
    if (!rc) CHECK_EQ_INT(AX_MAX_LABELS, ts[1].n_labels);
    /* one extra label pushes it over */
    ax_label extra[] = {tx_L("job", "j")};
    rc = tx_parse_n((const char *)b.data, b.len, extra, 1, &a, &ts, &n, &e);
    CHECK_EQ_INT(AX_EINVAL, rc);
    CHECK_EQ_STR("line 2: more than 64 labels with the extra labels", e.msg);
    /* unless it overrides one */
    ax_label extra2[] = {tx_L("l5", "j")};
    CHECK_EQ_INT(0, tx_parse_n((const char *)b.data, b.len, extra2, 1, &a, &ts, &n, &e));
    /* one more label of its own */
    b.len -= 4;
    ax_buf_append_str(&b, "x=\"y\"} 1\n");
    rc = tx_parse_n((const char *)b.data, b.len, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(AX_EINVAL, rc);
    CHECK_EQ_STR("line 2: more than 64 labels", e.msg);
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

TEST(test_text_size_caps) {
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    ax_arena a;
    ax_arena_init(&a, 4 << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    /* label value of exactly AX_MAX_LABEL_VALUE bytes after unescaping: ok */
    ax_buf_append_str(&b, "m{v=\"");
    for (int i = 0; i < AX_MAX_LABEL_VALUE - 1; i++) ax_buf_append_str(&b, "x");
    ax_buf_append_str(&b, "\\n\"} 1\n");
    CHECK_EQ_INT(0, tx_parse_n((const char *)b.data, b.len, NULL, 0, &a, &ts, &n, &e));
    if (n == 1) CHECK_EQ_INT(AX_MAX_LABEL_VALUE, ts[0].labels[1].value_len);
    ax_buf_reset(&b);
    ax_buf_append_str(&b, "m{v=\"");
    for (int i = 0; i < AX_MAX_LABEL_VALUE + 1; i++) ax_buf_append_str(&b, "x");
    ax_buf_append_str(&b, "\"} 1\n");
    CHECK_EQ_INT(AX_EINVAL, tx_parse_n((const char *)b.data, b.len, NULL, 0, &a, &ts, &n, &e));
    CHECK_EQ_STR("line 1: value of label \"v\" of 16385 bytes exceeds 16384", e.msg);
    ax_buf_reset(&b);
    ax_buf_append_str(&b, "m{");
    for (int i = 0; i < AX_MAX_LABEL_NAME + 1; i++) ax_buf_append_str(&b, "n");
    ax_buf_append_str(&b, "=\"v\"} 1\n");
    CHECK_EQ_INT(AX_EINVAL, tx_parse_n((const char *)b.data, b.len, NULL, 0, &a, &ts, &n, &e));
    CHECK(strstr(e.msg, "line 1: label name \"nnnn") && strstr(e.msg, "of 257 bytes exceeds 256"));
    ax_arena_clear(&a);
    /* an arena budget too small for the result */
    ax_buf_reset(&b);
    for (int i = 0; i < 2000; i++) ax_buf_printf(&b, "m{i=\"%d\"} %d\n", i, i);
    ax_arena_init(&a, 4096);
    int rc = tx_parse_n((const char *)b.data, b.len, NULL, 0, &a, &ts, &n, &e);
    CHECK_EQ_INT(AX_ETOOBIG, rc);
    CHECK(strstr(e.msg, "exceeds the request budget") != NULL);
    ax_arena_clear(&a);
    ax_buf_free(&b);
}

/* Every prefix of a valid input parses to a prefix of its result (the last series may
 * differ in value or timestamp, never in labels) or fails with a message. */
TEST(test_text_every_truncation) {
    const char *body =
        "# HELP x_total A counter.\n"
        "# TYPE x_total counter\n"
        "x_total{a=\"1\",b=\"q\\\"\\\\\\n\"} 1.5e3 1000\r\n"
        "y -Inf\n"
        "z{c=\"\",} NaN 2000\n"
        "w 0x1p4\n"
        "# EOF\n";
    size_t len = strlen(body);
    ax_arena fa;
    ax_arena_init(&fa, 1 << 20);
    eng_ts *full = NULL;
    size_t nfull = 0;
    ax_err e = {0};
    CHECK_EQ_INT(0, tx_parse(body, NULL, 0, &fa, &full, &nfull, &e));
    CHECK_EQ_INT(4, nfull);
    for (size_t k = 0; k <= len; k++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *ts = NULL;
        size_t n = 0;
        e.msg[0] = 0;
        int rc = tx_parse_n(body, k, NULL, 0, &a, &ts, &n, &e);
        if (rc) {
            if (rc != AX_EINVAL || strncmp(e.msg, "line ", 5)) FAILF("prefix %zu: rc %d msg \"%s\"", k, rc, e.msg);
        } else if (n > nfull) {
            FAILF("prefix %zu: %zu series > %zu", k, n, nfull);
        } else {
            for (size_t i = 0; i < n; i++) {
                if (ts[i].n_labels != full[i].n_labels || ts[i].n_samples != 1) {
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
                if (i + 1 < n && (ts[i].samples[0].ts != full[i].samples[0].ts ||
                                  memcmp(&ts[i].samples[0].v, &full[i].samples[0].v, sizeof(double))))
                    FAILF("prefix %zu: series %zu sample differs", k, i);
            }
        }
        ax_arena_clear(&a);
    }
    ax_arena_clear(&fa);
}
