/*
 * xsk_txmd_probe.c - does the kernel honour AF_XDP TX checksum metadata on an interface?
 * (docs/performance.md, "AF_XDP and TX checksum metadata"; run by xsk_txmd_probe.sh)
 *
 * ssdk's AF_XDP backend cannot ask for the metadata area yet: libxdp 1.3.1, the version
 * it builds against, registers the UMEM without tx_metadata_len (xsk_umem__create_opts
 * came in libxdp 1.5.0), and the uapi headers of linux-libc-dev 6.1 lack the fields. So
 * this probe registers its own UMEM with the raw socket options and the layout of
 * include/uapi/linux/if_xdp.h (Linux 6.11 and later need XDP_UMEM_TX_METADATA_LEN).
 * It is a transmit-only socket: no XDP program is needed to send.
 *
 * usage: xsk_txmd_probe IFNAME DSTMAC SRCMAC MODE COUNT
 *   MODE meta    XDP_TX_METADATA with XDP_TXMD_FLAGS_CHECKSUM, the TCP checksum field
 *                holding the folded pseudo-header sum (what CHECKSUM_PARTIAL wants)
 *        badmeta the same request with a wrong value in the field (0x1234): shows
 *                whether anyone on the way verifies or completes the sum
 *        nometa  no request, the field holding the pseudo-header sum only
 *        full    no request, the checksum computed here
 * Sends COUNT TCP ACK segments of 1400 payload bytes, 198.18.0.1:80 -> 198.18.0.2:9 (a
 * closed port: the peer answers each valid one with a reset, TcpOutRsts, and counts each
 * invalid one in TcpInCsumErrors). Prints the socket's tx_invalid_descs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
struct umem_reg { uint64_t addr, len; uint32_t chunk_size, headroom, flags, tx_metadata_len; };
#define UMEM_TX_METADATA_LEN (1u << 2)
#define TX_METADATA (1u << 1)
#define TXMD_CSUM (1ull << 1)
struct txmd { uint64_t flags; uint16_t csum_start, csum_offset; uint32_t pad; uint64_t launch; };
#define FS 2048u
#define NF 64u
#define MDLEN 24u
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s) {
    for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1) s += (uint32_t)p[n - 1] << 8;
    return s;
}
static uint16_t fold(uint32_t s) { while (s >> 16) s = (s & 0xffff) + (s >> 16); return (uint16_t)s; }
static void mac(const char *s, uint8_t *m) { sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", m, m+1, m+2, m+3, m+4, m+5); }
int main(int argc, char **argv) {
    if (argc != 6) return 2;
    const char *mode = argv[4];
    int count = atoi(argv[5]), meta = !strcmp(mode, "meta") || !strcmp(mode, "badmeta");
    int fd = socket(AF_XDP, SOCK_RAW, 0);
    if (fd < 0) { perror("socket"); return 1; }
    uint8_t *area = mmap(NULL, NF * FS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct umem_reg mr = { (uintptr_t)area, NF * FS, FS, 0, UMEM_TX_METADATA_LEN, MDLEN };
    if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr))) { perror("XDP_UMEM_REG with tx_metadata_len"); return 1; }
    int n = NF;
    if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof(n)) || setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof(n))
        || setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof(n))) { perror("rings"); return 1; }
    struct xdp_mmap_offsets off; socklen_t ol = sizeof(off);
    if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol)) { perror("offsets"); return 1; }
    uint8_t *tx = mmap(NULL, off.tx.desc + NF * sizeof(struct xdp_desc), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, XDP_PGOFF_TX_RING);
    uint8_t *cr = mmap(NULL, off.cr.desc + NF * 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, XDP_UMEM_PGOFF_COMPLETION_RING);
    if (tx == MAP_FAILED || cr == MAP_FAILED) { perror("mmap"); return 1; }
    struct sockaddr_xdp sx = { .sxdp_family = AF_XDP, .sxdp_ifindex = if_nametoindex(argv[1]), .sxdp_queue_id = 0, .sxdp_flags = XDP_COPY };
    if (bind(fd, (void *)&sx, sizeof(sx))) { perror("bind"); return 1; }
    volatile uint32_t *prod = (void *)(tx + off.tx.producer), *ccons = (void *)(cr + off.cr.consumer), *cprod = (void *)(cr + off.cr.producer);
    struct xdp_desc *descs = (void *)(tx + off.tx.desc);
    uint8_t dst[6], src[6]; mac(argv[2], dst); mac(argv[3], src);
    uint32_t plen = 1400, l4 = 20 + plen, flen = 14 + 20 + l4;
    for (int k = 0; k < count; k++) {
        uint32_t i = k % NF;
        uint8_t *f = area + i * FS + MDLEN;  /* data after the metadata area */
        memcpy(f, dst, 6); memcpy(f + 6, src, 6); f[12] = 8; f[13] = 0;
        uint8_t *ip = f + 14; memset(ip, 0, 20);
        ip[0] = 0x45; ip[2] = (20 + l4) >> 8; ip[3] = (20 + l4) & 255; ip[8] = 64; ip[9] = 6;
        uint8_t sa[4] = {198, 18, 0, 1}, da[4] = {198, 18, 0, 2}; memcpy(ip + 12, sa, 4); memcpy(ip + 16, da, 4);
        uint16_t ic = (uint16_t)~fold(sum16(ip, 20, 0)); ip[10] = ic >> 8; ip[11] = ic & 255;
        uint8_t *th = ip + 20; memset(th, 0, 20);
        th[0] = 0; th[1] = 80; th[2] = 0; th[3] = 9; th[7] = (uint8_t)k; th[11] = 1; th[12] = 5 << 4; th[13] = 0x10; th[14] = 0xff;
        for (uint32_t j = 0; j < plen; j++) th[20 + j] = (uint8_t)(j * 7 + k);
        uint32_t ps = sum16(sa, 4, 0); ps = sum16(da, 4, ps); ps += 6 + l4;
        uint16_t field;
        if (!strcmp(mode, "full")) field = (uint16_t)~fold(sum16(th, l4, ps));
        else if (!strcmp(mode, "badmeta")) field = 0x1234;
        else field = fold(ps);
        th[16] = field >> 8; th[17] = field & 255;
        struct txmd *md = (void *)(f - MDLEN);
        memset(md, 0, sizeof(*md));
        md->flags = TXMD_CSUM; md->csum_start = 34; md->csum_offset = 16;
        struct xdp_desc *d = &descs[*prod % NF];
        d->addr = (uint64_t)i * FS + MDLEN; d->len = flen; d->options = meta ? TX_METADATA : 0;
        __atomic_store_n(prod, *prod + 1, __ATOMIC_RELEASE);
        sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
        for (int w = 0; w < 1000 && __atomic_load_n(cprod, __ATOMIC_ACQUIRE) == *ccons; w++) usleep(100);
        __atomic_store_n(ccons, __atomic_load_n(cprod, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
    }
    struct xdp_statistics st; socklen_t sl = sizeof(st); memset(&st, 0, sizeof(st));
    getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &sl);
    printf("mode=%s sent=%d tx_invalid_descs=%llu completed=%u\n", mode, count, (unsigned long long)st.tx_invalid_descs, *cprod);
    return 0;
}
