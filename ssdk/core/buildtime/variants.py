# ssdk/core/buildtime/variants.py: every response the C core may choose for one route, made at
# build time (docs/http.md, "Variants"): the response as rendered, and for a 200 one
# representation per content coding that pays (identity, gzip, br), each with its GET,
# HEAD, 304, 206 template and 416.
#
# build.py (per concrete path) -> lower_response -> representations -> header_block
#
# Owns: which content types are compressed and when it pays, ETags, which headers each
# status carries, and the slots of a 206 template.
# Invariants: the identity variant comes first and every coding at most once (the C
# core's table_open checks both); an ETag is `"` + 16 lower-case hex digits of the
# sha256 of the representation's bytes + `"` (so each coding has its own, and the C core
# compares them as 64-bit numbers); output depends only on the arguments (gzip without a
# timestamp, brotli at a fixed quality).
from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from ssdk.core.blob import Stream
from ssdk.core.cdefs import CLEN_SLOT, CODING
from ssdk.core.http import SERVER, Page, check_headers, header_block, http_date, special_page

try:  # optional: brotli variants are made only where the module is installed
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the installation
    _brotli = None

CODINGS = ("identity", "gzip", "br")  # index = enum coding in ssdk/csrc/table/table.h
IDENTITY, GZIP, BR = (CODING[f"CODING_{c.upper()}"] for c in CODINGS)
MIN_COMPRESS = 256  # bodies smaller than this are sent as they are
WORTH = 0.9  # an encoded body is kept only if smaller than this share of the original
RANGE_MAX = 0x7FFFFFFF  # larger bodies are served whole: a range must fit TCP's window
# Media types worth compressing besides text/*, +json and +xml (others are images,
# fonts and archives that carry their own compression).
COMPRESSIBLE = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/xml",
        "application/wasm",
        "application/manifest+json",
        "application/xhtml+xml",
        "image/svg+xml",
        "image/x-icon",
        "font/ttf",
        "font/otf",
        "application/x-javascript",
        "application/rss+xml",
    }
)
# What a 304 repeats of the 200's custom headers (RFC 9110 15.4.5).
NOT_MODIFIED_KEEPS = frozenset({"cache-control", "expires", "content-location", "vary"})


def have_brotli() -> bool:
    return _brotli is not None


def compressible(content_type: str) -> bool:
    """Whether a body of this type is one a content coding makes smaller."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in COMPRESSIBLE or media.endswith(("+json", "+xml"))


def encode(coding: int, body: bytes) -> bytes:
    """`body` in a content coding (RFC 9110 8.4.1): gzip by zlib at level 9, with no
    file name and a zero timestamp; br by brotli at its highest quality."""
    if coding == GZIP:
        z = zlib.compressobj(9, zlib.DEFLATED, 31, 9)
        return z.compress(body) + z.flush()
    if coding == BR and _brotli is not None:
        return bytes(_brotli.compress(body, quality=11))
    raise ValueError(f"no encoder for coding {coding}")


def representations(body: bytes, content_type: str) -> list[tuple[int, bytes]]:
    """(coding, bytes) of each representation worth storing: identity, then each coding
    that makes a compressible body of at least MIN_COMPRESS bytes smaller than WORTH of
    it."""
    out = [(IDENTITY, body)]
    if len(body) < MIN_COMPRESS or not compressible(content_type):
        return out
    for coding in (GZIP, BR) if _brotli is not None else (GZIP,):
        data = encode(coding, body)
        if len(data) < WORTH * len(body):
            out.append((coding, data))
    return out


def etag_for(data: bytes) -> str:
    """The strong ETag of a representation: its sha256's first 16 hex digits, quoted."""
    return f'"{hashlib.sha256(data).hexdigest()[:16]}"'


def range_slot(total: int) -> int:
    """Bytes of a 206 template's Content-Range slot for a body of `total` bytes: room
    for "bytes first-last/total" with first and last below total."""
    return 8 + 3 * len(str(total))


@dataclass
class Variant:
    """One representation of a route and the responses that may answer for it."""

    coding: int
    etag: str  # "" for a response that is not a 200: no validators
    last_modified: int
    get: Stream
    head: Stream
    not_modified: Stream | None = None
    partial: Stream | None = None  # the 206 template; body_of names `get`
    unsatisfiable: Stream | None = None


def merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """Header dicts merged case-insensitively, a later layer's value winning."""
    out: dict[str, str] = {}
    for layer in layers:
        for k, v in layer.items():
            for old in [o for o in out if o.lower() == k.lower()]:
                del out[old]
            out[k] = v
    return out


def _find(block: bytes, name: bytes) -> int:
    return block.index(b"\r\n" + name + b": ") + len(name) + 4


def lower_response(
    status: int,
    content_type: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    last_modified: int,
    server: str | None = SERVER,
    range_page: Page | None = None,
) -> list[Variant]:
    """Every variant of a route whose response is (status, content_type, body, headers):
    for a 200, one per representation; otherwise the response alone. Raises ValueError
    for a header or status the response may not have."""
    custom = dict(check_headers(headers))
    block, conn_off = header_block(status, content_type, len(body), custom, server=server)
    if status != 200:
        return [
            Variant(
                IDENTITY,
                "",
                0,
                Stream(block, body, conn_off, status),
                Stream(block, b"", conn_off, status),
            )
        ]
    coded = any(k.lower() == "content-encoding" for k in custom)
    reps = [(IDENTITY, body)] if coded else representations(body, content_type)
    vary: list[tuple[str, str]] = []
    if len(reps) > 1:  # RFC 9110 12.5.5: the coding depends on Accept-Encoding
        theirs = [v for k, v in custom.items() if k.lower() == "vary"]
        custom = {k: v for k, v in custom.items() if k.lower() != "vary"}
        vary = [("Vary", ", ".join(["Accept-Encoding", *theirs]))]
    kept = {k: v for k, v in custom.items() if k.lower() in NOT_MODIFIED_KEEPS}
    modified = [("Last-Modified", http_date(last_modified))]
    out = []
    for coding, data in reps:
        etag = etag_for(data)
        coding_field = [("Content-Encoding", CODINGS[coding])] if coding != IDENTITY else []
        ranges = 0 < len(data) <= RANGE_MAX
        fields = [
            *coding_field,
            *modified,
            ("ETag", etag),
            *([("Accept-Ranges", "bytes")] if ranges else []),
            *vary,
        ]
        block, conn_off = header_block(
            200, content_type, len(data), custom, server=server, fields=fields
        )
        v = Variant(
            coding,
            etag,
            last_modified,
            Stream(block, data, conn_off, 200),
            Stream(block, b"", conn_off, 200),
        )
        # RFC 9110 15.4.5: a 304 carries what a cache updates its stored response with.
        block, conn_off = header_block(
            304, "", 0, kept, server=server, fields=[("ETag", etag), *vary]
        )
        v.not_modified = Stream(block, b"", conn_off, 304)
        if ranges:
            v.partial, v.unsatisfiable = _range_streams(
                content_type,
                len(data),
                custom,
                server,
                range_page,
                [*coding_field, *modified, ("ETag", etag), *vary],
            )
        out.append(v)
    return out


def _range_streams(
    content_type: str,
    total: int,
    custom: Mapping[str, str],
    server: str | None,
    range_page: Page | None,
    fields: list[tuple[str, str]],
) -> tuple[Stream, Stream]:
    """A representation's 206 template (RFC 9110 15.3.7: its slots hold the values for
    the whole body until the server writes the part's) and its 416 (15.5.17)."""
    whole = f"bytes 0-{total - 1}/{total}"
    slots = [
        ("Content-Length", str(total).rjust(CLEN_SLOT)),
        ("Content-Range", whole.rjust(range_slot(total))),
    ]
    block, conn_off = header_block(
        206, content_type, None, custom, server=server, fields=[*slots, *fields]
    )
    partial = Stream(
        block,
        b"",
        conn_off,
        206,
        clen_off=_find(block, b"Content-Length"),
        range_off=_find(block, b"Content-Range"),
    )
    page = range_page or Page(special_page(416, server), "text/html; charset=utf-8")
    vary = [f for f in fields if f[0] == "Vary"]
    extra = {k: v for k, v in page.headers}
    fields416 = [("Content-Range", f"bytes */{total}"), *vary]
    block, conn_off = header_block(
        416, page.content_type, len(page.body), extra, server=server, fields=fields416
    )
    return partial, Stream(block, page.body, conn_off, 416)
