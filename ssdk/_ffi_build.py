"""Builds ssdk's C core into the extension module `ssdk._core` (cffi, API mode).

setup.py names this file in `cffi_modules`, so `pip install .` and `pip install -e .`
compile it. The sources' sha256 is compiled in; `ssdk.core.engine` compares it with the
sources next to the package at import, so a stale build fails loudly instead of running
old C against new Python.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent / "csrc"
CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing"]


def c_sources() -> list[Path]:
    """Every C file of the core, in a stable order."""
    return sorted(CSRC.glob("*.c"))


def source_hash() -> str:
    """sha256 over the names and contents of every .c and .h file of the core."""
    h = hashlib.sha256()
    for p in sorted(CSRC.glob("*.[ch]")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


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
    extra_compile_args=CFLAGS + _extra,
    extra_link_args=_extra,
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(CSRC.parent.parent / "build" / "cffi"), verbose=False)
