#!/usr/bin/env python3
"""A WebSocket client that subscribes and then never reads: the slow consumer of
bench.sh's slowconsumer scenario. Usage: slow_client.py PORT CHANNEL SECONDS"""
import socket, sys, time

from ws_upgrade import send_upgrade

port, channel, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
s.connect(("127.0.0.1", port))
send_upgrade(s, f"/ws?channels={channel}")
buf = b""
while b'"subscribed"' not in buf:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("slow client: connection closed before subscribed")
    buf += chunk
print("slow client subscribed", flush=True)
time.sleep(seconds)  # never read again
