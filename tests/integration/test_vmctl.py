"""Migrating a Prometheus TSDB into auspex with the real vmctl (VictoriaMetrics 1.79).

A generated OpenMetrics file with a known set of series (200 series x 4 h of 15 s samples,
3 days old: counters and gauges, decimals, negative/tiny/large values, gaps, label values
with quotes, backslashes, a newline and UTF-8) is turned into real Prometheus blocks by
`promtool tsdb create-blocks-from openmetrics`, then `vmctl prometheus --prom-snapshot`
(its defaults: gzip-compressed, chunked POST /api/v1/import bodies from 2 workers, after a
GET /health readiness check) copies it into auspex and, as the reference, into a real
victoria-metrics. Both must then export (GET /api/v1/export) exactly the source's series,
with exactly its timestamps; auspex must return exactly its values, VictoriaMetrics within
1e-15 of each series' largest |value| (it keeps a block's values as int64 decimal mantissas
with a shared exponent, so e.g. -1.82729219e-05 next to values of 1e5 comes back as
-1.8272921e-05; the count of such series is printed). A second vmctl run with a label filter and
--vm-extra-label (sent as extra_label= query parameters) must add exactly the filtered
series with the extra labels (one of which overrides an existing label).

Finally `vmctl vm-native` (VictoriaMetrics' native binary format, which auspex does not
speak) is run from the VM instance into auspex only to record what happens; it asserts
nothing.

vmctl's progress bar needs a terminal even with --vm-disable-progress-bar ("error when puts
the terminal connected to the given file descriptor"), so vmctl runs with a pty as stdin.
"""
import math
import os
import pty
import random
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from harness import Auspex, VictoriaMetrics, check, finish, free_port, http, parse_export_line, wait_until  # noqa: E402

STEP = 15          # seconds between samples
HOURS = 4
VMCTL = shutil.which("vmctl") or "/usr/bin/vmctl"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
# vmctl 1.79 loses up to 4 x --vm-concurrency series at the end of an import: its importer
# workers `select` on the close channel and the buffered input channel (capacity
# 4 x concurrency), and one that picks close returns with series still queued (fixed upstream
# later: Close() closes the input and the workers drain it). Seen here in ~half the runs, against
# auspex and against victoria-metrics alike: the request bodies vmctl sends already lack them
# (auspex_samples_ingested_total equals what arrived). So the source ends with PAD_SERIES
# small series that sort last; they are not asserted, only counted.
PAD = "zz_vmctl_padding"
PAD_SERIES = 16
WEIRD = 'say "hi" \\ back\\slash\nnewline ünïcødé ✓ 日本'


def build_source(start):
    """The source data: {labels tuple: [(ts_ms, value)]} and the OpenMetrics text.
    Deterministic for a given start (seeded PRNG)."""
    rng = random.Random(20261127)
    n = HOURS * 3600 // STEP
    fams = []   # (family, type, sample name, [(labels dict, [(ts_s, value)])])

    def base(i):
        return {"job": "app", "instance": "host-%02d:9100" % (i % 10)}

    # 60 counters with decimal increments
    series = []
    i = 0
    for method in ("GET", "POST", "PUT", "DELETE"):
        for code in ("200", "404", "500"):
            for handler in ("/", "/api/v1/query", "/api/v1/write", "/metrics", "/a b/ü"):
                lab = dict(base(i), method=method, code=code, handler=handler)
                v, pts = rng.randint(0, 10**6) / 4, []
                for k in range(n):
                    v += rng.randint(0, 400) / 4          # steps of 0.25
                    pts.append((start + k * STEP, v))
                series.append((lab, pts))
                i += 1
    fams.append(("http_requests", "counter", "http_requests_total", series))

    # 40 temperature gauges, label values with escapes and UTF-8
    series = []
    for s in range(40):
        lab = dict(base(s), zone="zone-ü-%d" % s)
        if s == 0:
            lab["sensor"] = WEIRD
        elif s < 5:
            lab["sensor"] = 'q"%d\\' % s
        v, pts = 20.0 + s, []
        for k in range(n):
            v = round(v + rng.uniform(-0.5, 0.5), 3)
            pts.append((start + k * STEP, v))
        series.append((lab, pts))
    fams.append(("cpu_temperature_celsius", "gauge", "cpu_temperature_celsius", series))

    # 50 integer gauges with gaps (missing scrapes)
    series = []
    for s in range(50):
        lab = dict(base(s), queue="q%d" % (s % 10), shard=str(s // 10))
        pts = [(start + k * STEP, float(rng.randint(0, 5000)))
               for k in range(n) if (k * 7 + s) % 13 != 0]
        series.append((lab, pts))
    fams.append(("queue_depth", "gauge", "queue_depth", series))

    # 50 gauges over many magnitudes: tiny, negative, large, up to 10 significant digits
    series = []
    for s in range(50):
        lab = dict(base(s), kind=("tiny", "neg", "big", "mixed", "const")[s % 5], idx=str(s))
        pts = []
        for k in range(n):
            kind = s % 5
            if kind == 0:
                v = float("%.6e" % (rng.random() * 1e-6))
            elif kind == 1:
                v = -round(rng.random() * 1000, 4)
            elif kind == 2:
                v = float(rng.randint(10**9, 10**12))
            elif kind == 3:
                v = float("%.9g" % (rng.gauss(0, 1) * 10 ** rng.randint(-3, 6)))
            else:
                v = 0.1 * s
            pts.append((start + k * STEP, v))
        series.append((lab, pts))
    fams.append(("job_duration_seconds", "gauge", "job_duration_seconds", series))

    # Padding for a vmctl 1.79 bug (see PAD above): the last series of the last block, in the
    # index's sorted order. Not part of the asserted source.
    series = []
    for s in range(PAD_SERIES):
        series.append(({"i": "%02d" % s}, [(start + (n - 10 + k) * STEP, float(s)) for k in range(10)]))
    fams.append((PAD, "gauge", PAD, series))

    def esc(v):
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    lines, src = [], {}
    for fam, typ, name, series in fams:
        lines.append("# TYPE %s %s" % (fam, typ))
        for lab, pts in series:
            ls = ",".join('%s="%s"' % (k, esc(v)) for k, v in lab.items())
            for ts, v in pts:
                lines.append("%s{%s} %s %d" % (name, ls, repr(v), ts))
            if name != PAD:
                key = dict(lab, __name__=name)
                src[tuple(sorted(key.items()))] = [(ts * 1000, v) for ts, v in pts]
    lines.append("# EOF")
    return src, "\n".join(lines) + "\n"


def export_all(url, match='{__name__!=""}'):
    """{labels tuple: sorted [(ts, value)]}, merging the lines of a series (VictoriaMetrics
    may write one series on several lines)."""
    st, _, body = http("GET", url + "/api/v1/export?" + urllib.parse.urlencode({"match[]": match}),
                       timeout=120)
    if st != 200:
        raise RuntimeError("export from %s: %d %r" % (url, st, body[:300]))
    out = {}
    for line in body.decode().splitlines():
        if not line.strip():
            continue
        o = parse_export_line(line)
        out.setdefault(tuple(sorted(o["metric"].items())), []).extend(zip(o["timestamps"], o["values"]))
    for k in out:
        out[k].sort()
    return out


def same_float(a, b, tol=0.0):
    """Equal, or within tol (an absolute bound) when tol > 0."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    return tol > 0 and abs(a - b) <= tol


def compare(got, want, who, rel=0.0):
    """Checks that got has exactly want's series and timestamps, and its values exactly, or
    with rel > 0 within rel x the series' largest |value|: VictoriaMetrics stores a block of
    values as int64 decimal mantissas with one shared exponent, so small values in a series
    that also holds large ones lose their last digits."""
    got = {k: v for k, v in got.items() if dict(k)["__name__"] != PAD}
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    check(not missing and not extra, "%s: series set equals the source's %d series (%d missing%s, %d extra%s)"
          % (who, len(want), len(missing), (", e.g. %r" % (dict(missing[0]),)) if missing else "",
             len(extra), (", e.g. %r" % (dict(extra[0]),)) if extra else ""))
    bad_count, bad_vals, inexact, first, first_inexact = 0, 0, 0, None, None
    for k, pts in want.items():
        g = got.get(k)
        if g is None:
            continue
        if len(g) != len(pts):
            bad_count += 1
            have = {t for t, _ in g}
            lost = [t for t, _ in pts if t not in have]
            first = first or "%r: %d samples, want %d%s" % (
                dict(k), len(g), len(pts), (" (missing %d..%d)" % (lost[0], lost[-1])) if lost else "")
            continue
        tol = rel * max(abs(v) for _, v in pts) if rel else 0.0
        if any(gt != wt or not same_float(gv, wv, tol) for (gt, gv), (wt, wv) in zip(g, pts)):
            bad_vals += 1
            j = next(j for j, (x, y) in enumerate(zip(g, pts)) if x[0] != y[0] or not same_float(x[1], y[1], tol))
            first = first or "%r: sample %d is %r, want %r" % (dict(k), j, g[j], pts[j])
        elif any(not same_float(gv, wv) for (_, gv), (_, wv) in zip(g, pts)):
            inexact += 1
            j = next(j for j, (x, y) in enumerate(zip(g, pts)) if not same_float(x[1], y[1]))
            first_inexact = first_inexact or "%r: %r, source %r" % (dict(k)["__name__"], g[j][1], pts[j][1])
    n = sum(len(p) for p in want.values())
    got_n = sum(len(g) for k, g in got.items() if k in want)
    check(bad_count == 0, "%s: per-series sample counts match (%d series differ; %d of %d samples)%s"
          % (who, bad_count, got_n, n, ("; first: " + first) if first and bad_count else ""))
    check(bad_vals == 0, "%s: every timestamp and value is %s (%d series differ)%s"
          % (who, "within %g of the series' largest value" % rel if rel else "exact", bad_vals,
             ("; first: " + first) if first and bad_vals else ""))
    if rel:
        print("  note %s: %d series hold values that are not bit-exact%s"
              % (who, inexact, (", e.g. " + first_inexact) if first_inexact else ""))


def run_vmctl(args, timeout=300):
    """Runs vmctl with a pty as stdin (its progress bar insists on a terminal).
    Returns (exit status, output text)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.run([VMCTL] + args, stdin=slave, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return -1, "timeout after %ds: %s" % (timeout, (e.output or b"").decode("utf-8", "replace"))
    finally:
        os.close(master)
        os.close(slave)


def tail(text, n=6):
    lines = [l for l in text.replace("\x1b[1A", "").splitlines() if l.strip()]
    return " | ".join(lines[-n:])


def main():
    tmp = tempfile.mkdtemp(prefix="auspex-vmctl-")
    a = Auspex()
    vm = VictoriaMetrics(tmp)
    try:
        # 2h-aligned, about 3 days ago: whole blocks, well inside both retentions
        start = (int(time.time()) - 3 * 86400) // 7200 * 7200
        src, text = build_source(start)
        nsamples = sum(len(p) for p in src.values())
        om = os.path.join(tmp, "source.om")
        with open(om, "w", encoding="utf-8") as f:
            f.write(text)
        snap = os.path.join(tmp, "snapshot")
        p = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", om, snap],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        out = p.stdout.decode("utf-8", "replace")
        blocks = [l.split() for l in out.splitlines() if re.match(r"^[0-9A-Z]{26}\s", l)]
        in_blocks = sum(int(b[4]) for b in blocks)   # BLOCK MIN MAX DURATION SAMPLES CHUNKS SERIES SIZE
        in_file = nsamples + PAD_SERIES * 10
        check(p.returncode == 0 and len(blocks) >= 2 and in_blocks == in_file,
              "promtool made %d blocks holding %d of the file's %d samples (%d series + %d padding; exit %d)"
              % (len(blocks), in_blocks, in_file, len(src), PAD_SERIES, p.returncode))

        a.start()
        vm.start()
        st, _, body = http("GET", a.url + "/health")
        check(st == 200, "auspex answers GET /health (vmctl's readiness check): %d %r" % (st, body[:40]))

        # vmctl's defaults: gzip, 2 workers, 200k-sample batches; -s: no prompts
        for name, url in (("VictoriaMetrics", vm.url), ("auspex", a.url)):
            rc, out = run_vmctl(["prometheus", "-s", "--prom-snapshot", snap, "--vm-addr", url,
                                 "--vm-disable-progress-bar"])
            check(rc == 0 and "Import finished!" in out,
                  "vmctl prometheus -> %s: exit %d, %s" % (name, rc, tail(out, 3 if rc == 0 else 8)))

        # Extra labels: a second run copies only queue_depth, with src added and job replaced
        extra = {}
        for k, pts in src.items():
            d = dict(k)
            if d["__name__"] == "queue_depth":
                d.update(src="vmctl", job="migrated")
                extra[tuple(sorted(d.items()))] = pts
        for name, url in (("VictoriaMetrics", vm.url), ("auspex", a.url)):
            rc, out = run_vmctl(["prometheus", "-s", "--prom-snapshot", snap, "--vm-addr", url,
                                 "--vm-disable-progress-bar", "--prom-filter-label", "__name__",
                                 "--prom-filter-label-value", "queue_depth|" + PAD,
                                 "--vm-extra-label", "src=vmctl", "--vm-extra-label", "job=migrated"])
            check(rc == 0 and "Import finished!" in out,
                  "vmctl prometheus --vm-extra-label -> %s: exit %d, %s" % (name, rc, tail(out, 3 if rc == 0 else 8)))

        want = dict(src)
        want.update(extra)
        total = nsamples + sum(len(p) for p in extra.values())
        for name, url in (("VictoriaMetrics", vm.url), ("auspex", a.url)):
            st, _, _ = http("POST", url + "/internal/force_flush", b"")
            check(st // 100 == 2, "%s: force_flush -> %d" % (name, st))
        got = {}
        for name, url in (("VictoriaMetrics", vm.url), ("auspex", a.url)):
            try:
                wait_until(lambda: sum(len(v) for k, v in export_all(url).items() if dict(k)["__name__"] != PAD) >= total,
                           timeout=60, interval=0.5, what="%s: %d samples visible" % (name, total))
            except TimeoutError as e:
                print("  note " + str(e)[:300])
            got[name] = export_all(url)
        for name in got:
            print("  note %s holds %d of the %d vmctl padding series"
                  % (name, sum(1 for k in got[name] if dict(k)["__name__"] == PAD), 2 * PAD_SERIES))
        compare(got["auspex"], want, "auspex vs source")
        compare(got["VictoriaMetrics"], want, "VictoriaMetrics vs source (reference)", rel=1e-15)
        g = {k: v for k, v in export_all(a.url, '{src="vmctl"}').items() if dict(k)["__name__"] != PAD}
        check(set(g) == set(extra), "auspex: {src=\"vmctl\"} selects exactly the %d extra-labelled series "
              "(got %d), job overridden to \"migrated\"" % (len(extra), len(g)))
        weird = [k for k in got["auspex"] if dict(k).get("sensor") == WEIRD]
        check(len(weird) == 1, "auspex: the label value with quote, backslash, newline and UTF-8 "
              "survived exactly (%d series)" % len(weird))

        # vm-native: VictoriaMetrics' native format, VM -> auspex. Recorded, not asserted.
        before = sum(len(v) for v in export_all(a.url).values())
        rc, out = run_vmctl(["vm-native", "--vm-native-src-addr", vm.url, "--vm-native-dst-addr", a.url,
                             "--vm-native-filter-match", '{__name__="queue_depth"}',
                             "--vm-native-filter-time-start", str(start - 3600),
                             "--vm-extra-label", "src=native"], timeout=120)
        after = sum(len(v) for v in export_all(a.url).values())
        print("  note vmctl vm-native VM -> auspex: exit %d; auspex samples %d -> %d; output: %s"
              % (rc, before, after, tail(out, 8)))
    finally:
        vm.stop()
        a.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
