# bench/loss_sweep.py: `sudo python3 -m bench.loss_sweep` (root; from the repository's
# root). Issue 14, part 5: download completion times from ssdk and from nginx on the
# kernel behind the same impairing bridge, swept over loss (each way) x round-trip time x
# file size x seed, with the same congestion control on both sides; and, with
# --bottleneck, many parallel downloads through one rate-limited link with a drop-tail
# queue of one bandwidth-delay product.
#
# The lab is bench/lab.py's (client ns -- bridge ns running `ssdk impair` -- server ns).
# A sweep point is (cc, size, rtt, loss). For each point ssdk is started, then for each
# seed the bridge is started with the point's spec and that seed and one download runs;
# then the same for nginx. Both servers thus see a fresh bridge with the same spec and
# seed for each download, back to back. The round trip is made by the bridge's delay:
# RTT/2 each way, in whole milliseconds (the server-to-client side takes the odd one, so
# RTT 1 ms is 0 ms to the server and 1 ms back). Every download is checked byte-exact by
# sha256, and a download still running after --timeout s is killed and recorded as a
# timeout. The JSON is rewritten after every point, so an interrupted run keeps what it
# has. It reports; it never asserts.
#
# Congestion control: the kernel's is set in the server and client namespaces
# (bench.kernel_net.set_cc); ssdk's is `ssdk serve --cc`, the same one unless --ssdk-cc
# says otherwise (a row where they differ reads NOT MEASURED: no like-for-like goal).
# --ssdk-arg adds an argument to `ssdk serve` (--ssdk-arg=--no-pacing), kept in the JSON.
#
#   sudo python3 -m bench.loss_sweep                       # the full sweep (hours)
#   sudo python3 -m bench.loss_sweep --only loss=1,5 --only rtt=1,20 --only size=1MiB \
#        --seeds 2 --cc cubic                              # a small one
#   sudo python3 -m bench.loss_sweep --bottleneck [--conns 200] [--cc cubic]
#   sudo python3 -m bench.loss_sweep --resume ...          # after an interruption
#   python3 -m bench.loss_sweep --plot-only [--out FILE]   # table and plot from a JSON
#   python3 -m bench.loss_sweep --dry-run ...              # the plan and its estimate
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, cannot_run, fmt
from bench.kernel_net import set_cc
from bench.lab import (
    SETTLE_S,
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
from ssdk.tools.netns import BridgedTopology, bridged_pair, ns_exec

LOSSES = (0.5, 1.0, 2.0, 5.0, 10.0)  # percent, each way
RTTS = (1, 20, 80)  # ms
SIZES = {"1MiB": 1 << 20, "20MiB": 20 << 20}
CCS = ("cubic", "bbr")
# The congestion control ssdk serves with when the kernel runs the key: the same one.
SSDK_CC = {"cubic": "cubic", "bbr": "bbr", "newreno": "newreno", "reno": "newreno"}
SERVERS = ("ssdk", "nginx")
GOAL_RATIO = 1.2  # median ssdk / kernel completion time, at most
GOAL_GOODPUT = 0.9  # bottleneck goodput, at least this times the kernel's
GOAL_JAIN = 0.9
RESULTS = RESULTS_DIR / "loss_sweep.json"
BN_RESULTS = RESULTS_DIR / "loss_bottleneck.json"
PROBE_SEED = 0  # the plain bridge that runs while a server starts

SSDK_KEYS = ("retransmits", "rto_expired", "fast_retransmits", "tail_probes")
KERNEL_KEYS = ("Tcp.RetransSegs", "TcpExt.TCPTimeouts", "TcpExt.TCPLossProbes")


def loss_label(loss: float) -> str:
    return f"{loss:g}%"


def point_specs(loss: float, rtt: int) -> tuple[str, str]:
    """(client to server, server to client) impairment of a sweep point."""
    to_server, to_client = rtt // 2, rtt - rtt // 2

    def one(delay: int) -> str:
        return f"loss={loss:g}%" + (f",delay={delay}ms" if delay else "")

    return one(to_server), one(to_client)


def mathis_s(size: int, loss: float, rtt: int) -> float:
    """A rough transfer time: the Mathis et al. rate (MSS/RTT x 1.22/sqrt(p)), capped at
    1 Gbit/s (the cap alone without loss), with p the loss one way; for the estimate
    printed before a run only."""
    if loss <= 0:
        return size * 8 / 1e9
    rate = 1448 * 8 / (max(rtt, 0.2) / 1000) * 1.22 / math.sqrt(loss / 100)
    return size * 8 / min(rate, 1e9)


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    pts = []
    for cc in args.ccs:
        for size in args.sizes:
            for rtt in args.rtts:
                for loss in args.losses:
                    pts.append({"cc": cc, "size": size, "rtt_ms": rtt, "loss_pct": loss})
    return pts


SSDK_SLOWER = 2.0  # ssdk's time over the kernel's in the estimate (1.4x-2x seen under CUBIC)


def estimate_s(points: list[dict[str, Any]], args: argparse.Namespace) -> float:
    """Seconds the plan may take: per server and point a start (about 4 s), per download
    a bridge start and settling (about 3 s) and the transfer: mathis_s for the kernel,
    SSDK_SLOWER times that for ssdk, each capped at the timeout."""
    total = 0.0
    for p in points:
        t = mathis_s(SIZES[p["size"]], p["loss_pct"], p["rtt_ms"])
        for slower in (1.0, SSDK_SLOWER):
            total += 4 + args.seeds * (3 + min(args.timeout, slower * t))
    return total


def point_key(p: dict[str, Any]) -> tuple[Any, ...]:
    return (p["cc"], p["size"], p["rtt_ms"], p["loss_pct"])


def parse_only(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, _, vals = item.partition("=")
        if key not in ("loss", "rtt", "size", "cc") or not vals:
            raise SystemExit(f"--only {item}: expected loss=|rtt=|size=|cc= and values")
        out.setdefault(key, []).extend(v.strip() for v in vals.split(",") if v.strip())
    return out


def median_or_inf(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.inf


def summarize_point(point: dict[str, Any]) -> None:
    """Median per server (a timed-out download counts as longer than any finished one),
    the ratio ssdk/kernel and the point's goal."""
    for server in SERVERS:
        runs = point["runs"][server]
        times = [r["seconds"] if r["ok"] else math.inf for r in runs]
        med = median_or_inf(times)
        point[server] = {
            "seconds": [r["seconds"] for r in runs],
            "ok": sum(1 for r in runs if r["ok"]),
            "timeouts": sum(1 for r in runs if r.get("timed_out")),
            "errors": [r["error"] for r in runs if not r["ok"] and not r.get("timed_out")],
            "median_s": None if math.isinf(med) else med,
            "median_is_timeout": bool(runs) and math.isinf(med),
        }
    s, k = point["ssdk"], point["nginx"]
    ratio = None
    if s["median_s"] is not None and k["median_s"] is not None:
        ratio = s["median_s"] / k["median_s"]
    point["ratio"] = ratio
    if point["ssdk_cc"] != point["cc"]:
        goal = "NOT MEASURED"
        why = f"ssdk ran {point['ssdk_cc']} against the kernel's {point['cc']}"
    elif not point["runs"]["ssdk"] or not point["runs"]["nginx"]:
        goal, why = "NOT MEASURED", "no downloads"
    elif s["errors"]:
        goal, why = "MISSED", "ssdk: " + s["errors"][0]
    elif k["errors"] or k["median_is_timeout"]:
        goal, why = "NOT MEASURED", "the kernel's downloads failed or timed out"
    elif s["median_is_timeout"]:
        goal, why = "MISSED", "ssdk's median download timed out"
    else:
        assert ratio is not None
        goal = "MET" if ratio <= GOAL_RATIO else "MISSED"
        why = f"{ratio:.2f}x"
    point["goal"], point["goal_why"] = goal, why


def counters_line(point: dict[str, Any], server: str) -> str:
    tot: dict[str, int] = {}
    for r in point["runs"][server]:
        for k, v in r.get("counters", {}).items():
            tot[k] = tot.get(k, 0) + v
    keys = SSDK_KEYS if server == "ssdk" else KERNEL_KEYS
    return "/".join(str(tot.get(k, 0)) for k in keys)


def print_table(points: list[dict[str, Any]]) -> None:
    print(
        "\nMedian completion time per point (a timed-out download counts as longer than any"
        " finished one; '>T' when the median timed out).\nssdk counters summed over seeds:"
        " retransmits/rto_expired/fast_retransmits/tail_probes; kernel (nginx's namespace):"
        " RetransSegs/TCPTimeouts/TCPLossProbes."
    )
    head = (
        f"{'cc k/ssdk':<14}{'size':<7}{'rtt':>5}{'loss':>6}{'seeds':>6}"
        f"{'ssdk s':>9}{'kernel s':>10}{'ratio':>7}  {'goal':<13}"
        f"{'ssdk counters':<20}{'kernel counters'}"
    )
    print(head)
    for p in points:
        if "ratio" not in p:
            continue
        cells = []
        for server in SERVERS:
            x = p[server]
            cells.append(
                f">{p['timeout_s']:g}" if x["median_is_timeout"] else fmt(x["median_s"], ".2f")
            )
        print(
            f"{p['cc'] + '/' + p['ssdk_cc']:<14}{p['size']:<7}{p['rtt_ms']:>3}ms"
            f"{loss_label(p['loss_pct']):>6}{len(p['runs']['ssdk']):>6}"
            f"{cells[0]:>9}{cells[1]:>10}{fmt(p['ratio'], '.2f'):>7}  {p['goal']:<13}"
            f"{counters_line(p, 'ssdk'):<20}{counters_line(p, 'nginx')}"
        )
    bad = [(p, s, r) for p in points for s in SERVERS for r in p["runs"][s] if not r["ok"]]
    print("\nFailed or timed-out downloads:" if bad else "\nFailed or timed-out downloads: none")
    for p, s, r in bad:
        print(
            f"  {s} {p['cc']} {p['size']} rtt {p['rtt_ms']} ms loss {loss_label(p['loss_pct'])}"
            f" seed {r['seed']}: {r['error']}"
        )


def print_goals(points: list[dict[str, Any]], ccs: list[str]) -> None:
    print(f"\nGoal: median completion time at most {GOAL_RATIO}x the kernel's, every point:")
    for cc in ccs:
        pts = [p for p in points if p["cc"] == cc and "goal" in p]
        if not pts:
            continue
        ssdk_ccs = sorted({p["ssdk_cc"] for p in pts})
        if any(c != cc for c in ssdk_ccs):
            print(
                f"  {cc}: NOT MEASURED: ssdk ran {', '.join(ssdk_ccs)} against the"
                f" kernel's {cc}; those rows are shown for reference only"
            )
            continue
        counts = {
            g: sum(1 for p in pts if p["goal"] == g) for g in ("MET", "MISSED", "NOT MEASURED")
        }
        verdict = (
            "MET" if counts["MET"] == len(pts) else "MISSED" if counts["MISSED"] else "NOT MEASURED"
        )
        ratios = [p["ratio"] for p in pts if p["ratio"] is not None]
        worst = f", worst ratio {max(ratios):.2f}x" if ratios else ""
        print(
            f"  {cc}: {verdict} ({counts['MET']} of {len(pts)} points met, "
            f"{counts['MISSED']} missed, {counts['NOT MEASURED']} not measured{worst})"
        )


# --- the plot: hand-written SVG, so that it needs nothing beyond the standard library ---

RTT_COLORS = {1: "#d62728", 20: "#1f77b4", 80: "#2ca02c"}


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_plot(points: list[dict[str, Any]], path: Path, subtitle: str) -> None:
    """Ratio ssdk/kernel against loss (log x), one line per RTT, a panel per (cc, size);
    the goal's 1.2x as a dashed line. Log y. A lossless point (a baseline) has no place
    on a log axis: it is in the table only."""
    points = [p for p in points if p["loss_pct"] > 0]
    pts = [p for p in points if p.get("ratio") is not None]
    panels = sorted({(p["cc"], p["size"]) for p in points}, key=lambda t: (t[0], SIZES[t[1]]))
    if not panels:
        return
    ratios = [p["ratio"] for p in pts] + [GOAL_RATIO, 1.0]
    ylo = 2 ** math.floor(math.log2(min(ratios + [0.5])))
    yhi = 2 ** math.ceil(math.log2(max(ratios + [2.0])))
    losses = sorted({p["loss_pct"] for p in points}) or list(LOSSES)
    xlo, xhi = math.log10(min(losses)) - 0.15, math.log10(max(losses)) + 0.15
    pw, ph, ml, mt, gap = 330, 240, 60, 70, 40
    cols = len({s for _, s in panels})
    rows_cc = sorted({c for c, _ in panels}, key=lambda c: (CCS + (c,)).index(c))
    size_cols = sorted({s for _, s in panels}, key=lambda s: SIZES[s])
    width = max(ml + cols * (pw + gap) + 20, 480)
    height = mt + len(rows_cc) * (ph + gap + 30) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
        "ssdk / kernel median download time, against loss each way</text>",
        f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">{_esc(subtitle)}</text>',
    ]
    for i, rtt in enumerate(sorted(RTT_COLORS)):
        x = ml + i * 110
        out.append(
            f'<line x1="{x}" y1="54" x2="{x + 20}" y2="54" stroke="{RTT_COLORS[rtt]}" '
            'stroke-width="2"/>'
            f'<text x="{x + 25}" y="58">RTT {rtt} ms</text>'
        )
    out.append(
        f'<line x1="{ml + 340}" y1="54" x2="{ml + 360}" y2="54" stroke="black" '
        f'stroke-dasharray="4 3"/><text x="{ml + 365}" y="58">goal {GOAL_RATIO}x</text>'
    )
    for r, cc in enumerate(rows_cc):
        for c, size in enumerate(size_cols):
            if (cc, size) not in panels:
                continue
            ox, oy = ml + c * (pw + gap), mt + 20 + r * (ph + gap + 30)

            def fx(loss: float, ox: float = ox) -> float:
                return ox + (math.log10(loss) - xlo) / (xhi - xlo) * pw

            def fy(ratio: float, oy: float = oy) -> float:
                lr = math.log2(ratio)
                return oy + ph - (lr - math.log2(ylo)) / (math.log2(yhi) - math.log2(ylo)) * ph

            mine = [p for p in pts if p["cc"] == cc and p["size"] == size]
            ssdk_ccs = sorted({p["ssdk_cc"] for p in points if p["cc"] == cc})
            title = f"{size}, kernel {cc}, ssdk {'/'.join(ssdk_ccs)}"
            if any(c != cc for c in ssdk_ccs):
                title += f" (ssdk has no {cc})"
            out.append(
                f'<text x="{ox + pw / 2}" y="{oy - 6}" text-anchor="middle" '
                f'font-size="12">{_esc(title)}</text>'
                f'<rect x="{ox}" y="{oy}" width="{pw}" height="{ph}" fill="none" '
                'stroke="#888"/>'
            )
            y = ylo
            while y <= yhi:
                out.append(
                    f'<line x1="{ox}" y1="{fy(y):.1f}" x2="{ox + pw}" y2="{fy(y):.1f}" '
                    f'stroke="#eee"/><text x="{ox - 4}" y="{fy(y) + 4:.1f}" '
                    f'text-anchor="end">{y:g}</text>'
                )
                y *= 2
            for loss in losses:
                out.append(
                    f'<text x="{fx(loss):.1f}" y="{oy + ph + 14}" text-anchor="middle">'
                    f"{loss:g}%</text>"
                )
            out.append(
                f'<line x1="{ox}" y1="{fy(GOAL_RATIO):.1f}" x2="{ox + pw}" '
                f'y2="{fy(GOAL_RATIO):.1f}" stroke="black" stroke-dasharray="4 3"/>'
            )
            for rtt, color in RTT_COLORS.items():
                line = sorted(
                    ((p["loss_pct"], p["ratio"]) for p in mine if p["rtt_ms"] == rtt),
                )
                if not line:
                    continue
                xy = " ".join(f"{fx(lo):.1f},{fy(ra):.1f}" for lo, ra in line)
                out.append(
                    f'<polyline points="{xy}" fill="none" stroke="{color}" stroke-width="2"/>'
                )
                out += [
                    f'<circle cx="{fx(lo):.1f}" cy="{fy(ra):.1f}" r="3" fill="{color}"/>'
                    for lo, ra in line
                ]
            out.append(
                f'<text x="{ox + pw / 2}" y="{oy + ph + 28}" text-anchor="middle">'
                "loss each way</text>"
            )
        out.append(
            f'<text x="14" y="{mt + 20 + r * (ph + gap + 30) + ph / 2}" '
            f'transform="rotate(-90 14 {mt + 20 + r * (ph + gap + 30) + ph / 2})" '
            'text-anchor="middle">ssdk / kernel (log)</text>'
        )
    out.append("</svg>\n")
    path.write_text("\n".join(out))


# --- the sweep ---


def one_download(
    topo: BridgedTopology,
    tmp: Path,
    server: str,
    point: dict[str, Any],
    seed: int,
    stats: Path | None,
    args: argparse.Namespace,
) -> dict[str, Any]:
    ab, ba = point["spec_ab"], point["spec_ba"]
    argv = impair_argv(topo, seed, tmp / "bridge-stats.json", None)
    argv += ["--impair-ab", ab, "--impair-ba", ba]
    name = point["size"] + ".bin"
    with bridge(topo, tmp, argv, "point") as (counters, _proc):
        before = read_json(stats) if stats else kernel_tcp_counters(topo.server_ns)
        r = fetch(topo, tmp, name, args.sums[name], args.timeout)
        time.sleep(SETTLE_S)
        after = read_json(stats) if stats else kernel_tcp_counters(topo.server_ns)
        r["bridge"] = counters.take()
    r["seed"] = seed
    c = delta(after, before)
    keys = SSDK_KEYS if server == "ssdk" else KERNEL_KEYS
    r["counters"] = {k: c.get(k, 0) for k in keys}
    r["counters_all"] = {k: v for k, v in c.items() if v}
    return r


def run_point(
    topo: BridgedTopology, tmp: Path, point: dict[str, Any], args: argparse.Namespace
) -> None:
    probe = "/" + point["size"] + ".bin"
    for server in SERVERS:
        runs: list[dict[str, Any]] = point["runs"][server]
        with ExitStack() as stack:
            stats = tmp / "ssdk-stats.json" if server == "ssdk" else None
            # The server starts behind a plain bridge (its probes see no loss), then runs
            # while the impairing bridge is started afresh for each seed.
            plain = impair_argv(topo, PROBE_SEED, tmp / "bridge-stats.json", None)
            with bridge(topo, tmp, plain, "probe"):
                if stats:
                    extra = ["--cc", point["ssdk_cc"], *args.ssdk_arg]
                    stack.enter_context(
                        ssdk_serving(topo, tmp, args.bundle, probe, stats, "sweep", extra)
                    )
                else:
                    stack.enter_context(nginx_serving(topo, tmp, probe, "sweep"))
            for seed in range(1, args.seeds + 1):
                print(
                    f"  {server:<6}{point['cc']:<6}{point['size']:<6} rtt {point['rtt_ms']:>2} ms"
                    f" loss {loss_label(point['loss_pct']):<5} seed {seed} ...",
                    end="",
                    flush=True,
                )
                r = one_download(topo, tmp, server, point, seed, stats, args)
                runs.append(r)
                print(
                    f" {r['seconds']:.2f} s"
                    + (
                        ""
                        if r["ok"]
                        else f"  {'TIMEOUT' if r['timed_out'] else 'FAILED'}: {r['error']}"
                    ),
                    flush=True,
                )


# --- the bottleneck ---


def bn_queue_bytes(rate_bps: float, rtt_ms: int) -> int:
    return max(1514, round(rate_bps * rtt_ms / 1000 / 8))


def parse_rate(rate: str) -> float:
    for unit, f in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if rate.endswith(unit):
            return float(rate.removesuffix(unit)) * f
    raise SystemExit(f"--bn-rate {rate}: expected a number of kbit, mbit or gbit")


def jain(xs: list[float]) -> float | None:
    s2 = sum(x * x for x in xs)
    return (sum(xs) ** 2) / (len(xs) * s2) if xs and s2 > 0 else None


def bottleneck_run(
    topo: BridgedTopology,
    tmp: Path,
    server: str,
    cc: str,
    ssdk_cc: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    name = "bn.bin"
    probe = "/" + name
    with ExitStack() as stack:
        stats = tmp / "ssdk-stats.json" if server == "ssdk" else None
        plain = impair_argv(topo, PROBE_SEED, tmp / "bridge-stats.json", None)
        with bridge(topo, tmp, plain, "probe"):
            if stats:
                stack.enter_context(
                    ssdk_serving(
                        topo,
                        tmp,
                        args.bundle,
                        probe,
                        stats,
                        "bn",
                        ["--cc", ssdk_cc, *args.ssdk_arg],
                    )
                )
            else:
                stack.enter_context(nginx_serving(topo, tmp, probe, "bn"))
        argv = impair_argv(topo, args.bn_seed, tmp / "bridge-stats.json", args.bn_spec)
        with bridge(topo, tmp, argv, "bn") as (counters, _proc):
            before = read_json(stats) if stats else kernel_tcp_counters(topo.server_ns)
            per = [
                args.conns // args.procs + (i < args.conns % args.procs) for i in range(args.procs)
            ]
            start_at = time.time() + 1.5
            procs = []
            env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
            for i, n in enumerate(p for p in per if p):
                argv_c = [sys.executable, "-m", "bench.parclient", "--host", topo.server_ip]
                argv_c += ["--path", probe, "--conns", str(n), "--start-at", f"{start_at:.3f}"]
                argv_c += ["--timeout", str(args.bn_timeout)]
                out = (tmp / f"parclient-{i}.out").open("w")
                procs.append(
                    (
                        subprocess.Popen(
                            ns_exec(topo.client_ns, argv_c),
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            text=True,
                            env=env,
                            start_new_session=True,
                        ),
                        out,
                        tmp / f"parclient-{i}.out",
                    )
                )
            conns: list[dict[str, Any]] = []
            try:
                for proc, _out, _path in procs:
                    proc.wait(timeout=args.bn_timeout + 30)
            finally:
                for proc, out, path in procs:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    out.close()
                    for line in path.read_text().splitlines():
                        try:
                            conns.append(json.loads(line))
                        except ValueError:
                            print(f"parclient: {line}", file=sys.stderr)
            time.sleep(SETTLE_S)
            after = read_json(stats) if stats else kernel_tcp_counters(topo.server_ns)
            b = counters.take()
    want = args.sums[name]
    good = [
        c
        for c in conns
        if not c.get("error") and c["bytes"] == args.bn_size and c["sha256"] == want
    ]
    bad = [c for c in conns if c not in good]
    res: dict[str, Any] = {
        "server": server,
        "cc": cc,
        "ssdk_cc": ssdk_cc if server == "ssdk" else None,
        "conns": args.conns,
        "finished_byte_exact": len(good),
        "failed": len(bad) + (args.conns - len(conns)),
        "errors": [
            f"{n} x {why}"
            for why, n in Counter(bad_reason(c, args.bn_size, want) for c in bad).most_common(10)
        ],
    }
    if server == "nginx":
        log = tmp / "nginx-error.log"
        res["nginx_error_log_tail"] = log.read_text()[-2000:] if log.exists() else ""
    if conns:
        t0 = min(c["start"] for c in conns)
        t1 = max(c["end"] for c in good) if good else None
        wall = (t1 - t0) if t1 else None
        res["wall_s"] = wall
        res["goodput_mbit_s"] = (len(good) * args.bn_size * 8 / wall / 1e6) if wall else None
        per_conn = [
            args.bn_size * 8 / (c["end"] - c["start"]) / 1e6 if c in good else 0.0 for c in conns
        ]
        per_conn += [0.0] * (args.conns - len(conns))
        res["per_conn_mbit_s"] = per_conn
        res["jain"] = jain(per_conn)
        durations = sorted(c["end"] - c["start"] for c in good)
        res["conn_seconds_min_median_max"] = (
            [durations[0], statistics.median(durations), durations[-1]] if durations else None
        )
    q = {k.removeprefix("ba_impair_"): v for k, v in b.items() if k.startswith("ba_impair_")}
    qa = {k.removeprefix("ab_impair_"): v for k, v in b.items() if k.startswith("ab_impair_")}
    res["queue_to_client"] = {
        "queued": q.get("queued", 0),
        "queue_drop": q.get("queue_drop", 0),
        "queue_peak_bytes": q.get("queue_peak"),
        "mean_wait_ms": (q["queue_wait_us"] / q["queued"] / 1000) if q.get("queued") else None,
        "random_loss_dropped": q.get("dropped", 0),
    }
    res["queue_to_server"] = {
        "queued": qa.get("queued", 0),
        "queue_drop": qa.get("queue_drop", 0),
        "mean_wait_ms": (qa["queue_wait_us"] / qa["queued"] / 1000) if qa.get("queued") else None,
    }
    res["bridge"] = b
    res["server_counters"] = {k: v for k, v in delta(after, before).items() if v}
    return res


def bad_reason(c: dict[str, Any], size: int, want: str) -> str:
    if c.get("error"):
        return str(c["error"])
    if c["bytes"] != size:
        return (
            f"short body: {c['bytes']} of {size} bytes (content-length"
            f" {c.get('content_length')}), the connection closed early"
        )
    return f"sha256 mismatch: got {c['sha256']}, want {want}"


def print_bottleneck(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nBottleneck: {args.conns} parallel downloads of {args.bn_size >> 20} MiB, "
        f"bridge both ways {args.bn_spec} (seed {args.bn_seed})"
    )
    print(
        f"{'server':<7}{'cc':<14}{'ok':>8}{'wall s':>8}{'Mbit/s':>8}{'Jain':>7}"
        f"{'queue ms':>10}{'drops':>7}{'peak B':>9}  conn s min/median/max"
    )
    for r in rows:
        q = r["queue_to_client"]
        mm = r.get("conn_seconds_min_median_max")
        cc = r["cc"] + ("/" + r["ssdk_cc"] if r["ssdk_cc"] else "")
        print(
            f"{r['server']:<7}{cc:<14}{r['finished_byte_exact']:>4}/{r['conns']:<3}"
            f"{fmt(r.get('wall_s'), '.2f'):>8}{fmt(r.get('goodput_mbit_s'), '.1f'):>8}"
            f"{fmt(r.get('jain'), '.3f'):>7}{fmt(q['mean_wait_ms'], '.2f'):>10}"
            f"{q['queue_drop']:>7}{fmt(q['queue_peak_bytes'], 'd'):>9}  "
            + ("/".join(f"{x:.2f}" for x in mm) if mm else "n/a")
        )
        for e in r["errors"]:
            print(f"    error: {e}")
        for line in r.get("nginx_error_log_tail", "").splitlines()[-3:]:
            print(f"    nginx-error.log: {line}")
    print(
        f"\nGoals through the bottleneck: goodput at least {GOAL_GOODPUT}x the kernel's,"
        f" Jain's index at least {GOAL_JAIN}:"
    )
    for cc in args.ccs:
        s = next((r for r in rows if r["server"] == "ssdk" and r["cc"] == cc), None)
        k = next((r for r in rows if r["server"] == "nginx" and r["cc"] == cc), None)
        if s is None or k is None:
            continue
        if s["ssdk_cc"] != cc:
            print(f"  {cc}: NOT MEASURED: ssdk ran {s['ssdk_cc']} against the kernel's {cc}")
            continue
        sg, kg = s.get("goodput_mbit_s"), k.get("goodput_mbit_s")
        if kg is None or k["failed"]:
            g1 = "NOT MEASURED (the kernel's downloads failed)"
        elif sg is None or s["failed"]:
            g1 = f"MISSED ({s['failed']} of ssdk's downloads failed)"
        else:
            g1 = f"{'MET' if sg >= GOAL_GOODPUT * kg else 'MISSED'} ({sg / kg:.2f}x)"
        sj = s.get("jain")
        g2 = (
            "NOT MEASURED" if sj is None else f"{'MET' if sj >= GOAL_JAIN else 'MISSED'} ({sj:.3f})"
        )
        print(f"  {cc}: goodput {g1}; Jain {g2}")


# --- main ---


def interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)


def host_info() -> dict[str, Any]:
    return {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
        "ssdk_core_sha256_16": core_digest(),
    }


def report_outputs(report: dict[str, Any], out: Path) -> None:
    points = report["points"]
    for p in points:
        if p["runs"]["ssdk"] and p["runs"]["nginx"]:
            summarize_point(p)
    print_table(points)
    print_goals(points, report["setup"]["ccs"])
    svg = out.with_suffix(".svg")
    host = report.get("host", {})
    sub = (
        f"{report['setup']['seeds']} seeds per point, {str(report.get('when', ''))[:10]}, "
        f"{host.get('cpus', '?')} vCPUs, Linux {host.get('kernel', '?')}"
    )
    svg_plot(points, svg, sub)
    print(f"\nwrote {out} and {svg}")


def main() -> int:
    ap = argparse.ArgumentParser(description="ssdk against the kernel over loss x RTT x size")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="narrow the sweep: loss=1,2  rtt=20  size=1MiB  cc=cubic",
    )
    ap.add_argument("--cc", default=None, help="kernel congestion controls, comma (cubic,bbr)")
    ap.add_argument(
        "--ssdk-cc",
        action="append",
        default=[],
        metavar="KERNEL=SSDK",
        help="ssdk's --cc when the kernel runs KERNEL (default: the same)",
    )
    ap.add_argument(
        "--ssdk-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument to `ssdk serve`, as --ssdk-arg=--no-pacing (repeatable)",
    )
    ap.add_argument("--seeds", type=int, default=5, help="seeds 1..N per point")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per download")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    ap.add_argument(
        "--resume", action="store_true", help="keep the finished points already in --out"
    )
    ap.add_argument("--plot-only", action="store_true", help="table and plot from --out")
    ap.add_argument("--bottleneck", action="store_true", help="the parallel-download test")
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--procs", type=int, default=4, help="client processes (--bottleneck)")
    ap.add_argument("--bn-rate", default="50mbit")
    ap.add_argument("--bn-rtt", type=int, default=20, help="ms (--bottleneck)")
    ap.add_argument("--bn-size-mib", type=int, default=1)
    ap.add_argument("--bn-seed", type=int, default=1)
    ap.add_argument("--bn-timeout", type=float, default=300)
    args = ap.parse_args()
    only = parse_only(args.only)
    if args.cc:
        only.setdefault("cc", []).extend(args.cc.split(","))
    args.ccs = only.get("cc", list(CCS))
    args.losses = [float(x.rstrip("%")) for x in only.get("loss", [])] or list(LOSSES)
    args.rtts = [int(x.removesuffix("ms")) for x in only.get("rtt", [])] or list(RTTS)
    args.sizes = only.get("size", list(SIZES))
    for s in args.sizes:
        if s not in SIZES:
            raise SystemExit(f"size {s}: one of {', '.join(SIZES)}")
    ssdk_cc = dict(SSDK_CC)
    for item in args.ssdk_cc:
        k, _, v = item.partition("=")
        ssdk_cc[k] = v
    args.ssdk_cc_map = ssdk_cc
    out: Path = args.out or (BN_RESULTS if args.bottleneck else RESULTS)

    if args.plot_only:
        report_outputs(json.loads(out.read_text()), out)
        return 0

    points = plan(args)
    if not args.bottleneck:
        n = len(points) * args.seeds * len(SERVERS)
        est = estimate_s(points, args)
        print(
            f"plan: {len(points)} points x {args.seeds} seeds x {len(SERVERS)} servers = {n}"
            f" downloads; estimate {est / 3600:.1f} h ({est / 60:.0f} min), at most"
            f" {args.timeout:g} s per download (the kernel at the Mathis rate, ssdk at"
            f" {SSDK_SLOWER:g}x its time)"
        )
    else:
        rate = parse_rate(args.bn_rate)
        q = bn_queue_bytes(rate, args.bn_rtt)
        d = args.bn_rtt // 2
        args.bn_spec = f"delay={d}ms,rate={args.bn_rate},queue={q}b"
        ideal = args.conns * args.bn_size_mib * (1 << 20) * 8 / rate
        print(
            f"bottleneck: {args.conns} downloads of {args.bn_size_mib} MiB through "
            f"{args.bn_spec} both ways (queue = one BDP at {args.bn_rtt} ms), per cc "
            f"{', '.join(args.ccs)} and server: at least {ideal:.0f} s each at the link rate"
        )
    if args.dry_run:
        return 0
    why = cannot_run(("ip", "ethtool", "curl", "nginx"))
    if why:
        print(why, file=sys.stderr)
        return 2

    # --resume: points of an earlier run of the same seeds and timeout whose downloads
    # all ran are kept, not run again.
    done: dict[tuple[Any, ...], dict[str, Any]] = {}
    if args.resume and out.exists() and not args.bottleneck:
        old = json.loads(out.read_text())
        same = (old["setup"]["seeds"], old["setup"]["timeout_s"]) == (args.seeds, args.timeout)
        for p in old["points"] if same else []:
            if all(len(p["runs"][s]) == args.seeds for s in SERVERS):
                done[point_key(p)] = p
        print(f"--resume: {len(done)} finished points kept from {out}")
    signal.signal(signal.SIGTERM, interrupt)
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python3", "-m", "bench.loss_sweep", *sys.argv[1:]]),
        "host": host_info(),
        "setup": {
            "topology": "client ns -veth- bridge ns (ssdk impair) -veth- server ns, offloads"
            " off on all four ends; nothing pinned",
            "ccs": args.ccs,
            "ssdk_cc": {cc: ssdk_cc.get(cc, cc) for cc in args.ccs},
            "ssdk_args": args.ssdk_arg,
            "seeds": args.seeds,
            "timeout_s": args.timeout,
            "rtt": "bridge delay, RTT/2 each way in whole ms (the odd ms server to client)",
            "download": "curl -sS --fail -o FILE, sha256 checked",
        },
        "cc_settings": {},
        "points": [],
        "errors": [],
    }
    try:
        with tempfile.TemporaryDirectory(prefix="ssdk-sweep-") as tmp_s:
            tmp = Path(tmp_s)
            if args.bottleneck:
                args.bn_size = args.bn_size_mib << 20
                files = {"bn.bin": args.bn_size}
            else:
                files = {f"{s}.bin": SIZES[s] for s in args.sizes}
            args.bundle, args.sums = make_site(tmp, files)
            with bridged_pair("sweep") as topo:
                if args.bottleneck:
                    report["setup"]["bottleneck"] = {
                        "spec_both_ways": args.bn_spec,
                        "seed": args.bn_seed,
                        "conns": args.conns,
                        "client_processes": args.procs,
                        "bytes_each": args.bn_size,
                    }
                    rows: list[dict[str, Any]] = []
                    report["bottleneck"] = rows
                    for cc in args.ccs:
                        report["cc_settings"][cc] = [
                            set_cc(topo.server_ns, cc),
                            set_cc(topo.client_ns, cc),
                        ]
                        for server in SERVERS:
                            print(f"  {server} {cc}: {args.conns} downloads ...", flush=True)
                            rows.append(
                                bottleneck_run(topo, tmp, server, cc, ssdk_cc.get(cc, cc), args)
                            )
                            write_json(out, report)
                    print_bottleneck(rows, args)
                else:
                    for cc in args.ccs:
                        report["cc_settings"][cc] = [
                            set_cc(topo.server_ns, cc),
                            set_cc(topo.client_ns, cc),
                        ]
                        for p in points:
                            if p["cc"] != cc:
                                continue
                            p["ssdk_cc"] = ssdk_cc.get(cc, cc)
                            p["spec_ab"], p["spec_ba"] = point_specs(p["loss_pct"], p["rtt_ms"])
                            p["timeout_s"] = args.timeout
                            p["runs"] = {"ssdk": [], "nginx": []}
                            got = done.get(point_key(p))
                            if got is not None and got["ssdk_cc"] == p["ssdk_cc"]:
                                print(f"  kept from {out}: {point_key(p)}")
                                report["points"].append(got)
                                continue
                            report["points"].append(p)
                            try:
                                run_point(topo, tmp, p, args)
                            except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                                report["errors"].append(f"{p}: {e}")
                                print(f"point failed: {e}", file=sys.stderr)
                            summarize_point(p)
                            write_json(out, report)
    except KeyboardInterrupt:
        write_json(out, report)
        print(
            f"\ninterrupted: namespaces and processes removed; what was done is in {out}",
            file=sys.stderr,
        )
        return 130
    report["host_after"] = host_info()
    write_json(out, report)
    if args.bottleneck:
        print(f"\nwrote {out}")
    else:
        report_outputs(report, out)
    for err in report["errors"]:
        print(f"error: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
