# tests/stack/test_sack.py: selective acknowledgment (RFC 2018) on the sending side: the
# SACK-permitted option answered from the SYN, the scoreboard built from the peer's
# blocks, loss recovery driven by it (RFC 6675), and what an RTO does with it.
#
# The peer runs queued (see harness.py): the server's segments wait in its inbox, arrive
# one at a time and each is ACKed at once, with SACK blocks for what it holds beyond a
# gap, so duplicate ACKs come as a real receiver sends them. Segments are named by their
# index in the response (segno); the response is huge.bin, 70 full segments. The clock
# is moved off zero first: a clock reading 0 is a case of its own
# (test_hole_resent_once_with_the_clock_at_zero).
from __future__ import annotations

from collections.abc import Callable

from harness import TEMPLATE_MSS, Peer, Seg, Site, Stack, get, segno

BIG = "/files/huge.bin"
START_MS = 1000


def sack_peer(stack: Stack, **kw: object) -> Peer:
    stack.advance(START_MS)
    peer = Peer(stack, sack=True, **kw)  # type: ignore[arg-type]
    peer.connect()
    peer.queued = True
    return peer


def resent(peer: Peer, segs: list[Seg]) -> list[int]:
    return [segno(peer, s) for s in segs if s.resent]


def new_data(peer: Peer, segs: list[Seg]) -> list[int]:
    return [segno(peer, s) for s in segs if s.payload and not s.resent]


def first_resent(peer: Peer) -> list[Seg]:
    """Let the clock run until something is retransmitted; a tail loss probe of new data
    (RFC 8985 7.3) may come before it."""
    segs = peer.advance_until(lambda s: s.resent)
    assert all(s.payload and not s.resent for s in segs[:-1]), segs
    return segs


def finish(peer: Peer, site: Site, path: str = BIG) -> list[Seg]:
    """Deliver everything still queued; the response must then be complete."""
    out = peer.deliver_all()
    assert peer.responses()[0].raw == site.expect(path)
    return out


# --- negotiation ------------------------------------------------------------------------


def test_sack_permitted_answered_when_offered(stack: Stack) -> None:
    """RFC 2018 2: SACK-permitted may be sent in a SYN; the SYN-ACK answers it, and then
    SACK may be used on the connection."""
    peer = Peer(stack, sack=True)
    sa = peer.syn()[0]
    assert sa.option("SAckOK") is not None
    assert peer.sack_ok


def test_no_sack_permitted_unless_offered(stack: Stack, peer: Peer) -> None:
    """RFC 2018 2: without SACK-permitted in the SYN, the SYN-ACK does not carry it."""
    sa = peer.syn()[0]
    assert sa.option("SAckOK") is None


def test_sack_permitted_refused_when_disabled(make_stack: Callable[..., Stack]) -> None:
    """RFC 2018 2: a host that does not use SACK simply does not answer the option;
    here options bit 1 is off, and timestamps alone are used."""
    stack = make_stack(options=0b1101)  # all but SACK (bit 1)
    peer = Peer(stack, sack=True, ts=True)
    sa = peer.syn()[0]
    assert sa.option("SAckOK") is None and sa.ts is not None


def test_sack_blocks_ignored_unless_negotiated(stack: Stack, site: Site) -> None:
    """RFC 2018 2: SACK options may be sent only when SACK-permitted was exchanged;
    blocks from a peer that did not offer it are not taken (the counter stays 0), and
    recovery runs without them (RFC 6582)."""
    stack.advance(START_MS)
    peer = Peer(stack)
    assert peer.connect().option("SAckOK") is None
    peer.queued = True
    peer.sack_ok = True  # a peer that sends blocks anyway
    first = peer.request(get(BIG))
    peer.lose_once(first[2])
    peer.deliver(5)  # 0 and 1, 2 lost, then two duplicate ACKs with blocks
    out = peer.deliver()  # the third
    assert peer.sack_blocks(), "the duplicate ACKs carried no blocks"
    assert resent(peer, out) == [2]
    finish(peer, site)
    assert stack.stats()["sack_blocks"] == 0


def test_sack_blocks_are_counted(stack: Stack) -> None:
    """RFC 2018 3: a SACK option carries one to four blocks; each is read (counter
    sack_blocks)."""
    peer = sack_peer(stack)
    first = peer.request(get(BIG))
    una = first[0].seq
    blocks = [(first[i].seq, first[i].seq + TEMPLATE_MSS) for i in (2, 4, 6, 8)]
    peer.send("A", ack=una, sack=blocks)
    assert stack.stats()["sack_blocks"] == 4


# --- recovery ---------------------------------------------------------------------------


def test_sack_recovery_resends_only_the_hole(stack: Stack, site: Site) -> None:
    """RFC 6675 5, steps (4.1)-(4.3): on the third duplicate ACK the first segment
    presumed lost is retransmitted at once: segment 2 alone, not the SACKed 3, 4, 5...
    The first two may each let one new segment out (limited transmit, RFC 5681 3.2
    (1)), nothing resent. Later duplicate ACKs resend nothing the peer holds; new data
    follows within pipe, and after the cumulative ACK of everything the transfer goes
    on with new data."""
    peer = sack_peer(stack)
    first = peer.request(get(BIG))
    assert len(first) == 10
    peer.lose_once(first[2])
    # Segments 0 and 1 arrive; each ACK lets two new segments out (slow start).
    assert new_data(peer, peer.deliver()) == [10, 11]
    assert new_data(peer, peer.deliver()) == [12, 13]
    assert peer.deliver() == []  # segment 2 is lost
    for _ in range(2):  # segments 3 and 4: duplicate ACKs 1 and 2, SACK [3, 4), [3, 5)
        dup = peer.deliver()
        assert len(dup) <= 1 and resent(peer, dup) == [], dup
    dup3 = peer.deliver()  # segment 5: the third
    assert resent(peer, dup3) == [2] and dup3[0].resent
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"]) == (1, 1)
    assert st["sack_blocks"] >= 3
    # The rest of the flight and the retransmission arrive: nothing else is resent.
    rest = []
    while peer.inbox and not peer.inbox[0].resent:
        rest += peer.deliver()
    assert resent(peer, rest) == []
    after = peer.deliver()  # segment 2 again: the ACK covers all that was outstanding
    assert new_data(peer, after), "no new data after recovery"
    out = finish(peer, site)
    assert resent(peer, out) == []
    st = stack.stats()
    assert (st["retransmits"], st["fast_retransmits"], st["rto_expired"]) == (1, 1, 0)


def test_sack_recovery_two_holes_in_one_window(stack: Stack, site: Site) -> None:
    """RFC 6675 5 (step C) and 4 (NextSeg): two segments lost from one window are both
    retransmitted during the same recovery, driven by the SACK blocks, without waiting
    for an RTO (the clock never moves here), and each exactly once."""
    peer = sack_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[2], first[5])
    out = finish(peer, site)
    assert sorted(resent(peer, out)) == [2, 5]
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"], st["rto_expired"]) == (1, 2, 0)


def test_rack_timer_then_recovery_keeps_sacked_segments(stack: Stack, site: Site) -> None:
    """RFC 8985 6.3 and RFC 6675 5: one ACK reports 3-4 held above the hole at 2, too
    few segments to call it lost by counting (RFC 6675 4, IsLost), and every other ACK
    is lost. Before RACK this waited for the RTO; now RACK's reordering timer finds 2
    lost a reordering window later (a millisecond: the round trip here is below the
    timer's granularity) and the recovery it starts resends the holes, 2 and 5, and
    skips what the peer reported holding, before (3-4) and after (6 on); no RTO."""
    peer = sack_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[2], first[5])
    peer.deliver(len(peer.inbox), ack=False)  # everything arrives, every ACK is lost...
    # ...but one, sent when 0-1 and 3-4 had arrived: it acknowledges 0-1 and SACKs 3-4.
    # Slow start (two acknowledged segments: cwnd 12) lets four new segments out.
    out = peer.send("A", ack=first[2].seq, sack=[(first[3].seq, first[5].seq)])
    assert new_data(peer, out) == [10, 11, 12, 13]
    peer.deliver(4, ack=False)  # they arrive too; their ACKs are lost
    again = first_resent(peer)  # RACK's timer
    assert segno(peer, again[-1]) == 2
    assert again[-1].at - START_MS <= 2
    out = finish(peer, site)
    assert resent(peer, out) == [5]
    st = stack.stats()
    assert (st["rto_expired"], st["retransmits"], st["fast_retransmits"]) == (0, 2, 1)


def test_rto_resends_left_edge_even_if_sacked(stack: Stack, site: Site) -> None:
    """RFC 2018 5 (and 8, reneging): the data sender MUST retransmit the segment at the
    left edge of the window after a retransmit timeout, whether or not the SACKed bit
    is on for that segment. Here the peer SACKed 3-9 and then, having discarded 4-9,
    acknowledges 0-3 only: the RTO must resend segment 4."""
    stack.advance(START_MS)
    peer = Peer(stack, sack=True)
    peer.connect()
    first = peer.request(get(BIG))
    blocks = [(first[3].seq, first[9].seq + TEMPLATE_MSS)]
    peer.send("A", ack=first[3].seq, sack=blocks)  # 0-2 acknowledged, 3-9 SACKed
    peer.send("A", ack=first[4].seq, sack=[])  # reneged: 3 acknowledged, the rest gone
    again = first_resent(peer)
    assert segno(peer, again[-1]) == 4


def test_one_ack_sacking_three_segments_starts_recovery(stack: Stack) -> None:
    """RFC 6675 5, step (2): if fewer than DupThresh duplicate ACKs came but IsLost
    (HighACK + 1) is true (three segments SACKed above it, e.g. because earlier
    duplicate ACKs were lost), loss recovery starts: the first hole goes at once."""
    stack.advance(START_MS)
    peer = Peer(stack, sack=True)
    peer.connect()
    first = peer.request(get(BIG))
    peer.send("A", ack=first[1].seq)  # segment 0 acknowledged; 10 and 11 go out
    blocks = [(first[2].seq, first[9].seq + TEMPLATE_MSS)]  # 2-9: eight segments
    out = peer.send("A", ack=first[1].seq, sack=blocks)
    assert 1 in resent(peer, out)


def test_new_loss_at_the_recovery_point_starts_a_new_recovery(stack: Stack, site: Site) -> None:
    """RFC 6675 5: outside loss recovery, duplicate ACKs (ACKs that SACK new data, RFC
    6675 2) start a recovery; only after an RTO must HighACK first reach RecoveryPoint
    (5.1). Here the first segment sent after one recovery's RecoveryPoint is lost too:
    once that recovery ends, the peer's ACKs stay at the recovery point while SACKing
    more, and the segment must be fast retransmitted (the clock never moves here)."""
    peer = sack_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[2])
    while True:
        high = peer.high  # all sent so far: SND.MAX, which the next ACK may freeze
        out = peer.deliver()
        if any(s.resent for s in out):
            break
    peer.losing.add(1 + high)  # the first segment above the recovery point
    out = finish(peer, site)
    assert high // TEMPLATE_MSS in resent(peer, out)
    assert stack.stats()["rto_expired"] == 0


def test_hole_resent_once_with_the_clock_at_zero(stack: Stack, site: Site) -> None:
    """RFC 6675 4 (NextSeg, HighRxt) and 5: in one recovery each hole is retransmitted
    once; another copy needs evidence that the first was lost (a round trip without it,
    RFC 8985 6.2). The engine's clock reading 0 (a virtual clock at its start) changes
    nothing: this is test_sack_recovery_two_holes_in_one_window without START_MS."""
    peer = Peer(stack, sack=True)
    peer.connect()
    peer.queued = True
    assert stack.now_ms == 0
    first = peer.request(get(BIG))
    peer.lose_once(first[2], first[5])
    out = finish(peer, site)
    assert sorted(resent(peer, out)) == [2, 5]


def test_resent_hole_not_sent_again_before_later_data_arrives(stack: Stack, site: Site) -> None:
    """RFC 8985 6.2: a retransmission is deemed lost only when data sent after it has
    been delivered (beyond the reordering window); SACKs of segments sent before it say
    nothing about it. Here the RTT is 1 ms but the link queue holds eight: the hole's
    one retransmission waits behind segments already in flight, and arrives."""
    stack.advance(START_MS)
    peer = Peer(stack, sack=True)
    peer.syn()
    peer.advance(1)
    assert peer.send("A") == []  # R = 1 ms
    peer.queued = True
    first = peer.request(get(BIG))
    peer.lose_once(first[0])
    out = peer.deliver_all(step_ms=1)
    assert peer.responses()[0].raw == site.expect(BIG)
    assert resent(peer, out).count(0) == 1
