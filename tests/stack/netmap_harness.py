# tests/stack/netmap_harness.py: the engine on the netmap backend, over the in-process
# EMULATION of netmap's kernel side (ssdk/csrc/nic/netmap_emu*.c, itself tested against
# netmap(4) in tests/unit/test_netmap_emu.py).
#
# NetmapStack is harness.Stack with the same virtual clock and the same checks on every
# frame out, but its frames cross the netmap rings: the test's frames go onto the
# emulation's wire, NIOCRXSYNC puts them into the RX ring, the real serving loop
# (ssdk_poll) reads them there and writes its answers into TX slots, and NIOCTXSYNC
# puts those on the wire, where take() reads them. A Peer drives it as it drives Stack.
from __future__ import annotations

from typing import Any

from harness import SERVER_IP, SERVER_MAC, Stack, check_frame
from scapy.layers.l2 import Ether
from scapy.packet import Packet, raw

from ssdk.core.runtime.engine import Engine, EngineConfig, EngineError, ffi, lib

EMU_IFNAME = b"nmemu0"
FRAME_CAP = 2048


class NetmapStack(Stack):
    """One engine whose backend is nic_netmap.c over a fresh emulation of `rings` ring
    pairs of `slots` slots, bound to ring pair `ring`."""

    def __init__(
        self, blob: bytes, slots: int = 256, rings: int = 1, ring: int = 0, **config: Any
    ) -> None:
        settings: dict[str, Any] = {"virtual_clock": True, "seed": 1, "max_conns": 8}
        settings.update(config)
        self.config = EngineConfig(ip=SERVER_IP, **settings)
        self.engine = Engine(self.config)
        self.gso_max = 0
        self.super_frames = []
        emu = lib.ssdk_netmap_emu_new(EMU_IFNAME, rings, slots, 0)
        assert emu != ffi.NULL
        err = ffi.new("char[256]")
        # The engine owns the emulation from here on (freed with it, or now on failure).
        if lib.ssdk_nic_netmap_emulated(self.engine._e, emu, EMU_IFNAME, ring, err, 256):
            raise EngineError(ffi.string(err).decode())
        self.engine.backend = "netmap"
        self.engine.load(blob)
        assert ":".join(f"{b:02x}" for b in self.engine.mac) == SERVER_MAC

    @property
    def emu(self) -> Any:
        m = lib.ssdk_netmap_emu_of(self.engine._e)
        assert m != ffi.NULL
        return m

    def put(self, *frames: Packet | bytes) -> None:
        """Frames onto the wire, toward the RX ring (no pass of the loop)."""
        for f in frames:
            data = f if isinstance(f, bytes) else raw(f)
            assert lib.ssdk_netmap_emu_wire_in(self.emu, data, len(data)) == 0

    def send(self, *frames: Packet | bytes) -> list[Ether]:
        self.put(*frames)
        self.engine.poll()
        return self.take()

    def take(self) -> list[Ether]:
        return [check_frame(f) for f in self.wire_out()]

    def wire_out(self) -> list[bytes]:
        out, buf = [], ffi.new("uint8_t[]", FRAME_CAP)
        while (n := lib.ssdk_netmap_emu_wire_out(self.emu, buf, FRAME_CAP)) > 0:
            out.append(bytes(ffi.buffer(buf, n)))
        assert n == 0
        return out

    def emu_stats(self) -> dict[str, int]:
        st = ffi.new("struct ssdk_netmap_emu_stats *")
        lib.ssdk_netmap_emu_stats(self.emu, st)
        return {k: int(getattr(st, k)) for k, _ in ffi.typeof(st[0]).fields}
