/*
 * tcp_sack.c - loss recovery: the SACK scoreboard (RFC 2018), recovery driven by it
 * (RFC 6675) with RACK (tcp_rack.c, RFC 8985) saying what is lost, and NewReno's partial
 * ACKs (RFC 6582) for peers without SACK.
 *
 * tcp_in.c (ack_in) -> sack_update / sack_trim      what the peer reports holding
 *                   -> recovery_enter               RACK found a loss, or the third
 *                                                   duplicate ACK where it cannot
 *                   -> recovery_on_ack              every ACK while recovering
 * recovery_enter, recovery_on_ack -> cc_recovery_start / cc_recovery_ack (tcp_cc.c):
 *                                                   the window, by PRR (RFC 6937)
 *                   -> dsack_in                     a duplicate reported (RFC 2883):
 *                                                   undo a spurious reduction (RFC 3708)
 *                   -> frto_on_ack                  the ACKs after an RTO (RFC 5682)
 * tcp_timer.c (timer_fire) -> rack_timeout          RACK's reordering timer ran out
 * tcp_out.c (tcp_output) -> recovery_pipe / recovery_next   what may go, and what next
 * tcp_out.c (send_next) -> sack_room_for -> cc_loss_rate   whether new data may go yet
 *
 * The stack is bufferless, so recovery needs no copy of anything: a hole is a byte
 * range of the response stream, sent again from its template. The scoreboard keeps at
 * most SACK_RANGES disjoint ranges above SND.UNA, ascending. When a new block does not
 * fit, a small hole is closed over (sack_room), never a range forgotten: a peer reports
 * only its most recent ranges, so a forgotten range is not told again, and every byte
 * of it would be resent as lost. A closed hole opens again when the cumulative ACK
 * stops in it (sack_trim), and RACK finds it lost by its send time as any other. So
 * that this stays rare, new data waits while the flight's likely holes would not fit
 * (sack_room_for).
 * Invariants while in_recovery: SND.NXT == SND.MAX (new data only goes at the top),
 * SND.UNA <= rtx_hi, and the holes below lost_hi that are not SACKed are presumed lost.
 */
#include <string.h>
#include "tcp/tcp_priv.h"

static uint32_t seq_max(uint32_t a, uint32_t b) { return seq_lt(a, b) ? b : a; }
static uint32_t seq_min(uint32_t a, uint32_t b) { return seq_lt(a, b) ? a : b; }

/* The scoreboard as the comment above states it (RFC 2018 3, RFC 6675 3): at most
 * SACK_RANGES non-empty ranges, ascending and apart (touching ones are merged), none below
 * SND.UNA nor above SND.MAX; and in recovery SND.NXT == SND.MAX. Debug builds only. */
static void sack_check(const struct tcb *c)
{
    SSDK_ASSERT(c->fl->sack.nblocks <= SACK_RANGES);
    SSDK_ASSERT(!c->fl->sack.nblocks == !c->fl->sb);
    for (uint8_t i = 0; i < c->fl->sack.nblocks; i++) {
        const uint32_t (*b)[2] = c->fl->sb->blocks;
        SSDK_ASSERT(seq_lt(b[i][0], b[i][1]));
        SSDK_ASSERT(seq_le(c->snd.una, b[i][0]));
        SSDK_ASSERT(seq_le(b[i][1], c->snd.max));
        SSDK_ASSERT(i == 0 || seq_lt(b[i - 1][1], b[i][0]));
    }
    SSDK_ASSERT(!c->fl->sack.in_recovery || c->snd.nxt == c->snd.max);
}

/* Drop ranges the cumulative ACK now covers, and cut the one it reaches into. A peer
 * acknowledges every byte it holds in order (RFC 9293 3.4), so an ACK that stops inside a
 * SACKed range says the bytes at SND.UNA are missing: a hole sack_room closed over, not
 * yet come, or a peer that reneged (RFC 2018 8). One segment there leaves the range, and
 * RACK judges it by its send time as any hole; if the hole was longer, the next
 * cumulative ACK stops inside the range again. */
void sack_trim(struct tcp *e, struct tcb *c)
{
    struct tcb_sack *k = &c->fl->sack;
    if (!k->nblocks)
        return;
    uint32_t (*b)[2] = c->fl->sb->blocks;
    uint8_t n = 0;
    int inside = 0;
    for (uint8_t i = 0; i < k->nblocks; i++) {
        if (seq_le(b[i][1], c->snd.una))
            continue;
        inside |= seq_le(b[i][0], c->snd.una);
        b[n][0] = seq_max(b[i][0], c->snd.una);
        b[n][1] = b[i][1];
        n++;
    }
    k->nblocks = n;
    if (inside) {
        b[0][0] = seq_min(c->snd.una + c->mss, b[0][1]);
        if (b[0][0] == b[0][1])
            memmove(b, b + 1, --k->nblocks * sizeof(b[0]));
    }
    if (!k->nblocks) {
        sb_put(e, c);  /* the peer holds nothing above SND.UNA: no scoreboard */
        k->closed = 0;  /* nor a hole closed over */
    }
    SSDK_DEBUG_ONLY(sack_check(c));
}

/* Make room in a scoreboard of SACK_RANGES + 1 ranges (ascending, disjoint) by closing
 * over one hole: the smallest already sent again in this recovery (below rtx_hi), whose
 * bytes are on their way; with none, the smallest, the lowest of equals, which is the one
 * recovery would send next. Its bytes count as delivered now rather than when they come;
 * sack_trim opens it again when the cumulative ACK reaches it. Returns the ranges kept. */
static uint8_t sack_room(struct tcp *e, struct tcb *c, uint32_t out[][2], uint8_t n)
{
    uint8_t best = 0, resent = 0;
    for (uint8_t i = 0; i + 1 < n; i++) {
        uint8_t r = c->fl->sack.in_recovery && seq_le(out[i + 1][0], c->fl->sack.rtx_hi);
        uint32_t gap = out[i + 1][0] - out[i][1], best_gap = out[best + 1][0] - out[best][1];
        if (r > resent || (r == resent && gap < best_gap))
            best = i, resent = r;
    }
    e->net.st->sack_merged++;
    c->fl->sack.closed = 1;  /* RACK's steps date SACKed bytes with care now (tcp_rack.c) */
    out[best][1] = out[best + 1][1];
    memmove(out + best + 1, out + best + 2, (size_t)(n - best - 2) * sizeof(out[0]));
    return (uint8_t)(n - 1);
}

/* Merge one block into the ascending, disjoint scoreboard. */
static void sack_add(struct tcp *e, struct tcb *c, uint32_t l, uint32_t r)
{
    uint32_t out[SACK_RANGES + 1][2];
    uint8_t n = 0, placed = 0;
    for (uint8_t i = 0; i < c->fl->sack.nblocks; i++) {
        uint32_t a = c->fl->sb->blocks[i][0], b = c->fl->sb->blocks[i][1];
        if (seq_lt(b, l)) {  /* wholly below the new block */
            out[n][0] = a, out[n][1] = b, n++;
        } else if (seq_lt(r, a)) {  /* wholly above: the new block goes first */
            if (!placed)
                out[n][0] = l, out[n][1] = r, n++, placed = 1;
            out[n][0] = a, out[n][1] = b, n++;
        } else {  /* touching or overlapping: grow the new block */
            l = seq_min(l, a);
            r = seq_max(r, b);
        }
    }
    if (!placed)
        out[n][0] = l, out[n][1] = r, n++;
    if (n > SACK_RANGES)
        n = sack_room(e, c, out, n);
    if (!c->fl->sb)
        sb_take(e, c);  /* the first range the peer holds above SND.UNA */
    c->fl->sack.nblocks = n;
    memcpy(c->fl->sb->blocks, out, n * sizeof(out[0]));
}


/* The reduction proved spurious: give it back (cc_undo). After an RTO, go-back-N stops
 * too: what it would resend is what the peer has been shown to hold. */
static void undo_now(struct tcp *e, struct tcb *c)
{
    cc_undo(e, c);
    e->net.st->undo_recoveries++;
    if (!c->fl->sack.in_recovery)
        c->snd.nxt = c->snd.max;
}

/*
 * RFC 2883 4: the first block of a SACK option reports a duplicate segment (D-SACK)
 * when it starts below the cumulative ACK, or lies within the second block. Counted
 * (dsack_received); one that reports data of the current reduction's episode (above
 * undo_marker) accounts for that many of its retransmissions (Linux's tcp_check_dsack
 * and tcp_sacktag_one: a segment the network duplicated would count too, which RFC
 * 3708 accepts as rare). When all are accounted for, every retransmission was needless
 * and so was the reduction: it is undone now, or, in recovery, at its end (as Linux's
 * tcp_try_undo_dsack and tcp_try_undo_recovery). Returns 1 for a D-SACK.
 */
int dsack_in(struct tcp *e, struct tcb *c, const struct seg *s)
{
    const struct tcp_opts *o = &s->opt;
    uint32_t l = o->sack[0][0], r = o->sack[0][1];
    if (!o->nsack || !seq_lt(l, r))
        return 0;
    if (!seq_lt(l, s->ack)
        && !(o->nsack > 1 && seq_le(o->sack[1][0], l) && seq_le(r, o->sack[1][1])))
        return 0;
    e->net.st->dsack_received++;
    if (!(c->fl->sack.undo & UN_ARMED) || !seq_lt(c->fl->cc.undo_marker, r)
        || seq_lt(c->snd.max, r) || !c->fl->sack.undo_retrans)
        return 1;
    uint32_t segs = (r - l + c->mss - 1) / c->mss;
    uint8_t left = c->fl->sack.undo_retrans;
    c->fl->sack.undo_retrans = (uint8_t)(segs < left ? left - segs : 0);
    if (!c->fl->sack.undo_retrans && !c->fl->sack.in_recovery)
        undo_now(e, c);
    return 1;
}

/*
 * F-RTO (RFC 5682 2), after an RTO resent the first segment (tcp_retransmit, step 1):
 * step 2, the first ACK. One that moves SND.UNA but not to "recover" (SND.MAX at the
 * timeout) lets two new segments go instead of more resends (2b): go-back-N stops and
 * cwnd becomes the flight plus two segments. A duplicate ACK, one that acknowledges
 * everything, or no new data to send, leave it to go-back-N (2a). Step 3, the second
 * ACK: a duplicate says the new segments arrived above a hole, so the loss was real:
 * cwnd at most three segments, and go-back-N from SND.UNA in slow start (3a). One that
 * moves SND.UNA acknowledges data that was never resent: the timeout was spurious,
 * and the window and ssthresh go back to what they were before it (3b, with RFC 4015's
 * Eifel response as Linux undoes: cc_undo). ACKs that neither move SND.UNA nor are
 * duplicates (a window update) do not count.
 */
void frto_on_ack(struct tcp *e, struct tcb *c, uint32_t acked, int dup)
{
    uint8_t step = c->fl->sack.undo & UN_FRTO;
    if (!step || (!acked && !dup))
        return;
    SSDK_ASSERT(!c->fl->sack.in_recovery && step != UN_FRTO);  /* one step, outside recovery */
    c->fl->sack.undo &= (uint8_t)~UN_FRTO;
    if (!acked) {
        if (step == UN_FRTO2) {  /* 3a */
            if (c->cc.cwnd > 3u * c->mss)
                c->cc.cwnd = 3u * c->mss;
            c->snd.nxt = c->snd.una;
        }
        return;
    }
    if (step == UN_FRTO1) {
        if (!seq_lt(c->snd.una, c->fl->sack.recover) || !tcp_can_send_new(c))
            return;  /* 2a */
        c->fl->sack.undo |= UN_FRTO2;  /* 2b */
        c->snd.nxt = c->snd.max;
        c->cc.cwnd = c->snd.max - c->snd.una + 2u * c->mss;
        return;
    }
    e->net.st->spurious_rtos++;  /* 3b */
    if (c->fl->sack.undo & UN_ARMED)
        cc_undo(e, c);
}

/* RFC 2018 3 and RFC 6675 5: take the blocks that report data we sent above SND.UNA.
 * Returns how many bytes are SACKed now that were not before. */
uint32_t sack_update(struct tcp *e, struct tcb *c, const struct tcp_opts *o, int dsack)
{
    uint32_t before = sack_bytes(c);
    for (uint8_t i = dsack ? 1 : 0; i < o->nsack; i++) {  /* a D-SACK reports no hole */
        uint32_t l = o->sack[i][0], r = o->sack[i][1];
        if (!seq_lt(l, r) || !seq_lt(c->snd.una, r) || seq_lt(c->snd.max, r))
            continue;  /* empty, all acknowledged already, or beyond what was sent */
        l = seq_max(l, c->snd.una);
        if (sack_holes_in(c, l, r))  /* news for RACK; new bytes below SACKed ones came late */
            rack_delivered(e, c, l, r, sack_holes_in(c, l, seq_min(r, sack_high(c))) != 0);
        sack_add(e, c, l, r);
    }
    uint32_t after = sack_bytes(c);
    SSDK_DEBUG_ONLY(sack_check(c));
    return after > before ? after - before : 0;
}

uint32_t sack_bytes(const struct tcb *c)
{
    uint32_t n = 0;
    for (uint8_t i = 0; i < c->fl->sack.nblocks; i++)
        n += c->fl->sb->blocks[i][1] - c->fl->sb->blocks[i][0];
    return n;
}

/* Unsacked bytes of [a, b). */
uint32_t sack_holes_in(const struct tcb *c, uint32_t a, uint32_t b)
{
    if (!seq_lt(a, b))
        return 0;
    uint32_t n = b - a;
    for (uint8_t i = 0; i < c->fl->sack.nblocks; i++) {
        uint32_t l = seq_max(c->fl->sb->blocks[i][0], a), r = seq_min(c->fl->sb->blocks[i][1], b);
        if (seq_lt(l, r))
            n -= r - l;
    }
    return n;
}

/* Where the highest unSACKed bytes of [a, b) end; a when every byte is SACKed. */
uint32_t sack_hole_top(const struct tcb *c, uint32_t a, uint32_t b)
{
    for (uint8_t i = c->fl->sack.nblocks; i-- > 0 && seq_lt(a, b);) {  /* descending */
        uint32_t l = c->fl->sb->blocks[i][0], r = c->fl->sb->blocks[i][1];
        if (seq_le(b, l))
            continue;  /* wholly above what is left */
        if (seq_lt(r, b))
            return b;  /* the bytes just below b are not SACKed */
        b = l;  /* [l, b) is SACKed: look below it */
    }
    return seq_lt(a, b) ? b : a;
}

/*
 * Whether `len` new bytes may go: whether the holes the flight will likely hold then
 * still fit the scoreboard. Those reported (a range above each) stay until repaired; the
 * bytes no report has reached yet will open holes at the path's loss rate: the larger
 * of the controller's figure (BBR's standing loss, doubled: cc_loss_rate) and the
 * scoreboard's own density of holes, once it holds 64 ranges (fewer say little). Past
 * three quarters of SACK_RANGES new data waits while the holes are repaired (resends
 * are not held).
 * Without this, a flight that outgrew the scoreboard had holes closed over (sack_room),
 * each found again only when the cumulative ACK stopped in it, one a round trip: at 80 ms
 * and 10% loss, 20 MiB went out in 2 s, and its last part came at a segment a round
 * trip, with RTOs (18 to 63 s against the kernel's 3 to 9).
 */
int sack_room_for(const struct tcb *c, uint32_t len)
{
    uint64_t n = c->fl->sack.nblocks, rate = cc_loss_rate(c);  /* per mille */
    uint32_t high = sack_high(c), span = high - c->snd.una;
    if (n >= SACK_RANGES / 4 && span && n * 1000u * c->mss / span > rate)
        rate = n * 1000u * c->mss / span;
    uint64_t fresh = (uint64_t)(c->snd.max - high) + len;
    return n * 1000u * c->mss + rate * fresh <= (uint64_t)SACK_RANGES * 3 / 4 * 1000u * c->mss;
}

/*
 * RFC 6675 4, "pipe": bytes presumed in the network. Without SACK, each duplicate ACK
 * stands for one segment that left it (the peer holds it out of order).
 */
uint32_t recovery_pipe(const struct tcb *c)
{
    uint32_t out = c->snd.max - c->snd.una;
    uint32_t gone = (c->opts & CO_SACK) ? sack_bytes(c) : c->fl->sack.dupacks * (uint32_t)c->mss;
    uint32_t lost = sack_holes_in(c, seq_max(c->fl->sack.rtx_hi, c->snd.una), c->fl->sack.lost_hi);
    gone = gone + lost < out ? gone + lost : out;
    return out - gone;
}

/* RFC 6675 4, NextSeg (1): the first presumed-lost byte range not yet sent again. */
int recovery_next(const struct tcb *c, uint32_t *seq, uint32_t *len)
{
    uint32_t s = seq_max(c->fl->sack.rtx_hi, c->snd.una);
    for (uint8_t i = 0; i < c->fl->sack.nblocks && seq_lt(s, c->fl->sack.lost_hi); i++) {
        if (seq_le(c->fl->sb->blocks[i][1], s))
            continue;
        if (seq_le(c->fl->sb->blocks[i][0], s)) {  /* s sits in a SACKed range: skip it */
            s = c->fl->sb->blocks[i][1];
            continue;
        }
        uint32_t end = seq_min(c->fl->sb->blocks[i][0], c->fl->sack.lost_hi);
        *seq = s;
        *len = end - s < c->mss ? end - s : c->mss;
        return 1;
    }
    if (!seq_lt(s, c->fl->sack.lost_hi))
        return 0;
    *seq = s;
    *len = c->fl->sack.lost_hi - s < c->mss ? c->fl->sack.lost_hi - s : c->mss;
    return 1;
}

/* What is presumed lost now: what RACK finds lost (RFC 8985 6.2); where it has no
 * information yet, or finds nothing at the start of a recovery that DupThresh began,
 * everything unSACKed below the highest SACKed byte (RFC 6675 4, IsLost); without SACK,
 * the segment at SND.UNA (RFC 6582: one hole per partial ACK). */
static void mark_lost(struct tcp *e, struct tcb *c, int entering)
{
    struct rack_verdict v;
    uint32_t lost;
    if (rack_detect(e, c, &v) && (!entering || seq_lt(c->snd.una, v.lost_hi)))
        lost = v.lost_hi;
    else
        lost = (c->opts & CO_SACK) && c->fl->sack.nblocks ? sack_high(c) : c->snd.una + c->mss;
    lost = seq_min(lost, c->snd.max);
    c->fl->sack.lost_hi = seq_max(c->fl->sack.lost_hi, lost);
}

/*
 * RFC 8985 6.2: a retransmission that RACK finds lost (data sent after it has been
 * delivered, a round trip and the reordering window ago) goes again now, one segment per
 * call: its first unSACKed MSS. The resend restarts its clock (rack_sent), so it is not
 * found lost again before another round trip. Returns 1 when one went.
 */
static int rack_relost(struct tcp *e, struct tcb *c)
{
    struct rack_verdict v;
    if (!rack_detect(e, c, &v) || !v.relost_hi)
        return 0;
    uint32_t s = v.relost_lo, end = v.relost_hi;
    for (uint8_t i = 0; i < c->fl->sack.nblocks; i++) {  /* ascending: skip, then stop at */
        if (seq_le(c->fl->sb->blocks[i][1], s))
            continue;
        if (seq_le(c->fl->sb->blocks[i][0], s)) {
            s = c->fl->sb->blocks[i][1];
            continue;
        }
        end = seq_min(end, c->fl->sb->blocks[i][0]);
        break;
    }
    if (!seq_lt(s, end))
        return 0;
    uint32_t len = end - s < c->mss ? end - s : c->mss;
    if (!tcp_resend(e, c, s, len))
        return 0;
    e->net.st->rtx_lost++;
    return 1;
}

/* RFC 6675 5 (4.1-4.3) / RFC 6582 3.2 (2): the third duplicate ACK; `delivered` is what
 * the ACK that found the loss newly acknowledged or SACKed (RFC 6937's DeliveredData;
 * 0 from RACK's timer). */
void recovery_enter(struct tcp *e, struct tcb *c, uint32_t delivered)
{
    e->net.st->fast_retransmits++;
    cc_undo_start(c);  /* before the reduction: what it takes (RFC 3708) */
    c->fl->sack.in_recovery = 1;
    /* An RTO's go-back-N ends here: what it already resent is not resent again, and
     * SACK says what else is missing. Nor is what the last recovery resent above
     * SND.UNA (an ACK can end one while its latest resends are on their way): RACK
     * finds those lost again by their own send times (rack_relost), and a third copy
     * would draw the ACK of the second, which RACK would date from the third and so
     * call everything sent before the third lost. */
    uint32_t resent_to = c->snd.nxt, prior = c->fl->sack.rtx_hi;
    c->snd.nxt = c->snd.max;
    c->fl->sack.recover = c->snd.max;
    c->flags &= (uint8_t)~TF_TIMING;  /* Karn: RTT samples wait for new data */
    cc_recovery_start(e, c);  /* ssthresh, and PRR's counts (RFC 6937 3.1) */
    c->fl->sack.rtx_hi = c->fl->sack.lost_hi = c->snd.una;
    if (seq_lt(c->snd.una, resent_to) && seq_lt(resent_to, c->snd.max))
        c->fl->sack.rtx_hi = resent_to;
    if (seq_lt(c->fl->sack.rtx_hi, prior) && seq_le(prior, c->snd.max))
        c->fl->sack.rtx_hi = prior;
    mark_lost(e, c, 1);
    cc_recovery_ack(e, c, delivered);  /* this ACK is the recovery's first */
    /* The first hole goes now, whatever pipe says (RFC 6675 5, step 4.3; PRR counts it
     * in prr_out, as Linux's fast retransmit): a resend found lost again, or else the
     * first hole not yet resent. */
    uint32_t seq, len;
    if (!rack_relost(e, c) && recovery_next(c, &seq, &len) && tcp_resend(e, c, seq, len))
        recovery_sent(e, c, seq, len);
    SSDK_DEBUG_ONLY(sack_check(c));
}

/* A hole went out again: move the resend pointer (RACK noted its time, rack_sent). */
void recovery_sent(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len)
{
    (void)e;
    c->fl->sack.rtx_hi = seq_max(c->fl->sack.rtx_hi, seq + len);
}

/* RFC 6675 4, IsLost(SND.UNA): DupThresh segments' worth SACKed above the hole. */
int sack_is_lost(const struct tcb *c)
{
    return (c->opts & CO_SACK) && sack_bytes(c) >= 3u * c->mss;
}

/* RACK's timer ran out (RFC 8985 6.3): what it finds lost now starts a recovery, or, in
 * one, is marked for resending; then what may go goes. */
void rack_timeout(struct tcp *e, struct tcb *c)
{
    struct rack_verdict v;
    if (!rack_detect(e, c, &v))
        return;
    if (!c->fl->sack.in_recovery) {
        if (seq_lt(c->snd.una, v.lost_hi))
            recovery_enter(e, c, 0);
    } else {
        mark_lost(e, c, 0);
        rack_relost(e, c);
        cc_recovery_ack(e, c, 0);  /* pipe changed: what was marked lost left it */
    }
    tcp_output(e, c);
}

/* Every ACK in recovery: a partial ACK marks the next hole, a full one ends it (RFC
 * 6937 3.1: with cwnd = ssthresh). `delivered` as for recovery_enter. */
void recovery_on_ack(struct tcp *e, struct tcb *c, uint32_t acked, uint32_t delivered)
{
    if (acked && !seq_lt(c->snd.una, c->fl->sack.recover)) {  /* the full ACK ends recovery */
        c->fl->sack.in_recovery = 0;
        /* RFC 6675 leaves cwnd at ssthresh; RFC 6582 3.2 (3) deflates a NewReno window
         * to what is in flight, to avoid a burst from the inflated window it used. */
        uint32_t fl = c->snd.max - c->snd.una;
        fl = (fl > c->mss ? fl : c->mss) + c->mss;
        c->cc.cwnd = (c->opts & CO_SACK) || c->cc.ssthresh < fl ? c->cc.ssthresh : fl;
        c->fl->sack.dupacks = 0;
        c->fl->sack.lt_sent = 0;
        /* RFC 3708 2: every retransmission was D-SACKed (or none went): the loss was a
         * reordering, and the reduction is undone (Linux's tcp_try_undo_recovery). */
        if ((c->fl->sack.undo & UN_ARMED) && !c->fl->sack.undo_retrans)
            undo_now(e, c);
        return;
    }
    if (acked) {
        if (!(c->opts & CO_SACK)) {
            /* RFC 6582 3.2 (4): a partial ACK resends the first unacknowledged segment
             * at once, whatever pipe says, and deflates the window by what it acked. */
            c->fl->sack.dupacks = 0;
            c->fl->sack.rtx_hi = c->snd.una;
            c->fl->sack.lost_hi = seq_max(c->fl->sack.lost_hi, seq_min(c->snd.una + c->mss, c->snd.max));
            uint32_t seq, len;
            if (recovery_next(c, &seq, &len) && tcp_resend(e, c, seq, len))
                recovery_sent(e, c, seq, len);
            c->cc.cwnd = c->cc.cwnd > acked ? c->cc.cwnd - acked + c->mss : c->mss;
            return;
        }
    }
    mark_lost(e, c, 0);
    rack_relost(e, c);
    cc_recovery_ack(e, c, delivered);  /* after the marks: pipe is what they leave */
}
