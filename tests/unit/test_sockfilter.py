# tests/unit/test_sockfilter.py: the classic BPF program AF_PACKET workers attach
# (ssdk/core/runtime/sockfilter.py), run by an interpreter of its own here (the cBPF
# semantics of the kernel's net/core/filter.c, for the opcodes the program may use)
# against frames scapy builds: ssdk's address and port, ARP and ICMP for it only when the
# kernel does not hold the address, and nothing else; for IPv6 likewise, with neighbour
# discovery in ARP's place, options headers, fragments and ICMPv6 errors.
# tests/net/test_net_share.py runs the same tables through the XDP program and through
# the filter on a real packet socket.
from __future__ import annotations

import ipaddress
import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6MLQuery2,
    ICMPv6MLReport2,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
    RouterAlert,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether

from ssdk.core.runtime.sockfilter import (
    ACCEPT_ALL,
    MAX_ADDRS,
    SKF_AD_VLAN_TAG_PRESENT,
    Insn,
    pack,
    share_filter,
    share_filter_addrs,
)

SSDK_IP, OTHER_IP, CLIENT = "198.18.0.2", "198.18.0.3", "198.18.0.1"
# OTHER_IP6 is the kernel's own address on the interface in tests/net.
SSDK_IP6, OTHER_IP6, CLIENT6 = "2001:2::2", "2001:2::3", "2001:2::1"
SSDK_MAC = "02:00:00:00:00:02"  # given, so that scapy does not look for it
SO_ATTACH_FILTER = 26  # asm-generic/socket.h; Python's socket module does not name it


class Reject(Exception):
    """A load past the frame's end: the kernel's filter returns 0 (drop)."""


def run(prog: list[Insn], frame: bytes) -> int:
    """What the kernel's classic BPF returns for ``frame``, received: bytes to keep, 0 to
    drop. As the kernel's receive path does, a VLAN tag comes off the frame before the
    filter sees it, and the ancillary VLAN_TAG_PRESENT says so."""
    a = x = 0
    mem = [0] * 16
    pc = 0
    u32 = 0xFFFFFFFF
    tagged = frame[12:14] == b"\x81\x00"
    if tagged:
        frame = frame[:12] + frame[16:]

    def load(off: int, size: int) -> int:
        if off == SKF_AD_VLAN_TAG_PRESENT:
            return int(tagged)
        if off < 0 or off + size > len(frame):
            raise Reject
        return int.from_bytes(frame[off : off + size], "big")

    try:
        while True:
            i = prog[pc]
            pc += 1
            cls, size, mode = i.code & 0x07, i.code & 0x18, i.code & 0xE0
            width = {0x00: 4, 0x08: 2, 0x10: 1}[size]
            if cls == 0x00:  # BPF_LD: absolute, indirect (X + k), or scratch memory
                assert mode in (0x20, 0x40, 0x60), hex(i.code)
                if mode == 0x60:
                    a = mem[i.k]
                else:
                    a = load(i.k if mode == 0x20 else x + i.k, width)
            elif cls == 0x01:  # BPF_LDX: the IP header length, a constant, or memory
                assert i.code in (0xB1, 0x01, 0x61), hex(i.code)
                if i.code == 0xB1:
                    x = 4 * (load(i.k, 1) & 0x0F)
                else:
                    x = i.k if i.code == 0x01 else mem[i.k]
            elif cls == 0x02:  # BPF_ST
                mem[i.k] = a
            elif cls == 0x04:  # BPF_ALU, 32 bits wide
                src = x if i.code & 0x08 else i.k
                op = i.code & 0xF0
                assert op in (0x00, 0x50, 0x60, 0x70), hex(i.code)
                a = {0x00: a + src, 0x50: a & src, 0x60: a << src, 0x70: a >> src}[op] & u32
            elif cls == 0x05:  # BPF_JMP, with a constant
                op = i.code & 0xF0
                assert i.code & 0x08 == 0, hex(i.code)
                if op == 0x00:  # BPF_JA
                    pc += i.k
                    continue
                taken = {0x10: a == i.k, 0x20: a > i.k, 0x30: a >= i.k, 0x40: bool(a & i.k)}[op]
                pc += i.jt if taken else i.jf
            elif cls == 0x06:  # BPF_RET K
                return i.k
            else:
                raise AssertionError(f"opcode {i.code:#x} not expected")
    except Reject:
        return 0


def tcp(dst: str, dport: int, **ip: object) -> bytes:
    return bytes(Ether() / IP(src=CLIENT, dst=dst, **ip) / TCP(sport=40000, dport=dport))


ARP_FOR_SSDK = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc=CLIENT, pdst=SSDK_IP))
PING_SSDK = bytes(Ether() / IP(src=CLIENT, dst=SSDK_IP) / ICMP())

# (frame, taken when the kernel does not hold the address, taken when it does)
FRAMES = [
    ("SYN to ssdk's port", tcp(SSDK_IP, 80), True, True),
    ("SYN to sshd's port", tcp(SSDK_IP, 22), False, False),
    ("TCP to another address", tcp(OTHER_IP, 80), False, False),
    ("IP options before TCP", tcp(SSDK_IP, 80, options=b"\x01" * 4), True, True),
    ("a first fragment", tcp(SSDK_IP, 80, flags="MF"), True, True),
    ("a later fragment", tcp(SSDK_IP, 80, frag=100), False, False),
    ("UDP to ssdk's port", bytes(Ether() / IP(dst=SSDK_IP) / UDP(dport=80)), False, False),
    ("ARP for ssdk's address", ARP_FOR_SSDK, True, False),
    ("ARP for another address",
     bytes(Ether() / ARP(op=1, psrc=CLIENT, pdst=OTHER_IP)), False, False),
    ("ping to ssdk's address", PING_SSDK, True, False),
    ("ping to another address", bytes(Ether() / IP(dst=OTHER_IP) / ICMP()), False, False),
    ("a VLAN-tagged SYN", bytes(Ether() / Dot1Q(vlan=5) / IP(dst=SSDK_IP) / TCP(dport=80)),
     False, False),
    ("IPv6", bytes.fromhex("ffffffffffff020000000001" "86dd") + bytes(40), False, False),
    ("a runt", tcp(SSDK_IP, 80)[:30], False, False),
]  # fmt: skip


def tcp6(dst: str, dport: int, *ext: object, src: str = CLIENT6) -> bytes:
    pkt = IPv6(src=src, dst=dst)
    for e in ext:
        pkt = pkt / e
    return bytes(Ether(dst=SSDK_MAC) / pkt / TCP(sport=40000, dport=dport))


def solicited(ip: str) -> tuple[str, str]:
    """The solicited-node group of ``ip`` and its multicast MAC address."""
    tail = ipaddress.IPv6Address(ip).packed[-3:]
    group = ipaddress.IPv6Address(bytes.fromhex("ff0200000000000000000001ff") + tail)
    return str(group), "33:33:" + ":".join(f"{b:02x}" for b in group.packed[-4:])


def ns(target: str, dst: str | None = None, src: str = CLIENT6) -> bytes:
    """A neighbour solicitation for ``target``, to its solicited-node group unless
    ``dst`` says otherwise."""
    group, mac = solicited(target)
    dst = dst or group
    return bytes(Ether(dst=mac if dst == group else SSDK_MAC)
                 / IPv6(src=src, dst=dst, hlim=255) / ICMPv6ND_NS(tgt=target))  # fmt: skip


def quoting(error: object, sport: int, proto: str = "tcp", src: str = SSDK_IP6) -> bytes:
    """An ICMPv6 ``error`` to ``src`` quoting a segment (or a datagram) it sent from
    ``sport`` to the client."""
    inner = IPv6(src=src, dst=CLIENT6) / (
        TCP(sport=sport, dport=40000, flags="A") if proto == "tcp" else UDP(sport=sport)
    )
    outer = IPv6(src="2001:2::ff", dst=src)  # a router on the way
    return bytes(Ether(dst=SSDK_MAC) / outer / error / bytes(inner)[:1232])


PING6_SSDK = bytes(Ether(dst=SSDK_MAC) / IPv6(src=CLIENT6, dst=SSDK_IP6) / ICMPv6EchoRequest())

# IPv6, for ssdk's SSDK_IP6 beside SSDK_IP: (frame, taken when the kernel does not hold
# the address, taken when it does).
FRAMES6 = [
    ("v6 SYN to ssdk's port", tcp6(SSDK_IP6, 80), True, True),
    ("v6 SYN to sshd's port", tcp6(SSDK_IP6, 22), False, False),
    ("v6 TCP to another address", tcp6(OTHER_IP6, 80), False, False),
    ("v6 hop-by-hop options before TCP", tcp6(SSDK_IP6, 80, IPv6ExtHdrHopByHop()), True, True),
    ("v6 hop-by-hop and destination options before TCP",
     tcp6(SSDK_IP6, 80, IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(options=[PadN(optdata=bytes(10))])),
     True, True),
    ("v6 three options headers before TCP", tcp6(SSDK_IP6, 80, IPv6ExtHdrHopByHop(),
     IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt()), False, False),
    ("v6 options headers before TCP to sshd's port",
     tcp6(SSDK_IP6, 22, IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()), False, False),
    ("v6 a routing header before TCP",
     tcp6(SSDK_IP6, 80, IPv6ExtHdrRouting(addresses=[], segleft=0)), False, False),
    ("v6 a first fragment", tcp6(SSDK_IP6, 80, IPv6ExtHdrFragment(offset=0, m=1, id=7)),
     True, True),
    ("v6 a first fragment to sshd's port",
     tcp6(SSDK_IP6, 22, IPv6ExtHdrFragment(offset=0, m=1, id=7)), False, False),
    ("v6 a later fragment", tcp6(SSDK_IP6, 80, IPv6ExtHdrFragment(offset=4, m=0, id=7)),
     False, False),
    ("v6 a first fragment to another address",
     tcp6(OTHER_IP6, 80, IPv6ExtHdrFragment(offset=0, m=1, id=7)), False, False),
    ("v6 UDP to ssdk's port",
     bytes(Ether(dst=SSDK_MAC) / IPv6(src=CLIENT6, dst=SSDK_IP6) / UDP(dport=80)), False, False),
    ("NS for ssdk's address to its solicited-node group", ns(SSDK_IP6), True, False),
    ("NS for ssdk's address to the address (unreachability detection)",
     ns(SSDK_IP6, dst=SSDK_IP6), True, False),
    ("NS for ssdk's address from :: (duplicate address detection)",
     ns(SSDK_IP6, src="::"), True, False),
    ("NS for ssdk's address to another solicited-node group",
     ns(SSDK_IP6, dst=solicited("2001:2::44")[0]), False, False),
    ("NS for the kernel's address", ns(OTHER_IP6), False, False),
    ("NS for the kernel's address sent to ssdk's", ns(OTHER_IP6, dst=SSDK_IP6), False, False),
    ("NA to ssdk's address (an answer to its solicitation)",
     bytes(Ether(dst=SSDK_MAC) / IPv6(src=CLIENT6, dst=SSDK_IP6, hlim=255)
           / ICMPv6ND_NA(tgt=CLIENT6, S=1, O=1)), True, False),
    ("NA to all nodes", bytes(Ether(dst="33:33:00:00:00:01") / IPv6(src=CLIENT6, dst="ff02::1")
                              / ICMPv6ND_NA(tgt=CLIENT6, O=1)), False, False),
    ("v6 ping to ssdk's address", PING6_SSDK, True, False),
    ("v6 ping to another address", bytes(Ether(dst=SSDK_MAC) / IPv6(src=CLIENT6, dst=OTHER_IP6)
                                         / ICMPv6EchoRequest()), False, False),
    ("v6 echo reply to ssdk's address", bytes(Ether(dst=SSDK_MAC) / IPv6(src=CLIENT6, dst=SSDK_IP6)
                                              / ICMPv6EchoReply()), False, False),
    ("v6 ping with its ICMPv6 header cut short", PING6_SSDK[:14 + 40 + 4], False, False),
    ("packet too big quoting ssdk's segment", quoting(ICMPv6PacketTooBig(mtu=1280), 80),
     True, True),
    ("unreachable quoting ssdk's segment", quoting(ICMPv6DestUnreach(code=1), 80), True, True),
    ("time exceeded quoting ssdk's segment", quoting(ICMPv6TimeExceeded(), 80), True, True),
    ("packet too big quoting sshd's segment", quoting(ICMPv6PacketTooBig(mtu=1280), 22),
     False, False),
    ("packet too big quoting a UDP datagram from ssdk's port",
     quoting(ICMPv6PacketTooBig(mtu=1280), 80, proto="udp"), False, False),
    ("packet too big quoting the kernel's segment",
     quoting(ICMPv6PacketTooBig(mtu=1280), 80, src=OTHER_IP6), False, False),
    ("packet too big cut short in the quoted TCP header",
     quoting(ICMPv6PacketTooBig(mtu=1280), 80)[: 14 + 40 + 8 + 40 + 2], False, False),
    ("router advertisement", bytes(Ether(dst="33:33:00:00:00:01")
                                   / IPv6(src="fe80::1", dst="ff02::1", hlim=255)
                                   / ICMPv6ND_RA()), False, False),
    ("MLD query", bytes(Ether(dst="33:33:00:00:00:01")
                        / IPv6(src="fe80::1", dst="ff02::1", hlim=1)
                        / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLQuery2()),
     False, False),
    ("MLD report", bytes(Ether(dst="33:33:00:00:00:16")
                         / IPv6(src="fe80::1", dst="ff02::16", hlim=1)
                         / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2()),
     False, False),
    ("a VLAN-tagged v6 SYN", bytes(Ether(dst=SSDK_MAC) / Dot1Q(vlan=5)
                                   / IPv6(src=CLIENT6, dst=SSDK_IP6) / TCP(dport=80)),
     False, False),
    ("a v6 runt", tcp6(SSDK_IP6, 80)[:50], False, False),
]  # fmt: skip


DUAL = (SSDK_IP, SSDK_IP6)


@pytest.mark.parametrize(("what", "frame", "alone", "shared"), FRAMES,
                         ids=[f[0] for f in FRAMES])  # fmt: skip
def test_the_filter_takes_ssdks_frames_only(
    what: str, frame: bytes, alone: bool, shared: bool
) -> None:
    for arp_icmp, want in ((True, alone), (False, shared)):
        got = run(share_filter(SSDK_IP, (80,), arp_icmp), frame)
        assert got == (ACCEPT_ALL if want else 0), (what, arp_icmp)
        # The same with ssdk's IPv6 address beside it.
        dual = share_filter_addrs([(a, arp_icmp) for a in DUAL], (80,))
        assert run(dual, frame) == (ACCEPT_ALL if want else 0), (what, arp_icmp)


@pytest.mark.parametrize(("what", "frame", "alone", "shared"), FRAMES6,
                         ids=[f[0] for f in FRAMES6])  # fmt: skip
def test_the_filter_takes_ssdks_ipv6_frames_only(
    what: str, frame: bytes, alone: bool, shared: bool
) -> None:
    for arp_icmp, want in ((True, alone), (False, shared)):
        for addrs in ([SSDK_IP6], list(DUAL), ["2001:2::99", SSDK_IP6, SSDK_IP]):
            prog = share_filter_addrs([(a, arp_icmp) for a in addrs], (80,))
            assert run(prog, frame) == (ACCEPT_ALL if want else 0), (what, arp_icmp, addrs)
        # An IPv4 address alone takes no IPv6 frame.
        assert run(share_filter(SSDK_IP, (80,), arp_icmp), frame) == 0, what


def test_each_address_has_its_own_flag() -> None:
    """The kernel holds one address (it answers neighbour discovery and ping there) and
    not the other (ssdk does)."""
    prog = share_filter_addrs([(SSDK_IP6, True), (OTHER_IP6, False)], (80,))
    assert run(prog, ns(SSDK_IP6)) == ACCEPT_ALL
    assert run(prog, ns(OTHER_IP6)) == 0
    assert run(prog, tcp6(OTHER_IP6, 80)) == ACCEPT_ALL
    ping_other = bytes(Ether(dst=SSDK_MAC) / IPv6(src=CLIENT6, dst=OTHER_IP6) / ICMPv6EchoRequest())
    assert run(prog, PING6_SSDK) == ACCEPT_ALL and run(prog, ping_other) == 0
    v4 = share_filter_addrs([(SSDK_IP, False), (OTHER_IP, True)], (80,))
    assert run(v4, ARP_FOR_SSDK) == 0
    assert run(v4, bytes(Ether(dst=SSDK_MAC) / ARP(op=1, psrc=CLIENT, pdst=OTHER_IP))) == ACCEPT_ALL
    assert run(v4, PING_SSDK) == 0 and run(v4, tcp(OTHER_IP, 80)) == ACCEPT_ALL


def test_several_ports() -> None:
    prog = share_filter(SSDK_IP, (80, 8080), False)
    assert run(prog, tcp(SSDK_IP, 8080)) == ACCEPT_ALL
    assert run(prog, tcp(SSDK_IP, 81)) == 0
    prog6 = share_filter(SSDK_IP6, (80, 8080), False)
    assert run(prog6, tcp6(SSDK_IP6, 8080)) == ACCEPT_ALL
    assert run(prog6, tcp6(SSDK_IP6, 81)) == 0
    assert run(prog6, quoting(ICMPv6PacketTooBig(mtu=1280), 8080)) == ACCEPT_ALL


def test_every_jump_lands_inside_and_the_program_ends_in_returns() -> None:
    v4s = [f"198.18.1.{i}" for i in range(MAX_ADDRS)]
    v6s = [f"2001:2::1:{i:x}" for i in range(MAX_ADDRS)]
    for ports in ((80,), tuple(range(1000, 1200))):
        for addrs in ([(SSDK_IP, True)], [(a, True) for a in v4s + v6s],
                      [(a, i % 2 == 0) for i, a in enumerate(v6s)]):  # fmt: skip
            prog = share_filter_addrs(addrs, ports)
            for n, i in enumerate(prog):
                if i.code == 0x05:  # ja: its offset is k
                    assert n + 1 + i.k < len(prog)
                elif i.code & 0x07 == 0x05:
                    assert n + 1 + max(i.jt, i.jf) < len(prog)
            assert [i.code for i in prog[-2:]] == [0x06, 0x06]
        # The last of many addresses still matches, from the far end of every chain.
        prog = share_filter_addrs([(a, True) for a in v4s + v6s], ports)
        assert run(prog, tcp6(v6s[-1], ports[-1])) == ACCEPT_ALL
        assert run(prog, ns(v6s[-1])) == ACCEPT_ALL
        assert run(prog, tcp(v4s[-1], ports[-1])) == ACCEPT_ALL
    with pytest.raises(ValueError):
        share_filter(SSDK_IP, tuple(range(201)), True)
    with pytest.raises(ValueError):
        share_filter_addrs([(a, True) for a in [*v6s, "2001:2::ffff"]], (80,))
    with pytest.raises(ValueError):
        share_filter_addrs([(SSDK_IP6, True), ("2001:2:0::2", False)], (80,))  # twice


def test_packed_as_struct_sock_filter() -> None:
    prog = share_filter(SSDK_IP, (80,), True)
    raw = pack(prog)
    assert len(raw) == 8 * len(prog)
    # ldb vlan_avail, then ldh [12]
    assert struct.unpack_from("=HBBI", raw, 0) == (0x30, 0, 0, SKF_AD_VLAN_TAG_PRESENT)
    assert struct.unpack_from("=HBBI", raw, 24) == (0x28, 0, 0, 12)


def test_the_kernel_accepts_the_program() -> None:
    # The kernel checks a classic program when it is attached (sk_chk_filter: known
    # opcodes, jumps inside, a return at the end), on any socket and without privilege.
    import ctypes
    import socket

    for arp_icmp in (True, False):
        for addrs in ([SSDK_IP], [SSDK_IP6], list(DUAL)):
            raw = pack(share_filter_addrs([(a, arp_icmp) for a in addrs], (80, 443)))
            buf = ctypes.create_string_buffer(raw, len(raw))
            fprog = struct.pack("@HP", len(raw) // 8, ctypes.addressof(buf))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    bad = pack(share_filter(SSDK_IP, (80,), True)[:-2])  # no return at the end
    buf = ctypes.create_string_buffer(bad, len(bad))
    fprog = struct.pack("@HP", len(bad) // 8, ctypes.addressof(buf))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
