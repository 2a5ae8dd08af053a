/*
 * eth.c - the first stop of every received frame.
 *
 * serve/loop.c -> eth_input -> arp_input | ip_input | ip6_input (ip6.c)
 *
 * Accepts frames for our MAC and broadcast, and with an IPv6 address, IPv6 multicast
 * (33:33 and the group's low 32 bits, RFC 2464 7: ip6.c checks the group is one we
 * listen to); everything else is counted and dropped.
 */
#include <arpa/inet.h>
#include <string.h>
#include "net/net_priv.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void eth_input(struct net *e, struct frame *f)
{
    e->st->rx_frames++;
    e->st->rx_bytes += f->wire_len;
    if (f->flags & FRAME_GSO_SEG)
        e->st->rx_gso_segs++;
    if (f->len < f->wire_len) {
        e->st->drop_truncated++;
        return;
    }
    if (f->len < ETH_HLEN_) {
        e->st->drop_runt++;
        return;
    }
    const struct eth_hdr *eh = (const void *)f->data;
    int mcast6 = e->has_v6 && eh->dst[0] == 0x33 && eh->dst[1] == 0x33;
    if (memcmp(eh->dst, e->mac, 6) != 0 && memcmp(eh->dst, bcast, 6) != 0 && !mcast6) {
        e->st->drop_not_ours++;
        return;
    }
    uint8_t *p = f->data + ETH_HLEN_;
    uint32_t len = f->len - ETH_HLEN_;
    switch (ntohs(eh->type)) {
    case ETHTYPE_ARP:
        arp_input(e, eh, p, len);
        break;
    case ETHTYPE_IP:
        ip_input(e, eh, p, len, f->flags);
        break;
    case ETHTYPE_IP6:
        if (e->has_v6) {
            ip6_input(e, eh, p, len, f->flags);
            break;
        }
        e->st->drop_ethertype++;  /* an IPv4-only engine takes no IPv6 */
        break;
    default:
        e->st->drop_ethertype++;
    }
}
