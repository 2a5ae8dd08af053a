/*
 * tcp_bbr.h - what tcp_bbr.c (BBR, draft-ietf-ccwg-bbr) and tcp_rate.c (its
 * delivery-rate samples, draft-cheng-tcpm-rate-delivery) share. The state is struct
 * tcb_bbr (tcp.h), in the space CUBIC's takes when a connection runs CUBIC.
 */
#ifndef SSDK_TCP_BBR_H
#define SSDK_TCP_BBR_H
#include "tcp/tcp.h"

/* tcb_bbr.state: Startup, Drain, ProbeBW's four phases, ProbeRTT. */
enum { BBR_STARTUP, BBR_DRAIN, BBR_DOWN, BBR_CRUISE, BBR_REFILL, BBR_UP, BBR_PROBE_RTT };

#define BB_P        0x01  /* a sent range (P) is being sampled (tcp_rate.c) */
#define BB_P_APP    0x02  /* P went while the application limited the sender */
#define BB_FILLED   0x04  /* BBR.filled_pipe */
#define BB_CNT      0x18  /* BBR.full_bw_count, 0-3 (Startup's, then each Up's) */
#define BB_CNT_1    0x08
#define BB_RTT_LOW  0x20  /* ProbeRTT: inflight is down; phase_ms is when it got there */
#define BB_RWND     0x40  /* the peer's receive window held the sender back since P went */
#define BB_P_RWND   0x80  /* ...and before P went: the round P closes was the receiver's */

/* tcb_bbr.round: what draft-ietf-ccwg-bbr's BBRCheckStartupHighLoss asks of a round. */
#define BR_EVENTS   0x07  /* loss events (discontiguous ranges resent in a recovery), to 7 */
#define BR_P_REC    0x08  /* P went in a fast recovery: if one is on when P is delivered,
                             it lasted the whole round */
#define BR_RTO      0x10  /* an RTO deemed all in flight lost since: the next P restarts
                             the delivery clock (tcp_rate.c) */
#define BR_LOSSY    0x60  /* rounds of Startup that lost data, counted to 2 (tcp_bbr.c) */
#define BR_LOSSY_1  0x20

/* One delivery-rate sample (draft-cheng 3.2): delivered bytes over interval_us, from a
 * range whose round trip was rtt_us. interval_us 0: none this ACK. */
struct rate_sample {
    uint32_t delivered, interval_us, rtt_us;
    uint32_t tx_in_flight;  /* sent and not yet delivered when P went */
    int app_limited;
};

uint32_t rate_on_ack(struct tcp *e, struct tcb *c, struct rate_sample *rs);
void bbr_resent(struct tcp *e, struct tcb *c);

#endif
