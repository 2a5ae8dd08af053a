"""Serving a bundle through the kernel's TCP sockets: `ssdk dev`'s way without privileges.

dev.run_dev (no TAP allowed) -> KernelServer.serve_forever (asyncio, 127.0.0.1:PORT)
    -> per connection: read -> Engine.answer (the C parser and table, no TCP)
    -> write the response's bytes with Date and Connection filled in -> discard any body

The request is parsed and answered by the very code the user-space stack runs, so a
page looks the same either way; only the transport differs. It is for development: one
thread, Python per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from email.utils import formatdate

from ssdk.core.engine import Engine

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

    def __init__(self, engine: Engine, host: str, port: int) -> None:
        self.engine, self.host, self.port = engine, host, port
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host, self.port)

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


def run_kernel_server(engine: Engine, host: str, port: int, tick: Callable[[], bool],
                      ready: Callable[[], None]) -> None:  # fmt: skip
    """Serve until tick() returns False; tick runs every 100 ms (file watching, swaps).
    ready() is called once the socket listens."""

    async def main() -> None:
        srv = KernelServer(engine, host, port)
        await srv.start()
        ready()
        try:
            while tick():
                await asyncio.sleep(0.1)
        finally:
            assert srv.server is not None
            srv.server.close()
            await srv.server.wait_closed()

    asyncio.run(main())
