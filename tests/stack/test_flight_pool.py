# tests/stack/test_flight_pool.py: what a connection keeps only while data is out
# (tcp/flight.c). The flight block (loss recovery, RACK, the controller's working
# state, pacing) is taken when a SYN-ACK, data or a FIN is to go and given back when
# all of it is acknowledged; the SACK scoreboard is taken with the first range the peer
# reports above a hole and given back when the cumulative ACK passes the last. Both
# show in gauges (flights_in_use, flights_peak, scoreboards_in_use). Between flights
# the congestion controller keeps its model in the control block: BBR resumes ProbeBW
# at its max_bw after idle time (draft-ietf-ccwg-bbr, BBRHandleRestartFromIdle).
from __future__ import annotations

from collections.abc import Callable

from bbr_path import LONG, PROP, start
from harness import Peer, Site, Stack, get

BIG = "/files/huge.bin"


def gauges(stack: Stack) -> tuple[int, int, int]:
    st = stack.stats()
    return st["flights_in_use"], st["flights_peak"], st["scoreboards_in_use"]


def test_handshake_takes_a_block_and_idle_gives_it_back(stack: Stack, site: Site) -> None:
    """A SYN-ACK is in flight (its loss timer and RTT sample need the block); once the
    handshake completes, and again once a response is acknowledged, an idle keep-alive
    connection holds none."""
    peer = Peer(stack)
    peer.syn()
    assert gauges(stack) == (1, 1, 0)
    peer.send("A")
    assert gauges(stack)[0] == 0
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    assert gauges(stack) == (0, 1, 0)


def test_block_held_while_data_is_out(stack: Stack, site: Site) -> None:
    """A response larger than the window: the block stays while any of it is
    unacknowledged, and goes when the last ACK comes."""
    stack.advance(1000)
    peer = Peer(stack, sack=True)
    peer.connect()
    peer.queued = True
    first = peer.request(get(BIG))
    assert len(first) == 10  # the initial window; the rest waits for ACKs
    assert gauges(stack)[0] == 1
    peer.deliver(5)
    assert gauges(stack)[0] == 1
    peer.deliver_all()
    assert peer.responses()[0].raw == site.expect(BIG)
    assert gauges(stack) == (0, 1, 0)


def test_scoreboard_from_first_sack_to_cumulative_ack(stack: Stack, site: Site) -> None:
    """RFC 2018 3: the scoreboard exists from the first range the peer holds above
    SND.UNA until the cumulative ACK passes the last one."""
    stack.advance(1000)
    peer = Peer(stack, sack=True)
    peer.connect()
    peer.queued = True
    first = peer.request(get(BIG))
    peer.lose_once(first[2])
    peer.deliver(3)  # 0 and 1 arrive in order, 2 is lost
    assert gauges(stack)[2] == 0
    peer.deliver()  # 3: a duplicate ACK with SACK [3, 4)
    assert peer.sack_blocks() and gauges(stack)[2] == 1
    peer.deliver_all()
    assert peer.responses()[0].raw == site.expect(BIG)
    assert gauges(stack) == (0, 1, 0)
    assert stack.stats()["fast_retransmits"] >= 1


def test_blocks_reused_by_connection_after_connection(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """Blocks given back are used again first: connections one after another touch one
    block, not one each (the pages in use follow the most held at once)."""
    stack = make_stack(max_conns=64)
    for port in range(40000, 40008):
        peer = Peer(stack, sport=port)
        peer.connect()
        resp, _ = peer.fetch(get("/b"))
        assert resp.raw == site.expect("/b")
    assert gauges(stack) == (0, 1, 0)


def test_sack_of_nothing_in_flight_is_ignored(stack: Stack, site: Site) -> None:
    """An ACK with SACK blocks while nothing of ours is out reports nothing we hold
    (RFC 2018 3: blocks cover data sent): no scoreboard is made, and the connection goes
    on serving."""
    peer = Peer(stack, sack=True)
    peer.connect()
    resp, segs = peer.fetch(get("/a"))
    end = segs[-1].seq + len(segs[-1].payload)
    peer.send("A", ack=end, sack=[(end - 10, end)])
    assert gauges(stack) == (0, 1, 0)
    resp, _ = peer.fetch(get("/b"))
    assert resp.raw == site.expect("/b")


def test_bbr_resumes_probe_bw_after_idle(make_stack: Callable[..., Stack]) -> None:
    """draft-ietf-ccwg-bbr, restarting from idle: the model (max_bw, min_rtt) outlives
    the flight, so a second response on the connection after a second of idle time goes
    out at the model's rate from its first round trip (about a BDP in it, where Startup
    from the initial window would send ten segments) and builds no queue (ProbeBW keeps
    what is in flight near the BDP; Startup would overshoot it). 500 segments a second
    at the bottleneck, a BDP of 51."""
    service = 2.0
    bdp = (PROP + service) / service
    path = start(make_stack, service=service)
    stack, peer = path.peer.stack, path.peer
    for _ in range(40):  # about 7 s at the bottleneck's rate
        path.run(500)
        if gauges(stack)[0] == 0:  # all of it acknowledged: no flight
            break
    assert len(peer.responses()[0].body) == 5_000_000
    path.run(1000)  # idle
    t0 = stack.now_ms
    path._count(peer.request(get(LONG)))
    path.run(1500)
    first = [t for t in path.ticks if t0 <= t.ms <= t0 + PROP + service]
    assert first[-1].sent - first[0].sent >= 0.7 * bdp, first[-1]
    later = [t for t in path.ticks if t.ms >= t0]
    assert max(t.inflight for t in later) <= bdp + 3, max(later, key=lambda t: t.inflight)
