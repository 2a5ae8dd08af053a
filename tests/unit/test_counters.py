# tests/unit/test_counters.py: the shared counter board. The C core writes its counters
# straight into a board slot (checked by reading the file through a second mapping, as
# `ssdk stats` does), ended lives add up in the retired slot, boards of dead servers are
# cleared away, and `ssdk stats` reports what it finds in one line when it cannot choose.
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ssdk.cli import main
from ssdk.core.runtime import counters
from ssdk.core.runtime.counters import Board, BoardError, find_boards
from ssdk.core.runtime.engine import Engine, EngineConfig
from ssdk.tools.stats import render, snapshot


@pytest.fixture
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(counters, "SHM_DIR", tmp_path)
    return tmp_path


def poke(board: Board, slot: int, field: str, value: int) -> None:
    """Set one engine counter of a slot, as the C core would."""
    with board.engine_area(slot) as area, area.cast("Q") as words:
        words[counters.STATS_FIELDS.index(field)] = value


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_engine_counts_into_its_slot(shm: Path) -> None:
    board = Board.create(3, {"iface": "mem0"})
    with Engine(EngineConfig(ip="198.18.0.2")) as engine:
        engine.attach_memory()
        engine.share_stats(board.engine_area(1))
        engine.inject(b"\x00" * 10)  # a runt: counted and dropped
        engine.poll()
        reader = Board.open(board.path)
        row = reader.read(1)
        assert row["rx_frames"] == 1 and row["drop_runt"] == 1
        assert reader.read(0)["rx_frames"] == 0
        assert engine.stats()["drop_runt"] == 1  # the engine reads the same memory
        assert reader.info == {"iface": "mem0"} and reader.slots == 3
        reader.close()
    board.close(unlink=True)
    assert not board.path.exists()


def test_retired_lives_add_up(shm: Path) -> None:
    board = Board.create(2, {})
    board.set_meta(0, pid=123, queue=0, restarts=0, started_ns=1)
    for _ in range(2):  # two lives of worker 0 end
        poke(board, 0, "rx_frames", 5)
        board.set_impair(0, {"rx": {k: 1 for k in counters.IMPAIR_STATS_FIELDS},
                             "tx": {k: 0 for k in counters.IMPAIR_STATS_FIELDS}})  # fmt: skip
        board.accumulate(1, 0)
        board.clear(0)
    retired = board.read(1)
    assert retired["rx_frames"] == 10 and retired["impair_rx_dropped"] == 2
    assert retired["pid"] == 0  # meta fields are not summed
    assert board.read(0)["pid"] == 0 and board.read(0)["rx_frames"] == 0
    board.close(unlink=True)


def test_a_foreign_file_is_refused(shm: Path) -> None:
    bad = shm / "ssdk-1.counters"
    bad.write_bytes(b"NOTSSDK!" + bytes(64))
    with pytest.raises(BoardError, match="not an ssdk counter file"):
        Board.open(bad)


def test_boards_of_dead_servers_are_removed(shm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = Board.create(2, {"iface": "live0"})
    monkeypatch.setattr(counters.os, "getpid", dead_pid)
    stale = Board.create(2, {"iface": "gone0"})
    found = list(find_boards())
    assert [b.info["iface"] for b in found] == ["live0"]
    assert not stale.path.exists() and live.path.exists()
    for b in (*found, live, stale):
        b.close()


def test_snapshot_and_table(shm: Path) -> None:
    board = Board.create(3, {"iface": "x0", "target": "app.py", "backend": "af_xdp",
                             "address": "198.18.0.2:80"})  # fmt: skip
    before = snapshot(board)
    board.set_meta(0, pid=11, queue=0, restarts=0, started_ns=1)
    board.set_meta(1, pid=12, queue=1, restarts=2, started_ns=1)
    poke(board, 0, "rx_frames", 1000)
    poke(board, 1, "rx_frames", 500)
    after = snapshot(board)
    assert after["total"]["rx_frames"] == 1500
    assert [w["pid"] for w in after["workers"]] == [11, 12]
    json.dumps(after)  # it must be plain JSON
    table = render(before, after, dt=0.5).splitlines()
    assert table[2].split()[:5] == ["0", "11", "0", "0", "2,000"]
    assert table[3].split()[:5] == ["1", "12", "1", "2", "1,000"]
    assert table[4].split()[:2] == ["all", "3,000"]
    assert not any(line.startswith("pool since start") for line in table)
    poke(board, 0, "conns_evicted_idle", 3)
    poke(board, 1, "syncookies_sent", 1200)
    table = render(before, snapshot(board), dt=0.5).splitlines()
    assert table[-1] == "pool since start: cookies 1,200, evicted-idle 3"
    board.close(unlink=True)


def test_stats_without_a_server_says_so(shm: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["stats"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "no running ssdk serve" in err


def test_stats_with_several_servers_asks_for_one(
    shm: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Board.create(2, {"iface": "a0", "address": "198.18.0.2:80"}, path=shm / "ssdk-1.counters")
    b = Board.create(2, {"iface": "b0", "address": "198.18.0.3:80"}, path=shm / "ssdk-2.counters")
    rc = main(["stats", "--json"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "name one by pid" in err
    rc = main(["stats", str(a.path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["server"]["iface"] == "a0"
    for x in (a, b):
        x.close(unlink=True)
