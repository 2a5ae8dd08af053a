# tests/net/test_net_tls_start.py: `ssdk serve` with --tls-cert/--tls-key starts on a real
# backend with two workers, each engine given the one TLS server it inherited
# (ssdk_engine_tls), says where HTTPS is, takes the HTTPS port in its sharing filter,
# and serves HTTP and HTTPS byte-exact (test_net_https.py tries HTTPS with more clients).
from __future__ import annotations

from pathlib import Path

import pytest
from nethelpers import BACKENDS, file_sha256, require_backend, serve, sha256

from ssdk.core.runtime.tls import write_selfsigned, write_ticket_key

pytestmark = pytest.mark.net


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_starts_with_tls_and_http_still_serves(
    net_ready: None,
    bundle: Path,
    expected: dict[str, bytes],
    tmp_path: Path,
    backend: str,
) -> None:
    require_backend(backend)
    cert, key = tmp_path / "site.crt", tmp_path / "site.key"
    write_selfsigned(cert, key, ["site.test", "198.18.0.2"], 2)
    ticket = tmp_path / "ticket.key"
    write_ticket_key(ticket)
    args = ["--workers", "2", "--tls-cert", str(cert), "--tls-key", str(key),
            "--tls-port", "8443", "--tls-ticket-key", str(ticket)]  # fmt: skip
    with serve(bundle, tmp_path, *args, tag="tls", backend=backend, queues=2) as server:
        out = server.output()
        assert f"HTTPS at https://{server.topo.server_ip}:8443/" in out, out
        assert f"session tickets with the key in {ticket}" in out
        assert "TCP ports 80, 8443" in out, out
        path, body = next((p, b) for p, b in expected.items() if len(b) > 1448)
        got = tmp_path / "body"
        proc = server.curl_to(path, got)
        assert proc.returncode == 0, f"{proc.stderr}\n{server.log_tail()}"
        assert file_sha256(got) == sha256(body)
        url = f"https://site.test:8443{path}"
        pin = ["--cacert", str(cert), "--resolve", f"site.test:8443:{server.topo.server_ip}"]
        proc = server.client(["curl", "-sS", "--fail", "--max-time", "60", *pin, "-o",
                              str(got), url])  # fmt: skip
        assert proc.returncode == 0, f"{proc.stderr}\n{server.log_tail()}"
        assert file_sha256(got) == sha256(body)
