/*
 * tcp_cc.c - congestion control: how large the congestion window may grow on each ACK,
 * and what it shrinks to on loss. CUBIC (RFC 9438) by default, NewReno (RFC 5681,
 * RFC 6582) when configured; both share slow start and the initial window. BBR
 * (ssdk_config.cc 2) is tcp_bbr.c's: each function here hands it over first.
 *
 * tcp_in.c (ack_in) -> cc_on_ack        new data acknowledged, outside recovery
 * tcp_sack.c        -> cc_on_loss       a loss detected by duplicate ACKs or SACK
 * tcp_timer.c       -> cc_on_rto        the retransmission timer ran out
 *                                       (BBR: -> bbr_init, bbr_on_rto in tcp_bbr.c)
 *
 * Windows are kept in bytes in the connection; CUBIC's curve is computed in segments
 * and seconds, as the RFC writes it. Nothing here sends: the callers do.
 */
#include <math.h>
#include "tcp/tcp_priv.h"

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7

enum { CC_CUBIC = 0, CC_NEWRENO = 1, CC_BBR = 2 };

void cc_init(struct tcp *e, struct tcb *c)
{
    c->cc.cwnd = 10u * c->mss;  /* RFC 6928 */
    c->cc.ssthresh = UINT32_MAX;
    if (e->net.cfg.cc == CC_BBR) {  /* tcp_bbr.c: its state shares CUBIC's space */
        bbr_init(e, c);
        return;
    }
    c->cc.epoch_us = 0;
    c->cc.w_max = 0;
}

/* What was in flight, less what limited transmit sent beyond cwnd (RFC 5681 3.2 (2):
 * those segments must not count in the new ssthresh). */
static uint32_t flight(const struct tcb *c)
{
    uint32_t f = c->snd.max - c->snd.una, lt = (uint32_t)c->sack.lt_sent * c->mss;
    return f > lt ? f - lt : 0;
}

/* RFC 9438 4.2-4.4: the window at time t of the epoch, and the Reno-friendly estimate. */
static void cubic_on_ack(struct tcp *e, struct tcb *c, uint32_t acked)
{
    double mss = c->mss, cwnd = c->cc.cwnd / mss;
    if (c->cc.epoch_us == 0) {
        c->cc.epoch_us = e->net.now_us;
        if (c->cc.w_max < cwnd)
            c->cc.w_max = cwnd;  /* no loss seen yet: the curve starts here */
        c->cc.k_s = cbrt(c->cc.w_max * (1 - CUBIC_BETA) / CUBIC_C);
        c->cc.w_est = cwnd;
    }
    double rtt = (c->timer.srtt_us ? c->timer.srtt_us : 100000) / 1e6;
    double t = (e->net.now_us - c->cc.epoch_us) / 1e6 + rtt, d = t - c->cc.k_s;
    double target = CUBIC_C * d * d * d + c->cc.w_max;
    if (target > 1.5 * cwnd)
        target = 1.5 * cwnd;  /* RFC 9438 4.2: at most 50% growth per RTT */
    /* RFC 9438 4.3: the estimate grows by alpha per window of ACKed data. */
    double alpha = 3.0 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
    c->cc.w_est += alpha * (acked / mss) / cwnd;
    double next = cwnd;
    if (c->cc.w_est > target)
        next = c->cc.w_est;
    else if (target > cwnd)
        next = cwnd + (target - cwnd) / cwnd * (acked / mss);
    double bytes = next * mss;
    c->cc.cwnd = bytes > 1e9 ? 1000000000u : (uint32_t)bytes;
}

/* New data acknowledged, outside loss recovery. The window grows only while it is what
 * limits the sender (RFC 7661): a flow held back by the peer's window or by having
 * nothing to send would otherwise build up a window it never tested. */
void cc_on_ack(struct tcp *e, struct tcb *c, uint32_t acked)
{
    if (c->opts & CO_BBR)
        return;  /* BBR takes every ACK itself (bbr_on_ack) */
    uint32_t was_out = c->snd.max - c->snd.una + acked;
    if (c->cc.cwnd < c->cc.ssthresh) {
        if (2ull * was_out < c->cc.cwnd)
            return;  /* slow start: limited if less than half the window was used */
        /* slow start, RFC 5681 3.1 with L = 1 SMSS */
        c->cc.cwnd += acked < c->mss ? acked : c->mss;
        return;
    }
    if ((uint64_t)was_out + 3u * c->mss < c->cc.cwnd)
        return;  /* congestion avoidance: limited unless the window was (nearly) full */
    if (e->net.cfg.cc == CC_CUBIC)
        cubic_on_ack(e, c, acked);
    else  /* congestion avoidance: about one MSS per window, RFC 5681 (3) */
        c->cc.cwnd += (uint32_t)((uint64_t)c->mss * c->mss / c->cc.cwnd) + 1;
}

/* A loss that leaves the ACK clock running: the new ssthresh, which is also the window
 * recovery ends with. */
void cc_on_loss(struct tcp *e, struct tcb *c)
{
    uint32_t two = 2u * c->mss;
    if (c->opts & CO_BBR) {
        c->cc.ssthresh = c->cc.cwnd;  /* BBR's loss response is its model's (tcp_bbr.c) */
        return;
    }
    if (e->net.cfg.cc == CC_CUBIC) {
        /* RFC 9438 4.6: the cut applies to what was in flight, which a window-limited
         * flow keeps below cwnd. */
        uint32_t used = flight(c) < c->cc.cwnd ? flight(c) : c->cc.cwnd;
        double cwnd = used / (double)c->mss;
        /* RFC 9438 4.7, fast convergence: yield to newer flows after a loss below W_max. */
        c->cc.w_max = cwnd < c->cc.w_max ? cwnd * (1 + CUBIC_BETA) / 2 : cwnd;
        c->cc.epoch_us = 0;
        uint32_t s = (uint32_t)(used * CUBIC_BETA);
        c->cc.ssthresh = s > two ? s : two;
    } else {
        uint32_t half = flight(c) / 2;  /* RFC 5681 (4) */
        c->cc.ssthresh = half > two ? half : two;
    }
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
        c->cc.epoch_us = 0;
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
