/*
 * netmap_emu_mem.c - the memory of the netmap EMULATION (tests only; netmap_emu.c has
 * its rules): the region it shares with the backend, laid out as netmap_abi.h reads it,
 * and the two queues of frames that stand for the wire.
 *
 * The region: 4096 bytes nobody uses (so a backend that ignores nr_offset reads
 * garbage), then one netmap_if per ring pair, each naming only its own pair (ring_ofs 0
 * for the others, as for rings not bound to a descriptor), with one host ring pair
 * counted but not bound; then the rings, each on its own pages; then the buffers, which
 * every ring reaches through its own buf_ofs.
 */
#include <stdlib.h>
#include <string.h>
#include "nic/netmap_emu_priv.h"
#include "nic/nic.h"
#include "ssdk.h"

#define PAGE 4096u
#define WIRE_FIRST 64u

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* --- the wire --------------------------------------------------------------------- */

int wire_push(struct wire *w, const uint8_t *frame, uint32_t len)
{
    if (w->count == w->cap) {  /* grow, keeping the order: unwrap into the new arrays */
        uint32_t cap = w->cap ? w->cap * 2 : WIRE_FIRST;
        uint8_t *data = malloc((size_t)cap * EMU_BUF);
        uint16_t *lens = malloc(cap * sizeof(uint16_t));
        if (!data || !lens) {
            free(data);
            free(lens);
            return -1;
        }
        for (uint32_t i = 0; i < w->count; i++) {
            uint32_t j = (w->head + i) % w->cap;
            memcpy(data + (size_t)i * EMU_BUF, w->data + (size_t)j * EMU_BUF, w->len[j]);
            lens[i] = w->len[j];
        }
        free(w->data);
        free(w->len);
        *w = (struct wire){.data = data, .len = lens, .head = 0, .count = w->count, .cap = cap};
    }
    uint32_t at = (w->head + w->count) % w->cap;
    memcpy(w->data + (size_t)at * EMU_BUF, frame, len);
    w->len[at] = (uint16_t)len;
    w->count++;
    return 0;
}

uint32_t wire_peek_len(const struct wire *w) { return w->count ? w->len[w->head] : 0; }

/* The oldest frame into buf (cut at cap); its length as copied. */
uint32_t wire_pop(struct wire *w, uint8_t *buf, uint32_t cap)
{
    uint32_t len = w->len[w->head];
    if (len > cap)
        len = cap;
    memcpy(buf, w->data + (size_t)w->head * EMU_BUF, len);
    w->head = (w->head + 1) % w->cap;
    w->count--;
    return len;
}

/* --- the region ----------------------------------------------------------------------- */

static void ring_init(struct ssdk_netmap_emu *m, struct kring *k, size_t ofs, uint32_t q,
                      uint32_t dir, uint32_t *next_buf)
{
    struct nm_ring *r = (void *)(m->mem + ofs);
    r->buf_ofs = (int64_t)m->bufs_ofs - (int64_t)ofs;
    r->num_slots = m->slots;
    r->nr_buf_size = EMU_BUF;
    r->ringid = (uint16_t)q;
    r->dir = (uint16_t)dir;
    for (uint32_t i = 0; i < m->slots; i++)
        r->slot[i].buf_idx = (*next_buf)++;
    /* netmap(4) keeps one slot empty: a fresh TX ring offers all the others to fill, a
     * fresh RX ring holds nothing yet. */
    r->head = r->cur = 0;
    r->tail = dir == NM_DIR_TX ? m->slots - 1 : 0;
    *k = (struct kring){.r = r, .hwcur = 0, .hwtail = r->tail, .hwdone = 0};
}

static void if_init(struct ssdk_netmap_emu *m, uint32_t q, size_t tx_ofs, size_t rx_ofs)
{
    struct nm_if *nifp = (void *)(m->mem + m->if_ofs[q]);
    memcpy(nifp->ni_name, m->name, sizeof(m->name));
    nifp->ni_version = NM_API_VERSION;
    nifp->ni_tx_rings = nifp->ni_rx_rings = m->nrings;
    nifp->ni_host_tx_rings = nifp->ni_host_rx_rings = 1;
    nifp->ring_ofs[q] = (ssize_t)tx_ofs - (ssize_t)m->if_ofs[q];
    nifp->ring_ofs[m->nrings + 1 + q] = (ssize_t)rx_ofs - (ssize_t)m->if_ofs[q];
}

static int layout(struct ssdk_netmap_emu *m, uint32_t extra)
{
    size_t if_size = round_up(sizeof(struct nm_if) + sizeof(ssize_t) * 2 * (m->nrings + 1), 64);
    size_t ring_size = round_up(sizeof(struct nm_ring) + sizeof(struct nm_slot) * m->slots, PAGE);
    size_t rings_ofs = round_up(PAGE + if_size * m->nrings, PAGE);
    m->bufs_ofs = rings_ofs + ring_size * 2 * m->nrings;
    m->nbufs = 1 + 2 * m->nrings * m->slots + extra;  /* index 0 is never a buffer */
    m->memsize = round_up(m->bufs_ofs + (size_t)m->nbufs * EMU_BUF, PAGE);
    m->mem = aligned_alloc(PAGE, m->memsize);
    m->if_ofs = calloc(m->nrings, sizeof(size_t));
    m->tx = calloc(m->nrings, sizeof(struct kring));
    m->rx = calloc(m->nrings, sizeof(struct kring));
    if (!m->mem || !m->if_ofs || !m->tx || !m->rx || m->memsize > UINT32_MAX)
        return -1;
    memset(m->mem, 0, m->memsize);
    uint32_t next_buf = 1;
    for (uint32_t q = 0; q < m->nrings; q++) {
        size_t tx_ofs = rings_ofs + ring_size * 2 * q, rx_ofs = tx_ofs + ring_size;
        m->if_ofs[q] = PAGE + if_size * q;
        ring_init(m, &m->tx[q], tx_ofs, q, NM_DIR_TX, &next_buf);
        ring_init(m, &m->rx[q], rx_ofs, q, NM_DIR_RX, &next_buf);
        if_init(m, q, tx_ofs, rx_ofs);
    }
    m->extra_next = next_buf;
    return 0;
}

struct ssdk_netmap_emu *ssdk_netmap_emu_new(const char *ifname, uint32_t nrings, uint32_t slots,
                                            uint32_t extra_bufs)
{
    if (!ifname || !*ifname || strlen(ifname) >= NM_IFNAMSIZ || nrings == 0 || nrings > 16
        || slots < 4 || slots > 4096 || extra_bufs > 65536)
        return NULL;
    struct ssdk_netmap_emu *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->magic = EMU_MAGIC;
    memcpy(m->name, ifname, strlen(ifname));
    m->nrings = nrings;
    m->slots = slots;
    m->tx_credit = -1;
    for (int i = 0; i < EMU_FDS; i++)
        m->fds[i].fd = -1;
    emu_sys_init(m);
    if (layout(m, extra_bufs) != 0) {
        ssdk_netmap_emu_free(m);
        return NULL;
    }
    return m;
}

void ssdk_netmap_emu_free(struct ssdk_netmap_emu *m)
{
    if (!m)
        return;
    for (int i = 0; i < EMU_FDS; i++)
        if (m->fds[i].fd >= 0)
            m->sys.close(m, m->fds[i].fd);
    free(m->mem);
    free(m->if_ofs);
    free(m->tx);
    free(m->rx);
    free(m->in.data);
    free(m->in.len);
    free(m->out.data);
    free(m->out.len);
    m->magic = 0;
    free(m);
}

/* ctx, if it is an emulation (the engine's backend may run over anything). */
struct ssdk_netmap_emu *netmap_emu_from_ctx(void *ctx)
{
    struct ssdk_netmap_emu *m = ctx;
    return m && m->magic == EMU_MAGIC ? m : NULL;
}
