# tests/stack/test_flow.py: how much the stack sends at once: the peer's window (RFC
# 9293 3.8.6) and its scaling (RFC 7323 2), sender-side silly window avoidance (RFC 9293
# 3.8.6.2.1), the initial window (RFC 6928) and slow start (RFC 5681 3.1).
from __future__ import annotations

from collections.abc import Callable

from harness import RX_WINDOW, TEMPLATE_MSS, UNPACED, Peer, Seg, Site, Stack, get


def in_flight(peer: Peer, segs: list[Seg], acked: int) -> int:
    """Bytes sent past the relative sequence number `acked` (1 = first data byte)."""
    ends = [peer.rseq(s) + len(s.payload) for s in segs if s.payload]
    return max(ends) - acked if ends else 0


def test_peer_window_limits_flight(stack: Stack, site: Site) -> None:
    """RFC 9293 3.8.6: the sender may not have more unacknowledged data than the
    receiver's window; with a 2000-byte window one full segment fits and the next must
    wait (a partial one would be silly window syndrome, RFC 9293 3.8.6.2.1)."""
    peer = Peer(stack, window=2000)
    peer.connect()
    segs = peer.request(get("/files/mid.bin"))
    data = [s for s in segs if s.payload]
    assert [len(s.payload) for s in data] == [TEMPLATE_MSS]
    expected = site.expect("/files/mid.bin")
    while len(peer.stream) < len(expected):
        acked = len(peer.stream) + 1  # what the ACK below acknowledges
        segs = peer.ack()
        assert segs, "stalled"
        assert in_flight(peer, segs, acked) <= 2000
        assert len(segs) == 1  # one full segment at a time, or the short last one
    assert bytes(peer.stream) == expected


def test_window_smaller_than_mss(stack: Stack, site: Site) -> None:
    """RFC 9293 3.8.6.2.1: with nothing in flight and a window below one segment, the
    sender sends what the window allows rather than waiting forever."""
    peer = Peer(stack, window=1000)
    peer.connect()
    segs = peer.request(get("/files/mid.bin"))
    assert [len(s.payload) for s in segs] == [1000]
    segs = peer.ack()
    assert [len(s.payload) for s in segs] == [1000]
    assert peer.rseq(segs[0]) == 1001
    peer.drain()
    assert bytes(peer.stream) == site.expect("/files/mid.bin")


def test_window_update_reopens(stack: Stack, site: Site) -> None:
    """RFC 9293 3.8.6: a later ACK's window replaces the earlier one; a larger window
    lets more out at once."""
    peer = Peer(stack, window=1500)
    peer.connect()
    assert len(peer.request(get("/files/mid.bin"))) == 1
    peer.window = 65535
    segs = peer.ack()
    assert len(segs) == 3  # the rest of the four segments, now that the window allows
    assert bytes(peer.stream) == site.expect("/files/mid.bin")


def test_window_scale_applies_to_later_segments(stack: Stack, site: Site) -> None:
    """RFC 7323 2.2-2.3: after both sides sent the option, the window field of every
    segment but the SYN is shifted left by the peer's scale; 500 << 2 = 2000 bytes."""
    peer = Peer(stack)
    peer.connect(wscale=2)
    segs = peer.request(get("/files/big.bin"), window=500)  # 2000 bytes
    assert [len(s.payload) for s in segs if s.payload] == [TEMPLATE_MSS]
    # 1000 << 2 = 4000 bytes: two full segments fit, a third does not. Unscaled, 1000
    # bytes would allow only a short segment.
    segs = peer.ack(window=1000)
    assert [len(s.payload) for s in segs] == [TEMPLATE_MSS, TEMPLATE_MSS]
    assert in_flight(peer, segs, TEMPLATE_MSS + 1) <= 4000


def test_window_scale_ignored_without_option(stack: Stack) -> None:
    """RFC 7323 2.2: without a window scale option in the SYN, no scaling is in effect;
    a window of 1000 is 1000 bytes."""
    peer = Peer(stack)
    peer.connect()
    segs = peer.request(get("/files/big.bin"), window=1000)
    assert [len(s.payload) for s in segs] == [1000]


def test_initial_window_is_ten_segments(stack: Stack, peer: Peer) -> None:
    """RFC 6928 2: the initial window is min(10*MSS, max(2*MSS, 14600)) bytes; with MSS
    1448 that is ten full segments, and the eleventh waits for an ACK."""
    peer.connect()
    segs = peer.request(get("/files/big.bin"))
    assert [len(s.payload) for s in segs] == [TEMPLATE_MSS] * 10
    assert [peer.rseq(s) for s in segs] == [1 + i * TEMPLATE_MSS for i in range(10)]


def test_initial_window_small_mss(stack: Stack, peer: Peer) -> None:
    """RFC 6928 2: with MSS 536, 10*MSS = 5360 is below 14600: still ten segments."""
    peer.connect(mss=536)
    segs = peer.request(get("/files/big.bin"))
    assert [len(s.payload) for s in segs] == [536] * 10


def test_slow_start_counts_every_acknowledged_byte_when_paced(
    make_stack: Callable[..., Stack],
) -> None:
    """RFC 5681 3.1 with RFC 3465 2.2's byte counting: cwnd grows by what each ACK
    acknowledges. Paced, the limit L on that is not needed (it bounds the burst of an
    unpaced sender), so, as Linux does, every byte counts: one ACK for the whole initial
    window lets twenty segments go; an ACK of one segment frees one and adds one."""
    peer = Peer(make_stack())
    peer.connect(mss=536)  # small segments, so the response outlasts these rounds
    first = peer.request(get("/files/big.bin"))
    assert len(first) == 10
    segs = peer.ack()
    assert [len(s.payload) for s in segs] == [536] * 20
    out = peer.send("A", ack=segs[0].seq + 536)
    assert [peer.rseq(s) for s in out] == [1 + 536 * n for n in (30, 31)]


def test_slow_start_counts_two_segments_per_ack_unpaced(
    make_stack: Callable[..., Stack],
) -> None:
    """RFC 3465 2.2: an unpaced sender counts at most L = 2 SMSS per ACK, so one ACK
    for the whole initial window releases twelve segments, not twenty at once."""
    peer = Peer(make_stack(options=UNPACED))
    peer.connect(mss=536)
    assert len(peer.request(get("/files/big.bin"))) == 10
    segs = peer.ack()
    assert [len(s.payload) for s in segs] == [536] * 12


def test_our_window_is_what_the_request_buffer_has_left(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.8.6: the window we advertise is the room left for request bytes; a
    partial header block shrinks it until the request is consumed."""
    sa = peer.connect()
    assert sa.win == RX_WINDOW
    segs = peer.request(b"GET /a HTTP/1.1\r\n")
    assert segs[0].win == RX_WINDOW - 17
    segs = peer.request(b"Host: x\r\n\r\n")
    assert segs[0].win == RX_WINDOW


def test_data_beyond_our_window_is_trimmed(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4: only the part of a segment inside the receive window is taken
    (and acknowledged); the rest must be sent again later. Here the header block then
    fills the whole buffer without ending, which is answered with 431."""
    peer.connect()
    start = b"GET /a HTTP/1.1\r\nX: " + b"a" * 3000
    segs = peer.request(start)
    assert segs[-1].win == RX_WINDOW - len(start)  # 1076 bytes of window left
    segs = peer.request(b"b" * 1460)
    assert peer.rack(segs[0]) == 1 + RX_WINDOW  # only up to the window's edge
    assert segs[0].payload.startswith(b"HTTP/1.1 431 ")


def test_window_scale_above_14_is_capped(stack: Stack) -> None:
    """RFC 7323 2.3: a shift count above 14 MUST be taken as 14. With a window field of
    1 and shift 15 claimed, the peer's window is 1 << 14 = 16384 bytes: the third round
    of slow start (cwnd 12 segments = 17376 bytes) is cut to 11 segments by it, where
    an uncapped 32768 would have let all 12 go."""
    peer = Peer(stack)
    peer.connect(wscale=15)
    peer.window = 1
    assert len(peer.request(get("/files/huge.bin"))) == 10  # cwnd 10 segments
    assert len(peer.ack()) == 11  # cwnd 11 segments = 15928 bytes, below 16384
    segs = peer.ack()  # cwnd 12 segments, window 16384
    assert [len(s.payload) for s in segs] == [TEMPLATE_MSS] * 11


def test_slow_start_grows_by_a_batch_of_acks_as_by_one(
    make_stack: Callable[..., Stack],
) -> None:
    """RFC 5681 3.1 with RFC 7661's test of whether the window limits the sender: the
    initial window's ten ACKs, one per segment, reach the engine in one batch (one pass),
    so the flight falls to nothing before anything is sent again. The window was used
    all the same (it was full when the data went), and grows by all ten: twenty
    segments go out in the next round trip, as after one ACK of the whole window."""
    peer = Peer(make_stack())
    peer.connect()
    peer.queued = True
    peer.request(get("/files/long.bin"))
    first = list(peer.inbox)
    assert len(first) == 10
    peer.advance(20)
    acks = []
    for seg in first:
        peer.inbox.popleft()
        assert peer.arrive(seg)
        acks.append(peer.frame("A"))
        peer.last_ack_sent = acks[-1]["TCP"].ack
    out = peer.collect(peer.stack.send(*acks))
    for _ in range(19):  # paced over the round trip
        out += peer.advance(1)
    assert sum(1 for s in out if s.payload) == 20
