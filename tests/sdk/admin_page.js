#!/usr/bin/env node
// admin_page.js - the node's admin page (GET / on the admin port) in a real headless
// Chromium (Debian's /usr/bin/chromium driven by playwright-core; no browser download),
// against a live node. Run by tests/integration/test_admin_page.c, which starts Redis
// and a gateway requiring tokens and opens --clients pulse.v1 clients on --channel.
//
//   admin_page.js --admin http://127.0.0.1:A --publish PATH/pulse-publish
//                 --redis redis://127.0.0.1:R --channel C --clients N --token JWT
//                 --count K --screenshot FILE
//
// Checks, each printed as one JSON line: the live view shows the node's own numbers
// (node id, Redis connected, connections = N, the totals /stats gives); picking C
// without a token shows the "requires a token" message; with the token pasted the
// inspector goes live and the page's own connection is counted (N+1); presence lists
// N+1 clients; K events published meanwhile by pulse-publish appear on the page with
// their offsets, deliveries/s goes above 0 and the fan-out p99 gets a value; the
// history panel lists the newest offsets; no console error and no CSP violation.
// Saves a full-page screenshot to FILE. Exit 0 when every check holds, 1 otherwise.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['admin', 'publish', 'redis', 'channel', 'clients', 'token', 'count', 'screenshot'])
  if (!args[k]) { process.stderr.write(`admin_page.js: missing --${k}\n`); process.exit(2); }
const nClients = Number(args.clients), count = Number(args.count);

const log = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const failures = [];
function check(name, ok, got) { log({ check: name, ok: !!ok, got }); if (!ok) failures.push(name); }

async function stats() {
  const r = await fetch(args.admin + '/stats');
  return r.json();
}

// polls fn (async, returning a value) until pred(value) or timeout; returns the last value
async function until(fn, pred, ms) {
  const end = Date.now() + ms;
  let v;
  for (;;) {
    v = await fn();
    if (pred(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function publish() {
  return new Promise((resolve) => {
    const p = spawn(args.publish, ['--redis', args.redis, '--channel', args.channel, '--type', 'PAGE_CHECK',
      '--source', 'admin-page-test', '--count', String(count), '--rate', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('close', (code) => resolve({ code, out: out.trim().split('\n').pop() }));
  });
}

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(String(e)));
    const text = (sel) => page.textContent(sel).then((t) => (t || '').trim());

    const resp = await page.goto(args.admin + '/', { waitUntil: 'load' });
    const csp = resp.headers()['content-security-policy'] || '';
    check('page served with a CSP', resp.status() === 200 && /default-src 'none'/.test(csp) && /connect-src 'self' ws/.test(csp), csp);

    // the live view: the node's real numbers
    const s0 = await stats();
    const nodeShown = await until(() => text('#node'), (t) => t === s0.node, 5000);
    check('node id shown', nodeShown === s0.node, nodeShown);
    const conns = await until(() => text('#t-conns'), (t) => t === String(nClients), 5000);
    check('connections = the clients the test opened', conns === String(nClients), { page: conns, stats: s0.connections });
    check('Redis state shown', (await text('#redis')) === 'Redis connected', await text('#redis'));
    const chips = await page.$$eval('#active .chip', (b) => b.map((x) => x.textContent));
    check('active channels listed', chips.includes(args.channel), chips);

    // the inspector without a token: told to paste one
    await page.fill('#channel', args.channel);
    await page.click('#watch');
    const msg = await until(() => text('#ws-msg'), (t) => /requires a token/.test(t), 5000);
    check('auth-required case asks for a token', /requires a token/.test(msg), msg);

    // with the token: live
    await page.fill('#token', args.token);
    await page.click('#watch');
    const state = await until(() => text('#ws-state'), (t) => t === 'live on ' + args.channel, 5000);
    check('inspector live', state === 'live on ' + args.channel, state);
    const conns2 = await until(() => text('#t-conns'), (t) => t === String(nClients + 1), 5000);
    check('the page\'s own connection counted', conns2 === String(nClients + 1), conns2);
    const pres = await until(() => text('#pres-count'), (t) => t === String(nClients + 1), 6000);
    check('presence lists every subscriber', pres === String(nClients + 1),
      { count: pres, rows: await page.$$eval('#presence td', (t) => t.length) });

    // events published meanwhile appear, with their offsets
    // the join pushes of the page's own subscription settle first (deliveries too)
    const total = (s) => s.deliveries.critical + s.deliveries.normal;
    let before = await stats();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const s = await stats();
      if (total(s) === total(before)) break;
      before = s;
    }
    let maxDps = 0;
    const watchDps = setInterval(async () => {
      const v = Number(await text('#t-dps').catch(() => '0'));
      if (v > maxDps) maxDps = v;
    }, 250);
    const pub = await publish();
    check('pulse-publish succeeded', pub.code === 0, pub.out);
    const rows = await until(() => page.$$eval('#events li[data-offset]', (l) => l.map((x) => ({
      offset: Number(x.dataset.offset), text: x.querySelector('code').textContent }))),
    (l) => l.length >= count, 5000);
    const offsets = rows.map((r) => r.offset).sort((a, b) => a - b);
    check('every published event appears', rows.length === count && rows.every((r) => /"event_type":"PAGE_CHECK"/.test(r.text)),
      { rows: rows.length, first: rows[0] && rows[0].text.slice(0, 80) });
    check('offsets consecutive', offsets.every((o, i) => i === 0 || o === offsets[i - 1] + 1) && offsets[0] >= 1, offsets);
    check('event counter', (await text('#ev-count')) === String(count), await text('#ev-count'));
    await new Promise((r) => setTimeout(r, 1500));
    clearInterval(watchDps);
    check('deliveries/s rose above 0 while publishing', maxDps > 0, maxDps);
    const after = await stats();
    const delivered = total(after);
    check('deliveries match the node', delivered - total(before) === count * (nClients + 1),
      { delta: delivered - total(before), want: count * (nClients + 1) });
    const sub = await until(() => text('#t-dps-sub'), (t) => t === delivered + ' delivered', 3000);
    check('total deliveries shown', sub === delivered + ' delivered', { page: sub, stats: delivered });
    const p99 = await text('#t-p99');
    check('fan-out p99 shown', /^\d+(\.\d+)? (µs|ms|s)$/.test(p99), p99);

    // history: the newest offsets, newest first
    await page.click('#hist-reload');
    const hist = await until(() => page.$$eval('#history li[data-offset]', (l) => l.map((x) => Number(x.dataset.offset))),
      (h) => h.length > 0 && h[0] === offsets[offsets.length - 1], 5000);
    check('history lists the newest events', hist.length === Math.min(count, 20) && hist[0] === offsets[offsets.length - 1], hist);

    await page.mouse.move(0, 0);
    fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
    await page.screenshot({ path: args.screenshot, fullPage: true });
    log({ screenshot: path.resolve(args.screenshot) });
    check('no console error, no CSP violation', problems.length === 0, problems);
  } catch (e) {
    check('no exception', false, String(e && e.stack || e));
  } finally {
    await browser.close();
  }
  log({ failures });
  process.exit(failures.length ? 1 : 0);
})();
