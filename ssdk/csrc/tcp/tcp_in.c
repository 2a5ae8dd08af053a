/*
 * tcp_in.c - segments arriving: validation, and the per-connection rules of RFC 9293
 * section 3.10.7, in the order that section gives them.
 *
 * net/ip.c, ip6.c -> e->tcp_input = tcp_input -> tw_input          (a connection in TIME-WAIT)
 *                                      -> tcp_listen        (none: tcp_listen.c)
 *                                      -> tcp_segment -> ack_in -> dupack_in -> recovery
 *                                                        (tcp_sack.c; RACK: tcp_rack.c)
 *                                         -> tcp_data_in, tcp_fin_in (tcp_reass.c)
 *                                         -> up->sent (the application), tcp_output
 * serve/ -> tcp_close
 *
 * The ACK is processed before the data it carries, so a request that arrives with the
 * ACK of the previous response finds that response finished and is served at once.
 */
#include <arpa/inet.h>
#include <string.h>
#include "base/csum.h"
#include "nic/gso.h"
#include "tcp/tcp_priv.h"

/* RFC 9293 3.10.7.4, first check: does any part of the segment fall in the window? */
static int seq_acceptable(const struct tcp *e, const struct tcb *c, const struct seg *s)
{
    uint32_t w = rcv_wnd(e, c), n = s->len + !!(s->flags & TH_FIN);
    if (n == 0)
        return w == 0 ? s->seq == c->rcv.nxt
                      : seq_le(c->rcv.nxt, s->seq) && seq_lt(s->seq, c->rcv.nxt + w);
    if (w == 0)  /* still take the ACK of a segment sitting exactly at the edge */
        return s->seq == c->rcv.nxt;
    uint32_t last = s->seq + n - 1;
    return (seq_le(c->rcv.nxt, s->seq) && seq_lt(s->seq, c->rcv.nxt + w))
        || (seq_le(c->rcv.nxt, last) && seq_lt(last, c->rcv.nxt + w));
}

static void challenge_ack(struct tcp *e, struct tcb *c)
{
    e->net.st->challenge_acks++;
    tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
}

/* Our FIN was acknowledged: LAST-ACK ends, FIN-WAIT-1 and CLOSING move on. */
static int fin_acked(struct tcp *e, struct tcb *c)
{
    enum tcp_state n = tcp_next(c->state, EV_FIN_ACKED);
    if (n == TCP_CLOSED) {
        conn_free(e, c);
        return 1;
    }
    if (n != TCP_NONE)
        conn_set_state(c, n);
    return 0;
}

/* RTT samples: from the echoed timestamp when there is one (RFC 7323 4.1: it names the
 * very segment being acknowledged, retransmitted or not), else from the one timed
 * segment (RFC 6298 3, Karn's rule). */
static void rtt_from_ack(struct tcp *e, struct tcb *c, const struct seg *s)
{
    if ((c->opts & CO_TS) && s->opt.has_ts && s->opt.tsecr) {
        uint32_t ms = ts_now(e, c) - s->opt.tsecr;
        if (ms < 60u * 60 * 1000)
            rtt_sample(e, c, (uint64_t)ms * 1000);
        c->flags &= (uint8_t)~TF_TIMING;
    } else if ((c->flags & TF_TIMING) && seq_lt(c->timer.rtt_seq, s->ack)) {
        c->flags &= (uint8_t)~TF_TIMING;
        rtt_sample(e, c, e->net.now_us - c->fl->rtt_start_us);
    }
}

/* How many duplicate ACKs mean a loss: three, or fewer when fewer than four segments
 * are out and no new data can go to bring more (RFC 5827, early retransmit). */
static uint32_t dup_threshold(const struct tcb *c)
{
    uint32_t segs = (c->snd.max - c->snd.una + c->mss - 1) / c->mss;
    if (segs >= 4 || tcp_can_send_new(c))
        return 3;
    return segs > 1 ? segs - 1 : 1;
}

/* RFC 6582 4.2, the ACK heuristic: duplicate ACKs right after a cumulative ACK that
 * moved SND.UNA a little (at most four segments) report a new loss, not the echo of a
 * timeout's resends, which would have moved it far. */
static int ack_heuristic(const struct tcb *c, uint32_t ack)
{
    if (c->cc.cwnd > c->mss && c->snd.una - c->fl->sack.prev_una <= 4u * c->mss)
        return 1;
    /* After a tail loss probe (no go-back-N since), duplicate ACKs at exactly `recover`
     * mean the first segment above the last recovery was lost. */
    return c->fl->sack.tlp_sent && seq_le(c->fl->sack.recover, ack);
}

/*
 * A duplicate ACK (RFC 5681 2): counted, and the threshold's starts recovery. Without
 * SACK, not while it may only echo what an RTO already resent (RFC 6582 4.1,
 * "recover"); with SACK the blocks say what is really missing, so a hole that an RTO's
 * resend lost again is recovered too instead of waiting for the next, doubled, RTO.
 */
static void dupack_in(struct tcp *e, struct tcb *c, const struct seg *s, uint32_t delivered)
{
    if (c->fl->sack.dupacks < UINT8_MAX)
        c->fl->sack.dupacks++;
    if (c->fl->sack.in_recovery) {
        recovery_on_ack(e, c, 0, delivered);
        return;
    }
    /* RFC 8985 6.2: RACK finds a loss by time. The counting rules (DupThresh, early
     * retransmit, a hole the probe revealed: RFC 8985 7.4) stand beside it only while
     * RACK knows nothing or the peer has not been seen to reorder, as Linux keeps them;
     * once it has, a segment reordered within the window is no loss. */
    struct rack_verdict v;
    int rack = rack_detect(e, c, &v);
    int counted = (c->fl->sack.dupacks >= dup_threshold(c) || sack_is_lost(c)
                   || (c->fl->sack.tlp_sent && c->fl->sack.nblocks))
               && (!rack || !(c->fl->rack.flags & RK_REORD));
    if (((rack && seq_lt(c->snd.una, v.lost_hi)) || counted)
        && ((c->opts & CO_SACK) || seq_lt(c->fl->sack.recover, s->ack)
            || ack_heuristic(c, s->ack)))
        recovery_enter(e, c, delivered);
}

/* RFC 8985 6.2: any ACK, not only a duplicate, may show RACK a loss, and starts a
 * recovery for it; so does the ACK that ends one when holes above it are already old
 * enough (as Linux looks again for lost segments once it leaves recovery): nothing else
 * would come back to say so before the probe or the RTO. Not while F-RTO waits for the
 * ACK that says whether there was a loss. */
static void rack_recover(struct tcp *e, struct tcb *c, uint32_t delivered)
{
    struct rack_verdict v;
    if (c->fl->sack.nblocks && !(c->fl->sack.undo & UN_FRTO) && rack_detect(e, c, &v)
        && seq_lt(c->snd.una, v.lost_hi))
        recovery_enter(e, c, delivered);
}

/* RFC 9293 3.10.7.4, fifth check. Returns -1 to drop the segment, 1 if c was freed. */
static int ack_in(struct tcp *e, struct tcb *c, const struct seg *s)
{
    if (c->state == TCP_SYN_RECEIVED) {
        if (s->ack != c->snd.iss + 1) {
            tcp_send_ctl(e, c, TH_RST, s->ack);
            return -1;
        }
        conn_set_state(c, tcp_next(c->state, EV_ACK_OF_SYN));
        e->net.st->conns_syn_received = --e->syn_recv;
        e->net.st->conns_opened++;
        if (!c->rcv.last_wnd)  /* our SYN-ACK showed no room: sent the window later */
            rxbuf_wait(e, c);
    }
    if (seq_lt(c->snd.max, s->ack)) {
        e->net.st->drop_tcp_ack++;
        tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
        return -1;
    }
    if (seq_lt(s->ack, c->snd.una - c->snd.max_wnd)) {
        /* RFC 5961 5.2: an ACK this far back was never valid; it may be blind injection. */
        e->net.st->drop_tcp_ack++;
        tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
        return -1;
    }
    if (seq_lt(s->ack, c->snd.una))
        return 0;  /* an old duplicate: neither the ACK nor its window is news */
    uint32_t acked = s->ack - c->snd.una;
    uint32_t wnd = s->wnd << c->snd.wscale;
    if (wnd == 0)
        c->timer.retries = 0;  /* a peer that answers our zero-window probes is alive */
    if (!c->fl) {
        /* Nothing of ours in flight (flight.c): the ACK can only update the window,
         * and SACK blocks can report nothing we still have out. */
        SSDK_ASSERT(acked == 0 && c->snd.una == c->snd.max);
        set_snd_wnd(c, wnd);
        return 0;
    }
    uint32_t news = 0, sacked = sack_bytes(c);
    /* RACK.fack before this ACK: what it newly acknowledges below it came out of order */
    uint32_t fack = sack_high(c);
    if ((c->opts & CO_SACK) && s->opt.nsack) {
        e->net.st->sack_blocks += s->opt.nsack;
        news = sack_update(e, c, &s->opt, dsack_in(e, c, s));
    }
    if (acked == 0) {
        /* RFC 5681 2: a duplicate ACK carries no data and does not move the window; with
         * SACK (RFC 6675 2), any ACK that reports new data held above the hole is one,
         * whatever its window says (a receiver's window moves as it buffers). */
        int dup = c->snd.una != c->snd.max
               && (news || (s->len == 0 && !(s->flags & TH_FIN) && wnd == c->snd.wnd
                            && wnd != 0 && !(c->opts & CO_SACK)));
        set_snd_wnd(c, wnd);
        frto_on_ack(e, c, 0, dup);  /* RFC 5682 2a, 3a: the RTO's loss was real */
        if (dup)
            dupack_in(e, c, s, news);
        if (news && (c->opts & CO_BBR))
            bbr_on_ack(e, c);  /* SACKed bytes are delivered too (draft-cheng 3.2) */
        rack_timer_arm(e, c);  /* what RACK cannot call lost yet, it may soon */
        return 0;
    }
    if ((c->opts & CO_SACK) && sack_holes_in(c, c->snd.una, s->ack))  /* RFC 8985 6.2 */
        rack_delivered(e, c, c->snd.una, s->ack,
                       sack_holes_in(c, c->snd.una, seq_lt(s->ack, fack) ? s->ack : fack) != 0);
    set_snd_wnd(c, wnd);
    rtt_from_ack(e, c, s);
    c->timer.retries = 0;
    progress_mark(e, c);  /* the send timeout counts from here */
    c->fl->sack.tlp_sent = 0;
    c->fl->sack.prev_una = c->snd.una;
    c->snd.una = s->ack;
    if (seq_lt(c->snd.nxt, c->snd.una))
        c->snd.nxt = c->snd.una;
    sack_trim(e, c);
    rack_trim(c, c->fl->sack.prev_una);
    /* RFC 6937 3.1, DeliveredData: the change in SND.UNA plus the change in what is
     * SACKed (which falls where the ACK covers bytes SACKed before). */
    int64_t dd = (int64_t)acked + sack_bytes(c) - sacked;
    uint32_t delivered = dd > 0 ? (uint32_t)dd : 0;
    if (c->fl->sack.in_recovery) {
        recovery_on_ack(e, c, acked, delivered);
        if (!c->fl->sack.in_recovery)
            rack_recover(e, c, delivered);  /* a loss seen beyond it starts the next */
    } else {
        c->fl->sack.dupacks = 0;
        c->fl->sack.lt_sent = 0;
        cc_on_ack(e, c, acked);
        frto_on_ack(e, c, acked, 0);  /* RFC 5682 2b, 3b */
        rack_recover(e, c, delivered);
    }
    if (c->opts & CO_BBR)
        bbr_on_ack(e, c);  /* in recovery too: BBR's model takes every delivery */
    if ((c->flags & TF_FIN_QUEUED) && s->ack == c->snd.fin + 1 && fin_acked(e, c))
        return 1;
    if (c->state == TCP_TIME_WAIT)
        return 0;
    if (c->snd.una != c->snd.max) {
        loss_timer_arm(e, c);  /* RFC 6298 5.3: new data acknowledged restarts the timer */
        rack_timer_arm(e, c);
    } else {
        timer_stop(e, c);
    }
    return 0;
}

/* Queue our FIN at `at` (RFC 9293 3.10.4, CLOSE). */
void conn_queue_fin(struct tcb *c, uint32_t at)
{
    if (c->flags & TF_FIN_QUEUED)
        return;
    enum tcp_state n = tcp_next(c->state, EV_SND_FIN);
    if (n == TCP_NONE)
        return;
    conn_set_state(c, n);
    c->snd.fin = at;
    c->flags |= TF_FIN_QUEUED;
}

/* The application closes: what the peer still sends is dropped, and our FIN follows the
 * last byte it wrote. */
void tcp_close(struct tcp *e, struct tcb *c)
{
    (void)e;
    c->flags |= TF_RCV_SHUT;
    conn_queue_fin(c, c->snd.end);
}

/* The segment's data, then its FIN (tcp_reass.c). Bytes the application may leave
 * unread that no buffer could keep are given back after it reads them
 * (tcp_rcv_settle): a FIN behind them waits until that is known (app_turn). Returns 1
 * when it waits so. */
static int data_and_fin(struct tcp *e, struct tcb *c, struct seg *s)
{
    if (s->len)
        tcp_data_in(e, c, s);
    if (!(s->flags & TH_FIN))
        return 0;
    if (c->rcv.len && !tcp_rcv_keepable(e, c))
        return 1;
    tcp_fin_in(c, s);
    return 0;
}

/*
 * The application's turn after a segment: it finishes what is acknowledged, starts what
 * is new, or closes (up->sent); then what it left unread in the RX frame is kept, or
 * given back for want of a buffer (tcp_rcv_settle). A FIN that came behind bytes no
 * buffer could have kept was held back (fin_held): once the application has read them
 * all, it is taken, and the application is told again, the peer now closed. Returns
 * TCP_ACK_LATER as up->sent does.
 */
static int app_turn(struct tcp *e, struct tcb *c, const struct seg *s, int fin_held)
{
    int later = e->up->sent(e, c) & TCP_ACK_LATER;
    if (tcp_rcv_settle(e, c) || !fin_held || c->rcv.len)
        return later;  /* given back: the FIN, beyond them, waits to be sent again */
    tcp_fin_in(c, s);
    return later | (e->up->sent(e, c) & TCP_ACK_LATER);
}

void tcp_segment(struct tcp *e, struct tcb *c, struct seg *s)
{
    if (c->state == TCP_SYN_RECEIVED && (s->flags & TH_SYN) && !(s->flags & TH_ACK)
        && s->seq == c->rcv.irs) {
        tcp_send_ctl(e, c, TH_SYN | TH_ACK, c->snd.iss);  /* our SYN-ACK was lost */
        return;
    }
    if ((c->opts & CO_TS) && s->opt.has_ts && !(s->flags & TH_RST)
        && seq_lt(s->opt.tsval, c->rcv.ts_recent)) {
        e->net.st->drop_paws++;  /* RFC 7323 5.3: an old duplicate from a wrapped sequence space */
        tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
        return;
    }
    if (!seq_acceptable(e, c, s)) {
        e->net.st->drop_tcp_seq++;
        if (!(s->flags & TH_RST))
            tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
        return;
    }
    if ((c->opts & CO_TS) && s->opt.has_ts && seq_le(s->seq, c->rcv.last_ack))
        c->rcv.ts_recent = s->opt.tsval;  /* RFC 7323 4.3 */
    if (s->flags & TH_RST) {  /* RFC 5961 3.2: only an exact RST resets */
        e->net.st->rst_received++;
        if (s->seq == c->rcv.nxt) {
            e->net.st->conns_reset++;
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
        e->net.st->drop_tcp_flags++;
        return;
    }
    if (ack_in(e, c, s))
        return;
    /* Every segment that occupies sequence space is answered, in order or not: an
     * out-of-order one gets a duplicate ACK that asks for what is missing. */
    int need_ack = s->len > 0 || (s->flags & TH_FIN);
    int fin_held = data_and_fin(e, c, s);
    if (c->state == TCP_TIME_WAIT) {  /* our FIN was acknowledged, or theirs came */
        if (need_ack)
            tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
        tw_enter(e, c);
        return;
    }
    if (c->state == TCP_FIN_WAIT_2) {  /* our FIN is acknowledged: nothing can be resent */
        if (need_ack)
            tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
        tw_enter_fin_wait_2(e, c);
        return;
    }
    /* The application finishes what is acknowledged, starts what is new, or closes;
     * then whatever may go waits for its turn in this pass's transmit round. The ACK the
     * segment wants rides on the first segment sent (tcp_out.c clears TF_ACK_PENDING);
     * with none to send, it goes alone now, unless the application answers later in
     * this pass (then its answer, or tcp_ack_flush). */
    if (need_ack)
        c->flags |= TF_ACK_PENDING;
    int later = app_turn(e, c, s, fin_held);
    int queued = tcp_output(e, c);  /* its turn in the transmit round carries the ACK */
    if (need_ack && (c->flags & TF_ACK_PENDING) && !later && !queued)
        tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
}

void tcp_input(struct net *n, const struct ip_rx *rx, uint8_t *p, uint32_t len,
               uint32_t fflags)
{
    struct tcp *e = tcp_of(n);
    const struct tcp_hdr *th = (const void *)p;
    uint32_t hl = len >= 20 ? (uint32_t)(th->off >> 4) * 4 : 0;
    if (len < 20 || hl < 20 || hl > len) {
        e->net.st->drop_tcp_len++;
        return;
    }
    uint64_t psum = ip_pseudo(n, rx->local, &rx->src, IPPROTO_TCP_, len);
    if (fflags & FRAME_CSUM_TRUSTED)
        e->net.st->csum_offloaded++;
    else if (!csum_ok(csum_partial(p, len, psum))) {
        /* Only a frame that fails, and only from a virtual link: a full checksum that
         * verifies always wins, and a wire never carries the partial pattern. */
        if ((fflags & FRAME_CSUM_LOCAL_LINK) && tcp_csum_left_partial_sum(psum, p, len)) {
            e->net.st->csum_partial_local++;
        } else {
            e->net.st->drop_tcp_csum++;
            return;
        }
    }
    struct seg s = {
        .th = th, .seq = ntohl(th->seq), .ack = ntohl(th->ack), .wnd = ntohs(th->win),
        .len = len - hl, .flags = th->flags, .data = p + hl,
    };
    tcp_opts_parse(p + 20, hl - 20, &s.opt);
    int lport = tcp_port_of(e, th->dport);
    if (lport < 0 || !e->listening) {
        e->net.st->drop_tcp_port++;
        if (!(s.flags & TH_RST))
            tcp_send_rst(e, rx, th, s.len);
        return;
    }
    struct tcb *c = conn_lookup(e, &rx->src, th->sport, rx->local, (uint8_t)lport);
    if (!c && e->tw.live) {
        struct tw_entry *w = tw_lookup(e, &rx->src, th->sport, rx->local, (uint8_t)lport);
        if (w && !tw_input(e, w, &s))
            return;
    }
    if (!c)
        tcp_listen(e, rx, &s);
    else
        tcp_segment(e, c, &s);
}
