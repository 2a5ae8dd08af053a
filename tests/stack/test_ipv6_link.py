# tests/stack/test_ipv6_link.py: IPv6 below TCP: neighbour discovery (RFC 4861), the
# MLDv2 report (RFC 3810), ICMPv6 echo (RFC 4443 4), extension headers (RFC 8200 4),
# fragments and routing headers dropped and counted, and parameter problems
# rate-limited (RFC 4443 2.4(f)). Frames are built and parsed by scapy.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import CLIENT_IP6, CLIENT_MAC, SERVER_IP6, SERVER_MAC, Stack
from scapy.layers.inet import TCP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6MLQuery2,
    ICMPv6MLReport2,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
    RouterAlert,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, raw

DUAL = ("198.18.0.2/15", "2001:2::2/64")
SOLICITED = "ff02::1:ff00:2"  # RFC 4291 2.7.1: ff02::1:ff and our address's low 24 bits
SOLICITED_MAC = "33:33:ff:00:00:02"  # RFC 2464 7


def dual(make_stack: Callable[..., Stack], **config: object) -> Stack:
    stack = make_stack(addrs=DUAL, **config)
    stack.engine.poll()
    assert len(stack.take()) == 1  # the MLD report (test_mld_report_at_start)
    return stack


def records(pkt: Packet) -> list[tuple[int, str]]:
    """(type, group) of each record of an MLDv2 report (RFC 3810 5.2), read from its
    bytes: 8 bytes of header, then records of 4 + 16 bytes (no sources, no aux data)."""
    import ipaddress

    body = raw(pkt[ICMPv6MLReport2])
    count = int.from_bytes(body[6:8], "big")
    out = []
    for i in range(count):
        rec = body[8 + 20 * i : 8 + 20 * (i + 1)]
        assert rec[1:4] == bytes(3), "aux data or sources in a record"
        out.append((rec[0], str(ipaddress.IPv6Address(rec[4:20]))))
    assert len(body) == 8 + 20 * count
    return out


def to_us(dst: str = SERVER_IP6, mac: str = SERVER_MAC, hlim: int = 64) -> Packet:
    return Ether(src=CLIENT_MAC, dst=mac) / IPv6(src=CLIENT_IP6, dst=dst, hlim=hlim)


def syn() -> Packet:
    return TCP(sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1440)])


# --- MLDv2 and neighbour discovery ------------------------------------------------------


def test_mld_report_at_start(make_stack: Callable[..., Stack]) -> None:
    """RFC 3810 6.1 and 5.2: when it starts, the engine joins the solicited-node group
    of its IPv6 address with an MLDv2 report (CHANGE_TO_EXCLUDE, no sources) to
    ff02::16, hop limit 1 and a Router Alert (5.2.13; RFC 2711), from :: since it has
    no link-local address; so a snooping switch forwards solicitations to it."""
    stack = make_stack(addrs=(*DUAL, "2001:2:0:1::2/64"))  # same low 24 bits: one group
    stack.engine.poll()
    out = stack.take()
    assert len(out) == 1
    pkt = out[0]
    assert pkt.dst == "33:33:00:00:00:16"
    ip = pkt[IPv6]
    assert (ip.src, ip.dst, ip.hlim) == ("::", "ff02::16", 1)
    assert any(isinstance(o, RouterAlert) and o.value == 0 for o in pkt[IPv6ExtHdrHopByHop].options)
    assert records(pkt) == [(4, SOLICITED)]
    assert stack.stats()["mld_reports"] == 1


def test_mld_report_from_link_local(make_stack: Callable[..., Stack]) -> None:
    """RFC 3810 5.2.13: with a link-local address, the report comes from it; each
    address's group is reported once."""
    stack = make_stack(addrs=(*DUAL, "fe80::2:3/64"))
    stack.engine.poll()
    pkt = stack.take()[0]
    assert pkt[IPv6].src == "fe80::2:3"
    assert records(pkt) == [(4, SOLICITED), (4, "ff02::1:ff02:3")]


def test_ipv4_only_engine_sends_no_mld_and_takes_no_ipv6(stack: Stack) -> None:
    """An engine without an IPv6 address behaves as before: nothing at start, and an
    IPv6 frame is an ethertype it does not take."""
    stack.engine.poll()
    assert stack.take() == []
    assert stack.send(to_us() / syn()) == []
    assert stack.stats()["drop_ethertype"] == 1


def test_mld_query_is_answered(make_stack: Callable[..., Stack]) -> None:
    """RFC 3810 6.2: a general query (hop limit 1) gets a current-state report
    (MODE_IS_EXCLUDE) of our groups."""
    stack = dual(make_stack)
    query = (
        Ether(src=CLIENT_MAC, dst="33:33:00:00:00:01")
        / IPv6(src="fe80::1", dst="ff02::1", hlim=1)
        / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
        / ICMPv6MLQuery2()
    )
    out = stack.send(query)
    assert len(out) == 1
    assert records(out[0]) == [(2, SOLICITED)]


def test_mld_report_repeats_every_query_interval(make_stack: Callable[..., Stack]) -> None:
    """RFC 3810 9.2, 9.4: the current-state report (MODE_IS_EXCLUDE) goes unasked every
    125 s (the default Query Interval), so a snooping switch keeps the group where the
    queries never reach the engine (the kernel's, under ssdk's XDP program); not
    before, and once per interval."""
    stack = dual(make_stack)
    assert stack.advance(124_000) == []
    out = stack.advance(1_000)
    assert [records(p) for p in out] == [[(2, SOLICITED)]]
    assert out[0][IPv6].dst == "ff02::16"
    assert stack.advance(124_000) == []
    assert [records(p) for p in stack.advance(1_000)] == [[(2, SOLICITED)]]
    assert stack.stats()["mld_reports"] == 3


def test_ipv4_only_engine_repeats_no_mld(stack: Stack) -> None:
    stack.engine.poll()
    assert stack.advance(300_000) == []
    assert stack.stats()["mld_reports"] == 0


def solicit(target: str = SERVER_IP6, hlim: int = 255, dst: str = SOLICITED,
            mac: str = SOLICITED_MAC) -> Packet:  # fmt: skip
    return to_us(dst, mac, hlim) / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC)


@pytest.mark.parametrize("how", ["solicited-node group", "unicast"])
def test_neighbor_solicitation_is_answered(make_stack: Callable[..., Stack], how: str) -> None:
    """RFC 4861 7.2.3-7.2.4: a solicitation for our address, to its solicited-node
    group (address resolution) or to the address itself (unreachability detection),
    gets an advertisement to the solicitor's source MAC and address, from the target,
    hop limit 255, Solicited and Override set, Router clear, with our MAC as target
    link-layer address."""
    stack = dual(make_stack)
    ns = solicit() if how != "unicast" else solicit(dst=SERVER_IP6, mac=SERVER_MAC)
    out = stack.send(ns)
    assert len(out) == 1
    na = out[0]
    assert (na.dst, na[IPv6].src, na[IPv6].dst, na[IPv6].hlim) == (
        CLIENT_MAC,
        SERVER_IP6,
        CLIENT_IP6,
        255,
    )
    adv = na[ICMPv6ND_NA]
    assert (adv.R, adv.S, adv.O, adv.tgt) == (0, 1, 1, SERVER_IP6)
    assert na[ICMPv6NDOptDstLLAddr].lladdr == SERVER_MAC
    assert stack.stats()["nd_adverts"] == 1


@pytest.mark.parametrize("hlim", [254, 64, 1])
def test_solicitation_with_hop_limit_below_255_is_dropped(
    make_stack: Callable[..., Stack], hlim: int
) -> None:
    """RFC 4861 7.1.1: a solicitation whose hop limit is not 255 may have crossed a
    router (it could come from off the link) and is dropped, counted."""
    stack = dual(make_stack)
    assert stack.send(solicit(hlim=hlim)) == []
    assert (stack.stats()["drop_nd"], stack.stats()["nd_adverts"]) == (1, 0)


def test_solicitation_for_another_address_is_dropped(make_stack: Callable[..., Stack]) -> None:
    """RFC 4861 7.2.3: a solicitation whose target is not ours (another host sharing the
    solicited-node group) gets no answer."""
    stack = dual(make_stack)
    assert stack.send(solicit(target="2001:2::5:0:2")) == []
    assert stack.stats()["drop_nd"] == 1


def test_frame_to_another_group_is_not_ours(make_stack: Callable[..., Stack]) -> None:
    """A group we did not join (another address's solicited-node group) is not ours."""
    stack = dual(make_stack)
    assert stack.send(solicit(dst="ff02::1:ff00:9", mac="33:33:ff:00:00:09")) == []
    assert stack.stats()["drop_not_ours"] == 1


# --- echo ------------------------------------------------------------------------------


@pytest.mark.parametrize("dst", [SERVER_IP6, "ff02::1"])
def test_echo_request_gets_reply(make_stack: Callable[..., Stack], dst: str) -> None:
    """RFC 4443 4.2: the reply carries the request's identifier, sequence number and
    data, from our unicast address even when the request went to all-nodes."""
    stack = dual(make_stack)
    data = bytes(range(200)) + b"odd"
    mac = SERVER_MAC if dst == SERVER_IP6 else "33:33:00:00:00:01"
    out = stack.send(to_us(dst, mac) / ICMPv6EchoRequest(id=0x1234, seq=7, data=data))
    assert len(out) == 1
    rep = out[0][ICMPv6EchoReply]
    assert (out[0][IPv6].src, out[0][IPv6].dst) == (SERVER_IP6, CLIENT_IP6)
    assert (rep.id, rep.seq, bytes(rep.data)) == (0x1234, 7, data)
    assert stack.stats()["icmp6_echo_replies"] == 1


def test_echo_with_bad_checksum_is_dropped(make_stack: Callable[..., Stack]) -> None:
    """RFC 4443 2.3: a message whose checksum (over the pseudo-header) fails is dropped."""
    stack = dual(make_stack)
    frame = bytearray(raw(to_us() / ICMPv6EchoRequest(id=1, seq=1)))
    frame[14 + 40 + 2] ^= 0xFF
    assert stack.send(bytes(frame)) == []
    assert stack.stats()["drop_icmp"] == 1
