# ssdk/core/lower.py: a response stream cut into MSS-sized segments, each with its sum.
#
# Owns: the 16-bit one's-complement sum (RFC 1071) and the segment boundaries.
# Invariants: segment i of a stream covers stream[i*mss : min((i+1)*mss, len)]; a stream
# has max(1, ceil(len/mss)) segments; a segment's sum is big-endian 16-bit words from its
# first byte, an odd last byte padded with zero, folded, not complemented; it is 0 only
# for all-zero bytes and otherwise in 1..0xFFFF.
from __future__ import annotations

from collections.abc import Iterator

Buffer = bytes | bytearray | memoryview


def ones_sum(data: Buffer) -> int:
    """RFC 1071 sum of `data`, folded to 16 bits and not complemented."""
    # Read as one big-endian integer, the words are its base-65536 digits; since
    # 65536 = 1 (mod 0xFFFF), the integer is congruent to the sum of its words, and
    # end-around-carry addition is addition mod 0xFFFF with 0xFFFF standing for 0.
    value = int.from_bytes(data, "big")
    if not value:
        return 0
    if len(data) & 1:
        value <<= 8
    return value % 0xFFFF or 0xFFFF


def nsegments(length: int, mss: int) -> int:
    """How many segments a stream of `length` bytes has: ceil(length/mss), at least 1."""
    return max(1, -(-length // mss))


def segment_bounds(length: int, mss: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each segment of a stream of `length` bytes."""
    for i in range(nsegments(length, mss)):
        yield i * mss, min((i + 1) * mss, length)


def segment_sums(stream: Buffer, mss: int) -> list[int]:
    """The sum of every segment of `stream`, in order."""
    if mss <= 0:
        raise ValueError(f"mss must be positive, not {mss}")
    view = memoryview(stream).cast("B")
    return [ones_sum(view[a:b]) for a, b in segment_bounds(len(view), mss)]
