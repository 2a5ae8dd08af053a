# tests/unit/test_deploy_plan.py: what `ssdk deploy` decides for each host from what the
# host holds (ssdk/tools/deploy.py: plan, _previous; the host's state: ssdk/tools/host.py),
# without reaching one: a host that serves the same code gets a swap, one that serves
# nothing is started, the others are restarted, canary first and then by batch;
# rollback's target skips the failed release.
from __future__ import annotations

from pathlib import Path
from typing import Any

from ssdk.tools.deploy import _previous, plan
from ssdk.tools.fleet import Host, parse_fleet
from ssdk.tools.host import Remote, State


def hosts(tmp_path: Path, n: int) -> list[Host]:
    for name in ("id", "kh"):
        (tmp_path / name).write_text("x\n")
    data: dict[str, Any] = {
        "fleet": {"identity": "id", "known_hosts": "kh"},
        "host": [
            {"name": f"h{i}", "ssh": f"root@198.18.1.{10 + i}", "iface": "eth1",
             "ip": f"198.18.2.{10 + i}/15"}
            for i in range(1, n + 1)
        ],
    }  # fmt: skip
    return list(parse_fleet(data, tmp_path / "fleet.toml").hosts)


RELEASES = {"old": {"code": "c1"}, "content": {"code": "c1"}, "new": {"code": "c2"}}


def remote(host: Host, serving: str | None, pid: int = 0) -> Remote:
    state = State(dict(RELEASES), [], [], serving, pid, None, serving)
    return Remote(host, None, print, state)  # type: ignore[arg-type]


def names(rs: list[Remote]) -> list[str]:
    return [r.host.name for r in rs]


def test_content_swaps_new_code_restarts_by_batch(tmp_path: Path) -> None:
    hs = hosts(tmp_path, 5)
    rs = [remote(hs[0], "old", 10), remote(hs[1], None)] + [remote(h, "old", 11) for h in hs[2:]]
    p = plan(rs, "content", "c1", canary=1, batch=2)
    assert names(p.swap) == ["h1", "h3", "h4", "h5"] and names(p.start) == ["h2"]
    assert p.restart == [] and p.same == []
    p = plan(rs, "new", "c2", canary=1, batch=2)
    assert names(p.swap) == [] and names(p.start) == ["h2"]
    assert [names(b) for b in p.restart] == [["h1"], ["h3", "h4"], ["h5"]]


def test_a_host_already_serving_is_left_alone(tmp_path: Path) -> None:
    (h,) = hosts(tmp_path, 1)
    p = plan([remote(h, "new", 5)], "new", "c2", canary=1, batch=1)
    assert names(p.same) == ["h1"] and not (p.swap or p.start or p.restart)


def test_a_running_host_that_does_not_answer_is_restarted(tmp_path: Path) -> None:
    (h,) = hosts(tmp_path, 1)
    r = remote(h, "old", 5)
    assert r.state is not None
    r.state.serving = None  # its health route is silent: no swap into it
    p = plan([r], "content", "c1", canary=1, batch=1)
    assert [names(b) for b in p.restart] == [["h1"]]


def test_rollback_goes_to_the_release_before_the_current_one() -> None:
    s = State(dict(RELEASES), [], ["old", "content", "new", "new"], "new", 1, None)
    assert _previous(s) == "content"
    s.history = ["old"]
    s.current = "old"
    assert _previous(s) is None
    s.history = ["gone", "old", "content"]  # a pruned release cannot be the target
    s.current = "content"
    s.releases.pop("old")
    assert _previous(s) is None


def test_a_new_serve_command_restarts_instead_of_swapping(tmp_path: Path) -> None:
    """A host whose bin/serve command changes (a new certificate, another port) cannot
    take it by a swap: it is restarted by batch, even when the release is the same."""
    hs = hosts(tmp_path, 3)
    rs = [remote(h, "old", 10 + i) for i, h in enumerate(hs)]
    for r in rs:
        assert r.state is not None
        r.state.serve_script = "#!/bin/sh\nexec serve --tls-cert /r/tls/aaaa.crt\n"
        r.want_line = "exec serve --tls-cert /r/tls/aaaa.crt"
    rs[1].want_line = "exec serve --tls-cert /r/tls/bbbb.crt"
    p = plan(rs, "content", "c1", canary=1, batch=1)
    assert names(p.swap) == ["h1", "h3"] and [names(b) for b in p.restart] == [["h2"]]
    assert rs[1].new_command() and not rs[0].new_command()
    # The same release, already current and serving: only the new command restarts.
    for r in rs:
        assert r.state is not None
        r.state.current = r.state.serving = "content"
    p = plan(rs, "content", "c1", canary=1, batch=1)
    assert names(p.same) == ["h1", "h3"] and [names(b) for b in p.restart] == [["h2"]]
