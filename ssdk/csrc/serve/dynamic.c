/*
 * dynamic.c - requests answered by the application's own code (@app.dynamic), and the
 * responses it gives back.
 *
 * http.c (http_serve: a path no table holds) -> dyn_start -> [body: tcp_reass.c appends
 *        it to c->dyn_in while body_skip counts down] -> dyn_ready (queued for the pass)
 * loop.c (end of a pass) -> dyn_flush -> the application's callback, once, with every
 *        request made ready in the pass (Python: extern "Python", batched)
 * the application -> ssdk_respond -> c->dyn_out (a copy) -> tcp_output: tcp_out.c sends
 *        from it like from a template, summing each segment as it goes
 *
 * Invariants: a connection waits for the application (c->resp == RESP_WAIT) with nothing
 * to send and reads no further request meanwhile, so pipelined requests are still
 * answered in order. A response the application gave is kept whole in c->dyn_out until
 * it is acknowledged, since it cannot be rebuilt: retransmissions copy from it. The
 * buffers of a connection go with it (dyn_drop in conn_free); a token names a connection
 * slot and its incarnation, so an answer for a connection that has gone is refused.
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

/* The request of c (header block parsed, hp.pos bytes) goes to the application: its
 * head and the body bytes buffered so far are copied out, the rest follows through
 * tcp_reass.c (a Content-Length body counted down by body_skip, a chunked one through
 * the decoder). Returns 0, or -1 when there is no memory for it. */
int dyn_start(struct ssdk_engine *e, struct conn *c, const struct dyn_route *r, int keep,
              int head)
{
    uint32_t hlen = c->hp.pos;
    int chunked = !!(c->hp.flags & HF_TE);
    uint32_t cap = chunked ? (r->max_body < 4096 ? r->max_body : 4096) : c->hp.content_length;
    struct dyn_in *in = malloc(sizeof(*in) + hlen + cap);
    if (!in)
        return -1;
    *in = (struct dyn_in){.route = r->id, .head_len = hlen, .cap = cap,
                          .max_body = r->max_body, .keep = (uint8_t)keep,
                          .is_head = (uint8_t)head, .chunked = (uint8_t)chunked};
    memcpy(in->data, c->req, hlen);
    c->dyn_in = in;
    c->nooo = 0;  /* held bytes beyond a gap are body: let the peer send them again */
    c->req_since_ms = 0;
    c->resp = RESP_WAIT;  /* nothing to send, nothing more read, until the answer */
    c->resp_seq = c->resp_end = c->snd_nxt;
    uint32_t rest = c->req_len - hlen, used;
    if (chunked) {
        used = dyn_chunked(e, c, c->req + hlen, rest);
    } else {
        in->body_len = c->hp.content_length;
        used = rest < in->body_len ? rest : in->body_len;
        memcpy(in->data + hlen, c->req + hlen, used);
        in->got = used;
        c->body_skip = in->body_len - used;
        if (!c->body_skip)
            dyn_ready(e, c);
    }
    if (c->resp == RESP_WAIT) {  /* not refused by the decoder (that closes, req empty) */
        memmove(c->req, c->req + hlen + used, rest - used);
        c->req_len = (uint16_t)(rest - used);
        memset(&c->hp, 0, sizeof(c->hp));
    }
    return 0;
}

/* Body bytes of the request on its way to the application (from tcp_reass.c). */
void dyn_body(struct ssdk_engine *e, struct conn *c, const uint8_t *p, uint32_t n)
{
    struct dyn_in *in = c->dyn_in;
    memcpy(in->data + in->head_len + in->got, p, n);
    in->got += n;
    if (in->got == in->body_len)
        dyn_ready(e, c);
}

/* The chunk decoder's states (RFC 9112 7.1): a size line (hex digits, then extensions
 * up to CRLF), that many data bytes and their CRLF, and after the last (size 0) chunk,
 * trailer lines up to an empty line. */
enum { CS_SIZE, CS_EXT, CS_SIZE_LF, CS_DATA, CS_DATA_CR, CS_DATA_LF, CS_TRAILER_START,
       CS_TRAILER, CS_TRAILER_LF, CS_END_LF };

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Room for n more body bytes, up to the route's limit; 0 when over it (413). */
static int body_room(struct conn *c, uint32_t n)
{
    struct dyn_in *in = c->dyn_in;
    if ((uint64_t)in->got + n > in->max_body)
        return 0;
    if (in->got + n <= in->cap)
        return 1;
    uint32_t cap = in->cap ? in->cap : 1;
    while (cap < in->got + n)
        cap = cap > in->max_body / 2 ? in->max_body : cap * 2;
    struct dyn_in *grown = realloc(in, sizeof(*in) + in->head_len + cap);
    if (!grown)
        return 0;
    grown->cap = cap;
    c->dyn_in = grown;
    return 1;
}

/* The decoder gave up: the request is refused with sp, and the connection closes. */
static uint32_t chunk_refuse(struct ssdk_engine *e, struct conn *c, uint8_t sp, uint32_t used)
{
    free(c->dyn_in);
    c->dyn_in = NULL;
    e->st->dyn_bad_bodies++;
    http_refuse(e, c, sp);
    return used;
}

/*
 * Decode chunked body bytes p[0..n) into c->dyn_in; returns how many were the body's
 * (the rest, after the last chunk's trailer, is the next request's). A malformed body
 * is 400, one over the route's limit 413; either closes the connection.
 */
uint32_t dyn_chunked(struct ssdk_engine *e, struct conn *c, const uint8_t *p, uint32_t n)
{
    uint32_t i = 0;
    while (i < n && c->dyn_in && c->dyn_in->chunked) {
        struct dyn_in *in = c->dyn_in;
        uint8_t ch = p[i];
        switch (in->cstate) {
        case CS_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                if (in->digits++ == 8)  /* more than 32 bits of size */
                    return chunk_refuse(e, c, SP_413, i + 1);
                in->chunk_left = in->chunk_left * 16 + (uint32_t)v;
            } else if (in->digits && (ch == ';' || ch == ' ' || ch == '\t')) {
                in->cstate = CS_EXT;
            } else if (in->digits && ch == '\r') {
                in->cstate = CS_SIZE_LF;
            } else {
                return chunk_refuse(e, c, SP_400, i + 1);
            }
            i++;
            break;
        }
        case CS_EXT:  /* chunk extensions are ignored (RFC 9112 7.1.1) */
            if (ch == '\r')
                in->cstate = CS_SIZE_LF;
            else if (ch == '\n' || (ch < 0x20 && ch != '\t') || ch == 0x7f)
                return chunk_refuse(e, c, SP_400, i + 1);
            i++;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                return chunk_refuse(e, c, SP_400, i + 1);
            in->digits = 0;
            in->cstate = in->chunk_left ? CS_DATA : CS_TRAILER_START;
            if (in->chunk_left && !body_room(c, in->chunk_left))
                return chunk_refuse(e, c, SP_413, i + 1);
            i++;
            break;
        case CS_DATA: {
            uint32_t take = n - i < in->chunk_left ? n - i : in->chunk_left;
            memcpy(in->data + in->head_len + in->got, p + i, take);
            in->got += take;
            in->chunk_left -= take;
            i += take;
            if (!in->chunk_left)
                in->cstate = CS_DATA_CR;
            break;
        }
        case CS_DATA_CR:
        case CS_DATA_LF:
            if (ch != (in->cstate == CS_DATA_CR ? '\r' : '\n'))
                return chunk_refuse(e, c, SP_400, i + 1);
            in->cstate = in->cstate == CS_DATA_CR ? CS_DATA_LF : CS_SIZE;
            i++;
            break;
        case CS_TRAILER_START:  /* an empty line ends the body; anything else a trailer */
            in->cstate = ch == '\r' ? CS_END_LF : CS_TRAILER;
            if (ch == '\n')
                return chunk_refuse(e, c, SP_400, i + 1);
            i++;
            break;
        case CS_TRAILER:
            if (ch == '\r')
                in->cstate = CS_TRAILER_LF;
            i++;
            break;
        case CS_TRAILER_LF:
            if (ch != '\n')
                return chunk_refuse(e, c, SP_400, i + 1);
            in->cstate = CS_TRAILER_START;
            i++;
            break;
        case CS_END_LF:
            if (ch != '\n')
                return chunk_refuse(e, c, SP_400, i + 1);
            in->body_len = in->got;
            in->chunked = 0;  /* done: the rest is the next request's */
            dyn_ready(e, c);
            i++;
            break;
        }
    }
    return i;
}

void dyn_ready(struct ssdk_engine *e, struct conn *c)
{
    c->dyn_in->queued = 1;
    e->dyn_batch[e->ndyn_batch++] = conn_index(e, c);
}

/* Hand every request made ready in this pass to the application, in one call. */
void dyn_flush(struct ssdk_engine *e)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->ndyn_batch; i++) {
        uint32_t idx = e->dyn_batch[i];
        struct conn *c = &e->conns[idx];
        if (!c->dyn_in)
            continue;  /* gone since it was queued */
        struct dyn_in *in = c->dyn_in;
        e->dyn_reqs[n++] = (struct ssdk_request){
            .token = ((uint64_t)e->incarnation[idx] << 32) | idx,
            .route = in->route, .head = in->data, .head_len = in->head_len,
            .body = in->data + in->head_len, .body_len = in->body_len,
            .keep = in->keep, .is_head = in->is_head,
        };
    }
    uint32_t batch = e->ndyn_batch;
    e->ndyn_batch = 0;
    if (n && e->dyn_fn)
        e->dyn_fn(e->dyn_ctx, e->dyn_reqs, n);
    e->st->dyn_requests += n;
    /* Requests the application did not answer at once are acknowledged now, alone. */
    for (uint32_t i = 0; i < batch; i++) {
        struct conn *c = &e->conns[e->dyn_batch[i]];
        if (c->dyn_in)
            c->dyn_in->queued = 0;
        if (c->flags & CF_ACK_OWED) {
            c->flags &= (uint8_t)~CF_ACK_OWED;
            if (c->state != TCP_NONE)
                tcp_send_ctl(e, c, TH_ACK, c->snd_nxt);
        }
    }
}

/* The connection a token names, if it still waits for its answer. */
static struct conn *by_token(struct ssdk_engine *e, uint64_t token)
{
    uint32_t idx = (uint32_t)token;
    if (idx >= e->cfg.max_conns || e->incarnation[idx] != (uint32_t)(token >> 32))
        return NULL;
    struct conn *c = &e->conns[idx];
    return c->state != TCP_NONE && c->resp == RESP_WAIT && c->dyn_in ? c : NULL;
}

int ssdk_respond(struct ssdk_engine *e, uint64_t token, const uint8_t *stream, uint64_t len,
                 uint32_t date_off, uint32_t conn_off, uint32_t status, int keep)
{
    struct conn *c = by_token(e, token);
    if (!c) {
        e->st->dyn_orphans++;
        return -1;
    }
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
    keep = keep && c->dyn_in->keep;
    free(c->dyn_in);
    c->dyn_in = NULL;
    c->dyn_out = out;
    c->resp = RESP_DYN;
    c->resp_seq = c->snd_nxt;
    c->resp_end = c->resp_seq + out->len;
    c->date_sec = e->date_sec;
    http_count_status(e, (uint16_t)status);
    if (!keep) {
        c->flags |= CF_CLOSE | CF_CLOSE_TOKEN;
        c->req_len = 0;
        c->nooo = 0;
        conn_queue_fin(e, c, c->resp_end);
    } else {
        c->flags &= (uint8_t)~CF_CLOSE_TOKEN;
    }
    uint64_t sent = e->st->tx_frames;
    tcp_output(e, c);
    if ((c->flags & CF_ACK_OWED) && e->st->tx_frames != sent)
        c->flags &= (uint8_t)~CF_ACK_OWED;  /* the answer carried the ACK */
    return 0;
}

/* A connection's dynamic buffers go with it, or with its acknowledged response. */
void dyn_drop(struct conn *c)
{
    free(c->dyn_in);
    free(c->dyn_out);
    c->dyn_in = NULL;
    c->dyn_out = NULL;
}
