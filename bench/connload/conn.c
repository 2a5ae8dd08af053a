/*
 * conn.c - the client side of TCP, for every connection at once: the handshake, the one
 * request, the response taken in order, the hold, the timers, the reset at the end.
 *
 *   CS_NEW --SYN--> CS_SYN_SENT --SYN-ACK / ACK+request--> CS_WAIT --whole body--> CS_DONE
 *   any of them --RST from the server--> CS_RESET;  --FIN from the server--> CS_CLOSED
 *   a wrong answer or too many timeouts --our RST--> CS_FAILED
 *
 * The request rides on the ACK that completes the handshake: one frame fewer per
 * connection, and when the server answered with a SYN cookie that ACK is what makes the
 * connection there, request included. Only in-order data is taken; anything beyond a
 * gap gets a duplicate ACK asking for the gap and is dropped (the server sends it
 * again), anything already taken gets an ACK (a retransmission or a keepalive probe).
 * ACKs for data are gathered while a batch of received frames is read and sent once per
 * connection after it, so a response of many segments costs few ACKs.
 */
#include "connload.h"
#include <string.h>
#include <time.h>

#define RTO_SHIFT_MAX 5  /* the timeout doubles per try, up to 32 times the first */

uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint32_t now_ms(const struct lg *g)
{
    return (uint32_t)((mono_ns() - g->t0_ns) / 1000000ull);
}

/* Our ISN for connection idx: scattered, so a restarted run's segments cannot pass for
 * an earlier run's in the server's window, yet derived rather than stored. */
uint32_t conn_iss(const struct lg *g, uint32_t idx)
{
    uint32_t x = (idx + 1) * 0x9e3779b1u ^ g->cfg.seed;
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return x;
}

static const struct target *tg_of(const struct lg *g, uint32_t idx)
{
    return &g->cfg.tg[idx % g->cfg.ntargets];
}

/* Our next sequence number once the request is sent. */
static uint32_t snd_nxt(const struct lg *g, uint32_t idx)
{
    return conn_iss(g, idx) + 1 + tg_of(g, idx)->req_len;
}

/* Where the server's receive window starts: after the request once it has it. */
static uint32_t rst_seq(const struct lg *g, uint32_t idx, const struct conn *c)
{
    return (c->flags & CF_REQ_ACKED) ? snd_nxt(g, idx) : conn_iss(g, idx) + 1;
}

static void send_seg(struct lg *g, uint32_t idx, uint32_t seq, uint8_t flags, const void *d,
                     uint32_t n)
{
    uint8_t *f = ring_tx_slot(g->ring);
    if (!f) {
        g->ct.tx_lost++;  /* the ring never drained; the timers send again */
        return;
    }
    ring_tx_commit(g->ring, pkt_tcp(&g->cfg, f, idx, seq, g->conns[idx].rcv_nxt, flags, d, n));
    g->ct.tx_frames++;
}

static void send_request(struct lg *g, uint32_t idx)
{
    const struct target *t = tg_of(g, idx);
    send_seg(g, idx, conn_iss(g, idx) + 1, TH_ACK | TH_PSH, t->req, t->req_len);
}

/* Move to state s, keeping the gauges of connections per state. */
static void set_state(struct lg *g, struct conn *c, uint8_t s)
{
    uint64_t *gauge[] = {[CS_SYN_SENT] = &g->ct.half_open, [CS_WAIT] = &g->ct.waiting,
                         [CS_DONE] = &g->ct.held};
    if (c->state <= CS_DONE && c->state != CS_NEW)
        (*gauge[c->state])--;
    if (s <= CS_DONE && s != CS_NEW)
        (*gauge[s])++;
    if (c->state <= CS_WAIT && s >= CS_DONE)
        g->ct.finished++;  /* answered, or failed or lost before an answer */
    c->state = s;
}

/* Give up on a connection that is not answered right: count why, reset it at the server. */
static void fail(struct lg *g, uint32_t idx, uint64_t *why)
{
    struct conn *c = &g->conns[idx];
    (*why)++;
    if (c->state != CS_NEW) {
        send_seg(g, idx, rst_seq(g, idx, c), TH_RST, NULL, 0);
        g->ct.rsts_sent++;
    }
    set_state(g, c, CS_FAILED);
}

void conn_open(struct lg *g, uint32_t idx)
{
    struct conn *c = &g->conns[idx];
    c->sum = CRC32C_INIT;
    c->left = LEFT_HEADER;
    c->t_ms = now_ms(g);
    set_state(g, c, CS_SYN_SENT);
    g->ct.opened++;
    send_seg(g, idx, conn_iss(g, idx), TH_SYN, NULL, 0);
}

static void queue_ack(struct lg *g, uint32_t idx)
{
    struct conn *c = &g->conns[idx];
    if (c->flags & CF_ACK_QUEUED)
        return;
    if (g->nackq == g->ackq_cap)
        conn_flush_acks(g);
    c->flags |= CF_ACK_QUEUED;
    g->ackq[g->nackq++] = idx;
}

void conn_flush_acks(struct lg *g)
{
    for (uint32_t i = 0; i < g->nackq; i++) {
        uint32_t idx = g->ackq[i];
        struct conn *c = &g->conns[idx];
        c->flags &= (uint8_t)~CF_ACK_QUEUED;
        if (c->state == CS_WAIT || c->state == CS_DONE) {
            send_seg(g, idx, snd_nxt(g, idx), TH_ACK, NULL, 0);
            g->ct.acks++;
        }
    }
    g->nackq = 0;
}

static void synack_in(struct lg *g, uint32_t idx, struct conn *c, const struct seg *s)
{
    if ((s->flags & (TH_SYN | TH_ACK)) != (TH_SYN | TH_ACK) || s->ack != conn_iss(g, idx) + 1) {
        g->ct.rx_ignored++;
        return;
    }
    c->rcv_nxt = s->seq + 1;
    c->tries = 0;
    c->t_ms = now_ms(g);
    g->ct.established++;
    set_state(g, c, CS_WAIT);
    send_request(g, idx);
}

/* In-order response bytes. 0 if they failed the connection. */
static int payload_in(struct lg *g, uint32_t idx, struct conn *c, const uint8_t *d, uint32_t n)
{
    const struct target *t = tg_of(g, idx);
    if (c->state == CS_DONE) {
        g->ct.data_after++;  /* more than the one response asked for */
        return 1;
    }
    if (c->left == LEFT_HEADER) {
        uint32_t hl;
        uint64_t cl;
        if (!http_header(d, n, &hl, &cl)) {
            fail(g, idx, &g->ct.err_status);
            return 0;
        }
        if (cl != t->want_len) {
            fail(g, idx, &g->ct.err_length);
            return 0;
        }
        c->left = (uint32_t)cl;
        d += hl;
        n -= hl;
    }
    if (n > c->left) {
        fail(g, idx, &g->ct.err_length);
        return 0;
    }
    c->sum = crc32c(c->sum, d, n);
    c->left -= n;
    g->ct.body_bytes += n;
    if (c->left == 0) {
        if (crc32c_final(c->sum) != t->want_sum) {
            fail(g, idx, &g->ct.err_checksum);
            return 0;
        }
        g->ct.answered++;
        set_state(g, c, CS_DONE);
    }
    return 1;
}

/* The server's FIN, in order: ACK it with our own FIN; the connection is over. */
static void fin_in(struct lg *g, uint32_t idx, struct conn *c)
{
    c->rcv_nxt++;
    if (c->state == CS_DONE)
        g->ct.closed_after++;
    else
        g->ct.err_closed++;  /* before the whole response */
    set_state(g, c, CS_CLOSED);
    send_seg(g, idx, snd_nxt(g, idx), TH_FIN | TH_ACK, NULL, 0);
}

static void data_in(struct lg *g, uint32_t idx, struct conn *c, const struct seg *s)
{
    if (s->flags & TH_SYN) {  /* the SYN-ACK again: our ACK and request were lost */
        if (!(c->flags & CF_REQ_ACKED))
            send_request(g, idx);
        return;
    }
    if ((s->flags & TH_ACK) && (int32_t)(s->ack - snd_nxt(g, idx)) >= 0)
        c->flags |= CF_REQ_ACKED;
    uint32_t n = s->len;
    int32_t off = (int32_t)(c->rcv_nxt - s->seq);
    if (off < 0) {  /* past a gap: ask for what is missing */
        g->ct.ooo_segs++;
        queue_ack(g, idx);
        return;
    }
    if ((uint32_t)off >= n + !!(s->flags & TH_FIN)) {
        if (n || off > 0) {  /* taken already: a retransmission, or a keepalive probe */
            g->ct.dup_segs++;
            queue_ack(g, idx);
        }
        return;
    }
    if (n > (uint32_t)off) {
        n -= (uint32_t)off;
        g->ct.rx_bytes += n;
        if (!payload_in(g, idx, c, s->data + off, n))
            return;
        c->rcv_nxt += n;
        c->t_ms = now_ms(g);
        c->tries = 0;
        queue_ack(g, idx);
    }
    if (s->flags & TH_FIN)
        fin_in(g, idx, c);
}

static void rst_in(struct lg *g, uint32_t idx, struct conn *c, const struct seg *s)
{
    int ok = c->state == CS_SYN_SENT
                 ? (s->flags & TH_ACK) && s->ack == conn_iss(g, idx) + 1
                 : s->seq - c->rcv_nxt < 65536u;  /* within the window we offer */
    if (!ok || c->state == CS_NEW || c->state >= CS_FAILED) {
        g->ct.rx_ignored++;
        return;
    }
    if (c->state == CS_DONE)
        g->ct.rst_after++;
    else
        g->ct.err_rst++;
    set_state(g, c, CS_RESET);
}

static void seg_in(struct lg *g, const struct seg *s)
{
    struct conn *c = &g->conns[s->idx];
    if (s->flags & TH_RST) {
        rst_in(g, s->idx, c, s);
        return;
    }
    switch (c->state) {
    case CS_SYN_SENT:
        synack_in(g, s->idx, c, s);
        break;
    case CS_WAIT:
    case CS_DONE:
        data_in(g, s->idx, c, s);
        break;
    case CS_CLOSED:  /* our FIN+ACK was lost: the server sends its FIN again */
        if (s->flags & TH_FIN)
            send_seg(g, s->idx, snd_nxt(g, s->idx), TH_FIN | TH_ACK, NULL, 0);
        break;
    case CS_FAILED:
    case CS_RESET:  /* the server still has it (our RST was lost or not exact): again */
        if (s->flags & TH_ACK) {
            send_seg(g, s->idx, s->ack, TH_RST, NULL, 0);
            g->ct.rsts_sent++;
        }
        break;
    default:
        g->ct.rx_ignored++;
    }
}

static void arp_in(struct lg *g, const uint8_t *f, uint32_t len)
{
    int op;
    uint8_t sha[6];
    uint32_t spa, tpa;
    if (!pkt_arp_parse(f, len, &op, sha, &spa, &tpa))
        return;
    const struct cfg *cf = &g->cfg;
    if (op == 2 && spa == cf->dst_ip && !g->cfg.have_dmac) {
        memcpy(g->cfg.dmac, sha, 6);
        g->cfg.have_dmac = 1;
    } else if (op == 1 && tpa - cf->src_net - 1 < cf->naddrs) {
        /* The server answers to the frame's source MAC and needs no ARP, but any host
         * that asks for one of our addresses gets the answer a real host would give. */
        uint8_t *out = ring_tx_slot(g->ring);
        if (out) {
            ring_tx_commit(g->ring, pkt_arp(cf, out, 2, sha, tpa, spa));
            g->ct.arp_replies++;
        }
    }
}

void conn_frame(void *ctx, const uint8_t *frame, uint32_t len)
{
    struct lg *g = ctx;
    struct seg s;
    g->ct.rx_frames++;
    if (pkt_parse(&g->cfg, frame, len, &s))
        seg_in(g, &s);
    else if (len >= 14 && frame[12] == 0x08 && frame[13] == 0x06)
        arp_in(g, frame, len);
    else
        g->ct.rx_ignored++;
}

/* Send again what has waited too long for an answer; give up after cfg.tries sends. */
void conn_sweep(struct lg *g)
{
    uint32_t now = now_ms(g);
    while (g->lo < g->ct.opened && g->conns[g->lo].state > CS_WAIT)
        g->lo++;
    for (uint32_t idx = g->lo; idx < g->ct.opened; idx++) {
        struct conn *c = &g->conns[idx];
        if (c->state != CS_SYN_SENT && c->state != CS_WAIT)
            continue;
        uint32_t shift = c->tries < RTO_SHIFT_MAX ? c->tries : RTO_SHIFT_MAX;
        if (now - c->t_ms < g->cfg.rto_ms << shift)
            continue;
        c->t_ms = now;
        if (++c->tries >= g->cfg.tries) {
            fail(g, idx, c->state == CS_SYN_SENT ? &g->ct.err_syn_timeout
                                                 : &g->ct.err_resp_timeout);
        } else if (c->state == CS_SYN_SENT) {
            g->ct.syn_retries++;
            send_seg(g, idx, conn_iss(g, idx), TH_SYN, NULL, 0);
        } else {
            g->ct.req_retries++;
            if (c->flags & CF_REQ_ACKED)
                send_seg(g, idx, snd_nxt(g, idx), TH_ACK, NULL, 0);
            else
                send_request(g, idx);
        }
    }
}

/* The opening phase is over: whatever is not finished failed. */
void conn_expire(struct lg *g)
{
    for (uint32_t idx = g->lo; idx < g->cfg.conns; idx++) {
        uint8_t s = g->conns[idx].state;
        if (s == CS_NEW)
            fail(g, idx, &g->ct.err_not_opened);
        else if (s == CS_SYN_SENT)
            fail(g, idx, &g->ct.err_syn_timeout);
        else if (s == CS_WAIT)
            fail(g, idx, &g->ct.err_resp_timeout);
    }
}

/* Our exit's RSTs, at most `max` of them from connection *next on (which moves past
 * them); the number sent. The first round resets every connection the server may still
 * hold; later rounds (`again`) send the same RSTs once more, as a lost one would leave
 * the connection to the server's idle timeout, and a second one to a connection already
 * gone draws no answer. */
uint32_t conn_reset_some(struct lg *g, uint32_t *next, uint32_t max, int again)
{
    uint32_t n = 0;
    for (; *next < g->ct.opened && n < max; (*next)++) {
        uint32_t idx = *next;
        struct conn *c = &g->conns[idx];
        if (again ? !(c->flags & CF_OUR_RST)
                  : c->state != CS_SYN_SENT && c->state != CS_WAIT && c->state != CS_DONE)
            continue;
        send_seg(g, idx, rst_seq(g, idx, c), TH_RST, NULL, 0);
        if (!again) {
            set_state(g, c, CS_RESET);
            c->flags |= CF_OUR_RST;
            g->ct.reset_at_exit++;
        }
        n++;
    }
    g->ct.rsts_sent += n;
    ring_tx_flush(g->ring);
    return n;
}
