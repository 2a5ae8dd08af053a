"""`ssdk stats`: the counters of a running `ssdk serve`, per worker, live or as JSON.

cli.stats -> pick_board (ssdk/core/runtime/counters.py: find_boards | Board.open)
          -> snapshot (--json, once) | watch (a table of rates every interval)

It only reads the server's shared memory: it costs the server nothing, and any number
of readers may watch at once.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ssdk.core.runtime.counters import GAUGES, META, Board, BoardError, board_path, find_boards
from ssdk.core.runtime.procs import pid_alive as alive


class NoServer(RuntimeError):
    """No running server matches what was asked for."""


class Ambiguous(ValueError):
    """Several servers run and none was named."""


def pick_board(which: str | None) -> Board:
    """The board of the server named by pid or path, or of the only one running."""
    if which:
        path = board_path(int(which)) if which.isdigit() else Path(which)
        what = f"pid {which}" if which.isdigit() else f"counters at {path}"
        try:
            board = Board.open(path)
        except BoardError:
            raise NoServer(f"no running ssdk serve with {what}") from None
        if not alive(board.supervisor):
            board.close()
            raise NoServer(f"no running ssdk serve with {what} (it has stopped)")
        return board
    boards = list(find_boards())
    if not boards:
        raise NoServer("no running ssdk serve found (no counter file in /dev/shm)")
    if len(boards) > 1:
        names = ", ".join(
            f"{b.supervisor} ({b.info.get('iface')} {b.info.get('address')})" for b in boards
        )
        for b in boards:
            b.close()
        raise Ambiguous(f"several servers run, name one by pid: {names}")
    return boards[0]


def snapshot(board: Board) -> dict[str, Any]:
    """Everything on the board, as one JSON-able dict."""
    rows = board.read_all()
    now = time.time_ns()
    workers = []
    for i, row in enumerate(rows[:-1]):
        w: dict[str, Any] = {"worker": i, **row}
        w["uptime_s"] = round((now - row["started_ns"]) / 1e9, 3) if row["pid"] else 0
        workers.append(w)
    retired = {k: v for k, v in rows[-1].items() if k not in META}
    total = {k: sum(r[k] for r in rows) for k in board.names if k not in META}
    return {
        "server": {
            **board.info,
            "pid": board.supervisor,
            "uptime_s": round((now - board.created_ns) / 1e9, 3),
        },
        "workers": workers,
        "retired": retired,
        "total": total,
    }


COLUMNS = (  # heading, counter, rate (per second) or level
    ("rx pkt/s", "rx_frames", True),
    ("tx pkt/s", "tx_frames", True),
    ("tx Gbit/s", "tx_bytes", True),
    ("req/s", "http_requests", True),
    ("conns", "conns_active", False),
    ("opened/s", "conns_opened", True),
    ("rtx/s", "retransmits", True),
    ("drops/s", "drops", True),
    ("app us/req", "app", True),  # Python time per dynamic request, on the loop's thread
)


# What the pool did under pressure (RFC 4987 defences, eviction, limits), shown below
# the table once any happened.
POOL_EVENTS = (
    ("cookies", "syncookies_sent"),
    ("cookie-no-slot", "syncookies_no_slot"),
    ("evicted-idle", "conns_evicted_idle"),
    ("refused-per-ip", "syn_refused_per_ip"),
    ("synack-gave-up", "synack_gave_up"),
)


def _drops(row: dict[str, Any]) -> int:
    return sum(v for k, v in row.items() if k.startswith("drop_") and k not in GAUGES)


def render(prev: dict[str, Any], cur: dict[str, Any], dt: float) -> str:
    """The table of rates between two snapshots, one line per worker and a total."""
    gso = cur["server"].get("gso")
    lines = [
        f"ssdk serve pid {cur['server']['pid']}: {cur['server'].get('target')} on "
        f"{cur['server'].get('iface')} ({cur['server'].get('backend')}) at "
        f"{cur['server'].get('address')}{f', GSO {gso}' if gso else ''}, "
        f"up {cur['server']['uptime_s']:.0f} s"
    ]
    head = f"{'worker':>6} {'pid':>7} {'queue':>5} {'restarts':>8}"
    head += "".join(f" {h:>10}" for h, _, _ in COLUMNS)
    lines.append(head)

    def cells(before: dict[str, Any], after: dict[str, Any]) -> str:
        out = ""
        for _, key, rate in COLUMNS:
            if key == "app":
                n = after["app_requests"] - before.get("app_requests", 0)
                ns = after["app_ns"] - before.get("app_ns", 0)
                out += f" {ns / n / 1000:>10,.1f}" if n > 0 else f" {'-':>10}"
                continue
            a = _drops(after) if key == "drops" else after[key]
            b = _drops(before) if key == "drops" else before.get(key, 0)
            if not rate:
                out += f" {a:>10,}"
            elif key == "tx_bytes":
                out += f" {(a - b) * 8 / dt / 1e9:>10.2f}"
            else:
                out += f" {max(0, a - b) / dt:>10,.0f}"
        return out

    for w_prev, w in zip(prev["workers"], cur["workers"], strict=True):
        same_life = w_prev["pid"] == w["pid"]
        lines.append(
            f"{w['worker']:>6} {w['pid'] or '-':>7} {w['queue']:>5} "
            f"{w['restarts']:>8}" + cells(w_prev if same_life else {}, w)
        )
    lines.append(f"{'all':>6} {'':>7} {'':>5} {'':>8}" + cells(prev["total"], cur["total"]))
    drops = {k: v for k, v in cur["total"].items() if k.startswith("drop_") and v}
    if drops:
        lines.append("drops since start: " + ", ".join(f"{k[5:]} {v:,}" for k, v in drops.items()))
    pool = {label: cur["total"].get(k, 0) for label, k in POOL_EVENTS}
    if any(pool.values()):
        lines.append("pool since start: " + ", ".join(f"{k} {v:,}" for k, v in pool.items() if v))
    return "\n".join(lines)


def watch(board: Board, interval: float, count: int | None) -> int:
    """Print the rate table every `interval` seconds until Ctrl-C, `count` tables, or
    the server's end; exit code 0."""
    tty = sys.stdout.isatty()
    prev, t_prev = snapshot(board), time.monotonic()
    shown = 0
    try:
        while count is None or shown < count:
            time.sleep(interval)
            if not alive(board.supervisor):
                print("ssdk stats: the server has stopped", flush=True)
                return 0
            cur, t = snapshot(board), time.monotonic()
            text = render(prev, cur, t - t_prev)
            print(("\x1b[H\x1b[2J" if tty else "") + text + ("" if tty else "\n"), flush=True)
            prev, t_prev = cur, t
            shown += 1
    except KeyboardInterrupt:
        pass
    return 0


def run_stats(which: str | None, as_json: bool, interval: float, count: int | None) -> int:
    board = pick_board(which)
    try:
        if as_json:
            print(json.dumps(snapshot(board), indent=2))
            return 0
        return watch(board, interval, count)
    finally:
        board.close()
