"""HTTPS options of `ssdk serve` (--tls-cert, --tls-key, --tls-port, --tls-ticket-key) and
the `ssdk tls-ticket-key` command: what reaches ServeOptions, the engine's config and the
interface's sharing filter, and every bad input refused at start in one line with exit
code 2. Nothing is opened (preflight and the run itself are replaced); no HTTPS traffic."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import HELLO, fake_xdp

import ssdk.serve
import ssdk.tools.doctor
from ssdk.cli import main
from ssdk.core.runtime.engine import Engine, EngineConfig, EngineError
from ssdk.core.runtime.sockfilter import pack, share_filter_addrs
from ssdk.core.runtime.tls import TlsServer, write_selfsigned, write_ticket_key
from ssdk.serve import ServeOptions, https_line, share_setup, worker_plan

SERVE = ["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/24"]
V4 = ipaddress.IPv4Interface("198.18.0.2/24")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("certs")
    out = {}
    for name in ("a.test", "b.test"):
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        write_selfsigned(cert, key, [name], 2)
        out[name] = (cert, key)
    return out


def serve_opts(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> ServeOptions:
    """The ServeOptions `ssdk serve` runs with these arguments, its TLS server checked
    while the run (stubbed) has it."""
    seen: list[ServeOptions] = []

    def fake_serve(opts: ServeOptions, *_: Any) -> int:
        if opts.tls is not None:
            opts.tls.ptr  # noqa: B018  (open while serving: raises if freed)
        seen.append(opts)
        return 0

    monkeypatch.setattr(ssdk.tools.doctor, "preflight", lambda opts: 0)
    monkeypatch.setattr(ssdk.serve, "serve", fake_serve)
    assert main([*SERVE, *args]) == 0
    assert len(seen) == 1
    return seen[0]


def pair_args(*pairs: tuple[Path, Path]) -> list[str]:
    out: list[str] = []
    for cert, key in pairs:
        out += ["--tls-cert", str(cert), "--tls-key", str(key)]
    return out


def test_no_certificate_no_https(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = serve_opts(monkeypatch, [])
    assert opts.tls is None and opts.https_port() == 0 and opts.ports() == [80]
    assert worker_plan(opts, b"", None).config.tls_port == 0


def test_a_pair_serves_https_on_443(
    monkeypatch: pytest.MonkeyPatch, pairs: dict[str, tuple[Path, Path]]
) -> None:
    opts = serve_opts(monkeypatch, pair_args(pairs["a.test"]))
    assert opts.tls is not None and opts.tls.pairs == [pairs["a.test"]]
    assert opts.https_port() == 443 and opts.ports() == [80, 443]
    assert worker_plan(opts, b"", None).config.tls_port == 443
    with pytest.raises(Exception, match="closed"):
        opts.tls.ptr  # noqa: B018  (freed once serve returned)


def test_pairs_keep_their_order_and_the_port_and_ticket_key(
    monkeypatch: pytest.MonkeyPatch, pairs: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    ticket = tmp_path / "ticket.key"
    write_ticket_key(ticket)
    args = [*pair_args(pairs["b.test"], pairs["a.test"]), "--tls-port", "8443",
            "--tls-ticket-key", str(ticket), "--port", "8080"]  # fmt: skip
    opts = serve_opts(monkeypatch, args)
    assert opts.tls is not None
    assert opts.tls.pairs == [pairs["b.test"], pairs["a.test"]]
    assert opts.tls.ticket_key == ticket
    assert opts.ports() == [8080, 8443]
    assert "certificates, picked by SNI" in https_line(opts)
    assert f"key in {ticket}" in https_line(opts)
    # Given out of order, --tls-key still pairs with the --tls-cert in the same place.
    a, b = pairs["a.test"], pairs["b.test"]
    mixed = ["--tls-cert", str(a[0]), "--tls-cert", str(b[0]), "--tls-key", str(a[1]),
             "--tls-key", str(b[1])]  # fmt: skip
    assert serve_opts(monkeypatch, mixed).tls.pairs == [a, b]  # type: ignore[union-attr]


def bad_cases(pairs: dict[str, tuple[Path, Path]], tmp: Path) -> list[tuple[list[str], str]]:
    (a_crt, a_key), (b_crt, b_key) = pairs["a.test"], pairs["b.test"]
    garbage = tmp / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    short = tmp / "short.ticket"
    short.write_bytes(bytes(10))
    ok = pair_args(pairs["a.test"])
    return [
        (["--tls-cert", str(a_crt)], f"{a_crt} has no --tls-key"),
        (["--tls-key", str(a_key)], f"{a_key} has no --tls-cert"),
        ([*ok, "--tls-cert", str(b_crt)], f"{b_crt} has no --tls-key"),
        (pair_args((tmp / "missing.crt", a_key)), "missing.crt: No such file or directory"),
        (pair_args((a_crt, tmp / "missing.key")), "missing.key: No such file or directory"),
        (pair_args((a_crt, b_key)), "do not match"),
        (pair_args((garbage, a_key)), "garbage.pem"),
        (pair_args((a_crt, a_crt)), "a.test.crt"),
        ([*ok, "--tls-port", "0"], "--tls-port"),
        ([*ok, "--tls-port", "65536"], "--tls-port"),
        ([*ok, "--tls-port", "80"], "80 is HTTP's --port too"),
        ([*ok, "--port", "8443", "--tls-port", "8443"], "8443 is HTTP's --port too"),
        (["--tls-port", "8443"], "HTTPS needs a certificate"),
        (["--tls-ticket-key", str(short)], "HTTPS needs a certificate"),
        ([*ok, "--tls-ticket-key", str(short)], "a ticket key file holds 64 bytes"),
        ([*ok, "--tls-ticket-key", str(tmp / "none")], "none: No such file or directory"),
    ]


def test_each_bad_input_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pairs: dict[str, tuple[Path, Path]],
    tmp_path: Path,
) -> None:
    started: list[Any] = []  # neither preflight nor the serve may be reached
    monkeypatch.setattr(ssdk.tools.doctor, "preflight", lambda opts: started.append(opts) or 0)
    monkeypatch.setattr(ssdk.serve, "serve", lambda opts, *_: started.append(opts) or 0)
    for args, needle in bad_cases(pairs, tmp_path):
        rc = main([*SERVE, *args])
        err = capsys.readouterr().err
        assert rc == 2, (args, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, err)
    assert started == []


def test_the_sharing_filter_takes_the_https_port_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pairs: dict[str, tuple[Path, Path]]
) -> None:
    with TlsServer([pairs["a.test"]]) as tls:
        opts = ServeOptions(target="app.ssdk", backend="af_packet", iface="veth0", ip=V4,
                            tls=tls, tls_port=8443)  # fmt: skip
        share = share_setup(opts, {})
        assert share.sock_filter == pack(share_filter_addrs([("198.18.0.2", True)], (80, 8443)))
        assert share.sock_filter != pack(share_filter_addrs([("198.18.0.2", True)], (80,)))
        assert "198.18.0.2 TCP ports 80, 8443" in share.lines(opts)[0]
        opts.backend = "af_xdp"
        attach = fake_xdp(monkeypatch, tmp_path, "native", True)
        share_setup(opts, {}, attach=attach)  # type: ignore[arg-type]
        assert attach.args is not None and attach.args[3] == [80, 8443]
        # Without a TLS server the TLS port is not served, whatever it is set to.
        opts.tls = None
        assert opts.ports() == [80]
        assert share_setup(opts, {}, attach=attach) is not None  # type: ignore[arg-type]
        assert attach.args[3] == [80]


class FakeEngine:
    """Records what a worker's setup asks of its engine."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def use_tls(self, server: TlsServer) -> None:
        self.calls.append(("use_tls", server))

    def attach_tap(self, iface: str) -> None:
        self.calls.append(("attach_tap", iface))


def test_every_worker_s_engine_gets_the_one_server(pairs: dict[str, tuple[Path, Path]]) -> None:
    with TlsServer([pairs["a.test"]]) as tls:
        opts = ServeOptions(target="app.ssdk", backend="tap", iface="tap9", ip=V4, tls=tls,
                            tls_port=443)  # fmt: skip
        plan = worker_plan(opts, b"", None)
        engines = [FakeEngine(), FakeEngine()]
        for i, engine in enumerate(engines):
            plan.setup(engine, i)  # type: ignore[arg-type]
        for engine in engines:  # before the backend: the engine serves once attached
            assert engine.calls == [("use_tls", tls), ("attach_tap", "tap9")]


def test_the_engine_takes_the_port_and_the_server(pairs: dict[str, tuple[Path, Path]]) -> None:
    assert EngineConfig(ip="198.18.0.2", tls_port=8443).to_c().tls_port == 8443
    assert EngineConfig(ip="198.18.0.2").to_c().tls_port == 0
    with TlsServer([pairs["a.test"], pairs["b.test"]]) as tls:
        with Engine(EngineConfig(ip="198.18.0.2", tls_port=443)) as one, Engine(
            EngineConfig(ip="198.18.0.2", tls_port=443)
        ) as two:
            one.use_tls(tls)
            two.use_tls(tls)  # shared by several engines
        with Engine(EngineConfig(ip="198.18.0.2")) as plain, pytest.raises(
            EngineError, match="no TLS port"
        ):
            plain.use_tls(tls)


def test_tls_ticket_key_writes_a_key_and_keeps_an_old_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pairs: dict[str, tuple[Path, Path]]
) -> None:
    key = tmp_path / "fleet.ticket"
    assert main(["tls-ticket-key", str(key)]) == 0
    assert f"--tls-ticket-key {key}" in capsys.readouterr().out
    first = key.read_bytes()
    assert len(first) == 64 and key.stat().st_mode & 0o777 == 0o600
    TlsServer([pairs["a.test"]], key).close()  # the TLS layer takes it
    assert main(["tls-ticket-key", str(key)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists; --force replaces it" in err[0]
    assert key.read_bytes() == first
    key.chmod(0o644)
    assert main(["tls-ticket-key", str(key), "--force"]) == 0
    assert key.read_bytes() != first and len(key.read_bytes()) == 64
    assert key.stat().st_mode & 0o777 == 0o600  # not the old file's mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.ticket"]
    missing = tmp_path / "no" / "fleet.ticket"
    assert main(["tls-ticket-key", str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{missing}: No such file or directory" in err[0]
