"""The classic BPF program an AF_PACKET worker puts on its socket (SO_ATTACH_FILTER), so
that the kernel queues to its rings only ssdk's own frames and leaves it the rest.

serve.worker_plan -> Engine.attach_af_packet -> share_filter(ip, ports, arp_icmp)
                  -> Engine.socket_filter(program) -> ssdk_nic_socket_filter (C)

It accepts what xdp_share.bpf.c redirects on AF_XDP, from the frame's first byte (a
SOCK_RAW packet socket's filter sees the Ethernet header):

- IPv4 to ssdk's address, TCP to one of its ports (a fragment with a non-zero offset has
  no ports and is refused: the stack drops fragments anyway);
- with arp_icmp (the kernel does not hold the address): ARP whose target protocol
  address is ssdk's, and ICMP to it; where the kernel holds the address, it answers ARP
  and ping itself, and ssdk would answer twice.

The packet socket still gets its copies before the kernel's own stack sees the frame;
the filter only spares the copies of frames that are not ssdk's, and the work on them.
An accepted frame is taken whole (the return value is the bytes kept).

An instruction is struct sock_filter (linux/filter.h): u16 code, u8 jt, u8 jf, u32 k,
in host byte order; the kernel loads packet halfwords and words in network byte order.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

# Opcodes (linux/bpf_common.h, linux/filter.h).
BPF_LD, BPF_LDX, BPF_JMP, BPF_RET, BPF_ALU = 0x00, 0x01, 0x05, 0x06, 0x04
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_ABS, BPF_IND, BPF_MSH, BPF_IMM = 0x20, 0x40, 0xA0, 0x00
BPF_JEQ, BPF_JSET, BPF_JA = 0x10, 0x40, 0x00
BPF_K = 0x00
BPF_AND = 0x50

ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806
IPPROTO_ICMP, IPPROTO_TCP = 1, 6
ETH_HLEN = 14
ARP_TPA = ETH_HLEN + 24  # the target protocol address in an IPv4-over-Ethernet ARP body
IP_FRAG = ETH_HLEN + 6  # flags and fragment offset
IP_PROTO = ETH_HLEN + 9
IP_DST = ETH_HLEN + 16
ACCEPT_ALL = 0xFFFFFFFF  # bytes kept: all of them, super-frames included
MAX_PORTS = 200  # a jump offset is 8 bits: the port tests must fit between the jumps


@dataclass(frozen=True)
class Insn:
    code: int
    jt: int
    jf: int
    k: int

    def pack(self) -> bytes:
        return struct.pack("=HBBI", self.code, self.jt, self.jf, self.k)


def share_filter(ip: str, ports: tuple[int, ...], arp_icmp: bool) -> list[Insn]:
    """The program for ssdk's address ``ip`` and TCP ``ports``; ARP and ICMP for ``ip``
    too when ``arp_icmp``. Jump offsets are counted from the next instruction."""
    if not 1 <= len(ports) <= MAX_PORTS:
        raise ValueError(f"1 to {MAX_PORTS} ports, not {len(ports)}")
    addr = int(ipaddress.IPv4Address(ip))
    # Laid out as labels first, offsets resolved below: the tail is [drop, accept].
    prog: list[tuple[int, object, object, int]] = []

    def emit(code: int, k: int = 0, jt: object = 0, jf: object = 0) -> None:
        prog.append((code, jt, jf, k))

    emit(BPF_LD | BPF_H | BPF_ABS, 12)  # the ethertype
    if arp_icmp:
        emit(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 0, "ip?")
        emit(BPF_LD | BPF_W | BPF_ABS, ARP_TPA)
        emit(BPF_JMP | BPF_JEQ | BPF_K, addr, "accept", "drop")
        prog.append((-1, "ip?", None, 0))  # a label
    emit(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, "drop")
    emit(BPF_LD | BPF_W | BPF_ABS, IP_DST)
    emit(BPF_JMP | BPF_JEQ | BPF_K, addr, 0, "drop")
    emit(BPF_LD | BPF_B | BPF_ABS, IP_PROTO)
    if arp_icmp:
        emit(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_ICMP, "accept", 0)
    emit(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, "drop")
    emit(BPF_LD | BPF_H | BPF_ABS, IP_FRAG)
    emit(BPF_JMP | BPF_JSET | BPF_K, 0x1FFF, "drop", 0)
    emit(BPF_LDX | BPF_B | BPF_MSH, ETH_HLEN)  # X = 4 * the IP header's length field
    emit(BPF_LD | BPF_H | BPF_IND, ETH_HLEN + 2)  # the TCP destination port
    for p in ports:
        emit(BPF_JMP | BPF_JEQ | BPF_K, p, "accept", 0)
    prog.append((-1, "drop", None, 0))
    emit(BPF_RET | BPF_K, 0)
    prog.append((-1, "accept", None, 0))
    emit(BPF_RET | BPF_K, ACCEPT_ALL)

    labels: dict[object, int] = {}
    out_pos = 0
    for code, jt, _jf, _k in prog:
        if code == -1:
            labels[jt] = out_pos
        else:
            out_pos += 1

    def off(target: object, here: int) -> int:
        if isinstance(target, int):
            return target
        d = labels[target] - here
        assert 0 <= d <= 255, (target, d)  # MAX_PORTS keeps every jump within 8 bits
        return d

    insns: list[Insn] = []
    for code, jt, jf, k in prog:
        if code != -1:
            here = len(insns) + 1  # jumps count from the next instruction
            insns.append(Insn(code, off(jt, here), off(jf, here), k))
    return insns


def pack(insns: list[Insn]) -> bytes:
    """The program as the kernel's struct sock_filter array."""
    return b"".join(i.pack() for i in insns)
