# tests/stack/conftest.py: fixtures for the stack tests: the test site, built once per
# session, and engines (one per test, closed afterwards) with a client peer.
#
# The site has small pages and static files whose responses span from one segment to
# well past the initial window, so tests can pick the size a TCP rule needs. The variant
# site (variant_site.py) has compressible pages and files, virtual hosts and error pages.
from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import BINARY, HTML, TEMPLATE_MSS, Peer, Site, Stack, serving_app
from holding import HoldingApp, make_app
from variant_site import VSite, make_vsite

import ssdk
from ssdk.core.buildtime.build import build

PAGES = {
    "/": "<h1>hello</h1>",
    "/a": "<p>first</p>",
    "/b": "<p>second, a little longer</p>",
    "/c": "<p>third</p>" * 20,
}
BUILT = 1_700_000_000  # the build time: the Last-Modified of pages
FILED = 1_600_000_000  # the files' modification time: their Last-Modified
FILES = {
    "mid.bin": 5000,  # four template segments with its header block
    "big.bin": 30000,  # about 21 template segments: more than the initial window
    "huge.bin": 100_000,  # enough for several rounds of slow start
    "wide.bin": 2_000_000,  # a flight of 640 segments: more holes than SACK_RANGES
    "long.bin": 5_000_000,  # seconds at a bottleneck: BBR's states (test_bbr.py)
}


def _page(body: str) -> Callable[[], ssdk.Response]:
    return lambda: ssdk.html(body)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder: Path = tmp_path_factory.mktemp("files")
    rng = random.Random(6298)  # fixed: a failure replays with the same bytes
    bodies: dict[str, tuple[str, bytes]] = {}
    for name, size in FILES.items():
        data = rng.randbytes(size)
        (folder / name).write_bytes(data)
        os.utime(folder / name, (FILED, FILED))
        bodies[f"/files/{name}"] = (BINARY, data)
    app = ssdk.App()
    for path, body in PAGES.items():
        app.page(path)(_page(body))
        bodies[path] = (HTML, body.encode())
    app.static("/files", folder)
    _, blob = build(app, mss=TEMPLATE_MSS, build_time=BUILT)
    modified = {p: FILED if p.startswith("/files/") else BUILT for p in bodies}
    return Site(blob, bodies, modified)


@pytest.fixture
def make_stack(site: Site) -> Iterator[Callable[..., Stack]]:
    """Engines with EngineConfig overrides; every one made is closed after the test."""
    made: list[Stack] = []

    def make(**config: object) -> Stack:
        s = Stack(site.blob, **config)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.fixture
def peer(stack: Stack) -> Peer:
    return Peer(stack)


@pytest.fixture(scope="session")
def vsite(tmp_path_factory: pytest.TempPathFactory) -> VSite:
    """The site with variants, virtual hosts and error pages (variant_site.py)."""
    return make_vsite(tmp_path_factory.mktemp("vfiles"))


@pytest.fixture
def vstack(vsite: VSite) -> Iterator[Stack]:
    s = Stack(vsite.blob)
    yield s
    s.close()


@pytest.fixture
def held() -> Iterator[tuple[Stack, HoldingApp]]:
    """make_app() served, its dynamic routes answered by the test (holding.py)."""
    with serving_app(make_app(), threading.Event()) as (stack, calls):
        app = HoldingApp(stack)
        calls.take = app.take  # type: ignore[method-assign]
        yield stack, app
