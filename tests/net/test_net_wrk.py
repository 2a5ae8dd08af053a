# tests/net/test_net_wrk.py: wrk's 32 keep-alive connections against the stack for a few
# seconds: no socket errors, only 2xx, and the connection table drains afterwards. This is
# a correctness check under load; throughput is measured by bench/wrk_vs_nginx.py.
from __future__ import annotations

import re
import shutil

import pytest
from nethelpers import Server

pytestmark = pytest.mark.net


@pytest.mark.parametrize("path", ["/files/f1449.bin", "/files/f64k.bin"])
def test_wrk_no_errors(server: Server, expected: dict[str, bytes], path: str) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing", pytrace=False)
    argv = ["wrk", "-t1", "-c32", "-d3s", "--timeout", "5s", server.url(path)]
    proc = server.client(argv, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    m = re.search(r"(\d+) requests in", out)
    assert m and int(m.group(1)) > 0, out
    assert "Socket errors" not in out, out + server.log_tail()
    assert "Non-2xx" not in out, out

    again = server.client(
        ["curl", "-sS", "--fail", "--max-time", "10", "-o", "/dev/null", "-w", "%{size_download}"]
        + [server.url(path)]
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == str(len(expected[path]))
    server.wait_stats("conns_active", 0)
