/*
 * vnet.h - the virtio_net_hdr in front of a super-frame we send (AF_PACKET with
 * PACKET_VNET_HDR, TAP with IFF_VNET_HDR, the in-memory backend with gso_max).
 *
 * nic_af_packet.c, nic_tap.c, nic_memory.c (tx_commit_gso) -> vnet_gso_hdr
 *
 * The header is the one the kernel reads in virtio_net_hdr_to_skb: gso_type TCPV4 with
 * gso_size (the payload of each piece) and hdr_len (the headers copied into each), and
 * NEEDS_CSUM with csum_start / csum_offset, so the skb is CHECKSUM_PARTIAL and the TCP
 * checksum field holds the pseudo-header sum only (nic.h). Fields are little-endian, as
 * the legacy virtio header is on the little-endian hosts ssdk runs on (the receive side,
 * nic_af_packet.c take_copy, reads them the same way).
 */
#ifndef SSDK_VNET_H
#define SSDK_VNET_H
#include <endian.h>
#include <string.h>
#include <linux/virtio_net.h>
#include "nic/nic.h"

/* Written whole with memcpy: a buffer in front of a frame need not be 2-byte aligned
 * (the in-memory ring's slots of 10 + gso_max bytes are not). */
static inline void vnet_gso_hdr(void *dst, const struct nic_gso *g)
{
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = htole16(g->hdr_len),
        .gso_size = htole16(g->gso_size),
        .csum_start = htole16(g->csum_start),
        .csum_offset = htole16(g->csum_offset),
    };
    memcpy(dst, &vh, sizeof(vh));
}

#endif
