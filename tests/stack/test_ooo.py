# tests/stack/test_ooo.py: request bytes that arrive beyond a gap. The stack holds them
# at their place in the request buffer (RFC 9293 3.10.7.4: segments with higher
# sequence numbers may be held for later processing), reports them in SACK blocks on
# its duplicate ACKs when SACK is in use (RFC 2018 4), and takes them in once the gap
# fills, so the peer never has to send them again.
#
# The peer sends pieces of a request at chosen offsets (send_at) and only then moves its
# SND.NXT past all of them.
from __future__ import annotations

from harness import MOD, RX_WINDOW, Peer, Seg, Site, Stack, get

PAD = [f"X-Pad: {'p' * 40}"]  # lengthens the request so it splits into several pieces


def send_at(peer: Peer, offset: int, data: bytes, **kw: object) -> list[Seg]:
    """Request bytes at `offset` of our stream, without moving SND.NXT."""
    return peer.send("PA", data, seq=(peer.iss + 1 + offset) % MOD, **kw)  # type: ignore[arg-type]


def pieces(data: bytes, n: int) -> list[tuple[int, bytes]]:
    """data cut into n pieces, with their offsets."""
    size = -(-len(data) // n)
    return [(at, data[at : at + size]) for at in range(0, len(data), size)]


def block(peer: Peer, start: int, end: int) -> tuple[int, int]:
    """A SACK block for our stream offsets [start, end)."""
    return ((peer.iss + 1 + start) % MOD, (peer.iss + 1 + end) % MOD)


def test_bytes_beyond_a_gap_are_held_and_sacked(stack: Stack, site: Site) -> None:
    """RFC 9293 3.10.7.4 and RFC 2018 4: a segment beyond a gap is held; the ACK it gets
    still asks for the gap, with a SACK block naming the held bytes. When the gap fills,
    the request is complete without the held part being sent again."""
    peer = Peer(stack, sack=True)
    peer.connect()
    req = get("/a", headers=PAD)
    (_, head), (at, tail) = pieces(req, 2)
    segs = send_at(peer, at, tail)
    assert [(s.flags, s.payload) for s in segs] == [("A", b"")]
    assert peer.rack(segs[0]) == 1  # still asking for the first byte
    assert segs[0].sack == [block(peer, at, len(req))]
    assert stack.stats()["ooo_held"] == 1
    segs = send_at(peer, 0, head)
    peer.snd_nxt = (peer.iss + 1 + len(req)) % MOD
    assert segs and peer.rack(segs[0]) == 1 + len(req)
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    assert stack.stats()["http_requests"] == 1


def test_held_without_sack(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4: holding does not depend on SACK; a peer without it gets a
    plain duplicate ACK (no SACK option, RFC 2018 2) and the full response once the gap
    fills."""
    peer.connect()
    req = get("/a", headers=PAD)
    (_, head), (at, tail) = pieces(req, 2)
    segs = send_at(peer, at, tail)
    assert [(s.flags, s.payload, s.option("SAck")) for s in segs] == [("A", b"", None)]
    send_at(peer, 0, head)
    peer.snd_nxt = (peer.iss + 1 + len(req)) % MOD
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")


def test_sack_blocks_newest_first(stack: Stack, site: Site) -> None:
    """RFC 2018 4: the first SACK block MUST name the block holding the segment that
    triggered the ACK; the others repeat the most recently reported ones. Pieces 1 and
    3 arrive: blocks [3], [1]; piece 2 joins them: one block [1-3]."""
    peer = Peer(stack, sack=True)
    peer.connect()
    req = get("/a", headers=PAD)
    parts = pieces(req, 4)
    (at1, p1), (at2, p2), (at3, p3) = parts[1:]
    assert send_at(peer, at1, p1)[0].sack == [block(peer, at1, at2)]
    assert send_at(peer, at3, p3)[0].sack == [block(peer, at3, len(req)), block(peer, at1, at2)]
    assert send_at(peer, at2, p2)[0].sack == [block(peer, at1, len(req))]
    send_at(peer, 0, parts[0][1])
    peer.snd_nxt = (peer.iss + 1 + len(req)) % MOD
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")


def test_at_most_three_blocks_beside_a_timestamp(stack: Stack) -> None:
    """RFC 2018 3: forty bytes of options hold four SACK blocks, or three beside the
    Timestamps option; the newest go (RFC 2018 4)."""
    for sport, ts, most in ((41000, False, 4), (41001, True, 3)):
        peer = Peer(stack, sport=sport, sack=True, ts=ts)
        peer.connect()
        parts = pieces(get("/a", headers=PAD), 9)
        for at, data in parts[1::2]:  # four ranges apart: 1, 3, 5, 7
            segs = send_at(peer, at, data)
        newest_first = [block(peer, at, at + len(d)) for at, d in reversed(parts[1::2])]
        assert segs[0].sack == newest_first[:most]
        assert (segs[0].ts is not None) == ts


def test_segment_beyond_the_window_is_not_held(stack: Stack) -> None:
    """RFC 9293 3.10.7.4: a segment wholly beyond the receive window is not acceptable:
    it is answered with an ACK and dropped (drop_tcp_seq), and nothing of it is held."""
    peer = Peer(stack, sack=True)
    peer.connect()
    segs = send_at(peer, RX_WINDOW + 10, b"x" * 100)
    assert [(s.flags, s.sack) for s in segs] == [("A", [])]
    st = stack.stats()
    assert (st["drop_tcp_seq"], st["ooo_held"]) == (1, 0)


def test_held_range_stops_at_the_window_edge(stack: Stack) -> None:
    """RFC 9293 3.10.7.4: of a segment that begins in the window but runs past its right
    edge, only the part inside the window is taken; the SACK block ends at the edge."""
    peer = Peer(stack, sack=True)
    peer.connect()
    segs = send_at(peer, RX_WINDOW - 10, b"x" * 30)
    assert segs[0].sack == [block(peer, RX_WINDOW - 10, RX_WINDOW)]
    assert stack.stats()["ooo_held"] == 1


def test_nothing_held_while_closing(stack: Stack, site: Site) -> None:
    """RFC 9293 3.10.7.4 makes holding optional (RFC 2018 8 lets a receiver discard held
    data): after a request that closes the connection nothing more will be read, so a
    segment beyond a gap is dropped and counted (drop_tcp_ooo), not held."""
    peer = Peer(stack, sack=True)
    peer.connect()
    req = get("/a", headers=["Connection: close"])
    peer.request(req)
    segs = send_at(peer, len(req) + 20, b"GET /b HTTP/1.1\r\n")
    assert all(s.sack == [] for s in segs)
    st = stack.stats()
    assert (st["drop_tcp_ooo"], st["ooo_held"]) == (1, 0)


def test_held_bytes_survive_an_earlier_request(stack: Stack, site: Site) -> None:
    """RFC 9112 9.3.2 with RFC 9293 3.10.7.4: the tail of a second, pipelined request is
    held while the first is parsed and answered (its bytes leave the buffer); when the
    second request's head arrives, it is answered too, in order."""
    peer = Peer(stack, sack=True)
    peer.connect()
    first, second = get("/a"), get("/b", headers=PAD)
    (_, head), (at, tail) = pieces(second, 2)
    send_at(peer, len(first) + at, tail)  # held
    send_at(peer, 0, first)  # complete: /a is answered
    peer.snd_nxt = (peer.iss + 1 + len(first)) % MOD
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    send_at(peer, len(first), head)  # the gap fills: /b is complete
    peer.snd_nxt = (peer.iss + 1 + len(first) + len(second)) % MOD
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/b")
    assert stack.stats()["http_requests"] == 2


def test_first_received_bytes_win(stack: Stack, site: Site) -> None:
    """RFC 9293 3.10.7.4 leaves overlapping segments to the receiver; as Linux, the bytes
    first received for a sequence number are kept. A held piece names /a; a later
    segment overlapping it (held too) and then the in-order segment for the whole
    request both say /b there: the request acted on is the first one, /a."""
    peer = Peer(stack, sack=True)
    peer.connect()
    req = get("/a", headers=PAD)
    forged = get("/b", headers=PAD)
    assert len(forged) == len(req) and req[5:6] == b"a" and forged[5:6] == b"b"
    send_at(peer, 4, req[4:20])  # held: " /a HTTP/1.1..."
    send_at(peer, 2, forged[2:30])  # overlaps it: only [2, 4) and [20, 30) are new
    send_at(peer, 0, forged)  # in order, covering everything
    peer.snd_nxt = (peer.iss + 1 + len(req)) % MOD
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    assert stack.stats()["http_requests"] == 1
