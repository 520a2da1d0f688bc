/* Unit tests for ax_fmt_go (Go's strconv.FormatFloat(v, 'f'|'e', -1, 64), which the query
 * API's JSON needs byte for byte) and ax_api_duration_parse (the step and timeout
 * parameters). Expected strings are what Go 1.19 prints. */
#include "core/core.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static const char *fmt(double v, char f) {
    static char b[AX_FMT_GO_MAX];
    size_t n = ax_fmt_go(b, v, f);
    if (n != strlen(b)) FAILF("length %zu != strlen %zu for %s", n, strlen(b), b);
    return b;
}

TEST(test_fmt_go_fixed) {
    CHECK_EQ_STR("0", fmt(0.0, 'f'));
    CHECK_EQ_STR("-0", fmt(-0.0, 'f'));
    CHECK_EQ_STR("NaN", fmt(NAN, 'f'));
    CHECK_EQ_STR("+Inf", fmt(INFINITY, 'f'));
    CHECK_EQ_STR("-Inf", fmt(-INFINITY, 'f'));
    CHECK_EQ_STR("1.5", fmt(1.5, 'f'));
    CHECK_EQ_STR("0.30000000000000004", fmt(0.1 + 0.2, 'f'));
    CHECK_EQ_STR("1000000000000000000000", fmt(1e21, 'f'));
    CHECK_EQ_STR("0.0000001", fmt(1e-7, 'f'));
    CHECK_EQ_STR("-0.00000012345", fmt(-1.2345e-7, 'f'));
    CHECK_EQ_STR("1000000000000000", fmt(1e15, 'f'));
    CHECK_EQ_STR("1234567890123456800", fmt(1234567890123456789.0, 'f'));
    CHECK_EQ_STR("123456789012345.67", fmt(123456789012345.67, 'f'));
    CHECK_EQ_STR("0.00001", fmt(1e-5, 'f'));
    char big[400] = "17976931348623157";
    memset(big + 17, '0', 292); /* 309 digits */
    big[309] = 0;
    CHECK_EQ_STR(big, fmt(1.7976931348623157e308, 'f'));
    char b[AX_FMT_GO_MAX];
    size_t n = ax_fmt_go(b, -4.9406564584124654e-324, 'f');
    CHECK_EQ_INT(327, n); /* "-0." + 323 zeros + "5" */
    CHECK(b[n - 1] == '5' && b[n - 2] == '0');
}

TEST(test_fmt_go_exponent) {
    CHECK_EQ_STR("1e+21", fmt(1e21, 'e'));
    CHECK_EQ_STR("1e-07", fmt(1e-7, 'e'));
    CHECK_EQ_STR("-1.5e-07", fmt(-1.5e-7, 'e'));
    CHECK_EQ_STR("1.7976931348623157e+308", fmt(1.7976931348623157e308, 'e'));
    CHECK_EQ_STR("5e-324", fmt(4.9406564584124654e-324, 'e'));
    CHECK_EQ_STR("1.2345678901234566e+25", fmt(1.2345678901234567e25, 'e'));
    CHECK_EQ_STR("NaN", fmt(NAN, 'e'));
    CHECK_EQ_STR("0", fmt(0.0, 'e')); /* Prometheus never asks 'e' for 0; Go prints 0e+00 */
}

/* every output parses back to the same double */
TEST(test_fmt_go_roundtrip) {
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) continue;
        const char *s = fmt(v, (i & 1) ? 'e' : 'f');
        if (strtod(s, NULL) != v && !(v == 0)) {
            FAILF("%.17g printed as %s", v, s);
            break;
        }
    }
}

TEST(test_api_duration_parse) {
    int64_t ms = 0;
    CHECK_EQ_INT(0, ax_api_duration_parse("15", 2, &ms)); CHECK_EQ_INT(15000, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("0.5", 3, &ms)); CHECK_EQ_INT(500, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("-1", 2, &ms)); CHECK_EQ_INT(-1000, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("1e3", 3, &ms)); CHECK_EQ_INT(1000000, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("0.0005", 6, &ms)); CHECK_EQ_INT(0, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("0", 1, &ms)); CHECK_EQ_INT(0, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("15s", 3, &ms)); CHECK_EQ_INT(15000, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("1m", 2, &ms)); CHECK_EQ_INT(60000, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("1h30m", 5, &ms)); CHECK_EQ_INT(5400000, ms);
    CHECK_EQ_INT(0, ax_api_duration_parse("100ms", 5, &ms)); CHECK_EQ_INT(100, ms);
    CHECK_EQ_INT(AX_EINVAL, ax_api_duration_parse("", 0, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_api_duration_parse("abc", 3, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_api_duration_parse("1e", 2, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_api_duration_parse("1e300", 5, &ms)); /* overflows int64 ns */
    CHECK_EQ_INT(AX_EINVAL, ax_api_duration_parse("NaN", 3, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_api_duration_parse("5 m", 3, &ms));
}
