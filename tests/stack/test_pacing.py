# tests/stack/test_pacing.py: the transmit round (tcp/tcp_sched.c). Connections with
# something to send take turns of one quantum each (two segments at these rates), so
# requests that arrive together are answered interleaved; each connection is paced at
# 2x cwnd/srtt in slow start (1.2x after), so a round trip's window is spread over the
# RTT rather than sent as one burst, after a first flight of at most ten segments; a
# full TX ring holds connections back without losing or resending anything; and an ACK
# a waiting connection owes goes in the same pass.
#
# Peers play rounds as in test_congestion.py: queued, every segment of a round trip
# arriving after RTT ms, so the stack's SRTT matches the rounds.
from __future__ import annotations

from collections.abc import Callable

from harness import UNPACED, Peer, Stack, get

BIG = "/files/huge.bin"  # 70 full segments
RTT = 100  # ms


def handshaken(stack: Stack, sport: int = 40000) -> Peer:
    """A queued peer whose handshake took one RTT, with a window that never limits."""
    peer = Peer(stack, sport=sport)
    peer.pass_ms = 0  # a flight's ACKs arrive in one instant: its pacing is what is seen
    assert [s.flags for s in peer.syn(mss=1460, wscale=7)] == ["SA"]
    assert peer.advance(RTT) == []
    assert peer.send("A") == []
    peer.queued = True
    return peer


def second_round(peer: Peer, ms: int) -> list[tuple[float, int]]:
    """Deliver and ACK the first flight all at once, then step the clock 1 ms at a
    time for `ms` ms; the (time, payload length) of each data segment sent."""
    n = len(peer.inbox)
    peer.advance(RTT)
    out = peer.deliver(n)
    for _ in range(ms):
        out += peer.advance(1)
    return [(s.at, len(s.payload)) for s in out if s.payload]


def test_pacing_spreads_a_round_over_the_rtt(make_stack: Callable[..., Stack]) -> None:
    """The first flight (IW10) goes at once. Its ACKs double cwnd to 20 segments; the
    next 20 go at 2 x cwnd / SRTT: a first burst of the credit a waiting connection
    keeps (ten segments' time at its rate, while the rate grows with each ACK), then a
    segment every few ms, all within the RTT; without pacing all 20 leave at once."""
    paced, unpaced = make_stack(), make_stack(options=UNPACED)
    spans = {}
    for name, stack in (("paced", paced), ("unpaced", unpaced)):
        peer = handshaken(stack)
        assert len(peer.request(get(BIG))) == 10
        sent = second_round(peer, RTT)
        assert sum(1 for _ in sent) == 20, (name, sent)
        times = [t for t, _ in sent]
        spans[name] = times[-1] - times[0]
        if name == "paced":
            per_ms: dict[float, int] = {}
            for t in times:
                per_ms[t] = per_ms.get(t, 0) + 1
            assert max(per_ms.values()) < 15, sent  # never the whole window at once
            assert len(per_ms) >= 5, sent
    assert spans["unpaced"] == 0
    assert 10 <= spans["paced"] <= RTT, spans  # seven or more segments 2.5 ms apart


def test_requests_arriving_together_are_answered_in_turns(
    make_stack: Callable[..., Stack],
) -> None:
    """Three requests for a large file in one pass: the connections take turns of two
    segments each (the quantum at these rates), so each has its first segments out
    before any has its whole window; without the round, the first would take all ten
    before the second had one."""
    stack = make_stack(options=UNPACED)
    peers = [handshaken(stack, 40001 + i) for i in range(3)]
    frames = []
    for p in peers:
        frames.append(p.frame("PA", get(BIG)))
        p.snd_nxt += len(get(BIG))
    order = [f["TCP"].dport for f in stack.send(*frames) if len(f["TCP"].payload)]
    assert len(order) == 30
    runs = [order[0]]
    lengths = [1]
    for port in order[1:]:
        if port == runs[-1]:
            lengths[-1] += 1
        else:
            runs.append(port)
            lengths.append(1)
    assert runs[:3] == [40001, 40002, 40003], order
    assert max(lengths) <= 2, order


def test_full_tx_ring_holds_back_without_loss(make_stack: Callable[..., Stack]) -> None:
    """A TX ring of four frames: each pass sends what fits, the rest waits its turn,
    and the whole file arrives in order with nothing sent twice."""
    stack = make_stack(ring_frames=4, options=UNPACED)
    peer = Peer(stack)
    peer.connect(mss=1460, wscale=7)
    peer.request(get(BIG))
    for _ in range(200):
        if not peer.ack():
            break
    stats = stack.stats()
    assert stats["tx_ring_full"] > 0
    assert stats["retransmits"] == 0
    body = peer.responses()[0].body
    assert len(body) == 100_000


def test_waiting_connection_owes_no_ack_past_the_pass(make_stack: Callable[..., Stack]) -> None:
    """A request that arrives while the connection waits for its pacing time is
    acknowledged in the same pass (alone, since its data may not go yet)."""
    stack = make_stack()
    peer = handshaken(stack)
    peer.request(get(BIG))
    second_round(peer, 0)  # the ACKs of the first flight: the rest is paced now
    before = len(peer.inbox)
    out = peer.send("PA", get("/"))
    assert out, "the request must be acknowledged in the pass it arrived in"
    assert out[-1].ack == peer.snd_nxt % 2**32
    assert len(peer.inbox) >= before
