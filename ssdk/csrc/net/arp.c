/*
 * arp.c - answers ARP requests for our address (RFC 826).
 *
 * eth_input -> arp_input -> nic->tx_slot/tx_commit
 *
 * The stack keeps no ARP cache: replies of every kind go to the source MAC of the frame
 * that caused them, so there is nothing to resolve on the reply path.
 */
#include <arpa/inet.h>
#include <string.h>
#include "net/net_priv.h"

void arp_input(struct net *e, const struct eth_hdr *eh, const uint8_t *p, uint32_t len)
{
    const struct arp_pkt *a = (const void *)p;
    if (len < sizeof(*a) || ntohs(a->htype) != 1 || ntohs(a->ptype) != ETHTYPE_IP
        || a->hlen != 6 || a->plen != 4 || ntohs(a->op) != 1 || ip_local4(e, a->tpa) < 0) {
        e->st->drop_arp++;
        return;
    }
    uint8_t *out = e->nic->tx_slot(e->nic);
    if (!out) {
        e->st->tx_ring_full++;
        return;
    }
    struct eth_hdr *oe = (void *)out;
    memcpy(oe->dst, eh->src, 6);
    memcpy(oe->src, e->mac, 6);
    oe->type = htons(ETHTYPE_ARP);
    struct arp_pkt *r = (void *)(out + ETH_HLEN_);
    r->htype = htons(1);
    r->ptype = htons(ETHTYPE_IP);
    r->hlen = 6;
    r->plen = 4;
    r->op = htons(2);
    memcpy(r->sha, e->mac, 6);
    r->spa = a->tpa;
    memcpy(r->tha, a->sha, 6);
    r->tpa = a->spa;
    /* Pad to the 60-byte Ethernet minimum. */
    uint32_t n = ETH_HLEN_ + sizeof(*r);
    memset(out + n, 0, 60 - n);
    e->nic->tx_commit(e->nic, 60);
    e->st->tx_frames++;
    e->st->tx_bytes += 60;
    e->st->arp_replies++;
}
