/*
 * xdp_share.bpf.c - ssdk's XDP program: the frames of ssdk's addresses and TCP ports go
 * to its AF_XDP sockets, everything else to the kernel (XDP_PASS), so SSH and any other
 * service on the same interface keep working while ssdk serves.
 *
 *   frame -> Ethernet -> ARP:  target address in ssdk_addrs with SSDK_ADDR_ARP_ICMP -> XSK
 *                     -> IPv4: ICMP to an address with SSDK_ADDR_ARP_ICMP          -> XSK
 *                              TCP to (address, port) in ssdk_ports                 -> XSK
 *                     -> anything else                                             -> PASS
 *
 * Built with `clang -O2 -g -target bpf` when `ssdk serve --backend af_xdp` starts
 * (ssdk/xdp_prog.py; -g for the BTF libxdp's dispatcher needs to chain programs), loaded
 * and attached once per interface by the supervisor through libxdp
 * (ssdk/csrc/nic/xdp_filter.c), which fills the maps below; each worker puts its socket
 * into xsks_map at its queue's index.
 *
 * SSDK_ADDR_ARP_ICMP is set only for an address the kernel does not hold: where it does
 * (ssdk on port 80 beside sshd on port 22 of one address), the kernel answers ARP and
 * ping for it, and ssdk takes only its TCP port.
 *
 * A queue whose socket is gone (a worker restarting) finds no entry in xsks_map: the
 * redirect's fallback action is XDP_PASS, so the kernel gets the frame rather than the
 * frame being lost; the kernel drops it (nftables, ssdk/share.py) or answers it.
 *
 * Fragments: only the first fragment carries the TCP ports; a later fragment (offset
 * non-zero) goes to the kernel, which owns reassembly. ssdk's stack drops fragments
 * anyway (drop_ip_frag), and its peers send whole segments (it advertises its MSS).
 * VLAN-tagged frames pass: ssdk's stack serves untagged Ethernet only.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

/* The value bits of ssdk_addrs (the same numbers in nic/xdp_filter.c). */
#define SSDK_ADDR_ARP_ICMP 0x1u

#define MAX_QUEUES 256   /* ssdk serve --workers is at most 256 */
#define MAX_ADDRS 16
#define MAX_PORTS 64

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
