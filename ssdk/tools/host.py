"""One host of a fleet over SSH (asyncssh): its state, its lock, its service, the
uploads and installs of a release, the health check; ssdk/tools/deploy.py runs them
across the fleet.

On each host, below `root`:

    releases/ID/        app.tar (the sources), app.ssdk, release.json, app/ (unpacked),
                        venv -> ../../venvs/W
    venvs/W/            the virtual environment of ssdk's wheel W (its sha256), made
                        with --system-site-packages: the wheel is installed with
                        --no-index --no-deps, and its dependencies (cffi, msgspec, typer,
                        watchfiles) come from the host's Python, so a host needs no
                        package index; the install is checked by importing ssdk there
    current -> releases/ID      what the service runs
    history             one line per activation: time, release id
    bin/serve           the `ssdk serve` command line of this host (the service's)
    tls/                HTTPS: the certificates (.crt), keys (.key, mode 0600) and the
                        fleet's ticket key (.ticket, 0600), each named by its sha256, so
                        a file is sent once and a changed one is a new name in bin/serve;
                        kept across releases (they are the host's, as its port is)
    bin/supervise       service = "process": restarts bin/serve when it fails
    run/                pid files and serve.log (service = "process")
    deploy.lock         taken atomically (O_EXCL) by a deploy; holds owner and time
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shlex
import socket
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    # asyncssh names cryptography's DSA types when imported, and cryptography 51 warns of
    # each: ten lines on stderr before every deploy or status, about a key type ssdk
    # never offers. Only those warnings, and only at the import, are silenced.
    warnings.filterwarnings(
        "ignore", message="DSA is deprecated", category=CryptographyDeprecationWarning
    )
    import asyncssh

from ssdk.tools.fleet import Fleet, Host
from ssdk.tools.release import Release

CONNECT_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0
STOP_TENTHS = int(STOP_TIMEOUT_S * 10)  # the stop loop's steps of 0.1 s
START_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 2.0

T = TypeVar("T")


class DeployError(RuntimeError):
    """A deploy (or rollback, or a look at the fleet) failed; the message is one line
    and names the host."""


def _q(s: str) -> str:
    return shlex.quote(s)


# Run on a host by its own Python (stdlib only): the state of its root, as JSON.
INVENTORY = r"""
import json, os, subprocess, sys
root, service, unit = sys.argv[1:4]
def alive(path):
    try:
        pid = int(open(path).read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return 0
out = {"exists": os.path.isdir(root), "releases": {}, "venvs": [], "history": [],
       "current": None, "lock": None, "pid": 0, "tls": [], "serve_script": None}
cur = os.path.join(root, "current")
if os.path.islink(cur):
    out["current"] = os.path.basename(os.readlink(cur).rstrip("/"))
rel = os.path.join(root, "releases")
for name in sorted(os.listdir(rel)) if os.path.isdir(rel) else []:
    if name.startswith("."):  # an upload under way, or one cut short
        continue
    try:
        with open(os.path.join(rel, name, "release.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        continue
    out["releases"][name] = {k: meta.get(k) for k in ("id", "code", "created", "files",
                             "ssdk_version", "routes", "wheel", "serve")}
ven = os.path.join(root, "venvs")
for name in sorted(os.listdir(ven)) if os.path.isdir(ven) else []:
    if not name.startswith(".") and os.path.isfile(os.path.join(ven, name, "ok")):
        out["venvs"].append(name)
try:
    with open(os.path.join(root, "history")) as f:
        out["history"] = [line.split()[1] for line in f if len(line.split()) > 1]
except OSError:
    pass
try:
    with open(os.path.join(root, "deploy.lock")) as f:
        out["lock"] = f.read().strip()
except OSError:
    pass
try:
    with open(os.path.join(root, "bin", "serve")) as f:
        out["serve_script"] = f.read()
except OSError:
    pass
tls = os.path.join(root, "tls")
if os.path.isdir(tls):
    out["tls"] = sorted(n for n in os.listdir(tls) if not n.startswith("."))
if service == "systemd":
    p = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", unit],
                       capture_output=True, text=True)
    out["pid"] = int(p.stdout.strip() or 0) if p.returncode == 0 else 0
else:
    if alive(os.path.join(root, "run", "supervise.pid")):
        out["pid"] = alive(os.path.join(root, "run", "ssdk.pid"))
print(json.dumps(out))
"""

# service = "process": what systemd's Restart=on-failure does, for hosts without it.
SUPERVISE = """#!/bin/sh
# Written by `ssdk deploy` (service = "process"): runs {root}/bin/serve and starts it
# again 1 s after it fails, as systemd's Restart=on-failure would. SIGTERM stops both.
run={root}/run
mkdir -p "$run"
echo $$ > "$run/supervise.pid"
stopping=
child=
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
    {root}/bin/serve >>"$run/serve.log" 2>&1 &
    child=$!
    echo "$child" > "$run/ssdk.pid"
    # A trapped signal ends `wait` early: wait until the child has really gone.
    rc=0
    while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
    [ -n "$stopping" ] && break
    [ "$rc" -eq 0 ] && break
    echo "supervise: ssdk serve exited with $rc at $(date -u +%FT%TZ); again in 1 s" \\
        >>"$run/serve.log"
    sleep 1
done
rm -f "$run/ssdk.pid" "$run/supervise.pid"
"""


@dataclass(frozen=True)
class TlsFile:
    """A TLS file of a host: here, and its name in the host's tls/ folder."""

    local: Path
    name: str  # sha256 (16 hex digits) . crt, key or ticket
    mode: str


def _tls_wanted(host: Host) -> list[TlsFile]:
    """Every TLS file of the host in `ssdk serve`'s order: each pair, then the ticket key."""
    from ssdk.tools.release import file_hash

    wanted = [x for pair in host.tls for x in ((pair[0], "crt", "644"), (pair[1], "key", "600"))]
    if host.tls and host.tls_ticket_key is not None:
        wanted.append((host.tls_ticket_key, "ticket", "600"))
    return [TlsFile(p, f"{file_hash(p)[:16]}.{kind}", mode) for p, kind, mode in wanted]


def tls_files(host: Host) -> list[TlsFile]:
    """The files the host's tls/ folder must hold, once each (by name)."""
    seen: dict[str, TlsFile] = {}
    for f in _tls_wanted(host):
        seen.setdefault(f.name, f)
    return list(seen.values())


def tls_args(host: Host) -> list[str]:
    """`ssdk serve`'s HTTPS options for the files in the host's tls/ folder."""
    if not host.tls:
        return []
    paths = [f"{host.root}/tls/{f.name}" for f in _tls_wanted(host)]
    args: list[str] = []
    for n in range(len(host.tls)):
        args += ["--tls-cert", paths[2 * n], "--tls-key", paths[2 * n + 1]]
    args += ["--tls-port", str(host.tls_port)]
    if host.tls_ticket_key is not None:
        args += ["--tls-ticket-key", paths[-1]]
    return args


def serve_line(script: str | None) -> str | None:
    """The command a bin/serve runs (its exec line), to compare two of them."""
    for line in (script or "").splitlines():
        if line.startswith("exec "):
            return line
    return None


def serve_script(host: Host, release_id: str, serve_args: Iterable[str]) -> str:
    """bin/serve: the host's `ssdk serve` of what `current` names. SIGHUP makes it read
    current/app.ssdk again (a content-only deploy moved the link); a restart runs the
    code current/venv holds. The command itself (its exec line) names no release: it
    changes only with the host's keys, its TLS files and the release's serve options,
    and a change of it needs a restart."""
    root = host.root
    argv = [
        f"{root}/current/venv/bin/python",
        "-m",
        "ssdk",
        "serve",
        f"{root}/current/app.ssdk",
        "--backend",
        host.backend,
        "--iface",
        host.iface,
        "--ip",
        str(host.ip),
        "--port",
        str(host.port),
        "--workers",
        str(host.workers),
        *tls_args(host),
        *serve_args,
    ]
    return (
        "#!/bin/sh\n"
        f"# Written by `ssdk deploy` for host {host.name} (release {release_id}); the\n"
        "# service runs it. It serves what the link `current` names.\n"
        f"cd {_q(root)}/current || exit 1\n"
        f"exec {' '.join(_q(a) for a in argv)}\n"
    )


def systemd_unit(host: Host) -> str:
    """The unit of service = "systemd". The capabilities are those of `ssdk serve`:
    raw frames (CAP_NET_RAW), an XDP program and its socket (CAP_NET_ADMIN, CAP_BPF),
    and the UMEM pinned in memory (LimitMEMLOCK, or CAP_IPC_LOCK); ExecReload is the
    content-only swap."""
    caps = "CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_IPC_LOCK"
    return (
        "[Unit]\n"
        f"Description=ssdk serve on {host.iface} {host.ip.ip} (installed by ssdk deploy)\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={host.root}/bin/serve\n"
        "ExecReload=/bin/kill -HUP $MAINPID\n"
        "Restart=on-failure\n"
        "RestartSec=1\n"
        f"AmbientCapabilities={caps}\n"
        f"CapabilityBoundingSet={caps}\n"
        "LimitMEMLOCK=infinity\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


@dataclass
class State:
    """What a host holds (INVENTORY), and what its health route answers."""

    releases: dict[str, dict[str, Any]]
    venvs: list[str]
    history: list[str]
    current: str | None
    pid: int
    lock: str | None
    serving: str | None = None  # the id its health route answers, if it answers
    tls: list[str] = field(default_factory=list)  # the names in its tls/ folder
    serve_script: str | None = None  # its bin/serve: what the running server was started by

    def code_of(self, rid: str | None) -> str | None:
        meta = self.releases.get(rid or "")
        return None if meta is None else str(meta.get("code"))


@dataclass
class Remote:
    """One host's SSH connection, and what this run did to it."""

    host: Host
    conn: asyncssh.SSHClientConnection
    log: Callable[[str], None]
    state: State | None = None
    locked: str | None = None
    before: str | None = None  # current when this run began, for putting it back
    now: str | None = None  # the release this run made current
    changed: bool = False
    notes: list[str] = field(default_factory=list)
    want_line: str | None = None  # the exec line bin/serve will have (None: not known)

    def new_command(self) -> bool:
        """Whether the host's serve command changes (its TLS files, port, workers...):
        which a running server cannot take without a restart."""
        s = self.state
        return (
            self.want_line is not None
            and s is not None
            and serve_line(s.serve_script) != self.want_line
        )

    async def run(self, cmd: str, *, check: bool = True, stdin: str | None = None) -> str:
        try:
            proc = await self.conn.run(cmd, input=stdin, timeout=COMMAND_TIMEOUT_S)
        except (asyncssh.Error, OSError, asyncio.TimeoutError) as e:
            raise DeployError(f"{self.host.name}: SSH command failed: {_why(e)}") from None
        if check and proc.exit_status != 0:
            err = " ".join(str(proc.stderr or proc.stdout or "").split())[-300:]
            raise DeployError(
                f"{self.host.name}: `{cmd[:80]}` exited {proc.exit_status}: {err or 'no output'}"
            )
        return str(proc.stdout or "")

    async def inventory(self) -> State:
        h = self.host
        out = await self.run(f"{h.python} - {_q(h.root)} {h.service} {h.unit}", stdin=INVENTORY)
        try:
            data = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise DeployError(f"{h.name}: its state could not be read: {out[-200:]!r}") from None
        state = State(
            releases=data["releases"],
            venvs=data["venvs"],
            history=data["history"],
            current=data["current"],
            pid=int(data["pid"]),
            lock=data["lock"],
            tls=list(data.get("tls") or []),
            serve_script=data.get("serve_script"),
        )
        if state.pid:
            state.serving = await health_once(h)
        self.state = state
        return state


def _why(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


async def connect(host: Host, log: Callable[[str], None]) -> Remote:
    """An SSH connection to `host`, its key checked against the fleet's known_hosts."""
    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(
                host.address,
                port=host.ssh_port,
                username=host.user,
                client_keys=[str(host.identity)],
                known_hosts=str(host.known_hosts),
                agent_path=None,
                config=None,
                connect_timeout=CONNECT_TIMEOUT_S,
            ),
            CONNECT_TIMEOUT_S + 5,
        )
    except (asyncssh.Error, OSError, asyncio.TimeoutError, ValueError) as e:
        raise DeployError(f"{host.name} ({host.ssh}): cannot connect over SSH: {_why(e)}") from None
    return Remote(host, conn, log)


async def all_hosts(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Run the calls at once; if any fails, the first failure (by host order) is raised
    after all have finished, so none is left half done."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


class Session:
    """SSH connections to the fleet's hosts, opened at once, closed on the way out."""

    def __init__(self, fleet: Fleet, log: Callable[[str], None]) -> None:
        self.fleet, self.log = fleet, log
        self.remotes: list[Remote] = []

    async def __aenter__(self) -> Session:
        results = await asyncio.gather(
            *(connect(h, self.log) for h in self.fleet.hosts), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        self.remotes = [r for r in results if isinstance(r, Remote)]
        if errors:
            await self.close()
            raise errors[0]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for r in self.remotes:
            r.conn.close()
        for r in self.remotes:
            with contextlib.suppress(Exception):
                await r.conn.wait_closed()


# The lock: one file per host, made with O_EXCL (the shell's noclobber), so of two
# deploys that race for it exactly one makes it.


def lock_owner(command: str) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} ({command}) since {when}"


async def take_locks(remotes: list[Remote], owner: str) -> None:
    async def take(r: Remote) -> None:
        lock = f"{r.host.root}/deploy.lock"
        out = await r.run(
            f"mkdir -p {_q(r.host.root)} && "
            f"if (set -C; printf '%s\\n' {_q(owner)} > {_q(lock)}) 2>/dev/null; "
            f"then echo taken; else cat {_q(lock)}; fi"
        )
        if out.strip() != "taken":
            raise DeployError(
                f"{r.host.name}: another deploy holds {lock}: {out.strip()} "
                f"(if it is gone, remove the file)"
            )
        r.locked = owner

    try:
        await all_hosts(take(r) for r in remotes)
    except BaseException:
        await release_locks(remotes)
        raise


async def release_locks(remotes: list[Remote]) -> None:
    async def drop(r: Remote) -> None:
        if r.locked is None:
            return
        lock = f"{r.host.root}/deploy.lock"
        # Only our own: a lock someone removed and another deploy took stays.
        await r.run(
            f'[ "$(cat {_q(lock)} 2>/dev/null)" = {_q(r.locked)} ] && rm -f {_q(lock)}; true',
            check=False,
        )
        r.locked = None

    await asyncio.gather(*(drop(r) for r in remotes), return_exceptions=True)


# Health: the release id from the health route, over HTTP from this machine.


async def http_get(host: Host, timeout: float = HTTP_TIMEOUT_S) -> tuple[int, bytes]:
    """GET the host's health route; (status, body). Raises OSError or TimeoutError."""
    port = host.port

    async def get() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(str(host.ip.ip), port)
        try:
            writer.write(
                f"GET {host.health} HTTP/1.1\r\nHost: {host.ip.ip}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            data = await reader.read(-1)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        return status, body

    return await asyncio.wait_for(get(), timeout)


async def health_once(host: Host) -> str | None:
    """The release id the host's health route answers now, or None."""
    try:
        status, body = await http_get(host)
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        return None
    return body.decode(errors="replace").strip() if status == 200 else None


async def wait_healthy(host: Host, rid: str) -> tuple[bool, str]:
    """Poll the health route until it answers `rid` or the host's health_timeout ends;
    (answered, what it last said)."""
    deadline = time.monotonic() + host.health_timeout
    last = "no answer"
    while True:
        seen = await health_once(host)
        if seen == rid:
            return True, seen
        if seen is not None:
            last = f"answers {seen}"
        if time.monotonic() > deadline:
            return False, last
        await asyncio.sleep(0.2)


async def check_stats(r: Remote) -> str:
    """The process and its counters over SSH (`ssdk stats --json`); a summary line.
    Raises DeployError when no server runs or a worker is missing."""
    h = r.host
    pid = await service_pid(r)
    if not pid:
        raise DeployError(f"{h.name}: no ssdk serve process runs")
    out = await r.run(f"{_q(h.root)}/current/venv/bin/python -m ssdk stats {pid} --json")
    try:
        snap = json.loads(out)
    except ValueError:
        raise DeployError(f"{h.name}: ssdk stats --json said {out[-200:]!r}") from None
    workers = snap.get("workers", [])
    live = [w for w in workers if w.get("pid")]
    if len(live) != h.workers:
        raise DeployError(f"{h.name}: {len(live)} of {h.workers} workers run (pid {pid})")
    total = snap.get("total", {})
    gens = sorted({int(w.get("generation", 0)) for w in live})
    conns = int(total.get("conns_active", 0))
    return (
        f"pid {pid}, {len(live)} worker{'s' * (len(live) != 1)} (table generation "
        f"{'/'.join(map(str, gens))}), {total.get('http_requests', 0)} requests, "
        f"{conns} connection{'s' * (conns != 1)} open"
    )


# The service: systemd, or the pidfile supervisor.


async def service_pid(r: Remote) -> int:
    h = r.host
    if h.service == "systemd":
        out = await r.run(f"systemctl show -p MainPID --value {h.unit}", check=False)
        return int(out.strip() or 0) if out.strip().isdigit() else 0
    run = f"{_q(h.root)}/run"
    out = await r.run(
        f"p=$(cat {run}/ssdk.pid 2>/dev/null) && s=$(cat {run}/supervise.pid 2>/dev/null) "
        f'&& kill -0 "$s" 2>/dev/null && kill -0 "$p" 2>/dev/null && echo "$p"; true'
    )
    return int(out.strip()) if out.strip().isdigit() else 0


async def service_stop(r: Remote) -> None:
    h = r.host
    if h.service == "systemd":
        await r.run(f"systemctl stop {h.unit}")
        return
    sup = f"{_q(h.root)}/run/supervise.pid"
    # SIGTERM: the supervisor passes it on and ssdk serve stops its workers; past the
    # timeout both are killed.
    await r.run(
        f"s=$(cat {sup} 2>/dev/null); p=$(cat {_q(h.root)}/run/ssdk.pid 2>/dev/null); "
        f'[ -n "$s" ] && kill -TERM "$s" 2>/dev/null; '
        f'i=0; while [ -n "$s" ] && kill -0 "$s" 2>/dev/null && [ $i -lt {STOP_TENTHS} ]; '
        f"do sleep 0.1; i=$((i+1)); done; "
        f'[ -n "$s" ] && kill -KILL "$s" 2>/dev/null; [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; '
        f"rm -f {sup}; true"
    )


async def service_start(r: Remote) -> int:
    """Start the service; the pid of its ssdk serve."""
    h = r.host
    if h.service == "systemd":
        await r.run(f"systemctl restart {h.unit}")
    else:
        await r.run(
            f"mkdir -p {_q(h.root)}/run && setsid -f nohup {_q(h.root)}/bin/supervise "
            "</dev/null >/dev/null 2>&1"
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        pid = await service_pid(r)
        if pid:
            return pid
        await asyncio.sleep(0.2)
    raise DeployError(f"{h.name}: the service did not start in {START_TIMEOUT_S:.0f} s")


async def service_swap(r: Remote) -> None:
    """Have the running server read current/app.ssdk again (its SIGHUP)."""
    h = r.host
    if h.service == "systemd":
        await r.run(f"systemctl reload {h.unit}")
        return
    pid = await service_pid(r)
    if not pid:
        raise DeployError(f"{h.name}: no ssdk serve runs to swap into")
    await r.run(f"kill -HUP {pid}")


async def install_service(r: Remote) -> None:
    """The host's scripts (and unit): written each activation, they are the host's."""
    h = r.host
    if h.service == "systemd":
        unit = f"/etc/systemd/system/{h.unit}.service"
        await r.run(
            f"cat > {unit}.tmp && mv {unit}.tmp {unit} && systemctl daemon-reload "
            f"&& systemctl enable -q {h.unit}",
            stdin=systemd_unit(h),
        )
    else:
        await _write(r, f"{h.root}/bin/supervise", SUPERVISE.format(root=h.root), mode="755")


async def _write(r: Remote, path: str, text: str, mode: str = "644") -> None:
    await r.run(
        f"mkdir -p {_q(os.path.dirname(path))} && cat > {_q(path)}.tmp && "
        f"chmod {mode} {_q(path)}.tmp && mv -f {_q(path)}.tmp {_q(path)}",
        stdin=text,
    )


# Upload: only what the host lacks, by sha256.


async def upload(r: Remote, rel: Release) -> None:
    """Put `rel` in releases/ID on the host, with its venv; files the host has under
    another release (same sha256) are copied there, the rest sent over SFTP."""
    h = r.host
    state = r.state
    assert state is not None
    if rel.id in state.releases:
        r.notes.append("had the release")
        return
    root = h.root
    tmp = f"{root}/releases/.{rel.id}.tmp"
    have: dict[str, str] = {}
    for rid, meta in state.releases.items():
        for name, sha in (meta.get("files") or {}).items():
            have.setdefault(sha, f"{root}/releases/{rid}/{name}")
    sent = copied = 0
    sent_bytes = 0
    await r.run(f"rm -rf {_q(tmp)} && mkdir -p {_q(tmp)}/app")
    wsha = rel.files["ssdk.whl"]
    venv = wsha[:16]
    puts: list[tuple[Path, str]] = [(rel.folder / "release.json", f"{tmp}/release.json")]
    for name in ("app.tar", "app.ssdk"):
        src = have.get(rel.files[name])
        if src is not None:
            await r.run(f"cp {_q(src)} {_q(tmp)}/{name}")
            copied += 1
        else:
            puts.append((rel.folder / name, f"{tmp}/{name}"))
    vtmp = f"{root}/venvs/.{venv}.tmp"
    wheel = f"{vtmp}/{rel.meta['wheel']}"
    if venv not in state.venvs:
        await r.run(f"rm -rf {_q(vtmp)} && mkdir -p {_q(vtmp)}")
        puts.append((rel.folder / "ssdk.whl", wheel))
    else:
        copied += 1
    try:
        async with r.conn.start_sftp_client() as sftp:
            for local, remote in puts:
                await sftp.put(str(local), remote)
                sent += 1
                sent_bytes += local.stat().st_size
    except (asyncssh.Error, OSError) as e:
        raise DeployError(f"{h.name}: upload failed: {_why(e)}") from None
    # What arrived is what was hashed here: checked before anything uses it.
    sums = "".join(f"{rel.files[n]}  {tmp}/{n}\n" for n in ("app.tar", "app.ssdk"))
    if venv not in state.venvs:
        sums += f"{wsha}  {wheel}\n"
    await r.run("sha256sum -c --quiet", stdin=sums)
    if venv not in state.venvs:
        await install_venv(r, vtmp, wheel, f"{root}/venvs/{venv}")
        state.venvs.append(venv)
    await r.run(
        f"tar -xf {_q(tmp)}/app.tar -C {_q(tmp)}/app && ln -sfn ../../venvs/{venv} {_q(tmp)}/venv "
        f"&& rm -rf {_q(root)}/releases/{rel.id} && mv {_q(tmp)} {_q(root)}/releases/{rel.id}"
    )
    state.releases[rel.id] = {k: rel.meta.get(k) for k in ("id", "code", "created", "files")}
    r.notes.append(
        f"sent {sent} file{'s' * (sent != 1)} ({sent_bytes / 1e6:.1f} MB), reused {copied}"
    )


async def upload_tls(r: Remote) -> None:
    """Put the host's TLS files in its tls/ folder (0700): those it lacks by name (their
    sha256) over SFTP, each checked by sha256sum and given its mode before it is renamed
    into place; a file the host has is not sent again."""
    files = tls_files(r.host)
    state = r.state
    assert state is not None
    if not files:
        return
    folder = f"{r.host.root}/tls"
    missing = [f for f in files if f.name not in state.tls]
    await r.run(f"mkdir -p {_q(folder)} && chmod 700 {_q(folder)}")
    if missing:
        try:
            async with r.conn.start_sftp_client() as sftp:
                for f in missing:
                    await sftp.put(str(f.local), f"{folder}/.{f.name}.tmp")
        except (asyncssh.Error, OSError) as e:
            raise DeployError(f"{r.host.name}: upload of TLS files failed: {_why(e)}") from None
        from ssdk.tools.release import file_hash

        sums = "".join(f"{file_hash(f.local)}  {folder}/.{f.name}.tmp\n" for f in missing)
        await r.run("sha256sum -c --quiet", stdin=sums)
        await r.run(
            " && ".join(
                f"chmod {f.mode} {_q(folder)}/.{f.name}.tmp && "
                f"mv -f {_q(folder)}/.{f.name}.tmp {_q(folder)}/{f.name}"
                for f in missing
            )
        )
        state.tls = sorted({*state.tls, *(f.name for f in missing)})
    r.notes.append(f"TLS files: sent {len(missing)}, had {len(files) - len(missing)}")


async def install_venv(r: Remote, tmp: str, wheel: str, final: str) -> None:
    """A virtual environment with ssdk's wheel, offline: --system-site-packages gives it
    the host's cffi, msgspec, typer and watchfiles; the wheel goes in with --no-index
    --no-deps (and --ignore-installed, so an ssdk of the host's own stays out of it).
    Importing ssdk and its C core from the venv proves it is complete."""
    h = r.host
    py = f"{_q(tmp)}/bin/python"
    # When the host's Python is itself a virtual environment, --system-site-packages
    # reaches only its base: a .pth file names the host Python's own site folders too.
    sites = "import site; print(chr(10).join(site.getsitepackages()))"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    await r.run(
        f"{h.python} -m venv --without-pip --system-site-packages {_q(tmp)} && "
        f'{h.python} -c {_q(sites)} > "$({py} -c {_q(purelib)})/_ssdk_host_site.pth" && '
        f"{py} -m pip install -q --no-index --no-deps --ignore-installed "
        f"--disable-pip-version-check {_q(wheel)}"
    )
    check = (
        "import sys, ssdk, ssdk._core, ssdk.serve; "
        "assert ssdk.__file__.startswith(sys.prefix), ssdk.__file__; print(ssdk.__version__)"
    )
    out = await r.run(f"{py} -c {_q(check)}", check=False)
    if not out.strip():
        err = await r.run(f"{py} -c {_q(check)} 2>&1 | tail -1", check=False)
        raise DeployError(
            f"{h.name}: ssdk does not import in its new venv ({err.strip()}); the host's "
            f"Python ({h.python}) needs cffi, msgspec, typer and watchfiles"
        )
    # The venv's scripts name the folder they were made in: it is moved by a rename of
    # its parent entry only, and python -m is all that runs from it.
    await r.run(f"touch {_q(tmp)}/ok && rm -rf {_q(final)} && mv {_q(tmp)} {_q(final)}")


# Activation: current -> releases/ID, then swap or restart.


async def activate(r: Remote, rid: str, serve_args: list[str], script: str | None = None) -> None:
    """Make `rid` current, with bin/serve written for it (or `script`, a bin/serve the
    host had before, when putting it back)."""
    h = r.host
    await install_service(r)
    text = script if script is not None else serve_script(h, rid, serve_args)
    await _write(r, f"{h.root}/bin/serve", text, mode="755")
    root = _q(h.root)
    await r.run(
        f"ln -sfn releases/{rid} {root}/.current.tmp && mv -T {root}/.current.tmp {root}/current"
        f' && echo "$(date -u +%FT%TZ) {rid}" >> {root}/history'
    )
    r.changed, r.now = True, rid
    if r.state is not None:
        r.state.history.append(rid)


async def release_serve_args(r: Remote, rid: str) -> list[str]:
    out = await r.run(f"cat {_q(r.host.root)}/releases/{rid}/release.json")
    args: list[str] = json.loads(out).get("serve", [])
    return args


async def swap_to(r: Remote, rid: str) -> str:
    """Content only: move current, SIGHUP, wait for the health route to say `rid`."""
    began = time.monotonic()
    await activate(r, rid, await release_serve_args(r, rid))
    await service_swap(r)
    ok, seen = await wait_healthy(r.host, rid)
    if not ok:
        raise DeployError(f"{r.host.name}: swapped in {rid}, but its health route {seen}")
    stats = await check_stats(r)
    return f"swapped in {rid} in {time.monotonic() - began:.2f} s (content only); {stats}"


async def restart_to(r: Remote, rid: str, script: str | None = None) -> str:
    """New code (or a new serve command): move current, restart the service, check
    health and the process."""
    began = time.monotonic()
    await activate(r, rid, await release_serve_args(r, rid), script)
    await service_stop(r)
    await service_start(r)
    ok, seen = await wait_healthy(r.host, rid)
    if not ok:
        raise DeployError(
            f"{r.host.name}: restarted on {rid}, but its health route ({r.host.health_url()}) "
            f"{seen} after {r.host.health_timeout:g} s"
        )
    stats = await check_stats(r)
    return f"restarted on {rid} in {time.monotonic() - began:.2f} s; {stats}"


async def put_back(r: Remote) -> str:
    """Return a host this run changed to the release it served before (or stop it, if
    it served none)."""
    h = r.host
    # The failed activation leaves the history, so that a later `ssdk rollback` goes to
    # the release before the one that now serves, not to the one that failed.
    await r.run(f"sed -i '$d' {_q(h.root)}/history")
    if r.state is not None and r.state.history:
        r.state.history.pop()
    if r.before is None:
        await service_stop(r)
        await r.run(f"rm -f {_q(h.root)}/current")
        return f"{h.name}: stopped (it served nothing before)"
    state = r.state
    same_code = state is not None and state.code_of(r.before) == state.code_of(r.now)
    if same_code and not r.new_command() and await service_pid(r):
        return f"{h.name}: back: {await swap_to(r, r.before)}"
    # The serve command it ran before (its TLS files are still there: only a deploy
    # that succeeded removes the files no bin/serve names).
    old = state.serve_script if state is not None and serve_line(state.serve_script) else None
    return f"{h.name}: back: {await restart_to(r, r.before, old)}"


async def prune_tls(r: Remote) -> None:
    """Remove the TLS files the host's bin/serve no longer names (a replaced certificate,
    an old ticket key: a secret is not left behind), once every host serves the new
    command."""
    s = r.state
    if s is None or not (s.tls or r.host.tls):
        return
    root = _q(r.host.root)
    await r.run(
        f'cd {root}/tls 2>/dev/null || exit 0; for f in *; do [ -f "$f" ] || continue; '
        f'grep -qF "/tls/$f" {root}/bin/serve || rm -f "$f"; done; true'
    )


def current_of(r: Remote) -> str | None:
    return None if r.state is None else r.state.current


async def prune(r: Remote, keep: int) -> None:
    """Keep the newest `keep` releases (by history), current and what serves; venvs no
    kept release uses go too, and the TLS files bin/serve no longer names."""
    s = r.state
    assert s is not None
    root = _q(r.host.root)
    await prune_tls(r)
    order = list(dict.fromkeys(reversed(s.history)))  # newest first, once each
    ranked = [rid for rid in order if rid in s.releases]
    ranked += sorted(rid for rid in s.releases if rid not in ranked)
    kept = set(ranked[:keep]) | {x for x in (current_of(r), s.serving) if x}
    out = await r.run(f"readlink {_q(r.host.root)}/current; true")
    if out.strip():
        kept.add(os.path.basename(out.strip()))
    drop = [rid for rid in s.releases if rid not in kept]
    if not drop:
        return
    await r.run("rm -rf " + " ".join(f"{root}/releases/{rid}" for rid in drop))
    await r.run(
        f"cd {root}/venvs 2>/dev/null || exit 0; for v in *; do used=; "
        f'for l in ../releases/*/venv; do [ "$(basename "$(readlink "$l")")" = "$v" ] && used=1; '
        'done; [ -z "$used" ] && rm -rf "$v"; done; true'
    )
    for rid in drop:
        s.releases.pop(rid, None)
