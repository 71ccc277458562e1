// The admin page's script (gateway/node/web/index.html). Plain browser JavaScript, no
// framework, nothing from the network: it reads this node's admin API (same origin)
// and the node's own pulse.v1 WebSocket endpoint, whose port /stats tells.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY_ITEM = 'pulse-admin-key';
const WINDOW_S = 10;        // p99 over the last 10 s of the histogram
const KEEP = 61;            // one sample a second: the chart's 60 s
const MAX_ROWS = 200;       // live events kept on the page

let adminKey = sessionStorage.getItem(KEY_ITEM) || '';
let samples = [];           // {t, deliveries, events, drops, buckets: [[le, cumulative], ...]}
let node = null;            // the last /stats
let tick = 0;

// ---- the admin API ----

class HttpError extends Error {
  constructor(status, body) {
    super((body && body.reason) || ('HTTP ' + status));
    this.status = status;
  }
}

async function get(path, asText) {
  const headers = adminKey ? { Authorization: 'Bearer ' + adminKey } : {};
  const r = await fetch(path, { headers, cache: 'no-store' });
  if (r.status === 401) {
    $('keybar').hidden = false;
    $('keyerr').textContent = adminKey ? 'that key was refused' : '';
  }
  if (!r.ok) {
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    throw new HttpError(r.status, body);
  }
  return asText ? r.text() : r.json();
}

// Prometheus text -> {name: [{labels, value}]}
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (rows) => (rows || []).reduce((a, r) => a + r.value, 0);

function buckets(metrics) {
  return (metrics.pulse_fanout_seconds_bucket || [])
    .map((r) => [r.labels.le === '+Inf' ? Infinity : Number(r.labels.le), r.value])
    .sort((a, b) => a[0] - b[0]);
}

// histogram_quantile: the bucket holding rank q*count, linear inside it
function quantile(q, bks) {
  const total = bks.length ? bks[bks.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, c] of bks) {
    if (c >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * (c > below ? (rank - below) / (c - below) : 1);
    }
    lower = le; below = c;
  }
  return lower;
}

function windowBuckets(cur, old) {
  if (!old || cur.buckets.length !== old.buckets.length) return cur.buckets;
  const d = cur.buckets.map(([le, c], i) => [le, c - old.buckets[i][1]]);
  return d[d.length - 1][1] > 0 ? d : null;
}

// ---- formatting ----

function fmtNum(v) {
  if (v == null || !isFinite(v)) return '\u2013';
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(v >= 1e5 ? 0 : 1) + 'k';
  return String(Math.round(v * 10) / 10);
}

function fmtSeconds(s) {
  if (s == null) return '\u2013';
  if (s < 1e-3) return (s * 1e6).toFixed(s < 1e-5 ? 1 : 0) + ' \u00b5s';
  if (s < 1) return (s * 1e3).toFixed(s < 1e-2 ? 2 : 1) + ' ms';
  return s.toFixed(2) + ' s';
}

function fmtUptime(ms) {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return 'up ' + (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
}

function clock(d) {
  const p = (n, w) => String(n).padStart(w || 2, '0');
  return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function setBadge(e, text, kind) {
  e.textContent = text;
  e.className = 'badge' + (kind ? ' ' + kind : '');
}

// ---- the live view ----

function rate(key, a, b) {
  if (!a || !b || b.t <= a.t) return null;
  return Math.max(0, (b[key] - a[key]) / ((b.t - a.t) / 1000));
}

async function poll() {
  try {
    const [stats, text] = await Promise.all([get('/stats'), get('/metrics', true)]);
    $('keybar').hidden = true;
    const metrics = parseMetrics(text);
    const s = {
      t: performance.now(),
      deliveries: sum(metrics.pulse_deliveries_total),
      events: sum(metrics.pulse_events_received_total),
      drops: sum(metrics.pulse_dropped_total),
      buckets: buckets(metrics),
    };
    samples.push(s);
    if (samples.length > KEEP) samples.shift();
    node = stats;
    render(stats, metrics);
    if (watching && tick % 2 === 0) loadPresence(watching);
    tick++;
  } catch (e) {
    setBadge($('redis'), e instanceof HttpError ? 'admin API: ' + e.message : 'node unreachable', 'bad');
    $('updated').textContent = 'last try ' + clock(new Date()).slice(0, 8);
  }
  setTimeout(poll, 1000);
}

function render(stats, metrics) {
  const cur = samples[samples.length - 1], prev = samples[samples.length - 2];
  $('node').textContent = stats.node;
  document.title = 'Pulse ' + stats.node;
  $('uptime').textContent = fmtUptime(stats.uptime_ms);
  $('updated').textContent = 'updated ' + clock(new Date()).slice(0, 8);
  const r = stats.redis || {};
  setBadge($('redis'), r.connected ? 'Redis connected' : 'Redis down' + (r.reason ? ': ' + r.reason : ''),
           r.connected ? 'ok' : 'bad');
  $('redis').title = (r.reconnects || 0) + ' reconnects';

  $('t-conns').textContent = stats.connections;
  const nw = (stats.workers || []).length;
  $('t-conns-sub').textContent = fmtNum(stats.connections_total) + ' accepted \u00b7 ' + nw + (nw === 1 ? ' worker' : ' workers');

  $('t-dps').textContent = fmtNum(rate('deliveries', prev, cur));
  $('t-dps-sub').textContent = fmtNum(cur.deliveries) + ' delivered';
  $('t-eps').textContent = fmtNum(rate('events', prev, cur));
  $('t-eps-sub').textContent = fmtNum(cur.events) + ' received \u00b7 ' + fmtNum(stats.events_unrouted) + ' unrouted';

  const drops = $('t-drops');
  drops.textContent = fmtNum(cur.drops);
  const dps = rate('drops', prev, cur);
  drops.classList.toggle('bad', dps > 0);
  const reasons = Object.entries(stats.dropped || {}).filter(([, v]) => v > 0).map(([k, v]) => k + ' ' + fmtNum(v));
  $('t-drops-sub').textContent = (dps > 0 ? fmtNum(dps) + '/s \u00b7 ' : '') +
    (reasons.length ? reasons.join(' \u00b7 ') : 'none') + ' \u00b7 ' + fmtNum(stats.slow_consumers) + ' slow';

  const old = samples.find((x) => cur.t - x.t <= WINDOW_S * 1000 + 500);
  const win = old && old !== cur ? windowBuckets(cur, old) : null;
  const bks = win || cur.buckets;
  const n = bks.length ? bks[bks.length - 1][1] : 0;
  $('t-p99').textContent = fmtSeconds(quantile(0.99, bks));
  $('t-p99-sub').textContent = n ? 'p50 ' + fmtSeconds(quantile(0.5, bks)) + ' \u00b7 ' + fmtNum(n) +
    (win ? ' in ' + WINDOW_S + ' s' : ' since start') : 'no deliveries yet';

  $('t-chans').textContent = stats.channels_active;
  $('t-chans-sub').textContent = fmtNum(sum(metrics.pulse_presence_entries)) + ' presence entries';

  renderChannels(stats.channels || []);
  drawChart();
}

let shownChannels = '';
function renderChannels(list) {
  const key = list.join(',') + '|' + watching;
  if (key === shownChannels) return;
  shownChannels = key;
  const chips = $('active'), dl = $('channels');
  chips.replaceChildren();
  dl.replaceChildren();
  chips.append(el('span', 'muted small', list.length ? 'On this node:' : 'No channel has a subscriber on this node yet.'));
  for (const c of list) {
    const b = el('button', 'chip' + (c === watching ? ' on' : ''), c);
    b.type = 'button';
    b.addEventListener('click', () => { $('channel').value = c; watch(c); });
    chips.append(b);
    const o = el('option');
    o.value = c;
    dl.append(o);
  }
}

function drawChart() {
  const cv = $('chart');
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth, h = cv.clientHeight;
  if (cv.width !== Math.round(w * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr); }
  const g = cv.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const series = (key) => samples.slice(1).map((s, i) => rate(key, samples[i], s));
  const d = series('deliveries'), e = series('events');
  const step = niceStep(Math.max(1, ...d, ...e) / 3);
  const lines = Math.max(1, Math.ceil(Math.max(1, ...d, ...e) / step));
  const top = step * lines, padL = 44, padB = 16, ph = h - padB - 6;
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#6b7585';
  g.strokeStyle = '#e2e6ec';
  g.lineWidth = 1;
  for (let i = 0; i <= lines; i++) {
    const y = 6 + ph - (ph * i) / lines;
    g.beginPath(); g.moveTo(padL, Math.round(y) + 0.5); g.lineTo(w, Math.round(y) + 0.5); g.stroke();
    g.fillText(fmtNum(step * i), 4, y + 4);
  }
  g.fillText('-60 s', padL, h - 3);
  g.fillText('now', w - 24, h - 3);
  const x = (i) => padL + ((w - padL - 2) * (i + (KEEP - 1 - d.length))) / (KEEP - 2);
  const line = (vals, color, fill) => {
    if (vals.length < 2) return;
    g.beginPath();
    vals.forEach((v, i) => { const y = 6 + ph - (ph * v) / top; i ? g.lineTo(x(i), y) : g.moveTo(x(i), y); });
    g.strokeStyle = color; g.lineWidth = 2; g.stroke();
    if (fill) {
      g.lineTo(x(vals.length - 1), 6 + ph); g.lineTo(x(0), 6 + ph); g.closePath();
      g.fillStyle = fill; g.fill();
    }
  };
  line(d, '#2f6fed', 'rgba(47,111,237,.08)');
  line(e, '#12a58a');
}

// the grid's step: 1, 2 or 5 times a power of ten, at least v
function niceStep(v) {
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(v, 1))));
  for (const m of [1, 2, 5]) if (m * p >= v) return m * p;
  return 10 * p;
}

// ---- the channel inspector ----

let ws = null, watching = null, evCount = 0;

function wsUrl() {
  const scheme = node && node.tls ? 'wss' : 'ws';
  return scheme + '://' + location.hostname + ':' + node.port + '/ws';
}

function showMsg(text) {
  $('ws-msg').textContent = text || '';
  $('ws-msg').hidden = !text;
}

function addEvent(list, row, fresh) {
  const ol = $(list);
  const empty = ol.querySelector('.empty');
  if (empty) empty.remove();
  if (fresh) row.classList.add('fresh');
  ol.prepend(row);
  while (ol.children.length > MAX_ROWS) ol.lastChild.remove();
}

function eventRow(offset, data, op, when) {
  const li = el('li', op ? 'op' : '');
  if (when) li.append(el('span', 't', clock(when)));
  li.append(el('span', 'o', offset != null ? '#' + offset : ''));
  li.append(el('code', '', typeof data === 'string' ? data : JSON.stringify(data)));
  if (offset != null) li.dataset.offset = offset;
  return li;
}

function onFrame(ch, m) {
  if (!m.op) {
    evCount++;
    $('ev-count').textContent = evCount;
    addEvent('events', eventRow(m.offset, m.data, false, new Date()), true);
    return;
  }
  switch (m.op) {
    case 'hello':
      if ($('token').value.trim()) ws.send(JSON.stringify({ op: 'auth', token: $('token').value.trim() }));
      else ws.send(JSON.stringify({ op: 'subscribe', channel: ch }));
      break;
    case 'authenticated':
      ws.send(JSON.stringify({ op: 'subscribe', channel: ch }));
      break;
    case 'subscribed':
      setBadge($('ws-state'), 'live on ' + m.channel, 'ok');
      showMsg('');
      break;
    case 'error':
      if (m.code === 'unauthorized') {
        $('tokbox').open = true;
        showMsg('This node requires a token: paste a JWT whose channels claim allows ' + ch + ', then Watch again.');
      } else if (m.code === 'forbidden') {
        $('tokbox').open = true;
        showMsg('Refused (forbidden): the token does not allow ' + ch + '.');
      } else {
        showMsg('The node answered ' + m.code + ': ' + m.reason);
      }
      if (m.code === 'unauthorized' || m.code === 'forbidden' || m.code === 'limit') setBadge($('ws-state'), m.code, 'bad');
      break;
    case 'join': case 'leave':
      addEvent('events', eventRow(null, m.op + ' ' + (m.user || '') + ' (' + m.client + ')', true, new Date()), true);
      loadPresence(ch);
      break;
    case 'gap':
      addEvent('events', eventRow(null, 'gap ' + m.from + (m.to ? '..' + m.to : '') + ': ' + m.reason, true, new Date()), true);
      break;
    default:
      break;
  }
}

function watch(ch) {
  ch = ch.trim();
  if (!/^[A-Za-z0-9._:@*-]{1,128}$/.test(ch)) {
    showMsg('A channel name is 1-128 characters of A-Z a-z 0-9 . _ : @ - (and * in a pattern).');
    return;
  }
  if (!node) { showMsg('The node has not answered /stats yet.'); return; }
  stop();
  watching = ch;
  shownChannels = '';
  evCount = 0;
  $('ev-count').textContent = '0';
  $('events').replaceChildren(el('li', 'empty', 'Waiting for events on ' + ch + '\u2026'));
  $('stop').disabled = false;
  setBadge($('ws-state'), 'connecting', 'warn');
  showMsg('');
  const sock = new WebSocket(wsUrl(), 'pulse.v1');
  ws = sock;
  sock.onmessage = (e) => {
    if (sock !== ws) return;
    for (const line of String(e.data).split('\n')) {
      if (!line) continue;
      try { onFrame(ch, JSON.parse(line)); } catch (err) { /* not JSON: ignore */ }
    }
  };
  sock.onclose = (e) => {
    if (sock !== ws) return;
    ws = null;
    setBadge($('ws-state'), 'closed' + (e.code ? ' ' + e.code : ''), 'bad');
    if (e.code === 4401) {
      $('tokbox').open = true;
      showMsg('The node closed the connection (4401): paste a valid token, then Watch again.');
    } else if (!$('ws-msg').textContent) {
      showMsg('The WebSocket to ' + wsUrl() + ' closed' + (e.code ? ' (' + e.code + (e.reason ? ' ' + e.reason : '') + ')' : '') + '.');
    }
  };
  loadPresence(ch);
  loadHistory(ch);
}

function stop() {
  if (ws) { const s = ws; ws = null; s.close(1000); }
  if (watching) setBadge($('ws-state'), 'stopped');
  watching = null;
  shownChannels = '';
  $('stop').disabled = true;
}

const exact = (ch) => ch.indexOf('*') < 0;

async function loadPresence(ch) {
  const box = $('presence');
  if (!exact(ch)) { box.textContent = 'Presence is per channel, not per pattern.'; $('pres-count').textContent = ''; return; }
  try {
    const p = await get('/presence?channel=' + encodeURIComponent(ch));
    if (ch !== watching) return;
    const clients = p.clients || [];
    $('pres-count').textContent = clients.length;
    if (!clients.length) { box.textContent = 'Nobody is subscribed.'; return; }
    const t = el('table');
    const head = el('tr');
    for (const h of ['client', 'user', 'node']) head.append(el('th', '', h));
    t.append(head);
    for (const c of clients) {
      const tr = el('tr');
      for (const v of [c.client, c.user || '\u2013', c.node]) tr.append(el('td', '', v));
      t.append(tr);
    }
    box.replaceChildren(t);
  } catch (e) {
    if (ch !== watching) return;
    $('pres-count').textContent = '';
    box.textContent = e.status === 404 ? 'Presence is not enabled for this channel.' : 'Presence: ' + e.message;
  }
}

async function loadHistory(ch) {
  const ol = $('history');
  if (!exact(ch)) { ol.replaceChildren(el('li', 'empty', 'History is per channel, not per pattern.')); return; }
  try {
    const h = await get('/history?channel=' + encodeURIComponent(ch) + '&limit=20&reverse=1');
    if (ch !== watching) return;
    const evs = h.events || [];
    ol.replaceChildren();
    if (!evs.length) ol.append(el('li', 'empty', 'No history kept for this channel (or nothing published yet).'));
    for (const ev of evs) ol.append(eventRow(ev.offset, ev.data));
  } catch (e) {
    if (ch === watching) ol.replaceChildren(el('li', 'empty', 'History: ' + e.message));
  }
}

// ---- wiring ----

$('pick').addEventListener('submit', (e) => { e.preventDefault(); watch($('channel').value); });
$('stop').addEventListener('click', stop);
$('hist-reload').addEventListener('click', () => { if (watching) loadHistory(watching); });
$('keyform').addEventListener('submit', (e) => {
  e.preventDefault();
  adminKey = $('key').value.trim();
  sessionStorage.setItem(KEY_ITEM, adminKey);
});
window.addEventListener('resize', drawChart);
poll();
