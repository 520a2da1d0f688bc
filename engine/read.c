/* engine/read.c: label matchers, series selection, and sample reads.
 *
 * Selection walks the in-memory registry (every series is there, flushed or not, except
 * those marked deleted) and evaluates the matchers on its canonical label bytes; its
 * result is a snapshot the caller owns. A read copies the series' head samples first (buf and fl, under the
 * stripe lock) and only then opens an LMDB read txn: a flush that moves fl into LMDB in
 * between is then seen on one side or the other, never missed. The three sorted runs
 * (chunks, fl, buf) are merged, the newer source winning on an equal timestamp.
 */
#include "engine/engine_int.h"
#include "storage/codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- matchers ---- */

int eng_matcher_compile(eng_matcher *m, ax_err *err) {
    m->re = NULL;
    if (m->op != ENG_MATCH_RE && m->op != ENG_MATCH_NRE) return 0;
    ax_regex *re = NULL;
    int rc = ax_regex_compile(m->value, m->value_len, &re, err); /* anchored ^(?:v)$ */
    if (rc) return rc;
    m->re = re;
    return 0;
}

void eng_matcher_free(eng_matcher *m) {
    if (!m || !m->re) return;
    ax_regex_free(m->re);
    m->re = NULL;
}

bool eng_matcher_match(const eng_matcher *m, const char *v, size_t len) {
    switch (m->op) {
    case ENG_MATCH_EQ: return len == m->value_len && memcmp(v, m->value, len) == 0;
    case ENG_MATCH_NEQ: return !(len == m->value_len && memcmp(v, m->value, len) == 0);
    case ENG_MATCH_RE:
    case ENG_MATCH_NRE: {
        /* a value with a NUL byte never matches (ax_regex_match) */
        bool hit = ax_regex_match(m->re, v, len, NULL, 0);
        return m->op == ENG_MATCH_RE ? hit : !hit;
    }
    }
    return false;
}

static bool series_matches(const uint8_t *lb, size_t len, const eng_matcher *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t vl = 0;
        const char *v = ax_labels_get(lb, len, m[i].name, m[i].name_len, &vl);
        if (!v) {
            v = "";
            vl = 0;
        }
        if (!eng_matcher_match(&m[i], v, vl)) return false;
    }
    return true;
}

/* ---- selection ---- */

struct eng_sel {
    uint64_t *sids;
    uint8_t **labels;
    uint32_t *lens;
    size_t n, cap;
};

static int sel_push(eng_sel *s, uint64_t sid, const uint8_t *lb, size_t len) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        uint64_t *a = realloc(s->sids, cap * sizeof *a);
        if (a) s->sids = a;
        uint8_t **b = realloc(s->labels, cap * sizeof *b);
        if (b) s->labels = b;
        uint32_t *c = realloc(s->lens, cap * sizeof *c);
        if (c) s->lens = c;
        if (!a || !b || !c) return AX_ENOMEM;
        s->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return AX_ENOMEM;
    memcpy(copy, lb, len);
    s->sids[s->n] = sid;
    s->labels[s->n] = copy;
    s->lens[s->n] = (uint32_t)len;
    s->n++;
    return 0;
}

int eng_select(eng *e, const eng_matcher *m, size_t n, size_t max_series, eng_sel **out) {
    eng_sel *s = calloc(1, sizeof *s);
    if (!s) return AX_ENOMEM;
    uint64_t max_sid = eng__registry_max_sid(&e->reg);
    int rc = 0;
    for (uint64_t sid = 1; sid <= max_sid && !rc; sid++) {
        eng_series *se = eng__registry_by_sid(&e->reg, sid);
        if (!se || atomic_load(&se->deleted) || !series_matches(se->labels, se->labels_len, m, n))
            continue; /* deleted: by retention or eng_series_delete (engine/retention.c) */
        if (max_series && s->n >= max_series) {
            rc = AX_ELIMIT;
            break;
        }
        rc = sel_push(s, sid, se->labels, se->labels_len);
    }
    if (rc) {
        eng_sel_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

size_t eng_sel_count(const eng_sel *s) { return s->n; }
uint64_t eng_sel_sid(const eng_sel *s, size_t i) { return s->sids[i]; }
const uint8_t *eng_sel_labels(const eng_sel *s, size_t i, size_t *len_out) {
    *len_out = s->lens[i];
    return s->labels[i];
}

void eng_sel_free(eng_sel *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->labels[i]);
    free(s->sids);
    free(s->labels);
    free(s->lens);
    free(s);
}

/* ---- reading samples ---- */

void eng_samples_free(eng_samples *s) {
    if (!s) return;
    free(s->ts);
    free(s->v);
    s->ts = NULL;
    s->v = NULL;
    s->n = s->cap = 0;
}

static int samples_reserve(eng_samples *s, size_t need, size_t max) {
    if (max && need > max) return AX_ELIMIT;
    if (need <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need) cap *= 2;
    int64_t *a = realloc(s->ts, cap * sizeof *a);
    if (a) s->ts = a;
    double *b = realloc(s->v, cap * sizeof *b);
    if (b) s->v = b;
    if (!a || !b) return AX_ENOMEM;
    s->cap = cap;
    return 0;
}

/* Copy the samples of run[0..n) within [mint, maxt] into a fresh array. */
static eng_sample *copy_range(const eng_sample *run, size_t n, int64_t mint, int64_t maxt,
                              size_t *n_out) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (run[mid].ts < mint) lo = mid + 1; else hi = mid;
    }
    size_t end = lo;
    while (end < n && run[end].ts <= maxt) end++;
    *n_out = end - lo;
    if (end == lo) return NULL;
    eng_sample *c = malloc((end - lo) * sizeof *c);
    if (c) memcpy(c, run + lo, (end - lo) * sizeof *c);
    return c;
}

/* Merge sorted run b (newer) into out (sorted); b wins on equal timestamps. */
static int merge_run(eng_samples *out, const eng_sample *b, size_t nb, size_t max) {
    if (!nb) return 0;
    if (out->n == 0 || b[0].ts > out->ts[out->n - 1]) {
        int rc = samples_reserve(out, out->n + nb, max);
        if (rc) return rc;
        for (size_t i = 0; i < nb; i++) {
            out->ts[out->n + i] = b[i].ts;
            out->v[out->n + i] = b[i].v;
        }
        out->n += nb;
        return 0;
    }
    size_t na = out->n;
    int64_t *ts = malloc((na + nb) * sizeof *ts);
    double *v = malloc((na + nb) * sizeof *v);
    if (!ts || !v) {
        free(ts);
        free(v);
        return AX_ENOMEM;
    }
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        if (j == nb || (i < na && out->ts[i] < b[j].ts)) {
            ts[k] = out->ts[i];
            v[k++] = out->v[i++];
        } else {
            if (i < na && out->ts[i] == b[j].ts) i++;
            ts[k] = b[j].ts;
            v[k++] = b[j++].v;
        }
    }
    if (max && k > max) {
        free(ts);
        free(v);
        return AX_ELIMIT;
    }
    free(out->ts);
    free(out->v);
    out->ts = ts;
    out->v = v;
    out->n = k;
    out->cap = na + nb;
    return 0;
}

int eng_series_read(eng *e, uint64_t sid, int64_t mint, int64_t maxt, size_t max_samples,
                    eng_samples *out) {
    out->n = 0;
    eng_series *se = eng__registry_by_sid(&e->reg, sid);
    if (!se) return AX_ENOTFOUND;
    /* head first, then LMDB (see the top of this file) */
    size_t nfl = 0, nbuf = 0;
    pthread_mutex_t *mu = eng__stripe(e, sid);
    pthread_mutex_lock(mu);
    eng_sample *fl = copy_range(se->fl, se->fl_n, mint, maxt, &nfl);
    eng_sample *buf = copy_range(se->buf, se->n, mint, maxt, &nbuf);
    pthread_mutex_unlock(mu);
    int rc = ((nfl && !fl) || (nbuf && !buf)) ? AX_ENOMEM : 0;

    stor_txn *t = NULL;
    if (!rc) rc = stor_txn_begin(e->stor, STOR_TXN_READ, &t);
    stor_chunk_view views[64];
    int64_t from = mint;
    while (!rc) {
        size_t nv = 0;
        int r = stor_chunks_range(t, sid, from, maxt, views, 64, &nv);
        if (r && r != AX_ETOOBIG) {
            rc = r;
            break;
        }
        for (size_t i = 0; i < nv && !rc; i++) {
            /* Decode straight into out past its end, then keep what is in [mint, maxt] and
             * newer than the last sample kept (chunks may overlap after a rewrite). */
            rc = samples_reserve(out, out->n + views[i].n, 0);
            size_t got = 0, base = out->n;
            if (!rc)
                rc = codec_chunk_decode(NULL, views[i].data, views[i].len, out->ts + base,
                                        out->v + base, out->cap - base, &got);
            if (rc == AX_ECORRUPT) {
                /* one unreadable chunk: say so, serve the rest of the series */
                fprintf(stderr, "auspex: series %llu: chunk at %lld does not decode; skipped\n",
                        (unsigned long long)sid, (long long)views[i].mint);
                rc = 0;
                got = 0;
            }
            if (rc) break;
            int64_t last = base ? out->ts[base - 1] : INT64_MIN;
            size_t w = base;
            for (size_t k = base; k < base + got; k++) {
                int64_t ts = out->ts[k];
                if (ts < mint || ts > maxt || ts <= last) continue;
                out->ts[w] = ts;
                out->v[w++] = out->v[k];
                last = ts;
            }
            out->n = w;
            if (max_samples && out->n > max_samples) rc = AX_ELIMIT;
        }
        if (rc || r != AX_ETOOBIG || !nv || views[nv - 1].maxt >= maxt) break;
        from = views[nv - 1].maxt + 1;
    }
    stor_txn_abort(t);
    if (!rc) rc = merge_run(out, fl, nfl, max_samples);
    if (!rc) rc = merge_run(out, buf, nbuf, max_samples);
    free(fl);
    free(buf);
    return rc;
}

int eng_series_read_all(eng *e, uint64_t sid, int64_t mint, int64_t maxt, size_t max_samples,
                        eng_samples *out) {
    eng_rollups r = {0};
    int rc = eng_series_read_rollups(e, sid, mint, maxt, &r);
    size_t keep = 0;
    if (!rc) rc = eng_series_read(e, sid, mint, maxt, max_samples, out);
    if (!rc)
        while (keep < r.n && (out->n == 0 || r.t[keep] < out->ts[0])) keep++;
    if (!rc && keep) {
        rc = samples_reserve(out, out->n + keep, max_samples);
        if (!rc) {
            memmove(out->ts + keep, out->ts, out->n * sizeof *out->ts);
            memmove(out->v + keep, out->v, out->n * sizeof *out->v);
            memcpy(out->ts, r.t, keep * sizeof *out->ts);
            memcpy(out->v, r.last, keep * sizeof *out->v);
            out->n += keep;
        }
    }
    eng_rollups_free(&r);
    return rc;
}
