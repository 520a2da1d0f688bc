/* server/node_collector.c: the built-in node collector (see node_collector.h and
 * docs/node-collector.md).
 *
 * Every tick reads the /proc files and /sys folders node_exporter 1.5's default
 * collectors read and turns them into eng_ts series under the same names, labels and
 * units: ticks become seconds (USER_HZ), milliseconds become seconds, sectors become bytes
 * (512), pages become bytes, kB become bytes. Each /proc file has its own parser that
 * takes a buffer and skips whatever does not parse, so unit tests and the fuzz target can
 * feed them anything; the /sys walks (network class, clock sources) and statfs() of the
 * mount points read the files themselves.
 *
 * Filters are node_exporter's defaults as built for Debian (the peer installed here):
 *   diskstats device exclude ^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$
 *   filesystem mount points ^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|
 *     var/lib/containers/storage/.+)($|/), fs types autofs ... tracefs (FSTYPE_RE below)
 *   netdev device exclude ^lo$; netstat fields and vmstat fields as NETSTAT_RE, VMSTAT_RE.
 *
 * The run: a uv_timer on the loop fires every interval; when no collection is in flight
 * it queues one (uv_queue_work): collect into a fresh arena, eng_write (blocks until
 * durable), clear the arena. States: IDLE -(timer)-> BUSY -(after_work)-> IDLE;
 * any -(srv_node_stop)-> STOPPING: the timer is closed, and the run is freed by whichever
 * of the timer close callback and after_work comes last.
 */
#include "server/node_collector.h"
#include "server/app.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define DISK_RE "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme[0-9]+n[0-9]+p)[0-9]+$"
#define MOUNT_RE "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
#define FSTYPE_RE                                                                              \
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"   \
    "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|" \
    "sysfs|tracefs)$"
#define NETSTAT_RE                                                                             \
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|"     \
    "OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|"     \
    "InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|"          \
    "OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
#define VMSTAT_RE "^(oom_kill|pgpg|pswp|pg.*fault).*"

enum { RE_DISK, RE_MOUNT, RE_FSTYPE, RE_NETSTAT, RE_VMSTAT, RE_N };

struct srv_node {
    char *proc, *sys, *instance;
    double hz;    /* USER_HZ: /proc/stat ticks per second */
    double page;  /* bytes per page */
    regex_t re[RE_N];
    bool re_ok[RE_N];
    ax_buf file;  /* read buffer for srv_node_collect (one collection at a time) */
};

/* ---- small helpers: spans, lines, fields, numbers ---- */

typedef struct span {
    const char *p;
    size_t len;
} span;

/* The next line of [*p, end) without its '\n'; false at the end. */
static bool next_line(const char **p, const char *end, span *line) {
    if (*p >= end) return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *le = nl ? nl : end;
    line->p = *p;
    line->len = (size_t)(le - *p);
    *p = nl ? nl + 1 : end;
    return true;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Split a line on blanks into at most cap fields. Returns the count. */
static size_t split(span line, span *f, size_t cap) {
    const char *p = line.p, *end = line.p + line.len;
    size_t n = 0;
    while (n < cap) {
        while (p < end && is_ws(*p)) p++;
        if (p >= end) break;
        const char *s = p;
        while (p < end && !is_ws(*p)) p++;
        f[n].p = s;
        f[n].len = (size_t)(p - s);
        n++;
    }
    return n;
}

static bool span_eq(span s, const char *lit) {
    size_t l = strlen(lit);
    return s.len == l && !memcmp(s.p, lit, l);
}

/* Copy a span into a NUL-terminated buffer; false when it does not fit. */
static bool span_cstr(span s, char *out, size_t cap) {
    if (s.len >= cap) return false;
    memcpy(out, s.p, s.len);
    out[s.len] = 0;
    return true;
}

/* A decimal number: [+-]digits[.digits][e[+-]digits]. */
static bool tok_f64(span t, double *out) {
    char b[64];
    if (!t.len || !span_cstr(t, b, sizeof b)) return false;
    size_t i = 0;
    if (b[i] == '+' || b[i] == '-') i++;
    size_t d0 = i;
    while (b[i] >= '0' && b[i] <= '9') i++;
    if (i == d0) return false;
    if (b[i] == '.') {
        i++;
        while (b[i] >= '0' && b[i] <= '9') i++;
    }
    if (b[i] == 'e' || b[i] == 'E') {
        i++;
        if (b[i] == '+' || b[i] == '-') i++;
        size_t e0 = i;
        while (b[i] >= '0' && b[i] <= '9') i++;
        if (i == e0) return false;
    }
    if (b[i]) return false;
    *out = strtod(b, NULL);
    return true;
}

/* An integer as Go's ParseInt(s, 0, 64) takes the common cases: [-]decimal or 0x hex. */
static bool tok_int(span t, double *out) {
    char b[64];
    if (!t.len || !span_cstr(t, b, sizeof b)) return false;
    const char *s = b;
    bool neg = *s == '-';
    if (neg) s++;
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s) return false;
    double v = 0;
    for (; *s; s++) {
        int d;
        if (*s >= '0' && *s <= '9') d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
        else return false;
        v = v * base + d;
    }
    *out = neg ? -v : v;
    return true;
}

/* Hex number (softnet_stat, udp queues). */
static bool tok_hex(span t, double *out) {
    if (!t.len || t.len > 16) return false;
    double v = 0;
    for (size_t i = 0; i < t.len; i++) {
        char c = t.p[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return false;
        v = v * 16 + d;
    }
    *out = v;
    return true;
}

static bool node_re_match(const srv_node *n, int which, span s) {
    char b[512];
    if (!n->re_ok[which] || !span_cstr(s, b, sizeof b) || memchr(s.p, 0, s.len)) return false;
    return regexec(&n->re[which], b, 0, NULL, 0) == 0;
}

/* ---- output ---- */

typedef struct kv {
    const char *name; /* static string */
    span v;
} kv;

static kv KV(const char *name, span v) {
    kv r = {name, v};
    return r;
}
static kv KVS(const char *name, const char *v) {
    kv r = {name, {v, strlen(v)}};
    return r;
}

int srv_node_out_init(srv_node_out *o, const srv_node *n, ax_arena *a, int64_t now_ms) {
    memset(o, 0, sizeof *o);
    o->a = a;
    o->ts_ms = now_ms;
    size_t il = strlen(n->instance);
    char *inst = ax_arena_dup(a, n->instance, il);
    if (!inst) return AX_ETOOBIG;
    o->extra[0] = (ax_label){"job", "node", 3, 4};
    o->extra[1] = (ax_label){"instance", inst, 8, (uint32_t)il};
    o->n_extra = 2;
    return 0;
}

/* Append one series name{l...} v. A bad name or label value drops the series (counted in
 * o->dropped), it is not an error. Returns 0 or AX_ETOOBIG (arena). */
static int put(srv_node_out *o, const char *name, const kv *l, size_t nl, double v) {
    size_t name_len = strlen(name);
    if (!ax_metric_name_valid(name, name_len) || nl > 16 || o->n >= SRV_NODE_MAX_SERIES) {
        o->dropped++;
        return 0;
    }
    for (size_t i = 0; i < nl; i++)
        if (l[i].v.len > AX_MAX_LABEL_VALUE || !ax_utf8_valid(l[i].v.p, l[i].v.len)) {
            o->dropped++;
            return 0;
        }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        eng_ts *ts = ax_arena_alloc(o->a, cap * sizeof *ts);
        if (!ts) return AX_ETOOBIG;
        if (o->n) memcpy(ts, o->ts, o->n * sizeof *ts);
        o->ts = ts;
        o->cap = cap;
    }
    size_t nlab = 1 + nl + o->n_extra;
    ax_label *ls = ax_arena_alloc(o->a, nlab * sizeof *ls);
    eng_sample *s = ax_arena_alloc(o->a, sizeof *s);
    char *nm = ax_arena_dup(o->a, name, name_len);
    if (!ls || !s || !nm) return AX_ETOOBIG;
    ls[0] = (ax_label){"__name__", nm, 8, (uint32_t)name_len};
    for (size_t i = 0; i < nl; i++) {
        const char *val = "";
        if (l[i].v.len && !(val = ax_arena_dup(o->a, l[i].v.p, l[i].v.len))) return AX_ETOOBIG;
        ls[1 + i] = (ax_label){l[i].name, val, (uint32_t)strlen(l[i].name), (uint32_t)l[i].v.len};
    }
    for (size_t i = 0; i < o->n_extra; i++) ls[1 + nl + i] = o->extra[i];
    s->ts = o->ts_ms;
    s->v = v;
    o->ts[o->n++] = (eng_ts){ls, nlab, s, 1};
    return 0;
}

/* name = prefix + a + b (+ suffix); false when too long. */
static bool mkname(char *out, size_t cap, const char *prefix, span a, const char *mid, span b,
                   const char *suffix) {
    int w = snprintf(out, cap, "%s%.*s%s%.*s%s", prefix, (int)a.len, a.p, mid, (int)b.len, b.p,
                     suffix);
    return w > 0 && (size_t)w < cap && a.len < cap && b.len < cap;
}

static const span NOSPAN = {"", 0};

/* ---- /proc/stat ---- */

int srv_node_parse_stat(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    static const char *modes[8] = {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"};
    const char *p = buf, *end = buf + len;
    span line, f[16];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        size_t nf = split(line, f, 16);
        if (nf < 2) continue;
        double v;
        if (f[0].len > 3 && !memcmp(f[0].p, "cpu", 3)) {
            span id = {f[0].p + 3, f[0].len - 3};
            bool digits = id.len <= 10;
            for (size_t i = 0; i < id.len && digits; i++) digits = id.p[i] >= '0' && id.p[i] <= '9';
            if (!digits) continue;
            kv l[2] = {KV("cpu", id), {"mode", NOSPAN}};
            for (size_t i = 1; i < nf && i <= 10 && !rc; i++) {
                if (!tok_f64(f[i], &v)) break;
                if (i <= 8) {
                    l[1] = KVS("mode", modes[i - 1]);
                    rc = put(o, "node_cpu_seconds_total", l, 2, v / n->hz);
                } else {
                    l[1] = KVS("mode", i == 9 ? "user" : "nice");
                    rc = put(o, "node_cpu_guest_seconds_total", l, 2, v / n->hz);
                }
            }
            continue;
        }
        if (!tok_f64(f[1], &v)) continue;
        const char *name = NULL;
        if (span_eq(f[0], "intr")) name = "node_intr_total";
        else if (span_eq(f[0], "ctxt")) name = "node_context_switches_total";
        else if (span_eq(f[0], "btime")) name = "node_boot_time_seconds";
        else if (span_eq(f[0], "processes")) name = "node_forks_total";
        else if (span_eq(f[0], "procs_running")) name = "node_procs_running";
        else if (span_eq(f[0], "procs_blocked")) name = "node_procs_blocked";
        if (name) rc = put(o, name, NULL, 0, v);
    }
    return rc;
}

/* ---- /proc/loadavg ---- */

int srv_node_parse_loadavg(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    span line, f[3];
    const char *p = buf;
    if (!next_line(&p, buf + len, &line) || split(line, f, 3) != 3) return 0;
    double v[3];
    for (int i = 0; i < 3; i++)
        if (!tok_f64(f[i], &v[i])) return 0;
    int rc = put(o, "node_load1", NULL, 0, v[0]);
    if (!rc) rc = put(o, "node_load5", NULL, 0, v[1]);
    if (!rc) rc = put(o, "node_load15", NULL, 0, v[2]);
    return rc;
}

/* ---- /proc/meminfo ---- */

int srv_node_parse_meminfo(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, f[4];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        size_t nf = split(line, f, 4);
        if (nf < 2 || nf > 3 || f[0].len < 2 || f[0].p[f[0].len - 1] != ':') continue;
        if (nf == 3 && !span_eq(f[2], "kB")) continue;
        double v;
        if (!tok_f64(f[1], &v)) continue;
        /* key without ':'; "Active(anon)" -> "Active_anon" */
        char key[128];
        size_t kl = 0;
        bool ok = f[0].len - 1 < sizeof key;
        for (size_t i = 0; ok && i < f[0].len - 1; i++) {
            char c = f[0].p[i];
            if (c == '(') c = '_';
            else if (c == ')') continue;
            key[kl++] = c;
        }
        if (!ok) continue;
        char name[192];
        span k = {key, kl};
        if (!mkname(name, sizeof name, "node_memory_", k, "", NOSPAN, nf == 3 ? "_bytes" : ""))
            continue;
        rc = put(o, name, NULL, 0, nf == 3 ? v * 1024 : v);
    }
    return rc;
}

/* ---- /proc/diskstats ---- */

int srv_node_parse_diskstats(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    /* field index after the name (1-based as in Documentation/admin-guide/iostats.rst),
     * metric name, scale */
    static const struct { int i; const char *name; double scale; } M[] = {
        {1, "node_disk_reads_completed_total", 1},
        {2, "node_disk_reads_merged_total", 1},
        {3, "node_disk_read_bytes_total", 512},
        {4, "node_disk_read_time_seconds_total", 0.001},
        {5, "node_disk_writes_completed_total", 1},
        {6, "node_disk_writes_merged_total", 1},
        {7, "node_disk_written_bytes_total", 512},
        {8, "node_disk_write_time_seconds_total", 0.001},
        {9, "node_disk_io_now", 1},
        {10, "node_disk_io_time_seconds_total", 0.001},
        {11, "node_disk_io_time_weighted_seconds_total", 0.001},
        {12, "node_disk_discards_completed_total", 1},
        {13, "node_disk_discards_merged_total", 1},
        {14, "node_disk_discarded_sectors_total", 1},
        {15, "node_disk_discard_time_seconds_total", 0.001},
        {16, "node_disk_flush_requests_total", 1},
        {17, "node_disk_flush_requests_time_seconds_total", 0.001},
    };
    const char *p = buf, *end = buf + len;
    span line, f[24];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        size_t nf = split(line, f, 24);
        if (nf < 14) continue; /* major minor name + 11 fields at least */
        span dev = f[2];
        double maj, min, vals[18];
        if (!tok_int(f[0], &maj) || !tok_int(f[1], &min) || node_re_match(n, RE_DISK, dev)) continue;
        size_t nv = nf - 3 > 17 ? 17 : nf - 3;
        bool ok = true;
        for (size_t i = 0; i < nv && ok; i++) ok = tok_f64(f[3 + i], &vals[1 + i]);
        if (!ok) continue;
        /* node_exporter reads 11, 15 or 17 fields; a partial group is left out */
        size_t use = nv >= 17 ? 17 : nv >= 15 ? 15 : 11;
        kv l[3] = {KV("device", dev), KV("major", f[0]), KV("minor", f[1])};
        rc = put(o, "node_disk_info", l, 3, 1);
        for (size_t k = 0; k < sizeof M / sizeof M[0] && !rc; k++)
            if ((size_t)M[k].i <= use) rc = put(o, M[k].name, l, 1, vals[M[k].i] * M[k].scale);
    }
    return rc;
}

/* ---- mounts and statfs ---- */

/* Undo /proc/mounts' octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
static size_t unescape(span s, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < s.len && o + 1 < cap; i++) {
        const char *d = s.p + i + 1;
        if (s.p[i] == '\\' && i + 3 < s.len && d[0] >= '0' && d[0] <= '3' && d[1] >= '0' &&
            d[1] <= '7' && d[2] >= '0' && d[2] <= '7') {
            out[o++] = (char)((d[0] - '0') * 64 + (d[1] - '0') * 8 + (d[2] - '0'));
            i += 3;
            continue;
        }
        out[o++] = s.p[i];
    }
    out[o] = 0;
    return o;
}

int srv_node_parse_mounts(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, f[7];
    int rc = 0;
    /* dedupe (device, mountpoint, fstype) as node_exporter does: a hash set in the arena */
    uint64_t *seen = NULL;
    size_t seen_cap = 0, seen_n = 0;
    while (!rc && next_line(&p, end, &line)) {
        if (split(line, f, 7) < 4) continue;
        char mnt[4096], device[4096];
        size_t ml = unescape(f[1], mnt, sizeof mnt);
        size_t dl = unescape(f[0], device, sizeof device);
        span ms = {mnt, ml}, ds = {device, dl};
        if (!ml || memchr(mnt, 0, ml) || node_re_match(n, RE_MOUNT, ms) || node_re_match(n, RE_FSTYPE, f[2]))
            continue;
        uint64_t h = ax_hash(device, dl, ax_hash(mnt, ml, ax_hash(f[2].p, f[2].len, 7)));
        if (seen_n * 2 >= seen_cap) {
            size_t cap = seen_cap ? seen_cap * 2 : 64;
            uint64_t *t = ax_arena_alloc(o->a, cap * sizeof *t);
            if (!t) return AX_ETOOBIG;
            memset(t, 0, cap * sizeof *t);
            for (size_t i = 0; i < seen_cap; i++) {
                if (!seen[i]) continue;
                size_t j = seen[i] & (cap - 1);
                while (t[j]) j = (j + 1) & (cap - 1);
                t[j] = seen[i];
            }
            seen = t;
            seen_cap = cap;
        }
        if (!h) h = 1;
        size_t j = h & (seen_cap - 1);
        bool dup = false;
        while (seen[j] && !(dup = seen[j] == h)) j = (j + 1) & (seen_cap - 1);
        if (dup) continue;
        seen[j] = h;
        seen_n++;

        bool ro = false;
        span opt = f[3];
        for (size_t i = 0; i < opt.len;) {
            size_t k = i;
            while (k < opt.len && opt.p[k] != ',') k++;
            if (k - i == 2 && !memcmp(opt.p + i, "ro", 2)) ro = true;
            i = k + 1;
        }
        kv l[3] = {KV("device", ds), KV("fstype", f[2]), KV("mountpoint", ms)};
        struct statfs st;
        bool err = statfs(mnt, &st) != 0;
        rc = put(o, "node_filesystem_device_error", l, 3, err ? 1 : 0);
        if (!rc) rc = put(o, "node_filesystem_readonly", l, 3, ro ? 1 : 0);
        if (err || rc) continue;
        double bs = (double)st.f_bsize;
        rc = put(o, "node_filesystem_size_bytes", l, 3, (double)st.f_blocks * bs);
        if (!rc) rc = put(o, "node_filesystem_free_bytes", l, 3, (double)st.f_bfree * bs);
        if (!rc) rc = put(o, "node_filesystem_avail_bytes", l, 3, (double)st.f_bavail * bs);
        if (!rc) rc = put(o, "node_filesystem_files", l, 3, (double)st.f_files);
        if (!rc) rc = put(o, "node_filesystem_files_free", l, 3, (double)st.f_ffree);
    }
    return rc;
}

/* ---- /proc/net/dev ---- */

/* Read a small sysfs attribute into out (trailing newline removed). */
static bool read_attr(const char *path, char *out, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t r;
    do r = read(fd, out, cap - 1);
    while (r < 0 && errno == EINTR);
    close(fd);
    if (r < 0) return false;
    size_t l = (size_t)r;
    while (l && (out[l - 1] == '\n' || out[l - 1] == '\r')) l--;
    out[l] = 0;
    return true;
}

/* A device name usable as a path component under /sys/class/net. */
static bool safe_name(span s) {
    if (!s.len || s.len > 255 || (s.len <= 2 && s.p[0] == '.' && (s.len == 1 || s.p[1] == '.')))
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == '/' || s.p[i] == 0) return false;
    return true;
}

int srv_node_parse_netdev(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    static const char *names[16] = {
        "receive_bytes", "receive_packets", "receive_errs", "receive_drop", "receive_fifo",
        "receive_frame", "receive_compressed", "receive_multicast", "transmit_bytes",
        "transmit_packets", "transmit_errs", "transmit_drop", "transmit_fifo", "transmit_colls",
        "transmit_carrier", "transmit_compressed"};
    const char *p = buf, *end = buf + len;
    span line, f[17];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        const char *colon = memchr(line.p, ':', line.len);
        if (!colon) continue;
        span dev = {line.p, (size_t)(colon - line.p)};
        while (dev.len && is_ws(dev.p[0])) dev.p++, dev.len--;
        while (dev.len && is_ws(dev.p[dev.len - 1])) dev.len--;
        if (!dev.len || span_eq(dev, "lo")) continue;
        span rest = {colon + 1, (size_t)(line.p + line.len - colon - 1)};
        if (split(rest, f, 17) != 16) continue;
        double v[16];
        bool ok = true;
        for (int i = 0; i < 16 && ok; i++) ok = tok_f64(f[i], &v[i]);
        if (!ok) continue;
        kv l[1] = {KV("device", dev)};
        char name[96];
        for (int i = 0; i < 16 && !rc; i++) {
            snprintf(name, sizeof name, "node_network_%s_total", names[i]);
            rc = put(o, name, l, 1, v[i]);
        }
        char path[4608], val[64];
        if (!rc && safe_name(dev) &&
            snprintf(path, sizeof path, "%s/class/net/%.*s/statistics/rx_nohandler", n->sys,
                     (int)dev.len, dev.p) < (int)sizeof path &&
            read_attr(path, val, sizeof val)) {
            double nh;
            span vs = {val, strlen(val)};
            if (tok_f64(vs, &nh)) rc = put(o, "node_network_receive_nohandler_total", l, 1, nh);
        }
    }
    return rc;
}

/* ---- /proc/net/netstat, /proc/net/snmp, /proc/net/snmp6 ---- */

static int netstat_put(const srv_node *n, srv_node_out *o, span proto, span field, span val) {
    char key[256], name[300];
    double v;
    if (!mkname(key, sizeof key, "", proto, "_", field, "")) return 0;
    span ks = {key, strlen(key)};
    if (!node_re_match(n, RE_NETSTAT, ks) || !tok_f64(val, &v)) return 0;
    if (!mkname(name, sizeof name, "node_netstat_", ks, "", NOSPAN, "")) return 0;
    return put(o, name, NULL, 0, v);
}

#define NETSTAT_FIELDS 512

int srv_node_parse_netstat(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, hdr_line = {NULL, 0};
    size_t hdr_proto_len = 0;
    span *hf = malloc(2 * NETSTAT_FIELDS * sizeof *hf);
    if (!hf) return AX_ENOMEM;
    span *vf = hf + NETSTAT_FIELDS;
    int rc = 0;
    bool have_hdr = false;
    while (!rc && next_line(&p, end, &line)) {
        const char *colon = memchr(line.p, ':', line.len);
        if (!colon) {
            have_hdr = false;
            continue;
        }
        span proto = {line.p, (size_t)(colon - line.p)};
        if (have_hdr && proto.len == hdr_proto_len && !memcmp(proto.p, hdr_line.p, proto.len)) {
            span hrest = {hdr_line.p + proto.len + 1, hdr_line.len - proto.len - 1};
            span vrest = {colon + 1, (size_t)(line.p + line.len - colon - 1)};
            size_t nh = split(hrest, hf, NETSTAT_FIELDS), nv = split(vrest, vf, NETSTAT_FIELDS);
            for (size_t i = 0; i < nh && i < nv && !rc; i++) rc = netstat_put(n, o, proto, hf[i], vf[i]);
            have_hdr = false;
            continue;
        }
        hdr_line = line; /* "Proto: name name ..."; the next line should be its values */
        hdr_proto_len = proto.len;
        have_hdr = true;
    }
    free(hf);
    return rc;
}

int srv_node_parse_snmp6(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, f[3];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        if (split(line, f, 3) != 2) continue;
        const char *six = memchr(f[0].p, '6', f[0].len);
        if (!six || six == f[0].p + f[0].len - 1) continue;
        span proto = {f[0].p, (size_t)(six - f[0].p) + 1};
        span field = {six + 1, f[0].len - proto.len};
        rc = netstat_put(n, o, proto, field, f[1]);
    }
    return rc;
}

/* ---- /proc/net/sockstat{,6} ---- */

int srv_node_parse_sockstat(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, f[32];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        size_t nf = split(line, f, 32);
        if (nf < 3 || f[0].len < 2 || f[0].p[f[0].len - 1] != ':') continue;
        span proto = {f[0].p, f[0].len - 1};
        for (size_t i = 1; i + 1 < nf && !rc; i += 2) {
            double v;
            char name[256];
            if (!tok_f64(f[i + 1], &v)) continue;
            if (span_eq(proto, "sockets")) {
                if (!mkname(name, sizeof name, "node_sockstat_sockets_", f[i], "", NOSPAN, "")) continue;
            } else if (!mkname(name, sizeof name, "node_sockstat_", proto, "_", f[i], "")) {
                continue;
            }
            rc = put(o, name, NULL, 0, v);
            if (!rc && span_eq(f[i], "mem") && !span_eq(proto, "sockets") &&
                mkname(name, sizeof name, "node_sockstat_", proto, "_mem_bytes", NOSPAN, ""))
                rc = put(o, name, NULL, 0, v * n->page);
        }
    }
    return rc;
}

/* ---- small files ---- */

int srv_node_parse_filefd(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    span line, f[4];
    const char *p = buf;
    double a, m;
    if (!next_line(&p, buf + len, &line) || split(line, f, 4) != 3 || !tok_f64(f[0], &a) ||
        !tok_f64(f[2], &m))
        return 0;
    int rc = put(o, "node_filefd_allocated", NULL, 0, a);
    if (!rc) rc = put(o, "node_filefd_maximum", NULL, 0, m);
    return rc;
}

int srv_node_parse_vmstat(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, f[3];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        double v;
        char name[192];
        if (split(line, f, 3) != 2 || !node_re_match(n, RE_VMSTAT, f[0]) || !tok_f64(f[1], &v) ||
            !mkname(name, sizeof name, "node_vmstat_", f[0], "", NOSPAN, ""))
            continue;
        rc = put(o, name, NULL, 0, v);
    }
    return rc;
}

int srv_node_parse_pressure(const srv_node *n, srv_node_out *o, const char *resource,
                            const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, f[8];
    int rc = 0;
    while (!rc && next_line(&p, end, &line)) {
        size_t nf = split(line, f, 8);
        if (nf < 2) continue;
        bool some = span_eq(f[0], "some");
        if (!some && (!span_eq(f[0], "full") || !strcmp(resource, "cpu"))) continue;
        for (size_t i = 1; i < nf && !rc; i++) {
            double v;
            if (f[i].len <= 6 || memcmp(f[i].p, "total=", 6)) continue;
            span t = {f[i].p + 6, f[i].len - 6};
            if (!tok_f64(t, &v)) continue;
            char name[128];
            snprintf(name, sizeof name, "node_pressure_%s_%s_seconds_total", resource,
                     some ? "waiting" : "stalled");
            rc = put(o, name, NULL, 0, v / 1e6);
        }
    }
    return rc;
}

int srv_node_parse_softnet(const srv_node *n, srv_node_out *o, const char *buf, size_t len) {
    const char *p = buf, *end = buf + len;
    span line, f[3];
    int rc = 0;
    unsigned cpu = 0;
    while (!rc && next_line(&p, end, &line)) {
        double v[3];
        if (split(line, f, 3) != 3 || !tok_hex(f[0], &v[0]) || !tok_hex(f[1], &v[1]) ||
            !tok_hex(f[2], &v[2]))
            continue;
        char id[16];
        snprintf(id, sizeof id, "%u", cpu++);
        kv l[1] = {KVS("cpu", id)};
        rc = put(o, "node_softnet_processed_total", l, 1, v[0]);
        if (!rc) rc = put(o, "node_softnet_dropped_total", l, 1, v[1]);
        if (!rc) rc = put(o, "node_softnet_times_squeezed_total", l, 1, v[2]);
    }
    return rc;
}

int srv_node_parse_single(const srv_node *n, srv_node_out *o, const char *name,
                          const char *buf, size_t len) {
    span line, f[2];
    const char *p = buf;
    double v;
    if (!next_line(&p, buf + len, &line) || split(line, f, 2) != 1 || !tok_f64(f[0], &v)) return 0;
    return put(o, name, NULL, 0, v);
}

/* ---- /sys walks ---- */

/* /sys/class/net/<dev>/...: node_network_info, _up and the numeric attributes. */
static int netclass(const srv_node *n, srv_node_out *o) {
    static const struct { const char *file, *name; } A[] = {
        {"addr_assign_type", "node_network_address_assign_type"},
        {"carrier", "node_network_carrier"},
        {"carrier_changes", "node_network_carrier_changes_total"},
        {"carrier_up_count", "node_network_carrier_up_changes_total"},
        {"carrier_down_count", "node_network_carrier_down_changes_total"},
        {"dev_id", "node_network_device_id"},
        {"dormant", "node_network_dormant"},
        {"flags", "node_network_flags"},
        {"ifindex", "node_network_iface_id"},
        {"iflink", "node_network_iface_link"},
        {"link_mode", "node_network_iface_link_mode"},
        {"mtu", "node_network_mtu_bytes"},
        {"name_assign_type", "node_network_name_assign_type"},
        {"netdev_group", "node_network_net_dev_group"},
        {"speed", "node_network_speed_bytes"},
        {"tx_queue_len", "node_network_transmit_queue_length"},
        {"type", "node_network_protocol_type"},
    };
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/class/net", n->sys) >= (int)sizeof dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[4608], addr[256], bcast[256], duplex[64], alias[512], oper[64], val[64];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) || !S_ISDIR(st.st_mode)) continue;
#define ATTR(file, out) \
    (snprintf(path, sizeof path, "%s/%s/%s", dir, de->d_name, file) < (int)sizeof path && \
     read_attr(path, out, sizeof out))
        if (!ATTR("address", addr)) addr[0] = 0;
        if (!ATTR("broadcast", bcast)) bcast[0] = 0;
        if (!ATTR("duplex", duplex)) duplex[0] = 0;
        if (!ATTR("ifalias", alias)) alias[0] = 0;
        if (!ATTR("operstate", oper)) oper[0] = 0;
        span dev = {de->d_name, strlen(de->d_name)};
        kv l[6] = {KV("device", dev), KVS("address", addr), KVS("broadcast", bcast),
                   KVS("duplex", duplex), KVS("ifalias", alias), KVS("operstate", oper)};
        rc = put(o, "node_network_info", l, 6, 1);
        if (!rc) rc = put(o, "node_network_up", l, 1, !strcmp(oper, "up") ? 1 : 0);
        for (size_t i = 0; i < sizeof A / sizeof A[0] && !rc; i++) {
            double v;
            if (!ATTR(A[i].file, val)) continue;
            span vs = {val, strlen(val)};
            if (!tok_int(vs, &v)) continue;
            if (!strcmp(A[i].file, "speed")) v *= 125000; /* Mbit/s -> bytes/s */
            rc = put(o, A[i].name, l, 1, v);
        }
#undef ATTR
    }
    closedir(d);
    return rc;
}

/* node_time_clocksource_{available,current}_info{clocksource,device}. */
static int clocksources(const srv_node *n, srv_node_out *o) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/devices/system/clocksource", n->sys) >= (int)sizeof dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (strncmp(de->d_name, "clocksource", 11) || !de->d_name[11]) continue;
        const char *id = de->d_name + 11;
        char path[4608], val[1024];
        span line, f[32];
        snprintf(path, sizeof path, "%s/%s/available_clocksource", dir, de->d_name);
        if (read_attr(path, val, sizeof val)) {
            line.p = val;
            line.len = strlen(val);
            size_t nf = split(line, f, 32);
            for (size_t i = 0; i < nf && !rc; i++) {
                kv l[2] = {KV("clocksource", f[i]), KVS("device", id)};
                rc = put(o, "node_time_clocksource_available_info", l, 2, 1);
            }
        }
        snprintf(path, sizeof path, "%s/%s/current_clocksource", dir, de->d_name);
        if (!rc && read_attr(path, val, sizeof val) && val[0]) {
            kv l[2] = {KVS("clocksource", val), KVS("device", id)};
            rc = put(o, "node_time_clocksource_current_info", l, 2, 1);
        }
    }
    closedir(d);
    return rc;
}

static int uname_time(srv_node_out *o, int64_t now_ms) {
    struct utsname u;
    int rc = 0;
    if (uname(&u) == 0) {
        kv l[6] = {KVS("sysname", u.sysname),   KVS("release", u.release),
                   KVS("version", u.version),   KVS("machine", u.machine),
                   KVS("nodename", u.nodename), KVS("domainname", u.domainname)};
        rc = put(o, "node_uname_info", l, 6, 1);
    }
    if (!rc) rc = put(o, "node_time_seconds", NULL, 0, (double)now_ms / 1000.0);
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!rc && localtime_r(&t, &tm) && tm.tm_zone) {
        kv l[1] = {KVS("time_zone", tm.tm_zone)};
        rc = put(o, "node_time_zone_offset_seconds", l, 1, (double)tm.tm_gmtoff);
    }
    return rc;
}

/* ---- collect ---- */

/* Read <root>/<rel> into n->file (up to SRV_NODE_MAX_FILE). false: missing or unreadable. */
static bool read_file(srv_node *n, const char *root, const char *rel) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", root, rel) >= (int)sizeof path) return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ax_buf_reset(&n->file);
    bool ok = true;
    for (;;) {
        size_t room = SRV_NODE_MAX_FILE - n->file.len;
        if (room == 0) break; /* parse what fits */
        size_t chunk = room < 65536 ? room : 65536;
        if (ax_buf_reserve(&n->file, chunk)) {
            ok = false;
            break;
        }
        ssize_t r = read(fd, n->file.data + n->file.len, chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            ok = false;
            break;
        }
        if (r == 0) break;
        n->file.len += (size_t)r;
    }
    close(fd);
    return ok;
}

typedef int (*parse_fn)(const srv_node *, srv_node_out *, const char *, size_t);

int srv_node_collect(srv_node *n, int64_t now_ms, ax_arena *a, eng_ts **ts_out, size_t *n_out,
                     ax_err *e) {
    static const struct { const char *rel; parse_fn fn; const char *single; } F[] = {
        {"stat", srv_node_parse_stat, NULL},
        {"loadavg", srv_node_parse_loadavg, NULL},
        {"meminfo", srv_node_parse_meminfo, NULL},
        {"diskstats", srv_node_parse_diskstats, NULL},
        {"net/dev", srv_node_parse_netdev, NULL},
        {"net/netstat", srv_node_parse_netstat, NULL},
        {"net/snmp", srv_node_parse_netstat, NULL},
        {"net/snmp6", srv_node_parse_snmp6, NULL},
        {"net/sockstat", srv_node_parse_sockstat, NULL},
        {"net/sockstat6", srv_node_parse_sockstat, NULL},
        {"net/softnet_stat", srv_node_parse_softnet, NULL},
        {"sys/fs/file-nr", srv_node_parse_filefd, NULL},
        {"vmstat", srv_node_parse_vmstat, NULL},
        {"sys/kernel/random/entropy_avail", NULL, "node_entropy_available_bits"},
        {"sys/kernel/random/poolsize", NULL, "node_entropy_pool_size_bits"},
    };
    static const char *psi[3] = {"cpu", "io", "memory"};
    srv_node_out o;
    int rc = srv_node_out_init(&o, n, a, now_ms);
    const char *what = "labels";
    for (size_t i = 0; i < sizeof F / sizeof F[0] && !rc; i++) {
        if (!read_file(n, n->proc, F[i].rel)) continue;
        what = F[i].rel;
        const char *b = (const char *)n->file.data;
        rc = F[i].fn ? F[i].fn(n, &o, b, n->file.len)
                     : srv_node_parse_single(n, &o, F[i].single, b, n->file.len);
    }
    for (int i = 0; i < 3 && !rc; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "pressure/%s", psi[i]);
        if (!read_file(n, n->proc, rel)) continue;
        what = rel;
        rc = srv_node_parse_pressure(n, &o, psi[i], (const char *)n->file.data, n->file.len);
    }
    /* node_exporter reads the mounts as pid 1 sees them, falling back to our own */
    if (!rc && (read_file(n, n->proc, "1/mounts") || read_file(n, n->proc, "mounts"))) {
        what = "mounts";
        rc = srv_node_parse_mounts(n, &o, (const char *)n->file.data, n->file.len);
    }
    if (!rc) { what = "class/net"; rc = netclass(n, &o); }
    if (!rc) { what = "clocksource"; rc = clocksources(n, &o); }
    if (!rc) { what = "uname"; rc = uname_time(&o, now_ms); }
    if (n->file.cap > (1u << 20)) ax_buf_free(&n->file), ax_buf_init(&n->file, SRV_NODE_MAX_FILE);
    if (rc) return ax_err_set(e, rc, "node collector: %s: arena budget exhausted after %zu series",
                              what, o.n);
    *ts_out = o.n ? o.ts : NULL;
    *n_out = o.n;
    return 0;
}

/* ---- lifecycle ---- */

int srv_node_new(const char *proc_root, const char *sys_root, const char *instance,
                 srv_node **out, ax_err *e) {
    if (!proc_root || !*proc_root || !sys_root || !*sys_root || !instance || !*instance)
        return ax_err_set(e, AX_EINVAL, "node collector: empty proc root, sys root or instance");
    srv_node *n = calloc(1, sizeof *n);
    if (!n) return ax_err_set(e, AX_ENOMEM, "node collector: out of memory");
    n->proc = strdup(proc_root);
    n->sys = strdup(sys_root);
    n->instance = strdup(instance);
    ax_buf_init(&n->file, SRV_NODE_MAX_FILE);
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    n->hz = hz > 0 ? (double)hz : 100;
    n->page = page > 0 ? (double)page : 4096;
    static const char *res[RE_N] = {DISK_RE, MOUNT_RE, FSTYPE_RE, NETSTAT_RE, VMSTAT_RE};
    for (int i = 0; i < RE_N; i++) n->re_ok[i] = regcomp(&n->re[i], res[i], REG_EXTENDED | REG_NOSUB) == 0;
    if (!n->proc || !n->sys || !n->instance) {
        srv_node_free(n);
        return ax_err_set(e, AX_ENOMEM, "node collector: out of memory");
    }
    *out = n;
    return 0;
}

void srv_node_free(srv_node *n) {
    if (!n) return;
    for (int i = 0; i < RE_N; i++)
        if (n->re_ok[i]) regfree(&n->re[i]);
    ax_buf_free(&n->file);
    free(n->proc);
    free(n->sys);
    free(n->instance);
    free(n);
}

/* ---- the periodic run ---- */

#define NODE_ARENA_MAX (256u << 20)

struct srv_node_run {
    uv_timer_t timer;
    uv_work_t work;
    srv_app *app;
    srv_node *node;
    bool busy;          /* a collection is queued or running */
    bool stopping;      /* srv_node_stop was called */
    bool timer_closed;  /* the timer's close callback ran */
    bool eagain_logged;
    int rc;             /* result of the last collection (worker -> loop) */
    ax_err err;
};

static atomic_uint_fast64_t g_errors;
static atomic_uint_fast64_t g_duration_us; /* last collection */

static void run_free(struct srv_node_run *r) {
    srv_node_free(r->node);
    free(r);
}

static void on_work(uv_work_t *w) {
    struct srv_node_run *r = w->data;
    uint64_t t0 = ax_mono_ns();
    ax_arena a;
    ax_arena_init(&a, NODE_ARENA_MAX);
    eng_ts *ts = NULL;
    size_t n = 0;
    r->err.code = 0;
    r->err.msg[0] = 0;
    r->rc = srv_node_collect(r->node, ax_now_ms(), &a, &ts, &n, &r->err);
    if (!r->rc && n) r->rc = srv_store(r->app, ts, n, &r->err);
    ax_arena_clear(&a);
    atomic_store(&g_duration_us, (ax_mono_ns() - t0) / 1000);
}

static void on_after_work(uv_work_t *w, int status) {
    struct srv_node_run *r = w->data;
    r->busy = false;
    int rc = status ? AX_EAGAIN : r->rc;
    if (rc) {
        atomic_fetch_add(&g_errors, 1);
        if (rc != AX_EAGAIN)
            fprintf(stderr, "auspex: node collector: %s: %s\n", ax_strerror(rc), r->err.msg);
        else if (!r->eagain_logged) {
            r->eagain_logged = true;
            fprintf(stderr, "auspex: node collector: storage busy or closing, tick skipped "
                            "(logged once)\n");
        }
    }
    if (r->stopping && r->timer_closed) run_free(r);
}

static void on_tick(uv_timer_t *t) {
    struct srv_node_run *r = t->data;
    if (r->busy || r->stopping) return; /* previous tick still running: skip this one */
    r->busy = true;
    r->work.data = r;
    if (uv_queue_work(t->loop, &r->work, on_work, on_after_work)) {
        r->busy = false;
        atomic_fetch_add(&g_errors, 1);
    }
}

static void on_timer_closed(uv_handle_t *h) {
    struct srv_node_run *r = h->data;
    r->timer_closed = true;
    if (!r->busy) run_free(r);
}

int srv_node_start(srv_app *app, int64_t interval_ms, ax_err *e) {
    if (interval_ms <= 0 || app->node)
        return ax_err_set(e, AX_EINVAL, "node collector: bad interval or already started");
    char host[256];
    if (gethostname(host, sizeof host) || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    struct srv_node_run *r = calloc(1, sizeof *r);
    if (!r) return ax_err_set(e, AX_ENOMEM, "node collector: out of memory");
    int rc = srv_node_new("/proc", "/sys", host, &r->node, e);
    if (rc) {
        free(r);
        return rc;
    }
    r->app = app;
    uv_timer_init(app->loop, &r->timer); /* cannot fail */
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, 0, (uint64_t)interval_ms);
    app->node = r;
    return 0;
}

void srv_node_stop(srv_app *app) {
    struct srv_node_run *r = app->node;
    if (!r) return;
    app->node = NULL;
    r->stopping = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

int srv_node_metrics_write(ax_buf *b) {
    int rc = ax_buf_printf(b, "# HELP auspex_node_collect_errors_total Node collections that "
                              "failed or whose write was refused.\n"
                              "# TYPE auspex_node_collect_errors_total counter\n"
                              "auspex_node_collect_errors_total %llu\n",
                           (unsigned long long)atomic_load(&g_errors));
    if (!rc) rc = ax_buf_printf(b, "# HELP auspex_node_collect_duration_seconds Time the last "
                                   "node collection took (read + durable write).\n"
                                   "# TYPE auspex_node_collect_duration_seconds gauge\n"
                                   "auspex_node_collect_duration_seconds %.6f\n",
                                (double)atomic_load(&g_duration_us) / 1e6);
    return rc;
}
