/* storage/env.c: the LMDB environment, txns, map growth, error mapping, meta, stats and
 * compacted copies (snapshots).
 *
 * One environment (data.mdb + lock.mdb) in the data folder, five named databases (layout in
 * docs/storage.md). MDB_NOTLS lets a read txn move between worker threads; MDB_WRITEMAP is
 * not used, so a stray pointer cannot scribble on the file.
 *
 * Map growth protocol. mdb_env_set_mapsize() may only run while this process has no txn, so:
 *   begin:   take s->lock shared, then mdb_txn_begin. MDB_MAP_RESIZED (another process grew
 *            the file) -> drop the lock, adopt the new size under the lock held exclusive, retry.
 *   put/del: MDB_MAP_FULL -> stor__fail(): abort the LMDB txn, drop the shared lock, take it
 *            exclusive, set the map to max(2x, +1 GiB), release; the stor_txn is now dead and
 *            every call on it returns AX_EAGAIN: the caller aborts it and redoes the work.
 *   commit:  same on MDB_MAP_FULL (mdb_txn_commit has already freed the txn).
 * Invariant: s->lock is held shared exactly while t->txn != NULL.
 * The exclusive lock is taken with a timeout (a thread that holds a read txn while its own
 * write txn fails would otherwise wait on itself); on timeout the growth stays pending and is
 * done by the next write txn's begin, and the caller still gets AX_EAGAIN.
 */
#include "storage/storage_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAP_SIZE (1ull << 30)
#define GROW_MIN_STEP (1ull << 30)
#define MAX_READERS 256
#define GROW_LOCK_TIMEOUT_S 10

int stor__err(int rc) {
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_NOTFOUND: return AX_ENOTFOUND;
    case MDB_MAP_FULL: return AX_EAGAIN;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return AX_ECORRUPT;
    case ENOSPC:
    case EDQUOT: return AX_EFULL;
    case ENOMEM: return AX_ENOMEM;
    default: return AX_EIO;
    }
}

/* Take s->lock exclusive within the timeout. Returns true when held. */
static bool lock_exclusive(stor_env *s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += GROW_LOCK_TIMEOUT_S;
    return pthread_rwlock_timedwrlock(&s->lock, &ts) == 0;
}

/* Grow the map if it is still `seen` bytes (another thread may have grown it already).
 * Call without holding s->lock. Returns 0 or an AX_* code. */
static int grow_map(stor_env *s, size_t seen) {
    pthread_mutex_lock(&s->grow_mu);
    bool need = s->map_size == seen || s->grow_pending;
    pthread_mutex_unlock(&s->grow_mu);
    if (!need) return 0;
    if (!lock_exclusive(s)) {
        pthread_mutex_lock(&s->grow_mu);
        s->grow_pending = true;
        pthread_mutex_unlock(&s->grow_mu);
        fprintf(stderr, "auspex: storage: map full, growth postponed (txns still open)\n");
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&s->grow_mu);
    if (s->map_size == seen || s->grow_pending) {
        size_t cur = s->map_size;
        size_t next = cur * 2 > cur + GROW_MIN_STEP ? cur * 2 : cur + GROW_MIN_STEP;
        int mrc = mdb_env_set_mapsize(s->env, next);
        if (mrc) {
            fprintf(stderr, "auspex: storage: growing the map to %zu bytes: %s\n", next,
                    mdb_strerror(mrc));
            rc = stor__err(mrc);
        } else {
            s->map_size = next;
            s->grow_pending = false;
        }
    }
    pthread_mutex_unlock(&s->grow_mu);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* Adopt a map size set by another process (MDB_MAP_RESIZED). */
static int adopt_map(stor_env *s) {
    if (!lock_exclusive(s)) return AX_EAGAIN;
    int rc = stor__err(mdb_env_set_mapsize(s->env, 0));
    MDB_envinfo info;
    if (!rc && !mdb_env_info(s->env, &info)) {
        pthread_mutex_lock(&s->grow_mu);
        s->map_size = info.me_mapsize;
        pthread_mutex_unlock(&s->grow_mu);
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int stor__fail(stor_txn *t, int mdb_rc) {
    if (mdb_rc != MDB_MAP_FULL) return stor__err(mdb_rc);
    if (t->txn) {
        mdb_txn_abort(t->txn);
        t->txn = NULL;
        pthread_rwlock_unlock(&t->s->lock);
    }
    int rc = grow_map(t->s, t->began_map_size);
    t->dead_rc = rc ? rc : AX_EAGAIN;
    return t->dead_rc;
}

/* mkdir -p with mode 0755. */
static int make_dirs(const char *path, ax_err *e) {
    size_t len = strlen(path);
    char *p = malloc(len + 1);
    if (!p) return ax_err_set(e, AX_ENOMEM, "out of memory");
    memcpy(p, path, len + 1);
    int rc = 0;
    for (size_t i = 1; i <= len && !rc; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) && errno != EEXIST)
            rc = ax_err_set(e, AX_EIO, "mkdir %s: %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat st;
    if (!rc && (stat(path, &st) || !S_ISDIR(st.st_mode)))
        rc = ax_err_set(e, AX_EIO, "%s: not a directory", path);
    free(p);
    return rc;
}

void stor__scratch_free(stor__scratch *w) {
    codec_ctx_free(w->codec);
    free(w->old_ts);
    free(w->old_v);
    free(w->ts);
    free(w->v);
    free(w->old);
    ax_buf_free(&w->enc);
    memset(w, 0, sizeof *w);
}

int stor_env_open(const stor_opts *o, stor_env **out, ax_err *e) {
    if (!o || !o->path || !*o->path) return ax_err_set(e, AX_EINVAL, "storage: no path");
    int rc = make_dirs(o->path, e);
    if (rc) return rc;
    stor_env *s = calloc(1, sizeof *s);
    if (!s) return ax_err_set(e, AX_ENOMEM, "out of memory");
    s->path = strdup(o->path);
    s->w.codec = codec_ctx_new();
    ax_buf_init(&s->w.enc, 64u << 20);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* a waiting resize must not be starved by a stream of overlapping read txns */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&s->grow_mu, NULL);
    if (!s->path || !s->w.codec) {
        rc = ax_err_set(e, AX_ENOMEM, "out of memory");
        goto fail;
    }
    int mrc = mdb_env_create(&s->env);
    if (mrc) {
        s->env = NULL;
        rc = ax_err_set(e, stor__err(mrc), "mdb_env_create: %s", mdb_strerror(mrc));
        goto fail;
    }
    s->map_size = o->map_size ? (size_t)o->map_size : DEFAULT_MAP_SIZE;
    if ((mrc = mdb_env_set_mapsize(s->env, s->map_size)) ||
        (mrc = mdb_env_set_maxreaders(s->env, MAX_READERS)) ||
        (mrc = mdb_env_set_maxdbs(s->env, 8))) {
        rc = ax_err_set(e, stor__err(mrc), "lmdb setup: %s", mdb_strerror(mrc));
        goto fail;
    }
    /* NORDAHEAD: reads touch single chunks; readahead would only fill memory */
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (o->nosync ? MDB_NOSYNC : 0);
    if ((mrc = mdb_env_open(s->env, o->path, flags, 0644))) {
        rc = ax_err_set(e, stor__err(mrc), "lmdb open %s: %s", o->path, mdb_strerror(mrc));
        goto fail;
    }
    /* an existing file may be larger than asked: LMDB adopts its size */
    MDB_envinfo info;
    if (!mdb_env_info(s->env, &info)) s->map_size = info.me_mapsize;
    MDB_stat pst;
    s->page_size = mdb_env_stat(s->env, &pst) == 0 ? pst.ms_psize : 4096;
    s->max_key = mdb_env_get_maxkeysize(s->env);

    MDB_txn *txn = NULL;
    if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
        rc = ax_err_set(e, stor__err(mrc), "lmdb begin: %s", mdb_strerror(mrc));
        goto fail;
    }
    if ((mrc = mdb_dbi_open(txn, "series", MDB_CREATE, &s->series)) ||
        (mrc = mdb_dbi_open(txn, "postings", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
                            &s->postings)) ||
        (mrc = mdb_dbi_open(txn, "chunks", MDB_CREATE, &s->chunks)) ||
        (mrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) ||
        (mrc = mdb_dbi_open(txn, "rollups", MDB_CREATE, &s->rollups))) {
        mdb_txn_abort(txn);
        rc = ax_err_set(e, stor__err(mrc), "lmdb open databases: %s", mdb_strerror(mrc));
        goto fail;
    }
    if ((mrc = mdb_txn_commit(txn))) {
        rc = ax_err_set(e, stor__err(mrc), "lmdb commit: %s", mdb_strerror(mrc));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    stor_env_close(s);
    return rc;
}

void stor_env_close(stor_env *s) {
    if (!s) return;
    if (s->env) mdb_env_close(s->env);
    stor__scratch_free(&s->w);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->grow_mu);
    free(s->path);
    free(s);
}

int stor_txn_begin(stor_env *s, int kind, stor_txn **out) {
    if (!s || (kind != STOR_TXN_READ && kind != STOR_TXN_WRITE)) return AX_EINVAL;
    if (kind == STOR_TXN_WRITE) {
        pthread_mutex_lock(&s->grow_mu);
        bool pending = s->grow_pending;
        size_t seen = s->map_size;
        pthread_mutex_unlock(&s->grow_mu);
        if (pending) {
            int rc = grow_map(s, seen);
            if (rc) return rc;
        }
    }
    stor_txn *t = calloc(1, sizeof *t);
    if (!t) return AX_ENOMEM;
    t->s = s;
    t->kind = kind;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&s->lock);
        pthread_mutex_lock(&s->grow_mu);
        t->began_map_size = s->map_size;
        pthread_mutex_unlock(&s->grow_mu);
        int mrc = mdb_txn_begin(s->env, NULL, kind == STOR_TXN_READ ? MDB_RDONLY : 0, &t->txn);
        if (!mrc) break;
        t->txn = NULL;
        pthread_rwlock_unlock(&s->lock);
        int rc = stor__err(mrc);
        if (mrc == MDB_MAP_RESIZED && attempt < 3) rc = adopt_map(s);
        else if (mrc == MDB_MAP_RESIZED) rc = AX_EAGAIN;
        if (rc) {
            free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

/* Disk full. LMDB reports a short page write as EIO, and a full disk is what makes a
 * write short, so EIO with (almost) no room left on the data folder's filesystem counts as
 * ENOSPC. Logged once when commits start failing so and once when one succeeds again, not
 * per retry. Per process (a server has one environment). */
#define FULL_ROOM_BYTES (1u << 20)
static atomic_bool commit_full;

static bool disk_full(const stor_env *s, int mrc) {
    struct statvfs v;
    bool known = statvfs(s->path, &v) == 0;
    unsigned long long room = known ? (unsigned long long)v.f_bavail * v.f_frsize : 0;
    bool full = mrc == ENOSPC || mrc == EDQUOT || (mrc == EIO && known && room < FULL_ROOM_BYTES);
    if (full && !atomic_exchange(&commit_full, true))
        fprintf(stderr, "auspex: storage: disk full: cannot commit to %s/data.mdb (%s, %llu "
                        "bytes free); flushes are retried, writes are refused meanwhile\n", s->path,
                mdb_strerror(mrc), room);
    return full;
}

int stor_txn_commit(stor_txn *t) {
    if (!t) return AX_EINVAL;
    int rc = stor__live(t);
    if (!rc && t->kind == STOR_TXN_READ) {
        mdb_txn_abort(t->txn);  /* nothing to write; releases the reader slot */
        t->txn = NULL;
        pthread_rwlock_unlock(&t->s->lock);
    } else if (!rc) {
        int mrc = mdb_txn_commit(t->txn);  /* frees the txn whatever it returns */
        t->txn = NULL;
        pthread_rwlock_unlock(&t->s->lock);
        if (mrc == MDB_MAP_FULL) rc = stor__fail(t, mrc);
        else if (mrc && disk_full(t->s, mrc)) rc = AX_EFULL;
        else if (mrc) {
            rc = stor__err(mrc);
            fprintf(stderr, "auspex: storage: commit: %s\n", mdb_strerror(mrc));
        }
        if (!mrc && atomic_load(&commit_full) && atomic_exchange(&commit_full, false))
            fprintf(stderr, "auspex: storage: disk space available again: commits succeed\n");
    }
    free(t);
    return rc;
}

void stor_txn_abort(stor_txn *t) {
    if (!t) return;
    if (t->txn) {
        mdb_txn_abort(t->txn);
        pthread_rwlock_unlock(&t->s->lock);
    }
    free(t);
}

/* ---- meta ---- */

static int meta_key(const char *key, MDB_val *k) {
    size_t len = key ? strlen(key) : 0;
    if (!len || len > 255) return AX_EINVAL;
    k->mv_data = (void *)key;
    k->mv_size = len;
    return 0;
}

int stor_meta_put(stor_txn *t, const char *key, uint64_t v) {
    int rc = stor__live(t);
    if (rc) return rc;
    if (t->kind != STOR_TXN_WRITE) return AX_EINVAL;
    MDB_val k, d;
    if ((rc = meta_key(key, &k))) return rc;
    uint8_t b[8];
    ax_put_u64le(b, v);
    d.mv_data = b;
    d.mv_size = 8;
    int mrc = mdb_put(t->txn, t->s->meta, &k, &d, 0);
    return mrc ? stor__fail(t, mrc) : 0;
}

int stor_meta_get(stor_txn *t, const char *key, uint64_t *out) {
    int rc = stor__live(t);
    if (rc) return rc;
    MDB_val k, d;
    if ((rc = meta_key(key, &k))) return rc;
    int mrc = mdb_get(t->txn, t->s->meta, &k, &d);
    if (mrc) return stor__err(mrc);
    if (d.mv_size != 8) {
        fprintf(stderr, "auspex: storage: meta \"%s\": %zu bytes, want 8\n", key, d.mv_size);
        return AX_ECORRUPT;
    }
    *out = ax_get_u64le(d.mv_data);
    return 0;
}

/* ---- stats ---- */

/* Pages on LMDB's free list (reusable), read from the free DB (dbi 0): each value is an
 * IDL whose first word is its count. */
static int free_pages(MDB_txn *txn, uint64_t *out) {
    MDB_cursor *c;
    int mrc = mdb_cursor_open(txn, 0, &c);
    if (mrc) return stor__err(mrc);
    MDB_val k, d;
    uint64_t n = 0;
    for (mrc = mdb_cursor_get(c, &k, &d, MDB_FIRST); !mrc;
         mrc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        size_t cnt;
        if (d.mv_size < sizeof cnt) continue;
        memcpy(&cnt, d.mv_data, sizeof cnt);
        n += cnt;
    }
    mdb_cursor_close(c);
    if (mrc != MDB_NOTFOUND) return stor__err(mrc);
    *out = n;
    return 0;
}

/* Where is data.mdb mapped? LMDB does not say (mdb_env_info's me_mapaddr is only set with
 * MDB_FIXEDMAP), so find the mapping of the file's device and inode in /proc/self/maps. */
static bool find_map(stor_env *s, uintptr_t *lo, uintptr_t *hi) {
    int fd = -1;
    struct stat st;
    if (mdb_env_get_fd(s->env, &fd) || fstat(fd, &st)) return false;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long long a, b, off, ino;
        unsigned maj, min;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &a, &b, perms, &off, &maj, &min,
                   &ino) != 7)
            continue;
        if (ino == (unsigned long long)st.st_ino && makedev(maj, min) == st.st_dev) {
            *lo = (uintptr_t)a;
            *hi = (uintptr_t)b;
            found = true;
        }
    }
    fclose(f);
    return found;
}

void stor_env_drop_cache(stor_env *s) {
    if (!s) return;
    pthread_rwlock_rdlock(&s->lock); /* no map resize meanwhile */
    uintptr_t lo, hi;
    if (find_map(s, &lo, &hi))
        /* a shared file mapping: the pages stay in the page cache and fault back in */
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
    pthread_rwlock_unlock(&s->lock);
}

/* fsync a file or folder by path. Returns 0 or errno. */
static int sync_path(const char *path, bool dir) {
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = fsync(fd) ? errno : 0;
    close(fd);
    return rc;
}

int stor_env_copy(stor_env *s, const char *dir, ax_err *e) {
    if (!s || !dir || !*dir) return ax_err_set(e, AX_EINVAL, "storage copy: no path");
    int rc = make_dirs(dir, e);
    if (rc) return rc;
    /* the copy's read txn counts as a txn of this process: no map resize meanwhile */
    pthread_rwlock_rdlock(&s->lock);
    int mrc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&s->lock);
    if (mrc)
        return ax_err_set(e, stor__err(mrc), "storage copy to %s: %s", dir, mdb_strerror(mrc));
    char file[4096];
    if ((size_t)snprintf(file, sizeof file, "%s/data.mdb", dir) >= sizeof file)
        return ax_err_set(e, AX_EINVAL, "storage copy: path too long");
    int erc = sync_path(file, false);
    if (!erc) erc = sync_path(dir, true);
    if (erc)
        return ax_err_set(e, erc == ENOSPC || erc == EDQUOT ? AX_EFULL : AX_EIO,
                          "storage copy: fsync %s: %s", file, strerror(erc));
    return 0;
}

int stor_env_stats(stor_env *s, stor_stats *out) {
    if (!s || !out) return AX_EINVAL;
    stor_stats st = {0};
    size_t plen = strlen(s->path);
    char *f = malloc(plen + sizeof "/data.mdb");
    if (!f) return AX_ENOMEM;
    memcpy(f, s->path, plen);
    memcpy(f + plen, "/data.mdb", sizeof "/data.mdb");
    struct stat fs;
    int rc = stat(f, &fs) ? AX_EIO : 0;
    free(f);
    if (rc) return rc;
    st.file_bytes = (uint64_t)fs.st_blocks * 512;

    stor_txn *t = NULL;
    if ((rc = stor_txn_begin(s, STOR_TXN_READ, &t))) return rc;
    MDB_envinfo info;
    MDB_stat ms;
    uint64_t nfree = 0;
    int mrc = mdb_env_info(s->env, &info);
    if (!mrc) mrc = mdb_env_stat(s->env, &ms);
    if (!mrc) {
        st.map_bytes = info.me_mapsize;
        rc = free_pages(t->txn, &nfree);
        uint64_t pages = (uint64_t)info.me_last_pgno + 1;
        st.used_bytes = (pages > nfree ? pages - nfree : 0) * ms.ms_psize;
    }
    if (!mrc && !rc) mrc = mdb_stat(t->txn, s->series, &ms);
    if (!mrc && !rc) st.series = ms.ms_entries;
    if (!mrc && !rc) mrc = mdb_stat(t->txn, s->chunks, &ms);
    if (!mrc && !rc) st.chunks = ms.ms_entries;
    if (!mrc && !rc) mrc = mdb_stat(t->txn, s->rollups, &ms);
    if (!mrc && !rc) st.rollup_blocks = ms.ms_entries;
    if (mrc) rc = stor__err(mrc);
    stor_txn_abort(t);
    if (!rc) *out = st;
    return rc;
}
