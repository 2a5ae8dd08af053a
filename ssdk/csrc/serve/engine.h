/*
 * engine.h - the engine (serve/): HTTP served over the TCP layer from the bundle's
 * tables and from the application's dynamic routes. Private to serve/; the engine's
 * public face is ssdk.h.
 *
 * serve/loop.c -> eth_input (net/) ... tcp_input (tcp/) -> the upcalls below (serve.c):
 *   up->recv    -> on_recv    a request body as it comes: hp_body_run (http/) -> dyn_in
 *                             (the waiting response's request: dyn_conn.c)
 *   up->sent    -> on_sent    resp_retire (resp.c), then http_serve: the next request
 *   up->payload -> on_payload the bytes of the responses a segment covers (resp.c)
 *   up->payload_copy -> on_payload_copy the same for a super-frame, without a sum
 *   up->timeout -> on_timeout the 408 for a request that never completes
 *   up->gone    -> on_gone    what the connection held: tables, buffers
 *
 * One engine owns one NIC queue, one connection pool and one route table; nothing in it
 * is shared with another engine, so nothing here takes a lock. The pool is allocated
 * once at start; the fast path never allocates (but for a dynamic route's request).
 * Each TCP control block (tcp/tcp.h: struct tcb) has an HTTP connection at the same
 * index of e->hconns, 12 bytes: what it holds only while in use (its responses in
 * flight, a request read in part) are entries of two pools, allocated once for every
 * slot but touched only as used (base/slab.h).
 */
#ifndef SSDK_ENGINE_H
#define SSDK_ENGINE_H
#include <stddef.h>
#include <stdint.h>
#include "ssdk.h"
#include "base/check.h"
#include "base/slab.h"
#include "http/http_parse.h"
#include "nic/nic.h"
#include "table/table.h"
#include "tcp/tcp.h"

#define RX_BURST 64
#define RX_PASS_MAX 1024

/* A request on its way to the application (dynamic.c), and the response it gave
 * (dyn_conn.c). One allocation: where its parts are (fields[]: made by the parser,
 * hp_run_fields), then the header block's bytes, then the body as it arrives. */
struct dyn_in {
    uint32_t route, head_len, body_len, got;
    uint32_t cap;             /* body bytes there is room for after the head */
    uint32_t max_body;
    uint16_t method_len, target_off, target_len, nfields;
    uint8_t  keep, is_head;
    uint8_t  queued;          /* whole, and in this pass's batch for the application */
    struct ssdk_field fields[];  /* nfields of them; then head_len bytes, then the body */
};
static inline uint8_t *dyn_head(struct dyn_in *in)
{
    return (uint8_t *)(in->fields + in->nfields);
}
struct dyn_out {
    uint32_t len, date_off, conn_off;
    uint8_t  data[];
};
struct dyn_route;

/* variant.c: the part of a 206's body it sends. */
struct range_pick {
    uint32_t first, len;
};

/*
 * What a request the parser finished is answered with (decide.c: http_decide), for
 * both transports: the stack's connections (serve.c) and kernel sockets (answer.c).
 * Each does only what its transport needs with it.
 */
enum decision_kind {
    D_TABLE,                  /* response idx of the current table */
    D_APP,                    /* the application, through dynamic route `route` */
    D_REFUSE,                 /* special response idx, and the connection closes */
};
enum body_framing { BF_NONE, BF_LENGTH, BF_CHUNKED };
struct http_decision {
    uint8_t  kind;            /* enum decision_kind */
    uint8_t  keep;            /* the connection stays open after the answer */
    uint8_t  head;            /* HEAD: a table's response without its body */
    uint8_t  why;             /* enum hp_why, for the counters */
    uint8_t  body;            /* enum body_framing: what follows the head, to read */
    uint8_t  cont;            /* a 100 Continue is due, if no body byte came yet */
    uint32_t idx;             /* D_TABLE, D_REFUSE: the response (D_APP: the 404) */
    uint32_t length;          /* BF_LENGTH: the body's bytes */
    struct range_pick rg;     /* D_TABLE, a 206: the part of its 200's body */
    const struct dyn_route *route;  /* D_APP */
};

/* Tables alive at once: the current one and those that responses still in flight were
 * started from (hot swap, gen.c). */
#define GEN_MAX 8


/*
 * A response in flight: what the bytes [seq, end) of the connection's stream are. It
 * stays until the peer acknowledges its last byte, since a retransmission rebuilds its
 * bytes from it (resp.c: resp_fill).
 */
enum resp_kind {
    RK_NONE,                  /* an unused entry */
    RK_TABLE,                 /* response idx of the table in slot gen, held (resp_hold) */
    RK_DYN,                   /* the application's answer, a copy owned here (out) */
    RK_WAIT,                  /* none yet: the request is read (in), then with the
                                 application (in NULL) until it answers; empty */
};
/* What only some kinds use shares its place (unions), so that an entry stays 40 bytes
 * with its link: the queue is walked for every segment sent. Entries come from the
 * engine's pool (e->resps, base/slab.h) while queued; a connection's are linked oldest first
 * through next, from hconn.rq_head. */
struct resp {
    uint8_t  kind;            /* enum resp_kind */
    uint8_t  gen;             /* RK_TABLE: the table slot it comes from */
    uint8_t  close_token;     /* its Connection value is sent as "close" */
    uint8_t  keep;            /* RK_WAIT: the request lets the connection stay open */
    union {
        uint32_t idx;         /* RK_TABLE: its index in that table */
        uint16_t serial;      /* RK_WAIT: its number on the connection (in its token) */
    };
    union {
        struct range_pick rng;  /* RK_TABLE, a 206 (RESP_RANGE): the part of its 200's
                                   body */
        struct dyn_out *out;  /* RK_DYN */
        struct dyn_in *in;    /* RK_WAIT: the request, owned here until handed up */
    };
    uint32_t seq, end;        /* the stream bytes it occupies */
    uint64_t date_sec;        /* the second it started in: its Date, sent again alike */
    uint32_t next;            /* the connection's next response, NONE32 after the last;
                                 in the pool's free list, the next free entry */
};

/* Responses a connection may have in flight (the pipelining depth): each one's range
 * follows the last's, so a segment may end one and begin the next. Requests behind them
 * wait unparsed in a pooled receive buffer, whose room is the window: it closes as they
 * pile up.
 * Any of them may wait for the application (RK_WAIT, no bytes yet), each with its own
 * token; TCP's stream stops at the first one, and the responses queued behind it are
 * placed (their seq) as the answers before them come, in whatever order. */
#define RESPQ_MAX 4

/* The connection pool's largest size: a token (dyn_conn.c) holds the slot in 24 bits. */
#define CONNS_MAX (1u << 24)

/*
 * What a connection keeps of a request it has not finished reading: a header block in
 * part (the parser's state, from the clock of its first byte), a body being read (for
 * the application or to be dropped, the clock of its last byte), or a 100 Continue
 * whose answer waits (HC_NEXT). A block of the engine's pool (e->reqs, base/slab.h), taken
 * when one of these begins (req_hold) and given back when none holds any more
 * (req_settle), so a request that arrives whole is parsed in a state of its own on the
 * stack and a connection between requests keeps none.
 */
struct hreq {
    struct http_parse hp;     /* how far the request in TCP's unread bytes (tcp_rcv_data)
                                 has been read */
    struct hp_body body;      /* a request body being read (for the application: the
                                 last response's, an RK_WAIT's; or to be dropped) */
    uint64_t since_ms;        /* when the first byte of a pending request came, or while
                                 a body is read, its last byte; 0: none */
    struct range_pick rng;    /* HC_NEXT: the part of the answer behind the 100, a 206 */
    uint32_t next_resp;       /* HC_NEXT: that answer */
    uint8_t  next_gen;        /* HC_NEXT: the table slot it comes from (held) */
    uint32_t link;            /* in use: the slot that holds it; free: the next free */
};

/*
 * One connection's HTTP side, at its control block's index (e->hconns): only what it
 * keeps between requests, so that a million idle connections cost 12 bytes each here.
 * Its responses in flight and its request in part are entries of the engine's pools,
 * named by index. All zero is a connection that has read nothing and sends nothing.
 */
struct hconn {
    uint32_t rq_head;         /* its oldest response in flight (e->resps), when nresp */
    uint32_t req;             /* 1 + its request block (e->reqs); 0: none */
    uint16_t serial;          /* the number the next request for the application gets */
    uint8_t  nresp;           /* responses in flight, up to RESPQ_MAX */
    uint8_t  hflags;          /* HC_* */
};

#define HC_NEXT       0x01   /* the request block's next_resp starts once the 100 Continue
                                is acknowledged */
#define HC_NEXT_HEAD  0x02   /* ... and answers HEAD: its header block only */
#define HC_LAST       0x04   /* the queue's last response closes: nothing more is parsed */


struct ssdk_engine {
    struct tcp tcp;               /* the layers below: tcp.net is the network layer */
    struct hconn *hconns;         /* one per control block, at the same index */
    struct slab resp_slab;        /* responses in flight: max_conns * RESPQ_MAX */
    struct resp *resps;           /* ...its entries */
    struct slab req_slab;         /* requests in part: one per connection at most */
    struct hreq *reqs;            /* ...its entries */
    struct table tables[GEN_MAX];
    uint32_t gen_refs[GEN_MAX];   /* responses in flight from each table */
    uint64_t gen_id[GEN_MAX];     /* publication number of each slot; 0: slot free */
    uint64_t gen_next;            /* the number the next published table gets */
    uint8_t  cur;                 /* the slot new responses come from */
    int table_loaded;
    struct http_scratch *scratch; /* the kernel-socket path's state (answer.c), made on
                                     first use */
    struct dyn_route *dyn_routes; /* paths the application answers itself (dynamic.c) */
    uint32_t ndyn;
    ssdk_request_fn dyn_fn;
    void *dyn_ctx;
    uint64_t *dyn_batch;          /* tokens of the requests made ready this pass: up to
                                     max_conns * RESPQ_MAX, one per waiting response */
    uint32_t ndyn_batch;
    struct ssdk_request *dyn_reqs;  /* one call's records (DYN_CALL_MAX) */
    struct dyn_in **dyn_handed;   /* ...and the requests they point into, freed after it */
    uint64_t date_sec;            /* the second e->date was rendered for */
    int date_valid;
    uint8_t date[DATE_LEN];
    struct tls_server *tls_srv;   /* the handshakes of cfg.tls_port (https.c); not owned */
    struct tls_link *tls_links;   /* one per control block, at the same index, when
                                     cfg.tls_port is set (https.c) */
    struct slab tls_buf_slab;     /* client records and their plaintext in part */
    struct tls_buf *tls_bufs;     /* ...its entries */
    uint32_t tls_hs_live;         /* handshakes holding a GnuTLS session */
    struct ssdk_stats st_own;
};

static inline struct ssdk_engine *engine_of(struct tcp *t)
{
    return (struct ssdk_engine *)((char *)t - offsetof(struct ssdk_engine, tcp));
}

static inline struct hconn *hconn_of(struct ssdk_engine *e, const struct tcb *c)
{
    return &e->hconns[tcb_index(&e->tcp, c)];
}

static inline struct ssdk_stats *stats(struct ssdk_engine *e) { return e->tcp.net.st; }
/* The clock for hreq.since_ms, where 0 means none: never 0 (a virtual clock starts
 * there). */
static inline uint64_t req_clock(struct ssdk_engine *e)
{
    return now_ms(&e->tcp.net) ? now_ms(&e->tcp.net) : 1;
}

/* The table new requests are answered from. */
static inline const struct table *cur_table(const struct ssdk_engine *e)
{
    return &e->tables[e->cur];
}

/* A connection's responses in flight, oldest first: the first, the one after q
 * (NULL after the last), the i-th (resp.c keeps them: resp_push ... resp_retire). */
static inline struct resp *resp_first(const struct ssdk_engine *e, const struct hconn *h)
{
    return h->nresp ? &e->resps[h->rq_head] : NULL;
}
static inline struct resp *resp_next(const struct ssdk_engine *e, const struct resp *q)
{
    return q->next != NONE32 ? &e->resps[q->next] : NULL;
}
static inline struct resp *resp_at(const struct ssdk_engine *e, const struct hconn *h,
                                   uint8_t i)
{
    SSDK_ASSERT(i < h->nresp);
    struct resp *q = resp_first(e, h);
    while (i--)
        q = resp_next(e, q);
    return q;
}
static inline struct resp *resp_last(const struct ssdk_engine *e, const struct hconn *h)
{
    return h->nresp ? resp_at(e, h, (uint8_t)(h->nresp - 1)) : NULL;
}

/* The request a connection has in part (struct hreq), or NULL. */
static inline struct hreq *req_of(const struct ssdk_engine *e, const struct hconn *h)
{
    return h->req ? &e->reqs[h->req - 1] : NULL;
}
/* Whether a request body is being read, and the request clock (hreq.since_ms). */
static inline int req_body_on(const struct ssdk_engine *e, const struct hconn *h)
{
    const struct hreq *r = req_of(e, h);
    return r && r->body.kind != HB_NONE;
}
static inline uint64_t req_since(const struct ssdk_engine *e, const struct hconn *h)
{
    const struct hreq *r = req_of(e, h);
    return r ? r->since_ms : 0;
}

/* The first response waiting for the application's answer (RK_WAIT), where TCP's
 * stream stops; -1 when none waits. */
static inline int resp_wait_at(const struct ssdk_engine *e, const struct hconn *h)
{
    const struct resp *q = resp_first(e, h);
    for (uint8_t i = 0; i < h->nresp; i++, q = resp_next(e, q))
        if (q->kind == RK_WAIT)
            return i;
    return -1;
}

/* The request whose body is being read for the application: the last response's (only
 * the last parsed request can be reading its body), or NULL. */
static inline struct resp *resp_reading(const struct ssdk_engine *e, const struct hconn *h)
{
    struct resp *q = resp_last(e, h);
    return q && q->kind == RK_WAIT && q->in && !q->in->queued && req_body_on(e, h) ? q
                                                                                   : NULL;
}

/* serve.c: the request block of a connection, taken if it has none; what is left of
 * the request it holds once the parser is done with it; the block given back once it
 * holds nothing (at the end of each upcall: http_sync_tcp); every block held. */
struct hreq *req_hold(struct ssdk_engine *e, struct hconn *h);
void req_parse_reset(struct ssdk_engine *e, struct hconn *h);
void req_settle(struct ssdk_engine *e, struct hconn *h);
void req_drop(struct ssdk_engine *e, struct hconn *h);

/* resp.c: the response queue, and the bytes of its segments. */
struct resp *resp_push(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint8_t kind);
void resp_hold(struct ssdk_engine *e, struct resp *q, uint32_t idx);
void resp_retire(struct ssdk_engine *e, struct tcb *c, struct hconn *h);
void resp_cut(struct ssdk_engine *e, struct hconn *h, uint8_t n);
uint8_t resp_index(const struct ssdk_engine *e, const struct hconn *h, const struct resp *q);
void resp_flush(struct ssdk_engine *e, struct tcb *c, struct hconn *h);
void resp_drop_all(struct ssdk_engine *e, struct hconn *h);
void resp_check(const struct ssdk_engine *e, const struct tcb *c, const struct hconn *h);
uint64_t resp_payload(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint32_t seq,
                      uint32_t len, uint8_t *pl);
void resp_copy(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint32_t seq,
               uint32_t len, uint8_t *pl);
uint32_t resp_seg_len(const struct ssdk_engine *e, const struct hconn *h, uint32_t seq,
                      uint32_t len);

/* gen.c: the tables' generations (hot swap). A hold on the current table, for a
 * response started now, or chosen now and started later (behind a 100 Continue: on_gone
 * drops it if it never starts); and its release. */
uint8_t gen_hold(struct ssdk_engine *e);
void gen_release(struct ssdk_engine *e, uint8_t gen);

/* date.c */
void date_render(uint64_t unix_sec, uint8_t out[DATE_LEN]);
void date_tick(struct ssdk_engine *e);
const uint8_t *date_for(const struct ssdk_engine *e, uint64_t sec, uint8_t buf[DATE_LEN]);

/* decide.c: the one decision for a request the parser finished (res: HP_DONE or
 * HP_ERROR) in buf; and the counters of a table's response and why it was chosen. */
void http_decide(struct ssdk_engine *e, const struct http_parse *p, const uint8_t *buf,
                 enum hp_result res, struct http_decision *d);
void http_count(struct ssdk_engine *e, const struct table *t, uint32_t idx, uint8_t why);
void http_count_status(struct ssdk_engine *e, uint16_t status);

/* dynamic.c: the routes, and the record of a request for the application (both
 * transports). */
const struct dyn_route *dyn_match(const struct ssdk_engine *e, const uint8_t *key,
                                  size_t len);
uint32_t dyn_max_body(const struct dyn_route *r);
uint32_t dyn_route_id(const struct dyn_route *r);
struct dyn_in *dyn_in_new(const struct http_parse *p, const uint8_t *head,
                          const struct http_decision *d);
void dyn_body_begin(struct hp_body *b, struct dyn_in *in, const struct http_decision *d);
uint32_t dyn_body_read(struct hp_body *b, struct dyn_in **in, const uint8_t *p, uint32_t n);
struct ssdk_request dyn_request(struct dyn_in *in, uint64_t token);

/* dyn_conn.c: requests for the application on the stack's connections, their tokens,
 * the pass's batch and the answers. Requests made ready in a pass are handed up in
 * calls of at most DYN_CALL_MAX. */
#define DYN_CALL_MAX 256
int  dyn_start(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
               const struct http_parse *p, const struct http_decision *d);
uint32_t dyn_body_in(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                     const uint8_t *p, uint32_t n);
int  dyn_ready_any(const struct ssdk_engine *e, const struct hconn *h);
void dyn_flush(struct ssdk_engine *e);

/*
 * https.c: the TLS port's connections. TCP carries records; HTTP reads and writes the
 * plaintext inside them, in a stream of its own (offsets from 0), through the in_* and
 * out_* calls below, which on the HTTP port go to TCP directly.
 */
int  https_init(struct ssdk_engine *e);
void https_free(struct ssdk_engine *e);
uint32_t https_recv(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                    const uint8_t *p, uint32_t n);
void https_sent(struct ssdk_engine *e, struct tcb *c, struct hconn *h);
int  https_pump(struct ssdk_engine *e, struct tcb *c, struct hconn *h);
void https_after(struct ssdk_engine *e, struct tcb *c);
uint64_t https_payload(struct ssdk_engine *e, struct tcb *c, uint32_t seq, uint32_t len,
                       uint8_t *pl, int sum);
uint32_t https_seg_len(struct ssdk_engine *e, const struct tcb *c, uint32_t seq, uint32_t len);
int  https_timeout(struct ssdk_engine *e, struct tcb *c, struct hconn *h, int *answered);
void https_sync(struct ssdk_engine *e, struct tcb *c, uint64_t *deadline, int *idle);
void https_gone(struct ssdk_engine *e, struct tcb *c);
const uint8_t *https_in_data(const struct ssdk_engine *e, const struct tcb *c);
uint32_t https_in_len(const struct ssdk_engine *e, const struct tcb *c);
void https_in_consume(struct ssdk_engine *e, struct tcb *c, uint32_t n);
void https_in_discard(struct ssdk_engine *e, struct tcb *c);
uint32_t https_out_una(const struct ssdk_engine *e, const struct tcb *c);
uint32_t https_out_end(const struct ssdk_engine *e, const struct tcb *c);
void https_out_write(struct ssdk_engine *e, struct tcb *c, uint32_t end);
void https_out_close(struct ssdk_engine *e, struct tcb *c);
int  https_peer_closed(const struct ssdk_engine *e, const struct tcb *c);
void https_check(const struct ssdk_engine *e, const struct tcb *c);

static inline int conn_tls(const struct tcb *c) { return c->lport == TCP_PORT_TLS; }

/* The request bytes HTTP has not consumed: where they are, how many, consume the first
 * n, drop them all (nothing more is read), and let bytes held beyond a gap come again
 * (they may be a body's, which is read as it comes). */
static inline const uint8_t *in_data(const struct ssdk_engine *e, const struct tcb *c)
{
    return conn_tls(c) ? https_in_data(e, c) : tcp_rcv_data(&e->tcp, c);
}
static inline uint32_t in_len(const struct ssdk_engine *e, const struct tcb *c)
{
    return conn_tls(c) ? https_in_len(e, c) : c->rcv.len;
}
static inline void in_consume(struct ssdk_engine *e, struct tcb *c, uint32_t n)
{
    if (conn_tls(c))
        https_in_consume(e, c, n);
    else
        tcp_recved(&e->tcp, c, n);
}
static inline void in_discard(struct ssdk_engine *e, struct tcb *c)
{
    if (conn_tls(c))
        https_in_discard(e, c);
    tcp_rcv_discard(&e->tcp, c);
}
static inline void in_drop_held(struct ssdk_engine *e, struct tcb *c)
{
    /* on the TLS port, bytes beyond a gap are records, never a body's plaintext */
    if (!conn_tls(c))
        tcp_rcv_drop_held(&e->tcp, c);
}
/* HTTP's stream going out: acknowledged up to, written up to, written on to end, and
 * closed after what was written. */
static inline uint32_t out_una(const struct ssdk_engine *e, const struct tcb *c)
{
    return conn_tls(c) ? https_out_una(e, c) : c->snd.una;
}
static inline uint32_t out_end(const struct ssdk_engine *e, const struct tcb *c)
{
    return conn_tls(c) ? https_out_end(e, c) : c->snd.end;
}
static inline void out_write(struct ssdk_engine *e, struct tcb *c, uint32_t end)
{
    if (conn_tls(c))
        https_out_write(e, c, end);
    else
        tcp_write_stream(c, end);
}
static inline void out_close(struct ssdk_engine *e, struct tcb *c)
{
    if (conn_tls(c))
        https_out_close(e, c);
    else
        tcp_close(&e->tcp, c);
}

/* The peer sends nothing more: its FIN came, or on the TLS port its close_notify. */
static inline int peer_done(const struct ssdk_engine *e, const struct tcb *c)
{
    return (c->flags & TF_PEER_FIN) || (conn_tls(c) && https_peer_closed(e, c));
}

/* serve.c: body bytes of the request being read, as they come (0 when none is). */
uint32_t http_body_in(struct ssdk_engine *e, struct tcb *c, struct hconn *h, const uint8_t *p,
                      uint32_t n);

/* loop.c: n as the engine's one backend (destroyed instead if it has one already; n
 * NULL: a backend that failed, its message in err). 0 or -1. */
int engine_attach(struct ssdk_engine *e, struct nic *n, char *err, size_t errlen);

/* answer.c: what the kernel-socket path holds goes with the engine. */
void answer_free(struct ssdk_engine *e);

/* serve.c: a request refused (a body the decoder gave up on); what keeps TCP in step
 * after a change (its deadline and receive mode). */
void http_refuse(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint8_t sp);
void http_sync_tcp(struct ssdk_engine *e, struct tcb *c, struct hconn *h);
extern const struct tcp_upcalls http_upcalls;

/* variant.c: the response of a route for a GET or HEAD request; for a 206 template,
 * the part of the body it sends. */
uint32_t variant_choose(struct ssdk_engine *e, const struct http_parse *p,
                        const struct table *t, const struct ssdk_route_slot *s,
                        struct range_pick *rg);

/* http_range.c: how many bytes a response sends (its header block alone for HEAD, a
 * 206's header block and part), and a 206's bytes [off, off+len) into pl. */
uint32_t resp_span(const struct ssdk_resp *r, const struct range_pick *rg, int head);
void range_fill(const struct table *t, const struct ssdk_resp *r, const struct range_pick *rg,
                uint8_t *pl, uint64_t off, uint32_t len);

#endif
