# tests/net/test_net_https.py: HTTPS from the user-space stack (serve/https.c) to real
# clients in a client namespace: curl (TLS 1.3 and 1.2) for every file size byte-exact
# and again through a lossy path, Python's ssl on one keep-alive connection and resuming
# its session, `openssl s_client` verifying the chain and the name, and headless Chromium
# loading a page. The certificate is ssdk's own self-signed one (tls_selfsigned_write),
# trusted by each client as its only authority.
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import Server, file_sha256, serve, sha256, unavailable

from ssdk.core.runtime.tls import write_selfsigned
from ssdk.tools.netns import SERVER_IP

pytestmark = pytest.mark.net

NAME = "site.test"


@pytest.fixture(scope="module")
def cert(net_ready: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("https-cert")
    c, k = folder / "site.crt", folder / "site.key"
    write_selfsigned(c, k, [NAME, SERVER_IP], 2)
    return c, k


def tls_args(cert: tuple[Path, Path]) -> list[str]:
    return ["--tls-cert", str(cert[0]), "--tls-key", str(cert[1])]


@pytest.fixture(scope="module")
def https(
    cert: tuple[Path, Path], bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serve(bundle, tmp_path_factory.mktemp("https"), *tls_args(cert), tag="tls") as s:
        yield s


def curl_all(server: Server, cert: Path, paths: list[str], out: Path, *extra: str,
             timeout: int = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """One curl for all paths (one connection, kept alive), each into out/<n>."""
    argv = ["curl", "-sS", "--fail", "--max-time", str(timeout), "--cacert", str(cert),
            "--resolve", f"{NAME}:443:{server.topo.server_ip}", *extra]  # fmt: skip
    for i, p in enumerate(paths):
        argv += ["-o", str(out / str(i)), f"https://{NAME}{p}"]
    return server.client(argv, timeout=timeout + 30)


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_curl_gets_every_size_byte_exact(
    https: Server, cert: tuple[Path, Path], expected: dict[str, bytes], tmp_path: Path,
    version: str,
) -> None:  # fmt: skip
    paths = sorted(expected)
    extra = ["--tlsv1.3"] if version == "1.3" else ["--tlsv1.2", "--tls-max", "1.2"]
    proc = curl_all(https, cert[0], paths, tmp_path, *extra, "-w", "%{ssl_verify_result}\n")
    assert proc.returncode == 0, f"curl: {proc.stderr}\n{https.log_tail()}"
    assert set(proc.stdout.split()) == {"0"}, proc.stdout  # the chain verified
    for i, p in enumerate(paths):
        assert file_sha256(tmp_path / str(i)) == sha256(expected[p]), p
    st = https.stats(fresh=True)
    assert st["tls_handshakes"] >= 1 and st["tls_records_sealed"] > 0, st
    assert st["tls_handshake_failed"] == 0 and st["tls_failed"] == 0, st


PY_CLIENT = """
import hashlib, http.client, json, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(["http/1.1"])
c = http.client.HTTPSConnection(sys.argv[2], 443, context=ctx, timeout=20)
digests = []
for path in sys.argv[3:]:  # all on the one connection
    c.request("GET", path)
    digests.append(hashlib.sha256(c.getresponse().read()).hexdigest())
print(json.dumps({"digests": digests, "version": c.sock.version(),
                  "alpn": c.sock.selected_alpn_protocol()}))
"""

RESUME_CLIENT = """
import json, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # a session to resume at once (1.3 tickets
                                               # come after the handshake)
def one(session):
    s = ctx.wrap_socket(socket.create_connection((sys.argv[2], 443), timeout=20),
                        server_hostname=sys.argv[3], session=session)
    s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return s, data
s1, d1 = one(None)
s2, d2 = one(s1.session)
first, second = (d.split(b"\\r\\n")[0].decode() for d in (d1, d2))
print(json.dumps({"first": first, "second": second, "resumed": s2.session_reused}))
"""


def test_python_ssl_keeps_a_connection_and_resumes(
    https: Server, cert: tuple[Path, Path], expected: dict[str, bytes]
) -> None:
    paths = ["/", "/files/f1.bin", "/files/f64k.bin", "/", "/files/f1449.bin"]
    # the address is the name checked (the certificate carries it too)
    proc = https.client([sys.executable, "-c", PY_CLIENT, str(cert[0]), SERVER_IP, *paths])
    assert proc.returncode == 0, f"{proc.stderr}\n{https.log_tail()}"
    got = json.loads(proc.stdout)
    assert got["digests"] == [sha256(expected[p]) for p in paths]
    assert got["version"] == "TLSv1.3" and got["alpn"] == "http/1.1", got
    before = https.stats(fresh=True)["tls_resumed"]
    proc = https.client([sys.executable, "-c", RESUME_CLIENT, str(cert[0]), SERVER_IP, NAME])
    assert proc.returncode == 0, f"{proc.stderr}\n{https.log_tail()}"
    res = json.loads(proc.stdout)
    assert res["first"] == res["second"] == "HTTP/1.1 200 OK", res
    assert res["resumed"], res
    assert https.stats(fresh=True)["tls_resumed"] > before


def test_openssl_s_client_verifies_and_is_answered(https: Server, cert: tuple[Path, Path]) -> None:
    request = f"GET / HTTP/1.1\r\nHost: {NAME}\r\nConnection: close\r\n\r\n"
    proc = subprocess.run(
        ["ip", "netns", "exec", https.topo.client_ns, "openssl", "s_client", "-connect",
         f"{https.topo.server_ip}:443", "-servername", NAME, "-alpn", "http/1.1",
         "-CAfile", str(cert[0]), "-verify_return_error", "-ign_eof"],
        input=request, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Verify return code: 0 (ok)" in proc.stdout, proc.stdout[-2000:]
    assert "ALPN protocol: http/1.1" in proc.stdout
    assert "HTTP/1.1 200 OK" in proc.stdout and "<h1>hello</h1>" in proc.stdout


def spki_pin(cert: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): what Chromium's pin list takes."""
    der = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=der,
                          capture_output=True, check=True).stdout  # fmt: skip
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_chromium_loads_the_page(https: Server, cert: tuple[Path, Path], tmp_path: Path) -> None:
    """Headless Chromium trusts exactly this certificate's key (an SPKI pin) and shows
    the page."""
    if subprocess.run(["which", "chromium"], capture_output=True).returncode != 0:
        unavailable("chromium is missing")
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--ignore-certificate-errors-spki-list={spki_pin(cert[0])}",
            f"--host-resolver-rules=MAP {NAME} {https.topo.server_ip}",
            "--virtual-time-budget=5000", "--dump-dom", f"https://{NAME}/"]  # fmt: skip
    proc = https.client(argv, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "<h1>hello</h1>" in proc.stdout, proc.stdout[-2000:]
    assert https.stats(fresh=True)["tls_handshakes"] >= 1


def test_https_through_loss_is_byte_exact(
    cert: tuple[Path, Path], bundle: Path, expected: dict[str, bytes], tmp_path: Path
) -> None:
    """Every file (8 MiB included) over TLS with 2% loss each way: every lost record is
    sealed again from the response and each download is byte-exact (curl fails on a bad
    record MAC)."""
    args = [*tls_args(cert), "--impair-both", "loss=2%", "--seed", "7"]
    paths = sorted(expected)
    with serve(bundle, tmp_path, *args, tag="tlsloss") as srv:
        proc = curl_all(srv, cert[0], paths, tmp_path, timeout=240)
        assert proc.returncode == 0, f"curl: {proc.stderr}\n{srv.log_tail()}"
        for i, p in enumerate(paths):
            assert file_sha256(tmp_path / str(i)) == sha256(expected[p]), p
        st = srv.stats(fresh=True)
        assert st["retransmits"] > 0 and st["impair_tx_dropped"] > 0, st
        assert st["tls_failed"] == 0, st
