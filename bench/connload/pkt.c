/*
 * pkt.c - the frames: TCP segments from connection idx to the server, ARP, and the
 * parse of what comes back into (connection index, seq, ack, flags, payload).
 *
 * Connection idx has source address src_net + 1 + idx % naddrs and source port
 * port_lo + idx / naddrs: consecutive connections spread over all the addresses (the
 * server hashes on address and port), and a reply's destination gives the index back
 * with two subtractions, so no lookup table is needed for a million connections.
 *
 * Checksums are computed in full on what we send. On what we receive, the TCP checksum
 * is not checked: a veth peer with its offloads on hands over frames whose checksum is
 * left partial, and the body's own checksum (http.c) covers what matters here.
 */
#include "connload.h"
#include <arpa/inet.h>
#include <string.h>

#define ETH_HLEN 14
#define IP_HLEN 20
#define TCP_HLEN 20
#define SYN_OPT_LEN 4
#define OUR_MSS 1460
#define OUR_WINDOW 65535  /* no window scaling: responses of up to 64 KiB in one window */

static uint32_t sum16(const void *p, uint32_t n, uint32_t s)
{
    const uint8_t *b = p;
    for (; n > 1; n -= 2, b += 2)
        s += (uint32_t)b[0] << 8 | b[1];
    if (n)
        s += (uint32_t)b[0] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void eth(const struct cfg *c, uint8_t *out, uint16_t type, const uint8_t *dst)
{
    memcpy(out, dst, 6);
    memcpy(out + 6, c->smac, 6);
    put16(out + 12, type);
}

/* One segment of connection idx; data may be NULL with len 0. A SYN carries the MSS
 * option, nothing else. Returns the frame's length. */
uint32_t pkt_tcp(const struct cfg *c, uint8_t *out, uint32_t idx, uint32_t seq, uint32_t ack,
                 uint8_t flags, const void *data, uint32_t len)
{
    uint32_t saddr = c->src_net + 1 + idx % c->naddrs;
    uint16_t sport = (uint16_t)(c->port_lo + idx / c->naddrs);
    uint32_t olen = (flags & TH_SYN) ? SYN_OPT_LEN : 0, tlen = TCP_HLEN + olen + len;
    eth(c, out, 0x0800, c->dmac);
    uint8_t *ip = out + ETH_HLEN, *th = ip + IP_HLEN;
    memset(ip, 0, IP_HLEN + TCP_HLEN);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(IP_HLEN + tlen));
    put16(ip + 6, 0x4000);  /* DF */
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, saddr);
    put32(ip + 16, c->dst_ip);
    put16(ip + 10, fold(sum16(ip, IP_HLEN, 0)));
    put16(th, sport);
    put16(th + 2, c->dport);
    put32(th + 4, seq);
    put32(th + 8, (flags & TH_ACK) ? ack : 0);
    th[12] = (uint8_t)(((TCP_HLEN + olen) / 4) << 4);
    th[13] = flags;
    put16(th + 14, OUR_WINDOW);
    if (olen) {
        th[20] = 2;  /* MSS */
        th[21] = 4;
        put16(th + 22, OUR_MSS);
    }
    if (len)
        memcpy(th + TCP_HLEN + olen, data, len);
    uint32_t s = sum16(ip + 12, 8, 6 + tlen);  /* the pseudo-header: addresses, proto, length */
    put16(th + 16, fold(sum16(th, tlen, s)));
    return ETH_HLEN + IP_HLEN + tlen;
}

/* An ARP request (op 1, to the broadcast address) or reply (op 2, to tha). */
uint32_t pkt_arp(const struct cfg *c, uint8_t *out, int op, const uint8_t tha[6],
                 uint32_t spa, uint32_t tpa)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    eth(c, out, 0x0806, op == 1 ? bcast : tha);
    uint8_t *a = out + ETH_HLEN;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, (uint16_t)op);
    memcpy(a + 8, c->smac, 6);
    put32(a + 14, spa);
    if (op == 1)
        memset(a + 18, 0, 6);
    else
        memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    memset(a + 28, 0, 60 - ETH_HLEN - 28);  /* the Ethernet minimum */
    return 60;
}

/* 1 if the frame is ARP over Ethernet/IPv4, with its fields filled in. */
int pkt_arp_parse(const uint8_t *f, uint32_t len, int *op, uint8_t sha[6], uint32_t *spa,
                  uint32_t *tpa)
{
    if (len < ETH_HLEN + 28 || get16(f + 12) != 0x0806)
        return 0;
    const uint8_t *a = f + ETH_HLEN;
    if (get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4)
        return 0;
    *op = get16(a + 6);
    memcpy(sha, a + 8, 6);
    *spa = get32(a + 14);
    *tpa = get32(a + 24);
    return 1;
}

/* 1 if the frame is a TCP segment from the server to one of our connections. */
int pkt_parse(const struct cfg *c, const uint8_t *f, uint32_t len, struct seg *s)
{
    if (len < ETH_HLEN + IP_HLEN + TCP_HLEN || get16(f + 12) != 0x0800)
        return 0;
    const uint8_t *ip = f + ETH_HLEN;
    uint32_t ihl = (uint32_t)(ip[0] & 15) * 4, tot = get16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < IP_HLEN || ip[9] != 6 || get32(ip + 12) != c->dst_ip)
        return 0;
    /* A super-frame over 64 KiB says 0; a short frame on the wire is padded. */
    if (tot == 0 || tot > len - ETH_HLEN)
        tot = len - ETH_HLEN;
    const uint8_t *th = ip + ihl;
    uint32_t thl = (uint32_t)(th[12] >> 4) * 4;
    if (tot < ihl + TCP_HLEN || thl < TCP_HLEN || tot < ihl + thl || get16(th) != c->dport)
        return 0;
    uint32_t a = get32(ip + 16) - c->src_net - 1, port = get16(th + 2) - (uint32_t)c->port_lo;
    if (a >= c->naddrs || port >= c->nports)
        return 0;
    uint64_t idx = (uint64_t)port * c->naddrs + a;
    if (idx >= c->conns)
        return 0;
    s->idx = (uint32_t)idx;
    s->seq = get32(th + 4);
    s->ack = get32(th + 8);
    s->flags = th[13];
    s->data = th + thl;
    s->len = tot - ihl - thl;
    return 1;
}
