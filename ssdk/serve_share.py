"""How one `ssdk serve` shares its interface with the kernel (ssdk/share.py has the
means, docs/sharing.md the story): for every served address, IPv4 and IPv6, whether the
kernel holds it too; the XDP program (AF_XDP) or socket filter (AF_PACKET) built for
them; the nftables guard's addresses; and what the start banner says of it all.

serve.serve -> kernel_holds per address -> share_setup -> Sharing (.xdp, .sock_filter)
            -> guard_addresses -> share.guarded;  Sharing.lines -> the banner
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ssdk.core.runtime.engine import XdpFilter
from ssdk.core.runtime.sockfilter import pack, share_filter_addrs
from ssdk.share import Address, bpffs_mounted, xdp_object

if TYPE_CHECKING:
    from ssdk.serve import ServeOptions


@dataclass
class Sharing:
    """How this serve takes its own traffic apart from the kernel's (ssdk/share.py):
    the XDP program its AF_XDP workers join, or the socket filter its AF_PACKET workers
    attach; which served addresses the kernel holds too (ARP or neighbour discovery, and
    ping, for those stay the kernel's); the multicast MACs let in for ssdk (AF_XDP)."""

    kernel: dict[Address, str] = field(default_factory=dict)  # address -> the kernel's link
    xdp: XdpFilter | None = None
    sock_filter: bytes = b""
    groups: list[str] = field(default_factory=list)

    def lines(self, opts: ServeOptions) -> list[str]:
        """What the start banner says about it."""
        if opts.backend == "netmap":
            return [
                f"netmap on {opts.iface}: netmap takes the interface from the kernel while "
                "ssdk serves; every frame of the bound ring pairs is ssdk's, ARP and ICMP "
                "included"
            ]
        what, kernel = reads(opts, self.kernel), kernel_note(self.kernel)
        out: list[str] = []
        if self.xdp is not None:
            why = (
                "the kernel refused libxdp's dispatcher"
                if bpffs_mounted()
                else "no bpffs at /sys/fs/bpf, so libxdp could not use its dispatcher"
            )
            how = (
                "in libxdp's dispatcher: other XDP programs can share the interface"
                if self.xdp.shared
                else f"alone on the interface: {why}, and no other XDP program can join "
                "while ssdk serves"
            )
            out.append(
                f"XDP program ssdk_share on {opts.iface} ({self.xdp.mode} mode, {how}): "
                f"{what} to ssdk, every other frame to the kernel{kernel}"
            )
        elif self.sock_filter:
            out.append(f"socket filter on {opts.iface}: ssdk reads {what}{kernel}")
        if self.groups:
            out.append(
                f"{opts.iface} lets in {', '.join(self.groups)} while ssdk serves: the "
                "solicited-node groups of its IPv6 addresses, where neighbour "
                "solicitations arrive"
            )
        return out


def reads(opts: ServeOptions, kernel: dict[Address, str]) -> str:
    """What ssdk takes: its addresses and port, and ARP or neighbour discovery and ping
    for those the kernel does not hold."""
    ips = [a.ip for a in opts.served()]
    free = [ip for ip in ips if ip not in kernel]
    ports = opts.ports()
    tcp = f"TCP port {ports[0]}" if len(ports) == 1 else f"TCP ports {', '.join(map(str, ports))}"
    what = f"{', '.join(map(str, ips))} {tcp}"
    v4 = [str(ip) for ip in free if ip.version == 4]
    v6 = [str(ip) for ip in free if ip.version == 6]
    one = len(ips) == 1
    if v4:
        what += f", ARP and ICMP for {'it' if one else ', '.join(v4)}"
    if v6:
        what += f", neighbour discovery and ICMPv6 echo for {'it' if one else ', '.join(v6)}"
    return what


def kernel_note(kernel: dict[Address, str]) -> str:
    """The banner's note on the served addresses the kernel holds as well."""
    if not kernel:
        return ""
    ips = ", ".join(map(str, kernel))
    where = ", ".join(f"{ip} is on {name} too" for ip, name in kernel.items())
    if len(kernel) == 1:
        resolve = "ARP" if next(iter(kernel)).version == 4 else "neighbour discovery"
        return f"; {resolve}, ping and its other ports stay the kernel's ({where})"
    return (
        f"; ARP or neighbour discovery, ping and the other ports of {ips} stay the "
        f"kernel's ({where})"
    )


def share_setup(
    opts: ServeOptions,
    kernel: dict[Address, str],
    attach: Callable[..., XdpFilter] = XdpFilter,
) -> Sharing:
    """Compile and attach the XDP program (AF_XDP), or build the socket filter
    (AF_PACKET), for every served address and port (HTTP's, and HTTPS's where it
    serves HTTPS: ServeOptions.ports); ``kernel``: the served addresses
    the kernel holds too, and where. Raises ShareError or EngineError."""
    share = Sharing(kernel=dict(kernel))
    ports = opts.ports()
    addrs = [(str(a.ip), a.ip not in kernel) for a in opts.served()]
    if opts.backend == "af_xdp":
        obj = xdp_object()
        share.xdp = attach(opts.iface, str(obj), addrs, ports, opts.xdp_mode)
    elif opts.backend == "af_packet":
        share.sock_filter = pack(share_filter_addrs(addrs, tuple(ports)))
    return share


def guard_addresses(opts: ServeOptions, kernel: dict[Address, str]) -> list[tuple[Address, bool]]:
    """(address, the kernel holds it) for KernelGuard: every served address where the
    kernel sees ssdk's frames too (AF_PACKET's copies; AF_XDP's on a queue without a
    socket); elsewhere (a TAP, netmap) only those it holds, as before IPv6."""
    if opts.backend in ("af_packet", "af_xdp"):
        return [(a.ip, a.ip in kernel) for a in opts.served()]
    return [(ip, True) for ip in kernel]
