# tests/stack/test_http.py: requests and the responses they get (RFC 9112 message
# syntax and persistence, RFC 9110 semantics), and how a response is cut into segments.
#
# Every response is compared byte for byte with the header block ssdk documents plus the
# body; the segments that carried it are checked for size, order and flags, and every
# checksum was verified by the harness on the way out.
from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from harness import BINARY, CLOSE_VALUE, HTML, RX_WINDOW, TEMPLATE_MSS, Peer, Seg, Site, Stack, get


def data_segs(segs: list[Seg]) -> list[Seg]:
    return [s for s in segs if s.payload]


def assert_contiguous(peer: Peer, segs: list[Seg], start: int = 1) -> None:
    """Data segments follow each other without gap or overlap from relative seq start."""
    at = start
    for s in data_segs(segs):
        assert peer.rseq(s) == at
        at += len(s.payload)


# --- GET and HEAD ------------------------------------------------------------------------


def test_get_is_byte_exact(peer: Peer, site: Site) -> None:
    """RFC 9112 2.1 and 6.3: a 200 response is the header block, CRLF, then exactly
    Content-Length bytes of body; a small one fits one segment, sent with PSH and ACK
    of the whole request."""
    peer.connect()
    request = get("/")
    segs = peer.request(request)
    assert len(segs) == 1
    s = segs[0]
    assert s.flags == "PA"
    assert peer.rseq(s) == 1
    assert peer.rack(s) == 1 + len(request)  # the response acknowledges the request
    assert s.payload == site.expect("/")
    assert s.payload == (  # the virtual clock starts at the epoch: that is the Date
        b"HTTP/1.1 200 OK\r\nServer: ssdk\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        b"Content-Type: text/html; charset=utf-8\r\nContent-Length: 14\r\n"
        b"Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
        b'ETag: "' + hashlib.sha256(b"<h1>hello</h1>").hexdigest()[:16].encode() + b'"\r\n'
        b"Accept-Ranges: bytes\r\nConnection: keep-alive\r\n\r\n<h1>hello</h1>"
    )
    st = peer.stack.stats()
    assert (st["http_requests"], st["http_2xx"]) == (1, 1)


def test_large_body_is_split_at_mss(peer: Peer, site: Site) -> None:
    """RFC 9293 3.7.1: no segment exceeds the MSS; the response is cut at template MSS
    boundaries of the stream (header block + body), every segment but the last full,
    and only the last carries PSH (RFC 9293 3.9.1.2: the end of what there is to send)."""
    peer.connect(mss=1460)
    resp, segs = peer.fetch(get("/files/big.bin"))
    expected = site.expect("/files/big.bin")
    assert resp.raw == expected
    data = data_segs(segs)
    assert_contiguous(peer, data)
    sizes = [len(s.payload) for s in data]
    full, rest = divmod(len(expected), TEMPLATE_MSS)
    assert sizes == [TEMPLATE_MSS] * full + ([rest] if rest else [])
    for i, s in enumerate(data):
        assert s.payload == expected[i * TEMPLATE_MSS : (i + 1) * TEMPLATE_MSS]
    assert [s.flags for s in data] == ["A"] * (len(data) - 1) + ["PA"]


def test_small_peer_mss_gets_small_segments(peer: Peer, site: Site) -> None:
    """RFC 9293 3.7.1: a peer that announces MSS 536 gets segments of at most 536 bytes,
    below the 1448-byte template; these are cut and checksummed on the fly (the harness
    checks every checksum)."""
    peer.connect(mss=536)
    resp, segs = peer.fetch(get("/files/big.bin"))
    expected = site.expect("/files/big.bin")
    assert resp.raw == expected
    data = data_segs(segs)
    assert_contiguous(peer, data)
    full, rest = divmod(len(expected), 536)
    assert [len(s.payload) for s in data] == [536] * full + ([rest] if rest else [])


def test_head_is_headers_only(peer: Peer, site: Site) -> None:
    """RFC 9110 9.3.2: HEAD gets the same header fields as GET, Content-Length included,
    and no body."""
    peer.connect()
    resp, segs = peer.fetch(get("/files/big.bin", method="HEAD"), head_only=True)
    assert resp.raw == site.expect_head("/files/big.bin")
    assert resp.header("Content-Length") == "30000"
    assert peer.unread() == b""  # nothing after the header block
    assert [s.flags for s in segs] == ["PA"]


def test_keep_alive_three_requests(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3: an HTTP/1.1 connection persists; three requests on one connection
    get three responses, one after another in the same sequence space."""
    peer.connect()
    for path in ("/a", "/files/mid.bin", "/b"):
        resp, _ = peer.fetch(get(path))
        assert resp.raw == site.expect(path)
    assert not peer.fin
    st = peer.stack.stats()
    assert (st["http_requests"], st["conns_active"], st["conns_opened"]) == (3, 1, 1)
    assert peer.stream == site.expect("/a") + site.expect("/files/mid.bin") + site.expect("/b")


def test_http10_without_keep_alive_closes(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3: an HTTP/1.0 request without "Connection: keep-alive" is the last on
    its connection; the response says "Connection: close" (with optional whitespace
    before the value, RFC 9110 5.6.3) and our FIN follows it (RFC 9112 9.6)."""
    peer.connect()
    segs = peer.request(get("/", version="HTTP/1.0", host=None))
    expected = site.expect("/", connection=CLOSE_VALUE)
    assert b"\r\nConnection:      close\r\n\r\n" in expected
    assert [s.flags for s in segs] == ["PA", "FA"]
    assert segs[0].payload == expected
    assert peer.rseq(segs[1]) == 1 + len(expected)  # the FIN comes right after the data
    assert peer.fin


def test_http10_keep_alive_stays_open(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3 (and RFC 2068 19.7.1): an HTTP/1.0 request with "Connection:
    keep-alive" keeps the connection; the response says keep-alive and no FIN comes."""
    peer.connect()
    req = get("/", version="HTTP/1.0", host=None, headers=["Connection: keep-alive"])
    resp, segs = peer.fetch(req)
    assert resp.raw == site.expect("/")
    assert not any(s.has("F") for s in segs)
    resp, _ = peer.fetch(req)
    assert resp.raw == site.expect("/")
    assert not peer.fin


def test_connection_close_on_http11(peer: Peer, site: Site) -> None:
    """RFC 9112 9.6: a request with "Connection: close" is the last; the server answers
    with "Connection: close" and closes after the response."""
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: close"]))
    assert [s.flags for s in segs] == ["PA", "FA"]
    assert segs[0].payload == site.expect("/a", connection=CLOSE_VALUE)
    assert peer.fin


def test_close_slot_patched_in_a_later_segment(peer: Peer, site: Site) -> None:
    """docs/bundle.md: the Connection value is patched to "     close" wherever it lies;
    with MSS 64 the header block spans several segments and the patched bytes (and the
    checksum adjusted for them) sit in a segment other than the first."""
    peer.connect(mss=64)
    segs = peer.request(get("/files/mid.bin", headers=["Connection: close"]))
    segs += peer.drain()
    expected = site.expect("/files/mid.bin", connection=CLOSE_VALUE)
    assert bytes(peer.stream) == expected
    assert expected.index(b"     close") > 64
    assert peer.fin


def test_request_split_byte_by_byte(peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4 (segment text) and RFC 9112 2.2: a request may arrive in any
    number of segments; each is acknowledged, and our window shrinks by the bytes
    buffered (RFC 9293 3.8.6), until the header block is complete."""
    peer.connect()
    request = get("/b")
    for i, byte in enumerate(request[:-1]):
        segs = peer.request(bytes([byte]))
        assert [s.flags for s in segs] == ["A"], f"byte {i}"
        assert peer.rack(segs[0]) == 1 + i + 1
        assert segs[0].win == RX_WINDOW - (i + 1)
    segs = peer.request(request[-1:])
    assert [s.flags for s in segs] == ["PA"]
    assert segs[0].payload == site.expect("/b")
    assert segs[0].win == RX_WINDOW  # the request was consumed: the whole buffer is free again


def test_request_split_in_three(peer: Peer, site: Site) -> None:
    """RFC 9112 2.2: a header block split across segments at arbitrary points (inside the
    request line, inside a field, between CR and LF) parses the same."""
    peer.connect()
    request = get("/c", headers=["Accept: */*", "User-Agent: t"])
    cuts = [7, request.index(b"\r\n\r\n") + 1]
    parts = [request[: cuts[0]], request[cuts[0] : cuts[1]], request[cuts[1] :]]
    assert [s.flags for s in peer.request(parts[0])] == ["A"]
    assert [s.flags for s in peer.request(parts[1])] == ["A"]
    peer.request(parts[2])
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/c")


def test_pipelined_requests_in_one_segment(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3.2: a client may send requests without waiting; the server answers
    them in the order they came. Both requests here arrive in one segment."""
    peer.connect()
    peer.request(get("/a") + get("/b"))
    peer.drain()
    first, second = peer.responses(2)
    assert first.raw == site.expect("/a")
    assert second.raw == site.expect("/b")
    assert peer.unread() == b""
    assert peer.stack.stats()["http_requests"] == 2


def test_body_of_a_get_is_skipped(peer: Peer, site: Site) -> None:
    """RFC 9112 6.3: Content-Length frames a request body; the bytes are consumed (not
    taken for the next request), and the request after them is served."""
    peer.connect()
    req = get("/a", headers=["Content-Length: 11"]) + b"hello world" + get("/b")
    peer.request(req)
    peer.drain()
    first, second = peer.responses(2)
    assert (first.raw, second.raw) == (site.expect("/a"), site.expect("/b"))


def test_query_is_not_part_of_the_route(peer: Peer, site: Site) -> None:
    """RFC 9112 3.2.1 and RFC 3986 3.4: the query follows "?" and is not part of the
    path the route is looked up by."""
    peer.connect()
    resp, _ = peer.fetch(get("/a?x=1&y=2"))
    assert resp.raw == site.expect("/a")


def test_absolute_form_target(peer: Peer, site: Site) -> None:
    """RFC 9112 3.2.2: a server accepts the absolute form of the request target; the
    route is its path."""
    peer.connect()
    resp, _ = peer.fetch(get("http://test/b"))
    assert resp.raw == site.expect("/b")


# --- errors ---------------------------------------------------------------------------


def expect_closing_error(peer: Peer, request: bytes, status: str) -> bytes:
    """Send a bad request; assert the error response is complete, says close, is the
    only thing sent, and that our FIN follows it. Returns the response bytes."""
    peer.connect()
    segs = peer.request(request)
    segs += peer.drain()
    assert peer.fin, "no FIN after an error response that closes"
    resp = peer.responses()[0]
    assert peer.unread() == b""
    assert resp.head.startswith(f"HTTP/1.1 {status}\r\n".encode())
    assert resp.header("Connection") == "close"
    assert resp.head.endswith(b"Connection:      close\r\n\r\n")
    assert resp.header("Content-Type") == HTML
    fin = [s for s in segs if s.has("F")]
    assert len(fin) == 1 and peer.rseq(fin[0]) == 1 + len(resp.raw)
    title = status.encode()
    assert b"<title>" + title + b"</title>" in resp.body
    return resp.raw


def test_malformed_request_line_is_400(peer: Peer) -> None:
    """RFC 9112 3: a request line is method SP request-target SP HTTP-version; anything
    else is answered 400 (RFC 9112 3, RFC 9110 15.5.1) and the connection is closed,
    since the stream can no longer be framed (RFC 9112 9.6)."""
    expect_closing_error(peer, b"GARBAGE\r\n\r\n", "400 Bad Request")
    st = peer.stack.stats()
    assert (st["http_400"], st["http_4xx"]) == (1, 1)


def test_unknown_method_is_501(peer: Peer) -> None:
    """RFC 9110 9.1: a method the server does not recognize gets 501 Not Implemented."""
    expect_closing_error(peer, get("/", method="BREW"), "501 Not Implemented")
    assert peer.stack.stats()["http_5xx"] == 1


def test_post_is_405_with_allow(peer: Peer) -> None:
    """RFC 9110 15.5.6: a known method that the resource does not support gets 405, and
    the response MUST carry Allow with the methods it does support (10.2.1): GET, HEAD
    and OPTIONS (RFC 9110 9.3.7)."""
    raw = expect_closing_error(
        peer, get("/", method="POST", headers=["Content-Length: 0"]), "405 Method Not Allowed"
    )
    assert b"\r\nAllow: GET, HEAD, OPTIONS\r\n" in raw


def test_http2_version_is_505(peer: Peer) -> None:
    """RFC 9110 15.6.6: a major version the server does not support gets 505."""
    expect_closing_error(peer, get("/", version="HTTP/2.0"), "505 HTTP Version Not Supported")


def test_http11_without_host_is_400(peer: Peer) -> None:
    """RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request without a Host
    header field."""
    expect_closing_error(peer, get("/", host=None), "400 Bad Request")


def test_two_hosts_is_400(peer: Peer) -> None:
    """RFC 9112 3.2: ... or with more than one Host header field."""
    expect_closing_error(peer, get("/", headers=["Host: other"]), "400 Bad Request")


def test_space_before_colon_is_400(peer: Peer) -> None:
    """RFC 9112 5.1: a server MUST reject a request with whitespace between a field name
    and the colon with 400."""
    expect_closing_error(peer, get("/", headers=["Accept : */*"]), "400 Bad Request")


def test_missing_route_is_404_and_keeps_the_connection(peer: Peer, site: Site) -> None:
    """RFC 9110 15.5.5: 404 for a target with no representation; it is an ordinary
    response, so the persistent connection stays open (RFC 9112 9.3) for the next."""
    peer.connect()
    resp, segs = peer.fetch(get("/nope"))
    assert resp.status == 404
    assert resp.header("Connection") == "keep-alive"
    assert resp.header("Content-Type") == HTML
    assert int(resp.header("Content-Length") or -1) == len(resp.body)
    assert not any(s.has("F") for s in segs)
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    st = peer.stack.stats()
    assert (st["http_404"], st["http_2xx"], st["conns_active"]) == (1, 1, 1)


def test_missing_route_head_is_404_without_body(peer: Peer) -> None:
    """RFC 9110 9.3.2: the HEAD of a 404 is its header block alone."""
    peer.connect()
    resp, _ = peer.fetch(get("/nope", method="HEAD"), head_only=True)
    assert resp.status == 404
    assert int(resp.header("Content-Length") or 0) > 0
    assert peer.unread() == b""


def test_header_block_over_4096_is_431(peer: Peer) -> None:
    """RFC 6585 5: a server that will not process header fields this large answers 431;
    the request buffer (and our window) holds 4096 bytes, and a header block that fills
    it without ending is refused and the connection closed."""
    filler = "X-Filler: " + "a" * 1300
    request = get("/", headers=[filler] * 4)
    assert len(request) > RX_WINDOW
    peer.connect()
    peer.request(request[:RX_WINDOW])  # what our window allows
    peer.drain()
    resp = peer.responses()[0]
    assert resp.head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert resp.head.endswith(b"Connection:      close\r\n\r\n")
    assert peer.fin


def test_target_over_2048_is_414(peer: Peer) -> None:
    """RFC 9110 15.5.15: a request target longer than the server will interpret gets
    414 URI Too Long (RFC 9112 3: servers choose such a limit)."""
    expect_closing_error(peer, get("/" + "a" * 2100), "414 URI Too Long")


@pytest.mark.parametrize(
    "headers",
    [["Transfer-Encoding: gzip"], ["Content-Length: 1", "Content-Length: 2"],
     ["Content-Length: -1"], ["X-Folded: a", " b"]],
    ids=["transfer-encoding", "conflicting-length", "bad-length", "obs-fold"],
)  # fmt: skip
def test_ambiguous_framing_is_400(peer: Peer, headers: list[str]) -> None:
    """RFC 9112 6.3 (invalid or conflicting Content-Length, a Transfer-Encoding whose
    last coding is not chunked) and 5.2 (obsolete line folding): the message cannot be
    framed safely, so it gets 400 and the connection is closed."""
    expect_closing_error(peer, get("/", headers=headers), "400 Bad Request")


def test_requests_after_a_closing_response_are_ignored(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 9112 9.6: after a response with "Connection: close" the server reads no more
    requests; bytes the client still sends are acknowledged and discarded."""
    stack = make_stack()
    peer = Peer(stack)
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: close"]) + get("/b"))
    assert [s.flags for s in segs] == ["PA", "FA"]
    assert segs[0].payload == site.expect("/a", connection=CLOSE_VALUE)
    later = peer.request(get("/c"))
    assert [s.flags for s in later] == ["A"]
    assert later[0].payload == b""
    assert stack.stats()["http_requests"] == 1


def test_binary_file_content_type(peer: Peer, site: Site) -> None:
    """RFC 9110 8.3: the Content-Type of a static file follows its extension; unknown
    binary data is application/octet-stream."""
    peer.connect()
    resp, _ = peer.fetch(get("/files/mid.bin"))
    assert resp.header("Content-Type") == BINARY
    assert resp.body == site.bodies["/files/mid.bin"][1]


# --- more of the request syntax -----------------------------------------------------------


def test_http10_head_closes(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3 and RFC 9110 9.3.2: the HEAD response of a closing HTTP/1.0 request
    carries the GET's Content-Length and "Connection: close", then our FIN."""
    peer.connect()
    segs = peer.request(get("/files/mid.bin", method="HEAD", version="HTTP/1.0", host=None))
    assert [s.flags for s in segs] == ["PA", "FA"]
    assert segs[0].payload == site.expect_head("/files/mid.bin").replace(
        b"Connection: keep-alive", b"Connection:      close"
    )


@pytest.mark.parametrize("split", range(1, 10))
def test_close_token_across_segment_boundary(peer: Peer, site: Site, split: int) -> None:
    """docs/bundle.md (the Connection slot) with RFC 1624 checksum arithmetic: when a
    segment boundary falls inside the 10-byte value, each side carries its part of
    "     close" and both checksums verify (the harness recomputes them). The peer's MSS
    puts the boundary `split` bytes into the value."""
    closing = site.expect("/b", connection=CLOSE_VALUE)
    at = closing.index(b"     close")
    peer.connect(mss=at + split)
    segs = peer.request(get("/b", headers=["Connection: close"]))
    segs += peer.drain()
    assert bytes(peer.stream) == closing
    first = data_segs(segs)[0]
    assert first.payload.endswith(CLOSE_VALUE[:split].encode())
    assert peer.fin


def test_lowercase_method_is_501(peer: Peer) -> None:
    """RFC 9110 9.1: the method token is case-sensitive; "get" is not GET, and a method
    the server does not know is 501."""
    expect_closing_error(peer, get("/", method="get"), "501 Not Implemented")


def test_bare_lf_ends_lines(peer: Peer, site: Site) -> None:
    """RFC 9112 2.2: a recipient MAY recognize a single LF as a line terminator; this
    server does, so such a request is served."""
    peer.connect()
    resp, _ = peer.fetch(b"GET /a HTTP/1.1\nHost: test\n\n")
    assert resp.raw == site.expect("/a")


def test_empty_line_before_request_is_ignored(peer: Peer, site: Site) -> None:
    """RFC 9112 2.2: a server that is expecting a request-line SHOULD ignore at least one
    empty line (CRLF) received before it (some clients send one after a request body)."""
    peer.connect()
    resp, _ = peer.fetch(b"\r\n" + get("/a"))
    assert resp.raw == site.expect("/a")


def test_connection_tokens_are_case_insensitive(peer: Peer, site: Site) -> None:
    """RFC 9110 7.6.1: connection options are case-insensitive tokens in a list;
    "Keep-Alive" among others keeps an HTTP/1.0 connection."""
    peer.connect()
    req = get("/a", version="HTTP/1.0", host=None, headers=["connection: TE, Keep-Alive"])
    resp, segs = peer.fetch(req)
    assert resp.raw == site.expect("/a")
    assert not peer.fin


def test_close_among_tokens_closes(peer: Peer, site: Site) -> None:
    """RFC 9110 7.6.1 and RFC 9112 9.6: "close" anywhere in the Connection list closes."""
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: TE, CLOSE"]))
    assert [s.flags for s in segs] == ["PA", "FA"]
    assert segs[0].payload == site.expect("/a", connection=CLOSE_VALUE)


def test_data_after_tcp_options(peer: Peer, site: Site) -> None:
    """RFC 9293 3.1 (Data Offset): the payload starts after the options, whatever they
    are; a request in a segment with NOP and timestamp options is read from there."""
    peer.connect()
    opts = [("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]
    segs = peer.send("PA", get("/a"), options=opts)
    assert segs[0].payload == site.expect("/a")


def test_header_block_of_exactly_4096_is_served(peer: Peer, site: Site) -> None:
    """RFC 6585 5 sets no size; this server's limit is its 4096-byte request buffer, and
    a header block that fits it exactly, blank line included, is still served."""
    base = get("/a", headers=["X-Pad: "])
    request = get("/a", headers=["X-Pad: " + "p" * (RX_WINDOW - len(base))])
    assert len(request) == RX_WINDOW
    peer.connect()
    peer.request(request)
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")


def test_body_spread_over_segments_is_skipped(peer: Peer, site: Site) -> None:
    """RFC 9112 6.3: the body's length is Content-Length, however it is segmented; the
    server answers once the header block is in, discards the body as it arrives, and
    reads the next request right after it."""
    peer.connect()
    segs = peer.request(get("/a", headers=["Content-Length: 3000"]))
    assert segs[0].payload == site.expect("/a")  # answered before the body came
    for part in range(3):
        peer.request(bytes([0x30 + part]) * 1000)
    peer.request(get("/b"))
    peer.drain()
    first, second = peer.responses(2)
    assert (first.raw, second.raw) == (site.expect("/a"), site.expect("/b"))
    assert peer.stack.stats()["http_requests"] == 2


def test_closing_response_retransmitted_with_close(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """RFC 6298 5.4 with docs/bundle.md: a retransmitted segment of a closing response
    carries the same patched "     close" bytes (the harness checks the bytes equal the
    first copy's and the checksum is right), and the FIN follows it again. (The FIN alone
    goes first, as the tail loss probe, RFC 8985 7.3.)"""
    stack = make_stack(rto_min_ms=1000)
    peer = Peer(stack)
    peer.connect()
    first = peer.request(get("/a", headers=["Connection: close"]))
    assert [s.flags for s in first] == ["PA", "FA"]
    again = [s for _ in range(110) for s in peer.advance(10)]
    assert [(s.flags, s.seq, s.payload) for s in again] == [
        (s.flags, s.seq, s.payload) for s in first[1:] + first
    ]
    assert stack.stats()["tail_probes"] == 1
    assert again[1].payload == site.expect("/a", connection=CLOSE_VALUE)


def test_connections_are_kept_apart(stack: Stack, site: Site) -> None:
    """RFC 9293 3.2 (a connection is identified by its pair of sockets): requests on
    connections that differ only in the client port, or only in the client address, are
    answered each on its own connection, interleaved."""
    peers = [Peer(stack, sport=50000), Peer(stack, sport=50001),
             Peer(stack, sport=50000, ip="198.18.0.9", mac="02:00:00:00:00:09")]  # fmt: skip
    for p in peers:
        p.connect()
    paths = ["/a", "/b", "/c"]
    for p, path in zip(peers, paths, strict=True):
        p.request(get(path))
    for p in reversed(peers):
        p.drain()
    for p, path in zip(peers, paths, strict=True):
        assert bytes(p.stream) == site.expect(path)
    assert stack.stats()["conns_active"] == 3
