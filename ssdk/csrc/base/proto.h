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
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_  6

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

/* The frame we build: Ethernet + IPv4 (no options) + TCP (options only on SYN-ACK). */
#define HDRS_LEN (ETH_HLEN_ + 20 + 20)

#endif
