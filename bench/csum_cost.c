/*
 * csum_cost.c - what summing a segment's payload costs next to copying it: ns per
 * 1448-byte segment for memcpy alone and for memcpy then csum_partial, as
 * resp_payload_any does for a segment without a precomputed sum (docs/performance.md,
 * AF_XDP and TX checksum metadata: the work a TX checksum offload would spare).
 *
 *   gcc -O2 -std=gnu11 -I ssdk/csrc -o /tmp/csum_cost bench/csum_cost.c && /tmp/csum_cost
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/csum.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(void) {
    static uint8_t src[1 << 16], dst[2048];
    for (size_t i = 0; i < sizeof(src); i++) src[i] = (uint8_t)(i * 31);
    enum { N = 2000000, L = 1448 };
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int i = 0; i < N; i++) { memcpy(dst, src + (i & 31) * L, L); sink += dst[i & 1023]; }
        double t1 = now();
        for (int i = 0; i < N; i++) { memcpy(dst, src + (i & 31) * L, L); sink += csum_partial(dst, L, 0); }
        double t2 = now();
        printf("copy %.1f ns/seg, copy+sum %.1f ns/seg, sum adds %.1f ns (%.2f ns/byte)\n", (t1 - t0) / N, (t2 - t1) / N, (t2 - t1 - (t1 - t0)) / N, (t2 - t1 - (t1 - t0)) / N / L);
    }
    return (int)(sink & 0);
}
