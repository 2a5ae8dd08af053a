# tests/unit/test_cli_runner.py: every command through typer's CliRunner, the way a
# user's shell runs it (standalone mode): its help works, and each way to call it wrongly
# ends with exit code 2 and one line on stderr that names the problem.
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssdk.cli import app

REPO = Path(__file__).resolve().parents[2]
HELLO = str(REPO / "examples" / "hello" / "app.py")
SERVE = ["serve", HELLO, "--iface", "lo", "--ip", "198.18.0.2/15"]
COMMANDS = ["build", "routes", "serve", "doctor", "stats", "dev", "new", "impair", "demo",
            "version", "deploy", "rollback", "releases", "status", "tls-ticket-key"]

BAD: list[tuple[list[str], str]] = [
    (["build", "missing.py"], "does not exist"),
    (["build", HELLO, "--mss", "10"], "--mss"),
    (["routes", "nothing.ssdk"], "does not exist"),
    (["serve", HELLO, "--ip", "198.18.0.2/15"], "--iface"),
    ([*SERVE, "--backend", "dpdk"], "not one of"),
    ([*SERVE, "--workers", "0"], "--workers"),
    ([*SERVE, "--backend", "af_xdp", "--workers", "2"], "needs queues 0 to 1"),
    ([*SERVE, "--backend", "tap", "--workers", "2"], "one worker"),
    ([*SERVE, "--cc", "vegas"], "not one of"),
    ([*SERVE, "--impair-rx", "loss=200%"], "--impair-rx"),
    (["stats", "not-a-pid"], "neither a pid nor a counter file"),
    (["stats", "--interval", "0"], "--interval"),
    (["dev", "/nonexistent/app.py"], "is not a file"),
    (["dev", HELLO, "--port", "70000"], "--port"),
    ([*SERVE, "--tls-cert", "/nonexistent/a.crt"], "has no --tls-key"),
    ([*SERVE, "--tls-cert", "/nonexistent/a.crt", "--tls-key", "/nonexistent/a.key"],
     "No such file or directory"),
    (["dev", HELLO, "--tls-port", "8443"], "HTTPS needs a certificate"),
    (["tls-ticket-key"], "FILE"),
    (["new", "json"], "json"),
    (["new", "1abc"], "identifier"),
    (["new", "demo", "--template", "wiki"], "wiki"),
    (["impair", "--a", "lo", "--b", "lo"], "different interfaces"),
    (["impair", "--a", "lo"], "--b"),
    (["demo", "/nonexistent"], "holds no app.py"),
    (["version", "extra"], "unexpected extra argument"),
    (["deploy"], "--fleet"),
    (["deploy", "--fleet", "/nonexistent/fleet.toml"], "cannot read"),
    (["deploy", "--fleet", "f.toml", "--canary", "0"], "--canary"),
    (["rollback", "--fleet", "f.toml", "--to", "Release!"], "not a release id"),
    # an id prefix of digits only is an id (hex); the fleet file is what fails here
    (["rollback", "--fleet", "/nonexistent/fleet.toml", "--to", "71697891"], "cannot read"),
    (["status", "--fleet", "/nonexistent/fleet.toml"], "cannot read"),
    (["releases", "--fleet", "/nonexistent/fleet.toml"], "cannot read"),
    (["no-such-command"], "No such command"),
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_every_command_is_listed() -> None:
    import typer

    names = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert names == set(COMMANDS)


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_a_bad_call_is_one_line_and_exit_2(runner: CliRunner, argv: list[str],
                                           needle: str, tmp_path: Path) -> None:  # fmt: skip
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.output


def test_version(runner: CliRunner) -> None:
    from ssdk import __version__

    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == __version__


@pytest.mark.parametrize(("flag", "options"), [([], 0b1111), (["--no-pacing"], 0b0111)])
def test_serve_passes_pacing_to_the_engine(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, flag: list[str], options: int
) -> None:
    """Pacing is on unless --no-pacing: ssdk_config.options bit 3 (tcp/tcp_sched.c)."""
    import ssdk.serve
    import ssdk.tools.doctor

    seen: list[ssdk.serve.ServeOptions] = []
    monkeypatch.setattr(ssdk.tools.doctor, "preflight", lambda opts: 0)
    monkeypatch.setattr(ssdk.serve, "serve", lambda opts, *_: seen.append(opts) or 0)
    result = runner.invoke(app, [*SERVE, *flag])
    assert result.exit_code == 0, result.output
    assert seen[0].tcp["options"] == options


@pytest.mark.parametrize(("name", "index"), [("cubic", 0), ("newreno", 1), ("bbr", 2)])
def test_serve_passes_the_congestion_control_to_the_engine(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, name: str, index: int
) -> None:
    """--cc names the controller: ssdk_config.cc 0 CUBIC, 1 NewReno, 2 BBR
    (draft-ietf-ccwg-bbr; tcp/tcp_bbr.c)."""
    import ssdk.serve
    import ssdk.tools.doctor

    seen: list[ssdk.serve.ServeOptions] = []
    monkeypatch.setattr(ssdk.tools.doctor, "preflight", lambda opts: 0)
    monkeypatch.setattr(ssdk.serve, "serve", lambda opts, *_: seen.append(opts) or 0)
    result = runner.invoke(app, [*SERVE, "--cc", name])
    assert result.exit_code == 0, result.output
    assert seen[0].tcp["cc"] == index
