# tests/stack/variant_site.py: the app the variant, range and site-configuration tests
# serve, and what each of its paths holds.
#
# Pages and files are made here with fixed seeds and fixed times (the build time, the
# files' modification time), so the tests can restate every header value from the
# bodies alone: ETags with hashlib, dates with email.utils, encoded bodies checked by
# decompressing them with zlib and brotli.
from __future__ import annotations

import itertools
import os
import random
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

from harness import TEMPLATE_MSS, HttpResponse, Peer, Stack, get

import ssdk
from ssdk.core.buildtime.build import build

BUILT = 1_700_000_000  # build time: Last-Modified of pages
FILED = 1_600_000_000  # modification time of the files
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
CSS = "text/css; charset=utf-8"
BINARY = "application/octet-stream"
VHOST = "example.org"
VHOST_ALIAS = "www.example.org"
NOT_FOUND_PAGE = "<h1>nothing here</h1>"
VHOST_NOT_FOUND_PAGE = "<h1>example.org has no such page</h1>"
BAD_REQUEST_PAGE = "<h1>that request made no sense</h1>"


def words(seed: int, count: int) -> str:
    """Text from a small vocabulary: it compresses, but not to nothing."""
    rng = random.Random(seed)
    vocab = [f"w{rng.getrandbits(20):x}" for _ in range(300)]
    return " ".join(rng.choice(vocab) for _ in range(count))


@dataclass
class VSite:
    """The built bundle and what each (host, path) serves."""

    blob: bytes
    bodies: dict[str, tuple[str, bytes]]  # path -> (Content-Type, body) of the 200
    modified: dict[str, int] = field(default_factory=dict)
    folder: Path = Path()

    def date(self, path: str) -> str:
        return formatdate(self.modified[path], usegmt=True)


def make_vsite(folder: Path) -> VSite:
    rng = random.Random(7232)
    files = {
        "data.bin": (BINARY, rng.randbytes(10_000)),  # seven template segments
        "style.css": (CSS, (".a{color:red}\n" * 200).encode()),  # compresses well
        "small.txt": (TEXT, b"short and plain\n"),  # below the size worth compressing
        "docs/index.html": (HTML, b"<h1>the docs</h1>" * 30),
        "docs/more.txt": (TEXT, b"more\n"),
    }
    bodies: dict[str, tuple[str, bytes]] = {}
    for name, (ctype, data) in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (FILED, FILED))
        bodies[f"/files/{name}"] = (ctype, data)
    bodies["/files/docs/"] = bodies["/files/docs/index.html"]

    app = ssdk.App()
    text = f"<article>{words(1, 6000)}</article>"  # about 40 KB; gzip spans segments
    pages = {
        "/text": text,
        "/cached": "<p>cache me</p>",
        "/own": "<p>own headers</p>",
        "/": "<h1>default host</h1>",
    }
    app.page("/text")(lambda: ssdk.html(text))
    app.page("/cached", cache_control="max-age=60", headers={"X-Frame-Options": "DENY"})(
        lambda: ssdk.html(pages["/cached"])
    )
    app.page("/own", headers={"X-Route": "route", "X-Both": "route"})(
        lambda: ssdk.html(pages["/own"], headers={"X-Both": "response"})
    )
    app.page("/")(lambda: ssdk.html(pages["/"]))
    app.static("/files", folder, cache_control="public, max-age=3600")
    app.error(404)(lambda: ssdk.html(NOT_FOUND_PAGE))
    app.error(400)(lambda: ssdk.html(BAD_REQUEST_PAGE))
    for path, body in pages.items():
        bodies[path] = (HTML, body.encode())

    site = app.host(VHOST, VHOST_ALIAS)
    site.page("/")(lambda: ssdk.text("the example.org home page\n"))
    site.page("/only-here")(lambda: ssdk.text("a page of example.org alone\n"))
    site.error(404)(lambda: ssdk.html(VHOST_NOT_FOUND_PAGE))

    _, blob = build(app, mss=TEMPLATE_MSS, build_time=BUILT)
    modified = {p: FILED if p.startswith("/files/") else BUILT for p in bodies}
    return VSite(blob, bodies, modified, folder)


class Client:
    """One request per connection, each from a port no other Client has used: the
    response, parsed."""

    ports = itertools.count()

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def ask(self, request: bytes, head: bool = False, **peer: Any) -> HttpResponse:
        p = Peer(self.stack, sport=41000 + next(Client.ports) % 20000, **peer)
        p.connect()
        p.request(request)
        p.drain()
        resp = p.responses(1, head_only=head)[0]
        assert p.unread() == b"", "more than one response"
        return resp

    def get(self, path: str, *headers: str, host: str = "test", method: str = "GET",
            **peer: Any) -> HttpResponse:  # fmt: skip
        return self.ask(get(path, host=host, method=method, headers=headers),
                        head=method == "HEAD", **peer)  # fmt: skip
