/* engine/registry.c: canonical label bytes -> series, and sid -> series.
 *
 * Every known series is in memory: a hash table sharded 64 ways (each shard its own
 * mutex and open-addressing table of pointers, keyed by ax_hash of the canonical label
 * bytes), and a two-level append-only array indexed by sid that readers walk without
 * locks. Sids are dense: 1, 2, 3... in creation order, so LMDB keys arrive in order.
 * Series are never freed while the engine is open: a deleted series (retention,
 * eng_series_delete) stays here marked `deleted` and comes back on its next sample
 * (engine/retention.c).
 */
#include "engine/engine_int.h"

#include <stdlib.h>
#include <string.h>

int eng__registry_init(eng_registry *r) {
    memset(r, 0, sizeof *r);
    for (int i = 0; i < ENG_SHARDS; i++) pthread_mutex_init(&r->shards[i].mu, NULL);
    pthread_mutex_init(&r->page_mu, NULL);
    atomic_store(&r->next_sid, 1);
    return 0;
}

void eng__registry_fini(eng_registry *r) {
    for (size_t p = 0; p < ENG_SID_PAGES; p++) {
        eng_series **page = atomic_load(&r->pages[p]);
        if (!page) continue;
        for (size_t i = 0; i < (1u << ENG_SID_PAGE_BITS); i++) {
            eng_series *s = page[i];
            if (!s) continue;
            free(s->labels);
            free(s->buf);
            free(s->fl);
            free(s);
        }
        free(page);
    }
    for (int i = 0; i < ENG_SHARDS; i++) {
        free(r->shards[i].slots);
        pthread_mutex_destroy(&r->shards[i].mu);
    }
    pthread_mutex_destroy(&r->page_mu);
}

static eng_shard *shard_of(eng_registry *r, uint64_t h) { return &r->shards[h >> 58]; }

static eng_series *shard_find(eng_shard *sh, const uint8_t *lb, size_t len, uint64_t h) {
    if (!sh->cap) return NULL;
    size_t mask = sh->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        eng_series *s = sh->slots[i];
        if (!s) return NULL;
        if (s->hash == h && s->labels_len == len && memcmp(s->labels, lb, len) == 0) return s;
    }
}

static int shard_insert(eng_shard *sh, eng_series *s) {
    if ((sh->n + 1) * 4 > sh->cap * 3) {
        size_t ncap = sh->cap ? sh->cap * 2 : 1024;
        eng_series **ns = calloc(ncap, sizeof *ns);
        if (!ns) return AX_ENOMEM;
        for (size_t i = 0; i < sh->cap; i++) {
            eng_series *o = sh->slots[i];
            if (!o) continue;
            size_t j = o->hash & (ncap - 1);
            while (ns[j]) j = (j + 1) & (ncap - 1);
            ns[j] = o;
        }
        free(sh->slots);
        sh->slots = ns;
        sh->cap = ncap;
    }
    size_t j = s->hash & (sh->cap - 1);
    while (sh->slots[j]) j = (j + 1) & (sh->cap - 1);
    sh->slots[j] = s;
    sh->n++;
    return 0;
}

static int publish_sid(eng_registry *r, eng_series *s) {
    size_t p = s->sid >> ENG_SID_PAGE_BITS, i = s->sid & ((1u << ENG_SID_PAGE_BITS) - 1);
    if (p >= ENG_SID_PAGES) return AX_ELIMIT;
    eng_series **page = atomic_load(&r->pages[p]);
    if (!page) {
        pthread_mutex_lock(&r->page_mu);
        page = atomic_load(&r->pages[p]);
        if (!page) {
            page = calloc((size_t)1 << ENG_SID_PAGE_BITS, sizeof *page);
            if (page) atomic_store(&r->pages[p], page);
        }
        pthread_mutex_unlock(&r->page_mu);
        if (!page) return AX_ENOMEM;
    }
    __atomic_store_n(&page[i], s, __ATOMIC_RELEASE);
    return 0;
}

eng_series *eng__registry_find(eng_registry *r, const uint8_t *lb, size_t len, uint64_t h) {
    eng_shard *sh = shard_of(r, h);
    pthread_mutex_lock(&sh->mu);
    eng_series *s = shard_find(sh, lb, len, h);
    pthread_mutex_unlock(&sh->mu);
    return s;
}

eng_series *eng__registry_get_or_add(eng_registry *r, const uint8_t *lb, size_t len, uint64_t h,
                                     uint64_t sid, size_t max_series, bool *created,
                                     bool *limited) {
    *created = false;
    *limited = false;
    eng_shard *sh = shard_of(r, h);
    pthread_mutex_lock(&sh->mu);
    eng_series *s = shard_find(sh, lb, len, h);
    if (s) {
        pthread_mutex_unlock(&sh->mu);
        return s;
    }
    if (max_series && atomic_load(&r->count) >= max_series) {
        pthread_mutex_unlock(&sh->mu);
        *limited = true;
        return NULL;
    }
    s = calloc(1, sizeof *s);
    uint8_t *copy = s ? malloc(len ? len : 1) : NULL;
    if (!s || !copy) goto oom;
    memcpy(copy, lb, len);
    s->labels = copy;
    s->labels_len = (uint32_t)len;
    s->hash = h;
    if (sid) {
        s->sid = sid;
        uint64_t next = atomic_load(&r->next_sid);
        while (next <= sid && !atomic_compare_exchange_weak(&r->next_sid, &next, sid + 1)) {}
    } else {
        s->sid = atomic_fetch_add(&r->next_sid, 1);
    }
    if (shard_insert(sh, s)) goto oom;
    if (publish_sid(r, s)) {
        /* cannot index it by sid: take it back out of the shard */
        size_t mask = sh->cap - 1, j = h & mask;
        while (sh->slots[j] != s) j = (j + 1) & mask;
        sh->slots[j] = NULL;
        sh->n--;
        /* re-insert the rest of the probe run so lookups stay correct */
        for (size_t k = (j + 1) & mask; sh->slots[k]; k = (k + 1) & mask) {
            eng_series *o = sh->slots[k];
            sh->slots[k] = NULL;
            sh->n--;
            shard_insert(sh, o);
        }
        goto oom;
    }
    atomic_fetch_add(&r->count, 1);
    pthread_mutex_unlock(&sh->mu);
    *created = true;
    return s;
oom:
    pthread_mutex_unlock(&sh->mu);
    if (s) free(s->labels);
    free(s);
    return NULL;
}

eng_series *eng__registry_by_sid(eng_registry *r, uint64_t sid) {
    size_t p = sid >> ENG_SID_PAGE_BITS, i = sid & ((1u << ENG_SID_PAGE_BITS) - 1);
    if (p >= ENG_SID_PAGES) return NULL;
    eng_series **page = atomic_load(&r->pages[p]);
    if (!page) return NULL;
    return __atomic_load_n(&page[i], __ATOMIC_ACQUIRE);
}

uint64_t eng__registry_max_sid(eng_registry *r) { return atomic_load(&r->next_sid) - 1; }
