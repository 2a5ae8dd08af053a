# tests/stack/test_pipeline.py: pipelining at full speed (docs/http.md, "Pipelining"). A
# connection parses requests while earlier responses are in flight and queues up to
# RESPQ_DEPTH responses, sent back to back (a segment may end one response and begin the
# next); the requests beyond the queue wait in the receive buffer, closing the window.
# Order is kept whatever finishes first; a closing response ends the queue; each queued
# response comes whole from the table it was chosen in.
from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from harness import (
    CLOSE_VALUE,
    RESPQ_DEPTH,
    RX_WINDOW,
    TEMPLATE_MSS,
    Peer,
    Site,
    Stack,
    check_frame,
    get,
    serving_app,
)

import ssdk
from ssdk.core.buildtime.build import build
from ssdk.core.runtime.app_calls import AppCalls


def test_pipelined_requests_are_answered_before_any_ack(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3.2: the queue's depth of requests in one segment are all answered,
    in order, in the segments sent back for that one segment: no ACK from us needed."""
    paths = ["/a", "/b", "/", "/c"][:RESPQ_DEPTH]
    peer.connect()
    segs = peer.request(b"".join(get(p) for p in paths))
    assert b"".join(s.payload for s in segs) == b"".join(site.expect(p) for p in paths)
    got = peer.responses(len(paths))
    assert [r.raw for r in got] == [site.expect(p) for p in paths]
    assert peer.stack.stats()["http_pipelined"] == len(paths) - 1


def test_a_segment_ends_one_response_and_begins_the_next(peer: Peer, site: Site) -> None:
    """Small responses share segments: one holds the end of a response and the start of
    the next, and its checksum (summed as copied) is right."""
    paths = ["/c", "/b", "/c", "/a"]
    peer.connect()
    frames: list[bytes] = []
    orig = peer.stack.send

    def keep(*pkts: object) -> list:  # type: ignore[type-arg]
        out = orig(*pkts)  # type: ignore[arg-type]
        frames.extend(bytes(f) for f in out)
        return out

    peer.stack.send = keep  # type: ignore[method-assign]
    segs = peer.request(b"".join(get(p) for p in paths))
    ends, at = [], 0
    for p in paths:
        at += len(site.expect(p))
        ends.append(at)
    spanning = [s for s in segs if s.payload and any(
        peer.offset(s) < e < peer.offset(s) + len(s.payload) for e in ends)]  # fmt: skip
    assert spanning, "no segment spans two responses"
    for f in frames:
        check_frame(f)  # scapy: the IP and TCP checksums are right
    assert [r.raw for r in peer.responses(4)] == [site.expect(p) for p in paths]


def test_the_queue_is_bounded_and_drains(peer: Peer, site: Site) -> None:
    """More requests than the queue holds: the first RESPQ_DEPTH are answered at once,
    the rest wait unparsed in the buffer (the window shrinks by them) and are answered
    as the queue drains."""
    paths = ["/a", "/b", "/c", "/"] * 3
    data = b"".join(get(p) for p in paths)
    assert len(data) < RX_WINDOW
    peer.connect()
    peer.queued = True  # nothing we are sent is acknowledged until we say
    segs = peer.send("PA", data)
    assert peer.stack.stats()["http_requests"] == RESPQ_DEPTH
    waiting = b"".join(get(p) for p in paths[RESPQ_DEPTH:])
    acks = [s for s in segs if s.has("A")]
    assert acks[-1].win == RX_WINDOW - len(waiting), "the waiting requests fill the window"
    peer.deliver_all()
    peer.queued = False
    peer.drain()
    assert peer.stack.stats()["http_requests"] == len(paths)
    assert [r.raw for r in peer.responses(len(paths))] == [site.expect(p) for p in paths]
    assert peer.unread() == b""


def test_a_retransmission_spanning_two_responses_is_the_same(peer: Peer, site: Site) -> None:
    """A lost segment that ends one response and begins the next is rebuilt from the two
    templates, byte for byte."""
    paths = ["/c", "/b", "/c", "/a"]
    ends, at = [], 0
    for p in paths:
        at += len(site.expect(p))
        ends.append(at)
    peer.connect()
    peer.lose = lambda s: any(peer.offset(s) < e < peer.offset(s) + len(s.payload)
                              for e in ends[:1])  # fmt: skip
    peer.request(b"".join(get(p) for p in paths))
    assert peer.lost, "the spanning segment was not sent"
    first = peer.lost[0]
    peer.lose = None
    again = [s for s in peer.drain() if s.seq == first.seq and s.payload]
    if not again:  # not sent again on duplicate ACKs: the retransmission timer's turn
        again = peer.advance_until(lambda s: bool(s.payload) and s.seq == first.seq)[-1:]
        peer.drain()
    n = min(len(first.payload), len(again[0].payload))
    assert again[0].payload[:n] == first.payload[:n]
    assert [r.raw for r in peer.responses(4)] == [site.expect(p) for p in paths]
    assert peer.stack.stats()["retransmits"] >= 1


def test_a_close_in_the_middle_ends_the_queue(peer: Peer, site: Site) -> None:
    """RFC 9112 9.6: a request with Connection: close is the last answered; those after
    it are never read, and our FIN follows its response."""
    close = get("/b", headers=["Connection: close"])
    peer.connect()
    peer.request(get("/a") + close + get("/c"))
    peer.drain()
    a, b = peer.responses(2)
    assert a.raw == site.expect("/a") and b.raw == site.expect("/b", CLOSE_VALUE)
    assert peer.unread() == b"" and peer.fin
    assert peer.stack.stats()["http_requests"] == 2


# --- dynamic answers, and hot swap ------------------------------------------------------


LARGE = bytes(range(256)) * 160  # 40 KiB: past the initial window, long in flight


def dyn_app(gate: threading.Event) -> ssdk.App:
    app = ssdk.App()

    @app.page("/static")
    def static() -> ssdk.Response:
        return ssdk.text("precomputed")

    @app.page("/large")
    def large() -> ssdk.Response:
        return ssdk.Response(LARGE)

    @app.dynamic("/api/quick")
    def quick(req: ssdk.Request) -> str:
        return ssdk.text("quick")

    @app.dynamic("/api/slow", blocking=True)
    def slow(req: ssdk.Request) -> str:
        gate.wait(10)
        return ssdk.text("slow done")

    return app


@pytest.fixture
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture
def dyn(gate: threading.Event) -> Iterator[tuple[Stack, AppCalls]]:
    with serving_app(dyn_app(gate), gate) as served:
        yield served


def test_a_late_dynamic_answer_still_goes_first(
    dyn: tuple[Stack, AppCalls], gate: threading.Event
) -> None:
    """The precomputed response pipelined behind a dynamic request is queued at once
    but nothing is sent until the answer comes; then the answer goes, then it."""
    stack, calls = dyn
    peer = Peer(stack)
    peer.connect()
    segs = peer.request(get("/api/slow") + get("/static"))
    assert [s.payload for s in segs] == [b""], "nothing goes before the answer"
    assert stack.stats()["http_requests"] == 1 and stack.stats()["http_pipelined"] == 1
    gate.set()
    for _ in range(500):
        if not calls.busy():
            break
        threading.Event().wait(0.01)
        calls.drain()
    peer.drain()
    first, second = peer.responses(2)
    assert first.body == b"slow done" and second.body == b"precomputed"
    assert peer.unread() == b""


def test_a_dynamic_answer_ready_early_waits_its_turn(dyn: tuple[Stack, AppCalls]) -> None:
    """The application answers at once while a large precomputed response before it is
    still going out: the answer is queued behind it and follows its last byte."""
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/large") + get("/api/quick") + get("/static"))
    assert stack.stats()["dyn_requests"] == 1, "the answer was asked for at once"
    peer.drain()
    large, quick, static = peer.responses(3)
    assert (large.body, quick.body, static.body) == (LARGE, b"quick", b"precomputed")
    assert peer.unread() == b""


def test_a_swap_between_two_queued_responses(swap_stack_v1: Stack) -> None:
    """A response queued before a swap and one queued after it each come whole from
    their own table, even while both are in flight."""
    stack = swap_stack_v1
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/big"))  # in flight, past the initial window
    v2_blob, v2 = version(2)
    assert stack.engine.load(v2_blob) == 2
    peer.request(get("/"))  # queued behind it, from version 2
    peer.drain()
    big, page = peer.responses(2)
    assert big.body == version(1)[1]["/big"] and page.body == v2["/"]


def version(n: int) -> tuple[bytes, dict[str, bytes]]:
    import random

    big = random.Random(n).randbytes(40_000)
    page = f"<p>version {n}</p>"
    app = ssdk.App()
    app.page("/big")(lambda: ssdk.Response(big))
    app.page("/")(lambda: ssdk.html(page))
    _, blob = build(app, mss=TEMPLATE_MSS)
    return blob, {"/big": big, "/": page.encode()}


@pytest.fixture
def swap_stack_v1() -> Iterator[Stack]:
    s = Stack(version(1)[0])
    yield s
    s.close()


def test_multi_segment_responses_keep_their_precomputed_sums(peer: Peer, site: Site) -> None:
    """Back to back, a response of several template segments starts a segment of its
    own: every segment of both is then one of its template's, sent with its precomputed
    sum (nothing summed while copied), and the bytes are the two responses in order."""
    peer.connect()
    two = get("/files/mid.bin") * 2
    segs = peer.request(two) + peer.drain()
    data = [s for s in segs if s.payload]
    want = site.expect("/files/mid.bin")
    assert b"".join(s.payload for s in data) == want * 2
    starts = {peer.offset(s) for s in data}
    assert len(want) in starts, "the second response begins a segment"
    assert peer.stack.stats()["tx_summed_bytes"] == 0


def test_one_segment_responses_share_segments(peer: Peer, site: Site) -> None:
    """Responses of one segment each are packed: a segment ends one and begins the
    next (a frame costs more than summing a few hundred bytes)."""
    paths = ["/a", "/b"]
    peer.connect()
    segs = peer.request(b"".join(get(p) for p in paths))
    data = [s for s in segs if s.payload]
    assert b"".join(s.payload for s in data) == b"".join(site.expect(p) for p in paths)
    total = sum(len(site.expect(p)) for p in paths)
    assert len(data) == -(-total // TEMPLATE_MSS)
