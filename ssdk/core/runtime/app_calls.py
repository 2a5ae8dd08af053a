# ssdk/core/runtime/app_calls.py: the application's dynamic routes, called from the C loop.
#
# worker -> AppCalls(engine, app) -> register_routes -> Engine.dynamic_route per route
#   (the C core decides which requests are the application's: serve/decide.c)
# C loop (end of a pass) -> ssdk_py_requests (extern "Python", every ready request at
#   once) -> AppCalls.take -> wire_request -> Dispatcher.handle
#   (ssdk/core/runtime/dynamic.py) -> Engine.respond
#   | blocking=True -> a thread pool -> AppCalls.drain (between slices) -> Engine.respond
# ssdk/tools/kernel_serve.py -> register_routes, wire_request (the same, off kernel sockets)
#
# Owns: turning the C core's request records into Requests (where its parser found the
# method, target and fields: nothing is parsed again here), telling the engine the
# app's route keys, running handlers on the loop's thread or in the pool, and the cost
# of Python per request (for `ssdk stats`).
# Invariants: nothing raises back into C (a failure is a 500, logged); every request
# handed up is answered exactly once, unless its connection went first (then C refuses
# the answer and counts it).
from __future__ import annotations

import concurrent.futures
import logging
import queue
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from ssdk.core.cdefs import ROUTE_KEY_SAFE
from ssdk.core.runtime.dynamic import Dispatcher, Rendered, error_page
from ssdk.core.runtime.engine import Engine, ffi, lib
from ssdk.routing.app import App, Dynamic
from ssdk.routing.request import Request

log = logging.getLogger("ssdk.app")

# Route keys leave these characters as they are (docs/bundle.md, "Route keys"); the C
# parser's set, from ssdk/csrc/http/http_grammar.h.
KEY_SAFE = ROUTE_KEY_SAFE
POOL_THREADS = 8
FIELD_SIZE = ffi.sizeof("struct ssdk_field")


def route_key(route: Dynamic) -> tuple[str, bool]:
    """The key the C core matches for a route: its whole path if it has no parameters
    (exact), else the literal text before the first parameter (a prefix)."""
    first = route.pattern().parts[0] if route.pattern().parts else ""
    if not route.pattern().names:
        return quote(route.path, safe=KEY_SAFE), True
    literal = first if isinstance(first, str) else "/"
    return quote(literal, safe=KEY_SAFE), False


def wire_request(r: Any) -> Request:
    """The Request for a `struct ssdk_request` (its arrays live only for the call): the
    head and body copied, the method, target and header fields where the C parser found
    them (the fields decoded when the handler first asks for them)."""
    head = ffi.buffer(r.head, r.head_len)[:]
    body = ffi.buffer(r.body, r.body_len)[:] if r.body_len else b""
    fields = ffi.buffer(r.fields, r.nfields * FIELD_SIZE)[:] if r.nfields else b""
    return Request.from_wire(
        head, int(r.method_len), (int(r.target_off), int(r.target_len)), fields, body
    )


def register_routes(engine: Engine, routes: Iterable[Dynamic]) -> None:
    """Tell the engine the route keys of an app's dynamic routes (ids in order), in place
    of any it knew: the C core decides which requests go to the application."""
    engine.clear_dynamic_routes()
    for i, route in enumerate(routes):
        key, exact = route_key(route)
        engine.dynamic_route(key, exact, i, route.max_body)


class AppCalls:
    """The dynamic routes of one worker's engine."""

    def __init__(self, engine: Engine, app: App) -> None:
        self.engine = engine
        self.app = app
        self.dispatcher = Dispatcher.for_app(app)
        self.blocking = {id(r) for r in app.dynamics if r.blocking}
        register_routes(engine, app.dynamics)
        self._handle = ffi.new_handle(self)
        engine.on_requests(lib.ssdk_py_requests, self._handle)
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.done: queue.SimpleQueue[tuple[int, Rendered, bool]] = queue.SimpleQueue()
        self.in_pool = 0
        self.requests = 0
        self.failures = 0
        self.ns = 0  # Python time on the loop's thread, for `ssdk stats`

    def take(self, reqs: Any, n: int) -> None:
        """A batch from the loop: answer each now, or hand it to the pool."""
        t0 = time.perf_counter_ns()
        for i in range(n):
            r = reqs[i]
            token, keep = int(r.token), bool(r.keep)
            try:
                req = wire_request(r)
            except Exception:
                log.exception("a request the loop handed up could not be read")
                self._answer(token, error_page(400), False)
                continue
            found = self.dispatcher.match(req.path)
            if found and id(found[0][0]) in self.blocking:
                self._pool().submit(self._in_pool, token, req, keep)
                self.in_pool += 1
            else:
                self._answer(token, self.dispatcher.handle(req), keep)
        self.requests += n
        self.ns += time.perf_counter_ns() - t0

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(POOL_THREADS, "ssdk-app")
        return self.pool

    def _in_pool(self, token: int, req: Request, keep: bool) -> None:
        self.done.put((token, self.dispatcher.handle(req), keep))

    def drain(self) -> None:
        """Send what the pool has finished (called on the loop's thread)."""
        while True:
            try:
                token, rendered, keep = self.done.get_nowait()
            except queue.Empty:
                return
            self.in_pool -= 1
            self._answer(token, rendered, keep)

    def _answer(self, token: int, r: Rendered, keep: bool) -> None:
        if r.status >= 500:
            self.failures += 1
        self.engine.respond(token, r.stream, r.date_off, r.conn_off, r.status, keep)

    def refreshes(self) -> list[str]:
        """The paths handlers asked to have rendered again (app.refresh) since the last
        call; the worker sends them to its supervisor, which renders and publishes."""
        asked, self.app.refreshes[:] = list(self.app.refreshes), []
        return asked

    def busy(self) -> bool:
        return self.in_pool > 0

    def counters(self) -> dict[str, int]:
        return {"app_requests": self.requests, "app_failures": self.failures, "app_ns": self.ns}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


# cffi ships no type hints: its decorator is untyped, the function below is not.
@ffi.def_extern(onerror=lambda *exc: log.error("ssdk_py_requests failed", exc_info=exc))  # type: ignore[untyped-decorator]
def ssdk_py_requests(ctx: Any, reqs: Any, n: int) -> None:
    calls: AppCalls = ffi.from_handle(ctx)
    calls.take(reqs, n)
