# ssdk/core/http.py: the bytes of an HTTP/1.1 response header block.
#
# Owns: reason phrases, header syntax checks, content types by file extension, HTTP-dates,
# and the special responses (what the C core answers on its own, docs/http.md) with their
# pages.
# Invariants: every header block is
#   status line, Server, Date, Content-Type, Content-Length, ssdk's fields (validators,
#   codings, ranges: ssdk/core/buildtime/variants.py), custom headers, Connection, CRLF
# (Server only when the app names one; a block without content has no Content-Type; an
# interim 1xx block has neither that nor Content-Length, RFC 9110 8.6) and ends in
# b"Connection: keep-alive\r\n\r\n";
# header_block returns the offset of "keep-alive" (conn_off), which the server
# overwrites with "     close".
# Output depends only on the arguments: the same response gives the same bytes on every
# machine and Python version (the bundle is content-addressed).
from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from html import escape
from pathlib import PurePath

from ssdk.core.cdefs import SPECIAL as _SP

CONN_VALUE = b"keep-alive"
_TAIL = b"Connection: keep-alive\r\n\r\n"
# Every header block carries this Date; the server writes the current one over it as it
# sends (docs/bundle.md, "The Date slot"). Its length is that of every IMF-fixdate.
DATE_PLACEHOLDER = "Thu, 01 Jan 1970 00:00:00 GMT"

# RFC 9110 section 15 (and 429/431/511 from RFC 6585), fixed here rather than taken from
# http.HTTPStatus, whose phrases change between Python versions.
REASONS: dict[int, str] = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    418: "I'm a teapot",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    511: "Network Authentication Required",
}

# Headers the server itself owns: set through Response fields or never by an app.
RESERVED = frozenset(
    {
        "content-length",
        "connection",
        "transfer-encoding",
        "server",
        "date",
        "keep-alive",
        "content-type",
        "upgrade",
        "te",
        "trailer",
        "etag",
        "last-modified",
        "accept-ranges",
        "content-range",
    }
)
SERVER = "ssdk"  # the Server value unless the app names another (or none)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Extensions whose type must not depend on /etc/mime.types or the Python version.
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
}
DEFAULT_TYPE = "application/octet-stream"
NO_BODY = frozenset({204, 304})

_mime: mimetypes.MimeTypes | None = None


def reason_phrase(status: int) -> str:
    return REASONS.get(status, "")


def with_charset(ctype: str) -> str:
    """Text types are served as UTF-8; say so unless a charset is already given."""
    if ctype.startswith("text/") and "charset=" not in ctype:
        return f"{ctype}; charset=utf-8"
    return ctype


def content_type_for(path: str | PurePath) -> str:
    """The Content-Type for a file, from its extension alone."""
    global _mime
    name = PurePath(path).name
    ext = PurePath(name).suffix.lower()
    ctype = CONTENT_TYPES.get(ext)
    if ctype is None:
        if _mime is None:
            # A MimeTypes built from no files holds only Python's own table.
            _mime = mimetypes.MimeTypes(filenames=())
        guessed, encoding = _mime.guess_type(name, strict=False)
        # "x.tar.gz" guesses as a tar with a gzip *encoding*; we send no Content-Encoding.
        ctype = guessed if guessed and encoding is None else DEFAULT_TYPE
    return with_charset(ctype)


def check_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Validate custom headers; raises ValueError naming the bad one."""
    out = []
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if name.lower() in RESERVED:
            hint = " (use content_type=)" if name.lower() == "content-type" else ""
            raise ValueError(f"header {name!r} is set by ssdk itself{hint}")
        if not isinstance(value, str):
            raise ValueError(f"header {name!r} value must be str, not {type(value).__name__}")
        if _BAD_VALUE.search(value) or value != value.strip(" \t"):
            raise ValueError(f"header {name!r} has an invalid value {value!r}")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"header {name!r} value is not latin-1: {value!r}") from None
        out.append((name, value))
    return out


def header_block(
    status: int,
    content_type: str,
    content_length: int | None,
    headers: Mapping[str, str] | None = None,
    *,
    server: str | None = SERVER,
    fields: Sequence[tuple[str, str]] = (),
) -> tuple[bytes, int]:
    """The header block and the offset of its Connection value; raises ValueError.

    `fields` are ssdk's own header lines (validators, codings, ranges), placed after
    Content-Length and not checked against RESERVED; `content_length` None leaves the
    Content-Length line to them (a 206 template's slot).
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError(f"status {status!r} is not a final status code (200..599)")
    if status in NO_BODY and content_length:
        raise ValueError(f"a {status} response has no body, got {content_length} bytes")
    if not isinstance(content_type, str) or _BAD_VALUE.search(content_type):
        raise ValueError(f"invalid content type {content_type!r}")
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}"]
    if server is not None:
        lines.append(f"Server: {server}")
    lines.append(f"Date: {DATE_PLACEHOLDER}")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if status not in NO_BODY and content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    lines.extend(f"{k}: {v}" for k, v in fields)
    lines.extend(f"{k}: {v}" for k, v in check_headers(headers or {}))
    try:
        head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"content type {content_type!r} is not latin-1") from None
    block = head + _TAIL
    return block, len(head) + len(b"Connection: ")


def interim_block(status: int, server: str | None = SERVER) -> tuple[bytes, int]:
    """A 1xx header block (status line, Server, Date, Connection) and its conn_off."""
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 199:
        raise ValueError(f"status {status!r} is not an interim status code (100..199)")
    named = f"Server: {server}\r\n" if server is not None else ""
    head = (
        f"HTTP/1.1 {status} {reason_phrase(status)}\r\n{named}Date: {DATE_PLACEHOLDER}\r\n"
    ).encode("latin-1")
    return head + _TAIL, len(head) + len(b"Connection: ")


def http_date(seconds: int) -> str:
    """IMF-fixdate of a Unix time (RFC 9110 5.6.7), as Date and Last-Modified carry it."""
    return formatdate(seconds, usegmt=True)


def date_offset(block: bytes) -> int:
    """Where the Date value starts in a header block made by header_block."""
    return block.index(b"\r\nDate: ") + len(b"\r\nDate: ")


def special_page(status: int, server: str | None = SERVER) -> bytes:
    """The small HTML body ssdk serves for its own error responses."""
    title = f"{status} {reason_phrase(status)}"
    sign = f"<hr><p>{escape(server)}</p>" if server is not None else ""
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1>{sign}</body></html>\n"
    ).encode()


def redirect_page(location: str, status: int = 301) -> bytes:
    """The small HTML body of a redirect ssdk makes (a folder's path without its slash)."""
    title = f"{status} {reason_phrase(status)}"
    href = escape(location)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><h1>{title}</h1><p><a href="{href}">{href}</a></p></body></html>\n'
    ).encode()


@dataclass(frozen=True)
class Page:
    """A page an app gives for one of ssdk's own answers (`@app.error(status)`)."""

    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


# --- special responses ------------------------------------------------------------------
# Each sits at its index of the bundle's special[] table (enum special_resp in
# ssdk/csrc/table/table.h, read by ssdk.core.cdefs; docs/bundle.md); the C core picks them by
# index. They are built like any other response, Date and Connection slots included, so
# the server dates them and can write "close" into them.
SP_400, SP_404_GET, SP_404_HEAD, SP_405, SP_431, SP_501, SP_505, SP_414, SP_408 = (
    _SP[n]
    for n in (
        "SP_400",
        "SP_404_GET",
        "SP_404_HEAD",
        "SP_405",
        "SP_431",
        "SP_501",
        "SP_505",
        "SP_414",
        "SP_408",
    )
)
SP_411, SP_413, SP_417, SP_CONTINUE, SP_OPTIONS = (
    _SP[n] for n in ("SP_411", "SP_413", "SP_417", "SP_CONTINUE", "SP_OPTIONS")
)
# What every route allows (docs/http.md): sent with 405 and with the answer to OPTIONS.
ALLOW = "GET, HEAD, OPTIONS"
PAGE_TYPE = with_charset("text/html")


@dataclass(frozen=True)
class Special:
    """One response the C core answers on its own."""

    name: str  # its row in the manifest, e.g. "<bad-request>"
    status: int
    close: bool = True  # the server closes the connection after it (RESP_CLOSE)
    head: bool = False  # the HEAD variant: the header block alone
    page: bool = True  # a small HTML page says what happened; False: no content
    headers: tuple[tuple[str, str], ...] = ()

    def rendered(
        self, server: str | None = SERVER, page: Page | None = None
    ) -> tuple[bytes, bytes, int]:
        """Its header block, its content (what a HEAD variant's Content-Length counts;
        the HEAD variant sends none of it) and the offset of its Connection value. An
        error with a page takes the app's `page` if given; raises ValueError for a page
        whose headers are not allowed."""
        if self.status < 200:
            header, conn_off = interim_block(self.status, server)
            return header, b"", conn_off
        custom: tuple[tuple[str, str], ...]
        if not self.page:
            body, ctype, custom = b"", "", ()
        elif page is not None:
            body, ctype, custom = page.body, page.content_type, page.headers
        else:
            body, ctype, custom = special_page(self.status, server), PAGE_TYPE, ()
        names = {k.lower() for k, _ in self.headers}
        extra = dict(self.headers) | {k: v for k, v in custom if k.lower() not in names}
        header, conn_off = header_block(self.status, ctype, len(body), extra, server=server)
        return header, body, conn_off


SPECIALS: dict[int, Special] = {
    SP_400: Special("<bad-request>", 400),
    SP_404_GET: Special("<not-found>", 404, close=False),
    SP_404_HEAD: Special("<not-found:head>", 404, close=False, head=True),
    SP_405: Special("<method-not-allowed>", 405, headers=(("Allow", ALLOW),)),
    SP_431: Special("<header-fields-too-large>", 431),
    SP_501: Special("<not-implemented>", 501),
    SP_505: Special("<version-not-supported>", 505),
    SP_414: Special("<uri-too-long>", 414),
    SP_408: Special("<request-timeout>", 408),
    SP_411: Special("<length-required>", 411),
    SP_413: Special("<content-too-large>", 413),
    SP_417: Special("<expectation-failed>", 417),
    # RFC 9110 15.2.1: sent before a request body we are going to read (and discard).
    SP_CONTINUE: Special("<continue>", 100, close=False, page=False),
    # RFC 9110 9.3.7: OPTIONS * and OPTIONS on a route; no content, so Content-Length: 0.
    SP_OPTIONS: Special("<options>", 200, close=False, page=False, headers=(("Allow", ALLOW),)),
}
