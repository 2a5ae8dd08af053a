# tests/unit/test_build.py: the public API end to end (declare, build, look up), the
# header block format and content types.
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from unit_helpers import AppWriter, decode_tables, lookup

import ssdk
from ssdk.core.buildtime.build import build, load_app
from ssdk.core.buildtime.report import format_routes, format_summary, human_bytes
from ssdk.core.http import content_type_for, date_offset, header_block

BUILT = 1_700_000_000  # the build time every test build here is given
BUILT_TEXT = "Tue, 14 Nov 2023 22:13:20 GMT"  # the same as an IMF-fixdate


def validators(body: bytes, modified: str = BUILT_TEXT) -> bytes:
    """What every 200 carries after Content-Length (docs/http.md): Last-Modified, a
    strong ETag from the sha256 of the body, and Accept-Ranges for a non-empty one."""
    etag = hashlib.sha256(body).hexdigest()[:16]
    ranges = b"Accept-Ranges: bytes\r\n" if body else b""
    return f'Last-Modified: {modified}\r\nETag: "{etag}"\r\n'.encode() + ranges


def served(app: ssdk.App, path: str) -> bytes:
    _, blob = build(app, build_time=BUILT)
    t = decode_tables(blob)
    found = lookup(t, path.encode())
    assert found is not None, path
    return t.stream(found[0])


def test_the_documented_example(write_app: AppWriter) -> None:
    path, _ = write_app(
        """
        import ssdk
        app = ssdk.App()
        app.static("/files", "public/")
        @app.page("/")
        def index():
            return ssdk.html("<h1>hello</h1>")
        @app.page("/items/{name}")
        def item(name: str):
            return ssdk.json({"name": name})
        @item.params
        def _():
            yield from ({"name": n} for n in ["a", "b", "c"])
        """
    )
    (path.parent / "public" / "css").mkdir(parents=True)
    (path.parent / "public" / "css" / "site.css").write_text("h1{}")
    (path.parent / "public" / "logo.png").write_bytes(b"\x89PNG")
    os.utime(path.parent / "public" / "css" / "site.css", (1_600_000_000, 1_600_000_000))
    app = load_app(path)
    manifest, _ = build(app)
    rows = {r.path: r for r in manifest.routes if r.kind != "special"}
    assert sorted(rows) == ["/", "/files/css/site.css", "/files/logo.png", "/items/a",
                            "/items/b", "/items/c"]  # fmt: skip
    assert rows["/files/logo.png"].content_type == "image/png"
    assert rows["/files/css/site.css"].kind == "static"
    assert served(app, "/") == (
        b"HTTP/1.1 200 OK\r\nServer: ssdk\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        b"Content-Type: text/html; charset=utf-8\r\nContent-Length: 14\r\n"
        + validators(b"<h1>hello</h1>")
        + b"Connection: keep-alive\r\n\r\n<h1>hello</h1>"
    )
    assert served(app, "/items/b").endswith(
        b"Content-Type: application/json\r\nContent-Length: 12\r\n"
        + validators(b'{"name":"b"}') + b'Connection: keep-alive\r\n\r\n{"name":"b"}'
    )
    css = served(app, "/files/css/site.css")
    assert css.endswith(b"charset=utf-8\r\nContent-Length: 4\r\n"
                        + validators(b"h1{}", "Sun, 13 Sep 2020 12:26:40 GMT")
                        + b"Connection: keep-alive\r\n\r\nh1{}")  # fmt: skip


@pytest.mark.parametrize(
    ("value", "ctype", "body"),
    [
        ("'<p>x</p>'", "text/html; charset=utf-8", b"<p>x</p>"),
        ("b'\\x00\\x01'", "application/octet-stream", b"\x00\x01"),
        ("{'a': [1, 2]}", "application/json", b'{"a":[1,2]}'),
        ("[1, 'x']", "application/json", b'[1,"x"]'),
        ("ssdk.text('hi')", "text/plain; charset=utf-8", b"hi"),
    ],
)
def test_return_types(value: str, ctype: str, body: bytes) -> None:
    app = ssdk.App()
    app.page("/")(eval(f"lambda: {value}"))
    stream = served(app, "/")
    assert f"\r\nContent-Type: {ctype}\r\n".encode() in stream
    assert stream.endswith(b"\r\n\r\n" + body)


def test_int_param_reaches_handler_as_int() -> None:
    app = ssdk.App()
    seen: list[object] = []

    @app.page("/n/{id:int}")
    def n(id: int) -> str:
        seen.append(id)
        return str(id * 2)

    @n.params
    def _() -> object:
        return [{"id": 1}, {"id": "21"}]

    assert served(app, "/n/21").endswith(b"\r\n\r\n42")
    assert seen == [1, 21]
    assert n(5) == "10"  # the Route still calls like the function it wraps


def test_route_keys_are_percent_encoded() -> None:
    app = ssdk.App()

    @app.page("/w/{word}")
    def w(word: str) -> str:
        return word

    @w.params
    def _() -> object:
        yield from ({"word": x} for x in ["hello world", "café", "a+b@c", "100%", "q?"])

    manifest, _ = build(app)
    keys = sorted(r.path for r in manifest.routes if r.kind == "page")
    assert keys == ["/w/100%25", "/w/a+b@c", "/w/caf%C3%A9", "/w/hello%20world", "/w/q%3F"]
    assert served(app, "/w/caf%C3%A9").endswith("café".encode())


def test_custom_headers_and_statuses() -> None:
    app = ssdk.App()
    app.page("/r")(lambda: ssdk.Response("", 301, {"Location": "/"}, "text/plain"))
    app.page("/nc")(lambda: ssdk.Response(b"", 204))
    app.page("/t")(lambda: ssdk.Response("x", headers={"Content-Type": "text/css"}))
    assert served(app, "/r") == (
        b"HTTP/1.1 301 Moved Permanently\r\nServer: ssdk\r\n"
        b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 0\r\nLocation: /\r\nConnection: keep-alive\r\n\r\n"
    )
    assert b"Content-Length" not in served(app, "/nc")
    assert b"\r\nContent-Type: text/css\r\n" in served(app, "/t")


def test_header_block_conn_off() -> None:
    block, off = header_block(200, "text/plain", 5, {"Cache-Control": "max-age=60"})
    assert block[off : off + 10] == b"keep-alive"
    assert block.index(b"Cache-Control") < block.index(b"Connection")
    assert block.endswith(b"Connection: keep-alive\r\n\r\n")


def test_header_block_date_placeholder() -> None:
    """Every block carries the placeholder Date the C core overwrites (docs/bundle.md)."""
    block, _ = header_block(404, "text/html", 0)
    at = date_offset(block)
    assert block[at - 8 : at + 31] == b"\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("a.CSS", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("d.json", "application/json"),
        ("r.txt", "text/plain; charset=utf-8"),
        ("i.svg", "image/svg+xml"),
        ("i.png", "image/png"),
        ("i.jpg", "image/jpeg"),
        ("i.gif", "image/gif"),
        ("i.webp", "image/webp"),
        ("favicon.ico", "image/x-icon"),
        ("f.woff2", "font/woff2"),
        ("m.wasm", "application/wasm"),
        ("feed.xml", "application/xml"),
        ("doc.pdf", "application/pdf"),
        ("archive.tar.gz", "application/gzip"),
        ("x.tar.bz2", "application/octet-stream"),
        ("README", "application/octet-stream"),
        ("x.unknownext", "application/octet-stream"),
    ],
)
def test_content_types(name: str, ctype: str) -> None:
    assert content_type_for(name) == ctype
    assert content_type_for(Path("some/dir") / name) == ctype


def test_import_ssdk_is_light() -> None:
    code = (
        "import sys, ssdk; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('msgspec', 'cffi', '_cffi_backend')"
        " or m.startswith(('ssdk.core', 'ssdk.tools'))]; "
        "print(heavy); assert not heavy; assert ssdk.__version__ == '0.1.0'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_reports() -> None:
    app = ssdk.App()
    app.page("/")(lambda: "x" * 3000)
    app.host("a.example").page("/b")(lambda: b"\0")
    manifest, _ = build(app, source="app.py")
    table = format_routes(manifest)
    lines = table.splitlines()
    assert lines[0].split() == ["PATH", "KIND", "STATUS", "TYPE", "BYTES", "SEGS"]
    assert lines[1].split() == ["/", "page+gzip+br", "200", "text/html", "3000", "3"]
    assert lines[2].split() == ["a.example/b", "page", "200", "application/octet-stream",
                                "1", "1"]  # fmt: skip
    assert len(lines) == 3 and all(line == line.rstrip() for line in lines)
    assert len(format_routes(manifest, specials=True).splitlines()) == 3 + 14  # the specials
    summary = format_summary(manifest, "out.ssdk")
    assert "app.py -> out.ssdk" in summary and manifest.blob_sha256 in summary
    assert [human_bytes(n) for n in (0, 1023, 1536, 5 << 20)] == [
        "0 B", "1023 B", "1.5 KiB", "5.0 MiB"]  # fmt: skip


def test_mss_range() -> None:
    app = ssdk.App()
    app.page("/")(lambda: "x")
    for bad in (0, 63, 9001):
        with pytest.raises(ValueError):
            build(app, mss=bad)
