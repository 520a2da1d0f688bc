/* core/timefmt.c: clocks, durations, timestamps, sizes, and float formatting.
 *
 * Parsers take (pointer, length), advance only on success, and never read past
 * the end. Durations accept Prometheus' unit chain ("1h30m") plus plain seconds.
 */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t ax_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ax_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Parse a decimal number with optional fraction from s[0..len); OUT *out. Whole span. */
static int parse_decimal(const char *s, size_t len, double *out) {
    if (len == 0 || len > 63) return AX_EINVAL;
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    size_t i = 0;
    if (tmp[i] == '-' || tmp[i] == '+') i++;
    bool digits = false, dot = false;
    for (; i < len; i++) {
        if (tmp[i] >= '0' && tmp[i] <= '9') digits = true;
        else if (tmp[i] == '.' && !dot) dot = true;
        else if ((tmp[i] == 'e' || tmp[i] == 'E') && digits) break;
        else return AX_EINVAL;
    }
    if (!digits) return AX_EINVAL;
    char *end = NULL;
    double v = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(v)) return AX_EINVAL;
    *out = v;
    return 0;
}

int ax_duration_parse(const char *s, size_t len, int64_t *ms_out) {
    if (len == 0) return AX_EINVAL;
    double plain;
    if (parse_decimal(s, len, &plain) == 0) {
        if (plain < 0 || plain > 9.2e15) return AX_EINVAL;
        *ms_out = (int64_t)llround(plain * 1000.0);
        return 0;
    }
    int64_t total = 0;
    size_t i = 0;
    bool any = false;
    while (i < len) {
        uint64_t n = 0;
        size_t d0 = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (n > 1000000000000ull) return AX_EINVAL;
            n = n * 10 + (uint64_t)(s[i] - '0');
            i++;
        }
        if (i == d0 || i == len) return AX_EINVAL;
        int64_t unit;
        if (len - i >= 2 && s[i] == 'm' && s[i + 1] == 's') { unit = 1; i += 2; }
        else {
            switch (s[i]) {
            case 's': unit = 1000; break;
            case 'm': unit = 60000; break;
            case 'h': unit = 3600000; break;
            case 'd': unit = 86400000; break;
            case 'w': unit = 7 * 86400000LL; break;
            case 'y': unit = 365 * 86400000LL; break;
            default: return AX_EINVAL;
            }
            i++;
        }
        if (n > (uint64_t)(INT64_MAX / unit) || total > INT64_MAX - (int64_t)n * unit)
            return AX_EINVAL;
        total += (int64_t)n * unit;
        any = true;
    }
    if (!any) return AX_EINVAL;
    *ms_out = total;
    return 0;
}

static int digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return AX_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Howard Hinnant's algorithm */
int64_t ax_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int parse_rfc3339(const char *s, size_t len, int64_t *ms_out) {
    /* YYYY-MM-DD[T ]HH:MM:SS[.frac](Z|±HH:MM)? */
    if (len < 19) return AX_EINVAL;
    int Y, M, D, h, m, sec;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return AX_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return AX_EINVAL;
    size_t i = 19;
    int64_t frac_ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t f0 = i;
        int64_t scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == f0) return AX_EINVAL;
    }
    int64_t off_s = 0;
    if (i == len) {
        /* no zone: UTC */
    } else if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        i++;
    } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om)) return AX_EINVAL;
        off_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    } else {
        return AX_EINVAL;
    }
    int64_t days = ax_days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t secs = days * 86400 + h * 3600 + m * 60 + sec - off_s;
    *ms_out = secs * 1000 + frac_ms;
    return 0;
}

int ax_time_parse(const char *s, size_t len, int64_t *ms_out) {
    double v;
    if (parse_decimal(s, len, &v) == 0) {
        if (v < -9.2e15 || v > 9.2e15) return AX_EINVAL;
        *ms_out = (int64_t)llround(v * 1000.0);
        return 0;
    }
    return parse_rfc3339(s, len, ms_out);
}

int ax_size_parse(const char *s, size_t len, uint64_t *out) {
    size_t i = 0;
    uint64_t n = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (n > (1ull << 50)) return AX_EINVAL;
        n = n * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == 0) return AX_EINVAL;
    const char *u = s + i;
    size_t ul = len - i;
    uint64_t mul = 1;
    if (ul == 0 || (ul == 1 && (*u == 'B' || *u == 'b'))) mul = 1;
    else if ((ul == 2 && !strncasecmp(u, "KB", 2)) || (ul == 1 && (*u == 'K' || *u == 'k'))) mul = 1000;
    else if ((ul == 2 && !strncasecmp(u, "MB", 2)) || (ul == 1 && (*u == 'M' || *u == 'm'))) mul = 1000 * 1000;
    else if ((ul == 2 && !strncasecmp(u, "GB", 2)) || (ul == 1 && (*u == 'G' || *u == 'g'))) mul = 1000 * 1000 * 1000;
    else if (ul == 3 && !strncasecmp(u, "KiB", 3)) mul = 1024;
    else if (ul == 3 && !strncasecmp(u, "MiB", 3)) mul = 1024 * 1024;
    else if (ul == 3 && !strncasecmp(u, "GiB", 3)) mul = 1024ull * 1024 * 1024;
    else return AX_EINVAL;
    *out = n * mul;
    return 0;
}

/* 10^k as 128-bit integers (high, low 64 bits), k = 0..22. */
static const uint64_t P10_128[23][2] = {
    {0x0000000000000000ull, 0x0000000000000001ull}, /* 1e0 */
    {0x0000000000000000ull, 0x000000000000000aull}, /* 1e1 */
    {0x0000000000000000ull, 0x0000000000000064ull}, /* 1e2 */
    {0x0000000000000000ull, 0x00000000000003e8ull}, /* 1e3 */
    {0x0000000000000000ull, 0x0000000000002710ull}, /* 1e4 */
    {0x0000000000000000ull, 0x00000000000186a0ull}, /* 1e5 */
    {0x0000000000000000ull, 0x00000000000f4240ull}, /* 1e6 */
    {0x0000000000000000ull, 0x0000000000989680ull}, /* 1e7 */
    {0x0000000000000000ull, 0x0000000005f5e100ull}, /* 1e8 */
    {0x0000000000000000ull, 0x000000003b9aca00ull}, /* 1e9 */
    {0x0000000000000000ull, 0x00000002540be400ull}, /* 1e10 */
    {0x0000000000000000ull, 0x000000174876e800ull}, /* 1e11 */
    {0x0000000000000000ull, 0x000000e8d4a51000ull}, /* 1e12 */
    {0x0000000000000000ull, 0x000009184e72a000ull}, /* 1e13 */
    {0x0000000000000000ull, 0x00005af3107a4000ull}, /* 1e14 */
    {0x0000000000000000ull, 0x00038d7ea4c68000ull}, /* 1e15 */
    {0x0000000000000000ull, 0x002386f26fc10000ull}, /* 1e16 */
    {0x0000000000000000ull, 0x016345785d8a0000ull}, /* 1e17 */
    {0x0000000000000000ull, 0x0de0b6b3a7640000ull}, /* 1e18 */
    {0x0000000000000000ull, 0x8ac7230489e80000ull}, /* 1e19 */
    {0x0000000000000005ull, 0x6bc75e2d63100000ull}, /* 1e20 */
    {0x0000000000000036ull, 0x35c9adc5dea00000ull}, /* 1e21 */
    {0x000000000000021eull, 0x19e0c9bab2400000ull}, /* 1e22 */
};

/* Fixed notation of v (|v| with 10^k scaling) as digits m / 10^k. */
static size_t put_fixed(char *out, bool neg, uint64_t m, int k) {
    static const char pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    while (k > 0 && m % 10 == 0) { m /= 10; k--; }
    char dig[24];
    int nd = 0;
    char *e = dig + sizeof dig; /* digits are written backwards, two at a time */
    while (m >= 100) {
        unsigned r = (unsigned)(m % 100);
        m /= 100;
        *--e = pairs[2 * r + 1];
        *--e = pairs[2 * r];
    }
    if (m >= 10) {
        *--e = pairs[2 * m + 1];
        *--e = pairs[2 * m];
    } else if (m) {
        *--e = (char)('0' + m);
    }
    nd = (int)(dig + sizeof dig - e);
    memmove(dig, e, (size_t)nd);
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (nd <= k) { /* 0.000ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (int z = 0; z < k - nd; z++) out[o++] = '0';
        memcpy(out + o, dig, (size_t)nd);
        o += (size_t)nd;
    } else {
        memcpy(out + o, dig, (size_t)(nd - k));
        o += (size_t)(nd - k);
        if (k) {
            out[o++] = '.';
            memcpy(out + o, dig + nd - k, (size_t)k);
            o += (size_t)k;
        }
    }
    out[o] = 0;
    return o;
}

/* The shortest form of v in [1e-4, 1e15) when it needs 16 or 17 significant digits (at
 * scale 10^k, k <= 21), with exact 128-bit integer arithmetic: v = M * 2^E (M < 2^53,
 * -66 <= E < 0 in this range), so M * 10^k and m * 2^-E fit in 124 bits.
 * 16 digits: m = M * 10^k * 2^E rounded half to even; it converts back to v iff
 * |m * 10^-k - v| is at most half an ulp (ties: iff M is even, as strtod rounds); the ulp
 * below a power of two is half as big. Otherwise 17 digits (one more power of ten), which
 * always convert back and, correctly rounded, are what %.17g prints. */
static size_t fmt_wide(char *out, double v, int k, int digits) {
    int e2;
    double fr = frexp(fabs(v), &e2);
    uint64_t M = (uint64_t)ldexp(fr, 53);
    int shift = 53 - e2;
    for (;; k++, digits++) {
        unsigned __int128 p10 = ((unsigned __int128)P10_128[k][0] << 64) | P10_128[k][1];
        unsigned __int128 P = (unsigned __int128)M * p10;
        unsigned __int128 mask = ((unsigned __int128)1 << shift) - 1, half = (unsigned __int128)1 << (shift - 1);
        uint64_t m = (uint64_t)(P >> shift);
        unsigned __int128 rem = P & mask;
        if (rem > half || (rem == half && (m & 1))) m++;
        if (digits >= 17) return put_fixed(out, v < 0, m, k);
        unsigned __int128 X = (unsigned __int128)m << shift;
        unsigned __int128 d = X > P ? X - P : P - X;
        bool below = X < P && M == ((uint64_t)1 << 52); /* the next double down is closer */
        unsigned __int128 lhs = d * (below ? 4 : 2);
        if (lhs < p10 || (lhs == p10 && !(M & 1))) return put_fixed(out, v < 0, m, k);
    }
}

size_t ax_fmt_double(char *out, double v) {
    if (isnan(v)) { memcpy(out, "NaN", 4); return 3; }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    /* Fast path, same bytes as the loop below. In [1e-4, 1e15) %.Ng prints fixed notation,
     * and the shortest decimal that round-trips is m / 10^k for the least k with an m that
     * converts back exactly, the closest such m when two do (ties: even). While m < 2^53
     * and k <= 22, (double)m / 10^k is one correctly rounded division, i.e. exactly what
     * strtod gives for that decimal, and the rounded product a * 10^k is within 1 of the
     * true one, so m0-1, m0, m0+1 hold every candidate. Past 2^53, fmt_wide decides with
     * exact integers. */
    double a = fabs(v);
    if (a == 0) {
        if (signbit(v)) {
            memcpy(out, "-0", 3);
            return 2;
        }
        memcpy(out, "0", 2);
        return 1;
    }
    if (a >= 1e-4 && a < 1e15) {
        static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        /* A decimal of <= 15 digits that converts back to a is, padded with zeros, the
         * nearest 15-digit decimal to a (15-digit decimals are farther apart than doubles),
         * so try 15 digits first and strip the zeros; then 16; then 17. */
        int e2;
        frexp(a, &e2);                            /* a in [2^(e2-1), 2^e2) */
        int e10 = (int)floor((e2 - 1) * 0.30102999566398119521); /* within one of floor(log10 a) */
        if (e10 < -4) e10 = -4;
        if (e10 > 14) e10 = 14;
        while (e10 > -4 && a < (e10 >= 0 ? p10[e10] : 1 / p10[-e10])) e10--;
        while (e10 < 14 && a >= (e10 + 1 >= 0 ? p10[e10 + 1] : 1 / p10[-e10 - 1])) e10++;
        for (int k = 14 - e10; k <= 14 - e10 + 1; k++) {
            double sc = a * p10[k];
            if (sc >= 9007199254740992.0) /* 2^53: exact integer arithmetic from here */
                return fmt_wide(out, v, k, sc < 1e16 ? 16 : 17);
            uint64_t m0 = (uint64_t)(sc + 0.5), best = 0;
            double best_err = INFINITY;
            for (int d = -1; d <= 1; d++) {
                uint64_t m = m0 + (uint64_t)(int64_t)d;
                if ((d < 0 && m0 == 0) || (double)m / p10[k] != a) continue;
                double err = fabs(fma(a, p10[k], -(double)m)); /* |a*10^k - m|, one rounding */
                if (err < best_err || (err == best_err && !(m & 1))) { /* ties: even, as %.Ng */
                    best_err = err;
                    best = m;
                }
            }
            if (best_err != INFINITY) return put_fixed(out, v < 0, best, k);
        }
        return fmt_wide(out, v, 14 - e10 + 2, 17);
    }
    /* %.15g strips trailing zeros, so when it round-trips it is also the shortest form */
    for (int prec = 15; prec < 17; prec++) {
        int n = snprintf(out, 33, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return (size_t)n;
    }
    return (size_t)snprintf(out, 33, "%.17g", v);
}

bool ax_decimal_fast(const char *s, size_t len, double *out) {
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    uint64_t m = 0;
    int sig = 0, frac = 0, digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (m == 0 && s[i] == '0') continue; /* leading zeros are not significant */
        if (++sig > 19) return false;
        m = m * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            frac++;
            if (m == 0 && s[i] == '0') continue;
            if (++sig > 19) return false;
            m = m * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (!digits) return false;
    int e = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        size_t ed = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            if (e < 10000) e = e * 10 + (s[i] - '0');
        if (!ed) return false;
        if (eneg) e = -e;
    }
    if (i != len || m > (1ull << 53)) return false;
    int k = e - frac;
    double v = (double)m;
    if (m == 0) k = 0;
    if (k < -22 || k > 22) return false;
    v = k < 0 ? v / p10[-k] : v * p10[k];
    *out = neg ? -v : v;
    return true;
}

/* The shortest digits that round-trip v (finite, non-zero): digits into dig (NUL-ended),
 * OUT: *exp10 such that v = 0.d1d2d3... * 10^exp10. %.*e is correctly rounded, so the
 * first precision that converts back is the shortest, and the closest of that length. */
static int shortest_digits(double a, char *dig, int *exp10) {
    char tmp[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, a);
        if (strtod(tmp, NULL) == a || prec == 16) break;
    }
    /* tmp: d[.ddd]e[+-]XX */
    int nd = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') dig[nd++] = *p;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = 0;
    *exp10 = atoi(p + 1) + 1;
    return nd;
}

size_t ax_fmt_go(char *out, double v, char fmt) {
    double a = fabs(v);
    if (!isfinite(v) || a == 0 || (fmt == 'f' && a >= 1e-4 && a < 1e15))
        return ax_fmt_double(out, v); /* same bytes in this range: fixed and shortest */
    char dig[24];
    int e10 = 0;
    int nd = shortest_digits(a, dig, &e10);
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    if (fmt == 'e') {
        out[o++] = dig[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, dig + 1, (size_t)nd - 1);
            o += (size_t)nd - 1;
        }
        int x = e10 - 1;
        o += (size_t)snprintf(out + o, 8, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
        return o;
    }
    if (e10 <= 0) { /* 0.000ddd */
        out[o++] = '0';
        out[o++] = '.';
        for (int z = 0; z < -e10; z++) out[o++] = '0';
        memcpy(out + o, dig, (size_t)nd);
        o += (size_t)nd;
    } else if (e10 >= nd) { /* ddd000 */
        memcpy(out + o, dig, (size_t)nd);
        o += (size_t)nd;
        for (int z = 0; z < e10 - nd; z++) out[o++] = '0';
    } else {
        memcpy(out + o, dig, (size_t)e10);
        o += (size_t)e10;
        out[o++] = '.';
        memcpy(out + o, dig + e10, (size_t)(nd - e10));
        o += (size_t)(nd - e10);
    }
    out[o] = 0;
    return o;
}

int ax_api_duration_parse(const char *s, size_t len, int64_t *ms_out) {
    if (len == 0 || len > 63) return AX_EINVAL;
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    /* Go's ParseFloat: decimal or exponent form with an optional sign (no hex or spaces
     * here); anything else is tried as a PromQL duration */
    size_t i = (tmp[0] == '-' || tmp[0] == '+') ? 1 : 0;
    bool num = i < len && (tmp[i] == '.' || (tmp[i] >= '0' && tmp[i] <= '9'));
    for (size_t k = i; k < len && num; k++)
        if (!strchr("0123456789.eE+-", tmp[k])) num = false;
    if (num) {
        char *end = NULL;
        double sec = strtod(tmp, &end);
        if (end == tmp + len) {
            double ns = sec * 1e9;
            if (isnan(ns) || ns >= 9223372036854775807.0 || ns < -9223372036854775808.0) return AX_EINVAL;
            *ms_out = (int64_t)ns / 1000000; /* truncation toward zero, as Go */
            return 0;
        }
    }
    return ax_duration_parse(s, len, ms_out);
}
