# tests/stack/test_http_pools.py: what a connection's HTTP side holds only while in use
# (serve/slab.c; docs/architecture.md, "Memory per connection"). Each response in
# flight is an entry of the engine's response pool, taken as it is queued and given
# back when it is acknowledged or dropped; a request read in part (a header block not
# yet whole, a body still coming, the answer behind a 100 Continue) holds a request
# block, given back when nothing of it is left. A request that arrives whole is parsed
# without one. The gauges http_resp_entries_in_use and http_req_blocks_in_use (and
# http_req_blocks_peak, the most held at once) show both.
from __future__ import annotations

from collections.abc import Callable

from harness import RESPQ_DEPTH, Peer, Site, Stack, get
from holding import HoldingApp, answer_stream


def pools(stack: Stack) -> tuple[int, int]:
    """(response entries, request blocks) in use now."""
    st = stack.stats()
    return st["http_resp_entries_in_use"], st["http_req_blocks_in_use"]


def test_a_pipelined_burst_gives_every_entry_back(peer: Peer, site: Site) -> None:
    """Three times the queue's depth of requests in one segment: the queue holds at most
    RESPQ_DEPTH entries while the peer acknowledges nothing, and once it has
    acknowledged every response none is left. Whole requests take no request block."""
    paths = ["/a", "/b", "/c", "/"] * 3
    peer.connect()
    peer.queued = True  # nothing we are sent is acknowledged until we say
    peer.send("PA", b"".join(get(p) for p in paths))
    assert pools(peer.stack) == (RESPQ_DEPTH, 0)
    peer.deliver(1)  # the first responses acknowledged: the next requests take their places
    assert 0 < pools(peer.stack)[0] <= RESPQ_DEPTH
    peer.deliver_all()
    peer.queued = False
    peer.drain()
    assert [r.raw for r in peer.responses(len(paths))] == [site.expect(p) for p in paths]
    st = peer.stack.stats()
    assert pools(peer.stack) == (0, 0)
    assert st["http_req_blocks_peak"] == 0 and st["conns_active"] == 1


def test_whole_requests_take_no_request_block(peer: Peer, site: Site) -> None:
    """A request whose header block (and body, if any) is all in its segment is parsed
    and answered without a request block; so is one followed by a stray CRLF."""
    peer.connect()
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    resp, _ = peer.fetch(get("/b", headers=["Content-Length: 5"]) + b"hello\r\n")
    assert resp.raw == site.expect("/b")
    resp, _ = peer.fetch(get("/c", method="HEAD"), head_only=True)
    assert resp.raw == site.expect_head("/c")
    assert peer.stack.stats()["http_req_blocks_peak"] == 0
    assert pools(peer.stack) == (0, 0)


def test_a_request_in_many_segments_holds_one_block(peer: Peer, site: Site) -> None:
    """A header block sent a few bytes at a time holds one request block from its first
    segment to its last, and gives it back when it is whole and answered."""
    req = get("/b")
    peer.connect()
    for at in range(0, len(req) - 3, 3):
        assert [s.flags for s in peer.send("PA", req[at : at + 3])] == ["A"]
        assert pools(peer.stack) == (0, 1)
    peer.send("PA", req[len(req) - len(req) % 3 or len(req) - 3 :])
    assert pools(peer.stack)[1] == 0, "whole: its block is back at once"
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/b")
    st = peer.stack.stats()
    assert pools(peer.stack) == (0, 0) and st["http_req_blocks_peak"] == 1


def test_a_body_and_a_100_continue_hold_the_block_until_done(peer: Peer, site: Site) -> None:
    """Expect: 100-continue: the block holds the body's decoder and the answer that
    waits behind the 100 (two entries: the 100, then the answer); once the body is in
    and the answer acknowledged, nothing is held."""
    peer.connect()
    peer.request(get("/a", headers=["Expect: 100-continue", "Content-Length: 10"]))
    assert pools(peer.stack) == (1, 1)
    peer.request(b"01234")  # half the body; it acknowledges the 100
    assert pools(peer.stack)[1] == 1
    peer.request(b"56789")
    peer.drain()
    interim, answer = peer.responses(2)
    assert (interim.status, answer.raw) == (100, site.expect("/a"))
    assert pools(peer.stack) == (0, 0)


def test_two_partial_requests_hold_a_block_each(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """Blocks are per connection: two connections each in the middle of a request hold
    two; each gives its own back."""
    stack = make_stack()
    a, b = Peer(stack, sport=40001), Peer(stack, sport=40002)
    req = get("/a")
    for p in (a, b):
        p.connect()
        p.send("PA", req[:10])
    assert pools(stack) == (0, 2)
    a.send("PA", req[10:])
    a.drain()
    assert pools(stack) == (0, 1)
    b.send("PA", req[10:])
    b.drain()
    assert [p.responses()[0].raw for p in (a, b)] == [site.expect("/a")] * 2
    assert pools(stack) == (0, 0) and stack.stats()["http_req_blocks_peak"] == 2


def test_a_408_gives_the_block_back(make_stack: Callable[..., Stack]) -> None:
    """A request left in part holds its block until its header timeout; the 408 that
    answers it gives the block back as it starts (the connection is still open,
    closing), and its own entry goes once acknowledged."""
    stack = make_stack(header_timeout_ms=3000)
    peer = Peer(stack)
    peer.connect()
    peer.queued = True
    peer.send("PA", b"GET / HTTP/1.1\r\nHo")
    assert pools(stack) == (0, 1)
    peer.advance(3001)
    assert stack.stats()["http_408"] == 1
    assert pools(stack) == (1, 0), "the 408 in flight, the request's block back"
    assert stack.stats()["conns_active"] == 1
    peer.deliver_all()
    assert peer.responses()[0].status == 408
    assert pools(stack) == (0, 0)


def test_a_connection_gone_gives_everything_back(make_stack: Callable[..., Stack]) -> None:
    """A reset connection with responses unacknowledged and a request in part gives
    back both (on_gone)."""
    stack = make_stack()
    peer = Peer(stack)
    peer.connect()
    peer.queued = True
    peer.send("PA", get("/a") + get("/b") + b"GET /c HT")
    assert pools(stack) == (2, 1)
    peer.send("R")
    assert pools(stack) == (0, 0) and stack.stats()["conns_active"] == 0


# --- requests for the application ----------------------------------------------------------


def test_a_waiting_response_holds_its_entry_until_answered(held: tuple[Stack, HoldingApp]) -> None:
    """A request for the application waits in its response's entry (RK_WAIT) while the
    application holds it, however long; its answer takes the same entry, which goes
    back once acknowledged. Pipelined ones hold one entry each, answered in any order."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/a") + get("/api/b") + get("/api/c"))
    assert len(app.held) == 3
    assert pools(stack) == (3, 0)
    stack.advance(2000)
    assert pools(stack) == (3, 0), "waiting for the application: the entries stay"
    assert app.answer(2) and app.answer(1)
    peer.drain()
    assert pools(stack) == (3, 0), "b and c wait behind a, unsent"
    assert app.answer(0)
    peer.collect(stack.send())
    peer.drain()
    assert [r.raw for r in peer.responses(3)] == [answer_stream(n) for n in "abc"]
    assert pools(stack) == (0, 0)
    assert stack.stats()["http_req_blocks_peak"] == 0


def test_a_body_for_the_application_holds_a_block_while_it_comes(
    held: tuple[Stack, HoldingApp],
) -> None:
    """A POST whose body comes in parts keeps its decoder in a request block until the
    body is whole and the request goes up; one whose body came with it takes none."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/whole", method="POST", headers=["Content-Length: 4"]) + b"abcd")
    assert len(app.held) == 1 and pools(stack) == (1, 0)
    assert stack.stats()["http_req_blocks_peak"] == 0
    peer.request(get("/api/parts", method="POST", headers=["Content-Length: 8"]) + b"abc")
    assert len(app.held) == 1 and pools(stack) == (2, 1)
    peer.request(b"defgh")
    assert len(app.held) == 2 and pools(stack) == (2, 0)
    assert app.answer(0) and app.answer(1)
    peer.collect(stack.send())
    peer.drain()
    assert [r.raw for r in peer.responses(2)] == [answer_stream(n) for n in ("whole", "parts")]
    assert pools(stack) == (0, 0) and stack.stats()["http_req_blocks_peak"] == 1
