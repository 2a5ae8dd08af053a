# tests/net/test_net_load.py: examples/site served by ssdk (its own stack, AF_PACKET)
# under load for a few seconds each: ApacheBench with keep-alive (`ab -k`, HTTP/1.0 with
# Connection: Keep-Alive) and wrk pipelining 16 requests per write (tests/net/
# pipeline.lua). Every answer must be a 2xx of the file's size, with no socket errors and
# no failed requests, every ab request on a kept connection, and the connection table
# empty afterwards. A correctness check under load: no timing is asserted.
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import Server, build_bundle, serve
from sitepair import copy_site, require_tool

pytestmark = pytest.mark.net

PIPELINE = Path(__file__).resolve().parent / "pipeline.lua"
PATHS = ["/", "/css/site.css", "/js/site.js", "/img/logo.png", "/img/path.svg",
         "/fonts/glyphs.woff", "/about.html", "/guide/index.html"]  # fmt: skip


@pytest.fixture(scope="module")
def site(
    net_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    """ssdk serving a copy of examples/site, and that copy's public folder."""
    tmp = tmp_path_factory.mktemp("load")
    folder = copy_site(tmp)
    bundle = build_bundle(folder / "app.py", tmp / "site.ssdk")
    with serve(bundle, tmp, tag="load") as server:
        yield server, folder / "public"


def number(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    assert m is not None, f"{pattern!r} not in:\n{text}"
    return int(m.group(1))


@pytest.mark.parametrize("path", ["/", "/img/logo.png", "/fonts/glyphs.woff"])
def test_ab_keepalive(site: tuple[Server, Path], path: str) -> None:
    require_tool("ab")
    server, public = site
    size = (public / (path.lstrip("/") or "index.html")).stat().st_size
    n = 3000
    proc = server.client(["ab", "-k", "-n", str(n), "-c", "16", "-s", "10", server.url(path)],
                         timeout=120)  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr + server.log_tail()
    assert number(r"Document Length:\s+(\d+) bytes", out) == size, out
    assert number(r"Complete requests:\s+(\d+)", out) == n, out
    assert number(r"Failed requests:\s+(\d+)", out) == 0, out
    assert "Non-2xx responses" not in out, out
    assert number(r"Keep-Alive requests:\s+(\d+)", out) == n, out
    server.wait_stats("conns_active", 0)


def test_wrk_pipelined(site: tuple[Server, Path]) -> None:
    require_tool("wrk")
    server, _ = site
    argv = ["wrk", "-t1", "-c16", "-d3s", "--timeout", "5s", "-s", str(PIPELINE),
            server.url("/"), "--", *PATHS]  # fmt: skip
    proc = server.client(argv, timeout=60)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    requests = number(r"(\d+) requests in", out)
    m = re.search(r"responses (\d+) non-2xx (\d+)", out)
    assert m is not None, out + proc.stderr
    responses, non2xx = int(m.group(1)), int(m.group(2))
    # pipelined: many writes of 16, each answered whole
    assert requests > 16 * 16 and responses == requests, out
    assert non2xx == 0, out
    assert "Non-2xx" not in out, out
    assert "Socket errors" not in out, out + server.log_tail()
    server.wait_stats("conns_active", 0)


def test_wrk_plain_and_pipelined_rates(site: tuple[Server, Path]) -> None:
    """The same server under wrk with one request per write (plain keep-alive) and with
    16 (pipeline.lua), one after the other: both clean. The two rates are printed for
    the record (docs/http.md, "Pipelining"); nothing about speed is asserted."""
    require_tool("wrk")
    server, _ = site
    rates: dict[str, float] = {}
    for kind, extra in (("plain", []), ("pipelined", ["-s", str(PIPELINE)])):
        argv = ["wrk", "-t1", "-c16", "-d3s", "--timeout", "5s", *extra, server.url("/")]
        if extra:
            argv += ["--", *PATHS]
        proc = server.client(argv, timeout=60)
        out = proc.stdout
        assert proc.returncode == 0, out + proc.stderr
        assert "Non-2xx" not in out and "Socket errors" not in out, out + server.log_tail()
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        assert m is not None, out
        rates[kind] = float(m.group(1))
        server.wait_stats("conns_active", 0)
    print(
        f"\nwrk -t1 -c16 -d3s: plain {rates['plain']:.0f} requests/s, pipelined (16 per "
        f"write) {rates['pipelined']:.0f} requests/s, "
        f"{rates['pipelined'] / rates['plain']:.2f}x"
    )
