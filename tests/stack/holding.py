# tests/stack/holding.py: an app whose dynamic routes the test answers itself, when it
# chooses (tests/stack/test_dynamic_pipeline.py, test_http_pools.py): the loop hands
# requests up, HoldingApp keeps their tokens, and answer() responds through the engine;
# conftest.py's `held` fixture serves make_app() with one.
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from harness import Stack, head_block

import ssdk
from ssdk.core.runtime.app_calls import wire_request

TEXT = "text/plain; charset=utf-8"
CONN_SLOT = len("keep-alive")


def make_app(barrier: threading.Barrier | None = None) -> ssdk.App:
    app = ssdk.App()

    @app.page("/static")
    def static() -> ssdk.Response:
        return ssdk.text("precomputed")

    @app.dynamic("/api/{name}", methods=["GET", "POST"])
    def api(req: ssdk.Request) -> str:
        return ssdk.text("never called: the test answers")

    @app.dynamic("/pair/{n:int}", blocking=True)
    def pair(req: ssdk.Request) -> ssdk.Response:
        assert barrier is not None
        barrier.wait()  # both handlers must be in here at once to pass it
        return ssdk.text(f"pair {req.params['n']}")

    return app


def answer_stream(name: str, size: int = 60, connection: str = "keep-alive") -> bytes:
    """The exact bytes of the answer for /api/<name>: a body of `size` bytes that names
    it, so that two answers cannot be mistaken for each other."""
    body = (f"<{name}>" * size).encode()[:size]
    return head_block("200 OK", TEXT, len(body), connection=connection) + body


@dataclass
class Held:
    token: int
    path: str


@dataclass
class HoldingApp:
    """Records every call from the loop; answers only when the test says."""

    stack: Stack
    calls: list[list[Held]] = field(default_factory=list)

    def take(self, reqs: Any, n: int) -> None:
        self.calls.append(
            [Held(int(reqs[i].token), wire_request(reqs[i]).path) for i in range(n)]
        )

    @property
    def held(self) -> list[Held]:
        return [h for call in self.calls for h in call]

    def answer(self, i: int, size: int = 60, keep: bool = True) -> bool:
        """Answer the i-th request handed up (in arrival order) with answer_stream."""
        h = self.held[i]
        stream = answer_stream(h.path.rsplit("/", 1)[1], size)
        date_off = stream.index(b"\r\nDate: ") + len(b"\r\nDate: ")
        conn_off = stream.index(b"\r\nConnection: ") + len(b"\r\nConnection: ")
        assert stream[conn_off : conn_off + CONN_SLOT] == b"keep-alive"
        return self.stack.engine.respond(h.token, stream, date_off, conn_off, 200, keep)

