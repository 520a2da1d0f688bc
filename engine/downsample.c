/* engine/downsample.c: downsampling (docs/downsampling.md) and reading rollup points.
 *
 * Levels: o.downsample[k] = (age_k, step_k), ages increasing, each step a multiple of the
 * previous one. A rollup point stands for the samples of one series in one step-aligned
 * interval (a, a + step] (fields: engine.h, eng_rollups). Points live in LMDB's rollups db
 * as blocks of one step each (storage/rollups.c; bytes: storage/codec/rollup.c, one codec
 * chunk per column), keyed (sid, t of the first point).
 *
 * A pass (eng_downsample_run; the retention thread runs one after each retention pass):
 *   for k = 0 .. n-1: cut_k = floor((now - age_k) / step_k) * step_k; walk the registry in
 *   sid order, per series:
 *   level 0: the raw chunks whose maxt <= cut_0 (whole chunks only: one straddling cut_0
 *     waits for a later pass, so two points may share an interval; readers merge them).
 *     Decode them, drop stale markers and samples at or before the series' newest rollup
 *     point (late writes: rollups must lie before raw data, and cum runs forward), roll up
 *     the rest at step_0 starting from that newest point's last value and cum_last (a drop
 *     from it is a reset, counted in the interval where it happens), delete the chunks,
 *     write the points.
 *   level k > 0: the series' blocks of a finer step dividing step_k, after its blocks of
 *     step_k or coarser (older data is coarser: levels replace data from the oldest end),
 *     up to the first point whose step_k interval ends after cut_k. Their points in
 *     intervals ending at or before cut_k are merged per step_k interval (first of the
 *     first, last of the last, min of mins, sums, cum_first of the first, cum_last of the
 *     last); the blocks are deleted, the merged points written, and the points of the last
 *     block that were not eligible written back as a block of their own step.
 *   Appending points: if the block just before them has the same step and is under
 *   EXTEND_BYTES, it is decoded and rewritten with them (so a series does not collect a
 *   tiny block per pass); otherwise they become new blocks of at most BLOCK_POINTS points.
 * Invariant: a series' blocks never overlap and are in time order; points are strictly
 *   increasing in t; all of a series' rollups lie before its oldest raw chunk.
 * Transactions: as retention (engine/retention.c): one LMDB write txn per batch of at most
 *   DS_BATCH_SERIES series / DS_BATCH_WORK raw samples + points read, under e->flush_mu
 *   (taken after any waiting flush), so a flush waits at most one batch. Deleting the
 *   source and writing its rollups happen in the same txn: a reader (its own read txn)
 *   sees either the raw chunks or the rollups, never both, never neither. AX_EAGAIN from
 *   LMDB (map grown) redoes the batch. Only LMDB data is rolled up, never the head.
 * Cost when there is nothing to do: one or two B-tree seeks per series and level.
 */
#include "engine/engine_int.h"
#include "storage/codec/codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALE_NAN_BITS 0x7ff0000000000002ull
#define DS_BATCH_SERIES 4096
#define DS_BATCH_WORK ((size_t)1 << 20)
#define BLOCK_POINTS 4096
#define EXTEND_BYTES 3072
#define VIEWS 64

static bool is_stale(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == STALE_NAN_BITS;
}

/* (a, a + step] holding t: its end a + step */
static int64_t interval_end(int64_t t, int64_t step) {
    int64_t q = t / step + (t % step > 0);
    return q * step;
}
static int64_t floor_to(int64_t x, int64_t step) {
    int64_t q = x / step - (x % step < 0);
    return q * step;
}

/* ---- point arrays ---- */

void eng_rollups_free(eng_rollups *r) {
    if (!r) return;
    free(r->t);
    free(r->first_t);
    free(r->step);
    free(r->first);
    free(r->last);
    free(r->min);
    free(r->max);
    free(r->sum);
    free(r->sum_sq);
    free(r->cum_first);
    free(r->cum_last);
    free(r->count);
    free(r->resets);
    free(r->changes);
    memset(r, 0, sizeof *r);
}

static int ru_reserve(eng_rollups *r, size_t need) {
    if (need <= r->cap) return 0;
    size_t cap = r->cap ? r->cap : 64;
    while (cap < need) cap *= 2;
    void **i64[3] = {(void **)&r->t, (void **)&r->first_t, (void **)&r->step};
    void **f64[8] = {(void **)&r->first, (void **)&r->last, (void **)&r->min,
                     (void **)&r->max, (void **)&r->sum, (void **)&r->sum_sq,
                     (void **)&r->cum_first, (void **)&r->cum_last};
    void **u32[3] = {(void **)&r->count, (void **)&r->resets, (void **)&r->changes};
    for (int k = 0; k < 14; k++) {
        void **p = k < 3 ? i64[k] : k < 11 ? f64[k - 3] : u32[k - 11];
        size_t sz = k < 11 ? 8 : 4;
        void *q = realloc(*p, cap * sz);
        if (!q) return AX_ENOMEM; /* arrays already grown keep working at the old cap */
        *p = q;
    }
    r->cap = cap;
    return 0;
}

static codec_rollup_cols cols_of(const eng_rollups *r) {
    codec_rollup_cols c = {r->t, r->first_t, r->first, r->last, r->min, r->max, r->sum,
                           r->sum_sq, r->cum_first, r->cum_last, r->count, r->resets,
                           r->changes};
    return c;
}

/* Copy point i of a to the end of b (capacity reserved by the caller). */
static void ru_copy(eng_rollups *b, const eng_rollups *a, size_t i) {
    size_t j = b->n++;
    b->t[j] = a->t[i];
    b->first_t[j] = a->first_t[i];
    b->step[j] = a->step[i];
    b->first[j] = a->first[i];
    b->last[j] = a->last[i];
    b->min[j] = a->min[i];
    b->max[j] = a->max[i];
    b->sum[j] = a->sum[i];
    b->sum_sq[j] = a->sum_sq[i];
    b->cum_first[j] = a->cum_first[i];
    b->cum_last[j] = a->cum_last[i];
    b->count[j] = a->count[i];
    b->resets[j] = a->resets[i];
    b->changes[j] = a->changes[i];
}

/* Decode block v and append its points to r. */
static int ru_decode(codec_ctx *c, const stor_rollup_view *v, eng_rollups *r) {
    int rc = ru_reserve(r, r->n + v->n);
    if (rc) return rc;
    codec_rollup_cols cols = cols_of(r);
    size_t got = 0;
    rc = codec_rollup_decode(c, v->data, v->len, &cols, r->n, v->n, &got);
    if (rc) return rc;
    for (size_t i = r->n; i < r->n + got; i++) r->step[i] = v->step;
    r->n += got;
    return 0;
}

/* ---- reads ---- */

int eng_series_read_rollups(eng *e, uint64_t sid, int64_t mint, int64_t maxt, eng_rollups *out) {
    stor_txn *t = NULL;
    int rc = stor_txn_begin(e->stor, STOR_TXN_READ, &t);
    stor_rollup_view views[VIEWS];
    int64_t from = mint;
    while (!rc) {
        size_t nv = 0;
        int r = stor_rollups_range(t, sid, from, maxt, views, VIEWS, &nv);
        if (r && r != AX_ETOOBIG) {
            rc = r;
            break;
        }
        for (size_t i = 0; i < nv && !rc; i++) {
            size_t base = out->n;
            rc = ru_decode(NULL, &views[i], out);
            if (rc == AX_ECORRUPT) {
                fprintf(stderr, "auspex: series %llu: rollup block at %lld does not decode; "
                                "skipped\n", (unsigned long long)sid, (long long)views[i].mint);
                rc = 0;
                out->n = base;
                continue;
            }
            if (rc) break;
            /* keep the points in [mint, maxt] */
            size_t w = base;
            eng_rollups *o = out;
            for (size_t k = base; k < o->n; k++) {
                if (o->t[k] < mint || o->t[k] > maxt || (w > 0 && o->t[k] <= o->t[w - 1]))
                    continue;
                if (w != k) {
                    size_t n = o->n;
                    o->n = w;
                    ru_copy(o, o, k);
                    o->n = n;
                }
                w++;
            }
            out->n = w;
        }
        if (rc || r != AX_ETOOBIG || !nv || views[nv - 1].maxt >= maxt) break;
        from = views[nv - 1].maxt + 1;
    }
    stor_txn_abort(t);
    return rc;
}

/* ---- the pass ---- */

typedef struct ds_work {
    codec_ctx *codec;
    eng_rollups old, neu, tmp;
    int64_t *ts;
    double *v;
    size_t cap;
    int64_t *starts; /* keys of the chunks or blocks being replaced */
    size_t n_starts, starts_cap;
    ax_buf enc;
    eng_downsample_stats st; /* of the current batch */
    size_t work;             /* samples + points read in the current batch */
} ds_work;

static int starts_push(ds_work *w, int64_t s) {
    if (w->n_starts == w->starts_cap) {
        size_t cap = w->starts_cap ? w->starts_cap * 2 : 64;
        int64_t *p = realloc(w->starts, cap * sizeof *p);
        if (!p) return AX_ENOMEM;
        w->starts = p;
        w->starts_cap = cap;
    }
    w->starts[w->n_starts++] = s;
    return 0;
}

static int samples_reserve(ds_work *w, size_t need) {
    if (need <= w->cap) return 0;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need) cap *= 2;
    int64_t *a = realloc(w->ts, cap * sizeof *a);
    if (a) w->ts = a;
    double *b = realloc(w->v, cap * sizeof *b);
    if (b) w->v = b;
    if (!a || !b) return AX_ENOMEM;
    w->cap = cap;
    return 0;
}

/* Write r's points [from, from + n) (one step) as blocks of at most BLOCK_POINTS. */
static int write_points(ds_work *w, stor_txn *t, uint64_t sid, const eng_rollups *r,
                        size_t from, size_t n, int64_t step) {
    codec_rollup_cols c = cols_of(r);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i += BLOCK_POINTS) {
        size_t k = n - i < BLOCK_POINTS ? n - i : BLOCK_POINTS;
        ax_buf_reset(&w->enc);
        rc = codec_rollup_encode(w->codec, &w->enc, &c, from + i, k, step);
        if (!rc) rc = stor_rollup_put(t, sid, w->enc.data, w->enc.len);
    }
    return rc;
}

/* Append w->neu (all of one step, after every existing point) to the series' blocks; `prev`
 * (already decoded into w->tmp when extend is true) is the block just before them. */
static int append_points(ds_work *w, stor_txn *t, uint64_t sid, int64_t step, bool extend) {
    if (!w->neu.n) return 0;
    if (!extend) return write_points(w, t, sid, &w->neu, 0, w->neu.n, step);
    int rc = ru_reserve(&w->tmp, w->tmp.n + w->neu.n);
    for (size_t i = 0; i < w->neu.n && !rc; i++) ru_copy(&w->tmp, &w->neu, i);
    /* the merged block starts where prev did: its key is simply overwritten */
    if (!rc) rc = write_points(w, t, sid, &w->tmp, 0, w->tmp.n, step);
    return rc;
}

static bool can_extend(const stor_rollup_view *v, int64_t step, size_t n_new) {
    return v->step == step && v->len < EXTEND_BYTES && v->n + n_new <= BLOCK_POINTS;
}

/* Level 0 for one series: raw chunks ending at or before cut -> points at step. */
static int level0_series(eng *e, ds_work *w, stor_txn *t, uint64_t sid, int64_t step,
                         int64_t cut) {
    (void)e;
    stor_chunk_view views[VIEWS];
    size_t n = 0;
    w->n_starts = 0;
    int64_t from = INT64_MIN;
    int rc = 0;
    for (;;) {
        size_t nv = 0;
        int r = stor_chunks_range(t, sid, from, cut, views, VIEWS, &nv);
        if (r && r != AX_ETOOBIG) return r;
        bool stop = false;
        for (size_t i = 0; i < nv && !rc; i++) {
            if (views[i].maxt > cut) {
                stop = true;
                break;
            }
            if (w->n_starts && views[i].mint == w->starts[w->n_starts - 1]) continue;
            rc = samples_reserve(w, n + views[i].n);
            size_t got = 0;
            if (!rc)
                rc = codec_chunk_decode(w->codec, views[i].data, views[i].len, w->ts + n,
                                        w->v + n, w->cap - n, &got);
            if (rc == AX_ECORRUPT) {
                /* keep an unreadable chunk (and everything after it) for a human */
                fprintf(stderr, "auspex: downsampling: series %llu: chunk at %lld does not "
                                "decode; left in place\n", (unsigned long long)sid,
                        (long long)views[i].mint);
                rc = 0;
                stop = true;
                break;
            }
            if (!rc) rc = starts_push(w, views[i].mint);
            n += got;
        }
        if (rc) return rc;
        if (stop || r != AX_ETOOBIG || !nv || views[nv - 1].maxt >= cut) break;
        from = views[nv - 1].maxt + 1;
    }
    if (!w->n_starts) return 0;
    w->work += n;

    /* the newest existing point: cum and resets continue from it */
    stor_rollup_view lv;
    w->tmp.n = 0;
    bool have_prev = false;
    rc = stor_rollups_last(t, sid, &lv);
    if (rc == AX_ENOTFOUND) {
        rc = 0;
    } else if (!rc) {
        rc = ru_decode(w->codec, &lv, &w->tmp);
        have_prev = !rc && w->tmp.n > 0;
        if (rc == AX_ECORRUPT) {
            fprintf(stderr, "auspex: downsampling: series %llu: rollup block at %lld does "
                            "not decode; series skipped\n", (unsigned long long)sid,
                    (long long)lv.mint);
            return 0;
        }
    }
    if (rc) return rc;
    int64_t prev_t = INT64_MIN;
    double prev_v = 0, offset = 0;
    if (have_prev) {
        size_t p = w->tmp.n - 1;
        prev_t = w->tmp.t[p];
        prev_v = w->tmp.last[p];
        offset = w->tmp.cum_last[p] - w->tmp.last[p];
    }

    /* roll up */
    eng_rollups *o = &w->neu;
    o->n = 0;
    size_t used = 0;
    int64_t cur_end = INT64_MIN;
    for (size_t i = 0; i < n && !rc; i++) {
        double v = w->v[i];
        int64_t ts = w->ts[i];
        if (is_stale(v) || ts <= prev_t) continue;
        used++;
        uint32_t reset = 0, change = 0;
        if (have_prev) {
            if (v < prev_v) {
                reset = 1;
                offset += prev_v;
            }
            change = v != prev_v && !(isnan(v) && isnan(prev_v));
        }
        double cum = v + offset;
        int64_t end = interval_end(ts, step);
        if (end != cur_end) {
            if ((rc = ru_reserve(o, o->n + 1))) break;
            size_t j = o->n++;
            cur_end = end;
            o->first_t[j] = ts;
            o->step[j] = step;
            o->first[j] = v;
            o->min[j] = v;
            o->max[j] = v;
            o->sum[j] = 0;
            o->sum_sq[j] = 0;
            o->cum_first[j] = cum;
            o->count[j] = 0;
            o->resets[j] = 0;
            o->changes[j] = 0;
        }
        size_t j = o->n - 1;
        o->t[j] = ts;
        o->last[j] = v;
        if (v < o->min[j] || isnan(o->min[j])) o->min[j] = v;
        if (v > o->max[j] || isnan(o->max[j])) o->max[j] = v;
        o->sum[j] += v;
        o->sum_sq[j] += v * v;
        o->cum_last[j] = cum;
        o->count[j]++;
        o->resets[j] += reset;
        o->changes[j] += change;
        prev_v = v;
        have_prev = true;
    }
    if (rc) return rc;
    /* nothing of the chunks' LMDB bytes is used past here: deletes may move pages */
    for (size_t i = 0; i < w->n_starts && !rc; i++) rc = stor_chunk_delete(t, sid, w->starts[i]);
    bool extend = w->tmp.n && can_extend(&lv, step, o->n);
    if (!rc) rc = append_points(w, t, sid, step, extend);
    if (!rc) {
        w->st.raw_samples += used;
        w->st.dropped += n - used;
        w->st.points_written += o->n;
        w->st.series++;
    }
    return rc;
}

/* Level k > 0 for one series: finer points in intervals ending at or before cut -> step. */
static int levelk_series(ds_work *w, stor_txn *t, uint64_t sid, int64_t step, int64_t cut) {
    stor_rollup_view views[VIEWS], before = {0};
    bool have_before = false, collecting = false, done = false;
    int64_t last_step = 0;
    int64_t from = INT64_MIN;
    w->old.n = 0;
    w->tmp.n = 0;
    w->n_starts = 0;
    int rc = 0;
    while (!rc && !done) {
        size_t nv = 0;
        int r = stor_rollups_range(t, sid, from, INT64_MAX, views, VIEWS, &nv);
        if (r && r != AX_ETOOBIG) return r;
        for (size_t i = 0; i < nv && !rc && !done; i++) {
            const stor_rollup_view *v = &views[i];
            if (w->n_starts && v->mint <= w->starts[w->n_starts - 1]) continue;
            bool finer = v->step < step && step % v->step == 0;
            if (!collecting && !finer) {
                if (v->step < step) { /* a step that does not divide: leave the rest */
                    done = true;
                    break;
                }
                before = *v;
                have_before = true;
                continue;
            }
            if (!finer || interval_end(v->mint, step) > cut) {
                done = true;
                break;
            }
            if (!collecting && have_before && can_extend(&before, step, 0)) {
                rc = ru_decode(w->codec, &before, &w->tmp);
                if (rc == AX_ECORRUPT) {
                    w->tmp.n = 0;
                    rc = 0;
                    have_before = false;
                }
            }
            collecting = true;
            if (!rc) rc = ru_decode(w->codec, v, &w->old);
            if (rc == AX_ECORRUPT) {
                fprintf(stderr, "auspex: downsampling: series %llu: rollup block at %lld "
                                "does not decode; left in place\n", (unsigned long long)sid,
                        (long long)v->mint);
                rc = 0;
                done = true;
                break;
            }
            if (!rc) rc = starts_push(w, v->mint);
            last_step = v->step;
            if (interval_end(v->maxt, step) > cut) done = true;
        }
        if (rc || r != AX_ETOOBIG || !nv) break;
        from = views[nv - 1].maxt + 1;
    }
    if (rc || !w->n_starts) return rc;
    w->work += w->old.n;

    /* merge the eligible prefix per interval */
    eng_rollups *a = &w->old, *o = &w->neu;
    o->n = 0;
    size_t i = 0;
    int64_t cur_end = INT64_MIN;
    for (; i < a->n && !rc; i++) {
        int64_t end = interval_end(a->t[i], step);
        if (end > cut) break;
        if (end != cur_end) {
            if ((rc = ru_reserve(o, o->n + 1))) break;
            ru_copy(o, a, i);
            o->step[o->n - 1] = step;
            cur_end = end;
            continue;
        }
        size_t j = o->n - 1;
        o->t[j] = a->t[i];
        o->last[j] = a->last[i];
        if (a->min[i] < o->min[j] || isnan(o->min[j])) o->min[j] = a->min[i];
        if (a->max[i] > o->max[j] || isnan(o->max[j])) o->max[j] = a->max[i];
        o->sum[j] += a->sum[i];
        o->sum_sq[j] += a->sum_sq[i];
        o->cum_last[j] = a->cum_last[i];
        o->count[j] += a->count[i];
        o->resets[j] += a->resets[i];
        o->changes[j] += a->changes[i];
    }
    if (rc) return rc;
    size_t merged = i;
    for (size_t k = 0; k < w->n_starts && !rc; k++) rc = stor_rollup_delete(t, sid, w->starts[k]);
    /* points of the last block that are not due yet go back at their own step */
    if (!rc && merged < a->n) rc = write_points(w, t, sid, a, merged, a->n - merged, last_step);
    bool extend = w->tmp.n && can_extend(&before, step, o->n);
    if (!rc && !extend) w->tmp.n = 0;
    if (!rc) rc = append_points(w, t, sid, step, extend);
    if (!rc) {
        w->st.points_written += o->n;
        w->st.series++;
    }
    return rc;
}

/* One batch at level k: one txn. OUT: *next = where the walk resumes (0: done). */
static int ds_batch(eng *e, ds_work *w, size_t k, int64_t cut, uint64_t *next,
                    eng_downsample_stats *st) {
    uint64_t max_sid = eng__registry_max_sid(&e->reg), sid = *next;
    int64_t step = e->o.downsample[k].step_ms;
    int rc = 0;
    eng__lock_after_flushes(e);
    if (!e->ds_codec) e->ds_codec = codec_ctx_new(); /* touched under flush_mu only */
    w->codec = e->ds_codec;
    if (!w->codec) rc = AX_ENOMEM;
    for (int attempt = 0; attempt < 8 && !rc; attempt++) {
        memset(&w->st, 0, sizeof w->st);
        w->work = 0;
        stor_txn *t = NULL;
        rc = stor_txn_begin(e->stor, STOR_TXN_WRITE, &t);
        size_t visited = 0;
        for (sid = *next; !rc && sid <= max_sid; sid++) {
            if (visited >= DS_BATCH_SERIES || w->work >= DS_BATCH_WORK) break;
            visited++;
            eng_series *s = eng__registry_by_sid(&e->reg, sid);
            if (!s || atomic_load(&s->deleted)) continue;
            rc = k == 0 ? level0_series(e, w, t, sid, step, cut)
                        : levelk_series(w, t, sid, step, cut);
        }
        if (!rc) {
            rc = stor_txn_commit(t);
            t = NULL;
        }
        stor_txn_abort(t);
        if (rc != AX_EAGAIN) break; /* map grown: redo the batch */
    }
    pthread_mutex_unlock(&e->flush_mu);
    if (!rc) {
        *next = sid > max_sid ? 0 : sid;
        st->raw_samples += w->st.raw_samples;
        st->points_written += w->st.points_written;
        st->series += w->st.series;
        st->dropped += w->st.dropped;
        if (w->st.series) eng__note_change(e, INT64_MIN);
    }
    return rc;
}

void eng__downsample_fini(eng *e) {
    codec_ctx_free(e->ds_codec);
    e->ds_codec = NULL;
}

int eng_downsample_run(eng *e, int64_t now_ms, eng_downsample_stats *out) {
    eng_downsample_stats st = {0};
    int rc = 0;
    if (e->o.n_downsample == 0) {
        if (out) *out = st;
        return 0;
    }
    ds_work w = {0};
    ax_buf_init(&w.enc, (size_t)64 << 20);
    for (size_t k = 0; k < e->o.n_downsample && k < ENG_MAX_DOWNSAMPLE && !rc; k++) {
        int64_t age = e->o.downsample[k].age_ms, step = e->o.downsample[k].step_ms;
        if (step <= 0 || age < 0 || now_ms < INT64_MIN / 2 + age) continue;
        int64_t cut = floor_to(now_ms - age, step);
        uint64_t next = 1;
        do {
            if (atomic_load(&e->ret_stop)) {
                rc = AX_EAGAIN;
                break;
            }
            rc = ds_batch(e, &w, k, cut, &next, &st);
        } while (!rc && next);
    }
    atomic_fetch_add(&e->st_ds_points, st.points_written);
    atomic_fetch_add(&e->st_ds_raw, st.raw_samples);
    if (!rc) {
        atomic_fetch_add(&e->st_ds_passes, 1);
        atomic_store(&e->st_ds_last_ms, ax_now_ms());
    }
    eng_rollups_free(&w.old);
    eng_rollups_free(&w.neu);
    eng_rollups_free(&w.tmp);
    free(w.ts);
    free(w.v);
    free(w.starts);
    ax_buf_free(&w.enc);
    if (out) *out = st;
    return rc;
}
