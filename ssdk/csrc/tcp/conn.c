/*
 * conn.c - the connection table: a pool of fixed-size slots allocated at start, a hash
 * from the peer's (address, port) to a slot, and initial sequence numbers.
 *
 * tcp_in.c -> conn_lookup / conn_alloc;  tcp_in.c, tcp_timer.c -> conn_free
 *
 * Invariant: a slot is either on the free list or in exactly one hash chain. Our own
 * address and port are the same for every connection of an engine, so the peer's
 * half of the 4-tuple is the whole key.
 */
#include <string.h>
#include "serve/engine.h"

static uint32_t bucket(const struct ssdk_engine *e, uint32_t raddr, uint16_t rport)
{
    return (uint32_t)mix64(((uint64_t)raddr << 16 | rport) ^ e->isn_secret[1]) & e->hash_mask;
}

struct conn *conn_lookup(struct ssdk_engine *e, uint32_t raddr, uint16_t rport)
{
    for (uint32_t i = e->hash[bucket(e, raddr, rport)]; i != NONE32; i = e->conns[i].hnext) {
        struct conn *c = &e->conns[i];
        if (c->raddr == raddr && c->rport == rport)
            return c;
    }
    return NULL;
}

/* A zeroed slot, linked into the hash; NULL when the pool is exhausted. */
struct conn *conn_alloc(struct ssdk_engine *e, uint32_t raddr, uint16_t rport)
{
    if (e->free_head == NONE32)
        return NULL;
    struct conn *c = &e->conns[e->free_head];
    SSDK_ASSERT(c->state == TCP_NONE && c->timer_at_ms == 0);  /* a free slot is nothing else */
    e->free_head = c->hnext;
    /* The request buffer is not cleared: req_len says how much of it is valid. A slot
     * freed while on the pending-output list stays marked, so it is never listed twice. */
    uint8_t pending = c->flags & CF_PENDING;
    memset(c, 0, offsetof(struct conn, req));
    c->flags = pending;
    e->incarnation[conn_index(e, c)]++;  /* tokens of the slot's last life go stale */
    c->raddr = raddr;
    c->rport = rport;
    c->resp = NONE32;
    c->tprev = c->tnext = NONE32;
    uint32_t b = bucket(e, raddr, rport);
    c->hnext = e->hash[b];
    e->hash[b] = conn_index(e, c);
    e->st->conns_active++;
    return c;
}

void conn_free(struct ssdk_engine *e, struct conn *c)
{
    uint32_t idx = conn_index(e, c);
    SSDK_ASSERT(c->state != TCP_NONE);  /* not freed twice: it is in a hash chain */
    timer_stop(e, c);
    resp_release(e, c);
    dyn_drop(c);
    if (c->hflags & HC_NEXT) {  /* an answer that waited behind a 100 Continue, never sent */
        SSDK_ASSERT(e->gen_refs[c->next_gen] > 0);
        e->gen_refs[c->next_gen]--;
    }
    uint32_t *pp = &e->hash[bucket(e, c->raddr, c->rport)];
    while (*pp != idx) {
        SSDK_ASSERT(*pp != NONE32);  /* the invariant above: it is in its chain */
        pp = &e->conns[*pp].hnext;
    }
    *pp = c->hnext;
    if (c->state == TCP_SYN_RECEIVED)
        e->st->conns_syn_received = --e->syn_recv;
    c->state = TCP_NONE;
    c->hnext = e->free_head;
    e->free_head = idx;
    SSDK_ASSERT(e->st->conns_active > 0);
    SSDK_ASSERT(c->timer_at_ms == 0);
    SSDK_ASSERT(c->resp == NONE32 || c->resp == RESP_WAIT);  /* no table held any more */
    e->st->conns_active--;
    e->st->conns_closed++;
}

/*
 * RFC 6528: ISN = M + F(4-tuple, secret), where M is a clock ticking every 4
 * microseconds. F is a keyed mix of the tuple, so ISNs of different peers are unrelated
 * and a new incarnation of the same tuple still starts ahead of the last one.
 */
uint32_t isn_make(struct ssdk_engine *e, uint32_t raddr, uint16_t rport)
{
    uint64_t f = mix64(mix64(((uint64_t)raddr << 32) ^ ((uint64_t)rport << 16) ^ e->port_be
                             ^ e->isn_secret[0]) ^ e->ip_be);
    return (uint32_t)f + (uint32_t)(e->now_us / 4);
}
