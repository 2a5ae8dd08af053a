"""The Python face of the C engine: configure it, attach a backend, load a table, run.

cli serve / tests -> Engine(...) -> .attach_*() -> [.impair()] -> .load(bundle)
                  -> .run(ms) | .inject/.poll/.take -> .stats() -> .close()

The C core comes from the cffi extension `ssdk._core`. It is compiled from
`ssdk/csrc` at install time; importing this module checks that the compiled core and
the sources beside it are the same, so an edit to the C files without a rebuild fails
with a message instead of running stale code.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ssdk._srchash import source_hash
from ssdk.core.addrs import Interface, check_addresses, parse_address
from ssdk.core.runtime.impair import Impairment

if TYPE_CHECKING:
    from ssdk.core.runtime.tls import TlsServer


class EngineError(RuntimeError):
    """The C core refused a configuration, a backend or a table."""


def _load_core() -> tuple[Any, Any]:
    try:
        import ssdk._core as _core
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "ssdk's C core is not built; run `pip install -e .` in the source tree "
            f"(or reinstall ssdk): {exc}"
        ) from exc
    built = _core.ffi.string(_core.lib.ssdk_src_hash()).decode()
    if built != source_hash():
        raise ImportError(
            "ssdk's C core is stale: it was compiled from other sources than those in "
            "ssdk/csrc. Rebuild it with `pip install -e .` (or reinstall ssdk)."
        )
    return _core.ffi, _core.lib


ffi, lib = _load_core()

STATS_FIELDS: tuple[str, ...] = tuple(name for name, _ in ffi.typeof("struct ssdk_stats").fields)
IMPAIR_STATS_FIELDS: tuple[str, ...] = tuple(
    name for name, _ in ffi.typeof("struct ssdk_impair_stats").fields
)


XDP_MODES = ("auto", "native", "skb")  # index = the flags of ssdk_nic_af_xdp
HAVE_AF_XDP = bool(lib.ssdk_have_af_xdp())


class XdpFilter:
    """ssdk's XDP program on one interface, attached through libxdp (ssdk/bpf/
    xdp_share.bpf.c, nic/xdp_filter.c): frames for ``addrs`` on TCP ``ports`` go to the
    AF_XDP sockets that join its XSKMAP (Engine.attach_af_xdp); the kernel gets
    everything else. Attached once per interface by the supervisor, whose forked workers
    inherit the map; detach() takes it off.

    ``addrs``: (address, arp_icmp) each, IPv4 or IPv6, with ``arp_icmp`` true where the
    kernel does not hold the address: then ARP or neighbour discovery, and ping, for it
    are ssdk's too. ``mode``: as attach_af_xdp's ("auto": native, else SKB). ``obj``:
    the compiled object (ssdk.share.xdp_object)."""

    def __init__(
        self,
        iface: str,
        obj: str,
        addrs: Sequence[tuple[str, bool]],
        ports: list[int],
        mode: str = "auto",
    ) -> None:
        if mode not in XDP_MODES:
            raise ValueError(f"mode must be one of {', '.join(XDP_MODES)}, not {mode!r}")
        parsed = [(ipaddress.ip_address(a), bool(flag)) for a, flag in addrs]
        v4 = [(a, f) for a, f in parsed if a.version == 4]
        v6 = [(a, f) for a, f in parsed if a.version == 6]
        if not parsed:
            raise ValueError("no address for the XDP program")
        cports = ffi.new("uint16_t[]", ports)
        out = ffi.new("struct ssdk_xdp_filter **")
        err = _err()
        # The loader takes IPv4 at attach (none at all for an IPv6-only serve) and IPv6
        # in a second call, both before any worker's socket joins the map.
        if lib.ssdk_xdp_filter_attach(
            iface.encode(),
            obj.encode(),
            XDP_MODES.index(mode),
            ffi.new("uint32_t[]", [int(a) for a, _ in v4]),
            ffi.new("uint32_t[]", [int(f) for _, f in v4]),
            len(v4),
            cports,
            len(ports),
            out,
            err,
            len(err),
        ):
            _raise(err, "XDP program")
        self._f: Any = out[0]
        if v6 and lib.ssdk_xdp_filter_add6(
            self._f,
            b"".join(a.packed for a, _ in v6),
            ffi.new("uint32_t[]", [int(f) for _, f in v6]),
            len(v6),
            cports,
            len(ports),
            err,
            len(err),
        ):
            self.detach()  # nothing half-made stays on the interface
            _raise(err, "XDP program (IPv6 addresses)")
        self.map_fd = int(lib.ssdk_xdp_filter_map_fd(self._f))
        self.mode = XDP_MODES[int(lib.ssdk_xdp_filter_mode(self._f))]  # native or skb
        self.shared = bool(lib.ssdk_xdp_filter_shared(self._f))

    def test_run(self, frame: bytes) -> int:
        """The program's action for ``frame`` as if it came in on queue 0, run by the
        kernel (BPF_PROG_TEST_RUN): 2 XDP_PASS, 4 XDP_REDIRECT (only where a socket is
        at index 0 of the XSKMAP; else the redirect falls back to XDP_PASS)."""
        if self._f is None:
            raise EngineError("the XDP program is detached")
        rc = int(lib.ssdk_xdp_filter_test_run(self._f, frame, len(frame)))
        if rc < 0:
            raise EngineError(f"BPF_PROG_TEST_RUN: {os.strerror(-rc)}")
        return rc

    def detach(self) -> None:
        """Take the program off the interface (again: nothing)."""
        if self._f is not None:
            lib.ssdk_xdp_filter_detach(self._f)
            self._f = None


def parse_mac(mac: str | bytes) -> bytes:
    """'02:00:00:00:00:01' or 6 raw bytes -> 6 raw bytes."""
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise ValueError("a MAC address has 6 bytes")
        return mac
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def set_addresses(cfg: Any, addrs: Sequence[Interface]) -> None:
    """Fill ssdk_config's address list (and ip, with the first IPv4 address)."""
    check_addresses(addrs)
    for i, a in enumerate(addrs):
        packed = a.ip.packed
        cfg.addrs[i].addr = list(packed if a.version == 6 else bytes(12) + packed)
        cfg.addrs[i].prefix = a.network.prefixlen
        cfg.addrs[i].v6 = int(a.version == 6)
    cfg.naddrs = len(addrs)
    v4 = [a for a in addrs if a.version == 4]
    cfg.ip = int(v4[0].ip) if v4 else 0


@dataclass
class EngineConfig:
    """What an engine is started with; the defaults are ssdk_config_default's."""

    ip: str = ""  # the one IPv4 address when addrs is empty
    port: int = 80
    mac: str | bytes = "02:00:00:00:00:01"
    max_conns: int = 4096
    rto_init_ms: int | None = None
    rto_min_ms: int | None = None
    rto_max_ms: int | None = None
    time_wait_ms: int | None = None
    idle_ms: int | None = None
    header_timeout_ms: int | None = None
    send_timeout_ms: int | None = None  # 0: never
    body_timeout_ms: int | None = None  # 0: never
    max_retries: int | None = None
    cc: int | None = None  # 0 CUBIC, 1 NewReno
    options: int | None = None  # bit 0 timestamps, bit 1 SACK, bit 2 loss probes, bit 3 pacing
    syn_backlog: int | None = None
    synack_retries: int | None = None
    max_conns_per_ip: int | None = None  # 0: no limit
    time_wait_max: int | None = None
    rx_buffers: int | None = None  # 0: max(1024, max_conns / 16), at most max_conns
    seed: int = 0
    virtual_clock: bool = False
    gso: bool = False  # AF_PACKET and TAP open for super-frames (Engine.gso_max says if so)
    tls_port: int = 0  # HTTPS on this port too, with Engine.use_tls's server; 0: none
    # Every address, IPv4 and IPv6, "A.B.C.D/NN" or "X::Y/NN" (the prefix may be left
    # out); when given, ip is not used. At most ADDRS_MAX (ssdk_config.addrs).
    addrs: Sequence[str] = ()

    def to_c(self) -> Any:
        cfg = ffi.new("struct ssdk_config *")
        lib.ssdk_config_default(cfg)
        if self.addrs:
            set_addresses(cfg, [parse_address(a) for a in self.addrs])
        else:
            cfg.ip = int(ipaddress.IPv4Address(self.ip))
        cfg.port = self.port
        cfg.mac = list(parse_mac(self.mac))
        cfg.max_conns = self.max_conns
        for name in (
            "rto_init_ms",
            "rto_min_ms",
            "rto_max_ms",
            "time_wait_ms",
            "idle_ms",
            "header_timeout_ms",
            "send_timeout_ms",
            "body_timeout_ms",
            "max_retries",
            "cc",
            "options",
            "syn_backlog",
            "synack_retries",
            "max_conns_per_ip",
            "time_wait_max",
            "rx_buffers",
        ):
            value = getattr(self, name)
            if value is not None:
                setattr(cfg, name, value)
        cfg.seed = self.seed
        cfg.virtual_clock = int(self.virtual_clock)
        cfg.gso = int(self.gso)
        cfg.tls_port = self.tls_port
        return cfg


def impairment_to_c(imp: Impairment | None) -> Any:
    """A ``struct ssdk_impair *`` for C, or NULL when nothing is to happen."""
    if not imp:
        return ffi.NULL
    c = ffi.new("struct ssdk_impair *")
    c.loss, c.duplicate, c.reorder, c.corrupt = imp.loss, imp.duplicate, imp.reorder, imp.corrupt
    c.delay_ms, c.jitter_ms = imp.delay_ms, imp.jitter_ms
    c.rate_bps, c.queue_bytes = imp.rate_bps, imp.queue_bytes
    return c


def impair_stats_dict(st: Any) -> dict[str, int]:
    """A ``struct ssdk_impair_stats`` as a dict."""
    return {name: int(getattr(st, name)) for name in IMPAIR_STATS_FIELDS}


def _err() -> Any:
    return ffi.new("char[256]")


def _raise(err: Any, what: str) -> None:
    raise EngineError(f"{what}: {ffi.string(err).decode(errors='replace')}")


@dataclass(frozen=True)
class Answer:
    """Engine.answer's result: the response's bytes as stored (Date and Connection
    slots still to be written), and what to do with the request's bytes."""

    status: int
    consumed: int  # bytes of the header block (and empty lines before it)
    body: int  # body bytes that follow, to read and discard
    keep: bool  # the connection stays open
    stream: bytes
    date_off: int
    conn_off: int
    interim: bytes  # a 100 Continue to send first, or b""
    interim_date_off: int
    app: bool = False  # the application answers (no stream): Engine.body, then a handler
    route: int = 0  # ...through this dynamic route
    chunked: bool = False  # ...and the body that follows is chunked (else `body` bytes)
    pending: Any = None  # ...and the request, whose body Engine.body reads


@dataclass(frozen=True)
class Body:
    """Engine.body's result: how many of the bytes given were the body's, and the whole
    request for the application (a struct ssdk_request, valid while its Answer is), or
    the refusal to write (400, 413: it closes), or neither yet."""

    used: int
    request: Any = None
    refusal: Answer | None = None


class Engine:
    """One engine: one backend, one table, one connection pool."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        out = ffi.new("struct ssdk_engine **")
        err = _err()
        if lib.ssdk_engine_new(config.to_c(), out, err, len(err)) != 0:
            _raise(err, "engine")
        self._e = out[0]
        self._blobs: dict[int, Any] = {}  # generation -> the memory C points into
        self._shared: Any = None  # the same for shared counters
        self._calls: Any = None  # the handle the dynamic-route callback gets
        self._tls: Any = None  # the TLS server handed to C (which does not own it)
        self.backend = ""
        self._take_cap = 2048  # the largest frame take() reads (attach_memory)

    def use_tls(self, server: TlsServer) -> None:
        """The TLS server (ssdk.core.runtime.tls) whose handshakes open the connections
        to config.tls_port: before serving. The server must outlive the engine (close
        the engine first); several engines may share one."""
        err = _err()
        if lib.ssdk_engine_tls(self._e, server.ptr, err, len(err)) != 0:
            _raise(err, "TLS")
        self._tls = server

    # -- backends -------------------------------------------------------------------
    def attach_memory(self, ring_frames: int = 4096, gso_max: int = 0) -> None:
        """The in-memory rings. ``gso_max``: 0, or the largest super-frame the backend
        takes (segmentation offload); then every frame taken starts with the 10-byte
        virtio_net_hdr that says how to cut it, as read from a TAP with IFF_VNET_HDR."""
        err = _err()
        if gso_max:
            rc = lib.ssdk_nic_memory_gso(self._e, ring_frames, gso_max, err, len(err))
        else:
            rc = lib.ssdk_nic_memory(self._e, ring_frames, err, len(err))
        if rc != 0:
            _raise(err, "in-memory backend")
        self.backend = "memory"
        self._take_cap = 2048 + gso_max

    @property
    def gso_max(self) -> int:
        """The largest super-frame the backend takes; 0 when it cuts none (no offload,
        not asked for, or an impairment wrapper on top)."""
        return int(lib.ssdk_nic_gso_max(self._e))

    def attach_af_packet(self, iface: str, ring_frames: int = 4096, fanout: int = 0) -> None:
        """A TPACKET_V2 socket on ``iface``. ``fanout``: 0, or a PACKET_FANOUT group id
        that the engines sharing the interface all give; the kernel then hands each
        connection's frames to one of them, by flow hash."""
        if not 0 <= fanout <= 0xFFFF:
            raise ValueError("fanout is a 16-bit group id")
        err = _err()
        if lib.ssdk_nic_af_packet(self._e, iface.encode(), ring_frames, fanout, err, len(err)) != 0:
            _raise(err, "AF_PACKET backend")
        self.backend = "af_packet"

    def attach_tap(self, iface: str) -> None:
        """The TAP device ``iface`` (made if missing); the engine keeps its own MAC."""
        err = _err()
        if lib.ssdk_nic_tap(self._e, iface.encode(), err, len(err)) != 0:
            _raise(err, "TAP backend")
        self.backend = "tap"

    def attach_af_xdp(
        self,
        iface: str,
        queue: int = 0,
        ring_frames: int = 4096,
        mode: str = "auto",
        xdp_filter: XdpFilter | None = None,
    ) -> None:
        """AF_XDP on one queue of ``iface``.

        ``xdp_filter``: ssdk's own XDP program, attached to ``iface`` beforehand (by the
        supervisor): the socket joins its XSKMAP, loads nothing, and gets only ssdk's
        frames, in the mode that program runs in. None: libxdp loads its default program,
        which redirects every frame of the queue to the socket; ``mode`` then says how:
        "auto" tries native (driver) mode, then SKB (generic) mode; "native" or "skb"
        insists on one. ``ring_frames`` UMEM frames, half to receive, half to send.
        """
        if mode not in XDP_MODES:
            raise ValueError(f"mode must be one of {', '.join(XDP_MODES)}, not {mode!r}")
        flags, map_fd = XDP_MODES.index(mode), -1
        if xdp_filter is not None:
            flags, map_fd = XDP_MODES.index(xdp_filter.mode), xdp_filter.map_fd
        err = _err()
        if lib.ssdk_nic_af_xdp(
            self._e, iface.encode(), queue, ring_frames, flags, map_fd, err, len(err)
        ):
            _raise(err, "AF_XDP backend")
        self.backend = "af_xdp"

    def attach_netmap(self, iface: str, ring: int = 0) -> None:
        """netmap on ring pair ``ring`` of ``iface`` (NR_REG_ONE_NIC, through /dev/netmap;
        nic/nic_netmap.c): frames are read and written in the rings' own buffers."""
        err = _err()
        if lib.ssdk_nic_netmap(self._e, iface.encode(), ring, err, len(err)) != 0:
            _raise(err, "netmap backend")
        self.backend = "netmap"

    def socket_filter(self, program: bytes) -> None:
        """Put a classic BPF program (struct sock_filter's, 8 bytes an instruction:
        ssdk.core.runtime.sockfilter) on the AF_PACKET socket: the kernel then queues to
        the rings only the frames it accepts."""
        err = _err()
        if lib.ssdk_nic_socket_filter(self._e, program, len(program) // 8, err, len(err)):
            _raise(err, "socket filter")

    @property
    def backend_mode(self) -> str:
        """How the backend runs ("native, copy", "SKB, copy"...), "" if it does not say."""
        return str(ffi.string(lib.ssdk_nic_mode(self._e)).decode())

    def impair(self, rx: Impairment | None, tx: Impairment | None, seed: int) -> None:
        """Put the impairment layer over the attached backend (attach one first).

        ``rx`` acts on frames coming to the stack, ``tx`` on those it sends; None or an
        empty Impairment leaves that direction alone. The same seed and the same frames
        give the same decisions.
        """
        err = _err()
        if (
            lib.ssdk_impair(self._e, impairment_to_c(rx), impairment_to_c(tx), seed, err, len(err))
            != 0
        ):
            _raise(err, "impairment")

    def impair_stats(self) -> dict[str, dict[str, int]]:
        """{"rx": counters, "tx": counters}; all zero when nothing is impaired."""
        rx = ffi.new("struct ssdk_impair_stats *")
        tx = ffi.new("struct ssdk_impair_stats *")
        lib.ssdk_impair_stats(self._e, rx, tx)
        return {"rx": impair_stats_dict(rx), "tx": impair_stats_dict(tx)}

    @property
    def mac(self) -> bytes:
        buf = ffi.new("uint8_t[6]")
        lib.ssdk_mac_get(self._e, buf)
        return bytes(buf)

    # -- the table ------------------------------------------------------------------
    def load(self, blob: Any) -> int:
        """Serve the table in `blob` (bytes, mmap or memoryview of a bundle's blob); its
        generation number. Loading while a table serves is a hot swap: new requests get
        the new table, responses under way finish from theirs. The engine keeps `blob`
        referenced until no response uses it (see reap_tables)."""
        self.reap_tables()  # frees the slots of finished generations for this one
        buf = ffi.from_buffer(blob)
        err = _err()
        gen = int(lib.ssdk_table_load(self._e, buf, len(buf), err, len(err)))
        if gen == 0:
            ffi.release(buf)  # the caller may close the mapping right away
            _raise(err, "table")
        self._blobs[gen] = (blob, buf)
        return gen

    def reap_tables(self) -> list[Any]:
        """Let go of the tables no response uses any more; the blobs released (their
        owners may close them now)."""
        gens = ffi.new("uint64_t[8]")
        freed: list[Any] = []
        while (n := lib.ssdk_table_retired(self._e, gens, 8)) > 0:
            for g in gens[0:n]:
                blob, buf = self._blobs.pop(int(g))
                ffi.release(buf)
                freed.append(blob)
        return freed

    def answer(self, request: bytes) -> Answer | None:
        """What the request at the start of `request` (bytes from a kernel socket) is
        answered with: a table's response, or the application (app=True; its body then
        through body()). None while its header block is incomplete. The same parser and
        decision as the stack's; no TCP and no backend needed."""
        a = ffi.new("struct ssdk_answer *")
        rc = lib.ssdk_http_answer(self._e, request, len(request), a)
        if rc < 0:
            raise EngineError("no table loaded")
        if rc == 0:
            return None
        return self._answer(a)

    def _answer(self, a: Any) -> Answer:
        blob = self._blobs[int(a.generation)][0] if a.generation else b""
        mv = memoryview(blob)
        stream = bytes(mv[a.stream_off : a.stream_off + a.stream_len])
        interim = bytes(mv[a.interim_off : a.interim_off + a.interim_len])
        return Answer(
            status=int(a.status),
            consumed=int(a.consumed),
            body=int(a.body),
            keep=bool(a.keep),
            stream=stream,
            date_off=int(a.date_off),
            conn_off=int(a.conn_off),
            interim=interim,
            interim_date_off=int(a.interim_date_off),
            app=bool(a.app),
            route=int(a.route),
            chunked=bool(a.chunked),
            pending=ffi.gc(a.pending, lib.ssdk_http_pending_free) if a.pending else None,
        )

    def body(self, ans: Answer, data: bytes) -> Body:
        """The body of the request `ans` gave the application (app=True): `data` are
        bytes that followed its head, or more of them. The C core decodes it
        (Content-Length or chunked) within the route's limit, as the stack does."""
        used = ffi.new("uint32_t *")
        req = ffi.new("struct ssdk_request *")
        a = ffi.new("struct ssdk_answer *")
        pending = ans.pending if ans.pending is not None else ffi.NULL
        rc = lib.ssdk_http_body(self._e, pending, data, len(data), used, req, a)
        if rc < 0:
            raise EngineError("no request waits for its body")
        if rc == 1:
            return Body(int(used[0]), request=req)
        if rc == 2:
            return Body(int(used[0]), refusal=self._answer(a))
        return Body(int(used[0]))

    # -- dynamic routes (ssdk/core/runtime/app_calls.py) --------------------------------------
    def dynamic_route(self, key: str, exact: bool, route_id: int, max_body: int) -> None:
        """Requests for route key `key` (or any key starting with it, exact=False) that
        no table holds go to the callback set with on_requests, as route `route_id`;
        bodies over max_body are answered 413."""
        raw = key.encode("ascii")
        if lib.ssdk_dynamic_route(self._e, raw, len(raw), int(exact), route_id, max_body):
            raise EngineError(f"dynamic route key {key!r} refused")

    def clear_dynamic_routes(self) -> None:
        """Forget every dynamic route (the app's code changed)."""
        lib.ssdk_dynamic_clear(self._e)

    def on_requests(self, fn: Any, handle: Any) -> None:
        """The extern "Python" function that takes each pass's ready requests."""
        self._calls = handle  # keeps the handle alive while C holds it
        lib.ssdk_dynamic_set(self._e, fn, handle)

    def respond(
        self, token: int, stream: bytes, date_off: int, conn_off: int, status: int, keep: bool
    ) -> bool:
        """Answer the request `token` named; False if its connection has gone."""
        rc = lib.ssdk_respond(
            self._e, token, stream, len(stream), date_off, conn_off, status, int(keep)
        )
        if rc == -2:
            raise EngineError("a response without its Date and Connection slots")
        if rc == -3:
            raise MemoryError("no memory for a response")
        return bool(rc == 0)

    # -- the loop -------------------------------------------------------------------
    def run(self, ms: int) -> int:
        """Serve for up to `ms` milliseconds; returns the frames received."""
        return int(lib.ssdk_run(self._e, ms))

    def poll(self) -> int:
        """One pass of the loop, without sleeping."""
        return int(lib.ssdk_poll(self._e))

    # -- in-memory backend and virtual clock ----------------------------------------
    def inject(self, frame: bytes) -> None:
        if lib.ssdk_mem_inject(self._e, frame, len(frame)) != 0:
            raise EngineError("frame not accepted (too long, ring full, or no memory backend)")

    def take(self) -> list[bytes]:
        """Every frame the stack has sent since the last call, oldest first."""
        out: list[bytes] = []
        cap = self._take_cap
        buf = ffi.new("uint8_t[]", cap)
        while (n := lib.ssdk_mem_take(self._e, buf, cap)) > 0:
            out.append(bytes(ffi.buffer(buf, n)))
        if n < 0:
            raise EngineError("cannot take frames: no in-memory backend")
        return out

    @property
    def now_us(self) -> int:
        return int(lib.ssdk_clock_now(self._e))

    def advance(self, ms: float) -> None:
        """Move the virtual clock forward and run the timers that fall due."""
        lib.ssdk_clock_set(self._e, self.now_us + int(ms * 1000))
        self.poll()

    # -- counters -------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        st = ffi.new("struct ssdk_stats *")
        lib.ssdk_stats_get(self._e, st)
        return {name: int(getattr(st, name)) for name in STATS_FIELDS}

    def share_stats(self, mem: Any) -> None:
        """Keep the counters in ``mem`` from now on: a writable buffer of exactly
        ``ffi.sizeof("struct ssdk_stats")`` bytes (a slot of shared memory that other
        processes read). It must outlive the engine."""
        ptr = ffi.from_buffer("struct ssdk_stats *", mem, require_writable=True)
        lib.ssdk_stats_share(self._e, ptr)
        self._shared = (mem, ptr)

    def close(self) -> None:
        if self._e is not None:
            lib.ssdk_engine_free(self._e)
            self._e = None
            for _blob, buf in self._blobs.values():
                ffi.release(buf)
            self._blobs.clear()
            if self._shared is not None:  # so the shared mapping can be closed after us
                ffi.release(self._shared[1])
                if isinstance(self._shared[0], memoryview):
                    self._shared[0].release()
            self._shared = None
            self._tls = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
