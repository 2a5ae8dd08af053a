/*
 * xdp_filter_api.c - ssdk_xdp_filter_add6, the public entry point (ssdk.h) of the IPv6
 * side of ssdk's XDP program: xdp_filter_add6 (xdp_filter.c) fills its IPv6 maps.
 *
 * Python (engine.XdpFilter) -> ssdk_xdp_filter_attach (serve/loop.c: IPv4)
 *                           -> ssdk_xdp_filter_add6 (here) -> xdp_filter_add6 (IPv6)
 *
 * Compiled in every build, as ssdk.h's other calls are: cffi binds every function that
 * ssdk.h declares, so a build without libxdp (no xdp_filter.c) still needs this one,
 * which then refuses with the same message as ssdk_nic_af_xdp.
 */
#include <stdio.h>
#include "ssdk.h"
#include "nic/nic.h"

int ssdk_xdp_filter_add6(struct ssdk_xdp_filter *f, const uint8_t *addrs6,
                         const uint32_t *addr6_flags, uint32_t naddrs6,
                         const uint16_t *ports, uint32_t nports, char *err, size_t errlen)
{
#ifdef SSDK_HAVE_AF_XDP
    return xdp_filter_add6((struct xdp_filter *)f, addrs6, addr6_flags, naddrs6, ports,
                           nports, err, errlen);
#else
    (void)f, (void)addrs6, (void)addr6_flags, (void)naddrs6, (void)ports, (void)nports;
    snprintf(err, errlen, "ssdk was built without AF_XDP: install libxdp-dev and "
             "libbpf-dev and rebuild");
    return -1;
#endif
}
