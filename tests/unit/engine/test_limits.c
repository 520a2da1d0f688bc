/* Unit tests for engine/limits.c: the hourly / daily series limits on a simulated clock
 * (drops counted, admitted series keep ingesting, a new hour / day admits again), the
 * label count / name / value length limits, and an invalid batch applying nothing. */
#include "engine/engine.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
/* a fixed "now": 2024-01-01T00:00:00Z, so nothing depends on the wall clock */
#define T0 1704067200000LL

static int64_t g_now;
static int64_t test_clock(void) { return g_now; }

typedef struct lim {
    size_t hourly, daily, labels, name_len, value_len;
} lim;

static char *open_lim(lim l, eng **out) {
    char *dir = strdup("/tmp/auspex-lim-XXXXXX");
    if (!mkdtemp(dir)) abort();
    eng_opts o = {.path = dir, .nosync = true, .retention_interval_ms = -1,
                  .now_ms = test_clock, .max_hourly_series = l.hourly,
                  .max_daily_series = l.daily, .max_labels_per_series = l.labels,
                  .max_label_name_len = l.name_len, .max_label_value_len = l.value_len};
    ax_err err = {0};
    *out = NULL;
    if (eng_open(&o, out, &err)) FAILF("eng_open: %s", err.msg);
    return dir;
}

static void close_lim(eng *e, char *dir) {
    eng_close(e);
    test_rm_rf(dir);
    free(dir);
}

static ax_label LB(const char *n, const char *v) {
    ax_label l = {n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
    return l;
}

/* Write series {__name__="m", id="<first..first+n)>"}, `per` samples each at g_now - k s.
 * OUT: kept[i] = samples series i kept after eng_write (0: dropped). Returns eng_write's rc. */
static int write_ids(eng *e, int first, int n, size_t per, size_t *kept) {
    ax_label *ls = calloc((size_t)n * 2, sizeof *ls);
    char (*ids)[16] = calloc((size_t)n, sizeof *ids);
    eng_sample *sm = calloc((size_t)n * per, sizeof *sm);
    eng_ts *ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%d", first + i);
        ls[2 * i] = LB("__name__", "m");
        ls[2 * i + 1] = LB("id", ids[i]);
        for (size_t k = 0; k < per; k++) {
            sm[(size_t)i * per + k].ts = g_now - (int64_t)(per - k) * 1000;
            sm[(size_t)i * per + k].v = (double)(first + i);
        }
        ts[i] = (eng_ts){&ls[2 * i], 2, &sm[(size_t)i * per], per};
    }
    ax_err err = {0};
    int rc = eng_write(e, ts, (size_t)n, &err);
    for (int i = 0; i < n && kept; i++) kept[i] = ts[i].n_samples;
    free(ls);
    free(ids);
    free(sm);
    free(ts);
    return rc;
}

/* samples stored for {__name__="m", id="<id>"} (0: no such series) */
static size_t stored(eng *e, int id) {
    char v[16];
    snprintf(v, sizeof v, "%d", id);
    eng_matcher m[2] = {{ENG_MATCH_EQ, "__name__", 8, "m", 1, NULL},
                        {ENG_MATCH_EQ, "id", 2, v, strlen(v), NULL}};
    eng_sel *sel = NULL;
    if (eng_select(e, m, 2, 0, &sel)) return 0;
    size_t n = 0;
    if (eng_sel_count(sel) == 1) {
        eng_samples s = {0};
        if (!eng_series_read(e, eng_sel_sid(sel, 0), INT64_MIN, INT64_MAX, 0, &s)) n = s.n;
        eng_samples_free(&s);
    }
    eng_sel_free(sel);
    return n;
}

static size_t count_series(eng *e) {
    eng_stats s;
    eng_stats_get(e, &s);
    return (size_t)s.series_total;
}

TEST(test_limits_hourly_drops_new_series_keeps_admitted) {
    g_now = T0 + 10 * 60000;
    eng *e;
    char *dir = open_lim((lim){.hourly = 10}, &e);
    if (!e) return;
    size_t kept[16];
    /* 15 new series in one batch: the first 10 are admitted, 5 dropped, 204-style rc 0 */
    CHECK_EQ_INT(0, write_ids(e, 0, 15, 2, kept));
    for (int i = 0; i < 15; i++) CHECK_EQ_INT(i < 10 ? 2 : 0, kept[i]);
    for (int i = 0; i < 15; i++) CHECK_EQ_INT(i < 10 ? 2 : 0, stored(e, i));
    CHECK_EQ_INT(10, count_series(e)); /* the dropped ones were not even created */
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(10, s.rows_dropped[ENG_DROP_HOURLY]);
    CHECK_EQ_U64(5, s.series_dropped[ENG_DROP_HOURLY]);
    CHECK_EQ_U64(10, s.hourly_series);
    CHECK_EQ_U64(10, s.hourly_series_max);
    CHECK_EQ_U64(20, s.samples_ingested);

    /* later in the same hour: the admitted ones keep ingesting, new ones are still dropped */
    g_now += 20 * 60000;
    CHECK_EQ_INT(0, write_ids(e, 5, 8, 1, kept)); /* ids 5..12: 5..9 admitted, 10..12 new */
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(i < 5 ? 1 : 0, kept[i]);
    CHECK_EQ_INT(3, stored(e, 5));
    CHECK_EQ_INT(0, stored(e, 12));
    eng_stats_get(e, &s);
    CHECK_EQ_U64(13, s.rows_dropped[ENG_DROP_HOURLY]);
    CHECK_EQ_U64(10, s.hourly_series);

    /* the next hour starts empty: new series are admitted again, up to 10 */
    g_now = T0 + HOUR_MS + 60000;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(0, s.hourly_series); /* gauge of a window no write has reached yet */
    CHECK_EQ_INT(0, write_ids(e, 10, 12, 1, kept)); /* ids 10..21 */
    for (int i = 0; i < 12; i++) CHECK_EQ_INT(i < 10 ? 1 : 0, kept[i]);
    CHECK_EQ_INT(1, stored(e, 10));
    CHECK_EQ_INT(1, stored(e, 19));
    CHECK_EQ_INT(0, stored(e, 20));
    /* and a series of the previous hour now counts as new: the set is full */
    CHECK_EQ_INT(0, write_ids(e, 0, 1, 1, kept));
    CHECK_EQ_INT(0, kept[0]);
    CHECK_EQ_INT(2, stored(e, 0));
    eng_stats_get(e, &s);
    CHECK_EQ_U64(13 + 2 + 1, s.rows_dropped[ENG_DROP_HOURLY]);
    CHECK_EQ_U64(10, s.hourly_series);
    CHECK_EQ_U64(0, s.rows_dropped[ENG_DROP_DAILY]);
    close_lim(e, dir);
}

TEST(test_limits_daily_rolls_over_at_utc_midnight) {
    g_now = T0 + 30 * 60000;
    eng *e;
    char *dir = open_lim((lim){.daily = 5}, &e);
    if (!e) return;
    size_t kept[8];
    CHECK_EQ_INT(0, write_ids(e, 0, 8, 1, kept));
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(i < 5 ? 1 : 0, kept[i]);
    /* a new hour is not a new day */
    g_now = T0 + 5 * HOUR_MS;
    CHECK_EQ_INT(0, write_ids(e, 3, 4, 1, kept)); /* 3, 4 admitted; 5, 6 not */
    CHECK_EQ_INT(1, kept[0]);
    CHECK_EQ_INT(1, kept[1]);
    CHECK_EQ_INT(0, kept[2]);
    CHECK_EQ_INT(0, kept[3]);
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(3 + 2, s.rows_dropped[ENG_DROP_DAILY]);
    CHECK_EQ_U64(5, s.daily_series);
    CHECK_EQ_U64(0, s.hourly_series); /* no hourly limit: not counted */
    CHECK_EQ_U64(0, s.rows_dropped[ENG_DROP_HOURLY]);
    /* the next UTC day */
    g_now = T0 + DAY_MS;
    CHECK_EQ_INT(0, write_ids(e, 5, 3, 1, kept));
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(1, kept[i]);
    CHECK_EQ_INT(1, stored(e, 5));
    CHECK_EQ_INT(1, stored(e, 7));
    CHECK_EQ_INT(2, stored(e, 3));
    eng_stats_get(e, &s);
    CHECK_EQ_U64(3, s.daily_series);
    close_lim(e, dir);
}

TEST(test_limits_hourly_and_daily_together) {
    g_now = T0;
    eng *e;
    char *dir = open_lim((lim){.hourly = 10, .daily = 12}, &e);
    if (!e) return;
    size_t kept[16];
    CHECK_EQ_INT(0, write_ids(e, 0, 15, 1, kept)); /* hourly drops 10..14 */
    g_now = T0 + HOUR_MS;
    CHECK_EQ_INT(0, write_ids(e, 20, 5, 1, kept)); /* daily room for 2 more */
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(i < 2 ? 1 : 0, kept[i]);
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(5, s.rows_dropped[ENG_DROP_HOURLY]);
    CHECK_EQ_U64(3, s.rows_dropped[ENG_DROP_DAILY]);
    CHECK_EQ_U64(2, s.hourly_series);
    CHECK_EQ_U64(12, s.daily_series);
    /* a series admitted today, not yet this hour, fits both */
    CHECK_EQ_INT(0, write_ids(e, 0, 1, 1, kept));
    CHECK_EQ_INT(1, kept[0]);
    CHECK_EQ_INT(2, stored(e, 0));
    close_lim(e, dir);
}

/* a known series written with labels that are not canonical (an empty-valued label, which
 * normalising removes) is found as the admitted series it is, not dropped as new */
TEST(test_limits_hourly_known_series_noncanonical_labels) {
    g_now = T0;
    eng *e;
    char *dir = open_lim((lim){.hourly = 1}, &e);
    if (!e) return;
    CHECK_EQ_INT(0, write_ids(e, 0, 1, 1, NULL));
    ax_label ls[3] = {LB("__name__", "m"), LB("id", "0"), LB("zone", "")};
    eng_sample sm = {g_now, 7};
    eng_ts ts = {ls, 3, &sm, 1};
    ax_err err = {0};
    CHECK_EQ_INT(0, eng_write(e, &ts, 1, &err));
    CHECK_EQ_INT(1, ts.n_samples);
    CHECK_EQ_INT(2, stored(e, 0));
    close_lim(e, dir);
}

TEST(test_limits_labels_count_name_value) {
    g_now = T0;
    eng *e;
    char *dir = open_lim((lim){.labels = 3, .name_len = 8, .value_len = 4}, &e);
    if (!e) return;
    ax_label l_ok[3] = {LB("__name__", "ok"), LB("a", "1"), LB("b", "1234")};
    ax_label l_many[4] = {LB("__name__", "many"), LB("a", "1"), LB("b", "2"), LB("c", "3")};
    ax_label l_empty[4] = {LB("__name__", "empt"), LB("a", "1"), LB("b", "2"), LB("c", "")};
    ax_label l_name[2] = {LB("__name__", "name"), LB("abcdefghi", "1")};
    ax_label l_value[2] = {LB("__name__", "valu"), LB("a", "12345")};
    ax_label l_metric[1] = {LB("__name__", "toolong")}; /* the metric name is a label value */
    eng_sample sm[6][2];
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 2; k++) sm[i][k] = (eng_sample){g_now - k * 1000, (double)i};
    eng_ts ts[6] = {{l_ok, 3, sm[0], 2},   {l_many, 4, sm[1], 2}, {l_empty, 4, sm[2], 2},
                    {l_name, 2, sm[3], 1}, {l_value, 2, sm[4], 2}, {l_metric, 1, sm[5], 2}};
    ax_err err = {0};
    CHECK_EQ_INT(0, eng_write(e, ts, 6, &err));
    CHECK_EQ_INT(2, ts[0].n_samples);
    CHECK_EQ_INT(0, ts[1].n_samples);
    CHECK_EQ_INT(2, ts[2].n_samples); /* 3 labels once the empty one is removed */
    CHECK_EQ_INT(0, ts[3].n_samples);
    CHECK_EQ_INT(0, ts[4].n_samples);
    CHECK_EQ_INT(0, ts[5].n_samples);
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(2, s.series_total);
    CHECK_EQ_U64(4, s.samples_ingested);
    CHECK_EQ_U64(2, s.rows_dropped[ENG_DROP_TOO_MANY_LABELS]);
    CHECK_EQ_U64(1, s.rows_dropped[ENG_DROP_LABEL_NAME]);
    CHECK_EQ_U64(4, s.rows_dropped[ENG_DROP_LABEL_VALUE]);
    CHECK_EQ_U64(2, s.series_dropped[ENG_DROP_LABEL_VALUE]);
    CHECK_EQ_U64(0, s.rows_dropped[ENG_DROP_HOURLY]);
    close_lim(e, dir);
}

/* label limits also apply to series created before they were set */
TEST(test_limits_labels_apply_to_known_series) {
    g_now = T0;
    eng *e;
    char *dir = open_lim((lim){0}, &e);
    if (!e) return;
    CHECK_EQ_INT(0, write_ids(e, 0, 1, 1, NULL));
    eng_close(e);
    eng_opts o = {.path = dir, .nosync = true, .retention_interval_ms = -1,
                  .now_ms = test_clock, .max_labels_per_series = 1};
    ax_err err = {0};
    e = NULL;
    if (eng_open(&o, &e, &err)) FAILF("eng_open: %s", err.msg);
    if (!e) return;
    size_t kept[1];
    CHECK_EQ_INT(0, write_ids(e, 0, 1, 1, kept));
    CHECK_EQ_INT(0, kept[0]);
    CHECK_EQ_INT(1, stored(e, 0));
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(1, s.rows_dropped[ENG_DROP_TOO_MANY_LABELS]);
    close_lim(e, dir);
}

/* invalid input still fails the whole batch: nothing created, stored, admitted or counted */
TEST(test_limits_invalid_batch_applies_nothing) {
    g_now = T0;
    eng *e;
    char *dir = open_lim((lim){.hourly = 2, .labels = 2}, &e);
    if (!e) return;
    ax_label l0[2] = {LB("__name__", "m"), LB("id", "0")};
    ax_label l1[2] = {LB("__name__", "m"), LB("id", "1")};
    ax_label l2[2] = {LB("__name__", "m"), LB("id", "2")};           /* over the hourly limit */
    ax_label l3[3] = {LB("__name__", "m"), LB("a", "1"), LB("b", "2")}; /* too many labels */
    ax_label bad[2] = {LB("__name__", "m"), LB("0bad", "x")};        /* invalid label name */
    eng_sample sm = {g_now, 1};
    eng_ts ts[5] = {{l0, 2, &sm, 1}, {l1, 2, &sm, 1}, {l2, 2, &sm, 1}, {l3, 3, &sm, 1},
                    {bad, 2, &sm, 1}};
    ax_err err = {0};
    CHECK_EQ_INT(AX_EINVAL, eng_write(e, ts, 5, &err));
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(0, s.series_total);
    CHECK_EQ_U64(0, s.samples_ingested);
    CHECK_EQ_U64(0, s.hourly_series);
    for (int r = 0; r < ENG_DROP_N; r++) CHECK_EQ_U64(0, s.rows_dropped[r]);
    /* the same batch without the bad series: 2 stored, 1 over the hourly limit, 1 label */
    CHECK_EQ_INT(0, eng_write(e, ts, 4, &err));
    eng_stats_get(e, &s);
    CHECK_EQ_U64(2, s.series_total);
    CHECK_EQ_U64(2, s.samples_ingested);
    CHECK_EQ_U64(1, s.rows_dropped[ENG_DROP_HOURLY]);
    CHECK_EQ_U64(1, s.rows_dropped[ENG_DROP_TOO_MANY_LABELS]);
    close_lim(e, dir);
}

/* a batch whose every series is dropped succeeds and stores nothing */
TEST(test_limits_all_dropped_is_success) {
    g_now = T0;
    eng *e;
    char *dir = open_lim((lim){.hourly = 1}, &e);
    if (!e) return;
    CHECK_EQ_INT(0, write_ids(e, 0, 1, 1, NULL));
    size_t kept[3];
    CHECK_EQ_INT(0, write_ids(e, 1, 3, 1, kept));
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(0, kept[i]);
    CHECK_EQ_INT(1, count_series(e));
    eng_stats s;
    eng_stats_get(e, &s);
    CHECK_EQ_U64(3, s.rows_dropped[ENG_DROP_HOURLY]);
    CHECK_EQ_U64(1, s.samples_ingested);
    close_lim(e, dir);
}
