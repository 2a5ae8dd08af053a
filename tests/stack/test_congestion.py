# tests/stack/test_congestion.py: how the congestion window grows and shrinks: slow
# start (RFC 5681 3.1), the window after a loss (RFC 9438 4.6 for CUBIC, the default;
# RFC 5681 3.2 for NewReno, cc=1), congestion avoidance (RFC 9438 4.2-4.3, RFC 5681
# 3.1), and restarting after idle (RFC 5681 4.1).
#
# cwnd is not visible on the wire; it shows as how many segments are in flight. The
# peer runs queued (see harness.py) and plays rounds: every segment of one round trip
# arrives after RTT ms and is ACKed at once, and what the server sends meanwhile is
# the next round. The handshake takes the same RTT, so the stack's RTT estimate (and
# any timer derived from it) matches the rounds. huge.bin is 70 full segments, or 187
# with a peer MSS of 536 where a test needs the response to last more round trips.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import TEMPLATE_MSS, UNPACED, Peer, Stack, get

BIG = "/files/huge.bin"
CUBIC, NEWRENO = 0, 1
RTT = 100  # ms




@pytest.fixture
def make_stack(make_stack: Callable[..., Stack]) -> Callable[..., Stack]:
    """Engines without pacing: these tests count what one round trip sends as one
    burst, where pacing would spread it over the RTT (test_pacing.py covers that)."""

    def make(**config: object) -> Stack:
        config.setdefault("options", UNPACED)
        return make_stack(**config)

    return make


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


def rounds(peer: Peer, count: int) -> list[int]:
    """Data segments sent in each of the next `count` round trips."""
    sizes = []
    for _ in range(count):
        n = len(peer.inbox)
        if not n:
            break
        out = peer.advance(RTT)
        out += peer.deliver(n)
        sizes.append(sum(1 for s in out if s.payload))
    return sizes


def queued_peer(stack: Stack, wscale: int | None = 7, mss: int = 1460, **kw: object) -> Peer:
    """A peer whose handshake took one RTT; by default its window never limits."""
    peer = Peer(stack, **kw)  # type: ignore[arg-type]
    assert [s.flags for s in peer.syn(mss=mss, wscale=wscale)] == ["SA"]
    assert peer.advance(RTT) == []
    assert peer.send("A") == []
    peer.queued = True
    return peer


def lose_first(peer: Peer) -> None:
    """Request huge.bin and lose the first segment of its initial window."""
    first = peer.request(get(BIG))
    assert len(first) == 10
    peer.lose_once(first[0])


def test_slow_start_doubles_per_round_trip(stack: Stack) -> None:
    """RFC 5681 3.1: in slow start cwnd grows by SMSS for each ACK of a full segment,
    so with every segment ACKed the window doubles each round trip: 10, 20, 40."""
    peer = queued_peer(stack)
    first = peer.request(get(BIG))
    assert [len(first), *rounds(peer, 2)] == [10, 20, 40]


@pytest.mark.parametrize(
    ("cc", "ssthresh"),
    [
        (CUBIC, 7),
        pytest.param(NEWRENO, 5),
    ],
    ids=["cubic", "newreno"],
)
def test_window_after_a_loss(make_stack: Callable[..., Stack], cc: int, ssthresh: int) -> None:
    """On the third duplicate ACK, ssthresh = cwnd = 0.7 * cwnd for CUBIC (RFC 9438 4.6,
    beta_cubic) and max(FlightSize / 2, 2 * SMSS) for NewReno (RFC 5681 3.2 (4), where
    segments sent by limited transmit do not count): 7 and 5 segments for a loss in the
    initial window of 10. Recovery keeps that much in the network (RFC 6675 5), and the
    full ACK leaves exactly that much in flight (RFC 6582 3.2 (3))."""
    stack = make_stack(cc=cc)
    peer = queued_peer(stack)
    lose_first(peer)
    peer.advance(RTT)
    while True:  # the window arrives but for 0; then 0 again, a full ACK
        head = peer.inbox[0]
        peer.deliver()
        if head.resent:
            break
    in_flight = [s for s in peer.inbox if s.payload]
    assert len(in_flight) == ssthresh
    assert all(not s.resent for s in in_flight)


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param(CUBIC),
        NEWRENO,
    ],
    ids=["cubic", "newreno"],
)
def test_loss_while_window_limited_cuts_the_rate(make_stack: Callable[..., Stack], cc: int) -> None:
    """RFC 9438 4.6: ssthresh = flight_size * beta_cubic, and an implementation that
    uses cwnd instead MUST keep cwnd from growing while less than cwnd is in flight;
    RFC 5681 3.2 (4) likewise halves the FlightSize. Here the receiver's window holds
    the flight to 8 segments while ACKs keep coming; after a loss and its recovery the
    window opens wide, and for five round trips no round may carry more than the 8
    segments that were in flight at the loss (CUBIC: 5.6 segments and growth under one
    a round trip; NewReno: 4, then one more a round trip)."""
    stack = make_stack(cc=cc)
    peer = queued_peer(stack, wscale=None, window=8 * TEMPLATE_MSS)
    peer.request(get(BIG))
    assert rounds(peer, 3) == [8, 8, 8]
    peer.lose_once(peer.inbox[0])
    while not (peer.inbox and peer.inbox[0].resent):
        peer.deliver()
    peer.window = 65535
    peer.deliver()  # the retransmission arrives: recovery is over
    after = [len(peer.inbox), *rounds(peer, 4)]
    assert max(after) <= 8, after


def test_newreno_avoidance_adds_one_segment_per_round_trip(
    make_stack: Callable[..., Stack],
) -> None:
    """RFC 5681 3.1: above ssthresh, cwnd grows by about one full segment per round
    trip (equation 3), and MUST NOT grow by more than SMSS per round trip."""
    stack = make_stack(cc=NEWRENO)
    peer = queued_peer(stack, mss=536)
    lose_first(peer)
    sizes = rounds(peer, 8)[2:]  # the first two round trips are the recovery
    steps = [b - a for a, b in zip(sizes, sizes[1:], strict=False)]
    assert all(step in (0, 1) for step in steps), sizes
    assert sizes[-1] - sizes[0] >= 4, sizes


def test_cubic_avoidance_is_concave_and_bounded(make_stack: Callable[..., Stack]) -> None:
    """RFC 9438 4.2: after a loss at W_max = 10 segments the window starts from
    beta_cubic * W_max = 7 and follows W_cubic(t) = C (t - K)^3 + W_max, K = (W_max
    (1 - beta) / C)^(1/3) = 1.96 s: it grows (4.3, at least as fast as the
    Reno-friendly estimate's 0.53 segment a round trip), never shrinks without loss,
    never by more than half a round trip (the 1.5 * cwnd cap on the target), and in the
    first 600 ms, well inside K, it stays at or below W_max."""
    stack = make_stack(cc=CUBIC)
    peer = queued_peer(stack, mss=536)
    lose_first(peer)
    sizes = rounds(peer, 8)[2:]  # the first two round trips are the recovery
    assert all(a <= b <= 1.5 * a for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    assert sizes[-1] > sizes[0], sizes
    assert max(sizes) <= 10, sizes


def test_restart_window_after_idle(stack: Stack) -> None:
    """RFC 5681 4.1: a TCP SHOULD set cwnd to no more than the restart window,
    RW = min(IW, cwnd), before sending if it has sent nothing for longer than the RTO
    (RFC 9438 5.8 keeps idle time out of CUBIC's growth as well). After one response has
    grown the window to 80 segments and five seconds of quiet, the next one starts with
    at most the initial 10 segments."""
    peer = queued_peer(stack)
    peer.request(get(BIG))
    assert rounds(peer, 3) == [20, 40, 0]  # the whole response is in, all of it ACKed
    assert peer.advance(5000) == []
    peer.request(get(BIG))
    assert len(peer.inbox) <= 10


@pytest.mark.parametrize("cc", [CUBIC, NEWRENO], ids=["cubic", "newreno"])
def test_loss_found_in_a_batch_of_acks_cuts_from_the_window(
    make_stack: Callable[..., Stack], cc: int
) -> None:
    """RFC 9438 4.6 / RFC 5681 (4) with an engine that sends at the end of a pass: a
    whole flight's ACKs arrive in one batch (a round trip shorter than a pass, as at
    1 ms), the cumulative ones first, then the SACKs that show segment 14 of 20 lost.
    By then the flight is six segments and nothing has refilled it; the cut must be from
    what could be in flight (cwnd: 20 plus the 14 acknowledged in slow start), not from
    those six. After the recovery a round carries at least 0.7 (CUBIC) or 0.5 (NewReno)
    of the 20 sent before the loss."""
    stack = make_stack(cc=cc)
    peer = queued_peer(stack)
    peer.request(get("/files/long.bin"))
    assert rounds(peer, 1) == [20]
    flight = list(peer.inbox)
    peer.lose_once(flight[14])
    peer.advance(RTT)
    acks = []
    for seg in flight:
        peer.inbox.popleft()
        if peer.arrive(seg):
            acks.append(peer.frame("A"))
            peer.last_ack_sent = acks[-1]["TCP"].ack
    out = peer.collect(stack.send(*acks))  # one pass: the retransmission, and PRR's sends
    assert [s for s in out if s.resent] and len(out) <= 25
    sizes = rounds(peer, 3)  # the retransmission's full ACK ends the recovery
    assert min(sizes[1:]) >= (14 if cc == CUBIC else 10), sizes
