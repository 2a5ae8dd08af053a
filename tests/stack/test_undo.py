# tests/stack/test_undo.py: reductions of the window that prove spurious are undone:
# D-SACK (RFC 2883) shows a retransmission was needless (RFC 3708), and F-RTO (RFC
# 5682) shows a timeout was; the window and ssthresh go back to what they were (the
# Eifel response, RFC 4015, as Linux undoes). On the virtual clock.
#
# The peer runs queued (see harness.py) with SACK: the server's segments wait in its
# inbox, and a test lets them arrive in the order it arranges, each ACKed at once. The
# harness's receiver does not send D-SACKs itself: a test sends the ACK that reports the
# duplicate. Pacing is off, so what an ACK allows goes at once, as its answer.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import TEMPLATE_MSS, UNPACED, Peer, Seg, Stack, window_of_20

BIG = "/files/huge.bin"  # 70 full segments
RTT = 100  # ms


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack(options=UNPACED)


def in_flight(peer: Peer) -> int:
    """Segments sent and not yet received by the peer."""
    return (peer.high - len(peer.stream)) // TEMPLATE_MSS


def dsack(peer: Peer, seg: Seg) -> list[Seg]:
    """seg arrives again: the peer ACKs it with a D-SACK, its range as the first block
    (RFC 2883 4: below the cumulative ACK)."""
    return peer.send("A", sack=[(seg.seq, seg.seq + len(seg.payload))])


def reorder_into_recovery(peer: Peer) -> Seg:
    """The first segment of the flight arrives behind three later ones: three duplicate
    ACKs, and a fast retransmit of it. Returns the retransmission, taken out of the
    inbox, after everything else has arrived (the original first, which ends the
    recovery with its full ACKs)."""
    head = peer.inbox.popleft()
    peer.inbox.insert(3, head)
    peer.reorders = True
    peer.deliver(4)  # three duplicate ACKs (the third retransmits), then the original
    rtx = None
    for _ in range(200):
        if not peer.inbox:
            break
        if peer.inbox[0].resent and rtx is None:
            rtx = peer.inbox.popleft()
            continue
        if not any(s.resent for s in peer.inbox) and rtx is not None:
            break
        peer.deliver()
    assert rtx is not None and rtx.seq == head.seq
    return rtx


def test_dsack_undoes_a_spurious_fast_retransmit(stack: Stack) -> None:
    """RFC 2883 4 and RFC 3708 2: the 'lost' segment was only reordered; the peer
    reports the retransmission as a duplicate (a D-SACK block below the cumulative
    ACK). That accounts for every retransmission of the recovery, so the reduction
    (cwnd 20 -> 14, RFC 9438 4.6) is undone: cwnd goes back to its prior 20 segments,
    and the D-SACK's ACK lets the flight grow back to 20 at once."""
    peer = window_of_20(stack)
    rtx = reorder_into_recovery(peer)
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"], st["undo_recoveries"]) == (1, 1, 0)
    assert in_flight(peer) < 20  # recovery ended with cwnd = ssthresh, 14
    dsack(peer, rtx)
    st = stack.stats()
    assert (st["dsack_received"], st["undo_recoveries"]) == (1, 1)
    assert in_flight(peer) == 20


def test_dsack_of_some_retransmissions_only_undoes_nothing(stack: Stack) -> None:
    """RFC 3708 2: the reduction is undone only when every retransmission of the episode
    was a duplicate. Here two segments are resent, one for a real loss: a D-SACK of the
    other one (and the counter, dsack_received) leaves the window reduced."""
    peer = window_of_20(stack)
    lost = peer.inbox[5]
    peer.lose_once(lost)
    rtx = reorder_into_recovery(peer)
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"]) == (1, 2)
    before = in_flight(peer)
    dsack(peer, rtx)
    st = stack.stats()
    assert (st["dsack_received"], st["undo_recoveries"]) == (1, 0)
    assert in_flight(peer) == before


def test_dsack_within_a_sack_block_is_recognised(stack: Stack) -> None:
    """RFC 2883 4: a first block that lies within the second one is a D-SACK too (a
    duplicate above the cumulative ACK); it is counted, and not taken as news of data
    held."""
    peer = window_of_20(stack)
    segs = list(peer.inbox)
    una = segs[0].seq
    a, b = segs[2].seq, segs[5].seq
    peer.send("A", ack=una, sack=[(segs[3].seq, segs[4].seq), (a, b)])
    assert stack.stats()["dsack_received"] == 1
    peer.send("A", ack=una, sack=[(a, b)])
    assert stack.stats()["dsack_received"] == 1


def until_rto(peer: Peer, stack: Stack) -> list[Seg]:
    """The clock moves a millisecond at a time until the retransmission timer has run
    out once (a tail loss probe may go before it); returns what was sent meanwhile."""
    out: list[Seg] = []
    for _ in range(5000):
        out += peer.advance(1)
        if stack.stats()["rto_expired"]:
            return out
    raise AssertionError("no RTO")


def test_frto_detects_a_spurious_timeout(stack: Stack) -> None:
    """RFC 5682 2: a delay spike holds the whole flight of 20 segments past the RTO;
    nothing is lost. The RTO resends the first segment (step 1). The first ACK after it
    (for the original first segment) moves SND.UNA: two new segments go instead of more
    resends (2b). The second ACK moves SND.UNA again, acknowledging data that was never
    resent: the timeout was spurious (3b, spurious_rtos), the window and ssthresh go back
    to what they were before it (RFC 4015, as Linux undoes), no go-back-N follows, and
    the flight is soon back to the 20 segments of the prior window."""
    peer = window_of_20(stack)
    spike = until_rto(peer, stack)
    assert [s.resent for s in spike if s.payload][-1:] == [True]
    first = [s for s in peer.deliver() if s.payload]  # step 2
    assert len(first) == 2 and not any(s.resent for s in first), first
    peer.deliver()  # step 3: spurious
    st = stack.stats()
    assert (st["spurious_rtos"], st["rto_expired"], st["retransmits"]) == (1, 1, 1)
    out = peer.deliver(18)  # the rest of the flight
    assert not any(s.resent for s in out)
    assert in_flight(peer) >= 20


def test_frto_real_loss_goes_back_to_slow_start(stack: Stack) -> None:
    """RFC 5682 2, step 3a: the flight was lost. The RTO's resend of the first segment
    arrives and its ACK moves SND.UNA by one segment: two new segments go (2b); they
    arrive above the hole and are answered by duplicate ACKs: the loss was real. cwnd
    is at most three segments and go-back-N resends from SND.UNA in slow start; no
    spurious timeout is counted, the window stays reduced, and the transfer
    completes."""
    peer = window_of_20(stack)
    peer.lose_once(*list(peer.inbox))
    peer.deliver(len(peer.inbox))
    until_rto(peer, stack)
    while not peer.inbox[0].resent:  # a tail loss probe, lost as well
        peer.lose_once(peer.inbox[0])
        peer.deliver()
    first = [s for s in peer.deliver() if s.payload]  # the resend arrives: step 2
    assert len(first) == 2 and not any(s.resent for s in first), first
    answer = [s for s in peer.deliver() if s.payload]  # a duplicate ACK: step 3a
    answer += [s for s in peer.deliver() if s.payload]
    assert answer and len(answer) <= 3 and all(s.resent for s in answer), answer
    st = stack.stats()
    assert (st["spurious_rtos"], st["undo_recoveries"]) == (0, 0)
    assert len([s for s in peer.inbox if s.payload]) <= 3
    for _ in range(20_000):  # and the transfer completes
        if len(peer.stream) >= 100_000 and not peer.inbox:
            break
        if peer.inbox:
            peer.deliver()
        else:
            peer.advance(1)
    assert len(peer.responses()) == 1
