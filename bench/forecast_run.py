#!/usr/bin/env python3
"""bench/forecast_run.py: auspex's forecaster vs R's forecast package, same splits, one table.

    python3 bench/forecast_run.py                      # build, run both, print, append
    python3 bench/forecast_run.py --quick              # 40 M4 series, 100 bulk series
    python3 bench/forecast_run.py --peers-from DIR     # reuse a previous peer run (see below)
    [--build-dir build-fcb] [--work bench/out/forecast] [--cores 2] [--arima-every 40]
    [--skip-peers] [--out bench/out/forecast_results.txt]

Steps: configure and build `forecast_bench` in --build-dir (cmake --build DIR --target
forecast_bench); run it with --splits WORK --scores WORK/auspex_scores.txt (the NAB rolling-
origin splits, the M4 hourly hold-out, the speed windows); then, on those same CSV splits,
`Rscript bench/forecast_peers.R` (forecast::ets, auto.arima, stlf, snaive and M4's Naive2);
the two run one after the other, not at the same time, so their timings do not interfere.
Prints one table per dataset (sMAPE, MASE, MAPE or OWA, ms per series; the ratio of each
MASE to the seasonal naive's on the same splits) and a speed table, and appends everything
to --out. auto.arima runs on a subset of M4 (every --arima-every'th series: 20-150 s per
series with m = 24): its row is compared with auspex on exactly that subset, from the
per-split score files.

--peers-from DIR takes forecast_peers.txt and forecast_peers_scores.txt from DIR instead of
running R again (the peers' results depend only on the data; the splits are checked to be
the ones that run was made on, by their md5 in DIR/splits.md5). The table says so.

Needs: scripts/setup_bench.sh (r-cran-forecast).
"""
import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUSPEX_MODELS = ["auto", "seasonal", "holt_winters", "seasonal_naive", "drift", "linear", "naive"]
R_MODELS = ["ets", "auto.arima", "stlf", "snaive"]
SPLIT_FILES = ["nab_splits.csv", "m4_splits.csv", "speed_series.csv"]


def parse_kv(line):
    out = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def num(d, k):
    try:
        return float(d.get(k, "nan"))
    except ValueError:
        return float("nan")


def read_results(text):
    res = {}
    for line in text.splitlines():
        if line.startswith("result "):
            d = parse_kv(line)
            res[(d["impl"], d["set"], d["group"], d["model"])] = d
    return res


def read_scores(path):
    sc = {}
    if not os.path.exists(path):
        return sc
    with open(path) as f:
        for line in f:
            if line.startswith("split "):
                d = parse_kv(line)
                key = (d["impl"], d["set"], d["model"])
                sc.setdefault(key, {})[(d["id"], d["origin"])] = (num(d, "smape"), num(d, "mase"))
    return sc


def fmt(x, digits=3):
    if x is None or x != x:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def md5_splits(d):
    """The md5 of each split file, as forecast_peers.R writes them to DIR/splits.md5."""
    out = []
    for name in SPLIT_FILES:
        with open(os.path.join(d, name), "rb") as f:
            out.append(hashlib.md5(f.read()).hexdigest())
    return " ".join(out)


def run(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def mean_over(scores, keys, idx):
    v = [scores[k][idx] for k in keys if k in scores and scores[k][idx] == scores[k][idx]]
    return statistics.fmean(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-fcb"))
    ap.add_argument("--work", default=os.path.join(ROOT, "bench/out/forecast"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/out/forecast_results.txt"))
    ap.add_argument("--cores", type=int, default=2, help="R worker processes (default 2)")
    ap.add_argument("--arima-every", type=int, default=40)
    ap.add_argument("--peers-from", help="reuse forecast_peers*.txt from this directory")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--quick", action="store_true", help="40 M4 series, 100 bulk series")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    # 1. build
    if not os.path.exists(os.path.join(a.build_dir, "CMakeCache.txt")):
        run(["cmake", "-S", ROOT, "-B", a.build_dir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
            stdout=subprocess.DEVNULL)
    run(["cmake", "--build", a.build_dir, "--target", "forecast_bench", "-j2"], stdout=subprocess.DEVNULL)

    # 2. auspex
    bench = [os.path.join(a.build_dir, "bench/forecast_bench"), "--splits", a.work,
             "--scores", os.path.join(a.work, "auspex_scores.txt")]
    m4_limit = None
    if a.quick:
        m4_limit = 40
        bench += ["--m4-limit", str(m4_limit), "--bulk", "100"]
    t0 = time.time()
    out = run(bench, stdout=subprocess.PIPE, text=True).stdout
    t_bench = time.time() - t0
    with open(os.path.join(a.work, "auspex.txt"), "w") as f:
        f.write(out)

    # 3. peers
    peers_note = ""
    peers_txt = os.path.join(a.work, "forecast_peers.txt")
    peers_scores = os.path.join(a.work, "forecast_peers_scores.txt")
    if a.peers_from:
        src = os.path.abspath(a.peers_from)
        want = open(os.path.join(src, "splits.md5")).read().strip()
        if want != md5_splits(a.work):
            sys.exit("forecast_run: --peers-from %s was made on other splits" % src)
        if src != os.path.abspath(a.work):
            for n in ("forecast_peers.txt", "forecast_peers_scores.txt", "forecast_peers.log"):
                if os.path.exists(os.path.join(src, n)):
                    shutil.copy(os.path.join(src, n), a.work)
        when = time.strftime("%H:%M UTC", time.gmtime(os.path.getmtime(os.path.join(src, "forecast_peers.txt"))))
        peers_note = f"peers: reused from the R run that ended {when} on the same splits (md5 checked)"
    elif not a.skip_peers:
        cmd = ["Rscript", os.path.join(ROOT, "bench/forecast_peers.R"), a.work, "--cores", str(a.cores),
               "--arima-every", str(a.arima_every), "--scores", peers_scores]
        if m4_limit:
            cmd += ["--m4-limit", str(m4_limit)]
        t0 = time.time()
        with open(peers_txt, "w") as fo, open(os.path.join(a.work, "forecast_peers.log"), "w") as fe:
            run(cmd, stdout=fo, stderr=fe)
        peers_note = f"peers: run after forecast_bench in this run ({time.time() - t0:.0f} s, {a.cores} workers)"
    res = read_results(out)
    if os.path.exists(peers_txt) and not a.skip_peers:
        res.update(read_results(open(peers_txt).read()))
    sc = read_scores(os.path.join(a.work, "auspex_scores.txt"))
    if not a.skip_peers:
        sc.update(read_scores(peers_scores))

    rev = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %s"], capture_output=True,
                         text=True).stdout.strip()[:80]
    load = open("/proc/loadavg").read().split()[:3]
    rver = subprocess.run(["Rscript", "-e", "cat(R.version.string, 'forecast', as.character(packageVersion('forecast')))"],
                          capture_output=True, text=True).stdout.strip()
    rep = [f"# Forecasting benchmark, {started}",
           f"auspex: working tree at {rev} (forecast_bench {t_bench:.0f} s); {peers_note or 'peers: skipped'}",
           f"{rver}; {os.cpu_count()} CPUs, load average {' '.join(load)} at the end", ""]

    # NAB
    for group in ["cpu", "network", "disk", "requests", "all"]:
        base = res.get(("auspex", "nab", group, "snaive_ref"), {})
        bm = num(base, "mase")
        rows = []
        for impl, models in (("auspex", AUSPEX_MODELS + ["snaive_ref"]), ("R", R_MODELS)):
            for m in models:
                d = res.get((impl, "nab", group, m))
                if not d:
                    continue
                name = {"snaive_ref": "seasonal naive, lag 288 (bench)",
                        "auto.arima": "auto.arima (Fourier K=4 xreg)",
                        "ets": "ets (non-seasonal: freq > 24)"}.get(m, m)
                rows.append([impl, name, d.get("n"), fmt(num(d, "smape")), fmt(num(d, "mase")),
                             fmt(num(d, "mase") / bm, 2), fmt(num(d, "mape")), fmt(num(d, "t_med_ms"), 2),
                             d.get("chosen", "") if m == "auto" else ""])
        rep.append(f"## NAB {group}: rolling origin, 8 origins x 12 h, h = 48 x 5 min, train <= 14 days")
        rep.append(table(["impl", "model", "splits", "sMAPE", "MASE", "MASE/snaive", "MAPE", "CPU ms/series",
                          "auto chose"], rows))
        rep.append("")

    # M4
    n2 = res.get(("auspex", "m4", "hourly", "naive2"), {})
    rows = []
    for impl, models in (("auspex", ["auto", "auto_nohint", "auto_24_168"] + AUSPEX_MODELS[1:] + ["snaive_ref", "naive2"]),
                         ("R", ["ets", "stlf", "snaive", "naive2"])):
        for m in models:
            d = res.get((impl, "m4", "hourly", m))
            if not d:
                continue
            name = {"auto": "auto (periods[0] = 24)", "auto_nohint": "auto (no hint)",
                    "auto_24_168": "auto (periods = {24, 168})",
                    "snaive_ref": "seasonal naive (bench)", "naive2": "Naive2" + (" (bench)" if impl == "auspex" else " (M4 code)")}.get(m, m)
            owa = 0.5 * (num(d, "smape") / num(n2, "smape") + num(d, "mase") / num(n2, "mase"))
            rows.append([impl, name, d.get("n"), fmt(num(d, "smape")), fmt(num(d, "mase")), fmt(owa),
                         fmt(num(d, "t_med_ms"), 2), d.get("chosen", "") if m.startswith("auto") else ""])
    # auto.arima on its subset, with auspex on the same series
    ar = sc.get(("R", "m4", "auto.arima"), {})
    if ar:
        keys = sorted(ar.keys())
        n2s = mean_over(sc.get(("auspex", "m4", "naive2"), {}), keys, 0)
        n2m = mean_over(sc.get(("auspex", "m4", "naive2"), {}), keys, 1)
        arr = res.get(("R", "m4", "hourly", "auto.arima"), {})
        for impl, m, label in (("R", "auto.arima", "auto.arima"), ("auspex", "auto", "auto (periods[0] = 24)"),
                               ("auspex", "snaive_ref", "seasonal naive (bench)"), ("R", "ets", "ets")):
            s = sc.get((impl, "m4", m), {})
            sm, ms = mean_over(s, keys, 0), mean_over(s, keys, 1)
            t = num(arr, "t_med_ms") if m == "auto.arima" else float("nan")
            rows.append([impl, f"{label} [subset: {len(keys)} series]", len(keys), fmt(sm), fmt(ms),
                         fmt(0.5 * (sm / n2s + ms / n2m)), fmt(t, 0) if t == t else "", ""])
    rep.append(f"## M4 hourly: last 48 of each training row held out, h = 48, season 24 "
               f"(OWA relative to Naive2 on this split)")
    rep.append(table(["impl", "model", "series", "sMAPE", "MASE", "OWA", "CPU ms/series", "auto chose"], rows))
    rep.append("Published (M4 test set, not this split): Naive2 18.383/2.395, seasonal naive "
               "13.912/1.193 (OWA 0.627), best hourly entry 8.913/0.801 (OWA 0.410).")
    rep.append("")

    # Speed
    rows = []
    auto_ms = num(res.get(("auspex", "speed", "4032pts", "auto"), {}), "t_med_ms")
    for impl, models in (("auspex", AUSPEX_MODELS), ("R", ["ets", "stlf", "auto.arima"])):
        for m in models:
            d = res.get((impl, "speed", "4032pts", m))
            if not d:
                continue
            name = "auto.arima (Fourier K=4 xreg)" if m == "auto.arima" else m
            rows.append([impl, name, d.get("n"), fmt(num(d, "t_med_ms"), 2), fmt(num(d, "t_max_ms"), 2),
                         fmt(num(d, "t_med_ms") / auto_ms, 1)])
    rep.append("## Speed: fit + 48-step forecast on 4,032 points (14 days x 5 min), each NAB trace, one thread, CPU time")
    rep.append(table(["impl", "model", "calls", "median ms", "max ms", "x auspex auto"], rows))
    b = res.get(("auspex", "speed", "bulk", "auto"))
    if b:
        rep.append(f"auspex auto on {b['n']} perturbed 4,032-point series, one thread: "
                   f"{num(b, 'cpu_s'):.2f} s CPU ({num(b, 'wall_s'):.2f} s wall), "
                   f"{num(b, 'series_per_s'):.0f} series/s, {b.get('fail')} failed")
    x = res.get(("auspex", "check", "metrics", "-"))
    if x:
        rep.append(f"metric cross-check, bench formulas vs fc_smape/fc_mase: max relative difference {x.get('xcheck')}")
    rep.append("")
    text = "\n".join(rep)
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "a") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
