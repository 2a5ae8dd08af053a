# tests/stack/test_timeouts.py: the request-header, body and idle timeouts, and the
# client's FIN before its request is complete, which together bound how long a client
# can hold a connection slot without using it.
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from harness import Peer, Site, Stack, get, serving_app

import ssdk


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


# --- request bodies, and a client's FIN before its request is complete ---------------------

BODY_TIMEOUT_MS = 4000


def body_request(path: str = "/a", method: str = "GET", length: int = 100) -> bytes:
    return get(path, method=method, headers=[f"Content-Length: {length}"])


def test_body_that_stops_gets_408(make_stack: Callable[..., Stack], site: Site) -> None:
    """nginx's client_body_timeout: a body that stops arriving is answered 408 (RFC 9110
    15.5.9) and the connection closes, body_timeout_ms after its last byte came."""
    stack = make_stack(body_timeout_ms=BODY_TIMEOUT_MS, idle_ms=60000)
    peer = Peer(stack)
    peer.connect()
    resp, _ = peer.fetch(body_request() + b"x" * 10)  # answered; the body is read and dropped
    assert resp.raw == site.expect("/a")
    stack.advance(1000)
    peer.send("PA", b"y" * 10)  # the body's last byte: its clock starts again here
    last = stack.now_ms
    assert peer.advance(BODY_TIMEOUT_MS - 1) == []
    segs = peer.advance(1)
    assert any(s.has("F") for s in segs)
    assert peer.responses()[0].status == 408
    st = stack.stats()
    assert (st["body_timeouts"], st["http_408"]) == (1, 1)
    assert stack.now_ms == last + BODY_TIMEOUT_MS


def test_steady_body_is_not_cut(make_stack: Callable[..., Stack], site: Site) -> None:
    """The body timeout is the longest wait between two body bytes, not a bound on the
    whole body (as nginx's): 10 bytes every 3 s with a 4 s limit, 30 s in all, and the
    connection serves the next request."""
    stack = make_stack(body_timeout_ms=BODY_TIMEOUT_MS, idle_ms=60000)
    peer = Peer(stack)
    peer.connect()
    peer.fetch(body_request() + b"x" * 10)
    for _ in range(9):
        assert peer.advance(3000) == []
        peer.send("PA", b"y" * 10)
    resp, _ = peer.fetch(get("/b"))
    assert resp.raw == site.expect("/b")
    assert stack.stats()["body_timeouts"] == 0


def test_fin_during_incomplete_header(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.10.7.4 (eighth step): after the client's FIN no more bytes come, so an
    incomplete header block never completes. The connection closes at once (our FIN
    with the ACK of theirs), with no 408 and no wait for the header timeout."""
    stack = make_stack(header_timeout_ms=10000)
    peer = Peer(stack)
    peer.connect()
    peer.send("PA", b"GET / HTTP/1.1\r\nHo")
    segs = peer.send("FA")
    assert [s.flags for s in segs] == ["FA"] and peer.rack(segs[0]) == peer.sent
    assert peer.unread() == b""
    assert peer.send("A") == []
    st = stack.stats()
    assert (st["http_abandoned"], st["http_408"], st["conns_active"]) == (1, 0, 0)


def test_fin_during_incomplete_body(make_stack: Callable[..., Stack], site: Site) -> None:
    """The same for a body: the response was sent, its body is still being read when
    the FIN comes; the connection closes at once instead of waiting for the body or
    idle timeout."""
    stack = make_stack(body_timeout_ms=60000, idle_ms=60000)
    peer = Peer(stack)
    peer.connect()
    resp, _ = peer.fetch(body_request() + b"x" * 10)
    assert resp.raw == site.expect("/a")
    segs = peer.send("FA")
    assert [s.flags for s in segs] == ["FA"]
    assert peer.send("A") == []
    st = stack.stats()
    assert (st["http_abandoned"], st["conns_active"]) == (1, 0)


def test_complete_request_then_fin_is_answered(stack: Stack, peer: Peer, site: Site) -> None:
    """Only an incomplete request is cut: a whole request with its body, then the FIN
    (a client that half-closes after writing), is answered first."""
    peer.connect()
    peer.send("PA", body_request(length=5) + b"12345")
    peer.send("FA")
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    assert stack.stats()["http_abandoned"] == 0


def make_body_app() -> ssdk.App:
    app = ssdk.App()

    @app.dynamic("/api/upload", methods=["POST"])
    def upload(req: ssdk.Request) -> ssdk.Response:
        return ssdk.text(f"{len(req.body)} bytes")

    return app


def test_app_body_timeout(gate: threading.Event) -> None:
    """A request for the application whose body stops: 408 and close at the body
    timeout; the request never reaches the application."""
    with serving_app(make_body_app(), gate, body_timeout_ms=BODY_TIMEOUT_MS) as (stack, calls):
        peer = Peer(stack)
        peer.connect()
        stack.advance(1000)
        peer.request(body_request("/api/upload", "POST") + b"x" * 10)
        assert peer.advance(BODY_TIMEOUT_MS - 1) == []
        segs = peer.advance(1)
        assert any(s.has("F") for s in segs)
        assert peer.responses()[0].status == 408
        st = stack.stats()
        assert (st["body_timeouts"], st["dyn_requests"], calls.requests) == (1, 0, 0)


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
def test_app_body_cut_by_fin(gate: threading.Event, connection: str) -> None:
    """A client that closes before sending the whole body of a request for the
    application (one that asked to close after it too, as slowhttptest's slow POST
    does): the request is dropped unanswered and the slot freed at once."""
    with serving_app(make_body_app(), gate) as (stack, calls):
        peer = Peer(stack)
        peer.connect()
        head = get("/api/upload", method="POST",
                   headers=["Content-Length: 100", f"Connection: {connection}"])  # fmt: skip
        peer.request(head + b"x" * 10)
        segs = peer.send("FA")
        assert [s.flags for s in segs] == ["FA"]
        assert peer.unread() == b""
        assert peer.send("A") == []
        st = stack.stats()
        assert (st["http_abandoned"], st["dyn_requests"], st["conns_active"]) == (1, 0, 0)
        assert calls.requests == 0


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()
