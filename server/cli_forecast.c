/* server/cli_forecast.c: `auspex forecast -input=FILE.csv -horizon=N ...` (docs/cli.md).
 *
 * Read the whole file (or stdin), parse it into rows (srv_fc_csv_parse: format rules in
 * server/cli.h), put timestamped rows on a regular grid (srv_fc_grid_make: median step,
 * fc_resample), resolve -horizon and -season (steps, or durations divided by the step),
 * run fc_forecast once and print CSV: `timestamp,yhat,yhat_lower,yhat_upper` with the
 * input's timestamp family, or `step,...` with 1..N for values-only input. Numbers are
 * the shortest decimal that round-trips (ax_fmt_double). One info line goes to stderr.
 *
 * Exit status: 0; 2 for anything the user can fix (flags, unreadable file, bad rows, no
 * finite value), the message on one stderr line; 1 for out of memory or a failed write.
 */
#include "server/cli.h"

#include "forecast/forecast.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FILE_BYTES ((size_t)1 << 30)

/* ---- input parsing ------------------------------------------------------------------ */

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Trim spaces/tabs; for a field (quotes) also one pair of surrounding double quotes. */
static void trim(const char **s, size_t *len, bool quotes) {
    const char *p = *s;
    size_t n = *len;
    while (n && is_blank(p[0])) { p++; n--; }
    while (n && is_blank(p[n - 1])) n--;
    if (quotes && n >= 2 && p[0] == '"' && p[n - 1] == '"') { p++; n -= 2; }
    *s = p;
    *len = n;
}

enum { VAL_OK = 0, VAL_BAD = 1, VAL_INF = 2 };

/* A value field: number, or a gap ("", NaN, NA, null -> NaN). */
static int parse_value(const char *s, size_t len, double *out) {
    if (len == 0 || (len == 2 && !strncasecmp(s, "NA", 2)) || (len == 4 && !strncasecmp(s, "null", 4))) {
        *out = NAN;
        return VAL_OK;
    }
    if (len > 63) return VAL_BAD;
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (tmp[i] == 'x' || tmp[i] == 'X' || tmp[i] == '(' || !tmp[i]) return VAL_BAD; /* no hex */
    char *end = NULL;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + len || end == tmp) return VAL_BAD;
    if (isinf(v)) return VAL_INF;
    *out = isnan(v) ? NAN : v;
    return VAL_OK;
}

/* Family of a timestamp field by its shape; ax_time_parse then checks it. */
static int ts_family(const char *s, size_t len) {
    if (len >= 19 && s[4] == '-' && s[7] == '-') return s[10] == ' ' ? SRV_TS_SPACE : SRV_TS_RFC3339;
    return SRV_TS_UNIX;
}

static const char *family_name(int f) {
    switch (f) {
    case SRV_TS_RFC3339: return "RFC 3339";
    case SRV_TS_SPACE: return "YYYY-MM-DD HH:MM:SS";
    case SRV_TS_UNIX: return "Unix seconds";
    default: return "none";
    }
}

/* A field quoted for a message: at most 40 bytes, non-printing bytes as '?'. */
static const char *show(const char *s, size_t len, char *buf) {
    size_t n = len > 40 ? 40 : len, o = 0;
    for (size_t i = 0; i < n; i++) buf[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (len > n) { memcpy(buf + o, "...", 3); o += 3; }
    buf[o] = 0;
    return buf;
}

typedef struct rows {
    int64_t *t;
    double *y;
    size_t n, cap;
} rows;

static int rows_push(rows *r, bool with_t, int64_t t, double y) {
    if (r->n == SRV_FC_MAX_ROWS) return AX_ELIMIT;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        double *ny = realloc(r->y, cap * sizeof *ny);
        if (!ny) return AX_ENOMEM;
        r->y = ny;
        if (with_t) {
            int64_t *nt = realloc(r->t, cap * sizeof *nt);
            if (!nt) return AX_ENOMEM;
            r->t = nt;
        }
        r->cap = cap;
    }
    if (with_t) r->t[r->n] = t;
    r->y[r->n++] = y;
    return 0;
}

void srv_fc_input_free(srv_fc_input *in) {
    if (!in) return;
    free(in->t_ms);
    free(in->y);
    memset(in, 0, sizeof *in);
}

int srv_fc_csv_parse(const char *buf, size_t len, srv_fc_input *out, ax_err *e) {
    enum { M_UNKNOWN, M_VALUES, M_TS } mode = M_UNKNOWN;
    int fam = SRV_TS_NONE, rc = 0;
    bool header = false, first = true;
    size_t line_no = 0, pending_gaps = 0, first_data_line = 0;
    rows r = {0};
    char sb[64];
    size_t p = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) p = 3;
    while (p < len) {
        const char *nl = memchr(buf + p, '\n', len - p);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *s = buf + p;
        size_t n = end - p;
        p = end + 1;
        line_no++;
        if (n && s[n - 1] == '\r') n--;
        if (n > SRV_FC_MAX_LINE) {
            rc = ax_err_set(e, AX_EINVAL, "line %zu: longer than %d bytes", line_no, SRV_FC_MAX_LINE);
            goto fail;
        }
        trim(&s, &n, false);
        if (n == 0) {
            if (mode == M_VALUES) pending_gaps++;
            continue;
        }
        const char *comma = memchr(s, ',', n);
        if (comma && memchr(comma + 1, ',', n - (size_t)(comma + 1 - s))) {
            rc = ax_err_set(e, AX_EINVAL, "line %zu: more than two fields (expected timestamp,value "
                            "or one value)", line_no);
            goto fail;
        }
        const char *f1 = s, *f2 = NULL;
        size_t l1 = n, l2 = 0;
        if (comma) {
            l1 = (size_t)(comma - s);
            f2 = comma + 1;
            l2 = n - l1 - 1;
            trim(&f2, &l2, true);
        }
        trim(&f1, &l1, true);
        int64_t t = 0;
        double v = NAN;
        bool t_ok = comma && ax_time_parse(f1, l1, &t) == 0;
        if (first) {
            first = false;
            /* a header: its first field is not a timestamp / not a value */
            if (comma ? !t_ok : (l1 && parse_value(f1, l1, &v) == VAL_BAD)) {
                header = true;
                continue;
            }
        }
        if (comma) {
            if (mode == M_VALUES) {
                rc = ax_err_set(e, AX_EINVAL, "line %zu: a timestamp,value row, but line %zu has a "
                                "single value", line_no, first_data_line);
                goto fail;
            }
            if (!t_ok) {
                rc = ax_err_set(e, AX_EINVAL, "line %zu: cannot parse timestamp \"%s\" (RFC 3339, "
                                "YYYY-MM-DD HH:MM:SS or Unix seconds)", line_no, show(f1, l1, sb));
                goto fail;
            }
            int f = ts_family(f1, l1);
            if (mode == M_UNKNOWN) {
                fam = f;
                mode = M_TS;
                first_data_line = line_no;
            } else if (f != fam) {
                rc = ax_err_set(e, AX_EINVAL, "line %zu: timestamp \"%s\" is %s, but line %zu's is %s",
                                line_no, show(f1, l1, sb), family_name(f), first_data_line,
                                family_name(fam));
                goto fail;
            }
        } else {
            if (mode == M_TS) {
                rc = ax_err_set(e, AX_EINVAL, "line %zu: a single field, but line %zu has "
                                "timestamp,value", line_no, first_data_line);
                goto fail;
            }
            if (mode == M_UNKNOWN) {
                mode = M_VALUES;
                first_data_line = line_no;
            }
            for (; pending_gaps; pending_gaps--)
                if ((rc = rows_push(&r, false, 0, NAN))) goto limit;
        }
        const char *vf = comma ? f2 : f1;
        size_t vl = comma ? l2 : l1;
        int vr = parse_value(vf, vl, &v);
        if (vr == VAL_INF) {
            rc = ax_err_set(e, AX_EINVAL, "line %zu: value \"%s\" is not finite (leave it empty or "
                            "write NaN for a gap)", line_no, show(vf, vl, sb));
            goto fail;
        }
        if (vr == VAL_BAD) {
            rc = ax_err_set(e, AX_EINVAL, "line %zu: cannot parse value \"%s\"", line_no,
                            show(vf, vl, sb));
            goto fail;
        }
        if ((rc = rows_push(&r, mode == M_TS, t, v))) goto limit;
    }
    if (r.n == 0) {
        rc = ax_err_set(e, AX_EINVAL, "no data rows%s", header ? " after the header" : "");
        goto fail;
    }
    bool finite = false;
    for (size_t i = 0; i < r.n && !finite; i++) finite = isfinite(r.y[i]);
    if (!finite) {
        rc = ax_err_set(e, AX_EINVAL, "no finite value in %zu rows", r.n);
        goto fail;
    }
    out->t_ms = mode == M_TS ? r.t : NULL;
    if (mode != M_TS) free(r.t);
    out->y = r.y;
    out->n = r.n;
    out->ts_fmt = mode == M_TS ? fam : SRV_TS_NONE;
    out->header = header;
    return 0;
limit:
    if (rc == AX_ELIMIT)
        ax_err_set(e, rc, "line %zu: more than %d rows", line_no, SRV_FC_MAX_ROWS);
    else
        ax_err_set(e, rc, "out of memory at line %zu", line_no);
fail:
    free(r.t);
    free(r.y);
    return rc;
}

/* ---- grid --------------------------------------------------------------------------- */

typedef struct trow {
    int64_t t;
    double y;
    size_t i;
} trow;

static int cmp_trow(const void *a, const void *b) {
    const trow *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int srv_fc_grid_make(const srv_fc_input *in, srv_fc_grid *out, ax_err *e) {
    if (!in->t_ms) {
        double *y = malloc((in->n ? in->n : 1) * sizeof *y);
        if (!y) return ax_err_set(e, AX_ENOMEM, "out of memory");
        memcpy(y, in->y, in->n * sizeof *y);
        out->y = y;
        out->n = in->n;
        out->t0_ms = out->step_ms = 0;
        return 0;
    }
    size_t n = in->n;
    trow *tr = malloc((n ? n : 1) * sizeof *tr);
    int64_t *d = malloc((n ? n : 1) * sizeof *d);
    double *ts = malloc((n ? n : 1) * sizeof *ts), *ys = malloc((n ? n : 1) * sizeof *ys);
    int rc = 0;
    if (!tr || !d || !ts || !ys) {
        rc = ax_err_set(e, AX_ENOMEM, "out of memory");
        goto done;
    }
    bool sorted = true;
    for (size_t i = 0; i < n; i++) {
        tr[i] = (trow){in->t_ms[i], in->y[i], i};
        if (i && in->t_ms[i] < in->t_ms[i - 1]) sorted = false;
    }
    if (!sorted) qsort(tr, n, sizeof *tr, cmp_trow);
    size_t nd = 0;
    for (size_t i = 1; i < n; i++)
        if (tr[i].t > tr[i - 1].t) d[nd++] = tr[i].t - tr[i - 1].t;
    if (!nd) {
        rc = ax_err_set(e, AX_EINVAL, "need at least two distinct timestamps to find the step");
        goto done;
    }
    qsort(d, nd, sizeof *d, cmp_i64);
    int64_t step = d[(nd - 1) / 2]; /* lower median: a step that occurs in the data */
    int64_t t0 = tr[0].t, span = tr[n - 1].t - t0;
    if (span / step >= SRV_FC_MAX_ROWS) {
        rc = ax_err_set(e, AX_ELIMIT, "timestamps span %lld steps of %lld ms, more than %d",
                        (long long)(span / step), (long long)step, SRV_FC_MAX_ROWS);
        goto done;
    }
    /* grid point i stands for t0 + i*step and takes the newest row in the half-open step
     * centred on it, so timestamps jittered either way by less than half a step still land
     * on their own point; the last point is the one whose step holds the last row */
    double last = ceil(((double)span - (double)step / 2) / (double)step);
    size_t ng = (last > 0 ? (size_t)last : 0) + 1;
    double *y = malloc(ng * sizeof *y);
    if (!y) {
        rc = ax_err_set(e, AX_ENOMEM, "out of memory");
        goto done;
    }
    /* milliseconds relative to t0: whole or half numbers, exact in doubles */
    for (size_t i = 0; i < n; i++) {
        ts[i] = (double)(tr[i].t - t0);
        ys[i] = tr[i].y;
    }
    fc_resample(ts, ys, n, (double)step / 2, (double)step, ng, (double)step - 0.25, y);
    out->y = y;
    out->n = ng;
    out->t0_ms = t0;
    out->step_ms = step;
done:
    free(tr);
    free(d);
    free(ts);
    free(ys);
    return rc;
}

/* ---- output ------------------------------------------------------------------------- */


/* ".5", ".25", ".125" for ms in 1..999; "" for 0. */
static size_t frac(char *out, int64_t ms) {
    if (!ms) return 0;
    char b[8];
    int n = snprintf(b, sizeof b, ".%03lld", (long long)ms);
    while (n > 1 && b[n - 1] == '0') n--;
    memcpy(out, b, (size_t)n);
    return (size_t)n;
}

size_t srv_fc_time_fmt(char *out, int64_t t_ms, int fmt) {
    int64_t secs = t_ms / 1000, ms = t_ms % 1000;
    if (ms < 0) { ms += 1000; secs--; }
    size_t o;
    if (fmt == SRV_TS_UNIX || fmt == SRV_TS_NONE) {
        if (secs < 0 && ms) { /* -1.5 s is secs -2, ms 500: print the sign and 1.5 */
            o = (size_t)sprintf(out, "-%lld", (long long)(-secs - 1));
            o += frac(out + o, 1000 - ms);
        } else {
            o = (size_t)sprintf(out, "%lld", (long long)secs);
            o += frac(out + o, ms);
        }
        out[o] = 0;
        return o;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) { sod += 86400; days--; }
    int64_t Y;
    unsigned M, D;
    ax_civil_from_days(days, &Y, &M, &D);
    o = (size_t)sprintf(out, "%04lld-%02u-%02u%c%02d:%02d:%02d", (long long)Y, M, D,
                        fmt == SRV_TS_SPACE ? ' ' : 'T', (int)(sod / 3600), (int)(sod / 60 % 60),
                        (int)(sod % 60));
    o += frac(out + o, ms);
    if (fmt == SRV_TS_RFC3339) out[o++] = 'Z';
    out[o] = 0;
    return o;
}

/* "5m", "1h30m", "1d", "250ms": the ms as a chain of units. */
static void dur_fmt(char *out, size_t cap, int64_t ms) {
    static const struct { int64_t ms; const char *u; } U[] = {
        {7 * 86400000LL, "w"}, {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"},
    };
    size_t o = 0;
    out[0] = 0;
    if (ms <= 0) { snprintf(out, cap, "0s"); return; }
    for (size_t i = 0; i < sizeof U / sizeof U[0] && o < cap; i++) {
        if (ms >= U[i].ms) {
            o += (size_t)snprintf(out + o, cap - o, "%lld%s", (long long)(ms / U[i].ms), U[i].u);
            ms %= U[i].ms;
        }
    }
}

/* ---- the command -------------------------------------------------------------------- */

typedef struct cli_cfg {
    const char *input, *horizon, *season, *model, *coverage;
    bool quiet, help;
} cli_cfg;

#define SF(f) offsetof(cli_cfg, f)
static const srv_cli_flag CLI_FLAGS[] = {
    {"input", SF(input), 0, false,
     "CSV file: timestamp,value rows or one value per line; - reads stdin"},
    {"horizon", SF(horizon), 0, false,
     "steps to forecast, or a duration (4h, 7d) when the input has timestamps"},
    {"season", SF(season), 0, false,
     "seasonal period hint in steps or as a duration (1d); up to 3, comma-separated; "
     "default: detect"},
    {"model", SF(model), 0, false,
     "auto, seasonal (prophet), holt_winters (ets), seasonal_naive, drift, linear, naive"},
    {"coverage", SF(coverage), 0, false,
     "central coverage of the yhat_lower..yhat_upper band, in (0, 1)"},
    {"quiet", 0, SF(quiet), true, "do not print the model line on stderr"},
    {"help", 0, SF(help), true, "print this help and exit"},
};
#define N_CLI_FLAGS (sizeof CLI_FLAGS / sizeof CLI_FLAGS[0])

static void cli_usage(FILE *f, const cli_cfg *c) {
    fprintf(f, "usage: auspex forecast -input=FILE.csv -horizon=N [-season=S] [-model=auto] "
               "[-coverage=0.8] [-quiet]\n\n"
               "Forecast a series from a CSV file and print timestamp|step,yhat,yhat_lower,"
               "yhat_upper (docs/cli.md).\n\nflags:\n");
    srv_cli_flags_usage(f, CLI_FLAGS, N_CLI_FLAGS, c);
}

#define ERR_PREFIX "auspex forecast: "

/* A count of steps ("12") or a duration ("4h"). OUT: *steps or *ms (the other 0). */
static int parse_steps_or_dur(const char *s, size_t len, uint64_t *steps, int64_t *ms) {
    *steps = 0;
    *ms = 0;
    if (!len) return AX_EINVAL;
    size_t i = 0;
    uint64_t v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v > 100000000000ull) return AX_EINVAL;
        v = v * 10 + (uint64_t)(s[i++] - '0');
    }
    if (i == len) {
        *steps = v;
        return 0;
    }
    if (i == 0 || ax_duration_parse(s, len, ms) || *ms <= 0) return AX_EINVAL;
    return 0;
}

static int read_all(const char *path, char **buf_out, size_t *len_out) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, ERR_PREFIX "cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (len == cap) {
            if (cap >= MAX_FILE_BYTES) {
                fprintf(stderr, ERR_PREFIX "%s: larger than 1 GiB\n", path);
                rc = 2;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, ERR_PREFIX "cannot read %s: %s\n", path, strerror(errno));
                rc = 2;
            }
            break;
        }
    }
    if (f != stdin) fclose(f);
    if (!rc && !buf) {
        fprintf(stderr, ERR_PREFIX "out of memory reading %s\n", path);
        rc = 1;
    }
    if (rc) {
        free(buf);
        return rc;
    }
    *buf_out = buf;
    *len_out = len;
    return 0;
}

/* Steps from a -horizon/-season element: steps as given, or the duration over the step
 * rounded up (horizon) or to the nearest (season). Prints the error itself. */
static int resolve_steps(const char *flag, const char *s, size_t len, int64_t step_ms, bool round_up,
                         uint64_t *out) {
    uint64_t steps;
    int64_t ms;
    if (parse_steps_or_dur(s, len, &steps, &ms)) {
        fprintf(stderr, ERR_PREFIX "-%s: cannot parse \"%.*s\" (steps like 12, or a duration like "
                        "4h)\n", flag, (int)len, s);
        return 2;
    }
    if (ms) {
        if (!step_ms) {
            fprintf(stderr, ERR_PREFIX "-%s=%.*s: a duration needs timestamps in the input; give "
                            "a number of steps\n", flag, (int)len, s);
            return 2;
        }
        steps = (uint64_t)(round_up ? (ms + step_ms - 1) / step_ms : (ms + step_ms / 2) / step_ms);
    }
    *out = steps;
    return 0;
}

/* The stderr line: model=... periods=... smape=... mase=... points=... [step=...] [note=...]
 * (docs/cli.md). Built in one buffer so it reaches stderr in one write. */
static void print_info(const fc_info *info, const srv_fc_grid *g) {
    char line[512], d[32];
    size_t o = 0, cap = sizeof line;
#define AP(...) \
    do { if (o < cap) o += (size_t)snprintf(line + o, cap - o, __VA_ARGS__); } while (0)
    AP("model=%s periods=", fc_model_name(info->model));
    for (size_t i = 0; i < FC_MAX_PERIODS && info->periods[i]; i++) {
        AP("%s%zu", i ? "," : "", info->periods[i]);
        if (g->step_ms) {
            dur_fmt(d, sizeof d, (int64_t)info->periods[i] * g->step_ms);
            AP("(%s)", d);
        }
    }
    if (!info->periods[0]) AP("none");
    if (isfinite(info->smape)) AP(" smape=%.2f%%", info->smape);
    else AP(" smape=n/a");
    if (isfinite(info->mase)) AP(" mase=%.3f", info->mase);
    else AP(" mase=n/a");
    AP(" points=%zu", g->n);
    if (g->step_ms) {
        dur_fmt(d, sizeof d, g->step_ms);
        AP(" step=%s", d);
    }
    if (info->note[0]) AP(" note=\"%s\"", info->note);
#undef AP
    fprintf(stderr, ERR_PREFIX "%s\n", line);
}

static int emit(FILE *o, const srv_fc_grid *g, int fmt, size_t h, const double *yhat,
                const double *lo, const double *hi) {
    char tb[48], a[40], b[40], c[40];
    fputs(fmt == SRV_TS_NONE ? "step," : "timestamp,", o);
    fputs("yhat,yhat_lower,yhat_upper\n", o);
    for (size_t i = 0; i < h; i++) {
        if (fmt == SRV_TS_NONE) snprintf(tb, sizeof tb, "%zu", i + 1);
        else srv_fc_time_fmt(tb, g->t0_ms + (int64_t)(g->n + i) * g->step_ms, fmt);
        ax_fmt_double(a, yhat[i]);
        ax_fmt_double(b, lo[i]);
        ax_fmt_double(c, hi[i]);
        fprintf(o, "%s,%s,%s,%s\n", tb, a, b, c);
    }
    return fflush(o) || ferror(o) ? 1 : 0;
}

int srv_cli_forecast(int argc, char **argv) {
    cli_cfg c = {.model = "auto", .coverage = "0.8"};
    int rc = srv_cli_flags_parse(argc, argv, CLI_FLAGS, N_CLI_FLAGS, &c, "forecast", "-input=FILE.csv");
    if (rc) return rc;
    if (c.help) {
        cli_usage(stdout, &c);
        return 0;
    }
    if (!c.input || !c.input[0]) {
        fprintf(stderr, ERR_PREFIX "-input=FILE.csv is required (- reads stdin)\n");
        return 2;
    }
    if (!c.horizon) {
        fprintf(stderr, ERR_PREFIX "-horizon=N is required (steps, or a duration like 4h)\n");
        return 2;
    }
    fc_opts fo = {0};
    fo.model = fc_model_parse(c.model, strlen(c.model));
    if (fo.model < 0) {
        fprintf(stderr, ERR_PREFIX "-model: unknown model \"%s\" (auto, seasonal, holt_winters, "
                        "seasonal_naive, drift, linear, naive; prophet and ets are aliases)\n", c.model);
        return 2;
    }
    char *end = NULL;
    fo.coverage = strtod(c.coverage, &end);
    if (!c.coverage[0] || *end || !(fo.coverage > 0 && fo.coverage < 1)) {
        fprintf(stderr, ERR_PREFIX "-coverage must be a number between 0 and 1 (exclusive), not "
                        "\"%s\"\n", c.coverage);
        return 2;
    }
    /* syntax of -horizon and -season before reading a possibly large file */
    uint64_t tmp_steps;
    int64_t tmp_ms;
    if (parse_steps_or_dur(c.horizon, strlen(c.horizon), &tmp_steps, &tmp_ms)) {
        fprintf(stderr, ERR_PREFIX "-horizon: cannot parse \"%s\" (steps like 12, or a duration "
                        "like 4h)\n", c.horizon);
        return 2;
    }

    char *buf = NULL;
    size_t len = 0;
    if ((rc = read_all(c.input, &buf, &len))) return rc;
    srv_fc_input in = {0};
    srv_fc_grid g = {0};
    ax_err err = {0};
    double *res = NULL;
    int prc = srv_fc_csv_parse(buf, len, &in, &err);
    free(buf);
    if (prc) {
        fprintf(stderr, ERR_PREFIX "%s: %s\n", strcmp(c.input, "-") ? c.input : "stdin", err.msg);
        return prc == AX_ENOMEM ? 1 : 2;
    }
    if ((prc = srv_fc_grid_make(&in, &g, &err))) {
        fprintf(stderr, ERR_PREFIX "%s: %s\n", strcmp(c.input, "-") ? c.input : "stdin", err.msg);
        rc = prc == AX_ENOMEM ? 1 : 2;
        goto out;
    }
    fo.step_s = (double)g.step_ms / 1000.0;

    uint64_t h = 0;
    if ((rc = resolve_steps("horizon", c.horizon, strlen(c.horizon), g.step_ms, true, &h))) goto out;
    if (h < 1 || h > SRV_FC_MAX_HORIZON) {
        fprintf(stderr, ERR_PREFIX "-horizon=%s: must be 1 to %d steps (got %llu)\n", c.horizon,
                SRV_FC_MAX_HORIZON, (unsigned long long)h);
        rc = 2;
        goto out;
    }
    if (g.step_ms) { /* the last forecast time must stay formattable (year 9999) */
        int64_t room = (253402300799999LL - g.t0_ms) / g.step_ms;
        if (g.t0_ms > 253402300799999LL || (int64_t)(g.n + h) > room) {
            fprintf(stderr, ERR_PREFIX "-horizon=%s: the forecast would reach past the year 9999\n",
                    c.horizon);
            rc = 2;
            goto out;
        }
    }
    if (c.season && c.season[0]) {
        const char *s = c.season;
        size_t np = 0;
        for (;;) {
            const char *cm = strchr(s, ',');
            size_t l = cm ? (size_t)(cm - s) : strlen(s);
            if (np == FC_MAX_PERIODS) {
                fprintf(stderr, ERR_PREFIX "-season=%s: at most %d periods\n", c.season, FC_MAX_PERIODS);
                rc = 2;
                goto out;
            }
            uint64_t p = 0;
            if ((rc = resolve_steps("season", s, l, g.step_ms, false, &p))) goto out;
            if (p < 2 || p > SRV_FC_MAX_ROWS) {
                fprintf(stderr, ERR_PREFIX "-season=%s: a period must be 2 to %d steps (\"%.*s\" is "
                                "%llu)\n", c.season, SRV_FC_MAX_ROWS, (int)l, s, (unsigned long long)p);
                rc = 2;
                goto out;
            }
            fo.periods[np++] = (size_t)p;
            if (!cm) break;
            s = cm + 1;
        }
    }

    res = malloc(3 * (size_t)h * sizeof *res);
    if (!res) {
        fprintf(stderr, ERR_PREFIX "out of memory\n");
        rc = 1;
        goto out;
    }
    fc_info info;
    int frc = fc_forecast(g.y, g.n, (size_t)h, &fo, res, res + h, res + 2 * h, &info);
    if (frc) {
        fprintf(stderr, ERR_PREFIX "%s\n", frc == FC_ENOMEM ? "out of memory" :
                        "the forecaster refused the input (no finite value on the grid?)");
        rc = frc == FC_ENOMEM ? 1 : 2;
        goto out;
    }
    if (!c.quiet) print_info(&info, &g);
    if (emit(stdout, &g, in.ts_fmt, (size_t)h, res, res + h, res + 2 * h)) {
        fprintf(stderr, ERR_PREFIX "cannot write the output: %s\n", strerror(errno));
        rc = 1;
    }
out:
    free(res);
    free(g.y);
    srv_fc_input_free(&in);
    return rc;
}
