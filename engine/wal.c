/* engine/wal.c: the write-ahead log that makes an acknowledged write durable.
 *
 * Segments are files <path>/wal/<16-digit number>.wal, appended to by the writer thread
 * only. A group commit is one write() of all waiting batches' records and one
 * fdatasync(); only then are the batches acknowledged. A flush rotates to a new segment
 * and, once LMDB holds everything in the older ones (meta "wal_flushed"), deletes them.
 *
 * Record: u32le len | u32le crc32c(payload) | payload (entries, see engine_int.h).
 * Recovery reads segments newer than wal_flushed in order; a record whose length runs
 * past the end of file or whose CRC does not match is a torn tail: it and anything after
 * it in that segment were never acknowledged, so the segment is cut there.
 */
#include "engine/engine_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- CRC-32C (Castagnoli): SSE4.2 instruction when present, else a table ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const uint8_t *p,
                                                              size_t len) {
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t eng__crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_hw) return ~crc_sse42(crc, p, len);
#endif
    while (len >= 8) {
        uint32_t lo = ax_get_u32le(p) ^ crc, hi = ax_get_u32le(p + 4);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ---- segments ---- */

static void seg_path(char *out, size_t cap, const char *dir, uint64_t seg) {
    snprintf(out, cap, "%s/%016" PRIu64 ".wal", dir, seg);
}

static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return AX_EIO;
    int rc = fsync(fd) ? AX_EIO : 0;
    close(fd);
    return rc;
}

/* Disk full: one log line when appends start failing for lack of space and one when they
 * succeed again, not one per refused request. Per process (a server has one WAL; the flag
 * lives here, not in eng_wal, only to keep engine_int.h out of this change). */
static atomic_bool wal_full;

static void note_full(const eng_wal *w, int err) {
    if (!atomic_exchange(&wal_full, true))
        fprintf(stderr, "auspex: disk full: cannot append to the write-ahead log in %s (%s); "
                        "writes are refused until space is freed\n", w->dir, strerror(err));
}

static int open_segment(eng_wal *w, uint64_t seg) {
    char p[4096];
    seg_path(p, sizeof p, w->dir, seg);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 && (errno == ENOSPC || errno == EDQUOT)) {
        note_full(w, errno);
        return AX_EFULL;
    }
    if (fd < 0) return AX_EIO;
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return AX_EIO;
    }
    if (!w->nosync && sync_dir(w->dir)) {
        close(fd);
        return AX_EIO;
    }
    w->fd = fd;
    w->seg = seg;
    w->seg_bytes = (uint64_t)st.st_size;
    return 0;
}

int eng__wal_open(eng_wal *w, const char *path, bool nosync, uint64_t first_seg, ax_err *e) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->nosync = nosync;
    size_t n = strlen(path) + 5;
    w->dir = malloc(n);
    if (!w->dir) return AX_ENOMEM;
    snprintf(w->dir, n, "%s/wal", path);
    if (mkdir(w->dir, 0755) && errno != EEXIST)
        return ax_err_set(e, AX_EIO, "cannot create %s: %s", w->dir, strerror(errno));
    uint64_t *segs = NULL;
    size_t ns = 0;
    int rc = eng__wal_list(w->dir, &segs, &ns);
    if (rc) return ax_err_set(e, rc, "cannot list %s", w->dir);
    uint64_t total = 0;
    for (size_t i = 0; i < ns; i++) {
        char p[4096];
        struct stat st;
        seg_path(p, sizeof p, w->dir, segs[i]);
        if (stat(p, &st) == 0) total += (uint64_t)st.st_size;
        if (segs[i] >= first_seg) first_seg = segs[i] + 1;
    }
    free(segs);
    atomic_store(&w->total_bytes, total);
    rc = open_segment(w, first_seg);
    if (rc) return ax_err_set(e, rc, "cannot open WAL segment in %s: %s", w->dir, strerror(errno));
    return 0;
}

void eng__wal_close(eng_wal *w) {
    if (w->fd >= 0) {
        if (!w->nosync) fdatasync(w->fd);
        close(w->fd);
    }
    w->fd = -1;
    free(w->dir);
    w->dir = NULL;
}

int eng__wal_append_sync(eng_wal *w, const uint8_t *buf, size_t len) {
    if (w->broken) return AX_EIO;
    size_t off = 0;
    int rc = 0, err = 0;
    while (off < len) {
        ssize_t k = write(w->fd, buf + off, len - off);
        if (k < 0) {
            if (errno == EINTR) continue;
            err = errno;
            rc = err == ENOSPC || err == EDQUOT ? AX_EFULL : AX_EIO;
            break;
        }
        off += (size_t)k;
    }
    if (!rc && !w->nosync && fdatasync(w->fd)) {
        err = errno;
        rc = err == ENOSPC || err == EDQUOT ? AX_EFULL : AX_EIO;
    }
    if (rc == AX_EFULL) note_full(w, err);
    if (!rc && atomic_load(&wal_full) && atomic_exchange(&wal_full, false))
        fprintf(stderr, "auspex: disk space available again: the write-ahead log accepts writes\n");
    if (rc) {
        /* cut the partial group away so later records are not stranded behind it */
        if (ftruncate(w->fd, (off_t)w->seg_bytes) || (!w->nosync && fdatasync(w->fd))) {
            fprintf(stderr, "auspex: WAL segment %" PRIu64 " cannot be repaired after a failed "
                            "write; refusing writes until restart\n", w->seg);
            w->broken = true;
        }
        return rc;
    }
    w->seg_bytes += len;
    atomic_fetch_add(&w->total_bytes, len);
    return 0;
}

int eng__wal_rotate(eng_wal *w, uint64_t *old_seg) {
    if (w->broken) return AX_EIO;
    uint64_t old = w->seg;
    int old_fd = w->fd;
    int rc = open_segment(w, old + 1);
    if (rc) return rc; /* keep writing to the old one */
    close(old_fd);
    *old_seg = old;
    return 0;
}

void eng__wal_remove_upto(eng_wal *w, uint64_t upto) {
    uint64_t *segs = NULL;
    size_t ns = 0;
    if (eng__wal_list(w->dir, &segs, &ns)) return;
    for (size_t i = 0; i < ns; i++) {
        if (segs[i] > upto || segs[i] == w->seg) continue;
        char p[4096];
        struct stat st;
        seg_path(p, sizeof p, w->dir, segs[i]);
        if (stat(p, &st) == 0 && unlink(p) == 0) {
            uint64_t sz = (uint64_t)st.st_size, cur = atomic_load(&w->total_bytes);
            atomic_fetch_sub(&w->total_bytes, sz > cur ? cur : sz);
        }
    }
    free(segs);
}

static int u64cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int eng__wal_list(const char *dir, uint64_t **out, size_t *n_out) {
    DIR *d = opendir(dir);
    if (!d) return AX_EIO;
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if (l != 20 || strcmp(nm + 16, ".wal")) continue;
        uint64_t seg = 0;
        bool ok = true;
        for (int i = 0; i < 16; i++) {
            if (nm[i] < '0' || nm[i] > '9') { ok = false; break; }
            seg = seg * 10 + (uint64_t)(nm[i] - '0');
        }
        if (!ok) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) { free(v); closedir(d); return AX_ENOMEM; }
            v = nv;
        }
        v[n++] = seg;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, u64cmp);
    *out = v;
    *n_out = n;
    return 0;
}

int eng__wal_replay_segment(const char *dir, uint64_t seg, eng_wal_entry_cb cb, void *ctx) {
    char p[4096];
    seg_path(p, sizeof p, dir, seg);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0) return AX_EIO;
    struct stat st;
    if (fstat(fd, &st)) { close(fd); return AX_EIO; }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) { close(fd); return AX_ENOMEM; }
    size_t got = 0;
    while (got < size) {
        ssize_t k = pread(fd, data + got, size - got, (off_t)got);
        if (k <= 0) { if (k < 0 && errno == EINTR) continue; break; }
        got += (size_t)k;
    }
    size_t off = 0;
    int rc = 0;
    while (off < got) {
        if (got - off < 8) break;
        uint32_t len = ax_get_u32le(data + off), crc = ax_get_u32le(data + off + 4);
        if (len > ENG_WAL_MAX_RECORD || len > got - off - 8) break;
        if (eng__crc32c(0, data + off + 8, len) != crc) break;
        rc = cb(ctx, data + off + 8, len);
        if (rc) break;
        off += 8 + (size_t)len;
    }
    if (!rc && off < size) {
        fprintf(stderr, "auspex: WAL segment %" PRIu64 ": torn tail at byte %zu of %zu (never "
                        "acknowledged), cut\n", seg, off, size);
        if (ftruncate(fd, (off_t)off) == 0) fdatasync(fd);
    }
    free(data);
    close(fd);
    return rc;
}
