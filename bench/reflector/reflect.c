/*
 * bench/reflector/reflect.c - the ceiling of the benchmark path: a trivial AF_XDP
 * reflector. Bound through libxdp to one queue of one interface, it swaps the MAC
 * addresses, the IPv4 addresses and the UDP ports of every IPv4/UDP frame it receives and
 * sends the frame back out of the same UMEM buffer (nothing is copied in user space).
 * Other frames are given back to the fill ring and counted. Swapping fields inside a sum
 * leaves the sum unchanged, so no checksum is touched.
 *
 * Built and run by bench/wrk_vs_nginx.py (the "ceiling" of its report):
 *   gcc -O2 -Wall -Wextra -Werror reflect.c -o reflect -lxdp -lbpf
 *   ip netns exec SERVER_NS taskset -c CORE ./reflect IFNAME [QUEUE [auto|native|skb]]
 * It prints "ready MODE" (e.g. "ready native, copy") once the socket is bound, reflects
 * until SIGINT or SIGTERM, then prints one JSON line: frames received, frames sent (TX
 * completions), frames dropped as not IPv4/UDP, the socket's XDP_STATISTICS, and the
 * seconds from the first frame to the last.
 *
 * UMEM: NFRAMES frames of FRAME_SIZE bytes. A frame is always in exactly one place: the
 * fill ring, the kernel, the RX ring, the TX ring or the completion ring; a completion
 * goes straight back to the fill ring. The fill and TX rings have twice as many entries
 * as there are frames, because the kernel publishes its consumer index lazily, so
 * reserving room never fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#define NFRAMES 4096u
#define RING (2u * NFRAMES)
#define FRAME_SIZE 2048u
#define BATCH 64u
#define KICK_MAX 64

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

struct refl {
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons comp, rx;
    uint8_t *area;
    uint32_t tx_outstanding;  /* submitted, completion not yet seen */
    uint64_t rx_frames, tx_frames, dropped, kicks;
    struct timespec first, last;
    int seen;
};

static void stamp(struct refl *r)
{
    clock_gettime(CLOCK_MONOTONIC, &r->last);
    if (!r->seen) {
        r->first = r->last;
        r->seen = 1;
    }
}

/* Every completed TX frame goes back to the fill ring. */
static void reap(struct refl *r)
{
    uint32_t cidx, fidx;
    uint32_t n = xsk_ring_cons__peek(&r->comp, BATCH * 4, &cidx);
    if (!n)
        return;
    if (xsk_ring_prod__reserve(&r->fill, n, &fidx) != n) {
        xsk_ring_cons__cancel(&r->comp, n);  /* cannot happen: the fill ring has room */
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t addr = *xsk_ring_cons__comp_addr(&r->comp, cidx + i);
        *xsk_ring_prod__fill_addr(&r->fill, fidx + i) = addr & ~(uint64_t)(FRAME_SIZE - 1);
    }
    xsk_ring_prod__submit(&r->fill, n);
    xsk_ring_cons__release(&r->comp, n);
    r->tx_outstanding -= n;
    r->tx_frames += n;
    stamp(r);
}

/* Asks the kernel to send what the TX ring holds, when it wants to be asked. In copy mode
 * one sendto sends a bounded batch and says EAGAIN when more is left. */
static void kick(struct refl *r)
{
    if (!r->tx_outstanding || !xsk_ring_prod__needs_wakeup(&r->tx))
        return;
    int fd = xsk_socket__fd(r->xsk);
    for (int i = 0; i < KICK_MAX; i++) {
        r->kicks++;
        if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
            break;
        if (errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
            break;
        reap(r);
        if (!r->tx_outstanding)
            break;
    }
}

/* Swaps the frame's addresses and ports in place; 0 if it is not IPv4/UDP. */
static int reflect_frame(uint8_t *p, uint32_t len)
{
    if (len < sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))
        return 0;
    struct ethhdr *eth = (struct ethhdr *)p;
    if (eth->h_proto != htons(ETH_P_IP))
        return 0;
    struct iphdr *ip = (struct iphdr *)(p + sizeof(*eth));
    uint32_t ihl = (uint32_t)ip->ihl * 4u;
    if (ip->version != 4 || ip->protocol != IPPROTO_UDP || ihl < sizeof(*ip)
        || len < sizeof(*eth) + ihl + sizeof(struct udphdr))
        return 0;
    struct udphdr *udp = (struct udphdr *)(p + sizeof(*eth) + ihl);
    uint8_t mac[ETH_ALEN];
    memcpy(mac, eth->h_dest, ETH_ALEN);
    memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
    memcpy(eth->h_source, mac, ETH_ALEN);
    uint32_t a = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = a;
    uint16_t port = udp->source;
    udp->source = udp->dest;
    udp->dest = port;
    return 1;
}

/* One pass over what the RX ring holds (at most BATCH): reflect onto the TX ring, give
 * everything else back to the fill ring. Returns the frames taken. */
static uint32_t rx_pass(struct refl *r)
{
    uint32_t ridx, tidx = 0, fidx = 0;
    uint32_t n = xsk_ring_cons__peek(&r->rx, BATCH, &ridx);
    if (!n)
        return 0;
    uint64_t out_addr[BATCH], drop_addr[BATCH];
    uint32_t out_len[BATCH];
    uint32_t nout = 0, ndrop = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&r->rx, ridx + i);
        if (reflect_frame(xsk_umem__get_data(r->area, d->addr), d->len)) {
            out_addr[nout] = d->addr;
            out_len[nout++] = d->len;
        } else {
            drop_addr[ndrop++] = d->addr & ~(uint64_t)(FRAME_SIZE - 1);
        }
    }
    if ((nout && xsk_ring_prod__reserve(&r->tx, nout, &tidx) != nout)
        || (ndrop && xsk_ring_prod__reserve(&r->fill, ndrop, &fidx) != ndrop)) {
        /* cannot happen: both rings have an entry for every frame, twice over */
        fprintf(stderr, "reflect: no room on the TX or fill ring\n");
        abort();
    }
    for (uint32_t i = 0; i < nout; i++) {
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&r->tx, tidx + i);
        d->addr = out_addr[i];
        d->len = out_len[i];
        d->options = 0;
    }
    for (uint32_t i = 0; i < ndrop; i++)
        *xsk_ring_prod__fill_addr(&r->fill, fidx + i) = drop_addr[i];
    if (nout)
        xsk_ring_prod__submit(&r->tx, nout);
    if (ndrop)
        xsk_ring_prod__submit(&r->fill, ndrop);
    xsk_ring_cons__release(&r->rx, n);
    r->tx_outstanding += nout;
    r->rx_frames += n;
    r->dropped += ndrop;
    stamp(r);
    return n;
}

static int open_socket(struct refl *r, const char *ifname, uint32_t queue, uint32_t xdp_flags)
{
    if (r->umem) {
        xsk_umem__delete(r->umem);
        r->umem = NULL;
    }
    struct xsk_umem_config ucfg = {
        .fill_size = RING, .comp_size = RING, .frame_size = FRAME_SIZE,
        .frame_headroom = 0, .flags = 0,
    };
    int rc = xsk_umem__create(&r->umem, r->area, (uint64_t)NFRAMES * FRAME_SIZE, &r->fill,
                              &r->comp, &ucfg);
    if (rc) {
        r->umem = NULL;
        return rc;
    }
    struct xsk_socket_config scfg = {
        .rx_size = RING, .tx_size = RING, .libxdp_flags = 0,
        .xdp_flags = xdp_flags, .bind_flags = XDP_USE_NEED_WAKEUP,
    };
    rc = xsk_socket__create(&r->xsk, ifname, queue, r->umem, &r->rx, &r->tx, &scfg);
    if (rc)
        r->xsk = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s IFNAME [QUEUE [auto|native|skb]]\n", argv[0]);
        return 2;
    }
    const char *ifname = argv[1];
    uint32_t queue = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 0;
    const char *want = argc > 3 ? argv[3] : "auto";
    if (!if_nametoindex(ifname)) {
        fprintf(stderr, "reflect: interface %s: %s\n", ifname, strerror(errno));
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;  /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    static struct refl r;
    r.area = mmap(NULL, (size_t)NFRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (r.area == MAP_FAILED) {
        perror("reflect: mmap");
        return 1;
    }
    /* EBUSY: the queue is still held by a socket closed just before (the kernel lets go
     * of it in deferred work), so that is retried for a while. */
    int rc = -EBUSY, native = 0;
    for (int tries = 0; (rc == -EBUSY || rc == EBUSY) && tries < 100; tries++) {
        if (tries)
            usleep(50 * 1000);
        rc = -EINVAL;
        if (strcmp(want, "skb") != 0) {
            rc = open_socket(&r, ifname, queue, XDP_FLAGS_DRV_MODE);
            native = rc == 0;
        }
        if (rc && rc != -EBUSY && strcmp(want, "native") != 0)
            rc = open_socket(&r, ifname, queue, XDP_FLAGS_SKB_MODE);
    }
    if (rc) {
        fprintf(stderr, "reflect: AF_XDP socket on %s queue %u: %s\n", ifname, queue,
                strerror(rc < 0 ? -rc : rc));
        if (r.umem)
            xsk_umem__delete(r.umem);
        return 1;
    }
    int fd = xsk_socket__fd(r.xsk);
    struct xdp_options opts;
    memset(&opts, 0, sizeof(opts));
    socklen_t olen = sizeof(opts);
    int zc = getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &olen) == 0
             && (opts.flags & XDP_OPTIONS_ZEROCOPY);

    uint32_t fidx;
    if (xsk_ring_prod__reserve(&r.fill, NFRAMES, &fidx) != NFRAMES) {
        fprintf(stderr, "reflect: the fill ring has fewer than %u entries\n", NFRAMES);
        return 1;
    }
    for (uint32_t i = 0; i < NFRAMES; i++)
        *xsk_ring_prod__fill_addr(&r.fill, fidx + i) = (uint64_t)i * FRAME_SIZE;
    xsk_ring_prod__submit(&r.fill, NFRAMES);

    printf("ready %s, %s\n", native ? "native" : "SKB", zc ? "zero-copy" : "copy");
    fflush(stdout);

    while (!stop) {
        uint32_t got = rx_pass(&r);
        kick(&r);
        reap(&r);
        if (zc && xsk_ring_prod__needs_wakeup(&r.fill))
            recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
        if (!got && !r.tx_outstanding) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, 100);
        }
    }

    struct xdp_statistics st;
    memset(&st, 0, sizeof(st));
    socklen_t slen = sizeof(st);
    getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &slen);
    double secs = r.seen ? (double)(r.last.tv_sec - r.first.tv_sec)
                               + (double)(r.last.tv_nsec - r.first.tv_nsec) / 1e9
                         : 0.0;
    printf("{\"mode\": \"%s, %s\", \"rx_frames\": %llu, \"tx_frames\": %llu, "
           "\"dropped_not_udp\": %llu, \"tx_outstanding\": %u, \"kicks\": %llu, "
           "\"seconds\": %.6f, \"xdp_rx_dropped\": %llu, \"xdp_rx_invalid_descs\": %llu, "
           "\"xdp_tx_invalid_descs\": %llu, \"xdp_rx_ring_full\": %llu, "
           "\"xdp_rx_fill_ring_empty_descs\": %llu, \"xdp_tx_ring_empty_descs\": %llu}\n",
           native ? "native" : "SKB", zc ? "zero-copy" : "copy",
           (unsigned long long)r.rx_frames, (unsigned long long)r.tx_frames,
           (unsigned long long)r.dropped, r.tx_outstanding, (unsigned long long)r.kicks,
           secs, (unsigned long long)st.rx_dropped,
           (unsigned long long)st.rx_invalid_descs, (unsigned long long)st.tx_invalid_descs,
           (unsigned long long)st.rx_ring_full, (unsigned long long)st.rx_fill_ring_empty_descs,
           (unsigned long long)st.tx_ring_empty_descs);
    fflush(stdout);
    xsk_socket__delete(r.xsk);
    xsk_umem__delete(r.umem);
    munmap(r.area, (size_t)NFRAMES * FRAME_SIZE);
    return 0;
}
