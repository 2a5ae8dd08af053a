/*
 * nic.h - the backend interface: what every NIC driver (in-memory, AF_PACKET, AF_XDP,
 * TAP, and netmap to come) provides to the loop.
 *
 * serve/loop.c -> nic->rx_burst -> (stack) -> nic->rx_release
 *              -> (stack) nic->tx_slot / nic->tx_commit ... -> nic->tx_flush
 *
 * It is the ring model of netmap and AF_XDP, reduced to what the loop needs: received
 * frames are borrowed in bursts and given back in order; transmit buffers are taken one
 * at a time from the ring, committed with their length, and pushed to the wire by one
 * flush per loop pass, so no system call is made per packet.
 *
 * netmap fits it as it is: rx_burst hands out the slots from head to tail of the RX
 * ring, rx_release moves head and cur past them; tx_slot is the buffer of the slot at
 * cur (NULL when cur meets tail), tx_commit sets its len and moves head and cur on;
 * tx_flush is ioctl(NIOCTXSYNC), and an empty RX ring asks ioctl(NIOCRXSYNC) or poll()
 * on fd for more. One netmap ring per engine, as one AF_XDP queue per engine.
 *
 * A backend may wrap another (nic_impair.c): it then points `inner` at the wrapped one,
 * which it owns and destroys, and may hold frames back until a time it reports through
 * next_due_us.
 */
#ifndef SSDK_NIC_H
#define SSDK_NIC_H
#include <stdint.h>

#define NIC_FRAME_MAX 2000   /* every TX buffer holds at least this many bytes */

/* The backend vouches for the L4 checksum (offload flags of the driver). */
#define FRAME_CSUM_TRUSTED 0x1
/* The frame came over a virtual link (veth, TAP), made by a kernel on this machine: a
 * TCP checksum that fails verification but holds exactly what a sender with checksum
 * offload leaves (gso.h, tcp_csum_left_partial) is taken as local, not as damage. */
#define FRAME_CSUM_LOCAL_LINK 0x2
/* One of the segments the backend cut from a super-frame (gso.c); counted rx_gso_segs. */
#define FRAME_GSO_SEG 0x4

struct frame {
    uint8_t *data;
    uint32_t len;       /* bytes present at data */
    uint32_t wire_len;  /* bytes the frame had on the wire (> len: truncated capture) */
    uint32_t flags;
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
    uint8_t mac[6];
    int has_mac;
};

struct nic *nic_memory_new(uint32_t ring_frames, char *err, unsigned long errlen);
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

/* nic_af_packet_new with options: NIC_AFP_PROMISC receives frames for any MAC. */
#define NIC_AFP_PROMISC 0x1u
struct nic *nic_af_packet_open(const char *ifname, uint32_t ring_frames, unsigned opts,
                               uint16_t fanout, char *err, unsigned long errlen);

/* nic_tap.c: open (or make) the TAP device ifname. */
struct nic *nic_tap_new(const char *ifname, char *err, unsigned long errlen);

/* nic_af_xdp.c (built where <xdp/xsk.h> exists: SSDK_HAVE_AF_XDP). flags: at most one
 * of NIC_XDP_NATIVE (driver mode only) and NIC_XDP_SKB (generic mode only); 0 tries
 * native first, then SKB. ring_frames: UMEM frames, rounded up to a power of two, half
 * for receiving and half for sending. */
#define NIC_XDP_NATIVE 0x1u
#define NIC_XDP_SKB    0x2u
struct nic *nic_af_xdp_new(const char *ifname, uint32_t queue, uint32_t ring_frames,
                           uint32_t flags, char *err, unsigned long errlen);

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
