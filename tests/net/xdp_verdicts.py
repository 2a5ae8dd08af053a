# tests/net/xdp_verdicts.py: `python xdp_verdicts.py IFACE PORT ARP_ICMP MODE IP...`
# attaches ssdk's XDP program to IFACE in MODE (auto, native or skb) for the addresses IP
# (IPv4 and IPv6, one at least of IPv4) and TCP PORT, ARP/neighbour discovery and ICMP
# echo too when ARP_ICMP is 1, and puts an AF_XDP socket on queue 0 into its map.
#
# Without --hold it has the kernel run the program (BPF_PROG_TEST_RUN) on each frame read
# from stdin (one hex line each) and prints the actions as a JSON list (2 XDP_PASS,
# 4 XDP_REDIRECT). With --hold it prints "ready" and keeps the program attached while
# live traffic crosses the interface, until stdin closes; then it prints the socket's
# counters (its rx_frames: what the program redirected to it) as JSON. Either way it
# takes the program off again. Run in a namespace of the test's own; needs root.
from __future__ import annotations

import ipaddress
import json
import select
import sys
import time

from ssdk.core.runtime.engine import Engine, EngineConfig, XdpFilter
from ssdk.share import xdp_object


def main() -> None:
    hold = "--hold" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--hold"]
    iface, port, arp_icmp, mode, ips = args[0], int(args[1]), args[2] == "1", args[3], args[4:]
    v4 = [a for a in ips if ipaddress.ip_address(a).version == 4]
    f = XdpFilter(iface, str(xdp_object()), [(a, arp_icmp) for a in ips], [port], mode)
    try:
        with Engine(EngineConfig(ip=v4[0], port=port)) as e:
            e.attach_af_xdp(iface, queue=0, xdp_filter=f)
            if not hold:
                print(json.dumps([f.test_run(bytes.fromhex(x)) for x in sys.stdin.read().split()]))
                return
            print(f"ready {f.mode}", flush=True)
            # The socket's ring is read while the traffic runs, so it never overflows
            # (the stack answers what it knows; what matters is that the frames came).
            while not select.select([sys.stdin], [], [], 0.01)[0] or sys.stdin.readline():
                e.poll()
            for _ in range(50):
                e.poll()
                time.sleep(0.01)
            print(json.dumps(e.stats()), flush=True)
    finally:
        f.detach()


if __name__ == "__main__":
    main()
