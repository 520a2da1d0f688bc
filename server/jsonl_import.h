/* server/jsonl_import.h: VictoriaMetrics JSON-lines import parser (POST /api/v1/import).
 *
 * Owns: decoding a JSON-lines body into eng_ts/eng_sample (the form eng_write takes), one
 *   series per line with all of that line's samples.
 * Format: https://docs.victoriametrics.com/#how-to-import-data-in-json-line-format
 *     body  = ( line ( '\n' line )* ) where a line may end in '\r'
 *     line  = ws* ( object ws* )?                     (empty lines are skipped)
 *     object = {"metric":{"__name__":"up","job":"x",...},"values":[...],"timestamps":[...]}
 *   Keys in any order, JSON whitespace (space, tab, '\r') anywhere JSON allows it; each of
 *   the three keys exactly once; any other key is skipped whatever its JSON value (objects
 *   and arrays nested at most JL_MAX_DEPTH deep). Strings take every JSON escape; \uXXXX
 *   becomes UTF-8, surrogate pairs combined, a lone surrogate is refused. Raw bytes below
 *   0x20 inside strings are refused; other bytes are not checked (the engine checks UTF-8).
 *     metric     = object of string keys -> string values (label name -> value), in order
 *     values     = array of JSON numbers, the bare tokens NaN Inf +Inf -Inf (as VM export
 *                  writes them) or the strings "NaN" "Inf" "+Inf" "-Inf"; a finite literal
 *                  that rounds to +-Inf is refused
 *     timestamps = array of JSON numbers whose value is an integer in int64 range
 *                  (milliseconds): 1700000000000, -5, also 1.7e12 or 10.0; 1.5 is refused
 *   values and timestamps must have the same length. A line whose arrays are both empty
 *   yields no series (its labels are still checked).
 * Rules: the body is not NUL-terminated; every read is checked against body + len and
 *   nothing is asserted on input. Label names and values are checked only for being
 *   strings and for the caps of core.h (AX_MAX_LABEL_NAME / AX_MAX_LABEL_VALUE bytes after
 *   unescaping, AX_MAX_LABELS labels per resulting series, extras included); syntax, UTF-8,
 *   duplicates and empty values are the engine's business (ax_labels_normalize).
 * Memory: everything returned lives in the caller's arena (eng_ts, label and sample arrays,
 *   unescaped copies of strings that held escapes) or points into `body` (strings without
 *   escapes) or into `extra`; these must outlive the use of the result.
 * Threads: a pure function; run it on a worker thread, never on the loop.
 */
#ifndef SRV_JSONL_IMPORT_H
#define SRV_JSONL_IMPORT_H

#include "core/core.h"
#include "engine/engine.h"

#define JL_MAX_DEPTH 64 /* nesting of skipped values below the line's object */

/* Parse a JSON-lines body of `len` bytes. extra[0..n_extra) (borrowed; validated by the
 * caller) are appended to every series; an extra replaces a metric label of the same name.
 * OUT (only on success): *ts_out = array of *n_out series in body order, one per line that
 * has samples, its samples in line order (unsorted; the engine sorts); labels are the
 * metric's labels in the order given, then the extras; *samples_out = total samples.
 * A body with no series is valid (*n_out = 0, *ts_out = NULL).
 * Returns 0 or, with a message in e (may be NULL), e.g. `line 3: values[2]: bad number
 * "1.2.3"`; the whole body is refused on the first bad line:
 *   AX_EINVAL  bad JSON, a missing or repeated "metric"/"values"/"timestamps", lengths that
 *              differ, a label value that is not a string, a bad value or timestamp, more
 *              than AX_MAX_LABELS labels (extras included), an oversized label name/value;
 *   AX_ETOOBIG the arena budget is too small for the result. */
int srv_jsonl_parse(const char *body, size_t len, const ax_label *extra, size_t n_extra,
                    ax_arena *a, eng_ts **ts_out, size_t *n_out, size_t *samples_out,
                    ax_err *e);

#endif
