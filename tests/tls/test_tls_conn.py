# tests/tls/test_tls_conn.py: the client's record stream after the handshake
# (ssdk/csrc/tls/tls_conn.c), with Python's ssl or GnuTLS as the client:
# - a record split byte by byte is reassembled and opened once whole; several records in
#   one chunk come out one event each;
# - a tampered record is refused with bad_record_mac, which the client reads as such;
# - a header announcing more than 2^14 + 256 bytes is refused (record_overflow) before
#   its body is waited for;
# - close_notify is answered with ours, and nothing after it is read;
# - KeyUpdate (GnuTLS's client): the read keys move; update_requested owes ours, after
#   which our records are sealed with the next generation; requests before we answer get
#   one KeyUpdate; a KeyUpdate not ending its record, or with a bad value, is refused;
# - alerts: a fatal one closes with no reply, a TLS 1.2 warning is taken in; other content
#   types and other handshake messages are unexpected_message; TLS 1.2's ClientHello
#   gets the no_renegotiation warning.
from __future__ import annotations

import ssl

import pytest
from tls_helpers import (
    CT_ALERT,
    CT_APPDATA,
    CT_HANDSHAKE,
    Client,
    Conn,
    Server,
    client_context,
    connect,
    gnutls_connect,
)

from ssdk.core.runtime.engine import ffi, lib

TLS13 = "NORMAL:-VERS-ALL:+VERS-TLS1.3"


def kinds(events: list) -> list[int]:
    return [e.kind for e in events]


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_record_split_byte_by_byte(server: Server, version: str) -> None:
    client, conn = connect(server, client_context(version))
    client.obj.write(b"GET /split HTTP/1.1\r\n\r\n")
    record = client.take()
    for b in record[:-1]:
        assert conn.feed(bytes([b])) == []
    assert conn.c.rx_have == len(record) - 1
    seq = conn.c.rd.seq  # 0 in TLS 1.3; 1 in TLS 1.2, whose Finished was the first
    events = conn.feed(record[-1:])
    assert [(e.kind, e.data) for e in events] == [(lib.TLS_EV_DATA, b"GET /split HTTP/1.1\r\n\r\n")]
    assert conn.c.rx_have == 0 and conn.c.rd.seq == seq + 1


def test_several_records_in_one_chunk(server: Server) -> None:
    client, conn = connect(server, client_context("1.3"))
    for part in (b"one", b"two", b"three"):
        client.obj.write(part)
    big = bytes(range(256)) * 100  # two records of the client's
    client.obj.write(big)
    events = conn.feed(client.take())
    assert kinds(events) == [lib.TLS_EV_DATA] * 5
    assert b"".join(e.data for e in events) == b"onetwothree" + big


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_tampered_record(server: Server, version: str) -> None:
    client, conn = connect(server, client_context(version))
    client.obj.write(b"GET / HTTP/1.1\r\n\r\n")
    record = bytearray(client.take())
    record[-3] ^= 0x40
    assert kinds(conn.feed(bytes(record))) == [lib.TLS_EV_FATAL]
    assert conn.c.phase == lib.TLS_FAILED and conn.c.alert == lib.TLS_ALERT_BAD_RECORD_MAC
    alert = conn.output()
    assert conn.output() == b""
    client.give(alert)
    with pytest.raises(ssl.SSLError, match="(?i)bad record mac"):
        client.read_all()
    assert conn.feed(bytes(record)) == []  # nothing is read after a fatal alert


def test_record_overflow(server: Server) -> None:
    client, conn = connect(server, client_context("1.3"))
    header = bytes([23, 3, 3]) + (2**14 + 257).to_bytes(2, "big")
    assert kinds(conn.feed(header)) == [lib.TLS_EV_FATAL]
    assert conn.c.alert == lib.TLS_ALERT_RECORD_OVERFLOW
    client.give(conn.output())
    with pytest.raises(ssl.SSLError, match="(?i)record overflow"):
        client.read_all()


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_close_notify(server: Server, version: str) -> None:
    client, conn = connect(server, client_context(version))
    client.read_all()
    with pytest.raises(ssl.SSLWantReadError):
        client.obj.unwrap()
    assert kinds(conn.feed(client.take())) == [lib.TLS_EV_CLOSE]
    assert conn.c.phase == lib.TLS_CLOSED
    client.give(conn.output())
    client.obj.unwrap()  # our close_notify completes the client's shutdown
    assert conn.feed(b"\x17\x03\x03\x00\x20" + bytes(32)) == []


@pytest.fixture
def gnutls13(server: Server):  # type: ignore[no-untyped-def]
    client, conn = gnutls_connect(server, TLS13)
    assert client.recv() == -28  # the tickets, and no data
    return client, conn


def test_key_update(gnutls13) -> None:  # type: ignore[no-untyped-def]
    client, conn = gnutls13
    before = bytes(conn.c.rd.key), bytes(conn.c.wr.key)
    # Not requested: only the client's keys move.
    assert lib.tls_test_client_key_update(client.t, 0) == 0
    events = conn.feed(client.send(b"after one"))
    assert kinds(events) == [lib.TLS_EV_CONTROL, lib.TLS_EV_DATA] and events[1].data == b"after one"
    assert bytes(conn.c.rd.key) != before[0] and conn.c.rd.seq == 1
    assert conn.c.pending == 0 and bytes(conn.c.wr.key) == before[1]
    # Requested, twice before we answer: one KeyUpdate of ours, then our keys move.
    assert lib.tls_test_client_key_update(client.t, 1) == 0
    assert lib.tls_test_client_key_update(client.t, 1) == 0
    events = conn.feed(client.send(b"after three"))
    assert kinds(events) == [lib.TLS_EV_CONTROL] * 2 + [lib.TLS_EV_DATA]
    assert conn.c.pending == lib.TLS_PEND_KEY_UPDATE
    wr_seq = conn.c.wr.seq
    reply = conn.output()
    assert len(reply) == 5 + 5 + 1 + 16 and conn.c.wr.seq == 0
    assert bytes(conn.c.wr.key) != before[1] and conn.c.pending == 0
    assert wr_seq == 2  # the reply took the old generation's next number
    client.give(reply + conn.seal(b"new generation"))
    assert client.recv() == b"new generation"
    # And the client's next records use its next generation again.
    assert [e.data for e in conn.feed(client.send(b"still fine"))] == [b"still fine"]


def test_key_update_generations_agree(gnutls13) -> None:  # type: ignore[no-untyped-def]
    """tls_conn_key_update derives what GnuTLS derives (RFC 8446 7.2), ten times over."""
    client, conn = gnutls13
    for i in range(10):
        assert lib.tls_test_client_key_update(client.t, 0) == 0
        events = conn.feed(client.send(b"%d" % i))
        assert [e.data for e in events][-1] == b"%d" % i


def test_key_update_refused(gnutls13) -> None:  # type: ignore[no-untyped-def]
    client, conn = gnutls13
    bad = conn.seal_as_client(b"\x18\x00\x00\x01\x02", CT_HANDSHAKE)
    assert kinds(conn.feed(bad)) == [lib.TLS_EV_FATAL]
    assert conn.c.alert == lib.TLS_ALERT_ILLEGAL_PARAMETER


@pytest.mark.parametrize(
    "ctype, body, alert",
    [
        (CT_HANDSHAKE, b"\x18\x00\x00\x01\x00" + b"\x18\x00\x00\x01\x00", None),  # ok
        (CT_HANDSHAKE, b"\x18\x00\x00\x01\x00" + b"\x17", lib.TLS_ALERT_UNEXPECTED_MESSAGE),
        (CT_HANDSHAKE, b"\x18\x00\x00\x02\x00\x00", lib.TLS_ALERT_DECODE_ERROR),
        (CT_HANDSHAKE, b"\x04\x00\x00\x01\x00", lib.TLS_ALERT_UNEXPECTED_MESSAGE),
        (CT_HANDSHAKE, b"\x18\x00\x00", lib.TLS_ALERT_UNEXPECTED_MESSAGE),
        (CT_HANDSHAKE, b"", lib.TLS_ALERT_UNEXPECTED_MESSAGE),
        (20, b"\x01", lib.TLS_ALERT_UNEXPECTED_MESSAGE),
        (24, b"heartbeat", lib.TLS_ALERT_UNEXPECTED_MESSAGE),
        (CT_ALERT, b"\x02\x28\x00", lib.TLS_ALERT_DECODE_ERROR),
    ],
)
def test_tls13_control_records(server: Server, ctype: int, body: bytes, alert: int | None) -> None:
    client, conn = connect(server, client_context("1.3"))
    events = conn.feed(conn.seal_as_client(body, ctype))
    if alert is None:  # two KeyUpdates in one record: the first does not end it
        assert kinds(events) == [lib.TLS_EV_FATAL]
        assert conn.c.alert == lib.TLS_ALERT_UNEXPECTED_MESSAGE
        return
    assert kinds(events) == [lib.TLS_EV_FATAL] and conn.c.alert == alert
    client.give(conn.output())
    with pytest.raises(ssl.SSLError):
        client.read_all()


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_alerts_received(server: Server, version: str) -> None:
    client, conn = connect(server, client_context(version))
    # user_canceled is taken in (RFC 8446 6.1); a TLS 1.2 warning too, a TLS 1.3 one not.
    events = conn.feed(conn.seal_as_client(b"\x01\x5a", CT_ALERT))
    assert kinds(events) == [lib.TLS_EV_CONTROL]
    events = conn.feed(conn.seal_as_client(b"\x01\x2a", CT_ALERT))  # bad_certificate
    assert kinds(events) == [lib.TLS_EV_CONTROL if version == "1.2" else lib.TLS_EV_FATAL]
    if version == "1.2":
        events = conn.feed(conn.seal_as_client(b"\x02\x28", CT_ALERT))
        assert kinds(events) == [lib.TLS_EV_FATAL]
    assert conn.c.phase == lib.TLS_FAILED and conn.output() == b""  # no reply


def test_tls12_renegotiation_declined(server: Server) -> None:
    client, conn = connect(server, client_context("1.2"))
    events = conn.feed(conn.seal_as_client(b"\x01\x00\x00\x00", CT_HANDSHAKE))
    assert kinds(events) == [lib.TLS_EV_CONTROL] and conn.c.phase == lib.TLS_OPEN
    seq = conn.c.wr.seq
    warning = bytearray(conn.output())
    t, off, plen = ffi.new("uint8_t *"), ffi.new("size_t *"), ffi.new("size_t *")
    buf = ffi.new("uint8_t[]", bytes(warning))
    assert lib.tls_open(ffi.addressof(conn.c, "wr"), seq, buf, len(warning), t, off, plen) == 0
    assert (t[0], bytes(ffi.buffer(buf + off[0], plen[0]))) == (CT_ALERT, b"\x01\x64")
    # The connection goes on. (The records injected here moved our read seq past the
    # client's own, so the next one is injected too; and OpenSSL takes an unasked-for
    # no_renegotiation as an error, so the client is not told.)
    events = conn.feed(conn.seal_as_client(b"next request", CT_APPDATA))
    assert [(e.kind, e.data) for e in events] == [(lib.TLS_EV_DATA, b"next request")]


def test_zero_length_application_data(server: Server) -> None:
    client, conn = connect(server, client_context("1.3"))
    events = conn.feed(conn.seal_as_client(b"", CT_APPDATA))
    assert [(e.kind, e.data) for e in events] == [(lib.TLS_EV_DATA, b"")]


def test_output_needs_room(server: Server) -> None:
    client, conn = connect(server, client_context("1.3"))
    conn.feed(b"\x17\x03\x03\x00\x11" + bytes(17))
    out = ffi.new("uint8_t[8]")
    assert lib.tls_conn_output(conn.c, out, 8) == -1
    assert len(conn.output()) == 5 + 2 + 1 + 16
    assert Client and Conn  # imported for the type of the helpers' objects
