/*
 * tcp_out.c - segments leaving: the application's stream, control segments, resets.
 *
 * tcp_sched.c (a connection's turn) -> tcp_output_turn -> send_next -> send_data
 *     -> up->payload -> tcp_finish -> nic->tx_commit
 *                                               send_next -> send_super
 *     -> up->payload_copy -> tcp_finish_gso -> nic->tx_commit_gso
 * tcp_timer.c -> tcp_retransmit, tcp_probe, tcp_tail_probe -> send_next / tcp_resend
 * send_data, send_super -> rack_sent (tcp_rack.c): the send time of every data byte
 *                       -> cc_sent (tcp_priv.h): what recovery sent, for PRR
 * every retransmission -> undo_resent (tcp_priv.h): what D-SACKs must account for
 * tcp_timer.c (rto_fire) -> tcp_retransmit: go-back-N, or F-RTO's first step (RFC 5682)
 * tcp_in.c, tcp_timer.c, tcp_listen.c -> tcp_send_ctl (SYN-ACK, ACK, FIN) / tcp_send_rst
 *
 * The stack is bufferless: what a connection sends is always a byte range of the stream
 * the application wrote (tcp_write_stream: up to c->snd.end), and the application
 * rebuilds any range of it on demand (up->payload: serve/ copies it from a template,
 * with the template segment's precomputed sum where the range is exactly one), so a
 * retransmission costs no copy kept per connection. Our FIN goes after the stream's
 * last byte, as its own segment.
 *
 * Where the backend cuts super-frames (nic->gso_max, nic.h), new data goes in chunks of
 * several MSS as one frame (send_super), sized as Linux sizes TSO bursts
 * (tcp_tso_autosize): about 1 ms of data at the pacing rate, at least two segments, at
 * most what one frame holds, in whole segments unless the stream ends sooner. Its
 * checksum is left partial, so its bytes are copied without a sum (up->payload_copy).
 * Retransmissions and probes stay one MSS each, rebuilt from the stream as always: the
 * peer acknowledges the pieces one by one, and a piece lost is sent again alone.
 */
#include <arpa/inet.h>
#include <string.h>
#include "base/csum.h"
#include "tcp/tcp_priv.h"

/* The window a segment carries (tcp_priv.h: rcv_wnd). An ACK's is remembered: its
 * right edge is a promise. A connection shown 0 for want of a receive buffer waits to be
 * sent the window again when buffers come back (rxbuf.c). Nothing is sent while the
 * application's unread bytes still lie in the RX frame (tcp_rcv_settle comes first). */
static uint16_t adv_window(struct tcp *e, struct tcb *c, uint8_t flags)
{
    SSDK_ASSERT(e->rx.in_frame != c);
    uint32_t wnd = rcv_wnd(e, c);
    if (flags & TH_ACK) {
        c->rcv.last_ack = c->rcv.nxt;
        c->rcv.last_wnd = (uint16_t)wnd;
        if (!wnd && !c->rcv.bufid && !c->rcv.len && tcb_in_pool(e, c)
            && c->state != TCP_SYN_RECEIVED)  /* that one waits once synchronized */
            rxbuf_wait(e, c);
    }
    return (uint16_t)wnd;
}

/* The Ethernet, IP and TCP headers (TCP options already in place), checksum field 0;
 * IPv4 or IPv6 as the connection's address is (tcb_hdrs: where the TCP header goes). */
static struct tcp_hdr *tcp_fill(struct tcp *e, struct tcb *c, uint8_t *frame, uint8_t flags,
                                uint32_t seq, uint32_t optlen, uint32_t plen)
{
    struct tcp_hdr *th = (void *)(frame + tcb_hdrs(e, c));
    uint32_t hl = 20 + optlen;
    uint16_t l4 = (uint16_t)(hl + plen);
    if (flags & TH_ACK)
        c->flags &= (uint8_t)~TF_ACK_PENDING;  /* the ACK a segment wanted is on its way */
    ip_output_hdr(&e->net, frame, c->rmac, c->laddr, &c->raddr, IPPROTO_TCP_, l4);
    th->sport = e->ports_be[c->lport];
    th->dport = c->rport;
    th->seq = htonl(seq);
    th->ack = (flags & TH_ACK) ? htonl(c->rcv.nxt) : 0;
    th->off = (uint8_t)((hl / 4) << 4);
    th->flags = flags;
    th->win = htons(adv_window(e, c, flags));
    th->csum = 0;
    th->urp = 0;
    return th;
}

/* Fill the TCP header (its options already in place) and both checksums, commit. */
static void tcp_finish(struct tcp *e, struct tcb *c, uint8_t *frame, uint8_t flags,
                       uint32_t seq, uint32_t optlen, uint32_t plen, uint64_t psum)
{
    struct tcp_hdr *th = tcp_fill(e, c, frame, flags, seq, optlen, plen);
    uint32_t hl = 20 + optlen;
    uint16_t l4 = (uint16_t)(hl + plen);
    uint64_t sum = ip_pseudo(&e->net, c->laddr, &c->raddr, IPPROTO_TCP_, l4);
    sum = csum_partial(th, hl, sum) + psum;  /* the payload's sum: the same for v4 and v6 */
    th->csum = htons(csum_finish(sum));
    uint32_t n = tcb_hdrs(e, c) + l4;
    if (n < 60) {
        memset(frame + n, 0, 60 - n);
        n = 60;
    }
    e->net.nic->tx_commit(e->net.nic, n);
    e->net.st->tx_frames++;
    e->net.st->tx_bytes += n;
}

/* A super-frame (nic.h): the headers as for one segment, the IP length covering the whole
 * payload, the TCP checksum field left partial (the folded pseudo-header sum of the whole
 * TCP length, what the kernel's __tcp_v4_send_check leaves: ~tcp_v4_check(len, saddr,
 * daddr, 0)); the backend's cutter makes each piece's length, sequence number and sum. */
static void tcp_finish_gso(struct tcp *e, struct tcb *c, uint8_t *frame, uint8_t flags,
                           uint32_t seq, uint32_t optlen, uint32_t plen)
{
    struct tcp_hdr *th = tcp_fill(e, c, frame, flags, seq, optlen, plen);
    uint32_t hl = 20 + optlen;
    uint16_t l4 = (uint16_t)(hl + plen);
    SSDK_ASSERT(!tcb_v6(e, c));  /* chunk_max: IPv6 sends no super-frames */
    th->csum = htons(csum_fold(ip_pseudo(&e->net, c->laddr, &c->raddr, IPPROTO_TCP_, l4)));
    uint32_t n = ETH_HLEN_ + 20 + l4;
    const struct nic_gso g = {
        .hdr_len = (uint16_t)(ETH_HLEN_ + 20 + hl), .gso_size = c->mss,
        .csum_start = ETH_HLEN_ + 20, .csum_offset = (uint16_t)offsetof(struct tcp_hdr, csum),
    };
    SSDK_ASSERT(plen > c->mss && n <= e->net.nic->gso_max);
    e->net.nic->tx_commit_gso(e->net.nic, n, &g);
    e->net.st->tx_frames++;
    e->net.st->tx_bytes += n;
    e->net.st->tx_gso_frames++;
    e->net.st->tx_gso_segs += (plen + c->mss - 1) / c->mss;
}

/* A segment without data. Returns 0 when the TX ring had no room (the peer recovers). */
int tcp_send_ctl(struct tcp *e, struct tcb *c, uint8_t flags, uint32_t seq)
{
    uint8_t *f = e->net.nic->tx_slot(e->net.nic);
    if (!f) {
        e->net.st->tx_ring_full++;
        return 0;
    }
    if (flags & TH_RST) {
        e->net.st->rst_sent++;
        flags &= (uint8_t)~TH_ACK;
    }
    uint32_t optlen = tcp_opts_write(e, c, f + tcb_hdrs(e, c) + 20, flags, flags == TH_ACK);
    tcp_finish(e, c, f, flags, seq, optlen, 0, 0);
    return 1;
}

/* RFC 9293 3.10.7.1: the reset for a segment that belongs to no connection. */
void tcp_send_rst(struct tcp *e, const struct ip_rx *rx, const struct tcp_hdr *th,
                  uint32_t seglen)
{
    struct tcb tmp;
    memset(&tmp, 0, sizeof(tmp));
    memcpy(tmp.rmac, rx->eh->src, 6);
    tmp.raddr = rx->src;
    tmp.rport = th->sport;
    tmp.laddr = rx->local;
    tmp.rcv.len = TCP_RCV_CAP;  /* window 0 */
    e->ports_be[TCP_PORT_ASKED] = th->dport;  /* answer from the port that was asked */
    tmp.lport = TCP_PORT_ASKED;
    if (th->flags & TH_ACK) {
        tcp_send_ctl(e, &tmp, TH_RST, ntohl(th->ack));
    } else {
        tmp.rcv.nxt = ntohl(th->seq) + seglen + !!(th->flags & TH_SYN) + !!(th->flags & TH_FIN);
        uint8_t *f = e->net.nic->tx_slot(e->net.nic);
        if (f) {
            e->net.st->rst_sent++;
            tcp_finish(e, &tmp, f, TH_RST | TH_ACK, 0, 0, 0, 0);
        } else {
            e->net.st->tx_ring_full++;
        }
    }
}

/* A TX buffer for a frame of `segs` segments, or NULL with e->tx_stop set. */
static uint8_t *tx_take(struct tcp *e, struct tcb *c, uint32_t segs)
{
    if (e->tx_quota == 0 || (e->tx_quota != TX_NO_TURN && c->fl->pace_us > e->net.now_us)) {
        e->tx_stop = e->tx_quota == 0 ? TX_MORE : TX_PACED;
        return NULL;
    }
    uint8_t *f = e->tx_budget >= segs ? e->net.nic->tx_slot(e->net.nic) : NULL;
    if (!f) {
        if (e->tx_budget >= segs)
            e->net.st->tx_ring_full++;
        e->tx_stop = TX_BLOCKED;
        return NULL;
    }
    e->tx_budget -= segs;
    return f;
}

/* len bytes of data are going: off the turn's quantum, and onto the pacing clock. */
static void tx_took(struct tcp *e, struct tcb *c, uint32_t len)
{
    if (e->tx_quota != TX_NO_TURN)
        e->tx_quota = len < e->tx_quota ? e->tx_quota - len : 0;
    pace_sent(e, c, len);
}

/*
 * Bytes [seq, seq+len) of the stream, as one segment. 0 when it cannot go now, and
 * e->tx_stop says why: TX_BLOCKED (TX ring full, or the pass's budget spent), or, in a
 * connection's turn of the transmit round, TX_MORE (the turn's quantum is spent) or
 * TX_PACED (its pacing time has not come). The application writes the payload and gives
 * its sum (up->payload); TCP adds the header's.
 */
static int send_data(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len, int last)
{
    uint8_t *f = tx_take(e, c, 1);
    if (!f)
        return 0;
    tx_took(e, c, len);
    uint32_t hdrs = tcb_hdrs(e, c) + 20;
    uint32_t optlen = (c->opts & CO_TS) ? tcp_opts_write(e, c, f + hdrs, TH_ACK, 0) : 0;
    SSDK_ASSERT(hdrs + optlen + len <= NIC_FRAME_MAX);
    uint64_t sum = e->up->payload(e, c, seq, len, f + hdrs + optlen);
    tcp_finish(e, c, f, TH_ACK | (last ? TH_PSH : 0), seq, optlen, len, sum);
    rack_sent(e, c, seq, len);  /* RFC 8985 6.1: when each byte was last sent */
    rate_sent(e, c, seq, len);  /* BBR's delivery-rate sample (tcp_rate.c) */
    cc_sent(c, len);
    e->net.st->tx_payload_bytes += len;
    return 1;
}

/*
 * Bytes [seq, seq+len), more than one MSS, as one super-frame the backend cuts into MSS
 * pieces; 0 as send_data. The pieces count against the budget one by one: cut in
 * software (a device without TSO) they reach the peer's backlog as that many frames.
 */
static int send_super(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len, int last)
{
    uint8_t *f = tx_take(e, c, (len + c->mss - 1) / c->mss);
    if (!f)
        return 0;
    tx_took(e, c, len);
    uint32_t optlen = (c->opts & CO_TS) ? tcp_opts_write(e, c, f + HDRS_LEN, TH_ACK, 0) : 0;
    e->up->payload_copy(e, c, seq, len, f + HDRS_LEN + optlen);
    /* PSH where the stream ends; the cutter keeps it on the last piece only. */
    tcp_finish_gso(e, c, f, TH_ACK | (last ? TH_PSH : 0), seq, optlen, len);
    rack_sent(e, c, seq, len);
    rate_sent(e, c, seq, len);
    cc_sent(c, len);
    e->net.st->tx_payload_bytes += len;
    return 1;
}

/*
 * The most new data one frame may carry now: one MSS, or where the backend cuts
 * super-frames, a turn's quantum (tcp_turn_bytes: about 1 ms at the pacing rate, as
 * Linux sizes TSO bursts) or what is left of it, at most what a frame and the pass's
 * budget hold, in whole segments.
 */
static uint32_t chunk_max(const struct tcp *e, const struct tcb *c)
{
    uint32_t gso_max = e->net.nic->gso_max;
    uint32_t hdr = HDRS_LEN + ((c->opts & CO_TS) ? TS_OPT_LEN : 0);
    /* IPv6 goes segment by segment: the backends' super-frames are IPv4's (nic.h). */
    if (!gso_max || gso_max < hdr + 2u * c->mss || tcb_v6(e, c))
        return c->mss;
    uint64_t want = tcp_turn_bytes(c);
    if (e->tx_quota != TX_NO_TURN && want > e->tx_quota)
        want = e->tx_quota;
    if (want > gso_max - hdr)
        want = gso_max - hdr;
    uint64_t segs = want / c->mss;
    if (segs > e->tx_budget)
        segs = e->tx_budget;
    return segs > 1 ? (uint32_t)segs * c->mss : c->mss;
}

/* Where a SACKed range covers seq, the first byte above it; else seq. */
static uint32_t skip_sacked(const struct tcb *c, uint32_t seq)
{
    for (uint8_t i = 0; i < c->fl->sack.nblocks; i++)
        if (seq_le(c->fl->sb->blocks[i][0], seq) && seq_lt(seq, c->fl->sb->blocks[i][1]))
            seq = c->fl->sb->blocks[i][1];
    return seq;
}

/*
 * Bytes [seq, seq+len) once more, as a retransmission. 0: held back (TX full). The range
 * is cut at the stream's end: past it is our FIN's sequence number, which goes as a
 * FIN, never as a byte of data (recovery counts sequence space, FIN included).
 */
int tcp_resend(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len)
{
    uint32_t end = c->snd.end;
    if (!seq_lt(seq, end)) {
        if ((c->flags & TF_FIN_QUEUED) && seq == c->snd.fin
            && !tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->snd.fin)) {
            e->tx_stop = TX_BLOCKED;
            txq_add(e, c);
            return 0;
        }
        e->net.st->retransmits++;
        undo_resent(c, 0);
        return 1;
    }
    int fin = len > end - seq && (c->flags & TF_FIN_QUEUED) && c->snd.fin == end;
    if (len > end - seq)
        len = end - seq;
    if (!send_data(e, c, seq, len, seq + len == end)) {
        txq_add(e, c);  /* tried again in its turn */
        return 0;
    }
    e->net.st->retransmits++;
    undo_resent(c, len);
    if (fin) {  /* the range went on to our FIN: it goes again too, as a FIN */
        tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->snd.fin);
        undo_resent(c, 0);
    }
    return 1;
}

/*
 * One segment of new data (or of data sent before, after an RTO rewound SND.NXT), if
 * the windows allow; returns 0 when nothing more can go now.
 */
static int send_next(struct tcp *e, struct tcb *c, uint32_t end, uint32_t wnd,
                     uint32_t flight)
{
    c->snd.nxt = skip_sacked(c, c->snd.nxt);  /* after an RTO, what the peer holds stays */
    if (!seq_lt(c->snd.nxt, end) || flight >= wnd)
        return 0;
    uint32_t len = end - c->snd.nxt, room = wnd - flight, cap = chunk_max(e, c);
    if (len > cap)
        len = cap;
    if (len > room) {
        if (room >= c->mss)  /* a super-frame: whole segments within the window */
            len = room - room % c->mss;
        else if (flight > 0)  /* sender-side silly window avoidance, RFC 9293 3.8.6.2.1 */
            return 0;
        else
            len = room;
    }
    if (len <= c->mss)
        len = e->up->seg_len(e, c, c->snd.nxt, len);
    int resend = seq_lt(c->snd.nxt, c->snd.max), last = c->snd.nxt + len == end;
    if (!resend && !sack_room_for(c, len))
        return 0;  /* the holes it would likely open do not fit the scoreboard */
    if (!(len > c->mss ? send_super(e, c, c->snd.nxt, len, last)
                       : send_data(e, c, c->snd.nxt, len, last))) {
        txq_add(e, c);  /* tried again in its turn */
        return 0;
    }
    if (resend) {
        e->net.st->retransmits++;
        undo_resent(c, len);
    } else if (!(c->flags & TF_TIMING)) {
        c->flags |= TF_TIMING;
        c->timer.rtt_seq = c->snd.nxt;
        c->fl->rtt_start_us = e->net.now_us;
    }
    c->snd.nxt += len;
    if (seq_lt(c->snd.max, c->snd.nxt))
        c->snd.max = c->snd.nxt;
    c->snd.last_us = e->net.now_us;
    c->snd.used = c->snd.max - c->snd.una;
    return 1;
}

/*
 * In recovery (RFC 6675 5, step C): while pipe leaves room in cwnd, send the next hole
 * again, or else new data within the peer's window. Only a whole segment goes into the
 * room: PRR (RFC 6937, tcp_cc.c) opens cwnd by fractions of a segment per ACK, and a
 * segment sent for each fraction would undo its spreading.
 */
static void output_recovery(struct tcp *e, struct tcb *c, uint32_t end)
{
    for (;;) {
        uint32_t pipe = recovery_pipe(c), seq, len;
        if (pipe >= c->cc.cwnd)
            return;
        if (recovery_next(c, &seq, &len)) {
            if (pipe + len > c->cc.cwnd || !tcp_resend(e, c, seq, len))
                return;
            recovery_sent(e, c, seq, len);
            continue;
        }
        uint32_t wnd = c->snd.wnd, flight = c->snd.nxt - c->snd.una;
        uint32_t room = c->cc.cwnd - pipe;
        if (wnd > flight + room)
            wnd = flight + room;
        if (!send_next(e, c, end, wnd, flight))
            return;
    }
}

/*
 * Whether the turn that just ended stopped at the peer's receive window with data ready
 * and room left in cwnd (in recovery, room over pipe, RFC 6675): the window, not the
 * congestion controller, set the rate. A resend still due is not held by it.
 */
static int rwnd_limited(const struct tcb *c, uint32_t end)
{
    uint32_t seq, len, out = c->snd.nxt - c->snd.una;
    if (!seq_lt(c->snd.nxt, end) || out + c->mss <= c->snd.wnd)
        return 0;
    if (c->fl->sack.in_recovery)
        return !recovery_next(c, &seq, &len) && recovery_pipe(c) + c->mss <= c->cc.cwnd;
    return out + c->mss <= c->cc.cwnd;
}

/*
 * A connection's turn in the transmit round (tcp_sched.c): send what the windows allow,
 * the stream's bytes, then our FIN once they are all out, until the turn's quantum is
 * spent. Returns why it stopped: TX_DONE (nothing more may go now), or TX_MORE,
 * TX_PACED, TX_BLOCKED (e->tx_stop).
 */
int tcp_output_turn(struct tcp *e, struct tcb *c)
{
    e->tx_stop = TX_DONE;
    if (c->state == TCP_SYN_RECEIVED || c->state == TCP_TIME_WAIT || c->state == TCP_NONE)
        return TX_DONE;
    if (seq_lt(c->snd.una, c->snd.end)) {  /* stream bytes not yet acknowledged */
        uint32_t end = c->snd.end;
        if (c->fl->sack.in_recovery) {
            output_recovery(e, c, end);
        } else {
            /* RFC 3042, limited transmit: each of the first two duplicate ACKs lets one
             * new segment go beyond cwnd, so a small window still yields three. */
            if (c->snd.una == c->snd.max)
                cc_after_idle(e, c);
            int lt = c->fl->sack.dupacks && c->fl->sack.dupacks < 3 && c->snd.nxt == c->snd.max;
            uint32_t cw = c->cc.cwnd + (lt ? c->fl->sack.dupacks : 0) * (uint32_t)c->mss;
            uint32_t wnd = c->snd.wnd < cw ? c->snd.wnd : cw;
            while (send_next(e, c, end, wnd, c->snd.nxt - c->snd.una))
                if (lt && c->snd.max - c->snd.una > c->cc.cwnd)
                    c->fl->sack.lt_sent++;
        }
        if (e->tx_stop == TX_DONE && rwnd_limited(c, end))
            rate_rwnd_limited(c);  /* BBR: this round's sample is the receiver's (tcp_rate.c) */
        if (e->tx_stop != TX_DONE) {
            timer_after_output(e, c);
            return e->tx_stop;
        }
    }
    if ((c->flags & TF_FIN_QUEUED) && c->snd.nxt == c->snd.fin) {
        if (!tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->snd.fin))
            return TX_BLOCKED;
        if (c->snd.max != c->snd.fin) {
            e->net.st->retransmits++;
            undo_resent(c, 0);
        }
        c->snd.nxt = c->snd.fin + 1;
        c->snd.max = c->snd.nxt;
    }
    timer_after_output(e, c);  /* which checks SND.UNA =< SND.NXT =< SND.MAX */
    return TX_DONE;
}

/*
 * After an RTO: back to the first unacknowledged byte, with the window of one segment
 * (RFC 5681 3.1). Everything after it follows as ACKs open the window again, skipping
 * what the peer reported holding (RFC 6675 5.1); go-back-N costs nothing extra when
 * segments come from templates.
 */
void tcp_retransmit(struct tcp *e, struct tcb *c)
{
    c->flags &= (uint8_t)~TF_TIMING;  /* Karn: no RTT sample from a resent segment */
    /* RFC 5682 2 (1): F-RTO on a first timeout that interrupts neither a recovery nor a
     * go-back-N already under way (there "recover" is still ahead of SND.UNA). */
    int frto = c->timer.retries <= 1 && !c->fl->sack.in_recovery && c->snd.nxt == c->snd.max
               && !(c->fl->sack.undo & UN_FRTO) && !seq_lt(c->snd.una, c->fl->sack.recover);
    c->fl->sack.recover = c->snd.max;  /* RFC 6582 4.1: duplicate ACKs of this are no new loss */
    c->fl->sack.in_recovery = 0;
    c->fl->sack.rtx_hi = c->snd.una;  /* RFC 6675 5.1: no earlier resend is on its way */
    c->fl->sack.dupacks = 0;
    c->fl->sack.lt_sent = 0;
    if (c->fl->sack.undo & UN_FRTO) {
        /* A timeout while F-RTO decides: the loss is real. The first RTO set ssthresh,
         * and F-RTO's cwnd (flight plus two segments) must not set it again. */
        c->fl->sack.undo &= (uint8_t)~UN_FRTO;
        c->cc.cwnd = c->mss;
    } else {
        if (c->timer.retries <= 1)  /* a new episode: what it takes may be given back */
            cc_undo_start(c);
        cc_on_rto(e, c);
        if (frto)
            c->fl->sack.undo |= UN_FRTO1;
    }
    c->snd.nxt = c->snd.una;
    /* RFC 2018 8: the left edge goes again even if SACKed, since a receiver may renege. */
    uint32_t end = c->snd.end;
    if (seq_lt(c->snd.max, end))
        end = c->snd.max;  /* only what was sent: a resend is no place for new data */
    uint32_t len = end - c->snd.una < c->mss ? end - c->snd.una : c->mss;
    if (seq_lt(c->snd.una, end)) {
        if (!tcp_resend(e, c, c->snd.una, len))
            return;
        c->snd.nxt = c->snd.una + len;
    }
    tcp_output(e, c);
}

/*
 * A zero-window probe: one byte at SND.UNA, sent whatever the window says (RFC 9293
 * 3.8.6.1). The peer answers with its window; when it reopens, tcp_output resumes.
 */
void tcp_probe(struct tcp *e, struct tcb *c)
{
    uint32_t end = c->snd.end;
    if (!seq_lt(c->snd.una, end))
        return;
    if (!send_data(e, c, c->snd.una, 1, c->snd.una + 1 == end))
        return;
    if (c->snd.nxt == c->snd.una) {
        c->snd.nxt++;
        if (seq_lt(c->snd.max, c->snd.nxt))
            c->snd.max = c->snd.nxt;
    } else {
        e->net.st->retransmits++;
        undo_resent(c, 1);
    }
}

/* Can a segment of new data go now, as far as the peer's window goes, and the
 * scoreboard's reach (sack_room_for: else a tail probe would be new data that waits)? */
int tcp_can_send_new(const struct tcb *c)
{
    return seq_lt(c->snd.max, c->snd.end) && c->snd.max - c->snd.una < c->snd.wnd
           && (!c->fl || sack_room_for(c, c->mss));
}

/*
 * RFC 8985 7.3: the probe is new data if the window allows, else the last segment sent
 * again; either way the peer's answer (an ACK, or SACK of it) starts a fast recovery
 * where silence would have waited for the RTO. New data goes as two segments where the
 * peer's window takes them, not one: when only the ACKs of the flight were lost (one
 * ACK for a whole burst, from a receiver that coalesces), one in-order segment is
 * answered when the receiver's delayed-ACK timer runs out (41 ms from Linux's, measured
 * at a 1 ms round trip), the second of two full segments at once (RFC 9293 3.8.6.3,
 * RFC 5681 4.2). A segment sent again draws its answer at once already (a duplicate is
 * acknowledged without delay). When the peer has SACKed the last
 * segment, the probe is the last one it has not: sent again, the SACKed one would only
 * draw a D-SACK that says nothing of what is missing (a resend lost again at the end of
 * a recovery, with nothing sent after it for RACK to go by), while the hole repaired
 * moves SND.UNA or shows RACK a later delivery.
 */
void tcp_tail_probe(struct tcp *e, struct tcb *c)
{
    if (tcp_can_send_new(c)) {
        uint32_t end = c->snd.end, out = c->snd.max - c->snd.una, room = c->snd.wnd - out;
        uint32_t wnd = out + (room < 2u * c->mss ? c->mss : 2u * c->mss);
        /* The second segment, unless one super-frame held both. */
        if (send_next(e, c, end, wnd, c->snd.nxt - c->snd.una))
            send_next(e, c, end, wnd, c->snd.nxt - c->snd.una);
        return;
    }
    if ((c->flags & TF_FIN_QUEUED) && c->snd.max == c->snd.fin + 1) {
        if (tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->snd.fin)) {
            e->net.st->retransmits++;
            undo_resent(c, 0);
        }
        return;
    }
    if (!seq_lt(c->snd.una, c->snd.end))
        return;
    uint32_t end = c->snd.end;
    uint32_t top = seq_lt(end, c->snd.max) ? end : c->snd.max;
    if (c->fl->sack.nblocks)
        top = sack_hole_top(c, c->snd.una, top);  /* SND.UNA itself when all is SACKed */
    uint32_t len = top - c->snd.una < c->mss ? top - c->snd.una : c->mss;
    if (len)
        tcp_resend(e, c, top - len, len);
}

/* The ACK a segment wanted and the application said it would carry (TCP_ACK_LATER), if
 * its answer did not come in time to carry it. */
void tcp_ack_flush(struct tcp *e, struct tcb *c)
{
    if ((c->flags & TF_ACK_PENDING) && !(c->flags & TF_TXQ) && c->state != TCP_NONE)
        tcp_send_ctl(e, c, TH_ACK, c->snd.nxt);  /* queued: its turn carries the ACK */
}
