"""The fleet file of `ssdk deploy`: which hosts, how to reach them, where ssdk serves.

cli.deploy / rollback / releases / status -> load_fleet(path) -> Fleet (hosts, each with
every [fleet] key resolved: its own value, else the fleet's, else the default)

    [fleet]
    backend = "af_packet"           # default for every host
    root = "/opt/ssdk"              # install root on each host
    service = "systemd"             # or "process": a pidfile supervisor
    identity = "keys/id_ed25519"    # SSH key (relative to this file)
    known_hosts = "keys/known_hosts"
    health = "/healthz"             # answered by every release with its release id
    keep = 5                        # releases kept on each host

    tls_cert = "keys/site.crt"      # HTTPS (a list, with tls_key's in the same order,
    tls_key = "keys/site.key"       # for several names); tls_port 443,
                                    # tls_ticket_key: keys/<fleet file's stem>.ticket.key

    [[host]]
    name = "h1"
    ssh = "root@198.18.1.11:22"     # user@address[:port]
    iface = "eth1"
    ip = "198.18.2.11/15"           # the serving address
    root = "/srv/ssdk-h1"           # any [fleet] key may be set per host

A wrong file is refused whole, in one line that names the file, the host and the key:
a deploy that went ahead with a silently ignored setting would serve the wrong thing.
Reads the file (and the TLS files it names, through the TLS layer), touches no host.

HTTPS: every host with certificates serves them with one session-ticket key, the same
for the whole fleet, so a client resumes on any host the session another began. Without
`tls_ticket_key`, that key is `keys/STEM.ticket.key` beside the fleet file (STEM: the
fleet file's name without .toml), which `ssdk deploy` writes the first time
(`ticket_key_to_make`): kept beside the SSH key, where a release never takes files
from, so each later deploy, and a host added later, gets the same key.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BACKENDS = ("af_packet", "af_xdp")  # tap serves this machine only: nothing to deploy to
SERVICES = ("systemd", "process")

# Every key a [fleet] table or a [[host]] may set, with its default (None: required,
# or for the tls_ keys: not set).
DEFAULTS: dict[str, Any] = {
    "backend": "af_packet",
    "root": "/opt/ssdk",
    "service": "systemd",
    "identity": None,
    "known_hosts": None,
    "health": "/healthz",
    "keep": 5,
    "port": 80,
    "workers": 1,
    "python": "python3",  # the host's Python, which makes each release's virtual env
    "unit": "ssdk",  # service = "systemd": the unit's name
    "serve": [],  # more `ssdk serve` options, e.g. ["--cc", "bbr"]
    "health_timeout": 30.0,  # seconds a restarted host has to answer its health route
    "tls_cert": None,  # HTTPS: certificate files (PEM), a string or a list
    "tls_key": None,  # their private keys, in the same order
    "tls_port": None,  # 443 when certificates are given
    "tls_ticket_key": None,  # the fleet's session-ticket key (made by deploy if not set)
}
DEFAULT_TLS_PORT = 443
# `ssdk serve` options a fleet key sets: not allowed in `serve`.
OWN_KEYS = {
    "--iface": "iface",
    "--ip": "ip",
    "--backend": "backend",
    "--port": "port",
    "--workers": "workers",
    "--tls-cert": "tls_cert",
    "--tls-key": "tls_key",
    "--tls-port": "tls_port",
    "--tls-ticket-key": "tls_ticket_key",
}
HOST_ONLY = ("name", "ssh", "iface", "ip")
_SSH = re.compile(
    r"(?P<user>[A-Za-z0-9._-]+)@(?P<addr>\[[0-9A-Fa-f:.]+\]|[^:@\s]+)(?::(?P<port>\d+))?"
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_HEALTH = re.compile(r"/[A-Za-z0-9._~/-]*")


class FleetError(ValueError):
    """The fleet file is wrong; the message names the file, the host and the key."""


@dataclass(frozen=True)
class Host:
    name: str
    user: str
    address: str
    ssh_port: int
    iface: str
    ips: tuple[ipaddress.IPv4Interface, ...]
    backend: str
    root: str
    service: str
    identity: Path
    known_hosts: Path
    health: str
    keep: int
    port: int
    workers: int
    python: str
    unit: str
    serve: tuple[str, ...]
    health_timeout: float
    # HTTPS: (certificate, key) pairs, the port, the ticket key (None: no HTTPS).
    tls: tuple[tuple[Path, Path], ...] = ()
    tls_port: int = DEFAULT_TLS_PORT
    tls_ticket_key: Path | None = None

    @property
    def ip(self) -> ipaddress.IPv4Interface:
        """The address ssdk serves (one per host: `ssdk serve` takes one --ip)."""
        return self.ips[0]

    @property
    def ssh(self) -> str:
        return f"{self.user}@{self.address}:{self.ssh_port}"

    def health_url(self) -> str:
        port = "" if self.port == 80 else f":{self.port}"
        return f"http://{self.ip.ip}{port}{self.health}"


@dataclass(frozen=True)
class Fleet:
    path: Path
    hosts: tuple[Host, ...]
    # The fleet's own ticket key, when a host with certificates sets none: written by
    # `ssdk deploy` (make_ticket_key) if it is not there yet.
    ticket_key_to_make: Path | None = None

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)


def load_fleet(path: Path) -> Fleet:
    """Read and check the fleet file at `path`; raises FleetError in one line."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise FleetError(f"{path}: cannot read it ({e.__class__.__name__}: {e})") from None
    except tomllib.TOMLDecodeError as e:
        raise FleetError(f"{path}: not valid TOML ({e})") from None
    fleet = parse_fleet(data, path)
    check_tls_files(fleet)
    return fleet


def fleet_ticket_key(path: Path) -> Path:
    """Where the fleet file at `path` keeps the ticket key deploy makes for it."""
    return path.parent / "keys" / f"{path.stem}.ticket.key"


def check_tls_files(fleet: Fleet) -> None:
    """Load each host's certificates, keys and ticket key into the TLS layer, as `ssdk
    serve` will on the host: a pair that does not match, a file that is not PEM, a
    ticket key that is not 64 bytes is refused here, before any host is reached."""
    if not any(h.tls for h in fleet.hosts):
        return
    from ssdk.core.runtime.tls import TlsError, TlsServer, check_ticket_key

    done: set[tuple[Path, Path] | Path] = set()
    for h in fleet.hosts:
        for n, pair in enumerate(h.tls):
            if pair in done:
                continue
            try:
                TlsServer([pair]).close()
            except TlsError as e:
                key = "tls_cert/tls_key" + (f" (pair {n + 1})" if len(h.tls) > 1 else "")
                raise FleetError(f"{fleet.path}: host {h.name!r}: key {key}: {e}") from None
            done.add(pair)
        tk = h.tls_ticket_key
        if tk is not None and tk not in done and tk.exists():  # the fleet's: made later
            try:
                check_ticket_key(tk)
            except TlsError as e:
                raise FleetError(
                    f"{fleet.path}: host {h.name!r}: key 'tls_ticket_key': {e}"
                ) from None
            done.add(tk)


def make_ticket_key(fleet: Fleet) -> Path | None:
    """Write the fleet's ticket key if it needs one that is not there yet (mode 0600,
    its folder 0700 when made here); the path written, else None."""
    path = fleet.ticket_key_to_make
    if path is None or path.exists():
        return None
    from ssdk.core.runtime.tls import TlsError, write_ticket_key

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_ticket_key(path)
    except (OSError, TlsError) as e:
        raise FleetError(
            f"{fleet.path}: the fleet's ticket key {path} cannot be written: {e}"
        ) from None
    return path


def parse_fleet(data: dict[str, Any], path: Path) -> Fleet:
    """The Fleet that the parsed TOML `data` of the file `path` describes."""
    unknown = sorted(set(data) - {"fleet", "host"})
    if unknown:
        raise FleetError(f"{path}: unknown table {unknown[0]!r} (known: [fleet], [[host]])")
    defaults = data.get("fleet", {})
    if not isinstance(defaults, dict):
        raise FleetError(f"{path}: [fleet] must be a table")
    for key in defaults:
        if key not in DEFAULTS:
            where = "a [[host]] key" if key in HOST_ONLY else "no such key"
            raise FleetError(
                f"{path}: [fleet]: key {key!r} is {where} (known: {', '.join(DEFAULTS)})"
            )
    hosts = data.get("host")
    if not isinstance(hosts, list) or not hosts:
        raise FleetError(f"{path}: no [[host]] entries: a fleet needs at least one host")
    out: list[Host] = []
    seen: dict[str, str] = {}
    for n, entry in enumerate(hosts):
        if not isinstance(entry, dict):
            raise FleetError(f"{path}: host #{n + 1} must be a table ([[host]])")
        host = _host(entry, defaults, path, n)
        for what, value in (("name", host.name), ("ssh", host.ssh), ("ip", str(host.ip.ip))):
            other = seen.get(f"{what}={value}")
            if other is not None:
                raise FleetError(
                    f"{path}: host {host.name!r}: key {what!r}: {value} is also host {other!r}'s"
                )
            seen[f"{what}={value}"] = host.name
        out.append(host)
    # One session-ticket key for every host that serves HTTPS: two keys in one fleet
    # would quietly stop clients from resuming on a host other than their first.
    made = fleet_ticket_key(path)
    first: Host | None = None

    def which(h: Host) -> str:
        tk = h.tls_ticket_key
        return f"the fleet's own ({tk})" if tk == made else str(tk)

    for host in out:
        if host.tls_ticket_key is None:
            continue
        if first is None:
            first = host
        elif not _same_file(host.tls_ticket_key, first.tls_ticket_key):
            raise FleetError(
                f"{path}: host {host.name!r}: key 'tls_ticket_key': {which(host)}, but host "
                f"{first.name!r} has {which(first)}: a fleet shares one ticket key, so that "
                f"each host resumes the sessions the others began"
            )
    to_make = made if first is not None and first.tls_ticket_key == made else None
    return Fleet(path, tuple(out), to_make)


def _same_file(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.resolve() == b.resolve():
        return True
    try:
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _host(entry: dict[str, Any], defaults: dict[str, Any], path: Path, n: int) -> Host:
    raw_name = entry.get("name")
    label = f"host {raw_name!r}" if isinstance(raw_name, str) else f"host #{n + 1}"

    def bad(key: str, why: str) -> FleetError:
        inherited = key in DEFAULTS and key not in entry and key in defaults
        src = " (from [fleet])" if inherited else ""
        return FleetError(f"{path}: {label}: key {key!r}{src}: {why}")

    for key in entry:
        if key not in DEFAULTS and key not in HOST_ONLY:
            raise bad(key, f"is not a fleet key (known: {', '.join((*HOST_ONLY, *DEFAULTS))})")
    v: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        v[key] = entry.get(key, defaults.get(key, default))
    for key in HOST_ONLY:
        if key not in entry:
            raise bad(key, "is missing")

    def string(key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise bad(key, f"must be a non-empty string, not {value!r}")
        return value

    name = string("name", entry["name"])
    if not _NAME.fullmatch(name):
        raise bad("name", f"{name!r} must be letters, digits, '.', '_' or '-'")
    m = _SSH.fullmatch(string("ssh", entry["ssh"]))
    if m is None:
        raise bad("ssh", f"must be user@address[:port], not {entry['ssh']!r}")
    ssh_port = int(m["port"] or 22)
    if not 1 <= ssh_port <= 65535:
        raise bad("ssh", f"port {ssh_port} is not 1..65535")
    iface = string("iface", entry["iface"])
    if "/" in iface or len(iface) > 15:
        raise bad("iface", f"{iface!r} is not an interface name")
    raw_ips = entry["ip"] if isinstance(entry["ip"], list) else [entry["ip"]]
    ips: list[ipaddress.IPv4Interface] = []
    for raw in raw_ips:
        try:
            ips.append(ipaddress.IPv4Interface(string("ip", raw)))
        except ValueError:
            raise bad("ip", f"{raw!r} is not an IPv4 address A.B.C.D/NN") from None
        if "/" not in raw:
            raise bad("ip", f"{raw!r} lacks its prefix length (A.B.C.D/NN)")
    if len(ips) != 1:
        # One `ssdk serve` per host serves one address.
        raise bad("ip", f"lists {len(ips)} addresses; ssdk serve takes one per host")
    backend = string("backend", v["backend"])
    if backend not in BACKENDS:
        raise bad("backend", f"{backend!r} is not one of: {', '.join(BACKENDS)}")
    service = string("service", v["service"])
    if service not in SERVICES:
        raise bad("service", f"{service!r} is not one of: {', '.join(SERVICES)}")
    root = string("root", v["root"])
    if not root.startswith("/") or any(c in root for c in " '\"\\$`\n") or root.rstrip("/") == "":
        raise bad("root", f"{root!r} must be an absolute path without spaces or quotes")
    keys: dict[str, Path] = {}
    for key in ("identity", "known_hosts"):
        if v[key] is None:
            raise bad(key, "is missing (set it in [fleet] or in the host)")
        p = Path(string(key, v[key])).expanduser()
        p = p if p.is_absolute() else path.parent / p
        if not p.is_file():
            raise bad(key, f"names {p}, which is not a file")
        keys[key] = p
    health = string("health", v["health"])
    if not _HEALTH.fullmatch(health) or health == "/":
        raise bad("health", f"{health!r} must be a path such as /healthz")
    ints: dict[str, int] = {}
    for key, low, high in (("keep", 1, 1000), ("port", 1, 65535), ("workers", 1, 256)):
        value = v[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise bad(key, f"must be a whole number {low}..{high}, not {value!r}")
        ints[key] = value
    timeout = v["health_timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise bad("health_timeout", f"must be a number of seconds above 0, not {timeout!r}")
    serve = v["serve"]
    if not isinstance(serve, list) or not all(isinstance(a, str) and a for a in serve):
        raise bad("serve", f"must be a list of `ssdk serve` arguments, not {serve!r}")
    taken = sorted(set(OWN_KEYS) & {a.split("=", 1)[0] for a in serve})
    if taken:
        raise bad("serve", f"sets {taken[0]}, which is the fleet key {OWN_KEYS[taken[0]]!r}")
    for key in ("python", "unit"):
        if any(c in string(key, v[key]) for c in " '\"\\$`\n;"):
            raise bad(key, f"{v[key]!r} must hold no spaces, quotes or ';'")
    tls, tls_port, ticket_key = _tls(v, bad, path, ints["port"])
    return Host(
        name=name,
        user=m["user"],
        address=m["addr"].strip("[]"),
        ssh_port=ssh_port,
        iface=iface,
        ips=tuple(ips),
        backend=backend,
        root=root.rstrip("/"),
        service=service,
        identity=keys["identity"],
        known_hosts=keys["known_hosts"],
        health=health,
        keep=ints["keep"],
        port=ints["port"],
        workers=ints["workers"],
        python=v["python"],
        unit=v["unit"],
        serve=tuple(serve),
        health_timeout=float(timeout),
        tls=tls,
        tls_port=tls_port,
        tls_ticket_key=ticket_key,
    )


def _tls(
    v: dict[str, Any], bad: Callable[[str, str], FleetError], path: Path, http_port: int
) -> tuple[tuple[tuple[Path, Path], ...], int, Path | None]:
    """A host's HTTPS keys, resolved: (pairs, port, ticket key)."""

    def files(key: str) -> list[Path]:
        raw = v[key]
        items = raw if isinstance(raw, list) else [raw]
        if not items or not all(isinstance(x, str) and x for x in items):
            raise bad(key, f"must be a file's path or a list of them, not {raw!r}")
        out = []
        for x in items:
            p = Path(x).expanduser()
            p = p if p.is_absolute() else path.parent / p
            if not p.is_file():
                raise bad(key, f"names {p}, which is not a file")
            out.append(p)
        return out

    if v["tls_cert"] is None and v["tls_key"] is None:
        for key in ("tls_port", "tls_ticket_key"):
            if v[key] is not None:
                raise bad(key, "is set, but HTTPS needs certificates: set tls_cert and tls_key")
        return (), DEFAULT_TLS_PORT, None
    for key, other in (("tls_cert", "tls_key"), ("tls_key", "tls_cert")):
        if v[key] is None:
            raise bad(key, f"is missing: {other} is set, and each certificate needs its key")
    certs, keys = files("tls_cert"), files("tls_key")
    if len(certs) != len(keys):
        raise bad(
            "tls_key",
            f"names {len(keys)} file{'s' * (len(keys) != 1)} for {len(certs)} in tls_cert "
            f"(one key per certificate, in the same order)",
        )
    port = DEFAULT_TLS_PORT if v["tls_port"] is None else v["tls_port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise bad("tls_port", f"must be a whole number 1..65535, not {port!r}")
    if port == http_port:
        raise bad("tls_port", f"{port} is the HTTP port too: HTTPS needs a port of its own")
    if v["tls_ticket_key"] is None:
        ticket = fleet_ticket_key(path)
    elif not isinstance(v["tls_ticket_key"], str):
        raise bad("tls_ticket_key", f"must be a file's path, not {v['tls_ticket_key']!r}")
    else:
        ticket = files("tls_ticket_key")[0]
    return tuple(zip(certs, keys, strict=True)), port, ticket
