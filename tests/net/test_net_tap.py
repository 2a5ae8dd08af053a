# tests/net/test_net_tap.py: the TAP backend (what `ssdk dev` serves on). The stack is
# the far end of a TAP device; curl runs in the same namespace and reaches it through
# the kernel's routing. Every size edge and the 8 MiB file come back byte-exact, one
# keep-alive connection carries many requests, and the device is gone afterwards.
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import FILE_SIZES, Server, file_sha256, serve, sha256


@pytest.fixture(scope="module")
def tap_server(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(bundle, tmp_path_factory.mktemp("tap"), tag="tap", backend="tap") as s:
        yield s


@pytest.mark.parametrize("name", sorted(FILE_SIZES))
def test_files_byte_exact(
    tap_server: Server, expected: dict[str, bytes], name: str, tmp_path: Path
) -> None:
    out = tmp_path / name
    proc = tap_server.curl_to(f"/files/{name}", out)
    assert proc.returncode == 0, proc.stderr
    assert file_sha256(out) == sha256(expected[f"/files/{name}"])


def test_keep_alive_on_one_connection(tap_server: Server, expected: dict[str, bytes]) -> None:
    outs = ["-o", "/dev/null", tap_server.url("/files/f1449.bin")] * 50
    proc = tap_server.client(["curl", "-sS", "--fail", "-w", "%{num_connects}\\n", *outs])
    assert proc.returncode == 0, proc.stderr
    assert [int(x) for x in proc.stdout.split()].count(1) == 1  # one connect, 49 reuses
    stats = tap_server.stats(fresh=True)
    assert stats["http_requests"] >= 50 and stats["drop_tcp_csum"] == 0


def test_the_banner_names_the_backend(tap_server: Server) -> None:
    assert "(tap)" in tap_server.output(), tap_server.log_tail()


def test_the_device_goes_with_the_namespace(bundle: Path, tmp_path: Path) -> None:
    with serve(bundle, tmp_path, tag="tapgone", backend="tap") as s:
        ns, ifname = s.topo.server_ns, s.topo.server_if
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns not in listing
    assert not Path(f"/sys/class/net/{ifname}").exists()
