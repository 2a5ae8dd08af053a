# bench/cpu.py: CPU time as bench/wrk_vs_nginx.py measures it: /proc/stat's per-core
# jiffies (the whole machine, each core, a core's busy fraction over a run), the user and
# system time of a process tree (/proc/PID/stat), and the load average.
from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
BUSY = ("user", "nice", "system", "irq", "softirq", "steal")


def proc_stat() -> dict[str, list[int]]:
    """/proc/stat's cpu lines: name -> jiffies (user nice system idle iowait irq softirq
    steal ...)."""
    out: dict[str, list[int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                name, *vals = line.split()
                out[name] = [int(v) for v in vals]
    return out


def cpu_delta(a: list[int], b: list[int]) -> dict[str, float]:
    """Seconds per /proc/stat field between two samples of one cpu line, busy (user +
    nice + system + irq + softirq + steal), total (all eight fields) and busy_fraction
    (busy / total: how much of the interval the core, or the machine, was busy)."""
    d = {k: (b[i] - a[i]) / CLK_TCK for i, k in enumerate(STAT_FIELDS)}
    d["busy"] = sum(d[k] for k in BUSY)
    d["total"] = sum(d[k] for k in STAT_FIELDS)
    d["busy_fraction"] = d["busy"] / d["total"] if d["total"] > 0 else 0.0
    return d


def tree_cpu(root: int) -> dict[str, float]:
    """utime and stime (seconds) of ``root`` and every live descendant, plus what they
    collected from children they waited for."""
    procs: dict[int, tuple[int, list[str]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        procs[int(entry)] = (int(fields[1]), fields)
    members = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    user = system = 0
    for pid in members:
        if pid in procs:
            f = procs[pid][1]  # fields from state on: utime is index 11, stime 12, c* 13, 14
            user += int(f[11]) + int(f[13])
            system += int(f[12]) + int(f[14])
    return {"user": user / CLK_TCK, "system": system / CLK_TCK, "pids": len(members)}


def loadavg1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])
