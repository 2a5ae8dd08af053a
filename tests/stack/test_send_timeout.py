# tests/stack/test_send_timeout.py: the send timeout (nginx's send_timeout, 60 s by
# default). A connection we have data for that acknowledges nothing new for that long
# is reset and its slot freed: whether it answers zero-window probes (RFC 9293 3.8.6.1
# keeps such a connection open; RFC 6429 lets a sender give it up to save resources)
# or answers nothing at all (sooner than the retransmission give-up, RFC 9293 3.8.3).
# The clock is the time since SND.UNA last moved, not the length of the transfer.
from __future__ import annotations

from collections.abc import Callable

from harness import Peer, Site, Stack, get

SEND_TIMEOUT_MS = 5000


def reset_at(
    peer: Peer, answer: Callable[[], object] | None = None, limit_ms: int = 120_000
) -> float:
    """Step the clock until the server resets; after each other segment, answer().
    Returns the time of the reset."""
    for _ in range(limit_ms):
        for seg in peer.advance(1):
            if seg.has("R"):
                return peer.stack.now_ms
            if answer is not None:
                answer()
    raise AssertionError(f"no reset within {limit_ms} ms")


def test_zero_window_probed_until_the_send_timeout(make_stack: Callable[..., Stack]) -> None:
    """A client that never reads: its window stays zero and it answers every probe
    (so the retransmission give-up never comes). nginx's send_timeout: after that long
    without progress the connection is reset and the slot is free."""
    stack = make_stack(rto_min_ms=1000, send_timeout_ms=SEND_TIMEOUT_MS)
    peer = Peer(stack)
    peer.connect()
    start = stack.now_ms
    segs = peer.request(get("/files/big.bin"), window=0)
    assert not any(s.payload for s in segs)
    probes: list[float] = []

    def answer() -> None:
        probes.append(stack.now_ms)
        peer.send("A", ack=peer.irs + 1, window=0)  # no room: nothing new acknowledged

    at = reset_at(peer, answer)
    assert probes == [start + 1000, start + 3000]  # RFC 6298 5.5 backoff, then the limit
    assert at == start + SEND_TIMEOUT_MS
    st = stack.stats()
    assert (st["send_timeouts"], st["conns_active"], st["conns_timed_out"]) == (1, 0, 1)


def test_peer_that_stops_acknowledging(make_stack: Callable[..., Stack]) -> None:
    """A peer that takes the first window and then answers nothing: the RTO resends
    (200, 400, 800, 1600 ms apart, RFC 6298 5.5) until the send timeout, well before
    the eight retries (about 100 s) would end it."""
    stack = make_stack(send_timeout_ms=SEND_TIMEOUT_MS)
    peer = Peer(stack)
    peer.connect()
    start = stack.now_ms
    assert len(peer.request(get("/files/big.bin"))) == 10
    assert reset_at(peer) == start + SEND_TIMEOUT_MS
    st = stack.stats()
    assert (st["send_timeouts"], st["rto_expired"], st["conns_active"]) == (1, 4, 0)


def test_slow_progress_is_not_cut(make_stack: Callable[..., Stack], site: Site) -> None:
    """The timeout counts from the last ACK that moved SND.UNA, not from the start: a
    reader that takes a segment every 2 s, with a 3 s limit, gets the whole file over
    far longer than 3 s."""
    stack = make_stack(rto_min_ms=1000, send_timeout_ms=3000)
    peer = Peer(stack)
    peer.window = 1460  # one segment at a time
    peer.connect()
    start = stack.now_ms
    peer.request(get("/files/mid.bin"))
    while not peer.stream.endswith(site.bodies["/files/mid.bin"][1]):
        segs = peer.advance(2000)  # a resend of what the window held may come meanwhile
        segs += peer.ack()
        assert not any(s.has("R") for s in segs)
    assert stack.now_ms - start > 3000
    assert bytes(peer.stream) == site.expect("/files/mid.bin")
    assert stack.stats()["send_timeouts"] == 0


def test_the_clock_starts_when_data_is_due(make_stack: Callable[..., Stack], site: Site) -> None:
    """A keep-alive connection idle longer than the send timeout, then asked for a
    response it cannot take (zero window): the clock starts with that response, not
    with the last ACK before the pause."""
    stack = make_stack(rto_min_ms=1000, send_timeout_ms=3000, idle_ms=60000)
    peer = Peer(stack)
    peer.connect()
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    stack.advance(10_000)
    start = stack.now_ms
    peer.request(get("/b"), window=0)
    taken = peer.rcv_nxt  # a full receiver takes not even the probes' bytes
    assert reset_at(peer, lambda: peer.send("A", ack=taken, window=0)) == start + 3000


def test_unacknowledged_fin_in_last_ack(make_stack: Callable[..., Stack], site: Site) -> None:
    """LAST-ACK (RFC 9293 3.10.7.4): our FIN is resent until acknowledged; a peer that
    never acknowledges it is reset at the send timeout, like any data it does not take."""
    stack = make_stack(send_timeout_ms=SEND_TIMEOUT_MS)
    peer = Peer(stack)
    peer.connect()
    peer.fetch(get("/a"))
    start = stack.now_ms
    segs = peer.send("FA")
    assert [s.flags for s in segs] == ["FA"]  # LAST-ACK; the client never ACKs it
    assert reset_at(peer) == start + SEND_TIMEOUT_MS
    assert stack.stats()["conns_active"] == 0


def test_unacknowledged_fin_bounded_by_retries(make_stack: Callable[..., Stack]) -> None:
    """With the send timeout off, states after our FIN (FIN-WAIT-1 here) are bounded by
    the retransmission give-up (RFC 9293 3.8.3, R2): max_retries expiries, then reset."""
    stack = make_stack(send_timeout_ms=0, max_retries=2)
    peer = Peer(stack)
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: close"]))
    assert [s.flags for s in segs] == ["PA", "FA"]
    start = stack.now_ms
    peer.send("A", ack=segs[1].seq)  # the data, not the FIN: FIN-WAIT-1 stays
    # the tail probe (10 ms: no SACK), then the third expiry gives up; the backed-off
    # timers run up to a quarter longer (the spread drawn at each expiry, tcp_timer.c)
    assert start + 10 + 200 + 400 + 800 <= reset_at(peer) <= start + 10 + 200 + 500 + 1000
    st = stack.stats()
    assert (st["conns_timed_out"], st["send_timeouts"], st["conns_active"]) == (1, 0, 0)


def test_fin_wait_1_behind_a_zero_window(make_stack: Callable[..., Stack]) -> None:
    """FIN-WAIT-1 with data still held back by a zero window the peer keeps answering
    probes for: no retry count ends it, the send timeout does."""
    stack = make_stack(rto_min_ms=1000, send_timeout_ms=SEND_TIMEOUT_MS)
    peer = Peer(stack)
    peer.connect()
    start = stack.now_ms
    peer.request(get("/files/big.bin", headers=["Connection: close"]), window=0)
    assert reset_at(peer, lambda: peer.send("A", ack=peer.irs + 1, window=0)) == (
        start + SEND_TIMEOUT_MS
    )
    assert stack.stats()["send_timeouts"] == 1


def test_closing_is_bounded(make_stack: Callable[..., Stack]) -> None:
    """CLOSING (RFC 9293 3.6, simultaneous close): the client's FIN crossed ours and it
    never acknowledges ours; our FIN is resent until the send timeout."""
    stack = make_stack(send_timeout_ms=SEND_TIMEOUT_MS)
    peer = Peer(stack)
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: close"]))
    start = stack.now_ms
    assert [s.flags for s in peer.send("FA", ack=segs[1].seq)] == ["A"]  # CLOSING
    assert reset_at(peer) == start + SEND_TIMEOUT_MS
    assert stack.stats()["conns_active"] == 0


def test_sacks_that_never_move_snd_una(make_stack: Callable[..., Stack]) -> None:
    """A SACK peer that acknowledges everything but the response's first segment, which
    never reaches it: its ACKs keep coming (SACK blocks, RFC 2018) and recovery keeps
    resending, but SND.UNA never moves, so the send timeout ends it all the same."""
    stack = make_stack(send_timeout_ms=SEND_TIMEOUT_MS)
    peer = Peer(stack, sack=True)
    peer.connect()
    peer.lose = lambda seg: peer.offset(seg) == 0  # the first segment, every time
    start = stack.now_ms
    segs = peer.request(get("/files/big.bin"))
    assert segs and segs[0].lost
    acks = 0

    def answer() -> None:
        nonlocal acks
        acks += 1
        peer.ack()

    for _ in segs[1:]:  # a duplicate ACK with SACK blocks for each that arrived
        peer.ack()
    assert reset_at(peer, answer) == start + SEND_TIMEOUT_MS
    assert acks > 0 and stack.stats()["sack_blocks"] > 0
    assert stack.stats()["send_timeouts"] == 1
