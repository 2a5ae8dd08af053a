# bench/wrk_vs_nginx.py: `python bench/wrk_vs_nginx.py [--backend af_xdp ...]`. The same
# files served by ssdk (user-space stack; AF_PACKET unless --backend says otherwise, once
# per backend given) and by nginx (kernel stack), one after the other on one
# veth topology, measured by the same wrk from the same client namespace. Prints a table
# and writes bench/results/wrk_vs_nginx.json. It reports; it never asserts.
from __future__ import annotations

import argparse
import json
import os
import platform
import random
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssdk.core.netns import Topology, kernel_owns_server_ip, ns_exec, veth_pair  # noqa: E402

RESULTS = REPO / "bench" / "results" / "wrk_vs_nginx.json"
FILES = {"f1448.bin": 1448, "f8m.bin": 8 * 1024 * 1024}

APP = """\
import ssdk

app = ssdk.App()
app.static("/files", "www/files/")
"""

# One worker, sendfile, no access log, long keep-alive: nginx as it is usually tuned for
# static files. keepalive_requests is raised so wrk never has to reconnect, as with ssdk.
NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {ip}:80;
        root {tmp}/www;
    }}
}}
"""


def pin(cpu: int | None, argv: list[str]) -> list[str]:
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


def pick_cpus() -> tuple[int | None, int | None]:
    """(server cpu, client cpu): different cores when there are two and taskset exists."""
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(cpus) < 2:
        return None, None
    return cpus[-1], cpus[0]


def wait_http(topo: Topology, path: str, timeout: float, proc: subprocess.Popen[str]) -> None:
    url = f"http://{topo.server_ip}{path}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it answered")
        probe = subprocess.run(
            ns_exec(topo.client_ns, ["curl", "-s", "-o", "/dev/null", "--max-time", "2"])
            + ["-w", "%{http_code}", url],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "200":
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


@contextmanager
def running(
    argv: list[str], stop_sig: int, log: Path, **kw: Any
) -> Iterator[subprocess.Popen[str]]:
    """Run a server in its own session with its output in ``log``; stop it on exit."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(stop_sig)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def wrk(topo: Topology, cpu: int | None, path: str, duration: int, conns: int) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", f"http://{topo.server_ip}{path}"]
    proc = subprocess.run(
        ns_exec(topo.client_ns, pin(cpu, argv)),
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    return parse_wrk(proc.stdout, proc.stderr, proc.returncode)


_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def parse_wrk(stdout: str, stderr: str, rc: int) -> dict[str, Any]:
    res: dict[str, Any] = {"wrk_exit": rc, "wrk_output": stdout + stderr}
    m = re.search(r"Requests/sec:\s*([\d.]+)", stdout)
    res["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"Transfer/sec:\s*([\d.]+)\s*([KMGT]?B)", stdout)
    bytes_per_s = float(m.group(1)) * _UNITS[m.group(2)] if m else None
    res["bytes_per_s"] = bytes_per_s
    res["gbit_per_s"] = bytes_per_s * 8 / 1e9 if bytes_per_s is not None else None
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", stdout)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", stdout)
    res["latency_avg"] = m.group(1) if m else None
    m = re.search(r"Socket errors: (.*)", stdout)
    res["socket_errors"] = m.group(1).strip() if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def bench_ssdk(
    topo: Topology,
    tmp: Path,
    cpus: tuple[int | None, int | None],
    args: argparse.Namespace,
    backend: str = "af_packet",
) -> list[dict[str, Any]]:
    server_cpu, client_cpu = cpus
    bundle = tmp / "bench.ssdk"
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    subprocess.run(
        [sys.executable, "-m", "ssdk", "build", str(tmp / "app.py"), "-o", str(bundle)],
        cwd=tmp,
        env=env,
        check=True,
    )
    stats = tmp / "ssdk-stats.json"
    argv = ns_exec(
        topo.server_ns,
        pin(server_cpu, [sys.executable, "-m", "ssdk", "serve", str(bundle)])
        + ["--backend", backend, "--iface", topo.server_if, "--ip", topo.server_cidr]
        + ["--stats-file", str(stats)],
    )
    label = "ssdk" if backend == "af_packet" else f"ssdk/{backend}"
    rows = []
    with running(argv, signal.SIGINT, tmp / "ssdk.log", cwd=tmp, env=env) as proc:
        wait_http(topo, "/files/f1448.bin", 120, proc)
        for name in FILES:
            print(f"{label}  {name} ...", flush=True)
            r = wrk(topo, client_cpu, f"/files/{name}", args.duration, args.connections)
            r.update(server=label, backend=backend, file=name)
            if stats.exists():
                r["server_stats"] = json.loads(stats.read_text())
            rows.append(r)
    return rows


def bench_nginx(
    topo: Topology, tmp: Path, cpus: tuple[int | None, int | None], args: argparse.Namespace
) -> list[dict[str, Any]]:
    server_cpu, client_cpu = cpus
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, ip=topo.server_ip))
    argv = ns_exec(topo.server_ns, pin(server_cpu, ["nginx", "-p", str(tmp), "-c", str(conf)]))
    rows = []
    with (
        kernel_owns_server_ip(topo),
        running(argv, signal.SIGQUIT, tmp / "nginx.log", cwd=tmp) as proc,
    ):
        wait_http(topo, "/files/f1448.bin", 30, proc)
        for name in FILES:
            print(f"nginx {name} ...", flush=True)
            r = wrk(topo, client_cpu, f"/files/{name}", args.duration, args.connections)
            r.update(server="nginx", file=name)
            rows.append(r)
    return rows


def fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description="ssdk against nginx, measured by wrk")
    ap.add_argument("--backend", action="append", choices=["af_packet", "af_xdp"],
                    help="ssdk backend to measure (repeatable; default af_packet)")
    ap.add_argument("--no-nginx", action="store_true", help="measure ssdk only")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    backends: list[str] = args.backend or ["af_packet"]
    if os.geteuid() != 0:
        print("needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    missing = [t for t in ("ip", "ethtool", "curl", "wrk", "nginx") if shutil.which(t) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2

    cpus = pick_cpus()
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ssdk-bench-") as tmp_s:
        tmp = Path(tmp_s)
        files = tmp / "www" / "files"
        files.mkdir(parents=True)
        for name, size in FILES.items():
            (files / name).write_bytes(random.Random(name).randbytes(size))
        (tmp / "app.py").write_text(APP)
        with veth_pair("bench") as topo:
            # ssdk first: nginx needs the kernel to own the address, which ssdk must not see.
            runs: list[tuple[str, Any]] = [
                ("ssdk", lambda t, d, c, a, b=b: bench_ssdk(t, d, c, a, b)) for b in backends
            ]
            if not args.no_nginx:
                runs.append(("nginx", bench_nginx))
            for label, fn in runs:
                try:
                    rows += fn(topo, tmp, cpus, args)
                except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                    errors.append(f"{label}: {e}")
                    print(f"{label} failed: {e}", file=sys.stderr)
                    log = tmp / f"{label}.log"
                    if log.exists():
                        print(log.read_text()[-3000:], file=sys.stderr)

    print()
    print(f"{'server':<16}{'file':<12}{'requests/s':>14}{'Gbit/s':>10}  errors")
    for r in rows:
        errs = r.get("socket_errors") or ""
        if r.get("non_2xx"):
            errs += f" non-2xx: {r['non_2xx']}"
        print(
            f"{r['server']:<16}{r['file']:<12}{fmt(r['requests_per_s'], ',.0f'):>14}"
            f"{fmt(r['gbit_per_s'], '.2f'):>10}  {errs.strip()}"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {
            "kernel": platform.release(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "setup": {
            "topology": "veth pair between two network namespaces, offloads off",
            "server_cpu": cpus[0],
            "client_cpu": cpus[1],
            "wrk": f"wrk -t1 -c{args.connections} -d{args.duration}s",
            "ssdk": " | ".join(f"ssdk serve --backend {b}" for b in backends),
            "nginx": "1 worker, sendfile on, access_log off, keepalive",
            "files": FILES,
        },
        "results": rows,
        "errors": errors,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
