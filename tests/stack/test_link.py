# tests/stack/test_link.py: below TCP: ARP (RFC 826), ICMP echo (RFC 792), and the
# input checks of Ethernet and IPv4 (RFC 791) and of the TCP header (RFC 9293 3.1):
# every malformed frame is dropped without a reply and counted under its own counter.
from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import CLIENT_IP, CLIENT_MAC, SERVER_IP, SERVER_MAC, Peer, Stack
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw, raw

BROADCAST = "ff:ff:ff:ff:ff:ff"


def arp_request(target: str) -> Packet:
    return Ether(src=CLIENT_MAC, dst=BROADCAST) / ARP(
        op="who-has", hwsrc=CLIENT_MAC, psrc=CLIENT_IP, hwdst="00:00:00:00:00:00", pdst=target
    )


def test_arp_request_for_our_ip_gets_reply(stack: Stack) -> None:
    """RFC 826 (packet reception): a request for our protocol address is answered with
    op = reply, our hardware and protocol address as sender, the requester's as target,
    sent to the requester's hardware address."""
    out = stack.send(arp_request(SERVER_IP))
    assert len(out) == 1
    reply = out[0]
    assert (reply.dst, reply.src, reply.type) == (CLIENT_MAC, SERVER_MAC, 0x0806)
    arp = reply[ARP]
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen, arp.op) == (1, 0x0800, 6, 4, 2)
    assert (arp.hwsrc, arp.psrc) == (SERVER_MAC, SERVER_IP)
    assert (arp.hwdst, arp.pdst) == (CLIENT_MAC, CLIENT_IP)
    assert stack.stats()["arp_replies"] == 1


def test_arp_request_for_another_ip_is_ignored(stack: Stack) -> None:
    """RFC 826: a request whose target protocol address is not ours gets no reply."""
    assert stack.send(arp_request("198.18.0.77")) == []
    st = stack.stats()
    assert (st["arp_replies"], st["drop_arp"]) == (0, 1)


def test_arp_reply_is_not_answered(stack: Stack) -> None:
    """RFC 826: only requests (op 1) are answered; a reply needs no reply."""
    frame = arp_request(SERVER_IP)
    frame[ARP].op = 2
    assert stack.send(frame) == []
    assert stack.stats()["drop_arp"] == 1


def test_icmp_echo_gets_reply(stack: Stack) -> None:
    """RFC 792 (Echo or Echo Reply): the reply has type 0, the request's identifier,
    sequence number and data, addresses reversed, and a valid checksum."""
    data = bytes(range(256)) * 2 + b"odd"  # an odd length exercises checksum padding
    ping = (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP)
        / ICMP(type=8, code=0, id=0x1234, seq=7)
        / Raw(data)
    )
    out = stack.send(ping)
    assert len(out) == 1
    reply = out[0]
    assert reply.dst == CLIENT_MAC
    assert (reply[IP].src, reply[IP].dst, reply[IP].proto) == (SERVER_IP, CLIENT_IP, 1)
    icmp = reply[ICMP]
    assert (icmp.type, icmp.code, icmp.id, icmp.seq) == (0, 0, 0x1234, 7)
    assert bytes(icmp.payload) == data
    assert stack.stats()["icmp_echo_replies"] == 1


def test_icmp_small_echo_is_padded(stack: Stack) -> None:
    """RFC 792 with no data: the reply is padded to the Ethernet minimum (the harness
    checks that the padding is zero and outside the IP total length)."""
    ping = (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP)
        / ICMP(type=8, id=1, seq=1)
    )
    out = stack.send(ping)
    assert len(out) == 1 and out[0][IP].len == 28


def test_icmp_bad_checksum_is_dropped(stack: Stack) -> None:
    """RFC 792: the checksum covers the ICMP message; one that does not verify is
    dropped."""
    ping = (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP)
        / ICMP(type=8, id=1, seq=1, chksum=0x1234)
    )
    assert stack.send(ping) == []
    assert stack.stats()["drop_icmp"] == 1


def test_icmp_other_types_are_not_answered(stack: Stack) -> None:
    """RFC 792 and RFC 1122 3.2.2.6: an Echo Request gets an Echo Reply; an Echo Reply
    (type 0) is not answered."""
    pong = (
        Ether(src=CLIENT_MAC, dst=SERVER_MAC)
        / IP(src=CLIENT_IP, dst=SERVER_IP)
        / ICMP(type=0, id=1, seq=1)
    )
    assert stack.send(pong) == []
    assert stack.stats()["drop_icmp"] == 1


# --- malformed frames --------------------------------------------------------------------


def syn(peer: Peer) -> Packet:
    return peer.frame("S", options=[("MSS", 1460)])


def runt(peer: Peer) -> bytes:
    return raw(syn(peer))[:10]


def bad_ip_checksum(peer: Peer) -> bytes:
    p = syn(peer)
    p[IP].chksum = 0xBEEF
    return raw(p)


def bad_ip_version(peer: Peer) -> bytes:
    p = syn(peer)
    p[IP].version = 6
    return raw(p)  # the checksum is computed over the bad version, so only it is wrong


def ip_length_beyond_frame(peer: Peer) -> bytes:
    p = syn(peer)
    p[IP].len = len(p[IP]) + 100
    return raw(p)


def ip_header_length_short(peer: Peer) -> bytes:
    p = syn(peer)
    p[IP].ihl = 4
    return raw(p)


def ip_fragment_mf(peer: Peer) -> bytes:
    p = syn(peer)
    p[IP].flags = "MF"
    return raw(p)


def ip_fragment_offset(peer: Peer) -> bytes:
    p = syn(peer)
    p[IP].flags = 0
    p[IP].frag = 8
    return raw(p)


def bad_tcp_checksum(peer: Peer) -> bytes:
    p = syn(peer)
    p[TCP].chksum = 0xBEEF
    return raw(p)


def tcp_offset_beyond_segment(peer: Peer) -> bytes:
    p = peer.frame("S")
    p[TCP].dataofs = 15  # 60 bytes of header in a 20-byte segment
    return raw(p)


def tcp_offset_below_minimum(peer: Peer) -> bytes:
    p = peer.frame("S")
    p[TCP].dataofs = 4
    return raw(p)


def tcp_shorter_than_header(peer: Peer) -> bytes:
    p = Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT_IP, dst=SERVER_IP, proto=6)
    return raw(p / Raw(raw(syn(peer)[TCP])[:12]))


def unknown_ethertype(peer: Peer) -> bytes:
    p = syn(peer)
    p[Ether].type = 0x86DD  # IPv6: not spoken here
    return raw(p)


def ip_for_another_address(peer: Peer) -> bytes:
    return raw(peer.frame("S", options=[("MSS", 1460)], dst_ip="198.18.0.3"))


def ether_for_another_mac(peer: Peer) -> bytes:
    p = syn(peer)
    p[Ether].dst = "02:00:00:00:00:09"
    return raw(p)


def unknown_ip_protocol(peer: Peer) -> bytes:
    p = Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=CLIENT_IP, dst=SERVER_IP, proto=17)
    return raw(p / Raw(b"\x00" * 8))


# (frame builder, the one drop counter it must move); the comment names the rule broken
MALFORMED: list[tuple[Callable[[Peer], bytes], str]] = [
    (runt, "drop_runt"),  # shorter than an Ethernet header
    (bad_ip_checksum, "drop_ip_csum"),  # RFC 791 3.1 header checksum
    (bad_ip_version, "drop_ip_version"),  # RFC 791 3.1 version 4
    (ip_length_beyond_frame, "drop_ip_len"),  # RFC 791 3.1 total length
    (ip_header_length_short, "drop_ip_len"),  # RFC 791 3.1: IHL is at least 5
    (ip_fragment_mf, "drop_ip_frag"),  # RFC 791 3.2 fragments are not reassembled
    (ip_fragment_offset, "drop_ip_frag"),
    (bad_tcp_checksum, "drop_tcp_csum"),  # RFC 9293 3.1 checksum
    (tcp_offset_beyond_segment, "drop_tcp_len"),  # RFC 9293 3.1 data offset
    (tcp_offset_below_minimum, "drop_tcp_len"),
    (tcp_shorter_than_header, "drop_tcp_len"),
    (unknown_ethertype, "drop_ethertype"),
    (ip_for_another_address, "drop_not_ours"),  # RFC 1122 3.2.1.3
    (ether_for_another_mac, "drop_not_ours"),
    (unknown_ip_protocol, "drop_ip_proto"),
]


@pytest.mark.parametrize(("build", "counter"), MALFORMED, ids=[m[0].__name__ for m in MALFORMED])
def test_malformed_frame_is_dropped_and_counted(
    stack: Stack, peer: Peer, build: Callable[[Peer], bytes], counter: str
) -> None:
    """RFC 791 3.1 / 3.2, RFC 9293 3.1 and RFC 1122 3.2.1: a frame whose headers do not
    check out, or that is not for us, is silently discarded: no reply of any kind, no
    connection, exactly one drop counter moved. A well-formed SYN then still works."""
    before = stack.stats()
    assert stack.send(build(peer)) == []
    after = stack.stats()
    moved = {k for k in after if k.startswith("drop_") and after[k] != before[k]}
    assert moved == {counter}
    assert after[counter] == before[counter] + 1
    assert (after["conns_active"], after["syn_received"], after["rst_sent"]) == (0, 0, 0)
    assert after["rx_frames"] == before["rx_frames"] + 1
    assert [s.flags for s in peer.collect(stack.send(syn(peer)))] == ["SA"]


def test_ethernet_padding_is_not_data(stack: Stack, peer: Peer) -> None:
    """RFC 791 3.1 (total length) and RFC 894: bytes after the IP datagram in a frame
    padded to 60 bytes are padding, not TCP payload."""
    peer.syn()
    ack = raw(peer.frame("A"))
    assert len(ack) == 54
    assert stack.send(ack + b"GET / ") == []  # junk padding: no data, so no ACK comes
    st = stack.stats()
    assert (st["conns_opened"], st["drop_tcp_csum"]) == (1, 0)


def test_broadcast_frame_is_accepted(stack: Stack, peer: Peer) -> None:
    """RFC 894 / IEEE 802.3: frames to the broadcast address are received like our own
    (ARP requests arrive that way; an IP datagram too is still checked by address)."""
    p = syn(peer)
    p[Ether].dst = BROADCAST
    assert [s.flags for s in peer.collect(stack.send(p))] == ["SA"]
