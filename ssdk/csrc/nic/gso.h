/*
 * gso.h - frames a local kernel left unfinished: TCP super-frames (GSO/TSO, GRO) and
 * partial TCP checksums.
 *
 * nic_af_packet.c -> gso_split (a super-frame the kernel queued whole) -> segments
 * tcp/tcp_in.c    -> tcp_csum_left_partial_sum (a frame that failed verification, from a
 *                    backend that marked it FRAME_CSUM_LOCAL_LINK)
 *
 * A sender whose device offloads TCP checksums leaves in the checksum field only the
 * folded sum of the pseudo-header (CHECKSUM_PARTIAL: the kernel's __tcp_v4_send_check
 * writes ~tcp_v4_check(len, saddr, daddr, 0)); the device is meant to add the sum of the
 * segment. On a veth or a TAP there is no device to do it, and the frame reaches its
 * reader like that. A sender whose device offloads segmentation hands over one frame of
 * up to 64 KiB that the device is meant to cut into MSS-sized segments (RFC 9293 3.7.1
 * bounds what a segment may carry by the MSS; the cutting is the kernel's
 * tcp_gso_segment, whose rules gso_split follows).
 */
#ifndef SSDK_GSO_H
#define SSDK_GSO_H
#include <arpa/inet.h>
#include <stdint.h>
#include "base/csum.h"
#include "base/proto.h"

/* Segments one super-frame may be cut into at most (64 KiB at an MSS of 256 or more). */
#define GSO_SEG_MAX 256u

/*
 * Cut the Ethernet/IPv4/TCP frame f (len bytes), or Ethernet/IPv6/TCP with TCP right after
 * the IPv6 header, into segments of at most seg_payload payload bytes, each a whole
 * frame of at most `stride` bytes at out + i * stride, its
 * length in lens[i]; at most max_segs of them (seg_payload grows if needed to fit). A
 * seg_payload of 0, or one too large for stride, means as much as fits in stride.
 *
 * As tcp_gso_segment does: each segment gets the IP total length, the IP id plus its
 * index, a new IP header checksum (IPv6: its payload length only) and its own sequence
 * number; FIN and PSH stay only on
 * the last segment, CWR only on the first. The TCP checksum of each segment is computed
 * afresh when `vouched` (the kernel said the super-frame's checksum is local or already
 * verified) or when the super-frame's own checksum verifies; otherwise every segment
 * keeps the super-frame's checksum field, so the stack's verification drops each one
 * as it would have dropped the super-frame.
 *
 * Returns the number of segments, or -1 for a frame that is not a whole, unfragmented
 * IPv4/TCP or IPv6/TCP frame (the caller hands it on unchanged and the stack counts why it drops it).
 */
int gso_split(const uint8_t *f, uint32_t len, uint32_t seg_payload, int vouched,
              uint8_t *out, uint32_t stride, uint32_t max_segs, uint32_t *lens);

/*
 * True when the TCP segment at tcp (len bytes, psum its pseudo-header's sum, IPv4 or
 * IPv6) carries in its checksum field exactly what a CHECKSUM_PARTIAL sender leaves
 * there: the folded pseudo-header sum, not complemented. A segment with a full checksum
 * has the complement of the sum of everything there instead; the two coincide only by
 * chance (1 in 65535).
 */
static inline int tcp_csum_left_partial_sum(uint64_t psum, const uint8_t *tcp, uint32_t len)
{
    const struct tcp_hdr *th = (const void *)tcp;
    if (len < 20 || len > 0xffff)
        return 0;
    return ntohs(th->csum) == csum_fold(psum);
}

#endif
