"""`ssdk dev`: serve an app on this machine, rebuild it on every save, swap it in.

cli.dev -> rebuild (a `ssdk build` subprocess, into .ssdk/ in the project)
        -> a TAP device with a /30 from 198.19.0.0/16 (ssdk/tools/netns.py: tap_link)
        -> Supervisor with one worker on the TAP (ssdk/workers.py)
        -> watch the project (ChangeFeed: watchfiles in a thread): content -> rebuild +
           publish (hot swap, open connections finish with what they started); Python
           -> rebuild + restart the worker (its code changed); a failed build -> the
           error, the last good build keeps serving
        (no TAP allowed -> ssdk/tools/kernel_serve.py: the same bundle, the same C parser and
         table, through the kernel's sockets on 127.0.0.1; each rebuild loaded in place)
        --tls -> dev_certificate: a self-signed certificate in .ssdk/tls/, made once and
        reused while valid for the addresses served (tls_selfsigned_write), its trust line
        printed; HTTPS beside HTTP (the worker's TLS server, or Python's ssl on kernel
        sockets)

Builds run in a fresh interpreter each time, so an edited module is imported anew and a
broken one cannot take the dev server down with it.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import queue
import ssl
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssdk.core.runtime.counters import Board
from ssdk.core.runtime.dynamic import Dispatcher
from ssdk.core.runtime.tls import TlsError, TlsServer, write_selfsigned
from ssdk.project import NOT_SOURCE_DIRS, NOT_SOURCE_SUFFIXES
from ssdk.serve import ServeOptions, gso_decide, signals_stop, worker_plan
from ssdk.tools.netns import NetnsError, tap_link
from ssdk.tools.rtnl import ethtool_offloads
from ssdk.workers import Supervisor, WorkerStartError

OUT_DIR = ".ssdk"
# Never watched: build output, environments, VCS and tool caches.
IGNORED_DIRS = NOT_SOURCE_DIRS | {OUT_DIR}
IGNORED_SUFFIXES = NOT_SOURCE_SUFFIXES
DEV_NET = ipaddress.IPv4Network("198.19.0.0/16")  # inside the 198.18.0.0/15 benchmark range
DEBOUNCE_MS = 150
KEEP_BUILDS = 4


class DevError(RuntimeError):
    """ssdk dev cannot start (no app, no network of its own)."""


class GsoRefused(DevError):
    """--gso on where ssdk dev cannot send super-frames (no TAP device): a bad option."""


class TlsPortClash(DevError):
    """The HTTPS port is HTTP's too, once both are known (they depend on the TAP): a bad
    option."""


TLS_DIR = "tls"  # below OUT_DIR: dev's certificate, its key and what it was made for
DEV_CERT_DAYS = 90
DEV_CERT_RENEW_S = 7 * 86400  # made again when fewer days than this are left
TAP_TLS_PORT = 443
KERNEL_TLS_PORT = 8443


@dataclass
class DevTls:
    """HTTPS under ssdk dev: the certificates given (loaded, so a bad one was refused at
    the command line), or none for dev's own; the port (None: 443 on the TAP device,
    8443 through kernel sockets); the session-ticket key file, if any."""

    port: int | None = None
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    server: TlsServer | None = None
    ticket_key: Path | None = None


@dataclass
class DevCert:
    """dev's own certificate: where it is, the names it carries, until when, whether this
    run made it (else it was reused)."""

    cert: Path
    key: Path
    names: list[str]
    not_after: int
    made: bool
    net: str | None = None  # the TAP's /30 it was made for, offered again next time

    def trust_line(self, url: str) -> str:
        """How to trust it, in one line."""
        der = ssl.PEM_cert_to_DER_cert(self.cert.read_text())
        fp = hashlib.sha256(der).hexdigest().upper()
        finger = ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))
        until = datetime.datetime.fromtimestamp(self.not_after, datetime.timezone.utc)
        return (
            f"HTTPS with a self-signed certificate ({'made now' if self.made else 'reused'}, "
            f"valid until {until:%Y-%m-%d} for {', '.join(self.names)}): trust it with "
            f"curl --cacert {self.cert} {url}; in a browser, import {self.cert} as a "
            f"trusted certificate or accept it once (SHA-256 {finger})"
        )


def dev_cert_files(state: Path) -> tuple[Path, Path, Path]:
    """dev's certificate, its key and its record (names, expiry, the TAP's /30)."""
    folder = state / TLS_DIR
    return folder / "dev.crt", folder / "dev.key", folder / "dev.json"


def _cert_record(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_net(state: Path) -> ipaddress.IPv4Network | None:
    """The TAP's /30 that dev's certificate names, if any: serving there again keeps
    the certificate valid for the address."""
    net = _cert_record(dev_cert_files(state)[2]).get("net")
    try:
        return ipaddress.IPv4Network(net) if isinstance(net, str) else None
    except ValueError:
        return None


def dev_certificate(
    state: Path, names: list[str], net: str | None = None, now: float | None = None
) -> DevCert:
    """dev's own certificate for ``names``, in state/tls/: the one made before while it
    carries every name and has DEV_CERT_RENEW_S left at ``now``, else a new one
    (DEV_CERT_DAYS). Raises DevError when it cannot be written."""
    cert, key, record = dev_cert_files(state)
    now = time.time() if now is None else now
    old = _cert_record(record)
    had, until = old.get("names"), old.get("not_after")
    if (
        cert.is_file()
        and key.is_file()
        and isinstance(had, list)
        and all(isinstance(n, str) for n in had)
        and set(names) <= set(had)
        and isinstance(until, int)
        and until - now > DEV_CERT_RENEW_S
    ):
        return DevCert(cert, key, list(had), until, False, net)
    cert.parent.mkdir(parents=True, exist_ok=True)
    # No record while the files are rewritten: a run stopped half-way is made again.
    record.unlink(missing_ok=True)
    made_at = time.time()
    try:
        write_selfsigned(cert, key, names, DEV_CERT_DAYS)
    except TlsError as e:
        raise DevError(f"cannot make the development certificate: {e}") from None
    not_after = int(made_at) + DEV_CERT_DAYS * 86400
    record.write_text(json.dumps({"names": names, "not_after": not_after, "net": net}) + "\n")
    return DevCert(cert, key, names, not_after, True, net)


def watched(change: object, path: str) -> bool:
    """The watch filter: the project's own files, never its output or tool folders."""
    parts = Path(path).parts
    return not any(p in IGNORED_DIRS for p in parts) and not path.endswith(IGNORED_SUFFIXES)


@dataclass
class Builds:
    """Numbered bundle files in the project's .ssdk/ folder; the newest few are kept
    (a worker may still be serving from an older one while it drains)."""

    app: Path
    out: Path
    n: int = 0
    made: list[Path] = field(default_factory=list)

    def build(self) -> tuple[Path | None, str, float]:
        """Build the app into a new file: (path or None, error text, seconds)."""
        self.out.mkdir(exist_ok=True)
        self.n += 1
        path = self.out / f"dev-{os.getpid()}-{self.n}.ssdk"
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "ssdk", "build", str(self.app), "-o", str(path)],
            cwd=self.app.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.monotonic() - t0
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            err = lines[-1].removeprefix("ssdk: build failed: ") if lines else ""
            return None, err or f"ssdk build exited {proc.returncode}", took
        self.made.append(path)
        while len(self.made) > KEEP_BUILDS:
            self.made.pop(0).unlink(missing_ok=True)
        return path, "", took

    def remove_all(self) -> None:
        for p in self.made:
            p.unlink(missing_ok=True)


def pick_subnet(prefer: ipaddress.IPv4Network | None = None) -> ipaddress.IPv4Network:
    """A /30 of DEV_NET that no interface of this machine uses yet: ``prefer`` when it
    is one and free (the one dev's certificate names)."""
    used: list[ipaddress.IPv4Network] = []
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=False
        ).stdout
        for link in json.loads(out or "[]"):
            for a in link.get("addr_info", []):
                used.append(ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network)
    except (OSError, ValueError, KeyError):
        pass
    if (
        prefer is not None
        and prefer.prefixlen == 30
        and prefer.subnet_of(DEV_NET)
        and not any(prefer.overlaps(u) for u in used)
    ):
        return prefer
    subnets = list(DEV_NET.subnets(new_prefix=30))
    start = os.getpid() % len(subnets)
    for i in range(len(subnets)):
        net = subnets[(start + i) % len(subnets)]
        if not any(net.overlaps(u) for u in used):
            return net
    raise DevError(f"no free /30 left in {DEV_NET}")


def changed_python(changes: set[tuple[object, str]]) -> bool:
    return any(path.endswith(".py") for _, path in changes)


def run_dev(
    app: Path,
    port: int | None,
    gso: str = "auto",
    tcp: dict[str, Any] | None = None,
    tls: DevTls | None = None,
) -> int:
    """Serve `app` on this machine and follow its edits until Ctrl-C; the exit code.
    On a TAP device over the user-space stack where this process may make one; through
    the kernel's sockets on 127.0.0.1 otherwise (said in one line). gso: as serve's
    --gso; "on" raises GsoRefused where there is no TAP device. tcp: EngineConfig
    overrides for the stack (serve's: SYN-ACK retries, the timeouts), unused by kernel
    sockets. tls: HTTPS too, with the certificates given or dev's own (dev_certificate);
    TlsPortClash when its port is HTTP's."""
    tcp = dict(tcp or {})
    app = app.resolve()
    builds = Builds(app, app.parent / OUT_DIR)
    first, err, took = builds.build()
    if first is None:
        raise DevError(f"the first build failed: {err}")
    print(f"ssdk dev: built {app.name} in {took:.2f} s", flush=True)
    with ExitStack() as stack, signals_stop() as stop:
        stack.callback(builds.remove_all)
        feed = stack.enter_context(ChangeFeed(app.parent, stop))
        own_cert = tls is not None and tls.server is None
        net = pick_subnet(recorded_net(builds.out) if own_cert else None)
        tap = f"ssdk{os.getpid() % 10_000_000}"
        try:
            stack.enter_context(tap_link(tap, f"{net[1]}/{net.prefixlen}"))
        except NetnsError as e:
            why = (e.stderr or str(e)).splitlines()[-1] if (e.stderr or str(e)) else "refused"
            if gso == "on":
                raise GsoRefused(
                    f"no TAP device ({why}), and kernel sockets take no super-frames; "
                    "use --gso auto or off"
                ) from None
            kport = port or KERNEL_PORT
            https = _https_port(tls, kport, KERNEL_TLS_PORT)
            print(
                f"ssdk dev: no TAP device ({why}; it needs root or CAP_NET_ADMIN): "
                f"serving through the kernel's sockets at http://127.0.0.1:{kport}/ "
                "instead",
                flush=True,
            )
            context = None
            if tls is not None:
                context = _kernel_tls(tls, builds.out, f"https://127.0.0.1:{https}/")
            _serve_kernel(app, first, builds, feed, stop, kport, tcp, (https, context))
        else:
            hport = port or 80
            https = _https_port(tls, hport, TAP_TLS_PORT)
            _serve_tap(app, first, builds, feed, stop, tap, net, hport, gso, tcp, (https, tls))
    print("ssdk dev: stopped", flush=True)
    return 0


def _https_port(tls: DevTls | None, http: int, default: int) -> int:
    """The HTTPS port (0: none); TlsPortClash when it is HTTP's."""
    if tls is None:
        return 0
    https = tls.port or default
    if https == http:
        raise TlsPortClash(
            f"{https} is HTTP's port too: give HTTPS a port of its own with --tls-port"
        )
    return https


DEV_NAMES = ["localhost", "127.0.0.1", "::1"]  # dev's certificate names these always


def _own_cert(state: Path, ssdk_ip: str | None, net: str | None, url: str) -> DevCert:
    """dev's certificate for this machine's names and ssdk_ip; its trust line printed."""
    names = DEV_NAMES + ([ssdk_ip] if ssdk_ip else [])
    cert = dev_certificate(state, names, net)
    print(f"ssdk dev: {cert.trust_line(url)}", flush=True)
    return cert


def _kernel_tls(tls: DevTls, state: Path, url: str) -> ssl.SSLContext:
    """Python's ssl for HTTPS on kernel sockets: the first certificate given, or dev's
    own (the TLS layer's handshake runs on the user-space stack only)."""
    if tls.pairs:
        cert, key = tls.pairs[0]
        notes = []
        if len(tls.pairs) > 1:
            notes.append(f"only {cert} is served through kernel sockets")
        if tls.ticket_key is not None:
            notes.append(f"{tls.ticket_key} is not used there")
        more = f" ({'; '.join(notes)})" if notes else ""
        print(f"ssdk dev: HTTPS at {url}{more}", flush=True)
    else:
        own = _own_cert(state, None, None, url)
        cert, key = own.cert, own.key
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise DevError(f"{cert}, {key}: {e}") from None
    return context


KERNEL_PORT = 8000


class ChangeFeed:
    """The project's file changes, from a watcher thread: debounced sets of paths."""

    def __init__(self, root: Path, stop: list[int]) -> None:
        self.root, self.stop = root, stop
        self.done: list[int] = []
        self.queue: queue.Queue[set[tuple[object, str]]] = queue.Queue()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ChangeFeed:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.append(1)  # the watcher's own stop, whatever ended the serving
        self.thread.join(2)

    def _watch(self) -> None:
        import watchfiles

        for changes in watchfiles.watch(
            self.root,
            watch_filter=watched,
            debounce=DEBOUNCE_MS,
            step=50,
            rust_timeout=100,
            yield_on_timeout=True,
            stop_event=_StopFlag(self.stop, self.done),
            raise_interrupt=False,
        ):
            if changes:
                self.queue.put(set(changes))

    def take(self) -> set[tuple[object, str]]:
        """Every change since the last call (empty if none)."""
        out: set[tuple[object, str]] = set()
        while True:
            try:
                out |= self.queue.get_nowait()
            except queue.Empty:
                return out


def _serve_tap(
    app: Path,
    first: Path,
    builds: Builds,
    feed: ChangeFeed,
    stop: list[int],
    tap: str,
    net: ipaddress.IPv4Network,
    port: int,
    gso_mode: str = "auto",
    tcp: dict[str, Any] | None = None,
    https: tuple[int, DevTls | None] = (0, None),
) -> None:
    """One worker on the TAP device; content swapped in, code restarts the worker.
    https: the HTTPS port and its settings (0, None: no HTTPS)."""
    from ssdk.core.bundle import read_bundle

    host_ip, ssdk_ip = net[1], net[2]
    with ExitStack() as stack:
        bundle = read_bundle(first)
        stack.callback(bundle.close)
        opts = ServeOptions(
            target=str(first),
            backend="tap",
            iface=tap,
            ip=ipaddress.IPv4Interface(f"{ssdk_ip}/{net.prefixlen}"),
            port=port,
            gso=gso_mode,
            tcp=dict(tcp or {}),
        )
        tls_port, tls = https
        if tls is not None:
            where = f"https://{ssdk_ip}/" if tls_port == 443 else f"https://{ssdk_ip}:{tls_port}/"
            server = tls.server
            if server is None:
                own = _own_cert(app.parent / OUT_DIR, str(ssdk_ip), str(net), where)
                try:
                    server = TlsServer([(own.cert, own.key)], tls.ticket_key)
                except TlsError as e:
                    raise DevError(str(e)) from None
                stack.callback(server.close)  # after the worker has stopped (below)
            else:
                print(f"ssdk dev: HTTPS at {where}", flush=True)
            opts.tls, opts.tls_port = server, tls_port
        gso, gso_shown = gso_decide(gso_mode, "tap", tap, False, ethtool_offloads)
        board = Board.create(
            2,
            {
                "target": str(app),
                "iface": tap,
                "backend": "tap",
                "address": f"{ssdk_ip}:{port}",
                "workers": 1,
                "gso": gso_shown,
            },
        )
        stack.callback(board.close, unlink=True)
        plan = worker_plan(opts, bundle.blob, None, gso)
        plan.app_path = str(app)  # its dynamic routes run in the worker, fresh each restart
        sup = Supervisor(plan, board, 1, log=lambda m: print(f"ssdk dev: {m}", flush=True))
        stack.callback(sup.stop_all)
        try:
            sup.start_all()
        except WorkerStartError as e:
            raise DevError(str(e)) from None
        url = f"http://{ssdk_ip}/" if port == 80 else f"http://{ssdk_ip}:{port}/"
        print(
            f"ssdk dev: serving {app.name} at {url} (TAP {tap}, GSO {gso_shown}, this "
            f"machine is {host_ip}); watching {app.parent}",
            flush=True,
        )
        print(f"ssdk dev: ready: {url}", flush=True)
        while not stop:
            time.sleep(0.1)
            changes = feed.take()
            if changes:
                path = _rebuild(changes, builds)
                if path is None:
                    pass
                elif changed_python(changes):
                    sup.restart_all(str(path))
                    print("ssdk dev: worker restarted", flush=True)
                else:
                    sup.publish(str(path))
                    print("ssdk dev: swapped in", flush=True)
            sup.watch()


def _serve_kernel(
    app: Path,
    first: Path,
    builds: Builds,
    feed: ChangeFeed,
    stop: list[int],
    port: int,
    tcp: dict[str, Any] | None = None,
    https: tuple[int, ssl.SSLContext | None] = (0, None),
) -> None:
    """The same bundle through kernel sockets; every rebuild is loaded in place, and the
    app's dynamic routes imported again when its Python changes. https: the HTTPS port
    and Python's ssl context for it (0, None: no HTTPS)."""
    from ssdk.core.bundle import Bundle, read_bundle
    from ssdk.core.runtime.app_calls import register_routes
    from ssdk.core.runtime.engine import Engine, EngineConfig
    from ssdk.tools.kernel_serve import run_kernel_server

    engine = Engine(EngineConfig(ip="127.0.0.1", port=port, **(tcp or {})))
    open_bundles: dict[int, Bundle] = {}
    with ExitStack() as stack:
        # Exits run in reverse: the engine lets go of the blobs before they are closed.
        def close_all() -> None:
            for b in open_bundles.values():
                b.close()

        stack.callback(close_all)
        stack.callback(engine.close)

        def load(path: Path) -> None:
            bundle = read_bundle(path)
            open_bundles[id(bundle.blob)] = bundle
            engine.load(bundle.blob)
            for blob in engine.reap_tables():
                open_bundles.pop(id(blob)).close()

        def app_routes() -> Dispatcher | None:
            """The app's dynamic routes, told to the engine, which decides (as the
            worker's does) which requests go to them."""
            found = _dispatcher(app)
            register_routes(engine, [r for r, _ in found.routes] if found else [])
            return found

        load(first)
        routes: list[Dispatcher | None] = [app_routes()]

        def tick() -> bool:
            changes = feed.take()
            if changes:
                path = _rebuild(changes, builds)
                if path is not None:
                    load(path)
                    if changed_python(changes):  # a build that passed imports it fine
                        routes[0] = app_routes()
                    print("ssdk dev: loaded", flush=True)
            return not stop

        try:
            run_kernel_server(
                engine,
                "127.0.0.1",
                port,
                tick,
                lambda: print(f"ssdk dev: ready: http://127.0.0.1:{port}/", flush=True),
                lambda: routes[0],
                (https[0], https[1]) if https[1] is not None else None,
            )
        except OSError as e:
            where = f"{port}" + (f" or {https[0]}" if https[1] is not None else "")
            raise DevError(f"cannot listen on 127.0.0.1:{where}: {e.strerror}") from None


def _dispatcher(app: Path) -> Dispatcher | None:
    """The app's dynamic routes, from a fresh import of its code; None if it has none."""
    from ssdk.core.buildtime.build import load_app

    loaded = load_app(str(app))
    return Dispatcher.for_app(loaded) if loaded.dynamics else None


class _StopFlag:
    """What watchfiles polls to end its loop: set once a signal arrived."""

    def __init__(self, *flags: list[int]) -> None:
        self.flags = flags

    def is_set(self) -> bool:
        return any(self.flags)


def _rebuild(changes: set[tuple[object, str]], builds: Builds) -> Path | None:
    """Build after a change; the new bundle, or None (the error is printed)."""
    # Editors' and sed's short-lived temporary files are not worth naming.
    names = sorted({Path(p).name for _, p in changes if Path(p).exists()}) or ["a file"]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    path, err, took = builds.build()
    if path is None:
        print(
            f"ssdk dev: {shown} changed; build failed, still serving the last good build:\n  {err}",
            flush=True,
        )
        return None
    print(f"ssdk dev: {shown} changed; rebuilt in {took:.2f} s", flush=True)
    return path
