/*
 * dynamic.c - requests answered by the application's own code (@app.dynamic): the
 * routes, and the record of a request the application gets, for both transports.
 *
 * Python -> ssdk_dynamic_route, ssdk_dynamic_set, ssdk_dynamic_clear
 * decide.c (http_decide) -> dyn_match: is the request the application's?
 * dyn_conn.c (the stack's connections), answer.c (kernel sockets) -> dyn_in_new
 *        -> hp_run_fields (http/: where the method, target and fields are)
 *        -> dyn_body_begin, dyn_body_read -> hp_body_run (http/: the length or chunked
 *        decoder) -> body_room, body_data -> dyn_request (the record handed up)
 *
 * Invariants: a request's record is one allocation (struct dyn_in: where its parts are,
 * its head, its body), and its body never grows past the route's limit (max_body: a
 * chunked body over it is refused, 413), so what a connection holds for the application
 * is bounded by the queue's depth times that. The record handed up points into it: it
 * lives as long as the call it is handed up in (or the caller's struct ssdk_pending).
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
