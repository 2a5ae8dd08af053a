"""The stack's addresses as the command line and the engine take them: IPv4 and IPv6,
each with its prefix (docs/ipv6.md).

Kept apart from ssdk.core.runtime.engine so that the CLI can check ``--ip`` without
loading the C core.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from ssdk.core.cdefs import DEFAULT_MSS

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

ADDRS_MAX = 8  # ssdk_config.addrs (ssdk/csrc/ssdk.h)
IPV6_EXTRA = 20  # an IPv6 header is 40 bytes, IPv4's 20 (RFC 8200 3, RFC 791)
# Templates are cut at this MSS by default when an IPv6 address is served: an IPv6
# segment with timestamps then fills a 1500-byte MTU as IPv4's DEFAULT_MSS does, and
# both versions keep the precomputed sums (docs/ipv6.md, "MSS").
IPV6_DEFAULT_MSS = DEFAULT_MSS - IPV6_EXTRA


def parse_address(text: str) -> Interface:
    """'198.18.0.2/15' or '2001:2::2/64' (the prefix may be left out) -> an interface;
    ValueError for anything else, and for IPv6 addresses that cannot be ours:
    multicast, ::, ::1, and IPv4 written inside IPv6 (::ffff:a.b.c.d)."""
    iface = ipaddress.ip_interface(text.strip())
    if isinstance(iface, ipaddress.IPv6Interface):
        a = iface.ip
        if a.is_multicast or a.is_unspecified or a.is_loopback or a.ipv4_mapped is not None:
            raise ValueError(f"{text!r} cannot be ours: multicast, ::, ::1 or IPv4 inside IPv6")
    return iface


def check_addresses(addrs: Sequence[Interface]) -> None:
    """ValueError unless there are 1 to ADDRS_MAX addresses, each given once."""
    if not 1 <= len(addrs) <= ADDRS_MAX:
        raise ValueError(f"between 1 and {ADDRS_MAX} addresses, not {len(addrs)}")
    if len({a.ip for a in addrs}) != len(addrs):
        raise ValueError("an address is given twice")


def has_ipv6(addrs: Sequence[Interface]) -> bool:
    return any(a.version == 6 for a in addrs)
