# tests/net/test_net_pool.py: a full connection pool drops new SYNs (counted) instead of
# failing; once a slot frees, the client's SYN retransmission gets through and is served.
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import Server, serve

from ssdk.tools.netns import ns_exec

pytestmark = pytest.mark.net

HOLD = Path(__file__).with_name("hold_conns.py")
POOL = 4


@pytest.fixture
def small_pool(bundle: Path, tmp_path: Path) -> Iterator[Server]:
    with serve(bundle, tmp_path, "--max-conns", str(POOL), tag="pool") as s:
        yield s


def test_pool_full_drops_syn_then_recovers(
    small_pool: Server, expected: dict[str, bytes], tmp_path: Path
) -> None:
    server = small_pool
    holder = subprocess.Popen(
        ns_exec(server.topo.client_ns, [sys.executable, str(HOLD), server.topo.server_ip])
        + [str(POOL)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    late: subprocess.Popen[str] | None = None
    try:
        assert holder.stdout is not None and holder.stdin is not None
        line = holder.stdout.readline()
        assert line.strip() == "held", f"{line!r} {holder.stderr and holder.stderr.read()}"
        server.wait_stats("conns_active", POOL)
        dropped = server.stats(fresh=True)["syn_dropped_pool_full"]

        out = tmp_path / "late"
        late = subprocess.Popen(
            ns_exec(server.topo.client_ns, ["curl", "-sS", "--fail", "--max-time", "30"])
            + ["-o", str(out), server.url("/")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        during = server.stats(fresh=True)
        assert during["syn_dropped_pool_full"] > dropped, during
        assert late.poll() is None, "served although the pool was full"

        holder.stdin.close()  # frees the pool; curl's next SYN retransmission must succeed
        holder.wait(timeout=10)
        _, err = late.communicate(timeout=40)
        assert late.returncode == 0, f"{err}\n{server.log_tail()}"
        assert out.read_bytes() == expected["/"]
        server.wait_stats("conns_active", 0)
    finally:
        for p in (holder, late):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
