# tests/stack/test_swap.py: hot swap of the route table (docs/architecture.md, "Hot swap"). A table
# loaded while another serves becomes the current generation; a response already under
# way finishes from the table it started from, retransmissions included, so no response
# mixes two versions; a generation is retired once no response uses it, and only then
# may its memory go.
from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from harness import HTML, TEMPLATE_MSS, Peer, Stack, get

import ssdk
from ssdk.core.buildtime.build import build
from ssdk.core.runtime.engine import EngineError

SIZE = 40_000  # past the initial window: the response is still under way at the swap


def version(n: int) -> tuple[bytes, dict[str, bytes]]:
    """A table whose /big and / differ from every other version's."""
    big = random.Random(n).randbytes(SIZE)
    page = f"<p>version {n}</p>"
    app = ssdk.App()
    app.page("/big")(lambda: ssdk.Response(big))
    app.page("/")(lambda: ssdk.html(page))
    _, blob = build(app, mss=TEMPLATE_MSS)
    return blob, {"/big": big, "/": page.encode()}


@pytest.fixture
def v1() -> tuple[bytes, dict[str, bytes]]:
    return version(1)


@pytest.fixture
def swap_stack(v1: tuple[bytes, dict[str, bytes]]) -> Iterator[Stack]:
    s = Stack(v1[0])
    yield s
    s.close()


Version = tuple[bytes, dict[str, bytes]]


def test_a_response_under_way_finishes_from_its_own_table(swap_stack: Stack, v1: Version) -> None:
    """The first flight of /big comes from version 1; version 2 is published; the rest
    of the response, and a retransmission of its first segment, still carry version 1."""
    peer = Peer(swap_stack)
    peer.connect()
    peer.lose_segno(0)  # lost on arrival: it must be sent again after the swap
    first = peer.request(get("/big"))
    assert first and peer.lost, "the response did not start, or nothing was lost"
    v2_blob, v2 = version(2)
    assert swap_stack.engine.load(v2_blob) == 2
    before = swap_stack.stats()["retransmits"]
    peer.drain()
    assert swap_stack.stats()["retransmits"] > before
    resp = peer.responses(1)[0]
    assert resp.body == v1[1]["/big"]
    # The next request on the same connection is answered from version 2.
    resp2, _ = peer.fetch(get("/"))
    assert resp2.body == v2["/"]


def test_new_connections_get_the_new_table(swap_stack: Stack) -> None:
    v2_blob, v2 = version(2)
    swap_stack.engine.load(v2_blob)
    peer = Peer(swap_stack)
    peer.connect()
    resp, _ = peer.fetch(get("/"))
    assert resp.body == v2["/"] and resp.header("Content-Type") == HTML


def test_a_generation_is_retired_when_its_last_response_is_acknowledged(
    swap_stack: Stack,
) -> None:
    peer = Peer(swap_stack)
    peer.connect()
    peer.request(get("/big"))  # holds generation 1
    v2_blob, _ = version(2)
    swap_stack.engine.load(v2_blob)
    assert swap_stack.engine.reap_tables() == []  # generation 1 is still in flight
    peer.drain()
    peer.responses(1)
    freed = swap_stack.engine.reap_tables()
    assert len(freed) == 1 and bytes(freed[0]) != v2_blob


def test_a_reset_connection_lets_go_of_its_generation(swap_stack: Stack) -> None:
    peer = Peer(swap_stack)
    peer.connect()
    peer.request(get("/big"))
    swap_stack.engine.load(version(2)[0])
    peer.send("R", seq=peer.snd_nxt)
    assert swap_stack.stats()["conns_reset"] == 1
    assert len(swap_stack.engine.reap_tables()) == 1


def test_too_many_generations_in_flight_is_refused_then_recovers(swap_stack: Stack) -> None:
    """Eight tables at most are alive: the current one and seven that responses still
    use. A ninth is refused with a message, and accepted once one of them is done."""
    peers = []
    for n in range(2, 9):  # seven connections, each holding one generation
        p = Peer(swap_stack, sport=40000 + n)
        p.connect()
        p.request(get("/big"))
        peers.append(p)
        swap_stack.engine.load(version(n)[0])
    with pytest.raises(EngineError, match="responses in flight"):
        swap_stack.engine.load(version(9)[0])
    peers[0].drain()
    peers[0].responses(1)
    assert swap_stack.engine.load(version(9)[0]) == 9


def test_the_answer_behind_a_100_continue_comes_from_the_table_it_was_chosen_in(
    swap_stack: Stack, v1: Version
) -> None:
    """A request with "Expect: 100-continue" gets its 100 from version 1 and its answer
    chosen there; version 2 is published before the body comes; the answer that follows
    the 100 is version 1's, and the connection's next request gets version 2's."""
    peer = Peer(swap_stack)
    peer.connect()
    segs = peer.request(get("/", headers=["Expect: 100-continue", "Content-Length: 4"]))
    assert segs and segs[0].payload.startswith(b"HTTP/1.1 100 Continue")
    v2_blob, v2 = version(2)
    swap_stack.engine.load(v2_blob)
    assert swap_stack.engine.reap_tables() == []  # version 1 is held by the waiting answer
    peer.request(b"body")
    peer.drain()
    interim, answer = peer.responses(2)
    assert interim.status == 100 and answer.body == v1[1]["/"]
    resp, _ = peer.fetch(get("/"))
    assert resp.body == v2["/"]
    assert len(swap_stack.engine.reap_tables()) == 1


def test_a_connection_reset_while_its_answer_waits_behind_a_100_lets_go(
    swap_stack: Stack,
) -> None:
    peer = Peer(swap_stack)
    peer.connect()
    # The 100 is out, unacknowledged: the answer waits behind it, holding version 1.
    peer.request(get("/", headers=["Expect: 100-continue", "Content-Length: 4"]))
    swap_stack.engine.load(version(2)[0])
    assert swap_stack.engine.reap_tables() == []
    peer.send("R", seq=peer.snd_nxt)
    assert len(swap_stack.engine.reap_tables()) == 1
