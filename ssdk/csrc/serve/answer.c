/*
 * answer.c - requests that came through a kernel socket (ssdk dev without the
 * privileges for a TAP device): no connection of ours, no TCP. The request's bytes go
 * through the same parser in a scratch buffer and the same decision (decide.c) as the
 * stack's; the answer says where a table's response is, for the caller to write, or
 * that the application answers, whose request (head, where its parts are, body decoded
 * as the stack decodes it) the caller gets from ssdk_http_body.
 *
 * Python (ssdk/tools/kernel_serve.py) -> ssdk_http_answer -> hp_run (http/)
 *        -> http_decide (decide.c) -> table_answer -> http_count
 *                                  -> dyn_in_new, dyn_body_begin (dynamic.c)
 *        -> ssdk_http_body -> dyn_body_read (dynamic.c: the body decoder), dyn_request
 *
 * Invariants: the scratch holds one parse, used within one call; a request for the
 * application is the caller's (struct ssdk_pending, one per connection) until it frees
 * it, so requests on several sockets may read their bodies at once. The decision is http_decide's, so a request gets the same status, route and keep-alive
 * through a kernel socket as through the stack. The caller writes the stored bytes as
 * they are: a whole 200, never a 206 slice.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/engine.h"

/* The kernel-socket path's parser state: a request buffer and its parse. */
struct http_scratch {
    struct http_parse hp;
    uint8_t buf[TCP_RCV_CAP];
};

/* A request for the application whose body is being read: the caller's, one per
 * connection (requests on several kernel sockets are under way at once). */
struct ssdk_pending {
    struct hp_body body;
    struct dyn_in *in;
    uint8_t done;             /* in is whole, handed to the caller */
};

void answer_free(struct ssdk_engine *e)
{
    free(e->scratch);
    e->scratch = NULL;
}

void ssdk_http_pending_free(struct ssdk_pending *pd)
{
    if (pd)
        free(pd->in);
    free(pd);
}

/* Response idx of the current table as the caller writes it; counted. */
static void table_answer(struct ssdk_engine *e, uint32_t idx, int keep, int head, uint8_t why,
                         struct ssdk_answer *a)
{
    const struct table *t = cur_table(e);
    const struct ssdk_resp *r = &t->resp[idx];
    http_count(e, t, idx, why);
    a->status = r->status;
    a->keep = (uint32_t)keep;
    a->generation = e->gen_id[e->cur];
    a->stream_off = r->stream_off;
    a->stream_len = head ? r->hdr_len : r->stream_len;
    a->date_off = r->date_off;
    a->conn_off = r->conn_off;
}

/* Returns 1 with an answer, 0 when the header block is not complete yet, -1 without a
 * table (or memory). */
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
    sc->hp.pf.flags &= (uint16_t)~PF_RANGE;  /* no 206: the stored bytes go whole */
    struct http_decision d;
    http_decide(e, &sc->hp, sc->buf, res, &d);
    a->consumed = skip + sc->hp.pos;
    int early = n > sc->hp.pos;  /* a body byte came with the head */
    if (d.kind == D_APP) {
        struct ssdk_pending *pd = calloc(1, sizeof(*pd));
        if (pd && (pd->in = dyn_in_new(&sc->hp, sc->buf, &d))) {
            dyn_body_begin(&pd->body, pd->in, &d);
            a->pending = pd;
            a->app = 1;
            a->route = dyn_route_id(d.route);
            a->keep = d.keep;
            a->body = d.body == BF_LENGTH ? d.length : 0;
            a->chunked = d.body == BF_CHUNKED;
        } else {  /* no memory for it: the 404 it would have been, closing */
            free(pd);
            d.kind = D_REFUSE, d.keep = 0, d.cont = 0;
        }
    }
    if (d.kind != D_APP) {
        table_answer(e, d.idx, d.keep, d.head, d.why, a);
        a->body = d.body == BF_LENGTH ? d.length : 0;
    }
    if (d.cont && !early) {  /* RFC 9110 10.1.1: no body byte came yet: a 100 first */
        const struct table *t = cur_table(e);
        const struct ssdk_resp *i = &t->resp[table_special(t, 0, SP_CONTINUE)];
        a->generation = e->gen_id[e->cur];
        a->interim_off = i->stream_off;
        a->interim_len = i->stream_len;
        a->interim_date_off = i->date_off;
    }
    return 1;
}

int ssdk_http_body(struct ssdk_engine *e, struct ssdk_pending *pd, const uint8_t *p,
                   uint32_t n, uint32_t *used, struct ssdk_request *req, struct ssdk_answer *a)
{
    *used = 0;
    if (!pd || !pd->in || pd->done)
        return -1;
    *used = pd->body.kind != HB_NONE ? dyn_body_read(&pd->body, &pd->in, p, n) : 0;
    if (pd->body.kind != HB_NONE)
        return 0;
    if (pd->body.failed) {  /* malformed (400) or over the route's limit (413): closes */
        free(pd->in);
        pd->in = NULL;
        stats(e)->dyn_bad_bodies++;
        memset(a, 0, sizeof(*a));
        table_answer(e, table_special(cur_table(e), 0, (enum special_resp)pd->body.error), 0,
                     0, W_FRAMING, a);
        return 2;
    }
    pd->done = 1;
    stats(e)->dyn_requests++;
    *req = dyn_request(pd->in, 0);
    return 1;
}
