/* server/decisions.c: the decision log and outbox in LMDB (server/decisions.h).
 *
 * Layout (one environment in <data>/decisions/, map 4 GiB, sparse):
 *   "decisions"  u64 BE id -> the record, JSON (what the API serves)
 *   "bodies"     u64 BE id . u32 BE action -> a webhook delivery's body bytes
 *   "open"       u64 BE id -> "" while some delivery is waiting, pending or running
 *   "rules"      rule name -> {"last_action_at":s,"capacity":c}
 *   "meta"       "instance" -> 16 hex chars, random at creation (idempotency keys)
 * Every change is one write transaction: read the record, change it, write it back and the
 * "open" mark with it, so concurrent callers (scheduler, outbox thread, approvals) never
 * lose each other's updates. Times in records are RFC 3339 strings with milliseconds.
 */
#include "server/decisions.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DLOG_MAP_BYTES ((size_t)4 << 30)
#define DLOG_MAX_ATTEMPTS_KEPT 10 /* per delivery, the newest */

struct srv_dlog {
    MDB_env *env;
    MDB_dbi recs, bodies, open, rules, meta;
    char instance[17];
    atomic_uint_fast64_t next_id;
    size_t max_decisions;
};

static const char *const STATE_NAMES[SRV_DLV_N] = {
    "waiting", "pending", "running", "delivered", "failed", "rejected", "dry_run", "expired", "superseded"};

const char *srv_dlv_state_name(int state) {
    return state >= 0 && state < SRV_DLV_N ? STATE_NAMES[state] : "unknown";
}

static int state_of(const cJSON *dlv) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(dlv, "state");
    if (!cJSON_IsString(s)) return -1;
    for (int i = 0; i < SRV_DLV_N; i++)
        if (!strcmp(s->valuestring, STATE_NAMES[i])) return i;
    return -1;
}

static bool state_open(int st) {
    return st == SRV_DLV_WAITING || st == SRV_DLV_PENDING || st == SRV_DLV_RUNNING;
}

static int mdb_rc(int rc, ax_err *e, const char *what) {
    if (rc == 0) return 0;
    if (rc == MDB_NOTFOUND) return AX_ENOTFOUND;
    return ax_err_set(e, AX_EIO, "decision log: %s: %s", what, mdb_strerror(rc));
}

static void time_str(char *out, double s) {
    if (!isfinite(s)) {
        strcpy(out, "");
        return;
    }
    ax_fmt_rfc3339(out, (int64_t)llround(s * 1000.0));
}

static int set_time(cJSON *o, const char *key, double s) {
    char t[40];
    cJSON *v;
    if (isfinite(s)) {
        time_str(t, s);
        v = cJSON_CreateString(t);
    } else {
        v = cJSON_CreateNull();
    }
    if (!v) return AX_ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(o, key)) return cJSON_ReplaceItemInObjectCaseSensitive(o, key, v) ? 0 : AX_ENOMEM;
    return cJSON_AddItemToObject(o, key, v) ? 0 : AX_ENOMEM;
}

static double get_time(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t ms;
    if (!cJSON_IsString(v) || ax_time_parse(v->valuestring, strlen(v->valuestring), &ms)) return NAN;
    return (double)ms / 1000.0;
}

static int set_item(cJSON *o, const char *key, cJSON *v) {
    if (!v) return AX_ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(o, key)) return cJSON_ReplaceItemInObjectCaseSensitive(o, key, v) ? 0 : AX_ENOMEM;
    return cJSON_AddItemToObject(o, key, v) ? 0 : AX_ENOMEM;
}

static int set_str(cJSON *o, const char *key, const char *s) { return set_item(o, key, cJSON_CreateString(s)); }
static int set_num(cJSON *o, const char *key, double x) {
    return set_item(o, key, isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull());
}
static int set_state(cJSON *dlv, int st) { return set_str(dlv, "state", STATE_NAMES[st]); }

static void id_key(uint8_t k[8], uint64_t id) { ax_put_u64be(k, id); }

static int rec_get(srv_dlog *d, MDB_txn *t, uint64_t id, cJSON **out) {
    uint8_t kb[8];
    id_key(kb, id);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(t, d->recs, &k, &v);
    if (rc == MDB_NOTFOUND) return AX_ENOTFOUND;
    if (rc) return AX_EIO;
    cJSON *j = cJSON_ParseWithLength(v.mv_data, v.mv_size);
    if (!j) return AX_ECORRUPT;
    *out = j;
    return 0;
}

/* Write rec back and keep the "open" mark in step with its deliveries. */
static int rec_put(srv_dlog *d, MDB_txn *t, uint64_t id, const cJSON *rec) {
    char *s = cJSON_PrintUnformatted(rec);
    if (!s) return AX_ENOMEM;
    uint8_t kb[8];
    id_key(kb, id);
    MDB_val k = {8, kb}, v = {strlen(s), s};
    int rc = mdb_put(t, d->recs, &k, &v, 0);
    free(s);
    if (rc) return AX_EIO;
    bool open = false;
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries"), *x;
    cJSON_ArrayForEach(x, dl) open |= state_open(state_of(x));
    MDB_val e = {0, ""};
    rc = open ? mdb_put(t, d->open, &k, &e, 0) : mdb_del(t, d->open, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? AX_EIO : 0;
}

static cJSON *dlv_at(cJSON *rec, size_t action) {
    cJSON *x, *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries");
    cJSON_ArrayForEach(x, dl) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "action");
        if (cJSON_IsNumber(a) && a->valuedouble == (double)action) return x;
    }
    return NULL;
}

/* ---- open / close ---- */

static int random_hex(char out[17]) {
    uint8_t b[8];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof b) : -1;
    if (fd >= 0) close(fd);
    if (n != (ssize_t)sizeof b) {
        uint64_t x = ax_hash(b, sizeof b, (uint64_t)ax_mono_ns() ^ (uint64_t)getpid());
        ax_put_u64be(b, x);
    }
    ax_hex(b, sizeof b, out);
    return 0;
}

/* Deliveries left running by a crash: failed (commands run at most once). */
static int fail_interrupted(srv_dlog *d, MDB_txn *t) {
    MDB_cursor *c;
    if (mdb_cursor_open(t, d->open, &c)) return AX_EIO;
    MDB_val k, v;
    uint64_t ids[256];
    size_t n = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc && n < 256; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if (k.mv_size == 8) ids[n++] = ax_get_u64be(k.mv_data);
    mdb_cursor_close(c);
    double now = (double)ax_now_ms() / 1000.0;
    for (size_t i = 0; i < n; i++) {
        cJSON *rec;
        if (rec_get(d, t, ids[i], &rec)) continue;
        bool changed = false;
        cJSON *x, *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries");
        cJSON_ArrayForEach(x, dl) {
            if (state_of(x) != SRV_DLV_RUNNING) continue;
            set_state(x, SRV_DLV_FAILED);
            set_str(x, "last_error", "interrupted: auspex stopped while the command ran (not run again)");
            set_time(x, "finished_at", now);
            changed = true;
        }
        int rc = changed ? rec_put(d, t, ids[i], rec) : 0;
        cJSON_Delete(rec);
        if (rc) return rc;
    }
    return 0;
}

int srv_dlog_open(const char *dir, size_t max_decisions, srv_dlog **out, ax_err *e) {
    if (mkdir(dir, 0750) && errno != EEXIST)
        return ax_err_set(e, AX_EIO, "decision log: cannot create %s: %s", dir, strerror(errno));
    srv_dlog *d = calloc(1, sizeof *d);
    if (!d) return AX_ENOMEM;
    d->max_decisions = max_decisions ? max_decisions : 20000;
    int rc = mdb_env_create(&d->env);
    if (rc) {
        free(d);
        return mdb_rc(rc, e, "create");
    }
    MDB_txn *t = NULL;
    if ((rc = mdb_env_set_maxdbs(d->env, 8)) || (rc = mdb_env_set_mapsize(d->env, DLOG_MAP_BYTES)) ||
        (rc = mdb_env_open(d->env, dir, MDB_NOTLS, 0640)) || (rc = mdb_txn_begin(d->env, NULL, 0, &t)) ||
        (rc = mdb_dbi_open(t, "decisions", MDB_CREATE, &d->recs)) ||
        (rc = mdb_dbi_open(t, "bodies", MDB_CREATE, &d->bodies)) ||
        (rc = mdb_dbi_open(t, "open", MDB_CREATE, &d->open)) ||
        (rc = mdb_dbi_open(t, "rules", MDB_CREATE, &d->rules)) ||
        (rc = mdb_dbi_open(t, "meta", MDB_CREATE, &d->meta))) {
        if (t) mdb_txn_abort(t);
        mdb_env_close(d->env);
        free(d);
        return ax_err_set(e, AX_EIO, "decision log %s: %s", dir, mdb_strerror(rc));
    }
    MDB_val k = {8, "instance"}, v;
    if (!mdb_get(t, d->meta, &k, &v) && v.mv_size == 16) {
        memcpy(d->instance, v.mv_data, 16);
    } else {
        random_hex(d->instance);
        v = (MDB_val){16, d->instance};
        rc = mdb_put(t, d->meta, &k, &v, 0);
    }
    MDB_cursor *c = NULL;
    uint64_t last = 0;
    if (!rc && !(rc = mdb_cursor_open(t, d->recs, &c))) {
        MDB_val ck, cv;
        if (!mdb_cursor_get(c, &ck, &cv, MDB_LAST) && ck.mv_size == 8) last = ax_get_u64be(ck.mv_data);
        mdb_cursor_close(c);
    }
    atomic_store(&d->next_id, last + 1);
    if (!rc) rc = fail_interrupted(d, t) ? MDB_PANIC : 0;
    if (!rc) rc = mdb_txn_commit(t);
    else mdb_txn_abort(t);
    if (rc) {
        mdb_env_close(d->env);
        free(d);
        return ax_err_set(e, AX_EIO, "decision log %s: %s", dir, mdb_strerror(rc));
    }
    *out = d;
    return 0;
}

void srv_dlog_close(srv_dlog *d) {
    if (!d) return;
    mdb_env_close(d->env);
    free(d);
}

int srv_dlog_copy(srv_dlog *d, const char *dir, ax_err *e) {
    if (mkdir(dir, 0750) && errno != EEXIST)
        return ax_err_set(e, AX_EIO, "decision log copy: cannot create %s: %s", dir, strerror(errno));
    int rc = mdb_env_copy2(d->env, dir, MDB_CP_COMPACT); /* the map never grows: no lock needed */
    if (rc) return ax_err_set(e, AX_EIO, "decision log copy to %s: %s", dir, mdb_strerror(rc));
    char file[4096];
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    const char *paths[2] = {file, dir};
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[i], (i ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
        int err = fd < 0 || fsync(fd) ? errno : 0;
        if (fd >= 0) close(fd);
        if (err) return ax_err_set(e, AX_EIO, "decision log copy: fsync %s: %s", paths[i], strerror(err));
    }
    return 0;
}

uint64_t srv_dlog_reserve_id(srv_dlog *d) { return atomic_fetch_add(&d->next_id, 1); }

void srv_dlog_key(const srv_dlog *d, uint64_t id, size_t action, char out[64]) {
    snprintf(out, 64, "%s-%llu-%zu", d->instance, (unsigned long long)id, action);
}

/* ---- rules' state ---- */

static int rule_state_get(srv_dlog *d, MDB_txn *t, const char *rule, srv_rule_state *st) {
    st->last_action_at = st->capacity = NAN;
    MDB_val k = {strlen(rule), (void *)rule}, v;
    int rc = mdb_get(t, d->rules, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return AX_EIO;
    cJSON *j = cJSON_ParseWithLength(v.mv_data, v.mv_size);
    if (!j) return 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "last_action_at");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "capacity");
    if (cJSON_IsNumber(a)) st->last_action_at = a->valuedouble;
    if (cJSON_IsNumber(c)) st->capacity = c->valuedouble;
    cJSON_Delete(j);
    return 0;
}

static int rule_state_put(srv_dlog *d, MDB_txn *t, const char *rule, const srv_rule_state *st) {
    char a[40] = "null", c[40] = "null", buf[128]; /* a part not known is null */
    if (isfinite(st->last_action_at)) snprintf(a, sizeof a, "%.17g", st->last_action_at);
    if (isfinite(st->capacity)) snprintf(c, sizeof c, "%.17g", st->capacity);
    int n = snprintf(buf, sizeof buf, "{\"last_action_at\":%s,\"capacity\":%s}", a, c);
    MDB_val k = {strlen(rule), (void *)rule}, v = {(size_t)n, buf};
    return mdb_put(t, d->rules, &k, &v, 0) ? AX_EIO : 0;
}

int srv_dlog_rule_state(srv_dlog *d, const char *rule, srv_rule_state *st) {
    MDB_txn *t;
    if (mdb_txn_begin(d->env, NULL, MDB_RDONLY, &t)) return AX_EIO;
    int rc = rule_state_get(d, t, rule, st);
    mdb_txn_abort(t);
    return rc;
}

/* ---- add ---- */

static const char *rule_of(const cJSON *rec) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(rec, "rule");
    return cJSON_IsString(r) ? r->valuestring : "";
}

/* Older decisions of the same rule still waiting for approval: superseded by the new one. */
static int supersede(srv_dlog *d, MDB_txn *t, const char *rule, uint64_t new_id, double now) {
    MDB_cursor *c;
    if (mdb_cursor_open(t, d->open, &c)) return AX_EIO;
    uint64_t ids[512];
    size_t n = 0;
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc && n < 512; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if (k.mv_size == 8 && ax_get_u64be(k.mv_data) != new_id) ids[n++] = ax_get_u64be(k.mv_data);
    mdb_cursor_close(c);
    for (size_t i = 0; i < n; i++) {
        cJSON *rec;
        if (rec_get(d, t, ids[i], &rec)) continue;
        bool changed = false;
        if (!strcmp(rule_of(rec), rule)) {
            cJSON *x, *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries");
            cJSON_ArrayForEach(x, dl) {
                if (state_of(x) != SRV_DLV_WAITING) continue;
                set_state(x, SRV_DLV_SUPERSEDED);
                changed = true;
            }
            if (changed) {
                set_str(rec, "state", "superseded");
                set_num(rec, "superseded_by", (double)new_id);
                set_time(rec, "superseded_at", now);
            }
        }
        int rc = changed ? rec_put(d, t, ids[i], rec) : 0;
        cJSON_Delete(rec);
        if (rc) return rc;
    }
    return 0;
}

static void body_key(uint8_t bk[12], uint64_t id, size_t action) {
    ax_put_u64be(bk, id);
    uint32_t a = (uint32_t)action;
    bk[8] = (uint8_t)(a >> 24), bk[9] = (uint8_t)(a >> 16), bk[10] = (uint8_t)(a >> 8), bk[11] = (uint8_t)a;
}

/* Delete the stored bodies of decision id (keys id . action, adjacent in the tree). */
static void del_bodies(srv_dlog *d, MDB_txn *t, uint64_t id) {
    MDB_cursor *c;
    if (mdb_cursor_open(t, d->bodies, &c)) return;
    uint8_t bk[12];
    body_key(bk, id, 0);
    MDB_val k = {12, bk}, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         !rc && k.mv_size == 12 && ax_get_u64be(k.mv_data) == id; rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT))
        if (mdb_cursor_del(c, 0)) break;
    mdb_cursor_close(c);
}

/* Keep the newest max_decisions records: delete the oldest finished ones beyond. */
static int prune(srv_dlog *d, MDB_txn *t) {
    MDB_stat st;
    if (mdb_stat(t, d->recs, &st)) return AX_EIO;
    if (st.ms_entries <= d->max_decisions) return 0;
    size_t excess = st.ms_entries - d->max_decisions;
    MDB_cursor *c;
    if (mdb_cursor_open(t, d->recs, &c)) return AX_EIO;
    MDB_val k, v;
    size_t seen = 0;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!rc && excess && seen++ < 10000) {
        MDB_val ek = k, ev;
        if (mdb_get(t, d->open, &ek, &ev) == MDB_NOTFOUND) {
            uint64_t id = ax_get_u64be(k.mv_data);
            if (mdb_cursor_del(c, 0)) break;
            excess--;
            del_bodies(d, t, id);
            rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
            if (rc == MDB_NOTFOUND) break;
            continue;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return 0;
}

int srv_dlog_add(srv_dlog *d, uint64_t id, const cJSON *rec_in, const uint8_t *const *bodies,
                 const size_t *body_len, const srv_rule_state *st, ax_err *e) {
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    cJSON *rec = cJSON_CreateObject(); /* "id" first, then the caller's members */
    bool ok = rec && cJSON_AddStringToObject(rec, "id", ids);
    const cJSON *m;
    cJSON_ArrayForEach(m, rec_in) {
        cJSON *dup = ok ? cJSON_Duplicate(m, 1) : NULL;
        if (!dup || !cJSON_AddItemToObject(rec, m->string, dup)) {
            cJSON_Delete(dup);
            ok = false;
        }
    }
    if (!ok) {
        cJSON_Delete(rec);
        return AX_ENOMEM;
    }
    MDB_txn *t;
    int rc = mdb_txn_begin(d->env, NULL, 0, &t);
    if (rc) {
        cJSON_Delete(rec);
        return mdb_rc(rc, e, "begin");
    }
    const char *rule = rule_of(rec);
    double now = (double)ax_now_ms() / 1000.0;
    bool waits = false;
    const cJSON *x, *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries");
    size_t i = 0;
    cJSON_ArrayForEach(x, dl) {
        waits |= state_of(x) == SRV_DLV_WAITING;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "action");
        if (!rc && bodies && bodies[i] && cJSON_IsNumber(a)) {
            uint8_t bk[12];
            body_key(bk, id, (size_t)a->valuedouble);
            MDB_val k = {12, bk}, v = {body_len[i], (void *)bodies[i]};
            rc = mdb_put(t, d->bodies, &k, &v, 0) ? AX_EIO : 0;
        }
        i++;
    }
    if (!rc && waits) rc = supersede(d, t, rule, id, now);
    if (!rc) rc = rec_put(d, t, id, rec);
    if (!rc && st) rc = rule_state_put(d, t, rule, st);
    if (!rc) rc = prune(d, t);
    if (rc) {
        mdb_txn_abort(t);
    } else if ((rc = mdb_txn_commit(t))) {
        rc = mdb_rc(rc, e, "commit");
    }
    cJSON_Delete(rec);
    if (rc && rc != AX_EIO) ax_err_set(e, rc, "decision log: cannot record decision %s: %s", ids, ax_strerror(rc));
    return rc;
}

/* ---- reads ---- */

int srv_dlog_get(srv_dlog *d, uint64_t id, cJSON **out) {
    MDB_txn *t;
    if (mdb_txn_begin(d->env, NULL, MDB_RDONLY, &t)) return AX_EIO;
    int rc = rec_get(d, t, id, out);
    mdb_txn_abort(t);
    return rc;
}

int srv_dlog_list(srv_dlog *d, uint64_t before, size_t limit, const char *rule, const char *kind,
                  bool actionable, cJSON **out) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return AX_ENOMEM;
    MDB_txn *t;
    if (mdb_txn_begin(d->env, NULL, MDB_RDONLY, &t)) {
        cJSON_Delete(arr);
        return AX_EIO;
    }
    MDB_cursor *c;
    int rc = mdb_cursor_open(t, d->recs, &c) ? AX_EIO : 0;
    if (!rc) {
        MDB_val k, v;
        uint8_t kb[8];
        int mrc;
        if (before) {
            id_key(kb, before);
            k = (MDB_val){8, kb};
            mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
            mrc = mrc == MDB_NOTFOUND ? mdb_cursor_get(c, &k, &v, MDB_LAST) : mdb_cursor_get(c, &k, &v, MDB_PREV);
            if (!mrc && ax_get_u64be(k.mv_data) >= before) mrc = mdb_cursor_get(c, &k, &v, MDB_PREV);
        } else {
            mrc = mdb_cursor_get(c, &k, &v, MDB_LAST);
        }
        size_t n = 0;
        for (; !mrc && n < limit; mrc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
            cJSON *rec = cJSON_ParseWithLength(v.mv_data, v.mv_size);
            if (!rec) continue;
            bool keep = true;
            if (rule && strcmp(rule_of(rec), rule)) keep = false;
            if (keep && kind) {
                const cJSON *dk = cJSON_GetObjectItemCaseSensitive(rec, "decision");
                keep = cJSON_IsString(dk) && !strcmp(dk->valuestring, kind);
            }
            if (keep && actionable) keep = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, "deliveries")) > 0;
            if (keep) {
                cJSON_AddItemToArray(arr, rec);
                n++;
            } else {
                cJSON_Delete(rec);
            }
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(t);
    if (rc) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

/* ---- approval ---- */

int srv_dlog_approve(srv_dlog *d, uint64_t id, bool approve, double now, cJSON **out, ax_err *e) {
    MDB_txn *t;
    int rc = mdb_txn_begin(d->env, NULL, 0, &t);
    if (rc) return mdb_rc(rc, e, "begin");
    cJSON *rec = NULL;
    rc = rec_get(d, t, id, &rec);
    if (rc == AX_ENOTFOUND) ax_err_set(e, rc, "decision %llu not found", (unsigned long long)id);
    size_t waiting = 0;
    if (!rc) {
        cJSON *x, *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries");
        cJSON_ArrayForEach(x, dl) waiting += state_of(x) == SRV_DLV_WAITING;
        if (!waiting) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(rec, "state");
            rc = ax_err_set(e, AX_EINVAL, "decision %llu is %s, not waiting for approval",
                            (unsigned long long)id, cJSON_IsString(s) ? s->valuestring : "not actionable");
        }
    }
    if (!rc) {
        cJSON *x, *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries");
        cJSON_ArrayForEach(x, dl) {
            if (state_of(x) != SRV_DLV_WAITING) continue;
            set_state(x, approve ? SRV_DLV_PENDING : SRV_DLV_REJECTED);
            if (approve) set_time(x, "next_try_at", now);
        }
        set_str(rec, "state", approve ? "approved" : "rejected");
        set_time(rec, approve ? "approved_at" : "rejected_at", now);
        rc = rec_put(d, t, id, rec);
        if (!rc && approve) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(rec, "desired_capacity");
            srv_rule_state st = {now, cJSON_IsNumber(want) ? want->valuedouble : NAN};
            rc = rule_state_put(d, t, rule_of(rec), &st);
        }
    }
    if (rc) {
        mdb_txn_abort(t);
    } else if ((rc = mdb_txn_commit(t))) {
        rc = mdb_rc(rc, e, "commit");
    }
    if (!rc && out) *out = rec;
    else cJSON_Delete(rec);
    return rc;
}

/* ---- outbox ---- */

int srv_dlog_due(srv_dlog *d, double now, srv_dlv_due *out, size_t cap, size_t *n_out,
                 double *next_at) {
    *n_out = 0;
    *next_at = INFINITY;
    MDB_txn *t;
    if (mdb_txn_begin(d->env, NULL, 0, &t)) return AX_EIO;
    MDB_cursor *c;
    if (mdb_cursor_open(t, d->open, &c)) {
        mdb_txn_abort(t);
        return AX_EIO;
    }
    uint64_t ids[1024];
    size_t n = 0;
    MDB_val k, v;
    for (int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !mrc && n < 1024; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if (k.mv_size == 8) ids[n++] = ax_get_u64be(k.mv_data);
    mdb_cursor_close(c);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        cJSON *rec;
        if (rec_get(d, t, ids[i], &rec)) continue;
        double expires = get_time(rec, "expires_at");
        bool changed = false;
        cJSON *x, *dl = cJSON_GetObjectItemCaseSensitive(rec, "deliveries");
        cJSON_ArrayForEach(x, dl) {
            int st = state_of(x);
            if (st == SRV_DLV_WAITING && isfinite(expires) && now >= expires) {
                set_state(x, SRV_DLV_EXPIRED);
                changed = true;
                set_str(rec, "state", "expired");
            } else if (st == SRV_DLV_WAITING && isfinite(expires) && expires < *next_at) {
                *next_at = expires;
            } else if (st == SRV_DLV_PENDING) {
                double due = get_time(x, "next_try_at");
                const cJSON *a = cJSON_GetObjectItemCaseSensitive(x, "action");
                if (!isfinite(due) || due <= now) {
                    if (*n_out < cap && cJSON_IsNumber(a))
                        out[(*n_out)++] = (srv_dlv_due){ids[i], (size_t)a->valuedouble};
                } else if (due < *next_at) {
                    *next_at = due;
                }
            }
        }
        if (changed) rc = rec_put(d, t, ids[i], rec);
        cJSON_Delete(rec);
    }
    if (rc || mdb_txn_commit(t)) {
        if (rc) mdb_txn_abort(t);
        return AX_EIO;
    }
    return 0;
}

int srv_dlog_attempt_begin(srv_dlog *d, uint64_t id, size_t action, double now, cJSON **rec_out,
                           cJSON **dlv_out, uint8_t **body, size_t *len) {
    MDB_txn *t;
    if (mdb_txn_begin(d->env, NULL, 0, &t)) return AX_EIO;
    cJSON *rec = NULL;
    int rc = rec_get(d, t, id, &rec);
    cJSON *x = rc ? NULL : dlv_at(rec, action);
    if (!rc && (!x || state_of(x) != SRV_DLV_PENDING)) rc = AX_EINVAL;
    const cJSON *kind = x ? cJSON_GetObjectItemCaseSensitive(x, "kind") : NULL;
    bool exec = cJSON_IsString(kind) && !strcmp(kind->valuestring, "exec");
    *body = NULL;
    *len = 0;
    if (!rc && !exec) {
        uint8_t bk[12];
        body_key(bk, id, action);
        MDB_val k = {12, bk}, v;
        if (mdb_get(t, d->bodies, &k, &v) == 0) {
            *body = malloc(v.mv_size + 1);
            if (!*body) rc = AX_ENOMEM;
            else {
                memcpy(*body, v.mv_data, v.mv_size);
                (*body)[v.mv_size] = 0;
                *len = v.mv_size;
            }
        } else {
            rc = AX_ECORRUPT;
        }
    }
    if (!rc && exec) {
        set_state(x, SRV_DLV_RUNNING);
        set_time(x, "started_at", now);
        rc = rec_put(d, t, id, rec);
        if (!rc) rc = mdb_txn_commit(t) ? AX_EIO : 0;
        else mdb_txn_abort(t);
    } else {
        mdb_txn_abort(t);
    }
    if (rc) {
        free(*body);
        *body = NULL;
        cJSON_Delete(rec);
        return rc;
    }
    *rec_out = rec;
    *dlv_out = x;
    return 0;
}

int srv_dlog_attempt_end(srv_dlog *d, uint64_t id, size_t action, const srv_dlv_outcome *o,
                         ax_err *e) {
    MDB_txn *t;
    int rc = mdb_txn_begin(d->env, NULL, 0, &t);
    if (rc) return mdb_rc(rc, e, "begin");
    cJSON *rec = NULL;
    rc = rec_get(d, t, id, &rec);
    cJSON *x = rc ? NULL : dlv_at(rec, action);
    if (!rc && !x) rc = AX_ENOTFOUND;
    if (!rc) {
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(x, "tries");
        double tries = (cJSON_IsNumber(tr) ? tr->valuedouble : 0) + 1;
        set_num(x, "tries", tries);
        set_state(x, o->state);
        set_time(x, "last_try_at", o->at);
        if (o->exec) {
            set_num(x, "exit_code", (double)o->status);
        } else {
            set_num(x, "last_status", o->status ? (double)o->status : NAN);
        }
        set_str(x, "last_error", o->error ? o->error : "");
        if (o->output) set_str(x, o->exec ? "output" : "last_response", o->output);
        if (o->state == SRV_DLV_PENDING) set_time(x, "next_try_at", o->next_try_at);
        else cJSON_DeleteItemFromObjectCaseSensitive(x, "next_try_at");
        if (o->state == SRV_DLV_DELIVERED) set_time(x, "delivered_at", o->at);
        if (o->state == SRV_DLV_FAILED) set_time(x, "failed_at", o->at);
        cJSON *att = cJSON_GetObjectItemCaseSensitive(x, "attempts");
        if (!att) {
            att = cJSON_AddArrayToObject(x, "attempts");
        }
        cJSON *one = cJSON_CreateObject();
        if (att && one) {
            set_time(one, "at", o->at);
            if (o->exec) set_num(one, "exit_code", (double)o->status);
            else set_num(one, "status", o->status ? (double)o->status : NAN);
            set_str(one, "error", o->error ? o->error : "");
            set_num(one, "duration_seconds", o->duration_s);
            cJSON_AddItemToArray(att, one);
            while (cJSON_GetArraySize(att) > DLOG_MAX_ATTEMPTS_KEPT) cJSON_DeleteItemFromArray(att, 0);
        } else {
            cJSON_Delete(one);
            rc = AX_ENOMEM;
        }
    }
    if (!rc) rc = rec_put(d, t, id, rec);
    if (rc) {
        mdb_txn_abort(t);
    } else if ((rc = mdb_txn_commit(t))) {
        rc = mdb_rc(rc, e, "commit");
    }
    cJSON_Delete(rec);
    return rc;
}
