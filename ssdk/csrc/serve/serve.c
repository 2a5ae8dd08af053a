/*
 * serve.c - HTTP on TCP: what a request is answered with, and what becomes of its bytes:
 * the body discarded or read for the application, a 100 Continue before a body we
 * discard, pipelined requests one after another, a 408 for a request that never
 * completes. The engine's upcalls from tcp/ (http_upcalls) are here.
 *
 * tcp/ (up->sent: a segment processed) -> on_sent -> resp_retire (resp.c)
 *                                                 -> http_serve (while it answers)
 *                                                    -> hp_run (http/)
 *                                                    -> http_decide (decide.c)
 *                                                    -> dyn_start (dyn_conn.c), or
 *                                                       start_response -> resp_push,
 *                                                       resp_flush (resp.c)
 * tcp/ (up->recv: bytes in order)      -> on_recv -> hp_body_run (http/) -> dyn_body_in
 * tcp/ (up->payload: a segment's bytes) -> on_payload -> resp_payload (resp.c)
 * tcp/ (up->payload_copy: a super-frame's) -> on_payload_copy -> resp_copy (resp.c)
 * tcp/ (up->seg_len: where a segment ends) -> on_seg_len -> resp_seg_len (resp.c)
 * tcp/ (up->unread: no buffer for what was left) -> on_unread: forget a partial request
 * tcp/ (up->timeout: the idle timer)  -> on_timeout -> http_request_timeout
 * tcp/ (up->gone: conn_free)          -> on_gone -> resp_drop_all
 *
 * Invariants: pipelined requests are parsed and answered while earlier responses are
 * in flight, up to RESPQ_MAX of them, in the order they came: each response joins the
 * queue behind the last (resp.c), and the requests beyond the queue's depth wait in the
 * buffer, closing the window. Look-ahead stops at a response that closes (nothing after
 * it is parsed), at a body being read or a 100 Continue (until the body is consumed),
 * but not at a request for the application: those behind it are parsed and queued
 * (and handed up too) while it waits for its answer. A request leaves the buffer
 * (req_consume, tcp_recved) before its response starts, so none is answered twice.
 * Whatever the parser refuses is answered with a special response that closes the
 * connection, and nothing after it is read, so a stream whose framing is in doubt is
 * never read on.
 *
 * A request's state lives where it costs least: one that is whole when first read is
 * parsed in a struct http_parse on http_serve's stack and leaves nothing behind; one
 * left in part (the parser wants more), a body being read and a 100 Continue's answer
 * take a request block (struct hreq, req_hold) from the engine's pool, given back at the
 * end of the upcall that finished with it (req_settle, from http_sync_tcp), so that no
 * pointer to a block is left dangling in the middle of an upcall.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/engine.h"

/* A request block is what a connection in the middle of a request keeps besides its
 * 12 bytes (engine.h), while its responses' entries are 40 each. */
_Static_assert(sizeof(struct hreq) <= 192, "a request block stays small (engine.h)");

/* The pool's count, and the most ever held (what its pages cost), as the gauges show
 * them. */
static void req_gauge(struct ssdk_engine *e)
{
    struct ssdk_stats *st = stats(e);
    st->http_req_blocks_in_use = e->req_slab.used;
    if (st->http_req_blocks_peak < e->req_slab.used)
        st->http_req_blocks_peak = e->req_slab.used;
}

/* h's request block: its own, or one taken now (never none: one per slot at most). */
struct hreq *req_hold(struct ssdk_engine *e, struct hconn *h)
{
    if (!h->req) {
        uint32_t i = slab_take(&e->req_slab);
        req_gauge(e);
        h->req = i + 1;
        e->reqs[i].link = (uint32_t)(h - e->hconns);  /* its owner, for the checks */
    }
    SSDK_ASSERT(req_of(e, h)->link == (uint32_t)(h - e->hconns));
    return req_of(e, h);
}

/* Whether h's block holds something: a header block in part (its clock runs from the
 * first byte), a body being read, or the answer behind a 100 Continue. */
static int req_live(const struct ssdk_engine *e, const struct hconn *h)
{
    const struct hreq *r = req_of(e, h);
    SSDK_ASSERT(!(h->hflags & HC_NEXT) || r != NULL);
    return r && (r->since_ms || r->body.kind != HB_NONE || (h->hflags & HC_NEXT));
}

/* The parser is done with the request (consumed, refused, or to be read again from
 * its first byte): its state goes, and its clock unless a body is being read. */
void req_parse_reset(struct ssdk_engine *e, struct hconn *h)
{
    struct hreq *r = req_of(e, h);
    if (!r)
        return;
    memset(&r->hp, 0, sizeof(r->hp));
    if (r->body.kind == HB_NONE)
        r->since_ms = 0;
}

/* h's block goes, whatever it holds (the connection does; what it held is released by
 * the caller). */
void req_drop(struct ssdk_engine *e, struct hconn *h)
{
    if (!h->req)
        return;
    slab_give(&e->req_slab, h->req - 1);
    h->req = 0;
    req_gauge(e);
}

/* Once an upcall is done with h: its block goes back if it holds nothing. */
void req_settle(struct ssdk_engine *e, struct hconn *h)
{
    if (!h->req || req_live(e, h))
        return;
    SSDK_ASSERT(req_of(e, h)->hp.pos == 0);  /* a request in part has its clock running */
    req_drop(e, h);
}

/* Queue response idx on c (its header block only for HEAD; for a 206, the part rg);
 * a closing response ends the queue and is followed by our FIN. The response comes from
 * the current table, unless gen says the table it is to come from, already held (the
 * answer behind a 100 Continue). */
static void start_response(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                           uint32_t idx, int keep, int head, uint8_t why, int gen,
                           const struct range_pick *rg)
{
    struct resp *q = resp_push(e, c, h, RK_TABLE);
    if (gen < 0) {
        resp_hold(e, q, idx);
    } else {
        q->idx = idx;
        q->gen = (uint8_t)gen;
    }
    const struct table *t = &e->tables[q->gen];
    const struct ssdk_resp *r = &t->resp[idx];
    q->rng = rg ? *rg : (struct range_pick){0};
    q->end = q->seq + resp_span(r, &q->rng, head);
    q->date_sec = e->date_sec;  /* its Date is fixed as it starts */
    http_count(e, t, idx, why);
    if (!keep || (r->flags & RESP_CLOSE)) {
        q->close_token = 1;
        h->hflags |= HC_LAST;
        in_discard(e, c);  /* nothing after a closing response is read (RFC 9112 9.6) */
        req_parse_reset(e, h);
    }
    resp_flush(e, c, h);  /* the stream goes on (not past a waiting answer); FIN after a close */
    SSDK_DEBUG_ONLY(resp_check(e, c, h));
}

/* Drop the first n request bytes, and with them the parser's hold on them. */
static void req_consume(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint32_t n)
{
    in_consume(e, c, n);
    req_parse_reset(e, h);  /* what is left, if anything, starts its clock when served */
}

/*
 * RFC 9112 2.2: empty lines before a request line are ignored (clients send a stray CRLF
 * after a body). They are dropped as they arrive, so they never start the request-header
 * clock. Returns 0 when nothing is left to parse; a CR alone waits for its LF.
 */
static int skip_empty_lines(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    const uint8_t *req = in_data(e, c);
    uint32_t i = 0, n = in_len(e, c);
    for (;;) {
        if (i < n && req[i] == '\n')
            i++;
        else if (i + 1 < n && req[i] == '\r' && req[i + 1] == '\n')
            i += 2;
        else
            break;
    }
    if (i)
        req_consume(e, c, h, i);
    req = in_data(e, c);  /* consumed bytes move (the buffer) or are passed */
    n = in_len(e, c);
    return n > 1 || (n == 1 && req[0] != '\r');
}

/*
 * The request's body (Content-Length bytes; a table's response reads no other) is read
 * and discarded: what is buffered now, then the rest as it arrives (on_recv). When the
 * decision calls for a 100 Continue and no body byte has come yet, the 100 goes first
 * and the answer waits behind it, as the next response. Returns 1 if the 100 was started.
 */
static int body_follows(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                        const struct http_decision *d)
{
    uint32_t have = in_len(e, c) < d->length ? in_len(e, c) : d->length;
    req_consume(e, c, h, have);
    struct hp_body body;
    hp_body_start(&body, 0, d->length - have);
    if (body.kind == HB_NONE)
        return 0;  /* all of it was here: no block */
    struct hreq *r = req_hold(e, h);
    r->body = body;
    r->since_ms = req_clock(e);  /* the body timeout's clock (on_recv) */
    in_drop_held(e, c);  /* held bytes may be body: let the peer send them again */
    if (have || !d->cont)
        return 0;
    r->next_resp = d->idx;
    r->next_gen = gen_hold(e);  /* the answer comes from the table it was chosen in */
    r->rng = d->rg;
    h->hflags |= HC_NEXT | (d->head ? HC_NEXT_HEAD : 0);
    start_response(e, c, h, table_special(cur_table(e), 0, SP_CONTINUE), 1, 0, W_NONE, -1,
                   NULL);
    return 1;
}

/* The request-header timeout ran out (the idle timer, on_timeout): answer 408 and close
 * (RFC 9110 15.5.9). Returns 0 when there is no partial request to answer. */
static int http_request_timeout(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    if (h->nresp || (c->flags & (TF_RCV_SHUT | TF_FIN_QUEUED)) || !in_len(e, c)
        || (c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT))
        return 0;
    int head = req_of(e, h) && req_of(e, h)->hp.method == M_HEAD;
    start_response(e, c, h, table_special(cur_table(e), 0, SP_408), 0, head, W_NONE, -1, NULL);
    return 1;
}

/* The body timeout ran out (the idle timer, on_timeout): the body being read stopped
 * arriving. Its request is answered 408 and the connection closes (RFC 9110 15.5.9),
 * as nginx does after client_body_timeout; a request that waited for its body to go to
 * the application is cut, never handed up. Returns 0 when no body is being read. */
static int http_body_timeout(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    if (!req_body_on(e, h) || (c->flags & (TF_RCV_SHUT | TF_FIN_QUEUED))
        || (c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT))
        return 0;
    struct hreq *r = req_of(e, h);
    if (resp_reading(e, h))
        resp_cut(e, h, (uint8_t)(h->nresp - 1));
    if (h->hflags & HC_NEXT) {  /* the answer behind a 100 Continue is not sent now */
        gen_release(e, r->next_gen);
        h->hflags &= (uint8_t)~(HC_NEXT | HC_NEXT_HEAD);
    }
    memset(&r->body, 0, sizeof(r->body));
    stats(e)->body_timeouts++;
    start_response(e, c, h, table_special(cur_table(e), 0, SP_408), 0, 0, W_NONE, -1, NULL);
    return 1;
}

/* The peer's FIN came with its request incomplete (a header block or a body): no more
 * bytes will come to complete it (RFC 9293 3.10.7.4, eighth step), so there is nothing
 * to answer or wait for. A request that waited for its body to go to the application is
 * cut; what is before it still goes, then our FIN. */
static void http_abandon(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    if (resp_reading(e, h))
        resp_cut(e, h, (uint8_t)(h->nresp - 1));
    struct hreq *r = req_of(e, h);
    if (r) {
        memset(&r->body, 0, sizeof(r->body));
        req_parse_reset(e, h);
    }
    in_discard(e, c);
    stats(e)->http_abandoned++;
}

/* Refuse the request c was reading for the application (a malformed or oversized
 * chunked body): the special response sp, and the connection closes. */
void http_refuse(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint8_t sp)
{
    /* Its body was being read, so it is the last response: no answer will come for it,
     * and the refusal takes its place (those before it still go first). */
    SSDK_ASSERT(h->nresp && resp_last(e, h)->kind == RK_WAIT && resp_last(e, h)->in);
    resp_cut(e, h, (uint8_t)(h->nresp - 1));
    start_response(e, c, h, table_special(cur_table(e), 0, (enum special_resp)sp), 0, 0,
                   W_FRAMING, -1, NULL);
}

/*
 * One more response for c's queue: the one behind a 100 Continue once the 100 is
 * acknowledged, or the answer to the next buffered request, once it is whole or refused.
 * Returns 1 when a response (or a wait for the application) joined the queue, 0 when
 * nothing more is to be read now: the queue is full (RESPQ_MAX; a request for the
 * application with a 100 Continue due needs two places), its last response closes, or
 * a body is being read or a 100's answer waits.
 */
static int http_serve(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    if ((c->flags & (TF_RCV_SHUT | TF_FIN_QUEUED)) || (h->hflags & HC_LAST))
        return 0;
    struct hreq *r = req_of(e, h);
    if (h->hflags & HC_NEXT) {  /* the answer behind a 100 goes once the 100 is through */
        if (h->nresp)
            return 0;
        int head = !!(h->hflags & HC_NEXT_HEAD);
        h->hflags &= (uint8_t)~(HC_NEXT | HC_NEXT_HEAD);
        start_response(e, c, h, r->next_resp, 1, head, W_NONE, r->next_gen, &r->rng);
        return 1;
    }
    if (h->nresp >= RESPQ_MAX || (r && r->body.kind != HB_NONE))
        return 0;
    /* A request read on from where it stopped is in its block; any other is read here,
     * and takes a block only if it is left in part. */
    struct http_parse fresh;
    struct http_parse *p = r ? &r->hp : &fresh;
    if (!r)
        memset(&fresh, 0, sizeof(fresh));
    if (p->pos == 0 && !skip_empty_lines(e, c, h))
        return 0;
    uint64_t since = r && r->since_ms ? r->since_ms : req_clock(e);
    const uint8_t *req = in_data(e, c);
    enum hp_result res = hp_run(p, req, in_len(e, c));
    if (res == HP_MORE) {
        if (in_len(e, c) < TCP_RCV_CAP) {
            r = req_hold(e, h);  /* in part: the state and the clock wait in a block */
            if (p != &r->hp)
                r->hp = *p;
            r->since_ms = since;
            return 0;
        }
        res = hp_fail(p, SP_431, W_NONE);  /* RFC 6585 5: larger than our buffer */
    } else if (res == HP_DONE && p->pos > TCP_RCV_CAP) {
        /* The same limit when the block came whole: on the TLS port one record can bring
         * more than the HTTP port's window ever holds. */
        res = hp_fail(p, SP_431, W_NONE);
    }
    uint32_t hlen = p->pos;
    struct http_decision d;
    http_decide(e, p, req, res, &d);
    if (d.kind == D_APP) {
        /* A 100 and the wait need two places. Deciding again later counts nothing
         * twice (no variant was chosen); it reads the request again from its start. */
        if (d.cont && h->nresp + 2 > RESPQ_MAX) {
            req_parse_reset(e, h);
            return 0;
        }
        /* RFC 9110 10.1.1: a 100 first, when no body byte came yet */
        if (d.cont && in_len(e, c) == hlen)
            start_response(e, c, h, table_special(cur_table(e), 0, SP_CONTINUE), 1, 0,
                           W_NONE, -1, NULL);
        if (dyn_start(e, c, h, p, &d) == 0) {
            if (!d.keep)  /* the answer closes: nothing after it is read */
                h->hflags |= HC_LAST;
            return 1;
        }
        d.kind = D_REFUSE;  /* no memory for it: the 404 it would have been, closing */
        d.keep = 0;
        d.body = BF_NONE;
    }
    req_consume(e, c, h, hlen);
    if (d.body == BF_LENGTH && body_follows(e, c, h, &d))
        return 1;
    start_response(e, c, h, d.idx, d.keep, d.head, d.why, -1, &d.rg);
    return 1;
}

/* What TCP is told after the HTTP side changed: the request-header deadline while a
 * request is partly in and nothing is in flight, whether a body is being read as it
 * comes (then nothing is held beyond a gap: it would be body), and whether the
 * connection is between requests (no request begun, none waiting for its answer, no
 * response queued): only then may a full pool evict it (tcp/conn.c). */
void http_sync_tcp(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    req_settle(e, h);
    SSDK_ASSERT(!h->req == !req_live(e, h));  /* a block while, and only while, it holds */
    uint64_t since = req_since(e, h);
    int body = req_body_on(e, h);
    int idle = !h->nresp && !since && !body && !(h->hflags & (HC_NEXT | HC_LAST))
               && !in_len(e, c);
    const struct ssdk_config *cfg = &e->tcp.net.cfg;
    uint64_t at = 0;
    if (body)  /* a body: from its last byte (nginx's semantic) */
        at = cfg->body_timeout_ms && since ? since + cfg->body_timeout_ms : 0;
    else if (since && !h->nresp)  /* a header block: from its first byte */
        at = since + cfg->header_timeout_ms;
    if (conn_tls(c))
        https_sync(e, c, &at, &idle);  /* a handshake is timed as a header block is */
    tcp_set_app_idle(c, idle);
    tcp_set_app_deadline(c, at);
    tcp_rcv_direct(c, body);
}

/* Bytes of the request stream in order: a body being read takes its bytes (for the
 * application, or to be dropped); the rest are left for the parser. Returns how many it
 * took. */
uint32_t http_body_in(struct ssdk_engine *e, struct tcb *c, struct hconn *h, const uint8_t *p,
                      uint32_t n)
{
    struct hreq *r = req_of(e, h);
    if (!r || r->body.kind == HB_NONE)
        return 0;
    uint32_t used = resp_reading(e, h) ? dyn_body_in(e, c, h, p, n)
                                       : hp_body_run(&r->body, p, n, NULL);
    /* While a body is read, since_ms is when its last byte came: the body timeout is the
     * longest wait between two (nginx's client_body_timeout), so a slow but steady
     * upload is never cut. (The block stays until http_sync_tcp settles it.) */
    r->since_ms = r->body.kind != HB_NONE ? req_clock(e) : 0;
    http_sync_tcp(e, c, h);
    return used;
}

/* up->recv: bytes in order; on the TLS port, records (https.c), whose plaintext goes
 * the same way. */
static uint32_t on_recv(struct tcp *t, struct tcb *c, const uint8_t *p, uint32_t n)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    return conn_tls(c) ? https_recv(e, c, h, p, n) : http_body_in(e, c, h, p, n);
}

/* up->sent: after each segment, finish the responses that are done, then queue what
 * the buffered requests are answered with, as far as the queue goes; a peer that closed
 * and is owed nothing more is closed on. TCP_ACK_LATER when
 * the request this segment completed goes to the application in this pass. */
static int on_sent(struct tcp *t, struct tcb *c)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    if (conn_tls(c))
        https_sent(e, c, h);  /* records acknowledged; records TCP held, opened */
    if (h->nresp)
        resp_retire(e, c, h);
    if (!(c->flags & TF_FIN_QUEUED)
        && (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT)) {
        do {
            while (http_serve(e, c, h))
                ;
        } while (conn_tls(c) && https_pump(e, c, h));  /* records held for room */
        /* After the peer's FIN (or its close_notify), a request still incomplete never
         * will be: it goes at once, and so does the slot, once what is owed before it is
         * sent. */
        if (peer_done(e, c)
            && (req_body_on(e, h)
                || (in_len(e, c) && !h->nresp && !(h->hflags & (HC_LAST | HC_NEXT)))))
            http_abandon(e, c, h);
        if (!h->nresp && peer_done(e, c) && !(c->flags & TF_FIN_QUEUED))
            out_close(e, c);
    }
    if (conn_tls(c)) {
        https_after(e, c);  /* what TLS owes, and what waited to be laid out */
        SSDK_DEBUG_ONLY(https_check(e, c));
    }
    http_sync_tcp(e, c, h);
    return dyn_ready_any(e, h) ? TCP_ACK_LATER : 0;
}

/* up->payload: the bytes of a segment, from the responses in flight. */
static uint64_t on_payload(struct tcp *t, struct tcb *c, uint32_t seq, uint32_t len,
                           uint8_t *pl)
{
    struct ssdk_engine *e = engine_of(t);
    if (conn_tls(c))
        return https_payload(e, c, seq, len, pl, 1);
    return resp_payload(e, c, hconn_of(e, c), seq, len, pl);
}

/* up->payload_copy: the same for a super-frame, whose sum the backend's cutter makes. */
static void on_payload_copy(struct tcp *t, struct tcb *c, uint32_t seq, uint32_t len,
                            uint8_t *pl)
{
    struct ssdk_engine *e = engine_of(t);
    if (conn_tls(c))
        https_payload(e, c, seq, len, pl, 0);
    else
        resp_copy(e, c, hconn_of(e, c), seq, len, pl);
}

/* up->seg_len: where a segment should end, for the responses' sums. */
static uint32_t on_seg_len(struct tcp *t, struct tcb *c, uint32_t seq, uint32_t len)
{
    struct ssdk_engine *e = engine_of(t);
    if (conn_tls(c))
        return https_seg_len(e, c, seq, len);
    return resp_seg_len(e, hconn_of(e, c), seq, len);
}

/* up->unread: TCP had no buffer for the bytes left unread after on_sent and gave them
 * back; they come again. What was read of them goes: the parser's progress in a partial
 * request and its header clock (whatever was consumed before them stays done). */
static void on_unread(struct tcp *t, struct tcb *c)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    req_parse_reset(e, h);
    http_sync_tcp(e, c, h);
}

/* up->timeout: the idle timer ran out; a request that never completed gets its 408. */
static int on_timeout(struct tcp *t, struct tcb *c)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    int answered;
    if (conn_tls(c) && https_timeout(e, c, h, &answered))
        return answered;  /* a handshake unfinished, or TLS's own close */
    answered = req_body_on(e, h) ? http_body_timeout(e, c, h)
                                 : req_since(e, h) && http_request_timeout(e, c, h);
    http_sync_tcp(e, c, h);
    return answered;
}

/* up->gone: the connection leaves the pool; its responses, its table holds and its
 * buffers go with it, and its slot is left as a new connection finds it. */
static void on_gone(struct tcp *t, struct tcb *c)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    resp_drop_all(e, h);  /* with the requests it had for the application */
    if (h->hflags & HC_NEXT)  /* an answer that waited behind a 100 Continue, never sent */
        gen_release(e, req_of(e, h)->next_gen);
    req_drop(e, h);
    memset(h, 0, sizeof(*h));
    if (conn_tls(c))
        https_gone(e, c);
}

const struct tcp_upcalls http_upcalls = {
    .recv = on_recv,
    .sent = on_sent,
    .payload = on_payload,
    .payload_copy = on_payload_copy,
    .seg_len = on_seg_len,
    .unread = on_unread,
    .timeout = on_timeout,
    .gone = on_gone,
};
