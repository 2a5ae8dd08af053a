# ssdk/core/bundle.py: the bundle file (docs/bundle.md): manifest, blob and blob tables.
#
# Owns: Manifest/RouteRow, the file's layout (header, manifest, padding, blob), encoding,
# atomic writing and mmap reading. The blob's own tables are ssdk/core/blob.py's.
# Invariants: all integers little-endian; the blob starts at a multiple of 4096 in the
# file; the same inputs give the same bytes, so the blob's sha256 names its content.
from __future__ import annotations

import hashlib
import mmap
import os
import struct
from pathlib import Path

import msgspec

from ssdk.core.blob import (
    NONE32,
    RESP,
    RESP_CLOSE,
    RESP_RANGE,
    TABLE_HDR,
    BundleError,
    RouteKey,
    Stream,
    VariantRow,
    build_blob,
    check_tables,
    find_host,
    find_route,
    header_of,
)

__all__ = [
    "FORMAT",
    "MAGIC",
    "NONE32",
    "RESP_CLOSE",
    "RESP_RANGE",
    "Bundle",
    "BundleError",
    "Manifest",
    "RouteKey",
    "RouteRow",
    "Stream",
    "VariantRow",
    "build_blob",
    "check_tables",
    "read_bundle",
    "write_bundle",
]

MAGIC = b"SSDKBNDL"
# 3: variants (codings, 304, 206, 416), virtual hosts and a section of special responses
#    per host; 2: special responses 9-13 (411, 413, 417, 100 Continue, OPTIONS)
FORMAT = 3
PAGE = 4096
FILE_HDR = struct.Struct("<8sIIQ")  # magic, version, reserved, manifest length


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


class RouteRow(msgspec.Struct):
    path: str  # the route key as on the wire (percent-encoded); <name> for specials
    status: int
    content_type: str
    body_bytes: int
    segments: int  # of the GET stream
    kind: str  # "static" | "page" | "special" | "redirect"
    origin: str = ""  # file:line of the declaration, or the static file's path
    host: str = ""  # the virtual host's first name; "" for the default host
    codings: str = ""  # content codings stored besides identity, e.g. "gzip br"


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
    built_at: int = 0  # the Last-Modified of pages (seconds since 1970)


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

    def lookup(
        self, path: str | bytes, head: bool = False, host: str | bytes | None = None
    ) -> int | None:
        """The response index the server picks for a plain GET (or HEAD) of a path, on
        a host (None: the default one), or None where it answers 404."""
        variants = self.variants(path, host)
        if variants is None:
            return None
        return variants[0].head if head else variants[0].get

    def variants(
        self, path: str | bytes, host: str | bytes | None = None
    ) -> list[VariantRow] | None:
        """Every variant of a route (identity first), or None."""
        key = path.encode() if isinstance(path, str) else path
        return find_route(self.blob, key, find_host(self.blob, host))

    def stream(self, index: int) -> bytes:
        """The bytes a response's template holds (header block and body)."""
        resp_off = header_of(self.blob)["resp_off"]
        r = RESP.unpack_from(self.blob, resp_off + index * RESP.size)
        off, length = r["stream_off"], r["stream_len"]
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
