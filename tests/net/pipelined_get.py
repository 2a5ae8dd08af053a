"""python3 pipelined_get.py HOST NAME...: GET /files/NAME for every NAME in one write on
one connection, read each answer by its Content-Length, and print a JSON list of
[status, sha256 of the body] in order. Run by the net tests in the client namespace."""

from __future__ import annotations

import hashlib
import json
import socket
import sys


def main() -> None:
    host, names = sys.argv[1], sys.argv[2:]
    s = socket.create_connection((host, 80), timeout=30)
    s.sendall(b"".join(b"GET /files/%s HTTP/1.1\r\nHost: t\r\n\r\n" % n.encode() for n in names))
    buf, out = b"", []
    for _ in names:
        while b"\r\n\r\n" not in buf:
            buf += s.recv(1 << 20)
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        field = next(h for h in lines if h.lower().startswith(b"content-length:"))
        length = int(field.split(b":")[1])
        while len(buf) < length:
            more = s.recv(1 << 20)
            if not more:
                raise SystemExit("connection closed before the body's end")
            buf += more
        out.append([lines[0].split(b" ")[1].decode(), hashlib.sha256(buf[:length]).hexdigest()])
        buf = buf[length:]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
