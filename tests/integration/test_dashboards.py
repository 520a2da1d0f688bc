"""Dashboard queries beside a live Prometheus: Debian's Prometheus scrapes a real
prometheus-node-exporter and itself every 2 s and remote-writes everything to auspex.
Once auspex holds what Prometheus holds up to a fixed time, the queries of the usual
dashboards (Grafana's "Node Exporter Full", a Prometheus self-monitoring board) and the
calls Grafana makes for its template variables (/api/v1/labels, /api/v1/label/<n>/values,
/api/v1/series with match[], start and end) are sent to both, the way Grafana sends them
(POST form, start/end aligned to the step), and compared result by result as
test_query_api.py does: same series, same timestamps, values within 1e-6.

Prints "N/M identical" and every difference; a difference fails the test.
"""
import os
import shutil
import tempfile
import time

from harness import (Auspex, api_query, check, finish, free_port, start_node_exporter, start_prometheus,
                     stop_procs, wait_until)
from test_query_api import compare

RI = "10s"  # Grafana's $__rate_interval for a 2 s scrape on a short range
DISKS = '[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+'


def node_queries(node):
    """The panels of Grafana dashboard 1860 (Node Exporter Full), $node and $job filled in."""
    s = 'instance="%s",job="node"' % node
    q = [
        # gauges row
        '(sum by(instance) (irate(node_cpu_seconds_total{%s, mode!="idle"}[%s])) / on(instance) '
        'group_left sum by (instance)((irate(node_cpu_seconds_total{%s}[%s])))) * 100' % (s, RI, s, RI),
        '100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle", %s}[%s])))' % (s, RI),
        'scalar(node_load1{%s}) * 100 / count(count(node_cpu_seconds_total{%s}) by (cpu))' % (s, s),
        '(1 - (node_memory_MemAvailable_bytes{%s} / node_memory_MemTotal_bytes{%s})) * 100' % (s, s),
        '((node_memory_SwapTotal_bytes{%s} - node_memory_SwapFree_bytes{%s}) / '
        '(node_memory_SwapTotal_bytes{%s})) * 100' % (s, s, s),
        '100 - ((node_filesystem_avail_bytes{%s,mountpoint="/",fstype!="rootfs"} * 100) / '
        'node_filesystem_size_bytes{%s,mountpoint="/",fstype!="rootfs"})' % (s, s),
        'count(count(node_cpu_seconds_total{%s}) by (cpu))' % s,
        'node_memory_MemTotal_bytes{%s}' % s,
        'node_memory_SwapTotal_bytes{%s}' % s,
        'node_time_seconds{%s} - node_boot_time_seconds{%s}' % (s, s),
        # CPU / memory / network / disk basics
        'sum by(instance) (irate(node_cpu_seconds_total{%s, mode="system"}[%s])) / on(instance) '
        'group_left sum by (instance)((irate(node_cpu_seconds_total{%s}[%s])))' % (s, RI, s, RI),
        'sum by(instance) (irate(node_cpu_seconds_total{%s, mode="user"}[%s])) / on(instance) '
        'group_left sum by (instance)((irate(node_cpu_seconds_total{%s}[%s])))' % (s, RI, s, RI),
        'sum by(instance) (irate(node_cpu_seconds_total{%s, mode=~".*irq"}[%s])) / on(instance) '
        'group_left sum by (instance)((irate(node_cpu_seconds_total{%s}[%s])))' % (s, RI, s, RI),
        'sum by(instance) (irate(node_cpu_seconds_total{%s, mode!="idle",mode!="user",mode!="system",'
        'mode!="iowait",mode!="irq",mode!="softirq"}[%s])) / on(instance) group_left sum by (instance)'
        '((irate(node_cpu_seconds_total{%s}[%s])))' % (s, RI, s, RI),
        'node_memory_MemTotal_bytes{%s} - node_memory_MemFree_bytes{%s} - (node_memory_Cached_bytes{%s} + '
        'node_memory_Buffers_bytes{%s} + node_memory_SReclaimable_bytes{%s})' % (s, s, s, s, s),
        'node_memory_Cached_bytes{%s} + node_memory_Buffers_bytes{%s} + node_memory_SReclaimable_bytes{%s}'
        % (s, s, s),
        '(node_memory_SwapTotal_bytes{%s} - node_memory_SwapFree_bytes{%s})' % (s, s),
        'irate(node_network_receive_bytes_total{%s}[%s])*8' % (s, RI),
        'irate(node_network_transmit_bytes_total{%s}[%s])*8' % (s, RI),
        "node_filesystem_size_bytes{%s,device!~'rootfs'} - node_filesystem_avail_bytes{%s,device!~'rootfs'}"
        % (s, s),
        '100 - ((node_filesystem_avail_bytes{%s,device!~\'rootfs\'} * 100) / '
        'node_filesystem_size_bytes{%s,device!~\'rootfs\'})' % (s, s),
        # CPU / memory detail
        'sum by(mode) (irate(node_cpu_seconds_total{%s}[%s])) / on() group_left '
        'sum (irate(node_cpu_seconds_total{%s}[%s]))' % (s, RI, s, RI),
        'node_memory_Active_bytes{%s}' % s,
        'node_memory_Committed_AS_bytes{%s}' % s,
        'node_memory_Dirty_bytes{%s}' % s,
        'node_memory_Slab_bytes{%s}' % s,
        'node_memory_HugePages_Total{%s} * node_memory_Hugepagesize_bytes{%s}' % (s, s),
        'irate(node_vmstat_pgpgin{%s}[%s])' % (s, RI),
        'irate(node_vmstat_pgfault{%s}[%s]) - irate(node_vmstat_pgmajfault{%s}[%s])' % (s, RI, s, RI),
        'irate(node_vmstat_oom_kill{%s}[%s])' % (s, RI),
        # system detail
        'irate(node_context_switches_total{%s}[%s])' % (s, RI),
        'irate(node_intr_total{%s}[%s])' % (s, RI),
        'node_load1{%s}' % s, 'node_load5{%s}' % s, 'node_load15{%s}' % s,
        'irate(node_forks_total{%s}[%s])' % (s, RI),
        'node_procs_running{%s}' % s,
        'node_procs_blocked{%s}' % s,
        'node_filefd_allocated{%s}' % s,
        'node_filefd_maximum{%s}' % s,
        'node_entropy_available_bits{%s}' % s,
        'node_timex_offset_seconds{%s}' % s,
        'node_timex_sync_status{%s}' % s,
        'process_max_fds{%s}' % s,
        'process_open_fds{%s}' % s,
        'irate(process_cpu_seconds_total{%s}[%s])' % (s, RI),
        'process_resident_memory_bytes{%s}' % s,
        'node_scrape_collector_duration_seconds{%s}' % s,
        'node_scrape_collector_success{%s}' % s,
        'node_textfile_scrape_error{%s}' % s,
        # storage disk
        'irate(node_disk_reads_completed_total{%s,device=~"%s"}[%s])' % (s, DISKS, RI),
        'irate(node_disk_written_bytes_total{%s,device=~"%s"}[%s])' % (s, DISKS, RI),
        'irate(node_disk_io_time_seconds_total{%s,device=~"%s"} [%s])' % (s, DISKS, RI),
        'irate(node_disk_read_time_seconds_total{%s,device=~"%s"}[%s]) / '
        'irate(node_disk_reads_completed_total{%s,device=~"%s"}[%s])' % (s, DISKS, RI, s, DISKS, RI),
        'irate(node_disk_io_time_weighted_seconds_total{%s,device=~"%s"}[%s])' % (s, DISKS, RI),
        # storage filesystem
        'node_filesystem_avail_bytes{%s,device!~\'rootfs\'}' % s,
        'node_filesystem_files_free{%s,device!~\'rootfs\'}' % s,
        '1 - node_filesystem_files_free{%s} / node_filesystem_files{%s}' % (s, s),
        'node_filesystem_readonly{%s,device!~\'rootfs\'}' % s,
        'node_filesystem_device_error{%s,device!~\'rootfs\',fstype!~\'tmpfs\'}' % s,
        # network detail
        'irate(node_network_receive_packets_total{%s}[%s])' % (s, RI),
        'irate(node_network_receive_errs_total{%s}[%s])' % (s, RI),
        'node_network_up{operstate="up",%s}' % s,
        'node_network_carrier{%s}' % s,
        'node_network_mtu_bytes{%s}' % s,
        'node_network_speed_bytes{%s} * 8' % s,
        'node_sockstat_TCP_alloc{%s}' % s,
        'node_sockstat_sockets_used{%s}' % s,
        'irate(node_netstat_Tcp_ActiveOpens{%s}[%s])' % (s, RI),
        'irate(node_netstat_TcpExt_ListenOverflows{%s}[%s])' % (s, RI),
        'node_nf_conntrack_entries{%s} / node_nf_conntrack_entries_limit{%s}' % (s, s),
        # summaries people add
        'topk(5, irate(node_network_receive_bytes_total{%s}[%s]))' % (s, RI),
        'sum without (cpu) (rate(node_cpu_seconds_total{%s}[30s]))' % s,
        'count by (mode) (node_cpu_seconds_total{%s})' % s,
        'avg_over_time(node_load1{%s}[30s])' % s,
        'max_over_time(node_memory_MemAvailable_bytes{%s}[30s])' % s,
        'quantile_over_time(0.95, node_load1{%s}[1m])' % s,
        'predict_linear(node_filesystem_avail_bytes{%s,fstype!="tmpfs"}[1m], 86400)' % s,
        'deriv(node_memory_MemAvailable_bytes{%s}[30s])' % s,
        'delta(node_memory_MemAvailable_bytes{%s}[30s])' % s,
        'increase(node_network_receive_bytes_total{%s}[1m])' % s,
        'increase(node_cpu_seconds_total{%s,mode="idle"}[1h])' % s,
        'changes(node_boot_time_seconds{%s}[1m])' % s,
        'resets(node_cpu_seconds_total{%s}[1m])' % s,
        'node_memory_MemAvailable_bytes{%s} offset 20s' % s,
        'label_replace(node_uname_info{%s}, "host", "$1", "instance", "(.*):.*")' % s,
        'node_uname_info{%s}' % s,
        'time() - node_boot_time_seconds{%s}' % s,
        'up{job="node"}',
        'sum by (job) (up)',
    ]
    return q


PROM_QUERIES = [
    'histogram_quantile(0.99, sum by (le, handler) (rate(prometheus_http_request_duration_seconds_bucket[20s])))',
    'histogram_quantile(0.5, sum by (le) (rate(prometheus_tsdb_compaction_chunk_samples_bucket[1m])))',
    'sum(rate(prometheus_http_requests_total[20s])) by (handler, code)',
    'rate(prometheus_tsdb_head_samples_appended_total[20s])',
    'prometheus_tsdb_head_series',
    'prometheus_tsdb_head_chunks',
    'rate(prometheus_remote_storage_samples_total[20s])',
    'prometheus_remote_storage_highest_timestamp_in_seconds - ignoring(remote_name, url) group_right '
    'prometheus_remote_storage_queue_highest_sent_timestamp_seconds',
    'scrape_duration_seconds',
    'scrape_samples_scraped',
    'scrape_series_added',
    'sum by (job) (scrape_samples_post_metric_relabeling)',
    'rate(go_gc_duration_seconds_sum[20s]) / rate(go_gc_duration_seconds_count[20s])',
    'go_gc_duration_seconds{quantile="0.75"}',
    'go_memstats_heap_inuse_bytes',
    'go_goroutines',
    'rate(process_cpu_seconds_total[20s]) * 100',
    'count by (__name__) ({__name__=~"prometheus_tsdb_.*"})',
    'count(up == 1)',
]

# Grafana's template-variable and metric-browser calls: (path, params)
META_CALLS = [
    ("/api/v1/labels", []),
    ("/api/v1/label/job/values", []),
    ("/api/v1/label/__name__/values", [("match[]", '{job="node"}')]),
    ("/api/v1/label/instance/values", [("match[]", 'node_uname_info{job="node"}')]),
    ("/api/v1/label/device/values", [("match[]", 'node_network_info')]),
    ("/api/v1/labels", [("match[]", 'node_filesystem_size_bytes')]),
    ("/api/v1/series", [("match[]", 'node_uname_info{job="node"}')]),
    ("/api/v1/series", [("match[]", 'node_filesystem_avail_bytes'), ("match[]", 'up')]),
]


def sorted_data(d):
    """A metadata answer's data, order-free (Prometheus does not promise an order for series)."""
    if isinstance(d, list) and d and isinstance(d[0], dict):
        return sorted(tuple(sorted(x.items())) for x in d)
    return sorted(d) if isinstance(d, list) else d


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-dash-")
    procs = []
    a = Auspex()
    try:
        a.start()
        ne_port = start_node_exporter(procs)
        node = "127.0.0.1:%d" % ne_port
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("""global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['%s']
  - job_name: prometheus
    static_configs:
      - targets: ['PROM']
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 500ms
      max_samples_per_send: 5000
      min_backoff: 50ms
""" % (node, a.url))
        # Prometheus scrapes itself: its own port goes into the config before it starts
        pport = free_port()
        with open(cfg) as f:
            text = f.read().replace("PROM", "127.0.0.1:%d" % pport)
        with open(cfg, "w") as f:
            f.write(text)
        prom_url = start_prometheus(procs, tmp, cfg, port=pport)

        t_start = time.time()
        time.sleep(75)
        t_end = int(time.time()) - 3  # every sample up to here is scraped; wait for remote-write
        probe = [("query", '{__name__=~".+"}[2m]'), ("time", str(t_end))]

        def samples(url):
            st, _, r = api_query(url, "/api/v1/query", probe)
            return sum(len(x["values"]) for x in r["data"]["result"]) if st == 200 else -1

        def caught_up():
            n = samples(a.url)
            return n > 0 and n == samples(prom_url)
        wait_until(caught_up, timeout=60, interval=1, what="auspex holds every sample Prometheus has up to t_end")

        first = int(t_start) + 5
        queries = node_queries(node) + PROM_QUERIES
        results = []
        for expr in queries:
            for step in (5, 15):
                start = (first + step - 1) // step * step  # Grafana aligns start and end to the step
                end = t_end // step * step
                compare(a.url, prom_url, expr, "r",
                        [("start", str(start)), ("end", str(end)), ("step", "%ds" % step)], results)
            for at in (t_end, t_end - 17.25):
                compare(a.url, prom_url, expr, "i", [("time", "%.3f" % at)], results)
        bad = [r for r in results if r[2]]
        print("dashboard queries: %d/%d identical" % (len(results) - len(bad), len(results)))
        for desc, _, diffs, _, _ in bad:
            print("  DIFF %s\n      %s" % (desc, "\n      ".join(diffs)))
        check(not bad, "every dashboard query answers as Prometheus does (%d differ)" % len(bad))
        failed = sorted({r[1] for r in results if r[4][0] != 200})
        check(not failed, "Prometheus answers every dashboard query (%d fail: %s)" % (len(failed), failed[:3]))
        answered = {r[1] for r in results if r[4][1].get("data", {}).get("result") not in ([], None)}
        empty = sorted({r[1] for r in results} - answered)
        print("  (%d queries empty on both sides on this machine: %s)" % (len(empty), "; ".join(e[:50] for e in empty)))

        same = 0
        for path, params in META_CALLS:
            p = params + [("start", str(first)), ("end", str(t_end))]
            method = "GET" if "/label/" in path else "POST"  # Prometheus takes label values by GET only
            sa, _, ra = api_query(a.url, path, p, method)
            sp, _, rp = api_query(prom_url, path, p, method)
            ok = sa == sp == 200 and sorted_data(ra["data"]) == sorted_data(rp["data"])
            same += ok
            if not ok:
                print("  DIFF %s %s\n      auspex %d %s\n      Prometheus %d %s" % (
                    path, params, sa, str(ra)[:300], sp, str(rp)[:300]))
        check(same == len(META_CALLS), "Grafana's variable calls: %d/%d identical" % (same, len(META_CALLS)))

        # the other routes a Grafana Prometheus datasource calls: exemplars (empty: neither
        # side keeps any here), the alert list, rule groups (auspex has none)
        for path, params, method in [
                ("/api/v1/query_exemplars", [("query", "up"), ("start", str(first)), ("end", str(t_end))], "POST"),
                ("/api/v1/query_exemplars", [("query", "up")], "GET"),
                ("/api/v1/query_exemplars", [("query", "sum(")], "GET"),
                ("/api/v1/query_exemplars", [("query", "up"), ("start", "x")], "GET"),
                ("/api/v1/query_exemplars", [("query", "up"), ("start", "20"), ("end", "10")], "GET"),
                ("/api/v1/alerts", [], "GET")]:
            sa, _, ra = api_query(a.url, path, params, method)
            sp, _, rp = api_query(prom_url, path, params, method)
            same = (sa == sp and ra is not None and rp is not None and ra.get("status") == rp.get("status")
                    and ra.get("errorType") == rp.get("errorType") and (ra.get("data") or []) == (rp.get("data") or []))
            check(same, "%s %s %s: auspex %d %s, Prometheus %d %s" % (
                method, path, params, sa, str(ra)[:120], sp, str(rp)[:120]))
        st, _, rr = api_query(a.url, "/api/v1/rules", [])
        check(st == 200 and rr["data"]["groups"] == [], "/api/v1/rules has Prometheus' (empty) groups list")
    finally:
        stop_procs(procs)
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
