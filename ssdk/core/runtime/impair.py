# ssdk.core.runtime.impair: what an impairment is, and the one parser of its command-line form.
#
# cli (--impair-rx/-tx/-both, option callbacks) -> parse_impairment -> Impairment
#   -> Engine.impair (ssdk serve) | ssdk.tools.impair_bridge.Bridge (ssdk impair)
#   -> struct ssdk_impair (C, nic_impair.c)
#
# Owns: the spec grammar and the ranges of each field; nothing here touches the C core,
# so the CLI can check a spec before it loads anything. The C side checks the same
# ranges again, for callers that do not come through here.
from __future__ import annotations

import re
from dataclasses import dataclass, fields

__all__ = ["DELAY_MAX_MS", "Impairment", "ImpairmentError", "parse_impairment"]

DELAY_MAX_MS = 60_000  # nic_impair.c DELAY_MAX_MS

# spec key -> Impairment field; probabilities first, then times.
_PROBABILITIES = {"loss": "loss", "dup": "duplicate", "reorder": "reorder", "corrupt": "corrupt"}
_TIMES = {"delay": "delay_ms", "jitter": "jitter_ms"}
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)%")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)")


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

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:  # NaN fails this too
                raise ImpairmentError(f"{name} must be between 0 and 1 (0% and 100%), not {p}")
        for name in ("delay_ms", "jitter_ms"):
            ms = getattr(self, name)
            if not 0 <= ms <= DELAY_MAX_MS:
                raise ImpairmentError(f"{name} must be between 0 and {DELAY_MAX_MS} ms, not {ms}")

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
        return ",".join(parts) or "none"


def parse_impairment(spec: str) -> Impairment:
    """``loss=5%,dup=1%,reorder=1%,delay=10ms,jitter=2ms,corrupt=0.1%`` -> Impairment.

    Fields may come in any order and each at most once; left out means 0. Probabilities
    take a percent sign; times take ``ms`` or ``s`` and must come to whole milliseconds.
    ``none`` is the impairment that does nothing.
    """
    text = spec.strip()
    if text == "none":
        return Impairment()
    if not text:
        raise ImpairmentError("empty impairment spec (want e.g. loss=5%,delay=10ms)")
    known = ", ".join([*_PROBABILITIES, *_TIMES])
    probs: dict[str, float] = {}
    times: dict[str, int] = {}
    seen: set[str] = set()
    for item in text.split(","):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key:
            raise ImpairmentError(f"{item.strip()!r} is not FIELD=VALUE (fields: {known})")
        if key not in _PROBABILITIES and key not in _TIMES:
            raise ImpairmentError(f"unknown field {key!r} (fields: {known})")
        if key in seen:
            raise ImpairmentError(f"{key} is given twice")
        seen.add(key)
        if key in _PROBABILITIES:
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
    return Impairment(
        loss=probs.get("loss", 0.0),
        duplicate=probs.get("duplicate", 0.0),
        reorder=probs.get("reorder", 0.0),
        corrupt=probs.get("corrupt", 0.0),
        delay_ms=times.get("delay_ms", 0),
        jitter_ms=times.get("jitter_ms", 0),
    )
