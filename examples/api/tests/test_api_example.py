# examples/api/tests: the API as the server sees it. The precomputed part through a
# build, the dynamic part through the dispatcher that the server's loop calls.
from __future__ import annotations

import json
from pathlib import Path

from ssdk.core.buildtime.build import build, concrete_responses, load_app
from ssdk.core.runtime.dynamic import Dispatcher
from ssdk.routing.request import Request

APP = load_app(Path(__file__).resolve().parents[1] / "app.py")


def answer(method: str, target: str, body: bytes = b"") -> tuple[int, dict]:
    r = Dispatcher.for_app(APP).handle(Request(method, target, [], body))
    head, _, payload = r.stream.partition(b"\r\n\r\n")
    return r.status, json.loads(payload)


def test_the_collections_are_precomputed() -> None:
    paths = {c.key: json.loads(c.response.body) for c in concrete_responses(APP)}
    assert len(paths["/api/books"]) == 5
    assert paths["/api/books/2"]["author"] == "W. Richard Stevens"
    assert set(paths) == {"/api/books", *(f"/api/books/{i}" for i in range(1, 6))}
    build(APP)  # and the whole app lowers


def test_search_by_query() -> None:
    status, body = answer("GET", "/api/search?q=stevens")
    assert status == 200 and body["count"] == 2
    assert {b["id"] for b in body["books"]} == {2, 5}


def test_search_by_json_body() -> None:
    status, body = answer("POST", "/api/search", b'{"q": "programming language"}')
    assert status == 200 and [b["id"] for b in body["books"]] == [4]


def test_a_bad_body_is_400() -> None:
    status, body = answer("POST", "/api/search", b"not json")
    assert status == 400 and "error" in body
