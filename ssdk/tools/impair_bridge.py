"""`ssdk impair`: a bridge between two interfaces through the impairment layer.

cli.impair -> run_bridge -> Bridge (C: ssdk_bridge_new: two promiscuous AF_PACKET
           backends, each wrapped by nic_impair.c) -> run in 100 ms slices until
           SIGINT/SIGTERM -> print counters

It puts the same lossy path in front of any server, so that nginx on the kernel's
stack and ssdk can be measured behind it alike (the kernel here has no netem):

    client ns --veth-- [IF_A  bridge ns  IF_B] --veth-- server ns

ssdk.tools.netns.bridged_pair makes that topology. Each direction is impaired once: the
frames from IF_A to IF_B by `ab`, the frames back by `ba`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssdk.core.runtime.engine import EngineError, ffi, impair_stats_dict, impairment_to_c, lib
from ssdk.core.runtime.impair import Impairment
from ssdk.serve import pick_seed, report_stop, run_until_stopped, signals_stop

BRIDGE_FIELDS: tuple[str, ...] = tuple(
    name for name, _ in ffi.typeof("struct ssdk_bridge_stats").fields if name != "impair"
)


class Bridge:
    """The C bridge: two interfaces, two impairments, one forwarding loop."""

    def __init__(
        self, a: str, b: str, ab: Impairment | None, ba: Impairment | None, seed: int
    ) -> None:
        out = ffi.new("struct ssdk_bridge **")
        err = ffi.new("char[256]")
        rc = lib.ssdk_bridge_new(
            a.encode(),
            b.encode(),
            impairment_to_c(ab),
            impairment_to_c(ba),
            seed,
            out,
            err,
            len(err),
        )
        if rc != 0:
            raise EngineError(f"bridge: {ffi.string(err).decode(errors='replace')}")
        self._b: Any = out[0]

    def run(self, ms: int) -> int:
        """Forward for up to ``ms`` milliseconds; returns the frames received."""
        return int(lib.ssdk_bridge_run(self._b, ms))

    def stats(self) -> dict[str, int]:
        """Flat counters: ab_* for IF_A -> IF_B, ba_* for the way back; the impairment's
        own as ab_impair_* and ba_impair_*."""
        ab = ffi.new("struct ssdk_bridge_stats *")
        ba = ffi.new("struct ssdk_bridge_stats *")
        lib.ssdk_bridge_stats(self._b, ab, ba)
        out: dict[str, int] = {}
        for prefix, st in (("ab", ab), ("ba", ba)):
            out.update({f"{prefix}_{k}": int(getattr(st, k)) for k in BRIDGE_FIELDS})
            out.update({f"{prefix}_impair_{k}": v for k, v in impair_stats_dict(st.impair).items()})
        return out

    def close(self) -> None:
        if self._b is not None:
            lib.ssdk_bridge_free(self._b)
            self._b = None

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class BridgeOptions:
    a: str
    b: str
    ab: Impairment | None = None
    ba: Impairment | None = None
    seed: int | None = None  # None: a random one, printed
    stats_file: Path | None = None


def run_bridge(opts: BridgeOptions) -> int:
    """Forward until SIGINT or SIGTERM, then print the counters; returns the exit code."""
    seed = pick_seed(opts.seed)
    with signals_stop() as stop, Bridge(opts.a, opts.b, opts.ab, opts.ba, seed) as bridge:
        print(
            f"ssdk: bridging {opts.a} <-> {opts.b}: {opts.a} -> {opts.b} "
            f"{opts.ab or 'none'}, {opts.b} -> {opts.a} {opts.ba or 'none'}, seed {seed}",
            flush=True,
        )
        print("ssdk: ready", flush=True)
        run_until_stopped(stop, bridge.run, bridge.stats, opts.stats_file)
        return report_stop(stop, bridge.stats(), opts.stats_file)
