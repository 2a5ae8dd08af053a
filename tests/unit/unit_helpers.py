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
from typing import Any

import pytest

import ssdk.serve
import ssdk.tools.doctor
from ssdk.cli import main
from ssdk.core.buildtime.build import build, load_app
from ssdk.core.buildtime.errors import BuildError

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"

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
    clen_off: int
    range_off: int
    body: int
    reserved: int


@dataclass
class Var:
    etag: int
    last_modified: int
    get: int
    head: int
    not_modified: int
    partial: int
    unsatisfiable: int
    coding: int


@dataclass
class DecodedTables:
    blob: bytes
    mss: int
    hash_slots: int
    hash_off: int
    resp_off: int
    seg_off: int
    nresp: int
    nseg: int
    resp: list[Resp]
    seg_sum: list[int]
    slots: list[tuple[int, int, int, int, int, int, int]]
    variants: list[Var]
    hosts: list[tuple[int, int, int, int]]
    sections: list[list[int]]

    @property
    def special(self) -> list[int]:
        """The default host's special responses."""
        return self.sections[0]

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


NONE32 = 0xFFFFFFFF


def decode_tables(blob: bytes) -> DecodedTables:
    """The blob's tables as docs/bundle.md lays out format 3."""
    blob = bytes(blob)
    assert blob[:8] == b"SSDKTBL3"
    mss, slots, hash_off, resp_off, seg_off, nresp, nseg = struct.unpack_from("<IIQQQII", blob, 8)
    var_off, host_off, section_off, nvar, host_slots, nsection = struct.unpack_from(
        "<QQQIII", blob, 48
    )
    assert blob[84:128] == bytes(44)
    resp = [Resp(*struct.unpack_from("<QQIIIIHHIIIII", blob, resp_off + 56 * i))
            for i in range(nresp)]  # fmt: skip
    seg_sum = list(struct.unpack_from(f"<{nseg}I", blob, seg_off))
    slot_rows = [struct.unpack_from("<QIHHIHH", blob, hash_off + 24 * i) for i in range(slots)]
    variants = [Var(*struct.unpack_from("<QqIIIIIB", blob, var_off + 40 * i))
                for i in range(nvar)]  # fmt: skip
    hosts = [struct.unpack_from("<QIHH", blob, host_off + 16 * i) for i in range(host_slots)]
    sections = [list(struct.unpack_from("<16I", blob, section_off + 64 * i))
                for i in range(nsection)]  # fmt: skip
    return DecodedTables(blob, mss, slots, hash_off, resp_off, seg_off, nresp, nseg, resp, seg_sum,
                  slot_rows, variants, hosts, sections)  # fmt: skip


def route_variants(t: DecodedTables, path: bytes, section: int = 0) -> list[Var] | None:
    """The variants of `path` in a section: FNV-1a 64 of the section as two bytes
    (little-endian) and the path, linear probing."""
    key = struct.pack("<H", section) + path
    h = fnv1a64(key)
    i = h & (t.hash_slots - 1)
    for _ in range(t.hash_slots):
        sh, poff, plen, sec, first, nvar, flags = t.slots[i]
        if plen == 0:
            return None
        if sh == h and sec == section and t.blob[poff : poff + plen] == path:
            assert flags == 0
            return t.variants[first : first + nvar]
        i = (i + 1) & (t.hash_slots - 1)
    return None


def host_section(t: DecodedTables, name: bytes) -> int:
    """The section of a lower-case host name, or 0."""
    if not t.hosts:
        return 0
    h = fnv1a64(name)
    i = h & (len(t.hosts) - 1)
    for _ in range(len(t.hosts)):
        sh, noff, nlen, section = t.hosts[i]
        if nlen == 0:
            return 0
        if sh == h and t.blob[noff : noff + nlen] == name:
            return section
        i = (i + 1) & (len(t.hosts) - 1)
    return 0


def lookup(t: DecodedTables, path: bytes, section: int = 0) -> tuple[int, int] | None:
    """(GET, HEAD) response indexes of the identity variant of `path`."""
    found = route_variants(t, path, section)
    if found is None:
        return None
    assert found[0].coding == 0, "the identity variant comes first"
    return found[0].get, found[0].head


def serve_tcp(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> dict[str, Any]:
    """The TCP settings `ssdk serve` (examples/hello, preflight and serving stubbed out)
    would hand the engine with these arguments."""
    seen: list[Any] = []
    monkeypatch.setattr(ssdk.tools.doctor, "preflight", lambda opts: 0)
    monkeypatch.setattr(ssdk.serve, "serve", lambda opts, *_: seen.append(opts) or 0)
    rc = main(["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/24", *args])
    assert rc == 0 and len(seen) == 1
    return dict(seen[0].tcp)


@dataclass
class FakeXdp:
    """Stands in for ssdk.share's XDP attach (serve_share.share_setup's `attach`): records
    the arguments of the one call and answers with an attachment in `mode`."""

    mode: str
    shared: bool
    args: tuple[Any, ...] | None = None
    map_fd: int = 7

    def __call__(self, *args: Any) -> FakeXdp:
        self.args = args
        return self


def fake_xdp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, shared: bool
) -> FakeXdp:
    """A FakeXdp, with the XDP object's path pointed into tmp_path (tmp_path / "x.o")."""
    monkeypatch.setattr("ssdk.serve_share.xdp_object", lambda: tmp_path / "x.o")
    return FakeXdp(mode, shared)
