/*
 * tests/tls/bench_seal.c - what sealing one record costs (docs/tls.md, "Cost per record"):
 * tls_seal for each cipher at a segment's plaintext (1426 bytes: a 1448-byte segment less
 * TLS 1.3's 22) and at a full record (2^14), with the per-worker handle kept (consecutive
 * records of one connection) and made again for each record (two connections'
 * records interleaved).
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

/* Nanoseconds per record; two key sets alternate when interleave is set. */
static double per_record(uint8_t cipher, size_t len, int interleave)
{
    static uint8_t plain[16384], out[16384 + 64];
    struct tls_keys k[2];
    memset(k, 0, sizeof k);
    for (int i = 0; i < 2; i++) {
        k[i].cipher = cipher;
        k[i].minor = 4;
        memset(k[i].key, i + 1, sizeof k[i].key);
    }
    int n = len > 4096 ? 20000 : 100000;
    double t = now();
    for (int i = 0; i < n; i++)
        if (tls_seal_buf(&k[interleave ? i & 1 : 0], (uint64_t)i, 23, plain, len, out, sizeof out)
            < 0)
            return -1;
    return (now() - t) / n * 1e9;
}

int main(void)
{
    static const char *const names[] = { "", "AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305" };
    printf("%-18s %8s %14s %14s\n", "cipher", "bytes", "kept (ns)", "remade (ns)");
    for (uint8_t c = 1; c <= 3; c++)
        for (size_t len = 1426; len <= 16384; len = len == 1426 ? 16384 : 16385)
            printf("%-18s %8zu %14.0f %14.0f\n", names[c], len, per_record(c, len, 0),
                   per_record(c, len, 1));
    tls_aead_release();
    return 0;
}
