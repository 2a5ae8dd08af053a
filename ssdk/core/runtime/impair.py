# ssdk.core.runtime.impair: what an impairment is, and the one parser of its command-line form.
#
# cli (--impair-rx/-tx/-both, option callbacks) -> parse_impairment -> Impairment
#   -> Engine.impair (ssdk serve) | ssdk.tools.impair_bridge.Bridge (ssdk impair)
#   -> struct ssdk_impair (C, nic_impair.c)
#
# Owns: the spec grammar and the ranges of each field; nothing here touches the C core,
# so the CLI can check a spec before it loads anything. The C side checks the same
# ranges again, for callers that do not come through here.
#
# Rates are in bits per second with a unit (kbit, mbit, gbit: powers of 1000, as link
# speeds are quoted); queue sizes in bytes with a unit (b, kb, mb: powers of 1000 too,
# so that a bandwidth-delay product computes in decimal). Neither takes a bare number,
# so a queue can never be taken for a count of packets.
from __future__ import annotations

import re
from dataclasses import dataclass, fields

__all__ = [
    "DELAY_MAX_MS",
    "QUEUE_MAX_BYTES",
    "QUEUE_MIN_BYTES",
    "RATE_MAX_BPS",
    "RATE_MIN_BPS",
    "Impairment",
    "ImpairmentError",
    "parse_impairment",
]

DELAY_MAX_MS = 60_000  # nic_impair.c DELAY_MAX_MS
# nic/impair_queue_priv.h QUEUE_RATE_MIN_BPS .. QUEUE_RATE_MAX_BPS
RATE_MIN_BPS, RATE_MAX_BPS = 1_000, 100_000_000_000
# nic/impair_queue_priv.h QUEUE_MIN_BYTES (one full Ethernet frame) .. QUEUE_MAX_BYTES
QUEUE_MIN_BYTES, QUEUE_MAX_BYTES = 1514, 3_000_000

# spec key -> Impairment field; probabilities first, then times.
_PROBABILITIES = {"loss": "loss", "dup": "duplicate", "reorder": "reorder", "corrupt": "corrupt"}
_TIMES = {"delay": "delay_ms", "jitter": "jitter_ms"}
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)%")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)")
_RATE_UNITS = {"kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}
_SIZE_UNITS = {"b": 1, "kb": 1_000, "mb": 1_000_000}
_RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(kbit|mbit|gbit)")
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(b|kb|mb)")


# field -> its pattern, units, an example, its range and what it counts
_LINK_FIELDS: dict[str, tuple[re.Pattern[str], dict[str, int], str, int, int, str]] = {
    "rate": (_RATE, _RATE_UNITS, "rate=50mbit", RATE_MIN_BPS, RATE_MAX_BPS, "bits/s"),
    "queue": (_SIZE, _SIZE_UNITS, "queue=64kb", QUEUE_MIN_BYTES, QUEUE_MAX_BYTES, "bytes"),
}


def _with_unit(n: int, units: dict[str, int]) -> str:
    """n in the largest unit that divides it exactly, else as a fraction of the smallest
    (what the parser reads back)."""
    by_size = sorted(units.items(), key=lambda u: u[1])
    for unit, size in reversed(by_size):
        if n % size == 0:
            return f"{n // size}{unit}"
    unit, size = by_size[0]
    return f"{n / size}{unit}"


class ImpairmentError(ValueError):
    """A spec that cannot be parsed; the message names the field at fault."""


@dataclass(frozen=True)
class Impairment:
    """What happens to the frames of one direction. Probabilities are in [0, 1]."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0  # held until 1 to 3 later frames have passed it
    corrupt: float = 0.0  # one byte past the Ethernet header changed
    delay_ms: int = 0
    jitter_ms: int = 0  # added to delay_ms: uniform in [0, jitter_ms]
    rate_bps: int = 0  # the bottleneck link, in bits per second (0: none)...
    queue_bytes: int = 0  # ...behind a drop-tail queue of this many bytes

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:  # NaN fails this too
                raise ImpairmentError(f"{name} must be between 0 and 1 (0% and 100%), not {p}")
        for name in ("delay_ms", "jitter_ms"):
            ms = getattr(self, name)
            if not 0 <= ms <= DELAY_MAX_MS:
                raise ImpairmentError(f"{name} must be between 0 and {DELAY_MAX_MS} ms, not {ms}")
        if self.rate_bps or self.queue_bytes:
            if not RATE_MIN_BPS <= self.rate_bps <= RATE_MAX_BPS:
                raise ImpairmentError(
                    f"rate must be between {RATE_MIN_BPS} and {RATE_MAX_BPS} bits/s "
                    f"(a queue needs a rate), not {self.rate_bps}"
                )
            if not QUEUE_MIN_BYTES <= self.queue_bytes <= QUEUE_MAX_BYTES:
                raise ImpairmentError(
                    f"queue must be between {QUEUE_MIN_BYTES} and {QUEUE_MAX_BYTES} bytes "
                    f"(a rate needs a queue), not {self.queue_bytes}"
                )

    def __bool__(self) -> bool:
        """False when nothing would happen to a frame."""
        return any(getattr(self, f.name) for f in fields(self))

    def __str__(self) -> str:
        """The spec form, which parse_impairment reads back (to six significant digits)."""
        parts = [
            f"{key}={getattr(self, name) * 100:g}%"
            for key, name in _PROBABILITIES.items()
            if getattr(self, name)
        ]
        parts += [
            f"{key}={getattr(self, name)}ms" for key, name in _TIMES.items() if getattr(self, name)
        ]
        if self.rate_bps:
            parts.append(f"rate={_with_unit(self.rate_bps, _RATE_UNITS)}")
            parts.append(f"queue={_with_unit(self.queue_bytes, _SIZE_UNITS)}")
        return ",".join(parts) or "none"


def parse_impairment(spec: str) -> Impairment:
    """``loss=5%,dup=1%,reorder=1%,delay=10ms,jitter=2ms,corrupt=0.1%`` -> Impairment,
    and a bottleneck: ``rate=50mbit,queue=125kb``.

    Fields may come in any order and each at most once; left out means 0. Probabilities
    take a percent sign; times take ``ms`` or ``s`` and must come to whole milliseconds;
    a rate takes ``kbit``, ``mbit`` or ``gbit`` and must come to whole bits/s; a queue
    takes ``b``, ``kb`` or ``mb`` and must come to whole bytes. ``rate`` and ``queue``
    go together. ``none`` is the impairment that does nothing.
    """
    text = spec.strip()
    if text == "none":
        return Impairment()
    if not text:
        raise ImpairmentError("empty impairment spec (want e.g. loss=5%,delay=10ms)")
    known = ", ".join([*_PROBABILITIES, *_TIMES, "rate", "queue"])
    probs: dict[str, float] = {}
    times: dict[str, int] = {}
    link: dict[str, int] = {}
    seen: set[str] = set()
    for item in text.split(","):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key:
            raise ImpairmentError(f"{item.strip()!r} is not FIELD=VALUE (fields: {known})")
        if key not in _PROBABILITIES and key not in _TIMES and key not in ("rate", "queue"):
            raise ImpairmentError(f"unknown field {key!r} (fields: {known})")
        if key in seen:
            raise ImpairmentError(f"{key} is given twice")
        seen.add(key)
        if key in ("rate", "queue"):
            link[key] = _parse_link(key, value)
        elif key in _PROBABILITIES:
            m = _PERCENT.fullmatch(value)
            if m is None:
                raise ImpairmentError(f"{key}={value}: want a percentage such as {key}=1.5%")
            percent = float(m.group(1))
            if percent > 100:
                raise ImpairmentError(f"{key}={value}: more than 100%")
            probs[_PROBABILITIES[key]] = percent / 100
        else:
            m = _DURATION.fullmatch(value)
            if m is None:
                raise ImpairmentError(f"{key}={value}: want a time such as {key}=10ms")
            ms = float(m.group(1)) * (1000 if m.group(2) == "s" else 1)
            if ms != int(ms):
                raise ImpairmentError(f"{key}={value}: not a whole number of milliseconds")
            if ms > DELAY_MAX_MS:
                raise ImpairmentError(f"{key}={value}: more than {DELAY_MAX_MS} ms")
            times[_TIMES[key]] = int(ms)
    if ("rate" in link) != ("queue" in link):
        given, missing = ("rate", "queue") if "rate" in link else ("queue", "rate")
        raise ImpairmentError(
            f"{given} needs {missing} too: a bottleneck is a rate and a queue "
            "(e.g. rate=50mbit,queue=125kb)"
        )
    return Impairment(
        loss=probs.get("loss", 0.0),
        duplicate=probs.get("duplicate", 0.0),
        reorder=probs.get("reorder", 0.0),
        corrupt=probs.get("corrupt", 0.0),
        delay_ms=times.get("delay_ms", 0),
        jitter_ms=times.get("jitter_ms", 0),
        rate_bps=link.get("rate", 0),
        queue_bytes=link.get("queue", 0),
    )


def _parse_link(key: str, value: str) -> int:
    """rate=50mbit -> 50_000_000 (bits/s); queue=125kb -> 125_000 (bytes)."""
    pattern, units, example, lo, hi, what = _LINK_FIELDS[key]
    m = pattern.fullmatch(value)
    if m is None:
        raise ImpairmentError(
            f"{key}={value}: want {what} with a unit ({', '.join(units)}) such as {example}"
        )
    exact = float(m.group(1)) * units[m.group(2)]
    n = round(exact)
    if abs(exact - n) > 1e-6 * max(1.0, exact):
        raise ImpairmentError(f"{key}={value}: not a whole number of {what}")
    if not lo <= n <= hi:
        raise ImpairmentError(f"{key}={value}: must be between {lo} and {hi} {what}")
    return n
