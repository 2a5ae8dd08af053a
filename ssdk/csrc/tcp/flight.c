/*
 * flight.c - the state a connection needs only while data is out: the flight block
 * (struct tcb_flight: loss recovery, RACK, the controller's working state, pacing) and
 * the SACK scoreboard (struct tcb_sb), each from a pool of its own.
 *
 * tcp_init (conn.c) -> flight_init ... tcp_free -> flight_free
 * tcp_listen.c (a SYN-ACK goes) -> flight_take
 * tcp_timer.c (timer_after_output: after every segment in or out) -> flight_settle
 *     -> flight_take (data or a FIN written) | flight_put (all of it acknowledged)
 * conn.c (conn_free) -> flight_put
 * tcp_sack.c (the first range SACKed, the last one gone) -> sb_take, sb_put
 * flight_take, flight_put -> cc_flight_begin, cc_flight_end (tcp_cc.c)
 *
 * An idle keep-alive connection, the common one by far, holds neither: what it keeps
 * between requests is struct tcb alone. Both pools have a block for every slot
 * (max_conns), so neither runs dry, and neither costs memory before it is used
 * (base/slab.h: the pages touched follow the most blocks ever held at once, not the
 * pool's size).
 *
 * Invariants: c->fl is set exactly while the connection has a SYN, data or a FIN in
 * flight or to send (flight_wanted); c->fl->sb exactly while sack.nblocks > 0; a block
 * belongs to one connection at a time.
 */
#include "tcp/tcp_priv.h"

/* What the pools cost per block, stated in docs/tcp.md ("Memory per connection"). */
_Static_assert(sizeof(struct tcb_flight) == 256, "the flight block is 256 bytes");
_Static_assert(sizeof(struct tcb_sb) == 2032, "the scoreboard is 2,032 bytes");
_Static_assert(sizeof(struct tcb) == 208, "the control block is 208 bytes");

int flight_init(struct tcp *e)
{
    uint32_t max = e->net.cfg.max_conns;
    return slab_init(&e->flights, max, sizeof(struct tcb_flight), 0)
        || slab_init(&e->sbs, max, sizeof(struct tcb_sb), 0);
}

void flight_free(struct tcp *e)
{
    SSDK_DEBUG_ONLY(slab_check(&e->flights));
    SSDK_DEBUG_ONLY(slab_check(&e->sbs));
    slab_free(&e->flights);
    slab_free(&e->sbs);
}

/* A zeroed block from a pool that never runs dry (a block per slot, one a slot). */
static void *block_take(struct slab *s)
{
    return slab_at(s, slab_take(s));
}

static void block_give(struct slab *s, void *blk)
{
    slab_give(s, slab_index(s, blk));
}

static void flight_gauge(struct tcp *e)
{
    e->net.st->flights_in_use = e->flights.used;
    if (e->flights.used > e->net.st->flights_peak)
        e->net.st->flights_peak = e->flights.used;
    e->net.st->scoreboards_in_use = e->sbs.used;
}

/* A flight begins: sequence state as a flight with nothing lost yet, and the
 * controller's working state from what it kept (cc_flight_begin). */
void flight_take(struct tcp *e, struct tcb *c)
{
    SSDK_ASSERT(!c->fl && tcb_in_pool(e, c));
    c->fl = block_take(&e->flights);
    c->fl->sack.recover = c->fl->sack.prev_una = c->snd.una;
    c->fl->sack.rtx_hi = c->fl->sack.lost_hi = c->snd.una;
    c->fl->pace_us = 0;
    cc_flight_begin(e, c);
    flight_gauge(e);
}

/* The flight is over (or the connection gone): the controller keeps what it may use
 * next time (cc_flight_end); the rest, undo and RACK's history included, goes. */
void flight_put(struct tcp *e, struct tcb *c)
{
    if (!c->fl)
        return;
    cc_flight_end(c);
    if (c->fl->sb)
        block_give(&e->sbs, c->fl->sb);
    block_give(&e->flights, c->fl);
    c->fl = NULL;
    c->flags &= (uint8_t)~TF_TIMING;  /* the timed segment's start went with the block */
    flight_gauge(e);
}

/* Whether anything of ours is in flight or waits to go: a SYN, data, a FIN. */
static int flight_wanted(const struct tcb *c)
{
    return c->snd.una != c->snd.max || c->snd.una != c->snd.end
        || (c->flags & TF_FIN_QUEUED);
}

void flight_settle(struct tcp *e, struct tcb *c)
{
    if (flight_wanted(c)) {
        if (!c->fl)
            flight_take(e, c);
    } else if (c->fl) {
        flight_put(e, c);
    }
}

struct tcb_sb *sb_take(struct tcp *e, struct tcb *c)
{
    SSDK_ASSERT(c->fl && !c->fl->sb && !c->fl->sack.nblocks);
    c->fl->sb = block_take(&e->sbs);
    flight_gauge(e);
    return c->fl->sb;
}

void sb_put(struct tcp *e, struct tcb *c)
{
    SSDK_ASSERT(c->fl && c->fl->sb && !c->fl->sack.nblocks);
    block_give(&e->sbs, c->fl->sb);
    c->fl->sb = NULL;
    flight_gauge(e);
}
