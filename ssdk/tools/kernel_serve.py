"""Serving a bundle through the kernel's TCP sockets: `ssdk dev`'s way without privileges.

dev.run_dev (no TAP allowed) -> KernelServer.serve_forever (asyncio, 127.0.0.1:PORT)
    -> per connection: read -> Engine.answer (the C parser and table, no TCP)
    -> write the response's bytes with Date and Connection filled in -> discard any body
    (a path no table holds that a dynamic route takes -> its body read -> Dispatcher, in
     a thread, as the worker's loop would call it)

The request is parsed and answered by the very code the user-space stack runs, so a
page looks the same either way; only the transport differs. It is for development: one
thread, Python per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from email.utils import formatdate

from ssdk.core.runtime.app_calls import parse_head
from ssdk.core.runtime.dynamic import Dispatcher
from ssdk.core.runtime.engine import Engine
from ssdk.routing.request import Request

READ_CHUNK = 65536
CLOSE_VALUE = b"     close"
DATE_LEN = 29


def on_the_wire(stream: bytes, date_off: int, conn_off: int | None, keep: bool) -> bytes:
    """The stored response with the current Date and the Connection value written in."""
    out = bytearray(stream)
    out[date_off : date_off + DATE_LEN] = formatdate(usegmt=True).encode()
    if conn_off is not None and not keep:
        out[conn_off : conn_off + len(CLOSE_VALUE)] = CLOSE_VALUE
    return bytes(out)


class KernelServer:
    """An asyncio server answering from `engine`'s current table."""

    def __init__(
        self, engine: Engine, host: str, port: int, dispatcher: Dispatcher | None = None
    ) -> None:
        self.engine, self.host, self.port = engine, host, port
        self.dispatcher = dispatcher  # the app's dynamic routes; replaced on reloads
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host, self.port)

    def _dynamic(self, head: bytes) -> Request | None:
        """The request in `head` if one of the app's dynamic routes takes its path."""
        assert self.dispatcher is not None
        try:
            req = _parsed(head)
        except ValueError:
            return None
        return req if self.dispatcher.match(req.path) else None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        try:
            while True:
                ans = self.engine.answer(buf) if buf else None
                if ans is None:
                    chunk = await reader.read(READ_CHUNK)
                    if not chunk:
                        return
                    buf += chunk
                    continue
                head, buf = buf[: ans.consumed], buf[ans.consumed :]
                if ans.status == 404 and self.dispatcher is not None:
                    req = self._dynamic(head)
                    if req is not None:  # the application's, as in the worker
                        # The C parser checked the framing: one Content-Length, or none.
                        size = int(req.headers.get("content-length", "0"))
                        while len(buf) < size:
                            chunk = await reader.read(READ_CHUNK)
                            if not chunk:
                                return
                            buf += chunk
                        req.body, buf = buf[:size], buf[size:]
                        loop = asyncio.get_running_loop()
                        r = await loop.run_in_executor(None, self.dispatcher.handle, req)
                        writer.write(on_the_wire(r.stream, r.date_off, r.conn_off, ans.keep))
                        await writer.drain()
                        if not ans.keep:
                            return
                        continue
                if ans.interim:
                    writer.write(on_the_wire(ans.interim, ans.interim_date_off, None, True))
                writer.write(on_the_wire(ans.stream, ans.date_off, ans.conn_off, ans.keep))
                await writer.drain()
                if not ans.keep:
                    return
                left = ans.body  # the body is read and discarded, as the stack does
                while left > len(buf):
                    left -= len(buf)
                    buf = await reader.read(READ_CHUNK)
                    if not buf:
                        return
                buf = buf[left:]
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _parsed(head: bytes) -> Request:
    method, target, fields = parse_head(head.lstrip(b"\r\n"))
    return Request(method, target, fields)


def run_kernel_server(
    engine: Engine,
    host: str,
    port: int,
    tick: Callable[[], bool],
    ready: Callable[[], None],
    dispatcher: Callable[[], Dispatcher | None],
) -> None:
    """Serve until tick() returns False; tick runs every 100 ms (file watching, swaps).
    ready() is called once the socket listens; dispatcher() gives the current app's
    dynamic routes (it changes when the app's code does)."""

    async def main() -> None:
        srv = KernelServer(engine, host, port, dispatcher())
        await srv.start()
        ready()
        try:
            while tick():
                srv.dispatcher = dispatcher()
                await asyncio.sleep(0.1)
        finally:
            assert srv.server is not None
            srv.server.close()
            await srv.server.wait_closed()

    asyncio.run(main())
