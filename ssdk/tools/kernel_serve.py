"""Serving a bundle through the kernel's TCP sockets: `ssdk dev`'s way without privileges.

dev.run_dev (no TAP allowed) -> KernelServer.serve_forever (asyncio, 127.0.0.1:PORT; and
    with --tls a second one on the HTTPS port, Python's ssl over the kernel's TCP)
    -> per connection: read -> Engine.answer (the C parser and decision, no TCP)
    -> a table's response: its bytes with Date and Connection filled in -> discard any
       Content-Length body
    -> the application's (the engine knows the app's dynamic routes: register_routes):
       Engine.body (the C body decoder: Content-Length or chunked, the route's limit)
       -> wire_request -> Dispatcher, in a thread, as the worker's loop would call it

The request is parsed and decided by the very code the user-space stack runs (serve/
decide.c), so it is answered the same either way; only the transport differs. It is
for development: one thread, Python per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from email.utils import formatdate

from ssdk.core.runtime.app_calls import wire_request
from ssdk.core.runtime.dynamic import Dispatcher, error_page
from ssdk.core.runtime.engine import Answer, Engine

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
        self,
        engine: Engine,
        host: str,
        port: int,
        dispatcher: Dispatcher | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.engine, self.host, self.port = engine, host, port
        self.dispatcher = dispatcher  # the app's dynamic routes; replaced on reloads
        self.tls = tls  # HTTPS on this port (Python's ssl), or None
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host, self.port, ssl=self.tls)

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
                buf = buf[ans.consumed :]
                if ans.interim:
                    writer.write(on_the_wire(ans.interim, ans.interim_date_off, None, True))
                if ans.app:  # the application's, as in the worker
                    rest = await self._application(ans, buf, reader, writer)
                    if rest is None or not ans.keep:
                        return
                    buf = rest
                    continue
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
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _application(
        self,
        ans: Answer,
        buf: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bytes | None:
        """Read the body through the engine, call the handler, write its answer; the
        bytes after the body, or None when the connection is to close."""
        await writer.drain()  # a 100 Continue goes before the body is waited for
        while True:
            got = self.engine.body(ans, buf)
            buf = buf[got.used :]
            if got.refusal is not None:  # malformed or over the route's limit: closes
                r = got.refusal
                writer.write(on_the_wire(r.stream, r.date_off, r.conn_off, False))
                await writer.drain()
                return None
            if got.request is not None:
                req = wire_request(got.request)
                break
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                return None
            buf += chunk
        dispatcher = self.dispatcher
        if dispatcher is None:  # the routes went with a reload between two reads
            rendered = error_page(404, head=req.method == "HEAD")
        else:
            loop = asyncio.get_running_loop()
            rendered = await loop.run_in_executor(None, dispatcher.handle, req)
        writer.write(on_the_wire(rendered.stream, rendered.date_off, rendered.conn_off, ans.keep))
        await writer.drain()
        return buf


def run_kernel_server(
    engine: Engine,
    host: str,
    port: int,
    tick: Callable[[], bool],
    ready: Callable[[], None],
    dispatcher: Callable[[], Dispatcher | None],
    https: tuple[int, ssl.SSLContext] | None = None,
) -> None:
    """Serve until tick() returns False; tick runs every 100 ms (file watching, swaps).
    ready() is called once the sockets listen; dispatcher() gives the current app's
    dynamic routes (it changes when the app's code does); https: a second port, for
    HTTPS with this ssl context, answered the same way."""

    async def main() -> None:
        servers = [KernelServer(engine, host, port, dispatcher())]
        if https is not None:
            servers.append(KernelServer(engine, host, https[0], dispatcher(), https[1]))
        try:
            for srv in servers:
                await srv.start()
            ready()
            while tick():
                for srv in servers:
                    srv.dispatcher = dispatcher()
                await asyncio.sleep(0.1)
        finally:
            for srv in servers:
                if srv.server is not None:
                    srv.server.close()
                    await srv.server.wait_closed()

    asyncio.run(main())
