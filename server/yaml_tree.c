/* server/yaml_tree.c: libyaml events -> srv_yn tree (see server/yaml_tree.h).
 *
 * One pass over the event stream with an explicit stack of open sequences and mappings:
 * each scalar or collection start becomes a node appended to the open parent (or the
 * root). Everything is allocated in the caller's arena, so a failed build leaves nothing
 * to free but the arena. */
#include "server/yaml_tree.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

int srv_yaml_tree(const char *text, size_t len, ax_arena *a, srv_yn **root, ax_err *e) {
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return ax_err_set(e, AX_ENOMEM, "yaml: out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    srv_yn *stack[SRV_YN_MAX_DEPTH + 1];
    int depth = 0, docs = 0, rc = 0;
    size_t nodes = 0;
    srv_yn *top = NULL;
    bool done = false;
    while (!done && !rc) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = ax_err_set(e, AX_EINVAL, "line %lu: YAML syntax error: %s%s%s",
                            (unsigned long)p.problem_mark.line + 1, p.problem ? p.problem : "invalid YAML",
                            p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        int line = (int)ev.start_mark.line + 1;
        srv_yn *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) rc = ax_err_set(e, AX_EINVAL, "line %d: only one YAML document is allowed", line);
            break;
        case YAML_ALIAS_EVENT:
            rc = ax_err_set(e, AX_EINVAL, "line %d: YAML aliases are not supported", line);
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++nodes > SRV_YN_MAX_NODES) {
                rc = ax_err_set(e, AX_EINVAL, "line %d: more than %d YAML nodes", line, SRV_YN_MAX_NODES);
                break;
            }
            node = ax_arena_alloc(a, sizeof *node);
            if (!node) { rc = ax_err_set(e, AX_ENOMEM, "yaml: out of memory"); break; }
            memset(node, 0, sizeof *node);
            node->line = line;
            if (ev.type == YAML_SCALAR_EVENT) {
                size_t n = ev.data.scalar.length;
                char *s = ax_arena_alloc(a, n + 1);
                if (!s) { rc = ax_err_set(e, AX_ENOMEM, "yaml: out of memory"); break; }
                memcpy(s, ev.data.scalar.value, n);
                s[n] = 0;
                node->kind = SRV_YN_SCALAR;
                node->s = s;
                node->len = n;
                node->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
                node->null_ = !node->quoted && (n == 0 || !strcmp(s, "~") || !strcmp(s, "null") ||
                                                !strcmp(s, "Null") || !strcmp(s, "NULL"));
            } else {
                node->kind = ev.type == YAML_SEQUENCE_START_EVENT ? SRV_YN_SEQ : SRV_YN_MAP;
            }
            if (depth > 0) {
                srv_yn *par = stack[depth - 1];
                if (par->last) par->last->next = node;
                else par->kid = node;
                par->last = node;
                par->n++;
            } else if (!top) {
                top = node;
            }
            if (node->kind != SRV_YN_SCALAR) {
                if (depth >= SRV_YN_MAX_DEPTH) {
                    rc = ax_err_set(e, AX_EINVAL, "line %d: YAML nested too deeply", line);
                    break;
                }
                stack[depth++] = node;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) depth--;
            break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (!rc) *root = top;
    return rc;
}

const char *srv_yn_kind_name(const srv_yn *n) {
    return n->kind == SRV_YN_MAP ? "a mapping" : n->kind == SRV_YN_SEQ ? "a list" : "a scalar";
}

bool srv_yn_is_null(const srv_yn *n) { return n->kind == SRV_YN_SCALAR && n->null_; }

bool srv_yn_key_is(const srv_yn *k, const char *s) {
    return k->kind == SRV_YN_SCALAR && k->len == strlen(s) && !memcmp(k->s, s, k->len);
}

const srv_yn *srv_yn_map_check(const srv_yn *m, char *msg, size_t cap) {
    if (m->kind != SRV_YN_MAP) {
        snprintf(msg, cap, "expected a mapping, got %s", srv_yn_kind_name(m));
        return m;
    }
    if (m->n / 2 > SRV_YN_MAX_KEYS) {
        snprintf(msg, cap, "more than %d keys", SRV_YN_MAX_KEYS);
        return m;
    }
    for (const srv_yn *k = m->kid; k && k->next; k = k->next->next) {
        if (k->kind != SRV_YN_SCALAR) {
            snprintf(msg, cap, "mapping keys must be strings");
            return k;
        }
        for (const srv_yn *j = m->kid; j != k; j = j->next->next)
            if (j->len == k->len && !memcmp(j->s, k->s, k->len)) {
                snprintf(msg, cap, "duplicate key \"%.64s\"", k->s);
                return k;
            }
    }
    return NULL;
}

const srv_yn *srv_yn_get(const srv_yn *m, const char *key) {
    if (!m || m->kind != SRV_YN_MAP) return NULL;
    for (const srv_yn *k = m->kid; k && k->next; k = k->next->next)
        if (srv_yn_key_is(k, key)) return k->next;
    return NULL;
}
