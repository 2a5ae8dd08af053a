# bench/wrk_vs_nginx.py: `sudo python3 -m bench.wrk_vs_nginx [--duration S] [--quick]
# [--headline] [--only KEY=V,...] [--profile] [--attempts N] [--quiet-wait S]
# [--baseline JSON]`, from the repository's root. The wrk benchmark: the same files served
# on one topology (two network namespaces, one veth pair with one queue, the server pinned
# to one core and the client to the other, each veth end's receive processing steered by
# RPS to its own side's core) by
#   ssdk-af_xdp              ssdk serve --backend af_xdp    (veth offloads off on both ends)
#   ssdk-af_packet           ssdk serve --backend af_packet (veth offloads off on both ends)
#   ssdk-af_packet-gso       ... --backend af_packet --gso on    (veth offloads on)
#   ssdk-af_xdp-offloads-on  ... --backend af_xdp --gso auto     (veth offloads on)
#   nginx-offloads-off       nginx, TSO, GSO, GRO and checksum offload off on both ends
#   nginx-offloads-on        nginx, TSO, GSO, GRO and checksum offload on on both ends
# for every file size (64 B to 1 MiB), keep-alive, one connection per request and
# pipelined (16 requests per write, bench/pipeline.lua; at 16 and 256 connections, 64 B to
# 8 KiB), and 1, 16 and 256 connections (wrk -t1). One size at a time, every server in
# turn. Each run records requests/s, Gbit/s of bodies, CPU seconds of the whole machine
# per 10,000 requests (/proc/stat), the server core's busy fraction and requests/s per
# busy server core, the server's own CPU (/proc/PID/stat), p50/p99 latency, errors, the
# load average before it, and for ssdk its frames per second (--stats-file). ssdk and
# nginx run with the same congestion control (cubic by default; recorded). Before each
# run it waits (at most --quiet-wait seconds) for the two cores to be idle, and a run
# during which other processes took user time on them is repeated (at most --attempts
# runs; all are recorded). Before the servers, the path's own packet rate is measured with
# bench/reflector (an AF_XDP UDP reflector and a UDP load generator, built here with
# gcc): the "ceiling". --profile adds a `perf record` of the server core during the 1 KiB
# 16-connection runs of each server (keep-alive, close). --headline runs issue 13's goal
# rows only. A server whose `ssdk serve` command line is refused (an option this
# checkout lacks) is skipped with a recorded error. Prints a table and issue 13's goals
# as measured, and writes bench/results/wrk_vs_nginx.json; bench.plot draws it. It
# reports; it never asserts.
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    NGINX_CONF,
    REPO,
    RESULTS_DIR,
    cannot_run,
    fmt,
    pick_cpus,
    pin,
    running,
    unwind_on_term,
    wait_http,
)
from bench.cpu import CLK_TCK, STAT_FIELDS, cpu_delta, loadavg1, proc_stat, tree_cpu
from bench.goals import judge, print_goals
from bench.kernel_net import read_cc, set_cc, set_rps, tcp_counters
from ssdk.tools.netns import Topology, kernel_owns_server_ip, ns_exec, veth_pair

RESULTS = RESULTS_DIR / "wrk_vs_nginx.json"
REFLECTOR = BENCH / "reflector"

SIZES = {"64B": 64, "1KiB": 1024, "8KiB": 8 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20}
MODES = ("keepalive", "close", "pipelined")
CONNS = (1, 16, 256)
# Pipelined runs: DEPTH requests per write (bench/pipeline.lua), at 16 and 256
# connections, and in the whole matrix only for the small files the plaintext benchmarks
# pipeline (--only size=... asks for others).
PIPELINE_LUA = BENCH / "pipeline.lua"
PIPELINE_DEPTH = 16
PIPELINED_CONNS = (16, 256)
PIPELINED_SIZES = ("64B", "1KiB", "8KiB")
QUICK = {"size": ["1KiB", "64KiB"], "mode": ["keepalive", "close"], "conns": ["16"]}
WRK_TIMEOUT_S = 5
PROFILE_RUNS = (("1KiB", "keepalive", 16), ("1KiB", "close", 16))

Workload = tuple[str, str, int]  # size label, mode, connections


@dataclass(frozen=True)
class ServerSpec:
    name: str
    kind: str  # "ssdk" or "nginx"
    backend: str | None  # ssdk's backend
    offloads: bool  # TSO, GSO, GRO and checksum offload on both veth ends
    serve_args: tuple[str, ...] = ()  # more arguments of `ssdk serve`


SERVERS = (
    ServerSpec("ssdk-af_xdp", "ssdk", "af_xdp", False),
    ServerSpec("ssdk-af_packet", "ssdk", "af_packet", False),
    ServerSpec("ssdk-af_packet-gso", "ssdk", "af_packet", True, ("--gso", "on")),
    ServerSpec("ssdk-af_xdp-offloads-on", "ssdk", "af_xdp", True, ("--gso", "auto")),
    ServerSpec("nginx-offloads-off", "nginx", None, False),
    ServerSpec("nginx-offloads-on", "nginx", None, True),
)
PLAIN = ("ssdk-af_xdp", "ssdk-af_packet", "nginx-offloads-off", "nginx-offloads-on")
GSO = ("ssdk-af_packet-gso", "ssdk-af_xdp-offloads-on")

# --headline: issue 13's goal rows, each with the servers it runs on.
HEADLINE: tuple[tuple[Workload, tuple[str, ...]], ...] = (
    (("1KiB", "keepalive", 16), PLAIN),
    (("1KiB", "keepalive", 256), PLAIN),
    (("1KiB", "pipelined", 16), PLAIN),
    (("1KiB", "pipelined", 256), PLAIN),
    (("8KiB", "keepalive", 256), PLAIN + GSO),
    (("64KiB", "keepalive", 256), PLAIN + GSO),
    (("1MiB", "keepalive", 256), PLAIN + GSO),
    (("64KiB", "keepalive", 16), PLAIN + GSO),
    (("1MiB", "keepalive", 16), PLAIN + GSO),
)


# The veth features switched between phases, and those recorded in the JSON.
OFFLOAD_FLAGS = ("tx", "rx", "sg", "tso", "gso", "gro")
ETHTOOL_KEYS = (
    "rx-checksumming",
    "tx-checksumming",
    "scatter-gather",
    "tcp-segmentation-offload",
    "generic-segmentation-offload",
    "generic-receive-offload",
    "large-receive-offload",
)

APP = """\
import ssdk

app = ssdk.App()
app.static("/files", "www/files/")
"""


def file_name(size_label: str) -> str:
    return f"f{size_label.lower()}.bin"


def write_site(tmp: Path) -> None:
    """The app and the files every server of the lab serves, under ``tmp``: one file of
    each size, the same bytes in every run (seeded by its label)."""
    files = tmp / "www" / "files"
    files.mkdir(parents=True)
    for label, nbytes in SIZES.items():
        (files / file_name(label)).write_bytes(random.Random(label).randbytes(nbytes))
    (tmp / "app.py").write_text(APP)


def run_text(argv: list[str], timeout: float = 30) -> str:
    """stdout+stderr of a command that may be missing or fail: for the record only."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"({argv[0]}: {e})"
    return (p.stdout + p.stderr).strip()


# ---------------------------------------------------------------- measurements


def ethtool_state(ns: str, ifname: str) -> dict[str, str]:
    """The recorded offload features of one interface as `ethtool -k` shows them."""
    text = run_text(ns_exec(ns, ["ethtool", "-k", ifname]))
    state: dict[str, str] = {}
    for line in text.splitlines():
        key, _, val = line.strip().partition(":")
        if key in ETHTOOL_KEYS:
            state[key] = val.strip()
    return state


def set_offloads(topo: Topology, on: bool) -> dict[str, Any]:
    """Switch checksum offload, SG, TSO, GSO and GRO on or off on both veth ends; return
    the commands and the state then in effect."""
    word = "on" if on else "off"
    cmds = []
    for ns, ifname in ((topo.client_ns, topo.client_if), (topo.server_ns, topo.server_if)):
        argv = ["ethtool", "-K", ifname]
        for flag in OFFLOAD_FLAGS:
            argv += [flag, word]
        subprocess.run(ns_exec(ns, argv), capture_output=True, text=True, check=True)
        cmds.append(" ".join(argv))
    return {
        "commands": cmds,
        "client": ethtool_state(topo.client_ns, topo.client_if),
        "server": ethtool_state(topo.server_ns, topo.server_if),
    }


def xdp_attached(topo: Topology) -> bool:
    text = run_text(["ip", "-d", "-n", topo.server_ns, "link", "show", "dev", topo.server_if])
    return bool(re.search(r"\bxdp(generic|drv|offload)?\b|prog/xdp", text))


# ---------------------------------------------------------------- wrk


_TIME_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    return float(m.group(1)) * _TIME_UNITS[m.group(2)] if m else None


_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def parse_wrk(stdout: str, stderr: str, rc: int) -> dict[str, Any]:
    res: dict[str, Any] = {"wrk_exit": rc}
    m = re.search(r"Requests/sec:\s*([\d.]+)", stdout)
    res["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"Transfer/sec:\s*([\d.]+)\s*([KMGT]?B)", stdout)
    res["wrk_transfer_bytes_per_s"] = float(m.group(1)) * _UNITS[m.group(2)] if m else None
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", stdout)
    res["requests"] = int(m.group(1)) if m else None
    took = to_us(m.group(2)) if m else None
    res["wrk_seconds"] = took / 1e6 if took else None
    m = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", stdout, re.M)
    res["latency_avg_us"] = to_us(m.group(1)) if m else None
    res["latency_max_us"] = to_us(m.group(3)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+(\S+)", stdout, re.M)
        res[f"latency_p{pct}_us"] = to_us(m.group(1)) if m else None
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"Socket errors: (.*)", stdout)
    if m:
        for kind, n in re.findall(r"(\w+) (\d+)", m.group(1)):
            errors[kind] = int(n)
    res["socket_errors"] = errors
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    res["non_2xx"] = int(m.group(1)) if m else 0
    res["wrk_output"] = stdout + stderr
    return res


def wrk_argv(
    topo: Topology, path: str, mode: str, conns: int, duration: int, scheme: str = "http"
) -> list[str]:
    """wrk's command line for one run; ``scheme`` https for bench/https_vs_nginx.py."""
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", f"--timeout={WRK_TIMEOUT_S}s"]
    argv += ["--latency"]
    if mode == "close":
        argv += ["-H", "Connection: close"]
    if mode == "pipelined":
        argv += ["-s", str(PIPELINE_LUA)]
    argv.append(f"{scheme}://{topo.server_ip}{path}")
    if mode == "pipelined":
        argv += ["--", str(PIPELINE_DEPTH)]
    return argv


LATENCY_KEYS = ("latency_avg_us", "latency_max_us", *(f"latency_p{p}_us" for p in (50, 75, 90, 99)))


def pipelined_latency(row: dict[str, Any], conns: int) -> None:
    """wrk's latency figures are not kept for pipelined runs: wrk records one latency per
    write of PIPELINE_DEPTH requests, then "corrects" its histogram for coordinated
    omission with an interval computed from the count of responses (DEPTH times too
    short), which adds synthetic samples below its recorded minimum that its percentiles
    never reach (p90 and p99 come out as 0). What stays: the mean time a write waits for
    all its answers by Little's law (every connection has one write outstanding):
    connections x DEPTH / requests per second."""
    row["wrk_latency_as_printed_us"] = {k: row[k] for k in LATENCY_KEYS}
    for k in LATENCY_KEYS:
        row[k] = None
    rps = row["requests_per_s"]
    row["write_latency_mean_us"] = conns * PIPELINE_DEPTH / rps * 1e6 if rps else None


def fresh_stats(path: Path, after: float, timeout: float = 3.0) -> dict[str, int] | None:
    """ssdk's counters from a stats file written after ``after`` (time.time())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if path.stat().st_mtime > after:
                return dict(json.loads(path.read_text()))
        time.sleep(0.05)
    return None


@dataclass
class Ctx:
    topo: Topology
    tmp: Path
    server_cpu: int | None
    client_cpu: int | None
    duration: int
    attempts: int = 3
    quiet_wait: float = 30.0
    foreign_max: float = 0.05
    quiet_busy: float = 0.05
    ssdk_cc: str = "cubic"
    scheme: str = "http"  # wrk's URLs: https for bench/https_vs_nginx.py
    rejected: dict[str, str] = field(default_factory=dict)  # server -> why serve refused


def cpu_record(ctx: Ctx, t0: dict[str, list[int]], t1: dict[str, list[int]]) -> dict[str, Any]:
    """/proc/stat deltas: the whole machine, and each pinned core."""
    cpu: dict[str, Any] = {"machine": cpu_delta(t0["cpu"], t1["cpu"])}
    for role, core in (("server_core", ctx.server_cpu), ("client_core", ctx.client_cpu)):
        if core is not None:
            cpu[role] = cpu_delta(t0[f"cpu{core}"], t1[f"cpu{core}"])
    return cpu


def foreign_user(
    ctx: Ctx, cpu: dict[str, Any], server: dict[str, float], client: dict[str, float]
) -> float | None:
    """User-mode CPU seconds spent on the two benchmark cores by processes other than the
    server and the client: other work on the machine. (Kernel time cannot be told apart
    this way: softirq work for the benchmark may be charged to any task.)"""
    if "server_core" not in cpu or "client_core" not in cpu:
        return None
    core_user = sum(cpu[c]["user"] + cpu[c]["nice"] for c in ("server_core", "client_core"))
    return float(max(0.0, core_user - server["user"] - client["user"]))


def wait_quiet(ctx: Ctx) -> tuple[float, float]:
    """Wait (at most ctx.quiet_wait seconds) until the two benchmark cores have been
    almost idle (busy below ctx.quiet_busy of their time) for half a second, while no
    benchmark traffic runs. Returns the seconds waited and the last busy fraction."""
    cores = [f"cpu{c}" for c in (ctx.server_cpu, ctx.client_cpu) if c is not None] or ["cpu"]
    start = time.monotonic()
    while True:
        a = proc_stat()
        time.sleep(0.5)
        b = proc_stat()
        busy = sum(cpu_delta(a[c], b[c])["busy"] for c in cores)
        total = sum(sum(cpu_delta(a[c], b[c])[k] for k in STAT_FIELDS) for c in cores)
        frac = busy / total if total else 0.0
        waited = time.monotonic() - start
        if frac <= ctx.quiet_busy or waited >= ctx.quiet_wait:
            return round(waited, 2), round(frac, 3)


def measure_quiet(
    ctx: Ctx,
    spec: ServerSpec,
    pid: int,
    size_label: str,
    mode: str,
    conns: int,
    stats_file: Path | None,
    run: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """measure() (or ``run``, which takes the same arguments), repeated (up to
    ctx.attempts times) while other work on the machine took more than ctx.foreign_max of
    the run's length in user time on the benchmark cores; the least disturbed attempt is
    kept, the others are listed in it."""
    rows = []
    for _ in range(ctx.attempts):
        waited, busy = wait_quiet(ctx)
        row = (run or measure)(ctx, spec, pid, size_label, mode, conns, stats_file)
        row["quiet_wait"] = {"seconds": waited, "cores_busy_before": busy}
        rows.append(row)
        foreign = row["cpu"]["foreign_user_s"]
        if foreign is None or foreign <= ctx.foreign_max * ctx.duration:
            break
    best = min(rows, key=lambda r: r["cpu"]["foreign_user_s"] or 0.0)
    best["attempts"] = [
        {k: r[k] for k in ("requests_per_s", "loadavg_1m_before")}
        | {"foreign_user_s": r["cpu"]["foreign_user_s"], "quiet_wait_s": r["quiet_wait"]["seconds"]}
        for r in rows
    ]
    return best


def measure(
    ctx: Ctx,
    spec: ServerSpec,
    pid: int,
    size_label: str,
    mode: str,
    conns: int,
    stats_file: Path | None,
) -> dict[str, Any]:
    """One wrk run with everything measured around it."""
    path = f"/files/{file_name(size_label)}"
    argv = wrk_argv(ctx.topo, path, mode, conns, ctx.duration, ctx.scheme)
    row = new_row(ctx, spec, size_label, mode, conns)
    row["wrk"] = " ".join("URL" if a.startswith(("http://", "https://")) else a for a in argv)

    def run_wrk() -> dict[str, Any]:
        proc = subprocess.run(
            ns_exec(ctx.topo.client_ns, pin(ctx.client_cpu, argv)),
            capture_output=True,
            text=True,
            timeout=ctx.duration + 60,
            check=False,
        )
        return parse_wrk(proc.stdout, proc.stderr, proc.returncode)

    measure_around(ctx, spec, pid, row, stats_file, run_wrk, "wrk")
    if mode == "pipelined":
        pipelined_latency(row, conns)
    return row


def new_row(ctx: Ctx, spec: ServerSpec, size_label: str, mode: str, conns: int) -> dict[str, Any]:
    return {
        "server": spec.name,
        "size": size_label,
        "bytes": SIZES[size_label],
        "mode": mode,
        "conns": conns,
        "duration_s": ctx.duration,
    }


def measure_around(
    ctx: Ctx,
    spec: ServerSpec,
    pid: int,
    row: dict[str, Any],
    stats_file: Path | None,
    run_client: Callable[[], dict[str, Any]],
    client: str,
) -> None:
    """Run the load (``run_client``: its figures for the row, requests and requests_per_s
    among them; its processes waited for) and measure around it, into ``row``: CPU of
    the machine, of each core, of the server and of the client (named ``client``), and
    ssdk's frames and counters from ``stats_file``."""
    size = row["bytes"]
    row["loadavg_1m_before"] = loadavg1()
    before_stats = fresh_stats(stats_file, time.time()) if stats_file else None
    kernel0 = tcp_counters(ctx.topo.server_ns) if spec.kind == "nginx" else None
    p0, t0, c0 = tree_cpu(pid), proc_stat(), resource.getrusage(resource.RUSAGE_CHILDREN)
    got = run_client()
    t1, p1, c1 = proc_stat(), tree_cpu(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    ended = time.time()
    row.update(got)
    if kernel0 is not None:  # nginx's sender: what the kernel resent and probed
        kernel1 = tcp_counters(ctx.topo.server_ns)
        row["kernel_tcp_counters"] = {k: kernel1[k] - kernel0.get(k, 0) for k in kernel1}
    reqs = row["requests"] or 0
    rps = row["requests_per_s"]
    row["gbit_per_s"] = rps * size * 8 / 1e9 if rps is not None else None
    cpu = cpu_record(ctx, t0, t1)
    cpu["server_process"] = {"user": p1["user"] - p0["user"], "system": p1["system"] - p0["system"]}
    # the client is the only child waited for during the run (ip netns exec and taskset
    # exec it)
    cpu[client] = {"user": c1.ru_utime - c0.ru_utime, "system": c1.ru_stime - c0.ru_stime}
    cpu["foreign_user_s"] = foreign_user(ctx, cpu, cpu["server_process"], cpu[client])
    row["cpu"] = cpu
    machine = cpu["machine"]

    def per10k(s: float) -> float | None:
        return s / reqs * 1e4 if reqs else None

    row["machine_cpu_s_per_10k"] = per10k(machine["busy"])
    if "server_core" in cpu:
        row["server_core_cpu_s_per_10k"] = per10k(cpu["server_core"]["busy"])
        # requests/s over the server core's busy fraction: requests per busy second of
        # the core the server is pinned to (receive processing steered there by RPS)
        frac = cpu["server_core"]["busy_fraction"]
        row["server_core_busy_fraction"] = frac
        row["per_server_core"] = rps / frac if rps is not None and frac > 0 else None
    if "client_core" in cpu:
        row["client_core_busy_fraction"] = cpu["client_core"]["busy_fraction"]
    row["server_process_cpu_s_per_10k"] = per10k(
        cpu["server_process"]["user"] + cpu["server_process"]["system"]
    )
    if stats_file:
        after_stats = fresh_stats(stats_file, ended)
        if before_stats and after_stats:
            fin = after_stats["rx_frames"] - before_stats["rx_frames"]
            fout = after_stats["tx_frames"] - before_stats["tx_frames"]
            secs = row.get("wrk_seconds") or row.get("client_seconds") or ctx.duration
            row["ssdk_frames"] = {
                "in": fin,
                "out": fout,
                "per_s": (fin + fout) / secs,
                "per_request": (fin + fout) / reqs if reqs else None,
            }
            keys = set(before_stats) | set(after_stats)
            row["ssdk_counters"] = {
                k: after_stats.get(k, 0) - before_stats.get(k, 0)
                for k in sorted(keys)
                if after_stats.get(k, 0) != before_stats.get(k, 0)
            }


# ---------------------------------------------------------------- servers


def verify_files(ctx: Ctx, sizes: list[str]) -> dict[str, bool]:
    """Fetch every file once with curl and compare its sha256 with the file's."""
    ok: dict[str, bool] = {}
    for label in sizes:
        name = file_name(label)
        out = ctx.tmp / f"fetched-{name}"
        subprocess.run(
            ns_exec(ctx.topo.client_ns, ["curl", "-s", "--max-time", "20", "-o", str(out)])
            + [f"http://{ctx.topo.server_ip}/files/{name}"],
            check=False,
        )
        want = hashlib.sha256((ctx.tmp / "www" / "files" / name).read_bytes()).hexdigest()
        got = hashlib.sha256(out.read_bytes()).hexdigest() if out.exists() else ""
        ok[label] = got == want
        out.unlink(missing_ok=True)
    return ok


def perf_profile(
    ctx: Ctx,
    spec: ServerSpec,
    pid: int,
    stats_file: Path | None,
    run: tuple[str, str, int],
    how: Callable[..., dict[str, Any]] | None = None,
    client: bool = False,
) -> dict[str, Any]:
    """perf record of the server core (the client's with ``client``) during one wrk run
    (or one run of ``how``, which takes measure's arguments), repeated as measure_quiet
    repeats runs disturbed by other work; a summary of the least disturbed."""
    tried = []
    for _ in range(ctx.attempts):
        tried.append(perf_once(ctx, spec, pid, stats_file, run, how, client))
        foreign = tried[-1].get("foreign_user_s")
        if foreign is None or foreign <= ctx.foreign_max * ctx.duration:
            break
    best = min(tried, key=lambda p: p.get("foreign_user_s") or 0.0)
    best["attempts"] = [{"foreign_user_s": p.get("foreign_user_s")} for p in tried]
    return best


def perf_once(
    ctx: Ctx,
    spec: ServerSpec,
    pid: int,
    stats_file: Path | None,
    run: tuple[str, str, int],
    how: Callable[..., dict[str, Any]] | None = None,
    client: bool = False,
) -> dict[str, Any]:
    """perf record -e cpu-clock -C <server core> -g during one wrk run; a summary."""
    core = ctx.client_cpu if client else ctx.server_cpu
    if shutil.which("perf") is None or core is None:
        return {"error": "perf or a separate server core is missing"}
    size, mode, conns = run
    data = ctx.tmp / f"perf-{spec.name}-{mode}.data"
    secs = max(1, ctx.duration - 1)
    waited, busy = wait_quiet(ctx)
    perf = subprocess.Popen(
        ["perf", "record", "-e", "cpu-clock", "-C", str(core), "-g", "-o", str(data)]
        + ["--", "sleep", str(secs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    row = (how or measure)(ctx, spec, pid, size, mode, conns, stats_file)
    _, perr = perf.communicate(timeout=60)
    out: dict[str, Any] = {
        "server": spec.name,
        "run": {"size": size, "mode": mode, "conns": conns},
        "requests_per_s_under_perf": row["requests_per_s"],
        "quiet_wait": {"seconds": waited, "cores_busy_before": busy},
        "foreign_user_s": row["cpu"]["foreign_user_s"],
        "core": "client" if client else "server",
        "command": f"perf record -e cpu-clock -C {core} -g -- sleep {secs}",
    }
    if perf.returncode != 0 or not data.exists():
        out["error"] = perr.strip()[-2000:]
        return out
    out.update(perf_summary(data))
    return out


def perf_summary(data: Path) -> dict[str, Any]:
    """Self time by command, by user/kernel, the top symbols; inclusive time of the top
    kernel entry points."""
    line_re = re.compile(r"^\s+([\d.]+)%\s+(\S.*?)\s{2,}(\S.*?)\s{2,}\[(k|\.)\]\s+(.*)$")
    text = run_text(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none"]
        + ["--sort", "comm,dso,sym", "--percent-limit", "0"],
        timeout=300,
    )
    top: list[dict[str, Any]] = []
    by_comm: dict[str, float] = {}
    by_dso: dict[str, float] = {}
    split = {"idle": 0.0, "kernel": 0.0, "user": 0.0}
    for line in text.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        pct, comm, dso, mode, sym = float(m.group(1)), *m.group(2, 3, 4, 5)
        by_comm[comm] = by_comm.get(comm, 0.0) + pct
        by_dso[dso] = by_dso.get(dso, 0.0) + pct
        idle = comm == "swapper"
        split["idle" if idle else "kernel" if mode == "k" else "user"] += pct
        if len(top) < 30:
            top.append({"pct": pct, "comm": comm, "dso": dso, "mode": mode, "sym": sym.strip()})
    incl_re = re.compile(r"^\s+([\d.]+)%\s+([\d.]+)%\s+\[(k|\.)\]\s+(.*)$")
    text2 = run_text(
        ["perf", "report", "-i", str(data), "--stdio", "--children", "-g", "none"]
        + ["--sort", "sym", "--percent-limit", "2"],
        timeout=300,
    )
    inclusive: list[dict[str, Any]] = []
    for line in text2.splitlines():
        m = incl_re.match(line)
        if m and len(inclusive) < 40:
            inclusive.append(
                {
                    "children_pct": float(m.group(1)),
                    "self_pct": float(m.group(2)),
                    "mode": m.group(3),
                    "sym": m.group(4).strip(),
                }
            )
    samples = re.search(r"^# Samples: (\S+)", text, re.M)
    return {
        "samples": samples.group(1) if samples else None,
        "split_pct": {k: round(v, 2) for k, v in split.items()},
        "by_comm_pct": {k: round(v, 2) for k, v in sorted(by_comm.items(), key=lambda kv: -kv[1])},
        "by_dso_pct": {k: round(v, 2) for k, v in sorted(by_dso.items(), key=lambda kv: -kv[1])},
        "top_self": top,
        "top_inclusive": inclusive,
    }


class ServeRejected(RuntimeError):
    """ssdk serve refused its command line (exit code 2): an option this checkout's ssdk
    does not have, such as --gso before it existed."""


def start_ssdk(
    ctx: Ctx,
    argv: list[str],
    log: Path,
    env: dict[str, str],
    stack: contextlib.ExitStack,
    phase: dict[str, Any],
) -> subprocess.Popen[str]:
    """Start ssdk serve and wait until it answers. An AF_XDP bind right after another
    AF_XDP socket on the queue was closed (the reflector's) can fail with EBUSY while the
    kernel lets go of the queue in deferred work: that start is retried, and counted."""
    attempts = 3
    for attempt in range(1, attempts + 1):
        inner = contextlib.ExitStack()
        proc = inner.enter_context(running(argv, signal.SIGINT, log, cwd=ctx.tmp, env=env))
        try:
            wait_http(ctx.topo, f"/files/{file_name('64B')}", 120, proc)
        except RuntimeError:
            inner.close()
            if proc.returncode == 2:  # ssdk's exit code for a bad argument
                lines = log.read_text().strip().splitlines()
                raise ServeRejected(lines[-1] if lines else "exit code 2") from None
            busy = "busy" in log.read_text()
            if attempt < attempts and proc.returncode is not None and busy:
                phase.setdefault("start_failures", []).append(log.read_text()[-500:])
                time.sleep(1)
                continue
            raise
        phase["start_attempts"] = attempt
        stack.push(inner.pop_all())
        return proc
    raise RuntimeError("ssdk serve did not start")


@contextmanager
def ssdk_server(ctx: Ctx, spec: ServerSpec, phase: dict[str, Any]) -> Iterator[tuple[int, Path]]:
    bundle = ctx.tmp / "bench.ssdk"
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    if not bundle.exists():
        subprocess.run(
            [sys.executable, "-m", "ssdk", "build", str(ctx.tmp / "app.py"), "-o", str(bundle)],
            cwd=ctx.tmp,
            env=env,
            check=True,
            capture_output=True,
        )
    stats = ctx.tmp / f"stats-{spec.name}.json"
    argv = ns_exec(
        ctx.topo.server_ns,
        pin(ctx.server_cpu, [sys.executable, "-m", "ssdk", "serve", str(bundle)])
        + ["--backend", str(spec.backend), "--iface", ctx.topo.server_if]
        + ["--ip", ctx.topo.server_cidr, "--stats-file", str(stats)]
        + ["--cc", ctx.ssdk_cc, *spec.serve_args],
    )
    phase["command"] = " ".join(argv)
    log = ctx.tmp / f"{spec.name}.log"
    try:
        with contextlib.ExitStack() as stack:
            proc = start_ssdk(ctx, argv, log, env, stack, phase)
            banner = next((ln for ln in log.read_text().splitlines() if "serving" in ln), "")
            phase["banner"] = banner
            m = re.search(r"\(([^)]*)\) at ", banner)
            phase["backend_mode"] = m.group(1) if m else None
            yield proc.pid, stats
            phase["exit_code_before_stop"] = proc.poll()
    finally:
        phase["log_tail"] = log.read_text()[-3000:] if log.exists() else ""
        phase["xdp_attached_after_stop"] = xdp_attached(ctx.topo)


@contextmanager
def nginx_server(
    ctx: Ctx, spec: ServerSpec, phase: dict[str, Any], template: str = NGINX_CONF
) -> Iterator[tuple[int, None]]:
    """nginx with ``template`` (formatted with tmp and ip; NGINX_CONF, or the same with
    HTTPS for bench/https_vs_nginx.py), pinned to the server core, the kernel owning the
    server address, until the block ends."""
    conf = ctx.tmp / "nginx.conf"
    conf.write_text(template.format(tmp=ctx.tmp, ip=ctx.topo.server_ip))
    phase["nginx_conf"] = conf.read_text()
    argv = ns_exec(
        ctx.topo.server_ns, pin(ctx.server_cpu, ["nginx", "-p", str(ctx.tmp), "-c", str(conf)])
    )
    phase["command"] = " ".join(argv)
    log = ctx.tmp / f"{spec.name}.log"
    try:
        with (
            kernel_owns_server_ip(ctx.topo),
            running(argv, signal.SIGQUIT, log, cwd=ctx.tmp) as proc,
        ):
            wait_http(ctx.topo, f"/files/{file_name('64B')}", 30, proc)
            yield proc.pid, None
    finally:
        phase["log_tail"] = log.read_text()[-3000:] if log.exists() else ""


def run_server(
    ctx: Ctx, spec: ServerSpec, plan: list[tuple[str, str, int]], profile: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """One phase: set the offloads, start the server, check the files' bytes, run the
    plan (and the profile run), stop the server."""
    sizes = sorted({s for s, _, _ in plan}, key=lambda k: SIZES[k])
    phase: dict[str, Any] = {
        "server": spec.name,
        "sizes": sizes,
        "offloads": "on" if spec.offloads else "off",
        "started": time.strftime("%H:%M:%S"),
    }
    phase["ethtool"] = set_offloads(ctx.topo, spec.offloads)
    rows: list[dict[str, Any]] = []
    profs: list[dict[str, Any]] = []
    starter = ssdk_server if spec.kind == "ssdk" else nginx_server
    with starter(ctx, spec, phase) as (pid, stats):
        phase["verified_sha256"] = verify_files(ctx, sizes)
        for size, mode, conns in plan:
            print(f"  {spec.name:<19} {size:>5} {mode:<9} c{conns:<3} ...", end="", flush=True)
            row = measure_quiet(ctx, spec, pid, size, mode, conns, stats)
            rows.append(row)
            tries = len(row["attempts"])
            waited = sum(a["quiet_wait_s"] for a in row["attempts"])
            again = f" ({tries} attempts: other work)" if tries > 1 else ""
            again += f" (waited {waited:.0f} s for idle cores)" if waited >= 1 else ""
            print(f" {fmt(row['requests_per_s'], ',.0f')} req/s{again}", flush=True)
        for run in PROFILE_RUNS if profile else ():
            if run[0] in sizes:
                print(f"  {spec.name}: perf record during {run} ...", flush=True)
                profs.append(perf_profile(ctx, spec, pid, stats, run))
    phase["ethtool_after"] = {
        "client": ethtool_state(ctx.topo.client_ns, ctx.topo.client_if),
        "server": ethtool_state(ctx.topo.server_ns, ctx.topo.server_if),
    }
    return phase, rows, profs


# ---------------------------------------------------------------- ceiling


def build_reflector(tmp: Path) -> dict[str, Path]:
    out = {}
    for name, libs in (("reflect", ["-lxdp", "-lbpf"]), ("loadgen", [])):
        exe = tmp / name
        subprocess.run(
            ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", str(REFLECTOR / f"{name}.c")]
            + ["-o", str(exe), *libs],
            check=True,
            capture_output=True,
            text=True,
        )
        out[name] = exe
    return out


def ceiling(ctx: Ctx, exes: dict[str, Path], window: int) -> dict[str, Any]:
    """The path's own packet rate: reflect.c on the server end, loadgen.c on the client
    end, with 60-byte and 1514-byte frames. frames/s counts frames in plus frames out at
    the server, as ssdk's rx_frames + tx_frames do. Runs disturbed by other work are
    repeated as wrk runs are (measure_quiet)."""
    topo = ctx.topo
    res: dict[str, Any] = {"ethtool": set_offloads(topo, False), "window": window, "runs": []}
    # The reflector answers no ARP: the client learns the server's MAC statically.
    neigh = ["neigh", "replace", topo.server_ip, "lladdr", topo.server_mac, "dev", topo.client_if]
    subprocess.run(["ip", "-n", topo.client_ns, *neigh, "nud", "permanent"], check=True)
    try:
        for payload in (18, 1472):
            tried = []
            for _ in range(ctx.attempts):
                waited, busy = wait_quiet(ctx)
                tried.append(reflect_once(ctx, exes, payload, window))
                tried[-1]["quiet_wait"] = {"seconds": waited, "cores_busy_before": busy}
                foreign = tried[-1]["cpu"]["foreign_user_s"]
                if foreign is None or foreign <= ctx.foreign_max * ctx.duration:
                    break
            run = min(tried, key=lambda r: r["cpu"]["foreign_user_s"] or 0.0)
            run["attempts"] = [
                {"frames_per_s": r["frames_per_s"], "foreign_user_s": r["cpu"]["foreign_user_s"]}
                for r in tried
            ]
            res["runs"].append(run)
            print(
                f"  ceiling {payload + 42} B frames: {run['frames_per_s']:,.0f} frames/s "
                f"({run['mode']})",
                flush=True,
            )
    finally:
        subprocess.run(
            ["ip", "-n", topo.client_ns, "neigh", "del", topo.server_ip, "dev", topo.client_if],
            capture_output=True,
            check=False,
        )
    res["mode"] = res["runs"][0]["mode"]
    res["frame_bytes"] = res["runs"][0]["frame_bytes"]
    res["frames_per_s"] = res["runs"][0]["frames_per_s"]
    res["xdp_attached_after_stop"] = xdp_attached(topo)
    return res


def reflect_once(ctx: Ctx, exes: dict[str, Path], payload: int, window: int) -> dict[str, Any]:
    """One reflector run: start it, run the load generator, stop it, read both."""
    topo = ctx.topo
    argv = ns_exec(topo.server_ns, pin(ctx.server_cpu, [str(exes["reflect"]), topo.server_if]))
    refl = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        ready = refl.stdout.readline().strip() if refl.stdout else ""
        if not ready.startswith("ready"):
            why = refl.stderr.read() if refl.stderr else ""
            raise RuntimeError(f"reflector did not start: {ready} {why}")
        load = loadavg1()
        p0, t0, c0 = tree_cpu(refl.pid), proc_stat(), resource.getrusage(resource.RUSAGE_CHILDREN)
        gen = subprocess.run(
            ns_exec(topo.client_ns, pin(ctx.client_cpu, [str(exes["loadgen"])]))
            + [topo.client_ip, topo.server_ip, "9", str(ctx.duration), str(payload), str(window)],
            capture_output=True,
            text=True,
            timeout=ctx.duration + 30,
            check=False,
        )
        t1, p1, c1 = proc_stat(), tree_cpu(refl.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        refl.send_signal(signal.SIGINT)
        rout, _ = refl.communicate(timeout=15)
    if gen.returncode != 0:
        raise RuntimeError(f"loadgen: {gen.stderr.strip()}")
    client = json.loads(gen.stdout)
    server = json.loads(rout.strip().splitlines()[-1])
    frames = server["rx_frames"] + server["tx_frames"]
    cpu = cpu_record(ctx, t0, t1)
    cpu["reflector"] = {"user": p1["user"] - p0["user"], "system": p1["system"] - p0["system"]}
    cpu["loadgen"] = {"user": c1.ru_utime - c0.ru_utime, "system": c1.ru_stime - c0.ru_stime}
    cpu["foreign_user_s"] = foreign_user(ctx, cpu, cpu["reflector"], cpu["loadgen"])
    busy = cpu["machine"]["busy"]
    return {
        "frame_bytes": payload + 42,
        "mode": ready.removeprefix("ready ").strip(),
        "loadavg_1m_before": load,
        "loadgen": client,
        "reflector": server,
        "frames_per_s": frames / client["seconds"],
        "cpu": cpu,
        "machine_cpu_s_per_10k_frames": busy / frames * 1e4 if frames else None,
    }


# ---------------------------------------------------------------- report


def host_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        model = m.group(1) if m else ""
    return {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": run_text(["wrk", "-v"]).splitlines()[0] if shutil.which("wrk") else None,
        "nginx": run_text(["nginx", "-v"]),
        "gcc": run_text(["gcc", "--version"]).splitlines()[0] if shutil.which("gcc") else None,
        "libxdp": run_text(["pkg-config", "--modversion", "libxdp"]),
        "libbpf": run_text(["pkg-config", "--modversion", "libbpf"]),
        "clk_tck": CLK_TCK,
    }


def select(values: list[str], only: dict[str, list[str]], key: str) -> list[str]:
    return [v for v in values if key not in only or v in only[key]]


def parse_only(items: list[str]) -> dict[str, list[str]]:
    only: dict[str, list[str]] = {}
    for item in items:
        key, _, vals = item.partition("=")
        if key not in ("server", "size", "mode", "conns") or not vals:
            raise SystemExit(f"--only {item!r}: want server=|size=|mode=|conns=V1,V2")
        only.setdefault(key, []).extend(v for v in vals.split(",") if v)
    return only


def matrix_plan(servers: list[ServerSpec], only: dict[str, list[str]]) -> dict[str, list[Workload]]:
    """Every server: every size, mode and connection count --only keeps; pipelined runs
    only at PIPELINED_CONNS, and for PIPELINED_SIZES unless --only names sizes."""
    sizes = select(list(SIZES), only, "size")
    modes = select(list(MODES), only, "mode")
    conns = [int(c) for c in select([str(c) for c in CONNS], only, "conns")]
    plan: list[Workload] = []
    for s in sizes:
        for m in modes:
            for c in conns:
                if m == "pipelined" and (
                    c not in PIPELINED_CONNS or ("size" not in only and s not in PIPELINED_SIZES)
                ):
                    continue
                plan.append((s, m, c))
    return {spec.name: list(plan) for spec in servers}


def headline_plan(
    servers: list[ServerSpec], only: dict[str, list[str]]
) -> dict[str, list[Workload]]:
    """HEADLINE's rows, narrowed by --only."""
    plan: dict[str, list[Workload]] = {spec.name: [] for spec in servers}
    for (s, m, c), names in HEADLINE:
        if (
            select([s], only, "size")
            and select([m], only, "mode")
            and select([str(c)], only, "conns")
        ):
            for name in names:
                if name in plan:
                    plan[name].append((s, m, c))
    return plan


def print_table(rows: list[dict[str, Any]], ceiling_fps: float | None) -> None:
    print()
    print(
        f"{'server':<24}{'size':>6} {'mode':<10}{'c':>4}{'req/s':>11}{'Gbit/s':>7}"
        f"{'cpu/10k':>8}{'srv%':>5}{'per core':>10}{'p50 us':>9}{'p99 us':>10}"
        f"  {'frames/s':>10}  errors"
    )
    for r in rows:
        errs = ", ".join(f"{k} {v}" for k, v in r["socket_errors"].items() if v)
        if r["non_2xx"]:
            errs += f" non-2xx {r['non_2xx']}"
        fps = r.get("ssdk_frames", {}).get("per_s")
        frac = f" ({fps / ceiling_fps:.0%})" if fps and ceiling_fps else ""
        busy = r.get("server_core_busy_fraction")
        print(
            f"{r['server']:<24}{r['size']:>6} {r['mode']:<10}{r['conns']:>4}"
            f"{fmt(r['requests_per_s'], ',.0f'):>11}{fmt(r['gbit_per_s'], '.2f'):>7}"
            f"{fmt(r['machine_cpu_s_per_10k'], '.3f'):>8}"
            f"{fmt(busy * 100 if busy is not None else None, '.0f'):>5}"
            f"{fmt(r.get('per_server_core'), ',.0f'):>10}"
            f"{fmt(r['latency_p50_us'], ',.0f'):>9}{fmt(r['latency_p99_us'], ',.0f'):>10}"
            f"  {fmt(fps, ',.0f'):>10}{frac}  {errs}"
        )


def steer_and_cc(ctx: Ctx, kernel_cc: str, rps: bool) -> dict[str, Any]:
    """RPS on both veth ends (each end's receive processing on its own side's core) and
    the congestion control of both sides; what was set and what is in effect."""
    topo = ctx.topo
    out: dict[str, Any] = {}
    if rps and ctx.server_cpu is not None and ctx.client_cpu is not None:
        out["rps"] = {
            "server_end": {"ns": topo.server_ns, "if": topo.server_if}
            | set_rps(topo.server_ns, topo.server_if, ctx.server_cpu),
            "client_end": {"ns": topo.client_ns, "if": topo.client_if}
            | set_rps(topo.client_ns, topo.client_if, ctx.client_cpu),
        }
    else:
        out["rps"] = {"off": "--no-rps" if not rps else "no two separate cores to steer to"}
    server_ns = set_cc(topo.server_ns, kernel_cc) if kernel_cc != "default" else {}
    out["congestion_control"] = {
        "ssdk": f"{ctx.ssdk_cc} (ssdk serve --cc {ctx.ssdk_cc})",
        "nginx": read_cc(topo.server_ns),
        "nginx_how": server_ns
        or "the server namespace's default, as the kernel set it (--kernel-cc default)",
        "client_wrk": read_cc(topo.client_ns),
    }
    return out


def setup_lines(setup: dict[str, Any]) -> list[str]:
    cc = setup.get("congestion_control", {})
    rps = setup.get("rps", {})
    steer = (
        f"RPS: server end -> cpu {rps['server_end']['cpu']} "
        f"(rps_cpus {rps['server_end']['rps_cpus']}), client end -> cpu "
        f"{rps['client_end']['cpu']} (rps_cpus {rps['client_end']['rps_cpus']})"
        if "server_end" in rps
        else f"RPS: not set ({rps.get('off', '?')})"
    )
    return [
        f"server core {setup['server_cpu']}, client core {setup['client_cpu']}; {steer}",
        f"congestion control: ssdk {cc.get('ssdk', '?')}; nginx (kernel, server namespace) "
        f"{cc.get('nginx', '?')}; wrk's side {cc.get('client_wrk', '?')}",
    ]


def load_baseline(path: Path | None) -> list[dict[str, Any]] | None:
    if path is None:
        return None
    try:
        return list(json.loads(path.read_text())["results"])
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"--baseline {path}: {e}") from e


def main() -> int:
    ap = argparse.ArgumentParser(description="ssdk (AF_XDP, AF_PACKET) against nginx, by wrk")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="only 1 KiB and 64 KiB, keep-alive and close, c16, 2 s runs",
    )
    ap.add_argument(
        "--headline",
        action="store_true",
        help="issue 13's goal rows only (1 KiB keep-alive and pipelined, p99 at 256 "
        "connections, GSO servers at 64 KiB and 1 MiB); --only narrows them",
    )
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="keep only: server=NAME, size=1KiB, mode=keepalive|close|pipelined, conns=16",
    )
    ap.add_argument("--no-ceiling", action="store_true", help="skip the reflector")
    ap.add_argument("--window", type=int, default=1024, help="reflector datagrams in flight")
    ap.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="runs of one workload at most, while other work disturbs them (default 3)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="perf record the server core in 1 KiB c16 runs (keep-alive, close)",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait at most before a run for the two cores to be idle (default 30)",
    )
    ap.add_argument(
        "--ssdk-cc", default="cubic", help="ssdk serve --cc (cubic or newreno; default cubic)"
    )
    ap.add_argument(
        "--kernel-cc",
        default="cubic",
        help="TCP congestion control of the server namespace, nginx's (default cubic, as "
        "ssdk's; 'default' leaves the kernel's)",
    )
    ap.add_argument(
        "--no-rps", action="store_true", help="leave RPS off on both veth ends (not steered)"
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="an earlier run's JSON: the goals compare 1 KiB keep-alive with it",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    only = parse_only(args.only)
    baseline = load_baseline(args.baseline)
    if args.quick:
        for key, vals in QUICK.items():
            only.setdefault(key, vals)
        if args.duration == ap.get_default("duration"):
            args.duration = 2
    why = cannot_run(("ip", "ethtool", "curl", "wrk", "nginx", "taskset", "gcc"))
    if why:
        print(why, file=sys.stderr)
        return 2

    servers = [s for s in SERVERS if "server" not in only or s.name in only["server"]]
    plans = headline_plan(servers, only) if args.headline else matrix_plan(servers, only)
    servers = [s for s in servers if plans[s.name]]
    sizes = [k for k in SIZES if any(w[0] == k for p in plans.values() for w in p)]
    server_cpu, client_cpu = pick_cpus()

    unwind_on_term()  # the namespaces are always removed

    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": False,
        "host": host_info(),
        "setup": {
            "topology": "two network namespaces joined by one veth pair with one queue; "
            "server end without a kernel address for ssdk, with 198.18.0.2/15 for nginx",
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "wrk": f"wrk -t1 -cN -d{args.duration}s --timeout={WRK_TIMEOUT_S}s --latency "
            "[-H 'Connection: close'] URL; pipelined: ... -s bench/pipeline.lua URL -- "
            f"{PIPELINE_DEPTH}",
            "pipelined": f"{PIPELINE_DEPTH} GET requests in every write (bench/pipeline.lua); "
            "requests/s counts every response; latency is that of a whole write's "
            f"{PIPELINE_DEPTH} responses",
            "servers": {s.name: server_record(s) for s in servers},
            "offload_flags": list(OFFLOAD_FLAGS),
            "selection": "headline (issue 13's goal rows)" if args.headline else "matrix",
            "plan": {name: [list(w) for w in p] for name, p in plans.items() if p},
            "sizes": {k: SIZES[k] for k in sizes},
            "cpu_per_10k": "busy jiffies of /proc/stat (user+nice+system+irq+softirq+steal) "
            "over the wrk run, in seconds, per 10,000 completed requests",
            "per_server_core": PER_SERVER_CORE,
            "gbit_per_s": "requests/s x body bytes x 8 / 1e9 (bodies only)",
            "order": "one size at a time; for each size every server in turn (a phase each)",
            "quiet_gate": f"before each run, wait up to {args.quiet_wait:g} s until the two "
            f"benchmark cores were at most {Ctx.quiet_busy:.0%} busy for 0.5 s (recorded per "
            "run in 'quiet_wait')",
            "retry": f"a run is repeated (at most {args.attempts} runs) while other processes "
            f"took more than {Ctx.foreign_max:.0%} of its length in user time on the two "
            "benchmark cores; the least disturbed run is kept, all are listed in 'attempts'",
            "baseline": str(args.baseline) if args.baseline else None,
        },
        "phases": [],
        "ceiling": None,
        "results": [],
        "profiles": [],
        "errors": [],
        "goals": [],
    }
    rows: list[dict[str, Any]] = report["results"]
    try:
        with tempfile.TemporaryDirectory(prefix="ssdk-bench-") as tmp_s:
            tmp = Path(tmp_s)
            write_site(tmp)
            with veth_pair("bench", queues=1, offload_off=True) as topo:
                ctx = Ctx(
                    topo,
                    tmp,
                    server_cpu,
                    client_cpu,
                    args.duration,
                    args.attempts,
                    args.quiet_wait,
                    ssdk_cc=args.ssdk_cc,
                )
                report["setup"]["namespaces"] = [topo.server_ns, topo.client_ns]
                report["setup"] |= steer_and_cc(ctx, args.kernel_cc, not args.no_rps)
                for line in setup_lines(report["setup"]):
                    print(line, flush=True)
                if not args.no_ceiling:
                    print("ceiling (AF_XDP reflector) ...", flush=True)
                    try:
                        report["ceiling"] = ceiling(ctx, build_reflector(tmp), args.window)
                    except (
                        RuntimeError,
                        OSError,
                        ValueError,
                        KeyError,
                        subprocess.SubprocessError,
                    ) as e:
                        detail = getattr(e, "stderr", "") or ""
                        report["errors"].append(f"ceiling: {e} {detail}".strip())
                        print(f"ceiling failed: {e} {detail}", file=sys.stderr)
                # One size at a time, every server in turn, so that other work on the
                # machine falls on all servers alike; within a size, ssdk first (nginx
                # needs the kernel to own the address, ssdk must not).
                for size in sizes:
                    for spec in servers:
                        sub = [w for w in plans[spec.name] if w[0] == size]
                        if not sub:
                            continue
                        if spec.name in ctx.rejected:
                            line = f"{spec.name} {size}: skipped ({ctx.rejected[spec.name]})"
                            report["errors"].append(line)
                            print(line, flush=True)
                            continue
                        print(f"{spec.name}, {size} ...", flush=True)
                        try:
                            phase, got, profs = run_server(ctx, spec, sub, args.profile)
                            report["phases"].append(phase)
                            rows += got
                            report["profiles"] += profs
                        except ServeRejected as e:
                            why = f"ssdk serve rejected {' '.join(spec.serve_args)}: {e}"
                            ctx.rejected[spec.name] = why
                            report["errors"].append(f"{spec.name} {size}: skipped ({why})")
                            print(f"{spec.name}: skipped ({why})", flush=True)
                        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                            detail = getattr(e, "stderr", "") or ""
                            report["errors"].append(f"{spec.name} {size}: {e} {detail}".strip())
                            print(f"{spec.name} failed: {e} {detail}", file=sys.stderr)
                            log = tmp / f"{spec.name}.log"
                            if log.exists():
                                print(log.read_text()[-3000:], file=sys.stderr)
        report["complete"] = True
    finally:
        ceil = report["ceiling"]
        ceiling_fps = ceil["frames_per_s"] if ceil else None
        for r in rows:
            if ceiling_fps and "ssdk_frames" in r:
                r["ssdk_frames"]["fraction_of_ceiling"] = r["ssdk_frames"]["per_s"] / ceiling_fps
        report["goals"] = judge(rows, GSO, baseline, str(args.baseline))
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print_table(rows, ceiling_fps)
        print_ending(report, args.out)
    return 0


# What the per-server-core figure is, as the reports say.
PER_SERVER_CORE = (
    "requests/s divided by the server core's busy fraction over the wrk run (/proc/stat: "
    "user+nice+system+irq+softirq+steal over all fields of that core): requests per busy "
    "second of the server core"
)


def server_record(s: ServerSpec, tmp: Path | None = None) -> dict[str, Any]:
    """A server of the run, as the report's set-up lists it (``tmp`` written as TMP)."""
    args = [a.replace(str(tmp), "TMP") for a in s.serve_args] if tmp else list(s.serve_args)
    return {"kind": s.kind, "backend": s.backend, "offloads": s.offloads, "serve_args": args}


def print_ending(
    report: dict[str, Any], out: Path,
    goals: Callable[[list[dict[str, Any]]], None] = print_goals,
) -> None:  # fmt: skip
    """After a run's table: the set-up (congestion control, steering), errors, and the
    goals (as ``goals`` prints them)."""
    if "congestion_control" in report["setup"]:
        print()
        for line in setup_lines(report["setup"]):
            print(line)
    for line in report["errors"]:
        print(f"error: {line}")
    goals(report["goals"])
    print(f"\nwrote {out}")


if __name__ == "__main__":
    sys.exit(main())
