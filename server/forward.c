/* server/forward.c: the durable forwarding queues behind -remoteWrite.url (server/forward.h,
 * docs/forwarding.md).
 *
 * Writers append one record per accepted request to every URL's current segment and share
 * fdatasync calls (group commit: the first waiter syncs for everyone appended so far, the
 * others wait for it). The sender reads records only up to the synced end, merges them
 * into one WriteRequest (concatenated protobuf messages of one type merge their repeated
 * fields, so the records' payloads are simply appended), POSTs it, and on 2xx moves and
 * persists its read position. Finished segments are deleted once the position is past
 * them.
 */
#include "server/forward.h"
#include "server/actions.h"
#include "server/pb.h"
#include "server/remote_write.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define REC_HDR 12                  /* u32 len | u32 crc | u32 samples */
#define REC_MAX (256u << 20)        /* a record longer than this is damage, not data */
#define BATCH_MAX_BYTES (8u << 20)  /* decompressed protobuf per upstream request */

typedef struct fq {
    srv_fwd *f;
    char *url;           /* as given (may hold user:password: never printed) */
    char *shown;         /* the URL without user info, for logs and metric labels */
    char *dir;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* appended / synced / stop */
    /* append side, under mu */
    int wfd;
    uint64_t wseg, woff;
    uint64_t appended_seq, synced_seq;
    uint64_t synced_seg, synced_off; /* the durable end: the sender reads up to here */
    bool syncing;
    /* read side (sender thread; rseg/roff also read under mu by drain) */
    uint64_t rseg, roff;
    bool stop;
    pthread_t thr;
    bool started;
    /* counters */
    atomic_uint_fast64_t sent, dropped_rejected, dropped_full, req_ok, req_retry, req_rejected;
    atomic_uint_fast64_t queued_bytes, last_ok_ms;
} fq;

struct srv_fwd {
    srv_fwd_opts o;
    fq *q;
    size_t n;
};

/* Bytes no longer queued (sent, skipped or dropped). A compare-and-swap loop, saturating at
 * 0: appenders add to the same counter concurrently, so a load-then-store would lose their
 * additions. */
static void queued_sub(fq *q, uint64_t n) {
    uint64_t cur = atomic_load(&q->queued_bytes);
    while (!atomic_compare_exchange_weak(&q->queued_bytes, &cur, cur > n ? cur - n : 0)) {}
}

static char *seg_path(const fq *q, uint64_t seg) {
    size_t n = strlen(q->dir) + 32;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%016" PRIx64 ".seg", q->dir, seg);
    return p;
}

static void fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* ---- position file ---- */

static int position_save(fq *q) {
    size_t n = strlen(q->dir) + 32;
    char *tmp = malloc(n), *dst = malloc(n);
    int rc = tmp && dst ? 0 : AX_ENOMEM;
    if (!rc) {
        snprintf(tmp, n, "%s/position.tmp", q->dir);
        snprintf(dst, n, "%s/position", q->dir);
        char line[64];
        int len = snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64 "\n", q->rseg, q->roff);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
        if (fd < 0 || write(fd, line, (size_t)len) != len || (!q->f->o.nosync && fdatasync(fd)))
            rc = AX_EIO;
        if (fd >= 0) close(fd);
        if (!rc && rename(tmp, dst)) rc = AX_EIO;
        if (!rc && !q->f->o.nosync) fsync_dir(q->dir);
    }
    free(tmp);
    free(dst);
    return rc;
}

static void position_load(fq *q, uint64_t first_seg) {
    q->rseg = first_seg, q->roff = 0;
    size_t n = strlen(q->dir) + 32;
    char *p = malloc(n);
    if (!p) return;
    snprintf(p, n, "%s/position", q->dir);
    FILE *fp = fopen(p, "r");
    free(p);
    if (!fp) return;
    char line[64] = {0};
    if (fgets(line, sizeof line, fp)) {
        char *end = NULL;
        errno = 0;
        uint64_t seg = strtoull(line, &end, 10);
        if (!errno && end != line && *end == ' ') {
            char *end2 = NULL;
            uint64_t off = strtoull(end + 1, &end2, 10);
            if (!errno && end2 != end + 1 && seg >= first_seg) q->rseg = seg, q->roff = off;
        }
    }
    fclose(fp);
}

/* ---- opening: segments, torn tail ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment numbers in q->dir, sorted. OUT: *out (malloc'd), *n_out. */
static int list_segments(fq *q, uint64_t **out, size_t *n_out) {
    DIR *d = opendir(q->dir);
    if (!d) return AX_EIO;
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && !rc) {
        size_t len = strlen(de->d_name);
        if (len != 20 || strcmp(de->d_name + 16, ".seg")) continue;
        char *end = NULL;
        uint64_t seg = strtoull(de->d_name, &end, 16);
        if (end != de->d_name + 16) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *v2 = realloc(v, cap * sizeof *v);
            if (!v2) {
                rc = AX_ENOMEM;
                break;
            }
            v = v2;
        }
        v[n++] = seg;
    }
    closedir(d);
    if (rc) {
        free(v);
        return rc;
    }
    if (n) qsort(v, n, sizeof *v, cmp_u64);
    *out = v, *n_out = n;
    return 0;
}

/* Walk the records of the file from `from`; OUT: *good = the end of the last whole, valid
 * record, *samples = samples in the records walked. */
static void scan_records(int fd, uint64_t from, uint64_t size, uint64_t *good, uint64_t *samples) {
    uint64_t off = from, ns = 0;
    uint8_t hdr[REC_HDR];
    uint8_t *buf = NULL;
    size_t cap = 0;
    while (off + REC_HDR <= size) {
        if (pread(fd, hdr, REC_HDR, (off_t)off) != REC_HDR) break;
        uint32_t len = ax_get_u32le(hdr), crc = ax_get_u32le(hdr + 4);
        if (len > REC_MAX || off + REC_HDR + len > size) break;
        if (len > cap) {
            uint8_t *b2 = realloc(buf, len);
            if (!b2) break;
            buf = b2, cap = len;
        }
        if (pread(fd, buf, len, (off_t)(off + REC_HDR)) != (ssize_t)len) break;
        if ((uint32_t)crc32(0, buf, len) != crc) break;
        ns += ax_get_u32le(hdr + 8);
        off += REC_HDR + len;
    }
    free(buf);
    *good = off;
    *samples = ns;
}

static int open_queue(fq *q, ax_err *e) {
    if (mkdir(q->dir, 0750) && errno != EEXIST)
        return ax_err_set(e, AX_EIO, "forward queue %s: mkdir: %s", q->dir, strerror(errno));
    /* the URL, for people looking at the folder (without user info) */
    size_t pn = strlen(q->dir) + 8;
    char *p = malloc(pn);
    if (!p) return AX_ENOMEM;
    snprintf(p, pn, "%s/url", q->dir);
    FILE *fp = fopen(p, "w");
    if (fp) {
        fprintf(fp, "%s\n", q->shown);
        fclose(fp);
    }
    free(p);

    uint64_t *segs = NULL;
    size_t n = 0;
    int rc = list_segments(q, &segs, &n);
    if (rc) return ax_err_set(e, rc, "forward queue %s: cannot list: %s", q->dir, strerror(errno));
    position_load(q, n ? segs[0] : 1);
    uint64_t total = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char *path = seg_path(q, segs[i]);
        if (!path) {
            rc = AX_ENOMEM;
            break;
        }
        if (segs[i] < q->rseg) { /* sent, not yet deleted when the process stopped */
            unlink(path);
            free(path);
            continue;
        }
        struct stat st;
        if (stat(path, &st) == 0) {
            uint64_t size = (uint64_t)st.st_size;
            if (i == n - 1) { /* the newest: cut a torn record off its end */
                int fd = open(path, O_RDWR);
                uint64_t good = 0, ns = 0;
                if (fd >= 0) {
                    scan_records(fd, 0, size, &good, &ns);
                    if (good < size) {
                        fprintf(stderr, "auspex: forward queue %s: cut %" PRIu64 " bytes of a torn record "
                                        "off segment %016" PRIx64 "\n", q->shown, size - good, segs[i]);
                        if (ftruncate(fd, (off_t)good)) rc = AX_EIO;
                        size = good;
                    }
                    close(fd);
                }
            }
            total += size;
            if (segs[i] == q->rseg) total -= q->roff < size ? q->roff : size;
        }
        free(path);
    }
    uint64_t last = n ? segs[n - 1] : 1;
    free(segs);
    if (rc) return ax_err_set(e, rc, "forward queue %s: %s", q->dir, ax_strerror(rc));
    if (last < q->rseg) last = q->rseg;
    char *path = seg_path(q, last);
    if (!path) return AX_ENOMEM;
    q->wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    struct stat st;
    if (q->wfd < 0 || fstat(q->wfd, &st)) {
        rc = ax_err_set(e, AX_EIO, "forward queue %s: open: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    free(path);
    q->wseg = last, q->woff = (uint64_t)st.st_size;
    if (q->rseg == q->wseg && q->roff > q->woff) q->roff = q->woff; /* position past a cut tail */
    q->synced_seg = q->wseg, q->synced_off = q->woff;
    atomic_store(&q->queued_bytes, total);
    fsync_dir(q->dir);
    return 0;
}

/* ---- appending (any thread) ---- */

/* Start segment wseg+1 (under mu, not while a sync runs). */
static int rotate(fq *q) {
    if (!q->f->o.nosync && fdatasync(q->wfd)) return AX_EIO;
    char *path = seg_path(q, q->wseg + 1);
    if (!path) return AX_ENOMEM;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    free(path);
    if (fd < 0) return AX_EIO;
    if (!q->f->o.nosync) fsync_dir(q->dir);
    close(q->wfd);
    q->wfd = fd;
    q->wseg++, q->woff = 0;
    /* everything before the new segment is synced (the old one just was) */
    q->synced_seg = q->wseg, q->synced_off = 0;
    q->synced_seq = q->appended_seq;
    return 0;
}

static int queue_append(fq *q, const uint8_t *rec, size_t len) {
    pthread_mutex_lock(&q->mu);
    while (q->syncing && q->woff + len > q->f->o.segment_bytes && q->woff > 0) pthread_cond_wait(&q->cond, &q->mu);
    int rc = 0;
    if (q->woff + len > q->f->o.segment_bytes && q->woff > 0) rc = rotate(q);
    size_t done = 0;
    while (!rc && done < len) {
        ssize_t w = write(q->wfd, rec + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "auspex: forward queue %s: write: %s\n", q->shown, strerror(errno));
            if (ftruncate(q->wfd, (off_t)q->woff)) q->woff += done; /* cannot undo: the tail is cut at the next open */
            rc = AX_EIO;
        } else
            done += (size_t)w;
    }
    if (rc) {
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    q->woff += len;
    atomic_fetch_add(&q->queued_bytes, len);
    uint64_t mine = ++q->appended_seq;
    /* group commit: the first one here syncs for everything appended so far */
    while (q->synced_seq < mine && !rc) {
        if (q->syncing) {
            pthread_cond_wait(&q->cond, &q->mu);
            continue;
        }
        q->syncing = true;
        uint64_t seq = q->appended_seq, seg = q->wseg, off = q->woff;
        int fd = q->wfd;
        pthread_mutex_unlock(&q->mu);
        int src = q->f->o.nosync ? 0 : fdatasync(fd);
        pthread_mutex_lock(&q->mu);
        q->syncing = false;
        if (src) {
            fprintf(stderr, "auspex: forward queue %s: fdatasync: %s\n", q->shown, strerror(errno));
            rc = AX_EIO;
        } else if (seq > q->synced_seq) {
            q->synced_seq = seq, q->synced_seg = seg, q->synced_off = off;
        }
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int srv_fwd_append(srv_fwd *f, const eng_ts *ts, size_t n) {
    if (!f || !n) return 0;
    uint64_t samples = 0;
    for (size_t i = 0; i < n; i++) samples += ts[i].n_samples;
    if (!samples) return 0;
    ax_buf pb, rec;
    ax_buf_init(&pb, REC_MAX);
    ax_buf_init(&rec, REC_MAX);
    int rc = srv_rw_encode_raw(&pb, ts, n);
    if (!rc) rc = ax_buf_reserve(&rec, REC_HDR);
    if (!rc) {
        rec.len = REC_HDR;
        rc = srv__snappy_encode(&rec, pb.data, pb.len);
    }
    if (!rc) {
        size_t plen = rec.len - REC_HDR;
        ax_put_u32le(rec.data, (uint32_t)plen);
        ax_put_u32le(rec.data + 4, (uint32_t)crc32(0, rec.data + REC_HDR, (uInt)plen));
        ax_put_u32le(rec.data + 8, samples > UINT32_MAX ? UINT32_MAX : (uint32_t)samples);
        for (size_t i = 0; i < f->n && !rc; i++) {
            rc = queue_append(&f->q[i], rec.data, rec.len);
            pthread_cond_broadcast(&f->q[i].cond);
        }
    }
    ax_buf_free(&pb);
    ax_buf_free(&rec);
    return rc == AX_ETOOBIG ? AX_EIO : rc;
}

/* ---- sending (one thread per URL) ---- */

typedef struct batch {
    ax_buf pb;          /* merged WriteRequest */
    ax_buf body;        /* its snappy form */
    uint64_t end_off;   /* read position after the batch's records */
    uint64_t samples;
    bool seg_done;      /* the batch reaches the end of a closed segment */
} batch;

/* Wait (under mu) up to ms for stop; returns true when stopping. */
static bool wait_stop(fq *q, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_mutex_lock(&q->mu);
    if (!q->stop) pthread_cond_timedwait(&q->cond, &q->mu, &ts);
    bool stop = q->stop;
    pthread_mutex_unlock(&q->mu);
    return stop;
}

/* Move the read position to the next segment, deleting the finished one. */
static void next_segment(fq *q) {
    char *path = seg_path(q, q->rseg);
    pthread_mutex_lock(&q->mu);
    q->rseg++, q->roff = 0;
    pthread_mutex_unlock(&q->mu);
    if (position_save(q)) fprintf(stderr, "auspex: forward queue %s: cannot save the read position\n", q->shown);
    if (path) unlink(path);
    free(path);
}

/* Over the disk cap: drop whole segments from the oldest, counting their samples. */
static void enforce_cap(fq *q) {
    uint64_t cap = q->f->o.max_disk_bytes;
    while (atomic_load(&q->queued_bytes) > cap) {
        pthread_mutex_lock(&q->mu);
        bool closed = q->rseg < q->wseg;
        pthread_mutex_unlock(&q->mu);
        if (!closed) break; /* never drop the segment being written */
        char *path = seg_path(q, q->rseg);
        int fd = path ? open(path, O_RDONLY) : -1;
        free(path);
        struct stat st;
        uint64_t good = 0, ns = 0, size = 0;
        if (fd >= 0 && !fstat(fd, &st)) {
            size = (uint64_t)st.st_size;
            scan_records(fd, q->roff, size, &good, &ns);
        }
        if (fd >= 0) close(fd);
        uint64_t left = size > q->roff ? size - q->roff : 0;
        queued_sub(q, left);
        atomic_fetch_add(&q->dropped_full, ns);
        fprintf(stderr, "auspex: forward queue %s: over -remoteWrite.maxDiskUsagePerURL, dropped %" PRIu64
                        " samples (segment %016" PRIx64 ")\n", q->shown, ns, q->rseg);
        next_segment(q);
    }
}

/* Read records from the read position up to the synced end into b. Returns 0 with
 * b->samples possibly 0 (nothing new), or AX_EIO / AX_ENOMEM. */
static int batch_read(fq *q, batch *b) {
    pthread_mutex_lock(&q->mu);
    uint64_t seg = q->rseg, off = q->roff, end_seg = q->synced_seg, end_off = q->synced_off;
    pthread_mutex_unlock(&q->mu);
    ax_buf_reset(&b->pb);
    b->samples = 0, b->end_off = off, b->seg_done = false;
    char *path = seg_path(q, seg);
    if (!path) return AX_ENOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0) return AX_EIO;
    struct stat st;
    uint64_t limit;
    if (fstat(fd, &st)) {
        close(fd);
        return AX_EIO;
    }
    limit = seg < end_seg ? (uint64_t)st.st_size : end_off;
    uint8_t hdr[REC_HDR];
    uint8_t *cbuf = NULL;
    size_t ccap = 0;
    int rc = 0;
    while (off + REC_HDR <= limit && b->samples < q->f->o.max_batch_samples && b->pb.len < BATCH_MAX_BYTES) {
        if (pread(fd, hdr, REC_HDR, (off_t)off) != REC_HDR) break;
        uint32_t len = ax_get_u32le(hdr), crc = ax_get_u32le(hdr + 4), ns = ax_get_u32le(hdr + 8);
        if (len > REC_MAX || off + REC_HDR + len > limit) break;
        if (len > ccap) {
            uint8_t *c2 = realloc(cbuf, len);
            if (!c2) {
                rc = AX_ENOMEM;
                break;
            }
            cbuf = c2, ccap = len;
        }
        if (pread(fd, cbuf, len, (off_t)(off + REC_HDR)) != (ssize_t)len) break;
        size_t dlen = 0;
        if ((uint32_t)crc32(0, cbuf, len) != crc ||
            snappy_uncompressed_length((const char *)cbuf, len, &dlen) != SNAPPY_OK) {
            fprintf(stderr, "auspex: forward queue %s: damaged record at %016" PRIx64 ":%" PRIu64
                            "; the rest of the segment is skipped\n", q->shown, seg, off);
            off = limit; /* nothing after damage can be trusted */
            break;
        }
        if ((rc = ax_buf_reserve(&b->pb, dlen))) break;
        size_t got = dlen;
        if (snappy_uncompress((const char *)cbuf, len, (char *)b->pb.data + b->pb.len, &got) != SNAPPY_OK ||
            got != dlen) {
            off = limit;
            break;
        }
        b->pb.len += dlen;
        b->samples += ns;
        off += REC_HDR + len;
    }
    free(cbuf);
    close(fd);
    b->end_off = off;
    b->seg_done = seg < end_seg && off >= (uint64_t)st.st_size;
    return rc;
}

static void *sender(void *arg) {
    fq *q = arg;
    batch b;
    ax_buf_init(&b.pb, BATCH_MAX_BYTES + REC_MAX);
    ax_buf_init(&b.body, 2 * (BATCH_MAX_BYTES + REC_MAX));
    static const char *const headers[] = {"Content-Type: application/x-protobuf",
                                          "Content-Encoding: snappy",
                                          "X-Prometheus-Remote-Write-Version: 0.1.0",
                                          ("User-Agent: auspex/" AUSPEX_VERSION)};
    int64_t backoff = 0;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        bool stop = q->stop;
        bool idle = q->rseg == q->synced_seg && q->roff >= q->synced_off;
        if (idle && !stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&q->cond, &q->mu, &ts);
            stop = q->stop;
        }
        pthread_mutex_unlock(&q->mu);
        if (stop) break;
        enforce_cap(q);
        int rc = batch_read(q, &b);
        if (rc) {
            fprintf(stderr, "auspex: forward queue %s: read: %s\n", q->shown, ax_strerror(rc));
            if (wait_stop(q, 1000)) break;
            continue;
        }
        if (!b.pb.len) {
            if (b.seg_done || b.end_off != q->roff) { /* empty tail of a closed segment, or skipped damage */
                uint64_t skipped = b.end_off - q->roff;
                queued_sub(q, skipped);
                pthread_mutex_lock(&q->mu);
                q->roff = b.end_off;
                pthread_mutex_unlock(&q->mu);
                if (b.seg_done) next_segment(q);
                else position_save(q);
            }
            continue;
        }
        ax_buf_reset(&b.body);
        if (srv__snappy_encode(&b.body, b.pb.data, b.pb.len)) {
            if (wait_stop(q, 1000)) break;
            continue;
        }
        srv_post_result res;
        rc = srv_webhook_post(q->url, (const char *)b.body.data, b.body.len, headers,
                              sizeof headers / sizeof headers[0], q->f->o.timeout_ms, &res);
        bool ok = !rc && res.status >= 200 && res.status < 300;
        bool retry = rc || (!ok && srv_post_retryable(&res));
        if (!ok && retry) {
            atomic_fetch_add(&q->req_retry, 1);
            backoff = backoff ? backoff * 2 : q->f->o.retry_min_ms;
            if (backoff > 60000) backoff = 60000;
            fprintf(stderr, "auspex: forward to %s failed (%s); retrying in %" PRId64 " ms\n", q->shown,
                    rc ? ax_strerror(rc) : res.error, backoff);
            if (wait_stop(q, backoff)) break;
            continue;
        }
        backoff = 0;
        if (ok) {
            atomic_fetch_add(&q->req_ok, 1);
            atomic_fetch_add(&q->sent, b.samples);
            atomic_store(&q->last_ok_ms, (uint64_t)ax_now_ms());
        } else {
            atomic_fetch_add(&q->req_rejected, 1);
            atomic_fetch_add(&q->dropped_rejected, b.samples);
            fprintf(stderr, "auspex: forward to %s: the upstream refused %" PRIu64 " samples (%s: %.200s); "
                            "dropped\n", q->shown, b.samples, res.error, res.body);
        }
        uint64_t used = b.end_off - q->roff;
        queued_sub(q, used);
        pthread_mutex_lock(&q->mu);
        q->roff = b.end_off;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->mu);
        if (b.seg_done) next_segment(q);
        else if (position_save(q))
            fprintf(stderr, "auspex: forward queue %s: cannot save the read position\n", q->shown);
    }
    ax_buf_free(&b.pb);
    ax_buf_free(&b.body);
    return NULL;
}

/* ---- open / close ---- */

/* "https://user:pw@host/x" -> "https://host/x" */
static char *strip_userinfo(const char *url) {
    const char *s = strstr(url, "://");
    const char *host = s ? s + 3 : url;
    const char *slash = strchr(host, '/');
    const char *at = strchr(host, '@');
    char *out = malloc(strlen(url) + 1);
    if (!out) return NULL;
    if (at && (!slash || at < slash)) {
        size_t pre = (size_t)(host - url);
        memcpy(out, url, pre);
        strcpy(out + pre, at + 1);
    } else
        strcpy(out, url);
    return out;
}

int srv_fwd_open(const srv_fwd_opts *o, srv_fwd **out, ax_err *e) {
    for (size_t i = 0; i < o->n_urls; i++)
        if (strncmp(o->urls[i], "http://", 7) && strncmp(o->urls[i], "https://", 8))
            return ax_err_set(e, AX_EINVAL, "-remoteWrite.url: \"%s\" is not an http:// or https:// URL",
                              o->urls[i]);
    srv_fwd *f = calloc(1, sizeof *f);
    if (!f) return AX_ENOMEM;
    f->o = *o;
    if (!f->o.max_disk_bytes) f->o.max_disk_bytes = 1ull << 30;
    if (!f->o.max_batch_samples) f->o.max_batch_samples = 10000;
    if (!f->o.segment_bytes) f->o.segment_bytes = 64u << 20;
    if (!f->o.retry_min_ms) f->o.retry_min_ms = 1000;
    if (!f->o.timeout_ms) f->o.timeout_ms = 30000;
    f->q = calloc(o->n_urls ? o->n_urls : 1, sizeof *f->q);
    if (!f->q) {
        free(f);
        return AX_ENOMEM;
    }
    int rc = 0;
    if (mkdir(o->dir, 0750) && errno != EEXIST)
        rc = ax_err_set(e, AX_EIO, "mkdir %s: %s", o->dir, strerror(errno));
    for (size_t i = 0; i < o->n_urls && !rc; i++) {
        fq *q = &f->q[i];
        q->f = f;
        q->wfd = -1;
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->cond, NULL);
        f->n = i + 1;
        uint8_t h[32];
        char hex[65];
        ax_sha256(o->urls[i], strlen(o->urls[i]), h);
        ax_hex(h, 8, hex);
        size_t dn = strlen(o->dir) + 20;
        q->url = strdup(o->urls[i]);
        q->shown = strip_userinfo(o->urls[i]);
        q->dir = malloc(dn);
        if (!q->url || !q->shown || !q->dir) {
            rc = AX_ENOMEM;
            break;
        }
        snprintf(q->dir, dn, "%s/%s", o->dir, hex);
        rc = open_queue(q, e);
    }
    for (size_t i = 0; i < f->n && !rc; i++) {
        if (pthread_create(&f->q[i].thr, NULL, sender, &f->q[i])) rc = ax_err_set(e, AX_EIO, "forward: thread");
        else f->q[i].started = true;
    }
    if (rc) {
        srv_fwd_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void srv_fwd_close(srv_fwd *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        fq *q = &f->q[i];
        pthread_mutex_lock(&q->mu);
        q->stop = true;
        pthread_cond_broadcast(&q->cond);
        pthread_mutex_unlock(&q->mu);
    }
    for (size_t i = 0; i < f->n; i++) {
        fq *q = &f->q[i];
        if (q->started) pthread_join(q->thr, NULL);
        if (q->wfd >= 0) {
            if (!f->o.nosync) (void)fdatasync(q->wfd);
            close(q->wfd);
        }
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cond);
        free(q->url);
        free(q->shown);
        free(q->dir);
    }
    free(f->q);
    free(f);
}

int srv_fwd_drain(srv_fwd *f, int64_t timeout_ms) {
    int64_t deadline = ax_now_ms() + timeout_ms;
    for (size_t i = 0; f && i < f->n; i++) {
        fq *q = &f->q[i];
        for (;;) {
            pthread_mutex_lock(&q->mu);
            bool empty = q->rseg == q->wseg && q->roff >= q->woff;
            pthread_mutex_unlock(&q->mu);
            if (empty) break;
            if (ax_now_ms() >= deadline) return AX_EAGAIN;
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}

int srv_fwd_stats_get(srv_fwd *f, size_t i, srv_fwd_stats *out) {
    if (!f || i >= f->n) return AX_ENOTFOUND;
    fq *q = &f->q[i];
    out->samples_sent = atomic_load(&q->sent);
    out->samples_dropped = atomic_load(&q->dropped_rejected) + atomic_load(&q->dropped_full);
    out->requests = atomic_load(&q->req_ok) + atomic_load(&q->req_rejected);
    out->failures = atomic_load(&q->req_retry);
    out->queued_bytes = atomic_load(&q->queued_bytes);
    return 0;
}

/* The per-URL series of /metrics: metric, type, help, the result label ("" for none), the
 * counter. Rows of one metric are adjacent; the first carries its # HELP and # TYPE. */
#define SAMPLES_HELP "Samples forwarded to -remoteWrite.url upstreams, by outcome."
#define REQUESTS_HELP "Requests to -remoteWrite.url upstreams, by outcome."
static const struct {
    const char *name, *type, *help, *result;
    size_t off;
} fwd_series[] = {
    {"auspex_forward_samples_total", "counter", SAMPLES_HELP, "sent", offsetof(fq, sent)},
    {"auspex_forward_samples_total", "counter", SAMPLES_HELP, "refused", offsetof(fq, dropped_rejected)},
    {"auspex_forward_samples_total", "counter", SAMPLES_HELP, "dropped_disk_full", offsetof(fq, dropped_full)},
    {"auspex_forward_requests_total", "counter", REQUESTS_HELP, "ok", offsetof(fq, req_ok)},
    {"auspex_forward_requests_total", "counter", REQUESTS_HELP, "retried", offsetof(fq, req_retry)},
    {"auspex_forward_requests_total", "counter", REQUESTS_HELP, "refused", offsetof(fq, req_rejected)},
    {"auspex_forward_queue_bytes", "gauge", "Bytes queued on disk, not yet sent.", "",
     offsetof(fq, queued_bytes)},
    {"auspex_forward_last_success_timestamp_seconds", "gauge", "When the upstream last accepted a request.",
     "", offsetof(fq, last_ok_ms)},
};

int srv_fwd_metrics(srv_fwd *f, ax_buf *b) {
    if (!f || !f->n) return 0;
    int rc = 0;
    for (size_t k = 0; k < sizeof fwd_series / sizeof fwd_series[0] && !rc; k++) {
        const char *name = fwd_series[k].name;
        if (!k || strcmp(name, fwd_series[k - 1].name))
            rc = ax_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, fwd_series[k].help, name,
                               fwd_series[k].type);
        for (size_t i = 0; i < f->n && !rc; i++) {
            fq *q = &f->q[i];
            uint64_t v = atomic_load((atomic_uint_fast64_t *)((char *)q + fwd_series[k].off));
            if (*fwd_series[k].result)
                rc = ax_buf_printf(b, "%s{url=\"%s\",result=\"%s\"} %llu\n", name, q->shown,
                                   fwd_series[k].result, (unsigned long long)v);
            else if (fwd_series[k].off == offsetof(fq, last_ok_ms)) /* ms, shown in seconds */
                rc = ax_buf_printf(b, "%s{url=\"%s\"} %.3f\n", name, q->shown, (double)v / 1000.0);
            else
                rc = ax_buf_printf(b, "%s{url=\"%s\"} %llu\n", name, q->shown, (unsigned long long)v);
        }
    }
    return rc;
}
