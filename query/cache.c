/* query/cache.c: query results kept for reuse, as VictoriaMetrics' rollup result cache.
 *
 * Dashboards ask the same range query again and again, each time a little further along.
 * PromQL's value at a step depends only on samples at or before that step (without @,
 * negative offsets and @ start()/end(), which we never cache), so the points of a range
 * query for steps older than `now - offset` stay right as long as no sample that old is
 * written afterwards. An entry keeps, per query text + step + step phase + lookback, the
 * matrix for steps [c_start, c_end] (c_end <= now - offset when stored); a later query with
 * the same key whose start falls in that span takes those points and evaluates only the
 * steps after c_end, then the merged answer replaces the entry. Instant queries at a time
 * older than now - offset are kept whole.
 * Invalidation: before each lookup the engine reports the oldest sample written since the
 * previous one (eng_take_oldest_write); every entry drops the steps at or after it.
 * Memory: entries are deep copies (own arenas); past max_bytes the least recently used go.
 * Threads: one mutex around the entry list; evaluation runs outside it.
 */
#include "query/query.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 4096

typedef struct centry {
    char *key;
    size_t key_len;
    uint64_t hash;
    bool range;
    int64_t c_start, c_end; /* range: the steps covered; instant: the time (both equal) */
    int64_t step;
    pql_result *res;
    size_t bytes;
    uint64_t used;          /* LRU clock */
    struct centry *next;
} centry;

struct pql_cache {
    pthread_mutex_t mu;
    centry *list;
    size_t n, bytes, max_bytes;
    int64_t offset_ms;
    uint64_t clock;
    uint64_t hits, partial, misses;
};

pql_cache *pql_cache_new(size_t max_bytes, int64_t offset_ms) {
    pql_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    c->offset_ms = offset_ms;
    return c;
}

static void entry_free(centry *x) {
    pql_result_free(x->res);
    free(x->key);
    free(x);
}

void pql_cache_reset(pql_cache *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    while (c->list) {
        centry *x = c->list;
        c->list = x->next;
        entry_free(x);
    }
    c->n = c->bytes = 0;
    pthread_mutex_unlock(&c->mu);
}

void pql_cache_free(pql_cache *c) {
    if (!c) return;
    pql_cache_reset(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void pql_cache_stats(pql_cache *c, uint64_t *hits, uint64_t *partial, uint64_t *misses,
                     size_t *bytes) {
    pthread_mutex_lock(&c->mu);
    *hits = c->hits;
    *partial = c->partial;
    *misses = c->misses;
    *bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}

/* Can results of n be reused across queries? Not with @ or a negative offset (a step would
 * depend on later samples) or anything relative to the query's own range. */
static bool cacheable(const pql_node *n) {
    if (!n) return true;
    switch (n->kind) {
    case PQL_VECTOR_SEL: return n->sel.at == PQL_AT_NONE && n->sel.offset_ms >= 0;
    case PQL_MATRIX_SEL: return cacheable(n->matrix.vs);
    case PQL_SUBQUERY:
        return n->subq.at == PQL_AT_NONE && n->subq.offset_ms >= 0 && cacheable(n->subq.expr);
    case PQL_CALL:
        for (size_t i = 0; i < n->call.n_args; i++)
            if (!cacheable(n->call.args[i])) return false;
        return true;
    case PQL_AGG: return cacheable(n->agg.expr) && cacheable(n->agg.param);
    case PQL_BINARY: return cacheable(n->bin.lhs) && cacheable(n->bin.rhs);
    case PQL_UNARY: return cacheable(n->unary.expr);
    case PQL_PAREN: return cacheable(n->paren.expr);
    default: return true;
    }
}

/* ---- deep copies ---- */

static size_t labels_bytes(const pql_rseries *s) {
    size_t b = s->n_ls * sizeof(ax_label);
    for (size_t i = 0; i < s->n_ls; i++) b += s->ls[i].name_len + s->ls[i].value_len + 2;
    return b;
}

/* Copy labels into arena a. */
static ax_label *labels_copy(ax_arena *a, const ax_label *ls, size_t n) {
    ax_label *o = ax_arena_alloc(a, (n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        char *nm = ax_arena_alloc(a, ls[i].name_len + ls[i].value_len + 2);
        if (!nm) return NULL;
        memcpy(nm, ls[i].name, ls[i].name_len);
        nm[ls[i].name_len] = 0;
        memcpy(nm + ls[i].name_len + 1, ls[i].value, ls[i].value_len);
        nm[ls[i].name_len + 1 + ls[i].value_len] = 0;
        o[i] = (ax_label){nm, nm + ls[i].name_len + 1, ls[i].name_len, ls[i].value_len};
    }
    return o;
}

static pql_result *result_new(size_t n_series) {
    pql_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    ax_arena_init(&r->arena, SIZE_MAX / 2);
    r->s = ax_arena_alloc(&r->arena, (n_series ? n_series : 1) * sizeof *r->s);
    if (!r->s) {
        pql_result_free(r);
        return NULL;
    }
    return r;
}

/* Copy of src keeping only points in [lo, hi] (series left without points dropped).
 * OUT: *bytes, the copy's size for the cache's accounting. NULL when out of memory. */
static pql_result *result_copy(const pql_result *src, int64_t lo, int64_t hi, size_t *bytes) {
    pql_result *r = result_new(src->n);
    if (!r) return NULL;
    size_t b = sizeof *r + src->n * sizeof *r->s;
    r->type = src->type;
    r->scalar = src->scalar;
    r->t = src->t;
    if (src->type == PQL_T_STRING) {
        char *p = ax_arena_strndup(&r->arena, src->str.p, src->str.len);
        if (!p) goto fail;
        r->str = (pql_str){p, src->str.len};
        b += src->str.len;
    }
    for (size_t k = 0; k < src->n; k++) {
        const pql_rseries *s = &src->s[k];
        size_t a = 0, e;
        while (a < s->n && s->ts[a] < lo) a++;
        for (e = a; e < s->n && s->ts[e] <= hi;) e++;
        if (a == e) continue;
        pql_rseries *d = &r->s[r->n];
        d->ls = labels_copy(&r->arena, s->ls, s->n_ls);
        d->n_ls = s->n_ls;
        d->ts = ax_arena_dup(&r->arena, s->ts + a, (e - a) * sizeof *s->ts);
        d->v = ax_arena_dup(&r->arena, s->v + a, (e - a) * sizeof *s->v);
        d->n = e - a;
        if (!d->ls || !d->ts || !d->v) goto fail;
        b += labels_bytes(s) + (e - a) * 16 + sizeof *d;
        r->n++;
    }
    *bytes = b;
    return r;
fail:
    pql_result_free(r);
    return NULL;
}

static int lbl_cmp(const pql_rseries *x, const pql_rseries *y) {
    size_t m = x->n_ls < y->n_ls ? x->n_ls : y->n_ls;
    for (size_t i = 0; i < m; i++) {
        const ax_label *a = &x->ls[i], *b = &y->ls[i];
        size_t l = a->name_len < b->name_len ? a->name_len : b->name_len;
        int c = memcmp(a->name, b->name, l);
        if (!c) c = (a->name_len > b->name_len) - (a->name_len < b->name_len);
        if (c) return c;
        l = a->value_len < b->value_len ? a->value_len : b->value_len;
        c = memcmp(a->value, b->value, l);
        if (!c) c = (a->value_len > b->value_len) - (a->value_len < b->value_len);
        if (c) return c;
    }
    return (x->n_ls > y->n_ls) - (x->n_ls < y->n_ls);
}

/* Two matrices sorted by labels, every point of `old` before every point of `fresh`:
 * one matrix with each series' points concatenated. NULL when out of memory. */
static pql_result *matrix_merge(const pql_result *old, const pql_result *fresh) {
    pql_result *r = result_new(old->n + fresh->n);
    if (!r) return NULL;
    r->type = PQL_T_MATRIX;
    size_t i = 0, j = 0;
    while (i < old->n || j < fresh->n) {
        int c = i == old->n ? 1 : j == fresh->n ? -1 : lbl_cmp(&old->s[i], &fresh->s[j]);
        const pql_rseries *a = c <= 0 ? &old->s[i] : NULL, *b = c >= 0 ? &fresh->s[j] : NULL;
        const pql_rseries *l = a ? a : b;
        size_t na = a ? a->n : 0, nb = b ? b->n : 0;
        pql_rseries *d = &r->s[r->n++];
        int64_t *ts = ax_arena_alloc(&r->arena, (na + nb) * sizeof *ts);
        double *v = ax_arena_alloc(&r->arena, (na + nb) * sizeof *v);
        d->ls = labels_copy(&r->arena, l->ls, l->n_ls);
        if (!ts || !v || !d->ls) {
            pql_result_free(r);
            return NULL;
        }
        if (na) { memcpy(ts, a->ts, na * sizeof *ts); memcpy(v, a->v, na * sizeof *v); }
        if (nb) { memcpy(ts + na, b->ts, nb * sizeof *ts); memcpy(v + na, b->v, nb * sizeof *v); }
        d->n_ls = l->n_ls;
        d->ts = ts;
        d->v = v;
        d->n = na + nb;
        if (a) i++;
        if (b) j++;
    }
    r->warnings = fresh->warnings; /* pointers into fresh's arena: fixed up by the caller */
    r->n_warnings = fresh->n_warnings;
    return r;
}

/* ---- the entry list (caller holds mu) ---- */

static centry *find(pql_cache *c, const char *key, size_t len, uint64_t h) {
    for (centry *x = c->list; x; x = x->next)
        if (x->hash == h && x->key_len == len && !memcmp(x->key, key, len)) return x;
    return NULL;
}

static void unlink_entry(pql_cache *c, centry *x) {
    for (centry **p = &c->list; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            c->n--;
            c->bytes -= x->bytes;
            return;
        }
}

/* Drop every step at or after `t` (a sample that old was written). */
static void invalidate(pql_cache *c, int64_t t) {
    for (centry *x = c->list, *next; x; x = next) {
        next = x->next;
        if (x->c_end < t) continue;
        if (!x->range || x->c_start >= t) {
            unlink_entry(c, x);
            entry_free(x);
            continue;
        }
        int64_t end = x->c_start + (t - 1 - x->c_start) / x->step * x->step;
        size_t b = 0;
        pql_result *r = result_copy(x->res, x->c_start, end, &b);
        if (!r) {
            unlink_entry(c, x);
            entry_free(x);
            continue;
        }
        pql_result_free(x->res);
        c->bytes = c->bytes - x->bytes + b;
        x->res = r;
        x->bytes = b;
        x->c_end = end;
    }
}

/* Insert (or replace) an entry; evict least recently used ones past the budget. Takes
 * ownership of res. */
static void store(pql_cache *c, const char *key, size_t len, uint64_t h, bool range, int64_t start,
                  int64_t end, int64_t step, pql_result *res, size_t bytes) {
    centry *old = find(c, key, len, h);
    if (old) {
        unlink_entry(c, old);
        entry_free(old);
    }
    if (bytes > c->max_bytes / 4) { /* one answer may not take most of the cache */
        pql_result_free(res);
        return;
    }
    centry *x = calloc(1, sizeof *x);
    char *k = malloc(len);
    if (!x || !k) {
        free(x);
        free(k);
        pql_result_free(res);
        return;
    }
    memcpy(k, key, len);
    *x = (centry){k, len, h, range, start, end, step, res, bytes + len + sizeof *x, ++c->clock, c->list};
    c->list = x;
    c->n++;
    c->bytes += x->bytes;
    while ((c->bytes > c->max_bytes || c->n > MAX_ENTRIES) && c->list) {
        centry *lru = c->list;
        for (centry *y = c->list; y; y = y->next)
            if (y->used < lru->used) lru = y;
        unlink_entry(c, lru);
        entry_free(lru);
    }
}

/* ---- the entry point ---- */

int pql_exec_cached(pql_cache *c, eng *e, const pql_node *root, int64_t start, int64_t end,
                    int64_t step, bool range, const pql_opts *o, int64_t now_ms,
                    pql_result **out, ax_err *err) {
    if (!c || !cacheable(root) || (range && (step <= 0 || end < start)))
        return pql_exec(e, root, start, end, step, range, o, out, err);
    int64_t oldest = eng_take_oldest_write(e);
    int64_t horizon = now_ms - c->offset_ms;
    ax_buf key;
    ax_buf_init(&key, 1u << 20);
    int rc = pql_print(root, &key);
    if (!rc)
        rc = ax_buf_printf(&key, "\n%s %lld %lld %lld", range ? "range" : "instant",
                           (long long)(range ? step : start),
                           (long long)(range ? ((start % step) + step) % step : 0),
                           (long long)(o ? o->lookback_ms : 0));
    if (rc) { /* a key too big to keep: just evaluate */
        ax_buf_free(&key);
        return pql_exec(e, root, start, end, step, range, o, out, err);
    }
    uint64_t h = ax_hash(key.data, key.len, 0);
    pql_result *cached = NULL;
    int64_t fresh_start = start;
    size_t bytes = 0;
    pthread_mutex_lock(&c->mu);
    if (oldest != INT64_MAX) invalidate(c, oldest);
    centry *x = find(c, (const char *)key.data, key.len, h);
    if (x && !range && x->c_start == start) {
        cached = result_copy(x->res, INT64_MIN, INT64_MAX, &bytes);
        x->used = ++c->clock;
    } else if (x && range && x->c_start <= start && start <= x->c_end) {
        cached = result_copy(x->res, start, end, &bytes);
        fresh_start = x->c_end + step;
        x->used = ++c->clock;
    }
    if (cached) {
        if (!range || fresh_start > end) c->hits++;
        else c->partial++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);

    pql_result *res = cached, *fresh = NULL;
    if (!cached || (range && fresh_start <= end)) {
        rc = pql_exec(e, root, fresh_start, end, step, range, o, &fresh, err);
        if (rc) {
            pql_result_free(cached);
            ax_buf_free(&key);
            return rc;
        }
        if (cached) {
            res = matrix_merge(cached, fresh);
            if (res) {
                /* warnings: copy their text into the merged arena */
                const char **w = ax_arena_alloc(&res->arena, (fresh->n_warnings + 1) * sizeof *w);
                for (size_t i = 0; w && i < fresh->n_warnings; i++)
                    w[i] = ax_arena_dup(&res->arena, fresh->warnings[i], strlen(fresh->warnings[i]) + 1);
                res->warnings = w;
                res->n_warnings = w ? fresh->n_warnings : 0;
            }
            pql_result_free(cached);
            pql_result_free(fresh);
            if (!res) {
                ax_buf_free(&key);
                return ax_err_set(err, AX_ENOMEM, "out of memory merging cached results");
            }
        } else {
            res = fresh;
        }
        /* keep what is old enough not to change */
        int64_t keep_end = range ? (end < horizon ? end : start + (horizon - start) / step * step)
                                 : start;
        if (res->n_warnings == 0 && start <= horizon && keep_end >= start) {
            pql_result *copy = result_copy(res, INT64_MIN, range ? keep_end : INT64_MAX, &bytes);
            if (copy) {
                pthread_mutex_lock(&c->mu);
                store(c, (const char *)key.data, key.len, h, range, start, keep_end, step, copy, bytes);
                pthread_mutex_unlock(&c->mu);
            }
        }
    }
    ax_buf_free(&key);
    *out = res;
    return 0;
}
