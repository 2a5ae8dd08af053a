"""How `ssdk serve` shares its interface with the kernel: ssdk takes only its own frames
(its address, its TCP port, and ARP and ICMP for an address the kernel does not hold),
and everything else stays the kernel's, so SSH and other services keep working.

serve -> xdp_object()          (AF_XDP: ssdk/bpf/xdp_share.bpf.c compiled with clang,
                                 cached) -> engine.XdpFilter (attached once, by the
                                 supervisor; the workers' sockets join its XSKMAP)
      -> sockfilter.share_filter (AF_PACKET: a classic BPF filter on each worker's socket)
      -> KernelGuard            (the kernel holds ssdk's address too: an nftables table
                                 that drops inbound TCP to ssdk's address and port in the
                                 kernel, so it sends no RST for ssdk's connections;
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
import subprocess
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ssdk.core.runtime.procs import pid_alive

XDP_SOURCE = Path(__file__).resolve().parent / "bpf" / "xdp_share.bpf.c"
# -g: the BTF that libxdp's dispatcher needs to chain ssdk's program with others.
BPF_CFLAGS = ("-O2", "-g", "-target", "bpf", "-Wall", "-Wextra", "-Werror")
NFT_TABLE_PREFIX = "ssdk_"  # + the supervisor's pid: ssdk_1234
NFT_TIMEOUT_S = 10


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
    ip: ipaddress.IPv4Address,
    addresses: Callable[[], list[tuple[str, ipaddress.IPv4Interface]]],
) -> str | None:
    """The interface on which this namespace's kernel holds ``ip`` itself, or None."""
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
    # Best effort: a table that cannot be listed or deleted here is not this start's to
    # fix (KernelGuard.add says so if nft cannot work at all).
    with contextlib.suppress(ShareError):
        listed = _nft(None, "list", "tables", "ip")
        for m in re.finditer(rf"^table ip ({NFT_TABLE_PREFIX}(\d+))$", listed.stdout, re.M):
            if not pid_alive(int(m.group(2))):
                if _nft(None, "delete", "table", "ip", m.group(1)).returncode == 0:
                    gone.append(m.group(1))
    return gone


class KernelGuard:
    """An nftables table of this process's own (ssdk_<pid>) that drops inbound TCP to
    ssdk's address and port before the kernel's TCP sees it, for as long as ssdk
    serves an address the kernel holds as well. Without it the kernel, which knows no
    such connection, answers each of ssdk's segments with a RST.

    The rule sits in the prerouting hook at raw priority (-300): ahead of connection
    tracking, so ssdk's flows leave no conntrack entries, and after packet sockets
    (AF_PACKET's copy is taken before netfilter) and XDP (which takes AF_XDP's frames
    before the kernel builds an skb at all). Nothing else of the kernel's changes: other
    ports of the address (sshd on 22), ARP and ping stay the kernel's."""

    def __init__(self, ip: ipaddress.IPv4Address, port: int) -> None:
        self.ip, self.port = ip, port
        self.table = f"{NFT_TABLE_PREFIX}{os.getpid()}"
        self.added = False

    @property
    def rule(self) -> str:
        return f"ip daddr {self.ip} tcp dport {self.port} drop"

    def describe(self) -> str:
        """The start banner's line."""
        return (
            f"nftables table ip {self.table}: prerouting `{self.rule}`, so the kernel, "
            f"which holds {self.ip} too, does not reset ssdk's connections; removed at exit"
        )

    def add(self) -> None:
        script = (
            f"table ip {self.table} {{\n"
            f"  chain prerouting {{\n"
            f"    type filter hook prerouting priority raw; policy accept;\n"
            f"    {self.rule}\n"
            f"  }}\n"
            f"}}\n"
        )
        proc = _nft(script)
        if proc.returncode != 0:
            raise ShareError(
                f"nft could not add table ip {self.table} ({self.rule}): "
                f"{' '.join(proc.stderr.split()) or f'exit {proc.returncode}'}"
            )
        self.added = True

    def remove(self) -> None:
        """Delete the table (again: nothing)."""
        if self.added:
            _nft(None, "delete", "table", "ip", self.table)
            self.added = False


@contextlib.contextmanager
def kernel_guard(
    ip: ipaddress.IPv4Address, port: int, needed: bool
) -> Iterator[KernelGuard | None]:
    """A KernelGuard for the block when ``needed`` (the kernel holds ``ip``), removed
    when the block ends in any way; None when not needed."""
    if not needed:
        yield None
        return
    guard = KernelGuard(ip, port)
    try:
        guard.add()
        yield guard
    finally:
        guard.remove()
