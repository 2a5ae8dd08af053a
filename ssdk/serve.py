"""`ssdk serve`: load a bundle (or build an app in memory), start the workers, watch them.

cli.serve -> open_target (the bundle, mapped once) -> Board (shared counters)
          -> share_setup (ssdk/share.py: AF_XDP: ssdk's XDP program on the interface
             and the solicited-node groups' MACs let in; AF_PACKET: the socket filter;
             nftables rules where the kernel holds an address too, or could answer
             for an IPv6 address it does not hold)
          -> Supervisor.start_all (ssdk/workers.py: one engine per worker, forked)
          -> watch in 100 ms steps until SIGINT/SIGTERM -> stop_all -> print counters
          -> the XDP program and the nftables rule removed

Every engine runs in a worker process, also when there is one: a worker that dies is
started again while the others keep serving, and the counters of all of them are in
shared memory, where `ssdk stats` reads them live.

SIGHUP swaps a new bundle in without a restart: when TARGET is a bundle file, it is read
again at its path (a link that `ssdk deploy` moved to a new release, say: the link is
resolved once, so later moves do not touch what serves) and published to every worker
by the generation swap; responses under way finish with the table they started with.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssdk.core.buildtime.build import Concrete, build, concrete_responses, load_app, open_target
from ssdk.core.bundle import Bundle, BundleError, read_bundle
from ssdk.core.cdefs import DEFAULT_MSS
from ssdk.core.runtime.counters import Board, total
from ssdk.core.runtime.engine import Engine, EngineConfig, EngineError
from ssdk.core.runtime.impair import Impairment
from ssdk.core.runtime.tls import TlsServer
from ssdk.revalidate import Revalidator
from ssdk.routing.app import App
from ssdk.serve_share import Sharing, guard_addresses, share_setup
from ssdk.share import (
    Address,
    Interface,
    ShareError,
    guarded,
    kernel_holds,
    multicast_joined,
    remove_stale_tables,
    solicited_macs,
)
from ssdk.workers import Supervisor, WorkerPlan, WorkerStartError

BACKENDS = ("af_packet", "af_xdp", "tap", "netmap")
GSO_MODES = ("auto", "on", "off")
GSO_BACKENDS = ("af_packet", "tap")  # those that can hand the kernel super-frames
SLICE_MS = 100
STATS_EVERY_S = 0.5


@dataclass
class ServeOptions:
    target: str
    backend: str
    iface: str
    ip: Interface  # the address the banner names: the first IPv4 --ip, else the first
    # Every address the engine serves, IPv4 and IPv6 (ip among them); empty: ip alone.
    addrs: tuple[Interface, ...] = ()
    port: int = 80
    max_conns: int = 4096
    stats_file: Path | None = None
    mss: int = DEFAULT_MSS
    queue: int = 0  # af_xdp, netmap: the queue (ring pair) of the first worker (worker i: +i)
    workers: int = 1
    xdp_mode: str = "auto"  # af_xdp: auto (native, else SKB), native or skb
    tcp: dict[str, Any] = field(default_factory=dict)  # EngineConfig overrides
    impair_rx: Impairment | None = None
    impair_tx: Impairment | None = None
    impair_seed: int | None = None  # None: a random one, printed
    gso: str = "auto"  # GSO_MODES: send super-frames for the kernel or NIC to cut
    # HTTPS on tls_port with this server's certificates (made once, before the workers
    # fork: they inherit it); None: no HTTPS.
    tls: TlsServer | None = None
    tls_port: int = 443

    def served(self) -> tuple[Interface, ...]:
        """Every address served: addrs, or ip alone."""
        return self.addrs or (self.ip,)

    def https_port(self) -> int:
        """The HTTPS port, 0 when there is no HTTPS."""
        return self.tls_port if self.tls is not None else 0

    def ports(self) -> list[int]:
        """Every TCP port served: HTTP's, then HTTPS's if any (the sharing filter's and
        the nftables guard's)."""
        return [self.port] + ([self.tls_port] if self.https_port() else [])


def host_port(ip: Address, port: int) -> str:
    """``ip:port``, an IPv6 address in brackets (RFC 3986 3.2.2)."""
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def gso_refusal(backend: str, impaired: bool) -> str | None:
    """Why --gso on cannot be had with this backend, or None when it can."""
    if backend not in GSO_BACKENDS:
        return (
            f"{backend} cannot send super-frames (segmentation offload is "
            f"{' and '.join(GSO_BACKENDS)} only); use --gso auto or off"
        )
    if impaired:
        return (
            "the impairment layer works frame by frame and cuts no super-frames; "
            "use --gso auto or off"
        )
    return None


def gso_decide(
    mode: str,
    backend: str,
    iface: str,
    impaired: bool,
    offloads: Callable[[str], dict[str, bool]],
) -> tuple[bool, str]:
    """Whether the engines send super-frames, and the mode as the banner and `ssdk
    stats` show it. auto: where the backend can and the interface segments (TSO or GSO
    on, as ethtool -k says; a TAP is ours, the kernel takes what we write whole); on:
    always (the caller refused it first where gso_refusal says so: with the interface's
    offloads off the kernel cuts in software); off: never."""
    if mode == "off":
        return False, "off"
    if mode == "on":
        return True, "on"
    if gso_refusal(backend, impaired) is not None:
        return False, "off (auto)"
    if backend == "tap":
        return True, "on (auto)"
    state = offloads(iface)
    if state.get("tso") or state.get("gso"):
        return True, "on (auto)"
    return False, "off (auto: no TSO/GSO on the interface)"


def pick_seed(seed: int | None) -> int:
    """The seed to use: the one given, or a fresh random one (printed, so a run replays)."""
    return secrets.randbits(63) if seed is None else seed


def write_stats(path: Path, stats: dict[str, int]) -> None:
    """Replace the stats file atomically, so a reader never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stats, sort_keys=True))
    os.replace(tmp, path)


def format_counters(stats: dict[str, int]) -> str:
    """The non-zero counters, one per line, for the exit report."""
    width = max(len(k) for k in stats)
    rows = [f"  {k:<{width}}  {v}" for k, v in stats.items() if v]
    return "\n".join(rows) if rows else "  (all zero)"


@contextlib.contextmanager
def signals_stop() -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM are noted in the yielded list, not raised; the
    loop checks it between slices. The old handlers come back on the way out."""
    stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        sys.stdout.flush()


def run_until_stopped(
    stop: list[int],
    run_slice: Callable[[int], object],
    counters: Callable[[], dict[str, int]],
    stats_file: Path | None,
) -> None:
    """Call run_slice(SLICE_MS) until a signal, keeping the stats file fresh. One loop
    for `ssdk serve` and `ssdk impair`."""
    next_stats = 0.0
    while not stop:
        run_slice(SLICE_MS)
        if stats_file and time.monotonic() >= next_stats:
            write_stats(stats_file, counters())
            next_stats = time.monotonic() + STATS_EVERY_S


def report_stop(stop: list[int], stats: dict[str, int], stats_file: Path | None) -> int:
    """Write the final counters to the stats file and print them; the exit code (0)."""
    if stats_file:
        write_stats(stats_file, stats)
    name = signal.Signals(stop[0]).name if stop else "request"
    print(f"ssdk: stopped by {name}; counters:\n{format_counters(stats)}", flush=True)
    return 0


def worker_plan(
    opts: ServeOptions,
    blob: object,
    seed: int | None,
    gso: bool = False,
    share: Sharing | None = None,
) -> WorkerPlan:
    """How worker i attaches: its queue (AF_XDP, netmap's ring pair), the shared fanout
    group (AF_PACKET);
    gso: the backend opens for super-frames (gso_decide); share: the XDP program to join
    or the socket filter to attach (share_setup)."""
    cfg = EngineConfig(
        ip=str(opts.ip.ip) if opts.ip.version == 4 else "",
        addrs=tuple(str(a) for a in opts.served()) if opts.addrs or opts.ip.version == 6 else (),
        port=opts.port,
        max_conns=opts.max_conns,
        gso=gso,
        tls_port=opts.https_port(),
        **opts.tcp,
    )
    fanout = (os.getpid() & 0x7FFF) | 0x8000 if opts.workers > 1 else 0
    share = share or Sharing()

    def setup(engine: Engine, i: int) -> None:
        if opts.tls is not None:
            engine.use_tls(opts.tls)
        if opts.backend == "af_packet":
            engine.attach_af_packet(opts.iface, fanout=fanout)
            if share.sock_filter:
                engine.socket_filter(share.sock_filter)
        elif opts.backend == "tap":
            engine.attach_tap(opts.iface)
        elif opts.backend == "netmap":
            engine.attach_netmap(opts.iface, ring=opts.queue + i)
        else:
            engine.attach_af_xdp(
                opts.iface, queue=opts.queue + i, mode=opts.xdp_mode, xdp_filter=share.xdp
            )
        if seed is not None:
            engine.impair(opts.impair_rx, opts.impair_tx, seed + i)

    def queue_of(i: int) -> int:
        return opts.queue + i if opts.backend in ("af_xdp", "netmap") else 0

    app_path = opts.target if not opts.target.endswith(".ssdk") else None
    return WorkerPlan(
        config=cfg,
        blob=blob,
        setup=setup,
        queue_of=queue_of,
        impaired=seed is not None,
        app_path=app_path,
    )


def open_app(opts: ServeOptions) -> tuple[Bundle, App | None, list[Concrete]]:
    """The bundle to serve; when the target is an app, the app and its rendered
    responses too (built here, in memory; each page rendered once)."""
    if opts.target.endswith(".ssdk"):
        return open_target(opts.target, mss=opts.mss), None, []
    app = load_app(opts.target)
    # Pages' Last-Modified: as `ssdk build` sets it ($SOURCE_DATE_EPOCH, else now).
    built = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    concretes = concrete_responses(app, build_time=built)
    manifest, blob = build(
        app, mss=opts.mss, source=opts.target, concretes=concretes, build_time=built
    )
    return Bundle(manifest, blob), app, concretes


def serve(
    opts: ServeOptions,
    offloads: Callable[[str], dict[str, bool]],
    addresses: Callable[[], Sequence[tuple[str, Interface]]] = lambda: [],
) -> int:
    """Serve until SIGINT or SIGTERM; the exit code. Call ssdk.tools.doctor.preflight(opts)
    first: it refuses what would fail here. offloads: as gso_decide's; addresses: the
    kernel's own addresses in this namespace, IPv4 and IPv6, (interface, address) each."""
    bundle, app, concretes = open_app(opts)
    seed = None
    if opts.impair_rx or opts.impair_tx:
        seed = pick_seed(opts.impair_seed)
        print(
            f"ssdk: impairing rx {opts.impair_rx or 'none'}, tx {opts.impair_tx or 'none'}, "
            f"seed {seed}",
            flush=True,
        )
    gso, gso_shown = gso_decide(opts.gso, opts.backend, opts.iface, seed is not None, offloads)
    info = {
        "target": opts.target,
        "iface": opts.iface,
        "backend": opts.backend,
        "address": host_port(opts.ip.ip, opts.port),
        "workers": opts.workers,
        "gso": gso_shown,
    }
    # A TAP is ssdk's own device: the kernel's address on it is the kernel's end's.
    kernel: dict[Address, str] = {}
    for a in opts.served() if opts.backend != "tap" else ():
        name = kernel_holds(a.ip, addresses)
        if name is not None:
            kernel[a.ip] = name
    reloads = _reloads_on_hup()  # SIGHUP: publish the bundle again (ssdk deploy)
    # The workers point into the bundle's mapping: they are stopped before it is closed.
    # The XDP program and the nftables table are undone last, whatever ends the serve.
    with signals_stop() as stop, contextlib.closing(bundle), contextlib.ExitStack() as undo:
        try:
            remove_stale_tables()
            share = share_setup(opts, kernel)
            if share.xdp is not None:
                undo.callback(share.xdp.detach)
                # The engine's AF_XDP sockets cannot join a group: held here instead.
                free = [a.ip for a in opts.served() if a.ip not in kernel]
                share.groups = undo.enter_context(
                    multicast_joined(opts.iface, solicited_macs(free))
                )
            guard = undo.enter_context(guarded(guard_addresses(opts, kernel), opts.ports()))
        except (ShareError, EngineError) as e:
            print(f"ssdk: error: {e}", file=sys.stderr, flush=True)
            return 1
        board = Board.create(opts.workers + 1, info)
        sup = Supervisor(
            worker_plan(opts, bundle.blob, seed, gso, share),
            board,
            opts.workers,
            log=lambda m: print(f"ssdk: {m}", flush=True),
        )
        run_dir = Path(tempfile.mkdtemp(prefix=f"ssdk-{os.getpid()}-"))
        reval = (
            Revalidator(app, concretes, opts.mss, run_dir, sup.publish, opts.target)
            if app is not None and (app.dynamics or any(r.revalidate for r in app.routes))
            else None
        )

        def step(ms: int) -> None:
            time.sleep(reval.wait_s(ms / 1000) if reval is not None else ms / 1000)
            sup.watch()
            if reloads:
                reloads.clear()
                reload(opts.target, sup.publish)
            if reval is not None:
                for path in sup.asked():
                    reval.refresh(path)
                reval.tick()

        try:
            try:
                mode = sup.start_all()
            except WorkerStartError as e:
                print(f"ssdk: error: {e}", file=sys.stderr, flush=True)
                return 1
            notes = share.lines(opts) + ([guard.describe()] if guard else [])
            print_banner(opts, bundle, mode, gso_shown, notes)
            run_until_stopped(stop, step, lambda: board_totals(board), opts.stats_file)
        finally:
            sup.stop_all()
            counters = board_totals(board)
            board.close(unlink=True)
            shutil.rmtree(run_dir, ignore_errors=True)
    return report_stop(stop, counters, opts.stats_file)


def _reloads_on_hup() -> list[int]:
    """A list that SIGHUP appends to; the supervisor's loop empties it and swaps."""
    hups: list[int] = []
    signal.signal(signal.SIGHUP, lambda signum, _frame: hups.append(signum))
    return hups


def reload(target: str, publish: Callable[[str], None]) -> bool:
    """Publish the bundle at `target` again (SIGHUP); False, with the reason printed,
    when the target is an app (rebuilt only by a restart) or the file is not a bundle."""
    if not target.endswith(".ssdk"):
        print(f"ssdk: SIGHUP: {target} is an app; restart to serve its changes", flush=True)
        return False
    path = os.path.realpath(target)
    try:
        read_bundle(path).close()  # checked here, so every worker gets a good one
    except (BundleError, OSError) as e:
        print(f"ssdk: SIGHUP: not swapped: {e}", flush=True)
        return False
    publish(path)
    print(f"ssdk: SIGHUP: swapping in {path}", flush=True)
    return True


def board_totals(board: Board) -> dict[str, int]:
    """Every worker's counters added up, the lives that ended included."""
    return total(board.read_all())


def print_banner(
    opts: ServeOptions, bundle: Bundle, mode: str, gso: str = "off", notes: list[str] | None = None
) -> None:
    routes = sum(1 for r in bundle.manifest.routes if r.kind != "special")
    backend = opts.backend
    if opts.backend == "af_xdp":
        last = opts.queue + opts.workers - 1
        backend += f" queues {opts.queue}-{last}" if last > opts.queue else f" queue {last}"
    if mode:
        backend += f", {mode}"
    workers = f", {opts.workers} workers" if opts.workers > 1 else ""
    print(
        f"ssdk: serving {routes} routes from {opts.target} on {opts.iface} ({backend}) "
        f"at {host_port(opts.ip.ip, opts.port)}{workers}, GSO {gso}",
        flush=True,
    )
    for note in notes or []:
        print(f"ssdk: {note}", flush=True)
    v6 = [a for a in opts.addrs if a.version == 6 and a != opts.ip]
    if v6:
        where = ", ".join(f"[{a.ip}]:{opts.port}" for a in v6)
        print(f"ssdk: IPv6 at {where} (docs/ipv6.md)", flush=True)
    if opts.tls is not None:
        print(f"ssdk: {https_line(opts)}", flush=True)
    print(f"ssdk: ready: http://{host_port(opts.ip.ip, opts.port)}/", flush=True)


def https_line(opts: ServeOptions) -> str:
    """The banner's line on HTTPS: where, with which certificates and ticket key."""
    tls = opts.tls
    assert tls is not None
    certs = ", ".join(str(c) for c, _ in tls.pairs)
    ticket = (
        f"session tickets with the key in {tls.ticket_key}"
        if tls.ticket_key is not None
        else "session tickets with a key of this serve's own"
    )
    many = "s, picked by SNI" if len(tls.pairs) > 1 else ""
    where = host_port(opts.ip.ip, opts.tls_port)
    return f"HTTPS at https://{where}/ (certificate{many}: {certs}; {ticket})"
