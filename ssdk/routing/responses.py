# ssdk/routing/responses.py: what a handler returns, and the helpers that make one.
#
# Owns: Response, html/json/text, and to_response (what a handler may return).
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


def to_response(value: object) -> Response:
    """What a handler returned, as a Response: a Response as it is, str as HTML, bytes
    as binary, a dict or list as JSON. Raises TypeError saying what was wrong."""
    if isinstance(value, Response):
        return value
    if isinstance(value, str):
        return html(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Response(bytes(value))
    if isinstance(value, (dict, list)):
        import msgspec

        try:
            return json(value)
        except (msgspec.EncodeError, TypeError, ValueError) as e:
            raise TypeError(f"returned a {type(value).__name__} not encodable as JSON: {e}") from e
    if hasattr(value, "__await__"):
        close = getattr(value, "close", None)
        if close:
            close()
        raise TypeError("handler is async; handlers are plain functions")
    raise TypeError(
        f"handler returned {type(value).__name__}; expected Response, str, bytes, dict or list"
    )
