# ssdk/core/blob.py: the blob of a bundle, the tables the C core reads (docs/bundle.md,
# "The blob"). The layouts are ssdk/csrc/table/table.h's, read by ssdk/core/cdefs.py; rows are
# packed by field name.
#
# buildtime/build.py -> build_blob (lay out)      bundle.py (read_bundle) -> check_tables
# bundle.py (Bundle.lookup) -> find_host -> find_route
#
# Owns: the binary layout of the table header, the route and host hash tables, the
# sections (special responses per host), variants, responses, segment sums and streams.
# Invariants: all integers little-endian; streams start at multiples of 64 in the blob;
# each hash table is a power of two at least twice its number of keys; the same inputs
# give the same bytes (the caller sorts, nothing here reads a clock).
from __future__ import annotations

import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ssdk.core.cdefs import (
    HOST_SLOT,
    RESP,
    RESP_CLOSE,
    RESP_RANGE,
    ROUTE_SLOT,
    SECTION,
    SPECIAL,
    TABLE_HDR,
    TABLE_MAGIC,
    VARIANT,
)
from ssdk.core.http import date_offset
from ssdk.core.lower import nsegments, segment_sums

__all__ = [
    "NONE32",
    "RESP",
    "RESP_CLOSE",
    "RESP_RANGE",
    "TABLE_HDR",
    "TABLE_MAGIC",
    "BundleError",
    "RouteKey",
    "Stream",
    "VariantRow",
    "build_blob",
    "check_tables",
    "find_host",
    "find_route",
    "header_of",
]

STREAM_ALIGN = 64
NONE32 = 0xFFFFFFFF
SLOT, HOST = ROUTE_SLOT, HOST_SLOT
NSPECIAL = SPECIAL["SP_COUNT"]  # slots of a section's special[]; SPECIALS fills SP_USED
SEG = struct.Struct("<I")

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


class BundleError(Exception):
    """A bundle file that cannot be used: wrong magic or version, truncated, corrupted."""


@dataclass(frozen=True)
class Stream:
    """One response to lay into the blob: its header block, body and table fields."""

    header: bytes
    body: bytes
    conn_off: int
    status: int
    flags: int = 0
    clen_off: int = 0  # a 206 template: its Content-Length slot
    range_off: int = 0  # a 206 template: its Content-Range slot
    body_of: int = -1  # a 206 template: the stream index it takes parts of


@dataclass(frozen=True)
class VariantRow:
    """struct ssdk_variant: a representation and the responses that answer for it."""

    coding: int
    etag: int  # the 16 hex digits of its ETag as a number; 0 without validators
    last_modified: int
    get: int
    head: int
    not_modified: int = NONE32
    partial: int = NONE32
    unsatisfiable: int = NONE32


@dataclass(frozen=True)
class RouteKey:
    """struct ssdk_route_slot: a path of a section and where its variants are."""

    section: int
    path: bytes
    var_first: int
    nvar: int


def fnv1a64(data: bytes, h: int = FNV_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def route_hash(section: int, path: bytes) -> int:
    """The route table's key: FNV-1a 64 of the section (2 bytes LE), then the path."""
    return fnv1a64(path, fnv1a64(struct.pack("<H", section)))


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


def hash_slots_for(n: int) -> int:
    """Table size: a power of two, at least 16, at most half full."""
    slots = 16
    while slots < 2 * n:
        slots *= 2
    return slots


def _place(taken: list[bool], h: int) -> int:
    """The slot a key of hash h lands in, by linear probing."""
    mask = len(taken) - 1
    i = h & mask
    while taken[i]:
        i = (i + 1) & mask
    taken[i] = True
    return i


def build_blob(
    mss: int,
    streams: Sequence[Stream],
    routes: Sequence[RouteKey],
    variants: Sequence[VariantRow],
    hosts: Sequence[tuple[bytes, int]],
    sections: Sequence[dict[int, int]],
) -> bytes:
    """Lay out the blob. `hosts` are (lower-case name, section); `sections[i]` maps the
    special response numbers of section i (0: the default host) to stream indexes."""
    slots = hash_slots_for(len(routes))
    host_slots = hash_slots_for(len(hosts)) if hosts else 0
    seg_counts = [nsegments(len(s.header) + len(s.body), mss) for s in streams]
    hash_off = _align(TABLE_HDR.size, STREAM_ALIGN)
    host_off = _align(hash_off + slots * SLOT.size, STREAM_ALIGN)
    section_off = _align(host_off + host_slots * HOST.size, STREAM_ALIGN)
    var_off = _align(section_off + len(sections) * SECTION.size, STREAM_ALIGN)
    resp_off = _align(var_off + len(variants) * VARIANT.size, STREAM_ALIGN)
    seg_off = _align(resp_off + len(streams) * RESP.size, STREAM_ALIGN)
    names_off = seg_off + sum(seg_counts) * SEG.size
    end = names_off + sum(len(r.path) for r in routes) + sum(len(n) for n, _ in hosts)
    stream_offs = []
    for s in streams:
        end = _align(end, STREAM_ALIGN)
        stream_offs.append(end)
        end += len(s.header) + len(s.body)
    blob = bytearray(end)
    TABLE_HDR.pack_into(
        blob,
        0,
        magic=TABLE_MAGIC,
        mss=mss,
        hash_slots=slots,
        hash_off=hash_off,
        resp_off=resp_off,
        seg_off=seg_off,
        nresp=len(streams),
        nseg=sum(seg_counts),
        var_off=var_off,
        host_off=host_off,
        section_off=section_off,
        nvar=len(variants),
        host_slots=host_slots,
        nsection=len(sections),
    )
    off = names_off
    taken = [False] * slots
    for r in routes:
        if not 0 < len(r.path) <= 0xFFFF:
            raise ValueError(f"route key of {len(r.path)} bytes does not fit the table")
        i = _place(taken, route_hash(r.section, r.path))
        SLOT.pack_into(
            blob,
            hash_off + i * SLOT.size,
            hash=route_hash(r.section, r.path),
            path_off=off,
            path_len=len(r.path),
            section=r.section,
            var_first=r.var_first,
            nvar=r.nvar,
            flags=0,
        )
        blob[off : off + len(r.path)] = r.path
        off += len(r.path)
    taken = [False] * host_slots
    for name, section in hosts:
        i = _place(taken, fnv1a64(name))
        HOST.pack_into(
            blob,
            host_off + i * HOST.size,
            hash=fnv1a64(name),
            name_off=off,
            name_len=len(name),
            section=section,
        )
        blob[off : off + len(name)] = name
        off += len(name)
    for n, specials in enumerate(sections):
        row = [specials.get(k, NONE32) for k in range(NSPECIAL)]
        SECTION.pack_into(blob, section_off + n * SECTION.size, special=row)
    for n, v in enumerate(variants):
        VARIANT.pack_into(
            blob,
            var_off + n * VARIANT.size,
            etag=v.etag,
            last_modified=v.last_modified,
            get=v.get,
            head=v.head,
            not_modified=v.not_modified,
            partial=v.partial,
            unsatisfiable=v.unsatisfiable,
            coding=v.coding,
        )
    _lay_streams(blob, mss, streams, stream_offs, seg_counts, resp_off, seg_off)
    return bytes(blob)


def _lay_streams(
    blob: bytearray,
    mss: int,
    streams: Sequence[Stream],
    offs: list[int],
    counts: list[int],
    resp_off: int,
    seg_off: int,
) -> None:
    """Each stream's bytes, its segment sums and its row of the response table."""
    view = memoryview(blob)
    seg_first = 0
    for n, (s, soff, count) in enumerate(zip(streams, offs, counts, strict=True)):
        slen = len(s.header) + len(s.body)
        blob[soff : soff + len(s.header)] = s.header
        blob[soff + len(s.header) : soff + slen] = s.body
        sums = segment_sums(view[soff : soff + slen], mss)
        assert len(sums) == count
        struct.pack_into(f"<{count}I", blob, seg_off + seg_first * SEG.size, *sums)
        body = s.body_of if s.body_of >= 0 else NONE32
        RESP.pack_into(
            blob,
            resp_off + n * RESP.size,
            stream_off=soff,
            stream_len=slen,
            hdr_len=len(s.header),
            seg_first=seg_first,
            nseg=count,
            conn_off=s.conn_off,
            status=s.status,
            flags=s.flags,
            date_off=date_offset(s.header),
            clen_off=s.clen_off,
            range_off=s.range_off,
            body=body,
        )
        seg_first += count
    view.release()


Blob = bytes | mmap.mmap | memoryview


def header_of(blob: Blob) -> dict[str, Any]:
    """The table header's fields by name (struct ssdk_table_hdr)."""
    return TABLE_HDR.unpack_from(blob, 0)


def find_host(blob: Blob, host: str | bytes | None) -> int:
    """The section a request's host picks (port and case do not matter), or 0."""
    if not host:
        return 0
    raw = host.encode("latin-1") if isinstance(host, str) else host
    name = raw.split(b"]")[0] + b"]" if raw.startswith(b"[") else raw.split(b":")[0]
    name = name.lower().removesuffix(b".")
    hdr = header_of(blob)
    host_off, host_slots = hdr["host_off"], hdr["host_slots"]
    if not host_slots or not name:
        return 0
    h = fnv1a64(name)
    i = h & (host_slots - 1)
    for _ in range(host_slots):
        slot = HOST.unpack_from(blob, host_off + i * HOST.size)
        noff, nlen = slot["name_off"], slot["name_len"]
        if nlen == 0:
            return 0
        if slot["hash"] == h and blob[noff : noff + nlen] == name:
            return int(slot["section"])
        i = (i + 1) & (host_slots - 1)
    return 0


def find_route(blob: Blob, path: bytes, section: int = 0) -> list[VariantRow] | None:
    """The variants of a route key in a section, identity first, or None."""
    hdr = header_of(blob)
    slots, hash_off, var_off = hdr["hash_slots"], hdr["hash_off"], hdr["var_off"]
    h = route_hash(section, path)
    i = h & (slots - 1)
    names = [f.name for f in VARIANT.fields if f.name in VariantRow.__dataclass_fields__]
    for _ in range(slots):
        s = SLOT.unpack_from(blob, hash_off + i * SLOT.size)
        poff, plen = s["path_off"], s["path_len"]
        if plen == 0:
            return None
        if s["hash"] == h and s["section"] == section and blob[poff : poff + plen] == path:
            rows = [
                VARIANT.unpack_from(blob, var_off + (s["var_first"] + k) * VARIANT.size)
                for k in range(s["nvar"])
            ]
            return [VariantRow(**{n: r[n] for n in names}) for r in rows]
        i = (i + 1) & (slots - 1)
    return None


def check_tables(blob: Blob, mss: int) -> None:
    """Check the blob's table header and that its sections lie inside the blob (the C
    core checks every entry again when it loads the table)."""
    if len(blob) < TABLE_HDR.size:
        raise BundleError("blob shorter than its table header")
    hdr = header_of(blob)
    magic, tmss, nsection = hdr["magic"], hdr["mss"], hdr["nsection"]
    slots, host_slots, nresp = hdr["hash_slots"], hdr["host_slots"], hdr["nresp"]
    if magic != TABLE_MAGIC:
        raise BundleError(f"bad table magic {magic!r}")
    if tmss != mss:
        raise BundleError(f"table MSS {tmss} differs from the manifest's {mss}")
    for name, n in (("route", slots), ("host", host_slots)):
        if n & (n - 1) or (name == "route" and n == 0):
            raise BundleError(f"{name} hash table size {n} is not a power of two")
    if nsection == 0:
        raise BundleError("no sections: the default host's is missing")
    for name, off, n, size in (
        ("route hash table", hdr["hash_off"], slots, SLOT.size),
        ("host hash table", hdr["host_off"], host_slots, HOST.size),
        ("section table", hdr["section_off"], nsection, SECTION.size),
        ("variant table", hdr["var_off"], hdr["nvar"], VARIANT.size),
        ("response table", hdr["resp_off"], nresp, RESP.size),
        ("segment sums", hdr["seg_off"], hdr["nseg"], SEG.size),
    ):
        if off + n * size > len(blob):
            raise BundleError(f"{name} lies outside the blob")
    for s in range(nsection):
        special = SECTION.unpack_from(blob, hdr["section_off"] + s * SECTION.size)["special"]
        if any(x != NONE32 and x >= nresp for x in special):
            raise BundleError("special response index out of range")
