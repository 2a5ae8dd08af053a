/*
 * dynamic.c - requests answered by the application's own code (@app.dynamic), and the
 * responses it gives back.
 *
 * serve.c (http_serve: decide.c says D_APP) -> dyn_start -> dyn_in_new -> hp_run_fields
 *        (http/: where the method, target and fields are) -> [body: on_recv ->
 *        dyn_body_in -> dyn_body_read -> hp_body_run (http/: the length or chunked
 *        decoder) -> h->dyn_in] -> dyn_ready (queued for the pass)
 * answer.c (the kernel-socket path) -> dyn_in_new, dyn_body_begin, dyn_body_read,
 *        dyn_request: the same request record, without a connection
 * loop.c (end of a pass) -> dyn_flush -> the application's callback, once, with every
 *        request made ready in the pass (Python: extern "Python", batched)
 *        -> tcp_ack_flush (a request not answered at once is acknowledged alone)
 * the application -> ssdk_respond -> an RK_DYN response (a copy) -> resp_flush (resp.c)
 *        -> tcp_output: tcp/
 *        sends it like a template's, resp.c summing each segment as it goes
 *
 * Invariants: a connection has at most one request with the application (an RK_WAIT
 * response in its queue, and h->dyn_in); TCP's stream stops at it, and the responses
 * queued behind it (table responses: a second request for the application waits in
 * the buffer) go once its answer comes, so pipelined requests are answered in order
 * whenever the answers come. A response the application gave is kept whole
 * until it is acknowledged, since it cannot be rebuilt: retransmissions copy from it.
 * The buffers of a connection go with it (on_gone); a token names a connection slot and
 * its incarnation, so an answer for a connection that has gone is refused.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/engine.h"

struct dyn_route {
    uint8_t  prefix[HTTP_TARGET_MAX * 3];
    uint32_t len;
    uint32_t id;
    uint32_t max_body;
    uint8_t  exact;
};

int ssdk_dynamic_route(struct ssdk_engine *e, const uint8_t *key, uint32_t len, int exact,
                       uint32_t id, uint32_t max_body)
{
    if (len == 0 || len > sizeof(e->dyn_routes[0].prefix) || key[0] != '/')
        return -1;
    struct dyn_route *r = realloc(e->dyn_routes, (e->ndyn + 1) * sizeof(*r));
    if (!r)
        return -1;
    e->dyn_routes = r;
    r = &e->dyn_routes[e->ndyn++];
    memcpy(r->prefix, key, len);
    r->len = len;
    r->id = id;
    r->max_body = max_body;
    r->exact = (uint8_t)!!exact;
    return 0;
}

void ssdk_dynamic_set(struct ssdk_engine *e, ssdk_request_fn fn, void *ctx)
{
    e->dyn_fn = fn;
    e->dyn_ctx = ctx;
}

void ssdk_dynamic_clear(struct ssdk_engine *e)
{
    free(e->dyn_routes);  /* a request under way keeps its route's id, not the route */
    e->dyn_routes = NULL;
    e->ndyn = 0;
}

/* The dynamic route for route key `key`: an exact one first, else the longest prefix. */
const struct dyn_route *dyn_match(const struct ssdk_engine *e, const uint8_t *key,
                                  size_t len)
{
    const struct dyn_route *best = NULL;
    for (uint32_t i = 0; i < e->ndyn; i++) {
        const struct dyn_route *r = &e->dyn_routes[i];
        if (r->exact) {
            if (r->len == len && !memcmp(r->prefix, key, len))
                return r;
        } else if (r->len <= len && !memcmp(r->prefix, key, r->len)
                   && (!best || r->len > best->len)) {
            best = r;
        }
    }
    return best;
}

uint32_t dyn_max_body(const struct dyn_route *r) { return r->max_body; }
uint32_t dyn_route_id(const struct dyn_route *r) { return r->id; }

/*
 * The request the parser finished in head (p->pos bytes), for the application (d:
 * D_APP): one allocation with where its parts are, its head, and room for a
 * Content-Length body or the first part of a chunked one. The parser runs over the head
 * once more to say where the method, target and field lines are (hp_run_fields), so no
 * connection carries a field index while it reads a request. NULL without memory.
 */
struct dyn_in *dyn_in_new(const struct http_parse *p, const uint8_t *head,
                          const struct http_decision *d)
{
    const struct dyn_route *r = d->route;
    uint32_t hlen = p->pos, nf = p->fields;
    uint32_t cap = d->body == BF_CHUNKED ? (r->max_body < 4096 ? r->max_body : 4096)
                 : d->body == BF_LENGTH ? d->length : 0;
    struct dyn_in *in = malloc(sizeof(*in) + nf * sizeof(struct ssdk_field) + hlen + cap);
    if (!in)
        return NULL;
    *in = (struct dyn_in){.route = r->id, .head_len = hlen, .cap = cap,
                          .max_body = r->max_body, .keep = d->keep, .is_head = d->head,
                          .nfields = (uint16_t)nf};
    memcpy(dyn_head(in), head, hlen);
    struct http_parse again = {0};
    struct hp_fields f = {.f = in->fields, .cap = (uint16_t)nf};
    enum hp_result res = hp_run_fields(&again, dyn_head(in), hlen, &f);
    /* The same parser over the same bytes comes to the same end. */
    SSDK_ASSERT(res == HP_DONE && again.pos == hlen && f.n == nf);
    (void)res;
    in->method_len = f.method_len;
    in->target_off = f.target_off;
    in->target_len = f.target_len;
    SSDK_ASSERT(in->method_len > 0 && in->method_len < hlen
                && (uint32_t)in->target_off + in->target_len <= hlen);
    for (uint32_t i = 0; i < nf; i++)
        SSDK_ASSERT((uint32_t)in->fields[i].name_off + in->fields[i].name_len <= hlen
                    && (uint32_t)in->fields[i].value_off + in->fields[i].value_len <= hlen);
    return in;
}

/* The body decoder for the request in `in`: its framing, as decided. */
void dyn_body_begin(struct hp_body *b, struct dyn_in *in, const struct http_decision *d)
{
    hp_body_start(b, d->body == BF_CHUNKED, d->length);
    if (d->body != BF_CHUNKED)
        in->body_len = d->length;
}

/* Room for n more body bytes, up to the route's limit; 0 when over it (413). */
static int body_room(void *arg, uint32_t n)
{
    struct dyn_in **pin = arg, *in = *pin;
    if ((uint64_t)in->got + n > in->max_body)
        return 0;
    if (in->got + n <= in->cap)
        return 1;
    uint32_t cap = in->cap ? in->cap : 1;
    while (cap < in->got + n)
        cap = cap > in->max_body / 2 ? in->max_body : cap * 2;
    struct dyn_in *grown = realloc(in, sizeof(*in) + in->nfields * sizeof(struct ssdk_field)
                                           + in->head_len + cap);
    if (!grown)
        return 0;
    grown->cap = cap;
    *pin = grown;
    return 1;
}

/* Body bytes for the application: into the request, after its head. */
static void body_data(void *arg, const uint8_t *p, uint32_t n)
{
    struct dyn_in *in = *(struct dyn_in **)arg;
    memcpy(dyn_head(in) + in->head_len + in->got, p, n);
    in->got += n;
}

/* Body bytes p[0..n) through the decoder (http/http_body.c) into *in (which may move as
 * it grows); how many were the body's. Once b->kind is HB_NONE the body is whole, or
 * refused (b->failed). */
uint32_t dyn_body_read(struct hp_body *b, struct dyn_in **in, const uint8_t *p, uint32_t n)
{
    const struct hp_body_sink sink = {.arg = in, .chunk = body_room, .data = body_data};
    int chunked = b->kind == HB_CHUNKED;
    uint32_t used = hp_body_run(b, p, n, &sink);
    if (b->kind == HB_NONE && !b->failed && chunked)
        (*in)->body_len = (*in)->got;
    return used;
}

/* The record the application gets for a whole request (its arrays point into in). */
struct ssdk_request dyn_request(struct dyn_in *in, uint64_t token)
{
    uint8_t *head = dyn_head(in);
    return (struct ssdk_request){
        .token = token, .route = in->route, .head = head, .head_len = in->head_len,
        .body = head + in->head_len, .body_len = in->body_len,
        .keep = in->keep, .is_head = in->is_head, .method_len = in->method_len,
        .target_off = in->target_off, .target_len = in->target_len,
        .nfields = in->nfields, .fields = in->fields,
    };
}

static void dyn_ready(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    h->dyn_in->queued = 1;
    e->dyn_batch[e->ndyn_batch++] = tcb_index(&e->tcp, c);
}

/* The request of c (header block parsed, hp.pos bytes) goes to the application: its
 * head and the body bytes buffered so far are copied out, the rest follows through
 * on_recv (serve.c) and the body decoder. Returns 0, or -1 when there is no memory. */
int dyn_start(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
              const struct http_decision *d)
{
    uint32_t hlen = h->hp.pos;
    struct dyn_in *in = dyn_in_new(&h->hp, c->rcv.buf, d);
    if (!in)
        return -1;
    h->dyn_in = in;
    tcp_rcv_drop_held(c);  /* held bytes beyond a gap are body: let the peer resend them */
    h->req_since_ms = 0;
    resp_push(e, c, h, RK_WAIT);  /* the stream stops here until the answer */
    dyn_body_begin(&h->body, in, d);
    uint32_t rest = c->rcv.len - hlen;
    uint32_t used = h->body.kind != HB_NONE ? dyn_body_in(e, c, h, c->rcv.buf + hlen, rest) : 0;
    if (h->body.kind == HB_NONE && d->body == BF_NONE && h->dyn_in && !h->dyn_in->queued)
        dyn_ready(e, c, h);  /* no body at all */
    if (resp_waiting(h)) {  /* not refused by the decoder (that closes, the buffer empty) */
        tcp_recved(c, hlen + used);
        memset(&h->hp, 0, sizeof(h->hp));
    }
    return 0;
}

/*
 * Body bytes p[0..n) of the request on its way to the application, through the
 * decoder (http/http_body.c); returns how many were the body's (the rest, after its
 * end, is the next request's). Once the body is whole the request is ready for the
 * application; a malformed chunked body is refused with 400, one over the route's limit
 * with 413, and either closes the connection.
 */
uint32_t dyn_body_in(struct ssdk_engine *e, struct tcb *c, struct hconn *h, const uint8_t *p,
                     uint32_t n)
{
    uint32_t used = dyn_body_read(&h->body, &h->dyn_in, p, n);
    if (h->body.kind != HB_NONE)
        return used;
    if (h->body.failed) {
        free(h->dyn_in);
        h->dyn_in = NULL;
        stats(e)->dyn_bad_bodies++;
        http_refuse(e, c, h, h->body.error);
        return used;
    }
    dyn_ready(e, c, h);
    return used;
}

/* Hand every request made ready in this pass to the application, in one call. */
void dyn_flush(struct ssdk_engine *e)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->ndyn_batch; i++) {
        uint32_t idx = e->dyn_batch[i];
        struct dyn_in *in = e->hconns[idx].dyn_in;
        if (!in)
            continue;  /* gone since it was queued */
        e->dyn_reqs[n++] = dyn_request(in, ((uint64_t)e->tcp.incarnation[idx] << 32) | idx);
    }
    uint32_t batch = e->ndyn_batch;
    e->ndyn_batch = 0;
    if (n && e->dyn_fn)
        e->dyn_fn(e->dyn_ctx, e->dyn_reqs, n);
    stats(e)->dyn_requests += n;
    /* Requests the application did not answer at once are acknowledged now, alone. */
    for (uint32_t i = 0; i < batch; i++) {
        uint32_t idx = e->dyn_batch[i];
        if (e->hconns[idx].dyn_in)
            e->hconns[idx].dyn_in->queued = 0;
        tcp_ack_flush(&e->tcp, &e->tcp.conns[idx]);
    }
}

/* The connection a token names, if it still waits for its answer. */
static struct tcb *by_token(struct ssdk_engine *e, uint64_t token)
{
    uint32_t idx = (uint32_t)token;
    if (idx >= e->tcp.net.cfg.max_conns || e->tcp.incarnation[idx] != (uint32_t)(token >> 32))
        return NULL;
    struct tcb *c = &e->tcp.conns[idx];
    struct hconn *h = &e->hconns[idx];
    return c->state != TCP_NONE && resp_waiting(h) && h->dyn_in ? c : NULL;
}

int ssdk_respond(struct ssdk_engine *e, uint64_t token, const uint8_t *stream, uint64_t len,
                 uint32_t date_off, uint32_t conn_off, uint32_t status, int keep)
{
    struct tcb *c = by_token(e, token);
    if (!c) {
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
    keep = keep && h->dyn_in->keep;
    free(h->dyn_in);
    h->dyn_in = NULL;
    int w = resp_wait_at(h);
    struct resp *q = &h->rq[w];  /* the waiting one becomes the answer */
    q->kind = RK_DYN;
    q->out = out;
    q->end = q->seq + out->len;
    q->date_sec = e->date_sec;
    http_count_status(e, (uint16_t)status);
    if (!keep) {  /* the responses queued behind it are never sent */
        resp_cut(e, h, (uint8_t)(w + 1));
        q->close_token = 1;
        h->hflags |= HC_LAST;  /* a 100's answer queued behind it never starts */
        tcp_rcv_discard(c);
        memset(&h->hp, 0, sizeof(h->hp));
    }
    resp_flush(e, c, h);  /* those behind it follow it, up to the next wait */
    SSDK_DEBUG_ONLY(resp_check(e, c, h));
    http_sync_tcp(e, c, h);
    tcp_output(&e->tcp, c);  /* the answer carries the ACK it was held for, if any */
    return 0;
}

/* A connection's dynamic request goes with it (its answer is a response: resp.c). */
void dyn_drop(struct hconn *h)
{
    free(h->dyn_in);
    h->dyn_in = NULL;
}
