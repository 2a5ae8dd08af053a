"""`ssdk dev` over HTTPS: its options (--tls, or --tls-cert/--tls-key pairs, --tls-port,
--tls-ticket-key) and their refusals in one line with exit code 2; dev's own certificate
in .ssdk/tls/ (made once, reused while it is valid for the names served, made again
otherwise), the TAP's /30 it names offered again, the line on how to trust it; and HTTPS
through kernel sockets (the fallback without a TAP device) answering a client that
trusts that certificate alone."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import HELLO

import ssdk.tools.dev
from ssdk.cli import main
from ssdk.core.buildtime.build import build, load_app
from ssdk.core.runtime.engine import Engine, EngineConfig
from ssdk.core.runtime.tls import write_selfsigned, write_ticket_key
from ssdk.tools.dev import (
    DEV_CERT_DAYS,
    DEV_NET,
    DevTls,
    TlsPortClash,
    _https_port,
    _kernel_tls,
    dev_cert_files,
    dev_certificate,
    pick_subnet,
    recorded_net,
)
from ssdk.tools.kernel_serve import run_kernel_server


def dev_tls(monkeypatch: pytest.MonkeyPatch, *args: str) -> DevTls | None:
    """The HTTPS settings `ssdk dev` hands run_dev (stubbed) with these arguments."""
    seen: list[Any] = []

    def fake_run(
        app: Path, port: int | None, gso: str, tcp: dict[str, Any], tls: DevTls | None = None
    ) -> int:
        if tls is not None and tls.server is not None:
            tls.server.ptr  # noqa: B018  (loaded while dev runs)
        seen.append(tls)
        return 0

    monkeypatch.setattr(ssdk.tools.dev, "run_dev", fake_run)
    assert main(["dev", str(HELLO), *args]) == 0
    tls: DevTls | None = seen[0]
    return tls


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("devcert")
    cert, key = folder / "a.crt", folder / "a.key"
    write_selfsigned(cert, key, ["a.test"], 2)
    return cert, key


def test_no_tls_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dev_tls(monkeypatch) is None


def test_tls_asks_for_dev_s_own_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    tls = dev_tls(monkeypatch, "--tls")
    assert tls == DevTls(port=None, pairs=[], server=None, ticket_key=None)
    tls = dev_tls(monkeypatch, "--tls", "--tls-port", "9443")
    assert tls is not None and tls.port == 9443


def test_certificates_given_are_loaded_and_freed(
    monkeypatch: pytest.MonkeyPatch, pair: tuple[Path, Path], tmp_path: Path
) -> None:
    ticket = tmp_path / "t.key"
    write_ticket_key(ticket)
    tls = dev_tls(monkeypatch, "--tls-cert", str(pair[0]), "--tls-key", str(pair[1]),
                  "--tls-ticket-key", str(ticket))  # fmt: skip
    assert tls is not None and tls.pairs == [pair] and tls.ticket_key == ticket
    assert tls.server is not None and tls.server.pairs == [pair]
    with pytest.raises(Exception, match="closed"):
        tls.server.ptr  # noqa: B018


def test_bad_dev_options_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(ssdk.tools.dev, "run_dev", lambda *a: ran.append(a) or 0)
    short = tmp_path / "short"
    short.write_bytes(b"x")
    cert, key = pair
    cases = [
        (["--tls-port", "9443"], "HTTPS needs a certificate"),
        (["--tls-ticket-key", str(short)], "HTTPS needs a certificate"),
        (["--tls", "--tls-ticket-key", str(short)], "a ticket key file holds 64 bytes"),
        (["--tls-cert", str(cert)], "has no --tls-key"),
        (["--tls-cert", str(cert), "--tls-key", str(tmp_path / "k")], "No such file"),
        (["--tls-cert", str(cert), "--tls-key", str(cert)], "a.crt"),
        (["--tls", "--port", "8443", "--tls-port", "8443"], "8443 is HTTP's --port too"),
        (["--tls", "--tls-port", "0"], "--tls-port"),
    ]
    for args, needle in cases:
        rc = main(["dev", str(HELLO), *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and needle in err[0], (args, err)
    assert ran == []


def test_a_port_clash_found_by_dev_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def clash(*_: Any) -> int:
        raise TlsPortClash("443 is HTTP's port too: give HTTPS a port of its own with --tls-port")

    monkeypatch.setattr(ssdk.tools.dev, "run_dev", clash)
    assert main(["dev", str(HELLO), "--tls", "--port", "443"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tls-port" in err[0] and "443 is HTTP's port too" in err[0]


def test_the_https_port_defaults_by_transport_and_never_clashes() -> None:
    assert _https_port(None, 80, 443) == 0
    assert _https_port(DevTls(), 80, 443) == 443
    assert _https_port(DevTls(), 8000, 8443) == 8443
    assert _https_port(DevTls(port=9443), 80, 443) == 9443
    with pytest.raises(TlsPortClash, match="443 is HTTP's port too"):
        _https_port(DevTls(), 443, 443)


def test_dev_s_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    names = ["localhost", "127.0.0.1", "::1", "198.19.0.2"]
    first = dev_certificate(tmp_path, names, "198.19.0.0/30")
    cert, key, record = dev_cert_files(tmp_path)
    assert first.made and (first.cert, first.key) == (cert, key)
    assert key.stat().st_mode & 0o777 == 0o600
    assert recorded_net(tmp_path) == ipaddress.IPv4Network("198.19.0.0/30")
    pem = cert.read_bytes()
    again = dev_certificate(tmp_path, ["localhost", "198.19.0.2"])  # fewer names: covered
    assert not again.made and cert.read_bytes() == pem and again.names == names
    # A name it does not carry: made again, for the names asked.
    other = dev_certificate(tmp_path, ["localhost", "198.19.0.6"], "198.19.0.4/30")
    assert other.made and cert.read_bytes() != pem and other.names == ["localhost", "198.19.0.6"]
    assert recorded_net(tmp_path) == ipaddress.IPv4Network("198.19.0.4/30")
    # Close to its end: made again.
    pem = cert.read_bytes()
    late = time.time() + (DEV_CERT_DAYS - 6) * 86400
    assert dev_certificate(tmp_path, ["localhost"], now=late).made
    assert cert.read_bytes() != pem
    # Its key gone: made again.
    key.unlink()
    assert dev_certificate(tmp_path, ["localhost"]).made and key.is_file()
    record.write_text("not json")
    assert recorded_net(tmp_path) is None
    assert dev_certificate(tmp_path, ["localhost"]).made
    assert not dev_certificate(tmp_path, ["localhost"]).made
    record.write_text('{"names": ["localhost"], "not_after": "soon"}')
    assert dev_certificate(tmp_path, ["localhost"]).made
    # The record tells the certificate's true end, whatever time the caller asked at.
    x509 = pytest.importorskip("cryptography.x509")
    real = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc.timestamp()
    assert abs(real - dev_certificate(tmp_path, ["localhost"], now=late).not_after) < 5


def test_the_trust_line_names_the_file_and_its_fingerprint(tmp_path: Path) -> None:
    own = dev_certificate(tmp_path, ["localhost", "198.19.0.2"])
    line = own.trust_line("https://198.19.0.2/")
    assert "\n" not in line and "made now" in line
    assert f"curl --cacert {own.cert} https://198.19.0.2/" in line
    der = ssl.PEM_cert_to_DER_cert(own.cert.read_text())
    assert hashlib.sha256(der).hexdigest().upper()[:8] in line.replace(":", "")
    assert "reused" in dev_certificate(tmp_path, ["localhost"]).trust_line("https://x/")


def test_the_tap_s_subnet_is_offered_again() -> None:
    want = ipaddress.IPv4Network("198.19.200.4/30")
    assert pick_subnet(want) == want
    # Outside dev's range, or not a /30: not taken.
    assert pick_subnet(ipaddress.IPv4Network("10.9.0.0/30")).subnet_of(DEV_NET)
    assert pick_subnet(ipaddress.IPv4Network("198.19.200.0/29")).prefixlen == 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_kernel_sockets_serve_https_with_dev_s_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _manifest, blob = build(load_app(str(HELLO)))
    http, https = free_port(), free_port()
    engine = Engine(EngineConfig(ip="127.0.0.1", port=http))
    engine.load(blob)
    context = _kernel_tls(DevTls(), tmp_path, f"https://127.0.0.1:{https}/")
    assert "curl --cacert" in capsys.readouterr().out
    ready, done = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_kernel_server,
        args=(engine, "127.0.0.1", http, lambda: not done.is_set(), ready.set, lambda: None,
              (https, context)),  # fmt: skip
    )
    thread.start()
    try:
        assert ready.wait(10)
        client = ssl.create_default_context(cafile=str(dev_cert_files(tmp_path)[0]))
        client.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", https), 5) as raw, client.wrap_socket(
            raw, server_hostname="127.0.0.1"
        ) as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"
            tls.sendall(b"GET /items/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while chunk := tls.recv(65536):
                got += chunk
        assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b'{"name":"a"}')
        with socket.create_connection(("127.0.0.1", https), 5) as raw, pytest.raises(
            ssl.SSLCertVerificationError
        ):
            client.wrap_socket(raw, server_hostname="a.test")
        with socket.create_connection(("127.0.0.1", http), 5) as plain:  # HTTP still
            plain.sendall(b"GET /items/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert plain.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        done.set()
        thread.join(10)
        engine.close()
