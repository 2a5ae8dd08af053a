# tests/stack/harness.py: a packetdrill-style driver for the C stack on the in-memory
# backend with a virtual clock.
#
# Stack wraps one Engine: frames in, one pass of the loop, frames out. Every frame the
# stack emits is parsed by scapy (an implementation independent of ssdk) and checked on
# the way out: Ethernet minimum length and zero padding, IP total length against the
# frame, and the IP, TCP and ICMP checksums recomputed by scapy from scratch. Peer is one
# client 4-tuple that keeps its own sequence numbers and reassembles what the server
# sends, so a test reads as a script: connect, send this, expect that, advance the clock.
#
# For loss recovery the peer is also a small receiver of its own: it can offer timestamps
# (RFC 7323) and SACK (RFC 2018), echo the server's TSval by the rules of RFC 7323 4.3,
# hold bytes that arrive beyond a gap and report them in SACK blocks newest first (RFC
# 2018 4). In queued mode the server's segments wait in an inbox until the test lets
# them arrive one by one, each answered by an ACK, or loses them on the way.
#
# Expected HTTP bytes are restated here from docs/bundle.md and ssdk/core/http.py's
# documented layout, not produced by calling ssdk, so a change in either shows up.
# Kept apart from conftest.py so test modules can import it by a name no other test
# folder uses.
from __future__ import annotations

import contextlib
import hashlib
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw, raw

from ssdk.core.cdefs import DEFAULT_MSS
from ssdk.core.runtime.engine import Engine, EngineConfig

SERVER_IP = "198.18.0.2"
SERVER_MAC = "02:00:00:00:00:01"
CLIENT_IP = "198.18.0.1"
CLIENT_MAC = "02:00:00:00:00:02"
SERVER_IP6 = "2001:2::2"  # the IPv6 tests' server and client (2001:2::/48, RFC 5180)
CLIENT_IP6 = "2001:2::1"
PORT = 80
TEMPLATE_MSS = DEFAULT_MSS  # what the test bundle is built with (ssdk build's default)
SERVER_MSS = 1460  # the MSS option of our SYN-ACK (ssdk_config rx_mss)
UNPACED = 0b0111  # engine options: timestamps, SACK, loss probes; no pacing (bit 3)
RX_WINDOW = 4096  # a pooled receive buffer (tcp/rxbuf.c): our largest receive window
RESPQ_DEPTH = 4  # responses a connection has in flight at most (serve/engine.h RESPQ_MAX)
ETH_MIN = 60  # Ethernet minimum frame length without the FCS
MOD = 2**32  # sequence numbers are modulo 2^32 (RFC 9293 3.4)
TS_BASE = 3_000_000  # the peer's TSval is this plus the stack's clock in milliseconds

HTML = "text/html; charset=utf-8"
BINARY = "application/octet-stream"
CLOSE_VALUE = "     close"  # docs/bundle.md: the Connection slot when the server closes
# docs/bundle.md: the Date every template carries; the stack writes the current one.
DATE_PLACEHOLDER = "Thu, 01 Jan 1970 00:00:00 GMT"


def head_block(
    status: str,
    content_type: str,
    length: int | None,
    extra: Sequence[tuple[str, str]] = (),
    connection: str = "keep-alive",
    server: str | None = "ssdk",
) -> bytes:
    """The header block ssdk serves: status line, Server, Date, Content-Type,
    Content-Length, ssdk's and custom headers, Connection, blank line (the order
    ssdk/core/http.py documents; no Content-Type when it is "", no Content-Length when
    None). Date is the placeholder: Peer.responses checks the real one and puts the
    placeholder back, so expectations stay independent of the clock."""
    lines = [f"HTTP/1.1 {status}"]
    if server is not None:
        lines.append(f"Server: {server}")
    lines.append(f"Date: {DATE_PLACEHOLDER}")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k}: {v}" for k, v in extra]
    lines.append(f"Connection: {connection}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def etag_of(data: bytes) -> str:
    """docs/http.md: a strong ETag, the first 16 hex digits of the sha256 of the
    representation's bytes, in double quotes."""
    return f'"{hashlib.sha256(data).hexdigest()[:16]}"'


def validators(body: bytes, modified: int, coding: str | None = None) -> list[tuple[str, str]]:
    """What a 200 carries after Content-Length (docs/http.md): Content-Encoding for a
    coded body, Last-Modified (an IMF-fixdate), the ETag of the bytes sent, and
    Accept-Ranges when there is a body to take ranges of."""
    out = [("Content-Encoding", coding)] if coding else []
    out += [("Last-Modified", formatdate(modified, usegmt=True)), ("ETag", etag_of(body))]
    if body:
        out.append(("Accept-Ranges", "bytes"))
    return out


# --- what comes out -------------------------------------------------------------------


def check_frame(frame: bytes) -> Ether:
    """Parse a frame the stack sent and check its framing and every checksum in it."""
    assert len(frame) >= ETH_MIN, f"frame of {len(frame)} bytes is below the Ethernet minimum"
    pkt = Ether(frame)
    assert pkt.src == SERVER_MAC
    if ARP in pkt:
        assert len(frame) == ETH_MIN
        assert frame[14 + 28 :] == bytes(ETH_MIN - 14 - 28), "ARP padding is not zero"
        return pkt
    if IPv6 in pkt:
        return check_frame6(frame, pkt)
    assert IP in pkt, f"the stack sent neither ARP nor IP: {pkt!r}"
    ip = pkt[IP]
    assert (ip.version, ip.ihl, ip.ttl, str(ip.flags), ip.frag) == (4, 5, 64, "DF", 0)
    assert ip.src == SERVER_IP
    end = 14 + ip.len
    # RFC 791: total length covers exactly the datagram; the rest is Ethernet padding.
    assert len(frame) == max(ETH_MIN, end), f"IP length {ip.len} in a {len(frame)}-byte frame"
    assert frame[end:] == bytes(len(frame) - end), "Ethernet padding is not zero"
    # Recompute every checksum with scapy from a copy whose checksum fields are unset.
    fresh = pkt.copy()
    del fresh[IP].chksum
    if TCP in fresh:
        del fresh[TCP].chksum
    if ICMP in fresh:
        del fresh[ICMP].chksum
    again = Ether(raw(fresh))
    assert ip.chksum == again[IP].chksum, f"IP checksum {ip.chksum:#06x} != {again[IP].chksum:#06x}"
    if TCP in pkt:
        tcp = pkt[TCP]
        want = again[TCP].chksum
        assert tcp.chksum == want, f"TCP checksum {tcp.chksum:#06x} != {want:#06x}"
        assert ip.len == 20 + tcp.dataofs * 4 + len(payload_of(pkt))
        assert tcp.urgptr == 0 and tcp.reserved == 0
    if ICMP in pkt:
        want = again[ICMP].chksum
        assert pkt[ICMP].chksum == want, f"ICMP checksum {pkt[ICMP].chksum:#06x} != {want:#06x}"
    return pkt


def upper6(pkt: Packet) -> Packet:
    """The layer after the IPv6 header and its extension headers (not one quoted
    inside an ICMPv6 error)."""
    layer = pkt[IPv6].payload
    while type(layer).__name__.startswith("IPv6ExtHdr"):
        layer = layer.payload
    return layer


# RFC 4861 7.1.2 (255 for neighbour discovery), RFC 3810 5 (1 for MLD), else our 64.
HOP_LIMITS = {"ICMPv6ND_NA": 255, "ICMPv6MLReport2": 1}


def check_frame6(frame: bytes, pkt: Ether) -> Ether:
    """An IPv6 frame the stack sent: framing, hop limit, no fragment header, and the
    TCP or ICMPv6 checksum recomputed by scapy (over the IPv6 pseudo-header)."""
    ip = pkt[IPv6]
    assert (ip.version, ip.tc, ip.fl) == (6, 0, 0)
    assert IPv6ExtHdrFragment not in pkt, "the stack fragmented a packet"
    end = 14 + 40 + ip.plen
    assert len(frame) == max(ETH_MIN, end), f"IPv6 length {ip.plen} in a {len(frame)}-byte frame"
    assert frame[end:] == bytes(len(frame) - end), "Ethernet padding is not zero"
    up = upper6(pkt)
    name = type(up).__name__
    fresh = pkt.copy()
    layer = upper6(fresh)
    if name == "TCP":
        layer.chksum = None
        again = upper6(Ether(raw(fresh)))
        assert up.chksum == again.chksum, f"TCP checksum {up.chksum:#06x} != {again.chksum:#06x}"
        assert ip.plen == up.dataofs * 4 + len(payload_of(pkt))
        assert ip.hlim == 64 and up.urgptr == 0 and up.reserved == 0
    else:
        assert name.startswith("ICMPv6"), f"the stack sent IPv6 without TCP or ICMPv6: {pkt!r}"
        layer.cksum = None
        again = upper6(Ether(raw(fresh)))
        assert up.cksum == again.cksum, f"{name} checksum {up.cksum:#06x} != {again.cksum:#06x}"
        assert ip.hlim == HOP_LIMITS.get(name, 64), f"hop limit {ip.hlim} on {name}"
    return pkt


def ip_of(pkt: Packet) -> Packet:
    """The packet's IP layer, either version."""
    return pkt[IPv6] if IPv6 in pkt else pkt[IP]


def seq_lt(a: int, b: int) -> bool:
    """a < b in sequence (or timestamp) space, modulo 2^32 (RFC 9293 3.4, RFC 7323 5.2)."""
    return 0 < (b - a) % MOD < 2**31


def payload_of(pkt: Packet) -> bytes:
    """The TCP payload, without any Ethernet padding scapy split off."""
    return bytes(pkt[Raw].load) if Raw in pkt else b""


@dataclass(repr=False)
class Seg:
    """One TCP segment the stack sent, with its fields already pulled out."""

    pkt: Ether
    flags: str  # scapy's letters, e.g. "SA", "A", "PA", "FA", "R", "RA"
    seq: int
    ack: int
    win: int
    options: list[tuple[str, Any]]
    payload: bytes
    sport: int
    dport: int
    resent: bool = False  # data that starts below the highest byte the peer had seen sent
    lost: bool = False  # the peer lost it on the way (Peer.losing, Peer.lose)
    at: float = 0.0  # the stack's clock (ms) when the peer collected it

    @classmethod
    def of(cls, pkt: Ether) -> Seg:
        t = pkt[TCP]
        return cls(pkt, str(t.flags), t.seq, t.ack, t.window, list(t.options),
                   payload_of(pkt), t.sport, t.dport)  # fmt: skip

    def has(self, letters: str) -> bool:
        return all(ch in self.flags for ch in letters)

    def __repr__(self) -> str:  # assertion messages show fields, not whole payloads
        marks = "".join(m for m, on in ((" resent", self.resent), (" lost", self.lost)) if on)
        return (f"<Seg {self.flags} seq={self.seq} ack={self.ack} win={self.win} "
                f"len={len(self.payload)} opts={self.options}{marks}>")  # fmt: skip

    def option(self, name: str) -> Any:
        """The value of the first option of that scapy name, or None."""
        for k, v in self.options:
            if k == name:
                return v
        return None

    @property
    def ts(self) -> tuple[int, int] | None:
        """(TSval, TSecr) of the Timestamps option (RFC 7323 3.2), if present."""
        value = self.option("Timestamp")
        return None if value is None else (value[0], value[1])

    @property
    def sack(self) -> list[tuple[int, int]]:
        """The SACK blocks (RFC 2018 3) as (left, right) sequence numbers, in order."""
        flat = self.option("SAck") or ()
        return list(zip(flat[0::2], flat[1::2], strict=True))


# --- super-frames (segmentation offload) ------------------------------------------------

# struct virtio_net_hdr (linux/virtio_net.h), little-endian: flags, gso_type, hdr_len,
# gso_size, csum_start, csum_offset.
VNET = struct.Struct("<BBHHHH")
VNET_F_NEEDS_CSUM = 1
VNET_GSO_NONE, VNET_GSO_TCPV4 = 0, 1
TH_FIN, TH_PSH, TH_CWR = 0x01, 0x08, 0x80


def ones_sum(data: bytes, start: int = 0) -> int:
    """RFC 1071: the 16-bit one's-complement sum of data (big-endian words), folded."""
    if len(data) % 2:
        data += b"\0"
    s = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


@dataclass
class SuperFrame:
    """A frame the stack committed with a virtio_net_hdr asking for segmentation."""

    flags: int
    gso_type: int
    hdr_len: int
    gso_size: int
    csum_start: int
    csum_offset: int
    frame: bytes


def cut_super_frame(sf: SuperFrame) -> list[bytes]:
    """The pieces the kernel makes of a super-frame (tcp_gso_segment, inet_gso_segment),
    written here from their rules, not with ssdk's C: gso_size payload bytes each (the
    last may be shorter) behind a copy of the headers; IP total length, id + i and header
    checksum per piece; TCP sequence number moved on; FIN and PSH on the last piece only,
    CWR on the first only. The TCP checksum is finished as the kernel finishes a
    CHECKSUM_PARTIAL one: the field the sender left (the pseudo-header sum of the whole
    TCP length) is moved to the piece's length (RFC 1624: less the old length, plus the
    new), then the piece's header and payload are added and the total complemented. A
    wrong partial sum therefore shows as a wrong checksum in every piece."""
    f = sf.frame
    ihl = (f[14] & 15) * 4
    tcp_at = 14 + ihl
    thl = (f[tcp_at + 12] >> 4) * 4
    ip_len = struct.unpack_from("!H", f, 16)[0]
    assert sf.hdr_len == tcp_at + thl, "hdr_len is not the headers' length"
    assert (sf.csum_start, sf.csum_offset) == (tcp_at, 16)
    payload = f[sf.hdr_len : 14 + ip_len]
    partial = struct.unpack_from("!H", f, tcp_at + 16)[0]
    old_len = ip_len - ihl
    ip_id, seq = struct.unpack_from("!H", f, 18)[0], struct.unpack_from("!I", f, tcp_at + 4)[0]
    starts = list(range(0, len(payload), sf.gso_size))
    out = []
    for i, at in enumerate(starts):
        chunk = payload[at : at + sf.gso_size]
        h = bytearray(f[: sf.hdr_len])
        struct.pack_into("!HH", h, 16, ihl + thl + len(chunk), (ip_id + i) & 0xFFFF)
        struct.pack_into("!H", h, 24, 0)
        struct.pack_into("!H", h, 24, ~ones_sum(bytes(h[14:tcp_at])) & 0xFFFF)
        struct.pack_into("!I", h, tcp_at + 4, (seq + at) % MOD)
        if i:
            h[tcp_at + 13] &= ~TH_CWR
        if i + 1 < len(starts):
            h[tcp_at + 13] &= ~(TH_FIN | TH_PSH)
        pseudo = ones_sum(struct.pack("!HH", ~old_len & 0xFFFF, thl + len(chunk)), partial)
        struct.pack_into("!H", h, tcp_at + 16, pseudo)
        struct.pack_into("!H", h, tcp_at + 16, ~ones_sum(bytes(h[tcp_at:]) + chunk) & 0xFFFF)
        piece = bytes(h) + chunk
        out.append(piece + bytes(max(0, ETH_MIN - len(piece))))
    return out


# --- the engine -------------------------------------------------------------------------


class Stack:
    """One engine on the in-memory backend, driven by a virtual clock.

    gso_max: the backend offers segmentation offload (super-frames up to that many
    bytes). Each super-frame is then kept in `super_frames` and cut here as the kernel
    would (cut_super_frame); what take() returns are the pieces, checked as any frame.
    ring_frames: the in-memory TX and RX rings' size (256 with GSO: 64 KiB slots)."""

    def __init__(
        self, blob: bytes, gso_max: int = 0, ring_frames: int | None = None, **config: Any
    ) -> None:
        settings: dict[str, Any] = {"virtual_clock": True, "seed": 1, "max_conns": 8}
        settings.update(config)
        self.config = EngineConfig(ip=SERVER_IP, **settings)
        self.engine = Engine(self.config)
        self.gso_max = gso_max
        self.super_frames: list[SuperFrame] = []
        if ring_frames is None:
            ring_frames = 256 if gso_max else 4096
        self.engine.attach_memory(ring_frames, gso_max=gso_max)
        self.engine.load(blob)
        assert ":".join(f"{b:02x}" for b in self.engine.mac) == SERVER_MAC

    def send(self, *frames: Packet | bytes) -> list[Ether]:
        """Inject frames, run one pass of the loop, return what the stack sent."""
        for f in frames:
            self.engine.inject(f if isinstance(f, bytes) else raw(f))
        self.engine.poll()
        return self.take()

    def take(self) -> list[Ether]:
        frames = self.engine.take()
        if self.gso_max:
            frames = [piece for f in frames for piece in self._unwrap(f)]
        return [check_frame(f) for f in frames]

    def _unwrap(self, f: bytes) -> list[bytes]:
        """A frame behind its virtio_net_hdr: as it is (a zero header), or cut."""
        sf = SuperFrame(*VNET.unpack_from(f), frame=f[VNET.size :])
        if sf.gso_type == VNET_GSO_NONE:
            assert f[: VNET.size] == bytes(VNET.size), "a plain frame with a non-zero header"
            return [sf.frame]
        assert len(sf.frame) <= self.gso_max
        self.super_frames.append(sf)
        return cut_super_frame(sf)

    def advance(self, ms: float) -> list[Ether]:
        """Move the virtual clock and run the timers that fall due; returns the output."""
        self.engine.advance(ms)
        return self.take()

    @property
    def now_ms(self) -> float:
        return self.engine.now_us / 1000

    def stats(self) -> dict[str, int]:
        return self.engine.stats()

    def close(self) -> None:
        self.engine.close()


@contextlib.contextmanager
def serving_app(
    app: Any, gate: threading.Event, **config: Any
) -> Iterator[tuple[Stack, Any]]:
    """An app's table on a Stack (EngineConfig overrides in config), with its dynamic
    routes called through AppCalls as the worker calls them. `gate` holds the app's
    blocking handlers; it is set on the way out so that none is left waiting."""
    from ssdk.core.buildtime.build import build
    from ssdk.core.runtime.app_calls import AppCalls

    _, blob = build(app, mss=TEMPLATE_MSS)
    stack = Stack(blob, **config)
    calls = AppCalls(stack.engine, app)
    try:
        yield stack, calls
    finally:
        gate.set()
        calls.close()
        stack.close()


# --- a client -----------------------------------------------------------------------------


@dataclass
class HttpResponse:
    status: int
    head: bytes  # the header block, blank line included
    headers: list[tuple[str, str]]
    body: bytes
    date: str = ""  # the Date the stack sent (head holds the placeholder instead)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def raw(self) -> bytes:
        return self.head + self.body


def parse_response(data: bytes, head_only: bool = False) -> tuple[HttpResponse, int]:
    """One HTTP/1.1 response from the start of `data`, framed by Content-Length."""
    end = data.find(b"\r\n\r\n")
    assert end >= 0, f"no complete header block in {data[:200]!r}"
    head = data[: end + 4]
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, code, _reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip(" ")))
    resp = HttpResponse(int(code), head, headers, b"")
    length = 0 if head_only else int(resp.header("Content-Length") or 0)
    body = data[end + 4 : end + 4 + length]
    assert len(body) == length, f"body cut short: {len(body)} of {length} bytes"
    resp.body = body
    return resp, end + 4 + length


@dataclass(repr=False)
class Peer:
    """A client on one 4-tuple. It tracks its own SND.NXT and the server's stream."""

    stack: Stack
    sport: int = 40000
    dport: int = PORT  # the server's port this peer connects to
    ip: str = CLIENT_IP
    mac: str = CLIENT_MAC
    iss: int = 1_000_000
    window: int = 65535  # the window field of every segment we send
    snd_nxt: int = field(init=False)
    irs: int = field(init=False, default=0)  # the server's ISN, once a SYN-ACK came
    synced: bool = field(init=False, default=False)
    rcv_nxt: int = field(init=False, default=0)
    stream: bytearray = field(init=False, default_factory=bytearray)  # in order, from irs+1
    fin: bool = field(init=False, default=False)
    read_at: int = field(init=False, default=0)  # how much of stream responses consumed
    born_s: int = field(init=False, default=0)  # the stack's clock when this peer began
    # Options: what the SYN offers, and what the SYN-ACK showed the server took.
    ts: bool = False  # offer timestamps (RFC 7323 3.2)
    sack: bool = False  # offer SACK-permitted (RFC 2018 2)
    ts_ok: bool = field(init=False, default=False)  # TSopt then goes on every segment
    sack_ok: bool = field(init=False, default=False)  # SACK blocks go on our ACKs
    ts_recent: int = field(init=False, default=0)  # the server's TSval we echo (7323 4.3)
    last_ack_sent: int = field(init=False, default=0)
    # The receiver: bytes beyond a gap, as (stream offset, bytes), disjoint and sorted;
    # their blocks as [start, end) offsets, the one most recently added to first.
    held: list[tuple[int, bytearray]] = field(init=False, default_factory=list)
    sack_recent: list[tuple[int, int]] = field(init=False, default_factory=list)
    fin_at: int | None = field(init=False, default=None)  # stream offset of the FIN
    high: int = field(init=False, default=0)  # end of the highest data seen sent
    # Loss: relative sequence numbers whose next arrival is lost, and/or a rule.
    losing: set[int] = field(init=False, default_factory=set)
    lose: Callable[[Seg], bool] | None = field(init=False, default=None)
    lost: list[Seg] = field(init=False, default_factory=list)
    # Queued mode: the server's segments wait here until deliver() lets them arrive.
    queued: bool = False
    inbox: deque[Seg] = field(init=False, default_factory=deque)
    reorders: bool = False  # a test reorders the inbox: a gap need not mean a loss
    # Queued mode: the clock moves this far with each arrival that deliver() makes
    # without a step of its own (a loop pass's time); 0: arrivals share an instant.
    pass_ms: float = 0.001

    def __post_init__(self) -> None:
        self.snd_nxt = self.iss
        self.born_s = self.stack.engine.now_us // 10**6

    def __repr__(self) -> str:  # assertion messages stay short
        held = [(a, a + len(b)) for a, b in self.held]
        return (f"<Peer {self.ip}:{self.sport} sent={self.sent} received={len(self.stream)} "
                f"held={held} inbox={len(self.inbox)}>")  # fmt: skip

    def tsval(self) -> int:
        """Our timestamp clock: one tick per millisecond of the stack's clock."""
        return (TS_BASE + self.stack.engine.now_us // 1000) % MOD

    # -- building and sending -------------------------------------------------------
    def frame(
        self,
        flags: str = "A",
        payload: bytes = b"",
        *,
        seq: int | None = None,
        ack: int | None = None,
        window: int | None = None,
        options: Iterable[tuple[str, Any]] = (),
        dport: int | None = None,
        dst_ip: str | None = None,
        tsval: int | None = None,
        tsecr: int | None = None,
        sack: Sequence[tuple[int, int]] | None = None,
    ) -> Packet:
        """A segment from this peer; seq/ack default to where the peer is.

        Once timestamps are in use, every segment but a RST carries one (RFC 7323 3.2),
        TSval from tsval() and TSecr from ts_recent unless given; an explicit tsval puts
        one on any segment. Once SACK is in use, ACKs carry a block per held range
        (or `sack`, absolute (left, right) pairs; [] for none), three at most beside a
        timestamp, four without (RFC 2018 3)."""
        opts = list(options)
        names = {k for k, _ in opts}
        stamped = "Timestamp" in names
        if (
            "S" not in flags
            and not stamped
            and (tsval is not None or (self.ts_ok and "R" not in flags))
        ):
            value = (
                self.tsval() if tsval is None else tsval,
                self.ts_recent if tsecr is None else tsecr,
            )
            opts += [("NOP", None), ("NOP", None), ("Timestamp", value)]
            stamped = True
        blocks = self.sack_blocks() if sack is None else list(sack)
        if blocks and "SAck" not in names and "A" in flags and not set("SR") & set(flags):
            flat = tuple(x % MOD for b in blocks[: 3 if stamped else 4] for x in b)
            opts += [("NOP", None), ("NOP", None), ("SAck", flat)]
        return (
            Ether(src=self.mac, dst=SERVER_MAC)
            / self.ip_layer(dst_ip)
            / TCP(
                sport=self.sport,
                dport=self.dport if dport is None else dport,
                flags=flags,
                seq=(self.snd_nxt if seq is None else seq) % MOD,
                ack=((self.rcv_nxt if "A" in flags else 0) if ack is None else ack) % MOD,
                window=self.window if window is None else window,
                options=opts,
            )
            / Raw(payload)
        )

    def ip_layer(self, dst_ip: str | None = None) -> Packet:
        """IPv4 or IPv6 as this peer's address is, to the server's address of it."""
        if ":" in self.ip:
            return IPv6(src=self.ip, dst=dst_ip or SERVER_IP6)
        return IP(src=self.ip, dst=dst_ip or SERVER_IP)

    def send(self, flags: str = "A", payload: bytes = b"", **kw: Any) -> list[Seg]:
        """Send one segment, run the loop, absorb and return the segments sent back.

        Without an explicit seq, SND.NXT moves past the payload, SYN and FIN."""
        pkt = self.frame(flags, payload, **kw)
        if kw.get("seq") is None:
            self.snd_nxt = (self.snd_nxt + len(payload) + ("S" in flags) + ("F" in flags)) % MOD
        if "A" in flags:
            self.last_ack_sent = pkt[TCP].ack
        return self.collect(self.stack.send(pkt))

    def send_split(self, flags: str, payload: bytes = b"") -> dict[int, list[Seg]]:
        """Send one segment as send does, but return what the stack sent to every peer,
        by port (an eviction's RST, or a window update, may go to another connection
        than the one whose segment caused it); the sender's own are absorbed as usual."""
        pkt = self.frame(flags, payload)
        self.snd_nxt = (self.snd_nxt + len(payload) + ("S" in flags)) % MOD
        out: dict[int, list[Seg]] = {}
        mine = []
        for f in self.stack.send(pkt):
            if f[TCP].dport == self.sport and f[IP].dst == self.ip:
                mine.append(f)
            else:
                out.setdefault(f[TCP].dport, []).append(Seg.of(f))
        out[self.sport] = self.collect(mine)
        return out

    def collect(self, frames: list[Ether]) -> list[Seg]:
        """Frames the stack sent, as segments to this peer. Each arrives at once (its
        data reassembled) unless the peer is queued; lost ones are marked."""
        segs = []
        for pkt in frames:
            assert TCP in pkt, f"expected a TCP segment, got {pkt!r}"
            assert pkt.dst == self.mac and ip_of(pkt).dst == self.ip
            assert pkt[TCP].dport == self.sport, "segment for another peer"
            seg = Seg.of(pkt)
            seg.at = self.stack.now_ms
            if seg.payload and self.synced:
                off = self.offset(seg)
                seg.resent = off < self.high
                self.high = max(self.high, off + len(seg.payload))
            if self.queued:
                self.inbox.append(seg)
            else:
                self.arrive(seg)
            segs.append(seg)
        return segs

    def advance(self, ms: float) -> list[Seg]:
        return self.collect(self.stack.advance(ms))

    def advance_until(self, done: Callable[[Seg], bool], limit_ms: int = 120_000) -> list[Seg]:
        """Step the clock a millisecond at a time until a segment for which done() holds
        is sent; returns all segments sent meanwhile, that one last."""
        out: list[Seg] = []
        for _ in range(limit_ms):
            for seg in self.advance(1):
                out.append(seg)
                if done(seg):
                    return out
        raise AssertionError(f"nothing matching within {limit_ms} ms; sent {out}")

    def offset(self, seg: Seg) -> int:
        """Where the segment starts in the server's stream (0 = the first byte)."""
        return (seg.seq - self.irs - 1) % MOD

    def seq_at(self, offset: int) -> int:
        """The server's sequence number of a stream offset."""
        return (self.irs + 1 + offset) % MOD

    # -- the receiver ------------------------------------------------------------------
    def arrive(self, seg: Seg) -> bool:
        """A segment reaches the peer, unless it is lost on the way; False if lost."""
        rel = self.rseq(seg)
        if seg.payload and (rel in self.losing or (self.lose is not None and self.lose(seg))):
            self.losing.discard(rel)
            seg.lost = True
            self.lost.append(seg)
            return False
        self._absorb(seg)
        return True

    def lose_once(self, *segs: Seg) -> None:
        """The next arrival of data at each of these segments' sequence numbers is lost."""
        self.losing.update(self.rseq(s) for s in segs)

    def lose_segno(self, *numbers: int) -> None:
        """The first arrival of these full-size template segments of the response (see
        segno) is lost."""
        self.losing.update(1 + n * TEMPLATE_MSS for n in numbers)

    def sack_blocks(self) -> list[tuple[int, int]]:
        """RFC 2018 4: a block per held range, the most recently changed first."""
        if not self.sack_ok:
            return []
        return [(self.seq_at(a), self.seq_at(b)) for a, b in self.sack_recent]

    def _absorb(self, seg: Seg) -> None:
        if "S" in seg.flags or "R" in seg.flags or not self.synced:
            return
        # RFC 7323 4.3 (2), as a receiver: echo the TSval of the latest segment that
        # does not start beyond what we last acknowledged, and never go back.
        if self.ts_ok and seg.ts is not None and not seq_lt(self.last_ack_sent, seg.seq):
            if not seq_lt(seg.ts[0], self.ts_recent):
                self.ts_recent = seg.ts[0]
        off = self.offset(seg)
        if seg.payload:
            self._take(off, seg.payload)
        if "F" in seg.flags:
            self.fin_at = off + len(seg.payload)
        if self.fin_at is not None and self.fin_at == len(self.stream):
            self.fin = True
        self.rcv_nxt = (self.irs + 1 + len(self.stream) + self.fin) % MOD

    def _take(self, off: int, data: bytes) -> None:
        have = len(self.stream)
        if off > have:
            skipped = f"the server skipped bytes: segment at {off}, have {have}"
            assert self.lost or self.reorders, skipped
            self._hold(off, data)
            return
        # A retransmission must carry the very bytes sent before (the stack is
        # bufferless and rebuilds them from the template).
        overlap = self.stream[off : off + len(data)]
        assert data[: len(overlap)] == bytes(overlap), "retransmitted bytes differ"
        self.stream += data[len(overlap) :]
        while self.held and self.held[0][0] <= len(self.stream):
            start, buf = self.held.pop(0)
            overlap = self.stream[start : start + len(buf)]
            assert buf[: len(overlap)] == overlap, "retransmitted bytes differ"
            self.stream += buf[len(overlap) :]
        self.sack_recent = [b for b in self.sack_recent if b[1] > len(self.stream)]

    def _hold(self, off: int, data: bytes) -> None:
        lo, buf = off, bytearray(data)
        keep = []
        for start, old in self.held:
            end = start + len(old)
            if end < lo or start > lo + len(buf):  # apart, not even touching
                keep.append((start, old))
                continue
            a, b = max(start, lo), min(end, lo + len(buf))
            assert old[a - start : b - start] == buf[a - lo : b - lo], "retransmitted bytes differ"
            first = min(start, lo)
            merged = bytearray(max(end, lo + len(buf)) - first)
            merged[start - first : end - first] = old
            merged[lo - first : lo - first + len(buf)] = buf
            lo, buf = first, merged
        self.held = sorted([*keep, (lo, buf)], key=lambda item: item[0])
        block = (lo, lo + len(buf))
        rest = [b for b in self.sack_recent if not (block[0] <= b[0] and b[1] <= block[1])]
        self.sack_recent = [block, *rest]

    def deliver(self, count: int = 1, step_ms: float = 0, ack: bool = True) -> list[Seg]:
        """Queued mode: the next `count` segments of the inbox arrive, `step_ms` apart
        on the clock. Each one that occupies sequence space and is not lost is ACKed at
        once (unless ack is False: those ACKs are lost). Returns what the server sent
        meanwhile (also queued behind the rest)."""
        out: list[Seg] = []
        for _ in range(count):
            # Each arrival is a loop pass of its own, and a pass takes time: without
            # step_ms, pass_ms. The stack reads the clock once a pass, so sends of two
            # passes never share an instant, as on a real clock (RACK orders sends of
            # one instant by sequence number, which holds within a pass only).
            if step_ms or self.pass_ms:
                out += self.advance(step_ms or self.pass_ms)
            seg = self.inbox.popleft()
            if self.arrive(seg) and ack and (seg.payload or "F" in seg.flags):
                out += self.ack()
        return out

    def deliver_all(self, step_ms: float = 0, limit: int = 100_000) -> list[Seg]:
        """Deliver until the inbox is empty; returns everything the server sent."""
        out: list[Seg] = []
        for _ in range(limit):
            if not self.inbox:
                return out
            out += self.deliver(1, step_ms)
        raise AssertionError("the exchange did not settle")

    # -- sequence numbers relative to the ISNs, as packetdrill prints them -----------
    def rseq(self, seg: Seg) -> int:
        """SEG.SEQ relative to the server's ISN (1 = the first byte after the SYN)."""
        return (seg.seq - self.irs) % MOD

    def rack(self, seg: Seg) -> int:
        """SEG.ACK relative to our ISS."""
        return (seg.ack - self.iss) % MOD

    @property
    def sent(self) -> int:
        """How many sequence numbers we have used past our ISS."""
        return (self.snd_nxt - self.iss) % MOD

    # -- scripts ------------------------------------------------------------------------
    def syn(self, mss: int | None = 1460, wscale: int | None = None, **kw: Any) -> list[Seg]:
        """Send a SYN with the given options (or kw["options"] as they are), plus
        SACK-permitted and a timestamp (TSecr 0, RFC 7323 3.2) if this peer offers them.
        What the SYN-ACK answers is what the connection then uses."""
        opts: list[tuple[str, Any]] = []
        if mss is not None:
            opts.append(("MSS", mss))
        if self.sack:
            opts.append(("SAckOK", b""))
        if self.ts:
            opts.append(("Timestamp", (self.tsval(), 0)))
        if wscale is not None:
            opts.append(("WScale", wscale))
        kw.setdefault("options", opts)
        segs = self.send("S", **kw)
        for s in segs:
            if s.flags == "SA":
                self.irs = s.seq
                self.rcv_nxt = (s.seq + 1) % MOD
                self.synced = True
                self.ts_ok = s.ts is not None
                self.ts_recent = s.ts[0] if s.ts is not None else 0
                self.sack_ok = s.option("SAckOK") is not None
        return segs

    def connect(self, mss: int | None = 1460, wscale: int | None = None) -> Seg:
        """Three-way handshake; returns the SYN-ACK."""
        segs = self.syn(mss, wscale)
        assert [s.flags for s in segs] == ["SA"], segs
        synack = segs[0]
        assert synack.ack == (self.iss + 1) % MOD
        assert self.send("A") == [], "the ACK that completes the handshake needs no answer"
        return synack

    def ack(self, **kw: Any) -> list[Seg]:
        """A pure ACK of everything received so far."""
        return self.send("A", **kw)

    def request(self, data: bytes, **kw: Any) -> list[Seg]:
        """Send data in segments no larger than the MSS the server announced."""
        out: list[Seg] = []
        for at in range(0, len(data), SERVER_MSS):
            out += self.send("PA", data[at : at + SERVER_MSS], **kw)
        return out

    def drain(self, limit: int = 1000, **kw: Any) -> list[Seg]:
        """ACK what arrived until the server has nothing more to send; returns it all.
        kw goes to every ACK (e.g. tsval)."""
        out: list[Seg] = []
        for _ in range(limit):
            segs = self.ack(**kw)
            if not segs:
                return out
            out += segs
        raise AssertionError("the server kept sending")

    def responses(self, count: int = 1, head_only: bool = False) -> list[HttpResponse]:
        """Parse `count` responses from what the stream holds beyond the last one read."""
        out = []
        for _ in range(count):
            resp, used = parse_response(bytes(self.stream[self.read_at :]), head_only)
            self.read_at += used
            self.check_date(resp)
            out.append(resp)
        return out

    def check_date(self, resp: HttpResponse) -> None:
        """RFC 9110 6.6.1: Date is an IMF-fixdate of a second between this peer's start
        and now on the stack's (virtual) clock. It is then replaced by the template's
        placeholder in resp.head, and kept in resp.date."""
        value = resp.header("Date")
        assert value is not None, "no Date header"
        when = parsedate_to_datetime(value).timestamp()
        assert formatdate(when, usegmt=True) == value, f"not an IMF-fixdate: {value!r}"
        assert self.born_s <= when <= self.stack.engine.now_us // 10**6, value
        resp.date = value
        old = f"\r\nDate: {value}\r\n".encode()
        resp.head = resp.head.replace(old, f"\r\nDate: {DATE_PLACEHOLDER}\r\n".encode(), 1)

    def fetch(self, data: bytes, head_only: bool = False) -> tuple[HttpResponse, list[Seg]]:
        """Send a request, ACK until the whole response is in, parse it."""
        segs = self.request(data)
        segs += self.drain()
        return self.responses(1, head_only)[0], segs

    def unread(self) -> bytes:
        return bytes(self.stream[self.read_at :])


def segno(peer: Peer, seg: Seg) -> int:
    """Which full-size template segment of the response this one starts (0 = first)."""
    return peer.offset(seg) // TEMPLATE_MSS


def get(path: str = "/", version: str = "HTTP/1.1", host: str | None = "test",
        headers: Sequence[str] = (), method: str = "GET") -> bytes:  # fmt: skip
    """A request, CRLF-terminated."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --- the test site ------------------------------------------------------------------------


@dataclass
class Site:
    """The bundle the stack serves, and what each path must return."""

    blob: bytes
    bodies: dict[str, tuple[str, bytes]]  # path -> (Content-Type, body)
    modified: dict[str, int] = field(default_factory=dict)  # path -> Last-Modified

    def expect(self, path: str, connection: str = "keep-alive") -> bytes:
        """The exact response bytes of a GET for path."""
        return self.expect_head(path, connection) + self.bodies[path][1]

    def expect_head(self, path: str, connection: str = "keep-alive") -> bytes:
        ctype, body = self.bodies[path]
        extra = validators(body, self.modified[path])
        return head_block("200 OK", ctype, len(body), extra, connection=connection)


def window_of_20(stack: Stack, rtt_ms: int = 100) -> Peer:
    """A SACK peer whose handshake took rtt_ms; huge.bin requested, its initial window of
    10 segments ACKed, so that 20 are in flight (slow start, cwnd 20), waiting in the
    inbox. For the loss-recovery tests (test_prr.py, test_undo.py)."""
    peer = Peer(stack, sack=True)
    peer.syn(wscale=7)
    peer.advance(rtt_ms)
    peer.send("A")
    peer.queued = True
    assert len(peer.request(get("/files/huge.bin"))) == 10
    peer.advance(rtt_ms)
    peer.deliver(10)
    assert len(peer.inbox) == 20
    peer.advance(rtt_ms)
    return peer
