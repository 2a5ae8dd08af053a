/*
 * tcp_timer.c - time: the retransmission timer (RFC 6298), the persist probe, and the
 * send timeout, the idle and request-header timeouts, all through one timer per
 * connection on a timing wheel. (TIME-WAIT has its own table: timewait.c.)
 *
 * serve/loop.c -> timer_run -> timer_fire -> tcp_retransmit | tcp_probe | tcp_tail_probe
 *                                         | rack_timeout (tcp_sack.c)
 *                                         | conn_free | up->timeout | conn_queue_fin
 * tcp_in.c, tcp_out.c -> rto_arm / loss_timer_arm / rack_timer_arm / timer_after_output
 *                        / timer_stop
 *
 * The wheel has one slot per millisecond; a deadline further away than the wheel's span
 * sits in its slot and is skipped until its turn comes round. Invariant: a connection is
 * linked in the wheel exactly when timer_at_ms != 0, in slot timer_at_ms & mask.
 */
#include <stdlib.h>
#include "tcp/tcp_priv.h"

#define WHEEL_SLOTS 4096u

_Static_assert(sizeof(struct tcb_timer) == 48, "progress_ms fills tcb_timer's padding");

int timer_init(struct tcp *e)
{
    e->wheel.nslots = WHEEL_SLOTS;
    e->wheel.slots = malloc(WHEEL_SLOTS * sizeof(uint32_t));
    if (!e->wheel.slots)
        return -1;
    for (uint32_t i = 0; i < WHEEL_SLOTS; i++)
        e->wheel.slots[i] = NONE32;
    e->wheel.tick_ms = now_ms(&e->net);
    return 0;
}

/* The invariant above, around c: linked exactly when timer_at_ms != 0, its neighbours
 * pointing back at it, the first of its slot its list's head. */
static void timer_check(const struct tcp *e, const struct tcb *c)
{
    uint32_t idx = tcb_index(e, c), head = e->wheel.slots[c->timer.at_ms & (e->wheel.nslots - 1)];
    if (!c->timer.at_ms) {
        SSDK_ASSERT(c->timer.prev == NONE32 && c->timer.next == NONE32);
        return;
    }
    SSDK_ASSERT(c->timer.prev != NONE32 ? e->conns[c->timer.prev].timer.next == idx : head == idx);
    SSDK_ASSERT(c->timer.next == NONE32 || e->conns[c->timer.next].timer.prev == idx);
    uint64_t mask = e->wheel.nslots - 1;
    SSDK_ASSERT(c->timer.next == NONE32
                || (e->conns[c->timer.next].timer.at_ms & mask) == (c->timer.at_ms & mask));
}

static void unlink_conn(struct tcp *e, struct tcb *c)
{
    uint32_t idx = tcb_index(e, c);
    timer_check(e, c);
    uint32_t *head = &e->wheel.slots[c->timer.at_ms & (e->wheel.nslots - 1)];
    if (c->timer.prev != NONE32)
        e->conns[c->timer.prev].timer.next = c->timer.next;
    else if (*head == idx)
        *head = c->timer.next;
    if (c->timer.next != NONE32)
        e->conns[c->timer.next].timer.prev = c->timer.prev;
    c->timer.prev = c->timer.next = NONE32;
    c->timer.at_ms = 0;
}

void timer_stop(struct tcp *e, struct tcb *c)
{
    if (c->timer.at_ms)
        unlink_conn(e, c);
    c->timer.kind = TK_NONE;
}

void timer_set(struct tcp *e, struct tcb *c, uint64_t at_ms)
{
    if (c->timer.at_ms)
        unlink_conn(e, c);
    if (at_ms <= e->wheel.tick_ms)
        at_ms = e->wheel.tick_ms + 1;  /* never behind the hand: it would wait a lap */
    uint32_t idx = tcb_index(e, c);
    uint32_t *head = &e->wheel.slots[at_ms & (e->wheel.nslots - 1)];
    c->timer.at_ms = at_ms;
    c->timer.prev = NONE32;
    c->timer.next = *head;
    if (*head != NONE32)
        e->conns[*head].timer.prev = idx;
    *head = idx;
    timer_check(e, c);
}

/* The send timeout's clock starts again: SND.UNA moved, or data became due after none
 * was. */
void progress_mark(struct tcp *e, struct tcb *c)
{
    c->timer.progress_ms = (uint32_t)now_ms(&e->net);
}

/* Milliseconds since the connection last made progress (progress_mark). */
static uint32_t since_progress(const struct tcp *e, const struct tcb *c)
{
    return (uint32_t)now_ms(&e->net) - c->timer.progress_ms;
}

/* Whether the send timeout is over: data (our FIN included) has waited for the peer's
 * acknowledgement this long without SND.UNA moving, however many probes it answered.
 * The handshake is bounded by the SYN-ACK's retries instead. */
static int send_timed_out(const struct tcp *e, const struct tcb *c)
{
    uint32_t limit = e->net.cfg.send_timeout_ms;
    return limit && c->state != TCP_SYN_RECEIVED && since_progress(e, c) >= limit;
}

/* (Re)start the retransmission timer with the current RTO, extra_ms later; never past
 * the send timeout, which rto_fire then finds over. */
static void rto_arm_later(struct tcp *e, struct tcb *c, uint32_t extra_ms)
{
    uint64_t now = now_ms(&e->net), at = now + c->timer.rto_ms + extra_ms;
    uint32_t limit = e->net.cfg.send_timeout_ms, since = since_progress(e, c);
    if (limit && c->state != TCP_SYN_RECEIVED) {
        uint64_t left = since < limit ? limit - since : 0;
        if (at > now + left)
            at = now + left;
    }
    timer_set(e, c, at);
    c->timer.kind = TK_RTO;
}

void rto_arm(struct tcp *e, struct tcb *c)
{
    rto_arm_later(e, c, 0);
}

/*
 * How much later than the backed-off RTO a data retransmission's next timeout runs: up
 * to a quarter of it, never past the maximum RTO, drawn anew by each connection at
 * each expiry (a keyed hash of its ISS and the expiry's count). Round trips measured
 * from timestamps count whole milliseconds, so connections that start together over
 * one path have the same RTO to the millisecond. Doubled together, their timeouts stay
 * in step: each time, all their resends reach a full queue in the same millisecond,
 * most are dropped, and the ones dropped time out together again. Through the
 * bottleneck test's link a sixth of 200 downloads lost seven resends in a row that way
 * and finished after a minute, the rest within 35 s. RFC 6298 5.5 doubles the timer;
 * waiting a little longer errs on its conservative side.
 */
static uint32_t backoff_spread(const struct tcp *e, const struct tcb *c)
{
    uint64_t h = mix64(e->isn_secret[0] ^ ((uint64_t)c->snd.iss << 8) ^ c->timer.retries);
    uint32_t spread = (uint32_t)(h % (c->timer.rto_ms / 4u + 1u));
    uint32_t max = e->net.cfg.rto_max_ms, rto = c->timer.rto_ms;
    uint32_t room = max > rto ? max - rto : 0;  /* never past the maximum */
    return spread < room ? spread : room;
}

/* The states with data or a FIN of ours that a probe may follow: all after the
 * handshake (whose SYN-ACK the RTO repeats) until ours is acknowledged. A lost FIN, or a
 * lost last segment before it, costs a probe as any tail does, not a timeout. */
static int probe_state(const struct tcb *c)
{
    return c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT
        || c->state == TCP_FIN_WAIT_1 || c->state == TCP_LAST_ACK || c->state == TCP_CLOSING;
}

/*
 * (Re)start the timer that watches data in flight: a tail loss probe after about two
 * round trips when one is due (RFC 8985 7.2: one per flight, an RTT known), else the
 * RTO. A lost last segment then costs a probe, not a timeout. Unlike RFC 8985 the probe
 * is armed in recovery too: when the last ACK of a small recovery window is lost,
 * nothing else would come back before the RTO, and the probe's answer (a SACK of
 * everything, or of all but a lost resend) ends or continues the recovery at once.
 */
void loss_timer_arm(struct tcp *e, struct tcb *c)
{
    if (c->fl->sack.tlp_sent || !c->timer.srtt_us || !probe_state(c)
        || !(e->net.cfg.options & 4)
        || c->snd.una == c->snd.max) {  /* nothing in flight: a zero window, persist */
        rto_arm(e, c);
        return;
    }
    /* RFC 8985 7.2: two round trips; plus 2 ms, the timer's granularity and what Linux
     * adds (TCP_TIMEOUT_MIN), rather than a 10 ms floor, which at a 1 ms round trip made
     * a lost tail cost ten round trips of silence. Without SACK (where Linux sends no
     * probe) the floor stays: a probe there only says something once the duplicate ACKs
     * of the flight have all come back. */
    uint64_t pto = (2ull * c->timer.srtt_us + 999) / 1000 + 2;
    /* RFC 8985 7.2: a flight of one segment adds the receiver's worst-case delayed ACK
     * (200 ms), which leaves the RTO, where more data waits behind it: a window fallen to
     * one segment is a congested path, and there a probe is an RTO without its backoff
     * (200 downloads through one queue: 11,113 probes against the kernel's 623, most of
     * them dropped). A lone segment that ends what there is to send keeps its probe:
     * the small responses that make such flights are the ones a probe helps most. */
    if (c->snd.max - c->snd.una <= c->mss && seq_lt(c->snd.max, c->snd.end)) {
        rto_arm(e, c);
        return;
    }
    if (!(c->opts & CO_SACK) && pto < 10)
        pto = 10;
    if (pto >= c->timer.rto_ms) {
        rto_arm(e, c);
        return;
    }
    timer_set(e, c, now_ms(&e->net) + pto);
    c->timer.kind = TK_PTO;
}

/*
 * RFC 8985 6.3: when RACK waits for segments not yet old enough to call lost, its timer
 * takes the connection's one timer if it comes before the PTO or RTO there; when it runs
 * out (rack_timeout), the loss timer is armed again from then.
 */
void rack_timer_arm(struct tcp *e, struct tcb *c)
{
    struct rack_verdict v;
    if (c->state == TCP_NONE || !rack_detect(e, c, &v) || !v.wait_us)
        return;
    uint64_t at = now_ms(&e->net) + (v.wait_us + 999) / 1000;
    if (c->timer.at_ms && c->timer.kind != TK_IDLE && c->timer.at_ms <= at)
        return;
    timer_set(e, c, at);
    c->timer.kind = TK_RACK;
}

/*
 * After each segment in or out: unacknowledged data (or data the peer's zero window
 * holds back) needs the RTO running, started once and not pushed back by every send
 * (RFC 6298 5.1). A connection with nothing in flight waits on the idle timeout from
 * now, or on the application's deadline (timer.app_ms: serve/ sets the request-header
 * timeout, counted from a request's first byte), whichever comes first: a client that
 * trickles a byte at a time cannot hold a slot longer than that.
 *
 * Data or our FIN queued but not sent yet is not in flight: it waits for its turn in
 * the transmit round on the idle timer, and its first segment arms the loss timer, as
 * a probe when one is due. A response to Connection: close has its FIN queued with
 * it; counted as waiting, that armed a bare RTO before the first segment went, which
 * the sends did not restart: a first flight lost whole waited the RTO instead of the
 * probe, and 200 downloads through one full queue all did, and backed off in step.
 */
void timer_after_output(struct tcp *e, struct tcb *c)
{
    flight_settle(e, c);  /* a flight block while anything is out or to go (flight.c) */
    conn_check_seq(c);
    conn_idle_update(e, c);  /* idle keep-alive, or not: the idle list (conn.c) */
    /* A FIN sent is in flight: SND.MAX is past it until it is acknowledged. */
    int waiting = c->snd.una != c->snd.max
               || (seq_lt(c->snd.una, c->snd.end) && c->snd.wnd == 0);
    if (waiting) {
        if (c->timer.kind == TK_IDLE)
            progress_mark(e, c);  /* data is due after none was: the send clock starts */
        if (c->timer.kind != TK_RTO && c->timer.kind != TK_PTO && c->timer.kind != TK_RACK)
            loss_timer_arm(e, c);
        return;
    }
    SSDK_ASSERT(c->state != TCP_FIN_WAIT_2);  /* it leaves the pool (timewait.c) */
    uint64_t at = now_ms(&e->net) + e->net.cfg.idle_ms;
    if (c->timer.app_ms && c->timer.app_ms < at)
        at = c->timer.app_ms;  /* the application's deadline (a request's header timeout) */
    timer_set(e, c, at);
    c->timer.kind = TK_IDLE;
}

/* RFC 6298 2.2-2.4, in microseconds; the RTO itself is kept in milliseconds. */
void rtt_sample(struct tcp *e, struct tcb *c, uint64_t rtt_us)
{
    uint32_t r = rtt_us > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)rtt_us;
    if (c->timer.srtt_us == 0) {
        c->timer.srtt_us = r ? r : 1;
        c->timer.rttvar_us = r / 2;
    } else {
        uint32_t d = c->timer.srtt_us > r ? c->timer.srtt_us - r : r - c->timer.srtt_us;
        c->timer.rttvar_us = c->timer.rttvar_us - c->timer.rttvar_us / 4 + d / 4;
        c->timer.srtt_us = c->timer.srtt_us - c->timer.srtt_us / 8 + r / 8;
    }
    /* RFC 8985 6.2 step 4's min_RTT: the least sample. Timestamps count in milliseconds
     * here, so with them RACK's own samples (rack_delivered) give it instead. */
    if (!(c->opts & CO_TS) && (!c->fl->rack.min_rtt_us || (r ? r : 1) < c->fl->rack.min_rtt_us))
        c->fl->rack.min_rtt_us = r ? r : 1;
    if (c->opts & CO_BBR)
        bbr_rtt(e, c, r);  /* BBR.min_rtt (tcp_bbr.c) */
    /* RFC 6298 2.3's SRTT + max(G, K*RTTVAR), with the floor where Linux puts it (its
     * rttvar never below TCP_RTO_MIN): the variance term, not the sum. A floor on the sum
     * lets the RTO sit at the floor while queueing delay grows SRTT towards it; through
     * a shared bottleneck that fired a timeout 4x as often as the kernel. */
    uint64_t var = 4ull * c->timer.rttvar_us, floor = 1000ull * e->net.cfg.rto_min_ms;
    uint64_t rto = ((uint64_t)c->timer.srtt_us + (var > floor ? var : floor) + 500) / 1000;
    if (rto > e->net.cfg.rto_max_ms)
        rto = e->net.cfg.rto_max_ms;
    c->timer.rto_ms = (uint32_t)rto;
}

static void rto_backoff(struct tcp *e, struct tcb *c)
{
    uint32_t max = e->net.cfg.rto_max_ms;
    c->timer.rto_ms = c->timer.rto_ms * 2 > max ? max : c->timer.rto_ms * 2;
}

/*
 * The sequence number of a RST we give up with: SND.NXT, unless that is beyond the
 * peer's window (a zero-window probe's byte it did not take), then the window's right
 * edge, as Linux's tcp_acceptable_seq. A receiver takes a RST only at RCV.NXT when its
 * window is zero (RFC 5961 3.2, RFC 9293 3.10.7.4), so one at SND.NXT would leave it
 * believing in a connection we freed.
 */
static uint32_t rst_seq(const struct tcb *c)
{
    uint32_t edge = c->snd.una + c->snd.wnd;
    return seq_le(c->snd.nxt, edge) ? c->snd.nxt : edge;
}

/*
 * The one timer ran out with data unacknowledged (retransmit), or with the peer's window
 * closed (probe it). A peer that acknowledged nothing through max_retries expiries in a
 * row is gone: reset the connection (RFC 9293 3.8.3, R2). A SYN-ACK is sent again
 * synack_retries times: RFC 9293 3.8.3 asks at least 3 minutes of retransmissions for
 * the SYN of an active open; for a listener's SYN-ACK Linux gives about one minute, and
 * so does ssdk, so that the entries of a flood (RFC 4987 2.2) hold the backlog no longer.
 */
static void rto_fire(struct tcp *e, struct tcb *c)
{
    if (c->state == TCP_SYN_RECEIVED && ++c->timer.retries > e->net.cfg.synack_retries) {
        /* A half-open connection gives up as Linux's does (tcp_synack_retries, 5: the
         * SYN-ACK at 0, 1, 3, 7, 15 and 31 s, given up at 63 s with the initial RTO of
         * 1 s), silently: its SYN's source is as likely forged as not (RFC 4987 2.2),
         * and a RST to it would be one more packet a flood makes us send. */
        e->net.st->synack_gave_up++;
        conn_free(e, c);
        return;
    }
    if (c->state != TCP_SYN_RECEIVED && ++c->timer.retries > e->net.cfg.max_retries) {
        e->net.st->conns_timed_out++;
        tcp_send_ctl(e, c, TH_RST, rst_seq(c));
        conn_free(e, c);
        return;
    }
    e->net.st->rto_expired++;
    rto_backoff(e, c);  /* RFC 6298 5.5 */
    if (c->state == TCP_SYN_RECEIVED) {
        c->flags &= (uint8_t)~TF_TIMING;
        e->net.st->retransmits++;
        tcp_send_ctl(e, c, TH_SYN | TH_ACK, c->snd.iss);
        rto_arm(e, c);
        return;
    }
    if (c->snd.wnd == 0 && seq_lt(c->snd.una, c->snd.end)) {
        tcp_probe(e, c);  /* persist: RFC 9293 3.8.6.1 */
        rto_arm(e, c);
        return;
    }
    tcp_retransmit(e, c);  /* RFC 6298 5.4, and RFC 5681 3.1 (cwnd to one segment) */
    rto_arm_later(e, c, backoff_spread(e, c));
}

static void timer_fire(struct tcp *e, struct tcb *c)
{
    uint8_t kind = c->timer.kind;
    c->timer.kind = TK_NONE;
    if ((kind == TK_RTO || kind == TK_PTO || kind == TK_RACK) && send_timed_out(e, c)) {
        /* nginx's send_timeout: a peer that takes nothing (a zero window it keeps
         * answering probes for, SACKs that never let SND.UNA move, or no ACKs at all)
         * gives its slot back, whichever loss timer finds it. */
        e->net.st->send_timeouts++;
        e->net.st->conns_timed_out++;
        tcp_send_ctl(e, c, TH_RST, rst_seq(c));
        conn_free(e, c);
        return;
    }
    switch (kind) {
    case TK_RTO:
        rto_fire(e, c);
        break;
    case TK_PTO:
        if ((c->flags & TF_TXQ) && tcp_can_send_new(c)) {
            /* New data waits for its turn in the transmit round (tcp_sched.c): it goes
             * soon and draws the ACK a probe would have (RFC 8985 7.3 sends new data
             * when it can), so no probe goes ahead of it out of turn. */
            loss_timer_arm(e, c);
            break;
        }
        c->fl->sack.tlp_sent = 1;
        e->net.st->tail_probes++;
        tcp_tail_probe(e, c);
        rto_arm(e, c);
        break;
    case TK_RACK:
        rack_timeout(e, c);
        if (c->state != TCP_NONE && c->snd.una != c->snd.max) {
            loss_timer_arm(e, c);
            rack_timer_arm(e, c);
        }
        break;
    case TK_IDLE:
        /* An idle keep-alive connection is closed from our side, politely; one that
         * never finished its request is told so (408) first. What it is sent starts
         * from nothing due: the send clock starts now. */
        progress_mark(e, c);
        if (c->state == TCP_FIN_WAIT_2) {
            e->net.st->conns_timed_out++;
            conn_free(e, c);
        } else if (e->up->timeout(e, c)) {  /* the application answers (a 408) */
            tcp_output(e, c);
        } else {
            c->flags |= TF_RCV_SHUT;
            conn_queue_fin(c, c->snd.max);
            tcp_output(e, c);
        }
        break;
    default:
        break;
    }
}

/*
 * When the loop may sleep until: the first non-empty slot ahead of the hand (a
 * connection there may be due a lap later; waking for it costs one idle pass), or a
 * whole lap from now when the wheel is empty. One scan per idle sleep, never per packet.
 */
uint64_t timer_next_ms(const struct tcp *e)
{
    const struct timer_wheel *w = &e->wheel;
    uint32_t mask = w->nslots - 1;
    for (uint64_t t = w->tick_ms + 1; t <= w->tick_ms + w->nslots; t++)
        if (w->slots[t & mask] != NONE32)
            return t;
    return w->tick_ms + w->nslots;
}

/* Visit every slot the clock has passed since the last call. */
void timer_run(struct tcp *e)
{
    struct timer_wheel *w = &e->wheel;
    uint64_t now = now_ms(&e->net);
    uint32_t mask = w->nslots - 1;
    if (now > w->tick_ms + w->nslots)
        w->tick_ms = now - w->nslots;  /* a long jump: one full lap sees everything */
    while (w->tick_ms < now) {
        w->tick_ms++;
        uint32_t i = w->slots[w->tick_ms & mask];
        while (i != NONE32) {
            struct tcb *c = &e->conns[i];
            i = c->timer.next;
            if (c->timer.at_ms <= now) {
                unlink_conn(e, c);
                timer_fire(e, c);
            }
        }
    }
}
