/*
 * gso.c - cutting a TCP super-frame into segments, as a device with TSO would have.
 *
 * nic_af_packet.c -> gso_split -> segments lent to the stack like any received frame
 * Python (tests)  -> ssdk_gso_split / ssdk_tcp_csum_partial
 *
 * Where the rules come from: the kernel's tcp_gso_segment and inet_gso_segment (what a
 * device with TSO puts on the wire for one super-frame), RFC 9293 3.7.1 (a segment
 * carries at most an MSS), RFC 791 (total length, identification, header checksum),
 * RFC 8200 3 (IPv6: the payload length only),
 * RFC 3168 6.1.2 (CWR is set on the first segment sent after a window reduction only).
 */
#include <string.h>
#include "nic/gso.h"
#include "ssdk.h"

#define TH_CWR_ 0x80
#define IP_OFFMASK_ 0x1fff

/* Header lengths of a whole, unfragmented Ethernet/IPv4/TCP frame, or Ethernet/IPv6/TCP
 * with TCP right after the IPv6 header (as the kernel's GSO builds them); 0 if it is not
 * one. ip_len: the IP header and all it carries (IPv4's total length, IPv6's 40 plus its
 * payload length). */
static uint32_t tcp_frame_layout(const uint8_t *f, uint32_t len, uint32_t *ihl,
                                 uint32_t *thl, uint32_t *ip_len)
{
    if (len < ETH_HLEN_ + 40)
        return 0;
    const struct eth_hdr *eh = (const void *)f;
    const struct ip_hdr *ih = (const void *)(f + ETH_HLEN_);
    const struct ip6_hdr *h6 = (const void *)(f + ETH_HLEN_);
    if (ntohs(eh->type) == ETHTYPE_IP6) {
        if (len < ETH_HLEN_ + IP6_HLEN + 20 || (ntohl(h6->vtc_flow) >> 28) != 6
            || h6->next != IPPROTO_TCP_)
            return 0;
        *ihl = IP6_HLEN;
        *ip_len = IP6_HLEN + ntohs(h6->plen);
    } else {
        if (ntohs(eh->type) != ETHTYPE_IP || (ih->ver_ihl >> 4) != 4 ||
            ih->proto != IPPROTO_TCP_ || (ntohs(ih->frag) & (IP_MF | IP_OFFMASK_)))
            return 0;
        *ihl = (uint32_t)(ih->ver_ihl & 15) * 4;
        *ip_len = ntohs(ih->len);
    }
    if (*ihl < 20 || *ip_len > len - ETH_HLEN_ || *ihl + 20 > *ip_len)
        return 0;
    const struct tcp_hdr *th = (const void *)(f + ETH_HLEN_ + *ihl);
    *thl = (uint32_t)(th->off >> 4) * 4;
    if (*thl < 20 || *ihl + *thl > *ip_len)
        return 0;
    return ETH_HLEN_ + *ihl + *thl;
}

static int is_ip6(const uint8_t *iph) { return (iph[0] >> 4) == 6; }

/* The TCP pseudo-header's words, IPv4's or IPv6's, for a TCP length of len. */
static uint64_t pseudo_sum(const uint8_t *iph, uint32_t len)
{
    const struct ip_hdr *ih = (const void *)iph;
    const struct ip6_hdr *h6 = (const void *)iph;
    return is_ip6(iph) ? csum_pseudo6(h6->src, h6->dst, IPPROTO_TCP_, len)
                       : csum_pseudo(ih->src, ih->dst, IPPROTO_TCP_, (uint16_t)len);
}

/* The sum that verifies a TCP segment: pseudo-header, header and payload. */
static uint64_t tcp_sum(const uint8_t *iph, const uint8_t *tcp, uint32_t len)
{
    return csum_partial(tcp, len, pseudo_sum(iph, len));
}

/* A piece's IP header: its length, and for IPv4 the id plus the piece's index and a new
 * header checksum (IPv6 has neither: RFC 8200 3). */
static void piece_ip(uint8_t *iph, uint32_t ihl, uint32_t l4, uint16_t id)
{
    if (is_ip6(iph)) {
        ((struct ip6_hdr *)(void *)iph)->plen = htons((uint16_t)l4);
        return;
    }
    struct ip_hdr *oih = (void *)iph;
    oih->len = htons((uint16_t)(ihl + l4));
    oih->id = htons(id);
    oih->csum = 0;
    oih->csum = htons(csum_finish(csum_partial(oih, ihl, 0)));
}

int gso_split(const uint8_t *f, uint32_t len, uint32_t seg_payload, int vouched,
              uint8_t *out, uint32_t stride, uint32_t max_segs, uint32_t *lens)
{
    uint32_t ihl, thl, ip_len;
    uint32_t hdr = tcp_frame_layout(f, len, &ihl, &thl, &ip_len);
    if (!hdr || hdr >= stride || !max_segs || ip_len - ihl > 0xffff)
        return -1;
    const uint8_t *iph = f + ETH_HLEN_;
    const struct tcp_hdr *th = (const void *)(f + ETH_HLEN_ + ihl);
    uint32_t payload = ip_len - ihl - thl;
    if (!seg_payload || seg_payload > stride - hdr)
        seg_payload = stride - hdr;
    if (payload > seg_payload * max_segs)
        seg_payload = (payload + max_segs - 1) / max_segs;
    if (seg_payload > stride - hdr)
        return -1;
    uint32_t nseg = payload ? (payload + seg_payload - 1) / seg_payload : 1;
    /* Fresh checksums only for bytes someone vouched for: the kernel, or the
     * super-frame's own checksum, checked here over the whole of it. */
    int fresh = vouched || csum_ok(tcp_sum(iph, (const uint8_t *)th, ip_len - ihl));
    uint16_t id = is_ip6(iph) ? 0 : ntohs(((const struct ip_hdr *)(const void *)iph)->id);
    uint32_t seq = ntohl(th->seq);
    for (uint32_t i = 0; i < nseg; i++) {
        uint32_t at = i * seg_payload;
        uint32_t n = payload - at < seg_payload ? payload - at : seg_payload;
        uint8_t *o = out + (size_t)i * stride;
        memcpy(o, f, hdr);
        memcpy(o + hdr, f + hdr + at, n);
        struct tcp_hdr *oth = (void *)(o + ETH_HLEN_ + ihl);
        piece_ip(o + ETH_HLEN_, ihl, thl + n, (uint16_t)(id + i));
        oth->seq = htonl(seq + at);
        if (i > 0)
            oth->flags &= (uint8_t)~TH_CWR_;
        if (i + 1 < nseg)
            oth->flags &= (uint8_t)~(TH_FIN | TH_PSH);
        if (fresh) {
            oth->csum = 0;
            oth->csum = htons(csum_finish(tcp_sum(o + ETH_HLEN_, (const uint8_t *)oth, thl + n)));
        }
        lens[i] = hdr + n;
    }
    return (int)nseg;
}

int ssdk_gso_split(const uint8_t *frame, uint32_t len, uint32_t seg_payload, int vouched,
                   uint8_t *out, uint32_t stride, uint32_t max_segs, uint32_t *lens)
{
    return gso_split(frame, len, seg_payload, vouched, out, stride, max_segs, lens);
}

int ssdk_tcp_csum_partial(const uint8_t *frame, uint32_t len)
{
    uint32_t ihl, thl, ip_len;
    if (!tcp_frame_layout(frame, len, &ihl, &thl, &ip_len))
        return -1;
    const uint8_t *iph = frame + ETH_HLEN_;
    return tcp_csum_left_partial_sum(pseudo_sum(iph, ip_len - ihl), iph + ihl, ip_len - ihl);
}
