"""What the kernel says about this namespace's links, addresses and routes, read through
netlink and the SIOCETHTOOL ioctl: no `ip` or `ethtool` process, no privilege.

ssdk doctor / serve's checks (ssdk/tools/doctor/probe.py: LiveProbe)
    -> link(name)       RTM_GETLINK: flags, operstate, MTU, queues, kind, XDP programs
    -> addresses()      RTM_GETADDR dump: every IPv4 address the kernel holds
    -> addresses6()     the same for IPv6
    -> route_to(ip)     RTM_GETROUTE: the interface (and gateway) this host sends ip by
                        (IPv4 or IPv6)
    -> xdp_features()   generic netlink "netdev" DEV_GET: what the driver's XDP can do
    -> ethtool_*()      SIOCETHTOOL: driver name, offload state

Each call is one request and one answer on a fresh socket (well under a millisecond),
so `ssdk serve` can ask before it starts without slowing it. Everything is read in the
caller's network namespace, as netlink always answers for the namespace of the socket.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_ROUTE = 0
NETLINK_GENERIC = 16
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
# Attribute numbers (linux/if_link.h, if_addr.h, rtnetlink.h, genetlink.h, netdev.h).
IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_OPERSTATE, IFLA_EXT_MASK = 3, 4, 18, 16, 29
IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES, IFLA_CARRIER, IFLA_XDP = 31, 32, 33, 43
IFLA_INFO_KIND = 1
IFLA_XDP_ATTACHED, IFLA_XDP_PROG_ID = 2, 4
IFLA_XDP_DRV_PROG_ID, IFLA_XDP_SKB_PROG_ID, IFLA_XDP_HW_PROG_ID = 5, 6, 7
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
RTN_LOCAL = 2
RTN_NOWHERE = (6, 7, 8)  # blackhole, unreachable, prohibit
GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
NETDEV_CMD_DEV_GET, NETDEV_A_DEV_IFINDEX, NETDEV_A_DEV_XDP_FEATURES = 1, 1, 3
# enum netdev_xdp_act
XDP_ACT_BASIC, XDP_ACT_REDIRECT, XDP_ACT_XSK_ZEROCOPY = 1, 2, 8

IFF_UP = 0x1
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")
XDP_ATTACH_MODES = {1: "native", 2: "skb", 3: "offloaded", 4: "multi"}


class NetlinkError(OSError):
    """The kernel answered a request with an error (errno)."""


@dataclass(frozen=True)
class Link:
    """One interface as RTM_GETLINK reports it."""

    index: int
    name: str
    flags: int
    operstate: str
    carrier: bool
    mtu: int
    rx_queues: int  # allocated (num_rx_queues); sysfs' rx-N count is the number in use
    kind: str  # "veth", "tun", "bridge"...; "" for a physical NIC (and lo)
    xdp: dict[str, int]  # attach mode ("native", "skb", "offloaded") -> program id

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


@dataclass(frozen=True)
class KernelRoute:
    """How this host sends to an address: its interface, gateway, and whether the
    address is the kernel's own (delivered locally, never sent). A route of the
    kernel's routing table, not an app's (ssdk.routing.app.Route)."""

    oif: str
    gateway: str | None
    local: bool


def _attrs(data: bytes, off: int = 0) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each netlink attribute from ``off`` on."""
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            return
        yield kind & 0x3FFF, data[off + 4 : off + length]
        off += (length + 3) & ~3


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _cstr(payload: bytes) -> str:
    return payload.split(b"\0", 1)[0].decode(errors="replace")


def _u32(payload: bytes) -> int:
    return int(struct.unpack_from("=I", payload)[0])


def _request(proto: int, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
    """Send one request; the (type, payload) of every message of the answer. An error
    answer raises NetlinkError."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, proto) as s:
        s.settimeout(1.0)
        s.bind((0, 0))
        s.send(struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | flags, 1, 0) + body)
        out: list[tuple[int, bytes]] = []
        while True:
            data = s.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                length, mtype, _, _, _ = struct.unpack_from("=IHHII", data, off)
                payload = data[off + 16 : off + length]
                off += (length + 3) & ~3
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return out  # the acknowledgement that ends a non-dump request
                out.append((mtype, payload))
            if not flags & NLM_F_DUMP and out:
                return out


def _link(payload: bytes) -> Link:
    _, _, index, flags, _ = struct.unpack_from("=BxHiII", payload)
    a = dict(_attrs(payload, 16))
    kind = ""
    if IFLA_LINKINFO in a:
        kind = _cstr(dict(_attrs(a[IFLA_LINKINFO])).get(IFLA_INFO_KIND, b""))
    xdp: dict[str, int] = {}
    if IFLA_XDP in a:
        x = dict(_attrs(a[IFLA_XDP]))
        for attr, mode in (
            (IFLA_XDP_DRV_PROG_ID, "native"),
            (IFLA_XDP_SKB_PROG_ID, "skb"),
            (IFLA_XDP_HW_PROG_ID, "offloaded"),
        ):
            if attr in x:
                xdp[mode] = _u32(x[attr])
        attached = x.get(IFLA_XDP_ATTACHED, b"\0")[0]
        if not xdp and attached in XDP_ATTACH_MODES and IFLA_XDP_PROG_ID in x:
            xdp[XDP_ATTACH_MODES[attached]] = _u32(x[IFLA_XDP_PROG_ID])
    oper = a.get(IFLA_OPERSTATE, b"\0")[0]
    return Link(
        index=index,
        name=_cstr(a.get(IFLA_IFNAME, b"")),
        flags=flags,
        operstate=OPERSTATES[oper] if oper < len(OPERSTATES) else str(oper),
        carrier=bool(a.get(IFLA_CARRIER, b"\1")[0]),
        mtu=_u32(a.get(IFLA_MTU, b"\0" * 4)),
        rx_queues=_u32(a.get(IFLA_NUM_RX_QUEUES, b"\1\0\0\0")),
        kind=kind,
        xdp=xdp,
    )


def link(name: str) -> Link | None:
    """The interface ``name`` of this namespace, or None when there is none."""
    if not name or len(name.encode()) > 15 or "/" in name:
        return None
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    body += _attr(IFLA_IFNAME, name.encode() + b"\0")
    body += _attr(IFLA_EXT_MASK, struct.pack("=I", RTEXT_FILTER_SKIP_STATS))
    try:
        msgs = _request(NETLINK_ROUTE, RTM_GETLINK, 0, body)
    except NetlinkError as e:
        if e.errno in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
            return None
        raise
    return next((_link(p) for t, p in msgs if t == RTM_NEWLINK), None)


def link_name(index: int) -> str:
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0)
    body += _attr(IFLA_EXT_MASK, struct.pack("=I", RTEXT_FILTER_SKIP_STATS))
    msgs = _request(NETLINK_ROUTE, RTM_GETLINK, 0, body)
    return next((_link(p).name for t, p in msgs if t == RTM_NEWLINK), str(index))


def _addresses(family: int, size: int) -> list[tuple[str, bytes, int]]:
    """Every address of one family the kernel of this namespace holds: (interface, the
    address's bytes, its prefix length)."""
    body = struct.pack("=BBBBI", family, 0, 0, 0, 0)
    names: dict[int, str] = {}
    out: list[tuple[str, bytes, int]] = []
    for mtype, payload in _request(NETLINK_ROUTE, RTM_GETADDR, NLM_F_DUMP, body):
        if mtype != RTM_NEWADDR:
            continue
        fam, prefix, _, _, index = struct.unpack_from("=BBBBI", payload)
        a = dict(_attrs(payload, 8))
        # IFA_LOCAL is our end on point-to-point links; elsewhere IFA_ADDRESS is the address.
        raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
        if fam != family or raw is None or len(raw) != size:
            continue
        if index not in names:
            names[index] = link_name(index)
        out.append((names[index], raw, prefix))
    return out


def addresses() -> list[tuple[str, ipaddress.IPv4Interface]]:
    """Every IPv4 address the kernel of this namespace holds: (interface, address)."""
    return [
        (name, ipaddress.IPv4Interface(f"{socket.inet_ntoa(raw)}/{prefix}"))
        for name, raw, prefix in _addresses(socket.AF_INET, 4)
    ]


def addresses6() -> list[tuple[str, ipaddress.IPv6Interface]]:
    """Every IPv6 address the kernel of this namespace holds, link-local ones included:
    (interface, address). A namespace without IPv6 has none."""
    return [
        (name, ipaddress.IPv6Interface((raw, prefix)))
        for name, raw, prefix in _addresses(socket.AF_INET6, 16)
    ]


def route_to(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> KernelRoute | None:
    """How this host would send to ``ip`` (as `ip route get`), None with no route."""
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    body = struct.pack("=BBBBBBBBI", family, ip.max_prefixlen, 0, 0, 0, 0, 0, 0, 0)
    body += _attr(RTA_DST, ip.packed)
    try:
        msgs = _request(NETLINK_ROUTE, RTM_GETROUTE, 0, body)
    except NetlinkError as e:
        if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL, errno.EACCES):
            return None
        raise
    for mtype, payload in msgs:
        if mtype != RTM_NEWROUTE:
            continue
        rtype = payload[7]
        if rtype in RTN_NOWHERE:  # IPv6 answers "no route" with such a route via lo
            return None
        a = dict(_attrs(payload, 12))
        oif = link_name(_u32(a[RTA_OIF])) if RTA_OIF in a else ""
        gw = socket.inet_ntop(family, a[RTA_GATEWAY]) if RTA_GATEWAY in a else None
        return KernelRoute(oif=oif, gateway=gw, local=rtype == RTN_LOCAL)
    return None


def _genl(family: int, cmd: int, attrs: bytes) -> list[dict[int, bytes]]:
    body = struct.pack("=BBH", cmd, 1, 0) + attrs
    return [dict(_attrs(p, 4)) for _, p in _request(NETLINK_GENERIC, family, 0, body)]


def xdp_features(index: int) -> int | None:
    """The driver's XDP abilities (XDP_ACT_* bits), from the "netdev" generic netlink
    family; None where the kernel has no such family (before Linux 6.3)."""
    try:
        fam = _genl(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, _attr(CTRL_ATTR_FAMILY_NAME, b"netdev\0"))
        family = struct.unpack_from("=H", fam[0][CTRL_ATTR_FAMILY_ID])[0]
        dev = _genl(
            family, NETDEV_CMD_DEV_GET, _attr(NETDEV_A_DEV_IFINDEX, struct.pack("=I", index))
        )
    except (NetlinkError, IndexError, KeyError):
        return None
    raw = dev[0].get(NETDEV_A_DEV_XDP_FEATURES) if dev else None
    return int(struct.unpack_from("=Q", raw)[0]) if raw and len(raw) >= 8 else None


# SIOCETHTOOL: the ifreq holds the interface's name and a pointer to the command's buffer.
SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x03
ETHTOOL_GRXCSUM, ETHTOOL_GTXCSUM, ETHTOOL_GTSO, ETHTOOL_GGSO = 0x14, 0x16, 0x1E, 0x23
ETHTOOL_GFLAGS, ETHTOOL_GGRO = 0x25, 0x2B
ETH_FLAG_LRO = 1 << 15
DRVINFO_SIZE = 196  # struct ethtool_drvinfo


def _ethtool(name: str, buf: ctypes.Array[ctypes.c_char]) -> None:
    ifreq = struct.pack("16sP", name.encode(), ctypes.addressof(buf)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def ethtool_driver(name: str) -> str | None:
    """The driver's name (ETHTOOL_GDRVINFO), None where the device reports none (lo)."""
    buf = ctypes.create_string_buffer(struct.pack("=I", ETHTOOL_GDRVINFO), DRVINFO_SIZE)
    try:
        _ethtool(name, buf)
    except OSError:
        return None
    return _cstr(buf.raw[4:36]) or None


def ethtool_offloads(name: str) -> dict[str, bool]:
    """Offloads on (True) or off, by ethtool -k's short names; those the device does
    not report are left out."""
    out: dict[str, bool] = {}
    for key, cmd, mask in (
        ("rx", ETHTOOL_GRXCSUM, 0),
        ("tx", ETHTOOL_GTXCSUM, 0),
        ("tso", ETHTOOL_GTSO, 0),
        ("gso", ETHTOOL_GGSO, 0),
        ("gro", ETHTOOL_GGRO, 0),
        ("lro", ETHTOOL_GFLAGS, ETH_FLAG_LRO),
    ):
        buf = ctypes.create_string_buffer(struct.pack("=II", cmd, 0), 8)
        try:
            _ethtool(name, buf)
        except OSError:
            continue
        value = struct.unpack_from("=I", buf.raw, 4)[0]
        out[key] = bool(value & mask) if mask else bool(value)
    return out


# bpf(2), to name an attached XDP program: BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD.
_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 13, 15
PROG_INFO_SIZE, PROG_INFO_NAME = 128, 64  # struct bpf_prog_info: its first bytes; name's offset


def bpf_prog_name(prog_id: int) -> str | None:
    """The name of BPF program ``prog_id``; None without CAP_SYS_ADMIN (or bpf(2))."""
    nr = _NR_BPF.get(os.uname().machine)
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(struct.pack("=I", prog_id), 128)
    fd = libc.syscall(nr, BPF_PROG_GET_FD_BY_ID, attr, 128)
    if fd < 0:
        return None
    try:
        info = ctypes.create_string_buffer(PROG_INFO_SIZE)
        req = ctypes.create_string_buffer(
            struct.pack("=IIQ", fd, PROG_INFO_SIZE, ctypes.addressof(info)), 128
        )
        if libc.syscall(nr, BPF_OBJ_GET_INFO_BY_FD, req, 128) < 0:
            return None
        return _cstr(info.raw[PROG_INFO_NAME : PROG_INFO_NAME + 16]) or None
    finally:
        os.close(fd)
