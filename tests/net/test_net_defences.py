# tests/net/test_net_defences.py: the server keeps serving under a SYN flood from
# spoofed sources (SYN cookies, RFC 4987), and a client that trickles its request in
# is answered 408 and cut off, its slot free for others.
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nethelpers import file_sha256, serve, sha256

from ssdk.tools.netns import ns_exec

pytestmark = pytest.mark.net

HERE = Path(__file__).parent
FLOOD_RATE = 25_000  # SYNs per second; the issue asks for at least 20,000
FLOOD_SECONDS = 6


def test_syn_flood_does_not_stop_curl(
    bundle: Path, expected: dict[str, bytes], tmp_path: Path
) -> None:
    with serve(bundle, tmp_path, "--syn-backlog", "256", tag="flood") as server:
        topo = server.topo
        flood = subprocess.Popen(
            ns_exec(topo.client_ns, [sys.executable, str(HERE / "synflood.py"), topo.client_if,
                                     topo.server_mac, topo.server_ip, str(FLOOD_RATE),
                                     str(FLOOD_SECONDS)]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            time.sleep(1.0)  # let the backlog fill: from here on cookies answer
            fetched = 0
            while flood.poll() is None:
                out = tmp_path / f"page-{fetched}"
                proc = server.curl_to("/", out, "--max-time", "5")
                assert proc.returncode == 0, f"curl under flood: {proc.stderr}"
                assert file_sha256(out) == sha256(expected["/"])
                fetched += 1
                time.sleep(0.2)
            out_text, err = flood.communicate(timeout=30)
        finally:
            if flood.poll() is None:
                flood.kill()
                flood.wait()
        assert flood.returncode == 0, err
        report = json.loads(out_text)
        rate = report["sent"] / report["seconds"]
        assert rate >= 20_000, f"the flood reached only {rate:.0f} SYN/s"
        assert fetched >= 10
        stats = server.stats(fresh=True)
        assert stats["syncookies_sent"] > 0
        assert stats["conns_syn_received"] <= 256


def test_slow_client_is_timed_out_and_its_slot_reused(
    bundle: Path, expected: dict[str, bytes], tmp_path: Path
) -> None:
    with serve(bundle, tmp_path, "--header-timeout", "2000", "--max-conns", "2",
               tag="slow") as server:  # fmt: skip
        proc = server.client(
            [sys.executable, str(HERE / "slow_client.py"), server.topo.server_ip, "0.25"],
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["answer"].startswith("HTTP/1.1 408 "), report
        assert "Connection:      close" in report["answer"]
        assert 1.5 <= report["seconds"] <= 10, report
        stats = server.wait_stats("conns_active", 0)
        assert stats["http_408"] == 1
        out = tmp_path / "after"
        assert server.curl_to("/", out).returncode == 0
        assert file_sha256(out) == sha256(expected["/"])
