# tests/stack/test_prr.py: Proportional Rate Reduction (RFC 6937), the congestion
# window during loss recovery, on the virtual clock. cwnd is not visible on the wire;
# what shows is how many data segments the server sends for each ACK of the recovery.
#
# The peer runs queued (see harness.py) with SACK: the server's segments wait in its
# inbox, and a test lets them arrive one at a time, each ACKed at once. Pacing is off, so
# that what an ACK allows goes out at once, as the ACK's answer.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import UNPACED, Peer, Seg, Stack, window_of_20

BIG = "/files/huge.bin"  # 70 full segments
CUBIC, NEWRENO = 0, 1
RTT = 100  # ms


@pytest.fixture
def make_stack(make_stack: Callable[..., Stack]) -> Callable[..., Stack]:
    def make(**config: object) -> Stack:
        config.setdefault("options", UNPACED)
        return make_stack(**config)

    return make


def sends_per_ack(peer: Peer, count: int) -> list[int]:
    """Data segments sent in answer to each of the next `count` arrivals."""
    return [sum(1 for s in peer.deliver() if s.payload) for _ in range(count)]


def data(segs: list[Seg]) -> list[Seg]:
    return [s for s in segs if s.payload]


def test_prr_spreads_the_reduction_over_the_acks(make_stack: Callable[..., Stack]) -> None:
    """RFC 6937 3.1 (proportional part): with 20 segments in flight and one lost,
    pipe stays above ssthresh (0.7 x 20 = 14 for CUBIC, RFC 9438 4.6) through the
    recovery, and sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out: the
    server sends about 0.7 segment for every ACK, one for every 1/0.7 ACKs, never two
    for one ACK, where RFC 6675 alone sent nothing until pipe fell to cwnd and then one
    per ACK. The fast retransmit counts as the first of them (prr_out)."""
    stack = make_stack(cc=CUBIC)
    peer = window_of_20(stack)
    peer.lose_once(peer.inbox[0])
    assert data(peer.deliver()) == []  # segment 10 is lost
    lt = sends_per_ack(peer, 2)  # duplicate ACKs 1 and 2: limited transmit (RFC 3042)
    assert lt == [1, 1]
    first = data(peer.deliver())  # the third: recovery begins
    assert [s.resent for s in first] == [True]
    counts = sends_per_ack(peer, 16)  # the rest of the 20, and the two limited transmits
    assert max(counts) == 1, counts
    # After the entering ACK k ACKs have delivered k + 1 segments in all: the sends so
    # far are 0.7 (k + 1) less the fast retransmit, in whole segments (a segment goes
    # once a whole one is due: tcp_out.c), give or take one.
    for k in range(1, 17):
        want = 7 * (k + 1) // 10 - 1
        assert abs(sum(counts[:k]) - want) <= 1, (k, counts)
    assert sum(counts) in (10, 11), counts  # 0.7 x 17 deliveries, less the retransmit
    assert stack.stats()["rto_expired"] == 0


def test_prr_newreno_halves(make_stack: Callable[..., Stack]) -> None:
    """RFC 6937 3.1 with NewReno's ssthresh = FlightSize / 2 (RFC 5681 3.2 (4)): one
    segment sent for every second ACK of the recovery."""
    stack = make_stack(cc=NEWRENO)
    peer = window_of_20(stack)
    peer.lose_once(peer.inbox[0])
    peer.deliver(3)
    assert [s.resent for s in data(peer.deliver())] == [True]
    counts = sends_per_ack(peer, 16)
    assert max(counts) == 1, counts
    assert sum(counts) in (7, 8), counts  # 0.5 x 17 deliveries, less the retransmit


def test_prr_ssrb_after_a_burst_of_losses(make_stack: Callable[..., Stack]) -> None:
    """RFC 6937 3.1 (PRR-SSRB): when a burst of losses leaves pipe below ssthresh, the
    window grows back towards ssthresh by at most what each ACK delivered plus one MSS:
    with one segment delivered per ACK, at most two segments go for each ACK, never the
    burst that cwnd = ssthresh would release at once."""
    stack = make_stack(cc=CUBIC)
    peer = window_of_20(stack)
    lost = list(peer.inbox)[:12]
    peer.lose_once(*lost)  # 12 of 20 lost: pipe falls to 8, below ssthresh 14
    peer.deliver(12)
    counts = []
    while peer.inbox and not peer.inbox[0].resent:
        counts.append(sum(1 for s in peer.deliver() if s.payload))
    assert counts and max(counts) <= 2, counts
    assert stack.stats()["fast_retransmits"] == 1
