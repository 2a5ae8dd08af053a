# tests/stack/test_close.py: closing a connection (RFC 9293 3.6 and the state rules of
# 3.10.7.4): the client's FIN, our FIN after a closing response, TIME-WAIT and its
# timer, simultaneous close, FIN retransmission, and the idle timeout. The bounds on
# states with our FIN unacknowledged are in test_send_timeout.py.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import CLOSE_VALUE, Peer, Site, Stack, get
from scapy.layers.inet import TCP

TIME_WAIT_MS = 2000  # shorter than the default minute, so the tests wait less


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack(time_wait_ms=TIME_WAIT_MS)


def test_client_fin_after_response(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.6 (case 2, the remote user closes) and 3.10.7.4: a FIN from the client
    is acknowledged; with nothing left to send we close too, so our FIN rides on that
    ACK (CLOSE-WAIT -> LAST-ACK); the client's ACK of our FIN ends the connection and
    the slot leaves the table without TIME-WAIT."""
    peer.connect()
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    segs = peer.send("FA")
    assert [s.flags for s in segs] == ["FA"]
    fin = segs[0]
    assert peer.rack(fin) == peer.sent  # acknowledges the client's FIN
    assert peer.rseq(fin) == 1 + len(resp.raw)
    assert stack.stats()["conns_active"] == 1
    assert peer.send("A") == []
    st = stack.stats()
    assert (st["conns_active"], st["conns_closed"], st["conns_time_wait"]) == (0, 1, 0)
    assert st["conns_reset"] == 0


def test_client_fin_while_response_in_flight(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4 CLOSE-WAIT: after the client's FIN we may still send; the
    response is completed, and our FIN comes only after all of its bytes."""
    peer.connect()
    first = peer.request(get("/files/big.bin"))
    assert len(first) == 10  # the initial window; the rest waits for ACKs
    # The client half-closes without acknowledging any of the response yet.
    segs = peer.send("FA", ack=peer.irs + 1)
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == peer.sent
    out = peer.drain()
    assert bytes(peer.stream) == site.expect("/files/big.bin")
    fins = [s for s in out if s.has("F")]
    assert len(fins) == 1 and peer.rseq(fins[0]) == 1 + len(peer.stream)
    assert stack.stats()["conns_active"] == 0  # drain's last ACK acknowledged our FIN


def test_request_and_fin_in_one_segment(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.10.7.4: a FIN after data in the same segment is processed after the
    data; the request is still answered (a client that half-closes after writing)."""
    peer.connect()
    segs = peer.send("FPA", get("/a"))
    assert segs and peer.rack(segs[0]) == peer.sent  # request and FIN acknowledged
    peer.drain()
    assert peer.responses()[0].raw == site.expect("/a")
    assert peer.fin
    assert stack.stats()["conns_active"] == 0


def test_server_fin_then_time_wait(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 9293 3.6 (case 1, the local user closes): after a "Connection: close" response
    our FIN follows the data (FIN-WAIT-1); the client's ACK of it gives FIN-WAIT-2, its
    FIN is acknowledged and we enter TIME-WAIT, which ends when its timer expires
    (RFC 9293 3.10.8: the 2 MSL timeout; here the configured time_wait_ms). FIN-WAIT-2
    and TIME-WAIT are kept outside the connection pool (timewait.c): once our FIN is
    acknowledged nothing can be sent again, and the slot is free at once."""
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: close"]))
    assert [s.flags for s in segs] == ["PA", "FA"]
    assert segs[0].payload == site.expect("/a", connection=CLOSE_VALUE)
    assert peer.send("A") == []  # FIN-WAIT-2
    st = stack.stats()
    assert (st["conns_active"], st["conns_fin_wait_2"], st["conns_time_wait"]) == (0, 1, 0)
    segs = peer.send("FA")
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == peer.sent
    assert peer.rseq(segs[0]) == len(peer.stream) + 2  # after our FIN
    st = stack.stats()
    assert (st["conns_active"], st["conns_time_wait"], st["conns_closed"]) == (0, 1, 1)
    assert st["conns_fin_wait_2"] == 0
    assert peer.advance(TIME_WAIT_MS - 1) == []
    assert stack.stats()["conns_time_wait"] == 1
    assert peer.advance(1) == []  # TIME-WAIT ends silently
    st = stack.stats()
    assert (st["conns_active"], st["conns_time_wait"], st["conns_closed"]) == (0, 0, 1)


def test_fin_and_ack_of_our_fin_together(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4 FIN-WAIT-1: a segment that acknowledges our FIN and carries the
    client's FIN takes us through FIN-WAIT-2 into TIME-WAIT at once."""
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    assert peer.fin
    segs = peer.send("FA")
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == peer.sent
    assert stack.stats()["conns_time_wait"] == 1


def test_simultaneous_close(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.6 (case 3) and figure 13: the client's FIN crosses ours, so it does
    not acknowledge our FIN: FIN-WAIT-1 -> CLOSING, then its ACK of our FIN -> TIME-WAIT."""
    peer.connect()
    req = get("/a", headers=["Connection: close"])
    segs = peer.request(req)
    assert [s.flags for s in segs] == ["PA", "FA"]
    # The client's FIN acknowledges the response but not our FIN, which it has not seen.
    fin_ack = segs[1].seq
    segs = peer.send("FA", ack=fin_ack)
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == peer.sent
    assert stack.stats()["conns_time_wait"] == 0  # CLOSING
    assert peer.send("A", ack=fin_ack + 1) == []  # an ACK is not acknowledged
    assert stack.stats()["conns_time_wait"] == 1
    peer.advance(TIME_WAIT_MS)
    assert stack.stats()["conns_active"] == 0


def test_retransmitted_fin_in_time_wait_restarts_timer(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4 TIME-WAIT: the only thing that can arrive is a retransmission
    of the remote FIN; acknowledge it and restart the 2 MSL timeout."""
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    peer.send("A")
    fin_seq = peer.snd_nxt
    peer.send("FA")
    assert peer.advance(TIME_WAIT_MS - 500) == []
    again = peer.send("FA", seq=fin_seq)  # our ACK of its FIN was lost, it says
    assert [s.flags for s in again] == ["A"]
    assert peer.rack(again[0]) == peer.sent
    assert peer.advance(TIME_WAIT_MS - 1) == []
    assert stack.stats()["conns_time_wait"] == 1  # the timer started again
    peer.advance(1)
    assert stack.stats()["conns_time_wait"] == 0


def test_new_syn_ends_time_wait(stack: Stack, peer: Peer, site: Site) -> None:
    """RFC 1122 4.2.2.13: a new SYN on the same 4-tuple in TIME-WAIT, with a sequence
    number above the old connection's final one, may start a new connection at once."""
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    peer.send("A")
    peer.send("FA")
    assert stack.stats()["conns_time_wait"] == 1
    again = Peer(stack, iss=peer.snd_nxt + 100_000)
    again.connect()
    st = stack.stats()
    assert (st["conns_active"], st["conns_time_wait"], st["conns_opened"]) == (1, 0, 2)
    resp, _ = again.fetch(get("/b"))
    assert resp.raw == site.expect("/b")


def test_our_fin_is_retransmitted(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.4, RFC 8985 7 and RFC 6298 5.4: our FIN occupies sequence space, so
    it is probed for as a lost tail is (10 ms after it went: the floor without SACK),
    then retransmitted on RTO expiry like data (RTO min 200 ms, from the probe) until it
    is acknowledged."""
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: close"]))
    fin = segs[1]
    peer.send("A", ack=fin.seq)  # acknowledge the data but not the FIN
    assert peer.advance(9) == []
    probe = peer.advance(1)
    assert [(s.flags, s.seq) for s in probe] == [("FA", fin.seq)]
    assert peer.advance(199) == []
    again = peer.advance(1)
    assert [(s.flags, s.seq) for s in again] == [("FA", fin.seq)]
    st = stack.stats()
    assert (st["retransmits"], st["tail_probes"], st["rto_expired"]) == (2, 1, 1)
    assert peer.send("A") == []  # its ACK now gets us to FIN-WAIT-2


def test_idle_connection_is_closed(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 9112 9.5: a server may close an idle persistent connection; it does so
    gracefully, with a FIN after the last complete response."""
    stack = make_stack(idle_ms=5000)
    peer = Peer(stack)
    peer.connect()
    resp, _ = peer.fetch(get("/a"))
    assert resp.raw == site.expect("/a")
    assert peer.advance(4999) == []
    segs = peer.advance(1)
    assert [s.flags for s in segs] == ["FA"]
    assert peer.rseq(segs[0]) == 1 + len(resp.raw)
    # The client acknowledges our FIN and closes too: its FIN is acknowledged, TIME-WAIT.
    segs = peer.send("FA")
    assert [s.flags for s in segs] == ["A"]
    assert peer.rack(segs[0]) == peer.sent
    assert stack.stats()["conns_time_wait"] == 1


def test_fin_wait_2_is_not_forever(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.10.7.4 gives FIN-WAIT-2 no way out but the peer's FIN; a peer that
    never sends it would hold its place forever, so (like Linux's tcp_fin_timeout) it
    is given up after the idle time, counted as timed out."""
    stack = make_stack(idle_ms=5000)
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    assert peer.send("A") == []
    peer.advance(5000)
    st = stack.stats()
    assert (st["conns_active"], st["conns_fin_wait_2"], st["conns_timed_out"]) == (0, 0, 1)


def test_fin_wait_2_is_not_pushed_back(make_stack: Callable[..., Stack]) -> None:
    """As Linux's tcp_fin_timeout, FIN-WAIT-2's bound runs from the ACK of our FIN: a
    peer that keeps sending bytes (read and dropped after our close) without its FIN
    does not push it back, and the entry is given up on time. Those bytes are
    acknowledged (RFC 9293 3.10.7.4: FIN-WAIT-2 still receives)."""
    stack = make_stack(idle_ms=5000)
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    assert peer.send("A") == []  # FIN-WAIT-2 from here
    start = stack.now_ms
    assert stack.stats()["conns_active"] == 0  # the slot is free already
    for _ in range(4):
        peer.advance(1000)
        segs = peer.send("PA", b"x")
        assert [s.flags for s in segs] == ["A"] and peer.rack(segs[0]) == peer.sent
    peer.advance(start + 5000 - 1 - stack.now_ms)
    assert stack.stats()["conns_fin_wait_2"] == 1
    peer.advance(1)
    st = stack.stats()
    assert (st["conns_fin_wait_2"], st["conns_timed_out"]) == (0, 1)


def test_fin_wait_2_then_data_and_fin(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4: in FIN-WAIT-2 (an entry of the table) the peer's last bytes
    and its FIN are acknowledged, and TIME-WAIT follows for its full time."""
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    assert peer.send("A") == []
    segs = peer.send("FPA", b"bye")
    assert [s.flags for s in segs] == ["A"] and peer.rack(segs[0]) == peer.sent
    st = stack.stats()
    assert (st["conns_fin_wait_2"], st["conns_time_wait"]) == (0, 1)
    assert peer.advance(TIME_WAIT_MS - 1) == []
    peer.advance(1)
    assert stack.stats()["conns_time_wait"] == 0


def test_ack_in_time_wait_is_not_answered(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4: in CLOSING an ACK of our FIN moves to TIME-WAIT and nothing
    else is done; in TIME-WAIT a segment without FIN is dropped (eighth check: "If the
    FIN bit is not set, drop the segment and return"). An ACK carries nothing to
    acknowledge, so it gets no ACK back."""
    peer.connect()
    segs = peer.request(get("/a", headers=["Connection: close"]))
    our_fin = segs[1].seq
    peer.send("FA", ack=our_fin)  # crosses our FIN: CLOSING
    assert peer.send("A", ack=our_fin + 1) == []  # CLOSING -> TIME-WAIT, silently
    assert stack.stats()["conns_time_wait"] == 1
    assert peer.send("A") == []  # a duplicate of that ACK in TIME-WAIT


def test_default_idle_timeout_fires_on_time(stack: Stack, peer: Peer) -> None:
    """RFC 9112 9.5 with the default 60 s idle time, fifteen times the timer wheel's
    span: a clock jump to just before the deadline fires nothing, the next millisecond
    fires the FIN."""
    peer.connect()
    peer.fetch(get("/a"))
    assert peer.advance(59_999) == []
    assert [s.flags for s in peer.advance(1)] == ["FA"]


def test_exact_rst_ends_time_wait(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4 TIME-WAIT, second check: a RST (at RCV.NXT, RFC 5961 3.2) ends
    the state at once; nothing is sent back."""
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    peer.send("FA")
    assert stack.stats()["conns_time_wait"] == 1
    assert peer.send("R") == []
    st = stack.stats()
    assert (st["conns_active"], st["conns_time_wait"], st["rst_received"]) == (0, 0, 1)


def test_data_in_time_wait_is_dropped(stack: Stack, peer: Peer) -> None:
    """RFC 9293 3.10.7.4 TIME-WAIT: a FIN has come, so no text can follow; a segment
    that is not the FIN again is dropped without an answer and the timer runs on."""
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    peer.send("FA")
    stack.advance(TIME_WAIT_MS // 2)
    assert peer.send("PA", get("/b"), seq=peer.snd_nxt) == []
    assert peer.advance(TIME_WAIT_MS // 2) == []
    assert stack.stats()["conns_active"] == 0  # the original deadline held


def close_by_server(peer: Peer) -> None:
    """A keep-alive-less request, then the client's ACK and FIN: TIME-WAIT on our side."""
    peer.connect()
    peer.request(get("/a", headers=["Connection: close"]))
    peer.send("A")
    peer.send("FA")


def test_time_wait_table_is_bounded(make_stack: Callable[..., Stack]) -> None:
    """TIME-WAIT is kept in a table of its own, outside the pool, and the table is
    bounded: when it is full the oldest entry is given up early and counted, so closes
    can never exhaust memory or ports (RFC 9293 3.6.1 leaves the resources to the
    implementation)."""
    stack = make_stack(time_wait_ms=TIME_WAIT_MS, time_wait_max=2, max_conns=4)
    for port in (41000, 41001, 41002):
        close_by_server(Peer(stack, sport=port))
    st = stack.stats()
    assert (st["conns_active"], st["conns_time_wait"], st["tw_evicted"]) == (0, 2, 1)
    # The evicted one is gone: its retransmitted FIN is now a stray segment (RST).
    stray = Peer(stack, sport=41000)
    assert [f[TCP].flags for f in stack.send(stray.frame("FA", seq=5, ack=5))] == ["R"]
