# tests/unit/test_doctor.py: every check of ssdk doctor on a made-up system (FakeProbe):
# healthy, it passes; with the one thing each check looks for broken, that check fails
# or warns, names the problem and gives its fix. Also the table (register_check), what
# serve's preflight prints or raises, the report, and the live probe's parts that need
# no privilege.
from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from ssdk.serve import ServeOptions
from ssdk.tools import doctor, rtnl
from ssdk.tools.doctor import (
    CAP_BPF,
    CAP_IPC_LOCK,
    CAP_NET_ADMIN,
    CAP_NET_RAW,
    CAP_SYS_ADMIN,
    CHECKS,
    BadOption,
    Status,
    Target,
    format_report,
    preflight,
    register_check,
    report_json,
    run_checks,
)
from ssdk.tools.rtnl import KernelRoute, Link

IP = ipaddress.IPv4Interface("198.18.0.2/15")
ALL_CAPS = (1 << 41) - 1
UMEM = 8 << 20


@dataclass
class FakeProbe:
    """A healthy machine: root, a veth up with 4 queues and native XDP, nothing attached."""

    caps: int = ALL_CAPS
    memlock_limit: int = 8 << 20
    core: str | None = None
    af_xdp: bool = True
    links: dict[str, Link] = field(default_factory=lambda: {"veth0": make_link()})
    queues: int = 4
    features: int | None = rtnl.XDP_ACT_BASIC | rtnl.XDP_ACT_REDIRECT
    drv: str | None = "veth"
    offload: dict[str, bool] = field(default_factory=lambda: {
        "rx": True, "tx": False, "tso": False, "gso": False, "gro": False, "lro": False})
    progs: dict[int, str] = field(default_factory=dict)
    mount_table: list[tuple[str, str]] = field(
        default_factory=lambda: [("/", "ext4"), ("/sys/fs/bpf", "bpf")])
    addrs: list[tuple[str, Any]] = field(
        default_factory=lambda: [("lo", ipaddress.IPv4Interface("127.0.0.1/8"))])
    route: KernelRoute | None = None
    routes: dict[str, KernelRoute | None] = field(default_factory=dict)  # by address
    forward: bool = False
    owner: tuple[int, int] = (-1, -1)
    me: tuple[int, set[int]] = (1000, {1000})
    tools: set[str] = field(default_factory=lambda: {"clang", "nft"})
    cached: bool = False
    netmap: str | None = "no /dev/netmap: no netmap module"

    def capabilities(self) -> int:
        return self.caps

    def memlock(self) -> int:
        return self.memlock_limit

    def core_error(self) -> str | None:
        return self.core

    def have_af_xdp(self) -> bool:
        return self.af_xdp

    def umem_bytes(self) -> int:
        return UMEM

    def link(self, name: str) -> Link | None:
        return self.links.get(name)

    def rx_queues(self, name: str) -> int:
        return self.queues

    def xdp_features(self, link: Link) -> int | None:
        return self.features

    def driver(self, name: str) -> str | None:
        return self.drv

    def offloads(self, name: str) -> dict[str, bool]:
        return self.offload

    def prog_name(self, prog_id: int) -> str | None:
        return self.progs.get(prog_id)

    def mounts(self) -> list[tuple[str, str]]:
        return self.mount_table

    def addresses(self) -> list[tuple[str, Any]]:
        return self.addrs

    def route_to(self, ip: Any) -> KernelRoute | None:
        return self.routes.get(str(ip), self.route)

    def forwarding(self, name: str) -> bool:
        return self.forward

    def tap_owner(self, name: str) -> tuple[int, int]:
        return self.owner

    def user(self) -> tuple[int, set[int]]:
        return self.me

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}" if tool in self.tools else None

    def xdp_cached(self) -> bool:
        return self.cached

    def netmap_device(self) -> str | None:
        return self.netmap


def make_link(**kw: Any) -> Link:
    base: dict[str, Any] = dict(index=7, name="veth0", flags=0x1 | 0x1000, operstate="up",
                                carrier=True, mtu=1500, rx_queues=4, kind="veth",
                                xdp={})  # fmt: skip
    base.update(kw)
    return Link(**base)


def finding(name: str, probe: FakeProbe, **target: Any) -> doctor.Finding:
    t = Target(**{"iface": "veth0", "ip": IP, **target})
    return next(r.finding for r in run_checks(t, probe) if r.name == name)


def test_a_healthy_machine_passes_every_check_of_every_backend() -> None:
    for backend in ("af_packet", "af_xdp"):
        results = run_checks(Target(backend=backend, iface="veth0", ip=IP, workers=4),
                             FakeProbe())  # fmt: skip
        bad = [(r.name, r.finding) for r in results if r.finding.status in (Status.FAIL,
                                                                            Status.WARN)]
        assert not bad, (backend, bad)
    tap = FakeProbe(links={"tap0": make_link(name="tap0", kind="tun", carrier=False)},
                    route=KernelRoute(oif="tap0", gateway=None, local=False))  # fmt: skip
    results = run_checks(Target(backend="tap", iface="tap0", ip=IP), tap)
    assert all(r.finding.status in (Status.OK, Status.SKIP) for r in results), results


# Each case: the check, what breaks it, the target's options, the status, words of the
# finding and of the fix.
Case = tuple[str, Callable[[FakeProbe], None], dict[str, Any], Status, str, str]


def _set(**kw: Any) -> Callable[[FakeProbe], None]:
    def apply(p: FakeProbe) -> None:
        for k, v in kw.items():
            setattr(p, k, v)

    return apply


def _link(**kw: Any) -> Callable[[FakeProbe], None]:
    return _set(links={"veth0": make_link(**kw)})


NO_RAW = ALL_CAPS & ~(1 << CAP_NET_RAW)
NO_BPF = ALL_CAPS & ~(1 << CAP_BPF) & ~(1 << CAP_SYS_ADMIN)
NO_LOCK = ALL_CAPS & ~(1 << CAP_IPC_LOCK)
CASES: list[Case] = [
    ("core", _set(core="ssdk's C core is stale"), {}, Status.FAIL, "stale", "pip install -e"),
    ("privileges", _set(caps=NO_RAW), {}, Status.FAIL, "CAP_NET_RAW missing", "root"),
    ("privileges", _set(caps=NO_BPF), {"backend": "af_xdp"}, Status.FAIL, "CAP_BPF missing",
     "AmbientCapabilities"),
    ("privileges", _set(caps=ALL_CAPS & ~(1 << CAP_NET_ADMIN)), {"backend": "af_xdp"},
     Status.FAIL, "CAP_NET_ADMIN missing", "root"),
    ("privileges", _set(caps=0, links={"veth0": make_link(kind="tun")}), {"backend": "tap"},
     Status.FAIL, "CAP_NET_ADMIN missing", "user 1000"),
    ("memlock", _set(caps=NO_LOCK, memlock_limit=4 << 20), {"backend": "af_xdp"}, Status.FAIL,
     "RLIMIT_MEMLOCK is 4 MiB", "ulimit -l 8192"),
    ("memlock", _set(caps=NO_LOCK), {"backend": "af_xdp", "workers": 2}, Status.FAIL,
     "pin 16 MiB", "ulimit -l 16384"),
    ("libxdp", _set(af_xdp=False), {"backend": "af_xdp"}, Status.FAIL, "built without AF_XDP",
     "libxdp-dev"),
    ("netmap", _set(), {"backend": "netmap"}, Status.FAIL, "no /dev/netmap: no netmap module",
     "modprobe netmap"),
    ("netmap", _set(netmap="/dev/netmap is not readable and writable by this user"),
     {"backend": "netmap"}, Status.FAIL, "not readable and writable", "--backend af_packet"),
    ("interface", _set(links={}), {}, Status.FAIL, "no interface named veth0", "ip netns exec"),
    ("interface", _link(flags=0x1000), {}, Status.FAIL, "veth0 is down", "ip link set veth0 up"),
    ("interface", _link(carrier=False), {}, Status.WARN, "its peer is down", "other end"),
    ("interface", _set(), {"backend": "tap"}, Status.FAIL, "not a TAP device", "ip tuntap add"),
    ("queues", _set(queues=1), {"backend": "af_xdp", "workers": 2}, Status.FAIL,
     "veth0 has 1 receive queue; --workers 2 from --queue 0 needs queues 0 to 1", "--workers 1"),
    ("queues", _set(queues=4), {"backend": "af_xdp", "workers": 2, "queue": 3}, Status.FAIL,
     "needs queues 3 to 4", "--workers 1"),
    ("queues", _set(queues=4), {"backend": "af_xdp", "workers": 2}, Status.WARN,
     "2 are served; frames on the others reach the kernel", "--workers 4"),
    ("queues", _set(links={"veth0": make_link(kind="tun")}), {"backend": "tap", "workers": 2},
     Status.FAIL, "served by one worker", "--workers 1"),
    ("mtu", _link(mtu=1400), {}, Status.FAIL, "MTU is 1400", "--mss 1348"),
    # An IPv6 --ip: its header is 20 bytes longer (docs/ipv6.md, MSS)
    ("mtu", _link(mtu=1500), {"v6": True}, Status.FAIL, "1520-byte packets over IPv6",
     "--mss 1428"),
    ("xdp-program", _set(links={"veth0": make_link(xdp={"native": 42})}, progs={42: "filter"}),
     {"backend": "af_xdp"}, Status.FAIL, "XDP program filter (id 42, native mode) holds",
     "ip link set dev veth0 xdp off"),
    ("xdp-program", _set(links={"veth0": make_link(xdp={"skb": 9})}, progs={9: "xsk_def_prog"}),
     {"backend": "af_xdp"}, Status.FAIL, "holds veth0 alone", "xdpgeneric off"),
    ("xdp-program", _set(links={"veth0": make_link(xdp={"native": 9})},
                         progs={9: "xdp_dispatcher"}),
     {"backend": "af_xdp"}, Status.WARN, "libxdp chains ssdk's program", "--queue"),
    ("xdp-program", _set(links={"veth0": make_link(xdp={"native": 9})}, progs={9: "ssdk_share"}),
     {"backend": "af_xdp"}, Status.FAIL, "ssdk's own, holds veth0 alone",
     "stop the other ssdk serve; if none runs: ip link set dev veth0 xdp off"),
    ("xdp-build", _set(tools={"nft"}), {"backend": "af_xdp"}, Status.FAIL,
     "no clang to build ssdk's XDP program", "apt-get install clang"),
    ("xdp-program", _set(links={"veth0": make_link(xdp={"skb": 9})}), {}, Status.WARN,
     "(name unreadable) (id 9, skb mode)", "xdpgeneric off"),
    ("bpffs", _set(mount_table=[("/", "ext4")]), {"backend": "af_xdp"}, Status.WARN,
     "no bpffs", "mount -t bpf bpf /sys/fs/bpf"),
    ("xdp-mode", _set(features=0, drv="dummy"), {"backend": "af_xdp"}, Status.WARN,
     "dummy (veth0) has no native XDP (as the kernel reports)", "--backend af_packet"),
    ("xdp-mode", _set(features=0), {"backend": "af_xdp", "xdp_mode": "native"}, Status.FAIL,
     "no native XDP", "--xdp-mode auto"),
    ("xdp-mode", _set(features=None, drv="r8169"), {"backend": "af_xdp"}, Status.WARN,
     "a guess from the driver's name", "--backend af_packet"),
    ("offloads", _set(offload={"rx": True, "gro": False, "lro": True}), {}, Status.WARN,
     "LRO merge", "ethtool -K veth0 lro off"),
    ("offloads", _set(offload={"gro": True}), {"backend": "af_xdp", "xdp_mode": "skb"},
     Status.WARN, "GRO merge", "ethtool -K veth0 gro off"),
    ("address", _set(addrs=[("veth0", IP)], tools={"clang"}), {}, Status.FAIL,
     "the kernel holds 198.18.0.2 too (on veth0) and there is no nft",
     "apt-get install nftables, or ip addr del 198.18.0.2/15 dev veth0"),
    ("address", _set(addrs=[("veth0", IP)], links={"veth0": make_link(kind="tun")}),
     {"backend": "tap"}, Status.FAIL, "never through the TAP",
     "ip addr del 198.18.0.2/15 dev veth0"),
    ("forwarding", _set(forward=True), {}, Status.WARN, "forwarding is on",
     "net.ipv4.conf.veth0.forwarding=0"),
    ("own-host", _set(route=KernelRoute(oif="veth0", gateway=None, local=False)), {}, Status.WARN,
     "ssdk cannot see its frames", "ssdk dev"),
    ("own-host", _set(route=KernelRoute(oif="veth0", gateway="198.18.0.9", local=False)), {},
     Status.WARN, "only if 198.18.0.9 sends them back", "another host or network namespace"),
    ("own-host", _set(links={"veth0": make_link(kind="tun")}, route=None), {"backend": "tap"},
     Status.FAIL, "nowhere (no route)", "ip addr add 198.18.0.1/15 dev veth0"),
    ("syn-flood", _set(), {"max_conns": 512, "syn_backlog": 1024}, Status.WARN,
     "not below --max-conns 512", "--syn-backlog 256 or less"),
    ("syn-flood", _set(), {"synack_retries": 8}, Status.WARN, "kept 243 s",
     "--synack-retries 5"),
]


@pytest.mark.parametrize(("name", "breakage", "options", "status", "text", "fix"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])  # fmt: skip
def test_each_check_fails_on_purpose(name: str, breakage: Callable[[FakeProbe], None],
                                     options: dict[str, Any], status: Status, text: str,
                                     fix: str) -> None:  # fmt: skip
    probe = FakeProbe()
    breakage(probe)
    got = finding(name, probe, **options)
    assert got.status is status, got
    assert text in got.text, got.text
    assert fix in got.fix, got.fix
    assert "\n" not in got.text + got.fix


def test_mtu_carries_the_ipv6_template_mss() -> None:
    """With an IPv6 --ip, serve's default MSS (1428) fills a 1500-byte MTU exactly."""
    got = finding("mtu", FakeProbe(), v6=True, mss=1428)
    assert got.status is Status.OK and "1500-byte packets over IPv6" in got.text


def test_every_check_is_made_to_fail_or_warn_by_some_case() -> None:
    assert {c[0] for c in CASES} == set(CHECKS)


def test_netmap_is_reported_in_one_line_whatever_the_backend() -> None:
    assert finding("netmap", FakeProbe()).text == (
        "no /dev/netmap: no netmap module: --backend netmap cannot run here"
    )
    assert finding("netmap", FakeProbe()).status is Status.SKIP
    assert "can run" in finding("netmap", FakeProbe(netmap=None)).text
    results = run_checks(Target(backend="netmap", iface="veth0", ip=IP, workers=4),
                         FakeProbe(netmap=None))  # fmt: skip
    assert all(r.finding.status in (Status.OK, Status.SKIP) for r in results), results


def test_serve_without_dev_netmap_is_a_bad_backend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BadOption) as info:
        preflight(opts(backend="netmap"), FakeProbe())
    assert info.value.param == "--backend"
    assert str(info.value).startswith("no /dev/netmap: no netmap module")
    assert "\n" not in str(info.value) and capsys.readouterr().err == ""


def test_an_address_the_kernel_holds_too_is_shared_through_nftables() -> None:
    for backend in ("af_packet", "af_xdp"):
        got = finding("address", FakeProbe(addrs=[("veth0", IP)]), backend=backend)
        assert got.status is Status.OK, got
        assert "holds 198.18.0.2 too (on veth0)" in got.text and "nftables rule" in got.text


V6 = ipaddress.IPv6Interface("2001:2::2/64")


def test_the_address_check_looks_at_every_ip() -> None:
    """Each --ip, IPv4 and IPv6: an IPv6 address the kernel does not hold needs nft on
    AF_PACKET and AF_XDP (the kernel would answer or forward ssdk's packets), none over
    a TAP; the address the kernel holds is found whichever --ip it is."""
    both = (IP, V6)
    fine = finding("address", FakeProbe(), addrs=both)
    assert fine.status is Status.OK
    assert "does not hold 198.18.0.2" in fine.text and "does not hold 2001:2::2" in fine.text
    for backend in ("af_packet", "af_xdp"):
        got = finding("address", FakeProbe(tools={"clang"}), backend=backend, addrs=both)
        assert got.status is Status.FAIL and "2001:2::2" in got.text, got
        assert got.fix == "apt-get install nftables"
    assert finding("address", FakeProbe(tools=set()), backend="af_packet", addrs=(IP,)).status \
        is Status.OK
    assert finding("address", FakeProbe(tools=set()), backend="tap", addrs=both).status \
        is Status.OK
    held = finding("address", FakeProbe(addrs=[("veth0", V6)]), addrs=both)
    assert held.status is Status.OK and "holds 2001:2::2 too (on veth0)" in held.text
    tap = finding("address", FakeProbe(addrs=[("tap0", V6)]), backend="tap", addrs=both)
    assert tap.status is Status.FAIL and "ip addr del 2001:2::2/64 dev tap0" in tap.fix


def test_own_host_looks_at_every_ip() -> None:
    """A route into the interface for the IPv6 --ip warns though the IPv4 one is fine."""
    probe = FakeProbe(routes={"2001:2::2": KernelRoute(oif="veth0", gateway=None, local=False)})
    got = finding("own-host", probe, addrs=(IP, V6))
    assert got.status is Status.WARN and "sends to 2001:2::2 out of veth0" in got.text, got
    assert finding("own-host", probe, addrs=(IP,)).status is Status.OK


def test_a_cached_xdp_program_needs_no_clang() -> None:
    got = finding("xdp-build", FakeProbe(tools=set(), cached=True), backend="af_xdp")
    assert got.status is Status.OK and "compiled" in got.text, got


def test_no_cap_bpf_is_fine_with_cap_sys_admin() -> None:
    f = finding("privileges", FakeProbe(caps=ALL_CAPS & ~(1 << CAP_BPF)), backend="af_xdp")
    assert f.status is Status.OK and "CAP_SYS_ADMIN" in f.text


def test_memlock_is_ok_with_cap_ipc_lock_whatever_the_limit() -> None:
    f = finding("memlock", FakeProbe(memlock_limit=0), backend="af_xdp", workers=8)
    assert f.status is Status.OK and "CAP_IPC_LOCK" in f.text


def test_a_tap_owned_by_the_user_needs_no_privilege() -> None:
    probe = FakeProbe(caps=0, links={"veth0": make_link(kind="tun")}, owner=(1000, -1))
    assert finding("privileges", probe, backend="tap").status is Status.OK


def test_gro_loses_nothing_with_af_packet_or_native_xdp() -> None:
    probe = FakeProbe(offload={"rx": True, "gro": True, "lro": False})
    assert finding("offloads", probe).status is Status.OK
    assert finding("offloads", probe, backend="af_xdp").status is Status.OK


def test_checks_of_other_backends_are_skipped_and_serve_leaves_them_out() -> None:
    t = Target(backend="af_packet", iface="veth0", ip=IP)
    all_ = {r.name: r.finding for r in run_checks(t, FakeProbe())}
    assert all_["memlock"].status is Status.SKIP and "af_xdp only" in all_["memlock"].text
    relevant = {r.name for r in run_checks(t, FakeProbe(), relevant_only=True)}
    assert "memlock" not in relevant and "forwarding" in relevant


def test_without_iface_or_ip_the_checks_that_need_them_skip() -> None:
    results = {r.name: r.finding for r in run_checks(Target(), FakeProbe())}
    assert results["interface"].status is Status.SKIP
    assert results["queues"].text == "no --iface given"
    assert results["address"].text == "no --ip given"


def test_register_check_adds_one_and_refuses_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    # The table lives in doctor.table: register_check and run_checks use it there.
    monkeypatch.setattr(doctor.table, "CHECKS", dict(CHECKS))
    register_check("always", lambda t, p: doctor.warn("it warns", "nothing"), ("af_xdp",))
    names = [r.name for r in run_checks(Target(backend="af_xdp"), FakeProbe())]
    assert names[-1] == "always"
    with pytest.raises(ValueError, match="exists already"):
        register_check("always", lambda t, p: doctor.ok("x"))
    with pytest.raises(ValueError, match="no backend"):
        register_check("other", lambda t, p: doctor.ok("x"), ("dpdk",))


def opts(**kw: Any) -> ServeOptions:
    base: dict[str, Any] = dict(target="app.py", backend="af_packet", iface="veth0", ip=IP)
    base.update(kw)
    return ServeOptions(**base)


def test_preflight_prints_failures_and_warnings_one_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    probe = FakeProbe(addrs=[("veth0", IP)], forward=True, tools=set(),
                      links={"veth0": make_link(flags=0x1000)})  # fmt: skip
    assert preflight(opts(), probe) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "ssdk: warning: IPv4 forwarding is on for veth0: the kernel routes its own copy of "
        "every frame sent to ssdk, so each one leaves twice; fix: sysctl -w "
        "net.ipv4.conf.veth0.forwarding=0",
        "ssdk: error: veth0 is down; fix: ip link set veth0 up",
        "ssdk: error: the kernel holds 198.18.0.2 too (on veth0) and there is no nft: without "
        "an nftables rule the kernel's TCP resets ssdk's connections; fix: apt-get install "
        "nftables, or ip addr del 198.18.0.2/15 dev veth0",
    ]


def test_preflight_goes_on_with_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight(opts(backend="af_xdp", workers=2), FakeProbe()) == 0
    assert "2 are served" in capsys.readouterr().err


def test_serve_warns_at_start_of_a_backlog_not_below_the_pool(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert preflight(opts(max_conns=512, tcp={"syn_backlog": 1024}), FakeProbe()) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ssdk: warning: --syn-backlog 1024 is not below")
    assert preflight(opts(max_conns=512, tcp={"syn_backlog": 200}), FakeProbe()) == 0
    assert capsys.readouterr().err == ""


def test_preflight_raises_a_bad_option_for_the_queue_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(BadOption) as info:
        preflight(opts(backend="af_xdp", workers=8), FakeProbe(caps=0))
    assert info.value.param == "--workers" and "needs queues 0 to 7" in str(info.value)
    assert capsys.readouterr().err == ""  # a bad argument first, alone


def test_report_marks_each_check_and_puts_the_fix_under_it() -> None:
    t = Target(iface="veth0", ip=IP)
    results = run_checks(t, FakeProbe(links={"veth0": make_link(flags=0)}))
    text = format_report(t, results)
    lines = text.splitlines()
    assert lines[0] == "ssdk doctor: veth0, af_packet, 1 worker, 198.18.0.2"
    i = next(i for i, line in enumerate(lines) if "interface" in line)
    assert lines[i].split()[:2] == ["FAIL", "interface"]
    assert lines[i + 1].split()[:2] == ["fix:", "ip"]
    assert lines[-1] == "1 check failed; 0 warnings"
    assert doctor.exit_code(results) == 1
    data = json.loads(report_json(t, results))
    assert data["failed"] is True and data["target"]["ip"] == "198.18.0.2/15"
    assert {c["name"]: c["status"] for c in data["checks"]}["interface"] == "fail"


def test_the_live_probe_reads_this_namespace_without_privilege() -> None:
    probe = doctor.LiveProbe()
    lo = probe.link("lo")
    assert lo is not None and lo.up and lo.name == "lo" and lo.mtu > 0
    assert probe.link("no-such-if0") is None and probe.link("a/b") is None
    assert ("lo", ipaddress.IPv4Interface("127.0.0.1/8")) in probe.addresses()
    route = probe.route_to(ipaddress.IPv4Address("127.0.0.1"))
    assert route is not None and route.local and route.oif == "lo"
    if any(a.ip == ipaddress.IPv6Address("::1") for _, a in probe.addresses()):
        route6 = probe.route_to(ipaddress.IPv6Address("::1"))
        assert route6 is not None and route6.local and route6.oif == "lo"
    assert probe.rx_queues("lo") >= 1
    assert probe.memlock() == -1 or probe.memlock() > 0
    assert any(kind == "proc" for _, kind in probe.mounts())
    assert set(probe.offloads("lo")) <= {"rx", "tx", "tso", "gso", "gro", "lro"}


def test_live_checks_run_in_milliseconds() -> None:
    import time

    t = Target(backend="af_xdp", iface="lo", ip=IP)
    run_checks(t)  # the C core imported once
    began = time.perf_counter()
    run_checks(t)
    assert time.perf_counter() - began < 0.05


def test_the_umem_size_follows_the_engine() -> None:
    assert doctor.LiveProbe().umem_bytes() == 4096 * doctor.SLOT


def test_target_takes_serve_options() -> None:
    o = opts(backend="af_xdp", workers=3, queue=1, xdp_mode="skb", mss=1200)
    t = Target.of(o)
    assert dataclasses.astuple(t) == ("af_xdp", "veth0", IP, (IP,), False, 3, 1, "skb", 1200,
                                      4096, 1024, 5)  # fmt: skip
    v6 = ipaddress.IPv6Interface("2001:2::2/64")
    assert Target.of(opts(addrs=(IP, v6))).v6
    o = opts(max_conns=512, tcp={"syn_backlog": 100, "synack_retries": 2})
    assert dataclasses.astuple(Target.of(o))[-3:] == (512, 100, 2)


def test_syn_flood_settings() -> None:
    """SYN cookies engage after min(--syn-backlog, half the pool) half-open entries,
    which are given up after 63 s by default; a backlog not below the pool and SYN-ACK
    retries that keep entries for minutes are warned about."""
    probe = FakeProbe()
    good = finding("syn-flood", probe)
    assert good.status is Status.OK
    assert "after 1024 half-open" in good.text and "63 s" in good.text
    assert "after 256 half-open" in finding("syn-flood", probe, max_conns=512,
                                            syn_backlog=300).text  # fmt: skip
    big = finding("syn-flood", probe, max_conns=512)
    assert big.status is Status.WARN and "half the pool (256)" in big.text
    assert "--syn-backlog 256" in big.fix
    slow = finding("syn-flood", probe, synack_retries=7)
    assert slow.status is Status.WARN and "183 s" in slow.text  # the RTO stops at 60 s
    assert finding("syn-flood", probe, synack_retries=6).status is Status.OK  # 127 s
