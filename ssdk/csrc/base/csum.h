/*
 * csum.h - RFC 1071 one's-complement arithmetic, and RFC 1624 incremental update.
 *
 * Sums are carried in 32 or 64 bits and folded late: a partial sum may be added to
 * another before folding, which is what lets a precomputed payload sum be combined with
 * per-connection header words at send time. Words are big-endian pairs of bytes, so a
 * sum computed here equals the one the wire format defines on any host.
 */
#ifndef SSDK_CSUM_H
#define SSDK_CSUM_H
#include <stddef.h>
#include <stdint.h>

/* Fold a wide partial sum to 16 bits (end-around carry). */
static inline uint16_t csum_fold(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Partial sum of bytes as big-endian 16-bit words; an odd last byte is padded. */
static inline uint64_t csum_partial(const void *buf, size_t len, uint64_t sum)
{
    const uint8_t *p = buf;
    while (len >= 8) {
        sum += ((uint32_t)p[0] << 8 | p[1]) + ((uint32_t)p[2] << 8 | p[3])
             + ((uint32_t)p[4] << 8 | p[5]) + ((uint32_t)p[6] << 8 | p[7]);
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        sum += (uint32_t)p[0] << 8 | p[1];
        p += 2;
        len -= 2;
    }
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

/* The checksum field value for a buffer whose checksum field is zero. */
static inline uint16_t csum_finish(uint64_t sum)
{
    return (uint16_t)~csum_fold(sum);
}

/* True when a buffer that includes its checksum field verifies. */
static inline int csum_ok(uint64_t sum)
{
    return csum_fold(sum) == 0xffff;
}

/* Pseudo-header words of TCP/UDP over IPv4 (addresses in network order). */
static inline uint64_t csum_pseudo(uint32_t src_be, uint32_t dst_be, uint8_t proto,
                                   uint16_t l4len)
{
    const uint8_t *s = (const uint8_t *)&src_be, *d = (const uint8_t *)&dst_be;
    return ((uint32_t)s[0] << 8 | s[1]) + ((uint32_t)s[2] << 8 | s[3])
         + ((uint32_t)d[0] << 8 | d[1]) + ((uint32_t)d[2] << 8 | d[3])
         + proto + l4len;
}

/* Pseudo-header words of an upper layer over IPv6 (RFC 8200 8.1): both addresses, the
 * upper-layer length as 32 bits, the next header value. */
static inline uint64_t csum_pseudo6(const uint8_t src[16], const uint8_t dst[16],
                                    uint8_t next, uint32_t l4len)
{
    uint64_t s = csum_partial(src, 16, 0);
    s = csum_partial(dst, 16, s);
    return s + (l4len >> 16) + (l4len & 0xffff) + next;
}

#endif
