# tests/net/hold_conns.py: run inside the client namespace by test_net_pool.py. Opens N
# TCP connections to HOST:80, sends nothing, prints "held" and keeps them open until its
# stdin closes, so a test can fill the server's connection pool on purpose.
from __future__ import annotations

import socket
import sys


def main() -> None:
    host, n = sys.argv[1], int(sys.argv[2])
    socks = [socket.create_connection((host, 80), timeout=10) for _ in range(n)]
    print("held", flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
