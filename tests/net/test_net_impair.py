# tests/net/test_net_impair.py: the impairment layer against real peers.
#
# `ssdk serve --impair-both loss=2%` serves 8 MiB byte-exact to curl through its own
# lossy backend, and a reply the layer holds leaves when its delay is up even while the
# loop sleeps. Everything runs in namespaces of its own and is removed after.
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from nethelpers import BIG, file_sha256, serve, sha256

pytestmark = pytest.mark.net

PING = Path(__file__).with_name("icmp_ping.py")
SEED = "42"
SMALL = "/files/f1.bin"  # what a probe asks for until the server answers
BIG_TIMEOUT = 240  # 8 MiB at 2% loss costs some RTOs at 200 ms and more


def test_serve_impaired_serves_8m_byte_exact(
    bundle: Path, expected: dict[str, bytes], tmp_path: Path
) -> None:
    with serve(bundle, tmp_path, "--impair-both", "loss=2%", "--seed", SEED, tag="imp") as srv:
        out = tmp_path / "big"
        proc = srv.client(
            ["curl", "-sS", "--fail", "--max-time", str(BIG_TIMEOUT), "-o", str(out), srv.url(BIG)],
            timeout=BIG_TIMEOUT + 30,
        )
        assert proc.returncode == 0, f"curl: {proc.stderr}\n{srv.log_tail()}"
        assert file_sha256(out) == sha256(expected[BIG])
        st = srv.stats(fresh=True)
        assert st["impair_rx_dropped"] > 0 and st["impair_tx_dropped"] > 0, st
        assert st["retransmits"] > 0, st
    report = srv.output()
    assert f"seed {SEED}" in report
    assert "impair_tx_dropped" in report  # the exit report has the impairment's counters


def test_held_frames_wake_the_idle_loop(bundle: Path, tmp_path: Path) -> None:
    """With no connection open the loop sleeps in poll() for up to a whole slice; a reply
    the impairment holds must still leave when its delay is up (the backend's
    next_due_us bounds the sleep), not when the slice ends. The first echo also waits
    for ARP (its reply is delayed as well), so it is left out."""
    delay = 40
    with serve(bundle, tmp_path, "--impair-tx", f"delay={delay}ms", tag="due") as srv:
        proc = srv.client([sys.executable, str(PING), srv.topo.server_ip, "6"])
        assert proc.returncode == 0, proc.stderr
        rtts: list[float | None] = json.loads(proc.stdout)
    assert None not in rtts, rtts
    later = sorted(t for t in rtts[1:] if t is not None)
    assert all(t >= delay for t in later), rtts
    assert later[len(later) // 2] < delay + 20, f"echo replies held past their time: {rtts}"
