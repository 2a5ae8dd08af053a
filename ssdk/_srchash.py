"""The fingerprint of the C core's sources, shared by the build and the import check."""

from __future__ import annotations

import hashlib
from pathlib import Path

CSRC = Path(__file__).resolve().parent / "csrc"


def source_hash(csrc: Path = CSRC) -> str:
    """sha256 over the paths (from csrc/) and contents of every .c and .h file of the core,
    in every folder, and of its flags (cflags.txt)."""
    h = hashlib.sha256()
    files = [*csrc.rglob("*.[ch]"), *csrc.glob("cflags.txt")]
    for p in sorted(files):
        h.update(p.relative_to(csrc).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()
