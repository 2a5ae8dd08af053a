# tests/stack/test_timeouts.py: the request-header timeout and the idle timeout, which
# together bound how long a client can hold a connection slot without using it.
from __future__ import annotations

from collections.abc import Callable

from harness import Peer, Site, Stack, get


def test_partial_request_gets_408_and_close(make_stack: Callable[..., Stack]) -> None:
    """RFC 9110 15.5.9: a server that will not wait any longer for a request may send
    408 (Request Timeout) and close. The header block must be complete within
    header_timeout_ms of its first byte."""
    stack = make_stack(header_timeout_ms=3000)
    peer = Peer(stack)
    peer.connect()
    assert [s.flags for s in peer.send("PA", b"GET / HTTP/1.1\r\nHo")] == ["A"]
    assert peer.advance(2999) == []
    segs = peer.advance(2)
    resp = peer.responses()[0]
    assert resp.status == 408
    assert resp.header("Connection") == "close"
    assert any("F" in s.flags for s in segs)
    assert stack.stats()["http_408"] == 1


def test_trickling_client_is_cut_off(make_stack: Callable[..., Stack]) -> None:
    """A client sending a byte every second keeps the connection busy but never
    finishes its header: the clock runs from the request's first byte, not from the
    last byte, so it is answered 408 at header_timeout_ms all the same."""
    stack = make_stack(header_timeout_ms=5000, idle_ms=60000)
    peer = Peer(stack)
    peer.connect()
    for ch in b"GET / HT":
        peer.send("PA", bytes([ch]))
        peer.advance(600)
    peer.advance(5000 - 8 * 600 + 1)
    assert peer.responses()[0].status == 408


def test_idle_timeout_runs_from_the_last_request(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """The idle timeout counts from the connection's last activity: a keep-alive client
    that sends its next request just before it runs out is served, and the clock starts
    again."""
    stack = make_stack(idle_ms=10000)
    peer = Peer(stack)
    peer.connect()
    peer.fetch(get("/a"))
    peer.advance(9000)
    resp, _ = peer.fetch(get("/b"))
    assert resp.raw == site.expect("/b")
    assert not any("F" in s.flags for s in peer.advance(9000))
    assert any("F" in s.flags for s in peer.advance(1001))


def test_complete_request_is_not_timed_out(make_stack: Callable[..., Stack], site: Site) -> None:
    """A request whose header arrives within the timeout, even in pieces, is served."""
    stack = make_stack(header_timeout_ms=3000)
    peer = Peer(stack)
    peer.connect()
    req = get("/a")
    peer.send("PA", req[:5])
    peer.advance(2500)
    peer.request(req[5:])
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    assert stack.stats()["http_408"] == 0
