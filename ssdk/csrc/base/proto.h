/*
 * proto.h - wire layouts of the headers the stack reads and writes.
 *
 * All multi-byte fields are in network byte order, exactly as on the wire; the structs
 * are packed so that a pointer into a frame can be read through them. Nothing here
 * allocates or validates: validation belongs to the *_input functions.
 */
#ifndef SSDK_PROTO_H
#define SSDK_PROTO_H
#include <stdint.h>

#define ETH_HLEN_ 14
#define ETHTYPE_IP  0x0800
#define ETHTYPE_ARP 0x0806
#define ETHTYPE_IP6 0x86dd
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_  6
/* IPv6 next-header values (RFC 8200 4; RFC 4443) */
#define IP6_HOPOPTS   0
#define IP6_ROUTING   43
#define IP6_FRAGMENT  44
#define IP6_ICMP      58
#define IP6_NONEXT    59
#define IP6_DSTOPTS   60

struct eth_hdr {
    uint8_t  dst[6];
    uint8_t  src[6];
    uint16_t type;
} __attribute__((packed));

struct arp_pkt {
    uint16_t htype, ptype;
    uint8_t  hlen, plen;
    uint16_t op;
    uint8_t  sha[6];
    uint32_t spa;
    uint8_t  tha[6];
    uint32_t tpa;
} __attribute__((packed));

struct ip_hdr {
    uint8_t  ver_ihl;
    uint8_t  tos;
    uint16_t len;
    uint16_t id;
    uint16_t frag;        /* flags (3 bits) and fragment offset */
    uint8_t  ttl;
    uint8_t  proto;
    uint16_t csum;
    uint32_t src;
    uint32_t dst;
} __attribute__((packed));

#define IP_MF      0x2000
#define IP_DF      0x4000
#define IP_OFFMASK 0x1fff

/* RFC 8200 3 */
struct ip6_hdr {
    uint32_t vtc_flow;    /* version (4 bits), traffic class (8), flow label (20) */
    uint16_t plen;        /* payload length: what follows this header */
    uint8_t  next;
    uint8_t  hlim;
    uint8_t  src[16];
    uint8_t  dst[16];
} __attribute__((packed));

#define IP6_HLEN 40
#define IP6_MIN_MTU 1280  /* RFC 8200 5 */

/* RFC 4443 2.1: type, code, checksum, then 4 bytes that depend on the type */
struct icmp6_hdr {
    uint8_t  type, code;
    uint16_t csum;
    uint32_t data;
} __attribute__((packed));

#define ICMP6_PTB         2    /* RFC 4443 3.2, Packet Too Big */
#define ICMP6_PARAM_PROB  4    /* RFC 4443 3.4 */
#define ICMP6_ECHO_REQ    128
#define ICMP6_ECHO_REPLY  129
#define ICMP6_MLDV2_REPORT 143 /* RFC 3810 5.2 */
#define ICMP6_NS          135  /* RFC 4861 4.3 */
#define ICMP6_NA          136  /* RFC 4861 4.4 */

struct icmp_hdr {
    uint8_t  type, code;
    uint16_t csum;
    uint16_t id, seq;
} __attribute__((packed));

struct tcp_hdr {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t  off;         /* data offset in the high nibble */
    uint8_t  flags;
    uint16_t win;
    uint16_t csum;
    uint16_t urp;
} __attribute__((packed));

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WS  3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK 5
#define TCPOPT_TS  8
#define TS_OPT_LEN 12        /* NOP, NOP, kind, length, TSval, TSecr */

/* The frame we build: Ethernet + IPv4 (no options) + TCP (options only on SYN-ACK).
 * Over IPv6 the IP header is IP6_HLEN - 20 bytes longer: HDRS6_LEN. */
#define HDRS_LEN (ETH_HLEN_ + 20 + 20)
#define HDRS6_LEN (ETH_HLEN_ + IP6_HLEN + 20)

#endif
