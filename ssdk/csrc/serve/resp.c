/*
 * resp.c - the responses a connection has in flight, and the bytes of its segments.
 *
 * serve.c (start_response), dyn_conn.c -> resp_push (-> slab_take: base/slab.h; resp_hold
 *        -> gen_hold: gen.c) ... resp_retire -> resp_release (-> gen_release), slab_give
 * dyn_conn.c (an answer that closes), serve.c (a body refused) -> resp_cut
 * serve.c (on_payload: tcp/ sends a segment) -> resp_payload -> resp_exact (most segments)
 *                                      or resp_payload_any -> resp_fill -> date_for,
 *                                                               range_fill (http_range.c)
 * serve.c (on_payload_copy: tcp/ sends a super-frame) -> resp_copy -> resp_fill (no sum)
 * serve.c (on_seg_len: tcp/ sizes a segment) -> resp_seg_len
 *
 * The queue: each response occupies the bytes [seq, end) of the connection's stream,
 * each one's seq the last one's end, the first one's end past SND.UNA (an acknowledged
 * response leaves at once: resp_retire), any of them waiting (RK_WAIT, no bytes yet,
 * each under its own serial: dyn_conn.c), TCP's stream ending at the first waiting one
 * (resp_flush: the responses behind it, answered or not, wait for its answer, then move
 * along and go, up to the next waiting one), a closing one only last. Up to RESPQ_MAX
 * responses, so pipelined requests are answered back to back and the application works
 * on several of a connection's at once. A segment is built from the responses its range
 * covers: an exact template segment keeps its precomputed sum, corrected for the new
 * date (RFC 1624: add the new bytes' sum and the complement of the old); anything else
 * (a peer MSS below the template's, a partial ACK, the Connection slot patched to
 * "close", a 206's header and part of a body, the application's answer, a segment across
 * two responses) is summed as it is copied; resp_seg_len ends a segment where a response
 * of several template segments begins, so that its segments stay exact.
 *
 * Storage: each response is an entry of the engine's pool (e->resps), taken as it joins
 * the queue and given back as it leaves (acknowledged, cut or dropped), so a connection
 * pays for the responses it has, not for the queue's depth. The queue is a list through
 * the entries (resp.next) from hconn.rq_head, oldest first; resp_first, resp_next and
 * resp_at (engine.h) walk it, nothing else knows where entries are.
 */
#include <stdlib.h>
#include <string.h>
#include "base/csum.h"
#include "serve/engine.h"

_Static_assert(TABLE_MSS_MAX == NIC_FRAME_MAX - HDRS_LEN, "a template segment fills a frame");
_Static_assert(sizeof(struct resp) <= 40, "a queue entry stays small (engine.h)");
_Static_assert(sizeof(struct hconn) <= 16, "a connection keeps 16 bytes between requests "
                                           "(engine.h; docs/architecture.md)");
_Static_assert(RESPQ_MAX <= 255, "hconn.nresp counts them");

static const uint8_t close_token[CONN_TOKEN_LEN] = "     close";

/* A waiting response, q, the i-th (dyn_conn.c): no bytes yet; its serial, which its
 * token carries, is no other's in the queue; a request still being read is the last
 * parsed one, and only one is read at a time (the request block's body). */
static void wait_check(const struct ssdk_engine *e, const struct hconn *h,
                       const struct resp *q, uint8_t i)
{
    SSDK_ASSERT(q->seq == q->end);
    const struct resp *o = resp_first(e, h);
    for (uint8_t j = 0; j < i; j++, o = resp_next(e, o))
        SSDK_ASSERT(o->kind != RK_WAIT || o->serial != q->serial);
    SSDK_ASSERT(!q->in || q->in->queued || (i == h->nresp - 1 && req_body_on(e, h)));
}

/* The queue's invariant (top of this file), and every table response's hold. */
void resp_check(const struct ssdk_engine *e, const struct tcb *c, const struct hconn *h)
{
    SSDK_ASSERT(h->nresp <= RESPQ_MAX);
    SSDK_ASSERT(e->resp_slab.used <= e->resp_slab.cap);
    int wait = -1;
    const struct resp *q = resp_first(e, h), *prev = NULL, *lim = NULL;
    for (uint8_t i = 0; i < h->nresp; i++, prev = q, q = resp_next(e, q)) {
        /* nresp entries, linked, each one handed out by the pool, the last ending it */
        SSDK_ASSERT(q != NULL && (uint32_t)(q - e->resps) < e->resp_slab.bump);
        SSDK_ASSERT((q->next == NONE32) == (i == h->nresp - 1));
        SSDK_ASSERT(q->kind == RK_TABLE || q->kind == RK_DYN || q->kind == RK_WAIT);
        SSDK_ASSERT(seq_le(q->seq, q->end));
        SSDK_ASSERT(!prev || q->seq == prev->end);
        if (q->kind == RK_WAIT)
            wait_check(e, h, q, i);
        if (q->kind == RK_WAIT && wait < 0) {
            wait = i;
            lim = q;
        }
        /* out, in and rng share their place: an answer has its copy */
        SSDK_ASSERT(q->kind != RK_DYN || q->out != NULL);
        SSDK_ASSERT(!q->close_token || i == h->nresp - 1);  /* nothing follows a close */
        SSDK_ASSERT(q->kind != RK_TABLE
                    || (q->gen < GEN_MAX && e->gen_refs[q->gen] > 0
                        && q->idx < e->tables[q->gen].hdr->nresp));
    }
    /* TCP's stream goes exactly to the first waiting response, else to the last. */
    if (h->nresp)
        SSDK_ASSERT((wait >= 0 ? lim->seq : prev->end) == out_end(e, c));
}

/* The pool's count, as the gauge shows it. */
static void resp_gauge(struct ssdk_engine *e)
{
    stats(e)->http_resp_entries_in_use = e->resp_slab.used;
}

/* A new response at the end of the queue, after every other one (its bytes follow the
 * last one's): an entry from the pool. */
struct resp *resp_push(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint8_t kind)
{
    SSDK_ASSERT(h->nresp < RESPQ_MAX);
    SSDK_ASSERT(!(h->hflags & HC_LAST));
    struct resp *last = resp_last(e, h);
    uint32_t seq = last ? last->end : out_end(e, c);
    if (h->nresp)
        stats(e)->http_pipelined++;
    uint32_t i = slab_take(&e->resp_slab);
    resp_gauge(e);
    if (last)
        last->next = i;
    else
        h->rq_head = i;
    h->nresp++;
    struct resp *q = &e->resps[i];
    *q = (struct resp){.kind = kind, .seq = seq, .end = seq, .next = NONE32};
    return q;
}

/* q, a new table response, is idx of the current table, which it holds until it goes. */
void resp_hold(struct ssdk_engine *e, struct resp *q, uint32_t idx)
{
    SSDK_ASSERT(idx < cur_table(e)->hdr->nresp);
    q->idx = idx;
    q->gen = gen_hold(e);
}

/* What q holds goes: its table's hold, the application's answer, or the request it
 * waits on (not once handed up: the call that handed it frees it, dyn_conn.c); then
 * its entry, back to the pool. */
static void resp_release(struct ssdk_engine *e, struct resp *q)
{
    if (q->kind == RK_DYN) {
        free(q->out);
    } else if (q->kind == RK_WAIT) {
        free(q->in);
    } else if (q->kind == RK_TABLE) {
        gen_release(e, q->gen);
    }
    slab_give(&e->resp_slab, (uint32_t)(q - e->resps));
    resp_gauge(e);
}

/* The responses the peer acknowledged whole leave the queue, from its head. */
void resp_retire(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    struct resp *q;
    while ((q = resp_first(e, h)) && q->kind != RK_WAIT && seq_le(q->end, out_una(e, c))) {
        h->rq_head = q->next;
        h->nresp--;
        resp_release(e, q);
    }
    SSDK_DEBUG_ONLY(resp_check(e, c, h));
}

/* Everything in flight goes (the connection does). */
void resp_drop_all(struct ssdk_engine *e, struct hconn *h)
{
    resp_cut(e, h, 0);
}

/* The responses from the n-th on go, never sent (a close before them). */
void resp_cut(struct ssdk_engine *e, struct hconn *h, uint8_t n)
{
    if (n >= h->nresp)
        return;
    struct resp *q = resp_at(e, h, n);
    if (n)
        resp_at(e, h, (uint8_t)(n - 1))->next = NONE32;
    h->nresp = n;
    while (q) {
        struct resp *next = resp_next(e, q);
        resp_release(e, q);
        q = next;
    }
}

/* Where q is in h's queue (it is there). */
uint8_t resp_index(const struct ssdk_engine *e, const struct hconn *h, const struct resp *q)
{
    uint8_t i = 0;
    for (const struct resp *o = resp_first(e, h); o != q; o = resp_next(e, o))
        i++;
    SSDK_ASSERT(i < h->nresp);
    return i;
}

/*
 * After a response joined the queue or an answer came: each response's range follows
 * the last's (those behind an answer that just came move along: none of their bytes was
 * given to TCP yet), and TCP's stream goes on to the first waiting response, or to the
 * end of the queue; a closing response there is followed by our FIN.
 */
void resp_flush(struct ssdk_engine *e, struct tcb *c, struct hconn *h)
{
    const struct resp *wait = NULL, *prev = NULL;
    for (struct resp *q = resp_first(e, h); q; prev = q, q = resp_next(e, q)) {
        if (prev && q->seq != prev->end) {
            SSDK_ASSERT(wait || seq_le(out_end(e, c), prev->end));
            uint32_t len = q->end - q->seq;
            q->seq = prev->end;
            q->end = q->seq + len;
        }
        if (!wait && q->kind == RK_WAIT)
            wait = q;
    }
    if (!h->nresp || (c->flags & TF_FIN_QUEUED))
        return;
    out_write(e, c, wait ? wait->seq : prev->end);
    if (!wait && prev->close_token)
        out_close(e, c);
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

/* Where the bytes of a response are: a table's template (with its segment sums) or
 * the application's answer (no sums: every segment is summed as sent). */
struct resp_view {
    const struct table *t;    /* a table's response: its table and entry; else NULL */
    const struct ssdk_resp *r;
    const uint8_t *stream;
    uint64_t len;
    uint32_t date_off, conn_off;
    const uint32_t *seg_sum;  /* the response's first segment's sum, or NULL */
    uint32_t mss;
};

/* Inlined always: called twice (resp_exact, resp_fill), GCC would keep it out of line
 * and each segment would pay a call and a struct written to memory and read back. */
static inline __attribute__((always_inline)) void resp_view(const struct ssdk_engine *e,
                                                            const struct resp *q,
                                                            struct resp_view *v)
{
    if (q->kind == RK_DYN) {
        *v = (struct resp_view){.stream = q->out->data, .len = q->out->len,
                                .date_off = q->out->date_off, .conn_off = q->out->conn_off};
        return;
    }
    const struct table *t = &e->tables[q->gen];
    const struct ssdk_resp *r = &t->resp[q->idx];
    *v = (struct resp_view){.t = t, .r = r, .stream = resp_stream(t, r), .len = r->stream_len,
                            .date_off = r->date_off, .conn_off = r->conn_off,
                            .seg_sum = t->seg_sum + r->seg_first, .mss = t->mss};
}

/* What writing the Date value over the placeholder at offset pos of a segment adds to
 * the segment's sum (RFC 1624: the new bytes' sum and the complement of the old). */
static uint64_t date_delta(const uint8_t *date, uint64_t pos)
{
    return (uint64_t)((uint16_t)~sum_at(date_placeholder, DATE_LEN, pos)
                      + sum_at(date, DATE_LEN, pos));
}

/* The len bytes at src copied to pl, then q's Date value over its placeholder, whole at
 * offset pos; sum (the segment's precomputed one) corrected for the date. Once a
 * response (its first segment): out of line, so that resp_exact keeps no values across
 * its copy (and has no date buffer in its frame). */
static __attribute__((noinline)) uint64_t copy_dated(const struct ssdk_engine *e,
                                                     const struct resp *q, uint8_t *pl,
                                                     const uint8_t *src, uint32_t len,
                                                     uint64_t pos, uint64_t sum)
{
    memcpy(pl, src, len);
    uint8_t buf[DATE_LEN];
    const uint8_t *date = date_for(e, q->date_sec, buf);
    memcpy(pl + pos, date, DATE_LEN);
    return sum + date_delta(date, pos);
}

/*
 * Bytes [off, off+len) of response q into pl. The template's bytes are copied, then the
 * Date value and, when closing, the Connection value are written over them. Returns 1
 * with *sum when the part is exactly a template segment (its precomputed sum, the date
 * corrected), else 0 (the caller sums the bytes). sum NULL: the bytes only (a
 * super-frame's, whose sum nobody needs), in one copy however many template segments
 * the part spans, and 0.
 */
static int resp_fill(const struct ssdk_engine *e, const struct resp *q, uint64_t off,
                     uint32_t len, uint8_t *pl, uint64_t *sum)
{
    struct resp_view v;
    resp_view(e, q, &v);
    uint64_t tail = v.len - off;
    int exact = 0;
    if (v.r && (v.r->flags & RESP_RANGE)) {
        range_fill(v.t, v.r, &q->rng, pl, off, len);  /* a 206: header, part of a body */
    } else {
        memcpy(pl, v.stream + off, len);
        exact = sum && v.seg_sum && off % v.mss == 0 && len == (tail < v.mss ? tail : v.mss);
    }
    uint8_t buf[DATE_LEN];
    const uint8_t *date = NULL;
    int dated = overlaps(off, len, v.date_off, DATE_LEN);
    if (dated) {
        date = date_for(e, q->date_sec, buf);
        patch(pl, off, len, v.date_off, date, DATE_LEN);
        if (v.date_off < off || v.date_off + DATE_LEN > off + len)
            exact = 0;  /* only part of the date is here: no delta for that */
    }
    if (q->close_token && overlaps(off, len, v.conn_off, CONN_TOKEN_LEN)) {
        patch(pl, off, len, v.conn_off, close_token, CONN_TOKEN_LEN);
        exact = 0;  /* the Connection value changed too: sum it all afresh */
    }
    if (!exact)
        return 0;
    *sum = v.seg_sum[off / v.mss];
    if (dated)
        *sum += date_delta(date, v.date_off - off);
    return 1;
}

/*
 * The common segment, on a path of its own: bytes [seq, seq+len) inside one response
 * in flight, a table's, that are exactly one of its template segments, hold the
 * Date value whole or not at all, and (when closing) miss the Connection value. Its
 * bytes are the template's with the date written over the placeholder, its sum the
 * precomputed one corrected for the date: what resp_fill gives for such a segment, found
 * with fewer instructions (one division, no loop, no spill around the copy:
 * resp_payload_any and the date's buffer stay out of this function's frame). 1 with
 * *sum; 0, nothing written, for any other segment.
 */
static inline int resp_exact(const struct ssdk_engine *e, const struct hconn *h,
                             uint32_t seq, uint32_t len, uint8_t *pl, uint64_t *sum)
{
    const struct resp *q = resp_first(e, h);
    while (q && !seq_lt(seq, q->end))
        q = resp_next(e, q);  /* the response the segment starts in: most often the first */
    if (!q || q->kind != RK_TABLE || q->end - seq < len)
        return 0;
    SSDK_ASSERT(seq_le(q->seq, seq));
    struct resp_view v;
    resp_view(e, q, &v);
    if ((v.r->flags & RESP_RANGE) || !v.seg_sum)
        return 0;
    uint64_t off = seq - q->seq, tail = v.len - off, k = off / v.mss;
    if (off != k * v.mss || len != (tail < v.mss ? tail : v.mss))
        return 0;
    int dated = overlaps(off, len, v.date_off, DATE_LEN);
    if (dated && (v.date_off < off || v.date_off + DATE_LEN > off + len))
        return 0;  /* only part of the date is here */
    if (q->close_token && overlaps(off, len, v.conn_off, CONN_TOKEN_LEN))
        return 0;
    if (dated) {
        *sum = copy_dated(e, q, pl, v.stream + off, len, v.date_off - off, v.seg_sum[k]);
        return 1;
    }
    *sum = v.seg_sum[k];
    memcpy(pl, v.stream + off, len);
    return 1;
}

/* Bytes [seq, seq+len) into pl, from every response they fall in (a range may end one
 * response and begin the next: pipelining), each part patched as resp_fill says, and
 * with sum, resp_fill's sums added to *sum. 1 when the range was one part whose sum
 * came exact from its template. */
static int fill_range(const struct ssdk_engine *e, const struct hconn *h, uint32_t seq,
                      uint32_t len, uint8_t *pl, uint64_t *sum)
{
    uint32_t done = 0;
    int parts = 0, exact = 0;
    for (const struct resp *q = resp_first(e, h); q && done < len; q = resp_next(e, q)) {
        uint32_t at = seq + done;
        if (!seq_lt(at, q->end))
            continue;
        SSDK_ASSERT(seq_le(q->seq, at) && q->kind != RK_WAIT);
        uint32_t n = q->end - at < len - done ? q->end - at : len - done;
        exact = resp_fill(e, q, at - q->seq, n, pl + done, sum);
        done += n;
        parts++;
    }
    SSDK_ASSERT(done == len);  /* the range lies inside the responses in flight */
    return parts == 1 && exact;
}

/* Any segment, and its sum. Kept out of line (noinline) so that its frame (a date
 * buffer, the loop's state) is not set up for the common segment, which resp_exact
 * serves. */
static __attribute__((noinline)) uint64_t resp_payload_any(const struct ssdk_engine *e,
                                                           const struct hconn *h,
                                                           uint32_t seq, uint32_t len,
                                                           uint8_t *pl)
{
    uint64_t sum = 0;
    if (fill_range(e, h, seq, len, pl, &sum))
        return sum;
    e->tcp.net.st->tx_summed_bytes += len;
    return csum_partial(pl, len, 0);  /* an application's answer is summed as it goes */
}

/* The bytes of a super-frame: as resp_payload's, with no sum (the backend's cutter
 * makes each piece's). */
void resp_copy(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint32_t seq,
               uint32_t len, uint8_t *pl)
{
    (void)c;
    fill_range(e, h, seq, len, pl, NULL);
}

/*
 * Where a segment of at most len bytes at seq should end. A segment may end one
 * response and begin the next (pipelining), but then every later segment of the next
 * one would straddle its template's segments and be summed as it is copied; so where
 * the next one is a table's response of more than one template segment, the segment
 * ends with the first response and the next one's segments go whole, with their
 * precomputed sums. Responses of one segment are packed: a frame costs more than a sum.
 */
uint32_t resp_seg_len(const struct ssdk_engine *e, const struct hconn *h, uint32_t seq,
                      uint32_t len)
{
    const struct resp *q = resp_first(e, h);
    while (q && !seq_lt(seq, q->end))
        q = resp_next(e, q);
    const struct resp *next = q ? resp_next(e, q) : NULL;
    if (!next || seq_le(seq + len, q->end))
        return len;  /* inside one response, or the last one */
    if (next->kind != RK_TABLE)
        return len;
    struct resp_view v;
    resp_view(e, next, &v);
    if ((v.r->flags & RESP_RANGE) || !v.seg_sum || v.len <= v.mss)
        return len;
    return q->end - seq;
}

/* Bytes [seq, seq+len) of the stream into pl, from every response they fall in; their
 * sum. TCP asks only for bytes it was given (tcp_write_stream), never acknowledged ones. */
uint64_t resp_payload(struct ssdk_engine *e, struct tcb *c, struct hconn *h, uint32_t seq,
                      uint32_t len, uint8_t *pl)
{
    (void)c;
    uint64_t sum;
    if (resp_exact(e, h, seq, len, pl, &sum))
        return sum;
    return resp_payload_any(e, h, seq, len, pl);
}

