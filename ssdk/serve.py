"""`ssdk serve`: load a bundle (or build an app in memory), attach a NIC, run the loop.

cli.serve -> open_target -> Engine (C) -> attach backend -> [impair] -> load table
          -> run in 100 ms slices until SIGINT/SIGTERM -> print counters

The loop runs in C; it returns to Python every slice so that signals are handled and
the stats file is refreshed, which costs nothing measurable at that rate.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def signals_stop() -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM are noted in the yielded list, not raised; the
    loop checks it between slices. The old handlers come back on the way out."""
    stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        sys.stdout.flush()


def run_until_stopped(
    stop: list[int],
    run_slice: Callable[[int], object],
    counters: Callable[[], dict[str, int]],
    stats_file: Path | None,
) -> int:
    """Run C in SLICE_MS slices until a signal, keep the stats file fresh, then print
    the counters; the exit code (0). One loop for `ssdk serve` and `ssdk impair`."""
    next_stats = 0.0
    while not stop:
        run_slice(SLICE_MS)
        if stats_file and time.monotonic() >= next_stats:
            write_stats(stats_file, counters())
            next_stats = time.monotonic() + STATS_EVERY_S
    stats = counters()
    if stats_file:
        write_stats(stats_file, stats)
    name = signal.Signals(stop[0]).name
    print(f"ssdk: stopped by {name}; counters:\n{format_counters(stats)}", flush=True)
    return 0


def serve(opts: ServeOptions) -> int:
    bundle = open_target(opts.target, mss=opts.mss)
    cfg = EngineConfig(ip=str(opts.ip.ip), port=opts.port, max_conns=opts.max_conns,
                       **opts.tcp)
    engine = Engine(cfg)
    # The engine points into the bundle's mapping: it is closed first (exits run in reverse).
    with signals_stop() as stop, contextlib.closing(bundle), contextlib.closing(engine):
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
        return run_until_stopped(
            stop, engine.run, lambda: engine_counters(engine), opts.stats_file
        )
