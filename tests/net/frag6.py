# tests/net/frag6.py: `python frag6.py IFACE DST_MAC SRC DST PORT`, run in the client
# namespace: sends on IFACE, as one peer that fragments would, the two pieces of a TCP
# SYN to DST:PORT split by a fragment header (RFC 8200 4.5): the first fragment (offset
# 0, more to come, the TCP header in it) and the last (offset 8, no ports in it).
from __future__ import annotations

import sys

from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw, raw
from scapy.sendrecv import sendp


def main() -> None:
    iface, mac, src, dst, port = sys.argv[1:6]
    seg = raw(TCP(sport=40123, dport=int(port), flags="S", seq=1) / Raw(b"x" * 40))
    head = Ether(dst=mac) / IPv6(src=src, dst=dst, nh=44)
    first = head / IPv6ExtHdrFragment(nh=6, offset=0, m=1, id=0x5D5D) / Raw(seg[:64])
    last = head / IPv6ExtHdrFragment(nh=6, offset=8, m=0, id=0x5D5D) / Raw(seg[64:])
    sendp([first, last], iface=iface, verbose=False)


if __name__ == "__main__":
    main()
