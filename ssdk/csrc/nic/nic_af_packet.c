/*
 * nic_af_packet.c - the AF_PACKET backend: a packet socket bound to one interface with
 * a TPACKET_V2 receive ring and transmit ring, both mapped into our memory.
 *
 * serve/loop.c -> rx_burst (frames the kernel marked TP_STATUS_USER) -> rx_release
 *                          (a slot marked TP_STATUS_COPY: take_copy -> recv -> gso_split)
 *              -> tx_slot / tx_commit (TP_STATUS_SEND_REQUEST) -> tx_flush (one sendto)
 *              -> tx_commit_gso (NIC_AFP_GSO: a super-frame, vnet_gso_hdr in front)
 *
 * Works on any Linux interface, with no driver support needed; it is the portable
 * fallback below AF_XDP. The socket bypasses the qdisc layer and ignores our own
 * outgoing frames. Checksum status flags from the kernel are honoured: a frame that a
 * local sender left with a partial checksum (TP_STATUS_CSUMNOTREADY: a veth or TAP
 * peer with TX checksum offload on) or that the driver already verified
 * (TP_STATUS_CSUM_VALID) is marked trusted; every other frame has its checksums
 * verified by the stack.
 *
 * Super-frames. A peer with TSO/GSO on (a veth's default; the interface then sets no
 * limit below 64 KiB) and GRO on our side (a physical NIC's default) hand a packet
 * socket TCP frames of up to 64 KiB, far beyond a ring slot. The socket therefore has
 * PACKET_VNET_HDR (each frame comes with a virtio_net_hdr: gso_type, gso_size, and
 * NEEDS_CSUM / DATA_VALID, the same checksum status as the ring's flags) and
 * PACKET_COPY_THRESH: tpacket_rcv then still writes what fits into the ring slot, marks
 * it TP_STATUS_COPY, and queues the whole frame on the socket as well. rx_burst reads
 * that one with recv (a system call only for such frames; ordinary ones never leave
 * the ring) and cuts a TCP super-frame into gso_size segments (gso.c), which the stack
 * receives like any other frames, trusted as the header says. A frame too big for a
 * slot that is no TCP super-frame, or whose copy the kernel could not queue (the
 * socket's receive buffer was full), is handed on truncated and dropped by the stack
 * (drop_truncated), as before. The transmit ring then expects a virtio_net_hdr in
 * front of every frame as well: zero for a frame sent as it is.
 *
 * Sending super-frames (NIC_AFP_GSO). With a virtio_net_hdr the kernel takes a TX ring
 * frame of up to the ring's frame size whatever the MTU (tpacket_snd, Linux 4.11 on),
 * and virtio_net_hdr_to_skb makes it a GSO skb that the device (TSO) or the kernel
 * (validate_xmit_skb, software GSO) cuts at gso_size, finishing each piece's checksum
 * from the pseudo-header sum we leave (CHECKSUM_PARTIAL). Such frames take the qdisc
 * path (no PACKET_QDISC_BYPASS), where software GSO may replace the skb by its pieces;
 * the bypass drops a replaced skb (measured on a veth with TSO off). The transmit ring is then a
 * ring of 64 KiB frames; a TPACKET_V2 ring has one frame size, so an ACK takes a whole
 * one too, and there are fewer of them: GSO_TX_FRAMES (16 MiB in all, where the plain
 * ring of the default 4096 frames takes 8 MiB). The receive ring is unchanged.
 *
 * nic_af_packet_open(NIC_AFP_PROMISC) also puts the interface in promiscuous mode for
 * as long as the socket lives (a packet-socket membership, dropped when it closes): the
 * impairment bridge (bridge.c) forwards frames addressed to other hosts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <endian.h>
#include <linux/virtio_net.h>
#include "base/check.h"
#include "nic/gso.h"
#include "nic/nic.h"
#include "nic/vnet.h"

#define FRAME_SIZE 2048u
#define BLOCK_SIZE (1u << 16)
#define VNET_LEN ((uint32_t)sizeof(struct virtio_net_hdr))
#define TX_DATA (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))  /* where a TX frame starts */
_Static_assert(FRAME_SIZE - TX_DATA - VNET_LEN >= NIC_FRAME_MAX,
               "a ring frame must hold NIC_FRAME_MAX bytes after a virtio_net_hdr");
/* A whole frame read with recv: a 64 KiB IP packet, its Ethernet header, the vnet header. */
#define COPY_MAX (VNET_LEN + 14u + 65535u)
#define SEG_STRIDE NIC_FRAME_MAX         /* one segment cut from a super-frame */
#define RCVBUF (8 << 20)                 /* room for the queued copies of super-frames */
/* The TX ring with NIC_AFP_GSO: frames of 64 KiB (a block each), GSO_TX_FRAMES of them. A
 * ring slot stays the kernel's until the skb made from it is freed, so fewer slots mean
 * earlier back-pressure, never loss (tx_slot returns NULL); 256 slots hold more than a
 * pass's TX_PASS_BUDGET of segments many times over. */
#define GSO_TX_FRAME (1u << 16)
#define GSO_TX_FRAMES 256u
_Static_assert(GSO_TX_FRAME - TX_DATA - VNET_LEN < NIC_GSO_MAX, "a 64 KiB ring frame");

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct nic_afp {
    struct nic nic;
    int fd;
    uint8_t *map;
    size_t map_len;
    uint32_t nframes;        /* per ring */
    uint32_t rx_next;        /* the oldest slot lent (in part) and not yet given back */
    uint32_t rx_taken;       /* slots from rx_next on that frames were lent from */
    uint32_t head_done;      /* frames of slot rx_next already given back */
    uint16_t *slot_frames;   /* per slot: frames lent from it (a super-frame's segments) */
    uint32_t tx_next, tx_queued;
    uint8_t  tx_kick;        /* the ring was found full: frames wait for a sendto */
    uint32_t tx_nframes, tx_frame;  /* the TX ring's frames and frame size */
    uint8_t *rx_ring, *tx_ring;
    uint64_t rx_drops;
    uint32_t vnet;           /* VNET_LEN with PACKET_VNET_HDR on, else 0 */
    /* The super-frame being lent: read whole into copy, cut into segs. */
    uint8_t *copy, *segs;
    uint32_t seg_lens[GSO_SEG_MAX];
    uint32_t seg_n, seg_lent, seg_flags;
    int seg_busy;            /* segs holds frames until seg_slot is given back */
    uint32_t seg_slot;
};

static struct tpacket2_hdr *rx_hdr(struct nic_afp *a, uint32_t i)
{
    return (void *)(a->rx_ring + (size_t)(i % a->nframes) * FRAME_SIZE);
}

static struct tpacket2_hdr *tx_hdr(struct nic_afp *a, uint32_t i)
{
    return (void *)(a->tx_ring + (size_t)(i % a->tx_nframes) * a->tx_frame);
}

/* Reads the whole frame behind a TP_STATUS_COPY slot and cuts it into segs. Returns the
 * number of frames now in segs, 0 when there is none to lend (no copy was queued, it is
 * no TCP super-frame, or it is malformed): the truncated slot is lent instead. */
static uint32_t take_copy(struct nic_afp *a)
{
    ssize_t r = recv(a->fd, a->copy, COPY_MAX, MSG_DONTWAIT | MSG_TRUNC);
    if (r < (ssize_t)a->vnet || r > (ssize_t)COPY_MAX)
        return 0;
    const struct virtio_net_hdr *vh = (const void *)a->copy;
    const uint8_t *f = a->copy + a->vnet;
    uint32_t len = (uint32_t)r - a->vnet;
    /* NEEDS_CSUM: a local sender left the checksum partial; DATA_VALID: the driver
     * verified it (virtio_net_hdr_from_skb: CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY). */
    int vouched = (vh->flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) != 0;
    a->seg_flags = vouched ? FRAME_CSUM_TRUSTED : 0;
    uint8_t gso = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6) {
        int k = gso_split(f, len, le16toh(vh->gso_size), vouched, a->segs, SEG_STRIDE,
                          GSO_SEG_MAX, a->seg_lens);
        a->seg_flags |= FRAME_GSO_SEG;
        return k > 0 ? (uint32_t)k : 0;
    }
    if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE || len > SEG_STRIDE)
        return 0;
    memcpy(a->segs, f, len);  /* one frame larger than a slot (an MTU above 1900) */
    a->seg_lens[0] = len;
    return 1;
}

/* Lends frames in ring order: a slot's frame in place, or the segments of the super-frame
 * behind a TP_STATUS_COPY slot, which may span several bursts. One super-frame is cut at
 * a time: a second one waits until the first one's slot is given back. */
static unsigned afp_rx_burst(struct nic *n, struct frame *out, unsigned max)
{
    struct nic_afp *a = (void *)n;
    unsigned k = 0;
    while (k < max) {
        if (a->seg_lent < a->seg_n) {  /* the super-frame of the last slot taken */
            out[k++] = (struct frame){
                .data = a->segs + (size_t)a->seg_lent * SEG_STRIDE,
                .len = a->seg_lens[a->seg_lent], .wire_len = a->seg_lens[a->seg_lent],
                .flags = a->seg_flags,
            };
            a->seg_lent++;
            a->slot_frames[a->seg_slot % a->nframes]++;
            continue;
        }
        uint32_t slot = a->rx_next + a->rx_taken;
        struct tpacket2_hdr *h = rx_hdr(a, slot);
        uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        if (!(st & TP_STATUS_USER))
            break;
        uint32_t trusted = (st & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID))
                               ? FRAME_CSUM_TRUSTED : 0;
        if (st & TP_STATUS_COPY) {
            if (a->seg_busy)
                break;  /* segs still lent: this one waits for the next burst */
            a->rx_taken++;
            a->slot_frames[slot % a->nframes] = 0;
            a->seg_slot = slot;
            a->seg_lent = 0;
            a->seg_n = take_copy(a);
            a->seg_busy = 1;
            if (a->seg_n)
                continue;
            a->slot_frames[slot % a->nframes] = 1;  /* lent truncated, as it is */
        } else {
            a->rx_taken++;
            a->slot_frames[slot % a->nframes] = 1;
        }
        out[k++] = (struct frame){
            .data = (uint8_t *)h + h->tp_mac, .len = h->tp_snaplen, .wire_len = h->tp_len,
            .flags = trusted,
        };
    }
    return k;
}

/* Takes back the oldest `count` frames lent; a slot goes back to the kernel once every
 * frame lent from it is back and none is left to lend. */
static void afp_rx_release(struct nic *n, unsigned count)
{
    struct nic_afp *a = (void *)n;
    while (count && a->rx_taken) {
        uint32_t slot = a->rx_next;
        uint32_t left = a->slot_frames[slot % a->nframes] - a->head_done;
        if (count < left) {
            a->head_done += count;
            return;
        }
        count -= left;
        a->head_done += left;
        if (a->seg_busy && a->seg_slot == slot) {
            if (a->seg_lent < a->seg_n)
                return;  /* more segments to lend from it */
            a->seg_busy = 0;
            a->seg_n = a->seg_lent = 0;
        }
        __atomic_store_n(&rx_hdr(a, slot)->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        a->head_done = 0;
        a->rx_next++;
        a->rx_taken--;
    }
}

static uint8_t *afp_tx_slot(struct nic *n)
{
    struct nic_afp *a = (void *)n;
    struct tpacket2_hdr *h = tx_hdr(a, a->tx_next);
    uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (st == TP_STATUS_WRONG_FORMAT)
        st = TP_STATUS_AVAILABLE;  /* the kernel refused it; the slot is ours again */
    if (st != TP_STATUS_AVAILABLE) {
        a->tx_kick = 1;
        return NULL;
    }
    return (uint8_t *)h + TX_DATA + a->vnet;  /* behind the zeroed virtio_net_hdr */
}

static void afp_tx_commit(struct nic *n, uint32_t len)
{
    struct nic_afp *a = (void *)n;
    struct tpacket2_hdr *h = tx_hdr(a, a->tx_next);
    if (a->nic.gso_max)  /* the slot may have carried a super-frame's header before */
        memset((uint8_t *)h + TX_DATA, 0, a->vnet);
    h->tp_len = len + a->vnet;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    a->tx_next++;
    a->tx_queued++;
}

static void afp_tx_commit_gso(struct nic *n, uint32_t len, const struct nic_gso *g)
{
    struct nic_afp *a = (void *)n;
    struct tpacket2_hdr *h = tx_hdr(a, a->tx_next);
    SSDK_ASSERT(a->vnet && len <= a->nic.gso_max && g->hdr_len < len);
    vnet_gso_hdr((uint8_t *)h + TX_DATA, g);
    h->tp_len = len + a->vnet;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    a->tx_next++;
    a->tx_queued++;
}

static void afp_tx_flush(struct nic *n)
{
    struct nic_afp *a = (void *)n;
    if (!a->tx_queued && !a->tx_kick)
        return;
    /* One system call sends every frame queued in this pass. A call may stop short (the
     * socket's send buffer full: EAGAIN); the frames left are the kernel's to send at the
     * next call, so a pass that found the ring full calls again though it queued
     * nothing: else a full ring would wait for a frame that can never be queued. */
    sendto(a->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
    a->tx_queued = 0;
    a->tx_kick = 0;
}

static int afp_fd(struct nic *n) { return ((struct nic_afp *)n)->fd; }

/* PACKET_STATISTICS resets on every read, so the total is kept here. */
static uint64_t afp_rx_dropped(struct nic *n)
{
    struct nic_afp *a = (void *)n;
    struct tpacket_stats st;
    socklen_t len = sizeof(st);
    if (getsockopt(a->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
        a->rx_drops += st.tp_drops;
    return a->rx_drops;
}

static void afp_destroy(struct nic *n)
{
    struct nic_afp *a = (void *)n;
    if (a->map && a->map != MAP_FAILED)
        munmap(a->map, a->map_len);
    if (a->fd >= 0)
        close(a->fd);
    free(a->slot_frames);
    free(a->copy);
    free(a->segs);
    free(a);
}

/* Before the rings exist (the kernel refuses PACKET_VNET_HDR after): the virtio_net_hdr
 * that says how to cut a super-frame, and copies of frames too big for a slot. A kernel
 * without either keeps the old behaviour: such frames are dropped truncated. Returns -1
 * only when memory runs out. */
static int enable_copies(struct nic_afp *a)
{
    int one = 1, rcvbuf = RCVBUF;
    if (setsockopt(a->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)))
        return 0;
    if (setsockopt(a->fd, SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof(one))) {
        int zero = 0;
        setsockopt(a->fd, SOL_PACKET, PACKET_VNET_HDR, &zero, sizeof(zero));
        return 0;
    }
    a->vnet = VNET_LEN;
    /* The copies wait in the receive buffer; beyond rmem_max only with CAP_NET_ADMIN. */
    if (setsockopt(a->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
        setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    a->copy = malloc(COPY_MAX);
    a->segs = malloc((size_t)GSO_SEG_MAX * SEG_STRIDE);
    return a->copy && a->segs ? 0 : -1;
}

#define AFP_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); afp_destroy(&a->nic); return NULL; } while (0)

struct nic *nic_af_packet_open(const char *ifname, uint32_t ring_frames, unsigned opts,
                               uint16_t fanout, char *err, unsigned long errlen)
{
    struct nic_afp *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->fd = -1;
    a->nic = (struct nic){
        .name = "af_packet", .rx_burst = afp_rx_burst, .rx_release = afp_rx_release,
        .tx_slot = afp_tx_slot, .tx_commit = afp_tx_commit, .tx_flush = afp_tx_flush,
        .fd = afp_fd, .rx_dropped = afp_rx_dropped, .destroy = afp_destroy,
    };
    unsigned idx = if_nametoindex(ifname);
    if (!idx)
        AFP_FAIL("interface %s: %s", ifname, strerror(errno));
    a->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (a->fd < 0)
        AFP_FAIL("AF_PACKET socket: %s (needs CAP_NET_RAW)", strerror(errno));
    int v = TPACKET_V2, one = 1;
    if (setsockopt(a->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
        AFP_FAIL("PACKET_VERSION: %s", strerror(errno));
    if (enable_copies(a))
        AFP_FAIL("out of memory");
    if ((opts & NIC_AFP_GSO) && !a->vnet)
        AFP_FAIL("PACKET_VNET_HDR refused by the kernel: no segmentation offload");
    /* Not with super-frames: the bypass (__dev_direct_xmit) drops every skb that
     * validate_xmit_skb had to replace, so one a device without TSO needs cut in
     * software would be lost; dev_queue_xmit's path cuts it and sends the pieces. */
    if (!(opts & NIC_AFP_GSO))
        setsockopt(a->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    setsockopt(a->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    uint32_t per_block = BLOCK_SIZE / FRAME_SIZE;
    uint32_t blocks = (ring_frames + per_block - 1) / per_block;
    if (blocks == 0)
        blocks = 1;
    struct tpacket_req req = {
        .tp_block_size = BLOCK_SIZE, .tp_block_nr = blocks,
        .tp_frame_size = FRAME_SIZE, .tp_frame_nr = blocks * per_block,
    };
    a->nframes = req.tp_frame_nr;
    a->slot_frames = calloc(a->nframes, sizeof(*a->slot_frames));
    if (!a->slot_frames)
        AFP_FAIL("out of memory");
    if (setsockopt(a->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
        AFP_FAIL("PACKET_RX_RING: %s", strerror(errno));
    struct tpacket_req treq = req;
    a->tx_nframes = a->nframes;
    a->tx_frame = FRAME_SIZE;
    if (opts & NIC_AFP_GSO) {
        treq = (struct tpacket_req){
            .tp_block_size = GSO_TX_FRAME, .tp_block_nr = GSO_TX_FRAMES,
            .tp_frame_size = GSO_TX_FRAME, .tp_frame_nr = GSO_TX_FRAMES,
        };
        a->tx_nframes = GSO_TX_FRAMES;
        a->tx_frame = GSO_TX_FRAME;
    }
    if (setsockopt(a->fd, SOL_PACKET, PACKET_TX_RING, &treq, sizeof(treq)))
        AFP_FAIL("PACKET_TX_RING: %s", strerror(errno));
    size_t ring_len = (size_t)blocks * BLOCK_SIZE;
    size_t tx_len = (size_t)treq.tp_block_nr * treq.tp_block_size;
    a->map_len = ring_len + tx_len;
    /* Every frame of the TX ring in flight at once fits the send buffer: the kernel stops
     * a sendto short when the frames it sent and that are not yet freed (on a veth: until
     * the peer's socket has read them) fill it. */
    int sndbuf = (int)(tx_len < INT32_MAX / 2 ? 2 * tx_len : INT32_MAX);
    if (setsockopt(a->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)))
        setsockopt(a->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    a->map = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, a->fd, 0);
    if (a->map == MAP_FAILED)
        AFP_FAIL("mmap of the packet rings: %s", strerror(errno));
    a->rx_ring = a->map;
    a->tx_ring = a->map + ring_len;
    for (uint32_t i = 0; i < a->tx_nframes && a->vnet; i++)  /* no offload asked yet */
        memset((uint8_t *)tx_hdr(a, i) + TX_DATA, 0, a->vnet);
    if (opts & NIC_AFP_GSO) {
        a->nic.gso_max = GSO_TX_FRAME - (uint32_t)TX_DATA - a->vnet;
        a->nic.tx_commit_gso = afp_tx_commit_gso;
    }
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)idx,
    };
    if (bind(a->fd, (struct sockaddr *)&sll, sizeof(sll)))
        AFP_FAIL("bind to %s: %s", ifname, strerror(errno));
    if (fanout) {  /* after bind: the kernel joins the group of the bound interface */
        int arg = fanout | (PACKET_FANOUT_HASH << 16);
        if (setsockopt(a->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)))
            AFP_FAIL("PACKET_FANOUT group %u on %s: %s", fanout, ifname, strerror(errno));
    }
    if (opts & NIC_AFP_PROMISC) {
        struct packet_mreq mr = {.mr_ifindex = (int)idx, .mr_type = PACKET_MR_PROMISC};
        if (setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)))
            AFP_FAIL("promiscuous mode on %s: %s", ifname, strerror(errno));
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(a->fd, SIOCGIFHWADDR, &ifr))
        AFP_FAIL("SIOCGIFHWADDR %s: %s", ifname, strerror(errno));
    memcpy(a->nic.mac, ifr.ifr_hwaddr.sa_data, 6);
    a->nic.has_mac = 1;
    return &a->nic;
}

/* BPF_MAXINSNS: the kernel refuses longer classic programs. */
#define FILTER_MAX 4096u

int nic_af_packet_filter(struct nic *n, const uint8_t *prog, uint32_t count, char *err,
                         unsigned long errlen)
{
    struct nic_afp *a = (void *)n;
    if (count == 0 || count > FILTER_MAX) {
        snprintf(err, errlen, "a socket filter of %u instructions (1 to %u)", count,
                 FILTER_MAX);
        return -1;
    }
    /* Copied into struct sock_filter: the bytes come from Python, unaligned. */
    struct sock_filter *insns = calloc(count, sizeof(*insns));
    if (!insns) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    _Static_assert(sizeof(struct sock_filter) == 8, "struct sock_filter is 8 bytes");
    memcpy(insns, prog, (size_t)count * sizeof(*insns));
    struct sock_fprog fp = {.len = (unsigned short)count, .filter = insns};
    int rc = setsockopt(a->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp));
    int e = errno;
    free(insns);
    if (rc) {
        snprintf(err, errlen, "SO_ATTACH_FILTER: %s", strerror(e));
        return -1;
    }
    return 0;
}

/* Frames to the multicast MAC mac reach the socket too (PACKET_MR_MULTICAST): the
 * interface's own filter lets them in for as long as the socket lives. */
int nic_af_packet_join(struct nic *n, const uint8_t mac[6], char *err, unsigned long errlen)
{
    struct nic_afp *a = (void *)n;
    struct sockaddr_ll sll;
    socklen_t len = sizeof(sll);
    if (getsockname(a->fd, (struct sockaddr *)&sll, &len)) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        return -1;
    }
    struct packet_mreq mr = {.mr_ifindex = sll.sll_ifindex, .mr_type = PACKET_MR_MULTICAST,
                             .mr_alen = 6};
    memcpy(mr.mr_address, mac, 6);
    if (setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
        snprintf(err, errlen, "PACKET_ADD_MEMBERSHIP %02x:%02x:%02x:%02x:%02x:%02x: %s", mac[0],
                 mac[1], mac[2], mac[3], mac[4], mac[5], strerror(errno));
        return -1;
    }
    return 0;
}

struct nic *nic_af_packet_new(const char *ifname, uint32_t ring_frames, uint16_t fanout,
                              char *err, unsigned long errlen)
{
    return nic_af_packet_open(ifname, ring_frames, 0, fanout, err, errlen);
}
