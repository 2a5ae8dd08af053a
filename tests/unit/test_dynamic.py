# tests/unit/test_dynamic.py: dynamic routes on the Python side, without the loop: the
# Request a handler sees, path parameters, 404/405/413, and that whatever a handler
# does wrong becomes a 500 that leaks nothing while the traceback reaches the log.
from __future__ import annotations

import logging

import pytest

import ssdk
from ssdk.core.runtime.dynamic import Dispatcher, render
from ssdk.routing.request import Request


def status_and_body(r: object) -> tuple[int, bytes]:
    stream: bytes = r.stream  # type: ignore[attr-defined]
    head, _, body = stream.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
def app() -> ssdk.App:
    app = ssdk.App()

    @app.dynamic("/api/search", methods=["GET", "POST"])
    def search(req: ssdk.Request) -> ssdk.Response:
        q = req.query
        ua = req.headers.get("user-agent")
        return ssdk.json({"q": q.get("q", ""), "all": q.getlist("q"), "body": req.body.decode(),
                          "ua": ua})  # fmt: skip

    @app.dynamic("/api/items/{id:int}", max_body=4)
    def item(req: ssdk.Request) -> dict[str, int]:
        return {"id": req.params["id"]}

    @app.dynamic("/api/boom")
    def boom(req: ssdk.Request) -> str:
        raise RuntimeError("secret-token-123")

    @app.dynamic("/api/wrong")
    def wrong(req: ssdk.Request) -> object:
        return 42

    return app


def test_request_fields() -> None:
    req = Request("GET", "/a%20b?q=x+y&q=2&empty=", [("User-Agent", "t"), ("X-A", "1"),
                                                      ("x-a", "2")], b"hi")  # fmt: skip
    assert req.path == "/a b"
    assert req.query["q"] == "x y" and req.query.getlist("q") == ["x y", "2"]
    assert req.query["empty"] == ""
    assert req.headers["user-agent"] == "t" and req.headers.getlist("X-a") == ["1", "2"]
    assert "USER-AGENT" in req.headers and len(req.headers) == 2
    assert req.body == b"hi"


def test_a_handler_gets_query_headers_and_body(app: ssdk.App) -> None:
    d = Dispatcher.for_app(app)
    r = d.handle(Request("POST", "/api/search?q=cats", [("User-Agent", "ua/1")], b"payload"))
    status, body = status_and_body(r)
    assert status == 200
    assert body == b'{"q":"cats","all":["cats"],"body":"payload","ua":"ua/1"}'
    assert r.stream[r.conn_off : r.conn_off + 10] == b"keep-alive"
    assert r.stream[r.date_off : r.date_off + 29] == b"Thu, 01 Jan 1970 00:00:00 GMT"


def test_path_parameters_are_converted(app: ssdk.App) -> None:
    status, body = status_and_body(Dispatcher.for_app(app).handle(Request("GET", "/api/items/7")))
    assert (status, body) == (200, b'{"id":7}')
    status, _ = status_and_body(Dispatcher.for_app(app).handle(Request("GET", "/api/items/x")))
    assert status == 404


def test_head_has_the_headers_and_no_body(app: ssdk.App) -> None:
    r = Dispatcher.for_app(app).handle(Request("HEAD", "/api/items/7"))
    assert r.stream.endswith(b"\r\n\r\n") and b"Content-Length: 8\r\n" in r.stream


def test_unknown_path_404_wrong_method_405_with_allow(app: ssdk.App) -> None:
    d = Dispatcher.for_app(app)
    assert status_and_body(d.handle(Request("GET", "/api/nothing")))[0] == 404
    r = d.handle(Request("DELETE", "/api/search"))
    assert status_and_body(r)[0] == 405
    assert b"Allow: GET, HEAD, POST\r\n" in r.stream


def test_a_body_over_the_limit_is_413(app: ssdk.App) -> None:
    d = Dispatcher.for_app(app)
    assert status_and_body(d.handle(Request("GET", "/api/items/1", body=b"12345")))[0] == 413
    assert status_and_body(d.handle(Request("GET", "/api/items/1", body=b"1234")))[0] == 200


@pytest.mark.parametrize(("path", "logged"), [("/api/boom", "secret-token-123"),
                                              ("/api/wrong", "handler returned int")])
def test_a_failing_handler_is_a_500_that_leaks_nothing(
    app: ssdk.App, caplog: pytest.LogCaptureFixture, path: str, logged: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="ssdk.app"):
        r = Dispatcher.for_app(app).handle(Request("GET", path))
    status, body = status_and_body(r)
    assert status == 500
    assert b"secret" not in r.stream and b"Traceback" not in r.stream
    assert logged in caplog.text and path in caplog.text
    assert caplog.records[0].exc_info is not None  # the traceback is logged


def test_a_bad_header_from_a_handler_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    app = ssdk.App()

    @app.dynamic("/h")
    def h(req: ssdk.Request) -> ssdk.Response:
        return ssdk.text("x", headers={"Bad Name": "v"})

    with caplog.at_level(logging.ERROR, logger="ssdk.app"):
        status, _ = status_and_body(Dispatcher.for_app(app).handle(Request("GET", "/h")))
    assert status == 500 and "invalid header name" in caplog.text


def test_render_matches_the_template_layout() -> None:
    r = render(ssdk.text("hello"))
    assert r.stream.endswith(b"\r\n\r\nhello") and r.status == 200


def test_a_request_from_where_the_parser_found_its_parts() -> None:
    """Request.from_wire takes offsets into the head (struct ssdk_field); the fields are
    decoded only when the handler asks for them."""
    import struct

    head = b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  1 2 \r\nx-a: 3\r\n\r\n"
    offs = struct.pack("=12H", 22, 4, 28, 1, 31, 3, 37, 3, 43, 3, 48, 1)
    req = Request.from_wire(head, 4, (5, 6), offs, b"body")
    assert (req.method, req.target, req.path, req.body) == ("POST", "/a?b=1", "/a", b"body")
    assert req._headers is None  # not decoded yet
    assert req.headers.getlist("x-a") == ["1 2", "3"] and req.headers["host"] == "x"
    assert req.headers.items_all() == [("Host", "x"), ("X-A", "1 2"), ("x-a", "3")]
