# bench/apps/asgi_hello.py: the ASGI side of bench/dynamic_vs_asgi.py. A plain ASGI
# callable with the handler of bench/apps/ssdk_dynamic.py: GET /hello builds the same
# JSON bytes with msgspec on every request (anything else is 404).
# Run (from bench/apps): uvicorn asgi_hello:asgi --host 198.18.0.2 --port 80
#                    or: granian --interface asgi --host 198.18.0.2 --port 80 asgi_hello:asgi
from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

NOT_FOUND = b"not found\n"


async def asgi(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/hello":
        status, ctype, body = 200, b"application/json", msgspec.json.encode({"hello": "world"})
    else:
        status, ctype, body = 404, b"text/plain", NOT_FOUND
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
