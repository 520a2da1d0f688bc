/* ui/app.js: the auspex web UI (docs/ui.md). One page, four views chosen by the URL's hash:
 *   #/explore?q=&range=&end=&step=&tab=    PromQL: graph (query_range) or table (query)
 *   #/forecast?q=&horizon=&step=&history=&show=&model=&coverage=&thresholds=
 *   #/rules                                each rule: forecast, decisions, approve/reject, backtest
 *   #/status                               build, runtime, storage, cardinality, scrape targets
 * Everything comes from the HTTP API on the same origin (relative URLs, so the UI also works
 * behind a reverse proxy under a path). Errors are shown where they happen with the server's
 * own message; a failed view never blanks the page (see fail() and the window handlers).
 */
'use strict';

const RANGES = ['5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '2d', '7d', '14d', '30d', '90d'];
const MODELS = ['auto', 'seasonal', 'holt_winters', 'seasonal_naive', 'drift', 'linear', 'naive'];
const MAX_DRAWN = 200; /* series drawn in one chart; the rest are listed as left out */
const MAX_ROWS = 1000; /* rows of the table view */
const HISTORY_KEY = 'auspex.queryHistory';
const UTC_KEY = 'auspex.utc';

let cleanups = []; /* timers and charts of the current view, undone on navigation */
const backtestCache = new Map(); /* rule -> {at, span, data|error}: a replay is costly */

/* ---------- small DOM and format helpers ---------- */

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k === 'style') Object.assign(e.style, v); /* CSSOM: the CSP refuses style="" text */
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

const DUR_UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/* "1h30m" -> 5400 (seconds); a bare number is seconds; NaN when unreadable */
function parseDur(s) {
  s = String(s || '').trim();
  if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/y;
  let total = 0, m, pos = 0;
  while (pos < s.length && (re.lastIndex = pos, m = re.exec(s))) { total += parseFloat(m[1]) * DUR_UNITS[m[2]]; pos = re.lastIndex; }
  return pos === s.length && s.length ? total : NaN;
}

/* 11400 -> "3h10m" */
function fmtDur(sec) {
  sec = Math.round(Math.abs(sec));
  if (sec === 0) return '0s';
  const parts = [];
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (sec >= n) { parts.push(Math.floor(sec / n) + u); sec %= n; }
    if (parts.length === 2) break;
  }
  return parts.join('');
}

function utc() { return localStorage.getItem(UTC_KEY) === '1'; }
const fmtTime = (t) => AxChart.fmtTime(t, utc());
const isoToSec = (s) => (s ? Date.parse(s) / 1000 : NaN);
const nowSec = () => Date.now() / 1000;

/* {__name__:"up",job:"x"} -> up{job="x"} */
function seriesName(metric) {
  const m = metric || {};
  const rest = Object.keys(m).filter((k) => k !== '__name__').sort()
    .map((k) => `${k}=${JSON.stringify(m[k])}`).join(', ');
  return (m.__name__ || '') + (rest || !m.__name__ ? `{${rest}}` : '');
}

function colorOf(i) { return AxChart.PALETTE[i % AxChart.PALETTE.length]; }

/* ---------- the API ---------- */

class ApiError extends Error {
  constructor(message, type, status) { super(message); this.type = type; this.status = status; }
}

/* GET (or POST as a form) a JSON route; resolves to the whole JSON answer, or rejects with
 * the server's error message (Prometheus' error shape) or why it could not be read. */
async function api(path, params, method) {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== '') form.append(k, v);
  let url = path;
  const init = { method: method || 'GET', headers: { Accept: 'application/json' } };
  if (init.method === 'GET') { const qs = form.toString(); if (qs) url += '?' + qs; }
  else { init.body = form; }
  let res;
  try { res = await fetch(url, init); } catch (e) { throw new ApiError(`cannot reach auspex: ${e.message}`, 'network', 0); }
  const text = await res.text();
  let j = null;
  try { j = JSON.parse(text); } catch (e) { /* not JSON: said below */ }
  if (!j || typeof j !== 'object') throw new ApiError(`HTTP ${res.status}: ${text.slice(0, 300) || res.statusText}`, 'http', res.status);
  if (j.status !== 'success') throw new ApiError(j.error || `HTTP ${res.status}`, j.errorType || 'error', res.status);
  return j;
}

/* an inline error box: role=alert, the server's message as is */
function errorBox(err, where) {
  const type = err && err.type ? `${err.type}${err.status ? ' ' + err.status : ''}: ` : '';
  return h('div', { class: 'error', role: 'alert' }, (where ? where + ': ' : '') + type + (err && err.message ? err.message : String(err)));
}

/* replace a view's content with an error instead of going blank */
function fail(target, err, where) {
  target.replaceChildren(errorBox(err, where));
}

/* ---------- routing ---------- */

function route() {
  for (const c of cleanups) { try { c(); } catch (e) { /* already gone */ } }
  cleanups = [];
  const raw = location.hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const name = (qi < 0 ? raw : raw.slice(0, qi)) || 'explore';
  const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  const views = { explore: viewExplore, forecast: viewForecast, rules: viewRules, status: viewStatus };
  const view = views[name] || viewExplore;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === (views[name] ? name : 'explore')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('view');
  main.replaceChildren();
  document.title = `auspex · ${views[name] ? name : 'explore'}`;
  try { view(main, params); } catch (e) { fail(main, e, 'this view failed'); }
}

/* keep the view's inputs in the URL (bookmarkable) without re-rendering */
function setParams(view, obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v != null && v !== '') p.set(k, v);
  history.replaceState(null, '', `#/${view}${p.toString() ? '?' + p : ''}`);
}

function field(label, input, hint) {
  const id = input.id || (input.id = 'f-' + Math.random().toString(36).slice(2, 8));
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', {}, hint) : null);
}

/* a value from the URL that is not among the options is kept as one more (the server then
 * says what is wrong with it, rather than the UI silently using another) */
function select(id, options, value) {
  if (value && !options.some((o) => (Array.isArray(o) ? o[0] : o) === value)) options = [...options, [value, value]];
  return h('select', { id }, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return h('option', { value: v, selected: v === value }, text);
  }));
}

function newChart(container) {
  const c = AxChart.create(container);
  cleanups.push(() => c.destroy());
  return c;
}

/* the PromQL box: Enter runs (Shift+Enter: a new line), as in Prometheus */
function queryBox(id, value, onRun) {
  const ta = h('textarea', { id, rows: 2, spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off',
                             class: 'query', placeholder: 'PromQL expression, e.g. rate(node_cpu_seconds_total[5m])',
                             value });
  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); onRun(); }
  });
  return ta;
}

function loadHistory() {
  try { const a = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]'); return Array.isArray(a) ? a : []; } catch (e) { return []; }
}

function remember(q) {
  const a = [q, ...loadHistory().filter((x) => x !== q)].slice(0, 50);
  try { localStorage.setItem(HISTORY_KEY, JSON.stringify(a)); } catch (e) { /* storage full or off */ }
}

/* matrix result -> chart groups and lines */
function matrixSpec(result, extra) {
  const drawn = result.slice(0, MAX_DRAWN);
  return Object.assign({
    groups: drawn.map((s, i) => ({ name: seriesName(s.metric), color: colorOf(i) })),
    lines: drawn.map((s, i) => ({ group: i, points: (s.values || []).map(([t, v]) => [t, parseFloat(v)]) })),
    bands: [], thresholds: [], utc: utc(),
  }, extra);
}

/* ---------- Explore ---------- */

function viewExplore(main, params) {
  const st = {
    q: params.get('q') || '', range: params.get('range') || '1h', end: params.get('end') || '',
    step: params.get('step') || '', tab: params.get('tab') === 'table' ? 'table' : 'graph',
  };
  let seq = 0;
  const ta = queryBox('query', st.q, run);
  const hist = select('query-history', [['', 'Recent queries…'], ...loadHistory().map((q) => [q, q.length > 80 ? q.slice(0, 77) + '…' : q])], '');
  hist.addEventListener('change', () => { if (hist.value) { ta.value = hist.value; hist.value = ''; ta.focus(); run(); } });
  const range = select('range', RANGES.map((r) => [r, r]), RANGES.includes(st.range) ? st.range : '1h');
  const end = h('input', { id: 'end', type: 'datetime-local', step: 1, value: st.end });
  const step = h('input', { id: 'step', type: 'text', inputmode: 'text', placeholder: 'auto', value: st.step, size: 6 });
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Result view' });
  const tabGraph = h('button', { type: 'button', role: 'tab', id: 'tab-graph', 'aria-controls': 'result' }, 'Graph');
  const tabTable = h('button', { type: 'button', role: 'tab', id: 'tab-table', 'aria-controls': 'result' }, 'Table');
  tabs.append(tabGraph, tabTable);
  const setTab = (t) => {
    st.tab = t;
    tabGraph.setAttribute('aria-selected', String(t === 'graph'));
    tabTable.setAttribute('aria-selected', String(t === 'table'));
    tabGraph.tabIndex = t === 'graph' ? 0 : -1;
    tabTable.tabIndex = t === 'table' ? 0 : -1;
  };
  tabGraph.addEventListener('click', () => { setTab('graph'); run(); });
  tabTable.addEventListener('click', () => { setTab('table'); run(); });
  tabs.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      const t = st.tab === 'graph' ? 'table' : 'graph';
      setTab(t); (t === 'graph' ? tabGraph : tabTable).focus(); run();
    }
  });
  setTab(st.tab);
  const forecastLink = h('a', { href: '#/forecast', class: 'button secondary', id: 'to-forecast' }, 'Forecast this');
  const info = h('p', { class: 'meta', id: 'result-info', role: 'status' });
  const err = h('div', { id: 'explore-error' });
  const result = h('div', { id: 'result', role: 'tabpanel' });

  const form = h('form', { class: 'query-form', onsubmit: (e) => { e.preventDefault(); run(); } },
    field('Expression', ta),
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary', id: 'run' }, 'Run'),
      field('Range', range), field('End', end, 'empty: now'), field('Step', step, 'seconds or 1m…'),
      field('History', hist), forecastLink));
  main.append(h('h1', { class: 'sr-only' }, 'Explore'), form, tabs, err, info, result);
  for (const el of [range, end, step]) el.addEventListener('change', run);

  function run() {
    st.q = ta.value.trim();
    st.range = range.value; st.end = end.value; st.step = step.value.trim();
    setParams('explore', { q: st.q, range: st.range, end: st.end, step: st.step, tab: st.tab === 'table' ? 'table' : '' });
    forecastLink.href = '#/forecast' + (st.q ? '?q=' + encodeURIComponent(st.q) : '');
    const my = ++seq;
    err.replaceChildren();
    if (!st.q) { info.textContent = 'Type a PromQL expression and press Enter.'; result.replaceChildren(); return; }
    remember(st.q);
    const endT = st.end ? new Date(st.end).getTime() / 1000 : nowSec();
    if (!Number.isFinite(endT)) { err.replaceChildren(errorBox(new Error('the end time cannot be read'))); return; }
    const rangeS = parseDur(st.range);
    let stepS = st.step ? parseDur(st.step) : Math.max(Math.floor(rangeS / 250), 1);
    if (!(stepS > 0)) { err.replaceChildren(errorBox(new Error(`the step "${st.step}" cannot be read: use seconds or a duration such as 1m`))); return; }
    const t0 = performance.now();
    info.textContent = 'Running…';
    const done = (text) => { if (my === seq) info.textContent = `${text} · ${Math.round(performance.now() - t0)} ms`; };
    const onErr = (e) => {
      if (my !== seq) return;
      info.textContent = '';
      result.replaceChildren();
      err.replaceChildren(errorBox(e));
    };
    if (st.tab === 'graph') {
      const start = endT - rangeS;
      api('api/v1/query_range', { query: st.q, start: start.toFixed(3), end: endT.toFixed(3), step: stepS }, 'POST').then((j) => {
        if (my !== seq) return;
        const d = j.data;
        warnings(j);
        if (d.resultType !== 'matrix') throw new ApiError(`unexpected result type ${d.resultType}`, 'ui', 0);
        const box = h('div', { class: 'chart-box', id: 'graph', 'data-start': start, 'data-end': endT, 'data-step': stepS,
                               'data-series': d.result.length });
        result.replaceChildren(box);
        if (!d.result.length) { box.append(h('p', { class: 'empty' }, 'No data in this range.')); done('0 series'); return; }
        const chart = newChart(box);
        chart.draw(matrixSpec(d.result, { xmin: start, xmax: endT, step: stepS, now: null, title: `Graph of ${st.q}` }));
        const pts = d.result.reduce((n, s) => n + s.values.length, 0);
        if (d.result.length > MAX_DRAWN) box.append(h('p', { class: 'meta' }, `Showing the first ${MAX_DRAWN} of ${d.result.length} series.`));
        done(`${d.result.length} series, ${pts} points, step ${fmtDur(stepS)}`);
      }).catch(onErr);
    } else {
      api('api/v1/query', { query: st.q, time: st.end ? endT.toFixed(3) : '' }, 'POST').then((j) => {
        if (my !== seq) return;
        warnings(j);
        result.replaceChildren(resultTable(j.data));
        const n = Array.isArray(j.data.result) ? j.data.result.length : 1;
        done(`${j.data.resultType}, ${n} ${n === 1 ? 'result' : 'results'}`);
      }).catch(onErr);
    }
  }

  function warnings(j) {
    if (j.warnings && j.warnings.length) err.replaceChildren(h('div', { class: 'warning', role: 'status' }, j.warnings.join('; ')));
  }

  if (st.q) run(); else info.textContent = 'Type a PromQL expression and press Enter.';
  ta.focus();
}

function resultTable(d) {
  const wrap = h('div', { class: 'table-wrap' });
  const table = h('table', { class: 'result-table', id: 'table' });
  const body = h('tbody');
  if (d.resultType === 'scalar' || d.resultType === 'string') {
    table.append(h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, d.resultType), h('th', { scope: 'col' }, 'value'))));
    body.append(h('tr', {}, h('td', {}, fmtTime(d.result[0])), h('td', { class: 'num' }, d.result[1])));
  } else {
    table.append(h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'series'), h('th', { scope: 'col' }, d.resultType === 'matrix' ? 'values' : 'value'))));
    for (const s of d.result.slice(0, MAX_ROWS)) {
      const v = d.resultType === 'matrix'
        ? s.values.map(([t, x]) => `${x} @${t}`).join('\n')
        : s.value[1];
      body.append(h('tr', {}, h('td', { class: 'labels' }, seriesName(s.metric)), h('td', { class: 'num' }, v)));
    }
    if (!d.result.length) body.append(h('tr', {}, h('td', { colspan: 2, class: 'empty' }, 'Empty result.')));
    if (d.result.length > MAX_ROWS) body.append(h('tr', {}, h('td', { colspan: 2, class: 'meta' }, `Showing the first ${MAX_ROWS} of ${d.result.length} results.`)));
  }
  table.append(body);
  wrap.append(table);
  return wrap;
}

/* ---------- Forecast ---------- */

function viewForecast(main, params) {
  const st = {
    q: params.get('q') || '', horizon: params.get('horizon') || '4h', step: params.get('step') || '5m',
    history: params.get('history') || '7d', show: params.get('show') || '', model: params.get('model') || 'auto',
    coverage: params.get('coverage') || '0.8', thresholds: params.get('thresholds') || '',
  };
  let seq = 0;
  const ta = queryBox('fc-query', st.q, run);
  const input = (id, v, size) => h('input', { id, type: 'text', value: v, size: size || 5, autocomplete: 'off' });
  const horizon = input('fc-horizon', st.horizon), step = input('fc-step', st.step), hist = input('fc-history', st.history);
  const show = select('fc-show', [['', 'auto (4 × horizon)'], ...['1h', '2h', '3h', '6h', '12h', '1d', '2d', '7d', '14d'].map((r) => [r, r])], st.show);
  const model = select('fc-model', MODELS.map((m) => [m, m]), st.model);
  const coverage = input('fc-coverage', st.coverage, 4);
  const thresholds = h('input', { id: 'fc-thresholds', type: 'text', value: st.thresholds, size: 10, placeholder: 'e.g. 80, 20', inputmode: 'decimal' });
  const err = h('div', { id: 'forecast-error' });
  const info = h('p', { class: 'meta', role: 'status', id: 'forecast-info' });
  const result = h('div', { id: 'forecast-result' });
  main.append(h('h1', { class: 'sr-only' }, 'Forecast'),
    h('form', { class: 'query-form', onsubmit: (e) => { e.preventDefault(); run(); } },
      field('Expression', ta),
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary', id: 'fc-run' }, 'Forecast'),
        field('Horizon', horizon), field('Step', step), field('Train on', hist), field('Show past', show),
        field('Model', model), field('Band coverage', coverage), field('Thresholds', thresholds))),
    err, info, result);
  for (const el of [show, model]) el.addEventListener('change', run);

  function run() {
    Object.assign(st, { q: ta.value.trim(), horizon: horizon.value.trim(), step: step.value.trim(), history: hist.value.trim(),
                        show: show.value, model: model.value, coverage: coverage.value.trim(), thresholds: thresholds.value.trim() });
    setParams('forecast', st);
    const my = ++seq;
    err.replaceChildren();
    if (!st.q) { info.textContent = 'Type the expression to forecast, e.g. a CPU or load query, and press Enter.'; result.replaceChildren(); return; }
    const stepS = parseDur(st.step), horizonS = parseDur(st.horizon);
    const showS = st.show ? parseDur(st.show) : Math.min(7 * 86400, Math.max(3600, 4 * horizonS));
    const ths = st.thresholds ? st.thresholds.split(/[\s,;]+/).filter(Boolean).map(Number) : [];
    const bad = !(stepS > 0) ? `the step "${st.step}" cannot be read`
      : !(horizonS > 0) ? `the horizon "${st.horizon}" cannot be read`
        : ths.some((x) => !Number.isFinite(x)) ? `the thresholds "${st.thresholds}" are not numbers` : '';
    if (bad) { err.replaceChildren(errorBox(new Error(bad))); return; }
    const tEnd = Math.floor(nowSec() / stepS) * stepS; /* the server aligns the same way */
    const t0 = performance.now();
    info.textContent = 'Forecasting…';
    Promise.all([
      api('api/v1/forecast', { query: st.q, horizon: st.horizon, step: st.step, history: st.history, model: st.model,
                               coverage: st.coverage, time: tEnd }, 'POST'),
      api('api/v1/query_range', { query: st.q, start: tEnd - showS, end: tEnd, step: stepS }, 'POST'),
    ]).then(([fc, past]) => {
      if (my !== seq) return;
      drawForecast(result, fc.data.result, past.data.result, { tEnd, stepS, horizonS, showS, ths, q: st.q });
      info.textContent = `${fc.data.result.length} series · ${Math.round(performance.now() - t0)} ms`;
    }).catch((e) => {
      if (my !== seq) return;
      info.textContent = '';
      result.replaceChildren();
      err.replaceChildren(errorBox(e));
    });
  }

  if (st.q) run(); else info.textContent = 'Type the expression to forecast, e.g. a CPU or load query, and press Enter.';
  ta.focus();
}

/* the first time at or after the start where pts[k][col] >= v, or null */
function firstAtOrAbove(pts, col, v) {
  for (const p of pts) if (parseFloat(p[col]) >= v) return parseFloat(p[0]);
  return null;
}

function drawForecast(target, fcs, past, o) {
  const key = (m) => seriesName(m);
  const names = [];
  const idx = new Map();
  const add = (m) => { const k = key(m); if (!idx.has(k)) { idx.set(k, names.length); names.push(k); } return idx.get(k); };
  fcs.slice(0, MAX_DRAWN).forEach((s) => add(s.metric));
  const lines = [], bands = [];
  const lastSeen = new Map();
  for (const s of past) {
    if (!idx.has(key(s.metric))) continue; /* only series that were forecast */
    const g = idx.get(key(s.metric));
    const pts = s.values.map(([t, v]) => [t, parseFloat(v)]);
    if (pts.length) lastSeen.set(g, pts[pts.length - 1]);
    lines.push({ group: g, points: pts });
  }
  for (const s of fcs.slice(0, MAX_DRAWN)) {
    const g = idx.get(key(s.metric));
    const pts = s.values.map((v) => [v[0], parseFloat(v[1])]);
    const last = lastSeen.get(g);
    if (last && last[0] === o.tEnd) pts.unshift(last); /* join the forecast to the history */
    lines.push({ group: g, points: pts, dashed: true });
    bands.push({ group: g, points: s.values.map((v) => [v[0], parseFloat(v[2]), parseFloat(v[3])]) });
  }
  const box = h('div', { class: 'chart-box', id: 'forecast-chart', 'data-now': o.tEnd });
  const table = h('table', { class: 'result-table', id: 'forecast-table' },
    h('thead', {}, h('tr', {}, ['series', 'model', 'seasons', 'backtest sMAPE', 'MASE', 'now', 'at horizon (band)', 'thresholds']
      .map((c) => h('th', { scope: 'col' }, c)))));
  const tb = h('tbody');
  fcs.forEach((s, i) => {
    const last = s.values[s.values.length - 1] || [];
    const cur = lastSeen.get(idx.get(key(s.metric)));
    const notes = o.ths.map((th) => {
      if (cur && cur[1] >= th) return `already at or above ${th}`;
      const up = firstAtOrAbove(s.values, 3, th), pt = firstAtOrAbove(s.values, 1, th);
      if (up == null) return `stays under ${th} through ${fmtDur(o.horizonS)}`;
      return `band reaches ${th} at ${fmtTime(up)} (in ${fmtDur(up - nowSec())})` +
        (pt != null ? `; forecast at ${fmtTime(pt)}` : '; forecast stays under');
    });
    const seasons = (s.periods || []).map((p) => fmtDur(p * o.stepS)).join(', ') || 'none';
    tb.append(h('tr', {},
      h('td', { class: 'labels' }, h('span', { class: 'ax-swatch', style: { background: colorOf(i) } }), seriesName(s.metric)),
      h('td', {}, s.model, s.note ? h('small', { class: 'note' }, ` (${s.note})`) : null),
      h('td', {}, seasons),
      h('td', { class: 'num' }, s.smape == null ? 'n/a' : `${(+s.smape).toFixed(1)}%`),
      h('td', { class: 'num' }, s.mase == null ? 'n/a' : (+s.mase).toFixed(2)),
      h('td', { class: 'num' }, cur ? AxChart.fmtValue(cur[1]) : 'n/a'),
      h('td', { class: 'num' }, last.length ? `${AxChart.fmtValue(+last[1])} (${AxChart.fmtValue(+last[2])} – ${AxChart.fmtValue(+last[3])})` : ''),
      h('td', {}, notes.length ? notes.map((n) => h('div', {}, n)) : '—')));
  });
  if (!fcs.length) tb.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No series has data in the training window.')));
  table.append(tb);
  target.replaceChildren(box, h('div', { class: 'table-wrap' }, table));
  if (!fcs.length) { box.append(h('p', { class: 'empty' }, 'Nothing to forecast.')); return; }
  newChart(box).draw({
    xmin: o.tEnd - o.showS, xmax: o.tEnd + o.horizonS, step: o.stepS, now: o.tEnd, utc: utc(),
    groups: names.map((n, i) => ({ name: n, color: colorOf(i) })), lines, bands,
    thresholds: o.ths.map((v) => ({ value: v, label: `threshold ${v}`, color: '#c0392b' })),
    title: `Forecast of ${o.q}`,
  });
}

/* ---------- Rules ---------- */

function viewRules(main) {
  const list = h('div', { id: 'rules' }, h('p', { class: 'meta' }, 'Loading rules…'));
  main.append(h('div', { class: 'row spread' }, h('h1', {}, 'Rules'),
    h('button', { type: 'button', id: 'rules-refresh', onclick: () => load() }, 'Refresh')), list);
  function load() {
    api('api/v1/rules').then((j) => {
      const rules = j.data.rules || [];
      if (!rules.length) {
        list.replaceChildren(h('p', { class: 'empty' }, 'No rules are loaded. Start auspex with -rules=FILE (see docs/rules.md) to forecast and scale.'));
        return;
      }
      list.replaceChildren(...rules.map((r) => ruleCard(r)));
    }).catch((e) => fail(list, e, 'rules'));
  }
  load();
}

function ruleCard(rule) {
  const card = h('section', { class: 'card rule', id: 'rule-' + rule.name, 'aria-labelledby': 'rule-h-' + rule.name });
  const health = rule.health || 'unknown';
  const cap = rule.capacity || {};
  card.append(...[
    h('div', { class: 'row spread' },
      h('h2', { id: 'rule-h-' + rule.name }, rule.name),
      h('span', { class: `badge ${health}` }, health), h('span', { class: 'badge' }, `mode ${rule.mode}`)),
    h('p', { class: 'meta' },
      `capacity ${rule.currentCapacity ?? '?'} → desired ${rule.desiredCapacity ?? '?'} (min ${cap.min}, max ${cap.max}, ${cap.target_per_unit} per unit)`,
      ` · horizon ${rule.horizon}, step ${rule.step}, every ${rule.every}, lead ${rule.lead_time}, cooldown ${rule.cooldown}`,
      rule.lastEvaluation ? ` · last check ${fmtTime(isoToSec(rule.lastEvaluation))}` : ' · not checked yet'),
    rule.lastError ? h('div', { class: 'error', role: 'alert' }, `last check failed: ${rule.lastError}`) : null,
  ].filter(Boolean));
  const chartBox = h('div', { class: 'chart-box rule-chart' });
  const caption = h('p', { class: 'meta' });
  const msg = h('div', { class: 'rule-msg', role: 'status', tabindex: '-1' });
  const onlyActions = h('input', { type: 'checkbox', id: 'acts-' + rule.name, checked: true });
  const decisions = h('div', { class: 'decisions' });
  const bt = h('div', { class: 'backtest' });
  card.append(chartBox, caption,
    h('div', { class: 'row spread' }, h('h3', {}, 'Decisions'),
      h('label', { class: 'check' }, onlyActions, ' only decisions with actions')),
    msg, decisions, h('h3', {}, 'Backtest'), bt);
  onlyActions.addEventListener('change', () => loadDecisions());

  function loadDecisions() {
    const p = { rule: rule.name, limit: 10, actionable: onlyActions.checked ? 'true' : '' };
    api('api/v1/decisions', p).then((j) => {
      decisions.replaceChildren(decisionTable(j.data.decisions, act));
    }).catch((e) => fail(decisions, e, 'decisions'));
  }

  function act(d, verb) {
    msg.replaceChildren(`${verb === 'approve' ? 'Approving' : 'Rejecting'} decision ${d.id}…`);
    /* the button goes away with the re-drawn table: the focus moves to the message */
    const settle = () => { loadDecisions(); msg.focus(); };
    api(`api/v1/decisions/${encodeURIComponent(d.id)}/${verb}`, {}, 'POST').then((j) => {
      msg.replaceChildren(`Decision ${d.id} is now ${j.data.state}.`);
      settle();
    }).catch((e) => { msg.replaceChildren(errorBox(e, `decision ${d.id}`)); settle(); });
  }

  /* the newest check's forecast, drawn over each signal's recent past */
  api('api/v1/decisions', { rule: rule.name, limit: 1 }).then((j) => {
    const d = (j.data.decisions || [])[0];
    if (!d || !d.forecast) { chartBox.append(h('p', { class: 'empty' }, 'No forecast yet: the rule has not made a decision.')); return; }
    return drawRuleForecast(chartBox, caption, rule, d);
  }).catch((e) => fail(chartBox, e, 'forecast'));
  loadDecisions();
  backtestPanel(bt, rule);
  return card;
}

function drawRuleForecast(box, caption, rule, d) {
  const f = d.forecast, step = f.step_seconds, start = isoToSec(f.start);
  const horizonS = parseDur(rule.horizon), showS = Math.min(2 * 86400, Math.max(2 * 3600, 4 * horizonS));
  const tEnd = nowSec();
  const signals = rule.signals || [];
  return Promise.all(signals.map((s) =>
    api('api/v1/query_range', { query: s.expr, start: (start - step - showS).toFixed(3), end: tEnd.toFixed(3), step }, 'POST')
      .then((j) => j.data.result, () => []))).then((pasts) => {
    const lines = [], bands = [], ths = [];
    const margin = rule.safety_margin || 0;
    signals.forEach((s, i) => {
      /* several series: the rule reads their maximum, so draw that */
      const byT = new Map();
      for (const ser of pasts[i]) for (const [t, v] of ser.values) {
        const x = parseFloat(v);
        if (!byT.has(t) || x > byT.get(t)) byT.set(t, x);
      }
      lines.push({ group: i, points: [...byT.entries()].sort((a, b) => a[0] - b[0]) });
      const fs = (f.signals || []).find((x) => x.name === s.name) || (f.signals || [])[i];
      if (fs) {
        const t = (k) => start + k * step;
        lines.push({ group: i, dashed: true, points: fs.yhat.map((v, k) => [t(k), v]) });
        bands.push({ group: i, points: fs.yhat.map((v, k) => [t(k), fs.lower[k], fs.upper[k]]) });
      }
      const who = signals.length > 1 ? ` (${s.name})` : '';
      if (s.scale_up_at != null) {
        ths.push({ value: s.scale_up_at, label: `scale up at ${s.scale_up_at}${who}`, color: '#c0392b' });
        if (margin > 0) ths.push({ value: s.scale_up_at * (1 - margin), label: `acts at ${+(s.scale_up_at * (1 - margin)).toPrecision(4)} (margin ${Math.round(margin * 100)}%)${who}`, color: '#e67e22' });
      }
      if (s.scale_down_at != null) ths.push({ value: s.scale_down_at, label: `scale down under ${s.scale_down_at}${who}`, color: '#2471a3' });
    });
    const xmax = start + Math.max(0, ((f.signals && f.signals[0] && f.signals[0].yhat.length) || 1) - 1) * step;
    newChart(box).draw({
      xmin: start - step - showS, xmax: Math.max(xmax, tEnd), step, now: tEnd, utc: utc(),
      groups: signals.map((s, i) => ({ name: s.name, color: colorOf(i) })), lines, bands, thresholds: ths,
      title: `Forecast of rule ${rule.name}`,
    });
    caption.textContent = `Forecast of the check at ${fmtTime(isoToSec(d.time))} (model ${d.model || 'n/a'}${d.cold_start ? ', cold start' : ''}): ` +
      `${d.decision.replace(/_/g, ' ')}. ${d.reason || ''}`;
  });
}

function deliveryText(x) {
  const tries = x.tries ? ` (${x.tries} ${x.tries === 1 ? 'try' : 'tries'}${x.last_status ? ', last HTTP ' + x.last_status : ''})` : '';
  const err = x.last_error && x.state !== 'delivered' ? `: ${x.last_error}` : '';
  return `${x.kind} ${x.target}: ${x.state}${tries}${err}`;
}

function decisionTable(list, act) {
  if (!list || !list.length) return h('p', { class: 'empty' }, 'No decisions yet.');
  const table = h('table', { class: 'result-table decisions-table' },
    h('thead', {}, h('tr', {}, ['id', 'time', 'decision', 'urgency', 'capacity', 'state', 'deliveries', 'reason', '']
      .map((c) => h('th', { scope: 'col' }, c)))));
  const tb = h('tbody');
  for (const d of list) {
    const waiting = d.state === 'waiting_approval';
    const buttons = waiting ? h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary approve', 'data-id': d.id, 'aria-label': `Approve decision ${d.id}`,
                    onclick: (e) => { e.target.disabled = true; act(d, 'approve'); } }, 'Approve'),
      h('button', { type: 'button', class: 'danger reject', 'data-id': d.id, 'aria-label': `Reject decision ${d.id}`,
                    onclick: (e) => { e.target.disabled = true; act(d, 'reject'); } }, 'Reject')) : null;
    tb.append(h('tr', { 'data-id': d.id, 'data-state': d.state },
      h('td', { class: 'num' }, d.id),
      h('td', {}, fmtTime(isoToSec(d.time))),
      h('td', {}, d.decision.replace(/_/g, ' '), d.cold_start ? h('small', {}, ' (cold start)') : null),
      h('td', { class: 'num' }, d.urgency == null ? '' : (+d.urgency).toFixed(2)),
      h('td', { class: 'num' }, `${d.current_capacity ?? '?'} → ${d.desired_capacity ?? '?'}`),
      h('td', {}, h('span', { class: `badge ${d.state}` }, d.state.replace(/_/g, ' ')),
        d.expires_at && waiting ? h('small', {}, ` until ${fmtTime(isoToSec(d.expires_at))}`) : null),
      h('td', {}, (d.deliveries || []).length ? h('ul', { class: 'plain' }, d.deliveries.map((x) => h('li', { class: `delivery ${x.state}` }, deliveryText(x)))) : '—'),
      h('td', { class: 'reason' }, d.reason || ''),
      h('td', {}, buttons)));
  }
  table.append(tb);
  return h('div', { class: 'table-wrap' }, table);
}

function backtestPanel(box, rule) {
  const span = select('bt-span-' + rule.name, [['1d', 'last day'], ['7d', 'last 7 days'], ['30d', 'last 30 days']], '7d');
  const out = h('div', { class: 'bt-out', role: 'status' });
  const runBtn = h('button', { type: 'button', class: 'secondary' }, 'Run backtest');
  box.append(h('div', { class: 'row' }, field('Replay', span), runBtn), out);
  const show = (c) => {
    if (c.error) { out.replaceChildren(errorBox(c.error, 'backtest')); return; }
    const d = c.data, p = d.predictive, r = d.reactive;
    const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) + '×' : '—');
    out.replaceChildren(
      h('p', { class: 'meta' }, `${fmtTime(isoToSec(d.from))} – ${fmtTime(isoToSec(d.to))}, ${d.steps} steps of ${d.step}, a check every ${d.every}; start capacity ${d.start_capacity}.`, d.note ? ` ${d.note}` : ''),
      h('div', { class: 'table-wrap' }, h('table', { class: 'result-table backtest-table' },
        h('thead', {}, h('tr', {}, ['policy', 'minutes under-provisioned', 'mean capacity', 'actions'].map((c2) => h('th', { scope: 'col' }, c2)))),
        h('tbody', {},
          h('tr', {}, h('td', {}, 'predictive (auspex)'), h('td', { class: 'num' }, p.minutes_under), h('td', { class: 'num' }, (+p.mean_capacity).toFixed(2)), h('td', { class: 'num' }, p.actions)),
          h('tr', {}, h('td', {}, 'reactive (threshold)'), h('td', { class: 'num' }, r.minutes_under), h('td', { class: 'num' }, (+r.mean_capacity).toFixed(2)), h('td', { class: 'num' }, r.actions)),
          h('tr', { class: 'ratio' }, h('td', {}, 'predictive / reactive'), h('td', { class: 'num' }, ratio(p.minutes_under, r.minutes_under)),
            h('td', { class: 'num' }, ratio(p.mean_capacity, r.mean_capacity)), h('td', {}, ''))))));
  };
  const run = (force) => {
    const cached = backtestCache.get(rule.name);
    if (!force && cached && cached.span === span.value && Date.now() - cached.at < 10 * 60 * 1000) { show(cached); return; }
    out.replaceChildren(h('p', { class: 'meta' }, 'Replaying…'));
    runBtn.disabled = true;
    api(`api/v1/rules/${encodeURIComponent(rule.name)}/backtest`, { from: `now-${span.value}`, to: 'now' })
      .then((j) => ({ data: j.data }), (e) => ({ error: e }))
      .then((c) => {
        c.at = Date.now(); c.span = span.value;
        backtestCache.set(rule.name, c);
        runBtn.disabled = false;
        if (box.isConnected) show(c);
      });
  };
  runBtn.addEventListener('click', () => run(true));
  span.addEventListener('change', () => run(false));
  run(false);
}

/* ---------- Status ---------- */

function viewStatus(main) {
  const runtime = h('section', { class: 'card', id: 'status-runtime' }, h('h2', {}, 'Server'), h('p', { class: 'meta' }, 'Loading…'));
  const storage = h('section', { class: 'card', id: 'status-storage' }, h('h2', {}, 'Storage'), h('p', { class: 'meta' }, 'Loading…'));
  const targets = h('section', { class: 'card', id: 'status-targets' }, h('h2', {}, 'Scrape targets'), h('p', { class: 'meta' }, 'Loading…'));
  const tsdb = h('section', { class: 'card', id: 'status-tsdb' }, h('h2', {}, 'Cardinality'), h('p', { class: 'meta' }, 'Loading…'));
  main.append(h('h1', { class: 'sr-only' }, 'Status'), h('div', { class: 'grid2' }, runtime, storage), targets, tsdb);
  const samples = []; /* [time, samplesIngested] for the ingestion rate */

  const dl = (pairs) => h('dl', { class: 'kv' }, pairs.flatMap(([k, v, id]) => [h('dt', {}, k), h('dd', id ? { id } : {}, v)]));
  const bytes = (n) => {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return `${i ? n.toFixed(1) : n} ${u[i]}`;
  };

  function refresh() {
    Promise.all([api('api/v1/status/buildinfo'), api('api/v1/status/runtimeinfo')]).then(([b, r]) => {
      const d = r.data, t = nowSec();
      samples.push([t, d.samplesIngested]);
      while (samples.length > 2 && t - samples[0][0] > 60) samples.shift();
      let rate = d.uptimeSeconds > 0 ? d.samplesIngested / d.uptimeSeconds : 0, rateNote = 'since start';
      if (samples.length > 1) {
        const [a, z] = [samples[0], samples[samples.length - 1]];
        rate = (z[1] - a[1]) / Math.max(1e-3, z[0] - a[0]);
        rateNote = `over the last ${fmtDur(z[0] - a[0])}`;
      }
      runtime.replaceChildren(h('h2', {}, 'Server'), dl([
        ['version', b.data.version], ['started', `${fmtTime(isoToSec(d.startTime))} (up ${fmtDur(d.uptimeSeconds)})`],
        ['data folder', d.storagePath], ['retention', d.storageRetention], ['open connections', d.openConnections],
        ['scraping', d.scrapeTargets ? 'on (below)' : 'off'], ['rules', d.rules ? 'loaded (see Rules)' : 'none'],
      ]));
      storage.replaceChildren(h('h2', {}, 'Storage'), dl([
        ['series', d.series.toLocaleString('en-US'), 'stat-series'],
        ['samples ingested', d.samplesIngested.toLocaleString('en-US'), 'stat-samples'],
        ['ingestion rate', `${rate.toFixed(1)} samples/s (${rateNote})`, 'stat-rate'],
        ['disk', `${bytes(d.diskBytes.lmdb + d.diskBytes.wal)} (LMDB ${bytes(d.diskBytes.lmdb)}, WAL ${bytes(d.diskBytes.wal)})`, 'stat-disk'],
        ['samples in memory', d.headSamples.toLocaleString('en-US')],
      ]));
    }).catch((e) => { runtime.replaceChildren(h('h2', {}, 'Server'), errorBox(e)); });
    api('api/v1/targets').then((j) => {
      const ts = j.data.activeTargets || [];
      if (!ts.length) { targets.replaceChildren(h('h2', {}, 'Scrape targets'), h('p', { class: 'empty' }, 'No scrape targets (start auspex with -promscrape.config=FILE).')); return; }
      const up = ts.filter((t) => t.health === 'up').length;
      const rows = ts.map((t) => h('tr', { class: `target ${t.health}` },
        h('td', {}, t.scrapePool), h('td', { class: 'labels' }, t.scrapeUrl),
        h('td', {}, h('span', { class: `badge ${t.health === 'up' ? 'ok' : t.health === 'down' ? 'err' : 'unknown'}` }, t.health)),
        h('td', {}, t.lastScrape && !t.lastScrape.startsWith('0001') ? `${fmtDur(nowSec() - isoToSec(t.lastScrape))} ago` : 'never'),
        h('td', { class: 'num' }, t.lastScrapeDuration ? `${(t.lastScrapeDuration * 1000).toFixed(1)} ms` : ''),
        h('td', { class: 'labels' }, Object.entries(t.labels || {}).map(([k, v]) => `${k}="${v}"`).join(', ')),
        h('td', { class: 'error-text' }, t.lastError || '')));
      targets.replaceChildren(h('h2', {}, `Scrape targets (${up} of ${ts.length} up)`), h('div', { class: 'table-wrap' },
        h('table', { class: 'result-table', id: 'targets-table' },
          h('thead', {}, h('tr', {}, ['job', 'endpoint', 'state', 'last scrape', 'took', 'labels', 'error'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, rows))));
    }).catch((e) => targets.replaceChildren(h('h2', {}, 'Scrape targets'), errorBox(e)));
  }

  function top(title, rows) {
    return h('div', { class: 'table-wrap' }, h('table', { class: 'result-table' },
      h('caption', {}, title),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'name'), h('th', { scope: 'col', class: 'num' }, 'count'))),
      h('tbody', {}, (rows || []).map((x) => h('tr', {}, h('td', { class: 'labels' }, x.name), h('td', { class: 'num' }, x.value.toLocaleString('en-US')))))));
  }

  api('api/v1/status/tsdb', { limit: 10 }).then((j) => {
    const d = j.data;
    tsdb.replaceChildren(h('h2', {}, `Cardinality: ${d.headStats.numSeries.toLocaleString('en-US')} series, ${d.headStats.numLabelPairs.toLocaleString('en-US')} label pairs`),
      h('div', { class: 'grid3' },
        top('Top metric names by series', d.seriesCountByMetricName),
        top('Top label names by distinct values', d.labelValueCountByLabelName),
        top('Top label pairs by series', d.seriesCountByLabelValuePair)));
  }).catch((e) => tsdb.replaceChildren(h('h2', {}, 'Cardinality'), errorBox(e)));

  refresh();
  const timer = setInterval(refresh, 10000);
  cleanups.push(() => clearInterval(timer));
}

/* ---------- start ---------- */

function showFatal(msg) {
  const box = document.getElementById('fatal');
  if (!box) return;
  box.textContent = 'UI error: ' + msg + ' (the page keeps working; reload if something looks stale)';
  box.hidden = false;
}

window.addEventListener('error', (e) => {
  /* the browser's note that a resize was handled a frame late: harmless, not an error of ours */
  if (/^ResizeObserver loop/.test(e.message || '')) return;
  showFatal(e.message || 'unknown');
});
window.addEventListener('unhandledrejection', (e) => showFatal((e.reason && e.reason.message) || String(e.reason)));
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  const tz = document.getElementById('utc');
  tz.checked = utc();
  tz.addEventListener('change', () => { localStorage.setItem(UTC_KEY, tz.checked ? '1' : '0'); route(); });
  route();
});
