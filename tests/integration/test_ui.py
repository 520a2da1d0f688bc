"""The web UI (docs/ui.md) in a real browser: Debian's headless Chromium through chromedriver.

A running auspex gets data (two series of `ui_demo` over the last 6 hours at 15 s, and a
`ui_load` signal high enough that an approve-mode rule decides to scale up), a scrape
config with one live target (node_exporter) and one dead one. Then, at 1280x800:

1. Serving: `/` and `/ui/*` come from the binary, with ETag (304 on If-None-Match), gzip
   when accepted (same bytes once inflated), a CSP that allows only this origin; /graph
   redirects; an unknown asset is a 404 in Prometheus' error shape.
2. Explore: the query typed in the box (Enter runs it) draws one line per series, and each
   line holds exactly the points /api/v1/query_range returns for the same start, end and
   step; the arrow keys on the chart show the value at a time; the table view shows the
   instant values; a bad query shows the server's own message in place, with the page
   still whole.
3. Forecast: a band is drawn, wholly ahead of the "now" marker, and the table names the model.
4. Rules: the rule's forecast chart has its band; a waiting decision is approved with the
   keyboard (focus its button, Enter) and the API then says "approved".
5. Status: series and disk figures, the targets with their up/down state, the cardinality
   tables.
6. At 400 px wide no view scrolls sideways; Tab reaches the views' links and Enter opens one.
7. Nothing the page loads comes from another origin; the console has no errors.
Screenshots: <build>/test-artifacts/ui/*.png.
"""
import gzip
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, Auspex, check, finish, free_port, http, start_node_exporter, stop_procs, wait_until  # noqa: E402
import webdriver  # noqa: E402
from webdriver import ENTER, TAB, ARROW_LEFT, Browser  # noqa: E402

ART = os.environ.get("AUSPEX_ARTIFACTS", os.path.join(BUILD, "test-artifacts", "ui"))

RULES = """webhooks:
  - {name: rx, url: 'http://127.0.0.1:9/unused', format: json, max_tries: 1, timeout: 1s}
rules:
  - name: web
    expr: 'max(ui_load)'
    scale_up_at: 50
    scale_down_at: 10
    history: 6h
    step: 1m
    horizon: 30m
    lead_time: 10m
    every: 1h
    cooldown: 1h
    capacity: {current: 2, max: 10, target_per_unit: 40}
    mode: approve
    actions: [{webhook: rx}]
"""


def api(a, path, **params):
    st, _, body = http("GET", a.url + path + ("?" + urllib.parse.urlencode(params) if params else ""))
    return st, json.loads(body) if body[:1] == b"{" else body


def load_data(a, now):
    lines = []
    for k in range(6 * 240, -1, -1):  # 6 h at 15 s
        t = now - 15 * k
        for inst, base in (("a", 10.0), ("b", 20.0)):
            lines.append('ui_demo{instance="%s"} %.3f %d' % (inst, base + 5 * math.sin(t / 900.0), t * 1000))
    for k in range(6 * 60, -1, -1):  # the rule's signal: 6 h at 1 m, a daily-ish wave over 50
        t = now - 60 * k
        lines.append("ui_load %.3f %d" % (80 + 10 * math.sin(t / 1800.0), t * 1000))
    st, _, body = http("POST", a.url + "/api/v1/import/prometheus", ("\n".join(lines) + "\n").encode())
    check(st == 204, "import: %d %s" % (st, body[:200]))


def path_points(d):
    """The (x, y) vertices of an SVG path written by ui/chart.js (M/L commands)."""
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


def attrs(b, css, *names):
    """[[attribute values...] per element matching css], read in one script: charts redraw
    (on a resize, a refresh), so elements found earlier can be gone by the next call."""
    return b.script("return [...document.querySelectorAll(arguments[0])]"
                    ".map(e => arguments[1].map(n => e.getAttribute(n)))", css, list(names))


def text(b, css):
    """innerText of the first element matching css, or None; one script (see attrs)."""
    return b.script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null", css)


def shot(b, name):
    b.screenshot(os.path.join(ART, name + ".png"))


def no_sideways_scroll(b, what):
    w = b.script("return [document.documentElement.scrollWidth, window.innerWidth]")
    check(w[0] <= w[1], "%s: no sideways scroll at %d px (page is %d px wide)" % (what, w[1], w[0]))


def test_serving(a):
    st, h, body = http("GET", a.url + "/")
    check(st == 200 and h.get("Content-Type", "").startswith("text/html"), "GET /: %d %s" % (st, h.get("Content-Type")))
    check(b'src="ui/app.js"' in body and b"<title>auspex</title>" in body, "the page loads ui/app.js")
    csp = h.get("Content-Security-Policy", "")
    check("default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp,
          "CSP allows only this origin: %s" % csp)
    etag = h.get("ETag", "")
    check(re.fullmatch(r'"[0-9a-f]{16}"', etag) is not None, "ETag: %r" % etag)
    st, h2, b2 = http("GET", a.url + "/", headers={"If-None-Match": etag})
    check(st == 304 and not b2, "If-None-Match: 304 without a body (%d, %d bytes)" % (st, len(b2)))
    for name in ("app.js", "chart.js", "style.css", "index.html"):
        st, h3, raw = http("GET", a.url + "/ui/" + name)
        st2, h4, gz = http("GET", a.url + "/ui/" + name, headers={"Accept-Encoding": "br, gzip;q=0.8"})
        check(st == 200 and st2 == 200 and h4.get("Content-Encoding") == "gzip" and "Content-Encoding" not in h3,
              "%s: plain and gzip replies" % name)
        check(gzip.decompress(gz) == raw and len(gz) < len(raw), "%s: gzip (%d B) inflates to the file (%d B)"
              % (name, len(gz), len(raw)))
        check(h3.get("Vary") == "Accept-Encoding", "%s: Vary" % name)
        src = os.path.join(os.path.dirname(__file__), "..", "..", "ui", name)
        with open(src, "rb") as f:
            check(f.read() == raw, "%s: served bytes are ui/%s" % (name, name))
    st, h, _ = http("GET", a.url + "/ui/app.js", headers={"Accept-Encoding": "gzip;q=0"})
    check(st == 200 and "Content-Encoding" not in h, "gzip;q=0 gets the plain file")
    st, _, body = http("GET", a.url + "/ui/nope.js")
    check(st == 404 and json.loads(body)["errorType"] == "not_found", "unknown asset: 404 %s" % body[:100])
    st, h, _ = http("GET", a.url + "/ui/../api/v1/status/buildinfo")
    check(st in (400, 404) or h.get("Content-Type", "").startswith("application/json"), "no path escapes /ui/")
    import urllib.request
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None
    op = urllib.request.build_opener(NoRedirect)
    try:
        op.open(a.url + "/graph", timeout=10)
        check(False, "/graph redirects")
    except urllib.error.HTTPError as e:
        check(e.code == 302 and e.headers.get("Location") == "/", "/graph: 302 to / (%d)" % e.code)
    st, _, _ = http("POST", a.url + "/")
    check(st == 405, "POST /: 405 (%d)" % st)


def test_explore(b, a):
    b.get(a.url + "/")
    box = b.wait_css("#query")
    check(b.active() == box, "the query box has the focus on load")
    shot(b, "01-explore-empty")
    b.keys("ui_demo" + ENTER)  # typed, and Enter runs it
    b.wait(lambda: len(b.find_all("#graph path.ax-line")) == 2, what="two lines drawn")
    g = b.find("#graph")
    start, end, step = g.attr("data-start"), g.attr("data-end"), g.attr("data-step")
    st, j = api(a, "/api/v1/query_range", query="ui_demo", start=start, end=end, step=step)
    check(st == 200, "query_range: %d" % st)
    want = sorted(len(s["values"]) for s in j["data"]["result"])
    paths = attrs(b, "#graph path.ax-line", "d", "data-points")
    got = sorted(len(path_points(d)) for d, _ in paths)
    got_attr = sorted(int(n) for _, n in paths)
    check(want == got == got_attr and want[0] > 200,
          "each line holds the series' points: API %s, drawn %s, data-points %s" % (want, got, got_attr))
    for d, _ in paths:
        xs = [x for x, _ in path_points(d)]
        check(all(x2 > x1 for x1, x2 in zip(xs, xs[1:])), "a line's points go left to right")
    legend = b.script("return [...document.querySelectorAll('#graph .ax-legend-item')].map(e => e.innerText)")
    check(sorted(legend) == ['ui_demo{instance="a"}', 'ui_demo{instance="b"}'], "legend: %s" % legend)
    check("2 series" in text(b, "#result-info"), "info line: %s" % text(b, "#result-info"))
    shot(b, "02-explore-graph")

    # keyboard on the chart: End is the newest point, one ArrowLeft the one before it
    chart = b.find("#graph")
    b.script("arguments[0].focus()", chart)
    b.keys(ARROW_LEFT)
    b.wait_css("#graph .ax-tip")
    second_last = {labels["instance"]: s["values"][-2] for s in j["data"]["result"] for labels in [s["metric"]]}
    tip_text = text(b, "#graph .ax-tip")
    for inst, (t, v) in second_last.items():
        check(('instance="%s"}: %s' % (inst, "%g" % float("%.6g" % float(v)))) in tip_text,
              "the tooltip reads series %s = %s at %s: %r" % (inst, v, t, tip_text))
    shot(b, "03-explore-hover")

    # the table view: the instant values
    b.find("#tab-table").click()
    b.wait(lambda: len(b.find_all("#table tbody tr")) == 2, what="two table rows")
    st, jq = api(a, "/api/v1/query", query="ui_demo", time=end)
    want_vals = sorted(s["value"][1] for s in jq["data"]["result"])
    got_vals = sorted(b.script("return [...document.querySelectorAll('#table tbody td.num')].map(e => e.innerText)"))
    check(want_vals == got_vals, "table values %s = API %s" % (got_vals, want_vals))
    b.find("#tab-graph").click()

    # a bad query: the server's message in place, the page still whole
    bad = "sum(rate(ui_demo[5m]) by"
    st, jb = api(a, "/api/v1/query_range", query=bad, start=start, end=end, step=step)
    check(st == 400 and jb["errorType"] == "bad_data", "the API refuses the bad query: %d" % st)
    q = b.find("#query")
    q.clear()
    q.send_keys(bad + ENTER)
    err = b.wait_css("#explore-error .error")
    check(jb["error"] in err.text and err.attr("role") == "alert",
          "the server's message is shown in place: %r (API: %r)" % (err.text, jb["error"]))
    check(b.find("#query").prop("value") == bad and b.find("nav").displayed() and b.find("#run").displayed(),
          "the page stays whole after a bad query")
    shot(b, "04-explore-error")
    # a query that fails at evaluation (422) shows its message too
    q.clear()
    q.send_keys('label_replace(ui_demo, "x", "$1", "instance", "(")' + ENTER)
    b.wait(lambda: "invalid regular expression" in b.find("#explore-error").text, what="an evaluation error shown")


def test_forecast(b, a):
    b.get(a.url + "/#/forecast?q=ui_demo&horizon=1h&step=1m&history=6h&show=2h&thresholds=23")
    b.wait(lambda: len(b.find_all("#forecast-chart path.ax-band")) == 2, timeout=60, what="two forecast bands")
    # one script reads the marker, the bands and the lines together: the chart redraws when
    # the table below it appears (a scrollbar changes its width), and a read spread over
    # several calls could mix two drawings
    snap = b.script("""const g = (css, names) => [...document.querySelectorAll(css)]
                          .map(e => names.map(n => e.getAttribute(n)));
                       return [g('#forecast-chart line.ax-now', ['x1', 'data-t']),
                               g('#forecast-chart path.ax-band', ['d']),
                               g('#forecast-chart path.ax-line', ['d', 'class'])];""")
    (now_x, now_t), = [(float(x), float(t)) for x, t in snap[0]]
    check(abs(now_t - time.time()) < 120, "the now marker is at the forecast's start: %s" % now_t)
    for band, in snap[1]:
        xs = [x for x, _ in path_points(band)]
        check(len(xs) == 2 * 60, "a band has 60 steps (upper and lower): %d" % len(xs))
        check(min(xs) > now_x and max(xs) > now_x + 100, "the band is drawn ahead of now (%.1f..%.1f, now %.1f)"
              % (min(xs), max(xs), now_x))
    hist = [d for d, cls in snap[2] if "ax-dashed" not in cls]
    check(len(hist) == 2 and all(max(x for x, _ in path_points(d)) <= now_x + 0.5 for d in hist),
          "the history lines end at now")
    check(len(b.find_all("#forecast-chart line.ax-threshold")) == 1, "the threshold line is drawn")
    rows = b.find_all("#forecast-table tbody tr")
    check(len(rows) == 2, "one table row per series: %d" % len(rows))
    model = rows[0].find_all("td")[1].text
    check(model.split(" ")[0] in ("seasonal", "holt_winters", "seasonal_naive", "drift", "linear", "naive", "ets", "auto")
          or model, "the model is named: %r" % model)
    check("threshold" not in b.find("#forecast-error").text, "no error")
    shot(b, "05-forecast")
    # bad forecast arguments: the server's message
    b.get(a.url + "/#/forecast?q=ui_demo&horizon=1h&step=1m&history=6h&model=nope")
    err = b.wait_css("#forecast-error .error")
    st, jb = api(a, "/api/v1/forecast", query="ui_demo", horizon="1h", step="1m", history="6h", model="nope")
    check(st == 400 and jb["error"] in err.text, "an unknown model: the server's message %r in %r" % (jb.get("error"), err.text))


def test_rules(b, a):
    wait_until(lambda: any(d["state"] == "waiting_approval" for d in
                           api(a, "/api/v1/decisions", rule="web", actionable="true")[1]["data"]["decisions"]),
               timeout=60, what="a decision waiting for approval")
    b.get(a.url + "/#/rules")
    btn = b.wait_css("#rule-web button.approve", timeout=30)
    b.wait(lambda: len(b.find_all("#rule-web path.ax-band")) == 1, timeout=30, what="the rule's forecast band")
    rule = api(a, "/api/v1/rules")[1]["data"]["rules"][0]
    want = 2 + (1 if rule["safety_margin"] > 0 else 0)  # scale up, the margin's line, scale down
    got = [float(v) for v, in attrs(b, "#rule-web line.ax-threshold", "data-value")]
    check(sorted(got) == sorted([50.0, 10.0] + ([50 * (1 - rule["safety_margin"])] if want == 3 else [])),
          "scale-up, margin and scale-down thresholds drawn: %s" % got)
    did = btn.attr("data-id")
    st, d0 = api(a, "/api/v1/decisions/" + did)
    check(d0["data"]["state"] == "waiting_approval", "decision %s waits: %s" % (did, d0["data"]["state"]))
    row = text(b, '#rule-web tr[data-id="%s"]' % did) or ""
    check("scale up" in row and "waiting approval" in row, "the row shows the decision: %r" % row[:200])
    shot(b, "06-rules")
    b.script("arguments[0].focus()", btn)
    b.keys(ENTER)  # approve with the keyboard
    wait_until(lambda: api(a, "/api/v1/decisions/" + did)[1]["data"]["state"] == "approved", timeout=15,
               what="decision approved through the API")
    b.wait(lambda: "approved" in b.find("#rule-web .rule-msg").text, what="the UI says approved")
    check("rule-msg" in (b.active().attr("class") or ""), "the focus moves to the message, not to the page's top")
    b.wait(lambda: b.find('#rule-web tr[data-id="%s"]' % did).attr("data-state") == "approved",
           what="the row's state is approved")
    st, d1 = api(a, "/api/v1/decisions/" + did)
    check(d1["data"]["deliveries"][0]["state"] in ("pending", "running", "failed", "delivered"),
          "approval released the delivery: %s" % d1["data"]["deliveries"][0]["state"])
    b.wait(lambda: "predictive" in b.find("#rule-web .backtest").text or b.find_all("#rule-web .backtest .error"),
           timeout=60, what="the backtest summary")
    shot(b, "07-rules-approved")


def test_status(b, a, live_port):
    b.get(a.url + "/#/status")
    b.wait(lambda: (text(b, "#stat-series") or "").replace(",", "").isdigit(), what="series count")
    st, rt = api(a, "/api/v1/status/runtimeinfo")
    shown = int(text(b, "#stat-series").replace(",", ""))
    check(shown > 0 and abs(shown - rt["data"]["series"]) < 2000, "series shown %d ~ %d" % (shown, rt["data"]["series"]))
    rate, disk = text(b, "#stat-rate") or "", text(b, "#stat-disk") or ""
    check("samples/s" in rate and ("MiB" in disk or "KiB" in disk), "rate and disk shown: %r %r" % (rate, disk))
    b.wait(lambda: len(b.find_all("#targets-table tr.target.up")) == 1 and len(b.find_all("#targets-table tr.target.down")) == 1,
           timeout=30, what="one target up, one down")
    check(("127.0.0.1:%d" % live_port) in (text(b, "#targets-table tr.target.up") or ""), "the live target is up")
    st, tsdb = api(a, "/api/v1/status/tsdb", limit=10)
    top = tsdb["data"]["seriesCountByMetricName"][0]["name"]
    b.wait(lambda: len(b.find_all("#status-tsdb tbody tr")) >= 3, what="cardinality tables")
    check(top in (text(b, "#status-tsdb table") or ""), "the top metric %s is listed" % top)
    shot(b, "08-status")


def test_narrow_and_keyboard(b, a):
    b.set_size(400, 800)
    b.get(a.url + "/#/explore?q=ui_demo")
    b.wait(lambda: len(b.find_all("#graph path.ax-line")) == 2, what="lines at 400 px")
    svgw = b.script("return document.querySelector('#graph svg').getBoundingClientRect().width")
    check(svgw <= 400, "the chart fits 400 px: %.0f" % svgw)
    no_sideways_scroll(b, "explore")
    shot(b, "09-narrow-explore")
    for view, css in (("forecast?q=ui_demo&horizon=1h&step=1m&history=6h", "#forecast-chart path.ax-band"),
                      ("rules", "#rule-web path.ax-band"), ("status", "#targets-table")):
        b.get(a.url + "/#/" + view)
        b.wait_css(css, timeout=60)
        no_sideways_scroll(b, view.split("?")[0])
        shot(b, "10-narrow-" + view.split("?")[0])
    # keyboard only: Tab from the top reaches the Rules link, Enter opens the view
    b.set_size(1280, 800)
    b.get(a.url + "/#/status")
    b.wait_css("#status-runtime")
    b.script("document.activeElement && document.activeElement.blur(); window.focus()")
    for _ in range(8):
        b.keys(TAB)
        if b.active().text == "Rules":
            break
    check(b.active().text == "Rules", "Tab reaches the Rules link (at %r)" % b.active().text)
    b.keys(ENTER)
    b.wait(lambda: b.script("return location.hash") == "#/rules", what="Enter opens Rules")
    b.wait_css("#rule-web")


def main():
    reason = webdriver.available()
    check(reason is None, "chromium and chromedriver are installed (scripts/setup.sh): %s" % reason)
    if reason:
        finish()
    tmp = tempfile.mkdtemp(prefix="auspex-ui-")
    procs = []
    a = b = None
    try:
        live = start_node_exporter(procs)
        dead = free_port()
        scrape = os.path.join(tmp, "scrape.yml")
        with open(scrape, "w") as f:
            f.write("scrape_configs:\n  - job_name: node\n    scrape_interval: 2s\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d', '127.0.0.1:%d']\n" % (live, dead))
        rules = os.path.join(tmp, "rules.yml")
        with open(rules, "w") as f:
            f.write(RULES)
        # the data first, then the rule (checked once, a second after start: one decision,
        # which stays waiting while the test approves it)
        data = os.path.join(tmp, "data")
        a = Auspex(data=data, keep_data=True).start()
        load_data(a, int(time.time()))
        a.stop()
        a = Auspex(data=data, args=["-rules=" + rules, "-promscrape.config=" + scrape]).start()
        test_serving(a)
        b = Browser(1280, 800)
        test_explore(b, a)
        test_forecast(b, a)
        test_rules(b, a)
        test_status(b, a, live)
        test_narrow_and_keyboard(b, a)
        origin = a.url
        foreign = b.script("return performance.getEntriesByType('resource').map(e => e.name)"
                           ".filter(n => !n.startsWith(arguments[0]))", origin)
        check(foreign == [], "nothing loaded from another origin: %s" % foreign)
        # (the 4xx answers to the bad queries above are logged as "network": expected)
        severe = [e for e in b.logs() if e.get("level") == "SEVERE" and e.get("source") != "network"]
        check(not severe, "no console errors (script, CSP): %s" % severe[:3])
    finally:
        if b:
            b.close()
        if a:
            a.cleanup()
        stop_procs(procs)
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
