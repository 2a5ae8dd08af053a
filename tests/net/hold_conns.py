# tests/net/hold_conns.py: run inside the client namespace by test_net_pool.py. Opens N
# TCP connections to HOST:80 one after another, sends nothing, prints "held" and keeps
# them open until its stdin closes, then prints how many of them the server had closed
# meanwhile (an idle connection evicted by a full pool is reset) as JSON:
# {"open": N, "reset": N, "closed": N}.
from __future__ import annotations

import json
import socket
import sys


def state(s: socket.socket) -> str:
    s.setblocking(False)
    try:
        data = s.recv(1)
    except BlockingIOError:
        return "open"
    except ConnectionResetError:
        return "reset"
    return "closed" if not data else "open"


def main() -> None:
    host, n = sys.argv[1], int(sys.argv[2])
    socks = [socket.create_connection((host, 80), timeout=10) for _ in range(n)]
    print("held", flush=True)
    sys.stdin.read()
    count = {"open": 0, "reset": 0, "closed": 0}
    for s in socks:
        count[state(s)] += 1
        s.close()
    print(json.dumps(count), flush=True)


if __name__ == "__main__":
    main()
