# tests/stack/test_netmap.py: the serving loop on the netmap backend (nic_netmap.c),
# its system calls answered by the in-process EMULATION of netmap's kernel side
# (netmap_harness.py). No netmap kernel is involved: these check the backend's ring
# handling (head/cur/tail, syncs, batching, back-pressure, failed syncs) against the
# rules of netmap(4) as the emulation enforces them, with every frame out checked and
# every response compared byte for byte.
from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness import (
    CLIENT_IP,
    CLIENT_MAC,
    PORT,
    SERVER_IP,
    SERVER_MAC,
    TEMPLATE_MSS,
    Peer,
    Site,
    get,
)
from netmap_harness import NetmapStack
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

UNPACED = 0b0111  # timestamps, SACK, loss probes; no pacing (every segment may go at once)


@pytest.fixture
def make_nm(site: Site) -> Iterator[Callable[..., NetmapStack]]:
    made: list[NetmapStack] = []

    def make(**kw: Any) -> NetmapStack:
        s = NetmapStack(site.blob, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def syn(port: int) -> Ether:
    return (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP)
        / TCP(sport=port, dport=PORT, flags="S", seq=1000, window=65535)
    )


@pytest.mark.parametrize(
    "path", ["/", "/c", "/files/mid.bin", "/files/big.bin", "/files/huge.bin"]
)
def test_get_is_byte_exact_over_netmap(make_nm: Callable[..., NetmapStack], site: Site,
                                       path: str) -> None:  # fmt: skip
    """Handshake, GET, every response byte as documented, from one segment to many
    rounds of slow start; each frame went through an RX or TX slot and a sync."""
    stack = make_nm()
    peer = Peer(stack)
    peer.connect()
    resp, segs = peer.fetch(get(path))
    assert resp.raw == site.expect(path)
    data = [s for s in segs if s.payload]
    assert sum(len(s.payload) for s in data) == len(resp.raw)  # nothing twice
    assert all(len(s.payload) <= TEMPLATE_MSS for s in data)
    assert len(data) >= -(-len(resp.raw) // TEMPLATE_MSS)  # mid.bin on: many segments
    st = stack.emu_stats()
    assert st["tx_frames"] == stack.stats()["tx_frames"]  # every frame left through a slot
    assert st["rx_frames"] == stack.stats()["rx_frames"]
    assert st["errors"] == 0 and st["resets"] == 0


def test_backend_says_which_ring_it_runs(make_nm: Callable[..., NetmapStack]) -> None:
    stack = make_nm(slots=64, rings=4, ring=2)
    assert stack.engine.backend_mode == "ring 2 of 4, 64 TX and 64 RX slots"


def test_a_burst_larger_than_the_ring_waits_without_loss(
    make_nm: Callable[..., NetmapStack], site: Site
) -> None:
    """An 8-slot TX ring on a link that drains 3 frames a round: a 100 kB response is
    many times the ring; what finds no slot waits for a later pass, and all of it
    arrives in order, nothing sent twice."""
    from ssdk.core.runtime.engine import lib

    stack = make_nm(slots=8, options=UNPACED)
    peer = Peer(stack)
    peer.connect(wscale=7)
    peer.request(get("/files/huge.bin"))
    for _ in range(1000):
        lib.ssdk_netmap_emu_tx_credit(stack.emu, 3)
        if not peer.ack() and not peer.advance(1):
            break
    assert peer.responses()[0].raw == site.expect("/files/huge.bin")
    st = stack.stats()
    assert st["tx_ring_full"] > 10  # the ring was full again and again
    assert st["retransmits"] == 0
    assert stack.emu_stats()["tx_frames"] == st["tx_frames"]


def test_receiving_is_batched(make_nm: Callable[..., NetmapStack]) -> None:
    """100 SYNs waiting: one pass reads them all, in two bursts, after one NIOCRXSYNC
    and sends the 100 SYN-ACKs with one NIOCTXSYNC."""
    stack = make_nm(max_conns=256)
    stack.put(*(syn(41000 + i) for i in range(100)))
    before = stack.emu_stats()
    assert stack.engine.poll() == 100
    after = stack.emu_stats()
    assert after["rxsyncs"] - before["rxsyncs"] == 1
    assert after["txsyncs"] - before["txsyncs"] == 1
    out = stack.take()
    assert sorted(int(f[TCP].dport) for f in out) == list(range(41000, 41100))
    assert all(str(f[TCP].flags) == "SA" for f in out)


def test_a_failed_txsync_loses_nothing(make_nm: Callable[..., NetmapStack], site: Site) -> None:
    """NIOCTXSYNC fails and the kernel resets the ring: the committed frames are put
    back at the next sync, so the response arrives whole without a retransmission."""
    stack = make_nm()
    peer = Peer(stack)
    peer.connect()
    from ssdk.core.runtime.engine import lib

    lib.ssdk_netmap_emu_fail_next(stack.emu, 0, errno.EIO, 1)
    assert peer.request(get("/files/mid.bin")) == []  # the pass's sync failed
    assert fetch_rest(peer) == site.expect("/files/mid.bin")
    assert stack.stats()["retransmits"] == 0
    st = stack.emu_stats()
    assert (st["errors"], st["resets"], st["last_errno"]) == (1, 1, errno.EIO)


def fetch_rest(peer: Peer) -> bytes:
    for _ in range(100):
        if not peer.advance(1) and not peer.ack():
            break
    return peer.responses()[0].raw


def test_a_failed_rxsync_is_tried_again(make_nm: Callable[..., NetmapStack], site: Site) -> None:
    """NIOCRXSYNC fails: the request stays on the wire and is read at the next pass."""
    stack = make_nm()
    peer = Peer(stack)
    peer.connect()
    from ssdk.core.runtime.engine import lib

    lib.ssdk_netmap_emu_fail_next(stack.emu, 1, errno.EIO, 0)
    assert peer.request(get("/")) == []
    assert stack.emu_stats()["wire_waiting"] == 1
    assert fetch_rest(peer) == site.expect("/")
    assert stack.stats()["http_requests"] == 1


def test_a_reset_rx_ring_hands_nothing_up_twice(make_nm: Callable[..., NetmapStack],
                                                 site: Site) -> None:  # fmt: skip
    """NIOCRXSYNC fails and the kernel puts head back over frames already read (here
    the request): the backend keeps its own place, so nothing is read twice (a request
    segment read again would be answered with an ACK)."""
    from ssdk.core.runtime.engine import lib

    stack = make_nm()
    peer = Peer(stack)
    peer.connect()
    assert peer.request(get("/")) != []  # answered; not yet acknowledged
    lib.ssdk_netmap_emu_fail_next(stack.emu, 1, errno.EIO, 1)
    assert peer.advance(1) == []
    assert stack.emu_stats()["resets"] == 1
    assert peer.advance(1) == []
    assert stack.stats()["http_requests"] == 1
    assert peer.drain() == []
    assert peer.responses()[0].raw == site.expect("/")
    resp, _ = peer.fetch(get("/a"))  # and the connection goes on
    assert resp.raw == site.expect("/a")


def test_an_idle_loop_sleeps_on_the_descriptor(make_nm: Callable[..., NetmapStack]) -> None:
    """The real clock and ssdk_run: idle, the loop waits in poll() on the backend's
    descriptor (the emulation's is readable only while frames wait) instead of asking
    the ring again and again; a frame put on the wire wakes it."""
    stack = make_nm(virtual_clock=False)
    before = stack.emu_stats()["rxsyncs"]
    assert stack.engine.run(100) == 0
    assert stack.emu_stats()["rxsyncs"] - before < 10  # a busy loop makes thousands
    stack.put(syn(42000))
    assert stack.engine.run(20) == 1
    assert [str(f[TCP].flags) for f in stack.take()] == ["SA"]
