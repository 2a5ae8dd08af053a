# ssdk/core/bundle.py: the bundle file (docs/bundle.md): manifest, blob and blob tables.
#
# Owns: Manifest/RouteRow, the blob layout (table header, route hash table, response
# table, segment sums, path bytes, streams), encoding, atomic writing and mmap reading.
# Invariants: all integers little-endian; the blob starts at a multiple of 4096 in the
# file; streams start at multiples of 64 in the blob; the hash table is a power of two
# at least twice the number of routes; the same inputs give the same bytes (sorted by the
# caller, no timestamps), so the blob's sha256 names its content.
from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ssdk.core.http import date_offset
from ssdk.core.lower import nsegments, segment_sums

MAGIC = b"SSDKBNDL"
FORMAT = 2  # 2: special responses 9-13 (411, 413, 417, 100 Continue, OPTIONS)
TABLE_MAGIC = b"SSDKTBL1"
PAGE = 4096
STREAM_ALIGN = 64
NONE32 = 0xFFFFFFFF
RESP_CLOSE = 0x1

FILE_HDR = struct.Struct("<8sIIQ")  # magic, version, reserved, manifest length
TABLE_HDR = struct.Struct("<8sIIQQQII16I16s")  # struct ssdk_table_hdr, 128 bytes
SLOT = struct.Struct("<QIHHII")  # struct ssdk_route_slot, 24 bytes
RESP = struct.Struct("<QQIIIIHHI")  # struct ssdk_resp, 40 bytes
SEG = struct.Struct("<I")

NSPECIAL = 16  # slots of special[]; ssdk.core.http.SPECIALS fills the first 14

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


class BundleError(Exception):
    """A bundle file that cannot be used: wrong magic or version, truncated, corrupted."""


class RouteRow(msgspec.Struct):
    path: str  # the route key as on the wire (percent-encoded); <name> for specials
    status: int
    content_type: str
    body_bytes: int
    segments: int  # of the GET stream
    kind: str  # "static" | "page" | "special"
    origin: str = ""  # file:line of the declaration, or the static file's path


class Manifest(msgspec.Struct):
    format: int
    ssdk_version: str
    mss: int
    source: str
    blob_sha256: str
    routes: list[RouteRow]
    blob_bytes: int = 0
    nresp: int = 0
    nseg: int = 0


@dataclass(frozen=True)
class Stream:
    """One response to lay into the blob: its header block, body and table fields."""

    header: bytes
    body: bytes
    conn_off: int
    status: int
    flags: int = 0


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


def hash_slots_for(nroutes: int) -> int:
    """Table size: a power of two, at least 16, at most half full."""
    slots = 16
    while slots < 2 * nroutes:
        slots *= 2
    return slots


def build_blob(
    mss: int,
    streams: Sequence[Stream],
    routes: Sequence[tuple[bytes, int, int]],
    specials: dict[int, int],
) -> bytes:
    """Lay out the blob. `routes` are (path key, GET response, HEAD response)."""
    nresp = len(streams)
    slots = hash_slots_for(len(routes))
    seg_counts = [nsegments(len(s.header) + len(s.body), mss) for s in streams]
    nseg = sum(seg_counts)
    hash_off = _align(TABLE_HDR.size, STREAM_ALIGN)
    resp_off = _align(hash_off + slots * SLOT.size, STREAM_ALIGN)
    seg_off = _align(resp_off + nresp * RESP.size, STREAM_ALIGN)
    path_off = seg_off + nseg * SEG.size
    paths_len = sum(len(p) for p, _, _ in routes)
    stream_offs = []
    end = path_off + paths_len
    for s in streams:
        end = _align(end, STREAM_ALIGN)
        stream_offs.append(end)
        end += len(s.header) + len(s.body)
    blob = bytearray(end)
    view = memoryview(blob)

    special = [NONE32] * NSPECIAL
    for idx, resp in specials.items():
        special[idx] = resp
    TABLE_HDR.pack_into(
        blob, 0, TABLE_MAGIC, mss, slots, hash_off, resp_off, seg_off, nresp, nseg,
        *special, bytes(16),
    )  # fmt: skip

    taken = [False] * slots
    off = path_off
    for path, get_resp, head_resp in routes:
        if not 0 < len(path) <= 0xFFFF:
            raise ValueError(f"route key of {len(path)} bytes does not fit the table")
        h = fnv1a64(path)
        i = h & (slots - 1)
        while taken[i]:
            i = (i + 1) & (slots - 1)
        taken[i] = True
        SLOT.pack_into(blob, hash_off + i * SLOT.size, h, off, len(path), 0, get_resp, head_resp)
        blob[off : off + len(path)] = path
        off += len(path)

    seg_first = 0
    for n, (s, soff, count) in enumerate(zip(streams, stream_offs, seg_counts, strict=True)):
        slen = len(s.header) + len(s.body)
        blob[soff : soff + len(s.header)] = s.header
        blob[soff + len(s.header) : soff + slen] = s.body
        sums = segment_sums(view[soff : soff + slen], mss)
        assert len(sums) == count
        struct.pack_into(f"<{count}I", blob, seg_off + seg_first * SEG.size, *sums)
        RESP.pack_into(
            blob, resp_off + n * RESP.size, soff, slen, len(s.header), seg_first, count,
            s.conn_off, s.status, s.flags, date_offset(s.header),
        )  # fmt: skip
        seg_first += count
    view.release()
    return bytes(blob)


def encode_bundle(manifest: Manifest, blob: bytes) -> bytes:
    """The whole bundle file as bytes."""
    return b"".join(_pieces(manifest, blob))


def _pieces(manifest: Manifest, blob: bytes) -> list[bytes]:
    if hashlib.sha256(blob).hexdigest() != manifest.blob_sha256:
        raise ValueError("manifest.blob_sha256 does not match the blob")
    meta = msgspec.msgpack.encode(manifest)
    head = FILE_HDR.pack(MAGIC, FORMAT, 0, len(meta))
    pad = _align(len(head) + len(meta), PAGE) - len(head) - len(meta)
    return [head, meta, bytes(pad), blob]


def write_bundle(path: str | Path, manifest: Manifest, blob: bytes) -> None:
    """Write atomically: a reader sees the old bundle or the new one, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            for piece in _pieces(manifest, blob):
                f.write(piece)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Bundle:
    """A loaded bundle: its manifest and its blob (an mmap for files, bytes in memory).

    `blob` supports the buffer protocol (cffi's ffi.from_buffer takes it as it is). A
    file-backed bundle holds its mapping until close().
    """

    def __init__(
        self,
        manifest: Manifest,
        blob: bytes | mmap.mmap | memoryview,
        *,
        path: Path | None = None,
        _owner: mmap.mmap | None = None,
    ) -> None:
        self.manifest = manifest
        self.blob = blob
        self.path = path
        self._owner = _owner

    def close(self) -> None:
        if isinstance(self.blob, memoryview):
            self.blob.release()
        if isinstance(self.blob, mmap.mmap):
            self.blob.close()
        if self._owner is not None:
            self._owner.close()
            self._owner = None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, path: str | bytes, head: bool = False) -> int | None:
        """The response index the server picks for a request path, or None."""
        key = path.encode() if isinstance(path, str) else path
        _, _, slots, hash_off, *_ = TABLE_HDR.unpack_from(self.blob, 0)
        h = fnv1a64(key)
        i = h & (slots - 1)
        for _ in range(slots):
            sh, poff, plen, _, get_resp, head_resp = SLOT.unpack_from(
                self.blob, hash_off + i * SLOT.size
            )
            if plen == 0:
                return None
            if sh == h and self.blob[poff : poff + plen] == key:
                return head_resp if head else get_resp
            i = (i + 1) & (slots - 1)
        return None

    def stream(self, index: int) -> bytes:
        """The bytes a response sends (header block and body)."""
        resp_off = TABLE_HDR.unpack_from(self.blob, 0)[4]
        off, length = RESP.unpack_from(self.blob, resp_off + index * RESP.size)[:2]
        return bytes(self.blob[off : off + length])


def read_bundle(path: str | Path) -> Bundle:
    """Map a bundle file read-only, after checking magic, version, length and sha256."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise BundleError(f"{path}: cannot open: {e.strerror}") from e
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(FILE_HDR.size)
        if len(head) < FILE_HDR.size:
            raise BundleError(f"{path}: truncated ({size} bytes, not even a header)")
        magic, version, _, mlen = FILE_HDR.unpack(head)
        if magic != MAGIC:
            raise BundleError(f"{path}: not an ssdk bundle (magic {magic!r})")
        if version != FORMAT:
            raise BundleError(f"{path}: bundle format {version}, this ssdk reads {FORMAT}")
        blob_off = _align(FILE_HDR.size + mlen, PAGE)
        if blob_off + TABLE_HDR.size > size:
            raise BundleError(f"{path}: truncated ({size} bytes, blob at {blob_off})")
        try:
            manifest = msgspec.msgpack.decode(f.read(mlen), type=Manifest)
        except msgspec.DecodeError as e:
            raise BundleError(f"{path}: corrupted manifest: {e}") from e
        blob_len = size - blob_off
        if manifest.blob_bytes and manifest.blob_bytes != blob_len:
            raise BundleError(
                f"{path}: truncated or padded (blob {blob_len} bytes, "
                f"manifest says {manifest.blob_bytes})"
            )
        owner = None
        if blob_off % mmap.ALLOCATIONGRANULARITY == 0:
            blob: mmap.mmap | memoryview = mmap.mmap(
                f.fileno(), blob_len, access=mmap.ACCESS_READ, offset=blob_off
            )
        else:
            owner = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            blob = memoryview(owner)[blob_off:]
    bundle = Bundle(manifest, blob, path=path, _owner=owner)
    try:
        if hashlib.sha256(blob).hexdigest() != manifest.blob_sha256:
            raise BundleError(f"{path}: blob sha256 does not match the manifest (corrupted)")
        try:
            check_tables(blob, manifest.mss)
        except BundleError as e:
            raise BundleError(f"{path}: {e}") from None
    except BaseException:
        bundle.close()
        raise
    return bundle


def check_tables(blob: bytes | mmap.mmap | memoryview, mss: int) -> None:
    """Check the blob's table header and that its sections lie inside the blob."""
    if len(blob) < TABLE_HDR.size:
        raise BundleError("blob shorter than its table header")
    magic, tmss, slots, hash_off, resp_off, seg_off, nresp, nseg, *rest = TABLE_HDR.unpack_from(
        blob, 0
    )
    if magic != TABLE_MAGIC:
        raise BundleError(f"bad table magic {magic!r}")
    if tmss != mss:
        raise BundleError(f"table MSS {tmss} differs from the manifest's {mss}")
    if slots == 0 or slots & (slots - 1):
        raise BundleError(f"hash table size {slots} is not a power of two")
    for name, off, n, size in (
        ("route hash table", hash_off, slots, SLOT.size),
        ("response table", resp_off, nresp, RESP.size),
        ("segment sums", seg_off, nseg, SEG.size),
    ):
        if off + n * size > len(blob):
            raise BundleError(f"{name} lies outside the blob")
    special = rest[:NSPECIAL]
    if any(s != NONE32 and s >= nresp for s in special):
        raise BundleError("special response index out of range")
