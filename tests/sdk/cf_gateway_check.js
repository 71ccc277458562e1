#!/usr/bin/env node
// cf_gateway_check.js - the unmodified Centrifugo JavaScript SDK (`centrifuge` 5.8.0 with
// `ws`, pinned in package.json) against real pulse-gateway nodes on
// /connection/websocket: run by tests/integration/test_cf_gateway.c, which starts
// redis-server, three gateways and HAProxy in front of them and passes:
//
//   node cf_gateway_check.js --direct ws://127.0.0.1:P/connection/websocket
//        --lb ws://127.0.0.1:L/connection/websocket --secret-file F --redis-port R
//        --publish /path/to/pulse-publish --node ID=PID [--node ...]
//
// Tokens are signed here (HS256, the gateways' --jwt-secret-file). Checks, each one a
// line "ok N - what" or "not ok N - what: why"; the exit status is the number of
// failures (0 = all passed):
//   connect with a token; subscribe to a history channel (positioned, recoverable);
//   events from pulse-publish (with offsets) and from raw PUBLISH (without);
//   publish from the SDK; presence, presence_stats, join and leave; history; RPC and
//   a pattern refused with the protocol's errors; a token refreshed before it expires
//   (getToken called again, the connection stays); and recovery: a client connected
//   through HAProxy, its node SIGKILLed, events published meanwhile, the SDK
//   reconnects by itself and its `subscribed` context says recovered:true with
//   exactly the missed publications, then live ones follow.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');

const args = { nodes: {} };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    const next = () => process.argv[++i];
    if (a === '--direct') args.direct = next();
    else if (a === '--lb') args.lb = next();
    else if (a === '--secret-file') args.secret = fs.readFileSync(next(), 'utf8');
    else if (a === '--redis-port') args.redisPort = next();
    else if (a === '--publish') args.publish = next();
    else if (a === '--node') { const [id, pid] = next().split('='); args.nodes[id] = parseInt(pid, 10); }
    else { process.stderr.write(`cf_gateway_check.js: unknown argument ${a}\n`); process.exit(100); }
}

let n = 0, failed = 0;
function check(cond, what, why) {
    n++;
    if (cond) console.log(`ok ${n} - ${what}`);
    else { failed++; console.log(`not ok ${n} - ${what}${why ? ': ' + why : ''}`); }
    return cond;
}

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(sub, ttlS, extra) {
    const claims = Object.assign({ sub, exp: Math.floor(Date.now() / 1000) + ttlS,
        channels: ['hist.*', 'room.*'], publish: ['hist.*'] }, extra || {});
    const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
    return head + '.' + crypto.createHmac('sha256', args.secret).update(head).digest('base64url');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Resolves with the first value of emitter's event that passes pred, or null after ms.
function waitFor(emitter, event, pred, ms) {
    return new Promise((resolve) => {
        const t = setTimeout(() => { emitter.removeListener(event, f); resolve(null); }, ms);
        function f(ctx) {
            if (pred && !pred(ctx)) return;
            clearTimeout(t);
            emitter.removeListener(event, f);
            resolve(ctx);
        }
        emitter.on(event, f);
    });
}
// Collects the data of every publication of sub into an array (with offsets).
function collect(sub) {
    const got = [];
    sub.on('publication', (ctx) => got.push({ data: ctx.data, offset: ctx.offset }));
    return got;
}
async function until(cond, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) { if (cond()) return true; await sleep(20); }
    return cond();
}
function pulsePublish(channel, first, count) {
    execFileSync(args.publish, ['--redis', `redis://127.0.0.1:${args.redisPort}`, '--channel', channel,
        '--count', String(count), '--first-sequence', String(first), '--quiet'], { stdio: 'inherit' });
}
function rawPublish(channel, text) {
    execFileSync('redis-cli', ['-p', args.redisPort, 'PUBLISH', channel, text], { stdio: 'ignore' });
}
function client(url, opts) {
    return new Centrifuge(url, Object.assign({ websocket: WebSocket, minReconnectDelay: 100,
        maxReconnectDelay: 500, timeout: 5000 }, opts));
}
async function call(p) {
    try { return { result: await p }; } catch (e) { return { error: e }; }
}

async function main() {
    // ---- connect, subscribe, deliveries ----
    let getTokenCalls = 0;
    const a = client(args.direct, { getToken: async () => { getTokenCalls++; return token('alice', 4); } });
    const disconnects = [];
    a.on('disconnected', (ctx) => disconnects.push(ctx));
    const connected = waitFor(a, 'connected', null, 5000);
    a.connect();
    const actx = await connected;
    check(actx && /^node-a:\d+$/.test(actx.client), 'connect with a token (getToken), client id node:conn',
        JSON.stringify(actx));

    const hs = a.newSubscription('hist.a', { joinLeave: true });
    const hgot = collect(hs);
    const hsub = waitFor(hs, 'subscribed', null, 5000);
    hs.subscribe();
    const hctx = await hsub;
    // a channel nobody published to yet has no epoch: offset 0, epoch ""
    check(hctx && hctx.recoverable && hctx.positioned && hctx.streamPosition &&
          hctx.streamPosition.offset === 0 && hctx.streamPosition.epoch === '',
          'subscribe to a history channel: recoverable, positioned at its top', JSON.stringify(hctx));
    const base = hctx ? hctx.streamPosition.offset : 0;

    pulsePublish('hist.a', 1, 2);
    await until(() => hgot.length >= 2, 5000);
    check(hgot.length === 2 && hgot[0].offset === base + 1 && hgot[1].offset === base + 2 &&
          hgot[0].data && hgot[0].data.sequence === 1 && hgot[1].data.sequence === 2,
          'events from pulse-publish arrive with their offsets', JSON.stringify(hgot));

    const rs = a.newSubscription('room.a', { joinLeave: true });
    const rgot = collect(rs);
    const joins = [], leaves = [];
    rs.on('join', (ctx) => joins.push(ctx.info));
    rs.on('leave', (ctx) => leaves.push(ctx.info));
    const rsub = waitFor(rs, 'subscribed', null, 5000);
    rs.subscribe();
    const rctx = await rsub;
    check(rctx && !rctx.recoverable, 'subscribe to a channel without history', JSON.stringify(rctx));
    rawPublish('room.a', 'plain text');
    rawPublish('room.a', '{"raw":true}');
    await until(() => rgot.length >= 2, 5000);
    check(rgot.length === 2 && rgot[0].data === 'plain text' && rgot[1].data.raw === true &&
          rgot[0].offset === undefined, 'raw PUBLISH events arrive (text as a JSON string, no offset)',
          JSON.stringify(rgot));

    // ---- publish from the SDK ----
    const pub = await call(hs.publish({ from: 'sdk', n: 1 }));
    await until(() => hgot.length >= 3, 5000);
    check(!pub.error && hgot.length === 3 && hgot[2].data.from === 'sdk' && hgot[2].offset === base + 3,
          'publish from the SDK reaches the channel with the next offset', JSON.stringify([pub.error, hgot[2]]));
    const denied = await call(rs.publish({ nope: 1 }));
    check(denied.error && denied.error.code === 103, 'publish without the grant: error 103',
          JSON.stringify(denied.error));

    // ---- presence, join/leave ----
    const b = client(args.direct, { token: token('bob', 60) });
    await new Promise((r) => { b.once('connected', r); b.connect(); });
    const bs = b.newSubscription('room.a');
    await new Promise((r) => { bs.once('subscribed', r); bs.subscribe(); });
    await until(() => joins.some((j) => j.user === 'bob'), 5000);
    check(joins.some((j) => j.user === 'bob' && /^node-a:/.test(j.client)), 'join push when bob subscribes',
          JSON.stringify(joins));
    const pres = await call(rs.presence());
    const users = pres.result ? Object.values(pres.result.clients).map((c) => c.user).sort() : [];
    check(JSON.stringify(users) === '["alice","bob"]', 'presence lists alice and bob',
          JSON.stringify(pres.result || pres.error));
    const stats = await call(rs.presenceStats());
    check(stats.result && stats.result.numClients === 2 && stats.result.numUsers === 2,
          'presence_stats: 2 clients, 2 users', JSON.stringify(stats.result || stats.error));
    bs.unsubscribe();
    await until(() => leaves.some((j) => j.user === 'bob'), 5000);
    check(leaves.some((j) => j.user === 'bob'), 'leave push when bob unsubscribes', JSON.stringify(leaves));
    b.disconnect();
    const hp = await call(hs.presence());
    check(hp.error && hp.error.code === 108, 'presence on a channel without it: error 108',
          JSON.stringify(hp.error));

    // ---- history, refusals ----
    const hist = await call(hs.history({ limit: 10 }));
    const offs = hist.result ? hist.result.publications.map((p) => p.offset) : [];
    check(hist.result && JSON.stringify(offs) === JSON.stringify([base + 1, base + 2, base + 3]) &&
          hist.result.offset === base + 3 && /^[A-Za-z0-9]{8}$/.test(hist.result.epoch),
          'history: the 3 publications, the position', JSON.stringify(hist.result || hist.error));
    const since = await call(hs.history({ limit: 10, since: { offset: base + 2, epoch: hist.result ? hist.result.epoch : '' } }));
    check(since.result && since.result.publications.length === 1 && since.result.publications[0].data.from === 'sdk',
          'history since an offset', JSON.stringify(since.result || since.error));
    const bad = await call(hs.history({ limit: 10, since: { offset: 1, epoch: 'other' } }));
    check(bad.error && bad.error.code === 112, 'history since another epoch: error 112', JSON.stringify(bad.error));
    const rpc = await call(a.rpc('m', {}));
    check(rpc.error && rpc.error.code === 108, 'RPC refused with error 108', JSON.stringify(rpc.error));
    const ps = a.newSubscription('hist.*');
    const perr = waitFor(ps, 'unsubscribed', null, 5000);
    ps.subscribe();
    const pctx = await perr;
    check(pctx && pctx.code === 102, 'a pattern refused with error 102 (unknown channel)', JSON.stringify(pctx));
    const fs2 = a.newSubscription('feed:user-bob');
    const ferr = waitFor(fs2, 'unsubscribed', null, 5000);
    fs2.subscribe();
    const fctx = await ferr;
    check(fctx && fctx.code === 103, "another user's feed refused (owner rule): 103", JSON.stringify(fctx));

    // ---- token refresh: the connect token lives 4 s ----
    await sleep(5500);
    check(getTokenCalls >= 2 && disconnects.length === 0 && a.state === 'connected',
          'token refreshed before it expired (getToken called again), still connected',
          `getToken ${getTokenCalls}, disconnects ${JSON.stringify(disconnects)}`);
    pulsePublish('hist.a', 3, 1);
    await until(() => hgot.length >= 4, 5000);
    check(hgot.length === 4 && hgot[3].offset === base + 4, 'events still arrive after the refresh',
          JSON.stringify(hgot.slice(3)));
    a.disconnect();

    // ---- recovery behind HAProxy ----
    const c = client(args.lb, { token: token('carol', 300) });
    const cctxP = waitFor(c, 'connected', null, 5000);
    c.connect();
    const cctx = await cctxP;
    const node = cctx ? cctx.client.split(':')[0] : '';
    check(cctx && args.nodes[node], 'a client connects through HAProxy', JSON.stringify(cctx));
    const rsubs = [];
    const cs = c.newSubscription('hist.r');
    cs.on('subscribed', (ctx) => rsubs.push(ctx));
    const cgot = collect(cs);
    cs.subscribe();
    await until(() => rsubs.length === 1, 5000);
    pulsePublish('hist.r', 1, 2);
    await until(() => cgot.length >= 2, 5000);
    check(rsubs.length === 1 && cgot.length === 2, 'subscribed through HAProxy, 2 live events',
          JSON.stringify([rsubs, cgot]));
    const before = cgot.length;
    const lastOffset = before ? cgot[before - 1].offset : 0;
    process.kill(args.nodes[node], 'SIGKILL');
    console.log(`# SIGKILLed ${node} (pid ${args.nodes[node]})`);
    // published at once: execFileSync blocks this event loop, so the SDK cannot even
    // notice the loss before all 3 are in Redis (it is away for all of them)
    pulsePublish('hist.r', 3, 3);
    await until(() => rsubs.length >= 2, 15000);
    const rc = rsubs[1];
    const missed = cgot.slice(before);
    check(rc && rc.wasRecovering && rc.recovered, 'the SDK reconnected by itself: subscribed with recovered:true',
          JSON.stringify(rc));
    check(JSON.stringify(missed.map((p) => p.offset)) === JSON.stringify([lastOffset + 1, lastOffset + 2, lastOffset + 3]) &&
          missed.every((p, i) => p.data.sequence === 3 + i),
          'exactly the 3 missed publications, in order', JSON.stringify(missed));
    pulsePublish('hist.r', 6, 1);
    await until(() => cgot.length >= before + 4, 5000);
    check(cgot.length === before + 4 && cgot[before + 3].offset === lastOffset + 4,
          'live events follow on the new node, no duplicate', JSON.stringify(cgot.slice(before)));
    c.disconnect();
    console.log(`# ${n} checks, ${failed} failed`);
    return failed;
}

const guard = setTimeout(() => { console.log('not ok - timed out after 90 s'); process.exit(99); }, 90000);
main().then((f) => { clearTimeout(guard); process.exit(f); },
    (e) => { console.log(`not ok - ${e && e.stack || e}`); process.exit(98); });
