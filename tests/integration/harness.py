"""Shared helpers for auspex integration tests: start the real binary (and real peers)
on free loopback ports with temp data folders, talk HTTP to them, stop them afterwards.

Environment: AUSPEX_BIN (build/auspex), AUSPEX_BUILD (the build folder, for bench/rwtool).
Every wait polls for a condition with a deadline; nothing sleeps blindly.
"""
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("AUSPEX_BUILD", os.path.join(ROOT, "build"))
AUSPEX = os.environ.get("AUSPEX_BIN", os.path.join(BUILD, "auspex"))
RWTOOL = os.path.join(BUILD, "bench", "rwtool")

FAILURES = []
PASSED = [0]


def check(cond, what):
    """Record an expectation (and print it) without stopping the test."""
    if cond:
        PASSED[0] += 1
        print("  ok   " + what)
    else:
        FAILURES.append(what)
        print("  FAIL " + what)
    return cond


def finish():
    """Print the summary line ctest shows and exit non-zero on any failure."""
    print("%d passed, %d failed" % (PASSED[0], len(FAILURES)))
    sys.exit(1 if FAILURES else 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(fn, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # connection refused while starting, etc.
            last = e
        time.sleep(interval)
    raise TimeoutError("timed out waiting for %s (last: %r)" % (what, last))


def http(method, url, body=None, headers=None, timeout=30):
    """Returns (status, headers, body bytes); never raises on HTTP status codes."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


_NONFINITE = re.compile(r"(?<=[\[,])([+-]?)Inf(?=[,\]])")


def parse_export_line(line):
    """A VictoriaMetrics export line; like VM it writes NaN, +Inf, -Inf bare."""
    return json.loads(_NONFINITE.sub(lambda m: ("-" if m.group(1) == "-" else "") + "Infinity", line))


class Auspex:
    """A running build/auspex on a free loopback port with its own data folder."""

    def __init__(self, data=None, args=(), keep_data=False):
        self.own_data = data is None
        self.data = data or tempfile.mkdtemp(prefix="auspex-it-")
        self.args = list(args)
        self.keep_data = keep_data
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tempfile.gettempdir(), "auspex-it-%d.log" % os.getpid())

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30):
        self.port = free_port()
        self.log = open(self.log_path, "ab")
        # the built-in node collector stays off unless a test passes -node.collect itself,
        # so series counts in the other tests stay exact
        node = [] if any(a.lstrip("-").startswith("node.collect") for a in self.args) \
            else ["-node.collect=0"]
        # tests write fixed timestamps from years ago: keep them unless a test sets its own
        # retention (the default 1y drops older samples at ingest, docs/retention.md)
        if not any(a.lstrip("-").startswith("retentionPeriod") for a in self.args):
            node.append("-retentionPeriod=100y")
        self.proc = subprocess.Popen(
            [AUSPEX, "-storageDataPath=" + self.data, "-httpListenAddr=127.0.0.1:%d" % self.port]
            + node + self.args, stdout=self.log, stderr=self.log)
        wait_until(lambda: self.proc.poll() is not None or
                   http("GET", self.url + "/-/ready", timeout=2)[0] == 200,
                   timeout=timeout, what="auspex ready")
        if self.proc.poll() is not None:
            raise RuntimeError("auspex exited with %d; log %s" % (self.proc.returncode, self.log_path))
        return self

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.own_data and not self.keep_data:
            shutil.rmtree(self.data, ignore_errors=True)

    def write(self, body, headers=None):
        h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
             "X-Prometheus-Remote-Write-Version": "0.1.0"}
        if headers is not None:
            h = headers
        return http("POST", self.url + "/api/v1/write", body, h)

    def export(self, match, start=None, end=None):
        q = [("match[]", m) for m in ([match] if isinstance(match, str) else match)]
        if start is not None:
            q.append(("start", str(start)))
        if end is not None:
            q.append(("end", str(end)))
        st, _, body = http("GET", self.url + "/api/v1/export?" + urllib.parse.urlencode(q))
        if st != 200:
            raise RuntimeError("export %s: %d %s" % (match, st, body[:300]))
        return [parse_export_line(line) for line in body.decode().splitlines() if line.strip()]

    def metrics(self):
        st, _, body = http("GET", self.url + "/metrics")
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
        return out

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.cleanup()


def rwtool(args, text=b""):
    """Run bench/rwtool; returns its stdout bytes."""
    p = subprocess.run([RWTOOL] + list(args), input=text, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=True)
    return p.stdout


def labels_key(metric):
    return tuple(sorted(metric.items()))


# ---- remote-write bodies built here, independent of the code under test ----

def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(num, wt, payload):
    key = _varint((num << 3) | wt)
    if wt == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def pb_write_request(series):
    """series: list of (labels as list of (name, value) in wire order, [(ts_ms, value), ...]).
    A value may be a float or raw 8 bytes (for exact NaN payloads). Returns protobuf bytes."""
    import struct as _s
    out = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for n, v in labels:
            ts += _field(1, 2, _field(1, 2, n.encode()) + _field(2, 2, v.encode()))
        for t, v in samples:
            vb = v if isinstance(v, bytes) else _s.pack("<d", v)
            ts += _field(2, 2, _field(1, 1, vb) + _field(2, 0, _varint(t)))
        out += _field(1, 2, bytes(ts))
    return bytes(out)


def snappy_literal(data):
    """A valid snappy block that stores data as literals (no compression)."""
    out = bytearray(_varint(len(data)))
    i = 0
    while i < len(data):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2, n & 0xFF, n >> 8])
        out += chunk
        i += len(chunk)
    return bytes(out)


def rw_body(series):
    return snappy_literal(pb_write_request(series))


# ---- real peers ----

def start_node_exporter(procs):
    """Start prometheus-node-exporter on a free loopback port (appended to procs, stopped by
    stop_procs); returns its port once /metrics answers."""
    port = free_port()
    procs.append(subprocess.Popen(["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % port],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_until(lambda: http("GET", "http://127.0.0.1:%d/metrics" % port, timeout=2)[0] == 200,
               what="node_exporter up")
    return port


class VictoriaMetrics:
    """Debian's victoria-metrics on a free loopback port, its data and log in tmp; start()
    again after stop() reuses the same port and data."""

    def __init__(self, tmp):
        self.port = free_port()
        self.data = os.path.join(tmp, "vm-data")
        self.log = os.path.join(tmp, "vm.log")
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        with open(self.log, "ab") as lf:
            self.proc = subprocess.Popen(
                [shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics", "-storageDataPath=" + self.data, "-httpListenAddr=127.0.0.1:%d" % self.port,
                 "-retentionPeriod=100y", "-loggerLevel=WARN"], stdout=lf, stderr=lf)
        wait_until(lambda: self.proc.poll() is not None or http("GET", self.url + "/health", timeout=2)[0] == 200,
                   timeout=60, what="victoria-metrics ready")
        if self.proc.poll() is not None:
            raise RuntimeError("victoria-metrics exited with %d; log %s" % (self.proc.returncode, self.log))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_prometheus(procs, tmp, cfg_path, args=(), port=None):
    """Start Debian's prometheus with cfg_path, its TSDB and log in tmp, on loopback port
    `port` (default a free one; appended to procs); returns its URL once /-/ready answers."""
    port = port or free_port()
    procs.append(subprocess.Popen(
        ["prometheus", "--config.file=" + cfg_path, "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
         "--web.listen-address=127.0.0.1:%d" % port] + list(args),
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prom.log"), "wb")))
    url = "http://127.0.0.1:%d" % port
    wait_until(lambda: http("GET", url + "/-/ready", timeout=2)[0] == 200, timeout=60, what="prometheus ready")
    return url


def stop_procs(procs):
    """Terminate every process still running, then wait (kill after 20 s)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---- PromQL comparisons beside a real Prometheus ----

RW_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
              "X-Prometheus-Remote-Write-Version": "0.1.0"}

STALE_NAN = bytes.fromhex("020000000000f07f")  # Prometheus' staleness marker, little endian


def remote_write(url, series, batch=50):
    """Write series (as pb_write_request takes them) to url's /api/v1/write in batches of
    `batch` series. Returns the list of (status, body) of failed requests (empty: all 204)."""
    bad = []
    for i in range(0, len(series), batch):
        st, _, body = http("POST", url + "/api/v1/write", rw_body(series[i:i + batch]), RW_HEADERS)
        if st != 204:
            bad.append((st, body[:200]))
    return bad


def api_query(url, path, params, method="GET", timeout=60):
    """GET (URL parameters) or POST (form body) a query API route. Returns (status, headers,
    decoded JSON or None when the body is not JSON)."""
    data = urllib.parse.urlencode(params)
    if method == "GET":
        st, hdr, body = http("GET", url + path + "?" + data, timeout=timeout)
    else:
        st, hdr, body = http("POST", url + path, data.encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"}, timeout=timeout)
    try:
        return st, hdr, json.loads(body)
    except ValueError:
        return st, hdr, None
