# bench/many_conns.py: issue 18's many-connections benchmark. At each level (10,000,
# 100,000 and 1,000,000 by default) a fresh ssdk server in a fresh namespace pair is
# given `level` connections by bench/connload (raw frames from 198.19.0.0/16, one GET of
# a 1 KiB file each, checked by length and CRC32C, then held idle); the same for nginx on
# the server namespace's kernel at 10,000 and 100,000. Per level it reports how many were
# established and answered, the errors by kind, the time to establish and to answer
# them all, the server's resident memory (VmRSS, the process and its children) empty
# and while they are held, and so the bytes each held connection added; the kernel's
# socket counts and memory (which a kernel server's VmRSS does not show); whether a fresh
# curl from the client namespace is still answered byte-exact, and how fast; connload's
# own CPU; and whether the server is back to no connection after connload resets them.
# Then issue 18's goals for it, each MET or MISSED with its figure. It reports; it never
# asserts.
#
#   sudo python3 -m bench.many_conns [--levels 10000,100000,1000000]
#       [--nginx-levels 10000,100000] [--backend af_packet|af_xdp] [--out FILE]
#
# Every namespace, interface and process it makes is removed at the end, on failure and
# on Ctrl-C or SIGTERM too (ssdk.tools.netns.veth_pair; names carry this process's pid).
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import NGINX_CONF, REPO, RESULTS_DIR, cannot_run, fmt, running, wait_http
from bench.connload import Load, build
from bench.kernel_net import set_cc
from bench.lab import make_site
from ssdk.tools.netns import Topology, kernel_owns_server_ip, ns_exec, veth_pair

FILE = "f1k.bin"
FILE_SIZE = 1024
PATH = f"/{FILE}"
SRC_NET = "198.19.0.0/16"  # in 198.18.0.0/15, outside the /16 of the client and server
# connload's 1,024 source addresses for ssdk (which answers to a frame's source MAC and
# keeps no neighbour table). The server kernel under nginx keeps one neighbour entry per
# address, in a table whose limits (net.ipv4.neigh.default.gc_thresh1/2/3: 128, 512,
# 1,024 here) are the host's, shared by every namespace and not settable inside one:
# 256 addresses stay under the soft limit without changing the host (391 ports each for
# 100,000 connections).
SSDK_ADDRS = 1024
NGINX_ADDRS = 256
CC = "cubic"  # ssdk's default; set in both kernels too (the host's default is bbr)
# The connections are idle from their answer to the reset, which at a million includes
# opening the rest (tens of seconds): an hour is far beyond any run.
IDLE_S = 3600
SETTLE_S = 2.0  # before a memory reading: the server's last packets are handled
ZERO_TIMEOUT_S = 60.0  # after the resets, for the server to count no connection
HEADROOM = 1 << 30  # left free beyond a level's predicted need
# A level with no smaller level of the same server measured before it is checked
# against this bound per pool slot: above ssdk's 4.3 KB slot and a kernel socket's few
# KB, so the first level errs on the side of refusing.
UNMEASURED_BYTES_PER_CONN = 16 << 10
NGINX_SYSCTLS = {
    # The accept queue and the half-open queue: a burst of 256 handshakes at a time
    # must not fall back to SYN cookies for want of room.
    "net.core.somaxconn": "65535",
    "net.ipv4.tcp_max_syn_backlog": "65535",
}
RESULTS = RESULTS_DIR / "many_conns.json"


@dataclass
class Run:
    """What every level of one invocation shares."""

    exe: Path  # connload
    tmp: Path
    bundle: Path  # the ssdk app serving tmp/www
    body: Path  # tmp/www/FILE, which nginx serves too
    want: bytes
    backend: str


def on_sigterm(_sig: int, _frame: object) -> None:
    # SIGTERM cleans up as Ctrl-C does: the with-blocks below stop and remove everything.
    raise KeyboardInterrupt


def levels_arg(text: str) -> list[int]:
    out = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    if any(n < 1 for n in out):
        raise argparse.ArgumentTypeError("levels are positive connection counts")
    return sorted(out)


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes (system-wide)."""
    out: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (an nginx master and its workers)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            # The parent is the 4th field after the command, which may hold spaces.
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def status_bytes(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss(pid: int) -> int:
    """Proportional set size, bytes: pages shared by several processes (nginx's workers
    share their code with the master) counted once in all, where VmRSS counts them in
    each."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM and Pss summed over ``pid`` and its descendants, bytes; ``procs``:
    how many."""
    tree = process_tree(pid)
    return {
        "vmrss": sum(status_bytes(p, "VmRSS") for p in tree),
        "vmhwm": sum(status_bytes(p, "VmHWM") for p in tree),
        "pss": sum(pss(p) for p in tree),
        "procs": len(tree),
    }


def kernel_side(ns: str) -> dict[str, int]:
    """The kernel's share: TCP sockets in use in namespace ``ns`` (/proc/net/sockstat
    there), and two system-wide figures no namespace has its own of: the memory charged
    to TCP socket buffers (sockstat's "mem", pages, here in bytes) and the slab, where
    the socket structures themselves live (/proc/meminfo Slab)."""
    text = subprocess.run(
        ns_exec(ns, ["cat", "/proc/net/sockstat"]), capture_output=True, text=True, check=False
    ).stdout
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("TCP:"):
            f = line.split()[1:]
            vals = dict(zip(f[0::2], f[1::2], strict=False))
            out["tcp_inuse"] = int(vals.get("inuse", 0))
            out["tcp_mem_bytes_global"] = int(vals.get("mem", 0)) * os.sysconf("SC_PAGE_SIZE")
    out["slab_bytes_global"] = meminfo().get("Slab", 0)
    return out


def sysctl(ns: str, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    subprocess.run(ns_exec(ns, ["sh", "-c", f"echo {value} > {path}"]), check=True)


def connload_argv(exe: Path, topo: Topology, level: int, addrs: int, body: Path) -> list[str]:
    # Opening runs at some 20,000 to 40,000 a second on this machine; the timeout leaves
    # a loaded machine five times as long, and never less than connload's own 120 s.
    open_timeout = max(120, level // 4000)
    argv = [str(exe), "--iface", topo.client_if, "--server", topo.server_ip]
    argv += ["--conns", str(level), "--src-net", SRC_NET, "--addrs", str(addrs)]
    argv += ["--get", f"{PATH}={body}", "--hold", "-1", "--reset"]
    argv += ["--open-timeout", str(open_timeout), "--progress", "5"]
    return ns_exec(topo.client_ns, argv)


def fresh_curl(topo: Topology, want: bytes, out: Path) -> dict[str, Any]:
    """One new kernel connection from the client namespace while the others are held:
    its status, time and whether the body is byte-exact."""
    argv = ["curl", "-sS", "--fail", "--max-time", "10", "-o", str(out)]
    argv += ["-w", "%{http_code} %{time_total}", f"http://{topo.server_ip}{PATH}"]
    out.unlink(missing_ok=True)
    proc = subprocess.run(ns_exec(topo.client_ns, argv), capture_output=True, text=True)
    code, _, secs = proc.stdout.strip().partition(" ")
    got = out.read_bytes() if out.exists() else b""
    exact = proc.returncode == 0 and got == want
    return {
        "ok": exact,
        "exit": proc.returncode,
        "http_code": code or None,
        "time_ms": round(float(secs) * 1000, 3) if secs else None,
        "bytes": len(got),
        "byte_exact": got == want,
        "error": None if exact else (proc.stderr.strip() or "body differs from the file"),
    }


class SsdkServer:
    """``ssdk serve`` on the server end (no kernel address there); counts from its stats
    file."""

    def __init__(self, proc: subprocess.Popen[str], stats: Path) -> None:
        self.proc, self.stats = proc, stats

    def active(self) -> int | None:
        try:
            v = json.loads(self.stats.read_text()).get("conns_active")
        except (OSError, ValueError):
            return None
        return int(v) if isinstance(v, int) else None


class NginxServer:
    """nginx on the server namespace's kernel; its connections are the kernel's TCP
    sockets in that namespace, less the listening one."""

    def __init__(self, proc: subprocess.Popen[str], ns: str, log: Path) -> None:
        self.proc, self.ns, self.log = proc, ns, log
        self.listeners = kernel_side(ns).get("tcp_inuse", 0)
        self.log_from = log.stat().st_size if log.exists() else 0

    def errors(self) -> list[str]:
        """What nginx logged (warn and worse) since it started: the last lines, where a
        limit it ran into is named."""
        try:
            with self.log.open() as f:
                f.seek(self.log_from)
                return [line.strip() for line in f][-5:]
        except OSError:
            return []

    def active(self) -> int | None:
        return kernel_side(self.ns).get("tcp_inuse", 0) - self.listeners


@contextmanager
def ssdk_serving(
    topo: Topology, tmp: Path, bundle: Path, backend: str, slots: int
) -> Iterator[SsdkServer]:
    stats = tmp / f"stats-{topo.server_ns}.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    argv = [sys.executable, "-m", "ssdk", "serve", str(bundle), "--backend", backend]
    argv += ["--iface", topo.server_if, "--ip", topo.server_cidr, "--cc", CC]
    argv += ["--max-conns", str(slots), "--idle-timeout", str(IDLE_S * 1000)]
    argv += ["--stats-file", str(stats)]
    log = tmp / f"ssdk-{topo.server_ns}.log"
    with running(ns_exec(topo.server_ns, argv), signal.SIGINT, log, cwd=tmp, env=env) as proc:
        wait_http(topo, PATH, 180, proc)  # a million slots take a while to allocate
        yield SsdkServer(proc, stats)


CAP_SYS_RESOURCE = 24
MAX_NGINX_WORKERS = 64
# A worker's planned share of the connections, as a fraction of its descriptor limit:
# reuseport hashes connections over the workers' sockets, not evenly, so room is left.
SHARE_OF_LIMIT = 0.6


def can_raise_nofile() -> bool:
    """Whether this process (and so nginx, started as root from it) holds
    CAP_SYS_RESOURCE, which setrlimit needs to go past the hard limit."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def nginx_plan(level: int) -> dict[str, Any]:
    """nginx's workers and limits for ``level`` connections, or a "refused" reason.

    One worker, as ssdk runs one engine, when it can have a descriptor per connection:
    nginx (root) raises its limit itself (worker_rlimit_nofile), past the hard limit
    only with CAP_SYS_RESOURCE, which a container may withhold; then it would keep the
    old limit and stop accepting there. Without it the connections are spread over
    enough workers, each its own listening socket (reuseport), that each worker's share
    stays within the limit it has."""
    need = slots_for(level) + 1024  # the connections and the files nginx opens besides
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    one = {"workers": 1, "worker_connections": slots_for(level), "nofile": need}
    if need <= hard or (need <= nr_open and can_raise_nofile()):
        return {**one, "reuseport": False, "why": "one worker, as ssdk runs one engine"}
    workers = -(-level // int(hard * SHARE_OF_LIMIT))
    why = (
        f"one worker would need {need:,} descriptors; the hard limit here is {hard:,} and "
        "this process lacks CAP_SYS_RESOURCE to raise it"
    )
    if workers > MAX_NGINX_WORKERS:
        return {"refused": f"{why}, and {workers} workers would be too many"}
    return {
        "workers": workers,
        "worker_connections": hard - 1024,
        "nofile": hard,
        "reuseport": True,
        "why": f"{why}: {workers} workers with reuseport, about {level // workers:,} each",
    }


def nginx_conf(tmp: Path, ip: str, plan: dict[str, Any]) -> str:
    """NGINX_CONF with ``plan``'s workers and limits, the listen backlog at the
    namespace's somaxconn, and keep-alive as long as ssdk's idle timeout."""
    text = NGINX_CONF.format(tmp=tmp, ip=ip)
    listen = f"listen {ip}:80 backlog={NGINX_SYSCTLS['net.core.somaxconn']}"
    edits = {
        "worker_processes 1;": f"worker_processes {plan['workers']};",
        "daemon off;": f"daemon off;\nworker_rlimit_nofile {plan['nofile']};",
        "worker_connections 1024;": f"worker_connections {plan['worker_connections']};",
        "keepalive_timeout 65;": f"keepalive_timeout {IDLE_S}s;",
        f"listen {ip}:80;": f"{listen}{' reuseport' if plan['reuseport'] else ''};",
    }
    for old, new in edits.items():
        if old not in text:
            raise RuntimeError(f"NGINX_CONF has no {old!r} to adapt")
        text = text.replace(old, new)
    return text


@contextmanager
def nginx_serving(topo: Topology, tmp: Path, plan: dict[str, Any]) -> Iterator[NginxServer]:
    for key, value in NGINX_SYSCTLS.items():
        sysctl(topo.server_ns, key, value)
    conf = tmp / f"nginx-{topo.server_ns}.conf"
    conf.write_text(nginx_conf(tmp, topo.server_ip, plan))
    argv = ns_exec(topo.server_ns, ["nginx", "-p", str(tmp), "-c", str(conf)])
    log = tmp / f"nginx-{topo.server_ns}.log"
    # The kernel's 198.18.0.2/15 makes connload's 198.19.0.0/16 on-link: the replies go
    # out of server_if after an ARP, which connload answers for its addresses.
    with (
        kernel_owns_server_ip(topo),
        running(argv, signal.SIGQUIT, log, cwd=tmp) as proc,
    ):
        wait_http(topo, PATH, 60, proc)
        # The probe's socket is gone by then; what remains is the listening one.
        time.sleep(SETTLE_S)
        yield NginxServer(proc, topo.server_ns, tmp / "nginx-error.log")


def slots_for(level: int) -> int:
    """ssdk's --max-conns for ``level``: room for the curl and a tenth more."""
    return level + max(1024, level // 10)


def predicted_need(level: int, slots: int, before: dict[str, Any] | None) -> tuple[int, str]:
    """Bytes the machine must have free for ``level`` connections to a server with
    ``slots`` pool slots (nginx: its worker_connections), and how that was reckoned.

    From ``before``, the largest level of the same server already measured: its empty
    server scaled by the slots, what the held connections added (the process and the
    slab) scaled by the connections, a quarter more for safety, and connload's 20 bytes
    a connection beside its own measured size. Nothing measured: UNMEASURED_BYTES_PER_CONN
    per slot."""
    gen = 20 * level
    if before is None or not before.get("rss_after"):
        need = UNMEASURED_BYTES_PER_CONN * slots + gen
        return need, f"no smaller level measured: {UNMEASURED_BYTES_PER_CONN} B a slot"
    empty = before["rss_before"]["vmrss"] * slots / before["slots"]
    held = before["rss_after"]["vmrss"] - before["rss_before"]["vmrss"]
    held += max(0, before.get("kernel_slab_delta", 0))
    per_conn = held / before["level"]
    need = int(1.25 * (empty + per_conn * level)) + gen
    need += int(before.get("connload", {}).get("max_rss_kb", 0)) * 1024
    return need, (
        f"from {before['level']:,}: {empty / 1e6:,.0f} MB empty for {slots:,} slots, "
        f"{per_conn:,.0f} B a held connection, +25%"
    )


def memory_check(level: int, slots: int, before: dict[str, Any] | None) -> dict[str, Any]:
    need, basis = predicted_need(level, slots, before)
    avail = meminfo().get("MemAvailable", 0)
    fits = need + HEADROOM <= avail
    out = {"need_bytes": need, "basis": basis, "available_bytes": avail, "fits": fits}
    if not fits:
        out["refused"] = (
            f"{level:,} connections would need about {need / 1e9:.1f} GB ({basis}) plus "
            f"{HEADROOM / 1e9:.1f} GB to spare; {avail / 1e9:.1f} GB is available"
        )
    return out


def wait_active(srv: SsdkServer | NginxServer, want: int, timeout: float) -> int | None:
    """Poll the server's connection count until it is ``want``; the last count seen."""
    deadline = time.monotonic() + timeout
    while True:
        got = srv.active()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.25)


FINAL_KEYS = (
    "established", "answered", "errors", "error_kinds", "t_established_s",
    "t_answered_s", "syn_retries", "request_retries", "reset_after_answer",
    "closed_after_answer", "reset_at_exit", "rx_ring_drops", "tx_ring_lost", "cpu_s",
    "max_rss_kb",
)  # fmt: skip


def hold_and_measure(
    load: Load, srv: SsdkServer | NginxServer, topo: Topology, run: Run, row: dict[str, Any]
) -> None:
    """From connload's start to its holding line, then the readings while all are held."""
    start = load.until("start", 60)
    if start is None:
        row["error"] = f"connload did not start: {load.stderr()}"
        return
    holding = load.until("holding", max(120, row["level"] // 4000) + 60)
    if holding is None:
        row["error"] = f"connload never held its connections: {load.stderr()}"
        return
    row["held"] = holding["held"]
    row["hold_started_s"] = holding["t"]
    row["server_active_held"] = wait_active(srv, holding["held"], 30)
    time.sleep(SETTLE_S)
    row["rss_after"] = rss(srv.proc.pid)
    row["kernel_after"] = kernel_side(topo.server_ns)
    row["curl"] = fresh_curl(topo, run.want, run.tmp / f"curl-{topo.client_ns}.bin")


def finish(load: Load, srv: SsdkServer | NginxServer, level: int, row: dict[str, Any]) -> None:
    """Reset every connection (connload's SIGINT with --reset), read its final line, and
    see the server back to none."""
    if load.proc.poll() is None:
        load.proc.send_signal(signal.SIGINT)
    # Three rounds of resets at 0.5 to 0.9 s per 100,000 each, and a margin.
    final = load.until("final", 60 + 3 * level / 50_000)
    row["connload_exit"] = load.stop()
    if final is None:
        row.setdefault("error", f"connload wrote no final line: {load.stderr()}")
        return
    row["connload"] = {k: final.get(k) for k in FINAL_KEYS}
    row["server_active_after_reset"] = wait_active(srv, 0, ZERO_TIMEOUT_S)
    row["back_to_zero"] = row["server_active_after_reset"] == 0


def measure(
    srv: SsdkServer | NginxServer, topo: Topology, run: Run, row: dict[str, Any]
) -> None:
    """The empty server's readings, then connload's connections held, then reset."""
    time.sleep(SETTLE_S)
    row["rss_before"] = rss(srv.proc.pid)
    row["kernel_before"] = kernel_side(topo.server_ns)
    addrs = NGINX_ADDRS if row["server"] == "nginx" else SSDK_ADDRS
    row["connload_addrs"] = addrs
    argv = connload_argv(run.exe, topo, row["level"], addrs, run.body)
    load = Load(argv, run.tmp / f"connload-{topo.client_ns}.err")
    try:
        hold_and_measure(load, srv, topo, run, row)
        finish(load, srv, row["level"], row)
    finally:
        load.stop()
    if isinstance(srv, NginxServer):
        row["nginx_error_log"] = srv.errors()
    if row.get("rss_after"):
        per_connection(row)


def per_connection(row: dict[str, Any]) -> None:
    """What the held connections added, over their number: in the server's processes
    (VmRSS, and Pss) and in the kernel's slab (system-wide)."""
    n = row["level"]
    before, after = row["rss_before"], row["rss_after"]
    row["bytes_per_conn"] = (after["vmrss"] - before["vmrss"]) / n
    row["pss_bytes_per_conn"] = (after["pss"] - before["pss"]) / n
    k0, k1 = row["kernel_before"], row["kernel_after"]
    row["kernel_slab_delta"] = k1["slab_bytes_global"] - k0["slab_bytes_global"]
    row["kernel_slab_per_conn"] = row["kernel_slab_delta"] / n
    row["kernel_tcp_mem_delta"] = k1["tcp_mem_bytes_global"] - k0["tcp_mem_bytes_global"]


def run_level(
    server: str, level: int, run: Run, before: dict[str, Any] | None
) -> dict[str, Any]:
    """One level on a fresh namespace pair and a fresh server; the row it reports."""
    slots = slots_for(level)
    row: dict[str, Any] = {"server": server, "level": level, "slots": slots}
    row["memory_check"] = memory_check(level, slots, before)
    refusal = row["memory_check"].get("refused")
    if server == "nginx":
        row["nginx"] = nginx_plan(level)
        refusal = refusal or row["nginx"].get("refused")
    if refusal:
        row["skipped"] = refusal
        print(f"  {server} {level:,}: refused: {row['skipped']}", flush=True)
        return row
    print(f"  {server} {level:,} connections ...", flush=True)
    t0 = time.monotonic()
    try:
        with veth_pair("mc") as topo:
            row["cc"] = {"client": set_cc(topo.client_ns, CC)["in_effect"]}
            if server == "nginx":
                row["cc"]["server"] = set_cc(topo.server_ns, CC)["in_effect"]
                with nginx_serving(topo, run.tmp, row["nginx"]) as ng:
                    measure(ng, topo, run, row)
            else:
                row["cc"]["server"] = f"ssdk --cc {CC}"
                with ssdk_serving(topo, run.tmp, run.bundle, run.backend, slots) as sd:
                    measure(sd, topo, run, row)
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        # A server that would not start or a namespace command that failed: recorded,
        # and the next level runs.
        row.setdefault("error", f"{type(e).__name__}: {e}")
    row["wall_s"] = round(time.monotonic() - t0, 1)
    return row


def clean(row: dict[str, Any]) -> bool:
    """Every connection answered byte-exact and held, none lost, the curl answered
    byte-exact, the server back to none, and connload content (exit 0)."""
    c = row.get("connload") or {}
    return (
        "error" not in row
        and "skipped" not in row
        and c.get("answered") == row["level"]
        and c.get("errors") == 0
        and row.get("held") == row["level"]
        and (row.get("curl") or {}).get("ok") is True
        and row.get("back_to_zero") is True
        and row.get("connload_exit") == 0
    )


def what_went_wrong(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return f"not run: {row['skipped']}"
    if "error" in row:
        return row["error"]
    c = row.get("connload") or {}
    kinds = {k: v for k, v in (c.get("error_kinds") or {}).items() if v}
    curl = row.get("curl") or {}
    return (
        f"answered {c.get('answered')}, held {row.get('held')}, errors {c.get('errors')} "
        f"{kinds or ''}, curl {'ok' if curl.get('ok') else curl.get('error')}, "
        f"server after reset {row.get('server_active_after_reset')}, "
        f"connload exit {row.get('connload_exit')}"
    )


def went_well(row: dict[str, Any]) -> str:
    c = row["connload"]
    return (
        f"{row['held']:,} held (the server counted {fmt(row.get('server_active_held'), ',')}), all "
        f"established in {c['t_established_s']} s, answered in {c['t_answered_s']} s; a "
        f"fresh curl answered in {row['curl']['time_ms']} ms; none left after the resets"
    )


def case(what: str, verdict: str, figure: str) -> dict[str, str]:
    return {"case": what, "verdict": verdict, "figure": figure}


def judge(rows: list[dict[str, Any]], server: str) -> list[dict[str, Any]]:
    """Issue 18's goals for ``server``'s rows (ssdk on the chosen backend)."""
    mine = [r for r in rows if r["server"] == server]
    million = [r for r in mine if r["level"] == 1_000_000]
    held = [
        case(f"{r['level']:,}", "met" if clean(r) else "missed",
             went_well(r) if clean(r) else what_went_wrong(r))
        for r in million
    ] or [case("1,000,000", "not measured", "no 1,000,000 level in this run")]  # fmt: skip
    per_conn = [
        case(
            f"{r['level']:,}",
            "met" if r["bytes_per_conn"] <= 256 else "missed",
            f"{r['bytes_per_conn']:,.0f} B a connection above the empty server "
            f"({r['rss_before']['vmrss'] / 1e6:,.0f} -> {r['rss_after']['vmrss'] / 1e6:,.0f} MB)",
        )
        for r in mine
        if r.get("bytes_per_conn") is not None
    ] or [case("-", "not measured", "no level held its connections")]
    errors = [
        case(f"{r['level']:,}", "met" if clean(r) else "missed",
             "no error" if clean(r) else what_went_wrong(r))
        for r in mine
    ]  # fmt: skip
    return [
        {"goal": "1,000,000 concurrent connections held", "cases": held},
        {"goal": "server memory per idle connection at most 256 B above the empty "
                 "server's", "cases": per_conn},
        {"goal": "no error", "cases": errors},
    ]  # fmt: skip


def print_goals(goals: list[dict[str, Any]], server: str) -> None:
    print(f"\nGoals of issue 18 (the benchmark), {server}, this run:")
    for g in goals:
        print(f"\n- {g['goal']}")
        for c in g["cases"]:
            print(f"    {c['case']:>10}  {c['verdict'].upper():<13} {c['figure']}")


def mb(v: int | None) -> str:
    return fmt(None if v is None else v / 1e6, ",.0f")


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'server':<16}{'level':>10}{'estab':>10}{'answered':>10}{'errors':>7}"
        f"{'t_est s':>9}{'t_ans s':>9}{'RSS MB':>8}{'held MB':>9}{'B/conn':>8}"
        f"{'slab B/c':>9}{'curl ms':>9}{'gen cpu':>8}{'to 0':>6}{'wall s':>8}"
    )
    print("\n" + head)
    for r in rows:
        if "skipped" in r:
            print(f"{r['server']:<16}{r['level']:>10,}  not run (below)")
            continue
        c = r.get("connload") or {}
        curl = r.get("curl") or {}
        after = (r.get("rss_after") or {}).get("vmrss")
        curl_txt = fmt(curl.get("time_ms"), ".2f") if curl.get("ok") else "FAIL"
        print(
            f"{r['server']:<16}{r['level']:>10,}{fmt(c.get('established'), ','):>10}"
            f"{fmt(c.get('answered'), ','):>10}{fmt(c.get('errors'), 'd'):>7}"
            f"{fmt(c.get('t_established_s'), '.2f'):>9}{fmt(c.get('t_answered_s'), '.2f'):>9}"
            f"{mb((r.get('rss_before') or {}).get('vmrss')):>8}{mb(after):>9}"
            f"{fmt(r.get('bytes_per_conn'), ',.0f'):>8}"
            f"{fmt(r.get('kernel_slab_per_conn'), ',.0f'):>9}{curl_txt:>9}"
            f"{fmt(c.get('cpu_s'), '.1f'):>8}{'yes' if r.get('back_to_zero') else 'no':>6}"
            f"{fmt(r.get('wall_s'), '.0f'):>8}"
        )
    for r in rows:
        if (r.get("nginx") or {}).get("workers", 1) > 1:
            print(f"  {r['server']} {r['level']:,}: {r['nginx']['why']}")
        if not clean(r):
            print(f"  {r['server']} {r['level']:,}: {what_went_wrong(r)}")
    print(
        "RSS: the server's VmRSS (nginx: master and worker) empty and with all held; "
        "B/conn: their difference over the level;\nslab B/c: the system-wide slab growth "
        "over the level (a kernel server's sockets live there; other work shows too)"
    )


def setup_text(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "topology": "client ns -veth- server ns per level, offloads as the kernel made them",
        "file": f"{PATH}: {FILE_SIZE} random bytes, one GET per connection, checked by "
        "length and CRC32C (connload) and byte-exact (the curl)",
        "connload": f"--src-net {SRC_NET} --addrs {SSDK_ADDRS} (ssdk) / {NGINX_ADDRS} (nginx, "
        "the host's neighbour table limits) --hold -1 --reset, other settings its defaults",
        "ssdk": f"ssdk serve --backend {args.backend} --cc {CC} --max-conns LEVEL+max(1024, "
        f"LEVEL/10) --idle-timeout {IDLE_S * 1000}",
        "nginx": f"bench.common.NGINX_CONF, worker_connections and worker_rlimit_nofile above "
        "the level (one worker where the descriptor limit allows, else several with "
        f"reuseport: each row's nginx.why), keepalive_timeout {IDLE_S}s, listen backlog "
        "65535; server ns "
        + ", ".join(f"{k}={v}" for k, v in NGINX_SYSCTLS.items()),
        "congestion_control": f"{CC} in both namespaces' kernels and in ssdk (--cc); "
        "connload sends one request and no more, so it has none",
        "memory": "VmRSS and VmHWM of the server process and its children (/proc/PID/status)"
        ", empty and with all held; the kernel's socket memory is not in any VmRSS: "
        "sockstat's TCP inuse in the server ns, its TCP mem (global, pages*page size) "
        "and /proc/meminfo Slab (global) are read alongside",
    }


def report(args: argparse.Namespace, rows: list[dict[str, Any]], started: dict[str, Any],
           done: bool) -> dict[str, Any]:  # fmt: skip
    server = f"ssdk-{args.backend}"
    mem = meminfo()
    return {
        "when": started["when"],
        "complete": done,
        "command": shlex.join(["python3", "-m", "bench.many_conns", *sys.argv[1:]]),
        "host": {
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "mem_total_bytes": mem.get("MemTotal"),
            "mem_available_bytes_before": started["available"],
            "loadavg_before": started["load"],
            "loadavg_after": os.getloadavg(),
            "shared": max(started["load"][0], os.getloadavg()[0]) > 1,
        },
        "setup": setup_text(args),
        "rows": rows,
        "goals": judge(rows, server),
    }


def run_all(args: argparse.Namespace, run: Run, out: dict[str, Any]) -> None:
    """Every level in turn, the JSON rewritten after each, so a run stopped at the
    million keeps what came before."""
    plan = [(f"ssdk-{args.backend}", n) for n in args.levels]
    plan += [("nginx", n) for n in args.nginx_levels]
    last: dict[str, dict[str, Any]] = {}
    for server, level in plan:
        row = run_level(server, level, run, last.get(server))
        if row.get("rss_after"):
            last[server] = row
        out["rows"].append(row)
        args.out.write_text(json.dumps(report(args, out["rows"], out, False), indent=2) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description="many idle connections: ssdk, and nginx")
    ap.add_argument("--levels", type=levels_arg, default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--nginx-levels", type=levels_arg, default=[10_000, 100_000])
    ap.add_argument("--backend", choices=("af_packet", "af_xdp"), default="af_packet")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    why = cannot_run(("ip", "curl", "gcc", *(("nginx",) if args.nginx_levels else ())))
    if why:
        print(why, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_sigterm)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load": os.getloadavg(),
        "available": meminfo().get("MemAvailable"),
        "rows": [],
    }
    print(f"load average {' '.join(f'{x:.2f}' for x in out['load'])}, "
          f"{out['available'] / 1e9:.1f} GB available, {os.cpu_count()} cpus")  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="ssdk-many-") as tmp_s:
            tmp = Path(tmp_s)
            bundle, _ = make_site(tmp, {FILE: FILE_SIZE})
            body = tmp / "www" / FILE
            run = Run(build(), tmp, bundle, body, body.read_bytes(), args.backend)
            run_all(args, run, out)
    except KeyboardInterrupt:
        args.out.write_text(json.dumps(report(args, out["rows"], out, False), indent=2) + "\n")
        print(f"\ninterrupted: namespaces and processes removed; levels done are in {args.out}",
              file=sys.stderr)  # fmt: skip
        return 130
    final = report(args, out["rows"], out, True)
    args.out.write_text(json.dumps(final, indent=2) + "\n")
    print_table(out["rows"])
    print_goals(final["goals"], f"ssdk-{args.backend}")
    load = final["host"]["loadavg_after"]
    print(f"\nload average before {out['load'][0]:.2f}, after {load[0]:.2f}"
          + (": a shared machine, other work shows in the times" if final["host"]["shared"]
             else ""))  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
