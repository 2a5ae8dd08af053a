# ssdk.tools.demo: `ssdk demo [--check] [APP_DIR]`. Builds an app, serves it from the user-space
# stack on one end of a private veth pair, and leaves the other end for the user to try
# with curl. With --check it fetches / from the other end once and stops: the proof, for
# a script or CI, that the set-up works end to end.
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ssdk.tools.netns import Topology, ns_exec, veth_pair

_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


def _pump(proc: subprocess.Popen[str], ready: threading.Event) -> None:
    """Copy the server's output to ours, prefixed, and notice its `ready` line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(f"[server] {line}")
        sys.stdout.flush()
        if "ready" in line:
            ready.set()


def _answers(topo: Topology) -> bool:
    argv = ["curl", "-s", "-o", "/dev/null", "--max-time", "2", "-w", "%{http_code}"]
    probe = subprocess.run(
        ns_exec(topo.client_ns, [*argv, f"http://{topo.server_ip}/"]),
        capture_output=True,
        text=True,
        check=False,
    )
    # Any HTTP status means the stack took the connection; `000` means it did not.
    return probe.stdout.strip() not in ("", "000")


def _check(topo: Topology, proc: subprocess.Popen[str]) -> int:
    """Fetch / from the client namespace once, then stop the server: 0 if the page came
    back whole (200) and the server stopped cleanly."""
    out = subprocess.run(
        ns_exec(
            topo.client_ns,
            ["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", f"http://{topo.server_ip}/"],
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    body, _, status = out.stdout.rpartition("\n")
    print(
        f"check: GET http://{topo.server_ip}/ from {topo.client_ns}: {status or 'no answer'}"
        f" ({len(body.encode())} bytes){' ' + out.stderr.strip() if out.stderr else ''}",
        flush=True,
    )
    rc = _stop(proc)
    return 0 if status == "200" and rc in (0, -signal.SIGINT) else 1


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def _serve(bundle: Path, topo: Topology, check: bool) -> int:
    argv = ns_exec(
        topo.server_ns,
        [sys.executable, "-u", "-m", "ssdk", "serve", str(bundle)]
        + ["--backend", "af_packet", "--iface", topo.server_if, "--ip", topo.server_cidr],
    )
    print(f"starting: {shlex.join(argv)}", flush=True)
    # Own session: the terminal's Ctrl-C reaches only us, and we stop the server once,
    # in order, instead of both racing to shut down.
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ready = threading.Event()
    pump = threading.Thread(target=_pump, args=(proc, ready), daemon=True)
    pump.start()
    try:
        deadline = time.monotonic() + _READY_TIMEOUT
        while not (ready.is_set() and _answers(topo)):
            if proc.poll() is not None:
                print(f"server exited with {proc.returncode} before it answered", flush=True)
                return 1
            if time.monotonic() > deadline:
                print(f"server did not answer within {_READY_TIMEOUT:.0f} s", flush=True)
                return 1
            time.sleep(0.2)
        if check:
            return _check(topo, proc)
        sudo = "" if os.geteuid() == 0 else "sudo "
        url = f"http://{topo.server_ip}/"
        print(
            "\nssdk is serving on its own TCP/IP stack. From the client side, try:\n\n"
            f"    sudo ip netns exec {topo.client_ns} curl -v {url}\n\n"
            f"server: namespace {topo.server_ns}, interface {topo.server_if} "
            f"({topo.server_mac}), {topo.server_cidr}\n"
            f"client: namespace {topo.client_ns}, interface {topo.client_if} "
            f"({topo.client_mac}), {topo.client_cidr}\n"
            f"watch the wire: {sudo}ip netns exec {topo.client_ns} "
            f"tcpdump -ni {topo.client_if}\n\n"
            "Ctrl-C stops the server and removes the namespaces.",
            flush=True,
        )
        rc = proc.wait()
        print(f"server exited with {rc}", flush=True)
        return 0 if rc == 0 else 1
    except KeyboardInterrupt:
        print("\nstopping the server", flush=True)
        rc = _stop(proc)
        return 0 if rc in (0, -signal.SIGINT) else 1
    finally:
        _stop(proc)
        pump.join(2)  # the server's last words (its counters) before we return


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) clean up like Ctrl-C instead of leaving the
    namespaces and the server behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_demo(app_dir: Path, check: bool = False) -> int:
    """Build the app in ``app_dir`` and serve it on a private veth pair until Ctrl-C (with
    ``check``: until / has been fetched once from the other end).

    Returns a process exit code: 0 after a clean Ctrl-C, non-zero if the build, the
    topology or the server failed. Needs root for the namespaces and the raw socket.
    """
    from ssdk.core.buildtime.build import build_file  # the build pulls in the routing layer

    app_path = Path(app_dir).resolve() / "app.py"
    if not app_path.is_file():
        print(f"no app.py in {app_dir}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("ssdk demo needs root (network namespaces and a raw socket)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ssdk-demo-") as tmp:
        bundle = Path(tmp) / f"{app_path.parent.name}.ssdk"
        manifest = build_file(app_path, bundle)
        print(f"built {bundle} ({bundle.stat().st_size} bytes)", flush=True)
        for r in manifest.routes:
            if r.kind != "special":
                print(f"  {r.status} {r.path}  ({r.content_type}, {r.body_bytes} B)", flush=True)
        try:
            with _terminate_as_interrupt(), veth_pair("demo") as topo:
                return _serve(bundle, topo, check)
        except KeyboardInterrupt:
            return 0
