"""What the C core and Python share, read from the C headers: one source for both.

blob.py, http.py, buildtime/variants.py, buildtime/build.py, runtime/app_calls.py
    -> this module -> ssdk/csrc/table/table.h, ssdk/csrc/http/http_grammar.h

The C headers are the source of the bundle's table layouts (struct ssdk_table_hdr and the
rows that follow it, ssdk/csrc/table/table.h), the special response indices (enum
special_resp), the content codings (enum coding), the response flags, the limits of the
template MSS and its default, and the characters a route key keeps unescaped
(ROUTE_KEY_SAFE, http/http_grammar.h). They are what the engine is compiled from and reads
the blob with, so Python follows them rather than the reverse: a header edit cannot
leave a stale Python copy behind, and there is no generated file to forget.

The headers are parsed at import, in pure Python (no compiled module: the fuzzers'
table build runs ssdk's build without the C extension), which takes well under a
millisecond. The parser knows only what these headers use: `#define NAME literal`
(an integer or a string), `enum name { A = 0, B, ... };` and `struct name { ... }
__attribute__((packed));` whose fields are fixed-width integers, one per line or
several after one type, or arrays of them with a literal or enum bound. Anything else
in a struct is an error here, not a silent misreading.

What checks the two sides: C pins every struct's size with _Static_assert (table.h);
tests/unit/test_cdefs.py compares these layouts with cffi's reading of the same text and,
where ssdk._core is built, with the compiler's (ffi.sizeof and ffi.offsetof: _ffi_build.py
declares the table structs to cffi for that), and checks the Python tables that remain
written out (the special responses' pages, the codings' names) against the enums.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CSRC = Path(__file__).resolve().parent.parent / "csrc"
HEADERS = ("table/table.h", "http/http_grammar.h")

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DEFINE = re.compile(r'^#define\s+(\w+)\s+("(?:[^"\\]|\\.)*"|0x[0-9a-fA-F]+u?|\d+u?)\s*$', re.M)
_ENUM = re.compile(r"\benum\s+(\w+)\s*\{([^}]*)\}\s*;")
_STRUCT = re.compile(r"\bstruct\s+(\w+)\s*\{([^}]*)\}\s*__attribute__\(\(packed\)\)\s*;")
_FIELD = re.compile(r"^(u?int(?:8|16|32|64)_t|char)\s+(.+)$")
_NAME = re.compile(r"^(\w+)(?:\[(\w+)\])?$")
_CODES = {
    "uint8_t": "B",
    "uint16_t": "H",
    "uint32_t": "I",
    "uint64_t": "Q",
    "int8_t": "b",
    "int16_t": "h",
    "int32_t": "i",
    "int64_t": "q",
    "char": "c",
}


@dataclass(frozen=True)
class Field:
    """One member of a packed C struct: its name, struct code, count (0: not an array)
    and byte offset."""

    name: str
    ctype: str
    code: str
    count: int
    offset: int

    @property
    def is_bytes(self) -> bool:
        """An array of bytes (char or uint8_t), packed from and read as bytes."""
        return self.count > 0 and self.code in "Bc"


class CStruct:
    """A packed little-endian C struct as Python packs it: by field name, so an order or
    a field that differs from the header is an error rather than a shifted value."""

    def __init__(self, name: str, fields: Sequence[Field]) -> None:
        self.name = name
        self.fields = tuple(fields)
        fmt = "<" + "".join(
            (f"{f.count}s" if f.is_bytes else f.code * f.count) if f.count else f.code
            for f in self.fields
        )
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size
        self.names = tuple(f.name for f in self.fields)

    def __repr__(self) -> str:
        return f"CStruct({self.name!r}, {self.size} bytes)"

    def values(self, **values: Any) -> list[Any]:
        """The flat argument list of struct.pack for these fields; a field named
        `reserved` may be left out (zeros)."""
        extra = set(values) - set(self.names)
        if extra:
            raise TypeError(f"struct {self.name} has no field {sorted(extra)[0]}")
        out: list[Any] = []
        for f in self.fields:
            if f.name not in values:
                if f.name != "reserved":
                    raise TypeError(f"struct {self.name}: field {f.name} not given")
                out.extend([bytes(f.count)] if f.is_bytes else [0] * max(f.count, 1))
            elif f.count and not f.is_bytes:
                seq = list(values[f.name])
                if len(seq) != f.count:
                    raise ValueError(f"struct {self.name}: {f.name} takes {f.count} values")
                out.extend(seq)
            else:
                out.append(values[f.name])
        return out

    def pack_into(self, buf: Any, offset: int, **values: Any) -> None:
        self.struct.pack_into(buf, offset, *self.values(**values))

    def pack(self, **values: Any) -> bytes:
        return self.struct.pack(*self.values(**values))

    def unpack_from(self, buf: Any, offset: int = 0) -> dict[str, Any]:
        """Every field by name (an array of integers as a tuple)."""
        flat = self.struct.unpack_from(buf, offset)
        out: dict[str, Any] = {}
        i = 0
        for f in self.fields:
            if f.count and not f.is_bytes:
                out[f.name] = flat[i : i + f.count]
                i += f.count
            else:
                out[f.name] = flat[i]
                i += 1
        return out


def _int(text: str) -> int:
    return int(text.rstrip("uU"), 0)


def parse_header(
    text: str,
) -> tuple[dict[str, int | str], dict[str, dict[str, int]], dict[str, CStruct]]:
    """The literal #defines, the enums and the packed structs of a header's text."""
    text = _COMMENT.sub(" ", text)
    defines: dict[str, int | str] = {}
    for name, value in _DEFINE.findall(text):
        if value.startswith('"'):
            defines[name] = value[1:-1].encode().decode("unicode_escape")
        else:
            defines[name] = _int(value)
    enums: dict[str, dict[str, int]] = {}
    consts: dict[str, int] = {k: v for k, v in defines.items() if isinstance(v, int)}
    for ename, body in _ENUM.findall(text):
        values: dict[str, int] = {}
        nxt = 0
        for item in filter(None, (s.strip() for s in body.split(","))):
            name, _, value = (s.strip() for s in item.partition("="))
            nxt = (consts[value] if value in consts else _int(value)) if value else nxt
            values[name] = nxt
            consts[name] = nxt
            nxt += 1
        enums[ename] = values
    structs = {name: _struct(name, body, consts) for name, body in _STRUCT.findall(text)}
    return defines, enums, structs


def _struct(name: str, body: str, consts: Mapping[str, int]) -> CStruct:
    fields: list[Field] = []
    offset = 0
    for decl in filter(None, (s.strip() for s in body.split(";"))):
        m = _FIELD.match(" ".join(decl.split()))
        if not m:
            raise ValueError(f"struct {name}: cannot read the field {decl!r}")
        code = _CODES[m.group(1)]
        for item in m.group(2).split(","):
            nm = _NAME.match(item.strip())
            if not nm:
                raise ValueError(f"struct {name}: cannot read the field {item.strip()!r}")
            bound = nm.group(2)
            count = 0 if bound is None else consts[bound] if bound in consts else _int(bound)
            fields.append(Field(nm.group(1), m.group(1), code, count, offset))
            offset += struct.calcsize("<" + code) * max(count, 1)
    return CStruct(name, fields)


def cffi_cdef(names: Sequence[str] | None = None) -> str:
    """The packed structs as plain C declarations, for cffi's cdef(..., packed=True):
    _ffi_build.py declares them to the compiled module, whose layout cffi then checks
    against the compiler's."""
    out = []
    for s in (STRUCTS[n] for n in names) if names else STRUCTS.values():
        body = "".join(
            f"    {f.ctype} {f.name}{f'[{f.count}]' if f.count else ''};\n" for f in s.fields
        )
        out.append(f"struct {s.name} {{\n{body}}};\n")
    return "".join(out)


def _load() -> tuple[dict[str, int | str], dict[str, dict[str, int]], dict[str, CStruct]]:
    defines: dict[str, int | str] = {}
    enums: dict[str, dict[str, int]] = {}
    structs: dict[str, CStruct] = {}
    for h in HEADERS:
        d, e, s = parse_header((CSRC / h).read_text())
        defines.update(d)
        enums.update(e)
        structs.update(s)
    return defines, enums, structs


DEFINES, ENUMS, STRUCTS = _load()


def _define_int(name: str) -> int:
    value = DEFINES[name]
    assert isinstance(value, int), name
    return value


def _define_str(name: str) -> str:
    value = DEFINES[name]
    assert isinstance(value, str), name
    return value


# The bundle's tables (table.h, docs/bundle.md "The blob").
TABLE_MAGIC: bytes = _define_str("TABLE_MAGIC").encode()
TABLE_HDR = STRUCTS["ssdk_table_hdr"]
ROUTE_SLOT = STRUCTS["ssdk_route_slot"]
VARIANT = STRUCTS["ssdk_variant"]
HOST_SLOT = STRUCTS["ssdk_host_slot"]
SECTION = STRUCTS["ssdk_section"]
RESP = STRUCTS["ssdk_resp"]
RESP_CLOSE = _define_int("RESP_CLOSE")
RESP_RANGE = _define_int("RESP_RANGE")
CONN_TOKEN_LEN = _define_int("CONN_TOKEN_LEN")
DATE_LEN = _define_int("DATE_LEN")
CLEN_SLOT = _define_int("CLEN_SLOT")
SPECIAL: dict[str, int] = ENUMS["special_resp"]  # SP_400 ... SP_USED, SP_COUNT
CODING: dict[str, int] = ENUMS["coding"]  # CODING_IDENTITY ... CODING_N

# The template MSS: what table_open accepts, and what a build uses unless told.
MSS_MIN = _define_int("TABLE_MSS_MIN")
MSS_MAX = _define_int("TABLE_MSS_MAX")
DEFAULT_MSS = _define_int("TABLE_MSS_DEFAULT")

# What a route key keeps unescaped besides letters and digits (urllib.parse.quote's
# `safe`); the parser's B_KEY set is the same (checked by SSDK_ASSERT in debug builds).
ROUTE_KEY_SAFE = _define_str("ROUTE_KEY_SAFE")
