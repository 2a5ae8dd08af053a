/*
 * icmp6.c - ICMPv6 (RFC 4443): echo replies, Packet Too Big handed to TCP, parameter
 * problems sent (rate-limited), and the dispatch of neighbour discovery and MLD.
 *
 * ip6_input -> icmp6_input -> echo6 -> icmp6_start, icmp6_send
 *                          -> ptb_in -> e->tcp_ptb (tcp/tcp_pmtu.c)
 *                          -> nd6_solicit_in, mld6_report (nd6.c)
 * ip6.c, ip6_ext.c -> icmp6_param_problem
 *
 * Every message's checksum (over the IPv6 pseudo-header, RFC 4443 2.3) is checked
 * before its type is looked at. An error is never sent about a packet to a group
 * (RFC 4443 2.4(e)) except parameter problem code 2 (ip6_ext.c decides), and error
 * messages share one token bucket (2.4(f)): PP_BURST at once, PP_PER_S a second.
 */
#include <arpa/inet.h>
#include <string.h>
#include "base/csum.h"
#include "net/net_priv.h"

#define MLD_QUERY 130      /* RFC 3810 5.1 (and RFC 2710's, which v2 hosts answer too) */
#define ERR_QUOTE_MAX (IP6_MIN_MTU - IP6_HLEN - 8)  /* an error fits the minimum MTU */

/* A TX frame with Ethernet and IPv6 headers for an ICMPv6 message of len bytes, which
 * the caller writes at frame + ETH_HLEN_ + IP6_HLEN; NULL when the ring is full. */
uint8_t *icmp6_start(struct net *e, const uint8_t dst_mac[6], const struct ip_addr *src,
                     const struct ip_addr *dst, uint8_t hlim, uint32_t len)
{
    SSDK_ASSERT(ETH_HLEN_ + IP6_HLEN + len <= NIC_FRAME_MAX);
    uint8_t *f = e->nic->tx_slot(e->nic);
    if (!f) {
        e->st->tx_ring_full++;
        return NULL;
    }
    struct eth_hdr *eh = (void *)f;
    memcpy(eh->dst, dst_mac, 6);
    memcpy(eh->src, e->mac, 6);
    eh->type = htons(ETHTYPE_IP6);
    ip6_output_hdr(f, src, dst, IP6_ICMP, hlim, (uint16_t)len);
    return f;
}

/* The message at ETH_HLEN_ + IP6_HLEN + ext (len bytes, checksum field anything) gets
 * its checksum; the frame is padded and committed. */
void icmp6_send(struct net *e, uint8_t *frame, uint32_t ext, uint32_t len)
{
    const struct ip6_hdr *ih = (const void *)(frame + ETH_HLEN_);
    struct icmp6_hdr *ic = (void *)(frame + ETH_HLEN_ + IP6_HLEN + ext);
    ic->csum = 0;
    ic->csum = htons(csum_finish(csum_partial(ic, len, csum_pseudo6(ih->src, ih->dst,
                                                                    IP6_ICMP, len))));
    uint32_t n = ETH_HLEN_ + IP6_HLEN + ext + len;
    if (n < 60) {
        memset(frame + n, 0, 60 - n);
        n = 60;
    }
    e->nic->tx_commit(e->nic, n);
    e->st->tx_frames++;
    e->st->tx_bytes += n;
}

/* RFC 4443 4.2: the reply carries the request's identifier, sequence and data, from
 * our address (the one asked, or for a group, the group's owner). */
static void echo6(struct net *e, const struct ip6_rx *r, const uint8_t *p, uint32_t len)
{
    if (p[1] != 0 || len < 8 || ETH_HLEN_ + IP6_HLEN + len > NIC_FRAME_MAX) {
        e->st->drop_icmp++;
        return;
    }
    uint8_t *f = icmp6_start(e, r->rx.eh->src, &e->addr[r->rx.local], &r->rx.src, 64, len);
    if (!f)
        return;
    uint8_t *m = f + ETH_HLEN_ + IP6_HLEN;
    memcpy(m, p, len);
    m[0] = ICMP6_ECHO_REPLY;
    icmp6_send(e, f, 0, len);
    e->st->icmp6_echo_replies++;
}

/* RFC 4443 3.2, RFC 8201 4: the invoking packet must be one of ours, from the address
 * the message came to, carrying TCP; TCP checks the rest (a connection and a sequence
 * number in its window) before it believes the MTU. */
static void ptb_in(struct net *e, const struct ip6_rx *r, const uint8_t *p, uint32_t len)
{
    const struct ip6_hdr *q = (const void *)(p + 8);
    if (r->mcast || p[1] != 0 || len < 8 + IP6_HLEN + 8 || q->next != IPPROTO_TCP_
        || memcmp(q->src, e->addr[r->rx.local].b, 16) != 0) {
        e->st->drop_ptb++;
        return;
    }
    uint32_t mtu;
    memcpy(&mtu, p + 4, 4);
    struct ip_addr peer;
    memcpy(peer.b, q->dst, 16);
    e->tcp_ptb(e, r->rx.local, &peer, p + 8 + IP6_HLEN, len - 8 - IP6_HLEN, ntohl(mtu));
}

void icmp6_input(struct net *e, const struct ip6_rx *r, const uint8_t *p, uint32_t len)
{
    if (len < 4 || !csum_ok(csum_partial(p, len, csum_pseudo6(r->ih->src, r->ih->dst,
                                                              IP6_ICMP, len)))) {
        e->st->drop_icmp++;
        return;
    }
    switch (p[0]) {
    case ICMP6_ECHO_REQ:
        echo6(e, r, p, len);
        break;
    case ICMP6_PTB:
        ptb_in(e, r, p, len);
        break;
    case ICMP6_NS:
        nd6_solicit_in(e, r, p, len);
        break;
    case MLD_QUERY:
        /* RFC 3810 5.1.15, 6.2: a valid query (hop limit 1, 24 bytes or more) is
         * answered with our groups, so a snooping switch keeps forwarding them. */
        if (r->ih->hlim == 1 && len >= 24 && p[1] == 0) {
            mld6_report(e, MLD_IS_EXCLUDE);
            break;
        }
        /* fall through */
    default:
        e->st->drop_icmp++;
    }
}

/* Take a token from the error bucket; 0 when it is empty. The bucket is kept as the
 * time its level would be back to full (GCRA): a message adds one message's time to
 * it, and may go while that stays within a burst's time of now. Zero is a full bucket. */
static int pp_token(struct net *e)
{
    const uint64_t cost = 1000000u / PP_PER_S;
    uint64_t t = e->pp_full_us > e->now_us ? e->pp_full_us : e->now_us;
    if (t + cost - e->now_us > PP_BURST * cost)
        return 0;
    e->pp_full_us = t + cost;
    return 1;
}

/* RFC 4443 3.4: code, and ptr the offset in the invoking packet of what was wrong; the
 * message quotes as much of that packet as fits in the minimum MTU. */
void icmp6_param_problem(struct net *e, const struct ip6_rx *r, uint8_t code, uint32_t ptr)
{
    if (r->mcast && code != 2)
        return;
    if (!pp_token(e)) {
        e->st->icmp6_pp_limited++;
        return;
    }
    uint32_t q = r->len < ERR_QUOTE_MAX ? r->len : ERR_QUOTE_MAX;
    uint8_t *f = icmp6_start(e, r->rx.eh->src, &e->addr[r->rx.local], &r->rx.src, 64, 8 + q);
    if (!f)
        return;
    struct icmp6_hdr *ic = (void *)(f + ETH_HLEN_ + IP6_HLEN);
    ic->type = ICMP6_PARAM_PROB;
    ic->code = code;
    ic->data = htonl(ptr);
    memcpy(f + ETH_HLEN_ + IP6_HLEN + 8, r->ih, q);
    icmp6_send(e, f, 0, 8 + q);
    e->st->icmp6_param_probs++;
}
