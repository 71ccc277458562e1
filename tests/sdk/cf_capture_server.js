#!/usr/bin/env node
// cf_capture_server.js - a throwaway scripted Centrifugo-protocol server (raw `ws`,
// no Pulse code) used to capture, byte for byte, what the unmodified SDK sends and to
// check that the replies Pulse's codec builds (gateway/protocol/gw_cf.c; the same
// bytes as tests/unit/check_cf.c expects) satisfy it. It is a capture tool, not a
// gateway: it answers each command from a script, prints one JSON line per frame
// ({"in":...} from the client, {"out":...} to it) on stdout, and exits after
// --exit-after MS. Prints "listening PORT" first.
//
//   node cf_capture_server.js [--port 0] [--exit-after 3000]
'use strict';
const WebSocket = require('ws');
let port = 0, exitAfter = 3000;
for (let i = 2; i < process.argv.length; i++) {
    if (process.argv[i] === '--port') port = parseInt(process.argv[++i], 10);
    else if (process.argv[i] === '--exit-after') exitAfter = parseInt(process.argv[++i], 10);
}
const log = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const wss = new WebSocket.Server({ host: '127.0.0.1', port });
wss.on('listening', () => log({ listening: wss.address().port }));
wss.on('connection', (ws, req) => {
    log({ url: req.url, protocol: ws.protocol });
    const send = (s) => { log({ out: s }); ws.send(s); };
    ws.on('message', (data) => {
        const frame = data.toString();
        log({ in: frame });
        const replies = [];
        for (const line of frame.split('\n')) {
            if (line === '') continue;
            const c = JSON.parse(line);
            if (c.connect !== undefined)
                replies.push(`{"id":${c.id},"connect":{"client":"gw-1:1","version":"pulse","expires":true,"ttl":60,"ping":25,"pong":true}}`);
            else if (c.subscribe !== undefined && c.subscribe.recover)
                replies.push(`{"id":${c.id},"subscribe":{"recoverable":true,"epoch":"${c.subscribe.epoch}","offset":${c.subscribe.offset},"publications":[{"data":{"n":1},"offset":${c.subscribe.offset + 1}}],"recovered":true,"positioned":true,"was_recovering":true}}`);
            else if (c.subscribe !== undefined)
                replies.push(`{"id":${c.id},"subscribe":{"recoverable":true,"epoch":"AbCd1234","offset":7,"positioned":true}}`);
            else if (c.publish !== undefined)
                replies.push(`{"id":${c.id},"publish":{}}`);
            else if (c.presence !== undefined)
                replies.push(`{"id":${c.id},"presence":{"presence":{"gw-1:1":{"client":"gw-1:1","user":"u1"}}}}`);
            else if (c.presence_stats !== undefined)
                replies.push(`{"id":${c.id},"presence_stats":{"num_clients":1,"num_users":1}}`);
            else if (c.history !== undefined)
                replies.push(`{"id":${c.id},"history":{"publications":[{"data":{"n":1},"offset":8}],"epoch":"AbCd1234","offset":8}}`);
            else if (c.rpc !== undefined)
                replies.push(`{"id":${c.id},"error":{"code":104,"message":"method not found"}}`);
            else if (c.unsubscribe !== undefined)
                replies.push(`{"id":${c.id},"unsubscribe":{}}`);
            else if (c.refresh !== undefined)
                replies.push(`{"id":${c.id},"refresh":{"client":"gw-1:1","version":"pulse","expires":true,"ttl":60}}`);
        }
        if (replies.length) send(replies.join('\n'));
        if (/"subscribe":\{"channel":"news"/.test(frame) && !frame.includes('"recover"')) {
            // pushes after a fresh subscribe: a publication, a join, a server ping
            setTimeout(() => {
                send('{"push":{"channel":"news","pub":{"data":{"n":2},"offset":8}}}');
                send('{"push":{"channel":"news","join":{"info":{"client":"gw-1:2","user":"u2"}}}}');
                send('{}');
                send('{"push":{"channel":"news","pub":{"data":"plain text"}}}\n{"push":{"channel":"news","leave":{"info":{"client":"gw-1:2","user":"u2"}}}}');
            }, 100);
        }
    });
});
setTimeout(() => { wss.close(); process.exit(0); }, exitAfter);
