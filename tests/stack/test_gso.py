# tests/stack/test_gso.py: the C that handles what a local kernel leaves unfinished
# (gso.c, gso.h), checked against scapy, an independent implementation:
# - ssdk_gso_split cuts a TCP super-frame as the kernel's tcp_gso_segment would (RFC
#   9293 3.7.1: at most one MSS a segment; RFC 791: total length, id, header checksum;
#   RFC 3168 6.1.2: CWR on the first segment only; FIN and PSH on the last only);
# - ssdk_tcp_csum_partial recognises the partial checksum a CHECKSUM_PARTIAL sender
#   leaves (the folded pseudo-header sum), and nothing else;
# - the in-memory backend is a wire (it marks no frame FRAME_CSUM_LOCAL_LINK), so the
#   stack still drops a segment that carries only the partial sum (drop_tcp_csum).
from __future__ import annotations

import random
import socket

import pytest
from harness import (
    CLIENT_IP,
    CLIENT_IP6,
    CLIENT_MAC,
    SERVER_IP,
    SERVER_IP6,
    SERVER_MAC,
    Peer,
    Stack,
)
from scapy.compat import raw
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from ssdk.core.runtime.engine import ffi, lib

STRIDE = 2000  # NIC_FRAME_MAX: what one segment may take
SEG_MAX = 256  # GSO_SEG_MAX


def super_frame(payload: bytes, flags: str = "PA", ip_id: int = 7, seq: int = 1000,
                options: list | None = None) -> Ether:  # fmt: skip
    return (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP, id=ip_id, flags="DF")
        / TCP(sport=40000, dport=80, seq=seq, ack=5, flags=flags, window=500,
              options=options or [])  # fmt: skip
        / Raw(payload)
    )


def partial_sum(pkt: Ether) -> int:
    """What a CHECKSUM_PARTIAL sender writes: the folded pseudo-header sum (RFC 1071
    arithmetic, computed here from the addresses, not with the C under test)."""
    ip = pkt[IP]
    words = [int.from_bytes(bytes(map(int, a.split("."))), "big") for a in (ip.src, ip.dst)]
    tcp_len = len(raw(pkt[TCP]))
    s = (words[0] >> 16) + (words[0] & 0xFFFF) + (words[1] >> 16) + (words[1] & 0xFFFF)
    s += 6 + tcp_len
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def with_csum(pkt: Ether, csum: int) -> bytes:
    p = pkt.copy()
    p[TCP].chksum = csum
    return raw(p)


def split(frame: bytes, seg_payload: int, vouched: bool, max_segs: int = SEG_MAX):
    out = ffi.new("uint8_t[]", STRIDE * max_segs)
    lens = ffi.new("uint32_t[]", max_segs)
    n = lib.ssdk_gso_split(frame, len(frame), seg_payload, int(vouched), out, STRIDE,
                           max_segs, lens)  # fmt: skip
    return [bytes(ffi.buffer(out + i * STRIDE, lens[i])) for i in range(max(n, 0))], n


def verifies(frame: bytes) -> bool:
    """scapy's own checksums of the segment equal the ones it carries."""
    pkt = Ether(frame)
    fresh = Ether(frame)
    del fresh[IP].chksum, fresh[TCP].chksum
    fresh = Ether(raw(fresh))
    return pkt[IP].chksum == fresh[IP].chksum and pkt[TCP].chksum == fresh[TCP].chksum


@pytest.mark.parametrize("size,mss", [(64 * 1024 - 100, 1448), (4000, 1448), (1448, 1448),
                                      (3001, 1000), (5, 1448), (20000, 537)])  # fmt: skip
def test_split_follows_tcp_gso_segment(size: int, mss: int) -> None:
    payload = random.Random(size).randbytes(size)
    opts = [("NOP", None), ("NOP", None), ("Timestamp", (11, 22))]
    sf = super_frame(payload, flags="FPAC", options=opts)  # C: CWR
    segs, n = split(with_csum(sf, partial_sum(sf)), mss, vouched=True)
    assert n == -(-size // mss) == len(segs)
    got = b""
    for i, frame in enumerate(segs):
        pkt = Ether(frame)
        assert verifies(frame), f"segment {i}: checksums"
        body = bytes(pkt[TCP].payload)
        assert len(body) == (mss if i < n - 1 else size - mss * (n - 1))
        assert pkt[IP].len == 20 + 32 + len(body) and pkt[IP].id == 7 + i
        assert pkt[IP].flags == "DF" and pkt[TCP].options == sf[TCP].options
        assert pkt[TCP].seq == 1000 + len(got) and pkt[TCP].ack == 5
        flags = str(pkt[TCP].flags)
        assert ("C" in flags) == (i == 0), f"CWR only on the first: {i} {flags}"
        assert ("F" in flags and "P" in flags) == (i == n - 1), f"FIN, PSH last: {i} {flags}"
        assert "A" in flags
        got += body
    assert got == payload


def test_unvouched_super_frame_keeps_a_bad_checksum() -> None:
    """Bytes nobody vouched for get no fresh checksum: a good full checksum is checked
    over the whole super-frame and then renewed per segment; a bad one is kept, so the
    stack drops every segment as it would have dropped the super-frame."""
    sf = super_frame(random.Random(1).randbytes(5000))
    good = raw(sf)  # scapy fills in the full checksum
    segs, n = split(good, 1448, vouched=False)
    assert n == 4 and all(verifies(f) for f in segs)
    bad = with_csum(sf, (sf.__class__(good)[TCP].chksum + 1) & 0xFFFF)
    segs, n = split(bad, 1448, vouched=False)
    assert n == 4 and not any(verifies(f) for f in segs)


def test_more_segments_than_room_grow_the_segment() -> None:
    payload = bytes(10000)
    segs, n = split(raw(super_frame(payload)), 100, vouched=True, max_segs=8)
    assert n == 8 and b"".join(bytes(Ether(f)[TCP].payload) for f in segs) == payload
    assert max(len(f) for f in segs) <= STRIDE


@pytest.mark.parametrize("frame", [
    raw(Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT_IP, dst=SERVER_IP) / Raw(b"x" * 60)),
    raw(super_frame(b"y" * 100))[:80],  # IP total length beyond the bytes present
    raw(Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT_IP, dst=SERVER_IP, flags="MF")
        / TCP() / Raw(b"z" * 100)),  # a fragment
])  # fmt: skip
def test_split_refuses_what_is_no_whole_tcp_frame(frame: bytes) -> None:
    assert split(frame, 1448, vouched=True)[1] == -1


def test_partial_checksum_is_recognised_and_nothing_else() -> None:
    rng = random.Random(3)
    for size in (0, 1, 100, 1448):
        pkt = super_frame(rng.randbytes(size), flags="S" if size == 0 else "PA", seq=size)
        assert lib.ssdk_tcp_csum_partial(with_csum(pkt, partial_sum(pkt)), len(raw(pkt))) == 1
        full = raw(pkt)
        assert lib.ssdk_tcp_csum_partial(full, len(full)) == (
            Ether(full)[TCP].chksum == partial_sum(pkt))
        off = with_csum(pkt, partial_sum(pkt) ^ 0x0100)
        assert lib.ssdk_tcp_csum_partial(off, len(off)) == 0
    udp = raw(Ether() / IP(proto=17) / Raw(b"u" * 40))
    assert lib.ssdk_tcp_csum_partial(udp, len(udp)) == -1


def test_a_wire_backend_drops_a_partial_checksum(stack: Stack, peer: Peer) -> None:
    """The in-memory backend marks nothing FRAME_CSUM_LOCAL_LINK: on a wire, the partial
    pattern is damage like any other wrong sum (only virtual links may take it)."""
    syn = peer.frame("S", options=[("MSS", 1460)])
    assert stack.send(with_csum(syn, partial_sum(syn))) == []
    st = stack.stats()
    assert st["drop_tcp_csum"] == 1 and st["csum_partial_local"] == 0
    assert len(stack.send(syn)) == 1  # the same SYN with its full checksum is answered


def super_frame6(payload: bytes, flags: str = "PA", seq: int = 1000) -> Ether:
    return (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IPv6(src=CLIENT_IP6, dst=SERVER_IP6, fl=12345)
        / TCP(sport=40000, dport=80, seq=seq, ack=5, flags=flags, window=500)
        / Raw(payload)
    )


def partial_sum6(pkt: Ether) -> int:
    """A CHECKSUM_PARTIAL sender's field over IPv6 (RFC 8200 8.1's pseudo-header: both
    addresses, the 32-bit upper-layer length, next header 6), folded, from scapy's
    addresses rather than the C under test."""
    words = b"".join(socket.inet_pton(socket.AF_INET6, a) for a in (pkt[IPv6].src, pkt[IPv6].dst))
    s = sum(int.from_bytes(words[i : i + 2], "big") for i in range(0, 32, 2))
    tcp_len = len(raw(pkt[TCP]))
    s += (tcp_len >> 16) + (tcp_len & 0xFFFF) + 6
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


@pytest.mark.parametrize("size,mss", [(64 * 1024 - 100, 1428), (3001, 1000), (5, 1428)])
def test_ipv6_split_follows_tcp_gso_segment(size: int, mss: int) -> None:
    """The kernel's tcp6_gso_segment: as for IPv4, with each piece's payload length its
    own (RFC 8200 3; no id, no header checksum) and the TCP checksum over IPv6's
    pseudo-header. A veth with TSO hands a packet socket such super-frames (gso_type
    TCPV6) when a kernel client sends a large body over IPv6."""
    payload = random.Random(size).randbytes(size)
    sf = super_frame6(payload, flags="FPA")
    segs, n = split(with_csum(sf, partial_sum6(sf)), mss, vouched=True)
    assert n == -(-size // mss) == len(segs)
    got = b""
    for i, frame in enumerate(segs):
        pkt = Ether(frame)
        fresh = Ether(frame)
        del fresh[TCP].chksum
        assert pkt[TCP].chksum == Ether(raw(fresh))[TCP].chksum, f"segment {i}: checksum"
        body = bytes(pkt[TCP].payload)
        assert len(body) == (mss if i < n - 1 else size - mss * (n - 1))
        assert pkt[IPv6].plen == 20 + len(body) and pkt[IPv6].fl == 12345
        assert pkt[TCP].seq == 1000 + len(got)
        assert ("F" in str(pkt[TCP].flags)) == (i == n - 1)
        got += body
    assert got == payload


def test_ipv6_partial_checksum_recognised() -> None:
    """ssdk_tcp_csum_partial over IPv6: the folded pseudo-header sum is recognised as
    partial, a full checksum is not."""
    sf = super_frame6(b"x" * 100)
    assert lib.ssdk_tcp_csum_partial(with_csum(sf, partial_sum6(sf)), len(raw(sf))) == 1
    assert lib.ssdk_tcp_csum_partial(raw(sf), len(raw(sf))) == 0
