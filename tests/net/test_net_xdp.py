# tests/net/test_net_xdp.py: AF_XDP in each XDP mode the veth offers (native/driver and
# SKB/generic), each with the veth offloads on (the kernel's default) and off: the start
# banner names the mode, bodies are byte-exact, and the socket's drop counters reach the
# stats. The shared suite (routes, keep-alive, parallel, wrk)
# runs on AF_XDP's automatic choice through the `backend` fixture.
from __future__ import annotations

from pathlib import Path

import pytest
from nethelpers import OFFLOADS, file_sha256, require_backend, serve, sha256

pytestmark = pytest.mark.net

# On a veth, native mode attaches without help from the peer, so auto picks it.
BANNER = {
    "auto": "af_xdp queue 0, native, ",
    "native": "af_xdp queue 0, native, ",
    "skb": "af_xdp queue 0, SKB, ",
}


@pytest.mark.parametrize("offloads", OFFLOADS)
@pytest.mark.parametrize("mode", list(BANNER))
def test_mode_is_reported_and_serves(
    net_ready: None, bundle: Path, expected: dict[str, bytes], tmp_path: Path, mode: str,
    offloads: str,
) -> None:
    require_backend("af_xdp")
    with serve(bundle, tmp_path, "--xdp-mode", mode, tag="xdp", backend="af_xdp",
               offloads=offloads) as server:  # fmt: skip
        assert BANNER[mode] in server.output(), server.output()
        for path in ("/", "/files/f1448.bin", "/files/f64k.bin"):
            out = tmp_path / "body"
            proc = server.curl_to(path, out)
            assert proc.returncode == 0, f"curl {path}: {proc.stderr}\n{server.log_tail()}"
            assert file_sha256(out) == sha256(expected[path]), path
        stats = server.stats(fresh=True)
        assert stats["rx_frames"] > 0 and stats["drop_rx_ring"] == 0, stats

