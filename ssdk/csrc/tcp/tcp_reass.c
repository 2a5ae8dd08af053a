/*
 * tcp_reass.c - the receive side: bytes in order to the application, or into the
 * connection's buffer for it; segments beyond a gap held in place until it fills; the
 * peer's FIN.
 *
 * tcp_in.c (tcp_segment) -> tcp_data_in -> up->recv (what the application takes as it
 *                                          comes) -> the buffer | ooo_hold | ooo_fill
 *                        -> tcp_fin_in
 * serve/ -> tcp_recved, tcp_rcv_drop_held, tcp_rcv_discard
 *
 * The buffer is also the receive window (TCP_RCV_CAP - rcv.len), so a held segment
 * always has its place in it: bytes at sequence s sit at buf[len + (s - RCV.NXT)].
 * The held ranges are kept newest first, which is the order SACK blocks report them in.
 */
#include <string.h>
#include "tcp/tcp_priv.h"

/* The held ranges (comment above): at most SACK_MAX, each non-empty, apart from the
 * others (touching ones are merged), and inside the receive window, which has their
 * place in req[]. Debug builds only. */
static void ooo_check(const struct tcb *c)
{
    SSDK_ASSERT(c->rcv.nooo <= SACK_MAX && c->rcv.len <= TCP_RCV_CAP);
    for (uint8_t i = 0; i < c->rcv.nooo; i++) {
        SSDK_ASSERT(seq_lt(c->rcv.ooo[i][0], c->rcv.ooo[i][1]));
        SSDK_ASSERT(seq_le(c->rcv.ooo[i][1], c->rcv.nxt + rcv_wnd(c)));
        for (uint8_t j = 0; j < i; j++)
            SSDK_ASSERT(seq_lt(c->rcv.ooo[i][1], c->rcv.ooo[j][0])
                        || seq_lt(c->rcv.ooo[j][1], c->rcv.ooo[i][0]));
    }
}

/*
 * Bytes [seq, seq+n) (data) into buf[] at their place, where no held range has bytes
 * already: the first bytes received for a sequence number are the ones kept, as Linux
 * keeps them (RFC 9293 3.10.7.4 leaves overlaps to the receiver; a later segment that
 * differs must not change a request already partly held, or what a check of the first
 * copy saw would not be what is served).
 */
static void copy_unheld(struct tcb *c, uint32_t seq, const uint8_t *data, uint32_t n)
{
    uint32_t p = seq, end = seq + n;
    while (seq_lt(p, end)) {
        uint32_t next = end;  /* where the run of bytes not yet held from p ends */
        int held = 0;
        for (uint8_t i = 0; i < c->rcv.nooo && !held; i++) {
            uint32_t a = c->rcv.ooo[i][0], b = c->rcv.ooo[i][1];
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
        memcpy(c->rcv.buf + c->rcv.len + (p - c->rcv.nxt), data + (p - seq), next - p);
        p = next;
    }
}

/*
 * A segment beyond a gap: its bytes go into buf[] where they will belong once the gap
 * fills, and its range is remembered (and reported in SACK blocks). Only bytes for the
 * buffer are held: not while the application takes them as they come (TF_RCV_DIRECT: a
 * body it reads or drops) or the connection is closing.
 */
static void ooo_hold(struct tcp *e, struct tcb *c, const struct seg *s)
{
    uint32_t off = s->seq - c->rcv.nxt, wnd = rcv_wnd(c);
    if (off >= wnd
        || (c->flags & (TF_RCV_DIRECT | TF_RCV_SHUT | TF_FIN_QUEUED | TF_PEER_FIN))) {
        e->net.st->drop_tcp_ooo++;
        return;
    }
    uint32_t take = s->len < wnd - off ? s->len : wnd - off;
    copy_unheld(c, s->seq, s->data, take);
    uint32_t l = s->seq, r = s->seq + take;
    uint32_t keep[SACK_MAX][2];
    uint8_t n = 0;
    for (uint8_t i = 0; i < c->rcv.nooo; i++) {  /* merge what touches; newest goes first */
        if (seq_lt(r, c->rcv.ooo[i][0]) || seq_lt(c->rcv.ooo[i][1], l)) {
            if (n < SACK_MAX - 1)
                keep[n][0] = c->rcv.ooo[i][0], keep[n][1] = c->rcv.ooo[i][1], n++;
            continue;
        }
        l = seq_lt(c->rcv.ooo[i][0], l) ? c->rcv.ooo[i][0] : l;
        r = seq_lt(r, c->rcv.ooo[i][1]) ? c->rcv.ooo[i][1] : r;
    }
    c->rcv.ooo[0][0] = l, c->rcv.ooo[0][1] = r;
    memcpy(c->rcv.ooo + 1, keep, n * sizeof(keep[0]));
    c->rcv.nooo = (uint8_t)(n + 1);
    e->net.st->ooo_held++;
    SSDK_DEBUG_ONLY(ooo_check(c));
}

/* The gap moved: take every held range that now starts at or below RCV.NXT. */
static void ooo_fill(struct tcb *c)
{
    for (int moved = 1; moved;) {
        moved = 0;
        for (uint8_t i = 0; i < c->rcv.nooo; i++) {
            if (seq_lt(c->rcv.nxt, c->rcv.ooo[i][0]))
                continue;
            if (seq_lt(c->rcv.nxt, c->rcv.ooo[i][1])) {
                c->rcv.len = (uint16_t)(c->rcv.len + (c->rcv.ooo[i][1] - c->rcv.nxt));
                c->rcv.nxt = c->rcv.ooo[i][1];
            }
            memmove(c->rcv.ooo + i, c->rcv.ooo + i + 1,
                    (c->rcv.nooo - i - 1) * sizeof(c->rcv.ooo[0]));
            c->rcv.nooo--;  /* the others keep their newest-first order (RFC 2018 4) */
            moved = 1;
            break;
        }
    }
}

/* In-order bytes go to the application, or to the buffer; anything else waits for a
 * resend. */
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
    uint32_t take = s->len < rcv_wnd(c) ? s->len : rcv_wnd(c);
    uint32_t skip = take ? e->up->recv(e, c, s->data, take) : 0;
    SSDK_ASSERT(skip <= take);
    /* After the application closed, what the peer still sends is read and discarded. */
    if (!(c->flags & (TF_RCV_SHUT | TF_FIN_QUEUED))) {
        /* Held bytes the segment overlaps stay as they came first (copy_unheld). The
         * application takes bytes as they come only while nothing is held (a body:
         * TF_RCV_DIRECT), so skip and held ranges never meet. */
        SSDK_ASSERT(!skip || !c->rcv.nooo);
        if (c->rcv.nooo && !skip)
            copy_unheld(c, s->seq, s->data, take);
        else
            memcpy(c->rcv.buf + c->rcv.len, s->data + skip, take - skip);
        c->rcv.len = (uint16_t)(c->rcv.len + take - skip);
    }
    c->rcv.nxt += take;
    if (c->rcv.nooo)
        ooo_fill(c);
    SSDK_DEBUG_ONLY(ooo_check(c));
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

/* The application took the first n buffered bytes. Bytes held beyond a gap sit past
 * rcv.len at their distance from RCV.NXT, so they move along. */
void tcp_recved(struct tcb *c, uint32_t n)
{
    SSDK_ASSERT(n <= c->rcv.len);
    uint32_t span = c->rcv.len;
    for (uint8_t i = 0; i < c->rcv.nooo; i++) {
        uint32_t end = c->rcv.len + (c->rcv.ooo[i][1] - c->rcv.nxt);
        if (end > span)
            span = end;
    }
    memmove(c->rcv.buf, c->rcv.buf + n, span - n);
    c->rcv.len = (uint16_t)(c->rcv.len - n);
}

/* Held bytes the application will not take from the buffer (a body follows): the peer
 * sends them again. */
void tcp_rcv_drop_held(struct tcb *c) { c->rcv.nooo = 0; }

/* Nothing buffered is read any more (the application closes after a response). */
void tcp_rcv_discard(struct tcb *c)
{
    c->rcv.len = 0;
    c->rcv.nooo = 0;
}
