# tests/stack/test_reset.py: resets we send for segments that belong to no connection
# (RFC 9293 3.10.7.1 and 3.10.7.2), resets we receive and how they are checked against
# blind injection (RFC 5961 3.2), challenge ACKs for SYNs (RFC 5961 4.2), and the
# acceptability tests of RFC 9293 3.10.7.4 that answer with an ACK.
from __future__ import annotations

from harness import PORT, Peer, Site, Stack, get
from scapy.layers.inet import TCP


def test_rst_for_closed_port_with_ack(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.1 (CLOSED): if the segment has ACK, the reset is <SEQ=SEG.ACK>
    <CTL=RST>, sent from the port that was asked."""
    segs = peer.send("A", seq=5000, ack=777_777, dport=81)
    assert len(segs) == 1
    rst = segs[0]
    assert rst.flags == "R"
    assert (rst.seq, rst.ack, rst.sport) == (777_777, 0, 81)
    assert rst.payload == b""
    st = stack.stats()
    assert (st["drop_tcp_port"], st["rst_sent"], st["conns_active"]) == (1, 1, 0)


def test_rst_for_closed_port_syn(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.1: without ACK, the reset is <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
    <CTL=RST,ACK>; a SYN counts one in SEG.LEN."""
    segs = peer.send("S", seq=5000, dport=81, options=[("MSS", 1460)])
    assert [s.flags for s in segs] == ["RA"]
    rst = segs[0]
    assert (rst.seq, rst.ack, rst.sport, rst.dport) == (0, 5001, 81, peer.sport)
    assert rst.pkt[TCP].options == []


def test_rst_for_closed_port_data_and_fin(peer: Peer) -> None:
    """RFC 9293 3.10.7.1: SEG.LEN counts the payload and the FIN."""
    segs = peer.send("FP", b"0123456789", seq=5000, dport=81)
    assert [s.flags for s in segs] == ["RA"]
    assert (segs[0].seq, segs[0].ack) == (0, 5000 + 10 + 1)


def test_no_rst_for_rst(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.1: an incoming segment with RST is discarded; a reset never
    answers a reset (on a closed port or on the listening one)."""
    assert peer.send("R", seq=5000, dport=81) == []
    assert peer.send("RA", seq=5000, ack=9, dport=81) == []
    assert peer.send("R", seq=5000) == []
    assert stack.stats()["rst_sent"] == 0


def test_rst_for_ack_matching_no_connection(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.2 (LISTEN), second check: any acknowledgment is bad when no
    connection exists; the reset is <SEQ=SEG.ACK><CTL=RST>."""
    segs = peer.send("A", seq=5000, ack=123_456)
    assert [s.flags for s in segs] == ["R"]
    assert (segs[0].seq, segs[0].sport) == (123_456, PORT)
    # Data for a connection the server forgot is reset the same way.
    segs = peer.send("PA", get("/"), seq=5000, ack=42)
    assert [s.flags for s in segs] == ["R"]
    assert segs[0].seq == 42
    st = stack.stats()
    assert (st["rst_sent"], st["conns_active"]) == (2, 0)


def test_fin_without_ack_to_listener_is_dropped(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.2 (LISTEN), fourth check: a segment with neither SYN, ACK nor RST
    is dropped, without a reply."""
    assert peer.send("F", seq=5000) == []
    assert stack.stats()["drop_tcp_flags"] == 1


def test_exact_rst_closes(stack: Stack, peer: Peer) -> None:
    """RFC 5961 3.2: a RST whose sequence number is exactly RCV.NXT resets the connection
    (RFC 9293 3.10.7.4: ESTABLISHED, second check); nothing is sent back."""
    peer.connect()
    peer.fetch(get("/a"))
    assert peer.send("R") == []
    st = stack.stats()
    assert (st["rst_received"], st["conns_reset"], st["conns_active"]) == (1, 1, 0)
    # The connection is gone: the next segment on the tuple is reset.
    assert [s.flags for s in peer.send("A")] == ["R"]


def test_exact_rst_during_response_stops_it(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4: on a reset the connection is closed at once; the response in
    flight is abandoned and nothing is retransmitted later."""
    peer.connect()
    peer.request(get("/files/big.bin"))
    assert peer.send("R") == []
    assert peer.advance(10_000) == []
    assert stack.stats()["conns_active"] == 0


def test_inexact_rst_in_window_gets_challenge_ack(stack: Stack, peer: Peer) -> None:
    """RFC 5961 3.2: a RST inside the window but not at RCV.NXT is answered with a
    challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, and the connection stays."""
    peer.connect()
    peer.fetch(get("/a"))
    segs = peer.send("R", seq=peer.snd_nxt + 100)
    assert [s.flags for s in segs] == ["A"]
    ack = segs[0]
    assert peer.rack(ack) == peer.sent
    assert peer.rseq(ack) == 1 + len(peer.stream)
    st = stack.stats()
    assert (st["challenge_acks"], st["conns_reset"], st["conns_active"]) == (1, 0, 1)
    # An off-path attacker cannot know RCV.NXT; the real peer answers the challenge ACK
    # with an exact RST, which then closes.
    assert peer.send("R") == []
    assert stack.stats()["conns_active"] == 0


def test_rst_outside_window_is_dropped(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 5961 3.2 and RFC 9293 3.10.7.4 first check: a RST outside the receive window
    is silently discarded (no ACK: it is never answered), and the connection lives on."""
    peer.connect()
    assert peer.send("R", seq=peer.snd_nxt + 5000) == []  # window is 4096
    assert peer.send("R", seq=peer.snd_nxt - 1) == []  # just below RCV.NXT
    st = stack.stats()
    assert (st["drop_tcp_seq"], st["conns_active"], st["challenge_acks"]) == (2, 1, 0)
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")


def test_syn_on_established_gets_challenge_ack(stack: Stack, peer: Peer) -> None:
    """RFC 5961 4.2: a SYN on a synchronized connection, whatever its sequence number, is
    answered with a challenge ACK and does not reset the connection."""
    peer.connect()
    for seq in (peer.snd_nxt, peer.snd_nxt + 10, peer.iss):
        segs = peer.send("S", seq=seq, options=[("MSS", 1460)])
        assert [s.flags for s in segs] == ["A"], f"SYN at {seq}"
        assert peer.rack(segs[0]) == peer.sent
        assert peer.rseq(segs[0]) == 1
    assert stack.stats()["conns_active"] == 1
    assert stack.stats()["conns_opened"] == 1


def test_ack_of_unsent_data_gets_ack(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4 ESTABLISHED, fifth check: if SEG.ACK > SND.NXT (it acks
    something not yet sent), send an ACK, drop the segment and return."""
    peer.connect()
    segs = peer.send("PA", get("/a"), ack=peer.rcv_nxt + 10_000)
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == 1  # the request in it was dropped, not acknowledged
    assert stack.stats()["drop_tcp_ack"] == 1
    peer.snd_nxt = peer.iss + 1  # the peer sends the request again, properly
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")


def test_old_duplicate_data_gets_ack(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4 first check: a segment wholly before RCV.NXT is not acceptable;
    it is answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and dropped."""
    peer.connect()
    req = get("/a")
    peer.fetch(req)
    segs = peer.send("PA", req, seq=peer.iss + 1)  # the request again, as if resent
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == peer.sent
    st = stack.stats()
    assert (st["drop_tcp_seq"], st["http_requests"]) == (1, 1)


def test_out_of_order_data_gets_duplicate_ack(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4 seventh check and RFC 5681 4.2: a segment in the window but
    beyond RCV.NXT is answered at once with an ACK for RCV.NXT (a duplicate ACK, so the
    peer retransmits the gap). This stack holds the segment (RFC 9293 3.10.7.4: "segments
    with higher beginning sequence numbers SHOULD be held for later processing"), so
    once the gap is filled the whole request is in and answered."""
    peer.connect()
    req = get("/b")
    head, tail = req[:10], req[10:]
    segs = peer.send("PA", tail, seq=peer.iss + 1 + 10)
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == 1
    assert stack.stats()["ooo_held"] == 1
    peer.snd_nxt = peer.iss + 1 + len(req)
    segs = peer.send("PA", head, seq=peer.iss + 1)
    assert segs and peer.rack(segs[0]) == 1 + len(req)
    assert bytes(peer.stream) == site.expect("/b")


def test_overlapping_retransmission_is_trimmed(peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4: "If a segment's contents straddle the boundary between old and
    new, only the new parts are processed"; the old bytes are not taken twice."""
    peer.connect()
    req = get("/c")
    assert [s.flags for s in peer.request(req[:20])] == ["A"]
    segs = peer.send("PA", req, seq=peer.iss + 1)  # all of it again, from the start
    assert segs[0].payload == site.expect("/c")


def test_syn_ack_from_client_to_listener_is_reset(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.2 (LISTEN), second check: a SYN with ACK cannot be for a listener;
    it is answered <SEQ=SEG.ACK><CTL=RST>."""
    segs = peer.send("SA", seq=5000, ack=31337)
    assert [s.flags for s in segs] == ["R"]
    assert segs[0].seq == 31337
    assert stack.stats()["conns_active"] == 0


def test_exact_rst_in_syn_received_drops_half_open(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4 SYN-RECEIVED, second check: a valid RST on a connection from a
    passive OPEN returns it to LISTEN: the half-open slot is freed, no SYN-ACK follows."""
    peer.syn()
    assert peer.send("R") == []
    st = stack.stats()
    assert (st["conns_active"], st["conns_reset"]) == (0, 1)
    assert peer.advance(5000) == []  # no SYN-ACK retransmission for a dead slot


def test_data_with_ack_far_below_snd_una_is_discarded(stack: Stack, peer: Peer) -> None:
    """RFC 5961 5.2, as taken into RFC 9293 3.10.7.4 (fifth check): a stack that
    implements RFC 5961 MUST accept an ACK only in (SND.UNA - MAX.SND.WND) =< SEG.ACK
    =< SND.NXT; a segment outside it is discarded and an ACK sent back, which keeps a
    blind attacker (who guessed the sequence number but not the ACK) from injecting
    request bytes."""
    peer.connect()
    peer.fetch(get("/a"))
    far_below = peer.irs - 1_000_000  # never a value this connection acknowledged
    segs = peer.send("PA", get("/b"), ack=far_below)
    assert [(s.flags, s.payload) for s in segs] == [("A", b"")]
    assert peer.rack(segs[0]) == len(get("/a")) + 1  # the injected bytes were not taken
    assert stack.stats()["http_requests"] == 1


def test_fin_beyond_a_gap_gets_duplicate_ack(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4: a FIN is processed only when it is next in sequence; one that
    arrives beyond missing data is answered with an ACK for RCV.NXT (a duplicate ACK),
    and taken once the gap is filled."""
    peer.connect()
    req = get("/a")
    segs = peer.send("FA", seq=peer.iss + 1 + len(req))  # the request itself is lost
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == 1
    assert stack.stats()["conns_active"] == 1
    peer.snd_nxt = peer.iss + 1
    resp, _ = peer.fetch(req)
    assert resp.raw == site.expect("/a")
