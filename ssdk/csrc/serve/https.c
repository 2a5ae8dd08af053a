/*
 * https.c - HTTP over TLS on the stack's connections (docs/tls.md): the TLS port's
 * handshakes, and the records between TCP's byte stream and HTTP's.
 *
 * serve.c on_recv -> https_recv -> hs_input -> tls_hs_input (GnuTLS, tls/) -> hs_lay
 *                                           -> tls_hs_finish: keys into link.tc
 *                               -> records_in -> tls_conn_input (tls/) -> plain_in
 *                                                -> http_body_in, else the buffer
 * serve.c on_sent -> https_sent (runs acknowledged go; records TCP held are opened)
 *                 -> http_serve reads in_data / in_consume (engine.h -> https_in_*)
 *                 -> resp_flush -> out_write (https_out_write) -> lay
 *                 -> https_after -> ctrl_lay (tls_conn_output), lay, the FIN
 * serve.c on_payload -> https_payload -> run_bytes: GnuTLS's bytes, our control
 *                       records, or seal_record (resp_copy, tls_seal_buf) and the sum
 *
 * TCP carries the records; HTTP reads and writes the plaintext, in its own stream of
 * offsets counted from 0 (a response's seq and end are plaintext offsets). What TCP's
 * stream holds is laid out in runs, each one piece of bytes made the same way: the
 * handshake's bytes (GnuTLS keeps them until acknowledged), a few control records
 * sealed once (KeyUpdate, close_notify, an alert: kept in the link), or a stretch of
 * HTTP's stream cut into records of rec_plain bytes, the last one shorter, numbered from
 * rec0. A record of such a run is sealed whenever TCP asks for its bytes, first time or
 * again, from the same plaintext (the responses hold their table, answers their copy)
 * with the same key and sequence number: the same bytes, and never a nonce used for
 * other plaintext. Records are sized so that one fills a segment; a segment ends where a
 * record does (https_seg_len).
 *
 * Invariants: runs follow one another in TCP's stream from SND.UNA's run on, the last
 * ending at SND.END; the handshake's runs come before any other; every record run still
 * out was sealed with the current write keys (our KeyUpdate goes only once everything
 * before it is acknowledged, and before any record after it).
 */
#include <stdio.h>
#include <string.h>
#include "base/csum.h"
#include "serve/engine.h"
#include "tls/tls.h"
#include "tls/tls_record.h"

#define TLS_RUNS      8
#define TLS_CTRL_CAP  96          /* a KeyUpdate and two alerts: 27 + 2 x 24 in TLS 1.3 */
/* Request plaintext held: a header block in part (TCP_RCV_CAP at most, as on the HTTP
 * port) and the record opened after it. */
#define TLS_PLAIN_CAP (TCP_RCV_CAP + TLS_RECORD_MAX_PLAIN)

enum run_kind { RUN_HS = 1, RUN_REC = 2, RUN_CTRL = 3 };
struct tls_run {
    uint64_t rec0;            /* RUN_REC: its first record's sequence number */
    uint32_t c0, c1;          /* its bytes of TCP's stream */
    uint32_t p0, p1;          /* RUN_REC: the plaintext they carry */
    uint8_t  kind;            /* enum run_kind */
#ifdef SSDK_DEBUG
    uint64_t *sealed;         /* RUN_REC: each record's bytes as first sealed, hashed (0:
                                 not yet), to check that every resend is the same */
#endif
};

enum link_phase {
    LP_NEW = 0,               /* nothing read yet */
    LP_HS,                    /* the handshake: a GnuTLS session reads and writes */
    LP_OPEN,                  /* records both ways */
    LP_OVER,                  /* failed or closed: nothing more is read, nor written
                                 beyond what is laid out */
};

#define LF_CLOSING     0x01  /* HTTP closed: close_notify and FIN once all is laid out */
#define LF_PEER_CLOSED 0x02  /* the client's close_notify came: it writes no more */
#define LF_NOTIFIED    0x04  /* our close_notify is laid out (it goes once) */

/* One connection's TLS side, at its control block's index (e->tls_links). */
struct tls_link {
    struct tls_conn tc;       /* keys, sequence numbers, secrets, what is owed (tls/) */
    struct tls_hs *hs;        /* the handshake, until all its bytes are acknowledged */
    uint64_t since_ms;        /* when the handshake began (its deadline's clock) */
    uint32_t hs_seq;          /* TCP's sequence number of the first byte hs still has */
    uint32_t buf;             /* 1 + its buffer (e->tls_bufs), or 0 */
    uint32_t plain_len;       /* plaintext in the buffer HTTP has not consumed */
    uint32_t p_una;           /* HTTP's stream: acknowledged (whole records) up to */
    uint32_t p_want;          /* ... written by HTTP up to */
    uint32_t p_laid;          /* ... laid out in records up to */
    uint16_t rec_plain;       /* plaintext bytes a record carries (one fills a segment) */
    uint8_t  phase;           /* enum link_phase */
    uint8_t  lflags;          /* LF_* */
    uint8_t  run0, nrun;      /* the runs out, a ring, oldest first */
    uint8_t  ctrl_len;        /* bytes of control records in ctrl (one run at a time) */
    uint8_t  ctrl[TLS_CTRL_CAP];
    struct tls_run run[TLS_RUNS];
};

#ifndef SSDK_DEBUG  /* (debug builds add a pointer to each run) */
_Static_assert(sizeof(struct tls_link) == 616, "what a TLS connection keeps (docs/tls.md)");
#endif

/* A client's record being reassembled, and the request plaintext HTTP has not consumed:
 * from a pool, held only while either is there. */
struct tls_buf {
    uint8_t  rec[TLS_RX_BUFFER];
    uint8_t  plain[TLS_PLAIN_CAP];
    uint32_t link;            /* free: the next free entry */
};

static struct tls_link *link_of(const struct ssdk_engine *e, const struct tcb *c)
{
    return &e->tls_links[tcb_index(&e->tcp, c)];
}

static struct tls_buf *buf_of(const struct ssdk_engine *e, const struct tls_link *l)
{
    SSDK_ASSERT(l->buf);
    return &e->tls_bufs[l->buf - 1];
}

#ifdef SSDK_DEBUG
/* The debug build's check of the design's promise: a record sealed again (a resend) is
 * the very bytes sent before, so no nonce ever protected two plaintexts. */
static void sealed_check(const struct tls_run *r, uint32_t k, const uint8_t *p, uint32_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h |= 1;  /* never 0, which means not yet sealed */
    if (!r->sealed[k])
        r->sealed[k] = h;
    SSDK_ASSERT(r->sealed[k] == h);
}
#endif

static void run_drop(struct tls_run *r)
{
#ifdef SSDK_DEBUG
    free(r->sealed);
    r->sealed = NULL;
#endif
    (void)r;
}

static struct tls_run *run_at(struct tls_link *l, unsigned i)
{
    SSDK_ASSERT(i < l->nrun);
    return &l->run[(l->run0 + i) % TLS_RUNS];
}

/* Bytes of TCP's stream a record of len plaintext bytes takes. */
static uint32_t rec_len(const struct tls_link *l, uint32_t len)
{
    return (uint32_t)tls_record_len(&l->tc.wr, len);
}

/* ---- set-up --------------------------------------------------------------------- */

int ssdk_engine_tls(struct ssdk_engine *e, struct tls_server *srv, char *err, size_t errlen)
{
    if (!srv) {
        snprintf(err, errlen, "no TLS server given");
        return -1;
    }
    if (!e->tls_links) {
        snprintf(err, errlen, "the engine has no TLS port (ssdk_config.tls_port)");
        return -1;
    }
    e->tls_srv = srv;
    return 0;
}

/* The links, one per slot (calloc'ed: a page costs memory once a TLS connection used
 * a slot on it), and the buffers, as many as TCP's receive buffers (tcp/rxbuf.c): both
 * are held by connections in the middle of a request. */
int https_init(struct ssdk_engine *e)
{
    const struct ssdk_config *cfg = &e->tcp.net.cfg;
    if (!cfg->tls_port)
        return 0;
    e->tls_links = calloc(cfg->max_conns, sizeof(struct tls_link));
    if (!e->tls_links
        || slab_init(&e->tls_buf_slab, e->tcp.rx.cap, sizeof(struct tls_buf),
                     offsetof(struct tls_buf, link)))
        return -1;
    e->tls_bufs = (struct tls_buf *)e->tls_buf_slab.base;
    return 0;
}

void https_free(struct ssdk_engine *e)
{
    if (!e->tls_links)
        return;
    for (uint32_t i = 0; i < e->tcp.conn_bump; i++)  /* the slots ever used */
        tls_hs_free(e->tls_links[i].hs);
    free(e->tls_links);
    slab_free(&e->tls_buf_slab);
}

static void gauges(struct ssdk_engine *e)
{
    stats(e)->tls_handshakes_in_use = e->tls_hs_live;
    stats(e)->tls_buffers_in_use = e->tls_buf_slab.used;
}

/* ---- the buffer ----------------------------------------------------------------- */

static int buf_hold(struct ssdk_engine *e, struct tls_link *l)
{
    if (l->buf)
        return 0;
    if (e->tls_buf_slab.used == e->tls_buf_slab.cap)
        return -1;
    l->buf = slab_take(&e->tls_buf_slab) + 1;
    gauges(e);
    return 0;
}

static void buf_settle(struct ssdk_engine *e, struct tls_link *l)
{
    if (!l->buf || l->plain_len || l->tc.rx_have)
        return;
    slab_give(&e->tls_buf_slab, l->buf - 1);
    l->buf = 0;
    gauges(e);
}

const uint8_t *https_in_data(const struct ssdk_engine *e, const struct tcb *c)
{
    const struct tls_link *l = link_of(e, c);
    return l->buf ? buf_of(e, l)->plain : NULL;
}

uint32_t https_in_len(const struct ssdk_engine *e, const struct tcb *c)
{
    return link_of(e, c)->plain_len;
}

void https_in_consume(struct ssdk_engine *e, struct tcb *c, uint32_t n)
{
    struct tls_link *l = link_of(e, c);
    SSDK_ASSERT(n <= l->plain_len);
    if (!n)
        return;
    uint8_t *p = buf_of(e, l)->plain;
    memmove(p, p + n, l->plain_len - n);
    l->plain_len -= n;
    buf_settle(e, l);
}

void https_in_discard(struct ssdk_engine *e, struct tcb *c)
{
    struct tls_link *l = link_of(e, c);
    l->plain_len = 0;
    buf_settle(e, l);
}

/* ---- laying out TCP's stream ---------------------------------------------------- */

/* len more bytes of TCP's stream, made as kind says. */
static struct tls_run *run_push(struct tcb *c, struct tls_link *l, uint8_t kind, uint32_t len)
{
    SSDK_ASSERT(l->nrun < TLS_RUNS);
    struct tls_run *r = &l->run[(l->run0 + l->nrun++) % TLS_RUNS];
    *r = (struct tls_run){.kind = kind, .c0 = c->snd.end, .c1 = c->snd.end + len};
    tcp_write_stream(c, r->c1);
    return r;
}

/* The handshake's bytes GnuTLS made since the last call go out as a run. */
static void hs_lay(struct tcb *c, struct tls_link *l)
{
    const uint8_t *p;
    uint32_t have = (uint32_t)tls_hs_pending(l->hs, &p);
    uint32_t laid = c->snd.end - l->hs_seq;
    /* Not after our FIN: a handshake still fed by the peer's bytes once we closed (an
     * alert went, or the request was answered) has nowhere to go. */
    if (have > laid && l->nrun < TLS_RUNS && !(c->flags & TF_FIN_QUEUED))
        run_push(c, l, RUN_HS, have - laid);
}

/* What tls_conn_output owes (our KeyUpdate, close_notify, an alert), sealed now into
 * the link as a run of its own: one at a time. Our KeyUpdate changes the write keys,
 * so it waits until every record sealed with the old ones is acknowledged. */
static void ctrl_lay(struct ssdk_engine *e, struct tcb *c, struct tls_link *l)
{
    if (!l->tc.pending || l->ctrl_len || l->nrun == TLS_RUNS
        || (c->flags & TF_FIN_QUEUED))
        return;
    if ((l->tc.pending & TLS_PEND_KEY_UPDATE) && c->snd.una != c->snd.end)
        return;
    uint8_t owed = l->tc.pending;
    int n = tls_conn_output(&l->tc, l->ctrl, sizeof(l->ctrl));
    if (n <= 0)
        return;
    if (owed & TLS_PEND_CLOSE_NOTIFY)
        l->lflags |= LF_NOTIFIED;
    l->ctrl_len = (uint8_t)n;
    run_push(c, l, RUN_CTRL, (uint32_t)n);
    stats(e)->tls_records_sealed++;
}

/* HTTP's stream written past what is laid out becomes one run of records, once nothing
 * owed goes before it (a KeyUpdate the client asked for precedes our next data, RFC
 * 8446 4.6.3) and a run is free. */
static void lay(struct tcb *c, struct tls_link *l)
{
    /* RFC 8446 5.5: about 2^24.5 records at most under one AES-GCM key; a TLS 1.3
     * connection that far moves to new keys of its own accord (TLS 1.2 has no way to). */
    if (l->tc.wr.minor == 4 && l->tc.wr.seq >= (1u << 24))
        l->tc.pending |= TLS_PEND_KEY_UPDATE;
    if (l->phase != LP_OPEN || l->p_laid == l->p_want || (l->tc.pending & TLS_PEND_KEY_UPDATE)
        || l->nrun == TLS_RUNS || (c->flags & TF_FIN_QUEUED))
        return;
    uint32_t len = l->p_want - l->p_laid, n = (len + l->rec_plain - 1) / l->rec_plain;
    uint32_t last = len - (n - 1) * l->rec_plain;
    struct tls_run *r = run_push(c, l, RUN_REC,
                                 (n - 1) * rec_len(l, l->rec_plain) + rec_len(l, last));
    r->p0 = l->p_laid;
    r->p1 = l->p_want;
    r->rec0 = l->tc.wr.seq;
    l->tc.wr.seq += n;
#ifdef SSDK_DEBUG
    r->sealed = calloc(n, sizeof(uint64_t));
    SSDK_ASSERT(r->sealed != NULL);
#endif
    l->p_laid = l->p_want;
}

/* Whatever waits goes: what TLS owes, HTTP's records, then (HTTP closed) close_notify
 * and our FIN, once all is laid out. */
static void flush(struct ssdk_engine *e, struct tcb *c, struct tls_link *l)
{
    ctrl_lay(e, c, l);
    lay(c, l);
    if (!(l->lflags & LF_CLOSING) || (c->flags & TF_FIN_QUEUED) || l->p_laid != l->p_want)
        return;
    if (l->phase == LP_OPEN && l->tc.phase != TLS_FAILED && !(l->lflags & LF_NOTIFIED)) {
        l->tc.pending |= TLS_PEND_CLOSE_NOTIFY;  /* RFC 8446 6.1: before our FIN */
        ctrl_lay(e, c, l);
    }
    if (l->tc.pending && l->phase == LP_OPEN)
        return;  /* owed records wait for a control run still out: the FIN waits too */
    tcp_close(&e->tcp, c);
}

int https_peer_closed(const struct ssdk_engine *e, const struct tcb *c)
{
    return (link_of(e, c)->lflags & LF_PEER_CLOSED) != 0;
}

uint32_t https_out_una(const struct ssdk_engine *e, const struct tcb *c)
{
    return link_of(e, c)->p_una;
}

uint32_t https_out_end(const struct ssdk_engine *e, const struct tcb *c)
{
    return link_of(e, c)->p_want;
}

void https_out_write(struct ssdk_engine *e, struct tcb *c, uint32_t end)
{
    struct tls_link *l = link_of(e, c);
    l->p_want = end;
    lay(c, l);
}

void https_out_close(struct ssdk_engine *e, struct tcb *c)
{
    struct tls_link *l = link_of(e, c);
    l->lflags |= LF_CLOSING;
    flush(e, c, l);
}

void https_after(struct ssdk_engine *e, struct tcb *c)
{
    flush(e, c, link_of(e, c));
}

/* The runs TCP's acknowledgment covers go: GnuTLS may drop the handshake's bytes, the
 * control buffer is free, and HTTP's stream is acknowledged up to the last record
 * wholly acknowledged. The GnuTLS session goes once its bytes are all through. */
static void runs_acked(struct ssdk_engine *e, struct tcb *c, struct tls_link *l)
{
    while (l->nrun) {
        struct tls_run *r = run_at(l, 0);
        if (r->kind == RUN_REC) {
            uint32_t got = seq_lt(c->snd.una, r->c1) ? c->snd.una - r->c0 : r->c1 - r->c0;
            uint32_t whole = got / rec_len(l, l->rec_plain);
            uint32_t p = r->p0 + whole * l->rec_plain;
            l->p_una = seq_lt(c->snd.una, r->c1) ? p : r->p1;
        }
        if (seq_lt(c->snd.una, r->c1))
            break;
        if (r->kind == RUN_HS) {
            tls_hs_sent(l->hs, r->c1 - r->c0);
            l->hs_seq = r->c1;
        } else if (r->kind == RUN_CTRL) {
            l->ctrl_len = 0;
        }
        run_drop(r);
        l->run0 = (uint8_t)((l->run0 + 1) % TLS_RUNS);
        l->nrun--;
    }
    /* the handshake's runs come first: none left, none to come */
    if (l->hs && l->phase != LP_HS && !(l->nrun && run_at(l, 0)->kind == RUN_HS)) {
        tls_hs_free(l->hs);
        l->hs = NULL;
        e->tls_hs_live--;
        gauges(e);
    }
}

/* ---- reading -------------------------------------------------------------------- */

/* The connection is over for TLS: nothing more is read; what is owed (an alert) goes,
 * then our FIN. HTTP answers nothing more. */
static void link_over(struct ssdk_engine *e, struct tcb *c, struct hconn *h, struct tls_link *l)
{
    /* Responses not yet in records never go: HTTP's stream ends where the records do
     * (always where a response ends or waits), and those laid out stay resendable. */
    uint8_t keep = 0;
    for (const struct resp *q = resp_first(e, h); q && seq_lt(q->seq, l->p_laid);
         q = resp_next(e, q))
        keep++;
    resp_cut(e, h, keep);
    l->p_want = l->p_laid;
    l->phase = LP_OVER;
    l->lflags |= LF_CLOSING;
    l->plain_len = 0;
    buf_settle(e, l);
    h->hflags |= HC_LAST;
    tcp_rcv_discard(&e->tcp, c);
}

/* Application data opened: a body being read takes its bytes, the rest waits for the
 * parser in the buffer (room for it was made before the record was taken). */
static void plain_in(struct ssdk_engine *e, struct tcb *c, struct hconn *h, struct tls_link *l,
                     const uint8_t *p, uint32_t n)
{
    uint32_t used = l->plain_len ? 0 : http_body_in(e, c, h, p, n);
    SSDK_ASSERT(l->plain_len + n - used <= TLS_PLAIN_CAP);
    memcpy(buf_of(e, l)->plain + l->plain_len, p + used, n - used);
    l->plain_len += n - used;
}

/* The client's records in p[0..n): opened one by one while the buffer has room for a
 * whole one's plaintext beyond a header block; the rest is left to TCP, which holds it
 * (its window closes) until HTTP consumed what was read. Returns the bytes taken. */
static uint32_t records_in(struct ssdk_engine *e, struct tcb *c, struct hconn *h,
                           struct tls_link *l, const uint8_t *p, uint32_t n)
{
    uint32_t used = 0;
    while (used < n && l->phase == LP_OPEN && l->plain_len <= TCP_RCV_CAP) {
        if (buf_hold(e, l)) {
            stats(e)->tls_no_buffer++;
            break;
        }
        size_t u, off, plen;
        int ev = tls_conn_input(&l->tc, buf_of(e, l)->rec, p + used, n - used, &u, &off, &plen);
        used += (uint32_t)u;
        if (ev == TLS_EV_MORE) {
            if (!u)
                break;
            continue;
        }
        stats(e)->tls_records_in++;
        if (ev == TLS_EV_DATA) {
            plain_in(e, c, h, l, buf_of(e, l)->rec + off, (uint32_t)plen);
        } else if (ev == TLS_EV_CLOSE) {
            /* RFC 8446 6.1: the client writes no more (TCP's FIN, for HTTP: peer_done);
             * what it asked for before still goes, then ours and our FIN */
            used = n;
            l->lflags |= LF_PEER_CLOSED;
        } else if (ev == TLS_EV_FATAL) {
            stats(e)->tls_failed++;
            link_over(e, c, h, l);
            used = n;
        }
    }
    if (l->buf)
        buf_settle(e, l);
    return used;
}

/* The handshake reads p[0..n) (GnuTLS keeps what it has not used); its answer goes
 * out. Done, the keys move into the link and the session stays only until its last
 * bytes (session tickets) are acknowledged; what the client sent after its Finished
 * is records. */
static void hs_input(struct ssdk_engine *e, struct tcb *c, struct hconn *h, struct tls_link *l,
                     const uint8_t *p, uint32_t n)
{
    int r = tls_hs_input(l->hs, p, n);
    hs_lay(c, l);
    if (r == 0)
        return;
    const uint8_t *rest = NULL;
    size_t restlen = 0;
    if (r < 0 || tls_hs_finish(l->hs, &l->tc, &rest, &restlen) < 0) {
        stats(e)->tls_handshake_failed++;
        link_over(e, c, h, l);  /* GnuTLS's alert is in the bytes laid out */
        flush(e, c, l);
        return;
    }
    stats(e)->tls_handshakes++;
    stats(e)->tls_resumed += (uint64_t)tls_hs_resumed(l->hs);
    l->phase = LP_OPEN;
    uint32_t over = rec_len(l, 0), plain = c->mss > over ? c->mss - over : 1;
    l->rec_plain = (uint16_t)(plain < TLS_RECORD_MAX_PLAIN ? plain : TLS_RECORD_MAX_PLAIN);
    /* GnuTLS read a record at a time: what follows the Finished is still records. Few
     * bytes (a request); were they more than the buffer takes, the client would be
     * sending far ahead of an answer it has not seen. */
    if (restlen && records_in(e, c, h, l, rest, (uint32_t)restlen) != restlen) {
        stats(e)->tls_failed++;
        link_over(e, c, h, l);
    }
}

uint32_t https_recv(struct ssdk_engine *e, struct tcb *c, struct hconn *h, const uint8_t *p,
                    uint32_t n)
{
    struct tls_link *l = link_of(e, c);
    if (l->phase == LP_NEW) {
        /* Handshakes at once are bounded as half-open connections are (the SYN
         * backlog): each holds a GnuTLS session of some kilobytes. */
        if (!e->tls_srv || e->tls_hs_live >= e->tcp.syn_recv_max
            || tls_hs_new(e->tls_srv, &l->hs) < 0) {
            stats(e)->tls_handshake_failed++;
            l->hs = NULL;
            link_over(e, c, h, l);
            flush(e, c, l);
            return n;
        }
        e->tls_hs_live++;
        gauges(e);
        l->phase = LP_HS;
        l->since_ms = req_clock(e);
        l->hs_seq = c->snd.end;
    }
    if (l->phase == LP_HS) {
        hs_input(e, c, h, l, p, n);
        return n;
    }
    if (l->phase != LP_OPEN)
        return n;  /* over: dropped */
    return records_in(e, c, h, l, p, n);
}

void https_sent(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    runs_acked(e, c, link_of(e, c));
    https_pump(e, c, h);
}

/* Records TCP held for want of room, opened now that HTTP may have made some. Returns
 * 1 when plaintext came of them. */
int https_pump(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    struct tls_link *l = link_of(e, c);
    if (l->phase != LP_OPEN || !c->rcv.len || l->plain_len > TCP_RCV_CAP)
        return 0;
    uint32_t had = l->plain_len;
    uint32_t took = records_in(e, c, h, l, tcp_rcv_data(&e->tcp, c), c->rcv.len);
    if (l->phase == LP_OPEN)
        tcp_recved(&e->tcp, c, took);
    return l->plain_len != had;
}

/* ---- the handshake's clock, and the end ----------------------------------------- */

/* A handshake is timed as a header block is, from its first byte (a client that opens
 * and stalls holds a GnuTLS session); it is never an idle connection to evict. */
void https_sync(struct ssdk_engine *e, struct tcb *c, uint64_t *deadline, int *idle)
{
    struct tls_link *l = link_of(e, c);
    if (l->phase == LP_HS) {
        *deadline = l->since_ms + e->tcp.net.cfg.header_timeout_ms;
        *idle = 0;
    } else if (l->hs || l->nrun || l->plain_len || l->buf) {
        *idle = 0;
    }
}

/* The idle timer: a handshake never finished is given up (FIN); an open connection
 * closes with close_notify before its FIN. Returns 1 when TLS handled it (*answered:
 * something was queued to send), 0 when HTTP's timeouts apply. */
int https_timeout(struct ssdk_engine *e, struct tcb *c, struct hconn *h, int *answered)
{
    struct tls_link *l = link_of(e, c);
    if (l->phase == LP_HS) {
        stats(e)->tls_handshake_failed++;
        link_over(e, c, h, l);
        *answered = 0;
        return 1;
    }
    if (l->phase != LP_OPEN || h->nresp || (h->hflags & HC_LAST) || req_since(e, h)
        || req_body_on(e, h))
        return 0;
    /* idle between requests: closed politely */
    h->hflags |= HC_LAST;
    https_out_close(e, c);
    *answered = 1;
    return 1;
}

void https_gone(struct ssdk_engine *e, struct tcb *c)
{
    struct tls_link *l = link_of(e, c);
    if (l->hs) {
        tls_hs_free(l->hs);
        e->tls_hs_live--;
    }
    l->plain_len = 0;
    l->tc.rx_have = 0;
    buf_settle(e, l);
    while (l->nrun) {
        run_drop(run_at(l, 0));
        l->run0 = (uint8_t)((l->run0 + 1) % TLS_RUNS);
        l->nrun--;
    }
    memset(l, 0, sizeof(*l));
    gauges(e);
}

/* What the opening comment states of a link, asserted (debug builds: the fuzzers call
 * it for every TLS connection between inputs' frames). */
void https_check(const struct ssdk_engine *e, const struct tcb *c)
{
    const struct tls_link *l = link_of(e, c);
    SSDK_ASSERT(l->nrun <= TLS_RUNS && l->phase <= LP_OVER);
    SSDK_ASSERT(seq_le(l->p_una, l->p_laid) && seq_le(l->p_laid, l->p_want));
    SSDK_ASSERT(!l->buf == !(l->plain_len || l->tc.rx_have));  /* held while in use */
    SSDK_ASSERT(l->plain_len <= TLS_PLAIN_CAP);
    SSDK_ASSERT(l->phase != LP_NEW || (!l->nrun && !l->hs));
    SSDK_ASSERT(l->phase != LP_HS || l->hs);
    int recs = 0, ctrl = 0;
    for (unsigned i = 0; i < l->nrun; i++) {
        const struct tls_run *r = &l->run[(l->run0 + i) % TLS_RUNS];
        SSDK_ASSERT(seq_lt(r->c0, r->c1));  /* none is empty */
        SSDK_ASSERT(!i || r->c0 == l->run[(l->run0 + i - 1) % TLS_RUNS].c1);
        SSDK_ASSERT(r->kind != RUN_HS || (l->hs && !recs));  /* the handshake's first */
        if (r->kind == RUN_REC) {
            uint32_t len = r->p1 - r->p0, n = (len + l->rec_plain - 1) / l->rec_plain;
            SSDK_ASSERT(len && r->c1 - r->c0 == (n - 1) * rec_len(l, l->rec_plain)
                                                    + rec_len(l, len - (n - 1) * l->rec_plain));
            recs++;
        }
        ctrl += r->kind == RUN_CTRL;
    }
    SSDK_ASSERT(ctrl <= 1 && !ctrl == !l->ctrl_len);
    if (l->nrun) {
        SSDK_ASSERT(l->run[(l->run0 + l->nrun - 1) % TLS_RUNS].c1 == c->snd.end);
        SSDK_ASSERT(seq_le(l->run[l->run0].c0, c->snd.una));
    }
    (void)e, (void)c, (void)recs;
}

/* ---- the bytes of a segment ----------------------------------------------------- */

/* Record k of run r sealed whole into out (cap bytes); its length. */
static uint32_t seal_record(struct ssdk_engine *e, struct tcb *c, struct tls_link *l,
                            const struct tls_run *r, uint32_t k, uint8_t *out, size_t cap)
{
    uint8_t plain[TLS_RECORD_MAX_PLAIN];
    uint32_t p = r->p0 + k * l->rec_plain;
    uint32_t n = r->p1 - p < l->rec_plain ? r->p1 - p : l->rec_plain;
    resp_copy(e, c, hconn_of(e, c), p, n, plain);
    int len = tls_seal_buf(&l->tc.wr, r->rec0 + k, TLS_CT_APPDATA, plain, n, out, cap);
    SSDK_ASSERT(len == (int)rec_len(l, n));
#ifdef SSDK_DEBUG
    sealed_check(r, k, out, (uint32_t)len);
#endif
    stats(e)->tls_records_sealed++;
    return (uint32_t)len;
}

/* Bytes [seq, seq+len) of run r into pl. */
static void run_bytes(struct ssdk_engine *e, struct tcb *c, struct tls_link *l,
                      const struct tls_run *r, uint32_t seq, uint32_t len, uint8_t *pl)
{
    if (r->kind == RUN_HS) {
        const uint8_t *p;
        size_t have = tls_hs_pending(l->hs, &p);
        SSDK_ASSERT(seq - l->hs_seq + len <= have);
        (void)have;
        memcpy(pl, p + (seq - l->hs_seq), len);
        return;
    }
    if (r->kind == RUN_CTRL) {
        memcpy(pl, l->ctrl + (seq - r->c0), len);
        return;
    }
    uint32_t w = rec_len(l, l->rec_plain), done = 0;
    while (done < len) {
        uint32_t at = seq + done - r->c0, k = at / w, in = at - k * w;
        uint32_t rl = seq_lt(r->c0 + (k + 1) * w, r->c1) ? w : r->c1 - (r->c0 + k * w);
        uint32_t n = rl - in < len - done ? rl - in : len - done;
        if (in == 0 && n == rl) {
            seal_record(e, c, l, r, k, pl + done, rl);
        } else {  /* part of a record: sealed whole aside */
            uint8_t rec[TLS_RECORD_HDR + TLS_RECORD_MAX_PLAIN + 256];
            seal_record(e, c, l, r, k, rec, sizeof(rec));
            memcpy(pl + done, rec + in, n);
        }
        done += n;
    }
}

uint64_t https_payload(struct ssdk_engine *e, struct tcb *c, uint32_t seq, uint32_t len,
                       uint8_t *pl, int sum)
{
    struct tls_link *l = link_of(e, c);
    uint32_t done = 0;
    for (unsigned i = 0; i < l->nrun && done < len; i++) {
        const struct tls_run *r = run_at(l, i);
        uint32_t s = seq + done;
        if (!seq_lt(s, r->c1))
            continue;
        SSDK_ASSERT(seq_le(r->c0, s));  /* runs cover TCP's stream from SND.UNA's on */
        uint32_t n = r->c1 - s < len - done ? r->c1 - s : len - done;
        run_bytes(e, c, l, r, s, n, pl + done);
        done += n;
    }
    SSDK_ASSERT(done == len);
    if (!sum)
        return 0;
    e->tcp.net.st->tx_summed_bytes += len;
    return csum_partial(pl, len, 0);
}

/* A segment of new data ends where a record does: as many whole records as fit, or
 * the segment as asked where one record is longer (a path MTU lowered after the
 * records were sized). */
uint32_t https_seg_len(struct ssdk_engine *e, const struct tcb *c, uint32_t seq, uint32_t len)
{
    struct tls_link *l = link_of(e, c);
    for (unsigned i = 0; i < l->nrun; i++) {
        const struct tls_run *r = run_at(l, i);
        if (!seq_lt(seq, r->c1))
            continue;
        if (r->kind != RUN_REC)
            return len;
        uint32_t w = rec_len(l, l->rec_plain), at = seq - r->c0;
        uint32_t end = (at / w + 1) * w;  /* the end of seq's record, within the run */
        if (end > r->c1 - r->c0)
            end = r->c1 - r->c0;
        if (end - at >= len)
            return len;
        uint32_t span = r->c1 - r->c0;
        while (end + w <= span && end + w - at <= len)
            end += w;
        if (end < span && span - at <= len)
            end = span;  /* the run's last record, a short one, fits too */
        return end - at;
    }
    return len;
}
