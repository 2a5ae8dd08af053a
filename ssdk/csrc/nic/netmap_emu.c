/*
 * netmap_emu.c - an EMULATION, for tests only, of the kernel's side of netmap's ring
 * protocol (netmap(4)), in this process. nic_netmap.c drives it through the same
 * struct ssdk_netmap_sys it uses for /dev/netmap, so the backend's every system call is
 * answered here by the rules of the manual page. No user path reaches it: ssdk serve and
 * the CLI open /dev/netmap; only ssdk_netmap_emu_* (ssdk.h) make one.
 *
 * test -> wire_in -> (RXSYNC) RX slots -> backend ... backend -> TX slots -> (TXSYNC)
 *      -> wire_out -> test
 *
 * What it holds: one memory region laid out as netmap_abi.h says (a netmap_if per ring
 * pair, 4096 bytes in, so nr_offset must be honoured; the rings; 2048-byte buffers,
 * index 0 never used since it ends the extra-buffer list). Its rules, per netmap(4):
 *  - head and cur move only forward, within the slots the user owns: head from the
 *    kernel's last head (hwcur) up to tail, cur from head up to tail. tail is the
 *    kernel's alone: what the user writes there is ignored and overwritten.
 *  - TXSYNC hands the slots hwcur..head-1 to the emulated NIC, which puts them on the
 *    wire at once and reports the oldest ones done as far as the test's credit allows
 *    (the page: completions come "in batches, hence signals can be delayed"); tail
 *    stops one short of the oldest not reported (one slot is always kept empty), so
 *    those slots stay the kernel's until a later sync.
 *  - RXSYNC takes back hwcur..head-1, then fills slots from tail with frames from the
 *    wire while one slot before hwcur stays empty, and moves tail past them.
 *  - a slot flagged NS_BUF_CHANGED must carry a buffer index inside the region (and not
 *    0); the kernel clears the flag when it takes the slot.
 *  - slots the user owns (head..tail-1) and their buffers are never written here.
 *  - poll() syncs as the page says (TX unless NETMAP_NO_TX_POLL was asked, RX with
 *    POLLIN) and reports POLLIN/POLLOUT when tail is past cur. It never blocks: nothing
 *    else in the process could change the rings while it waited.
 * The page does not say how the kernel answers a head or cur outside those bounds, or a
 * bad slot. The emulation resets the ring to its own view (head = cur = hwcur, tail its
 * own) and fails the call with EINVAL: its own choice, and the harder case for the
 * backend, which must cope with a failed call whether or not the ring was reset.
 *
 * The descriptor open returns is a real eventfd, readable while frames wait for the
 * RX ring, so the loop's own poll() on it (serve/loop.c) sleeps and wakes as on netmap.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "nic/netmap_abi.h"
#include "nic/netmap_emu_priv.h"
#include "ssdk.h"

static struct emu_fd *fd_of(struct ssdk_netmap_emu *m, int fd)
{
    for (int i = 0; i < EMU_FDS; i++)
        if (m->fds[i].fd == fd && fd >= 0)
            return &m->fds[i];
    return NULL;
}

static int fail(struct ssdk_netmap_emu *m, int e)
{
    m->st.errors++;
    m->st.last_errno = e;
    errno = e;
    return -1;
}

/* The eventfd is readable exactly while frames wait on the wire or in a bound RX ring
 * past cur. */
static void signal_fds(struct ssdk_netmap_emu *m)
{
    for (int i = 0; i < EMU_FDS; i++) {
        struct emu_fd *f = &m->fds[i];
        if (f->fd < 0)
            continue;
        int ready = m->in.count > 0
                    || (f->bound && m->rx[f->ring].r->cur != m->rx[f->ring].hwtail);
        uint64_t v = 1;
        if (ready && !f->signalled && write(f->fd, &v, sizeof(v)) == sizeof(v))
            f->signalled = 1;
        else if (!ready && f->signalled && read(f->fd, &v, sizeof(v)) == sizeof(v))
            f->signalled = 0;
    }
}

/* --- the rules of a sync ---------------------------------------------------------- */

/* netmap(4): indexes only move forward, over the slots the user owns: head from the
 * kernel's last head up to tail, cur from head up to tail. */
static int pointers_valid(const struct kring *k)
{
    const struct nm_ring *r = k->r;
    uint32_t head = r->head, cur = r->cur;
    if (head >= r->num_slots || cur >= r->num_slots)
        return 0;
    return nm_dist(r, k->hwcur, head) <= nm_dist(r, k->hwcur, k->hwtail)
           && nm_dist(r, head, cur) <= nm_dist(r, head, k->hwtail);
}

/* Slots hwcur..head-1, being handed back: lengths within a buffer (TX), buffer indexes
 * of NS_BUF_CHANGED slots within the region. */
static int slots_valid(const struct ssdk_netmap_emu *m, const struct kring *k, int tx)
{
    const struct nm_ring *r = k->r;
    for (uint32_t i = k->hwcur; i != r->head; i = nm_next(r, i)) {
        const struct nm_slot *s = &r->slot[i];
        if (tx && (s->len > r->nr_buf_size || s->len == 0))
            return 0;
        if ((s->flags & NM_SLOT_BUF_CHANGED) && (s->buf_idx == 0 || s->buf_idx >= m->nbufs))
            return 0;
    }
    return 1;
}

/* The ring back to the kernel's view, as netmap does with an invalid one. */
static int reset_ring(struct ssdk_netmap_emu *m, struct kring *k)
{
    k->r->head = k->r->cur = k->hwcur;
    k->r->tail = k->hwtail;
    m->st.resets++;
    return fail(m, EINVAL);
}

static int take_fault(struct ssdk_netmap_emu *m, struct kring *k, uint32_t dir)
{
    if (!m->fault_err || m->fault_dir != dir)
        return 0;
    int e = m->fault_err, reset = m->fault_reset;
    m->fault_err = 0;
    if (reset) {
        k->r->head = k->r->cur = k->hwcur;
        k->r->tail = k->hwtail;
        m->st.resets++;
    }
    return fail(m, e);
}

static int txsync(struct ssdk_netmap_emu *m, struct kring *k)
{
    struct nm_ring *r = k->r;
    m->st.txsyncs++;
    if (take_fault(m, k, 0))
        return -1;
    if (!pointers_valid(k) || !slots_valid(m, k, 1))
        return reset_ring(m, k);
    for (; k->hwcur != r->head; k->hwcur = nm_next(r, k->hwcur)) {  /* to the NIC */
        struct nm_slot *s = &r->slot[k->hwcur];
        wire_push(&m->out, nm_buf(r, s->buf_idx), s->len);
        s->flags &= (uint16_t)~NM_SLOT_BUF_CHANGED;
        m->st.tx_frames++;
    }
    while (k->hwdone != k->hwcur && m->tx_credit != 0) {  /* the NIC reports them done */
        k->hwdone = nm_next(r, k->hwdone);
        if (m->tx_credit > 0)
            m->tx_credit--;
    }
    k->hwtail = k->hwdone ? k->hwdone - 1 : r->num_slots - 1;  /* one slot kept empty */
    r->tail = k->hwtail;
    return 0;
}

static int rxsync(struct ssdk_netmap_emu *m, struct kring *k)
{
    struct nm_ring *r = k->r;
    m->st.rxsyncs++;
    if (take_fault(m, k, 1))
        return -1;
    if (!pointers_valid(k) || !slots_valid(m, k, 0))
        return reset_ring(m, k);
    for (uint32_t i = k->hwcur; i != r->head; i = nm_next(r, i))
        r->slot[i].flags &= (uint16_t)~NM_SLOT_BUF_CHANGED;
    k->hwcur = r->head;
    while (m->in.count && nm_next(r, k->hwtail) != k->hwcur) {
        struct nm_slot *s = &r->slot[k->hwtail];
        s->len = (uint16_t)wire_pop(&m->in, nm_buf(r, s->buf_idx), r->nr_buf_size);
        s->flags = 0;
        m->st.rx_frames++;
        k->hwtail = nm_next(r, k->hwtail);
    }
    r->tail = k->hwtail;
    return 0;
}

/* --- registration ------------------------------------------------------------------- */

/* nr_arg3 extra buffers, linked by their first word, 0 ending the list (netmap(4)). */
static uint32_t give_extra(struct ssdk_netmap_emu *m, struct nm_if *nifp, uint32_t want)
{
    uint32_t given = 0, head = 0;
    while (given < want && m->extra_next < m->nbufs) {
        uint32_t idx = m->extra_next++;
        memcpy(m->mem + m->bufs_ofs + (size_t)idx * EMU_BUF, &head, sizeof(head));
        head = idx;
        given++;
    }
    nifp->ni_bufs_head = head;
    return given;
}

static int regif(struct ssdk_netmap_emu *m, struct emu_fd *f, struct nm_req *req)
{
    uint32_t ring = req->nr_ringid & NM_RING_MASK;
    if (f->bound)
        return fail(m, EBUSY);
    if (req->nr_version < NM_API_VERSION || req->nr_version > 15)
        return fail(m, EINVAL);  /* outside NETMAP_MIN_API..NETMAP_MAX_API */
    if (strncmp(req->nr_name, m->name, NM_IFNAMSIZ) != 0)
        return fail(m, ENXIO);
    if ((req->nr_flags & NM_REG_MASK) != NM_REG_ONE_NIC)
        return fail(m, EOPNOTSUPP);  /* the emulation binds one ring pair only */
    if (ring >= m->nrings)
        return fail(m, EINVAL);
    for (int i = 0; i < EMU_FDS; i++)
        if (m->fds[i].fd >= 0 && m->fds[i].bound && m->fds[i].ring == ring)
            return fail(m, EBUSY);  /* one user per ring here, as ssdk never shares one */
    f->bound = 1;
    f->ring = ring;
    f->no_tx_poll = (req->nr_ringid & NM_NO_TX_POLL) != 0;
    struct nm_if *nifp = (void *)(m->mem + m->if_ofs[ring]);
    req->nr_offset = m->if_ofs[ring];
    req->nr_memsize = (uint32_t)m->memsize;
    req->nr_tx_slots = req->nr_rx_slots = m->slots;
    req->nr_tx_rings = req->nr_rx_rings = (uint16_t)m->nrings;
    req->nr_arg3 = give_extra(m, nifp, req->nr_arg3);
    return 0;
}

/* --- the system calls --------------------------------------------------------------- */

static int emu_open(void *ctx, const char *path)
{
    struct ssdk_netmap_emu *m = ctx;
    if (strcmp(path, NM_DEVICE) != 0)
        return fail(m, ENOENT);
    for (int i = 0; i < EMU_FDS; i++) {
        if (m->fds[i].fd >= 0)
            continue;
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            return fail(m, errno);
        m->fds[i] = (struct emu_fd){.fd = fd};
        return fd;
    }
    return fail(m, EMFILE);
}

static int emu_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    struct ssdk_netmap_emu *m = ctx;
    struct emu_fd *f = fd_of(m, fd);
    int r;
    if (!f)
        return fail(m, EBADF);
    if (req == NM_IOC_REGIF)
        r = arg ? regif(m, f, arg) : fail(m, EFAULT);
    else if (req != NM_IOC_TXSYNC && req != NM_IOC_RXSYNC)
        r = fail(m, ENOTTY);
    else if (!f->bound)
        r = fail(m, ENXIO);
    else if (req == NM_IOC_TXSYNC)
        r = txsync(m, &m->tx[f->ring]);
    else
        r = rxsync(m, &m->rx[f->ring]);
    signal_fds(m);
    return r;
}

static void *emu_mmap(void *ctx, int fd, size_t len)
{
    struct ssdk_netmap_emu *m = ctx;
    struct emu_fd *f = fd_of(m, fd);
    if (!f || !f->bound || len == 0 || len > m->memsize) {
        fail(m, !f ? EBADF : EINVAL);
        return NULL;
    }
    f->mapped = 1;
    return m->mem;  /* in-process: the kernel's region is the user's mapping */
}

static int emu_munmap(void *ctx, void *addr, size_t len)
{
    struct ssdk_netmap_emu *m = ctx;
    return addr == m->mem && len <= m->memsize ? 0 : fail(m, EINVAL);
}

static int emu_poll(void *ctx, int fd, short events, int timeout_ms)
{
    struct ssdk_netmap_emu *m = ctx;
    struct emu_fd *f = fd_of(m, fd);
    (void)timeout_ms;
    m->st.polls++;
    if (!f)
        return fail(m, EBADF);
    if (!f->bound)
        return POLLERR;
    struct kring *t = &m->tx[f->ring], *rx = &m->rx[f->ring];
    int err = 0;
    if (!f->no_tx_poll || (events & POLLOUT))
        err |= txsync(m, t);
    if (events & POLLIN)
        err |= rxsync(m, rx);
    signal_fds(m);
    short rev = err ? POLLERR : 0;
    if ((events & POLLIN) && rx->r->cur != rx->hwtail)
        rev |= POLLIN;
    if ((events & POLLOUT) && t->r->cur != t->hwtail)
        rev |= POLLOUT;
    return rev;
}

static int emu_close(void *ctx, int fd)
{
    struct ssdk_netmap_emu *m = ctx;
    struct emu_fd *f = fd_of(m, fd);
    if (!f)
        return fail(m, EBADF);
    close(f->fd);
    *f = (struct emu_fd){.fd = -1};
    return 0;
}

static void emu_release(void *ctx) { ssdk_netmap_emu_free(ctx); }

void emu_sys_init(struct ssdk_netmap_emu *m)
{
    m->sys = (struct ssdk_netmap_sys){
        .ctx = m, .open = emu_open, .ioctl = emu_ioctl, .mmap = emu_mmap,
        .munmap = emu_munmap, .poll = emu_poll, .close = emu_close, .release = emu_release,
    };
}

/* --- what the tests drive ------------------------------------------------------------ */

const struct ssdk_netmap_sys *ssdk_netmap_emu_sys(struct ssdk_netmap_emu *m) { return &m->sys; }

int ssdk_netmap_emu_wire_in(struct ssdk_netmap_emu *m, const uint8_t *frame, uint32_t len)
{
    if (len > EMU_BUF || wire_push(&m->in, frame, len) != 0)
        return -1;
    signal_fds(m);
    return 0;
}

int ssdk_netmap_emu_wire_out(struct ssdk_netmap_emu *m, uint8_t *buf, uint32_t cap)
{
    if (!m->out.count)
        return 0;
    if (wire_peek_len(&m->out) > cap)
        return -1;
    return (int)wire_pop(&m->out, buf, cap);
}

void ssdk_netmap_emu_tx_credit(struct ssdk_netmap_emu *m, int32_t n) { m->tx_credit = n; }

void ssdk_netmap_emu_fail_next(struct ssdk_netmap_emu *m, uint32_t dir, int err, int reset)
{
    m->fault_dir = dir;
    m->fault_err = err;
    m->fault_reset = reset;
}

void ssdk_netmap_emu_stats(struct ssdk_netmap_emu *m, struct ssdk_netmap_emu_stats *out)
{
    *out = m->st;
    out->wire_waiting = m->in.count;
}
