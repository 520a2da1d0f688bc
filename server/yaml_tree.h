/* server/yaml_tree.h: a YAML document as a small tree, for strict config walkers
 * (server/scrape_config.c, server/rules.c).
 *
 * Owns: turning libyaml's event stream into nodes (scalars, sequences, mappings), each
 *   with its 1-based line, and the lookups a walker needs (keys, shapes, nulls).
 * Rules: aliases, a second document, more than SRV_YN_MAX_NODES nodes and nesting past
 *   SRV_YN_MAX_DEPTH are refused while building, so a walker never meets them. A mapping's
 *   children alternate key, value, key, value...; srv_yn_map_check() must pass before a
 *   walker trusts that its keys are unique scalars.
 * Errors: AX_EINVAL with "line N: ..." (YAML syntax errors carry libyaml's problem),
 *   AX_ENOMEM. Messages never quote a scalar's value.
 * Memory: every node and string lives in the caller's arena; drop the tree with
 *   ax_arena_clear. The tree is immutable once built.
 */
#ifndef SRV_YAML_TREE_H
#define SRV_YAML_TREE_H

#include "core/core.h"

#define SRV_YN_MAX_DEPTH 64
#define SRV_YN_MAX_KEYS 1000    /* keys in one mapping */
#define SRV_YN_MAX_NODES 200000 /* YAML nodes in one document */

enum { SRV_YN_SCALAR, SRV_YN_SEQ, SRV_YN_MAP };

typedef struct srv_yn srv_yn;
struct srv_yn {
    int kind;      /* SRV_YN_* */
    int line;      /* 1-based */
    bool null_;    /* a plain "", "~" or "null" scalar */
    bool quoted;   /* a quoted scalar (never a bool, number or null) */
    const char *s; /* scalar bytes, NUL-terminated (may hold NULs before len) */
    size_t len;
    srv_yn *kid, *last, *next; /* children: sequence items, or key, value, key, value... */
    size_t n;                  /* number of children (twice the keys for a mapping) */
};

/* Build the tree of text[0..len) in arena a. OUT: *root (NULL for an empty document).
 * Returns 0, AX_EINVAL (message "line N: ..." in e), AX_ENOMEM. */
int srv_yaml_tree(const char *text, size_t len, ax_arena *a, srv_yn **root, ax_err *e);

/* "a mapping", "a list" or "a scalar". */
const char *srv_yn_kind_name(const srv_yn *n);

/* n is a null scalar (plain "", "~", "null"). */
bool srv_yn_is_null(const srv_yn *n);

/* Key node k spells s exactly. */
bool srv_yn_key_is(const srv_yn *k, const char *s);

/* Check that m is a mapping of at most SRV_YN_MAX_KEYS unique scalar keys. Returns NULL
 * when it is; else the offending node, with the problem written to msg[0..cap) (e.g.
 * `duplicate key "job_name"`, without the line). */
const srv_yn *srv_yn_map_check(const srv_yn *m, char *msg, size_t cap);

/* The value of key `key` in mapping m (checked), or NULL. */
const srv_yn *srv_yn_get(const srv_yn *m, const char *key);

#endif
