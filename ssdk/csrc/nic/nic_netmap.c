/*
 * nic_netmap.c - the netmap backend: one TX/RX ring pair of an interface, bound through
 * /dev/netmap with NR_REG_ONE_NIC and mapped into our memory (netmap(4); the layout is
 * our own, in netmap_abi.h).
 *
 * serve/loop.c -> rx_burst (RX slots head..tail; NIOCRXSYNC first when none is left)
 *              -> rx_release (head = cur past them: the kernel takes them at the next sync)
 *              -> tx_slot (the buffer of TX slot head; NIOCTXSYNC first when head meets tail)
 *              -> tx_commit (len, head = cur one on) -> tx_flush (one NIOCTXSYNC a pass)
 *
 * Frames are read and written in place in the ring's buffers, so no frame is copied; a
 * buffer swap (NS_BUF_CHANGED) would only help a program that forwards what it
 * receives, which ssdk never does, so slots keep the buffers the kernel gave them.
 * netmap uses no checksum or segmentation offload (netmap(4), "SPECIAL NIC FEATURES"):
 * every received frame is verified by the stack, and gso_max is 0.
 *
 * Every system call goes through a struct ssdk_netmap_sys: libc's for /dev/netmap, or
 * the emulation of the kernel's side (netmap_emu.c) in tests. The loop waits as for the
 * other backends, by poll() on fd(); on a netmap descriptor that poll also syncs the RX
 * ring (POLLIN). The binding asks NETMAP_NO_TX_POLL, so frames leave only at
 * NIOCTXSYNC, that is at tx_flush or when the TX ring is full.
 *
 * A sync that fails leaves the backend running: the failure is reported on stderr (once
 * per errno in a row), and if the kernel put head back (the ring was reset) our own
 * position is written again, so received frames are not handed up twice and committed
 * frames go at the next sync instead of being lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "nic/netmap_abi.h"
#include "nic/nic.h"
#include "ssdk.h"

#define DRAIN_ROUNDS 50   /* on destroy: polls of DRAIN_MS for the last frames to leave */
#define DRAIN_MS 2

struct nic_netmap {
    struct nic nic;
    struct ssdk_netmap_sys sys;
    int fd;
    uint8_t *mem;
    size_t mem_len;
    struct nm_ring *tx, *rx;
    uint32_t rx_lent;      /* frames lent from rx->head on */
    uint32_t tx_queued;    /* slots committed since the last successful NIOCTXSYNC */
    int last_errno;        /* of the last failed sync, 0 after a good one */
    char mode[96];
};

/* --- libc's system calls, for /dev/netmap ---------------------------------------- */

static int libc_open(void *ctx, const char *path)
{
    (void)ctx;
    return open(path, O_RDWR | O_CLOEXEC);
}

static int libc_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    (void)ctx;
    return ioctl(fd, req, arg);
}

static void *libc_mmap(void *ctx, int fd, size_t len)
{
    (void)ctx;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int libc_munmap(void *ctx, void *addr, size_t len)
{
    (void)ctx;
    return munmap(addr, len);
}

static int libc_poll(void *ctx, int fd, short events, int timeout_ms)
{
    (void)ctx;
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, timeout_ms);
    return r < 0 ? -1 : p.revents;
}

static int libc_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd);
}

static const struct ssdk_netmap_sys LIBC_SYS = {
    .open = libc_open, .ioctl = libc_ioctl, .mmap = libc_mmap, .munmap = libc_munmap,
    .poll = libc_poll, .close = libc_close,
};

/* --- syncs ---------------------------------------------------------------------- */

static void sync_failed(struct nic_netmap *m, const char *what, int e)
{
    if (e != m->last_errno)
        fprintf(stderr, "ssdk: netmap: %s failed: %s (the ring is read again; serving goes on)\n",
                what, strerror(e));
    m->last_errno = e;
}

/* One sync of ring r. pos: where our head is. On failure the kernel may have put head
 * and cur back to its own view: ours is written again when it still lies within
 * head..tail, so nothing is handed up twice nor lost. */
static int ring_sync(struct nic_netmap *m, struct nm_ring *r, unsigned long req, const char *what)
{
    uint32_t pos = r->head;
    if (m->sys.ioctl(m->sys.ctx, m->fd, req, NULL) == 0) {
        m->last_errno = 0;
        return 0;
    }
    sync_failed(m, what, errno);
    if (r->head != pos && r->head < r->num_slots && r->tail < r->num_slots
        && nm_dist(r, r->head, pos) <= nm_dist(r, r->head, r->tail))
        r->head = r->cur = pos;
    return -1;
}

/* --- the ring interface (nic.h) --------------------------------------------------- */

/* A slot's buffer, if it lies within the mapping (a kernel bug must not crash us). */
static uint8_t *slot_buf(const struct nic_netmap *m, const struct nm_ring *r, uint32_t i)
{
    uint8_t *b = nm_buf(r, r->slot[i].buf_idx);
    if (b < m->mem || b + r->nr_buf_size > m->mem + m->mem_len)
        return NULL;
    return b;
}

static unsigned nm_rx_burst(struct nic *n, struct frame *out, unsigned max)
{
    struct nic_netmap *m = (void *)n;
    struct nm_ring *r = m->rx;
    if (m->rx_lent == 0 && r->head == r->tail)  /* all handed up: give back, ask for more */
        ring_sync(m, r, NM_IOC_RXSYNC, "NIOCRXSYNC");
    uint32_t i = (r->head + m->rx_lent) % r->num_slots, k = 0;
    uint32_t tail = r->tail < r->num_slots ? r->tail : i;  /* a bad tail: nothing to read */
    while (k < max && i != tail) {
        uint8_t *b = slot_buf(m, r, i);
        uint32_t len = r->slot[i].len;
        if (len > r->nr_buf_size || !b)
            len = 0, b = m->mem;  /* lent empty: the stack drops it, the slot goes back */
        out[k++] = (struct frame){.data = b, .len = len, .wire_len = len};
        i = nm_next(r, i);
    }
    m->rx_lent += k;
    return k;
}

static void nm_rx_release(struct nic *n, unsigned count)
{
    struct nic_netmap *m = (void *)n;
    if (count > m->rx_lent)
        count = m->rx_lent;
    m->rx_lent -= count;
    m->rx->head = m->rx->cur = (m->rx->head + count) % m->rx->num_slots;
}

static uint8_t *nm_tx_slot(struct nic *n)
{
    struct nic_netmap *m = (void *)n;
    struct nm_ring *r = m->tx;
    if (r->head == r->tail) {  /* full: push what is queued and take back what has gone */
        if (ring_sync(m, r, NM_IOC_TXSYNC, "NIOCTXSYNC") == 0)
            m->tx_queued = 0;
        if (r->head == r->tail)
            return NULL;
    }
    return slot_buf(m, r, r->head);
}

static void nm_tx_commit(struct nic *n, uint32_t len)
{
    struct nic_netmap *m = (void *)n;
    struct nm_ring *r = m->tx;
    r->slot[r->head].len = (uint16_t)len;
    r->slot[r->head].flags = 0;
    r->head = r->cur = nm_next(r, r->head);
    m->tx_queued++;
}

static void nm_tx_flush(struct nic *n)
{
    struct nic_netmap *m = (void *)n;
    if (m->tx_queued && ring_sync(m, m->tx, NM_IOC_TXSYNC, "NIOCTXSYNC") == 0)
        m->tx_queued = 0;
}

static int nm_fd(struct nic *n) { return ((struct nic_netmap *)n)->fd; }

/* The NIC's own drop counter is not in the ring (netmap(4) has none): 0, unknown. */
static uint64_t nm_rx_dropped(struct nic *n) { (void)n; return 0; }

/* netmap(4): "A transmit ring with pending transmissions has head != tail + 1": wait a
 * little for those to leave, since closing the descriptor takes the NIC out of netmap
 * mode (a FIN or RST sent last should still reach the peer). */
static void tx_drain(struct nic_netmap *m)
{
    for (int i = 0; i < DRAIN_ROUNDS && nm_next(m->tx, m->tx->tail) != m->tx->head; i++) {
        if (m->sys.ioctl(m->sys.ctx, m->fd, NM_IOC_TXSYNC, NULL) != 0)
            return;
        if (nm_next(m->tx, m->tx->tail) != m->tx->head)
            m->sys.poll(m->sys.ctx, m->fd, POLLOUT, DRAIN_MS);
    }
}

static void nm_destroy(struct nic *n)
{
    struct nic_netmap *m = (void *)n;
    if (m->mem) {
        if (m->tx)
            tx_drain(m);
        m->sys.munmap(m->sys.ctx, m->mem, m->mem_len);
    }
    if (m->fd >= 0)
        m->sys.close(m->sys.ctx, m->fd);
    if (m->sys.release)
        m->sys.release(m->sys.ctx);
    free(m);
}

/* --- binding ---------------------------------------------------------------------- */

static int fail_errno(char *err, unsigned long errlen, const char *what, const char *ifname,
                      int e)
{
    const char *why = e == ENOENT ? " (no netmap module: modprobe netmap, or a kernel with it)"
                    : e == EACCES || e == EPERM ? " (run as root, or give this user /dev/netmap)"
                    : e == ENXIO ? " (no such interface, or it has no netmap support)" : "";
    snprintf(err, errlen, "netmap: %s %s: %s%s", what, ifname, strerror(e), why);
    return -1;
}

/* ring_ofs[idx] as a ring of direction dir and index `ring` inside the mapping. */
static struct nm_ring *find_ring(struct nic_netmap *m, const struct nm_if *nifp, uint32_t idx,
                                 uint32_t dir, uint32_t ring, char *err, unsigned long errlen)
{
    ssize_t ofs = nifp->ring_ofs[idx];
    uint8_t *p = (uint8_t *)nifp + ofs;
    struct nm_ring *r = (void *)p;
    if (ofs == 0 || p < m->mem || p + sizeof(*r) > m->mem + m->mem_len || r->dir != dir
        || r->ringid != ring || r->num_slots < 2 || r->nr_buf_size < NIC_FRAME_MAX
        || p + sizeof(*r) + (size_t)r->num_slots * sizeof(struct nm_slot) > m->mem + m->mem_len
        || r->head >= r->num_slots || r->tail >= r->num_slots) {
        snprintf(err, errlen, "netmap: the %s ring %u is not where netmap_if says, or is "
                 "unusable (buffers under %u bytes?)", dir == NM_DIR_TX ? "TX" : "RX", ring,
                 NIC_FRAME_MAX);
        return NULL;
    }
    return r;
}

/* NIOCREGIF for (ifname, ring), mmap, and the two rings found through netmap_if. */
static int bind_ring(struct nic_netmap *m, const char *ifname, uint32_t ring, char *err,
                     unsigned long errlen)
{
    struct nm_req req = {.nr_version = NM_API_VERSION, .nr_flags = NM_REG_ONE_NIC,
                         .nr_ringid = (uint16_t)(ring | NM_NO_TX_POLL)};
    memcpy(req.nr_name, ifname, strlen(ifname));
    if (m->sys.ioctl(m->sys.ctx, m->fd, NM_IOC_REGIF, &req) != 0)
        return fail_errno(err, errlen, "NIOCREGIF on", ifname, errno);
    if (ring >= req.nr_tx_rings || ring >= req.nr_rx_rings) {
        snprintf(err, errlen, "netmap: %s has %u TX and %u RX rings; there is no ring %u",
                 ifname, req.nr_tx_rings, req.nr_rx_rings, ring);
        return -1;
    }
    m->mem_len = req.nr_memsize;
    m->mem = m->sys.mmap(m->sys.ctx, m->fd, m->mem_len);
    if (!m->mem)
        return fail_errno(err, errlen, "mmap of the rings of", ifname, errno);
    if ((size_t)req.nr_offset + sizeof(struct nm_if) > m->mem_len) {
        snprintf(err, errlen, "netmap: nr_offset %u is outside the %u-byte region",
                 req.nr_offset, req.nr_memsize);
        return -1;
    }
    const struct nm_if *nifp = (const void *)(m->mem + req.nr_offset);
    /* Host TX rings sit between the NIC's TX and RX rings; before API 14 the count was
     * not written (a zero spare) and there was always one pair (netmap(4)). */
    uint32_t host_tx = nifp->ni_host_tx_rings ? nifp->ni_host_tx_rings : 1;
    m->tx = find_ring(m, nifp, ring, NM_DIR_TX, ring, err, errlen);
    m->rx = m->tx ? find_ring(m, nifp, nifp->ni_tx_rings + host_tx + ring, NM_DIR_RX, ring,
                              err, errlen) : NULL;
    if (!m->rx)
        return -1;
    snprintf(m->mode, sizeof(m->mode), "ring %u of %u, %u TX and %u RX slots", ring,
             req.nr_rx_rings, m->tx->num_slots, m->rx->num_slots);
    return 0;
}

struct nic *nic_netmap_new(const char *ifname, uint32_t ring, const struct ssdk_netmap_sys *sys,
                           char *err, unsigned long errlen)
{
    struct nic_netmap *m = calloc(1, sizeof(*m));
    if (!m) {
        if (sys && sys->release)
            sys->release(sys->ctx);
        snprintf(err, errlen, "netmap: no memory");
        return NULL;
    }
    m->sys = sys ? *sys : LIBC_SYS;
    m->fd = -1;
    m->nic = (struct nic){
        .name = "netmap", .mode = m->mode, .rx_burst = nm_rx_burst,
        .rx_release = nm_rx_release, .tx_slot = nm_tx_slot, .tx_commit = nm_tx_commit,
        .tx_flush = nm_tx_flush, .fd = nm_fd, .rx_dropped = nm_rx_dropped,
        .destroy = nm_destroy,
    };
    if (strlen(ifname) == 0 || strlen(ifname) >= NM_IFNAMSIZ || ring > NM_RING_MASK) {
        snprintf(err, errlen, "netmap: bad interface name or ring (%s, %u)", ifname, ring);
        nm_destroy(&m->nic);
        return NULL;
    }
    m->fd = m->sys.open(m->sys.ctx, NM_DEVICE);
    if (m->fd < 0) {
        fail_errno(err, errlen, "cannot open " NM_DEVICE " for", ifname, errno);
        nm_destroy(&m->nic);
        return NULL;
    }
    if (bind_ring(m, ifname, ring, err, errlen) != 0) {
        m->tx = NULL;  /* nothing was sent: no drain */
        nm_destroy(&m->nic);
        return NULL;
    }
    return &m->nic;
}

void *nic_netmap_ctx(struct nic *n)
{
    return n && n->destroy == nm_destroy ? ((struct nic_netmap *)n)->sys.ctx : NULL;
}
