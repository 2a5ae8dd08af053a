# tests/stack/test_rxbuf.py: the receive buffers (tcp/rxbuf.c). A connection holds a
# pooled 4 KiB buffer only while it holds request bytes: a request that arrives whole
# in one segment is read where it lies and takes none; a partial one takes one until it
# completes. The receive window follows the buffer, or for a connection without one
# what the pool can still give (RFC 9293 3.8.6); a pool that runs dry shows new
# partial requests a window of 0, and when buffers come back the window is sent again
# (RFC 9293 3.8.6.2.2). The right edge already advertised is not moved back (RFC 9293
# 3.8.6.2.1) while the pool's reserve lasts.
from __future__ import annotations

import json
import threading
from collections.abc import Callable

from harness import MOD, RX_WINDOW, Peer, Seg, Site, Stack, get, serving_app
from scapy.layers.inet import TCP

import ssdk

PARTIAL = b"GET /a HTTP/1.1\r\nHost: te"  # a request begun, not finished
REST = b"st\r\n\r\n"  # ...and its end: PARTIAL + REST == get("/a")


def in_use(stack: Stack) -> int:
    return stack.stats()["rx_buffers_in_use"]



def test_whole_request_takes_no_buffer(stack: Stack, site: Site) -> None:
    """A request in one segment is answered from the RX frame: no buffer is taken, and
    every ACK shows the whole window."""
    peer = Peer(stack)
    peer.connect()
    resp, segs = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    assert all(s.win == RX_WINDOW for s in segs)
    st = stack.stats()
    assert (st["rx_buffers_in_use"], st["rx_buffers_peak"]) == (0, 0)
    assert st["rx_read_in_frame"] >= 1


def test_request_byte_by_byte_takes_one_buffer(stack: Stack, site: Site) -> None:
    """RFC 9293 3.8.6: each byte held narrows the window by one; the request, complete,
    gives its buffer back and the window is whole again."""
    peer = Peer(stack)
    peer.connect()
    req = get("/a")
    for i, ch in enumerate(req[:-1]):
        segs = peer.send("PA", bytes([ch]))
        assert [(s.flags, s.win) for s in segs] == [("A", RX_WINDOW - i - 1)]
        assert in_use(stack) == 1
    segs = peer.send("PA", req[-1:])
    segs += peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    assert segs[-1].win == RX_WINDOW
    st = stack.stats()
    assert (st["rx_buffers_in_use"], st["rx_buffers_peak"]) == (0, 1)


def test_request_in_three_parts(stack: Stack, site: Site) -> None:
    """Three segments: the first two wait in one buffer, the third completes them."""
    peer = Peer(stack)
    peer.connect()
    req = get("/b")
    parts = [req[:7], req[7:20], req[20:]]
    assert [s.win for s in peer.send("PA", parts[0])] == [RX_WINDOW - 7]
    assert [s.win for s in peer.send("PA", parts[1])] == [RX_WINDOW - 20]
    assert in_use(stack) == 1
    peer.send("PA", parts[2])
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/b")
    assert in_use(stack) == 0


def test_pool_exhausted_closes_window_then_reopens(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """Two buffers, three partial requests: the third finds none. Its bytes are not
    acknowledged (nothing is lost: the peer still holds them) and the window is 0;
    a zero-window probe (RFC 9293 3.8.6.1) is answered with 0 too. When the first
    request completes, its buffer comes back and the third is sent the window again
    (RFC 9293 3.8.6.2.2) in the same pass; it sends its bytes again and is served."""
    stack = make_stack(rx_buffers=2)
    a, b, c = (Peer(stack, sport=p) for p in (40001, 40002, 40003))
    for p in (a, b, c):
        p.connect()
    for p in (a, b):
        assert [(s.flags, s.win) for s in p.send("PA", PARTIAL)] == [
            ("A", RX_WINDOW - len(PARTIAL))
        ]
    start = c.snd_nxt
    segs = c.send("PA", PARTIAL)
    assert [(s.flags, s.ack, s.win) for s in segs] == [("A", start, 0)]
    st = stack.stats()
    assert (st["rx_buffers_in_use"], st["rx_buffer_refused"], st["rx_window_closed"]) == (2, 1, 1)
    probe = c.send("A", PARTIAL[:1], seq=start)
    assert [(s.ack, s.win) for s in probe] == [(start, 0)]
    out = a.send_split("PA", REST)
    assert a.responses()[0].raw == site.expect("/a")
    assert [(s.flags, s.ack, s.win) for s in out[c.sport]] == [("A", start, RX_WINDOW)]
    assert stack.stats()["rx_window_updates"] == 1
    c.snd_nxt = start
    assert [s.win for s in c.send("PA", PARTIAL)] == [RX_WINDOW - len(PARTIAL)]
    c.send("PA", REST)
    c.drain()
    assert c.responses()[0].raw == site.expect("/a")
    b.send("PA", REST)
    b.drain()
    assert b.responses()[0].raw == site.expect("/a")
    assert in_use(stack) == 0


def test_whole_request_served_with_pool_exhausted(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """With every buffer held, a request that arrives whole still needs none: it is
    read in the frame and answered."""
    stack = make_stack(rx_buffers=1)
    a, b = Peer(stack, sport=40001), Peer(stack, sport=40002)
    a.connect()
    b.connect()
    a.send("PA", PARTIAL)
    assert in_use(stack) == 1
    resp, _ = b.fetch(get("/b"))
    assert resp.raw == site.expect("/b")
    assert stack.stats()["rx_buffer_refused"] == 0


def test_fin_behind_given_back_bytes_waits(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.10.7.4: a FIN is taken only in sequence, after all the data before it.
    Bytes no buffer could keep are not acknowledged, so the FIN behind them is not either:
    the connection stays open, and the peer sends both again."""
    stack = make_stack(rx_buffers=1)
    a, b = Peer(stack, sport=40001), Peer(stack, sport=40002)
    a.connect()
    b.connect()
    a.send("PA", PARTIAL)
    start = b.snd_nxt
    segs = b.send("FPA", PARTIAL)
    assert [(s.flags, s.ack, s.win) for s in segs] == [("A", start, 0)]
    assert stack.stats()["http_abandoned"] == 0


def test_fin_after_a_whole_request_with_the_pool_dry(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """A request that arrives whole with the FIN is read in the frame even with no
    buffer left; nothing is left unread, so the FIN is taken in the same segment: the
    response goes, then our FIN (RFC 9293 3.10.7.4, eighth step; RFC 9112 9.6)."""
    stack = make_stack(rx_buffers=1)
    a, b = Peer(stack, sport=40001), Peer(stack, sport=40002)
    a.connect()
    b.connect()
    a.send("PA", PARTIAL)
    req = get("/b")
    segs = b.send("FPA", req)
    assert segs[0].ack == b.snd_nxt  # the request and the FIN
    segs += b.drain()
    assert b.responses()[0].raw == site.expect("/b")
    assert any("F" in s.flags for s in segs)


def test_buffer_reused_after_408(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 9110 15.5.9: the partial request that holds the only buffer times out with
    408 and a close; the buffer goes back and serves the connection that waited."""
    stack = make_stack(rx_buffers=1, header_timeout_ms=3000)
    a, b = Peer(stack, sport=40001), Peer(stack, sport=40002)
    a.connect()
    b.connect()
    a.send("PA", PARTIAL)
    start = b.snd_nxt
    assert [(s.ack, s.win) for s in b.send("PA", PARTIAL)] == [(start, 0)]
    stack.engine.advance(3001)
    frames = stack.take()
    a.collect([f for f in frames if f[TCP].dport == a.sport])
    to_b = [Seg.of(f) for f in frames if f[TCP].dport == b.sport]
    assert a.responses()[0].status == 408
    assert [(s.flags, s.ack, s.win) for s in to_b] == [("A", start, RX_WINDOW)]
    b.snd_nxt = start
    b.send("PA", PARTIAL)
    assert in_use(stack) == 1
    b.send("PA", REST)
    b.drain()
    assert b.responses()[0].raw == site.expect("/a")
    assert in_use(stack) == 0


def test_buffer_returned_on_reset_and_on_fin(stack: Stack) -> None:
    """A partial request's buffer goes back when the connection goes: reset by the peer
    (RFC 9293 3.10.7.4, an exact RST), or closed by it before the request was complete
    (nothing more will come to complete it)."""
    r, f = Peer(stack, sport=40001), Peer(stack, sport=40002)
    r.connect()
    f.connect()
    r.send("PA", PARTIAL)
    f.send("PA", PARTIAL)
    assert in_use(stack) == 2
    r.send("R")
    assert in_use(stack) == 1
    f.send("FA")
    assert in_use(stack) == 0
    st = stack.stats()
    assert (st["conns_reset"], st["http_abandoned"]) == (1, 1)


def test_pipelined_beyond_the_queue_wait_in_a_buffer(stack: Stack, site: Site) -> None:
    """Six requests in one segment, more than the response queue holds: the ones that
    cannot be taken yet are copied into a buffer, all are answered in order, and the
    buffer goes back once the last is read."""
    peer = Peer(stack)
    peer.connect()
    paths = ["/a", "/b", "/c", "/", "/a", "/b"]
    peer.send("PA", b"".join(get(p) for p in paths))
    assert in_use(stack) == 1
    peer.drain()
    assert [r.raw for r in peer.responses(len(paths))] == [site.expect(p) for p in paths]
    st = stack.stats()
    assert (st["rx_buffers_in_use"], st["rx_buffers_peak"]) == (0, 1)


def test_out_of_order_held_in_a_buffer_then_joined(stack: Stack, site: Site) -> None:
    """RFC 9293 3.10.7.4: a segment beyond a gap is held (in a buffer it takes) and
    reported in a SACK block (RFC 2018); the gap filled, the request is whole."""
    peer = Peer(stack, sack=True)
    peer.connect()
    req = get("/a")
    start = peer.snd_nxt
    segs = peer.send("PA", req[10:], seq=start + 10)
    assert segs[0].ack == start and segs[0].sack == [(start + 10, start + len(req))]
    assert in_use(stack) == 1
    peer.send("PA", req[:10])
    peer.snd_nxt = (start + len(req)) % MOD
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    assert in_use(stack) == 0


def test_reserve_keeps_the_window_already_advertised(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 9293 3.8.6.2.1: the right edge advertised is not moved back. With 32 buffers
    the pool keeps 2 in reserve: once only those are left, a new connection's SYN-ACK
    shows a window of 0, but one already shown the whole window may still send a
    partial request (it is acknowledged, from the reserve); a whole request read in the
    frame narrows an old window only by what it took."""
    stack = make_stack(rx_buffers=32, max_conns=64)
    old, whole = Peer(stack, sport=41000), Peer(stack, sport=41001)
    assert old.connect().win == RX_WINDOW
    assert whole.connect().win == RX_WINDOW
    for i in range(30):
        p = Peer(stack, sport=42000 + i)
        p.connect()
        p.send("PA", PARTIAL)
    assert in_use(stack) == 30
    late = Peer(stack, sport=43000)
    assert late.connect().win == 0
    req = get("/a")
    segs = whole.request(req)
    assert segs[0].win == RX_WINDOW - len(req)
    start = old.snd_nxt
    segs = old.send("PA", PARTIAL)
    assert [(s.ack, s.win) for s in segs] == [
        ((start + len(PARTIAL)) % MOD, RX_WINDOW - len(PARTIAL))
    ]
    assert in_use(stack) == 31
    assert stack.stats()["rx_buffer_refused"] == 0


def test_request_body_in_parts_for_a_dynamic_route() -> None:
    """A body the application reads is taken as it comes, never held: a POST whose
    header block and body come in pieces gives its buffer back with the header block,
    the body reaches the application whole, and the next request, pipelined behind the
    body in its last segment, is read after it."""
    app = ssdk.App()

    @app.dynamic("/sum", methods=["POST"])
    def total(req: ssdk.Request) -> ssdk.Response:
        return ssdk.json({"len": len(req.body), "sum": sum(req.body) % 65536})

    gate = threading.Event()
    body = bytes(range(256)) * 12  # 3 KiB
    head = (
        f"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    with serving_app(app, gate) as (stack, _calls):
        peer = Peer(stack)
        peer.connect()
        peer.send("PA", head[:10])
        assert in_use(stack) == 1
        peer.send("PA", head[10:] + body[:1000])
        assert in_use(stack) == 0  # the head went up; the body is the application's
        peer.send("PA", body[1000:2000])
        assert in_use(stack) == 0
        peer.send("PA", body[2000:] + get("/sum", method="POST", headers=["Content-Length: 0"]))
        peer.drain()
        first, second = peer.responses(2)
        assert json.loads(first.body) == {"len": len(body), "sum": sum(body) % 65536}
        assert json.loads(second.body) == {"len": 0, "sum": 0}
        st = stack.stats()
        assert (st["rx_buffers_in_use"], st["rx_buffers_peak"]) == (0, 1)
