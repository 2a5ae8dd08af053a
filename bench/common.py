# bench/common.py: what more than one benchmark uses: where the repository and the
# results are, nginx as every comparison configures it, CPU pinning, and running and
# probing a server in a topology of ssdk.tools.netns.
#
# bench/wrk_vs_nginx.py   -> NGINX_CONF, pick_cpus, pin, wait_http, running, fmt
# bench/goals.py          -> fmt
# bench/lab.py           -> NGINX_CONF, REPO, wait_http, running (for loss_vs_nginx, loss_sweep)
# bench/loss_vs_nginx.py  -> RESULTS_DIR, fmt
# bench/loss_sweep.py     -> RESULTS_DIR, fmt
# bench/dynamic_vs_asgi.py -> pick_cpus, pin
# bench/fct.py            -> pick_cpus, pin, fmt (and wrk_vs_nginx's servers and lab)
# bench/https_vs_nginx.py -> NGINX_CONF (with HTTPS added), RESULTS_DIR, cannot_run, fmt,
#                            pick_cpus, pin (and wrk_vs_nginx's servers and measurements)
#
# The benchmarks run as modules of the bench package from the repository's root
# (`python3 -m bench.wrk_vs_nginx`), so `import ssdk` and `from bench.common import ...`
# find this checkout without touching sys.path; the servers they start get the same
# checkout through PYTHONPATH=REPO.
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ssdk.tools.netns import Topology, ns_exec

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS_DIR = BENCH / "results"

# One worker, sendfile, tcp_nopush, no access log, long keep-alive, and the open file
# cache as nginx's documentation shows it for static files: nginx as it is usually tuned
# to serve files. keepalive_requests is raised so wrk never has to reconnect, as with ssdk.
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
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 30s;
    open_file_cache_min_uses 2;
    open_file_cache_errors on;
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


def fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def cannot_run(tools: tuple[str, ...]) -> str | None:
    """Why a benchmark cannot run here (not root, or a tool missing), or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, raw sockets)"
    missing = [t for t in tools if shutil.which(t) is None]
    return f"missing tools: {', '.join(missing)}" if missing else None


def unwind_on_term() -> None:
    """SIGTERM (and SIGHUP, unless ignored) unwind like Ctrl-C, so that the namespaces
    and servers a benchmark made are always removed."""

    def on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, on_term)
