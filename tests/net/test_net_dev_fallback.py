# tests/net/test_net_dev_fallback.py: `ssdk dev` without the privilege a TAP device needs
# (root with CAP_NET_ADMIN taken out of its bounding set, so `ip tuntap` is refused): it
# says so in one line and serves the same bundle through kernel sockets on 127.0.0.1,
# answering with the same C parser and table (a bad request gets the same 400 and a
# close, pipelined requests are answered in order), runs the app's dynamic routes, and
# follows edits.
from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import HELLO, REPO, start_until_ready, unavailable

ECHO = """

@app.dynamic("/echo", methods=["GET", "POST"])
def echo(req):
    return ssdk.json({"q": req.query.get("q", ""), "body": req.body.decode()})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send data, read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    if os.geteuid() != 0:
        unavailable("dropping CAP_NET_ADMIN needs root (setpriv)")
    if shutil.which("setpriv") is None:
        unavailable("setpriv (util-linux) is missing")
    proj = tmp_path / "hello"
    shutil.copytree(HELLO, proj)
    with (proj / "app.py").open("a") as f:  # and a dynamic route
        f.write(ECHO)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    argv = ["setpriv", "--bounding-set=-net_admin", sys.executable, "-m", "ssdk", "dev",
            "--port", str(port)]
    proc, lines = start_until_ready(argv, proj, env, timeout=60)
    try:
        yield port, proj, lines
    finally:
        proc.terminate()
        proc.wait(30)
    assert "stopped" in "".join(lines)


def test_says_why_in_one_line_and_serves_through_kernel_sockets(
    dev: tuple[int, Path, list[str]],
) -> None:
    port, _, lines = dev
    said = [line for line in lines if "no TAP device" in line]
    assert len(said) == 1 and f"127.0.0.1:{port}" in said[0], lines
    out = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"<h1>hello</h1>")
    assert re.search(rb"\r\nDate: \w{3}, \d\d \w{3} \d{4} ", out)
    assert b"\r\nConnection:      close\r\n" in out


def test_the_same_parser_answers(dev: tuple[int, Path, list[str]]) -> None:
    port, _, _ = dev
    bad = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 ") and bad.count(b"HTTP/1.1") == 1  # closed after
    pipelined = (b"GET /items/a HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /items/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    two = exchange(port, pipelined)
    assert two.index(b'{"name":"a"}') < two.index(b'{"name":"b"}')


def test_an_edit_is_served(dev: tuple[int, Path, list[str]]) -> None:
    port, proj, lines = dev
    (proj / "public" / "hello.txt").write_text("changed\n")
    deadline = time.monotonic() + 30
    while not exchange(port, b"GET /files/hello.txt HTTP/1.0\r\n\r\n").endswith(b"changed\n"):
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.1)


def test_dynamic_routes_are_served_too(dev: tuple[int, Path, list[str]]) -> None:
    port, _, _ = dev
    got = exchange(port, b"GET /echo?q=hi HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         b"Connection: close\r\n\r\nhello")  # fmt: skip
    assert got.count(b"HTTP/1.1 200 OK") == 2, got
    assert got.index(b'{"q":"hi","body":""}') < got.index(b'{"q":"","body":"hello"}')


def test_a_chunked_body_reaches_the_app_as_on_the_stack(dev: tuple[int, Path, list[str]]) -> None:
    """The kernel path takes the stack's decision (serve/decide.c): a chunked body to a
    dynamic route is decoded by the C decoder and handed to the app; to a page it is 411;
    over the route's limit 413; a 100 Continue comes before a body the app will read."""
    port, _, _ = dev
    got = exchange(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"3\r\nhel\r\n2;x=1\r\nlo\r\n0\r\n\r\n"
                         b"GET /echo?q=after HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")  # fmt: skip
    assert got.count(b"HTTP/1.1 200 OK") == 2, got
    assert got.index(b'{"q":"","body":"hello"}') < got.index(b'{"q":"after","body":""}')
    page = exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"0\r\n\r\n")  # fmt: skip
    assert page.startswith(b"HTTP/1.1 411 ") and page.count(b"HTTP/1.1") == 1
    big = exchange(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"FFFFFF\r\n")  # fmt: skip
    assert big.startswith(b"HTTP/1.1 413 ") and big.count(b"HTTP/1.1") == 1
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\n\r\n")  # fmt: skip
        interim = s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        s.sendall(b"hi")
        rest = b""
        while chunk := s.recv(65536):
            rest += chunk
    assert rest.startswith(b"HTTP/1.1 200 OK") and b'{"q":"","body":"hi"}' in rest, rest
