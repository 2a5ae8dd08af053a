"""`ssdk serve`: load a bundle (or build an app in memory), attach a NIC, run the loop.

cli.serve -> open_target -> Engine (C) -> attach backend -> [impair] -> load table
          -> run in 100 ms slices until SIGINT/SIGTERM -> print counters

The loop runs in C; it returns to Python every slice so that signals are handled and
the stats file is refreshed, which costs nothing measurable at that rate.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ssdk.core.build import open_target
from ssdk.core.engine import Engine, EngineConfig
from ssdk.core.impair import Impairment

BACKENDS = ("af_packet", "af_xdp")
SLICE_MS = 100
STATS_EVERY_S = 0.5


@dataclass
class ServeOptions:
    target: str
    backend: str
    iface: str
    ip: ipaddress.IPv4Interface
    port: int = 80
    max_conns: int = 4096
    stats_file: Path | None = None
    mss: int = 1448
    queue: int = 0  # af_xdp: the interface queue to bind
    xdp_mode: str = "auto"  # af_xdp: auto (native, else SKB), native or skb
    tcp: dict[str, int] = field(default_factory=dict)  # EngineConfig overrides
    impair_rx: Impairment | None = None
    impair_tx: Impairment | None = None
    impair_seed: int | None = None  # None: a random one, printed


def pick_seed(seed: int | None) -> int:
    """The seed to use: the one given, or a fresh random one (printed, so a run replays)."""
    return secrets.randbits(63) if seed is None else seed


def engine_counters(engine: Engine) -> dict[str, int]:
    """The engine's counters and, as impair_rx_* / impair_tx_*, the impairment's."""
    stats = engine.stats()
    for direction, counters in engine.impair_stats().items():
        stats.update({f"impair_{direction}_{k}": v for k, v in counters.items()})
    return stats


def write_stats(path: Path, stats: dict[str, int]) -> None:
    """Replace the stats file atomically, so a reader never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stats, sort_keys=True))
    os.replace(tmp, path)


def format_counters(stats: dict[str, int]) -> str:
    """The non-zero counters, one per line, for the exit report."""
    width = max(len(k) for k in stats)
    rows = [f"  {k:<{width}}  {v}" for k, v in stats.items() if v]
    return "\n".join(rows) if rows else "  (all zero)"


def serve(opts: ServeOptions) -> int:
    bundle = open_target(opts.target, mss=opts.mss)
    cfg = EngineConfig(ip=str(opts.ip.ip), port=opts.port, max_conns=opts.max_conns,
                       **opts.tcp)
    engine = Engine(cfg)
    stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if opts.backend == "af_packet":
            engine.attach_af_packet(opts.iface)
        elif opts.backend == "af_xdp":
            engine.attach_af_xdp(opts.iface, queue=opts.queue, mode=opts.xdp_mode)
        if opts.impair_rx or opts.impair_tx:
            seed = pick_seed(opts.impair_seed)
            engine.impair(opts.impair_rx, opts.impair_tx, seed)
            print(
                f"ssdk: impairing rx {opts.impair_rx or 'none'}, tx {opts.impair_tx or 'none'}, "
                f"seed {seed}",
                flush=True,
            )
        engine.load(bundle.blob)
        mac = ":".join(f"{b:02x}" for b in engine.mac)
        routes = sum(1 for r in bundle.manifest.routes if r.kind != "special")
        backend = opts.backend
        if opts.backend == "af_xdp":
            backend += f" queue {opts.queue}"
        if engine.backend_mode:
            backend += f", {engine.backend_mode}"
        print(
            f"ssdk: serving {routes} routes from {opts.target} on {opts.iface} "
            f"({backend}) at {opts.ip.ip}:{opts.port}, mac {mac}",
            flush=True,
        )
        print(f"ssdk: ready: http://{opts.ip.ip}:{opts.port}/", flush=True)
        next_stats = 0.0
        while not stop:
            engine.run(SLICE_MS)
            if opts.stats_file and time.monotonic() >= next_stats:
                write_stats(opts.stats_file, engine_counters(engine))
                next_stats = time.monotonic() + STATS_EVERY_S
        stats = engine_counters(engine)
        if opts.stats_file:
            write_stats(opts.stats_file, stats)
        name = signal.Signals(stop[0]).name
        print(f"ssdk: stopped by {name}; counters:\n{format_counters(stats)}", flush=True)
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        engine.close()
        bundle.close()
        sys.stdout.flush()
