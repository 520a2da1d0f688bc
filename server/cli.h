/* server/cli.h: subcommands that run without a server (`auspex forecast ...`; `auspex
 * backtest` is in server/backtest.h), and their shared flag parser.
 *
 * Owns: the `auspex forecast` command line (docs/cli.md): reading a CSV series, finding its
 *   timestamp format and step, putting it on a regular grid, calling fc_forecast and printing
 *   the forecast as CSV. The parsing pieces are declared here so unit tests can reach them.
 * Input format (docs/cli.md has the full rules):
 *     file  = [BOM] [header] row*        rows end in '\n' or "\r\n"; fields are trimmed of
 *                                        spaces/tabs and of one pair of double quotes
 *     row   = timestamp ',' value        (every row of a file), or
 *           = value                      (one value per line, regular steps)
 *     timestamp = RFC 3339 ("2024-05-01T10:00:00Z", offsets and fractions allowed)
 *               | "YYYY-MM-DD HH:MM:SS" (UTC) | Unix seconds ("1714557600", "1714557600.5");
 *                 all rows in the same one of these three families
 *     value = a decimal number | "" | NaN | NA | null     (the last four are gaps)
 *   The first non-blank line is a header when its first field is not a timestamp (two
 *   fields) or a value (one field). Blank lines are skipped, except between single values,
 *   where each is a gap. Lines longer than SRV_FC_MAX_LINE bytes, +-Inf, more than two
 *   fields and a mix of families are errors naming the line.
 * Threads: plain functions, no global state.
 */
#ifndef SRV_CLI_H
#define SRV_CLI_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SRV_FC_MAX_LINE 4096        /* bytes in one input line */
#define SRV_FC_MAX_ROWS 10000000    /* data rows, and also grid points after resampling */
#define SRV_FC_MAX_HORIZON 1000000  /* forecast steps */

/* Timestamp families: how the input wrote its timestamps, and so how the output does. */
enum { SRV_TS_NONE, SRV_TS_RFC3339, SRV_TS_SPACE, SRV_TS_UNIX };

/* A parsed input file. t_ms is NULL for SRV_TS_NONE (values only). */
typedef struct srv_fc_input {
    int64_t *t_ms;   /* Unix milliseconds, in file order */
    double *y;       /* NaN = gap */
    size_t n;        /* rows (gaps included) */
    int ts_fmt;      /* SRV_TS_* */
    int header;      /* 1 when the first line was taken as a header */
} srv_fc_input;

/* Parse buf[0..len) (not NUL-terminated, any bytes). OUT: *out (free with
 * srv_fc_input_free). Returns 0, AX_EINVAL ("line 7: ..." in e; also for no data rows and
 * for no finite value), AX_ELIMIT (more than SRV_FC_MAX_ROWS rows), AX_ENOMEM. */
int srv_fc_csv_parse(const char *buf, size_t len, srv_fc_input *out, ax_err *e);
void srv_fc_input_free(srv_fc_input *in);

/* A series on a regular grid: y[i] at t0_ms + i * step_ms (step_ms 0 for values only). */
typedef struct srv_fc_grid {
    double *y;
    size_t n;
    int64_t t0_ms, step_ms;
} srv_fc_grid;

/* Put `in` on a regular grid. Values only: the values as they are. With timestamps: sort
 * rows by time (stable: of equal times the later row wins), step = the median of the
 * positive differences between consecutive timestamps, grid from the first timestamp to
 * the last; each grid point g takes the newest row in (g - step/2, g + step/2], else NaN
 * (fc_resample on a grid shifted by half a step), so jitter below half a step is harmless.
 * OUT: *out (free out->y). Returns 0, AX_EINVAL (fewer than two distinct timestamps),
 * AX_ELIMIT (more than SRV_FC_MAX_ROWS grid points), AX_ENOMEM. */
int srv_fc_grid_make(const srv_fc_input *in, srv_fc_grid *out, ax_err *e);

/* Format t_ms in family fmt (SRV_TS_RFC3339: "2024-05-01T10:00:00Z", SRV_TS_SPACE:
 * "2024-05-01 10:00:00", SRV_TS_UNIX: "1714557600"; milliseconds appended only when not
 * zero: ".5", ".250"). Writes at most 40 bytes plus NUL. Returns the length. */
size_t srv_fc_time_fmt(char *out, int64_t t_ms, int fmt);

/* ---- flags of the subcommands (server/cli_flags.c) ----
 * A table of -name=value flags written into a caller's config struct: string flags store a
 * pointer into argv (at str_off), switches a bool (at bool_off; -x, -x=true|1|false|0).
 * `-name value` and `--name=value` work too. */
typedef struct srv_cli_flag {
    const char *name;
    size_t str_off;  /* offsetof a const char * in the config, or */
    size_t bool_off; /* offsetof a bool */
    bool is_bool;
    const char *help;
} srv_cli_flag;

/* Parse argv[1..argc) into cfg. Messages go to stderr as "auspex <cmd>: ...", an
 * unexpected argument's hint shows `example`. Returns 0, or 2 (the exit status) on a bad
 * flag. */
int srv_cli_flags_parse(int argc, char **argv, const srv_cli_flag *flags, size_t n, void *cfg,
                        const char *cmd, const char *example);
/* Print each flag with its current value (the default) and help. */
void srv_cli_flags_usage(FILE *f, const srv_cli_flag *flags, size_t n, const void *cfg);

/* `auspex forecast [flags]`: argv[0] is "forecast". Prints the forecast on stdout and one
 * info line on stderr. Returns the exit status: 0, 2 (bad flags or input; one line on
 * stderr), 1 (out of memory, write error). */
int srv_cli_forecast(int argc, char **argv);

#endif
