/*
 * bridge.c - two interfaces joined through the impairment layer, so that any server
 * (nginx on the kernel's stack, or ssdk) can be measured behind the same lossy path.
 *
 * Python (ssdk impair) -> ssdk_bridge_new -> nic_af_packet_open(NIC_AFP_PROMISC) x 2
 *                                         -> nic_impair_new x 2
 *                      -> ssdk_bridge_run -> forward(a -> b), forward(b -> a)
 *                                         -> tx_flush x 2 -> ppoll() when idle
 *
 * Frames cross unchanged except for what the impairment does to them: the bridge has
 * no address, answers nothing and learns nothing. Each direction is impaired once, on
 * its receiving side (a's RX wrapper carries a -> b, b's carries b -> a); the TX side of
 * both wrappers is left alone, so no frame meets two sets of dice. A frame for which the
 * outgoing ring has no slot, even after a flush, is dropped and counted (tx_full), as a
 * switch with a full queue would.
 */
#define _GNU_SOURCE  /* ppoll */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/clock.h"
#include "nic/nic.h"
#include "ssdk.h"

#define BRIDGE_RING_FRAMES 4096u
#define BRIDGE_POOL_FRAMES 4096u
#define BRIDGE_BURST 64u

struct ssdk_bridge {
    struct nic *a, *b;        /* impairment wrappers, each around an AF_PACKET backend */
    uint64_t now_us;          /* the wrappers' clock: CLOCK_MONOTONIC, read every pass */
    struct ssdk_bridge_stats ab, ba;
};

/* One burst from `from` copied into `to`'s ring; returns the frames received. */
static unsigned forward(struct nic *from, struct nic *to, struct ssdk_bridge_stats *st)
{
    struct frame f[BRIDGE_BURST];
    unsigned n = from->rx_burst(from, f, BRIDGE_BURST);
    for (unsigned i = 0; i < n; i++) {
        if (f[i].len < f[i].wire_len) {
            st->truncated++;
            continue;
        }
        uint8_t *slot = to->tx_slot(to);
        if (!slot) {
            to->tx_flush(to);
            slot = to->tx_slot(to);
        }
        if (!slot) {
            st->tx_full++;
            continue;
        }
        memcpy(slot, f[i].data, f[i].len);
        to->tx_commit(to, f[i].len);
        st->forwarded++;
        st->bytes += f[i].len;
    }
    if (n)
        from->rx_release(from, n);
    return n;
}

void ssdk_bridge_free(struct ssdk_bridge *b)
{
    if (!b)
        return;
    if (b->a)
        b->a->destroy(b->a);
    if (b->b)
        b->b->destroy(b->b);
    free(b);
}

/* Open one side: a promiscuous AF_PACKET socket, wrapped; NULL with err set. */
static struct nic *side(struct ssdk_bridge *b, const char *ifname, const struct ssdk_impair *rx,
                        uint64_t seed, char *err, size_t errlen)
{
    struct nic *raw = nic_af_packet_open(ifname, BRIDGE_RING_FRAMES, NIC_AFP_PROMISC, 0, err, errlen);
    if (!raw)
        return NULL;
    struct nic *w = nic_impair_new(raw, rx, NULL, seed, &b->now_us, BRIDGE_POOL_FRAMES, err,
                                   errlen);
    if (!w)
        raw->destroy(raw);
    return w;
}

int ssdk_bridge_new(const char *ifa, const char *ifb, const struct ssdk_impair *ab,
                    const struct ssdk_impair *ba, uint64_t seed, struct ssdk_bridge **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    if (strcmp(ifa, ifb) == 0) {
        snprintf(err, errlen, "the two sides of a bridge must be different interfaces");
        return -1;
    }
    struct ssdk_bridge *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->now_us = mono_us();
    /* b's stream is seeded apart from a's, so one seed does not make the two directions
     * lose the same frame numbers. */
    uint64_t seed_b = seed * 0x9e3779b97f4a7c15ull + 0x62;
    b->a = side(b, ifa, ab, seed, err, errlen);
    if (b->a)
        b->b = side(b, ifb, ba, seed_b, err, errlen);
    if (!b->a || !b->b) {
        ssdk_bridge_free(b);
        return -1;
    }
    *out = b;
    return 0;
}

/* How long the bridge may sleep: no further than `end`, nor than a held frame's due
 * time, to the microsecond: poll()'s whole milliseconds, rounded up, held the frames of a
 * 1 ms delay line 1.1 to 2.4 ms. */
static struct timespec idle_wait(const struct ssdk_bridge *b, uint64_t end)
{
    uint64_t due = end;
    uint64_t da = b->a->next_due_us(b->a), db = b->b->next_due_us(b->b);
    if (da < due)
        due = da;
    if (db < due)
        due = db;
    return us_timespec(due <= b->now_us ? 0 : due - b->now_us);
}

int ssdk_bridge_run(struct ssdk_bridge *b, uint32_t ms)
{
    b->now_us = mono_us();
    uint64_t end = b->now_us + (uint64_t)ms * 1000u;
    int total = 0;
    while (b->now_us < end) {
        unsigned n = forward(b->a, b->b, &b->ab) + forward(b->b, b->a, &b->ba);
        b->a->tx_flush(b->a);
        b->b->tx_flush(b->b);
        total += (int)n;
        b->now_us = mono_us();
        if (n)
            continue;
        struct pollfd p[2] = {{.fd = b->a->fd(b->a), .events = POLLIN},
                              {.fd = b->b->fd(b->b), .events = POLLIN}};
        struct timespec ts = idle_wait(b, end);
        ppoll(p, 2, &ts, NULL);
        b->now_us = mono_us();
    }
    return total;
}

void ssdk_bridge_stats(struct ssdk_bridge *b, struct ssdk_bridge_stats *ab,
                       struct ssdk_bridge_stats *ba)
{
    b->ab.rx_ring = b->a->rx_dropped(b->a);
    b->ba.rx_ring = b->b->rx_dropped(b->b);
    nic_impair_stats(b->a, &b->ab.impair, NULL);
    nic_impair_stats(b->b, &b->ba.impair, NULL);
    *ab = b->ab;
    *ba = b->ba;
}
