/* server/csv.h: VictoriaMetrics' CSV import (POST /api/v1/import/csv?format=...) and export
 * (GET /api/v1/export/csv?format=...&match[]=...); the export is at the end of this file.
 *
 * Owns: reading the `format` description and decoding a CSV body into eng_ts/eng_sample
 *   (the form eng_write takes). Reference: docs/csv.md.
 * Format description: comma-separated entries `<column>:<type>:<context>`, column counted
 *   from 1, each column at most once, at least one metric column, at most one time column:
 *     N:metric:<name>   the column holds values of metric <name>; an empty field: no sample
 *     N:label:<name>    the column holds the value of label <name> (empty: no such label)
 *     N:time:<how>      the sample time: unix_s, unix_ms, unix_ns (integers; unix_s may have
 *                       a fraction), rfc3339, or custom:<Go layout> (docs/csv.md lists
 *                       the layout elements understood). Without a time column every
 *                       sample gets the time of the request.
 * Body: lines ending in '\n' (a '\r' before it is dropped; empty lines are skipped); fields
 *   separated by ','; a field may be double-quoted, with "" for a quote inside (a quoted
 *   field cannot span lines). A line needs at least as many fields as the highest column
 *   of the description; further fields are ignored. Each line gives one sample per metric
 *   column with a non-empty field, labelled __name__ = the metric, the label columns, then
 *   the extras.
 * Rules: all or nothing: the first bad line refuses the whole body, with its number
 *   (VictoriaMetrics skips bad lines and logs them). Values in Go's ParseFloat syntax (as
 *   the text format). Every read is bounds-checked against body + len, nothing asserted on
 *   input; the body is not NUL-terminated.
 * Memory: results in the caller's arena, or pointing into `body`, the description and
 *   `extra`, which must outlive their use. Threads: pure functions, for worker threads.
 */
#ifndef SRV_CSV_H
#define SRV_CSV_H

#include "core/core.h"
#include "engine/engine.h"

#define CSV_MAX_COLUMNS 1024 /* highest column number a description may name */
#define CSV_MAX_LAYOUT 256   /* bytes of a custom: time layout */

typedef struct srv_csv_format srv_csv_format;

/* Read a format description s[0..len) into *out (allocated in a, pointing into s).
 * Returns 0 or AX_EINVAL with the entry at fault in e, e.g. `entry #2 "x": want
 * <column>:<type>:<context>`; AX_ETOOBIG when the arena is spent. */
int srv_csv_format_parse(const char *s, size_t len, ax_arena *a, srv_csv_format **out, ax_err *e);

/* Parse a CSV body with format f. now_ms: the time of samples when f has no time column.
 * extra[0..n_extra) are appended to every series (an extra replaces a label column of the
 * same name). OUT (on success): *ts_out = *n_out series, grouped by metric column and then
 * in line order, one per line and metric (consecutive lines with the same labels are runs
 * the caller may merge); *samples_out = samples. Returns 0, AX_EINVAL (`line 3: ...`), or
 * AX_ETOOBIG (arena spent). */
int srv_csv_parse(const srv_csv_format *f, const char *body, size_t len, int64_t now_ms,
                  const ax_label *extra, size_t n_extra, ax_arena *a, eng_ts **ts_out,
                  size_t *n_out, size_t *samples_out, ax_err *e);

/* Parse a time t[0..len) with a Go layout lay[0..lay_len) (the custom: form). OUT: *ms.
 * Returns 0 or AX_EINVAL. Exposed for tests. */
int srv_csv_time_layout(const char *lay, size_t lay_len, const char *t, size_t len, int64_t *ms);

/* ---- export ----
 * Format: comma-separated fields, each `__name__`, `__value__`, `__timestamp__:<how>` (how:
 * unix_s, unix_ms, unix_ns, rfc3339, custom:<Go layout>, as VictoriaMetrics writes them:
 * seconds cut, rfc3339 without a fraction) or a label name. One line per sample, the fields
 * in that order; an absent label is an empty field; a field holding ',', '"', '\r' or '\n'
 * is written as a Go-quoted string ("a \"b\""), as VictoriaMetrics does; values in Go's 'f'
 * format (0.0000001, +Inf, NaN). */
typedef struct srv_csv_out srv_csv_out;

/* Read an export format s[0..len) into *out (arena a; points into s). Returns 0 or AX_EINVAL
 * with the reason in e, AX_ETOOBIG when the arena is spent. */
int srv_csv_out_parse(const char *s, size_t len, ax_arena *a, srv_csv_out **out, ax_err *e);

/* Append one line per sample (ts[i], v[i]) of the series with canonical label bytes
 * labels[0..len) to b. Returns 0, AX_ETOOBIG (b's cap) or AX_ECORRUPT (labels). */
int srv_csv_out_lines(ax_buf *b, const srv_csv_out *f, const uint8_t *labels, size_t len, const int64_t *ts,
                      const double *v, size_t n);

/* Format ms with Go layout lay[0..lay_len) in UTC into out[0..cap). Returns the length
 * (cut at cap - 1). Exposed for tests. */
size_t srv_csv_time_format(const char *lay, size_t lay_len, int64_t ms, char *out, size_t cap);

#endif
