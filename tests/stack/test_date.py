# tests/stack/test_date.py: the Date header (RFC 9110 6.6.1), written into the template at
# send time with an incremental checksum (RFC 1624), from the engine's clock. Every frame
# the harness takes out has its checksums recomputed by scapy, so a wrong delta fails.
from __future__ import annotations

from collections.abc import Callable

from harness import Peer, Site, Stack, get

# Sun, 06 Nov 1994 08:49:37 GMT: the example date of RFC 9110 5.6.7.
RFC_EXAMPLE_S = 784111777


def at(stack: Stack, unix_s: float) -> None:
    """Move the virtual clock (which counts from the epoch) to unix_s."""
    stack.engine.advance(unix_s * 1000 - stack.engine.now_us / 1000)


def test_date_is_the_current_second(stack: Stack, site: Site) -> None:
    """RFC 9110 6.6.1: an origin server with a clock MUST send Date, as an IMF-fixdate
    (5.6.7) of when the response was generated."""
    at(stack, RFC_EXAMPLE_S + 0.5)
    peer = Peer(stack)
    peer.connect()
    resp, _ = peer.fetch(get("/"))
    assert resp.date == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert resp.raw == site.expect("/")


def test_date_follows_the_clock_across_requests(stack: Stack) -> None:
    """A new second gives the next response a new date (rendered once a second)."""
    at(stack, RFC_EXAMPLE_S)
    peer = Peer(stack)
    peer.connect()
    first, _ = peer.fetch(get("/a"))
    peer.advance(5_000)  # less than the idle timeout
    second, _ = peer.fetch(get("/a"))
    assert (first.date, second.date) == (
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:42 GMT",
    )


def test_dates_across_years_and_leap_days(make_stack: Callable[..., Stack]) -> None:
    """The calendar arithmetic, checked by the harness against email.utils.formatdate."""
    for unix_s in (951782400, 1709164799, 4102444800 - 1, 253402300799):
        stack = make_stack()
        at(stack, unix_s)
        peer = Peer(stack)
        peer.connect()
        resp, _ = peer.fetch(get("/"))
        assert resp.date  # Peer.responses compared it with formatdate(unix_s)


def test_retransmission_repeats_the_original_date(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """docs/architecture.md (date.c): a response keeps the second it started in, so a
    segment sent again seconds later carries the same bytes and no response mixes two
    dates."""
    stack = make_stack(rto_min_ms=1000)
    at(stack, RFC_EXAMPLE_S)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/a"))
    assert first and first[0].payload.startswith(b"HTTP/1.1 200 OK")
    again = peer.advance(3000)  # not acknowledged: the RTO sends it again
    assert again and again[0].payload == first[0].payload
    assert b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" in again[0].payload


def test_date_split_across_segments_by_a_small_mss(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """With a peer MSS of 64 the date straddles two segments, both summed afresh; the
    reassembled header is still exact."""
    stack = make_stack()
    at(stack, RFC_EXAMPLE_S)
    peer = Peer(stack)
    peer.connect(mss=64)
    resp, segs = peer.fetch(get("/b"))
    assert resp.date == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert resp.raw == site.expect("/b")
    assert max(len(s.payload) for s in segs) == 64
