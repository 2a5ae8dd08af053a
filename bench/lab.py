# bench/lab.py: the lossy-path lab that bench/loss_vs_nginx.py and bench/loss_sweep.py
# share: a random file served by ssdk (AF_PACKET, no kernel address on the server end) or
# by nginx (the kernel owns the server address for its turn) in the server namespace of
# ssdk.tools.netns.bridged_pair, `ssdk impair` in the bridge namespace, one timed curl
# download from the client namespace checked byte-exact by sha256, and the counters of
# the three (the stats files of ssdk and of the bridge, the kernel's TCP counters).
# A topology made with IPv6 (bridged_pair(ipv6=True)) is served on both families, and a
# download may go over either (fetch's family).
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import NGINX_CONF, REPO, running, wait_http
from ssdk.tools.netns import BridgedTopology, kernel_owns_server_ip, ns_exec

SETTLE_S = 1.2  # after a download: both stats files (rewritten every 0.5 s) are current

APP = """\
import ssdk

app = ssdk.App()
app.static("/", "www/")
"""


def read_json(path: Path) -> dict[str, int]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if isinstance(v, int)}


def add(total: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def kernel_tcp_counters(ns: str) -> dict[str, int]:
    """Tcp and TcpExt counters of namespace ``ns``, from /proc/net/snmp and netstat."""
    out: dict[str, int] = {}
    for table in ("snmp", "netstat"):
        proc = subprocess.run(
            ns_exec(ns, ["cat", f"/proc/net/{table}"]), capture_output=True, text=True, check=False
        )
        lines = proc.stdout.splitlines()
        for head, vals in zip(lines[::2], lines[1::2], strict=False):
            names, values = head.split(), vals.split()
            if not names or names[0] not in ("Tcp:", "TcpExt:"):
                continue
            prefix = names[0].rstrip(":")
            for n, v in zip(names[1:], values[1:], strict=False):
                if v.lstrip("-").isdigit():
                    out[f"{prefix}.{n}"] = int(v)
    return out


def wait_log(log: Path, text: str, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        if proc.poll() is not None:
            raise RuntimeError(
                f"exited with {proc.returncode} before {text!r}: "
                f"{log.read_text()[-2000:] if log.exists() else ''}"
            )
        time.sleep(0.1)
    raise RuntimeError(f"no {text!r} in {log} within {timeout} s")


class Counters:
    """A stats file and where its counters were last read: take() gives what changed."""

    def __init__(self, stats: Path) -> None:
        self.stats = stats
        self.last = read_json(stats)

    def take(self) -> dict[str, int]:
        now = read_json(self.stats)
        d = delta(now, self.last)
        self.last = now
        return d


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def server_host(topo: BridgedTopology, family: int = 4) -> str:
    """The server's address as a URL's host: IPv4, or IPv6 in brackets."""
    if family == 4:
        return topo.server_ip
    if topo.server_ip6 is None:
        raise ValueError("an IPv6 download needs a topology made with ipv6=True")
    return f"[{topo.server_ip6}]"


def fetch(
    topo: BridgedTopology,
    tmp: Path,
    name: str,
    want: str,
    timeout: float,
    family: int = 4,
) -> dict[str, Any]:
    """One timed download over IPv4 or IPv6 (``family``); its sha256 compared with
    ``want``. Never raises for a bad run: a curl killed at ``timeout`` seconds has
    ``timed_out`` set and ``ok`` false."""
    dest = tmp / "download.bin"
    dest.unlink(missing_ok=True)
    url = f"http://{server_host(topo, family)}/{name}"
    argv = ["curl", "-sS", "--fail", "-o", str(dest), url]
    res: dict[str, Any] = {"command": " ".join(argv), "timed_out": False}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            ns_exec(topo.client_ns, argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        res["seconds"] = time.monotonic() - t0
        res["curl_exit"] = proc.returncode
        res["curl_stderr"] = proc.stderr.strip()
    except subprocess.TimeoutExpired:
        res["seconds"] = time.monotonic() - t0
        res["curl_exit"] = None
        res["timed_out"] = True
        res["curl_stderr"] = f"timed out after {timeout} s (killed)"
    got = None
    if dest.exists():
        got = sha256_file(dest)
        res["bytes"] = dest.stat().st_size
        dest.unlink()
    res["sha256"] = got
    if res["curl_exit"] != 0:
        res["ok"], res["error"] = False, f"curl exit {res['curl_exit']}: {res['curl_stderr']}"
    elif got != want:
        res["ok"], res["error"] = False, f"sha256 mismatch: got {got}, want {want}"
    else:
        res["ok"], res["error"] = True, None
    return res


def core_digest() -> str:
    """sha256 of ssdk's compiled core, to tell whether it was rebuilt during the run."""
    h = hashlib.sha256()
    for so in sorted((REPO / "ssdk").glob("_core*.so")):
        h.update(so.read_bytes())
    return h.hexdigest()[:16]


def make_site(tmp: Path, sizes: dict[str, int]) -> tuple[Path, dict[str, str]]:
    """Random files (name -> bytes, seeded by the name) in tmp/www, and an ssdk bundle
    serving them; returns the bundle and each file's sha256."""
    (tmp / "www").mkdir(exist_ok=True)
    sums: dict[str, str] = {}
    for name, size in sizes.items():
        data = random.Random(name).randbytes(size)
        (tmp / "www" / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
        del data
    (tmp / "app.py").write_text(APP)
    bundle = tmp / "site.ssdk"
    subprocess.run(
        [sys.executable, "-m", "ssdk", "build", "app.py", "-o", str(bundle)],
        cwd=tmp,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return bundle, sums


def impair_argv(
    topo: BridgedTopology, seed: int, stats: Path, spec: str | None, extra: list[str] | None = None
) -> list[str]:
    """`ssdk impair` between the bridge's two ends, ``spec`` both ways (None: plain)."""
    argv = [sys.executable, "-m", "ssdk", "impair", "--a", topo.bridge_client_if]
    argv += ["--b", topo.bridge_server_if, "--seed", str(seed), "--stats-file", str(stats)]
    if spec:
        argv += ["--impair-both", spec]
    return argv + (extra or [])


@contextmanager
def bridge(
    topo: BridgedTopology, tmp: Path, argv: list[str], tag: str
) -> Iterator[tuple[Counters, subprocess.Popen[str]]]:
    """Run ``argv`` (from impair_argv) in the bridge namespace until the block ends; yields
    its counters once its stats file exists. Its log is tmp/bridge-TAG.log."""
    stats = Path(argv[argv.index("--stats-file") + 1])
    stats.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    log = tmp / f"bridge-{tag}.log"
    with running(ns_exec(topo.bridge_ns, argv), signal.SIGINT, log, cwd=tmp, env=env) as proc:
        wait_log(log, "ssdk: ready", proc, 60)
        deadline = time.monotonic() + 10
        while not stats.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bridge wrote no {stats}")
            time.sleep(0.05)
        yield Counters(stats), proc


@contextmanager
def ssdk_serving(
    topo: BridgedTopology,
    tmp: Path,
    bundle: Path,
    probe: str,
    stats: Path,
    tag: str,
    extra: list[str] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """This checkout's `ssdk serve BUNDLE --backend af_packet` in the server namespace,
    on each of the topology's server addresses (one ``--ip`` each), ``extra`` options
    added, until the block ends; answering ``probe`` (through whatever bridge runs)
    before it yields. Its log is tmp/ssdk-TAG.log."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    ips = [arg for cidr in topo.server_cidrs for arg in ("--ip", cidr)]
    argv = ns_exec(
        topo.server_ns,
        [sys.executable, "-m", "ssdk", "serve", str(bundle)]
        + ["--backend", "af_packet", "--iface", topo.server_if]
        + [*ips, "--stats-file", str(stats)]
        + (extra or []),
    )
    with running(argv, signal.SIGINT, tmp / f"ssdk-{tag}.log", cwd=tmp, env=env) as proc:
        wait_http(topo, probe, 120, proc)
        time.sleep(SETTLE_S)
        yield proc


@contextmanager
def nginx_serving(
    topo: BridgedTopology, tmp: Path, probe: str, tag: str
) -> Iterator[subprocess.Popen[str]]:
    """nginx (NGINX_CONF, root tmp/www) in the server namespace, the kernel owning the
    server addresses (IPv6 too where the topology has it), until the block ends;
    answering ``probe`` before it yields."""
    conf = tmp / "nginx.conf"
    text = NGINX_CONF.format(tmp=tmp, ip=topo.server_ip)
    if topo.server_ip6:
        v4 = f"listen {topo.server_ip}:80;"
        text = text.replace(v4, f"{v4}\n        listen [{topo.server_ip6}]:80;")
    conf.write_text(text)
    argv = ns_exec(topo.server_ns, ["nginx", "-p", str(tmp), "-c", str(conf)])
    with (
        kernel_owns_server_ip(topo, ipv6=topo.server_ip6 is not None),
        running(argv, signal.SIGQUIT, tmp / f"nginx-{tag}.log", cwd=tmp) as proc,
    ):
        wait_http(topo, probe, 60, proc)
        time.sleep(SETTLE_S)
        yield proc
