# tests/net/test_net_keepalive.py: Python's http.client makes 200 requests on one keep-alive
# connection; every answer is 200 and byte-exact, and the server saw one connection.
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from nethelpers import BIG, ROUTES, Server, sha256

pytestmark = pytest.mark.net

CLIENT = Path(__file__).with_name("keepalive_client.py")


def run_plan(server: Server, plan: list[tuple[str, str]]) -> dict[str, Any]:
    """Run the plan over one connection; check the server opened exactly one for it."""
    before = server.wait_stats("conns_active", 0)
    proc = server.client(
        [sys.executable, str(CLIENT), server.topo.server_ip, json.dumps(plan)], timeout=300
    )
    assert proc.returncode == 0, f"{proc.stderr}\n{server.log_tail()}"
    out: dict[str, Any] = json.loads(proc.stdout)
    assert len(out["results"]) == len(plan)
    assert out["connects"] == 1, "http.client had to reconnect"
    assert len({r["local_port"] for r in out["results"]}) == 1
    after = server.wait_stats("conns_active", 0)
    assert after["conns_opened"] - before["conns_opened"] == 1, (before, after)
    return out


def test_200_requests_one_connection(server: Server, expected: dict[str, bytes]) -> None:
    small = itertools.cycle([p for p in ROUTES if p != BIG])
    plan = [("GET", BIG if i in (100, 199) else next(small)) for i in range(200)]
    for r in run_plan(server, plan)["results"]:
        assert r["status"] == 200, r
        assert r["sha256"] == sha256(expected[r["path"]]), r


def test_head_then_get_on_one_connection(server: Server, expected: dict[str, bytes]) -> None:
    # A HEAD answered with a body would be read as the start of the next response.
    plan = [(m, p) for p in ROUTES for m in ("HEAD", "GET")]
    for r in run_plan(server, plan)["results"]:
        body = expected[r["path"]]
        assert r["status"] == 200, r
        assert r["content_length"] == str(len(body)), r
        if r["method"] == "HEAD":
            assert r["length"] == 0, r
        else:
            assert r["sha256"] == sha256(body), r
