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

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from ssdk.tools.doctor import checks as _checks  # noqa: F401  (registers ssdk's checks)
from ssdk.tools.doctor.probe import LiveProbe, Probe
from ssdk.tools.doctor.table import (
    BACKENDS,
    CAP_BPF,
    CAP_IPC_LOCK,
    CAP_NAMES,
    CAP_NET_ADMIN,
    CAP_NET_RAW,
    CAP_SYS_ADMIN,
    CHECKS,
    SLOT,
    Check,
    Finding,
    Result,
    Status,
    Target,
    check,
    fail,
    ok,
    register_check,
    run_checks,
    skip,
    warn,
)

if TYPE_CHECKING:
    from ssdk.serve import ServeOptions

__all__ = [
    "BACKENDS", "CAP_BPF", "CAP_IPC_LOCK", "CAP_NAMES", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_SYS_ADMIN", "CHECKS", "SLOT", "BadOption", "Check", "Finding", "LiveProbe",
    "Probe", "Result", "Status", "Target", "check", "exit_code", "fail", "format_report",
    "ok", "preflight", "register_check", "report_json", "run_checks", "serve_line", "skip",
    "warn",
]  # fmt: skip

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
                f"queue {target.queue}"
                if target.backend in ("af_xdp", "netmap") and target.queue
                else "",
                ", ".join(str(a.ip) for a in target.served()) or "no --ip",
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
        "target": {
            **asdict(target),
            "ip": str(target.ip) if target.ip else None,
            "addrs": [str(a) for a in target.served()],
        },
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
