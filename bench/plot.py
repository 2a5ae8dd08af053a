# bench/plot.py: `python3 -m bench.plot [--results FILE] [--out DIR] [--conns N]`. Draws
# the results of bench/wrk_vs_nginx.py (bench/results/wrk_vs_nginx.json) as PNGs in
# docs/img/: requests/s per file size for keep-alive and for one connection per request,
# CPU seconds of the whole machine per 10,000 requests, and p99 latency; one line per
# server, at N wrk connections (16 unless told). Needs matplotlib
# (`pip install -e '.[bench]'`).
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS_DIR

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes
    from matplotlib.ticker import NullLocator
except ImportError:
    sys.exit("bench.plot needs matplotlib: pip install -e '.[bench]'")

MODE_TITLE = {"keepalive": "keep-alive", "close": "one connection per request"}
STYLE = {
    "ssdk-af_xdp": {"color": "tab:red", "marker": "o"},
    "ssdk-af_packet": {"color": "tab:orange", "marker": "s"},
    "nginx-offloads-off": {"color": "tab:blue", "marker": "^"},
    "nginx-offloads-on": {"color": "tab:green", "marker": "v"},
}


def series(
    rows: list[dict[str, Any]], mode: str, conns: int, key: str
) -> dict[str, tuple[list[int], list[float]]]:
    """server -> (body sizes, values) for one mode and connection count."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in sorted(rows, key=lambda r: r["bytes"]):
        if r["mode"] != mode or r["conns"] != conns or r.get(key) is None:
            continue
        xs, ys = out.setdefault(r["server"], ([], []))
        xs.append(r["bytes"])
        ys.append(float(r[key]))
    return out


def size_label(n: int) -> str:
    for unit, f in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= f and n % f == 0:
            return f"{n // f} {unit}"
    return f"{n} B"


def draw(ax: Axes, data: dict[str, tuple[list[int], list[float]]], ylabel: str) -> None:
    for server, (xs, ys) in data.items():
        ax.plot(xs, ys, label=server, **STYLE.get(server, {}))
    ticks = sorted({x for xs, _ in data.values() for x in xs})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks, [size_label(t) for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("file size")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)


def subtitle(report: dict[str, Any], conns: int) -> str:
    host = report.get("host", {})
    when = str(report.get("when", ""))[:10]
    secs = report.get("results", [{}])[0].get("duration_s", "?")
    return (
        f"wrk -t1 -c{conns}, {secs} s per run, one run, {when}; "
        f"{host.get('cpus', '?')} vCPUs, Linux {host.get('kernel', '?')}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description="plot bench/results/wrk_vs_nginx.json")
    ap.add_argument("--results", type=Path, default=RESULTS_DIR / "wrk_vs_nginx.json")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    ap.add_argument("--conns", type=int, default=16)
    args = ap.parse_args()
    report = json.loads(args.results.read_text())
    rows: list[dict[str, Any]] = report["results"]
    args.out.mkdir(parents=True, exist_ok=True)
    sub = subtitle(report, args.conns)
    written = []

    for mode in ("keepalive", "close"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        draw(ax, series(rows, mode, args.conns, "requests_per_s"), "requests/s")
        ax.set_title(f"requests/s, {MODE_TITLE[mode]}\n{sub}", fontsize=10)
        ax.legend(fontsize=8)
        path = args.out / f"wrk_rps_{mode}_c{args.conns}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    panels = (
        ("machine_cpu_s_per_10k", "CPU s per 10,000 requests (whole machine)", "cpu"),
        ("latency_p99_us", "p99 latency (us)", "p99"),
    )
    for key, ylabel, name in panels:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        for ax, mode in zip(axes, ("keepalive", "close"), strict=True):
            draw(ax, series(rows, mode, args.conns, key), ylabel)
            ax.set_title(MODE_TITLE[mode], fontsize=10)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{ylabel}\n{sub}", fontsize=10)
        path = args.out / f"wrk_{name}_c{args.conns}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
