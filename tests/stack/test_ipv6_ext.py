# tests/stack/test_ipv6_ext.py: IPv6 extension headers on the way in (RFC 8200 4):
# options skipped or obeyed as their type's two high bits say (4.2), hop-by-hop only
# first (4.3), fragments (4.5) and routing headers with segments left (4.4) dropped and
# counted, an unknown next header answered with a parameter problem (4), and parameter
# problems rate-limited (RFC 4443 2.4(f)). Frames are built and parsed by scapy.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import CLIENT_IP6, CLIENT_MAC, SERVER_IP6, SERVER_MAC, Stack
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (
    HBHOptUnknown,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ParamProblem,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, raw

DUAL = ("198.18.0.2/15", "2001:2::2/64")
OPTION_AT = 40 + 2  # the first option of the first extension header (RFC 8200 4.2)


def dual(make_stack: Callable[..., Stack], **config: object) -> Stack:
    stack = make_stack(addrs=DUAL, **config)
    stack.engine.poll()
    assert len(stack.take()) == 1  # the MLD report (test_ipv6_link)
    return stack


def to_us(dst: str = SERVER_IP6, mac: str = SERVER_MAC) -> Packet:
    return Ether(src=CLIENT_MAC, dst=mac) / IPv6(src=CLIENT_IP6, dst=dst)


def syn(sport: int = 40000) -> Packet:
    return TCP(sport=sport, dport=80, flags="S", seq=1000, options=[("MSS", 1440)])


def unknown(otype: int) -> HBHOptUnknown:
    """An option no one knows (type's low bits 0x1e), its action in the top two bits."""
    return HBHOptUnknown(otype=otype, optdata=b"\x00\x00\x00\x00")


@pytest.mark.parametrize("header", [IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt])
def test_unknown_option_00_is_skipped(make_stack: Callable[..., Stack], header: type) -> None:
    """RFC 8200 4.2, action 00: skip the option and go on; the SYN behind it is answered."""
    stack = dual(make_stack)
    out = stack.send(to_us() / header(options=[unknown(0x1E)]) / syn())
    assert [str(p[TCP].flags) for p in out] == ["SA"]


@pytest.mark.parametrize("header", [IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt])
def test_unknown_option_01_discards(make_stack: Callable[..., Stack], header: type) -> None:
    """RFC 8200 4.2, action 01: discard the packet, silently; counted."""
    stack = dual(make_stack)
    assert stack.send(to_us() / header(options=[unknown(0x5E)]) / syn()) == []
    st = stack.stats()
    assert (st["drop_ip6_ext"], st["icmp6_param_probs"], st["syn_received"]) == (1, 0, 0)


@pytest.mark.parametrize("otype", [0x9E, 0xDE])
def test_unknown_option_10_11_sends_parameter_problem(
    make_stack: Callable[..., Stack], otype: int
) -> None:
    """RFC 8200 4.2, actions 10 and 11 to a unicast address: discard, and send an
    ICMPv6 parameter problem, code 2, pointing at the option's type (RFC 4443 3.4),
    quoting the packet."""
    stack = dual(make_stack)
    bad = to_us() / IPv6ExtHdrDestOpt(options=[unknown(otype)]) / syn()
    out = stack.send(bad)
    assert len(out) == 1
    pp = out[0][ICMPv6ParamProblem]
    assert (out[0].dst, out[0][IPv6].src, out[0][IPv6].dst) == (CLIENT_MAC, SERVER_IP6, CLIENT_IP6)
    assert (pp.code, pp.ptr) == (2, OPTION_AT)
    assert raw(pp.payload) == raw(bad[IPv6])
    assert stack.stats()["icmp6_param_probs"] == 1


@pytest.mark.parametrize(("otype", "answered"), [(0x9E, True), (0xDE, False)])
def test_option_11_to_a_group_gets_no_parameter_problem(
    make_stack: Callable[..., Stack], otype: int, answered: bool
) -> None:
    """RFC 8200 4.2: to a multicast destination, action 10 still sends the parameter
    problem, action 11 only discards (RFC 4443 2.4(e.3))."""
    stack = dual(make_stack)
    ping = (
        to_us("ff02::1", "33:33:00:00:00:01")
        / IPv6ExtHdrDestOpt(options=[unknown(otype)])
        / ICMPv6EchoRequest(id=1, seq=1)
    )
    out = stack.send(ping)
    assert [ICMPv6ParamProblem in p for p in out] == ([True] if answered else [])
    assert stack.stats()["drop_ip6_ext"] == 1


def test_hop_by_hop_not_first_is_a_parameter_problem(make_stack: Callable[..., Stack]) -> None:
    """RFC 8200 4.3 (and 4.1): hop-by-hop options come only right after the IPv6
    header; elsewhere they are an unrecognized next header: code 1, pointing at the
    field that named them."""
    stack = dual(make_stack)
    out = stack.send(to_us() / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / syn())
    assert len(out) == 1
    assert (out[0][ICMPv6ParamProblem].code, out[0][ICMPv6ParamProblem].ptr) == (1, 40)


def test_unknown_next_header_is_a_parameter_problem(make_stack: Callable[..., Stack]) -> None:
    """RFC 8200 4: a next header we do not know (UDP here) is discarded with a
    parameter problem, code 1, pointing at the Next Header field (offset 6)."""
    stack = dual(make_stack)
    out = stack.send(to_us() / UDP(sport=5000, dport=53))
    assert len(out) == 1
    assert (out[0][ICMPv6ParamProblem].code, out[0][ICMPv6ParamProblem].ptr) == (1, 6)
    assert stack.stats()["drop_ip_proto"] == 1


def test_option_running_past_its_header_is_dropped(make_stack: Callable[..., Stack]) -> None:
    """RFC 8200 4.2: an option whose length runs past its header is malformed:
    dropped and counted."""
    stack = dual(make_stack)
    frame = bytearray(raw(to_us() / IPv6ExtHdrDestOpt(options=[unknown(0x1E)]) / syn()))
    frame[14 + 40 + 3] = 200  # the option's length
    out = stack.send(bytes(frame))
    assert [ICMPv6ParamProblem in p for p in out] == [True]
    assert stack.stats()["drop_ip6_ext"] == 1


def test_routing_header_with_segments_left_is_dropped(make_stack: Callable[..., Stack]) -> None:
    """RFC 8200 4.4: with segments left the packet is not for us to consume (we do
    not route): dropped and counted; with none left, the header is skipped."""
    stack = dual(make_stack)
    routed = IPv6ExtHdrRouting(type=4, segleft=1, addresses=["2001:2::9"])
    assert stack.send(to_us() / routed / syn(40001)) == []
    assert stack.stats()["drop_ip6_routing"] == 1
    done = IPv6ExtHdrRouting(type=4, segleft=0, addresses=["2001:2::9"])
    out = stack.send(to_us() / done / syn(40002))
    assert [str(p[TCP].flags) for p in out] == ["SA"]


@pytest.mark.parametrize(("offset", "m"), [(0, 1), (100, 0), (0, 0)])
def test_fragments_are_dropped(make_stack: Callable[..., Stack], offset: int, m: int) -> None:
    """RFC 8200 4.5: we never reassemble; every fragment, the first, a later one, and
    an atomic one (offset 0, M 0: RFC 6946), is dropped and counted, without reply."""
    stack = dual(make_stack)
    frag = IPv6ExtHdrFragment(offset=offset, m=m, id=7)
    assert stack.send(to_us() / frag / syn()) == []
    st = stack.stats()
    assert (st["drop_ip6_frag"], st["syn_received"], st["icmp6_param_probs"]) == (1, 0, 0)


def test_parameter_problems_are_rate_limited(make_stack: Callable[..., Stack]) -> None:
    """RFC 4443 2.4(f): error messages are limited by a token bucket: a burst of 10,
    then 10 a second; what the bucket refuses is counted, and the packets are dropped
    all the same."""
    stack = dual(make_stack)
    bad = to_us() / IPv6ExtHdrDestOpt(options=[unknown(0x9E)]) / syn()
    out = stack.send(*[bad] * 30)
    assert len(out) == 10
    st = stack.stats()
    assert (st["icmp6_param_probs"], st["icmp6_pp_limited"], st["drop_ip6_ext"]) == (10, 20, 30)
    stack.advance(500)  # half a second: five tokens
    assert len(stack.send(*[bad] * 30)) == 5
    stack.advance(10_000)  # the bucket holds a burst at most
    assert len(stack.send(*[bad] * 30)) == 10


def test_echo_behind_options_is_answered(make_stack: Callable[..., Stack]) -> None:
    """Options to skip, and a routing header with none left, before an echo request:
    the reply comes (RFC 8200 4: headers are processed in order)."""
    stack = dual(make_stack)
    ping = (
        to_us()
        / IPv6ExtHdrHopByHop(options=[unknown(0x1E)])
        / IPv6ExtHdrDestOpt(options=[unknown(0x3E)])
        / ICMPv6EchoRequest(id=9, seq=9, data=b"x" * 40)
    )
    out = stack.send(ping)
    assert len(out) == 1 and out[0][ICMPv6EchoReply].id == 9
