# tests/stack/test_ranges.py: single byte ranges (RFC 9110 14): a 206 built from the
# precomputed header template and the 200's body at an offset, for each form of range,
# across template segment boundaries, byte-exact against the body slice; 416; several
# ranges answered whole; If-Range. The 206 header block is restated here from the
# documented layout (docs/bundle.md: right-aligned Content-Length and Content-Range
# slots), never read from the bundle.
from __future__ import annotations

from email.utils import formatdate

import pytest
from harness import TEMPLATE_MSS, HttpResponse, Peer, Stack, etag_of, get, head_block, validators
from test_encoding import decoded
from variant_site import BINARY, FILED, Client, VSite

DATA = "/files/data.bin"  # 10000 random bytes: the header block and seven segments
CACHE = [("Cache-Control", "public, max-age=3600")]
NO_PROBES = 0b011  # timestamps and SACK accepted, loss probes off (as test_retransmit.py)


def partial_block(body: bytes, first: int, last: int, ctype: str = BINARY,
                  extra: list[tuple[str, str]] = CACHE, modified: int = FILED,
                  coding: str | None = None) -> bytes:  # fmt: skip
    """RFC 9110 15.3.7: a 206 carries Content-Range (14.4) and the length of the part;
    ssdk writes both values right-aligned in slots of 10 and 8 + 3 * digits(total)
    bytes (the spaces are optional whitespace, RFC 9110 5.6.3), then the 200's fields."""
    total = len(body)
    rng = f"bytes {first}-{last}/{total}".rjust(8 + 3 * len(str(total)))
    fields = [("Content-Range", rng), *validators(body, modified, coding)[:-1], *extra]
    block = head_block("206 Partial Content", ctype, None, fields)
    return block.replace(b"\r\nContent-Range:",
                         f"\r\nContent-Length: {str(last - first + 1).rjust(10)}"
                         "\r\nContent-Range:".encode(), 1)  # fmt: skip


def check_partial(resp: HttpResponse, body: bytes, first: int, last: int, **kw: object) -> None:
    assert resp.status == 206
    assert resp.head == partial_block(body, first, last, **kw)  # type: ignore[arg-type]
    assert resp.body == body[first : last + 1]
    assert resp.header("Content-Range") == f"bytes {first}-{last}/{len(body)}"


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [("0-99", 0, 99), ("0-0", 0, 0), ("1000-4999", 1000, 4999), ("9990-", 9990, 9999),
     ("0-", 0, 9999), ("-10", 9990, 9999), ("-1", 9999, 9999), ("-20000", 0, 9999),
     ("9000-99999", 9000, 9999), ("9999-9999", 9999, 9999), ("5-5000000000000", 5, 9999)],
    ids=["first-100", "first-byte", "middle", "open", "open-whole", "suffix", "last-byte",
         "suffix-longer", "past-end", "last-only", "huge-last"],
)  # fmt: skip
def test_single_range_forms(vstack: Stack, vsite: VSite, spec: str, first: int, last: int) -> None:
    """RFC 9110 14.1.2: first-last, first- (to the end) and -suffix (the last bytes; the
    whole body when it is shorter than the suffix); a last position past the end stands
    for the end. RFC 9110 14.2 and 15.3.7: a GET with one satisfiable range gets 206 with
    exactly those bytes."""
    body = vsite.bodies[DATA][1]
    check_partial(Client(vstack).get(DATA, f"Range: bytes={spec}"), body, first, last)
    assert vstack.stats()["http_206"] == 1


@pytest.mark.parametrize("mss", [1460, 536, 100])
def test_range_across_template_segments(vstack: Stack, vsite: VSite, mss: int) -> None:
    """RFC 9110 14.2: a part that starts inside one template segment and ends several
    segments later is the same bytes whatever the peer's MSS (RFC 9293 3.7.1): above the
    template's, equal, or far below; every segment's checksum is checked by the harness
    as it arrives (it is summed as the part is copied, since it is aligned with no
    template segment)."""
    body = vsite.bodies[DATA][1]
    first, last = TEMPLATE_MSS // 2 + 1, 4 * TEMPLATE_MSS + 77
    peer = Peer(vstack)
    peer.connect(mss=mss)
    segs = peer.request(get(DATA, headers=[f"Range: bytes={first}-{last}"]))
    segs += peer.drain()
    check_partial(peer.responses()[0], body, first, last)
    assert len(segs) > 1 and max(len(s.payload) for s in segs) <= min(mss, TEMPLATE_MSS)


def test_range_of_a_coded_representation(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 14.1: a range selects bytes of the selected representation, which is
    the coded one when gzip is chosen (RFC 9110 8.4): the part is of the gzip bytes, and
    the 206 says so with Content-Encoding and that representation's ETag and Vary."""
    client = Client(vstack)
    whole = client.get("/text", "Accept-Encoding: gzip")
    coded = whole.body
    assert decoded(whole) == vsite.bodies["/text"][1] and len(coded) > 3 * TEMPLATE_MSS
    first, last = 2 * TEMPLATE_MSS - 3, len(coded) - 10
    resp = client.get("/text", "Accept-Encoding: gzip", f"Range: bytes={first}-{last}")
    check_partial(resp, coded, first, last, ctype="text/html; charset=utf-8",
                  extra=[("Vary", "Accept-Encoding")], modified=1_700_000_000,
                  coding="gzip")  # fmt: skip


@pytest.mark.parametrize("spec", ["10000-", "10000-10001", "20000-", "-0"])
def test_unsatisfiable_range_is_416(vstack: Stack, spec: str) -> None:
    """RFC 9110 14.1.1 and 15.5.17: a range whose first byte is at or past the end, or
    a suffix of zero bytes, selects nothing: 416 with Content-Range: bytes */length
    (14.4); the connection stays."""
    resp = Client(vstack).get(DATA, f"Range: bytes={spec}")
    assert resp.status == 416
    assert resp.header("Content-Range") == "bytes */10000"
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    assert b"416 Range Not Satisfiable" in resp.body
    assert resp.header("Connection") == "keep-alive"
    assert vstack.stats()["http_416"] == 1


@pytest.mark.parametrize(
    "fields",
    [["Range: bytes=0-1,5-6"], ["Range: bytes=0-1, 20000-"], ["Range: bytes=5-1"],
     ["Range: items=0-5"], ["Range: bytes 0-5"], ["Range: bytes=a-b"], ["Range: bytes="],
     ["Range: bytes=-"], ["Range: bytes=0-5", "Range: bytes=0-5"]],
    ids=["two-ranges", "two-one-unsatisfiable", "backwards", "other-unit", "no-equals",
         "letters", "empty", "dash", "two-lines"],
)  # fmt: skip
def test_ranges_answered_whole(vstack: Stack, vsite: VSite, fields: list[str]) -> None:
    """RFC 9110 14.2: a server MAY ignore Range; ssdk does for several ranges (a 200 with
    the whole representation is a valid answer to them), and must for a unit it does not
    know; an invalid range-spec (last below first, 14.1.1) or malformed field is ignored
    too. Each gets the 200 byte for byte."""
    ctype, body = vsite.bodies[DATA]
    resp = Client(vstack).get(DATA, *fields)
    assert resp.raw == head_block("200 OK", ctype, len(body),
                                  validators(body, FILED) + CACHE) + body  # fmt: skip


def test_range_is_for_get_only(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 14.2: Range is defined for GET alone; a HEAD with Range gets the 200's
    header block."""
    ctype, body = vsite.bodies[DATA]
    resp = Client(vstack).get(DATA, "Range: bytes=0-9", method="HEAD")
    assert resp.raw == head_block("200 OK", ctype, len(body), validators(body, FILED) + CACHE)


@pytest.mark.parametrize(
    ("if_range", "partial"),
    [("{etag}", True), ('"0123456789abcdef"', False), ("W/{etag}", False),
     ("{date}", True), ("{later}", False), ("{earlier}", False), ("nonsense", False),
     ("{etag}\r\nIf-Range: {etag}", False)],
    ids=["tag", "other-tag", "weak-tag", "date", "later-date", "earlier-date", "garbage",
         "two-lines"],
)  # fmt: skip
def test_if_range(vstack: Stack, vsite: VSite, if_range: str, partial: bool) -> None:
    """RFC 9110 13.1.5: with If-Range the range applies only when the validator matches:
    an entity-tag by the strong comparison (a weak one never matches), a date exactly the
    Last-Modified; otherwise the whole representation is sent with 200."""
    body = vsite.bodies[DATA][1]
    value = if_range.format(etag=etag_of(body), date=formatdate(FILED, usegmt=True),
                            later=formatdate(FILED + 1, usegmt=True),
                            earlier=formatdate(FILED - 1, usegmt=True))  # fmt: skip
    resp = Client(vstack).get(DATA, "Range: bytes=100-199", f"If-Range: {value}")
    if partial:
        check_partial(resp, body, 100, 199)
    else:
        assert resp.status == 200 and resp.body == body


def test_if_range_without_range_is_ignored(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 13.1.5: a server MUST ignore If-Range in a request without Range."""
    resp = Client(vstack).get(DATA, 'If-Range: "0123456789abcdef"')
    assert resp.status == 200 and resp.body == vsite.bodies[DATA][1]


def test_a_resent_part_is_the_same_bytes(vsite: VSite) -> None:
    """RFC 6298 5.4 and RFC 9293 3.10.7.4: after a timeout the first unacknowledged
    segment goes again, and the rest after it as ACKs come; a 206 is rebuilt from its
    template and the body, with the same Date, slots and bytes (the harness fails on any
    resent byte that differs)."""
    stack = Stack(vsite.blob, rto_min_ms=1000, options=NO_PROBES)
    try:
        body = vsite.bodies[DATA][1]
        peer = Peer(stack)
        peer.connect()
        first = peer.request(get(DATA, headers=["Range: bytes=700-9000"]))
        assert len(first) > 2
        again = peer.advance(1000)
        assert [(s.seq, s.payload) for s in again] == [(first[0].seq, first[0].payload)]
        peer.drain()
        check_partial(peer.responses()[0], body, 700, 9000)
        assert stack.stats()["retransmits"] >= 1
    finally:
        stack.close()


def test_pipelined_ranges(vstack: Stack, vsite: VSite) -> None:
    """RFC 9112 9.3.2 with RFC 9110 14.2: range requests pipelined with others are
    answered in order, each with its own part."""
    body = vsite.bodies[DATA][1]
    peer = Peer(vstack)
    peer.connect()
    ranged = [get(DATA, headers=[f"Range: bytes={spec}"]) for spec in ("-5", "0-4", "10000-")]
    peer.request(ranged[0] + ranged[1] + get("/files/small.txt") + ranged[2])
    peer.drain()
    a, b, c, d = peer.responses(4)
    check_partial(a, body, 9995, 9999)
    check_partial(b, body, 0, 4)
    assert c.status == 200 and c.body == vsite.bodies["/files/small.txt"][1]
    assert d.status == 416
