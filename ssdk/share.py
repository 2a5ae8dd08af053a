"""How `ssdk serve` shares its interface with the kernel: ssdk takes only its own frames
(its addresses, its TCP port, and ARP/neighbour discovery and ICMP echo for an address
the kernel does not hold), and everything else stays the kernel's, so SSH and other
services keep working.

serve -> xdp_object()          (AF_XDP: ssdk/bpf/xdp_share.bpf.c compiled with clang,
                                 cached) -> engine.XdpFilter (attached once, by the
                                 supervisor; the workers' sockets join its XSKMAP)
      -> sockfilter.share_filter (AF_PACKET: a classic BPF filter on each worker's socket)
      -> multicast_joined      (AF_XDP: the NIC lets in the solicited-node groups' MACs
                                 of ssdk's IPv6 addresses while it serves)
      -> KernelGuard            (nftables tables that keep the kernel off ssdk's traffic:
                                 where the kernel holds ssdk's address too, inbound TCP to
                                 ssdk's port, so it sends no RST for ssdk's connections;
                                 for an IPv6 address it does not hold, everything to it,
                                 so it neither answers (unreachable) nor forwards it;
                                 removed at exit)

docs/sharing.md tells the whole story.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import sysconfig
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ssdk.core.runtime.procs import pid_alive

XDP_SOURCE = Path(__file__).resolve().parent / "bpf" / "xdp_share.bpf.c"
# -g: the BTF that libxdp's dispatcher needs to chain ssdk's program with others.
BPF_CFLAGS = ("-O2", "-g", "-target", "bpf", "-Wall", "-Wextra", "-Werror")
NFT_TABLE_PREFIX = "ssdk_"  # + the supervisor's pid: ssdk_1234
NFT_TIMEOUT_S = 10
# The families ssdk's tables are in: one table of each, same name, for each family
# that has rules (ip for IPv4, ip6 for IPv6; an inet table would change what IPv4
# serves have always made).
NFT_FAMILIES = ("ip", "ip6")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class ShareError(RuntimeError):
    """ssdk cannot take its own traffic apart from the kernel's (the message says why and
    what to install)."""


def cache_dir() -> Path:
    """Where compiled XDP objects are kept: $XDG_CACHE_HOME/ssdk/bpf (~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssdk" / "bpf"


def _multiarch_include() -> list[str]:
    """Debian keeps asm/types.h (which linux/bpf.h includes) under the multiarch
    folder, which clang's BPF target does not search by itself."""
    arch = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
    folder = Path("/usr/include") / str(arch)
    return [f"-I{folder}"] if folder.is_dir() else []


def _object_path(folder: Path, flags: list[str]) -> Path:
    key = hashlib.sha256(XDP_SOURCE.read_bytes() + "\0".join(flags).encode()).hexdigest()
    return folder / f"xdp_share-{key[:16]}.o"


def cached_xdp_object(cache: Path | None = None) -> Path | None:
    """The compiled XDP program if the cache holds it for this source, else None."""
    obj = _object_path(cache or cache_dir(), [*BPF_CFLAGS, *_multiarch_include()])
    return obj if obj.is_file() else None


def xdp_object(cache: Path | None = None) -> Path:
    """The compiled XDP program: built with clang the first time, then taken from the
    cache, named by the sha256 of its source and flags. Raises ShareError (one line)
    when it cannot be built."""
    flags = [*BPF_CFLAGS, *_multiarch_include()]
    folder = cache or cache_dir()
    obj = _object_path(folder, flags)
    if obj.is_file():
        return obj
    clang = shutil.which("clang")
    if clang is None:
        raise ShareError(
            "ssdk's XDP program (ssdk/bpf/xdp_share.bpf.c) needs clang to be built: "
            "apt-get install clang (./demo installs it)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ShareError(f"cannot make {folder} for ssdk's XDP program: {e}") from e
    # Written beside the final name and renamed, so a concurrent start never reads half.
    fd, tmp = tempfile.mkstemp(prefix=".xdp_share-", suffix=".o", dir=folder)
    os.close(fd)
    try:
        proc = subprocess.run(
            [clang, *flags, "-c", str(XDP_SOURCE), "-o", tmp],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), "")
            raise ShareError(
                f"clang could not build ssdk's XDP program ({XDP_SOURCE.name}): "
                f"{first.strip() or f'exit {proc.returncode}'} (needs libbpf-dev, libxdp-dev)"
            )
        os.replace(tmp, obj)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return obj


def bpffs_mounted(mounts: Path = Path("/proc/self/mounts")) -> bool:
    """Whether a bpffs is mounted at /sys/fs/bpf, where libxdp's dispatcher pins."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return False
    return any(ln.split()[1:3] == ["/sys/fs/bpf", "bpf"] for ln in lines if ln.strip())


def kernel_holds(
    ip: Address,
    addresses: Callable[[], Sequence[tuple[str, Interface]]],
) -> str | None:
    """The interface on which this namespace's kernel holds ``ip`` itself, or None.
    ``addresses``: rtnl.addresses for IPv4, rtnl.addresses6 for IPv6 (or both)."""
    return next((name for name, a in addresses() if a.ip == ip), None)


def _nft(script: str | None, *argv: str) -> subprocess.CompletedProcess[str]:
    nft = shutil.which("nft")
    if nft is None:
        raise ShareError("nft not found: apt-get install nftables")
    argv_ = [nft, *argv] if script is None else [nft, "-f", "-"]
    try:
        return subprocess.run(
            argv_, input=script, capture_output=True, text=True, timeout=NFT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise ShareError(f"{' '.join(argv_)} did not finish in {NFT_TIMEOUT_S} s") from e


def remove_stale_tables() -> list[str]:
    """Delete the nftables tables of ssdk serves that died without removing theirs
    (SIGKILL): ssdk_<pid> whose pid is gone. Returns their names."""
    if shutil.which("nft") is None:
        return []
    gone: list[str] = []
    families = "|".join(NFT_FAMILIES)
    # Best effort: a table that cannot be listed or deleted here is not this start's to
    # fix (KernelGuard.add says so if nft cannot work at all).
    with contextlib.suppress(ShareError):
        listed = _nft(None, "list", "tables")
        found = re.finditer(rf"^table ({families}) ({NFT_TABLE_PREFIX}(\d+))$", listed.stdout, re.M)
        for m in found:
            family, name, pid = m.group(1), m.group(2), int(m.group(3))
            if not pid_alive(pid) and _nft(None, "delete", "table", family, name).returncode == 0:
                if name not in gone:
                    gone.append(name)
    return gone


def guard_rules(
    addrs: Sequence[tuple[Address, bool]], ports: Sequence[int]
) -> dict[str, list[str]]:
    """The prerouting rules, by nftables family, that keep the kernel off ssdk's traffic
    for ``addrs``, each (address, whether the kernel holds it too), on TCP ``ports``:

    - an address the kernel holds: inbound TCP to ssdk's ports (the kernel knows no such
      connection, and would reset each one); its other ports, neighbour discovery or ARP,
      and ping stay the kernel's;
    - an IPv6 address the kernel does not hold: everything to it. Such a packet reaches
      the kernel (every frame does, beside AF_PACKET's copy; on AF_XDP a queue without a
      socket), which has no business with it but may still act: with no route to the
      address it answers with an ICMPv6 unreachable (a client's connect then fails),
      and where it forwards (a router, a container host) it sends the packet back out
      with a redirect. An IPv4 address the kernel does not hold gets no rule, as it
      never had: without forwarding the kernel drops such packets silently.
    """
    if not ports:
        raise ValueError("no port")
    dport = f"tcp dport {ports[0]}" if len(ports) == 1 else (
        "tcp dport { " + ", ".join(str(p) for p in ports) + " }"
    )  # fmt: skip
    rules: dict[str, list[str]] = {}
    for ip, held in addrs:
        family, match = ("ip", "ip daddr") if ip.version == 4 else ("ip6", "ip6 daddr")
        if held:
            rules.setdefault(family, []).append(f"{match} {ip} {dport} drop")
        elif ip.version == 6:
            rules.setdefault(family, []).append(f"{match} {ip} drop")
    return rules


class KernelGuard:
    """nftables tables of this process's own (ssdk_<pid>, one in each family that has
    rules: ip, ip6) that drop, before the kernel's IP layer sees them, the packets
    guard_rules names: inbound TCP to ssdk's port on an address the kernel holds as well
    (without it the kernel, which knows no such connection, answers each of ssdk's
    segments with a RST), and anything to an IPv6 address of ssdk's the kernel does not
    hold (which it would answer with an ICMPv6 unreachable, or forward).

    The rules sit in the prerouting hook at raw priority (-300): ahead of connection
    tracking, so ssdk's flows leave no conntrack entries, and after packet sockets
    (AF_PACKET's copy is taken before netfilter) and XDP (which takes AF_XDP's frames
    before the kernel builds an skb at all). Nothing else of the kernel's changes: other
    ports of the address (sshd on 22), ARP, neighbour discovery (sent to multicast
    groups, or answered for the kernel's own addresses) and ping stay the kernel's.

    ``KernelGuard(ip, port)``: one address the kernel holds; ``KernelGuard.of(addrs,
    ports)`` for any set (None when no rule is needed)."""

    def __init__(self, ip: Address, port: int) -> None:
        self._init([(ip, True)], [port])

    def _init(self, addrs: Sequence[tuple[Address, bool]], ports: Sequence[int]) -> None:
        self.addrs = list(addrs)
        self.ports = list(ports)
        self.rules = guard_rules(self.addrs, self.ports)
        self.table = f"{NFT_TABLE_PREFIX}{os.getpid()}"
        self.added: list[str] = []  # the families whose table is in place

    @classmethod
    def of(cls, addrs: Sequence[tuple[Address, bool]], ports: Sequence[int]) -> KernelGuard | None:
        """The guard for ``addrs``, each (address, whether the kernel holds it), on TCP
        ``ports``; None when none of them needs a rule."""
        if not guard_rules(addrs, ports):
            return None
        guard = cls.__new__(cls)
        guard._init(addrs, ports)
        return guard

    @property
    def rule(self) -> str:
        """Every rule, in the order they are added ("; " between two)."""
        return "; ".join(r for f in NFT_FAMILIES for r in self.rules.get(f, []))

    def describe(self) -> str:
        """The start banner's line."""
        tables = "; ".join(
            f"table {f} {self.table}: prerouting " + ", ".join(f"`{r}`" for r in self.rules[f])
            for f in NFT_FAMILIES
            if f in self.rules
        )
        held = [str(ip) for ip, h in self.addrs if h]
        free6 = [str(ip) for ip, h in self.addrs if not h and ip.version == 6]
        why = []
        if held:
            holds = ", ".join(held)
            why.append(f"the kernel, which holds {holds} too, does not reset ssdk's connections")
        if free6:
            why.append(f"the kernel neither answers nor forwards for {', '.join(free6)}")
        return f"nftables {tables}, so {' and '.join(why)}; removed at exit"

    def script(self) -> str:
        """What `nft -f -` is given: every table at once (nft applies a script whole or
        not at all)."""
        return "".join(
            f"table {f} {self.table} {{\n"
            f"  chain prerouting {{\n"
            f"    type filter hook prerouting priority raw; policy accept;\n"
            + "".join(f"    {r}\n" for r in self.rules[f])
            + "  }\n}\n"
            for f in NFT_FAMILIES
            if f in self.rules
        )

    def add(self) -> None:
        proc = _nft(self.script())
        if proc.returncode != 0:
            tables = ", ".join(f"table {f} {self.table}" for f in NFT_FAMILIES if f in self.rules)
            raise ShareError(
                f"nft could not add {tables} ({self.rule}): "
                f"{' '.join(proc.stderr.split()) or f'exit {proc.returncode}'}"
            )
        self.added = [f for f in NFT_FAMILIES if f in self.rules]

    def remove(self) -> None:
        """Delete the tables (again: nothing)."""
        for family in self.added:
            _nft(None, "delete", "table", family, self.table)
        self.added = []


@contextlib.contextmanager
def kernel_guard(ip: Address, port: int, needed: bool) -> Iterator[KernelGuard | None]:
    """A KernelGuard for the block when ``needed`` (the kernel holds ``ip``), removed
    when the block ends in any way; None when not needed."""
    with guarded([(ip, True)] if needed else [], [port]) as guard:
        yield guard


@contextlib.contextmanager
def guarded(
    addrs: Sequence[tuple[Address, bool]], ports: Sequence[int]
) -> Iterator[KernelGuard | None]:
    """KernelGuard.of(addrs, ports) in place for the block, removed when the block ends
    in any way; None when no address needs a rule."""
    guard = KernelGuard.of(addrs, ports) if addrs else None
    if guard is None:
        yield None
        return
    try:
        guard.add()
        yield guard
    finally:
        guard.remove()


# linux/if_packet.h: a packet socket's multicast memberships.
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_MULTICAST = 263, 1, 0


def solicited_macs(addrs: Sequence[Address]) -> list[str]:
    """The Ethernet MACs of the solicited-node groups of ``addrs``' IPv6 addresses, each
    once: 33:33 and the group's low 32 bits (RFC 2464 7), i.e. 33:33:ff and the
    address's low 24 bits (RFC 4291 2.7.1)."""
    macs: list[str] = []
    for a in addrs:
        if a.version == 6:
            mac = "33:33:ff:" + ":".join(f"{b:02x}" for b in a.packed[13:])
            if mac not in macs:
                macs.append(mac)
    return macs


@contextlib.contextmanager
def multicast_joined(iface: str, macs: Sequence[str]) -> Iterator[list[str]]:
    """The interface receives frames to ``macs`` for the block: a NIC drops multicast
    for groups nobody joined, and under AF_XDP the engine's sockets cannot join one
    (the AF_PACKET backend joins on its own socket). A packet socket of protocol 0
    receives no frame at all; its memberships (PACKET_MR_MULTICAST) last while it is
    open and go with it, also when the process is killed. Yields the MACs joined."""
    if not macs:
        yield []
        return
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    try:
        index = socket.if_nametoindex(iface)
        for mac in macs:
            raw = bytes(int(x, 16) for x in mac.split(":"))
            mreq = struct.pack("iHH8s", index, PACKET_MR_MULTICAST, len(raw), raw)
            try:
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            except OSError as e:
                raise ShareError(f"cannot let {mac} in on {iface}: {e.strerror}") from e
        yield list(macs)
    finally:
        sock.close()
