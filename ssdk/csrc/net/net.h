/*
 * net.h - the network layer's state and what the layers above call: Ethernet in, IPv4
 * headers out. Private to net/: net_priv.h.
 *
 * serve/loop.c -> eth_input -> arp_input | ip_input -> icmp_input
 *                                                    -> e->tcp_input (registered by tcp/)
 * tcp/tcp_out.c -> ip_output_hdr
 *
 * struct net is the bottom of the engine's state: the layers above embed it (struct tcp
 * holds it as `net`, struct ssdk_engine holds struct tcp), so what every layer needs,
 * the configuration, the clock and the counters, lives here once. The layer above
 * registers itself for what IPv4 carries up (tcp_input), as lwIP's netif->input is
 * registered: net/ calls nothing above it.
 */
#ifndef SSDK_NET_H
#define SSDK_NET_H
#include <stdint.h>
#include "ssdk.h"
#include "base/proto.h"
#include "nic/nic.h"

struct net {
    struct ssdk_config cfg;   /* the engine's configuration: every layer reads it */
    uint64_t now_us;          /* the loop's clock, read once a pass */
    struct ssdk_stats *st;    /* the counters (the engine's own, or shared memory) */
    struct nic *nic;
    uint32_t ip_be;
    uint8_t  mac[6];
    uint16_t ip_id;
    /* Up: a TCP segment for our address, its IPv4 header checked; p is its TCP header
     * (len bytes with the payload), fflags the frame's FRAME_* flags. */
    void (*tcp_input)(struct net *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                      uint8_t *p, uint32_t len, uint32_t fflags);
};

static inline uint64_t now_ms(const struct net *e) { return e->now_us / 1000; }

/* A received frame, from the loop. */
void eth_input(struct net *e, struct frame *f);
/* Write Ethernet + IPv4 headers in front of an L4 payload of l4len bytes. */
void ip_output_hdr(struct net *e, uint8_t *frame, const uint8_t dst_mac[6], uint32_t dst_be,
                   uint8_t proto, uint16_t l4len);

#endif
