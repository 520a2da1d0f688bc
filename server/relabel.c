/* server/relabel.c: relabel_config rules: validation, Go-style template expansion, the
 * eleven actions, and MD5 for hashmod.
 *
 * Rules work on a flat label array edited in place: a set replaces the value of an
 * existing label or appends one (AX_ELIMIT past cap), a delete swaps the last label into
 * the hole. Prometheus reads each rule's input from the label set as it was before the
 * rule and writes into a builder; the actions that read and write in one pass (labelmap)
 * therefore walk a snapshot of the array, so a label renamed onto a later one is not
 * read again. Template expansion follows Go's regexp.Expand: $name or ${name}, where a
 * name of digits (no leading zero) is a group number and any other name (we have no named
 * groups) is ""; $$ is a '$'; a '$' not followed by a name stays a literal '$'.
 */
#include "server/relabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RL_MAX_GROUPS 32          /* groups usable in templates; later ones expand to "" */
#define RL_SCRATCH_MAX (64u << 20) /* joined source values and expansions */

static const char *const action_names[] = {
    [SRV_RELABEL_REPLACE] = "replace",     [SRV_RELABEL_KEEP] = "keep",
    [SRV_RELABEL_DROP] = "drop",           [SRV_RELABEL_HASHMOD] = "hashmod",
    [SRV_RELABEL_LABELMAP] = "labelmap",   [SRV_RELABEL_LABELDROP] = "labeldrop",
    [SRV_RELABEL_LABELKEEP] = "labelkeep", [SRV_RELABEL_LOWERCASE] = "lowercase",
    [SRV_RELABEL_UPPERCASE] = "uppercase", [SRV_RELABEL_KEEPEQUAL] = "keepequal",
    [SRV_RELABEL_DROPEQUAL] = "dropequal",
};
#define RL_N_ACTIONS (sizeof action_names / sizeof *action_names)

const char *srv_relabel_action_name(srv_relabel_action act) {
    return (unsigned)act < RL_N_ACTIONS ? action_names[act] : "?";
}

static bool is_word(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Prometheus' relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ */
static bool target_template_valid(const char *s) {
    if (!*s || (*s >= '0' && *s <= '9')) return false;
    while (*s) {
        if (*s == '$') {
            s++;
            if (*s == '{') {
                s++;
                const char *b = s;
                while (is_word((unsigned char)*s)) s++;
                if (s == b || *s != '}') return false;
                s++;
            } else {
                const char *b = s;
                while (is_word((unsigned char)*s)) s++;
                if (s == b) return false;
            }
        } else if (is_word((unsigned char)*s)) {
            s++;
        } else {
            return false;
        }
    }
    return true;
}

static const char *dupz(ax_arena *a, const char *s) {
    size_t n = strlen(s);
    char *d = ax_arena_alloc(a, n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

int srv_relabel_init(srv_relabel *r, const srv_relabel_spec *sp, ax_arena *a, ax_err *e) {
    memset(r, 0, sizeof *r);
    const char *act = sp->action ? sp->action : "replace";
    size_t ai;
    for (ai = 0; ai < RL_N_ACTIONS; ai++)
        if (!strcasecmp(act, action_names[ai])) break;
    if (ai == RL_N_ACTIONS) {
        return ax_err_set(e, AX_EINVAL, "unknown relabel action \"%.64s\"", act);
    }
    srv_relabel_action k = (srv_relabel_action)ai;
    const char *an = action_names[k];
    bool needs_target = k == SRV_RELABEL_REPLACE || k == SRV_RELABEL_HASHMOD ||
                        k == SRV_RELABEL_LOWERCASE || k == SRV_RELABEL_UPPERCASE ||
                        k == SRV_RELABEL_KEEPEQUAL || k == SRV_RELABEL_DROPEQUAL;
    const char *tl = sp->target_label ? sp->target_label : "";
    if (k == SRV_RELABEL_HASHMOD && sp->modulus == 0)
        return ax_err_set(e, AX_EINVAL, "relabel configuration for hashmod requires non-zero modulus");
    if (needs_target && !*tl)
        return ax_err_set(e, AX_EINVAL, "relabel configuration for %s action requires 'target_label' value", an);
    if (k == SRV_RELABEL_REPLACE && !target_template_valid(tl))
        return ax_err_set(e, AX_EINVAL, "\"%.64s\" is invalid 'target_label' for %s action", tl, an);
    if (needs_target && k != SRV_RELABEL_REPLACE && !ax_label_name_valid(tl, strlen(tl)))
        return ax_err_set(e, AX_EINVAL, "\"%.64s\" is invalid 'target_label' for %s action", tl, an);
    if ((k == SRV_RELABEL_LABELDROP || k == SRV_RELABEL_LABELKEEP) &&
        (sp->has_source || sp->n_source || *tl || sp->modulus ||
         (sp->separator && strcmp(sp->separator, ";")) ||
         (sp->replacement && strcmp(sp->replacement, "$1"))))
        return ax_err_set(e, AX_EINVAL, "%s action requires only 'regex', and no other fields", an);
    if ((k == SRV_RELABEL_KEEPEQUAL || k == SRV_RELABEL_DROPEQUAL) &&
        ((sp->regex && strcmp(sp->regex, "(.*)")) || sp->modulus ||
         (sp->separator && strcmp(sp->separator, ";")) ||
         (sp->replacement && strcmp(sp->replacement, "$1"))))
        return ax_err_set(e, AX_EINVAL,
                          "%s action requires only 'source_labels' and `target_label`, and no other fields", an);
    for (size_t i = 0; i < sp->n_source; i++) {
        const char *s = sp->source_labels[i];
        if (!ax_label_name_valid(s, strlen(s)))
            return ax_err_set(e, AX_EINVAL, "\"%.64s\" is not a valid label name in source_labels", s);
    }
    r->action = k;
    r->modulus = sp->modulus;
    r->separator = dupz(a, sp->separator ? sp->separator : ";");
    r->target_label = dupz(a, tl);
    r->replacement = dupz(a, sp->replacement ? sp->replacement : "$1");
    r->regex_src = dupz(a, sp->regex ? sp->regex : "(.*)");
    r->n_source = sp->n_source;
    r->source_labels = sp->n_source ? ax_arena_alloc(a, sp->n_source * sizeof *r->source_labels) : NULL;
    bool ok = r->separator && r->target_label && r->replacement && r->regex_src &&
              (!sp->n_source || r->source_labels);
    for (size_t i = 0; ok && i < sp->n_source; i++) ok = (r->source_labels[i] = dupz(a, sp->source_labels[i])) != NULL;
    if (!ok) {
        memset(r, 0, sizeof *r);
        return ax_err_set(e, AX_ENOMEM, "relabel: out of memory");
    }
    int rc = ax_regex_compile(r->regex_src, strlen(r->regex_src), &r->regex, e);
    if (!rc && ax_regex_lazy(r->regex) && (r->action == SRV_RELABEL_REPLACE || r->action == SRV_RELABEL_LABELMAP)) {
        ax_regex_free(r->regex);
        rc = ax_err_set(e, AX_EINVAL, "regex \"%.64s\": lazy quantifiers are not supported where "
                                      "capture groups are used (replace, labelmap)", r->regex_src);
    }
    if (rc) memset(r, 0, sizeof *r);
    return rc;
}

void srv_relabel_fini(srv_relabel *rules, size_t n) {
    if (!rules) return;
    for (size_t i = 0; i < n; i++) {
        ax_regex_free(rules[i].regex);
        rules[i].regex = NULL;
    }
}

/* ---- template expansion (Go regexp.Expand) ---- */

static int expand(ax_buf *out, const char *tpl, const char *src, const ax_span *g, size_t ng) {
    int rc = 0;
    const char *p = tpl;
    while (*p && !rc) {
        if (*p != '$') {
            const char *q = p;
            while (*q && *q != '$') q++;
            rc = ax_buf_append(out, p, (size_t)(q - p));
            p = q;
            continue;
        }
        p++;
        if (*p == '$') {
            rc = ax_buf_append(out, "$", 1);
            p++;
            continue;
        }
        const char *nm = p, *ne;
        const char *next;
        if (*p == '{') {
            nm = p + 1;
            ne = nm;
            while (is_word((unsigned char)*ne)) ne++;
            if (ne == nm || *ne != '}') {
                rc = ax_buf_append(out, "$", 1); /* malformed: a literal '$' */
                continue;
            }
            next = ne + 1;
        } else {
            ne = nm;
            while (is_word((unsigned char)*ne)) ne++;
            if (ne == nm) {
                rc = ax_buf_append(out, "$", 1);
                continue;
            }
            next = ne;
        }
        long num = 0;
        for (const char *d = nm; d < ne; d++) {
            if (*d < '0' || *d > '9' || num >= 100000000) { num = -1; break; }
            num = num * 10 + (*d - '0');
        }
        if (*nm == '0' && ne - nm > 1) num = -1;
        if (num >= 0 && (size_t)num < ng && g[num].off >= 0)
            rc = ax_buf_append(out, src + g[num].off, (size_t)g[num].len);
        p = next;
    }
    return rc;
}

/* ---- the label array ---- */

static long find(const ax_label *ls, size_t n, const char *name, size_t nl) {
    for (size_t i = 0; i < n; i++)
        if (ls[i].name_len == nl && !memcmp(ls[i].name, name, nl)) return (long)i;
    return -1;
}

static void del_at(ax_label *ls, size_t *n, size_t i) {
    ls[i] = ls[*n - 1];
    (*n)--;
}

/* name := value (name and value already stable); an empty value deletes. */
static int set_label(ax_label *ls, size_t *n, size_t cap, const char *name, size_t nl,
                     const char *v, size_t vl) {
    long i = find(ls, *n, name, nl);
    if (vl == 0) {
        if (i >= 0) del_at(ls, n, (size_t)i);
        return 0;
    }
    if (i < 0) {
        if (*n >= cap) return AX_ELIMIT;
        i = (long)(*n)++;
        ls[i].name = name;
        ls[i].name_len = (uint32_t)nl;
    }
    ls[i].value = v;
    ls[i].value_len = (uint32_t)vl;
    return 0;
}

static const char *get(const ax_label *ls, size_t n, const char *name, size_t *vl) {
    long i = find(ls, n, name, strlen(name));
    if (i < 0) { *vl = 0; return ""; }
    *vl = ls[i].value_len;
    return ls[i].value;
}

static int set_copy(ax_label *ls, size_t *n, size_t cap, const char *name, size_t nl,
                    const void *v, size_t vl, ax_arena *a) {
    const char *dv = vl ? ax_arena_dup(a, v, vl) : "";
    if (!dv) return AX_ETOOBIG;
    return set_label(ls, n, cap, name, nl, dv, vl);
}

/* One rule. Returns 1 keep, 0 drop, or a negative status. */
static int apply_one(const srv_relabel *r, ax_label *ls, size_t *n, size_t cap, ax_arena *a,
                     ax_buf *join, ax_buf *tmp) {
    const char *val = "";
    size_t vl = 0;
    int rc = 0;
    if (r->n_source == 1) {
        val = get(ls, *n, r->source_labels[0], &vl);
    } else if (r->n_source > 1) {
        ax_buf_reset(join);
        size_t sl = strlen(r->separator);
        for (size_t i = 0; i < r->n_source && !rc; i++) {
            size_t l;
            const char *v = get(ls, *n, r->source_labels[i], &l);
            if (i) rc = ax_buf_append(join, r->separator, sl);
            if (!rc) rc = ax_buf_append(join, v, l);
        }
        if (rc) return rc;
        val = join->len ? (const char *)join->data : "";
        vl = join->len;
    }
    const char *tl = r->target_label;
    size_t tll = strlen(tl);
    ax_span g[RL_MAX_GROUPS];
    switch (r->action) {
    case SRV_RELABEL_DROP: return ax_regex_match(r->regex, val, vl, NULL, 0) ? 0 : 1;
    case SRV_RELABEL_KEEP: return ax_regex_match(r->regex, val, vl, NULL, 0) ? 1 : 0;
    case SRV_RELABEL_DROPEQUAL:
    case SRV_RELABEL_KEEPEQUAL: {
        size_t tv_len;
        const char *tv = get(ls, *n, tl, &tv_len);
        bool eq = tv_len == vl && (vl == 0 || !memcmp(tv, val, vl));
        return (r->action == SRV_RELABEL_KEEPEQUAL) == eq ? 1 : 0;
    }
    case SRV_RELABEL_REPLACE: {
        size_t ng = ax_regex_groups(r->regex) + 1;
        if (ng > RL_MAX_GROUPS) ng = RL_MAX_GROUPS;
        if (!ax_regex_match(r->regex, val, vl, g, ng)) return 1;
        const char *target = tl;
        size_t tlen = tll;
        if (strchr(tl, '$')) {
            ax_buf_reset(tmp);
            if ((rc = expand(tmp, tl, val, g, ng))) return rc;
            if (!ax_label_name_valid((const char *)tmp->data, tmp->len)) return 1;
            target = ax_arena_dup(a, tmp->data, tmp->len);
            if (!target) return AX_ETOOBIG;
            tlen = tmp->len;
        }
        ax_buf_reset(tmp);
        if ((rc = expand(tmp, r->replacement, val, g, ng))) return rc;
        rc = set_copy(ls, n, cap, target, tlen, tmp->data, tmp->len, a);
        return rc ? rc : 1;
    }
    case SRV_RELABEL_LOWERCASE:
    case SRV_RELABEL_UPPERCASE: {
        char *d = vl ? ax_arena_alloc(a, vl) : NULL;
        if (vl && !d) return AX_ETOOBIG;
        for (size_t i = 0; i < vl; i++) {
            char c = val[i];
            if (r->action == SRV_RELABEL_LOWERCASE && c >= 'A' && c <= 'Z') c = (char)(c + 32);
            if (r->action == SRV_RELABEL_UPPERCASE && c >= 'a' && c <= 'z') c = (char)(c - 32);
            d[i] = c;
        }
        rc = set_label(ls, n, cap, tl, tll, vl ? d : "", vl);
        return rc ? rc : 1;
    }
    case SRV_RELABEL_HASHMOD: {
        uint8_t sum[16];
        srv_md5_sum(val, vl, sum);
        uint64_t mod = ax_get_u64be(sum + 8) % r->modulus;
        char num[24];
        int len = snprintf(num, sizeof num, "%llu", (unsigned long long)mod);
        rc = set_copy(ls, n, cap, tl, tll, num, (size_t)len, a);
        return rc ? rc : 1;
    }
    case SRV_RELABEL_LABELMAP: {
        size_t n0 = *n;
        ax_label stack[AX_MAX_LABELS];
        ax_label *snap = n0 <= AX_MAX_LABELS ? stack : malloc(n0 * sizeof *snap);
        if (!snap) return AX_ENOMEM;
        memcpy(snap, ls, n0 * sizeof *snap);
        size_t ng = ax_regex_groups(r->regex) + 1;
        if (ng > RL_MAX_GROUPS) ng = RL_MAX_GROUPS;
        for (size_t i = 0; i < n0 && !rc; i++) {
            if (!ax_regex_match(r->regex, snap[i].name, snap[i].name_len, g, ng)) continue;
            ax_buf_reset(tmp);
            /* the name is not NUL-terminated: expand against the span, not a C string */
            if ((rc = expand(tmp, r->replacement, snap[i].name, g, ng))) break;
            if (!ax_label_name_valid((const char *)tmp->data, tmp->len)) continue;
            const char *nm = ax_arena_dup(a, tmp->data, tmp->len);
            if (!nm) { rc = AX_ETOOBIG; break; }
            rc = set_label(ls, n, cap, nm, tmp->len, snap[i].value, snap[i].value_len);
        }
        if (snap != stack) free(snap);
        return rc ? rc : 1;
    }
    case SRV_RELABEL_LABELDROP:
    case SRV_RELABEL_LABELKEEP:
        for (size_t i = 0; i < *n;) {
            bool m = ax_regex_match(r->regex, ls[i].name, ls[i].name_len, NULL, 0);
            if (m == (r->action == SRV_RELABEL_LABELDROP)) del_at(ls, n, i);
            else i++;
        }
        return 1;
    }
    return 1;
}

int srv_relabel_apply(const srv_relabel *rules, size_t n, ax_label *ls, size_t *n_ls, size_t cap,
                      ax_arena *a) {
    ax_buf join, tmp;
    ax_buf_init(&join, RL_SCRATCH_MAX);
    ax_buf_init(&tmp, RL_SCRATCH_MAX);
    int rc = 1;
    /* labels with empty values count as missing */
    for (size_t i = 0; i < *n_ls;) {
        if (ls[i].value_len == 0) del_at(ls, n_ls, i);
        else i++;
    }
    for (size_t i = 0; i < n && rc == 1; i++) rc = apply_one(&rules[i], ls, n_ls, cap, a, &join, &tmp);
    ax_buf_free(&join);
    ax_buf_free(&tmp);
    return rc;
}

/* ---- MD5, RFC 1321 ---- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t md5_s[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

static uint32_t rotl(uint32_t x, unsigned c) { return x << c | x >> (32 - c); }

/* One 64-byte block into state h. */
static void md5_block(uint32_t h[4], const uint8_t *blk) {
    uint32_t x[16];
    for (int i = 0; i < 16; i++) x[i] = ax_get_u32le(blk + 4 * i);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (unsigned i = 0; i < 64; i++) {
        uint32_t f;
        unsigned k, round = i / 16;
        switch (round) {
        case 0: f = (b & c) | (~b & d); k = i; break;
        case 1: f = (b & d) | (c & ~d); k = (5 * i + 1) % 16; break;
        case 2: f = b ^ c ^ d; k = (3 * i + 5) % 16; break;
        default: f = c ^ (b | ~d); k = (7 * i) % 16; break;
        }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rotl(a + f + md5_k[i] + x[k], md5_s[round][i % 4]);
        a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
}

void srv_md5_sum(const void *p, size_t len, uint8_t out[16]) {
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const uint8_t *s = p;
    size_t left = len;
    while (left >= 64) {
        md5_block(h, s);
        s += 64;
        left -= 64;
    }
    /* padding: 0x80, zeros to 56 mod 64, then the bit length little-endian */
    uint8_t tail[128] = {0};
    if (left) memcpy(tail, s, left);
    tail[left] = 0x80;
    size_t tl = left < 56 ? 64 : 128;
    ax_put_u64le(tail + tl - 8, (uint64_t)len * 8);
    md5_block(h, tail);
    if (tl == 128) md5_block(h, tail + 64);
    for (int i = 0; i < 4; i++) ax_put_u32le(out + 4 * i, h[i]);
}
