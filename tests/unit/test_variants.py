# tests/unit/test_variants.py: the lowering of a route into its variants, read back
# from the blob with the independent decoder of unit_helpers (docs/bundle.md, format 3):
# which codings are stored, ETags and Last-Modified, the 304, the 206 template's slots,
# the 416, Vary, virtual host sections and error pages.
from __future__ import annotations

import gzip
import hashlib
import os
import random
import zlib
from pathlib import Path

import brotli
import pytest
from unit_helpers import NONE32, DecodedTables, Var, decode_tables, host_section, route_variants

import ssdk
from ssdk.core.buildtime import variants
from ssdk.core.buildtime.build import build
from ssdk.core.bundle import Bundle

BUILT = 1_700_000_000
TEXT = "<p>" + " ".join(f"word{i % 37}" for i in range(400)) + "</p>"  # compresses well


def built(app: ssdk.App) -> DecodedTables:
    return decode_tables(build(app, build_time=BUILT)[1])


def page_app(body: str | bytes, ctype: str | None = None, **page: object) -> ssdk.App:
    app = ssdk.App()
    app.page("/p", **page)(lambda: ssdk.Response(body, content_type=ctype))  # type: ignore[arg-type]
    return app


def vars_of(t: DecodedTables, path: bytes = b"/p", section: int = 0) -> list[Var]:
    found = route_variants(t, path, section)
    assert found is not None, path
    return found


def body_of(t: DecodedTables, i: int) -> bytes:
    return t.stream(i)[t.resp[i].hdr_len :]


def field(t: DecodedTables, i: int, name: str) -> str | None:
    head = t.stream(i)[: t.resp[i].hdr_len].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.lower() == name.lower():
            return v.strip(" ")
    return None


def test_codings_of_a_compressible_page() -> None:
    """Identity first, then gzip and br, each decoding to the body, smaller than 90% of
    it, with an ETag of its own bytes (the sha256's first 16 hex digits) and the build
    time as Last-Modified."""
    t = built(page_app(TEXT))
    vs = vars_of(t)
    assert [v.coding for v in vs] == [0, 1, 2]
    bodies = [body_of(t, v.get) for v in vs]
    assert bodies[0] == TEXT.encode()
    assert zlib.decompress(bodies[1], wbits=31) == TEXT.encode()
    assert brotli.decompress(bodies[2]) == TEXT.encode()
    for v, data in zip(vs, bodies, strict=True):
        digest = hashlib.sha256(data).hexdigest()[:16]
        assert v.etag == int(digest, 16) and field(t, v.get, "ETag") == f'"{digest}"'
        assert v.last_modified == BUILT
        assert field(t, v.get, "Last-Modified") == "Tue, 14 Nov 2023 22:13:20 GMT"
        assert field(t, v.get, "Vary") == "Accept-Encoding"
        assert len(data) < 0.9 * len(TEXT) or data == TEXT.encode()
    assert [field(t, v.get, "Content-Encoding") for v in vs] == [None, "gzip", "br"]


def test_gzip_is_deterministic_and_undated() -> None:
    """gzip members carry no timestamp or name (RFC 1952 2.3: MTIME 0, no FNAME), so
    the same page gives the same bytes on every build."""
    a, b = built(page_app(TEXT)), built(page_app(TEXT))
    ga, gb = body_of(a, vars_of(a)[1].get), body_of(b, vars_of(b)[1].get)
    assert ga == gb and ga[4:8] == b"\0\0\0\0" and not ga[3] & 0x08
    assert gzip.decompress(ga) == TEXT.encode()


@pytest.mark.parametrize(
    ("body", "ctype", "codings"),
    [(TEXT, "text/html", [0, 1, 2]), (TEXT, "application/json", [0, 1, 2]),
     (TEXT, "application/ld+json", [0, 1, 2]), (TEXT, "image/svg+xml", [0, 1, 2]),
     (TEXT, "image/png", [0]), (TEXT, "application/octet-stream", [0]),
     (TEXT, "font/woff2", [0]), ("a" * 255, "text/plain", [0]),
     ("a" * 256, "text/plain", [0, 1, 2]), (random.Random(1).randbytes(4000), "text/plain", [0])],
    ids=["html", "json", "ld+json", "svg", "png", "binary", "woff2", "below-256",
         "at-256", "incompressible"],
)  # fmt: skip
def test_which_codings_pay(body: str | bytes, ctype: str, codings: list[int]) -> None:
    """Coded representations are stored for compressible types only (text, JSON, XML,
    SVG; not images, fonts that are compressed already, or bytes of no known kind), from
    256 bytes, and when they come out under 90% of the original (random bytes do not,
    whatever their declared type)."""
    t = built(page_app(body, ctype))
    assert [v.coding for v in vars_of(t)] == codings


def test_no_brotli_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build works without the brotli module: gzip alone is stored."""
    monkeypatch.setattr(variants, "_brotli", None)
    t = built(page_app(TEXT))
    assert [v.coding for v in vars_of(t)] == [0, 1] and not variants.have_brotli()


def test_not_modified_and_range_templates() -> None:
    """The 304 is a header block alone: ETag, Vary, the route's Cache-Control, no
    Content-Type or Content-Length. The 206 template is a header block alone whose
    Content-Length slot (10 bytes) and Content-Range slot (8 + 3 * digits bytes) hold the
    whole body's values right-aligned, and names the GET it takes parts of; the 416 says
    bytes */length."""
    t = built(page_app(TEXT, cache_control="max-age=5", headers={"X-A": "1"}))
    for v in vars_of(t):
        nm = t.resp[v.not_modified]
        head = t.stream(v.not_modified).decode()
        assert nm.status == 304 and nm.stream_len == nm.hdr_len
        assert field(t, v.not_modified, "ETag") == field(t, v.get, "ETag")
        assert field(t, v.not_modified, "Cache-Control") == "max-age=5"
        assert "Content-Length" not in head and "Content-Type" not in head and "X-A" not in head
        total = len(body_of(t, v.get))
        p = t.resp[v.partial]
        stream = t.stream(v.partial)
        assert (p.status, p.flags, p.body, p.stream_len) == (206, 2, v.get, p.hdr_len)
        assert stream[p.clen_off : p.clen_off + 10] == str(total).rjust(10).encode()
        width = 8 + 3 * len(str(total))
        assert stream[p.range_off : p.range_off + width + 2] == (
            f"bytes 0-{total - 1}/{total}".rjust(width) + "\r\n").encode()
        assert field(t, v.partial, "X-A") == "1"
        u = t.resp[v.unsatisfiable]
        assert u.status == 416 and field(t, v.unsatisfiable, "Content-Range") == f"bytes */{total}"


def test_responses_other_than_200_have_one_variant() -> None:
    """Only a 200 has validators, codings and ranges: a page that answers 404 or 301 is
    one response (and its HEAD)."""
    app = ssdk.App()
    app.page("/gone")(lambda: ssdk.html(TEXT, status=410))
    t = built(app)
    (v,) = vars_of(t, b"/gone")
    assert (v.etag, v.not_modified, v.partial, v.unsatisfiable) == (0, NONE32, NONE32, NONE32)
    assert field(t, v.get, "ETag") is None and field(t, v.get, "Accept-Ranges") is None


def test_vary_joins_the_responses_own() -> None:
    """A response that already varies (say on Cookie) keeps that, after Accept-Encoding,
    in one Vary field; a body in a coding of its own is not coded again."""
    t = built(page_app(TEXT, headers={"Vary": "Cookie"}))
    assert field(t, vars_of(t)[0].get, "Vary") == "Accept-Encoding, Cookie"
    coded = built(page_app(gzip.compress(TEXT.encode()), "text/html",
                           headers={"Content-Encoding": "gzip"}))  # fmt: skip
    assert [v.coding for v in vars_of(coded)] == [0]


def test_empty_body_has_no_ranges() -> None:
    """A representation of no bytes has no range to take: no Accept-Ranges, no 206."""
    t = built(page_app(""))
    (v,) = vars_of(t)
    assert v.partial == NONE32 and field(t, v.get, "Accept-Ranges") is None
    assert v.not_modified != NONE32


def test_static_files_date_and_index(tmp_path: Path) -> None:
    """A file's Last-Modified is its modification time; a folder with index.html has
    the file at its slash (the same stream bytes) and a 301 without it."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "index.html").write_text("<p>i</p>")
    os.utime(tmp_path / "sub" / "index.html", (1_500_000_000, 1_500_000_000))
    app = ssdk.App()
    app.static("/s", tmp_path)
    t = built(app)
    (slash,), (named,) = vars_of(t, b"/s/sub/"), vars_of(t, b"/s/sub/index.html")
    assert slash.last_modified == named.last_modified == 1_500_000_000
    assert t.stream(slash.get) == t.stream(named.get)
    (moved,) = vars_of(t, b"/s/sub")
    assert t.resp[moved.get].status == 301 and field(t, moved.get, "Location") == "/s/sub/"
    assert route_variants(t, b"/s/") is None  # no index.html at the top


def test_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without build_time, pages are dated $SOURCE_DATE_EPOCH when it is set (the
    reproducible-builds convention), so two builds give the same bytes."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    m, blob = build(page_app("x"))
    assert vars_of(decode_tables(blob))[0].last_modified == 1234567890 == m.built_at
    assert build(page_app("x")) == (m, blob)


def test_virtual_host_sections() -> None:
    """Each virtual host is a section: its names (lower case, final dot dropped) lead to
    it, its routes live in it, and its special responses are its app's where it gives
    no page of its own, the very same streams (stored once)."""
    app = ssdk.App()
    app.page("/")(lambda: "default")
    a = app.host("A.Example.", "alias.example")
    a.page("/")(lambda: "a")
    b = app.host("b.example")
    b.page("/b")(lambda: "b")
    b.error(404)(lambda: "b's 404")
    t = built(app)
    assert [host_section(t, n) for n in (b"a.example", b"alias.example", b"b.example",
                                         b"c.example")] == [1, 1, 2, 0]  # fmt: skip
    assert body_of(t, vars_of(t, b"/", 1)[0].get) == b"a"
    assert route_variants(t, b"/b", 0) is None and route_variants(t, b"/b", 2) is not None
    assert t.sections[1] == t.sections[0]
    assert t.sections[2][1] != t.sections[0][1] and t.sections[2][0] == t.sections[0][0]
    assert body_of(t, t.sections[2][1]) == b"b's 404"
    assert len(t.sections) == 3
    bundle = Bundle(*build(app, build_time=BUILT))
    idx = bundle.lookup("/", host="ALIAS.example:8080")
    assert idx is not None and bundle.stream(idx).endswith(b"\r\n\r\na")


def test_error_pages_replace_the_specials() -> None:
    """@app.error(status) replaces the body, type and headers of ssdk's own answer for
    that status (for 404 both the GET and the HEAD one: the HEAD's Content-Length is the
    page's); 405 keeps its Allow."""
    app = ssdk.App()
    app.error(404)(lambda: ssdk.text("no such thing\n", headers={"X-Why": "gone"}))
    app.error(405)(lambda: ssdk.html("<p>not that way</p>"))
    t = built(app)
    get, head = t.special[1], t.special[2]
    assert body_of(t, get) == b"no such thing\n" and body_of(t, head) == b""
    assert field(t, head, "Content-Length") == "14" and field(t, get, "X-Why") == "gone"
    assert field(t, get, "Content-Type") == "text/plain; charset=utf-8"
    assert field(t, t.special[3], "Allow") == "GET, HEAD, OPTIONS"
    assert body_of(t, t.special[3]) == b"<p>not that way</p>"


def test_server_header_everywhere() -> None:
    """App(server=...) names every response's Server, and App(server=None) drops it."""
    for server in ("edge/1", None):
        t = built(ssdk.App(server=server))
        for i in range(t.nresp):
            assert field(t, i, "Server") == server
