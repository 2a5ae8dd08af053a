# tests/stack/test_timestamps.py: the TCP Timestamps option (RFC 7323): negotiated from
# the SYN, then on every segment; TSecr echoing the peer's TSval by the rules of 4.3;
# RTT samples from the echo (4.1, with RFC 6298's estimator); PAWS (5.3).
#
# Our TSval is the stack's clock in milliseconds plus a per-connection offset, so a test
# reads elapsed time straight off two TSvals. The peer's TSval is TS_BASE plus the same
# clock (Peer.tsval), which keeps it monotonic unless a test passes an old one.
#
# The RTO shows as the time from when the retransmission timer was last started to the
# retransmission of the first unacknowledged segment. A tail loss probe (RFC 8985 7),
# if the stack sends one first, restarts that timer, so it is measured from the probe.
from __future__ import annotations

from collections.abc import Callable

from harness import CLOSE_VALUE, MOD, Peer, Seg, Site, Stack, get, seq_lt


def ts_peer(stack: Stack, **kw: object) -> Peer:
    return Peer(stack, ts=True, **kw)  # type: ignore[arg-type]


def time_to_resend(peer: Peer, seg: Seg, started_ms: float) -> float:
    """Milliseconds from the last start of the retransmission timer (started_ms, or a
    probe sent meanwhile) to the retransmission of `seg`."""
    segs = peer.advance_until(lambda s: s.seq == seg.seq and s.payload == seg.payload)
    return segs[-1].at - max([started_ms, *(s.at for s in segs[:-1])])


def test_syn_with_timestamp_gets_one_back(stack: Stack) -> None:
    """RFC 7323 3.2: a SYN-ACK may carry TSopt only when the SYN did; its TSecr echoes
    the SYN's TSval."""
    peer = ts_peer(stack)
    segs = peer.syn()
    assert [s.flags for s in segs] == ["SA"]
    assert segs[0].ts is not None
    assert segs[0].ts[1] == peer.tsval()  # the clock has not moved since the SYN
    assert segs[0].ts[0] != 0
    assert peer.ts_ok


def test_no_timestamps_unless_offered(stack: Stack, peer: Peer) -> None:
    """RFC 7323 3.2: without TSopt in the SYN, none is sent on any segment of the
    connection."""
    sa = peer.connect()
    segs = [sa, *peer.request(get("/a", headers=["Connection: close"]))]
    segs += peer.drain()
    assert any(s.payload for s in segs) and any("F" in s.flags for s in segs)
    assert all(s.ts is None for s in segs)
    assert not peer.ts_ok


def test_timestamps_refused_when_not_enabled(make_stack: Callable[..., Stack]) -> None:
    """RFC 7323 3.2: an implementation that does not use timestamps just does not echo
    the option; the connection then runs without them. Here options bit 0 is off."""
    stack = make_stack(options=0b1110)  # all but timestamps (bit 0)
    peer = Peer(stack, ts=True, sack=True)
    sa = peer.connect()
    assert sa.ts is None and sa.option("SAckOK") is not None
    segs = peer.request(get("/a"))
    assert segs and all(s.ts is None for s in segs)


def test_timestamp_on_every_segment(stack: Stack, site: Site) -> None:
    """RFC 7323 3.2: once negotiated, TSopt MUST be sent in every non-RST segment: data,
    pure ACKs, FIN, and challenge ACKs alike."""
    peer = ts_peer(stack)
    assert peer.connect().ts is not None
    seen = peer.request(b"GET /a HTTP/1.1\r\n")  # a pure ACK: the request is not complete
    seen += peer.request(b"Host: x\r\nConnection: close\r\n\r\n")  # data, then FIN
    seen += peer.drain()
    seen += peer.send("S", seq=peer.iss)  # RFC 5961 4.2: a challenge ACK
    kinds = {s.flags for s in seen}
    assert {"A", "FA"} <= kinds and any(s.payload for s in seen)
    assert all(s.ts is not None for s in seen), [s.flags for s in seen if s.ts is None]
    assert peer.fin and peer.responses()[0].raw == site.expect("/a", connection=CLOSE_VALUE)


def test_tsval_is_a_millisecond_clock(stack: Stack) -> None:
    """RFC 7323 5.4: the timestamp clock ticks between once a millisecond and once a
    second; ours ticks every millisecond, so TSvals differ by the time elapsed."""
    peer = ts_peer(stack)
    peer.connect()
    first = peer.request(get("/a"))[0]
    peer.advance(250)
    peer.ack()
    later = peer.request(get("/b"))[0]
    assert first.ts is not None and later.ts is not None
    assert (later.ts[0] - first.ts[0]) % MOD == 250


def test_tsval_offset_differs_per_connection(stack: Stack) -> None:
    """RFC 7323 7.1: a random per-connection offset is RECOMMENDED for the timestamp
    clock, so TSvals do not reveal a host clock shared by all connections."""
    vals = set()
    for sport in range(41000, 41004):
        sa = ts_peer(stack, sport=sport).syn()[0]
        assert sa.ts is not None
        vals.add(sa.ts[0])
    assert len(vals) == 4


def test_data_plus_timestamp_fits_the_mss(stack: Stack, site: Site) -> None:
    """RFC 6691 2 and RFC 9293 3.7.1: the MSS bounds data plus TCP options, so with a
    12-byte timestamp on every segment a peer MSS of 1000 gets 988 bytes of data."""
    peer = ts_peer(stack)
    peer.connect(mss=1000)
    resp, segs = peer.fetch(get("/files/mid.bin"))
    sizes = [len(s.payload) for s in segs if s.payload]
    assert max(sizes) == 988
    assert all(s.pkt["TCP"].dataofs * 4 == 32 for s in segs)  # 20 + NOP NOP TSopt
    assert resp.raw == site.expect("/files/mid.bin")


def test_tsecr_echoes_latest_in_order_tsval(stack: Stack) -> None:
    """RFC 7323 4.3: TS.Recent takes the TSval of a segment with SEG.SEQ <=
    Last.ACK.sent; an out-of-order segment does not update it (case C: its ACK echoes
    the last in-sequence one), and the segment that fills the hole does."""
    peer = ts_peer(stack, sack=True)
    peer.connect()
    t = peer.tsval()  # TS.Recent after the handshake; later TSvals must not be older
    part1, part2, part3 = b"GET /a HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"
    segs = peer.send("PA", part1, tsval=t + 10)
    assert [s.ts[1] for s in segs if s.ts] == [t + 10]
    # part3 arrives before part2: held, and its ACK still echoes part1's TSval.
    segs = peer.send("PA", part3, seq=peer.snd_nxt + len(part2), tsval=t + 30)
    assert [s.ts[1] for s in segs if s.ts] == [t + 10]
    # part2 fills the hole: its TSval is the one echoed from now on.
    segs = peer.send("PA", part2, tsval=t + 20)
    peer.snd_nxt = (peer.snd_nxt + len(part3)) % MOD
    assert segs and segs[0].payload.startswith(b"HTTP/1.1 200 OK")
    assert all(s.ts is not None and s.ts[1] == t + 20 for s in segs)


def test_paws_drops_an_old_timestamp(stack: Stack, site: Site) -> None:
    """RFC 7323 5.3 R1: a segment whose TSval is older than TS.Recent is not acceptable:
    it is acknowledged and dropped (counted as drop_paws); its data is not taken."""
    peer = ts_peer(stack)
    peer.connect()
    recent = peer.tsval()  # the handshake ACK's TSval is TS.Recent now
    segs = peer.send("PA", get("/a"), seq=peer.snd_nxt, tsval=(recent - 1) % MOD)
    assert [(s.flags, s.payload) for s in segs] == [("A", b"")]
    assert peer.rack(segs[0]) == 1  # nothing of the request was taken
    assert segs[0].ts is not None and segs[0].ts[1] == recent  # TS.Recent kept
    st = stack.stats()
    assert (st["drop_paws"], st["http_requests"]) == (1, 0)
    # The same bytes with a current timestamp are served.
    peer.request(get("/a"))
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")


def test_paws_compares_timestamps_modulo_2_32(stack: Stack, site: Site) -> None:
    """RFC 7323 5.2: timestamps are compared in modulo 2^32 arithmetic, as sequence
    numbers are; a TSval that wrapped past zero is newer, not older."""
    peer = ts_peer(stack)
    start = MOD - 5
    peer.syn(options=[("MSS", 1460), ("Timestamp", (start, 0))])
    assert peer.ts_ok
    peer.send("A", tsval=MOD - 2)
    assert seq_lt(MOD - 2, 3)  # the harness's comparison agrees
    peer.request(get("/a"), tsval=3)
    peer.drain(tsval=4)
    assert stack.stats()["drop_paws"] == 0
    assert peer.responses()[0].raw == site.expect("/a")


def test_rst_is_not_subject_to_paws(stack: Stack) -> None:
    """RFC 7323 5.2 and 5.3 R1: the PAWS test applies only when the RST bit is not set;
    an exact RST with an old TSval still resets the connection."""
    peer = ts_peer(stack)
    peer.connect()
    assert peer.send("R", seq=peer.snd_nxt, tsval=1) == []
    st = stack.stats()
    assert (st["conns_reset"], st["conns_active"], st["drop_paws"]) == (1, 0, 0)


def test_timestamps_ignored_when_not_negotiated(stack: Stack, site: Site) -> None:
    """RFC 7323 3.2: a TSopt received on a connection where it was not negotiated MUST
    be ignored and the segment processed normally: no PAWS, no echo."""
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/a"), tsval=1000)
    segs = peer.drain(tsval=10)  # an "older" TSval: irrelevant here
    assert all(s.ts is None for s in segs)
    assert stack.stats()["drop_paws"] == 0
    assert peer.responses()[0].raw == site.expect("/a")


# --- RTT measurement ------------------------------------------------------------------


def test_rtt_sample_from_echo_of_a_retransmission(stack: Stack) -> None:
    """RFC 6298 3: Karn's rule forbids samples from retransmitted segments, except with
    timestamps, whose echo names the transmission that was acknowledged (RFC 7323 4.1).
    The SYN-ACK is resent at 1 s and acknowledged 300 ms later with the echo of the
    resent one: the first sample, R = 300 ms, gives SRTT = 300, RTTVAR = 150 and
    RTO = SRTT + 4 * RTTVAR = 900 ms (RFC 6298 2.2). Without the sample the RTO would
    stay at the backed-off 2 s."""
    peer = ts_peer(stack)
    peer.syn()
    again = peer.advance(1000)
    assert [s.flags for s in again] == ["SA"] and again[0].ts is not None
    assert peer.advance(300) == []
    assert peer.send("A", tsecr=again[0].ts[0]) == []
    first = peer.request(get("/files/mid.bin"))  # t = 1300
    assert len(first) == 4
    assert time_to_resend(peer, first[0], 1300) == 900


def test_rtt_sample_from_echo_of_data(stack: Stack) -> None:
    """RFC 7323 4.1 and RFC 6298 2.3: an ACK of new data 250 ms after the data was sent
    echoes its TSval: R' = 250 ms. After the handshake's R = 100 ms (SRTT 100, RTTVAR
    50, RTO 300), that gives RTTVAR = 3/4 * 50 + 1/4 * |100 - 250| = 75,
    SRTT = 7/8 * 100 + 1/8 * 250 = 118.75 and RTO = 118.75 + 4 * 75 = 418.75 ms, which
    the timer restarted by that ACK (RFC 6298 5.3) runs on."""
    peer = ts_peer(stack)
    peer.syn()
    assert peer.advance(100) == []
    assert peer.send("A") == []
    first = peer.request(get("/files/mid.bin"))  # t = 100
    assert len(first) == 4
    peer.advance(250)  # (a tail loss probe may go meanwhile)
    assert peer.send("A", ack=first[2].seq) == []  # t = 350, echoes the burst's TSval
    assert 418 <= time_to_resend(peer, first[2], 350) <= 420  # 418.75, in whole ms


def test_no_rtt_sample_from_ack_that_does_not_advance(stack: Stack) -> None:
    """RFC 7323 4.1 (RTTM rule): a TSecr may update the RTT estimate only if the segment
    advances SND.UNA. A duplicate ACK echoing a 350 ms old TSval must leave the RTO
    alone: the handshake's 100 ms sample gives RTO 300 ms, doubled to 600 ms between
    the first two retransmissions (up to a quarter more: the spread drawn at each
    expiry); a sample of 350 ms would have made that 1064 ms."""
    peer = ts_peer(stack)
    synack = peer.syn()[0]
    assert synack.ts is not None
    assert peer.advance(100) == []
    peer.send("A")  # R = 100 ms: RTO = 100 + 4 * 50 = 300 ms
    first = peer.request(get("/files/mid.bin"))  # t = 100
    peer.advance(250)  # (a tail loss probe may go meanwhile)
    # t = 350: a duplicate ACK, the window unchanged, echoing the SYN-ACK of t = 0.
    dup = peer.send("A", ack=first[0].seq, tsecr=synack.ts[0])
    assert not any(s.resent for s in dup)
    head = first[0]
    once = peer.advance_until(lambda s: (s.seq, s.payload) == (head.seq, head.payload))
    twice = peer.advance_until(lambda s: (s.seq, s.payload) == (head.seq, head.payload))
    assert 600 <= twice[-1].at - once[-1].at <= 750
