"""`ssdk doctor`: what would stop `ssdk serve` on this machine, each finding with its fix.

cli.doctor -> Target (the options) -> run_checks(target, LiveProbe()) -> format_report
cli.serve  -> preflight(ServeOptions) -> run_checks(only this backend's checks)
           -> warnings printed; a failure stops serve with the same line (exit 1), or
              as a bad argument (exit 2) when one option is at fault (--workers)

Every check is a small function in one table, CHECKS, added with @check (as route
convertors are with register_convertor). A check reads the system only through its
Probe, so a test hands it a made-up system in which it fails; LiveProbe reads the real
one: /proc/self/status, getrlimit, netlink and SIOCETHTOOL (ssdk/tools/rtnl.py), sysfs
and /proc/mounts. No check starts a process or changes anything, and all of them
together take about a millisecond, so serve runs them on every start.
"""

from __future__ import annotations

import enum
import inspect
import ipaddress
import json
import os
import resource
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ssdk.core.cdefs import DEFAULT_MSS
from ssdk.tools import rtnl
from ssdk.tools.rtnl import KernelRoute, Link

if TYPE_CHECKING:
    from ssdk.serve import ServeOptions

BACKENDS = ("af_packet", "af_xdp", "tap")
FRAME_OVERHEAD = 52  # IPv4 20 + TCP 20 + timestamps 12: a segment of MSS m is m + 52 bytes
SLOT = 2048  # bytes of a ring slot (AF_PACKET, AF_XDP UMEM, TAP buffer: FRAME_SIZE in C)

# Capability numbers (linux/capability.h).
CAP_NET_ADMIN, CAP_NET_RAW, CAP_IPC_LOCK, CAP_SYS_ADMIN, CAP_BPF = 12, 13, 14, 21, 39
CAP_NAMES = {
    CAP_NET_ADMIN: "CAP_NET_ADMIN",
    CAP_NET_RAW: "CAP_NET_RAW",
    CAP_BPF: "CAP_BPF",
    CAP_IPC_LOCK: "CAP_IPC_LOCK",
    CAP_SYS_ADMIN: "CAP_SYS_ADMIN",
}

# Drivers with native XDP, for kernels older than 6.3, which cannot be asked (the
# "netdev" netlink family): a list kept by hand, so only a guess.
NATIVE_XDP_DRIVERS = frozenset(
    {
        "veth",
        "virtio_net",
        "tun",
        "mlx5_core",
        "mlx4_en",
        "i40e",
        "ice",
        "ixgbe",
        "ixgbevf",
        "igb",
        "igc",
        "bnxt_en",
        "nfp",
        "qede",
        "ena",
        "gve",
        "hv_netvsc",
        "xen-netfront",
        "sfc",
        "mvneta",
        "mvpp2",
        "stmmac",
        "fec",
        "enetc",
        "dpaa2-eth",
        "atlantic",
        "netdevsim",
        "bonding",
        "thunder-nicvf",
        "lan966x-switch",
        "octeontx2-nicpf",
    }
)
XDP_PROGRAMS_OF_LIBXDP = frozenset({"xsk_def_prog", "xdp_dispatcher"})


class Status(str, enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # does not apply: another backend, or an option not given


@dataclass(frozen=True)
class Finding:
    """What one check found: a line to read and, unless all is well, a line to do.
    ``param``: the option whose value is at fault, when another value is the fix."""

    status: Status
    text: str
    fix: str = ""
    param: str | None = None


def ok(text: str) -> Finding:
    return Finding(Status.OK, text)


def warn(text: str, fix: str) -> Finding:
    return Finding(Status.WARN, text, fix)


def fail(text: str, fix: str, param: str | None = None) -> Finding:
    return Finding(Status.FAIL, text, fix, param)


def skip(text: str) -> Finding:
    return Finding(Status.SKIP, text)


@dataclass(frozen=True)
class Target:
    """What is checked: the options `ssdk serve` would be given."""

    backend: str = "af_packet"
    iface: str | None = None
    ip: ipaddress.IPv4Interface | None = None
    workers: int = 1
    queue: int = 0
    xdp_mode: str = "auto"
    mss: int = DEFAULT_MSS

    @classmethod
    def of(cls, opts: ServeOptions) -> Target:
        return cls(
            backend=opts.backend,
            iface=opts.iface,
            ip=opts.ip,
            workers=opts.workers,
            queue=opts.queue,
            xdp_mode=opts.xdp_mode,
            mss=opts.mss,
        )


class Probe(Protocol):
    """The system as the checks see it. LiveProbe reads this machine; tests give a
    made-up one."""

    def capabilities(self) -> int: ...  # CapEff bits
    def memlock(self) -> int: ...  # RLIMIT_MEMLOCK soft limit, bytes; -1 unlimited
    def core_error(self) -> str | None: ...  # why the C core does not load, or None
    def have_af_xdp(self) -> bool: ...
    def umem_bytes(self) -> int: ...  # what one AF_XDP worker's UMEM pins
    def link(self, name: str) -> Link | None: ...
    def rx_queues(self, name: str) -> int: ...  # receive queues in use
    def xdp_features(self, link: Link) -> int | None: ...
    def driver(self, name: str) -> str | None: ...
    def offloads(self, name: str) -> dict[str, bool]: ...
    def prog_name(self, prog_id: int) -> str | None: ...
    def mounts(self) -> list[tuple[str, str]]: ...  # (mount point, type)
    def addresses(self) -> list[tuple[str, ipaddress.IPv4Interface]]: ...
    def route_to(self, ip: ipaddress.IPv4Address) -> KernelRoute | None: ...
    def forwarding(self, name: str) -> bool: ...
    def tap_owner(self, name: str) -> tuple[int, int]: ...  # uid, gid; -1 for none
    def user(self) -> tuple[int, set[int]]: ...  # euid, and the groups it is in


class LiveProbe:
    """This machine, in this process's network namespace, read without a subprocess."""

    def __init__(self) -> None:
        self._links: dict[str, Link | None] = {}

    def capabilities(self) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
        return 0

    def memlock(self) -> int:
        soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        return -1 if soft == resource.RLIM_INFINITY else soft

    def core_error(self) -> str | None:
        try:
            import ssdk.core.runtime.engine  # noqa: F401
        except ImportError as e:
            return str(e)
        return None

    def have_af_xdp(self) -> bool:
        from ssdk.core.runtime.engine import HAVE_AF_XDP

        return HAVE_AF_XDP

    def umem_bytes(self) -> int:
        from ssdk.core.runtime.engine import Engine

        # The UMEM holds ring_frames (Engine.attach_af_xdp's default, as serve uses it)
        # rounded up to a power of two, at least 64 (nic_af_xdp.c), of SLOT bytes each.
        frames = int(inspect.signature(Engine.attach_af_xdp).parameters["ring_frames"].default)
        return max(64, 1 << (frames - 1).bit_length()) * SLOT

    def link(self, name: str) -> Link | None:
        if name not in self._links:
            self._links[name] = rtnl.link(name)
        return self._links[name]

    def rx_queues(self, name: str) -> int:
        try:
            return len(list(Path(f"/sys/class/net/{name}/queues").glob("rx-*")))
        except OSError:
            return 0

    def xdp_features(self, link: Link) -> int | None:
        return rtnl.xdp_features(link.index)

    def driver(self, name: str) -> str | None:
        try:
            return os.path.basename(os.readlink(f"/sys/class/net/{name}/device/driver"))
        except OSError:
            return rtnl.ethtool_driver(name)

    def offloads(self, name: str) -> dict[str, bool]:
        return rtnl.ethtool_offloads(name)

    def prog_name(self, prog_id: int) -> str | None:
        return rtnl.bpf_prog_name(prog_id)

    def mounts(self) -> list[tuple[str, str]]:
        rows = (line.split() for line in Path("/proc/mounts").read_text().splitlines())
        return [(r[1], r[2]) for r in rows if len(r) >= 3]

    def addresses(self) -> list[tuple[str, ipaddress.IPv4Interface]]:
        return rtnl.addresses()

    def route_to(self, ip: ipaddress.IPv4Address) -> KernelRoute | None:
        return rtnl.route_to(ip)

    def forwarding(self, name: str) -> bool:
        try:
            return Path(f"/proc/sys/net/ipv4/conf/{name}/forwarding").read_text().strip() == "1"
        except OSError:
            return False

    def tap_owner(self, name: str) -> tuple[int, int]:
        def read(what: str) -> int:
            try:
                return int(Path(f"/sys/class/net/{name}/{what}").read_text())
            except (OSError, ValueError):
                return -1

        return read("owner"), read("group")

    def user(self) -> tuple[int, set[int]]:
        return os.geteuid(), {os.getegid(), *os.getgroups()}


CheckFn = Callable[[Target, Probe], Finding]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFn
    backends: frozenset[str]
    needs_link: bool  # skipped when the interface is not given or does not exist


CHECKS: dict[str, Check] = {}


def register_check(
    name: str, run: CheckFn, backends: Iterable[str] = BACKENDS, needs_link: bool = False
) -> None:
    """Add a check to the table, after those there; doctor and serve run it from then on."""
    if name in CHECKS:
        raise ValueError(f"a check named {name!r} exists already")
    bad = set(backends) - set(BACKENDS)
    if bad:
        raise ValueError(f"no backend named {', '.join(sorted(bad))}")
    CHECKS[name] = Check(name, run, frozenset(backends), needs_link)


def check(
    name: str, backends: Iterable[str] = BACKENDS, needs_link: bool = False
) -> Callable[[CheckFn], CheckFn]:
    """@check("name"): register_check as a decorator."""

    def add(fn: CheckFn) -> CheckFn:
        register_check(name, fn, backends, needs_link)
        return fn

    return add


@dataclass(frozen=True)
class Result:
    name: str
    finding: Finding


def run_checks(
    target: Target, probe: Probe | None = None, relevant_only: bool = False
) -> list[Result]:
    """Every check's finding, in the table's order. ``relevant_only``: leave out the
    checks of other backends (what serve runs)."""
    probe = probe or LiveProbe()
    out: list[Result] = []
    for c in CHECKS.values():
        if target.backend not in c.backends:
            if not relevant_only:
                out.append(Result(c.name, skip(f"{' and '.join(sorted(c.backends))} only")))
            continue
        if c.needs_link and (target.iface is None or probe.link(target.iface) is None):
            finding = skip("no --iface given" if target.iface is None else "no interface")
        else:
            finding = c.run(target, probe)
        out.append(Result(c.name, finding))
    return out


# The checks, in the order they are reported: the process, the build, the interface,
# XDP, then the addresses.


@check("core")
def _core(t: Target, p: Probe) -> Finding:
    error = p.core_error()
    if error is not None:
        return fail(
            f"ssdk's C core does not load: {error}",
            "pip install -e . in the source tree (or reinstall ssdk)",
        )
    return ok("ssdk's C core loads and matches ssdk/csrc")


@check("privileges")
def _privileges(t: Target, p: Probe) -> Finding:
    have = p.capabilities()

    def held(cap: int) -> bool:
        return bool(have >> cap & 1)

    if t.backend == "tap":
        # A TAP device whose owner (or group) is this user opens without privilege.
        if held(CAP_NET_ADMIN):
            return ok("CAP_NET_ADMIN held (opens any TAP device)")
        if t.iface is not None and p.link(t.iface) is not None:
            uid, gid = p.tap_owner(t.iface)
            euid, groups = p.user()
            if (uid != -1 or gid != -1) and uid in (-1, euid) and (gid == -1 or gid in groups):
                return ok(f"{t.iface} belongs to this user (uid {euid}); no privilege needed")
        return fail(
            "CAP_NET_ADMIN missing: opening a TAP device that is not this user's needs it",
            f"run as root, or make the TAP this user's: ip tuntap add "
            f"dev {t.iface or 'TAP'} mode tap user {p.user()[0]}",
        )
    needed = [CAP_NET_RAW]  # AF_PACKET and AF_XDP sockets alike
    why = "a packet socket"
    if t.backend == "af_xdp":
        # Attaching an XDP program is CAP_NET_ADMIN's; loading it and its map CAP_BPF's
        # (or CAP_SYS_ADMIN's, as before Linux 5.8).
        needed += [
            CAP_NET_ADMIN,
            CAP_BPF if held(CAP_BPF) or not held(CAP_SYS_ADMIN) else CAP_SYS_ADMIN,
        ]
        why = "an AF_XDP socket and its XDP program"
    missing = [CAP_NAMES[c] for c in needed if not held(c)]
    names = ", ".join(CAP_NAMES[c] for c in needed)
    if missing:
        return fail(
            f"{', '.join(missing)} missing: {t.backend} needs {names} for {why}",
            f"run as root (sudo), or grant them: systemd AmbientCapabilities="
            f"{' '.join(CAP_NAMES[c] for c in needed)}",
        )
    return ok(f"{names} held")


@check("memlock", backends=("af_xdp",))
def _memlock(t: Target, p: Probe) -> Finding:
    # The kernel charges an AF_XDP UMEM to the user's locked memory and refuses it
    # (ENOBUFS) past RLIMIT_MEMLOCK, unless the process has CAP_IPC_LOCK. The charge is
    # per user, so every worker's UMEM counts.
    if p.capabilities() >> CAP_IPC_LOCK & 1:
        return ok("CAP_IPC_LOCK held: the UMEM is not charged to RLIMIT_MEMLOCK")
    limit = p.memlock()
    if limit == -1:
        return ok("RLIMIT_MEMLOCK unlimited")
    if p.core_error() is not None:
        return skip("no C core to size the UMEM by")
    need = p.umem_bytes() * t.workers
    if limit < need:
        return fail(
            f"RLIMIT_MEMLOCK is {_size(limit)} and {t.workers} worker"
            f"{'s' * (t.workers > 1)} pin {_size(need)} of UMEM (no CAP_IPC_LOCK)",
            f"ulimit -l {need // 1024} (or unlimited; systemd: LimitMEMLOCK="
            "infinity), or run with CAP_IPC_LOCK",
        )
    return ok(
        f"RLIMIT_MEMLOCK {_size(limit)} holds the {_size(need)} of UMEM "
        "(less what this user's other AF_XDP sockets pin)"
    )


@check("libxdp", backends=("af_xdp",))
def _libxdp(t: Target, p: Probe) -> Finding:
    if p.core_error() is not None:
        return skip("no C core")
    if not p.have_af_xdp():
        return fail(
            "ssdk was built without AF_XDP (no libxdp headers at build time)",
            "apt-get install libxdp-dev libbpf-dev, then pip install -e . again",
        )
    return ok("ssdk was built with libxdp")


@check("interface")
def _interface(t: Target, p: Probe) -> Finding:
    if t.iface is None:
        return skip("no --iface given")
    link = p.link(t.iface)
    if link is None:
        return fail(
            f"no interface named {t.iface} in this network namespace",
            "ip -br link lists them; run ssdk in the interface's namespace "
            "(ip netns exec NS ssdk ...)",
        )
    if t.backend == "tap" and link.kind != "tun":
        return fail(
            f"{t.iface} is a {link.kind or 'network'} interface, not a TAP device",
            "--backend af_packet, or make a TAP: ip tuntap add dev NAME mode tap",
        )
    if not link.up:
        return fail(f"{t.iface} is down", f"ip link set {t.iface} up")
    if not link.carrier and t.backend != "tap":
        # A TAP has carrier only while a program holds it, that is once ssdk runs.
        other = "its peer is down" if link.kind == "veth" else "no cable or link partner"
        return warn(
            f"{t.iface} is up but has no carrier ({other}): nothing will arrive",
            "bring up the other end (the veth peer, the switch port)",
        )
    return ok(f"{t.iface} is up ({link.kind or 'device'}, operstate {link.operstate})")


@check("queues", needs_link=True)
def _queues(t: Target, p: Probe) -> Finding:
    assert t.iface is not None
    if t.backend == "tap":
        if t.workers > 1:
            return fail("a TAP device is served by one worker", "--workers 1", "--workers")
        return ok("one worker on the TAP's one queue")
    have = p.rx_queues(t.iface) or 1
    if t.backend == "af_packet":
        return ok(
            f"{t.iface} has {have} receive queue{'s' * (have > 1)}; the kernel shares "
            f"flows among {t.workers} worker{'s' * (t.workers > 1)} (fanout)"
        )
    # AF_XDP binds one socket per queue: worker i serves queue --queue + i.
    last = t.queue + t.workers - 1
    if last >= have:
        return fail(
            f"{t.iface} has {have} receive queue{'s' * (have > 1)}; --workers "
            f"{t.workers} from --queue {t.queue} needs queues {t.queue} to {last}",
            f"--workers {max(1, have - t.queue)}" if t.queue < have else "--queue 0",
            "--workers",
        )
    if t.workers < have:
        return warn(
            f"{t.iface} has {have} receive queues and {t.workers} are served; frames "
            "on the others reach the kernel, not ssdk",
            f"--workers {have - t.queue}"
            if t.queue == 0
            else f"point RSS at the served queues: ethtool -X {t.iface} start {t.queue} "
            f"equal {t.workers}",
        )
    return ok(f"queues {t.queue} to {last} of {have}, one worker each")


@check("mtu", needs_link=True)
def _mtu(t: Target, p: Probe) -> Finding:
    link = p.link(t.iface or "")
    assert link is not None
    frame = t.mss + FRAME_OVERHEAD
    if link.mtu < frame:
        return fail(
            f"{t.iface}'s MTU is {link.mtu}: segments of MSS {t.mss} are {frame}-byte "
            "packets, which the interface will not send",
            f"--mss {link.mtu - FRAME_OVERHEAD}, or ip link set {t.iface} mtu {frame}",
        )
    return ok(f"MTU {link.mtu} carries MSS {t.mss} ({frame}-byte packets)")


@check("xdp-program", backends=("af_packet", "af_xdp"), needs_link=True)
def _xdp_program(t: Target, p: Probe) -> Finding:
    link = p.link(t.iface or "")
    assert link is not None
    if not link.xdp:
        return ok(f"no XDP program on {t.iface}")
    mode, prog = next(iter(link.xdp.items()))
    name = p.prog_name(prog)
    what = f"XDP program {name or '(name unreadable)'} (id {prog}, {mode} mode)"
    off = f"ip link set dev {t.iface} {'xdpgeneric' if mode == 'skb' else 'xdp'} off"
    if t.backend == "af_packet":
        # XDP runs before packet sockets: what it drops or redirects never reaches ssdk.
        return warn(
            f"{what} on {t.iface} sees every frame first: what it drops or "
            "redirects never reaches ssdk",
            f"{off} (if nothing else needs it)",
        )
    if name in XDP_PROGRAMS_OF_LIBXDP:
        # libxdp adds its socket to the program already there; a queue bound twice fails.
        return warn(
            f"{what} on {t.iface}: another AF_XDP server (ssdk serve?) is running; "
            f"ssdk joins it, but a queue it serves cannot be served twice",
            "stop the other server, or serve queues it does not (--queue)",
        )
    return fail(
        f"{what} holds {t.iface}: libxdp cannot attach ssdk's program beside it",
        f"{off} (after checking what it is for: ip -d link show {t.iface})",
    )


@check("bpffs", backends=("af_xdp",))
def _bpffs(t: Target, p: Probe) -> Finding:
    where = [m for m, kind in p.mounts() if kind == "bpf"]
    if "/sys/fs/bpf" in where:
        return ok(
            "bpffs at /sys/fs/bpf: libxdp's dispatcher lets other XDP programs share the interface"
        )
    on = t.iface or "the interface"
    return warn(
        f"no bpffs at /sys/fs/bpf: libxdp attaches ssdk's program alone, so no other "
        f"XDP program can share {on} while ssdk runs",
        "mount -t bpf bpf /sys/fs/bpf",
    )


@check("xdp-mode", backends=("af_xdp",), needs_link=True)
def _xdp_mode(t: Target, p: Probe) -> Finding:
    link = p.link(t.iface or "")
    assert link is not None
    driver = p.driver(link.name) or link.kind or "no driver"
    features = p.xdp_features(link)
    if features is not None:
        native = features & rtnl.XDP_ACT_BASIC and features & rtnl.XDP_ACT_REDIRECT
        zc = ", zero-copy" if features & rtnl.XDP_ACT_XSK_ZEROCOPY else ", copy"
        source = "(as the kernel reports)"
    else:
        native = driver in NATIVE_XDP_DRIVERS
        zc = ""
        source = "(a guess from the driver's name: this kernel cannot be asked)"
    if t.xdp_mode == "skb":
        return ok(
            f"SKB mode as asked (native {'possible' if native else 'not offered'} "
            f"on {driver} {source})"
        )
    if native:
        return ok(f"{driver} does native XDP{zc} {source}")
    if t.xdp_mode == "native":
        return fail(
            f"{driver} ({t.iface}) has no native XDP {source}",
            "--xdp-mode auto (or skb) serves in SKB mode",
        )
    return warn(
        f"{driver} ({t.iface}) has no native XDP {source}: ssdk will serve in SKB "
        "(generic) mode, where each frame becomes an skb first, at a fraction of "
        "the speed",
        "use a NIC whose driver has XDP, or --backend af_packet",
    )


@check("offloads", backends=("af_packet", "af_xdp"), needs_link=True)
def _offloads(t: Target, p: Probe) -> Finding:
    assert t.iface is not None
    state = p.offloads(t.iface)
    if not state:
        return skip(f"{t.iface} reports no offload state")
    shown = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in state.items())
    # GRO and LRO merge a flow's segments into frames larger than a ring slot (SLOT).
    # AF_PACKET reads such a frame whole and cuts it again (nic_af_packet.c, gso.c);
    # AF_XDP cannot: a frame over a UMEM frame is dropped. XDP in native mode runs in the
    # driver, before GRO; in SKB mode after it. LRO is the card's, before both, and
    # several drivers refuse native XDP while it is on.
    link = p.link(t.iface)
    native = (
        t.backend == "af_xdp"
        and t.xdp_mode != "skb"
        and link is not None
        and bool((p.xdp_features(link) or 0) & rtnl.XDP_ACT_BASIC)
    )
    merged = [k for k in ("gro", "lro") if state.get(k)]
    if t.backend == "af_xdp":
        merged = [k for k in merged if not (k == "gro" and native)]
    else:
        merged = [k for k in merged if k == "lro"]
    if merged:
        names = " and ".join(k.upper() for k in merged)
        return warn(
            f"{shown}: {names} merge segments into frames over {SLOT} bytes, which "
            f"{t.backend} loses (drop_truncated), and some drivers refuse XDP with LRO",
            f"ethtool -K {t.iface} {' '.join(f'{k} off' for k in merged)}",
        )
    # Receive checksum offload is used (a frame the driver verified is not summed again);
    # on send, TX checksum, TSO and GSO do nothing: ssdk writes every frame whole.
    gro = (
        " (AF_PACKET reads merged frames whole and cuts them again)"
        if t.backend == "af_packet" and state.get("gro")
        else ""
    )
    return ok(f"{shown}: none loses frames{gro}; what ssdk sends uses no offload")


@check("address")
def _address(t: Target, p: Probe) -> Finding:
    if t.ip is None:
        return skip("no --ip given")
    held = [(name, a) for name, a in p.addresses() if a.ip == t.ip.ip]
    if held:
        name, a = held[0]
        return fail(
            f"the kernel holds {t.ip.ip} itself (on {name}): it answers ARP and "
            "TCP for it too, and resets ssdk's connections",
            f"ip addr del {a.with_prefixlen} dev {name}",
        )
    return ok(f"the kernel does not hold {t.ip.ip}")


@check("forwarding", backends=("af_packet",), needs_link=True)
def _forwarding(t: Target, p: Probe) -> Finding:
    assert t.iface is not None
    if p.forwarding(t.iface):
        # AF_PACKET reads copies: the kernel still receives every frame for ssdk's
        # address (its MAC is the interface's), and a forwarding kernel routes them on.
        return warn(
            f"IPv4 forwarding is on for {t.iface}: the kernel routes its own copy "
            "of every frame sent to ssdk, so each one leaves twice",
            f"sysctl -w net.ipv4.conf.{t.iface}.forwarding=0",
        )
    return ok(f"IPv4 forwarding is off for {t.iface}")


@check("own-host", needs_link=True)
def _own_host(t: Target, p: Probe) -> Finding:
    if t.ip is None:
        return skip("no --ip given")
    ip = t.ip.ip
    route = p.route_to(ip)
    if route is not None and route.local:
        return skip(f"the kernel holds {ip} (see address)")
    how = (
        f"out of {route.oif}" + (f" via {route.gateway}" if route and route.gateway else "")
        if route is not None
        else ""
    )
    if t.backend == "tap":
        if route is not None and route.oif == t.iface and route.gateway is None:
            return ok(f"this host reaches {ip} through the TAP")
        return fail(
            f"this host sends to {ip} {how or 'nowhere (no route)'}, not into "
            f"{t.iface}, so nothing reaches ssdk",
            f"give {t.iface} an address in {t.ip.network}: ip addr add {_peer(t.ip)} dev {t.iface}",
        )
    # AF_PACKET and AF_XDP read what arrives on the interface. This host's own frames
    # to ssdk would leave on it and never come back in (AF_PACKET ignores outgoing
    # frames; XDP sees only received ones), and ssdk's answers would go out on the wire.
    instead = (
        "test from another host or network namespace (ssdk demo shows one), or "
        "serve on a TAP on this host: ssdk dev / --backend tap"
    )
    if route is not None and route.oif == t.iface and route.gateway is None:
        return warn(
            f"this host sends to {ip} {how}, where ssdk cannot see its frames: a "
            "client on this host gets no answer",
            instead,
        )
    if route is not None and route.oif == t.iface:
        return warn(
            f"this host sends to {ip} {how}: ssdk sees those frames only if "
            f"{route.gateway} sends them back onto the link",
            instead,
        )
    where = f"sends to {ip} {how}, not into {t.iface}" if route else f"has no route to {ip}"
    return ok(f"this host {where}: clients reach ssdk over {t.iface}'s link, this host does not")


def _peer(ip: ipaddress.IPv4Interface) -> str:
    """An address for the kernel's end of a TAP beside ssdk's: the subnet's first host,
    or the next one when that is ssdk's."""
    hosts = iter(ip.network.hosts())
    first = next(hosts, ip.ip)
    mine = first if first != ip.ip else next(hosts, ip.ip)
    return f"{mine}/{ip.network.prefixlen}"


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"


# What the results look like: `ssdk doctor` prints a report, serve its failures.

MARKS = {Status.OK: "ok", Status.WARN: "warn", Status.FAIL: "FAIL", Status.SKIP: "-"}


def format_report(target: Target, results: list[Result]) -> str:
    """One line per check (mark, name, finding), the fix under each that is not ok,
    and a closing count."""
    width = max(len(r.name) for r in results)
    head = ", ".join(
        filter(
            None,
            (
                target.iface or "no --iface",
                target.backend,
                f"{target.workers} worker{'s' * (target.workers > 1)}",
                f"queue {target.queue}" if target.backend == "af_xdp" and target.queue else "",
                str(target.ip.ip) if target.ip else "no --ip",
            ),
        )
    )
    lines = [f"ssdk doctor: {head}"]
    for r in results:
        lines.append(f"  {MARKS[r.finding.status]:<4}  {r.name:<{width}}  {r.finding.text}")
        if r.finding.fix and r.finding.status in (Status.FAIL, Status.WARN):
            lines.append(f"  {'':<4}  {'':<{width}}  fix: {r.finding.fix}")
    count = {s: sum(r.finding.status is s for r in results) for s in Status}
    failed = count[Status.FAIL]
    verdict = f"{failed} check{'s' * (failed > 1)} failed" if failed else "nothing stops ssdk serve"
    lines.append(f"{verdict}; {count[Status.WARN]} warning{'s' * (count[Status.WARN] != 1)}")
    return "\n".join(lines)


def report_json(target: Target, results: list[Result]) -> str:
    data = {
        "target": {**asdict(target), "ip": str(target.ip) if target.ip else None},
        "checks": [
            {
                "name": r.name,
                "status": r.finding.status.value,
                "finding": r.finding.text,
                "fix": r.finding.fix or None,
            }
            for r in results
        ],
        "failed": any(r.finding.status is Status.FAIL for r in results),
    }
    return json.dumps(data, indent=2)


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.finding.status is Status.FAIL for r in results) else 0


def serve_line(r: Result) -> str:
    """A finding as serve prints it: one line, its fix after a semicolon."""
    return f"{r.finding.text}; fix: {r.finding.fix}" if r.finding.fix else r.finding.text


@dataclass
class BadOption(ValueError):
    """A failing check whose fix is another value for one option (exit code 2)."""

    message: str
    param: str = field(default="")

    def __str__(self) -> str:
        return self.message


def preflight(opts: ServeOptions, probe: Probe | None = None) -> int:
    """The checks of opts.backend before serve starts: warnings are printed and serve
    goes on; a failure whose fix is another option value raises BadOption, the other
    failures are printed one line each and 1 is returned (0: go on)."""
    results = run_checks(Target.of(opts), probe, relevant_only=True)
    failed = [r for r in results if r.finding.status is Status.FAIL]
    for r in failed:
        if r.finding.param:
            raise BadOption(serve_line(r), r.finding.param)
    for r in results:
        if r.finding.status is Status.WARN:
            print(f"ssdk: warning: {serve_line(r)}", file=sys.stderr, flush=True)
    for r in failed:
        print(f"ssdk: error: {serve_line(r)}", file=sys.stderr, flush=True)
    return 1 if failed else 0
