/*
 * engine.h - the engine's private state, shared by the stack's files.
 *
 * One engine owns one NIC queue, one connection pool and one route table; nothing in it
 * is shared with another engine, so nothing here takes a lock. The pool is allocated
 * once at start; the fast path never allocates.
 */
#ifndef SSDK_ENGINE_H
#define SSDK_ENGINE_H
#include <stdint.h>
#include <stddef.h>
#include "ssdk.h"
#include "base/check.h"
#include "http/http_parse.h"
#include "nic/nic.h"
#include "base/proto.h"
#include "table/table.h"
#include "tcp/tcp_state.h"

#define NONE32 0xffffffffu
#define REQ_CAP 4096          /* request bytes buffered per connection: also our window */
#define RX_BURST 64
#define RX_PASS_MAX 1024
#define SACK_MAX 4            /* blocks read from a segment, and ranges kept per side */
/* Data segments one loop pass may queue. A veth or NIC peer takes a burst into a
 * backlog of its own (1000 frames on Linux by default); a pass that queued the whole TX
 * ring at once would overflow it, and fairness between connections would suffer. */
#define TX_PASS_BUDGET 256
/* c->resp when the response is not a table's: the application's answer (dynamic.c),
 * or none yet while the application works on the request. */
#define RESP_DYN  0xfffffffeu
#define RESP_WAIT 0xfffffffdu

/* A request on its way to the application, and the response it gave (dynamic.c). */
struct dyn_in {
    uint32_t route, head_len, body_len, got;
    uint32_t cap;             /* body bytes data[] has room for */
    uint32_t max_body;
    uint32_t chunk_left;      /* chunked: data bytes left in the current chunk */
    uint8_t  keep, is_head;
    uint8_t  chunked;         /* 1 while a chunked body is being decoded (dynamic.c) */
    uint8_t  queued;          /* whole, and in this pass's batch for the application */
    uint8_t  cstate, digits;  /* the chunk decoder's state (CS_*) and size digits */
    uint8_t  data[];          /* the header block, then the body */
};
struct dyn_out {
    uint32_t len, date_off, conn_off;
    uint8_t  data[];
};
struct dyn_route;

/* Tables alive at once: the current one and those that responses still in flight were
 * started from (hot swap, table.c). */
#define GEN_MAX 8

/* One connection: fixed size, lives in the pool. */
struct conn {
    uint32_t hnext;           /* hash chain, or free list */
    uint32_t tprev, tnext;    /* timer wheel slot list */
    uint8_t  state;           /* enum tcp_state */
    uint8_t  flags;           /* CF_* */
    uint8_t  snd_wscale;      /* peer's window shift (RFC 7323) */
    uint8_t  opts;            /* CO_*: what the handshake settled */
    uint8_t  nsacked, nooo;   /* ranges in sacked[] and ooo[] */
    uint8_t  dupacks;
    uint8_t  retries;         /* RTO expiries since the last forward progress */
    uint8_t  tkind;           /* what the one timer of this connection is for: TK_* */
    uint8_t  gen;             /* the table slot the current response comes from */
    uint8_t  rmac[6];
    uint32_t raddr;           /* network order */
    uint16_t rport;           /* network order */
    uint16_t mss;             /* payload bytes per segment we send */

    uint32_t iss, snd_una, snd_nxt, snd_max;
    uint32_t snd_wnd;         /* peer's window, scaled */
    uint32_t max_snd_wnd;     /* the largest it has been (RFC 5961 5.2) */
    uint32_t cwnd, ssthresh;
    uint32_t irs, rcv_nxt;
    uint32_t ts_recent;       /* RFC 7323 4.3: the peer's timestamp we echo (and PAWS) */
    uint32_t last_ack_sent;

    /* Loss recovery (tcp_sack.c): what the peer holds above SND.UNA, and the holes. */
    uint32_t sacked[SACK_MAX][2];   /* [start, end), disjoint, ascending */
    uint32_t recover;         /* RFC 6582: SND.MAX when recovery began */
    uint32_t prev_una;        /* SND.UNA before the last ACK that moved it (RFC 6582 4.2) */
    uint32_t rtx_hi;          /* holes below this were sent again in this recovery */
    uint32_t lost_hi;         /* unSACKed bytes below this are taken as lost */
    uint8_t  in_recovery;
    uint8_t  ts_adj;          /* added to our TSval: a cookie's low bits, then past them */
    uint8_t  tlp_sent;        /* a tail loss probe went out for this flight (RFC 8985 7) */
    uint8_t  lt_sent;         /* segments limited transmit sent beyond cwnd (RFC 3042) */
    uint64_t rtx_us;          /* 1 + when the segment at SND.UNA was last sent again; 0: not */
    uint32_t rtx_snd_max;     /* SND.MAX at that moment: what was sent after it is above */
    uint64_t last_send_us;    /* for the restart window after idle (RFC 5681 4.1) */

    /* Request bytes received beyond a gap, held in req[] at their place. */
    uint32_t ooo[SACK_MAX][2];      /* [start, end), newest first */

    /* CUBIC (RFC 9438), in segments and microseconds. */
    double   w_max, w_est, k_s;
    uint64_t epoch_us;        /* 0: no epoch started since the last congestion event */

    /* The response being sent: bytes [resp_seq, resp_end) of our stream, which are its
     * whole stream, or only its header block (an error answering HEAD). */
    uint32_t resp;            /* response index, or NONE32 */
    uint32_t resp_seq;
    uint32_t resp_end;
    uint32_t fin_seq;         /* sequence number of our FIN, when CF_FIN_QUEUED */
    uint32_t rng_first;       /* a 206 (RESP_RANGE): the body bytes [rng_first, +rng_len) */
    uint32_t rng_len;         /*   of its 200 follow the template's header block */
    uint32_t next_resp;       /* the final response behind a 100 Continue, when HC_NEXT */
    uint8_t  next_gen;        /* ...and the table slot it comes from, held meanwhile */
    struct dyn_in *dyn_in;    /* a request for the application, until it answers */
    struct dyn_out *dyn_out;  /* its answer, until acknowledged (c->resp == RESP_DYN) */
    uint8_t  hflags;          /* HC_* */

    /* RFC 6298 state, in microseconds. */
    uint32_t srtt_us, rttvar_us, rto_ms;
    uint32_t rtt_seq;         /* segment being timed (Karn: never a retransmitted one) */
    uint64_t rtt_start_us;
    uint64_t timer_at_ms;     /* 0: no timer */

    uint64_t date_sec;        /* the second the current response started in */
    uint64_t req_since_ms;    /* when the first byte of a pending request came; 0: none */
    uint32_t body_skip;       /* request body bytes still to discard */
    struct http_parse hp;     /* how far the request in req[] has been read (http_parse.c) */
    uint16_t req_len;
    uint8_t  req[REQ_CAP];
};

#define CF_TIMING     0x01   /* rtt_seq is being timed */
#define CF_CLOSE      0x02   /* close after the current response */
#define CF_FIN_QUEUED 0x04   /* our FIN has a sequence number */
#define CF_PEER_FIN   0x08   /* the peer's FIN has been received */
#define CF_PENDING    0x10   /* on the pending-output list */
#define CF_CLOSE_TOKEN 0x20  /* the current response says Connection: close */
#define CF_ACK_OWED   0x40   /* a request went to the application this pass: its answer
                                carries the ACK, or dyn_flush sends one */

#define HC_NEXT       0x01   /* next_resp starts once the 100 Continue is acknowledged */
#define HC_NEXT_HEAD  0x02   /* ... and answers HEAD: its header block only */

#define CO_WSCALE 0x01        /* the peer offered window scaling: we answer with ours */
#define CO_TS     0x02        /* timestamps on every segment (RFC 7323 3) */
#define CO_SACK   0x04        /* the peer may send, and is sent, SACK blocks (RFC 2018) */

struct tcp_opts {
    uint8_t  has_mss, has_ws, sack_ok, has_ts, nsack, ws;
    uint16_t mss;
    uint32_t tsval, tsecr;
    uint32_t sack[SACK_MAX][2];
};

struct timer_wheel {
    uint32_t *slots;          /* head conn index per slot, NONE32 when empty */
    uint32_t nslots;          /* power of two; one slot per millisecond */
    uint64_t tick_ms;         /* every slot before this has been visited */
};

struct tw_entry;
struct tw_table {
    struct tw_entry *ent;     /* a ring, oldest at head */
    uint32_t *hash;
    uint32_t cap, mask, head, count;
};

struct ssdk_engine {
    struct ssdk_config cfg;
    uint32_t ip_be;
    uint16_t port_be;
    uint8_t  mac[6];
    struct nic *nic;
    struct table tables[GEN_MAX];
    uint32_t gen_refs[GEN_MAX];   /* responses in flight from each table */
    uint64_t gen_id[GEN_MAX];     /* publication number of each slot; 0: slot free */
    uint64_t gen_next;            /* the number the next published table gets */
    uint8_t  cur;                 /* the slot new responses come from */
    struct conn *scratch;         /* ssdk_http_answer's parser state, made on first use */
    struct dyn_route *dyn_routes; /* paths the application answers itself (dynamic.c) */
    uint32_t ndyn;
    ssdk_request_fn dyn_fn;
    void *dyn_ctx;
    uint32_t *dyn_batch;          /* connections whose request became ready this pass */
    uint32_t ndyn_batch;
    struct ssdk_request *dyn_reqs;
    uint32_t *incarnation;        /* per slot, bumped on every allocation: tokens */
    int table_loaded;

    struct conn *conns;
    uint32_t *hash;           /* bucket heads */
    uint32_t hash_mask;
    uint32_t free_head;

    uint32_t *pending;        /* connections with output blocked by a full TX ring */
    uint32_t syn_recv;        /* connections in SYN-RECEIVED: the SYN backlog */
    uint32_t npending;
    uint32_t tx_budget;       /* data segments this pass may still queue */

    struct timer_wheel wheel;
    struct tw_table tw;
    uint64_t now_us;
    uint64_t date_sec;        /* the second e->date was rendered for */
    int date_valid;
    uint8_t date[DATE_LEN];
    uint64_t isn_secret[2];
    uint16_t ip_id;
    struct ssdk_stats *st;    /* st_own, or shared memory given by ssdk_stats_share */
    struct ssdk_stats st_own;
};

static inline uint64_t now_ms(const struct ssdk_engine *e) { return e->now_us / 1000; }

/* The table new requests are answered from. */
static inline const struct table *cur_table(const struct ssdk_engine *e)
{
    return &e->tables[e->cur];
}

/* The table c's current response comes from (valid while c->resp != NONE32). */
static inline const struct table *conn_table(const struct ssdk_engine *e,
                                             const struct conn *c)
{
    return &e->tables[c->gen];
}

/* A 64-bit finalizer (splitmix64's): every input bit moves every output bit. Keyed with
 * the engine's secret it spreads the connection hash and makes ISNs and SYN cookies
 * unguessable from outside. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Sequence-number comparisons modulo 2^32 (RFC 9293 section 3.4). */
static inline int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline int seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/* RFC 9293 3.4: SND.UNA =< SND.NXT =< SND.MAX (modulo 2^32; SND.NXT goes back to SND.UNA
 * for a retransmission, SND.MAX never does), the FIN, once queued, at or past SND.UNA's
 * side of the stream, and the receive window what req[] has left (tcp_reass.c). */
static inline void conn_check_seq(const struct conn *c)
{
    SSDK_ASSERT(seq_le(c->snd_una, c->snd_nxt));
    SSDK_ASSERT(seq_le(c->snd_nxt, c->snd_max));
    SSDK_ASSERT(c->req_len <= REQ_CAP);
    SSDK_ASSERT(c->nsacked <= SACK_MAX && c->nooo <= SACK_MAX);
}

/* The one way a connection's state changes (tcp_state.h): a move the table allows. */
static inline void conn_set_state(struct conn *c, enum tcp_state to)
{
    SSDK_ASSERT(to != TCP_NONE && tcp_move_ok((enum tcp_state)c->state, to));
    c->state = (uint8_t)to;
}

/* eth.c / arp.c / ip.c / icmp.c */
void eth_input(struct ssdk_engine *e, struct frame *f);
void arp_input(struct ssdk_engine *e, const struct eth_hdr *eh, const uint8_t *p, uint32_t len);
void ip_input(struct ssdk_engine *e, const struct eth_hdr *eh, uint8_t *p, uint32_t len,
              uint32_t fflags);
void icmp_input(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                const uint8_t *p, uint32_t len);
/* Write Ethernet + IPv4 headers in front of an L4 payload of l4len bytes. */
void ip_output_hdr(struct ssdk_engine *e, uint8_t *frame, const uint8_t dst_mac[6],
                   uint32_t dst_be, uint8_t proto, uint16_t l4len);

/* conn.c */
struct conn *conn_lookup(struct ssdk_engine *e, uint32_t raddr, uint16_t rport);
struct conn *conn_alloc(struct ssdk_engine *e, uint32_t raddr, uint16_t rport);
void conn_free(struct ssdk_engine *e, struct conn *c);
static inline uint32_t conn_index(const struct ssdk_engine *e, const struct conn *c)
{
    return (uint32_t)(c - e->conns);
}
uint32_t isn_make(struct ssdk_engine *e, uint32_t raddr, uint16_t rport);

/* A received segment, as tcp_in.c and syncookie.c read it. */
struct seg {
    const struct tcp_hdr *th;
    uint32_t seq, ack, wnd, len;  /* len: payload bytes */
    uint8_t flags;
    uint8_t *data;
    struct tcp_opts opt;
};

/* syncookie.c */
uint32_t syncookie_isn(const struct ssdk_engine *e, uint32_t raddr, uint16_t rport,
                       uint32_t irs, const struct tcp_opts *o);
uint32_t syncookie_ts_bits(const struct tcp_opts *o, int sack_ok);
int syncookie_check(const struct ssdk_engine *e, uint32_t raddr, uint16_t rport,
                    uint32_t seq, uint32_t ack, const struct tcp_opts *ackopt,
                    struct tcp_opts *syn);

/* timewait.c */
int  tw_init(struct ssdk_engine *e, uint32_t cap);
void tw_free(struct ssdk_engine *e);
struct tw_entry *tw_lookup(struct ssdk_engine *e, uint32_t raddr, uint16_t rport);
void tw_enter(struct ssdk_engine *e, struct conn *c);
int  tw_input(struct ssdk_engine *e, struct tw_entry *w, const struct seg *s);
void tw_run(struct ssdk_engine *e);
uint32_t tw_live(const struct ssdk_engine *e);

/* tcp_opt.c */
void tcp_opts_parse(const uint8_t *o, uint32_t n, struct tcp_opts *out);
uint32_t tcp_opts_write(const struct ssdk_engine *e, const struct conn *c, uint8_t *o,
                        uint8_t flags, int pure_ack);
uint32_t ts_now(const struct ssdk_engine *e, const struct conn *c);

/* The receive window is what the request buffer has left (tcp_reass.c). */
static inline uint32_t rcv_wnd(const struct conn *c)
{
    SSDK_ASSERT(c->req_len <= REQ_CAP);
    return REQ_CAP - c->req_len;
}

/* The peer's window, and the largest it has been (RFC 5961 5.2). */
static inline void set_snd_wnd(struct conn *c, uint32_t wnd)
{
    c->snd_wnd = wnd;
    if (wnd > c->max_snd_wnd)
        c->max_snd_wnd = wnd;
}

/* tcp_listen.c */
void tcp_listen(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                struct seg *s);

/* tcp_reass.c */
void tcp_data_in(struct ssdk_engine *e, struct conn *c, struct seg *s);
void tcp_fin_in(struct conn *c, const struct seg *s);

/* tcp_in.c */
void tcp_segment(struct ssdk_engine *e, struct conn *c, struct seg *s);
void tcp_input(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
               uint8_t *p, uint32_t len, uint32_t fflags);

void conn_queue_fin(struct ssdk_engine *e, struct conn *c, uint32_t at);

/* tcp_out.c */
void tcp_output(struct ssdk_engine *e, struct conn *c);
int  tcp_send_ctl(struct ssdk_engine *e, struct conn *c, uint8_t flags, uint32_t seq);
void tcp_send_rst(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                  const struct tcp_hdr *th, uint32_t seglen);
void tcp_pending_run(struct ssdk_engine *e);
void tcp_probe(struct ssdk_engine *e, struct conn *c);
void tcp_tail_probe(struct ssdk_engine *e, struct conn *c);
int  tcp_can_send_new(const struct conn *c);
void tcp_retransmit(struct ssdk_engine *e, struct conn *c);
int  tcp_resend(struct ssdk_engine *e, struct conn *c, uint32_t seq, uint32_t len);

/* tcp_cc.c */
void cc_init(struct ssdk_engine *e, struct conn *c);
void cc_on_ack(struct ssdk_engine *e, struct conn *c, uint32_t acked);
void cc_on_loss(struct ssdk_engine *e, struct conn *c);
void cc_on_rto(struct ssdk_engine *e, struct conn *c);
void cc_after_idle(struct ssdk_engine *e, struct conn *c);

/* tcp_sack.c */
void sack_trim(struct conn *c);
uint32_t sack_update(struct conn *c, const struct tcp_opts *o);
int  sack_is_lost(const struct conn *c);
uint32_t recovery_pipe(const struct conn *c);
int  recovery_next(const struct conn *c, uint32_t *seq, uint32_t *len);
void recovery_enter(struct ssdk_engine *e, struct conn *c);
void recovery_on_ack(struct ssdk_engine *e, struct conn *c, uint32_t acked);
void recovery_sent(struct ssdk_engine *e, struct conn *c, uint32_t seq, uint32_t len);

/* tcp_timer.c */
int  timer_init(struct ssdk_engine *e);
enum { TK_NONE, TK_RTO, TK_IDLE, TK_PTO };
void timer_set(struct ssdk_engine *e, struct conn *c, uint64_t at_ms);
void timer_after_output(struct ssdk_engine *e, struct conn *c);
void timer_stop(struct ssdk_engine *e, struct conn *c);
void timer_run(struct ssdk_engine *e);
uint64_t timer_next_ms(const struct ssdk_engine *e);
void rtt_sample(struct ssdk_engine *e, struct conn *c, uint64_t rtt_us);
void rto_arm(struct ssdk_engine *e, struct conn *c);
void loss_timer_arm(struct ssdk_engine *e, struct conn *c);

/* date.c */
void date_render(uint64_t unix_sec, uint8_t out[DATE_LEN]);
void date_tick(struct ssdk_engine *e);
const uint8_t *date_for(const struct ssdk_engine *e, uint64_t sec, uint8_t buf[DATE_LEN]);

/* dynamic.c */
const struct dyn_route *dyn_match(const struct ssdk_engine *e, const uint8_t *key,
                                  size_t len);
uint32_t dyn_max_body(const struct dyn_route *r);
int  dyn_start(struct ssdk_engine *e, struct conn *c, const struct dyn_route *r, int keep,
               int head);
void dyn_body(struct ssdk_engine *e, struct conn *c, const uint8_t *p, uint32_t n);
uint32_t dyn_chunked(struct ssdk_engine *e, struct conn *c, const uint8_t *p, uint32_t n);
void http_refuse(struct ssdk_engine *e, struct conn *c, uint8_t sp);
void dyn_ready(struct ssdk_engine *e, struct conn *c);
void dyn_flush(struct ssdk_engine *e);
void dyn_drop(struct conn *c);
/* http.c: the counters of a response's status. */
void http_count_status(struct ssdk_engine *e, uint16_t status);

/* Whether c has a response with bytes to send (not merely waiting for the app). */
static inline int resp_sending(const struct conn *c)
{
    return c->resp != NONE32 && c->resp != RESP_WAIT;
}

/* table.c: c takes (or gives back) its hold on the table of its response. */
void resp_hold(struct ssdk_engine *e, struct conn *c, uint32_t idx);
void resp_release(struct ssdk_engine *e, struct conn *c);
/* A hold on the current table for a response chosen now and started later; resp_take
 * starts it on c with that hold (no new one), conn_free drops it if it never starts. */
uint8_t gen_hold(struct ssdk_engine *e);
void resp_take(struct conn *c, uint32_t idx, uint8_t gen);

/* variant.c: the response of a route for a GET or HEAD request; for a 206 template,
 * the part of the body it sends. */
struct range_pick {
    uint32_t first, len;
};
uint32_t variant_choose(struct ssdk_engine *e, const struct http_parse *p,
                        const struct table *t, const struct ssdk_route_slot *s,
                        struct range_pick *rg);

/* http_range.c: how many bytes a response sends (its header block alone for HEAD, a
 * 206's header block and part), and a 206's bytes [off, off+len) into pl. */
uint32_t resp_span(const struct ssdk_resp *r, const struct conn *c, int head);
void range_fill(const struct table *t, const struct ssdk_resp *r, const struct conn *c,
                uint8_t *pl, uint64_t off, uint32_t len);

/* http.c: parse what is buffered and start a response; returns 1 if one started. */
int  http_serve(struct ssdk_engine *e, struct conn *c);
int  http_request_timeout(struct ssdk_engine *e, struct conn *c);

#endif
