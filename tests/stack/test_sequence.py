# tests/stack/test_sequence.py: sequence number arithmetic modulo 2^32 (RFC 9293 3.4):
# both our stream and the client's cross the wrap point in one connection.
#
# The ISN is a keyed function of the 4-tuple plus a clock ticking every 4 microseconds
# (RFC 6528); with the virtual clock the test learns the keyed part from a first SYN at
# time 0, then moves the clock so that a second SYN on the same tuple gets an ISN just
# below 2^32.
from __future__ import annotations

from collections.abc import Callable

from harness import MOD, Peer, Site, Stack, get


def test_streams_cross_the_wrap_point(make_stack: Callable[..., Stack], site: Site) -> None:
    """RFC 9293 3.4: "the sequence number space ranges from 0 to 2^32 - 1" and all
    arithmetic on it is modulo 2^32; a response and a request that cross 0 are sent,
    acknowledged and reassembled like any other. RFC 6528: the ISN moves with the clock
    (every 4 microseconds)."""
    stack = make_stack()
    probe = Peer(stack)
    keyed = probe.syn()[0].seq  # at t = 0 the ISN is the keyed part alone
    assert probe.send("R", seq=probe.iss + 1) == []  # exact RST: the half-open slot goes
    assert stack.stats()["conns_active"] == 0
    # An ISN about 5000 below 2^32 puts the wrap inside the first few segments.
    ticks = -(-((MOD - 5000 - keyed) % MOD) // 250)  # the clock moves 1 ms = 250 ISN ticks
    stack.advance(ticks)
    peer = Peer(stack, iss=MOD - 10)  # our request crosses 0 too
    sa = peer.connect()
    assert MOD - 5000 <= sa.seq < MOD - 4000
    resp, segs = peer.fetch(get("/files/big.bin"))
    assert resp.raw == site.expect("/files/big.bin")
    assert any(s.seq < 1_000_000 for s in segs), "the response did not cross 0"
    assert peer.snd_nxt < 1000  # neither did the request
    assert peer.rack(segs[0]) == peer.sent
    # The connection closes cleanly across the wrap as well.
    assert [s.flags for s in peer.send("FA")] == ["FA"]
    assert peer.send("A") == []
    assert stack.stats()["conns_active"] == 0
