/* bench/loadgen.c: Prometheus remote-write load generator that emulates node_exporter hosts.
 *
 * H simulated hosts each expose ~500 series with node_exporter's real names and label sets
 * (cpu, memory, disk, filesystem, network, vmstat, netstat, sockstat, timex, the exporter's
 * own go_ and process_ metrics, and Prometheus' up/scrape_* series). Values evolve
 * deterministically from a per-host seeded PRNG: counters grow by plausible per-scrape
 * increments that follow a daily load curve with bursts, gauges drift, many series are
 * constant, and every value has the precision node_exporter gives it (cpu seconds in 1/100 s,
 * byte counters as integers, load with 2 decimals, durations in ns), because compression
 * ratios depend on it. A host's values depend only on -seed, its index and the scrape number,
 * not on threads or batching.
 *
 * Time is simulated: scrapes start at -start (default: day-aligned, about two days ago) and
 * step by -interval with a per-host offset inside the interval and a few ms jitter, as many
 * as fit in -duration. Threads own disjoint host ranges and each walks its hosts forward
 * through simulated time as fast as the server accepts, so every series arrives in order.
 *
 * Wire format, as Prometheus sends it: WriteRequest{ repeated TimeSeries timeseries = 1 },
 * TimeSeries{ repeated Label labels = 1; repeated Sample samples = 2 }, Label{ string name = 1;
 * string value = 2 }, Sample{ double value = 1; int64 timestamp = 2 }, snappy block format,
 * POSTed over keep-alive HTTP/1.1. Each series' Label messages are encoded once at start;
 * a request only appends TimeSeries headers, the cached label bytes and the sample bytes.
 * A request carries one scrape of -hosts-per-request hosts (one sample per TimeSeries), or
 * -samples-per-series=K consecutive scrapes per TimeSeries (vmagent-style batching).
 *
 * Replies: 2xx = accepted; 5xx or a connection error = retry the same body after a backoff
 * (counted); any other status = print the body and exit 1.
 * Output: a human summary and one line `RESULT key=value ...` for scripts (bench/run.py).
 */
/* link: ax_core snappy */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define NCPU 4              /* every simulated host has 4 cpus (uniform series count) */
#define MAX_BODY (256u << 20)
#define MAX_REPLY (1u << 20)

/* ---- options ---- */

typedef struct opts {
    char url[512];
    char host[256], port[16], path[256];
    int hosts;
    int64_t duration_ms, interval_ms, start_ms;
    int concurrency;
    int hosts_per_request;   /* 0: auto */
    int samples_per_series;  /* K scrapes per TimeSeries */
    uint64_t seed;
    int jitter_ms;
    int max_retries;         /* per request */
    bool dry_run, quiet;
    int dump;                /* print this many scrapes of host 0 as text and exit */
} opts;

static opts O;

/* ---- PRNG: splitmix64, one stream per host ---- */

static inline uint64_t rnd(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline double unif(uint64_t *s) { return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0); }
static inline double tri(uint64_t *s) { return unif(s) + unif(s) - 1.0; } /* -1..1, peak at 0 */

/* ---- series model ---- */

enum {
    VK_CONST,  /* a */
    VK_CPU,    /* ticks of 1/100 s; share = a*busy + b, scaled by the cpu's weight c */
    VK_IDLE,   /* the rest of the cpu's 1500 ticks per scrape */
    VK_CTR,    /* counter: a ticks/s at full load, b = load sensitivity 0..1, quantum q */
    VK_RARE,   /* counter: +1 tick with probability a per scrape */
    VK_GAUGE,  /* gauge toward a + b*busy, noise c, rounded to quantum q (units of 1/div) */
    VK_DECAY,  /* gauge (free space): -a units/s * noise, quantum q, cleanup back by b */
    VK_LOAD,   /* load average; flag = 0,1,2 for 1, 5, 15 minutes */
    VK_NOISE,  /* fresh value a*(0.5+u)*(1+b*busy) with probability c, else unchanged */
    VK_TIME,   /* the scrape time in s with ns digits, updated with probability c */
    VK_SAW,    /* go heap: grows a units/s until b, then drops to 40% (GC) */
};

typedef struct spec {
    int kind;
    double a, b, c;
    double q;     /* quantum in ticks (0 = 1) */
    double div;   /* value = ticks / div (0 = 1) */
    double init;  /* initial value in ticks for gauges; counters derive it from uptime */
    int flag;
} spec;

typedef struct series {
    uint32_t lab_off, lab_len;   /* Label messages in host.labels */
    uint32_t txt_off, txt_len;   /* text form (only with -dump) */
    uint8_t kind, flag;
    double acc;                  /* ticks (an exact integer for integer kinds) */
    double a, b, c, q, div, init;
    double v;                    /* value of the current scrape */
} series;

typedef struct host {
    int idx;
    uint64_t rng;
    int64_t offset_ms;       /* scrape phase inside the interval */
    int64_t boot_s;
    double base, amp, tz;    /* daily load shape */
    double busy;             /* this scrape's load, 0..1 */
    int burst_left;
    double load[3];
    double cpu_used;         /* non-idle ticks of the cpu being generated */
    int64_t ts;              /* timestamp of the current scrape, ms */
    int64_t scrape;          /* index of the next scrape to generate */
    ax_buf labels, text;
    series *s;
    size_t n, cap;
} host;

static char g_inst[32];  /* instance label of the host being built */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void put_str_field(ax_buf *b, uint8_t tag, const char *s, size_t len) {
    uint8_t tmp[12];
    tmp[0] = tag;
    size_t n = 1 + ax_uvarint_put(tmp + 1, len);
    if (ax_buf_append(b, tmp, n) || ax_buf_append(b, s, len)) die("out of memory");
}

static size_t uvarint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

typedef struct kv { const char *k, *v; } kv;

static int kv_cmp(const void *x, const void *y) {
    return strcmp(((const kv *)x)->k, ((const kv *)y)->k);
}

/* Add one series to h: name plus NULL-terminated name/value pairs, then job and instance.
 * Labels are sorted by name, as Prometheus sends them. */
static void add(host *h, spec sp, const char *name, ...) {
    kv ls[16];
    size_t n = 0;
    ls[n++] = (kv){"__name__", name};
    va_list ap;
    va_start(ap, name);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k) break;
        const char *v = va_arg(ap, const char *);
        AX_ASSERT(n < 14);
        if (*v) ls[n++] = (kv){k, v};   /* Prometheus drops empty label values */
    }
    va_end(ap);
    ls[n++] = (kv){"instance", g_inst};
    ls[n++] = (kv){"job", "node"};
    qsort(ls, n, sizeof ls[0], kv_cmp);

    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 256;
        h->s = realloc(h->s, h->cap * sizeof *h->s);
        if (!h->s) die("out of memory");
    }
    series *s = &h->s[h->n++];
    memset(s, 0, sizeof *s);
    s->lab_off = (uint32_t)h->labels.len;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(ls[i].k), vl = strlen(ls[i].v);
        size_t inner = 1 + uvarint_len(kl) + kl + 1 + uvarint_len(vl) + vl;
        uint8_t tmp[12];
        tmp[0] = 0x0a;
        size_t hl = 1 + ax_uvarint_put(tmp + 1, inner);
        if (ax_buf_append(&h->labels, tmp, hl)) die("out of memory");
        put_str_field(&h->labels, 0x0a, ls[i].k, kl);
        put_str_field(&h->labels, 0x12, ls[i].v, vl);
    }
    s->lab_len = (uint32_t)(h->labels.len - s->lab_off);
    if (O.dump && h->idx == 0) {
        s->txt_off = (uint32_t)h->text.len;
        ax_buf_append_str(&h->text, name);
        ax_buf_append_str(&h->text, "{");
        int first = 1;
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(ls[i].k, "__name__")) continue;
            ax_buf_printf(&h->text, "%s%s=\"%s\"", first ? "" : ",", ls[i].k, ls[i].v);
            first = 0;
        }
        ax_buf_append_str(&h->text, "}");
        s->txt_len = (uint32_t)(h->text.len - s->txt_off);
    }

    s->kind = (uint8_t)sp.kind;
    s->flag = (uint8_t)sp.flag;
    s->a = sp.a; s->b = sp.b; s->c = sp.c;
    s->q = sp.q > 0 ? sp.q : 1;
    s->div = sp.div > 0 ? sp.div : 1;
    if (sp.kind == VK_CPU || sp.kind == VK_IDLE) s->div = 100;   /* USER_HZ ticks */
    s->init = sp.init;
    uint64_t *r = &h->rng;
    double uptime = (double)(O.start_ms / 1000 - h->boot_s);
    switch (sp.kind) {
    case VK_CPU: s->acc = floor(uptime * 100 * (sp.a * 0.4 + sp.b) * sp.c); break;
    case VK_IDLE: s->acc = floor(uptime * 100 * 0.6); break;
    case VK_CTR: s->acc = floor(uptime * sp.a * (1 - sp.b * 0.4) * (0.6 + 0.4 * unif(r)) / s->q) * s->q; break;
    case VK_RARE: s->acc = floor(uptime / 15 * sp.a * unif(r)); break;
    case VK_GAUGE: s->acc = sp.init > 0 ? sp.init : floor(sp.a / s->q) * s->q; break;
    case VK_DECAY: s->acc = floor(sp.init / s->q) * s->q; break;
    case VK_SAW: s->acc = floor(sp.b * (0.4 + 0.6 * unif(r))); break;
    default: s->acc = sp.init; break;
    }
    if (sp.kind == VK_CONST) s->v = sp.a;
    else if (sp.kind == VK_NOISE) s->v = floor(sp.a * (0.5 + unif(r)) * s->div) / s->div;
    else if (sp.kind == VK_TIME) s->v = (double)(O.start_ms - 15000) / 1000.0;
    else s->v = s->acc / s->div;
}

#define C(val) (spec){.kind = VK_CONST, .a = (val)}
#define CTR(rate, sens, quant) (spec){.kind = VK_CTR, .a = (rate), .b = (sens), .q = (quant)}
#define CTRD(rate, sens, dv) (spec){.kind = VK_CTR, .a = (rate), .b = (sens), .div = (dv)}
#define RARE(p) (spec){.kind = VK_RARE, .a = (p)}
#define G(base, daily, noise, quant) (spec){.kind = VK_GAUGE, .a = (base), .b = (daily), .c = (noise), .q = (quant)}
#define NOISE(mean, sens, pchange) (spec){.kind = VK_NOISE, .a = (mean), .b = (sens), .c = (pchange), .div = 1e9}

static void build_cpu(host *h) {
    static const char *modes[] = {"user", "system", "iowait", "irq", "softirq", "steal", "nice"};
    static const double share_a[] = {0.62, 0.24, 0.03, 0.0, 0.02, 0.0, 0.0};
    static const double share_b[] = {0.01, 0.008, 0.002, 0.0004, 0.001, 0.003, 0.0006};
    for (int c = 0; c < NCPU; c++) {
        char cpu[8];
        snprintf(cpu, sizeof cpu, "%d", c);
        double w = 1.25 - 0.15 * c + 0.05 * tri(&h->rng);
        for (int m = 0; m < 7; m++)
            add(h, (spec){.kind = VK_CPU, .a = share_a[m], .b = share_b[m], .c = w},
                "node_cpu_seconds_total", "cpu", cpu, "mode", modes[m], NULL);
        add(h, (spec){.kind = VK_IDLE}, "node_cpu_seconds_total", "cpu", cpu, "mode", "idle", NULL);
        add(h, C(0), "node_cpu_guest_seconds_total", "cpu", cpu, "mode", "nice", NULL);
        add(h, C(0), "node_cpu_guest_seconds_total", "cpu", cpu, "mode", "user", NULL);
        add(h, CTR(180 * w, 0.8, 1), "node_softnet_processed_total", "cpu", cpu, NULL);
        add(h, RARE(0.0005), "node_softnet_dropped_total", "cpu", cpu, NULL);
        add(h, RARE(0.002), "node_softnet_times_squeezed_total", "cpu", cpu, NULL);
    }
}

static void build_memory(host *h, double total) {
    static const struct { const char *n; double frac, daily, noise; } m[] = {
        {"MemFree", 0.35, -0.25, 0.002}, {"MemAvailable", 0.62, -0.25, 0.002},
        {"Buffers", 0.012, 0.0, 0.0002}, {"Cached", 0.27, 0.04, 0.001},
        {"Active", 0.30, 0.20, 0.001}, {"Inactive", 0.18, 0.02, 0.0008},
        {"Active_anon", 0.16, 0.18, 0.001}, {"Inactive_anon", 0.01, 0.004, 0.0001},
        {"Active_file", 0.14, 0.02, 0.0008}, {"Inactive_file", 0.17, 0.02, 0.0008},
        {"Dirty", 0.00002, 0.00005, 0.00002}, {"AnonPages", 0.15, 0.2, 0.001},
        {"Mapped", 0.02, 0.005, 0.0001}, {"Shmem", 0.004, 0.0, 0.00002},
        {"KReclaimable", 0.02, 0.002, 0.0001}, {"Slab", 0.035, 0.004, 0.0001},
        {"SReclaimable", 0.02, 0.002, 0.0001}, {"SUnreclaim", 0.015, 0.002, 0.00005},
        {"KernelStack", 0.0006, 0.0002, 0.000005}, {"PageTables", 0.002, 0.001, 0.00002},
        {"Committed_AS", 0.40, 0.25, 0.002}, {"VmallocUsed", 0.0015, 0.0, 0.00001},
        {"AnonHugePages", 0.02, 0.02, 0.0005},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "node_memory_%s_bytes", m[i].n);
        double base = total * m[i].frac;
        double daily = total * m[i].daily;
        add(h, G(base, daily, total * m[i].noise, 4096), name, NULL);
    }
    static const struct { const char *n; double frac; } k[] = {
        {"MemTotal", 1.0}, {"SwapTotal", 0}, {"SwapFree", 0}, {"SwapCached", 0},
        {"Unevictable", 0.0007}, {"Mlocked", 0.0006}, {"Writeback", 0}, {"WritebackTmp", 0},
        {"NFS_Unstable", 0}, {"Bounce", 0}, {"CommitLimit", 0.5}, {"VmallocChunk", 0},
        {"HardwareCorrupted", 0}, {"ShmemHugePages", 0}, {"ShmemPmdMapped", 0},
        {"FileHugePages", 0}, {"FilePmdMapped", 0}, {"Hugetlb", 0}, {"Percpu", 0.00003},
        {"DirectMap4k", 0.0011}, {"DirectMap2M", 0.085}, {"DirectMap1G", 0.95},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "node_memory_%s_bytes", k[i].n);
        add(h, C(floor(total * k[i].frac / 4096) * 4096), name, NULL);
    }
    add(h, C(35184372087808.0), "node_memory_VmallocTotal_bytes", NULL);
    add(h, C(2097152), "node_memory_Hugepagesize_bytes", NULL);
    add(h, C(0), "node_memory_HugePages_Total", NULL);
    add(h, C(0), "node_memory_HugePages_Free", NULL);
    add(h, C(0), "node_memory_HugePages_Rsvd", NULL);
    add(h, C(0), "node_memory_HugePages_Surp", NULL);
}

static void build_disk(host *h, const char *dev, double scale) {
    add(h, C(1), "node_disk_info", "device", dev, "major", dev[2] == 'a' ? "254" : "254",
        "minor", dev[2] == 'a' ? "0" : "16", NULL);
    add(h, CTR(6 * scale, 0.6, 1), "node_disk_reads_completed_total", "device", dev, NULL);
    add(h, CTR(1.5 * scale, 0.6, 1), "node_disk_reads_merged_total", "device", dev, NULL);
    add(h, CTR(90000 * scale, 0.6, 4096), "node_disk_read_bytes_total", "device", dev, NULL);
    add(h, CTRD(3 * scale, 0.6, 1000), "node_disk_read_time_seconds_total", "device", dev, NULL);
    add(h, CTR(25 * scale, 0.7, 1), "node_disk_writes_completed_total", "device", dev, NULL);
    add(h, CTR(12 * scale, 0.7, 1), "node_disk_writes_merged_total", "device", dev, NULL);
    add(h, CTR(450000 * scale, 0.7, 512), "node_disk_written_bytes_total", "device", dev, NULL);
    add(h, CTRD(22 * scale, 0.7, 1000), "node_disk_write_time_seconds_total", "device", dev, NULL);
    add(h, G(0, 1.5 * scale, 0.4, 1), "node_disk_io_now", "device", dev, NULL);
    add(h, CTRD(16 * scale, 0.7, 1000), "node_disk_io_time_seconds_total", "device", dev, NULL);
    add(h, CTRD(30 * scale, 0.7, 1000), "node_disk_io_time_weighted_seconds_total", "device", dev, NULL);
    add(h, RARE(0.003), "node_disk_discards_completed_total", "device", dev, NULL);
    add(h, C(0), "node_disk_discards_merged_total", "device", dev, NULL);
    add(h, CTR(0.8, 0.0, 8), "node_disk_discarded_sectors_total", "device", dev, NULL);
    add(h, RARE(0.002), "node_disk_discard_time_seconds_total", "device", dev, NULL);
    add(h, CTR(0.9 * scale, 0.5, 1), "node_disk_flush_requests_total", "device", dev, NULL);
    add(h, CTRD(0.6 * scale, 0.5, 1000), "node_disk_flush_requests_time_seconds_total", "device", dev, NULL);
}

static void build_fs(host *h, const char *dev, const char *fstype, const char *mnt,
                     double size, double files, double used_rate) {
    double avail0 = floor(size * (0.3 + 0.5 * unif(&h->rng)) / 4096) * 4096;
    double q = used_rate > 0 ? 4096 : 1;
    spec dec = {.kind = VK_DECAY, .a = used_rate, .b = size * 0.05, .q = q, .init = avail0};
    add(h, dec, "node_filesystem_avail_bytes", "device", dev, "fstype", fstype, "mountpoint", mnt, NULL);
    dec.init = avail0 + (strcmp(fstype, "ext4") ? 0 : floor(size * 0.05 / 4096) * 4096);
    add(h, dec, "node_filesystem_free_bytes", "device", dev, "fstype", fstype, "mountpoint", mnt, NULL);
    add(h, C(size), "node_filesystem_size_bytes", "device", dev, "fstype", fstype, "mountpoint", mnt, NULL);
    add(h, C(files), "node_filesystem_files", "device", dev, "fstype", fstype, "mountpoint", mnt, NULL);
    spec ff = {.kind = VK_DECAY, .a = used_rate > 0 ? used_rate / 200000 : 0, .b = files * 0.01,
               .q = 1, .init = floor(files * (0.8 + 0.15 * unif(&h->rng)))};
    add(h, ff, "node_filesystem_files_free", "device", dev, "fstype", fstype, "mountpoint", mnt, NULL);
    add(h, C(0), "node_filesystem_readonly", "device", dev, "fstype", fstype, "mountpoint", mnt, NULL);
    add(h, C(0), "node_filesystem_device_error", "device", dev, "fstype", fstype, "mountpoint", mnt, NULL);
}

static void build_net(host *h, const char *dev, double scale, int idx) {
    static const char *rx[] = {"fifo", "frame", "compressed", "nohandler"};
    static const char *tx[] = {"fifo", "colls", "carrier", "compressed"};
    char name[64], mac[32];
    snprintf(mac, sizeof mac, "52:54:00:%02x:%02x:%02x", h->idx & 0xff, idx, (h->idx * 7 + idx) & 0xff);
    bool lo = !strcmp(dev, "lo");
    add(h, CTR(220000 * scale, 0.8, 1), "node_network_receive_bytes_total", "device", dev, NULL);
    add(h, CTR(320 * scale, 0.8, 1), "node_network_receive_packets_total", "device", dev, NULL);
    add(h, lo ? C(0) : RARE(0.0003), "node_network_receive_errs_total", "device", dev, NULL);
    add(h, lo ? C(0) : RARE(0.01), "node_network_receive_drop_total", "device", dev, NULL);
    add(h, lo ? C(0) : RARE(0.05), "node_network_receive_multicast_total", "device", dev, NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "node_network_receive_%s_total", rx[i]);
        add(h, C(0), name, "device", dev, NULL);
    }
    add(h, CTR(480000 * scale, 0.8, 1), "node_network_transmit_bytes_total", "device", dev, NULL);
    add(h, CTR(410 * scale, 0.8, 1), "node_network_transmit_packets_total", "device", dev, NULL);
    add(h, C(0), "node_network_transmit_errs_total", "device", dev, NULL);
    add(h, lo ? C(0) : RARE(0.001), "node_network_transmit_drop_total", "device", dev, NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "node_network_transmit_%s_total", tx[i]);
        add(h, C(0), name, "device", dev, NULL);
    }
    add(h, C(lo ? 0 : 1), "node_network_up", "device", dev, NULL);
    add(h, C(lo ? 65536 : 1500), "node_network_mtu_bytes", "device", dev, NULL);
    add(h, C(1), "node_network_carrier", "device", dev, NULL);
    add(h, C(lo ? 0 : 2), "node_network_carrier_changes_total", "device", dev, NULL);
    add(h, C(lo ? 0 : 1), "node_network_carrier_up_changes_total", "device", dev, NULL);
    add(h, C(lo ? 0 : 1), "node_network_carrier_down_changes_total", "device", dev, NULL);
    add(h, C(lo ? 1000 : 1000), "node_network_transmit_queue_length", "device", dev, NULL);
    add(h, C(lo ? 9 : 4099), "node_network_flags", "device", dev, NULL);
    add(h, C(idx + 1), "node_network_iface_id", "device", dev, NULL);
    add(h, C(idx + 1), "node_network_iface_link", "device", dev, NULL);
    add(h, C(0), "node_network_iface_link_mode", "device", dev, NULL);
    add(h, C(0), "node_network_address_assign_type", "device", dev, NULL);
    add(h, C(0), "node_network_dormant", "device", dev, NULL);
    add(h, C(lo ? 772 : 1), "node_network_protocol_type", "device", dev, NULL);
    add(h, C(0), "node_network_net_dev_group", "device", dev, NULL);
    add(h, C(lo ? 0 : 1250000000), "node_network_speed_bytes", "device", dev, NULL);
    add(h, C(1), "node_network_info", "address", lo ? "00:00:00:00:00:00" : mac,
        "broadcast", lo ? "00:00:00:00:00:00" : "ff:ff:ff:ff:ff:ff", "device", dev,
        "duplex", lo ? "" : "full", "operstate", lo ? "unknown" : "up", NULL);
}

static void build_host(host *h, int idx) {
    memset(h, 0, sizeof *h);
    h->idx = idx;
    h->rng = O.seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)(idx + 1) * 0xd1b54a32d192ed03ull;
    rnd(&h->rng);
    ax_buf_init(&h->labels, 64u << 20);
    ax_buf_init(&h->text, 64u << 20);
    snprintf(g_inst, sizeof g_inst, "host-%02d:9100", idx);
    uint64_t *r = &h->rng;
    h->offset_ms = (int64_t)(unif(r) * (double)O.interval_ms);
    h->boot_s = O.start_ms / 1000 - (int64_t)(86400 * (2 + 60 * unif(r)));
    h->base = 0.05 + 0.15 * unif(r);
    h->amp = 0.25 + 0.4 * unif(r);
    h->tz = 3600.0 * floor(tri(r) * 3);
    for (int i = 0; i < 3; i++) h->load[i] = NCPU * (h->base + h->amp * 0.5);
    static const double mem_gib[] = {8, 16, 16, 32, 64};
    double mem = mem_gib[idx % 5] * 1073741824.0 - 0x4000000;

    /* Prometheus' own series for the target */
    add(h, C(1), "up", NULL);
    add(h, NOISE(0.045, 0.5, 1), "scrape_duration_seconds", NULL);
    add(h, C(0), "scrape_samples_scraped", NULL);              /* fixed below */
    add(h, C(0), "scrape_samples_post_metric_relabeling", NULL);
    add(h, C(0), "scrape_series_added", NULL);

    build_cpu(h);
    build_memory(h, mem);
    build_disk(h, "vda", 1.0);
    build_disk(h, "vdb", 2.5);
    build_fs(h, "/dev/vda1", "ext4", "/", 105087164416.0, 6553600, 900);
    build_fs(h, "/dev/vda15", "vfat", "/boot/efi", 129718272.0, 0, 0);
    build_fs(h, "/dev/vdb", "xfs", "/var/lib/data", 536608768000.0, 262144000, 9000);
    build_fs(h, "tmpfs", "tmpfs", "/run", floor(mem / 10 / 4096) * 4096, 2000000, 2);
    build_fs(h, "tmpfs", "tmpfs", "/run/lock", 5242880, 2000000, 0);
    build_net(h, "eth0", 1.0, 1);
    build_net(h, "eth1", 0.2, 2);
    build_net(h, "lo", 0.1, 0);

    for (int i = 0; i < 3; i++) {
        static const char *ln[] = {"node_load1", "node_load5", "node_load15"};
        add(h, (spec){.kind = VK_LOAD, .flag = i}, ln[i], NULL);
    }

    add(h, CTR(3200, 0.7, 1), "node_vmstat_pgfault", NULL);
    add(h, RARE(0.02), "node_vmstat_pgmajfault", NULL);
    add(h, CTR(45, 0.6, 1), "node_vmstat_pgpgin", NULL);
    add(h, CTR(420, 0.7, 1), "node_vmstat_pgpgout", NULL);
    add(h, C(0), "node_vmstat_pswpin", NULL);
    add(h, C(0), "node_vmstat_pswpout", NULL);
    add(h, C(0), "node_vmstat_oom_kill", NULL);

    static const struct { const char *n; spec sp; } ns[] = {
        {"Icmp6_InErrors", RARE(0.0005)}, {"Icmp6_InMsgs", RARE(0.01)}, {"Icmp6_OutMsgs", RARE(0.01)},
        {"Icmp_InErrors", RARE(0.0002)}, {"Icmp_InMsgs", RARE(0.05)}, {"Icmp_OutMsgs", RARE(0.05)},
        {"Ip6_InOctets", CTR(30, 0.2, 1)}, {"Ip6_OutOctets", CTR(40, 0.2, 1)},
        {"IpExt_InOctets", CTR(230000, 0.8, 1)}, {"IpExt_OutOctets", CTR(500000, 0.8, 1)},
        {"Ip_Forwarding", C(1)},
        {"TcpExt_ListenDrops", C(0)}, {"TcpExt_ListenOverflows", C(0)},
        {"TcpExt_SyncookiesFailed", C(0)}, {"TcpExt_SyncookiesRecv", C(0)}, {"TcpExt_SyncookiesSent", C(0)},
        {"TcpExt_TCPSynRetrans", RARE(0.02)}, {"TcpExt_TCPTimeouts", RARE(0.04)},
        {"Tcp_ActiveOpens", CTR(2.2, 0.6, 1)}, {"Tcp_InErrs", RARE(0.001)},
        {"Tcp_InSegs", CTR(380, 0.8, 1)}, {"Tcp_OutRsts", CTR(0.3, 0.5, 1)},
        {"Tcp_OutSegs", CTR(420, 0.8, 1)}, {"Tcp_PassiveOpens", CTR(3.1, 0.7, 1)},
        {"Tcp_RetransSegs", CTR(0.08, 0.5, 1)},
        {"Udp6_InDatagrams", C(0)}, {"Udp6_InErrors", C(0)}, {"Udp6_NoPorts", C(0)},
        {"Udp6_OutDatagrams", C(0)}, {"Udp6_RcvbufErrors", C(0)}, {"Udp6_SndbufErrors", C(0)},
        {"UdpLite6_InErrors", C(0)}, {"UdpLite_InErrors", C(0)},
        {"Udp_InDatagrams", CTR(4, 0.3, 1)}, {"Udp_InErrors", C(0)}, {"Udp_NoPorts", RARE(0.01)},
        {"Udp_OutDatagrams", CTR(4, 0.3, 1)}, {"Udp_RcvbufErrors", C(0)}, {"Udp_SndbufErrors", C(0)},
    };
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "node_netstat_%s", ns[i].n);
        add(h, ns[i].sp, name, NULL);
    }
    add(h, G(60, 80, 3, 1), "node_netstat_Tcp_CurrEstab", NULL);

    static const struct { const char *n; spec sp; } ss[] = {
        {"FRAG6_inuse", C(0)}, {"FRAG6_memory", C(0)}, {"FRAG_inuse", C(0)}, {"FRAG_memory", C(0)},
        {"RAW6_inuse", C(1)}, {"RAW_inuse", C(0)}, {"TCP6_inuse", G(6, 4, 0.5, 1)},
        {"TCP_alloc", G(70, 90, 3, 1)}, {"TCP_inuse", G(60, 80, 3, 1)},
        {"TCP_mem", G(40, 120, 4, 1)}, {"TCP_mem_bytes", G(163840, 491520, 16384, 4096)},
        {"TCP_orphan", G(0, 1, 0.3, 1)}, {"TCP_tw", G(20, 60, 4, 1)},
        {"UDP6_inuse", C(1)}, {"UDPLITE6_inuse", C(0)}, {"UDPLITE_inuse", C(0)},
        {"UDP_inuse", G(4, 0, 0.2, 1)}, {"UDP_mem", G(3, 2, 0.3, 1)},
        {"UDP_mem_bytes", G(12288, 8192, 1200, 4096)}, {"sockets_used", G(180, 120, 4, 1)},
    };
    for (size_t i = 0; i < sizeof ss / sizeof ss[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "node_sockstat_%s", ss[i].n);
        add(h, ss[i].sp, name, NULL);
    }

    char nodename[32];
    snprintf(nodename, sizeof nodename, "host-%02d", idx);
    add(h, CTR(2100, 0.8, 1), "node_context_switches_total", NULL);
    add(h, CTR(1500, 0.8, 1), "node_intr_total", NULL);
    add(h, CTR(2.5, 0.6, 1), "node_forks_total", NULL);
    add(h, G(1, 3, 0.8, 1), "node_procs_running", NULL);
    add(h, G(0, 0.6, 0.3, 1), "node_procs_blocked", NULL);
    add(h, C((double)h->boot_s), "node_boot_time_seconds", NULL);
    add(h, (spec){.kind = VK_TIME, .c = 1}, "node_time_seconds", NULL);
    add(h, C(0), "node_time_zone_offset_seconds", "time_zone", "UTC", NULL);
    add(h, C(1), "node_time_clocksource_available_info", "clocksource", "kvm-clock", "device", "0", NULL);
    add(h, C(1), "node_time_clocksource_available_info", "clocksource", "tsc", "device", "0", NULL);
    add(h, C(1), "node_time_clocksource_current_info", "clocksource", "kvm-clock", "device", "0", NULL);
    add(h, C(256), "node_entropy_available_bits", NULL);
    add(h, C(256), "node_entropy_pool_size_bits", NULL);
    add(h, G(1100, 700, 10, 1), "node_filefd_allocated", NULL);
    add(h, C(9223372036854775807.0), "node_filefd_maximum", NULL);
    add(h, G(120, 400, 8, 1), "node_nf_conntrack_entries", NULL);
    add(h, C(262144), "node_nf_conntrack_entries_limit", NULL);
    add(h, G(3, 0, 0.1, 1), "node_arp_entries", "device", "eth0", NULL);
    add(h, C(1), "node_uname_info", "domainname", "(none)", "machine", "x86_64",
        "nodename", nodename, "release", "6.1.0-13-amd64", "sysname", "Linux",
        "version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)", NULL);
    add(h, C(1), "node_os_info", "id", "debian", "name", "Debian GNU/Linux",
        "pretty_name", "Debian GNU/Linux 12 (bookworm)", "version", "12 (bookworm)",
        "version_codename", "bookworm", "version_id", "12", NULL);
    add(h, C(12), "node_os_version", "id", "debian", "id_like", "", "name", "Debian GNU/Linux", NULL);
    add(h, C(1), "node_exporter_build_info", "branch", "debian/sid", "goarch", "amd64",
        "goos", "linux", "goversion", "go1.19.8", "revision", "1.5.0-1+b6", "version", "1.5.0", NULL);
    add(h, CTRD(5000, 0.9, 1e6), "node_pressure_cpu_waiting_seconds_total", NULL);
    add(h, CTRD(2000, 0.8, 1e6), "node_pressure_io_stalled_seconds_total", NULL);
    add(h, CTRD(2500, 0.8, 1e6), "node_pressure_io_waiting_seconds_total", NULL);
    add(h, C(0), "node_pressure_memory_stalled_seconds_total", NULL);
    add(h, C(0), "node_pressure_memory_waiting_seconds_total", NULL);
    add(h, C(0), "node_textfile_scrape_error", NULL);
    add(h, C(0), "node_udp_queues", "ip", "v4", "queue", "rx", NULL);
    add(h, C(0), "node_udp_queues", "ip", "v4", "queue", "tx", NULL);
    add(h, C(0), "node_udp_queues", "ip", "v6", "queue", "rx", NULL);
    add(h, C(0), "node_udp_queues", "ip", "v6", "queue", "tx", NULL);
    add(h, C(0), "node_selinux_enabled", NULL);

    static const char *tx_names[] = {
        "estimated_error_seconds", "frequency_adjustment_ratio", "loop_time_constant",
        "maxerror_seconds", "offset_seconds", "pps_calibration_total", "pps_error_total",
        "pps_frequency_hertz", "pps_jitter_seconds", "pps_jitter_total", "pps_shift_seconds",
        "pps_stability_exceeded_total", "pps_stability_hertz", "status", "sync_status",
        "tai_offset_seconds", "tick_seconds"};
    for (size_t i = 0; i < sizeof tx_names / sizeof tx_names[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "node_timex_%s", tx_names[i]);
        spec sp = C(0);
        if (!strcmp(tx_names[i], "tick_seconds")) sp = C(0.01);
        else if (!strcmp(tx_names[i], "status")) sp = C(8193);
        else if (!strcmp(tx_names[i], "sync_status")) sp = C(1);
        else if (!strcmp(tx_names[i], "loop_time_constant")) sp = C(7);
        else if (!strcmp(tx_names[i], "maxerror_seconds")) sp = (spec){.kind = VK_SAW, .a = 500, .b = 1.5e6, .div = 1e6};
        else if (!strcmp(tx_names[i], "offset_seconds")) sp = NOISE(0.00002, 0, 0.3);
        else if (!strcmp(tx_names[i], "estimated_error_seconds")) sp = NOISE(0.00003, 0, 0.1);
        else if (!strcmp(tx_names[i], "frequency_adjustment_ratio")) sp = C(0.99998291015625 + 1e-6 * (idx % 7));
        add(h, sp, name, NULL);
    }

    static const char *coll[] = {
        "arp", "conntrack", "cpu", "cpufreq", "diskstats", "dmi", "entropy", "filefd",
        "filesystem", "hwmon", "loadavg", "meminfo", "netclass", "netdev", "netstat", "os",
        "powersupplyclass", "pressure", "schedstat", "selinux", "sockstat", "softnet", "stat",
        "textfile", "thermal_zone", "time", "timex", "udp_queues", "uname", "vmstat"};
    for (size_t i = 0; i < sizeof coll / sizeof coll[0]; i++) {
        double mean = (i % 7 == 0) ? 0.004 : 0.0004;
        add(h, NOISE(mean, 0.4, 1), "node_scrape_collector_duration_seconds", "collector", coll[i], NULL);
        add(h, C(1), "node_scrape_collector_success", "collector", coll[i], NULL);
    }

    static const char *quant[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (int i = 0; i < 5; i++)
        add(h, NOISE(0.00004 * (1 + i), 0, 0.08), "go_gc_duration_seconds", "quantile", quant[i], NULL);
    add(h, CTRD(600, 0.5, 1e9), "go_gc_duration_seconds_sum", NULL);
    add(h, CTR(0.012, 0.5, 1), "go_gc_duration_seconds_count", NULL);
    add(h, G(8, 0, 0.3, 1), "go_goroutines", NULL);
    add(h, C(1), "go_info", "version", "go1.19.8", NULL);
    add(h, (spec){.kind = VK_SAW, .a = 900, .b = 6.2e6}, "go_memstats_alloc_bytes", NULL);
    add(h, CTR(900, 0.5, 8), "go_memstats_alloc_bytes_total", NULL);
    add(h, C(1446097 + idx), "go_memstats_buck_hash_sys_bytes", NULL);
    add(h, CTR(5.5, 0.5, 1), "go_memstats_frees_total", NULL);
    add(h, C(8493096), "go_memstats_gc_sys_bytes", NULL);
    add(h, (spec){.kind = VK_SAW, .a = 900, .b = 6.2e6}, "go_memstats_heap_alloc_bytes", NULL);
    add(h, G(3.1e6, 0, 40000, 8192), "go_memstats_heap_idle_bytes", NULL);
    add(h, G(6.5e6, 0, 40000, 8192), "go_memstats_heap_inuse_bytes", NULL);
    add(h, G(21000, 0, 400, 1), "go_memstats_heap_objects", NULL);
    add(h, G(2.4e6, 0, 30000, 8192), "go_memstats_heap_released_bytes", NULL);
    add(h, C(11796480), "go_memstats_heap_sys_bytes", NULL);
    add(h, (spec){.kind = VK_TIME, .c = 0.2}, "go_memstats_last_gc_time_seconds", NULL);
    add(h, C(0), "go_memstats_lookups_total", NULL);
    add(h, CTR(5.6, 0.5, 1), "go_memstats_mallocs_total", NULL);
    add(h, C(4800), "go_memstats_mcache_inuse_bytes", NULL);
    add(h, C(15600), "go_memstats_mcache_sys_bytes", NULL);
    add(h, G(120000, 0, 1500, 136), "go_memstats_mspan_inuse_bytes", NULL);
    add(h, C(146880), "go_memstats_mspan_sys_bytes", NULL);
    add(h, G(8.4e6, 0, 60000, 8), "go_memstats_next_gc_bytes", NULL);
    add(h, C(1012311), "go_memstats_other_sys_bytes", NULL);
    add(h, G(655360, 0, 16384, 32768), "go_memstats_stack_inuse_bytes", NULL);
    add(h, C(655360), "go_memstats_stack_sys_bytes", NULL);
    add(h, C(23284744), "go_memstats_sys_bytes", NULL);
    add(h, C(8), "go_threads", NULL);
    add(h, CTRD(0.9, 0.3, 100), "process_cpu_seconds_total", NULL);
    add(h, C(1048576), "process_max_fds", NULL);
    add(h, G(10, 0, 0.4, 1), "process_open_fds", NULL);
    add(h, G(2.1e7, 0, 150000, 4096), "process_resident_memory_bytes", NULL);
    add(h, C((double)h->boot_s + 4.37), "process_start_time_seconds", NULL);
    add(h, C(1.2691456e9 + 4096.0 * (idx % 13)), "process_virtual_memory_bytes", NULL);
    add(h, C(1.8446744073709552e19), "process_virtual_memory_max_bytes", NULL);
    add(h, C(1), "promhttp_metric_handler_requests_in_flight", NULL);
    add(h, (spec){.kind = VK_CTR, .a = 1.0 / 15, .b = 0, .q = 1}, "promhttp_metric_handler_requests_total", "code", "200", NULL);
    add(h, C(0), "promhttp_metric_handler_requests_total", "code", "500", NULL);
    add(h, C(0), "promhttp_metric_handler_requests_total", "code", "503", NULL);
    add(h, C(0), "promhttp_metric_handler_errors_total", "cause", "encoding", NULL);
    add(h, C(0), "promhttp_metric_handler_errors_total", "cause", "gathering", NULL);

    /* scrape_samples_scraped and friends: the exporter's own series count */
    double exported = (double)(h->n - 5);
    for (int i = 2; i <= 3; i++) h->s[i].a = h->s[i].v = exported;
}

/* Advance host h to its next scrape: sets h->ts and every series' v. */
static void host_step(host *h) {
    uint64_t *r = &h->rng;
    int64_t k = h->scrape++;
    int64_t jit = O.jitter_ms ? (int64_t)(rnd(r) % (uint64_t)(2 * O.jitter_ms + 1)) - O.jitter_ms : 0;
    h->ts = O.start_ms + k * O.interval_ms + h->offset_ms + jit;

    double tod = fmod((double)h->ts / 1000.0 + h->tz, 86400.0) / 86400.0;
    double daily = 0.5 - 0.5 * cos(2 * M_PI * (tod - 2.0 / 24));   /* low 02:00, high 14:00 */
    /* weekly-ish variation: a slow second harmonic keeps days from being identical */
    daily *= 0.9 + 0.1 * sin(2 * M_PI * ((double)h->ts / 1000.0 / 86400.0 / 3.5));
    if (h->burst_left > 0) h->burst_left--;
    else if (rnd(r) % 720 == 0) h->burst_left = 4 + (int)(rnd(r) % 40);
    double busy = h->base + h->amp * daily + 0.03 * tri(r) + (h->burst_left ? 0.25 : 0);
    h->busy = busy < 0.02 ? 0.02 : busy > 0.97 ? 0.97 : busy;

    double runnable = h->busy * NCPU * 1.15 + 0.4 * tri(r);
    if (runnable < 0) runnable = 0;
    static const double minutes[3] = {1, 5, 15};
    for (int i = 0; i < 3; i++) {
        double e = exp(-(double)O.interval_ms / 60000.0 / minutes[i]);
        h->load[i] = h->load[i] * e + runnable * (1 - e);
    }

    double secs = (double)O.interval_ms / 1000.0;
    double ticks_per_scrape = secs * 100;
    for (size_t i = 0; i < h->n; i++) {
        series *s = &h->s[i];
        switch (s->kind) {
        case VK_CONST:
            continue;
        case VK_CPU: {
            double x = ticks_per_scrape * (s->a * h->busy + s->b) * s->c * (1 + 0.25 * tri(r));
            double t = floor(x + unif(r));
            if (t < 0) t = 0;
            if (h->cpu_used + t > ticks_per_scrape) t = ticks_per_scrape - h->cpu_used;
            h->cpu_used += t;
            s->acc += t;
            break;
        }
        case VK_IDLE: {
            double t = ticks_per_scrape - h->cpu_used;
            /* the kernel's per-cpu tick accounting is not exact per interval */
            t += floor(2 * tri(r) + 0.5);
            if (t < 0) t = 0;
            s->acc += t;
            h->cpu_used = 0;
            break;
        }
        case VK_CTR: {
            double f = (1 - s->b) + s->b * h->busy * 1.6;
            double x = s->a * secs * f * (1 + 0.35 * tri(r));
            if ((rnd(r) & 127) == 0) x *= 3 + (double)(rnd(r) % 8);   /* burst */
            double n = floor(x / s->q + unif(r));
            if (n > 0) s->acc += n * s->q;
            break;
        }
        case VK_RARE:
            if (unif(r) < s->a) s->acc += 1 + (double)(rnd(r) % 3 == 0);
            break;
        case VK_GAUGE: {
            double target = s->a + s->b * h->busy;
            double v = s->acc + (target - s->acc) * 0.15 + s->c * tri(r) * 1.7;
            v = floor(v / s->q + 0.5) * s->q;
            s->acc = v < 0 ? 0 : v;
            break;
        }
        case VK_DECAY: {
            if (s->a <= 0) break;
            double x = s->a * secs * (0.3 + 1.4 * unif(r)) * (0.5 + h->busy);
            double n = floor(x / s->q + unif(r));
            s->acc -= n * s->q;
            if (rnd(r) % 2880 == 0 || s->acc < s->b) s->acc += floor(s->b * (1 + unif(r)) / s->q) * s->q;
            if (s->acc < 0) s->acc = 0;
            break;
        }
        case VK_LOAD:
            s->v = floor(h->load[s->flag] * 100 + 0.5) / 100;
            continue;
        case VK_NOISE:
            if (s->c >= 1 || unif(r) < s->c)
                s->v = floor(s->a * (0.5 + unif(r)) * (1 + s->b * h->busy) * s->div) / s->div;
            continue;
        case VK_TIME:
            if (s->c >= 1 || unif(r) < s->c) s->v = ((double)h->ts * 1e6 + (double)(rnd(r) % 1000000)) / 1e9;
            continue;
        case VK_SAW:
            s->acc += floor(s->a * secs * (0.5 + unif(r)) * (0.5 + h->busy));
            if (s->acc > s->b) s->acc = floor(s->b * (0.35 + 0.1 * unif(r)));
            break;
        }
        s->v = s->acc / s->div;
    }
}

/* ---- protobuf encoding of one request ---- */

static inline uint8_t *put_sample(uint8_t *p, double v, int64_t ts) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    *p++ = 0x09;
    ax_put_u64le(p, bits);
    p += 8;
    *p++ = 0x10;
    return p + ax_uvarint_put(p, (uint64_t)ts);
}

/* Generate k scrapes of hosts hs[0..nh) and append one WriteRequest to body.
 * vals/tss are scratch of k*max_series doubles and k timestamps. */
static int encode_request(ax_buf *body, host **hs, int nh, int k, double *vals, int64_t *tss,
                          uint64_t *samples_out) {
    uint64_t samples = 0;
    for (int hi = 0; hi < nh; hi++) {
        host *h = hs[hi];
        for (int j = 0; j < k; j++) {
            host_step(h);
            tss[j] = h->ts;
            for (size_t i = 0; i < h->n; i++) vals[(size_t)j * h->n + i] = h->s[i].v;
        }
        size_t slen = 0;
        for (int j = 0; j < k; j++) slen += 1 + 1 + 10 + uvarint_len((uint64_t)tss[j]);
        for (size_t i = 0; i < h->n; i++) {
            series *s = &h->s[i];
            size_t tslen = s->lab_len + slen;
            int rc = ax_buf_reserve(body, 12 + tslen);
            if (rc) return rc;
            uint8_t *p = body->data + body->len;
            *p++ = 0x0a;
            p += ax_uvarint_put(p, tslen);
            memcpy(p, h->labels.data + s->lab_off, s->lab_len);
            p += s->lab_len;
            for (int j = 0; j < k; j++) {
                size_t one = 1 + 8 + 1 + uvarint_len((uint64_t)tss[j]);
                *p++ = 0x12;
                *p++ = (uint8_t)one;
                p = put_sample(p, vals[(size_t)j * h->n + i], tss[j]);
            }
            body->len = (size_t)(p - body->data);
            samples += (uint64_t)k;
        }
    }
    *samples_out = samples;
    return 0;
}

/* ---- HTTP/1.1 client: one blocking keep-alive connection per thread ---- */

typedef struct conn {
    int fd;
    struct addrinfo *ai;
    char rbuf[65536];
    ax_buf reply;   /* status line + headers + body of the last response */
} conn;

static int conn_open(conn *c) {
    if (c->fd >= 0) return 0;
    int fd = socket(c->ai->ai_family, c->ai->ai_socktype, c->ai->ai_protocol);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 120};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, c->ai->ai_addr, c->ai->ai_addrlen) < 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

static void conn_close(conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static int write_all(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) { w -= (ssize_t)iov->iov_len; iov++; n--; }
        if (n > 0) { iov->iov_base = (char *)iov->iov_base + w; iov->iov_len -= (size_t)w; }
    }
    return 0;
}

static const char *find_hdr(const char *h, size_t len, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = h; p + nl < h + len; p++) {
        if ((p == h || p[-1] == '\n') && !strncasecmp(p, name, nl) && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ' || *p == '\t') p++;
            return p;
        }
    }
    return NULL;
}

/* Send one POST and read the whole reply into c->reply. OUT: *status.
 * Returns 0, or -1 on a connection error (connection closed; caller retries). */
static int http_post(conn *c, const char *hdr, size_t hdr_len, const void *body, size_t len,
                     int *status) {
    if (conn_open(c)) return -1;
    struct iovec iov[2] = {{(void *)hdr, hdr_len}, {(void *)body, len}};
    if (write_all(c->fd, iov, 2)) goto fail;
    ax_buf_reset(&c->reply);
    size_t hend = 0;
    long long clen = -1;
    bool chunked = false, close_after = false;
    for (;;) {
        ssize_t r = read(c->fd, c->rbuf, sizeof c->rbuf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) goto fail;
        if (r == 0) {
            if (hend && clen < 0 && !chunked) break;   /* body delimited by close */
            goto fail;
        }
        if (ax_buf_append(&c->reply, c->rbuf, (size_t)r)) goto fail;
        const char *d = (const char *)c->reply.data;
        size_t n = c->reply.len;
        if (!hend) {
            const char *e = memmem(d, n, "\r\n\r\n", 4);
            if (!e) continue;
            hend = (size_t)(e - d) + 4;
            if (n < 12 || strncmp(d, "HTTP/1.", 7)) goto fail;
            *status = (d[9] - '0') * 100 + (d[10] - '0') * 10 + (d[11] - '0');
            const char *v = find_hdr(d, hend, "Content-Length");
            if (v) clen = strtoll(v, NULL, 10);
            v = find_hdr(d, hend, "Transfer-Encoding");
            chunked = v && !strncasecmp(v, "chunked", 7);
            v = find_hdr(d, hend, "Connection");
            close_after = v && !strncasecmp(v, "close", 5);
            if (*status == 204 || *status == 304) clen = 0;
        }
        if (clen >= 0 && n - hend >= (size_t)clen) break;
        if (chunked && n - hend >= 5 && !memcmp(d + n - 5, "0\r\n\r\n", 5)) break;
    }
    if (close_after) conn_close(c);
    return 0;
fail:
    conn_close(c);
    return -1;
}

/* ---- worker threads ---- */

static atomic_ullong g_samples, g_requests, g_retries, g_raw_bytes, g_wire_bytes;
static atomic_int g_stop, g_fail, g_finished;
static host *g_hosts;
static size_t g_max_series;
static int64_t g_scrapes;
static struct addrinfo *g_ai;

typedef struct worker {
    pthread_t tid;
    int first, n;     /* hosts [first, first+n) */
    int hpr;          /* hosts per request */
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    int k = O.samples_per_series;
    double *vals = malloc(sizeof(double) * (size_t)k * g_max_series);
    int64_t *tss = malloc(sizeof(int64_t) * (size_t)k);
    host **hs = malloc(sizeof(host *) * (size_t)w->hpr);
    ax_buf body, comp;
    ax_buf_init(&body, MAX_BODY);
    ax_buf_init(&comp, MAX_BODY + MAX_BODY / 6 + 64);
    conn c = {.fd = -1, .ai = g_ai};
    ax_buf_init(&c.reply, MAX_REPLY);
    char hdr[1024];
    if (!vals || !tss || !hs) die("out of memory");

    for (int64_t s = 0; s < g_scrapes && !g_stop; s += k) {
        int kk = (int)(g_scrapes - s < k ? g_scrapes - s : k);
        for (int g = 0; g < w->n && !g_stop; g += w->hpr) {
            int nh = w->n - g < w->hpr ? w->n - g : w->hpr;
            for (int i = 0; i < nh; i++) hs[i] = &g_hosts[w->first + g + i];
            uint64_t samples;
            ax_buf_reset(&body);
            if (encode_request(&body, hs, nh, kk, vals, tss, &samples)) die("request too big");
            size_t clen = snappy_max_compressed_length(body.len);
            ax_buf_reset(&comp);
            if (ax_buf_reserve(&comp, clen)) die("compressed request too big");
            if (snappy_compress((const char *)body.data, body.len, (char *)comp.data, &clen) != SNAPPY_OK)
                die("snappy_compress failed");
            comp.len = clen;
            g_raw_bytes += body.len;
            g_wire_bytes += comp.len;
            if (O.dry_run) {
                g_samples += samples;
                g_requests++;
                continue;
            }
            int hl = snprintf(hdr, sizeof hdr,
                              "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: auspex-loadgen/0.1\r\n"
                              "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                              "X-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: %zu\r\n\r\n",
                              O.path, O.host, O.port, comp.len);
            int backoff_ms = 50, attempt = 0;
            for (;;) {
                int status = 0;
                int rc = http_post(&c, hdr, (size_t)hl, comp.data, comp.len, &status);
                if (rc == 0 && status >= 200 && status < 300) break;
                if (rc == 0 && status < 500) {
                    fprintf(stderr, "loadgen: HTTP %d from %s:\n%.*s\n", status, O.url,
                            (int)(c.reply.len > 4096 ? 4096 : c.reply.len), (const char *)c.reply.data);
                    g_fail = 1;
                    g_stop = 1;
                    break;
                }
                if (++attempt > O.max_retries) {
                    fprintf(stderr, "loadgen: giving up after %d retries (%s)\n", O.max_retries,
                            rc ? strerror(errno) : "5xx");
                    if (rc == 0)
                        fprintf(stderr, "%.*s\n", (int)(c.reply.len > 4096 ? 4096 : c.reply.len),
                                (const char *)c.reply.data);
                    g_fail = 1;
                    g_stop = 1;
                    break;
                }
                g_retries++;
                if (rc == 0 && status >= 500) conn_close(&c);
                usleep((useconds_t)backoff_ms * 1000);
                backoff_ms = backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2;
                if (g_stop) break;
            }
            if (g_fail) break;
            g_samples += samples;
            g_requests++;
        }
    }
    conn_close(&c);
    ax_buf_free(&c.reply);
    ax_buf_free(&body);
    ax_buf_free(&comp);
    free(vals);
    free(tss);
    free(hs);
    g_finished++;
    return NULL;
}

/* ---- command line ---- */

static void usage(void) {
    fprintf(stderr,
        "usage: loadgen [-flag=value ...]\n"
        "  -url=http://127.0.0.1:8428/api/v1/write  remote-write endpoint\n"
        "  -hosts=30                simulated node_exporter hosts (~500 series each)\n"
        "  -duration=24h            simulated time span\n"
        "  -interval=15s            scrape interval\n"
        "  -start=T                 first scrape (unix s or RFC 3339); default: day-aligned,\n"
        "                           duration + 1 day before now\n"
        "  -concurrency=4           sender threads (each owns hosts/concurrency hosts)\n"
        "  -hosts-per-request=0     hosts per request (0: auto, ~2000-5000 samples)\n"
        "  -samples-per-series=1    consecutive scrapes per TimeSeries (vmagent-style)\n"
        "  -seed=1                  PRNG seed\n"
        "  -jitter=3                +- ms of scrape timestamp jitter\n"
        "  -max-retries=100         retries per request before giving up\n"
        "  -dry-run                 generate, encode and compress but do not send\n"
        "  -dump=N                  print the first N scrapes of host 0 as text and exit\n"
        "  -quiet                   no progress lines\n");
    exit(2);
}

static bool flag_val(const char *arg, const char *name, const char **val) {
    size_t n = strlen(name);
    if (arg[0] != '-') return false;
    arg += arg[1] == '-' ? 2 : 1;
    if (strncmp(arg, name, n)) return false;
    if (arg[n] == '=') { *val = arg + n + 1; return true; }
    if (arg[n] == 0) { *val = ""; return true; }
    return false;
}

static long parse_int(const char *name, const char *v, long min, long max) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) die("bad -%s=%s", name, v);
    return x;
}

static void parse_args(int argc, char **argv) {
    snprintf(O.url, sizeof O.url, "http://127.0.0.1:8428/api/v1/write");
    O.hosts = 30;
    O.duration_ms = 86400000;
    O.interval_ms = 15000;
    O.start_ms = -1;
    O.concurrency = 4;
    O.samples_per_series = 1;
    O.seed = 1;
    O.jitter_ms = 3;
    O.max_retries = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int64_t ms;
        if (flag_val(a, "url", &v)) snprintf(O.url, sizeof O.url, "%s", v);
        else if (flag_val(a, "hosts-per-request", &v)) O.hosts_per_request = (int)parse_int("hosts-per-request", v, 0, 100000);
        else if (flag_val(a, "hosts", &v)) O.hosts = (int)parse_int("hosts", v, 1, 100000);
        else if (flag_val(a, "duration", &v)) {
            if (ax_duration_parse(v, strlen(v), &ms) || ms <= 0) die("bad -duration=%s", v);
            O.duration_ms = ms;
        } else if (flag_val(a, "interval", &v)) {
            if (ax_duration_parse(v, strlen(v), &ms) || ms <= 0) die("bad -interval=%s", v);
            O.interval_ms = ms;
        } else if (flag_val(a, "start", &v)) {
            if (ax_time_parse(v, strlen(v), &ms)) die("bad -start=%s", v);
            O.start_ms = ms;
        } else if (flag_val(a, "concurrency", &v)) O.concurrency = (int)parse_int("concurrency", v, 1, 1024);
        else if (flag_val(a, "samples-per-series", &v)) O.samples_per_series = (int)parse_int("samples-per-series", v, 1, 100000);
        else if (flag_val(a, "seed", &v)) O.seed = (uint64_t)parse_int("seed", v, 0, 1L << 62);
        else if (flag_val(a, "jitter", &v)) O.jitter_ms = (int)parse_int("jitter", v, 0, 10000);
        else if (flag_val(a, "max-retries", &v)) O.max_retries = (int)parse_int("max-retries", v, 0, 1000000);
        else if (flag_val(a, "dump", &v)) O.dump = (int)parse_int("dump", v, 1, 1000000);
        else if (flag_val(a, "dry-run", &v)) O.dry_run = true;
        else if (flag_val(a, "quiet", &v)) O.quiet = true;
        else usage();
    }
    /* http://host:port/path, plain HTTP only */
    const char *u = O.url;
    if (strncmp(u, "http://", 7)) die("-url must start with http://");
    u += 7;
    const char *slash = strchr(u, '/');
    const char *hp_end = slash ? slash : u + strlen(u);
    const char *colon = memchr(u, ':', (size_t)(hp_end - u));
    const char *h_end = colon ? colon : hp_end;
    snprintf(O.host, sizeof O.host, "%.*s", (int)(h_end - u), u);
    if (colon) snprintf(O.port, sizeof O.port, "%.*s", (int)(hp_end - colon - 1), colon + 1);
    else snprintf(O.port, sizeof O.port, "80");
    snprintf(O.path, sizeof O.path, "%s", slash ? slash : "/");
    if (O.concurrency > O.hosts) O.concurrency = O.hosts;
    if (O.start_ms < 0) {
        int64_t day = 86400000;
        O.start_ms = (ax_now_ms() - O.duration_ms) / day * day - day;
    }
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void dump(void) {
    host *h = &g_hosts[0];
    for (int k = 0; k < O.dump; k++) {
        host_step(h);
        for (size_t i = 0; i < h->n; i++) {
            char v[40];
            ax_fmt_double(v, h->s[i].v);
            printf("%.*s %s %lld\n", (int)h->s[i].txt_len, (const char *)h->text.data + h->s[i].txt_off,
                   v, (long long)h->ts);
        }
    }
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);   /* a server that closes early is a connection error, not death */
    double cpu0 = cpu_seconds();
    uint64_t t0 = ax_mono_ns();

    g_hosts = calloc((size_t)O.hosts, sizeof *g_hosts);
    if (!g_hosts) die("out of memory");
    for (int i = 0; i < (O.dump ? 1 : O.hosts); i++) {
        build_host(&g_hosts[i], i);
        if (g_hosts[i].n > g_max_series) g_max_series = g_hosts[i].n;
    }
    if (O.dump) {
        dump();
        return 0;
    }
    g_scrapes = O.duration_ms / O.interval_ms;
    size_t series_per_host = g_hosts[0].n;
    uint64_t total_series = 0;
    for (int i = 0; i < O.hosts; i++) total_series += g_hosts[i].n;

    if (!O.dry_run) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        int rc = getaddrinfo(O.host, O.port, &hints, &g_ai);
        if (rc) die("resolve %s:%s: %s", O.host, O.port, gai_strerror(rc));
    }

    int nt = O.concurrency;
    worker *ws = calloc((size_t)nt, sizeof *ws);
    if (!ws) die("out of memory");
    for (int t = 0; t < nt; t++) {
        ws[t].first = (int)((int64_t)O.hosts * t / nt);
        ws[t].n = (int)((int64_t)O.hosts * (t + 1) / nt) - ws[t].first;
        if (O.hosts_per_request > 0) {
            ws[t].hpr = O.hosts_per_request;
        } else {
            /* aim for <= ~4000 samples per request, groups of equal size */
            size_t per_host = series_per_host * (size_t)O.samples_per_series;
            int groups = (int)((per_host * (size_t)ws[t].n + 3999) / 4000);
            if (groups < 1) groups = 1;
            ws[t].hpr = (ws[t].n + groups - 1) / groups;
        }
    }
    fprintf(stderr,
            "loadgen: %d hosts x %zu series x %lld scrapes = %llu samples, start %lld ms, "
            "interval %lld ms, %d threads, %d hosts/request, %d samples/series%s\n",
            O.hosts, series_per_host, (long long)g_scrapes,
            (unsigned long long)(total_series * (uint64_t)g_scrapes), (long long)O.start_ms,
            (long long)O.interval_ms, nt, ws[0].hpr, O.samples_per_series,
            O.dry_run ? ", dry run" : "");

    uint64_t t1 = ax_mono_ns();
    for (int t = 0; t < nt; t++)
        if (pthread_create(&ws[t].tid, NULL, worker_main, &ws[t])) die("pthread_create failed");

    /* progress every 10 s while the workers run */
    uint64_t expected = total_series * (uint64_t)g_scrapes;
    uint64_t last_ns = t1, last_samples = 0;
    for (;;) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t done = g_samples;
        if (g_finished == nt) break;
        uint64_t now = ax_mono_ns();
        if (!O.quiet && now - last_ns >= 10000000000ull) {
            fprintf(stderr, "loadgen: %5.1f%%  %llu samples  %.0f samples/s  retries %llu\n",
                    100.0 * (double)done / (double)expected, (unsigned long long)done,
                    (double)(done - last_samples) / ((double)(now - last_ns) / 1e9),
                    (unsigned long long)g_retries);
            last_ns = now;
            last_samples = done;
        }
    }
    for (int t = 0; t < nt; t++) pthread_join(ws[t].tid, NULL);
    uint64_t t2 = ax_mono_ns();

    double wall = (double)(t2 - t1) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    uint64_t samples = g_samples;
    double rate = wall > 0 ? (double)samples / wall : 0;
    printf("samples sent     %llu\n", (unsigned long long)samples);
    printf("requests         %llu\n", (unsigned long long)g_requests);
    printf("retries          %llu\n", (unsigned long long)g_retries);
    printf("wall seconds     %.2f (setup %.2f)\n", wall, (double)(t1 - t0) / 1e9);
    printf("samples/s        %.0f\n", rate);
    printf("loadgen cpu s    %.2f (%.1f ns/sample)\n", cpu, samples ? cpu * 1e9 / (double)samples : 0);
    printf("bytes/sample     %.1f protobuf, %.1f snappy\n",
           samples ? (double)g_raw_bytes / (double)samples : 0,
           samples ? (double)g_wire_bytes / (double)samples : 0);
    printf("RESULT samples=%llu requests=%llu retries=%llu seconds=%.3f rate=%.0f cpu_seconds=%.3f "
           "cpu_ns_per_sample=%.1f hosts=%d series_per_host=%zu scrapes=%lld start_ms=%lld "
           "end_ms=%lld wire_bytes=%llu raw_bytes=%llu ok=%d\n",
           (unsigned long long)samples, (unsigned long long)g_requests,
           (unsigned long long)g_retries, wall, rate, cpu,
           samples ? cpu * 1e9 / (double)samples : 0, O.hosts, series_per_host,
           (long long)g_scrapes, (long long)O.start_ms,
           (long long)(O.start_ms + g_scrapes * O.interval_ms + O.interval_ms),
           (unsigned long long)g_wire_bytes, (unsigned long long)g_raw_bytes, !g_fail);
    if (g_ai) freeaddrinfo(g_ai);
    return g_fail ? 1 : 0;
}
