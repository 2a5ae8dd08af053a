/*
 * decide.c - what a request is answered with: the one decision both transports take,
 * the stack's connections (serve.c: http_serve) and kernel sockets (answer.c:
 * ssdk_http_answer). A response of the table (which one, the part of a 206, keep-alive or
 * close), the application (a dynamic route takes a path no table holds), or a refusal
 * that closes; and what follows the head: no body, Content-Length bytes or a chunked
 * body, and whether a 100 Continue is due before it. The transports only act on it.
 *
 * serve.c (http_serve), answer.c (ssdk_http_answer) -> http_decide
 *        -> choose -> table_host, hp_path_key, table_route, variant_choose (variant.c)
 *        -> to_application -> dyn_match (dynamic.c)
 * serve.c (start_response), answer.c -> http_count -> http_count_status
 *
 * Invariants: the static path costs what it did before the decision was shared (the
 * choice, then a look at the dynamic routes only for a 404 when there are any); a
 * chunked body is read only for the application (411 otherwise, RFC 9112 6.3); a
 * refusal never keeps the connection and never reads a body.
 */
#include <string.h>
#include "serve/engine.h"

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
void http_count(struct ssdk_engine *e, const struct table *t, uint32_t idx, uint8_t why)
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
        return variant_choose(e, p, t, route, rg);
    }
    return table_special(t, sec, p->method == M_OPTIONS ? SP_OPTIONS : SP_405);
}

/*
 * A request for a path no table holds goes to the application when one of its dynamic
 * routes takes the path (dynamic.c), with its body: Content-Length bytes or chunked,
 * which only the application's requests may have. One too large for the route is
 * refused (RFC 9110 15.5.14: 413, closing), as is a coding besides chunked, which we
 * cannot undo for the handler. Returns 0 if no dynamic route takes the path.
 */
static int to_application(struct ssdk_engine *e, const struct http_parse *p,
                          const uint8_t *req, struct http_decision *d)
{
    if (!p->path_len)
        return 0;
    uint8_t dec[HTTP_TARGET_MAX], key[3 * HTTP_TARGET_MAX];
    size_t klen;
    if (hp_path_key(req + p->path, p->path_len, dec, key, &klen))
        return 0;
    const struct dyn_route *r = dyn_match(e, key, klen);
    if (!r)
        return 0;
    if ((p->flags & HF_TE_CODED) || p->content_length > dyn_max_body(r)) {
        d->kind = D_REFUSE;
        d->idx = table_special(cur_table(e), 0, SP_413);
        d->keep = 0;
        return 1;
    }
    d->kind = D_APP;
    d->route = r;
    if (p->flags & HF_TE)
        d->body = BF_CHUNKED;
    else if (p->content_length)
        d->body = BF_LENGTH, d->length = p->content_length;
    /* RFC 9110 10.1.1: the client waits for a 100 before the body; a 1.0 request's
     * expectation is ignored. */
    d->cont = d->body != BF_NONE && (p->flags & HF_CONTINUE) && p->minor >= 1;
    return 1;
}

/*
 * The answer to the request the parser finished in buf (res: HP_DONE or HP_ERROR). The
 * connection may stay (RFC 9112 9.3) when the request is 1.1 and not told to close, or
 * 1.0 and asked to keep alive, and the response does not always close; a refused
 * request never. A table's response to a request with a Content-Length body reads that
 * body to discard it, behind a 100 Continue when the client asked for one (RFC 9110
 * 10.1.1) and the connection stays; a closing answer goes at once and reads nothing.
 */
void http_decide(struct ssdk_engine *e, const struct http_parse *p, const uint8_t *buf,
                 enum hp_result res, struct http_decision *d)
{
    const struct table *t = cur_table(e);
    *d = (struct http_decision){.head = p->method == M_HEAD, .why = p->why};
    if (res == HP_ERROR) {
        d->kind = D_REFUSE;
        d->idx = table_special(t, 0, (enum special_resp)p->error);
        return;
    }
    d->idx = choose(e, p, buf, &d->rg, &d->why);
    d->keep = d->why == W_NONE && !(p->flags & HF_CLOSE)
              && (p->minor >= 1 || (p->flags & HF_KEEP));
    if (e->ndyn && t->resp[d->idx].status == 404  /* no route, any host */
        && to_application(e, p, buf, d))
        return;
    if (p->flags & HF_TE) {  /* a chunked body only the application reads */
        d->kind = D_REFUSE;
        d->idx = table_special(t, 0, SP_411);
        d->keep = 0;
        return;
    }
    d->keep = d->keep && !(t->resp[d->idx].flags & RESP_CLOSE);
    if (d->keep && p->content_length) {
        d->body = BF_LENGTH;
        d->length = p->content_length;
        d->cont = (p->flags & HF_CONTINUE) && p->minor >= 1;
    }
}
