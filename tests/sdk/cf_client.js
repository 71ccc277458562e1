#!/usr/bin/env node
// cf_client.js - the unmodified Centrifugo JavaScript SDK (`centrifuge` from npm, the
// version pinned in package.json) driven from the command line, for Pulse's
// Centrifugo-protocol tests. It connects to a URL, subscribes, and prints one JSON
// object per line on stdout for everything the SDK reports (and, with --raw, every
// WebSocket frame in both directions), so a C test can read it line by line.
//
//   node cf_client.js --url ws://127.0.0.1:P/connection/websocket
//        [--token JWT | --token-file F]   (--token-file is read again on each getToken:
//                                          rewrite it to test refresh)
//        [--sub CH[:OFFSET:EPOCH]]...      subscribe (with a position: recover from it)
//        [--join-leave] [--raw] [--name NAME] [--exit-after MS]
//
// Lines it prints ({"ev": ...}): state, connecting, connected, disconnected, error,
// subscribing, subscribed, unsubscribed, sub_error, publication, join, leave,
// frame_out / frame_in (--raw), result / call_error (stdin calls), exit.
// Commands on stdin, one JSON object per line:
//   {"op":"publish","channel":"c","data":{...}}   {"op":"presence","channel":"c"}
//   {"op":"presence_stats","channel":"c"}         {"op":"history","channel":"c","limit":10,"since":{"offset":1,"epoch":"E"},"reverse":false}
//   {"op":"subscribe","channel":"c"}  {"op":"unsubscribe","channel":"c"}
//   {"op":"rpc","method":"m","data":{}}  {"op":"disconnect"}  {"op":"connect"}  {"op":"exit"}
// Runs until stdin closes, {"op":"exit"} or --exit-after; exits 0.
'use strict';
const fs = require('fs');
const readline = require('readline');
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');

function out(obj) {
    process.stdout.write(JSON.stringify(Object.assign({ t: Date.now() }, obj)) + '\n');
}

const args = { subs: [] };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    const next = () => process.argv[++i];
    if (a === '--url') args.url = next();
    else if (a === '--token') args.token = next();
    else if (a === '--token-file') args.tokenFile = next();
    else if (a === '--sub') args.subs.push(next());
    else if (a === '--join-leave') args.joinLeave = true;
    else if (a === '--raw') args.raw = true;
    else if (a === '--name') args.name = next();
    else if (a === '--exit-after') args.exitAfter = parseInt(next(), 10);
    else { process.stderr.write(`cf_client.js: unknown argument ${a}\n`); process.exit(2); }
}
if (!args.url) { process.stderr.write('cf_client.js: --url is required\n'); process.exit(2); }

// With --raw, every frame is printed: the SDK gets a WebSocket class whose send and
// message event are observed (the SDK itself is not touched).
class RawWebSocket extends WebSocket {
    constructor(...a) {
        super(...a);
        this.on('message', (data) => out({ ev: 'frame_in', data: data.toString() }));
    }
    send(data, ...rest) {
        out({ ev: 'frame_out', data: data.toString() });
        return super.send(data, ...rest);
    }
}

const opts = { websocket: args.raw ? RawWebSocket : WebSocket, timeout: 5000 };
if (args.name) opts.name = args.name;
if (args.token) opts.token = args.token;
if (args.tokenFile) {
    opts.getToken = () => Promise.resolve(fs.readFileSync(args.tokenFile, 'utf8').trim());
}
const client = new Centrifuge(args.url, opts);
client.on('state', (c) => out({ ev: 'state', newState: c.newState, oldState: c.oldState }));
client.on('connecting', (c) => out({ ev: 'connecting', code: c.code, reason: c.reason }));
client.on('connected', (c) => out({ ev: 'connected', client: c.client, transport: c.transport, data: c.data }));
client.on('disconnected', (c) => out({ ev: 'disconnected', code: c.code, reason: c.reason }));
client.on('error', (c) => out({ ev: 'error', type: c.type, error: c.error }));

function subscribe(spec) {
    // CH or CH:OFFSET:EPOCH (channel names may hold ':', the last two fields are the position)
    const parts = spec.split(':');
    let channel = spec;
    const sopts = { joinLeave: !!args.joinLeave };
    if (parts.length >= 3 && /^\d+$/.test(parts[parts.length - 2])) {
        channel = parts.slice(0, -2).join(':');
        sopts.since = { offset: parseInt(parts[parts.length - 2], 10), epoch: parts[parts.length - 1] };
    }
    const sub = client.getSubscription(channel) || client.newSubscription(channel, sopts);
    sub.removeAllListeners();
    sub.on('subscribing', (c) => out({ ev: 'subscribing', channel, code: c.code, reason: c.reason }));
    sub.on('subscribed', (c) => out(Object.assign({ ev: 'subscribed' }, c)));
    sub.on('unsubscribed', (c) => out({ ev: 'unsubscribed', channel, code: c.code, reason: c.reason }));
    sub.on('error', (c) => out({ ev: 'sub_error', channel, type: c.type, error: c.error }));
    sub.on('publication', (c) => out(Object.assign({ ev: 'publication' }, c)));
    sub.on('join', (c) => out(Object.assign({ ev: 'join' }, c)));
    sub.on('leave', (c) => out(Object.assign({ ev: 'leave' }, c)));
    sub.subscribe();
    return sub;
}
args.subs.forEach(subscribe);

function call(op, p) {
    p.then((r) => out({ ev: 'result', op, result: r }),
        (e) => out({ ev: 'call_error', op, error: e }));
}

let done = false;
function finish() {
    if (done) return;
    done = true;
    client.disconnect();
    out({ ev: 'exit' });
    setTimeout(() => process.exit(0), 50);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
    if (!line.trim()) return;
    let c;
    try { c = JSON.parse(line); } catch (e) { out({ ev: 'bad_input', line }); return; }
    switch (c.op) {
    case 'publish': call(c.op, client.publish(c.channel, c.data)); break;
    case 'presence': call(c.op, client.presence(c.channel)); break;
    case 'presence_stats': call(c.op, client.presenceStats(c.channel)); break;
    case 'history': call(c.op, client.history(c.channel, { limit: c.limit, since: c.since, reverse: c.reverse })); break;
    case 'rpc': call(c.op, client.rpc(c.method, c.data)); break;
    case 'subscribe': subscribe(c.channel); break;
    case 'unsubscribe': { const s = client.getSubscription(c.channel); if (s) { s.unsubscribe(); client.removeSubscription(s); } break; }
    case 'disconnect': client.disconnect(); break;
    case 'connect': client.connect(); break;
    case 'exit': finish(); break;
    default: out({ ev: 'bad_input', line });
    }
});
rl.on('close', () => { if (args.exitAfter === undefined) finish(); });
if (args.exitAfter !== undefined) setTimeout(finish, args.exitAfter);
client.connect();
