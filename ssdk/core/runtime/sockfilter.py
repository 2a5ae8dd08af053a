"""The classic BPF program an AF_PACKET worker puts on its socket (SO_ATTACH_FILTER), so
that the kernel queues to its rings only ssdk's own frames and leaves it the rest.

serve.worker_plan -> Engine.attach_af_packet -> share_filter(ip, ports, arp_icmp)
                                             or share_filter_addrs([(ip, arp_icmp)...], ports)
                  -> Engine.socket_filter(program) -> ssdk_nic_socket_filter (C)

It accepts what xdp_share.bpf.c redirects on AF_XDP, from the frame's first byte (a
SOCK_RAW packet socket's filter sees the Ethernet header), for each address ssdk serves:

- IPv4 to the address, TCP to one of the ports (a fragment with a non-zero offset has
  no ports and is refused: the stack drops fragments anyway);
- IPv6 to the address, TCP to one of the ports, directly after the IPv6 header or after
  up to MAX_OPT_HDRS hop-by-hop or destination options headers; a first fragment by its
  ports, as IPv4's; a later fragment is refused;
- ICMPv6 errors (types 1 to 4: unreachable, packet too big, time exceeded, parameter
  problem) to an IPv6 address of ssdk's that quote a TCP segment from one of its
  (address, port) pairs, whoever holds the address: only ssdk can act on them;
- with arp_icmp (the kernel does not hold the address): ARP whose target protocol
  address is ssdk's and ICMP to it (IPv4); neighbour solicitations whose target is the
  address, sent to it or to its solicited-node group, and echo requests and neighbour
  advertisements sent to it (IPv6). Where the kernel holds the address it answers ARP,
  neighbour discovery and ping itself, and ssdk would answer twice.

A VLAN-tagged frame is refused, also where the kernel or the NIC took its tag off
before the filter ran (the frame then looks untagged, and ssdk would answer it
untagged): the kernel's ancillary VLAN_TAG_PRESENT says so.

The packet socket still gets its copies before the kernel's own stack sees the frame;
the filter only spares the copies of frames that are not ssdk's, and the work on them.
An accepted frame is taken whole (the return value is the bytes kept). A frame too short
for a load the program makes is refused (the kernel returns 0 for it), where the XDP
program passes it to the kernel: either way ssdk does not get it.

An instruction is struct sock_filter (linux/filter.h): u16 code, u8 jt, u8 jf, u32 k,
in host byte order; the kernel loads packet halfwords and words in network byte order.
A conditional jump reaches at most 255 instructions ahead, so each block below ends in
returns of its own, and blocks further away are reached by `ja` (a 32-bit offset).
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

# Opcodes (linux/bpf_common.h, linux/filter.h).
BPF_LD, BPF_LDX, BPF_ST, BPF_ALU, BPF_JMP, BPF_RET = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0xA0
BPF_ADD, BPF_LSH, BPF_RSH, BPF_AND = 0x00, 0x60, 0x70, 0x50
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_K, BPF_X = 0x00, 0x08

ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0800, 0x0806, 0x86DD
IPPROTO_ICMP, IPPROTO_TCP = 1, 6
ETH_HLEN = 14
ARP_TPA = ETH_HLEN + 24  # the target protocol address in an IPv4-over-Ethernet ARP body
IP_FRAG = ETH_HLEN + 6  # flags and fragment offset
IP_PROTO = ETH_HLEN + 9
IP_DST = ETH_HLEN + 16
IP6_NEXT = ETH_HLEN + 6
IP6_DST = ETH_HLEN + 24
IP6_HLEN = 40
# IPv6 next-header values and ICMPv6 types (RFC 8200, RFC 4443, RFC 4861).
NH_HOP, NH_TCP, NH_FRAGMENT, NH_ICMPV6, NH_DEST = 0, 6, 44, 58, 60
ICMPV6_ERR_LAST, ICMPV6_ECHO_REQ, ICMPV6_NS, ICMPV6_NA = 4, 128, 135, 136
MAX_OPT_HDRS = 2  # as xdp_share.bpf.c: options headers skipped before the upper layer
# The kernel's ancillary word (linux/filter.h): 1 when a VLAN tag came off the frame
# before the filter ran (a NIC's or veth's VLAN offload, or the receive path's untagging).
SKF_AD_VLAN_TAG_PRESENT = (-0x1000 + 48) & 0xFFFFFFFF
ACCEPT_ALL = 0xFFFFFFFF  # bytes kept: all of them, super-frames included
MAX_PORTS = 200  # a jump offset is 8 bits: the port tests must fit between the jumps
MAX_ADDRS = 16  # of each family, as the XDP program's maps hold


@dataclass(frozen=True)
class Insn:
    code: int
    jt: int
    jf: int
    k: int

    def pack(self) -> bytes:
        return struct.pack("=HBBI", self.code, self.jt, self.jf, self.k)


Target = str | int  # a label, or 0: the next instruction


class _Asm:
    """Instructions with labels for jump targets, resolved by assemble()."""

    def __init__(self) -> None:
        self.prog: list[tuple[int, Target, Target, int | str]] = []  # code -1: a label
        self._names = itertools.count()

    def new(self) -> str:
        return f"L{next(self._names)}"

    def at(self, label: str) -> None:
        self.prog.append((-1, label, 0, 0))

    def op(self, code: int, k: int = 0) -> None:
        self.prog.append((code, 0, 0, k))

    def jump(self, code: int, k: int, jt: Target, jf: Target) -> None:
        self.prog.append((code, jt, jf, k))

    def jeq(self, k: int, jt: Target, jf: Target) -> None:
        self.jump(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf)

    def ja(self, label: str) -> None:
        self.prog.append((BPF_JMP | BPF_JA, 0, 0, label))

    def ret(self, k: int) -> None:
        self.op(BPF_RET | BPF_K, k)

    def assemble(self) -> list[Insn]:
        labels: dict[Target, int] = {}
        n = 0
        for code, jt, _jf, _k in self.prog:
            if code == -1:
                labels[jt] = n
            else:
                n += 1

        def off(target: Target, here: int, limit: int) -> int:
            if isinstance(target, int):
                return target
            d = labels[target] - here
            # The limits on ports and addresses keep every conditional jump in 8 bits.
            assert 0 <= d <= limit, (target, d)
            return d

        insns: list[Insn] = []
        for code, jt, jf, k in self.prog:
            if code == -1:
                continue
            here = len(insns) + 1  # jumps count from the next instruction
            kk = off(k, here, 0xFFFFFFFF) if isinstance(k, str) else k
            insns.append(Insn(code, off(jt, here, 255), off(jf, here, 255), kk))
        return insns


def _words(ip: ipaddress.IPv6Address) -> list[int]:
    return list(struct.unpack("!4I", ip.packed))


def _solicited_node(ip: ipaddress.IPv6Address) -> list[int]:
    """The words of ff02::1:ffXX:XXXX, ``ip``'s solicited-node group (RFC 4291 2.7.1)."""
    return [0xFF020000, 0, 1, 0xFF000000 | (int(ip) & 0xFFFFFF)]


def _any_of4(asm: _Asm, addrs: list[int], match: str) -> None:
    """A (an IPv4 address) is one of ``addrs``: jump to ``match``; else fall through."""
    for a in addrs:
        asm.jeq(a, match, 0)


def _is6(asm: _Asm, base: int, ind: bool, words: list[int], hit: Target, miss: Target) -> None:
    """The 16 bytes at ``base`` (plus X when ``ind``) are ``words``: on to ``hit`` (0:
    the next instruction); else to ``miss``. Eight instructions."""
    mode = BPF_IND if ind else BPF_ABS
    for i, w in enumerate(words):
        asm.op(BPF_LD | BPF_W | mode, base + 4 * i)
        asm.jeq(w, hit if i == 3 else 0, miss)


def _any_of6(asm: _Asm, base: int, ind: bool, addrs: list[ipaddress.IPv6Address],
             match: str) -> None:  # fmt: skip
    """The 16 bytes at ``base`` (plus X when ``ind``) are one of ``addrs``: jump to
    ``match``; else fall through."""
    for a in addrs:
        nxt = asm.new()
        _is6(asm, base, ind, _words(a), match, nxt)
        asm.at(nxt)


def _ports(asm: _Asm, ports: tuple[int, ...]) -> None:
    """A is a TCP port: accept it if it is one of ``ports``, else refuse the frame."""
    ok = asm.new()
    for p in ports:
        asm.jeq(p, ok, 0)
    asm.ret(0)
    asm.at(ok)
    asm.ret(ACCEPT_ALL)


def _branch(asm: _Asm, k: int, label: str) -> None:
    """A == k: on to ``label``, however far; else the next instruction."""
    asm.jeq(k, 0, 1)
    asm.ja(label)


def share_filter(ip: str, ports: tuple[int, ...], arp_icmp: bool) -> list[Insn]:
    """The program for ssdk's address ``ip`` (IPv4 or IPv6) and TCP ``ports``; ARP (or
    neighbour discovery) and ICMP echo for ``ip`` too when ``arp_icmp``."""
    return share_filter_addrs([(ip, arp_icmp)], ports)


def share_filter_addrs(addrs: Sequence[tuple[str, bool]], ports: tuple[int, ...]) -> list[Insn]:
    """The program for ssdk's addresses, each (address, arp_icmp) with ``arp_icmp`` true
    where the kernel does not hold it, and TCP ``ports``, which every address serves.
    Jump offsets are counted from the next instruction."""
    if not 1 <= len(ports) <= MAX_PORTS:
        raise ValueError(f"1 to {MAX_PORTS} ports, not {len(ports)}")
    parsed = [(ipaddress.ip_address(a), flag) for a, flag in addrs]
    if not parsed:
        raise ValueError("no address")
    if len({a for a, _ in parsed}) != len(parsed):
        raise ValueError(f"an address twice: {[str(a) for a, _ in parsed]}")
    v4 = [(int(a), f) for a, f in parsed if isinstance(a, ipaddress.IPv4Address)]
    v6 = [(a, f) for a, f in parsed if isinstance(a, ipaddress.IPv6Address)]
    if len(v4) > MAX_ADDRS or len(v6) > MAX_ADDRS:
        raise ValueError(f"at most {MAX_ADDRS} addresses of each family")
    asm = _Asm()
    sections = {"arp": asm.new(), "ip": asm.new(), "ip6": asm.new()}
    arp_addrs = [a for a, f in v4 if f]
    # A VLAN-tagged frame is not ssdk's (it serves untagged Ethernet), and the kernel
    # may have taken the tag off before the filter runs: the frame then looks untagged.
    asm.op(BPF_LD | BPF_B | BPF_ABS, SKF_AD_VLAN_TAG_PRESENT)
    asm.jeq(0, 1, 0)
    asm.ret(0)
    asm.op(BPF_LD | BPF_H | BPF_ABS, 12)  # the ethertype
    if v6:
        _branch(asm, ETH_P_IPV6, sections["ip6"])
    if arp_addrs:
        _branch(asm, ETH_P_ARP, sections["arp"])
    if v4:
        _branch(asm, ETH_P_IP, sections["ip"])
    asm.ret(0)
    if arp_addrs:
        asm.at(sections["arp"])
        _arp(asm, arp_addrs)
    if v4:
        asm.at(sections["ip"])
        _ipv4(asm, v4, ports)
    if v6:
        asm.at(sections["ip6"])
        _ipv6(asm, v6, ports)
    return asm.assemble()


def _arp(asm: _Asm, addrs: list[int]) -> None:
    ok = asm.new()
    asm.op(BPF_LD | BPF_W | BPF_ABS, ARP_TPA)
    _any_of4(asm, addrs, ok)
    asm.ret(0)
    asm.at(ok)
    asm.ret(ACCEPT_ALL)


def _ipv4(asm: _Asm, v4: list[tuple[int, bool]], ports: tuple[int, ...]) -> None:
    ours, icmp, icmp_ok = asm.new(), asm.new(), asm.new()
    asm.op(BPF_LD | BPF_W | BPF_ABS, IP_DST)
    _any_of4(asm, [a for a, _ in v4], ours)
    asm.ret(0)
    asm.at(ours)
    asm.op(BPF_LD | BPF_B | BPF_ABS, IP_PROTO)
    if any(f for _, f in v4):
        _branch(asm, IPPROTO_ICMP, icmp)
    asm.jeq(IPPROTO_TCP, 1, 0)
    asm.ret(0)
    asm.op(BPF_LD | BPF_H | BPF_ABS, IP_FRAG)
    asm.jump(BPF_JMP | BPF_JSET | BPF_K, 0x1FFF, 0, 1)
    asm.ret(0)
    asm.op(BPF_LDX | BPF_B | BPF_MSH, ETH_HLEN)  # X = 4 * the IP header's length field
    asm.op(BPF_LD | BPF_H | BPF_IND, ETH_HLEN + 2)  # the TCP destination port
    _ports(asm, ports)
    if any(f for _, f in v4):
        asm.at(icmp)
        asm.op(BPF_LD | BPF_W | BPF_ABS, IP_DST)
        _any_of4(asm, [a for a, f in v4 if f], icmp_ok)
        asm.ret(0)
        asm.at(icmp_ok)
        asm.ret(ACCEPT_ALL)


def _ipv6(asm: _Asm, v6: list[tuple[ipaddress.IPv6Address, bool]], ports: tuple[int, ...]) -> None:
    """From here on X is the offset of the header at hand from the IPv6 header's start
    (indirect loads add ETH_HLEN), and A, at `upper`, its next-header value."""
    every = [a for a, _ in v6]
    flagged = [a for a, f in v6 if f]
    upper, tcp, frag, icmp = asm.new(), asm.new(), asm.new(), asm.new()
    asm.op(BPF_LD | BPF_B | BPF_ABS, ETH_HLEN)
    asm.op(BPF_ALU | BPF_AND | BPF_K, 0xF0)
    asm.jeq(0x60, 1, 0)  # version 6
    asm.ret(0)
    asm.op(BPF_LDX | BPF_W | BPF_IMM, IP6_HLEN)
    asm.op(BPF_LD | BPF_B | BPF_ABS, IP6_NEXT)
    for _ in range(MAX_OPT_HDRS):
        skip = asm.new()
        asm.jeq(NH_HOP, skip, 0)
        asm.jeq(NH_DEST, 0, upper)
        asm.at(skip)
        # X += 8 * (its length + 1), A = its next header; M[0] holds the new offset
        # while A loads the next header from the old one.
        asm.op(BPF_LD | BPF_B | BPF_IND, ETH_HLEN + 1)
        asm.op(BPF_ALU | BPF_ADD | BPF_K, 1)
        asm.op(BPF_ALU | BPF_LSH | BPF_K, 3)
        asm.op(BPF_ALU | BPF_ADD | BPF_X)
        asm.op(BPF_ST, 0)
        asm.op(BPF_LD | BPF_B | BPF_IND, ETH_HLEN)
        asm.op(BPF_LDX | BPF_W | BPF_MEM, 0)
    asm.at(upper)
    _branch(asm, NH_TCP, tcp)
    _branch(asm, NH_FRAGMENT, frag)
    _branch(asm, NH_ICMPV6, icmp)
    asm.ret(0)

    def to_us(addrs: list[ipaddress.IPv6Address]) -> None:
        """The destination is one of ``addrs``, or the frame is refused."""
        ok = asm.new()
        _any_of6(asm, IP6_DST, False, addrs, ok)
        asm.ret(0)
        asm.at(ok)

    asm.at(tcp)
    to_us(every)
    asm.op(BPF_LD | BPF_H | BPF_IND, ETH_HLEN + 2)
    _ports(asm, ports)

    asm.at(frag)
    to_us(every)
    asm.op(BPF_LD | BPF_H | BPF_IND, ETH_HLEN + 2)  # the offset, 2 reserved bits, M
    asm.jump(BPF_JMP | BPF_JSET | BPF_K, 0xFFF8, 0, 1)
    asm.ret(0)  # a later piece: no ports to go by
    asm.op(BPF_LD | BPF_B | BPF_IND, ETH_HLEN)
    asm.jeq(NH_TCP, 1, 0)
    asm.ret(0)
    asm.op(BPF_LD | BPF_H | BPF_IND, ETH_HLEN + 8 + 2)  # after the 8-byte fragment header
    _ports(asm, ports)

    asm.at(icmp)
    errors = asm.new()
    # A word first, only for the length check the XDP program makes (the whole 8-byte
    # ICMPv6 header), then the type.
    asm.op(BPF_LD | BPF_W | BPF_IND, ETH_HLEN + 4)
    asm.op(BPF_LD | BPF_B | BPF_IND, ETH_HLEN)
    if flagged:
        ns, echo = asm.new(), asm.new()
        _branch(asm, ICMPV6_NS, ns)
        _branch(asm, ICMPV6_ECHO_REQ, echo)
        _branch(asm, ICMPV6_NA, echo)
    # Types 1 to 4, the errors; anything else is refused.
    asm.jump(BPF_JMP | BPF_JGT | BPF_K, ICMPV6_ERR_LAST, 0, 1)
    asm.ret(0)
    asm.jump(BPF_JMP | BPF_JGE | BPF_K, 1, 1, 0)
    asm.ret(0)
    asm.ja(errors)
    if flagged:
        asm.at(ns)
        # The target (after the ICMPv6 header's 8 bytes) is one of the flagged addresses,
        # and the solicitation was sent to it or to its solicited-node group.
        for a in flagged:
            nxt, acc, sn, drop = asm.new(), asm.new(), asm.new(), asm.new()
            _is6(asm, ETH_HLEN + 8, True, _words(a), 0, nxt)
            _is6(asm, IP6_DST, False, _words(a), acc, sn)
            asm.at(sn)
            _is6(asm, IP6_DST, False, _solicited_node(a), acc, drop)
            asm.at(drop)
            asm.ret(0)
            asm.at(acc)
            asm.ret(ACCEPT_ALL)
            asm.at(nxt)
        asm.ret(0)
        asm.at(echo)
        to_us(flagged)
        asm.ret(ACCEPT_ALL)
    asm.at(errors)
    # To one of ssdk's addresses, quoting (after the 8-byte ICMPv6 header) an IPv6
    # header whose next header is TCP and whose source is one of ssdk's, then the TCP
    # source port: one of ssdk's segments.
    to_us(every)
    quoted = ETH_HLEN + 8
    asm.op(BPF_LD | BPF_B | BPF_IND, quoted + 6)
    asm.jeq(NH_TCP, 1, 0)
    asm.ret(0)
    ok = asm.new()
    _any_of6(asm, quoted + 8, True, every, ok)
    asm.ret(0)
    asm.at(ok)
    # A word: the XDP program wants both ports there; the source port is its top half.
    asm.op(BPF_LD | BPF_W | BPF_IND, quoted + IP6_HLEN)
    asm.op(BPF_ALU | BPF_RSH | BPF_K, 16)
    _ports(asm, ports)


def pack(insns: list[Insn]) -> bytes:
    """The program as the kernel's struct sock_filter array."""
    return b"".join(i.pack() for i in insns)
