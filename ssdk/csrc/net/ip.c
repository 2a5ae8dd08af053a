/*
 * ip.c - IPv4 in and out (RFC 791).
 *
 * eth_input -> ip_input -> icmp_input | e->tcp_input (tcp/tcp_in.c; tcp_init registers it)
 * tcp/tcp_out.c, icmp.c -> ip_output_hdr
 *
 * Input validates the header completely before anything above looks at it: version,
 * header and total length against the frame, header checksum, our address. Fragments
 * are dropped (a server whose replies are prebuilt segments has no use for reassembly,
 * and its peers use path MTU discovery). Trailing Ethernet padding is cut off here.
 */
#include <arpa/inet.h>
#include <string.h>
#include "base/csum.h"
#include "net/net_priv.h"

void ip_input(struct net *e, const struct eth_hdr *eh, uint8_t *p, uint32_t len,
              uint32_t fflags)
{
    if (len < 20) {
        e->st->drop_runt++;
        return;
    }
    const struct ip_hdr *ih = (const void *)p;
    if ((ih->ver_ihl >> 4) != 4) {
        e->st->drop_ip_version++;
        return;
    }
    uint32_t hl = (uint32_t)(ih->ver_ihl & 0xf) * 4, tl = ntohs(ih->len);
    if (hl < 20 || hl > len || tl < hl || tl > len) {
        e->st->drop_ip_len++;
        return;
    }
    if (!csum_ok(csum_partial(p, hl, 0))) {
        e->st->drop_ip_csum++;
        return;
    }
    if (ih->dst != e->ip_be) {
        e->st->drop_not_ours++;
        return;
    }
    if (ntohs(ih->frag) & (IP_MF | IP_OFFMASK)) {
        e->st->drop_ip_frag++;
        return;
    }
    switch (ih->proto) {
    case IPPROTO_TCP_:
        e->tcp_input(e, eh, ih, p + hl, tl - hl, fflags);
        break;
    case IPPROTO_ICMP_:
        icmp_input(e, eh, ih, p + hl, tl - hl);
        break;
    default:
        e->st->drop_ip_proto++;
    }
}

/* Ethernet and a 20-byte IPv4 header, checksummed, in front of l4len bytes. */
void ip_output_hdr(struct net *e, uint8_t *frame, const uint8_t dst_mac[6],
                   uint32_t dst_be, uint8_t proto, uint16_t l4len)
{
    struct eth_hdr *eh = (void *)frame;
    memcpy(eh->dst, dst_mac, 6);
    memcpy(eh->src, e->mac, 6);
    eh->type = htons(ETHTYPE_IP);
    struct ip_hdr *ih = (void *)(frame + ETH_HLEN_);
    ih->ver_ihl = 0x45;
    ih->tos = 0;
    ih->len = htons((uint16_t)(20 + l4len));
    ih->id = htons(e->ip_id++);
    ih->frag = htons(IP_DF);
    ih->ttl = 64;
    ih->proto = proto;
    ih->csum = 0;
    ih->src = e->ip_be;
    ih->dst = dst_be;
    ih->csum = htons(csum_finish(csum_partial(ih, 20, 0)));
}
