"""The compiled C core matches its sources, and a stale build is refused with a message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ssdk import _srchash
from ssdk.core.runtime import engine


def test_compiled_core_matches_the_sources() -> None:
    built = engine.ffi.string(engine.lib.ssdk_src_hash()).decode()
    assert built == _srchash.source_hash()


def test_an_edited_source_changes_the_fingerprint(tmp_path: Path) -> None:
    copy = tmp_path / "csrc"
    shutil.copytree(_srchash.CSRC, copy)
    before = _srchash.source_hash(copy)
    for name in ("serve/loop.c", "base/check.h"):  # a file in any folder counts
        f = copy / name
        saved = f.read_text()
        f.write_text(saved + "\n/* edit */\n")
        assert _srchash.source_hash(copy) != before
        f.write_text(saved)
    assert _srchash.source_hash(copy) == before


def test_stale_core_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "source_hash", lambda: "0" * 64)
    with pytest.raises(ImportError, match="stale.*pip install -e"):
        engine._load_core()


def test_a_refused_table_leaves_the_mapping_closable() -> None:
    """A table the C core rejects raises EngineError naming the reason, and releases the
    buffer, so the bundle's mmap can be closed at once (ssdk serve does so on errors)."""
    import mmap

    from ssdk.core.runtime.engine import Engine, EngineConfig, EngineError

    m = mmap.mmap(-1, 4096)
    m[:8] = b"NOTATBL1"
    e = Engine(EngineConfig(ip="198.18.0.2", virtual_clock=True))
    e.attach_memory(16)
    with pytest.raises(EngineError, match="bad magic"):
        e.load(m)
    m.close()
    e.close()


def _refused(blob: bytes, match: str) -> None:
    from ssdk.core.runtime.engine import Engine, EngineConfig, EngineError

    e = Engine(EngineConfig(ip="198.18.0.2", virtual_clock=True))
    e.attach_memory(16)
    try:
        with pytest.raises(EngineError, match=match):
            e.load(blob)
    finally:
        e.close()


def test_the_c_core_checks_variants_hosts_and_sections() -> None:
    """The C core checks every index of a format 3 table before it serves one: a
    variant whose GET is a 206 template (which would be sent without a part), whose 206
    template takes parts of another response, or whose coding is unknown; a route whose
    first variant is not the identity one; a host naming a section that is not there; a
    section lacking a special response. Offsets are read from the blob as docs/bundle.md
    lays them out."""
    import struct

    import ssdk
    from ssdk.core.buildtime.build import build

    app = ssdk.App()
    app.page("/")(lambda: "<p>" + "text " * 200 + "</p>")
    app.host("a.example").page("/")(lambda: "a")
    blob = build(app, build_time=1)[1]
    var_off, host_off, section_off = struct.unpack_from("<QQQ", blob, 48)
    nvar, host_slots, nsection = struct.unpack_from("<III", blob, 72)
    hash_slots, hash_off = struct.unpack_from("<IQ", blob, 12)
    variants = [struct.unpack_from("<QqIIIIIB", blob, var_off + 40 * i) for i in range(nvar)]

    def patched(off: int, fmt: str, *values: int) -> bytes:
        out = bytearray(blob)
        struct.pack_into(fmt, out, off, *values)
        return bytes(out)

    partial = variants[0][5]  # fields: etag, last_modified, get, head, 304, 206, 416, coding
    _refused(patched(var_off + 16, "<I", partial), "variant 0: a response index")
    _refused(patched(var_off + 28, "<I", variants[1][5]), "does not send parts of its GET")
    _refused(patched(var_off + 36, "<B", 7), "coding out of range")
    slot = next(i for i in range(hash_slots)
                if struct.unpack_from("<QIHHIHH", blob, hash_off + 24 * i)[2])  # fmt: skip
    first = struct.unpack_from("<I", blob, hash_off + 24 * slot + 16)[0]
    coded = next(i for i, v in enumerate(variants) if v[7] != 0)
    assert variants[first][7] == 0
    _refused(patched(hash_off + 24 * slot + 16, "<I", coded), "not identity first")
    host = next(i for i in range(host_slots)
                if struct.unpack_from("<QIHH", blob, host_off + 16 * i)[2])  # fmt: skip
    _refused(patched(host_off + 16 * host + 14, "<H", nsection), "host slot")
    _refused(patched(section_off + 64 + 4 * 3, "<I", 0xFFFFFFFF), "section 1 lacks")
    _refused(patched(section_off + 4, "<I", partial), "section 0: special response 1")
