/* Unit tests for core/: buffers, varints, labels, durations, times, float format. */
#include "core/core.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

TEST(test_buf_cap_empties_on_overflow) {
    ax_buf b;
    ax_buf_init(&b, 10);
    CHECK_EQ_INT(0, ax_buf_append(&b, "12345", 5));
    CHECK_EQ_INT(AX_ETOOBIG, ax_buf_append(&b, "123456", 6));
    CHECK_EQ_INT(0, b.len);
    CHECK_EQ_INT(0, ax_buf_append(&b, "1234567890", 10));
    CHECK_EQ_INT(10, b.len);
    ax_buf_free(&b);
}

TEST(test_uvarint_roundtrip_and_truncation) {
    uint64_t vals[] = {0, 1, 127, 128, 300, 1ull << 35, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t buf[10];
        size_t n = ax_uvarint_put(buf, vals[i]);
        const uint8_t *p = buf;
        uint64_t out = 0;
        CHECK_EQ_INT(0, ax_uvarint_get(&p, buf + n, &out));
        CHECK_EQ_U64(vals[i], out);
        CHECK(p == buf + n);
        if (n > 1) {
            p = buf;
            CHECK_EQ_INT(AX_EINVAL, ax_uvarint_get(&p, buf + n - 1, &out));
            CHECK(p == buf);
        }
    }
    uint8_t over[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t *p = over;
    uint64_t out;
    CHECK_EQ_INT(AX_EINVAL, ax_uvarint_get(&p, over + 11, &out));
}

TEST(test_arena_budget) {
    ax_arena a;
    ax_arena_init(&a, 100 * 1024);
    void *p = ax_arena_alloc(&a, 1000);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 15) == 0);
    CHECK(ax_arena_alloc(&a, 200 * 1024) == NULL);
    ax_arena_clear(&a);
    CHECK_EQ_INT(0, a.used);
}

static ax_label L(const char *n, const char *v) {
    ax_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

TEST(test_labels_normalize_sorts_and_drops_empty) {
    ax_label ls[] = {L("job", "node"), L("__name__", "up"), L("empty", ""), L("instance", "a:1")};
    size_t n = 0;
    ax_err e = {0};
    CHECK_EQ_INT(0, ax_labels_normalize(ls, 4, &n, &e));
    CHECK_EQ_INT(3, n);
    CHECK(ls[0].name_len == 8 && !memcmp(ls[0].name, "__name__", 8));
    CHECK(ls[1].name_len == 8 && !memcmp(ls[1].name, "instance", 8));
    CHECK(ls[2].name_len == 3 && !memcmp(ls[2].name, "job", 3));
}

TEST(test_labels_normalize_rejects_bad) {
    ax_err e = {0};
    size_t n;
    ax_label dup[] = {L("a", "1"), L("a", "2")};
    CHECK_EQ_INT(AX_EINVAL, ax_labels_normalize(dup, 2, &n, &e));
    CHECK(strstr(e.msg, "duplicate") != NULL);
    ax_label empty[] = {L("", "x")};
    CHECK_EQ_INT(AX_EINVAL, ax_labels_normalize(empty, 1, &n, &e));
    ax_label badname[] = {L("1abc", "x")};
    CHECK_EQ_INT(AX_EINVAL, ax_labels_normalize(badname, 1, &n, &e));
    ax_label badmetric[] = {L("__name__", "a-b")};
    CHECK_EQ_INT(AX_EINVAL, ax_labels_normalize(badmetric, 1, &n, &e));
    ax_label badutf[] = {L("a", "\xff\xfe")};
    CHECK_EQ_INT(AX_EINVAL, ax_labels_normalize(badutf, 1, &n, &e));
    ax_label none[] = {L("a", "")};
    CHECK_EQ_INT(AX_EINVAL, ax_labels_normalize(none, 1, &n, &e));
}

TEST(test_labels_encode_decode_get) {
    ax_label ls[] = {L("__name__", "up"), L("job", "node")};
    ax_buf b;
    ax_buf_init(&b, 1 << 20);
    CHECK_EQ_INT(0, ax_labels_encode(&b, ls, 2));
    ax_label out[4];
    size_t n = 0;
    CHECK_EQ_INT(0, ax_labels_decode(b.data, b.len, out, 4, &n));
    CHECK_EQ_INT(2, n);
    CHECK(out[1].value_len == 4 && !memcmp(out[1].value, "node", 4));
    size_t vl = 0;
    const char *v = ax_labels_get(b.data, b.len, "job", 3, &vl);
    CHECK(v && vl == 4 && !memcmp(v, "node", 4));
    CHECK(ax_labels_get(b.data, b.len, "nope", 4, &vl) == NULL);
    CHECK_EQ_INT(AX_ECORRUPT, ax_labels_decode(b.data, b.len - 1, out, 4, &n));
    ax_buf_free(&b);
}

TEST(test_duration_parse) {
    int64_t ms = 0;
    CHECK_EQ_INT(0, ax_duration_parse("15s", 3, &ms)); CHECK_EQ_INT(15000, ms);
    CHECK_EQ_INT(0, ax_duration_parse("1h30m", 5, &ms)); CHECK_EQ_INT(5400000, ms);
    CHECK_EQ_INT(0, ax_duration_parse("100ms", 5, &ms)); CHECK_EQ_INT(100, ms);
    CHECK_EQ_INT(0, ax_duration_parse("1y", 2, &ms)); CHECK_EQ_INT(31536000000LL, ms);
    CHECK_EQ_INT(0, ax_duration_parse("1.5", 3, &ms)); CHECK_EQ_INT(1500, ms);
    CHECK_EQ_INT(AX_EINVAL, ax_duration_parse("", 0, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_duration_parse("5", 0, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_duration_parse("5x", 2, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_duration_parse("m", 1, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_duration_parse("99999999999999999999y", 21, &ms));
}

TEST(test_time_parse) {
    int64_t ms = 0;
    CHECK_EQ_INT(0, ax_time_parse("1700000000", 10, &ms)); CHECK_EQ_INT(1700000000000LL, ms);
    CHECK_EQ_INT(0, ax_time_parse("1700000000.5", 12, &ms)); CHECK_EQ_INT(1700000000500LL, ms);
    const char *r = "2023-11-14T22:13:20Z";
    CHECK_EQ_INT(0, ax_time_parse(r, strlen(r), &ms)); CHECK_EQ_INT(1700000000000LL, ms);
    r = "2023-11-14T23:13:20.250+01:00";
    CHECK_EQ_INT(0, ax_time_parse(r, strlen(r), &ms)); CHECK_EQ_INT(1700000000250LL, ms);
    CHECK_EQ_INT(AX_EINVAL, ax_time_parse("abc", 3, &ms));
    CHECK_EQ_INT(AX_EINVAL, ax_time_parse("2023-13-14T22:13:20Z", 20, &ms));
}

TEST(test_fmt_double) {
    char b[40];
    ax_fmt_double(b, 0.1); CHECK_EQ_STR("0.1", b);
    ax_fmt_double(b, NAN); CHECK_EQ_STR("NaN", b);
    ax_fmt_double(b, -INFINITY); CHECK_EQ_STR("-Inf", b);
    ax_fmt_double(b, 1234567.0); CHECK_EQ_STR("1234567", b);
    double x = 0.1 + 0.2;
    ax_fmt_double(b, x);
    CHECK(strtod(b, NULL) == x);
}

TEST(test_size_parse) {
    uint64_t v = 0;
    CHECK_EQ_INT(0, ax_size_parse("32MB", 4, &v)); CHECK_EQ_U64(32000000, v);
    CHECK_EQ_INT(0, ax_size_parse("1GiB", 4, &v)); CHECK_EQ_U64(1073741824ull, v);
    CHECK_EQ_INT(AX_EINVAL, ax_size_parse("MB", 2, &v));
}

/* ax_decimal_fast must agree bit for bit with strtod whenever it accepts, and accept the
 * everyday values. */
TEST(test_decimal_fast_matches_strtod) {
    const char *acc[] = {"0", "-0", "1", "+1", "1.5", "0.1", "-123.456", "1e3", "1.25E-5", "42.",
                         ".5", "9007199254740992", "123456789.125", "0.000001", "1e22", "3e-22",
                         "1700000000000", "00012.5000"};
    for (size_t i = 0; i < sizeof acc / sizeof *acc; i++) {
        double v = 0, w = strtod(acc[i], NULL);
        if (!ax_decimal_fast(acc[i], strlen(acc[i]), &v)) FAILF("refused %s", acc[i]);
        else if (memcmp(&v, &w, sizeof v)) FAILF("%s: %.17g vs strtod %.17g", acc[i], v, w);
    }
    const char *ref[] = {"", "-", ".", "e5", "1e", "1e+", "0x10", "inf", "NaN", "1.2.3", "1e23",
                         "1e-23", "12345678901234567890", "9007199254740993", "1 ", "1_0"};
    for (size_t i = 0; i < sizeof ref / sizeof *ref; i++) {
        double v = 0;
        if (ax_decimal_fast(ref[i], strlen(ref[i]), &v)) FAILF("accepted %s", ref[i]);
    }
    /* random decimals: whenever accepted, identical to strtod */
    uint64_t x = 88172645463325252ull;
    size_t accepted = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        char b[64];
        int ip = (int)(x % 1000000), fd = (int)((x >> 20) % 12), ex = (int)((x >> 28) % 50) - 25;
        uint64_t fr = (x >> 32) % 1000000000000ull;
        int n = snprintf(b, sizeof b, "%s%d.%0*llue%d", (x >> 60) & 1 ? "-" : "", ip, fd ? fd : 1,
                         (unsigned long long)(fr % (fd ? (uint64_t)pow(10, fd) : 10)), ex);
        double v = 0, w = strtod(b, NULL);
        if (ax_decimal_fast(b, (size_t)n, &v)) {
            accepted++;
            if (memcmp(&v, &w, sizeof v)) {
                FAILF("%s: %.17g vs strtod %.17g", b, v, w);
                break;
            }
        }
    }
    CHECK(accepted > 100000);
}

/* The reference: the shortest of %.15g, %.16g, %.17g that round-trips (what
 * ax_fmt_double printed before its fast path). */
static size_t fmt_ref(char *out, double v) {
    if (isnan(v)) return (size_t)snprintf(out, 33, "NaN");
    if (isinf(v)) return (size_t)snprintf(out, 33, v > 0 ? "+Inf" : "-Inf");
    for (int prec = 15; prec <= 17; prec++) {
        int n = snprintf(out, 33, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return (size_t)n;
    }
    return (size_t)snprintf(out, 33, "%.17g", v);
}

TEST(test_fmt_double_fast_path_same_bytes) {
    double fixed[] = {0.0, -0.0, 1, -1, 0.1, 0.2, 0.3, 1.5, 100, 1e14, 999999999999999, 1e15, 1e-4,
                      9.9999e-5, 0.30000000000000004, 123456789.125, 1700000000.123, 5e-324,
                      1e300, 2.5e-3, 0.000123, 42.42, 1.0 / 3, 2.0 / 3, 1e-5, 12345678901234.5,
                      /* halfway between two 16-digit decimals: ties go to even */
                      76480650704577.875, 577557571282069.75, 8821536763022.4375,
                      0.8991169487139352, 1.8027221004792826, 9007199254740.993};
    char a[40], b[40];
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        size_t n = ax_fmt_double(a, fixed[i]), m = fmt_ref(b, fixed[i]);
        if (n != m || strcmp(a, b)) FAILF("%.17g: \"%s\" vs reference \"%s\"", fixed[i], a, b);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        switch (i % 4) {
        case 0: v = (double)(x % 100000000) / pow(10, (double)((x >> 40) % 12)); break; /* decimals */
        case 1: v = (double)(int64_t)(x >> 11) * 1e-9; break;
        case 2: memcpy(&v, &x, sizeof v); break; /* any bits */
        default: v = (double)(x % 1000) / 7.0; break;
        }
        if (x & (1ull << 63)) v = -v;
        size_t n = ax_fmt_double(a, v), m = fmt_ref(b, v);
        if (n != m || strcmp(a, b)) {
            FAILF("%.17g: \"%s\" vs reference \"%s\"", v, a, b);
            break;
        }
    }
}
