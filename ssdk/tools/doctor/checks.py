"""ssdk's own checks, in the order `ssdk doctor` reports them: the process, the build,
the interface, XDP, the addresses, then the pool's defences against a SYN flood. Each is
registered in table.CHECKS by @check.

table.run_checks -> _core, _privileges, _memlock, ... _syn_flood (target, probe) -> Finding
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ssdk.core.addrs import IPV6_EXTRA, Interface
from ssdk.tools import rtnl

if TYPE_CHECKING:
    pass

from ssdk.tools.doctor.probe import Probe
from ssdk.tools.doctor.table import (
    CAP_BPF,
    CAP_IPC_LOCK,
    CAP_NAMES,
    CAP_NET_ADMIN,
    CAP_NET_RAW,
    CAP_SYS_ADMIN,
    FRAME_OVERHEAD,
    SLOT,
    Finding,
    Status,
    Target,
    check,
    fail,
    ok,
    skip,
    warn,
)

# Drivers with native XDP, for kernels older than 6.3, which cannot be asked (the
# "netdev" netlink family): a list kept by hand, so only a guess.
NATIVE_XDP_DRIVERS = frozenset(
    {
        "veth",
        "virtio_net",
        "tun",
        "mlx5_core",
        "mlx4_en",
        "i40e",
        "ice",
        "ixgbe",
        "ixgbevf",
        "igb",
        "igc",
        "bnxt_en",
        "nfp",
        "qede",
        "ena",
        "gve",
        "hv_netvsc",
        "xen-netfront",
        "sfc",
        "mvneta",
        "mvpp2",
        "stmmac",
        "fec",
        "enetc",
        "dpaa2-eth",
        "atlantic",
        "netdevsim",
        "bonding",
        "thunder-nicvf",
        "lan966x-switch",
        "octeontx2-nicpf",
    }
)
# libxdp's dispatcher takes ssdk's program into its chain; a program attached alone
# (libxdp's default AF_XDP one, an ssdk's own without bpffs, anything else) holds the
# interface, and ssdk's cannot join it.
XDP_DISPATCHER = "xdp_dispatcher"
XDP_PROGRAM_OF_SSDK = "ssdk_share"  # ssdk/bpf/xdp_share.bpf.c's function, as the kernel names it


# The checks, in the order they are reported: the process, the build, the interface,
# XDP, then the addresses.


@check("core")
def _core(t: Target, p: Probe) -> Finding:
    error = p.core_error()
    if error is not None:
        return fail(
            f"ssdk's C core does not load: {error}",
            "pip install -e . in the source tree (or reinstall ssdk)",
        )
    return ok("ssdk's C core loads and matches ssdk/csrc")


@check("privileges")
def _privileges(t: Target, p: Probe) -> Finding:
    have = p.capabilities()

    def held(cap: int) -> bool:
        return bool(have >> cap & 1)

    if t.backend == "tap":
        # A TAP device whose owner (or group) is this user opens without privilege.
        if held(CAP_NET_ADMIN):
            return ok("CAP_NET_ADMIN held (opens any TAP device)")
        if t.iface is not None and p.link(t.iface) is not None:
            uid, gid = p.tap_owner(t.iface)
            euid, groups = p.user()
            if (uid != -1 or gid != -1) and uid in (-1, euid) and (gid == -1 or gid in groups):
                return ok(f"{t.iface} belongs to this user (uid {euid}); no privilege needed")
        return fail(
            "CAP_NET_ADMIN missing: opening a TAP device that is not this user's needs it",
            f"run as root, or make the TAP this user's: ip tuntap add "
            f"dev {t.iface or 'TAP'} mode tap user {p.user()[0]}",
        )
    if t.backend == "netmap":
        # No capability opens it: /dev/netmap's own permissions decide (the netmap check).
        return ok("netmap needs no capability, only /dev/netmap read-write")
    needed = [CAP_NET_RAW]  # AF_PACKET and AF_XDP sockets alike
    why = "a packet socket"
    if t.backend == "af_xdp":
        # Attaching an XDP program is CAP_NET_ADMIN's; loading it and its map CAP_BPF's
        # (or CAP_SYS_ADMIN's, as before Linux 5.8).
        needed += [
            CAP_NET_ADMIN,
            CAP_BPF if held(CAP_BPF) or not held(CAP_SYS_ADMIN) else CAP_SYS_ADMIN,
        ]
        why = "an AF_XDP socket and its XDP program"
    missing = [CAP_NAMES[c] for c in needed if not held(c)]
    names = ", ".join(CAP_NAMES[c] for c in needed)
    if missing:
        return fail(
            f"{', '.join(missing)} missing: {t.backend} needs {names} for {why}",
            f"run as root (sudo), or grant them: systemd AmbientCapabilities="
            f"{' '.join(CAP_NAMES[c] for c in needed)}",
        )
    return ok(f"{names} held")


@check("memlock", backends=("af_xdp",))
def _memlock(t: Target, p: Probe) -> Finding:
    # The kernel charges an AF_XDP UMEM to the user's locked memory and refuses it
    # (ENOBUFS) past RLIMIT_MEMLOCK, unless the process has CAP_IPC_LOCK. The charge is
    # per user, so every worker's UMEM counts.
    if p.capabilities() >> CAP_IPC_LOCK & 1:
        return ok("CAP_IPC_LOCK held: the UMEM is not charged to RLIMIT_MEMLOCK")
    limit = p.memlock()
    if limit == -1:
        return ok("RLIMIT_MEMLOCK unlimited")
    if p.core_error() is not None:
        return skip("no C core to size the UMEM by")
    need = p.umem_bytes() * t.workers
    if limit < need:
        return fail(
            f"RLIMIT_MEMLOCK is {_size(limit)} and {t.workers} worker"
            f"{'s' * (t.workers > 1)} pin {_size(need)} of UMEM (no CAP_IPC_LOCK)",
            f"ulimit -l {need // 1024} (or unlimited; systemd: LimitMEMLOCK="
            "infinity), or run with CAP_IPC_LOCK",
        )
    return ok(
        f"RLIMIT_MEMLOCK {_size(limit)} holds the {_size(need)} of UMEM "
        "(less what this user's other AF_XDP sockets pin)"
    )


@check("libxdp", backends=("af_xdp",))
def _libxdp(t: Target, p: Probe) -> Finding:
    if p.core_error() is not None:
        return skip("no C core")
    if not p.have_af_xdp():
        return fail(
            "ssdk was built without AF_XDP (no libxdp headers at build time)",
            "apt-get install libxdp-dev libbpf-dev, then pip install -e . again",
        )
    return ok("ssdk was built with libxdp")


@check("netmap")
def _netmap(t: Target, p: Probe) -> Finding:
    # Looked at whatever the backend, so that `ssdk doctor` says in one line whether
    # --backend netmap could run here; it fails only when netmap is the backend.
    why = p.netmap_device()
    if t.backend != "netmap":
        return skip(
            "/dev/netmap is there: --backend netmap can run"
            if why is None
            else f"{why}: --backend netmap cannot run here"
        )
    if why is not None:
        return fail(
            f"{why}: the netmap backend binds its rings through it",
            "load the netmap module (Linux: modprobe netmap, once built for this kernel; "
            "FreeBSD: kldload netmap), or --backend af_packet",
            "--backend",
        )
    return ok("/dev/netmap opens read-write (the driver's netmap support shows at start)")


@check("interface")
def _interface(t: Target, p: Probe) -> Finding:
    if t.iface is None:
        return skip("no --iface given")
    link = p.link(t.iface)
    if link is None:
        return fail(
            f"no interface named {t.iface} in this network namespace",
            "ip -br link lists them; run ssdk in the interface's namespace "
            "(ip netns exec NS ssdk ...)",
        )
    if t.backend == "tap" and link.kind != "tun":
        return fail(
            f"{t.iface} is a {link.kind or 'network'} interface, not a TAP device",
            "--backend af_packet, or make a TAP: ip tuntap add dev NAME mode tap",
        )
    if not link.up:
        return fail(f"{t.iface} is down", f"ip link set {t.iface} up")
    if not link.carrier and t.backend != "tap":
        # A TAP has carrier only while a program holds it, that is once ssdk runs.
        other = "its peer is down" if link.kind == "veth" else "no cable or link partner"
        return warn(
            f"{t.iface} is up but has no carrier ({other}): nothing will arrive",
            "bring up the other end (the veth peer, the switch port)",
        )
    return ok(f"{t.iface} is up ({link.kind or 'device'}, operstate {link.operstate})")


@check("queues", needs_link=True)
def _queues(t: Target, p: Probe) -> Finding:
    assert t.iface is not None
    if t.backend == "tap":
        if t.workers > 1:
            return fail("a TAP device is served by one worker", "--workers 1", "--workers")
        return ok("one worker on the TAP's one queue")
    have = p.rx_queues(t.iface) or 1
    if t.backend == "af_packet":
        return ok(
            f"{t.iface} has {have} receive queue{'s' * (have > 1)}; the kernel shares "
            f"flows among {t.workers} worker{'s' * (t.workers > 1)} (fanout)"
        )
    # AF_XDP binds one socket per queue: worker i serves queue --queue + i.
    last = t.queue + t.workers - 1
    if last >= have:
        return fail(
            f"{t.iface} has {have} receive queue{'s' * (have > 1)}; --workers "
            f"{t.workers} from --queue {t.queue} needs queues {t.queue} to {last}",
            f"--workers {max(1, have - t.queue)}" if t.queue < have else "--queue 0",
            "--workers",
        )
    if t.workers < have:
        where = "do not reach ssdk" if t.backend == "netmap" else "reach the kernel, not ssdk"
        return warn(
            f"{t.iface} has {have} receive queues and {t.workers} are served; frames "
            f"on the others {where}",
            f"--workers {have - t.queue}"
            if t.queue == 0
            else f"point RSS at the served queues: ethtool -X {t.iface} start {t.queue} "
            f"equal {t.workers}",
        )
    return ok(f"queues {t.queue} to {last} of {have}, one worker each")


@check("mtu", needs_link=True)
def _mtu(t: Target, p: Probe) -> Finding:
    link = p.link(t.iface or "")
    assert link is not None
    overhead = FRAME_OVERHEAD + (IPV6_EXTRA if t.v6 else 0)  # IPv6's header is longer
    frame = t.mss + overhead
    over = " over IPv6" if t.v6 else ""
    if link.mtu < frame:
        return fail(
            f"{t.iface}'s MTU is {link.mtu}: segments of MSS {t.mss} are {frame}-byte "
            f"packets{over}, which the interface will not send",
            f"--mss {link.mtu - overhead}, or ip link set {t.iface} mtu {frame}",
        )
    return ok(f"MTU {link.mtu} carries MSS {t.mss} ({frame}-byte packets{over})")


@check("xdp-program", backends=("af_packet", "af_xdp"), needs_link=True)
def _xdp_program(t: Target, p: Probe) -> Finding:
    link = p.link(t.iface or "")
    assert link is not None
    if not link.xdp:
        return ok(f"no XDP program on {t.iface}")
    mode, prog = next(iter(link.xdp.items()))
    name = p.prog_name(prog)
    what = f"XDP program {name or '(name unreadable)'} (id {prog}, {mode} mode)"
    off = f"ip link set dev {t.iface} {'xdpgeneric' if mode == 'skb' else 'xdp'} off"
    if t.backend == "af_packet":
        # XDP runs before packet sockets: what it drops or redirects never reaches ssdk.
        return warn(
            f"{what} on {t.iface} sees every frame first: what it drops or "
            "redirects never reaches ssdk",
            f"{off} (if nothing else needs it)",
        )
    if name == XDP_DISPATCHER:
        # libxdp adds ssdk's program to the chain; a queue bound twice still fails.
        return warn(
            f"{what} on {t.iface}: libxdp chains ssdk's program with those there; "
            "another AF_XDP server may serve queues of it, and a queue cannot be "
            "served twice",
            "serve queues no other server does (--queue)",
        )
    if name == XDP_PROGRAM_OF_SSDK:
        return fail(
            f"{what}, ssdk's own, holds {t.iface} alone (no bpffs when it was attached): "
            "another ssdk serve is running there, or one was killed before it could "
            "take its program off",
            f"stop the other ssdk serve; if none runs: {off}",
        )
    return fail(
        f"{what} holds {t.iface} alone: libxdp cannot attach ssdk's program beside it",
        f"{off} (after checking what it is for: ip -d link show {t.iface})",
    )


@check("xdp-build", backends=("af_xdp",))
def _xdp_build(t: Target, p: Probe) -> Finding:
    # serve compiles ssdk/bpf/xdp_share.bpf.c once (ssdk/share.py) and caches the object.
    if p.xdp_cached():
        return ok("ssdk's XDP program is compiled (in ~/.cache/ssdk/bpf)")
    if p.which("clang") is None:
        return fail(
            "no clang to build ssdk's XDP program (ssdk/bpf/xdp_share.bpf.c), which "
            "takes ssdk's frames and leaves the kernel the rest",
            "apt-get install clang (./demo installs it)",
        )
    return ok("clang builds ssdk's XDP program when serve starts")


@check("bpffs", backends=("af_xdp",))
def _bpffs(t: Target, p: Probe) -> Finding:
    where = [m for m, kind in p.mounts() if kind == "bpf"]
    if "/sys/fs/bpf" in where:
        return ok(
            "bpffs at /sys/fs/bpf: libxdp's dispatcher lets other XDP programs share the interface"
        )
    on = t.iface or "the interface"
    return warn(
        f"no bpffs at /sys/fs/bpf: libxdp attaches ssdk's program alone, so no other "
        f"XDP program can share {on} while ssdk runs",
        "mount -t bpf bpf /sys/fs/bpf",
    )


@check("xdp-mode", backends=("af_xdp",), needs_link=True)
def _xdp_mode(t: Target, p: Probe) -> Finding:
    link = p.link(t.iface or "")
    assert link is not None
    driver = p.driver(link.name) or link.kind or "no driver"
    features = p.xdp_features(link)
    if features is not None:
        native = features & rtnl.XDP_ACT_BASIC and features & rtnl.XDP_ACT_REDIRECT
        zc = ", zero-copy" if features & rtnl.XDP_ACT_XSK_ZEROCOPY else ", copy"
        source = "(as the kernel reports)"
    else:
        native = driver in NATIVE_XDP_DRIVERS
        zc = ""
        source = "(a guess from the driver's name: this kernel cannot be asked)"
    if t.xdp_mode == "skb":
        return ok(
            f"SKB mode as asked (native {'possible' if native else 'not offered'} "
            f"on {driver} {source})"
        )
    if native:
        return ok(f"{driver} does native XDP{zc} {source}")
    if t.xdp_mode == "native":
        return fail(
            f"{driver} ({t.iface}) has no native XDP {source}",
            "--xdp-mode auto (or skb) serves in SKB mode",
        )
    return warn(
        f"{driver} ({t.iface}) has no native XDP {source}: ssdk will serve in SKB "
        "(generic) mode, where each frame becomes an skb first, at a fraction of "
        "the speed",
        "use a NIC whose driver has XDP, or --backend af_packet",
    )


@check("offloads", backends=("af_packet", "af_xdp"), needs_link=True)
def _offloads(t: Target, p: Probe) -> Finding:
    assert t.iface is not None
    state = p.offloads(t.iface)
    if not state:
        return skip(f"{t.iface} reports no offload state")
    shown = ", ".join(f"{k} {'on' if v else 'off'}" for k, v in state.items())
    # GRO and LRO merge a flow's segments into frames larger than a ring slot (SLOT).
    # AF_PACKET reads such a frame whole and cuts it again (nic_af_packet.c, gso.c);
    # AF_XDP cannot: a frame over a UMEM frame is dropped. XDP in native mode runs in the
    # driver, before GRO; in SKB mode after it. LRO is the card's, before both, and
    # several drivers refuse native XDP while it is on.
    link = p.link(t.iface)
    native = (
        t.backend == "af_xdp"
        and t.xdp_mode != "skb"
        and link is not None
        and bool((p.xdp_features(link) or 0) & rtnl.XDP_ACT_BASIC)
    )
    merged = [k for k in ("gro", "lro") if state.get(k)]
    if t.backend == "af_xdp":
        merged = [k for k in merged if not (k == "gro" and native)]
    else:
        merged = [k for k in merged if k == "lro"]
    if merged:
        names = " and ".join(k.upper() for k in merged)
        return warn(
            f"{shown}: {names} merge segments into frames over {SLOT} bytes, which "
            f"{t.backend} loses (drop_truncated), and some drivers refuse XDP with LRO",
            f"ethtool -K {t.iface} {' '.join(f'{k} off' for k in merged)}",
        )
    # Receive checksum offload is used (a frame the driver verified is not summed again);
    # on send, TX checksum, TSO and GSO do nothing: ssdk writes every frame whole.
    gro = (
        " (AF_PACKET reads merged frames whole and cuts them again)"
        if t.backend == "af_packet" and state.get("gro")
        else ""
    )
    return ok(f"{shown}: none loses frames{gro}; what ssdk sends uses no offload")


@check("address")
def _address(t: Target, p: Probe) -> Finding:
    if not t.served():
        return skip("no --ip given")
    held = p.addresses()
    return _worst([_address_one(t, p, a, held) for a in t.served()])


def _address_one(
    t: Target, p: Probe, ip: Interface, held_all: list[tuple[str, Interface]]
) -> Finding:
    held = [(name, a) for name, a in held_all if a.ip == ip.ip]
    if held and t.backend == "tap":
        # On a TAP the kernel's end is a host of its own, with its own address.
        name, a = held[0]
        return fail(
            f"the kernel holds {ip.ip} itself (on {name}): this host sends to it "
            "locally, never through the TAP",
            f"ip addr del {a.with_prefixlen} dev {name}",
        )
    if held:
        # ssdk takes its TCP port; the kernel keeps ARP, ping and its other ports. The
        # kernel's TCP would reset ssdk's connections: an nftables rule keeps it off the
        # port while ssdk serves (ssdk/share.py).
        name, a = held[0]
        if p.which("nft") is None:
            return fail(
                f"the kernel holds {ip.ip} too (on {name}) and there is no nft: without "
                "an nftables rule the kernel's TCP resets ssdk's connections",
                f"apt-get install nftables, or ip addr del {a.with_prefixlen} dev {name}",
            )
        return ok(
            f"the kernel holds {ip.ip} too (on {name}): ssdk takes its TCP port and "
            "an nftables rule keeps the kernel off it while ssdk serves; ARP, ping and "
            "the other ports stay the kernel's"
        )
    if ip.version == 6 and t.backend in ("af_packet", "af_xdp") and p.which("nft") is None:
        # The kernel sees ssdk's IPv6 frames too and answers them with unreachables (or
        # forwards them) unless an nftables rule drops them (share.guard_rules).
        return fail(
            f"the kernel does not hold {ip.ip}, and there is no nft: without an nftables "
            "rule it answers ssdk's IPv6 packets with unreachables or forwards them",
            "apt-get install nftables",
        )
    return ok(f"the kernel does not hold {ip.ip}")


_SEVERITY = {Status.FAIL: 3, Status.WARN: 2, Status.OK: 1, Status.SKIP: 0}


def _worst(findings: list[Finding]) -> Finding:
    """One finding for several addresses: the first of the worst kind (its fix with
    it); when all are alike and none needs a fix, their texts together."""
    worst = max(findings, key=lambda f: _SEVERITY[f.status])
    same = [f for f in findings if f.status is worst.status]
    if worst.status in (Status.FAIL, Status.WARN) or len(same) == 1:
        return worst
    return Finding(worst.status, "; ".join(f.text for f in same))


@check("forwarding", backends=("af_packet",), needs_link=True)
def _forwarding(t: Target, p: Probe) -> Finding:
    assert t.iface is not None
    if p.forwarding(t.iface):
        # AF_PACKET reads copies: the kernel still receives every frame for ssdk's
        # address (its MAC is the interface's), and a forwarding kernel routes them on.
        return warn(
            f"IPv4 forwarding is on for {t.iface}: the kernel routes its own copy "
            "of every frame sent to ssdk, so each one leaves twice",
            f"sysctl -w net.ipv4.conf.{t.iface}.forwarding=0",
        )
    return ok(f"IPv4 forwarding is off for {t.iface}")


@check("own-host", needs_link=True)
def _own_host(t: Target, p: Probe) -> Finding:
    if not t.served():
        return skip("no --ip given")
    return _worst([_own_host_one(t, p, a) for a in t.served()])


def _own_host_one(t: Target, p: Probe, addr: Interface) -> Finding:
    ip = addr.ip
    route = p.route_to(ip)
    if route is not None and route.local:
        return skip(f"the kernel holds {ip} (see address)")
    how = (
        f"out of {route.oif}" + (f" via {route.gateway}" if route and route.gateway else "")
        if route is not None
        else ""
    )
    if t.backend == "tap":
        if route is not None and route.oif == t.iface and route.gateway is None:
            return ok(f"this host reaches {ip} through the TAP")
        return fail(
            f"this host sends to {ip} {how or 'nowhere (no route)'}, not into "
            f"{t.iface}, so nothing reaches ssdk",
            f"give {t.iface} an address in {addr.network}: ip addr add {_peer(addr)} dev {t.iface}",
        )
    # AF_PACKET and AF_XDP read what arrives on the interface. This host's own frames
    # to ssdk would leave on it and never come back in (AF_PACKET ignores outgoing
    # frames; XDP sees only received ones), and ssdk's answers would go out on the wire.
    instead = (
        "test from another host or network namespace (ssdk demo shows one), or "
        "serve on a TAP on this host: ssdk dev / --backend tap"
    )
    if route is not None and route.oif == t.iface and route.gateway is None:
        return warn(
            f"this host sends to {ip} {how}, where ssdk cannot see its frames: a "
            "client on this host gets no answer",
            instead,
        )
    if route is not None and route.oif == t.iface:
        return warn(
            f"this host sends to {ip} {how}: ssdk sees those frames only if "
            f"{route.gateway} sends them back onto the link",
            instead,
        )
    where = f"sends to {ip} {how}, not into {t.iface}" if route else f"has no route to {ip}"
    return ok(f"this host {where}: clients reach ssdk over {t.iface}'s link, this host does not")


def _peer(ip: Interface) -> str:
    """An address for the kernel's end of a TAP beside ssdk's: the subnet's first host,
    or the next one when that is ssdk's."""
    hosts = iter(ip.network.hosts())
    first = next(hosts, ip.ip)
    mine = first if first != ip.ip else next(hosts, ip.ip)
    return f"{mine}/{ip.network.prefixlen}"


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n / 1024:g} KiB"


# A half-open entry that gives up after this long or later holds the SYN backlog too
# long under a flood: Linux's default (5 retries) is 63 s, and 6 retries 127 s.
SYNACK_GIVE_UP_MAX_S = 130
RTO_INIT_S, RTO_MAX_S = 1, 60  # ssdk_config_default's rto_init_ms and rto_max_ms


def synack_give_up_s(retries: int) -> int:
    """Seconds from the SYN-ACK until a half-open entry is given up: the RTO doubles
    from 1 s up to 60 s (RFC 6298 5.5) after each of `retries` resends."""
    total, rto = 0, RTO_INIT_S
    for _ in range(retries + 1):
        total += rto
        rto = min(rto * 2, RTO_MAX_S)
    return total


@check("syn-flood")
def _syn_flood(t: Target, p: Probe) -> Finding:
    # SYN cookies (RFC 4987 3.6) take over once the half-open entries reach the smaller
    # of --syn-backlog and half the pool (tcp/conn.c), and whenever the pool is full.
    share = max(1, t.max_conns // 2)
    bound = min(t.syn_backlog, share)
    give_up = synack_give_up_s(t.synack_retries)
    if t.syn_backlog >= t.max_conns:
        return warn(
            f"--syn-backlog {t.syn_backlog} is not below --max-conns {t.max_conns}: "
            f"alone it would let a SYN flood fill the pool; half-open entries stop at half "
            f"the pool ({share}) instead, and SYN cookies answer beyond",
            f"--syn-backlog {share} or less, or a larger --max-conns, to say what happens",
        )
    if give_up > SYNACK_GIVE_UP_MAX_S:
        return warn(
            f"--synack-retries {t.synack_retries}: a half-open entry is kept {give_up} s, "
            f"so a SYN flood's entries hold the backlog that long",
            "--synack-retries 5 (Linux's tcp_synack_retries: 63 s)",
        )
    return ok(
        f"SYN cookies after {bound} half-open connections of {t.max_conns} slots; "
        f"a half-open entry is given up after {give_up} s"
    )
