# ssdk.tools.netns: owns every network namespace and veth pair that ssdk makes for tests,
# the demo and the benchmark. One place creates them, names them and removes them.
#
# Topology (addresses from 198.18.0.0/15 and 2001:2::/48, which exist only inside these
# namespaces):
#
#   client_ns                                 server_ns
#   client_if 198.18.0.1/15  <--- veth --->   server_if (no address: the user-space stack
#             2001:2::1/64                    owns 198.18.0.2 and 2001:2::2, and reads
#   kernel TCP (curl, wrk, ...)               frames raw)
#
# IPv6 is off in the namespaces unless asked for (ipv6=True): the kernel's router
# solicitations, duplicate address probes and MLD reports stay out of captures. With
# it, each end has a link-local address and the client 2001:2::1/64, at once (no
# duplicate address detection), and neither kernel listens to router advertisements
# (a test may send one).
#
# bridged_pair puts a third namespace in the middle, for `ssdk impair` (a bridge that
# impairs what crosses it), so any server can be measured behind the same lossy path:
#
#   client_ns                  bridge_ns                          server_ns
#   client_if  <--- veth --->  bridge_client_if | bridge_server_if  <--- veth --->  server_if
from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from ssdk.core.runtime.procs import pid_alive

__all__ = [
    "BridgedTopology",
    "Lan",
    "LanHost",
    "NetnsError",
    "Topology",
    "bridged_pair",
    "cleanup_stale",
    "kernel_address",
    "lan",
    "kernel_owns_server_ip",
    "ns_exec",
    "tap_link",
    "tap_namespace",
    "veth_pair",
]

CLIENT_IP = "198.18.0.1"
SERVER_IP = "198.18.0.2"
PREFIX = 15
CLIENT_IP6 = "2001:2::1"
SERVER_IP6 = "2001:2::2"
PREFIX6 = 64  # one subnet of 2001:2::/48 (RFC 5180's benchmarking block)

# Set in a namespace made with IPv6, before its links exist so that they inherit them
# (conf.default) and for all of them (conf.all, which the kernel also consults for
# duplicate address detection).
_IPV6_ON = {
    "disable_ipv6": "0",
    # No duplicate address detection: an address is usable at once, not after ~1 s of
    # probes (the namespaces are private; nothing else can hold their addresses).
    "accept_dad": "0",
    # No router advertisement changes addresses or routes (nor triggers solicitations):
    # the tests send advertisements of their own to check they reach the kernel.
    "accept_ra": "0",
}

_IFNAMSIZ = 15  # usable bytes of an interface name (IFNAMSIZ 16 minus the NUL)
_counter = itertools.count()


class NetnsError(RuntimeError):
    """A namespace or link command failed; carries the command and its stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"{' '.join(argv)!r} exited {returncode}: {self.stderr}")


@dataclass(frozen=True)
class Topology:
    """Two namespaces joined by one veth pair.

    The server end has no IP address: the user-space stack answers for ``server_ip`` by
    reading and writing raw frames on ``server_if``. The client end is an ordinary kernel
    interface with ``client_ip/prefix``.
    """

    server_ns: str
    client_ns: str
    server_if: str
    client_if: str
    server_mac: str
    client_mac: str
    server_ip: str = SERVER_IP
    client_ip: str = CLIENT_IP
    prefix: int = PREFIX
    queues: int = 1
    # Set where the namespaces have IPv6 (made with ipv6=True): the client end holds
    # client_ip6, and server_ip6 is the stack's, as server_ip is.
    server_ip6: str | None = None
    client_ip6: str | None = None
    prefix6: int = PREFIX6

    @property
    def server_cidr(self) -> str:
        """``server_ip/prefix``, the form ``ssdk serve --ip`` takes."""
        return f"{self.server_ip}/{self.prefix}"

    @property
    def client_cidr(self) -> str:
        return f"{self.client_ip}/{self.prefix}"

    @property
    def server_cidr6(self) -> str:
        """``server_ip6/prefix6``; ValueError where the topology has no IPv6."""
        if self.server_ip6 is None:
            raise ValueError("this topology was made without IPv6 (ipv6=True)")
        return f"{self.server_ip6}/{self.prefix6}"

    @property
    def client_cidr6(self) -> str:
        if self.client_ip6 is None:
            raise ValueError("this topology was made without IPv6 (ipv6=True)")
        return f"{self.client_ip6}/{self.prefix6}"

    @property
    def server_cidrs(self) -> list[str]:
        """Every address the stack serves, as ``--ip`` takes them (one each): IPv4,
        then IPv6 where the topology has it."""
        return [self.server_cidr, *([self.server_cidr6] if self.server_ip6 else [])]


@dataclass(frozen=True, kw_only=True)
class BridgedTopology(Topology):
    """A Topology whose two ends meet in a bridge namespace instead of directly.

    ``client_if`` is joined by a veth to ``bridge_client_if``, ``server_if`` to
    ``bridge_server_if``; both bridge ends are up, without addresses, for a bridge that
    reads and writes raw frames (``ssdk impair --a bridge_client_if --b bridge_server_if``).
    Until one runs, client and server cannot reach each other.
    """

    bridge_ns: str
    bridge_client_if: str
    bridge_server_if: str


def ns_exec(ns: str, argv: list[str]) -> list[str]:
    """Return ``argv`` wrapped to run inside namespace ``ns``.

    ``ip netns exec`` execs the command in place, so the pid of the resulting process is
    the pid of the command itself (signals sent to it reach the command).
    """
    return ["ip", "netns", "exec", ns, *argv]


def _run(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except FileNotFoundError as e:
        raise NetnsError(argv, 127, f"{argv[0]}: not found") from e
    except subprocess.TimeoutExpired as e:
        raise NetnsError(argv, -1, "timed out after 30 s") from e
    if proc.returncode != 0:
        raise NetnsError(argv, proc.returncode, proc.stderr)
    return proc.stdout


def _sysctl(ns: str, key: str, value: str) -> None:
    # Written through /proc rather than sysctl(8) so procps is not a dependency; the path
    # is resolved inside the namespace because `ip netns exec` runs the shell there.
    path = "/proc/sys/" + key.replace(".", "/")
    _run(ns_exec(ns, ["sh", "-c", f"echo {value} > {path}"]))


def _mac(ns: str, ifname: str) -> str:
    info = json.loads(_run(["ip", "-j", "-n", ns, "link", "show", "dev", ifname]))
    return str(info[0]["address"])


def _names(tag: str | None) -> tuple[str, str, str, str]:
    pid = os.getpid()
    n = next(_counter)
    clean = re.sub(r"[^a-z0-9]", "", (tag or "").lower())[:16]
    mid = f"{clean}-" if clean else ""
    server_ns = f"ssdk-{mid}s-{pid}-{n}"
    client_ns = f"ssdk-{mid}c-{pid}-{n}"
    server_if = f"ss{pid}s{n}"
    client_if = f"ss{pid}c{n}"
    if len(server_if) > _IFNAMSIZ:
        # pid and counter together overflow IFNAMSIZ only for absurd counters; wrap the
        # counter into base 36 to stay unique within the process.
        n36 = _base36(n)
        server_if, client_if = f"ss{pid}s{n36}", f"ss{pid}c{n36}"
    return server_ns, client_ns, server_if, client_if


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _kill_ns_processes(ns: str) -> None:
    """SIGKILL whatever still runs in ``ns``: a namespace with live processes keeps its
    interfaces after ``ip netns del``, so stragglers would leak the veth."""
    try:
        pids = _run(["ip", "netns", "pids", ns]).split()
    except NetnsError:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _delete_ns(ns: str) -> None:
    _kill_ns_processes(ns)
    with contextlib.suppress(NetnsError):
        _run(["ip", "netns", "del", ns])


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT while cleaning up, so a second Ctrl-C cannot leave half a topology.

    The pending signal is delivered (as KeyboardInterrupt) once the block is left.
    """
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _require_ip() -> None:
    if shutil.which("ip") is None:
        raise NetnsError(["ip"], 127, "iproute2 'ip' not found on PATH")


@contextlib.contextmanager
def veth_pair(
    tag: str | None = None,
    *,
    queues: int = 1,
    offload_off: bool = False,
    ipv6: bool = False,
) -> Iterator[Topology]:
    """Create a server and a client namespace joined by a veth pair; remove both on exit.

    ``tag`` (letters and digits) goes into the namespace names so they say what made them.
    ``queues`` sets the rx and tx queue count of both veth ends (for multi-queue engines).
    Offloads are left as the kernel sets them (a veth: TX checksum offload, TSO and GSO
    on, GRO off), which ssdk serves as it is: partial checksums and super-frames are
    handled by its backends (docs/network.md, Offloads). ``offload_off`` turns off
    checksum offload, TSO, GSO and GRO on both ends with ethtool, for comparisons (an
    nginx benchmark) and for tests that run both ways.

    ``ipv6``: both namespaces have IPv6 (_IPV6_ON: no duplicate address detection, no
    router advertisements taken), the client end ``client_ip6`` as well, and the
    Topology names ``server_ip6``; without it IPv6 is off in both, as it always was.

    Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN). Removal happens on normal exit, on any
    exception and on KeyboardInterrupt; anything still running inside the namespaces is
    killed. If creation fails half way, whatever was made is removed and NetnsError is
    raised with the failing command and its stderr.
    """
    if queues < 1:
        raise ValueError("queues must be at least 1")
    _require_ip()
    server_ns, client_ns, server_if, client_if = _names(tag)
    made: list[str] = []
    with _removed_after(made):
        for ns in (server_ns, client_ns):
            made.append(ns)  # recorded first: a failed add leaves nothing, del is harmless
            _new_ns(ns, ipv6)
        q = [str(queues)]
        # Created directly inside the namespaces, never in the caller's namespace, so a
        # crash at any point cannot leave a veth behind in the host.
        _run(
            ["ip", "-n", client_ns, "link", "add", client_if]
            + ["numtxqueues", *q, "numrxqueues", *q, "type", "veth", "peer", "name", server_if]
            + ["numtxqueues", *q, "numrxqueues", *q, "netns", server_ns]
        )
        if offload_off:
            for ns, ifname in ((client_ns, client_if), (server_ns, server_if)):
                _run(
                    ns_exec(ns, ["ethtool", "-K", ifname])
                    + ["tx", "off", "tso", "off", "gso", "off", "gro", "off"]
                )
        _run(["ip", "-n", client_ns, "addr", "add", f"{CLIENT_IP}/{PREFIX}", "dev", client_if])
        if ipv6:
            _run(_addr_argv(client_ns, client_if, f"{CLIENT_IP6}/{PREFIX6}"))
        _run(["ip", "-n", server_ns, "link", "set", server_if, "up"])
        _run(["ip", "-n", client_ns, "link", "set", client_if, "up"])
        topo = Topology(
            server_ns=server_ns,
            client_ns=client_ns,
            server_if=server_if,
            client_if=client_if,
            server_mac=_mac(server_ns, server_if),
            client_mac=_mac(client_ns, client_if),
            queues=queues,
            server_ip6=SERVER_IP6 if ipv6 else None,
            client_ip6=CLIENT_IP6 if ipv6 else None,
        )
        yield topo


@contextlib.contextmanager
def _removed_after(made: list[str]) -> Iterator[None]:
    """Delete every namespace in ``made`` (newest first) when the block ends, whether
    setting up failed half way, the caller's block raised, or all went well."""
    try:
        yield
    finally:
        with _sigint_deferred():
            for ns in reversed(made):
                _delete_ns(ns)


def _new_ns(ns: str, ipv6: bool = False) -> None:
    _run(["ip", "netns", "add", ns])
    # Before any link exists, so that the veth ends are born with these: without IPv6
    # (they never send router solicitations or DAD probes into the captures), or with
    # it as _IPV6_ON has it.
    if ipv6:
        for key, value in _IPV6_ON.items():
            for scope in ("default", "all"):
                _sysctl(ns, f"net.ipv6.conf.{scope}.{key}", value)
    else:
        _sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        _sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
    _run(["ip", "-n", ns, "link", "set", "lo", "up"])


def _addr_argv(ns: str, ifname: str, cidr: str) -> list[str]:
    """`ip addr add` for ``cidr`` on ``ifname``; an IPv6 address without duplicate
    address detection (nodad), usable at once instead of after ~1 s of probes."""
    argv = ["ip", "-n", ns, "addr", "add", cidr, "dev", ifname]
    return [*argv, "nodad"] if ":" in cidr else argv


@contextlib.contextmanager
def bridged_pair(
    tag: str | None = None, *, offload_off: bool = True, ipv6: bool = False
) -> Iterator[BridgedTopology]:
    """Create client, bridge and server namespaces joined by two veth pairs; remove all
    three on exit, with everything still running in them.

    Addresses as in veth_pair: the client end has ``client_ip/prefix``; the server end
    and both bridge ends have none. ``offload_off`` turns off checksum offload, TSO, GSO
    and GRO on all four ends: a bridge that copies raw frames must get them complete,
    with their checksums filled in and no larger than the MTU. Needs root; on a failure
    half way, whatever was made is removed and NetnsError is raised. ``ipv6``: as
    veth_pair's (the bridge namespace too has IPv6, its ends no address but their
    link-local ones).
    """
    _require_ip()
    server_ns, client_ns, server_if, client_if = _names(tag)
    # "ssdk-<tag>-s-<pid>-<n>" -> "...-b-..."; "ss<pid>c<n>" -> "ss<pid>a<n>", "ss<pid>b<n>"
    head, pid, n = server_ns.rsplit("-", 2)
    bridge_ns = f"{head[:-1]}b-{pid}-{n}"
    mark = len(f"ss{pid}")
    bridge_client_if = f"{client_if[:mark]}a{client_if[mark + 1 :]}"
    bridge_server_if = f"{client_if[:mark]}b{client_if[mark + 1 :]}"
    made: list[str] = []
    with _removed_after(made):
        for ns in (server_ns, bridge_ns, client_ns):
            made.append(ns)  # recorded first: a failed add leaves nothing, del is harmless
            _new_ns(ns, ipv6)
        # Each veth is born inside the namespaces it joins, never in the caller's.
        _run(
            [
                "ip",
                "-n",
                client_ns,
                "link",
                "add",
                client_if,
                "type",
                "veth",
                "peer",
                "name",
                bridge_client_if,
                "netns",
                bridge_ns,
            ]
        )
        _run(
            [
                "ip",
                "-n",
                server_ns,
                "link",
                "add",
                server_if,
                "type",
                "veth",
                "peer",
                "name",
                bridge_server_if,
                "netns",
                bridge_ns,
            ]
        )
        ends = (
            (client_ns, client_if),
            (bridge_ns, bridge_client_if),
            (bridge_ns, bridge_server_if),
            (server_ns, server_if),
        )
        if offload_off:
            for ns, ifname in ends:
                _run(
                    ns_exec(ns, ["ethtool", "-K", ifname])
                    + ["tx", "off", "tso", "off", "gso", "off", "gro", "off"]
                )
        _run(["ip", "-n", client_ns, "addr", "add", f"{CLIENT_IP}/{PREFIX}", "dev", client_if])
        if ipv6:
            _run(_addr_argv(client_ns, client_if, f"{CLIENT_IP6}/{PREFIX6}"))
        for ns, ifname in ends:
            _run(["ip", "-n", ns, "link", "set", ifname, "up"])
        topo = BridgedTopology(
            server_ns=server_ns,
            client_ns=client_ns,
            server_if=server_if,
            client_if=client_if,
            server_mac=_mac(server_ns, server_if),
            client_mac=_mac(client_ns, client_if),
            bridge_ns=bridge_ns,
            bridge_client_if=bridge_client_if,
            bridge_server_if=bridge_server_if,
            server_ip6=SERVER_IP6 if ipv6 else None,
            client_ip6=CLIENT_IP6 if ipv6 else None,
        )
        yield topo


@dataclass(frozen=True)
class LanHost:
    """One host of a Lan: its namespace, the address its kernel (and sshd) has on
    ``mgmt_if``, and ``data_if``, an interface without an address for ssdk to serve
    ``data_ip`` on."""

    ns: str
    mgmt_if: str
    mgmt_ip: str
    data_if: str
    data_ip: str


@dataclass(frozen=True)
class Lan:
    """A client namespace holding a bridge with ``client_ip``, and hosts joined to it by
    two veth pairs each (management and data)."""

    client_ns: str
    bridge: str
    client_ip: str
    prefix: int
    hosts: tuple[LanHost, ...]


LAN_CLIENT_IP = "198.18.0.1"
LAN_MGMT = "198.18.1.{}"  # host i's kernel address (10 + i)
LAN_DATA = "198.18.2.{}"  # the address ssdk serves on host i (10 + i)


@contextlib.contextmanager
def lan(tag: str | None = None, hosts: int = 3) -> Iterator[Lan]:
    """A fleet on one machine, for `ssdk deploy`'s tests: ``hosts`` namespaces, each
    with a management interface (``mgmt0``, kernel address 198.18.1.(10+i), where sshd
    listens) and a data interface (``eth1``, no address: ssdk serves 198.18.2.(10+i)
    on it), all bridged in the client namespace, whose bridge holds 198.18.0.1/15 (the
    deploying machine and the clients run there). Everything, and whatever still runs
    in it, is removed on the way out, also after a failure half way."""
    if not 1 <= hosts <= 50:
        raise ValueError("hosts must be 1..50")
    _require_ip()
    server_ns, client_ns, _, client_if = _names(tag)
    head, pid, n = server_ns.rsplit("-", 2)
    bridge = f"{client_if[: len(f'ss{pid}')]}r{client_if[len(f'ss{pid}') + 1 :]}"
    made: list[str] = []
    with _removed_after(made):
        made.append(client_ns)
        _new_ns(client_ns)
        _run(["ip", "-n", client_ns, "link", "add", bridge, "type", "bridge", "stp_state", "0"])
        _run(["ip", "-n", client_ns, "link", "set", bridge, "type", "bridge", "forward_delay", "0"])
        _run(["ip", "-n", client_ns, "addr", "add", f"{LAN_CLIENT_IP}/{PREFIX}", "dev", bridge])
        _run(["ip", "-n", client_ns, "link", "set", bridge, "up"])
        out: list[LanHost] = []
        for i in range(1, hosts + 1):
            ns = f"{head[:-1]}h{i}-{pid}-{n}"
            made.append(ns)
            _new_ns(ns)
            # Each veth is born in the client namespace with its peer in the host's.
            for end, peer in ((f"h{i}m", "mgmt0"), (f"h{i}d", "eth1")):
                _run(
                    ["ip", "-n", client_ns, "link", "add", end, "type", "veth"]
                    + ["peer", "name", peer, "netns", ns]
                )
                _run(["ip", "-n", client_ns, "link", "set", end, "master", bridge, "up"])
                _run(["ip", "-n", ns, "link", "set", peer, "up"])
            mgmt_ip = LAN_MGMT.format(10 + i)
            _run(["ip", "-n", ns, "addr", "add", f"{mgmt_ip}/{PREFIX}", "dev", "mgmt0"])
            out.append(LanHost(ns, "mgmt0", mgmt_ip, "eth1", LAN_DATA.format(10 + i)))
        yield Lan(client_ns, bridge, LAN_CLIENT_IP, PREFIX, tuple(out))


@contextlib.contextmanager
def tap_link(
    name: str, host_cidr: str, ns: str | None = None, host_cidr6: str | None = None
) -> Iterator[str]:
    """Make the TAP device ``name`` (in namespace ``ns``, or this one) with the kernel's
    end at ``host_cidr`` (and ``host_cidr6``, without duplicate address detection), up;
    remove it on exit. ssdk then serves another address of that subnet on it (``ssdk
    serve --backend tap``), reachable from this machine."""
    _require_ip()
    at = ["-n", ns] if ns else []
    _run(["ip", *at, "tuntap", "add", "dev", name, "mode", "tap"])
    try:
        _run(["ip", *at, "addr", "add", host_cidr, "dev", name])
        if host_cidr6:
            _run(["ip", *at, "addr", "add", host_cidr6, "dev", name, "nodad"])
        _run(["ip", *at, "link", "set", name, "up"])
        yield name
    finally:
        with _sigint_deferred(), contextlib.suppress(NetnsError):
            _run(["ip", *at, "tuntap", "del", "dev", name, "mode", "tap"])


@contextlib.contextmanager
def tap_namespace(tag: str | None = None, *, ipv6: bool = False) -> Iterator[Topology]:
    """One namespace holding a TAP device: the kernel's end has ``client_ip`` (and
    ``client_ip6`` with ``ipv6``, as veth_pair's), ssdk serves ``server_ip`` on the same
    device, and clients run in the same namespace. In the Topology, server and client
    namespace and interface are the same, and both MACs are the kernel's end's (ssdk
    keeps its own MAC on a TAP)."""
    server_ns, _, server_if, _ = _names(tag)
    made: list[str] = []
    with _removed_after(made):
        made.append(server_ns)
        _new_ns(server_ns, ipv6)
        v6 = f"{CLIENT_IP6}/{PREFIX6}" if ipv6 else None
        with tap_link(server_if, f"{CLIENT_IP}/{PREFIX}", server_ns, v6):
            mac = _mac(server_ns, server_if)
            yield Topology(
                server_ns=server_ns,
                client_ns=server_ns,
                server_if=server_if,
                client_if=server_if,
                server_mac=mac,
                client_mac=mac,
                server_ip6=SERVER_IP6 if ipv6 else None,
                client_ip6=CLIENT_IP6 if ipv6 else None,
            )


@contextlib.contextmanager
def kernel_owns_server_ip(topo: Topology, *, ipv6: bool = False) -> Iterator[None]:
    """Give ``server_ip`` (and ``server_ip6`` too with ``ipv6``) to the kernel of the
    server namespace for the duration.

    For running a kernel-stack server (nginx) on the same topology as ssdk, one after the
    other, or beside ssdk on other ports of the same address (ssdk/share.py then keeps
    the kernel off ssdk's port). Never while a user-space stack answers ARP or neighbour
    discovery for ``server_ip`` on ``server_if``: both would answer for the same address.
    """
    cidrs = [topo.server_cidr, *([topo.server_cidr6] if ipv6 else [])]
    with contextlib.ExitStack() as held:
        for cidr in cidrs:
            held.enter_context(kernel_address(topo.server_ns, topo.server_if, cidr))
        yield


@contextlib.contextmanager
def kernel_address(ns: str, ifname: str, cidr: str) -> Iterator[None]:
    """``cidr`` on ``ifname`` in namespace ``ns`` for the duration, the kernel's own; an
    IPv6 address is usable at once (no duplicate address detection). Deleted on the way
    out, whatever ends the block."""
    _run(_addr_argv(ns, ifname, cidr))
    try:
        yield
    finally:
        with _sigint_deferred(), contextlib.suppress(NetnsError):
            _run(["ip", "-n", ns, "addr", "del", cidr, "dev", ifname])


def cleanup_stale(prefix: str = "ssdk-") -> list[str]:
    """Delete namespaces named ``prefix...-<pid>-<n>`` whose creating process is gone.

    Namespaces of live processes (for example a concurrent test run) are left alone.
    Returns the names deleted.
    """
    _require_ip()
    try:
        listing = json.loads(_run(["ip", "-j", "netns", "list"]) or "[]")
    except (NetnsError, json.JSONDecodeError):
        return []
    removed: list[str] = []
    for entry in listing:
        name = str(entry.get("name", ""))
        m = re.fullmatch(re.escape(prefix) + r".*-(\d+)-(\d+)", name)
        if m is None or pid_alive(int(m.group(1))):
            continue
        _delete_ns(name)
        removed.append(name)
    return removed
