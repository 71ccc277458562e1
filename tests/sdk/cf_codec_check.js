#!/usr/bin/env node
// cf_codec_check.js FILTER - the unmodified SDK (centrifuge, pinned in package.json)
// against the bytes of Pulse's Centrifugo codec, before the endpoint is wired: a raw
// `ws` server on a free loopback port hands every client frame to FILTER
// (tests/support/cf_codec_filter, the codec alone behind stdin/stdout, one JSON string
// per line each way) and sends back what it writes; the SDK, in this same process,
// connects, subscribes ("news" with join/leave, "hist" recovering from offset 5 of
// epoch AbCd1234), publishes, asks presence, presence stats, history and an RPC, and
// answers a server ping. Every expectation is checked; prints one JSON line per
// check and exits 0 when all hold, 1 otherwise (10 s at most).
'use strict';
const { spawn } = require('child_process');
const readline = require('readline');
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');

const filterPath = process.argv[2];
if (!filterPath) { process.stderr.write('usage: cf_codec_check.js FILTER\n'); process.exit(2); }
const log = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const failures = [];
function check(name, ok, got) { log({ check: name, ok: !!ok, got }); if (!ok) failures.push(name); }

let pongSeen = false;
const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
wss.on('connection', (ws) => {
    const filter = spawn(filterPath, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    readline.createInterface({ input: filter.stdout }).on('line', (l) => ws.send(JSON.parse(l)));
    let pinged = false;
    ws.on('message', (data) => {
        const frame = data.toString();
        if (frame === '{}') pongSeen = true;
        filter.stdin.write(JSON.stringify(frame) + '\n');
        if (!pinged && frame.includes('"connect"')) {
            pinged = true;
            setTimeout(() => ws.send('{}'), 200); // the server ping
        }
    });
    ws.on('close', () => filter.stdin.end());
});

wss.on('listening', () => {
    const url = `ws://127.0.0.1:${wss.address().port}/connection/websocket`;
    const client = new Centrifuge(url, { websocket: WebSocket, token: 'T0K', timeout: 3000 });
    const got = { pubs: [], joins: [] };
    const news = client.newSubscription('news', { joinLeave: true });
    const hist = client.newSubscription('hist', { since: { offset: 5, epoch: 'AbCd1234' } });
    news.on('publication', (c) => got.pubs.push(c));
    news.on('join', (c) => got.joins.push(c));
    hist.on('publication', (c) => got.pubs.push(c));
    hist.on('subscribed', (c) => { got.histSub = c; });
    news.on('subscribed', (c) => { got.newsSub = c; });
    client.on('connected', (c) => { got.connected = c; });
    news.subscribe();
    hist.subscribe();
    client.connect();

    const settle = (p) => p.then((r) => ({ r }), (e) => ({ e }));
    Promise.all([news.ready(3000), hist.ready(3000)]).then(async () => {
        const pub = await settle(client.publish('news', { a: 1 }));
        const pres = await settle(client.presence('news'));
        const stats = await settle(client.presenceStats('news'));
        const h = await settle(client.history('news', { limit: 10 }));
        const rpc = await settle(client.rpc('m', {}));
        await new Promise((r) => setTimeout(r, 400));
        check('connected', got.connected && got.connected.client === 'gw-1:1', got.connected);
        check('news subscribed at offset 7', got.newsSub && got.newsSub.streamPosition.offset === 7 &&
            got.newsSub.streamPosition.epoch === 'AbCd1234' && !got.newsSub.wasRecovering, got.newsSub);
        check('hist recovered', got.histSub && got.histSub.recovered === true && got.histSub.wasRecovering === true &&
            got.histSub.hasRecoveredPublications === true, got.histSub);
        const hp = got.pubs.filter((p) => p.channel === 'hist').map((p) => p.offset);
        check('recovered publications 6,7', JSON.stringify(hp) === '[6,7]', hp);
        const np = got.pubs.filter((p) => p.channel === 'news');
        check('publication push', np.length === 1 && np[0].offset === 9 && np[0].data.a === 1, np);
        check('join push', got.joins.length === 1 && got.joins[0].info.user === 'u2' &&
            got.joins[0].info.connInfo.name === 'Ann', got.joins);
        check('publish result', pub.r !== undefined, pub);
        check('presence', pres.r && Object.keys(pres.r.clients).length === 2, pres);
        check('presence stats', stats.r && stats.r.numClients === 2 && stats.r.numUsers === 2, stats);
        check('history', h.r && h.r.offset === 9 && h.r.epoch === 'AbCd1234' && h.r.publications.length === 2, h);
        check('rpc refused with 108', rpc.e && rpc.e.code === 108, rpc);
        check('pong answered the ping', pongSeen, pongSeen);
        finish();
    }, (e) => { check('subscribed', false, e); finish(); });
    function finish() {
        client.disconnect();
        wss.close();
        log({ result: failures.length === 0 ? 'ok' : 'FAILED', failures });
        setTimeout(() => process.exit(failures.length === 0 ? 0 : 1), 50);
    }
});
setTimeout(() => { log({ result: 'FAILED', failures: ['timeout'] }); process.exit(1); }, 10000);
