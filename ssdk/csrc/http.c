/*
 * http.c - the HTTP/1.x request parser (RFC 9112) and the choice of response.
 *
 * tcp_in.c (conn_progress) -> http_serve -> parse_request -> table_lookup
 *                                        -> start the response, queue FIN if closing
 *
 * A request is parsed only once its header block is complete in the connection's
 * buffer; until then nothing is looked at twice. The parser is strict where leniency
 * has caused request smuggling (whitespace before the colon, obsolete line folding,
 * Transfer-Encoding on a request we cannot read the body of, conflicting
 * Content-Length) and tolerant where RFC 9112 allows it (a bare LF ends a line).
 * Whatever it rejects is answered with a precomputed error response that closes the
 * connection, so the stream can never be misread afterwards.
 */
#include <string.h>
#include "engine.h"

#define TARGET_MAX 2048
#define BODY_SKIP_MAX (1u << 20)

struct request {
    int head;                  /* HEAD rather than GET */
    int keep_alive;
    const uint8_t *path;       /* origin-form path, without the query */
    size_t path_len;
    uint32_t content_length;
};

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
        || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int ieq(const uint8_t *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x + 32);
        if (x != y)
            return 0;
    }
    return 1;
}

/* Length of the header block (through the empty line), or 0 if it is incomplete. */
static size_t header_end(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] != '\n')
            continue;
        if (b[i + 1] == '\n')
            return i + 2;
        if (b[i + 1] == '\r' && i + 2 < n && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* One line, without its terminator. Returns the offset just past it. */
static size_t next_line(const uint8_t *b, size_t at, size_t end, size_t *len)
{
    size_t i = at;
    while (i < end && b[i] != '\n')
        i++;
    *len = i - at - (i > at && b[i - 1] == '\r');
    return i + 1;
}

static const char *const known_methods[] = {
    "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL,
};

/* Method, target and version. Returns a special response or NONE32 when acceptable. */
static uint32_t parse_request_line(const uint8_t *l, size_t n, struct request *rq, int *v11)
{
    size_t m = 0;
    while (m < n && is_tchar(l[m]))
        m++;
    if (m == 0 || m >= n || l[m] != ' ')
        return SP_400;
    size_t t = m + 1, te = t;
    while (te < n && l[te] > ' ' && l[te] < 0x7f)
        te++;
    if (te == t || te >= n || l[te] != ' ')
        return SP_400;
    const uint8_t *ver = l + te + 1;
    size_t vn = n - te - 1;
    if (vn != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.'
        || ver[5] < '0' || ver[5] > '9' || ver[7] < '0' || ver[7] > '9')
        return SP_400;
    if (ver[5] != '1')
        return SP_505;
    *v11 = ver[7] != '0';
    if (te - t > TARGET_MAX)
        return SP_414;
    if (m == 4 && !memcmp(l, "HEAD", 4))
        rq->head = 1;
    else if (!(m == 3 && !memcmp(l, "GET", 3))) {
        for (int i = 0; known_methods[i]; i++)
            if (strlen(known_methods[i]) == m && !memcmp(l, known_methods[i], m))
                return SP_405;
        return SP_501;
    }
    const uint8_t *p = l + t;
    size_t pn = te - t;
    if (pn > 7 && ieq(p, 7, "http://")) {  /* absolute-form: keep the path */
        size_t s = 7;
        while (s < pn && p[s] != '/' && p[s] != '?')
            s++;
        p += s;
        pn -= s;
        if (pn == 0 || p[0] == '?') {
            static const uint8_t root = '/';
            rq->path = &root;
            rq->path_len = 1;
            return NONE32;
        }
    }
    if (pn == 0 || p[0] != '/')
        return SP_400;
    size_t q = 0;
    while (q < pn && p[q] != '?' && p[q] != '#')
        q++;
    rq->path = p;
    rq->path_len = q;
    return NONE32;
}

/* Connection tokens (RFC 9110 7.6.1): a comma-separated list, case-insensitive. */
static void connection_tokens(const uint8_t *v, size_t n, int *close, int *keep)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (ieq(v + s, i - s, "close"))
            *close = 1;
        else if (ieq(v + s, i - s, "keep-alive"))
            *keep = 1;
    }
}

/* Header fields after the request line. Returns a special response or NONE32. */
static uint32_t parse_fields(const uint8_t *b, size_t at, size_t end, int v11,
                             struct request *rq)
{
    int close = 0, keep = 0, hosts = 0, have_cl = 0;
    size_t n;
    for (;;) {
        const uint8_t *l = b + at;
        at = next_line(b, at, end, &n);
        if (n == 0)
            break;
        if (l[0] == ' ' || l[0] == '\t')
            return SP_400;  /* obsolete line folding, RFC 9112 5.2 */
        size_t c = 0;
        while (c < n && is_tchar(l[c]))
            c++;
        if (c == 0 || c >= n || l[c] != ':')
            return SP_400;  /* no name, or whitespace before the colon (RFC 9112 5.1) */
        size_t vs = c + 1, ve = n;
        while (vs < ve && (l[vs] == ' ' || l[vs] == '\t'))
            vs++;
        while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
            ve--;
        for (size_t i = vs; i < ve; i++)
            if ((l[i] < ' ' && l[i] != '\t') || l[i] == 0x7f)
                return SP_400;
        const uint8_t *v = l + vs;
        size_t vn = ve - vs;
        if (ieq(l, c, "connection")) {
            connection_tokens(v, vn, &close, &keep);
        } else if (ieq(l, c, "host")) {
            hosts++;
        } else if (ieq(l, c, "transfer-encoding")) {
            return SP_400;  /* no request body is read yet; refuse rather than misframe */
        } else if (ieq(l, c, "content-length")) {
            uint64_t x = 0;
            if (vn == 0 || vn > 10)
                return SP_400;
            for (size_t i = 0; i < vn; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return SP_400;
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (x > BODY_SKIP_MAX || (have_cl && x != rq->content_length))
                return SP_400;
            have_cl = 1;
            rq->content_length = (uint32_t)x;
        }
    }
    if (v11 && hosts != 1)
        return SP_400;  /* RFC 9112 3.2: exactly one Host in HTTP/1.1 */
    if (hosts > 1)
        return SP_400;
    rq->keep_alive = v11 ? !close : (keep && !close);
    return NONE32;
}

static void count_status(struct ssdk_engine *e, uint16_t status)
{
    e->st->http_requests++;
    if (status >= 200 && status < 300)
        e->st->http_2xx++;
    else if (status >= 400 && status < 500)
        e->st->http_4xx++;
    else if (status >= 500)
        e->st->http_5xx++;
    if (status == 400)
        e->st->http_400++;
    else if (status == 404)
        e->st->http_404++;
    else if (status == 408)
        e->st->http_408++;
}

/* Start response idx on c; a closing response queues the FIN right behind it. */
static void start_response(struct ssdk_engine *e, struct conn *c, uint32_t idx, int keep)
{
    const struct ssdk_resp *r = &cur_table(e)->resp[idx];
    resp_hold(e, c, idx);
    c->resp_seq = c->snd_nxt;
    c->date_sec = e->date_sec;
    count_status(e, r->status);
    if (!keep || (r->flags & RESP_CLOSE)) {
        c->flags |= CF_CLOSE | CF_CLOSE_TOKEN;
        c->req_len = 0;
        c->nooo = 0;
        conn_queue_fin(e, c, c->resp_seq + (uint32_t)r->stream_len);
    } else {
        c->flags &= (uint8_t)~CF_CLOSE_TOKEN;
    }
}

/* Drop the first n request bytes. Bytes held beyond a gap (tcp_in.c, ooo_hold) sit in
 * req[] past req_len at their distance from RCV.NXT, so they move along. */
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
}

/* RFC 9112 2.2: empty lines before a request line are ignored (clients send a stray
 * CRLF after a body); they are dropped as they arrive, so they never count as a line. */
static void skip_empty_lines(struct conn *c)
{
    size_t i = 0;
    while (i < c->req_len && (c->req[i] == '\r' || c->req[i] == '\n'))
        i++;
    if (i)
        req_consume(c, (uint32_t)i);
}

/* The request-header timeout ran out (tcp_timer.c): answer 408 and close (RFC 9110
 * 15.5.9). Returns 0 when there is no partial request to answer. */
int http_request_timeout(struct ssdk_engine *e, struct conn *c)
{
    if (c->resp != NONE32 || (c->flags & (CF_CLOSE | CF_FIN_QUEUED)) || !c->req_len
        || (c->state != TCP_ESTABLISHED && c->state != TCP_CLOSE_WAIT))
        return 0;
    start_response(e, c, table_special(cur_table(e), SP_408), 0);
    return 1;
}

int http_serve(struct ssdk_engine *e, struct conn *c)
{
    if (c->resp != NONE32 || (c->flags & (CF_CLOSE | CF_FIN_QUEUED)))
        return 0;
    skip_empty_lines(c);
    if (c->req_len == 0)
        return 0;
    if (!c->req_since_ms)
        c->req_since_ms = now_ms(e) ? now_ms(e) : 1;
    size_t end = header_end(c->req, c->req_len);
    if (end == 0) {
        if (c->req_len < REQ_CAP)
            return 0;
        start_response(e, c, table_special(cur_table(e), SP_431), 0);
        return 1;
    }
    struct request rq = {0};
    size_t n;
    int v11 = 1;
    size_t at = next_line(c->req, 0, end, &n);
    uint32_t sp = parse_request_line(c->req, n, &rq, &v11);
    if (sp == NONE32)
        sp = parse_fields(c->req, at, end, v11, &rq);
    uint32_t idx;
    if (sp != NONE32) {
        idx = table_special(cur_table(e), (enum special_resp)sp);
        rq.keep_alive = 0;
    } else {
        idx = table_lookup(cur_table(e), rq.path, rq.path_len, rq.head);
        if (idx == NONE32)
            idx = table_special(cur_table(e), rq.head ? SP_404_HEAD : SP_404_GET);
    }
    /* The request is consumed before the response starts: the buffer is ours again. */
    req_consume(c, (uint32_t)end);
    if (sp == NONE32 && rq.content_length) {
        uint32_t have = c->req_len < rq.content_length ? c->req_len : rq.content_length;
        req_consume(c, have);
        c->body_skip = rq.content_length - have;
        if (c->body_skip)
            c->nooo = 0;  /* held bytes may be body: let the peer send them again */
    }
    start_response(e, c, idx, rq.keep_alive);
    return 1;
}
