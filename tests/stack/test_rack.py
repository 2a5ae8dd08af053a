# tests/stack/test_rack.py: RACK (RFC 8985 6), loss detection by time, on the virtual
# clock. A segment is lost once a segment sent after it has been delivered and RACK.rtt
# plus the reordering window has passed since it was sent; the reordering window is a
# quarter of the least round trip (6.2 step 4), or none until the peer has been seen to
# reorder, in recovery or once DupThresh segments are SACKed.
#
# The peer runs queued (see harness.py) with a 40 ms round trip: the server's segments
# wait in its inbox, the clock moves 40 ms, then what was waiting arrives (in the order
# a test arranges) and each is ACKed at once, with SACK blocks.
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from bbr_path import BBR, start
from harness import TEMPLATE_MSS, UNPACED, Peer, Seg, Stack, get, segno

BIG = "/files/huge.bin"  # 70 full segments
RTT_MS = 40


def rack_peer(stack: Stack, wscale: int | None = None) -> Peer:
    """A SACK peer whose handshake took RTT_MS: SRTT and min_RTT are 40 ms."""
    stack.advance(1000)
    peer = Peer(stack, sack=True)
    peer.syn(wscale=wscale)
    peer.advance(RTT_MS)
    assert peer.send("A") == []
    peer.queued = True
    return peer


def lose_copies(peer: Peer, copies: dict[int, int]) -> dict[int, int]:
    """The first copies[n] transmissions of segment n are lost on the way to the peer;
    returns how many of each are still to be lost."""
    left = dict(copies)

    def lose(seg: Seg) -> bool:
        n = segno(peer, seg)
        if left.get(n, 0) > 0:
            left[n] -= 1
            return True
        return False

    peer.lose = lose
    return left


def one_trip(peer: Peer, order: list[int] | None = None) -> list[Seg]:
    """The clock moves a round trip's time; then the segments that were waiting arrive,
    in inbox order or as `order` (indices into it: those first, then the others in
    order) says. Returns what the server sent."""
    out = peer.advance(RTT_MS)
    n = len(peer.inbox)
    if order is not None:
        waiting = list(peer.inbox)[:n]
        rest = list(peer.inbox)[n:]
        peer.inbox.clear()
        order = order + [i for i in range(n) if i not in order]
        peer.inbox.extend([waiting[i] for i in order] + rest)
    return out + peer.deliver(n)


def resent(peer: Peer, segs: list[Seg]) -> list[int]:
    return [segno(peer, s) for s in segs if s.resent]


def run_to_end(peer: Peer, step_ms: float = 0, size: int = 100_000) -> list[Seg]:
    """Round trips (one_trip; with step_ms, the arrivals that far apart) until the
    response (size bytes of body) has arrived; returns what the server sent meanwhile."""
    out: list[Seg] = []
    for _ in range(200):
        if len(peer.stream) >= size:
            break
        if step_ms:
            out += peer.advance(RTT_MS)
            out += peer.deliver(len(peer.inbox), step_ms=step_ms)
        else:
            out += one_trip(peer)
    assert len(peer.stream) >= size
    return out


def test_reordering_within_the_window_is_not_a_loss(stack: Stack) -> None:
    """RFC 8985 6.2 (steps 3-5): once the peer has been seen to deliver a segment after
    one sent later (no retransmission between), a segment that arrives behind four sent
    after it, within a quarter of min_RTT (10 ms here), is not lost: no fast retransmit,
    although three duplicate ACKs came (DupThresh no longer rules once reordering is
    seen). The transfer completes without any retransmission."""
    peer = rack_peer(stack)
    peer.reorders = True
    first = peer.request(get(BIG))
    assert len(first) == 10
    # First trip: 1 arrives after 2, a reordering RACK notes.
    out = one_trip(peer, [0, 2, 1])
    assert resent(peer, out) == []
    # Second trip: the first segment of the flight arrives behind four others.
    assert len(peer.inbox) >= 8
    out = one_trip(peer, [1, 2, 3, 4, 0])
    assert resent(peer, out) == []
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"]) == (0, 0)
    assert resent(peer, run_to_end(peer)) == []
    assert stack.stats()["retransmits"] == 0


def test_reordering_without_history_is_taken_for_loss(stack: Stack) -> None:
    """RFC 8985 6.2 step 4: until reordering has been seen, DupThresh SACKed segments set
    the reordering window to zero (as Linux keeps the classic rule): the same late
    segment as in test_reordering_within_the_window_is_not_a_loss, with no reordering
    before, is resent on the third duplicate ACK."""
    peer = rack_peer(stack)
    peer.reorders = True
    peer.request(get(BIG))
    out = one_trip(peer, [1, 2, 3, 4, 0])
    assert resent(peer, out) == [0]
    assert stack.stats()["fast_retransmits"] == 1


def test_loss_in_recovery_found_by_order_when_send_times_are_merged(
    make_stack: Callable[..., Stack],
) -> None:
    """RFC 8985 6.2 step 5 with a reordering window of zero (in recovery, no reordering
    seen): a segment sent before one now delivered is lost at once, since its send time
    plus RACK.rtt is no later than that delivery's ACK. The flight here went out in
    bursts ACK-clocked over 5 ms, more send times than RACK's 8 steps hold, so merged
    steps blur them; but new data goes in sequence order, and a hole below the latest
    delivery, never resent, went before it. Segment 1 of the flight is lost (recovery
    starts), and so is one in the middle; it is resent on the ACK that SACKs the
    segment after it, with nothing more arriving. Read from the merged times, it
    waited for later deliveries: none within 40 ms here."""
    stack = make_stack(options=UNPACED)
    peer = rack_peer(stack)
    peer.request(get(BIG))
    for _ in range(2):  # two ACK-clocked rounds: bursts of 3 ACKs, 0.7 ms apart
        peer.advance(RTT_MS)
        for i in range(len(peer.inbox)):
            peer.deliver(1, step_ms=0.7 if i % 3 == 0 else 0.01)
    flight = list(peer.inbox)
    assert len({round(s.at, 2) for s in flight}) > 8, flight
    victim = flight[len(flight) // 2]
    peer.lose_once(flight[1], victim)
    peer.advance(RTT_MS)
    out: list[Seg] = []
    while segno(peer, peer.inbox[0]) <= segno(peer, victim):
        out += peer.deliver(1, step_ms=0.01)
    assert stack.stats()["fast_retransmits"] == 1 and segno(peer, victim) not in resent(peer, out)
    out = peer.deliver(1, step_ms=0.01)  # the segment after it: SACKed
    assert resent(peer, out) == [segno(peer, victim)]
    run_to_end(peer)
    st = stack.stats()
    assert (st["retransmits"], st["rto_expired"]) == (2, 0)


def test_rack_timer_marks_lost_when_no_more_acks_come(stack: Stack) -> None:
    """RFC 8985 6.3: segment 8 is lost and 9 alone is SACKed (one segment, below
    DupThresh), then no ACK comes back. RACK cannot call 8 lost at once: it was sent
    with 9, so only RACK.rtt plus the reordering window (min_RTT/4 = 10 ms) after its
    sending; its timer resends it then, well before the tail loss probe (2 x SRTT, 80 ms)
    and the RTO (200 ms at least)."""
    peer = rack_peer(stack)
    first = peer.request(get(BIG))
    peer.lose_once(first[8])
    peer.advance(RTT_MS)
    peer.deliver(10)  # 0-7 acknowledged, 9 SACKed; what they let out stays queued
    acked_at = stack.now_ms
    out = peer.advance_until(lambda s: s.resent, limit_ms=300)
    assert segno(peer, out[-1]) == 8
    waited = out[-1].at - acked_at
    assert RTT_MS // 4 <= waited <= RTT_MS // 4 + 2, waited
    st = stack.stats()
    assert (st["fast_retransmits"], st["tail_probes"], st["rto_expired"]) == (1, 0, 0)
    # The resend arrives, and the transfer completes without another timeout.
    run_to_end(peer)
    assert stack.stats()["rto_expired"] == 0


def test_lost_retransmission_found_by_rack(stack: Stack) -> None:
    """RFC 8985 6.2 (and 2, "lost retransmissions"): segment 2 is lost, and so is its
    fast retransmission. Once data sent after that retransmission has been delivered
    and RACK.rtt has passed since it was sent, RACK calls it lost and it goes a third
    time, on an ACK, not after an RTO (DupThresh counts nothing for a resend)."""
    peer = rack_peer(stack)
    first = peer.request(get(BIG))
    lose_copies(peer, {2: 2})
    assert first
    out: list[Seg] = []
    for _ in range(10):
        out += one_trip(peer)
        if resent(peer, out).count(2) >= 2:
            break
    assert resent(peer, out).count(2) == 2, resent(peer, out)
    st = stack.stats()
    assert st["rto_expired"] == 0 and st["rtx_lost"] >= 1
    run_to_end(peer)
    assert stack.stats()["rto_expired"] == 0


def test_lost_last_ack_costs_a_probe_not_an_rto(stack: Stack) -> None:
    """RFC 8985 7 (TLP): every segment of the flight arrives but the ACKs of the last ten
    are lost, so the server hears nothing more. Two round trips (2 x SRTT, 80 ms) after
    its last send it probes (new data, as 7.3 prefers); the peer's answer acknowledges
    everything, and the transfer goes on: no flight hangs on the RTO for lost ACKs."""
    peer = rack_peer(stack)
    peer.request(get(BIG))
    peer.advance(RTT_MS)
    peer.deliver(8)
    peer.deliver(len(peer.inbox), ack=False)  # the rest arrive; their ACKs are lost
    last = max(s.at for s in peer.advance(10))  # pacing lets the last few go
    probe = peer.advance_until(lambda s: bool(s.payload), limit_ms=300)[-1]
    assert probe.at - last <= 2 * RTT_MS + 1, (probe.at, last)
    st = stack.stats()
    assert (st["tail_probes"], st["rto_expired"]) == (1, 0)
    peer.deliver(len(peer.inbox))  # the probe arrives: its ACK covers all
    run_to_end(peer)
    assert stack.stats()["rto_expired"] == 0


def test_probe_of_new_data_is_two_segments_a_delaying_peer_answers_at_once(
    stack: Stack,
) -> None:
    """RFC 8985 7.3 with RFC 9293 3.8.6.3: as in
    test_lost_last_ack_costs_a_probe_not_an_rto, the flight arrives and its ACKs are
    lost. The probe is new data, two full segments sent together: a peer that delays
    its ACKs answers the second of two full segments at once (one alone, when its timer
    runs out: 40 ms in Linux). This peer ACKs only the second; that ACK covers the
    flight and the transfer goes on, without an RTO."""
    peer = rack_peer(stack)
    peer.request(get(BIG))
    peer.advance(RTT_MS)
    peer.deliver(8)
    peer.deliver(len(peer.inbox), ack=False)  # the rest arrive; their ACKs are lost
    peer.advance(10)  # pacing lets the last few go
    peer.deliver(len(peer.inbox), ack=False)
    peer.advance_until(lambda s: bool(s.payload), limit_ms=300)
    probe = list(peer.inbox)  # what the probe sent (advance_until stops at its first)
    assert stack.stats()["tail_probes"] == 1
    assert len(probe) == 2 and probe[0].at == probe[1].at, probe
    assert [len(s.payload) for s in probe] == [TEMPLATE_MSS] * 2
    assert not any(s.resent for s in probe)
    peer.deliver(1, ack=False)  # the first: a delaying peer holds its ACK
    out = peer.deliver(1)  # the second: ACKed at once, covering all; new data follows
    assert out and not any(s.resent for s in out)
    run_to_end(peer)
    st = stack.stats()
    assert (st["rto_expired"], st["retransmits"]) == (0, 0)


def test_flight_of_one_segment_with_more_to_send_waits_the_rto(stack: Stack) -> None:
    """RFC 8985 7.2: a flight of one segment adds the receiver's worst-case delayed-ACK
    time (200 ms) to the probe's timeout, which leaves the RTO. ssdk keeps the quick
    probe only for a lone segment that ends what there is to send; where more waits
    behind it (here the peer's window holds one segment), the window is one segment
    because the path (or the peer) allows no more, and a probe would be an early RTO
    without its backoff. The segment's ACK is lost: it goes again at the RTO, 200 ms
    after the handshake's 40 ms round trip, with no probe before it (at 82 ms)."""
    peer = rack_peer(stack)
    peer.window = TEMPLATE_MSS
    assert [len(s.payload) for s in peer.request(get(BIG))] == [TEMPLATE_MSS]
    sent = stack.now_ms
    peer.advance(RTT_MS)
    peer.deliver(len(peer.inbox), ack=False)
    again = peer.advance_until(lambda s: bool(s.payload), limit_ms=1000)[-1]
    assert again.resent and again.at - sent >= 200 + RTT_MS, again
    st = stack.stats()
    assert (st["tail_probes"], st["rto_expired"]) == (0, 1)


def test_loss_found_when_the_flight_has_more_send_times_than_steps(stack: Stack) -> None:
    """RFC 8985 6.1 with the send times kept in 8 steps (tcp_rack.c): a flight of
    segments sent over many milliseconds (ACK-clocked) needs more steps than there are, so
    neighbours merge; a segment lost in the middle of it is still found lost by RACK
    (one fast retransmit, that segment only) and nothing else is resent."""
    peer = rack_peer(stack)
    peer.request(get(BIG))
    peer.advance(RTT_MS)
    peer.deliver(len(peer.inbox), step_ms=1)  # ACKs a millisecond apart: sends too
    times = {s.at for s in peer.inbox}
    assert len(times) > 8, times  # more distinct send times than RACK_SLOTS
    victim = list(peer.inbox)[len(peer.inbox) // 2]
    peer.lose_once(victim)
    out = run_to_end(peer)
    assert resent(peer, out) == [segno(peer, victim)]
    st = stack.stats()
    assert (st["fast_retransmits"], st["retransmits"], st["rto_expired"]) == (1, 1, 0)


def test_merged_steps_call_nothing_lost_that_is_on_its_way(stack: Stack) -> None:
    """RFC 8985 6.2 step 5 with merged steps (tcp_rack.c): a flight sent a millisecond a
    segment, over more instants than there are steps, loses five segments; the rest
    arrive as they were sent, a millisecond apart. The resends, each beside what went a
    round trip before it, need more steps than there are: merged rough, such steps must
    neither make a resend look older than it is nor give a delivery a later send time
    (in recovery the reordering window is zero, so either would call lost what is still
    on its way). Only the five lost are resent, each once."""
    peer = rack_peer(stack)
    peer.request(get(BIG))
    peer.advance(RTT_MS)
    peer.deliver(len(peer.inbox), step_ms=1)  # ACKs a millisecond apart: sends too
    flight = list(peer.inbox)
    assert len({s.at for s in flight}) > 8  # more send instants than RACK_SLOTS
    lost = [flight[i] for i in (1, 4, 7, 10, 13)]
    peer.lose_once(*lost)
    out = run_to_end(peer, step_ms=1)
    assert sorted(resent(peer, out)) == sorted(segno(peer, s) for s in lost)
    st = stack.stats()
    assert (st["retransmits"], st["rto_expired"]) == (5, 0)


# --- a scoreboard with more holes than ranges --------------------------------------------

# Unpaced, slow start doubles the flight each round trip (10, 20, 40 ... segments): the
# seventh is segments 630-1269 of wide.bin; every other one of them is lost: 320 holes,
# more than the SACK_RANGES (254) ranges the sender keeps.
WIDE = "/files/wide.bin"
MANY_HOLES = list(range(631, 1270, 2))


def many_holes(
    make_stack: Callable[..., Stack], twice: tuple[int, ...] = ()
) -> tuple[Stack, list[int]]:
    """The first arrival of each of MANY_HOLES is lost, and the second of those in
    `twice`; returns the stack and the segments resent until the response has arrived."""
    stack = make_stack(options=UNPACED)
    peer = rack_peer(stack, wscale=7)
    peer.window = 65535  # x 128: the peer's window never limits the flight
    peer.request(get(WIDE))
    left = {1 + n * TEMPLATE_MSS: 1 + (n in twice) for n in MANY_HOLES}

    def lose(seg: Seg) -> bool:
        rel = peer.rseq(seg)
        if left.get(rel, 0) > 0:
            left[rel] -= 1
            return True
        return False

    peer.lose = lose
    return stack, resent(peer, run_to_end(peer, size=2_000_000))


def test_full_scoreboard_resends_no_sacked_segment(make_stack: Callable[..., Stack]) -> None:
    """RFC 6675 5 and RFC 2018 4: a receiver reports only its most recent ranges, so a
    range the sender's scoreboard drops is not told again, and its bytes would look
    lost. With 320 holes in flight and room for 254 ranges, the sender closes over holes
    already resent (sack_merged) instead: each hole is resent once, nothing else."""
    stack, again = many_holes(make_stack)
    assert sorted(again) == MANY_HOLES
    st = stack.stats()
    assert st["sack_merged"] > 0
    assert (st["retransmits"], st["rto_expired"]) == (len(MANY_HOLES), 0)


def test_closed_hole_lost_again_is_found_by_rack(make_stack: Callable[..., Stack]) -> None:
    """RFC 9293 3.4 and RFC 8985 6.2: a receiver acknowledges every byte it holds in
    order, so a cumulative ACK that stops inside a range the scoreboard holds as SACKed
    names missing bytes: a hole closed over whose retransmission was lost too (the
    lowest holes are the ones closed over first). The hole opens again and RACK finds it
    lost by its send time once later data has come; no retransmission timeout."""
    twice = (633, 721)
    stack, again = many_holes(make_stack, twice)
    st = stack.stats()
    extra = Counter(again) - Counter(MANY_HOLES + list(twice))
    assert not Counter(MANY_HOLES + list(twice)) - Counter(again)
    assert sum(extra.values()) <= st["tail_probes"], extra  # RFC 8985 7: the last segment
    assert st["sack_merged"] > 0 and st["rto_expired"] == 0


def test_first_flight_lost_before_our_fin_costs_a_probe(stack: Stack) -> None:
    """RFC 8985 7.2 and RFC 6298 5.1: a request with Connection: close has our FIN queued
    behind the response before any of it goes. The loss timer starts with the first
    segment, as a probe: when the whole first flight is lost, the probe goes two round
    trips later, not the RTO (240 ms here). Armed while nothing was out yet, it was a
    bare RTO that no send restarts; 200 downloads through a full queue all met it, and
    backed off in step."""
    peer = rack_peer(stack)
    lose_copies(peer, {n: 1 for n in range(10)})  # the whole initial window
    sent = peer.send("PA", get(BIG, headers=["Connection: close"]))
    sent += peer.advance(10)  # pacing lets the last few go
    last = max(s.at for s in sent if s.payload)
    probe = peer.advance_until(lambda s: bool(s.payload), limit_ms=300)[-1]
    assert probe.at - last <= 2 * RTT_MS + 3, (probe.at, last)
    st = stack.stats()
    assert (st["tail_probes"], st["rto_expired"]) == (1, 0)
    peer.deliver(len(peer.inbox))  # its SACK shows the flight lost: a fast recovery
    run_to_end(peer)
    assert stack.stats()["rto_expired"] == 0


def test_probe_resends_the_last_segment_not_sacked(stack: Stack) -> None:
    """RFC 8985 7.3, where the peer has SACKed the last segment: segment 68 of 70 is
    lost, and so is its retransmission, with nothing sent after it for RACK to go by.
    The probe is 68 again, the last segment the peer has not SACKed, rather than 69,
    whose D-SACK would say nothing of what is missing: the response completes without
    a retransmission timeout."""
    peer = rack_peer(stack)
    peer.request(get(BIG))
    left = lose_copies(peer, {68: 2})
    out = run_to_end(peer)
    assert left == {68: 0}
    assert resent(peer, out) == [68, 68], resent(peer, out)
    st = stack.stats()
    assert (st["tail_probes"], st["rto_expired"]) == (1, 0)


def third_round(stack: Stack) -> Peer:
    """A peer whose window never limits the flight asks for WIDE; two round trips
    arrive, and the third, from segment 30 on, waits in its inbox."""
    peer = rack_peer(stack, wscale=7)
    peer.window = 65535  # x 128
    peer.request(get(WIDE))
    one_trip(peer)
    one_trip(peer)
    peer.advance(RTT_MS)
    assert segno(peer, peer.inbox[0]) == 30
    return peer


def test_ack_that_ends_recovery_starts_the_next_for_holes_already_lost(stack: Stack) -> None:
    """RFC 8985 6.2 (any ACK may show RACK a loss) and RFC 6675 5: the first segment of
    the third round is lost, and recovery begins with SND.MAX at 45 ("recover"). Of the
    new data sent in it, 46-48 are lost; the peer SACKs 49-55 before the resend of 30
    arrives last, so RACK calls 46-48 lost inside the recovery, but pacing has not let
    them go when the cumulative ACK passes 45 and ends it. That ACK starts the next
    recovery at once (as Linux looks again on leaving recovery), with 46 resent in the
    same pass: nothing else would come back to say they are missing before the probe."""
    peer = third_round(stack)
    lose_copies(peer, {30: 1, 46: 1, 47: 1, 48: 1})
    peer.deliver(len(peer.inbox))
    assert stack.stats()["fast_retransmits"] == 1
    peer.advance(RTT_MS)
    assert [(segno(peer, s), s.resent) for s in peer.inbox][:2] == [(30, True), (45, False)]
    assert max(segno(peer, s) for s in peer.inbox) >= 49
    peer.inbox.append(peer.inbox.popleft())  # the resend of 30 arrives last
    before = peer.deliver(len(peer.inbox) - 1)
    assert 46 not in resent(peer, before)
    full = peer.deliver(1)
    assert resent(peer, full) == [46]
    assert stack.stats()["fast_retransmits"] == 2
    run_to_end(peer, size=2_000_000)
    assert stack.stats()["rto_expired"] == 0


def test_quick_ack_of_data_sent_once_counts_in_recovery(stack: Stack) -> None:
    """RFC 8985 6.2 step 2 doubts an ACK sooner than min_RTT only for a retransmitted
    segment, which an earlier copy may have delivered. Segments 12 and 29 of the second
    round are lost (29 its last); in the recovery for 12, the round trip falls from 40 to
    20 ms, and new data 30-33, sent once, is SACKed 20 ms after it went. Its sample
    counts, so 29, sent before it, is lost and goes again within a few milliseconds, not
    after the probe or the RTO."""
    peer = rack_peer(stack, wscale=7)
    peer.window = 65535  # x 128: the peer's window never limits the flight
    peer.request(get(WIDE))
    one_trip(peer)
    peer.advance(RTT_MS)
    assert [segno(peer, s) for s in peer.inbox] == list(range(10, 30))
    lose_copies(peer, {12: 1, 29: 1})
    sent = peer.deliver(len(peer.inbox))
    assert resent(peer, sent) == [12] and 30 in [segno(peer, s) for s in sent]
    peer.advance(RTT_MS // 2)  # the round trip is 20 ms now
    peer.deliver(len(peer.inbox))
    start = stack.now_ms
    for _ in range(5):
        if 29 in resent(peer, peer.advance(1)):
            break
    assert 29 in resent(peer, list(peer.inbox)), stack.now_ms - start
    run_to_end(peer, size=200_000)
    st = stack.stats()
    assert (st["tail_probes"], st["rto_expired"]) == (0, 0)


def test_next_recovery_does_not_resend_a_hole_whose_resend_is_on_its_way(
    stack: Stack,
) -> None:
    """RFC 6675 5 (a hole goes again once per recovery) and RFC 8985 6.2 (a resend is
    lost only when data sent after it is delivered): 30 is lost, and recovery begins
    with SND.MAX at 45. 30's resend is lost too, and of the new data sent with it, 46
    and the last segment of the flight. The others arrive in order, so RACK calls 30 and
    46 lost and they go again inside the recovery, 30 first. 30's third copy arrives and
    ends the recovery while 46's second is still on its way, and, being sent after the
    flight's last segment, shows that one lost: the next recovery starts. It resends that
    segment, not 46 a third time: a hole resent in the last recovery is in flight until
    RACK says otherwise (a third copy would be needless, and the ACK of the second, taken
    for the third's, would make every segment sent before the third look lost)."""
    peer = third_round(stack)
    losing = lose_copies(peer, {30: 2, 46: 1})
    peer.deliver(len(peer.inbox))
    assert stack.stats()["fast_retransmits"] == 1
    peer.advance(RTT_MS)
    order = [segno(peer, s) for s in peer.inbox]
    assert order[:3] == [30, 45, 46] and order == sorted(order), order
    last = order[-1]
    losing[last] = 1
    first = peer.deliver(len(order))
    for _ in range(10):  # pacing lets them go
        if 46 in resent(peer, first):
            break
        first += peer.advance(1)
    assert resent(peer, first) == [30, 46]
    assert [segno(peer, s) for s in peer.inbox] == [30, 46]
    ended = peer.deliver(1)  # 30: the full ACK, with 46's resend out
    assert stack.stats()["fast_retransmits"] == 2
    assert resent(peer, ended) == [last]
    out = run_to_end(peer, size=1_000_000)
    assert resent(peer, first + ended + out).count(46) == 1
    assert stack.stats()["rto_expired"] == 0


def test_merged_lines_keep_the_strays_of_the_lines_they_merge(
    make_stack: Callable[..., Stack],
) -> None:
    """RFC 8985 6.2 steps 2 and 5 with the send times kept in steps (tcp_rack.c): BBR
    paces its flight out in small bursts whose ACKs come back between the milliseconds
    (the link's service time varies), so the steps merge into lines, and lines into
    longer lines. Each merge strays a little from the lines it replaces; a line that
    kept only the last merge's stray was read later than data had really gone, dated a
    delivery after a resend that went after it, and called that resend lost (at the
    2% of random loss here, 10 needless resends for 87 losses). Kept whole, the stray
    keeps every reading on the safe side: what goes again is what was lost."""
    path = start(make_stack, cc=BBR, service=0.05, loss=0.02, seed=1, jitter=1.0, tick=0.1)
    path.run(2500)
    st = path.peer.stack.stats()
    assert path.lost >= 40, path.lost
    assert st["retransmits"] == path.lost, (st["retransmits"], path.lost)
