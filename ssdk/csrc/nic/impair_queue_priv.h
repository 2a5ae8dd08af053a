/*
 * impair_queue_priv.h - the impairment layer's bottleneck (impair_queue.c), for
 * nic_impair.c alone.
 */
#ifndef SSDK_IMPAIR_QUEUE_PRIV_H
#define SSDK_IMPAIR_QUEUE_PRIV_H

#include <stdint.h>

struct ssdk_impair_stats;

#define QUEUE_RATE_MIN_BPS 1000ull            /* 1 kbit/s */
#define QUEUE_RATE_MAX_BPS 100000000000ull    /* 100 Gbit/s */
#define QUEUE_MIN_BYTES 1514u                 /* one full Ethernet frame (no FCS) */
#define QUEUE_MAX_BYTES 3000000u
#define QUEUE_FULL_FRAME 1514u                /* for sizing the pool against the queue */

struct bottleneck {
    uint64_t rate_bps;      /* 0: no bottleneck */
    uint64_t limit_bytes;
    uint64_t free_ns;       /* when the link will have sent everything accepted so far */
    uint64_t wait_ns;       /* summed over accepted frames: time queued before sending */
};

/* A frame of wire_len bytes arrives at now_us: the time (in microseconds, rounded up)
 * its last bit leaves the link, or UINT64_MAX if the queue has no room for it. Counts
 * in st's queued, queue_drop and queue_peak. */
uint64_t bottleneck_enter(struct bottleneck *b, uint64_t now_us, uint32_t wire_len,
                          struct ssdk_impair_stats *st);

#endif
