# tests/tls/tls_helpers.py: drives the C TLS layer (ssdk/csrc/tls/, docs/tls.md) from
# Python, all in memory: the server side is ssdk's (tls_server_*, tls_hs_*, then
# tls_conn_* and tls_seal); the client is Python's ssl module on MemoryBIOs, or GnuTLS's
# (tls_test_client_*, for what ssl cannot send).
from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssdk.core.runtime.engine import ffi, lib

CIPHERS = {
    "TLS_AES_128_GCM_SHA256": lib.TLS_AES_128_GCM,
    "TLS_AES_256_GCM_SHA384": lib.TLS_AES_256_GCM,
    "TLS_CHACHA20_POLY1305_SHA256": lib.TLS_CHACHA20_POLY1305,
}
# TLS 1.2: OpenSSL's suite names for the ECDHE-ECDSA AEAD suites.
CIPHERS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": lib.TLS_AES_128_GCM,
    "ECDHE-ECDSA-AES256-GCM-SHA384": lib.TLS_AES_256_GCM,
    "ECDHE-ECDSA-CHACHA20-POLY1305": lib.TLS_CHACHA20_POLY1305,
}
CT_ALERT, CT_HANDSHAKE, CT_APPDATA = 21, 22, 23


def make_cert(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for `name` (subject and subjectAltName)."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext",
         f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def cert_der(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


class TLSError(Exception):
    pass


class Server:
    """A listener's TLS settings: tls_server_new, its certificates and ticket key."""

    def __init__(self, pairs: list[tuple[Path, Path]], ciphers: int = 0, versions: int = 0,
                 ticket_key: Path | None = None) -> None:  # fmt: skip
        err = ffi.new("char[256]")
        out = ffi.new("struct tls_server **")
        if lib.tls_server_new(ciphers, versions, out, err, 256) != 0:
            raise TLSError(ffi.string(err).decode())
        self.s = ffi.gc(out[0], lib.tls_server_free)
        for cert, key in pairs:
            if lib.tls_server_add_cert(self.s, str(cert).encode(), str(key).encode(), err,
                                       256) != 0:  # fmt: skip
                raise TLSError(ffi.string(err).decode())
        if ticket_key is not None:
            if lib.tls_server_ticket_key(self.s, str(ticket_key).encode(), err, 256) != 0:
                raise TLSError(ffi.string(err).decode())


@dataclass
class Event:
    kind: int
    data: bytes = b""


@dataclass
class Conn:
    """The server side of one connection: the handshake, then ssdk's record layer."""

    server: Server
    hs: Any = None
    c: Any = field(default_factory=lambda: ffi.new("struct tls_conn *"))
    rx: Any = field(default_factory=lambda: ffi.new("uint8_t[]", lib.TLS_RX_BUFFER))
    done: bool = False
    rest: bytes = b""
    server_name: str = ""
    alpn: bool = False
    resumed: bool = False

    def __post_init__(self) -> None:
        out = ffi.new("struct tls_hs **")
        assert lib.tls_hs_new(self.server.s, out) == 0
        self.hs = out[0]

    def handshake_in(self, data: bytes) -> bytes:
        """Client bytes into the handshake; returns the bytes to send back. On completion,
        takes the keys over and frees the GnuTLS session."""
        r = lib.tls_hs_input(self.hs, data, len(data))
        p = ffi.new("const uint8_t **")
        n = lib.tls_hs_pending(self.hs, p)
        out = bytes(ffi.buffer(p[0], n)) if n else b""
        lib.tls_hs_sent(self.hs, n)
        if r < 0:
            self.error = ffi.string(lib.tls_hs_error(self.hs)).decode()
            return out
        if r == 1:
            self.server_name = ffi.string(lib.tls_hs_server_name(self.hs)).decode()
            self.alpn = bool(lib.tls_hs_alpn(self.hs))
            self.resumed = bool(lib.tls_hs_resumed(self.hs))
            rest, restlen = ffi.new("const uint8_t **"), ffi.new("size_t *")
            if lib.tls_hs_finish(self.hs, self.c, rest, restlen) != 0:
                raise TLSError(ffi.string(lib.tls_hs_error(self.hs)).decode())
            self.rest = bytes(ffi.buffer(rest[0], restlen[0])) if restlen[0] else b""
            lib.tls_hs_free(self.hs)
            self.hs = None
            self.done = True
        return out

    def failed(self) -> bool:
        return hasattr(self, "error")

    def feed(self, data: bytes) -> list[Event]:
        """Client bytes after the handshake: every event tls_conn_input reports."""
        used, off, plen = ffi.new("size_t *"), ffi.new("size_t *"), ffi.new("size_t *")
        events = []
        while True:
            ev = lib.tls_conn_input(self.c, self.rx, data, len(data), used, off, plen)
            if ev != lib.TLS_EV_MORE:
                events.append(Event(ev, bytes(ffi.buffer(self.rx + off[0], plen[0]))))
            data = data[used[0] :]
            if ev == lib.TLS_EV_MORE or (not data and ev != lib.TLS_EV_DATA):
                return events

    def seal(self, plain: bytes, ctype: int = CT_APPDATA, seq: int | None = None) -> bytes:
        """One record of ours with the write keys; seq given, or the next one (taken)."""
        if seq is None:
            seq = self.c.wr.seq
            self.c.wr.seq += 1
        out = ffi.new("uint8_t[]", len(plain) + 64)
        n = lib.tls_seal_buf(ffi.addressof(self.c, "wr"), seq, ctype, plain, len(plain), out,
                             len(plain) + 64)  # fmt: skip
        assert n > 0
        return bytes(ffi.buffer(out, n))

    def seal_as_client(self, plain: bytes, ctype: int) -> bytes:
        """A record the client could have sent next (our read keys, the next read seq)."""
        out = ffi.new("uint8_t[]", len(plain) + 64)
        n = lib.tls_seal_buf(ffi.addressof(self.c, "rd"), self.c.rd.seq, ctype, plain,
                             len(plain), out, len(plain) + 64)  # fmt: skip
        assert n > 0
        return bytes(ffi.buffer(out, n))

    def output(self) -> bytes:
        out = ffi.new("uint8_t[256]")
        n = lib.tls_conn_output(self.c, out, 256)
        assert n >= 0
        return bytes(ffi.buffer(out, n))


def client_context(version: str = "1.3", alpn: list[str] | None = None,
                   ciphers12: str | None = None) -> ssl.SSLContext:  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    if ciphers12:
        ctx.set_ciphers(ciphers12)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class Client:
    """Python's ssl on memory BIOs."""

    def __init__(self, ctx: ssl.SSLContext, server_name: str | None = None,
                 session: ssl.SSLSession | None = None) -> None:  # fmt: skip
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=server_name,
                                session=session)  # fmt: skip

    def step(self) -> bool:
        try:
            self.obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    def take(self) -> bytes:
        return self.out.read()

    def give(self, data: bytes) -> None:
        self.inc.write(data)

    def read_all(self) -> bytes:
        got = b""
        while True:
            try:
                d = self.obj.read(65536)
            except ssl.SSLWantReadError:
                return got
            if not d:
                return got
            got += d


def handshake(client: Client, conn: Conn) -> None:
    """Moves bytes until both sides are done (or the server failed)."""
    for _ in range(20):
        done = client.step()
        data = client.take()
        if data and not conn.done:
            client.give(conn.handshake_in(data))
        if conn.failed():
            raise TLSError(conn.error)
        if done and conn.done:
            return
    raise AssertionError("the handshake did not finish")


def connect(server: Server, ctx: ssl.SSLContext, server_name: str | None = "a.test",
            session: ssl.SSLSession | None = None) -> tuple[Client, Conn]:  # fmt: skip
    client, conn = Client(ctx, server_name, session), Conn(server)
    handshake(client, conn)
    return client, conn


class GnutlsClient:
    """GnuTLS's client (tls_test_client_*): KeyUpdate, and a TLS 1.3 suite of our choice."""

    def __init__(self, priority: str, server_name: str = "a.test", alpn: str = "http/1.1"):
        out = ffi.new("struct tls_test_client **")
        r = lib.tls_test_client_new(priority.encode(), server_name.encode(), alpn.encode(), out)
        assert r == 0, r
        self.t = ffi.gc(out[0], lib.tls_test_client_free)
        self.done = False

    def take(self) -> bytes:
        p = ffi.new("const uint8_t **")
        n = lib.tls_test_client_pending(self.t, p)
        data = bytes(ffi.buffer(p[0], n)) if n else b""
        lib.tls_test_client_sent(self.t, n)
        return data

    def give(self, data: bytes) -> int:
        r = int(lib.tls_test_client_input(self.t, data, len(data)))
        self.done = r == 1
        return r

    def send(self, data: bytes) -> bytes:
        assert lib.tls_test_client_send(self.t, data, len(data)) == len(data)
        return self.take()

    def recv(self) -> bytes | int:
        """The next application data, b"" at close_notify, or a GnuTLS error code. GnuTLS
        returns GNUTLS_E_AGAIN (-28) after each post-handshake message (a ticket, a
        KeyUpdate), so a few calls go by before data or the true AGAIN."""
        buf = ffi.new("uint8_t[]", 20000)
        for _ in range(8):
            n = lib.tls_test_client_recv(self.t, buf, 20000)
            if n != -28:
                break
        return bytes(ffi.buffer(buf, n)) if n >= 0 else int(n)


def gnutls_connect(server: Server, priority: str) -> tuple[GnutlsClient, Conn]:
    client, conn = GnutlsClient(priority), Conn(server)
    client.give(b"")
    for _ in range(20):
        data = client.take()
        if data and not conn.done:
            client.give(conn.handshake_in(data))
        elif not data:
            client.give(b"")
        if conn.failed():
            raise TLSError(conn.error)
        if client.done and conn.done:
            return client, conn
    raise AssertionError("the handshake did not finish")
