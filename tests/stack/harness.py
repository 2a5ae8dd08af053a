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
# Expected HTTP bytes are restated here from docs/bundle.md and ssdk/core/http.py's
# documented layout, not produced by calling ssdk, so a change in either shows up.
# Kept apart from conftest.py so test modules can import it by a name no other test
# folder uses.
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw, raw

from ssdk.core.engine import Engine, EngineConfig

SERVER_IP = "198.18.0.2"
SERVER_MAC = "02:00:00:00:00:01"
CLIENT_IP = "198.18.0.1"
CLIENT_MAC = "02:00:00:00:00:02"
PORT = 80
TEMPLATE_MSS = 1448  # what the test bundle is built with
SERVER_MSS = 1460  # the MSS option of our SYN-ACK (ssdk_config rx_mss)
RX_WINDOW = 4096  # the request buffer per connection, which is also our receive window
ETH_MIN = 60  # Ethernet minimum frame length without the FCS
MOD = 2**32  # sequence numbers are modulo 2^32 (RFC 9293 3.4)

HTML = "text/html; charset=utf-8"
BINARY = "application/octet-stream"
CLOSE_VALUE = "     close"  # docs/bundle.md: the Connection slot when the server closes
# docs/bundle.md: the Date every template carries; the stack writes the current one.
DATE_PLACEHOLDER = "Thu, 01 Jan 1970 00:00:00 GMT"


def head_block(
    status: str,
    content_type: str,
    length: int,
    extra: Sequence[tuple[str, str]] = (),
    connection: str = "keep-alive",
) -> bytes:
    """The header block ssdk serves: status line, Server, Date, Content-Type,
    Content-Length, custom headers, Connection, blank line (the order ssdk/core/http.py
    documents). Date is the placeholder: Peer.responses checks the real one and puts
    the placeholder back, so expectations stay independent of the clock."""
    lines = [f"HTTP/1.1 {status}", "Server: ssdk", f"Date: {DATE_PLACEHOLDER}",
             f"Content-Type: {content_type}", f"Content-Length: {length}"]  # fmt: skip
    lines += [f"{k}: {v}" for k, v in extra]
    lines.append(f"Connection: {connection}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


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
    assert IP in pkt, f"the stack sent neither ARP nor IPv4: {pkt!r}"
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


def payload_of(pkt: Packet) -> bytes:
    """The TCP payload, without any Ethernet padding scapy split off."""
    return bytes(pkt[Raw].load) if Raw in pkt else b""


@dataclass
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

    @classmethod
    def of(cls, pkt: Ether) -> Seg:
        t = pkt[TCP]
        return cls(pkt, str(t.flags), t.seq, t.ack, t.window, list(t.options),
                   payload_of(pkt), t.sport, t.dport)  # fmt: skip

    def has(self, letters: str) -> bool:
        return all(ch in self.flags for ch in letters)


# --- the engine -------------------------------------------------------------------------


class Stack:
    """One engine on the in-memory backend, driven by a virtual clock."""

    def __init__(self, blob: bytes, **config: Any) -> None:
        settings: dict[str, Any] = {"virtual_clock": True, "seed": 1, "max_conns": 8}
        settings.update(config)
        self.config = EngineConfig(ip=SERVER_IP, **settings)
        self.engine = Engine(self.config)
        self.engine.attach_memory()
        self.engine.load(blob)
        assert ":".join(f"{b:02x}" for b in self.engine.mac) == SERVER_MAC

    def send(self, *frames: Packet | bytes) -> list[Ether]:
        """Inject frames, run one pass of the loop, return what the stack sent."""
        for f in frames:
            self.engine.inject(f if isinstance(f, bytes) else raw(f))
        self.engine.poll()
        return self.take()

    def take(self) -> list[Ether]:
        return [check_frame(f) for f in self.engine.take()]

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


@dataclass
class Peer:
    """A client on one 4-tuple. It tracks its own SND.NXT and the server's stream."""

    stack: Stack
    sport: int = 40000
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

    def __post_init__(self) -> None:
        self.snd_nxt = self.iss
        self.born_s = self.stack.engine.now_us // 10**6

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
        dport: int = PORT,
        dst_ip: str = SERVER_IP,
    ) -> Packet:
        """A segment from this peer; seq/ack default to where the peer is."""
        return (
            Ether(src=self.mac, dst=SERVER_MAC)
            / IP(src=self.ip, dst=dst_ip)
            / TCP(
                sport=self.sport,
                dport=dport,
                flags=flags,
                seq=(self.snd_nxt if seq is None else seq) % MOD,
                ack=((self.rcv_nxt if "A" in flags else 0) if ack is None else ack) % MOD,
                window=self.window if window is None else window,
                options=list(options),
            )
            / Raw(payload)
        )

    def send(self, flags: str = "A", payload: bytes = b"", **kw: Any) -> list[Seg]:
        """Send one segment, run the loop, absorb and return the segments sent back.

        Without an explicit seq, SND.NXT moves past the payload, SYN and FIN."""
        pkt = self.frame(flags, payload, **kw)
        if kw.get("seq") is None:
            self.snd_nxt = (self.snd_nxt + len(payload) + ("S" in flags) + ("F" in flags)) % MOD
        return self.collect(self.stack.send(pkt))

    def collect(self, frames: list[Ether]) -> list[Seg]:
        """Frames the stack sent, as segments to this peer; their data is reassembled."""
        segs = []
        for pkt in frames:
            assert TCP in pkt, f"expected a TCP segment, got {pkt!r}"
            assert pkt.dst == self.mac and pkt[IP].dst == self.ip
            assert pkt[TCP].dport == self.sport, "segment for another peer"
            seg = Seg.of(pkt)
            self._absorb(seg)
            segs.append(seg)
        return segs

    def advance(self, ms: float) -> list[Seg]:
        return self.collect(self.stack.advance(ms))

    def _absorb(self, seg: Seg) -> None:
        if "S" in seg.flags or "R" in seg.flags or not self.synced:
            return
        off = (seg.seq - self.irs - 1) % MOD  # offset of the segment in the server's stream
        if seg.payload:
            have = len(self.stream)
            assert off <= have, f"the server skipped bytes: segment at {off}, have {have}"
            # A retransmission must carry the very bytes sent before (the stack is
            # bufferless and rebuilds them from the template).
            overlap = self.stream[off : off + len(seg.payload)]
            assert seg.payload[: len(overlap)] == bytes(overlap), "retransmitted bytes differ"
            self.stream += seg.payload[len(overlap) :]
        if "F" in seg.flags and off + len(seg.payload) == len(self.stream):
            self.fin = True
        self.rcv_nxt = (self.irs + 1 + len(self.stream) + self.fin) % MOD

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
        """Send a SYN with the given options (or kw["options"] as they are)."""
        opts: list[tuple[str, Any]] = []
        if mss is not None:
            opts.append(("MSS", mss))
        if wscale is not None:
            opts.append(("WScale", wscale))
        kw.setdefault("options", opts)
        segs = self.send("S", **kw)
        for s in segs:
            if s.flags == "SA":
                self.irs = s.seq
                self.rcv_nxt = (s.seq + 1) % MOD
                self.synced = True
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

    def drain(self, limit: int = 1000) -> list[Seg]:
        """ACK what arrived until the server has nothing more to send; returns it all."""
        out: list[Seg] = []
        for _ in range(limit):
            segs = self.ack()
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

    def expect(self, path: str, connection: str = "keep-alive") -> bytes:
        """The exact response bytes of a GET for path."""
        ctype, body = self.bodies[path]
        return head_block("200 OK", ctype, len(body), connection=connection) + body

    def expect_head(self, path: str) -> bytes:
        ctype, body = self.bodies[path]
        return head_block("200 OK", ctype, len(body))
