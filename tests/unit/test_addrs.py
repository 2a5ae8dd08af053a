# tests/unit/test_addrs.py: the stack's address list (docs/ipv6.md): what --ip and
# EngineConfig.addrs accept, how they fill ssdk_config.addrs, and what the C core itself
# refuses when handed a list Python did not check.
from __future__ import annotations

import ipaddress

import pytest

from ssdk.core.addrs import ADDRS_MAX, check_addresses, parse_address
from ssdk.core.runtime.engine import Engine, EngineConfig, ffi, lib


@pytest.mark.parametrize(
    ("text", "version", "prefix"),
    [("198.18.0.2/15", 4, 15), ("198.18.0.2", 4, 32), ("2001:2::2/64", 6, 64),
     ("fe80::1", 6, 128)],
)  # fmt: skip
def test_addresses_of_either_version_are_taken(text: str, version: int, prefix: int) -> None:
    a = parse_address(text)
    assert (a.version, a.network.prefixlen) == (version, prefix)


@pytest.mark.parametrize(
    "text", ["198.18.0", "ff02::1", "::", "::1", "::ffff:198.18.0.2", "2001:2::2/129", "x"]
)
def test_addresses_that_cannot_be_ours_are_refused(text: str) -> None:
    """RFC 4291: a group, the unspecified and loopback addresses, and IPv4 written
    inside IPv6 (one address family per entry) are no address of ours."""
    with pytest.raises(ValueError):
        parse_address(text)


def test_the_list_is_bounded_and_has_no_repeats() -> None:
    many = [ipaddress.ip_interface(f"2001:2::{i + 1}/64") for i in range(ADDRS_MAX + 1)]
    with pytest.raises(ValueError, match="between 1 and"):
        check_addresses(many)
    with pytest.raises(ValueError, match="twice"):
        check_addresses([parse_address("198.18.0.2/15"), parse_address("198.18.0.2/24")])


def test_config_holds_the_list_in_network_order() -> None:
    """ssdk_config.addrs: 16 bytes in network order (IPv4 in the last 4), the prefix,
    the version; ip is the first IPv4 address, for what reads it alone."""
    cfg = EngineConfig(addrs=("2001:2::2/64", "198.18.0.2/15")).to_c()
    assert cfg.naddrs == 2
    assert bytes(cfg.addrs[0].addr) == ipaddress.IPv6Address("2001:2::2").packed
    assert (cfg.addrs[0].prefix, cfg.addrs[0].v6) == (64, 1)
    assert bytes(cfg.addrs[1].addr)[12:] == bytes([198, 18, 0, 2])
    assert (cfg.addrs[1].prefix, cfg.addrs[1].v6) == (15, 0)
    assert cfg.ip == int(ipaddress.IPv4Address("198.18.0.2"))


def test_ipv4_alone_leaves_the_list_empty() -> None:
    """Without addrs, the configuration is what it always was: ip, and no list."""
    cfg = EngineConfig(ip="198.18.0.2").to_c()
    assert (cfg.naddrs, cfg.ip) == (0, int(ipaddress.IPv4Address("198.18.0.2")))


@pytest.mark.parametrize(
    ("addr", "v6", "prefix", "needle"),
    [(bytes([0xFF, 2]) + bytes(13) + b"\x01", 1, 64, "multicast"),
     (bytes(15) + b"\x01", 1, 128, "loopback"),
     (ipaddress.IPv6Address("2001:2::2").packed, 1, 130, "prefix"),
     (bytes(12) + bytes([198, 18, 0, 2]), 0, 33, "prefix")],
)  # fmt: skip
def test_the_core_refuses_a_bad_list(addr: bytes, v6: int, prefix: int, needle: str) -> None:
    """ssdk_engine_new checks the list itself (a caller other than this package)."""
    cfg = EngineConfig(ip="198.18.0.2").to_c()
    cfg.addrs[0].addr = list(addr)
    cfg.addrs[0].v6, cfg.addrs[0].prefix = v6, prefix
    cfg.naddrs = 1
    out = ffi.new("struct ssdk_engine **")
    err = ffi.new("char[256]")
    assert lib.ssdk_engine_new(cfg, out, err, 256) == -1
    assert needle in ffi.string(err).decode()


def test_the_core_refuses_a_repeated_address() -> None:
    cfg = EngineConfig(ip="198.18.0.2").to_c()
    for i in range(2):
        cfg.addrs[i].addr = list(ipaddress.IPv6Address("2001:2::2").packed)
        cfg.addrs[i].v6, cfg.addrs[i].prefix = 1, 64
    cfg.naddrs = 2
    out = ffi.new("struct ssdk_engine **")
    err = ffi.new("char[256]")
    assert lib.ssdk_engine_new(cfg, out, err, 256) == -1
    assert "twice" in ffi.string(err).decode()


def test_an_engine_starts_with_both_versions() -> None:
    Engine(EngineConfig(addrs=("198.18.0.2/15", "2001:2::2/64"), virtual_clock=True)).close()
    with pytest.raises(ValueError, match="twice"):
        Engine(EngineConfig(addrs=("198.18.0.2/15",) * 2))
