/* engine/limits.c: cardinality limits on the write path (docs/limits.md).
 *
 * VictoriaMetrics' ingestion limits, checked by eng_write (engine/ingest.c) where series
 * are resolved, so that every writer (remote write, imports, scraper, node collector,
 * rules) is covered:
 *   - label limits (max_labels_per_series, max_label_name_len, max_label_value_len): a
 *     series over one is dropped whole, as VictoriaMetrics' lib/timeserieslimits ignores
 *     it (vm_rows_ignored_total{reason=...}); older VictoriaMetrics releases truncated
 *     instead, which merges distinct series into one, so we do not;
 *   - hourly / daily series (max_hourly_series, max_daily_series): a series not yet
 *     admitted in the current UTC hour (day) is dropped when the hour's (day's) set is
 *     full; admitted series keep ingesting until the window rolls over
 *     (vm_hourly_series_limit_rows_dropped_total...). VictoriaMetrics keeps a bloom
 *     filter per window; sids here are dense (1, 2, 3...), so an exact bitmap indexed by
 *     sid costs less: 1 bit per series id per window, 2 bits per series for both
 *     (256 KB per million series), and a new window is one memset.
 * Dropping is not an error: the rest of the batch is stored and eng_write returns 0.
 * Every check of one batch runs under e->lim.mu, and a new series is created under it
 * too (after the room check), so a set never holds more than its limit.
 */
#include "engine/engine_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define LOG_EVERY_MS 60000LL

void eng__limits_init(eng_limits *l) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->hour.idx = l->day.idx = -1;
}

void eng__limits_fini(eng_limits *l) {
    free(l->hour.bits);
    free(l->day.bits);
    l->hour.bits = l->day.bits = NULL;
    pthread_mutex_destroy(&l->mu);
}

int eng__limits_labels(const eng_opts *o, const ax_label *ls, size_t n) {
    if (o->max_labels_per_series && n > o->max_labels_per_series) return ENG_DROP_TOO_MANY_LABELS;
    if (!o->max_label_name_len && !o->max_label_value_len) return -1;
    for (size_t i = 0; i < n; i++) {
        if (o->max_label_name_len && ls[i].name_len > o->max_label_name_len)
            return ENG_DROP_LABEL_NAME;
        if (o->max_label_value_len && ls[i].value_len > o->max_label_value_len)
            return ENG_DROP_LABEL_VALUE;
    }
    return -1;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

static void roll(eng_window *w, int64_t idx) {
    if (w->idx == idx) return;
    if (w->bits) memset(w->bits, 0, w->words * sizeof *w->bits);
    w->n = 0;
    w->idx = idx;
}

static bool has(const eng_window *w, uint64_t sid) {
    return sid / 64 < w->words && (w->bits[sid / 64] >> (sid % 64) & 1);
}

static int grow(eng_window *w, uint64_t sid) {
    if (sid / 64 < w->words) return 0;
    size_t words = w->words ? w->words : 1024;
    while (words <= sid / 64) words *= 2;
    uint64_t *nb = realloc(w->bits, words * sizeof *nb);
    if (!nb) return AX_ENOMEM;
    memset(nb + w->words, 0, (words - w->words) * sizeof *nb);
    w->bits = nb;
    w->words = words;
    return 0;
}

void eng__limits_lock(eng *e, int64_t now_ms) {
    pthread_mutex_lock(&e->lim.mu);
    roll(&e->lim.hour, floor_div(now_ms, HOUR_MS));
    roll(&e->lim.day, floor_div(now_ms, DAY_MS));
}

void eng__limits_unlock(eng *e) { pthread_mutex_unlock(&e->lim.mu); }

int eng__limits_admit(eng *e, uint64_t sid, int *why) {
    eng_limits *l = &e->lim;
    size_t mh = e->o.max_hourly_series, md = e->o.max_daily_series;
    bool in_h = sid && has(&l->hour, sid), in_d = sid && has(&l->day, sid);
    *why = -1;
    if (mh && !in_h && l->hour.n >= mh) {
        *why = ENG_DROP_HOURLY;
        return 0;
    }
    if (md && !in_d && l->day.n >= md) {
        *why = ENG_DROP_DAILY;
        return 0;
    }
    if (!sid) return 0;
    /* grow both first: either both sets take the series or neither does */
    if ((mh && grow(&l->hour, sid)) || (md && grow(&l->day, sid))) return AX_ENOMEM;
    if (mh && !in_h) {
        l->hour.bits[sid / 64] |= (uint64_t)1 << (sid % 64);
        l->hour.n++;
    }
    if (md && !in_d) {
        l->day.bits[sid / 64] |= (uint64_t)1 << (sid % 64);
        l->day.n++;
    }
    return 0;
}

/* {name="value", ...} into out[0..cap), cut short with "..." */
static void labels_str(char *out, size_t cap, const ax_label *ls, size_t n) {
    size_t k = 0;
    int w = snprintf(out, cap, "{");
    k = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        int vl = ls[i].value_len > 64 ? 64 : (int)ls[i].value_len;
        w = snprintf(out + k, cap - k, "%s%.*s=\"%.*s%s\"", i ? "," : "", (int)ls[i].name_len,
                     ls[i].name, vl, ls[i].value, (size_t)vl < ls[i].value_len ? "..." : "");
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k + 2 < cap) {
        out[k++] = '}';
        out[k] = 0;
    } else if (cap > 4) {
        memcpy(out + cap - 4, "...", 4);
    }
}

static void log_drop(eng *e, int r, uint64_t series, const eng_ts *ex) {
    char lb[320];
    labels_str(lb, sizeof lb, ex->labels, ex->n_labels);
    const eng_opts *o = &e->o;
    switch (r) {
    case ENG_DROP_HOURLY:
        fprintf(stderr, "auspex: hourly series limit (-storage.maxHourlySeries=%zu) reached: "
                        "dropped %llu new series in the last minute, e.g. %s\n",
                o->max_hourly_series, (unsigned long long)series, lb);
        break;
    case ENG_DROP_DAILY:
        fprintf(stderr, "auspex: daily series limit (-storage.maxDailySeries=%zu) reached: "
                        "dropped %llu new series in the last minute, e.g. %s\n",
                o->max_daily_series, (unsigned long long)series, lb);
        break;
    case ENG_DROP_TOO_MANY_LABELS:
        fprintf(stderr, "auspex: dropped %llu series with more than -maxLabelsPerTimeseries=%zu "
                        "labels in the last minute, e.g. %zu labels: %s\n",
                (unsigned long long)series, o->max_labels_per_series, ex->n_labels, lb);
        break;
    case ENG_DROP_LABEL_NAME:
        fprintf(stderr, "auspex: dropped %llu series with a label name longer than "
                        "-maxLabelNameLen=%zu bytes in the last minute, e.g. %s\n",
                (unsigned long long)series, o->max_label_name_len, lb);
        break;
    default:
        fprintf(stderr, "auspex: dropped %llu series with a label value longer than "
                        "-maxLabelValueLen=%zu bytes in the last minute, e.g. %s\n",
                (unsigned long long)series, o->max_label_value_len, lb);
        break;
    }
}

void eng__limits_note(eng *e, const uint64_t *rows, const uint64_t *series, const size_t *first,
                      const eng_ts *ts) {
    eng_limits *l = &e->lim;
    for (int r = 0; r < ENG_DROP_N; r++) {
        if (!series[r]) continue;
        atomic_fetch_add(&l->rows[r], rows[r]);
        atomic_fetch_add(&l->series[r], series[r]);
        atomic_fetch_add(&l->unlogged[r], series[r]);
        /* the wall clock, not o.now_ms: this paces log lines for people */
        int64_t now = ax_now_ms(), last = atomic_load(&l->last_log_ms[r]);
        if (now - last < LOG_EVERY_MS) continue;
        if (!atomic_compare_exchange_strong(&l->last_log_ms[r], &last, now)) continue;
        log_drop(e, r, atomic_exchange(&l->unlogged[r], 0), &ts[first[r]]);
    }
}

void eng__limits_stats(eng *e, eng_stats *s) {
    eng_limits *l = &e->lim;
    for (int r = 0; r < ENG_DROP_N; r++) {
        s->rows_dropped[r] = atomic_load(&l->rows[r]);
        s->series_dropped[r] = atomic_load(&l->series[r]);
    }
    s->hourly_series_max = e->o.max_hourly_series;
    s->daily_series_max = e->o.max_daily_series;
    if (!s->hourly_series_max && !s->daily_series_max) return;
    int64_t now = eng__now_ms(e);
    pthread_mutex_lock(&l->mu);
    /* a window no write has reached yet is empty */
    if (l->hour.idx == floor_div(now, HOUR_MS)) s->hourly_series = l->hour.n;
    if (l->day.idx == floor_div(now, DAY_MS)) s->daily_series = l->day.n;
    pthread_mutex_unlock(&l->mu);
}
