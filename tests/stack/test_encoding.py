# tests/stack/test_encoding.py: content codings chosen by Accept-Encoding (RFC 9110
# 12.5.3): which precomputed representation each field value gets, Vary on every
# response of a route that has several, an ETag per coding, and bodies that decompress
# (with zlib and brotli, independently of ssdk) to exactly the original.
from __future__ import annotations

import zlib

import brotli
import pytest
from harness import HttpResponse, Stack, etag_of, head_block, validators
from variant_site import BUILT, HTML, Client, VSite

TEXT = "/text"  # a page with gzip and br variants
VARY = ("Vary", "Accept-Encoding")


def decoded(resp: HttpResponse) -> bytes:
    """The body with its Content-Encoding undone."""
    coding = resp.header("Content-Encoding")
    if coding == "gzip":
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(resp.body) + d.flush()
        assert d.eof and not d.unused_data, "not exactly one gzip member"
        return out
    if coding == "br":
        return bytes(brotli.decompress(resp.body))
    assert coding is None, coding
    return resp.body


def coded_block(resp: HttpResponse, coding: str | None) -> bytes:
    """The header block a 200 of /text in `coding` must have: the encoded length, the
    coding, the page's date, the ETag of the bytes sent, Vary."""
    extra = [*validators(resp.body, BUILT, coding), VARY]
    return head_block("200 OK", HTML, len(resp.body), extra)


@pytest.mark.parametrize(
    ("accept", "coding"),
    [(None, None), ("gzip", "gzip"), ("br", "br"), ("gzip, br", "br"), ("br, gzip", "br"),
     ("GZIP", "gzip"), ("x-gzip", "gzip"), ("gzip;q=1.0, br;q=0.999", "gzip"),
     ("br;q=0.5, gzip", "gzip"), ("gzip ; q=0.2 , br;Q=0.1", "gzip"), ("*", "br"),
     ("*;q=0.5, gzip;q=0.2", "br"), ("identity, gzip;q=0.5", None),
     ("identity;q=0.4, gzip;q=0.5", "gzip"), ("deflate, compress", None), ("", None),
     ("gzip;q=0", None), ("gzip;q=0, br;q=0", None), ("br;q=0, *", "gzip"),
     ("*;q=0, gzip", "gzip"), ("identity;q=0, br", "br"), ("identity;q=0", None),
     ("*;q=0", None), ("gzip;q=2", None), ("gzip;q=0.5555", None), ("gzip;level=9", None),
     ("zstd, gzip;q=0.1", "gzip")],
    ids=["none", "gzip", "br", "both", "both-reversed", "case", "x-gzip", "q-order",
         "q-prefers-gzip", "ows", "star", "star-weight", "identity-first", "identity-lower",
         "unknown", "empty", "gzip-refused", "both-refused", "star-but-br", "star-refused",
         "identity-refused", "identity-refused-alone", "all-refused", "bad-q", "q-digits",
         "not-q", "other-coding"],
)  # fmt: skip
def test_negotiation(vstack: Stack, vsite: VSite, accept: str | None, coding: str | None) -> None:
    """RFC 9110 12.5.3: each coding the field names has its weight (12.4.2: q from 0 to 1
    with at most three decimals; q=0 means "not acceptable"; a malformed weight drops the
    element); "*" weighs every coding not named, identity included; identity not named
    (nor "*") is acceptable below any other; gzip also answers to x-gzip (8.4.1.3);
    equal weights go to br, then gzip. With no field, or nothing acceptable, the identity
    representation is sent (12.1 lets a server disregard the preferences rather than
    answer 406). Every response of the route says Vary: Accept-Encoding (12.5.5)."""
    fields = [] if accept is None else [f"Accept-Encoding: {accept}"]
    resp = Client(vstack).get(TEXT, *fields)
    assert resp.header("Content-Encoding") == coding
    assert resp.head == coded_block(resp, coding)
    assert decoded(resp) == vsite.bodies[TEXT][1]
    assert vstack.stats()["http_encoded"] == (coding is not None)


def test_each_coding_has_its_own_etag(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 8.8.3: a strong ETag identifies one representation's bytes, so the
    identity, gzip and br representations of a page have three different ones, each the
    hash of what is sent; the coded ones are smaller than the original (they are only
    kept when they pay)."""
    client = Client(vstack)
    resps = {c: client.get(TEXT, f"Accept-Encoding: {c}") for c in ("identity", "gzip", "br")}
    tags = {c: r.header("ETag") for c, r in resps.items()}
    assert len(set(tags.values())) == 3
    for c, r in resps.items():
        assert tags[c] == etag_of(r.body)
        assert decoded(r) == vsite.bodies[TEXT][1]
    assert len(resps["br"].body) < len(resps["gzip"].body) < 0.9 * len(resps["identity"].body)


def test_head_and_vary_on_every_response_of_the_route(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 12.5.5 and 9.3.2: a HEAD gets the header block of the GET it stands for
    (the coded length and the coding's ETag), and Vary is on the identity response too,
    since it was also chosen by Accept-Encoding."""
    client = Client(vstack)
    for coding in (None, "gzip", "br"):
        fields = [f"Accept-Encoding: {coding}"] if coding else []
        full = client.get(TEXT, *fields)
        head = client.get(TEXT, *fields, method="HEAD")
        assert head.raw == full.head and head.header("Vary") == "Accept-Encoding"


def test_no_variants_where_coding_does_not_pay(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 12.5.3 makes no coding mandatory: a body below the size worth coding, or
    of a type that is already compressed, has the identity representation alone, and
    then no Vary (its response does not depend on Accept-Encoding)."""
    client = Client(vstack)
    for path in ("/files/small.txt", "/files/data.bin", "/cached"):
        resp = client.get(path, "Accept-Encoding: gzip, br")
        assert resp.header("Content-Encoding") is None and resp.header("Vary") is None
        assert resp.body == vsite.bodies[path][1]
    css = client.get("/files/style.css", "Accept-Encoding: gzip")
    assert css.header("Content-Encoding") == "gzip" and css.header("Vary") == "Accept-Encoding"
    assert css.header("Cache-Control") == "public, max-age=3600"
    assert decoded(css) == vsite.bodies["/files/style.css"][1]


def test_accept_encoding_over_two_lines(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 5.3: a list field may come as several lines, read as one list: "br;q=0"
    on one line and "gzip" on another leave gzip the only coding."""
    resp = Client(vstack).get(TEXT, "Accept-Encoding: br;q=0", "Accept-Encoding: gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert decoded(resp) == vsite.bodies[TEXT][1]
