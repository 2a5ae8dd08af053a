# tests/stack/test_loss.py: whole transfers through a path that loses segments on a
# script, end to end: every lost segment is recovered by the ACK clock (fast retransmit
# and what follows it), never by the retransmission timer.
#
# The peer runs queued (see harness.py): the server's segments cross a link one per
# millisecond, each is ACKed on arrival, and the loss rule decides which never arrive.
# When nothing is in flight the clock runs on, so a stall ends in an RTO and the
# transfer still completes: the byte-exact check and the RTO count fail separately.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import Peer, Seg, Site, Stack, get, segno

BIG = "/files/huge.bin"  # 70 full segments
CUBIC, NEWRENO = 0, 1


def every_nth_new_segment(n: int) -> Callable[[Seg], bool]:
    """Lose every n-th segment of new data, each once: retransmissions get through."""
    count = 0

    def lose(seg: Seg) -> bool:
        nonlocal count
        if seg.resent:
            return False
        count += 1
        return count % n == 0

    return lose


def transfer(peer: Peer, path: str, size: int, limit_ms: int = 120_000) -> list[Seg]:
    """Request `path` and run the link until `size` bytes of stream have arrived."""
    peer.queued = True
    out = peer.request(get(path))
    deadline = peer.stack.now_ms + limit_ms
    while len(peer.stream) < size and peer.stack.now_ms < deadline:
        out += peer.deliver(1, step_ms=1) if peer.inbox else peer.advance(1)
    return out


@pytest.mark.parametrize(
    ("sack_ts", "cc"),
    [
        (True, CUBIC),
        (True, NEWRENO),
        (False, CUBIC),
        pytest.param(False, NEWRENO),
    ],
    ids=["sack-ts-cubic", "sack-ts-newreno", "plain-cubic", "plain-newreno"],
)
def test_transfer_under_scripted_loss(
    make_stack: Callable[..., Stack], site: Site, sack_ts: bool, cc: int
) -> None:
    """RFC 6675 5 (with SACK) and RFC 6582 3.2 (without), on RFC 5681's ACK clock:
    100 kB with every 7th new segment lost once (ten holes, some in the same window)
    arrives byte-exact, and the retransmission timer never expires: each hole is found
    by duplicate ACKs (RFC 5681 3.2), by a partial ACK (RFC 6582 3.2 (4)) or by a tail
    loss probe (RFC 8985 7). With timestamps, every segment carries one (RFC 7323 3.2)."""
    stack = make_stack(cc=cc)
    stack.advance(1000)  # the clock away from zero (see test_sack.py)
    peer = Peer(stack, sack=sack_ts, ts=sack_ts)
    peer.connect()
    peer.lose = every_nth_new_segment(7)
    expected = site.expect(BIG)
    out = transfer(peer, BIG, len(expected))
    assert peer.responses()[0].raw == expected
    assert sorted(segno(peer, s) for s in peer.lost) == list(range(6, 70, 7))
    st = stack.stats()
    assert st["rto_expired"] == 0, st
    assert st["fast_retransmits"] >= 1
    assert (st["sack_blocks"] > 0) == sack_ts
    assert all((s.ts is not None) == sack_ts for s in out)
