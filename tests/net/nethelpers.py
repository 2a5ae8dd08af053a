# tests/net/nethelpers.py: the test app, its expected bytes, and `serve`, which runs
# `python -m ssdk serve` on a given backend (AF_PACKET or AF_XDP) in its own namespace, on
# one end of its own veth pair, with clients (curl, http.client) in the peer namespace.
# Everything it makes (namespaces, veths, processes) is removed again, also when a test
# fails. Kept apart from conftest.py so test modules can import it by a name no other test
# folder uses.
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ssdk.tools.netns import Topology, ns_exec, tap_namespace, veth_pair

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello"
CI = os.environ.get("CI") == "true"

# Sizes around one template segment (MSS 1448) and well past the initial window.
FILE_SIZES = {
    "f0.bin": 0,
    "f1.bin": 1,
    "f1447.bin": 1447,
    "f1448.bin": 1448,
    "f1449.bin": 1449,
    "f64k.bin": 64 * 1024,
    "f8m.bin": 8 * 1024 * 1024,
}
BIG = "/files/f8m.bin"
PAGES = {
    "/": b"<h1>hello</h1>",
    "/items/a": b'{"name":"a"}',
    "/items/b": b'{"name":"b"}',
    "/items/c": b'{"name":"c"}',
}
ROUTES = [*PAGES, *(f"/files/{p.name}" for p in sorted((HELLO / "public").iterdir()))] + [
    f"/files/{name}" for name in FILE_SIZES
]

READY_TIMEOUT = 120.0  # serving an app.py builds it first, 8 MiB included
STOP_TIMEOUT = 15.0


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unavailable(reason: str) -> None:
    """Skip outside CI; in CI a missing privilege or tool must fail the run."""
    if CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


BACKENDS = ("af_packet", "af_xdp")
# The backends a module's `server` runs on (conftest.py): BACKENDS, and netmap where
# /dev/netmap is there (require_backend).
SERVER_BACKENDS = (*BACKENDS, "netmap")
# Offloads of both veth ends: "on" leaves them as the kernel made them (TX checksum,
# TSO and GSO on: partial checksums and 64 KiB super-frames reach the server), "off"
# turns them off with ethtool, as a tuned physical NIC would have them.
OFFLOADS = ("on", "off")


def require_backend(backend: str) -> None:
    """Skip (fail under CI) when this build of ssdk lacks ``backend``; netmap skips
    wherever /dev/netmap is missing, CI included."""
    if backend == "netmap" and not os.path.exists("/dev/netmap"):
        # The one skip CI keeps: netmap is no part of mainline Linux, so CI's kernel
        # (and this project's test machine) cannot have the module. The netmap backend
        # runs here only on top of the emulation (tests/stack/test_netmap.py); load the
        # module (docs/network.md, "netmap") and these tests run it on a real device.
        pytest.skip("no netmap module")
    if backend == "af_xdp":
        from ssdk.core.runtime.engine import HAVE_AF_XDP

        if not HAVE_AF_XDP:
            unavailable("ssdk was built without AF_XDP (install libxdp-dev, libbpf-dev)")


def require_net() -> None:
    """Root, iproute2, ethtool (for the offloads-off runs) and curl, or the net tests
    cannot run at all."""
    if os.geteuid() != 0:
        unavailable("net tests need root (network namespaces, veth pairs, raw sockets)")
    missing = [tool for tool in ("ip", "ethtool", "curl") if shutil.which(tool) is None]
    if missing:
        # Root but no tools is a broken test machine, not a reason to skip.
        pytest.fail(f"tools missing for net tests: {', '.join(missing)}", pytrace=False)


def write_app(app_dir: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """The hello example plus ``files`` in its public folder; returns path -> body."""
    app_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(HELLO / "app.py", app_dir / "app.py")
    shutil.copytree(HELLO / "public", app_dir / "public", dirs_exist_ok=True)
    for name, data in files.items():
        (app_dir / "public" / name).write_bytes(data)
    expected = dict(PAGES)
    for p in sorted((app_dir / "public").iterdir()):
        expected[f"/files/{p.name}"] = p.read_bytes()
    return expected


def random_files(sizes: dict[str, int]) -> dict[str, bytes]:
    # Seeded per file, so a failing byte offset reproduces across runs.
    return {name: random.Random(f"ssdk-{name}").randbytes(n) for name, n in sizes.items()}


def build_bundle(app_py: Path, out: Path) -> Path:
    argv = [sys.executable, "-m", "ssdk", "build", str(app_py), "-o", str(out)]
    proc = subprocess.run(
        argv, cwd=app_py.parent, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    assert out.is_file(), f"{argv} did not write {out}"
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Server:
    """A running `ssdk serve` and the topology it serves on."""

    topo: Topology
    proc: subprocess.Popen[str]
    stats_path: Path
    argv: list[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, family: int = 4) -> str:
        """``path`` on the server's IPv4 address, or its IPv6 one (family 6; the topology
        must have been made with IPv6: serve(ipv6=True))."""
        if family == 6:
            if self.topo.server_ip6 is None:
                raise ValueError("no IPv6 on this topology: serve(..., ipv6=True)")
            return f"http://[{self.topo.server_ip6}]{path}"
        return f"http://{self.topo.server_ip}{path}"

    def output(self) -> str:
        return "".join(self.lines)

    def log_tail(self, n: int = 40) -> str:
        return "server output (tail):\n" + "".join(self.lines[-n:])

    def stats(self, *, fresh: bool = False, timeout: float = 5.0) -> dict[str, Any]:
        """The counters of the last stats file the server wrote.

        ``fresh``: wait for a file written entirely after this call (the server replaces
        it by rename about every 0.5 s, so two replacements guarantee one that started
        after we asked).
        """
        deadline = time.monotonic() + timeout
        seen: set[tuple[int, int]] = set()
        first = self._stamp()
        if first is not None:
            seen.add(first)
        while True:
            stamp = self._stamp()
            if stamp is not None:
                seen.add(stamp)
                if not fresh or len(seen) >= 3:
                    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                        data: dict[str, Any] = json.loads(self.stats_path.read_text())
                        return data
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {'fresh ' if fresh else ''}stats in {self.stats_path} after "
                    f"{timeout} s\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.stats_path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def wait_stats(self, key: str, value: int, timeout: float = 10.0) -> dict[str, Any]:
        """Poll fresh stats until ``stats[key] == value``; return the last stats read."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats(fresh=True)
            if s.get(key) == value:
                return s
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{key} is {s.get(key)}, expected {value} within {timeout} s; "
                    f"stats: {s}\n{self.log_tail()}"
                )

    def client(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the client namespace."""
        return subprocess.run(
            ns_exec(self.topo.client_ns, argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def curl_to(
        self, path: str, out: Path, *extra: str, family: int = 4
    ) -> subprocess.CompletedProcess[str]:
        curl = ["curl", "-sS", "--fail", "--max-time", "60", *extra, "-o", str(out)]
        return self.client([*curl, self.url(path, family)])


def _pump(server: Server) -> None:
    assert server.proc.stdout is not None
    for line in server.proc.stdout:
        server.lines.append(line)
        if "ready" in line:
            server.ready.set()


@contextlib.contextmanager
def serve(
    target: Path,
    workdir: Path,
    *extra: str,
    tag: str = "net",
    stop: signal.Signals = signal.SIGINT,
    backend: str = "af_packet",
    queues: int = 1,
    offloads: str = "on",
    beside: Callable[[Topology], contextlib.AbstractContextManager[object]] | None = None,
    ipv6: bool = False,
    ipv4: bool = True,
) -> Iterator[Server]:
    """Serve ``target`` (an app .py or a .ssdk bundle) on a fresh topology over ``backend``,
    on a veth pair with ``queues`` queues each way and ``offloads`` (OFFLOADS) on both ends.

    ``ipv6``: the namespaces have IPv6 (veth_pair's ipv6), the client 2001:2::1/64, and
    the server is given ``--ip`` for 2001:2::2/64 as well as for its IPv4 address;
    ``ipv4`` False (with ``ipv6``): for 2001:2::2/64 alone.

    ``beside``: what else runs on the topology (kernel addresses, sshd, nginx), entered
    before the server starts and left after it has stopped.

    On exit: ``stop`` (SIGINT or SIGTERM), then the server must stop with status 0 and
    print its counters. If it hangs it is killed (and the test fails); the namespaces go
    in any case.
    """
    stats_path = workdir / f"stats-{os.getpid()}-{time.monotonic_ns()}.json"
    # A TAP's clients live in the server's own namespace (they reach it through the
    # kernel's routing, as a browser does under `ssdk dev`).
    if offloads not in OFFLOADS:
        raise ValueError(f"offloads must be one of {OFFLOADS}, not {offloads!r}")
    net = (
        tap_namespace(tag, ipv6=ipv6)
        if backend == "tap"
        else veth_pair(tag, queues=queues, offload_off=offloads == "off", ipv6=ipv6)
    )
    with net as topo, beside(topo) if beside else contextlib.nullcontext():
        argv = ns_exec(
            topo.server_ns,
            [sys.executable, "-m", "ssdk", "serve", str(target), "--backend", backend]
            + ["--iface", topo.server_if]
            + [arg for cidr in topo.server_cidrs if ipv4 or ":" in cidr for arg in ("--ip", cidr)]
            + ["--stats-file", str(stats_path), *extra],
        )
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # our Ctrl-C is not the server's; teardown signals it
        )
        server = Server(topo=topo, proc=proc, stats_path=stats_path, argv=argv)
        reader = threading.Thread(target=_pump, args=(server,), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not server.ready.wait(0.1):
                if proc.poll() is not None:
                    reader.join(2)
                    pytest.fail(
                        f"server exited with {proc.returncode} before ready:\n"
                        f"{' '.join(argv)}\n{server.output()}",
                        pytrace=False,
                    )
                if time.monotonic() > deadline:
                    pytest.fail(f"server not ready in {READY_TIMEOUT} s\n{server.log_tail()}")
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            raise
        try:
            yield server
        finally:
            _stop(server, reader, stop)


def _stop(server: Server, reader: threading.Thread, stop: signal.Signals) -> None:
    proc = server.proc
    if proc.poll() is not None:
        reader.join(2)
        pytest.fail(
            f"server died during the test with status {proc.returncode}\n{server.log_tail()}",
            pytrace=False,
        )
    ready_at = len(server.lines)
    seen: dict[str, Any] = {}
    with contextlib.suppress(AssertionError):
        seen = server.stats(timeout=0.5)  # what the exit report must at least mention
    proc.send_signal(stop)
    try:
        rc = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        reader.join(2)
        pytest.fail(f"server ignored {stop.name} for {STOP_TIMEOUT} s\n{server.log_tail()}")
    reader.join(5)
    after = "".join(server.lines[ready_at:])
    assert rc == 0, f"server exited with {rc} on {stop.name}\n{server.log_tail()}"
    assert f"stopped by {stop.name}" in after, f"no stop report for {stop.name}:\n{after}"
    assert "counters" in after, f"server printed no counters on {stop.name}:\n{after}"
    if seen.get("rx_frames"):
        assert "rx_frames" in after, f"exit report lacks rx_frames ({seen}):\n{after}"


def start_until_ready(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 120.0
) -> tuple[subprocess.Popen[str], list[str]]:
    """Start ``argv`` (``ssdk dev`` and the like), its output gathered line by line as it
    comes into the list returned; return once a line says "ready:". If it does not in
    ``timeout`` s, it is stopped and the test fails with what it printed."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "ready:" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(timeout):
        proc.terminate()
        proc.wait(30)
        pytest.fail(f"{argv[:6]} not ready:\n" + "".join(lines), pytrace=False)
    return proc, lines
