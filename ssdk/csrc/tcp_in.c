/*
 * tcp_in.c - segments arriving: validation, the listen path, and the per-connection
 * rules of RFC 9293 section 3.10.7, in the order that section gives them.
 *
 * ip_input -> tcp_input -> tcp_listen                    (no connection: SYN or RST)
 *                       -> tcp_segment -> ack_in -> data_in -> fin_in
 *                                      -> conn_progress -> http_serve, tcp_output
 *
 * The receive side only ever holds request bytes in order; a segment that is in the
 * window but not next in sequence is dropped and answered with a duplicate ACK, so the
 * peer retransmits it (a buffer for those is left for later work).
 */
#include <arpa/inet.h>
#include <string.h>
#include "csum.h"
#include "engine.h"

struct seg {
    const struct tcp_hdr *th;
    uint32_t seq, ack, wnd, len;  /* len: payload bytes */
    uint8_t flags;
    uint8_t *data;
};

static uint32_t rcv_wnd(const struct conn *c) { return REQ_CAP - c->req_len; }

static void set_snd_wnd(struct conn *c, uint32_t wnd)
{
    c->snd_wnd = wnd;
    if (wnd > c->max_snd_wnd)
        c->max_snd_wnd = wnd;
}

/* Read the options of a SYN: MSS (RFC 9293 3.7.1) and window scale (RFC 7323 2). */
static void syn_options(struct conn *c, const uint8_t *o, uint32_t n, uint16_t tmpl_mss)
{
    uint16_t mss = 536;  /* RFC 9293 3.7.1: the default when the option is absent */
    while (n > 0) {
        if (o[0] == TCPOPT_EOL)
            break;
        if (o[0] == TCPOPT_NOP) {
            o++, n--;
            continue;
        }
        if (n < 2 || o[1] < 2 || o[1] > n)
            break;
        if (o[0] == TCPOPT_MSS && o[1] == 4)
            mss = (uint16_t)(o[2] << 8 | o[3]);
        else if (o[0] == TCPOPT_WS && o[1] == 3) {
            c->flags |= CF_WSCALE;
            c->snd_wscale = o[2] > 14 ? 14 : o[2];  /* RFC 7323 2.3: cap at 14 */
        }
        n -= o[1];
        o += o[1];
    }
    if (mss < 64)
        mss = 64;
    c->mss = mss < tmpl_mss ? mss : tmpl_mss;
}

/* No connection matches: a SYN opens one, anything else but a RST is reset. */
static void tcp_listen(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                       const struct seg *s)
{
    if (s->flags & TH_RST)
        return;
    if (s->flags & TH_ACK) {
        tcp_send_rst(e, eh, ih, s->th, s->len);
        return;
    }
    if ((s->flags & (TH_SYN | TH_FIN)) != TH_SYN) {
        e->st.drop_tcp_flags++;
        return;
    }
    e->st.syn_received++;
    struct conn *c = conn_alloc(e, ih->src, s->th->sport);
    if (!c) {
        e->st.syn_dropped_pool_full++;
        return;
    }
    memcpy(c->rmac, eh->src, 6);
    uint32_t hl = (uint32_t)(s->th->off >> 4) * 4;
    syn_options(c, (const uint8_t *)(s->th + 1), hl - 20,
                (uint16_t)(e->table_loaded ? e->table.mss : 1448));
    c->irs = s->seq;
    c->rcv_nxt = s->seq + 1;
    c->iss = isn_make(e, ih->src, s->th->sport);
    c->snd_una = c->iss;
    c->snd_nxt = c->snd_max = c->iss + 1;
    set_snd_wnd(c, s->wnd);  /* RFC 7323 2.2: the window of a SYN is never scaled */
    c->cwnd = 10u * c->mss;  /* RFC 6928 */
    c->ssthresh = UINT32_MAX;
    c->rto_ms = e->cfg.rto_init_ms;
    c->state = TCP_SYN_RECEIVED;
    c->rtt_start_us = e->now_us;
    c->rtt_seq = c->iss;
    c->flags |= CF_TIMING;
    tcp_send_ctl(e, c, TH_SYN | TH_ACK, c->iss);
    rto_arm(e, c);
}

/* RFC 9293 3.10.7.4, first check: does any part of the segment fall in the window? */
static int seq_acceptable(const struct conn *c, const struct seg *s)
{
    uint32_t w = rcv_wnd(c), n = s->len + !!(s->flags & TH_FIN);
    if (n == 0)
        return w == 0 ? s->seq == c->rcv_nxt
                      : seq_le(c->rcv_nxt, s->seq) && seq_lt(s->seq, c->rcv_nxt + w);
    if (w == 0)  /* still take the ACK of a segment sitting exactly at the edge */
        return s->seq == c->rcv_nxt;
    uint32_t last = s->seq + n - 1;
    return (seq_le(c->rcv_nxt, s->seq) && seq_lt(s->seq, c->rcv_nxt + w))
        || (seq_le(c->rcv_nxt, last) && seq_lt(last, c->rcv_nxt + w));
}

static void challenge_ack(struct ssdk_engine *e, struct conn *c)
{
    e->st.challenge_acks++;
    tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
}

/* Our FIN was acknowledged: LAST-ACK ends, FIN-WAIT-1 and CLOSING move on. */
static int fin_acked(struct ssdk_engine *e, struct conn *c)
{
    enum tcp_state n = tcp_next(c->state, EV_FIN_ACKED);
    if (n == TCP_CLOSED) {
        conn_free(e, c);
        return 1;
    }
    if (n != TCP_NONE)
        c->state = n;
    if (n == TCP_TIME_WAIT) {
        e->st.conns_time_wait++;
        timer_time_wait(e, c);
    }
    return 0;
}

/* RFC 9293 3.10.7.4, fifth check. Returns -1 to drop the segment, 1 if c was freed. */
static int ack_in(struct ssdk_engine *e, struct conn *c, const struct seg *s)
{
    if (c->state == TCP_SYN_RECEIVED) {
        if (s->ack != c->iss + 1) {
            tcp_send_ctl(e, c, TH_RST, s->ack);
            return -1;
        }
        c->state = tcp_next(c->state, EV_ACK_OF_SYN);
        e->st.conns_opened++;
    }
    if (seq_lt(c->snd_max, s->ack)) {
        e->st.drop_tcp_ack++;
        tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        return -1;
    }
    if (seq_lt(s->ack, c->snd_una - c->max_snd_wnd)) {
        /* RFC 5961 5.2: an ACK this far back was never valid; it may be blind injection. */
        e->st.drop_tcp_ack++;
        tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        return -1;
    }
    if (seq_lt(s->ack, c->snd_una))
        return 0;  /* an old duplicate: neither the ACK nor its window is news */
    uint32_t acked = s->ack - c->snd_una;
    uint32_t wnd = s->wnd << c->snd_wscale;
    if (wnd == 0)
        c->retries = 0;  /* a peer that answers our zero-window probes is alive */
    if (acked == 0) {
        /* RFC 5681 2: a duplicate ACK carries no data and does not move the window. */
        int dup = s->len == 0 && !(s->flags & TH_FIN) && c->snd_una != c->snd_max
               && wnd == c->snd_wnd && wnd != 0;
        set_snd_wnd(c, wnd);
        if (dup && ++c->dupacks == 3) {
            e->st.fast_retransmits++;
            tcp_retransmit(e, c, 0);
        }
        return 0;
    }
    set_snd_wnd(c, wnd);
    if ((c->flags & CF_TIMING) && seq_lt(c->rtt_seq, s->ack)) {
        c->flags &= (uint8_t)~CF_TIMING;
        rtt_sample(e, c, e->now_us - c->rtt_start_us);
    }
    if (c->dupacks >= 3)
        c->cwnd = c->ssthresh;  /* leave fast recovery */
    else if (c->cwnd < c->ssthresh)
        c->cwnd += acked < c->mss ? acked : c->mss;  /* slow start, RFC 5681 3.1 */
    else
        c->cwnd += (uint32_t)((uint64_t)c->mss * c->mss / c->cwnd) + 1;
    c->dupacks = 0;
    c->retries = 0;
    c->snd_una = s->ack;
    if (seq_lt(c->snd_nxt, c->snd_una))
        c->snd_nxt = c->snd_una;
    if ((c->flags & CF_FIN_QUEUED) && s->ack == c->fin_seq + 1 && fin_acked(e, c))
        return 1;
    if (c->state == TCP_TIME_WAIT)
        return 0;
    if (c->snd_una != c->snd_max)
        rto_arm(e, c);  /* RFC 6298 5.3: new data acknowledged restarts the timer */
    else
        timer_stop(e, c);
    return 0;
}

/* In-order request bytes go to the request buffer; anything else waits for a resend. */
static void data_in(struct ssdk_engine *e, struct conn *c, struct seg *s)
{
    if (seq_lt(s->seq, c->rcv_nxt)) {  /* trim what we already have */
        uint32_t skip = c->rcv_nxt - s->seq;
        if (skip > s->len)
            skip = s->len;
        s->data += skip;
        s->len -= skip;
        s->seq += skip;
    }
    if (s->seq != c->rcv_nxt) {
        if (seq_lt(c->rcv_nxt, s->seq))
            e->st.drop_tcp_ooo++;
        return;
    }
    if (c->flags & CF_PEER_FIN)
        return;  /* nothing can follow the peer's FIN */
    uint32_t take = s->len < rcv_wnd(c) ? s->len : rcv_wnd(c);
    uint32_t skip = c->body_skip < take ? c->body_skip : take;
    c->body_skip -= skip;
    /* After we decided to close, what the peer still sends is read and discarded. */
    if (!(c->flags & (CF_CLOSE | CF_FIN_QUEUED))) {
        memcpy(c->req + c->req_len, s->data + skip, take - skip);
        c->req_len = (uint16_t)(c->req_len + take - skip);
    }
    c->rcv_nxt += take;
}

/* The peer's FIN, taken only when it is next in sequence, after all of its data. */
static void fin_in(struct ssdk_engine *e, struct conn *c, const struct seg *s)
{
    /* A FIN we already have, or one beyond a gap, is only acknowledged (by the caller). */
    if (s->seq + s->len != c->rcv_nxt || (c->flags & CF_PEER_FIN))
        return;
    c->rcv_nxt++;
    c->flags |= CF_PEER_FIN;
    enum tcp_state n = tcp_next(c->state, EV_RCV_FIN);
    if (n != TCP_NONE)
        c->state = n;
    if (n == TCP_TIME_WAIT) {
        e->st.conns_time_wait++;
        timer_time_wait(e, c);
    }
}

/* Queue our FIN after everything sent so far (RFC 9293 3.10.4, CLOSE). */
void conn_queue_fin(struct ssdk_engine *e, struct conn *c, uint32_t at)
{
    (void)e;
    if (c->flags & CF_FIN_QUEUED)
        return;
    enum tcp_state n = tcp_next(c->state, EV_SND_FIN);
    if (n == TCP_NONE)
        return;
    c->state = n;
    c->fin_seq = at;
    c->flags |= CF_FIN_QUEUED;
}

/* After input: finish the response that is done, start the next, send. */
static void conn_progress(struct ssdk_engine *e, struct conn *c)
{
    if (c->resp != NONE32) {
        const struct ssdk_resp *r = &e->table.resp[c->resp];
        if (seq_le(c->resp_seq + (uint32_t)r->stream_len, c->snd_una))
            c->resp = NONE32;
    }
    if (c->resp == NONE32 && !(c->flags & CF_FIN_QUEUED)
        && (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT)) {
        if (!http_serve(e, c) && (c->flags & CF_PEER_FIN))
            conn_queue_fin(e, c, c->snd_max);
    }
    tcp_output(e, c);
}

/*
 * RFC 9293 3.10.7.4 in TIME-WAIT: all that can come is the peer's FIN again (its ACK of
 * ours was lost); acknowledge it and restart the timer. An exact RST ends it early;
 * anything else is dropped without an answer.
 */
static void time_wait_in(struct ssdk_engine *e, struct conn *c, const struct seg *s)
{
    if ((s->flags & TH_RST) && s->seq == c->rcv_nxt) {
        e->st.rst_received++;
        conn_free(e, c);
    } else if ((s->flags & TH_FIN) && s->seq + s->len + 1 == c->rcv_nxt) {
        timer_time_wait(e, c);
        tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
    }
}

static void tcp_segment(struct ssdk_engine *e, struct conn *c, struct seg *s)
{
    if (c->state == TCP_TIME_WAIT) {
        time_wait_in(e, c, s);
        return;
    }
    if (c->state == TCP_SYN_RECEIVED && (s->flags & TH_SYN) && !(s->flags & TH_ACK)
        && s->seq == c->irs) {
        tcp_send_ctl(e, c, TH_SYN | TH_ACK, c->iss);  /* our SYN-ACK was lost */
        return;
    }
    if (!seq_acceptable(c, s)) {
        e->st.drop_tcp_seq++;
        if (!(s->flags & TH_RST))
            tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        return;
    }
    if (s->flags & TH_RST) {  /* RFC 5961 3.2: only an exact RST resets */
        e->st.rst_received++;
        if (s->seq == c->rcv_nxt) {
            e->st.conns_reset++;
            conn_free(e, c);
        } else {
            challenge_ack(e, c);
        }
        return;
    }
    if (s->flags & TH_SYN) {  /* RFC 5961 4.2: a SYN in a synchronized state */
        challenge_ack(e, c);
        return;
    }
    if (!(s->flags & TH_ACK)) {
        e->st.drop_tcp_flags++;
        return;
    }
    if (ack_in(e, c, s))
        return;
    /* Every segment that occupies sequence space is answered, in order or not: an
     * out-of-order one gets a duplicate ACK that asks for what is missing. */
    int need_ack = s->len > 0 || (s->flags & TH_FIN);
    if (s->len)
        data_in(e, c, s);
    if (s->flags & TH_FIN)
        fin_in(e, c, s);
    if (c->state == TCP_TIME_WAIT) {  /* our FIN was acknowledged, or theirs came */
        if (need_ack)
            tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        return;
    }
    uint64_t sent = e->st.tx_frames;
    conn_progress(e, c);
    if (need_ack && e->st.tx_frames == sent)
        tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
}

void tcp_input(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
               uint8_t *p, uint32_t len, uint32_t fflags)
{
    const struct tcp_hdr *th = (const void *)p;
    uint32_t hl = len >= 20 ? (uint32_t)(th->off >> 4) * 4 : 0;
    if (len < 20 || hl < 20 || hl > len) {
        e->st.drop_tcp_len++;
        return;
    }
    if (fflags & FRAME_CSUM_TRUSTED)
        e->st.csum_offloaded++;
    else if (!csum_ok(csum_partial(p, len, csum_pseudo(ih->src, ih->dst, IPPROTO_TCP_,
                                                          (uint16_t)len)))) {
        e->st.drop_tcp_csum++;
        return;
    }
    struct seg s = {
        .th = th, .seq = ntohl(th->seq), .ack = ntohl(th->ack), .wnd = ntohs(th->win),
        .len = len - hl, .flags = th->flags, .data = p + hl,
    };
    if (th->dport != e->port_be || !e->table_loaded) {
        e->st.drop_tcp_port++;
        if (!(s.flags & TH_RST))
            tcp_send_rst(e, eh, ih, th, s.len);
        return;
    }
    struct conn *c = conn_lookup(e, ih->src, th->sport);
    if (c && c->state == TCP_TIME_WAIT && (s.flags & TH_SYN) && !(s.flags & TH_ACK)
        && seq_lt(c->rcv_nxt, s.seq)) {
        conn_free(e, c);  /* RFC 9293 3.10.7.4: a new SYN may end TIME-WAIT */
        c = NULL;
    }
    if (!c)
        tcp_listen(e, eh, ih, &s);
    else
        tcp_segment(e, c, &s);
}
