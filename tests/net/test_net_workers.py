# tests/net/test_net_workers.py: `ssdk serve --workers 2` on a veth with two queues, on
# both backends: both workers answer (AF_XDP: one socket per queue; AF_PACKET: one fanout
# group), every body is byte-exact, `ssdk stats` shows each worker, and a worker killed
# with SIGKILL is replaced while the other keeps serving without a restart.
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nethelpers import BACKENDS, REPO, Server, require_backend, serve, sha256

from ssdk.tools.netns import ns_exec


@pytest.fixture(scope="module", params=BACKENDS)
def two(
    request: pytest.FixtureRequest, bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server with two workers on a two-queue veth pair, per backend."""
    backend: str = request.param
    require_backend(backend)
    with serve(bundle, tmp_path_factory.mktemp("workers"), "--workers", "2",
               tag="wrk", backend=backend, queues=2) as s:  # fmt: skip
        yield s


def stats_json(server: Server) -> dict[str, Any]:
    """`ssdk stats --json` for this server, from outside its namespace."""
    proc = subprocess.run(
        [sys.executable, "-m", "ssdk", "stats", str(server.proc.pid), "--json"],
        capture_output=True, text=True, timeout=30, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def fetch_many(server: Server, path: str, n: int) -> list[bytes]:
    """n requests, each on its own connection (new source port: RSS or fanout spread
    them over the workers)."""
    script = (
        "import http.client, sys\n"
        "out = []\n"
        f"for _ in range({n}):\n"
        f"    c = http.client.HTTPConnection('{server.topo.server_ip}', 80, timeout=5)\n"
        f"    c.request('GET', '{path}')\n"
        "    r = c.getresponse()\n"
        "    body = r.read()\n"
        "    assert r.status == 200, r.status\n"
        "    out.append(body)\n"
        "    c.close()\n"
        "import hashlib\n"
        "print('\\n'.join(hashlib.sha256(b).hexdigest() for b in out))\n"
    )
    proc = server.client([sys.executable, "-c", script], timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [line.encode() for line in proc.stdout.split()]


def test_both_workers_serve(two: Server, expected: dict[str, bytes]) -> None:
    """Requests on 64 connections reach both workers, and every body is byte-exact."""
    path = "/files/f64k.bin"
    digests = fetch_many(two, path, 64)
    assert digests == [sha256(expected[path]).encode()] * 64
    workers = stats_json(two)["workers"]
    assert len(workers) == 2
    served = [w["http_requests"] for w in workers]
    assert all(n > 0 for n in served), f"a worker served nothing: {served}"
    assert len({w["pid"] for w in workers}) == 2 and all(w["pid"] for w in workers)
    if "af_xdp" in two.argv:
        assert sorted(w["queue"] for w in workers) == [0, 1]


def test_stats_table(two: Server) -> None:
    """The live view prints one row per worker and a total, then stops after --count."""
    proc = subprocess.run(
        [sys.executable, "-m", "ssdk", "stats", str(two.proc.pid), "--count", "2",
         "--interval", "0.2"],
        capture_output=True, text=True, timeout=30, check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    tables = [t for t in proc.stdout.split("\n\n") if t.strip()]
    assert len(tables) == 2, proc.stdout
    rows = tables[-1].splitlines()
    assert "req/s" in rows[1] and "rx pkt/s" in rows[1]
    assert [r.split()[0] for r in rows[2:5]] == ["0", "1", "all"], proc.stdout


class Prober(threading.Thread):
    """Fetches / on a new connection every 20 ms and notes when each try ended and
    whether it got a 200."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.results: list[tuple[float, bool]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        script = (
            "import http.client, sys, time\n"
            "while True:\n"
            "    ok = False\n"
            "    try:\n"
            f"        c = http.client.HTTPConnection('{self.server.topo.server_ip}', 80,"
            " timeout=0.5)\n"
            "        c.request('GET', '/')\n"
            "        ok = c.getresponse().status == 200\n"
            "        c.close()\n"
            "    except OSError:\n"
            "        pass\n"
            "    print(f'{time.time()} {int(ok)}', flush=True)\n"
            "    time.sleep(0.02)\n"
        )
        argv = ns_exec(self.server.topo.client_ns, [sys.executable, "-c", script])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                t, ok = line.split()
                self.results.append((float(t), ok == "1"))
                if self.halt.is_set():
                    break
        finally:
            proc.kill()
            proc.wait()


def test_killed_worker_is_replaced(two: Server) -> None:
    """SIGKILL one worker: the supervisor starts a new one in its slot, the other worker
    keeps its pid and keeps answering while its sibling is down, and afterwards both
    answer again."""
    before = stats_json(two)["workers"]
    victim, survivor = before[0], before[1]
    prober = Prober(two)
    prober.start()
    try:
        time.sleep(0.5)
        killed_at = time.time()
        os.kill(victim["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            now = stats_json(two)["workers"]
            if now[0]["pid"] not in (0, victim["pid"]):
                break
            assert time.monotonic() < deadline, f"worker 0 not replaced: {now}\n{two.log_tail()}"
            time.sleep(0.1)
        assert now[1]["pid"] == survivor["pid"], "the other worker was restarted too"
        assert now[0]["restarts"] == victim["restarts"] + 1
        time.sleep(1.0)
    finally:
        prober.halt.set()
        prober.join(10)
    after = stats_json(two)
    assert after["workers"][1]["http_requests"] > survivor["http_requests"], (
        "the surviving worker answered nothing while its sibling was replaced"
    )
    during = [ok for t, ok in prober.results if t >= killed_at]
    assert any(during), "no request succeeded after the kill"
    assert "worker 0" in two.output() and "SIGKILL" in two.output(), two.log_tail()
    # The new worker serves: spread fresh connections until it has answered one.
    deadline = time.monotonic() + 20
    while stats_json(two)["workers"][0]["http_requests"] == 0:
        assert time.monotonic() < deadline, "the new worker 0 answers nothing"
        fetch_many(two, "/", 8)
    # Counters of the ended life are kept: totals never go backwards.
    assert after["total"]["http_requests"] >= sum(w["http_requests"] for w in before)

