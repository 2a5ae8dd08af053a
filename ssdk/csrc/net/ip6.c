/*
 * ip6.c - IPv6 in and out (RFC 8200).
 *
 * eth_input -> ip6_input -> ip6_ext_walk (ip6_ext.c) -> e->tcp_input (tcp/tcp_in.c)
 *                                                    -> icmp6_input (icmp6.c)
 * ip.c (ip_output_hdr), icmp6.c, nd6.c -> ip6_output_hdr
 *
 * Input validates before anything above looks: version, payload length against the
 * frame (Ethernet padding is cut here), a source that may be answered (not multicast,
 * not unspecified: duplicate address detection is not done, so its solicitations from
 * :: have nothing to answer), and a destination that is ours: one of our addresses, or
 * a group we listen to (all-nodes ff02::1, and the solicited-node group of each of our
 * addresses, RFC 4291 2.7.1), which only ICMPv6 may use. Extension headers are walked
 * by ip6_ext.c. We never send one, and never fragment: a segment is cut to the path's
 * MTU by TCP (Packet Too Big, RFC 8201), never by IP.
 */
#include <arpa/inet.h>
#include <string.h>
#include "net/net_priv.h"

static const uint8_t all_nodes[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

/* RFC 4291 2.7.1: ff02::1:ffXX:XXXX, the low 24 bits of the address. */
void ip6_solicited(const struct ip_addr *a, struct ip_addr *group)
{
    static const uint8_t pre[13] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
    memcpy(group->b, pre, 13);
    memcpy(group->b + 13, a->b + 13, 3);
}

/* The index of the address dst names (*mcast 0), or of the address whose group it is
 * (*mcast 1: all-nodes names the first IPv6 address); -1 when it is not ours. */
static int ip6_local(const struct net *e, const uint8_t dst[16], uint8_t *mcast)
{
    int first = -1;
    *mcast = 0;
    for (uint8_t i = 0; i < e->naddr; i++) {
        if (!e->addr_v6[i])
            continue;
        if (memcmp(e->addr[i].b, dst, 16) == 0)
            return i;
        first = first < 0 ? i : first;
    }
    if (dst[0] != 0xff || first < 0)
        return -1;
    *mcast = 1;
    if (memcmp(dst, all_nodes, 16) == 0)
        return first;
    for (uint8_t i = 0; i < e->naddr; i++) {
        struct ip_addr g;
        ip6_solicited(&e->addr[i], &g);
        if (e->addr_v6[i] && memcmp(g.b, dst, 16) == 0)
            return i;
    }
    return -1;
}

/* Multicast, or :: (RFC 4291 2.5.2, 2.7): nobody to answer. */
static int src_unusable(const uint8_t src[16])
{
    static const uint8_t zero[16];
    return src[0] == 0xff || memcmp(src, zero, 16) == 0;
}

void ip6_input(struct net *e, const struct eth_hdr *eh, uint8_t *p, uint32_t len,
               uint32_t fflags)
{
    if (len < IP6_HLEN) {
        e->st->drop_runt++;
        return;
    }
    const struct ip6_hdr *ih = (const void *)p;
    if ((p[0] >> 4) != 6) {
        e->st->drop_ip_version++;
        return;
    }
    uint32_t plen = ntohs(ih->plen);
    if (plen > len - IP6_HLEN) {
        e->st->drop_ip_len++;
        return;
    }
    uint8_t mcast;
    int local = ip6_local(e, ih->dst, &mcast);
    if (local < 0) {
        e->st->drop_not_ours++;
        return;
    }
    if (src_unusable(ih->src)) {
        e->st->drop_ip6_src++;
        return;
    }
    struct ip6_rx r = {.rx = {.eh = eh, .local = (uint8_t)local}, .ih = ih,
                       .len = IP6_HLEN + plen, .mcast = mcast};
    memcpy(r.rx.src.b, ih->src, 16);
    uint32_t off = IP6_HLEN, nh_at = offsetof(struct ip6_hdr, next);
    uint8_t next = ih->next;
    if (!ip6_ext_walk(e, &r, &off, &next, &nh_at))
        return;
    if (next == IPPROTO_TCP_ && !mcast) {
        e->tcp_input(e, &r.rx, p + off, r.len - off, fflags);
    } else if (next == IP6_ICMP) {
        icmp6_input(e, &r, p + off, r.len - off);
    } else {
        /* RFC 8200 4: an unrecognized next header is discarded with a parameter
         * problem, code 1, pointing at the field; TCP to a group is nonsense. */
        e->st->drop_ip_proto++;
        if (next != IPPROTO_TCP_ && next != IP6_NONEXT)
            icmp6_param_problem(e, &r, 1, nh_at);
    }
}

/* The IPv6 header after the frame's Ethernet header: traffic class and flow label 0. */
void ip6_output_hdr(uint8_t *frame, const struct ip_addr *src, const struct ip_addr *dst,
                    uint8_t next, uint8_t hlim, uint16_t plen)
{
    struct ip6_hdr *ih = (void *)(frame + ETH_HLEN_);
    ih->vtc_flow = htonl(6u << 28);
    ih->plen = htons(plen);
    ih->next = next;
    ih->hlim = hlim;
    memcpy(ih->src, src->b, 16);
    memcpy(ih->dst, dst->b, 16);
}
