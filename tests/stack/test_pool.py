# tests/stack/test_pool.py: the connection pool under attack (RFC 4987). Half-open
# entries may hold at most half the pool (and syn_backlog); beyond that, and whenever
# the pool is full, SYNs are answered with cookies, never dropped. A cookie's ACK that
# finds the pool full evicts the least recently active idle keep-alive connection, or
# is reset when none is idle. A half-open entry gives up after synack_retries
# SYN-ACKs, as Linux's does. max_conns_per_ip limits the slots one address holds.
from __future__ import annotations

import random
from collections.abc import Callable

from harness import Peer, Site, Stack, get

PARTIAL = b"GET /a HTTP/1.1\r\nHost: te"  # a request begun, not finished



def idle_peer(stack: Stack, site: Site, sport: int) -> Peer:
    """A keep-alive connection that was answered and now waits between requests."""
    p = Peer(stack, sport=sport)
    p.connect()
    resp, _ = p.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    return p


def busy_sending(stack: Stack, sport: int) -> Peer:
    """A connection in the middle of a response: the peer acknowledges nothing, so most
    of /files/big.bin is still to be sent or in flight."""
    p = Peer(stack, sport=sport)
    p.connect()
    assert p.request(get("/files/big.bin"))  # the initial window goes, unacknowledged
    return p


def busy_reading(stack: Stack, sport: int) -> Peer:
    """A connection in the middle of a request: its header block is not complete."""
    p = Peer(stack, sport=sport)
    p.connect()
    assert [s.flags for s in p.send("PA", PARTIAL)] == ["A"]
    return p


def test_half_open_share_engages_cookies(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 4987 3.6: with syn_backlog (1024 here) larger than the pool, half-open entries
    still hold at most half of it (4 of 8): the fifth SYN gets a cookie and leaves no
    state, and its ACK makes a connection that is served."""
    stack = make_stack(max_conns=8, syn_backlog=1024)
    for port in range(41000, 41004):
        assert [s.flags for s in Peer(stack, sport=port).syn()] == ["SA"]
    st = stack.stats()
    assert (st["conns_syn_received"], st["syncookies_sent"]) == (4, 0)
    late = Peer(stack, sport=41004)
    assert [s.flags for s in late.syn()] == ["SA"]
    st = stack.stats()
    assert (st["conns_syn_received"], st["conns_active"], st["syncookies_sent"]) == (4, 4, 1)
    resp, _ = late.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    assert stack.stats()["syncookies_ok"] == 1


def test_syn_backlog_below_the_share_still_bounds(make_stack: Callable[..., Stack]) -> None:
    """The smaller bound wins: syn_backlog 2 in a pool of 8 (share 4)."""
    stack = make_stack(max_conns=8, syn_backlog=2)
    flags = [[s.flags for s in Peer(stack, sport=p).syn()] for p in range(41100, 41104)]
    assert flags == [["SA"]] * 4
    st = stack.stats()
    assert (st["conns_syn_received"], st["syncookies_sent"]) == (2, 2)


def test_full_pool_answers_with_a_cookie_then_resets(make_stack: Callable[..., Stack]) -> None:
    """A full pool never drops a SYN silently: it answers with a cookie. When the ACK
    comes back and no connection in the pool is idle (one is half-open, one is in the
    middle of a response, one in the middle of a request: none may be evicted), the ACK
    is answered with a RST so the client fails at once, and counted."""
    stack = make_stack(max_conns=3)
    sending = busy_sending(stack, 42001)
    reading = busy_reading(stack, 42002)
    assert [s.flags for s in Peer(stack, sport=42003).syn()] == ["SA"]  # half-open
    assert stack.stats()["conns_active"] == 3
    late = Peer(stack, sport=42004)
    assert [s.flags for s in late.syn()] == ["SA"]
    st = stack.stats()
    assert (st["syncookies_sent"], st["syn_dropped_pool_full"], st["conns_active"]) == (1, 0, 3)
    segs = late.send_split("PA", get("/a"))
    assert [s.flags for s in segs[42004]] == ["R"]
    assert set(segs) == {42004}, "nothing went to the busy connections"
    st = stack.stats()
    assert (st["syncookies_no_slot"], st["conns_evicted_idle"], st["conns_active"]) == (1, 0, 3)
    # The busy ones go on as if nothing happened: the request completes and is answered,
    # the response completes.
    assert reading.send("PA", b"st\r\n\r\n")
    reading.drain()
    assert reading.responses()[0].status == 200
    sending.drain()
    assert sending.responses()[0].status == 200


def test_synack_retries_then_give_up(make_stack: Callable[..., Stack]) -> None:
    """As Linux's tcp_synack_retries (5): the SYN-ACK goes again at 1, 3, 7, 15 and 31 s
    (RFC 6298 5.5: the RTO doubles from 1 s), then at 63 s the half-open entry is given
    up, silently (its source may be forged) and counted; its slot is free again."""
    stack = make_stack()
    peer = Peer(stack)
    assert [s.flags for s in peer.syn()] == ["SA"]
    times = []
    for _ in range(70_000 // 500):
        for s in peer.advance(500):
            assert s.flags == "SA"
            times.append(round(stack.now_ms / 1000))
        if stack.stats()["conns_active"] == 0:
            break
    assert times == [1, 3, 7, 15, 31]
    st = stack.stats()
    assert 62.5 <= stack.now_ms / 1000 <= 63.5
    assert (st["synack_gave_up"], st["conns_syn_received"], st["rst_sent"]) == (1, 0, 0)
    assert st["conns_timed_out"] == 0


def test_synack_retries_is_configurable(make_stack: Callable[..., Stack]) -> None:
    """synack_retries 2: SYN-ACKs at 0, 1 and 3 s, given up at 7 s."""
    stack = make_stack(synack_retries=2)
    peer = Peer(stack)
    peer.syn()
    assert len(peer.advance(1000)) == 1
    assert len(peer.advance(2000)) == 1
    assert peer.advance(3999) == []
    assert stack.stats()["conns_syn_received"] == 1
    assert peer.advance(1) == []
    st = stack.stats()
    assert (st["synack_gave_up"], st["conns_active"]) == (1, 0)


def test_eviction_takes_the_oldest_idle_first(make_stack: Callable[..., Stack], site: Site) -> None:
    """A completed handshake that finds the pool full resets the least recently active
    idle keep-alive connection (as nginx closes idle keep-alive connections when
    worker_connections run out); connections in the middle of a request or a response
    are never evicted; a connection that did something lately goes to the back."""
    stack = make_stack(max_conns=5)
    first = idle_peer(stack, site, 43001)
    second = idle_peer(stack, site, 43002)
    assert stack.advance(1000) == []
    third = idle_peer(stack, site, 43005)
    assert stack.advance(1000) == []
    resp, _ = first.fetch(get("/b"))  # first is now the most recently active
    assert resp.raw == site.expect("/b")
    sending = busy_sending(stack, 43003)  # younger than all, but busy
    reading = busy_reading(stack, 43004)
    # Order of activity, oldest first: second, third, first.
    evicted = []
    for n, port in enumerate((43101, 43102, 43103)):
        late = Peer(stack, sport=port)
        assert [s.flags for s in late.syn()] == ["SA"]  # the pool is full: a cookie
        segs = late.send_split("PA", get("/a"))
        others = {p: [s.flags for s in v] for p, v in segs.items() if p != port}
        assert list(others.values()) == [["R"]], others
        evicted += list(others)
        late.drain()
        assert late.responses()[0].raw == site.expect("/a")
        assert stack.stats()["conns_evicted_idle"] == n + 1
    assert evicted == [second.sport, third.sport, first.sport]
    # The evicted RST carries the sequence number the peer expects (RFC 9293 3.10.7.4:
    # in window, so a real client accepts it); the busy two are still served.
    assert stack.stats()["conns_active"] == 5
    assert reading.send("PA", b"st\r\n\r\n")
    reading.drain()
    assert reading.responses()[0].status == 200
    sending.drain()
    assert sending.responses()[0].raw == site.expect("/files/big.bin")


def test_eviction_reset_is_in_window(make_stack: Callable[..., Stack], site: Site) -> None:
    """The eviction's RST carries SND.NXT, exactly what the peer's RCV.NXT is, so the
    peer takes it (RFC 5961 3.2 would challenge anything else)."""
    stack = make_stack(max_conns=1)
    idle = idle_peer(stack, site, 44001)
    late = Peer(stack, sport=44002)
    late.syn()
    segs = late.send_split("A")
    (rst,) = segs[idle.sport]
    assert rst.flags == "R" and rst.seq == idle.rcv_nxt


def test_a_syn_alone_never_evicts(make_stack: Callable[..., Stack], site: Site) -> None:
    """Forged SYNs cannot close idle connections: only a handshake that completes (a
    cookie's ACK) evicts. A flood of SYNs against a pool full of idle connections gets
    cookies and leaves them all in place."""
    stack = make_stack(max_conns=2)
    idle_peer(stack, site, 45001)
    idle_peer(stack, site, 45002)
    for port in range(45100, 45150):
        assert [s.flags for s in Peer(stack, sport=port, ip="198.18.9.9").syn()] == ["SA"]
    st = stack.stats()
    assert (st["syncookies_sent"], st["conns_evicted_idle"], st["conns_active"]) == (50, 0, 2)


def test_per_address_limit(make_stack: Callable[..., Stack], site: Site) -> None:
    """max_conns_per_ip (nginx's limit_conn): a third connection from one address is
    refused with a RST (RFC 9293 3.10.7.1's form: ACK of the SYN) and counted; other
    addresses are not affected; a slot given back lets the address in again."""
    stack = make_stack(max_conns=8, max_conns_per_ip=2)
    a1, a2 = Peer(stack, sport=46001), Peer(stack, sport=46002)
    a1.connect()
    assert [s.flags for s in a2.syn()] == ["SA"]  # half-open counts too
    a3 = Peer(stack, sport=46003)
    segs = a3.syn()
    assert [s.flags for s in segs] == ["RA"] and segs[0].ack == a3.iss + 1
    assert stack.stats()["syn_refused_per_ip"] == 1
    other = Peer(stack, sport=46004, ip="198.18.0.7")
    other.connect()
    resp, _ = other.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    a1.send("R")  # a1's slot is given back
    assert stack.stats()["conns_active"] == 2
    a4 = Peer(stack, sport=46005)
    a4.connect()
    st = stack.stats()
    assert (st["syn_refused_per_ip"], st["conns_active"]) == (1, 3)


def test_per_address_limit_covers_cookies(make_stack: Callable[..., Stack]) -> None:
    """A cookie's ACK counts against the limit as a SYN does: with syn_backlog 1 the
    second connection of the address comes by a cookie, the third's ACK is reset."""
    stack = make_stack(max_conns=8, syn_backlog=1, max_conns_per_ip=2)
    Peer(stack, sport=47001).syn()  # half-open: the backlog is full
    second, third = Peer(stack, sport=47002), Peer(stack, sport=47003)
    assert [s.flags for s in second.syn()] == ["SA"]
    assert [s.flags for s in third.syn()] == ["SA"]
    assert stack.stats()["syncookies_sent"] == 2  # the limit is checked again on the ACK
    assert second.send("A") == []
    assert [s.flags for s in third.send("A")] == ["R"]
    st = stack.stats()
    assert (st["syncookies_ok"], st["syn_refused_per_ip"], st["conns_active"]) == (1, 1, 2)


def test_per_address_counts_survive_churn(make_stack: Callable[..., Stack]) -> None:
    """The per-address table (open addressing; a deletion shifts later entries back)
    stays exact through many connections of many addresses opened and reset in a
    random order: with a limit of 1, a SYN is refused exactly when its address holds a
    connection."""
    stack = make_stack(max_conns=16, max_conns_per_ip=1, syn_backlog=16)
    rng = random.Random(4987)
    addrs = [f"198.18.{rng.randrange(1, 4)}.{rng.randrange(1, 255)}" for _ in range(24)]
    live: dict[str, Peer] = {}
    port = 48000
    for _ in range(400):
        ip = rng.choice(addrs)
        if ip in live and rng.random() < 0.5:
            live.pop(ip).send("R")
            continue
        port += 1
        if ip not in live and len(live) == 16:
            continue  # a full pool would answer with a cookie instead
        p = Peer(stack, sport=port, ip=ip)
        flags = [s.flags for s in p.syn()]
        if ip in live:
            assert flags == ["RA"], ip
        else:
            assert flags == ["SA"], ip
            assert p.send("A") == []
            live[ip] = p
        assert stack.stats()["conns_active"] == len(live)
    assert stack.stats()["syn_refused_per_ip"] > 0
