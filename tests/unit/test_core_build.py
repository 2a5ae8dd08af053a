"""The compiled C core matches its sources, and a stale build is refused with a message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ssdk import _srchash
from ssdk.core import engine


def test_compiled_core_matches_the_sources() -> None:
    built = engine.ffi.string(engine.lib.ssdk_src_hash()).decode()
    assert built == _srchash.source_hash()


def test_an_edited_source_changes_the_fingerprint(tmp_path: Path) -> None:
    copy = tmp_path / "csrc"
    shutil.copytree(_srchash.CSRC, copy)
    before = _srchash.source_hash(copy)
    (copy / "loop.c").write_text((copy / "loop.c").read_text() + "\n/* edit */\n")
    assert _srchash.source_hash(copy) != before


def test_stale_core_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "source_hash", lambda: "0" * 64)
    with pytest.raises(ImportError, match="stale.*pip install -e"):
        engine._load_core()


def test_a_refused_table_leaves_the_mapping_closable() -> None:
    """A table the C core rejects raises EngineError naming the reason, and releases the
    buffer, so the bundle's mmap can be closed at once (ssdk serve does so on errors)."""
    import mmap

    from ssdk.core.engine import Engine, EngineConfig, EngineError

    m = mmap.mmap(-1, 4096)
    m[:8] = b"NOTATBL1"
    e = Engine(EngineConfig(ip="198.18.0.2", virtual_clock=True))
    e.attach_memory(16)
    with pytest.raises(EngineError, match="bad magic"):
        e.load(m)
    m.close()
    e.close()
