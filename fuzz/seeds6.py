"""fuzz/seeds6.py: the IPv6 starting inputs of fuzz_frames (make_seeds.py adds them to
its own), built with scapy: neighbour discovery, an MLD query, echo, extension headers,
fragments, routing headers, a Packet Too Big, and HTTP conversations over IPv6, one of
them beside an IPv4 one on the same port (the engine of fuzz/harness.h is dual-stack).
"""

from __future__ import annotations

from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    HBHOptUnknown,
    ICMPv6EchoRequest,
    ICMPv6MLQuery2,
    ICMPv6ND_NS,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    RouterAlert,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw, raw

SERVER_IP6, CLIENT_IP6 = "2001:2::2", "2001:2::1"
SOLICITED = "ff02::1:ff00:2"
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:02", "02:00:00:00:00:01"
PORT = 80
# ctl bits of fuzz_frames.c (as make_seeds.py has them)
ADDR, L4SUM, RELACK, RELSEQ = 1, 4, 8, 0x10
FIX = ADDR | L4SUM
REL = FIX | RELACK | RELSEQ


def rec(frame: bytes, ctl: int = FIX, delay: int = 0) -> bytes:
    return bytes([ctl, delay]) + len(frame).to_bytes(2, "big") + frame


def ip6(dst: str = SERVER_IP6, mac: str = SERVER_MAC, hlim: int = 64) -> Packet:
    return Ether(src=CLIENT_MAC, dst=mac) / IPv6(src=CLIENT_IP6, dst=dst, hlim=hlim)


def seg6(sport: int, flags: str, data: bytes = b"", *, head: Packet | None = None, **kw: object) -> bytes:
    opts = kw.pop("options", [])
    pkt = (head or ip6()) / TCP(sport=sport, dport=PORT, flags=flags, window=65535, options=opts, **kw)  # type: ignore[arg-type]
    return raw(pkt / Raw(data)) if data else raw(pkt)


def syn6(sport: int, mss: int = 1440) -> bytes:
    opts = [("MSS", mss), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
    return rec(seg6(sport, "S", seq=1000, options=opts))


def ack6(sport: int, flags: str = "A", data: bytes = b"") -> bytes:
    return rec(seg6(sport, flags, data), REL)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: [2001:2::2]\r\n\r\n".encode()


def conversation6(sport: int, request: bytes, acks: int = 6) -> bytes:
    out = syn6(sport) + ack6(sport) + ack6(sport, "PA", request)
    return out + ack6(sport) * acks + ack6(sport, "FA") + ack6(sport)


def opt(otype: int) -> HBHOptUnknown:
    return HBHOptUnknown(otype=otype, optdata=b"\x00\x00\x00\x00")


def frame_seeds6() -> dict[str, bytes]:
    ns = ip6(SOLICITED, "33:33:ff:00:00:02", 255) / ICMPv6ND_NS(tgt=SERVER_IP6)
    ns = ns / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC)
    query = (
        Ether(src=CLIENT_MAC, dst="33:33:00:00:00:01")
        / IPv6(src="fe80::1", dst="ff02::1", hlim=1)
        / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
        / ICMPv6MLQuery2()
    )
    ping = ip6() / ICMPv6EchoRequest(id=7, seq=1, data=b"x" * 56)
    quoted = raw(IPv6(src=SERVER_IP6, dst=CLIENT_IP6) / TCP(sport=PORT, dport=40100, seq=1))
    return {
        "v6-ns": rec(raw(ns)),
        "v6-ns-hop-limit": rec(raw(ip6(SOLICITED, "33:33:ff:00:00:02", 64) / ICMPv6ND_NS(tgt=SERVER_IP6))),
        "v6-mld-query": rec(raw(query)),
        "v6-ping": rec(raw(ping)),
        "v6-ping-all-nodes": rec(raw(ip6("ff02::1", "33:33:00:00:00:01") / ICMPv6EchoRequest(id=8, seq=2))),
        "v6-hbh-skip": rec(seg6(40101, "S", head=ip6() / IPv6ExtHdrHopByHop(options=[opt(0x1E)]), seq=5)),
        "v6-dstopt-discard": rec(seg6(40102, "S", head=ip6() / IPv6ExtHdrDestOpt(options=[opt(0x5E)]), seq=5)),
        "v6-dstopt-problem": rec(seg6(40103, "S", head=ip6() / IPv6ExtHdrDestOpt(options=[opt(0x9E)]), seq=5)) * 12,
        "v6-hbh-late": rec(seg6(40104, "S", head=ip6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop(), seq=5)),
        "v6-fragment": rec(seg6(40105, "S", head=ip6() / IPv6ExtHdrFragment(m=1, id=3), seq=5)),
        "v6-routing": rec(seg6(40106, "S", head=ip6() / IPv6ExtHdrRouting(segleft=1, addresses=["2001:2::9"]), seq=5))
        + rec(seg6(40107, "S", head=ip6() / IPv6ExtHdrRouting(segleft=0, addresses=["2001:2::9"]), seq=5)),
        "v6-udp": rec(raw(ip6() / UDP(sport=5353, dport=53))),
        # A Packet Too Big quoting a segment of the conversation before it (its seq is
        # the fuzzer's to find: the harness does not make it relative).
        "v6-packet-too-big": syn6(40100)
        + ack6(40100)
        + ack6(40100, "PA", get("/files/big.bin"))
        + rec(raw(ip6() / ICMPv6PacketTooBig(mtu=1280) / quoted))
        + ack6(40100) * 4,
        "v6-get-index": conversation6(40110, get("/")),
        "v6-get-big": conversation6(40111, get("/files/big.bin"), acks=16),
        "v6-reset": syn6(40112) + ack6(40112) + ack6(40112, "R"),
    }
