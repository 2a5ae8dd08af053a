/*
 * impair_queue.c - the impairment layer's bottleneck: a link of a given rate behind a
 * drop-tail FIFO of a given size in bytes, the shape of a WAN's narrowest hop.
 *
 * nic_impair.c admit -> bottleneck_enter -> the time the frame has left the link
 *                                           (then delay and jitter are added to it)
 *
 * The queue is not kept as a list: frames leave it in arrival order, each taking
 * wire_len * 8 / rate on the link, so the one number free_ns (when the link will have
 * sent all it has accepted) says everything. The bytes waiting at time t are the
 * bytes the link has yet to send, (free_ns - t) * rate / 8, the rest of the frame on
 * the wire included; an arrival that would take them past the limit is dropped. The
 * frame itself stays in nic_impair.c's pool and heap, due when it has left the link
 * plus its delay, so next_due_us and the pool's push-back cover queued frames as they
 * cover delayed ones, and the bottleneck draws nothing from the PRNG (a spec without a
 * rate decides every frame as it did before there was a bottleneck).
 *
 * Bytes are the frame as the backend carries it (Ethernet header to the end of the
 * payload or padding); preamble, inter-frame gap and FCS are not counted, so the rate
 * is the rate of frames, slightly above what a real Ethernet link of that speed
 * carries. Time is kept in nanoseconds so that serialization times that are not whole
 * microseconds do not add up to drift.
 */
#include <stdint.h>
#include "ssdk.h"
#include "nic/impair_queue_priv.h"

#define NS_PER_S 1000000000ull

uint64_t bottleneck_enter(struct bottleneck *b, uint64_t now_us, uint32_t wire_len,
                          struct ssdk_impair_stats *st)
{
    uint64_t now_ns = now_us * 1000u;
    uint64_t backlog_ns = b->free_ns > now_ns ? b->free_ns - now_ns : 0;
    /* Compared in bit-nanoseconds, exactly: backlog_ns * rate / 8e9 bytes are waiting.
     * Both sides stay below 2^55: the limit is at most QUEUE_MAX_BYTES and backlog_ns
     * at most the time the rate needs for the limit. */
    uint64_t have = backlog_ns * b->rate_bps + (uint64_t)wire_len * 8u * NS_PER_S;
    if (have > b->limit_bytes * 8u * NS_PER_S) {
        st->queue_drop++;
        return UINT64_MAX;
    }
    uint64_t bytes = have / (8u * NS_PER_S);
    if (bytes > st->queue_peak)
        st->queue_peak = bytes;
    uint64_t start = backlog_ns ? b->free_ns : now_ns;
    b->wait_ns += start - now_ns;
    b->free_ns = start + ((uint64_t)wire_len * 8u * NS_PER_S + b->rate_bps - 1) / b->rate_bps;
    st->queued++;
    return (b->free_ns + 999u) / 1000u;
}
