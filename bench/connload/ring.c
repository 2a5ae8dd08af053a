/*
 * ring.c - the generator's two AF_PACKET sockets on one interface, each with an mmap'd
 * ring, so a frame in either direction costs no system call of its own:
 *
 *   receive   TPACKET_V3: the kernel fills 1 MiB blocks with many frames and hands a
 *             block over when it is full or 2 ms old; a million connections' replies
 *             arrive in bursts, and one poll wakes us for a whole block. A classic BPF
 *             filter lets through only ARP and IPv4 to our source network, so the
 *             kernel's own traffic (curl beside us) never fills the ring.
 *   transmit  TPACKET_V2: frames written into slots, then one send() for the batch.
 *             Bound with protocol 0, so this socket receives nothing itself.
 *
 * A block is big enough for a GSO super-frame (up to 64 KiB) that a veth peer with its
 * offloads on hands over in one piece.
 */
#include "connload.h"
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RX_BLOCK (1u << 20)
#define RX_BLOCKS 64u
#define RX_FRAME 2048u      /* a hint the kernel wants; V3 packs frames tightly */
#define RX_TOV_MS 2u
#define TX_FRAME 2048u
#define TX_FRAMES 4096u
#define TX_BATCH 64u        /* frames per send(): below a veth peer's backlog of 1000 */
#define TX_SPINS 100000u

struct ring {
    int rx_fd, tx_fd, ifindex;
    uint8_t *rx_map, *tx_map;
    uint32_t rx_cur, tx_cur, tx_pending;
    uint64_t drops, tx_waits;
};

static int fail(const char *what)
{
    fprintf(stderr, "connload: %s: %s\n", what, strerror(errno));
    return -1;
}

/* ARP, or IPv4 whose destination is in net/mask; everything else stays in the kernel. */
static int attach_filter(int fd, uint32_t net, uint32_t mask)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),              /* 0: EtherType */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 4, 0), /* 1: ARP -> 6 */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 4),  /* 2: not IPv4 -> 7 */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 30),              /* 3: destination address */
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask),           /* 4 */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, net, 0, 1),      /* 5: ours -> 6, else 7 */
        BPF_STMT(BPF_RET | BPF_K, 0x40000),                  /* 6: take it whole */
        BPF_STMT(BPF_RET | BPF_K, 0),                        /* 7: leave it */
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)))
        return fail("SO_ATTACH_FILTER");
    return 0;
}

static int bind_to(int fd, int ifindex, uint16_t proto)
{
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(proto),
                              .sll_ifindex = ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
        return fail("bind");
    return 0;
}

static int open_rx(struct ring *r, uint32_t net, uint32_t mask)
{
    /* Protocol 0 until the filter and the ring are in place: nothing queues meanwhile. */
    r->rx_fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (r->rx_fd < 0)
        return fail("socket(AF_PACKET) (root?)");
    int v = TPACKET_V3, one = 1;
    if (setsockopt(r->rx_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
        return fail("PACKET_VERSION");
    /* Our own frames are not replies; without this a veth's taps would hand them back. */
    if (setsockopt(r->rx_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)))
        return fail("PACKET_IGNORE_OUTGOING");
    if (attach_filter(r->rx_fd, net, mask))
        return -1;
    struct tpacket_req3 req = {.tp_block_size = RX_BLOCK, .tp_block_nr = RX_BLOCKS,
                               .tp_frame_size = RX_FRAME,
                               .tp_frame_nr = RX_BLOCK / RX_FRAME * RX_BLOCKS,
                               .tp_retire_blk_tov = RX_TOV_MS};
    if (setsockopt(r->rx_fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
        return fail("PACKET_RX_RING");
    r->rx_map = mmap(NULL, (size_t)RX_BLOCK * RX_BLOCKS, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_POPULATE, r->rx_fd, 0);
    if (r->rx_map == MAP_FAILED)
        return fail("mmap rx ring");
    return bind_to(r->rx_fd, r->ifindex, ETH_P_ALL);
}

static int open_tx(struct ring *r)
{
    r->tx_fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (r->tx_fd < 0)
        return fail("socket(AF_PACKET)");
    int v = TPACKET_V2, one = 1;
    if (setsockopt(r->tx_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
        return fail("PACKET_VERSION");
    /* Straight to the driver: a veth has no queue worth passing through. */
    if (setsockopt(r->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)))
        return fail("PACKET_QDISC_BYPASS");
    struct tpacket_req req = {.tp_block_size = TX_FRAME * 64, .tp_block_nr = TX_FRAMES / 64,
                              .tp_frame_size = TX_FRAME, .tp_frame_nr = TX_FRAMES};
    if (setsockopt(r->tx_fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)))
        return fail("PACKET_TX_RING");
    r->tx_map = mmap(NULL, (size_t)TX_FRAME * TX_FRAMES, PROT_READ | PROT_WRITE, MAP_SHARED,
                     r->tx_fd, 0);
    if (r->tx_map == MAP_FAILED)
        return fail("mmap tx ring");
    return bind_to(r->tx_fd, r->ifindex, 0);
}

static int if_info(struct ring *r, const char *ifname, uint8_t mac[6])
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (fd < 0 || ioctl(fd, SIOCGIFINDEX, &ifr))
        return fail(ifname);
    r->ifindex = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr))
        return fail("SIOCGIFHWADDR");
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    close(fd);
    return 0;
}

struct ring *ring_open(const char *ifname, uint32_t net, uint32_t mask, uint8_t mac[6])
{
    struct ring *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->rx_fd = r->tx_fd = -1;
    if (if_info(r, ifname, mac) || open_tx(r) || open_rx(r, net, mask)) {
        free(r);  /* the process exits at once: the kernel takes the sockets back */
        return NULL;
    }
    return r;
}

/* Hand every block the kernel has retired to fn, frame by frame; the number of frames. */
uint64_t ring_rx(struct ring *r, frame_fn fn, void *ctx)
{
    uint64_t n = 0;
    for (;;) {
        struct tpacket_block_desc *bd = (void *)(r->rx_map + (size_t)r->rx_cur * RX_BLOCK);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
            return n;
        uint32_t k = bd->hdr.bh1.num_pkts;
        const uint8_t *p = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
        for (uint32_t i = 0; i < k; i++) {
            const struct tpacket3_hdr *h = (const void *)p;
            fn(ctx, p + h->tp_mac, h->tp_snaplen);
            p += h->tp_next_offset;
        }
        n += k;
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        r->rx_cur = (r->rx_cur + 1) % RX_BLOCKS;
    }
}

static struct tpacket2_hdr *tx_hdr(struct ring *r, uint32_t i)
{
    return (void *)(r->tx_map + (size_t)i * TX_FRAME);
}

/* The next free slot's frame bytes; when the ring is full, flush and wait for the kernel
 * to finish with the oldest slot (a veth frees it once the peer has taken the frame). */
uint8_t *ring_tx_slot(struct ring *r)
{
    struct tpacket2_hdr *h = tx_hdr(r, r->tx_cur);
    for (uint32_t spin = 0;; spin++) {
        uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        if (st == TP_STATUS_AVAILABLE || st == TP_STATUS_WRONG_FORMAT)
            break;
        if (spin == 0)
            r->tx_waits++;
        r->tx_pending = 1;  /* send again even if nothing new: a send() may have stopped short */
        ring_tx_flush(r);
        if (spin > TX_SPINS)
            return NULL;
        sched_yield();
    }
    return (uint8_t *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
}

void ring_tx_commit(struct ring *r, uint32_t len)
{
    struct tpacket2_hdr *h = tx_hdr(r, r->tx_cur);
    h->tp_len = len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    r->tx_cur = (r->tx_cur + 1) % TX_FRAMES;
    if (++r->tx_pending >= TX_BATCH)
        ring_tx_flush(r);
}

void ring_tx_flush(struct ring *r)
{
    if (!r->tx_pending)
        return;
    r->tx_pending = 0;
    /* Sends every slot marked for sending; a veth delivers them before this returns. */
    while (send(r->tx_fd, NULL, 0, MSG_DONTWAIT) < 0 && errno == EINTR)
        ;
}

/* 1 if the receive ring has a block for us within ms milliseconds. */
int ring_wait(struct ring *r, int ms)
{
    struct tpacket_block_desc *bd = (void *)(r->rx_map + (size_t)r->rx_cur * RX_BLOCK);
    if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)
        return 1;
    struct pollfd pfd = {.fd = r->rx_fd, .events = POLLIN};
    return poll(&pfd, 1, ms) > 0;
}

/* Frames the kernel dropped because the receive ring was full, since the last call. */
uint64_t ring_drops(struct ring *r)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    if (!getsockopt(r->rx_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
        r->drops += st.tp_drops;  /* reading resets the kernel's counters */
    return r->drops;
}

uint64_t ring_tx_waits(const struct ring *r)
{
    return r->tx_waits;
}
