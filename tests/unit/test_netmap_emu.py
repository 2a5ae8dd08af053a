# tests/unit/test_netmap_emu.py: the in-process emulation of netmap's kernel side
# (ssdk/csrc/nic/netmap_emu*.c), checked against the rules of netmap(4) before the
# backend's tests (tests/stack/test_netmap.py) lean on it.
#
# The test plays the user: it calls the emulation's system-call table (the one the
# backend uses in place of /dev/netmap) and reads and writes the shared rings through
# a second statement of the ABI written here from the manual page: struct nmreq field
# by field, netmap_if and netmap_ring's named fields, slots at 256 bytes into a ring.
# Rules checked, quoting netmap(4): "head and cur are only modified by the user
# program; tail is only modified by the kernel"; on TX "slots up to head-1 are pushed
# to the port, and tail may advance"; on RX "slots up to head-1 are returned to the
# kernel ... and tail may advance to report new incoming packets"; "one slot is always
# kept empty"; the kernel touches nothing in head..tail-1 during a call; NS_BUF_CHANGED
# "must be used when the buf_idx in the slot is changed"; ni_bufs_head lists the extra
# buffers, "the first uint32_t of each buffer being the index of the next", 0 ending it.
from __future__ import annotations

import errno
import select
from collections.abc import Iterator
from typing import Any

import pytest
from cffi import FFI

from ssdk.core.runtime.engine import ffi, lib

NIOCREGIF = 0xC03C6992  # _IOWR('i', 146, struct nmreq of 60 bytes), Linux encoding
NIOCTXSYNC, NIOCRXSYNC = 0x6994, 0x6995  # _IO('i', 148), _IO('i', 149)
NR_REG_ONE_NIC, NETMAP_NO_TX_POLL, NS_BUF_CHANGED = 4, 0x1000, 0x0001
POLLIN, POLLOUT, POLLERR = select.POLLIN, select.POLLOUT, select.POLLERR
SLOTS = 16
BUF = 2048
IFNAME = b"emu0"

ABI = FFI()
ABI.cdef("""
struct nmreq { char nr_name[16]; uint32_t nr_version, nr_offset, nr_memsize, nr_tx_slots,
  nr_rx_slots; uint16_t nr_tx_rings, nr_rx_rings, nr_ringid, nr_cmd, nr_arg1, nr_arg2;
  uint32_t nr_arg3, nr_flags, spare2; };
struct netmap_if { char ni_name[16]; uint32_t ni_version, ni_flags, ni_tx_rings,
  ni_rx_rings, ni_bufs_head, ni_host_tx_rings, ni_host_rx_rings, ni_spare1[3];
  int64_t ring_ofs[64]; };
struct netmap_ring { int64_t buf_ofs; uint32_t num_slots, nr_buf_size; uint16_t ringid, dir;
  uint32_t head, cur, tail, flags; };
struct netmap_slot { uint32_t buf_idx; uint16_t len, flags; uint64_t ptr; };
""")


def addr(p: Any, via: FFI = ABI) -> int:
    return int(via.cast("uintptr_t", p))


class Ring:
    """A ring in the shared region, as the user sees it."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.r = ABI.cast("struct netmap_ring *", at)

    def slot(self, i: int) -> Any:
        return ABI.cast("struct netmap_slot *", self.at + 256 + 16 * i)

    def buf(self, idx: int) -> Any:
        return ABI.cast("uint8_t *", self.at + self.r.buf_ofs + idx * self.r.nr_buf_size)

    def write(self, i: int, data: bytes) -> None:
        ABI.memmove(self.buf(self.slot(i).buf_idx), data, len(data))
        self.slot(i).len = len(data)

    def read(self, i: int) -> bytes:
        return bytes(ABI.buffer(self.buf(self.slot(i).buf_idx), self.slot(i).len))

    def advance(self, n: int) -> None:
        """The user's release: head and cur move n slots on."""
        self.r.head = self.r.cur = (self.r.head + n) % self.r.num_slots


class Port:
    """One descriptor of the emulation bound to ring pair `ring`, mapped."""

    def __init__(self, emu: Any, ring: int = 0, extra: int = 0, flags: int = 0) -> None:
        self.emu, self.sys = emu, lib.ssdk_netmap_emu_sys(emu)
        self.fd = self.sys.open(self.sys.ctx, b"/dev/netmap")
        assert self.fd >= 0
        self.req = ABI.new("struct nmreq *", {"nr_version": 14, "nr_flags": NR_REG_ONE_NIC,
                                              "nr_ringid": ring | flags, "nr_arg3": extra})
        self.req.nr_name = IFNAME
        assert self.ioctl(NIOCREGIF, self.req) == 0
        mem = self.sys.mmap(self.sys.ctx, self.fd, self.req.nr_memsize)
        assert mem != ffi.NULL
        self.base = addr(mem, ffi)
        self.nifp = ABI.cast("struct netmap_if *", self.base + self.req.nr_offset)
        host = self.nifp.ni_host_tx_rings
        self.tx = Ring(addr(self.nifp) + self.nifp.ring_ofs[ring])
        self.rx = Ring(addr(self.nifp) + self.nifp.ring_ofs[self.nifp.ni_tx_rings + host + ring])

    def ioctl(self, req: int, arg: Any = None) -> int:
        ptr = ffi.cast("void *", addr(arg)) if arg is not None else ffi.NULL
        return int(self.sys.ioctl(self.sys.ctx, self.fd, req, ptr))

    def sync(self, req: int) -> int:
        """0, or the errno the call failed with."""
        return 0 if self.ioctl(req) == 0 else ffi.errno

    def poll(self, events: int) -> int:
        return int(self.sys.poll(self.sys.ctx, self.fd, events, 0))


@pytest.fixture
def emu() -> Iterator[Any]:
    m = lib.ssdk_netmap_emu_new(IFNAME, 2, SLOTS, 8)
    assert m != ffi.NULL
    yield m
    lib.ssdk_netmap_emu_free(m)


def wire_in(emu: Any, *frames: bytes) -> None:
    for f in frames:
        assert lib.ssdk_netmap_emu_wire_in(emu, f, len(f)) == 0


def wire_out(emu: Any) -> list[bytes]:
    out, buf = [], ffi.new("uint8_t[]", BUF)
    while (n := lib.ssdk_netmap_emu_wire_out(emu, buf, BUF)) > 0:
        out.append(bytes(ffi.buffer(buf, n)))
    return out


def stats(emu: Any) -> dict[str, int]:
    st = ffi.new("struct ssdk_netmap_emu_stats *")
    lib.ssdk_netmap_emu_stats(emu, st)
    return {k: int(getattr(st, k)) for k, _ in ffi.typeof(st[0]).fields}


def frame(i: int, size: int = 60) -> bytes:
    return bytes([i & 0xFF]) * size


# --- registration ------------------------------------------------------------------------


def test_registration_lays_out_the_rings_as_the_page_says(emu: Any) -> None:
    p = Port(emu, ring=1)
    assert p.req.nr_offset != 0 and p.req.nr_offset < p.req.nr_memsize
    assert (p.req.nr_tx_rings, p.req.nr_rx_rings, p.req.nr_tx_slots) == (2, 2, SLOTS)
    assert ABI.string(p.nifp.ni_name) == IFNAME
    # Only the bound pair is reachable: the other rings' offsets are 0.
    assert p.nifp.ring_ofs[0] == 0 and p.nifp.ring_ofs[1] != 0
    assert (p.tx.r.dir, p.tx.r.ringid, p.rx.r.dir, p.rx.r.ringid) == (0, 1, 1, 1)
    # TX: every slot but one available; RX: nothing received yet.
    assert (p.tx.r.head, p.tx.r.cur, p.tx.r.tail) == (0, 0, SLOTS - 1)
    assert (p.rx.r.head, p.rx.r.cur, p.rx.r.tail) == (0, 0, 0)
    idx = [p.tx.slot(i).buf_idx for i in range(SLOTS)] + [
        p.rx.slot(i).buf_idx for i in range(SLOTS)
    ]
    assert 0 not in idx and len(set(idx)) == 2 * SLOTS


def test_registration_errors(emu: Any) -> None:
    sys = lib.ssdk_netmap_emu_sys(emu)
    fd = sys.open(sys.ctx, b"/dev/netmap")
    req = ABI.new("struct nmreq *", {"nr_version": 14, "nr_flags": NR_REG_ONE_NIC})

    def reg() -> int:
        rc = sys.ioctl(sys.ctx, fd, NIOCREGIF, ffi.cast("void *", addr(req)))
        return 0 if rc == 0 else ffi.errno

    assert sys.ioctl(sys.ctx, fd, NIOCTXSYNC, ffi.NULL) == -1 and ffi.errno == errno.ENXIO
    req.nr_name = b"eth9"
    assert reg() == errno.ENXIO  # no such port
    req.nr_name, req.nr_version = IFNAME, 11
    assert reg() == errno.EINVAL  # below NETMAP_MIN_API 14
    req.nr_version, req.nr_ringid = 14, 2
    assert reg() == errno.EINVAL  # the port has rings 0 and 1
    req.nr_ringid = 0
    assert reg() == 0
    assert reg() == errno.EBUSY  # bound already
    assert sys.ioctl(sys.ctx, fd, 0x1234, ffi.NULL) == -1 and ffi.errno == errno.ENOTTY
    assert sys.close(sys.ctx, fd) == 0


# --- TX ---------------------------------------------------------------------------------


def test_txsync_sends_up_to_head_and_moves_tail(emu: Any) -> None:
    p = Port(emu)
    for i in range(3):
        p.tx.write(i, frame(i, 60 + i))
    p.tx.advance(3)
    assert p.sync(NIOCTXSYNC) == 0
    assert wire_out(emu) == [frame(0, 60), frame(1, 61), frame(2, 62)]
    assert p.tx.r.tail == 2  # all sent: every slot but the one before head is ours again
    assert p.sync(NIOCTXSYNC) == 0 and wire_out(emu) == []  # nothing twice


def test_a_nic_reporting_late_holds_slots_back(emu: Any) -> None:
    """The frames leave at the sync; their slots come back as the NIC reports them."""
    p = Port(emu)
    lib.ssdk_netmap_emu_tx_credit(emu, 2)
    for i in range(5):
        p.tx.write(i, frame(i))
    p.tx.advance(5)
    assert p.sync(NIOCTXSYNC) == 0
    assert wire_out(emu) == [frame(i) for i in range(5)]
    assert p.tx.r.tail == 1  # slots 1..4 still the kernel's
    assert p.sync(NIOCTXSYNC) == 0 and p.tx.r.tail == 1  # no news from the NIC
    lib.ssdk_netmap_emu_tx_credit(emu, 2)
    assert p.sync(NIOCTXSYNC) == 0 and p.tx.r.tail == 3
    lib.ssdk_netmap_emu_tx_credit(emu, -1)
    assert p.sync(NIOCTXSYNC) == 0 and p.tx.r.tail == 4 and wire_out(emu) == []


def test_tx_slots_the_user_owns_are_not_touched(emu: Any) -> None:
    p = Port(emu)
    for i in range(SLOTS - 1):
        p.tx.write(i, frame(0xA0 + i, 100))
    p.tx.advance(2)  # two queued; slots 2..14 filled but still the user's
    assert p.sync(NIOCTXSYNC) == 0
    assert len(wire_out(emu)) == 2
    assert [p.tx.read(i) for i in range(2, SLOTS - 1)] == [
        frame(0xA0 + i, 100) for i in range(2, SLOTS - 1)
    ]


def test_tail_is_the_kernels(emu: Any) -> None:
    p = Port(emu)
    p.tx.r.tail = 3  # the user must not write it: ignored and put back
    p.tx.write(0, frame(1))
    p.tx.advance(1)
    assert p.sync(NIOCTXSYNC) == 0
    assert p.tx.r.tail == 0 and wire_out(emu) == [frame(1)]


@pytest.mark.parametrize(
    "head, cur",
    [
        (1, 1),  # past tail: onto the slots the NIC still holds
        (SLOTS, SLOTS),  # outside the ring
        (5, 4),  # cur behind head
    ],
)
def test_a_bad_head_or_cur_resets_the_ring(emu: Any, head: int, cur: int) -> None:
    p = Port(emu)
    lib.ssdk_netmap_emu_tx_credit(emu, 1)
    for i in range(SLOTS):  # every slot a valid frame: only the pointers are wrong
        p.tx.write(i, frame(i))
    p.tx.advance(3)
    assert p.sync(NIOCTXSYNC) == 0 and len(wire_out(emu)) == 3
    assert (p.tx.r.head, p.tx.r.tail) == (3, 0)  # slots 0 (kept empty), 1, 2: the kernel's
    p.tx.r.head, p.tx.r.cur = head, cur
    assert p.sync(NIOCTXSYNC) == errno.EINVAL
    assert (p.tx.r.head, p.tx.r.cur, p.tx.r.tail) == (3, 3, 0)  # the kernel's view again
    assert wire_out(emu) == [] and stats(emu)["resets"] == 1


# --- RX ---------------------------------------------------------------------------------


def test_rxsync_fills_all_slots_but_one(emu: Any) -> None:
    p = Port(emu)
    wire_in(emu, *(frame(i) for i in range(2 * SLOTS)))
    assert p.sync(NIOCRXSYNC) == 0
    assert (p.rx.r.head, p.rx.r.tail) == (0, SLOTS - 1)
    assert [p.rx.read(i) for i in range(SLOTS - 1)] == [frame(i) for i in range(SLOTS - 1)]
    assert stats(emu)["wire_waiting"] == SLOTS + 1
    p.rx.advance(SLOTS - 1)  # all returned
    assert p.sync(NIOCRXSYNC) == 0
    assert p.rx.read(SLOTS - 1) == frame(SLOTS - 1)  # order kept across the wrap


def test_rx_slots_the_user_holds_are_not_touched(emu: Any) -> None:
    p = Port(emu)
    wire_in(emu, *(frame(i, 80) for i in range(4)))
    assert p.sync(NIOCRXSYNC) == 0
    p.rx.advance(1)  # slot 0 returned; 1..3 held
    p.rx.r.cur = 3  # "cur may be moved further ahead ... without returning"
    wire_in(emu, *(frame(0x50 + i, 90) for i in range(20)))
    assert p.sync(NIOCRXSYNC) == 0
    assert [p.rx.read(i) for i in (1, 2, 3)] == [frame(i, 80) for i in (1, 2, 3)]
    assert p.rx.r.tail == 0  # filled up to one slot before head (1)
    assert p.rx.read(4) == frame(0x50, 90)


def test_poll_syncs_and_wakes_as_the_page_says(emu: Any) -> None:
    p = Port(emu, flags=NETMAP_NO_TX_POLL)
    assert p.poll(POLLIN) == 0  # nothing received
    wire_in(emu, frame(1))
    assert p.poll(POLLIN) == POLLIN and p.rx.read(0) == frame(1)
    p.tx.write(0, frame(2))
    p.tx.advance(1)
    assert p.poll(POLLIN) == POLLIN and wire_out(emu) == []  # NO_TX_POLL: not pushed
    assert p.poll(POLLOUT) & POLLOUT and wire_out(emu) == [frame(2)]


def test_the_descriptor_is_readable_while_frames_wait(emu: Any) -> None:
    p = Port(emu)
    waiter = select.poll()
    waiter.register(p.fd, select.POLLIN)
    assert waiter.poll(0) == []
    wire_in(emu, frame(1))
    assert waiter.poll(0) == [(p.fd, select.POLLIN)]
    assert p.sync(NIOCRXSYNC) == 0 and waiter.poll(0) != []  # in the ring, unread
    p.rx.advance(1)
    assert p.sync(NIOCRXSYNC) == 0 and waiter.poll(0) == []


# --- buffer swaps (NS_BUF_CHANGED) ---------------------------------------------------------


def extra_buffers(p: Port) -> list[int]:
    out, idx = [], int(p.nifp.ni_bufs_head)
    while idx:
        out.append(idx)
        idx = int(ABI.cast("uint32_t *", p.tx.buf(idx))[0])
    return out


def test_extra_buffers_are_listed_from_ni_bufs_head(emu: Any) -> None:
    p = Port(emu, extra=3)
    assert p.req.nr_arg3 == 3
    got = extra_buffers(p)
    ring_bufs = {p.tx.slot(i).buf_idx for i in range(SLOTS)}
    assert len(got) == 3 and not ring_bufs & set(got)


def test_tx_buffer_swap_sends_the_new_buffer(emu: Any) -> None:
    p = Port(emu, extra=1)
    (spare,) = extra_buffers(p)
    ABI.memmove(p.tx.buf(spare), frame(0x77, 70), 70)
    s = p.tx.slot(0)
    s.buf_idx, s.len, s.flags = spare, 70, NS_BUF_CHANGED
    p.tx.advance(1)
    assert p.sync(NIOCTXSYNC) == 0
    assert wire_out(emu) == [frame(0x77, 70)] and s.flags == 0  # taken, flag cleared


def test_rx_buffer_swap_receives_into_the_new_buffer(emu: Any) -> None:
    p = Port(emu, extra=1)
    (spare,) = extra_buffers(p)
    wire_in(emu, frame(1))
    assert p.sync(NIOCRXSYNC) == 0
    s = p.rx.slot(0)
    old = s.buf_idx
    s.buf_idx, s.flags = spare, NS_BUF_CHANGED  # keep the received buffer, give a spare
    p.rx.advance(1)
    wire_in(emu, *(frame(0x10 + i) for i in range(SLOTS)))
    assert p.sync(NIOCRXSYNC) == 0 and s.flags == 0  # taken back, flag cleared
    assert p.rx.r.tail == 0  # slots 1..15 filled; slot 0 is the one kept empty
    p.rx.advance(SLOTS - 1)
    assert p.sync(NIOCRXSYNC) == 0
    assert p.rx.read(0) == frame(0x10 + SLOTS - 1)
    assert bytes(ABI.buffer(p.rx.buf(spare), 60)) == frame(0x10 + SLOTS - 1)  # the new one
    assert bytes(ABI.buffer(p.rx.buf(old), 60)) == frame(1)  # now ours, untouched


@pytest.mark.parametrize("bad", [0, 1 << 20])
def test_a_swapped_in_index_outside_the_region_is_refused(emu: Any, bad: int) -> None:
    p = Port(emu)
    s = p.tx.slot(0)
    s.buf_idx, s.len, s.flags = bad, 60, NS_BUF_CHANGED
    p.tx.advance(1)
    assert p.sync(NIOCTXSYNC) == errno.EINVAL
    assert p.tx.r.head == 0 and wire_out(emu) == []


def test_an_injected_failure_fails_one_sync(emu: Any) -> None:
    p = Port(emu)
    p.tx.write(0, frame(3))
    p.tx.advance(1)
    lib.ssdk_netmap_emu_fail_next(emu, 0, errno.EIO, 0)
    assert p.sync(NIOCTXSYNC) == errno.EIO and wire_out(emu) == []
    assert p.sync(NIOCTXSYNC) == 0 and wire_out(emu) == [frame(3)]
    assert stats(emu)["errors"] == 1 and stats(emu)["last_errno"] == errno.EIO


# --- the real device ---------------------------------------------------------------------


def test_the_real_backend_says_why_it_cannot_bind() -> None:
    """Through libc on /dev/netmap: where the device is missing (this machine, any
    without the module) the error says so; where it is there, an interface that does
    not exist is refused by NIOCREGIF."""
    import os

    from ssdk.core.runtime.engine import Engine, EngineConfig, EngineError

    engine = Engine(EngineConfig(ip="198.18.0.2"))
    try:
        with pytest.raises(EngineError) as info:
            engine.attach_netmap("ssdknone0", ring=0)
        if os.path.exists("/dev/netmap"):
            assert "NIOCREGIF on ssdknone0" in str(info.value)
        else:
            assert "cannot open /dev/netmap" in str(info.value)
            assert "no netmap module" in str(info.value)
    finally:
        engine.close()
