# tests/net/never_read.py: run inside the client namespace by test_net_slots.py. Opens N
# connections to HOST:80 with a small receive buffer, asks each for PATH and never reads
# a byte: the kernel's window closes and stays closed while it answers the server's
# probes. Prints "held" and waits for its stdin to close; then prints how many of the
# connections the server reset meanwhile.
from __future__ import annotations

import socket
import sys

RCVBUF = 2048


def main() -> None:
    host, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)  # before connect: the window
        s.settimeout(10)
        s.connect((host, 80))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        socks.append(s)
    print("held", flush=True)
    sys.stdin.read()
    reset = 0
    for s in socks:
        s.setblocking(False)
        try:  # what was buffered first, then a reset connection says so
            while s.recv(65536):
                pass
        except ConnectionResetError:
            reset += 1
        except BlockingIOError:
            pass
        s.close()
    print(f"reset {reset}", flush=True)


if __name__ == "__main__":
    main()
