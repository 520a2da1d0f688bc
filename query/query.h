/* query/query.h: PromQL. For now: series selectors, the part of the language that the
 * metadata and export APIs take as match[] (`up`, `{job="node"}`,
 * `node_cpu_seconds_total{mode!="idle",cpu=~"1|2"}`).
 *
 * Strings follow PromQL: "double", 'single' or `raw` quotes; Go escapes in the first two.
 * Regexes are fully anchored, as Prometheus anchors them. Like Prometheus, a selector
 * must have at least one matcher that does not match the empty string.
 * Memory: matcher names and values are allocated in the caller's arena.
 */
#ifndef AX_QUERY_H
#define AX_QUERY_H

#include "core/core.h"
#include "engine/engine.h"

#define PQL_MAX_MATCHERS 64

/* Parse s[0..len) as a series selector. OUT: *out (arena array) and *n_out matchers, with
 * regexes compiled (free them with pql_matchers_free). Returns 0, AX_EINVAL (message with
 * the byte position in e), AX_ENOMEM. */
int pql_selector_parse(const char *s, size_t len, ax_arena *a, eng_matcher **out, size_t *n_out,
                       ax_err *e);
void pql_matchers_free(eng_matcher *m, size_t n);

#endif
