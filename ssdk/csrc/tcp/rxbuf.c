/*
 * rxbuf.c - the receive buffers: a bounded pool of TCP_RCV_CAP-byte buffers that a
 * connection holds only while it holds received bytes the application has not read,
 * and the window sent again to the connections that found it empty.
 *
 * tcp_init (conn.c) -> rxbuf_init ... tcp_free -> rxbuf_free
 * tcp_reass.c -> rxbuf_get (bytes left after the application read the segment where it
 *                lay, or bytes beyond a gap) -> rxbuf_put (the buffer emptied)
 * tcp_out.c (a window of 0 for want of a buffer) -> rxbuf_wait
 * serve/loop.c (once per pass) -> rxbuf_wake -> tcp_send_ctl (a window update)
 *
 * Most connections hold nothing between requests, and a request that arrives whole in
 * one segment is read in the RX frame (tcp_reass.c), so the pool is sized for the
 * connections caught in the middle of a request at once, not for the pool of
 * connections: ssdk_config.rx_buffers, by default max(1024, max_conns / 16) and never
 * more than max_conns (a connection holds one at most). One mapping holds them all;
 * calloc leaves its pages untouched, and buffers are handed out from a bump index
 * before any given back is reused, so only buffers ever used cost memory.
 *
 * The window (tcp_priv.h: rcv_room, rcv_wnd): a connection without a buffer is offered
 * a whole one while the pool has more than its reserve (a sixteenth of it) left, and a
 * window of 0 after that (a new partial request waits rather than fails). Those shown
 * 0 for want of a buffer wait in a ring; when buffers come back, each in turn is sent
 * the window again (RFC 9293 3.8.6.2.2: a window update, here a whole buffer at once,
 * so never a silly one), as many per pass as there are buffers beyond the reserve.
 */
#include <stdlib.h>
#include "tcp/tcp_priv.h"

int rxbuf_init(struct tcp *e)
{
    struct rx_pool *p = &e->rx;
    uint32_t max = e->net.cfg.max_conns, cap = e->net.cfg.rx_buffers;
    if (!cap)
        cap = max / 16 > 1024 ? max / 16 : 1024;
    if (cap > max)
        cap = max;  /* a connection holds one buffer at most */
    p->cap = cap;
    /* For windows already promised (tcp_priv.h: rcv_wnd): the partial requests on
     * their way when the pool ran low, about a round trip's worth of arrivals. A
     * sixteenth holds those without idling much of the pool; a pool of fewer than
     * sixteen (a test's, a tiny --rx-buffers) keeps none and runs dry exactly. */
    p->reserve = cap / 16;
    p->mem = calloc(cap, TCP_RCV_CAP);
    p->back = malloc((size_t)cap * sizeof(uint32_t));
    p->wait = malloc((size_t)max * sizeof(uint32_t));
    p->ooo = calloc(cap, sizeof(*p->ooo));
    return p->mem && p->back && p->wait && p->ooo ? 0 : -1;
}

void rxbuf_free(struct tcp *e)
{
    free(e->rx.mem);
    free(e->rx.back);
    free(e->rx.wait);
    free(e->rx.ooo);
}

static void rx_gauge(struct tcp *e)
{
    uint64_t used = e->rx.cap - rxbuf_left(e);
    e->net.st->rx_buffers_in_use = used;
    if (used > e->net.st->rx_buffers_peak)
        e->net.st->rx_buffers_peak = used;
}

/* A buffer (its id, 1 + its index), or 0 when the pool is empty. The ones given back
 * go first: their pages are warm. */
uint32_t rxbuf_get(struct tcp *e)
{
    struct rx_pool *p = &e->rx;
    uint32_t id;
    if (p->nback)
        id = p->back[--p->nback];
    else if (p->bump < p->cap)
        id = ++p->bump;
    else
        return 0;
    rx_gauge(e);
    return id;
}

/* A buffer is given back once: it is not on the stack already. A walk of the stack:
 * debug builds only. */
static void put_check(const struct rx_pool *p, uint32_t id)
{
    for (uint32_t i = 0; i < p->nback; i++)
        SSDK_ASSERT(p->back[i] != id);
}

void rxbuf_put(struct tcp *e, uint32_t id)
{
    struct rx_pool *p = &e->rx;
    SSDK_ASSERT(id >= 1 && id <= p->bump && p->nback < p->bump);
    SSDK_DEBUG_ONLY(put_check(p, id));
    p->back[p->nback++] = id;
    rx_gauge(e);
}

/* c was shown a window of 0 for want of a buffer: it waits to be sent the window
 * again. The mark stays with the slot while its entry is in the ring, so a slot is
 * there once at most and the ring (max_conns places) never overflows. */
void rxbuf_wait(struct tcp *e, struct tcb *c)
{
    struct rx_pool *p = &e->rx;
    if (c->pool & PF_RX_WAIT)
        return;
    SSDK_ASSERT(p->wait_count < e->net.cfg.max_conns);
    c->pool |= PF_RX_WAIT;
    p->wait[(p->wait_head + p->wait_count++) % e->net.cfg.max_conns] = tcb_index(e, c);
    e->net.st->rx_window_closed++;
}

/* Whether the connection in the slot still waits for the window: synchronized (one
 * whose SYN-ACK showed 0 joins the ring when its handshake completes: tcp_in.c),
 * reading, its last ACK showed no room, and it holds no buffer (one that does opens as
 * the application reads it). */
static int wants_window(const struct tcb *c)
{
    return c->state != TCP_NONE && c->state != TCP_SYN_RECEIVED
        && !(c->flags & (TF_RCV_SHUT | TF_PEER_FIN)) && !c->rcv.bufid && !c->rcv.last_wnd;
}

/* One pass's window updates: each waiting connection once at most, as many as there
 * are buffers beyond the reserve. */
void rxbuf_wake(struct tcp *e)
{
    struct rx_pool *p = &e->rx;
    uint32_t max = e->net.cfg.max_conns;
    uint32_t spare = rxbuf_left(e) > p->reserve ? rxbuf_left(e) - p->reserve : 0;
    for (uint32_t n = p->wait_count; n && spare; n--) {
        struct tcb *c = &e->conns[p->wait[p->wait_head]];
        p->wait_head = (p->wait_head + 1) % max;
        if (--p->wait_count == 0)
            p->wait_head = 0;  /* as the transmit ring (tcp_sched.c): pages follow the peak */
        c->pool &= (uint8_t)~PF_RX_WAIT;
        if (!wants_window(c))
            continue;  /* gone, reused, or its window opened another way */
        if (!tcp_send_ctl(e, c, TH_ACK, c->snd.nxt)) {
            rxbuf_wait(e, c);  /* the TX ring is full: again later */
            e->net.st->rx_window_closed--;  /* the same wait, not a new one */
            continue;
        }
        e->net.st->rx_window_updates++;
        spare--;
    }
}
