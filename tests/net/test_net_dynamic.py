# tests/net/test_net_dynamic.py: examples/api over the user-space stack, on both
# backends: precomputed collections and a dynamic search route, answered by Python from
# the worker's loop, with GET, POST bodies and many clients at once.
from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from nethelpers import REPO, Server, serve

API = REPO / "examples" / "api" / "app.py"


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
    stats = api.stats(fresh=True)
    assert stats["dyn_requests"] >= 2 and stats["app_requests"] >= 2


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

