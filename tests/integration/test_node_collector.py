"""Built-in node collector (-node.collect) against the real prometheus-node-exporter 1.5 on
the same machine at the same moment: for every covered family the same metric names and
label sets (job/instance aside), counters within a few percent, static gauges equal.
Also: -node.collect=0 writes nothing, the self-metrics are on /metrics, and shutdown is
clean with a collection in flight."""
import os
import re
import shutil
import socket
import subprocess
import time

from harness import Auspex, check, finish, free_port, http, wait_until

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"

# families covered (metric name regexes); everything node_exporter writes under them must
# come from auspex too, and nothing else
FAMILIES = {
    "cpu": r"node_cpu_(seconds|guest_seconds)_total",
    "loadavg": r"node_load(1|5|15)",
    "meminfo": r"node_memory_.*",
    "stat": r"node_(boot_time_seconds|context_switches_total|forks_total|intr_total|procs_running|procs_blocked)",
    "diskstats": r"node_disk_.*",
    "filesystem": r"node_filesystem_.*",
    "netdev": r"node_network_(receive|transmit)_[a-z]+_total",
    "netclass": r"node_network_(up|mtu_bytes|info|address_assign_type|carrier|carrier_.*|device_id|"
                r"dormant|flags|iface_.*|name_assign_type|net_dev_group|protocol_type|speed_bytes|"
                r"transmit_queue_length)",
    "netstat": r"node_netstat_.*",
    "sockstat": r"node_sockstat_.*",
    "filefd": r"node_filefd_.*",
    "vmstat": r"node_vmstat_.*",
    "uname": r"node_uname_info",
    "time": r"node_time_(seconds|zone_offset_seconds|clocksource_.*)",
    "entropy": r"node_entropy_.*",
    "pressure": r"node_pressure_.*",
    "softnet": r"node_softnet_.*",
}

# name -> (relative slack, absolute slack) for counters compared at the closest sample
COUNTERS = {
    "node_cpu_seconds_total": (0.02, 3.0),
    "node_network_receive_bytes_total": (0.05, 200000),
    "node_network_transmit_bytes_total": (0.05, 200000),
    "node_network_receive_packets_total": (0.05, 500),
    "node_disk_reads_completed_total": (0.02, 200),
    "node_disk_written_bytes_total": (0.05, 64 << 20),
    "node_context_switches_total": (0.03, 50000),
    "node_forks_total": (0.03, 500),
    "node_intr_total": (0.03, 50000),
    "node_vmstat_pgfault": (0.05, 500000),
}
# gauges that do not move while the test runs
EQUAL = ["node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes", "node_boot_time_seconds",
         "node_filefd_maximum", "node_filesystem_size_bytes", "node_network_mtu_bytes",
         "node_network_iface_id", "node_entropy_pool_size_bits", "node_uname_info",
         "node_memory_HugePages_Total", "node_memory_Hugepagesize_bytes"]

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_text(text):
    """{(name, labels tuple): value}; empty label values dropped as Prometheus does."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        labels = {}
        for k, v in LABEL.findall(m.group(3) or ""):
            v = v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
            if v != "":
                labels[k] = v
        out[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(4))
    return out


def family_of(name):
    for fam, rx in FAMILIES.items():
        if re.fullmatch(rx, name):
            return fam
    return None


def start_node_exporter(port):
    p = subprocess.Popen([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: p.poll() is not None or http("GET", "http://127.0.0.1:%d/metrics" % port,
                                                    timeout=5)[0] == 200,
               timeout=30, what="node_exporter ready")
    return p


def scrape(port):
    t = time.time() * 1000
    st, _, body = http("GET", "http://127.0.0.1:%d/metrics" % port, timeout=30)
    t2 = time.time() * 1000
    return (t + t2) / 2, parse_text(body.decode())


def main():
    if not os.path.exists(NODE_EXPORTER):
        print("SKIP: prometheus-node-exporter not installed")
        print("0 passed, 0 failed")
        return
    host = socket.gethostname()
    ne_port = free_port()
    a = Auspex(args=["-node.collect=1s"])
    ne = None
    try:
        ne = start_node_exporter(ne_port)
        a.start()
        # a few collections
        wait_until(lambda: (lambda r: r and len(r[0]["values"]) >= 3)(a.export('node_load1')),
                   timeout=60, what="3 collections of node_load1")
        t_scrape, ne_series = scrape(ne_port)
        # one more collection after the scrape, so the closest sample can be on either side
        n_before = len(a.export('node_load1')[0]["values"])
        wait_until(lambda: len(a.export('node_load1')[0]["values"]) > n_before, timeout=30,
                   what="one more collection")
        rows = a.export('{job="node"}')

        ax = {}
        bad_extra = []
        for r in rows:
            m = dict(r["metric"])
            if m.pop("job", None) != "node" or m.pop("instance", None) != host:
                bad_extra.append(m)
            name = m.pop("__name__")
            i = min(range(len(r["timestamps"])), key=lambda k: abs(r["timestamps"][k] - t_scrape))
            ax[(name, tuple(sorted(m.items())))] = (r["values"][i], r["timestamps"][i])
        check(not bad_extra, "every series has job=\"node\" and instance=\"%s\" (%d without)"
              % (host, len(bad_extra)))

        for fam in FAMILIES:
            ne_keys = {k for k in ne_series if family_of(k[0]) == fam}
            ax_keys = {k for k in ax if family_of(k[0]) == fam}
            ne_names = {k[0] for k in ne_keys}
            ax_names = {k[0] for k in ax_keys}
            check(ne_names == ax_names,
                  "%s: same metric names (%d node_exporter, %d auspex; missing %s, extra %s)"
                  % (fam, len(ne_names), len(ax_names), sorted(ne_names - ax_names)[:8],
                     sorted(ax_names - ne_names)[:8]))
            check(ne_keys == ax_keys,
                  "%s: same series and label sets (%d node_exporter, %d auspex; missing %s, extra %s)"
                  % (fam, len(ne_keys), len(ax_keys), sorted(ne_keys - ax_keys)[:4],
                     sorted(ax_keys - ne_keys)[:4]))

        for name, (rel, absl) in COUNTERS.items():
            keys = [k for k in ne_series if k[0] == name and k in ax]
            worst = None
            for k in keys:
                want, got = ne_series[k], ax[k][0]
                d = abs(want - got)
                if d > max(rel * abs(want), absl) and (worst is None or d > worst[0]):
                    worst = (d, k, want, got)
            check(keys and worst is None, "%s: %d series within %g%% or %g (worst: %r)"
                  % (name, len(keys), rel * 100, absl, worst))
        for name in EQUAL:
            keys = [k for k in ne_series if k[0] == name]
            diff = [(k, ne_series[k], ax.get(k, (None,))[0]) for k in keys
                    if ax.get(k, (None,))[0] != ne_series[k]]
            check(keys and not diff, "%s equal on %d series (differ: %r)" % (name, len(keys), diff[:3]))
        t = ax.get(("node_time_seconds", ()))
        check(t and abs(t[0] * 1000 - t[1]) < 1000, "node_time_seconds matches its timestamp: %r" % (t,))

        print("series counts per family (auspex / node_exporter):")
        for fam in FAMILIES:
            print("  %-10s %4d / %4d" % (fam, sum(1 for k in ax if family_of(k[0]) == fam),
                                          sum(1 for k in ne_series if family_of(k[0]) == fam)))
        m = a.metrics()
        check(m.get("auspex_node_collect_errors_total") == 0, "auspex_node_collect_errors_total 0 (%r)"
              % m.get("auspex_node_collect_errors_total"))
        check(m.get("auspex_node_collect_duration_seconds", 0) > 0,
              "auspex_node_collect_duration_seconds > 0 (%r)" % m.get("auspex_node_collect_duration_seconds"))
        rc = a.stop()
        check(rc == 0, "clean shutdown with the collector running (rc %r)" % rc)
    finally:
        a.cleanup()
        if ne:
            ne.terminate()
            ne.wait(10)

    # -node.collect=0 (the harness default): nothing collected
    b = Auspex()
    try:
        b.start()
        # a disabled collector never writes: by the time a write is readable, none came
        st, _, _ = http("POST", b.url + "/api/v1/import/prometheus", b"marker_m 1\n")
        wait_until(lambda: b.export("marker_m"), timeout=10, what="marker readable")
        rows = b.export('{job="node"}')
        check(rows == [], "-node.collect=0: no node series (%d)" % len(rows))
    finally:
        b.cleanup()
    # bad flag value is refused
    p = subprocess.run([a_bin(), "-node.collect=abc", "-storageDataPath=/nonexistent-x"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(p.returncode == 2 and b"node.collect" in p.stderr, "-node.collect=abc -> exit 2 (%d %r)"
          % (p.returncode, p.stderr[:200]))
    p = subprocess.run([a_bin(), "-help"], stdout=subprocess.PIPE)
    check(b"-node.collect=15s" in p.stdout, "-help shows -node.collect=15s")


def a_bin():
    from harness import AUSPEX
    return AUSPEX


if __name__ == "__main__":
    main()
    finish()
