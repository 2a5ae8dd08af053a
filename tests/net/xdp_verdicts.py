# tests/net/xdp_verdicts.py: `python xdp_verdicts.py IFACE IP PORT ARP_ICMP` attaches
# ssdk's XDP program to IFACE (for IP and TCP PORT; ARP and ICMP too when ARP_ICMP is 1),
# puts an AF_XDP socket on queue 0 into its map, and has the kernel run the program
# (BPF_PROG_TEST_RUN) on each frame read from stdin (one hex line each); it prints the
# actions as a JSON list (2 XDP_PASS, 4 XDP_REDIRECT) and takes the program off again.
# Run in a namespace of the test's own; needs root.
from __future__ import annotations

import json
import sys

from ssdk.core.runtime.engine import Engine, EngineConfig, XdpFilter
from ssdk.share import xdp_object


def main() -> None:
    iface, ip, port, arp_icmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
    frames = [bytes.fromhex(line) for line in sys.stdin.read().split()]
    f = XdpFilter(iface, str(xdp_object()), [ip], [port], arp_icmp)
    try:
        with Engine(EngineConfig(ip=ip, port=port)) as e:
            e.attach_af_xdp(iface, queue=0, xdp_filter=f)
            print(json.dumps([f.test_run(frame) for frame in frames]))
    finally:
        f.detach()


if __name__ == "__main__":
    main()
