"""Builds ssdk's C core into the extension module `ssdk._core` (cffi, API mode).

setup.py names this file in `cffi_modules`, so `pip install .` and `pip install -e .`
compile it. The sources' sha256 is compiled in; `ssdk.core.runtime.engine` compares it with the
sources next to the package at import, so a stale build fails loudly instead of running
old C against new Python.

The core's sources are in folders, one per layer (docs/architecture.md, "Layers"); every
.c file under csrc/ is compiled, and includes are written from csrc/ ("tcp/tcp.h").

The AF_XDP backend (nic/nic_af_xdp.c, and nic/xdp_filter.c, which loads ssdk's XDP
program) is compiled only where libxdp's and libbpf's headers
are installed (libxdp-dev, libbpf-dev); elsewhere ssdk_nic_af_xdp refuses with a message.
SSDK_AF_XDP=0 in the environment builds without it even where it could be built.

The flags: csrc/cflags.txt is the one set of language and warning flags (-Wall -Wextra
-Wshadow -Wmissing-prototypes -Werror ...) that this build, fuzz/build.sh and
scripts/sanitize-stack share; this build adds -O2 and link-time optimisation, to the
compile and to the link step (extra_link_args: setuptools passes the compile flags to
the compiler only). SSDK_CFLAGS in the environment adds compiler flags (to both):
scripts/sanitize-stack passes the sanitizers and -DSSDK_DEBUG (the SSDK_ASSERTs of
csrc/base/check.h) that way. CFLAGS here, the release build's, never define SSDK_DEBUG.

The TLS layer (csrc/tls/, docs/tls.md) links GnuTLS dynamically (libgnutls28-dev: its
handshake and AEAD ciphers); its interface, tls/tls.h, is declared to cffi beside ssdk.h.
"""

from __future__ import annotations

import importlib.util
import os
import sys
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
# ...and so is ssdk/core/cdefs.py, which reads the table layouts out of table/table.h.
_spec = importlib.util.spec_from_file_location(
    "_ssdk_cdefs", Path(__file__).resolve().parent / "core" / "cdefs.py"
)
assert _spec and _spec.loader
_cdefs = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _cdefs  # its dataclasses look their module up there
_spec.loader.exec_module(_cdefs)


def shared_cflags(path: Path | None = None) -> list[str]:
    """The flags every build of the core uses (csrc/cflags.txt: language and warnings)."""
    text = (path or CSRC / "cflags.txt").read_text()
    return [w for line in text.splitlines() for w in line.split("#", 1)[0].split()]


# Link-time optimisation: the layers are files of their own, and a call from one to
# another (eth_input -> ip_input, tcp_data_in, the congestion controller, the body
# decoder, resp_payload behind the payload upcall) is inlined across them only when the
# optimiser sees the whole core at the link. The link step gets the same flags, since
# that is where the code is generated. Hidden visibility lets it treat the core's
# functions as the module's own (cffi's wrappers call them from inside the module;
# only PyInit__core, which Python marks for export, is exported), so it may inline and
# drop them instead of keeping every one as an exported symbol.
OPT = ["-O2", "-flto=auto", "-fvisibility=hidden"]
CFLAGS = [*OPT, *shared_cflags()]
LDFLAGS = [*OPT, "-Werror"]


XDP_SOURCES = ("nic/nic_af_xdp.c", "nic/xdp_filter.c")
XDP_HEADERS = ("xdp/xsk.h", "xdp/libxdp.h", "bpf/libbpf.h")
INCLUDE_DIRS = ("/usr/include", "/usr/local/include")


def have_af_xdp() -> bool:
    """Whether libxdp's and libbpf's headers are there to build the AF_XDP backend."""
    if os.environ.get("SSDK_AF_XDP", "1") == "0":
        return False
    return all(any((Path(d) / h).is_file() for d in INCLUDE_DIRS) for h in XDP_HEADERS)


def c_sources(af_xdp: bool | None = None) -> list[Path]:
    """Every C file of the core that this machine can build, in a stable order."""
    if af_xdp is None:
        af_xdp = have_af_xdp()
    return sorted(
        p for p in CSRC.rglob("*.c") if af_xdp or p.relative_to(CSRC).as_posix() not in XDP_SOURCES
    )


# The headers whose part between the CDEF markers Python may call: the public API, and the
# TLS layer's interface (tls/tls.h), which the tests in tests/tls/ drive directly.
CDEF_HEADERS = ("ssdk.h", "tls/tls.h")


def cdef_text(header: str = "ssdk.h") -> str:
    """The part of a header between the CDEF markers: all that Python may call of it."""
    text = (CSRC / header).read_text()
    start = text.index("/* CDEF BEGIN */") + len("/* CDEF BEGIN */")
    return text[start : text.index("/* CDEF END */")]


# The loop hands requests for dynamic routes to Python through this
# (ssdk/core/runtime/app_calls.py).
EXTERN_PYTHON = (
    'extern "Python" void ssdk_py_requests(void *, const struct ssdk_request *, uint32_t);'
)

ffibuilder = FFI()
for _header in CDEF_HEADERS:
    ffibuilder.cdef(cdef_text(_header))
ffibuilder.cdef(EXTERN_PYTHON)
# The bundle's table structs as ssdk.core.cdefs reads them from table/table.h: cffi checks
# this layout against the compiler's when a struct is first used (ffi.sizeof,
# ffi.offsetof), which tests/unit/test_cdefs.py does. Nothing calls C with them.
ffibuilder.cdef(_cdefs.cffi_cdef(), packed=True)
_extra = os.environ.get("SSDK_CFLAGS", "").split()
_xdp = have_af_xdp()
ffibuilder.set_source(
    "ssdk._core",
    '#include "ssdk.h"\n#include "table/table.h"\n#include "tls/tls.h"\n'
    # cffi's generated checks of the packed table structs take their members' addresses,
    # and its module init function (PyInit__core) has no prototype of ours: the
    # generated code after this is cffi's, not the core's.
    '#pragma GCC diagnostic ignored "-Waddress-of-packed-member"\n'
    '#pragma GCC diagnostic ignored "-Wmissing-prototypes"\n'
    f'const char *ssdk_src_hash(void) {{ return "{source_hash()}"; }}\n',
    sources=[str(p.relative_to(CSRC.parent.parent)) for p in c_sources(_xdp)],
    include_dirs=[str(CSRC)],
    libraries=["m", "gnutls", *(["xdp", "bpf"] if _xdp else [])],
    define_macros=[("SSDK_HAVE_AF_XDP", "1")] if _xdp else [],
    extra_compile_args=CFLAGS + _extra,
    extra_link_args=LDFLAGS + _extra,
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(CSRC.parent.parent / "build" / "cffi"), verbose=False)
