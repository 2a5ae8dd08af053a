/*
 * nic_memory.c - the in-memory backend: frames in and out through two rings that the
 * host program (the tests, through Python) fills and drains.
 *
 * ssdk_mem_inject -> rx ring -> serve/loop.c (rx_burst) ... tx_slot/tx_commit -> tx ring
 *                                                             -> ssdk_mem_take
 *
 * It is a real backend, not a mock: the stack cannot tell it from a NIC, which is what
 * lets the stack's tests run frame by frame against a virtual clock.
 *
 * With gso_max it offers segmentation offload as a TAP with IFF_VNET_HDR does
 * (nic_tap.c): each frame the stack sends is taken with a virtio_net_hdr in front (zero
 * for a frame sent as it is, vnet_gso_hdr for a super-frame), so a test reads exactly
 * what the kernel would be handed and cuts it as the kernel would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nic/nic.h"
#include "nic/vnet.h"

struct ring {
    uint8_t *buf;       /* nframes * stride */
    uint32_t stride;
    uint32_t *len;
    uint32_t head, tail, nframes;  /* free-running; head - tail = frames held */
};

struct nic_memory {
    struct nic nic;
    struct ring rx, tx;
    uint32_t rx_borrowed;
    uint32_t vnet;      /* with gso_max: each TX slot starts with a virtio_net_hdr */
};

static int ring_init(struct ring *r, uint32_t n, uint32_t stride)
{
    r->stride = stride;
    r->buf = malloc((size_t)n * stride);
    r->len = calloc(n, sizeof(uint32_t));
    r->nframes = n;
    r->head = r->tail = 0;
    return r->buf && r->len ? 0 : -1;
}

static uint8_t *slot(struct ring *r, uint32_t i)
{
    return r->buf + (size_t)(i % r->nframes) * r->stride;
}

static unsigned mem_rx_burst(struct nic *n, struct frame *out, unsigned max)
{
    struct nic_memory *m = (void *)n;
    unsigned k = 0;
    uint32_t i = m->rx.tail + m->rx_borrowed;
    while (k < max && i != m->rx.head) {
        out[k].data = slot(&m->rx, i);
        out[k].len = out[k].wire_len = m->rx.len[i % m->rx.nframes];
        out[k].flags = 0;
        k++, i++;
    }
    m->rx_borrowed += k;
    return k;
}

static void mem_rx_release(struct nic *n, unsigned count)
{
    struct nic_memory *m = (void *)n;
    m->rx.tail += count;
    m->rx_borrowed -= count;
}

static uint8_t *mem_tx_slot(struct nic *n)
{
    struct nic_memory *m = (void *)n;
    if (m->tx.head - m->tx.tail == m->tx.nframes)
        return NULL;
    return slot(&m->tx, m->tx.head) + m->vnet;
}

static void mem_tx_commit(struct nic *n, uint32_t len)
{
    struct nic_memory *m = (void *)n;
    memset(slot(&m->tx, m->tx.head), 0, m->vnet);
    m->tx.len[m->tx.head % m->tx.nframes] = len + m->vnet;
    m->tx.head++;
}

static void mem_tx_commit_gso(struct nic *n, uint32_t len, const struct nic_gso *g)
{
    struct nic_memory *m = (void *)n;
    vnet_gso_hdr(slot(&m->tx, m->tx.head), g);
    m->tx.len[m->tx.head % m->tx.nframes] = len + m->vnet;
    m->tx.head++;
}

static void mem_tx_flush(struct nic *n) { (void)n; }
static int mem_fd(struct nic *n) { (void)n; return -1; }
static uint64_t mem_rx_dropped(struct nic *n) { (void)n; return 0; }

static void mem_destroy(struct nic *n)
{
    struct nic_memory *m = (void *)n;
    free(m->rx.buf);
    free(m->rx.len);
    free(m->tx.buf);
    free(m->tx.len);
    free(m);
}

struct nic *nic_memory_new(uint32_t ring_frames, uint32_t gso_max, char *err,
                           unsigned long errlen)
{
    if (gso_max && (gso_max < NIC_FRAME_MAX || gso_max > NIC_GSO_MAX)) {
        snprintf(err, errlen, "gso_max %u is outside %u..%u bytes", gso_max, NIC_FRAME_MAX,
                 NIC_GSO_MAX);
        return NULL;
    }
    uint32_t vnet = gso_max ? (uint32_t)sizeof(struct virtio_net_hdr) : 0;
    struct nic_memory *m = calloc(1, sizeof(*m));
    if (!m || ring_frames == 0 || ring_init(&m->rx, ring_frames, NIC_FRAME_MAX)
        || ring_init(&m->tx, ring_frames, vnet + (gso_max ? gso_max : NIC_FRAME_MAX))) {
        snprintf(err, errlen, "cannot allocate in-memory rings of %u frames", ring_frames);
        if (m)
            mem_destroy(&m->nic);
        return NULL;
    }
    m->vnet = vnet;
    m->nic = (struct nic){
        .name = "memory", .rx_burst = mem_rx_burst, .rx_release = mem_rx_release,
        .tx_slot = mem_tx_slot, .tx_commit = mem_tx_commit, .tx_flush = mem_tx_flush,
        .fd = mem_fd, .rx_dropped = mem_rx_dropped, .destroy = mem_destroy,
        .gso_max = gso_max, .tx_commit_gso = gso_max ? mem_tx_commit_gso : NULL,
    };
    return &m->nic;
}

/* Queue one frame for the stack. -1: too long, or the ring is full. */
int nic_memory_inject(struct nic *n, const uint8_t *frame, uint32_t len)
{
    struct nic_memory *m = (void *)n;
    if (n->rx_burst != mem_rx_burst || len > NIC_FRAME_MAX
        || m->rx.head - m->rx.tail == m->rx.nframes)
        return -1;
    memcpy(slot(&m->rx, m->rx.head), frame, len);
    m->rx.len[m->rx.head % m->rx.nframes] = len;
    m->rx.head++;
    return 0;
}

/* Copy out the oldest frame the stack sent: its length, 0 if none, -1 if cap is short. */
int nic_memory_take(struct nic *n, uint8_t *buf, uint32_t cap)
{
    struct nic_memory *m = (void *)n;
    if (n->rx_burst != mem_rx_burst)
        return -1;
    if (m->tx.head == m->tx.tail)
        return 0;
    uint32_t len = m->tx.len[m->tx.tail % m->tx.nframes];
    if (len > cap)
        return -1;
    memcpy(buf, slot(&m->tx, m->tx.tail), len);
    m->tx.tail++;
    return (int)len;
}
