# tests/stack/test_retransmit.py: the retransmission timer (RFC 6298), fast retransmit
# (RFC 5681 3.2), giving up after repeated expiries (RFC 9293 3.8.3), and probing a
# zero window (RFC 9293 3.8.6.1).
#
# The handshake happens at one virtual instant, so its RTT sample is 0 and the RTO after
# it is the configured minimum; the tests that need the RFC 6298 1-second RTO set
# rto_min_ms=1000 (RFC 6298 2.4: "if it is less than 1 second, then the RTO SHOULD be
# rounded up to 1 second").
#
# Tail loss probes (RFC 8985 7, in test_loss_probes.py) would go out before these RTOs;
# this file tests the timer on its own, so its engines run with them off (options bit 2).
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import TCP, Peer, Site, Stack, get

NO_PROBES = 0b011  # timestamps and SACK accepted, loss probes off


@pytest.fixture
def make_stack(make_stack: Callable[..., Stack]) -> Callable[..., Stack]:
    def make(**config: object) -> Stack:
        config.setdefault("options", NO_PROBES)
        return make_stack(**config)

    return make


def test_rto_resends_same_bytes_and_doubles(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 6298 5.4: when the timer expires, retransmit the earliest segment not
    acknowledged, with the same bytes; 5.5: the RTO doubles ("back off the timer"), and
    ssdk's runs up to a quarter longer still, drawn anew at each expiry (so that
    connections with the same RTO do not time out in step); 5.6: the timer restarts
    with the new value."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/a"))
    assert [s.flags for s in first] == ["PA"]
    assert peer.advance(999) == []
    again = peer.advance(1)  # t = 1000 ms
    assert len(again) == 1
    assert (again[0].seq, again[0].flags, again[0].payload) == (
        first[0].seq, "PA", first[0].payload,
    )  # fmt: skip
    assert again[0].payload == site.expect("/a")
    assert peer.advance(1999) == []
    third = peer.advance_until(lambda s: True, limit_ms=501)  # 2 to 2.5 s after the first
    assert [(s.seq, s.payload) for s in third] == [(first[0].seq, first[0].payload)]
    assert peer.advance(3999) == []
    assert len(peer.advance_until(lambda s: True, limit_ms=1001)) == 1  # 4 to 5 s after
    st = stack.stats()
    assert (st["rto_expired"], st["retransmits"]) == (3, 3)
    # Once acknowledged, nothing more is sent.
    assert peer.ack() == []
    assert peer.advance(60_000 - stack.now_ms) == []


def test_rto_resends_only_the_first_segment_then_goes_on(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 6298 5.4 (the earliest unacknowledged segment only) and RFC 5681 3.1: after a
    timeout cwnd is one segment (the loss window); each ACK then lets more out, the rest
    of the flight going again from the template (go-back-N)."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/files/mid.bin"))
    assert len(first) == 4
    again = peer.advance(1000)
    assert [(s.seq, s.payload) for s in again] == [(first[0].seq, first[0].payload)]
    # ACK the first segment only: cwnd grows to two segments and the next two go.
    segs = peer.send("A", ack=first[1].seq)
    assert [s.seq for s in segs] == [first[1].seq, first[2].seq]
    assert [s.payload for s in segs] == [first[1].payload, first[2].payload]
    peer.drain()
    assert bytes(peer.stream) == site.expect("/files/mid.bin")
    assert stack.stats()["retransmits"] == 3


def test_rto_from_measured_rtt(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 2.2: after the first RTT measurement R, SRTT = R, RTTVAR = R/2 and
    RTO = SRTT + max(G, 4 * RTTVAR); a 100 ms handshake gives an RTO of 300 ms."""
    stack = make_stack()  # rto_min 200 ms does not bind here
    peer = Peer(stack)
    peer.syn()
    stack.advance(100)
    assert peer.send("A") == []
    first = peer.request(get("/a"))
    assert peer.advance(299) == []
    again = peer.advance(1)
    assert [(s.seq, s.payload) for s in again] == [(first[0].seq, first[0].payload)]


def test_rto_not_below_minimum(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 2.4: a computed RTO below the minimum is rounded up to it (here the
    configured 1 s, the RFC's value) even for a zero-time handshake."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/a"))
    assert peer.advance(999) == []
    assert len(peer.advance(1)) == 1


def test_default_rto_floor_is_linux_200_ms(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 2.4 lets the minimum be below 1 s; the default is Linux's TCP_RTO_MIN,
    200 ms (`--rto-min`, ssdk_config.rto_min_ms): after a zero-time handshake the first
    expiry comes exactly then, and the doubled one 400 ms later (RFC 6298 5.5), or up to
    a quarter more (the spread drawn at each expiry, tcp_timer.c)."""
    stack = make_stack()
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/a"))
    assert peer.advance(199) == []
    assert len(peer.advance(1)) == 1
    assert peer.advance(399) == []
    assert len(peer.advance_until(lambda s: True, limit_ms=101)) == 1


def test_rto_floor_is_on_the_variance_term(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 2.3, RTO = SRTT + max(G, K*RTTVAR), with the 200 ms floor taken for G as
    Linux takes TCP_RTO_MIN (its RTTVAR never below it): after a 50 ms handshake (SRTT
    50 ms, RTTVAR 25 ms) the first expiry comes at 250 ms, not at max(150, 200) ms. A
    floor on the sum would let queueing delay grow SRTT up to the RTO: spurious expiries
    through a shared bottleneck."""
    stack = make_stack()
    peer = Peer(stack)
    peer.syn()
    peer.advance(50)
    assert peer.send("A") == []  # the handshake's sample: 50 ms
    peer.request(get("/a"))
    assert peer.advance(249) == []
    assert len(peer.advance(1)) == 1


def test_rto_not_above_maximum(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 2.5: a maximum value may be placed on RTO; backoff stops there, and so
    does the spread a backed-off timer is drawn with: no wait is longer."""
    stack = make_stack(rto_min_ms=1000, rto_max_ms=3000, max_retries=10)
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/a"))
    times = []
    for _ in range(16_000):
        if peer.advance(1):
            times.append(stack.now_ms)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times[0] == 1000 and 2000 <= gaps[0] <= 2500, times
    assert gaps[1:] == [3000] * (len(gaps) - 1) and len(gaps) >= 4, times


def test_early_retransmit_with_three_segments_out(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 5827 (early retransmit) refining RFC 5681 3.2: with three segments out and
    nothing new to send, three duplicate ACKs can never come, so the threshold is two;
    the segment that appears lost (the first unacknowledged one) is resent exactly
    once, without waiting for the RTO. (The third-duplicate rule itself, with a full
    window, is in test_recovery.py.)"""
    peer.connect()
    first = peer.request(get("/files/mid.bin"))
    assert len(first) == 4
    lost = first[1]
    # The client got segments 0, 2 and 3; it ACKs 0, then once for each of 2 and 3:
    # two duplicates of the ACK for segment 0.
    at = lost.seq
    assert peer.send("A", ack=at) == []
    assert peer.send("A", ack=at) == []  # duplicate 1
    segs = peer.send("A", ack=at)  # duplicate 2
    assert len(segs) == 1
    assert (segs[0].seq, segs[0].payload, segs[0].flags) == (lost.seq, lost.payload, "A")
    assert peer.send("A", ack=at) == []  # a fourth does not resend it again
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"], st["rto_expired"]) == (1, 1, 0)
    # The cumulative ACK for everything ends recovery; nothing else goes.
    assert peer.ack() == []
    assert bytes(peer.stream) == site.expect("/files/mid.bin")


def test_duplicate_ack_counting_needs_outstanding_data(stack: Stack, peer: Peer) -> None:
    """RFC 5681 2 (definition of duplicate ACK, condition (a)): with nothing
    outstanding, repeated ACKs are not duplicates and trigger nothing."""
    peer.connect()
    peer.fetch(get("/a"))
    for _ in range(5):
        assert peer.ack() == []
    assert stack.stats()["fast_retransmits"] == 0


def test_gives_up_after_max_retries(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.8.3: after retransmitting R2 times without progress the connection is
    closed (here after max_retries expiries), with a reset to the peer (RFC 9293 3.10.7.4,
    "connection aborted")."""
    stack = make_stack(rto_min_ms=1000, max_retries=2)
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/a"))
    assert len(peer.advance(1000)) == 1  # retry 1
    assert len(peer.advance_until(lambda s: True, limit_ms=2501)) == 1  # retry 2
    segs = peer.advance_until(lambda s: True, limit_ms=5001)  # one expiry too many
    assert [s.flags for s in segs] == ["R"]
    st = stack.stats()
    assert (st["conns_timed_out"], st["conns_active"], st["rst_sent"]) == (1, 0, 1)


def test_zero_window_holds_data_back(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.8.6: a zero window means no data may be sent; a window update then
    lets the response out."""
    peer.connect()
    segs = peer.request(get("/a"), window=0)
    assert [(s.flags, s.payload) for s in segs] == [("A", b"")]  # the request is ACKed
    assert peer.rack(segs[0]) == peer.sent
    segs = peer.ack(window=65535)
    assert segs and bytes(peer.stream) == site.expect("/a")


def test_zero_window_is_probed_while_peer_answers(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.8.6.1: a sender facing a zero window MUST probe it, the first probe
    after an RTO and then with exponential backoff, and MUST keep the connection open
    as long as the receiver keeps acknowledging the probes. (With the send timeout off:
    RFC 6429 lets a sender give up on a persisting window to save its resources, which
    the send timeout does; test_send_timeout.py.)"""
    stack = make_stack(rto_min_ms=1000, max_retries=3, send_timeout_ms=0)
    peer = Peer(stack)
    peer.connect()
    # The request announces a zero window: the response cannot start.
    segs = peer.request(get("/a"), window=0)
    assert not any(s.payload for s in segs)
    probes = []
    for _ in range(6):  # more rounds than max_retries
        out = []
        for _ in range(70_000):
            out = peer.advance(1)
            if out:
                break
        assert out, f"no probe after probe {len(probes)}"
        probe = out[0]
        assert len(probe.payload) == 1
        probes.append(stack.now_ms)
        # The receiver still has no room: it acknowledges nothing new, window 0.
        peer.send("A", ack=peer.irs + 1, window=0)
    assert stack.stats()["conns_active"] == 1
    # RFC 6298 5.5 backoff: 1 s after the request, then 2, 4, 8, 16 and 32 s apart.
    assert probes == [1000, 3000, 7000, 15000, 31000, 63000]


def test_window_probe_after_rto_sends_one_byte(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 9293 3.8.6.1: the first zero-window probe goes after one RTO and carries one
    byte of new data past what was acknowledged."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    segs = peer.request(get("/a"), window=0)
    assert not any(s.payload for s in segs)
    assert peer.advance(999) == []
    probe = peer.advance(1)
    assert len(probe) == 1
    assert peer.rseq(probe[0]) == 1
    assert probe[0].payload == b"H"  # the first byte of "HTTP/1.1 200 OK"
    # The window opens: the rest follows.
    peer.drain()
    assert bytes(peer.stream) == site.expect("/a")


def test_ack_of_new_data_restarts_the_timer(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 5.3: when an ACK acknowledges new data, restart the timer so that it
    expires after RTO from now; the retransmission then comes RTO after that ACK, not
    after the first send. The ACK's 800 ms sample makes SRTT 100 ms and RTTVAR 200 ms,
    so RTO = SRTT + max(4 RTTVAR, the 1 s floor) = 1.1 s (2.3, the floor on the
    variance term as Linux puts it)."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/files/mid.bin"))
    assert len(first) == 4
    stack.advance(800)
    assert peer.send("A", ack=first[1].seq) == []  # segment 0 acknowledged at t = 800
    assert peer.advance(1099) == []  # t = 1899
    again = peer.advance(1)  # t = 1900
    assert [(s.seq, s.payload) for s in again] == [(first[1].seq, first[1].payload)]


def test_karn_no_sample_from_retransmission(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 3 (Karn's algorithm: no RTT sample from a retransmitted segment) and the
    note after 5.7 (a backed-off RTO stays until a new sample collapses it): the next
    response runs on the doubled RTO, 400 ms; a sample taken from the retransmission's
    250 ms would have given about 282 ms."""
    stack = make_stack()  # rto_min 200 ms: the zero-time handshake leaves RTO = 200 ms
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/a"))
    assert peer.advance(199) == []
    assert len(peer.advance(1)) == 1  # t = 200: RTO doubles to 400 ms
    stack.advance(50)
    assert peer.ack() == []  # t = 250: acknowledges the retransmission
    peer.request(get("/b"))
    assert peer.advance(399) == []
    again = peer.advance(1)  # t = 650
    assert len(again) == 1 and again[0].payload.startswith(b"HTTP/1.1 200 OK")
    assert first[0].payload != again[0].payload


def test_backoff_beyond_the_timer_wheel_span(make_stack: Callable[..., Stack]) -> None:
    """RFC 6298 5.5 over long times, default settings (RTO 200 ms after a zero-time
    handshake, 8 retries): each expiry comes when the doubled RTO says, or up to a
    quarter of it later (the spread drawn at each expiry, tcp_timer.c), also once the
    RTO exceeds the timer wheel's 4096 one-millisecond slots, and the ninth expiry
    gives up with a reset (RFC 9293 3.8.3). The send timeout, which would end it at
    60 s, is off (test_send_timeout.py)."""
    stack = make_stack(send_timeout_ms=0)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/a"))
    rto = 200
    for n in range(9):
        last = stack.now_ms
        spread = rto // 4 if n else 0  # the first expiry is the RTO's own
        assert peer.advance(rto - 1) == [], f"early, before {last + rto} ms"
        again = peer.advance_until(lambda s: True, limit_ms=spread + 1)
        if n == 8:
            assert [s.flags for s in again] == ["R"]
        else:
            assert [(s.seq, s.payload) for s in again] == [(first[0].seq, first[0].payload)]
        rto *= 2
    assert stack.stats()["conns_timed_out"] == 1


def test_window_updates_are_not_duplicate_acks(stack: Stack, peer: Peer) -> None:
    """RFC 5681 2 (DUPLICATE ACKNOWLEDGMENT, condition (e)): an ACK counts as a duplicate
    only if its advertised window equals the last one's; window updates from a receiver
    whose application reads slowly are not a sign of loss and trigger no retransmission
    (RFC 5681 3.2)."""
    peer.connect()
    first = peer.request(get("/files/mid.bin"))
    assert len(first) == 4
    una = first[1].seq
    assert peer.send("A", ack=una, window=20_000) == []
    for window in (30_000, 40_000, 50_000):  # the window opens, the ACK stays
        assert peer.send("A", ack=una, window=window) == []
    assert stack.stats()["fast_retransmits"] == 0


def test_window_closed_with_data_in_flight_is_probed(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 9293 3.8.6.1: the window may close while data is in flight (the receiver's
    application stopped reading); at the RTO the sender probes with one byte at
    SND.UNA instead of a full retransmission, backs off, keeps the connection while the
    probes are answered, and resumes when the window opens."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/files/big.bin"))
    assert len(first) == 10
    una = first[5].seq
    assert peer.send("A", ack=una, window=0) == []  # five segments read, buffer full
    for due in (1000, 2000, 4000, 8000):  # RTO from that ACK, then doubling
        assert peer.advance(due - 1) == []
        probe = peer.advance(1)
        assert [(s.seq, s.payload) for s in probe] == [(una, first[5].payload[:1])]
        assert peer.send("A", ack=una, window=0) == []  # still no room
    assert stack.stats()["conns_active"] == 1
    peer.drain()  # the reader catches up: everything received is acknowledged
    assert bytes(peer.stream) == site.expect("/files/big.bin")


def test_rto_resends_no_more_than_was_sent(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 6298 5.4 resends "the earliest segment that has not been acknowledged": what
    was sent, not a full segment's worth. A 500-byte window gets 500 bytes; when they
    time out, the resend is those 500 bytes, and SND.NXT never passes SND.MAX (a case
    fuzz_frames found: fuzz/crashes/frames-rto-resend-beyond-snd-max)."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack, window=500)
    peer.connect()
    first = peer.request(get("/files/mid.bin"))
    assert [len(s.payload) for s in first] == [500]
    again = peer.advance(1000)
    assert [(s.seq, len(s.payload)) for s in again] == [(first[0].seq, 500)]
    peer.window = 65535
    peer.ack()
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/files/mid.bin")


def test_resend_stops_at_the_response_end_and_fin_goes_as_fin(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """Recovery counts sequence space, and our FIN has a sequence number: a hole that
    reaches it must be resent as the response's last bytes plus a FIN, never as one more
    byte of data (found by fuzz_frames: fuzz/crashes/frames-resend-past-response-end).
    One segment and a FIN out, nothing new to send: a single duplicate ACK is enough
    (RFC 5827, early retransmit)."""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/a", headers=["Connection: close"]))
    assert [s.flags for s in first] == ["PA", "FA"]
    at = first[0].seq
    again = peer.send("A", ack=at)
    data = [s for s in again if s.payload]
    assert [(s.seq, len(s.payload)) for s in data] == [(at, len(first[0].payload))]
    assert any("F" in s.flags and s.seq == first[1].seq for s in again)


def test_connections_with_one_rto_do_not_time_out_in_step(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 6298 5.5 with a spread: twenty connections that started together over one
    path have the same RTO to the millisecond, and their first timeouts come together.
    Each backed-off timer then runs up to a quarter longer, drawn anew by each
    connection at each expiry, so by the third timeout they are spread over tens of
    milliseconds: their resends no longer reach a full queue in one millisecond, where
    the same ones were dropped every time (the bottleneck test's 200 downloads)."""
    stack = make_stack(rto_min_ms=200, max_conns=32)
    peers = [Peer(stack, sport=41000 + i) for i in range(20)]
    for p in peers:
        p.connect()
    by_port = {p.sport: p for p in peers}
    resends: dict[int, list[float]] = {p.sport: [] for p in peers}
    for p in peers:
        p.request(get("/a"))  # each answered at once, none acknowledged
    for _ in range(200 + 500 + 1000):
        for frame in stack.advance(1):
            port = frame[TCP].dport
            by_port[port].collect([frame])
            resends[port].append(stack.now_ms)
    assert all(len(times) == 3 for times in resends.values()), resends
    first = {times[0] for times in resends.values()}
    third = sorted(times[2] for times in resends.values())
    assert first == {200}
    for times in resends.values():
        assert 400 <= times[1] - times[0] <= 500 and 800 <= times[2] - times[1] <= 1000
    assert len(set(third)) >= 15 and third[-1] - third[0] >= 100, third
