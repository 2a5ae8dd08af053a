/*
 * tcp_rack.c - RACK (RFC 8985 6): losses found by time. A segment is lost when a segment
 * sent after it has been delivered and a round trip plus the reordering window has passed
 * since it was sent; the count of duplicate ACKs (RFC 6675's DupThresh) matters only
 * while RACK knows nothing yet.
 *
 * tcp_out.c (send_data, send_super) -> rack_sent           every data segment that goes
 * tcp_sack.c (sack_update) -> rack_delivered                a block of newly SACKed bytes
 * tcp_in.c (ack_in) -> rack_delivered, rack_trim            newly acknowledged bytes
 * tcp_sack.c (mark_lost, recovery_on_ack, rack_timeout), tcp_in.c (dupack_in),
 * tcp_timer.c (rack_timer_arm) -> rack_detect               what is lost, what may be
 *
 * RFC 8985 keeps a send time per segment; a bufferless stack keeps no per-segment
 * record, so the send times of what is in flight are a step function of the sequence
 * number in at most RACK_SLOTS steps (struct tcb_rack). New data extends it at the top;
 * a retransmission overwrites its range with the new time (RACK needs the latest
 * transmission). When more steps are needed than there are slots, the two neighbours
 * closest in time are merged and keep the later time: a merged byte then looks younger
 * than it is, so its loss is found later (at worst by the RTO), never sooner. Only
 * connections with SACK use it: without SACK nothing says what was delivered above the
 * hole (RFC 8985 2).
 * Invariant: n <= RACK_SLOTS; the ends ascend strictly, above SND.UNA and at most
 * SND.MAX.
 */
#include <string.h>
#include "tcp/tcp_priv.h"

/* What docs/tcp.md states RACK costs per connection (issue 18 counts every byte). */
_Static_assert(sizeof(struct tcb_rack) == 84, "RACK's state per connection is 84 bytes");

/* Send times are the clock's low 32 bits: compared by their difference (71 minutes of
 * wrap, far beyond any flight). */
static int32_t us_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

void rack_check(const struct tcb *c)
{
    SSDK_ASSERT(c->rack.n <= RACK_SLOTS);
    for (uint8_t k = 0; k < c->rack.n; k++) {
        SSDK_ASSERT(seq_lt(k ? c->rack.end[k - 1] : c->snd.una, c->rack.end[k]));
        SSDK_ASSERT(seq_le(c->rack.end[k], c->snd.max));
    }
}

/* Forget the steps the cumulative ACK covers. */
void rack_trim(struct tcb *c)
{
    uint8_t k = 0;
    while (k < c->rack.n && seq_le(c->rack.end[k], c->snd.una))
        k++;
    c->rack.n = (uint8_t)(c->rack.n - k);
    memmove(c->rack.end, c->rack.end + k, c->rack.n * sizeof(uint32_t));
    memmove(c->rack.sent_us, c->rack.sent_us + k, c->rack.n * sizeof(uint32_t));
    SSDK_DEBUG_ONLY(rack_check(c));
}

/* Bytes [seq, seq+len) of the stream are being sent now (new, or again). */
void rack_sent(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len)
{
    uint32_t t = (uint32_t)e->net.now_us, s = seq, f = seq + len, lo = c->snd.una;
    if (seq_lt(s, lo))
        s = lo;
    if (!seq_lt(s, f))
        return;
    uint32_t end[RACK_SLOTS + 3], us[RACK_SLOTS + 3];
    uint8_t n = 0, placed = 0;
/* A step ending at b with time u; one with the same time as the step below grows it. */
#define PUSH(b, u)                                   \
    do {                                             \
        if (n && us[n - 1] == (u)) {                 \
            end[n - 1] = (b);                        \
        } else {                                     \
            end[n] = (b), us[n] = (u), n++;          \
        }                                            \
    } while (0)
    for (uint8_t k = 0; k < c->rack.n; k++) {
        uint32_t hi = c->rack.end[k], u = c->rack.sent_us[k];
        if (seq_lt(lo, s))  /* the part below the new range */
            PUSH(seq_lt(hi, s) ? hi : s, u);
        if (!placed && seq_lt(s, hi)) {
            PUSH(f, t);
            placed = 1;
        }
        if (seq_lt(seq_lt(lo, f) ? f : lo, hi))  /* the part above it */
            PUSH(hi, u);
        lo = hi;
    }
    if (!placed)  /* above every step (a gap below it, our FIN's number, goes with it) */
        PUSH(f, t);
#undef PUSH
    while (n > RACK_SLOTS) {  /* merge the neighbours closest in time, at the later time */
        uint8_t best = 0;
        uint32_t gap = UINT32_MAX;
        for (uint8_t k = 0; k + 1 < n; k++) {
            int32_t d = us_diff(us[k + 1], us[k]);
            uint32_t a = d < 0 ? (uint32_t)-(int64_t)d : (uint32_t)d;
            if (a < gap)
                gap = a, best = k;
        }
        if (us_diff(us[best], us[best + 1]) > 0)
            us[best + 1] = us[best];
        memmove(end + best, end + best + 1, (size_t)(n - best - 1) * sizeof(uint32_t));
        memmove(us + best, us + best + 1, (size_t)(n - best - 1) * sizeof(uint32_t));
        n--;
    }
    memcpy(c->rack.end, end, n * sizeof(uint32_t));
    memcpy(c->rack.sent_us, us, n * sizeof(uint32_t));
    c->rack.n = n;
}

/*
 * RFC 8985 6.2, steps 1-3: bytes [a, b), not delivered before, are (SACKed or
 * acknowledged; call before SND.UNA moves). `above`: data above them had been delivered
 * already. RACK then remembers the latest-sent delivery, and whether the peer reorders.
 */
void rack_delivered(struct tcp *e, struct tcb *c, uint32_t a, uint32_t b, int above)
{
    uint32_t lo = c->snd.una, t = 0, now = (uint32_t)e->net.now_us;
    int found = 0;
    for (uint8_t k = 0; k < c->rack.n; k++) {
        uint32_t hi = c->rack.end[k];
        if (seq_lt(lo, b) && seq_lt(a, hi) && (!found || us_diff(c->rack.sent_us[k], t) > 0))
            t = c->rack.sent_us[k], found = 1;
        lo = hi;
    }
    if (!found)
        return;  /* sent before RACK kept track (or our FIN): no information */
    uint32_t rtt = (uint32_t)us_diff(now, t);
    if (us_diff(now, t) < 0)
        return;
    /* Step 2: while retransmissions may be out (recovery, a probe, a timeout), an ACK
     * sooner than the least round trip acknowledges an earlier copy. Outside them no byte
     * went twice, and the sample is one for min_RTT (in microseconds, where timestamps
     * give milliseconds). */
    int resent = c->sack.in_recovery || c->sack.tlp_sent || c->timer.retries;
    if (resent && c->rack.min_rtt_us && rtt < c->rack.min_rtt_us)
        return;
    if (!resent && (!c->rack.min_rtt_us || (rtt ? rtt : 1) < c->rack.min_rtt_us))
        c->rack.min_rtt_us = rtt ? rtt : 1;
    /* Step 3: delivered below data delivered before, without having been sent again:
     * the path reorders. */
    if (above && !resent)
        c->rack.flags |= RK_REORD;
    if (!(c->rack.flags & RK_VALID) || us_diff(t, c->rack.xmit_us) > 0
        || (t == c->rack.xmit_us && seq_lt(c->rack.end_seq, b))) {
        c->rack.xmit_us = t;
        c->rack.end_seq = b;
        c->rack.rtt_us = rtt;
        c->rack.flags |= RK_VALID;
    }
}

/*
 * RFC 8985 6.2, step 4: the reordering window. Until the peer has been seen to reorder,
 * none in recovery or once DupThresh segments are SACKed (as Linux: the classic rule
 * lives on as RACK's), else a quarter of the least round trip, at most SRTT; and at
 * least a millisecond, the timer's granularity (Linux's floor before it had per-us timers):
 * with a round trip below it, a reordering window of zero would call every reordering a
 * loss.
 */
static uint32_t reo_wnd(const struct tcb *c)
{
    if (!(c->rack.flags & RK_REORD)
        && (c->sack.in_recovery || sack_bytes(c) >= 3u * c->mss))
        return 0;
    uint32_t w = c->rack.min_rtt_us / 4;
    if (w > c->timer.srtt_us)
        w = c->timer.srtt_us;
    return w < 1000 ? 1000 : w;
}

/*
 * RFC 8985 6.2, step 5: every step in flight with bytes not SACKed, sent before the latest
 * delivery, is lost once RACK.rtt + reo_wnd has passed since it was sent; for the others
 * the time still to wait. Returns 0 when RACK has no information (no SACK, nothing
 * delivered yet). In recovery, steps below rtx_hi hold retransmissions: those found lost
 * are lost again (v->relost_*), the lowest such step.
 */
int rack_detect(const struct tcp *e, const struct tcb *c, struct rack_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->lost_hi = c->snd.una;
    if (!(c->opts & CO_SACK) || !(c->rack.flags & RK_VALID))
        return 0;
    SSDK_DEBUG_ONLY(rack_check(c));
    uint32_t now = (uint32_t)e->net.now_us, wnd = reo_wnd(c), lo = c->snd.una;
    for (uint8_t k = 0; k < c->rack.n; lo = c->rack.end[k], k++) {
        uint32_t hi = c->rack.end[k], t = c->rack.sent_us[k];
        int32_t d = us_diff(t, c->rack.xmit_us);
        if (d > 0)
            continue;  /* sent after the latest delivery: nothing says yet */
        if (d == 0) {  /* sent with it: only what lies below it, and was sent first */
            if (!seq_lt(lo, c->rack.end_seq)
                || (c->sack.in_recovery && seq_lt(lo, c->sack.rtx_hi)))
                continue;  /* a resend in the same microsecond went after it */
            if (seq_lt(c->rack.end_seq, hi))
                hi = c->rack.end_seq;
        }
        if (!sack_holes_in(c, lo, hi))
            continue;
        int64_t left = (int64_t)us_diff(t, now) + c->rack.rtt_us + wnd;
        if (left > 0) {
            if (!v->wait_us || left < v->wait_us)
                v->wait_us = (uint32_t)left;
            continue;
        }
        if (c->sack.in_recovery && seq_lt(lo, c->sack.rtx_hi) && !v->relost_hi
            && sack_holes_in(c, lo, seq_lt(c->sack.rtx_hi, hi) ? c->sack.rtx_hi : hi)) {
            v->relost_lo = lo;
            v->relost_hi = seq_lt(c->sack.rtx_hi, hi) ? c->sack.rtx_hi : hi;
        }
        if (seq_lt(v->lost_hi, hi))
            v->lost_hi = hi;  /* below rtx_hi it moves nothing: those were resent */
    }
    return 1;
}
