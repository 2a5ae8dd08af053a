/*
 * tcp_pace.h - a connection's pacing rate, as Linux computes it (tcp_update_pacing_rate).
 *
 * tcp_sched.c (a turn's quantum, pace_sent: when the next byte may leave) -> tcp_pacing_rate
 * tcp_out.c (chunk_max: how much one super-frame carries)   -> tcp_turn_bytes
 *
 * rate = cwnd / srtt * ratio, ratio 2.0 in slow start while cwnd is below half of
 * ssthresh (net.ipv4.tcp_pacing_ss_ratio = 200%), 1.2 after (tcp_pacing_ca_ratio =
 * 120%): a window's worth of data spread over a little less than one RTT, so the queue
 * that a burst of a whole window builds never forms, while the window can still grow.
 * A connection that runs BBR has its model's rate instead (bbr_pacing_rate).
 * One definition, for everything that sizes or times transmission by the rate.
 */
#ifndef SSDK_TCP_PACE_H
#define SSDK_TCP_PACE_H
#include <stdint.h>
#include "tcp/tcp.h"

#define TCP_PACE_SS_RATIO 20u   /* tenths: 2.0 while cwnd < ssthresh / 2 */
#define TCP_PACE_CA_RATIO 12u   /* tenths: 1.2 otherwise */

/* tcp_bbr.c: with BBR the rate is its model's, pacing_gain x max_bw (draft-ietf-ccwg-bbr). */
uint64_t bbr_pacing_rate(const struct tcb *c);

/* Bytes per second. Before the first RTT sample (srtt 0) Linux leaves the rate
 * undivided, in effect no limit: UINT64_MAX here. */
static inline uint64_t tcp_pacing_rate(const struct tcb *c)
{
    if (c->opts & CO_BBR)
        return bbr_pacing_rate(c);
    if (c->timer.srtt_us == 0)
        return UINT64_MAX;
    uint64_t ratio = c->cc.cwnd < c->cc.ssthresh / 2 ? TCP_PACE_SS_RATIO : TCP_PACE_CA_RATIO;
    return (uint64_t)c->cc.cwnd * 1000000u * ratio / ((uint64_t)c->timer.srtt_us * 10u);
}

/* What one turn of the transmit round (tcp_sched.c) may send, and one super-frame
 * carry: TX_TURN_US at the pacing rate in whole segments (Linux's tcp_tso_autosize), at
 * least two, at most TX_TURN_MAX; TX_TURN_MAX before an RTT sample. */
static inline uint32_t tcp_turn_bytes(const struct tcb *c)
{
    uint64_t rate = tcp_pacing_rate(c), lo = 2u * c->mss;
    uint64_t b = rate == UINT64_MAX ? TX_TURN_MAX : rate * TX_TURN_US / 1000000u;
    if (b < lo)
        b = lo;
    if (b > TX_TURN_MAX)
        b = TX_TURN_MAX;
    return (uint32_t)(b / c->mss * c->mss);
}

#endif
