# tests/net/raw_frames.py: frames across a real interface, for the socket filter's test.
#
#   python raw_frames.py recv IFACE PORT ARP_ICMP IP...
#       A packet socket on IFACE with ssdk's classic BPF filter for the addresses IP and
#       TCP PORT (ARP/neighbour discovery and ICMP echo too when ARP_ICMP is 1), as an
#       AF_PACKET worker attaches it. Prints "ready" once the filter is on, then every
#       frame the socket gets, until a line comes on stdin; then the frames, one hex
#       string each, as a JSON list.
#   python raw_frames.py send IFACE
#       Sends each frame read from stdin (one hex line each) out of IFACE, 5 ms apart.
#
# Run in the test's namespaces; needs CAP_NET_RAW.
from __future__ import annotations

import ctypes
import json
import select
import socket
import struct
import sys
import time

from ssdk.core.runtime.sockfilter import pack, share_filter_addrs

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26  # asm-generic/socket.h; Python's socket module does not name it


def recv(iface: str, port: int, arp_icmp: bool, ips: list[str]) -> None:
    raw = pack(share_filter_addrs([(ip, arp_icmp) for ip in ips], (port,)))
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("@HP", len(raw) // 8, ctypes.addressof(buf))
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as s:
        s.bind((iface, ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        # What was queued before the filter was on is not the filter's verdict.
        s.setblocking(False)
        while True:
            try:
                s.recv(65536)
            except BlockingIOError:
                break
        print("ready", flush=True)
        got: list[str] = []
        while True:
            ready, _, _ = select.select([s, sys.stdin], [], [], 1.0)
            if s in ready:
                got.append(s.recv(65536).hex())
            elif sys.stdin in ready:
                sys.stdin.readline()
                break
        print(json.dumps(got), flush=True)


def send(iface: str) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as s:
        s.bind((iface, ETH_P_ALL))
        for line in sys.stdin.read().split():
            s.send(bytes.fromhex(line))
            time.sleep(0.005)


def main() -> None:
    if sys.argv[1] == "recv":
        iface, port, arp_icmp, ips = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5:]
        recv(iface, port, arp_icmp, ips)
    else:
        send(sys.argv[2])


if __name__ == "__main__":
    main()
