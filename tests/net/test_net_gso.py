# tests/net/test_net_gso.py: `ssdk serve --gso on`: responses sent as super-frames that
# the kernel cuts (nic.h; AF_PACKET with PACKET_VNET_HDR, TAP with IFF_VNET_HDR), fetched
# byte for byte (curl, sha256) at 1 KiB, 64 KiB, 1 MiB and 8 MiB:
# - AF_PACKET with both veth ends' offloads on: the super-frame crosses the veth whole
#   (TSO), its checksum left partial all the way to the client's TCP;
# - AF_PACKET with both ends' offloads off: the kernel cuts it in software and finishes
#   every piece's checksum from the pseudo-header sum ssdk left, and the client's TCP
#   verifies each one: a wrong partial sum would lose every piece;
# - TAP (clients in the server's namespace, as under `ssdk dev`).
# And --gso on where the backend cannot (AF_XDP, the impairment layer) stops serve at
# once with exit code 2 and one line.
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import (
    Server,
    _env,
    build_bundle,
    file_sha256,
    random_files,
    serve,
    sha256,
    write_app,
)

pytestmark = pytest.mark.net

SIZES = {"g1k.bin": 1024, "g64k.bin": 64 * 1024, "g1m.bin": 1 << 20, "g8m.bin": 8 << 20}
CASES = {"af_packet-offloads-on": ("af_packet", "on"),
         "af_packet-offloads-off": ("af_packet", "off"),
         "tap": ("tap", "on")}  # fmt: skip


def client_csum_errors(server: Server) -> int:
    """TCP segments the client's kernel dropped for their checksum (Tcp InCsumErrors)."""
    proc = server.client(["cat", "/proc/net/snmp"])
    head, values = [line.split() for line in proc.stdout.splitlines() if line.startswith("Tcp:")]
    return int(values[head.index("InCsumErrors")])


@pytest.fixture(scope="module")
def gso_app(
    net_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, bytes]]:
    app_dir = tmp_path_factory.mktemp("gsoapp")
    expected = write_app(app_dir, random_files(SIZES))
    return build_bundle(app_dir / "app.py", app_dir / "app.ssdk"), expected


@pytest.fixture(scope="module", params=list(CASES))
def gso_server(
    request: pytest.FixtureRequest,
    gso_app: tuple[Path, dict[str, bytes]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    backend, offloads = CASES[request.param]
    with serve(gso_app[0], tmp_path_factory.mktemp("gso"), "--gso", "on", tag="gso",
               backend=backend, offloads=offloads) as s:  # fmt: skip
        yield s


@pytest.mark.parametrize("name", list(SIZES))
def test_download_is_byte_exact(
    gso_server: Server, gso_app: tuple[Path, dict[str, bytes]], name: str, tmp_path: Path
) -> None:
    out = tmp_path / name
    proc = gso_server.curl_to(f"/files/{name}", out)
    assert proc.returncode == 0, f"curl: {proc.stderr}\n{gso_server.log_tail()}"
    assert file_sha256(out) == sha256(gso_app[1][f"/files/{name}"])
    st = gso_server.stats(fresh=True)
    assert st["drop_tcp_csum"] == 0, st
    # Bytes can arrive whole through retransmissions alone (MSS-sized, summed in full):
    # the client's TCP must have found no piece with a bad checksum.
    assert client_csum_errors(gso_server) == 0
    if SIZES[name] >= 64 * 1024:  # more than one segment a flight: super-frames went
        assert st["tx_gso_frames"] > 0 and st["tx_gso_segs"] > 2 * st["tx_gso_frames"] - 1, st


PIPELINED = Path(__file__).resolve().parent / "pipelined_get.py"


def test_pipelined_downloads_are_byte_exact(
    gso_server: Server, gso_app: tuple[Path, dict[str, bytes]]
) -> None:
    """Every file twice, in one write: eight responses back to back (sharing
    super-frames where one ends and the next begins), in order, each byte for byte."""
    names = [n for n in SIZES if SIZES[n] <= 1 << 20] * 2
    proc = gso_server.client([sys.executable, str(PIPELINED), gso_server.topo.server_ip,
                              *names], timeout=60)  # fmt: skip
    assert proc.returncode == 0, f"{proc.stderr}\n{gso_server.log_tail()}"
    got = json.loads(proc.stdout)
    assert got == [["200", sha256(gso_app[1][f"/files/{n}"])] for n in names]
    assert client_csum_errors(gso_server) == 0


def test_banner_says_gso_on(gso_server: Server) -> None:
    assert "GSO on" in gso_server.output(), gso_server.output()


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["--backend", "af_xdp"], "af_xdp cannot send super-frames"),
        (["--impair-tx", "loss=1%"], "impairment layer"),
    ],
)
def test_gso_on_without_offload_is_refused(
    net_ready: None, gso_app: tuple[Path, dict[str, bytes]], extra: list[str], why: str
) -> None:
    argv = [sys.executable, "-m", "ssdk", "serve", str(gso_app[0]), "--iface", "lo",
            "--ip", "198.18.0.2/24", "--gso", "on", *extra]  # fmt: skip
    proc = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--gso" in lines[0] and why in lines[0], proc.stderr
    assert proc.stdout == ""
