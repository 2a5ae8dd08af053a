# tests/stack/test_conditional.py: conditional GET and HEAD (RFC 9110 13): the
# precomputed 304 answered for If-None-Match and If-Modified-Since, their order, and what
# a 304 carries. Expected bytes are restated from the bodies (hashlib for ETags,
# email.utils for dates), never read back from the bundle.
from __future__ import annotations

from email.utils import formatdate

import pytest
from harness import HttpResponse, Stack, etag_of, head_block, validators
from variant_site import FILED, Client, VSite

NOW = 1_750_000_000  # 2025-06-15: where tests that read two-digit years set the clock
DATA = "/files/data.bin"  # a file: identity only, with the folder's Cache-Control
CACHE = [("Cache-Control", "public, max-age=3600")]


def not_modified(etag: str, extra: list[tuple[str, str]]) -> bytes:
    """RFC 9110 15.4.5: a 304 is its header block alone, with ETag, Date and what a
    cache updates from it (Cache-Control, Vary); no Content-Type or Content-Length."""
    return head_block("304 Not Modified", "", None, [("ETag", etag), *extra])


def full(vsite: VSite, path: str, resp: HttpResponse) -> None:
    """The response is the whole 200 of `path`, byte for byte."""
    ctype, body = vsite.bodies[path]
    want = head_block("200 OK", ctype, len(body), validators(body, vsite.modified[path]) + CACHE)
    assert resp.raw == want + body


def test_if_none_match_with_the_etag_is_304(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 13.1.2 and 13.2.2 (step 3): a GET or HEAD whose If-None-Match names the
    selected representation's entity-tag gets 304 (RFC 9110 15.4.5), which is the header
    block alone and repeats ETag and Cache-Control; the connection stays."""
    etag = etag_of(vsite.bodies[DATA][1])
    client = Client(vstack)
    for method in ("GET", "HEAD"):
        resp = client.get(DATA, f"If-None-Match: {etag}", method=method)
        assert resp.raw == not_modified(etag, CACHE)
    assert vstack.stats()["http_304"] == 2


@pytest.mark.parametrize(
    "field",
    ['If-None-Match: "0123456789abcdef", W/{etag}', "If-None-Match: W/{etag}",
     'If-None-Match: "a,b", {etag}', 'If-None-Match: "x"\r\nIf-None-Match: {etag}'],
    ids=["list", "weak", "comma-in-tag", "two-lines"],
)  # fmt: skip
def test_if_none_match_lists_and_weak_comparison(vstack: Stack, vsite: VSite, field: str) -> None:
    """RFC 9110 13.1.2: If-None-Match is a list of entity-tags (8.8.3; a tag may hold a
    comma), possibly over several lines (5.3), compared by the weak comparison (8.8.3.2:
    W/ does not matter); any match gives 304."""
    etag = etag_of(vsite.bodies[DATA][1])
    resp = Client(vstack).get(DATA, field.format(etag=etag))
    assert resp.raw == not_modified(etag, CACHE)


@pytest.mark.parametrize(
    "field",
    ['If-None-Match: "0123456789abcdef"', "If-None-Match: {upper}", "If-None-Match: {bare}",
     "If-None-Match: nonsense"],
    ids=["other-tag", "case-differs", "unquoted", "not-a-tag"],
)  # fmt: skip
def test_if_none_match_without_a_match_is_200(vstack: Stack, vsite: VSite, field: str) -> None:
    """RFC 9110 13.1.2: when no listed tag matches (tags compare octet by octet, so a
    change of case is another tag), the condition is true and the 200 is sent whole."""
    etag = etag_of(vsite.bodies[DATA][1])
    line = field.format(upper=etag.upper(), bare=etag.strip('"'))
    full(vsite, DATA, Client(vstack).get(DATA, line))


def test_if_none_match_star(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 13.1.2: "*" matches any current representation: 304. RFC 9110 13.2.1: a
    precondition is ignored when the answer without it would not be a 2xx, so a path
    with no route still gets its 404."""
    client = Client(vstack)
    etag = etag_of(vsite.bodies[DATA][1])
    assert client.get(DATA, "If-None-Match: *").raw == not_modified(etag, CACHE)
    assert client.get("/files/none", "If-None-Match: *").status == 404


def ims(seconds: int) -> str:
    return f"If-Modified-Since: {formatdate(seconds, usegmt=True)}"


@pytest.mark.parametrize(
    ("field", "status"),
    [(ims(FILED), 304), (ims(FILED + 86_400), 304), (ims(FILED - 1), 200),
     ("If-Modified-Since: Sunday, 13-Sep-20 12:26:40 GMT", 304),
     ("If-Modified-Since: Sun Sep 13 12:26:40 2020", 304),
     ("If-Modified-Since: Sun Sep 13 12:26:39 2020", 200),
     ("If-Modified-Since: Sun, 13 Sep 2020 12:26:40 UTC", 200),
     ("If-Modified-Since: sun, 13 Sep 2020 12:26:40 GMT", 200),
     ("If-Modified-Since: Sun, 31 Sep 2020 12:26:40 GMT", 200),
     ("If-Modified-Since: yesterday", 200),
     (ims(FILED) + "\r\n" + ims(FILED), 200)],
    ids=["equal", "later", "earlier", "rfc850", "asctime", "asctime-earlier", "not-gmt",
         "case", "no-such-day", "not-a-date", "two-lines"],
)  # fmt: skip
def test_if_modified_since(vstack: Stack, vsite: VSite, field: str, status: int) -> None:
    """RFC 9110 13.1.3 and 13.2.2 (step 4): without If-None-Match, a GET whose
    If-Modified-Since is at or after the representation's last modification gets 304.
    The date is any of the three HTTP-date forms (5.6.7: IMF-fixdate, rfc850-date with a
    two-digit year, asctime-date), names case-sensitive; a value that is no valid date,
    or more than one, is ignored, and the 200 goes whole. (The clock stands in 2025.)"""
    vstack.advance(NOW * 1000)
    resp = Client(vstack).get(DATA, field)
    if status == 304:
        assert resp.raw == not_modified(etag_of(vsite.bodies[DATA][1]), CACHE)
    else:
        full(vsite, DATA, resp)


def test_two_digit_years_are_read_as_recent(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 5.6.7: a two-digit year that would be more than 50 years in the future is
    the most recent past year with those digits. With the clock in 2025, "20" is 2020
    (after the file's date: 304) and "80" is 1980, not 2080 (before it: 200); with the
    clock in 1970, "20" would be 2020, more than 50 years ahead, so it is 1920 (200)."""
    early = Client(vstack)
    full(vsite, DATA, early.get(DATA, "If-Modified-Since: Monday, 14-Sep-20 00:00:00 GMT"))
    vstack.advance(NOW * 1000)
    client = Client(vstack)
    resp = client.get(DATA, "If-Modified-Since: Monday, 14-Sep-20 00:00:00 GMT")
    assert resp.status == 304
    full(vsite, DATA, client.get(DATA, "If-Modified-Since: Monday, 01-Dec-80 00:00:00 GMT"))


@pytest.mark.parametrize(
    ("inm", "since", "status"),
    [("{etag}", FILED - 10, 304), ('"0123456789abcdef"', FILED + 10, 200)],
    ids=["tag-matches-date-does-not", "date-matches-tag-does-not"],
)  # fmt: skip
def test_if_none_match_takes_precedence(vstack: Stack, vsite: VSite, inm: str, since: int,
                                        status: int) -> None:  # fmt: skip
    """RFC 9110 13.2.2 and 13.1.3: a recipient MUST ignore If-Modified-Since when the
    request has If-None-Match, which decides alone (and is the more accurate)."""
    etag = etag_of(vsite.bodies[DATA][1])
    resp = Client(vstack).get(DATA, f"If-None-Match: {inm.format(etag=etag)}", ims(since))
    assert resp.status == status


def test_a_304_names_the_coded_representation(vstack: Stack, vsite: VSite) -> None:
    """RFC 9110 8.8.3 and 12.5.5: each content coding is a representation with an ETag
    of its own, and a response that depends on Accept-Encoding says Vary; so a 304 is
    sent for the gzip tag only when gzip is what would be sent, and it carries Vary."""
    client = Client(vstack)
    coded = client.get("/text", "Accept-Encoding: gzip")
    tag = coded.header("ETag")
    assert tag is not None and coded.header("Content-Encoding") == "gzip"
    assert tag == etag_of(coded.body) != etag_of(vsite.bodies["/text"][1])
    resp = client.get("/text", "Accept-Encoding: gzip", f"If-None-Match: {tag}")
    assert resp.raw == not_modified(tag, [("Vary", "Accept-Encoding")])
    plain = client.get("/text", f"If-None-Match: {tag}")  # identity is chosen: no match
    assert plain.status == 200 and plain.body == vsite.bodies["/text"][1]


def test_conditions_ignored_when_the_answer_is_no_2xx(vstack: Stack) -> None:
    """RFC 9110 13.2.1: preconditions are ignored when the answer without them is not a
    2xx: the folder's redirect stays a 301 whatever If-None-Match and If-Modified-Since
    say."""
    resp = Client(vstack).get("/files/docs", "If-None-Match: *", ims(2_000_000_000))
    assert resp.status == 301 and resp.header("Location") == "/files/docs/"
