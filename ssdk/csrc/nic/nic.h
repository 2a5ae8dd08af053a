/*
 * nic.h - the backend interface: what every NIC driver (in-memory, AF_PACKET, AF_XDP,
 * TAP, netmap) provides to the loop.
 *
 * serve/loop.c -> nic->rx_burst -> (stack) -> nic->rx_release
 *              -> (stack) nic->tx_slot / nic->tx_commit ... -> nic->tx_flush
 *
 * It is the ring model of netmap and AF_XDP, reduced to what the loop needs: received
 * frames are borrowed in bursts and given back in order; transmit buffers are taken one
 * at a time from the ring, committed with their length, and pushed to the wire by one
 * flush per loop pass, so no system call is made per packet.
 *
 * netmap fits it as it is (nic_netmap.c): rx_burst hands out the slots from head to
 * tail of the RX ring, rx_release moves head and cur past them; tx_slot is the buffer of
 * the slot at cur (NULL when cur meets tail), tx_commit sets its len and moves head and
 * cur on; tx_flush is ioctl(NIOCTXSYNC), and an empty RX ring asks ioctl(NIOCRXSYNC) or
 * poll() on fd for more. One netmap ring per engine, as one AF_XDP queue per engine.
 *
 * A backend may wrap another (nic_impair.c): it then points `inner` at the wrapped one,
 * which it owns and destroys, and may hold frames back until a time it reports through
 * next_due_us.
 *
 * Segmentation offload. A backend whose kernel or device cuts TCP super-frames sets
 * gso_max (bytes of the largest frame it takes whole, Ethernet header included; 0: none,
 * the default and every wrapper's) and tx_commit_gso. Every buffer tx_slot hands out
 * then holds gso_max bytes, and a frame of any length up to that may be committed with
 * tx_commit_gso and the struct nic_gso that says how to cut it:
 *
 *   (stack) nic->tx_slot -> build one super-frame -> nic->tx_commit_gso(len, &gso)
 *
 * The frame is one Ethernet/IPv4/TCP segment whose IP total length covers all of its
 * payload; the kernel or device cuts the payload into gso_size pieces (the last may be
 * shorter), each with the headers copied, IP length, id and checksum, TCP sequence
 * number and checksum made its own (tcp_gso_segment). Its TCP checksum is left
 * partial (CHECKSUM_PARTIAL): the field holds the folded pseudo-header sum of the whole
 * segment's TCP length, not complemented (gso.h), and whoever cuts it adds the sum of
 * each piece from csum_start on. A frame of one piece is committed with tx_commit.
 */
#ifndef SSDK_NIC_H
#define SSDK_NIC_H
#include <stdint.h>

#define NIC_FRAME_MAX 2000   /* every TX buffer holds at least this many bytes */
/* The largest super-frame any backend takes: an IPv4 packet of 64 KiB and its Ethernet
 * header. */
#define NIC_GSO_MAX (14u + 65535u)

/* The backend vouches for the L4 checksum (offload flags of the driver). */
#define FRAME_CSUM_TRUSTED 0x1
/* The frame came over a virtual link (veth, TAP), made by a kernel on this machine: a
 * TCP checksum that fails verification but holds exactly what a sender with checksum
 * offload leaves (gso.h, tcp_csum_left_partial_sum) is taken as local, not as damage. */
#define FRAME_CSUM_LOCAL_LINK 0x2
/* One of the segments the backend cut from a super-frame (gso.c); counted rx_gso_segs. */
#define FRAME_GSO_SEG 0x4

struct frame {
    uint8_t *data;
    uint32_t len;       /* bytes present at data */
    uint32_t wire_len;  /* bytes the frame had on the wire (> len: truncated capture) */
    uint32_t flags;
};

/* How to cut a super-frame (see the top of this file); offsets from the frame's start. */
struct nic_gso {
    uint16_t hdr_len;      /* Ethernet, IP and TCP headers (options included) */
    uint16_t gso_size;     /* payload bytes per piece: the connection's MSS */
    uint16_t csum_start;   /* where the TCP header starts */
    uint16_t csum_offset;  /* the checksum field, from csum_start */
};

struct nic {
    const char *name;
    /* How the backend runs, for the start banner ("native, zero-copy"...); may be NULL. */
    const char *mode;
    /* Borrow up to max received frames; they stay valid until rx_release. */
    unsigned (*rx_burst)(struct nic *n, struct frame *out, unsigned max);
    void (*rx_release)(struct nic *n, unsigned count);
    /* Next free transmit buffer, or NULL when the ring is full. */
    uint8_t *(*tx_slot)(struct nic *n);
    void (*tx_commit)(struct nic *n, uint32_t len);
    void (*tx_flush)(struct nic *n);
    /* A descriptor that poll() reports readable when frames wait, or -1. */
    int (*fd)(struct nic *n);
    /* Frames the NIC or kernel dropped because the RX ring was full, since start. */
    uint64_t (*rx_dropped)(struct nic *n);
    void (*destroy)(struct nic *n);
    /* Optional (NULL: never holds frames). The engine-clock time at which a frame the
     * backend holds falls due without new input, UINT64_MAX when none; ssdk_run does not
     * sleep past it. */
    uint64_t (*next_due_us)(struct nic *n);
    struct nic *inner;  /* the backend a wrapper wraps; NULL for a real one */
    /* Segmentation offload (top of this file): 0 and NULL where the backend has none. */
    uint32_t gso_max;
    void (*tx_commit_gso)(struct nic *n, uint32_t len, const struct nic_gso *g);
    uint8_t mac[6];
    int has_mac;
};

/* gso_max: 0, or the super-frames the in-memory backend takes (at most NIC_GSO_MAX);
 * with it every frame it sends out is read with a virtio_net_hdr in front, as from a
 * TAP with IFF_VNET_HDR (nic_memory.c). */
struct nic *nic_memory_new(uint32_t ring_frames, uint32_t gso_max, char *err,
                           unsigned long errlen);
/* fanout: 0, or a PACKET_FANOUT group id: sockets of one group on one interface share
 * its frames by flow hash, so each connection stays with one engine. */
struct nic *nic_af_packet_new(const char *ifname, uint32_t ring_frames, uint16_t fanout,
                              char *err, unsigned long errlen);
int  nic_memory_inject(struct nic *n, const uint8_t *frame, uint32_t len);
int  nic_memory_take(struct nic *n, uint8_t *buf, uint32_t cap);

/* The backend at the bottom of a stack of wrappers (the one that holds the rings). */
static inline struct nic *nic_base(struct nic *n)
{
    while (n && n->inner)
        n = n->inner;
    return n;
}

/* nic_af_packet_new with options: NIC_AFP_PROMISC receives frames for any MAC;
 * NIC_AFP_GSO sends super-frames (a transmit ring of 64 KiB frames: gso_max set). */
#define NIC_AFP_PROMISC 0x1u
#define NIC_AFP_GSO     0x2u
struct nic *nic_af_packet_open(const char *ifname, uint32_t ring_frames, unsigned opts,
                               uint16_t fanout, char *err, unsigned long errlen);

/* Puts the classic BPF program prog (n struct sock_filter of 8 bytes each, as the
 * kernel's linux/filter.h lays them out) on an AF_PACKET backend's socket
 * (SO_ATTACH_FILTER): the kernel then queues to the rings only the frames it accepts.
 * ssdk serve's program (ssdk/core/runtime/sockfilter.py) accepts ssdk's own traffic. */
int nic_af_packet_filter(struct nic *n, const uint8_t *prog, uint32_t count, char *err,
                         unsigned long errlen);

/* Frames to the multicast MAC mac are received too (IPv6's solicited-node groups:
 * PACKET_ADD_MEMBERSHIP, PACKET_MR_MULTICAST; dropped when the socket closes). */
int nic_af_packet_join(struct nic *n, const uint8_t mac[6], char *err, unsigned long errlen);

/* nic_tap.c: open (or make) the TAP device ifname. gso: 1 to send super-frames (and
 * receive them: the TAP then has IFF_VNET_HDR and TUNSETOFFLOAD). */
struct nic *nic_tap_new(const char *ifname, int gso, char *err, unsigned long errlen);

/* nic_af_xdp.c (built where <xdp/xsk.h> exists: SSDK_HAVE_AF_XDP). flags: at most one
 * of NIC_XDP_NATIVE (driver mode only) and NIC_XDP_SKB (generic mode only); 0 tries
 * native first, then SKB. ring_frames: UMEM frames, rounded up to a power of two, half
 * for receiving and half for sending. */
#define NIC_XDP_NATIVE 0x1u
#define NIC_XDP_SKB    0x2u
/* xsks_map_fd: -1 has libxdp load its default program, which takes every frame of the
 * queue; or the XSKMAP of ssdk's own program (xdp_filter.c), attached beforehand in the
 * mode flags names (exactly one of the two), which the socket joins at index `queue`
 * instead of loading anything. */
struct nic *nic_af_xdp_new(const char *ifname, uint32_t queue, uint32_t ring_frames,
                           uint32_t flags, int xsks_map_fd, char *err,
                           unsigned long errlen);

/* xdp_filter.c (built with nic_af_xdp.c): ssdk's XDP program (ssdk/bpf/xdp_share.bpf.c,
 * compiled to `obj`) attached to ifname through libxdp, in the mode flags asks (0:
 * native, else SKB; as nic_af_xdp_new). It redirects to the sockets in its XSKMAP the
 * frames for addrs[i] (host byte order) on TCP ports[j], and ARP and ICMP for the
 * addresses whose addr_flags[i] has bit 0 (those the kernel does not hold); it passes
 * everything else to the kernel. NULL with err set on failure. */
struct xdp_filter;
struct xdp_filter *xdp_filter_attach(const char *ifname, const char *obj, uint32_t flags,
                                     const uint32_t *addrs, const uint32_t *addr_flags,
                                     uint32_t naddrs, const uint16_t *ports, uint32_t nports,
                                     char *err, unsigned long errlen);
/* The IPv6 side of the same program, after xdp_filter_attach and before any socket
 * joins: frames for addrs6[i] (16 bytes each, as on the wire) on TCP ports[j] go to the
 * sockets in its XSKMAP, and so do neighbour discovery and ICMPv6 echo for the addresses
 * whose addr6_flags[i] has bit 0 (those the kernel does not hold); ICMPv6 errors
 * quoting a segment from one of those (address, port) pairs go there whatever the flag.
 * 0, or -1 with err set (the maps keep what was filled; detach the filter). */
int xdp_filter_add6(struct xdp_filter *f, const uint8_t *addrs6, const uint32_t *addr6_flags,
                    uint32_t naddrs6, const uint16_t *ports, uint32_t nports, char *err,
                    unsigned long errlen);
/* The XSKMAP's fd, for nic_af_xdp_new (inherited by forked workers). */
int xdp_filter_map_fd(const struct xdp_filter *f);
/* NIC_XDP_NATIVE or NIC_XDP_SKB: the mode the program was attached in. */
uint32_t xdp_filter_mode(const struct xdp_filter *f);
/* 1: libxdp's dispatcher runs it, and other programs can share the interface; 0: it is
 * attached alone (no bpffs), and no other XDP program can join while it is there. */
int xdp_filter_shared(const struct xdp_filter *f);
/* Runs the attached program once on a copy of frame (BPF_PROG_TEST_RUN, as if it came
 * in on queue 0): its action (XDP_PASS 2, XDP_REDIRECT 4...) or a negative errno. A
 * redirect shows only where a socket is in the XSKMAP at index 0: else the program's
 * fallback, XDP_PASS. */
int xdp_filter_test_run(struct xdp_filter *f, const uint8_t *frame, uint32_t len);
/* Takes the program off the interface and frees f (NULL: nothing). */
void xdp_filter_detach(struct xdp_filter *f);

/* nic_netmap.c: ring pair `ring` of ifname through netmap (NR_REG_ONE_NIC). sys: the
 * system calls to make (ssdk.h's struct ssdk_netmap_sys), NULL for libc's on /dev/netmap;
 * the backend owns sys->ctx from then on, and releases it on failure too. */
struct ssdk_netmap_sys;
struct nic *nic_netmap_new(const char *ifname, uint32_t ring, const struct ssdk_netmap_sys *sys,
                           char *err, unsigned long errlen);
/* The ctx of the system-call table under the netmap backend n; NULL for any other. */
void *nic_netmap_ctx(struct nic *n);
/* netmap_emu_mem.c (tests only): ctx as the netmap emulation, NULL if it is none. */
struct ssdk_netmap_emu;
struct ssdk_netmap_emu *netmap_emu_from_ctx(void *ctx);

/* nic_impair.c: wrap `inner` (owned by the wrapper from then on, left alone on failure).
 * rx / tx NULL: that direction passes untouched. now_us: the clock that times held
 * frames; it must outlive the wrapper. pool_frames: frames each impaired direction can
 * hold, allocated here, never grown. */
struct ssdk_impair;
struct ssdk_impair_stats;
struct nic *nic_impair_new(struct nic *inner, const struct ssdk_impair *rx,
                           const struct ssdk_impair *tx, uint64_t seed,
                           const uint64_t *now_us, uint32_t pool_frames, char *err,
                           unsigned long errlen);
/* The wrapper's counters; -1 (and zeroes) if n is not an impairment wrapper. */
int  nic_impair_stats(struct nic *n, struct ssdk_impair_stats *rx,
                      struct ssdk_impair_stats *tx);
/* Whether n is an impairment wrapper. */
int  nic_is_impair(const struct nic *n);

#endif
