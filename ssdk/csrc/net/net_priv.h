/*
 * net_priv.h - what the files of net/ call of each other (nothing outside net/ includes
 * it): eth.c hands frames to arp.c and ip.c, ip.c hands echo requests to icmp.c.
 */
#ifndef SSDK_NET_PRIV_H
#define SSDK_NET_PRIV_H
#include "net/net.h"

void arp_input(struct net *e, const struct eth_hdr *eh, const uint8_t *p, uint32_t len);
void ip_input(struct net *e, const struct eth_hdr *eh, uint8_t *p, uint32_t len,
              uint32_t fflags);
void icmp_input(struct net *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                const uint8_t *p, uint32_t len);

#endif
