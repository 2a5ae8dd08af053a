"""The doctor's table: what a check is, what it finds, and the one registry of checks.

doctor.run_checks(target, probe) -> each Check in CHECKS, in order: skipped where its
backend or interface does not apply, else check.run(target, probe) -> Finding

A check is added with @check (or register_check), as route convertors are with
register_convertor; checks.py holds ssdk's own. Nothing here reads the system: the
probe (probe.py) does.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from ssdk.core.cdefs import DEFAULT_MSS

if TYPE_CHECKING:
    from ssdk.serve import ServeOptions
    from ssdk.tools.doctor.probe import Probe

BACKENDS = ("af_packet", "af_xdp", "tap", "netmap")
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
    # The address the report names: the first IPv4 --ip, else the first.
    ip: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None
    # Every --ip (ip among them); empty: ip alone. The address checks look at each.
    addrs: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...] = ()
    v6: bool = False  # an IPv6 --ip too: segments carry 20 bytes more of IP header
    workers: int = 1
    queue: int = 0
    xdp_mode: str = "auto"
    mss: int = DEFAULT_MSS
    # The pool and the handshake (ssdk_config_default's values): the syn-flood check.
    max_conns: int = 4096
    syn_backlog: int = 1024
    synack_retries: int = 5

    @classmethod
    def of(cls, opts: ServeOptions) -> Target:
        return cls(
            backend=opts.backend,
            iface=opts.iface,
            ip=opts.ip,
            addrs=opts.served(),
            v6=any(a.version == 6 for a in opts.served()),
            workers=opts.workers,
            queue=opts.queue,
            xdp_mode=opts.xdp_mode,
            mss=opts.mss,
            max_conns=opts.max_conns,
            syn_backlog=opts.tcp.get("syn_backlog", cls.syn_backlog),
            synack_retries=opts.tcp.get("synack_retries", cls.synack_retries),
        )

    def served(self) -> tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]:
        """Every address to check: addrs, or ip alone (none without --ip)."""
        return self.addrs or ((self.ip,) if self.ip else ())


CheckFn: TypeAlias = "Callable[[Target, Probe], Finding]"


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
    if probe is None:
        from ssdk.tools.doctor.probe import LiveProbe  # the real system, by default

        probe = LiveProbe()
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
