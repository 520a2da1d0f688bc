/* Unit tests for ax_fmt_rfc3339 (core/rfc3339.c): the epoch, millisecond parts, times
 * before 1970, leap days (2000 is a leap year, 2100 is not), the int64 extremes within
 * the 32-byte bound, and a round trip through ax_time_parse. Expected strings are what
 * Python's calendar.timegm / datetime agree on. */
#include "core/core.h"
#include "test.h"

static const char *rfc(int64_t ms) {
    static char b[AX_FMT_RFC3339_MAX];
    size_t n = ax_fmt_rfc3339(b, ms);
    if (n != strlen(b)) FAILF("length %zu != strlen %zu for %s", n, strlen(b), b);
    return b;
}

TEST(test_rfc3339_known) {
    CHECK_EQ_STR("1970-01-01T00:00:00Z", rfc(0));
    CHECK_EQ_STR("2023-11-14T22:13:20Z", rfc(1700000000000));
    CHECK_EQ_STR("2023-11-14T22:13:20.123Z", rfc(1700000000123));
    CHECK_EQ_STR("2023-11-14T22:13:20.001Z", rfc(1700000000001));
    CHECK_EQ_STR("2023-11-14T22:13:20.100Z", rfc(1700000000100));
    CHECK_EQ_STR("0001-01-01T00:00:00Z", rfc(-62135596800000));
    CHECK_EQ_STR("9999-12-31T23:59:59Z", rfc(253402300799000));
}

TEST(test_rfc3339_before_epoch) {
    CHECK_EQ_STR("1969-12-31T23:59:59Z", rfc(-1000));
    CHECK_EQ_STR("1969-12-31T23:59:59.999Z", rfc(-1));
    CHECK_EQ_STR("1969-12-31T00:00:00Z", rfc(-86400000));
    CHECK_EQ_STR("1900-03-01T00:00:00Z", rfc(-2203891200000));
    CHECK_EQ_STR("1900-02-28T23:59:59.500Z", rfc(-2203891200000 - 500));
}

TEST(test_rfc3339_leap_days) {
    CHECK_EQ_STR("2000-02-29T12:00:00Z", rfc(951825600000));
    CHECK_EQ_STR("2096-02-29T00:00:00Z", rfc(3981312000000));
    /* 2100 is not a leap year: the day after Feb 28 is Mar 1 */
    CHECK_EQ_STR("2100-02-28T23:59:59Z", rfc(4107542399000));
    CHECK_EQ_STR("2100-03-01T00:00:00Z", rfc(4107542400000));
}

TEST(test_rfc3339_extremes_fit) {
    char b[AX_FMT_RFC3339_MAX + 8];
    memset(b, 'x', sizeof b);
    size_t n = ax_fmt_rfc3339(b, INT64_MAX);
    CHECK(n < AX_FMT_RFC3339_MAX && b[n] == 0 && b[n - 1] == 'Z');
    CHECK(b[AX_FMT_RFC3339_MAX] == 'x');
    memset(b, 'x', sizeof b);
    n = ax_fmt_rfc3339(b, INT64_MIN);
    CHECK(n < AX_FMT_RFC3339_MAX && b[n] == 0 && b[0] == '-' && b[n - 1] == 'Z');
    CHECK(b[AX_FMT_RFC3339_MAX] == 'x');
}

/* ax_time_parse reads back every time from year 0001 to 9999 */
TEST(test_rfc3339_parse_roundtrip) {
    const int64_t lo = -62135596800000, hi = 253402300799999;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int bad = 0;
    for (int i = 0; i < 100000 && bad < 5; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ms = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
        if (i % 3 == 0) ms -= ms % 1000; /* whole seconds too */
        char b[AX_FMT_RFC3339_MAX];
        size_t n = ax_fmt_rfc3339(b, ms);
        int64_t back = 0;
        int rc = ax_time_parse(b, n, &back);
        if (rc || back != ms) {
            FAILF("%" PRId64 " -> %s -> rc %d, %" PRId64, ms, b, rc, back);
            bad++;
        }
    }
    static const int64_t fixed[] = {0, 1, -1, 999, -999, 1700000000123, -2203891200000,
                                    4107542400000, 951825600000, lo, hi};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        char b[AX_FMT_RFC3339_MAX];
        size_t n = ax_fmt_rfc3339(b, fixed[i]);
        int64_t back = 0;
        CHECK_EQ_INT(0, ax_time_parse(b, n, &back));
        CHECK_EQ_INT(fixed[i], back);
    }
}
