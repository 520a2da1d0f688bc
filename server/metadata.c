/* server/metadata.c: the metadata table (see metadata.h): an open-addressing hash of
 * metric family names, each entry malloc'd, grown by doubling, under one mutex. A scan of
 * a body looks only at lines that start with '#', so it costs one memchr per line. */
#include "server/metadata.h"
#include "server/app.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HELP 4096

typedef struct entry {
    char *name;
    size_t name_len;
    char type[16];
    char *help;
    char *unit;
} entry;

struct srv_meta {
    pthread_mutex_t mu;
    entry **slot;
    size_t cap, n, max;
};

srv_meta *srv_meta_new(size_t max_families) {
    srv_meta *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cap = 256;
    m->slot = calloc(m->cap, sizeof *m->slot);
    if (!m->slot) {
        free(m);
        return NULL;
    }
    m->max = max_families;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void entry_free(entry *e) {
    if (!e) return;
    free(e->name);
    free(e->help);
    free(e->unit);
    free(e);
}

void srv_meta_free(srv_meta *m) {
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++) entry_free(m->slot[i]);
    free(m->slot);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static size_t slot_of(entry **slot, size_t cap, const char *name, size_t len) {
    size_t h = (size_t)ax_hash(name, len, 3) & (cap - 1);
    while (slot[h] && !(slot[h]->name_len == len && !memcmp(slot[h]->name, name, len)))
        h = (h + 1) & (cap - 1);
    return h;
}

/* The entry for name, created if there is room. Called with the mutex held. */
static entry *get(srv_meta *m, const char *name, size_t len) {
    size_t h = slot_of(m->slot, m->cap, name, len);
    if (m->slot[h]) return m->slot[h];
    if (m->n >= m->max) return NULL;
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap * 2;
        entry **ns = calloc(cap, sizeof *ns);
        if (!ns) return NULL;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slot[i]) ns[slot_of(ns, cap, m->slot[i]->name, m->slot[i]->name_len)] = m->slot[i];
        free(m->slot);
        m->slot = ns;
        m->cap = cap;
        h = slot_of(m->slot, m->cap, name, len);
    }
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = malloc(len + 1))) {
        free(e);
        return NULL;
    }
    memcpy(e->name, name, len);
    e->name[len] = 0;
    e->name_len = len;
    strcpy(e->type, "unknown");
    m->slot[h] = e;
    m->n++;
    return e;
}

/* Copy s[0..len) unescaping \\ and \n (other escapes kept as written), capped. */
static char *unescape(const char *s, size_t len) {
    if (len > MAX_HELP) len = MAX_HELP;
    char *o = malloc(len + 1), *q = o;
    if (!o) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
            *q++ = s[i + 1] == 'n' ? '\n' : '\\';
            i++;
        } else {
            *q++ = s[i];
        }
    }
    *q = 0;
    return o;
}

static const char *type_name(const char *s, size_t len) {
    static const char *known[] = {"counter", "gauge", "histogram", "gaugehistogram", "summary",
                                  "info", "stateset", "unknown"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strlen(known[i]) == len && !memcmp(known[i], s, len)) return known[i];
    if (len == 7 && !memcmp(s, "untyped", 7)) return "unknown";
    return NULL;
}

/* One comment line p[0..len) (after '#'). Mutex held. Returns 1 if recorded. */
static int observe_line(srv_meta *m, const char *p, size_t len) {
    const char *end = p + len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    int kind;
    if (end - p >= 4 && !memcmp(p, "HELP", 4)) kind = 0;
    else if (end - p >= 4 && !memcmp(p, "TYPE", 4)) kind = 1;
    else if (end - p >= 4 && !memcmp(p, "UNIT", 4)) kind = 2;
    else return 0;
    p += 4;
    if (p == end || (*p != ' ' && *p != '\t')) return 0;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *name = p;
    while (p < end && *p != ' ' && *p != '\t') p++;
    size_t nl = (size_t)(p - name);
    if (!ax_metric_name_valid(name, nl)) return 0;
    if (p < end) p++; /* one separator; HELP text keeps the rest as written */
    const char *text = p;
    size_t tl = (size_t)(end - p);
    while (tl && (text[tl - 1] == '\r')) tl--;
    const char *tn = NULL;
    if (kind == 1) {
        while (tl && (text[tl - 1] == ' ' || text[tl - 1] == '\t')) tl--;
        if (!(tn = type_name(text, tl))) return 0;
    }
    entry *e = get(m, name, nl);
    if (!e) return 0;
    if (kind == 1) {
        strcpy(e->type, tn);
    } else {
        char *v = unescape(text, tl);
        if (!v) return 0;
        char **dst = kind == 0 ? &e->help : &e->unit;
        free(*dst);
        *dst = v;
    }
    return 1;
}

size_t srv_meta_observe(srv_meta *m, const char *body, size_t len) {
    if (!m || !body) return 0;
    size_t n = 0;
    const char *p = body, *end = body + len;
    pthread_mutex_lock(&m->mu);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t')) q++;
        if (q < le && *q == '#') {
            if (le - q == 5 && !memcmp(q, "# EOF", 5)) break;
            n += (size_t)observe_line(m, q + 1, (size_t)(le - q - 1));
        }
        p = nl ? nl + 1 : end;
    }
    pthread_mutex_unlock(&m->mu);
    return n;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp((*(entry *const *)a)->name, (*(entry *const *)b)->name);
}

int srv_meta_write_json(srv_meta *m, const char *metric, size_t metric_len, size_t limit, ax_buf *out) {
    pthread_mutex_lock(&m->mu);
    entry **list = malloc((m->n ? m->n : 1) * sizeof *list);
    if (!list) {
        pthread_mutex_unlock(&m->mu);
        return AX_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++) {
        entry *e = m->slot[i];
        if (!e) continue;
        if (metric && !(e->name_len == metric_len && !memcmp(e->name, metric, metric_len))) continue;
        list[k++] = e;
    }
    qsort(list, k, sizeof *list, cmp_entry);
    if (limit && k > limit) k = limit;
    int rc = ax_buf_append(out, "{", 1);
    for (size_t i = 0; i < k && !rc; i++) {
        entry *e = list[i];
        if (i) rc = ax_buf_append(out, ",", 1);
        if (!rc) rc = srv_json_str(out, e->name, e->name_len);
        if (!rc) rc = ax_buf_printf(out, ":[{\"type\":\"%s\",\"help\":", e->type);
        if (!rc) rc = srv_json_str(out, e->help ? e->help : "", e->help ? strlen(e->help) : 0);
        if (!rc) rc = ax_buf_append(out, ",\"unit\":", 8);
        if (!rc) rc = srv_json_str(out, e->unit ? e->unit : "", e->unit ? strlen(e->unit) : 0);
        if (!rc) rc = ax_buf_append(out, "}]", 2);
    }
    if (!rc) rc = ax_buf_append(out, "}", 1);
    pthread_mutex_unlock(&m->mu);
    free(list);
    return rc;
}

size_t srv_meta_count(srv_meta *m) {
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    pthread_mutex_unlock(&m->mu);
    return n;
}
