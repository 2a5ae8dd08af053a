/*
 * net.h - the network layer's state and what the layers above call: Ethernet in, IPv4
 * and IPv6 headers out, one address type for both. Private to net/: net_priv.h.
 *
 * serve/loop.c -> eth_input -> arp_input | ip_input  -> icmp_input
 *                                                    -> e->tcp_input (registered by tcp/)
 *                           -> ip6_input -> nd6_input | icmp6_input -> e->tcp_ptb
 *                                        -> e->tcp_input
 * serve/loop.c -> net_addrs_set (addr.c), net_start -> mld6_report (a backend attached)
 * serve/loop.c -> net_tick -> mld6_report (every MLD_REPEAT_US)
 * tcp/tcp_out.c -> ip_output_hdr, ip_pseudo
 *
 * struct net is the bottom of the engine's state: the layers above embed it (struct tcp
 * holds it as `net`, struct ssdk_engine holds struct tcp), so what every layer needs,
 * the configuration, the clock and the counters, lives here once. The layer above
 * registers itself for what IP carries up (tcp_input, tcp_ptb), as lwIP's netif->input
 * is registered: net/ calls nothing above it.
 *
 * Addresses: every address, ours or a peer's, is a struct ip_addr of 16 bytes in
 * network order: an IPv6 address, or an IPv4 address mapped into IPv6 (::ffff:a.b.c.d,
 * RFC 4291 2.5.5.2), so the layers above key, hash and compare one type whatever the
 * version. Our own addresses are the list net.addr (cfg.addrs); the layers above name
 * one by its index there (1 byte), and the index says the version (net.addr_v6).
 */
#ifndef SSDK_NET_H
#define SSDK_NET_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "ssdk.h"
#include "base/proto.h"
#include "nic/nic.h"

#define NET_ADDRS_MAX 8   /* ssdk_config.addrs */

struct ip_addr {
    uint8_t b[16];
};

/* What net/ says of a packet it hands up: the frame it came in (its source MAC is where
 * the answer goes: there is no neighbour cache), the peer, and which of our addresses
 * it was sent to. */
struct ip_rx {
    const struct eth_hdr *eh;
    struct ip_addr src;
    uint8_t local;            /* index into net.addr */
};

/* ICMPv6 parameter problems are rate-limited (RFC 4443 2.4(f)): a token bucket of
 * PP_BURST messages, refilled at PP_PER_S a second. */
#define PP_BURST 10
#define PP_PER_S 10

struct net {
    struct ssdk_config cfg;   /* the engine's configuration: every layer reads it */
    uint64_t now_us;          /* the loop's clock, read once a pass */
    struct ssdk_stats *st;    /* the counters (the engine's own, or shared memory) */
    struct nic *nic;
    struct ip_addr addr[NET_ADDRS_MAX];  /* ours, v4 mapped or v6 */
    uint8_t  addr_v6[NET_ADDRS_MAX];     /* 1 where addr[i] is IPv6 */
    uint8_t  naddr;
    uint8_t  has_v6;          /* any addr_v6: ethertype 0x86DD is ours to take */
    uint8_t  mac[6];
    uint16_t ip_id;
    uint64_t pp_full_us;      /* the parameter-problem bucket: when it is full again
                                 (icmp6.c); 0 at start: full */
    uint64_t mld_due_us;      /* when the next unasked MLD report goes (nd6.c); 0: the
                                 next pass sets it */
    /* Up: a TCP segment for our address, its IP header checked; p is its TCP header
     * (len bytes with the payload), fflags the frame's FRAME_* flags. */
    void (*tcp_input)(struct net *e, const struct ip_rx *rx, uint8_t *p, uint32_t len,
                      uint32_t fflags);
    /* Up: an ICMPv6 Packet Too Big quoting a TCP segment we sent from addr[local] to
     * peer (th: the quoted TCP header, len >= 8 bytes of it), the path's MTU. */
    void (*tcp_ptb)(struct net *e, uint8_t local, const struct ip_addr *peer,
                    const uint8_t *th, uint32_t len, uint32_t mtu);
};

static inline uint64_t now_ms(const struct net *e) { return e->now_us / 1000; }

static inline int ip_addr_eq(const struct ip_addr *a, const struct ip_addr *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

/* ::ffff:a.b.c.d for a (network order) */
static inline struct ip_addr ip_addr_v4(uint32_t be)
{
    struct ip_addr a = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}};
    memcpy(a.b + 12, &be, 4);
    return a;
}

static inline uint32_t ip_addr_v4_be(const struct ip_addr *a)
{
    uint32_t be;
    memcpy(&be, a->b + 12, 4);
    return be;
}

/* The IP header's length in front of what we send from addr[local]. */
static inline uint32_t ip_hlen(const struct net *e, uint8_t local)
{
    return e->addr_v6[local] ? IP6_HLEN : 20;
}

/* Our addresses from cfg (addr.c); -1 with a message in err when one is bad. */
int net_addrs_set(struct net *n, const struct ssdk_config *cfg, char *err, size_t errlen);
/* A received frame, from the loop. */
void eth_input(struct net *e, struct frame *f);
/* The Ethernet MACs of the groups we listen to (solicited-node, each once: nd6.c),
 * at most NET_ADDRS_MAX; returns how many. */
uint32_t net_group_macs(const struct net *e, uint8_t macs[][6]);
/* The backend is attached: announce what must be announced (MLDv2, nd6.c). */
void net_start(struct net *e);
/* Once a pass, after the received frames: what falls due by the clock (the MLDv2
 * report repeated, nd6.c). */
void net_tick(struct net *e);
/* Write Ethernet + IP headers (of our address addr[local]'s version) to dst in front of
 * an L4 payload of l4len bytes; returns the IP header's length. */
uint32_t ip_output_hdr(struct net *e, uint8_t *frame, const uint8_t dst_mac[6], uint8_t local,
                       const struct ip_addr *dst, uint8_t proto, uint16_t l4len);
/* The pseudo-header's sum (RFC 9293 3.1; RFC 8200 8.1) between addr[local] and peer for
 * l4len bytes of proto. It is the same either way round: input and output share it. */
uint64_t ip_pseudo(const struct net *e, uint8_t local, const struct ip_addr *peer,
                   uint8_t proto, uint32_t l4len);

#endif
