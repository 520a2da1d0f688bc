"""`auspex forecast` (docs/cli.md) run as a user would: the real binary on a NAB series
(skipped with a message when /work/shared/data/nab is absent) and on generated files in
every timestamp family. Checks the header, N rows, yhat_lower <= yhat <= yhat_upper,
output timestamps that continue the input's grid in the input's format, identical
forecasts for the same series with and without timestamps, -horizon/-season durations,
stdin, the stderr model line, and exit status 2 with one stderr line on bad input."""
import math
import os
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone

from harness import AUSPEX, check, finish

NAB = "/work/shared/data/nab/ec2_cpu_utilization_5f5533.csv"
HEADER = "yhat,yhat_lower,yhat_upper"


def run(args, stdin=None):
    p = subprocess.run([AUSPEX, "forecast"] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def rows_of(out):
    lines = out.splitlines()
    return lines[0] if lines else "", [l.split(",") for l in lines[1:]]


def check_band(rows, what):
    ok = all(len(r) == 4 and float(r[2]) <= float(r[1]) <= float(r[3]) and
             all(math.isfinite(float(x)) for x in r[1:]) for r in rows)
    check(ok, "%s: lower <= yhat <= upper, all finite" % what)


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def series(n):
    """A daily-seasonal hourly series with a trend and deterministic noise."""
    return [10 + 0.01 * i + 3 * math.sin(2 * math.pi * i / 24) + ((i * 7919) % 13) / 13.0
            for i in range(n)]


def fmt_space(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


def fmt_rfc(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_nab():
    if not os.path.exists(NAB):
        print("  skip NAB file: %s is absent" % NAB)
        return
    with open(NAB) as f:
        lines = f.read().splitlines()
    last = datetime.strptime(lines[-1].split(",")[0], "%Y-%m-%d %H:%M:%S")
    rc, out, err = run(["-input=" + NAB, "-horizon=12"])
    head, rows = rows_of(out)
    check(rc == 0, "NAB: exit 0 (%d %r)" % (rc, err))
    check(head == "timestamp," + HEADER, "NAB: header %r" % head)
    check(len(rows) == 12, "NAB: 12 rows (%d)" % len(rows))
    check_band(rows, "NAB")
    want = [fmt_space(last + timedelta(minutes=5 * (k + 1))) for k in range(12)]
    check([r[0] for r in rows] == want, "NAB: timestamps continue the 5m grid in the input's "
          "format (%s..)" % (rows[0][0] if rows else None))
    check(err.startswith("auspex forecast: model=") and "smape=" in err and "mase=" in err and
          "periods=" in err and "step=5m" in err and err.count("\n") == 1,
          "NAB: one stderr line with model, periods, sMAPE, MASE (%r)" % err)
    # a duration horizon: 1h at a 5m step is 12 steps, the same output
    rc2, out2, _ = run(["-input=" + NAB, "-horizon=1h"])
    check(rc2 == 0 and out2 == out, "NAB: -horizon=1h is -horizon=12")
    # a season as a duration equals the same season in steps
    rc3, out3, _ = run(["-input=" + NAB, "-horizon=12", "-season=1d", "-quiet"])
    rc4, out4, err4 = run(["-input=" + NAB, "-horizon=12", "-season=288", "-quiet"])
    check(rc3 == 0 and out3 == out4 and err4 == "", "NAB: -season=1d is -season=288; -quiet is quiet")


def test_formats(tmp):
    n, h = 24 * 14, 30
    ys = series(n)
    t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
    ts = [t0 + timedelta(hours=i) for i in range(n)]
    vals = write(tmp, "values.csv", "".join("%r\n" % y for y in ys))
    space = write(tmp, "space.csv", "timestamp,value\n" + "".join(
        "%s,%r\n" % (fmt_space(t), y) for t, y in zip(ts, ys)))
    rfc = write(tmp, "rfc.csv", "".join("%s,%r\n" % (fmt_rfc(t), y) for t, y in zip(ts, ys)))
    unix = write(tmp, "unix.csv", "ts,value\r\n" + "".join(
        "%d,%r\r\n" % (int(t.timestamp()), y) for t, y in zip(ts, ys)))
    common = ["-horizon=%d" % h, "-season=24"]

    rc, out, err = run(["-input=" + vals] + common)
    head, vrows = rows_of(out)
    check(rc == 0 and head == "step," + HEADER, "values only: exit 0, step header (%d %r)" % (rc, err))
    check([r[0] for r in vrows] == [str(k) for k in range(1, h + 1)], "values only: steps 1..%d" % h)
    check_band(vrows, "values only")
    numbers = [r[1:] for r in vrows]

    future = [t0 + timedelta(hours=n + k) for k in range(h)]
    for path, fmt, name in ((space, fmt_space, "YYYY-MM-DD HH:MM:SS"), (rfc, fmt_rfc, "RFC 3339"),
                            (unix, lambda t: str(int(t.timestamp())), "Unix seconds")):
        rc, out, err = run(["-input=" + path] + common)
        head, rows = rows_of(out)
        check(rc == 0 and head == "timestamp," + HEADER, "%s: exit 0, timestamp header (%r)" % (name, err))
        check(len(rows) == h, "%s: %d rows" % (name, h))
        check([r[0] for r in rows] == [fmt(t) for t in future],
              "%s: timestamps continue the grid in the same format (%s)" % (name, rows[0][0] if rows else None))
        check([r[1:] for r in rows] == numbers, "%s: same numbers as the values-only input" % name)
        check("step=1h" in err, "%s: step 1h found (%r)" % (name, err))

    # stdin, and a horizon given as a duration with timestamps
    with open(rfc, "rb") as f:
        data = f.read()
    rc, out, _ = run(["-input=-", "-horizon=1d6h", "-season=1d"], stdin=data)
    head, rows = rows_of(out)
    check(rc == 0 and len(rows) == h and [r[1:] for r in rows] == numbers,
          "stdin with -horizon=1d6h -season=1d: the same %d rows" % h)

    # gaps: a missing row and an empty value still give N rows on the same grid
    lines = ["%s,%r" % (fmt_space(t), y) for t, y in zip(ts, ys)]
    del lines[100]
    lines[200] = lines[200].split(",")[0] + ","
    rc, out, err = run(["-input=" + write(tmp, "gaps.csv", "\n".join(lines) + "\n"), "-horizon=5"])
    head, rows = rows_of(out)
    check(rc == 0 and [r[0] for r in rows] == [fmt_space(t) for t in future[:5]],
          "gaps: 5 rows continuing the grid (%r)" % err)
    check_band(rows, "gaps")


def test_errors(tmp):
    good = write(tmp, "good.csv", "1\n2\n3\n4\n")
    cases = [
        ("empty file", [write(tmp, "empty.csv", ""), "-horizon=3"], "no data rows"),
        ("header only", [write(tmp, "hdr.csv", "timestamp,value\n"), "-horizon=3"], "no data rows"),
        ("no finite value", [write(tmp, "nan.csv", "ts,v\n100,NaN\n200,\n"), "-horizon=3"],
         "no finite value"),
        ("bad number", [write(tmp, "badnum.csv", "1\n2\n3x\n"), "-horizon=3"], "line 3"),
        ("mixed formats", [write(tmp, "mixed.csv", "2024-05-01T00:00:00Z,1\n1714525200,2\n"),
                           "-horizon=3"], "line 2"),
        ("truncated line", [write(tmp, "trunc.csv", "100,1\n200,2\n30"), "-horizon=3"], "line 3"),
        ("missing file", [os.path.join(tmp, "nope.csv"), "-horizon=3"], "cannot open"),
        ("no -horizon", [good], "-horizon"),
        ("horizon 0", [good, "-horizon=0"], "-horizon"),
        ("bad horizon", [good, "-horizon=soon"], "-horizon"),
        ("duration horizon without timestamps", [good, "-horizon=4h"], "needs timestamps"),
        ("bad model", [good, "-horizon=3", "-model=oracle"], "unknown model"),
        ("coverage 1", [good, "-horizon=3", "-coverage=1"], "-coverage"),
        ("season 1", [good, "-horizon=3", "-season=1"], "-season"),
        ("4 seasons", [good, "-horizon=3", "-season=2,3,4,5"], "at most 3"),
        ("unknown flag", [good, "-horizon=3", "-frobnicate"], "unknown flag"),
    ]
    for what, args, want in cases:
        args = ["-input=" + args[0]] + args[1:] if not args[0].startswith("-") else args
        rc, out, err = run(args)
        check(rc == 2 and out == "" and want in err and err.count("\n") == 1 and
              err.startswith("auspex forecast: "),
              "%s -> exit 2, one stderr line with %r (%d %r)" % (what, want, rc, err))
    rc, out, _ = run(["-help"])
    check(rc == 0 and "-horizon" in out and "-season" in out, "forecast -help lists the flags")
    p = subprocess.run([AUSPEX, "-help"], stdout=subprocess.PIPE, timeout=30)
    check(b"auspex forecast" in p.stdout, "auspex -help mentions the forecast subcommand")


def main():
    with tempfile.TemporaryDirectory(prefix="auspex-cli-") as tmp:
        test_nab()
        test_formats(tmp)
        test_errors(tmp)
    finish()


if __name__ == "__main__":
    main()
