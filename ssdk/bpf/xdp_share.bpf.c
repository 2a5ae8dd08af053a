/*
 * xdp_share.bpf.c - ssdk's XDP program: the frames of ssdk's addresses and TCP ports go
 * to its AF_XDP sockets, everything else to the kernel (XDP_PASS), so SSH and any other
 * service on the same interface keep working while ssdk serves.
 *
 *   frame -> Ethernet -> ARP:  target address in ssdk_addrs with SSDK_ADDR_ARP_ICMP -> XSK
 *                     -> IPv4: ICMP to an address with SSDK_ADDR_ARP_ICMP          -> XSK
 *                              TCP to (address, port) in ssdk_ports                 -> XSK
 *                     -> IPv6: up to MAX_OPT_HDRS hop-by-hop/destination options
 *                              headers skipped, then
 *                              TCP to (address, port) in ssdk_ports6                -> XSK
 *                              a first fragment, TCP to such a pair                 -> XSK
 *                              ICMPv6 neighbour solicitation whose target is in
 *                                ssdk_addrs6 with SSDK_ADDR_ARP_ICMP, sent to that
 *                                address or to its solicited-node group           -> XSK
 *                              ICMPv6 echo request or neighbour advertisement to an
 *                                address with SSDK_ADDR_ARP_ICMP                    -> XSK
 *                              ICMPv6 error (unreachable, packet too big, time
 *                                exceeded, parameter problem) to one of ssdk's
 *                                addresses quoting a TCP segment from a pair of
 *                                ssdk_ports6                                        -> XSK
 *                     -> anything else                                             -> PASS
 *
 * Built with `clang -O2 -g -target bpf` when `ssdk serve --backend af_xdp` starts
 * (ssdk/share.py; -g for the BTF libxdp's dispatcher needs to chain programs), loaded
 * and attached once per interface by the supervisor through libxdp
 * (ssdk/csrc/nic/xdp_filter.c), which fills the maps below; each worker puts its socket
 * into xsks_map at its queue's index.
 *
 * SSDK_ADDR_ARP_ICMP is set only for an address the kernel does not hold: where it does
 * (ssdk on port 80 beside sshd on port 22 of one address), the kernel answers ARP,
 * neighbour solicitations and ping for it, and ssdk takes only its TCP port. ICMPv6
 * errors quoting ssdk's own segments are ssdk's either way: only ssdk can act on a
 * Packet Too Big for its connections (the kernel knows none of them).
 *
 * Everything else of IPv6 is the kernel's: router advertisements, MLD queries (which
 * come behind a hop-by-hop header with the router alert), neighbour solicitations for
 * the kernel's own addresses, advertisements sent to all nodes, redirects.
 *
 * A queue whose socket is gone (a worker restarting) finds no entry in xsks_map: the
 * redirect's fallback action is XDP_PASS, so the kernel gets the frame rather than the
 * frame being lost; the kernel drops it (nftables, ssdk/share.py) or answers it.
 *
 * Fragments: only the first fragment carries the TCP ports. It goes by them, as an
 * unfragmented segment would: to ssdk, whose stack drops and counts it (drop_ip_frag),
 * so a peer that fragments shows in ssdk's counters. A later fragment (offset non-zero)
 * names no port, may belong to a service of the kernel's on the same address, and goes
 * to the kernel, which owns reassembly; without its first piece the kernel's reassembly
 * times out silently. ssdk's peers send whole segments (it advertises its MSS).
 *
 * IPv6 extension headers: a fast filter walks no arbitrary chain. TCP directly after
 * the IPv6 header is the rule; up to MAX_OPT_HDRS hop-by-hop or destination options
 * headers before it (or before a fragment header, or ICMPv6) are skipped, each by its
 * length byte. A routing header, more options headers, or anything the walk does not
 * know passes to the kernel. ssdk's own segments carry no extension headers, so the
 * segment an ICMPv6 error quotes has TCP right after its IPv6 header.
 *
 * VLAN-tagged frames pass: ssdk's stack serves untagged Ethernet only.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

/* The value bits of ssdk_addrs and ssdk_addrs6 (the same numbers in nic/xdp_filter.c):
 * ARP (IPv4) or neighbour discovery (IPv6), and ICMP echo, are ssdk's. */
#define SSDK_ADDR_ARP_ICMP 0x1u

#define MAX_QUEUES 256   /* ssdk serve --workers is at most 256 */
#define MAX_ADDRS 16     /* of each family */
#define MAX_PORTS 64     /* (address, port) pairs of each family */
#define MAX_OPT_HDRS 2   /* hop-by-hop and destination options headers skipped */

/* IPv6 next-header values (IANA; the kernel's own names are not in its uapi headers). */
#define NH_HOP 0
#define NH_TCP 6
#define NH_FRAGMENT 44
#define NH_ICMPV6 58
#define NH_DEST 60

/* ICMPv6 types (RFC 4443, RFC 4861). Types 1 to 4 are the errors that quote the packet
 * which caused them: destination unreachable, packet too big, time exceeded, parameter
 * problem. */
#define ICMPV6_ERR_FIRST 1
#define ICMPV6_ERR_LAST 4
#define ICMPV6_ECHO_REQ 128
#define ICMPV6_NS 135
#define ICMPV6_NA 136

/* The ARP body for IPv4 over Ethernet (RFC 826), after the Ethernet header. */
struct arp_eth_ipv4 {
    __be16 htype, ptype;
    __u8 hlen, plen;
    __be16 oper;
    __u8 sha[6];
    __be32 spa;
    __u8 tha[6];
    __be32 tpa;
} __attribute__((packed));

/* (address, port), both in network byte order as they are on the wire. */
struct ssdk_port_key {
    __be32 addr;
    __be16 port;
    __u16 pad;   /* zero: the key is hashed as bytes */
};

/* An IPv6 address as it is on the wire: ssdk_addrs6's key. */
struct ssdk_addr6 {
    __u8 b[16];
};

/* (IPv6 address, port), both as they are on the wire. */
struct ssdk_port6_key {
    __u8 addr[16];
    __be16 port;
    __u16 pad;   /* zero: the key is hashed as bytes */
};

/* The first two bytes of a hop-by-hop or destination options header (RFC 8200 4.3,
 * 4.6): what follows it, and its length in 8-octet units after the first 8. */
struct opt_hdr {
    __u8 nexthdr;
    __u8 len;
};

/* The fragment header (RFC 8200 4.5). */
struct frag_hdr {
    __u8 nexthdr;
    __u8 reserved;
    __be16 frag_off;   /* offset in 8-octet units (top 13 bits), 2 reserved, M */
    __be32 id;
};

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_ADDRS);
    __type(key, __be32);
    __type(value, __u32);
} ssdk_addrs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_PORTS);
    __type(key, struct ssdk_port_key);
    __type(value, __u32);
} ssdk_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_ADDRS);
    __type(key, struct ssdk_addr6);
    __type(value, __u32);
} ssdk_addrs6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_PORTS);
    __type(key, struct ssdk_port6_key);
    __type(value, __u32);
} ssdk_ports6 SEC(".maps");

static __always_inline int to_ssdk(struct xdp_md *ctx)
{
    /* The fallback XDP_PASS: no socket on this queue (yet, or any more). */
    return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

static __always_inline int arp_icmp_ours(__be32 addr)
{
    __u32 *flags = bpf_map_lookup_elem(&ssdk_addrs, &addr);
    return flags && (*flags & SSDK_ADDR_ARP_ICMP);
}

/* Whether (addr, the TCP destination port at l4) is one of ssdk's IPv6 pairs. */
static __always_inline int tcp6_ours(const struct in6_addr *addr, void *l4, void *end)
{
    struct tcphdr *tcp = l4;
    if ((void *)tcp + 4 > end)  /* the ports: the first four bytes */
        return 0;
    struct ssdk_port6_key key = {.port = tcp->dest, .pad = 0};
    __builtin_memcpy(key.addr, addr, sizeof(key.addr));
    return bpf_map_lookup_elem(&ssdk_ports6, &key) != NULL;
}

static __always_inline int same6(const struct in6_addr *a, const struct in6_addr *b)
{
    return a->in6_u.u6_addr32[0] == b->in6_u.u6_addr32[0]
        && a->in6_u.u6_addr32[1] == b->in6_u.u6_addr32[1]
        && a->in6_u.u6_addr32[2] == b->in6_u.u6_addr32[2]
        && a->in6_u.u6_addr32[3] == b->in6_u.u6_addr32[3];
}

/* Whether dst is target's solicited-node multicast group, ff02::1:ff00:0/104 with the
 * target's last 24 bits (RFC 4291 2.7.1), where a neighbour solicitation usually goes. */
static __always_inline int solicited_node_of(const struct in6_addr *dst,
                                             const struct in6_addr *target)
{
    return dst->in6_u.u6_addr32[0] == bpf_htonl(0xff020000)
        && dst->in6_u.u6_addr32[1] == 0
        && dst->in6_u.u6_addr32[2] == bpf_htonl(1)
        && dst->in6_u.u6_addr32[3] == (bpf_htonl(0xff000000)
                                       | (target->in6_u.u6_addr32[3] & bpf_htonl(0x00ffffff)));
}

/* ICMPv6 at l4, in a packet to dst (flags: dst's entry in ssdk_addrs6, NULL if dst is not
 * one of ssdk's addresses). */
static __always_inline int icmp6_verdict(struct xdp_md *ctx, const struct in6_addr *dst,
                                         const __u32 *flags, void *l4, void *end)
{
    struct icmp6hdr *icmp = l4;
    if ((void *)(icmp + 1) > end)
        return XDP_PASS;
    __u8 type = icmp->icmp6_type;
    if (type == ICMPV6_NS) {
        /* The target follows the ICMPv6 header's 4 reserved bytes. It, not the
         * destination (a multicast group, usually), says whose solicitation it is. */
        const struct in6_addr *target = (void *)(icmp + 1);
        if ((void *)(target + 1) > end)
            return XDP_PASS;
        __u32 *tflags = bpf_map_lookup_elem(&ssdk_addrs6, target);
        if (!tflags || !(*tflags & SSDK_ADDR_ARP_ICMP))
            return XDP_PASS;
        return same6(dst, target) || solicited_node_of(dst, target) ? to_ssdk(ctx) : XDP_PASS;
    }
    if (!flags)
        return XDP_PASS;
    if (type == ICMPV6_ECHO_REQ || type == ICMPV6_NA)
        return (*flags & SSDK_ADDR_ARP_ICMP) ? to_ssdk(ctx) : XDP_PASS;
    if (type < ICMPV6_ERR_FIRST || type > ICMPV6_ERR_LAST)
        return XDP_PASS;
    /* The error quotes the packet that caused it from its IPv6 header on: one of
     * ssdk's segments if it came from ssdk's (address, port). */
    struct ipv6hdr *quoted = (void *)(icmp + 1);
    if ((void *)(quoted + 1) > end || quoted->nexthdr != NH_TCP)
        return XDP_PASS;
    struct tcphdr *tcp = (void *)(quoted + 1);
    if ((void *)tcp + 4 > end)
        return XDP_PASS;
    struct ssdk_port6_key key = {.port = tcp->source, .pad = 0};
    __builtin_memcpy(key.addr, &quoted->saddr, sizeof(key.addr));
    return bpf_map_lookup_elem(&ssdk_ports6, &key) ? to_ssdk(ctx) : XDP_PASS;
}

static __always_inline int ipv6_verdict(struct xdp_md *ctx, struct ipv6hdr *ip6, void *end)
{
    if ((void *)(ip6 + 1) > end || ip6->version != 6)
        return XDP_PASS;
    __u8 nh = ip6->nexthdr;
    void *l4 = ip6 + 1;
#pragma unroll
    for (int i = 0; i < MAX_OPT_HDRS; i++) {
        if (nh != NH_HOP && nh != NH_DEST)
            break;
        struct opt_hdr *opt = l4;
        if ((void *)(opt + 1) > end)
            return XDP_PASS;
        nh = opt->nexthdr;
        l4 += (opt->len + 1u) * 8u;
    }
    __u32 *flags = bpf_map_lookup_elem(&ssdk_addrs6, &ip6->daddr);
    if (nh == NH_TCP)
        return flags && tcp6_ours(&ip6->daddr, l4, end) ? to_ssdk(ctx) : XDP_PASS;
    if (nh == NH_FRAGMENT) {
        struct frag_hdr *frag = l4;
        if (!flags || (void *)(frag + 1) > end)
            return XDP_PASS;
        if ((frag->frag_off & bpf_htons(0xfff8)) || frag->nexthdr != NH_TCP)
            return XDP_PASS;  /* a later piece: no ports to go by */
        return tcp6_ours(&ip6->daddr, frag + 1, end) ? to_ssdk(ctx) : XDP_PASS;
    }
    if (nh == NH_ICMPV6)
        return icmp6_verdict(ctx, &ip6->daddr, flags, l4, end);
    return XDP_PASS;
}

SEC("xdp")
int ssdk_share(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return XDP_PASS;
    if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
        struct arp_eth_ipv4 *arp = (void *)(eth + 1);
        if ((void *)(arp + 1) > end || arp->ptype != bpf_htons(ETH_P_IP) || arp->plen != 4)
            return XDP_PASS;
        return arp_icmp_ours(arp->tpa) ? to_ssdk(ctx) : XDP_PASS;
    }
    if (eth->h_proto == bpf_htons(ETH_P_IPV6))
        return ipv6_verdict(ctx, (void *)(eth + 1), end);
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->version != 4)
        return XDP_PASS;
    if (!bpf_map_lookup_elem(&ssdk_addrs, &ip->daddr))
        return XDP_PASS;  /* not one of ssdk's addresses: the kernel's, or nobody's */
    if (ip->protocol == IPPROTO_ICMP)
        return arp_icmp_ours(ip->daddr) ? to_ssdk(ctx) : XDP_PASS;
    if (ip->protocol != IPPROTO_TCP || (ip->frag_off & bpf_htons(0x1fff)))
        return XDP_PASS;
    __u32 ihl = ip->ihl * 4u;
    if (ihl < sizeof(*ip))
        return XDP_PASS;
    struct tcphdr *tcp = (void *)ip + ihl;
    if ((void *)tcp + 4 > end)  /* the ports: the first four bytes */
        return XDP_PASS;
    struct ssdk_port_key key = {.addr = ip->daddr, .port = tcp->dest, .pad = 0};
    return bpf_map_lookup_elem(&ssdk_ports, &key) ? to_ssdk(ctx) : XDP_PASS;
}

/* libxdp's dispatcher: ssdk's program runs at the default priority, and the programs
 * after it in the chain see what it passes to the kernel. */
struct {
    __uint(priority, XDP_DEFAULT_RUN_PRIO);
    __uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(ssdk_share);

char _license[] SEC("license") = "GPL";
