# tests/unit/test_sockfilter.py: the classic BPF program AF_PACKET workers attach
# (ssdk/core/runtime/sockfilter.py), run by an interpreter of its own here (the cBPF
# semantics of the kernel's net/core/filter.c, for the opcodes the program may use)
# against frames scapy builds: ssdk's address and port, ARP and ICMP for it only when the
# kernel does not hold the address, and nothing else.
from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from ssdk.core.runtime.sockfilter import ACCEPT_ALL, Insn, pack, share_filter

SSDK_IP, OTHER_IP, CLIENT = "198.18.0.2", "198.18.0.3", "198.18.0.1"
SO_ATTACH_FILTER = 26  # asm-generic/socket.h; Python's socket module does not name it


class Reject(Exception):
    """A load past the frame's end: the kernel's filter returns 0 (drop)."""


def run(prog: list[Insn], frame: bytes) -> int:
    """What the kernel's classic BPF returns for ``frame``: bytes to keep, 0 to drop."""
    a = x = 0
    pc = 0

    def load(off: int, size: int) -> int:
        if off < 0 or off + size > len(frame):
            raise Reject
        return int.from_bytes(frame[off : off + size], "big")

    try:
        while True:
            i = prog[pc]
            pc += 1
            cls, size, mode = i.code & 0x07, i.code & 0x18, i.code & 0xE0
            width = {0x00: 4, 0x08: 2, 0x10: 1}[size]
            if cls == 0x00:  # BPF_LD
                a = load(i.k, width) if mode == 0x20 else load(x + i.k, width)
                assert mode in (0x20, 0x40), hex(i.code)
            elif cls == 0x01:  # BPF_LDX: only the IP header length (BPF_MSH)
                assert i.code == 0xB1, hex(i.code)
                x = 4 * (load(i.k, 1) & 0x0F)
            elif cls == 0x05:  # BPF_JMP, with a constant
                op = i.code & 0xF0
                assert i.code & 0x08 == 0, hex(i.code)
                taken = {0x10: a == i.k, 0x40: bool(a & i.k)}[op]
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


@pytest.mark.parametrize(("what", "frame", "alone", "shared"), FRAMES,
                         ids=[f[0] for f in FRAMES])  # fmt: skip
def test_the_filter_takes_ssdks_frames_only(
    what: str, frame: bytes, alone: bool, shared: bool
) -> None:
    for arp_icmp, want in ((True, alone), (False, shared)):
        got = run(share_filter(SSDK_IP, (80,), arp_icmp), frame)
        assert got == (ACCEPT_ALL if want else 0), (what, arp_icmp)


def test_several_ports() -> None:
    prog = share_filter(SSDK_IP, (80, 8080), False)
    assert run(prog, tcp(SSDK_IP, 8080)) == ACCEPT_ALL
    assert run(prog, tcp(SSDK_IP, 81)) == 0


def test_every_jump_lands_inside_and_the_program_ends_in_returns() -> None:
    for ports in ((80,), tuple(range(1000, 1200))):
        prog = share_filter(SSDK_IP, ports, True)
        for n, i in enumerate(prog):
            if i.code & 0x07 == 0x05:
                assert n + 1 + max(i.jt, i.jf) < len(prog)
        assert [i.code for i in prog[-2:]] == [0x06, 0x06]
    with pytest.raises(ValueError):
        share_filter(SSDK_IP, tuple(range(201)), True)


def test_packed_as_struct_sock_filter() -> None:
    prog = share_filter(SSDK_IP, (80,), True)
    raw = pack(prog)
    assert len(raw) == 8 * len(prog)
    assert struct.unpack_from("=HBBI", raw, 0) == (0x28, 0, 0, 12)  # ldh [12]


def test_the_kernel_accepts_the_program() -> None:
    # The kernel checks a classic program when it is attached (sk_chk_filter: known
    # opcodes, jumps inside, a return at the end), on any socket and without privilege.
    import ctypes
    import socket

    for arp_icmp in (True, False):
        raw = pack(share_filter(SSDK_IP, (80, 443), arp_icmp))
        buf = ctypes.create_string_buffer(raw, len(raw))
        fprog = struct.pack("@HP", len(raw) // 8, ctypes.addressof(buf))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    bad = pack(share_filter(SSDK_IP, (80,), True)[:-2])  # no return at the end
    buf = ctypes.create_string_buffer(bad, len(bad))
    fprog = struct.pack("@HP", len(bad) // 8, ctypes.addressof(buf))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
