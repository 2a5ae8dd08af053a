/*
 * tcp_reass.c - the receive side: bytes in order to the application, where they lie in
 * the RX frame or in the connection's pooled buffer; segments beyond a gap held in the
 * buffer until it fills; the peer's FIN.
 *
 * tcp_in.c (tcp_segment) -> tcp_data_in -> up->recv (what the application takes as it
 *                                          comes) -> the frame | the buffer | ooo_hold |
 *                                          ooo_fill
 *                        -> tcp_fin_in
 *                        -> up->sent (the application reads: tcp_rcv_data, tcp_recved)
 *                        -> tcp_rcv_settle (what it left: into a buffer, or given back)
 * serve/ -> tcp_rcv_data, tcp_recved, tcp_rcv_drop_held, tcp_rcv_discard
 *
 * A connection holds a pooled buffer (rxbuf.c) exactly while it holds bytes: unread
 * ones, or ones beyond a gap. A segment that comes in order to a connection holding
 * none is left where it lies while the application reads it (a whole request is then
 * answered without a copy), and only what the application leaves unread is copied
 * into a buffer afterwards; if the pool has none, those bytes are given back: RCV.NXT
 * goes back over them, so they are not acknowledged and the peer sends them again
 * (up->unread tells the application). In the buffer, bytes at sequence s sit at
 * buf[len + (s - RCV.NXT)]; the window never reaches past its end (tcp_priv.h:
 * rcv_wnd). The held ranges are kept newest first, which is the order SACK blocks
 * report them in.
 */
#include <string.h>
#include "tcp/tcp_priv.h"

/* The held ranges (comment above): at most SACK_MAX, each non-empty, apart from the
 * others (touching ones are merged), and inside the receive window, which has their
 * place in req[]. Debug builds only. */
static void ooo_check(const struct tcp *e, const struct tcb *c)
{
    SSDK_ASSERT(c->rcv.nooo <= SACK_MAX && c->rcv.len <= TCP_RCV_CAP);
    SSDK_ASSERT(!c->rcv.nooo || c->rcv.bufid);
    for (uint8_t i = 0; i < c->rcv.nooo; i++) {
        SSDK_ASSERT(seq_lt(rcv_ooo(e, c)[i][0], rcv_ooo(e, c)[i][1]));
        SSDK_ASSERT(seq_le(rcv_ooo(e, c)[i][1], c->rcv.nxt + TCP_RCV_CAP - c->rcv.len));
        for (uint8_t j = 0; j < i; j++)
            SSDK_ASSERT(seq_lt(rcv_ooo(e, c)[i][1], rcv_ooo(e, c)[j][0])
                        || seq_lt(rcv_ooo(e, c)[j][1], rcv_ooo(e, c)[i][0]));
    }
}

/*
 * Bytes [seq, seq+n) (data) into buf[] at their place, where no held range has bytes
 * already: the first bytes received for a sequence number are the ones kept, as Linux
 * keeps them (RFC 9293 3.10.7.4 leaves overlaps to the receiver; a later segment that
 * differs must not change a request already partly held, or what a check of the first
 * copy saw would not be what is served).
 */
static void copy_unheld(struct tcp *e, struct tcb *c, uint32_t seq, const uint8_t *data,
                        uint32_t n)
{
    uint8_t *buf = rxbuf_at(e, c->rcv.bufid);
    uint32_t p = seq, end = seq + n;
    while (seq_lt(p, end)) {
        uint32_t next = end;  /* where the run of bytes not yet held from p ends */
        int held = 0;
        for (uint8_t i = 0; i < c->rcv.nooo && !held; i++) {
            uint32_t a = rcv_ooo(e, c)[i][0], b = rcv_ooo(e, c)[i][1];
            if (seq_le(a, p) && seq_lt(p, b)) {
                p = seq_lt(b, end) ? b : end;  /* p is held: on past the range */
                held = 1;
            } else if (seq_lt(p, a) && seq_lt(a, next)) {
                next = a;
            }
        }
        if (held)
            continue;
        SSDK_ASSERT(c->rcv.len + (next - c->rcv.nxt) <= TCP_RCV_CAP);  /* in the window */
        memcpy(buf + c->rcv.len + (p - c->rcv.nxt), data + (p - seq), next - p);
        p = next;
    }
}

/* The buffer goes back to the pool once it holds nothing. */
static void rcv_release(struct tcp *e, struct tcb *c)
{
    if (c->rcv.bufid && !c->rcv.len && !c->rcv.nooo) {
        rxbuf_put(e, c->rcv.bufid);
        c->rcv.bufid = 0;
    }
}

/*
 * A segment beyond a gap: its bytes go into the buffer (taken now if the connection
 * holds none) where they will belong once the gap fills, and its range is remembered
 * (and reported in SACK blocks). Only bytes for the buffer are held: not while the
 * application takes them as they come (TF_RCV_DIRECT: a body it reads or drops) or the
 * connection is closing, nor when the pool has no buffer (the peer sends them again).
 */
static void ooo_hold(struct tcp *e, struct tcb *c, const struct seg *s)
{
    uint32_t off = s->seq - c->rcv.nxt, wnd = rcv_wnd(e, c);
    if (off >= wnd
        || (c->flags & (TF_RCV_DIRECT | TF_RCV_SHUT | TF_FIN_QUEUED | TF_PEER_FIN))) {
        e->net.st->drop_tcp_ooo++;
        return;
    }
    if (!c->rcv.bufid && !(c->rcv.bufid = rxbuf_get(e))) {
        e->net.st->drop_tcp_ooo++;
        e->net.st->rx_buffer_refused++;
        return;
    }
    uint32_t take = s->len < wnd - off ? s->len : wnd - off;
    copy_unheld(e, c, s->seq, s->data, take);
    uint32_t l = s->seq, r = s->seq + take;
    uint32_t keep[SACK_MAX][2];
    uint8_t n = 0;
    for (uint8_t i = 0; i < c->rcv.nooo; i++) {  /* merge what touches; newest goes first */
        if (seq_lt(r, rcv_ooo(e, c)[i][0]) || seq_lt(rcv_ooo(e, c)[i][1], l)) {
            if (n < SACK_MAX - 1)
                keep[n][0] = rcv_ooo(e, c)[i][0], keep[n][1] = rcv_ooo(e, c)[i][1], n++;
            continue;
        }
        l = seq_lt(rcv_ooo(e, c)[i][0], l) ? rcv_ooo(e, c)[i][0] : l;
        r = seq_lt(r, rcv_ooo(e, c)[i][1]) ? rcv_ooo(e, c)[i][1] : r;
    }
    rcv_ooo(e, c)[0][0] = l, rcv_ooo(e, c)[0][1] = r;
    memcpy(rcv_ooo(e, c) + 1, keep, n * sizeof(keep[0]));
    c->rcv.nooo = (uint8_t)(n + 1);
    e->net.st->ooo_held++;
    SSDK_DEBUG_ONLY(ooo_check(e, c));
}

/* The gap moved: take every held range that now starts at or below RCV.NXT. */
static void ooo_fill(struct tcp *e, struct tcb *c)
{
    for (int moved = 1; moved;) {
        moved = 0;
        for (uint8_t i = 0; i < c->rcv.nooo; i++) {
            if (seq_lt(c->rcv.nxt, rcv_ooo(e, c)[i][0]))
                continue;
            if (seq_lt(c->rcv.nxt, rcv_ooo(e, c)[i][1])) {
                c->rcv.len = (uint16_t)(c->rcv.len + (rcv_ooo(e, c)[i][1] - c->rcv.nxt));
                c->rcv.nxt = rcv_ooo(e, c)[i][1];
            }
            memmove(rcv_ooo(e, c) + i, rcv_ooo(e, c) + i + 1,
                    (c->rcv.nooo - i - 1) * sizeof(rcv_ooo(e, c)[0]));
            c->rcv.nooo--;  /* the others keep their newest-first order (RFC 2018 4) */
            moved = 1;
            break;
        }
    }
}

/* Bytes [p, p+n) the application left unread: into the buffer the connection holds
 * (after the held ones they overlap, which stay as they came first), or, holding none,
 * where they lie in the frame until tcp_rcv_settle. */
static void rcv_keep(struct tcp *e, struct tcb *c, const struct seg *s, uint32_t skip,
                     uint32_t take)
{
    if (!c->rcv.bufid) {
        SSDK_ASSERT(!c->rcv.len && !c->rcv.nooo && !e->rx.in_frame);
        e->rx.in_frame = c;
        e->rx.frame_data = s->data + skip;
    } else if (c->rcv.nooo && !skip) {
        copy_unheld(e, c, s->seq, s->data, take);
    } else {
        memcpy(rxbuf_at(e, c->rcv.bufid) + c->rcv.len, s->data + skip, take - skip);
    }
    c->rcv.len = (uint16_t)(c->rcv.len + take - skip);
}

/* In-order bytes go to the application, and what it leaves is kept for it; anything
 * else waits for a resend. */
void tcp_data_in(struct tcp *e, struct tcb *c, struct seg *s)
{
    if (seq_lt(s->seq, c->rcv.nxt)) {  /* trim what we already have */
        uint32_t skip = c->rcv.nxt - s->seq;
        if (skip > s->len)
            skip = s->len;
        s->data += skip;
        s->len -= skip;
        s->seq += skip;
    }
    if (s->seq != c->rcv.nxt) {
        if (seq_lt(c->rcv.nxt, s->seq))
            ooo_hold(e, c, s);
        return;
    }
    if (c->flags & TF_PEER_FIN)
        return;  /* nothing can follow the peer's FIN */
    uint32_t wnd = rcv_wnd(e, c), take = s->len < wnd ? s->len : wnd;
    uint32_t skip = take ? e->up->recv(e, c, s->data, take) : 0;
    SSDK_ASSERT(skip <= take);
    /* After the application closed, what the peer still sends is read and discarded.
     * The application takes bytes as they come only while nothing is held (a body:
     * TF_RCV_DIRECT), so skip and held ranges never meet. */
    SSDK_ASSERT(!skip || !c->rcv.nooo);
    if (!(c->flags & (TF_RCV_SHUT | TF_FIN_QUEUED)) && take > skip)
        rcv_keep(e, c, s, skip, take);
    c->rcv.nxt += take;
    if (c->rcv.nooo)
        ooo_fill(e, c);
    SSDK_DEBUG_ONLY(ooo_check(e, c));
}

/* Whether what the application may leave unread of the segment it is about to read
 * could be kept: the connection holds a buffer, or the pool has one. */
int tcp_rcv_keepable(const struct tcp *e, const struct tcb *c)
{
    return c->rcv.bufid || rxbuf_left(e) > 0;
}

/*
 * After up->sent: what the application left unread in the frame goes into a buffer
 * from the pool. With none free, it is given back: RCV.NXT goes back over it, the
 * window the last ACK promised is withdrawn (the one case where the right edge moves
 * back, RFC 9293 3.8.6.2.1's SHOULD NOT; counted in rx_buffer_refused), the ACK that
 * follows shows a window of 0 and the connection waits for a buffer (rxbuf.c); the
 * application forgets what it read of the bytes (up->unread). Returns 1 then.
 */
int tcp_rcv_settle(struct tcp *e, struct tcb *c)
{
    if (e->rx.in_frame != c)
        return 0;
    e->rx.in_frame = NULL;
    if (!c->rcv.len) {
        e->net.st->rx_read_in_frame++;
        return 0;
    }
    SSDK_ASSERT(!c->rcv.bufid && !c->rcv.nooo);
    if ((c->rcv.bufid = rxbuf_get(e)) != 0) {
        memcpy(rxbuf_at(e, c->rcv.bufid), e->rx.frame_data, c->rcv.len);
        return 0;
    }
    e->net.st->rx_buffer_refused++;
    c->rcv.nxt -= c->rcv.len;
    c->rcv.len = 0;
    c->rcv.last_ack = c->rcv.nxt;
    c->rcv.last_wnd = 0;
    e->up->unread(e, c);
    return 1;
}

/* The peer's FIN, taken only when it is next in sequence, after all of its data. */
void tcp_fin_in(struct tcb *c, const struct seg *s)
{
    /* A FIN we already have, or one beyond a gap, is only acknowledged (by the caller). */
    if (s->seq + s->len != c->rcv.nxt || (c->flags & TF_PEER_FIN))
        return;
    c->rcv.nxt++;
    c->flags |= TF_PEER_FIN;
    enum tcp_state n = tcp_next(c->state, EV_RCV_FIN);
    if (n != TCP_NONE)
        conn_set_state(c, n);
}

/* Where the unread bytes are (tcp.h); an empty, valid place when there are none. */
const uint8_t *tcp_rcv_data(const struct tcp *e, const struct tcb *c)
{
    static const uint8_t none[1];
    if (e->rx.in_frame == c)
        return e->rx.frame_data;
    return c->rcv.bufid ? rxbuf_at(e, c->rcv.bufid) : none;
}

/* The application took the first n unread bytes: in the frame, they are passed over;
 * in the buffer, the rest moves to its start (bytes held beyond a gap sit past rcv.len
 * at their distance from RCV.NXT, so they move along), and an empty buffer goes back. */
void tcp_recved(struct tcp *e, struct tcb *c, uint32_t n)
{
    SSDK_ASSERT(n <= c->rcv.len);
    if (e->rx.in_frame == c) {
        e->rx.frame_data += n;
        c->rcv.len = (uint16_t)(c->rcv.len - n);
        return;
    }
    if (!n)
        return;
    uint32_t span = c->rcv.len;
    for (uint8_t i = 0; i < c->rcv.nooo; i++) {
        uint32_t end = c->rcv.len + (rcv_ooo(e, c)[i][1] - c->rcv.nxt);
        if (end > span)
            span = end;
    }
    uint8_t *buf = rxbuf_at(e, c->rcv.bufid);
    memmove(buf, buf + n, span - n);
    c->rcv.len = (uint16_t)(c->rcv.len - n);
    rcv_release(e, c);
}

/* Held bytes the application will not take from the buffer (a body follows): the peer
 * sends them again. */
void tcp_rcv_drop_held(struct tcp *e, struct tcb *c)
{
    c->rcv.nooo = 0;
    rcv_release(e, c);
}

/* Nothing unread is read any more (the application closes after a response, or the
 * connection goes: conn_free). */
void tcp_rcv_discard(struct tcp *e, struct tcb *c)
{
    c->rcv.len = 0;
    c->rcv.nooo = 0;
    rcv_release(e, c);
}
