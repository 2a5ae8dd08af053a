# tests/stack/test_syncookie.py: SYN cookies (RFC 4987 3.6). With syn_backlog half-open
# connections already waiting, a SYN is answered with a cookie SYN-ACK and no state; the
# ACK that comes back recreates the connection from the cookie alone.
from __future__ import annotations

from collections.abc import Callable

from harness import Peer, Site, Stack, get


def fill_backlog(stack: Stack) -> Peer:
    """One half-open connection: with syn_backlog=1 the backlog is then full."""
    first = Peer(stack, sport=30000)
    assert [s.flags for s in first.syn()] == ["SA"]
    assert stack.stats()["conns_syn_received"] == 1
    return first


def test_full_backlog_answers_with_a_cookie(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 4987 3.6: the SYN-ACK goes out but nothing is kept; the ACK with the request
    makes the connection, and the request is answered at once."""
    stack = make_stack(syn_backlog=1)
    fill_backlog(stack)
    peer = Peer(stack, sport=40001)
    synack = peer.syn()
    assert [s.flags for s in synack] == ["SA"]
    st = stack.stats()
    assert (st["conns_active"], st["syncookies_sent"]) == (1, 1)
    segs = peer.request(get("/a"))  # the third segment of the handshake carries the request
    assert segs and segs[0].payload.startswith(b"HTTP/1.1 200 OK")
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    st = stack.stats()
    assert (st["syncookies_ok"], st["conns_active"], st["conns_opened"]) == (1, 2, 1)


def test_cookie_keeps_the_mss(make_stack: Callable[..., Stack], site: Site) -> None:
    """The cookie names the MSS from a table, rounding down, so the peer is never sent a
    segment larger than it asked for (RFC 4987 3.6: the MSS is encoded in the ISN)."""
    stack = make_stack(syn_backlog=1)
    fill_backlog(stack)
    peer = Peer(stack, sport=40002)
    peer.syn(mss=1100)
    peer.send("A")
    resp, segs = peer.fetch(get("/files/mid.bin"))
    assert resp.raw == site.expect("/files/mid.bin")
    assert max(len(s.payload) for s in segs) == 1000


def test_cookie_carries_wscale_and_sack_in_the_timestamp(
    make_stack: Callable[..., Stack],
) -> None:
    """Window scale and SACK-permitted do not fit the ISN; with timestamps they ride in
    the low bits of our TSval, which the ACK echoes, and the connection uses them."""
    stack = make_stack(syn_backlog=1)
    fill_backlog(stack)
    peer = Peer(stack, sport=40003)
    segs = peer.syn(mss=None, options=[
        ("MSS", 1460), ("SAckOK", b""), ("Timestamp", (777, 0)), ("NOP", None), ("WScale", 7),
    ])  # fmt: skip
    opts = dict(segs[0].options)
    assert "SAckOK" in opts and opts["WScale"] == 0
    tsval = opts["Timestamp"][0]
    assert tsval & 0x3F == 0x10 | 0x20 | 7
    peer.send("A", options=[("NOP", None), ("NOP", None), ("Timestamp", (778, tsval))])
    # A window field of 1 is 128 bytes with the shift of 7 that the cookie kept.
    segs = peer.send(
        "PA",
        get("/a"),
        window=1,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (779, tsval))],
    )
    assert segs and len(segs[0].payload) == 128
    later = dict(segs[0].options)["Timestamp"][0]
    assert (later - tsval) % 2**32 < 2**31  # our clock did not go back


def test_forged_ack_is_reset(make_stack: Callable[..., Stack]) -> None:
    """An ACK that matches no connection and no cookie of ours gets a RST
    (RFC 9293 3.10.7.1) and is counted."""
    stack = make_stack(syn_backlog=1)
    peer = Peer(stack, sport=40004)
    segs = peer.send("A", seq=5000, ack=123456789)
    assert [s.flags for s in segs] == ["R"]
    assert stack.stats()["syncookies_failed"] == 1
    assert stack.stats()["conns_active"] == 0


def test_cookie_expires(make_stack: Callable[..., Stack]) -> None:
    """A cookie is good for two 64-second periods at most; an ACK later than that is
    treated like any ACK for no connection."""
    stack = make_stack(syn_backlog=1)
    fill_backlog(stack)
    peer = Peer(stack, sport=40005)
    peer.syn()
    stack.engine.advance(129_000)
    stack.take()  # the half-open first connection gave up meanwhile: not ours
    segs = peer.send("A")
    assert [s.flags for s in segs] == ["R"]
    assert stack.stats()["syncookies_ok"] == 0


def test_cookie_without_timestamps_drops_wscale(make_stack: Callable[..., Stack]) -> None:
    """Without timestamps there is nowhere to keep window scale: the cookie SYN-ACK does
    not offer it, so neither side scales (RFC 7323 2.2)."""
    stack = make_stack(syn_backlog=1)
    fill_backlog(stack)
    peer = Peer(stack, sport=40006)
    segs = peer.syn(mss=1460, wscale=7)
    assert [k for k, _ in segs[0].options] == ["MSS"]
