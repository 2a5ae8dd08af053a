# tests/unit/test_bundle.py: the bundle file and blob tables against docs/bundle.md.
#
# Round trip through a file, the layout decoded with struct (unit_helpers), the route
# hash table searched with FNV-1a 64 and linear probing, and every way a file can be bad.
from __future__ import annotations

import hashlib
import mmap
import struct
from pathlib import Path

import msgspec
import pytest
from unit_helpers import AppWriter, DecodedTables, decode_tables, lookup

import ssdk
from ssdk.core.buildtime.build import build, build_file, open_target
from ssdk.core.bundle import (
    Bundle,
    BundleError,
    Manifest,
    encode_bundle,
    read_bundle,
    write_bundle,
)

# docs/bundle.md: special[] index -> status
SPECIAL_STATUS = [400, 404, 404, 405, 431, 501, 505, 414, 408, 411, 413, 417, 100, 200]
KEEP_ALIVE = {404, 100, 200}  # the specials after which the connection stays open
ALLOW = b"\r\nAllow: GET, HEAD, OPTIONS\r\n"


def sample_app(n_items: int = 40) -> ssdk.App:
    app = ssdk.App()

    @app.page("/")
    def index() -> ssdk.Response:
        return ssdk.html("<h1>hello</h1>")

    @app.page("/items/{name}")
    def item(name: str) -> ssdk.Response:
        return ssdk.json({"name": name, "pad": "x" * (len(name) * 300)})

    @item.params
    def _() -> object:
        yield from ({"name": f"n{i}"} for i in range(n_items))

    @app.page("/big")
    def big() -> bytes:
        return bytes(range(256)) * 50

    @app.page("/empty")
    def empty() -> ssdk.Response:
        return ssdk.text("", headers={"X-Kind": "empty"})

    return app


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Manifest, bytes]:
    manifest, blob = build(sample_app(), mss=1448, source="sample.py")
    path = tmp_path / "app.ssdk"
    write_bundle(path, manifest, blob)
    return path, manifest, blob


def test_round_trip(built: tuple[Path, Manifest, bytes]) -> None:
    path, manifest, blob = built
    with read_bundle(path) as b:
        assert b.manifest == manifest
        assert bytes(b.blob) == blob
    assert path.read_bytes() == encode_bundle(manifest, blob)
    assert not [p for p in path.parent.iterdir() if p.name != "app.ssdk"]  # no temp left


def test_file_layout(built: tuple[Path, Manifest, bytes]) -> None:
    path, manifest, blob = built
    data = path.read_bytes()
    magic, version, reserved, mlen = struct.unpack_from("<8sIIQ", data, 0)
    assert (magic, version, reserved) == (b"SSDKBNDL", 3, 0)
    meta = msgspec.msgpack.decode(data[24 : 24 + mlen])
    assert meta["format"] == 3 and meta["mss"] == 1448 and meta["source"] == "sample.py"
    blob_off = -(-(24 + mlen) // 4096) * 4096
    assert data[24 + mlen : blob_off] == bytes(blob_off - 24 - mlen)
    assert data[blob_off:] == blob
    assert meta["blob_sha256"] == hashlib.sha256(blob).hexdigest()


def test_tables(built: tuple[Path, Manifest, bytes]) -> None:
    _, manifest, blob = built
    t = decode_tables(blob)
    assert t.mss == 1448 and t.nresp == manifest.nresp and t.nseg == manifest.nseg
    assert t.hash_slots & (t.hash_slots - 1) == 0
    used = [s for s in t.slots if s[2]]
    paths = [r.path for r in manifest.routes if r.kind != "special"]
    assert len(used) == len(paths) and 2 * len(used) <= t.hash_slots
    # Sections do not overlap and come in the documented order.
    var_off, host_off, section_off = struct.unpack_from("<QQQ", blob, 48)
    assert 128 <= t.hash_off < host_off <= section_off < var_off < t.resp_off < t.seg_off
    assert t.hash_off + 24 * t.hash_slots <= host_off
    assert section_off + 64 * len(t.sections) <= var_off
    assert var_off + 40 * len(t.variants) <= t.resp_off
    assert t.resp_off + 56 * t.nresp <= t.seg_off
    check_responses(t)


def check_responses(t: DecodedTables) -> None:
    covered = 0
    for i, r in enumerate(t.resp):
        stream = t.stream(i)
        assert r.stream_off % 64 == 0 and r.stream_off + r.stream_len <= len(t.blob)
        assert r.stream_off >= t.seg_off + 4 * t.nseg
        assert r.nseg == max(1, -(-r.stream_len // t.mss))
        assert r.seg_first == covered  # segment sums are laid out response after response
        covered += r.nseg
        header = stream[: r.hdr_len]
        assert header.startswith(f"HTTP/1.1 {r.status} ".encode())
        assert header.endswith(b"\r\nConnection: keep-alive\r\n\r\n")
        assert stream[r.conn_off : r.conn_off + 10] == b"keep-alive"
        assert r.conn_off + 10 + 4 == r.hdr_len
        assert stream[r.date_off - 8 : r.date_off] == b"\r\nDate: "
        assert stream[r.date_off : r.date_off + 29] == b"Thu, 01 Jan 1970 00:00:00 GMT"
    assert covered == t.nseg


def test_specials(built: tuple[Path, Manifest, bytes]) -> None:
    _, _, blob = built
    t = decode_tables(blob)
    assert t.special[14:] == [0xFFFFFFFF] * 2
    for sp, status in enumerate(SPECIAL_STATUS):
        r = t.resp[t.special[sp]]
        assert r.status == status
        assert r.flags == (0 if status in KEEP_ALIVE else 1)
        stream = t.stream(t.special[sp])
        assert stream.startswith(f"HTTP/1.1 {status} ".encode())
        has_page = status >= 300
        assert (b"\r\nContent-Type: text/html; charset=utf-8\r\n" in stream) == has_page
        assert (ALLOW in stream) == (status in (405, 200))
    # RFC 9110 8.6: no Content-Length in a 1xx; RFC 9110 9.3.7: 0 for OPTIONS without content
    interim, options = t.stream(t.special[12]), t.stream(t.special[13])
    assert interim == (
        b"HTTP/1.1 100 Continue\r\nServer: ssdk\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        b"Connection: keep-alive\r\n\r\n"
    )
    assert options.endswith(b"\r\nContent-Length: 0\r\nAllow: GET, HEAD, OPTIONS\r\n"
                            b"Connection: keep-alive\r\n\r\n")  # fmt: skip
    get, head = t.stream(t.special[1]), t.stream(t.special[2])
    r_head = t.resp[t.special[2]]
    assert r_head.hdr_len == r_head.stream_len and get.startswith(head) and len(get) > len(head)
    assert f"Content-Length: {len(get) - len(head)}\r\n".encode() in head


def test_hash_lookup_finds_every_path(built: tuple[Path, Manifest, bytes]) -> None:
    path, manifest, blob = built
    t = decode_tables(blob)
    bundle = read_bundle(path)
    for row in manifest.routes:
        if row.kind == "special":
            continue
        found = lookup(t, row.path.encode())
        assert found is not None, row.path
        get, head = found
        assert bundle.lookup(row.path) == get and bundle.lookup(row.path, head=True) == head
        g, h = t.stream(get), t.stream(head)
        assert g.startswith(h) and len(g) - len(h) == row.body_bytes
        assert t.resp[get].nseg == row.segments and t.resp[get].status == row.status
        assert t.resp[head].hdr_len == t.resp[get].hdr_len == len(h)
    for missing in (b"/nope", b"/items/n", b"/items/n40", b""):
        assert lookup(t, missing) is None and bundle.lookup(missing) is None
    bundle.close()


def test_hash_table_with_many_routes() -> None:
    _, blob = build(sample_app(3000), mss=536)
    t = decode_tables(blob)
    assert t.hash_slots == 8192
    for i in range(3000):
        assert lookup(t, f"/items/n{i}".encode()) is not None


def test_deterministic() -> None:
    a = build(sample_app(), source="x", build_time=1_700_000_000)
    b = build(sample_app(), source="x", build_time=1_700_000_000)
    assert a == b


def test_open_target(tmp_path: Path, write_app: AppWriter) -> None:
    app_file, _ = write_app(
        """
        import ssdk
        app = ssdk.App()
        app.page("/")(lambda: "hi")
        """
    )
    out = tmp_path / "out.ssdk"
    manifest = build_file(app_file, out)
    in_memory = open_target(app_file)
    assert isinstance(in_memory.blob, bytes) and in_memory.manifest == manifest
    app_file.write_text("raise SystemExit('must not be imported')\n")
    with open_target(out) as b:
        assert b.manifest == manifest and bytes(b.blob) == in_memory.blob
    renamed = tmp_path / "renamed.bin"
    out.rename(renamed)
    with open_target(renamed) as b:  # recognised by its magic, whatever the name
        assert b.manifest == manifest


def corrupt(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_errors(built: tuple[Path, Manifest, bytes], tmp_path: Path) -> None:
    path, _, blob = built
    good = path.read_bytes()
    blob_off = len(good) - len(blob)

    def expect(data: bytes, match: str) -> None:
        bad = tmp_path / "bad.ssdk"
        bad.write_bytes(data)
        with pytest.raises(BundleError, match=match):
            read_bundle(bad)

    expect(b"", "truncated")
    expect(good[:20], "truncated")
    expect(good[:100], "truncated")
    expect(good[: blob_off + 64], "truncated")
    expect(good[:-1], "truncated")
    expect(b"NOTABNDL" + good[8:], "not an ssdk bundle")
    expect(good[:8] + struct.pack("<I", 2) + good[12:], "format 2, this ssdk reads 3")  # older
    expect(good[:8] + struct.pack("<I", 4) + good[12:], "format 4")
    flipped = bytearray(good)
    flipped[blob_off + 5000] ^= 0x01
    expect(bytes(flipped), "sha256")
    mangled = bytearray(good)
    mangled[24:40] = b"\xc1" * 16  # 0xc1 is never valid msgpack
    expect(bytes(mangled), "manifest")
    with pytest.raises(BundleError, match="cannot open"):
        read_bundle(tmp_path / "missing.ssdk")


def test_encode_refuses_mismatched_sha(built: tuple[Path, Manifest, bytes]) -> None:
    _, manifest, blob = built
    with pytest.raises(ValueError):
        encode_bundle(manifest, blob + b"x")


def test_in_memory_bundle_close_is_harmless() -> None:
    manifest, blob = build(sample_app(1))
    b = Bundle(manifest, blob)
    b.close()
    b.close()


def test_read_on_large_allocation_granularity(
    built: tuple[Path, Manifest, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where pages are 16 or 64 KiB the blob cannot be mapped at its own offset.
    path, manifest, blob = built
    monkeypatch.setattr(mmap, "ALLOCATIONGRANULARITY", 65536)
    b = read_bundle(path)
    assert bytes(b.blob) == blob and b.lookup("/") is not None
    b.close()
