# tests/unit/test_share.py: what ssdk serve does to share the interface with the kernel,
# short of attaching anything (tests/net/test_net_share.py does that): the XDP program
# compiles with clang into the cache, and once there is reused; a missing clang is one
# line; the nftables tables' scripts (IPv4 and IPv6) and their name; stale tables are
# found by their pid; the banner's lines for each backend.
from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest
from unit_helpers import fake_xdp

from ssdk import share
from ssdk.serve import ServeOptions, Sharing, share_setup
from ssdk.share import KernelGuard, ShareError, kernel_holds, xdp_object

IP = ipaddress.IPv4Interface("198.18.0.2/15")


def opts(backend: str = "af_packet", port: int = 80) -> ServeOptions:
    return ServeOptions(target="app.ssdk", backend=backend, iface="veth0", ip=IP, port=port)


class FakeNft:
    """share._nft as a recorder: every call as (script, argv); `nft list` answers
    `listed`; every call returns `rc` with `err` on stderr."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, tuple[str, ...]]] = []
        self.listed, self.rc, self.err = "", 0, ""

    def __call__(self, script: str | None, *argv: str) -> subprocess.CompletedProcess[str]:
        self.calls.append((script, argv))
        out = self.listed if argv[:1] == ("list",) else ""
        return subprocess.CompletedProcess(["nft"], self.rc, out, self.err)

    def deleted(self) -> list[tuple[str, ...]]:
        return [argv for _, argv in self.calls if argv[:1] == ("delete",)]


@pytest.fixture
def nft(monkeypatch: pytest.MonkeyPatch) -> FakeNft:
    fake = FakeNft()
    monkeypatch.setattr(share, "_nft", fake)
    monkeypatch.setattr(share.shutil, "which", lambda name: f"/usr/sbin/{name}")
    return fake


@pytest.mark.skipif(share.shutil.which("clang") is None, reason="no clang")
def test_the_xdp_program_compiles_once_into_the_cache(tmp_path: Path) -> None:
    obj = xdp_object(tmp_path)
    assert obj.parent == tmp_path and obj.read_bytes()[:4] == b"\x7fELF"
    # eBPF, little-endian here: e_machine 247 (EM_BPF).
    assert int.from_bytes(obj.read_bytes()[18:20], "little") == 247
    assert share.cached_xdp_object(tmp_path) == obj
    stamp = obj.stat().st_mtime_ns
    assert xdp_object(tmp_path) == obj and obj.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [obj.name]  # no temporary left


def test_without_clang_one_line_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(share.shutil, "which", lambda name: None)
    with pytest.raises(ShareError) as info:
        xdp_object(tmp_path)
    assert "apt-get install clang" in str(info.value) and "\n" not in str(info.value)


def test_a_compile_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.bpf.c"
    bad.write_text("int f(void) { return missing; }\n")
    monkeypatch.setattr(share, "XDP_SOURCE", bad)
    if share.shutil.which("clang") is None:
        pytest.skip("no clang")
    with pytest.raises(ShareError) as info:
        xdp_object(tmp_path / "cache")
    msg = str(info.value)
    assert "clang could not build" in msg and "missing" in msg and "\n" not in msg
    assert not list((tmp_path / "cache").iterdir())


def test_kernel_holds_names_the_interface() -> None:
    addrs = [("lo", ipaddress.IPv4Interface("127.0.0.1/8")), ("eth0", IP)]
    assert kernel_holds(IP.ip, lambda: addrs) == "eth0"
    assert kernel_holds(ipaddress.IPv4Address("198.18.0.9"), lambda: addrs) is None


def test_the_guard_drops_ssdks_port_before_the_kernels_tcp(nft: FakeNft) -> None:
    calls = nft.calls
    with share.kernel_guard(IP.ip, 8080, needed=True) as guard:
        assert guard is not None and guard.table == f"ssdk_{share.os.getpid()}"
        script = calls[0][0] or ""
        assert f"table ip {guard.table}" in script
        assert "type filter hook prerouting priority raw; policy accept;" in script
        assert "ip daddr 198.18.0.2 tcp dport 8080 drop" in script
        assert "removed at exit" in guard.describe()
    assert calls[-1] == (None, ("delete", "table", "ip", guard.table))
    calls.clear()
    with share.kernel_guard(IP.ip, 80, needed=False) as none:
        assert none is None
    assert calls == []


def test_the_table_goes_when_the_block_fails(nft: FakeNft) -> None:
    with pytest.raises(RuntimeError), share.kernel_guard(IP.ip, 80, needed=True):
        raise RuntimeError("a worker did not start")
    assert nft.deleted() == [("delete", "table", "ip", f"ssdk_{share.os.getpid()}")]


def test_nft_refusing_the_table_is_one_line(nft: FakeNft) -> None:
    nft.rc, nft.err = 1, "Error: Could not process rule:\nOperation not permitted\n"
    guard = KernelGuard(IP.ip, 80)
    with pytest.raises(ShareError) as info:
        guard.add()
    assert "Operation not permitted" in str(info.value) and "\n" not in str(info.value)
    assert not guard.added


def test_stale_tables_are_those_whose_pid_is_gone(nft: FakeNft) -> None:
    nft.listed = "table ip filter\ntable ip ssdk_1\ntable ip ssdk_999999999\ntable ip ssdk_x\n"
    assert share.remove_stale_tables() == ["ssdk_999999999"]  # pid 1 lives
    assert [argv[-1] for argv in nft.deleted()] == ["ssdk_999999999"]


def test_af_packet_gets_a_socket_filter_and_the_banner_says_what_it_reads() -> None:
    s = share_setup(opts(), {})
    assert s.xdp is None and len(s.sock_filter) % 8 == 0 and s.sock_filter
    assert s.lines(opts()) == [
        "socket filter on veth0: ssdk reads 198.18.0.2 TCP port 80, ARP and ICMP for it"
    ]
    shared = share_setup(opts(), {IP.ip: "veth0"})
    assert shared.lines(opts()) == [
        "socket filter on veth0: ssdk reads 198.18.0.2 TCP port 80; ARP, ping and its "
        "other ports stay the kernel's (198.18.0.2 is on veth0 too)"
    ]


def test_af_xdp_attaches_once_with_the_address_and_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attach = fake_xdp(monkeypatch, tmp_path, "native", False)
    monkeypatch.setattr("ssdk.serve_share.bpffs_mounted", lambda: False)
    s = share_setup(opts("af_xdp", 8080), {IP.ip: "eth0"}, attach=attach)  # type: ignore[arg-type]
    assert attach.args == ("veth0", str(tmp_path / "x.o"), [("198.18.0.2", False)], [8080], "auto")
    (line,) = s.lines(opts("af_xdp", 8080))
    assert line.startswith("XDP program ssdk_share on veth0 (native mode, alone on the "
                           "interface: no bpffs at /sys/fs/bpf")  # fmt: skip
    assert "198.18.0.2 TCP port 8080 to ssdk, every other frame to the kernel" in line
    assert Sharing().lines(opts("tap")) == []


IP6 = ipaddress.IPv6Address("2001:2::2")


def test_kernel_holds_an_ipv6_address_too() -> None:
    addrs = [("lo", ipaddress.IPv6Interface("::1/128")),
             ("eth0", ipaddress.IPv6Interface("2001:2::2/64"))]  # fmt: skip
    assert kernel_holds(IP6, lambda: addrs) == "eth0"
    assert kernel_holds(ipaddress.IPv6Address("2001:2::3"), lambda: addrs) is None


def test_the_rules_for_each_family_and_whether_the_kernel_holds_the_address() -> None:
    v4_free = ipaddress.IPv4Address("198.18.0.9")
    free6 = ipaddress.IPv6Address("2001:2::9")
    rules = share.guard_rules([(IP.ip, True), (v4_free, False), (IP6, True), (free6, False)],
                              [80, 443])  # fmt: skip
    assert rules == {
        "ip": ["ip daddr 198.18.0.2 tcp dport { 80, 443 } drop"],
        # Held: only ssdk's ports; not held: everything, so the kernel neither answers
        # with an unreachable nor forwards it.
        "ip6": ["ip6 daddr 2001:2::2 tcp dport { 80, 443 } drop", "ip6 daddr 2001:2::9 drop"],
    }
    # An IPv4 address the kernel does not hold needs nothing, as before.
    assert share.guard_rules([(v4_free, False)], [80]) == {}
    assert KernelGuard.of([(v4_free, False)], [80]) is None
    with pytest.raises(ValueError):
        share.guard_rules([(IP6, True)], [])


def test_the_ipv6_table_is_added_with_the_ipv4_one_and_both_go(nft: FakeNft) -> None:
    calls = nft.calls
    free6 = ipaddress.IPv6Address("2001:2::9")
    with share.guarded([(IP.ip, True), (IP6, True), (free6, False)], [80]) as guard:
        assert guard is not None
        (script, argv), = calls
        assert argv == ()  # one script: both tables or neither
        t = guard.table
        assert script == (
            f"table ip {t} {{\n  chain prerouting {{\n"
            "    type filter hook prerouting priority raw; policy accept;\n"
            "    ip daddr 198.18.0.2 tcp dport 80 drop\n  }\n}\n"
            f"table ip6 {t} {{\n  chain prerouting {{\n"
            "    type filter hook prerouting priority raw; policy accept;\n"
            "    ip6 daddr 2001:2::2 tcp dport 80 drop\n    ip6 daddr 2001:2::9 drop\n  }\n}\n"
        )
        line = guard.describe()
        assert line.startswith(f"nftables table ip {t}: prerouting `ip daddr 198.18.0.2 "
                               f"tcp dport 80 drop`; table ip6 {t}: prerouting `ip6 daddr "
                               "2001:2::2 tcp dport 80 drop`, `ip6 daddr 2001:2::9 drop`, so")
        assert "which holds 198.18.0.2, 2001:2::2 too" in line
        assert "neither answers nor forwards for 2001:2::9" in line and "\n" not in line
    assert calls[1:] == [(None, ("delete", "table", "ip", t)),
                         (None, ("delete", "table", "ip6", t))]  # fmt: skip
    calls.clear()
    with share.guarded([(IP6, False)], [80]) as only6:
        assert only6 is not None and list(only6.rules) == ["ip6"]
        assert (calls[0][0] or "").count("table ") == 1
    assert calls[-1] == (None, ("delete", "table", "ip6", only6.table))


def test_the_ipv4_guard_reads_as_it_always_did() -> None:
    guard = KernelGuard(IP.ip, 80)
    assert guard.rule == "ip daddr 198.18.0.2 tcp dport 80 drop"
    assert guard.describe() == (
        f"nftables table ip {guard.table}: prerouting `ip daddr 198.18.0.2 tcp dport 80 "
        "drop`, so the kernel, which holds 198.18.0.2 too, does not reset ssdk's "
        "connections; removed at exit"
    )


def test_stale_ipv6_tables_go_too(nft: FakeNft) -> None:
    nft.listed = ("table ip ssdk_999999999\ntable ip6 ssdk_999999999\ntable ip6 ssdk_1\n"
                  "table inet filter\n")  # fmt: skip
    assert share.remove_stale_tables() == ["ssdk_999999999"]
    assert nft.deleted() == [("delete", "table", "ip", "ssdk_999999999"),
                       ("delete", "table", "ip6", "ssdk_999999999")]  # fmt: skip
