/*
 * fuzz/streams.h - what the harness (harness.h, which includes this) knows of each
 * connection's stream of response bytes, and the checks on it: a byte sent again equals
 * the byte sent first, and the stream is a sequence of the table's responses.
 *
 * harness.h (fz_drain) -> fz_stream_seen            every segment sent
 * fuzz_*.c, harness.h   -> fz_check_responses        a connection's stream, at its end
 *                          -> fz_resp_match, fz_range_match (a 206: fz_number)
 * harness.h (fz_check_engine) -> fz_span_max         a response's length in flight
 *
 * A response matches byte for byte but for the values the stack writes as it sends: the
 * Date, the Connection value, and a 206's Content-Length and Content-Range slots; a
 * 206's part must be exactly the bytes of its 200's body that its Content-Range names.
 */
#ifndef SSDK_FUZZ_STREAMS_H
#define SSDK_FUZZ_STREAMS_H

/* --- response streams: a retransmitted byte equals the byte first sent -------------- */

#define FZ_STREAM_MAX 65536   /* bytes of each connection's stream remembered */
#define FZ_PEERS 16

/* What the harness knows of one peer's connection, from the frames the stack sent. */
struct fz_peer {
    int used;
    struct ip_addr ip;    /* IPv6, or IPv4 mapped (net/net.h) */
    uint16_t port;
    uint16_t ours;        /* the stack's port: HTTP's, or HTTPS's (its stream is records) */
    int have_iss, have_nxt;
    uint32_t iss;
    uint32_t snd_nxt;     /* the highest sequence number the stack has used, plus one */
    uint32_t rcv_nxt;     /* the last acknowledgment number the stack sent */
    uint32_t wnd;         /* the last window the stack advertised */
    int fin, rst;
    uint32_t known;       /* stream bytes [0, known) seen, kept in buf */
    uint8_t buf[FZ_STREAM_MAX];
};

static struct fz_peer fz_peers[FZ_PEERS];
static unsigned fz_peer_next;

static void fz_peers_reset(void)
{
    for (int i = 0; i < FZ_PEERS; i++)
        fz_peers[i].used = 0;
    fz_peer_next = 0;
}

/* The record of (ip, port) to our port ours, made (replacing the oldest) if create is
 * set. */
static struct fz_peer *fz_peer(const struct ip_addr *ip, uint16_t port, uint16_t ours,
                               int create)
{
    for (int i = 0; i < FZ_PEERS; i++)
        if (fz_peers[i].used && ip_addr_eq(&fz_peers[i].ip, ip) && fz_peers[i].port == port
            && fz_peers[i].ours == ours)
            return &fz_peers[i];
    if (!create)
        return NULL;
    struct fz_peer *p = &fz_peers[fz_peer_next++ % FZ_PEERS];
    memset(p, 0, offsetof(struct fz_peer, buf));
    p->used = 1;
    p->ip = *ip;
    p->port = port;
    p->ours = ours;
    return p;
}

/*
 * The peer sent a SYN: whatever comes next may be a new incarnation of the connection,
 * whose stream must not be compared with the old one's (the ISN clock of RFC 6528 does
 * not move when the virtual clock does not, so the ISS alone cannot tell them apart).
 */
static void fz_peer_forget(const struct ip_addr *ip, uint16_t port, uint16_t ours)
{
    struct fz_peer *p = fz_peer(ip, port, ours, 0);
    if (p)
        memset(p, 0, offsetof(struct fz_peer, buf)), p->used = 0;
}

static void fz_stream_seen(const struct fz_seg *s)
{
    struct fz_peer *p = fz_peer(&s->peer_ip, s->peer_port, s->our_port, 1);
    if (s->flags & TH_RST) {
        p->rst = 1;
        return;
    }
    if (s->flags & TH_SYN) {
        if (!p->have_iss || p->iss != s->seq)
            p->known = 0, p->have_nxt = 0;
        p->have_iss = 1;
        p->iss = s->seq;
        p->fin = 0;
    }
    uint32_t end = s->seq + s->len + !!(s->flags & TH_SYN) + !!(s->flags & TH_FIN);
    if (!p->have_nxt || seq_lt(p->snd_nxt, end))
        p->snd_nxt = end;
    p->have_nxt = 1;
    if (s->flags & TH_ACK)
        p->rcv_nxt = s->ack;
    p->wnd = s->win;
    if (s->flags & TH_FIN)
        p->fin = 1;
    if (!p->have_iss || s->len == 0)
        return;
    uint32_t off = s->seq - p->iss - 1;
    if (off >= FZ_STREAM_MAX || off > p->known)
        return;  /* beyond what is remembered, or after a gap the harness did not see */
    uint32_t n = s->len < FZ_STREAM_MAX - off ? s->len : FZ_STREAM_MAX - off;
    uint32_t same = p->known - off < n ? p->known - off : n;
    for (uint32_t i = 0; i < same; i++)
        if (p->buf[off + i] != s->data[i])
            fz_fail("port %u: stream byte %u sent as %#04x, first sent as %#04x",
                    s->peer_port, off + i, s->data[i], p->buf[off + i]);
    memcpy(p->buf + p->known, s->data + same, n - same);
    p->known = off + n;
}

/*
 * What a connection's stream must be: whole responses of the table, one after another,
 * byte for byte as the template has them except the Date value (written at send time)
 * and the Connection value ("keep-alive" or "     close"); only the last may be cut
 * short (a reset, a timeout, or the end of the input). A HEAD response is a prefix of
 * its GET response: the rest of the stream being the start of a response is enough,
 * and otherwise the longest response that matches whole is taken.
 */
/* Whether byte k of response r may be x: the template's byte, or within the Date and
 * Connection values one the stack writes there. */
FZ_UNCOVERED static int fz_byte_ok(const struct ssdk_resp *r, const uint8_t *tmpl,
                                   uint64_t k, uint8_t x)
{
    static const char keep[] = "keep-alive", close[] = "     close";
    if (k >= r->date_off && k < r->date_off + DATE_LEN)
        return x >= ' ' && x <= '~';
    if (k >= r->conn_off && k < r->conn_off + CONN_TOKEN_LEN) {
        uint64_t j = k - r->conn_off;
        return x == (uint8_t)keep[j] || x == (uint8_t)close[j];
    }
    return x == tmpl[k];
}

FZ_UNCOVERED static int fz_bytes_match(const struct ssdk_resp *r, const uint8_t *tmpl,
                                       const uint8_t *b, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++)
        if (!fz_byte_ok(r, tmpl, k, b[k]))
            return 0;
    return 1;
}

FZ_UNCOVERED static int fz_resp_match(const struct table *t, uint32_t i, const uint8_t *b,
                                      uint64_t n)
{
    const struct ssdk_resp *r = &t->resp[i];
    return fz_bytes_match(r, resp_stream(t, r), b, n);
}

/* The decimal number in s[0..n) after leading spaces, or -1 if there is none; *end is
 * where it stops. */
static int64_t fz_number(const uint8_t *s, uint64_t n, uint64_t *end)
{
    uint64_t i = 0, x = 0;
    while (i < n && s[i] == ' ')
        i++;
    uint64_t start = i;
    for (; i < n && s[i] >= '0' && s[i] <= '9' && i - start < 12; i++)
        x = x * 10 + (uint64_t)(s[i] - '0');
    *end = i;
    return i > start ? (int64_t)x : -1;
}

/*
 * A 206 (RESP_RANGE) at b[0..n): its template's header block, but for the Date and
 * Connection values and the two slots (spaces and digits; "bytes first-last/total"
 * right-aligned), then exactly the part of its 200's body the slot names, with a
 * Content-Length that agrees. Returns its length when b holds all of it, 0 when b does
 * not match, and sets *partial when b is a matching start of it.
 */
FZ_UNCOVERED static uint64_t fz_range_match(const struct table *t, uint32_t i,
                                            const uint8_t *b, uint64_t n, int *partial)
{
    const struct ssdk_resp *r = &t->resp[i], *body = &t->resp[r->body];
    uint64_t total = body->stream_len - body->hdr_len, hdr = r->hdr_len;
    uint32_t rlen = range_slot_len(total);
    const uint8_t *tmpl = resp_stream(t, r);
    for (uint64_t k = 0; k < n && k < hdr; k++) {
        int in_clen = k >= r->clen_off && k < r->clen_off + CLEN_SLOT;
        int in_range = k >= r->range_off && k < r->range_off + rlen;
        if (in_clen || in_range) {
            if (!(b[k] == ' ' || (b[k] >= '0' && b[k] <= '9')
                  || (in_range && b[k] && strchr("bytes-/", b[k]))))
                return 0;
        } else if (!fz_byte_ok(r, tmpl, k, b[k])) {
            return 0;
        }
    }
    if (n < hdr) {
        *partial = 1;
        return 0;
    }
    /* The header matched: from here on, anything but the part it names is a failure. */
    const uint8_t *s = b + r->range_off;
    uint64_t at = 0, end;
    while (at < rlen && s[at] == ' ')
        at++;
    if (rlen - at < 6 || memcmp(s + at, "bytes ", 6) != 0)
        fz_fail("a 206's Content-Range slot holds %.*s", (int)rlen, s);
    int64_t first = fz_number(s + at + 6, rlen - at - 6, &end);
    at += 6 + end;
    int64_t last = at < rlen && s[at] == '-' ? fz_number(s + at + 1, rlen - at - 1, &end) : -1;
    at += 1 + end;
    int64_t whole = at < rlen && s[at] == '/' ? fz_number(s + at + 1, rlen - at - 1, &end) : -1;
    int64_t clen = fz_number(b + r->clen_off, CLEN_SLOT, &end);
    if (first < 0 || last < first || whole != (int64_t)total || (uint64_t)last >= total
        || clen != last - first + 1)
        fz_fail("a 206 says bytes %lld-%lld/%lld of %llu, Content-Length %lld",
                (long long)first, (long long)last, (long long)whole,
                (unsigned long long)total, (long long)clen);
    uint64_t len = hdr + (uint64_t)clen, have = n < len ? n : len;
    const uint8_t *part = resp_stream(t, body) + body->hdr_len + first;
    if (memcmp(b + hdr, part, have - hdr) != 0)
        fz_fail("a 206 of bytes %lld-%lld carries other bytes than its 200's",
                (long long)first, (long long)last);
    if (n < len) {
        *partial = 1;
        return 0;
    }
    return len;
}

/* The most bytes a response q may span: its stream, or a 206's header and part. */
static uint64_t fz_span_max(const struct table *t, const struct resp *q)
{
    const struct ssdk_resp *r = &t->resp[q->idx];
    if (!(r->flags & RESP_RANGE))
        return r->stream_len;
    const struct ssdk_resp *b = &t->resp[r->body];
    if ((uint64_t)q->rng.first + q->rng.len > b->stream_len - b->hdr_len || !q->rng.len)
        fz_fail("a 206 of %u bytes from %u, of a body of %llu", q->rng.len, q->rng.first,
                (unsigned long long)(b->stream_len - b->hdr_len));
    return r->hdr_len + q->rng.len;
}

FZ_UNCOVERED static void fz_check_responses(const struct ssdk_engine *e,
                                            const struct fz_peer *p)
{
    const struct table *t = cur_table(e);
    uint32_t pos = 0;
    while (pos < p->known) {
        uint32_t left = p->known - pos;
        uint64_t best = 0;
        int partial = 0;
        for (uint32_t i = 0; i < t->hdr->nresp; i++) {
            uint64_t len = t->resp[i].stream_len;
            if (t->resp[i].flags & RESP_RANGE) {
                len = fz_range_match(t, i, p->buf + pos, left, &partial);
                if (len > best)
                    best = len;
            } else if (len <= left && len > best && fz_resp_match(t, i, p->buf + pos, len)) {
                best = len;
            } else if (len > left && fz_resp_match(t, i, p->buf + pos, left)) {
                partial = 1;
            }
        }
        /* fz_app's answer (harness.h) is a response too */
        static const struct ssdk_resp app = {.stream_len = sizeof(FZ_APP_RESP) - 1,
                                             .date_off = FZ_APP_DATE, .conn_off = FZ_APP_CONN};
        const uint8_t *atmpl = (const uint8_t *)FZ_APP_RESP;
        if (app.stream_len <= left && app.stream_len > best
            && fz_bytes_match(&app, atmpl, p->buf + pos, app.stream_len))
            best = app.stream_len;
        else if (app.stream_len > left && fz_bytes_match(&app, atmpl, p->buf + pos, left))
            partial = 1;
        if (partial)
            return;  /* the rest is the start of a response: the last, cut short */
        if (best)
            pos += (uint32_t)best;
        else
            fz_fail("port %u: stream bytes %u.. are no response of the table: %.40s",
                    p->port, pos, p->buf + pos);
    }
}

/* Every remembered stream, at the end of an input. */
static void fz_check_all_responses(const struct ssdk_engine *e)
{
    for (int i = 0; i < FZ_PEERS; i++)  /* (HTTPS's streams are records: resends only) */
        if (fz_peers[i].used && fz_peers[i].have_iss && fz_peers[i].ours == FZ_PORT)
            fz_check_responses(e, &fz_peers[i]);
}

#endif
