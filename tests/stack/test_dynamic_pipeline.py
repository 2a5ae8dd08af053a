# tests/stack/test_dynamic_pipeline.py: pipelined requests for the application
# (serve/dyn_conn.c; docs/http.md, "Pipelining"). Up to the queue's depth, every request
# of a connection is parsed ahead and handed up at once, each under its own token; the
# application answers them in any order, and the stream still carries them in request
# order, each answer waiting for those before it. A token names one response of one
# connection's life: an answer for a cut response or a gone connection is refused.
#
# The application here is the test itself: AppCalls.take is replaced by a recorder that
# keeps each request's token, and the test answers with engine.respond, with bytes it
# builds itself, in the order a test needs.
from __future__ import annotations

import threading

import pytest
from harness import (
    CLOSE_VALUE,
    RESPQ_DEPTH,
    RX_WINDOW,
    SERVER_MSS,
    Peer,
    Seg,
    Stack,
    get,
    serving_app,
)
from holding import HoldingApp, answer_stream, make_app

from ssdk.core.runtime.app_calls import AppCalls


def sent_now(peer: Peer) -> list[Seg]:
    """What the stack sends in the next pass (an answer given between passes waits in
    the transmit round, tcp/tcp_sched.c), as the peer receives it; nothing is
    acknowledged."""
    return peer.collect(peer.stack.send())


def payload(segs: list[Seg]) -> bytes:
    return b"".join(s.payload for s in segs)


@pytest.mark.parametrize("count", [2, RESPQ_DEPTH])
def test_pipelined_requests_go_up_at_once_and_out_in_order(
    held: tuple[Stack, HoldingApp], count: int
) -> None:
    """All the requests of one segment reach the application in the same pass, each
    with its own token. Answered last first, nothing goes until the first is answered;
    then it and every answer behind it go back to back, byte-exact, in request order."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    data = b"".join(get(f"/api/r{i}") for i in range(count))
    assert len(data) <= SERVER_MSS
    segs = peer.request(data)
    assert [len(c) for c in app.calls] == [count], "one call, in the request's own pass"
    assert [h.path for h in app.held] == [f"/api/r{i}" for i in range(count)]
    assert len({h.token for h in app.held}) == count
    assert payload(segs) == b""
    for i in reversed(range(1, count)):
        assert app.answer(i)
        assert payload(sent_now(peer)) == b"", "an answer goes only after those before it"
    assert app.answer(0)
    expected = [answer_stream(f"r{i}") for i in range(count)]
    # The first answer releases them all at once: every byte goes, unacknowledged (the
    # initial window holds them), before the peer says anything.
    assert len(payload(sent_now(peer))) == sum(len(x) for x in expected)
    peer.drain()
    assert [r.raw for r in peer.responses(count)] == expected
    assert peer.unread() == b""
    assert stack.stats()["dyn_requests"] == count and stack.stats()["dyn_orphans"] == 0


def test_table_and_dynamic_responses_mixed(held: tuple[Stack, HoldingApp]) -> None:
    """static, dynamic, static, dynamic: the first goes at once; the second static is
    queued behind the first wait; the last answer, given first, waits for the other."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/static") + get("/api/a") + get("/static") + get("/api/b"))
    assert [h.path for h in app.held] == ["/api/a", "/api/b"] and len(app.calls) == 1
    first = peer.responses(1)[0]
    assert (first.status, first.body) == (200, b"precomputed")
    assert peer.unread() == b"", "nothing after the first static response yet"
    assert app.answer(1)
    assert payload(sent_now(peer)) == b""
    assert app.answer(0, size=3000)  # several segments: the window takes turns
    peer.drain()
    a, s, b = peer.responses(3)
    assert (a.raw, s.body, b.raw) == (answer_stream("a", 3000), b"precomputed",
                                      answer_stream("b"))  # fmt: skip
    assert peer.unread() == b""


def test_an_answer_for_a_response_cut_by_a_close_is_refused(
    held: tuple[Stack, HoldingApp],
) -> None:
    """An answer that closes (keep=False) cuts every response queued behind it, the one
    already answered and the one still with the application: answers for those are
    refused and counted, and the connection closes after the closing answer."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/a") + get("/api/b") + get("/api/c"))
    assert len(app.held) == 3
    assert app.answer(1)  # b, answered before a: kept, waiting for a
    assert app.answer(0, keep=False)
    assert not app.answer(2), "c was cut: its token names nothing now"
    assert not app.answer(1), "nor does b's, answered and cut"
    assert stack.stats()["dyn_orphans"] == 2
    peer.drain()
    (a,) = peer.responses(1)
    assert a.raw == answer_stream("a", connection=CLOSE_VALUE)
    assert peer.unread() == b"" and peer.fin
    peer.send("FA")
    assert stack.stats()["rst_sent"] == 0 and stack.stats()["conns_active"] == 0


def test_a_close_cuts_a_request_whose_body_is_still_coming(
    held: tuple[Stack, HoldingApp],
) -> None:
    """The last request, still reading its body, is cut by a closing answer before it:
    it never goes up, and the rest of its body is not read as a request."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    body = b"x" * 3000
    upload = get("/api/up", method="POST", headers=[f"Content-Length: {len(body)}"])
    peer.request(get("/api/a") + upload + body[:500])
    assert [h.path for h in app.held] == ["/api/a"]
    assert app.answer(0, keep=False)
    peer.drain()
    assert peer.responses(1)[0].raw == answer_stream("a", connection=CLOSE_VALUE)
    assert peer.fin and peer.unread() == b""
    peer.request(body[500:])  # after our FIN: never a request, never the application's
    assert len(app.held) == 1 and stack.stats()["dyn_requests"] == 1


def test_answers_for_a_connection_that_went_are_refused(held: tuple[Stack, HoldingApp]) -> None:
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/a") + get("/api/b"))
    peer.send("R", seq=peer.snd_nxt)
    assert stack.stats()["conns_active"] == 0
    again = Peer(stack)  # the slot is taken again: a new life, other tokens
    again.connect()
    assert not app.answer(1) and not app.answer(0)
    assert stack.stats()["dyn_orphans"] == 2
    resp, _ = again.fetch(get("/static"))
    assert resp.body == b"precomputed"


def test_past_the_depth_requests_wait_in_the_window(held: tuple[Stack, HoldingApp]) -> None:
    """RESPQ_DEPTH requests go up at once; the next waits unparsed in the buffer (the
    window is smaller by it) until answers are acknowledged, then goes up in its turn."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    reqs = [get(f"/api/q{i}") for i in range(RESPQ_DEPTH + 1)]
    segs = peer.request(b"".join(reqs))
    assert [len(c) for c in app.calls] == [RESPQ_DEPTH]
    acks = [s for s in segs if s.has("A")]
    assert acks and acks[-1].win == RX_WINDOW - len(reqs[-1]), "the last one waits"
    for i in (2, 0, 3, 1):
        assert app.answer(i)
    peer.drain()
    assert [len(c) for c in app.calls] == [RESPQ_DEPTH, 1]
    assert app.held[-1].path == f"/api/q{RESPQ_DEPTH}"
    assert app.answer(RESPQ_DEPTH)
    peer.drain()
    got = peer.responses(RESPQ_DEPTH + 1)
    assert [r.raw for r in got] == [answer_stream(f"q{i}") for i in range(RESPQ_DEPTH + 1)]


def test_a_retransmission_spanning_two_answers_is_the_same(
    held: tuple[Stack, HoldingApp],
) -> None:
    """A lost segment that ends one answer and begins the next (answered in the other
    order) is rebuilt from the two kept answers, byte for byte."""
    stack, app = held
    peer = Peer(stack)
    peer.connect()
    peer.request(get("/api/a") + get("/api/b"))
    first_len = len(answer_stream("a", 1000))
    peer.lose = lambda s: peer.offset(s) < first_len < peer.offset(s) + len(s.payload)
    assert app.answer(1, size=2000)
    assert app.answer(0, size=1000)
    sent_now(peer)
    assert peer.lost, "the segment across the two answers was not sent"
    lost = peer.lost[0]
    peer.lose = None
    again = [s for s in peer.drain() if s.seq == lost.seq and s.payload]
    if not again:  # not sent again on duplicate ACKs: the retransmission timer's turn
        again = peer.advance_until(lambda s: bool(s.payload) and s.seq == lost.seq)[-1:]
        peer.drain()
    n = min(len(lost.payload), len(again[0].payload))
    assert again[0].payload[:n] == lost.payload[:n]
    a, b = peer.responses(2)
    assert (a.raw, b.raw) == (answer_stream("a", 1000), answer_stream("b", 2000))
    assert stack.stats()["retransmits"] >= 1


def test_two_slow_handlers_of_one_connection_run_at_once() -> None:
    """blocking=True handlers of two pipelined requests run in the pool side by side:
    each waits at a barrier for the other, which only both can pass if they run at
    once (one after the other, the first times out and answers 500)."""
    barrier = threading.Barrier(2, timeout=5)
    with serving_app(make_app(barrier), threading.Event()) as (stack, calls):
        assert isinstance(calls, AppCalls)
        peer = Peer(stack)
        peer.connect()
        peer.request(get("/pair/1") + get("/pair/2"))
        assert calls.in_pool == 2, "both went to the pool in the request's pass"
        for _ in range(1000):
            if not calls.busy():
                break
            threading.Event().wait(0.01)
            calls.drain()
        peer.drain()
        one, two = peer.responses(2)
        assert (one.status, one.body, two.status, two.body) == (200, b"pair 1", 200, b"pair 2")
