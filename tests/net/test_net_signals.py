# tests/net/test_net_signals.py: `ssdk serve` stops cleanly on SIGTERM as on SIGINT
# (the serve fixture sends the signal and checks the exit status and the counters).
from __future__ import annotations

import signal
from pathlib import Path

import pytest
from nethelpers import file_sha256, serve, sha256

pytestmark = pytest.mark.net


def test_sigterm_stops_cleanly_with_counters(
    bundle: Path, expected: dict[str, bytes], tmp_path: Path
) -> None:
    with serve(bundle, tmp_path, stop=signal.SIGTERM) as server:
        out = tmp_path / "index"
        proc = server.curl_to("/", out)
        assert proc.returncode == 0, proc.stderr
        assert file_sha256(out) == sha256(expected["/"])
        server.wait_stats("conns_active", 0)
