/*
 * tcp_bbr.c - BBR congestion control (draft-ietf-ccwg-bbr, BBRv3): a model of the path
 * (the bottleneck's bandwidth, max_bw, and the round-trip propagation time, min_rtt)
 * from delivery-rate samples (tcp_rate.c), and from it the pacing rate (pacing_gain x
 * BBR.bw: max_bw, or bw_lo below it) and the congestion window (cwnd_gain x the BDP),
 * through the states Startup, Drain, ProbeBW (Down, Cruise, Refill, Up) and ProbeRTT.
 *
 * tcp_cc.c (cc_init, cc_on_rto; cc_on_ack, cc_on_loss and cc_after_idle do nothing
 *           for BBR)                       -> bbr_init, bbr_on_rto
 * tcp_in.c (ack_in: every ACK that delivers data, in recovery too) -> bbr_on_ack
 *     -> rate_on_ack (tcp_rate.c) -> the model, the state machine, cwnd
 * tcp_pace.h (tcp_pacing_rate, for tcp_sched.c's pacing and turns) -> bbr_pacing_rate
 * tcp_rate.c (rate_sent: data goes again) -> bbr_resent
 * tcp_cc.c (cc_loss_rate, for tcp_sack.c's sack_room_for) -> bbr_loss_rate
 *
 * What is left out or simpler than the draft (docs/tcp.md lists it): one rate sample
 * per round trip (tcp_rate.c); max_bw is the larger of two windows, advanced when a
 * probe for bandwidth ends (the draft's two cycles; end_probe); one min_rtt, 10 s long,
 * whose age of 5 s starts ProbeRTT (the draft keeps a second, 5 s filter for that);
 * of the short-term model only bw_lo (no inflight_lo: cwnd's floor of four segments is
 * over it where it matters), lowered only by loss that comes with a queue standing
 * (lower_bound, queue_loss); losses are the bytes resent in a round, and its loss
 * events the resends in a recovery that do not go on from the last; no extra_acked
 * (ACK aggregation) allowance; recovery's packet conservation is not applied (the window is BBR's).
 * Beyond the draft: a round's loss counts over the path's standing loss (check_loss),
 * and on a path that loses at random Startup's loss exit waits for two rounds without
 * growth (startup_full_on_loss); ProbeBW_UP's growth test is 20%, net of that loss
 * (up_plateau), for one sample a round; a queue's loss brings max_bw down to twice
 * bw_lo (cap_max_bw), and teaches loss_bg nothing (queued).
 * Invariant: cwnd >= 4 segments (BBRMinPipeCwnd) once BBR has set it.
 */
#include "tcp/tcp_priv.h"
#include "tcp/tcp_bbr.h"

/* What docs/tcp.md states BBR costs: 64 bytes in the space CUBIC's 32 take (the
 * control block grew by 32; issue 18 counts every byte). */
_Static_assert(sizeof(struct tcb_bbr) == 64, "BBR's state per connection is 64 bytes");

/* Gains in percent (draft-ietf-ccwg-bbr, the parameters of each state). */
#define STARTUP_PACING 277    /* 4 ln 2: doubles the rate each round (Startup) */
#define DRAIN_PACING   35     /* drains Startup's queue in about a round (Drain) */
#define DEFAULT_CWND   200    /* cwnd_gain outside ProbeBW_UP and ProbeRTT */
#define UP_CWND        225    /* ProbeBW_UP */
#define UP_GROWTH      120    /* a round's growth that keeps ProbeBW_UP going (up_plateau) */
#define PROBE_RTT_CWND 50     /* ProbeRTT: half the BDP */
#define LOSS_THRESH    20     /* per mille of a round's data lost, above the standing
                                 loss, that ends probing */
#define LOSSY_PATH     10     /* per mille of standing loss: Startup's loss exit waits
                                 for a round without growth */
#define STARTUP_LOSSES 6      /* loss events in a round, at least, to end Startup */
#define BETA           70     /* inflight_hi after too much loss: 0.7 x the target;
                                 bw_lo after loss with a queue: 0.7 x the last */
#define MAX_OVER_LO    2      /* max_bw after a queue's loss: at most this times bw_lo */
#define HEADROOM       15     /* ProbeBW leaves 15% of inflight_hi for other flows */
#define PACING_MARGIN  1      /* percent below the rate estimated, to keep queues low */
#define MIN_RTT_MS     10000  /* MinRTTFilterLen */
#define PROBE_RTT_INTERVAL_MS 5000
#define PROBE_RTT_MS   200    /* ProbeRTTDuration */

/* A connection that sent nothing yet has no clock in ms of its own: now, never 0. */
static uint32_t bbr_ms(const struct tcp *e)
{
    uint32_t t = (uint32_t)(e->net.now_us / 1000);
    return t ? t : 1;
}

static uint32_t max_bw(const struct tcb_bbr *b)
{
    return b->bw[0] > b->bw[1] ? b->bw[0] : b->bw[1];
}

/*
 * max_bw's window moves on (it is two probes long: the draft's two cycles) when a probe
 * for bandwidth ends. The draft moves it a round into every ProbeBW_DOWN, also those
 * that follow Drain and ProbeRTT; here those keep the window. Else a ProbeRTT that came
 * a cycle after Startup, with an RTO between (cwnd one segment, its samples a fraction
 * of the path's), forgot Startup's estimate: at 80 ms and 10 % loss max_bw fell from
 * 34 MB/s to 70 kB/s, and the download's last 7 MB took 11 s.
 */
static void end_probe(struct tcb_bbr *b)
{
    b->bw[1] = b->bw[0];
    b->bw[0] = 0;
}

/* A round's delivery rate, bytes per second (rate_on_ack took it: interval_us > 0). */
static uint32_t sample_bw(const struct rate_sample *rs)
{
    uint64_t bw = (uint64_t)rs->delivered * 1000000u / rs->interval_us;
    return bw > UINT32_MAX ? UINT32_MAX : (uint32_t)bw;
}

/* Draft, BBRBoundBWForModel: BBR.bw, the rate the model paces at and sizes the BDP by,
 * is max_bw bounded by bw_lo where loss set one (lower_bound). */
static uint32_t model_bw(const struct tcb *c)
{
    uint32_t m = max_bw(&c->fl->cc.bbr), lo = c->fl->cc.bw_lo;
    return lo && lo < m ? lo : m;
}

/* BBRBDPMultiple: gain percent of BBR.bw x min_rtt; before a sample, the initial
 * window (the draft's InitialCwnd for an unknown BDP). */
static uint32_t bdp(const struct tcb *c, uint32_t gain)
{
    const struct tcb_bbr *b = &c->fl->cc.bbr;
    if (!max_bw(b) || !b->min_rtt_us)
        return (uint32_t)((uint64_t)10u * c->mss * gain / 100);
    uint64_t v = (uint64_t)model_bw(c) * b->min_rtt_us / 1000000u * gain / 100;
    return v > 1000000000u ? 1000000000u : (uint32_t)v;
}

/* The draft's C.inflight, what its state machine compares with the BDP: the data in the
 * network (RFC 6675's pipe in recovery: SACKed and presumed-lost bytes left the path),
 * not SND.MAX - SND.UNA, which in a long recovery also counts all that the peer holds
 * above the hole and kept Drain from ever seeing the queue gone. */
static uint32_t inflight(const struct tcb *c)
{
    if (c->fl->sack.in_recovery)
        return recovery_pipe(c);
    uint32_t out = c->snd.max - c->snd.una, held = sack_bytes(c);
    return out > held ? out - held : 0;
}

static uint32_t pacing_gain(uint8_t state)
{
    switch (state) {
    case BBR_STARTUP: return STARTUP_PACING;
    case BBR_DRAIN: return DRAIN_PACING;
    case BBR_DOWN: return 90;
    case BBR_UP: return 125;
    default: return 100;  /* Cruise, Refill, ProbeRTT */
    }
}

/* Bytes per second: pacing_gain x BBR.bw, 1% under (BBRSetPacingRateWithGain); before
 * the first sample, the initial window over SRTT at the gain (BBRInitPacingRate). */
uint64_t bbr_pacing_rate(const struct tcb *c)
{
    const struct tcb_bbr *b = &c->fl->cc.bbr;
    uint64_t g = pacing_gain(b->state), r = (uint64_t)model_bw(c) * g * (100 - PACING_MARGIN) / 10000u;
    if (!max_bw(b) || b->state == BBR_STARTUP) {
        /* One sample a round leaves max_bw a round behind Startup's doubling: Startup
         * keeps the initial rule, the window over SRTT at the gain, where that is more. */
        if (!c->timer.srtt_us)
            return max_bw(b) ? r : UINT64_MAX;
        uint64_t w = (uint64_t)c->cc.cwnd * 1000000u * g / ((uint64_t)c->timer.srtt_us * 100u);
        return w > r ? w : r;
    }
    return r;
}

void bbr_init(struct tcp *e, struct tcb *c)
{
    (void)e;
    c->opts |= CO_BBR;
}

/* Draft: ProbeBW's cycle starts with Down, and the next probe comes after 2 to 3 s
 * (randomized so flows do not probe in step; the clock's microseconds are random
 * enough here). */
static void start_cycle(struct tcp *e, struct tcb *c)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    b->state = BBR_DOWN;
    b->phase_ms = bbr_ms(e);
    b->probe_wait = (uint8_t)(e->net.now_us % 32u);
}

static void enter(struct tcp *e, struct tcb *c, uint8_t state);

/* ProbeBW: the cycle's 2 to 3 s are over (start_cycle drew them). */
static int probe_due(const struct tcb_bbr *b, uint32_t t)
{
    return t - b->phase_ms >= 2000u + 32u * b->probe_wait;
}

/*
 * A flight begins (flight.c, cc_flight_begin): the model the last one left (max_bw,
 * min_rtt and when it was taken), as the draft keeps it across idle time. A connection
 * that had filled the pipe resumes ProbeBW in Cruise, pacing at max_bw (the draft's
 * BBRHandleRestartFromIdle), with its next probe for bandwidth 2 to 3 s away; one that
 * had not goes on with Startup. The rest (the sampler, inflight_hi, the round's losses,
 * Startup's full_bw count) starts afresh: a flight after idle time measures anew.
 */
void bbr_flight_begin(struct tcp *e, struct tcb *c)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    /* The delivery count goes on from all the connection delivered before (tcp_rate.c
     * counts from SND.UNA): a flight's first ACK then delivers only what it acknowledges. */
    *b = (struct tcb_bbr){
        .delivered = c->snd.una - c->snd.iss, .delivered_us = (uint32_t)e->net.now_us,
        .bw = {c->cc.keep[0], 0},
        .min_rtt_us = c->cc.keep[1], .min_rtt_ms = c->cc.keep[1] ? c->cc.keep[2] : bbr_ms(e),
        .state = BBR_STARTUP,
    };
    c->fl->cc.bw_lo = c->fl->cc.queue_loss_ms = 0;
    if (c->cc.keep_flags & BB_FILLED) {
        b->flags = BB_FILLED;
        start_cycle(e, c);
        enter(e, c, BBR_CRUISE);
    }
}

/* The flight is over: what bbr_flight_begin will need. */
void bbr_flight_end(struct tcb *c)
{
    const struct tcb_bbr *b = &c->fl->cc.bbr;
    c->cc.keep[0] = max_bw(b);
    c->cc.keep[1] = b->min_rtt_us;
    c->cc.keep[2] = b->min_rtt_ms;
    c->cc.keep_flags = b->flags & BB_FILLED;
}

static void enter(struct tcp *e, struct tcb *c, uint8_t state)
{
    if (state == BBR_REFILL)
        c->fl->cc.bw_lo = 0;  /* BBRResetShortTermModel: a probe measures afresh */
    c->fl->cc.bbr.state = state;
    c->fl->cc.bbr.phase_ms = bbr_ms(e);
}

/* Draft, BBRCheckStartupDone: the pipe is full when max_bw has not grown by 25% in
 * three rounds that were not application-limited. */
static void check_full_pipe(struct tcb_bbr *b, const struct rate_sample *rs)
{
    if ((b->flags & BB_FILLED) || rs->app_limited)
        return;
    if ((uint64_t)max_bw(b) * 100 >= (uint64_t)b->full_bw * 125) {
        b->full_bw = max_bw(b);
        b->flags &= (uint8_t)~BB_CNT;
        return;
    }
    b->flags = (uint8_t)(b->flags + BB_CNT_1);
    if ((b->flags & BB_CNT) >= 3 * BB_CNT_1)
        b->flags |= BB_FILLED;
}

/*
 * Draft, BBRIsTimeToGoDown (BBR.full_bw_now, as in Startup, counted afresh from Up's
 * start: BBRStartProbeBW_UP resets it): Up goes on while a round's sample brings more
 * than the best since Up began, and ends after three that do not. So a flow whose
 * max_bw fell far below the link (Startup ended early, on loss) climbs by up to 25% a
 * round for as long as the link has room, not 25% a cycle of 2 to 3 s. "More" is 20%
 * (UP_GROWTH) where the draft asks 25%: it takes the largest of many samples a round,
 * and this one sample a round (tcp_rate.c), and Up paces at 1.25 x 0.99 of max_bw: a
 * path with all the room in the world delivers 1.2375 times the last round's rate, and
 * 25% was never reached. A path's standing loss takes its share of that too (the
 * sample counts what arrived: 1.2375 x 0.95 at 5% loss), so 20% counts net of loss_bg.
 * At 5% loss and 80 ms, after Startup ended at 1.4 MB/s, each Up ended after three
 * rounds having gained 10 to 40%, and 20 MiB took 12 s against the kernel's 2.8.
 * Returns 1 when Up is over. Not for application-limited samples, which say nothing of
 * the pipe.
 */
static int up_plateau(struct tcb_bbr *b, uint32_t bw, const struct rate_sample *rs)
{
    if (rs->app_limited)
        return 0;
    if ((uint64_t)bw * 100000 >= (uint64_t)b->full_bw * UP_GROWTH * (1000u - b->loss_bg)) {
        b->full_bw = bw;
        b->flags &= (uint8_t)~BB_CNT;
        return 0;
    }
    b->flags = (uint8_t)(b->flags + BB_CNT_1);
    return (b->flags & BB_CNT) >= 3 * BB_CNT_1;
}

/* Draft, BBRHandleInflightTooHigh: inflight_hi at what is out, at least beta times the
 * target; Startup ends (the pipe is full) and Up goes Down. */
static void bound_inflight(struct tcp *e, struct tcb *c)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t out = inflight(c), floor = bdp(c, DEFAULT_CWND) / 100 * BETA;
    b->inflight_hi = out > floor ? out : floor;
    if (b->state == BBR_STARTUP) {
        b->flags |= BB_FILLED;
    } else {
        end_probe(b);
        start_cycle(e, c);
    }
}

/* Whether a round lost more than the path's standing loss explains: over loss_bg plus
 * BBRLossThresh of its data, and over that by more than twice the spread of a count of
 * random losses (a binomial one's standard deviation, the square root of the count
 * expected, in segments). With no standing loss both allowances are 0: the draft's
 * rule. Counted in thousandths of a segment. */
static int over_standing_loss(const struct tcb *c, uint32_t lost, uint64_t base)
{
    uint64_t segs = base / c->mss, expect = segs * c->fl->cc.bbr.loss_bg;
    uint64_t bound = expect + segs * LOSS_THRESH, got = (uint64_t)lost * 1000u / c->mss;
    if (got <= bound)
        return 0;
    uint64_t over = got - bound;
    return over * over > 4u * 1000u * expect;  /* over > 2 sqrt(expect), both x 1000 */
}

/*
 * What Startup's rounds say of random loss (startup_full_on_loss): counted to 2, a round
 * that lost data counts one; a round with none, out of recovery, after one that lost,
 * counts the path lossy at once. A queue that overflows goes on losing, into one
 * recovery, until Startup ends; random loss in small flights comes and goes, a recovery
 * over before the next loss. Random loss that first shows in the round before the one
 * that meets the draft's rule, in the same recovery, is not told from an overflow: at
 * 5% loss on an 80 ms path the rounds of 10, 20 and 39 segments lost 0, 0 and 2, the
 * fourth 13 of 128, and Startup ended at 80 segments a round.
 */
static void count_lossy_round(struct tcb *c, uint32_t lost)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint8_t n = b->round & BR_LOSSY;
    if (n >= 2 * BR_LOSSY_1)
        return;
    if (lost)
        b->round = (uint8_t)(b->round + BR_LOSSY_1);
    else if (n && !c->fl->sack.in_recovery)
        b->round = (uint8_t)((b->round & ~BR_LOSSY) | 2 * BR_LOSSY_1);
}

/* Startup's further conditions for ending on loss (check_loss): the draft's, and on a path
 * that loses at random, two rounds in a row that brought less than 25% more bandwidth
 * (check_full_pipe counts them; three end Startup anyway). A path loses at random when
 * its standing loss is 1% or more, or when Startup's rounds say so (count_lossy_round):
 * loss_bg learns slowly at first (by design: the round that first overflows a queue
 * moves it little), and at 10% random loss on an 80 ms path it read 0.8% in the fifth
 * round, whose seven losses in 30 segments then ended Startup at 45 segments a round
 * and left the flow at a twentieth of the path for 20 s. One round without growth was
 * not enough either: at 10% loss a round of 80 segments grew 2% by chance, and Startup
 * ended at 1.3 MB/s where others went past 40. A queue that overflows, or loss that
 * sets in on a path that had none, meets the draft's rule: the round after the first
 * loss has one earlier round with loss, in the same recovery. */
static int startup_full_on_loss(const struct tcb_bbr *b, uint32_t events, int full_round)
{
    if (events < STARTUP_LOSSES || !full_round)
        return 0;
    int lossy = b->loss_bg >= LOSSY_PATH || (b->round & BR_LOSSY) >= 2 * BR_LOSSY_1;
    return !lossy || (b->flags & BB_CNT) >= 2 * BB_CNT_1;
}

/* Whether a round trip stood over min_rtt by half of it, and by 2 ms at least: a queue
 * held the data (queue_loss; check_loss learns no standing loss from such a round). */
static int queued(const struct tcb_bbr *b, uint32_t rtt_us)
{
    uint32_t min = b->min_rtt_us, q = min / 2 > 2000u ? min / 2 : 2000u;
    return min && rtt_us > min + q;
}

/*
 * Whether loss now is a queue's: BBR is not probing for bandwidth (Drain, ProbeBW_DOWN
 * and _CRUISE, ProbeRTT) and a queue stands, SRTT over min_rtt by half of it and by
 * 2 ms at least (timestamps count whole milliseconds, and a receiver's delayed ACKs and
 * its host add a little to every round trip). A drop-tail queue drops when it is full;
 * random loss comes with no queue, and BBR does not slow down for it (check_loss). By a
 * quarter, a flow's own probe (cwnd 2.25 x BDP) left queue enough in the rounds after
 * it for random loss to read as a queue's: in the stack test
 * test_up_climbs_through_standing_loss the share of the link fell from 59% to 52%,
 * where by half it is 57%. Through the shared bottleneck SRTT is twice min_rtt.
 */
static int queue_loss(const struct tcb *c)
{
    const struct tcb_bbr *b = &c->fl->cc.bbr;
    if (b->state == BBR_STARTUP || b->state == BBR_REFILL || b->state == BBR_UP)
        return 0;
    return queued(b, c->timer.srtt_us);
}

/*
 * Beyond the draft: a queue's loss also brings max_bw's two windows down to twice bw_lo
 * (MAX_OVER_LO), where the draft leaves max_bw to age out over two probe cycles. bw_lo
 * bounds the rate only until the next probe (Refill clears it), and the probe starts
 * from max_bw: through a queue 200 flows shared, one flow's max_bw read 7 times its
 * share for 3 s, one probe's samples lowered it by a sixth, and the next came 2 to 3 s
 * later. Twice, because a probe must still find room that came free: a flow alone
 * behind a link that slowed to a quarter keeps 88% of it
 * (test_loss_with_a_queue_lowers_the_rate), as without the cap.
 */
static void cap_max_bw(struct tcb_bbr *b, uint32_t bw_lo)
{
    if (!bw_lo)
        return;  /* no sample said anything of the path */
    uint64_t cap = (uint64_t)bw_lo * MAX_OVER_LO;
    for (int i = 0; i < 2; i++)
        if (b->bw[i] > cap)
            b->bw[i] = (uint32_t)cap;
}

/*
 * Draft, BBRAdaptLowerBoundsFromCongestion: a round that lost data while BBR was not
 * probing bounds BBR.bw by bw_lo, the larger of the round's sample and BBRBeta (0.7)
 * times the last bound (or max_bw); probing for bandwidth (Refill) and ProbeRTT's end
 * clear it. Only for a queue's loss (queue_loss), where the draft takes any.
 *
 * What this is for: many flows sharing one queue, each with less than a segment a round
 * trip as its share. max_bw, the largest of rounds of one or two segments, read 2.5
 * times that share (the median of 200 downloads through one 50 Mbit/s queue); paced
 * there, they sent 1.7 times what the link carried, and it dropped 43% of what came.
 * A flow whose resend met the full queue again and again waited RTOs that doubled to
 * 20 s and more, and the last downloads ended up to 10 s after the link had gone idle.
 * Probing every four rounds (the Reno bound at cwnd's floor) kept 58% of the rounds in
 * Refill or Up. With both changes the queue drops 94,000 to 100,000 frames where it
 * dropped 108,000 to 117,000 (docs/performance.md, "BBR through a shared queue").
 */
static void lower_bound(struct tcb *c, const struct rate_sample *rs)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    if (!queue_loss(c))
        return;
    uint64_t lo = (uint64_t)(c->fl->cc.bw_lo ? c->fl->cc.bw_lo : max_bw(b)) * BETA / 100;
    uint32_t latest = sample_bw(rs);
    c->fl->cc.bw_lo = lo > latest ? (uint32_t)lo : latest;
    cap_max_bw(b, c->fl->cc.bw_lo);
}

/* A resend goes (tcp_rate.c): data was lost. If a queue's (queue_loss), Reno would cut
 * its window now, and the count of its rounds starts again (reno_probe_time). */
void bbr_resent(struct tcp *e, struct tcb *c)
{
    if (queue_loss(c))
        c->fl->cc.queue_loss_ms = bbr_ms(e);
}

/*
 * Draft, BBRIsInflightTooHigh / BBRHandleInflightTooHigh: more than 2% (BBRLossThresh)
 * of the data the round's losses concern lost while probing (Startup and ProbeBW_UP;
 * the draft counts none of Refill's, bw_probe_samples being 0 there) bounds inflight
 * at what was out, at least beta times the target; Startup ends and Up goes Down. The
 * resends of a round repair what its ACKs found missing, which is what they also found
 * delivered: the rate is the bytes resent over those delivered and resent. The draft's
 * rs.tx_in_flight, P's flight when it went, is the same data in a steady round; a P
 * that was a resend ends below what had gone (tcp_rate.c), and its tx_in_flight falls
 * short. The larger of the two is taken.
 *
 * Beyond the draft, two rules tell a path's random loss from the loss a probe causes,
 * which is all the threshold is there to catch. The 2% count above the path's standing
 * loss (loss_bg, over_standing_loss): the average loss rate of the rounds of Startup
 * and of ProbeBW_CRUISE (at the estimated rate, with headroom below inflight_hi, where
 * a flow's own queue is drained and what is lost was lost anyway). And on a path that
 * loses at random, Startup ends on loss only after two rounds in a row that brought
 * less than 25% more bandwidth (check_full_pipe has counted them; startup_full_on_loss):
 * a pipe that overflows delivers no faster, while a round that doubled its delivery
 * rate through random loss has not found the pipe's limit. The draft's rule took 5%
 * random loss as the limit at once: 20 MiB at 80 ms took 11 to 52 s against 2.6 to
 * 2.8 s from the kernel's BBR (version 1, which ignores loss), Startup having ended at
 * about a hundred segments a round, and every later probe ended by the same loss
 * before it grew.
 *
 * Startup ends so only as the draft's BBRCheckStartupHighLoss has it (Exiting Startup
 * Based on Packet Loss): in a fast recovery that has lasted the whole round (P went
 * in it), and with at least BBRStartupFullLossCnt discontiguous ranges lost in the
 * round (tcp_rate.c counts them). A few random losses in a small flight are over 2%
 * and say nothing of a full pipe; nor does a round that began before the recovery:
 * one whose P went at a lull (83 segments out between two recoveries, before a
 * flight of 478) delivers little while the resends of the recovery that follows fall
 * in it, and at 1% random loss 13 of them had ended Startup.
 */
static void check_loss(struct tcp *e, struct tcb *c, const struct rate_sample *rs)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t lost = b->round_lost, events = b->round & BR_EVENTS;
    int full_round = c->fl->sack.in_recovery && (b->round & BR_P_REC);
    b->round_lost = 0;
    b->round &= (uint8_t)~BR_EVENTS;
    uint64_t base = (uint64_t)rs->delivered + lost;
    if (base < rs->tx_in_flight)
        base = rs->tx_in_flight;
    uint64_t rate = base ? (uint64_t)lost * 1000u / base : 0;  /* per mille */
    int probing = b->state == BBR_STARTUP || b->state == BBR_UP;
    if (probing && over_standing_loss(c, lost, base)
        && (b->state != BBR_STARTUP || startup_full_on_loss(b, events, full_round))) {
        bound_inflight(e, c);
        return;
    }
    if (lost)
        lower_bound(c, rs);
    if (b->state == BBR_STARTUP)
        count_lossy_round(c, lost);
    if ((b->state == BBR_STARTUP || b->state == BBR_CRUISE) && !queued(b, rs->rtt_us)) {
        /* An average of a quarter weight, a round's rate counted at most LOSS_THRESH
         * over it: a few rounds learn a path's loss, while the round in which Startup
         * first overflows a queue (not yet a whole round in recovery) moves it by
         * 0.5% at most, and the next, which ends Startup, meets the draft's rule. Or
         * one segment over it, where that is more: a round of a few segments loses
         * none or one, and capped at 2% over, the average of 5% random loss in rounds
         * of five segments settled at 0.8%; each probe then took its first loss for
         * one it caused, and the rate crept up a fifth a second after heavy loss.
         * Not a round whose P waited in a queue (queued): its loss was the queue's.
         * With 200 flows starting through one queue, Startup's rounds of a segment or
         * two, each after an RTO, taught one flow a standing loss of 23% (16% before
         * its SRTT showed the queue); its next Up, ended by loss only above 27% and by a
         * growth test that asked 20% net of 25%, less than none, went on for 3 s to
         * 16 times its share. */
        uint64_t cap = (uint64_t)b->loss_bg + LOSS_THRESH, one = base ? 1000u * c->mss / base : 0;
        if (cap < b->loss_bg + one)
            cap = b->loss_bg + one;
        uint64_t r = rate < cap ? rate : cap;
        if (r > UINT8_MAX)
            r = UINT8_MAX;  /* a byte: near 255 the step would carry it past and wrap */
        int32_t bg = b->loss_bg, step = ((int32_t)r - bg) / 4;
        b->loss_bg = (uint8_t)(bg + step);
    }
}

/* The path's loss, per mille, for what tcp_sack.c expects of the data not yet reported
 * on (cc_loss_rate): twice the standing loss, whose steps are capped (check_loss) and
 * lag a path's loss by rounds: at 10% loss it read 4.4% when a flight of 5,700 segments
 * went out, and 254 ranges did not hold its holes. */
uint32_t bbr_loss_rate(const struct tcb *c)
{
    return 2u * c->fl->cc.bbr.loss_bg;
}

/* Draft, BBRIsRenoCoexistenceProbeTime: the next probe for bandwidth comes no later
 * than the rounds a Reno flow takes to grow its window by the target inflight (one
 * segment a round: the BDP, or cwnd if less, in segments, and at least BBRMinPipeCwnd,
 * as BBRInflight's quantization budget makes it), at most 63; else a small BDP (a short
 * round trip, or a low rate after Startup ended on loss) would wait the wall-clock 2 to
 * 3 s, hundreds of rounds, to find bandwidth that came free. Without the floor, a flow
 * whose share of the path is under a segment a round (200 of them through one link)
 * probed every round, and the probes of all of them kept its queue overflowing. Rounds
 * are counted in time, the cycle's age over SRTT (no round counter is kept), from the
 * cycle's start or the last resend for a queue's loss (bbr_resent), whichever is
 * later: Reno's window grows from its last cut, and probing again four rounds after
 * the queue overflowed only overflows it again. Counted from round ends instead, the
 * rounds of a flow that loses much (each as long as its recovery) left four SRTTs
 * between them, and such flows spent 39% of their rounds probing. */
static int reno_probe_time(const struct tcb *c, uint32_t t)
{
    const struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t from = b->phase_ms, cut = c->fl->cc.queue_loss_ms;
    if (cut && (int32_t)(cut - from) > 0)
        from = cut;
    uint64_t target = bdp(c, 100), rounds;
    if (target > c->cc.cwnd)
        target = c->cc.cwnd;
    if (target < 4u * c->mss)
        target = 4u * c->mss;  /* BBRMinPipeCwnd */
    rounds = target / c->mss;
    if (rounds > 63)
        rounds = 63;
    return c->timer.srtt_us && (uint64_t)(t - from) * 1000u >= rounds * c->timer.srtt_us;
}

/* The state machine, after the model took the ACK's sample (draft, BBRUpdateControl...). */
static void update_state(struct tcp *e, struct tcb *c, int round)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t out = inflight(c), t = bbr_ms(e);
    switch (b->state) {
    case BBR_STARTUP:
        if (b->flags & BB_FILLED)
            enter(e, c, BBR_DRAIN);
        break;
    case BBR_DRAIN:  /* BBRCheckDrainDone: until what is out fits the BDP */
        if (out <= bdp(c, 100))
            start_cycle(e, c);
        break;
    case BBR_DOWN:  /* leave headroom below inflight_hi, and no queue */
        if (probe_due(b, t) || reno_probe_time(c, t))
            enter(e, c, BBR_REFILL);
        else if (out <= bdp(c, 100)
                 && (!b->inflight_hi || out <= b->inflight_hi / 100 * (100 - HEADROOM)))
            b->state = BBR_CRUISE;  /* the cycle's clock runs on */
        break;
    case BBR_CRUISE:
        if (probe_due(b, t) || reno_probe_time(c, t))
            enter(e, c, BBR_REFILL);
        break;
    case BBR_REFILL:  /* one round at the estimated rate, then probe */
        if (round) {
            enter(e, c, BBR_UP);
            b->full_bw = max_bw(b);  /* BBRStartProbeBW_UP: full_bw_now counts afresh */
            b->flags &= (uint8_t)~BB_CNT;
        }
        break;
    case BBR_UP:  /* BBRIsTimeToGoDown: bbr_on_ack's up_plateau */
        break;
    case BBR_PROBE_RTT:  /* BBRHandleProbeRTT: 200 ms at the small window, then back */
        if (!(b->flags & BB_RTT_LOW) && out <= bdp(c, PROBE_RTT_CWND) + c->mss) {
            b->flags |= BB_RTT_LOW;
            b->phase_ms = t;  /* the 200 ms count from here */
        } else if ((b->flags & BB_RTT_LOW) && t - b->phase_ms >= PROBE_RTT_MS) {
            b->min_rtt_ms = t;  /* the path was drained: what it showed is fresh */
            b->flags &= (uint8_t)~BB_RTT_LOW;
            c->fl->cc.bw_lo = 0;  /* BBRExitProbeRTT: BBRResetShortTermModel */
            if (b->flags & BB_FILLED) {
                start_cycle(e, c);  /* Down, then Cruise once no queue is left */
            } else {
                enter(e, c, BBR_STARTUP);
            }
        }
        break;
    }
    /* BBRCheckProbeRTT: min_rtt unrefreshed for 5 s. */
    if (b->state != BBR_PROBE_RTT && b->min_rtt_us && t - b->min_rtt_ms >= PROBE_RTT_INTERVAL_MS) {
        enter(e, c, BBR_PROBE_RTT);
        b->flags &= (uint8_t)~BB_RTT_LOW;
    }
}

/* Draft, BBRSetCwnd: toward cwnd_gain x BDP (plus two turns' worth, the bursts the
 * transmit round sends), growing by what was delivered; bounded by inflight_hi outside
 * probes, and by half the BDP in ProbeRTT; never below four segments. */
static void set_cwnd(struct tcb *c, uint32_t newly)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t gain = b->state == BBR_UP ? UP_CWND : DEFAULT_CWND;
    /* One sample a round (tcp_rate.c) leaves max_bw a round behind a Startup that
     * doubles each round: while it still grows, the bound is where it will be. */
    if (b->state == BBR_STARTUP && !(b->flags & BB_CNT))
        gain *= 2;
    uint64_t target = (uint64_t)bdp(c, gain) + 2u * tcp_turn_bytes(c);
    uint64_t w = (uint64_t)c->cc.cwnd + newly;
    if ((b->flags & BB_FILLED) && w > target)
        w = target;
    else if (!(b->flags & BB_FILLED) && c->cc.cwnd >= target && b->delivered >= 10u * c->mss)
        w = c->cc.cwnd;
    if (b->inflight_hi && b->state != BBR_UP && b->state != BBR_REFILL && w > b->inflight_hi)
        w = b->inflight_hi;
    if (b->state == BBR_PROBE_RTT && w > bdp(c, PROBE_RTT_CWND))
        w = bdp(c, PROBE_RTT_CWND);
    if (w < 4u * c->mss)
        w = 4u * c->mss;
    c->cc.cwnd = w > 1000000000u ? 1000000000u : (uint32_t)w;
    c->cc.ssthresh = c->cc.cwnd;  /* recovery's window is BBR's (tcp_sack.c reads it) */
}

void bbr_on_ack(struct tcp *e, struct tcb *c)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    struct rate_sample rs;
    uint32_t newly = rate_on_ack(e, c, &rs);
    if (!newly)
        return;
    int round = rs.interval_us != 0;
    if (round) {
        /* Draft, BBRUpdateMaxBw: a sample counts unless application-limited and below
         * the estimate. */
        uint32_t bw = sample_bw(&rs);
        if ((!rs.app_limited || bw >= max_bw(b)) && bw > b->bw[0])
            b->bw[0] = (uint32_t)bw;
        check_full_pipe(b, &rs);
        check_loss(e, c, &rs);
        if (b->state == BBR_UP) {
            /* BBRv3: while probing Up without too much loss, inflight_hi grows. */
            if (b->inflight_hi)
                b->inflight_hi += b->inflight_hi / 4;
            if (up_plateau(b, bw, &rs)) {
                end_probe(b);
                start_cycle(e, c);
            }
        }
    }
    update_state(e, c, round);
    set_cwnd(c, newly);
    SSDK_ASSERT(c->cc.cwnd >= 4u * c->mss);
}

/*
 * Draft, BBRUpdateMinRTT: a lower round trip, or any once min_rtt is 10 s old. The
 * samples are RFC 6298's (tcp_timer.c: from the echoed timestamp, else the one timed
 * segment), each naming one segment: P's round trip would include the queue its own
 * burst built, and RACK's send times, merged into steps, make round trips look short.
 */
void bbr_rtt(struct tcp *e, struct tcb *c, uint32_t rtt_us)
{
    struct tcb_bbr *b = &c->fl->cc.bbr;
    uint32_t t = bbr_ms(e);
    if (rtt_us == 0)
        rtt_us = 1;
    if (!b->min_rtt_us || rtt_us < b->min_rtt_us || t - b->min_rtt_ms >= MIN_RTT_MS) {
        b->min_rtt_us = rtt_us;
        b->min_rtt_ms = t;
    }
}

/* An RTO: one segment, as for any controller (RFC 5681 3.1), growing back by what is
 * delivered up to the model's target; the model stays (draft: on an RTO BBR keeps its
 * estimates and restores the window as ACKs come). Everything in flight is deemed lost
 * (RFC 6675 5.1), so nothing is: the resend restarts the delivery clock as a send after
 * idle time does (tcp_rate.c), and the samples say what the path delivers, not how long
 * the timer waited. */
void bbr_on_rto(struct tcp *e, struct tcb *c)
{
    (void)e;
    c->cc.cwnd = c->mss;
    c->fl->cc.bbr.flags &= (uint8_t)~BB_P;  /* go-back-N resends what P covered */
    c->fl->cc.bbr.round |= BR_RTO;
}
