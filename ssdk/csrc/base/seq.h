/*
 * seq.h - numbers every layer uses: the "no index" sentinel, TCP sequence arithmetic
 * (RFC 9293 3.4) and a 64-bit mixing function.
 */
#ifndef SSDK_SEQ_H
#define SSDK_SEQ_H
#include <stdint.h>

/* No index: an empty list, a free slot, a response the table does not have. */
#define NONE32 0xffffffffu

/* Sequence-number comparisons modulo 2^32 (RFC 9293 section 3.4). */
static inline int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline int seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/* A 64-bit finalizer (splitmix64's): every input bit moves every output bit. Keyed with
 * the engine's secret it spreads the connection hash and makes ISNs and SYN cookies
 * unguessable from outside. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

#endif
