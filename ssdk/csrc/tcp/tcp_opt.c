/*
 * tcp_opt.c - TCP options: reading every option a segment carries, and writing ours.
 *
 * tcp_in.c -> tcp_opts_parse        (MSS, window scale, SACK-permitted, SACK, timestamps)
 * tcp_out.c -> tcp_opts_write       (the SYN-ACK's offer; timestamps and SACK blocks after)
 *
 * What a connection uses is settled by the handshake (RFC 7323 2.2, 3.2; RFC 2018 2):
 * an option is used only if the peer's SYN carried it, and from then on timestamps go
 * on every segment but resets. Parsing never reads past the option area; a malformed
 * option ends the parse, and what was read before it stands.
 */
#include <arpa/inet.h>
#include <string.h>
#include "tcp/tcp_priv.h"

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void tcp_opts_parse(const uint8_t *o, uint32_t n, struct tcp_opts *out)
{
    memset(out, 0, sizeof(*out));
    while (n > 0) {
        if (o[0] == TCPOPT_EOL)
            break;
        if (o[0] == TCPOPT_NOP) {
            o++, n--;
            continue;
        }
        if (n < 2 || o[1] < 2 || o[1] > n)
            break;
        uint8_t kind = o[0], len = o[1];
        if (kind == TCPOPT_MSS && len == 4) {
            out->has_mss = 1;
            out->mss = (uint16_t)(o[2] << 8 | o[3]);
        } else if (kind == TCPOPT_WS && len == 3) {
            out->has_ws = 1;
            out->ws = o[2];
        } else if (kind == TCPOPT_SACK_PERM && len == 2) {
            out->sack_ok = 1;
        } else if (kind == TCPOPT_TS && len == 10) {
            out->has_ts = 1;
            out->tsval = get32(o + 2);
            out->tsecr = get32(o + 6);
        } else if (kind == TCPOPT_SACK && len >= 10 && (len - 2) % 8 == 0) {
            for (uint32_t i = 0; i < (uint32_t)(len - 2) / 8 && out->nsack < SACK_MAX; i++) {
                out->sack[out->nsack][0] = get32(o + 2 + 8 * i);
                out->sack[out->nsack][1] = get32(o + 6 + 8 * i);
                out->nsack++;
            }
        }
        n -= len;
        o += len;
    }
}

/* Our timestamp clock: milliseconds, offset per connection (RFC 7323 5.4). */
uint32_t ts_now(const struct tcp *e, const struct tcb *c)
{
    return (uint32_t)(e->net.now_us / 1000) + c->snd.iss + c->ts_adj;
}

/*
 * Write the options of a segment with these flags at o; returns their length, a
 * multiple of 4. A SYN-ACK answers each option the SYN offered; later segments carry a
 * timestamp, and pure ACKs SACK blocks for the request bytes held out of order.
 */
uint32_t tcp_opts_write(const struct tcp *e, const struct tcb *c, uint8_t *o,
                        uint8_t flags, int pure_ack)
{
    uint32_t n = 0;
    if (flags & TH_RST)
        return 0;
    if (flags & TH_SYN) {
        /* rx_mss is IPv4's (MTU - 40); IPv6's header is 20 bytes longer (RFC 8200 8.3) */
        uint32_t mss = e->net.cfg.rx_mss;
        if (tcb_v6(e, c) && mss > IP6_HLEN)
            mss -= IP6_HLEN - 20;
        o[n++] = TCPOPT_MSS, o[n++] = 4;
        o[n++] = (uint8_t)(mss >> 8), o[n++] = (uint8_t)mss;
        if (c->opts & CO_SACK) {
            o[n++] = (c->opts & CO_TS) ? TCPOPT_SACK_PERM : TCPOPT_NOP;
            o[n++] = (c->opts & CO_TS) ? 2 : TCPOPT_NOP;
            if (!(c->opts & CO_TS))
                o[n++] = TCPOPT_SACK_PERM, o[n++] = 2;
        }
        if (c->opts & CO_TS) {
            if (!(c->opts & CO_SACK))
                o[n++] = TCPOPT_NOP, o[n++] = TCPOPT_NOP;
            o[n++] = TCPOPT_TS, o[n++] = 10;
            put32(o + n, ts_now(e, c));
            put32(o + n + 4, c->rcv.ts_recent);
            n += 8;
        }
        if (c->opts & CO_WSCALE)
            o[n++] = TCPOPT_NOP, o[n++] = TCPOPT_WS, o[n++] = 3, o[n++] = 0;
        return n;
    }
    if (c->opts & CO_TS) {
        o[n++] = TCPOPT_NOP, o[n++] = TCPOPT_NOP, o[n++] = TCPOPT_TS, o[n++] = 10;
        put32(o + n, ts_now(e, c));
        put32(o + n + 4, c->rcv.ts_recent);
        n += 8;
    }
    if (pure_ack && (c->opts & CO_SACK) && c->rcv.nooo) {
        uint32_t blocks = c->rcv.nooo < (n ? 3u : 4u) ? c->rcv.nooo : (n ? 3u : 4u);
        o[n++] = TCPOPT_NOP, o[n++] = TCPOPT_NOP;
        o[n++] = TCPOPT_SACK, o[n++] = (uint8_t)(2 + 8 * blocks);
        for (uint32_t i = 0; i < blocks; i++, n += 8) {
            put32(o + n, rcv_ooo(e, c)[i][0]);
            put32(o + n + 4, rcv_ooo(e, c)[i][1]);
        }
    }
    return n;
}
