/*
 * nic_tap.c - the TAP backend: the stack is the far end of a TAP device, so programs on
 * this very machine (a browser, curl) reach it through the kernel's routing, with no
 * NIC and no second namespace. It is the backend of `ssdk dev`.
 *
 * serve/loop.c -> rx_burst (read() until EAGAIN or the burst is full)
 *              -> rx_release (no-op)
 *              -> tx_slot / tx_commit (frames kept in our buffers) -> tx_flush (one write()
 *                 per frame)
 *              -> tx_commit_gso (gso: a super-frame, vnet_gso_hdr in front)
 *
 * A TAP device moves one frame per read() or write(): there is no ring to share, so
 * this backend makes a system call per packet and is meant for development, not speed.
 * The device is opened by name (IFF_TAP | IFF_NO_PI); if it does not exist it is made,
 * and then lives as long as we hold it. We keep the engine's own MAC: the TAP's MAC
 * belongs to the kernel's side of the link.
 *
 * Offloads: the TAP is never given TUNSETOFFLOAD (nor, without gso, IFF_VNET_HDR), so
 * the device has no checksum or segmentation features (`ethtool -k` on it: tx-checksumming
 * off, tcp-segmentation-offload off). The kernel therefore finishes every checksum
 * (skb_checksum_help) and cuts every GSO super-frame into MTU-sized frames
 * (validate_xmit_skb) before tun's transmit queues a frame for our read(): what we read
 * is complete, and every checksum is verified by the stack (flags 0). GRO on the TAP
 * applies to frames we write, not to those we read.
 *
 * Super-frames (gso). The TAP is opened with IFF_VNET_HDR: every frame read or written
 * has a virtio_net_hdr in front. What we write may then be a super-frame of up to 64 KiB
 * with a partial checksum (vnet_gso_hdr): tun_get_user makes it a GSO skb, which the
 * kernel's TCP takes whole, as from a device with GRO. Receiving is unchanged: without
 * TUNSETOFFLOAD the device still has no offload features, so the header of every frame
 * we read is zero and the frame complete; we read the header and drop it. Each TX
 * buffer then holds a whole super-frame (TAP_BURST of them: 4 MiB).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include "base/check.h"
#include "nic/nic.h"
#include "nic/vnet.h"

#define TAP_BURST 64u
#define TAP_FRAME 2048u
_Static_assert(TAP_FRAME >= NIC_FRAME_MAX, "a TAP buffer must hold NIC_FRAME_MAX bytes");

#define VNET_LEN ((uint32_t)sizeof(struct virtio_net_hdr))

struct nic_tap {
    struct nic nic;
    int fd;
    uint32_t vnet;                  /* VNET_LEN with IFF_VNET_HDR, else 0 */
    uint32_t tx_count;              /* frames committed since the last flush */
    uint32_t tx_stride;             /* bytes per TX buffer: vnet header and frame */
    uint8_t *tx;                    /* TAP_BURST buffers */
    uint8_t rx[TAP_BURST][TAP_FRAME];
    uint32_t tx_len[TAP_BURST];     /* bytes to write, the vnet header included */
};

/* TX buffer i: its virtio_net_hdr (when vnet), then the frame. */
static uint8_t *tx_buf(struct nic_tap *t, uint32_t i)
{
    return t->tx + (size_t)i * t->tx_stride;
}

/* Read frames until the device is empty or the burst full; they live in rx[] until the
 * next rx_burst. */
static unsigned tap_rx_burst(struct nic *n, struct frame *out, unsigned max)
{
    struct nic_tap *t = (struct nic_tap *)n;
    if (max > TAP_BURST)
        max = TAP_BURST;
    unsigned got = 0;
    struct virtio_net_hdr vh;
    while (got < max) {
        /* The header (zero: the device offloads nothing to us), then the frame. */
        struct iovec iov[2] = {{&vh, t->vnet}, {t->rx[got], TAP_FRAME}};
        ssize_t r = readv(t->fd, iov + !t->vnet, 1 + !!t->vnet);
        if (r <= (ssize_t)t->vnet)
            break;  /* EAGAIN: empty; any other error shows again on the next pass */
        r -= t->vnet;
        out[got] = (struct frame){.data = t->rx[got], .len = (uint32_t)r,
                                  .wire_len = (uint32_t)r, .flags = 0};
        got++;
    }
    return got;
}

static void tap_rx_release(struct nic *n, unsigned count) { (void)n, (void)count; }

static void tap_tx_flush(struct nic *n)
{
    struct nic_tap *t = (struct nic_tap *)n;
    /* A TAP write hands the frame to the kernel's receive path, which does not push
     * back; it fails only while the link is down, and then TCP sends the frame again. */
    for (uint32_t i = 0; i < t->tx_count; i++)
        if (write(t->fd, tx_buf(t, i), t->tx_len[i]) < 0)
            break;
    t->tx_count = 0;
}

/* A buffer for the next frame; when all are used they are written out first, so a
 * TAP never refuses a frame for lack of room. */
static uint8_t *tap_tx_slot(struct nic *n)
{
    struct nic_tap *t = (struct nic_tap *)n;
    if (t->tx_count == TAP_BURST)
        tap_tx_flush(n);
    return tx_buf(t, t->tx_count) + t->vnet;
}

static void tap_tx_commit(struct nic *n, uint32_t len)
{
    struct nic_tap *t = (struct nic_tap *)n;
    if (t->vnet)  /* a frame as it is: no offload asked */
        memset(tx_buf(t, t->tx_count), 0, t->vnet);
    t->tx_len[t->tx_count++] = len + t->vnet;
}

static void tap_tx_commit_gso(struct nic *n, uint32_t len, const struct nic_gso *g)
{
    struct nic_tap *t = (struct nic_tap *)n;
    SSDK_ASSERT(t->vnet && len <= t->nic.gso_max && g->hdr_len < len);
    vnet_gso_hdr(tx_buf(t, t->tx_count), g);
    t->tx_len[t->tx_count++] = len + t->vnet;
}

static int tap_fd(struct nic *n) { return ((struct nic_tap *)n)->fd; }

/* The kernel counts what it could not queue towards us in the TAP's own tx_dropped
 * (ip -s link); we have no ring that could overflow. */
static uint64_t tap_rx_dropped(struct nic *n) { (void)n; return 0; }

static void tap_destroy(struct nic *n)
{
    struct nic_tap *t = (struct nic_tap *)n;
    if (t->fd >= 0)
        close(t->fd);
    free(t->tx);
    free(t);
}

struct nic *nic_tap_new(const char *ifname, int gso, char *err, unsigned long errlen)
{
    if (strlen(ifname) >= IFNAMSIZ) {
        snprintf(err, errlen, "TAP name %s is longer than %d bytes", ifname, IFNAMSIZ - 1);
        return NULL;
    }
    struct nic_tap *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->nic = (struct nic){
        .name = "tap", .mode = NULL, .rx_burst = tap_rx_burst, .rx_release = tap_rx_release,
        .tx_slot = tap_tx_slot, .tx_commit = tap_tx_commit, .tx_flush = tap_tx_flush,
        .fd = tap_fd, .rx_dropped = tap_rx_dropped, .destroy = tap_destroy,
    };
    t->fd = -1;
    t->vnet = gso ? VNET_LEN : 0;
    t->tx_stride = t->vnet + (gso ? NIC_GSO_MAX : TAP_FRAME);
    t->tx = malloc((size_t)TAP_BURST * t->tx_stride);
    if (!t->tx) {
        snprintf(err, errlen, "out of memory");
        tap_destroy(&t->nic);
        return NULL;
    }
    if (gso) {
        t->nic.gso_max = NIC_GSO_MAX;
        t->nic.tx_commit_gso = tap_tx_commit_gso;
    }
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
        tap_destroy(&t->nic);
        return NULL;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | (gso ? IFF_VNET_HDR : 0));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "TAP %s: %s (needs CAP_NET_ADMIN, or a TAP device this "
                 "user owns)", ifname, strerror(errno));
        tap_destroy(&t->nic);
        return NULL;
    }
    return &t->nic;
}
