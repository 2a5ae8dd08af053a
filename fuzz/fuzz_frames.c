/*
 * fuzz/fuzz_frames.c - libFuzzer harness: arbitrary Ethernet frames into the whole stack
 * (eth, arp, ip, icmp, ip6, icmp6, nd6, tcp_in/out, timers, http, table) on the
 * in-memory backend with a virtual clock; the engine is dual-stack (harness.h).
 *
 * Build and run: fuzz/run.sh SECONDS (or fuzz/build.sh, then
 * fuzz/build/fuzz_frames -dict=fuzz/http.dict CORPUS_DIR SEED_DIR); see docs/testing.md.
 *
 * An input is a sequence of records, each:
 *
 *     ctl (1 byte) | dt (1 byte) | len (2 bytes, big-endian) | frame (len bytes)
 *
 * A record moves the virtual clock forward by dt, then injects the frame (cut at the
 * end of the input and at 1514 bytes, the largest frame a 1500-byte MTU delivers), then
 * runs one pass of the loop and takes what the stack sent. len 0 only moves the clock
 * and runs a pass, which is how timers get their turn. dt is in milliseconds,
 * (dt & 0x3f) << (4 * (dt >> 6)): up to 63 ms, 1 s, 16 s or 258 s.
 *
 * ctl says what the harness does to the frame before injecting it, because a fuzzer
 * cannot compute checksums or guess the sequence numbers the stack chose:
 *   0x01  destination MAC and IPv4 destination (or ARP target) set to the stack's own;
 *         IPv6: the destination too, unless it is a group (ND and MLD go to groups)
 *   0x02  IPv4 header checksum computed (IPv6 has none)
 *   0x04  TCP, ICMP or ICMPv6 checksum computed, over the length the IP header claims
 *         (IPv6: past hop-by-hop, destination options and routing headers)
 *   0x08  TCP ack field added to the stack's SND.NXT for this peer, as last seen on the
 *         wire: 0 acknowledges everything sent, small values probe the edges
 *   0x10  TCP seq field added to the stack's RCV.NXT for this peer, likewise
 *   0x20  no pass after this frame: the next record's frame joins the same RX burst
 *   0x40  what the pass sent is left in the TX ring, so the ring fills up
 *   0x80  with 0x08: the ack field is added to the stack's ISS + 1 instead, an offset
 *         into its stream, so an ACK can end anywhere in a segment (partial ACKs,
 *         duplicate ACKs)
 * Bits left clear leave the frame as the input has it, so broken checksums, foreign
 * addresses and stale sequence numbers are reached too. A record with no frame and
 * 0x01 set publishes the table again as a new generation (hot swap) and reaps the
 * retired ones, so responses in flight cross swaps.
 *
 * Every input gets a fresh engine (harness.h), and ends with one more pass and the
 * virtual clock run forward through every timer.
 */
#include "harness.h"

#define C_ADDR 0x01
#define C_IPSUM 0x02
#define C_L4SUM 0x04
#define C_RELACK 0x08
#define C_RELSEQ 0x10
#define C_HOLD 0x20
#define C_NODRAIN 0x40
#define C_ACKISS 0x80

static uint64_t dt_us(uint8_t dt)
{
    return ((uint64_t)(dt & 0x3f) << (4 * (dt >> 6))) * 1000;
}

/* The ack and seq fields made relative to what the stack sent this peer (C_RELACK,
 * C_RELSEQ, C_ACKISS). */
static void fix_rel(uint8_t *l4, uint8_t ctl, const struct ip_addr *peer)
{
    struct fz_peer *p = fz_peer(peer, get16(l4), get16(l4 + 2), 0);
    if (!p || !p->have_nxt)
        return;
    if (ctl & C_RELACK)
        put32(l4 + 8, get32(l4 + 8) + ((ctl & C_ACKISS) && p->have_iss ? p->iss + 1
                                                                       : p->snd_nxt));
    if (ctl & C_RELSEQ)
        put32(l4 + 4, get32(l4 + 4) + p->rcv_nxt);
}

static void fix_frame4(uint8_t *f, uint32_t n, uint8_t ctl)
{
    uint8_t *ip = f + 14;
    uint32_t hl = (uint32_t)(ip[0] & 0xf) * 4, avail = n - 14;
    if (ctl & C_ADDR)
        put32(ip + 16, FZ_SERVER_IP);
    uint32_t tl = get16(ip + 2);
    uint32_t l4len = tl > avail ? avail : tl;
    l4len = l4len > hl ? l4len - hl : 0;
    int tcp = ip[9] == IPPROTO_TCP_ && hl >= 20 && hl + 20 <= avail;
    uint8_t *l4 = ip + hl;
    if (tcp && (ctl & (C_RELACK | C_RELSEQ))) {
        struct ip_addr peer = fz_v4(ip + 12);
        fix_rel(l4, ctl, &peer);
    }
    if ((ctl & C_IPSUM) && hl >= 20 && hl <= avail) {
        put16(ip + 10, 0);
        put16(ip + 10, (uint16_t)~fz_sum(ip, hl, 0));
    }
    if (!(ctl & C_L4SUM) || hl < 20 || hl > avail)
        return;
    if (tcp && l4len >= 20) {
        put16(l4 + 16, 0);
        put16(l4 + 16, (uint16_t)~fz_sum(l4, l4len, fz_pseudo(ip, IPPROTO_TCP_, l4len)));
    } else if (ip[9] == IPPROTO_ICMP_ && l4len >= 4) {
        put16(l4 + 2, 0);
        put16(l4 + 2, (uint16_t)~fz_sum(l4, l4len, 0));
    }
}

/* Where an IPv6 packet's upper layer begins (end: the packet's end), past hop-by-hop,
 * destination options and routing headers; 0 when it runs past the end. */
static uint32_t upper6(const uint8_t *ip, uint32_t end, uint8_t *next)
{
    uint32_t off = 40;
    uint8_t nh = ip[6];
    for (int k = 0; k < 8 && (nh == IP6_HOPOPTS || nh == IP6_DSTOPTS || nh == IP6_ROUTING); k++) {
        if (off + 8 > end)
            return 0;
        nh = ip[off];
        off += (ip[off + 1] + 1u) * 8;
    }
    *next = nh;
    return off <= end ? off : 0;
}

/* IPv6: with C_ADDR the destination becomes our address unless it is a group (ND and
 * MLD go to groups); C_IPSUM has nothing to do (no header checksum); C_L4SUM sums TCP
 * or ICMPv6 over the IPv6 pseudo-header, past extension headers. */
static void fix_frame6(uint8_t *f, uint32_t n, uint8_t ctl)
{
    uint8_t *ip = f + 14;
    if ((ctl & C_ADDR) && ip[24] != 0xff)
        memcpy(ip + 24, fz_server_ip6, 16);
    uint32_t end = 40u + get16(ip + 4);
    end = end < n - 14 ? end : n - 14;
    uint8_t next;
    uint32_t off = upper6(ip, end, &next);
    if (!off)
        return;
    uint8_t *l4 = ip + off;
    uint32_t l4len = end - off;
    if (next == IPPROTO_TCP_ && l4len >= 20 && (ctl & (C_RELACK | C_RELSEQ))) {
        struct ip_addr peer;
        memcpy(peer.b, ip + 8, 16);
        fix_rel(l4, ctl, &peer);
    }
    uint32_t at = next == IPPROTO_TCP_ ? 16 : 2;
    if ((ctl & C_L4SUM) && ((next == IPPROTO_TCP_ && l4len >= 20) || (next == IP6_ICMP && l4len >= 4))) {
        put16(l4 + at, 0);
        put16(l4 + at, (uint16_t)~fz_sum(l4, l4len, fz_pseudo6(ip, next, l4len)));
    }
}

/* Apply the ctl fix-ups to f[0..n). */
static void fix_frame(uint8_t *f, uint32_t n, uint8_t ctl)
{
    if (n < 14)
        return;
    uint16_t type = get16(f + 12);
    if (ctl & C_ADDR) {
        memcpy(f, fz_server_mac, 6);
        if (type == ETHTYPE_ARP && n >= 14 + 28)
            put32(f + 14 + 24, FZ_SERVER_IP);
    }
    if (type == ETHTYPE_IP && n >= 14 + 20)
        fix_frame4(f, n, ctl);
    else if (type == ETHTYPE_IP6 && n >= 14 + 40)
        fix_frame6(f, n, ctl);
}

/* The TCP header of a frame for us, and its sender, IPv4 or IPv6; NULL if none. */
static const uint8_t *frame_tcp(const uint8_t *f, uint32_t n, struct ip_addr *peer)
{
    uint16_t type = n >= 14 ? get16(f + 12) : 0;
    if (type == ETHTYPE_IP && n >= 14 + 20 && f[14 + 9] == IPPROTO_TCP_) {
        uint32_t hl = (uint32_t)(f[14] & 0xf) * 4;
        *peer = fz_v4(f + 14 + 12);
        return hl >= 20 && 14 + hl + 20 <= n ? f + 14 + hl : NULL;
    }
    uint8_t next;
    uint32_t off = type == ETHTYPE_IP6 && n >= 14 + 40 ? upper6(f + 14, n - 14, &next) : 0;
    if (!off || next != IPPROTO_TCP_ || 14 + off + 20 > n)
        return NULL;
    memcpy(peer->b, f + 14 + 8, 16);
    return f + 14 + off;
}

/* A SYN may start a new incarnation of its connection: see fz_peer_forget. */
static void note_syn(const uint8_t *f, uint32_t n)
{
    struct ip_addr peer;
    const uint8_t *th = frame_tcp(f, n, &peer);
    if (th && (th[13] & TH_SYN))
        fz_peer_forget(&peer, get16(th), get16(th + 2));
}

static void trace_in(const uint8_t *f, uint32_t n)
{
    struct ip_addr peer;
    const uint8_t *th = frame_tcp(f, n, &peer);
    if (!th) {
        fprintf(stderr, "  <- frame of %u bytes\n", n);
        return;
    }
    fprintf(stderr, "  <- %u flags %#04x seq %u ack %u win %u\n", get16(th), th[13],
            get32(th + 4), get32(th + 8), get16(th + 14));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[FZ_WIRE_MAX];
    fz_peers_reset();
    struct ssdk_engine *e = fz_engine();
    size_t at = 0;
    while (size - at >= 4) {
        uint8_t ctl = data[at], dt = data[at + 1];
        uint32_t len = get16(data + at + 2);
        at += 4;
        if (len > size - at)
            len = (uint32_t)(size - at);
        uint32_t n = len < FZ_WIRE_MAX ? len : FZ_WIRE_MAX;
        memcpy(frame, data + at, n);
        at += len;
        ssdk_clock_set(e, ssdk_clock_now(e) + dt_us(dt));
        if (!n && (ctl & C_ADDR)) {
            uint64_t gens[GEN_MAX];
            char err[256];
            ssdk_table_retired(e, gens, GEN_MAX);
            ssdk_table_load(e, fz_blob, fz_blob_len, err, sizeof(err));  /* may be full */
        }
        if (n) {
            fix_frame(frame, n, ctl);
            note_syn(frame, n);
            if (fz_verbose() > 1)
                trace_in(frame, n);
            ssdk_mem_inject(e, frame, n);  /* a full RX ring refuses it, as a NIC drops */
        }
        if (!(ctl & C_HOLD))
            fz_poll(e, !(ctl & C_NODRAIN));
    }
    fz_poll(e, 1);
    fz_run_out_clock(e);
    fz_report(e);
    ssdk_engine_free(e);
    return 0;
}
