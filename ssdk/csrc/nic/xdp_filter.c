/*
 * xdp_filter.c - ssdk's own XDP program (ssdk/bpf/xdp_share.bpf.c) on one interface:
 * loaded and attached through libxdp once, by the supervisor, before the workers start;
 * each worker's AF_XDP socket then joins its XSKMAP (nic_af_xdp.c, xsks_map_fd).
 *
 * ssdk serve (supervisor) -> xdp_filter_attach (open the object, attach native or SKB,
 *                            fill ssdk_addrs and ssdk_ports: IPv4)
 *                         -> xdp_filter_add6 (fill ssdk_addrs6 and ssdk_ports6: IPv6;
 *                            before any worker starts, so no frame is taken early)
 *   fork -> worker i -> nic_af_xdp_new(..., xdp_filter_map_fd) -> xsk_socket__update_xskmap
 *   exit -> xdp_filter_detach (the program leaves the interface)
 *
 * Why once, in the supervisor: a program per worker would need one attachment per
 * queue, which an interface without libxdp's dispatcher (no bpffs) cannot hold, and
 * would redirect each queue through another copy of the same maps. The map's fd is
 * inherited across fork, and a restarted worker puts its new socket at the same index.
 *
 * libxdp attaches through its dispatcher where it can (bpffs mounted at /sys/fs/bpf, a
 * kernel with freplace): other XDP programs may then run on the same interface, and
 * those after ssdk's in the chain see what it passes. Without bpffs libxdp falls back
 * to attaching ssdk's program alone (legacy), so no other program can join while ssdk
 * serves; xdp_filter_shared says which happened, for the start banner.
 *
 * If the supervisor dies without detaching (SIGKILL), the program stays on the
 * interface; its sockets are gone with the workers, so every frame falls back to
 * XDP_PASS and the kernel gets the interface back as if ssdk's program were not there.
 * `ip link set dev IF xdp off` (or xdp-loader unload) removes it.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "nic/xdp_quiet.h"
#include "nic/nic.h"

/* The value bit of ssdk_addrs and ssdk_addrs6, as xdp_share.bpf.c reads it. */
#define ADDR_ARP_ICMP 0x1u

/* ssdk_ports' key, as xdp_share.bpf.c declares it. */
struct port_key {
    uint32_t addr;   /* network byte order */
    uint16_t port;   /* network byte order */
    uint16_t pad;
};

/* ssdk_ports6' key, as xdp_share.bpf.c declares it. */
struct port6_key {
    uint8_t addr[16];  /* as on the wire */
    uint16_t port;     /* network byte order */
    uint16_t pad;
};

struct xdp_filter {
    struct xdp_program *prog;
    int ifindex;
    enum xdp_attach_mode mode;
    int xsks_fd;
    int shared;      /* 1: in libxdp's dispatcher; 0: attached alone */
};

static int map_fd(struct xdp_program *prog, const char *name)
{
    struct bpf_map *m = bpf_object__find_map_by_name(xdp_program__bpf_obj(prog), name);
    return m ? bpf_map__fd(m) : -1;
}

/* Whether the program on ifindex now is libxdp's dispatcher (with ours in it). */
static int in_dispatcher(int ifindex)
{
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    if (libxdp_get_error(mp) || !mp)
        return 0;
    int legacy = xdp_multiprog__is_legacy(mp);
    xdp_multiprog__close(mp);
    return !legacy;
}

/* Opens the object anew for each attempt: a program libxdp failed to attach in one mode
 * may have been loaded as it prepared that mode. */
static int attach_mode(struct xdp_filter *f, const char *obj, enum xdp_attach_mode mode,
                       char *err, unsigned long errlen)
{
    if (f->prog) {
        xdp_program__close(f->prog);
        f->prog = NULL;
    }
    struct xdp_program *p = xdp_program__open_file(obj, "xdp", NULL);
    long e = libxdp_get_error(p);
    if (e || !p) {
        snprintf(err, errlen, "ssdk's XDP program %s: %s", obj, strerror(e ? (int)-e : EINVAL));
        return e ? (int)e : -EINVAL;
    }
    f->prog = p;
    return xdp_program__attach(p, f->ifindex, mode, 0);
}

struct xdp_filter *xdp_filter_attach(const char *ifname, const char *obj, uint32_t flags,
                                     const uint32_t *addrs, const uint32_t *addr_flags,
                                     uint32_t naddrs, const uint16_t *ports, uint32_t nports,
                                     char *err, unsigned long errlen)
{
    if ((flags & NIC_XDP_NATIVE) && (flags & NIC_XDP_SKB)) {
        snprintf(err, errlen, "native and SKB mode exclude each other");
        return NULL;
    }
    struct xdp_filter *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->xsks_fd = -1;
    f->ifindex = (int)if_nametoindex(ifname);
    if (!f->ifindex) {
        snprintf(err, errlen, "interface %s: %s", ifname, strerror(errno));
        free(f);
        return NULL;
    }
    libxdp_print_fn_t old_xdp = libxdp_set_print(quiet_xdp);
    libbpf_print_fn_t old_bpf = libbpf_set_print(quiet_bpf);
    int rc = -EINVAL, rc_native = 0;
    err[0] = '\0';
    if (!(flags & NIC_XDP_SKB)) {
        f->mode = XDP_MODE_NATIVE;
        rc = rc_native = attach_mode(f, obj, XDP_MODE_NATIVE, err, errlen);
    }
    if (rc && !(flags & NIC_XDP_NATIVE) && !err[0]) {
        f->mode = XDP_MODE_SKB;
        rc = attach_mode(f, obj, XDP_MODE_SKB, err, errlen);
    }
    if (!rc)
        f->shared = in_dispatcher(f->ifindex);
    libxdp_set_print(old_xdp);
    libbpf_set_print(old_bpf);
    if (rc) {
        if (!err[0] && (flags & (NIC_XDP_NATIVE | NIC_XDP_SKB)))
            snprintf(err, errlen, "attaching ssdk's XDP program to %s (%s mode): %s", ifname,
                     (flags & NIC_XDP_SKB) ? "SKB" : "native", strerror(-rc));
        else if (!err[0])
            snprintf(err, errlen, "attaching ssdk's XDP program to %s: native mode: %s; "
                     "SKB mode: %s (another XDP program there? needs CAP_NET_ADMIN and "
                     "CAP_BPF)", ifname, strerror(-rc_native), strerror(-rc));
        xdp_program__close(f->prog);
        free(f);
        return NULL;
    }
    int addrs_fd = map_fd(f->prog, "ssdk_addrs");
    int ports_fd = map_fd(f->prog, "ssdk_ports");
    f->xsks_fd = map_fd(f->prog, "xsks_map");
    const char *bad = addrs_fd < 0 ? "ssdk_addrs" : ports_fd < 0 ? "ssdk_ports"
                    : f->xsks_fd < 0 ? "xsks_map" : NULL;
    if (bad) {
        snprintf(err, errlen, "ssdk's XDP program %s has no map %s", obj, bad);
        xdp_filter_detach(f);
        return NULL;
    }
    /* Every (address, port) pair: each address serves each port. */
    for (uint32_t i = 0; i < naddrs; i++) {
        uint32_t a = htonl(addrs[i]), v = addr_flags[i] & ADDR_ARP_ICMP;
        if (bpf_map_update_elem(addrs_fd, &a, &v, BPF_ANY)) {
            snprintf(err, errlen, "filling ssdk_addrs: %s", strerror(errno));
            xdp_filter_detach(f);
            return NULL;
        }
        for (uint32_t j = 0; j < nports; j++) {
            struct port_key k = {.addr = a, .port = htons(ports[j]), .pad = 0};
            uint32_t one = 1;
            if (bpf_map_update_elem(ports_fd, &k, &one, BPF_ANY)) {
                snprintf(err, errlen, "filling ssdk_ports: %s", strerror(errno));
                xdp_filter_detach(f);
                return NULL;
            }
        }
    }
    return f;
}

int xdp_filter_add6(struct xdp_filter *f, const uint8_t *addrs6, const uint32_t *addr6_flags,
                    uint32_t naddrs6, const uint16_t *ports, uint32_t nports, char *err,
                    unsigned long errlen)
{
    struct xdp_program *p = f->prog;
    int addrs_fd = map_fd(p, "ssdk_addrs6"), ports_fd = map_fd(p, "ssdk_ports6");
    if (addrs_fd < 0 || ports_fd < 0) {
        snprintf(err, errlen, "ssdk's XDP program has no map %s",
                 addrs_fd < 0 ? "ssdk_addrs6" : "ssdk_ports6");
        return -1;
    }
    /* Every (address, port) pair, as for IPv4. A full map (more pairs than the program
     * declares) fails here, at start, rather than leaving a pair to the kernel. */
    for (uint32_t i = 0; i < naddrs6; i++) {
        const uint8_t *a = addrs6 + 16u * i;
        uint32_t v = addr6_flags[i] & ADDR_ARP_ICMP;
        if (bpf_map_update_elem(addrs_fd, a, &v, BPF_ANY)) {
            snprintf(err, errlen, "filling ssdk_addrs6: %s", strerror(errno));
            return -1;
        }
        for (uint32_t j = 0; j < nports; j++) {
            struct port6_key k = {.port = htons(ports[j]), .pad = 0};
            memcpy(k.addr, a, sizeof(k.addr));
            uint32_t one = 1;
            if (bpf_map_update_elem(ports_fd, &k, &one, BPF_ANY)) {
                snprintf(err, errlen, "filling ssdk_ports6: %s", strerror(errno));
                return -1;
            }
        }
    }
    return 0;
}

int xdp_filter_map_fd(const struct xdp_filter *f) { return f->xsks_fd; }

uint32_t xdp_filter_mode(const struct xdp_filter *f)
{
    return f->mode == XDP_MODE_SKB ? NIC_XDP_SKB : NIC_XDP_NATIVE;
}

int xdp_filter_shared(const struct xdp_filter *f) { return f->shared; }

int xdp_filter_test_run(struct xdp_filter *f, const uint8_t *frame, uint32_t len)
{
    /* The kernel may write to the frame (a program may); ours only reads, but the input
     * is the caller's, so a copy goes in. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, frame, len);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = copy, .data_size_in = len);
    int rc = xdp_program__test_run(f->prog, &opts, 0);
    free(copy);
    return rc ? (rc < 0 ? rc : -rc) : (int)opts.retval;
}

void xdp_filter_detach(struct xdp_filter *f)
{
    if (!f)
        return;
    libxdp_print_fn_t old_xdp = libxdp_set_print(quiet_xdp);
    libbpf_print_fn_t old_bpf = libbpf_set_print(quiet_bpf);
    xdp_program__detach(f->prog, f->ifindex, f->mode, 0);
    xdp_program__close(f->prog);
    libxdp_set_print(old_xdp);
    libbpf_set_print(old_bpf);
    free(f);
}
