/*
 * timewait.c - TIME-WAIT and FIN-WAIT-2 in compact form (RFC 9293 3.6.1, RFC 1337).
 *
 * tcp_in.c (tcp_segment) -> tw_enter      a connection reaches TIME-WAIT: its slot is freed
 *                        -> tw_enter_fin_wait_2   ... or FIN-WAIT-2
 * tcp_in.c (tcp_input)   -> tw_lookup / tw_input   a segment for a connection that is gone
 * serve/loop.c           -> tw_run        expiry
 *
 * A connection in TIME-WAIT needs only its 4-tuple, its two sequence numbers and its
 * timestamp state, so it leaves the connection pool (4 KiB and more per slot) for an
 * entry of this table. Entries are made in time order in a ring, so expiry looks only at
 * the oldest. The table is bounded: when it is full the oldest entry is given up early
 * and counted (tw_evicted), which is what every stack does under that pressure; the
 * slot and the port then serve new connections rather than lingering.
 * FIN-WAIT-2 needs no more: our FIN is acknowledged, so nothing can be sent again, and
 * what is left is to take the peer's FIN (then TIME-WAIT, in place) or to give up after
 * the FIN-WAIT-2 timeout, as Linux keeps an orphaned FIN-WAIT-2 in its time-wait
 * sockets for tcp_fin_timeout. Its entry may outlive that by as long as the entries
 * ahead of it in the ring wait (expiry looks at the oldest only); the slot is free
 * anyway.
 * Invariant: an entry is in the hash exactly when its local1 is nonzero, and `live`
 * counts them (tcp_input looks the table up only when there is one). An entry is 56
 * bytes: the peer's address takes 16 for either IP version (net.h).
 */
#include <stdlib.h>
#include <string.h>
#include "tcp/tcp_priv.h"

struct tw_entry {
    struct ip_addr raddr;
    uint16_t rport;
    uint8_t  rmac[6];
    uint32_t snd_nxt, rcv_nxt, iss, ts_recent;
    uint8_t  opts, ts_adj;
    uint8_t  fin_wait_2;      /* the peer's FIN has not come yet */
    uint8_t  local1;          /* 1 + our address's index and port's (tw_local1); 0: the
                                 entry is dead */
    uint32_t hnext;
    uint64_t expire_ms;
};
_Static_assert(sizeof(struct tw_entry) == 56, "the flags and the address index fit a word");

/* Our address (an index below 16: ssdk_config.addrs has 8) and port (TCP_PORT_*) in one
 * byte, plus 1 so that 0 marks a dead entry. */
static uint8_t tw_local1(uint8_t laddr, uint8_t lport)
{
    SSDK_ASSERT(laddr < 16 && lport < 4);
    return (uint8_t)((lport << 4 | laddr) + 1);
}

int tw_init(struct tcp *e, uint32_t cap)
{
    struct tw_table *t = &e->tw;
    uint32_t buckets = 1;
    while (buckets < cap * 2)
        buckets <<= 1;
    t->ent = calloc(cap, sizeof(struct tw_entry));
    t->hash = malloc(buckets * sizeof(uint32_t));
    if (!t->ent || !t->hash)
        return -1;
    memset(t->hash, 0xff, buckets * sizeof(uint32_t));
    t->cap = cap;
    t->mask = buckets - 1;
    return 0;
}

void tw_free(struct tcp *e)
{
    free(e->tw.ent);
    free(e->tw.hash);
}

static uint32_t bucket(const struct tw_table *t, const struct ip_addr *raddr, uint16_t rport,
                       uint8_t local1)
{
    uint64_t x = addr_mix(raddr, (uint64_t)local1 << 16 | rport);
    return (uint32_t)x & t->mask;
}

static void tw_gauges(struct tcp *e)
{
    SSDK_ASSERT(e->tw.fin_wait_2 <= e->tw.live);
    e->net.st->conns_time_wait = e->tw.live - e->tw.fin_wait_2;
    e->net.st->conns_fin_wait_2 = e->tw.fin_wait_2;
}

static void unhash(struct tcp *e, uint32_t idx)
{
    struct tw_table *t = &e->tw;
    struct tw_entry *w = &t->ent[idx];
    uint32_t *pp = &t->hash[bucket(t, &w->raddr, w->rport, w->local1)];
    while (*pp != idx)
        pp = &t->ent[*pp].hnext;
    *pp = w->hnext;
    w->local1 = 0;
    if (w->fin_wait_2)
        t->fin_wait_2--;
    t->live--;
    tw_gauges(e);
}

struct tw_entry *tw_lookup(struct tcp *e, const struct ip_addr *raddr, uint16_t rport,
                           uint8_t laddr, uint8_t lport)
{
    struct tw_table *t = &e->tw;
    uint8_t l1 = tw_local1(laddr, lport);
    for (uint32_t i = t->hash[bucket(t, raddr, rport, l1)]; i != NONE32; i = t->ent[i].hnext)
        if (t->ent[i].rport == rport && t->ent[i].local1 == l1
            && ip_addr_eq(&t->ent[i].raddr, raddr))
            return &t->ent[i];
    return NULL;
}

/* Take over c's TIME-WAIT (fin_wait_2: its FIN-WAIT-2, for wait_ms) and give its slot
 * back to the pool. */
static void tw_take(struct tcp *e, struct tcb *c, int fin_wait_2, uint32_t wait_ms)
{
    struct tw_table *t = &e->tw;
    if (t->count == t->cap) {  /* full: the oldest goes early */
        if (t->ent[t->head].local1)
            unhash(e, t->head);
        t->head = (t->head + 1) % t->cap;
        t->count--;
        e->net.st->tw_evicted++;
    }
    uint32_t idx = (t->head + t->count) % t->cap;
    struct tw_entry *w = &t->ent[idx];
    *w = (struct tw_entry){
        .raddr = c->raddr, .rport = c->rport, .snd_nxt = c->snd.nxt, .rcv_nxt = c->rcv.nxt,
        .iss = c->snd.iss, .ts_recent = c->rcv.ts_recent, .opts = c->opts, .ts_adj = c->ts_adj,
        .fin_wait_2 = (uint8_t)fin_wait_2, .local1 = tw_local1(c->laddr, c->lport),
        .expire_ms = now_ms(&e->net) + wait_ms,
    };
    memcpy(w->rmac, c->rmac, 6);
    uint32_t b = bucket(t, &w->raddr, w->rport, w->local1);
    w->hnext = t->hash[b];
    t->hash[b] = idx;
    t->count++;
    t->live++;
    t->fin_wait_2 += (uint32_t)!!fin_wait_2;
    tw_gauges(e);
    conn_free(e, c);
}

void tw_enter(struct tcp *e, struct tcb *c)
{
    SSDK_ASSERT(c->state == TCP_TIME_WAIT);
    tw_take(e, c, 0, e->net.cfg.time_wait_ms);
}

/* FIN-WAIT-2 for the idle timeout (60 s by default: Linux's tcp_fin_timeout), counted
 * from the ACK of our FIN. */
void tw_enter_fin_wait_2(struct tcp *e, struct tcb *c)
{
    SSDK_ASSERT(c->state == TCP_FIN_WAIT_2 && c->snd.una == c->snd.max);
    tw_take(e, c, 1, e->net.cfg.idle_ms);
}

/* An ACK from a TIME-WAIT entry, through the ordinary output path. */
static void tw_ack(struct tcp *e, const struct tw_entry *w)
{
    struct tcb tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.raddr = w->raddr;
    tmp.rport = w->rport;
    tmp.laddr = (uint8_t)((w->local1 - 1) & 15);
    tmp.lport = (uint8_t)((w->local1 - 1) >> 4);
    memcpy(tmp.rmac, w->rmac, 6);
    tmp.rcv.nxt = w->rcv_nxt;
    tmp.snd.iss = w->iss;
    tmp.rcv.ts_recent = w->ts_recent;
    tmp.opts = w->opts & CO_TS;
    tmp.ts_adj = w->ts_adj;
    tcp_send_ctl(e, &tmp, TH_ACK, w->snd_nxt);
}

/*
 * RFC 9293 3.10.7.4 in TIME-WAIT: the peer's FIN again (its ACK of ours was lost) is
 * acknowledged and restarts the wait; an exact RST ends it (RFC 1337 would ignore it,
 * but the peer that sends one has nothing left to protect); a new SYN beyond the old
 * sequence space ends it and opens a new connection (returns 1: go on as a SYN).
 * Everything else is dropped.
 */
/*
 * RFC 9293 3.10.7.4 in FIN-WAIT-2, for an entry: an exact RST ends it, a SYN gets a
 * challenge ACK (RFC 5961 4.2); bytes in order are read and dropped (we closed: as in
 * the pool), and a FIN after them is acknowledged and makes the entry TIME-WAIT, its
 * wait starting now. Anything else that occupies sequence space is acknowledged.
 */
static void fin_wait_2_input(struct tcp *e, struct tw_entry *w, const struct seg *s)
{
    uint32_t idx = (uint32_t)(w - e->tw.ent);
    if (s->flags & TH_RST) {
        if (s->seq == w->rcv_nxt) {
            e->net.st->rst_received++;
            unhash(e, idx);
        }
        return;
    }
    if (s->flags & TH_SYN) {
        e->net.st->challenge_acks++;
        tw_ack(e, w);
        return;
    }
    if (s->seq == w->rcv_nxt) {
        if (s->opt.has_ts)
            w->ts_recent = s->opt.tsval;  /* RFC 7323 4.3: what our ACK echoes */
        w->rcv_nxt += s->len;
        if (s->flags & TH_FIN) {
            w->rcv_nxt++;
            w->fin_wait_2 = 0;
            e->tw.fin_wait_2--;
            w->expire_ms = now_ms(&e->net) + e->net.cfg.time_wait_ms;
            tw_gauges(e);
        }
    }
    if (s->len || (s->flags & TH_FIN))
        tw_ack(e, w);
}

int tw_input(struct tcp *e, struct tw_entry *w, const struct seg *s)
{
    uint32_t idx = (uint32_t)(w - e->tw.ent);
    if (w->fin_wait_2) {
        fin_wait_2_input(e, w, s);
        return 0;
    }
    if ((s->flags & TH_SYN) && !(s->flags & TH_ACK) && seq_lt(w->rcv_nxt, s->seq)) {
        unhash(e, idx);
        return 1;
    }
    if ((s->flags & TH_RST) && s->seq == w->rcv_nxt) {
        e->net.st->rst_received++;
        unhash(e, idx);
    } else if ((s->flags & TH_FIN) && s->seq + s->len + 1 == w->rcv_nxt) {
        w->expire_ms = now_ms(&e->net) + e->net.cfg.time_wait_ms;
        tw_ack(e, w);
    }
    return 0;
}

/* Entries in use (for checks: it walks the whole ring). */
uint32_t tw_live(const struct tcp *e)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < e->tw.count; i++)
        n += e->tw.ent[(e->tw.head + i) % e->tw.cap].local1 != 0;
    return n;
}

/* Expire the oldest entries. One whose wait was restarted holds the ones behind it for
 * at most one more wait, which errs on the safe side. */
void tw_run(struct tcp *e)
{
    struct tw_table *t = &e->tw;
    uint64_t now = now_ms(&e->net);
    while (t->count) {
        struct tw_entry *w = &t->ent[t->head];
        if (w->local1 && w->expire_ms > now)
            break;
        if (w->local1 && w->fin_wait_2)
            e->net.st->conns_timed_out++;  /* the FIN-WAIT-2 timeout, as in the pool */
        if (w->local1)
            unhash(e, t->head);
        t->head = (t->head + 1) % t->cap;
        t->count--;
    }
}
