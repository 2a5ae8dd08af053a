# tests/unit/unit_helpers.py: helpers for the unit tests (imported by name; the unit
# test folder is on sys.path under pytest's default import mode).
#
# The table decoding here is written from docs/bundle.md with struct, independently of
# ssdk.core.bundle, so a layout mistake there shows up as a test failure.
from __future__ import annotations

import re
import struct
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ssdk.core.build import BuildError, build, load_app

AppWriter = Callable[..., tuple[Path, dict[str, int]]]


def make_writer(folder: Path) -> AppWriter:
    def write(source: str, name: str = "app.py") -> tuple[Path, dict[str, int]]:
        text = textwrap.dedent(source).lstrip("\n")
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        marks: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), 1):
            for tag in re.findall(r"#\s*@(\w+)", line):
                marks[tag] = number
        return path.resolve(), marks

    return write


def build_error(path: Path) -> BuildError:
    """The BuildError that loading and building the app at `path` raises."""
    with pytest.raises(BuildError) as info:
        build(load_app(path))
    return info.value


# --- the blob, decoded from docs/bundle.md -------------------------------------------


@dataclass
class Resp:
    stream_off: int
    stream_len: int
    hdr_len: int
    seg_first: int
    nseg: int
    conn_off: int
    status: int
    flags: int
    date_off: int


@dataclass
class Tables:
    blob: bytes
    mss: int
    hash_slots: int
    hash_off: int
    resp_off: int
    seg_off: int
    nresp: int
    nseg: int
    special: list[int]
    resp: list[Resp]
    seg_sum: list[int]
    slots: list[tuple[int, int, int, int, int, int]]

    def stream(self, i: int) -> bytes:
        r = self.resp[i]
        return self.blob[r.stream_off : r.stream_off + r.stream_len]

    def sums(self, i: int) -> list[int]:
        r = self.resp[i]
        return self.seg_sum[r.seg_first : r.seg_first + r.nseg]


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) % (1 << 64)
    return h


def decode_tables(blob: bytes) -> Tables:
    blob = bytes(blob)
    assert blob[:8] == b"SSDKTBL1"
    mss, slots, hash_off, resp_off, seg_off, nresp, nseg = struct.unpack_from("<IIQQQII", blob, 8)
    special = list(struct.unpack_from("<16I", blob, 48))
    assert blob[112:128] == bytes(16)
    resp = [Resp(*struct.unpack_from("<QQIIIIHHI", blob, resp_off + 40 * i)) for i in range(nresp)]
    seg_sum = list(struct.unpack_from(f"<{nseg}I", blob, seg_off))
    slot_rows = [struct.unpack_from("<QIHHII", blob, hash_off + 24 * i) for i in range(slots)]
    return Tables(blob, mss, slots, hash_off, resp_off, seg_off, nresp, nseg, special, resp,
                  seg_sum, slot_rows)  # fmt: skip


def lookup(t: Tables, path: bytes) -> tuple[int, int] | None:
    """(GET, HEAD) response indexes for `path`, by FNV-1a 64 and linear probing."""
    h = fnv1a64(path)
    i = h & (t.hash_slots - 1)
    for _ in range(t.hash_slots):
        sh, poff, plen, flags, get_r, head_r = t.slots[i]
        if plen == 0:
            return None
        if sh == h and t.blob[poff : poff + plen] == path:
            assert flags == 0
            return get_r, head_r
        i = (i + 1) & (t.hash_slots - 1)
    return None
