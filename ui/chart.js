/* ui/chart.js: time-series charts drawn as SVG by our own code (no library, no network).
 *
 * AxChart.create(root) -> chart; chart.draw(spec) (re)draws into root, chart.destroy().
 * spec = {
 *   xmin, xmax,                     time axis, Unix seconds
 *   step,                           seconds; a line breaks where points are further apart
 *                                   than 1.5 steps (a missing sample is a gap, as in Prometheus)
 *   groups: [{name, color}],        one legend entry each; clicking it hides its lines and bands
 *   lines: [{group, points: [[t, v], ...], dashed}],
 *   bands: [{group, points: [[t, lower, upper], ...]}],   shaded lower..upper
 *   thresholds: [{value, label, color}],                  horizontal rules
 *   now,                            Unix seconds of the "now" marker, or null
 *   title, height, utc              aria label, pixel height, times in UTC instead of local
 * }
 * The SVG is plain DOM the tests can read: each line is a path.ax-line with data-group and
 * data-points (points drawn), each band a path.ax-band, the marker a line.ax-now with
 * data-t. Hover or focus the chart and use the arrow keys (Home, End, PageUp, PageDown)
 * to read the values at a time; Escape hides them.
 */
'use strict';

const AxChart = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b',
                   '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
  const MAX_TIP_ROWS = 12;

  function svg(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  /* 1, 2 or 5 times a power of ten, about span/target */
  function niceStep(span, target) {
    const raw = span / Math.max(1, target);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  }

  /* short axis number: 1.5k, 2M, 0.25, 1.2e-7 */
  function fmtAxis(v) {
    const a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 1e15 || a < 1e-3) return v.toExponential(1);
    const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (const [d, u] of units) if (a >= d) return String(+(v / d).toPrecision(3)) + u;
    return String(+v.toPrecision(4));
  }

  /* a value as read: full precision, Prometheus' spellings of the specials */
  function fmtValue(v) {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return '+Inf';
    if (v === -Infinity) return '-Inf';
    return String(+v.toPrecision(6));
  }

  const pad2 = (n) => String(n).padStart(2, '0');

  function parts(t, utc) {
    const d = new Date(t * 1000);
    return utc
      ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
      : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  }

  function fmtTime(t, utc) {
    const [y, mo, d, h, mi, s] = parts(t, utc);
    return `${y}-${pad2(mo)}-${pad2(d)} ${pad2(h)}:${pad2(mi)}:${pad2(s)}${utc ? ' UTC' : ''}`;
  }

  const TICKS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
                 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400, 365 * 86400];

  function timeTicks(x0, x1, max, utc) {
    const span = x1 - x0;
    let iv = TICKS[TICKS.length - 1];
    for (const c of TICKS) if (span / c <= max) { iv = c; break; }
    /* align to the (local) clock: ticks on whole hours, midnights... */
    const off = utc ? 0 : -new Date(x0 * 1000).getTimezoneOffset() * 60;
    const out = [];
    for (let t = Math.ceil((x0 + off) / iv) * iv - off; t <= x1 && out.length < 100; t += iv) {
      const [, mo, d, h, mi, s] = parts(t, utc);
      let label;
      if (iv >= 86400) label = `${pad2(mo)}-${pad2(d)}`;
      else if (span > 86400 && h === 0 && mi === 0) label = `${pad2(mo)}-${pad2(d)}`;
      else label = iv < 60 ? `${pad2(h)}:${pad2(mi)}:${pad2(s)}` : `${pad2(h)}:${pad2(mi)}`;
      out.push([t, label]);
    }
    return out;
  }

  /* index of the last element of sorted a with a[i][0] <= t, or -1 */
  function floorIndex(a, t) {
    let lo = 0, hi = a.length - 1, r = -1;
    while (lo <= hi) {
      const m = (lo + hi) >> 1;
      if (a[m][0] <= t) { r = m; lo = m + 1; } else hi = m - 1;
    }
    return r;
  }

  /* the element of sorted a nearest to t within tol, or null */
  function nearest(a, t, tol) {
    const i = floorIndex(a, t);
    let best = null;
    for (const k of [i, i + 1]) {
      if (k < 0 || k >= a.length) continue;
      if (Math.abs(a[k][0] - t) <= tol && (!best || Math.abs(a[k][0] - t) < Math.abs(best[0] - t))) best = a[k];
    }
    return best;
  }

  class Chart {
    constructor(root) {
      this.root = root;
      root.classList.add('ax-chart');
      root.tabIndex = 0;
      root.setAttribute('role', 'group');
      this.plot = document.createElement('div');
      this.plot.className = 'ax-plot';
      this.tip = document.createElement('div');
      this.tip.className = 'ax-tip';
      this.tip.hidden = true;
      this.live = document.createElement('div');
      this.live.className = 'sr-only';
      this.live.setAttribute('aria-live', 'polite');
      this.legend = document.createElement('ul');
      this.legend.className = 'ax-legend';
      root.append(this.plot, this.tip, this.live, this.legend);
      this.hidden = new Set();
      this.cursor = -1;
      this.width = 0;
      this.onKey = (e) => this.key(e);
      root.addEventListener('keydown', this.onKey);
      root.addEventListener('focus', () => { if (this.cursor < 0 && this.times && this.times.length) this.move(this.times.length - 1); });
      /* redraw on a width change, in the next frame (not inside the observer's callback) */
      this.ro = new ResizeObserver(() => {
        if (this.pending) return;
        this.pending = requestAnimationFrame(() => {
          this.pending = 0;
          if (this.spec && this.root.clientWidth !== this.width) this.render();
        });
      });
      this.ro.observe(root);
    }

    destroy() { this.ro.disconnect(); if (this.pending) cancelAnimationFrame(this.pending); }

    draw(spec) {
      this.spec = spec;
      this.hidden = new Set();
      this.cursor = -1;
      this.root.setAttribute('aria-label', (spec.title || 'chart') + '. Arrow keys read the values.');
      this.renderLegend();
      this.render();
    }

    renderLegend() {
      this.legend.textContent = '';
      const groups = this.spec.groups || [];
      if (groups.length < 2 && !(groups[0] && groups[0].name)) return;
      groups.forEach((g, i) => {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'ax-legend-item';
        b.setAttribute('aria-pressed', 'true');
        b.title = 'show or hide';
        const sw = document.createElement('span');
        sw.className = 'ax-swatch';
        sw.style.background = g.color;
        b.append(sw, document.createTextNode(g.name || '{}'));
        b.addEventListener('click', () => {
          if (this.hidden.has(i)) this.hidden.delete(i); else this.hidden.add(i);
          b.setAttribute('aria-pressed', String(!this.hidden.has(i)));
          this.render();
        });
        li.appendChild(b);
        this.legend.appendChild(li);
      });
    }

    visible(item) { return !this.hidden.has(item.group || 0); }

    render() {
      const spec = this.spec, utc = !!spec.utc;
      const W = Math.max(200, this.root.clientWidth || 600);
      this.width = this.root.clientWidth;
      const H = spec.height || Math.round(Math.min(320, Math.max(200, W * 0.45)));
      const x0 = spec.xmin, x1 = spec.xmax > spec.xmin ? spec.xmax : spec.xmin + 1;

      /* y range over what is visible */
      let lo = Infinity, hi = -Infinity;
      const see = (v) => { if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } };
      for (const l of spec.lines || []) if (this.visible(l)) for (const p of l.points) see(p[1]);
      for (const b of spec.bands || []) if (this.visible(b)) for (const p of b.points) { see(p[1]); see(p[2]); }
      for (const th of spec.thresholds || []) see(th.value);
      if (lo === Infinity) { lo = 0; hi = 1; }
      if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
      const pad = (hi - lo) * 0.05;
      if (lo >= 0 && lo - pad < 0) lo = 0; else lo -= pad;
      hi += pad;
      const ys = niceStep(hi - lo, Math.max(3, Math.floor(H / 50)));
      lo = Math.floor(lo / ys) * ys;
      hi = Math.ceil(hi / ys) * ys;
      const yTicks = [];
      for (let v = lo; v <= hi + ys / 2; v += ys) yTicks.push(Math.abs(v) < ys * 1e-9 ? 0 : v);
      const ml = 10 + 7 * Math.max(...yTicks.map((v) => fmtAxis(v).length));
      const m = { l: ml, r: 12, t: 14, b: 24 };
      const pw = W - m.l - m.r, ph = H - m.t - m.b;
      const X = (t) => m.l + (t - x0) / (x1 - x0) * pw;
      const Y = (v) => m.t + (hi - v) / (hi - lo) * ph;
      this.X = X; this.m = m; this.pw = pw; this.ph = ph; this.x0 = x0; this.x1 = x1;

      const s = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'ax-svg', 'aria-hidden': 'true' });
      const grid = svg('g', { class: 'ax-grid' }, s);
      for (const v of yTicks) {
        const y = Y(v);
        svg('line', { x1: m.l, x2: m.l + pw, y1: y, y2: y }, grid);
        const tx = svg('text', { x: m.l - 6, y: y + 4, 'text-anchor': 'end', class: 'ax-tick' }, grid);
        tx.textContent = fmtAxis(v);
      }
      for (const [t, label] of timeTicks(x0, x1, Math.max(2, Math.floor(pw / 90)), utc)) {
        const x = X(t);
        svg('line', { x1: x, x2: x, y1: m.t, y2: m.t + ph }, grid);
        const tx = svg('text', { x, y: H - 6, 'text-anchor': 'middle', class: 'ax-tick' }, grid);
        tx.textContent = label;
      }
      svg('rect', { x: m.l, y: m.t, width: pw, height: ph, class: 'ax-frame' }, s);

      const clip = 'ax-clip-' + Math.random().toString(36).slice(2);
      const defs = svg('defs', {}, s);
      svg('rect', { x: m.l, y: m.t - 1, width: pw, height: ph + 2 }, svg('clipPath', { id: clip }, defs));
      const body = svg('g', { 'clip-path': `url(#${clip})` }, s);
      const color = (g) => ((spec.groups || [])[g || 0] || {}).color || PALETTE[(g || 0) % PALETTE.length];
      const r1 = (v) => Math.round(v * 10) / 10;

      for (const b of spec.bands || []) {
        if (!this.visible(b)) continue;
        const pts = b.points.filter((p) => Number.isFinite(p[1]) && Number.isFinite(p[2]));
        if (!pts.length) continue;
        let d = '';
        pts.forEach((p, i) => { d += (i ? 'L' : 'M') + r1(X(p[0])) + ',' + r1(Y(p[2])); });
        for (let i = pts.length - 1; i >= 0; i--) d += 'L' + r1(X(pts[i][0])) + ',' + r1(Y(pts[i][1]));
        svg('path', { d: d + 'Z', class: 'ax-band', fill: color(b.group), 'data-group': b.group || 0,
                      'data-points': pts.length }, body);
      }
      let lastLabelY = -Infinity; /* labels closer than a line of text go under their rule */
      const ths = [...(spec.thresholds || [])].sort((a, b) => b.value - a.value);
      for (const th of ths) {
        const y = Y(th.value);
        const ly = y - 4 - lastLabelY < 12 ? y + 12 : y - 4;
        lastLabelY = ly;
        svg('line', { x1: m.l, x2: m.l + pw, y1: y, y2: y, class: 'ax-threshold', stroke: th.color || '#c00',
                      'data-value': th.value }, body);
        const tx = svg('text', { x: m.l + pw - 4, y: ly, 'text-anchor': 'end', class: 'ax-threshold-label',
                                 fill: th.color || '#c00' }, s);
        tx.textContent = th.label || fmtAxis(th.value);
      }
      const gap = (spec.step || 0) * 1.5;
      for (const l of spec.lines || []) {
        if (!this.visible(l)) continue;
        let d = '', n = 0, prev = null, run = 0;
        for (const p of l.points) {
          if (!Number.isFinite(p[1])) { prev = null; continue; }
          const brk = prev === null || (gap > 0 && p[0] - prev > gap);
          if (brk && run === 1) d += 'h0'; /* a lone point still shows (round caps) */
          if (brk) run = 0;
          d += (brk ? 'M' : 'L') + r1(X(p[0])) + ',' + r1(Y(p[1]));
          prev = p[0]; n++; run++;
        }
        if (run === 1) d += 'h0';
        if (!n) continue;
        svg('path', { d, class: 'ax-line' + (l.dashed ? ' ax-dashed' : ''), stroke: color(l.group),
                      'data-group': l.group || 0, 'data-points': n }, body);
      }
      if (spec.now != null && spec.now >= x0 && spec.now <= x1) {
        const x = X(spec.now);
        svg('line', { x1: x, x2: x, y1: m.t, y2: m.t + ph, class: 'ax-now', 'data-t': spec.now }, s);
        const right = x + 30 > m.l + pw; /* the label goes left of the marker near the edge */
        const tx = svg('text', { x: right ? x - 4 : x + 4, y: m.t + 10, class: 'ax-now-label',
                                 'text-anchor': right ? 'end' : 'start' }, s);
        tx.textContent = 'now';
      }
      this.cross = svg('line', { x1: 0, x2: 0, y1: m.t, y2: m.t + ph, class: 'ax-cross', visibility: 'hidden' }, s);
      const hit = svg('rect', { x: m.l, y: m.t, width: pw, height: ph, class: 'ax-hit' }, s);
      hit.addEventListener('mousemove', (e) => {
        const r = s.getBoundingClientRect();
        this.moveTo(x0 + (e.clientX - r.left - m.l) / pw * (x1 - x0));
      });
      hit.addEventListener('mouseleave', () => this.hide());

      /* every time any visible series has a point: where the cursor can stop */
      const ts = new Set();
      for (const l of spec.lines || []) if (this.visible(l)) for (const p of l.points) if (Number.isFinite(p[1])) ts.add(p[0]);
      for (const b of spec.bands || []) if (this.visible(b)) for (const p of b.points) ts.add(p[0]);
      this.times = [...ts].sort((a, b) => a - b).map((t) => [t]);
      this.plot.replaceChildren(s);
      this.svgEl = s;
      if (this.cursor >= this.times.length) this.cursor = this.times.length - 1;
      if (this.cursor >= 0 && !this.tip.hidden) this.move(this.cursor);
    }

    moveTo(t) {
      const i = floorIndex(this.times, t);
      if (i < 0 && !this.times.length) return;
      let k = Math.max(0, i);
      if (k + 1 < this.times.length && Math.abs(this.times[k + 1][0] - t) < Math.abs(this.times[k][0] - t)) k++;
      this.move(k);
    }

    move(i) {
      if (!this.times.length) return;
      i = Math.max(0, Math.min(this.times.length - 1, i));
      this.cursor = i;
      const t = this.times[i][0], spec = this.spec, x = this.X(t);
      this.cross.setAttribute('x1', x);
      this.cross.setAttribute('x2', x);
      this.cross.setAttribute('visibility', 'visible');
      const tol = Math.max((spec.step || 0) / 2, 1e-6);
      const rows = [];
      const name = (g) => ((spec.groups || [])[g || 0] || {}).name || '';
      for (const l of spec.lines || []) {
        if (!this.visible(l)) continue;
        const p = nearest(l.points, t, tol);
        if (p) rows.push({ g: l.group || 0, v: p[1], text: fmtValue(p[1]) + (l.dashed ? ' (forecast)' : '') });
      }
      for (const b of spec.bands || []) {
        if (!this.visible(b)) continue;
        const p = nearest(b.points, t, tol);
        if (p) rows.push({ g: b.group || 0, v: p[2], text: `band ${fmtValue(p[1])} – ${fmtValue(p[2])}` });
      }
      rows.sort((a, b) => (Number.isFinite(b.v) ? b.v : -Infinity) - (Number.isFinite(a.v) ? a.v : -Infinity));
      const tip = this.tip;
      tip.textContent = '';
      const head = document.createElement('div');
      head.className = 'ax-tip-time';
      head.textContent = fmtTime(t, !!spec.utc);
      tip.appendChild(head);
      for (const r of rows.slice(0, MAX_TIP_ROWS)) {
        const row = document.createElement('div');
        const sw = document.createElement('span');
        sw.className = 'ax-swatch';
        sw.style.background = ((spec.groups || [])[r.g] || {}).color || PALETTE[r.g % PALETTE.length];
        const label = name(r.g);
        row.append(sw, document.createTextNode((label ? label + ': ' : '') + r.text));
        tip.appendChild(row);
      }
      if (rows.length > MAX_TIP_ROWS) {
        const more = document.createElement('div');
        more.textContent = `… ${rows.length - MAX_TIP_ROWS} more`;
        tip.appendChild(more);
      }
      tip.hidden = false;
      /* beside the cursor, inside the chart */
      const w = tip.offsetWidth, rootW = this.root.clientWidth;
      let left = x + 12;
      if (left + w > rootW) left = Math.max(0, x - 12 - w);
      tip.style.left = left + 'px';
      tip.style.top = (this.m.t + 4) + 'px';
      this.live.textContent = head.textContent + ': ' + rows.slice(0, 3).map((r) => (name(r.g) ? name(r.g) + ' ' : '') + r.text).join('; ');
    }

    hide() {
      this.tip.hidden = true;
      if (this.cross) this.cross.setAttribute('visibility', 'hidden');
    }

    key(e) {
      if (e.target !== this.root || !this.times || !this.times.length) return;
      const n = this.times.length, c = this.cursor < 0 ? n - 1 : this.cursor;
      const moves = { ArrowLeft: c - 1, ArrowRight: c + 1, PageUp: c - 10, PageDown: c + 10, Home: 0, End: n - 1 };
      if (e.key in moves) { this.move(moves[e.key]); e.preventDefault(); }
      else if (e.key === 'Escape') { this.hide(); e.preventDefault(); }
    }
  }

  return { create: (root) => new Chart(root), PALETTE, fmtValue, fmtTime, fmtAxis };
})();
