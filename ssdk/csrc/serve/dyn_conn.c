/*
 * dyn_conn.c - requests for the application on the stack's connections: each one waits
 * in its connection's response queue (an RK_WAIT response, resp.c) under a token of its
 * own, goes up with the pass's batch, and its answer takes its place in the queue.
 *
 * serve.c (http_serve: decide.c says D_APP) -> dyn_start -> dyn_in_new (dynamic.c),
 *        resp_push (resp.c) -> [body: on_recv -> dyn_body_in -> dyn_body_feed
 *        -> dyn_body_read (dynamic.c), into the last response's request]
 *        -> dyn_ready (the pass's batch)
 * loop.c (end of a pass) -> dyn_flush -> hand_up -> the application's callback, in
 *        calls of at most DYN_CALL_MAX requests (Python: extern "Python")
 *        -> tcp_ack_flush (a request not answered at once is acknowledged alone)
 * the application -> ssdk_respond -> by_token -> the RK_WAIT becomes RK_DYN (a copy)
 *        -> resp_flush (resp.c) -> tcp_output (tcp/): sent like a template's, resp.c
 *        summing each segment as it goes
 *
 * Invariants: every request for the application that the queue holds (up to RESPQ_MAX
 * responses, table ones among them) is, in turn: being read (its body still coming:
 * only the last response's, its decoder in the request block), ready (whole, its token
 * once in e->dyn_batch), with the application (its record freed when the call that handed it up returns: the
 * application copies what it keeps), answered (RK_DYN, kept whole until acknowledged,
 * since retransmissions copy from it). The application may answer them at once or later,
 * in any order; TCP's stream stops at the first response without an answer, and when
 * that one comes it and every answered response behind it go on, back to back.
 *
 * A token names one response of one connection incarnation:
 *   bits 63..40: the slot's incarnation (tcp/: bumped on every allocation), low 24 bits
 *   bits 39..24: the response's serial on its connection (h->serial, one per request
 *                for the application; distinct within a queue)
 *   bits 23..0:  the connection's slot (max_conns <= CONNS_MAX = 1 << 24)
 * An answer whose token names no response still waiting with the application (the
 * connection went, or an earlier answer that closes cut the responses behind it) is
 * refused and counted (dyn_orphans), and frees nothing: what a cut or gone response held
 * went with it (resp_release), once.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/engine.h"

#define TOKEN_SLOT_BITS 24
#define TOKEN_SERIAL_BITS 16
#define TOKEN_SLOT_MASK ((1u << TOKEN_SLOT_BITS) - 1)
#define TOKEN_INC_MASK ((1u << (64 - TOKEN_SLOT_BITS - TOKEN_SERIAL_BITS)) - 1)
_Static_assert(CONNS_MAX <= 1u << TOKEN_SLOT_BITS, "every slot fits a token's slot field");
_Static_assert(RESPQ_MAX < 1u << TOKEN_SERIAL_BITS, "the serials in one queue differ");

/* The token of slot idx's response with serial `serial`, in the slot's incarnation now. */
static uint64_t token_of(const struct ssdk_engine *e, uint32_t idx, uint16_t serial)
{
    uint64_t inc = e->tcp.incarnation[idx] & TOKEN_INC_MASK;
    return inc << (TOKEN_SLOT_BITS + TOKEN_SERIAL_BITS)
           | (uint64_t)serial << TOKEN_SLOT_BITS | idx;
}

static uint32_t token_slot(uint64_t token) { return (uint32_t)token & TOKEN_SLOT_MASK; }

/* The response a token names, if it is still in its connection's queue and waits
 * (RK_WAIT: being read, ready or with the application); its connection in *pc. */
static struct resp *by_token(struct ssdk_engine *e, uint64_t token, struct tcb **pc)
{
    uint32_t idx = token_slot(token);
    uint16_t serial = (uint16_t)(token >> TOKEN_SLOT_BITS);
    if (idx >= e->tcp.net.cfg.max_conns || e->tcp.conns[idx].state == TCP_NONE
        || token != token_of(e, idx, serial))
        return NULL;
    for (struct resp *q = resp_first(e, &e->hconns[idx]); q; q = resp_next(e, q)) {
        if (q->kind == RK_WAIT && q->serial == serial) {
            *pc = &e->tcp.conns[idx];
            return q;
        }
    }
    return NULL;
}

/* Whether a response is ready: its request whole, in this pass's batch. */
static int is_ready(const struct resp *q)
{
    return q->kind == RK_WAIT && q->in && q->in->queued;
}

int dyn_ready_any(const struct ssdk_engine *e, const struct hconn *h)
{
    for (const struct resp *q = resp_first(e, h); q; q = resp_next(e, q))
        if (is_ready(q))
            return 1;
    return 0;
}

static uint32_t batch_cap(const struct ssdk_engine *e)
{
    return e->tcp.net.cfg.max_conns * RESPQ_MAX;
}

/* The batch without the tokens of responses cut or gone since they were made ready. A
 * response is in it once at most, so what is left is at most one per place in every
 * queue: fewer than batch_cap while a ready response is yet to join it. */
static void batch_compact(struct ssdk_engine *e)
{
    uint32_t n = 0;
    struct tcb *c;
    for (uint32_t i = 0; i < e->ndyn_batch; i++) {
        struct resp *q = by_token(e, e->dyn_batch[i], &c);
        if (q && is_ready(q))
            e->dyn_batch[n++] = e->dyn_batch[i];
    }
    e->ndyn_batch = n;
}

/* q, c's request, is whole: it goes to the application at the end of this pass. */
static void dyn_ready(struct ssdk_engine *e, struct tcb *c, struct resp *q)
{
    SSDK_ASSERT(q->kind == RK_WAIT && q->in && !q->in->queued);
    if (e->ndyn_batch == batch_cap(e))
        batch_compact(e);
    SSDK_ASSERT(e->ndyn_batch < batch_cap(e));
    q->in->queued = 1;
    e->dyn_batch[e->ndyn_batch++] = token_of(e, tcb_index(&e->tcp, c), q->serial);
}

/*
 * Body bytes p[0..n) of q's request, the last response's, through the decoder b
 * (http/http_body.c); returns how many were the body's (the rest, after its end, is the
 * next request's). Once the body is whole the request is ready; a malformed chunked
 * body is refused with 400, one over the route's limit with 413, and either closes the
 * connection.
 */
static uint32_t dyn_body_feed(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                              struct hp_body *b, struct resp *q, const uint8_t *p,
                              uint32_t n)
{
    uint32_t used = dyn_body_read(b, &q->in, p, n);
    if (b->kind != HB_NONE)
        return used;
    if (b->failed) {
        stats(e)->dyn_bad_bodies++;
        http_refuse(e, c, h, b->error);
        return used;
    }
    dyn_ready(e, c, q);
    return used;
}

/* The request of c (header block parsed by p, p->pos bytes) goes to the application:
 * it joins the queue as a waiting response with the next serial; its head and the body
 * bytes buffered so far are copied out, the rest follows through on_recv (serve.c) and
 * the body decoder, which waits in the connection's request block only then: a body
 * that came whole with its head takes none. Returns 0, or -1 when there is no memory. */
int dyn_start(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
              const struct http_parse *p, const struct http_decision *d)
{
    uint32_t hlen = p->pos;
    const uint8_t *req = in_data(e, c);
    struct dyn_in *in = dyn_in_new(p, req, d);
    if (!in)
        return -1;
    in_drop_held(e, c);  /* held bytes beyond a gap are body: let the peer resend them */
    req_parse_reset(e, h);  /* p is read (it may be the block's): the header clock stops */
    struct resp *q = resp_push(e, c, h, RK_WAIT);  /* the stream stops here until answered */
    q->in = in;
    q->keep = d->keep;
    q->serial = h->serial++;
    struct hp_body body;
    dyn_body_begin(&body, in, d);
    uint32_t used = 0;
    if (body.kind == HB_NONE)
        dyn_ready(e, c, q);  /* no body at all */
    else
        used = dyn_body_feed(e, c, h, &body, q, req + hlen, in_len(e, c) - hlen);
    if (body.failed)
        return 0;  /* refused by the decoder: that closes, the buffer emptied */
    if (body.kind != HB_NONE) {  /* the rest is to come (on_recv) */
        struct hreq *r = req_hold(e, h);
        r->body = body;
        r->since_ms = req_clock(e);  /* the body timeout's clock (serve.c) */
    }
    in_consume(e, c, hlen + used);
    return 0;
}

/* Body bytes p[0..n) of the request being read for the application (on_recv: the last
 * response's, its decoder in the request block); returns how many were the body's. */
uint32_t dyn_body_in(struct ssdk_engine *e, struct tcb *c, struct hconn *h, const uint8_t *p,
                     uint32_t n)
{
    struct resp *q = resp_reading(e, h);
    SSDK_ASSERT(q != NULL);
    return dyn_body_feed(e, c, h, &req_of(e, h)->body, q, p, n);
}

/* The requests named by batch[at, at+n) that still wait to go up, to the application in
 * one call. Each leaves its response before the call (in = NULL: with the application),
 * and its record is freed after it, so an answer given during the call that cuts
 * responses (it closes) frees no record the call still points into. */
static void hand_up(struct ssdk_engine *e, uint32_t at, uint32_t n)
{
    uint32_t k = 0;
    struct tcb *c;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t token = e->dyn_batch[at + i];
        struct resp *q = by_token(e, token, &c);
        if (!q || !is_ready(q))
            continue;  /* cut, or its connection gone, since it was made ready */
        e->dyn_reqs[k] = dyn_request(q->in, token);
        e->dyn_handed[k++] = q->in;
        q->in = NULL;
    }
    if (k && e->dyn_fn)
        e->dyn_fn(e->dyn_ctx, e->dyn_reqs, k);
    stats(e)->dyn_requests += k;
    for (uint32_t i = 0; i < k; i++)
        free(e->dyn_handed[i]);
}

/* Hand every request made ready in this pass to the application, in calls of at most
 * DYN_CALL_MAX; then the ACKs the requests not answered at once were holding. */
void dyn_flush(struct ssdk_engine *e)
{
    uint32_t batch = e->ndyn_batch;
    for (uint32_t at = 0; at < batch; at += DYN_CALL_MAX)
        hand_up(e, at, batch - at < DYN_CALL_MAX ? batch - at : DYN_CALL_MAX);
    SSDK_ASSERT(e->ndyn_batch == batch);  /* an answer makes no request ready */
    for (uint32_t i = 0; i < batch; i++)
        tcp_ack_flush(&e->tcp, &e->tcp.conns[token_slot(e->dyn_batch[i])]);
    e->ndyn_batch = 0;
}

int ssdk_respond(struct ssdk_engine *e, uint64_t token, const uint8_t *stream, uint64_t len,
                 uint32_t date_off, uint32_t conn_off, uint32_t status, int keep)
{
    struct tcb *c = NULL;
    struct resp *q = by_token(e, token, &c);
    if (!q || q->in) {  /* gone, cut, answered, or never handed up */
        stats(e)->dyn_orphans++;
        return -1;
    }
    struct hconn *h = hconn_of(e, c);
    if (len > UINT32_MAX / 2 || (uint64_t)date_off + DATE_LEN > len
        || (uint64_t)conn_off + CONN_TOKEN_LEN > len)
        return -2;
    struct dyn_out *out = malloc(sizeof(*out) + len);
    if (!out)
        return -3;
    memcpy(out->data, stream, len);
    out->len = (uint32_t)len;
    out->date_off = date_off;
    out->conn_off = conn_off;
    keep = keep && q->keep;
    q->kind = RK_DYN;  /* the waiting response becomes the answer */
    q->out = out;
    q->end = q->seq + out->len;
    q->date_sec = e->date_sec;
    http_count_status(e, (uint16_t)status);
    if (!keep) {  /* the responses queued behind it are never sent */
        resp_cut(e, h, (uint8_t)(resp_index(e, h, q) + 1));
        q->close_token = 1;
        h->hflags |= HC_LAST;  /* a 100's answer queued behind it never starts */
        in_discard(e, c);
        struct hreq *r = req_of(e, h);
        if (r)  /* a body still coming is nobody's now; nothing more is parsed */
            memset(&r->body, 0, sizeof(r->body));
        req_parse_reset(e, h);
    }
    resp_flush(e, c, h);  /* it, and the answered ones behind it, up to the next wait */
    SSDK_DEBUG_ONLY(resp_check(e, c, h));
    http_sync_tcp(e, c, h);
    tcp_output(&e->tcp, c);  /* the answer carries the ACK it was held for, if any */
    return 0;
}
