/*
 * net_priv.h - what the files of net/ call of each other (nothing outside net/ includes
 * it): eth.c hands frames to arp.c, ip.c and ip6.c; ip.c hands echo requests to icmp.c;
 * ip6.c hands ICMPv6 to icmp6.c, which hands neighbour discovery and MLD to nd6.c.
 */
#ifndef SSDK_NET_PRIV_H
#define SSDK_NET_PRIV_H
#include "base/check.h"
#include "net/net.h"

/* What ip6.c found of a packet for us: rx (the peer, our address) and its IPv6 header;
 * mcast: it was sent to a multicast group we listen to, not to addr[rx.local] itself. */
struct ip6_rx {
    struct ip_rx rx;
    const struct ip6_hdr *ih;
    uint32_t len;             /* the packet's length, header included, padding cut */
    uint8_t mcast;
};

void arp_input(struct net *e, const struct eth_hdr *eh, const uint8_t *p, uint32_t len);
void ip_input(struct net *e, const struct eth_hdr *eh, uint8_t *p, uint32_t len,
              uint32_t fflags);
int  ip_local4(const struct net *e, uint32_t dst_be);
void icmp_input(struct net *e, const struct ip_rx *rx, const uint8_t *p, uint32_t len);

/* ip6.c */
void ip6_input(struct net *e, const struct eth_hdr *eh, uint8_t *p, uint32_t len,
               uint32_t fflags);
void ip6_output_hdr(uint8_t *frame, const struct ip_addr *src, const struct ip_addr *dst,
                    uint8_t next, uint8_t hlim, uint16_t plen);
void ip6_solicited(const struct ip_addr *a, struct ip_addr *group);
/* ip6_ext.c */
int  ip6_ext_walk(struct net *e, const struct ip6_rx *r, uint32_t *off, uint8_t *next,
                  uint32_t *nh_at);

/* icmp6.c */
void icmp6_input(struct net *e, const struct ip6_rx *r, const uint8_t *p, uint32_t len);
void icmp6_param_problem(struct net *e, const struct ip6_rx *r, uint8_t code, uint32_t ptr);
uint8_t *icmp6_start(struct net *e, const uint8_t dst_mac[6], const struct ip_addr *src,
                     const struct ip_addr *dst, uint8_t hlim, uint32_t len);
void icmp6_send(struct net *e, uint8_t *frame, uint32_t ext, uint32_t len);

/* nd6.c */
void nd6_solicit_in(struct net *e, const struct ip6_rx *r, const uint8_t *p, uint32_t len);
#define MLD_IS_EXCLUDE 2   /* RFC 3810 5.2.12: a current-state record */
void mld6_report(struct net *e, uint8_t record_type);

#endif
