"""The counter board: every worker's counters in one shared-memory file.

ssdk serve (supervisor) -> Board.create -> fork workers -> Engine.share_stats(slot)
ssdk stats              -> find_boards / Board.open -> read() -> rows per worker

The file lives in /dev/shm (one per serving process, named for its pid) and is
self-describing, so a reader needs no knowledge of the writer's build:

    header   magic "SSDKCTR1", u32 slots, u32 fields, u32 names_len, u32 info_len,
             u64 created (Unix ns), u64 supervisor pid
    names    the field names, NUL-separated, padded to 8 bytes
    info     JSON describing the server (target, interface, backend, address)
    slots    `slots` arrays of `fields` u64 each

A slot starts with META (pid, queue, restarts, started_ns, the table generation it
serves), then the engine's `struct ssdk_stats` verbatim (the C core increments it in
place), then the impairment counters and those of dynamic routes (requests, failures,
nanoseconds of Python on the loop's thread), which the worker copies in once a slice. Aligned
64-bit words are written and read whole on every platform ssdk runs on, so a reader
never sees a torn counter; it may see one counter of a slot newer than another, which
is harmless for rates.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssdk.core.runtime.engine import IMPAIR_STATS_FIELDS, STATS_FIELDS, ffi
from ssdk.core.runtime.procs import pid_alive as alive

MAGIC = b"SSDKCTR1"
HEADER = struct.Struct("<8sIIIIQQ")
SHM_DIR = Path("/dev/shm")
META = ("pid", "queue", "restarts", "started_ns", "generation")
APP = ("app_requests", "app_failures", "app_ns")  # dynamic routes: Python's share
FIELDS: tuple[str, ...] = (
    META
    + STATS_FIELDS
    + tuple(f"impair_{d}_{k}" for d in ("rx", "tx") for k in IMPAIR_STATS_FIELDS)
    + APP
)
# Gauges are levels, not totals: summed over workers, never turned into rates.
GAUGES = frozenset(
    {
        "conns_syn_received",
        "conns_active",
        "conns_time_wait",
        "conns_fin_wait_2",
        "rx_buffers_in_use",
        "rx_buffers_peak",  # a high-water mark
        "flights_in_use",
        "flights_peak",  # a high-water mark
        "scoreboards_in_use",
        "http_req_blocks_in_use",
        "http_req_blocks_peak",  # a high-water mark
        "http_resp_entries_in_use",
        "tls_handshakes_in_use",
        "tls_buffers_in_use",
        "drop_rx_ring",
        "impair_rx_held",
        "impair_tx_held",
        "impair_rx_queue_peak",  # a high-water mark: a level too, never a rate
        "impair_tx_queue_peak",
    }
)
_ENGINE_AT = len(META)
_IMPAIR_AT = _ENGINE_AT + len(STATS_FIELDS)
assert ffi.sizeof("struct ssdk_stats") == 8 * len(STATS_FIELDS)


class BoardError(RuntimeError):
    """A counter file that is missing, foreign or damaged."""


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def board_path(pid: int) -> Path:
    return SHM_DIR / f"ssdk-{pid}.counters"


@dataclass
class Board:
    """One counter file, mapped. The supervisor creates it, workers write their slot,
    `ssdk stats` opens it read-only."""

    path: Path
    mm: mmap.mmap
    names: tuple[str, ...]
    info: dict[str, Any]
    slots: int
    created_ns: int
    supervisor: int
    _slots_at: int

    @classmethod
    def create(cls, slots: int, info: dict[str, Any], path: Path | None = None) -> Board:
        """A fresh zeroed board for `slots` workers, owned by this process."""
        pid = os.getpid()
        path = path or board_path(pid)
        names = b"\0".join(n.encode() for n in FIELDS)
        info_b = json.dumps(info, sort_keys=True).encode()
        names_len, info_len = _pad8(len(names)), _pad8(len(info_b))
        slots_at = HEADER.size + names_len + info_len
        size = slots_at + slots * len(FIELDS) * 8
        created = time.time_ns()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        mm[HEADER.size : HEADER.size + len(names)] = names
        at = HEADER.size + names_len
        mm[at : at + len(info_b)] = info_b
        # The magic goes in last: a reader never takes a half-written file for a board.
        mm[: HEADER.size] = HEADER.pack(
            MAGIC, slots, len(FIELDS), names_len, info_len, created, pid
        )
        return cls(path, mm, FIELDS, info, slots, created, pid, slots_at)

    @classmethod
    def open(cls, path: Path) -> Board:
        """Map an existing board read-only."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise BoardError(f"{path}: {e.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < HEADER.size:
                raise BoardError(f"{path}: not an ssdk counter file")
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        magic, slots, nfields, names_len, info_len, created, sup = HEADER.unpack_from(mm)
        slots_at = HEADER.size + names_len + info_len
        if magic != MAGIC or size < slots_at + slots * nfields * 8:
            mm.close()
            raise BoardError(f"{path}: not an ssdk counter file (or a damaged one)")
        raw = mm[HEADER.size : HEADER.size + names_len].rstrip(b"\0")
        names = tuple(n.decode() for n in raw.split(b"\0"))
        at = HEADER.size + names_len
        info = json.loads(mm[at : at + info_len].rstrip(b"\0") or b"{}")
        return cls(path, mm, names, info, slots, created, sup, slots_at)

    def _slot_at(self, i: int) -> int:
        if not 0 <= i < self.slots:
            raise IndexError(f"slot {i} of {self.slots}")
        return self._slots_at + i * len(self.names) * 8

    def engine_area(self, i: int) -> memoryview:
        """Slot i's `struct ssdk_stats`, for Engine.share_stats."""
        at = self._slot_at(i) + _ENGINE_AT * 8
        return memoryview(self.mm)[at : at + 8 * len(STATS_FIELDS)]

    def set_meta(self, i: int, **values: int) -> None:
        at = self._slot_at(i)
        for k, v in values.items():
            struct.pack_into("<Q", self.mm, at + 8 * META.index(k), v)

    def set_impair(self, i: int, stats: dict[str, dict[str, int]]) -> None:
        """Copy the impairment counters ({"rx": {...}, "tx": {...}}) into slot i."""
        values = [stats[d][k] for d in ("rx", "tx") for k in IMPAIR_STATS_FIELDS]
        struct.pack_into(f"<{len(values)}Q", self.mm, self._slot_at(i) + _IMPAIR_AT * 8, *values)

    def accumulate(self, dst: int, src: int) -> None:
        """Add slot src's counters (not its meta fields) to slot dst's."""
        a, b = self.read(dst), self.read(src)
        sums = [(a[k] + b[k]) & 0xFFFFFFFFFFFFFFFF for k in self.names[len(META) :]]
        struct.pack_into(f"<{len(sums)}Q", self.mm, self._slot_at(dst) + len(META) * 8, *sums)

    def set_app(self, i: int, values: dict[str, int]) -> None:
        """Copy the dynamic-route counters (APP) into slot i."""
        at = self._slot_at(i) + 8 * FIELDS.index(APP[0])
        struct.pack_into(f"<{len(APP)}Q", self.mm, at, *(values[k] for k in APP))

    def clear(self, i: int) -> None:
        """Zero slot i (before a worker starts in it)."""
        at = self._slot_at(i)
        self.mm[at : at + len(self.names) * 8] = bytes(len(self.names) * 8)

    def read(self, i: int) -> dict[str, int]:
        values = struct.unpack_from(f"<{len(self.names)}Q", self.mm, self._slot_at(i))
        return dict(zip(self.names, values, strict=True))

    def read_all(self) -> list[dict[str, int]]:
        return [self.read(i) for i in range(self.slots)]

    def close(self, unlink: bool = False) -> None:
        self.mm.close()
        if unlink:
            self.path.unlink(missing_ok=True)


def total(rows: list[dict[str, int]]) -> dict[str, int]:
    """The counters of all workers added up (meta fields left out)."""
    out: dict[str, int] = {}
    for row in rows:
        for k, v in row.items():
            if k not in META:
                out[k] = out.get(k, 0) + v
    return out


def find_boards() -> Iterator[Board]:
    """The boards of running servers; files left by a server that died are removed."""
    for path in sorted(SHM_DIR.glob("ssdk-*.counters")):
        try:
            board = Board.open(path)
        except (BoardError, ValueError):
            continue
        if alive(board.supervisor):
            yield board
        else:
            board.close()
            path.unlink(missing_ok=True)
