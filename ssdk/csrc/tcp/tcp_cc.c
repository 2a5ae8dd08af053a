/*
 * tcp_cc.c - congestion control: how large the congestion window may grow on each ACK,
 * and what it shrinks to on loss. CUBIC (RFC 9438) by default, NewReno (RFC 5681,
 * RFC 6582) when configured; both share slow start and the initial window. BBR
 * (ssdk_config.cc 2) is tcp_bbr.c's: each function here hands it over first.
 *
 * tcp_in.c (ack_in) -> cc_on_ack        new data acknowledged, outside recovery
 * tcp_sack.c (recovery_enter)  -> cc_recovery_start -> cc_on_loss   a loss detected by
 *                                                   duplicate ACKs, SACK or RACK
 * tcp_sack.c (recovery_enter, recovery_on_ack) -> cc_recovery_ack   each ACK in recovery:
 *                                                   the window PRR allows (RFC 6937)
 * tcp_out.c (send_data, send_super) -> cc_sent     what recovery sends (PRR's prr_out)
 * tcp_timer.c (tcp_retransmit) -> cc_on_rto        the retransmission timer ran out
 *                                       (BBR: -> bbr_init, bbr_on_rto in tcp_bbr.c)
 * tcp_sack.c (sack_room_for) -> cc_loss_rate        the path's loss, as the controller
 *                                                   knows it (BBR's standing loss)
 * recovery_enter, tcp_retransmit -> cc_undo_start  keep what a reduction takes...
 * tcp_sack.c (dsack_in, recovery_on_ack) -> cc_undo ...and give it back when it proves
 *                                                   spurious (RFC 3708)
 *
 * Windows are kept in bytes in the connection; CUBIC's curve is computed in segments
 * and seconds, as the RFC writes it. Nothing here sends: the callers do.
 */
#include <math.h>
#include <string.h>
#include "tcp/tcp_priv.h"

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7

enum { CC_CUBIC = 0, CC_NEWRENO = 1, CC_BBR = 2 };

/* docs/tcp.md states what each part takes per connection: in the control block the
 * windows and what the controller keeps between flights, 24 bytes; in the flight block
 * PRR's 12 and undo's 12 (the two bytes in tcb_sack fill its padding), then the
 * controller's working state, BBR's 64 sharing CUBIC's 32: 88. */
_Static_assert(sizeof(struct tcb_cc) == 24, "tcb_cc is the 24 bytes docs/tcp.md states");
_Static_assert(sizeof(struct tcb_ccx) == 88, "tcb_ccx is the 88 bytes docs/tcp.md states");
_Static_assert(sizeof(struct tcb_snd) == 48, "snd.used fills padding: tcb_snd stays 48 bytes");

void cc_init(struct tcp *e, struct tcb *c)
{
    c->cc.cwnd = 10u * c->mss;  /* RFC 6928 */
    c->cc.ssthresh = UINT32_MAX;
    if (e->net.cfg.cc == CC_BBR)
        bbr_init(e, c);  /* tcp_bbr.c: its state shares CUBIC's space */
}

/* A flight begins (flight.c): the controller's working state from what it kept. CUBIC
 * starts a new epoch (RFC 9438 4.2: at the first ACK, from W_max and the window then),
 * as after any idle time. */
void cc_flight_begin(struct tcp *e, struct tcb *c)
{
    if (c->opts & CO_BBR) {
        bbr_flight_begin(e, c);
        return;
    }
    float w_max;
    memcpy(&w_max, &c->cc.keep[0], sizeof(w_max));
    c->fl->cc.w_max = w_max;
    c->fl->cc.epoch_us = 0;
}

/* The flight is over: CUBIC keeps W_max (a float is exact enough for a window in
 * segments), BBR its model (bbr_flight_end). */
void cc_flight_end(struct tcb *c)
{
    if (c->opts & CO_BBR) {
        bbr_flight_end(c);
        return;
    }
    float w_max = (float)c->fl->cc.w_max;
    memcpy(&c->cc.keep[0], &w_max, sizeof(w_max));
}

/* What was in flight, less what limited transmit sent beyond cwnd (RFC 5681 3.2 (2):
 * those segments must not count in the new ssthresh). */
static uint32_t flight(const struct tcb *c)
{
    uint32_t f = c->snd.max - c->snd.una, lt = (uint32_t)c->fl->sack.lt_sent * c->mss;
    return f > lt ? f - lt : 0;
}

/* RFC 9438 4.2-4.4: the window at time t of the epoch, and the Reno-friendly estimate. */
static void cubic_on_ack(struct tcp *e, struct tcb *c, uint32_t acked)
{
    double mss = c->mss, cwnd = c->cc.cwnd / mss;
    if (c->fl->cc.epoch_us == 0) {
        c->fl->cc.epoch_us = e->net.now_us;
        if (c->fl->cc.w_max < cwnd)
            c->fl->cc.w_max = cwnd;  /* no loss seen yet: the curve starts here */
        c->fl->cc.k_s = cbrt(c->fl->cc.w_max * (1 - CUBIC_BETA) / CUBIC_C);
        c->fl->cc.w_est = cwnd;
    }
    double rtt = (c->timer.srtt_us ? c->timer.srtt_us : 100000) / 1e6;
    double t = (e->net.now_us - c->fl->cc.epoch_us) / 1e6 + rtt, d = t - c->fl->cc.k_s;
    double target = CUBIC_C * d * d * d + c->fl->cc.w_max;
    if (target > 1.5 * cwnd)
        target = 1.5 * cwnd;  /* RFC 9438 4.2: at most 50% growth per RTT */
    /* RFC 9438 4.3: the estimate grows by alpha per window of ACKed data. */
    double alpha = 3.0 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
    c->fl->cc.w_est += alpha * (acked / mss) / cwnd;
    double next = cwnd;
    if (c->fl->cc.w_est > target)
        next = c->fl->cc.w_est;
    else if (target > cwnd)
        next = cwnd + (target - cwnd) / cwnd * (acked / mss);
    double bytes = next * mss;
    c->cc.cwnd = bytes > 1e9 ? 1000000000u : (uint32_t)bytes;
}

/* New data acknowledged, outside loss recovery. The window grows only while it is what
 * limits the sender (RFC 7661): a flow held back by the peer's window or by having
 * nothing to send would otherwise build up a window it never tested. What the sender
 * used is the flight when it last sent (snd.used), or now, whichever is more: the ACKs
 * of one batch empty the flight before the pass refills it, and judged by the flight
 * alone a whole initial window's ACKs in a batch grew cwnd by four segments, not ten. */
void cc_on_ack(struct tcp *e, struct tcb *c, uint32_t acked)
{
    if (c->opts & CO_BBR)
        return;  /* BBR takes every ACK itself (bbr_on_ack) */
    uint32_t was_out = c->snd.max - c->snd.una + acked;
    if (was_out < c->snd.used)
        was_out = c->snd.used;
    if (c->cc.cwnd < c->cc.ssthresh) {
        if (2ull * was_out < c->cc.cwnd)
            return;  /* slow start: limited if less than half the window was used */
        /* Slow start, RFC 5681 3.1 with appropriate byte counting (RFC 3465 2.2). L
         * bounds the burst an unpaced sender lets out per ACK; a paced one sends the
         * increase spread over the round trip, so, as Linux does, every acknowledged
         * byte counts (an ACK for every two segments then doubles the window per round
         * trip; L = 1 SMSS grew it only 1.5 times). */
        uint32_t l = (e->net.cfg.options & TCP_OPT_PACING) ? acked : 2u * c->mss;
        c->cc.cwnd += acked < l ? acked : l;
        if (c->cc.cwnd > c->cc.ssthresh)
            c->cc.cwnd = c->cc.ssthresh;  /* RFC 5681 3.1: slow start ends at ssthresh */
        return;
    }
    if ((uint64_t)was_out + 3u * c->mss < c->cc.cwnd)
        return;  /* congestion avoidance: limited unless the window was (nearly) full */
    if (e->net.cfg.cc == CC_CUBIC)
        cubic_on_ack(e, c, acked);
    else  /* congestion avoidance: about one MSS per window, RFC 5681 (3) */
        c->cc.cwnd += (uint32_t)((uint64_t)c->mss * c->mss / c->cc.cwnd) + 1;
}

/*
 * A loss that leaves the ACK clock running: the new ssthresh, which is also the window
 * recovery ends with. RFC 9438 4.6 and RFC 5681 (4) cut the flight. This engine sends
 * at the end of a pass, so the ACKs that came in the same batch as the one showing the
 * loss have already shrunk the flight, and nothing has refilled it yet: at a 1 ms round
 * trip, where a whole window's ACKs come in one batch, the flight was a quarter of cwnd
 * and each loss cut the window to a few segments. What could be in flight is cut
 * instead: cwnd, as Linux does (RFC 9438 4.6 allows it where cwnd cannot outgrow its
 * use, which cc_on_ack sees to, RFC 7661), or the peer's window where that is less,
 * since a flow the receiver held back never used more.
 */
static uint32_t usable(const struct tcb *c)
{
    uint32_t u = c->cc.cwnd < c->snd.wnd ? c->cc.cwnd : c->snd.wnd, f = flight(c);
    if (f > c->cc.cwnd)
        f = c->cc.cwnd;
    return u > f ? u : f;
}

void cc_on_loss(struct tcp *e, struct tcb *c)
{
    uint32_t two = 2u * c->mss, used = usable(c);
    if (c->opts & CO_BBR) {
        c->cc.ssthresh = c->cc.cwnd;  /* BBR's loss response is its model's (tcp_bbr.c) */
        return;
    }
    if (e->net.cfg.cc == CC_CUBIC) {
        double cwnd = used / (double)c->mss;
        /* RFC 9438 4.7, fast convergence: yield to newer flows after a loss below W_max. */
        c->fl->cc.w_max = cwnd < c->fl->cc.w_max ? cwnd * (1 + CUBIC_BETA) / 2 : cwnd;
        c->fl->cc.epoch_us = 0;
        uint32_t s = (uint32_t)(used * CUBIC_BETA);
        c->cc.ssthresh = s > two ? s : two;
    } else {
        uint32_t half = used / 2;  /* RFC 5681 (4) */
        c->cc.ssthresh = half > two ? half : two;
    }
}

/* RFC 6937 3.1, on entering recovery: ssthresh from the controller, and PRR's counts
 * from zero against what is in flight now (RecoverFS). RecoverFS leaves out what limited
 * transmit sent beyond cwnd, as ssthresh does (RFC 5681 3.2 (2)), so that the sends
 * keep exactly ssthresh's proportion to the deliveries (Linux divides by the prior cwnd
 * for the same reason). cwnd starts at ssthresh; each ACK of the recovery then sets it
 * (cc_recovery_ack). */
void cc_recovery_start(struct tcp *e, struct tcb *c)
{
    cc_on_loss(e, c);
    c->cc.cwnd = c->cc.ssthresh;
    if (c->opts & CO_BBR)
        return;  /* no PRR: its space holds BBR's short-term model */
    c->fl->cc.recover_fs = flight(c);
    c->fl->cc.prr_delivered = c->fl->cc.prr_out = 0;
}

/*
 * RFC 6937 3.1, on every ACK in recovery: DeliveredData is what this ACK newly
 * acknowledged or SACKed. While pipe is above ssthresh, sends follow deliveries in the
 * proportion ssthresh / RecoverFS (0.7 for CUBIC, 0.5 for NewReno), so the window comes
 * down to ssthresh evenly over the round trip instead of in a silence then a burst;
 * below it, PRR-SSRB (slow start reduction bound) rebuilds towards ssthresh by at most
 * what was delivered plus one MSS per ACK. cwnd = pipe + sndcnt, in bytes; the sender
 * sends only whole segments into it (tcp_out.c), so the fractions accumulate in
 * prr_delivered and prr_out rather than rounding up on every ACK.
 */
static void prr_on_ack(struct tcb *c, uint32_t delivered)
{
    SSDK_ASSERT(c->fl->sack.in_recovery);
    uint32_t pipe = recovery_pipe(c), sndcnt;
    c->fl->cc.prr_delivered += delivered;
    if (pipe > c->cc.ssthresh) {
        uint64_t fs = c->fl->cc.recover_fs ? c->fl->cc.recover_fs : 1;
        uint64_t due = ((uint64_t)c->fl->cc.prr_delivered * c->cc.ssthresh + fs - 1) / fs;
        sndcnt = due > c->fl->cc.prr_out ? (uint32_t)(due - c->fl->cc.prr_out) : 0;
    } else {
        uint32_t owed = c->fl->cc.prr_delivered > c->fl->cc.prr_out
                      ? c->fl->cc.prr_delivered - c->fl->cc.prr_out : 0;
        uint64_t limit = (uint64_t)(owed > delivered ? owed : delivered) + c->mss;
        sndcnt = c->cc.ssthresh - pipe;
        if (sndcnt > limit)
            sndcnt = (uint32_t)limit;
    }
    c->cc.cwnd = pipe + sndcnt;
}

/* Each ACK in recovery (the one that begins it included). PRR is the reduction CUBIC
 * and NewReno use with SACK; a controller with its own recovery behaviour would skip it
 * here. Without SACK, RFC 6582 3.2's window (cwnd = ssthresh, deflated by partial
 * ACKs, tcp_sack.c) stays. */
void cc_recovery_ack(struct tcp *e, struct tcb *c, uint32_t delivered)
{
    if (!(c->opts & CO_SACK))
        return;
    if (e->net.cfg.cc == CC_CUBIC || e->net.cfg.cc == CC_NEWRENO)
        prr_on_ack(c, delivered);
}

/* A reduction begins (recovery, or an RTO): what it takes is kept, in case it proves
 * spurious (RFC 3708, RFC 5682), with SND.UNA as where its episode starts (Linux's
 * undo_marker); its retransmissions are counted from zero (undo_resent). */
void cc_undo_start(struct tcb *c)
{
    c->fl->cc.prior_cwnd = c->cc.cwnd;
    c->fl->cc.prior_ssthresh = c->cc.ssthresh;
    c->fl->cc.undo_marker = c->snd.una;
    c->fl->sack.undo = UN_ARMED;
    c->fl->sack.undo_retrans = 0;
}

/* The reduction was spurious: the window and ssthresh go back to what they were before
 * it, as Linux's tcp_undo_cwnd_reduction (never lower than now: the ACKs since may have
 * grown them). The Eifel response of RFC 4015 restores no more than this. CUBIC's
 * W_max and epoch stay as the loss set them: the curve starts again from here. */
void cc_undo(struct tcp *e, struct tcb *c)
{
    (void)e;
    SSDK_ASSERT(c->fl->sack.undo & UN_ARMED);
    if (c->cc.cwnd < c->fl->cc.prior_cwnd)
        c->cc.cwnd = c->fl->cc.prior_cwnd;
    if (c->cc.ssthresh < c->fl->cc.prior_ssthresh)
        c->cc.ssthresh = c->fl->cc.prior_ssthresh;
    c->fl->sack.undo = 0;
}

/* RFC 5681 4.1: a connection idle for more than an RTO starts again from the initial
 * window, since what it learned of the path is stale. */
void cc_after_idle(struct tcp *e, struct tcb *c)
{
    uint32_t iw = 10u * c->mss;
    if (c->opts & CO_BBR)
        return;  /* BBR's model paces the restart (draft-ietf-ccwg-bbr) */
    if (c->snd.last_us && e->net.now_us - c->snd.last_us > (uint64_t)c->timer.rto_ms * 1000
        && c->cc.cwnd > iw) {
        c->cc.cwnd = iw;
        c->fl->cc.epoch_us = 0;
    }
}

/* RFC 5681 3.1 and RFC 9438 4.8: after a timeout, slow start again from one segment. */
void cc_on_rto(struct tcp *e, struct tcb *c)
{
    if (c->opts & CO_BBR) {
        bbr_on_rto(e, c);
        return;
    }
    if (c->timer.retries <= 1)  /* RFC 5681 (4): not again for a segment already resent */
        cc_on_loss(e, c);
    c->cc.cwnd = c->mss;
}

/* The share of what goes that the path loses, per mille, where the controller measures
 * it: BBR's standing loss (tcp_bbr.c); CUBIC and NewReno keep no such figure (0). */
uint32_t cc_loss_rate(const struct tcb *c)
{
    return (c->opts & CO_BBR) ? bbr_loss_rate(c) : 0;
}
