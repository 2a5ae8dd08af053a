/*
 * nic_impair.c - the impairment layer: a backend that wraps another and loses,
 * duplicates, reorders, delays and corrupts frames, each direction on its own, as a
 * seeded PRNG decides, and sends them through a bottleneck link (impair_queue.c). It
 * stands in for netem and tbf, which the kernel here does not have.
 *
 * RX: serve/loop.c -> imp_rx_burst -> inner->rx_burst -> admit (copy into the pool)
 *                                  -> inner->rx_release -> due frames from the pool -> stack
 *     serve/loop.c -> imp_rx_release (the pool slots the stack borrowed come back)
 * TX: stack -> imp_tx_slot (the staging buffer) -> imp_tx_commit -> admit
 *           -> tx_release_due -> inner->tx_slot / inner->tx_commit
 *     serve/loop.c -> imp_tx_flush -> tx_release_due -> inner->tx_flush
 *     ssdk_run -> imp_next_due_us (poll() does not sleep past a held frame)
 * admit -> bottleneck_enter (impair_queue.c: when the frame has left the link, or dropped)
 * Python -> ssdk_impair (serve/loop.c) -> nic_impair_new;  bridge.c -> nic_impair_new
 *
 * A test tool, not the fast path: in an impaired direction every frame is copied into
 * the wrapper's pool (RX: out of the inner ring; TX: out of the staging buffer, and
 * again into the inner ring). The copy is what keeps the inner backend's borrow/release
 * contract simple: every inner frame is released, in order, within the rx_burst that
 * borrowed it, and what the stack borrows from the wrapper lives in pool slots that
 * only imp_rx_release gives back, in the order they were lent. A direction with nothing
 * configured is not copied and not counted: its calls go straight to the inner backend.
 *
 * Every frame that survives waits in one heap per direction, ordered by (due time,
 * arrival order); a frame without delay is due at once, behind what is already due.
 * Jitter can therefore reorder frames as well, as netem's does. The order of what
 * happens to a frame is that of a path: loss, duplication and corruption, then the
 * bottleneck's queue and link (a duplicate queues behind its original), then the delay
 * and jitter of propagation, added to the time it left the link.
 *
 * Determinism: each direction draws from its own xoshiro256** stream, seeded from
 * (seed, direction) through splitmix64, and every frame takes the same DRAWS values
 * whatever is decided, so the n-th frame of a direction meets the same fate for the
 * same seed; the bottleneck draws nothing. Held frames are timed by the clock the owner passes in (the engine's
 * now_us, virtual in the tests).
 *
 * A full pool (pool_frames slots per direction, allocated at creation): no frame is
 * dropped or passed around it; the wrapper pushes back as a full ring does, and counts
 * it in pool_full. TX: tx_slot returns NULL and the stack keeps the connection pending,
 * as for a full TX ring. RX: frames stay in the inner ring, whose backend drops and
 * counts them if it fills in turn (drop_rx_ring). Dropping would add loss nobody asked
 * for; passing would let frames overtake those held, which nobody asked for either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ssdk.h"
#include "base/proto.h"
#include "nic/nic.h"
#include "nic/impair_queue_priv.h"

#define DRAWS 8
#define REORDER_GAP_MAX 3         /* a reordered frame lets 1 to 3 later ones pass it... */
#define REORDER_WAIT_US 2000u     /* ...or leaves this long after its due time anyway */
#define DELAY_MAX_MS 60000u
#define PULL_MAX 64u              /* frames taken from the inner ring per rx_burst */

struct held {             /* a frame in the pool, in the heap */
    uint64_t due_us;
    uint64_t order;       /* 4 per arrival; +1 its duplicate; +2 frames that waited for it */
    uint64_t tie;         /* for equal (due, order): the frame's own arrival order */
    uint32_t slot;
};

struct waiting {          /* a reordered frame: it goes behind the next `left` arrivals */
    uint64_t due_us;      /* its own due time (delay and jitter) */
    uint64_t order;
    uint32_t slot;
    uint32_t left;
};

struct dir {
    struct ssdk_impair cfg;
    int on;                        /* something is configured: frames go through the pool */
    uint64_t rng[4];
    uint32_t nslots;
    uint8_t *buf;                  /* nslots * NIC_FRAME_MAX */
    uint32_t *len, *wire_len, *flags;
    uint32_t *free_slots, nfree;
    struct held *heap;
    uint32_t nheap;
    struct waiting *wait;
    uint32_t nwait;
    uint32_t *lent, lent_head, nlent;  /* RX: slots the stack holds, oldest first */
    uint64_t arrivals;
    struct bottleneck link;
    struct ssdk_impair_stats st;
};

struct nic_impair {
    struct nic nic;                /* nic.inner is the wrapped backend */
    const uint64_t *now_us;
    struct dir rx, tx;
    uint8_t stage[NIC_FRAME_MAX];  /* TX: the frame the stack is writing */
};

/* --- the PRNG: splitmix64 to seed, xoshiro256** to draw ----------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* True with probability p: the draw's top 53 bits as a double in [0, 1). */
static int chance(uint64_t draw, double p) { return (double)(draw >> 11) * 0x1.0p-53 < p; }

/* --- the heap of held frames, earliest (due, order, tie) on top ---------------------- */

static int before(const struct held *a, const struct held *b)
{
    if (a->due_us != b->due_us)
        return a->due_us < b->due_us;
    if (a->order != b->order)
        return a->order < b->order;
    return a->tie < b->tie;
}

static void heap_push(struct dir *d, struct held h)
{
    uint32_t i = d->nheap++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!before(&h, &d->heap[p]))
            break;
        d->heap[i] = d->heap[p];
        i = p;
    }
    d->heap[i] = h;
}

static struct held heap_pop(struct dir *d)
{
    struct held top = d->heap[0], last = d->heap[--d->nheap];
    uint32_t i = 0, n = d->nheap;
    if (n == 0)
        return top;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&d->heap[c + 1], &d->heap[c]))
            c++;
        if (!before(&d->heap[c], &last))
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    d->heap[i] = last;
    return top;
}

/* --- the pool: fixed slots of NIC_FRAME_MAX bytes, a stack of free ones ------------- */

static uint8_t *slot_data(struct dir *d, uint32_t s) { return d->buf + (size_t)s * NIC_FRAME_MAX; }

static uint32_t slot_fill(struct dir *d, const uint8_t *data, uint32_t len, uint32_t wire_len,
                          uint32_t flags)
{
    uint32_t s = d->free_slots[--d->nfree];
    memcpy(slot_data(d, s), data, len);
    d->len[s] = len;
    d->wire_len[s] = wire_len;
    d->flags[s] = flags;
    return s;
}

static void slot_give(struct dir *d, uint32_t s) { d->free_slots[d->nfree++] = s; }

/* --- deciding ------------------------------------------------------------------------ */

/* Where a changed byte is noticed: past the Ethernet header and, for IPv4, inside the
 * datagram (a flip in the Ethernet padding would change nothing that anyone checks). */
static uint32_t corrupt_end(const uint8_t *f, uint32_t len)
{
    if (len >= ETH_HLEN_ + 20 && f[12] == 0x08 && f[13] == 0x00) {
        uint32_t tl = (uint32_t)f[ETH_HLEN_ + 2] << 8 | f[ETH_HLEN_ + 3];
        if (tl >= 20 && ETH_HLEN_ + tl <= len)
            return ETH_HLEN_ + tl;
    }
    return len;
}

/* An arrival passes the reordered frames that wait: those it was the last one for go
 * into the heap right behind it. */
static void pass_waiting(struct dir *d, uint64_t due, uint64_t order)
{
    for (uint32_t i = 0; i < d->nwait;) {
        struct waiting *w = &d->wait[i];
        if (--w->left) {
            i++;
            continue;
        }
        uint64_t at = w->due_us > due ? w->due_us : due;
        heap_push(d, (struct held){at, order + 2, w->order, w->slot});
        d->wait[i] = d->wait[--d->nwait];
    }
}

/* Reordered frames whose followers did not come in time go out anyway. */
static void wait_expire(struct dir *d, uint64_t now)
{
    for (uint32_t i = 0; i < d->nwait;) {
        struct waiting *w = &d->wait[i];
        uint64_t at = w->due_us + REORDER_WAIT_US;
        if (at > now) {
            i++;
            continue;
        }
        heap_push(d, (struct held){at, w->order, w->order, w->slot});
        d->wait[i] = d->wait[--d->nwait];
    }
}

/* The original of a frame that has come through the link: into the pool, corrupted if
 * so drawn, then into the heap (due at `due`), or to wait for later frames to pass it. */
static void admit_held(struct dir *d, const uint64_t *r, const uint8_t *data, uint32_t len,
                       uint32_t wire_len, uint32_t flags, uint64_t due, uint64_t order,
                       uint64_t wait)
{
    if (wait)
        d->st.delayed++;
    uint32_t s = slot_fill(d, data, len, wire_len, flags);
    if (chance(r[3], d->cfg.corrupt)) {
        uint32_t end = corrupt_end(data, len);
        if (end > ETH_HLEN_) {
            slot_data(d, s)[ETH_HLEN_ + r[4] % (end - ETH_HLEN_)] ^= (uint8_t)(1 + r[5] % 255);
            d->flags[s] &= ~(uint32_t)FRAME_CSUM_TRUSTED;  /* the driver checked other bytes */
            d->st.corrupted++;
        }
    }
    pass_waiting(d, due, order);
    if (chance(r[2], d->cfg.reorder)) {
        d->wait[d->nwait++] = (struct waiting){due, order, s, (uint32_t)(1 + r[7] % REORDER_GAP_MAX)};
        d->st.reordered++;
    } else {
        heap_push(d, (struct held){due, order, order, s});
    }
}

/* When a frame that arrives now has left the bottleneck (now without one), or
 * UINT64_MAX if its queue drops the frame. */
static uint64_t through_link(struct dir *d, uint64_t now, uint32_t wire_len)
{
    return d->link.rate_bps ? bottleneck_enter(&d->link, now, wire_len, &d->st) : now;
}

/*
 * One frame enters direction d: draw its fate, then hold a copy (two, if duplicated) in
 * the pool until it is due. The caller has made sure that two slots are free. The draws
 * are, in order: loss, duplicate, reorder, corrupt, corrupt position, corrupt value,
 * jitter, reorder gap. A frame the bottleneck drops has still taken all of them.
 */
static void admit(struct dir *d, uint64_t now, const uint8_t *data, uint32_t len,
                  uint32_t wire_len, uint32_t flags)
{
    const struct ssdk_impair *c = &d->cfg;
    uint64_t r[DRAWS];
    for (int i = 0; i < DRAWS; i++)
        r[i] = xoshiro(d->rng);
    d->st.frames++;
    if (chance(r[0], c->loss)) {
        d->st.dropped++;
        return;
    }
    if (len > NIC_FRAME_MAX)
        len = NIC_FRAME_MAX;  /* the stack counts it as truncated: wire_len is kept */
    uint64_t jitter_us = (uint64_t)c->jitter_ms * 1000u;
    uint64_t wait = (uint64_t)c->delay_ms * 1000u + (jitter_us ? r[6] % (jitter_us + 1) : 0);
    int dup = chance(r[1], c->duplicate);
    uint64_t order = d->arrivals++ * 4;
    uint64_t left = through_link(d, now, wire_len);
    uint64_t dup_left = dup ? through_link(d, now, wire_len) : UINT64_MAX;
    if (left != UINT64_MAX)
        admit_held(d, r, data, len, wire_len, flags, left + wait, order, wait);
    if (dup) {
        d->st.duplicated++;
        if (dup_left != UINT64_MAX) {
            /* The copy is the frame as it arrived, uncorrupted, delayed as the original. */
            uint32_t s2 = slot_fill(d, data, len, wire_len, flags);
            heap_push(d, (struct held){dup_left + wait, order + 1, order + 1, s2});
        }
    }
}

static uint64_t dir_next_due(const struct dir *d)
{
    uint64_t t = d->nheap ? d->heap[0].due_us : UINT64_MAX;
    for (uint32_t i = 0; i < d->nwait; i++)
        if (d->wait[i].due_us + REORDER_WAIT_US < t)
            t = d->wait[i].due_us + REORDER_WAIT_US;
    return t;
}

/* --- the backend interface ------------------------------------------------------------ */

/* Take what the inner ring has (as far as the pool has room), then lend the due frames. */
static unsigned imp_rx_burst(struct nic *n, struct frame *out, unsigned max)
{
    struct nic_impair *w = (void *)n;
    struct nic *in = n->inner;
    struct dir *d = &w->rx;
    if (!d->on)
        return in->rx_burst(in, out, max);
    uint64_t now = *w->now_us;
    wait_expire(d, now);
    unsigned want = d->nfree / 2;  /* room for every frame and its duplicate */
    if (want == 0)
        d->st.pool_full++;
    if (want > max)
        want = max;
    if (want > PULL_MAX)
        want = PULL_MAX;
    if (want) {
        struct frame got[PULL_MAX];
        unsigned k = in->rx_burst(in, got, want);
        for (unsigned i = 0; i < k; i++)
            admit(d, now, got[i].data, got[i].len, got[i].wire_len, got[i].flags);
        if (k)
            in->rx_release(in, k);
    }
    unsigned k = 0;
    while (k < max && d->nheap && d->heap[0].due_us <= now) {
        struct held h = heap_pop(d);
        out[k++] = (struct frame){slot_data(d, h.slot), d->len[h.slot], d->wire_len[h.slot],
                                  d->flags[h.slot]};
        d->lent[(d->lent_head + d->nlent++) % d->nslots] = h.slot;
    }
    return k;
}

/* The stack is done with the oldest `count` frames it borrowed: their slots are free. */
static void imp_rx_release(struct nic *n, unsigned count)
{
    struct nic_impair *w = (void *)n;
    struct dir *d = &w->rx;
    if (!d->on) {
        n->inner->rx_release(n->inner, count);
        return;
    }
    for (unsigned i = 0; i < count && d->nlent; i++) {
        slot_give(d, d->lent[d->lent_head]);
        d->lent_head = (d->lent_head + 1) % d->nslots;
        d->nlent--;
    }
}

/* Held TX frames that are due go into the inner ring, as long as it has slots. */
static void tx_release_due(struct nic_impair *w)
{
    struct dir *d = &w->tx;
    struct nic *in = w->nic.inner;
    uint64_t now = *w->now_us;
    wait_expire(d, now);
    while (d->nheap && d->heap[0].due_us <= now) {
        uint8_t *f = in->tx_slot(in);
        if (!f)
            break;  /* the inner ring is full: the frame waits for the next flush */
        struct held h = heap_pop(d);
        memcpy(f, slot_data(d, h.slot), d->len[h.slot]);
        in->tx_commit(in, d->len[h.slot]);
        slot_give(d, h.slot);
    }
}

/* The staging buffer, while the pool can take the frame and a duplicate of it. */
static uint8_t *imp_tx_slot(struct nic *n)
{
    struct nic_impair *w = (void *)n;
    if (!w->tx.on)
        return n->inner->tx_slot(n->inner);
    if (w->tx.nfree < 2) {
        w->tx.st.pool_full++;
        return NULL;
    }
    return w->stage;
}

static void imp_tx_commit(struct nic *n, uint32_t len)
{
    struct nic_impair *w = (void *)n;
    if (!w->tx.on) {
        n->inner->tx_commit(n->inner, len);
        return;
    }
    admit(&w->tx, *w->now_us, w->stage, len, len, 0);
    tx_release_due(w);
}

static void imp_tx_flush(struct nic *n)
{
    struct nic_impair *w = (void *)n;
    if (w->tx.on)
        tx_release_due(w);
    n->inner->tx_flush(n->inner);
}

static int imp_fd(struct nic *n) { return n->inner->fd(n->inner); }

static uint64_t imp_rx_dropped(struct nic *n) { return n->inner->rx_dropped(n->inner); }

static uint64_t imp_next_due_us(struct nic *n)
{
    struct nic_impair *w = (void *)n;
    uint64_t t = n->inner->next_due_us ? n->inner->next_due_us(n->inner) : UINT64_MAX;
    uint64_t rx = w->rx.on ? dir_next_due(&w->rx) : UINT64_MAX;
    uint64_t tx = w->tx.on ? dir_next_due(&w->tx) : UINT64_MAX;
    if (rx < t)
        t = rx;
    return tx < t ? tx : t;
}

static void dir_free(struct dir *d)
{
    free(d->buf);
    free(d->len);
    free(d->wire_len);
    free(d->flags);
    free(d->free_slots);
    free(d->heap);
    free(d->wait);
    free(d->lent);
}

static void imp_destroy(struct nic *n)
{
    struct nic_impair *w = (void *)n;
    if (n->inner)
        n->inner->destroy(n->inner);
    dir_free(&w->rx);
    dir_free(&w->tx);
    free(w);
}

/* --- creation ------------------------------------------------------------------------- */

static int dir_check(const struct ssdk_impair *c, const char *name, uint32_t pool_frames,
                     char *err, unsigned long errlen)
{
    const double p[4] = {c->loss, c->duplicate, c->reorder, c->corrupt};
    static const char *const what[4] = {"loss", "duplicate", "reorder", "corrupt"};
    for (int i = 0; i < 4; i++)
        if (!(p[i] >= 0.0 && p[i] <= 1.0)) {  /* also refuses NaN */
            snprintf(err, errlen, "%s %s must be a probability between 0 and 1", name, what[i]);
            return -1;
        }
    if (c->delay_ms > DELAY_MAX_MS || c->jitter_ms > DELAY_MAX_MS) {
        snprintf(err, errlen, "%s delay and jitter must be at most %u ms", name, DELAY_MAX_MS);
        return -1;
    }
    if (!c->rate_bps && !c->queue_bytes)
        return 0;
    if (c->rate_bps < QUEUE_RATE_MIN_BPS || c->rate_bps > QUEUE_RATE_MAX_BPS) {
        snprintf(err, errlen, "%s rate must be %llu to %llu bits/s (a queue needs a rate)", name,
                 QUEUE_RATE_MIN_BPS, QUEUE_RATE_MAX_BPS);
        return -1;
    }
    if (c->queue_bytes < QUEUE_MIN_BYTES || c->queue_bytes > QUEUE_MAX_BYTES) {
        snprintf(err, errlen, "%s queue must be %u to %u bytes (a rate needs a queue)", name,
                 QUEUE_MIN_BYTES, QUEUE_MAX_BYTES);
        return -1;
    }
    /* A queue of full-size frames takes at most half the pool, leaving the rest to the
     * delay after it; small frames may fill the pool first, which then pushes back. */
    if (c->queue_bytes / QUEUE_FULL_FRAME + 1 > pool_frames / 2) {
        snprintf(err, errlen, "%s queue of %u bytes needs a pool of more than %u frames", name,
                 c->queue_bytes, pool_frames);
        return -1;
    }
    return 0;
}

/* Configure one direction; its pool is allocated only if something is configured. */
static int dir_init(struct dir *d, const struct ssdk_impair *c, uint64_t seed, uint64_t salt,
                    uint32_t nslots)
{
    memset(d, 0, sizeof(*d));
    if (!c)
        return 0;
    d->cfg = *c;
    d->on = c->loss > 0 || c->duplicate > 0 || c->reorder > 0 || c->corrupt > 0
         || c->delay_ms || c->jitter_ms || c->rate_bps;
    if (!d->on)
        return 0;
    d->link = (struct bottleneck){.rate_bps = c->rate_bps, .limit_bytes = c->queue_bytes};
    uint64_t x = seed ^ salt;
    for (int i = 0; i < 4; i++)
        d->rng[i] = splitmix64(&x);
    d->nslots = nslots;
    d->buf = malloc((size_t)nslots * NIC_FRAME_MAX);
    d->len = malloc(nslots * sizeof(uint32_t));
    d->wire_len = malloc(nslots * sizeof(uint32_t));
    d->flags = malloc(nslots * sizeof(uint32_t));
    d->free_slots = malloc(nslots * sizeof(uint32_t));
    d->heap = malloc(nslots * sizeof(struct held));
    d->wait = malloc(nslots * sizeof(struct waiting));
    d->lent = malloc(nslots * sizeof(uint32_t));
    if (!d->buf || !d->len || !d->wire_len || !d->flags || !d->free_slots || !d->heap
        || !d->wait || !d->lent)
        return -1;
    for (uint32_t i = 0; i < nslots; i++)
        d->free_slots[i] = nslots - 1 - i;  /* slot 0 is taken first */
    d->nfree = nslots;
    return 0;
}

struct nic *nic_impair_new(struct nic *inner, const struct ssdk_impair *rx,
                           const struct ssdk_impair *tx, uint64_t seed,
                           const uint64_t *now_us, uint32_t pool_frames, char *err,
                           unsigned long errlen)
{
    if ((rx && dir_check(rx, "rx", pool_frames, err, errlen))
        || (tx && dir_check(tx, "tx", pool_frames, err, errlen)))
        return NULL;
    if (pool_frames < 2 * PULL_MAX) {
        snprintf(err, errlen, "an impairment pool needs at least %u frames", 2 * PULL_MAX);
        return NULL;
    }
    struct nic_impair *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Distinct salts keep the two directions' streams apart for one seed. */
    if (dir_init(&w->rx, rx, seed, 0x7278000000000000ull, pool_frames)
        || dir_init(&w->tx, tx, seed, 0x7478000000000000ull, pool_frames)) {
        snprintf(err, errlen, "out of memory for an impairment pool of %u frames", pool_frames);
        imp_destroy(&w->nic);  /* inner is still NULL: the caller keeps it */
        return NULL;
    }
    w->now_us = now_us;
    w->nic = (struct nic){
        .name = "impair", .rx_burst = imp_rx_burst, .rx_release = imp_rx_release,
        .tx_slot = imp_tx_slot, .tx_commit = imp_tx_commit, .tx_flush = imp_tx_flush,
        .fd = imp_fd, .rx_dropped = imp_rx_dropped, .destroy = imp_destroy,
        .next_due_us = imp_next_due_us, .inner = inner, .has_mac = inner->has_mac,
    };
    memcpy(w->nic.mac, inner->mac, 6);
    return &w->nic;
}

static void dir_stats(const struct dir *d, struct ssdk_impair_stats *out)
{
    if (!out)
        return;
    *out = d->st;
    out->held = d->nheap + d->nwait;
    out->queue_wait_us = d->link.wait_ns / 1000u;
}

int nic_impair_stats(struct nic *n, struct ssdk_impair_stats *rx, struct ssdk_impair_stats *tx)
{
    if (!n || n->rx_burst != imp_rx_burst) {
        if (rx)
            memset(rx, 0, sizeof(*rx));
        if (tx)
            memset(tx, 0, sizeof(*tx));
        return -1;
    }
    struct nic_impair *w = (void *)n;
    dir_stats(&w->rx, rx);
    dir_stats(&w->tx, tx);
    return 0;
}

int nic_is_impair(const struct nic *n) { return n && n->rx_burst == imp_rx_burst; }
