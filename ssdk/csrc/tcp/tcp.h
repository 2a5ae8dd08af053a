/*
 * tcp.h - the TCP layer as the layer above sees it: the control block, the stack's
 * state, the upcalls the application registers, and the calls it makes. What only the
 * files of tcp/ share is in tcp_priv.h.
 *
 * net/ip.c, ip6.c -> e->tcp_input (tcp_in.c) -> ... -> up->recv   in-order bytes (tcp_reass.c)
 * net/icmp6.c -> e->tcp_ptb (tcp_pmtu.c)     Packet Too Big: the connection's MSS lowered
 *                                            -> up->sent   input done: what is
 *                                               acknowledged, received, closed (tcp_in.c)
 * tcp_out.c (a segment of data, new or again)  -> up->payload  the bytes and their sum
 * tcp_out.c (a super-frame, nic.h)             -> up->payload_copy  the bytes only
 * tcp_out.c (the length of a new segment)      -> up->seg_len  where it should end
 * tcp_timer.c (idle)                           -> up->timeout  a request left unfinished
 * conn.c (conn_free)                           -> up->gone     the connection is gone
 * serve/ -> tcp_write_stream, tcp_close, tcp_recved, tcp_output, tcp_ack_flush ...
 *
 * The interface is lwIP's raw API (tcp_recv, tcp_sent, tcp_write, tcp_recved,
 * tcp_close) made bufferless: TCP keeps no copy of what it sends. The application says
 * how far its stream goes (tcp_write_stream), and TCP asks it for the bytes of a range
 * whenever a segment goes out, first time or again; a retransmission is rebuilt from
 * the same source. What TCP receives in order is offered to the application as it
 * comes (recv: it may take bytes it reads as they come, a request body); the rest it
 * parses where it lies (tcp_rcv_data: in the RX frame, and what it leaves there in a
 * buffer from a bounded pool, rxbuf.c, held only while bytes are) and frees with
 * tcp_recved; the window follows what can still be taken. TCP knows nothing of HTTP,
 * of responses or of tables.
 */
#ifndef SSDK_TCP_H
#define SSDK_TCP_H
#include <stddef.h>
#include <stdint.h>
#include "base/check.h"
#include "base/slab.h"
#include "base/seq.h"
#include "net/net.h"
#include "tcp/tcp_state.h"

#define TCP_RCV_CAP 4096      /* a pooled receive buffer (rxbuf.c): the most a connection
                                 holds unread, and its largest receive window */
#define SACK_MAX 4            /* blocks read from a segment; ranges held out of order */
/* SACKed ranges the send side keeps (tcp_sack.c), in a block of its own held only while
 * the peer holds ranges above a hole (flight.c): as many as the holes of a large flight
 * at a few percent of loss (a 3 MB flight at 2 % has some 40). A hole beyond them is
 * closed over (sack_room) and found again only when the cumulative ACK reaches it, a
 * round trip each: with 12 ranges, a 20 MiB download through 0.5 % loss at 20 ms closed
 * 46 and spent most of its time reopening them, one a round trip; with 128, BBR's
 * flights through 10 % loss closed hundreds, and their ends met the RTO. At most 254:
 * the count is a byte, and a merge holds one range more. */
#define SACK_RANGES 254
#define RACK_SLOTS 8          /* send-time steps kept per connection (tcp_rack.c) */
#define RACK_LINE_US 250      /* how far a merge's line may stray from the lines it joins */
#define RACK_STRAY_MAX_US 2000 /* how far a line may stray from the truth, merges summed */
/* Data segments one loop pass may queue (a super-frame counts its pieces). A veth or NIC
 * peer takes a burst into a backlog of its own (1000 frames on Linux by default); a pass
 * that queued the whole TX ring at once would overflow it. */
#define TX_PASS_BUDGET 256
/* A connection's turn in the transmit round (tcp_sched.c) sends about this long at its
 * pacing rate, as Linux sizes a TSO burst; at least two segments, at most TX_TURN_MAX. */
#define TX_TURN_US 1000
#define TX_TURN_MAX 65536
#define SYNACK_RETRIES_MAX 100u  /* ssdk_config.synack_retries: beyond, hours */
#define TCP_OPT_PACING 0x8u  /* ssdk_config.options: pace each connection (tcp_sched.c) */

/* The pooled blocks (flight.c): a connection holds a flight block while it has
 * anything in flight or to send, and a scoreboard while the peer reports SACKed ranges
 * above SND.UNA; between requests it holds neither. */
struct tcb_flight;
struct tcb_sb;

/*
 * One connection's TCP control block: what it keeps between requests, fixed size, in
 * the pool (conn.c). The groups follow Seastar's tcp.hh: what the send side and the
 * receive side keep apart, then the timer, the congestion window; the state only a
 * flight needs (loss recovery, RACK, the controller's working state, pacing) is in
 * the flight block (struct tcb_flight below), taken from a pool while data is out.
 */
struct tcb {
    uint32_t hnext;           /* hash chain, or free list */
    uint8_t  state;           /* enum tcp_state */
    uint8_t  flags;           /* TF_* */
    uint8_t  opts;            /* CO_*: what the handshake settled */
    uint8_t  ts_adj;          /* added to our TSval: a cookie's low bits, then past them */
    uint8_t  rmac[6];
    uint16_t rport;           /* network order */
    struct ip_addr raddr;     /* the peer: IPv6, or IPv4 mapped (net.h) */
    uint16_t mss;             /* payload bytes per segment we send */
    uint8_t  pool;            /* PF_*: idle as the application sees it, on the idle list */
    uint8_t  laddr;           /* our address: its index in net.addr (the IP version) */
    uint8_t  lport;           /* our port: its index in tcp.ports_be (TCP_PORT_*) */
    /* The idle list (conn.c): connections between requests, least recently active
     * first, the ones a new connection may evict when the pool is full. */
    uint32_t idle_prev, idle_next;

    struct tcb_snd {
        uint32_t iss, una, nxt, max;
        uint32_t end;         /* where the stream the application wrote ends */
        uint32_t fin;         /* sequence number of our FIN, when TF_FIN_QUEUED */
        uint32_t wnd;         /* peer's window, scaled */
        uint32_t max_wnd;     /* the largest it has been (RFC 5961 5.2) */
        uint8_t  wscale;      /* peer's window shift (RFC 7323) */
        /* What was in flight when data last went: the window the sender used, for
         * RFC 7661's test (tcp_cc.c). A batch of ACKs is taken before anything is sent
         * again, so the flight during the batch says less. In the padding after wscale. */
        uint32_t used;
        uint64_t last_us;     /* data last sent: the restart window after idle (RFC 5681 4.1) */
    } snd;

    /* The one timer (tcp_timer.c) and RFC 6298 state, in microseconds. */
    struct tcb_timer {
        uint32_t prev, next;  /* timer wheel slot list */
        uint8_t  kind;        /* what the timer is for: TK_* */
        uint8_t  retries;     /* RTO expiries since the last forward progress */
        /* When SND.UNA last moved, or data last became due after none was (the clock's
         * low 32 bits, ms): the send timeout counts from it (tcp_timer.c). It fills the
         * padding after retries: the block does not grow. */
        uint32_t progress_ms;
        uint64_t at_ms;       /* 0: no timer */
        uint64_t app_ms;      /* the application's deadline while idle; 0: none */
        uint32_t srtt_us, rttvar_us, rto_ms;
        uint32_t rtt_seq;     /* segment being timed (Karn: never a retransmitted one) */
    } timer;

    /* The congestion window, and what the controller keeps of its model between
     * flights (tcp_cc.c: cc_flight_end, cc_flight_begin): CUBIC its W_max, BBR its
     * max_bw, min_rtt and when it was taken, its state and whether the pipe was
     * filled. 24 bytes. */
    struct tcb_cc {
        uint32_t cwnd, ssthresh;
        uint32_t keep[3];
        uint8_t  keep_flags;
    } cc;

    /* The receive side (tcp_reass.c). len bytes came in order and the application has
     * not taken them: in the pooled buffer bufid names, or, while the segment that
     * brought them is processed, in its RX frame (tcp_rcv_data). Past them in the
     * buffer, at their distance from RCV.NXT, the bytes held beyond a gap: nooo
     * ranges, kept with the buffer (rx_pool.ooo). */
    struct tcb_rcv {
        uint32_t irs, nxt;
        uint32_t ts_recent;   /* RFC 7323 4.3: the peer's timestamp we echo (and PAWS) */
        uint32_t last_ack;    /* RCV.NXT as our last ACK carried it */
        uint32_t bufid;       /* the pooled buffer held: 1 + its index; 0 (zeroed) none */
        uint16_t len;
        /* The window our last ACK carried: last_ack + last_wnd is the right edge we
         * advertised, which a later window never moves back (tcp_priv.h: rcv_wnd). */
        uint16_t last_wnd;
        uint8_t  nooo;
    } rcv;

    struct tcb_flight *fl;    /* while anything is in flight or to send; NULL between */
};
/* What a connection keeps between requests (4624 bytes with the request buffer it used
 * to carry, 536 with all of a flight's state): docs/tcp.md, "Memory per connection". */
#define TCB_SIZE_MAX 208
_Static_assert(sizeof(struct tcb) <= TCB_SIZE_MAX, "struct tcb grew: see docs/tcp.md");

/*
 * A flight's state, from a pool (flight.c) while the connection has data or a FIN in
 * flight or to send (or a SYN-ACK): loss recovery's window and undo, the controller's
 * working state, the SACK scoreboard's summary, RACK's send times, and pacing.
 */
struct tcb_flight {
    /* PRR (RFC 6937 3), which CUBIC and NewReno use: bytes in flight when recovery
     * began, delivered since, and sent since; BBR, which does not, keeps its
     * short-term model there (tcp_bbr.c: bw_lo, in bytes per second, 0 for none, and
     * when the last resend for a queue's loss went, in ms); undo (RFC 3708,
     * RFC 4015; tcp_sack.c): the window and ssthresh before the last reduction, and
     * SND.UNA when it began (undo_marker), while sack.undo has UN_ARMED; then the
     * state of the one controller the connection runs (ssdk_config.cc): CUBIC's (RFC
     * 9438, in segments and microseconds, tcp_cc.c) or BBR's with its delivery-rate
     * sampler (tcp_bbr.c, tcp_rate.c), sharing the space. 88 bytes. */
    struct tcb_ccx {
        union {
            struct {
                uint32_t recover_fs, prr_delivered, prr_out;
            };
            struct {
                uint32_t bw_lo, queue_loss_ms;
            };
        };
        uint32_t prior_cwnd, prior_ssthresh, undo_marker;
        union {
            struct {
                double   w_max, w_est, k_s;
                uint64_t epoch_us;  /* 0: no epoch started since the last congestion event */
            };
            struct tcb_bbr {
                /* draft-cheng-tcpm-rate-delivery 3: the connection's delivery count
                 * and when it last grew, and the one sent range being sampled (P): the
                 * count, its time and the first-sent time when P went, P's end and
                 * its send time. Times: the clock's low 32 bits in microseconds. */
                uint32_t delivered, delivered_us;
                uint32_t p_end, p_delivered, p_delivered_us, p_first_us, p_sent_us;
                /* draft-ietf-ccwg-bbr: the model (max_bw's two windows, in bytes per
                 * second; min_rtt and when it was taken, in ms), the loss bound
                 * inflight_hi (0: none), the bytes resent in this round, full_bw
                 * (Startup's, then each Up's), and when the state or phase began
                 * (ms). 64 bytes. */
                uint32_t bw[2];
                uint32_t min_rtt_us, min_rtt_ms;
                uint32_t inflight_hi, round_lost, full_bw;
                uint32_t phase_ms;
                /* BR_*: this round's loss events, and whether P went in a recovery
                 * (draft, BBRCheckStartupHighLoss). */
                uint8_t  round;
                uint8_t  flags;          /* BB_* */
                /* The path's standing loss, per mille: the loss rate of the rounds of
                 * Startup and ProbeBW_CRUISE, averaged (tcp_bbr.c, check_loss). */
                uint8_t  loss_bg;
                uint8_t  state : 3;      /* BBR_STARTUP ... BBR_PROBE_RTT, with the ProbeBW phase */
                /* ProbeBW: the next probe for bandwidth is due 2 s + 32 ms x this after
                 * the cycle began (2 to 3 s). */
                uint8_t  probe_wait : 5;
            } bbr;
        };
    } cc;

    /* Loss detection and recovery (tcp_sack.c): how many ranges above SND.UNA the peer
     * holds (their bounds in the scoreboard, sb, while there are any), and the holes. */
    struct tcb_sack {
        uint8_t  nblocks;
        uint8_t  dupacks;
        uint8_t  in_recovery;
        uint8_t  tlp_sent;    /* a tail loss probe went out for this flight (RFC 8985 7) */
        uint8_t  lt_sent;     /* segments limited transmit sent beyond cwnd (RFC 3042) */
        uint8_t  undo;        /* UN_*: what the last reduction's undo waits for */
        uint8_t  undo_retrans; /* its retransmissions (segments) not yet D-SACKed */
        uint8_t  closed;      /* sack_room closed over a hole since the scoreboard was empty */
        uint32_t recover;     /* RFC 6582: SND.MAX when recovery began */
        uint32_t prev_una;    /* SND.UNA before the last ACK that moved it (RFC 6582 4.2) */
        uint32_t rtx_hi;      /* holes below this were sent again (in this recovery or the
                               * last, and not since found lost, nor undone by an RTO) */
        uint32_t lost_hi;     /* unSACKed bytes below this are taken as lost */
    } sack;

    /* RACK (RFC 8985 6, tcp_rack.c): when the bytes in flight were last sent, as a
     * piecewise linear function of the sequence number in at most RACK_SLOTS steps (slot
     * k covers [end[k-1], end[k]), slot 0 from SND.UNA; its first byte went at
     * first_us[k], its last at sent_us[k]; times are the low 32 bits of the clock in
     * microseconds), and what the latest delivery says. 120 bytes. */
    struct tcb_rack {
        uint32_t end[RACK_SLOTS];
        uint32_t sent_us[RACK_SLOTS];
        uint32_t first_us[RACK_SLOTS];
        uint32_t xmit_us;     /* RACK.xmit_ts: latest send time of data delivered */
        uint32_t end_seq;     /* RACK.end_seq: where that data ends */
        uint32_t rtt_us;      /* RACK.rtt: the round trip of that delivery */
        uint32_t min_rtt_us;  /* RACK.min_RTT: the least RFC 6298 sample; 0 none yet */
        uint8_t  n;           /* slots in use */
        uint8_t  flags;       /* RK_* */
        uint8_t  rough;       /* bit k: step k merged unlike times: only its bounds hold */
        uint8_t  lined;       /* bit k: step k merged like times: its line, give or take */
        uint8_t  resent;      /* bit k: step k holds bytes sent more than once */
        uint8_t  xmit_err;    /* how much earlier than xmit_us the latest delivery may
                               * have gone (16 us units): its line's stray beyond RACK_LINE_US */
        uint16_t err;         /* bits 2k, 2k+1: lined step k strays at most 2^v eighths of
                               * RACK_STRAY_MAX_US from its times */
    } rack;

    uint64_t rtt_start_us;    /* when timer.rtt_seq went (TF_TIMING) */
    uint64_t pace_us;         /* the earliest time the next data may go (tcp_sched.c) */
    struct tcb_sb *sb;        /* the SACKed ranges, while sack.nblocks > 0 */
};
#define FLIGHT_SIZE_MAX 256
_Static_assert(sizeof(struct tcb_flight) <= FLIGHT_SIZE_MAX, "see docs/tcp.md");

/* The SACK scoreboard (tcp_sack.c), from a pool while the peer holds ranges above
 * SND.UNA: [start, end), disjoint, ascending, sack.nblocks of them. */
struct tcb_sb {
    uint32_t blocks[SACK_RANGES][2];
};

#define TF_TIMING      0x01  /* timer.rtt_seq is being timed */
#define TF_RCV_SHUT    0x02  /* closed by the application: what still comes is dropped */
#define TF_FIN_QUEUED  0x04  /* our FIN has a sequence number */
#define TF_PEER_FIN    0x08  /* the peer's FIN has been received */
#define TF_TXQ         0x10  /* on the transmit queue (tcp_sched.c) */
#define TF_RCV_DIRECT  0x20  /* the application takes what comes as it comes (a body):
                                nothing is held beyond a gap */
#define TF_ACK_PENDING 0x40  /* a segment wants an ACK that has not gone yet */

#define PF_APP_IDLE    0x01  /* the application holds nothing for it: between requests */
#define PF_IDLE_LIST   0x02  /* on the idle list (e->idle_head ... e->idle_tail) */
#define PF_RX_WAIT     0x04  /* in the ring of those waiting for a receive buffer
                                (rxbuf.c); kept across reuse, as the ring entry is */

#define UN_ARMED       0x01  /* cc.prior_* hold what the last reduction took (undo) */
#define UN_FRTO1       0x02  /* F-RTO (RFC 5682 2): an RTO's resend waits for its first ACK */
#define UN_FRTO2       0x04  /* F-RTO: two new segments went, the second ACK decides */
#define UN_FRTO        (UN_FRTO1 | UN_FRTO2)

#define RK_VALID       0x01  /* rack.xmit_us, end_seq, rtt_us hold a delivery */
#define RK_REORD       0x02  /* the peer has delivered data out of order (RFC 8985 6.2) */

/* What up->sent returns. */
#define TCP_ACK_LATER 1       /* the application answers later in this pass: its answer
                                 carries the ACK, or it calls tcp_ack_flush */

struct tcp;

/* Which of our ports a connection came to (tcb.lport, tcp.ports_be). */
enum { TCP_PORT_HTTP = 0, TCP_PORT_TLS = 1, TCP_PORT_ASKED = 2 };

/* The layer above, registered at tcp_init (lwIP's tcp_recv, tcp_sent, ...). Each is
 * called at most a few times per segment, never per byte. */
struct tcp_upcalls {
    /* In-order bytes [data, data+len) arrived. Returns how many of the first ones the
     * application took as they are (a body it reads or drops); TCP keeps the rest for it
     * (tcp_rcv_data), unless the application closed (TF_RCV_SHUT). */
    uint32_t (*recv)(struct tcp *e, struct tcb *c, const uint8_t *data, uint32_t len);
    /* A segment was processed: bytes below c->snd.una are acknowledged, tcp_rcv_data
     * may hold more, the peer may have closed (TF_PEER_FIN). The application finishes and
     * starts responses (tcp_write_stream) or closes (tcp_close); TCP sends after it.
     * Returns 0 or TCP_ACK_LATER. */
    int (*sent)(struct tcp *e, struct tcb *c);
    /* Bytes [seq, seq+len) of the stream into pl, for a segment; returns their
     * one's-complement sum (csum.h, unfolded). */
    uint64_t (*payload)(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len,
                        uint8_t *pl);
    /* The same bytes without their sum: for a super-frame, whose checksum the backend's
     * cutter computes piece by piece (CHECKSUM_PARTIAL), so summing would be wasted. */
    void (*payload_copy)(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len,
                         uint8_t *pl);
    /* How long a segment of new data at seq may be: len, or less where the application
     * would rather it end (where one response ends and the next would lose its
     * precomputed sums). Asked for single segments only: a super-frame has no sum. */
    uint32_t (*seg_len)(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len);
    /* The bytes the application left unread after sent could not be kept (no pooled
     * buffer was free): TCP gave them back unacknowledged, and the peer sends them
     * again. The application forgets what it read of them (a partial request). */
    void (*unread)(struct tcp *e, struct tcb *c);
    /* The idle timer ran out: 1 if the application answered (wrote, closed), 0 for TCP
     * to close the connection itself. */
    int (*timeout)(struct tcp *e, struct tcb *c);
    /* The connection leaves the pool (closed, reset, timed out, into TIME-WAIT): the
     * application lets go of what it holds for it. */
    void (*gone)(struct tcp *e, struct tcb *c);
};

struct timer_wheel {
    uint32_t *slots;          /* head tcb index per slot, NONE32 when empty */
    uint32_t nslots;          /* power of two; one slot per millisecond */
    uint64_t tick_ms;         /* every slot before this has been visited */
};

/* The receive buffers (rxbuf.c): cap buffers of TCP_RCV_CAP bytes in one mapping whose
 * pages are touched only when a buffer is first used (those below bump have been; the
 * ones given back wait on a stack), and the ring of connections shown a closed window
 * for want of one, to be sent the window again when buffers come back. */
struct rx_pool {
    uint8_t  *mem;
    uint32_t *back;           /* buffer ids given back, nback of them */
    uint32_t cap, bump, nback;
    uint32_t reserve;         /* kept for connections already shown an open window */
    uint32_t *wait;           /* slots, a ring of max_conns, each at most once (PF_RX_WAIT) */
    uint32_t wait_head, wait_count;
    /* The connection whose unread bytes lie in the RX frame being processed, and where. */
    struct tcb *in_frame;
    const uint8_t *frame_data;
    /* Per buffer: the ranges held beyond a gap (tcp_reass.c), [start, end), newest
     * first, tcb.rcv.nooo of them. */
    uint32_t (*ooo)[SACK_MAX][2];
};

struct tw_entry;
struct tw_table {
    struct tw_entry *ent;     /* a ring, oldest at head */
    uint32_t *hash;
    uint32_t cap, mask, head, count;
    uint32_t live;            /* entries in the hash (count includes dead ones) */
    uint32_t fin_wait_2;      /* of those, in FIN-WAIT-2 */
};

/* The TCP layer's state; the engine holds it, and it holds the layer below. */
struct tcp {
    struct net net;
    const struct tcp_upcalls *up;
    /* Our ports (network order), by what a connection's lport names: HTTP's, HTTPS's
     * (0: none), and the port a reset for no connection answers from (tcp_send_rst). */
    uint16_t ports_be[3];
    uint8_t  listening;       /* segments to our ports are served (the engine has a table) */
    uint16_t mss_max;         /* our segments' payload limit (the template MSS) */
    struct tcb *conns;        /* the pool, cfg.max_conns slots */
    uint32_t *hash;           /* bucket heads, each 1 + a slot; 0 empty (conn.c) */
    uint32_t hash_mask;
    /* Free slots: those given back, linked through hnext, then every slot from
     * conn_bump on, never used (so never touched: conn.c); NONE32 when the pool is full. */
    uint32_t free_head;
    uint32_t conn_bump;
    uint32_t *incarnation;    /* per slot, bumped on every allocation: tokens */
    /* The transmit round (tcp_sched.c): a ring of the connections with something to
     * send, each at most once (TF_TXQ), served in turn. */
    uint32_t *txq;
    uint32_t txq_head, txq_count;
    uint32_t tx_budget;       /* data segments this pass may still queue */
    uint32_t tx_quota;        /* bytes the connection whose turn it is may still send */
    uint8_t  tx_stop;         /* TX_DONE, TX_MORE, TX_PACED, TX_BLOCKED: why output stopped */
    uint64_t tx_wake_us;      /* the earliest pacing time of a connection left waiting; 0 */
    uint32_t syn_recv;        /* connections in SYN-RECEIVED: the SYN backlog */
    uint32_t syn_recv_max;    /* the backlog's bound: syn_backlog, at most half the pool */
    /* The idle list: ESTABLISHED connections between requests with nothing to send, in
     * the order they last had something to do (conn.c: conn_idle_update, conn_evict). */
    uint32_t idle_head, idle_tail;
    /* Connections per peer address, when cfg.max_conns_per_ip limits them: open
     * addressing with linear probing, a slot empty when its count is 0. */
    struct ip_count { struct ip_addr addr; uint32_t n; } *per_ip;
    uint32_t per_ip_mask;
    struct timer_wheel wheel;
    struct tw_table tw;
    struct rx_pool rx;
    struct slab flights;      /* struct tcb_flight, max_conns of them (flight.c) */
    struct slab sbs;          /* struct tcb_sb, as many */
    uint64_t isn_secret[2];
};

static inline uint32_t tcb_index(const struct tcp *e, const struct tcb *c)
{
    return (uint32_t)(c - e->conns);
}

/* conn.c: the pool, the hash, the wheel and TIME-WAIT for cfg.max_conns connections,
 * and tcp_input registered with net/; e->net, ports_be and isn_secret set before. */
int  tcp_init(struct tcp *e, const struct tcp_upcalls *up);
void tcp_free(struct tcp *e);
/* Which of our ports port_be is (TCP_PORT_HTTP or TCP_PORT_TLS), or -1: not ours. */
static inline int tcp_port_of(const struct tcp *e, uint16_t port_be)
{
    if (port_be == e->ports_be[TCP_PORT_HTTP])
        return TCP_PORT_HTTP;
    if (e->ports_be[TCP_PORT_TLS] && port_be == e->ports_be[TCP_PORT_TLS])
        return TCP_PORT_TLS;
    return -1;
}

/* The application's side of a connection (tcp_in.c, tcp_reass.c). */
/* The stream goes on to `end` (never back; nothing after tcp_close). */
static inline void tcp_write_stream(struct tcb *c, uint32_t end)
{
    SSDK_ASSERT(!(c->flags & TF_FIN_QUEUED) && seq_le(c->snd.end, end));
    c->snd.end = end;
}
/* Close (RFC 9293 3.10.4): nothing more is read, the FIN follows what was written. */
void tcp_close(struct tcp *e, struct tcb *c);
/* The bytes the application has not taken (c->rcv.len of them): in the RX frame while
 * the segment that brought them is processed, else in the connection's pooled buffer. */
const uint8_t *tcp_rcv_data(const struct tcp *e, const struct tcb *c);
/* The application took the first n of them; the window opens by as much. */
void tcp_recved(struct tcp *e, struct tcb *c, uint32_t n);
/* Forget the bytes held beyond a gap (the peer sends them again), or every byte. */
void tcp_rcv_drop_held(struct tcp *e, struct tcb *c);
void tcp_rcv_discard(struct tcp *e, struct tcb *c);
/* Whether the application takes what comes as it comes (TF_RCV_DIRECT). */
static inline void tcp_rcv_direct(struct tcb *c, int on)
{
    c->flags = (uint8_t)(on ? c->flags | TF_RCV_DIRECT : c->flags & ~TF_RCV_DIRECT);
}
/* The application holds nothing for the connection (no request in part or waiting for
 * its answer, no response queued): between requests, it may be evicted when it is
 * idle on TCP's side too and the pool is full (conn.c). */
static inline void tcp_set_app_idle(struct tcb *c, int idle)
{
    c->pool = (uint8_t)(idle ? c->pool | PF_APP_IDLE : c->pool & ~PF_APP_IDLE);
}
/* The application's own deadline for an idle connection (0: none): its idle timer runs
 * out then, if before the idle timeout, and up->timeout decides. */
static inline void tcp_set_app_deadline(struct tcb *c, uint64_t at_ms)
{
    c->timer.app_ms = at_ms;
}

/* tcp_sched.c: what the windows allow goes in this pass's transmit round. Returns 1 if
 * the connection waits there for its turn (which then carries any ACK it owes). */
int  tcp_output(struct tcp *e, struct tcb *c);
/* The ACK a segment wanted, if nothing has carried it yet (TCP_ACK_LATER). */
void tcp_ack_flush(struct tcp *e, struct tcb *c);
/* The transmit round, once per pass after input, timers and the application: each
 * connection in turn, a quantum at a time, as pacing and the TX ring allow. */
void tcp_tx_run(struct tcp *e);
/* Whether connections wait in the transmit round, and (their earliest pacing time, 0
 * when one may go now) when the loop should come back for them. */
static inline int tcp_tx_waiting(const struct tcp *e) { return e->txq_count != 0; }

/* rxbuf.c: once per pass, the window sent again to connections that were shown it
 * closed for want of a receive buffer, as far as buffers came back. */
void rxbuf_wake(struct tcp *e);
static inline int rxbuf_waiting(const struct tcp *e) { return e->rx.wait_count != 0; }

/* tcp_timer.c, timewait.c: once per pass. */
void timer_run(struct tcp *e);
uint64_t timer_next_ms(const struct tcp *e);
void tw_run(struct tcp *e);
uint32_t tw_live(const struct tcp *e);

/* conn.c: the connection of a peer (raddr, rport) on our address laddr, for checks
 * (the fuzzers) and for tcp_in.c. */
struct tcb *conn_lookup(struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                        uint8_t laddr, uint8_t lport);

#endif
