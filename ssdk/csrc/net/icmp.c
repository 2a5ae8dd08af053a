/*
 * icmp.c - echo replies (RFC 792), so that the address answers a ping.
 *
 * ip_input -> icmp_input -> ip_output_hdr
 *
 * Every other ICMP message is counted and dropped.
 */
#include <arpa/inet.h>
#include <string.h>
#include "base/csum.h"
#include "net/net_priv.h"

void icmp_input(struct net *e, const struct ip_rx *rx, const uint8_t *p, uint32_t len)
{
    const struct icmp_hdr *ic = (const void *)p;
    if (len < sizeof(*ic) || ic->type != 8 || ic->code != 0
        || !csum_ok(csum_partial(p, len, 0)) || ETH_HLEN_ + 20 + len > NIC_FRAME_MAX) {
        e->st->drop_icmp++;
        return;
    }
    uint8_t *out = e->nic->tx_slot(e->nic);
    if (!out) {
        e->st->tx_ring_full++;
        return;
    }
    ip_output_hdr(e, out, rx->eh->src, rx->local, &rx->src, IPPROTO_ICMP_, (uint16_t)len);
    uint8_t *r = out + ETH_HLEN_ + 20;
    memcpy(r, p, len);
    struct icmp_hdr *rc = (void *)r;
    rc->type = 0;
    rc->csum = 0;
    rc->csum = htons(csum_finish(csum_partial(r, len, 0)));
    uint32_t n = ETH_HLEN_ + 20 + len;
    if (n < 60) {
        memset(out + n, 0, 60 - n);
        n = 60;
    }
    e->nic->tx_commit(e->nic, n);
    e->st->tx_frames++;
    e->st->tx_bytes += n;
    e->st->icmp_echo_replies++;
}
