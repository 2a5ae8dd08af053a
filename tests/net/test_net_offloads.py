# tests/net/test_net_offloads.py: requests that a peer with offloads on sends as
# super-frames and with partial checksums, on AF_PACKET and on AF_XDP in native and SKB
# mode, each with both veth ends' offloads left on (the kernel's default) and turned off:
# a large POST body to a dynamic route (over IPv4 and over IPv6: a client with TSO cuts
# nothing and hands over TCPV6 super-frames too), and many requests in one write. Every
# byte must arrive, and the counters must show which path carried it (docs/network.md,
# Offloads).
from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import OFFLOADS, REPO, Server, require_backend, serve

pytestmark = pytest.mark.net

APP = REPO / "tests" / "net" / "apps" / "bodysum.py"
CASES = {"af_packet": ("af_packet",), "xdp-native": ("af_xdp", "--xdp-mode", "native"),
         "xdp-skb": ("af_xdp", "--xdp-mode", "skb")}  # fmt: skip
BODY = random.Random("ssdk-offloads").randbytes(256 * 1024)


@pytest.fixture(scope="module", params=[(c, o) for c in CASES for o in OFFLOADS],
                ids=lambda p: f"{p[0]}-offloads-{p[1]}")  # fmt: skip
def case(
    request: pytest.FixtureRequest, net_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Server]]:
    name, offloads = request.param
    backend, *extra = CASES[name]
    require_backend(backend)
    with serve(APP, tmp_path_factory.mktemp("offl"), *extra, tag="offl", backend=backend,
               offloads=offloads, ipv6=True) as s:  # fmt: skip
        yield name, offloads, s


@pytest.mark.parametrize("family", [4, 6])
def test_large_post_body_arrives_whole(
    case: tuple[str, str, Server], tmp_path: Path, family: int
) -> None:
    name, offloads, server = case
    body = tmp_path / "body"
    body.write_bytes(BODY)
    before = server.stats(fresh=True)
    proc = server.client(["curl", f"-{family}", "-sS", "--fail", "--max-time", "90",
                          "--data-binary", f"@{body}", server.url("/sum", family)],
                         timeout=120)  # fmt: skip
    assert proc.returncode == 0, f"curl: {proc.stderr}\n{server.log_tail()}"
    assert json.loads(proc.stdout) == {"len": len(BODY), "sha256": hashlib.sha256(BODY).hexdigest()}
    after = server.stats(fresh=True)
    st = {k: after[k] - before.get(k, 0) for k in after}
    assert st["drop_tcp_csum"] == 0 and st["drop_truncated"] == 0, st
    if offloads == "off":  # complete frames of one MSS: nothing to cut, nothing partial
        assert st["rx_gso_segs"] == 0 and st["csum_partial_local"] == 0, st
    elif name == "af_packet":  # TSO on the client: super-frames, cut here, trusted
        assert st["rx_gso_segs"] > 0 and st["csum_offloaded"] > 0, st
    else:  # AF_XDP gets no checksum state: the partial sums are taken as local
        assert st["csum_partial_local"] > 0 and st["rx_gso_segs"] == 0, st


# 60 requests, each with a 300-byte header, written at once: some 20 KB in one send,
# which a client with TSO hands over as one super-frame.
PIPELINE = (
    "import json, socket, sys\n"
    "host = sys.argv[1]\n"
    "one = ('GET / HTTP/1.1\\r\\nHost: t\\r\\nX-Pad: ' + 'p' * 300 + '\\r\\n\\r\\n').encode()\n"
    "s = socket.create_connection((host, 80), timeout=30)\n"
    "s.sendall(one * 60)\n"
    "data = b''\n"
    "while data.count(b'<h1>hello</h1>') < 60:\n"
    "    chunk = s.recv(65536)\n"
    "    if not chunk:\n"
    "        break\n"
    "    data += chunk\n"
    "print(json.dumps({'ok': data.count(b'HTTP/1.1 200 OK'),"
    " 'bodies': data.count(b'<h1>hello</h1>')}))\n"
)


def test_pipelined_requests_in_one_write(case: tuple[str, str, Server]) -> None:
    _, _, server = case
    before = server.stats(fresh=True)["http_requests"]
    proc = server.client([sys.executable, "-c", PIPELINE, server.topo.server_ip], timeout=60)
    assert proc.returncode == 0, f"{proc.stderr}\n{server.log_tail()}"
    assert json.loads(proc.stdout) == {"ok": 60, "bodies": 60}
    st = server.stats(fresh=True)
    assert st["http_requests"] - before == 60 and st["drop_tcp_csum"] == 0, st
