# bench/kernel_net.py: the kernel network settings bench/wrk_vs_nginx.py makes inside the
# namespaces it creates: RPS (which core runs an interface's receive processing) and the
# default TCP congestion control of a namespace.
#
# Both are written inside the namespace with `ip netns exec NS sh -c ...`: ip netns exec
# mounts a fresh sysfs in its own mount namespace, so /sys/class/net there shows that
# network namespace's devices; /proc/sys/net is the namespace's own as well.
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ssdk.tools.netns import ns_exec

SYSCTL = Path("/proc/sys/net/ipv4")


def _sh(ns: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ns_exec(ns, ["sh", "-c", script]), capture_output=True, text=True, check=False, timeout=30
    )


def cpu_mask(cpu: int) -> str:
    """The hexadecimal CPU mask of one core, as rps_cpus takes it."""
    return format(1 << cpu, "x")


def set_rps(ns: str, ifname: str, cpu: int) -> dict[str, Any]:
    """Steer the receive processing of every RX queue of ``ifname`` (in ``ns``) to ``cpu``:
    write its mask to /sys/class/net/IF/queues/rx-*/rps_cpus; return the command and what
    each queue's file says afterwards."""
    mask = cpu_mask(cpu)
    queues = f"/sys/class/net/{ifname}/queues/rx-*"
    script = f"for q in {queues}; do echo {mask} > $q/rps_cpus || exit 1; done"
    done = _sh(ns, script)
    shown = _sh(ns, f"grep -H . {queues}/rps_cpus")
    now: dict[str, str] = {}
    for line in shown.stdout.splitlines():
        path, _, val = line.partition(":")
        now[path.split("/")[-2]] = val.strip()
    out: dict[str, Any] = {"cpu": cpu, "mask": mask, "command": script, "rps_cpus": now}
    if done.returncode != 0:
        out["error"] = done.stderr.strip() or f"exit {done.returncode}"
    return out


def read_cc(ns: str) -> str:
    """A namespace's default TCP congestion control (net.ipv4.tcp_congestion_control)."""
    got = _sh(ns, f"cat {SYSCTL}/tcp_congestion_control")
    return got.stdout.strip() or f"(unreadable: {got.stderr.strip()})"


def set_cc(ns: str, name: str) -> dict[str, Any]:
    """Make ``name`` the default TCP congestion control of namespace ``ns``.

    Outside the initial namespace the kernel sets a default only from
    net.ipv4.tcp_allowed_congestion_control, which is global. When ``name`` is available
    but not allowed, it is added to that list for the moment of the write and the list is
    put back right after: a namespace keeps the default it was given, and the host's
    list is as it was. Returns what was done and the setting in effect afterwards."""
    out: dict[str, Any] = {"requested": name, "before": read_cc(ns)}
    write = f"echo {name} > {SYSCTL}/tcp_congestion_control"
    first = _sh(ns, write)
    if first.returncode != 0:
        allowed_file = SYSCTL / "tcp_allowed_congestion_control"
        try:
            available = (SYSCTL / "tcp_available_congestion_control").read_text().split()
            allowed = allowed_file.read_text().strip()
        except OSError as e:
            available, allowed = [], ""
            out["error"] = str(e)
        if name in available and name not in allowed.split():
            out["allowed_list"] = allowed
            out["allowed_list_extended_for_the_write"] = True
            try:
                try:
                    allowed_file.write_text(f"{allowed} {name}\n")
                    second = _sh(ns, write)
                finally:
                    allowed_file.write_text(allowed + "\n")
                if second.returncode != 0:
                    out["error"] = second.stderr.strip()
            except OSError as e:
                out["error"] = str(e)
        elif "error" not in out:
            out["error"] = first.stderr.strip() or f"{name} is not available here"
    out["in_effect"] = read_cc(ns)
    return out


# The kernel's TCP counters that say what a sender lost or probed, for nginx's side.
TCP_COUNTERS = (
    "Tcp:RetransSegs",
    "Tcp:OutSegs",
    "TcpExt:TCPLossProbes",
    "TcpExt:TCPLossProbeRecovery",
    "TcpExt:TCPTimeouts",
    "TcpExt:TCPSackRecovery",
)


def tcp_counters(ns: str) -> dict[str, int]:
    """TCP_COUNTERS of namespace ``ns`` (/proc/net/snmp and /proc/net/netstat)."""
    proc = _sh(ns, "cat /proc/net/snmp /proc/net/netstat")
    out: dict[str, int] = {}
    lines = proc.stdout.splitlines()
    for head, values in zip(lines[0::2], lines[1::2], strict=False):
        names, nums = head.split(), values.split()
        if not names or names[0] != nums[0]:
            continue
        for name, num in zip(names[1:], nums[1:], strict=False):
            key = f"{names[0]}{name}"
            if key in TCP_COUNTERS:
                out[key] = int(num)
    return out
