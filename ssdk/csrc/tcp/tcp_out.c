/*
 * tcp_out.c - segments leaving: response data from templates, control segments, resets.
 *
 * tcp_in.c, tcp_timer.c -> tcp_output -> send_data -> tcp_finish -> nic->tx_commit
 *                       -> tcp_send_ctl (SYN-ACK, ACK, FIN) / tcp_send_rst
 * loop.c -> tcp_pending_run (connections a full TX ring or the pass budget held back)
 *
 * The stack is bufferless: what a connection sends is always a byte range of an
 * immutable response stream in the table, so a retransmission rebuilds the segment from
 * the template. A response is sent whole, or only its header block (an error answering
 * HEAD): c->resp_end says where it ends. A segment that is exactly a template segment
 * uses its precomputed payload sum; any other range (a peer MSS below the template's, a
 * partial ACK, the Connection slot patched to "close", a 206's header and part of a
 * body: http_range.c) is summed as it is copied.
 */
#include <arpa/inet.h>
#include <string.h>
#include "base/csum.h"
#include "serve/engine.h"

static const uint8_t close_token[CONN_TOKEN_LEN] = "     close";

static uint16_t adv_window(const struct conn *c) { return (uint16_t)(REQ_CAP - c->req_len); }

/* Fill the TCP header (its options already in place) and both checksums, commit. */
static void tcp_finish(struct ssdk_engine *e, struct conn *c, uint8_t *frame, uint8_t flags,
                       uint32_t seq, uint32_t optlen, uint32_t plen, uint64_t psum)
{
    struct tcp_hdr *th = (void *)(frame + ETH_HLEN_ + 20);
    uint32_t hl = 20 + optlen;
    uint16_t l4 = (uint16_t)(hl + plen);
    if (flags & TH_ACK)
        c->last_ack_sent = c->rcv_nxt;
    ip_output_hdr(e, frame, c->rmac, c->raddr, IPPROTO_TCP_, l4);
    th->sport = e->port_be;
    th->dport = c->rport;
    th->seq = htonl(seq);
    th->ack = (flags & TH_ACK) ? htonl(c->rcv_nxt) : 0;
    th->off = (uint8_t)((hl / 4) << 4);
    th->flags = flags;
    th->win = htons(adv_window(c));
    th->csum = 0;
    th->urp = 0;
    uint64_t sum = csum_pseudo(e->ip_be, c->raddr, IPPROTO_TCP_, l4);
    sum = csum_partial(th, hl, sum) + psum;
    th->csum = htons(csum_finish(sum));
    uint32_t n = ETH_HLEN_ + 20 + l4;
    if (n < 60) {
        memset(frame + n, 0, 60 - n);
        n = 60;
    }
    e->nic->tx_commit(e->nic, n);
    e->st->tx_frames++;
    e->st->tx_bytes += n;
}

/* A segment without data. Returns 0 when the TX ring had no room (the peer recovers). */
int tcp_send_ctl(struct ssdk_engine *e, struct conn *c, uint8_t flags, uint32_t seq)
{
    uint8_t *f = e->nic->tx_slot(e->nic);
    if (!f) {
        e->st->tx_ring_full++;
        return 0;
    }
    if (flags & TH_RST) {
        e->st->rst_sent++;
        flags &= (uint8_t)~TH_ACK;
    }
    uint32_t optlen = tcp_opts_write(e, c, f + HDRS_LEN, flags, flags == TH_ACK);
    tcp_finish(e, c, f, flags, seq, optlen, 0, 0);
    return 1;
}

/* RFC 9293 3.10.7.1: the reset for a segment that belongs to no connection. */
void tcp_send_rst(struct ssdk_engine *e, const struct eth_hdr *eh, const struct ip_hdr *ih,
                  const struct tcp_hdr *th, uint32_t seglen)
{
    struct conn tmp;
    memset(&tmp, 0, offsetof(struct conn, req));
    memcpy(tmp.rmac, eh->src, 6);
    tmp.raddr = ih->src;
    tmp.rport = th->sport;
    tmp.req_len = REQ_CAP;  /* window 0 */
    uint16_t saved = e->port_be;
    e->port_be = th->dport;  /* answer from the port that was asked */
    if (th->flags & TH_ACK) {
        tcp_send_ctl(e, &tmp, TH_RST, ntohl(th->ack));
    } else {
        tmp.rcv_nxt = ntohl(th->seq) + seglen + !!(th->flags & TH_SYN) + !!(th->flags & TH_FIN);
        uint8_t *f = e->nic->tx_slot(e->nic);
        if (f) {
            e->st->rst_sent++;
            tcp_finish(e, &tmp, f, TH_RST | TH_ACK, 0, 0, 0, 0);
        } else {
            e->st->tx_ring_full++;
        }
    }
    e->port_be = saved;
}

/* Does the segment [off, off+len) of the stream touch the field [at, at+n)? */
static int overlaps(uint64_t off, uint32_t len, uint64_t at, uint32_t n)
{
    return at < off + len && at + n > off;
}

/* Overwrite what falls inside the segment (bytes at pl) of the field [at, at+n). */
static void patch(uint8_t *pl, uint64_t off, uint32_t len, uint64_t at, const uint8_t *v,
                  uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (at + i >= off && at + i < off + len)
            pl[at + i - off] = v[i];
}

/* The sum of n bytes placed at offset pos of a segment: odd offsets swap the bytes. */
static uint16_t sum_at(const uint8_t *v, uint32_t n, uint64_t pos)
{
    uint16_t s = csum_fold(csum_partial(v, n, 0));
    return pos & 1 ? (uint16_t)(s << 8 | s >> 8) : s;
}

/* Where the bytes of c's response are: a table's template (with its segment sums) or
 * the application's answer (dynamic.c; no sums: every segment is summed as sent). */
struct resp_view {
    const struct table *t;    /* a table's response: its table and entry; else NULL */
    const struct ssdk_resp *r;
    const uint8_t *stream;
    uint64_t len;
    uint32_t date_off, conn_off;
    const uint32_t *seg_sum;  /* the response's first segment's sum, or NULL */
    uint32_t mss;
};

static void resp_view(const struct ssdk_engine *e, const struct conn *c, struct resp_view *v)
{
    if (c->resp == RESP_DYN) {
        *v = (struct resp_view){.stream = c->dyn_out->data, .len = c->dyn_out->len,
                                .date_off = c->dyn_out->date_off,
                                .conn_off = c->dyn_out->conn_off};
        return;
    }
    const struct table *t = conn_table(e, c);
    const struct ssdk_resp *r = &t->resp[c->resp];
    *v = (struct resp_view){.t = t, .r = r, .stream = resp_stream(t, r), .len = r->stream_len,
                            .date_off = r->date_off, .conn_off = r->conn_off,
                            .seg_sum = t->seg_sum + r->seg_first, .mss = t->mss};
}

/*
 * Bytes [seq, seq+len) of the current response, as one segment. 0: TX ring full.
 * The template's bytes are copied, then the Date value and, when closing, the
 * Connection value are written over them. An exact template segment keeps its
 * precomputed sum, corrected for the new date (RFC 1624: add the new bytes' sum and the
 * complement of the old); anything else is summed as it is.
 */
static int send_data(struct ssdk_engine *e, struct conn *c, uint32_t seq, uint32_t len,
                     int last)
{
    if (e->tx_budget == 0)
        return 0;
    uint8_t *f = e->nic->tx_slot(e->nic);
    if (!f) {
        e->st->tx_ring_full++;
        return 0;
    }
    e->tx_budget--;
    struct resp_view v;
    resp_view(e, c, &v);
    uint64_t off = seq - c->resp_seq, tail = v.len - off;
    uint32_t optlen = (c->opts & CO_TS) ? tcp_opts_write(e, c, f + HDRS_LEN, TH_ACK, 0) : 0;
    uint8_t *pl = f + HDRS_LEN + optlen;
    int exact = 0;
    if (v.r && (v.r->flags & RESP_RANGE)) {
        range_fill(v.t, v.r, c, pl, off, len);  /* a 206: template header, part of a body */
    } else {
        memcpy(pl, v.stream + off, len);
        exact = v.seg_sum && off % v.mss == 0 && len == (tail < v.mss ? tail : v.mss);
    }
    uint8_t buf[DATE_LEN];
    const uint8_t *date = NULL;
    int dated = overlaps(off, len, v.date_off, DATE_LEN);
    if (dated) {
        date = date_for(e, c->date_sec, buf);
        patch(pl, off, len, v.date_off, date, DATE_LEN);
        if (v.date_off < off || v.date_off + DATE_LEN > off + len)
            exact = 0;  /* only part of the date is here: no delta for that */
    }
    if ((c->flags & CF_CLOSE_TOKEN) && overlaps(off, len, v.conn_off, CONN_TOKEN_LEN)) {
        patch(pl, off, len, v.conn_off, close_token, CONN_TOKEN_LEN);
        exact = 0;  /* the Connection value changed too: sum it all afresh */
    }
    uint64_t sum;
    if (exact) {
        sum = v.seg_sum[off / v.mss];
        if (dated) {
            uint64_t pos = v.date_off - off;
            sum += (uint16_t)~sum_at(date_placeholder, DATE_LEN, pos)
                 + sum_at(date, DATE_LEN, pos);
        }
    } else {
        sum = csum_partial(pl, len, 0);  /* an application's answer is summed as it goes */
    }
    tcp_finish(e, c, f, TH_ACK | (last ? TH_PSH : 0), seq, optlen, len, sum);
    e->st->tx_payload_bytes += len;
    return 1;
}

static void pending_add(struct ssdk_engine *e, struct conn *c)
{
    if (c->flags & CF_PENDING)
        return;
    c->flags |= CF_PENDING;
    e->pending[e->npending++] = conn_index(e, c);
}

/* Where a SACKed range covers seq, the first byte above it; else seq. */
static uint32_t skip_sacked(const struct conn *c, uint32_t seq)
{
    for (uint8_t i = 0; i < c->nsacked; i++)
        if (seq_le(c->sacked[i][0], seq) && seq_lt(seq, c->sacked[i][1]))
            seq = c->sacked[i][1];
    return seq;
}

/*
 * Bytes [seq, seq+len) once more, as a retransmission. 0: held back (TX full). The range
 * is cut at the response's end: past it is our FIN's sequence number, which goes as a
 * FIN, never as a byte of data (recovery counts sequence space, FIN included).
 */
int tcp_resend(struct ssdk_engine *e, struct conn *c, uint32_t seq, uint32_t len)
{
    uint32_t end = c->resp != NONE32 ? c->resp_end : c->snd_una;
    if (!seq_lt(seq, end)) {
        if ((c->flags & CF_FIN_QUEUED) && seq == c->fin_seq
            && !tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->fin_seq)) {
            pending_add(e, c);
            return 0;
        }
        e->st->retransmits++;
        return 1;
    }
    int fin = len > end - seq && (c->flags & CF_FIN_QUEUED) && c->fin_seq == end;
    if (len > end - seq)
        len = end - seq;
    if (!send_data(e, c, seq, len, seq + len == end)) {
        pending_add(e, c);
        return 0;
    }
    e->st->retransmits++;
    if (fin)  /* the range went on to our FIN: it goes again too, as a FIN */
        tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->fin_seq);
    return 1;
}

/*
 * One segment of new data (or of data sent before, after an RTO rewound SND.NXT), if
 * the windows allow; returns 0 when nothing more can go now.
 */
static int send_next(struct ssdk_engine *e, struct conn *c, uint32_t end, uint32_t wnd,
                     uint32_t flight)
{
    c->snd_nxt = skip_sacked(c, c->snd_nxt);  /* after an RTO, what the peer holds stays */
    if (!seq_lt(c->snd_nxt, end) || flight >= wnd)
        return 0;
    uint32_t len = end - c->snd_nxt, room = wnd - flight;
    if (len > c->mss)
        len = c->mss;
    if (len > room) {
        if (flight > 0)  /* sender-side silly window avoidance, RFC 9293 3.8.6.2.1 */
            return 0;
        len = room;
    }
    int resend = seq_lt(c->snd_nxt, c->snd_max);
    if (!send_data(e, c, c->snd_nxt, len, c->snd_nxt + len == end)) {
        pending_add(e, c);
        return 0;
    }
    if (resend) {
        e->st->retransmits++;
    } else if (!(c->flags & CF_TIMING)) {
        c->flags |= CF_TIMING;
        c->rtt_seq = c->snd_nxt;
        c->rtt_start_us = e->now_us;
    }
    c->snd_nxt += len;
    if (seq_lt(c->snd_max, c->snd_nxt))
        c->snd_max = c->snd_nxt;
    c->last_send_us = e->now_us;
    return 1;
}

/*
 * In recovery (RFC 6675 5, step C): while pipe leaves room in cwnd, send the next hole
 * again, or else new data within the peer's window.
 */
static void output_recovery(struct ssdk_engine *e, struct conn *c, uint32_t end)
{
    for (;;) {
        uint32_t pipe = recovery_pipe(c), seq, len;
        if (pipe >= c->cwnd)
            return;
        if (recovery_next(c, &seq, &len)) {
            if (!tcp_resend(e, c, seq, len))
                return;
            recovery_sent(e, c, seq, len);
            continue;
        }
        uint32_t wnd = c->snd_wnd, flight = c->snd_nxt - c->snd_una;
        uint32_t room = c->cwnd - pipe;
        if (wnd > flight + room)
            wnd = flight + room;
        if (!send_next(e, c, end, wnd, flight))
            return;
    }
}

/* Send what the windows allow: response bytes, then our FIN once they are all out. */
void tcp_output(struct ssdk_engine *e, struct conn *c)
{
    if (c->state == TCP_SYN_RECEIVED || c->state == TCP_TIME_WAIT || c->state == TCP_NONE)
        return;
    if (c->resp != NONE32) {
        uint32_t end = c->resp_end;
        if (c->in_recovery) {
            output_recovery(e, c, end);
        } else {
            /* RFC 3042, limited transmit: each of the first two duplicate ACKs lets one
             * new segment go beyond cwnd, so a small window still yields three. */
            if (c->snd_una == c->snd_max)
                cc_after_idle(e, c);
            int lt = c->dupacks && c->dupacks < 3 && c->snd_nxt == c->snd_max;
            uint32_t cw = c->cwnd + (lt ? c->dupacks : 0) * (uint32_t)c->mss;
            uint32_t wnd = c->snd_wnd < cw ? c->snd_wnd : cw;
            while (send_next(e, c, end, wnd, c->snd_nxt - c->snd_una))
                if (lt && c->snd_max - c->snd_una > c->cwnd)
                    c->lt_sent++;
        }
        if (c->flags & CF_PENDING)
            return;
    }
    if ((c->flags & CF_FIN_QUEUED) && c->snd_nxt == c->fin_seq) {
        if (!tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->fin_seq)) {
            pending_add(e, c);
            return;
        }
        if (c->snd_max != c->fin_seq)
            e->st->retransmits++;
        c->snd_nxt = c->fin_seq + 1;
        c->snd_max = c->snd_nxt;
    }
    timer_after_output(e, c);  /* which checks SND.UNA =< SND.NXT =< SND.MAX */
}

/*
 * After an RTO: back to the first unacknowledged byte, with the window of one segment
 * (RFC 5681 3.1). Everything after it follows as ACKs open the window again, skipping
 * what the peer reported holding (RFC 6675 5.1); go-back-N costs nothing extra when
 * segments come from templates.
 */
void tcp_retransmit(struct ssdk_engine *e, struct conn *c)
{
    c->flags &= (uint8_t)~CF_TIMING;  /* Karn: no RTT sample from a resent segment */
    c->in_recovery = 0;
    c->dupacks = 0;
    c->lt_sent = 0;
    cc_on_rto(e, c);
    c->snd_nxt = c->snd_una;
    /* RFC 2018 8: the left edge goes again even if SACKed, since a receiver may renege. */
    if (c->resp != NONE32) {
        uint32_t end = c->resp_end;
        if (seq_lt(c->snd_max, end))
            end = c->snd_max;  /* only what was sent: a resend is no place for new data */
        uint32_t len = end - c->snd_una < c->mss ? end - c->snd_una : c->mss;
        if (seq_lt(c->snd_una, end)) {
            if (!tcp_resend(e, c, c->snd_una, len))
                return;
            c->snd_nxt = c->snd_una + len;
            c->rtx_us = e->now_us + 1;
            c->rtx_snd_max = c->snd_max;
        }
    }
    tcp_output(e, c);
}

/*
 * A zero-window probe: one byte at SND.UNA, sent whatever the window says (RFC 9293
 * 3.8.6.1). The peer answers with its window; when it reopens, tcp_output resumes.
 */
void tcp_probe(struct ssdk_engine *e, struct conn *c)
{
    uint32_t end = c->resp_end;
    if (!seq_lt(c->snd_una, end))
        return;
    if (!send_data(e, c, c->snd_una, 1, c->snd_una + 1 == end))
        return;
    if (c->snd_nxt == c->snd_una) {
        c->snd_nxt++;
        if (seq_lt(c->snd_max, c->snd_nxt))
            c->snd_max = c->snd_nxt;
    } else {
        e->st->retransmits++;
    }
}

/* Can a segment of new data go now, as far as the peer's window goes? */
int tcp_can_send_new(const struct conn *c)
{
    if (c->resp == NONE32)
        return 0;
    return seq_lt(c->snd_max, c->resp_end) && c->snd_max - c->snd_una < c->snd_wnd;
}

/*
 * RFC 8985 7.3: the probe is new data if the window allows, else the last segment sent
 * again; either way the peer's answer (an ACK, or SACK of it) starts a fast recovery
 * where silence would have waited for the RTO.
 */
void tcp_tail_probe(struct ssdk_engine *e, struct conn *c)
{
    if (tcp_can_send_new(c)) {
        uint32_t end = c->resp_end;
        send_next(e, c, end, c->snd_max - c->snd_una + c->mss, c->snd_nxt - c->snd_una);
        return;
    }
    if ((c->flags & CF_FIN_QUEUED) && c->snd_max == c->fin_seq + 1) {
        if (tcp_send_ctl(e, c, TH_FIN | TH_ACK, c->fin_seq))
            e->st->retransmits++;
        return;
    }
    if (c->resp == NONE32)
        return;
    uint32_t end = c->resp_end;
    uint32_t top = seq_lt(end, c->snd_max) ? end : c->snd_max;
    uint32_t len = top - c->snd_una < c->mss ? top - c->snd_una : c->mss;
    if (len)
        tcp_resend(e, c, top - len, len);
}

/* Resume connections whose output stopped at a full TX ring, oldest first. */
void tcp_pending_run(struct ssdk_engine *e)
{
    uint32_t n = e->npending;
    e->npending = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct conn *c = &e->conns[e->pending[i]];
        c->flags &= (uint8_t)~CF_PENDING;
        if (c->state != TCP_NONE)
            tcp_output(e, c);
    }
}
