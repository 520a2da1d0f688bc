/* server/api_snapshot.c: snapshots of the data folder over HTTP (docs/snapshots.md).
 *
 *   POST|GET /snapshot/create                     {"status":"ok","snapshot":"<name>"}
 *   GET      /snapshot/list                       {"status":"ok","snapshots":["<name>",...]}
 *   POST|GET /snapshot/delete?snapshot=<name>     {"status":"ok"}
 *   POST|GET /snapshot/delete_all                 {"status":"ok"}
 *     (VictoriaMetrics' routes; errors {"status":"error","msg":"..."})
 *   POST|PUT /api/v1/admin/tsdb/snapshot          {"status":"success","data":{"name":"<name>"}}
 *     (Prometheus' route; errors in its shape, srv_reply_error)
 *
 * A snapshot is <data>/snapshots/<name>/, itself a data folder (data.mdb, and
 * decisions/data.mdb when the decision log is open); name = UTC YYYYMMDDhhmmss-<16 hex>.
 * Create: mkdir <name>.tmp -> eng_snapshot (flush the head, copy LMDB) -> srv_dlog_copy
 *   -> fsync -> rename to <name> -> fsync snapshots/. A crash leaves at most a <name>.tmp,
 *   which list never shows and delete_all removes.
 * Delete: rename <name> to <name>.tmp, then remove it, so a crash never leaves half a
 *   snapshot under a real name.
 * Only names of the snapshot format are ever listed or removed; a name with '/' or ".." is
 * 400, any other name that is not a snapshot 404. All file work runs on the threadpool.
 * Invariant: delete_all removes .tmp folders only while no create is running (g_creating).
 */
#include "server/app.h"
#include "server/decisions.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SNAP_NAME_LEN 31   /* YYYYMMDDhhmmss-XXXXXXXXXXXXXXXX */
#define SNAP_PATH_MAX 4096
#define SNAP_MAX_LIST 100000

enum { OP_CREATE, OP_LIST, OP_DELETE, OP_DELETE_ALL };

typedef struct snap_job {
    int op;
    bool prom;                /* Prometheus' route: its reply shape */
    char name[SNAP_NAME_LEN + 1];
    int rc;
    ax_err err;
    ax_buf out;               /* list: the JSON array */
} snap_job;

/* creates in flight, across requests (one srv_app per process) */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_creating;

static bool is_snapshot_name(const char *s, size_t len) {
    if (len != SNAP_NAME_LEN || s[14] != '-') return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (i < 14 && (c < '0' || c > '9')) return false;
        if (i > 14 && !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static bool ends_with_tmp(const char *s) {
    size_t l = strlen(s);
    return l > 4 && !memcmp(s + l - 4, ".tmp", 4);
}

static int path_of(char *out, const char *data, const char *name, const char *suffix) {
    int n = name ? snprintf(out, SNAP_PATH_MAX, "%s/snapshots/%s%s", data, name, suffix)
                 : snprintf(out, SNAP_PATH_MAX, "%s/snapshots", data);
    return n > 0 && n < SNAP_PATH_MAX ? 0 : AX_EINVAL;
}

static int sync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return AX_EIO;
    int rc = fsync(fd) ? AX_EIO : 0;
    close(fd);
    return rc;
}

/* Remove `name` in folder dfd and everything under it (no symlinks followed). A missing
 * entry is not an error (a concurrent delete got there first). Returns 0 or AX_EIO. */
static int rm_at(int dfd, const char *name) {
    if (!unlinkat(dfd, name, 0) || errno == ENOENT) return 0;
    if (errno != EISDIR && errno != EPERM) return AX_EIO;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : AX_EIO;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return AX_EIO;
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        rc = rm_at(dirfd(d), de->d_name);
    }
    closedir(d);
    if (!rc && unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT) rc = AX_EIO;
    return rc;
}

static int rm_rf(const char *path) { return rm_at(AT_FDCWD, path); }

/* <name> into out[SNAP_NAME_LEN + 1]: the UTC time and 64 random bits (VictoriaMetrics
 * uses the time and a counter; random bits keep names unique across restarts too). */
static int make_name(char *out, ax_err *e) {
    uint64_t rnd = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, &rnd, sizeof rnd) : -1;
    if (fd >= 0) close(fd);
    if (n != (ssize_t)sizeof rnd) return ax_err_set(e, AX_EIO, "cannot read /dev/urandom");
    time_t now = (time_t)(ax_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    char s[96];
    int len = snprintf(s, sizeof s, "%04d%02d%02d%02d%02d%02d-%016llX", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       (unsigned long long)rnd);
    if (len != SNAP_NAME_LEN) return ax_err_set(e, AX_EIO, "clock out of range");
    memcpy(out, s, SNAP_NAME_LEN + 1);
    return 0;
}

static int do_create(srv_app *app, snap_job *j) {
    char dir[SNAP_PATH_MAX], tmp[SNAP_PATH_MAX], fin[SNAP_PATH_MAX], sub[SNAP_PATH_MAX];
    int rc = make_name(j->name, &j->err);
    if (!rc && (path_of(dir, app->data_path, NULL, "") || path_of(tmp, app->data_path, j->name, ".tmp") ||
                path_of(fin, app->data_path, j->name, "") ||
                (size_t)snprintf(sub, sizeof sub, "%s/decisions", tmp) >= sizeof sub))
        rc = ax_err_set(&j->err, AX_EINVAL, "data path too long");
    if (rc) return rc;
    if (mkdir(dir, 0755) && errno != EEXIST)
        return ax_err_set(&j->err, AX_EIO, "cannot create %s: %s", dir, strerror(errno));
    if (mkdir(tmp, 0755))
        return ax_err_set(&j->err, AX_EIO, "cannot create %s: %s", tmp, strerror(errno));
    rc = eng_snapshot(app->e, tmp, &j->err);
    if (!rc && app->dlog) rc = srv_dlog_copy(app->dlog, sub, &j->err);
    if (!rc && sync_dir(tmp)) rc = ax_err_set(&j->err, AX_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, fin))
        rc = ax_err_set(&j->err, AX_EIO, "rename %s: %s", tmp, strerror(errno));
    if (!rc && sync_dir(dir)) {
        rc = ax_err_set(&j->err, AX_EIO, "fsync %s: %s", dir, strerror(errno));
        rename(fin, tmp); /* not durably named: do not keep it under the real name */
    }
    if (rc) rm_rf(tmp);
    if (!rc) fprintf(stderr, "auspex: snapshot %s created\n", fin);
    return rc;
}

/* Remove snapshot `name`: rename it to <name>.tmp first (a .tmp left over by a crash is
 * removed beforehand). Returns 0, AX_ENOTFOUND, AX_EIO. */
static int delete_one(srv_app *app, const char *name, ax_err *e) {
    char fin[SNAP_PATH_MAX], tmp[SNAP_PATH_MAX];
    if (path_of(fin, app->data_path, name, "") || path_of(tmp, app->data_path, name, ".tmp"))
        return ax_err_set(e, AX_EINVAL, "data path too long");
    struct stat st;
    if (stat(fin, &st) || !S_ISDIR(st.st_mode))
        return ax_err_set(e, AX_ENOTFOUND, "snapshot %s not found", name);
    int rc = rename(fin, tmp) ? errno : 0;
    if (rc == ENOTEMPTY || rc == EEXIST) {
        rm_rf(tmp);
        rc = rename(fin, tmp) ? errno : 0;
    }
    if (rc == ENOENT) return ax_err_set(e, AX_ENOTFOUND, "snapshot %s not found", name);
    if (rc) return ax_err_set(e, AX_EIO, "cannot rename %s: %s", fin, strerror(rc));
    if (rm_rf(tmp)) return ax_err_set(e, AX_EIO, "cannot remove %s", tmp);
    return 0;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Snapshot names (sorted, malloc'd) and, for delete_all, the .tmp leftovers. */
static int scan(srv_app *app, char ***names_out, size_t *n_out, ax_err *e) {
    char dir[SNAP_PATH_MAX];
    if (path_of(dir, app->data_path, NULL, "")) return ax_err_set(e, AX_EINVAL, "data path too long");
    *names_out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : ax_err_set(e, AX_EIO, "cannot read %s: %s", dir, strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (!is_snapshot_name(de->d_name, strlen(de->d_name)) && !ends_with_tmp(de->d_name)) continue;
        if (n == SNAP_MAX_LIST) break;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv) { rc = AX_ENOMEM; break; }
            v = nv;
        }
        if (!(v[n] = strdup(de->d_name))) rc = AX_ENOMEM;
        else n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return ax_err_set(e, rc, "out of memory");
    }
    if (n) qsort(v, n, sizeof *v, name_cmp);
    *names_out = v;
    *n_out = n;
    return 0;
}

static void snap_work(srv_req *r) {
    snap_job *j = srv_req_udata(r);
    srv_app *app = srv_req_ctx(r);
    if (j->rc) return;
    if (j->op == OP_CREATE) {
        pthread_mutex_lock(&g_mu);
        g_creating++;
        pthread_mutex_unlock(&g_mu);
        j->rc = do_create(app, j);
        pthread_mutex_lock(&g_mu);
        g_creating--;
        pthread_mutex_unlock(&g_mu);
        return;
    }
    if (j->op == OP_DELETE) {
        j->rc = delete_one(app, j->name, &j->err);
        return;
    }
    char **names = NULL;
    size_t n = 0;
    j->rc = scan(app, &names, &n, &j->err);
    if (j->rc) {
        /* nothing listed */
    } else if (j->op == OP_LIST) {
        ax_buf_init(&j->out, 64u << 20);
        j->rc = ax_buf_append_str(&j->out, "{\"status\":\"ok\",\"snapshots\":[");
        bool first = true;
        for (size_t i = 0; i < n && !j->rc; i++) {
            if (!is_snapshot_name(names[i], strlen(names[i]))) continue;
            j->rc = ax_buf_printf(&j->out, "%s\"%s\"", first ? "" : ",", names[i]);
            first = false;
        }
        if (!j->rc) j->rc = ax_buf_append_str(&j->out, "]}");
    } else { /* OP_DELETE_ALL */
        pthread_mutex_lock(&g_mu);
        bool creating = g_creating > 0;
        pthread_mutex_unlock(&g_mu);
        for (size_t i = 0; i < n && !j->rc; i++) {
            char tmp[SNAP_PATH_MAX];
            if (is_snapshot_name(names[i], strlen(names[i]))) {
                int rc = delete_one(app, names[i], &j->err);
                if (rc != AX_ENOTFOUND) j->rc = rc; /* gone meanwhile: fine */
            } else if (!creating && !path_of(tmp, app->data_path, names[i], "") && rm_rf(tmp)) {
                j->rc = ax_err_set(&j->err, AX_EIO, "cannot remove %s", tmp);
            }
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static void reply_vm_error(srv_req *r, int rc, const char *msg) {
    int status = srv_http_status_of(rc, NULL);
    ax_buf b;
    ax_buf_init(&b, 8192);
    if (ax_buf_append_str(&b, "{\"status\":\"error\",\"msg\":") || srv_json_str(&b, msg, strlen(msg)) ||
        ax_buf_append_str(&b, "}")) {
        ax_buf_free(&b);
        static const char bare[] = "{\"status\":\"error\",\"msg\":\"\"}";
        srv_reply(r, status, "application/json", bare, sizeof bare - 1);
        return;
    }
    srv_reply_buf_take(r, status, "application/json", &b);
}

static void snap_after(srv_req *r) {
    snap_job *j = srv_req_udata(r);
    if (j->rc) {
        ax_buf_free(&j->out);
        const char *msg = j->err.msg[0] ? j->err.msg : ax_strerror(j->rc);
        if (j->prom) {
            const char *etype = NULL;
            int status = srv_http_status_of(j->rc, &etype);
            srv_reply_error(r, status, etype, "%s", msg);
        } else {
            reply_vm_error(r, j->rc, msg);
        }
        return;
    }
    char body[128];
    int n = 0;
    if (j->op == OP_LIST) {
        srv_reply_buf_take(r, 200, "application/json", &j->out);
        return;
    }
    if (j->op == OP_CREATE && j->prom)
        n = snprintf(body, sizeof body, "{\"status\":\"success\",\"data\":{\"name\":\"%s\"}}", j->name);
    else if (j->op == OP_CREATE)
        n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"snapshot\":\"%s\"}", j->name);
    else
        n = snprintf(body, sizeof body, "{\"status\":\"ok\"}");
    srv_reply(r, 200, "application/json", body, (size_t)n);
}

static void start(srv_req *r, int op, bool prom) {
    if (op != OP_LIST && srv_req_method(r) == SRV_HEAD) { /* GET implies HEAD: no side effects */
        static const char body[] = "{\"status\":\"error\",\"msg\":\"HEAD does not change snapshots\"}";
        srv_reply_header(r, "Allow", "GET, POST");
        srv_reply(r, 405, "application/json", body, sizeof body - 1);
        return;
    }
    snap_job *j = ax_arena_alloc(srv_req_arena(r), sizeof *j);
    if (!j) {
        srv_reply_error(r, 503, "unavailable", "out of request memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->op = op;
    j->prom = prom;
    srv_req_set_udata(r, j);
    if (op == OP_DELETE) {
        size_t len = 0;
        const char *name = srv_req_param(r, "snapshot", &len);
        if (!name || !len) {
            j->rc = ax_err_set(&j->err, AX_EINVAL, "missing `snapshot` parameter");
        } else if (memchr(name, '/', len) || strstr(name, "..") || memchr(name, '\0', len)) {
            j->rc = ax_err_set(&j->err, AX_EINVAL, "invalid snapshot name %.*s", (int)(len > 200 ? 200 : len), name);
        } else if (!is_snapshot_name(name, len)) {
            j->rc = ax_err_set(&j->err, AX_ENOTFOUND, "snapshot %.*s not found", (int)(len > 200 ? 200 : len), name);
        } else {
            memcpy(j->name, name, len);
            j->name[len] = '\0';
        }
        if (j->rc) {
            snap_after(r);
            return;
        }
    }
    srv_req_work(r, snap_work, snap_after);
}

static void h_create(srv_req *r, void *ctx) { start(r, OP_CREATE, false); }
static void h_list(srv_req *r, void *ctx) { start(r, OP_LIST, false); }
static void h_delete(srv_req *r, void *ctx) { start(r, OP_DELETE, false); }
static void h_delete_all(srv_req *r, void *ctx) { start(r, OP_DELETE_ALL, false); }
static void h_prom_snapshot(srv_req *r, void *ctx) { start(r, OP_CREATE, true); }

int srv_api_snapshot_register(srv_app *app) {
    srv_http *h = app->http;
    int rc = srv_http_route(h, SRV_GET | SRV_POST, "/snapshot/create", false, h_create, app);
    if (!rc) rc = srv_http_route(h, SRV_GET, "/snapshot/list", false, h_list, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/snapshot/delete", false, h_delete, app);
    if (!rc) rc = srv_http_route(h, SRV_GET | SRV_POST, "/snapshot/delete_all", false, h_delete_all, app);
    if (!rc)
        rc = srv_http_route(h, SRV_POST | SRV_PUT, "/api/v1/admin/tsdb/snapshot", false,
                            h_prom_snapshot, app);
    return rc;
}
