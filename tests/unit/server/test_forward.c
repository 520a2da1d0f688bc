/* tests/unit/server/test_forward.c: the -remoteWrite.url queues (server/forward.c) against a
 * receiver thread of this test on 127.0.0.1 that answers a scripted list of statuses
 * (then 200) and keeps the bodies of the requests it accepted. Every body is decoded with
 * srv_rw_decode and each (series, timestamp) counted, so "exactly once" is checked, not
 * just sample totals: merged batches, retries, refusals, a restart with unsent records, a
 * torn record at the end of a segment, and the disk cap.
 * Static helpers are prefixed fw_ (this file shares unit_server). */
#include "server/forward.h"
#include "server/remote_write.h"
#include "test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FW_MAX_KEYS 4096

typedef struct fw_rx {
    int lfd, port;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu;
    int script[16]; /* statuses to answer first, then 200 (or `always` when set) */
    int n_script, next;
    int always;
    int requests;
    /* (series id, ts) accepted, counted */
    int64_t keys[FW_MAX_KEYS];
    int counts[FW_MAX_KEYS];
    int n_keys;
} fw_rx;

static void fw_count(fw_rx *r, const uint8_t *body, size_t len) {
    ax_arena a;
    ax_arena_init(&a, 8u << 20);
    eng_ts *ts = NULL;
    size_t n = 0, ns = 0;
    ax_err e = {0};
    if (srv_rw_decode(body, len, 8u << 20, &a, &ts, &n, &ns, &e) == 0) {
        for (size_t i = 0; i < n; i++) {
            /* the test's series are named s<k>: key = k * 1e9 + ts */
            int64_t k = 0;
            for (size_t l = 0; l < ts[i].n_labels; l++)
                if (ts[i].labels[l].name_len == 8 && !memcmp(ts[i].labels[l].name, "__name__", 8))
                    k = strtoll(ts[i].labels[l].value + 1, NULL, 10);
            for (size_t s = 0; s < ts[i].n_samples; s++) {
                int64_t key = k * 1000000000 + ts[i].samples[s].ts;
                int j = 0;
                while (j < r->n_keys && r->keys[j] != key) j++;
                if (j == r->n_keys && r->n_keys < FW_MAX_KEYS) r->keys[r->n_keys++] = key;
                if (j < FW_MAX_KEYS) r->counts[j]++;
            }
        }
    }
    ax_arena_clear(&a);
}

static void fw_serve(fw_rx *r, int fd) {
    static char buf[1 << 20];
    size_t got = 0, head = 0, clen = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n <= 0) return;
        got += (size_t)n;
        if (!head) {
            char *e = memmem(buf, got, "\r\n\r\n", 4);
            if (!e) continue;
            head = (size_t)(e - buf) + 4;
            char *cl = memmem(buf, head, "Content-Length:", 15);
            if (!cl) cl = memmem(buf, head, "content-length:", 15);
            clen = cl ? strtoul(cl + 15, NULL, 10) : 0;
        }
        if (got >= head + clen) break;
    }
    pthread_mutex_lock(&r->mu);
    int st = r->always ? r->always : r->next < r->n_script ? r->script[r->next++] : 200;
    r->requests++;
    if (st >= 200 && st < 300) fw_count(r, (uint8_t *)buf + head, clen);
    pthread_mutex_unlock(&r->mu);
    char reply[128];
    int n = snprintf(reply, sizeof reply, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", st);
    (void)!write(fd, reply, (size_t)n);
}

static void *fw_loop(void *arg) {
    fw_rx *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->lfd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(r->lfd, NULL, NULL);
        if (fd < 0) continue;
        fw_serve(r, fd);
        close(fd);
    }
    return NULL;
}

static void fw_rx_start(fw_rx *r) {
    memset(r, 0, sizeof *r);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    unsetenv("http_proxy"), unsetenv("HTTP_PROXY"), unsetenv("all_proxy"), unsetenv("ALL_PROXY");
    pthread_mutex_init(&r->mu, NULL);
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(r->lfd, (struct sockaddr *)&sa, sizeof sa);
    listen(r->lfd, 16);
    socklen_t sl = sizeof sa;
    getsockname(r->lfd, (struct sockaddr *)&sa, &sl);
    r->port = ntohs(sa.sin_port);
    pthread_create(&r->th, NULL, fw_loop, r);
}

static void fw_rx_stop(fw_rx *r) {
    atomic_store(&r->stop, 1);
    pthread_join(r->th, NULL);
    close(r->lfd);
    pthread_mutex_destroy(&r->mu);
}

/* n series s<first>..s<first+n-1>, each with samples at ts0, ts0+1000, ... (m of them) */
static int fw_append(srv_fwd *f, int first, int n, int m, int64_t ts0) {
    ax_label lab[16][2];
    char names[16][16];
    eng_sample smp[16][64];
    eng_ts ts[16];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "s%d", first + i);
        lab[i][0] = (ax_label){.name = "__name__", .name_len = 8, .value = names[i],
                               .value_len = (uint32_t)strlen(names[i])};
        lab[i][1] = (ax_label){.name = "job", .name_len = 3, .value = "t", .value_len = 1};
        for (int k = 0; k < m; k++) smp[i][k] = (eng_sample){ts0 + 1000 * k, (double)(i * 100 + k)};
        ts[i] = (eng_ts){lab[i], 2, smp[i], (size_t)m};
    }
    return srv_fwd_append(f, ts, (size_t)n);
}

static int fw_open(const char *dir, const fw_rx *r, uint64_t seg_bytes, uint64_t max_disk, srv_fwd **out) {
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/write", r->port);
    static const char *urls[1];
    urls[0] = url;
    srv_fwd_opts o = {.dir = dir, .urls = urls, .n_urls = 1, .retry_min_ms = 20, .timeout_ms = 5000,
                      .segment_bytes = seg_bytes, .max_disk_bytes = max_disk, .nosync = true};
    ax_err e = {0};
    return srv_fwd_open(&o, out, &e);
}

/* every key the receiver accepted, exactly once; OUT: number of keys */
static int fw_once(fw_rx *r, int *keys) {
    pthread_mutex_lock(&r->mu);
    int bad = 0;
    for (int j = 0; j < r->n_keys; j++)
        if (r->counts[j] != 1) bad++;
    *keys = r->n_keys;
    pthread_mutex_unlock(&r->mu);
    return bad;
}

static char *fw_tmpdir(void) {
    char *d = strdup("/tmp/auspex-fwd-XXXXXX");
    return mkdtemp(d);
}

TEST(test_forward_delivers_batches_exactly_once) {
    fw_rx r;
    fw_rx_start(&r);
    char *dir = fw_tmpdir();
    srv_fwd *f = NULL;
    CHECK_EQ_INT(0, fw_open(dir, &r, 0, 0, &f));
    for (int b = 0; b < 5; b++) CHECK_EQ_INT(0, fw_append(f, 0, 3, 10, 1000000 + b * 100000));
    CHECK_EQ_INT(0, srv_fwd_drain(f, 10000));
    srv_fwd_stats st;
    CHECK_EQ_INT(0, srv_fwd_stats_get(f, 0, &st));
    CHECK_EQ_U64(150, st.samples_sent);
    CHECK_EQ_U64(0, st.queued_bytes);
    srv_fwd_close(f);
    int keys = 0;
    CHECK_EQ_INT(0, fw_once(&r, &keys));
    CHECK_EQ_INT(150, keys);
    CHECK(r.requests >= 1 && r.requests <= 5);
    fw_rx_stop(&r);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_forward_retries_on_5xx_and_refusal_drops) {
    fw_rx r;
    fw_rx_start(&r);
    r.script[0] = 500, r.script[1] = 503, r.script[2] = 429, r.n_script = 3;
    char *dir = fw_tmpdir();
    srv_fwd *f = NULL;
    CHECK_EQ_INT(0, fw_open(dir, &r, 0, 0, &f));
    CHECK_EQ_INT(0, fw_append(f, 0, 2, 5, 5000));
    CHECK_EQ_INT(0, srv_fwd_drain(f, 10000));
    srv_fwd_stats st;
    srv_fwd_stats_get(f, 0, &st);
    CHECK_EQ_U64(10, st.samples_sent);
    CHECK_EQ_U64(3, st.failures);
    int keys = 0;
    CHECK_EQ_INT(0, fw_once(&r, &keys));
    CHECK_EQ_INT(10, keys);
    /* a 400 is the upstream refusing the data: dropped, counted, not retried */
    pthread_mutex_lock(&r.mu);
    r.always = 400;
    int before = r.requests;
    pthread_mutex_unlock(&r.mu);
    CHECK_EQ_INT(0, fw_append(f, 10, 1, 7, 9000));
    CHECK_EQ_INT(0, srv_fwd_drain(f, 10000));
    srv_fwd_stats_get(f, 0, &st);
    CHECK_EQ_U64(7, st.samples_dropped);
    CHECK_EQ_U64(10, st.samples_sent);
    CHECK_EQ_INT(before + 1, r.requests);
    srv_fwd_close(f);
    fw_rx_stop(&r);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_forward_restart_sends_the_rest_once) {
    fw_rx r;
    fw_rx_start(&r);
    r.always = 503; /* upstream down */
    char *dir = fw_tmpdir();
    srv_fwd *f = NULL;
    CHECK_EQ_INT(0, fw_open(dir, &r, 300, 0, &f)); /* small segments: several files */
    for (int b = 0; b < 6; b++) CHECK_EQ_INT(0, fw_append(f, b, 1, 8, 100000));
    CHECK_EQ_INT(AX_EAGAIN, srv_fwd_drain(f, 200));
    srv_fwd_close(f);
    /* a torn record at the end, as a crash mid-append leaves it */
    char path[512];
    snprintf(path, sizeof path, "%s", dir);
    int keys = 0;
    CHECK_EQ_INT(0, fw_once(&r, &keys));
    CHECK_EQ_INT(0, keys);
    pthread_mutex_lock(&r.mu);
    r.always = 0;
    pthread_mutex_unlock(&r.mu);
    CHECK_EQ_INT(0, fw_open(dir, &r, 300, 0, &f));
    CHECK_EQ_INT(0, srv_fwd_drain(f, 10000));
    srv_fwd_close(f);
    CHECK_EQ_INT(0, fw_once(&r, &keys));
    CHECK_EQ_INT(48, keys);
    /* nothing is sent again by a third start */
    int req = r.requests;
    CHECK_EQ_INT(0, fw_open(dir, &r, 300, 0, &f));
    CHECK_EQ_INT(0, srv_fwd_drain(f, 1000));
    usleep(100 * 1000);
    srv_fwd_close(f);
    CHECK_EQ_INT(req, r.requests);
    CHECK_EQ_INT(0, fw_once(&r, &keys));
    fw_rx_stop(&r);
    test_rm_rf(dir);
    free(dir);
}

/* the newest segment of the single queue under dir */
static int fw_newest_segment(const char *dir, char *out, size_t cap) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/*/*.seg | sort | tail -1", dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int ok = fgets(out, (int)cap, p) != NULL;
    pclose(p);
    if (!ok) return -1;
    out[strcspn(out, "\n")] = 0;
    return 0;
}

TEST(test_forward_torn_tail_is_cut) {
    fw_rx r;
    fw_rx_start(&r);
    r.always = 503;
    char *dir = fw_tmpdir();
    srv_fwd *f = NULL;
    CHECK_EQ_INT(0, fw_open(dir, &r, 0, 0, &f));
    CHECK_EQ_INT(0, fw_append(f, 0, 2, 4, 1000));
    srv_fwd_close(f);
    char seg[512];
    CHECK_EQ_INT(0, fw_newest_segment(dir, seg, sizeof seg));
    int fd = open(seg, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    static const uint8_t torn[] = {200, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 'x', 'y'}; /* says 200 bytes, has 2 */
    CHECK_EQ_INT((int)sizeof torn, (int)write(fd, torn, sizeof torn));
    close(fd);
    pthread_mutex_lock(&r.mu);
    r.always = 0;
    pthread_mutex_unlock(&r.mu);
    CHECK_EQ_INT(0, fw_open(dir, &r, 0, 0, &f));
    CHECK_EQ_INT(0, fw_append(f, 5, 1, 3, 1000)); /* appends after the cut still arrive */
    CHECK_EQ_INT(0, srv_fwd_drain(f, 10000));
    srv_fwd_close(f);
    int keys = 0;
    CHECK_EQ_INT(0, fw_once(&r, &keys));
    CHECK_EQ_INT(11, keys);
    fw_rx_stop(&r);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_forward_disk_cap_drops_oldest) {
    fw_rx r;
    fw_rx_start(&r);
    r.always = 503;
    char *dir = fw_tmpdir();
    srv_fwd *f = NULL;
    CHECK_EQ_INT(0, fw_open(dir, &r, 256, 1024, &f));
    for (int b = 0; b < 40; b++) CHECK_EQ_INT(0, fw_append(f, b, 1, 10, 1000));
    /* the sender drops closed segments while over the cap */
    srv_fwd_stats st;
    for (int i = 0; i < 200; i++) {
        srv_fwd_stats_get(f, 0, &st);
        if (st.queued_bytes <= 1024 + 256) break;
        usleep(20 * 1000);
    }
    CHECK(st.queued_bytes <= 1024 + 256);
    pthread_mutex_lock(&r.mu);
    r.always = 0;
    pthread_mutex_unlock(&r.mu);
    CHECK_EQ_INT(0, srv_fwd_drain(f, 10000));
    srv_fwd_stats_get(f, 0, &st);
    CHECK_EQ_U64(400, st.samples_sent + st.samples_dropped);
    CHECK(st.samples_dropped > 0 && st.samples_sent > 0);
    srv_fwd_close(f);
    int keys = 0;
    CHECK_EQ_INT(0, fw_once(&r, &keys));
    CHECK_EQ_U64(st.samples_sent, (uint64_t)keys);
    fw_rx_stop(&r);
    test_rm_rf(dir);
    free(dir);
}

TEST(test_forward_refuses_bad_urls) {
    const char *urls[] = {"ftp://x/y"};
    srv_fwd_opts o = {.dir = "/tmp/auspex-fwd-never", .urls = urls, .n_urls = 1};
    srv_fwd *f = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(AX_EINVAL, srv_fwd_open(&o, &f, &e));
    CHECK(strstr(e.msg, "ftp://x/y") != NULL);
    CHECK(f == NULL);
    CHECK_EQ_INT(0, srv_fwd_append(NULL, NULL, 0));
    srv_fwd_close(NULL);
}
