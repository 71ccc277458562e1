#!/usr/bin/env node
// cf_browser.js - the unmodified Centrifugo SDK (`centrifuge` 5.8.0, its browser build
// dist/centrifuge.js from tests/sdk/node_modules) in a real headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core; no browser download, nothing
// from the network) against a real gateway's /connection/websocket. Run by
// tests/integration/test_cf_browser.c, which starts redis-server and a gateway with a
// history channel rule and a JWT secret:
//
//   cf_browser.js --url ws://127.0.0.1:P/connection/websocket --secret-file F
//                 --redis-port R --publish PATH/pulse-publish --channel C --count K
//                 --node ID --screenshot FILE
//
// A tiny HTTP server on a free loopback port serves the test page and the SDK's
// browser build; the page (no framework, no build step) connects with a token signed
// here, subscribes to C and lists every publication with its offset. Checks, each a
// line "ok N - what" or "not ok N - what: why": the page's WebSocket goes to
// /connection/websocket; connected with a client id of node ID; subscribed,
// positioned at the stream top (3 events published before the page came); K events published meanwhile by pulse-publish appear
// on the page with consecutive offsets after that top, in order; a publish from the
// page comes back as a publication; history from the page lists the newest offsets;
// no console error. Saves a screenshot to FILE. Exit status: the number of failures.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawn } = require('child_process');
const { chromium } = require('playwright-core');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['url', 'secret-file', 'redis-port', 'publish', 'channel', 'count', 'node', 'screenshot'])
  if (!args[k]) { process.stderr.write(`cf_browser.js: missing --${k}\n`); process.exit(100); }
const count = Number(args.count);
const secret = fs.readFileSync(args['secret-file'], 'utf8');

let n = 0, failed = 0;
function check(what, cond, why) {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}${why !== undefined ? ': ' + JSON.stringify(why) : ''}`); }
  return cond;
}

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(sub) {
  const claims = { sub, exp: Math.floor(Date.now() / 1000) + 600, channels: [args.channel], publish: [args.channel] };
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return head + '.' + crypto.createHmac('sha256', secret).update(head).digest('base64url');
}

// The page: the SDK from /centrifuge.js, then /page.js; what it sees goes into the DOM.
const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Pulse: Centrifugo SDK in the browser</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #1d2430; }
h1 { font-size: 20px; margin: 0 0 12px; }
.row { display: flex; gap: 24px; margin-bottom: 12px; }
.box { border: 1px solid #cfd6e0; border-radius: 6px; padding: 8px 12px; }
.label { color: #6a7485; font-size: 12px; }
ol { font: 12px ui-monospace, monospace; border: 1px solid #cfd6e0; border-radius: 6px; padding: 8px 8px 8px 48px; }
li b { color: #0b5fff; }
</style></head><body>
<h1>centrifuge <span id="sdk"></span> in Chromium &rarr; Pulse <code>/connection/websocket</code></h1>
<div class="row">
  <div class="box"><div class="label">state</div><div id="state">loading</div></div>
  <div class="box"><div class="label">client</div><div id="client">-</div></div>
  <div class="box"><div class="label">channel</div><div id="channel">-</div></div>
  <div class="box"><div class="label">subscribed at</div><div id="position">-</div></div>
  <div class="box"><div class="label">publications</div><div id="count">0</div></div>
</div>
<div class="label">publications as the SDK delivered them (offset: data)</div>
<ol id="pubs"></ol>
<div class="label">history (newest first)</div>
<ol id="history"></ol>
<script src="/centrifuge.js"></script>
<script src="/page.js"></script>
</body></html>`;

const PAGE_JS = `'use strict';
const q = new URLSearchParams(location.hash.slice(1));
const $ = (id) => document.getElementById(id);
$('sdk').textContent = typeof Centrifuge === 'function' ? '(browser build)' : 'MISSING';
$('channel').textContent = q.get('channel');
const c = new Centrifuge(q.get('url'), { token: q.get('token'), name: 'chromium' });
c.on('state', (ctx) => { $('state').textContent = ctx.newState; });
c.on('connected', (ctx) => { $('client').textContent = ctx.client; });
const sub = c.newSubscription(q.get('channel'));
sub.on('subscribed', (ctx) => {
  $('state').textContent = 'subscribed';
  $('position').textContent = ctx.positioned ? ctx.streamPosition.offset + ' / ' + (ctx.streamPosition.epoch || '(none)') : 'not positioned';
  $('position').dataset.offset = ctx.positioned ? String(ctx.streamPosition.offset) : '';
});
sub.on('publication', (ctx) => {
  const li = document.createElement('li');
  li.dataset.offset = String(ctx.offset);
  const b = document.createElement('b');
  b.textContent = ctx.offset + ': ';
  const code = document.createElement('code');
  code.textContent = JSON.stringify(ctx.data);
  li.append(b, code);
  $('pubs').appendChild(li);
  $('count').textContent = String($('pubs').children.length);
});
sub.subscribe();
c.connect();
window.pagePublish = (data) => sub.publish(data).then(() => 'ok', (e) => 'error ' + e.code);
window.pageHistory = (limit) => sub.history({ limit, reverse: true }).then((r) => {
  for (const p of r.publications) {
    const li = document.createElement('li');
    li.dataset.offset = String(p.offset);
    li.textContent = p.offset + ': ' + JSON.stringify(p.data);
    $('history').appendChild(li);
  }
  return r.publications.map((p) => p.offset);
}, (e) => 'error ' + e.code);
`;

const SDK = path.join(__dirname, 'node_modules', 'centrifuge', 'dist', 'centrifuge.js');

function serve() {
  const files = {
    '/': ['text/html; charset=utf-8', PAGE_HTML],
    '/page.js': ['text/javascript', PAGE_JS],
    '/centrifuge.js': ['text/javascript', fs.readFileSync(SDK)],
  };
  const server = http.createServer((req, res) => {
    const f = files[req.url];
    if (!f) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': f[0] });
    res.end(f[1]);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function publish(count) {
  return new Promise((resolve) => {
    const p = spawn(args.publish, ['--redis', `redis://127.0.0.1:${args['redis-port']}`, '--channel', args.channel,
      '--type', 'BROWSER_CHECK', '--source', 'cf-browser-test', '--count', String(count), '--rate', '20'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('close', (code) => resolve({ code, out: out.trim() }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (pred(v) || Date.now() > end) return v;
    await sleep(50);
  }
}

(async () => {
  const server = await serve();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('requestfailed', (r) => problems.push('request failed: ' + r.url()));
    const sockets = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const text = (sel) => page.textContent(sel).then((t) => (t || '').trim());
    const before = await publish(3); // the channel has an epoch and a top before the page comes
    check('pulse-publish before the page succeeded', before.code === 0, before.out);
    const hash = new URLSearchParams({ url: args.url, token: token('browser-user'), channel: args.channel });
    await page.goto(`${origin}/#${hash}`, { waitUntil: 'load' });
    check('the SDK browser build loaded', (await text('#sdk')) === '(browser build)', await text('#sdk'));

    const state = await until(() => text('#state'), (t) => t === 'subscribed', 10000);
    check('subscribed', state === 'subscribed', state);
    check('the page\'s WebSocket is /connection/websocket', sockets.length === 1 && sockets[0] === args.url, sockets);
    const client = await text('#client');
    check('connected with a client id of the node', client.startsWith(args.node + ':'), client);
    const top = Number(await page.getAttribute('#position', 'data-offset'));
    check('subscribe result positioned at the stream top', top === 3 && /^3 \/ \S+$/.test(await text('#position')),
      await text('#position'));

    const pub = await publish(count);
    check('pulse-publish succeeded', pub.code === 0, pub.out);
    const rows = await until(() => page.$$eval('#pubs li', (l) => l.map((x) => ({
      offset: Number(x.dataset.offset), text: x.querySelector('code').textContent }))),
    (l) => l.length >= count, 10000);
    check('every event published meanwhile appears', rows.length === count &&
      rows.every((r) => /"event_type":"BROWSER_CHECK"/.test(r.text)), { rows: rows.length, first: rows[0] });
    check('offsets consecutive after the subscribe position, in order',
      rows.every((r, i) => r.offset === top + 1 + i), rows.map((r) => r.offset));

    const published = await page.evaluate(() => window.pagePublish({ from: 'chromium', n: 1 }));
    check('publish from the page accepted', published === 'ok', published);
    const echo = await until(() => page.$$eval('#pubs li code', (l) => l.map((x) => x.textContent)),
      (l) => l.some((t) => t === '{"from":"chromium","n":1}'), 5000);
    check('the page\'s publish comes back as a publication', echo.length === count + 1 &&
      echo[count] === '{"from":"chromium","n":1}', echo.slice(-2));

    const hist = await page.evaluate(() => window.pageHistory(5));
    const newest = top + count + 1;
    check('history from the page: the 5 newest offsets, newest first',
      Array.isArray(hist) && hist.join() === [0, 1, 2, 3, 4].map((i) => newest - i).join(), hist);

    fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
    await page.screenshot({ path: args.screenshot, fullPage: true });
    console.log(`# screenshot: ${path.resolve(args.screenshot)}`);
    check('no console error', problems.length === 0, problems);
  } catch (e) {
    check('no exception', false, String((e && e.stack) || e));
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(failed);
})();
