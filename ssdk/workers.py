"""Worker processes: one engine each, started, watched and restarted by the supervisor.

ssdk serve -> Supervisor.start_all -> fork -> worker_main (engine, backend, table, loop)
           -> Supervisor.watch (reap, restart, stats file) -> Supervisor.stop_all

Shared-nothing: a worker owns its engine, its NIC queue (AF_XDP) or its share of the
interface's flows (AF_PACKET fanout), and its connection pool. What workers share is
read-only or their own slot: the bundle's mapping, made once before the fork, and the
counter board (ssdk/core/runtime/counters.py), where each writes only its own slot. The last
slot of the board, "retired", holds the counters of worker lives that have ended, so
totals never go backwards when a worker is replaced.

A worker tells the supervisor it is ready (or why it could not start) by one JSON line
on a pipe; a worker that dies is started again in its slot, at once the first time and
with a growing delay when it keeps dying young, while the others keep serving. The
supervisor speaks to a worker through a second pipe: `publish` hands it a bundle file to
swap in (the C core's generation swap), which each worker maps itself; a worker started
later begins with the newest published bundle. The generation a worker serves is in its
board slot.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ssdk.core.buildtime.build import load_app
from ssdk.core.buildtime.errors import BuildError
from ssdk.core.bundle import Bundle, BundleError, read_bundle
from ssdk.core.runtime.app_calls import AppCalls
from ssdk.core.runtime.counters import Board
from ssdk.core.runtime.engine import Engine, EngineConfig, EngineError

SLICE_MS = 100
BUSY_SLICE_MS = 2
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
YOUNG_S = 2.0  # a worker that dies sooner than this after its start backs off
BACKOFF_MAX_S = 5.0
PR_SET_PDEATHSIG = 1


class WorkerStartError(RuntimeError):
    """A worker could not attach its backend or load the table."""


@dataclass
class WorkerPlan:
    """What every worker is started with; `setup` attaches the backend of worker i."""

    config: EngineConfig
    blob: Any  # the bundle's mapping, made before the fork and shared by all workers
    setup: Callable[[Engine, int], None]  # attach backend (+ impairment) for worker i
    queue_of: Callable[[int], int]
    impaired: bool
    latest: str | None = None  # the newest bundle file published, which restarts load
    app_path: str | None = None  # the app file: its dynamic routes run in each worker


@dataclass
class Worker:
    slot: int
    pid: int = 0
    started: float = 0.0
    restarts: int = 0
    retry_at: float = 0.0  # when a dead worker is due to be started again
    delay: float = 0.0
    mode: str = ""
    ctl: int = -1  # the supervisor's end of the worker's control pipe
    up: int = -1  # the supervisor's end of the worker's pipe upwards (ready, refresh)


def _die_with_parent() -> None:
    """Ask the kernel to send us SIGTERM when the supervisor dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


class ServedBundles:
    """The bundles a worker's engine serves from: published ones are mapped here and
    closed once the engine has retired their generation (the build side's tables are
    ssdk.core.buildtime.tables.TableBuilder)."""

    def __init__(self, engine: Engine, board: Board, slot: int) -> None:
        self.engine, self.board, self.slot = engine, board, slot
        self.open: dict[int, Bundle] = {}  # id(blob) -> bundle, for the mapped ones
        self.waiting: str | None = None  # a publish the engine had no room for yet

    def publish(self, path: str) -> None:
        self.waiting = path
        self.retry()

    def retry(self) -> None:
        """Load the waiting bundle if the engine has a free table slot now."""
        for blob in self.engine.reap_tables():
            bundle = self.open.pop(id(blob), None)
            if bundle is not None:
                bundle.close()
        if self.waiting is None:
            return
        try:
            bundle = read_bundle(self.waiting)
        except BundleError as e:
            print(f"ssdk: worker {self.slot}: {e}", file=sys.stderr, flush=True)
            self.waiting = None
            return
        try:
            gen = self.engine.load(bundle.blob)
        except EngineError:
            bundle.close()  # every slot busy with responses in flight: next slice
            return
        self.open[id(bundle.blob)] = bundle
        self.board.set_meta(self.slot, generation=gen)
        self.waiting = None


def _commands(fd: int) -> list[dict[str, Any]]:
    """The JSON lines waiting on the control pipe (non-blocking)."""
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def worker_main(plan: WorkerPlan, board: Board, w: Worker, ready_fd: int, ctl_fd: int) -> int:
    """The life of one worker, in the forked child; returns its exit code."""
    stop: list[int] = []
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda signum, _f: stop.append(signum))
    _die_with_parent()
    board.clear(w.slot)
    board.set_meta(
        w.slot,
        pid=os.getpid(),
        queue=plan.queue_of(w.slot),
        restarts=w.restarts,
        started_ns=time.time_ns(),
    )
    try:
        engine = Engine(plan.config)
        plan.setup(engine, w.slot)
        board.set_meta(w.slot, generation=engine.load(plan.blob))
        engine.share_stats(board.engine_area(w.slot))
        served = ServedBundles(engine, board, w.slot)
        if plan.latest:
            served.publish(plan.latest)
        calls = _app_calls(engine, plan.app_path)
    except (EngineError, ValueError, OSError, BuildError) as e:
        os.write(ready_fd, json.dumps({"error": str(e)}).encode() + b"\n")
        return 1
    os.write(ready_fd, json.dumps({"mode": engine.backend_mode}).encode() + b"\n")
    while not stop:
        # While handlers run in the pool, come back often to send what they finish.
        engine.run(BUSY_SLICE_MS if calls and calls.busy() else SLICE_MS)
        if calls:
            calls.drain()
            board.set_app(w.slot, calls.counters())
            for path in calls.refreshes():  # rendering is the supervisor's job
                os.write(ready_fd, json.dumps({"refresh": path}).encode() + b"\n")
        if plan.impaired:
            board.set_impair(w.slot, engine.impair_stats())
        for cmd in _commands(ctl_fd):
            if "publish" in cmd:
                served.publish(cmd["publish"])
        served.retry()
    if calls:
        calls.close()
    engine.close()
    for bundle in served.open.values():
        bundle.close()
    return 0


def _app_calls(engine: Engine, app_path: str | None) -> AppCalls | None:
    """Import the app in this worker (its own, fresh copy) and give its dynamic routes
    to the engine; None when it has none."""
    if not app_path:
        return None
    app = load_app(app_path)
    return AppCalls(engine, app) if app.dynamics else None


class Supervisor:
    """Starts N workers, restarts those that die, stops them all on request."""

    def __init__(
        self, plan: WorkerPlan, board: Board, count: int, log: Callable[[str], None]
    ) -> None:
        self.plan, self.board, self.log = plan, board, log
        self.workers = [Worker(slot=i) for i in range(count)]
        self.retired = count  # the board's slot for ended lives

    def _fork(self, w: Worker) -> dict[str, Any]:
        """Start worker w and wait for its ready line; {"mode": ...} or {"error": ...}."""
        r, wfd = os.pipe()
        ctl_r, ctl_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child never returns into the supervisor's code
            code = 1
            try:
                os.close(r)
                os.close(ctl_w)
                for other in self.workers:  # a sibling's pipes are not ours
                    for fd in (other.ctl, other.up):
                        if fd >= 0:
                            os.close(fd)
                code = worker_main(self.plan, self.board, w, wfd, ctl_r)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(wfd)
        os.close(ctl_r)
        if w.ctl >= 0:
            os.close(w.ctl)
        w.ctl = ctl_w
        w.pid, w.started = pid, time.monotonic()
        if w.up >= 0:
            os.close(w.up)
        w.up = r  # stays open: the worker asks for refreshes through it
        line = _read_line(r, READY_TIMEOUT_S)
        os.set_blocking(r, False)
        if not line:
            return {"error": f"no word from worker {w.slot} (pid {pid}) in {READY_TIMEOUT_S:.0f} s"}
        msg: dict[str, Any] = json.loads(line)
        return msg

    def start_all(self) -> str:
        """Start every worker; the backend's mode. Raises WorkerStartError (after
        stopping those that did start) if one cannot start."""
        mode = ""
        for w in self.workers:
            msg = self._fork(w)
            if "error" in msg:
                self._reap_one(w, block=True)
                self.stop_all()
                raise WorkerStartError(msg["error"])
            mode = w.mode = msg.get("mode", "")
        return mode

    def _reap_one(self, w: Worker, block: bool) -> int | None:
        """Wait for w's exit (or only look, block=False); its wait status, or None."""
        if not w.pid:
            return None
        try:
            pid, status = os.waitpid(w.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = w.pid, 0
        if pid == 0:
            return None
        w.pid = 0
        self._retire(w.slot)
        return status

    def _retire(self, slot: int) -> None:
        """Move a finished life's counters into the retired slot."""
        self.board.accumulate(self.retired, slot)
        self.board.clear(slot)

    def asked(self) -> list[str]:
        """Paths workers asked to have rendered again (app.refresh), since last asked."""
        out: list[str] = []
        for w in self.workers:
            if w.up < 0:
                continue
            try:
                data = os.read(w.up, 65536)
            except BlockingIOError:
                continue
            for line in data.splitlines():
                with contextlib.suppress(ValueError, TypeError):
                    out.append(str(json.loads(line)["refresh"]))
        return out

    def watch(self) -> None:
        """One supervision step: reap dead workers and start those that are due."""
        now = time.monotonic()
        for w in self.workers:
            old = w.pid
            status = self._reap_one(w, block=False)
            if status is not None:
                young = now - w.started < YOUNG_S
                w.delay = min(BACKOFF_MAX_S, max(0.25, w.delay * 2)) if young else 0.0
                w.retry_at = now + w.delay
                when = f" in {w.delay:.2g} s" if w.delay else ""
                self.log(
                    f"worker {w.slot} (pid {old}) {_describe(status)}; starting it again{when}"
                )
            if not w.pid and now >= w.retry_at:
                w.restarts += 1
                msg = self._fork(w)
                if "error" in msg:
                    self._reap_one(w, block=True)
                    w.delay = min(BACKOFF_MAX_S, max(0.25, w.delay * 2))
                    w.retry_at = time.monotonic() + w.delay
                    self.log(f"worker {w.slot} did not start: {msg['error']}")
                else:
                    self.log(f"worker {w.slot} is back as pid {w.pid}")

    def publish(self, path: str) -> None:
        """Have every worker swap in the bundle file at `path`; workers started later
        load it too. Its generation shows in each worker's board slot."""
        self.plan.latest = path
        line = json.dumps({"publish": path}).encode() + b"\n"
        for w in self.workers:
            if w.pid and w.ctl >= 0:
                try:
                    os.write(w.ctl, line)
                except BrokenPipeError:
                    pass  # it is dying; watch() starts it again with `latest`

    def restart_all(self, path: str) -> None:
        """Replace every worker by a fresh one that serves the bundle at `path` (for new
        application code: a swap keeps the old code, a new process imports the new)."""
        self.plan.latest = path
        for w in self.workers:
            if w.pid:
                _signal(w.pid, signal.SIGTERM)
                self._reap_one(w, block=True)
            w.restarts += 1
            msg = self._fork(w)
            if "error" in msg:
                self._reap_one(w, block=True)
                w.retry_at = time.monotonic() + BACKOFF_MAX_S
                self.log(f"worker {w.slot} did not start: {msg['error']}")

    def stop_all(self) -> None:
        """SIGTERM every worker, wait for it, SIGKILL those that do not go."""
        for w in self.workers:
            if w.pid:
                _signal(w.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for w in self.workers:
            while w.pid and self._reap_one(w, block=False) is None:
                if time.monotonic() > deadline:
                    _signal(w.pid, signal.SIGKILL)
                    self._reap_one(w, block=True)
                    break
                time.sleep(0.02)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _read_line(fd: int, timeout: float) -> bytes:
    """Bytes up to the first newline from fd, or what came before EOF or the timeout."""
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0]
