"""fuzz/make_seeds.py: starting inputs for the libFuzzer harnesses, built with scapy.

    python3 fuzz/make_seeds.py OUTDIR      (fuzz/run.sh does this)

writes OUTDIR/frames/* for fuzz_frames (records of ctl, dt, length and an Ethernet
frame, as fuzz/fuzz_frames.c describes) and OUTDIR/http/* for fuzz_http (an options
byte, segment sizes and request bytes, as fuzz/fuzz_http.c describes). The frames are
whole conversations (a handshake, a request, the ACKs of the response, a close), so the
fuzzer starts from inputs that already reach the HTTP layer and the timers, instead of
having to discover the handshake. Paths name routes of the table fuzz/run.sh builds.
The IPv6 frames are seeds6.py's.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw, raw

from ssdk.core.cdefs import DEFAULT_MSS  # the table fuzz/run.sh builds has this MSS

SERVER_IP, CLIENT_IP = "198.18.0.2", "198.18.0.1"
SERVER_MAC, CLIENT_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
PORT = 80

# ctl bits of fuzz_frames.c
ADDR, IPSUM, L4SUM, RELACK, RELSEQ, HOLD, NODRAIN, ACKISS = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80
FIX = ADDR | IPSUM | L4SUM
# After the SYN the client's seq and ack are written as 0 and made relative by the
# harness: "exactly what the stack expects next" and "everything it has sent".
REL = FIX | RELACK | RELSEQ
M1 = 0xFFFFFFFF  # a relative field of -1


def dt(ms: int) -> int:
    """The dt byte for a delay of at least ms milliseconds (fuzz_frames.c's encoding)."""
    for scale in range(4):
        unit = 1 << (4 * scale)
        if ms <= 63 * unit:
            return scale << 6 | -(-ms // unit)
    raise ValueError(ms)


def rec(frame: bytes, ctl: int = FIX, delay: int = 0) -> bytes:
    return struct.pack(">BBH", ctl, delay, len(frame)) + frame


def tick(ms: int) -> bytes:
    """A record without a frame: only the clock moves and a pass runs."""
    return struct.pack(">BBH", 0, dt(ms), 0)


def eth() -> Ether:
    return Ether(src=CLIENT_MAC, dst=SERVER_MAC)


def tcp(
    sport: int,
    flags: str,
    seq: int = 0,
    ack: int = 0,
    data: bytes = b"",
    window: int = 65535,
    options: list | None = None,
    dport: int = PORT,
) -> bytes:
    seg = TCP(
        sport=sport,
        dport=dport,
        flags=flags,
        seq=seq,
        ack=ack,
        window=window,
        options=options or [],
    )
    pkt = eth() / IP(src=CLIENT_IP, dst=SERVER_IP, flags="DF") / seg
    return raw(pkt / Raw(data)) if data else raw(pkt)


def syn(sport: int, mss: int = 1460, dport: int = PORT, **kw: object) -> bytes:
    opts = [("MSS", mss), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
    return rec(tcp(sport, "S", seq=1000, options=opts, dport=dport), **kw)


def ack(
    sport: int,
    flags: str = "A",
    data: bytes = b"",
    ctl: int = REL,
    delay: int = 0,
    window: int = 65535,
    dport: int = PORT,
) -> bytes:
    return rec(tcp(sport, flags, data=data, window=window, dport=dport), ctl, delay)


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 198.18.0.2\r\n{extra}\r\n".encode()


def conversation(
    sport: int,
    request: bytes,
    *,
    mss: int = 1460,
    window: int = 65535,
    acks: int = 4,
    close: bool = True,
) -> bytes:
    out = syn(sport, mss=mss) + ack(sport) + ack(sport, "PA", request, window=window)
    for _ in range(acks):
        out += ack(sport, window=window)
    if close:
        out += ack(sport, "FA") + ack(sport, delay=dt(100))
    return out


def frame_seeds() -> dict[str, bytes]:
    arp = eth() / ARP(op=1, hwsrc=CLIENT_MAC, psrc=CLIENT_IP, pdst=SERVER_IP)
    arp.dst = "ff:ff:ff:ff:ff:ff"
    ping = eth() / IP(src=CLIENT_IP, dst=SERVER_IP) / ICMP(id=7, seq=1) / Raw(b"x" * 56)
    seeds = {
        "arp": rec(raw(arp)),
        "ping": rec(raw(ping)),
        "syn": syn(40000),
        "syn-other-port": rec(tcp(40000, "S", seq=1000, dport=8080)),
        "ack-no-conn": rec(tcp(40000, "A", seq=5, ack=77)),
        "get-index": conversation(40001, get("/")),
        "head-about": conversation(40002, get("/about").replace(b"GET", b"HEAD", 1)),
        "get-file": conversation(40003, get("/files/mid.bin"), acks=6),
        "get-range": conversation(
            40020, get("/files/big.bin", "Range: bytes=1000-9000\r\n"), acks=8
        ),
        "get-gzip": conversation(40021, get("/text", "Accept-Encoding: gzip\r\n"), acks=4),
        "get-file-small-mss": conversation(40004, get("/files/mid.bin"), mss=100, acks=12),
        "get-file-small-window": conversation(40005, get("/files/mid.bin"), window=1000, acks=8),
        "pipelined": conversation(
            40006,
            get("/")
            + get("/about").replace(b"GET", b"HEAD", 1)
            + get("/nope")
            + get("/files/small.txt", "Connection: close\r\n"),
            acks=6,
        ),
        "bad-request": conversation(40007, b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
        "post-body": conversation(
            40008, b"POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        ),
        "http10": conversation(40009, b"GET /about HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        # The response is sent, never acknowledged: the RTO fires and backs off until
        # the connection is dropped.
        "retransmit": syn(40010)
        + ack(40010)
        + ack(40010, "PA", get("/files/mid.bin"))
        + tick(1100)
        + tick(2100)
        + ack(40010)
        + tick(30000),
        # The client's window closes mid-response: persist probes.
        "zero-window": syn(40011)
        + ack(40011)
        + ack(40011, "PA", get("/files/mid.bin"), window=1500)
        + ack(40011, window=0)
        + tick(1100)
        + tick(2200)
        + ack(40011)
        + ack(40011),
        "reset": syn(40012) + ack(40012) + ack(40012, "R"),
        "idle": syn(40013)
        + ack(40013)
        + ack(40013, "PA", get("/"))
        + ack(40013)
        + tick(6000)
        + ack(40013)
        + ack(40013, "FA"),
        # Nine SYNs in one burst for a pool of eight; the held frames share one pass.
        "pool-full": b"".join(syn(41000 + i, ctl=FIX | HOLD) for i in range(8)) + syn(41008),
        # Output left in the TX ring: four large responses at once fill it, and the
        # connections that found it full resume from the pending list.
        "tx-ring-full": b"".join(syn(40020 + i) + ack(40020 + i) for i in range(4))
        + b"".join(ack(40020 + i, "PA", get("/files/big.bin"), ctl=REL | NODRAIN) for i in range(4))
        + tick(1)
        + b"".join(ack(40020 + i) * 3 for i in range(4)),
        # The first segment acknowledged again and again (an offset into the stream:
        # ACKISS): three duplicates send it again at once (RFC 5681 3.2).
        "dup-acks": syn(40015)
        + ack(40015)
        + ack(40015, "PA", get("/files/mid.bin"))
        + ack(40015, ctl=REL | ACKISS) * 4
        + ack(40015)
        + ack(40015, "FA")
        + ack(40015),
        # Half a segment acknowledged: the retransmission starts mid-template.
        "partial-ack": syn(40016)
        + ack(40016)
        + ack(40016, "PA", get("/files/mid.bin"))
        + rec(tcp(40016, "A", ack=700), REL | ACKISS)
        + tick(1500)
        + ack(40016)
        + ack(40016, "FA")
        + ack(40016),
        # A second request on the same connection after the first response, with the
        # client's FIN right behind it.
        "keep-alive": syn(40017)
        + ack(40017)
        + ack(40017, "PA", get("/about"))
        + ack(40017)
        + ack(40017, "PA", get("/files/small.txt"))
        + ack(40017, "FA")
        + ack(40017),
        # The server closes first (Connection: close); the client's FIN follows: FIN-WAIT-2,
        # TIME-WAIT, the client's FIN again (its ACK "lost"), then a new SYN ends it.
        "time-wait": syn(40030)
        + ack(40030)
        + ack(40030, "PA", get("/", "Connection: close\r\n"))
        + ack(40030)
        + ack(40030, "FA")
        + rec(tcp(40030, "FA", seq=M1), REL)
        + tick(500)
        + rec(tcp(40030, "S", seq=900000), FIX)
        + ack(40030),
        # Both FINs cross: the client's arrives before it acknowledged the server's
        # (ACKISS with offset 0 acknowledges nothing), so the server goes to CLOSING.
        "closing": syn(40031)
        + ack(40031)
        + ack(40031, "PA", get("/", "Connection: close\r\n"), ctl=REL | ACKISS)
        + ack(40031, "FA", ctl=REL | ACKISS)
        + ack(40031)
        + tick(100),
        # A retransmission that overlaps what was received: the old part is trimmed.
        "overlap": syn(40032)
        + ack(40032)
        + ack(40032, "PA", b"GET /ab")
        + rec(
            tcp(40032, "PA", seq=(-3) & 0xFFFFFFFF, data=b"/about HTTP/1.1\r\nHost: a\r\n\r\n"), REL
        )
        + ack(40032)
        + ack(40032, "FA")
        + ack(40032),
        # A loss (three duplicate ACKs), fast recovery, then congestion avoidance as the
        # rest of a large file is acknowledged bit by bit.
        "recovery": syn(40033)
        + ack(40033)
        + ack(40033, "PA", get("/files/big.bin"))
        + rec(tcp(40033, "A", ack=DEFAULT_MSS), REL | ACKISS)
        + rec(tcp(40033, "A", ack=DEFAULT_MSS), REL | ACKISS) * 3
        + b"".join(rec(tcp(40033, "A", ack=DEFAULT_MSS * k), REL | ACKISS) for k in range(2, 22))
        + ack(40033) * 3
        + ack(40033, "FA")
        + ack(40033),
        # A request sent into a closed window: only a segment exactly at RCV.NXT counts.
        "full-window": syn(40034)
        + ack(40034)
        + ack(40034, "PA", b"GET / HTTP/1.1\r\nX: " + b"a" * 1400)
        + ack(40034, "PA", b"b" * 1400)
        + ack(40034, "PA", b"c" * 1296)
        + ack(40034, "PA", b"d" * 10)
        + ack(40034)
        + ack(40034, "FA")
        + ack(40034),
    }
    return seeds


def http_seeds() -> dict[str, bytes]:
    def h(opts: int, sizes: bytes, data: bytes) -> bytes:
        assert len(sizes) == opts & 7
        return bytes([opts]) + sizes + data

    host = "Host: 198.18.0.2\r\n"

    def r(line: str, *fields: str) -> bytes:
        """A request: the line (method and target), Host, these fields."""
        lines = [f"{line} HTTP/1.1", host.rstrip(), *fields, "", ""]
        return "\r\n".join(lines).encode()

    return {
        "get": h(0, b"", get("/")),
        "split": h(3, b"\x01\x07\x00", get("/about")),
        "head": h(0, b"", f"HEAD /files/mid.bin HTTP/1.1\r\n{host}\r\n".encode()),
        "pipelined": h(0, b"", get("/") + get("/nope") + get("/about") + get("/files/small.txt")),
        "close": h(0x40, b"", get("/", "Connection: close\r\n") + get("/about")),
        "http10": h(
            0, b"", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"
        ),
        "absolute": h(0, b"", f"GET http://198.18.0.2/about?x=1 HTTP/1.1\r\n{host}\r\n".encode()),
        "body": h(
            1,
            b"\x10",
            f"POST /x HTTP/1.1\r\n{host}Content-Length: 10\r\n\r\n0123456789".encode() + get("/"),
        ),
        "get-with-length": h(
            0, b"", f"GET / HTTP/1.1\r\n{host}Content-Length: 3\r\n\r\nabc".encode() + get("/about")
        ),
        "chunked": h(
            0, b"", f"GET / HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n".encode()
        ),
        "two-lengths": h(
            0,
            b"",
            f"GET / HTTP/1.1\r\n{host}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab".encode(),
        ),
        "folded": h(0, b"", f"GET / HTTP/1.1\r\n{host}X: a\r\n b\r\n\r\n".encode()),
        "small-mss": h(0x08, b"", get("/files/mid.bin") + get("/files/mid.bin")),
        "big": h(0, b"", get("/files/big.bin")),
        "small-window-slow": h(0xA0, b"", get("/files/mid.bin")),
        "wscale": h(0x10, b"", get("/files/mid.bin")),
        "big-header": h(0, b"", b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 5000 + b"\r\n\r\n"),
        "long-target": h(
            0, b"", b"GET /" + b"a" * 2100 + b" HTTP/1.1\r\n" + host.encode() + b"\r\n"
        ),
        "bare-lf": h(0, b"", b"\r\n\r\nGET /about HTTP/1.1\nHost: a\n\n"),
        "methods": h(0, b"", b"DELETE / HTTP/1.1\r\n\r\n"),
        "version": h(0, b"", b"GET / HTTP/2.0\r\n\r\n"),
        # docs/http.md, rule by rule
        "continue": h(
            2, b"\x40\x05", r("GET /about", "Expect: 100-continue", "Content-Length: 5") + b"hello"
        ),
        "continue-head": h(0, b"", r("HEAD /", "Expect: 100-continue", "Content-Length: 2")),
        "expect-other": h(0, b"", r("GET /", "Expect: x")),
        "options": h(0, b"", r("OPTIONS *") + r("OPTIONS /about") + get("/")),
        "post-405": h(0, b"", r("POST /about", "Content-Length: 2") + b"ab"),
        "post-404": h(0, b"", r("POST /nope", "Content-Length: 2") + b"ab" + get("/")),
        "connect": h(0, b"", b"CONNECT 198.18.0.2:443 HTTP/1.1\r\nHost: 198.18.0.2:443\r\n\r\n"),
        "paths": h(
            0,
            b"",
            get("/files/%2e%2E/files//mid.bin")
            + get("/files%2Fsmall.txt?../..")
            + get("/about/./")
            + get("/%61bout")
            + get("/a/../../x"),
        ),
        "bad-escape": h(0, b"", get("/%0") + get("/")),
        "nul": h(0, b"", get("/a%00")),
        "absolute-host": h(
            0, b"", b"GET HTTPS://[::1]:80/about HTTP/1.1\r\nHost: not a host\r\n\r\n" + get("/")
        ),
        "bad-host": h(0, b"", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        "cl-te": h(0, b"", r("GET /", "Content-Length: 3", "Transfer-Encoding: chunked")),
        "te-not-last": h(0, b"", r("GET /", "Transfer-Encoding: chunked, x")),
        "too-large": h(0, b"", r("GET /", "Content-Length: 1048577")),
        "many-fields": h(0, b"", r("GET /", *["X: y"] * 101)),
        "head-error": h(0, b"", b"HEAD / HTTP/1.1\r\n\r\n"),
        "pipelined-many": h(0, b"", b"".join(get(p) for p in ["/", "/about", "/nope"] * 40)),
        # docs/http.md, variants: conditionals, codings, ranges, hosts
        "etag": h(0, b"", r("GET /files/mid.bin", 'If-None-Match: W/"0123456789abcdef", *')
                  + r("HEAD /text", 'If-None-Match: "0123456789abcdef"')),
        "since": h(0, b"", r("GET /text", "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT")
                   + r("GET /about", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT")
                   + r("GET /", "If-Modified-Since: Sun Nov  6 08:49:37 1994")),
        "codings": h(0, b"", r("GET /text", "Accept-Encoding: gzip;q=0.5, br;q=0.9, *;q=0")
                     + r("GET /text", "Accept-Encoding: identity;q=0, x-gzip")
                     + r("GET /files/page.html", "Accept-Encoding: br")),
        "ranges": h(0, b"", r("GET /files/big.bin", "Range: bytes=1000-20000")
                    + r("GET /text", "Accept-Encoding: gzip", "Range: bytes=-700")
                    + r("GET /files/mid.bin", "Range: bytes=4990-")
                    + r("GET /files/mid.bin", "Range: bytes=9000-")),
        "range-small-mss": h(0x08, b"", r("GET /files/big.bin", "Range: bytes=1447-4400")),
        "range-slow": h(0xA0, b"", r("GET /files/mid.bin", "Range: bytes=1-4000")),
        "if-range": h(0, b"", r("GET /files/mid.bin", "Range: bytes=0-9",
                                'If-Range: "0123456789abcdef"')
                      + r("GET /files/mid.bin", "Range: bytes=0-9",
                          "If-Range: Tue, 14 Nov 2023 22:13:20 GMT")
                      + r("GET /files/mid.bin", "Range: bytes=0-1,3-4")),
        # the application's route (/d/, harness.h): its requests' fields, chunked bodies,
        # 100 Continue, and the kernel-socket path on the same bytes
        "app-fields": h(0, b"", r("GET /d/x?q=1", "X-A:  1 2 ", "x-a: 3", "E:", "O: caf\xe9")
                        + r("POST http://198.18.0.2/d/y", "Content-Length: 2") + b"hi"),
        "app-chunked": h(1, b"\x09", r("POST /d/c", "Transfer-Encoding: chunked")
                         + b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nT: 1\r\n\r\n" + get("/")),
        "app-continue": h(0, b"", r("POST /d/e", "Expect: 100-continue", "Content-Length: 3")
                          + b"abc" + r("POST /d/e", "Transfer-Encoding: chunked",
                                       "Expect: 100-continue") + b"0\r\n\r\n"),
        "app-many-fields": h(0, b"", r("GET /d/m", *[f"X-{i}: {i}" for i in range(99)])),
        "hosts": h(0, b"", b"GET / HTTP/1.1\r\nHost: EXAMPLE.org:8080\r\n\r\n"
                   + b"GET /nope HTTP/1.1\r\nHost: www.example.org.\r\n\r\n"
                   + b"GET http://example.org/files/docs HTTP/1.1\r\nHost: x\r\n\r\n"
                   + get("/files/docs/")),
    }


def client_hello() -> bytes:
    """A TLS 1.3 ClientHello (with 1.2 offered too) from Python's ssl, for fuzz.test."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="fuzz.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tls_conversation(sport: int) -> bytes:
    """To the TLS port: a ClientHello, the ACKs of the server's flight, then a record
    that is not one of the handshake's, and a close: the handshake's bytes, their resends
    and the alert that ends it (harness.h's FZ_TLS_PORT)."""
    p = 443
    out = syn(sport, dport=p) + ack(sport, dport=p)
    out += ack(sport, "PA", client_hello(), dport=p)
    out += ack(sport, dport=p, delay=dt(300)) + ack(sport, dport=p)  # one lost, resent
    out += ack(sport, "PA", b"\x17\x03\x03\x00\x20" + bytes(32), dport=p)
    return out + ack(sport, dport=p) + ack(sport, "FA", dport=p) + ack(sport, dport=p)


def dual_stack() -> bytes:
    """An IPv4 and an IPv6 connection from the same port, their requests interleaved."""
    from seeds6 import ack6, syn6
    from seeds6 import get as get6

    return (
        syn(40113) + syn6(40113) + ack(40113) + ack6(40113)
        + ack(40113, "PA", get("/files/mid.bin")) + ack6(40113, "PA", get6("/files/mid.bin"))
        + (ack(40113) + ack6(40113)) * 6 + ack(40113, "FA") + ack6(40113, "FA")
    )  # fmt: skip


def main() -> None:
    from seeds6 import frame_seeds6

    out = Path(sys.argv[1])
    frames = {**frame_seeds(), **frame_seeds6(), "dual-stack": dual_stack(),
              "tls-handshake": tls_conversation(40200)}  # fmt: skip
    for name, seeds in (("frames", frames), ("http", http_seeds())):
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        for key, data in seeds.items():
            (d / key).write_bytes(data)


if __name__ == "__main__":
    main()
