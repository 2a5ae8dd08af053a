/*
 * loop.c - the engine's life and its event loop.
 *
 * Python -> ssdk_engine_new -> ssdk_nic_* -> ssdk_table_load
 *        -> ssdk_run -> ssdk_poll -> nic->rx_burst -> eth_input ... -> nic->rx_release
 *                                 -> timer_run -> tcp_pending_run -> nic->tx_flush
 *
 * One pass handles a burst of received frames to completion, then the timers, then the
 * connections a full TX ring held back, then pushes every frame built during the pass
 * to the NIC at once. ssdk_run repeats passes while there is work and sleeps in poll()
 * when there is none, so an idle server uses next to no CPU.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "serve/engine.h"

void ssdk_config_default(struct ssdk_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mac[0] = 0x02;  /* locally administered */
    cfg->mac[5] = 0x01;
    cfg->port = 80;
    cfg->max_conns = 4096;
    cfg->rx_mss = 1460;
    cfg->rto_init_ms = 1000;  /* RFC 6298 2.1 */
    cfg->rto_min_ms = 200;
    cfg->rto_max_ms = 60000;
    cfg->time_wait_ms = 60000;
    cfg->time_wait_max = 65536;
    cfg->max_retries = 8;
    cfg->idle_ms = 60000;
    cfg->header_timeout_ms = 10000;
    cfg->options = 7;
    cfg->syn_backlog = 1024;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void clock_tick(struct ssdk_engine *e)
{
    if (!e->cfg.virtual_clock)
        e->now_us = mono_us();
}

int ssdk_engine_new(const struct ssdk_config *cfg, struct ssdk_engine **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    SSDK_DEBUG_ONLY(hp_grammar_check());
    if (cfg->max_conns == 0 || cfg->max_conns > (1u << 24)) {
        snprintf(err, errlen, "max_conns must be between 1 and %u", 1u << 24);
        return -1;
    }
    if (cfg->rto_min_ms == 0 || cfg->rto_min_ms > cfg->rto_max_ms) {
        snprintf(err, errlen, "RTO bounds are inconsistent (%u ms minimum, %u ms maximum)",
                 cfg->rto_min_ms, cfg->rto_max_ms);
        return -1;
    }
    struct ssdk_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->cfg = *cfg;
    if (e->cfg.rto_init_ms < e->cfg.rto_min_ms)
        e->cfg.rto_init_ms = e->cfg.rto_min_ms;  /* a raised minimum raises the start too */
    e->ip_be = __builtin_bswap32(cfg->ip);
    e->port_be = __builtin_bswap16(cfg->port);
    memcpy(e->mac, cfg->mac, 6);
    e->st = &e->st_own;
    uint32_t buckets = 1;
    while (buckets < cfg->max_conns * 2)
        buckets <<= 1;
    e->conns = calloc(cfg->max_conns, sizeof(struct conn));
    e->hash = malloc(buckets * sizeof(uint32_t));
    e->pending = malloc(cfg->max_conns * sizeof(uint32_t));
    e->dyn_batch = malloc(cfg->max_conns * sizeof(uint32_t));
    e->dyn_reqs = malloc(cfg->max_conns * sizeof(struct ssdk_request));
    e->incarnation = calloc(cfg->max_conns, sizeof(uint32_t));
    clock_tick(e);
    if (!e->conns || !e->hash || !e->pending || !e->dyn_batch || !e->dyn_reqs
        || !e->incarnation || timer_init(e)
        || tw_init(e, cfg->time_wait_max ? cfg->time_wait_max : 1)) {
        ssdk_engine_free(e);
        snprintf(err, errlen, "out of memory for %u connections", cfg->max_conns);
        return -1;
    }
    e->hash_mask = buckets - 1;
    memset(e->hash, 0xff, buckets * sizeof(uint32_t));
    for (uint32_t i = 0; i < cfg->max_conns; i++)
        e->conns[i].hnext = i + 1 < cfg->max_conns ? i + 1 : NONE32;
    e->free_head = 0;
    if (cfg->seed) {
        e->isn_secret[0] = cfg->seed;
        e->isn_secret[1] = cfg->seed * 0x9e3779b97f4a7c15ull;
    } else if (getrandom(e->isn_secret, sizeof(e->isn_secret), 0) != sizeof(e->isn_secret)) {
        ssdk_engine_free(e);
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -1;
    }
    *out = e;
    return 0;
}

void ssdk_engine_free(struct ssdk_engine *e)
{
    if (!e)
        return;
    if (e->nic)
        e->nic->destroy(e->nic);
    free(e->wheel.slots);
    tw_free(e);
    if (e->conns)  /* requests with the application, answers not yet acknowledged */
        for (uint32_t i = 0; i < e->cfg.max_conns; i++)
            dyn_drop(&e->conns[i]);
    free(e->conns);
    free(e->hash);
    free(e->pending);
    free(e->scratch);
    free(e->dyn_batch);
    free(e->dyn_reqs);
    free(e->incarnation);
    free(e->dyn_routes);
    free(e);
}

static int attach(struct ssdk_engine *e, struct nic *n, char *err, size_t errlen)
{
    if (!n)
        return -1;
    if (e->nic) {
        n->destroy(n);
        snprintf(err, errlen, "the engine already has a backend");
        return -1;
    }
    e->nic = n;
    if (n->has_mac)
        memcpy(e->mac, n->mac, 6);
    return 0;
}

int ssdk_nic_memory(struct ssdk_engine *e, uint32_t ring_frames, char *err, size_t errlen)
{
    return attach(e, nic_memory_new(ring_frames, err, errlen), err, errlen);
}

int ssdk_nic_af_packet(struct ssdk_engine *e, const char *ifname, uint32_t ring_frames,
                       uint16_t fanout, char *err, size_t errlen)
{
    return attach(e, nic_af_packet_new(ifname, ring_frames, fanout, err, errlen), err,
                  errlen);
}

int ssdk_nic_tap(struct ssdk_engine *e, const char *ifname, char *err, size_t errlen)
{
    return attach(e, nic_tap_new(ifname, err, errlen), err, errlen);
}

/* Refused, with what to do about it, when the build had no <xdp/xsk.h>. */
int ssdk_nic_af_xdp(struct ssdk_engine *e, const char *ifname, uint32_t queue,
                    uint32_t ring_frames, uint32_t flags, char *err, size_t errlen)
{
#ifdef SSDK_HAVE_AF_XDP
    return attach(e, nic_af_xdp_new(ifname, queue, ring_frames, flags, err, errlen), err,
                  errlen);
#else
    (void)e, (void)ifname, (void)queue, (void)ring_frames, (void)flags;
    snprintf(err, errlen, "ssdk was built without AF_XDP: install libxdp-dev and "
             "libbpf-dev and rebuild");
    return -1;
#endif
}

int ssdk_have_af_xdp(void)
{
#ifdef SSDK_HAVE_AF_XDP
    return 1;
#else
    return 0;
#endif
}

/* The mode of the backend at the bottom of any wrappers, "" if it names none. */
const char *ssdk_nic_mode(struct ssdk_engine *e)
{
    struct nic *n = e->nic ? nic_base(e->nic) : NULL;
    return n && n->mode ? n->mode : "";
}

void ssdk_mac_get(struct ssdk_engine *e, uint8_t mac[6]) { memcpy(mac, e->mac, 6); }

/* Through any wrapper (nic_impair.c), to the in-memory rings at the bottom. */
int ssdk_mem_inject(struct ssdk_engine *e, const uint8_t *frame, uint32_t len)
{
    return e->nic ? nic_memory_inject(nic_base(e->nic), frame, len) : -1;
}

int ssdk_mem_take(struct ssdk_engine *e, uint8_t *buf, uint32_t cap)
{
    return e->nic ? nic_memory_take(nic_base(e->nic), buf, cap) : -1;
}

/*
 * One pass of the loop; returns the number of frames received. Receiving drains the
 * ring (in bursts, up to RX_PASS_MAX frames) before anything is sent: on a veth the
 * peer's stack runs inside our transmit call and answers into our RX ring while we send,
 * so a pass that read less than a pass provokes would fall behind and drop ACKs.
 */
int ssdk_poll(struct ssdk_engine *e)
{
    if (!e->nic)
        return -1;
    clock_tick(e);
    date_tick(e);
    e->tx_budget = TX_PASS_BUDGET;
    struct frame burst[RX_BURST];
    unsigned total = 0, n;
    do {
        n = e->nic->rx_burst(e->nic, burst, RX_BURST);
        for (unsigned i = 0; i < n; i++) {
            if (i + 1 < n)
                __builtin_prefetch(burst[i + 1].data);
            eth_input(e, &burst[i]);
        }
        if (n)
            e->nic->rx_release(e->nic, n);
        total += n;
    } while (n == RX_BURST && total < RX_PASS_MAX);
    timer_run(e);
    tw_run(e);
    if (e->npending)
        tcp_pending_run(e);
    if (e->ndyn_batch)  /* the application answers now; what it sends goes this pass */
        dyn_flush(e);
    e->nic->tx_flush(e->nic);
    return (int)total;
}

int ssdk_run(struct ssdk_engine *e, uint32_t ms)
{
    if (!e->nic || e->cfg.virtual_clock)
        return -1;
    clock_tick(e);
    uint64_t end = e->now_us + (uint64_t)ms * 1000u;
    int total = 0;
    while (e->now_us < end) {
        int n = ssdk_poll(e);
        if (n < 0)
            return n;
        total += n;
        if (n > 0 || e->npending)
            continue;
        /* Idle: sleep until a frame comes, the next timer is due, or the slice ends. An
         * idle keep-alive connection thus costs no wake-ups until its own timer. */
        int fd = e->nic->fd(e->nic);
        uint64_t left_ms = (end - e->now_us) / 1000u;
        uint64_t next = timer_next_ms(e), now = now_ms(e);
        uint64_t wait = next > now ? next - now : 0;
        if (e->tw.count && wait > 1000)
            wait = 1000;  /* TIME-WAIT entries expire on a pass: check once a second */
        int timeout = (int)(left_ms ? left_ms : 1);
        if (wait < (uint64_t)timeout)
            timeout = (int)wait;
        if (e->nic->next_due_us) {  /* a frame the backend holds falls due */
            uint64_t due = e->nic->next_due_us(e->nic);
            uint64_t wait_ms = due <= e->now_us ? 0 : (due - e->now_us + 999) / 1000;
            if (wait_ms < (uint64_t)timeout)
                timeout = (int)wait_ms;
        }
        if (fd >= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, timeout);
        }
        clock_tick(e);
    }
    if (e->nic->rx_dropped)  /* a gauge the kernel keeps: refreshed once a slice */
        e->st->drop_rx_ring = e->nic->rx_dropped(e->nic);
    return total;
}

void ssdk_clock_set(struct ssdk_engine *e, uint64_t now_us)
{
    if (e->cfg.virtual_clock && now_us >= e->now_us)
        e->now_us = now_us;
}

uint64_t ssdk_clock_now(struct ssdk_engine *e) { return e->now_us; }

void ssdk_stats_get(struct ssdk_engine *e, struct ssdk_stats *out)
{
    if (e->nic)
        e->st->drop_rx_ring = e->nic->rx_dropped(e->nic);
    *out = *e->st;
}

/* From now on the counters live at `mem` (shared memory that `ssdk stats` reads while
 * the engine runs); they carry on from their current values. */
void ssdk_stats_share(struct ssdk_engine *e, struct ssdk_stats *mem)
{
    *mem = *e->st;
    e->st = mem;
}
