# tests/stack/test_http_rules.py: the request side of HTTP/1.1, rule by rule, as
# docs/http.md lists them: limits, pipelining, persistence, Host and the forms of the
# request target, percent-decoding and path normalisation, Expect: 100-continue, message
# framing, methods, and the error responses themselves. Each test names the RFC section it
# checks; expected bytes come from the harness's restatement of the documented layout.
from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

import pytest
from harness import (
    CLOSE_VALUE,
    HTML,
    MOD,
    RESPQ_DEPTH,
    RX_WINDOW,
    SERVER_MSS,
    HttpResponse,
    Peer,
    Seg,
    Site,
    Stack,
    get,
    head_block,
)

ALLOW = "GET, HEAD, OPTIONS"
DAY_MS = 86_400_000
# The interim response ssdk sends before a request body (docs/http.md): no Content-Length
# (RFC 9110 8.6), Date and Connection like every other.
CONTINUE = (
    b"HTTP/1.1 100 Continue\r\nServer: ssdk\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    b"Connection: keep-alive\r\n\r\n"
)


def exchange(peer: Peer, request: bytes, head_only: bool = False) -> tuple[HttpResponse, list[Seg]]:
    """Connect, send one request, ACK until the server is done; its response and segments."""
    peer.connect()
    segs = peer.request(request)
    segs += peer.drain()
    return peer.responses(1, head_only)[0], segs


def refused(peer: Peer, request: bytes, status: int, head_only: bool = False) -> HttpResponse:
    """RFC 9112 9.6: the request gets `status` with "Connection: close", nothing else is
    sent, and our FIN follows the response at once."""
    resp, segs = exchange(peer, request, head_only)
    assert resp.status == status, resp.head
    assert resp.head.endswith(b"\r\nConnection:      close\r\n\r\n")
    assert peer.unread() == b"", "more than one response"
    fins = [s for s in segs if s.has("F")]
    assert len(fins) == 1 and peer.rseq(fins[0]) == 1 + len(resp.raw)
    assert peer.fin
    return resp


def served(peer: Peer, site: Site, request: bytes, path: str) -> None:
    """The request gets the 200 of `path`, byte for byte, and the connection stays."""
    resp, _ = exchange(peer, request)
    assert resp.raw == site.expect(path)
    assert not peer.fin


# --- limits -------------------------------------------------------------------------------


def test_target_over_2048_bytes_is_414_at_once(make_stack: Callable[..., Stack]) -> None:
    """RFC 9112 3 and RFC 9110 15.5.15: a target longer than the server will parse gets
    414. ssdk's limit is 2048 bytes: a target of exactly 2048 is looked up (404 here), and
    the 2049th byte is refused at once, before the request line ends, and the connection
    closed (RFC 9112 9.6)."""
    stack = make_stack()
    longest = Peer(stack, sport=40001)
    resp, _ = exchange(longest, get("/" + "a" * 2047))
    assert resp.status == 404 and not longest.fin
    peer = Peer(stack, sport=40002)
    peer.connect()
    segs = peer.request(b"GET /" + b"a" * 2047)  # no version, no line end yet
    assert [s.flags for s in segs] == ["A", "A"]
    segs = peer.request(b"a")
    assert [s.flags for s in segs] == ["PA", "FA"]
    resp = peer.responses()[0]
    assert resp.status == 414 and resp.header("Connection") == "close"
    assert stack.stats()["http_414"] == 1


def test_header_block_beyond_the_buffer_is_431(peer: Peer) -> None:
    """RFC 6585 5: a server may refuse header fields larger than it will process with 431.
    ssdk's limit is its 4096-byte request buffer (also its receive window): one byte short
    of it nothing is answered yet; the byte that fills it without ending the block gets
    431 and the connection is closed."""
    peer.connect()
    block = get("/", headers=["X-Pad: " + "p" * RX_WINDOW])
    for at in range(0, RX_WINDOW - 1, SERVER_MSS):
        segs = peer.send("PA", block[at : min(at + SERVER_MSS, RX_WINDOW - 1)])
        assert [s.flags for s in segs] == ["A"]
    assert segs[0].win == 1
    segs = peer.send("PA", block[RX_WINDOW - 1 : RX_WINDOW])
    assert [s.flags for s in segs] == ["PA", "FA"]
    resp = peer.responses()[0]
    assert resp.status == 431 and resp.header("Connection") == "close"
    assert peer.stack.stats()["http_431"] == 1


def test_more_than_100_fields_is_431(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 6585 5: 431 also covers too many header fields; ssdk takes 100 field lines
    (Host included) and refuses the 101st, however small."""
    stack = make_stack()
    fields = [f"X-{i}: v" for i in range(99)]  # with Host: 100
    served(Peer(stack, sport=40001), site, get("/a", headers=fields), "/a")
    refused(Peer(stack, sport=40002), get("/a", headers=[*fields, "X-99: v"]), 431)


# --- pipelining ---------------------------------------------------------------------------


def test_many_pipelined_requests_in_one_segment(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3.2: a server answers pipelined requests in the order they were
    received. Thirty requests of every kind that keeps the connection (GET, HEAD, a 404,
    OPTIONS, one with a body to skip) arrive in one segment; each is answered once, in
    order, and nothing else is sent."""
    kinds = [
        (get("/a"), site.expect("/a")),
        (get("/files/mid.bin", method="HEAD"), site.expect_head("/files/mid.bin")),
        (get("/nope"), None),
        (get("*", method="OPTIONS"), None),
        (get("/b", headers=["Content-Length: 5"]) + b"hello", site.expect("/b")),
    ]
    order = [kinds[i % len(kinds)] for i in range(30)]
    data = b"".join(req for req, _ in order)
    assert len(data) <= SERVER_MSS
    peer.connect()
    assert len(peer.request(data)) == 1  # only the first response goes before an ACK
    peer.drain()
    for i, (req, want) in enumerate(order):
        head = req.startswith(b"HEAD")
        resp = peer.responses(1, head_only=head)[0]
        if want is not None:
            assert resp.raw == want, f"response {i}"
        elif req.startswith(b"OPTIONS"):
            assert (resp.status, resp.header("Allow")) == (200, ALLOW), f"response {i}"
        else:
            assert resp.status == 404, f"response {i}"
    assert peer.unread() == b"" and not peer.fin
    assert peer.stack.stats()["http_requests"] == 30


def test_requests_arriving_while_a_response_is_sent(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3.2: requests that arrive while a response is still being sent wait
    for it; here two come in the middle of a 100 KB response (with the ACK of its first
    flight), and a third in the middle of the second response."""
    peer.connect()
    first = peer.request(get("/files/huge.bin"))
    assert len(first) == 10  # the initial window: the response is far from done
    segs = peer.request(get("/files/mid.bin") + get("/a"))
    assert all(s.payload and peer.offset(s) < len(site.expect("/files/huge.bin")) for s in segs)
    for _ in range(20):  # ACK until the second response has begun
        peer.ack()
        if len(peer.stream) > len(site.expect("/files/huge.bin")):
            break
    peer.request(get("/b"))
    peer.drain()
    paths = ["/files/huge.bin", "/files/mid.bin", "/a", "/b"]
    assert bytes(peer.stream) == b"".join(site.expect(p) for p in paths)
    responses = peer.responses(4)
    assert [r.raw for r in responses] == [site.expect(p) for p in paths]


def test_pipelined_requests_beyond_the_buffer(peer: Peer, site: Site) -> None:
    """RFC 9112 9.3.2 with RFC 9293 3.8.6: 300 pipelined requests, more than twice what
    the 4096-byte buffer holds. The client first fills the buffer without acknowledging
    any response, so the server answers as many as its response queue holds (the
    pipelining depth, RESPQ_MAX = 4) and no more, and its window closes;
    then it acknowledges, and sends the rest as the window opens, requests cut at its
    edge completed by later segments. All 300 are answered, in order, once each."""
    paths = ["/a", "/b", "/c", "/nope"]
    order = [paths[i % 4] for i in range(300)]
    data = b"".join(get(p) for p in order)
    assert len(data) > 2 * RX_WINDOW
    peer.connect()
    held = peer.rcv_nxt  # the ACK the client keeps sending while it fills the buffer
    edge = (peer.snd_nxt + RX_WINDOW) % MOD  # what the SYN-ACK's window allows
    at, last = 0, None
    while (room := (edge - peer.snd_nxt) % MOD) > 0:
        segs = peer.send("PA", data[at : at + min(room, SERVER_MSS)], ack=held)
        at += min(room, SERVER_MSS)
        last = segs[-1]
        edge = (last.ack + last.win) % MOD
    assert last is not None and last.win == 0, "the window should have closed"
    # the queue's depth, answered back to back (before pipelining, one at a time: 1)
    assert peer.stack.stats()["http_requests"] == RESPQ_DEPTH
    for _ in range(10_000):
        if at == len(data):
            break
        room = (edge - peer.snd_nxt) % MOD
        segs = peer.send("PA", data[at : at + min(room, SERVER_MSS)]) if room else peer.ack()
        at += min(room, SERVER_MSS, len(data) - at)
        acks = [s for s in segs if s.has("A")]
        if acks:
            edge = (acks[-1].ack + acks[-1].win) % MOD
    assert at == len(data)
    peer.drain()
    for i, path in enumerate(order):
        resp = peer.responses()[0]
        if path == "/nope":
            assert resp.status == 404, f"response {i}"
        else:
            assert resp.raw == site.expect(path), f"response {i}"
    assert peer.unread() == b""
    assert peer.stack.stats()["http_requests"] == 300


def test_pipelined_requests_before_the_clients_fin(peer: Peer, site: Site) -> None:
    """RFC 9112 9.6 and RFC 9293 3.6: a client may half-close right after its requests;
    the server still answers each of them, in order, and only then sends its FIN."""
    peer.connect()
    segs = peer.send("FPA", get("/a") + get("/nope") + get("/files/mid.bin") + get("/b"))
    assert not any(s.has("F") for s in segs)
    peer.drain()
    first, missing, mid, last = peer.responses(4)
    assert (first.raw, mid.raw, last.raw) == tuple(
        site.expect(p) for p in ("/a", "/files/mid.bin", "/b")
    )
    assert missing.status == 404
    assert peer.unread() == b"" and peer.fin


# --- persistence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "headers", "keeps"),
    [("HTTP/1.1", [], True), ("HTTP/1.1", ["Connection: close"], False),
     ("HTTP/1.1", ["Connection: foo, CLOSE"], False),
     ("HTTP/1.1", ["Connection: keep-alive"], True),
     ("HTTP/1.1", ["Connection: te", "Connection: Close"], False),
     ("HTTP/1.1", ["Connection: close, te"], False),
     ("HTTP/1.0", [], False), ("HTTP/1.0", ["Connection: keep-alive"], True),
     ("HTTP/1.0", ["Connection: TE ,Keep-Alive"], True),
     ("HTTP/1.0", ["Connection: keep-alive, close"], False)],
    ids=["1.1", "1.1-close", "1.1-list", "1.1-keep-alive", "1.1-two-lines", "1.1-first", "1.0",
         "1.0-keep-alive", "1.0-list", "1.0-both"],
)  # fmt: skip
def test_persistence(peer: Peer, site: Site, version: str, headers: list[str], keeps: bool) -> None:
    """RFC 9112 9.3: HTTP/1.1 persists unless "close" is among the Connection options;
    HTTP/1.0 only with "keep-alive" (and no "close"). The options are a comma list of
    case-insensitive tokens (RFC 9110 7.6.1), which may span several field lines (RFC 9110
    5.3). A closing response says so in its Connection field and is followed by our FIN."""
    resp, _ = exchange(peer, get("/a", version=version, headers=headers))
    assert resp.raw == site.expect("/a", connection="keep-alive" if keeps else CLOSE_VALUE)
    assert peer.fin is not keeps


# --- Host and the forms of the request target -------------------------------------------


@pytest.mark.parametrize(
    ("version", "hosts", "status"),
    [("HTTP/1.1", [], 400), ("HTTP/1.1", ["a", "a"], 400), ("HTTP/1.1", ["a b"], 400),
     ("HTTP/1.1", ["ex@mple"], 400), ("HTTP/1.1", ["[::1"], 400), ("HTTP/1.1", ["a:8x"], 400),
     ("HTTP/1.1", ["%zz"], 400), ("HTTP/1.0", ["a", "b"], 400), ("HTTP/1.0", ["/"], 400),
     ("HTTP/1.1", ["test"], 200), ("HTTP/1.1", ["TEST:8080"], 200),
     ("HTTP/1.1", ["[::1]:80"], 200), ("HTTP/1.1", ["198.18.0.2"], 200),
     ("HTTP/1.1", ["xn--bcher-kva.example"], 200), ("HTTP/1.1", ["a%41b"], 200),
     ("HTTP/1.1", [""], 200), ("HTTP/1.0", [], 200)],
    ids=["missing", "twice", "space", "userinfo", "open-bracket", "bad-port", "bad-escape",
         "1.0-twice", "1.0-slash", "name", "port", "ipv6", "ipv4", "idn", "escape", "empty",
         "1.0-none"],
)  # fmt: skip
def test_host(peer: Peer, site: Site, version: str, hosts: list[str], status: int) -> None:
    """RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to
    any request with more than one Host line or an invalid Host value (uri-host [":"
    port], RFC 3986 3.2.2-3.2.3; empty is valid). HTTP/1.0 may go without."""
    request = get("/a", version=version, host=None, headers=[f"Host: {h}" for h in hosts])
    if status == 200:
        resp, _ = exchange(peer, request)
        assert resp.raw == site.expect("/a", connection="keep-alive" if version == "HTTP/1.1"
                                       else CLOSE_VALUE)  # fmt: skip
    else:
        refused(peer, request, status)
        assert peer.stack.stats()["http_bad_host"] == 1


@pytest.mark.parametrize(
    ("target", "path"),
    [("http://test/b", "/b"), ("HTTP://Test:80/b?q=1", "/b"), ("https://test/c", "/c"),
     ("http://test", "/"), ("http://test?x", "/"), ("http://[::1]/a", "/a")],
)  # fmt: skip
def test_absolute_form(peer: Peer, site: Site, target: str, path: str) -> None:
    """RFC 9112 3.2.2: a server MUST accept the absolute form; the route is its path (an
    empty path is "/", RFC 9110 4.2.3) and its authority replaces Host: the Host line
    must still be there in HTTP/1.1 (RFC 9112 3.2), valid, but its value is not used."""
    served(peer, site, get(target, host="other.example:8080"), path)


def test_an_invalid_host_beside_an_absolute_form_is_400(peer: Peer) -> None:
    """RFC 9112 3.2: any request with a Host field of invalid value gets 400, whatever
    the form of its target (nginx agrees)."""
    refused(peer, get("http://test/b", host="not a host"), 400)


def test_host_value_is_checked_beside_an_origin_form(peer: Peer) -> None:
    """RFC 9112 3.2: the same invalid Host value with an origin-form target gets 400."""
    refused(peer, get("/b", host="not a host"), 400)


@pytest.mark.parametrize(
    "request_line",
    ["GET ftp://test/a HTTP/1.1", "GET http://user@test/a HTTP/1.1", "GET http:///a HTTP/1.1",
     "GET http://te^st/a HTTP/1.1", "GET http:/test/a HTTP/1.1", "GET test/a HTTP/1.1",
     "GET * HTTP/1.1", "GET test:80 HTTP/1.1", "CONNECT test HTTP/1.1"],
    ids=["scheme", "userinfo", "empty-host", "bad-host", "one-slash", "relative",
         "asterisk", "authority", "connect-without-port"],
)  # fmt: skip
def test_bad_target_forms_are_400(peer: Peer, request_line: str) -> None:
    """RFC 9112 3.2: a target is origin-form, absolute-form (http or https, with a host
    and no userinfo: RFC 9110 4.2.1, 4.2.4), authority-form (CONNECT only, port required:
    3.2.3) or "*" (OPTIONS only: 3.2.4); anything else is 400."""
    refused(peer, f"{request_line}\r\nHost: test\r\n\r\n".encode(), 400)


# --- percent-decoding and path normalisation -----------------------------------------------


@pytest.mark.parametrize(
    ("target", "path"),
    [("/%61", "/a"), ("/files/%6Did.bin", "/files/mid.bin"), ("/files/%6did.bin", "/files/mid.bin"),
     ("/x/../a", "/a"), ("/x/%2e%2e/a", "/a"), ("/x/%2E%2e/a", "/a"), ("/./a", "/a"),
     ("/%2e/a", "/a"), ("/files/./mid.bin", "/files/mid.bin"), ("//a", "/a"),
     ("/files//mid.bin", "/files/mid.bin"), ("/files///x//..//mid.bin", "/files/mid.bin"),
     ("/files%2Fmid.bin", "/files/mid.bin"), ("/files/x/../../files/mid.bin", "/files/mid.bin"),
     ("/b/..", "/"), ("/b/%2E.", "/"), ("/a?x=/../..", "/a"), ("/a#frag/../..", "/a")],
)  # fmt: skip
def test_path_is_decoded_and_normalised(peer: Peer, site: Site, target: str, path: str) -> None:
    """RFC 3986 2.1 and 6.2.2: percent-escapes of either case are decoded before the
    route is looked up ("%2e" is ".", and a decoded "/" separates segments as nginx has
    it); 5.2.4: dot-segments are removed; repeated slashes are merged (nginx's
    merge_slashes). The query and a fragment are not part of the path."""
    served(peer, site, get(target), path)


def test_normalised_path_keeps_its_trailing_slash(peer: Peer) -> None:
    """RFC 3986 5.2.4: "/a/." becomes "/a/", which is not "/a" (404)."""
    resp, _ = exchange(peer, get("/a/."))
    assert resp.status == 404


@pytest.mark.parametrize(
    "target",
    ["/..", "/../a", "/a/../..", "/%2e%2e", "/a/%2E%2E/../b", "/a%2F..%2F..", "/%00",
     "/a%00b", "/%zz", "/%4", "/%", "/a%2", "/%G1"],
)  # fmt: skip
def test_bad_escapes_and_leaving_the_root_are_400(peer: Peer, target: str) -> None:
    """RFC 3986 2.1: "%" must be followed by two hex digits; an escaped NUL is refused
    as nginx refuses it; and a ".." that would climb above the root (RFC 3986 5.2.4
    would drop it silently) is answered 400 rather than served as something else."""
    refused(peer, get(target), 400)
    assert peer.stack.stats()["http_bad_path"] == 1


# --- Expect: 100-continue -----------------------------------------------------------------


def test_100_continue_then_answer_then_body_discarded(peer: Peer, site: Site) -> None:
    """RFC 9110 10.1.1: a client that sends "Expect: 100-continue" waits for 100 before
    the body. ssdk sends 100 Continue (an interim response, RFC 9110 15.2.1) when the
    answer keeps the connection, then its final answer once the 100 is acknowledged; the
    body that follows is read and discarded (RFC 9112 6.3), and the next request served."""
    peer.connect()
    segs = peer.request(get("/a", headers=["Expect: 100-continue", "Content-Length: 10"]))
    assert [s.flags for s in segs] == ["PA"]
    assert segs[0].payload == CONTINUE
    segs = peer.request(b"0123456789")  # the body, which also acknowledges the 100
    assert [s.payload for s in segs] == [site.expect("/a")]
    peer.request(get("/b"))
    peer.drain()
    interim, first, second = peer.responses(3)
    assert interim.raw == CONTINUE and interim.status == 100
    assert (first.raw, second.raw) == (site.expect("/a"), site.expect("/b"))
    st = peer.stack.stats()
    assert (st["http_continue"], st["http_requests"], st["http_2xx"]) == (1, 2, 2)


def test_100_continue_is_case_insensitive_and_head_gets_its_header(peer: Peer, site: Site) -> None:
    """RFC 9110 10.1.1: the expectation token is case-insensitive. The answer that
    follows the 100 is the one the method calls for: the header block alone for HEAD."""
    peer.connect()
    fields = ["Expect: 100-Continue", "Content-Length: 3"]
    req = get("/files/mid.bin", method="HEAD", headers=fields)
    assert peer.request(req)[0].payload == CONTINUE
    peer.request(b"abc")
    peer.drain()
    interim, answer = peer.responses(1)[0], peer.responses(1, head_only=True)[0]
    assert interim.status == 100 and answer.raw == site.expect_head("/files/mid.bin")
    assert peer.unread() == b""


@pytest.mark.parametrize(
    ("request_", "why"),
    [(get("/a", headers=["Expect: 100-continue", "Content-Length: 3"]) + b"abc", "body came"),
     (get("/a", headers=["Expect: 100-continue"]), "no body"),
     (get("/a", headers=["Expect: 100-continue", "Content-Length: 0"]), "empty body"),
     (get("/a", version="HTTP/1.0", headers=["Expect: 100-continue", "Content-Length: 3",
                                            "Connection: keep-alive"]), "HTTP/1.0")],
    ids=["body-sent", "no-length", "zero-length", "http10"],
)  # fmt: skip
def test_no_100_when_the_body_is_not_awaited(
    peer: Peer, site: Site, request_: bytes, why: str
) -> None:
    """RFC 9110 10.1.1: a server MAY omit the 100 when some of the body has arrived or
    the framing says there is none, and MUST ignore the expectation in an HTTP/1.0
    request; the answer comes at once."""
    peer.connect()
    segs = peer.request(request_)
    assert [s.payload for s in segs] == [site.expect("/a")], why
    assert peer.stack.stats()["http_continue"] == 0


def test_closing_answer_to_100_continue_goes_at_once(peer: Peer) -> None:
    """RFC 9110 10.1.1: a server may answer the final status instead of 100; it then
    either reads the body or closes. ssdk closes whenever its answer is an error (here
    405), so the body is never needed and no 100 is sent."""
    fields = ["Expect: 100-continue", "Content-Length: 100"]
    resp = refused(peer, get("/a", method="POST", headers=fields), 405)
    assert resp.header("Allow") == ALLOW
    assert peer.stack.stats()["http_continue"] == 0


def test_other_expectations_are_417(peer: Peer) -> None:
    """RFC 9110 10.1.1: a server that receives an expectation other than 100-continue
    MAY answer 417 (Expectation Failed, RFC 9110 15.5.18); ssdk does, and closes."""
    refused(peer, get("/a", headers=["Expect: 100-continue, something-else"]), 417)
    assert peer.stack.stats()["http_417"] == 1


# --- message framing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [["Content-Length: 3", "Transfer-Encoding: chunked"],
     ["Transfer-Encoding: chunked", "Content-Length: 3"],
     ["Content-Length: 3", "Content-Length: 4"], ["Content-Length: 3, 4"],
     ["Content-Length: abc"], ["Content-Length: +3"], ["Content-Length: 3.0"],
     ["Content-Length:"], ["Content-Length: 0x10"],
     ["Transfer-Encoding: chunked, gzip"], ["Transfer-Encoding: gzip"],
     ["Transfer-Encoding: chunked", "Transfer-Encoding: gzip"],
     ["Transfer-Encoding: chunked, chunked"], ["Transfer-Encoding: chunked;ext=1"],
     ["Transfer-Encoding: ch@nked"], ["Transfer-Encoding:"]],
    ids=["length-then-te", "te-then-length", "two-lengths", "length-list", "letters", "plus",
         "decimal", "empty", "hex", "chunked-not-last", "no-chunked", "te-lines",
         "chunked-twice", "chunked-params", "bad-coding", "empty-te"],
)  # fmt: skip
def test_bad_framing_is_400_and_closes(peer: Peer, headers: list[str]) -> None:
    """RFC 9112 6.1: Content-Length with Transfer-Encoding, or a Transfer-Encoding whose
    last coding is not chunked, is 400 and close; 6.3: so is a Content-Length that is not
    one decimal number (RFC 9110 8.6), however it repeats; RFC 9112 7: chunked at most
    once, and without parameters."""
    refused(peer, get("/a", headers=headers), 400)
    assert peer.stack.stats()["http_bad_framing"] == 1


def test_transfer_encoding_in_http10_is_400(peer: Peer) -> None:
    """RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding is treated as having
    faulty framing, even with chunked last, and the connection is closed."""
    refused(peer, get("/a", version="HTTP/1.0", headers=["Transfer-Encoding: chunked"]), 400)


@pytest.mark.parametrize(
    "headers", [["Content-Length: 3", "Content-Length: 3"], ["Content-Length: 3, 03"]]
)
def test_agreeing_lengths_are_one_length(peer: Peer, site: Site, headers: list[str]) -> None:
    """RFC 9112 6.3: a recipient MAY take repeated Content-Length values that all agree
    as one; the three bytes are skipped and the next request is read right after them."""
    peer.connect()
    peer.request(get("/a", headers=headers) + b"xyz" + get("/b"))
    peer.drain()
    assert [r.raw for r in peer.responses(2)] == [site.expect("/a"), site.expect("/b")]


def test_chunked_request_body_is_411(peer: Peer) -> None:
    """RFC 9112 6.3: a server MAY refuse a request body without Content-Length with 411
    (Length Required, RFC 9110 15.5.12). ssdk reads no chunked body, so a well-framed
    chunked request gets 411, and the connection is closed since its body is not read."""
    refused(peer, get("/a", headers=["Transfer-Encoding: gzip, CHUNKED"]) + b"0\r\n\r\n", 411)
    assert peer.stack.stats()["http_411"] == 1


@pytest.mark.parametrize("length", ["1048577", "4294967296", "99999999999999999999999"])
def test_body_beyond_what_we_discard_is_413(peer: Peer, length: str) -> None:
    """RFC 9110 15.5.14: 413 (Content Too Large) for a body larger than the server will
    take; ssdk reads up to 1 MiB of a body to discard it, and closes rather than more."""
    refused(peer, get("/a", headers=[f"Content-Length: {length}"]), 413)


def test_body_of_exactly_the_limit_is_skipped(peer: Peer, site: Site) -> None:
    """RFC 9110 15.5.14, the other side of the limit: 1 MiB of body is answered and the
    connection stays open to discard it."""
    resp, _ = exchange(peer, get("/a", headers=["Content-Length: 1048576"]))
    assert resp.raw == site.expect("/a")


# --- methods ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "CONNECT", "TRACE"])
def test_known_methods_on_a_route_are_405(peer: Peer, method: str) -> None:
    """RFC 9110 15.5.6: a method the server knows but the resource does not allow gets
    405, which MUST carry Allow (RFC 9110 10.2.1): every route allows GET, HEAD and
    OPTIONS. ssdk closes after it (RFC 9112 9.6), so an unread body cannot be misread."""
    resp = refused(peer, get("/a", method=method), 405)
    assert resp.header("Allow") == ALLOW
    assert resp.header("Content-Type") == HTML
    assert peer.stack.stats()["http_405"] == 1


def test_connect_to_an_authority_is_405(peer: Peer) -> None:
    """RFC 9110 9.3.6 and RFC 9112 3.2.3: CONNECT names host:port; ssdk tunnels nowhere,
    so the method is not allowed there."""
    resp = refused(peer, b"CONNECT test:443 HTTP/1.1\r\nHost: test:443\r\n\r\n", 405)
    assert resp.header("Allow") == ALLOW


def test_known_method_on_a_missing_route_is_404(peer: Peer, site: Site) -> None:
    """RFC 9110 15.5.5: where there is no resource, 404 whatever the method; like any 404
    it keeps the connection, with its body read and discarded (RFC 9112 6.3)."""
    resp, _ = exchange(peer, get("/nope", method="POST", headers=["Content-Length: 4"]) + b"data")
    assert resp.status == 404 and not peer.fin
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")


@pytest.mark.parametrize("method", ["BREW", "get", "Get", "PROPFIND", "M-SEARCH"])
def test_unknown_methods_are_501(peer: Peer, method: str) -> None:
    """RFC 9110 9.1: the method token is case-sensitive, and a method the server does
    not recognize gets 501 (RFC 9110 15.6.2)."""
    refused(peer, get("/a", method=method), 501)
    assert peer.stack.stats()["http_501"] == 1


def test_overlong_method_is_501_before_the_line_ends(peer: Peer) -> None:
    """RFC 9110 9.1 and 15.6.2: a method longer than any ssdk knows (32 bytes and more)
    is one it does not implement, known from its 33rd byte on: answered at once."""
    peer.connect()
    segs = peer.request(b"X" * 33)
    assert [s.flags for s in segs] == ["PA", "FA"]
    assert peer.responses()[0].status == 501


@pytest.mark.parametrize(("target", "status"), [("*", 200), ("/a", 200), ("/files/mid.bin", 200),
                                                ("/nope", 404)])  # fmt: skip
def test_options(peer: Peer, site: Site, target: str, status: int) -> None:
    """RFC 9110 9.3.7: OPTIONS * asks about the server, OPTIONS on a resource about it;
    both are answered 200 with Allow and, having no content, Content-Length: 0. The
    connection stays, and the next request is served."""
    resp, _ = exchange(peer, get(target, method="OPTIONS"))
    assert resp.status == status and resp.header("Connection") == "keep-alive"
    if status == 200:
        assert resp.raw == head_block("200 OK", "", 0, [("Allow", ALLOW)]).replace(
            b"Content-Type: \r\n", b""
        )
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    assert peer.stack.stats()["http_options"] == (status == 200)


# --- syntax --------------------------------------------------------------------------------


BAD_SYNTAX = {
    "two-spaces": b"GET  /a HTTP/1.1\r\nHost: t\r\n\r\n",
    "two-spaces-2": b"GET /a  HTTP/1.1\r\nHost: t\r\n\r\n",
    "trailing-space": b"GET /a HTTP/1.1 \r\nHost: t\r\n\r\n",
    "tab": b"GET\t/a HTTP/1.1\r\nHost: t\r\n\r\n",
    "lower-version": b"GET /a http/1.1\r\nHost: t\r\n\r\n",
    "long-minor": b"GET /a HTTP/1.10\r\nHost: t\r\n\r\n",
    "short-version": b"GET /a HTTP/1\r\nHost: t\r\n\r\n",
    "http09": b"GET /a\r\nHost: t\r\n\r\n",
    "bare-cr-line": b"GET /a HTTP/1.1\rHost: t\r\n\r\n",
    "cr-in-field": b"GET /a HTTP/1.1\r\nHost: t\r\r\n\r\n",
    "bare-cr-end": b"GET /a HTTP/1.1\r\nHost: t\r\n\r\r\n",
    "del": b"GET /\x7fa HTTP/1.1\r\nHost: t\r\n\r\n",
    "raw-utf8-target": b"GET /\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n",
    "nul-in-value": b"GET /a HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
    "utf8-name": b"GET /a HTTP/1.1\r\nHost: t\r\nX-\xc3\xa9: v\r\n\r\n",
    "no-colon": b"GET /a HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n",
    "empty-name": b"GET /a HTTP/1.1\r\nHost: t\r\n: empty-name\r\n\r\n",
    "folded-first": b"GET /a HTTP/1.1\r\n Host: t\r\n\r\n",
    "tab-before-colon": b"GET /a HTTP/1.1\r\nHost\t: t\r\n\r\n",
    "leading-cr": b"\rGET /a HTTP/1.1\r\nHost: t\r\n\r\n",
}


@pytest.mark.parametrize("request_", BAD_SYNTAX.values(), ids=BAD_SYNTAX.keys())
def test_syntax_errors_are_400(peer: Peer, request_: bytes) -> None:
    """RFC 9112 3: method SP request-target SP HTTP-version, single spaces; 2.3: the
    version is "HTTP/" DIGIT "." DIGIT, case-sensitive; 2.2: a bare CR is invalid; 5:
    field-name is a token and ":" follows it at once (5.1), a line may not start with
    whitespace (5.2), and a value holds no control characters but HTAB (RFC 9110 5.5)."""
    refused(peer, request_, 400)


def test_obs_text_in_a_field_value_is_accepted(peer: Peer, site: Site) -> None:
    """RFC 9110 5.5: field values may carry obs-text (bytes 0x80-0xFF), and whitespace
    around a value is not part of it; such a request is served."""
    served(peer, site, get("/a", headers=["X-Name: caf\xe9  ", "X-Empty:", "X-Tab:\tv\t"]), "/a")


# --- the error responses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "status"),
    [(get("/a", host=None), 400), (get("/a", method="PUT"), 405),
     (get("/a", headers=["Transfer-Encoding: chunked"]), 411),
     (get("/a", headers=["Content-Length: 9999999"]), 413), (get("/" + "a" * 2100), 414),
     (get("/a", headers=["Expect: x"]), 417),
     (get("/a", headers=[f"X-{i}: v" for i in range(120)]), 431),
     (get("/a", method="BREW"), 501), (get("/a", version="HTTP/3.0"), 505)],
    ids=["400", "405", "411", "413", "414", "417", "431", "501", "505"],
)  # fmt: skip
def test_error_responses_are_dated_and_close(
    make_stack: Callable[..., Stack], request_: bytes, status: int
) -> None:
    """RFC 9110 6.6.1: an origin server with a clock sends Date in every 4xx and 5xx;
    RFC 9112 9.6: a server that closes says "Connection: close". Every error response is
    precomputed with both slots: a day into the clock, the Date is that day's, written at
    send time, and the Connection value is "close". Each is an HTML page about itself."""
    stack = make_stack()
    stack.advance(DAY_MS)
    peer = Peer(stack)
    resp = refused(peer, request_, status)
    assert resp.date == formatdate(DAY_MS // 1000, usegmt=True)
    assert resp.header("Content-Type") == HTML
    assert f"<title>{status} ".encode() in resp.body
    st = stack.stats()
    assert st["http_4xx" if status < 500 else "http_5xx"] == 1
    assert st[f"http_{status}"] == 1


def test_error_answering_head_is_its_header_only(peer: Peer) -> None:
    """RFC 9110 9.3.2: a response to HEAD carries no content, errors included: a HEAD
    without Host gets the 400's header block (its Content-Length that of the page a GET
    would get) and our FIN right after it."""
    resp = refused(peer, get("/a", method="HEAD", host=None), 400, head_only=True)
    assert int(resp.header("Content-Length") or 0) > 0
    assert resp.raw == resp.head
