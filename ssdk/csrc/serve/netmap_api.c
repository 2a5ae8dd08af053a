/*
 * netmap_api.c - ssdk.h's netmap calls: the backend on /dev/netmap, and (for tests
 * only) the same backend over the in-process emulation of the kernel's side.
 *
 * Python Engine.attach_netmap -> ssdk_nic_netmap -> nic_netmap_new(libc's calls)
 * tests/stack -> ssdk_netmap_emu_new -> ssdk_nic_netmap_emulated
 *             -> nic_netmap_new(the emulation's calls) ... ssdk_netmap_emu_of
 */
#include <stdio.h>
#include "nic/nic.h"
#include "serve/engine.h"
#include "ssdk.h"

int ssdk_nic_netmap(struct ssdk_engine *e, const char *ifname, uint32_t ring, char *err,
                    size_t errlen)
{
    return engine_attach(e, nic_netmap_new(ifname, ring, NULL, err, errlen), err, errlen);
}

int ssdk_nic_netmap_emulated(struct ssdk_engine *e, struct ssdk_netmap_emu *m,
                             const char *ifname, uint32_t ring, char *err, size_t errlen)
{
    if (!m) {
        snprintf(err, errlen, "no netmap emulation given");
        return -1;
    }
    return engine_attach(e, nic_netmap_new(ifname, ring, ssdk_netmap_emu_sys(m), err, errlen),
                         err, errlen);
}

struct ssdk_netmap_emu *ssdk_netmap_emu_of(struct ssdk_engine *e)
{
    return netmap_emu_from_ctx(nic_netmap_ctx(nic_base(e->tcp.net.nic)));
}
