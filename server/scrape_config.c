/* server/scrape_config.c: scrape config YAML -> srv_scrape_config -> srv_scrape_target[].
 *
 * Two passes. First libyaml's event stream becomes a small tree (server/yaml_tree.h:
 * scalars, sequences, mappings, each with its 1-based line) in a scratch arena; aliases,
 * a second document and nesting past SRV_YN_MAX_DEPTH are refused there, so the walk
 * never meets them. Then
 * one function per YAML object walks its mapping strictly: every key must be known,
 * appear once and have the right shape, and every error names the line and the key path
 * (`scrape_configs[1].basic_auth`). The walk copies what it keeps into the config's own
 * arena, so the tree is dropped in one call at the end.
 *
 * Secrets: the helpers that take a value never print it; only durations, booleans,
 * numbers, schemes and names are echoed, and secret fields go through get_str, which
 * prints nothing of the value.
 *
 * Targets: for each static target, the label set of populateLabels (Prometheus 2.42) is
 * built, relabel_configs applied, the default port added, and the result checked and
 * copied into one malloc'd block per target (labels array followed by their strings).
 */
#include "server/scrape_config.h"
#include "server/yaml_tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SC_MAX_SECRET_FILE (64u << 10)
#define SC_MAX_LABELS 256           /* labels in one labels/external_labels map */
#define SC_TARGET_LABEL_CAP 512

typedef srv_yn yn;

/* ---- walking helpers ---- */

typedef struct sc {
    ax_arena *a;        /* the config's arena: what we keep */
    ax_err *e;
    const char *base;   /* folder for relative secret files, or NULL */
    size_t n_targets;
} sc;

static int bad(sc *c, const yn *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(sc *c, const yn *n, const char *path, const char *fmt, ...) {
    char m[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (path && *path) return ax_err_set(c->e, AX_EINVAL, "line %d: %s: %s", n ? n->line : 1, path, m);
    return ax_err_set(c->e, AX_EINVAL, "line %d: %s", n ? n->line : 1, m);
}

static int nomem(sc *c) { return ax_err_set(c->e, AX_ENOMEM, "scrape config: out of memory"); }

static const char *kind_name(const yn *n) { return srv_yn_kind_name(n); }

/* Check that map is a mapping with scalar, unique keys (at most SRV_YN_MAX_KEYS). */
static int check_map(sc *c, const yn *m, const char *path) {
    char msg[160];
    const yn *at = srv_yn_map_check(m, msg, sizeof msg);
    return at ? bad(c, at, path, "%s", msg) : 0;
}

static bool key_is(const yn *k, const char *s) { return srv_yn_key_is(k, s); }

static char *dup_arena(sc *c, const char *s, size_t n) {
    char *d = ax_arena_alloc(c->a, n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

/* A string value (any scalar; null leaves *out as is). The value is never printed. */
static int get_str(sc *c, const yn *v, const char *path, const char *key, char **out) {
    if (v->kind != SRV_YN_SCALAR) return bad(c, v, path, "\"%s\" must be a string, got %s", key, kind_name(v));
    if (v->null_) return 0;
    if (memchr(v->s, 0, v->len)) return bad(c, v, path, "\"%s\" contains a NUL byte", key);
    *out = dup_arena(c, v->s, v->len);
    return *out ? 0 : nomem(c);
}

static int get_bool(sc *c, const yn *v, const char *path, const char *key, bool *out) {
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (v->kind == SRV_YN_SCALAR && v->null_) return 0;
    if (v->kind == SRV_YN_SCALAR && !v->quoted)
        for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
            if (!strcmp(v->s, t[i])) { *out = true; return 0; }
            if (!strcmp(v->s, f[i])) { *out = false; return 0; }
        }
    if (v->kind != SRV_YN_SCALAR) return bad(c, v, path, "\"%s\" must be true or false, got %s", key, kind_name(v));
    return bad(c, v, path, "\"%s\" must be true or false, got \"%.32s\"", key, v->s);
}

static int get_uint(sc *c, const yn *v, const char *path, const char *key, uint64_t *out) {
    if (v->kind == SRV_YN_SCALAR && v->null_) return 0;
    if (v->kind != SRV_YN_SCALAR) return bad(c, v, path, "\"%s\" must be a number, got %s", key, kind_name(v));
    uint64_t x = 0;
    bool ok = v->len > 0 && v->len <= 19;
    for (size_t i = 0; ok && i < v->len; i++) {
        if (v->s[i] < '0' || v->s[i] > '9') ok = false;
        else x = x * 10 + (uint64_t)(v->s[i] - '0');
    }
    if (!ok) return bad(c, v, path, "\"%s\" must be a non-negative integer, got \"%.32s\"", key, v->s);
    *out = x;
    return 0;
}

/* Prometheus' model.ParseDuration: "0" or digit+unit groups (y w d h m s ms), no sign,
 * fraction or bare number (which ax_duration_parse would take as seconds). */
static bool prom_duration(const char *s, size_t len, int64_t *ms) {
    if (len == 1 && s[0] == '0') { *ms = 0; return true; }
    if (!len || s[len - 1] < 'a' || s[len - 1] > 'z') return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z'))) return false;
    return ax_duration_parse(s, len, ms) == 0;
}

/* A duration value. Null leaves *ms. */
static int get_duration(sc *c, const yn *v, const char *path, const char *key, int64_t *ms) {
    if (v->kind == SRV_YN_SCALAR && v->null_) return 0;
    if (v->kind != SRV_YN_SCALAR) return bad(c, v, path, "\"%s\" must be a duration, got %s", key, kind_name(v));
    int64_t x;
    if (!prom_duration(v->s, v->len, &x))
        return bad(c, v, path, "\"%s\": not a valid duration \"%.32s\" (use e.g. 15s, 1m, 1h30m)", key, v->s);
    *ms = x;
    return 0;
}

/* A list of strings; null is an empty list. */
static int get_str_list(sc *c, const yn *v, const char *path, const char *key, char ***out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (v->kind == SRV_YN_SCALAR && v->null_) return 0;
    if (v->kind != SRV_YN_SEQ) return bad(c, v, path, "\"%s\" must be a list, got %s", key, kind_name(v));
    char **arr = v->n ? ax_arena_alloc(c->a, v->n * sizeof *arr) : NULL;
    if (v->n && !arr) return nomem(c);
    size_t i = 0;
    for (const yn *it = v->kid; it; it = it->next, i++) {
        if (it->kind != SRV_YN_SCALAR || it->null_)
            return bad(c, it, path, "\"%s\"[%zu] must be a string", key, i);
        arr[i] = NULL;
        int rc = get_str(c, it, path, key, &arr[i]);
        if (rc) return rc;
    }
    *out = arr;
    *n_out = v->n;
    return 0;
}

/* A label map {name: value}; names must be valid label names. */
static int get_labels(sc *c, const yn *v, const char *path, const char *key, ax_label **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (v->kind == SRV_YN_SCALAR && v->null_) return 0;
    char p[160];
    snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", key);
    int rc = check_map(c, v, p);
    if (rc) return rc;
    size_t n = v->n / 2;
    if (n > SC_MAX_LABELS) return bad(c, v, p, "more than %d labels", SC_MAX_LABELS);
    ax_label *ls = n ? ax_arena_alloc(c->a, n * sizeof *ls) : NULL;
    if (n && !ls) return nomem(c);
    size_t i = 0;
    for (const yn *k = v->kid; k && k->next; k = k->next->next, i++) {
        const yn *val = k->next;
        if (!ax_label_name_valid(k->s, k->len)) return bad(c, k, p, "\"%.64s\" is not a valid label name", k->s);
        if (val->kind != SRV_YN_SCALAR) return bad(c, val, p, "value of \"%.64s\" must be a string", k->s);
        if (memchr(val->s, 0, val->len)) return bad(c, val, p, "value of \"%.64s\" contains a NUL byte", k->s);
        if (!ax_utf8_valid(val->s, val->len)) return bad(c, val, p, "value of \"%.64s\" is not valid UTF-8", k->s);
        char *name = dup_arena(c, k->s, k->len);
        char *value = dup_arena(c, val->null_ ? "" : val->s, val->null_ ? 0 : val->len);
        if (!name || !value) return nomem(c);
        ls[i] = (ax_label){name, value, (uint32_t)k->len, (uint32_t)strlen(value)};
    }
    *out = ls;
    *n_out = n;
    return 0;
}

/* An empty section: null, [] or {}. */
static bool is_empty(const yn *v) { return (v->kind == SRV_YN_SCALAR && v->null_) || (v->kind != SRV_YN_SCALAR && v->n == 0); }

/* Read a secret file (trimmed as Go's strings.TrimSpace does for ASCII space). */
static int read_secret(sc *c, const yn *v, const char *path, const char *key, const char *file, char **out) {
    char full[4096];
    if (c->base && file[0] != '/') snprintf(full, sizeof full, "%s/%s", c->base, file);
    else snprintf(full, sizeof full, "%s", file);
    FILE *f = fopen(full, "rb");
    if (!f) return ax_err_set(c->e, AX_EIO, "line %d: %s: cannot read %s \"%.200s\": %s", v->line, path, key, full,
                              strerror(errno));
    char *buf = ax_arena_alloc(c->a, SC_MAX_SECRET_FILE + 1);
    if (!buf) { fclose(f); return nomem(c); }
    size_t n = fread(buf, 1, SC_MAX_SECRET_FILE + 1, f);
    bool err = ferror(f);
    fclose(f);
    if (err) return ax_err_set(c->e, AX_EIO, "line %d: %s: cannot read %s \"%.200s\"", v->line, path, key, full);
    if (n > SC_MAX_SECRET_FILE)
        return ax_err_set(c->e, AX_EINVAL, "line %d: %s: %s \"%.200s\" is larger than 64 KB", v->line, path, key, full);
    size_t b = 0;
    while (b < n && (buf[b] == ' ' || (buf[b] >= '\t' && buf[b] <= '\r'))) b++;
    while (n > b && (buf[n - 1] == ' ' || (buf[n - 1] >= '\t' && buf[n - 1] <= '\r'))) n--;
    memmove(buf, buf + b, n - b);
    buf[n - b] = 0;
    *out = buf;
    return 0;
}

/* ---- relabel_configs ---- */

static int parse_relabel_one(sc *c, const yn *m, const char *path, srv_relabel *r) {
    int rc = check_map(c, m, path);
    if (rc) return rc;
    srv_relabel_spec sp;
    memset(&sp, 0, sizeof sp);
    char **src = NULL, *sep = NULL, *tl = NULL, *re = NULL, *rep = NULL, *act = NULL;
    for (const yn *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const yn *v = k->next;
        if (key_is(k, "source_labels")) {
            rc = get_str_list(c, v, path, "source_labels", &src, &sp.n_source);
            sp.has_source = !(v->kind == SRV_YN_SCALAR && v->null_);
        } else if (key_is(k, "separator")) rc = get_str(c, v, path, "separator", &sep);
        else if (key_is(k, "target_label")) rc = get_str(c, v, path, "target_label", &tl);
        else if (key_is(k, "regex")) {
            rc = get_str(c, v, path, "regex", &re);
            if (!rc && !re) re = "";
        } else if (key_is(k, "modulus")) rc = get_uint(c, v, path, "modulus", &sp.modulus);
        else if (key_is(k, "replacement")) rc = get_str(c, v, path, "replacement", &rep);
        else if (key_is(k, "action")) rc = get_str(c, v, path, "action", &act);
        else rc = bad(c, k, path, "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    sp.source_labels = (const char *const *)src;
    sp.separator = sep;
    sp.target_label = tl;
    sp.regex = re;
    sp.replacement = rep;
    sp.action = act;
    ax_err re_err = {0};
    rc = srv_relabel_init(r, &sp, c->a, &re_err);
    if (rc == AX_EINVAL) return bad(c, m, path, "%s", re_err.msg);
    if (rc) return ax_err_set(c->e, rc, "%s", re_err.msg);
    return 0;
}

static int parse_relabel_list(sc *c, const yn *v, const char *path, const char *key, srv_relabel **out,
                              size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (v->kind == SRV_YN_SCALAR && v->null_) return 0;
    if (v->kind != SRV_YN_SEQ) return bad(c, v, path, "\"%s\" must be a list, got %s", key, kind_name(v));
    srv_relabel *rs = v->n ? ax_arena_alloc(c->a, v->n * sizeof *rs) : NULL;
    if (v->n && !rs) return nomem(c);
    size_t i = 0;
    int rc = 0;
    for (const yn *it = v->kid; it && !rc; it = it->next, i++) {
        char p[200];
        snprintf(p, sizeof p, "%s%s%s[%zu]", path, *path ? "." : "", key, i);
        rc = parse_relabel_one(c, it, p, &rs[i]);
        if (rc) srv_relabel_fini(rs, i);
    }
    if (rc) return rc;
    *out = rs;
    *n_out = v->n;
    return 0;
}

/* ---- jobs ---- */

static int parse_basic_auth(sc *c, const yn *m, const char *path, srv_scrape_job *j) {
    int rc = check_map(c, m, path);
    char *pass = NULL, *file = NULL;
    const yn *fnode = m;
    for (const yn *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const yn *v = k->next;
        if (key_is(k, "username")) rc = get_str(c, v, path, "username", &j->basic_user);
        else if (key_is(k, "password")) rc = get_str(c, v, path, "password", &pass);
        else if (key_is(k, "password_file")) { rc = get_str(c, v, path, "password_file", &file); fnode = v; }
        else rc = bad(c, k, path, "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (pass && file && *file) return bad(c, m, path, "at most one of basic_auth password & password_file must be configured");
    if (file && *file) rc = read_secret(c, fnode, path, "password_file", file, &pass);
    j->basic_pass = pass;
    return rc;
}

static int parse_authorization(sc *c, const yn *m, const char *path, srv_scrape_job *j) {
    int rc = check_map(c, m, path);
    char *type = NULL, *cred = NULL, *file = NULL;
    const yn *fnode = m;
    for (const yn *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const yn *v = k->next;
        if (key_is(k, "type")) rc = get_str(c, v, path, "type", &type);
        else if (key_is(k, "credentials")) rc = get_str(c, v, path, "credentials", &cred);
        else if (key_is(k, "credentials_file")) { rc = get_str(c, v, path, "credentials_file", &file); fnode = v; }
        else rc = bad(c, k, path, "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (type && !strcasecmp(type, "basic"))
        return bad(c, m, path, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
    if (type && (!*type || strpbrk(type, " \r\n")))
        return bad(c, m, path, "invalid authorization type");
    if (cred && file && *file) return bad(c, m, path, "at most one of authorization credentials & credentials_file must be configured");
    if (file && *file && (rc = read_secret(c, fnode, path, "credentials_file", file, &cred))) return rc;
    j->bearer_token = cred;
    j->auth_type = cred ? (type ? type : "Bearer") : NULL;
    return 0;
}

static int parse_tls(sc *c, const yn *m, const char *path, srv_scrape_job *j) {
    int rc = check_map(c, m, path);
    for (const yn *k = m->kid; k && k->next && !rc; k = k->next->next) {
        if (key_is(k, "insecure_skip_verify")) rc = get_bool(c, k->next, path, "insecure_skip_verify", &j->insecure_skip_verify);
        else rc = bad(c, k, path, "\"%.64s\" is not supported by auspex (only insecure_skip_verify)", k->s);
    }
    return rc;
}

static int parse_params(sc *c, const yn *m, const char *path, srv_scrape_job *j) {
    if (m->kind == SRV_YN_SCALAR && m->null_) return 0;
    int rc = check_map(c, m, path);
    if (rc) return rc;
    size_t n = m->n / 2;
    j->params = n ? ax_arena_alloc(c->a, n * sizeof *j->params) : NULL;
    if (n && !j->params) return nomem(c);
    size_t i = 0;
    for (const yn *k = m->kid; k && k->next && !rc; k = k->next->next, i++) {
        srv_scrape_param *pp = &j->params[i];
        if (!(pp->name = dup_arena(c, k->s, k->len))) return nomem(c);
        if (memchr(k->s, 0, k->len)) return bad(c, k, path, "parameter name contains a NUL byte");
        rc = get_str_list(c, k->next, path, pp->name, &pp->values, &pp->n_values);
    }
    j->n_params = n;
    return rc;
}

static int parse_static(sc *c, const yn *v, const char *path, srv_scrape_job *j) {
    if (v->kind == SRV_YN_SCALAR && v->null_) return 0;
    if (v->kind != SRV_YN_SEQ) return bad(c, v, path, "\"static_configs\" must be a list, got %s", kind_name(v));
    j->static_configs = v->n ? ax_arena_alloc(c->a, v->n * sizeof *j->static_configs) : NULL;
    if (v->n && !j->static_configs) return nomem(c);
    size_t i = 0;
    int rc = 0;
    for (const yn *it = v->kid; it && !rc; it = it->next, i++) {
        char p[200];
        snprintf(p, sizeof p, "%s.static_configs[%zu]", path, i);
        srv_static_config *s = &j->static_configs[i];
        memset(s, 0, sizeof *s);
        if ((rc = check_map(c, it, p))) break;
        for (const yn *k = it->kid; k && k->next && !rc; k = k->next->next) {
            if (key_is(k, "targets")) {
                rc = get_str_list(c, k->next, p, "targets", &s->targets, &s->n_targets);
                for (size_t t = 0; !rc && t < s->n_targets; t++) {
                    const char *tg = s->targets[t];
                    if (!*tg) rc = bad(c, k->next, p, "empty target address");
                }
                c->n_targets += s->n_targets;
                if (!rc && c->n_targets > SRV_SCRAPE_MAX_TARGETS)
                    rc = ax_err_set(c->e, AX_ELIMIT, "line %d: %s: more than %d targets in the config", k->line,
                                    p, SRV_SCRAPE_MAX_TARGETS);
            } else if (key_is(k, "labels")) {
                rc = get_labels(c, k->next, p, "labels", &s->labels, &s->n_labels);
            } else {
                rc = bad(c, k, p, "unknown key \"%.64s\"", k->s);
            }
        }
    }
    if (!rc) j->n_static = v->n;
    return rc;
}

static bool unsupported_job_key(const yn *k) {
    static const char *const keys[] = {"oauth2", "proxy_url", "no_proxy", "proxy_from_environment",
                                       "proxy_connect_header", "follow_redirects", "enable_http2",
                                       "body_size_limit", "label_limit", "label_name_length_limit",
                                       "label_value_length_limit", "target_limit", "scrape_classic_histograms",
                                       "native_histogram_bucket_limit", "enable_compression", "track_timestamps_staleness"};
    if (k->len > 11 && !memcmp(k->s + k->len - 11, "_sd_configs", 11)) return true;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (key_is(k, keys[i])) return true;
    return false;
}

static int parse_job(sc *c, const yn *m, const char *path, srv_scrape_config *cfg, srv_scrape_job *j) {
    int rc = check_map(c, m, path);
    if (rc) return rc;
    memset(j, 0, sizeof *j);
    j->honor_timestamps = true;
    int64_t interval = 0, timeout = 0;
    uint64_t limit = 0;
    char *bearer = NULL, *bearer_file = NULL;
    const yn *basic = NULL, *authz = NULL, *bearer_node = NULL, *bfile_node = NULL;
    const yn *relabel = NULL, *mrelabel = NULL;
    for (const yn *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const yn *v = k->next;
        char sub[200];
        if (key_is(k, "job_name")) rc = get_str(c, v, path, "job_name", &j->job_name);
        else if (key_is(k, "scrape_interval")) rc = get_duration(c, v, path, "scrape_interval", &interval);
        else if (key_is(k, "scrape_timeout")) rc = get_duration(c, v, path, "scrape_timeout", &timeout);
        else if (key_is(k, "metrics_path")) rc = get_str(c, v, path, "metrics_path", &j->metrics_path);
        else if (key_is(k, "scheme")) {
            rc = get_str(c, v, path, "scheme", &j->scheme);
            if (!rc && j->scheme && strcmp(j->scheme, "http") && strcmp(j->scheme, "https"))
                rc = bad(c, v, path, "\"scheme\" must be http or https, got \"%.32s\"", j->scheme);
        } else if (key_is(k, "params")) {
            snprintf(sub, sizeof sub, "%s.params", path);
            rc = parse_params(c, v, sub, j);
        } else if (key_is(k, "static_configs")) rc = parse_static(c, v, path, j);
        else if (key_is(k, "honor_labels")) rc = get_bool(c, v, path, "honor_labels", &j->honor_labels);
        else if (key_is(k, "honor_timestamps")) rc = get_bool(c, v, path, "honor_timestamps", &j->honor_timestamps);
        else if (key_is(k, "basic_auth")) basic = v;
        else if (key_is(k, "authorization")) authz = v;
        else if (key_is(k, "bearer_token")) { rc = get_str(c, v, path, "bearer_token", &bearer); bearer_node = v; }
        else if (key_is(k, "bearer_token_file")) { rc = get_str(c, v, path, "bearer_token_file", &bearer_file); bfile_node = v; }
        else if (key_is(k, "tls_config")) {
            snprintf(sub, sizeof sub, "%s.tls_config", path);
            if (!is_empty(v)) rc = parse_tls(c, v, sub, j);
        } else if (key_is(k, "sample_limit")) rc = get_uint(c, v, path, "sample_limit", &limit);
        else if (key_is(k, "relabel_configs")) relabel = k;
        else if (key_is(k, "metric_relabel_configs")) mrelabel = k;
        else if (unsupported_job_key(k)) rc = bad(c, k, path, "\"%.64s\" is not supported by auspex", k->s);
        else rc = bad(c, k, path, "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (!j->job_name) return bad(c, m, path, "job_name is missing");
    if (!*j->job_name) return bad(c, m, path, "job_name is empty");
    for (size_t i = 0; i < cfg->n_jobs; i++)
        if (!strcmp(cfg->jobs[i].job_name, j->job_name))
            return bad(c, m, path, "found multiple scrape configs with job name \"%.64s\"", j->job_name);
    j->sample_limit = (size_t)limit;
    if (!j->metrics_path) j->metrics_path = "/metrics";
    if (!j->scheme) j->scheme = "http";
    /* Prometheus 2.42 config.go: interval from global; timeout must fit the interval */
    j->interval_ms = interval ? interval : cfg->interval_ms;
    if (timeout > j->interval_ms)
        return bad(c, m, path, "scrape timeout greater than scrape interval for scrape config with job name \"%.64s\"",
                   j->job_name);
    j->timeout_ms = timeout ? timeout : (cfg->timeout_ms > j->interval_ms ? j->interval_ms : cfg->timeout_ms);
    /* authentication: at most one of basic_auth, authorization, bearer_token(_file) */
    int n_auth = (basic && !is_empty(basic)) + (authz && !is_empty(authz)) + (bearer || (bearer_file && *bearer_file));
    if (n_auth > 1)
        return bad(c, m, path, "at most one of basic_auth, authorization, bearer_token & bearer_token_file must be configured");
    if (bearer && bearer_file && *bearer_file)
        return bad(c, bearer_node, path, "at most one of bearer_token & bearer_token_file must be configured");
    char sub[200];
    if (basic && !is_empty(basic)) {
        snprintf(sub, sizeof sub, "%s.basic_auth", path);
        if ((rc = parse_basic_auth(c, basic, sub, j))) return rc;
    }
    if (authz && !is_empty(authz)) {
        snprintf(sub, sizeof sub, "%s.authorization", path);
        if ((rc = parse_authorization(c, authz, sub, j))) return rc;
    }
    if (bearer_file && *bearer_file && (rc = read_secret(c, bfile_node, path, "bearer_token_file", bearer_file, &bearer)))
        return rc;
    if (bearer) {
        j->bearer_token = bearer;
        j->auth_type = "Bearer";
    }
    /* relabel lists last: on error nothing else owns a regex */
    if (relabel && (rc = parse_relabel_list(c, relabel->next, path, "relabel_configs", &j->relabel, &j->n_relabel)))
        return rc;
    if (mrelabel && (rc = parse_relabel_list(c, mrelabel->next, path, "metric_relabel_configs", &j->metric_relabel,
                                             &j->n_metric_relabel))) {
        srv_relabel_fini(j->relabel, j->n_relabel);
        j->n_relabel = 0;
        return rc;
    }
    return 0;
}

/* ---- top level ---- */

static int parse_global(sc *c, const yn *m, srv_scrape_config *cfg) {
    if (m->kind == SRV_YN_SCALAR && m->null_) return 0;
    int rc = check_map(c, m, "global");
    int64_t ignored, timeout = 0;
    for (const yn *k = m->kid; k && k->next && !rc; k = k->next->next) {
        const yn *v = k->next;
        if (key_is(k, "scrape_interval")) rc = get_duration(c, v, "global", "scrape_interval", &cfg->interval_ms);
        else if (key_is(k, "scrape_timeout")) rc = get_duration(c, v, "global", "scrape_timeout", &timeout);
        else if (key_is(k, "evaluation_interval")) rc = get_duration(c, v, "global", "evaluation_interval", &ignored);
        else if (key_is(k, "external_labels")) rc = get_labels(c, v, "global", "external_labels", &cfg->external_labels, &cfg->n_external);
        else rc = bad(c, k, "global", "unknown key \"%.64s\"", k->s);
    }
    if (rc) return rc;
    if (cfg->interval_ms == 0) cfg->interval_ms = 60000;
    /* as Prometheus: an explicit timeout must fit the interval; the 10s default is cut
     * to the interval when the interval is shorter */
    if (timeout > cfg->interval_ms) return bad(c, m, "global", "global scrape timeout greater than scrape interval");
    cfg->timeout_ms = timeout ? timeout : (cfg->interval_ms < 10000 ? cfg->interval_ms : 10000);
    return 0;
}

static void free_jobs(srv_scrape_config *cfg) {
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        srv_relabel_fini(cfg->jobs[i].relabel, cfg->jobs[i].n_relabel);
        srv_relabel_fini(cfg->jobs[i].metric_relabel, cfg->jobs[i].n_metric_relabel);
    }
    cfg->n_jobs = 0;
}

static int parse_doc(const char *yaml, size_t len, const char *base, srv_scrape_config **out, ax_err *e) {
    if (len > SRV_SCRAPE_MAX_CONFIG)
        return ax_err_set(e, AX_ETOOBIG, "scrape config is %zu bytes, more than the %u MB limit", len,
                          SRV_SCRAPE_MAX_CONFIG >> 20);
    srv_scrape_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return ax_err_set(e, AX_ENOMEM, "scrape config: out of memory");
    ax_arena_init(&cfg->mem, 64u << 20);
    ax_arena tree;
    ax_arena_init(&tree, 256u << 20);
    sc c = {.a = &cfg->mem, .e = e, .base = base};
    yn *root = NULL;
    int rc = srv_yaml_tree(yaml, len, &tree, &root, e);
    cfg->interval_ms = 60000;
    cfg->timeout_ms = 10000;
    if (!rc && root && !(root->kind == SRV_YN_SCALAR && root->null_)) {
        rc = check_map(&c, root, "");
        const yn *jobs = NULL, *global = NULL;
        for (const yn *k = root && !rc ? root->kid : NULL; k && k->next && !rc; k = k->next->next) {
            if (key_is(k, "global")) global = k->next;
            else if (key_is(k, "scrape_configs")) jobs = k->next;
            else if (key_is(k, "rule_files") || key_is(k, "alerting") || key_is(k, "remote_write") ||
                     key_is(k, "remote_read") || key_is(k, "storage") || key_is(k, "tracing")) {
                if (!is_empty(k->next))
                    rc = bad(&c, k, "", "\"%.32s\" is not supported by auspex (remove it or leave it empty)", k->s);
            } else {
                rc = bad(&c, k, "", "unknown key \"%.64s\"", k->s);
            }
        }
        if (!rc && global) rc = parse_global(&c, global, cfg);
        if (!rc && jobs && !(jobs->kind == SRV_YN_SCALAR && jobs->null_)) {
            if (jobs->kind != SRV_YN_SEQ) rc = bad(&c, jobs, "scrape_configs", "expected a list, got %s", kind_name(jobs));
            else if (jobs->n) {
                cfg->jobs = ax_arena_alloc(&cfg->mem, jobs->n * sizeof *cfg->jobs);
                if (!cfg->jobs) rc = nomem(&c);
                size_t i = 0;
                for (const yn *it = jobs->kid; it && !rc; it = it->next, i++) {
                    char p[64];
                    snprintf(p, sizeof p, "scrape_configs[%zu]", i);
                    rc = parse_job(&c, it, p, cfg, &cfg->jobs[i]);
                    if (!rc) cfg->n_jobs++;
                }
            }
        }
    }
    ax_arena_clear(&tree);
    if (rc) {
        srv_scrape_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int srv_scrape_config_parse(const char *yaml, size_t len, srv_scrape_config **out, ax_err *e) {
    return parse_doc(yaml, len, NULL, out, e);
}

int srv_scrape_config_load(const char *path, srv_scrape_config **out, ax_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return ax_err_set(e, AX_EIO, "cannot open scrape config \"%.200s\": %s", path, strerror(errno));
    char *buf = malloc(SRV_SCRAPE_MAX_CONFIG + 1);
    if (!buf) { fclose(f); return ax_err_set(e, AX_ENOMEM, "scrape config: out of memory"); }
    size_t n = fread(buf, 1, SRV_SCRAPE_MAX_CONFIG + 1, f);
    bool err = ferror(f);
    fclose(f);
    int rc;
    if (err) rc = ax_err_set(e, AX_EIO, "cannot read scrape config \"%.200s\"", path);
    else if (n > SRV_SCRAPE_MAX_CONFIG)
        rc = ax_err_set(e, AX_ETOOBIG, "scrape config \"%.200s\" is larger than %u MB", path, SRV_SCRAPE_MAX_CONFIG >> 20);
    else {
        char base[4096];
        snprintf(base, sizeof base, "%s", path);
        char *slash = strrchr(base, '/');
        if (slash == base) base[1] = 0;
        else if (slash) *slash = 0;
        else snprintf(base, sizeof base, ".");
        rc = parse_doc(buf, n, base, out, e);
    }
    free(buf);
    return rc;
}

void srv_scrape_config_free(srv_scrape_config *c) {
    if (!c) return;
    free_jobs(c);
    ax_arena_clear(&c->mem);
    free(c);
}

int srv_relabel_parse_yaml(const char *yaml, size_t len, ax_arena *a, srv_relabel **out, size_t *n_out,
                           ax_err *e) {
    if (len > SRV_SCRAPE_MAX_CONFIG) return ax_err_set(e, AX_EINVAL, "relabel list larger than 4 MB");
    ax_arena tree;
    ax_arena_init(&tree, 64u << 20);
    yn *root = NULL;
    int rc = srv_yaml_tree(yaml, len, &tree, &root, e);
    sc c = {.a = a, .e = e};
    srv_relabel *in_arena = NULL, *rs = NULL;
    size_t n = 0;
    if (!rc && root) rc = parse_relabel_list(&c, root, "", "relabel_configs", &in_arena, &n);
    if (!rc && n) {
        rs = malloc(n * sizeof *rs);
        if (!rs) { srv_relabel_fini(in_arena, n); rc = ax_err_set(e, AX_ENOMEM, "relabel: out of memory"); }
        else memcpy(rs, in_arena, n * sizeof *rs);
    }
    ax_arena_clear(&tree);
    if (rc) return rc;
    *out = rs;
    *n_out = n;
    return 0;
}

/* ---- durations and URLs ---- */

size_t srv_duration_fmt(char *out, int64_t ms) {
    if (ms <= 0) return (size_t)snprintf(out, 64, "0s");
    static const struct { const char *u; int64_t mult; bool exact; } units[] = {
        {"y", 365LL * 86400000, true}, {"w", 7LL * 86400000, true}, {"d", 86400000, false},
        {"h", 3600000, false},         {"m", 60000, false},         {"s", 1000, false},
        {"ms", 1, false},
    };
    size_t o = 0;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (units[i].exact && ms % units[i].mult) continue;
        int64_t v = ms / units[i].mult;
        if (v > 0) {
            o += (size_t)snprintf(out + o, 64 - o, "%lld%s", (long long)v, units[i].u);
            ms -= v * units[i].mult;
        }
    }
    return o;
}

/* Go's url.QueryEscape (query=true) or the path escaping of url.URL.String. */
static int url_escape(ax_buf *b, const char *s, size_t n, bool query) {
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (!query && ch && strchr("/!$&'()*+,;=:@", ch)) keep = true;
        if (keep) rc = ax_buf_append(b, &s[i], 1);
        else if (query && ch == ' ') rc = ax_buf_append(b, "+", 1);
        else {
            char e3[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = ax_buf_append(b, e3, 3);
        }
    }
    return rc;
}

/* ---- targets ---- */

static const char *lget(const ax_label *ls, size_t n, const char *name, size_t *vl) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (ls[i].name_len == nl && !memcmp(ls[i].name, name, nl)) { *vl = ls[i].value_len; return ls[i].value; }
    *vl = 0;
    return NULL;
}

static int lset(ax_label *ls, size_t *n, size_t cap, const char *name, const char *v, size_t vl) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < *n; i++)
        if (ls[i].name_len == nl && !memcmp(ls[i].name, name, nl)) {
            ls[i].value = v;
            ls[i].value_len = (uint32_t)vl;
            return 0;
        }
    if (*n >= cap) return AX_ELIMIT;
    ls[(*n)++] = (ax_label){name, v, (uint32_t)nl, (uint32_t)vl};
    return 0;
}

static int label_cmp(const void *x, const void *y) {
    const ax_label *a = x, *b = y;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    return c ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static int param_cmp(const void *x, const void *y) {
    return strcmp(((const srv_scrape_param *)x)->name, ((const srv_scrape_param *)y)->name);
}

/* Does this host:port need a default port? (Go: SplitHostPort fails, but works with ":1234".) */
static bool needs_port(const char *a, size_t n) {
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb) return false;
        return rb == a + n - 1;
    }
    const char *colon = memchr(a, ':', n);
    if (!colon) return true;
    return false; /* one colon: has a port (maybe empty); several: bare IPv6, invalid either way */
}

/* Build one target into *t. Returns 1 made, 0 skipped, negative on error. */
static int make_target(const srv_scrape_job *j, const srv_static_config *sg, const char *addr,
                       ax_arena *a, srv_scrape_target *t) {
    ax_label ls[SC_TARGET_LABEL_CAP];
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < sg->n_labels; i++) ls[n++] = sg->labels[i];
    rc = lset(ls, &n, SC_TARGET_LABEL_CAP, "__address__", addr, strlen(addr));
    char iv[64], to[64];
    srv_duration_fmt(iv, j->interval_ms);
    srv_duration_fmt(to, j->timeout_ms);
    const struct { const char *n, *v; } scrape[] = {
        {"job", j->job_name}, {"__scrape_interval__", iv}, {"__scrape_timeout__", to},
        {"__metrics_path__", j->metrics_path}, {"__scheme__", j->scheme},
    };
    for (size_t i = 0; i < sizeof scrape / sizeof *scrape && !rc; i++) {
        size_t vl;
        const char *cur = lget(ls, n, scrape[i].n, &vl);
        if (cur && vl) continue; /* a group label wins */
        const char *v = ax_arena_dup(a, scrape[i].v, strlen(scrape[i].v) + 1);
        if (!v) return AX_ENOMEM;
        rc = lset(ls, &n, SC_TARGET_LABEL_CAP, scrape[i].n, v, strlen(v));
    }
    for (size_t i = 0; i < j->n_params && !rc; i++) {
        if (!j->params[i].n_values) continue;
        size_t nl = strlen(j->params[i].name);
        char *name = ax_arena_alloc(a, nl + 9);
        if (!name) return AX_ENOMEM;
        memcpy(name, "__param_", 8);
        memcpy(name + 8, j->params[i].name, nl + 1);
        rc = lset(ls, &n, SC_TARGET_LABEL_CAP, name, j->params[i].values[0], strlen(j->params[i].values[0]));
    }
    if (rc) return rc;
    rc = srv_relabel_apply(j->relabel, j->n_relabel, ls, &n, SC_TARGET_LABEL_CAP, a);
    if (rc <= 0) return rc == AX_ETOOBIG ? AX_ENOMEM : rc;
    size_t al, sl, pl, il, tl;
    const char *ad = lget(ls, n, "__address__", &al);
    if (!ad || !al || memchr(ad, '/', al) || memchr(ad, 0, al)) return 0;
    const char *scheme = lget(ls, n, "__scheme__", &sl);
    bool https = scheme && sl == 5 && !memcmp(scheme, "https", 5);
    if (!(https || (scheme && sl == 4 && !memcmp(scheme, "http", 4)) || !sl)) return 0;
    if (needs_port(ad, al)) {
        char *na = ax_arena_alloc(a, al + 5);
        if (!na) return AX_ENOMEM;
        memcpy(na, ad, al);
        memcpy(na + al, https ? ":443" : ":80", https ? 5 : 4);
        ad = na;
        al = strlen(na);
        if ((rc = lset(ls, &n, SC_TARGET_LABEL_CAP, "__address__", na, al))) return rc;
    }
    /* interval and timeout after relabeling */
    const char *ivs = lget(ls, n, "__scrape_interval__", &il);
    const char *tos = lget(ls, n, "__scrape_timeout__", &tl);
    int64_t ims, tms;
    if (!ivs || !prom_duration(ivs, il, &ims) || ims <= 0) return 0;
    if (!tos || !prom_duration(tos, tl, &tms) || tms <= 0 || tms > ims) return 0;
    /* instance defaults to the address */
    size_t instl;
    const char *inst = lget(ls, n, "instance", &instl);
    if (!inst || !instl) if ((rc = lset(ls, &n, SC_TARGET_LABEL_CAP, "instance", ad, al))) return rc;
    /* URL: scheme://address path ?params (job params, first values overridden by __param_*) */
    const char *mp = lget(ls, n, "__metrics_path__", &pl);
    ax_buf url;
    ax_buf_init(&url, 1u << 20);
    rc = ax_buf_append_str(&url, https ? "https://" : "http://");
    if (!rc) rc = ax_buf_append(&url, ad, al);
    if (!rc && mp && pl && mp[0] != '/') rc = ax_buf_append(&url, "/", 1);
    if (!rc && mp) rc = url_escape(&url, mp, pl, false);
    /* collect params: copies of the job's, then __param_ labels */
    size_t np = j->n_params;
    for (size_t i = 0; i < n; i++)
        if (ls[i].name_len > 8 && !memcmp(ls[i].name, "__param_", 8)) np++;
    srv_scrape_param *ps = np ? ax_arena_alloc(a, np * sizeof *ps) : NULL;
    if (np && !ps) rc = AX_ENOMEM;
    size_t used = 0;
    for (size_t i = 0; !rc && i < j->n_params; i++) ps[used++] = j->params[i];
    for (size_t i = 0; !rc && i < n; i++) {
        if (!(ls[i].name_len > 8 && !memcmp(ls[i].name, "__param_", 8))) continue;
        const char *pn = ls[i].name + 8;
        size_t pnl = ls[i].name_len - 8;
        char *v = ax_arena_alloc(a, ls[i].value_len + 1), *nm = ax_arena_alloc(a, pnl + 1);
        if (!v || !nm) { rc = AX_ENOMEM; break; }
        memcpy(v, ls[i].value, ls[i].value_len);
        v[ls[i].value_len] = 0;
        memcpy(nm, pn, pnl);
        nm[pnl] = 0;
        size_t k;
        for (k = 0; k < used; k++)
            if (!strcmp(ps[k].name, nm)) break;
        char **vals;
        if (k < used && ps[k].n_values) {
            vals = ax_arena_alloc(a, ps[k].n_values * sizeof *vals);
            if (!vals) { rc = AX_ENOMEM; break; }
            memcpy(vals, ps[k].values, ps[k].n_values * sizeof *vals);
            vals[0] = v;
            ps[k].values = vals;
        } else {
            vals = ax_arena_alloc(a, sizeof *vals);
            if (!vals) { rc = AX_ENOMEM; break; }
            vals[0] = v;
            if (k == used) used++;
            ps[k] = (srv_scrape_param){nm, vals, 1};
        }
    }
    if (!rc && used) qsort(ps, used, sizeof *ps, param_cmp);
    bool first = true;
    for (size_t i = 0; !rc && i < used; i++)
        for (size_t v = 0; !rc && v < ps[i].n_values; v++) {
            rc = ax_buf_append(&url, first ? "?" : "&", 1);
            first = false;
            if (!rc) rc = url_escape(&url, ps[i].name, strlen(ps[i].name), true);
            if (!rc) rc = ax_buf_append(&url, "=", 1);
            if (!rc) rc = url_escape(&url, ps[i].values[v], strlen(ps[i].values[v]), true);
        }
    if (!rc) rc = ax_buf_append(&url, "", 1);
    if (rc) {
        ax_buf_free(&url);
        return rc == AX_ETOOBIG ? 0 : rc;
    }
    /* final labels: no "__" prefix; names and values valid */
    size_t keep = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (ls[i].name_len >= 2 && ls[i].name[0] == '_' && ls[i].name[1] == '_') continue;
        if (!ls[i].value_len) continue;
        if (!ax_label_name_valid(ls[i].name, ls[i].name_len) || !ax_utf8_valid(ls[i].value, ls[i].value_len) ||
            memchr(ls[i].value, 0, ls[i].value_len)) {
            ax_buf_free(&url);
            return 0;
        }
        ls[keep++] = ls[i];
        bytes += ls[i].name_len + ls[i].value_len + 2;
    }
    qsort(ls, keep, sizeof *ls, label_cmp);
    ax_label *out = malloc(keep * sizeof *out + bytes + 1);
    if (!out) { ax_buf_free(&url); return AX_ENOMEM; }
    char *s = (char *)(out + keep);
    for (size_t i = 0; i < keep; i++) {
        out[i] = ls[i];
        memcpy(s, ls[i].name, ls[i].name_len);
        s[ls[i].name_len] = 0;
        out[i].name = s;
        s += ls[i].name_len + 1;
        memcpy(s, ls[i].value, ls[i].value_len);
        s[ls[i].value_len] = 0;
        out[i].value = s;
        s += ls[i].value_len + 1;
    }
    t->url = (char *)url.data; /* ownership moves to the target */
    t->labels = out;
    t->n_labels = keep;
    t->job = j;
    t->interval_ms = ims;
    t->timeout_ms = tms;
    return 1;
}

static bool same_target(const srv_scrape_target *a, const srv_scrape_target *b) {
    if (a->job != b->job || strcmp(a->url, b->url) || a->n_labels != b->n_labels) return false;
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i].name, b->labels[i].name) || strcmp(a->labels[i].value, b->labels[i].value))
            return false;
    return true;
}

static uint64_t target_hash(const srv_scrape_target *t) {
    uint64_t h = ax_hash(t->url, strlen(t->url), (uint64_t)(uintptr_t)t->job);
    for (size_t i = 0; i < t->n_labels; i++) {
        h = ax_hash(t->labels[i].name, t->labels[i].name_len, h);
        h = ax_hash(t->labels[i].value, t->labels[i].value_len, h);
    }
    return h;
}

int srv_scrape_targets(const srv_scrape_config *c, srv_scrape_target **out, size_t *n_out, ax_err *e) {
    size_t total = 0;
    for (size_t i = 0; i < c->n_jobs; i++)
        for (size_t s = 0; s < c->jobs[i].n_static; s++) total += c->jobs[i].static_configs[s].n_targets;
    srv_scrape_target *ts = total ? calloc(total, sizeof *ts) : NULL;
    size_t hcap = 16;
    while (hcap < 2 * total) hcap <<= 1;
    size_t *table = total ? calloc(hcap, sizeof *table) : NULL; /* index + 1; 0 = empty */
    if (total && (!ts || !table)) {
        free(ts);
        free(table);
        return ax_err_set(e, AX_ENOMEM, "scrape targets: out of memory");
    }
    ax_arena a;
    ax_arena_init(&a, 64u << 20);
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < c->n_jobs && !rc; i++) {
        const srv_scrape_job *j = &c->jobs[i];
        for (size_t s = 0; s < j->n_static && !rc; s++) {
            const srv_static_config *sg = &j->static_configs[s];
            for (size_t k = 0; k < sg->n_targets && !rc; k++) {
                int made = make_target(j, sg, sg->targets[k], &a, &ts[n]);
                ax_arena_clear(&a);
                if (made < 0) {
                    rc = made == AX_ELIMIT
                             ? ax_err_set(e, AX_ELIMIT, "job %.64s: target %.64s has more than %d labels", j->job_name,
                                          sg->targets[k], SC_TARGET_LABEL_CAP)
                             : ax_err_set(e, AX_ENOMEM, "scrape targets: out of memory");
                    break;
                }
                if (!made) continue;
                size_t h = (size_t)target_hash(&ts[n]) & (hcap - 1);
                bool dup = false;
                while (table[h]) {
                    if (same_target(&ts[table[h] - 1], &ts[n])) { dup = true; break; }
                    h = (h + 1) & (hcap - 1);
                }
                if (dup) {
                    free(ts[n].url);
                    free(ts[n].labels);
                    memset(&ts[n], 0, sizeof ts[n]);
                    continue;
                }
                table[h] = ++n;
            }
        }
    }
    ax_arena_clear(&a);
    free(table);
    if (rc) {
        srv_scrape_targets_free(ts, n);
        return rc;
    }
    if (n == 0) {
        free(ts);
        ts = NULL;
    }
    *out = ts;
    *n_out = n;
    return 0;
}

void srv_scrape_targets_free(srv_scrape_target *t, size_t n) {
    if (!t) return;
    for (size_t i = 0; i < n; i++) {
        free(t[i].url);
        free(t[i].labels);
    }
    free(t);
}
