/* Unit tests for server/csv.c: format descriptions (good and every kind of bad), Go
 * time layouts against the instants Go's time.Parse gives, grouping into series, quoting,
 * extras, errors with their line numbers, and every truncation of a valid body.
 * Static helpers are prefixed cv_ (this file shares unit_server with other test files). */
#include "server/csv.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

#define CV_NOW 1800000000000LL

static bool cv_eq(const char *p, size_t len, const char *s) {
    return len == strlen(s) && (len == 0 || !memcmp(p, s, len));
}

/* Parse format fmt and body[0..len) (from an exact-size heap copy: ASan sees overreads). */
static int cv_parse_n(const char *fmt, const char *body, size_t len, const ax_label *extra, size_t nx,
                      ax_arena *a, eng_ts **ts, size_t *n, size_t *ns, ax_err *e) {
    srv_csv_format *f = NULL;
    int rc = srv_csv_format_parse(fmt, strlen(fmt), a, &f, e);
    if (rc) return rc;
    char *copy = ax_arena_dup(a, body, len ? len : 1);
    if (!copy) return AX_ENOMEM;
    return srv_csv_parse(f, copy, len, CV_NOW, extra, nx, a, ts, n, ns, e);
}

static int cv_parse(const char *fmt, const char *body, ax_arena *a, eng_ts **ts, size_t *n, ax_err *e) {
    size_t ns = 0;
    return cv_parse_n(fmt, body, strlen(body), NULL, 0, a, ts, n, &ns, e);
}

static const char *cv_label(const eng_ts *t, const char *name) {
    static char buf[256];
    for (size_t i = 0; i < t->n_labels; i++)
        if (cv_eq(t->labels[i].name, t->labels[i].name_len, name)) {
            snprintf(buf, sizeof buf, "%.*s", (int)t->labels[i].value_len, t->labels[i].value);
            return buf;
        }
    return NULL;
}

TEST(test_csv_format_errors) {
    const char *bad[] = {
        "", "bad", "1:metric", "0:metric:x", "1025:metric:x", "x:metric:x", ":metric:x", "1:metric:",
        "1:metric:9x", "1:metric:a b", "1:label:__name__", "1:label:a-b", "1:label:x", "1:time:unix",
        "1:time:custom:", "1:metric:a,1:label:b", "1:time:unix_s,2:time:unix_ms,3:metric:m",
        "1:metric:m,", "1:metric:m,,2:metric:n", "1:gauge:m", "99999999999999999999:metric:m",
    };
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv_csv_format *f = (srv_csv_format *)1;
        ax_err e = {0};
        int rc = srv_csv_format_parse(bad[i], strlen(bad[i]), &a, &f, &e);
        if (rc != AX_EINVAL || f || !e.msg[0]) FAILF("format \"%s\": rc %d, msg \"%s\"", bad[i], rc, e.msg);
    }
    const char *good[] = {"1:metric:m", "3:metric:a:b,1:time:custom:15:04:05,2:label:x",
                          "1024:metric:far", "2:metric:x,1:time:rfc3339"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        srv_csv_format *f = NULL;
        ax_err e = {0};
        if (srv_csv_format_parse(good[i], strlen(good[i]), &a, &f, &e) || !f)
            FAILF("format \"%s\" refused: %s", good[i], e.msg);
    }
    ax_arena_clear(&a);
}

TEST(test_csv_time_layouts) {
    /* expected values: Go's time.Parse(layout, value).UnixMilli() */
    struct { const char *lay, *t; int64_t ms; } ok[] = {
        {"2006-01-02 15:04:05", "2014-02-14 14:30:00", 1392388200000},
        {"2006-01-02T15:04:05Z07:00", "2023-11-14T22:13:20+01:00", 1699996400000},
        {"2006-01-02T15:04:05Z07:00", "2023-11-14T22:13:20Z", 1700000000000},
        {"2006-01-02T15:04:05.000Z", "2023-11-14T22:13:20.250Z", 1700000000250},
        {"2006-01-02 15:04:05", "2023-11-14 22:13:20.5", 1700000000500}, /* fraction after seconds */
        {"02/01/2006 15:04", "14/11/2023 22:13", 1699999980000},
        {"Jan _2 2006 3:04:05.000 PM -0700", "Nov  4 2023 1:13:20.250 AM -0000", 1699060400250},
        {"Jan _2 2006 3:04:05.000 PM -0700", "Nov 14 2023 10:13:20.250 PM +0100", 1699996400250},
        {"January 2, 2006 03:04pm", "February 29, 2024 12:00am", 1709164800000},
        {"Mon Jan 2 15:04:05 MST 2006", "Tue Nov 14 22:13:20 UTC 2023", 1700000000000},
        {"Monday 02/01/06 15:04:05.999", "Tuesday 14/11/23 22:13:21", 1700000001000},
        {"Monday 02/01/06 15:04:05.999", "Tuesday 14/11/23 22:13:21.75", 1700000001750},
        {"06-01-02", "69-12-31", -86400000},
        {"2006-002", "2024-060", 1709164800000},
        {"2006-01-02 -07", "2023-11-14 -05", 1699938000000},
        {"2006-01-02 Z070000", "2023-11-14 +013015", 1699914585000},
        {"20060102150405", "20231114221320", 1700000000000},
        {"1/2/2006", "3/4/2023", 1677888000000},
        {"2006.01.02", "2023.11.14", 1699920000000}, /* '.' followed by a digit run and a digit: literal */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = 0;
        int rc = srv_csv_time_layout(ok[i].lay, strlen(ok[i].lay), ok[i].t, strlen(ok[i].t), &ms);
        if (rc || ms != ok[i].ms)
            FAILF("layout \"%s\" on \"%s\": rc %d, %" PRId64 " ms, want %" PRId64, ok[i].lay, ok[i].t, rc, ms,
                  ok[i].ms);
    }
    struct { const char *lay, *t; } bad[] = {
        {"2006-01-02", "2023-11-31"},        {"2006-01-02", "2023-02-29"},   {"15:04", "24:00"},
        {"3:04 PM", "13:00 PM"},             {"3:04 PM", "1:00 XM"},         {"2006-01-02", "2023-11-14x"},
        {"2006-01-02", "2023-11-1"},         {"2006-01-02", "23-11-14"},     {"Jan 2", "Foo 2"},
        {"2006-01-02Z07:00", "2023-11-14+1"}, {"15:04:05.000", "10:00:00.12"}, {"15:04:05", "10:00:60"},
        {"2006-002", "2023-366"},             {"2006", ""},                    {"", "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        if (srv_csv_time_layout(bad[i].lay, strlen(bad[i].lay), bad[i].t, strlen(bad[i].t), &ms) != AX_EINVAL)
            FAILF("layout \"%s\" on \"%s\" accepted (%" PRId64 ")", bad[i].lay, bad[i].t, ms);
    }
}

TEST(test_csv_series_grouping_and_labels) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    const char *body = "GOOG,1.23,4.56,NYSE\r\nGOOG,1.5,,NYSE\n\nMSFT,3.21,1.67,\"NAS,\"\"DAQ\"\"\"\nGOOG,2,3,NYSE";
    ax_label extra[] = {{"env", "test", 3, 4}};
    CHECK_EQ_INT(0, cv_parse_n("2:metric:ask,3:metric:bid,1:label:ticker,4:label:market", body, strlen(body),
                               extra, 1, &a, &ts, &n, &ns, &e));
    /* ask: GOOG x2, MSFT, GOOG; bid: GOOG (the empty field gives no sample), MSFT, GOOG */
    CHECK_EQ_INT(6, (int)n);
    CHECK_EQ_INT(7, (int)ns);
    CHECK_EQ_STR("ask", cv_label(&ts[0], "__name__"));
    CHECK_EQ_INT(2, (int)ts[0].n_samples);
    CHECK_EQ_DBL(1.23, ts[0].samples[0].v);
    CHECK_EQ_DBL(1.5, ts[0].samples[1].v);
    CHECK(ts[0].samples[0].ts == CV_NOW);
    CHECK_EQ_STR("NAS,\"DAQ\"", cv_label(&ts[1], "market"));
    CHECK_EQ_STR("test", cv_label(&ts[1], "env"));
    CHECK_EQ_STR("GOOG", cv_label(&ts[2], "ticker"));
    CHECK_EQ_STR("bid", cv_label(&ts[3], "__name__"));
    CHECK_EQ_INT(1, (int)ts[3].n_samples);
    CHECK_EQ_DBL(4.56, ts[3].samples[0].v);
    /* an extra replaces the label column of its name */
    ax_label over[] = {{"market", "X", 6, 1}};
    CHECK_EQ_INT(0, cv_parse_n("2:metric:ask,4:label:market", body, strlen(body), over, 1, &a, &ts, &n, &ns, &e));
    CHECK_EQ_INT(1, (int)n); /* every line is the same series now */
    CHECK_EQ_INT(4, (int)ts[0].n_samples);
    CHECK_EQ_INT(2, (int)ts[0].n_labels);
    CHECK_EQ_STR("X", cv_label(&ts[0], "market"));
    /* times, special values */
    CHECK_EQ_INT(0, cv_parse("1:time:unix_s,2:metric:m", "1700000000,NaN\n-1.5,+Inf\n1700000000.0019,-1e3\n",
                             &a, &ts, &n, &e));
    CHECK_EQ_INT(1, (int)n);
    CHECK(isnan(ts[0].samples[0].v) && ts[0].samples[0].ts == 1700000000000);
    CHECK(isinf(ts[0].samples[1].v) && ts[0].samples[1].ts == -1500);
    CHECK(ts[0].samples[2].v == -1000 && ts[0].samples[2].ts == 1700000000001);
    CHECK_EQ_INT(0, cv_parse("2:metric:m,1:time:unix_ns", "1700000000123999999,1\n", &a, &ts, &n, &e));
    CHECK(ts[0].samples[0].ts == 1700000000123);
    CHECK_EQ_INT(0, cv_parse("2:metric:m,1:time:unix_ms", "1700000000123,1,ignored,\"also\n", &a, &ts, &n, &e));
    CHECK(ts[0].samples[0].ts == 1700000000123);
    CHECK_EQ_INT(0, cv_parse("1:metric:m", "\n\r\n", &a, &ts, &n, &e));
    CHECK_EQ_INT(0, (int)n);
    ax_arena_clear(&a);
}

TEST(test_csv_errors_name_the_line) {
    struct { const char *fmt, *body, *msg; } bad[] = {
        {"1:time:unix_ms,2:metric:m", "1,1\n2\n", "line 2: 1 field, the format needs 2"},
        {"1:time:unix_ms,2:metric:m", "1,1\n\n3,x\n", "line 3: field 2: bad number \"x\" for m"},
        {"1:time:unix_ms,2:metric:m", "1.5,1\n", "line 1: field 1: bad time \"1.5\" for unix_ms"},
        {"1:time:rfc3339,2:metric:m", "1700000000,1\n", "line 1: field 1: bad time"},
        {"1:time:custom:2006-01-02,2:metric:m", "2023-13-01,1\n", "line 1: field 1: bad time \"2023-13-01\" for custom"},
        {"1:metric:m,2:label:l", "1,\"open\n", "line 1: unterminated quoted field 2"},
        {"1:metric:m,2:label:l", "1,\"a\"b\n", "line 1: after the quoted field 2: 'b'"},
        {"1:metric:m", "1e999\n", "line 1: field 1: value out of range"},
        {"1:metric:m", "0x\n", "line 1: field 1: bad number"},
    };
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eng_ts *ts = NULL;
        size_t n = 0;
        ax_err e = {0};
        int rc = cv_parse(bad[i].fmt, bad[i].body, &a, &ts, &n, &e);
        if (rc != AX_EINVAL || strncmp(e.msg, bad[i].msg, strlen(bad[i].msg)))
            FAILF("%s / %s: rc %d, \"%s\", want \"%s...\"", bad[i].fmt, bad[i].body, rc, e.msg, bad[i].msg);
    }
    /* too many labels once the extras are added */
    ax_label extra[AX_MAX_LABELS];
    for (size_t i = 0; i < AX_MAX_LABELS; i++) extra[i] = (ax_label){"x", "y", 1, 1};
    eng_ts *ts = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, cv_parse_n("1:metric:m,2:label:l", "1,2\n", 4, extra, AX_MAX_LABELS, &a, &ts, &n, &ns, &e));
    ax_arena_clear(&a);
}

TEST(test_csv_every_truncation) {
    const char *fmt = "1:time:custom:Jan _2 2006 3:04:05.000 PM -0700,2:metric:m,3:label:l,4:metric:n";
    const char *body = "Nov 14 2023 10:13:20.250 PM +0100,1,\"a \"\"b\"\", c\",2.5\n"
                       "Nov  4 2023 1:13:20.250 AM -0000,,plain,-3\r\n";
    size_t len = strlen(body);
    for (size_t k = 0; k <= len; k++) {
        ax_arena a;
        ax_arena_init(&a, 1 << 20);
        eng_ts *ts = NULL;
        size_t n = 0, ns = 0;
        ax_err e = {0};
        int rc = cv_parse_n(fmt, body, k, NULL, 0, &a, &ts, &n, &ns, &e);
        if (rc && (rc != AX_EINVAL || strncmp(e.msg, "line ", 5)))
            FAILF("prefix %zu: rc %d \"%s\"", k, rc, e.msg);
        if (k == len && (rc || n != 3 || ns != 3)) FAILF("whole body: rc %d, %zu series, %zu samples", rc, n, ns);
        ax_arena_clear(&a);
    }
}

TEST(test_csv_export_time_format_round_trips) {
    const char *lays[] = {"2006-01-02 15:04:05", "2006-01-02T15:04:05.000Z07:00", "Mon Jan _2 2006 03:04:05.999 PM -0700",
                          "Monday, 02-Jan-06 15:04:05.000 MST", "20060102150405.000", "2006-002 15:04:05.000 Z0700"};
    int64_t times[] = {0, 1700000000123, 1699060400250, 951782400000 /* 2000-02-29 */, 3000000000999, 86399999};
    for (size_t i = 0; i < sizeof lays / sizeof lays[0]; i++)
        for (size_t k = 0; k < sizeof times / sizeof times[0]; k++) {
            char out[256];
            size_t n = srv_csv_time_format(lays[i], strlen(lays[i]), times[k], out, sizeof out);
            int64_t back = 0;
            int64_t want = strstr(lays[i], ".000") || strstr(lays[i], ".999") ? times[k] : times[k] / 1000 * 1000;
            if (srv_csv_time_layout(lays[i], strlen(lays[i]), out, n, &back) || back != want)
                FAILF("layout \"%s\", %" PRId64 ": \"%s\" reads back as %" PRId64, lays[i], times[k], out, back);
        }
    char out[64];
    srv_csv_time_format("Jan _2 3:04pm .999 .000", 23, 1699060400000, out, sizeof out);
    CHECK_EQ_STR("Nov  4 1:13am  .000", out);
    srv_csv_time_format("2006.01.02", 10, 1699920000000, out, sizeof out);
    CHECK_EQ_STR("2023.11.14", out);
    CHECK_EQ_INT(5, (int)srv_csv_time_format("2006-01-02", 10, 1699920000000, out, 6)); /* cut at cap - 1 */
    CHECK_EQ_STR("2023-", out);
}

TEST(test_csv_export_lines) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_csv_out *o = NULL;
    ax_err e = {0};
    const char *fmt = "__name__,l,__value__,__timestamp__:unix_s,__timestamp__:unix_ms,__timestamp__:rfc3339,missing";
    CHECK_EQ_INT(0, srv_csv_out_parse(fmt, strlen(fmt), &a, &o, &e));
    ax_label ls[] = {{"__name__", "m", 8, 1}, {"l", "a,\"b\"\n\tc\x01", 1, 9}};
    ax_buf lb, out;
    ax_buf_init(&lb, 1 << 16);
    ax_buf_init(&out, 1 << 16);
    CHECK_EQ_INT(0, ax_labels_encode(&lb, ls, 2));
    int64_t ts[] = {1700000000123, 1700000001000};
    double v[] = {1e-7, -INFINITY};
    CHECK_EQ_INT(0, srv_csv_out_lines(&out, o, lb.data, lb.len, ts, v, 2));
    const char *want = "m,\"a,\\\"b\\\"\\n\\tc\\x01\",0.0000001,1700000000,1700000000123,2023-11-14T22:13:20Z,\n"
                       "m,\"a,\\\"b\\\"\\n\\tc\\x01\",-Inf,1700000001,1700000001000,2023-11-14T22:13:21Z,\n";
    CHECK(out.len == strlen(want) && !memcmp(out.data, want, out.len));
    if (out.len != strlen(want) || memcmp(out.data, want, out.len))
        FAILF("got \"%.*s\"", (int)out.len, (const char *)out.data);
    const char *bad[] = {"", "__value__,", "__timestamp__:", "__timestamp__:unix", "a-b", "__value__,,l"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = (srv_csv_out *)1;
        if (srv_csv_out_parse(bad[i], strlen(bad[i]), &a, &o, &e) != AX_EINVAL || o)
            FAILF("export format \"%s\" accepted", bad[i]);
    }
    ax_buf_free(&lb);
    ax_buf_free(&out);
    ax_arena_clear(&a);
}
