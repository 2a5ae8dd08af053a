# tests/unit/test_serve_share.py: what `ssdk serve` asks of the interface sharing for
# every --ip, IPv4 and IPv6 (ssdk/serve_share.py), short of attaching anything: the XDP
# program's and the socket filter's addresses, each with its own ARP/ND flag; the
# nftables guard's addresses per backend; the solicited-node MACs let in under AF_XDP;
# the banner's lines; an IPv6-only --ip; the worker's engine configuration.
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import fake_xdp

from ssdk.cli import _serving_addresses
from ssdk.core.runtime.sockfilter import pack, share_filter_addrs
from ssdk.serve import ServeOptions, Sharing, guard_addresses, share_setup, worker_plan
from ssdk.share import solicited_macs

V4 = ipaddress.IPv4Interface("198.18.0.2/15")
V6 = ipaddress.IPv6Interface("2001:2::2/64")


def opts(backend: str = "af_packet", *addrs: Any) -> ServeOptions:
    addrs = addrs or (V4, V6)
    return ServeOptions(target="app.ssdk", backend=backend, iface="veth0", ip=addrs[0],
                        addrs=tuple(addrs) if len(addrs) > 1 else ())  # fmt: skip


def test_ipv6_alone_is_served_and_ipv4_is_named_first() -> None:
    assert _serving_addresses(["2001:2::2/64"]) == (V6, (V6,))
    assert _serving_addresses(["2001:2::2/64", "198.18.0.2/15"]) == (V4, (V6, V4))


def test_the_socket_filter_takes_every_address_with_its_own_flag() -> None:
    s = share_setup(opts(), {V6.ip: "veth0"})
    assert s.sock_filter == pack(share_filter_addrs([("198.18.0.2", True),
                                                     ("2001:2::2", False)], (80,)))  # fmt: skip
    assert s.lines(opts()) == [
        "socket filter on veth0: ssdk reads 198.18.0.2, 2001:2::2 TCP port 80, ARP and "
        "ICMP for 198.18.0.2; neighbour discovery, ping and its other ports stay the "
        "kernel's (2001:2::2 is on veth0 too)"
    ]
    alone = opts("af_packet", V6)
    assert share_setup(alone, {}).lines(alone) == [
        "socket filter on veth0: ssdk reads 2001:2::2 TCP port 80, neighbour discovery and "
        "ICMPv6 echo for it"
    ]


def test_af_xdp_attaches_every_address_and_names_the_groups(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attach = fake_xdp(monkeypatch, tmp_path, "skb", True)
    s = share_setup(opts("af_xdp"), {V4.ip: "veth0"}, attach=attach)  # type: ignore[arg-type]
    assert attach.args == ("veth0", str(tmp_path / "x.o"),
                           [("198.18.0.2", False), ("2001:2::2", True)], [80], "auto")  # fmt: skip
    s.groups = ["33:33:ff:00:00:02"]
    xdp, groups = s.lines(opts("af_xdp"))
    assert "198.18.0.2, 2001:2::2 TCP port 80, neighbour discovery and ICMPv6 echo for " \
        "2001:2::2 to ssdk" in xdp
    assert groups.startswith("veth0 lets in 33:33:ff:00:00:02 while ssdk serves")


def test_the_guard_covers_ipv6_where_the_kernel_sees_the_frames() -> None:
    held = {V4.ip: "veth0"}
    for backend in ("af_packet", "af_xdp"):
        assert guard_addresses(opts(backend), held) == [(V4.ip, True), (V6.ip, False)]
    # netmap takes the interface from the kernel; a TAP is ssdk's own device.
    assert guard_addresses(opts("netmap"), held) == [(V4.ip, True)]
    assert guard_addresses(opts("tap"), {}) == []


def test_solicited_node_macs_each_once_and_ipv4_none() -> None:
    same_low24 = ipaddress.IPv6Address("2001:2:0:1::2")
    other = ipaddress.IPv6Address("2001:2::ab:cdef")
    assert solicited_macs([V4.ip, V6.ip, same_low24, other]) == [
        "33:33:ff:00:00:02", "33:33:ff:ab:cd:ef"]  # fmt: skip


def test_an_ipv6_only_worker_gets_its_address_list() -> None:
    plan = worker_plan(opts("af_packet", V6), b"", None)
    assert plan.config.ip == "" and plan.config.addrs == ("2001:2::2/64",)
    dual = worker_plan(opts(), b"", None)
    assert dual.config.addrs == ("198.18.0.2/15", "2001:2::2/64")
    v4 = worker_plan(opts("af_packet", V4), b"", None)
    assert (v4.config.ip, v4.config.addrs) == ("198.18.0.2", ())


def test_no_sharing_says_nothing() -> None:
    assert Sharing().lines(opts("tap")) == []
