/*
 * netmap_abi.h - the part of netmap's user/kernel interface that nic_netmap.c uses,
 * written here from its documentation (no netmap header is needed to build ssdk).
 *
 * Sources, cited per value below:
 *   [man]  netmap(4), FreeBSD 12.2 (Debian's freebsd-manpages 12.2-1): the structures'
 *          named fields, struct nmreq field by field, NIOCREGIF / NIOCTXSYNC /
 *          NIOCRXSYNC, NR_REG_ONE_NIC, NETMAP_NO_TX_POLL, NS_BUF_CHANGED, the
 *          head/cur/tail rules. The page leaves out the fields it elides ("...") and
 *          every numeric value.
 *   [hdr]  <net/netmap.h> as netmap publishes it (the "ultimate reference", [man] says),
 *          NETMAP_API 14, read for its declarations and comments: field order and types
 *          of netmap_slot, netmap_ring (sem[128] aligned to NM_CACHE_ALIGN 128, then
 *          slot[]) and netmap_if (ni_host_tx_rings, ni_host_rx_rings, ni_spare1[3],
 *          ring_ofs[]), the ioctl encodings, NETMAP_MIN_API 14, the NR_REG_* and NS_*
 *          values. The same header at NETMAP_API 12 (NETMAP_MIN_API 11) for what changed.
 *   [vpp]  FD.io VPP's published API docs of its copy of that header (net_netmap.h,
 *          NETMAP_API 11): the same netmap_ring and netmap_slot fields, NETMAP_MAX_API
 *          15, NETMAP_NO_TX_POLL 0x1000, NETMAP_RING_MASK 0x0fff, NS_BUF_CHANGED 0x1.
 *   [rs]   the netmap-min-sys crate's docs: NIOCREGIF = 0xc03c6992 on Linux, i.e.
 *          _IOWR('i', 146, a 60-byte struct nmreq).
 *
 * Registration: the legacy NIOCREGIF with struct nmreq, not NIOCCTRL with struct
 * nmreq_header. NIOCREGIF is what [man] documents, field by field; its 60 bytes have
 * not changed since API 11, and current netmap (API 14) still takes it through its
 * compatibility layer (netmap.h includes netmap_legacy.h "for backward compatibility").
 * NIOCCTRL's register body (struct nmreq_register) is laid out differently in API 12
 * and API 14 (14 put the host ring counts before nr_mode and moved nr_extra_bufs ahead
 * of nr_flags) [hdr], so a body laid out for one version is misread by the other; the
 * legacy request kept its layout. We set nr_version to 14:
 * current kernels refuse below NETMAP_MIN_API 14 [hdr], and API 11-13 kernels take up
 * to NETMAP_MAX_API 15 [vpp].
 */
#ifndef SSDK_NETMAP_ABI_H
#define SSDK_NETMAP_ABI_H
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/types.h>

#define NM_API_VERSION 14u   /* [hdr] NETMAP_API; accepted by API 11..15 kernels */
#define NM_IFNAMSIZ 16u      /* [man] nr_name[IFNAMSIZ]; IFNAMSIZ is 16 on Linux and BSD */

/* [man] "struct netmap_slot (one per buffer)": all four fields are on the page. */
struct nm_slot {
    uint32_t buf_idx;   /* index of the buffer in the region */
    uint16_t len;       /* bytes of the packet */
    uint16_t flags;     /* NM_SLOT_* */
    uint64_t ptr;       /* NS_INDIRECT only (VALE): unused here */
};
#define NM_SLOT_BUF_CHANGED 0x0001u  /* [man] NS_BUF_CHANGED; value [hdr] [vpp] */

/* [man] "struct netmap_ring (one per ring)"; the fields the page elides, and the
 * order, from [hdr]/[vpp]. sem is opaque room (aligned to 128 bytes), so the slots
 * start at 256 bytes whatever the size of struct timeval. */
struct nm_ring {
    int64_t  buf_ofs;      /* buffer region, relative to this ring */
    uint32_t num_slots;    /* not necessarily a power of two [man] */
    uint32_t nr_buf_size;
    uint16_t ringid;       /* the ring's index */
    uint16_t dir;          /* NM_DIR_TX or NM_DIR_RX */
    uint32_t head;         /* (u) first slot owned by the user */
    uint32_t cur;          /* (u) wake-up point */
    uint32_t tail;         /* (k) first slot owned by the kernel */
    uint32_t flags;
    struct timeval ts;     /* (k) time of the last sync */
    uint8_t  sem[128] __attribute__((aligned(128)));
    struct nm_slot slot[];
};
#define NM_DIR_TX 0u
#define NM_DIR_RX 1u

/* [man] "struct netmap_if (one per interface)": ni_flags, ni_tx_rings, ni_rx_rings,
 * ni_bufs_head are on the page; the name before them, the host ring counts after them
 * and ring_ofs[] (ring offsets from this struct: NIC TX, host TX, NIC RX, host RX; 0 for
 * a ring not bound to this descriptor) from [hdr]. Kernels before API 14 had spare zeroes
 * where the host ring counts are, and always one host ring pair [man]. */
struct nm_if {
    char     ni_name[NM_IFNAMSIZ];
    uint32_t ni_version;
    uint32_t ni_flags;
    uint32_t ni_tx_rings;
    uint32_t ni_rx_rings;
    uint32_t ni_bufs_head;      /* first extra buffer (nr_arg3), linked by their first word */
    uint32_t ni_host_tx_rings;
    uint32_t ni_host_rx_rings;
    uint32_t ni_spare1[3];
    ssize_t  ring_ofs[];
};

/* [man] "struct nmreq", every field named on the page, in its order; the trailing
 * spare word from [hdr] makes the 60 bytes that NIOCREGIF's encoding carries [rs]. */
struct nm_req {
    char     nr_name[NM_IFNAMSIZ];
    uint32_t nr_version;
    uint32_t nr_offset;     /* (o) where the netmap_if is in the region */
    uint32_t nr_memsize;    /* (o) bytes to mmap */
    uint32_t nr_tx_slots;
    uint32_t nr_rx_slots;
    uint16_t nr_tx_rings;
    uint16_t nr_rx_rings;
    uint16_t nr_ringid;     /* the ring of NR_REG_ONE_NIC, | NM_NO_TX_POLL */
    uint16_t nr_cmd;
    uint16_t nr_arg1;
    uint16_t nr_arg2;
    uint32_t nr_arg3;       /* (i/o) extra buffers asked for / given */
    uint32_t nr_flags;      /* NM_REG_* */
    uint32_t nr_spare2;
};
#define NM_REG_MASK    0xfu     /* [hdr] the NR_REG_* part of nr_flags */
#define NM_REG_ONE_NIC 4u       /* [man] NR_REG_ONE_NIC; value [hdr] */
#define NM_RING_MASK   0x0fffu  /* [vpp] NETMAP_RING_MASK: the ring in nr_ringid */
#define NM_NO_TX_POLL  0x1000u  /* [man] NETMAP_NO_TX_POLL, or-ed into nr_ringid; [vpp] */

/* [man] the ioctls; numbers [hdr]: group 'i', 146 (register), 148/149 (syncs, no
 * argument). The system's own _IO/_IOWR encode them as its kernel decodes them. */
#define NM_IOC_REGIF  _IOWR('i', 146, struct nm_req)
#define NM_IOC_TXSYNC _IO('i', 148)
#define NM_IOC_RXSYNC _IO('i', 149)

#define NM_DEVICE "/dev/netmap"

/* The layout the kernel shares with us; a wrong one would corrupt memory silently. */
_Static_assert(sizeof(struct nm_slot) == 16, "netmap_slot is 16 bytes");
_Static_assert(offsetof(struct nm_slot, len) == 4 && offsetof(struct nm_slot, ptr) == 8,
               "netmap_slot fields");
_Static_assert(offsetof(struct nm_ring, num_slots) == 8, "netmap_ring.num_slots");
_Static_assert(offsetof(struct nm_ring, nr_buf_size) == 12, "netmap_ring.nr_buf_size");
_Static_assert(offsetof(struct nm_ring, dir) == 18, "netmap_ring.dir");
_Static_assert(offsetof(struct nm_ring, head) == 20 && offsetof(struct nm_ring, cur) == 24
               && offsetof(struct nm_ring, tail) == 28, "netmap_ring head/cur/tail");
_Static_assert(offsetof(struct nm_ring, sem) == 128, "netmap_ring.sem is cache aligned");
_Static_assert(offsetof(struct nm_ring, slot) == 256, "netmap_ring slots start at 256");
_Static_assert(offsetof(struct nm_if, ni_bufs_head) == 32, "netmap_if.ni_bufs_head");
_Static_assert(offsetof(struct nm_if, ni_host_tx_rings) == 36, "netmap_if host rings");
_Static_assert(offsetof(struct nm_if, ring_ofs) == 56, "netmap_if.ring_ofs");
_Static_assert(sizeof(struct nm_req) == 60, "struct nmreq is 60 bytes");
_Static_assert(offsetof(struct nm_req, nr_ringid) == 40 && offsetof(struct nm_req, nr_arg3)
               == 48 && offsetof(struct nm_req, nr_flags) == 52, "struct nmreq fields");
#ifdef __linux__
_Static_assert(NM_IOC_REGIF == 0xc03c6992ul, "NIOCREGIF as [rs] gives it for Linux");
_Static_assert(NM_IOC_TXSYNC == 0x6994ul && NM_IOC_RXSYNC == 0x6995ul, "the sync ioctls");
#endif

/* Ring arithmetic of [man] ("Slot indexes must only move forward"; nm_ring_next). */
static inline uint32_t nm_next(const struct nm_ring *r, uint32_t i)
{
    return i + 1 == r->num_slots ? 0 : i + 1;
}

/* Slots from a up to b (exclusive), moving forward round the ring. */
static inline uint32_t nm_dist(const struct nm_ring *r, uint32_t a, uint32_t b)
{
    return b >= a ? b - a : b + r->num_slots - a;
}

static inline uint8_t *nm_buf(const struct nm_ring *r, uint32_t idx)
{
    return (uint8_t *)r + r->buf_ofs + (size_t)idx * r->nr_buf_size;
}

#endif
