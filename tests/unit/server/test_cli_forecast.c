/* Unit tests for server/cli_forecast.c (`auspex forecast`): CSV parsing and timestamp
 * family detection (headers, gaps, quotes, CRLF, BOM), every error with its line number
 * (bad numbers, truncated lines, mixed families, empty files, a huge line), every prefix
 * of a valid file, the grid (median step, gaps, unsorted and duplicate rows) and timestamp
 * formatting. Static helpers are prefixed cf_ (this file shares unit_server with others). */
#include "server/cli.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

/* Parse body[0..len) from an exact-size heap copy, so ASan sees any overread. */
static int cf_parse_n(const char *body, size_t len, srv_fc_input *in, ax_err *e) {
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, body, len);
    memset(in, 0, sizeof *in);
    int rc = srv_fc_csv_parse(copy, len, in, e);
    free(copy);
    return rc;
}

static int cf_parse(const char *body, srv_fc_input *in, ax_err *e) {
    return cf_parse_n(body, strlen(body), in, e);
}

/* body must parse; on failure the test stops (its arrays are unset). */
static bool cf_ok(const char *body, srv_fc_input *in) {
    ax_err e = {0};
    int rc = cf_parse(body, in, &e);
    if (rc) FAILF("parse failed (%d: %s): %s", rc, e.msg, body);
    return rc == 0;
}

/* body must fail with a message containing want. */
static void cf_fails(const char *body, const char *want) {
    srv_fc_input in;
    ax_err e = {0};
    int rc = cf_parse(body, &in, &e);
    if (rc == 0) {
        FAILF("parsed, expected an error with \"%s\": %s", want, body);
        srv_fc_input_free(&in);
        return;
    }
    if (!strstr(e.msg, want)) FAILF("error \"%s\" lacks \"%s\"", e.msg, want);
}

static bool cf_same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

TEST(test_cli_forecast_values_only) {
    srv_fc_input in;
    if (!cf_ok("1\n2.5\n-3e2\n", &in)) return;
    CHECK_EQ_INT(SRV_TS_NONE, in.ts_fmt);
    CHECK(in.t_ms == NULL);
    CHECK_EQ_INT(0, in.header);
    CHECK_EQ_U64(3, in.n);
    CHECK_EQ_DBL(1, in.y[0]);
    CHECK_EQ_DBL(2.5, in.y[1]);
    CHECK_EQ_DBL(-300, in.y[2]);
    srv_fc_input_free(&in);
    /* no final newline, CRLF, header, BOM, spaces and quotes */
    if (!cf_ok("\xEF\xBB\xBFvalue\r\n 1 \r\n\"2\"\r\n3", &in)) return;
    CHECK_EQ_INT(1, in.header);
    CHECK_EQ_U64(3, in.n);
    CHECK_EQ_DBL(2, in.y[1]);
    CHECK_EQ_DBL(3, in.y[2]);
    srv_fc_input_free(&in);
}

TEST(test_cli_forecast_gaps) {
    srv_fc_input in;
    /* leading blanks skipped; interior blank lines and NaN/NA/null are gaps; trailing
     * blanks dropped */
    if (!cf_ok("\n\n1\n\nNaN\nNA\nnull\n \n2\n\n\n", &in)) return;
    CHECK_EQ_U64(7, in.n);
    double want[] = {1, NAN, NAN, NAN, NAN, NAN, 2};
    for (size_t i = 0; i < 7 && i < in.n; i++)
        if (!cf_same(want[i], in.y[i])) FAILF("y[%zu] = %g, want %g", i, in.y[i], want[i]);
    srv_fc_input_free(&in);
    /* timestamped: empty value is a gap, blank lines are nothing */
    if (!cf_ok("timestamp,value\n100,1\n\n200,\n300,nan\n400,4\n", &in)) return;
    CHECK_EQ_INT(SRV_TS_UNIX, in.ts_fmt);
    CHECK_EQ_U64(4, in.n);
    CHECK(isnan(in.y[1]) && isnan(in.y[2]));
    CHECK_EQ_INT(400000, in.t_ms[3]);
    srv_fc_input_free(&in);
}

TEST(test_cli_forecast_families) {
    srv_fc_input in;
    if (!cf_ok("timestamp,value\n2024-05-01T10:00:00Z,1\n2024-05-01T12:00:00+02:00,2\n"
                             "2024-05-01T10:10:00.5Z,3\n", &in)) return;
    CHECK_EQ_INT(SRV_TS_RFC3339, in.ts_fmt);
    CHECK_EQ_INT(1, in.header);
    CHECK_EQ_INT(1714557600000LL, in.t_ms[0]);
    CHECK_EQ_INT(1714557600000LL, in.t_ms[1]);
    CHECK_EQ_INT(1714558200500LL, in.t_ms[2]);
    srv_fc_input_free(&in);
    if (!cf_ok("2014-02-14 14:27:00,51.846000000000004\n2014-02-14 14:32:00,44.508\n", &in))
        return;
    CHECK_EQ_INT(SRV_TS_SPACE, in.ts_fmt);
    CHECK_EQ_INT(0, in.header);
    CHECK_EQ_INT(1392388020000LL, in.t_ms[0]);
    CHECK_EQ_DBL(51.846000000000004, in.y[0]);
    srv_fc_input_free(&in);
    if (!cf_ok("\"ts\",\"y\"\n\"1714557600\",\"7\"\n1714557600.25 , 8\n", &in)) return;
    CHECK_EQ_INT(SRV_TS_UNIX, in.ts_fmt);
    CHECK_EQ_INT(1714557600250LL, in.t_ms[1]);
    CHECK_EQ_DBL(8, in.y[1]);
    srv_fc_input_free(&in);
}

TEST(test_cli_forecast_mixed) {
    cf_fails("2024-05-01T10:00:00Z,1\n1714557660,2\n",
             "line 2: timestamp \"1714557660\" is Unix seconds, but line 1's is RFC 3339");
    cf_fails("ts,v\n2024-05-01 10:00:00,1\n2024-05-01T10:01:00Z,2\n",
             "line 3: timestamp \"2024-05-01T10:01:00Z\" is RFC 3339, but line 2's is YYYY-MM-DD");
    cf_fails("100,1\n2\n", "line 2: a single field, but line 1 has timestamp,value");
    cf_fails("1\n2\n300,3\n", "line 3: a timestamp,value row, but line 1 has a single value");
    cf_fails("100,1,2\n", "line 1: more than two fields");
}

TEST(test_cli_forecast_bad_numbers) {
    cf_fails("1\n1.2.3\n", "line 2: cannot parse value \"1.2.3\"");
    cf_fails("1\n12abc\n", "line 2: cannot parse value \"12abc\"");
    cf_fails("1\n0x10\n", "line 2: cannot parse value");
    cf_fails("1\n--1\n", "line 2: cannot parse value");
    cf_fails("1\n+Inf\n", "line 2: value \"+Inf\" is not finite");
    cf_fails("1\n1e999\n", "line 2: value \"1e999\" is not finite");
    cf_fails("100,1\n200,x\n", "line 2: cannot parse value \"x\"");
    cf_fails("100,1\n2oo,1\n", "line 2: cannot parse timestamp \"2oo\"");
    cf_fails("ts,v\n2024-13-01 00:00:00,1\n", "line 2: cannot parse timestamp");
    cf_fails("1\n12345678901234567890123456789012345678901234567890123456789012345\n",
             "line 2: cannot parse value \"1234567890123456789012345678901234567890...\"");
    /* a NUL byte inside a value */
    srv_fc_input in;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, cf_parse_n("1\n2\0003\n", 6, &in, &e));
    CHECK(strstr(e.msg, "line 2: cannot parse value \"2?3\"") != NULL);
}

TEST(test_cli_forecast_truncated) {
    /* a file cut in the middle of its last line */
    cf_fails("ts,v\n2014-02-14 14:27:00,1\n2014-02-14 14:2",
             "line 3: a single field, but line 2 has timestamp,value");
    cf_fails("ts,v\n2014-02-14 14:27:00,1\n2014-02-14 14:2,", "line 3: cannot parse timestamp");
    cf_fails("ts,v\n2014-02-14 14:27:00,1\n2014-02-14 14:32:00,1.5e", "line 3: cannot parse value");
    srv_fc_input in;
    ax_err e = {0};
    /* cut after the comma: an empty value, so a gap */
    if (!cf_ok("ts,v\n2014-02-14 14:27:00,1\n2014-02-14 14:32:00,", &in)) return;
    CHECK_EQ_U64(2, in.n);
    CHECK(isnan(in.y[1]));
    srv_fc_input_free(&in);
    /* every prefix parses or fails cleanly, and a parsed one never has more rows */
    const char *full = "\xEF\xBB\xBFtimestamp,value\r\n2024-05-01T10:00:00Z,1.5\r\n"
                       "2024-05-01T10:05:00Z,\r\n\r\n2024-05-01T10:10:00.250Z,-2e3\r\n";
    size_t len = strlen(full);
    for (size_t k = 0; k <= len; k++) {
        memset(&e, 0, sizeof e);
        int rc = cf_parse_n(full, k, &in, &e);
        if (rc == 0) {
            if (in.n > 3) FAILF("prefix %zu: %zu rows", k, in.n);
            srv_fc_input_free(&in);
        } else if (rc != AX_EINVAL || !e.msg[0]) {
            FAILF("prefix %zu: rc %d, msg \"%s\"", k, rc, e.msg);
        }
    }
}

TEST(test_cli_forecast_empty) {
    cf_fails("", "no data rows");
    cf_fails("\n\n \r\n", "no data rows");
    cf_fails("\xEF\xBB\xBF", "no data rows");
    cf_fails("timestamp,value\n", "no data rows after the header");
    cf_fails("NaN\n\nnan\n", "no finite value in 3 rows");
    cf_fails("100,\n200,NaN\n", "no finite value in 2 rows");
}

TEST(test_cli_forecast_huge_line) {
    size_t n = 1 << 20;
    char *b = malloc(n + 8);
    memcpy(b, "1\n2\n", 4);
    memset(b + 4, '7', n);
    memcpy(b + 4 + n, "\n3\n", 3);
    srv_fc_input in;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, cf_parse_n(b, n + 7, &in, &e));
    CHECK_EQ_STR("line 3: longer than 4096 bytes", e.msg);
    /* exactly SRV_FC_MAX_LINE bytes of spaces around a value is still a line */
    size_t m = SRV_FC_MAX_LINE;
    memset(b, ' ', m);
    b[m / 2] = '5';
    if (cf_parse_n(b, m, &in, &e)) { FAILF("%s", e.msg); free(b); return; }
    CHECK_EQ_U64(1, in.n);
    CHECK_EQ_DBL(5, in.y[0]);
    srv_fc_input_free(&in);
    free(b);
}

TEST(test_cli_forecast_many_rows) {
    size_t rows = 200000, cap = rows * 24;
    char *b = malloc(cap);
    size_t o = 0;
    for (size_t i = 0; i < rows; i++)
        o += (size_t)snprintf(b + o, cap - o, "%zu,%zu.5\n", 1000 + 15 * i, i);
    srv_fc_input in;
    ax_err e = {0};
    if (cf_parse_n(b, o, &in, &e)) { FAILF("%s", e.msg); free(b); return; }
    CHECK_EQ_U64(rows, in.n);
    CHECK_EQ_DBL((double)(rows - 1) + 0.5, in.y[rows - 1]);
    srv_fc_grid g = {0};
    if (srv_fc_grid_make(&in, &g, &e)) { FAILF("grid: %s", e.msg); srv_fc_input_free(&in); return; }
    CHECK_EQ_U64(rows, g.n);
    CHECK_EQ_INT(15000, g.step_ms);
    free(g.y);
    srv_fc_input_free(&in);
    free(b);
}

TEST(test_cli_forecast_grid) {
    srv_fc_input in;
    srv_fc_grid g = {0};
    ax_err e = {0};
    /* a missing row (400) and an empty value (500) are gaps; one irregular gap does not
     * change the median step */
    if (!cf_ok("100,1\n200,2\n300,3\n500,\n600,6\n700,7\n", &in)) return;
    if (srv_fc_grid_make(&in, &g, &e)) { FAILF("grid: %s", e.msg); srv_fc_input_free(&in); return; }
    CHECK_EQ_INT(100000, g.step_ms);
    CHECK_EQ_INT(100000, g.t0_ms);
    CHECK_EQ_U64(7, g.n);
    double want[] = {1, 2, 3, NAN, NAN, 6, 7};
    for (size_t i = 0; i < 7 && i < g.n; i++)
        if (!cf_same(want[i], g.y[i])) FAILF("grid[%zu] = %g, want %g", i, g.y[i], want[i]);
    free(g.y);
    srv_fc_input_free(&in);
    /* unsorted rows are sorted; of equal timestamps the later row wins; jitter within a
     * step lands on the grid point at or after it */
    if (!cf_ok("130,3\n10,1\n70,2\n70,2.5\n195,4\n", &in)) return;
    if (srv_fc_grid_make(&in, &g, &e)) { FAILF("grid: %s", e.msg); srv_fc_input_free(&in); return; }
    CHECK_EQ_INT(60000, g.step_ms);
    CHECK_EQ_U64(4, g.n);
    double want2[] = {1, 2.5, 3, 4};
    for (size_t i = 0; i < 4 && i < g.n; i++)
        if (!cf_same(want2[i], g.y[i])) FAILF("grid[%zu] = %g, want %g", i, g.y[i], want2[i]);
    free(g.y);
    srv_fc_input_free(&in);
    /* values only: as they are */
    if (!cf_ok("4\n\n6\n", &in)) return;
    if (srv_fc_grid_make(&in, &g, &e)) { FAILF("grid: %s", e.msg); srv_fc_input_free(&in); return; }
    CHECK_EQ_INT(0, g.step_ms);
    CHECK_EQ_U64(3, g.n);
    CHECK(isnan(g.y[1]));
    free(g.y);
    srv_fc_input_free(&in);
    /* one distinct timestamp: no step */
    if (!cf_ok("100,1\n100,2\n", &in)) return;
    CHECK_EQ_INT(AX_EINVAL, srv_fc_grid_make(&in, &g, &e));
    CHECK(strstr(e.msg, "two distinct timestamps") != NULL);
    srv_fc_input_free(&in);
    /* a far outlier makes the grid too long */
    if (!cf_ok("1,1\n2,1\n3,1\n900000000,1\n", &in)) return;
    CHECK_EQ_INT(AX_ELIMIT, srv_fc_grid_make(&in, &g, &e));
    srv_fc_input_free(&in);
}

TEST(test_cli_forecast_time_fmt) {
    char b[48];
    srv_fc_time_fmt(b, 1714557600000LL, SRV_TS_RFC3339);
    CHECK_EQ_STR("2024-05-01T10:00:00Z", b);
    srv_fc_time_fmt(b, 1714557600250LL, SRV_TS_RFC3339);
    CHECK_EQ_STR("2024-05-01T10:00:00.25Z", b);
    srv_fc_time_fmt(b, 1392388020000LL, SRV_TS_SPACE);
    CHECK_EQ_STR("2014-02-14 14:27:00", b);
    srv_fc_time_fmt(b, 951782400000LL, SRV_TS_SPACE); /* leap day 2000 */
    CHECK_EQ_STR("2000-02-29 00:00:00", b);
    srv_fc_time_fmt(b, 1714557600000LL, SRV_TS_UNIX);
    CHECK_EQ_STR("1714557600", b);
    srv_fc_time_fmt(b, 1714557600500LL, SRV_TS_UNIX);
    CHECK_EQ_STR("1714557600.5", b);
    srv_fc_time_fmt(b, -1500, SRV_TS_UNIX);
    CHECK_EQ_STR("-1.5", b);
    srv_fc_time_fmt(b, -1000, SRV_TS_RFC3339);
    CHECK_EQ_STR("1969-12-31T23:59:59Z", b);
    srv_fc_time_fmt(b, 253402300799999LL, SRV_TS_RFC3339);
    CHECK_EQ_STR("9999-12-31T23:59:59.999Z", b);
    /* round trip through the parser */
    const char *in = "ts,v\n2024-02-29T23:59:59Z,1\n";
    srv_fc_input p;
    if (!cf_ok(in, &p)) return;
    srv_fc_time_fmt(b, p.t_ms[0], p.ts_fmt);
    CHECK_EQ_STR("2024-02-29T23:59:59Z", b);
    srv_fc_input_free(&p);
}
