/*
 * conn.c - the connection table: a pool of fixed-size slots allocated at start, a hash
 * from the peer's (address, port) to a slot, and initial sequence numbers.
 *
 * serve/loop.c -> tcp_init (the pool, the wheel, TIME-WAIT; tcp_input registered with
 *                 net/) ... tcp_free
 * tcp_in.c -> conn_lookup / conn_alloc;  tcp_in.c, tcp_timer.c -> conn_free -> up->gone
 *
 * Invariant: a slot is either on the free list or in exactly one hash chain. Our own
 * address and port are the same for every connection of an engine, so the peer's
 * half of the 4-tuple is the whole key.
 */
#include <stdlib.h>
#include <string.h>
#include "tcp/tcp_priv.h"

int tcp_init(struct tcp *e, const struct tcp_upcalls *up)
{
    uint32_t max = e->net.cfg.max_conns, buckets = 1;
    while (buckets < max * 2)
        buckets <<= 1;
    e->up = up;
    e->net.tcp_input = tcp_input;
    e->conns = calloc(max, sizeof(struct tcb));
    e->hash = malloc(buckets * sizeof(uint32_t));
    e->txq = malloc(max * sizeof(uint32_t));
    e->incarnation = calloc(max, sizeof(uint32_t));
    if (!e->conns || !e->hash || !e->txq || !e->incarnation || timer_init(e)
        || tw_init(e, e->net.cfg.time_wait_max ? e->net.cfg.time_wait_max : 1))
        return -1;
    e->hash_mask = buckets - 1;
    memset(e->hash, 0xff, buckets * sizeof(uint32_t));
    for (uint32_t i = 0; i < max; i++)
        e->conns[i].hnext = i + 1 < max ? i + 1 : NONE32;
    e->free_head = 0;
    return 0;
}

void tcp_free(struct tcp *e)
{
    free(e->wheel.slots);
    tw_free(e);
    free(e->conns);
    free(e->hash);
    free(e->txq);
    free(e->incarnation);
}

static uint32_t bucket(const struct tcp *e, uint32_t raddr, uint16_t rport)
{
    return (uint32_t)mix64(((uint64_t)raddr << 16 | rport) ^ e->isn_secret[1]) & e->hash_mask;
}

struct tcb *conn_lookup(struct tcp *e, uint32_t raddr, uint16_t rport)
{
    for (uint32_t i = e->hash[bucket(e, raddr, rport)]; i != NONE32; i = e->conns[i].hnext) {
        struct tcb *c = &e->conns[i];
        if (c->raddr == raddr && c->rport == rport)
            return c;
    }
    return NULL;
}

/* A zeroed slot, linked into the hash; NULL when the pool is exhausted. */
struct tcb *conn_alloc(struct tcp *e, uint32_t raddr, uint16_t rport)
{
    if (e->free_head == NONE32)
        return NULL;
    struct tcb *c = &e->conns[e->free_head];
    SSDK_ASSERT(c->state == TCP_NONE && c->timer.at_ms == 0);  /* a free slot is nothing else */
    e->free_head = c->hnext;
    /* The request buffer is not cleared: req_len says how much of it is valid. A slot
     * freed while on the transmit queue stays marked, so it is never queued twice. */
    uint8_t queued = c->flags & TF_TXQ;
    memset(c, 0, offsetof(struct tcb, rcv.buf));
    c->flags = queued;
    e->incarnation[tcb_index(e, c)]++;  /* tokens of the slot's last life go stale */
    c->raddr = raddr;
    c->rport = rport;
    c->timer.prev = c->timer.next = NONE32;
    progress_mark(e, c);
    uint32_t b = bucket(e, raddr, rport);
    c->hnext = e->hash[b];
    e->hash[b] = tcb_index(e, c);
    e->net.st->conns_active++;
    return c;
}

void conn_free(struct tcp *e, struct tcb *c)
{
    uint32_t idx = tcb_index(e, c);
    SSDK_ASSERT(c->state != TCP_NONE);  /* not freed twice: it is in a hash chain */
    timer_stop(e, c);
    e->up->gone(e, c);  /* what the application holds for it goes first */
    uint32_t *pp = &e->hash[bucket(e, c->raddr, c->rport)];
    while (*pp != idx) {
        SSDK_ASSERT(*pp != NONE32);  /* the invariant above: it is in its chain */
        pp = &e->conns[*pp].hnext;
    }
    *pp = c->hnext;
    if (c->state == TCP_SYN_RECEIVED)
        e->net.st->conns_syn_received = --e->syn_recv;
    c->state = TCP_NONE;
    c->hnext = e->free_head;
    e->free_head = idx;
    SSDK_ASSERT(e->net.st->conns_active > 0);
    SSDK_ASSERT(c->timer.at_ms == 0);
    e->net.st->conns_active--;
    e->net.st->conns_closed++;
}

/*
 * RFC 6528: ISN = M + F(4-tuple, secret), where M is a clock ticking every 4
 * microseconds. F is a keyed mix of the tuple, so ISNs of different peers are unrelated
 * and a new incarnation of the same tuple still starts ahead of the last one.
 */
uint32_t isn_make(struct tcp *e, uint32_t raddr, uint16_t rport)
{
    uint64_t f = mix64(mix64(((uint64_t)raddr << 32) ^ ((uint64_t)rport << 16) ^ e->port_be
                             ^ e->isn_secret[0]) ^ e->net.ip_be);
    return (uint32_t)f + (uint32_t)(e->net.now_us / 4);
}
