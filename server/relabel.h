/* server/relabel.h: Prometheus relabel_config rules (relabel_configs of a scrape job and
 * metric_relabel_configs), as Prometheus 2.42 model/relabel/relabel.go applies them.
 *
 * Owns: one compiled rule (srv_relabel: action, source labels, separator, target label,
 *   regex compiled fully anchored by core's ax_regex, modulus, replacement), its
 *   validation, and applying a list of rules to one label set. MD5 for hashmod is here.
 * Semantics (https://prometheus.io/docs/prometheus/latest/configuration/configuration/
 *   #relabel_config): the values of source_labels (a missing label counts as "") joined
 *   with separator are the input of replace, keep, drop, hashmod, lowercase, uppercase,
 *   keepequal and dropequal; labelmap, labeldrop and labelkeep match label NAMES.
 *     replace    input matches regex: target_label and replacement are expanded ($1,
 *                ${1}, $$; a name that is not a group number expands to ""), then
 *                target := result; an empty result deletes the target label; a target
 *                that is not a valid label name after expansion leaves the set as is.
 *                No match: unchanged.
 *     keep/drop  drop the whole set unless / if the input matches.
 *     keepequal/dropequal  drop the set unless / if input == value of target_label.
 *     hashmod    target := (big-endian uint64 of bytes 8..15 of MD5(input)) % modulus.
 *     lowercase/uppercase  target := input in ASCII lower/upper case (empty deletes it).
 *     labelmap   for each label whose name matches: label (expanded replacement) :=
 *                its value (names invalid after expansion are skipped).
 *     labeldrop/labelkeep  delete every label whose name matches / does not match.
 *   Defaults: action replace, separator ";", regex "(.*)", replacement "$1".
 *   Validation (srv_relabel_init) is Prometheus' Config.Validate: replace, hashmod,
 *   lowercase, uppercase, keepequal and dropequal need target_label (a template of
 *   [a-zA-Z_0-9] and $1/${name} for replace, a plain label name for the others); hashmod
 *   needs modulus > 0; labeldrop/labelkeep take only regex; keepequal/dropequal take only
 *   source_labels and target_label. Action names are case-insensitive.
 * Memory: a rule's strings live in the arena given to srv_relabel_init; the regex is
 *   malloc'd and freed by srv_relabel_fini. Labels produced by srv_relabel_apply point into
 *   the caller's arena, into the input labels, or into the rules' strings, so the rules
 *   and the arena must outlive the resulting label set.
 * Threads: rules are immutable after init; any number of threads may apply them at once.
 */
#ifndef SRV_RELABEL_H
#define SRV_RELABEL_H

#include "core/core.h"

typedef enum srv_relabel_action {
    SRV_RELABEL_REPLACE,
    SRV_RELABEL_KEEP,
    SRV_RELABEL_DROP,
    SRV_RELABEL_HASHMOD,
    SRV_RELABEL_LABELMAP,
    SRV_RELABEL_LABELDROP,
    SRV_RELABEL_LABELKEEP,
    SRV_RELABEL_LOWERCASE,
    SRV_RELABEL_UPPERCASE,
    SRV_RELABEL_KEEPEQUAL,
    SRV_RELABEL_DROPEQUAL,
} srv_relabel_action;

/* One compiled rule. Fields are read-only after srv_relabel_init. */
typedef struct srv_relabel {
    srv_relabel_action action;
    const char **source_labels;
    size_t n_source;
    const char *separator;
    const char *target_label;
    const char *replacement;
    const char *regex_src; /* as written (default "(.*)") */
    ax_regex *regex;
    uint64_t modulus;
} srv_relabel;

/* A rule as written in the config; NULL / 0 fields take the defaults. Strings are
 * NUL-terminated and borrowed (copied by srv_relabel_init). */
typedef struct srv_relabel_spec {
    const char *const *source_labels;
    size_t n_source;
    bool has_source;          /* source_labels given (even as []): for labeldrop checks */
    const char *separator;
    const char *target_label;
    const char *regex;
    const char *replacement;
    const char *action;       /* case-insensitive name, default "replace" */
    uint64_t modulus;
} srv_relabel_spec;

/* Validate and compile spec into *r, copying its strings into a. Returns 0, AX_EINVAL
 * (message in e: unknown action, missing or invalid target_label, zero modulus, extra
 * fields for labeldrop/labelkeep/keepequal/dropequal, invalid source label name, bad
 * regex), AX_ENOMEM. On failure *r holds nothing to free. */
int srv_relabel_init(srv_relabel *r, const srv_relabel_spec *spec, ax_arena *a, ax_err *e);

/* Free the regex of each of rules[0..n). Accepts NULL. */
void srv_relabel_fini(srv_relabel *rules, size_t n);

/* Name of an action ("replace"...). */
const char *srv_relabel_action_name(srv_relabel_action act);

/* Apply rules[0..n) in order to the label set ls[0..*n_ls) (capacity cap; AX_MAX_LABELS
 * is enough for scraped series). New strings go in arena a. OUT: ls and *n_ls updated
 * in place. Returns 1 = keep, 0 = dropped (ls then unspecified), or AX_ENOMEM /
 * AX_ETOOBIG (arena budget), AX_ELIMIT (a rule would need more than cap labels). Label
 * order in and out is not significant; a label whose value becomes "" is removed, and
 * labels that come in with an empty value count as missing. */
int srv_relabel_apply(const srv_relabel *rules, size_t n, ax_label *ls, size_t *n_ls, size_t cap,
                      ax_arena *a);

/* MD5 (RFC 1321) of p[0..len) into out. */
void srv_md5_sum(const void *p, size_t len, uint8_t out[16]);

#endif
