/* server/csv.c: VictoriaMetrics' CSV import (server/csv.h, docs/csv.md).
 *
 * Two passes over the body: the first splits every line into the fields the description
 * names (values parsed, label fields kept as spans or unescaped copies) and stores them in
 * a row table; the second walks the table once per metric column and makes one eng_ts per
 * run of consecutive lines with the same label fields, its samples contiguous in that
 * column's sample array. So a file of one series per metric comes out as one eng_ts per
 * metric, however many lines it has.
 */
#include "server/csv.h"
#include "server/parse_msg.h"
#include "server/text_import.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { COL_METRIC = 1, COL_LABEL, COL_TIME };
enum { T_UNIX_S, T_UNIX_MS, T_UNIX_NS, T_RFC3339, T_CUSTOM };

typedef struct csv_col {
    uint32_t pos;       /* 0-based column */
    int kind, tfmt;
    const char *ctx;    /* metric or label name, or the custom layout */
    size_t ctx_len;
} csv_col;

struct srv_csv_format {
    csv_col *cols;
    size_t n;
    uint32_t n_fields;  /* fields a line needs: highest column + 1 */
    int time_col;       /* index in cols, or -1 */
    size_t n_metric, n_label;
};

typedef struct span {
    const char *p;
    size_t len;
} span;

static int fmt_fail(ax_err *e, size_t entry, const char *s, size_t len, const char *why) {
    char ex[64];
    return ax_err_set(e, AX_EINVAL, "format entry #%zu \"%s\": %s", entry, srv__excerpt(ex, sizeof ex, s, len),
                      why);
}

static bool is_lit(const char *s, size_t len, const char *lit) {
    return strlen(lit) == len && !memcmp(s, lit, len);
}

/* A time format name (import's N:time:<how>, export's __timestamp__:<how>) at *ctx into
 * *tfmt; custom:<layout> points *ctx and *len at the layout. False for anything else. */
static bool time_how(int *tfmt, const char **ctx, size_t *len) {
    if (is_lit(*ctx, *len, "unix_s")) *tfmt = T_UNIX_S;
    else if (is_lit(*ctx, *len, "unix_ms")) *tfmt = T_UNIX_MS;
    else if (is_lit(*ctx, *len, "unix_ns")) *tfmt = T_UNIX_NS;
    else if (is_lit(*ctx, *len, "rfc3339")) *tfmt = T_RFC3339;
    else if (*len > 7 && !memcmp(*ctx, "custom:", 7) && *len - 7 <= CSV_MAX_LAYOUT) {
        *tfmt = T_CUSTOM;
        *ctx += 7;
        *len -= 7;
    } else {
        return false;
    }
    return true;
}

int srv_csv_format_parse(const char *s, size_t len, ax_arena *a, srv_csv_format **out, ax_err *e) {
    *out = NULL;
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += s[i] == ',';
    if (!len) return ax_err_set(e, AX_EINVAL, "missing format parameter: e.g. format=1:time:unix_s,2:metric:cpu");
    if (n > CSV_MAX_COLUMNS) return ax_err_set(e, AX_EINVAL, "format: more than %d entries", CSV_MAX_COLUMNS);
    srv_csv_format *f = ax_arena_alloc(a, sizeof *f);
    csv_col *cols = ax_arena_alloc(a, n * sizeof *cols);
    if (!f || !cols) return ax_err_set(e, AX_ETOOBIG, "out of request memory");
    memset(f, 0, sizeof *f);
    f->cols = cols;
    f->time_col = -1;
    const char *p = s, *end = s + len;
    for (size_t k = 0; k < n; k++) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        const char *ee = q ? q : end;
        size_t el = (size_t)(ee - p);
        const char *c1 = memchr(p, ':', el);
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(ee - c1 - 1)) : NULL;
        if (!c2) return fmt_fail(e, k + 1, p, el, "want <column>:<type>:<context>");
        uint64_t pos = 0;
        size_t nd = (size_t)(c1 - p);
        for (size_t i = 0; i < nd && pos <= CSV_MAX_COLUMNS; i++) {
            if (p[i] < '0' || p[i] > '9') return fmt_fail(e, k + 1, p, el, "the column is not a number");
            pos = pos * 10 + (uint64_t)(p[i] - '0');
        }
        if (!nd || pos < 1 || pos > CSV_MAX_COLUMNS)
            return fmt_fail(e, k + 1, p, el, "the column must be a number from 1 to 1024");
        csv_col *c = &cols[k];
        c->pos = (uint32_t)pos - 1;
        const char *ty = c1 + 1;
        size_t tl = (size_t)(c2 - ty);
        c->ctx = c2 + 1;
        c->ctx_len = (size_t)(ee - c->ctx);
        for (size_t j = 0; j < k; j++)
            if (cols[j].pos == c->pos) return fmt_fail(e, k + 1, p, el, "a column named twice");
        if (is_lit(ty, tl, "metric")) {
            c->kind = COL_METRIC;
            if (!ax_metric_name_valid(c->ctx, c->ctx_len))
                return fmt_fail(e, k + 1, p, el, "not a valid metric name");
            f->n_metric++;
        } else if (is_lit(ty, tl, "label")) {
            c->kind = COL_LABEL;
            if (!ax_label_name_valid(c->ctx, c->ctx_len) || is_lit(c->ctx, c->ctx_len, "__name__"))
                return fmt_fail(e, k + 1, p, el, "not a valid label name");
            if (++f->n_label >= AX_MAX_LABELS)
                return ax_err_set(e, AX_EINVAL, "format: more than %d label columns", AX_MAX_LABELS - 1);
        } else if (is_lit(ty, tl, "time")) {
            c->kind = COL_TIME;
            if (f->time_col >= 0) return fmt_fail(e, k + 1, p, el, "a second time column");
            f->time_col = (int)k;
            if (!time_how(&c->tfmt, &c->ctx, &c->ctx_len))
                return fmt_fail(e, k + 1, p, el, "time format must be unix_s, unix_ms, unix_ns, rfc3339 "
                                                 "or custom:<Go layout>");
        } else {
            return fmt_fail(e, k + 1, p, el, "type must be metric, label or time");
        }
        if (c->pos + 1 > f->n_fields) f->n_fields = c->pos + 1;
        p = q ? q + 1 : end;
    }
    if (!f->n_metric) return ax_err_set(e, AX_EINVAL, "format: no metric column");
    f->n = n;
    *out = f;
    return 0;
}

/* ---- times ---- */

/* [+-]digits[.digits] as an integer count of `unit`s, scaled to ms: unit_per_ms > 0 divides
 * (ns: 1000000), else ms_per_unit multiplies; a fraction only when frac_ok (its digits
 * below the millisecond are dropped). */
static int parse_unix(const char *s, size_t len, int64_t ms_per_unit, int64_t unit_per_ms, bool frac_ok,
                      int64_t *ms) {
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    size_t d0 = i;
    int64_t v = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10) return AX_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (i == d0) return AX_EINVAL;
    int64_t frac = 0, scale = 100;
    if (i < len && s[i] == '.' && frac_ok) {
        size_t f0 = ++i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac += (s[i] - '0') * scale;
            scale /= 10;
        }
        if (i == f0) return AX_EINVAL;
    }
    if (i != len) return AX_EINVAL;
    if (unit_per_ms) {
        v /= unit_per_ms;
    } else {
        if (v > INT64_MAX / ms_per_unit - 1) return AX_EINVAL;
        v = v * ms_per_unit + frac;
    }
    *ms = neg ? -v : v;
    return 0;
}

static const char *const MONTHS[] = {"January", "February", "March",     "April",   "May",      "June",
                                     "July",    "August",   "September", "October", "November", "December"};
static const char *const DAYS[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

/* up to max digits (at least min) at t[*i]; OUT: *v */
static bool take_num(const char *t, size_t len, size_t *i, size_t min, size_t max, int *v) {
    size_t k = 0;
    int x = 0;
    while (k < max && *i + k < len && t[*i + k] >= '0' && t[*i + k] <= '9') x = x * 10 + (t[*i + k++] - '0');
    if (k < min) return false;
    *i += k;
    *v = x;
    return true;
}

/* a name from names[0..n) (full, or its first 3 letters when abbr), case-insensitive */
static bool take_name(const char *t, size_t len, size_t *i, const char *const *names, int n, bool abbr,
                      int *idx) {
    for (int k = 0; k < n; k++) {
        size_t nl = abbr ? 3 : strlen(names[k]);
        if (*i + nl <= len && !strncasecmp(t + *i, names[k], nl)) {
            *i += nl;
            *idx = k;
            return true;
        }
    }
    return false;
}

/* ±hh[[:]mm[[:]ss]] per the element's shape (colons, with minutes, with seconds); 'Z' first
 * means UTC when z_ok */
static bool take_zone(const char *t, size_t len, size_t *i, bool z_ok, bool colon, int parts, int *off_s) {
    if (z_ok && *i < len && t[*i] == 'Z') {
        (*i)++;
        *off_s = 0;
        return true;
    }
    if (*i >= len || (t[*i] != '+' && t[*i] != '-')) return false;
    int sign = t[(*i)++] == '-' ? -1 : 1, v[3] = {0, 0, 0};
    for (int k = 0; k < parts; k++) {
        if (k && colon && (*i >= len || t[(*i)++] != ':')) return false;
        if (!take_num(t, len, i, 2, 2, &v[k])) return false;
    }
    if (v[0] > 23 || v[1] > 59 || v[2] > 59) return false;
    *off_s = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return true;
}

/* a fraction after '.' or ',': exactly `digits` digits (fixed) or any number (>= 0) */
static bool take_frac(const char *t, size_t len, size_t *i, size_t digits, bool fixed, int *ms) {
    size_t k = 0;
    int v = 0, scale = 100;
    while (*i + k < len && t[*i + k] >= '0' && t[*i + k] <= '9') {
        if (scale) v += (t[*i + k] - '0') * scale;
        scale /= 10;
        k++;
    }
    if (fixed && k != digits) return false;
    *i += k;
    *ms = v;
    return true;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int srv_csv_time_layout(const char *lay, size_t lay_len, const char *t, size_t len, int64_t *ms) {
    int64_t year = 0;
    int month = 1, day = 1, hour = 0, min = 0, sec = 0, frac_ms = 0, off_s = 0, yday = -1, x = 0;
    int pm = -1; /* -1: no AM/PM element; 0 AM; 1 PM */
    bool hour12 = false;
    size_t i = 0, l = 0;
#define STARTS(lit) (lay_len - l >= sizeof lit - 1 && !memcmp(lay + l, lit, sizeof lit - 1) && (l += sizeof lit - 1, 1))
    while (l < lay_len) {
        bool ok = true, seconds = false;
        size_t l0 = l;
        char c = lay[l];
        if (STARTS("January") || STARTS("Jan")) {
            ok = take_name(t, len, &i, MONTHS, 12, l - l0 == 3, &month);
            month++;
        }
        else if (STARTS("Monday") || STARTS("Mon")) ok = take_name(t, len, &i, DAYS, 7, l - l0 == 3, &x);
        else if (STARTS("MST")) { /* a zone abbreviation: 3-5 capitals, taken as UTC */
            size_t k = 0;
            while (i + k < len && k < 5 && t[i + k] >= 'A' && t[i + k] <= 'Z') k++;
            ok = k >= 3;
            i += k;
        } else if (STARTS("2006")) {
            ok = take_num(t, len, &i, 4, 4, &x);
            year = x;
        } else if (STARTS("002")) ok = take_num(t, len, &i, 3, 3, &yday);
        else if (STARTS("01")) ok = take_num(t, len, &i, 2, 2, &month);
        else if (STARTS("02")) ok = take_num(t, len, &i, 2, 2, &day);
        else if (STARTS("03")) ok = hour12 = take_num(t, len, &i, 2, 2, &hour);
        else if (STARTS("04")) ok = take_num(t, len, &i, 2, 2, &min);
        else if (STARTS("05")) ok = seconds = take_num(t, len, &i, 2, 2, &sec);
        else if (STARTS("06")) {
            ok = take_num(t, len, &i, 2, 2, &x);
            year = x >= 69 ? 1900 + x : 2000 + x;
        } else if (STARTS("15")) ok = take_num(t, len, &i, 1, 2, &hour);
        else if (STARTS("1")) ok = take_num(t, len, &i, 1, 2, &month);
        else if (STARTS("2")) ok = take_num(t, len, &i, 1, 2, &day);
        else if (STARTS("_2")) {
            if (i < len && t[i] == ' ') i++;
            ok = take_num(t, len, &i, 1, 2, &day);
        } else if (STARTS("3")) ok = hour12 = take_num(t, len, &i, 1, 2, &hour);
        else if (STARTS("4")) ok = take_num(t, len, &i, 1, 2, &min);
        else if (STARTS("5")) ok = seconds = take_num(t, len, &i, 1, 2, &sec);
        else if (STARTS("PM") || STARTS("pm")) {
            ok = i + 2 <= len && (t[i + 1] == 'M' || t[i + 1] == 'm') &&
                 (t[i] == 'A' || t[i] == 'a' || t[i] == 'P' || t[i] == 'p');
            if (ok) pm = t[i] == 'P' || t[i] == 'p';
            i += 2;
        } else if (STARTS("Z07:00:00")) ok = take_zone(t, len, &i, true, true, 3, &off_s);
        else if (STARTS("Z070000")) ok = take_zone(t, len, &i, true, false, 3, &off_s);
        else if (STARTS("Z07:00")) ok = take_zone(t, len, &i, true, true, 2, &off_s);
        else if (STARTS("Z0700")) ok = take_zone(t, len, &i, true, false, 2, &off_s);
        else if (STARTS("Z07")) ok = take_zone(t, len, &i, true, false, 1, &off_s);
        else if (STARTS("-07:00:00")) ok = take_zone(t, len, &i, false, true, 3, &off_s);
        else if (STARTS("-070000")) ok = take_zone(t, len, &i, false, false, 3, &off_s);
        else if (STARTS("-07:00")) ok = take_zone(t, len, &i, false, true, 2, &off_s);
        else if (STARTS("-0700")) ok = take_zone(t, len, &i, false, false, 2, &off_s);
        else if (STARTS("-07")) ok = take_zone(t, len, &i, false, false, 1, &off_s);
        else if ((c == '.' || c == ',') && l + 1 < lay_len && (lay[l + 1] == '0' || lay[l + 1] == '9')) {
            char d = lay[l + 1];
            size_t k = 1;
            while (l + k < lay_len && lay[l + k] == d) k++;
            if (l + k < lay_len && lay[l + k] >= '0' && lay[l + k] <= '9') { /* not a fraction: literal */
                ok = i < len && t[i] == c;
                i++;
                l++;
            } else {
                l += k;
                bool sep = i < len && (t[i] == '.' || t[i] == ',');
                if (sep) i++;
                if (d == '0') ok = sep && take_frac(t, len, &i, k - 1, true, &frac_ms); /* .000: required */
                else if (sep) take_frac(t, len, &i, 0, false, &frac_ms);                  /* .999: optional */
            }
        } else {
            ok = i < len && t[i] == c;
            i++;
            l++;
        }
        if (!ok) return AX_EINVAL;
        /* Go reads a fraction after the seconds even when the layout has none */
        if (seconds && i + 1 < len && t[i] == '.' && t[i + 1] >= '0' && t[i + 1] <= '9' &&
            !(l < lay_len && (lay[l] == '.' || lay[l] == ','))) {
            i++;
            take_frac(t, len, &i, 0, false, &frac_ms);
        }
    }
#undef STARTS
    if (i != len) return AX_EINVAL;
    if (hour12 || pm >= 0) {
        if (hour12 && hour > 12) return AX_EINVAL; /* Go takes 0 too */
        if (pm == 1 && hour < 12) hour += 12;
        else if (pm == 0 && hour == 12) hour = 0;
    }
    if (yday >= 0) {
        int dim[] = {31, is_leap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (yday < 1 || yday > (is_leap(year) ? 366 : 365)) return AX_EINVAL;
        month = 1;
        day = yday;
        while (day > dim[month - 1]) day -= dim[month++ - 1];
    }
    int dim[] = {31, is_leap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || day > dim[month - 1] || hour > 23 || min > 59 || sec > 59)
        return AX_EINVAL;
    int64_t s = ax_days_from_civil(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 + min * 60 + sec -
                off_s;
    *ms = s * 1000 + frac_ms;
    return 0;
}

static int parse_time(const csv_col *c, const char *s, size_t len, int64_t *ms) {
    switch (c->tfmt) {
    case T_UNIX_S: return parse_unix(s, len, 1000, 0, true, ms);
    case T_UNIX_MS: return parse_unix(s, len, 1, 0, false, ms);
    case T_UNIX_NS: return parse_unix(s, len, 0, 1000000, false, ms);
    case T_RFC3339: /* not a bare number, which ax_time_parse would also take */
        return len >= 20 && s[4] == '-' ? ax_time_parse(s, len, ms) : AX_EINVAL;
    default: return srv_csv_time_layout(c->ctx, c->ctx_len, s, len, ms);
    }
}

/* ---- lines ---- */

typedef struct parser {
    const srv_csv_format *f;
    ax_arena *a;
    ax_err *e;
    size_t line_no;
} parser;

static int fail(parser *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser *p, int rc, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ax_err_set(p->e, rc, "line %zu: %s", p->line_no, msg);
}

/* Split line s[0..len) into its first f->n_fields fields (unquoted; a quoted field with ""
 * inside is copied into the arena). Returns 0 or an error. */
static int split(parser *p, const char *s, size_t len, span *fld) {
    size_t i = 0, k = 0;
    while (k < p->f->n_fields) {
        if (i < len && s[i] == '"') {
            size_t j = ++i, quotes = 0;
            for (;;) {
                if (j >= len) return fail(p, AX_EINVAL, "unterminated quoted field %zu", k + 1);
                if (s[j] == '"') {
                    if (j + 1 < len && s[j + 1] == '"') {
                        quotes++;
                        j += 2;
                        continue;
                    }
                    break;
                }
                j++;
            }
            fld[k].p = s + i;
            fld[k].len = j - i;
            if (quotes) {
                char *cp = ax_arena_alloc(p->a, j - i - quotes);
                if (!cp) return fail(p, AX_ETOOBIG, "out of request memory");
                size_t o = 0;
                for (size_t x = i; x < j; x++) {
                    cp[o++] = s[x];
                    if (s[x] == '"') x++;
                }
                fld[k].p = cp;
                fld[k].len = o;
            }
            i = j + 1;
            if (i < len && s[i] != ',') {
                char b[16];
                return fail(p, AX_EINVAL, "after the quoted field %zu: %s, want ',' or the line's end", k + 1,
                            srv__found(b, sizeof b, s + i, s + len));
            }
        } else {
            const char *q = memchr(s + i, ',', len - i);
            size_t j = q ? (size_t)(q - s) : len;
            fld[k].p = s + i;
            fld[k].len = j - i;
            i = j;
        }
        k++;
        if (i >= len) break;
        i++; /* the ',' */
    }
    if (k < p->f->n_fields)
        return fail(p, AX_EINVAL, "%zu field%s, the format needs %u", k, k == 1 ? "" : "s", p->f->n_fields);
    return 0;
}

int srv_csv_parse(const srv_csv_format *f, const char *body, size_t len, int64_t now_ms,
                  const ax_label *extra, size_t n_extra, ax_arena *a, eng_ts **ts_out,
                  size_t *n_out, size_t *samples_out, ax_err *e) {
    *ts_out = NULL;
    *n_out = *samples_out = 0;
    if (f->n_label + 1 + n_extra > AX_MAX_LABELS)
        return ax_err_set(e, AX_EINVAL, "more than %d labels per series with the extra labels", AX_MAX_LABELS);
    parser p = {.f = f, .a = a, .e = e};
    size_t max_rows = 1;
    for (size_t i = 0; i < len; i++) max_rows += body[i] == '\n';
    /* the row table: per row its time, its label fields, its metric values and whether
     * each metric field was non-empty */
    size_t nm = f->n_metric, nl = f->n_label;
    int64_t *times = ax_arena_alloc(a, max_rows * sizeof *times);
    span *labels = nl ? ax_arena_alloc(a, max_rows * nl * sizeof *labels) : NULL;
    double *vals = ax_arena_alloc(a, max_rows * nm * sizeof *vals);
    bool *has = ax_arena_alloc(a, max_rows * nm * sizeof *has);
    span *fld = ax_arena_alloc(a, f->n_fields * sizeof *fld);
    if (!times || (nl && !labels) || !vals || !has || !fld) return ax_err_set(e, AX_ETOOBIG, "out of request memory");
    size_t rows = 0;
    const char *s = body, *end = body + len;
    while (s < end) {
        p.line_no++;
        const char *nlp = memchr(s, '\n', (size_t)(end - s));
        const char *le = nlp ? nlp : end;
        const char *next = nlp ? nlp + 1 : end;
        if (le > s && le[-1] == '\r') le--;
        if (le == s) {
            s = next;
            continue;
        }
        int rc = split(&p, s, (size_t)(le - s), fld);
        if (rc) return rc;
        times[rows] = now_ms;
        size_t mi = 0, li = 0;
        for (size_t c = 0; c < f->n; c++) {
            const csv_col *col = &f->cols[c];
            span v = fld[col->pos];
            char ex[64];
            if (col->kind == COL_TIME) {
                if (parse_time(col, v.p, v.len, &times[rows]))
                    return fail(&p, AX_EINVAL, "field %u: bad time \"%s\" for %.*s", col->pos + 1,
                                srv__excerpt(ex, sizeof ex, v.p, v.len), (int)(col->tfmt == T_CUSTOM ? 6 : col->ctx_len),
                                col->tfmt == T_CUSTOM ? "custom" : col->ctx);
            } else if (col->kind == COL_LABEL) {
                if (v.len > AX_MAX_LABEL_VALUE)
                    return fail(&p, AX_EINVAL, "field %u: label value longer than %d bytes", col->pos + 1,
                                AX_MAX_LABEL_VALUE);
                labels[rows * nl + li++] = v;
            } else {
                bool range = false;
                has[rows * nm + mi] = v.len > 0;
                if (v.len && !srv_parse_go_float(v.p, v.len, &vals[rows * nm + mi], &range))
                    return fail(&p, AX_EINVAL, "field %u: %s \"%s\" for %.*s", col->pos + 1,
                                range ? "value out of range" : "bad number", srv__excerpt(ex, sizeof ex, v.p, v.len),
                                (int)col->ctx_len, col->ctx);
                mi++;
            }
        }
        rows++;
        s = next;
    }

    /* second pass: per metric column, runs of rows with equal label fields */
    size_t total = 0;
    for (size_t r = 0; r < rows * nm; r++) total += has[r];
    if (!total) return 0;
    eng_ts *ts = ax_arena_alloc(a, total * sizeof *ts);
    eng_sample *smp = ax_arena_alloc(a, total * sizeof *smp);
    if (!ts || !smp) return ax_err_set(e, AX_ETOOBIG, "out of request memory");
    /* label columns an extra of the same name replaces: ignored when comparing rows */
    bool ovr[AX_MAX_LABELS] = {false};
    for (size_t k = 0, li = 0; k < f->n; k++) {
        const csv_col *lc = &f->cols[k];
        if (lc->kind != COL_LABEL) continue;
        for (size_t x = 0; x < n_extra; x++)
            ovr[li] |= extra[x].name_len == lc->ctx_len && !memcmp(extra[x].name, lc->ctx, lc->ctx_len);
        li++;
    }
    size_t nts = 0, ns = 0, mi = 0;
    for (size_t c = 0; c < f->n; c++) {
        const csv_col *col = &f->cols[c];
        if (col->kind != COL_METRIC) continue;
        size_t prev = SIZE_MAX;
        for (size_t r = 0; r < rows; r++) {
            if (!has[r * nm + mi]) continue;
            bool same = prev != SIZE_MAX;
            for (size_t k = 0; same && k < nl; k++) {
                span x = labels[prev * nl + k], y = labels[r * nl + k];
                same = ovr[k] || (x.len == y.len && (!x.len || !memcmp(x.p, y.p, x.len)));
            }
            if (!same) {
                eng_ts *t = &ts[nts++];
                t->labels = ax_arena_alloc(a, (1 + nl + n_extra) * sizeof *t->labels);
                if (!t->labels) return ax_err_set(e, AX_ETOOBIG, "out of request memory");
                size_t n = 0;
                t->labels[n++] = (ax_label){"__name__", col->ctx, 8, (uint32_t)col->ctx_len};
                size_t li = 0;
                for (size_t k = 0; k < f->n; k++) {
                    const csv_col *lc = &f->cols[k];
                    if (lc->kind != COL_LABEL) continue;
                    span v = labels[r * nl + li];
                    if (!ovr[li++]) t->labels[n++] = (ax_label){lc->ctx, v.p, (uint32_t)lc->ctx_len, (uint32_t)v.len};
                }
                for (size_t x = 0; x < n_extra; x++) t->labels[n++] = extra[x];
                t->n_labels = n;
                t->samples = &smp[ns];
                t->n_samples = 0;
            }
            smp[ns].ts = times[r];
            smp[ns].v = vals[r * nm + mi];
            ts[nts - 1].n_samples++;
            ns++;
            prev = r;
        }
        mi++;
    }
    *ts_out = ts;
    *n_out = nts;
    *samples_out = ns;
    return 0;
}

/* ---- export ---- */

enum { OUT_NAME = 1, OUT_VALUE, OUT_TIME, OUT_LABEL };

typedef struct csv_field {
    int kind, tfmt;
    const char *ctx; /* label name, or the custom layout */
    size_t ctx_len;
} csv_field;

struct srv_csv_out {
    csv_field *f;
    size_t n;
};

int srv_csv_out_parse(const char *s, size_t len, ax_arena *a, srv_csv_out **out, ax_err *e) {
    *out = NULL;
    if (!len) return ax_err_set(e, AX_EINVAL, "missing format parameter: e.g. format=__name__,__value__,__timestamp__:unix_s");
    size_t n = 1;
    for (size_t i = 0; i < len; i++) n += s[i] == ',';
    if (n > CSV_MAX_COLUMNS) return ax_err_set(e, AX_EINVAL, "format: more than %d fields", CSV_MAX_COLUMNS);
    srv_csv_out *f = ax_arena_alloc(a, sizeof *f);
    csv_field *fs = ax_arena_alloc(a, n * sizeof *fs);
    if (!f || !fs) return ax_err_set(e, AX_ETOOBIG, "out of request memory");
    const char *p = s, *end = s + len;
    for (size_t k = 0; k < n; k++) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        size_t el = (size_t)((q ? q : end) - p);
        csv_field *c = &fs[k];
        memset(c, 0, sizeof *c);
        if (is_lit(p, el, "__name__")) {
            c->kind = OUT_NAME;
        } else if (is_lit(p, el, "__value__")) {
            c->kind = OUT_VALUE;
        } else if (el > 14 && !memcmp(p, "__timestamp__:", 14)) {
            c->kind = OUT_TIME;
            c->ctx = p + 14;
            c->ctx_len = el - 14;
            if (!time_how(&c->tfmt, &c->ctx, &c->ctx_len))
                return fmt_fail(e, k + 1, p, el, "time format must be unix_s, unix_ms, unix_ns, rfc3339 "
                                                 "or custom:<Go layout>");
        } else if (ax_label_name_valid(p, el)) {
            c->kind = OUT_LABEL;
            c->ctx = p;
            c->ctx_len = el;
        } else {
            return fmt_fail(e, k + 1, p, el, "want __name__, __value__, __timestamp__:<format> or a label name");
        }
        p = q ? q + 1 : end;
    }
    f->f = fs;
    f->n = n;
    *out = f;
    return 0;
}

static size_t put_num(char *p, int64_t v, size_t width) { /* zero-padded to width */
    char b[24];
    int n = snprintf(b, sizeof b, "%0*lld", (int)width, (long long)v);
    memcpy(p, b, (size_t)n);
    return (size_t)n;
}

size_t srv_csv_time_format(const char *lay, size_t lay_len, int64_t ms, char *out, size_t cap) {
    int64_t secs = ms / 1000, msec = ms % 1000;
    if (msec < 0) {
        msec += 1000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t year;
    unsigned month, day;
    ax_civil_from_days(days, &year, &month, &day);
    int hour = (int)(sod / 3600), min = (int)(sod / 60 % 60), sec = (int)(sod % 60);
    int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int yday = (int)(days - ax_days_from_civil(year, 1, 1)) + 1;
    char tmp[64];
    size_t o = 0, l = 0;
#define STARTS(lit) (lay_len - l >= sizeof lit - 1 && !memcmp(lay + l, lit, sizeof lit - 1) && (l += sizeof lit - 1, 1))
#define EMIT(src, n)                                                                                       \
    do {                                                                                                   \
        size_t n_ = (n);                                                                                   \
        for (size_t k_ = 0; k_ < n_ && o + 1 < cap; k_++) out[o++] = (src)[k_];                            \
    } while (0)
    while (l < lay_len) {
        size_t t = 0;
        char c = lay[l];
        int h12 = hour % 12 ? hour % 12 : 12;
        if (STARTS("January")) EMIT(MONTHS[month - 1], strlen(MONTHS[month - 1]));
        else if (STARTS("Jan")) EMIT(MONTHS[month - 1], 3);
        else if (STARTS("Monday")) EMIT(DAYS[wday], strlen(DAYS[wday]));
        else if (STARTS("Mon")) EMIT(DAYS[wday], 3);
        else if (STARTS("MST")) EMIT("UTC", 3);
        else if (STARTS("2006")) t = put_num(tmp, year, 4);
        else if (STARTS("002")) t = put_num(tmp, yday, 3);
        else if (STARTS("01")) t = put_num(tmp, month, 2);
        else if (STARTS("02")) t = put_num(tmp, day, 2);
        else if (STARTS("03")) t = put_num(tmp, h12, 2);
        else if (STARTS("04")) t = put_num(tmp, min, 2);
        else if (STARTS("05")) t = put_num(tmp, sec, 2);
        else if (STARTS("06")) t = put_num(tmp, ((year % 100) + 100) % 100, 2);
        else if (STARTS("15")) t = put_num(tmp, hour, 2);
        else if (STARTS("1")) t = put_num(tmp, month, 1);
        else if (STARTS("2")) t = put_num(tmp, day, 1);
        else if (STARTS("_2")) t = (size_t)snprintf(tmp, sizeof tmp, "%2u", day);
        else if (STARTS("3")) t = put_num(tmp, h12, 1);
        else if (STARTS("4")) t = put_num(tmp, min, 1);
        else if (STARTS("5")) t = put_num(tmp, sec, 1);
        else if (STARTS("PM")) EMIT(hour >= 12 ? "PM" : "AM", 2);
        else if (STARTS("pm")) EMIT(hour >= 12 ? "pm" : "am", 2);
        else if (STARTS("Z07:00:00") || STARTS("Z070000") || STARTS("Z07:00") || STARTS("Z0700") || STARTS("Z07"))
            EMIT("Z", 1);
        else if (STARTS("-07:00:00")) EMIT("+00:00:00", 9);
        else if (STARTS("-070000")) EMIT("+000000", 7);
        else if (STARTS("-07:00")) EMIT("+00:00", 6);
        else if (STARTS("-0700")) EMIT("+0000", 5);
        else if (STARTS("-07")) EMIT("+00", 3);
        else if ((c == '.' || c == ',') && l + 1 < lay_len && (lay[l + 1] == '0' || lay[l + 1] == '9')) {
            char d = lay[l + 1];
            size_t k = 1;
            while (l + k < lay_len && lay[l + k] == d) k++;
            if (l + k < lay_len && lay[l + k] >= '0' && lay[l + k] <= '9') { /* literal */
                EMIT(&c, 1);
                l++;
            } else { /* .000: exactly k - 1 digits; .999: the digits without trailing zeros */
                char fr[16];
                snprintf(fr, sizeof fr, "%03d000000", (int)msec);
                size_t nd = k - 1 < 9 ? k - 1 : 9;
                if (d == '9')
                    while (nd && fr[nd - 1] == '0') nd--;
                if (d == '0' || nd) {
                    EMIT(&c, 1);
                    EMIT(fr, nd);
                }
                l += k;
            }
        } else {
            EMIT(&c, 1);
            l++;
        }
        EMIT(tmp, t);
    }
#undef STARTS
#undef EMIT
    if (cap) out[o] = 0;
    return o;
}

/* A field value, Go-quoted when it holds ',', '"', '\r' or '\n' (as VictoriaMetrics writes). */
static int put_field(ax_buf *b, const char *s, size_t len) {
    bool quote = false;
    for (size_t i = 0; i < len && !quote; i++) quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) return ax_buf_append(b, s, len);
    int rc = ax_buf_append(b, "\"", 1);
    for (size_t i = 0; i < len && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : NULL;
        if (esc) rc = ax_buf_append_str(b, esc);
        else if (c < 0x20 || c == 0x7f) rc = ax_buf_printf(b, "\\x%02x", c);
        else rc = ax_buf_append(b, s + i, 1);
    }
    return rc ? rc : ax_buf_append(b, "\"", 1);
}

static size_t time_field(const csv_field *f, int64_t ms, char *out, size_t cap) {
    switch (f->tfmt) {
    case T_UNIX_S: return (size_t)snprintf(out, cap, "%lld", (long long)(ms / 1000));
    case T_UNIX_MS: return (size_t)snprintf(out, cap, "%lld", (long long)ms);
    case T_UNIX_NS: return (size_t)snprintf(out, cap, "%lld000000", (long long)ms);
    case T_RFC3339: return srv_csv_time_format("2006-01-02T15:04:05Z07:00", 25, ms, out, cap);
    default: return srv_csv_time_format(f->ctx, f->ctx_len, ms, out, cap);
    }
}

int srv_csv_out_lines(ax_buf *b, const srv_csv_out *f, const uint8_t *labels, size_t len, const int64_t *ts,
                      const double *v, size_t n) {
    ax_label ls[AX_MAX_LABELS];
    size_t nl = 0;
    int rc = ax_labels_decode(labels, len, ls, AX_MAX_LABELS, &nl);
    for (size_t i = 0; i < n && !rc; i++) {
        for (size_t k = 0; k < f->n && !rc; k++) {
            const csv_field *c = &f->f[k];
            if (k) rc = ax_buf_append(b, ",", 1);
            if (rc) break;
            if (c->kind == OUT_VALUE) {
                char num[AX_FMT_GO_MAX];
                rc = ax_buf_append(b, num, ax_fmt_go(num, v[i], 'f'));
            } else if (c->kind == OUT_TIME) {
                char tb[CSV_MAX_LAYOUT * 4 + 64];
                size_t tl = time_field(c, ts[i], tb, sizeof tb);
                rc = put_field(b, tb, tl < sizeof tb ? tl : sizeof tb - 1);
            } else {
                const char *name = c->kind == OUT_NAME ? "__name__" : c->ctx;
                size_t name_len = c->kind == OUT_NAME ? 8 : c->ctx_len;
                for (size_t j = 0; j < nl; j++)
                    if (ls[j].name_len == name_len && !memcmp(ls[j].name, name, name_len)) {
                        rc = put_field(b, ls[j].value, ls[j].value_len);
                        break;
                    }
            }
        }
        if (!rc) rc = ax_buf_append(b, "\n", 1);
    }
    return rc;
}
