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

static uint32_t rcv_wnd(const struct conn *c) { return REQ_CAP - c->req_len; }

static void set_snd_wnd(struct conn *c, uint32_t wnd)
{
    c->snd_wnd = wnd;
    if (wnd > c->max_snd_wnd)
        c->max_snd_wnd = wnd;
}

/* Settle what the connection uses from the SYN's options (RFC 9293 3.7.1; RFC 7323
 * 2.2, 3.2; RFC 2018 2), within what this engine accepts. */
static void syn_options(const struct ssdk_engine *e, struct conn *c, const struct tcp_opts *o)
{
    uint16_t tmpl = (uint16_t)(e->table_loaded ? e->table.mss : 1448);
    uint32_t mss = o->has_mss ? o->mss : 536;  /* 536: the default without the option */
    if (o->has_ws) {
        c->opts |= CO_WSCALE;
        c->snd_wscale = o->ws > 14 ? 14 : o->ws;  /* RFC 7323 2.3: cap at 14 */
    }
    if (o->has_ts && (e->cfg.options & 1)) {
        c->opts |= CO_TS;
        c->ts_recent = o->tsval;
        mss = mss > TS_OPT_LEN ? mss - TS_OPT_LEN : 0;  /* RFC 6691: data + options <= MSS */
    }
    if (o->sack_ok && (e->cfg.options & 2))
        c->opts |= CO_SACK;
    if (mss < 64)
        mss = 64;
    c->mss = (uint16_t)(mss < tmpl ? mss : tmpl);
}

static void tcp_segment(struct ssdk_engine *e, struct conn *c, struct seg *s);

/* A slot set up from a SYN's options; the caller sets the state. NULL: pool full. */
static struct conn *conn_open(struct ssdk_engine *e, const struct eth_hdr *eh,
                              const struct ip_hdr *ih, const struct seg *s,
                              const struct tcp_opts *syn, uint32_t irs, uint32_t iss)
{
    struct conn *c = conn_alloc(e, ih->src, s->th->sport);
    if (!c)
        return NULL;
    memcpy(c->rmac, eh->src, 6);
    syn_options(e, c, syn);
    c->irs = irs;
    c->rcv_nxt = irs + 1;
    c->iss = iss;
    c->snd_una = c->recover = iss;
    c->snd_nxt = c->snd_max = iss + 1;
    cc_init(e, c);
    c->rto_ms = e->cfg.rto_init_ms;
    return c;
}

/* A cookie can carry window scale and SACK-permitted only inside a timestamp. */
static void cookie_opts(struct conn *c)
{
    if (!(c->opts & CO_TS))
        c->opts &= (uint8_t)~(CO_WSCALE | CO_SACK);
}

/* The SYN backlog is full: answer with a cookie and keep nothing (RFC 4987 3.6). */
static void cookie_reply(struct ssdk_engine *e, const struct eth_hdr *eh,
                         const struct ip_hdr *ih, const struct seg *s)
{
    struct conn tmp;
    memset(&tmp, 0, offsetof(struct conn, req));
    memcpy(tmp.rmac, eh->src, 6);
    tmp.raddr = ih->src;
    tmp.rport = s->th->sport;
    syn_options(e, &tmp, &s->opt);
    cookie_opts(&tmp);
    tmp.iss = syncookie_isn(e, ih->src, s->th->sport, s->seq, &s->opt);
    tmp.rcv_nxt = s->seq + 1;
    uint32_t bits = syncookie_ts_bits(&s->opt, (tmp.opts & CO_SACK) != 0);
    tmp.ts_adj = (uint8_t)((bits - ((uint32_t)(e->now_us / 1000) + tmp.iss)) & 0x3f);
    if (tcp_send_ctl(e, &tmp, TH_SYN | TH_ACK, tmp.iss))
        e->st.syncookies_sent++;
}

/* An ACK that matches no connection: the end of a cookie handshake, if it is one. */
static struct conn *cookie_accept(struct ssdk_engine *e, const struct eth_hdr *eh,
                                  const struct ip_hdr *ih, const struct seg *s)
{
    struct tcp_opts syn;
    if (!syncookie_check(e, ih->src, s->th->sport, s->seq, s->ack, &s->opt, &syn)) {
        e->st.syncookies_failed++;
        return NULL;
    }
    struct conn *c = conn_open(e, eh, ih, s, &syn, s->seq - 1, s->ack - 1);
    if (!c) {
        e->st.syn_dropped_pool_full++;
        return NULL;
    }
    cookie_opts(c);
    c->ts_adj = 64;  /* our TSvals must not go back behind the cookie's */
    c->snd_una = c->snd_nxt;
    c->state = TCP_ESTABLISHED;
    e->st.conns_opened++;
    e->st.syncookies_ok++;
    return c;
}

/*
 * No connection matches. A SYN opens one in SYN-RECEIVED, or gets a cookie when the
 * backlog of those is full; an ACK may complete a cookie handshake; anything else but a
 * RST is answered with a RST (RFC 9293 3.10.7.1).
 */
static void tcp_listen(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                       struct seg *s)
{
    if (s->flags & TH_RST)
        return;
    if (s->flags & TH_ACK) {
        struct conn *c = (s->flags & TH_SYN) ? NULL : cookie_accept(e, eh, ih, s);
        if (c)
            tcp_segment(e, c, s);
        else
            tcp_send_rst(e, eh, ih, s->th, s->len);
        return;
    }
    if ((s->flags & (TH_SYN | TH_FIN)) != TH_SYN) {
        e->st.drop_tcp_flags++;
        return;
    }
    e->st.syn_received++;
    if (e->free_head == NONE32) {
        e->st.syn_dropped_pool_full++;  /* a cookie would find no slot either */
        return;
    }
    if (e->syn_recv >= e->cfg.syn_backlog) {
        cookie_reply(e, eh, ih, s);
        return;
    }
    struct conn *c = conn_open(e, eh, ih, s, &s->opt, s->seq, isn_make(e, ih->src, s->th->sport));
    set_snd_wnd(c, s->wnd);  /* RFC 7323 2.2: the window of a SYN is never scaled */
    c->state = TCP_SYN_RECEIVED;
    e->st.conns_syn_received = ++e->syn_recv;
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
    return 0;
}

/* RTT samples: from the echoed timestamp when there is one (RFC 7323 4.1: it names the
 * very segment being acknowledged, retransmitted or not), else from the one timed
 * segment (RFC 6298 3, Karn's rule). */
static void rtt_from_ack(struct ssdk_engine *e, struct conn *c, const struct seg *s)
{
    if ((c->opts & CO_TS) && s->opt.has_ts && s->opt.tsecr) {
        uint32_t ms = ts_now(e, c) - s->opt.tsecr;
        if (ms < 60u * 60 * 1000)
            rtt_sample(e, c, (uint64_t)ms * 1000);
        c->flags &= (uint8_t)~CF_TIMING;
    } else if ((c->flags & CF_TIMING) && seq_lt(c->rtt_seq, s->ack)) {
        c->flags &= (uint8_t)~CF_TIMING;
        rtt_sample(e, c, e->now_us - c->rtt_start_us);
    }
}

/* How many duplicate ACKs mean a loss: three, or fewer when fewer than four segments
 * are out and no new data can go to bring more (RFC 5827, early retransmit). */
static uint32_t dup_threshold(const struct ssdk_engine *e, const struct conn *c)
{
    uint32_t segs = (c->snd_max - c->snd_una + c->mss - 1) / c->mss;
    if (segs >= 4 || tcp_can_send_new(e, c))
        return 3;
    return segs > 1 ? segs - 1 : 1;
}

/* RFC 6582 4.2, the ACK heuristic: duplicate ACKs right after a cumulative ACK that
 * moved SND.UNA a little (at most four segments) report a new loss, not the echo of a
 * timeout's resends, which would have moved it far. */
static int ack_heuristic(const struct conn *c, uint32_t ack)
{
    if (c->cwnd > c->mss && c->snd_una - c->prev_una <= 4u * c->mss)
        return 1;
    /* After a tail loss probe (no go-back-N since), duplicate ACKs at exactly `recover`
     * mean the first segment above the last recovery was lost. */
    return c->tlp_sent && seq_le(c->recover, ack);
}

/*
 * A duplicate ACK (RFC 5681 2): counted, and the threshold's starts recovery. Without
 * SACK, not while it may only echo what an RTO already resent (RFC 6582 4.1,
 * "recover"); with SACK the blocks say what is really missing, so a hole that an RTO's
 * resend lost again is recovered too instead of waiting for the next, doubled, RTO.
 */
static void dupack_in(struct ssdk_engine *e, struct conn *c, const struct seg *s)
{
    if (c->dupacks < UINT8_MAX)
        c->dupacks++;
    if (c->in_recovery)
        recovery_on_ack(e, c, 0);
    else if ((c->dupacks >= dup_threshold(e, c) || sack_is_lost(c)
              || (c->tlp_sent && c->nsacked))  /* RFC 8985 7.4: the probe found a hole */
             && ((c->opts & CO_SACK) || seq_lt(c->recover, s->ack) || ack_heuristic(c, s->ack)))
        recovery_enter(e, c);
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
        e->st.conns_syn_received = --e->syn_recv;
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
    uint32_t news = 0;
    if ((c->opts & CO_SACK) && s->opt.nsack) {
        e->st.sack_blocks += s->opt.nsack;
        news = sack_update(c, &s->opt);
    }
    if (acked == 0) {
        /* RFC 5681 2: a duplicate ACK carries no data and does not move the window; with
         * SACK (RFC 6675 2), any ACK that reports new data held above the hole is one,
         * whatever its window says (a receiver's window moves as it buffers). */
        int dup = c->snd_una != c->snd_max
               && (news || (s->len == 0 && !(s->flags & TH_FIN) && wnd == c->snd_wnd
                            && wnd != 0 && !(c->opts & CO_SACK)));
        set_snd_wnd(c, wnd);
        if (dup)
            dupack_in(e, c, s);
        return 0;
    }
    set_snd_wnd(c, wnd);
    rtt_from_ack(e, c, s);
    c->retries = 0;
    c->tlp_sent = 0;
    c->prev_una = c->snd_una;
    c->snd_una = s->ack;
    if (seq_lt(c->snd_nxt, c->snd_una))
        c->snd_nxt = c->snd_una;
    sack_trim(c);
    if (c->in_recovery) {
        recovery_on_ack(e, c, acked);
    } else {
        c->dupacks = 0;
        c->lt_sent = 0;
        cc_on_ack(e, c, acked);
    }
    if ((c->flags & CF_FIN_QUEUED) && s->ack == c->fin_seq + 1 && fin_acked(e, c))
        return 1;
    if (c->state == TCP_TIME_WAIT)
        return 0;
    if (c->snd_una != c->snd_max)
        loss_timer_arm(e, c);  /* RFC 6298 5.3: new data acknowledged restarts the timer */
    else
        timer_stop(e, c);
    return 0;
}

/*
 * A segment beyond a gap: its bytes go into req[] where they will belong once the gap
 * fills, and its range is remembered (and reported in SACK blocks). Only plain request
 * bytes are held: not while a body is being skipped or the connection is closing.
 */
static void ooo_hold(struct ssdk_engine *e, struct conn *c, const struct seg *s)
{
    uint32_t off = s->seq - c->rcv_nxt, wnd = rcv_wnd(c);
    if (off >= wnd || c->body_skip || (c->flags & (CF_CLOSE | CF_FIN_QUEUED | CF_PEER_FIN))) {
        e->st.drop_tcp_ooo++;
        return;
    }
    uint32_t take = s->len < wnd - off ? s->len : wnd - off;
    memcpy(c->req + c->req_len + off, s->data, take);
    uint32_t l = s->seq, r = s->seq + take;
    uint32_t keep[SACK_MAX][2];
    uint8_t n = 0;
    for (uint8_t i = 0; i < c->nooo; i++) {  /* merge what touches; newest goes first */
        if (seq_lt(r, c->ooo[i][0]) || seq_lt(c->ooo[i][1], l)) {
            if (n < SACK_MAX - 1)
                keep[n][0] = c->ooo[i][0], keep[n][1] = c->ooo[i][1], n++;
            continue;
        }
        l = seq_lt(c->ooo[i][0], l) ? c->ooo[i][0] : l;
        r = seq_lt(r, c->ooo[i][1]) ? c->ooo[i][1] : r;
    }
    c->ooo[0][0] = l, c->ooo[0][1] = r;
    memcpy(c->ooo + 1, keep, n * sizeof(keep[0]));
    c->nooo = (uint8_t)(n + 1);
    e->st.ooo_held++;
}

/* The gap moved: take every held range that now starts at or below RCV.NXT. */
static void ooo_fill(struct conn *c)
{
    for (int moved = 1; moved;) {
        moved = 0;
        for (uint8_t i = 0; i < c->nooo; i++) {
            if (seq_lt(c->rcv_nxt, c->ooo[i][0]))
                continue;
            if (seq_lt(c->rcv_nxt, c->ooo[i][1])) {
                c->req_len = (uint16_t)(c->req_len + (c->ooo[i][1] - c->rcv_nxt));
                c->rcv_nxt = c->ooo[i][1];
            }
            memmove(c->ooo + i, c->ooo + i + 1, (c->nooo - i - 1) * sizeof(c->ooo[0]));
            c->nooo--;  /* the others keep their newest-first order (RFC 2018 4) */
            moved = 1;
            break;
        }
    }
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
            ooo_hold(e, c, s);
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
    if (c->nooo)
        ooo_fill(c);
}

/* The peer's FIN, taken only when it is next in sequence, after all of its data. */
static void fin_in(struct conn *c, const struct seg *s)
{
    /* A FIN we already have, or one beyond a gap, is only acknowledged (by the caller). */
    if (s->seq + s->len != c->rcv_nxt || (c->flags & CF_PEER_FIN))
        return;
    c->rcv_nxt++;
    c->flags |= CF_PEER_FIN;
    enum tcp_state n = tcp_next(c->state, EV_RCV_FIN);
    if (n != TCP_NONE)
        c->state = n;
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

static void tcp_segment(struct ssdk_engine *e, struct conn *c, struct seg *s)
{
    if (c->state == TCP_SYN_RECEIVED && (s->flags & TH_SYN) && !(s->flags & TH_ACK)
        && s->seq == c->irs) {
        tcp_send_ctl(e, c, TH_SYN | TH_ACK, c->iss);  /* our SYN-ACK was lost */
        return;
    }
    if ((c->opts & CO_TS) && s->opt.has_ts && !(s->flags & TH_RST)
        && seq_lt(s->opt.tsval, c->ts_recent)) {
        e->st.drop_paws++;  /* RFC 7323 5.3: an old duplicate from a wrapped sequence space */
        tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        return;
    }
    if (!seq_acceptable(c, s)) {
        e->st.drop_tcp_seq++;
        if (!(s->flags & TH_RST))
            tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        return;
    }
    if ((c->opts & CO_TS) && s->opt.has_ts && seq_le(s->seq, c->last_ack_sent))
        c->ts_recent = s->opt.tsval;  /* RFC 7323 4.3 */
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
        fin_in(c, s);
    if (c->state == TCP_TIME_WAIT) {  /* our FIN was acknowledged, or theirs came */
        if (need_ack)
            tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        tw_enter(e, c);
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
    tcp_opts_parse(p + 20, hl - 20, &s.opt);
    if (th->dport != e->port_be || !e->table_loaded) {
        e->st.drop_tcp_port++;
        if (!(s.flags & TH_RST))
            tcp_send_rst(e, eh, ih, th, s.len);
        return;
    }
    struct conn *c = conn_lookup(e, ih->src, th->sport);
    if (!c && e->st.conns_time_wait) {
        struct tw_entry *w = tw_lookup(e, ih->src, th->sport);
        if (w && !tw_input(e, w, &s))
            return;
    }
    if (!c)
        tcp_listen(e, eh, ih, &s);
    else
        tcp_segment(e, c, &s);
}
