# tests/stack/bbr_path.py: a path with a bottleneck, on the virtual clock, for the
# congestion-control tests that need one (test_bbr.py, test_flight_pool.py). Every data
# segment the server sends travels PROP ms, then waits in an unbounded FIFO for a link
# that takes one segment every `service` ms; the peer ACKs it as it comes out (the ACK
# path has no delay of its own: all propagation sits before the link). So the
# bottleneck's rate is one segment per `service` ms, and the least round trip PROP +
# service. With `jitter`, each segment's service time is drawn from service x (1 +/-
# jitter / 2) instead; with `tick` below 1, the clock moves that many ms at a time, so
# ACKs, and what they release, come at instants between the milliseconds. With `queue`,
# the FIFO is drop-tail: a segment that would wait behind that many is lost.
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import Peer, Seg, Stack, get

PROP = 100  # ms
LONG = "/files/long.bin"
BBR = 2  # ssdk_config.cc


@dataclass
class Tick:
    """What one millisecond looked like: the clock, data segments sent and delivered
    so far, and the data in flight (sent, neither delivered nor lost)."""

    ms: float
    sent: int
    delivered: int
    inflight: int


@dataclass
class Path:
    peer: Peer
    service: float = 5.0  # ms per segment at the bottleneck
    loss: float = 0.0  # probability a data segment is lost at the link
    seed: int = 8985
    jitter: float = 0.0  # the service time's spread, as a fraction of `service`
    tick: float = 1.0  # ms the clock moves per step of run()
    queue: int = 0  # segments the link's queue holds, drop-tail (0: unbounded)
    next_free: float = 0.0
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    dropped: int = 0  # of those lost, by the drop-tail queue
    ticks: list[Tick] = field(default_factory=list)
    rng: random.Random = field(init=False)
    service_rng: random.Random = field(init=False)
    head_service: float | None = None  # the next segment's service time, once drawn

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.service_rng = random.Random(self.seed + 1)
        self.peer.queued = True
        self.peer.pass_ms = 0  # the link's model sets every arrival's time
        self.sent = sum(1 for s in self.peer.inbox if s.payload)

    def _count(self, segs: list[Seg]) -> None:
        self.sent += sum(1 for s in segs if s.payload)

    def _service(self) -> float:
        """The service time of the segment at the head of the queue, drawn once."""
        if self.head_service is None:
            spread = self.jitter * (self.service_rng.random() - 0.5) if self.jitter else 0.0
            self.head_service = self.service * (1 + spread)
        return self.head_service

    def run(self, ms: int) -> None:
        """Step the clock `tick` ms at a time for `ms` ms."""
        peer = self.peer
        for _ in range(round(ms / self.tick)):
            self._count(peer.advance(self.tick))
            now = peer.stack.now_ms
            while peer.inbox:
                head = peer.inbox[0]
                if not head.payload:  # ACKs, FIN: not held by the link
                    self._count(peer.deliver())
                    continue
                start, service = max(self.next_free, head.at + PROP), self._service()
                if self.queue and start - (head.at + PROP) > self.queue * self.service:
                    if head.at + PROP > now + 1e-9:
                        break
                    # Drop-tail: it found `queue` segments' worth waiting ahead of it.
                    peer.lose_once(head)
                    self.lost += 1
                    self.dropped += 1
                    self._count(peer.deliver())
                    continue
                if start + service > now + 1e-9:
                    break
                self.next_free, self.head_service = start + service, None
                if self.loss and self.rng.random() < self.loss:
                    peer.lose_once(head)
                    self.lost += 1
                else:
                    self.delivered += 1
                self._count(peer.deliver())
            self.ticks.append(
                Tick(now, self.sent, self.delivered, self.sent - self.delivered - self.lost)
            )

    def rate(self, t0: float, t1: float) -> float:
        """Data segments delivered per second between t0 and t1 (ms on the clock)."""
        ticks = [t for t in self.ticks if t0 <= t.ms <= t1]
        return (ticks[-1].delivered - ticks[0].delivered) * 1000 / (ticks[-1].ms - ticks[0].ms)

    def sent_rate(self, t0: float, t1: float) -> float:
        ticks = [t for t in self.ticks if t0 <= t.ms <= t1]
        return (ticks[-1].sent - ticks[0].sent) * 1000 / (ticks[-1].ms - ticks[0].ms)


def start(make_stack: Callable[..., Stack], cc: int = BBR, **path: object) -> Path:
    """A peer with timestamps and SACK whose handshake took PROP ms, asking for LONG."""
    stack = make_stack(cc=cc)
    peer = Peer(stack, ts=True, sack=True)
    assert [s.flags for s in peer.syn(mss=1460, wscale=7)] == ["SA"]
    assert peer.advance(PROP) == []
    assert peer.send("A") == []
    peer.queued = True
    peer.request(get(LONG))
    return Path(peer, **path)  # type: ignore[arg-type]
