/*
 * serve.c - HTTP on TCP: what a request is answered with, and what becomes of its bytes:
 * the body discarded or read for the application, a 100 Continue before a body we
 * discard, pipelined requests one after another, a 408 for a request that never
 * completes. The engine's upcalls from tcp/ (http_upcalls) are here.
 *
 * tcp/ (up->sent: a segment processed) -> on_sent -> resp_retire (resp.c)
 *                                                 -> http_serve -> hp_run (http/)
 *                                                    -> choose -> table_host, hp_path_key,
 *                                                       table_route, variant_choose
 *                                                    -> start_response -> resp_push,
 *                                                       tcp_write_stream (tcp_close)
 * tcp/ (up->recv: bytes in order)      -> on_recv -> hp_body_run (http/) -> dyn_body_in
 * tcp/ (up->payload: a segment's bytes) -> on_payload -> resp_payload (resp.c)
 * tcp/ (up->timeout: the idle timer)  -> on_timeout -> http_request_timeout
 * tcp/ (up->gone: conn_free)          -> on_gone -> resp_drop_all, dyn_drop
 *
 * Invariants: a connection starts a response only when it has none in flight, that is
 * once the last one is acknowledged whole (on_sent); so pipelined requests wait in the
 * buffer and are answered in the order they came. A request leaves the buffer
 * (req_consume) before its response starts, so none is answered twice. Whatever the
 * parser refuses is answered with a special response that closes the connection, and
 * nothing after it is read, so a stream whose framing is in doubt is never read on.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/engine.h"

/* ssdk_http_answer's parser state: a request buffer and its parse. */
struct http_scratch {
    struct http_parse hp;
    uint8_t buf[TCP_RCV_CAP];
};

/* The status counters, by status; a 100 Continue is no answer to a request. */
void http_count_status(struct ssdk_engine *e, uint16_t status)
{
    struct ssdk_stats *st = stats(e);
    if (status < 200) {
        st->http_continue++;
        return;
    }
    st->http_requests++;
    if (status < 300)
        st->http_2xx++;
    else if (status < 400)
        st->http_3xx++;
    else if (status < 500)
        st->http_4xx++;
    else if (status >= 500)
        st->http_5xx++;
    switch (status) {
    case 206: st->http_206++; break;
    case 304: st->http_304++; break;
    case 416: st->http_416++; break;
    case 400: st->http_400++; break;
    case 404: st->http_404++; break;
    case 405: st->http_405++; break;
    case 408: st->http_408++; break;
    case 411: st->http_411++; break;
    case 413: st->http_413++; break;
    case 414: st->http_414++; break;
    case 417: st->http_417++; break;
    case 431: st->http_431++; break;
    case 501: st->http_501++; break;
    case 505: st->http_505++; break;
    default: break;
    }
}

/* The counters of response idx, and of why it was chosen. */
static void count(struct ssdk_engine *e, const struct table *t, uint32_t idx, uint8_t why)
{
    struct ssdk_stats *st = stats(e);
    http_count_status(e, t->resp[idx].status);
    if (why == W_HOST)
        st->http_bad_host++;
    else if (why == W_FRAMING)
        st->http_bad_framing++;
    else if (why == W_PATH)
        st->http_bad_path++;
    if (idx == t->sections[0].special[SP_OPTIONS])  /* stored once for every host */
        st->http_options++;
}

/* Start response idx on c (its header block only for HEAD); a closing response is
 * followed by our FIN. The response comes from the current table, unless gen says the
 * table it is to come from, already held (the answer behind a 100 Continue). */
static void start_response(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                           uint32_t idx, int keep, int head, uint8_t why, int gen)
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
    q->rng = h->rng;
    q->end = q->seq + resp_span(r, &q->rng, head);
    q->date_sec = e->date_sec;
    tcp_write_stream(c, q->end);
    count(e, t, idx, why);
    if (!keep || (r->flags & RESP_CLOSE)) {
        q->close_token = 1;
        tcp_rcv_discard(c);  /* nothing after a closing response is read (RFC 9112 9.6) */
        memset(&h->hp, 0, sizeof(h->hp));
        tcp_close(&e->tcp, c);
    }
    SSDK_DEBUG_ONLY(resp_check(e, c, h));
}

/* Drop the first n request bytes, and with them the parser's hold on them. */
static void req_consume(struct tcb *c, struct hconn *h, uint32_t n)
{
    tcp_recved(c, n);
    h->req_since_ms = 0;  /* what is left, if anything, starts its clock when served */
    memset(&h->hp, 0, sizeof(h->hp));
}

/*
 * RFC 9112 2.2: empty lines before a request line are ignored (clients send a stray CRLF
 * after a body). They are dropped as they arrive, so they never start the request-header
 * clock. Returns 0 when nothing is left to parse; a CR alone waits for its LF.
 */
static int skip_empty_lines(struct tcb *c, struct hconn *h)
{
    const uint8_t *req = c->rcv.buf;
    uint32_t i = 0, n = c->rcv.len;
    for (;;) {
        if (i < n && req[i] == '\n')
            i++;
        else if (i + 1 < n && req[i] == '\r' && req[i + 1] == '\n')
            i += 2;
        else
            break;
    }
    if (i)
        req_consume(c, h, i);
    n = c->rcv.len;
    return n > 1 || (n == 1 && req[0] != '\r');
}

/*
 * The response for a request the parser accepted (RFC 9110 9.1, 9.3, 15.5.5, 15.5.6):
 * the section of its host (a virtual host's, or the default), the route of its path
 * there, and of that route's variants the one the request's fields call for (variant.c;
 * for a 206, the part of the body goes to *rg). req is the buffer p was read from.
 */
static uint32_t choose(struct ssdk_engine *e, const struct http_parse *p, const uint8_t *req,
                       struct range_pick *rg, uint8_t *why)
{
    const struct table *t = cur_table(e);
    uint16_t sec = table_host(t, req + p->host, p->host_len);
    if (p->form == TF_ASTERISK)
        return table_special(t, sec, SP_OPTIONS);  /* OPTIONS *: the server as a whole */
    if (p->form == TF_AUTHORITY)
        return table_special(t, sec, SP_405);  /* CONNECT host:port: we tunnel nowhere */
    static const uint8_t root = '/';
    const uint8_t *path = p->path_len ? req + p->path : &root;  /* http://host is "/" */
    size_t n = p->path_len ? p->path_len : 1;
    uint8_t dec[HTTP_TARGET_MAX], key[3 * HTTP_TARGET_MAX];
    size_t klen;
    if (hp_path_key(path, n, dec, key, &klen)) {
        *why = W_PATH;
        return table_special(t, sec, SP_400);
    }
    int head = p->method == M_HEAD;
    const struct ssdk_route_slot *route = table_route(t, sec, key, klen);
    if (!route)
        return table_special(t, sec, head ? SP_404_HEAD : SP_404_GET);
    if (p->method == M_GET || head) {
        *rg = (struct range_pick){0, 0};
        return variant_choose(e, p, t, route, rg);
    }
    return table_special(t, sec, p->method == M_OPTIONS ? SP_OPTIONS : SP_405);
}

/*
 * The request's body (Content-Length bytes; the parser refused every other framing) is
 * read and discarded: what is buffered now, then the rest as it arrives (on_recv).
 * RFC 9110 10.1.1: a client that sent "Expect: 100-continue" waits for a 100 before the
 * body; we send one when no body byte has come yet and the answer keeps the connection
 * (a closing answer goes at once, and the body is never read). The answer itself waits
 * behind the 100, as the next response. Returns 1 if the 100 was started.
 */
static int body_follows(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                        const struct http_parse *rq, uint32_t idx, int head)
{
    uint32_t have = c->rcv.len < rq->content_length ? c->rcv.len : rq->content_length;
    req_consume(c, h, have);
    hp_body_start(&h->body, 0, rq->content_length - have);
    if (h->body.kind == HB_NONE)
        return 0;
    tcp_rcv_drop_held(c);  /* held bytes may be body: let the peer send them again */
    if (have || rq->minor == 0 || !(rq->flags & HF_CONTINUE))
        return 0;  /* RFC 9110 10.1.1: a 1.0 request's expectation is ignored */
    h->next_resp = idx;
    h->next_gen = gen_hold(e);  /* the answer comes from the table it was chosen in */
    h->hflags = HC_NEXT | (head ? HC_NEXT_HEAD : 0);
    start_response(e, c, h, table_special(cur_table(e), 0, SP_CONTINUE), 1, 0, W_NONE, -1);
    return 1;
}

/* The request-header timeout ran out (the idle timer, on_timeout): answer 408 and close
 * (RFC 9110 15.5.9). Returns 0 when there is no partial request to answer. */
static int http_request_timeout(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    if (h->nresp || (c->flags & (TF_RCV_SHUT | TF_FIN_QUEUED)) || !c->rcv.len
        || (c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT))
        return 0;
    int head = h->hp.method == M_HEAD;
    start_response(e, c, h, table_special(cur_table(e), 0, SP_408), 0, head, W_NONE, -1);
    return 1;
}

/* The answer to the request the parser finished (res: HP_DONE or HP_ERROR): the
 * response, whether the connection may stay (RFC 9112 9.3: 1.1 persists unless told to
 * close, 1.0 only when asked to; a refused request never), and why, for the counters. */
static uint32_t decide(struct ssdk_engine *e, const struct http_parse *rq, const uint8_t *req,
                       enum hp_result res, struct range_pick *rg, int *keep, uint8_t *why)
{
    *why = rq->why;
    *keep = 0;
    if (res == HP_ERROR)
        return table_special(cur_table(e), 0, (enum special_resp)rq->error);
    uint32_t idx = choose(e, rq, req, rg, why);
    *keep = *why == W_NONE && !(rq->flags & HF_CLOSE)
            && (rq->minor >= 1 || (rq->flags & HF_KEEP));
    return idx;
}

/* Refuse the request c was reading for the application (a malformed or oversized
 * chunked body): the special response sp, and the connection closes. */
void http_refuse(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint8_t sp)
{
    if (resp_waiting(h))
        h->rq[--h->nresp] = (struct resp){0};  /* no answer will come: none is awaited */
    start_response(e, c, h, table_special(cur_table(e), 0, (enum special_resp)sp), 0, 0,
                   W_FRAMING, -1);
}

/*
 * A request for a path no table holds goes to the application when one of its dynamic
 * routes takes the path (dynamic.c). Returns 1 if it went, or was refused as too large
 * for the route (413, closing); 0 if no dynamic route takes it.
 */
static int to_application(struct ssdk_engine *e, struct tcb *c, struct hconn *h, int keep,
                          int head)
{
    const struct http_parse *p = &h->hp;
    if (!p->path_len)
        return 0;
    uint8_t dec[HTTP_TARGET_MAX], key[3 * HTTP_TARGET_MAX];
    size_t klen;
    if (hp_path_key(c->rcv.buf + p->path, p->path_len, dec, key, &klen))
        return 0;
    const struct dyn_route *r = dyn_match(e, key, klen);
    if (!r)
        return 0;
    if ((p->flags & HF_TE_CODED) || p->content_length > dyn_max_body(r)) {
        /* RFC 9110 15.5.14; a coding besides chunked we cannot undo for the handler */
        req_consume(c, h, p->pos);
        start_response(e, c, h, table_special(cur_table(e), 0, SP_413), 0, head, W_NONE, -1);
        return 1;
    }
    return dyn_start(e, c, h, r, keep, head) == 0;
}

/*
 * The connection has no response in flight: start the one behind a 100 Continue, or
 * read on in the buffered request and, once it is whole or refused, answer it.
 */
static int http_serve(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    if (h->nresp || (c->flags & (TF_RCV_SHUT | TF_FIN_QUEUED)))
        return 0;
    if (h->hflags & HC_NEXT) {  /* the 100 Continue is through: now the answer */
        int head = !!(h->hflags & HC_NEXT_HEAD);
        h->hflags = 0;
        start_response(e, c, h, h->next_resp, 1, head, W_NONE, h->next_gen);
        return 1;
    }
    if (h->hp.pos == 0 && !skip_empty_lines(c, h))
        return 0;
    if (!h->req_since_ms)
        h->req_since_ms = now_ms(&e->tcp.net) ? now_ms(&e->tcp.net) : 1;
    enum hp_result res = hp_run(&h->hp, c->rcv.buf, c->rcv.len);
    if (res == HP_MORE) {
        if (c->rcv.len < TCP_RCV_CAP)
            return 0;
        res = hp_fail(&h->hp, SP_431, W_NONE);  /* RFC 6585 5: larger than our buffer */
    }
    struct http_parse rq = h->hp;
    int head = rq.method == M_HEAD, keep;
    uint8_t why;
    uint32_t idx = decide(e, &h->hp, c->rcv.buf, res, &h->rng, &keep, &why);
    const struct table *t = cur_table(e);
    if (e->ndyn && res == HP_DONE && t->resp[idx].status == 404  /* no route, any host */
        && to_application(e, c, h, keep, head))
        return 1;
    if (res == HP_DONE && (rq.flags & HF_TE))  /* a chunked body only the app reads */
        idx = table_special(t, 0, SP_411), keep = 0;
    req_consume(c, h, rq.pos);
    int closing = !keep || (cur_table(e)->resp[idx].flags & RESP_CLOSE);
    if (!closing && rq.content_length && body_follows(e, c, h, &rq, idx, head))
        return 1;
    start_response(e, c, h, idx, keep, head, why, -1);
    return 1;
}

/* What TCP is told after the HTTP side changed: the request-header deadline while a
 * request is partly in and nothing is in flight, and whether a body is being read as it
 * comes (then nothing is held beyond a gap: it would be body). */
void http_sync_tcp(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    tcp_set_app_deadline(c, h->req_since_ms && !h->nresp
                                ? h->req_since_ms + e->tcp.net.cfg.header_timeout_ms
                                : 0);
    tcp_rcv_direct(c, h->body.kind != HB_NONE);
}

/* up->recv: bytes in order. A body being read takes its bytes (for the application,
 * or to be dropped); the rest go to the buffer, for the parser. */
static uint32_t on_recv(struct tcp *t, struct tcb *c, const uint8_t *p, uint32_t n)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    if (h->body.kind == HB_NONE)
        return 0;
    uint32_t used = h->dyn_in ? dyn_body_in(e, c, h, p, n) : hp_body_run(&h->body, p, n, NULL);
    http_sync_tcp(e, c, h);
    return used;
}

/* up->sent: after each segment, finish the responses that are done, then start the
 * next; a peer that closed and is owed nothing more is closed on. TCP_ACK_LATER when
 * the request this segment completed goes to the application in this pass. */
static int on_sent(struct tcp *t, struct tcb *c)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    if (h->nresp)
        resp_retire(e, c, h);
    if (!h->nresp && !(c->flags & TF_FIN_QUEUED)
        && (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT)) {
        if (!http_serve(e, c, h) && (c->flags & TF_PEER_FIN))
            tcp_close(t, c);
    }
    http_sync_tcp(e, c, h);
    return resp_waiting(h) && h->dyn_in && h->dyn_in->queued ? TCP_ACK_LATER : 0;
}

/* up->payload: the bytes of a segment, from the responses in flight. */
static uint64_t on_payload(struct tcp *t, struct tcb *c, uint32_t seq, uint32_t len,
                           uint8_t *pl)
{
    struct ssdk_engine *e = engine_of(t);
    return resp_payload(e, c, hconn_of(e, c), seq, len, pl);
}

/* up->timeout: the idle timer ran out; a request that never completed gets its 408. */
static int on_timeout(struct tcp *t, struct tcb *c)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    int answered = h->req_since_ms && http_request_timeout(e, c, h);
    http_sync_tcp(e, c, h);
    return answered;
}

/* up->gone: the connection leaves the pool; its responses, its table holds and its
 * buffers go with it, and its slot is left as a new connection finds it. */
static void on_gone(struct tcp *t, struct tcb *c)
{
    struct ssdk_engine *e = engine_of(t);
    struct hconn *h = hconn_of(e, c);
    resp_drop_all(e, h);
    dyn_drop(h);
    if (h->hflags & HC_NEXT) {  /* an answer that waited behind a 100 Continue, never sent */
        SSDK_ASSERT(e->gen_refs[h->next_gen] > 0);
        e->gen_refs[h->next_gen]--;
    }
    memset(h, 0, sizeof(*h));
}

const struct tcp_upcalls http_upcalls = {
    .recv = on_recv,
    .sent = on_sent,
    .payload = on_payload,
    .timeout = on_timeout,
    .gone = on_gone,
};

/*
 * The same choice for a request that came through a kernel socket (ssdk dev without the
 * privileges for a TAP device): no connection of ours, no TCP. The request's bytes go
 * through the same parser and table in a scratch buffer, and the answer says where the
 * response's bytes are, for the caller to write. Returns 1 with an answer, 0 when the
 * header block is not complete yet, -1 without a table.
 */
int ssdk_http_answer(struct ssdk_engine *e, const uint8_t *req, uint32_t len,
                     struct ssdk_answer *a)
{
    memset(a, 0, sizeof(*a));
    if (!e->table_loaded)
        return -1;
    if (!e->scratch && !(e->scratch = calloc(1, sizeof(*e->scratch))))
        return -1;
    struct http_scratch *sc = e->scratch;
    uint32_t skip = 0;  /* empty lines before a request line are ignored (RFC 9112 2.2) */
    while (skip < len && (req[skip] == '\n'
                          || (req[skip] == '\r' && skip + 1 < len && req[skip + 1] == '\n')))
        skip += req[skip] == '\r' ? 2 : 1;
    uint32_t n = len - skip < TCP_RCV_CAP ? len - skip : TCP_RCV_CAP;
    memset(&sc->hp, 0, sizeof(sc->hp));
    memcpy(sc->buf, req + skip, n);
    enum hp_result res = hp_run(&sc->hp, sc->buf, n);
    if (res == HP_MORE) {
        if (n < TCP_RCV_CAP)
            return 0;
        res = hp_fail(&sc->hp, SP_431, W_NONE);
    }
    int keep;
    uint8_t why;
    struct range_pick rg = {0, 0};
    /* The caller writes the stored bytes as they are: a whole 200, never a 206 slice. */
    sc->hp.pf.flags &= (uint16_t)~PF_RANGE;
    uint32_t idx = decide(e, &sc->hp, sc->buf, res, &rg, &keep, &why);
    const struct table *t = cur_table(e);
    if (res == HP_DONE && (sc->hp.flags & HF_TE))  /* chunked bodies are not read here */
        idx = table_special(t, 0, SP_411), keep = 0;
    const struct ssdk_resp *r = &t->resp[idx];
    keep = keep && !(r->flags & RESP_CLOSE);
    count(e, t, idx, why);
    a->status = r->status;
    a->consumed = skip + sc->hp.pos;
    a->keep = (uint32_t)keep;
    a->body = keep ? sc->hp.content_length : 0;
    a->generation = e->gen_id[e->cur];
    a->stream_off = r->stream_off;
    a->stream_len = sc->hp.method == M_HEAD ? r->hdr_len : r->stream_len;
    a->date_off = r->date_off;
    a->conn_off = r->conn_off;
    if (a->body && (sc->hp.flags & HF_CONTINUE) && sc->hp.minor >= 1 && n == sc->hp.pos) {
        const struct ssdk_resp *i = &t->resp[table_special(t, 0, SP_CONTINUE)];
        a->interim_off = i->stream_off;  /* 100 Continue first: no body byte came yet */
        a->interim_len = i->stream_len;
        a->interim_date_off = i->date_off;
    }
    return 1;
}
