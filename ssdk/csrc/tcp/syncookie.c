/*
 * syncookie.c - SYN cookies (RFC 4987 3.6): answering a SYN without keeping state, when
 * the connections half-open already fill the SYN backlog (or the pool).
 *
 * tcp_in.c (tcp_listen) -> syncookie_isn / syncookie_ts   the SYN-ACK's ISN and TSval
 *                       -> syncookie_check                an ACK that matches nothing
 *
 * The ISN carries what the handshake must remember: 5 bits of a 64-second counter, 3 bits
 * naming the MSS from a table, and a 24-bit keyed hash of the 4-tuple (the peer's
 * address as 16 bytes, IPv6 or IPv4 mapped, and our address's index), the peer's ISN,
 * the counter and the MSS index. Window scale and SACK-permitted need more room: when
 * the SYN carried timestamps they ride in the low 6 bits of our TSval, which the ACK
 * echoes (as Linux does); without timestamps they are not offered, and the connection
 * runs without them. A cookie is good for two counter periods (64 to 128 seconds).
 */
#include "tcp/tcp_priv.h"

static const uint16_t mss_table[8] = {536, 1000, 1220, 1360, 1400, 1440, 1452, 1460};

#define COOKIE_PERIOD_US (64ull * 1000000ull)
#define TS_BITS 6

static uint32_t mac24(const struct tcp *e, const struct ip_rx *rx, uint16_t rport,
                      uint16_t lport_be, uint32_t irs, uint32_t t, uint32_t m)
{
    uint64_t h = addr_mix(&rx->src, ((uint64_t)rx->local << 32 | (uint64_t)rport << 16
                                     | lport_be) ^ e->isn_secret[0]);
    h = mix64(h ^ ((uint64_t)irs << 32 | t << 8 | m) ^ e->isn_secret[1]);
    return (uint32_t)h & 0xffffff;
}

static uint32_t period(const struct tcp *e)
{
    return (uint32_t)(e->net.now_us / COOKIE_PERIOD_US) & 31;
}

/* The ISN of a cookie SYN-ACK for the SYN (raddr, rport to our lport_be, irs, options o). */
uint32_t syncookie_isn(const struct tcp *e, const struct ip_rx *rx, uint16_t rport,
                       uint16_t lport_be, uint32_t irs, const struct tcp_opts *o)
{
    uint32_t want = o->has_mss ? o->mss : 536, m = 0;
    for (uint32_t i = 0; i < 8; i++)
        if (mss_table[i] <= want)
            m = i;
    uint32_t t = period(e);
    return t << 27 | m << 24 | mac24(e, rx, rport, lport_be, irs, t, m);
}

/* The low TSval bits that carry window scale and SACK-permitted through the ACK. */
uint32_t syncookie_ts_bits(const struct tcp_opts *o, int sack_ok)
{
    uint32_t ws = o->has_ws ? (uint32_t)(o->ws > 14 ? 14 : o->ws) | 0x10 : 0;
    return ws | (sack_ok ? 0x20u : 0);
}

/*
 * An ACK that matches no connection: if it answers a cookie of ours, fill `syn` with
 * the options its SYN carried (as far as the cookie kept them) and return 1.
 */
int syncookie_check(const struct tcp *e, const struct ip_rx *rx, uint16_t rport,
                    uint16_t lport_be, uint32_t seq, uint32_t ack, const struct tcp_opts *ackopt,
                    struct tcp_opts *syn)
{
    uint32_t cookie = ack - 1, irs = seq - 1;
    uint32_t t = cookie >> 27, m = cookie >> 24 & 7, now = period(e);
    if (t != now && t != ((now - 1) & 31))
        return 0;
    if ((cookie & 0xffffff) != mac24(e, rx, rport, lport_be, irs, t, m))
        return 0;
    *syn = (struct tcp_opts){.has_mss = 1, .mss = mss_table[m]};
    if (ackopt->has_ts && ackopt->tsecr) {
        uint32_t bits = ackopt->tsecr & ((1u << TS_BITS) - 1);
        syn->has_ts = 1;
        syn->tsval = ackopt->tsval;
        syn->has_ws = (bits & 0x10) != 0;
        syn->ws = (uint8_t)(bits & 0xf);
        syn->sack_ok = (bits & 0x20) != 0;
    }
    return 1;
}
