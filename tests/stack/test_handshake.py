# tests/stack/test_handshake.py: the passive open (RFC 9293 3.5), the SYN options we
# read and answer (MSS, RFC 9293 3.7.1; window scale, RFC 7323 2), the SYN-ACK's
# retransmission timer (RFC 6298) and a full connection pool.
from __future__ import annotations

from collections.abc import Callable

from harness import RX_WINDOW, TEMPLATE_MSS, Peer, Site, Stack, get
from scapy.layers.inet import IP, TCP, IPOption_NOP


def test_syn_gets_syn_ack_with_mss_and_no_window_scale(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.5 and 3.7.1: a SYN is answered by SYN-ACK <SEQ=ISS><ACK=SEG.SEQ+1> that
    carries our MSS option. RFC 7323 2.2: no window scale option unless the SYN had one."""
    segs = peer.syn(mss=1460)
    assert len(segs) == 1
    sa = segs[0]
    assert sa.flags == "SA"
    assert sa.ack == peer.iss + 1
    assert sa.options == [("MSS", 1460)]
    assert sa.pkt[TCP].dataofs == 6  # 20 bytes + the 4-byte MSS option
    assert sa.payload == b""
    # RFC 7323 2.2: the window of a SYN-ACK is never scaled; it is our whole buffer.
    assert sa.win == RX_WINDOW
    st = stack.stats()
    assert (st["syn_received"], st["conns_active"], st["conns_opened"]) == (1, 1, 0)


def test_syn_with_window_scale_gets_window_scale_zero(peer: Peer) -> None:
    """RFC 7323 2.2: a SYN-ACK may carry a window scale option only when the SYN did; we
    send shift 0 (our 4096-byte window needs no scaling) after a NOP for alignment."""
    segs = peer.syn(mss=1460, wscale=7)
    assert [s.flags for s in segs] == ["SA"]
    assert segs[0].options == [("MSS", 1460), ("NOP", None), ("WScale", 0)]
    assert segs[0].pkt[TCP].dataofs == 7


def test_ack_completes_the_handshake(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.5 (figure 6) and 3.10.7.4 SYN-RECEIVED: an ACK of our SYN moves the
    connection to ESTABLISHED; it carries no data, so nothing is sent back."""
    peer.syn()
    assert stack.stats()["conns_opened"] == 0
    assert peer.send("A") == []
    st = stack.stats()
    assert (st["conns_opened"], st["conns_active"]) == (1, 1)


def test_isn_differs_per_peer(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.4.1 and RFC 6528: initial sequence numbers of different 4-tuples are
    unrelated, so one connection's numbers tell nothing about another's."""
    stack = make_stack()
    isns = {Peer(stack, sport=p).connect().seq for p in range(41000, 41008)}
    assert len(isns) == 8


def test_request_on_the_handshake_ack_is_served(peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4: the ACK that completes the handshake may carry data; it is
    processed in ESTABLISHED right away (a client that sends its request at once)."""
    peer.syn()
    segs = peer.send("PA", get("/"))
    assert segs and all(s.has("A") for s in segs)
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/")


def test_duplicate_syn_gets_the_same_syn_ack(peer: Peer) -> None:
    """RFC 9293 3.10.7.4 SYN-RECEIVED: the retransmitted SYN of a peer whose SYN-ACK was
    lost is answered with our SYN-ACK again, with the same ISN, not a second connection."""
    first = peer.syn()[0]
    again = peer.send("S", seq=peer.iss, options=[("MSS", 1460)])
    assert [s.flags for s in again] == ["SA"]
    assert (again[0].seq, again[0].ack, again[0].options) == (first.seq, first.ack, first.options)
    assert peer.stack.stats()["conns_active"] == 1


def test_syn_ack_is_retransmitted_with_backoff(stack: Stack, peer: Peer) -> None:
    """RFC 6298 2.1: until a round trip is measured the RTO is 1 second; 5.4: on expiry
    the earliest unacknowledged segment (here the SYN-ACK) is sent again; 5.5: the RTO
    doubles on each expiry."""
    first = peer.syn()[0]
    assert peer.advance(999) == []
    again = peer.advance(1)  # t = 1000 ms
    assert [s.flags for s in again] == ["SA"]
    assert (again[0].seq, again[0].options) == (first.seq, first.options)
    assert peer.advance(1999) == []
    assert [s.flags for s in peer.advance(1)] == ["SA"]  # t = 3000 ms: 2 s later
    assert peer.advance(3999) == []
    assert [s.flags for s in peer.advance(1)] == ["SA"]  # t = 7000 ms: 4 s later
    st = stack.stats()
    assert (st["rto_expired"], st["retransmits"]) == (3, 3)
    # The handshake still completes on the late ACK.
    assert peer.send("A") == []
    assert stack.stats()["conns_opened"] == 1


def test_bad_ack_in_syn_received_is_reset(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4 SYN-RECEIVED, fifth check: an ACK that does not acknowledge our
    SYN is answered by <SEQ=SEG.ACK><CTL=RST>, and the connection stays half-open."""
    sa = peer.syn()[0]
    bogus = sa.seq + 1000
    segs = peer.send("A", ack=bogus)
    assert [s.flags for s in segs] == ["R"]
    assert segs[0].seq == bogus
    assert stack.stats()["conns_opened"] == 0
    # The right ACK still completes the handshake.
    assert peer.send("A") == []
    assert stack.stats()["conns_opened"] == 1


def test_no_mss_option_means_536(peer: Peer, site: Site) -> None:
    """RFC 9293 3.7.1: without an MSS option the sender assumes 536 bytes, so the
    response goes out in segments of at most 536 bytes."""
    sa = peer.syn(mss=None)[0]
    assert sa.options == [("MSS", 1460)]  # ours is sent regardless
    peer.send("A")
    resp, segs = peer.fetch(get("/files/mid.bin"))
    assert resp.raw == site.expect("/files/mid.bin")
    sizes = [len(s.payload) for s in segs if s.payload]
    assert max(sizes) == 536
    assert all(n == 536 for n in sizes[:-1])


def test_peer_mss_above_template_is_capped(peer: Peer, site: Site) -> None:
    """RFC 9293 3.7.1: the MSS option bounds what we send, it does not oblige us to fill
    it; segments never exceed the template MSS the bundle was cut at."""
    peer.connect(mss=9000)
    resp, segs = peer.fetch(get("/files/mid.bin"))
    assert resp.raw == site.expect("/files/mid.bin")
    sizes = [len(s.payload) for s in segs if s.payload]
    assert all(n == TEMPLATE_MSS for n in sizes[:-1])


def test_syn_with_ip_options_is_answered(stack: Stack, peer: Peer) -> None:
    """RFC 791 3.1: the IP header length (IHL) may exceed 5 words; the TCP header starts
    after the options and the checksum's pseudo-header covers only the TCP length."""
    syn = peer.frame("S", options=[("MSS", 1460)])
    syn[IP].options = [IPOption_NOP()] * 4
    del syn[IP].ihl, syn[IP].len, syn[IP].chksum, syn[TCP].chksum
    segs = peer.collect(stack.send(syn))
    assert [s.flags for s in segs] == ["SA"]
    assert segs[0].ack == peer.iss + 1


def test_syn_fin_is_dropped(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.2 LISTEN: only a SYN opens a connection; SYN+FIN is an impossible
    combination and is dropped without an answer."""
    assert peer.send("SF") == []
    st = stack.stats()
    assert (st["drop_tcp_flags"], st["conns_active"], st["rst_sent"]) == (1, 0, 0)


def test_full_pool_answers_syn_with_a_cookie(make_stack: Callable[..., Stack]) -> None:
    """RFC 4987 3.6: a listener without room for another connection answers the SYN with
    a cookie and keeps nothing, rather than ignoring it (tests/stack/test_pool.py)."""
    stack = make_stack(max_conns=2)
    a, b, c = (Peer(stack, sport=p) for p in (40001, 40002, 40003))
    a.connect()
    assert [s.flags for s in b.syn()] == ["SA"]  # half-open counts against the pool too
    assert [s.flags for s in c.syn()] == ["SA"]
    st = stack.stats()
    assert (st["syn_received"], st["syncookies_sent"], st["conns_active"]) == (3, 1, 2)
    assert (st["syn_dropped_pool_full"], st["rst_sent"]) == (0, 0)


def test_linux_syn_options_are_answered(peer: Peer) -> None:
    """RFC 7323 2.2 and 3.2, RFC 2018 2: a SYN as Linux sends it, with SACK-permitted,
    timestamps and window scale, is answered with each of them: our MSS,
    SACK-permitted, a timestamp echoing the SYN's TSval, and window scale 0."""
    segs = peer.syn(mss=None, options=[
        ("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)), ("NOP", None),
        ("WScale", 7),
    ])  # fmt: skip
    assert [s.flags for s in segs] == ["SA"]
    opts = segs[0].options
    assert [k for k, _ in opts] == ["MSS", "SAckOK", "Timestamp", "NOP", "WScale"]
    assert opts[0] == ("MSS", 1460) and opts[4] == ("WScale", 0)
    assert opts[2][1][1] == 12345  # TSecr echoes the SYN's TSval


def test_unknown_syn_options_are_not_echoed(peer: Peer) -> None:
    """RFC 9293 3.7: options a TCP does not know are skipped by their length, and never
    offered back."""
    segs = peer.syn(mss=None, options=[
        ("MSS", 1460), (253, b"\x00\x01"), ("NOP", None), ("WScale", 7),
    ])  # fmt: skip
    assert [s.flags for s in segs] == ["SA"]
    assert segs[0].options == [("MSS", 1460), ("NOP", None), ("WScale", 0)]
