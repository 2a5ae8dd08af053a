/*
 * tcp_pmtu.c - path MTU discovery for IPv6 (RFC 8201): a Packet Too Big lowers the MSS
 * of the one connection it names, once it is shown to name one; and the largest MSS a
 * connection may use at all.
 *
 * net/icmp6.c (ptb_in) -> e->tcp_ptb = tcp_ptb -> conn_lookup (conn.c)
 *                                              -> tcp_resend (tcp_out.c)
 * tcp_listen.c (syn_options) -> tcp_mss_cap
 *
 * A Packet Too Big is believed only when the TCP header it quotes is of a live
 * connection (our port, the peer's address and port, our address it came to) and its
 * sequence number is one we sent and the peer has not acknowledged, [SND.UNA, SND.MAX)
 * (RFC 8201 5.2, RFC 5927 4.1): a blind attacker must guess it as for RFC 5961. The MTU
 * is taken no lower than IPv6's minimum, 1280 (RFC 8201 4), so the MSS never falls below
 * 1220 (1280 - 40 - 20), less the timestamp option where it is used. The lowered MSS is
 * the connection's from then on (c->mss: it only ever goes down); we never fragment.
 * IPv4 has no counterpart here: our IPv4 packets carry DF, and an ICMP "fragmentation
 * needed" is dropped as every ICMP but echo is.
 */
#include <arpa/inet.h>
#include "tcp/tcp_priv.h"

uint32_t tcp_mss_cap(const struct tcp *e, const struct tcb *c)
{
    uint32_t cap = e->mss_max;
    if (tcb_v6(e, c)) {  /* the IPv6 header and the timestamp option in one TX buffer */
        uint32_t room = NIC_FRAME_MAX - HDRS6_LEN - TS_OPT_LEN;
        cap = cap < room ? cap : room;
    }
    return cap;
}

void tcp_ptb(struct net *n, uint8_t local, const struct ip_addr *peer, const uint8_t *p,
             uint32_t len, uint32_t mtu)
{
    struct tcp *e = tcp_of(n);
    const struct tcp_hdr *th = (const void *)p;
    SSDK_ASSERT(len >= 8);  /* ports and sequence number: icmp6.c checked */
    (void)len;
    int lport = tcp_port_of(e, th->sport);
    struct tcb *c = lport >= 0 ? conn_lookup(e, peer, th->dport, local, (uint8_t)lport) : NULL;
    uint32_t seq = ntohl(th->seq);
    if (!c || !seq_le(c->snd.una, seq) || !seq_lt(seq, c->snd.max)) {
        e->net.st->drop_ptb++;  /* forged, or stale: nothing of ours in flight there */
        return;
    }
    if (mtu < IP6_MIN_MTU)
        mtu = IP6_MIN_MTU;
    uint32_t mss = mtu - IP6_HLEN - 20 - ((c->opts & CO_TS) ? TS_OPT_LEN : 0);
    if (mss >= c->mss) {
        e->net.st->drop_ptb++;  /* says nothing new */
        return;
    }
    c->mss = (uint16_t)mss;
    e->net.st->ptb_mss_lowered++;
    /* The segment the link refused goes again at once, cut to the new size (Karn: no
     * RTT sample from it). What else in flight was too big is found lost by SACK, RACK
     * or the RTO, and resent at the connection's MSS, now the new one. */
    if (c->state != TCP_SYN_RECEIVED && seq_lt(seq, c->snd.end) && seq_lt(seq, c->snd.nxt)) {
        uint32_t left = c->snd.nxt - seq;
        c->flags &= (uint8_t)~TF_TIMING;
        tcp_resend(e, c, seq, left < mss ? left : mss);
    }
}
