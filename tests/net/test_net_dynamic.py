# tests/net/test_net_dynamic.py: examples/api over the user-space stack, on both
# backends: precomputed collections and a dynamic search route, answered by Python from
# the worker's loop, with GET, POST bodies and many clients at once; and pipelined
# requests to slow handlers (apps/slowpipe.py), run at once and answered out of order,
# which come back in request order.
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator

import pytest
from nethelpers import REPO, Server, serve

API = REPO / "examples" / "api" / "app.py"
SLOWPIPE = REPO / "tests" / "net" / "apps" / "slowpipe.py"


@pytest.fixture(scope="module")
def api(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(API, tmp_path_factory.mktemp("api"), tag="api", backend=backend) as s:
        yield s


def curl_json(server: Server, path: str, *extra: str) -> dict:
    proc = server.client(["curl", "-sS", "--fail", "--max-time", "10", *extra,
                          server.url(path)])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_precomputed_and_dynamic_side_by_side(api: Server) -> None:
    assert len(curl_json(api, "/api/books")) == 5
    found = curl_json(api, "/api/search?q=stevens")
    assert found["count"] == 2 and {b["id"] for b in found["books"]} == {2, 5}
    posted = curl_json(api, "/api/search", "-X", "POST", "-H", "Content-Type: application/json",
                       "--data-binary", '{"q": "knuth"}')  # fmt: skip
    assert [b["id"] for b in posted["books"]] == [1]
    # The engine counts in shared memory as it goes; the worker publishes the
    # application's counts after each loop slice, so they may come a stats file later.
    deadline = time.monotonic() + 10
    stats = api.stats(fresh=True)
    while stats["app_requests"] < 2 and time.monotonic() < deadline:
        stats = api.stats(fresh=True)
    assert stats["dyn_requests"] >= 2 and stats["app_requests"] >= 2, stats


def test_many_clients_at_once(api: Server) -> None:
    """200 searches on 32 connections, each answer the right one for its query."""
    script = (
        "import concurrent.futures, http.client, json, sys\n"
        "def one(i):\n"
        f"    c = http.client.HTTPConnection('{api.topo.server_ip}', 80, timeout=10)\n"
        "    out = []\n"
        "    for j in range(i, 200, 32):\n"
        "        q = ['stevens', 'knuth', 'programming'][j % 3]\n"
        "        c.request('GET', '/api/search?q=' + q)\n"
        "        r = c.getresponse()\n"
        "        out.append((q, r.status, json.loads(r.read())['count']))\n"
        "    return out\n"
        "with concurrent.futures.ThreadPoolExecutor(32) as ex:\n"
        "    res = [x for part in ex.map(one, range(32)) for x in part]\n"
        "print(json.dumps(res))\n"
    )
    proc = api.client([sys.executable, "-c", script], timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == 200
    want = {"stevens": 2, "knuth": 1, "programming": 3}
    assert all(status == 200 and count == want[q] for q, status, count in results)



# Three slow requests and a page between them, in one write; the responses read back in
# order, framed by Content-Length, as (status, body) pairs.
PIPELINED = (
    "import json, socket, sys\n"
    "paths = ['/slow/0', '/', '/slow/1', '/slow/2']\n"
    "s = socket.create_connection((sys.argv[1], 80), timeout=30)\n"
    "s.sendall(b''.join(f'GET {p} HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n'.encode() for p in paths))\n"
    "data, out = b'', []\n"
    "while len(out) < len(paths):\n"
    "    end = data.find(b'\\r\\n\\r\\n')\n"
    "    if end >= 0:\n"
    "        head = data[:end].decode('latin-1').lower()\n"
    "        n = int(head.split('content-length:')[1].split('\\r\\n')[0])\n"
    "        if len(data) >= end + 4 + n:\n"
    "            out.append((int(head.split()[1]), data[end + 4 : end + 4 + n].decode()))\n"
    "            data = data[end + 4 + n :]\n"
    "            continue\n"
    "    chunk = s.recv(65536)\n"
    "    if not chunk:\n"
    "        break\n"
    "    data += chunk\n"
    "print(json.dumps({'responses': out, 'left': len(data)}))\n"
)


@pytest.fixture(scope="module")
def slowpipe(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(SLOWPIPE, tmp_path_factory.mktemp("slowpipe"), tag="slowp",
               backend=backend) as s:  # fmt: skip
        yield s


def test_pipelined_slow_handlers_run_at_once_and_answer_in_order(slowpipe: Server) -> None:
    """The three slow handlers of one connection are with the application together (they
    meet at a barrier) and finish last first; the responses still come in request order,
    the page between them included, each byte-exact."""
    proc = slowpipe.client([sys.executable, "-c", PIPELINED, slowpipe.topo.server_ip],
                           timeout=60)  # fmt: skip
    assert proc.returncode == 0, f"{proc.stderr}\n{slowpipe.log_tail()}"
    got = json.loads(proc.stdout)
    slow = [f"slow {n} " + "x" * (700 * n) for n in range(3)]
    assert got == {"left": 0, "responses": [[200, slow[0]], [200, "<h1>between</h1>"],
                                            [200, slow[1]], [200, slow[2]]]}, slowpipe.log_tail()
    st = slowpipe.stats(fresh=True)
    assert st["dyn_requests"] >= 3 and st["dyn_orphans"] == 0, st
