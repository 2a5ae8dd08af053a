# tests/stack/test_gso_send.py: super-frames the stack sends where the backend offers
# segmentation offload (nic.h; the in-memory backend made to offer it, each frame taken
# with the virtio_net_hdr a TAP with IFF_VNET_HDR would read). Each super-frame is cut in
# the harness as the kernel cuts one (cut_super_frame, written from tcp_gso_segment's
# rules), and every piece is checked by scapy like any frame, so:
# - the virtio_net_hdr says TCPV4, gso_size = the connection's MSS, hdr_len = the
#   headers, NEEDS_CSUM with csum_start / csum_offset at the TCP checksum;
# - the TCP checksum field holds the folded pseudo-header sum (computed here from the
#   addresses with RFC 1071 arithmetic), and the pieces' checksums then verify;
# - the pieces' payload is the response's bytes, PSH only where the stream ends,
#   timestamps on every piece;
# - chunks follow the pacing rate (about 1 ms of data, at least two segments), the
#   window and the stream's end; a lost piece is sent again alone with the same bytes;
# - an impairment wrapper offers no offload, and the stack sends segment by segment.
from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from harness import (
    MOD,
    TEMPLATE_MSS,
    UNPACED,
    VNET_F_NEEDS_CSUM,
    VNET_GSO_TCPV4,
    Peer,
    Site,
    Stack,
    SuperFrame,
    get,
    ones_sum,
)
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

GSO_MAX = 14 + 65535  # NIC_GSO_MAX: an IPv4 packet of 64 KiB and its Ethernet header
TS_MSS = 1460 - 12  # the peer's MSS less the timestamp option (RFC 6691)


@pytest.fixture
def gstack(site: Site) -> Iterator[Stack]:
    s = Stack(site.blob, gso_max=GSO_MAX)
    yield s
    s.close()




def pieces(sf: SuperFrame) -> int:
    ip_len = struct.unpack_from("!H", sf.frame, 16)[0]
    payload = 14 + ip_len - sf.hdr_len
    return -(-payload // sf.gso_size)


def payload_len(sf: SuperFrame) -> int:
    return 14 + struct.unpack_from("!H", sf.frame, 16)[0] - sf.hdr_len


def pseudo_sum(pkt: Ether) -> int:
    """The folded pseudo-header sum of the whole TCP segment (RFC 9293 3.1)."""
    ip = pkt[IP]
    addrs = b"".join(bytes(map(int, a.split("."))) for a in (ip.src, ip.dst))
    return ones_sum(addrs + struct.pack("!HH", 6, ip.len - ip.ihl * 4))


def test_super_frame_header_and_partial_checksum(gstack: Stack, site: Site) -> None:
    """The first flight of a large response is one super-frame of the initial window (10
    segments, RFC 6928): its virtio_net_hdr, its headers, its partial checksum; cut, the
    pieces carry the response's first bytes with their timestamps."""
    peer = Peer(gstack, ts=True)
    peer.connect()
    segs = peer.request(get("/files/huge.bin"))
    assert len(gstack.super_frames) == 1
    sf = gstack.super_frames[0]
    assert (sf.flags, sf.gso_type) == (VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4)
    assert sf.gso_size == TS_MSS
    assert (sf.hdr_len, sf.csum_start, sf.csum_offset) == (14 + 20 + 32, 14 + 20, 16)
    pkt = Ether(sf.frame)
    assert pkt[IP].len == len(sf.frame) - 14 == 20 + 32 + 10 * TS_MSS
    assert str(pkt[IP].flags) == "DF"
    assert pkt[TCP].chksum == pseudo_sum(pkt), "not the folded pseudo-header sum"
    assert pkt[TCP].flags == "A", "PSH on a super-frame that does not end the stream"
    data = [s for s in segs if s.payload]
    assert [len(s.payload) for s in data] == [TS_MSS] * 10
    assert all(s.ts is not None and s.ts == data[0].ts for s in data)
    assert bytes(peer.stream) == site.expect("/files/huge.bin")[: 10 * TS_MSS]


def test_whole_download_and_counters(gstack: Stack, site: Site) -> None:
    """A 100 kB response comes whole; every super-frame is whole segments but the one that
    ends the stream, which alone carries PSH; the counters count frames and pieces."""
    peer = Peer(gstack)
    peer.connect()
    peer.request(get("/files/huge.bin"))
    peer.drain()
    expected = site.expect("/files/huge.bin")
    assert bytes(peer.stream) == expected
    sfs = gstack.super_frames
    assert len(sfs) >= 2
    end = (peer.irs + 1 + len(expected)) % MOD
    for sf in sfs:
        pkt = Ether(sf.frame)
        ends_stream = (pkt[TCP].seq + payload_len(sf)) % MOD == end
        assert ("P" in str(pkt[TCP].flags)) == ends_stream
        assert ends_stream or payload_len(sf) % sf.gso_size == 0
        assert sf.gso_size == TEMPLATE_MSS
    st = gstack.stats()
    assert st["tx_gso_frames"] == len(sfs)
    assert st["tx_gso_segs"] == sum(pieces(sf) for sf in sfs)
    assert st["retransmits"] == 0


def test_short_response_and_one_segment(gstack: Stack, site: Site) -> None:
    """A response of four segments goes as one super-frame whose last piece is short and
    carries PSH; a response of one segment goes as a plain frame."""
    peer = Peer(gstack)
    peer.connect()
    segs = peer.request(get("/files/mid.bin"))
    assert len(gstack.super_frames) == 1
    data = [s for s in segs if s.payload]
    assert len(data) == 4
    assert [s.has("P") for s in data] == [False, False, False, True]
    assert bytes(peer.stream) == site.expect("/files/mid.bin")
    segs = peer.request(get("/a"))
    assert len(gstack.super_frames) == 1, "one segment needs no super-frame"
    assert peer.responses(2)[1].raw == site.expect("/a")


def test_pipelined_responses_share_a_super_frame(gstack: Stack, site: Site) -> None:
    """Responses queued back to back are copied into one super-frame, each with its own
    Date written over its template's placeholder."""
    paths = ["/c", "/files/mid.bin", "/b"]
    peer = Peer(gstack)
    peer.connect()
    peer.request(b"".join(get(p) for p in paths))
    peer.drain()
    assert len(gstack.super_frames) == 1
    assert [r.raw for r in peer.responses(3)] == [site.expect(p) for p in paths]


def test_chunk_follows_the_pacing_rate(site: Site) -> None:
    """After an RTT of 100 ms in slow start the rate is 2 x cwnd / 0.1 s: for a cwnd of
    10 to 20 segments 290 to 579 bytes a millisecond, below two segments, so each
    super-frame carries two (Linux's minimum TSO burst). The window lets out as many
    segments as it does without offload (both unpaced here, so that one ACK's worth
    goes at once: test_pacing.py times the rest)."""

    def second_flight(s: Stack) -> int:
        peer = Peer(s)
        peer.connect()
        peer.request(get("/files/huge.bin"))
        peer.advance(100)
        return sum(1 for seg in peer.ack() if seg.payload)

    plain = Stack(site.blob, options=UNPACED)
    unpaced = Stack(site.blob, gso_max=GSO_MAX, options=UNPACED)
    try:
        want = second_flight(plain)
        got = second_flight(unpaced)
    finally:
        plain.close()
        unpaced.close()
    gstack = unpaced
    assert [pieces(sf) for sf in gstack.super_frames[:1]] == [10]
    later = gstack.super_frames[1:]
    assert later and all(pieces(sf) == 2 for sf in later[:-1])
    assert got == want >= 4


def test_peer_window_bounds_a_super_frame(gstack: Stack, site: Site) -> None:
    """A window of 5000 bytes lets three whole segments go in one super-frame, not a
    fourth partial one (RFC 9293 3.8.6.2.1)."""
    peer = Peer(gstack, window=5000)
    peer.connect()
    segs = peer.request(get("/files/huge.bin"))
    assert [len(s.payload) for s in segs if s.payload] == [TEMPLATE_MSS] * 3
    assert [pieces(sf) for sf in gstack.super_frames] == [3]


def test_lost_piece_is_sent_again_from_the_template(gstack: Stack, site: Site) -> None:
    """The fourth piece of the first super-frame is lost: it is sent again alone, one
    MSS, with the bytes it had (the peer checks every resent byte against what it
    holds), and the download completes."""
    peer = Peer(gstack, sack=True)
    peer.connect()
    peer.lose_segno(3)
    peer.request(get("/files/huge.bin"))
    assert len(peer.lost) == 1
    lost = peer.lost[0]
    expected = site.expect("/files/huge.bin")
    out = peer.drain()
    again = [s for s in out if s.seq == lost.seq and s.payload]
    if not again:
        again = peer.advance_until(lambda s: bool(s.payload) and s.seq == lost.seq)[-1:]
        peer.drain()
    off = peer.offset(again[0])
    assert again[0].payload == expected[off : off + TEMPLATE_MSS] == lost.payload
    assert bytes(peer.stream) == expected
    assert gstack.stats()["retransmits"] >= 1


def test_impairment_wrapper_offers_no_offload(site: Site) -> None:
    """Under the impairment layer the stack sends segment by segment (the wrapper works
    frame by frame), though the backend below could take super-frames."""
    s = Stack(site.blob, gso_max=GSO_MAX)
    try:
        assert s.engine.gso_max == GSO_MAX
        s.engine.impair(None, None, 1)
        assert s.engine.gso_max == 0
        peer = Peer(s)
        peer.connect()
        peer.request(get("/files/huge.bin"))
        peer.drain()
        assert bytes(peer.stream) == site.expect("/files/huge.bin")
        assert s.super_frames == [] and s.stats()["tx_gso_frames"] == 0
    finally:
        s.close()
