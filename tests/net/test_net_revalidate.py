# tests/net/test_net_revalidate.py: a revalidating page hammered by 32 keep-alive
# clients over the user-space stack while the server renders and swaps it in over and
# over (revalidate=0.03: at least 100 swaps during the run). Every response is byte-exact
# one of the published versions (each version's body names it and can be recomputed),
# none is mixed, none fails; a page without revalidate never changes; app.refresh()
# from a dynamic route is followed.
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import Server, serve

APP = Path(__file__).with_name("apps") / "revalidating.py"
CLIENTS = 32
SECONDS = 14

CLIENT = r"""
import hashlib, http.client, json, sys, threading, time
sys.path.insert(0, {apps!r})
from revalidating import body_of
ip, seconds, clients = {ip!r}, {seconds}, {clients}
results, lock = [], threading.Lock()
def one(k):
    c = http.client.HTTPConnection(ip, 80, timeout=10)
    seen, bad, errors = set(), 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            c.request("GET", "/live")
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                errors += 1
                continue
            n = int(body.split(b"\n", 1)[0][1:])
            if body != body_of(n):
                bad += 1
            seen.add(n)
        except Exception as e:
            errors += 1
            c = http.client.HTTPConnection(ip, 80, timeout=10)
    with lock:
        results.append((sorted(seen), bad, errors))
ts = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(APP, tmp_path_factory.mktemp("reval"), tag="reval", backend=backend) as s:
        yield s


def test_every_response_is_one_whole_version(server: Server) -> None:
    script = CLIENT.format(apps=str(APP.parent), ip=server.topo.server_ip, seconds=SECONDS,
                           clients=CLIENTS)  # fmt: skip
    proc = server.client([sys.executable, "-c", script], timeout=SECONDS + 120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == CLIENTS
    assert sum(bad for _, bad, _ in results) == 0, "a response mixed two versions"
    assert sum(err for _, _, err in results) == 0, "a request failed"
    versions = set().union(*(set(seen) for seen, _, _ in results))
    assert len(versions) >= 50, f"clients saw only {len(versions)} versions"
    stats = server.stats(fresh=True)
    assert stats["http_5xx"] == 0
    gen = max_generation(server)
    assert gen >= 101, f"only {gen - 1} swaps in {SECONDS} s"


def max_generation(server: Server) -> int:
    from ssdk.core.runtime.counters import Board, board_path

    board = Board.open(board_path(server.proc.pid))
    try:
        return max(row["generation"] for row in board.read_all())
    finally:
        board.close()


def test_a_page_without_revalidate_never_changes(server: Server) -> None:
    proc = server.client(["curl", "-sS", "--fail", server.url("/still")])
    assert proc.returncode == 0 and proc.stdout == "<p>never re-rendered</p>"


def test_refresh_from_a_dynamic_route(server: Server) -> None:
    """app.refresh(path) in a handler has the supervisor render that page again and
    publish it; until then the page stays as it was."""
    first = server.client(["curl", "-sS", "--fail", server.url("/on-demand")]).stdout
    time.sleep(0.3)
    assert server.client(["curl", "-sS", server.url("/on-demand")]).stdout == first
    asked = server.client(["curl", "-sS", "--fail", server.url("/refresh-on-demand")])
    assert asked.returncode == 0 and asked.stdout == "asked"
    deadline = time.monotonic() + 10
    while server.client(["curl", "-sS", server.url("/on-demand")]).stdout == first:
        assert time.monotonic() < deadline, f"/on-demand still {first!r}\n{server.log_tail()}"
        time.sleep(0.05)


def test_a_failing_render_keeps_the_last_good_response(server: Server) -> None:
    seen = set()
    for _ in range(20):
        out = server.client(["curl", "-sS", "--fail", server.url("/flaky")])
        assert out.returncode == 0 and out.stdout.startswith("good "), out.stdout
        seen.add(out.stdout)
        time.sleep(0.05)
    assert len(seen) > 1, "the good renders were not published"
    assert "revalidating /flaky failed" in server.output()
