# tests/stack/test_impair.py: the impairment layer (ssdk/csrc/nic/nic_impair.c) between the
# in-memory backend and the stack, on the virtual clock.
#
# Each impairment does what it says, in each direction: loss, duplication, delay with
# jitter, reordering, corruption (which the stack must catch by checksum). A seed replays
# the same decisions. And a whole response crosses a path that loses, reorders and
# duplicates in both directions, byte-exact, with a client that retransmits like a real
# one and keeps only in-order data.
from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from harness import CLIENT_IP, CLIENT_MAC, MOD, SERVER_IP, SERVER_MAC, Peer, Seg, Site, Stack, get
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw, raw

from ssdk.core.runtime.engine import EngineError, ffi, lib
from ssdk.core.runtime.impair import Impairment

DIRECTIONS = ("rx", "tx")


def impaired(
    make_stack: Callable[..., Stack],
    rx: Impairment | None = None,
    tx: Impairment | None = None,
    seed: int = 1,
    **config: object,
) -> Stack:
    stack = make_stack(**config)
    stack.engine.impair(rx, tx, seed)
    return stack


def one_way(direction: str, imp: Impairment) -> dict[str, Impairment | None]:
    return {"rx": imp, "tx": None} if direction == "rx" else {"rx": None, "tx": imp}


def ping(seq: int, data: bytes = b"") -> Packet:
    return (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP)
        / ICMP(type=8, id=0x55, seq=seq)
        / Raw(data)
    )


def seqs(frames: list[Ether]) -> list[int]:
    """The sequence numbers of the echo replies among frames, in the order sent."""
    return [int(f[ICMP].seq) for f in frames]


def inet_sum_ok(data: bytes) -> bool:
    """RFC 1071, written out here: the one's complement sum of a checksummed block."""
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


# --- determinism -----------------------------------------------------------------------


def trace(make_stack: Callable[..., Stack], seed: int) -> tuple[list[tuple[float, int]], object]:
    """200 pings, one per millisecond, through every impairment at once in both
    directions: (when each reply left, its sequence number) and the counters."""
    imp = Impairment(loss=0.2, duplicate=0.1, reorder=0.2, corrupt=0.05, delay_ms=1, jitter_ms=3)
    stack = impaired(make_stack, imp, imp, seed)
    seen: list[tuple[float, int]] = []
    for i in range(200):
        stack.engine.inject(raw(ping(i, b"x" * 64)))
        # Raw frames: a corrupted reply would fail the harness's checksum checks.
        stack.engine.advance(1)
        seen += [(stack.now_ms, len(f)) for f in stack.engine.take()]
    for _ in range(20):
        stack.engine.advance(1)
        seen += [(stack.now_ms, len(f)) for f in stack.engine.take()]
    return seen, (stack.engine.impair_stats(), stack.stats())


def test_same_seed_same_decisions(make_stack: Callable[..., Stack]) -> None:
    """The same seed and the same frames give the same fate to every frame; another seed
    gives another."""
    first = trace(make_stack, 7)
    assert first == trace(make_stack, 7)
    assert first != trace(make_stack, 8)
    counters = first[1][0]  # type: ignore[index]
    for d in DIRECTIONS:
        c = counters[d]
        assert c["dropped"] and c["duplicated"] and c["reordered"] and c["corrupted"], c


def test_directions_draw_apart(make_stack: Callable[..., Stack]) -> None:
    """One seed, two streams: rx and tx with the same loss do not lose the same frames
    (if they did, every reply to a ping that got through would get through too)."""
    stack = impaired(make_stack, Impairment(loss=0.5), Impairment(loss=0.5), seed=3)
    out = stack.send(*(ping(i) for i in range(200)))
    c = stack.engine.impair_stats()
    assert c["tx"]["frames"] == c["rx"]["frames"] - c["rx"]["dropped"]
    assert 0 < len(out) < c["tx"]["frames"]


# --- each impairment ---------------------------------------------------------------------


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_loss_100_delivers_nothing_and_counts(
    make_stack: Callable[..., Stack], direction: str
) -> None:
    stack = impaired(make_stack, **one_way(direction, Impairment(loss=1.0)))
    assert stack.send(*(ping(i) for i in range(10))) == []
    st, c = stack.stats(), stack.engine.impair_stats()[direction]
    assert (c["frames"], c["dropped"]) == (10, 10)
    # rx: the stack never saw them; tx: it answered all ten, into the void.
    assert st["rx_frames"] == (0 if direction == "rx" else 10)
    assert st["icmp_echo_replies"] == (0 if direction == "rx" else 10)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_dup_100_delivers_every_frame_twice(
    make_stack: Callable[..., Stack], direction: str
) -> None:
    stack = impaired(make_stack, **one_way(direction, Impairment(duplicate=1.0)))
    out = stack.send(*(ping(i, b"abc") for i in range(5)))
    assert seqs(out) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    if direction == "tx":  # the very same frame (rx: two replies, with two IP ids)
        assert all(raw(out[i]) == raw(out[i + 1]) for i in range(0, 10, 2))
    st, c = stack.stats(), stack.engine.impair_stats()[direction]
    assert (c["frames"], c["duplicated"]) == (5, 5)
    assert st["icmp_echo_replies"] == (10 if direction == "rx" else 5)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_delay_holds_until_the_clock_passes(
    make_stack: Callable[..., Stack], direction: str
) -> None:
    stack = impaired(make_stack, **one_way(direction, Impairment(delay_ms=10)))
    assert stack.send(ping(1)) == []
    assert stack.stats()["icmp_echo_replies"] == (0 if direction == "rx" else 1)
    assert stack.engine.impair_stats()[direction]["held"] == 1
    assert stack.advance(9.999) == []
    assert seqs(stack.advance(0.001)) == [1]  # t = 10 ms exactly
    c = stack.engine.impair_stats()[direction]
    assert (c["delayed"], c["held"]) == (1, 0)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_jitter_spreads_within_its_bounds(make_stack: Callable[..., Stack], direction: str) -> None:
    """delay 10 ms + jitter 5 ms: each frame arrives between 10 and 15 ms after it was
    sent, and not all at once."""
    stack = impaired(make_stack, **one_way(direction, Impairment(delay_ms=10, jitter_ms=5)))
    assert stack.send(*(ping(i) for i in range(50))) == []
    arrivals: dict[int, float] = {}
    for _ in range(16):
        for s in seqs(stack.advance(1)):
            arrivals[s] = stack.now_ms
    assert sorted(arrivals) == list(range(50))
    assert all(10 <= t <= 15 for t in arrivals.values())
    assert len(set(arrivals.values())) > 1


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_reorder_changes_order_and_loses_nothing(
    make_stack: Callable[..., Stack], direction: str
) -> None:
    """A reordered frame goes behind 1 to 3 later ones, or 2 ms late when none follow."""
    stack = impaired(make_stack, **one_way(direction, Impairment(reorder=0.3)), seed=5)
    got = seqs(stack.send(*(ping(i) for i in range(40))))
    got += seqs(stack.advance(2))
    assert sorted(got) == list(range(40))
    assert got != sorted(got)
    c = stack.engine.impair_stats()[direction]
    assert c["reordered"] > 0 and c["held"] == 0


def test_rx_corruption_is_caught_by_checksums(make_stack: Callable[..., Stack]) -> None:
    """Each segment has one byte changed past its Ethernet header: the stack drops all
    of them on a checksum (or the length check IPv4 does first), and answers none. Intact,
    every one would be answered with a RST (no connection)."""
    stack = impaired(make_stack, Impairment(corrupt=1.0), seed=11)
    peer = Peer(stack)
    frames = [peer.frame("A", bytes(1000), seq=i * 1000) for i in range(30)]
    assert stack.send(*frames) == []
    st = stack.stats()
    assert stack.engine.impair_stats()["rx"]["corrupted"] == 30
    caught = ("drop_ip_csum", "drop_tcp_csum", "drop_ip_len", "drop_ip_version")
    assert sum(st[k] for k in caught) == 30, {k: st[k] for k in caught}
    assert st["drop_tcp_csum"] > 0
    assert st["rst_sent"] == 0


def test_tx_corruption_breaks_a_checksum(make_stack: Callable[..., Stack]) -> None:
    """Corrupted replies leave the stack with one byte changed inside the datagram, so
    each fails the IPv4 header or the ICMP checksum (recomputed here, not by ssdk)."""
    stack = impaired(make_stack, None, Impairment(corrupt=1.0), seed=11)
    for i in range(30):
        stack.engine.inject(raw(ping(i, bytes(range(200)))))
    stack.engine.poll()
    out = stack.engine.take()
    assert len(out) == 30
    for f in out:
        hdr = f[14:34]
        datagram_ok = inet_sum_ok(hdr) and inet_sum_ok(f[34 : 14 + int.from_bytes(hdr[2:4])])
        assert not datagram_ok
    assert stack.engine.impair_stats()["tx"]["corrupted"] == 30


# --- the C API's refusals --------------------------------------------------------------


def test_impair_needs_a_backend_and_happens_once(make_stack: Callable[..., Stack]) -> None:
    stack = impaired(make_stack, Impairment(loss=0.1))
    with pytest.raises(EngineError, match="impaired already"):
        stack.engine.impair(Impairment(loss=0.1), None, 1)


def test_c_refuses_a_probability_above_one(make_stack: Callable[..., Stack]) -> None:
    """The C side checks its input itself, for callers that skip Python's checks."""
    stack = make_stack()
    bad = ffi.new("struct ssdk_impair *", {"loss": 1.5})
    err = ffi.new("char[256]")
    assert lib.ssdk_impair(stack.engine._e, bad, ffi.NULL, 1, err, len(err)) == -1
    assert "rx loss must be a probability" in ffi.string(err).decode()
    nan = ffi.new("struct ssdk_impair *", {"corrupt": math.nan})
    assert lib.ssdk_impair(stack.engine._e, ffi.NULL, nan, 1, err, len(err)) == -1
    assert "tx corrupt" in ffi.string(err).decode()
    assert stack.send(ping(1)) != []  # the backend is as it was


# --- a whole response across a bad path -----------------------------------------------------


class LossyPeer(Peer):
    """A client behind loss, reordering and duplication. It keeps only in-order data:
    a segment beyond a gap is dropped (as by a receiver without an out-of-order queue),
    and the ACK it answers with repeats what it has, which the server counts as a
    duplicate ACK. A SYN-ACK is taken whenever it comes (the first may be lost)."""

    def _absorb(self, seg: Seg) -> None:
        if seg.flags == "SA":
            if not self.synced:
                self.irs, self.rcv_nxt, self.synced = seg.seq, (seg.seq + 1) % MOD, True
            return
        if self.synced and seg.payload and (seg.seq - self.irs - 1) % MOD > len(self.stream):
            return
        super()._absorb(seg)


def fetch_lossy(peer: LossyPeer, request: bytes, want: int, limit_ms: float = 120_000) -> int:
    """Connect, send `request`, and ACK every segment until `want` bytes are in order.
    The SYN and the request are sent again every 300 ms until the server shows it has
    them, as a client's own retransmission timer would. Returns the ACKs sent."""
    stack = peer.stack
    retry_ms, step_ms = 300.0, 2.0
    last_try = -math.inf
    req_end = (peer.iss + 1 + len(request)) % MOD
    req_acked = False
    acks = 0

    def react(segs: list[Seg]) -> None:
        nonlocal req_acked, acks
        queue = list(segs)
        while queue:
            seg = queue.pop(0)
            if "A" in seg.flags and peer.synced and (seg.ack - req_end) % MOD < MOD // 2:
                req_acked = True
            if seg.payload or seg.flags == "SA":
                acks += 1
                queue += peer.ack()

    first_syn, first_req = True, True
    while len(peer.stream) < want:
        assert stack.now_ms < limit_ms, f"only {len(peer.stream)} of {want} bytes"
        if stack.now_ms - last_try >= retry_ms and not req_acked:
            last_try = stack.now_ms
            if not peer.synced:
                react(peer.syn() if first_syn else peer.syn(seq=peer.iss))
                first_syn = False
            else:
                react(peer.request(request) if first_req
                      else peer.send("PA", request, seq=peer.iss + 1))  # fmt: skip
                first_req = False
        react(peer.advance(step_ms))
    return acks


def test_fetch_100k_through_loss_reorder_dup_both_ways(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """10% loss, 5% reordering and 2% duplication in both directions: the handshake, the
    request and the 100 kB response get through, every byte as the template has it
    (the harness also checks that every retransmitted byte equals the first copy)."""
    imp = Impairment(loss=0.10, reorder=0.05, duplicate=0.02)
    stack = impaired(make_stack, imp, imp, seed=2024)
    peer = LossyPeer(stack)
    path = "/files/huge.bin"
    want = len(site.expect(path))
    fetch_lossy(peer, get(path), want)
    assert peer.responses()[0].raw == site.expect(path)
    c, st = stack.engine.impair_stats(), stack.stats()
    for d in DIRECTIONS:
        assert c[d]["dropped"] and c[d]["reordered"] and c[d]["duplicated"], c
    assert st["retransmits"] > 0
    assert st["conns_opened"] == 1 and st["conns_reset"] == 0
