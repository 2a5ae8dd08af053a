/*
 * http.c - what a request is answered with, and what becomes of its bytes: the body
 * discarded, a 100 Continue before a body we discard, pipelined requests one after
 * another, a 408 for a request that never completes.
 *
 * tcp_in.c (conn_progress) -> http_serve -> hp_run (http_parse.c: the grammar)
 *                                        -> choose -> table_host, hp_path_key,
 *                                                     table_route, variant_choose
 *                                        -> start_response (queues the FIN if closing)
 * tcp_timer.c (idle timer) -> http_request_timeout -> start_response
 *
 * Invariants: a connection sends one response at a time (c->resp), and http_serve runs
 * only when there is none, that is once the last one is acknowledged whole
 * (conn_progress); so pipelined requests wait in the buffer and are answered in the
 * order they came. A request leaves the buffer (req_consume) before its response starts,
 * so none is answered twice. Whatever the parser refuses is answered with a special
 * response that closes the connection, and nothing after it is read, so a stream whose
 * framing is in doubt is never read on.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/engine.h"

/* The status counters, by status; a 100 Continue is no answer to a request. */
void http_count_status(struct ssdk_engine *e, uint16_t status)
{
    struct ssdk_stats *st = e->st;
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
    struct ssdk_stats *st = e->st;
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

/* Start response idx on c (its header block only for HEAD); a closing response queues
 * the FIN right behind it. The response comes from the current table, unless c already
 * holds the table it is to come from (the answer behind a 100 Continue: resp_take). */
static void start_response(struct ssdk_engine *e, struct conn *c, uint32_t idx, int keep,
                           int head, uint8_t why)
{
    if (c->resp == NONE32)
        resp_hold(e, c, idx);
    const struct table *t = conn_table(e, c);
    const struct ssdk_resp *r = &t->resp[idx];
    c->resp_seq = c->snd_nxt;
    c->resp_end = c->resp_seq + resp_span(r, c, head);
    c->date_sec = e->date_sec;
    count(e, t, idx, why);
    if (!keep || (r->flags & RESP_CLOSE)) {
        c->flags |= CF_CLOSE | CF_CLOSE_TOKEN;
        c->req_len = 0;  /* nothing after a closing response is read (RFC 9112 9.6) */
        c->nooo = 0;
        memset(&c->hp, 0, sizeof(c->hp));
        conn_queue_fin(e, c, c->resp_end);
    } else {
        c->flags &= (uint8_t)~CF_CLOSE_TOKEN;
    }
}

/* Drop the first n request bytes, and with them the parser's hold on them. Bytes held
 * beyond a gap (tcp_reass.c) sit in req[] past req_len at their distance from RCV.NXT,
 * so they move along. */
static void req_consume(struct conn *c, uint32_t n)
{
    uint32_t span = c->req_len;
    for (uint8_t i = 0; i < c->nooo; i++) {
        uint32_t end = c->req_len + (c->ooo[i][1] - c->rcv_nxt);
        if (end > span)
            span = end;
    }
    memmove(c->req, c->req + n, span - n);
    c->req_len = (uint16_t)(c->req_len - n);
    c->req_since_ms = 0;  /* what is left, if anything, starts its clock when served */
    memset(&c->hp, 0, sizeof(c->hp));
}

/*
 * RFC 9112 2.2: empty lines before a request line are ignored (clients send a stray CRLF
 * after a body). They are dropped as they arrive, so they never start the request-header
 * clock. Returns 0 when nothing is left to parse; a CR alone waits for its LF.
 */
static int skip_empty_lines(struct conn *c)
{
    uint32_t i = 0;
    for (;;) {
        if (i < c->req_len && c->req[i] == '\n')
            i++;
        else if (i + 1 < c->req_len && c->req[i] == '\r' && c->req[i + 1] == '\n')
            i += 2;
        else
            break;
    }
    if (i)
        req_consume(c, i);
    return c->req_len > 1 || (c->req_len == 1 && c->req[0] != '\r');
}

/*
 * The response for a request the parser accepted (RFC 9110 9.1, 9.3, 15.5.5, 15.5.6):
 * the section of its host (a virtual host's, or the default), the route of its path
 * there, and of that route's variants the one the request's fields call for (variant.c;
 * for a 206, the part of the body goes to c->rng_*).
 */
static uint32_t choose(struct ssdk_engine *e, struct conn *c, uint8_t *why)
{
    const struct http_parse *p = &c->hp;
    const struct table *t = cur_table(e);
    uint16_t sec = table_host(t, c->req + p->host, p->host_len);
    if (p->form == TF_ASTERISK)
        return table_special(t, sec, SP_OPTIONS);  /* OPTIONS *: the server as a whole */
    if (p->form == TF_AUTHORITY)
        return table_special(t, sec, SP_405);  /* CONNECT host:port: we tunnel nowhere */
    static const uint8_t root = '/';
    const uint8_t *path = p->path_len ? c->req + p->path : &root;  /* http://host is "/" */
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
        struct range_pick rg = {0, 0};
        uint32_t idx = variant_choose(e, p, t, route, &rg);
        c->rng_first = rg.first;
        c->rng_len = rg.len;
        return idx;
    }
    return table_special(t, sec, p->method == M_OPTIONS ? SP_OPTIONS : SP_405);
}

/*
 * The request's body (Content-Length bytes; the parser refused every other framing) is
 * read and discarded: what is buffered now, then the rest as it arrives (tcp_reass.c).
 * RFC 9110 10.1.1: a client that sent "Expect: 100-continue" waits for a 100 before the
 * body; we send one when no body byte has come yet and the answer keeps the connection
 * (a closing answer goes at once, and the body is never read). The answer itself waits
 * behind the 100, as the next response. Returns 1 if the 100 was started.
 */
static int body_follows(struct ssdk_engine *e, struct conn *c, const struct http_parse *rq,
                        uint32_t idx, int head)
{
    uint32_t have = c->req_len < rq->content_length ? c->req_len : rq->content_length;
    req_consume(c, have);
    c->body_skip = rq->content_length - have;
    if (!c->body_skip)
        return 0;
    c->nooo = 0;  /* held bytes may be body: let the peer send them again */
    if (have || rq->minor == 0 || !(rq->flags & HF_CONTINUE))
        return 0;  /* RFC 9110 10.1.1: a 1.0 request's expectation is ignored */
    c->next_resp = idx;
    c->next_gen = gen_hold(e);  /* the answer comes from the table it was chosen in */
    c->hflags = HC_NEXT | (head ? HC_NEXT_HEAD : 0);
    start_response(e, c, table_special(cur_table(e), 0, SP_CONTINUE), 1, 0, W_NONE);
    return 1;
}

/* The request-header timeout ran out (tcp_timer.c): answer 408 and close (RFC 9110
 * 15.5.9). Returns 0 when there is no partial request to answer. */
int http_request_timeout(struct ssdk_engine *e, struct conn *c)
{
    if (c->resp != NONE32 || (c->flags & (CF_CLOSE | CF_FIN_QUEUED)) || !c->req_len
        || (c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT))
        return 0;
    int head = c->hp.method == M_HEAD;
    start_response(e, c, table_special(cur_table(e), 0, SP_408), 0, head, W_NONE);
    return 1;
}

/* The answer to the request the parser finished (res: HP_DONE or HP_ERROR): the
 * response, whether the connection may stay (RFC 9112 9.3: 1.1 persists unless told to
 * close, 1.0 only when asked to; a refused request never), and why, for the counters. */
static uint32_t decide(struct ssdk_engine *e, struct conn *c, enum hp_result res, int *keep,
                       uint8_t *why)
{
    const struct http_parse *rq = &c->hp;
    *why = rq->why;
    *keep = 0;
    if (res == HP_ERROR)
        return table_special(cur_table(e), 0, (enum special_resp)rq->error);
    uint32_t idx = choose(e, c, why);
    *keep = *why == W_NONE && !(rq->flags & HF_CLOSE)
            && (rq->minor >= 1 || (rq->flags & HF_KEEP));
    return idx;
}

/* Refuse the request c was reading for the application (a malformed or oversized
 * chunked body): the special response sp, and the connection closes. */
void http_refuse(struct ssdk_engine *e, struct conn *c, uint8_t sp)
{
    c->resp = NONE32;
    start_response(e, c, table_special(cur_table(e), 0, (enum special_resp)sp), 0, 0,
                   W_FRAMING);
}

/*
 * A request for a path no table holds goes to the application when one of its dynamic
 * routes takes the path (dynamic.c). Returns 1 if it went, or was refused as too large
 * for the route (413, closing); 0 if no dynamic route takes it.
 */
static int to_application(struct ssdk_engine *e, struct conn *c, int keep, int head)
{
    const struct http_parse *p = &c->hp;
    if (!p->path_len)
        return 0;
    uint8_t dec[HTTP_TARGET_MAX], key[3 * HTTP_TARGET_MAX];
    size_t klen;
    if (hp_path_key(c->req + p->path, p->path_len, dec, key, &klen))
        return 0;
    const struct dyn_route *r = dyn_match(e, key, klen);
    if (!r)
        return 0;
    if ((p->flags & HF_TE_CODED) || p->content_length > dyn_max_body(r)) {
        /* RFC 9110 15.5.14; a coding besides chunked we cannot undo for the handler */
        req_consume(c, p->pos);
        start_response(e, c, table_special(cur_table(e), 0, SP_413), 0, head, W_NONE);
        return 1;
    }
    return dyn_start(e, c, r, keep, head) == 0;
}

/*
 * The connection has no response in flight: start the one behind a 100 Continue, or
 * read on in the buffered request and, once it is whole or refused, answer it.
 */
int http_serve(struct ssdk_engine *e, struct conn *c)
{
    if (c->resp != NONE32 || (c->flags & (CF_CLOSE | CF_FIN_QUEUED)))
        return 0;
    if (c->hflags & HC_NEXT) {  /* the 100 Continue is through: now the answer */
        int head = !!(c->hflags & HC_NEXT_HEAD);
        c->hflags = 0;
        resp_take(c, c->next_resp, c->next_gen);
        start_response(e, c, c->next_resp, 1, head, W_NONE);
        return 1;
    }
    if (c->hp.pos == 0 && !skip_empty_lines(c))
        return 0;
    if (!c->req_since_ms)
        c->req_since_ms = now_ms(e) ? now_ms(e) : 1;
    enum hp_result res = hp_run(&c->hp, c->req, c->req_len);
    if (res == HP_MORE) {
        if (c->req_len < REQ_CAP)
            return 0;
        res = hp_fail(&c->hp, SP_431, W_NONE);  /* RFC 6585 5: larger than our buffer */
    }
    struct http_parse rq = c->hp;
    int head = rq.method == M_HEAD, keep;
    uint8_t why;
    uint32_t idx = decide(e, c, res, &keep, &why);
    const struct table *t = cur_table(e);
    if (e->ndyn && res == HP_DONE && t->resp[idx].status == 404  /* no route, any host */
        && to_application(e, c, keep, head))
        return 1;
    if (res == HP_DONE && (rq.flags & HF_TE))  /* a chunked body only the app reads */
        idx = table_special(t, 0, SP_411), keep = 0;
    req_consume(c, rq.pos);
    int closing = !keep || (cur_table(e)->resp[idx].flags & RESP_CLOSE);
    if (!closing && rq.content_length && body_follows(e, c, &rq, idx, head))
        return 1;
    start_response(e, c, idx, keep, head, why);
    return 1;
}

/*
 * The same choice for a request that came through a kernel socket (ssdk dev without the
 * privileges for a TAP device): no connection of ours, no TCP. The request's bytes go
 * through the same parser and table into a scratch connection, and the answer says
 * where the response's bytes are, for the caller to write. Returns 1 with an answer,
 * 0 when the header block is not complete yet, -1 without a table.
 */
int ssdk_http_answer(struct ssdk_engine *e, const uint8_t *req, uint32_t len,
                     struct ssdk_answer *a)
{
    memset(a, 0, sizeof(*a));
    if (!e->table_loaded)
        return -1;
    if (!e->scratch && !(e->scratch = calloc(1, sizeof(struct conn))))
        return -1;
    struct conn *c = e->scratch;
    uint32_t skip = 0;  /* empty lines before a request line are ignored (RFC 9112 2.2) */
    while (skip < len && (req[skip] == '\n'
                          || (req[skip] == '\r' && skip + 1 < len && req[skip + 1] == '\n')))
        skip += req[skip] == '\r' ? 2 : 1;
    uint32_t n = len - skip < REQ_CAP ? len - skip : REQ_CAP;
    memset(&c->hp, 0, sizeof(c->hp));
    memcpy(c->req, req + skip, n);
    c->req_len = (uint16_t)n;
    enum hp_result res = hp_run(&c->hp, c->req, n);
    if (res == HP_MORE) {
        if (n < REQ_CAP)
            return 0;
        res = hp_fail(&c->hp, SP_431, W_NONE);
    }
    int keep;
    uint8_t why;
    /* The caller writes the stored bytes as they are: a whole 200, never a 206 slice. */
    c->hp.pf.flags &= (uint16_t)~PF_RANGE;
    uint32_t idx = decide(e, c, res, &keep, &why);
    const struct table *t = cur_table(e);
    if (res == HP_DONE && (c->hp.flags & HF_TE))  /* chunked bodies are not read here */
        idx = table_special(t, 0, SP_411), keep = 0;
    const struct ssdk_resp *r = &t->resp[idx];
    keep = keep && !(r->flags & RESP_CLOSE);
    count(e, t, idx, why);
    a->status = r->status;
    a->consumed = skip + c->hp.pos;
    a->keep = (uint32_t)keep;
    a->body = keep ? c->hp.content_length : 0;
    a->generation = e->gen_id[e->cur];
    a->stream_off = r->stream_off;
    a->stream_len = c->hp.method == M_HEAD ? r->hdr_len : r->stream_len;
    a->date_off = r->date_off;
    a->conn_off = r->conn_off;
    if (a->body && (c->hp.flags & HF_CONTINUE) && c->hp.minor >= 1 && n == c->hp.pos) {
        const struct ssdk_resp *i = &t->resp[table_special(t, 0, SP_CONTINUE)];
        a->interim_off = i->stream_off;  /* 100 Continue first: no body byte came yet */
        a->interim_len = i->stream_len;
        a->interim_date_off = i->date_off;
    }
    return 1;
}
