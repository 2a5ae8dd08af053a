# tests/stack/test_impair_queue.py: the impairment layer's bottleneck (ssdk/csrc/nic/
# impair_queue.c): a link of a given rate behind a drop-tail queue of a given size, on
# the virtual clock, in each direction.
#
# Frames sent back to back leave the link len*8/rate apart; a burst larger than the queue
# loses exactly the frames beyond it, counted; the delay is added after the link; the
# bottleneck draws nothing from the PRNG, so a seed decides the other impairments as it
# did without one. And a whole response crosses the link byte-exact, no faster than the
# link can carry it.
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from harness import CLIENT_IP, CLIENT_MAC, SERVER_IP, SERVER_MAC, Site, Stack, get
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw, raw
from test_impair import LossyPeer, fetch_lossy

from ssdk.core.runtime.engine import ffi, lib
from ssdk.core.runtime.impair import Impairment

DIRECTIONS = ("rx", "tx")
FRAME = 1000  # bytes of every ping and echo reply below, Ethernet header included
RATE = 8_000_000  # 8 Mbit/s: a FRAME takes exactly 1 ms on the link


def ping(seq: int) -> Packet:
    """An echo request whose frame, and whose reply's, is FRAME bytes long."""
    pkt = (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP)
        / ICMP(type=8, id=0x55, seq=seq)
        / Raw(b"x" * (FRAME - 42))
    )
    assert len(raw(pkt)) == FRAME
    return pkt


def impaired(
    make_stack: Callable[..., Stack], direction: str, imp: Impairment, seed: int = 1
) -> Stack:
    stack = make_stack()
    rx, tx = (imp, None) if direction == "rx" else (None, imp)
    stack.engine.impair(rx, tx, seed)
    return stack


def arrivals(stack: Stack, until_ms: float, step_ms: float = 0.25) -> dict[int, float]:
    """Step the clock to until_ms: when each echo reply came out, by sequence number."""
    seen: dict[int, float] = {}
    while stack.now_ms < until_ms:
        for f in stack.advance(step_ms):
            seen.setdefault(int(f[ICMP].seq), stack.now_ms)
    return seen


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_back_to_back_frames_leave_at_the_rate(
    make_stack: Callable[..., Stack], direction: str
) -> None:
    """Ten frames at once through 8 Mbit/s: each leaves when its last bit has, 1 ms after
    the one before; nothing is delayed before the first. Once the link is idle again, a
    frame crosses in its own serialization time, without waiting."""
    stack = impaired(make_stack, direction, Impairment(rate_bps=RATE, queue_bytes=100_000))
    assert stack.send(*(ping(i) for i in range(10))) == []
    assert arrivals(stack, 12) == {i: i + 1.0 for i in range(10)}
    stack.advance(8)  # t = 20 ms
    assert stack.send(ping(10)) == []
    assert arrivals(stack, 22) == {10: 21.0}
    c = stack.engine.impair_stats()[direction]
    assert (c["frames"], c["queued"], c["queue_drop"], c["held"]) == (11, 11, 0, 0)
    # Frame i waited i ms for the link: 0 + 1 + ... + 9 ms, and the lone one none.
    assert c["queue_wait_us"] == 45_000
    assert c["queue_peak"] == 10 * FRAME


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_burst_beyond_the_queue_is_dropped_at_the_tail(
    make_stack: Callable[..., Stack], direction: str
) -> None:
    """A queue of five frames' bytes (the one on the link counts until it has left):
    of ten sent at once the first five cross and the last five are dropped and counted."""
    stack = impaired(make_stack, direction, Impairment(rate_bps=RATE, queue_bytes=5 * FRAME))
    stack.send(*(ping(i) for i in range(10)))
    assert arrivals(stack, 10) == {i: i + 1.0 for i in range(5)}
    c = stack.engine.impair_stats()[direction]
    assert (c["frames"], c["queued"], c["queue_drop"]) == (10, 5, 5)
    assert c["queue_peak"] == 5 * FRAME
    assert c["queue_wait_us"] == 10_000  # 0 + 1 + 2 + 3 + 4 ms
    assert c["dropped"] == 0  # that counter is the random loss's alone


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_room_comes_back_as_the_link_sends(
    make_stack: Callable[..., Stack], direction: str
) -> None:
    """The queue is the bytes not yet sent: 2.5 ms into a full queue of five frames,
    two and a half have left, so two more fit and a third does not."""
    stack = impaired(make_stack, direction, Impairment(rate_bps=RATE, queue_bytes=5 * FRAME))
    stack.send(*(ping(i) for i in range(5)))
    early = arrivals(stack, 2.5)
    stack.send(*(ping(i) for i in range(5, 8)))
    assert early | arrivals(stack, 10) == {i: i + 1.0 for i in range(7)}
    c = stack.engine.impair_stats()[direction]
    assert (c["queued"], c["queue_drop"]) == (7, 1)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_delay_comes_after_the_link(make_stack: Callable[..., Stack], direction: str) -> None:
    """delay=10ms behind the link: frame i leaves the link at i+1 ms and arrives 10 ms
    later; propagation keeps the spacing the link gave the frames."""
    imp = Impairment(rate_bps=RATE, queue_bytes=100_000, delay_ms=10)
    stack = impaired(make_stack, direction, imp)
    stack.send(*(ping(i) for i in range(5)))
    assert arrivals(stack, 20) == {i: i + 11.0 for i in range(5)}


def test_the_bottleneck_draws_nothing(make_stack: Callable[..., Stack]) -> None:
    """With a link too fast to queue anything, a seed loses, duplicates, reorders and
    corrupts the same frames as without it: the bottleneck takes no draws, so specs
    without a rate decide every frame as before it existed. The same seed also gives
    the same outcome with the link, and another seed another."""
    base = Impairment(loss=0.2, duplicate=0.1, reorder=0.2, corrupt=0.05)
    fast = replace(base, rate_bps=10**11, queue_bytes=3_000_000)
    slow = replace(base, rate_bps=4_000_000, queue_bytes=3 * FRAME)

    def run(imp: Impairment, seed: int) -> tuple[list[int], dict[str, int]]:
        stack = make_stack()
        stack.engine.impair(None, imp, seed)
        got: list[int] = []
        for i in range(100):
            stack.engine.inject(raw(ping(i)))
            stack.engine.advance(1)
            got += [int.from_bytes(f[40:42], "big") for f in stack.engine.take()]
        for _ in range(300):
            stack.engine.advance(1)
            got += [int.from_bytes(f[40:42], "big") for f in stack.engine.take()]
        return got, stack.engine.impair_stats()["tx"]

    decided = ("frames", "dropped", "duplicated", "reordered", "corrupted")
    without, with_fast = run(base, 9), run(fast, 9)
    assert sorted(without[0]) == sorted(with_fast[0])
    assert {k: without[1][k] for k in decided} == {k: with_fast[1][k] for k in decided}
    assert with_fast[1]["queue_drop"] == 0
    # 4 Mbit/s for a frame a millisecond: the queue fills and drops, the same way twice.
    first = run(slow, 9)
    assert first == run(slow, 9) and first[1]["queue_drop"] > 0
    assert first != run(slow, 10)


def test_a_response_crosses_no_faster_than_the_link(
    make_stack: Callable[..., Stack], site: Site
) -> None:
    """The 100 kB response through 8 Mbit/s and a 20 kB queue, 5 ms each way: byte-exact,
    and not before the link could have carried its bytes (on the virtual clock, so
    this bound is the layer's arithmetic, not the machine's speed)."""
    imp = Impairment(rate_bps=RATE, queue_bytes=20_000, delay_ms=5)
    stack = make_stack()
    stack.engine.impair(Impairment(delay_ms=5), imp, 3)
    peer = LossyPeer(stack)
    path = "/files/huge.bin"
    want = len(site.expect(path))
    fetch_lossy(peer, get(path), want)
    assert peer.responses()[0].raw == site.expect(path)
    assert stack.now_ms >= want * 8 / RATE * 1000
    c = stack.engine.impair_stats()["tx"]
    assert c["queued"] > 0 and c["queue_peak"] <= 20_000


def test_c_refuses_a_bottleneck_out_of_range(
    make_stack: Callable[..., Stack],
) -> None:
    """The C side checks its input itself, for callers that skip Python's checks."""
    stack = make_stack()
    err = ffi.new("char[256]")
    for fields, needle in (
        ({"queue_bytes": 10_000}, "rx rate must be"),
        ({"rate_bps": 1_000_000}, "rx queue must be"),
        ({"rate_bps": 10**12, "queue_bytes": 10_000}, "rx rate must be"),
        ({"rate_bps": 1_000_000, "queue_bytes": 1_000}, "rx queue must be"),
        ({"rate_bps": 1_000_000, "queue_bytes": 3_000_001}, "rx queue must be"),
    ):
        bad = ffi.new("struct ssdk_impair *", fields)
        assert lib.ssdk_impair(stack.engine._e, bad, ffi.NULL, 1, err, len(err)) == -1
        assert needle in ffi.string(err).decode()
    assert stack.send(ping(1)) != []  # the backend is as it was
