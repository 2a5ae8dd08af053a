/*
 * tests/tls/bench_seal.c - what sealing one record costs (docs/tls.md, "Cost per record"):
 * tls_seal for each cipher at a segment's plaintext (1426 bytes: a 1448-byte segment less
 * TLS 1.3's 22) and at a full record (2^14), for records of one connection one after
 * another, of 64 connections in turn (each key keeps its handle in the per-thread cache)
 * and of 1024 in turn (more keys than the cache's slots: nearly every record makes its
 * handle again).
 *
 *   cc -O2 -Issdk/csrc tests/tls/bench_seal.c ssdk/csrc/tls/tls_record.c -lgnutls \
 *       -o /tmp/bench_seal && /tmp/bench_seal
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tls/tls.h"
#include "tls/tls_record.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Nanoseconds per record, the records of `conns` connections in turn (keys that differ
 * as random keys do: in every byte). */
static double per_record(uint8_t cipher, size_t len, unsigned conns)
{
    static uint8_t plain[16384], out[16384 + 64];
    static struct tls_keys k[1024];
    memset(k, 0, sizeof k);
    uint32_t x = 2463534242u;
    for (unsigned i = 0; i < conns; i++) {
        k[i].cipher = cipher;
        k[i].minor = 4;
        for (unsigned b = 0; b < sizeof k[i].key; b++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;  /* xorshift32 */
            k[i].key[b] = (uint8_t)x;
        }
    }
    int n = len > 4096 ? 20000 : 100000;
    double t = now();
    for (int i = 0; i < n; i++)
        if (tls_seal_buf(&k[(unsigned)i % conns], (uint64_t)i, 23, plain, len, out, sizeof out)
            < 0)
            return -1;
    return (now() - t) / n * 1e9;
}

int main(void)
{
    static const char *const names[] = { "", "AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305" };
    printf("%-18s %8s %10s %10s %10s\n", "cipher", "bytes", "1 (ns)", "64 (ns)", "1024 (ns)");
    for (uint8_t c = 1; c <= 3; c++)
        for (size_t len = 1426; len <= 16384; len = len == 1426 ? 16384 : 16385)
            printf("%-18s %8zu %10.0f %10.0f %10.0f\n", names[c], len, per_record(c, len, 1),
                   per_record(c, len, 64), per_record(c, len, 1024));
    tls_aead_release();
    return 0;
}
