/*
 * args.c - the command line of connload (usage below), checked into struct cfg.
 */
#include "connload.h"
#include <arpa/inet.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: connload --iface IF --server IP --conns N --get PATH=FILE [--get ...]\n"
    "                [--port 80] [--src-net 198.19.0.0/16] [--addrs 1024] [--port-lo 1024]\n"
    "                [--rate 100000] [--window 256] [--rto 250] [--tries 6]\n"
    "                [--open-timeout 120] [--hold 0] [--progress 1] [--reset]\n"
    "                [--reset-rounds 3] [--server-mac aa:bb:cc:dd:ee:ff] [--seed N]\n"
    "Opens N TCP connections to IP:port from raw frames on IF, one GET per connection\n"
    "(the paths in turn), checks each body against its FILE (length, CRC32C), holds\n"
    "the connections for --hold seconds once all are answered (-1: until SIGINT or\n"
    "SIGTERM), resets them on exit with --reset (--reset-rounds times, for lost RSTs).\n"
    "JSON lines on stdout.\n";

static const char *get_specs[MAX_TARGETS];

static int bad(const char *what, const char *v)
{
    fprintf(stderr, "connload: bad %s: %s\n%s", what, v ? v : "(missing)", usage);
    return -1;
}

static int ip4(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

static int cidr(const char *s, uint32_t *net, uint32_t *mask)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = 0;
    char *end;
    long len = strtol(slash + 1, &end, 10);
    if (*end || len < 8 || len > 30 || ip4(buf, net))
        return -1;
    *mask = 0xffffffffu << (32 - len);
    *net &= *mask;
    return 0;
}

static int mac(const char *s, uint8_t out[6])
{
    unsigned b[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)b[i];
    return 0;
}

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return (*end || end == s || *out < lo || *out > hi) ? -1 : 0;
}

static void defaults(struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->dport = 80;
    cidr("198.19.0.0/16", &c->src_net, &c->src_mask);
    c->naddrs = 1024;
    c->port_lo = 1024;
    c->rate = 100000;
    c->window = 256;
    c->rto_ms = 250;
    c->tries = 6;
    c->open_timeout = 120;
    c->progress = 1;
    c->reset_rounds = 3;
    c->seed = (uint32_t)time(NULL) * 2654435761u;
}

/* The settings that hang together: addresses, ports, the server outside our range. */
static int settle(struct cfg *c, int have_ip)
{
    if (!c->ifname[0] || !have_ip || !c->conns || !c->ntargets)
        return bad("arguments", "--iface, --server, --conns and --get are required");
    uint32_t room = ~c->src_mask - 1;  /* neither the network's first nor last address */
    if (c->naddrs > room)
        c->naddrs = room;
    if (c->naddrs > c->conns)
        c->naddrs = c->conns;
    c->nports = (c->conns + c->naddrs - 1) / c->naddrs;
    if ((uint64_t)c->port_lo + c->nports > 65536)
        return bad("--conns", "more than --addrs x (65536 - --port-lo) connections");
    if ((c->dst_ip & c->src_mask) == c->src_net)
        return bad("--src-net", "it holds the server's address");
    for (uint32_t i = 0; i < c->ntargets; i++)
        if (target_add(&c->tg[i], get_specs[i], c->dst_ip))
            return -1;
    return 0;
}

/* The numeric options: the range each takes and the field it sets. */
struct numopt {
    int opt;
    const char *name;
    double lo, hi;
    size_t off;
    char type;  /* 'u': uint32_t, 'h': uint16_t, 'd': double */
};

#define NUM(o, name, lo, hi, field, type) {o, name, lo, hi, offsetof(struct cfg, field), type}
static const struct numopt nums[] = {
    NUM('n', "--conns", 1, 5e7, conns, 'u'),
    NUM('p', "--port", 1, 65535, dport, 'h'),
    NUM('a', "--addrs", 1, 1 << 24, naddrs, 'u'),
    NUM('P', "--port-lo", 1, 65535, port_lo, 'h'),
    NUM('r', "--rate", 1, 1e9, rate, 'd'),
    NUM('w', "--window", 1, 5e7, window, 'u'),
    NUM('R', "--rto", 1, 60000, rto_ms, 'u'),
    NUM('t', "--tries", 1, 100, tries, 'u'),
    NUM('T', "--open-timeout", 0.001, 1e7, open_timeout, 'd'),
    NUM('H', "--hold", -1, 1e9, hold, 'd'),
    NUM('o', "--progress", 0, 1e6, progress, 'd'),
    NUM('e', "--seed", 0, 4294967295.0, seed, 'u'),
    NUM('X', "--reset-rounds", 1, 10, reset_rounds, 'u'),
};

static int set_num(struct cfg *c, int opt, const char *v)
{
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        const struct numopt *o = &nums[i];
        double d;
        if (o->opt != opt)
            continue;
        if (num(v, o->lo, o->hi, &d))
            return bad(o->name, v);
        uint32_t u = (uint32_t)d;
        uint16_t h = (uint16_t)d;
        char *at = (char *)c + o->off;
        if (o->type == 'd')
            memcpy(at, &d, sizeof(d));
        else if (o->type == 'h')
            memcpy(at, &h, sizeof(h));
        else
            memcpy(at, &u, sizeof(u));
        return 0;
    }
    return bad("option", v);
}

static int one(struct cfg *c, int opt, const char *v, int *have_ip)
{
    switch (opt) {
    case 'i':
        if (strlen(v) >= sizeof(c->ifname))
            return bad("--iface", v);
        strcpy(c->ifname, v);
        return 0;
    case 's':
        *have_ip = 1;
        return ip4(v, &c->dst_ip) ? bad("--server", v) : 0;
    case 'g':
        if (c->ntargets == MAX_TARGETS)
            return bad("--get", "more than 8");
        get_specs[c->ntargets++] = v;  /* read once --server is known (Host names it) */
        return 0;
    case 'S':
        return cidr(v, &c->src_net, &c->src_mask) ? bad("--src-net", v) : 0;
    case 'm':
        c->have_dmac = 1;
        return mac(v, c->dmac) ? bad("--server-mac", v) : 0;
    default:
        return set_num(c, opt, v);
    }
}

/* 0 with cfg filled in, or -1 after a message on stderr. */
int args_parse(struct cfg *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"iface", 1, 0, 'i'}, {"server", 1, 0, 's'},   {"conns", 1, 0, 'n'},
        {"get", 1, 0, 'g'},   {"port", 1, 0, 'p'},     {"src-net", 1, 0, 'S'},
        {"addrs", 1, 0, 'a'}, {"port-lo", 1, 0, 'P'},  {"rate", 1, 0, 'r'},
        {"window", 1, 0, 'w'}, {"rto", 1, 0, 'R'},     {"tries", 1, 0, 't'},
        {"open-timeout", 1, 0, 'T'}, {"hold", 1, 0, 'H'}, {"progress", 1, 0, 'o'},
        {"reset", 0, 0, 'x'}, {"reset-rounds", 1, 0, 'X'}, {"server-mac", 1, 0, 'm'},
        {"seed", 1, 0, 'e'},
        {"help", 0, 0, 'h'},  {0, 0, 0, 0},
    };
    int have_ip = 0, opt;
    defaults(c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            exit(0);
        }
        if (opt == 'x') {
            c->reset = 1;
            continue;
        }
        if (opt == '?' || one(c, opt, optarg, &have_ip))
            return opt == '?' ? bad("option", argv[optind - 1]) : -1;
    }
    if (optind != argc)
        return bad("argument", argv[optind]);
    return settle(c, have_ip);
}
