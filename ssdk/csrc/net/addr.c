/*
 * addr.c - our addresses, from the configuration (ssdk_config.addrs, or ip alone).
 *
 * serve/loop.c (ssdk_engine_new) -> net_addrs_set
 *
 * Each becomes a struct ip_addr (net.h: IPv4 mapped into IPv6), with its version beside
 * it; the layers above name one by its index. An address that cannot be ours, a prefix
 * too long, or an address given twice is refused with a message.
 */
#include <stdio.h>
#include <string.h>
#include "net/net.h"

_Static_assert(sizeof(((struct ssdk_config *)0)->addrs) / sizeof(struct ssdk_addr)
                   == NET_ADDRS_MAX, "the configuration holds what net/ keeps");

/* Why the address a cannot be ours, or NULL (RFC 4291 2.4, 2.5.2, 2.5.5.2). */
static const char *addr_refusal(const struct ssdk_addr *a)
{
    static const uint8_t zero[12], mapped[12] = {[10] = 0xff, [11] = 0xff};
    if (!a->v6)
        return a->prefix > 32 ? "an IPv4 prefix is at most 32" : NULL;
    if (a->prefix > 128)
        return "an IPv6 prefix is at most 128";
    if (a->addr[0] == 0xff)
        return "a multicast address";
    if (!memcmp(a->addr, zero, 12) || !memcmp(a->addr, mapped, 12))
        return "unspecified, loopback, or IPv4 in IPv6 (give IPv4 addresses as A.B.C.D)";
    return NULL;
}

int net_addrs_set(struct net *n, const struct ssdk_config *cfg, char *err, size_t errlen)
{
    if (!cfg->naddrs) {
        n->addr[0] = ip_addr_v4(__builtin_bswap32(cfg->ip));
        n->naddr = 1;
        return 0;
    }
    if (cfg->naddrs > NET_ADDRS_MAX) {
        snprintf(err, errlen, "at most %u addresses", NET_ADDRS_MAX);
        return -1;
    }
    for (uint32_t i = 0; i < cfg->naddrs; i++) {
        const struct ssdk_addr *a = &cfg->addrs[i];
        const char *why = addr_refusal(a);
        if (why) {
            snprintf(err, errlen, "address %u: %s", i + 1, why);
            return -1;
        }
        struct ip_addr x;
        if (a->v6) {
            memcpy(x.b, a->addr, 16);
        } else {
            uint32_t be;
            memcpy(&be, a->addr + 12, 4);
            x = ip_addr_v4(be);
        }
        for (uint32_t k = 0; k < i; k++)
            if (ip_addr_eq(&n->addr[k], &x)) {
                snprintf(err, errlen, "address %u is given twice", i + 1);
                return -1;
            }
        n->addr[i] = x;
        n->addr_v6[i] = a->v6 != 0;
        n->has_v6 |= n->addr_v6[i];
    }
    n->naddr = (uint8_t)cfg->naddrs;
    return 0;
}

