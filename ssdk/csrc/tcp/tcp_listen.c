/*
 * tcp_listen.c - the passive open. A SYN that matches no connection makes one in
 * SYN-RECEIVED, or, once the SYN backlog is full (syn_backlog connections half-open, at
 * most half the pool: conn.c) or no slot is free, gets a SYN cookie and leaves no state;
 * the ACK that returns a cookie makes the connection outright, evicting an idle
 * keep-alive connection if the pool is full, or is reset if none is idle. No SYN is
 * dropped without an answer (RFC 4987 3.6: cookies stand in for the state a listener
 * cannot afford).
 *
 * tcp_in.c (tcp_input, no connection) -> tcp_listen -> conn_open | cookie_reply
 *                                                   -> cookie_accept -> tcp_segment
 *
 * What a connection uses of TCP's options is settled here, once, from its SYN (or from
 * what the cookie kept of it), and never changes afterwards.
 */
#include <string.h>
#include "tcp/tcp_priv.h"

/* Settle what the connection uses from the SYN's options (RFC 9293 3.7.1; RFC 7323
 * 2.2, 3.2; RFC 2018 2), within what this engine accepts. */
static void syn_options(const struct tcp *e, struct tcb *c, const struct tcp_opts *o)
{
    uint32_t mss = o->has_mss ? o->mss : 536;  /* 536: the default without the option */
    if (o->has_ws) {
        c->opts |= CO_WSCALE;
        c->snd.wscale = o->ws > 14 ? 14 : o->ws;  /* RFC 7323 2.3: cap at 14 */
    }
    if (o->has_ts && (e->net.cfg.options & 1)) {
        c->opts |= CO_TS;
        c->rcv.ts_recent = o->tsval;
        mss = mss > TS_OPT_LEN ? mss - TS_OPT_LEN : 0;  /* RFC 6691: data + options <= MSS */
    }
    if (o->sack_ok && (e->net.cfg.options & 2))
        c->opts |= CO_SACK;
    if (mss < 64)
        mss = 64;
    uint32_t cap = tcp_mss_cap(e, c);  /* the template's, at most */
    c->mss = (uint16_t)(mss < cap ? mss : cap);
}

/* A slot set up from a SYN's options; the caller sets the state. NULL: pool full. */
static struct tcb *conn_open(struct tcp *e, const struct ip_rx *rx, const struct seg *s,
                              const struct tcp_opts *syn, uint32_t irs, uint32_t iss)
{
    int lport = tcp_port_of(e, s->th->dport);
    SSDK_ASSERT(lport >= 0);  /* tcp_input served only our ports */
    struct tcb *c = conn_alloc(e, &rx->src, s->th->sport, rx->local, (uint8_t)lport);
    if (!c)
        return NULL;
    memcpy(c->rmac, rx->eh->src, 6);
    syn_options(e, c, syn);
    c->rcv.irs = irs;
    c->rcv.nxt = irs + 1;
    c->snd.iss = iss;
    c->snd.una = iss;
    c->snd.nxt = c->snd.max = c->snd.end = iss + 1;
    cc_init(e, c);
    c->timer.rto_ms = e->net.cfg.rto_init_ms;
    return c;
}

/* A cookie can carry window scale and SACK-permitted only inside a timestamp. */
static void cookie_opts(struct tcb *c)
{
    if (!(c->opts & CO_TS))
        c->opts &= (uint8_t)~(CO_WSCALE | CO_SACK);
}

/* The SYN backlog or the pool is full: answer with a cookie and keep nothing (RFC 4987
 * 3.6). */
static void cookie_reply(struct tcp *e, const struct ip_rx *rx, const struct seg *s)
{
    struct tcb tmp;
    memset(&tmp, 0, sizeof(tmp));
    memcpy(tmp.rmac, rx->eh->src, 6);
    tmp.raddr = rx->src;
    tmp.rport = s->th->sport;
    tmp.laddr = rx->local;
    tmp.lport = (uint8_t)tcp_port_of(e, s->th->dport);
    syn_options(e, &tmp, &s->opt);
    cookie_opts(&tmp);
    tmp.snd.iss = syncookie_isn(e, rx, s->th->sport, s->th->dport, s->seq, &s->opt);
    tmp.rcv.nxt = s->seq + 1;
    uint32_t bits = syncookie_ts_bits(&s->opt, (tmp.opts & CO_SACK) != 0);
    tmp.ts_adj = (uint8_t)((bits - ((uint32_t)(e->net.now_us / 1000) + tmp.snd.iss)) & 0x3f);
    if (tcp_send_ctl(e, &tmp, TH_SYN | TH_ACK, tmp.snd.iss))
        e->net.st->syncookies_sent++;
}

/* The peer's address holds max_conns_per_ip slots already (nginx's limit_conn). */
static int per_ip_full(const struct tcp *e, const struct ip_addr *raddr)
{
    uint32_t max = e->net.cfg.max_conns_per_ip;
    return max && conn_count_ip(e, raddr) >= max;
}

/* An ACK that matches no connection: the end of a cookie handshake, if it is one. */
static struct tcb *cookie_accept(struct tcp *e, const struct ip_rx *rx, const struct seg *s)
{
    struct tcp_opts syn;
    if (!syncookie_check(e, rx, s->th->sport, s->th->dport, s->seq, s->ack, &s->opt, &syn)) {
        e->net.st->syncookies_failed++;
        return NULL;
    }
    if (per_ip_full(e, &rx->src)) {
        e->net.st->syn_refused_per_ip++;
        return NULL;  /* reset, as the SYN would have been */
    }
    /* A peer that answered a cookie is real (its address was not forged): it may take
     * the slot of an idle keep-alive connection. A SYN alone never evicts one, or a
     * flood of forged SYNs would close every idle connection. */
    struct tcb *c = conn_open(e, rx, s, &syn, s->seq - 1, s->ack - 1);
    if (!c && conn_evict_idle(e))
        c = conn_open(e, rx, s, &syn, s->seq - 1, s->ack - 1);
    if (!c) {
        /* Reset (the caller sends it), so the client fails at once instead of sending
         * its request again into a pool that has no room. */
        e->net.st->syncookies_no_slot++;
        return NULL;
    }
    cookie_opts(c);
    c->ts_adj = 64;  /* our TSvals must not go back behind the cookie's */
    c->snd.una = c->snd.nxt;
    conn_set_state(c, TCP_ESTABLISHED);
    e->net.st->conns_opened++;
    e->net.st->syncookies_ok++;
    return c;
}

/*
 * No connection matches. A SYN opens one in SYN-RECEIVED, or gets a cookie when the
 * backlog of those or the pool is full, or a RST beyond max_conns_per_ip; an ACK may
 * complete a cookie handshake; anything else but a RST is answered with a RST
 * (RFC 9293 3.10.7.1).
 */
void tcp_listen(struct tcp *e, const struct ip_rx *rx, struct seg *s)
{
    if (s->flags & TH_RST)
        return;
    if (s->flags & TH_ACK) {
        struct tcb *c = (s->flags & TH_SYN) ? NULL : cookie_accept(e, rx, s);
        if (c)
            tcp_segment(e, c, s);
        else
            tcp_send_rst(e, rx, s->th, s->len);
        return;
    }
    if ((s->flags & (TH_SYN | TH_FIN)) != TH_SYN) {
        e->net.st->drop_tcp_flags++;
        return;
    }
    e->net.st->syn_received++;
    if (per_ip_full(e, &rx->src)) {
        /* Refused with a RST rather than dropped: a real client behind a busy address
         * (a NAT) learns at once instead of retrying for a minute, and a forged source
         * costs one small packet, as a cookie would. */
        e->net.st->syn_refused_per_ip++;
        tcp_send_rst(e, rx, s->th, s->len);
        return;
    }
    /* No room for a half-open entry: the backlog's share of the pool is used, or the
     * pool is full. A cookie keeps nothing; its ACK finds a slot then, or evicts an
     * idle one (cookie_accept). Never a silent drop (RFC 4987 3.6). */
    if (e->syn_recv >= e->syn_recv_max || e->free_head == NONE32) {
        cookie_reply(e, rx, s);
        return;
    }
    struct tcb *c = conn_open(e, rx, s, &s->opt, s->seq, isn_make(e, rx, s->th->sport, s->th->dport));
    set_snd_wnd(c, s->wnd);  /* RFC 7323 2.2: the window of a SYN is never scaled */
    conn_set_state(c, TCP_SYN_RECEIVED);
    e->net.st->conns_syn_received = ++e->syn_recv;
    flight_take(e, c);  /* the SYN-ACK is in flight: its loss timer and RTT sample */
    c->fl->rtt_start_us = e->net.now_us;
    c->timer.rtt_seq = c->snd.iss;
    c->flags |= TF_TIMING;
    tcp_send_ctl(e, c, TH_SYN | TH_ACK, c->snd.iss);
    rto_arm(e, c);
}
