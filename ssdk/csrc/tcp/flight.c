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
 * (max_conns), so neither runs dry, and neither costs memory before it is used: the
 * blocks are calloc'ed (a fresh mapping at this size), handed out from a bump index,
 * and those given back are reused first, last in first out, through a free list kept
 * in the blocks themselves, so the pages touched follow the most blocks ever held at
 * once, not the pool's size.
 *
 * Invariants: c->fl is set exactly while the connection has a SYN, data or a FIN in
 * flight or to send (flight_wanted); c->fl->sb exactly while sack.nblocks > 0; a block
 * belongs to one connection at a time.
 */
#include <stdlib.h>
#include <string.h>
#include "tcp/tcp_priv.h"

/* What the pools cost per block, stated in docs/tcp.md ("Memory per connection"). */
_Static_assert(sizeof(struct tcb_flight) == 240, "the flight block is 240 bytes");
_Static_assert(sizeof(struct tcb_sb) == 96, "the scoreboard is 96 bytes");
_Static_assert(sizeof(struct tcb) == 208, "the control block is 208 bytes");

static int pool_init(struct blk_pool *p, uint32_t cap, uint32_t size)
{
    p->mem = calloc(cap, size);
    p->size = size;
    p->cap = cap;
    return p->mem ? 0 : -1;
}

static void *pool_get(struct blk_pool *p)
{
    uint8_t *b;
    if (p->free_head) {
        b = p->mem + (size_t)(p->free_head - 1) * p->size;
        memcpy(&p->free_head, b, sizeof(p->free_head));
    } else {
        /* Never dry: a pool has a block for every slot, and a slot holds one at most. */
        SSDK_ASSERT(p->bump < p->cap);
        b = p->mem + (size_t)p->bump++ * p->size;
    }
    p->used++;
    memset(b, 0, p->size);
    return b;
}

static void pool_put(struct blk_pool *p, void *blk)
{
    uint8_t *b = blk;
    uint32_t idx = (uint32_t)((size_t)(b - p->mem) / p->size);
    SSDK_ASSERT(b >= p->mem && idx < p->bump && p->used > 0);
    SSDK_ASSERT((size_t)(b - p->mem) % p->size == 0);
    memcpy(b, &p->free_head, sizeof(p->free_head));
    p->free_head = idx + 1;
    p->used--;
}

int flight_init(struct tcp *e)
{
    uint32_t max = e->net.cfg.max_conns;
    return pool_init(&e->flights, max, sizeof(struct tcb_flight))
        || pool_init(&e->sbs, max, sizeof(struct tcb_sb));
}

void flight_free(struct tcp *e)
{
    free(e->flights.mem);
    free(e->sbs.mem);
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
    c->fl = pool_get(&e->flights);
    c->fl->sack.recover = c->fl->sack.prev_una = c->snd.una;
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
        pool_put(&e->sbs, c->fl->sb);
    pool_put(&e->flights, c->fl);
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
    c->fl->sb = pool_get(&e->sbs);
    flight_gauge(e);
    return c->fl->sb;
}

void sb_put(struct tcp *e, struct tcb *c)
{
    SSDK_ASSERT(c->fl && c->fl->sb && !c->fl->sack.nblocks);
    pool_put(&e->sbs, c->fl->sb);
    c->fl->sb = NULL;
    flight_gauge(e);
}
