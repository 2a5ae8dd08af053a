# tests/tls/test_tls_handshake.py: the server handshake driver (ssdk/csrc/tls/tls_hs.c)
# against Python's ssl (OpenSSL) and GnuTLS's client, in memory, then application data both
# ways through ssdk's record layer:
# - each TLS 1.3 suite (the server allows one, since Python's ssl cannot pick a 1.3 suite)
#   and each TLS 1.2 ECDHE AEAD suite;
# - SNI picks between two certificates on one credentials object; no SNI, or a name of
#   neither, gets the first one added;
# - ALPN: http/1.1 chosen; a client offering only h2 gets no_application_protocol (RFC
#   7301 3.2); a client offering none is served without ALPN;
# - resumption across two servers that load the same ticket key file, not across two with
#   different keys (TLS 1.3 and 1.2);
# - bad certificate, key and ticket key files are refused with one line naming the file;
# - bytes the client sent right after its Finished are handed over with the keys.
from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from tls_helpers import (
    CIPHERS,
    CIPHERS12,
    Client,
    Conn,
    Server,
    TLSError,
    cert_der,
    client_context,
    connect,
    gnutls_connect,
)

from ssdk.core.runtime.engine import ffi, lib

Certs = dict[str, tuple[Path, Path]]


def exchange(client: Client, conn: Conn) -> None:
    """A request one way, a response the other, through ssdk's records."""
    client.obj.write(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    events = conn.feed(client.take())
    assert [(e.kind, e.data) for e in events] == [
        (lib.TLS_EV_DATA, b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    ]
    body = b"x" * 20000  # two records: 2^14 bytes at most in each
    client.give(conn.seal(b"HTTP/1.1 200 OK\r\n\r\n" + body[:16000]) + conn.seal(body[16000:]))
    assert client.read_all() == b"HTTP/1.1 200 OK\r\n\r\n" + body


@pytest.mark.parametrize("name", list(CIPHERS))
def test_tls13_suite(certs: Certs, name: str) -> None:
    cipher = CIPHERS[name]
    server = Server([certs["a.test"]], ciphers=1 << cipher)
    client, conn = connect(server, client_context("1.3", alpn=["http/1.1"]))
    assert client.obj.cipher()[0] == name and client.obj.version() == "TLSv1.3"
    assert conn.c.rd.cipher == conn.c.wr.cipher == cipher
    assert conn.c.rd.minor == 4 and conn.c.hash_len == (48 if "SHA384" in name else 32)
    assert conn.c.rd.seq == 0  # nothing read yet; the tickets went out with the keys
    assert conn.c.wr.seq == 2  # GnuTLS's two NewSessionTickets
    exchange(client, conn)


@pytest.mark.parametrize("name", list(CIPHERS12))
def test_tls12_suite(certs: Certs, name: str) -> None:
    server = Server([certs["a.test"]])
    client, conn = connect(server, client_context("1.2", ciphers12=name))
    assert client.obj.cipher()[0] == name and client.obj.version() == "TLSv1.2"
    assert conn.c.rd.cipher == CIPHERS12[name] and conn.c.rd.minor == 3
    assert conn.c.hash_len == 0
    exchange(client, conn)


@pytest.mark.parametrize(
    "priority",
    [
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM",
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305",
        "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305",
        "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM",
    ],
)
def test_gnutls_client_reads_our_records(server: Server, priority: str) -> None:
    client, conn = gnutls_connect(server, priority)
    assert [e.data for e in conn.feed(client.send(b"ping"))] == [b"ping"]
    client.give(conn.seal(b"pong"))
    assert client.recv() == b"pong"


@pytest.mark.parametrize(
    "version, suite",
    [
        ("1.2", "AES128-GCM-SHA256"),  # RSA key exchange: no forward secrecy
        ("1.2", "ECDHE-ECDSA-AES128-SHA256"),  # CBC, not an AEAD
        ("1.2", "ECDHE-ECDSA-AES128-CCM"),  # an AEAD, not one of the three
    ],
)
def test_only_ecdhe_aead_suites(server: Server, version: str, suite: str) -> None:
    with pytest.raises((TLSError, ssl.SSLError)):
        connect(server, client_context(version, ciphers12=suite))


def test_tls13_ccm_refused(server: Server) -> None:
    with pytest.raises(TLSError, match="(?i)no supported cipher|could not negotiate"):
        gnutls_connect(server, "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-CCM")


def test_versions_and_ciphers_refused(certs: Certs) -> None:
    with pytest.raises(TLSError, match="no cipher"):
        Server([], ciphers=1)  # bit 0 is no cipher
    server = Server([certs["a.test"]], versions=2)  # TLS 1.3 only
    with pytest.raises((TLSError, ssl.SSLError)):
        connect(server, client_context("1.2"))


@pytest.mark.parametrize("order", [("a.test", "b.test"), ("b.test", "a.test")])
def test_sni_picks_the_certificate(certs: Certs, order: tuple[str, str]) -> None:
    server = Server([certs[n] for n in order])
    for name, want in (("a.test", "a.test"), ("b.test", "b.test"), (None, order[0]),
                       ("c.test", order[0])):  # fmt: skip
        client, conn = connect(server, client_context("1.3"), server_name=name)
        assert client.obj.getpeercert(binary_form=True) == cert_der(certs[want][0]), name
        assert conn.server_name == (name or "")


def test_alpn(server: Server) -> None:
    client, conn = connect(server, client_context("1.3", alpn=["h2", "http/1.1"]))
    assert client.obj.selected_alpn_protocol() == "http/1.1" and conn.alpn
    client, conn = connect(server, client_context("1.3"))
    assert client.obj.selected_alpn_protocol() is None and not conn.alpn
    # Only h2 offered: RFC 7301 3.2's fatal no_application_protocol.
    client, conn = Client(client_context("1.3", alpn=["h2"]), "a.test"), Conn(server)
    client.step()
    client.give(conn.handshake_in(client.take()))
    assert conn.failed() and "application protocol" in conn.error
    with pytest.raises(ssl.SSLError, match="alert no application protocol"):
        client.step()


def ticket_session(server: Server, ctx: ssl.SSLContext) -> ssl.SSLSession:
    client, conn = connect(server, ctx)
    assert not conn.resumed
    client.read_all()  # TLS 1.3: the tickets come after the handshake
    session = client.obj.session
    assert session is not None and session.has_ticket
    return session


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_resumption_with_a_shared_ticket_key(certs: Certs, tmp_path: Path, version: str) -> None:
    key, other = tmp_path / "ticket.key", tmp_path / "other.key"
    err = ffi.new("char[256]")
    assert lib.tls_ticket_key_write(str(key).encode(), err, 256) == 0
    assert lib.tls_ticket_key_write(str(other).encode(), err, 256) == 0
    assert len(key.read_bytes()) == 64 and key.stat().st_mode & 0o777 == 0o600
    one = Server([certs["a.test"]], ticket_key=key)
    two = Server([certs["a.test"]], ticket_key=key)
    three = Server([certs["a.test"]], ticket_key=other)
    ctx = client_context(version)
    session = ticket_session(one, ctx)
    client, conn = connect(two, ctx, session=session)
    assert client.obj.session_reused and conn.resumed
    exchange(client, conn)
    client, conn = connect(three, ctx, session=session)
    assert not client.obj.session_reused and not conn.resumed


def test_bad_files_refused(certs: Certs, tmp_path: Path) -> None:
    cert_a, key_a = certs["a.test"]
    cert_b, key_b = certs["b.test"]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    cases = [
        ((tmp_path / "missing.crt", key_a), "missing.crt: No such file"),
        ((cert_a, tmp_path / "missing.key"), "missing.key: No such file"),
        ((garbage, key_a), "garbage.pem"),
        ((cert_a, garbage), "garbage.pem"),
        ((cert_a, key_b), "do not match"),
    ]
    for pair, message in cases:
        with pytest.raises(TLSError, match=message) as e:
            Server([pair])
        assert "\n" not in str(e.value)
    short = tmp_path / "short.key"
    short.write_bytes(bytes(32))
    with pytest.raises(TLSError, match="short.key: a ticket key file holds 64 bytes"):
        Server([certs["a.test"]], ticket_key=short)
    with pytest.raises(TLSError, match="nokey: No such file"):
        Server([certs["a.test"]], ticket_key=tmp_path / "nokey")


def test_bytes_after_finished_are_handed_over(server: Server) -> None:
    client, conn = Client(client_context("1.3"), "a.test"), Conn(server)
    client.step()
    client.give(conn.handshake_in(client.take()))
    assert client.step()
    client.obj.write(b"early request")  # in the same flight as the client's Finished
    client.give(conn.handshake_in(client.take()))
    assert conn.done and conn.rest
    assert [e.data for e in conn.feed(conn.rest)] == [b"early request"]
    assert conn.c.rd.seq == 1


def test_handshake_garbage(server: Server) -> None:
    conn = Conn(server)
    conn.handshake_in(b"GET / HTTP/1.1\r\n\r\n")
    assert conn.failed() and conn.error
