/*
 * nic_af_packet.c - the AF_PACKET backend: a packet socket bound to one interface with
 * a TPACKET_V2 receive ring and transmit ring, both mapped into our memory.
 *
 * loop.c -> rx_burst (frames the kernel marked TP_STATUS_USER) -> rx_release
 *        -> tx_slot / tx_commit (TP_STATUS_SEND_REQUEST) -> tx_flush (one sendto)
 *
 * Works on any Linux interface, with no driver support needed; it is the portable
 * fallback below AF_XDP. The socket bypasses the qdisc layer and ignores our own
 * outgoing frames. Checksum status flags from the driver are honoured: a frame that a
 * local sender left with a partial checksum (TP_STATUS_CSUMNOTREADY) or that the driver
 * already verified (TP_STATUS_CSUM_VALID) is marked trusted; every other frame has its
 * checksums verified by the stack.
 *
 * nic_af_packet_open(NIC_AFP_PROMISC) also puts the interface in promiscuous mode for
 * as long as the socket lives (a packet-socket membership, dropped when it closes): the
 * impairment bridge (bridge.c) forwards frames addressed to other hosts.
 */
#include <arpa/inet.h>
#include <errno.h>
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
#include "nic.h"

#define FRAME_SIZE 2048u
#define BLOCK_SIZE (1u << 16)
_Static_assert(FRAME_SIZE - (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)) >= NIC_FRAME_MAX,
               "a ring frame must hold NIC_FRAME_MAX bytes");

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct nic_afp {
    struct nic nic;
    int fd;
    uint8_t *map;
    size_t map_len;
    uint32_t nframes;        /* per ring */
    uint32_t rx_next, rx_borrowed, tx_next, tx_queued;
    uint8_t *rx_ring, *tx_ring;
    uint64_t rx_drops;
};

static struct tpacket2_hdr *rx_hdr(struct nic_afp *a, uint32_t i)
{
    return (void *)(a->rx_ring + (size_t)(i % a->nframes) * FRAME_SIZE);
}

static struct tpacket2_hdr *tx_hdr(struct nic_afp *a, uint32_t i)
{
    return (void *)(a->tx_ring + (size_t)(i % a->nframes) * FRAME_SIZE);
}

static unsigned afp_rx_burst(struct nic *n, struct frame *out, unsigned max)
{
    struct nic_afp *a = (void *)n;
    unsigned k = 0;
    while (k < max) {
        struct tpacket2_hdr *h = rx_hdr(a, a->rx_next + a->rx_borrowed + k);
        if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
            break;
        out[k].data = (uint8_t *)h + h->tp_mac;
        out[k].len = h->tp_snaplen;
        out[k].wire_len = h->tp_len;
        out[k].flags = (h->tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID))
                           ? FRAME_CSUM_TRUSTED : 0;
        k++;
    }
    a->rx_borrowed += k;
    return k;
}

static void afp_rx_release(struct nic *n, unsigned count)
{
    struct nic_afp *a = (void *)n;
    for (unsigned i = 0; i < count; i++)
        __atomic_store_n(&rx_hdr(a, a->rx_next + i)->tp_status, TP_STATUS_KERNEL,
                         __ATOMIC_RELEASE);
    a->rx_next += count;
    a->rx_borrowed -= count;
}

static uint8_t *afp_tx_slot(struct nic *n)
{
    struct nic_afp *a = (void *)n;
    struct tpacket2_hdr *h = tx_hdr(a, a->tx_next);
    uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (st == TP_STATUS_WRONG_FORMAT)
        st = TP_STATUS_AVAILABLE;  /* the kernel refused it; the slot is ours again */
    if (st != TP_STATUS_AVAILABLE)
        return NULL;
    return (uint8_t *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
}

static void afp_tx_commit(struct nic *n, uint32_t len)
{
    struct nic_afp *a = (void *)n;
    struct tpacket2_hdr *h = tx_hdr(a, a->tx_next);
    h->tp_len = len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    a->tx_next++;
    a->tx_queued++;
}

static void afp_tx_flush(struct nic *n)
{
    struct nic_afp *a = (void *)n;
    if (!a->tx_queued)
        return;
    /* One system call sends every frame queued in this pass. */
    sendto(a->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
    a->tx_queued = 0;
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
    free(a);
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
    if (setsockopt(a->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
        AFP_FAIL("PACKET_RX_RING: %s", strerror(errno));
    if (setsockopt(a->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)))
        AFP_FAIL("PACKET_TX_RING: %s", strerror(errno));
    size_t ring_len = (size_t)blocks * BLOCK_SIZE;
    a->map_len = 2 * ring_len;
    a->map = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, a->fd, 0);
    if (a->map == MAP_FAILED)
        AFP_FAIL("mmap of the packet rings: %s", strerror(errno));
    a->rx_ring = a->map;
    a->tx_ring = a->map + ring_len;
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

struct nic *nic_af_packet_new(const char *ifname, uint32_t ring_frames, uint16_t fanout,
                              char *err, unsigned long errlen)
{
    return nic_af_packet_open(ifname, ring_frames, 0, fanout, err, errlen);
}
