# tests/net/slow_client.py: run inside the client namespace by test_net_defences.py.
# Connects to HOST:80 and sends a request one byte every INTERVAL seconds, as a slowloris
# client does; prints what the server answered (or "timeout") and how long it took.
from __future__ import annotations

import json
import socket
import sys
import time


def main() -> None:
    host, interval = sys.argv[1], float(sys.argv[2])
    request = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"s" * 200 + b"\r\n\r\n"
    start = time.monotonic()
    sock = socket.create_connection((host, 80), timeout=30)
    sock.settimeout(interval)
    answer = b""
    try:
        for ch in request:
            sock.send(bytes([ch]))
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            answer += chunk
            break
        sock.settimeout(10)
        while chunk := sock.recv(4096):
            answer += chunk
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        pass
    print(json.dumps({"answer": answer.decode("latin-1"), "seconds": time.monotonic() - start}))


if __name__ == "__main__":
    main()
