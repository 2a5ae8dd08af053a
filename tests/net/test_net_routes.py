# tests/net/test_net_routes.py: curl in the client namespace against every route of the test
# app over AF_PACKET: byte-exact bodies at the segment-size edges, 404, HEAD and ARP.
from __future__ import annotations

from pathlib import Path

import pytest
from nethelpers import ROUTES, Server, file_sha256, sha256

pytestmark = pytest.mark.net


@pytest.mark.parametrize("path", ROUTES)
def test_get_byte_exact(
    server: Server, expected: dict[str, bytes], tmp_path: Path, path: str
) -> None:
    out = tmp_path / "body"
    proc = server.curl_to(path, out, "-w", "%{http_code} %{content_type}")
    assert proc.returncode == 0, f"curl {path}: {proc.stderr}\n{server.log_tail()}"
    status, _, ctype = proc.stdout.partition(" ")
    assert status == "200"
    body = expected[path]
    assert out.stat().st_size == len(body)
    assert file_sha256(out) == sha256(body)
    if path == "/":
        assert ctype.startswith("text/html")
    elif path.startswith("/items/"):
        assert ctype.startswith("application/json")


def test_missing_path_is_404(server: Server) -> None:
    for path in ("/missing", "/files/missing.bin", "/items/d"):
        proc = server.client(
            ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"]
            + [server.url(path)]
        )
        assert proc.returncode == 0, f"curl {path}: {proc.stderr}"
        assert proc.stdout == "404", path


@pytest.mark.parametrize("path", ROUTES)
def test_head(server: Server, expected: dict[str, bytes], path: str) -> None:
    proc = server.client(["curl", "-sS", "--fail", "--max-time", "10", "-I", server.url(path)])
    assert proc.returncode == 0, f"curl -I {path}: {proc.stderr}"
    status_line, *header_lines = proc.stdout.strip().splitlines()
    assert status_line.split()[:2] == ["HTTP/1.1", "200"], status_line
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert headers.get("content-length") == str(len(expected[path])), headers


def test_arp_answered_with_interface_mac(server: Server) -> None:
    # Any successful fetch resolved the server address; the answer must name the
    # server end of the veth, the only MAC the stack may claim.
    proc = server.client(
        ["curl", "-sS", "--fail", "--max-time", "10", "-o", "/dev/null"] + [server.url("/")]
    )
    assert proc.returncode == 0, proc.stderr
    neigh = server.client(["ip", "neigh", "show", server.topo.server_ip])
    assert server.topo.server_mac in neigh.stdout, neigh.stdout
