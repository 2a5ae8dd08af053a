# bench/ipv6_rate.py: `sudo python3 -m bench.ipv6_rate [--duration S] [--conns N]
# [--rounds R] [--out JSON]`, from the repository's root. The 1 KiB keep-alive rate of
# ssdk over IPv6 against IPv4, in one run: for each backend (af_xdp, af_packet) one
# `ssdk serve` with both addresses (--ip 198.18.0.2/15 --ip 2001:2::2/64) on a veth pair
# of its own (offloads off on both ends, one queue, the server pinned to one core and
# wrk -t1 to the other, each end's receive processing steered by RPS to its own side's
# core, as bench/wrk_vs_nginx.py sets up), and wrk against
# http://198.18.0.2/f1k.bin and http://[2001:2::2]/f1k.bin back to back, R rounds each,
# alternating, so that a drift of the machine falls on both families alike. Records
# requests/s per run, the median per family and their ratio, the median of the
# per-round ratios (two runs back to back), and ssdk's frames, into
# bench/results/ipv6_rate.json, and prints the table. It reports; it never asserts.
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS_DIR, cannot_run, pick_cpus, pin, running, wait_http
from bench.kernel_net import set_rps
from bench.lab import read_json
from bench.wrk_vs_nginx import parse_wrk
from ssdk.tools.netns import Topology, ns_exec, veth_pair

RESULTS = RESULTS_DIR / "ipv6_rate.json"
BACKENDS = ("af_xdp", "af_packet")
FILE = "f1k.bin"
APP = 'import ssdk\n\napp = ssdk.App()\napp.static("/", "www/")\n'


def build(tmp: Path) -> Path:
    """A 1 KiB file (random, seeded) and a bundle serving it."""
    (tmp / "www").mkdir()
    (tmp / "www" / FILE).write_bytes(random.Random(FILE).randbytes(1024))
    (tmp / "app.py").write_text(APP)
    bundle = tmp / "site.ssdk"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "ssdk", "build", "app.py", "-o", str(bundle)],
                   cwd=tmp, env=env, check=True, capture_output=True)  # fmt: skip
    return bundle


def url(topo: Topology, family: int) -> str:
    host = f"[{topo.server_ip6}]" if family == 6 else topo.server_ip
    return f"http://{host}/{FILE}"


def wrk(topo: Topology, cpu: int | None, family: int, conns: int, duration: int) -> dict[str, Any]:
    argv = pin(cpu, ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", url(topo, family)])
    proc = subprocess.run(ns_exec(topo.client_ns, argv), capture_output=True, text=True,
                          timeout=duration + 60, check=False)  # fmt: skip
    row = parse_wrk(proc.stdout, proc.stderr, proc.returncode)
    row.pop("wrk_output", None)
    return {"family": family, "command": " ".join(argv), **row}


def one_backend(tmp: Path, bundle: Path, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Serve both families on a fresh pair; wrk over each in turn, args.rounds times."""
    server_cpu, client_cpu = pick_cpus()
    out: dict[str, Any] = {"backend": backend, "runs": []}
    with veth_pair("v6b", offload_off=True, ipv6=True) as topo:
        if server_cpu is not None and client_cpu is not None:
            out["rps"] = [set_rps(topo.server_ns, topo.server_if, server_cpu),
                          set_rps(topo.client_ns, topo.client_if, client_cpu)]  # fmt: skip
        stats = tmp / f"stats-{backend}.json"
        ips = [a for cidr in topo.server_cidrs for a in ("--ip", cidr)]
        argv = ns_exec(topo.server_ns, pin(server_cpu, [sys.executable, "-m", "ssdk", "serve",
                       str(bundle), "--backend", backend, "--iface", topo.server_if, *ips,
                       "--stats-file", str(stats)]))  # fmt: skip
        out["command"] = " ".join(argv)
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        log = tmp / f"{backend}.log"
        with running(argv, signal.SIGINT, log, cwd=tmp, env=env) as proc:
            wait_http(topo, f"/{FILE}", 120, proc)
            for r in range(args.rounds):
                # Alternate which family goes first, so neither always runs on a warmer
                # (or more tired) machine.
                for family in (4, 6) if r % 2 == 0 else (6, 4):
                    before = read_json(stats)
                    row = wrk(topo, client_cpu, family, args.conns, args.duration)
                    time.sleep(0.6)  # the stats file is rewritten every 0.5 s
                    after = read_json(stats)
                    row["ssdk_tx_frames"] = after.get("tx_frames", 0) - before.get("tx_frames", 0)
                    out["runs"].append(row)
        out["banner"] = [ln for ln in log.read_text().splitlines() if "ssdk:" in ln][:8]
    for family in (4, 6):
        rates = [r["requests_per_s"] for r in out["runs"] if r["family"] == family]
        good = [r for r in rates if r]
        out[f"ipv{family}_median"] = statistics.median(good) if good else None
        out[f"ipv{family}_range"] = [min(good), max(good)] if good else None
    v4, v6 = out["ipv4_median"], out["ipv6_median"]
    out["ipv6_over_ipv4"] = v6 / v4 if v4 and v6 else None
    out["round_ratios"] = round_ratios(out["runs"])
    good = [r for r in out["round_ratios"] if r]
    out["round_ratio_median"] = statistics.median(good) if good else None
    return out


def round_ratios(runs: list[dict[str, Any]]) -> list[float | None]:
    """IPv6/IPv4 within each round: the two runs were back to back, so a machine whose
    speed drifts (other work on it) moves both alike and the ratio less than either."""
    out: list[float | None] = []
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        v4, v6 = (a, b) if a["family"] == 4 else (b, a)
        ok = v4["requests_per_s"] and v6["requests_per_s"]
        out.append(v6["requests_per_s"] / v4["requests_per_s"] if ok else None)
    return out


def spread(r: list[float] | None) -> str:
    return f"({r[0]:.0f}-{r[1]:.0f})" if r else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description="ssdk's 1 KiB keep-alive rate, IPv6 against IPv4")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--conns", type=int, default=16, help="wrk connections (default 16)")
    ap.add_argument("--rounds", type=int, default=3, help="runs per family and backend")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    why = cannot_run(("wrk", "ip", "taskset"))
    if why:
        print(f"bench.ipv6_rate: {why}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {
        "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
        "args": vars(args) | {"out": str(args.out)},
        "backends": [],
    }
    with tempfile.TemporaryDirectory(prefix="ssdk-v6rate-") as tmp_s:
        tmp = Path(tmp_s)
        bundle = build(tmp)
        for backend in BACKENDS:
            result["backends"].append(one_backend(tmp, bundle, backend, args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"1 KiB keep-alive, wrk -t1 -c{args.conns}, {args.duration} s x {args.rounds} "
          "rounds per family (median requests/s)")  # fmt: skip
    print(f"{'server':<16} {'IPv4':>8} {'(min-max)':>15} {'IPv6':>8} {'(min-max)':>15} "
          f"{'IPv6/IPv4':>9} {'per round':>9}")  # fmt: skip
    for b in result["backends"]:
        cells = [f"{b[f'ipv{f}_median'] or 0:>8.0f} {spread(b[f'ipv{f}_range']):>15}"
                 for f in (4, 6)]  # fmt: skip
        print(f"ssdk-{b['backend']:<11} {cells[0]} {cells[1]} {b['ipv6_over_ipv4'] or 0:>9.3f} "
              f"{b['round_ratio_median'] or 0:>9.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
