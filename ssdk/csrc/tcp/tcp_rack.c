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
 * record, so the send times of what is in flight are a piecewise linear function of the
 * sequence number in at most RACK_SLOTS steps (struct tcb_rack): each step holds when
 * its first and its last byte went, and a paced flight puts the ones between on the line.
 * New data extends it at the top; a retransmission overwrites its range with the new
 * time (RACK needs the latest transmission) and marks its step resent. When more steps
 * are needed than there are slots, the two neighbours that cost least merge (merge_cost):
 * a step all SACKed into its neighbour for nothing (absorb), else into a line that
 * strays at most RACK_LINE_US from the two it joins, or into a rough step that keeps
 * only its bounds. Reads err on the safe side by RACK_LINE_US (time_early for a
 * delivery, time_late for a byte's own loss). A line also keeps how far it may stray
 * from the truth, the strays of all the merges that made it (at most
 * RACK_STRAY_MAX_US, else it merges rough), and a resend is judged against the earliest
 * the latest delivery may have gone with that allowed for (rack_delivered keeps it as
 * xmit_err). Only
 * connections with SACK use it: without SACK nothing says what was delivered above the
 * hole (RFC 8985 2).
 * Invariant: n <= RACK_SLOTS; the ends ascend strictly, above SND.UNA and at most
 * SND.MAX; only lined steps have a stray.
 */
#include <string.h>
#include "tcp/tcp_priv.h"

/* What docs/tcp.md states RACK costs per connection (issue 18 counts every byte). */
_Static_assert(sizeof(struct tcb_rack) == 120, "RACK's state per connection is 120 bytes");

/* Send times are the clock's low 32 bits: compared by their difference (71 minutes of
 * wrap, far beyond any flight). */
static int32_t us_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }
static uint32_t us_later(uint32_t a, uint32_t b) { return us_diff(a, b) > 0 ? a : b; }
static uint32_t us_dist(uint32_t a, uint32_t b)
{
    int32_t d = us_diff(a, b);
    return d < 0 ? (uint32_t)-(int64_t)d : (uint32_t)d;
}

/* What a step's times are: exact (one instant, or an even pace nothing merged), a line
 * that strays at most `err` from the truth (like neighbours merged), or rough (unlike
 * neighbours merged: only the earliest and the latest time hold). */
enum { K_EXACT, K_LINE, K_ROUGH };

/* One step: bytes [lo, hi), the first sent at `first`, the last at `last`, the ones
 * between at an even pace (what pacing makes of a flight), as `kind` says, give or take
 * `err` microseconds (a line's); `resent` when some of them went more than once. */
struct step {
    uint32_t lo, hi, first, last, err;
    uint8_t kind, resent;
};

/* A line's stray is kept in two bits a step: within an eighth, a quarter, a half or the
 * whole of RACK_STRAY_MAX_US (rounded up: read back, it is never less than it was). */
static uint32_t stray_of(uint8_t level) { return (RACK_STRAY_MAX_US / 8u) << level; }
static uint8_t level_of(uint32_t err)
{
    uint8_t level = 0;
    while (level < 3 && stray_of(level) < err)
        level++;
    return level;
}

static struct step step_get(const struct tcb *c, uint8_t k, uint32_t lo)
{
    const struct tcb_rack *r = &c->fl->rack;
    uint32_t last = r->sent_us[k];
    uint8_t kind = ((r->rough >> k) & 1) ? K_ROUGH : ((r->lined >> k) & 1) ? K_LINE : K_EXACT;
    uint32_t err = kind == K_LINE ? stray_of((uint8_t)((r->err >> (2 * k)) & 3)) : 0;
    return (struct step){lo, r->end[k], r->first_us[k], last, err, kind,
                         (uint8_t)((r->resent >> k) & 1)};
}

/* When the stream at x (lo <= x <= hi) went on the step's line: `first` at lo, `last` at
 * hi, linear between. Not for a rough step, which has no line. */
static uint32_t step_time(const struct step *s, uint32_t x)
{
    uint32_t w = s->hi - s->lo, d = s->last - s->first;
    if (!d || !w)
        return s->last;
    return s->first + (uint32_t)((uint64_t)d * (x - s->lo) / w);
}

/* The earliest the bytes at x may have gone (a delivery's time: too late a time would
 * call lost what was sent after it and is still on its way), and the latest (a byte's
 * own time: too early would call it lost before its ACK could come). */
static uint32_t time_early(const struct step *s, uint32_t x)
{
    if (s->kind == K_ROUGH)
        return s->first;
    uint32_t t = step_time(s, x) - RACK_LINE_US;
    return us_diff(s->first, t) > 0 ? s->first : t;
}

static uint32_t time_late(const struct step *s, uint32_t x)
{
    if (s->kind == K_ROUGH)
        return s->last;
    uint32_t t = step_time(s, x) + RACK_LINE_US;
    return us_diff(t, s->last) > 0 ? s->last : t;
}

void rack_check(const struct tcb *c)
{
    SSDK_ASSERT(c->fl->rack.n <= RACK_SLOTS);
    SSDK_ASSERT(!(c->fl->rack.rough & c->fl->rack.lined));
    SSDK_ASSERT(!((c->fl->rack.rough | c->fl->rack.lined | c->fl->rack.resent) >> c->fl->rack.n));
    for (uint8_t k = 0; k < RACK_SLOTS; k++)  /* a stray belongs to a lined step */
        SSDK_ASSERT(((c->fl->rack.lined >> k) & 1) || !((c->fl->rack.err >> (2 * k)) & 3));
    for (uint8_t k = 0; k < c->fl->rack.n; k++) {
        SSDK_ASSERT(seq_lt(k ? c->fl->rack.end[k - 1] : c->snd.una, c->fl->rack.end[k]));
        SSDK_ASSERT(us_diff(c->fl->rack.sent_us[k], c->fl->rack.first_us[k]) >= 0);
        SSDK_ASSERT(seq_le(c->fl->rack.end[k], c->snd.max));
    }
}

/* Forget the steps the cumulative ACK covers; the one it cuts into starts at SND.UNA
 * now, with the time of the byte there on its line (a rough step keeps its bounds).
 * `old_una`: SND.UNA before the ACK. */
void rack_trim(struct tcb *c, uint32_t old_una)
{
    uint8_t k = 0;
    while (k < c->fl->rack.n && seq_le(c->fl->rack.end[k], c->snd.una))
        k++;
    if (k < c->fl->rack.n && c->fl->rack.first_us[k] != c->fl->rack.sent_us[k]) {
        struct step st = step_get(c, k, k ? c->fl->rack.end[k - 1] : old_una);
        if (st.kind != K_ROUGH && seq_lt(st.lo, c->snd.una))
            c->fl->rack.first_us[k] = step_time(&st, c->snd.una);
    }
    c->fl->rack.n = (uint8_t)(c->fl->rack.n - k);
    c->fl->rack.rough = (uint8_t)(c->fl->rack.rough >> k);
    c->fl->rack.lined = (uint8_t)(c->fl->rack.lined >> k);
    c->fl->rack.resent = (uint8_t)(c->fl->rack.resent >> k);
    c->fl->rack.err = (uint16_t)(c->fl->rack.err >> (2 * k));
    memmove(c->fl->rack.end, c->fl->rack.end + k, c->fl->rack.n * sizeof(uint32_t));
    memmove(c->fl->rack.sent_us, c->fl->rack.sent_us + k, c->fl->rack.n * sizeof(uint32_t));
    memmove(c->fl->rack.first_us, c->fl->rack.first_us + k, c->fl->rack.n * sizeof(uint32_t));
    SSDK_DEBUG_ONLY(rack_check(c));
}

/* Steps being rebuilt: ends, first and last send times, kinds, whether resent, and
 * whether every byte is SACKed (then no time of theirs is read again: rack_delivered
 * and rack_detect look at holes only). */
struct steps {
    uint32_t end[RACK_SLOTS + 3], first[RACK_SLOTS + 3], last[RACK_SLOTS + 3];
    uint32_t err[RACK_SLOTS + 3];
    uint8_t kind[RACK_SLOTS + 3], resent[RACK_SLOTS + 3], sacked[RACK_SLOTS + 3];
    uint8_t n;
};

/* A step [previous end, b) sent from fi to la; bytes sent at the instant the step below
 * was sent whole grow that one. */
static void push(struct steps *w, uint32_t b, uint32_t fi, uint32_t la, uint32_t err,
                 uint8_t kind, uint8_t resent)
{
    uint8_t n = w->n;
    if (n && kind == K_EXACT && w->kind[n - 1] == K_EXACT && fi == la && w->first[n - 1] == la
        && w->last[n - 1] == la && w->resent[n - 1] == resent) {
        w->end[n - 1] = b;
        return;
    }
    w->end[n] = b, w->first[n] = fi, w->last[n] = la, w->err[n] = err, w->kind[n] = kind;
    w->resent[n] = resent, w->sacked[n] = 0, w->n++;
}

/* Part [a, b) of step st, for the rebuilt list: on its line, or with a rough step's
 * bounds. */
static void push_part(struct steps *w, const struct step *st, uint32_t a, uint32_t b)
{
    if (st->kind == K_ROUGH)
        push(w, b, st->first, st->last, 0, K_ROUGH, st->resent);
    else
        push(w, b, step_time(st, a), step_time(st, b), st->err, st->kind, st->resent);
}

/*
 * A step whose bytes are all SACKed (`gone`, k or k+1) merged into its neighbour
 * (`keep`), at no cost: keep's line is drawn on over the SACKed bytes, so keep's own
 * bytes keep their times exactly (a rough step's bounds, or one instant, need no
 * drawing), and no time of the SACKed bytes is read while they stay SACKed. A hole
 * sack_room closed over, though, is SACKed only in the scoreboard, and when the
 * cumulative ACK opens it again its time is read from the line. So once the scoreboard
 * has closed one (`strict`), the line may only give SACKed bytes times no later than
 * their own earliest: the safe side for a delivery (a later one would call lost what
 * was sent after them and is on its way), at worst a resend sooner than needed for their
 * own loss. Returns 0 when that forbids the merge, or the longer line would span more
 * than a quarter of the clock's wrap (times are compared by their difference).
 */
static int absorb(const struct steps *w, uint8_t keep, uint8_t gone, uint32_t lo, int strict,
                  struct step *m)
{
    uint8_t k = keep < gone ? keep : gone;
    uint32_t mid = w->end[k], hi = w->end[k + 1], fi = w->first[keep], la = w->last[keep];
    *m = (struct step){lo, hi, fi, la, w->err[keep], w->kind[keep], w->resent[keep]};
    uint32_t latest = fi;  /* the latest time the SACKed bytes get, read early */
    if (w->kind[keep] != K_ROUGH && us_diff(la, fi) > 0) {
        uint32_t own = keep == k ? mid - lo : hi - mid, more = keep == k ? hi - mid : mid - lo;
        uint64_t ext = (uint64_t)(la - fi) * more / own;
        if ((la - fi) + ext > (1ull << 30))
            return 0;
        if (keep == k)
            m->last = latest = la + (uint32_t)ext;  /* the line goes on past keep */
        else
            m->first = fi - (uint32_t)ext;  /* the line goes back before keep */
    }
    return !strict || us_diff(latest, w->first[gone]) <= 0;
}

/*
 * What merging steps k and k+1 costs. A step whose bytes are all SACKed goes into its
 * neighbour for nothing (absorb). Neighbours sent one after the other (new data paced
 * out) whose merged line strays at most RACK_LINE_US from their lines merge into that
 * line: the cost is that stray, and the line is read that much on the safe side
 * (time_early, time_late). The line keeps how far it may stray from the truth: that
 * stray plus theirs, since strays add up over merges (a line that kept only the last
 * merge's was read 0.7 ms late and dated a delivery after a resend sent after it:
 * rack_detect allows for the whole stray when it judges a resend); one that would stray
 * more than RACK_STRAY_MAX_US merges rough instead. Others (a resend beside what went a round
 * trip before it) cost more than any of those and merge rough: only the earliest and
 * the latest of their times are kept; their bytes' own time is the latest, so their
 * loss is found later (at worst by the probe or the RTO), never sooner, and a delivery
 * among them dates from the earliest, so it calls nothing lost too soon.
 */
static uint64_t merge_cost(const struct steps *w, uint8_t k, uint32_t lo, int strict,
                           struct step *m)
{
    uint32_t mid = w->end[k];
    if (w->sacked[k] && absorb(w, (uint8_t)(k + 1), k, lo, strict, m))
        return 0;
    if (w->sacked[k + 1] && absorb(w, k, (uint8_t)(k + 1), lo, strict, m))
        return 0;
    uint8_t resent = w->resent[k] | w->resent[k + 1];
    *m = (struct step){lo, w->end[k + 1], w->first[k], w->last[k + 1], 0, K_LINE, resent};
    if (w->kind[k] != K_ROUGH && w->kind[k + 1] != K_ROUGH
        && us_diff(w->first[k + 1], w->last[k]) >= 0) {
        /* The new line meets each old one at its outer end and strays most at the border;
         * from the truth, by that and the old line's own stray. */
        uint32_t at = step_time(m, mid);
        uint32_t d1 = us_dist(at, w->last[k]), d2 = us_dist(at, w->first[k + 1]);
        uint32_t stray = d1 > d2 ? d1 : d2;
        uint32_t e1 = d1 + w->err[k], e2 = d2 + w->err[k + 1];
        m->err = e1 > e2 ? e1 : e2;
        if (stray <= RACK_LINE_US && m->err <= RACK_STRAY_MAX_US)
            return stray;
    }
    m->first = us_diff(w->first[k + 1], w->first[k]) < 0 ? w->first[k + 1] : w->first[k];
    m->last = us_later(w->last[k], w->last[k + 1]);
    m->err = 0;
    m->kind = K_ROUGH;
    return (1ull << 32) + us_dist(w->last[k + 1], w->last[k]);
}

/* Merge the neighbours that cost least until the steps fit their slots. */
static void merge_down(const struct tcb *c, struct steps *w)
{
    for (uint8_t k = 0; k < w->n; k++)
        w->sacked[k] = !sack_holes_in(c, k ? w->end[k - 1] : c->snd.una, w->end[k]);
    while (w->n > RACK_SLOTS) {
        uint8_t best = 0;
        uint64_t cost = UINT64_MAX;
        struct step m, bm = {0, 0, 0, 0, 0, K_ROUGH, 0};
        for (uint8_t k = 0; k + 1 < w->n; k++) {
            uint64_t x = merge_cost(w, k, k ? w->end[k - 1] : c->snd.una, c->fl->sack.closed, &m);
            if (x < cost)
                cost = x, best = k, bm = m;
        }
        uint8_t b = (uint8_t)(best + 1);
        w->first[b] = bm.first, w->last[b] = bm.last, w->err[b] = bm.err, w->kind[b] = bm.kind;
        w->sacked[b] = w->sacked[best] && w->sacked[b];
        w->resent[b] = bm.resent;
        uint8_t rest = (uint8_t)(w->n - b);
        memmove(w->end + best, w->end + b, rest * sizeof(uint32_t));
        memmove(w->first + best, w->first + b, rest * sizeof(uint32_t));
        memmove(w->last + best, w->last + b, rest * sizeof(uint32_t));
        memmove(w->err + best, w->err + b, rest * sizeof(uint32_t));
        memmove(w->kind + best, w->kind + b, rest);
        memmove(w->resent + best, w->resent + b, rest);
        memmove(w->sacked + best, w->sacked + b, rest);
        w->n--;
    }
}

/* Bytes [seq, seq+len) of the stream are being sent now (new, or again). */
void rack_sent(struct tcp *e, struct tcb *c, uint32_t seq, uint32_t len)
{
    uint32_t t = (uint32_t)e->net.now_us, s = seq, f = seq + len, lo = c->snd.una;
    if (seq_lt(s, lo))
        s = lo;
    if (!seq_lt(s, f))
        return;
    /* Sent before when below the top of what the steps hold (a segment that is partly
     * new counts as resent: its sample is the doubtful one). */
    uint8_t again = c->fl->rack.n && seq_lt(s, c->fl->rack.end[c->fl->rack.n - 1]);
    struct steps w;
    w.n = 0;
    uint8_t placed = 0;
    for (uint8_t k = 0; k < c->fl->rack.n; k++) {
        struct step st = step_get(c, k, lo);
        if (seq_lt(lo, s))  /* the part below the new range */
            push_part(&w, &st, lo, seq_lt(st.hi, s) ? st.hi : s);
        if (!placed && seq_lt(s, st.hi)) {
            push(&w, f, t, t, 0, K_EXACT, again);
            placed = 1;
        }
        uint32_t a = seq_lt(lo, f) ? f : lo;
        if (seq_lt(a, st.hi))  /* the part above it */
            push_part(&w, &st, a, st.hi);
        lo = st.hi;
    }
    if (!placed)  /* above every step (a gap below it, our FIN's number, goes with it) */
        push(&w, f, t, t, 0, K_EXACT, again);
    if (w.n > RACK_SLOTS)
        merge_down(c, &w);
    c->fl->rack.rough = c->fl->rack.lined = c->fl->rack.resent = 0;
    c->fl->rack.err = 0;
    for (uint8_t k = 0; k < w.n; k++) {
        c->fl->rack.end[k] = w.end[k];
        c->fl->rack.sent_us[k] = w.last[k];
        c->fl->rack.first_us[k] = w.first[k];
        c->fl->rack.rough |= (uint8_t)((w.kind[k] == K_ROUGH) << k);
        c->fl->rack.lined |= (uint8_t)((w.kind[k] == K_LINE) << k);
        c->fl->rack.resent |= (uint8_t)(w.resent[k] << k);
        if (w.kind[k] == K_LINE)
            c->fl->rack.err |= (uint16_t)(level_of(w.err[k]) << (2 * k));
    }
    c->fl->rack.n = w.n;
}

/*
 * RFC 8985 6.2, steps 1-3: bytes [a, b), not all delivered before, are (SACKed or
 * acknowledged; call before the scoreboard and SND.UNA move). `above`: data above them
 * had been delivered already. RACK then remembers the latest-sent delivery, and whether
 * the peer reorders. Only the bytes not SACKed before count: within each step, the
 * delivery dates from the start of its highest such segment, read early (time_early).
 */
void rack_delivered(struct tcp *e, struct tcb *c, uint32_t a, uint32_t b, int above)
{
    uint32_t lo = c->snd.una, t = 0, now = (uint32_t)e->net.now_us, err = 0;
    uint32_t min = c->fl->rack.min_rtt_us;
    int found = 0, resent = 0, any_resent = 0;
    for (uint8_t k = 0; k < c->fl->rack.n; k++) {
        struct step st = step_get(c, k, lo);
        uint32_t from = seq_lt(a, lo) ? lo : a, top = seq_lt(b, st.hi) ? b : st.hi;
        lo = st.hi;
        if (!seq_lt(from, top) || (top = sack_hole_top(c, from, top)) == from)
            continue;
        uint32_t u = time_early(&st, top - from > c->mss ? top - c->mss : from);
        any_resent |= st.resent;
        /* Step 2: a segment sent more than once, ACKed sooner than the least round
         * trip, was delivered by an earlier copy: its time says nothing. */
        if (st.resent && min && us_diff(now, u) < (int32_t)min)
            continue;
        if (!found || us_diff(u, t) > 0)
            t = u, found = 1, resent = st.resent, err = st.err;
    }
    if (!found || us_diff(now, t) < 0)
        return;  /* sent before RACK kept track (or our FIN): no information */
    uint32_t rtt = now - t;
    /* A segment sent once gives a sample for min_RTT (in microseconds, where timestamps
     * give milliseconds). */
    if (!resent && (!min || (rtt ? rtt : 1) < min))
        c->fl->rack.min_rtt_us = rtt ? rtt : 1;
    /* Step 3: delivered below data delivered before, without having been sent again,
     * and with no resend out that could explain the order: the path reorders. */
    int resending = c->fl->sack.in_recovery || c->fl->sack.tlp_sent || c->timer.retries;
    if (above && !any_resent && !resending)
        c->fl->rack.flags |= RK_REORD;
    if (!(c->fl->rack.flags & RK_VALID) || us_diff(t, c->fl->rack.xmit_us) > 0
        || (t == c->fl->rack.xmit_us && seq_lt(c->fl->rack.end_seq, b))) {
        c->fl->rack.xmit_us = t;
        c->fl->rack.end_seq = b;
        c->fl->rack.rtt_us = rtt;
        /* Its line's stray beyond what time_early allowed for, rounded up. */
        err = err > RACK_LINE_US ? (err - RACK_LINE_US + 15) / 16 : 0;
        c->fl->rack.xmit_err = (uint8_t)(err > 255 ? 255 : err);
        c->fl->rack.flags |= RK_VALID;
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
    if (!(c->fl->rack.flags & RK_REORD)
        && (c->fl->sack.in_recovery || sack_bytes(c) >= 3u * c->mss))
        return 0;
    uint32_t w = c->fl->rack.min_rtt_us / 4;
    if (w > c->timer.srtt_us)
        w = c->timer.srtt_us;
    return w < 1000 ? 1000 : w;
}

/*
 * RFC 8985 6.2, step 5: the bytes in flight not SACKed, sent before the latest delivery,
 * are lost once RACK.rtt + reo_wnd has passed since they were sent; for the others the
 * time still to wait. Within a step, whole segments are lost up to where the line of
 * send times, read at each segment's end (a little late), passes the bound. Returns 0
 * when RACK has no information (no SACK, nothing delivered yet). In recovery, steps
 * below rtx_hi hold retransmissions: those found lost are lost again (v->relost_*), the
 * lowest such range.
 */
int rack_detect(const struct tcp *e, const struct tcb *c, struct rack_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->lost_hi = c->snd.una;
    if (!(c->opts & CO_SACK) || !(c->fl->rack.flags & RK_VALID))
        return 0;
    SSDK_DEBUG_ONLY(rack_check(c));
    uint32_t now = (uint32_t)e->net.now_us, wnd = reo_wnd(c), lo = c->snd.una;
    uint32_t aged = now - c->fl->rack.rtt_us - wnd;  /* sent by then: old enough */
    /* With no reordering window, a segment sent before the latest delivery is lost at
     * once: its send time plus RACK.rtt is no later than that delivery's ACK. First
     * sends go in sequence order, so bytes never resent below the delivery's end went
     * before it, whatever their step's merged times say (a burst merged rough reads
     * its hole as late as the delivery). A scoreboard that closed a hole over may have
     * absorbed a resend into a step not marked resent, and below rtx_hi a loss is a
     * resend's (relost_*): there the times judge. */
    int by_order = wnd == 0 && !c->fl->sack.closed;
    for (uint8_t k = 0; k < c->fl->rack.n; lo = c->fl->rack.end[k], k++) {
        struct step st = step_get(c, k, lo);
        uint32_t first = lo;  /* the bytes below it are lost by order */
        if (by_order && !st.resent && seq_lt(lo, c->fl->rack.end_seq)
            && !(c->fl->sack.in_recovery && seq_lt(lo, c->fl->sack.rtx_hi))) {
            first = seq_lt(c->fl->rack.end_seq, st.hi) ? c->fl->rack.end_seq : st.hi;
            if (seq_lt(v->lost_hi, first) && sack_holes_in(c, lo, first))
                v->lost_hi = first;
            if (first == st.hi)
                continue;
        }
        /* A resend is judged by the earliest the latest delivery may have gone, its
         * line's whole stray allowed for: a later one called resends lost that went
         * after it (the other bytes keep the reading time_early gave: found sooner). */
        uint32_t xmit = c->fl->rack.xmit_us - (st.resent ? c->fl->rack.xmit_err * 16u : 0);
        uint32_t bound = us_diff(aged, xmit) < 0 ? aged : xmit;
        if (us_diff(time_late(&st, lo), xmit) > 0)
            continue;  /* sent after the latest delivery: nothing says yet */
        uint32_t hi = st.hi;
        if (time_late(&st, hi) == c->fl->rack.xmit_us) {
            /* Its last bytes may have gone in the delivery's instant: of those, only
             * what lies below the delivered data went first (a pass sends in sequence
             * order, its resends before its new data; RFC 8985 6.2 orders sends of one
             * instant so), and a merged step may hold such bytes anywhere in it. */
            if (!seq_lt(lo, c->fl->rack.end_seq))
                continue;
            if (seq_lt(c->fl->rack.end_seq, hi))
                hi = c->fl->rack.end_seq;
        }
        if (!sack_holes_in(c, lo, hi))
            continue;
        /* [lo, q) is lost: the whole segments whose end, read late, is old enough. */
        uint32_t q = lo;
        if (us_diff(bound, time_late(&st, hi)) >= 0) {
            q = hi;
        } else if (st.kind != K_ROUGH) {
            /* Where the line, read late, passes the bound; whole segments below it. */
            uint32_t b = st.kind == K_LINE ? bound - RACK_LINE_US : bound;
            if (us_diff(b, st.first) >= 0 && st.last != st.first) {
                uint64_t x = (uint64_t)(st.hi - lo) * (b - st.first) / (st.last - st.first);
                q = lo + (uint32_t)(x / c->mss) * c->mss;
                q = seq_lt(hi, q) ? hi : q;
            }
        }
        if (seq_lt(q, first))
            q = first;
        if (seq_lt(q, hi)) {  /* the next segment: when it will be old enough */
            uint32_t te = time_late(&st, seq_lt(q + c->mss, hi) ? q + c->mss : hi);
            int64_t left = (int64_t)us_diff(te, now) + c->fl->rack.rtt_us + wnd;
            if (us_diff(te, xmit) <= 0 && left > 0
                && (!v->wait_us || left < v->wait_us))
                v->wait_us = (uint32_t)left;
        }
        if (!seq_lt(lo, q) || !sack_holes_in(c, lo, q))
            continue;
        if (c->fl->sack.in_recovery && seq_lt(lo, c->fl->sack.rtx_hi) && !v->relost_hi
            && sack_holes_in(c, lo, seq_lt(c->fl->sack.rtx_hi, q) ? c->fl->sack.rtx_hi : q)) {
            v->relost_lo = lo;
            v->relost_hi = seq_lt(c->fl->sack.rtx_hi, q) ? c->fl->sack.rtx_hi : q;
        }
        if (seq_lt(v->lost_hi, q))
            v->lost_hi = q;  /* below rtx_hi it moves nothing: those were resent */
    }
    return 1;
}
