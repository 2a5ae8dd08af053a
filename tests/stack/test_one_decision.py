# tests/stack/test_one_decision.py: the one decision (serve/decide.c) through both of its
# transports. The same request through the stack's TCP path (a Peer on the in-memory
# backend) and through the kernel-socket path (Engine.answer and Engine.body, what
# `ssdk dev` without a TAP device runs) must get the same status, go to the same place
# (a table's response or the application) and keep or close the connection alike; and
# the application must get the same request either way: the method, target and header
# fields where the C parser found them.
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from harness import TEMPLATE_MSS, Peer, Stack, parse_response

import ssdk
from ssdk.core.buildtime.build import build
from ssdk.core.runtime.app_calls import AppCalls, wire_request
from ssdk.core.runtime.dynamic import Dispatcher


def make_app() -> ssdk.App:
    app = ssdk.App()

    @app.page("/page")
    def page() -> ssdk.Response:
        return ssdk.text("a page")

    @app.dynamic("/api/echo", methods=["GET", "POST", "HEAD"], max_body=100)
    def echo(req: ssdk.Request) -> ssdk.Response:
        return ssdk.json({"app": True, "method": req.method, "target": req.target,
                          "fields": req.headers.items_all(),
                          "body": req.body.decode("latin-1")})  # fmt: skip

    return app


@pytest.fixture
def both() -> Iterator[tuple[Stack, Dispatcher]]:
    app = make_app()
    _, blob = build(app, mss=TEMPLATE_MSS)
    stack = Stack(blob, max_conns=256)  # keep-alive peers stay
    calls = AppCalls(stack.engine, app)  # registers the routes: the C core decides
    yield stack, calls.dispatcher
    calls.close()
    stack.close()


@dataclass(frozen=True)
class Outcome:
    status: int
    app: bool  # the application answered
    keep: bool  # the connection stays open
    cont: bool  # a 100 Continue came first
    seen: dict[str, object] | None = None  # what the application got


def via_tcp(stack: Stack, sport: int, head: bytes, body: bytes) -> Outcome:
    """Head and body in separate segments, so a 100 Continue may come between them."""
    before = stack.stats()["dyn_requests"]
    peer = Peer(stack, sport=sport)
    peer.connect()
    peer.request(head)
    peer.drain()
    if body and not peer.fin:
        peer.request(body)
        peer.drain()
    data, cont = peer.unread(), False
    if data.startswith(b"HTTP/1.1 100 "):
        _, used = parse_response(data, head_only=True)
        data, cont = data[used:], True
    resp, used = parse_response(data, head_only=head.startswith(b"HEAD "))
    assert used == len(data), data
    app = stack.stats()["dyn_requests"] > before
    seen = json.loads(resp.body) if app and resp.body else None
    return Outcome(resp.status, app, not peer.fin, cont, seen)


def via_kernel(stack: Stack, dispatcher: Dispatcher, head: bytes, body: bytes) -> Outcome:
    """What kernel_serve.py does with the same bytes: the head, then the body."""
    ans = stack.engine.answer(head)
    assert ans is not None
    assert ans.consumed == len(head) or not ans.keep  # a refusal stops where it was sure
    cont = bool(ans.interim)
    if not ans.app:
        return Outcome(ans.status, False, ans.keep, cont)
    got = stack.engine.body(ans, body)
    if got.refusal is not None:
        return Outcome(got.refusal.status, False, got.refusal.keep, cont)
    assert got.request is not None and got.used == len(body)
    req = wire_request(got.request)
    r = dispatcher.handle(req)
    resp, _ = parse_response(r.stream, head_only=req.method == "HEAD")
    seen = json.loads(resp.body) if resp.body else None
    return Outcome(r.status, True, ans.keep, cont, seen)


def request(line: str, *fields: str) -> bytes:
    return ("\r\n".join([line, *fields]) + "\r\n\r\n").encode("latin-1")


CHUNKED = "Transfer-Encoding: chunked"
# (name, head, body, the expected outcome: status, app, keep, cont)
CASES: list[tuple[str, bytes, bytes, tuple[int, bool, bool, bool]]] = [
    ("page", request("GET /page HTTP/1.1", "Host: t"), b"", (200, False, True, False)),
    ("head", request("HEAD /page HTTP/1.1", "Host: t"), b"", (200, False, True, False)),
    ("404", request("GET /nothing HTTP/1.1", "Host: t"), b"", (404, False, True, False)),
    ("dyn get", request("GET /api/echo?q=1 HTTP/1.1", "Host: t"), b"", (200, True, True, False)),
    ("dyn head", request("HEAD /api/echo HTTP/1.1", "Host: t"), b"", (200, True, True, False)),
    ("dyn length", request("POST /api/echo HTTP/1.1", "Host: t", "Content-Length: 5"),
     b"hello", (200, True, True, False)),
    ("dyn chunked", request("POST /api/echo HTTP/1.1", "Host: t", CHUNKED),
     b"5\r\nhello\r\n3;x=y\r\n, w\r\n0\r\nTrailer: t\r\n\r\n", (200, True, True, False)),
    ("chunked to a page", request("POST /page HTTP/1.1", "Host: t", CHUNKED),
     b"5\r\nhello\r\n0\r\n\r\n", (411, False, False, False)),
    ("chunked to no route", request("POST /none HTTP/1.1", "Host: t", CHUNKED),
     b"0\r\n\r\n", (411, False, False, False)),
    ("over max_body", request("POST /api/echo HTTP/1.1", "Host: t", "Content-Length: 101"),
     b"x" * 101, (413, False, False, False)),
    ("chunked over max_body", request("POST /api/echo HTTP/1.1", "Host: t", CHUNKED),
     b"65\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n", (413, False, False, False)),
    ("malformed chunked", request("POST /api/echo HTTP/1.1", "Host: t", CHUNKED),
     b"zz\r\n", (400, False, False, False)),
    ("coded", request("POST /api/echo HTTP/1.1", "Host: t", "Transfer-Encoding: gzip, chunked"),
     b"0\r\n\r\n", (413, False, False, False)),
    ("continue to the app", request("POST /api/echo HTTP/1.1", "Host: t", "Content-Length: 2",
                                    "Expect: 100-continue"), b"hi", (200, True, True, True)),
    ("continue, chunked", request("POST /api/echo HTTP/1.1", "Host: t", CHUNKED,
                                  "Expect: 100-continue"), b"2\r\nhi\r\n0\r\n\r\n",
     (200, True, True, True)),
    ("continue to a page", request("GET /page HTTP/1.1", "Host: t", "Content-Length: 2",
                                   "Expect: 100-continue"), b"hi", (200, False, True, True)),
    ("continue, closing", request("GET /page HTTP/1.1", "Host: t", "Content-Length: 2",
                                  "Expect: 100-continue", "Connection: close"), b"hi",
     (200, False, False, False)),
    ("continue ignored in 1.0", request("POST /api/echo HTTP/1.0", "Content-Length: 2",
                                        "Expect: 100-continue", "Connection: keep-alive"),
     b"hi", (200, True, True, False)),
    ("1.0", request("GET /page HTTP/1.0"), b"", (200, False, False, False)),
    ("1.0 keep-alive", request("GET /page HTTP/1.0", "Connection: keep-alive"), b"",
     (200, False, True, False)),
    ("1.0 to the app", request("GET /api/echo HTTP/1.0"), b"", (200, True, False, False)),
    ("1.0 keep-alive to the app", request("GET /api/echo HTTP/1.0", "Connection: Keep-Alive"),
     b"", (200, True, True, False)),
    ("1.1 close to the app", request("GET /api/echo HTTP/1.1", "Host: t", "Connection: close"),
     b"", (200, True, False, False)),
    ("1.0 chunked", request("POST /api/echo HTTP/1.0", CHUNKED), b"0\r\n\r\n",
     (400, False, False, False)),
    ("two hosts", request("GET /api/echo HTTP/1.1", "Host: a", "Host: b"), b"",
     (400, False, False, False)),
    ("405 from a page", request("DELETE /page HTTP/1.1", "Host: t"), b"",
     (405, False, False, False)),
    ("absolute form to the app", request("GET http://t/api/echo?x=%20 HTTP/1.1", "Host: t"), b"",
     (200, True, True, False)),
]


@pytest.mark.parametrize("name,head,body,expected", CASES, ids=[c[0] for c in CASES])
def test_both_paths_decide_alike(
    both: tuple[Stack, Dispatcher], name: str, head: bytes, body: bytes,
    expected: tuple[int, bool, bool, bool],
) -> None:  # fmt: skip
    stack, dispatcher = both
    tcp = via_tcp(stack, 41000, head, body)
    kernel = via_kernel(stack, dispatcher, head, body)
    assert (tcp.status, tcp.app, tcp.keep, tcp.cont) == expected, tcp
    assert tcp == kernel  # the request the application saw included


def test_the_paths_never_diverge(both: tuple[Stack, Dispatcher]) -> None:
    """Every case again, on one engine, one after another: a decision that depended on
    the transport, or on what the other path left behind, shows up here."""
    stack, dispatcher = both
    for i, (name, head, body, _) in enumerate(CASES * 2):
        tcp = via_tcp(stack, 42000 + i, head, body)
        assert tcp == via_kernel(stack, dispatcher, head, body), name


def test_the_application_gets_the_fields_as_sent(both: tuple[Stack, Dispatcher]) -> None:
    """Names as spelled, values without the whitespace around them (RFC 9112 5), in
    order, duplicates kept; bytes past ASCII (obs-text) as Latin-1; an empty value."""
    stack, dispatcher = both
    fields = [("Host", "t"), ("X-One", "a"), ("x-one", "b  c"), ("Accept", "*/*"),
              ("X-Empty", ""), ("X-Obs", "caf\xe9"), ("X-Colon", "a:b: c"),
              ("Content-Length", "3")]  # fmt: skip
    lines = ["Host: t", "X-One:a", "x-one: \t b  c \t", "Accept:   */*", "X-Empty:",
             "X-Obs: caf\xe9", "X-Colon: a:b: c", "Content-Length: 3"]  # fmt: skip
    head = request("POST /api/echo?x=1&y=%2F HTTP/1.1", *lines)
    for seen in (via_tcp(stack, 43000, head, b"abc").seen,
                 via_kernel(stack, dispatcher, head, b"abc").seen):  # fmt: skip
        assert seen == {"app": True, "method": "POST", "target": "/api/echo?x=1&y=%2F",
                        "fields": [list(f) for f in fields], "body": "abc"}  # fmt: skip


def test_many_fields_and_one_too_many(both: tuple[Stack, Dispatcher]) -> None:
    """100 field lines reach the application, each in its place; the 101st is 431
    (RFC 6585 5), refused by the C parser on both paths."""
    stack, dispatcher = both
    many = ["Host: t"] + [f"X-F{i}: v{i}" for i in range(99)]
    for seen in (via_tcp(stack, 44000, request("GET /api/echo HTTP/1.1", *many), b"").seen,
                 via_kernel(stack, dispatcher, request("GET /api/echo HTTP/1.1", *many),
                            b"").seen):  # fmt: skip
        assert seen is not None
        assert seen["fields"] == [list(f.split(": ", 1)) for f in many]
    too_many = request("GET /api/echo HTTP/1.1", *many, "X-Last: 1")
    tcp = via_tcp(stack, 44001, too_many, b"")
    assert tcp == via_kernel(stack, dispatcher, too_many, b"")
    assert (tcp.status, tcp.app, tcp.keep) == (431, False, False)


def test_a_pipelined_chunked_body_leaves_the_next_request(both: tuple[Stack, Dispatcher]) -> None:
    """The body decoder stops where the chunked body ends: what follows is the next
    request's, on both paths."""
    stack, dispatcher = both
    head = request("POST /api/echo HTTP/1.1", "Host: t", CHUNKED)
    body = b"3\r\nabc\r\n0\r\n\r\n"
    after = request("GET /page HTTP/1.1", "Host: t")
    ans = stack.engine.answer(head + body + after)
    assert ans is not None and ans.app and ans.chunked and ans.consumed == len(head)
    got = stack.engine.body(ans, body + after)
    assert got.request is not None and got.used == len(body)
    assert wire_request(got.request).body == b"abc"
    nxt = stack.engine.answer(after)
    assert nxt is not None and nxt.status == 200 and not nxt.app
    peer = Peer(stack, sport=45000)
    peer.connect()
    peer.request(head + body + after)
    peer.drain()
    first, second = peer.responses(2)
    assert json.loads(first.body)["body"] == "abc" and second.body == b"a page"


def test_a_chunked_body_in_pieces_on_the_kernel_path(both: tuple[Stack, Dispatcher]) -> None:
    """The kernel path feeds the body as it arrives: a byte at a time it is the same."""
    stack, _ = both
    head = request("POST /api/echo HTTP/1.1", "Host: t", CHUNKED)
    body = b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
    ans = stack.engine.answer(head)
    assert ans is not None and ans.app
    for i in range(len(body) - 1):
        got = stack.engine.body(ans, body[i : i + 1])
        assert got.used == 1 and got.request is None and got.refusal is None
    got = stack.engine.body(ans, body[-1:])
    assert got.request is not None and wire_request(got.request).body == b"wikipedia"
