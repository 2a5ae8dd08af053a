# tests/net/test_net_impair.py: the impairment layer against real peers.
#
# `ssdk serve --impair-both loss=2%` serves 8 MiB byte-exact to curl through its own
# lossy backend. And `ssdk impair` bridges a client namespace to a server namespace
# through the same layer, so that curl <-> nginx (the kernel's stack on both ends) and
# curl <-> ssdk cross the very same lossy path, byte-exact, with the bridge's counters
# showing loss both ways. A bottleneck (rate and queue) shapes both the server's own
# sending side and the bridge's way back to the client: byte-exact, and never faster than
# the link. Everything runs in namespaces of its own and is removed after.
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nethelpers import BIG, STOP_TIMEOUT, _env, file_sha256, serve, sha256

from ssdk.tools.netns import BridgedTopology, bridged_pair, kernel_owns_server_ip, ns_exec

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


RATE_MBIT = 50


def test_serve_bottleneck_is_no_faster_than_its_link(
    bundle: Path, expected: dict[str, bytes], tmp_path: Path
) -> None:
    """`--impair-tx delay=5ms,rate=50mbit,queue=64kb`: the 8 MiB file arrives byte-exact,
    and it cannot have arrived faster than the link carries its bytes (8 MiB at 50 Mbit/s
    is 1.34 s; a lower bound from the rate is a correctness check, not a timing goal).
    The queue's counters show it was used and never held more than its size."""
    spec = f"delay=5ms,rate={RATE_MBIT}mbit,queue=64kb"
    with serve(bundle, tmp_path, "--impair-tx", spec, "--seed", SEED, tag="wan") as srv:
        out = tmp_path / "big"
        argv = ["curl", "-sS", "--fail", "--max-time", str(BIG_TIMEOUT), "-o", str(out)]
        proc = srv.client([*argv, "-w", "%{time_total}", srv.url(BIG)], timeout=BIG_TIMEOUT + 30)
        assert proc.returncode == 0, f"curl: {proc.stderr}\n{srv.log_tail()}"
        assert file_sha256(out) == sha256(expected[BIG])
        link_s = len(expected[BIG]) * 8 / (RATE_MBIT * 1e6)
        took = float(proc.stdout)
        assert took >= 0.95 * link_s, f"{took:.3f} s: faster than the link ({link_s:.3f} s)"
        st = srv.stats(fresh=True)
        assert st["impair_tx_queued"] > len(expected[BIG]) // 1514, st
        assert 0 < st["impair_tx_queue_peak"] <= 64_000, st
        assert st["impair_rx_frames"] == 0, st  # only the server's sending side is shaped
    assert "impair_tx_queue_drop" in srv.output()


# --- the bridge ------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process off;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {ip}:80;
        root {tmp}/www;
        location /files/ {{ alias {tmp}/www/; }}
    }}
}}
"""


class Proc:
    """A process in a namespace, its output collected by a thread."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_line(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.reader.join(2)
                pytest.fail(f"no {needle!r} from {' '.join(self.argv)}:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Signal it and wait; kill it if it does not stop. Returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode


@contextlib.contextmanager
def running(argv: list[str], cwd: Path) -> Iterator[Proc]:
    p = Proc(argv, cwd)
    try:
        yield p
    finally:
        p.stop(signal.SIGTERM)


def curl(
    topo: BridgedTopology, path: str, out: Path, max_time: int
) -> subprocess.CompletedProcess[str]:
    argv = ["curl", "-sS", "--fail", "--max-time", str(max_time), "-o", str(out)]
    return subprocess.run(
        ns_exec(topo.client_ns, [*argv, f"http://{topo.server_ip}{path}"]),
        capture_output=True, text=True, timeout=max_time + 30, check=False,
    )  # fmt: skip


def wait_http(topo: BridgedTopology, path: str, tmp: Path, server: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while curl(topo, path, tmp / "probe", 2).returncode != 0:
        if server.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{path} not served within {timeout} s:\n{server.output()}")
        time.sleep(0.2)


def nginx_argv(topo: BridgedTopology, tmp: Path, files: dict[str, bytes]) -> list[str]:
    (tmp / "www").mkdir()
    for path, body in files.items():
        (tmp / "www" / path.rsplit("/", 1)[1]).write_bytes(body)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, ip=topo.server_ip))
    return ns_exec(topo.server_ns, ["nginx", "-c", str(conf)])


@pytest.mark.parametrize("server_kind", ["nginx", "ssdk"])
def test_bridge_forwards_through_loss(
    server_kind: str, bundle: Path, expected: dict[str, bytes], tmp_path: Path
) -> None:
    """curl <-> server through `ssdk impair --impair-both loss=2%`: the 8 MiB file arrives
    byte-exact, the bridge lost frames both ways, and stops cleanly with its counters."""
    if server_kind == "nginx" and not any(
        os.access(os.path.join(d, "nginx"), os.X_OK) for d in ("/usr/sbin", "/usr/bin")
    ):
        pytest.fail("nginx missing for the bridge test", pytrace=False)
    stats_path = tmp_path / "bridge.json"
    with bridged_pair(f"br{server_kind[:2]}") as topo:
        bridge_argv = ns_exec(topo.bridge_ns, [
            sys.executable, "-m", "ssdk", "impair", "--a", topo.bridge_client_if,
            "--b", topo.bridge_server_if, "--impair-both", "loss=2%", "--seed", SEED,
            "--stats-file", str(stats_path),
        ])  # fmt: skip
        bridge = Proc(bridge_argv, tmp_path)
        try:
            bridge.wait_line("ready", 30)
            with contextlib.ExitStack() as stack:
                if server_kind == "nginx":
                    stack.enter_context(kernel_owns_server_ip(topo))
                    files = {p: expected[p] for p in (SMALL, BIG)}
                    argv = nginx_argv(topo, tmp_path, files)
                else:
                    argv = ns_exec(topo.server_ns, [
                        sys.executable, "-m", "ssdk", "serve", str(bundle), "--iface",
                        topo.server_if, "--ip", topo.server_cidr,
                    ])  # fmt: skip
                server = stack.enter_context(running(argv, tmp_path))
                wait_http(topo, SMALL, tmp_path, server, 120)
                out = tmp_path / "big"
                proc = curl(topo, BIG, out, BIG_TIMEOUT)
                assert proc.returncode == 0, f"curl: {proc.stderr}\n{server.output()}"
                assert file_sha256(out) == sha256(expected[BIG])
        finally:
            rc = bridge.stop(signal.SIGINT)
        report = bridge.output()
        assert rc == 0, f"bridge exited {rc}:\n{report}"
        assert "stopped by SIGINT" in report and "ab_impair_dropped" in report, report
        st: dict[str, Any] = json.loads(stats_path.read_text())
        assert st["ab_impair_dropped"] > 0 and st["ba_impair_dropped"] > 0, st
        assert st["ab_forwarded"] > 0 and st["ba_forwarded"] > 0, st
        assert st["ab_tx_full"] == 0 and st["ba_tx_full"] == 0, st


def test_bridge_bottleneck_shapes_a_kernel_server(
    expected: dict[str, bytes], tmp_path: Path
) -> None:
    """curl <-> nginx (the kernel's TCP at both ends) through `ssdk impair` with a
    50 Mbit/s link and a 64 kB queue from server to client, 5 ms each way: the 8 MiB file
    arrives byte-exact and no faster than the link can carry it, and the bridge's
    counters show the queue at work on that side only."""
    if not any(os.access(os.path.join(d, "nginx"), os.X_OK) for d in ("/usr/sbin", "/usr/bin")):
        pytest.fail("nginx missing for the bridge test", pytrace=False)
    stats_path = tmp_path / "bridge.json"
    with bridged_pair("brq") as topo:
        bridge = Proc(
            ns_exec(topo.bridge_ns, [
                sys.executable, "-m", "ssdk", "impair", "--a", topo.bridge_client_if,
                "--b", topo.bridge_server_if, "--impair-ab", "delay=5ms", "--impair-ba",
                f"delay=5ms,rate={RATE_MBIT}mbit,queue=64kb", "--seed", SEED,
                "--stats-file", str(stats_path),
            ]),
            tmp_path,
        )  # fmt: skip
        try:
            bridge.wait_line("ready", 30)
            with (
                kernel_owns_server_ip(topo),
                running(
                    nginx_argv(topo, tmp_path, {p: expected[p] for p in (SMALL, BIG)}), tmp_path
                ) as server,
            ):
                wait_http(topo, SMALL, tmp_path, server, 120)
                out = tmp_path / "big"
                argv = ["curl", "-sS", "--fail", "--max-time", str(BIG_TIMEOUT), "-o", str(out)]
                proc = subprocess.run(
                    ns_exec(topo.client_ns, [
                        *argv, "-w", "%{time_total}", f"http://{topo.server_ip}{BIG}",
                    ]),
                    capture_output=True, text=True, timeout=BIG_TIMEOUT + 30, check=False,
                )  # fmt: skip
                assert proc.returncode == 0, f"curl: {proc.stderr}\n{server.output()}"
                assert file_sha256(out) == sha256(expected[BIG])
        finally:
            rc = bridge.stop(signal.SIGINT)
        assert rc == 0, f"bridge exited {rc}:\n{bridge.output()}"
    link_s = len(expected[BIG]) * 8 / (RATE_MBIT * 1e6)
    took = float(proc.stdout)
    assert took >= 0.95 * link_s, f"{took:.3f} s: faster than the link ({link_s:.3f} s)"
    st: dict[str, Any] = json.loads(stats_path.read_text())
    assert st["ba_impair_queued"] > len(expected[BIG]) // 1514, st
    assert 0 < st["ba_impair_queue_peak"] <= 64_000, st
    assert st["ab_impair_queued"] == 0 and st["ab_impair_delayed"] > 0, st
