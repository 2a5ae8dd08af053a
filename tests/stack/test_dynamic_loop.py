# tests/stack/test_dynamic_loop.py: dynamic routes through the C loop (serve/dyn_conn.c)
# and the Python side (ssdk/core/runtime/app_calls.py), on the in-memory backend. A path no
# table holds goes to the application when a dynamic route takes it; the answer is sent
# like a template, kept until acknowledged (a lost segment is sent again from it), and a
# pipelined request's answer waits its turn; errors are 500s that leak nothing; bodies
# arrive whole, and over the route's limit are 413.
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import pytest
from harness import Peer, Stack, get, serving_app

import ssdk
from ssdk.core.runtime.app_calls import AppCalls

BIG = bytes(range(256)) * 40  # 10 KiB: several segments


def make_app(gate: threading.Event) -> ssdk.App:
    app = ssdk.App()

    @app.page("/static")
    def static() -> ssdk.Response:
        return ssdk.text("precomputed")

    @app.dynamic("/api/search", methods=["GET", "POST"])
    def search(req: ssdk.Request) -> ssdk.Response:
        return ssdk.json({"q": req.query.get("q", ""), "len": len(req.body),
                          "sum": sum(req.body) % 65536})  # fmt: skip

    @app.dynamic("/api/items/{id:int}", max_body=100)
    def item(req: ssdk.Request) -> dict[str, int]:
        return {"id": req.params["id"]}

    @app.dynamic("/api/big")
    def big(req: ssdk.Request) -> ssdk.Response:
        return ssdk.Response(BIG)

    @app.dynamic("/api/boom")
    def boom(req: ssdk.Request) -> str:
        raise RuntimeError("secret-9f2")

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
    with serving_app(make_app(gate), gate) as served:
        yield served


def body_json(resp: object) -> dict[str, int]:
    return json.loads(resp.body)  # type: ignore[attr-defined]


def test_a_dynamic_route_is_answered_in_the_same_pass(dyn: tuple[Stack, AppCalls]) -> None:
    stack, calls = dyn
    peer = Peer(stack)
    peer.connect()
    segs = peer.request(get("/api/search?q=cats"))
    # One pass: the answer itself acknowledges the request, with no bare ACK before it.
    assert segs and segs[0].payload.startswith(b"HTTP/1.1 200 OK"), segs
    assert all(seg.payload for seg in segs)
    peer.drain()
    resp = peer.responses(1)[0]
    assert body_json(resp) == {"q": "cats", "len": 0, "sum": 0}
    assert resp.header("Content-Type") == "application/json"
    assert stack.stats()["dyn_requests"] == 1 and calls.requests == 1


def test_path_parameters_and_the_table_first(dyn: tuple[Stack, AppCalls]) -> None:
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    resp, _ = peer.fetch(get("/api/items/42"))
    assert body_json(resp) == {"id": 42}
    resp, _ = peer.fetch(get("/static"))
    assert resp.body == b"precomputed"
    resp, _ = peer.fetch(get("/api/items/x"))  # the prefix matches, the converter does not
    assert resp.status == 404
    assert stack.stats()["dyn_requests"] == 2


def test_a_body_in_several_segments_arrives_whole(dyn: tuple[Stack, AppCalls]) -> None:
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    body = bytes(range(256)) * 30  # 7680 bytes: more than the request buffer
    head = get("/api/search", method="POST", headers=[f"Content-Length: {len(body)}"])
    peer.request(head + body)
    peer.drain()
    resp = peer.responses(1)[0]
    assert body_json(resp) == {"q": "", "len": len(body), "sum": sum(body) % 65536}


def test_a_body_over_the_route_limit_is_413(dyn: tuple[Stack, AppCalls]) -> None:
    """RFC 9110 15.5.14: the route allows 100 bytes; the connection closes."""
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/items/1", method="POST", headers=["Content-Length: 101"]))
    peer.drain()
    resp = peer.responses(1)[0]
    assert resp.status == 413 and resp.header("Connection") == "close"
    assert stack.stats()["dyn_requests"] == 0


def test_a_failing_handler_is_a_500_and_the_connection_goes_on(
    dyn: tuple[Stack, AppCalls], caplog: pytest.LogCaptureFixture
) -> None:
    stack, calls = dyn
    peer = Peer(stack)
    peer.connect()
    with caplog.at_level(logging.ERROR, logger="ssdk.app"):
        resp, _ = peer.fetch(get("/api/boom"))
    assert resp.status == 500 and b"secret" not in resp.raw
    assert "secret-9f2" in caplog.text and calls.failures == 1
    resp, _ = peer.fetch(get("/api/items/7"))  # the same connection still serves
    assert body_json(resp) == {"id": 7}


def test_the_answer_is_kept_until_acknowledged(dyn: tuple[Stack, AppCalls]) -> None:
    """A lost segment of an application's answer is sent again, byte-exact."""
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    peer.lose_segno(1)
    peer.request(get("/api/big"))
    assert peer.lost
    peer.drain()
    while len(peer.stream) < len(BIG):
        peer.drain()
        peer.advance(1000)
        peer.drain()
    resp = peer.responses(1)[0]
    assert resp.body == BIG and stack.stats()["retransmits"] >= 1


def test_pipelined_requests_keep_their_order(dyn: tuple[Stack, AppCalls]) -> None:
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/items/1") + get("/static") + get("/api/items/2"))
    peer.drain()
    a, b, c = peer.responses(3)
    assert (body_json(a), b.body, body_json(c)) == ({"id": 1}, b"precomputed", {"id": 2})


def test_head_gets_the_header_only(dyn: tuple[Stack, AppCalls]) -> None:
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/items/5", method="HEAD"))
    peer.drain()
    resp = peer.responses(1, head_only=True)[0]
    assert resp.status == 200 and resp.header("Content-Length") == "8"


def test_a_blocking_route_does_not_hold_up_the_others(
    dyn: tuple[Stack, AppCalls], gate: threading.Event
) -> None:
    """blocking=True runs in the pool: another connection is served meanwhile, and the
    slow answer goes out once the pool is done and the loop drains it."""
    stack, calls = dyn
    slow, quick = Peer(stack, sport=40001), Peer(stack, sport=40002)
    slow.connect()
    quick.connect()
    held = slow.request(get("/api/slow"))  # the pool has it: only the request's ACK
    assert [seg.payload for seg in held] == [b""] and slow.rack(held[0]) == slow.sent
    resp, _ = quick.fetch(get("/api/items/3"))
    assert body_json(resp) == {"id": 3} and calls.busy()
    gate.set()
    for _ in range(200):
        if not calls.busy():
            break
        threading.Event().wait(0.01)
        calls.drain()
    slow.drain()
    assert slow.responses(1)[0].body == b"slow done"


def test_an_answer_for_a_connection_that_went_is_refused(
    dyn: tuple[Stack, AppCalls], gate: threading.Event
) -> None:
    stack, calls = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/slow"))
    peer.send("R", seq=peer.snd_nxt)
    gate.set()
    while calls.busy():
        threading.Event().wait(0.01)
        calls.drain()
    assert stack.stats()["dyn_orphans"] == 1


def chunked(*chunks: bytes, trailer: bytes = b"") -> bytes:
    out = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
    return out + b"0\r\n" + trailer + b"\r\n"


def post_chunked(path: str, body: bytes) -> bytes:
    return get(path, method="POST", headers=["Transfer-Encoding: chunked"]) + body


def test_a_chunked_body_is_decoded(dyn: tuple[Stack, AppCalls]) -> None:
    """RFC 9112 7.1: chunk sizes in hex, extensions ignored, trailers read past; the
    handler gets the body whole, and a request pipelined after it is answered next."""
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    parts = [bytes(range(256)) * 10, b"x" * 7, b"tail"]
    body = chunked(*parts, trailer=b"X-Check: 1\r\n").replace(b"7\r\n", b"7;ext=1\r\n", 1)
    peer.request(post_chunked("/api/search", body) + get("/api/items/9"))
    peer.drain()
    first, second = peer.responses(2)
    whole = b"".join(parts)
    assert body_json(first) == {"q": "", "len": len(whole), "sum": sum(whole) % 65536}
    assert body_json(second) == {"id": 9}


@pytest.mark.parametrize("body", [
    b"zz\r\nabc\r\n0\r\n\r\n",          # not a hex size
    b"3\r\nabcd\r\n0\r\n\r\n",          # more data than the size said
    b"3\nabc\r\n0\r\n\r\n",             # a bare LF after the size
    b"3\r\nabc\r\n0\r\n\n",             # a bare LF ends the trailer section
])
def test_a_malformed_chunked_body_is_400_and_closes(dyn: tuple[Stack, AppCalls],
                                                    body: bytes) -> None:  # fmt: skip
    stack, calls = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(post_chunked("/api/search", body))
    peer.drain()
    resp = peer.responses(1)[0]
    assert resp.status == 400 and resp.header("Connection") == "close"
    assert calls.requests == 0 and stack.stats()["dyn_bad_bodies"] == 1


def test_a_chunked_body_over_the_limit_is_413(dyn: tuple[Stack, AppCalls]) -> None:
    stack, calls = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(post_chunked("/api/items/1", chunked(b"a" * 60, b"b" * 60)))
    peer.drain()
    resp = peer.responses(1)[0]
    assert resp.status == 413 and calls.requests == 0


def test_chunked_to_a_precomputed_route_is_still_411(dyn: tuple[Stack, AppCalls]) -> None:
    """RFC 9112 6.3: ssdk reads a chunked body only for the application."""
    stack, _ = dyn
    peer = Peer(stack)
    peer.connect()
    peer.request(post_chunked("/static", chunked(b"abc")))
    peer.drain()
    assert peer.responses(1)[0].status == 411
