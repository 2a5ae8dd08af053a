# tests/stack/test_recovery.py: loss recovery for a peer without SACK: fast retransmit
# (RFC 5681 3.2) and NewReno's partial and full acknowledgments (RFC 6582 3.2), and the
# `recover` guard against duplicate ACKs that an RTO caused (RFC 6582 3.2 (1), 4). This
# is RFC 6582's recovery whatever the congestion control; these tests run the default,
# CUBIC (test_congestion.py compares the two).
#
# The peer runs queued (see harness.py): the server's segments wait in its inbox and
# arrive one at a time, each ACKed at once, so the duplicate ACKs are those a receiver
# without SACK sends. Segments are named by their index in the response (segno). The
# clock is moved off zero first (test_sack.py has the case of a clock reading 0).
from __future__ import annotations

from harness import TEMPLATE_MSS, Peer, Seg, Site, Stack, get, segno

BIG = "/files/huge.bin"
START_MS = 1000


def plain_peer(stack: Stack) -> Peer:
    stack.advance(START_MS)
    peer = Peer(stack)
    peer.connect()
    peer.queued = True
    return peer


def resent(peer: Peer, segs: list[Seg]) -> list[int]:
    return [segno(peer, s) for s in segs if s.resent]


def new_data(peer: Peer, segs: list[Seg]) -> list[int]:
    return [segno(peer, s) for s in segs if s.payload and not s.resent]


def test_third_duplicate_ack_resends_first_unacknowledged(stack: Stack, site: Site) -> None:
    """RFC 6582 3.2 (1)-(2) and RFC 5681 3.2: the third duplicate ACK retransmits the
    segment at SND.UNA, once. The first two resend nothing; each may let one new
    segment out (limited transmit, RFC 5681 3.2 (1))."""
    peer = plain_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[2])
    peer.deliver(3)  # 0 and 1 acknowledged, 2 lost
    for _ in range(2):  # duplicates 1 and 2
        dup = peer.deliver()
        assert len(dup) <= 1 and resent(peer, dup) == [], dup
    out = peer.deliver()  # the third
    assert resent(peer, out) == [2] and out[0].resent
    out = peer.deliver_all()
    assert resent(peer, out) == []
    assert peer.responses()[0].raw == site.expect(BIG)
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"], st["rto_expired"]) == (1, 1, 0)


def test_partial_ack_resends_next_segment_at_once(stack: Stack, site: Site) -> None:
    """RFC 6582 3.2 (4): an ACK that acknowledges some but not all of the data up to
    `recover` is a partial ACK: retransmit the first unacknowledged segment (here 5,
    the second hole of the window) in answer to it, without more duplicate ACKs."""
    peer = plain_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[2], first[5])
    while not (peer.inbox and peer.inbox[0].resent):
        peer.deliver()  # the rest of the window; 2 was resent on the third duplicate
    partial = peer.deliver()  # 2 arrives: the ACK covers 0-4, not the whole window
    assert peer.rcv_nxt == first[5].seq
    assert 5 in resent(peer, partial)


def test_full_ack_ends_recovery(stack: Stack, site: Site) -> None:
    """RFC 6582 3.2 (3): the ACK of everything up to `recover` ends fast recovery;
    duplicate ACKs are counted afresh, so a later loss, in a later window, starts a
    recovery of its own on its own third duplicate ACK."""
    peer = plain_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[2])
    while not (peer.inbox and peer.inbox[0].resent):
        peer.deliver()
    after = peer.deliver()  # the retransmission arrives: a full ACK
    assert new_data(peer, after)
    assert peer.high < 40 * TEMPLATE_MSS  # 40 is not sent yet: it will go after recovery
    peer.lose_segno(40)
    out = peer.deliver_all()
    assert resent(peer, out) == [40]
    assert peer.responses()[0].raw == site.expect(BIG)
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"], st["rto_expired"]) == (2, 2, 0)


def test_full_ack_with_nothing_outstanding_leaves_two_segments(stack: Stack) -> None:
    """RFC 6582 3.2 (3), option (1): on a full ACK, cwnd = min(ssthresh,
    max(FlightSize, SMSS) + SMSS); with nothing left outstanding that is two segments
    (ssthresh is seven here), so two new segments go at once, not one."""
    stack.advance(START_MS)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get(BIG))  # ten segments, all received by the peer...
    una = first[0].seq
    for _ in range(3):  # ...but for the first, it seems: three duplicate ACKs
        out = peer.send("A", ack=una)
    assert resent(peer, out) == [0]
    out = peer.ack()  # the ACK of all that was sent: nothing outstanding
    assert len(new_data(peer, out)) == 2


def test_duplicate_acks_below_recover_after_rto(stack: Stack, site: Site) -> None:
    """RFC 6582 3.2 (1) and 4: after an RTO, `recover` is the highest sequence number
    sent; duplicate ACKs that do not cover more than it (here three stale ones, delayed
    past the RTO) do not start fast retransmit. Once the RTO's recovery is over, a new
    loss does."""
    peer = plain_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[0])
    peer.deliver(len(peer.inbox), ack=False)  # 1-9 arrive; their ACKs are delayed
    again = peer.advance_until(lambda s: s.resent)  # the RTO (perhaps after a probe)
    assert segno(peer, again[-1]) == 0
    assert all(not s.resent for s in again[:-1])
    una = first[0].seq
    for _ in range(3):  # the three delayed duplicate ACKs
        assert 0 not in resent(peer, peer.send("A", ack=una))
    assert stack.stats()["fast_retransmits"] == 0
    peer.deliver()  # 0 arrives: everything up to `recover` is acknowledged
    peer.lose_segno(40)  # sent once the window has grown again
    out = peer.deliver_all()
    assert resent(peer, out) == [40]
    assert peer.responses()[0].raw == site.expect(BIG)
    st = stack.stats()
    assert (st["fast_retransmits"], st["rto_expired"]) == (1, 1)


def test_limited_transmit_sends_only_new_data(stack: Stack) -> None:
    """RFC 5681 3.2 (1) and RFC 3042 2: on the first and second duplicate ACKs a sender
    may send a segment of previously unsent data. After an RTO rewound SND.NXT to the
    first segment, duplicate ACKs must not release segments already sent (1, 2...)."""
    peer = plain_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[0])
    peer.deliver(len(peer.inbox), ack=False)  # 1-9 arrive; their ACKs are delayed
    peer.advance_until(lambda s: s.resent)  # the RTO resends 0
    for _ in range(2):
        out = peer.send("A", ack=first[0].seq)
        assert resent(peer, out) == [], out


def test_two_holes_recovered_without_rto(stack: Stack, site: Site) -> None:
    """RFC 6582 3.2: with two segments lost from one window, NewReno resends the first
    on the third duplicate ACK and the second on the partial ACK that follows, within
    one recovery and with no RTO (the clock never moves here)."""
    peer = plain_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[2], first[5])
    out = peer.deliver_all()
    assert sorted(resent(peer, out)) == [2, 5]
    assert peer.responses()[0].raw == site.expect(BIG)
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"], st["rto_expired"]) == (1, 2, 0)
