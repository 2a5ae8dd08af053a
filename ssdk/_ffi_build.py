"""Builds ssdk's C core into the extension module `ssdk._core` (cffi, API mode).

setup.py names this file in `cffi_modules`, so `pip install .` and `pip install -e .`
compile it. The sources' sha256 is compiled in; `ssdk.core.engine` compares it with the
sources next to the package at import, so a stale build fails loudly instead of running
old C against new Python.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from cffi import FFI

# setup.py loads this file by path, before the package is importable: so is _srchash.
_spec = importlib.util.spec_from_file_location(
    "_ssdk_srchash", Path(__file__).resolve().parent / "_srchash.py"
)
assert _spec and _spec.loader
_srchash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_srchash)
CSRC: Path = _srchash.CSRC
source_hash = _srchash.source_hash

CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"]


def c_sources() -> list[Path]:
    """Every C file of the core, in a stable order."""
    return sorted(CSRC.glob("*.c"))


def cdef_text() -> str:
    """The part of ssdk.h between the CDEF markers: all that Python may call."""
    text = (CSRC / "ssdk.h").read_text()
    start = text.index("/* CDEF BEGIN */") + len("/* CDEF BEGIN */")
    return text[start : text.index("/* CDEF END */")]


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
_extra = os.environ.get("SSDK_CFLAGS", "").split()
ffibuilder.set_source(
    "ssdk._core",
    '#include "ssdk.h"\n'
    f'const char *ssdk_src_hash(void) {{ return "{source_hash()}"; }}\n',
    sources=[str(p.relative_to(CSRC.parent.parent)) for p in c_sources()],
    include_dirs=[str(CSRC)],
    libraries=["m"],
    extra_compile_args=CFLAGS + _extra,
    extra_link_args=_extra,
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(CSRC.parent.parent / "build" / "cffi"), verbose=False)
