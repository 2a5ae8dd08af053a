# tests/net/test_net_slots.py: clients that hold connection slots without using them
# (issue 15). A client that never reads is reset after --send-timeout without progress
# (nginx's send_timeout), and slowhttptest's slow POST is answered 408 after
# --body-timeout without a body byte (nginx's client_body_timeout) and, when the tool
# quits, gives every slot back at its FIN. After each, a legitimate curl (refused at once
# while the pool is busy, and trying again every second) is served. The times it waited
# are printed (pytest -s) for the record, never asserted. Each scenario runs on
# AF_PACKET and on AF_XDP.
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nethelpers import (
    BACKENDS,
    BIG,
    REPO,
    Server,
    file_sha256,
    require_backend,
    serve,
    sha256,
    unavailable,
)

from ssdk.tools.netns import ns_exec

pytestmark = pytest.mark.net

HERE = Path(__file__).parent
NEVER_READ = HERE / "never_read.py"
BODYSUM = REPO / "tests" / "net" / "apps" / "bodysum.py"
POOL = 8


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each scenario on both backends (skipped, or failed under CI, where one is missing)."""
    require_backend(request.param)
    return str(request.param)


def tag(name: str, backend: str) -> str:
    """A short namespace tag per scenario and backend."""
    return name + ("x" if backend == "af_xdp" else "")


def legit_curl(server: Server, out: Path) -> subprocess.Popen[str]:
    """A legitimate client, started now, that tries again every second for a minute:
    while the pool is full of busy connections its handshake is refused (a SYN cookie,
    then a RST when no idle connection can be evicted), and it is served once a slot
    frees."""
    return subprocess.Popen(
        ns_exec(server.topo.client_ns, ["curl", "-sS", "--fail", "--max-time", "5"])
        + ["--retry", "60", "--retry-all-errors", "--retry-delay", "1"]
        + ["--retry-max-time", "60", "-o", str(out), server.url("/")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def served_late(server: Server, out: Path, started: list[subprocess.Popen[str]]) -> float:
    """A legitimate curl (legit_curl) started now, waited for, and checked served;
    returns how long it waited. The process goes in `started`, for the caller's stop()."""
    start = time.monotonic()
    late = legit_curl(server, out)
    started.append(late)
    _, err = late.communicate(timeout=70)
    waited = time.monotonic() - start
    assert late.returncode == 0, f"{err}\n{server.log_tail()}"
    return waited


def stop(*procs: subprocess.Popen[str] | None) -> None:
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


def test_never_reading_clients_are_reset(
    bundle: Path, expected: dict[str, bytes], tmp_path: Path, backend: str
) -> None:
    """POOL clients ask for 8 MiB with a 2 KiB receive buffer and never read: their
    windows close and they answer every probe. --send-timeout 3: each is reset 3 s
    after its last progress, and a curl that found the pool full is then served."""
    with serve(bundle, tmp_path, "--max-conns", str(POOL), "--send-timeout", "3",
               tag=tag("nread", backend), backend=backend) as server:  # fmt: skip
        holder = subprocess.Popen(
            ns_exec(server.topo.client_ns, [sys.executable, str(NEVER_READ)])
            + [server.topo.server_ip, str(POOL), BIG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        late: list[subprocess.Popen[str]] = []
        try:
            assert holder.stdout is not None and holder.stdin is not None
            line = holder.stdout.readline()
            assert line.strip() == "held", f"{line!r} {holder.stderr and holder.stderr.read()}"
            server.wait_stats("conns_active", POOL)
            out = tmp_path / "late"
            waited = served_late(server, out, late)
            assert file_sha256(out) == sha256(expected["/"])
            print(f"\nnever-reading clients: a legitimate curl waited {waited:.1f} s")
            stats = server.wait_stats("send_timeouts", POOL, timeout=15)
            assert stats["conns_timed_out"] >= POOL
            holder.stdin.close()
            assert holder.wait(timeout=10) == 0
            report = holder.stdout.read()
            assert report.strip() == f"reset {POOL}", report  # each saw our RST
        finally:
            stop(holder, *late)


def slowhttptest(server: Server, *args: str) -> subprocess.Popen[str]:
    if shutil.which("slowhttptest") is None:
        unavailable("slowhttptest is not installed (apt-get install slowhttptest)")
    return subprocess.Popen(
        ns_exec(server.topo.client_ns, ["slowhttptest", "-B", "-u", server.url("/sum")])
        + ["-c", str(POOL), "-r", str(POOL), "-s", "8192", "-x", "10", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_slow_post_gets_408_at_the_body_timeout(
    net_ready: None, expected: dict[str, bytes], tmp_path: Path, backend: str
) -> None:
    """slowhttptest -B sends a few body bytes every 5 s on POOL connections: with
    --body-timeout 2 each is answered 408 and closed 2 s after its last byte, and a curl
    that found the pool full is served."""
    with serve(BODYSUM, tmp_path, "--max-conns", str(POOL), "--body-timeout", "2",
               tag=tag("spost", backend), backend=backend) as server:  # fmt: skip
        tool = slowhttptest(server, "-i", "5", "-l", "30")
        late: list[subprocess.Popen[str]] = []
        try:
            server.wait_stats("conns_active", POOL, timeout=15)
            out = tmp_path / "late"
            waited = served_late(server, out, late)
            assert out.read_bytes() == b"<h1>hello</h1>"
            print(f"\nslow POST: a legitimate curl waited {waited:.1f} s")
            stats = server.stats(fresh=True)
            assert stats["body_timeouts"] >= 1 and stats["http_408"] >= 1, stats
        finally:
            stop(tool, *late)


def test_slow_post_slots_freed_when_the_tool_quits(
    net_ready: None, tmp_path: Path, backend: str
) -> None:
    """The same attack with the body timeout far away (60 s) and a byte every second:
    the slots stay taken while the tool runs; when it quits, its FINs cut the bodies
    short and every slot is free at once, with no timeout."""
    with serve(BODYSUM, tmp_path, "--max-conns", str(POOL), "--body-timeout", "60",
               tag=tag("sfin", backend), backend=backend) as server:  # fmt: skip
        tool = slowhttptest(server, "-i", "1", "-l", "4")
        try:
            server.wait_stats("conns_active", POOL, timeout=15)
            tool.communicate(timeout=60)
            ended = time.monotonic()
            stats = server.wait_stats("conns_active", 0, timeout=15)
            print(f"\nslow POST: slots free {time.monotonic() - ended:.1f} s after the tool quit")
            assert stats["http_abandoned"] >= POOL, stats
            assert stats["body_timeouts"] == 0
            out = tmp_path / "after"
            assert server.curl_to("/", out).returncode == 0
            assert out.read_bytes() == b"<h1>hello</h1>"
        finally:
            stop(tool)
