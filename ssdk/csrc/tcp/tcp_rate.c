/*
 * tcp_rate.c - delivery-rate estimation (draft-cheng-tcpm-rate-delivery) for BBR: how
 * fast the path delivered what this connection sent, one sample per round trip.
 *
 * tcp_out.c (send_data, send_super) -> rate_sent     a range of data goes (new or again)
 *                                      -> bbr_resent (tcp_bbr.c)   ...again: data was lost
 * tcp_out.c (tcp_output_turn)       -> rate_rwnd_limited   the peer's window held it back
 * tcp_bbr.c (bbr_on_ack)            -> rate_on_ack   an ACK delivered bytes: the sample
 *
 * The draft keeps, with every packet sent, the connection's delivered count, the time
 * it last grew and the first-sent time of that moment (3.2), and takes a sample from
 * every ACK. A bufferless stack keeps no per-packet record, so this sampler follows one
 * sent range at a time (P, as RTT timing follows one segment): the first range sent
 * while none is followed. When P is delivered (cumulatively or by SACK) the sample is
 * taken, and the next range to go becomes P: one sample per round trip, each over one
 * round, which is what BBR's per-round filters use. C.delivered is the bytes below
 * SND.UNA plus the bytes SACKed above it, never going back (a receiver that reneges
 * does not take deliveries back). C.first_sent_time is RACK's xmit_ts (the send time
 * of the latest data delivered) when the peer SACKs, else the delivery time.
 * Invariant: while BB_P is set, P's end lies above the ISN and at most SND.MAX.
 */
#include "tcp/tcp_priv.h"
#include "tcp/tcp_bbr.h"

/*
 * C.first_sent_time (draft-cheng 3.2): the send time of the latest data delivered. Two
 * bounds from below are known, and the later is taken: the last P's own send time (it
 * was delivered: a new P is taken only then, or after an RTO, when nothing counts as in
 * flight), exact; and RACK's xmit_us, which errs early by design (tcp_rack.c dates a
 * delivery by the earliest its merged steps allow). RACK's alone made a paced flow's
 * send interval half a round too long: on the stack-test path, each round's sample
 * fell 1% below the last, to 54% of the link, and max_bw followed once Startup's
 * sample aged out. With no P yet: the delivery time.
 */
static uint32_t first_sent(const struct tcb *c)
{
    const struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t t = b->p_sent_us ? b->p_sent_us : b->delivered_us;
    if ((c->fl->rack.flags & RK_VALID) && (int32_t)(c->fl->rack.xmit_us - t) > 0)
        t = c->fl->rack.xmit_us;
    return t;
}

/* Bytes [seq, seq+len) go now. Draft-cheng 3.2, on sending: with nothing in flight the
 * delivery clock restarts here (an idle connection's rate is not its idle time's); the
 * first range sent while none is followed becomes P, carrying the connection's state. */
void rate_sent(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t now = (uint32_t)e->net.now_us;
    if (!(c->opts & CO_BBR) || len == 0)
        return;
    if (seq_lt(seq, c->snd.max)) {  /* sent before: counted as lost in this round (BBRv3) */
        b->round_lost += len;
        bbr_resent(e, c);
        /* A loss event (draft-ietf-ccwg-bbr, BBRStartupFullLossCnt: a discontiguous lost
         * range) is a resend in a recovery that does not go on where the last one ended:
         * resends climb the holes in order (recovery_next), so a new hole starts above
         * rtx_hi, a lost resend below it, and the recovery's first hole at SND.UNA. */
        if (c->fl->sack.in_recovery && (seq != c->fl->sack.rtx_hi || seq == c->snd.una)
            && (b->round & BR_EVENTS) != BR_EVENTS)
            b->round++;
    }
    /* Nothing in flight: none sent, all delivered, or all deemed lost by an RTO. */
    int none = c->snd.una == c->snd.max || (b->round & BR_RTO);
    if (none)
        b->delivered_us = now;
    if ((b->flags & BB_P) && !(b->p_sent_us == now && b->p_delivered == b->delivered
                               && seq_lt(b->p_end, seq + len)))
        return;
    /* P is the last range of what goes at one instant (a burst: the initial window, a
     * paced connection's catch-up), with the state that all of it carries: its ACK
     * then comes after the whole burst's, which the sample so covers. */
    if (!(b->flags & BB_P)) {
        /* What P's sample measures is what was sent in the round before P went (the
         * bytes delivered between P's send and its ACK went about a round earlier):
         * where the receive window held the sender back then, it is the receiver's
         * rate, not the path's. */
        b->flags = (uint8_t)((b->flags & BB_RWND) ? b->flags | BB_P_RWND : b->flags & ~BB_P_RWND);
        b->flags = (uint8_t)((b->flags | BB_P) & ~BB_RWND);
        b->round = (uint8_t)(c->fl->sack.in_recovery ? b->round | BR_P_REC : b->round & ~BR_P_REC);
        /* Draft-cheng 3.2: with nothing in flight, the first-sent time restarts too:
         * else a paced connection whose gaps outlast its round trip (a rate that fell
         * below a segment per round trip) measures the gap as its send interval, its
         * sample is the rate it paced at, and the rate never climbs back. */
        b->p_first_us = none ? now : first_sent(c);
        b->p_sent_us = now;
        b->p_delivered = b->delivered;
        b->p_delivered_us = b->delivered_us;
        b->round &= (uint8_t)~BR_RTO;
    }
    b->p_end = seq + len;
    /* Draft-cheng 3.3: application-limited when this range ends what was written and
     * the window had room: the sample then shows the application's rate, not the path's. */
    int app = seq + len == c->snd.end && c->snd.max - c->snd.una + len < c->cc.cwnd;
    b->flags = (uint8_t)(app ? b->flags | BB_P_APP : b->flags & ~BB_P_APP);
}

/*
 * After an ACK moved SND.UNA or SACKed new bytes: count what it delivered (returned),
 * and when it delivers P, the sample (draft-cheng 3.2, on receiving an ACK): the bytes
 * delivered since P went, over the longer of the send and the ACK intervals (so that
 * neither a burst sent nor ACKs compressed on the way back inflate it); rs->rtt_us is
 * P's round trip. rs->interval_us is 0 when no sample was taken.
 */
uint32_t rate_on_ack(struct tcp *e, struct tcb *c, struct rate_sample *rs)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t now = (uint32_t)e->net.now_us;
    uint32_t d = c->snd.una - c->snd.iss + sack_bytes(c), newly = 0;
    rs->interval_us = 0;
    if ((int32_t)(d - b->delivered) > 0) {
        newly = d - b->delivered;
        b->delivered = d;
        b->delivered_us = now;
    }
    if (!(b->flags & BB_P) || !newly)
        return newly;
    SSDK_ASSERT(seq_le(b->p_end, c->snd.max));
    if (seq_lt(c->snd.una, b->p_end) && sack_holes_in(c, b->p_end - 1, b->p_end))
        return newly;  /* P not delivered yet */
    b->flags &= (uint8_t)~BB_P;
    uint32_t send_el = b->p_sent_us - b->p_first_us, ack_el = now - b->p_delivered_us;
    if ((int32_t)send_el < 0)
        send_el = 0;
    /* Delivered sooner than a round trip after the last delivery before it went: a
     * resend whose first copy had arrived. No sample, and no round (Linux's tcp_rate_gen
     * takes none from an interval under min_rtt): in one recovery at 80 ms, six such came
     * within a millisecond, three of them counted as rounds without growth, and Startup
     * ended at 4.7 MB/s (where other runs went past 40). The next range to go becomes P. */
    if (ack_el < b->min_rtt_us)
        return newly;
    if (b->round & BR_P_REC) {
        /* P went in a recovery, where RACK's send times are its rough steps, dated early
         * by design (tcp_rack.c): taken for the first-sent time they stretched the send
         * interval by a quarter of a round, and by rounds while a hole held SND.UNA,
         * and at 5% random loss a ProbeBW_UP at 1.25x the rate measured no growth.
         * The ACK interval stands alone then, and no shorter than min_rtt (Linux's
         * tcp_rate_gen takes no sample from a shorter one: ACK compression). */
        uint32_t floor = b->min_rtt_us;
        send_el = ack_el < floor ? floor : 0;
    }
    rs->interval_us = send_el > ack_el ? send_el : ack_el;
    rs->delivered = b->delivered - b->p_delivered;
    rs->rtt_us = now - b->p_sent_us;
    /* Draft-cheng's tx_in_flight, from what P carries: the bytes sent up to P's end
     * that had not been delivered when it went (what was resent counts once). A P that
     * was a resend ends below what had gone, so this falls short of its flight (to 0
     * where the peer held more above the hole): tcp_bbr.c does not rely on it alone. */
    uint32_t sent = b->p_end - c->snd.iss;
    rs->tx_in_flight = (int32_t)(sent - b->p_delivered) > 0 ? sent - b->p_delivered : 0;
    rs->app_limited = (b->flags & (BB_P_APP | BB_P_RWND)) != 0;
    if (rs->interval_us == 0)
        rs->interval_us = 1;
    return newly;
}

/*
 * The peer's receive window, not cwnd nor pacing, kept data that was ready from going
 * (tcp_output_turn). Draft-cheng 3.3 marks a sample application-limited because it
 * shows the application's rate, not the path's; one taken while the receiver's window
 * limited the sender shows the receiver's (its window still growing, as a receiver's
 * autotuning grows it, or its left edge held at a hole that a lost retransmission
 * keeps open for another round trip), and is marked the same way, so that such rounds
 * neither lower nor, in Startup, end the search for the path's bandwidth (the draft's
 * BBRCheckStartupFullBandwidth counts only rounds that were not limited).
 */
void rate_rwnd_limited(struct tcb *c)
{
    if (c->opts & CO_BBR)
        c->fl->cc.bbr.flags |= BB_RWND;
}
