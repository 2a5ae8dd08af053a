/*
 * tcp_priv.h - what the files of tcp/ share and nothing outside tcp/ includes: options,
 * the received segment, and each file's functions for the others.
 *
 * tcp_in.c: tcp_input -> tw_input (timewait.c) | tcp_listen (tcp_listen.c, syncookie.c)
 *                     | tcp_segment -> ack_in -> tcp_sack.c, tcp_rack.c, tcp_cc.c
 *                                   -> tcp_data_in, tcp_fin_in (tcp_reass.c)
 *                                   -> up->sent -> tcp_output (tcp_sched.c: queued)
 * serve/loop.c: tcp_tx_run (tcp_sched.c) -> tcp_output_turn (tcp_out.c), in turn
 * tcp_timer.c: timer_run -> tcp_retransmit, tcp_probe, tcp_tail_probe (tcp_out.c),
 *                        rack_timeout (tcp_sack.c)
 * conn.c: the pool (conn_alloc, conn_free); flight.c: a flight's state and the SACK
 * scoreboard, from pools while in use; tcp_opt.c: options; tcp_state.c: states.
 */
#ifndef SSDK_TCP_PRIV_H
#define SSDK_TCP_PRIV_H
#include "base/proto.h"
#include "tcp/tcp.h"

/* The TCP layer whose net is n: struct tcp holds it. */
static inline struct tcp *tcp_of(struct net *n)
{
    return (struct tcp *)((char *)n - offsetof(struct tcp, net));
}

#define CO_WSCALE 0x01        /* the peer offered window scaling: we answer with ours */
#define CO_TS     0x02        /* timestamps on every segment (RFC 7323 3) */
#define CO_SACK   0x04        /* the peer may send, and is sent, SACK blocks (RFC 2018) */
#define CO_BBR    0x08        /* the connection runs BBR (ssdk_config.cc 2, tcp_bbr.c) */

#include "tcp/tcp_pace.h"

struct tcp_opts {
    uint8_t  has_mss, has_ws, sack_ok, has_ts, nsack, ws;
    uint16_t mss;
    uint32_t tsval, tsecr;
    uint32_t sack[SACK_MAX][2];
};

/* A received segment, as tcp_in.c and syncookie.c read it. */
struct seg {
    const struct tcp_hdr *th;
    uint32_t seq, ack, wnd, len;  /* len: payload bytes */
    uint8_t flags;
    uint8_t *data;
    struct tcp_opts opt;
};

/* RFC 9293 3.4: SND.UNA =< SND.NXT =< SND.MAX (modulo 2^32; SND.NXT goes back to SND.UNA
 * for a retransmission, SND.MAX never does), and on the receive side a buffer held
 * exactly while bytes are (tcp_reass.c), never more of them than it takes. */
static inline void conn_check_seq(const struct tcb *c)
{
    SSDK_ASSERT(seq_le(c->snd.una, c->snd.nxt));
    SSDK_ASSERT(seq_le(c->snd.nxt, c->snd.max));
    SSDK_ASSERT(c->rcv.len <= TCP_RCV_CAP);
    SSDK_ASSERT(c->rcv.nooo <= SACK_MAX);
    SSDK_ASSERT(!c->fl || c->fl->sack.nblocks <= SACK_RANGES);
    SSDK_ASSERT(!c->fl || !c->fl->sack.nblocks == !c->fl->sb);
    SSDK_ASSERT(!c->rcv.nooo || c->rcv.bufid);
    SSDK_ASSERT(!c->rcv.bufid || c->rcv.len || c->rcv.nooo);
}

/* The one way a connection's state changes (tcp_state.h): a move the table allows. */
static inline void conn_set_state(struct tcb *c, enum tcp_state to)
{
    SSDK_ASSERT(to != TCP_NONE && tcp_move_ok((enum tcp_state)c->state, to));
    c->state = (uint8_t)to;
}

/* rxbuf.c: the pool's buffers. */
int  rxbuf_init(struct tcp *e);
void rxbuf_free(struct tcp *e);
uint32_t rxbuf_get(struct tcp *e);
void rxbuf_put(struct tcp *e, uint32_t id);
void rxbuf_wait(struct tcp *e, struct tcb *c);
static inline uint8_t *rxbuf_at(const struct tcp *e, uint32_t id)
{
    SSDK_ASSERT(id >= 1 && id <= e->rx.bump);
    return e->rx.mem + (size_t)(id - 1) * TCP_RCV_CAP;
}
/* The ranges c holds beyond a gap (rcv.nooo of them), kept with its buffer. */
static inline uint32_t (*rcv_ooo(const struct tcp *e, const struct tcb *c))[2]
{
    SSDK_ASSERT(c->rcv.bufid >= 1 && c->rcv.bufid <= e->rx.bump);
    return e->rx.ooo[c->rcv.bufid - 1];
}
static inline uint32_t rxbuf_left(const struct tcp *e)
{
    return e->rx.cap - e->rx.bump + e->rx.nback;
}

/*
 * What the connection can take now: what its buffer has left when it holds bytes (in
 * the buffer, or in the frame on their way there); without any, a whole buffer if the
 * pool has one beyond its reserve, else nothing (the window closes, rxbuf_wait). A block
 * made up to answer for no connection says len = TCP_RCV_CAP: nothing.
 */
static inline uint32_t rcv_room(const struct tcp *e, const struct tcb *c)
{
    SSDK_ASSERT(c->rcv.len <= TCP_RCV_CAP);
    if (c->rcv.bufid || c->rcv.len)
        return TCP_RCV_CAP - c->rcv.len;
    return rxbuf_left(e) > e->rx.reserve ? TCP_RCV_CAP : 0;
}

/*
 * The receive window, RCV.WND: what the connection can take now, but never less than
 * what the last ACK promised (RFC 9293 3.8.6.2.1: the right edge does not move back).
 * A connection holding a buffer can always take its promise: the promise was at most
 * the room its buffer had then, and bytes that arrived since only moved both edges. One
 * without a buffer answers for its promise from the pool: the reserve above keeps
 * buffers for promises already made while new ones are refused, and should even those
 * run out, the bytes are given back unacknowledged (tcp_rcv_settle, counted).
 */
static inline uint32_t rcv_wnd(const struct tcp *e, const struct tcb *c)
{
    uint32_t room = rcv_room(e, c), edge = c->rcv.last_ack + c->rcv.last_wnd;
    /* No window sent yet (a connection a cookie made: its SYN-ACK had no block), none. */
    uint32_t promised = c->rcv.last_wnd && seq_lt(c->rcv.nxt, edge) ? edge - c->rcv.nxt : 0;
    SSDK_ASSERT(promised <= TCP_RCV_CAP && (!c->rcv.bufid || promised <= room));
    return promised > room ? promised : room;
}

/* Whether c is a slot of the pool, not a block made up to answer for no connection
 * (tcp_send_rst, TIME-WAIT, a cookie's SYN-ACK). */
static inline int tcb_in_pool(const struct tcp *e, const struct tcb *c)
{
    uintptr_t at = (uintptr_t)c, lo = (uintptr_t)e->conns;
    return at >= lo && at < lo + (uintptr_t)e->net.cfg.max_conns * sizeof(*c);
}

/* The peer's window, and the largest it has been (RFC 5961 5.2). */
static inline void set_snd_wnd(struct tcb *c, uint32_t wnd)
{
    c->snd.wnd = wnd;
    if (wnd > c->snd.max_wnd)
        c->snd.max_wnd = wnd;
}

/* A 16-byte address mixed with a key (the hashes of conn.c, timewait.c, syncookie.c). */
static inline uint64_t addr_mix(const struct ip_addr *a, uint64_t key)
{
    uint64_t w0, w1;
    memcpy(&w0, a->b, 8);
    memcpy(&w1, a->b + 8, 8);
    return mix64(mix64(w0 ^ key) ^ w1);
}

/* Whether the connection runs over IPv6 (its local address says). */
static inline int tcb_v6(const struct tcp *e, const struct tcb *c)
{
    return e->net.addr_v6[c->laddr];
}

/* Where the TCP header begins in a frame of c's. */
static inline uint32_t tcb_hdrs(const struct tcp *e, const struct tcb *c)
{
    return ETH_HLEN_ + ip_hlen(&e->net, c->laddr);
}

/* flight.c */
int  flight_init(struct tcp *e);
void flight_free(struct tcp *e);
void flight_take(struct tcp *e, struct tcb *c);
void flight_put(struct tcp *e, struct tcb *c);
void flight_settle(struct tcp *e, struct tcb *c);
struct tcb_sb *sb_take(struct tcp *e, struct tcb *c);
void sb_put(struct tcp *e, struct tcb *c);

/* conn.c */
struct tcb *conn_alloc(struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                       uint8_t laddr, uint8_t lport);
void conn_free(struct tcp *e, struct tcb *c);
void conn_idle_update(struct tcp *e, struct tcb *c);
int  conn_evict_idle(struct tcp *e);
uint32_t conn_count_ip(const struct tcp *e, const struct ip_addr *raddr);
uint32_t isn_make(struct tcp *e, const struct ip_rx *rx, uint16_t rport, uint16_t lport_be);

/* syncookie.c */
uint32_t syncookie_isn(const struct tcp *e, const struct ip_rx *rx, uint16_t rport,
                       uint16_t lport_be, uint32_t irs, const struct tcp_opts *o);
uint32_t syncookie_ts_bits(const struct tcp_opts *o, int sack_ok);
int syncookie_check(const struct tcp *e, const struct ip_rx *rx, uint16_t rport,
                    uint16_t lport_be, uint32_t seq, uint32_t ack, const struct tcp_opts *ackopt,
                    struct tcp_opts *syn);

/* timewait.c */
int  tw_init(struct tcp *e, uint32_t cap);
void tw_free(struct tcp *e);
struct tw_entry *tw_lookup(struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                           uint8_t laddr, uint8_t lport);
void tw_enter(struct tcp *e, struct tcb *c);
void tw_enter_fin_wait_2(struct tcp *e, struct tcb *c);
int  tw_input(struct tcp *e, struct tw_entry *w, const struct seg *s);

/* tcp_opt.c */
void tcp_opts_parse(const uint8_t *o, uint32_t n, struct tcp_opts *out);
uint32_t tcp_opts_write(const struct tcp *e, const struct tcb *c, uint8_t *o, uint8_t flags,
                        int pure_ack);
uint32_t ts_now(const struct tcp *e, const struct tcb *c);

/* tcp_listen.c */
void tcp_listen(struct tcp *e, const struct ip_rx *rx, struct seg *s);

/* tcp_reass.c */
void tcp_data_in(struct tcp *e, struct tcb *c, struct seg *s);
void tcp_fin_in(struct tcb *c, const struct seg *s);
int  tcp_rcv_settle(struct tcp *e, struct tcb *c);
int  tcp_rcv_keepable(const struct tcp *e, const struct tcb *c);

/* tcp_in.c; tcp_input is net's e->tcp_input (tcp_init registers it). */
void tcp_input(struct net *n, const struct ip_rx *rx, uint8_t *p, uint32_t len,
               uint32_t fflags);
void tcp_segment(struct tcp *e, struct tcb *c, struct seg *s);
void conn_queue_fin(struct tcb *c, uint32_t at);

/* The transmit round (tcp_sched.c). Outside a connection's turn, tx_quota is
 * TX_NO_TURN: what timers send (a probe, an RTO's first segment) goes unpaced. */
#define TX_NO_TURN UINT32_MAX
enum { TX_DONE, TX_MORE, TX_PACED, TX_BLOCKED };  /* why a turn ended (tx_stop) */
void txq_add(struct tcp *e, struct tcb *c);
void pace_sent(struct tcp *e, struct tcb *c, uint32_t len);

/* tcp_pmtu.c: net's e->tcp_ptb (tcp_init registers it) */
void tcp_ptb(struct net *n, uint8_t local, const struct ip_addr *peer, const uint8_t *th,
             uint32_t len, uint32_t mtu);
uint32_t tcp_mss_cap(const struct tcp *e, const struct tcb *c);

/* tcp_out.c */
int  tcp_output_turn(struct tcp *e, struct tcb *c);
int  tcp_send_ctl(struct tcp *e, struct tcb *c, uint8_t flags, uint32_t seq);
void tcp_send_rst(struct tcp *e, const struct ip_rx *rx, const struct tcp_hdr *th,
                  uint32_t seglen);
void tcp_probe(struct tcp *e, struct tcb *c);
void tcp_tail_probe(struct tcp *e, struct tcb *c);
int  tcp_can_send_new(const struct tcb *c);
void tcp_retransmit(struct tcp *e, struct tcb *c);
int  tcp_resend(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len);

/* tcp_cc.c */
void cc_init(struct tcp *e, struct tcb *c);
void cc_flight_begin(struct tcp *e, struct tcb *c);
void cc_flight_end(struct tcb *c);
void cc_on_ack(struct tcp *e, struct tcb *c, uint32_t acked);
void cc_on_loss(struct tcp *e, struct tcb *c);
void cc_on_rto(struct tcp *e, struct tcb *c);
void cc_after_idle(struct tcp *e, struct tcb *c);
void cc_recovery_start(struct tcp *e, struct tcb *c);
void cc_recovery_ack(struct tcp *e, struct tcb *c, uint32_t delivered);
void cc_undo_start(struct tcb *c);
void cc_undo(struct tcp *e, struct tcb *c);
uint32_t cc_loss_rate(const struct tcb *c);
/* RFC 3708 2 (as Linux's undo_retrans): every retransmission of a reduction's episode
 * must be reported a duplicate (D-SACK) before the reduction is undone (tcp_sack.c).
 * len 0 is a FIN, which no D-SACK reports: that episode is not undone; nor one with
 * more resends than the count holds. */
static inline void undo_resent(struct tcb *c, uint32_t len)
{
    if (!(c->fl->sack.undo & UN_ARMED))
        return;
    uint32_t segs = (len + c->mss - 1) / c->mss;
    if (!len || c->fl->sack.undo_retrans + segs > UINT8_MAX)
        c->fl->sack.undo &= (uint8_t)~UN_ARMED;
    else
        c->fl->sack.undo_retrans = (uint8_t)(c->fl->sack.undo_retrans + segs);
}
/* RFC 6937 3.1, "on any data transmission or retransmission": prr_out counts what goes
 * while in recovery. prr_out never exceeds what was sent since recovery began. BBR
 * runs no PRR, and its own state is in that space (struct tcb_ccx). */
static inline void cc_sent(struct tcb *c, uint32_t len)
{
    if (c->fl->sack.in_recovery && !(c->opts & CO_BBR))
        c->fl->cc.prr_out += len;
}

/* tcp_bbr.c, tcp_rate.c (BBR, draft-ietf-ccwg-bbr): cc_init, cc_on_loss, cc_on_rto
 * and cc_after_idle hand a BBR connection to bbr_init, bbr_on_loss ...; ack_in calls
 * bbr_on_ack on every ACK that delivers data, in recovery too; tcp_out.c rate_sent. */
void bbr_init(struct tcp *e, struct tcb *c);
void bbr_flight_begin(struct tcp *e, struct tcb *c);
void bbr_flight_end(struct tcb *c);
void bbr_on_ack(struct tcp *e, struct tcb *c);
void bbr_on_rto(struct tcp *e, struct tcb *c);
void bbr_rtt(struct tcp *e, struct tcb *c, uint32_t rtt_us);
uint32_t bbr_loss_rate(const struct tcb *c);
void rate_sent(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len);
void rate_rwnd_limited(struct tcb *c);

/* tcp_rack.c */
struct rack_verdict {
    uint32_t lost_hi;              /* unSACKed bytes below it are lost (SND.UNA: none) */
    uint32_t relost_lo, relost_hi; /* a retransmission found lost again; relost_hi 0: none */
    uint32_t wait_us;              /* until the next step may be found lost; 0: none waits */
};
void rack_check(const struct tcb *c);
void rack_trim(struct tcb *c, uint32_t old_una);
void rack_sent(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len);
void rack_delivered(struct tcp *e, struct tcb *c, uint32_t a, uint32_t b, int above);
int  rack_detect(const struct tcp *e, const struct tcb *c, struct rack_verdict *v);

/* tcp_sack.c */
/* The end of the highest SACKed range: RFC 8985's RACK.fack (SND.UNA: none). */
static inline uint32_t sack_high(const struct tcb *c)
{
    uint8_t n = c->fl->sack.nblocks;
    return n ? c->fl->sb->blocks[n - 1][1] : c->snd.una;
}
uint32_t sack_bytes(const struct tcb *c);
uint32_t sack_holes_in(const struct tcb *c, uint32_t a, uint32_t b);
uint32_t sack_hole_top(const struct tcb *c, uint32_t a, uint32_t b);
int  sack_room_for(const struct tcb *c, uint32_t len);
void rack_timeout(struct tcp *e, struct tcb *c);
void sack_trim(struct tcp *e, struct tcb *c);
uint32_t sack_update(struct tcp *e, struct tcb *c, const struct tcp_opts *o, int dsack);
int  dsack_in(struct tcp *e, struct tcb *c, const struct seg *s);
void frto_on_ack(struct tcp *e, struct tcb *c, uint32_t acked, int dup);
int  sack_is_lost(const struct tcb *c);
uint32_t recovery_pipe(const struct tcb *c);
int  recovery_next(const struct tcb *c, uint32_t *seq, uint32_t *len);
void recovery_enter(struct tcp *e, struct tcb *c, uint32_t delivered);
void recovery_on_ack(struct tcp *e, struct tcb *c, uint32_t acked, uint32_t delivered);
void recovery_sent(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len);

/* tcp_timer.c */
int  timer_init(struct tcp *e);
enum { TK_NONE, TK_RTO, TK_IDLE, TK_PTO, TK_RACK };
void timer_set(struct tcp *e, struct tcb *c, uint64_t at_ms);
void timer_after_output(struct tcp *e, struct tcb *c);
void progress_mark(struct tcp *e, struct tcb *c);
void timer_stop(struct tcp *e, struct tcb *c);
void rtt_sample(struct tcp *e, struct tcb *c, uint64_t rtt_us);
void rto_arm(struct tcp *e, struct tcb *c);
void loss_timer_arm(struct tcp *e, struct tcb *c);
void rack_timer_arm(struct tcp *e, struct tcb *c);

#endif
