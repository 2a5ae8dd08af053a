/*
 * tcp_sched.c - the transmit round: which connection sends next, how much, and when.
 *
 * tcp_in.c, tcp_timer.c, serve/ -> tcp_output -> txq_add (the connection waits its turn)
 * serve/loop.c (once per pass, after input, timers and the application) -> tcp_tx_run
 *     -> tcp_output_turn (tcp_out.c: one quantum of one connection), round robin
 * tcp_out.c (send_data) -> pace_sent (when the connection's next byte may go)
 *
 * Why a round: a connection that sent from inside input processing took as much of the
 * pass's budget as its window allowed, in the order ACKs came, and the connections the
 * budget held back waited until the ACK-clocked ones had finished: at 256 connections
 * most requests were quick and the slowest took hundreds of milliseconds, on a path
 * that lost nothing. Here every connection with something to send waits in one FIFO;
 * a turn sends at most one quantum (tcp_turn_bytes: about 1 ms at its pacing rate,
 * deficit round robin with the quantum as the deficit) and puts the connection back at
 * the end if it has more. Pacing spaces a connection's quanta as Linux does
 * (tcp_pacing_rate). A full TX ring or a spent pass budget ends the round; the
 * connection it interrupted goes first in the next pass: back-pressure, never loss.
 *
 * Invariant: a connection is in the ring at most once, and is in it (or having its
 * turn) exactly while TF_TXQ is set, or its slot was freed since (then its turn is
 * skipped).
 */
#include "tcp/tcp_priv.h"

static void txq_push_back(struct tcp *e, uint32_t idx)
{
    uint32_t cap = e->net.cfg.max_conns;
    SSDK_ASSERT(e->txq_count < cap);
    e->txq[(e->txq_head + e->txq_count) % cap] = idx;
    e->txq_count++;
}

static void txq_push_front(struct tcp *e, uint32_t idx)
{
    uint32_t cap = e->net.cfg.max_conns;
    SSDK_ASSERT(e->txq_count < cap);
    e->txq_head = (e->txq_head + cap - 1) % cap;
    e->txq[e->txq_head] = idx;
    e->txq_count++;
}

static uint32_t txq_pop(struct tcp *e)
{
    SSDK_ASSERT(e->txq_count > 0);
    uint32_t idx = e->txq[e->txq_head];
    e->txq_head = (e->txq_head + 1) % e->net.cfg.max_conns;
    /* Empty, the ring starts over at its first place: the places ever written then
     * follow the most connections queued at once, not all the flights there were (a
     * ring of a million places would otherwise be touched whole, 4 bytes a slot). */
    if (--e->txq_count == 0)
        e->txq_head = 0;
    return idx;
}

/* At the end of the round, unless it is there already (or having its turn now). */
void txq_add(struct tcp *e, struct tcb *c)
{
    if (c->flags & TF_TXQ)
        return;
    c->flags |= TF_TXQ;
    txq_push_back(e, tcb_index(e, c));
}

/* Whether a turn could send anything: stream bytes not sent yet, holes to fill in a
 * recovery, or our FIN. The windows are the turn's to check. */
static int wants_output(const struct tcb *c)
{
    if ((c->flags & TF_FIN_QUEUED) && c->snd.nxt == c->snd.fin)
        return 1;
    if (!seq_lt(c->snd.una, c->snd.end))
        return 0;
    return seq_lt(c->snd.nxt, c->snd.end) || (c->fl && c->fl->sack.in_recovery);
}

int tcp_output(struct tcp *e, struct tcb *c)
{
    if (c->state == TCP_SYN_RECEIVED || c->state == TCP_TIME_WAIT || c->state == TCP_NONE)
        return 0;
    /* What was acknowledged or written may change what the timer is for: with nothing
     * in flight, a connection waiting for its turn needs no loss probe. */
    timer_after_output(e, c);
    if (!wants_output(c))
        return 0;
    txq_add(e, c);
    return 1;
}

/*
 * After len bytes went: the connection's next byte may go len/rate later. A connection
 * that waited may catch up by an initial window (ten segments, as Linux's fq lets a new
 * flow start) or one quantum, whichever is more: its pacing time lags the clock by at
 * most that much, so the first flight and a turn after a pause go whole (BBR: one
 * quantum). Unpaced before an RTT sample, and with pacing off (ssdk_config.options
 * bit 3).
 */
void pace_sent(struct tcp *e, struct tcb *c, uint32_t len)
{
    uint64_t rate = tcp_pacing_rate(c);
    if (rate == UINT64_MAX || !(e->net.cfg.options & TCP_OPT_PACING))
        return;
    uint64_t now = e->net.now_us, burst = tcp_turn_bytes(c);
    /* Not for BBR: its rate is the path's (pacing_gain x max_bw), and ten segments at
     * once after a wait (ProbeRTT's small window) would sit in the queue for good. */
    if (burst < 10u * c->mss && !(c->opts & CO_BBR))
        burst = 10u * c->mss;
    uint64_t credit = burst * 1000000u / rate;
    uint64_t base = c->fl->pace_us + credit < now ? now - credit : c->fl->pace_us;
    c->fl->pace_us = base + (uint64_t)len * 1000000u / rate;
}

/* The ACK a connection owes, when its turn did not carry it. */
static void ack_owed(struct tcp *e, struct tcb *c)
{
    if ((c->flags & TF_ACK_PENDING) && c->state != TCP_NONE)
        tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);
}

void tcp_tx_run(struct tcp *e)
{
    /* Turns in a row that sent nothing because of pacing: when every connection left
     * has had one, the round is over until the earliest of them falls due. */
    uint32_t waited = 0;
    uint64_t wake = UINT64_MAX;
    while (e->txq_count && waited < e->txq_count) {
        uint32_t idx = txq_pop(e);
        struct tcb *c = &e->conns[idx];
        SSDK_ASSERT(c->flags & TF_TXQ);
        if (c->state == TCP_NONE) {  /* freed since it was queued */
            c->flags &= (uint8_t)~TF_TXQ;
            continue;
        }
        uint32_t budget = e->tx_budget;
        e->tx_quota = tcp_turn_bytes(c);
        int r = tcp_output_turn(e, c);
        e->tx_quota = TX_NO_TURN;
        if (r == TX_BLOCKED) {  /* the ring or the pass is full: first again next pass */
            txq_push_front(e, idx);
            wake = 0;
            break;
        }
        if (r == TX_DONE) {
            c->flags &= (uint8_t)~TF_TXQ;
            ack_owed(e, c);
            waited = 0;
            wake = UINT64_MAX;
            continue;
        }
        txq_push_back(e, idx);  /* TX_MORE, TX_PACED: more to send, later */
        if (r == TX_PACED && budget == e->tx_budget) {
            waited++;
            if (c->fl->pace_us < wake)
                wake = c->fl->pace_us;
        } else {
            waited = 0;
            wake = UINT64_MAX;
        }
    }
    e->tx_wake_us = e->txq_count ? (wake == UINT64_MAX ? 0 : wake) : 0;
    /* Those that wait for the next pass owe their ACKs now, not then. */
    uint32_t cap = e->net.cfg.max_conns;
    for (uint32_t k = 0; k < e->txq_count; k++)
        ack_owed(e, &e->conns[e->txq[(e->txq_head + k) % cap]]);
}
