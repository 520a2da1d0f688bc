/* server/metadata.h: metric metadata (# HELP, # TYPE, # UNIT) seen in text imports and
 * scrapes, served by GET /api/v1/metadata in Prometheus' shape.
 *
 * Owns: an in-memory table metric family name -> type, help, unit, the latest seen
 *   winning. Like Prometheus, which answers /api/v1/metadata from its scrape caches, the
 *   table is not persisted: it fills again as imports and scrapes arrive.
 * Rules: input is untrusted text exposition; lines that are not well-formed HELP/TYPE/UNIT
 *   comments are ignored (the sample parser is the one that refuses bodies). Names must
 *   be valid metric names; help texts are unescaped (\\ and \n) and capped at 4 KiB; the
 *   table holds at most `max_families` names (further new names are not added).
 * Threads: every function may be called from any thread (one mutex).
 */
#ifndef SRV_METADATA_H
#define SRV_METADATA_H

#include "core/core.h"

typedef struct srv_meta srv_meta;

/* A table for at most max_families names. Returns NULL when out of memory. */
srv_meta *srv_meta_new(size_t max_families);
void srv_meta_free(srv_meta *m); /* accepts NULL */

/* Scan a text exposition body for "# HELP name text", "# TYPE name type" and
 * "# UNIT name unit" lines and record them. Types are stored as Prometheus reports them:
 * counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown ("untyped"
 * becomes "unknown"). Returns the number of lines recorded. */
size_t srv_meta_observe(srv_meta *m, const char *body, size_t len);

/* Append the "data" object of /api/v1/metadata to out:
 * {"name":[{"type":"gauge","help":"…","unit":""}],…}, names sorted; only `metric` when it
 * is not NULL; at most `limit` names when limit > 0. Returns 0 or AX_ETOOBIG/AX_ENOMEM. */
int srv_meta_write_json(srv_meta *m, const char *metric, size_t metric_len, size_t limit, ax_buf *out);

/* Number of names in the table. */
size_t srv_meta_count(srv_meta *m);

#endif
