/*
 * xdp_quiet.h - print callbacks that keep libxdp and libbpf quiet while nic_af_xdp.c
 * makes sockets and xdp_filter.c attaches ssdk's program: they explain a refused native
 * attach (and a missing bpffs) on stderr before the SKB retry that follows, so what
 * matters comes back through `err` and the start banner instead. Include after
 * <bpf/libbpf.h> and <xdp/libxdp.h>.
 */
#ifndef SSDK_NIC_XDP_QUIET_H
#define SSDK_NIC_XDP_QUIET_H
#include <stdarg.h>

static inline int quiet_xdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    (void)level, (void)fmt, (void)ap;
    return 0;
}

static inline int quiet_bpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level, (void)fmt, (void)ap;
    return 0;
}

#endif
