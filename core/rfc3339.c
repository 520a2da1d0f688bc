/* core/rfc3339.c: milliseconds since the epoch as an RFC 3339 UTC timestamp.
 *
 * "2026-11-27T10:00:00Z", or "2026-11-27T10:00:00.123Z" when the time has a millisecond
 * part. The calendar is the proleptic Gregorian one (Howard Hinnant's civil_from_days,
 * the inverse of days_from_civil in core/timefmt.c), so any int64 works: years before 1
 * print with a '-' sign ("-0001-..."), years past 9999 with more than four digits. Those
 * are outside RFC 3339; ax_time_parse reads back years 0000..9999.
 */
#include "core.h"

#include <string.h>

void ax_civil_from_days(int64_t z, int64_t *y_out, unsigned *m_out, unsigned *d_out) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    unsigned d = doy - (153 * mp + 2) / 5 + 1;                            /* [1, 31] */
    unsigned m = mp < 10 ? mp + 3 : mp - 9;                               /* [1, 12] */
    *y_out = y + (m <= 2);
    *m_out = m;
    *d_out = d;
}

/* Write v as exactly `width` digits (zero-padded) at p; returns width. */
static size_t put_fixed(char *p, unsigned v, size_t width) {
    for (size_t i = width; i-- > 0;) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return width;
}

size_t ax_fmt_rfc3339(char *out, int64_t ms) {
    /* floor division, so times before 1970 land on the right day and second */
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    ax_civil_from_days(days, &y, &mo, &d);
    unsigned msec = (unsigned)(rem % 1000), sec = (unsigned)(rem / 1000);
    size_t o = 0;
    uint64_t uy = y < 0 ? (uint64_t)0 - (uint64_t)y : (uint64_t)y;
    if (y < 0) out[o++] = '-';
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + uy % 10);
        uy /= 10;
    } while (uy);
    while (n < 4) tmp[n++] = '0';
    while (n) out[o++] = tmp[--n];
    out[o++] = '-';
    o += put_fixed(out + o, mo, 2);
    out[o++] = '-';
    o += put_fixed(out + o, d, 2);
    out[o++] = 'T';
    o += put_fixed(out + o, sec / 3600, 2);
    out[o++] = ':';
    o += put_fixed(out + o, sec / 60 % 60, 2);
    out[o++] = ':';
    o += put_fixed(out + o, sec % 60, 2);
    if (msec) {
        out[o++] = '.';
        o += put_fixed(out + o, msec, 3);
    }
    out[o++] = 'Z';
    out[o] = 0;
    return o;
}
