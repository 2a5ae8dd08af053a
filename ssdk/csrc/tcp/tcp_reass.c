/*
 * tcp_reass.c - the receive side: request bytes into the connection's buffer in order,
 * segments beyond a gap held in place until it fills, and the peer's FIN.
 *
 * tcp_in.c (tcp_segment) -> tcp_data_in -> ooo_hold | ooo_fill
 *                        -> tcp_fin_in
 *
 * The request buffer is also the receive window (REQ_CAP - req_len), so a held segment
 * always has its place in it: bytes at sequence s sit at req[req_len + (s - RCV.NXT)].
 * The held ranges are kept newest first, which is the order SACK blocks report them in.
 */
#include <string.h>
#include "serve/engine.h"

/* The held ranges (comment above): at most SACK_MAX, each non-empty, apart from the
 * others (touching ones are merged), and inside the receive window, which has their
 * place in req[]. Debug builds only. */
static void ooo_check(const struct conn *c)
{
    SSDK_ASSERT(c->nooo <= SACK_MAX && c->req_len <= REQ_CAP);
    for (uint8_t i = 0; i < c->nooo; i++) {
        SSDK_ASSERT(seq_lt(c->ooo[i][0], c->ooo[i][1]));
        SSDK_ASSERT(seq_le(c->ooo[i][1], c->rcv_nxt + rcv_wnd(c)));
        for (uint8_t j = 0; j < i; j++)
            SSDK_ASSERT(seq_lt(c->ooo[i][1], c->ooo[j][0]) || seq_lt(c->ooo[j][1], c->ooo[i][0]));
    }
}

/*
 * A segment beyond a gap: its bytes go into req[] where they will belong once the gap
 * fills, and its range is remembered (and reported in SACK blocks). Only plain request
 * bytes are held: not while a body is being skipped or the connection is closing.
 */
static void ooo_hold(struct ssdk_engine *e, struct conn *c, const struct seg *s)
{
    uint32_t off = s->seq - c->rcv_nxt, wnd = rcv_wnd(c);
    if (off >= wnd || c->body_skip || (c->dyn_in && c->dyn_in->chunked)
        || (c->flags & (CF_CLOSE | CF_FIN_QUEUED | CF_PEER_FIN))) {
        e->st->drop_tcp_ooo++;
        return;
    }
    uint32_t take = s->len < wnd - off ? s->len : wnd - off;
    memcpy(c->req + c->req_len + off, s->data, take);
    uint32_t l = s->seq, r = s->seq + take;
    uint32_t keep[SACK_MAX][2];
    uint8_t n = 0;
    for (uint8_t i = 0; i < c->nooo; i++) {  /* merge what touches; newest goes first */
        if (seq_lt(r, c->ooo[i][0]) || seq_lt(c->ooo[i][1], l)) {
            if (n < SACK_MAX - 1)
                keep[n][0] = c->ooo[i][0], keep[n][1] = c->ooo[i][1], n++;
            continue;
        }
        l = seq_lt(c->ooo[i][0], l) ? c->ooo[i][0] : l;
        r = seq_lt(r, c->ooo[i][1]) ? c->ooo[i][1] : r;
    }
    c->ooo[0][0] = l, c->ooo[0][1] = r;
    memcpy(c->ooo + 1, keep, n * sizeof(keep[0]));
    c->nooo = (uint8_t)(n + 1);
    e->st->ooo_held++;
    SSDK_DEBUG_ONLY(ooo_check(c));
}

/* The gap moved: take every held range that now starts at or below RCV.NXT. */
static void ooo_fill(struct conn *c)
{
    for (int moved = 1; moved;) {
        moved = 0;
        for (uint8_t i = 0; i < c->nooo; i++) {
            if (seq_lt(c->rcv_nxt, c->ooo[i][0]))
                continue;
            if (seq_lt(c->rcv_nxt, c->ooo[i][1])) {
                c->req_len = (uint16_t)(c->req_len + (c->ooo[i][1] - c->rcv_nxt));
                c->rcv_nxt = c->ooo[i][1];
            }
            memmove(c->ooo + i, c->ooo + i + 1, (c->nooo - i - 1) * sizeof(c->ooo[0]));
            c->nooo--;  /* the others keep their newest-first order (RFC 2018 4) */
            moved = 1;
            break;
        }
    }
}

/* In-order request bytes go to the request buffer; anything else waits for a resend. */
void tcp_data_in(struct ssdk_engine *e, struct conn *c, struct seg *s)
{
    if (seq_lt(s->seq, c->rcv_nxt)) {  /* trim what we already have */
        uint32_t skip = c->rcv_nxt - s->seq;
        if (skip > s->len)
            skip = s->len;
        s->data += skip;
        s->len -= skip;
        s->seq += skip;
    }
    if (s->seq != c->rcv_nxt) {
        if (seq_lt(c->rcv_nxt, s->seq))
            ooo_hold(e, c, s);
        return;
    }
    if (c->flags & CF_PEER_FIN)
        return;  /* nothing can follow the peer's FIN */
    uint32_t take = s->len < rcv_wnd(c) ? s->len : rcv_wnd(c);
    uint32_t skip;
    if (c->dyn_in && c->dyn_in->chunked) {  /* the decoder takes what is body */
        skip = dyn_chunked(e, c, s->data, take);
    } else {
        skip = c->body_skip < take ? c->body_skip : take;
        c->body_skip -= skip;
        if (skip && c->dyn_in)  /* a body the application reads rather than one we drop */
            dyn_body(e, c, s->data, skip);
    }
    /* After we decided to close, what the peer still sends is read and discarded. */
    if (!(c->flags & (CF_CLOSE | CF_FIN_QUEUED))) {
        memcpy(c->req + c->req_len, s->data + skip, take - skip);
        c->req_len = (uint16_t)(c->req_len + take - skip);
    }
    c->rcv_nxt += take;
    if (c->nooo)
        ooo_fill(c);
    SSDK_DEBUG_ONLY(ooo_check(c));
}

/* The peer's FIN, taken only when it is next in sequence, after all of its data. */
void tcp_fin_in(struct conn *c, const struct seg *s)
{
    /* A FIN we already have, or one beyond a gap, is only acknowledged (by the caller). */
    if (s->seq + s->len != c->rcv_nxt || (c->flags & CF_PEER_FIN))
        return;
    c->rcv_nxt++;
    c->flags |= CF_PEER_FIN;
    enum tcp_state n = tcp_next(c->state, EV_RCV_FIN);
    if (n != TCP_NONE)
        conn_set_state(c, n);
}
