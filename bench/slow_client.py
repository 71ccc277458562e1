#!/usr/bin/env python3
"""A WebSocket client that subscribes and then never reads: the slow consumer of
bench.sh's slowconsumer scenario. Usage: slow_client.py PORT CHANNEL SECONDS"""
import base64, os, socket, sys, time

port, channel, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
s.connect(("127.0.0.1", port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /ws?channels={channel} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
           f"Sec-WebSocket-Protocol: pulse.v1\r\n\r\n").encode())
buf = b""
while b'"subscribed"' not in buf:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("slow client: connection closed before subscribed")
    buf += chunk
print("slow client subscribed", flush=True)
time.sleep(seconds)  # never read again
