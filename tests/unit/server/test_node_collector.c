/* Unit tests for server/node_collector.c: every /proc parser on real-looking input (names,
 * labels, units), the node_exporter default filters, garbled, truncated and oversized
 * input (skipped, never a crash), the arena budget, and a full collect over the fixture
 * tree tests/unit/server/fixtures/node/{proc,sys}.
 * Static helpers are prefixed nc_ (this file shares unit_server with other test files). */
#include "server/node_collector.h"
#include "test.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define NC_TS 1700000000000LL

static char nc_dir[4096];

static const char *nc_fixture(const char *rel) {
    /* __FILE__ is the absolute source path CMake compiles */
    const char *slash = strrchr(__FILE__, '/');
    snprintf(nc_dir, sizeof nc_dir, "%.*s/fixtures/node/%s", (int)(slash - __FILE__), __FILE__, rel);
    return nc_dir;
}

static srv_node *nc_node(void) {
    static srv_node *n;
    if (!n) {
        char proc[4096], sys[4096];
        snprintf(proc, sizeof proc, "%s", nc_fixture("proc"));
        snprintf(sys, sizeof sys, "%s", nc_fixture("sys"));
        ax_err e = {0};
        if (srv_node_new(proc, sys, "testhost", &n, &e)) FAILF("srv_node_new: %s", e.msg);
    }
    return n;
}

typedef int (*nc_parse_fn)(const srv_node *, srv_node_out *, const char *, size_t);

/* Parse s from an exact-size heap copy into o (arena a). */
static int nc_run(nc_parse_fn fn, const char *s, size_t len, ax_arena *a, srv_node_out *o) {
    ax_arena_init(a, 8u << 20);
    if (srv_node_out_init(o, nc_node(), a, NC_TS)) return AX_ETOOBIG;
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, s, len);
    int rc = fn(nc_node(), o, copy, len);
    free(copy);
    return rc;
}

static bool nc_span_eq(const char *p, uint32_t len, const char *s) {
    return len == strlen(s) && (len == 0 || !memcmp(p, s, len));
}

/* Value of the series name{labels...} (NULL-terminated name/value pairs; the series must
 * have exactly these plus job and instance), NaN when absent. */
static double nc_get(const srv_node_out *o, const char *name, ...) {
    const char *want[32];
    size_t nw = 0;
    va_list ap;
    va_start(ap, name);
    const char *k;
    while ((k = va_arg(ap, const char *)) && nw < 30) {
        want[nw++] = k;
        want[nw++] = va_arg(ap, const char *);
    }
    va_end(ap);
    for (size_t i = 0; i < o->n; i++) {
        const eng_ts *t = &o->ts[i];
        if (!nc_span_eq(t->labels[0].value, t->labels[0].value_len, name)) continue;
        if (t->n_labels != 1 + nw / 2 + 2) continue;
        bool ok = true;
        for (size_t j = 0; j < nw / 2 && ok; j++) {
            bool found = false;
            for (size_t m = 1; m < t->n_labels && !found; m++)
                found = nc_span_eq(t->labels[m].name, t->labels[m].name_len, want[2 * j]) &&
                        nc_span_eq(t->labels[m].value, t->labels[m].value_len, want[2 * j + 1]);
            ok = found;
        }
        if (ok) return t->samples[0].v;
    }
    return NAN;
}

static size_t nc_count(const srv_node_out *o, const char *name) {
    size_t c = 0;
    for (size_t i = 0; i < o->n; i++)
        if (nc_span_eq(o->ts[i].labels[0].value, o->ts[i].labels[0].value_len, name)) c++;
    return c;
}

#define CHECK_NEAR(exp, act)                                                     \
    do {                                                                        \
        double e_ = (exp), a_ = (act);                                          \
        if (!(fabs(e_ - a_) <= 1e-9 * fabs(e_) + 1e-12))                        \
            FAILF("%s: expected %.17g, got %.17g", #act, e_, a_);               \
    } while (0)

static char *nc_read(const char *rel, size_t *len) {
    FILE *f = fopen(nc_fixture(rel), "rb");
    if (!f) {
        FAILF("cannot open fixture %s", rel);
        *len = 0;
        return calloc(1, 1);
    }
    char *b = malloc(1 << 16);
    *len = fread(b, 1, (1 << 16) - 1, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

/* ---- parsers on fixtures ---- */

TEST(test_node_stat_cpu_and_counters) {
    size_t len;
    char *s = nc_read("proc/stat", &len);
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_stat, s, len, &a, &o));
    double hz = (double)sysconf(_SC_CLK_TCK);
    CHECK_EQ_INT(16, nc_count(&o, "node_cpu_seconds_total")); /* 2 cpus x 8 modes, no total */
    CHECK_EQ_INT(4, nc_count(&o, "node_cpu_guest_seconds_total"));
    CHECK_NEAR(100 / hz, nc_get(&o, "node_cpu_seconds_total", "cpu", "0", "mode", "user", NULL));
    CHECK_NEAR(4500 / hz, nc_get(&o, "node_cpu_seconds_total", "cpu", "1", "mode", "idle", NULL));
    CHECK_NEAR(2 / hz, nc_get(&o, "node_cpu_seconds_total", "cpu", "1", "mode", "steal", NULL));
    CHECK_NEAR(7 / hz, nc_get(&o, "node_cpu_guest_seconds_total", "cpu", "0", "mode", "user", NULL));
    CHECK_NEAR(1 / hz, nc_get(&o, "node_cpu_guest_seconds_total", "cpu", "0", "mode", "nice", NULL));
    CHECK_EQ_DBL(123456, nc_get(&o, "node_intr_total", NULL));
    CHECK_EQ_DBL(987654, nc_get(&o, "node_context_switches_total", NULL));
    CHECK_EQ_DBL(1700000000, nc_get(&o, "node_boot_time_seconds", NULL));
    CHECK_EQ_DBL(4242, nc_get(&o, "node_forks_total", NULL));
    CHECK_EQ_DBL(3, nc_get(&o, "node_procs_running", NULL));
    CHECK_EQ_DBL(1, nc_get(&o, "node_procs_blocked", NULL));
    CHECK_EQ_INT(16 + 4 + 6, o.n);
    /* every series: one sample at NC_TS, job and instance last */
    for (size_t i = 0; i < o.n; i++) {
        const eng_ts *t = &o.ts[i];
        CHECK(t->n_samples == 1 && t->samples[0].ts == NC_TS);
        CHECK(nc_span_eq(t->labels[t->n_labels - 2].value, t->labels[t->n_labels - 2].value_len, "node"));
        CHECK(nc_span_eq(t->labels[t->n_labels - 1].value, t->labels[t->n_labels - 1].value_len, "testhost"));
    }
    ax_arena_clear(&a);
    free(s);
}

TEST(test_node_stat_garbled_lines_skipped) {
    static const char s[] = "cpu0 1 2 x 4\ncpuX 1 2\ncpu 1 2 3\ncpu12345678901 1 2\nintr\n"
                            "ctxt abc\nbtime 1e400\nprocs_running 2\n\xff\xfe\x00garbage\ncpu1 5 6\n";
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_stat, s, sizeof s - 1, &a, &o));
    double hz = (double)sysconf(_SC_CLK_TCK);
    /* cpu0 stops at the bad field: user and nice only */
    CHECK_EQ_INT(4, nc_count(&o, "node_cpu_seconds_total"));
    CHECK_NEAR(2 / hz, nc_get(&o, "node_cpu_seconds_total", "cpu", "0", "mode", "nice", NULL));
    CHECK_NEAR(5 / hz, nc_get(&o, "node_cpu_seconds_total", "cpu", "1", "mode", "user", NULL));
    CHECK_EQ_DBL(2, nc_get(&o, "node_procs_running", NULL));
    CHECK(isnan(nc_get(&o, "node_context_switches_total", NULL)));
    CHECK(isinf(nc_get(&o, "node_boot_time_seconds", NULL))); /* strtod: 1e400 -> Inf */
    ax_arena_clear(&a);
}

TEST(test_node_loadavg) {
    ax_arena a;
    srv_node_out o;
    const char *s = "0.50 1.25 2.00 2/345 6789\n";
    CHECK_EQ_INT(0, nc_run(srv_node_parse_loadavg, s, strlen(s), &a, &o));
    CHECK_EQ_DBL(0.5, nc_get(&o, "node_load1", NULL));
    CHECK_EQ_DBL(1.25, nc_get(&o, "node_load5", NULL));
    CHECK_EQ_DBL(2, nc_get(&o, "node_load15", NULL));
    ax_arena_clear(&a);
    const char *bad[] = {"", "0.5 x 2", "0.5 1", "\n0.5 1 2", "nan inf 1", "0.5 1 2."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(0, nc_run(srv_node_parse_loadavg, bad[i], strlen(bad[i]), &a, &o));
        if (i < 5) CHECK_EQ_INT(0, o.n);
        ax_arena_clear(&a);
    }
}

TEST(test_node_meminfo_names_and_units) {
    size_t len;
    char *s = nc_read("proc/meminfo", &len);
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_meminfo, s, len, &a, &o));
    CHECK_EQ_INT(7, o.n);
    CHECK_EQ_DBL(16384000.0 * 1024, nc_get(&o, "node_memory_MemTotal_bytes", NULL));
    CHECK_EQ_DBL(512.0 * 1024, nc_get(&o, "node_memory_Active_anon_bytes", NULL));
    CHECK_EQ_DBL(256.0 * 1024, nc_get(&o, "node_memory_Inactive_file_bytes", NULL));
    CHECK_EQ_DBL(4, nc_get(&o, "node_memory_HugePages_Total", NULL));
    CHECK_EQ_DBL(2048.0 * 1024, nc_get(&o, "node_memory_Hugepagesize_bytes", NULL));
    CHECK_EQ_DBL(100.0 * 1024, nc_get(&o, "node_memory_DirectMap4k_bytes", NULL));
    ax_arena_clear(&a);
    free(s);
    /* bad keys (invalid metric names), units other than kB, missing values: dropped */
    const char *g = "Bad-Key: 5 kB\nX: 1 MB\nNoValue:\n: 3 kB\n\xc3\x28: 1 kB\nOk: 2 kB extra\nGood: 7\n";
    CHECK_EQ_INT(0, nc_run(srv_node_parse_meminfo, g, strlen(g), &a, &o));
    CHECK_EQ_INT(1, o.n);
    CHECK_EQ_DBL(7, nc_get(&o, "node_memory_Good", NULL));
    CHECK(o.dropped >= 1);
    ax_arena_clear(&a);
}

TEST(test_node_diskstats_exclude_and_units) {
    size_t len;
    char *s = nc_read("proc/diskstats", &len);
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_diskstats, s, len, &a, &o));
    /* sda1, loop0, nvme0n1p1, ram0 excluded; sda (11 fields), nvme0n1 (17), dm-0 (15) kept */
    CHECK_EQ_INT(3, nc_count(&o, "node_disk_info"));
    CHECK_EQ_DBL(1, nc_get(&o, "node_disk_info", "device", "sda", "major", "8", "minor", "0", NULL));
    CHECK(isnan(nc_get(&o, "node_disk_reads_completed_total", "device", "sda1", NULL)));
    CHECK(isnan(nc_get(&o, "node_disk_reads_completed_total", "device", "loop0", NULL)));
    CHECK(isnan(nc_get(&o, "node_disk_reads_completed_total", "device", "nvme0n1p1", NULL)));
    CHECK_EQ_DBL(100, nc_get(&o, "node_disk_reads_completed_total", "device", "sda", NULL));
    CHECK_EQ_DBL(2, nc_get(&o, "node_disk_reads_merged_total", "device", "sda", NULL));
    CHECK_EQ_DBL(800.0 * 512, nc_get(&o, "node_disk_read_bytes_total", "device", "sda", NULL));
    CHECK_NEAR(0.04, nc_get(&o, "node_disk_read_time_seconds_total", "device", "sda", NULL));
    CHECK_EQ_DBL(1600.0 * 512, nc_get(&o, "node_disk_written_bytes_total", "device", "sda", NULL));
    CHECK_EQ_DBL(1, nc_get(&o, "node_disk_io_now", "device", "sda", NULL));
    CHECK_NEAR(0.12, nc_get(&o, "node_disk_io_time_seconds_total", "device", "sda", NULL));
    CHECK_NEAR(0.13, nc_get(&o, "node_disk_io_time_weighted_seconds_total", "device", "sda", NULL));
    CHECK(isnan(nc_get(&o, "node_disk_discards_completed_total", "device", "sda", NULL)));
    CHECK_EQ_DBL(5, nc_get(&o, "node_disk_discards_completed_total", "device", "nvme0n1", NULL));
    CHECK_EQ_DBL(40, nc_get(&o, "node_disk_discarded_sectors_total", "device", "nvme0n1", NULL));
    CHECK_NEAR(0.007, nc_get(&o, "node_disk_discard_time_seconds_total", "device", "nvme0n1", NULL));
    CHECK_EQ_DBL(9, nc_get(&o, "node_disk_flush_requests_total", "device", "nvme0n1", NULL));
    CHECK_NEAR(0.011, nc_get(&o, "node_disk_flush_requests_time_seconds_total", "device", "nvme0n1", NULL));
    CHECK_EQ_DBL(15, nc_get(&o, "node_disk_discard_time_seconds_total", "device", "dm-0", NULL) * 1000);
    CHECK(isnan(nc_get(&o, "node_disk_flush_requests_total", "device", "dm-0", NULL)));
    CHECK_EQ_INT(1 + 11 + 1 + 17 + 1 + 15, o.n);
    ax_arena_clear(&a);
    free(s);
}

TEST(test_node_mounts_filters_statfs_and_dedupe) {
    size_t len;
    char *s = nc_read("proc/mounts", &len);
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_mounts, s, len, &a, &o));
    /* kept: / (twice in the file, once out), /tmp, "/no such/..." (statfs fails) */
    CHECK_EQ_INT(3, nc_count(&o, "node_filesystem_device_error"));
    CHECK_EQ_INT(3, nc_count(&o, "node_filesystem_readonly"));
    CHECK_EQ_INT(2, nc_count(&o, "node_filesystem_size_bytes"));
    CHECK_EQ_DBL(0, nc_get(&o, "node_filesystem_device_error", "device", "/dev/root", "fstype", "ext4",
                           "mountpoint", "/", NULL));
    CHECK(nc_get(&o, "node_filesystem_size_bytes", "device", "/dev/root", "fstype", "ext4",
                 "mountpoint", "/", NULL) > 0);
    CHECK(nc_get(&o, "node_filesystem_files", "device", "tmpfs", "fstype", "tmpfs", "mountpoint",
                 "/tmp", NULL) >= 0);
    CHECK_EQ_DBL(1, nc_get(&o, "node_filesystem_device_error", "device", "/dev/sdb1", "fstype", "ext4",
                           "mountpoint", "/no such/auspex-fixture", NULL));
    CHECK_EQ_DBL(1, nc_get(&o, "node_filesystem_readonly", "device", "/dev/sdb1", "fstype", "ext4",
                           "mountpoint", "/no such/auspex-fixture", NULL));
    CHECK_EQ_INT(3 * 2 + 2 * 5, o.n);
    ax_arena_clear(&a);
    free(s);
}

TEST(test_node_netdev) {
    size_t len;
    char *s = nc_read("proc/net/dev", &len);
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_netdev, s, len, &a, &o));
    CHECK_EQ_INT(17, o.n); /* eth0: 16 + nohandler from sys; lo excluded; headers skipped */
    CHECK_EQ_DBL(1000, nc_get(&o, "node_network_receive_bytes_total", "device", "eth0", NULL));
    CHECK_EQ_DBL(6, nc_get(&o, "node_network_receive_multicast_total", "device", "eth0", NULL));
    CHECK_EQ_DBL(2000, nc_get(&o, "node_network_transmit_bytes_total", "device", "eth0", NULL));
    CHECK_EQ_DBL(10, nc_get(&o, "node_network_transmit_colls_total", "device", "eth0", NULL));
    CHECK_EQ_DBL(11, nc_get(&o, "node_network_transmit_carrier_total", "device", "eth0", NULL));
    CHECK_EQ_DBL(12, nc_get(&o, "node_network_transmit_compressed_total", "device", "eth0", NULL));
    CHECK_EQ_DBL(7, nc_get(&o, "node_network_receive_nohandler_total", "device", "eth0", NULL));
    CHECK(isnan(nc_get(&o, "node_network_receive_bytes_total", "device", "lo", NULL)));
    ax_arena_clear(&a);
    free(s);
    const char *g = "x: 1 2\n../../etc: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
    CHECK_EQ_INT(0, nc_run(srv_node_parse_netdev, g, strlen(g), &a, &o));
    CHECK_EQ_INT(16, o.n); /* "../../etc" is a name like any other, but never a path */
    ax_arena_clear(&a);
}

TEST(test_node_netstat_default_fields) {
    size_t len;
    char *s = nc_read("proc/net/snmp", &len);
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_netstat, s, len, &a, &o));
    CHECK_EQ_DBL(1, nc_get(&o, "node_netstat_Ip_Forwarding", NULL));
    CHECK_EQ_DBL(11, nc_get(&o, "node_netstat_Tcp_ActiveOpens", NULL));
    CHECK_EQ_DBL(22, nc_get(&o, "node_netstat_Tcp_PassiveOpens", NULL));
    CHECK_EQ_DBL(3, nc_get(&o, "node_netstat_Tcp_CurrEstab", NULL));
    CHECK_EQ_DBL(4, nc_get(&o, "node_netstat_Tcp_InErrs", NULL));
    CHECK_EQ_DBL(5, nc_get(&o, "node_netstat_Udp_InDatagrams", NULL));
    CHECK_EQ_DBL(9, nc_get(&o, "node_netstat_UdpLite_InErrors", NULL));
    CHECK(isnan(nc_get(&o, "node_netstat_Tcp_MaxConn", NULL)));
    CHECK(isnan(nc_get(&o, "node_netstat_Ip_DefaultTTL", NULL)));
    CHECK_EQ_INT(10, o.n);
    ax_arena_clear(&a);
    free(s);
    s = nc_read("proc/net/netstat", &len);
    CHECK_EQ_INT(0, nc_run(srv_node_parse_netstat, s, len, &a, &o));
    CHECK_EQ_DBL(1, nc_get(&o, "node_netstat_TcpExt_SyncookiesSent", NULL));
    CHECK_EQ_DBL(2, nc_get(&o, "node_netstat_TcpExt_ListenDrops", NULL));
    CHECK_EQ_DBL(3, nc_get(&o, "node_netstat_TcpExt_TCPTimeouts", NULL));
    CHECK_EQ_DBL(1000, nc_get(&o, "node_netstat_IpExt_InOctets", NULL));
    CHECK_EQ_INT(5, o.n);
    ax_arena_clear(&a);
    free(s);
    /* header without values, more values than names, a lone values line */
    const char *g = "Tcp: CurrEstab\nUdp: InErrors NoPorts\nUdp: 1 2 3\nTcp: 5\nIp: Forwarding\n";
    CHECK_EQ_INT(0, nc_run(srv_node_parse_netstat, g, strlen(g), &a, &o));
    CHECK_EQ_INT(2, o.n);
    CHECK_EQ_DBL(1, nc_get(&o, "node_netstat_Udp_InErrors", NULL));
    CHECK_EQ_DBL(2, nc_get(&o, "node_netstat_Udp_NoPorts", NULL));
    ax_arena_clear(&a);
}

TEST(test_node_snmp6) {
    size_t len;
    char *s = nc_read("proc/net/snmp6", &len);
    ax_arena a;
    srv_node_out o;
    CHECK_EQ_INT(0, nc_run(srv_node_parse_snmp6, s, len, &a, &o));
    CHECK_EQ_DBL(256, nc_get(&o, "node_netstat_Ip6_InOctets", NULL));
    CHECK_EQ_DBL(3, nc_get(&o, "node_netstat_Icmp6_InMsgs", NULL));
    CHECK_EQ_DBL(4, nc_get(&o, "node_netstat_Udp6_InDatagrams", NULL));
    CHECK_EQ_DBL(5, nc_get(&o, "node_netstat_UdpLite6_InErrors", NULL));
    CHECK_EQ_INT(4, o.n);
    ax_arena_clear(&a);
    free(s);
}

TEST(test_node_sockstat_pages_to_bytes) {
    size_t len;
    char *s = nc_read("proc/net/sockstat", &len);
    ax_arena a;
    srv_node_out o;
    double page = (double)sysconf(_SC_PAGESIZE);
    CHECK_EQ_INT(0, nc_run(srv_node_parse_sockstat, s, len, &a, &o));
    CHECK_EQ_DBL(13, nc_get(&o, "node_sockstat_sockets_used", NULL));
    CHECK_EQ_DBL(2, nc_get(&o, "node_sockstat_TCP_inuse", NULL));
    CHECK_EQ_DBL(1, nc_get(&o, "node_sockstat_TCP_tw", NULL));
    CHECK_EQ_DBL(10, nc_get(&o, "node_sockstat_TCP_mem", NULL));
    CHECK_EQ_DBL(10 * page, nc_get(&o, "node_sockstat_TCP_mem_bytes", NULL));
    CHECK_EQ_DBL(2 * page, nc_get(&o, "node_sockstat_UDP_mem_bytes", NULL));
    CHECK_EQ_DBL(0, nc_get(&o, "node_sockstat_FRAG_memory", NULL));
    CHECK(isnan(nc_get(&o, "node_sockstat_FRAG_memory_bytes", NULL)));
    CHECK_EQ_INT(1 + 5 + 1 + 2 + 1 + 2, o.n);
    ax_arena_clear(&a);
    free(s);
}

TEST(test_node_small_files) {
    ax_arena a;
    srv_node_out o;
    const char *fd = "423\t0\t2466170\n";
    CHECK_EQ_INT(0, nc_run(srv_node_parse_filefd, fd, strlen(fd), &a, &o));
    CHECK_EQ_DBL(423, nc_get(&o, "node_filefd_allocated", NULL));
    CHECK_EQ_DBL(2466170, nc_get(&o, "node_filefd_maximum", NULL));
    ax_arena_clear(&a);

    size_t len;
    char *s = nc_read("proc/vmstat", &len);
    CHECK_EQ_INT(0, nc_run(srv_node_parse_vmstat, s, len, &a, &o));
    CHECK_EQ_INT(7, o.n); /* pgpgin pgpgout pswpin pswpout pgfault pgmajfault oom_kill */
    CHECK_EQ_DBL(300, nc_get(&o, "node_vmstat_pgfault", NULL));
    CHECK_EQ_DBL(4, nc_get(&o, "node_vmstat_pgmajfault", NULL));
    CHECK_EQ_DBL(1, nc_get(&o, "node_vmstat_oom_kill", NULL));
    CHECK(isnan(nc_get(&o, "node_vmstat_numfault", NULL)));
    ax_arena_clear(&a);
    free(s);

    s = nc_read("proc/net/softnet_stat", &len);
    CHECK_EQ_INT(0, nc_run(srv_node_parse_softnet, s, len, &a, &o));
    CHECK_EQ_DBL(10, nc_get(&o, "node_softnet_processed_total", "cpu", "0", NULL));
    CHECK_EQ_DBL(255, nc_get(&o, "node_softnet_processed_total", "cpu", "1", NULL));
    CHECK_EQ_DBL(3, nc_get(&o, "node_softnet_times_squeezed_total", "cpu", "1", NULL));
    CHECK_EQ_INT(6, o.n);
    ax_arena_clear(&a);
    free(s);

    const char *psi = "some avg10=0.00 total=1500000\nfull avg10=0.00 total=7\n";
    ax_arena_init(&a, 1 << 20);
    srv_node_out_init(&o, nc_node(), &a, NC_TS);
    CHECK_EQ_INT(0, srv_node_parse_pressure(nc_node(), &o, "cpu", psi, strlen(psi)));
    CHECK_EQ_INT(0, srv_node_parse_pressure(nc_node(), &o, "io", psi, strlen(psi)));
    CHECK_EQ_DBL(1.5, nc_get(&o, "node_pressure_cpu_waiting_seconds_total", NULL));
    CHECK(isnan(nc_get(&o, "node_pressure_cpu_stalled_seconds_total", NULL)));
    CHECK_EQ_DBL(7e-6, nc_get(&o, "node_pressure_io_stalled_seconds_total", NULL));
    CHECK_EQ_INT(3, o.n);
    CHECK_EQ_INT(0, srv_node_parse_single(nc_node(), &o, "node_entropy_available_bits", "256\n", 4));
    CHECK_EQ_INT(0, srv_node_parse_single(nc_node(), &o, "node_entropy_pool_size_bits", "25 6\n", 5));
    CHECK_EQ_DBL(256, nc_get(&o, "node_entropy_available_bits", NULL));
    CHECK_EQ_INT(4, o.n);
    ax_arena_clear(&a);
}

/* ---- robustness ---- */

static const struct { const char *file; nc_parse_fn fn; } NC_FILES[] = {
    {"proc/stat", srv_node_parse_stat},         {"proc/loadavg", srv_node_parse_loadavg},
    {"proc/meminfo", srv_node_parse_meminfo},   {"proc/diskstats", srv_node_parse_diskstats},
    {"proc/mounts", srv_node_parse_mounts},     {"proc/net/dev", srv_node_parse_netdev},
    {"proc/net/netstat", srv_node_parse_netstat}, {"proc/net/snmp", srv_node_parse_netstat},
    {"proc/net/snmp6", srv_node_parse_snmp6},   {"proc/net/sockstat", srv_node_parse_sockstat},
    {"proc/net/softnet_stat", srv_node_parse_softnet}, {"proc/sys/fs/file-nr", srv_node_parse_filefd},
    {"proc/vmstat", srv_node_parse_vmstat},
};

TEST(test_node_every_truncation_and_every_parser_on_every_file) {
    for (size_t f = 0; f < sizeof NC_FILES / sizeof NC_FILES[0]; f++) {
        size_t len;
        char *s = nc_read(NC_FILES[f].file, &len);
        ax_arena a;
        srv_node_out o;
        CHECK_EQ_INT(0, nc_run(NC_FILES[f].fn, s, len, &a, &o));
        size_t full = o.n;
        ax_arena_clear(&a);
        for (size_t cut = 0; cut < len; cut++) {
            int rc = nc_run(NC_FILES[f].fn, s, cut, &a, &o);
            if (rc || o.n > full) FAILF("%s cut at %zu: rc %d, %zu series (full %zu)",
                                       NC_FILES[f].file, cut, rc, o.n, full);
            ax_arena_clear(&a);
        }
        for (size_t g = 0; g < sizeof NC_FILES / sizeof NC_FILES[0]; g++) {
            if (nc_run(NC_FILES[g].fn, s, len, &a, &o)) FAILF("%s fed to parser %zu", NC_FILES[f].file, g);
            ax_arena_clear(&a);
        }
        free(s);
    }
}

TEST(test_node_oversized_input) {
    /* a 4 MB line, a line with 100k fields, a 5000-byte metric name, huge numbers */
    size_t len = 4u << 20;
    char *s = malloc(len);
    memset(s, '7', len);
    ax_arena a;
    srv_node_out o;
    for (size_t f = 0; f < sizeof NC_FILES / sizeof NC_FILES[0]; f++) {
        CHECK_EQ_INT(0, nc_run(NC_FILES[f].fn, s, len, &a, &o));
        ax_arena_clear(&a);
    }
    for (size_t i = 0; i < len; i += 2) s[i] = ' ';
    for (size_t f = 0; f < sizeof NC_FILES / sizeof NC_FILES[0]; f++) {
        CHECK_EQ_INT(0, nc_run(NC_FILES[f].fn, s, len, &a, &o));
        ax_arena_clear(&a);
    }
    memset(s, 'A', 5000);
    memcpy(s + 5000, ": 1 kB\n", 7);
    CHECK_EQ_INT(0, nc_run(srv_node_parse_meminfo, s, 5007, &a, &o));
    CHECK_EQ_INT(0, o.n);
    ax_arena_clear(&a);
    const char *big = "ctxt 99999999999999999999999999999999999999\n";
    CHECK_EQ_INT(0, nc_run(srv_node_parse_stat, big, strlen(big), &a, &o));
    CHECK_EQ_DBL(1e38, nc_get(&o, "node_context_switches_total", NULL) / 1e38 > 0.99 ? 1e38 : 0);
    ax_arena_clear(&a);
    free(s);
}

TEST(test_node_arena_budget_exhausted) {
    /* 20000 vmstat lines into a 256 KB arena: AX_ETOOBIG, what was appended stays valid */
    size_t cap = 20000 * 24, len = 0;
    char *s = malloc(cap);
    for (int i = 0; i < 20000; i++) len += (size_t)snprintf(s + len, cap - len, "pgfault%d %d\n", i, i);
    ax_arena a;
    ax_arena_init(&a, 256 * 1024);
    srv_node_out o;
    CHECK_EQ_INT(0, srv_node_out_init(&o, nc_node(), &a, NC_TS));
    CHECK_EQ_INT(AX_ETOOBIG, srv_node_parse_vmstat(nc_node(), &o, s, len));
    CHECK(o.n > 0 && o.n < 20000);
    for (size_t i = 0; i < o.n; i++) CHECK(o.ts[i].n_samples == 1 && o.ts[i].n_labels == 3);
    ax_arena_clear(&a);
    free(s);
}

/* ---- whole collection over the fixture tree ---- */

TEST(test_node_collect_fixture_tree) {
    ax_arena a;
    ax_arena_init(&a, 16u << 20);
    eng_ts *ts = NULL;
    size_t n = 0;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_node_collect(nc_node(), NC_TS, &a, &ts, &n, &e));
    srv_node_out o = {.ts = ts, .n = n};
    CHECK(n > 150);
    CHECK_EQ_DBL(0.5, nc_get(&o, "node_load1", NULL));
    CHECK_EQ_DBL(16384000.0 * 1024, nc_get(&o, "node_memory_MemTotal_bytes", NULL));
    CHECK_EQ_DBL(11, nc_get(&o, "node_netstat_Tcp_ActiveOpens", NULL));
    CHECK_EQ_DBL(256, nc_get(&o, "node_netstat_Ip6_InOctets", NULL));
    CHECK_EQ_DBL(1, nc_get(&o, "node_sockstat_TCP6_inuse", NULL));
    CHECK_EQ_DBL(256, nc_get(&o, "node_entropy_pool_size_bits", NULL));
    CHECK_EQ_DBL(2, nc_get(&o, "node_pressure_io_waiting_seconds_total", NULL));
    CHECK(isnan(nc_get(&o, "node_pressure_memory_waiting_seconds_total", NULL))); /* no file */
    CHECK_EQ_DBL(1, nc_get(&o, "node_filesystem_device_error", "device", "/dev/sdb1", "fstype",
                           "ext4", "mountpoint", "/no such/auspex-fixture", NULL));
    /* /sys/class/net */
    CHECK_EQ_DBL(1, nc_get(&o, "node_network_info", "device", "eth0", "address", "02:fc:00:00:00:01",
                           "broadcast", "ff:ff:ff:ff:ff:ff", "duplex", "full", "ifalias", "",
                           "operstate", "up", NULL));
    CHECK_EQ_DBL(1, nc_get(&o, "node_network_up", "device", "eth0", NULL));
    CHECK_EQ_DBL(0, nc_get(&o, "node_network_up", "device", "lo", NULL));
    CHECK_EQ_DBL(1400, nc_get(&o, "node_network_mtu_bytes", "device", "eth0", NULL));
    CHECK_EQ_DBL(65536, nc_get(&o, "node_network_mtu_bytes", "device", "lo", NULL));
    CHECK_EQ_DBL(125000000, nc_get(&o, "node_network_speed_bytes", "device", "eth0", NULL));
    CHECK_EQ_DBL(4099, nc_get(&o, "node_network_flags", "device", "eth0", NULL));
    CHECK_EQ_DBL(0, nc_get(&o, "node_network_device_id", "device", "eth0", NULL));
    CHECK_EQ_DBL(772, nc_get(&o, "node_network_protocol_type", "device", "lo", NULL));
    CHECK(isnan(nc_get(&o, "node_network_flags", "device", "lo", NULL)));    /* garbage */
    CHECK(isnan(nc_get(&o, "node_network_speed_bytes", "device", "lo", NULL))); /* no file */
    CHECK_EQ_INT(2, nc_count(&o, "node_network_info")); /* bonding_masters is a file */
    CHECK_EQ_DBL(1, nc_get(&o, "node_time_clocksource_current_info", "clocksource", "tsc", "device", "0", NULL));
    CHECK_EQ_INT(3, nc_count(&o, "node_time_clocksource_available_info"));
    CHECK_EQ_DBL(1700000000.0, nc_get(&o, "node_time_seconds", NULL));
    CHECK_EQ_INT(1, nc_count(&o, "node_uname_info"));
    /* every series valid for eng_write: normalise a copy of each label set */
    for (size_t i = 0; i < n; i++) {
        ax_label ls[AX_MAX_LABELS];
        size_t nl = ts[i].n_labels, kept = 0;
        memcpy(ls, ts[i].labels, nl * sizeof *ls);
        ax_err le = {0};
        if (ax_labels_normalize(ls, nl, &kept, &le)) FAILF("series %zu: %s", i, le.msg);
    }
    ax_arena_clear(&a);
}

TEST(test_node_collect_missing_roots_is_quiet) {
    srv_node *n = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(0, srv_node_new("/nonexistent-auspex/proc", "/nonexistent-auspex/sys", "h", &n, &e));
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    eng_ts *ts = NULL;
    size_t cnt = 0;
    CHECK_EQ_INT(0, srv_node_collect(n, NC_TS, &a, &ts, &cnt, &e));
    srv_node_out o = {.ts = ts, .n = cnt};
    CHECK_EQ_INT(3, cnt); /* uname, time, time zone: no /proc or /sys needed */
    CHECK_EQ_INT(1, nc_count(&o, "node_time_seconds"));
    ax_arena_clear(&a);
    srv_node_free(n);
    CHECK_EQ_INT(AX_EINVAL, srv_node_new("", "/sys", "h", &n, &e));
    CHECK_EQ_INT(AX_EINVAL, srv_node_new("/proc", "/sys", NULL, &n, &e));
    srv_node_free(NULL);
}

TEST(test_node_collect_arena_too_small) {
    ax_arena a;
    ax_arena_init(&a, 8 * 1024);
    eng_ts *ts = (eng_ts *)1;
    size_t cnt = 12345;
    ax_err e = {0};
    CHECK_EQ_INT(AX_ETOOBIG, srv_node_collect(nc_node(), NC_TS, &a, &ts, &cnt, &e));
    CHECK(ts == (eng_ts *)1 && cnt == 12345); /* OUT params untouched on failure */
    CHECK(strstr(e.msg, "arena") != NULL);
    ax_arena_clear(&a);
}
