/*
 * loop.c - the engine's life and its event loop.
 *
 * Python -> ssdk_engine_new -> tcp_init (tcp/: the pool; serve.c's upcalls registered)
 *        -> ssdk_nic_* (nic/) -> ssdk_table_load (resp.c)
 *        -> ssdk_run -> ssdk_poll -> nic->rx_burst -> eth_input (net/) ... -> nic->rx_release
 *                                 -> timer_run, tw_run (tcp/)
 *                                 -> dyn_flush (dyn_conn.c) -> rxbuf_wake, tcp_tx_run (tcp/)
 *                                 -> nic->tx_flush
 *
 * One pass handles a burst of received frames to completion, then the timers, then the
 * application's answers; what all of them made ready to send goes in the transmit round
 * (tcp/tcp_sched.c: each connection in turn, paced), and every frame built during the
 * pass is pushed to the NIC at once. ssdk_run repeats passes while there is work and
 * sleeps in ppoll() when there is none (or only paced connections whose time has not
 * come), so an idle server uses next to no CPU.
 */
#define _GNU_SOURCE  /* ppoll */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "base/clock.h"
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
    cfg->send_timeout_ms = 60000;  /* nginx's send_timeout */
    cfg->body_timeout_ms = 60000;  /* nginx's client_body_timeout */
    cfg->options = 15;  /* timestamps, SACK, loss probes, pacing */
    cfg->syn_backlog = 1024;
    cfg->synack_retries = 5;  /* Linux's tcp_synack_retries: about 63 s at a 1 s RTO */
}

static void clock_tick(struct ssdk_engine *e)
{
    if (!e->tcp.net.cfg.virtual_clock)
        e->tcp.net.now_us = mono_us();
}

int ssdk_engine_new(const struct ssdk_config *cfg, struct ssdk_engine **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    SSDK_DEBUG_ONLY(hp_grammar_check());
    if (cfg->max_conns == 0 || cfg->max_conns > CONNS_MAX) {
        snprintf(err, errlen, "max_conns must be between 1 and %u", CONNS_MAX);
        return -1;
    }
    if (cfg->rto_min_ms == 0 || cfg->rto_min_ms > cfg->rto_max_ms) {
        snprintf(err, errlen, "RTO bounds are inconsistent (%u ms minimum, %u ms maximum)",
                 cfg->rto_min_ms, cfg->rto_max_ms);
        return -1;
    }
    if (cfg->synack_retries > SYNACK_RETRIES_MAX) {
        /* the count of resends is a byte of the control block (timer.retries) */
        snprintf(err, errlen, "synack_retries must be at most %u", SYNACK_RETRIES_MAX);
        return -1;
    }
    struct ssdk_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct net *n = &e->tcp.net;
    n->cfg = *cfg;
    if (n->cfg.rto_init_ms < n->cfg.rto_min_ms)
        n->cfg.rto_init_ms = n->cfg.rto_min_ms;  /* a raised minimum raises the start too */
    if (net_addrs_set(n, cfg, err, errlen)) {
        free(e);
        return -1;
    }
    memcpy(n->mac, cfg->mac, 6);
    n->st = &e->st_own;
    e->tcp.ports_be[TCP_PORT_HTTP] = __builtin_bswap16(cfg->port);
    e->tcp.ports_be[TCP_PORT_TLS] = __builtin_bswap16(cfg->tls_port);
    e->tcp.mss_max = TABLE_MSS_DEFAULT;  /* until a table says its own */
    e->hconns = calloc(cfg->max_conns, sizeof(struct hconn));
    /* The pools of what connections hold only while in use (base/slab.h), sized so that they
     * cannot run dry: a full queue on every connection, a request block on each. */
    int pools = slab_init(&e->resp_slab, cfg->max_conns * RESPQ_MAX, sizeof(struct resp),
                          offsetof(struct resp, next))
                | slab_init(&e->req_slab, cfg->max_conns, sizeof(struct hreq),
                            offsetof(struct hreq, link));
    e->resps = (struct resp *)e->resp_slab.base;
    e->reqs = (struct hreq *)e->req_slab.base;
    /* a token for every place of every queue (dyn_conn.c), and one call's records */
    e->dyn_batch = malloc((size_t)cfg->max_conns * RESPQ_MAX * sizeof(uint64_t));
    e->dyn_reqs = malloc(DYN_CALL_MAX * sizeof(struct ssdk_request));
    e->dyn_handed = malloc(DYN_CALL_MAX * sizeof(struct dyn_in *));
    clock_tick(e);
    if (!e->hconns || pools || !e->dyn_batch || !e->dyn_reqs || !e->dyn_handed
        || tcp_init(&e->tcp, &http_upcalls) || https_init(e)) {
        ssdk_engine_free(e);
        snprintf(err, errlen, "out of memory for %u connections", cfg->max_conns);
        return -1;
    }
    uint64_t *secret = e->tcp.isn_secret;
    if (cfg->seed) {
        secret[0] = cfg->seed;
        secret[1] = cfg->seed * 0x9e3779b97f4a7c15ull;
    } else if (getrandom(secret, 2 * sizeof(*secret), 0) != 2 * sizeof(*secret)) {
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
    if (e->tcp.net.nic)
        e->tcp.net.nic->destroy(e->tcp.net.nic);
    tcp_free(&e->tcp);
    if (e->hconns) {  /* requests with the application, answers not yet acknowledged, and
                         requests in part: in the slots ever used (tcp_free leaves
                         conn_bump as it was) */
        for (uint32_t i = 0; i < e->tcp.conn_bump; i++) {
            resp_drop_all(e, &e->hconns[i]);
            req_drop(e, &e->hconns[i]);
        }
        /* every entry was some slot's: none is left in use */
        SSDK_ASSERT(!e->resp_slab.base || e->resp_slab.used == 0);
        SSDK_ASSERT(!e->req_slab.base || e->req_slab.used == 0);
        SSDK_DEBUG_ONLY(slab_check(&e->resp_slab));
        SSDK_DEBUG_ONLY(slab_check(&e->req_slab));
    }
    https_free(e);
    free(e->hconns);
    slab_free(&e->resp_slab);
    slab_free(&e->req_slab);
    answer_free(e);
    free(e->dyn_batch);
    free(e->dyn_reqs);
    free(e->dyn_handed);
    free(e->dyn_routes);
    free(e);
}

static int attach(struct ssdk_engine *e, struct nic *n, char *err, size_t errlen)
{
    if (!n)
        return -1;
    if (e->tcp.net.nic) {
        n->destroy(n);
        snprintf(err, errlen, "the engine already has a backend");
        return -1;
    }
    e->tcp.net.nic = n;
    if (n->has_mac)
        memcpy(e->tcp.net.mac, n->mac, 6);
    net_start(&e->tcp.net);  /* an MLD report for our IPv6 groups, sent with the first pass */
    return 0;
}

/* For backends attached from other files (netmap_api.c). */
int engine_attach(struct ssdk_engine *e, struct nic *n, char *err, size_t errlen)
{
    return attach(e, n, err, errlen);
}

int ssdk_nic_memory(struct ssdk_engine *e, uint32_t ring_frames, char *err, size_t errlen)
{
    return attach(e, nic_memory_new(ring_frames, 0, err, errlen), err, errlen);
}

int ssdk_nic_memory_gso(struct ssdk_engine *e, uint32_t ring_frames, uint32_t gso_max,
                        char *err, size_t errlen)
{
    if (!gso_max) {
        snprintf(err, errlen, "gso_max must be above 0 (ssdk_nic_memory has none)");
        return -1;
    }
    return attach(e, nic_memory_new(ring_frames, gso_max, err, errlen), err, errlen);
}

/* The backend TCP sends through, the wrapper if there is one (which offers none). */
uint32_t ssdk_nic_gso_max(struct ssdk_engine *e)
{
    return e->tcp.net.nic ? e->tcp.net.nic->gso_max : 0;
}

int ssdk_nic_af_packet(struct ssdk_engine *e, const char *ifname, uint32_t ring_frames,
                       uint16_t fanout, char *err, size_t errlen)
{
    unsigned opts = e->tcp.net.cfg.gso ? NIC_AFP_GSO : 0;
    struct nic *n = nic_af_packet_open(ifname, ring_frames, opts, fanout, err, errlen);
    uint8_t macs[NET_ADDRS_MAX][6];
    uint32_t k = n ? net_group_macs(&e->tcp.net, macs) : 0;
    for (uint32_t i = 0; i < k; i++)  /* a NIC filters multicast: the groups get through */
        if (nic_af_packet_join(n, macs[i], err, errlen)) {
            n->destroy(n);
            return -1;
        }
    return attach(e, n, err, errlen);
}

int ssdk_nic_tap(struct ssdk_engine *e, const char *ifname, char *err, size_t errlen)
{
    return attach(e, nic_tap_new(ifname, e->tcp.net.cfg.gso != 0, err, errlen), err, errlen);
}

#define NO_AF_XDP "ssdk was built without AF_XDP: install libxdp-dev and libbpf-dev and rebuild"

/* Refused, with what to do about it, when the build had no <xdp/xsk.h>. */
int ssdk_nic_af_xdp(struct ssdk_engine *e, const char *ifname, uint32_t queue,
                    uint32_t ring_frames, uint32_t flags, int xsks_map_fd, char *err,
                    size_t errlen)
{
#ifdef SSDK_HAVE_AF_XDP
    return attach(e, nic_af_xdp_new(ifname, queue, ring_frames, flags, xsks_map_fd, err,
                                    errlen), err, errlen);
#else
    (void)e, (void)ifname, (void)queue, (void)ring_frames, (void)flags, (void)xsks_map_fd;
    snprintf(err, errlen, NO_AF_XDP);
    return -1;
#endif
}

int ssdk_xdp_filter_attach(const char *ifname, const char *obj, uint32_t flags,
                           const uint32_t *addrs, const uint32_t *addr_flags, uint32_t naddrs,
                           const uint16_t *ports, uint32_t nports,
                           struct ssdk_xdp_filter **out, char *err, size_t errlen)
{
#ifdef SSDK_HAVE_AF_XDP
    struct xdp_filter *f = xdp_filter_attach(ifname, obj, flags, addrs, addr_flags, naddrs,
                                             ports, nports, err, errlen);
    *out = (struct ssdk_xdp_filter *)f;
    return f ? 0 : -1;
#else
    (void)ifname, (void)obj, (void)flags, (void)addrs, (void)addr_flags, (void)naddrs;
    (void)ports, (void)nports;
    *out = NULL;
    snprintf(err, errlen, NO_AF_XDP);
    return -1;
#endif
}

int ssdk_xdp_filter_map_fd(struct ssdk_xdp_filter *f)
{
#ifdef SSDK_HAVE_AF_XDP
    return xdp_filter_map_fd((struct xdp_filter *)f);
#else
    (void)f;
    return -1;
#endif
}

uint32_t ssdk_xdp_filter_mode(struct ssdk_xdp_filter *f)
{
#ifdef SSDK_HAVE_AF_XDP
    return xdp_filter_mode((struct xdp_filter *)f);
#else
    (void)f;
    return 0;
#endif
}

int ssdk_xdp_filter_shared(struct ssdk_xdp_filter *f)
{
#ifdef SSDK_HAVE_AF_XDP
    return xdp_filter_shared((struct xdp_filter *)f);
#else
    (void)f;
    return 0;
#endif
}

int ssdk_xdp_filter_test_run(struct ssdk_xdp_filter *f, const uint8_t *frame, uint32_t len)
{
#ifdef SSDK_HAVE_AF_XDP
    return xdp_filter_test_run((struct xdp_filter *)f, frame, len);
#else
    (void)f, (void)frame, (void)len;
    return -ENOSYS;
#endif
}

void ssdk_xdp_filter_detach(struct ssdk_xdp_filter *f)
{
#ifdef SSDK_HAVE_AF_XDP
    xdp_filter_detach((struct xdp_filter *)f);
#else
    (void)f;
#endif
}

/* The classic BPF program (struct sock_filter[n], 8 bytes each) on the AF_PACKET socket
 * at the bottom of any wrappers. */
int ssdk_nic_socket_filter(struct ssdk_engine *e, const uint8_t *prog, uint32_t n,
                           char *err, size_t errlen)
{
    struct nic *base = e->tcp.net.nic ? nic_base(e->tcp.net.nic) : NULL;
    if (!base || strcmp(base->name, "af_packet") != 0) {
        snprintf(err, errlen, "a socket filter needs the AF_PACKET backend");
        return -1;
    }
    return nic_af_packet_filter(base, prog, n, err, errlen);
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
    struct nic *n = e->tcp.net.nic ? nic_base(e->tcp.net.nic) : NULL;
    return n && n->mode ? n->mode : "";
}

void ssdk_mac_get(struct ssdk_engine *e, uint8_t mac[6]) { memcpy(mac, e->tcp.net.mac, 6); }

/* Through any wrapper (nic_impair.c), to the in-memory rings at the bottom. */
int ssdk_mem_inject(struct ssdk_engine *e, const uint8_t *frame, uint32_t len)
{
    return e->tcp.net.nic ? nic_memory_inject(nic_base(e->tcp.net.nic), frame, len) : -1;
}

int ssdk_mem_take(struct ssdk_engine *e, uint8_t *buf, uint32_t cap)
{
    return e->tcp.net.nic ? nic_memory_take(nic_base(e->tcp.net.nic), buf, cap) : -1;
}

/*
 * One pass of the loop; returns the number of frames received. Receiving drains the
 * ring (in bursts, up to RX_PASS_MAX frames) before anything is sent: on a veth the
 * peer's stack runs inside our transmit call and answers into our RX ring while we send,
 * so a pass that read less than a pass provokes would fall behind and drop ACKs.
 */
int ssdk_poll(struct ssdk_engine *e)
{
    if (!e->tcp.net.nic)
        return -1;
    clock_tick(e);
    date_tick(e);
    e->tcp.tx_budget = TX_PASS_BUDGET;
    struct frame burst[RX_BURST];
    unsigned total = 0, n;
    do {
        n = e->tcp.net.nic->rx_burst(e->tcp.net.nic, burst, RX_BURST);
        for (unsigned i = 0; i < n; i++) {
            if (i + 1 < n)
                __builtin_prefetch(burst[i + 1].data);
            eth_input(&e->tcp.net, &burst[i]);
        }
        if (n)
            e->tcp.net.nic->rx_release(e->tcp.net.nic, n);
        total += n;
    } while (n == RX_BURST && total < RX_PASS_MAX);
    net_tick(&e->tcp.net);  /* the MLD report repeated (nd6.c) */
    timer_run(&e->tcp);
    tw_run(&e->tcp);
    if (e->ndyn_batch)  /* the application answers now; what it sends goes this pass */
        dyn_flush(e);
    /* Receive buffers that came back in this pass (a request read, a 408, a close, an
     * answer that closes) reopen the windows shown closed for want of one: after all of
     * those, so that none waits for another pass that may be a sleep away. */
    if (rxbuf_waiting(&e->tcp))
        rxbuf_wake(&e->tcp);
    if (tcp_tx_waiting(&e->tcp))
        tcp_tx_run(&e->tcp);
    e->tcp.net.nic->tx_flush(e->tcp.net.nic);
    return (int)total;
}

int ssdk_run(struct ssdk_engine *e, uint32_t ms)
{
    if (!e->tcp.net.nic || e->tcp.net.cfg.virtual_clock)
        return -1;
    clock_tick(e);
    uint64_t end = e->tcp.net.now_us + (uint64_t)ms * 1000u;
    int total = 0;
    while (e->tcp.net.now_us < end) {
        int n = ssdk_poll(e);
        if (n < 0)
            return n;
        total += n;
        uint64_t pace_at = tcp_tx_waiting(&e->tcp) ? e->tcp.tx_wake_us : UINT64_MAX;
        if (n > 0 || pace_at <= e->tcp.net.now_us)
            continue;
        /* Idle: sleep until a frame comes, the next timer is due, or the slice ends. An
         * idle keep-alive connection thus costs no wake-ups until its own timer. Timers
         * count whole milliseconds; a frame the backend holds (an impairment's delay or
         * rate) and a paced connection fall due to the microsecond, and a wait rounded
         * up to a millisecond would add as much to a delay line of one. */
        int fd = e->tcp.net.nic->fd(e->tcp.net.nic);
        uint64_t now_us = e->tcp.net.now_us, wait_us = end - now_us;
        uint64_t next = timer_next_ms(&e->tcp), now = now_ms(&e->tcp.net);
        uint64_t timer_ms = next > now ? next - now : 0;
        if (e->tcp.tw.count && timer_ms > 1000)
            timer_ms = 1000;  /* TIME-WAIT entries expire on a pass: check once a second */
        if (timer_ms * 1000u < wait_us)
            wait_us = timer_ms * 1000u;
        if (e->tcp.net.nic->next_due_us) {  /* a frame the backend holds falls due */
            uint64_t due = e->tcp.net.nic->next_due_us(e->tcp.net.nic);
            if (due <= now_us)
                wait_us = 0;
            else if (due - now_us < wait_us)
                wait_us = due - now_us;
        }
        if (pace_at != UINT64_MAX && pace_at - now_us < wait_us)
            wait_us = pace_at - now_us;  /* a paced connection falls due */
        struct timespec ts = us_timespec(wait_us);
        if (fd >= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            ppoll(&p, 1, &ts, NULL);
        } else if (pace_at != UINT64_MAX) {
            nanosleep(&ts, NULL);
        }
        clock_tick(e);
    }
    if (e->tcp.net.nic->rx_dropped)  /* a gauge the kernel keeps: refreshed once a slice */
        e->tcp.net.st->drop_rx_ring = e->tcp.net.nic->rx_dropped(e->tcp.net.nic);
    return total;
}

void ssdk_clock_set(struct ssdk_engine *e, uint64_t now_us)
{
    if (e->tcp.net.cfg.virtual_clock && now_us >= e->tcp.net.now_us)
        e->tcp.net.now_us = now_us;
}

uint64_t ssdk_clock_now(struct ssdk_engine *e) { return e->tcp.net.now_us; }

void ssdk_stats_get(struct ssdk_engine *e, struct ssdk_stats *out)
{
    if (e->tcp.net.nic)
        e->tcp.net.st->drop_rx_ring = e->tcp.net.nic->rx_dropped(e->tcp.net.nic);
    *out = *e->tcp.net.st;
}

/* From now on the counters live at `mem` (shared memory that `ssdk stats` reads while
 * the engine runs); they carry on from their current values. */
void ssdk_stats_share(struct ssdk_engine *e, struct ssdk_stats *mem)
{
    *mem = *e->tcp.net.st;
    e->tcp.net.st = mem;
}

/* --- the impairment layer (nic/nic_impair.c) on the engine's backend -------------- */

#define IMPAIR_POOL_FRAMES 4096u  /* per impaired direction of an engine: 8 MB */

int ssdk_impair(struct ssdk_engine *e, const struct ssdk_impair *rx,
                const struct ssdk_impair *tx, uint64_t seed, char *err, size_t errlen)
{
    struct net *n = &e->tcp.net;
    if (!n->nic) {
        snprintf(err, errlen, "attach a backend before impairing it");
        return -1;
    }
    if (nic_is_impair(n->nic)) {
        snprintf(err, errlen, "the backend is impaired already");
        return -1;
    }
    struct nic *w = nic_impair_new(n->nic, rx, tx, seed, &n->now_us, IMPAIR_POOL_FRAMES, err,
                                   errlen);
    if (!w)
        return -1;
    n->nic = w;
    return 0;
}

void ssdk_impair_stats(struct ssdk_engine *e, struct ssdk_impair_stats *rx,
                       struct ssdk_impair_stats *tx)
{
    nic_impair_stats(e->tcp.net.nic, rx, tx);
}
