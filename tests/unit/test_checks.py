# tests/unit/test_checks.py: SSDK_ASSERT (ssdk/csrc/base/check.h) is compiled into the
# sanitizer and fuzz builds and out of the release build (docs/testing.md).
from __future__ import annotations

import re
from pathlib import Path

from ssdk import _ffi_build

REPO = Path(__file__).resolve().parents[2]


def test_release_build_has_no_assertions() -> None:
    assert not any("SSDK_DEBUG" in f for f in _ffi_build.CFLAGS)


def test_sanitizer_and_fuzz_builds_have_them() -> None:
    assert "-DSSDK_DEBUG" in (REPO / "scripts" / "sanitize-stack").read_text()
    assert re.search(r"^CFLAGS=\(.*-DSSDK_DEBUG", (REPO / "fuzz" / "build.sh").read_text(), re.M)


def test_states_change_only_through_the_table() -> None:
    """tcp_state.h: a connection's state changes through conn_set_state (which asserts a
    move of the table); conn_free alone writes TCP_NONE, the slot leaving the table."""
    for c in sorted((REPO / "ssdk" / "csrc").rglob("*.c")):
        for line in c.read_text().splitlines():
            if re.search(r"\bc->state\s*=[^=]", line):
                assert c.name == "conn.c" and "TCP_NONE" in line, f"{c.name}: {line.strip()}"


def test_one_set_of_c_flags_for_every_build() -> None:
    """ssdk/csrc/cflags.txt is read by the release build (and so by the sanitizer run,
    which builds through it) and by the fuzzers' build; warnings are errors in each."""
    shared = _ffi_build.shared_cflags()
    assert {"-Wall", "-Wextra", "-Wshadow", "-Wmissing-prototypes", "-Werror"} <= set(shared)
    assert all(f in _ffi_build.CFLAGS for f in shared)
    assert "cflags.txt" in (REPO / "fuzz" / "build.sh").read_text()
    assert "_ffi_build import ffibuilder" in (REPO / "scripts" / "sanitize-stack").read_text()


def test_release_build_links_with_lto() -> None:
    """The layers are separate files: link-time optimisation inlines across them, so the
    link step gets -flto and the optimisation level, not only the compile."""
    assert any(f.startswith("-flto") for f in _ffi_build.CFLAGS)
    assert any(f.startswith("-flto") for f in _ffi_build.LDFLAGS)
    assert "-O2" in _ffi_build.LDFLAGS
