# tests/stack/test_site_config.py: what an app configures beyond its content, as the
# stack serves it: headers per route and per folder, the Server header (named or off),
# a folder's index file and the redirect to its slash, the app's own error pages, and
# virtual hosts chosen by Host. Each test names the RFC section it relies on.
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Peer, Stack, get, head_block, validators
from variant_site import (
    BAD_REQUEST_PAGE,
    BUILT,
    HTML,
    NOT_FOUND_PAGE,
    TEXT,
    VHOST_NOT_FOUND_PAGE,
    Client,
    VSite,
)

import ssdk
from ssdk.core.buildtime.build import build

CACHE = [("Cache-Control", "public, max-age=3600")]
VARY = [("Vary", "Accept-Encoding")]


def page_200(vsite: VSite, path: str, extra: list[tuple[str, str]]) -> bytes:
    ctype, body = vsite.bodies[path]
    return head_block("200 OK", ctype, len(body), validators(body, vsite.modified[path]) + extra)


# --- headers per route and per folder ------------------------------------------------------


def test_route_headers_and_cache_control(vstack: Stack, vsite: VSite) -> None:
    """RFC 9111 5.2 (Cache-Control) and RFC 9110 5.3: app.page(headers=...,
    cache_control=...) adds its fields to the page's responses, after ssdk's own; the
    304 repeats Cache-Control, which a cache updates from it (RFC 9110 15.4.5), and not
    the others."""
    client = Client(vstack)
    extra = [("X-Frame-Options", "DENY"), ("Cache-Control", "max-age=60")]
    resp = client.get("/cached")
    assert resp.raw == page_200(vsite, "/cached", extra) + vsite.bodies["/cached"][1]
    tag = resp.header("ETag")
    again = client.get("/cached", f"If-None-Match: {tag}")
    kept = [("ETag", str(tag)), ("Cache-Control", "max-age=60")]
    assert again.raw == head_block("304 Not Modified", "", None, kept)


def test_the_response_wins_over_the_route(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 5.3: a field appears once; when the route and its handler's Response
    both set one, the Response's value is sent (it is the more specific)."""
    resp = Client(vstack).get("/own")
    extra = [("X-Route", "route"), ("X-Both", "response")]
    assert resp.raw == page_200(vsite, "/own", extra) + vsite.bodies["/own"][1]


def test_folder_headers_on_every_file(vstack: Stack, vsite: VSite) -> None:
    """RFC 9111 5.2: app.static(cache_control=...) gives every file of the folder its
    Cache-Control, in the 200, the HEAD and the 206 alike."""
    client = Client(vstack)
    for path in ("/files/small.txt", "/files/docs/more.txt", "/files/data.bin"):
        for method in ("GET", "HEAD"):
            resp = client.get(path, method=method)
            assert resp.head == page_200(vsite, path, CACHE)
    assert client.get("/files/data.bin", "Range: bytes=0-0").header("Cache-Control") == (
        "public, max-age=3600"
    )


# --- the Server header ------------------------------------------------------------------


@pytest.fixture
def server_stack(request: pytest.FixtureRequest) -> Iterator[tuple[Stack, str | None]]:
    """A one-page app built with App(server=<param>), on an engine."""
    app = ssdk.App(server=request.param)
    app.page("/")(lambda: ssdk.text("hi\n"))
    _, blob = build(app, build_time=BUILT)
    stack = Stack(blob)
    yield stack, request.param
    stack.close()


@pytest.mark.parametrize("server_stack", ["edge/2.1 (test)", None], indirect=True,
                         ids=["named", "off"])  # fmt: skip
def test_server_header_named_or_off(server_stack: tuple[Stack, str | None]) -> None:
    """RFC 9110 10.2.4: Server is optional and its value the origin's to choose:
    App(server=...) names it in every response, the 200, the 404, the 100 Continue
    (RFC 9110 15.2.1), and App(server=None) sends none."""
    stack, server = server_stack
    client = Client(stack)
    resp = client.get("/")
    assert resp.raw == head_block("200 OK", TEXT, 3, validators(b"hi\n", BUILT),
                                  server=server) + b"hi\n"  # fmt: skip
    assert client.get("/nope").header("Server") == server
    peer = Peer(stack, sport=43000)
    peer.connect()
    interim = peer.request(get("/", headers=["Expect: 100-continue", "Content-Length: 2"]))
    named = f"Server: {server}\r\n".encode() if server is not None else b""
    assert [s.payload for s in interim] == [
        b"HTTP/1.1 100 Continue\r\n" + named
        + b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: keep-alive\r\n\r\n"
    ]


def test_server_header_is_ssdk_by_default(vstack: Stack) -> None:
    """RFC 9110 10.2.4: without a choice, the Server field says ssdk."""
    assert Client(vstack).get("/").header("Server") == "ssdk"


# --- folders: index file and redirect ------------------------------------------------------


def test_folder_index_at_its_slash(vstack: Stack, vsite: VSite) -> None:
    """RFC 3986 3.3 and the convention every static server keeps: a folder's path with a
    trailing slash serves its index.html (the same representation as /index.html, so the
    same ETag); the file itself stays served."""
    client = Client(vstack)
    slash, named = client.get("/files/docs/"), client.get("/files/docs/index.html")
    want = page_200(vsite, "/files/docs/", VARY + CACHE) + vsite.bodies["/files/docs/"][1]
    assert slash.raw == named.raw == want


def test_folder_without_slash_is_301(vstack: Stack) -> None:
    """RFC 9110 15.4.2: the folder's path without its slash is moved permanently to the
    one with it; Location is a relative reference (RFC 9110 10.2.2), with a small page
    linking there; a HEAD gets the same header block."""
    client = Client(vstack)
    resp = client.get("/files/docs")
    assert resp.status == 301 and resp.header("Location") == "/files/docs/"
    assert resp.header("Content-Type") == HTML
    assert b'<a href="/files/docs/">' in resp.body
    assert resp.header("Cache-Control") == "public, max-age=3600"
    assert client.get("/files/docs", method="HEAD").raw == resp.head
    assert client.get("/files/docs?x=1").header("Location") == "/files/docs/"


def folder_stack(folder: Path, **static: object) -> Stack:
    (folder / "index.html").write_text("<p>home</p>")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "index.html").write_text("<p>sub</p>")
    app = ssdk.App()
    app.static("/", folder, **static)  # type: ignore[arg-type]
    _, blob = build(app, build_time=BUILT)
    return Stack(blob)


def test_root_folder_index(tmp_path: Path) -> None:
    """RFC 9110 4.2.3: "/" is the path of the root; a folder served at "/" has its
    index there, and no redirect for it (there is no path without the slash)."""
    stack = folder_stack(tmp_path)
    try:
        client = Client(stack)
        assert client.get("/").body == b"<p>home</p>"
        assert client.get("/sub/").body == b"<p>sub</p>"
        assert client.get("/sub").header("Location") == "/sub/"
    finally:
        stack.close()


def test_index_off(tmp_path: Path) -> None:
    """index=None: folders are not served at their paths (404, RFC 9110 15.5.5), nor
    redirected."""
    stack = folder_stack(tmp_path, index=None)
    try:
        client = Client(stack)
        assert [client.get(p).status for p in ("/", "/sub/", "/sub")] == [404, 404, 404]
        assert client.get("/sub/index.html").body == b"<p>sub</p>"
    finally:
        stack.close()


# --- the app's error pages ------------------------------------------------------------------


def test_custom_404(vstack: Stack) -> None:
    """RFC 9110 15.5.5: 404 for a path with no route, here with the app's own page
    (@app.error(404)); the connection stays (RFC 9112 9.3); a HEAD gets its header
    block, with the page's length (RFC 9110 9.3.2)."""
    client = Client(vstack)
    resp = client.get("/nowhere")
    body = NOT_FOUND_PAGE.encode()
    assert resp.raw == head_block("404 Not Found", HTML, len(body)) + body
    assert client.get("/nowhere", method="HEAD").raw == resp.head


def test_custom_400_closes(vstack: Stack) -> None:
    """RFC 9110 15.5.1 and RFC 9112 9.6: a malformed request gets 400 and the
    connection is closed; the page is the app's @app.error(400)."""
    resp = Client(vstack).ask(b"GET /a HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n")
    body = BAD_REQUEST_PAGE.encode()
    assert resp.raw == head_block("400 Bad Request", HTML, len(body),
                                  connection="     close") + body  # fmt: skip


# --- virtual hosts -----------------------------------------------------------------------


VHOST_HOME = b"the example.org home page\n"


@pytest.mark.parametrize(
    ("host", "target", "body"),
    [("example.org", "/", VHOST_HOME), ("EXAMPLE.Org", "/", VHOST_HOME),
     ("example.org:8080", "/", VHOST_HOME), ("www.example.org", "/", VHOST_HOME),
     ("example.org.", "/", VHOST_HOME), ("other.test", "/", b"<h1>default host</h1>"),
     ("test", "http://Example.ORG:80/", VHOST_HOME), ("example.org", "http://test/",
                                                      b"<h1>default host</h1>"),
     ("example.org", "/only-here", b"a page of example.org alone\n")],
    ids=["name", "case", "port", "alias", "final-dot", "unknown", "absolute-form",
         "absolute-form-default", "own-route"],
)  # fmt: skip
def test_virtual_hosts(vstack: Stack, host: str, target: str, body: bytes) -> None:
    """RFC 9110 7.2 and 7.4: the host of a request is its Host (or, with an
    absolute-form target, its authority, RFC 9112 3.2.2); host names are
    case-insensitive (RFC 3986 3.2.2), the port does not name another host here, and a
    final dot names the same (RFC 1034 3.1). A host the app does not name gets the
    default host's routes."""
    resp = Client(vstack).get(target, host=host)
    assert resp.status == 200 and resp.body == body


def test_virtual_host_routes_and_404(vstack: Stack) -> None:
    """RFC 9110 15.5.5: each host has its own routes: a path of the default host is not
    found on the virtual one, whose 404 is its own page; a path of the virtual host is
    not found on the default one; HTTP/1.0 without Host is the default host."""
    client = Client(vstack)
    resp = client.get("/cached", host="example.org")
    body = VHOST_NOT_FOUND_PAGE.encode()
    assert resp.raw == head_block("404 Not Found", HTML, len(body)) + body
    assert client.get("/only-here").body == NOT_FOUND_PAGE.encode()
    old = client.ask(b"GET / HTTP/1.0\r\n\r\n")
    assert old.body == b"<h1>default host</h1>"


def test_virtual_host_falls_back_to_app_error_pages(vstack: Stack) -> None:
    """RFC 9110 15.5.1: a request refused once its host is known (here a path that
    climbs above the root, RFC 3986 5.2.4) gets that host's 400 page, which for a
    virtual host without one is its app's."""
    resp = Client(vstack).get("/../x", host="example.org")
    body = BAD_REQUEST_PAGE.encode()
    assert resp.raw == head_block("400 Bad Request", HTML, len(body),
                                  connection="     close") + body  # fmt: skip


def test_files_are_byte_exact_per_host(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 7.4: the default host's static files keep their bytes and validators
    whatever unknown Host names them."""
    want = page_200(vsite, "/files/data.bin", CACHE) + vsite.bodies["/files/data.bin"][1]
    for host in ("a.test", "b.test:81"):
        assert Client(vstack).get("/files/data.bin", host=host).raw == want
