/* server/text_import.h: Prometheus text exposition format parser (POST
 * /api/v1/import/prometheus).
 *
 * Owns: decoding a text exposition body into eng_ts/eng_sample (the form eng_write takes),
 *   one series with one sample per sample line.
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4)
 *   and the OpenMetrics text subset that matters for import:
 *     line    = ws* ( sample | '#' anything | '' ) ws* ('\r')? '\n'
 *     sample  = metric_name ws* ( '{' labels '}' )? ws+ value ( ws+ timestamp )? ws*
 *     labels  = ws* ( label ws* ',' ws* )* ( label ws* )? ws*      (trailing comma allowed)
 *     label   = label_name ws* '=' ws* '"' escaped '"'              (escapes \\ \" \n only)
 *     value   = Go strconv.ParseFloat syntax: decimal with optional sign and exponent,
 *               hex floats with a 'p' exponent, Inf/Infinity/NaN in any case, signed Inf
 *     timestamp = optional sign and decimal digits: int64 milliseconds
 *   ws is space or tab. Comments (# HELP, # TYPE, any other '#' line) and empty lines are
 *   skipped; a line "# EOF" ends the input (what follows is ignored). The last line need
 *   not end in '\n'. Not supported: `{__name__="x"}` lines without a metric name,
 *   OpenMetrics float-second timestamps and exemplars (rejected as garbage).
 * Rules: the body is not NUL-terminated; every read is checked against body + len and
 *   nothing is asserted on input. Label names are checked for syntax only, values not at
 *   all (UTF-8 and empty values are the engine's business, see ax_labels_normalize). The
 *   caps of core.h apply: AX_MAX_LABELS labels per resulting series (__name__ and extras
 *   included), AX_MAX_LABEL_NAME / AX_MAX_LABEL_VALUE bytes.
 * Memory: everything returned lives in the caller's arena (the eng_ts, label and sample
 *   arrays, unescaped copies of label values that held escapes) or points into `body`
 *   (names, values without escapes) or into `extra`; all of these must outlive the use of
 *   the result. Nothing is malloc'd outside the arena.
 * Threads: a pure function; run it on a worker thread, never on the loop (STYLE.md 1, 8).
 */
#ifndef SRV_TEXT_IMPORT_H
#define SRV_TEXT_IMPORT_H

#include "core/core.h"
#include "engine/engine.h"

/* Parse a text exposition body of `len` bytes. Samples without a timestamp get
 * default_ts_ms. extra[0..n_extra) (borrowed; validated by the caller) are appended to
 * every series; an extra label replaces a line label (or the metric name, for __name__)
 * of the same name.
 * OUT (only on success): *ts_out = array of *n_out series in body order, each with one
 * sample; labels in the order __name__, the line's labels as written, the extras;
 * *samples_out = total samples (= *n_out). A body with no sample lines is valid
 * (*n_out = 0, *ts_out = NULL).
 * Returns 0 or, with a message in e (may be NULL) naming the 1-based line and the fault,
 * e.g. `line 3: expected '=' after label name "job"`; the whole body is refused on the
 * first bad line:
 *   AX_EINVAL  syntax error, unparsable value or timestamp, more than AX_MAX_LABELS
 *              labels, an oversized label name or value;
 *   AX_ETOOBIG the arena budget is too small for the result;
 *   AX_ENOMEM  malloc failed below the arena budget. */
/* A number in Go's ParseFloat syntax (no underscores; inf/infinity/nan in any case, hex
 * floats), as the exposition format's values: true and *out, or false with *range set when
 * a finite literal rounds to +-Inf (refused). At most 400 bytes are converted. */
bool srv_parse_go_float(const char *s, size_t len, double *out, bool *range);

int srv_text_parse(const char *body, size_t len, int64_t default_ts_ms, const ax_label *extra,
                   size_t n_extra, ax_arena *a, eng_ts **ts_out, size_t *n_out,
                   size_t *samples_out, ax_err *e);

#endif
