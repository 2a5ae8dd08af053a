# tests/net/test_net_parallel.py: 64 curl clients fetch the 8 MiB file at once; all byte-exact,
# the server still serves afterwards and its connection table drains to empty.
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from nethelpers import BIG, Server, file_sha256, sha256

from ssdk.tools.netns import ns_exec

pytestmark = pytest.mark.net

CLIENTS = 64
TIMEOUT = 300.0


def test_64_parallel_8mib(server: Server, expected: dict[str, bytes], tmp_path: Path) -> None:
    want = sha256(expected[BIG])
    procs: list[tuple[Path, subprocess.Popen[str]]] = []
    try:
        for i in range(CLIENTS):
            out = tmp_path / f"big-{i}.bin"
            argv = ["curl", "-sS", "--fail", "--max-time", str(int(TIMEOUT)), "-o", str(out)]
            procs.append(
                (
                    out,
                    subprocess.Popen(
                        ns_exec(server.topo.client_ns, [*argv, server.url(BIG)]),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
            )
        deadline = time.monotonic() + TIMEOUT + 30
        failures = []
        for i, (out, proc) in enumerate(procs):
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if proc.returncode != 0:
                failures.append(f"client {i}: curl exited {proc.returncode}: {err.strip()}")
            elif file_sha256(out) != want:
                failures.append(f"client {i}: {out.stat().st_size} bytes, sha256 differs")
        assert not failures, "\n".join(failures) + "\n" + server.log_tail()
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # Still serving after the burst.
    again = tmp_path / "again.bin"
    proc = server.curl_to("/", again)
    assert proc.returncode == 0, f"{proc.stderr}\n{server.log_tail()}"
    assert again.read_bytes() == expected["/"]

    stats = server.wait_stats("conns_active", 0, timeout=10.0)
    assert stats["conns_opened"] >= CLIENTS + 1, stats
