"""The WebSocket upgrade request the bench's small Python clients send (presence_ops.py,
slow_client.py): one place for the handshake they share."""
import base64
import os


def send_upgrade(s, path):
    """Sends the upgrade for path (e.g. "/ws?channels=a") on the connected socket s,
    asking for the pulse.v1 subprotocol; the caller reads the 101 and what follows."""
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: pulse.v1\r\n\r\n").encode())
