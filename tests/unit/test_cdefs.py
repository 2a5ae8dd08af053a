# tests/unit/test_cdefs.py: what Python takes from the C headers (ssdk/core/cdefs.py) is
# what the C side declares. Nothing is compiled here: the layouts are compared with the
# sizes table.h pins with _Static_assert, with cffi's own reading of the header text, and
# (when ssdk._core is built) with the compiler's, through ffi.sizeof and ffi.offsetof;
# the Python tables still written out by hand are checked against the C enums and files.
from __future__ import annotations

import re
import struct
from urllib.parse import quote

import pytest
from cffi import FFI

import ssdk
from ssdk.core import cdefs
from ssdk.core.buildtime.build import KEY_SAFE, MSS_RANGE, build
from ssdk.core.buildtime.variants import CODINGS
from ssdk.core.http import CONN_VALUE, DATE_PLACEHOLDER, SPECIALS

CSRC = cdefs.CSRC
TABLE_H = (CSRC / "table" / "table.h").read_text()


def c_defines(name: str) -> dict[str, str]:
    """The #defines of a header, as text."""
    text = (CSRC / name).read_text()
    return dict(re.findall(r"^#define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", text, re.M))


def static_sizes() -> dict[str, int]:
    """struct name -> the size table.h pins with _Static_assert."""
    pairs = re.findall(r"_Static_assert\(sizeof\(struct (\w+)\) == (\d+)", TABLE_H)
    return {name: int(n) for name, n in pairs}


def abi_ffi() -> FFI:
    """cffi's reading of table.h's enums and packed structs, independent of cdefs'
    parser (ABI mode: computed by cffi, nothing compiled)."""
    text = re.sub(r"/\*.*?\*/", " ", TABLE_H, flags=re.S)
    enums = re.findall(r"\benum\s+\w+\s*\{[^}]*\}\s*;", text)
    structs = re.findall(r"\bstruct\s+\w+\s*\{[^}]*\}\s*__attribute__\(\(packed\)\)\s*;", text)
    ffi = FFI()
    ffi.cdef("\n".join(enums + [s.replace("__attribute__((packed))", "") for s in structs]),
             packed=True)  # fmt: skip
    return ffi


def test_every_packed_struct_is_read() -> None:
    declared = set(re.findall(r"\bstruct (\w+) \{[^}]*\} __attribute__\(\(packed\)\);", TABLE_H))
    assert declared == set(cdefs.STRUCTS) == set(static_sizes())


@pytest.mark.parametrize("name", sorted(cdefs.STRUCTS))
def test_layout_matches_static_assert_and_cffi(name: str) -> None:
    s = cdefs.STRUCTS[name]
    assert s.size == static_sizes()[name]
    ffi = abi_ffi()
    assert ffi.sizeof(f"struct {name}") == s.size
    fields = dict(ffi.typeof(f"struct {name}").fields)
    assert list(fields) == list(s.names)
    for f in s.fields:
        assert fields[f.name].offset == f.offset, f.name
        assert ffi.sizeof(fields[f.name].type) == struct_size(f), f.name


def struct_size(f: cdefs.Field) -> int:
    return struct.calcsize("<" + f.code) * max(f.count, 1)


@pytest.mark.parametrize("name", sorted(cdefs.STRUCTS))
def test_layout_matches_the_compiler(name: str) -> None:
    """The compiled module declares the same structs (_ffi_build.py); cffi checks them
    against the C compiler's layout on first use, and reports the compiler's."""
    core = pytest.importorskip("ssdk._core")
    s = cdefs.STRUCTS[name]
    assert core.ffi.sizeof(f"struct {name}") == s.size
    for f in s.fields:
        assert core.ffi.offsetof(f"struct {name}", f.name) == f.offset, f.name


def test_the_pack_order_is_the_headers() -> None:
    hdr = cdefs.TABLE_HDR
    assert hdr.struct.format == "<8sIIQQQIIQQQIII44s"  # docs/bundle.md, format 3
    with pytest.raises(TypeError, match="field mss not given"):
        hdr.pack(magic=b"x")
    with pytest.raises(TypeError, match="has no field nope"):
        cdefs.HOST_SLOT.pack(hash=1, name_off=2, name_len=3, section=4, nope=5)
    row = cdefs.RESP.pack(stream_off=1, stream_len=2, hdr_len=3, seg_first=4, nseg=5,
                          conn_off=6, status=200, flags=7, date_off=8, clen_off=9,
                          range_off=10, body=11)  # fmt: skip
    assert cdefs.RESP.unpack_from(row)["date_off"] == 8 and row[36:40] == (8).to_bytes(4, "little")


def test_special_responses_fill_the_enum() -> None:
    sp = cdefs.SPECIAL
    used = {v for k, v in sp.items() if k not in ("SP_USED", "SP_COUNT")}
    assert sorted(SPECIALS) == sorted(used) == list(range(sp["SP_USED"]))
    assert sp["SP_COUNT"] == cdefs.SECTION.fields[0].count
    for name, index in sp.items():
        if name in ("SP_USED", "SP_COUNT", "SP_CONTINUE", "SP_OPTIONS"):
            continue
        status = int(name.split("_")[1])
        assert SPECIALS[index].status == status, name


def test_codings_follow_the_enum() -> None:
    assert {f"CODING_{c.upper()}": i for i, c in enumerate(CODINGS)} == {
        k: v for k, v in cdefs.CODING.items() if k != "CODING_N"
    }
    assert cdefs.CODING["CODING_N"] == len(CODINGS)


def test_slots_and_placeholders() -> None:
    assert len(CONN_VALUE) == cdefs.CONN_TOKEN_LEN
    assert len(DATE_PLACEHOLDER) == cdefs.DATE_LEN
    table_c = (CSRC / "table" / "table.c").read_text()
    assert f'date_placeholder[DATE_LEN] = "{DATE_PLACEHOLDER}";' in table_c
    assert (cdefs.RESP_CLOSE, cdefs.RESP_RANGE) == (1, 2)  # docs/bundle.md
    assert cdefs.TABLE_MAGIC == b"SSDKTBL3"  # format 3: a new layout is a new magic


def test_mss_limits() -> None:
    frame_max = int(c_defines("nic/nic.h")["NIC_FRAME_MAX"])
    proto = c_defines("base/proto.h")
    assert proto["HDRS_LEN"] == "(ETH_HLEN_ + 20 + 20)"
    hdrs_len = int(proto["ETH_HLEN_"]) + 20 + 20
    assert MSS_RANGE == (cdefs.MSS_MIN, cdefs.MSS_MAX) == (64, frame_max - hdrs_len)
    assert cdefs.MSS_MIN <= cdefs.DEFAULT_MSS <= cdefs.MSS_MAX
    # TCP knows no table (tcp/ is below table/): the engine gives it the default as its
    # segment limit until a table gives its own.
    assert "e->tcp.mss_max = TABLE_MSS_DEFAULT;" in (CSRC / "serve" / "loop.c").read_text()
    manifest, _ = build(_app())
    assert manifest.mss == cdefs.DEFAULT_MSS


def test_route_key_safe_set() -> None:
    assert KEY_SAFE == cdefs.ROUTE_KEY_SAFE
    kept = {chr(c) for c in range(128) if quote(chr(c), safe=KEY_SAFE) == chr(c)}
    letters = {chr(c) for c in range(128) if chr(c).isascii() and chr(c).isalnum()}
    # RFC 3986: unreserved, sub-delims, "/", ":" and "@" (KEYSAFE in http_parse.c)
    assert kept == letters | set("-._~") | set("!$&'()*+,;=") | set("/:@")


def test_dynamic_route_keys_use_the_same_set() -> None:
    app_calls = pytest.importorskip("ssdk.core.runtime.app_calls")  # needs the compiled core
    assert app_calls.KEY_SAFE == cdefs.ROUTE_KEY_SAFE


def test_counter_gauges_are_counters() -> None:
    counters = pytest.importorskip("ssdk.core.runtime.counters")
    ssdk_h = (CSRC / "ssdk.h").read_text()

    def gauges(struct_name: str) -> set[str]:
        body = re.search(rf"struct {struct_name} \{{(.*?)\}};", ssdk_h, re.S)
        assert body, struct_name
        return set(re.findall(r"uint64_t (\w+);\s*/\* gauge", body.group(1)))

    marked = gauges("ssdk_stats") | {
        f"impair_{d}_{k}" for d in ("rx", "tx") for k in gauges("ssdk_impair_stats")
    }
    assert len(marked) >= 5 and marked <= counters.GAUGES <= set(counters.FIELDS)


def _app() -> ssdk.App:
    app = ssdk.App()
    app.page("/")(lambda: ssdk.text("hi"))
    return app
