/*
 * nd6.c - neighbour discovery's answer (RFC 4861) and the MLDv2 report (RFC 3810).
 *
 * icmp6_input -> nd6_solicit_in -> icmp6_start, icmp6_send    a Neighbor Advertisement
 * icmp6_input (an MLD query), net_start, net_tick -> mld6_report
 * serve/loop.c (AF_PACKET) -> net_group_macs: the MACs the interface must let in
 *
 * A Neighbor Solicitation for one of our addresses gets an advertisement, solicited
 * and override set, with our MAC as the target link-layer address, sent to the source
 * MAC of the solicitation: as for ARP, the stack keeps no neighbour cache (the peer's
 * MAC is always the source of the frame being answered). Validation is RFC 4861 7.1.1's:
 * hop limit 255 (so the message cannot have crossed a router), code 0, at least 24
 * bytes, a target that is not a group, options of nonzero length within the message.
 * Solicitations from :: (duplicate address detection) are dropped by ip6.c; we do no
 * DAD, autoconfiguration or redirects.
 *
 * MLD: the solicited-node group of each address is joined with one report at start
 * (CHANGE_TO_EXCLUDE records with no source, RFC 3810 6.1), and reported again
 * (MODE_IS_EXCLUDE) whenever a query comes, so a snooping switch forwards the
 * solicitations. Queries may never reach us: on an interface shared with the kernel
 * (ssdk's XDP program, docs/sharing.md) they are the kernel's, which answers for its
 * own groups only. So the current-state report also goes unasked every MLD_REPEAT_US,
 * the default Query Interval (RFC 3810 9.2): a snooping switch, which forgets a group
 * no report refreshed within its Multicast Address Listening Interval (9.4: 260 s
 * with the defaults), hears it twice in each. The report goes to ff02::16 with hop limit 1, a Router Alert option
 * (RFC 2711) and our link-local address as its source, or :: when we have none
 * (RFC 3810 5.2.13).
 */
#include <arpa/inet.h>
#include <string.h>
#include "net/net_priv.h"

#define NA_ROUTER 0x80000000u
#define NA_SOLICITED 0x40000000u
#define NA_OVERRIDE 0x20000000u
#define OPT_TLLA 2             /* target link-layer address (RFC 4861 4.6.1) */
#define MLD_TO_EXCLUDE 4       /* RFC 3810 5.2.12: a state-change record */
#define MLD_REC_LEN 20         /* type, aux length, sources (0), group */
#define MLD_REPEAT_US (125ull * 1000000ull)  /* RFC 3810 9.2: the Query Interval */

/* RFC 4861 4.6: every option's length is nonzero and within the message. */
static int nd_options_ok(const uint8_t *p, uint32_t off, uint32_t len)
{
    while (off < len) {
        if (off + 2 > len || p[off + 1] == 0 || off + p[off + 1] * 8u > len)
            return 0;
        off += p[off + 1] * 8u;
    }
    return 1;
}

/* The index of our IPv6 address t, or -1. */
static int own6(const struct net *e, const uint8_t t[16])
{
    for (uint8_t i = 0; i < e->naddr; i++)
        if (e->addr_v6[i] && memcmp(e->addr[i].b, t, 16) == 0)
            return i;
    return -1;
}

void nd6_solicit_in(struct net *e, const struct ip6_rx *r, const uint8_t *p, uint32_t len)
{
    if (r->ih->hlim != 255 || p[1] != 0 || len < 24 || p[8] == 0xff
        || !nd_options_ok(p, 24, len)) {
        e->st->drop_nd++;
        return;
    }
    int t = own6(e, p + 8);
    if (t < 0) {
        e->st->drop_nd++;  /* somebody else's address in our solicited-node group */
        return;
    }
    uint8_t *f = icmp6_start(e, r->rx.eh->src, &e->addr[t], &r->rx.src, 255, 32);
    if (!f)
        return;
    uint8_t *m = f + ETH_HLEN_ + IP6_HLEN;
    struct icmp6_hdr *ic = (void *)m;
    ic->type = ICMP6_NA;
    ic->code = 0;
    ic->data = htonl(NA_SOLICITED | NA_OVERRIDE);
    memcpy(m + 8, p + 8, 16);
    m[24] = OPT_TLLA;
    m[25] = 1;
    memcpy(m + 26, e->mac, 6);
    icmp6_send(e, f, 0, 32);
    e->st->nd_adverts++;
}

/* Our link-local address (fe80::/10) for MLD's source, or :: (RFC 3810 5.2.13). */
static struct ip_addr mld_source(const struct net *e)
{
    for (uint8_t i = 0; i < e->naddr; i++)
        if (e->addr_v6[i] && e->addr[i].b[0] == 0xfe && (e->addr[i].b[1] & 0xc0) == 0x80)
            return e->addr[i];
    return (struct ip_addr){{0}};
}

/* The solicited-node groups of our addresses, each once, as MLDv2 records at rec;
 * returns how many. */
static uint32_t mld_records(const struct net *e, uint8_t *rec, uint8_t type)
{
    uint32_t n = 0;
    for (uint8_t i = 0; i < e->naddr; i++) {
        struct ip_addr g;
        ip6_solicited(&e->addr[i], &g);
        int dup = 0;
        for (uint32_t k = 0; k < n; k++)
            dup |= memcmp(rec + k * MLD_REC_LEN + 4, g.b, 16) == 0;
        if (!e->addr_v6[i] || dup)
            continue;
        uint8_t *x = rec + n++ * MLD_REC_LEN;
        x[0] = type;
        x[1] = x[2] = x[3] = 0;  /* no auxiliary data, no sources */
        memcpy(x + 4, g.b, 16);
    }
    return n;
}

void mld6_report(struct net *e, uint8_t record_type)
{
    static const struct ip_addr mld_routers = {{0xff, 2, [15] = 0x16}};
    static const uint8_t mac[6] = {0x33, 0x33, 0, 0, 0, 0x16};
    /* hop-by-hop: next header ICMPv6, length 0 (8 bytes), Router Alert (MLD), PadN 2 */
    static const uint8_t hbh[8] = {IP6_ICMP, 0, 5, 2, 0, 0, 1, 0};
    uint8_t *f = e->nic->tx_slot(e->nic);
    if (!f) {
        e->st->tx_ring_full++;
        return;
    }
    uint8_t *m = f + ETH_HLEN_ + IP6_HLEN + sizeof(hbh);
    uint32_t n = mld_records(e, m + 8, record_type), len = 8 + n * MLD_REC_LEN;
    struct ip_addr src = mld_source(e);
    struct eth_hdr *eh = (void *)f;
    memcpy(eh->dst, mac, 6);
    memcpy(eh->src, e->mac, 6);
    eh->type = htons(ETHTYPE_IP6);
    ip6_output_hdr(f, &src, &mld_routers, IP6_HOPOPTS, 1, (uint16_t)(sizeof(hbh) + len));
    memcpy(f + ETH_HLEN_ + IP6_HLEN, hbh, sizeof(hbh));
    m[0] = ICMP6_MLDV2_REPORT;
    m[1] = 0;
    m[4] = m[5] = 0;
    m[6] = (uint8_t)(n >> 8);
    m[7] = (uint8_t)n;
    icmp6_send(e, f, sizeof(hbh), len);
    e->st->mld_reports++;
}

uint32_t net_group_macs(const struct net *e, uint8_t macs[][6])
{
    uint8_t rec[NET_ADDRS_MAX * MLD_REC_LEN];
    uint32_t n = mld_records(e, rec, MLD_TO_EXCLUDE);
    for (uint32_t i = 0; i < n; i++) {  /* RFC 2464 7: 33:33 and the group's low 32 bits */
        macs[i][0] = macs[i][1] = 0x33;
        memcpy(macs[i] + 2, rec + i * MLD_REC_LEN + 4 + 12, 4);
    }
    return n;
}

/* The backend is attached: with an IPv6 address, join its solicited-node groups. */
void net_start(struct net *e)
{
    if (e->has_v6)
        mld6_report(e, MLD_TO_EXCLUDE);
    e->mld_due_us = 0;  /* the clock may not run yet: the first pass sets the date */
}

void net_tick(struct net *e)
{
    if (!e->has_v6 || !e->nic)
        return;
    if (e->mld_due_us == 0) {
        e->mld_due_us = e->now_us + MLD_REPEAT_US;
    } else if (e->now_us >= e->mld_due_us) {
        mld6_report(e, MLD_IS_EXCLUDE);
        e->mld_due_us = e->now_us + MLD_REPEAT_US;
    }
}
