# bench/dynamic_vs_asgi.py: `sudo python3 -m bench.dynamic_vs_asgi [--duration 5]`. A
# trivial JSON handler served four ways on one veth topology, in one run, measured by
# the same `wrk -t1 -c32 --latency` from the client namespace (client core) against a
# server pinned to the other core:
#   ssdk dynamic route  bench/apps/ssdk_dynamic.py  (ssdk serve app.py; AF_PACKET, and
#                                                   AF_XDP when the core has it)
#   ssdk precomputed    bench/apps/ssdk_static.py   (the same bytes, from templates)
#   uvicorn             bench/apps/asgi_hello.py    (kernel stack, 1 worker)
#   granian             bench/apps/asgi_hello.py    (kernel stack, 1 worker)
# For every row: requests/s, latency p50/p99, non-2xx and socket errors, and the CPU
# seconds of the server's process tree (and of the whole server core) per 10,000
# requests. Prints a table and writes bench/results/dynamic_vs_asgi.json. It reports; it
# never asserts, and it is not part of the test suite.
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import BENCH, REPO, RESULTS_DIR, cannot_run, pick_cpus, pin
from ssdk.tools.netns import Topology, kernel_owns_server_ip, ns_exec, veth_pair  # noqa: E402

APPS = BENCH / "apps"
RESULTS = RESULTS_DIR / "dynamic_vs_asgi.json"
EXPECTED_BODY = b'{"hello":"world"}'
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- what the machine and the packages are ----------------------------------------------


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout + out.stderr).strip().splitlines()
    return first[0] if first else None


def ssdk_commit() -> str | None:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip() or None


def have_af_xdp() -> tuple[bool, str]:
    """Whether this build of the C core has the AF_XDP backend (asked in a child, so the
    benchmark itself never loads the core)."""
    probe = subprocess.run(
        [sys.executable, "-c",
         "from ssdk.core.runtime.engine import HAVE_AF_XDP; print(HAVE_AF_XDP)"],
        capture_output=True, text=True, check=False, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    if probe.returncode != 0:
        return False, f"importing the core failed: {probe.stderr.strip()[-500:]}"
    if probe.stdout.strip() != "True":
        return False, "the C core was built without AF_XDP (libxdp/libbpf headers missing)"
    return True, ""


def host_info() -> dict[str, Any]:
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    debian = Path("/etc/debian_version")
    return {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "debian": debian.read_text().strip() if debian.exists() else None,
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


# --- CPU accounting ------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it, found by walking /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system, with reaped children's) of every process in the tree,
    by pid. All threads of a process are in its /proc/PID/stat."""
    out: dict[int, float] = {}
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # After ')': state ppid ... utime(11) stime(12) cutime(13) cstime(14), 0-based.
            out[pid] = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK
    return out


def cpu_busy(cpu: int | None) -> float | None:
    """Seconds core ``cpu`` has spent not idle (user, system, irq, softirq, steal)."""
    if cpu is None:
        return None
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0] == f"cpu{cpu}":
                user, nice, system, idle, iowait, irq, softirq, steal = map(int, parts[1:9])
                return (user + nice + system + irq + softirq + steal) / CLK_TCK
    return None


# --- servers and wrk -----------------------------------------------------------------------


def curl(topo: Topology, path: str, extra: list[str], timeout: float = 2) -> str:
    probe = subprocess.run(
        ns_exec(topo.client_ns, ["curl", "-s", "--max-time", str(timeout), *extra])
        + [f"http://{topo.server_ip}{path}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return probe.stdout


def wait_http(topo: Topology, path: str, timeout: float, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it answered")
        if curl(topo, path, ["-o", "/dev/null", "-w", "%{http_code}"]).strip() == "200":
            return
        time.sleep(0.2)
    raise RuntimeError(f"http://{topo.server_ip}{path} did not answer 200 within {timeout} s")


def sample(topo: Topology, path: str) -> dict[str, Any]:
    """One response as curl saw it: header block and whether the body is the expected one."""
    text = curl(topo, path, ["-i"])
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    return {"headers": head.splitlines(), "body": body, "body_ok": body == EXPECTED_BODY.decode()}


@contextmanager
def running(argv: list[str], log: Path, **kw: Any) -> Iterator[subprocess.Popen[str]]:
    """Run a server in its own session with its output in ``log``; on exit SIGINT it, and
    SIGKILL its process group if it has not stopped within 15 s."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait()


_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text: str) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(stdout: str, stderr: str, rc: int) -> dict[str, Any]:
    res: dict[str, Any] = {"wrk_exit": rc, "wrk_output": stdout + stderr}
    m = re.search(r"Requests/sec:\s*([\d.]+)", stdout)
    res["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", stdout)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", stdout)
    res["latency_avg_us"] = to_us(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", stdout, re.M)
        res[f"latency_p{pct}_us"] = to_us(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
    keys = ("connect", "read", "write", "timeout")
    res["socket_errors"] = (
        dict(zip(keys, map(int, m.groups()), strict=True)) if m else dict.fromkeys(keys, 0)
    )
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def wrk(topo: Topology, cpu: int | None, path: str, seconds: int, conns: int) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    proc = subprocess.run(
        ns_exec(topo.client_ns, pin(cpu, argv + [f"http://{topo.server_ip}{path}"])),
        capture_output=True, text=True, timeout=seconds + 60, check=False,
    )  # fmt: skip
    return parse_wrk(proc.stdout, proc.stderr, proc.returncode)


def measure(
    topo: Topology,
    proc: subprocess.Popen[str],
    cpus: tuple[int | None, int | None],
    path: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """A warm-up, then the measured wrk run with CPU read before and after it."""
    server_cpu, client_cpu = cpus
    if args.warmup > 0:
        wrk(topo, client_cpu, path, args.warmup, args.connections)
    before, core0 = tree_cpu(proc.pid), cpu_busy(server_cpu)
    t0 = time.monotonic()
    r = wrk(topo, client_cpu, path, args.duration, args.connections)
    elapsed = time.monotonic() - t0
    after, core1 = tree_cpu(proc.pid), cpu_busy(server_cpu)
    used = sum(after.values()) - sum(before.get(pid, 0.0) for pid in after)
    r["path"] = path
    r["server_processes"] = len(after)
    r["server_cpu_s"] = round(used, 3)
    r["server_core_busy_s"] = (
        round(core1 - core0, 3) if core0 is not None and core1 is not None else None
    )
    r["wall_s"] = round(elapsed, 3)
    n = r.get("requests")
    r["cpu_s_per_10k"] = used / n * 10_000 if n else None
    busy = r["server_core_busy_s"]
    r["core_s_per_10k"] = busy / n * 10_000 if n and busy is not None else None
    r["loadavg_after"] = os.getloadavg()
    r["sample"] = sample(topo, path)
    return r


def bench_ssdk(
    topo: Topology,
    tmp: Path,
    cpus: tuple[int | None, int | None],
    args: argparse.Namespace,
    backend: str,
) -> list[dict[str, Any]]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    rows = []
    for kind, app, path in (
        ("dynamic", "ssdk_dynamic.py", "/hello"),
        ("precomputed", "ssdk_static.py", "/hello-static"),
    ):
        label = f"ssdk {kind} ({backend})"
        stats = tmp / f"stats-{backend}-{kind}.json"
        argv = ns_exec(
            topo.server_ns,
            pin(cpus[0], [sys.executable, "-m", "ssdk", "serve", str(APPS / app)])
            + ["--backend", backend, "--iface", topo.server_if, "--ip", topo.server_cidr]
            + ["--stats-file", str(stats)],
        )
        log = tmp / f"ssdk-{backend}-{kind}.log"
        try:
            with running(argv, log, cwd=APPS, env=env) as proc:
                wait_http(topo, path, 120, proc)
                print(f"{label} {path} ...", flush=True)
                r = measure(topo, proc, cpus, path, args)
                # The counters are rewritten twice a second: wait for one after the run.
                time.sleep(0.6)
                if stats.exists():
                    st = json.loads(stats.read_text())
                    r["server_stats"] = st
                    # Python's time per dynamic request (warm-up included), as `ssdk stats`.
                    if st.get("app_requests"):
                        r["app_us_per_request"] = st["app_ns"] / st["app_requests"] / 1000
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
            raise RuntimeError(f"{label}: {e}\n{tail(log)}") from e
        r.update(server=label, kind=f"ssdk-{kind}", backend=backend, command=argv)
        rows.append(r)
    return rows


def bench_asgi(
    topo: Topology,
    tmp: Path,
    cpus: tuple[int | None, int | None],
    args: argparse.Namespace,
    name: str,
    argv: list[str],
) -> dict[str, Any]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    full = ns_exec(topo.server_ns, pin(cpus[0], argv))
    log = tmp / f"{name}.log"
    try:
        with kernel_owns_server_ip(topo), running(full, log, cwd=APPS, env=env) as proc:
            wait_http(topo, "/hello", 60, proc)
            print(f"{name} /hello ...", flush=True)
            r = measure(topo, proc, cpus, "/hello", args)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"{name}: {e}\n{tail(log)}") from e
    r.update(server=name, kind=name, backend="kernel", command=full)
    return r


def tail(log: Path) -> str:
    return log.read_text()[-2000:] if log.exists() else ""


# --- the run --------------------------------------------------------------------------------


def fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def fmt_us(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.0f} us" if v < 1000 else f"{v / 1000:.2f} ms"


def errors_text(r: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in r["socket_errors"].items() if v]
    if r.get("non_2xx"):
        parts.append(f"non-2xx {r['non_2xx']}")
    return ", ".join(parts) or "none"


def print_table(rows: list[dict[str, Any]], base: float | None) -> None:
    head = (
        f"{'server':<30}{'path':<15}{'requests/s':>12}{'ratio':>7}{'cpu s/10k':>11}"
        f"{'core s/10k':>12}{'p50':>11}{'p99':>11}  errors"
    )
    print(head)
    for r in rows:
        rps = r["requests_per_s"]
        ratio = rps / base if rps is not None and base else None
        print(
            f"{r['server']:<30}{r['path']:<15}{fmt(rps, ',.0f'):>12}{fmt(ratio, '.2f'):>7}"
            f"{fmt(r['cpu_s_per_10k'], '.3f'):>11}{fmt(r['core_s_per_10k'], '.3f'):>12}"
            f"{fmt_us(r['latency_p50_us']):>11}{fmt_us(r['latency_p99_us']):>11}"
            f"  {errors_text(r)}"
        )


def asgi_servers() -> tuple[list[tuple[str, list[str]]], dict[str, Any]]:
    """The ASGI servers that can run here, with their command lines, and what each runs
    with (or why it cannot run)."""
    info: dict[str, Any] = {}
    servers: list[tuple[str, list[str]]] = []
    loop = "uvloop" if importable("uvloop") else "asyncio"
    if version_of("uvicorn") is None or not importable("uvicorn"):
        info["uvicorn"] = {
            "available": False,
            "why": f"uvicorn is not installed for {sys.executable} (pip install -e '.[bench]')",
        }
    else:
        http = "httptools" if importable("httptools") else "h11"
        info["uvicorn"] = {"available": True, "version": version_of("uvicorn"), "loop": loop,
                           "http": http, "uvloop": version_of("uvloop"),
                           "httptools": version_of("httptools")}  # fmt: skip
        servers.append(("uvicorn", [
            sys.executable, "-m", "uvicorn", "asgi_hello:asgi", "--host", "198.18.0.2",
            "--port", "80", "--workers", "1", "--no-access-log", "--log-level", "warning",
            "--loop", loop, "--http", http,
        ]))  # fmt: skip
    if version_of("granian") is None or not importable("granian"):
        info["granian"] = {
            "available": False,
            "why": f"granian is not installed for {sys.executable} (pip install -e '.[bench]')",
        }
    else:
        info["granian"] = {"available": True, "version": version_of("granian"), "loop": loop,
                           "http": "auto (HTTP/1.1 here)", "runtime_threads": 1}  # fmt: skip
        servers.append(("granian", [
            sys.executable, "-m", "granian", "--interface", "asgi", "--host", "198.18.0.2",
            "--port", "80", "--workers", "1", "--runtime-threads", "1", "--no-ws",
            "--loop", loop, "--log-level", "warning", "--no-access-log", "asgi_hello:asgi",
        ]))  # fmt: skip
    return servers, info


def main() -> int:
    ap = argparse.ArgumentParser(description="ssdk dynamic routes against ASGI servers, by wrk")
    ap.add_argument(
        "--backend",
        action="append",
        choices=["af_packet", "af_xdp"],
        help="ssdk backend (repeatable; default af_packet, and af_xdp if built)",
    )
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured wrk run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each run")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c")
    ap.add_argument("--no-asgi", action="store_true", help="measure ssdk only")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    why = cannot_run(("ip", "ethtool", "curl", "wrk"))
    if why:
        print(why, file=sys.stderr)
        return 2

    errors: list[str] = []
    xdp_ok, xdp_why = have_af_xdp()
    backends: list[str] = args.backend or (["af_packet", "af_xdp"] if xdp_ok else ["af_packet"])
    if "af_xdp" in backends and not xdp_ok:
        backends.remove("af_xdp")
        errors.append(f"af_xdp: {xdp_why}")
    skipped = {} if xdp_ok else {"af_xdp": xdp_why}

    cpus = pick_cpus()
    host = host_info()
    rows: list[dict[str, Any]] = []
    servers, asgi_info = asgi_servers()
    for name, entry in asgi_info.items():
        if not entry["available"]:
            errors.append(f"{name}: {entry['why']}")
    with tempfile.TemporaryDirectory(prefix="ssdk-dynbench-") as tmp_s:
        tmp = Path(tmp_s)
        with veth_pair("dynbench", offload_off=True) as topo:
            # ssdk first: the kernel servers need the kernel to own the address, which the
            # user-space stack must not see.
            for backend in backends:
                try:
                    rows += bench_ssdk(topo, tmp, cpus, args, backend)
                except RuntimeError as e:
                    errors.append(str(e))
                    print(f"failed: {e}", file=sys.stderr)
            for name, argv in [] if args.no_asgi else servers:
                try:
                    rows.append(bench_asgi(topo, tmp, cpus, args, name, argv))
                except RuntimeError as e:
                    errors.append(str(e))
                    asgi_info[name]["run_error"] = str(e)
                    print(f"failed: {e}", file=sys.stderr)

    base = next(
        (r["requests_per_s"] for r in rows if r["kind"] == "ssdk-dynamic"), None
    )  # the first backend's dynamic route: af_packet unless --backend says otherwise
    for r in rows:
        rps = r["requests_per_s"]
        r["ratio_to_ssdk_dynamic"] = rps / base if rps is not None and base else None
    print()
    print_table(rows, base)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    host["loadavg_at_end"] = os.getloadavg()
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": host,
        "versions": {
            "ssdk_commit": ssdk_commit(),
            "wrk": wrk_version(),
            "uvicorn": version_of("uvicorn"),
            "granian": version_of("granian"),
            "uvloop": version_of("uvloop"),
            "httptools": version_of("httptools"),
            "msgspec": version_of("msgspec"),
        },
        "setup": {
            "topology": "veth pair between two network namespaces, offloads off",
            "server_cpu": cpus[0],
            "client_cpu": cpus[1],
            "wrk": f"wrk -t1 -c{args.connections} -d{args.duration}s --latency (keep-alive)",
            "warmup_s": args.warmup,
            "ssdk_backends": backends,
            "ssdk_backends_skipped": skipped,
            "asgi": asgi_info,
            "cpu_s_per_10k": "utime+stime (with reaped children's) of the server's whole "
            "process tree from /proc/PID/stat, before and after the measured wrk run",
            "core_s_per_10k": "non-idle time of the server core from /proc/stat over the "
            "same span (includes softirq work not charged to any process, and anything "
            "else that ran on that core)",
            "ratio": "requests/s over ssdk's dynamic route on the first backend",
        },
        "results": rows,
        "errors": errors,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The servers are stopped and the namespaces removed on the way out.
        print("interrupted", file=sys.stderr)
        sys.exit(130)
