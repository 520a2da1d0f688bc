/* server/node_collector.h: the built-in node collector (-node.collect=15s): host metrics
 * read straight from /proc and /sys, under node_exporter 1.5's metric names, labels and
 * units, so dashboards built for node_exporter ("Node Exporter Full") work unchanged.
 *
 * Owns: one parser per /proc file (each takes a buffer, never a path, so it can be unit
 *   tested and fuzzed), the walk over /sys/class/net and the mounted filesystems, and the
 *   uv_timer that collects every interval and writes the result through eng_write.
 * Families, names and the few differences from node_exporter: docs/node-collector.md.
 * Labels: every series gets job="node" and instance="<hostname>" (the extras), after
 *   the family's own labels (cpu, mode, device, mountpoint, ...).
 * Rules: input is never trusted: a line that does not parse is skipped, a file that is
 *   missing (a container without /sys, an old kernel) skips its family quietly, and
 *   nothing is asserted on file contents. Metric names built from file contents (meminfo
 *   keys, netstat fields) are checked for syntax, label values for UTF-8 and length, and a
 *   series that fails is dropped, so one odd line never fails the whole eng_write.
 * Memory: results live in the caller's arena (series, labels, copied values); nothing
 *   points into the parsed buffer or into srv_node.
 * Threads: parsers and srv_node_collect are pure functions of their inputs (plus the
 *   files they read) and run on a worker thread. srv_node_start/stop run on the loop;
 *   the loop thread only arms the timer, the collect + eng_write run in uv_queue_work.
 * Errors: 0 or a negative AX_E*: AX_ETOOBIG (the arena budget is exhausted), AX_ENOMEM,
 *   AX_EINVAL (bad arguments). Missing files are not errors (the family is left out).
 */
#ifndef SRV_NODE_COLLECTOR_H
#define SRV_NODE_COLLECTOR_H

#include "core/core.h"
#include "engine/engine.h"

typedef struct srv_node srv_node;
typedef struct srv_app srv_app;

/* Largest file read (a /proc file past this is parsed up to the cap). */
#define SRV_NODE_MAX_FILE (16u << 20)
/* Series per collection at most; past it further series are dropped (AX_ELIMIT is not
 * returned: a huge host still gets the first SRV_NODE_MAX_SERIES series). */
#define SRV_NODE_MAX_SERIES 200000

/* Create a collector reading <proc_root>/... and <sys_root>/... ("/proc" and "/sys" in
 * production, a fixture tree in tests); `instance` is the value of the instance label
 * (the hostname). All three are copied. OUT: *out. Returns 0, AX_EINVAL (NULL or empty
 * argument; message in e), AX_ENOMEM. Free with srv_node_free. */
int srv_node_new(const char *proc_root, const char *sys_root, const char *instance,
                 srv_node **out, ax_err *e);
void srv_node_free(srv_node *n); /* accepts NULL */

/* Read every family once. OUT: *ts_out = *n_out series, each with one sample at now_ms,
 * all in arena a (order: family by family; *ts_out NULL when nothing was found).
 * Returns 0, AX_ETOOBIG (arena budget too small), AX_ENOMEM; e says which family. */
int srv_node_collect(srv_node *n, int64_t now_ms, ax_arena *a, eng_ts **ts_out, size_t *n_out,
                     ax_err *e);

/* ---- parsers (public for the unit tests and fuzz target) ----
 * An output under construction: parsers append series to it. Fields are read-only for
 * callers: ts[0..n) are the series appended so far. */
typedef struct srv_node_out {
    ax_arena *a;
    eng_ts *ts;
    size_t n, cap;
    int64_t ts_ms;
    ax_label extra[2]; /* job, instance (values copied into a) */
    size_t n_extra;
    size_t dropped;    /* series refused (bad name or label value, over the cap) */
} srv_node_out;

/* Start an output at now_ms with the extras of n (job, instance). Returns 0 or
 * AX_ETOOBIG (arena). */
int srv_node_out_init(srv_node_out *o, const srv_node *n, ax_arena *a, int64_t now_ms);

/* Each parser reads buf[0..len) (not NUL-terminated; any bytes), appends the series it
 * finds to o and returns 0, or AX_ETOOBIG/AX_ENOMEM when o's arena is exhausted (what was
 * appended stays valid). Bad lines are skipped. `n` supplies the page size, clock ticks
 * and roots some families need. */
/* /proc/stat: node_cpu_seconds_total{cpu,mode}, node_cpu_guest_seconds_total{cpu,mode},
 * node_intr_total, node_context_switches_total, node_boot_time_seconds, node_forks_total,
 * node_procs_running, node_procs_blocked. */
int srv_node_parse_stat(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/loadavg: node_load1, node_load5, node_load15. */
int srv_node_parse_loadavg(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/meminfo: node_memory_<Key>_bytes for "kB" lines, node_memory_<Key> for unitless
 * ones (HugePages_Total...); "Active(anon)" becomes Active_anon. */
int srv_node_parse_meminfo(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/diskstats: node_disk_*{device} and node_disk_info{device,major,minor}, devices
 * matching node_exporter's default exclude ^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$
 * skipped. */
int srv_node_parse_diskstats(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/1/mounts (or /proc/mounts): node_filesystem_*{device,fstype,mountpoint} for the
 * mounts that pass node_exporter's default mount point and fs type excludes; statfs()s each
 * mount point: on failure only node_filesystem_device_error 1 and _readonly are written. */
int srv_node_parse_mounts(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/net/dev: node_network_{receive,transmit}_*_total{device} (lo excluded, as the
 * node_exporter 1.5 build here does); receive_nohandler from <sys>/class/net/D/statistics. */
int srv_node_parse_netdev(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/net/netstat and /proc/net/snmp (header line + value line pairs) and
 * /proc/net/snmp6 ("Key value" lines): node_netstat_<Proto>_<Field> for node_exporter's
 * default field set. */
int srv_node_parse_netstat(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
int srv_node_parse_snmp6(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/net/sockstat and sockstat6: node_sockstat_<PROTO>_<field>, plus _mem_bytes
 * (pages times the page size) for TCP and UDP mem, node_sockstat_sockets_used. */
int srv_node_parse_sockstat(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/sys/fs/file-nr: node_filefd_allocated, node_filefd_maximum. */
int srv_node_parse_filefd(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/vmstat: node_vmstat_<key> for keys matching ^(oom_kill|pgpg|pswp|pg.*fault). */
int srv_node_parse_vmstat(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* /proc/pressure/{cpu,io,memory}: `resource` is "cpu", "io" or "memory";
 * node_pressure_<resource>_waiting_seconds_total (some) and _stalled_ (full; not cpu). */
int srv_node_parse_pressure(const srv_node *n, srv_node_out *o, const char *resource,
                            const char *buf, size_t len);
/* /proc/net/softnet_stat: node_softnet_{processed,dropped,times_squeezed}_total{cpu}. */
int srv_node_parse_softnet(const srv_node *n, srv_node_out *o, const char *buf, size_t len);
/* A file holding one number (entropy_avail, poolsize): `name` gets its value. */
int srv_node_parse_single(const srv_node *n, srv_node_out *o, const char *name,
                          const char *buf, size_t len);

/* ---- the periodic run (loop thread only) ---- */

/* Collect every interval_ms (first collection right away) on app->loop into app->e, as
 * app->node. A tick is skipped while the previous one is still running; eng_write's
 * AX_EAGAIN is logged once and the tick dropped; other failures are logged and counted.
 * Returns 0, AX_EINVAL (interval_ms <= 0 or already started), AX_ENOMEM. */
int srv_node_start(srv_app *app, int64_t interval_ms, ax_err *e);
/* Stop the timer; a collection in flight finishes (the loop waits for it) and then frees
 * the run. Safe when never started. */
void srv_node_stop(srv_app *app);

/* Append auspex_node_collect_errors_total and auspex_node_collect_duration_seconds (the
 * last collection, collect + write) to /metrics. Any thread. */
int srv_node_metrics_write(ax_buf *b);

#endif
