# tests/net/icmp_ping.py: `python icmp_ping.py IP COUNT` sends COUNT ICMP echo requests
# (RFC 792; ICMPv6's, RFC 4443, to an IPv6 address), one after the other, from a raw
# socket, and prints each round-trip time in milliseconds as a JSON list (null for an
# echo not answered within 2 s). It stands in for ping(8), which the test machine need
# not have. Needs CAP_NET_RAW.
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
    v6 = sock.family == socket.AF_INET6
    request, answer = (128, 129) if v6 else (8, 0)
    body = struct.pack("!BBHHH", request, 0, 0, ident, seq) + b"ssdk-ping"
    # The kernel fills in an ICMPv6 checksum itself (it covers a pseudo-header of the
    # addresses, which only the kernel knows when the socket sends).
    packet = body if v6 else body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    start = time.monotonic()
    sock.sendto(packet, (ip, 0))
    deadline = start + 2.0
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            reply = sock.recv(2048)
        except TimeoutError:
            break
        # An IPv4 raw socket reads the IP header too; an ICMPv6 one from ICMPv6 on.
        icmp = reply if v6 else reply[(reply[0] & 0xF) * 4 :]
        kind, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
        if kind == answer and rid == ident and rseq == seq:
            return (time.monotonic() - start) * 1000
    return None


def main() -> None:
    ip, count = sys.argv[1], int(sys.argv[2])
    family, proto = socket.AF_INET, socket.IPPROTO_ICMP
    if ":" in ip:
        family, proto = socket.AF_INET6, socket.IPPROTO_ICMPV6
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        ident = os.getpid() & 0xFFFF
        print(json.dumps([echo(sock, ip, ident, seq) for seq in range(count)]))


if __name__ == "__main__":
    main()
