# ssdk/routing/responses.py: what a handler returns, and the helpers that make one.
#
# Owns: Response and html/json/text.
# Invariants: Response.body is always bytes; Response.content_type is always set; headers
# never carry Content-Type (it lives in content_type). Checking status and header syntax
# is left to the build (ssdk.core.http), where the route's location is known.
# msgspec is imported inside json() so that `import ssdk` loads no C extension.
from __future__ import annotations

from typing import Any

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
BINARY = "application/octet-stream"


class Response:
    """A complete HTTP response, rendered at build time."""

    __slots__ = ("body", "status", "headers", "content_type")

    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        if isinstance(body, str):
            data = body.encode("utf-8")
            default_type = HTML
        elif isinstance(body, (bytes, bytearray, memoryview)):
            data = bytes(body)
            default_type = BINARY
        else:
            raise TypeError(f"Response body must be bytes or str, not {type(body).__name__}")
        hdrs = dict(headers or {})
        for name in [n for n in hdrs if n.lower() == "content-type"]:
            if content_type is not None:
                raise ValueError("Content-Type given both in headers and as content_type")
            content_type = hdrs.pop(name)
        self.body: bytes = data
        self.status: int = status
        self.headers: dict[str, str] = hdrs
        self.content_type: str = default_type if content_type is None else content_type

    def __repr__(self) -> str:
        return (
            f"Response(status={self.status}, content_type={self.content_type!r}, "
            f"headers={self.headers!r}, body=<{len(self.body)} bytes>)"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.body, self.status, self.headers, self.content_type) == (
            other.body,
            other.status,
            other.headers,
            other.content_type,
        )

    __hash__ = None  # type: ignore[assignment]


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An HTML page, UTF-8 encoded."""
    return Response(body, status, headers, HTML)


def text(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Plain text, UTF-8 encoded."""
    return Response(body, status, headers, TEXT)


def json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`obj` encoded as JSON by msgspec (dicts, lists, Structs, dataclasses, ...)."""
    import msgspec

    return Response(msgspec.json.encode(obj), status, headers, JSON)
