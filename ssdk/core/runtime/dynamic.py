# ssdk/core/runtime/dynamic.py: from a request the loop hands up to the bytes it sends back.
#
# worker (C loop, extern "Python") -> Dispatcher.handle -> match -> handler(Request)
#                                  -> to_response -> header_block -> Rendered
#
# Owns: matching a path against the dynamic routes, calling their handlers, and turning
# what they return (or raise) into one response stream for the C core to segment.
# Invariants: handle() never raises for anything a handler does: an exception or a
# wrong return value becomes a 500 whose body says nothing of it, and the traceback
# goes to the log. The stream has the same layout as a template's (a header block with
# the Date and Connection slots, then the body), so the C core sends it the same way.
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ssdk.core.http import NO_BODY, SERVER, date_offset, header_block, special_page
from ssdk.routing.app import App, Dynamic, PathPattern, RouteError
from ssdk.routing.request import Request
from ssdk.routing.responses import HTML, Response, to_response

log = logging.getLogger("ssdk.app")


@dataclass(frozen=True)
class Rendered:
    """One response, ready for the wire."""

    stream: bytes  # header block, then the body (none for HEAD)
    status: int
    conn_off: int  # offset of the Connection value ("keep-alive" / "     close")
    date_off: int  # offset of the 29-byte Date value


# Header blocks of responses without headers of their own, by (status, type, Server),
# cut around the Content-Length value: most answers of a route look alike, so a block is
# checked and built once and then only the length changes.
_BLOCKS: dict[tuple[int, str, str | None], tuple[bytes, bytes, int, int]] = {}
_BLOCKS_MAX = 256


def _block(resp: Response, server: str | None) -> tuple[bytes, int, int]:
    """Header block, conn_off and date_off of `resp` (a cached shape when it can)."""
    if resp.headers or resp.status in NO_BODY:
        block, conn_off = header_block(
            resp.status, resp.content_type, len(resp.body), resp.headers, server=server
        )
        return block, conn_off, date_offset(block)
    key = (resp.status, resp.content_type, server)
    shape = _BLOCKS.get(key)
    if shape is None:
        block, conn_off = header_block(resp.status, resp.content_type, 0, server=server)
        at = block.index(b"\r\nContent-Length: 0\r\n") + len(b"\r\nContent-Length: ")
        shape = (block[:at], block[at + 1 :], conn_off - at - 1, date_offset(block))
        if len(_BLOCKS) >= _BLOCKS_MAX:
            _BLOCKS.clear()
        _BLOCKS[key] = shape
    before, after, conn_rel, date_off = shape
    n = b"%d" % len(resp.body)
    return before + n + after, len(before) + len(n) + conn_rel, date_off


def render(resp: Response, head: bool = False, server: str | None = SERVER) -> Rendered:
    """The stream for a Response; raises ValueError for a bad status or header."""
    block, conn_off, date_off = _block(resp, server)
    return Rendered(block if head else block + resp.body, resp.status, conn_off, date_off)


def error_page(
    status: int,
    headers: dict[str, str] | None = None,
    head: bool = False,
    server: str | None = SERVER,
) -> Rendered:
    return render(Response(special_page(status), status, headers, HTML), head, server)


class Dispatcher:
    """The dynamic routes of an app, in declaration order, and their handlers."""

    def __init__(self, routes: Iterable[Dynamic], server: str | None = SERVER) -> None:
        self.routes: list[tuple[Dynamic, PathPattern]] = [(r, r.pattern()) for r in routes]
        self.server = server  # the Server header, as the app's precomputed responses say

    @classmethod
    def for_app(cls, app: App) -> Dispatcher:
        return cls(app.dynamics, app.server)

    def match(self, path: str) -> list[tuple[Dynamic, dict[str, Any]]]:
        """Every route whose pattern matches `path`, with its converted parameters."""
        out = []
        for route, pattern in self.routes:
            try:
                params = pattern.match(path)
            except (ValueError, RouteError):
                continue  # the converter refused the text: no match, as for a regex miss
            if params is not None:
                out.append((route, params))
        return out

    def handle(self, req: Request) -> Rendered:
        """Call the handler for `req` and render what it returns; never raises."""
        head = req.method == "HEAD"
        found = self.match(req.path)
        if not found:
            return error_page(404, head=head, server=self.server)
        method = "GET" if head else req.method
        chosen = next(((r, p) for r, p in found if method in r.methods), None)
        if chosen is None:
            allowed = sorted(
                {m for r, _ in found for m in r.methods}
                | ({"HEAD"} if any("GET" in r.methods for r, _ in found) else set())
            )
            return error_page(405, {"Allow": ", ".join(allowed)}, head, self.server)
        route, params = chosen
        if len(req.body) > route.max_body:
            return error_page(413, head=head, server=self.server)
        req.params = params
        try:
            value = route.handler(req)
            return render(to_response(value), head, self.server)
        except Exception:
            log.exception(
                "%s %s: handler %s() at %s failed",
                req.method,
                req.target,
                route.name,
                route.location,
            )
            return error_page(500, head=head, server=self.server)
