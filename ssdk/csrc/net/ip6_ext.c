/*
 * ip6_ext.c - IPv6 extension headers on the way in (RFC 8200 4).
 *
 * ip6_input (ip6.c) -> ip6_ext_walk -> options_walk -> icmp6_param_problem (icmp6.c)
 *
 * Hop-by-hop options (only right after the IPv6 header, RFC 8200 4.3) and destination
 * options (4.6) are read option by option; what an unknown option asks for is in its
 * type's two high bits (4.2): 00 skip it, 01 discard the packet, 10 discard and send a
 * parameter problem (code 2, pointing at the option), 11 the same unless the packet went
 * to a group. Pad1, PadN and Router Alert (RFC 2711, which MLD carries) are known.
 * A routing header with segments left is dropped (we are no router: RFC 8200 4.4 would
 * forward it), one with none left is skipped; a fragment header drops the packet: we
 * never reassemble (our peers use path MTU discovery, and a server's requests are
 * small). Each drop has its counter.
 */
#include "net/net_priv.h"

#define OPT_PAD1 0
#define OPT_PADN 1
#define OPT_ROUTER_ALERT 5

/* The options of the header at o (hl bytes); 1: go on, 0: the packet was dropped. */
static int options_walk(struct net *e, const struct ip6_rx *r, const uint8_t *p, uint32_t o,
                        uint32_t hl)
{
    uint32_t i = o + 2, end = o + hl;
    while (i < end) {
        uint8_t t = p[i];
        if (t == OPT_PAD1) {
            i++;
            continue;
        }
        if (i + 2 > end || i + 2 + p[i + 1] > end) {
            e->st->drop_ip6_ext++;  /* an option runs past its header */
            icmp6_param_problem(e, r, 0, i + 1 < end ? i + 1 : i);
            return 0;
        }
        if (t != OPT_PADN && t != OPT_ROUTER_ALERT) {
            switch (t >> 6) {
            case 0:
                break;
            case 2:
                e->st->drop_ip6_ext++;
                icmp6_param_problem(e, r, 2, i);
                return 0;
            case 3:
                e->st->drop_ip6_ext++;
                if (!r->mcast)
                    icmp6_param_problem(e, r, 2, i);
                return 0;
            default:
                e->st->drop_ip6_ext++;
                return 0;
            }
        }
        i += 2u + p[i + 1];
    }
    return 1;
}

/* From the header named by *next at *off, past every extension header to the upper
 * layer: *off, *next and *nh_at (where the field naming it is) say where it begins.
 * 0: the packet was dropped and counted. */
int ip6_ext_walk(struct net *e, const struct ip6_rx *r, uint32_t *off, uint8_t *next,
                 uint32_t *nh_at)
{
    const uint8_t *p = (const uint8_t *)r->ih;
    for (;;) {
        uint8_t nh = *next;
        uint32_t o = *off;
        if (nh != IP6_HOPOPTS && nh != IP6_DSTOPTS && nh != IP6_ROUTING && nh != IP6_FRAGMENT)
            return 1;
        uint32_t hl = o + 8 <= r->len ? (nh == IP6_FRAGMENT ? 8 : (p[o + 1] + 1u) * 8) : 0;
        if (!hl || o + hl > r->len) {
            e->st->drop_ip6_ext++;  /* cut short */
            return 0;
        }
        if (nh == IP6_HOPOPTS && o != IP6_HLEN) {
            e->st->drop_ip6_ext++;  /* RFC 8200 4.3: only right after the IPv6 header */
            icmp6_param_problem(e, r, 1, *nh_at);
            return 0;
        }
        if (nh == IP6_FRAGMENT) {
            e->st->drop_ip6_frag++;
            return 0;
        }
        if (nh == IP6_ROUTING && p[o + 3] != 0) {
            e->st->drop_ip6_routing++;
            return 0;
        }
        if ((nh == IP6_HOPOPTS || nh == IP6_DSTOPTS) && !options_walk(e, r, p, o, hl))
            return 0;
        *nh_at = o;
        *next = p[o];
        *off = o + hl;
    }
}
