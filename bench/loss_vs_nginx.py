# bench/loss_vs_nginx.py: `python3 -m bench.loss_vs_nginx` (root; from the repository's
# root). How long one 20 MiB download takes from ssdk (user-space stack, AF_PACKET) and
# from nginx (kernel stack) behind the same lossy path. One bridged topology (client ns --
# bridge ns -- server ns, ssdk.tools.netns.bridged_pair) is built once; `ssdk impair` runs
# in the bridge namespace with --impair-both SPEC (default loss=5%,dup=1%,reorder=1%) and
# a fixed, printed seed. Behind that bridge the same random file is served first by ssdk,
# then by nginx, and fetched by `curl -sS --fail -o FILE` from the client namespace,
# --reps times each; every download is checked byte-exact by sha256. The bridge is then
# restarted with no impairment for one baseline download from each. Nothing is pinned: the
# bridge, the server and the client share the machine's cores. Prints tables (times,
# ssdk's and the kernel's TCP counters, the bridge's counters per direction) and writes
# bench/results/loss_vs_nginx.json. It reports; it never asserts.
#
#   sudo python3 -m bench.loss_vs_nginx [--spec SPEC] [--seed N] [--size-mib N] [--reps N]
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, cannot_run, fmt
from bench.lab import (
    SETTLE_S,
    Counters,
    add,
    bridge,
    core_digest,
    delta,
    fetch,
    impair_argv,
    kernel_tcp_counters,
    make_site,
    nginx_serving,
    read_json,
    ssdk_serving,
)
from ssdk.tools.netns import BridgedTopology, bridged_pair

RESULTS = RESULTS_DIR / "loss_vs_nginx.json"
DEFAULT_SPEC = "loss=5%,dup=1%,reorder=1%"
DEFAULT_SEED = 20261126
BASELINE = "none"  # the bridge's label when it runs with no impairment

# ssdk counters shown in the table, with their column titles (drop_* follow when non-zero).
SSDK_KEYS = (
    ("retransmits", "retrans"),
    ("rto_expired", "rto"),
    ("fast_retransmits", "fast"),
    ("tail_probes", "tlp"),
    ("rtx_lost", "rtx_lost"),
    ("sack_blocks", "sack"),
)
# The kernel's counters of the server namespace for nginx, as nstat names them.
KERNEL_KEYS = (
    "Tcp.RetransSegs",
    "TcpExt.TCPTimeouts",
    "TcpExt.TCPFastRetrans",
    "TcpExt.TCPSackRecovery",
    "TcpExt.TCPDSACKRecv",
    "TcpExt.TCPLossProbes",
)
BRIDGE_KEYS = (
    "forwarded",
    "impair_dropped",
    "impair_duplicated",
    "impair_reordered",
    "impair_pool_full",
    "rx_ring",
    "tx_full",
    "truncated",
)


def downloads(
    server: str,
    topo: BridgedTopology,
    tmp: Path,
    bridge: Counters,
    server_stats: Path | None,
    impairment: str,
    reps: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    ssdk_before = read_json(server_stats) if server_stats else {}
    bridge.take()  # the setup probes' frames are not the first run's
    for i in range(reps):
        print(f"{server:<6}{impairment:<28}run {i + 1}/{reps} ...", end="", flush=True)
        kern_before = kernel_tcp_counters(topo.server_ns) if server == "nginx" else {}
        r = fetch(topo, tmp, args.name, args.sha256, args.timeout)
        time.sleep(SETTLE_S)
        r["bridge"] = bridge.take()
        if server_stats:
            now = read_json(server_stats)
            r["ssdk"] = delta(now, ssdk_before)
            ssdk_before = now
        else:
            r["kernel"] = delta(kernel_tcp_counters(topo.server_ns), kern_before)
        print(f" {r['seconds']:.2f} s" + ("" if r["ok"] else f"  FAILED: {r['error']}"), flush=True)
        runs.append(r)
    return summarize(server, impairment, runs, args.size)


def summarize(
    server: str, impairment: str, runs: list[dict[str, Any]], size: int
) -> dict[str, Any]:
    good = [r["seconds"] for r in runs if r["ok"]]
    med = statistics.median(good) if good else None
    totals: dict[str, dict[str, int]] = {"bridge": {}, "ssdk": {}, "kernel": {}}
    for r in runs:
        for k, t in totals.items():
            add(t, r.get(k, {}))
    return {
        "server": server,
        "impairment": impairment,
        "runs": runs,
        "ok": len(good),
        "failed": len(runs) - len(good),
        "seconds_min": min(good) if good else None,
        "seconds_median": med,
        "seconds_max": max(good) if good else None,
        "mbit_per_s_median": size * 8 / med / 1e6 if med else None,
        "ssdk_counters": totals["ssdk"] if server == "ssdk" else None,
        "kernel_counters": totals["kernel"] if server == "nginx" else None,
        "bridge_counters": totals["bridge"],
    }


def serve_ssdk(
    topo: BridgedTopology,
    tmp: Path,
    bridge: Counters,
    impairment: str,
    reps: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    tag = "impaired" if impairment != BASELINE else "baseline"
    stats = tmp / f"ssdk-stats-{tag}.json"
    with ssdk_serving(topo, tmp, args.bundle, f"/{args.name}", stats, tag):
        group = downloads("ssdk", topo, tmp, bridge, stats, impairment, reps, args)
    group["ssdk_final_counters"] = read_json(stats)
    return group


def serve_nginx(
    topo: BridgedTopology,
    tmp: Path,
    bridge: Counters,
    impairment: str,
    reps: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    tag = "impaired" if impairment != BASELINE else "baseline"
    with nginx_serving(topo, tmp, f"/{args.name}", tag):
        return downloads("nginx", topo, tmp, bridge, None, impairment, reps, args)


def bridge_phase(
    topo: BridgedTopology,
    tmp: Path,
    spec: str | None,
    reps: int,
    args: argparse.Namespace,
    errors: list[str],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start the bridge (impairing with ``spec``, or plain), serve with ssdk then nginx."""
    impairment = spec or BASELINE
    tag = "impaired" if spec else "baseline"
    stats = tmp / f"bridge-stats-{tag}.json"
    log = tmp / f"bridge-{tag}.log"
    argv = impair_argv(topo, args.seed, stats, spec)
    groups: list[dict[str, Any]] = []
    with bridge(topo, tmp, argv, tag) as (counters, _proc):
        print(log.read_text().splitlines()[0], flush=True)
        for server, fn in (("ssdk", serve_ssdk), ("nginx", serve_nginx)):
            try:
                groups.append(fn(topo, tmp, counters, impairment, reps, args))
            except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                errors.append(f"{server} ({impairment}): {e}")
                print(f"{server} ({impairment}) failed: {e}", file=sys.stderr)
                slog = tmp / f"{server}-{tag}.log"
                if slog.exists():
                    print(slog.read_text()[-3000:], file=sys.stderr)
    phase = {
        "impairment": impairment,
        "seed": args.seed,
        "command": argv[2:],
        "final_counters": read_json(stats),
        "log": log.read_text()[-4000:],
    }
    return groups, phase


def print_tables(groups: list[dict[str, Any]]) -> None:
    print("\nDownload times (failed runs are left out of min/median/max and listed below):")
    print(
        f"{'server':<7}{'impairment':<28}{'ok':>5}{'min s':>8}{'median s':>10}{'max s':>8}"
        f"{'Mbit/s':>9}  ssdk:" + "".join(f"{t:>9}" for _, t in SSDK_KEYS) + "  drop_*"
    )
    for g in groups:
        c = g["ssdk_counters"]
        extra = ""
        if c is not None:
            drops = " ".join(
                f"{k}={v}" for k, v in sorted(c.items()) if k.startswith("drop_") and v
            )
            extra = "     " + "".join(f"{c.get(k, 0):>9}" for k, _ in SSDK_KEYS)
            extra += f"  {drops or '-'}"
        print(
            f"{g['server']:<7}{g['impairment']:<28}{g['ok']:>3}/{len(g['runs'])}"
            f"{fmt(g['seconds_min'], '.2f'):>8}{fmt(g['seconds_median'], '.2f'):>10}"
            f"{fmt(g['seconds_max'], '.2f'):>8}{fmt(g['mbit_per_s_median'], '.1f'):>9}  {extra}"
        )
    print("\nnginx: the server namespace's kernel TCP counters (nstat names), summed over runs:")
    print(f"{'impairment':<28}" + "".join(f"{k.split('.')[1]:>16}" for k in KERNEL_KEYS))
    for g in groups:
        if g["kernel_counters"] is not None:
            k = g["kernel_counters"]
            print(f"{g['impairment']:<28}" + "".join(f"{k.get(n, 0):>16}" for n in KERNEL_KEYS))
    print(
        "\nBridge counters during the downloads, per direction (c>s: client to server,"
        " s>c: server to client):"
    )
    print(
        f"{'server':<7}{'impairment':<28}{'dir':<5}"
        + "".join(f"{k.removeprefix('impair_'):>11}" for k in BRIDGE_KEYS)
    )
    for g in groups:
        b = g["bridge_counters"]
        for d, label in (("ab", "c>s"), ("ba", "s>c")):
            print(
                f"{g['server']:<7}{g['impairment']:<28}{label:<5}"
                + "".join(f"{b.get(f'{d}_{k}', 0):>11}" for k in BRIDGE_KEYS)
            )
    fails = [(g, i, r) for g in groups for i, r in enumerate(g["runs"], 1) if not r["ok"]]
    print("\nFailed runs:" if fails else "\nFailed runs: none")
    for g, i, r in fails:
        print(f"  {g['server']} ({g['impairment']}) run {i}: {r['error']}")


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description="ssdk against nginx behind an impairing bridge")
    ap.add_argument("--spec", default=DEFAULT_SPEC, help="impairment, both directions")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the bridge's seed")
    ap.add_argument("--size-mib", type=int, default=20, help="file size, MiB")
    ap.add_argument("--reps", type=int, default=3, help="downloads per server, impaired")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before a curl is killed")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    why = cannot_run(("ip", "ethtool", "curl", "nginx"))
    if why:
        print(why, file=sys.stderr)
        return 2
    args.size = args.size_mib * 1024 * 1024
    args.name = f"f{args.size_mib}m.bin"
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    core_before = core_digest()
    print(
        f"spec {args.spec}, seed {args.seed}, file {args.name} ({args.size} bytes), "
        f"{args.reps} runs per server impaired, 1 baseline"
    )
    print(f"not pinned: the bridge, the server and the client share {cores} cores")
    print(f"ssdk compiled core sha256 {core_before}...")

    # SIGTERM cleans up as Ctrl-C does: servers stopped, namespaces and files removed.
    signal.signal(signal.SIGTERM, interrupt)
    groups: list[dict[str, Any]] = []
    phases: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ssdk-loss-") as tmp_s:
            tmp = Path(tmp_s)
            args.bundle, sums = make_site(tmp, {args.name: args.size})
            args.sha256 = sums[args.name]
            with bridged_pair("loss") as topo:
                for spec, reps in ((args.spec, args.reps), (None, 1)):
                    g, p = bridge_phase(topo, tmp, spec, reps, args, errors)
                    groups += g
                    phases.append(p)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: namespaces and processes removed, no results written", file=sys.stderr
        )
        return 130

    print_tables(groups)
    core_after = core_digest()
    if core_after != core_before:
        print(
            f"\nssdk's compiled core changed during the run ({core_before} -> {core_after}):"
            " the ssdk figures may mix two builds"
        )
    print(
        f"\nload average (1, 5, 15 min) before {fmt_load(load_before)}, "
        f"after {fmt_load(os.getloadavg())}: other work on the machine shows here"
    )
    for e in errors:
        print(f"error: {e}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {
            "kernel": platform.release(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "ssdk_core_sha256_16_before": core_before,
            "ssdk_core_sha256_16_after": core_after,
        },
        "setup": {
            "topology": "client ns -veth- bridge ns (ssdk impair) -veth- server ns, "
            "offloads off on all four ends",
            "pinning": f"none: bridge, server and client share {cores} cores",
            "impairment": args.spec,
            "impairment_directions": "both (ab: client to server, ba: server to client)",
            "seed": args.seed,
            "file": args.name,
            "bytes": args.size,
            "sha256": args.sha256,
            "reps_impaired": args.reps,
            "reps_baseline": 1,
            "curl": f"curl -sS --fail -o FILE http://198.18.0.2/{args.name}",
            "ssdk": "ssdk serve --backend af_packet (server end has no kernel address)",
            "nginx": "1 worker, sendfile on, access_log off (kernel owns 198.18.0.2)",
            "counters": "per-run deltas of the stats files, summed per server and impairment",
        },
        "results": groups,
        "bridge_phases": phases,
        "errors": errors,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
