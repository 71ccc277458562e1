#!/usr/bin/env python3
"""Latency of the presence ops over one WebSocket connection: sends OP (presence or
presence_stats) for CHANNEL N times, one at a time, and prints the round-trip times
(p50 p90 p99 max, ms) and the size of the last answer.
Usage: presence_ops.py PORT CHANNEL OP N"""
import json, os, socket, struct, sys, time

from ws_upgrade import send_upgrade

port, channel, op, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
send_upgrade(s, "/ws")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
buf = buf.split(b"\r\n\r\n", 1)[1]


def recv_exact(k):
    global buf
    while len(buf) < k:
        chunk = s.recv(1 << 20)
        if not chunk:
            sys.exit("presence_ops: connection closed")
        buf += chunk
    out, buf = buf[:k], buf[k:]
    return out


def recv_frame():
    b0, b1 = recv_exact(2)
    ln = b1 & 0x7F
    if ln == 126:
        ln = struct.unpack(">H", recv_exact(2))[0]
    elif ln == 127:
        ln = struct.unpack(">Q", recv_exact(8))[0]
    return b0 & 0x0F, recv_exact(ln)


def send_text(text):
    data = text.encode()
    mask = os.urandom(4)
    hdr = bytes([0x81])
    if len(data) < 126:
        hdr += bytes([0x80 | len(data)])
    else:
        hdr += bytes([0x80 | 126]) + struct.pack(">H", len(data))
    s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


recv_frame()  # hello
req = json.dumps({"op": op, "channel": channel})
times, last = [], b""
for _ in range(n):
    t0 = time.perf_counter()
    send_text(req)
    while True:
        opc, payload = recv_frame()
        if opc == 1 and payload.startswith(b'{"op":"' + op.encode() + b'"'):
            break
        if payload.startswith(b'{"op":"error"'):
            sys.exit("presence_ops: " + payload.decode())
    times.append((time.perf_counter() - t0) * 1000)
    last = payload
times.sort()
pct = lambda p: times[min(len(times) - 1, int(p * len(times)))]
summary = json.loads(last)
what = (f"{len(summary['clients'])} clients listed" if op == "presence"
        else f"clients={summary['clients']} users={summary['users']}")
print(f"{op:15s} n={n} p50={pct(0.5):.2f} p90={pct(0.9):.2f} p99={pct(0.99):.2f} max={times[-1]:.2f} ms"
      f" answer={len(last)} bytes ({what})")
