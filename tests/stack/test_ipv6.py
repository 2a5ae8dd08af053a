# tests/stack/test_ipv6.py: TCP over IPv6 (RFC 8200 8.1: the pseudo-header; RFC 9293
# unchanged above it) on a dual-stack engine: the handshake and GETs byte for byte,
# IPv4 and IPv6 connections at once, SYN cookies and RFC 5961 over IPv6, and path MTU
# discovery (RFC 8201: Packet Too Big checked against a live connection, honoured by
# lowering its MSS, floor 1220). Frames are built and every checksum is verified by
# scapy's IPv6 layers (harness.check_frame6), independently of ssdk.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import (
    CLIENT_IP,
    CLIENT_IP6,
    CLIENT_MAC,
    SERVER_IP6,
    SERVER_MAC,
    Peer,
    Seg,
    Site,
    Stack,
    get,
)
from scapy.layers.inet import TCP
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, raw

import ssdk
from ssdk.core.buildtime.build import build

DUAL = ("198.18.0.2/15", "2001:2::2/64")
V6_MSS = 1440  # what a peer on a 1500-byte link announces over IPv6 (1500 - 40 - 20)
PATHS = ["/", "/c", "/files/mid.bin", "/files/big.bin", "/files/huge.bin"]


def dual(make_stack: Callable[..., Stack], **config: object) -> Stack:
    """A dual-stack engine; the MLD report it sends at start is taken (test_ipv6_link)."""
    stack = make_stack(addrs=DUAL, **config)
    stack.engine.poll()
    assert len(stack.take()) == 1
    return stack


def peer6(stack: Stack, **kw: object) -> Peer:
    return Peer(stack, ip=CLIENT_IP6, **kw)  # type: ignore[arg-type]


def data_of(segs: list[Seg]) -> list[Seg]:
    return [s for s in segs if s.payload]


def test_handshake_over_ipv6(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.5 over IPv6: the SYN-ACK goes from our IPv6 address to the peer's
    source MAC; its MSS option is rx_mss less the 20 bytes IPv6's header adds
    (RFC 8200 8.3: 1460 on IPv4 is 1440 on IPv6); the harness verified the checksum
    over the IPv6 pseudo-header (RFC 8200 8.1)."""
    stack = dual(make_stack)
    peer = peer6(stack)
    synack = peer.connect(mss=V6_MSS)
    ip = synack.pkt[IPv6]
    assert (ip.src, ip.dst, ip.nh) == (SERVER_IP6, CLIENT_IP6, 6)
    assert (synack.pkt.src, synack.pkt.dst) == (SERVER_MAC, CLIENT_MAC)
    assert synack.option("MSS") == 1440
    assert stack.stats()["conns_opened"] == 1


@pytest.mark.parametrize("path", PATHS)
def test_get_over_ipv6_is_byte_exact(
    make_stack: Callable[..., Stack], site: Site, path: str
) -> None:
    """RFC 9112 6.3 over IPv6: the response is byte for byte what IPv4 gets, from one
    segment to many (the templates' payload sums serve both versions: only the
    pseudo-header differs), each segment at most the MSS the peer announced (RFC 9293
    3.7.1), one after another without gap."""
    stack = dual(make_stack)
    peer = peer6(stack)
    peer.connect(mss=V6_MSS)
    resp, segs = peer.fetch(get(path))
    assert resp.raw == site.expect(path)
    data = data_of(segs)
    assert all(len(s.payload) <= V6_MSS for s in data)
    at = 1
    for s in data:
        assert peer.rseq(s) == at
        at += len(s.payload)


@pytest.fixture(scope="module")
def blob_1428(site: Site) -> bytes:
    """The test site's pages cut at 1428 bytes: 1500 - 40 - 20 - 12, IPv6's MSS with
    timestamps on a 1500-byte link (what serve picks with an IPv6 address, docs/ipv6.md)."""
    app = ssdk.App()
    app.page("/")(lambda: ssdk.html("<h1>hello</h1>"))
    app.static("/files", _files_of(site))
    return build(app, mss=1428)[1]


def _files_of(site: Site) -> str:
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="v6files"))
    for path, (_, body) in site.bodies.items():
        if path.startswith("/files/") and len(body) < 200_000:
            (folder / path.removeprefix("/files/")).write_bytes(body)
    return str(folder)


def test_ipv6_keeps_precomputed_sums_at_its_template_mss(blob_1428: bytes, site: Site) -> None:
    """Templates cut at IPv6's MSS (1428 with timestamps) serve an IPv6 peer on a
    1500-byte link from their precomputed sums: every segment is one template segment,
    and no payload byte is summed as it is copied (tx_summed_bytes)."""
    stack = Stack(blob_1428, addrs=DUAL)
    try:
        stack.engine.poll()
        stack.take()
        peer = peer6(stack, ts=True)
        peer.connect(mss=V6_MSS)  # 1440 less the 12-byte timestamp option: 1428
        resp, segs = peer.fetch(get("/files/big.bin"))
        assert resp.body == site.bodies["/files/big.bin"][1]
        sizes = [len(s.payload) for s in data_of(segs)]
        assert sizes[:-1] == [1428] * (len(sizes) - 1)
        assert stack.stats()["tx_summed_bytes"] == 0
    finally:
        stack.close()


def test_ipv4_and_ipv6_connections_on_one_engine(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """Dual stack: an IPv4 and an IPv6 connection from the same port at once, requests
    interleaved; each is its own connection (the key is the 16-byte peer address and
    our address's index) and gets its own bytes."""
    stack = dual(make_stack)
    v4 = Peer(stack, ip=CLIENT_IP, sport=40000)
    v6 = peer6(stack, sport=40000)
    v4.connect()
    v6.connect(mss=V6_MSS)
    assert stack.stats()["conns_active"] == 2
    v4.request(get("/files/mid.bin"))
    v6.request(get("/files/big.bin"))
    v4.drain()
    v6.drain()
    assert v4.responses()[0].raw == site.expect("/files/mid.bin")
    assert v6.responses()[0].raw == site.expect("/files/big.bin")
    assert stack.stats()["conns_active"] == 2


def test_syn_cookie_over_ipv6(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 4987 3.6 over IPv6: with the backlog full a SYN gets a cookie; the ACK that
    returns it makes the connection. The cookie's hash covers the 16-byte address: the
    same ACK from another IPv6 address is no cookie of ours and is reset."""
    stack = dual(make_stack, syn_backlog=1)
    assert [s.flags for s in peer6(stack, sport=30000).syn(mss=V6_MSS)] == ["SA"]
    peer = peer6(stack, sport=40001)
    assert [s.flags for s in peer.syn(mss=V6_MSS)] == ["SA"]
    assert stack.stats()["syncookies_sent"] == 1
    forger = Peer(stack, ip="2001:2::99", sport=40001, iss=peer.iss)
    forger.snd_nxt = peer.snd_nxt
    out = forger.send("A", ack=peer.rcv_nxt)
    assert [s.flags for s in out] == ["R"]
    assert stack.stats()["syncookies_failed"] == 1
    peer.request(get("/a"))
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    st = stack.stats()
    assert (st["syncookies_ok"], st["conns_opened"]) == (1, 1)


def test_rfc5961_over_ipv6(make_stack: Callable[..., Stack]) -> None:
    """RFC 5961 3.2 and 4.2 over IPv6: a RST in the window but not at RCV.NXT, and a
    SYN on an established connection, each get a challenge ACK <SEQ=SND.NXT>
    <ACK=RCV.NXT>; the connection stays until an exact RST."""
    stack = dual(make_stack)
    peer = peer6(stack)
    peer.connect(mss=V6_MSS)
    challenge = [("A", peer.rcv_nxt, peer.snd_nxt)]
    out = peer.send("R", seq=peer.snd_nxt + 100)
    assert [(s.flags, s.seq, s.ack) for s in out] == challenge
    out = peer.send("S", seq=peer.snd_nxt + 5)
    assert [(s.flags, s.seq, s.ack) for s in out] == challenge
    assert stack.stats()["challenge_acks"] == 2
    assert stack.stats()["conns_active"] == 1
    peer.send("R", seq=peer.snd_nxt)
    assert stack.stats()["conns_active"] == 0


# --- Packet Too Big (RFC 8201) ----------------------------------------------------------


def too_big(
    seg: Seg, mtu: int, seq: int | None = None, sport: int | None = None, dst: str | None = None
) -> Packet:
    """A router's Packet Too Big (RFC 4443 3.2) quoting the segment we sent (or it
    changed: seq, sport, dst), as much of it as fits 1280 bytes."""
    quoted = seg.pkt[IPv6].copy()
    if seq is not None:
        quoted[TCP].seq = seq
    if sport is not None:
        quoted[TCP].sport = sport
    if dst is not None:
        quoted.dst = dst
    body = raw(quoted)[: 1280 - 48]
    return (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IPv6(src="2001:2::fe", dst=SERVER_IP6)
        / ICMPv6PacketTooBig(mtu=mtu)
        / body
    )


def first_flight(peer: Peer, path: str = "/files/big.bin") -> list[Seg]:
    """The response's first window, every segment of it lost on the way."""
    peer.lose = lambda seg: True
    segs = data_of(peer.request(get(path)))
    assert segs and all(s.lost for s in segs)
    return segs


def test_packet_too_big_lowers_the_mss_and_resends(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 8201 4-5: a Packet Too Big whose quoted segment is in flight on a live
    connection lowers that connection's MSS to the MTU less 60 bytes of headers; the
    refused segment goes again at once at the new size, and every segment after it
    keeps to it, to the end of the response (byte for byte)."""
    stack = dual(make_stack)
    peer = peer6(stack)
    peer.connect(mss=V6_MSS)
    lost = first_flight(peer)
    assert len(lost[0].payload) == 1440
    peer.lose = lambda seg: len(seg.payload) > 1300 - 60  # the path's MTU is 1300
    out = peer.collect(stack.send(too_big(lost[0], 1300)))
    assert [(peer.rseq(s), len(s.payload)) for s in out] == [(1, 1240)]
    assert stack.stats()["ptb_mss_lowered"] == 1
    segs: list[Seg] = []
    expected = site.expect("/files/big.bin")
    for _ in range(60):
        segs += peer.drain()
        if len(peer.stream) >= len(expected):
            break
        segs += peer.advance(1000)
    assert peer.responses()[0].raw == expected
    assert all(len(s.payload) <= 1240 for s in segs) and not any(s.lost for s in segs)


def test_packet_too_big_floor_is_1220(make_stack: Callable[..., Stack]) -> None:
    """RFC 8201 4: an MTU below IPv6's minimum of 1280 is taken as 1280 (we never
    fragment instead), so the MSS goes no lower than 1220; with timestamps (RFC 7323)
    the payload is 12 bytes less."""
    stack = dual(make_stack)
    plain = peer6(stack, sport=40001)
    plain.connect(mss=V6_MSS)
    out = plain.collect(stack.send(too_big(first_flight(plain)[0], 600)))
    assert [len(s.payload) for s in out] == [1220]
    stamped = peer6(stack, sport=40002, ts=True)
    stamped.connect(mss=V6_MSS)
    out = stamped.collect(stack.send(too_big(first_flight(stamped)[0], 1000)))
    assert [len(s.payload) for s in out] == [1208]
    assert stack.stats()["ptb_mss_lowered"] == 2


@pytest.mark.parametrize("forge", ["seq_behind", "seq_ahead", "port", "no_connection"])
def test_forged_packet_too_big_is_ignored(make_stack: Callable[..., Stack], forge: str) -> None:
    """RFC 8201 5.2 (RFC 5927 4.1): a Packet Too Big is believed only if the TCP header
    it quotes is a live connection's with a sequence number in [SND.UNA, SND.MAX); else
    it is counted and dropped, and the connection's segments stay at their size."""
    stack = dual(make_stack)
    peer = peer6(stack)
    peer.connect(mss=V6_MSS)
    lost = first_flight(peer)
    base = lost[0].seq
    seq = {"seq_behind": base - 1, "seq_ahead": lost[-1].seq + len(lost[-1].payload) + 1}
    other = "2001:2::77" if forge == "no_connection" else None
    ptb = too_big(lost[0], 1280, seq.get(forge), 81 if forge == "port" else None, other)
    assert stack.send(ptb) == []
    assert (stack.stats()["drop_ptb"], stack.stats()["ptb_mss_lowered"]) == (1, 0)
    peer.lose = None
    segs = peer.advance(1500)  # the RTO resends at the MSS the connection still has
    assert data_of(segs) and len(data_of(segs)[0].payload) == 1440


def test_time_wait_over_ipv6(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.10.7.4 over IPv6: after a closing response and the peer's FIN, the
    connection waits in the TIME-WAIT table (keyed by the 16-byte address); the peer's
    FIN again is acknowledged from there, to the peer's IPv6 address."""
    stack = dual(make_stack)
    peer = peer6(stack)
    peer.connect(mss=V6_MSS)
    peer.request(get("/a", headers=["Connection: close"]))
    peer.send("A")
    fin_seq = peer.snd_nxt
    assert [s.flags for s in peer.send("FA")] == ["A"]
    assert stack.stats()["conns_time_wait"] == 1
    again = peer.send("FA", seq=fin_seq)
    assert [(s.flags, s.pkt[IPv6].dst) for s in again] == [("A", CLIENT_IP6)]
    assert peer.rack(again[0]) == peer.sent


def test_per_address_limit_over_ipv6(make_stack: Callable[..., Stack]) -> None:
    """max_conns_per_ip counts by the 16-byte address: a second connection from one
    IPv6 address is refused with a RST, another IPv6 address and an IPv4 peer are not."""
    stack = dual(make_stack, max_conns_per_ip=1)
    peer6(stack, sport=46001).connect(mss=V6_MSS)
    refused = peer6(stack, sport=46002).syn(mss=V6_MSS)
    assert [s.flags for s in refused] == ["RA"]
    Peer(stack, ip="2001:2::7", sport=46003).connect(mss=V6_MSS)
    Peer(stack, ip=CLIENT_IP, sport=46004).connect()
    st = stack.stats()
    assert (st["syn_refused_per_ip"], st["conns_active"]) == (1, 3)
