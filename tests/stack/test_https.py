# tests/stack/test_https.py: HTTP over TLS on the engine's TLS port (serve/https.c,
# docs/tls.md): Python's ssl as the client, over the stack harness on the virtual clock.
from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Peer, Seg, Site, Stack, get, parse_response, serving_app
from test_dynamic_loop import BIG
from test_dynamic_loop import make_app as make_dyn_app
from test_swap import version
from tls_peer import TLS_PORT, GnutlsClient, TlsPeer, client_context, make_cert, records_of

from ssdk.core.runtime.engine import lib
from ssdk.core.runtime.tls import TlsServer


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> TlsServer:
    folder: Path = tmp_path_factory.mktemp("stack-tls")
    return TlsServer([make_cert(folder, "a.test")])


@pytest.fixture
def tstack(site: Site, tls_server: TlsServer) -> Iterator[Stack]:
    s = Stack(site.blob, tls_port=TLS_PORT)
    s.engine.use_tls(tls_server)
    yield s
    s.close()


def one_response(tp: TlsPeer, request: bytes) -> tuple[bytes, bytes]:
    """The plaintext of one response (and whatever came after it)."""
    if request:
        tp.send(request)
    got = b""
    for _ in range(200):
        got += tp.read()
        if b"\r\n\r\n" in got:
            head = got[: got.index(b"\r\n\r\n")]
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
            if len(got) >= len(head) + 4 + length:
                return got[: len(head) + 4 + length], got[len(head) + 4 + length :]
    raise AssertionError(f"no whole response in {got[:200]!r}")


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_get_over_tls(tstack: Stack, site: Site, version: str) -> None:
    tp = TlsPeer(tstack, client_context(version))
    tp.handshake()
    assert tp.client.obj.version() == f"TLSv{version}"
    raw, rest = one_response(tp, get("/a"))
    resp, _ = parse_response(raw)
    assert resp.status == 200 and resp.body == site.bodies["/a"][1] and rest == b""
    st = tstack.stats()
    assert st["tls_handshakes"] == 1 and st["tls_records_in"] >= 1
    # keep-alive: a second request on the same connection
    raw, _ = one_response(tp, get("/b"))
    assert parse_response(raw)[0].body == site.bodies["/b"][1]


def test_large_file_one_record_per_segment(tstack: Stack, site: Site) -> None:
    tp = TlsPeer(tstack)
    tp.handshake()
    start = len(tp.peer.stream)
    tp.client.obj.write(get("/files/big.bin"))
    segs = tp.peer.request(tp.client.take()) + tp.peer.drain()
    raw, _ = one_response(tp, b"")
    assert parse_response(raw)[0].body == site.bodies["/files/big.bin"][1]
    data = [s for s in segs if s.payload]
    assert len(data) > 10
    for s in data:  # each segment carries whole application-data records
        recs = records_of(s.payload)
        assert recs and all(t == 23 for t, _ in recs), recs
        assert sum(5 + n for _, n in recs) == len(s.payload)
    assert tp.peer.stream[start:] and tstack.stats()["tls_records_sealed"] >= len(data)


def test_resent_record_is_identical(tstack: Stack, site: Site) -> None:
    """A lost segment's records are sealed again from the response: the same bytes (the
    harness checks that every resent byte equals what was sent), so the nonce is never
    used for other plaintext."""
    tp = TlsPeer(tstack)
    tp.handshake()
    fresh = [0]

    def lose_fourth(seg: Seg) -> bool:
        if not seg.payload or seg.resent:
            return False
        fresh[0] += 1
        return fresh[0] == 4

    tp.peer.lose = lose_fourth
    sealed = tstack.stats()["tls_records_sealed"]
    raw, _ = one_response(tp, get("/files/big.bin"))
    assert parse_response(raw)[0].body == site.bodies["/files/big.bin"][1]
    assert len(tp.peer.lost) == 1
    resent = tstack.stats()["tls_records_sealed"] - sealed
    assert resent > len(site.bodies["/files/big.bin"][1]) // 1500, resent


def test_pipelined_requests_in_one_record(tstack: Stack, site: Site) -> None:
    tp = TlsPeer(tstack)
    tp.handshake()
    raw, rest = one_response(tp, get("/a") + get("/b") + get("/c"))
    got = raw + rest
    for _ in range(50):
        got += tp.read()
    bodies = []
    while got:
        resp, used = parse_response(got)
        bodies.append(resp.body)
        got = got[used:]
    assert bodies == [site.bodies[p][1] for p in ("/a", "/b", "/c")]


def test_http_port_unchanged(tstack: Stack, site: Site) -> None:
    peer = Peer(tstack, sport=42000)
    peer.connect()
    resp, _ = peer.fetch(get("/a"))
    assert resp.body == site.bodies["/a"][1]
    assert tstack.stats()["tls_handshakes"] == 0


def test_not_tls_is_refused(tstack: Stack) -> None:
    """Plain HTTP to the TLS port: the handshake fails, an alert and a FIN come."""
    peer = Peer(tstack, sport=43000, dport=TLS_PORT)
    peer.connect()
    segs = peer.request(get("/a")) + peer.drain()
    assert any("F" in s.flags for s in segs), segs
    assert records_of(bytes(peer.stream)) and bytes(peer.stream)[0] == 21  # an alert
    st = tstack.stats()
    assert st["tls_handshake_failed"] == 1 and st["tls_handshakes"] == 0


def test_bad_record_ends_the_connection(tstack: Stack) -> None:
    tp = TlsPeer(tstack)
    tp.handshake()
    # a record that fails to open
    segs = tp.peer.request(b"\x17\x03\x03\x00\x20" + bytes(32)) + tp.peer.drain()
    assert any("F" in s.flags for s in segs), segs
    assert tstack.stats()["tls_failed"] == 1
    tail = bytes(tp.peer.stream[tp.fed :])
    assert records_of(tail) and tail[0] == 23  # the alert, sealed (TLS 1.3: outer type 23)


def test_close_notify_before_fin(tstack: Stack, site: Site) -> None:
    tp = TlsPeer(tstack)
    tp.handshake()
    raw, _ = one_response(tp, get("/a", headers=["Connection: close"]))
    assert parse_response(raw)[0].body == site.bodies["/a"][1]
    assert tp.peer.fin
    assert tp.client.obj.read(10) == b""  # ssl saw close_notify: a clean end of stream


def test_handshake_gauges_return_to_zero(tstack: Stack) -> None:
    tp = TlsPeer(tstack)
    tp.handshake()
    one_response(tp, get("/a"))
    st = tstack.stats()
    assert st["tls_handshakes_in_use"] == 0
    assert st["tls_buffers_in_use"] == 0



def test_swap_under_a_live_tls_response_with_loss(tls_server: TlsServer) -> None:
    """A table published while a response goes out over TLS, with segments lost before
    the swap: the resent records are the bytes sent before (the harness compares every
    resent byte), sealed from the table the response started from; the next request
    gets the new table."""
    v1_blob, v1 = version(1)
    s = Stack(v1_blob, tls_port=TLS_PORT)
    try:
        s.engine.use_tls(tls_server)
        tp = TlsPeer(s)
        tp.handshake()
        fresh = [0]

        def lose_two(seg: Seg) -> bool:
            if not seg.payload or seg.resent:
                return False
            fresh[0] += 1
            return fresh[0] in (2, 3)

        tp.peer.lose = lose_two
        tp.client.obj.write(get("/big"))
        tp.peer.request(tp.client.take())
        assert len(tp.peer.lost) == 2, "the first flight lost nothing"
        v2_blob, v2 = version(2)
        assert s.engine.load(v2_blob) == 2
        raw, _ = one_response(tp, b"")
        assert parse_response(raw)[0].body == v1["/big"]
        raw, _ = one_response(tp, get("/"))
        assert parse_response(raw)[0].body == v2["/"]
    finally:
        s.close()


def test_dynamic_routes_over_tls(tls_server: TlsServer) -> None:
    """The application's answers go out as records too; a request body split over
    records (and a record over segments) reaches it whole."""
    gate = threading.Event()
    with serving_app(make_dyn_app(gate), gate, tls_port=TLS_PORT) as (s, _calls):
        s.engine.use_tls(tls_server)
        tp = TlsPeer(s)
        tp.handshake()
        raw, _ = one_response(tp, get("/api/big"))
        assert parse_response(raw)[0].body == BIG
        body = bytes(range(251)) * 80  # 20 KB: two records from ssl, several segments
        head = (f"POST /api/search?q=tls HTTP/1.1\r\nHost: test\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
        raw, _ = one_response(tp, head + body)
        got = json.loads(parse_response(raw)[0].body)
        assert got == {"q": "tls", "len": len(body), "sum": sum(body) % 65536}
        assert s.stats()["tls_records_in"] >= 3


def gnutls_peer(s: Stack, sport: int) -> tuple[Peer, GnutlsClient]:
    """GnuTLS's client, TLS 1.3, through a peer on the TLS port, handshake done."""
    peer = Peer(s, sport=sport, dport=TLS_PORT)
    peer.connect()
    g = GnutlsClient("NORMAL:-VERS-ALL:+VERS-TLS1.3")
    g.give(b"")
    for _ in range(20):
        data = g.take()
        if data:
            peer.request(data)
        peer.drain()
        new = bytes(peer.stream[peer.read_at :])
        peer.read_at = len(peer.stream)
        if new:
            g.give(new)
        if g.done and not data and not new:
            return peer, g
    raise AssertionError("the handshake did not finish")


def test_client_key_update_is_answered_before_our_next_record(
    tstack: Stack, site: Site
) -> None:
    """RFC 8446 4.6.3: a KeyUpdate with update_requested is answered with ours before
    our next application data, which is sealed with the next keys: GnuTLS moves its read
    keys at our KeyUpdate and opens the answer with them."""
    peer, g = gnutls_peer(tstack, 44000)
    for round in range(3):  # three generations
        assert lib.tls_test_client_key_update(g.t, 1) == 0
        peer.request(g.take())
        peer.request(g.send(get("/a")))
        peer.drain()
        new = bytes(peer.stream[peer.read_at :])
        peer.read_at = len(peer.stream)
        recs = records_of(new)
        assert recs[0] == (23, 5 + 1 + 16), recs  # our KeyUpdate: 5 bytes, type, tag
        g.give(new)
        got = g.recv()
        assert isinstance(got, bytes), got
        assert parse_response(got)[0].body == site.bodies["/a"][1], round


def test_client_close_notify_is_answered_and_closed(tstack: Stack) -> None:
    tp = TlsPeer(tstack)
    tp.handshake()
    one_response(tp, get("/a"))
    with pytest.raises(ssl.SSLWantReadError):
        tp.client.obj.unwrap()  # sends close_notify, waits for ours
    tp.pump()
    assert tp.peer.fin
    tp.client.obj.unwrap()  # ours came: a clean close both ways


def test_the_certificate_is_picked_by_server_name(site: Site, tmp_path: Path) -> None:
    """Several pairs (virtual hosts): each client gets the certificate of the name it
    asks for, and the first pair when it names none."""
    pairs = [make_cert(tmp_path, "a.test"), make_cert(tmp_path, "b.test")]
    server = TlsServer(pairs)
    s = Stack(site.blob, tls_port=TLS_PORT)
    try:
        s.engine.use_tls(server)
        for port, name, want in ((45000, "b.test", 1), (45001, "a.test", 0), (45002, None, 0)):
            tp = TlsPeer(s, server_name=name, sport=port)
            tp.handshake()
            got = tp.client.obj.getpeercert(binary_form=True)
            assert got == ssl.PEM_cert_to_DER_cert(pairs[want][0].read_text()), name
            raw, _ = one_response(tp, get("/a"))
            assert parse_response(raw)[0].status == 200
    finally:
        s.close()


def test_handshakes_at_once_are_bounded_by_the_syn_backlog(
    site: Site, tls_server: TlsServer
) -> None:
    """Each handshake holds a GnuTLS session: no more run at once than half-open
    connections may be (2 here); the next is refused with a FIN, and once one is done a
    new one is taken again."""
    s = Stack(site.blob, tls_port=TLS_PORT, syn_backlog=2)
    try:
        s.engine.use_tls(tls_server)
        waiting = [TlsPeer(s, sport=46000 + i) for i in range(3)]
        for tp in waiting:
            tp.peer.connect()
            tp.client.step()
            tp.peer.request(tp.client.take())  # a ClientHello, then nothing more
        st = s.stats()
        assert st["tls_handshakes_in_use"] == 2 and st["tls_handshake_failed"] == 1, st
        assert not waiting[0].peer.fin and waiting[2].peer.fin
        for tp in waiting[:2]:  # those two finish, and their sessions go
            tp.peer.drain()
            for _ in range(5):
                tp.client.give(bytes(tp.peer.stream[tp.fed :]))
                tp.fed = len(tp.peer.stream)
                tp.client.step()
                tp.pump()
        later = TlsPeer(s, sport=46010)
        later.handshake()
        assert s.stats()["tls_handshakes"] == 3
    finally:
        s.close()
