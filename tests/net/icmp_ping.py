# tests/net/icmp_ping.py: `python icmp_ping.py IP COUNT` sends COUNT ICMP echo requests
# (RFC 792), one after the other, from a raw socket, and prints each round-trip time in
# milliseconds as a JSON list (null for an echo not answered within 2 s). It stands in for
# ping(8), which the test machine need not have. Needs CAP_NET_RAW.
from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def echo(sock: socket.socket, ip: str, ident: int, seq: int) -> float | None:
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"ssdk-ping"
    packet = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    start = time.monotonic()
    sock.sendto(packet, (ip, 0))
    deadline = start + 2.0
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            reply = sock.recv(2048)
        except TimeoutError:
            break
        icmp = reply[(reply[0] & 0xF) * 4 :]
        kind, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
        if kind == 0 and rid == ident and rseq == seq:
            return (time.monotonic() - start) * 1000
    return None


def main() -> None:
    ip, count = sys.argv[1], int(sys.argv[2])
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        ident = os.getpid() & 0xFFFF
        print(json.dumps([echo(sock, ip, ident, seq) for seq in range(count)]))


if __name__ == "__main__":
    main()
