/*
 * nic_af_xdp.c - the AF_XDP backend: an XDP socket bound to one queue of one interface,
 * through libxdp, with a UMEM of fixed-size frames shared by its four rings.
 *
 * serve/loop.c -> rx_burst (peek the RX ring) -> rx_release (release RX, refill the
 *                                                fill ring with the same addresses)
 *              -> tx_slot (a frame from the TX free list) / tx_commit (one TX descriptor)
 *              -> tx_flush (submit, reap the completion ring, sendto only on need_wakeup)
 *
 * The UMEM holds `nframes` frames of FRAME_SIZE bytes (ring_frames rounded up to a power
 * of two): the first half belongs to receiving, the second half to sending. Invariants:
 * - an RX frame is always in exactly one place: the fill ring, the kernel, the RX ring,
 *   or borrowed by the loop (rx_borrowed, oldest first); rx_release gives the oldest
 *   `count` back to the fill ring, so the fill ring is kept as full as it can be.
 * - a TX frame is in exactly one place: the free list (tx_free), the TX ring (reserved,
 *   submitted or in flight) or the completion ring.
 * - the fill and TX rings have twice as many entries as there are frames for them: the
 *   kernel publishes how far it has consumed them lazily (when its cached view runs
 *   out), so entries it has taken may still count as occupied, up to one ring's worth
 *   of frames. With twice the entries, refilling and a frame from the free list always
 *   find room.
 * - no system call per packet: the rings are shared memory; the only calls are one
 *   sendto per pass while the kernel asks for a wakeup (always in copy mode, where the
 *   kernel sends from sendto, at most a batch per call), and getsockopt for counters.
 *
 * The XDP program. ssdk serve attaches its own (xdp_filter.c) once for the interface
 * and hands each worker its XSKMAP (xsks_map_fd): the socket is then made with
 * XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD and put into that map at its queue's index, and
 * only ssdk's own frames reach it; the rest go to the kernel. Without a map (xsks_map_fd
 * -1) libxdp loads its default program, which redirects every frame of the queue to the
 * socket. Native (driver) mode is tried first, SKB (generic) mode after it, unless the
 * program is already attached in one; the kernel picks copy or zero-copy, always copy
 * under a program in SKB mode. `nic.mode` says which ran.
 *
 * Checksums. AF_XDP hands over bytes and a length, nothing of the kernel's checksum
 * state (no CHECKSUM_PARTIAL, no CHECKSUM_UNNECESSARY), so the stack verifies every
 * frame. One case needs more: on a veth or a TAP whose peer has TX checksum offload on
 * (the default), the peer's kernel leaves each TCP checksum partial, the folded
 * pseudo-header sum, for a device that does not exist; XDP runs on the frame before
 * anything would finish it, so such frames reach us with that partial sum, SYNs
 * included. They cannot be verified (the segment was never summed) and are not
 * damaged. The rule: where the interface is virtual (the driver is veth, tun or netkit:
 * no wire, so every frame was built by a kernel on this machine, which a
 * CHECKSUM_PARTIAL sender trusts as well), frames are marked FRAME_CSUM_LOCAL_LINK, and
 * the stack accepts a TCP segment that fails verification but carries exactly the
 * partial sum (gso.h; counted csum_partial_local); anything else that fails is dropped
 * as before (drop_tcp_csum). On a physical NIC nothing is marked: the wire can damage
 * frames, so every checksum is verified in full.
 *
 * What we send carries complete checksums. AF_XDP's TX checksum metadata (Linux 6.8:
 * XDP_TXMD_FLAGS_CHECKSUM) would let the kernel finish them, and does on a veth, but
 * needs a UMEM registered with tx_metadata_len, which libxdp 1.3.1's xsk_umem__create
 * cannot ask for (docs/performance.md, AF_XDP and TX checksum metadata).
 *
 * Super-frames. A UMEM frame holds FRAME_SIZE bytes and AF_XDP carries no GSO state,
 * so a TCP frame of up to 64 KiB (a peer's TSO/GSO, GRO on our side) cannot reach us
 * whole. In native mode on a veth the kernel prevents it: with an XDP program attached
 * to one end, veth_fix_features clears the peer's NETIF_F_GSO_SOFTWARE (TSO and GSO go
 * off), so the peer sends MSS-sized frames; our own end's GRO runs only after XDP. In
 * SKB (generic) mode that does not happen: the kernel linearises a super-frame for the
 * generic XDP program and the socket drops it for being larger than a frame (counted
 * by XDP_STATISTICS, so in drop_rx_ring); the peer's TCP then sends the data again,
 * after a timeout, in MSS-sized segments. SKB mode with a peer whose segmentation
 * offloads are on works, slowly for large requests; native mode, or TSO and GSO off on
 * the peer, avoid it.
 *
 * Compiled only where <xdp/xsk.h> exists (ssdk/_ffi_build.py defines SSDK_HAVE_AF_XDP
 * and links libxdp and libbpf); serve/loop.c refuses the backend otherwise.
 */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#include "nic/nic.h"
#include "nic/xdp_quiet.h"

#define FRAME_SIZE 2048u
#define MIN_FRAMES 64u
#define MAX_FRAMES (1u << 20)
#define KICK_MAX 256  /* sendto calls per flush while the kernel says it stopped early */
_Static_assert(FRAME_SIZE >= NIC_FRAME_MAX, "a UMEM frame must hold NIC_FRAME_MAX bytes");

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

struct nic_xdp {
    struct nic nic;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons comp, rx;
    uint8_t *area;
    size_t area_len;
    uint32_t nframes;       /* in the UMEM: half RX, half TX; fill and TX rings: nframes */
    uint32_t half;
    uint32_t rx_next;       /* RX ring index of the oldest borrowed frame */
    uint32_t rx_borrowed;
    uint64_t *tx_free;      /* addresses of TX frames nobody uses, a stack */
    uint32_t tx_nfree;
    uint32_t tx_queued;     /* committed this pass, not yet submitted */
    uint32_t tx_inflight;   /* submitted, completion not yet reaped */
    int zerocopy;
    uint32_t rx_flags;      /* FRAME_CSUM_LOCAL_LINK on a virtual interface, else 0 */
    char mode[32];
};

/* Take every completed TX frame back onto the free list: no system call. */
static void xdp_reap(struct nic_xdp *x)
{
    uint32_t idx;
    uint32_t n = xsk_ring_cons__peek(&x->comp, x->half, &idx);
    for (uint32_t i = 0; i < n; i++)
        x->tx_free[x->tx_nfree++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
    if (n) {
        xsk_ring_cons__release(&x->comp, n);
        x->tx_inflight -= n;
    }
}

/* Borrows frames from the RX ring; several bursts may be outstanding before a release. */
static unsigned xdp_rx_burst(struct nic *n, struct frame *out, unsigned max)
{
    struct nic_xdp *x = (void *)n;
    uint32_t idx;
    unsigned k = xsk_ring_cons__peek(&x->rx, max, &idx);
    for (unsigned i = 0; i < k; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
        out[i].data = xsk_umem__get_data(x->area, d->addr);
        out[i].len = d->len;
        out[i].wire_len = d->len;
        out[i].flags = x->rx_flags;
    }
    x->rx_borrowed += k;
    return k;
}

/* Gives the oldest `count` borrowed frames back: their addresses go to the fill ring
 * (read before the RX entries are released, since the kernel may then reuse them). */
static void xdp_rx_release(struct nic *n, unsigned count)
{
    struct nic_xdp *x = (void *)n;
    uint32_t fidx;
    if (xsk_ring_prod__reserve(&x->fill, count, &fidx) != count) {
        fprintf(stderr, "ssdk: af_xdp: no room on the fill ring for %u frames\n", count);
        abort();  /* cannot happen: the fill ring has two entries for every RX frame */
    }
    for (unsigned i = 0; i < count; i++) {
        uint64_t addr = xsk_ring_cons__rx_desc(&x->rx, x->rx_next + i)->addr;
        *xsk_ring_prod__fill_addr(&x->fill, fidx + i) = addr & ~(uint64_t)(FRAME_SIZE - 1);
    }
    xsk_ring_prod__submit(&x->fill, count);
    xsk_ring_cons__release(&x->rx, count);
    x->rx_next += count;
    x->rx_borrowed -= count;
}

/* The next free TX frame (stays on the free list until tx_commit), or NULL. */
static uint8_t *xdp_tx_slot(struct nic *n)
{
    struct nic_xdp *x = (void *)n;
    if (!x->tx_nfree)
        xdp_reap(x);
    if (!x->tx_nfree)
        return NULL;
    return xsk_umem__get_data(x->area, x->tx_free[x->tx_nfree - 1]);
}

/* Puts the frame tx_slot returned on the TX ring (reserved, submitted at flush). */
static void xdp_tx_commit(struct nic *n, uint32_t len)
{
    struct nic_xdp *x = (void *)n;
    uint32_t idx;
    if (xsk_ring_prod__reserve(&x->tx, 1, &idx) != 1) {
        fprintf(stderr, "ssdk: af_xdp: no room on the TX ring\n");
        abort();  /* cannot happen: the TX ring has two entries for every TX frame */
    }
    struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx);
    d->addr = x->tx_free[--x->tx_nfree];
    d->len = len;
    d->options = 0;
    x->tx_queued++;
}

/* Submits this pass's frames; kicks the kernel only when it asks to be woken. In copy
 * mode one sendto sends a bounded batch and says EAGAIN when it stopped early, so it is
 * repeated until the TX ring is drained or the kernel is busy. */
static void xdp_tx_flush(struct nic *n)
{
    struct nic_xdp *x = (void *)n;
    if (x->tx_queued) {
        xsk_ring_prod__submit(&x->tx, x->tx_queued);
        x->tx_inflight += x->tx_queued;
        x->tx_queued = 0;
    }
    if (x->tx_inflight && xsk_ring_prod__needs_wakeup(&x->tx)) {
        int fd = xsk_socket__fd(x->xsk);
        for (int i = 0; i < KICK_MAX; i++) {
            if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0 || errno != EAGAIN)
                break;
            if (xsk_prod_nb_free(&x->tx, x->nframes) == x->nframes)
                break;  /* the kernel took every descriptor */
            xdp_reap(x);
        }
    }
    xdp_reap(x);
    /* The fill ring may need a wakeup too (zero-copy drivers that ran dry). */
    if (x->zerocopy && xsk_ring_prod__needs_wakeup(&x->fill))
        recvfrom(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static int xdp_fd(struct nic *n) { return xsk_socket__fd(((struct nic_xdp *)n)->xsk); }

/* XDP_STATISTICS counts from the socket's start and is not reset by reading. */
static uint64_t xdp_rx_dropped(struct nic *n)
{
    struct nic_xdp *x = (void *)n;
    struct xdp_statistics st;
    memset(&st, 0, sizeof(st));
    socklen_t len = sizeof(st);
    if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, &st, &len))
        return 0;
    return st.rx_dropped + st.rx_ring_full + st.rx_fill_ring_empty_descs;
}

/* Owns the socket (and with it the XDP program libxdp loaded), the UMEM and its memory. */
static void xdp_destroy(struct nic *n)
{
    struct nic_xdp *x = (void *)n;
    libxdp_print_fn_t old_xdp = libxdp_set_print(quiet_xdp);
    libbpf_print_fn_t old_bpf = libbpf_set_print(quiet_bpf);
    if (x->xsk)
        xsk_socket__delete(x->xsk);  /* libxdp's default program goes with it; the kernel
                                        takes a closed socket out of ssdk's XSKMAP */
    if (x->umem)
        xsk_umem__delete(x->umem);
    libxdp_set_print(old_xdp);
    libbpf_set_print(old_bpf);
    if (x->area && x->area != MAP_FAILED)
        munmap(x->area, x->area_len);
    free(x->tx_free);
    free(x);
}

/* One attempt in one XDP mode: a fresh UMEM (a failed bind may leave the old one's fd
 * bound) and the socket. Returns 0 or a negative errno. */
static int xdp_open(struct nic_xdp *x, const char *ifname, uint32_t queue, uint32_t xdp_flags,
                    int xsks_map_fd)
{
    if (x->umem) {
        xsk_umem__delete(x->umem);
        x->umem = NULL;
    }
    struct xsk_umem_config ucfg = {
        .fill_size = x->nframes, .comp_size = x->half, .frame_size = FRAME_SIZE,
        .frame_headroom = 0, .flags = 0,
    };
    int rc = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fill, &x->comp, &ucfg);
    if (rc) {
        x->umem = NULL;
        return rc < 0 ? rc : -rc;
    }
    /* Under ssdk's own program: load nothing, and bind for copies where that program
     * runs in SKB mode (generic XDP hands the socket copies of skbs). */
    struct xsk_socket_config scfg = {
        .rx_size = x->half, .tx_size = x->nframes,
        .libxdp_flags = xsks_map_fd >= 0 ? XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0,
        .xdp_flags = xdp_flags,
        .bind_flags = XDP_USE_NEED_WAKEUP
                      | (xsks_map_fd >= 0 && xdp_flags == XDP_FLAGS_SKB_MODE ? XDP_COPY : 0),
    };
    rc = xsk_socket__create(&x->xsk, ifname, queue, x->umem, &x->rx, &x->tx, &scfg);
    if (rc) {
        x->xsk = NULL;
        return rc < 0 ? rc : -rc;
    }
    if (xsks_map_fd >= 0 && (rc = xsk_socket__update_xskmap(x->xsk, xsks_map_fd)))
        return rc < 0 ? rc : -rc;
    return 0;
}

/* Whether ifname is a virtual link whose frames are all built by kernels on this machine
 * (see the head of this file); asked through the socket s, so it answers for the
 * namespace we run in. Anything else, or no answer, counts as a wire. */
static int local_link(int s, const char *ifname)
{
    static const char *const virtual_drivers[] = {"veth", "tun", "netkit"};
    struct ethtool_drvinfo info;
    struct ifreq ifr;
    memset(&info, 0, sizeof(info));
    memset(&ifr, 0, sizeof(ifr));
    info.cmd = ETHTOOL_GDRVINFO;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    ifr.ifr_data = (void *)&info;
    if (ioctl(s, SIOCETHTOOL, &ifr))
        return 0;
    for (size_t i = 0; i < sizeof(virtual_drivers) / sizeof(virtual_drivers[0]); i++)
        if (strncmp(info.driver, virtual_drivers[i], sizeof(info.driver)) == 0)
            return 1;
    return 0;
}

#define XDP_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); xdp_destroy(&x->nic); return NULL; } while (0)

struct nic *nic_af_xdp_new(const char *ifname, uint32_t queue, uint32_t ring_frames,
                           uint32_t flags, int xsks_map_fd, char *err, unsigned long errlen)
{
    if ((flags & NIC_XDP_NATIVE) && (flags & NIC_XDP_SKB)) {
        snprintf(err, errlen, "native and SKB mode exclude each other");
        return NULL;
    }
    if (xsks_map_fd >= 0 && !(flags & (NIC_XDP_NATIVE | NIC_XDP_SKB))) {
        snprintf(err, errlen, "an XSKMAP comes with the mode its program runs in");
        return NULL;
    }
    struct nic_xdp *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    x->nic = (struct nic){
        .name = "af_xdp", .rx_burst = xdp_rx_burst, .rx_release = xdp_rx_release,
        .tx_slot = xdp_tx_slot, .tx_commit = xdp_tx_commit, .tx_flush = xdp_tx_flush,
        .fd = xdp_fd, .rx_dropped = xdp_rx_dropped, .destroy = xdp_destroy,
    };
    if (!if_nametoindex(ifname))
        XDP_FAIL("interface %s: %s", ifname, strerror(errno));
    if (ring_frames > MAX_FRAMES)
        XDP_FAIL("ring_frames %u is more than %u", ring_frames, MAX_FRAMES);
    x->nframes = MIN_FRAMES;
    while (x->nframes < ring_frames)
        x->nframes <<= 1;
    x->half = x->nframes / 2;
    x->area_len = (size_t)x->nframes * FRAME_SIZE;
    x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (x->area == MAP_FAILED)
        XDP_FAIL("mmap of %zu bytes of UMEM: %s", x->area_len, strerror(errno));
    x->tx_free = malloc(x->half * sizeof(uint64_t));
    if (!x->tx_free)
        XDP_FAIL("out of memory");

    libxdp_print_fn_t old_xdp = libxdp_set_print(quiet_xdp);
    libbpf_print_fn_t old_bpf = libbpf_set_print(quiet_bpf);
    int rc = -EINVAL, native = 0;
    if (!(flags & NIC_XDP_SKB)) {
        rc = xdp_open(x, ifname, queue, XDP_FLAGS_DRV_MODE, xsks_map_fd);
        native = rc == 0;
    }
    int rc_native = rc;
    if (rc && !(flags & NIC_XDP_NATIVE))
        rc = xdp_open(x, ifname, queue, XDP_FLAGS_SKB_MODE, xsks_map_fd);
    libxdp_set_print(old_xdp);
    libbpf_set_print(old_bpf);
    if (rc) {
        if (flags & NIC_XDP_SKB)
            XDP_FAIL("AF_XDP socket on %s queue %u (SKB mode): %s", ifname, queue,
                     strerror(-rc));
        if (flags & NIC_XDP_NATIVE)
            XDP_FAIL("AF_XDP socket on %s queue %u (native mode): %s", ifname, queue,
                     strerror(-rc));
        XDP_FAIL("AF_XDP socket on %s queue %u: native mode: %s; SKB mode: %s (needs "
                 "CAP_NET_ADMIN and CAP_BPF, and a queue the interface has)", ifname, queue,
                 strerror(-rc_native), strerror(-rc));
    }

    struct xdp_options opts = {0};
    socklen_t olen = sizeof(opts);
    int zc = getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_OPTIONS, &opts, &olen) == 0
             && (opts.flags & XDP_OPTIONS_ZEROCOPY);
    x->zerocopy = zc;
    snprintf(x->mode, sizeof(x->mode), "%s, %s", native ? "native" : "SKB",
             zc ? "zero-copy" : "copy");
    x->nic.mode = x->mode;

    /* Every RX frame goes to the fill ring; every TX frame to the free list. */
    uint32_t fidx;
    if (xsk_ring_prod__reserve(&x->fill, x->half, &fidx) != x->half)
        XDP_FAIL("the fill ring has fewer than %u entries", x->half);
    for (uint32_t i = 0; i < x->half; i++)
        *xsk_ring_prod__fill_addr(&x->fill, fidx + i) = (uint64_t)i * FRAME_SIZE;
    xsk_ring_prod__submit(&x->fill, x->half);
    for (uint32_t i = 0; i < x->half; i++)
        x->tx_free[i] = (uint64_t)(x->nframes - 1 - i) * FRAME_SIZE;
    x->tx_nfree = x->half;

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    int ok = s >= 0 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0;
    int e = errno;
    if (ok && local_link(s, ifname))
        x->rx_flags = FRAME_CSUM_LOCAL_LINK;
    if (s >= 0)
        close(s);
    if (!ok)
        XDP_FAIL("SIOCGIFHWADDR %s: %s", ifname, strerror(e));
    memcpy(x->nic.mac, ifr.ifr_hwaddr.sa_data, 6);
    x->nic.has_mac = 1;
    return &x->nic;
}
