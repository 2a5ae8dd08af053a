/*
 * conn.c - the connection table: a pool of fixed-size slots allocated at start, a hash
 * from the peer's (address, port) to a slot, and initial sequence numbers.
 *
 * Nothing sized by max_conns is written at start, so a pool of a million slots costs
 * only address space until it is used: the slots, the hash's buckets (each holds 1 +
 * the first slot of its chain, so that zeroed memory is empty buckets) and the other
 * per-slot tables come from calloc or malloc, whose large blocks are fresh mappings;
 * free slots are those given back, linked, and then every slot never used, from
 * conn_bump on, so the free list is not threaded through the pool at start.
 *
 * serve/loop.c -> tcp_init (the pool, the wheel, TIME-WAIT; tcp_input registered with
 *                 net/) ... tcp_free
 * tcp_in.c -> conn_lookup / conn_alloc;  tcp_in.c, tcp_timer.c -> conn_free -> up->gone
 *
 * Invariant: a slot is either on the free list or in exactly one hash chain. Our own
 * port is the same for every connection of an engine, so the key is the peer's half of
 * the 4-tuple and the index of our address (net.h: 16 bytes for either version, IPv4
 * mapped).
 *
 * The pool under attack (RFC 4987): at most syn_recv_max slots are half-open (the SYN
 * backlog, never more than half the pool), so a SYN flood leaves half the pool to
 * connections that complete a handshake; beyond it, or with no free slot, SYNs get
 * cookies (tcp_listen.c). A connection between requests with nothing to send waits on
 * the idle list, least recently active first; a handshake that completes when the pool
 * is full evicts the first of them (conn_evict_idle), as nginx closes idle keep-alive
 * connections when worker_connections run out. Invariant: a slot is on the idle list
 * exactly when PF_IDLE_LIST is set, and then it is ESTABLISHED.
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
    e->net.tcp_ptb = tcp_ptb;
    e->conns = calloc(max, sizeof(struct tcb));
    e->hash = calloc(buckets, sizeof(uint32_t));
    e->txq = malloc(max * sizeof(uint32_t));
    e->incarnation = calloc(max, sizeof(uint32_t));
    if (!e->conns || !e->hash || !e->txq || !e->incarnation || timer_init(e)
        || tw_init(e, e->net.cfg.time_wait_max ? e->net.cfg.time_wait_max : 1)
        || rxbuf_init(e) || flight_init(e))
        return -1;
    e->hash_mask = buckets - 1;
    /* Half the pool: a flood of half-open entries can hold no more, so the other half
     * stays for handshakes that complete (cookies among them), and cookies engage
     * while slots are still free, whatever syn_backlog says. */
    uint32_t share = max / 2 ? max / 2 : 1;
    e->syn_recv_max = e->net.cfg.syn_backlog < share ? e->net.cfg.syn_backlog : share;
    e->idle_head = e->idle_tail = NONE32;
    if (e->net.cfg.max_conns_per_ip) {
        /* Sized from the pool (a load of at most one half): no allocation per peer. */
        e->per_ip = calloc(buckets, sizeof(*e->per_ip));
        if (!e->per_ip)
            return -1;
        e->per_ip_mask = buckets - 1;
    }
    e->free_head = 0;  /* the first never used: conn_bump */
    e->conn_bump = 0;
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
    free(e->per_ip);
    rxbuf_free(e);
    flight_free(e);
}

static uint32_t bucket(const struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                       uint8_t laddr, uint8_t lport)
{
    uint64_t key = e->isn_secret[1] ^ ((uint64_t)lport << 24 | (uint64_t)laddr << 16 | rport);
    return (uint32_t)addr_mix(raddr, key) & e->hash_mask;
}

/* A bucket holds 1 + its chain's first slot: 0 (zeroed memory) reads as NONE32. */
static uint32_t *chain_head(const struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                            uint8_t laddr, uint8_t lport)
{
    return &e->hash[bucket(e, raddr, rport, laddr, lport)];
}

struct tcb *conn_lookup(struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                        uint8_t laddr, uint8_t lport)
{
    for (uint32_t i = *chain_head(e, raddr, rport, laddr, lport) - 1; i != NONE32;
         i = e->conns[i].hnext) {
        struct tcb *c = &e->conns[i];
        if (c->rport == rport && c->laddr == laddr && c->lport == lport
            && ip_addr_eq(&c->raddr, raddr))
            return c;
    }
    return NULL;
}

/* Connections per peer address (cfg.max_conns_per_ip): linear probing, a slot empty
 * when its count is 0; deletion shifts the entries after it back (no tombstones), so a
 * lookup stops at the first empty slot. */
static uint32_t ip_home(const struct tcp *e, const struct ip_addr *addr)
{
    return (uint32_t)addr_mix(addr, e->isn_secret[0]) & e->per_ip_mask;
}

static struct ip_count *ip_find(const struct tcp *e, const struct ip_addr *addr)
{
    for (uint32_t i = ip_home(e, addr);; i = (i + 1) & e->per_ip_mask)
        if (!e->per_ip[i].n || ip_addr_eq(&e->per_ip[i].addr, addr))
            return &e->per_ip[i];  /* the table is never full: at most max_conns of 2x */
}

uint32_t conn_count_ip(const struct tcp *e, const struct ip_addr *raddr)
{
    return e->per_ip ? ip_find(e, raddr)->n : 0;
}

static void ip_add(struct tcp *e, const struct ip_addr *addr)
{
    struct ip_count *p = ip_find(e, addr);
    p->addr = *addr;
    p->n++;
}

static void ip_del(struct tcp *e, const struct ip_addr *addr)
{
    struct ip_count *p = ip_find(e, addr);
    SSDK_ASSERT(p->n > 0 && ip_addr_eq(&p->addr, addr));  /* every slot in use was counted */
    if (--p->n)
        return;
    uint32_t m = e->per_ip_mask, i = (uint32_t)(p - e->per_ip);
    for (uint32_t j = (i + 1) & m; e->per_ip[j].n; j = (j + 1) & m) {
        uint32_t k = ip_home(e, &e->per_ip[j].addr);
        /* j's entry may move into the hole at i unless its home lies in (i, j]. */
        if (((j - k) & m) >= ((j - i) & m)) {
            e->per_ip[i] = e->per_ip[j];
            e->per_ip[j].n = 0;
            i = j;
        }
    }
}

/* The idle list's invariant (debug builds): linked both ways, every entry flagged and
 * ESTABLISHED, the tail the last. A walk: called where eviction is, not per segment. */
static void idle_check(const struct tcp *e)
{
    uint32_t prev = NONE32, n = 0;
    for (uint32_t i = e->idle_head; i != NONE32; i = e->conns[i].idle_next) {
        const struct tcb *c = &e->conns[i];
        SSDK_ASSERT((c->pool & PF_IDLE_LIST) && c->state == TCP_ESTABLISHED);
        SSDK_ASSERT(c->idle_prev == prev && ++n <= e->net.cfg.max_conns);
        prev = i;
    }
    SSDK_ASSERT(e->idle_tail == prev);
}

static void idle_unlink(struct tcp *e, struct tcb *c)
{
    uint32_t idx = tcb_index(e, c);
    SSDK_ASSERT(c->pool & PF_IDLE_LIST);
    SSDK_ASSERT(c->idle_prev != NONE32 ? e->conns[c->idle_prev].idle_next == idx
                                       : e->idle_head == idx);
    SSDK_ASSERT(c->idle_next != NONE32 ? e->conns[c->idle_next].idle_prev == idx
                                       : e->idle_tail == idx);
    if (c->idle_prev != NONE32)
        e->conns[c->idle_prev].idle_next = c->idle_next;
    else
        e->idle_head = c->idle_next;
    if (c->idle_next != NONE32)
        e->conns[c->idle_next].idle_prev = c->idle_prev;
    else
        e->idle_tail = c->idle_prev;
    c->idle_prev = c->idle_next = NONE32;
    c->pool &= (uint8_t)~PF_IDLE_LIST;
}

/* Idle keep-alive, as nginx drains it: ESTABLISHED, between requests (the application
 * says so), nothing received unread, nothing in flight, nothing left to send, no close
 * begun. Only such a connection may be evicted: none in the middle of a request or a
 * response ever is. */
static int conn_is_idle(const struct tcb *c)
{
    return c->state == TCP_ESTABLISHED && (c->pool & PF_APP_IDLE) && !c->rcv.len
        && !c->rcv.nooo && c->snd.una == c->snd.max && c->snd.una == c->snd.end
        && !(c->flags & (TF_FIN_QUEUED | TF_PEER_FIN | TF_RCV_SHUT | TF_TXQ));
}

/* After a segment in or out (timer_after_output): an idle connection goes to the end of
 * the idle list (its activity is the latest), a busy one leaves it. O(1). */
void conn_idle_update(struct tcp *e, struct tcb *c)
{
    if (c->pool & PF_IDLE_LIST)
        idle_unlink(e, c);
    if (!conn_is_idle(c))
        return;
    uint32_t idx = tcb_index(e, c);
    c->idle_prev = e->idle_tail;
    c->idle_next = NONE32;
    if (e->idle_tail != NONE32)
        e->conns[e->idle_tail].idle_next = idx;
    else
        e->idle_head = idx;
    e->idle_tail = idx;
    c->pool |= PF_IDLE_LIST;
}

/*
 * The pool is full and a handshake completed: reset the least recently active idle
 * connection to free its slot. A RST frees the slot at once, where a FIN would hold it
 * through FIN-WAIT until the peer answers (or for good if our FIN were lost); the peer
 * is between requests, so it loses nothing, and an HTTP client retries a request on a
 * kept-alive connection that was closed under it (RFC 9112 9.3.1). Entries that became
 * busy without passing conn_idle_update are dropped from the list here, each once.
 * Returns 1 when a slot was freed.
 */
int conn_evict_idle(struct tcp *e)
{
    SSDK_DEBUG_ONLY(idle_check(e));
    while (e->idle_head != NONE32) {
        struct tcb *c = &e->conns[e->idle_head];
        SSDK_ASSERT(c->pool & PF_IDLE_LIST);
        idle_unlink(e, c);
        if (!conn_is_idle(c))
            continue;
        tcp_send_ctl(e, c, TH_RST, c->snd.nxt);
        e->net.st->conns_evicted_idle++;
        e->net.st->conns_reset++;
        conn_free(e, c);
        return 1;
    }
    return 0;
}

/* A zeroed slot, linked into the hash; NULL when the pool is exhausted. */
struct tcb *conn_alloc(struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                       uint8_t laddr, uint8_t lport)
{
    if (e->free_head == NONE32)
        return NULL;
    struct tcb *c = &e->conns[e->free_head];
    SSDK_ASSERT(c->state == TCP_NONE && c->timer.at_ms == 0);  /* a free slot is nothing else */
    SSDK_ASSERT(!c->rcv.bufid && e->rx.in_frame != c);  /* its buffer went back (conn_free) */
    SSDK_ASSERT(!c->fl);  /* and its flight block */
    if (e->free_head == e->conn_bump) {  /* never used: the next one is the next after it */
        e->conn_bump++;
        e->free_head = e->conn_bump < e->net.cfg.max_conns ? e->conn_bump : NONE32;
    } else {
        e->free_head = c->hnext;
    }
    /* A slot freed while on the transmit queue, or in the ring of those waiting for a
     * receive buffer, stays marked, so it is never in either twice. */
    uint8_t queued = c->flags & TF_TXQ, waiting = c->pool & PF_RX_WAIT;
    memset(c, 0, sizeof(*c));
    c->flags = queued;
    c->pool = waiting;
    e->incarnation[tcb_index(e, c)]++;  /* tokens of the slot's last life go stale */
    c->raddr = *raddr;
    c->rport = rport;
    c->laddr = laddr;
    c->lport = lport;
    c->timer.prev = c->timer.next = NONE32;
    c->idle_prev = c->idle_next = NONE32;
    if (e->per_ip)
        ip_add(e, raddr);
    progress_mark(e, c);
    uint32_t *head = chain_head(e, raddr, rport, laddr, lport);
    c->hnext = *head - 1;
    *head = tcb_index(e, c) + 1;
    e->net.st->conns_active++;
    return c;
}

void conn_free(struct tcp *e, struct tcb *c)
{
    uint32_t idx = tcb_index(e, c);
    SSDK_ASSERT(c->state != TCP_NONE);  /* not freed twice: it is in a hash chain */
    timer_stop(e, c);
    e->up->gone(e, c);  /* what the application holds for it goes first */
    if (e->rx.in_frame == c)
        e->rx.in_frame = NULL;
    tcp_rcv_discard(e, c);  /* its receive buffer goes back to the pool */
    flight_put(e, c);
    uint32_t *head = chain_head(e, &c->raddr, c->rport, c->laddr, c->lport);
    if (*head - 1 == idx) {
        *head = c->hnext + 1;  /* NONE32 + 1: empty */
    } else {
        uint32_t *pp = &e->conns[*head - 1].hnext;
        while (*pp != idx) {
            SSDK_ASSERT(*pp != NONE32);  /* the invariant above: it is in its chain */
            pp = &e->conns[*pp].hnext;
        }
        *pp = c->hnext;
    }
    if (c->pool & PF_IDLE_LIST)
        idle_unlink(e, c);
    if (e->per_ip)
        ip_del(e, &c->raddr);
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
uint32_t isn_make(struct tcp *e, const struct ip_rx *rx, uint16_t rport, uint16_t lport_be)
{
    uint64_t f = addr_mix(&rx->src, ((uint64_t)rport << 16) ^ lport_be ^ e->isn_secret[0]);
    f = addr_mix(&e->net.addr[rx->local], f);
    return (uint32_t)f + (uint32_t)(e->net.now_us / 4);
}
