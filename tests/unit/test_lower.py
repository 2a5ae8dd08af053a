# tests/unit/test_lower.py: segment boundaries and sums, checked against scapy.
#
# For every prebuilt segment we form the TCP checksum the server would send (segment sum
# + pseudo-header + TCP header words, RFC 1071) and compare it with the checksum scapy
# computes when it serializes the same packet. Stream sizes straddle the MSS.
from __future__ import annotations

import random
import re
import time

import pytest
from scapy.layers.inet import IP, TCP
from scapy.packet import Raw, raw
from scapy.utils import checksum as scapy_checksum
from unit_helpers import decode_tables, lookup

import ssdk
from ssdk.core.buildtime.build import build
from ssdk.core.http import header_block
from ssdk.core.lower import nsegments, ones_sum, segment_sums

MSS = 536
SRC, DST = "198.18.0.1", "198.18.0.2"


def fold(x: int) -> int:
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def words(data: bytes) -> int:
    return sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def tcp_checksum(seg_sum: int, payload_len: int, sport: int, dport: int, seq: int, ack: int,
                 window: int) -> int:  # fmt: skip
    """RFC 793/1071: pseudo-header + 20-byte header (checksum 0, flags PA) + payload sum."""
    pseudo = words(bytes(map(int, SRC.split(".")))) + words(bytes(map(int, DST.split("."))))
    pseudo += 6 + 20 + payload_len
    header = sport + dport + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
    header += (5 << 12) | 0x18  # data offset 5 words, flags PSH|ACK
    header += window
    return ~fold(pseudo + header + seg_sum) & 0xFFFF


def scapy_tcp_checksum(payload: bytes, sport: int, dport: int, seq: int, ack: int,
                       window: int) -> int:  # fmt: skip
    pkt = IP(src=SRC, dst=DST) / TCP(
        sport=sport, dport=dport, seq=seq, ack=ack, flags="PA", window=window
    ) / Raw(payload)  # fmt: skip
    return IP(raw(pkt))[TCP].chksum


def check_segments(stream: bytes, sums: list[int], mss: int, rng: random.Random,
                   sample: int | None = None) -> None:  # fmt: skip
    assert len(sums) == max(1, -(-len(stream) // mss))
    indexes = range(len(sums))
    if sample is not None and len(sums) > sample:
        indexes = sorted({0, len(sums) - 1, *rng.sample(range(len(sums)), sample)})
    for i in indexes:
        payload = stream[i * mss : (i + 1) * mss]
        assert len(payload) == (min((i + 1) * mss, len(stream)) - i * mss)
        sport, dport = rng.randrange(1, 65536), rng.randrange(1, 65536)
        seq, ack, win = rng.getrandbits(32), rng.getrandbits(32), rng.randrange(65536)
        ours = tcp_checksum(sums[i], len(payload), sport, dport, seq, ack, win)
        assert ours == scapy_tcp_checksum(payload, sport, dport, seq, ack, win), i


# What a 200 carries after Content-Length (docs/http.md): values of fixed lengths.
VALIDATORS = [("Last-Modified", "Thu, 01 Jan 1970 00:00:00 GMT"), ("ETag", '"' + "0" * 16 + '"'),
              ("Accept-Ranges", "bytes")]  # fmt: skip


def body_for_stream(total: int, fill: bytes) -> bytes:
    """A body whose stream (header block + body) is exactly `total` bytes long."""
    for n in range(max(0, total - 400), total + 1):
        fields = VALIDATORS if n else VALIDATORS[:2]
        if len(header_block(200, "application/octet-stream", n, fields=fields)[0]) + n == total:
            return (fill * (n // max(1, len(fill)) + 1))[:n]
    raise AssertionError(f"no body gives a {total}-byte stream")


def build_one(body: bytes, mss: int = MSS) -> tuple[bytes, list[int], bytes, list[int]]:
    """GET stream and sums, HEAD stream and sums, for a page serving `body`."""
    app = ssdk.App()
    app.page("/x")(lambda: ssdk.Response(body))
    _, blob = build(app, mss=mss)
    t = decode_tables(blob)
    found = lookup(t, b"/x")
    assert found is not None
    get, head = found
    return t.stream(get), t.sums(get), t.stream(head), t.sums(head)


def test_checksum_combination_can_fail() -> None:
    rng = random.Random(1)
    stream = bytes(rng.getrandbits(8) for _ in range(1000))
    sums = segment_sums(stream, MSS)
    bad = [sums[0] ^ 0x0100, *sums[1:]]
    with pytest.raises(AssertionError):
        check_segments(stream, bad, MSS, random.Random(2))


@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("mult", [1, 2, 3])
@pytest.mark.parametrize("fill", [b"\xff", b"\x00", b"", b"abc\x01\xfe"])
def test_stream_around_mss_boundaries(delta: int, mult: int, fill: bytes) -> None:
    total = mult * MSS + delta
    rng = random.Random(total)
    body = body_for_stream(total, fill or bytes(rng.getrandbits(8) for _ in range(total)))
    stream, sums, head, head_sums = build_one(body)
    assert len(stream) == total
    assert len(sums) == mult + (delta > 0)
    check_segments(stream, sums, MSS, rng)
    check_segments(head, head_sums, MSS, rng)
    assert stream == head + body


@pytest.mark.parametrize("size", [0, 1, 2, 3, 200_000])
def test_small_empty_and_large_bodies(size: int) -> None:
    rng = random.Random(size)
    body = bytes(rng.getrandbits(8) for _ in range(size))
    stream, sums, head, _ = build_one(body)
    assert stream == head + body
    m = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
    assert m is not None and int(m.group(1)) == size
    assert head.endswith(b"\r\nConnection: keep-alive\r\n\r\n")
    check_segments(stream, sums, MSS, rng)
    assert b"".join(stream[i * MSS : (i + 1) * MSS] for i in range(len(sums))) == stream


def test_eight_mib_fast_and_right() -> None:
    rng = random.Random(8)
    data = rng.randbytes(8 << 20)
    start = time.perf_counter()
    sums = segment_sums(data, 1448)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"{elapsed:.3f} s to sum 8 MiB"
    assert len(sums) == nsegments(len(data), 1448)
    # Every segment against scapy's own internet checksum, then a sample as full packets.
    for i, s in enumerate(sums):
        seg = data[i * 1448 : (i + 1) * 1448]
        assert scapy_checksum(seg) == (~s & 0xFFFF), i
    check_segments(data, sums, 1448, rng, sample=40)


def test_ones_sum_edges() -> None:
    assert ones_sum(b"") == 0
    assert ones_sum(bytes(7)) == 0
    assert ones_sum(b"\xff\xff") == 0xFFFF
    assert ones_sum(b"\x80\x00\x80\x00") == 0x0001  # carry wraps around
    assert ones_sum(b"\x01") == 0x0100  # odd byte padded with zero on the right
    assert ones_sum(b"\x12\x34\x56") == 0x1234 + 0x5600
    data = bytes(range(1, 256)) * 6
    for n in (1, 2, 3, 1447, 1448, 1449):
        assert ones_sum(data[:n]) == (~scapy_checksum(data[:n]) & 0xFFFF)
