"""What the checks read of the system, behind one Protocol, so that a test hands a check
a made-up system in which it fails.

checks.* -> Probe.<question>() -> LiveProbe: /proc/self/status, getrlimit, netlink and
SIOCETHTOOL (ssdk/tools/rtnl.py), sysfs, /proc/mounts; never a process, never a change
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import resource
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ssdk.core.addrs import Interface
from ssdk.tools import rtnl
from ssdk.tools.rtnl import KernelRoute, Link

if TYPE_CHECKING:
    pass

from ssdk.tools.doctor.table import SLOT

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NETMAP_DEVICE = "/dev/netmap"  # netmap(4): the control device every netmap program opens


class Probe(Protocol):
    """The system as the checks see it. LiveProbe reads this machine; tests give a
    made-up one."""

    def capabilities(self) -> int: ...  # CapEff bits
    def memlock(self) -> int: ...  # RLIMIT_MEMLOCK soft limit, bytes; -1 unlimited
    def core_error(self) -> str | None: ...  # why the C core does not load, or None
    def have_af_xdp(self) -> bool: ...
    def umem_bytes(self) -> int: ...  # what one AF_XDP worker's UMEM pins
    def link(self, name: str) -> Link | None: ...
    def rx_queues(self, name: str) -> int: ...  # receive queues in use
    def xdp_features(self, link: Link) -> int | None: ...
    def driver(self, name: str) -> str | None: ...
    def offloads(self, name: str) -> dict[str, bool]: ...
    def prog_name(self, prog_id: int) -> str | None: ...
    def mounts(self) -> list[tuple[str, str]]: ...  # (mount point, type)
    # Both families: (interface, address), IPv4 and IPv6.
    def addresses(self) -> list[tuple[str, Interface]]: ...
    def route_to(self, ip: Address) -> KernelRoute | None: ...
    def forwarding(self, name: str) -> bool: ...
    def tap_owner(self, name: str) -> tuple[int, int]: ...  # uid, gid; -1 for none
    def user(self) -> tuple[int, set[int]]: ...  # euid, and the groups it is in
    def which(self, tool: str) -> str | None: ...  # the program's path on PATH, or None
    def xdp_cached(self) -> bool: ...  # ssdk's XDP program is compiled in the cache
    def netmap_device(self) -> str | None: ...  # why /dev/netmap is unusable, or None


class LiveProbe:
    """This machine, in this process's network namespace, read without a subprocess."""

    def __init__(self) -> None:
        self._links: dict[str, Link | None] = {}

    def capabilities(self) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
        return 0

    def memlock(self) -> int:
        soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        return -1 if soft == resource.RLIM_INFINITY else soft

    def core_error(self) -> str | None:
        try:
            import ssdk.core.runtime.engine  # noqa: F401
        except ImportError as e:
            return str(e)
        return None

    def have_af_xdp(self) -> bool:
        from ssdk.core.runtime.engine import HAVE_AF_XDP

        return HAVE_AF_XDP

    def umem_bytes(self) -> int:
        from ssdk.core.runtime.engine import Engine

        # The UMEM holds ring_frames (Engine.attach_af_xdp's default, as serve uses it)
        # rounded up to a power of two, at least 64 (nic_af_xdp.c), of SLOT bytes each.
        frames = int(inspect.signature(Engine.attach_af_xdp).parameters["ring_frames"].default)
        return max(64, 1 << (frames - 1).bit_length()) * SLOT

    def link(self, name: str) -> Link | None:
        if name not in self._links:
            self._links[name] = rtnl.link(name)
        return self._links[name]

    def rx_queues(self, name: str) -> int:
        try:
            return len(list(Path(f"/sys/class/net/{name}/queues").glob("rx-*")))
        except OSError:
            return 0

    def xdp_features(self, link: Link) -> int | None:
        return rtnl.xdp_features(link.index)

    def driver(self, name: str) -> str | None:
        try:
            return os.path.basename(os.readlink(f"/sys/class/net/{name}/device/driver"))
        except OSError:
            return rtnl.ethtool_driver(name)

    def offloads(self, name: str) -> dict[str, bool]:
        return rtnl.ethtool_offloads(name)

    def prog_name(self, prog_id: int) -> str | None:
        return rtnl.bpf_prog_name(prog_id)

    def mounts(self) -> list[tuple[str, str]]:
        rows = (line.split() for line in Path("/proc/mounts").read_text().splitlines())
        return [(r[1], r[2]) for r in rows if len(r) >= 3]

    def addresses(self) -> list[tuple[str, Interface]]:
        return [*rtnl.addresses(), *rtnl.addresses6()]

    def route_to(self, ip: Address) -> KernelRoute | None:
        return rtnl.route_to(ip)

    def forwarding(self, name: str) -> bool:
        try:
            return Path(f"/proc/sys/net/ipv4/conf/{name}/forwarding").read_text().strip() == "1"
        except OSError:
            return False

    def tap_owner(self, name: str) -> tuple[int, int]:
        def read(what: str) -> int:
            try:
                return int(Path(f"/sys/class/net/{name}/{what}").read_text())
            except (OSError, ValueError):
                return -1

        return read("owner"), read("group")

    def user(self) -> tuple[int, set[int]]:
        return os.geteuid(), {os.getegid(), *os.getgroups()}

    def which(self, tool: str) -> str | None:
        return shutil.which(tool)

    def xdp_cached(self) -> bool:
        from ssdk.share import cached_xdp_object

        return cached_xdp_object() is not None

    def netmap_device(self) -> str | None:
        try:
            st = os.stat(NETMAP_DEVICE)
        except FileNotFoundError:
            return f"no {NETMAP_DEVICE}: no netmap module"
        except OSError as e:
            return f"{NETMAP_DEVICE}: {e.strerror}"
        if not stat.S_ISCHR(st.st_mode):
            return f"{NETMAP_DEVICE} is not a character device"
        if not os.access(NETMAP_DEVICE, os.R_OK | os.W_OK):
            return f"{NETMAP_DEVICE} is not readable and writable by this user"
        return None
