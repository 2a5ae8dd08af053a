/*
 * bench/connload - a load generator that opens up to millions of TCP connections to one
 * server from one client network namespace, with no kernel socket per connection: TCP
 * is spoken in raw frames on an AF_PACKET socket (ring.c). Each connection makes one
 * HTTP request, checks the response's length and the CRC32C of its body,
 * then stays open, sending nothing. Built by bench/connload.py:
 *   gcc -O2 -Wall -Wextra -Werror main.c args.c conn.c http.c pkt.c ring.c -o connload
 *
 * Design
 *
 * Addresses. Connections come from addresses the client namespace's kernel does not
 * own, 198.19.0.0/16 by default (the client's own address and the server's are in
 * 198.18.0.0/16): connection i uses address net+1 + i % addrs and port port_lo +
 * i / addrs (pkt.c), so ports never run out (1024 addresses x 64512 ports). The server
 * answers to the source MAC of what it received (ours), so its replies reach the
 * client's interface, where the kernel finds an IPv4 destination that is not its own
 * and, with forwarding off, drops it without a word: no RST, no ICMP. connload checks
 * both conditions before it sends anything (kernel_out below): forwarding off on the
 * interface, and none of the addresses the kernel's own (an address or a local route).
 * It answers ARP for its addresses anyway, as a host would, and learns the server's MAC
 * by ARP unless given --server-mac.
 *
 * State. One 20-byte struct conn per connection in a flat array, the index derived from
 * a reply's destination address and port (20 MB for a million): state, the next byte
 * expected, body bytes still due, the running checksum, a timestamp and a try count.
 * Our ISN, the path and the request are functions of the index (conn.c).
 *
 * Checksum. CRC32C of the body, updated as in-order bytes arrive: 4 bytes of state, one
 * instruction per 8 bytes, and easy to compute again from the file in any language
 * (http.c says why not more).
 *
 * Pace. SYNs go out at --rate per second, never more than --window connections opened
 * and not yet answered, so the server's SYN backlog and transmit ring and our rings are
 * not flooded; a SYN-ACK with a cookie is as good as any. The request rides on the
 * handshake's ACK. Timeouts start at --rto ms and double; after --tries sends a
 * connection fails and is reset. Data is taken only in order (the server resends the
 * rest). A round trip costs about one receive-block timeout (ring.c: a jiffy), so the
 * window sets the rate: 256 connections per two round trips, some 35,000 a second.
 *
 * Phases and output (JSON lines on stdout, one object each, "event" says which):
 *   start        the settings, the targets' lengths and checksums, the server's MAC
 *   progress     every --progress seconds, and on SIGUSR1: counts so far
 *   established  all connections established: "t", seconds since start
 *   answered     every connection answered or failed (or --open-timeout ran out)
 *   holding      the connections are held open for --hold s (-1: until a signal)
 *   final        everything: counts, errors by kind, times, frames
 * SIGINT or SIGTERM ends any phase; with --reset every open connection gets a RST
 * (exact sequence, so the server frees it at once; in bursts of RESET_BURST, so the
 * server's receive ring is not overrun; --reset-rounds times, 3 by default, as a lost
 * one would leave the connection to the server's idle timeout), a "reset"
 * line after each round, then the final line. Exit status 0
 * if every connection was answered and none failed or was lost while held (reset or
 * closed by the server), 1 otherwise, 2 for bad usage or a setup that cannot work.
 */
#include "connload.h"
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_MS 20
#define OPEN_BURST 512    /* SYNs per pass of the loop, at most */
#define ACKQ_CAP 65536
#define LINGER_MS 100     /* after each round of resets: time to answer a challenge ACK */
#define RESET_BURST 256   /* RSTs per burst at exit */
#define RESET_GAP_MS 2    /* between those bursts: 1-2 ms, as now_ms counts whole ms */
#define ARP_TRIES 15
#define ARP_WAIT_MS 200

static volatile sig_atomic_t stop, want_progress;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    want_progress = 1;
}

static double secs(const struct lg *g)
{
    return now_ms(g) / 1000.0;
}

static uint64_t errors(const struct counters *c)
{
    return c->err_rst + c->err_syn_timeout + c->err_resp_timeout + c->err_status
           + c->err_length + c->err_checksum + c->err_closed + c->err_not_opened;
}

static void ip_str(uint32_t a, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}

/* 1 if this namespace's kernel takes addr as its own: it then picks addr itself as the
 * source for a datagram to it (a local route), whatever ip_nonlocal_bind says. A fresh
 * socket each time: a connected one keeps the source of its first connect. */
static int kernel_owns(uint32_t addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9),
                             .sin_addr.s_addr = htonl(addr)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM, 0), own = 0;
    if (fd < 0)
        return -1;
    if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {  /* else no route: not its own */
        sa.sin_addr.s_addr = 0;
        own = !getsockname(fd, (struct sockaddr *)&sa, &len) && ntohl(sa.sin_addr.s_addr) == addr;
    }
    close(fd);
    return own;
}

/* The kernel of this namespace must never answer for our addresses (see the top). */
static int kernel_out(const struct cfg *c)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", c->ifname);
    FILE *f = fopen(path, "r");
    int fwd = f && fgetc(f) == '1';
    if (f)
        fclose(f);
    if (fwd) {
        fprintf(stderr, "connload: %s forwards IPv4: the kernel would route the server's "
                        "replies to our addresses\n", c->ifname);
        return -1;
    }
    for (uint32_t i = 0; i < c->naddrs; i++) {
        int own = kernel_owns(c->src_net + 1 + i);
        if (own) {
            char a[16];
            ip_str(c->src_net + 1 + i, a);
            if (own < 0)
                perror("connload: socket");
            else
                fprintf(stderr, "connload: %s is this namespace's own address: its kernel "
                                "would reset our connections\n", a);
            return -1;
        }
    }
    return 0;
}

/* The server's MAC by ARP, asked from our first address. */
static int resolve(struct lg *g)
{
    for (int i = 0; i < ARP_TRIES && !g->cfg.have_dmac && !stop; i++) {
        uint8_t *f = ring_tx_slot(g->ring);
        if (f)
            ring_tx_commit(g->ring, pkt_arp(&g->cfg, f, 1, NULL, g->cfg.src_net + 1,
                                            g->cfg.dst_ip));
        ring_tx_flush(g->ring);
        uint32_t until = now_ms(g) + ARP_WAIT_MS;
        while (!g->cfg.have_dmac && now_ms(g) < until) {
            ring_wait(g->ring, 10);
            ring_rx(g->ring, conn_frame, g);
        }
    }
    if (!g->cfg.have_dmac)
        fprintf(stderr, "connload: no ARP answer from the server\n");
    return g->cfg.have_dmac ? 0 : -1;
}

static void print_start(const struct lg *g)
{
    const struct cfg *c = &g->cfg;
    char dst[16], lo[16], hi[16];
    ip_str(c->dst_ip, dst);
    ip_str(c->src_net + 1, lo);
    ip_str(c->src_net + c->naddrs, hi);
    printf("{\"event\":\"start\",\"conns\":%u,\"iface\":\"%s\",\"server\":\"%s\",\"port\":%u,"
           "\"server_mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\",\"src_first\":\"%s\","
           "\"src_last\":\"%s\",\"addrs\":%u,\"port_lo\":%u,\"ports\":%u,\"rate\":%.0f,"
           "\"window\":%u,\"targets\":[",
           c->conns, c->ifname, dst, c->dport, c->dmac[0], c->dmac[1], c->dmac[2], c->dmac[3],
           c->dmac[4], c->dmac[5], lo, hi, c->naddrs, c->port_lo, c->nports, c->rate, c->window);
    for (uint32_t i = 0; i < c->ntargets; i++)
        printf("%s{\"path\":\"%s\",\"len\":%llu,\"crc32c\":\"%08x\"}", i ? "," : "",
               c->tg[i].path, (unsigned long long)c->tg[i].want_len, c->tg[i].want_sum);
    printf("]}\n");
    fflush(stdout);
}

/* The counts every progress and final line carries. */
static void print_counts(const struct lg *g)
{
    const struct counters *c = &g->ct;
    printf("\"opened\":%llu,\"established\":%llu,\"answered\":%llu,\"errors\":%llu,"
           "\"half_open\":%llu,\"waiting\":%llu,\"held\":%llu",
           (unsigned long long)c->opened, (unsigned long long)c->established,
           (unsigned long long)c->answered, (unsigned long long)errors(c),
           (unsigned long long)c->half_open, (unsigned long long)c->waiting,
           (unsigned long long)c->held);
}

static void print_progress(const struct lg *g, const char *event)
{
    printf("{\"event\":\"%s\",\"t\":%.3f,", event, secs(g));
    print_counts(g);
    printf("}\n");
    fflush(stdout);
}

#define U(x) ((unsigned long long)(x))

static void print_final(struct lg *g, double t_est, double t_ans, double t_fin, double held_s)
{
    const struct counters *c = &g->ct;
    printf("{\"event\":\"final\",\"t\":%.3f,\"conns\":%u,", secs(g), g->cfg.conns);
    print_counts(g);
    printf(",\"bytes\":%llu,\"body_bytes\":%llu,\"error_kinds\":{\"rst\":%llu,"
           "\"syn_timeout\":%llu,\"response_timeout\":%llu,\"bad_status\":%llu,"
           "\"bad_length\":%llu,\"bad_checksum\":%llu,\"closed_early\":%llu,"
           "\"not_opened\":%llu},\"reset_after_answer\":%llu,\"closed_after_answer\":%llu,"
           "\"data_after_answer\":%llu,\"reset_at_exit\":%llu,",
           U(c->rx_bytes), U(c->body_bytes), U(c->err_rst), U(c->err_syn_timeout),
           U(c->err_resp_timeout), U(c->err_status), U(c->err_length), U(c->err_checksum),
           U(c->err_closed), U(c->err_not_opened), U(c->rst_after), U(c->closed_after),
           U(c->data_after), U(c->reset_at_exit));
    printf("\"dup_segments\":%llu,\"ooo_segments\":%llu,\"syn_retries\":%llu,"
           "\"request_retries\":%llu,\"acks_sent\":%llu,\"rsts_sent\":%llu,\"rx_frames\":%llu,"
           "\"tx_frames\":%llu,\"rx_ignored\":%llu,\"rx_ring_drops\":%llu,\"tx_ring_waits\":%llu,"
           "\"tx_ring_lost\":%llu,\"arp_replies\":%llu,",
           U(c->dup_segs), U(c->ooo_segs), U(c->syn_retries), U(c->req_retries), U(c->acks),
           U(c->rsts_sent), U(c->rx_frames), U(c->tx_frames), U(c->rx_ignored),
           U(ring_drops(g->ring)), U(ring_tx_waits(g->ring)), U(c->tx_lost), U(c->arp_replies));
    /* Times that were never reached are null, so a reader cannot mistake them for 0. */
    char b[3][32];
    double ts[3] = {t_est, t_ans, t_fin};
    for (int i = 0; i < 3; i++)
        snprintf(b[i], sizeof(b[i]), ts[i] < 0 ? "null" : "%.3f", ts[i]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
                 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("\"t_established_s\":%s,\"t_answered_s\":%s,\"t_finished_s\":%s,\"held_s\":%.3f,"
           "\"cpu_s\":%.3f,\"max_rss_kb\":%ld}\n",
           b[0], b[1], b[2], held_s, cpu, ru.ru_maxrss);
    fflush(stdout);
}

struct phase {
    double t_est, t_ans, t_fin, t_progress;
};

/* Milestones and progress lines, once per pass. */
static void report(struct lg *g, struct phase *ph)
{
    double t = secs(g);
    if (ph->t_est < 0 && g->ct.established == g->cfg.conns) {
        ph->t_est = t;
        print_progress(g, "established");
    }
    if (ph->t_ans < 0 && g->ct.answered == g->cfg.conns)
        ph->t_ans = t;
    if (want_progress || (g->cfg.progress > 0 && t >= ph->t_progress + g->cfg.progress)) {
        want_progress = 0;
        ph->t_progress = t;
        print_progress(g, "progress");
    }
}

/* New SYNs within the rate, the window and one burst. The number sent. */
static uint32_t open_more(struct lg *g)
{
    const struct cfg *c = &g->cfg;
    double due = c->rate * secs(g) + 1;
    uint64_t limit = due < c->conns ? (uint64_t)due : c->conns;
    uint32_t n = 0;
    while (g->ct.opened < limit && n < OPEN_BURST
           && g->ct.opened - g->ct.finished < c->window) {
        conn_open(g, (uint32_t)g->ct.opened);
        n++;
    }
    return n;
}

/* One pass: what arrived, the ACKs it wants, then (while opening) new SYNs and timers. */
static int pass(struct lg *g, int opening, uint32_t *last_sweep, int wait_ms)
{
    uint64_t n = ring_rx(g->ring, conn_frame, g);
    conn_flush_acks(g);
    if (opening) {
        n += open_more(g);
        if (now_ms(g) - *last_sweep >= SWEEP_MS) {
            conn_sweep(g);
            *last_sweep = now_ms(g);
        }
    }
    ring_tx_flush(g->ring);
    if (!n)
        ring_wait(g->ring, wait_ms);
    return (int)n;
}

static void run(struct lg *g, struct phase *ph, double *held_s)
{
    uint32_t last_sweep = 0;
    while (!stop && g->ct.finished < g->cfg.conns) {
        pass(g, 1, &last_sweep, 1);
        report(g, ph);
        if (secs(g) > g->cfg.open_timeout && g->ct.finished < g->cfg.conns)
            conn_expire(g);
    }
    ph->t_fin = secs(g);
    print_progress(g, "answered");
    if (stop || g->cfg.hold == 0)
        return;
    printf("{\"event\":\"holding\",\"t\":%.3f,\"held\":%llu,\"hold_s\":%.3f}\n", secs(g),
           U(g->ct.held), g->cfg.hold);
    fflush(stdout);
    double from = secs(g);
    while (!stop && (g->cfg.hold < 0 || secs(g) - from < g->cfg.hold)) {
        pass(g, 0, &last_sweep, 10);
        report(g, ph);
    }
    *held_s = secs(g) - from;
}

/* Lets what arrives be answered for about `ms` milliseconds. */
static void linger(struct lg *g, uint32_t ms)
{
    uint32_t until = now_ms(g) + ms, last = 0;
    while (now_ms(g) < until)
        pass(g, 0, &last, 1);
}

/* --reset: the RSTs, --reset-rounds times, LINGER_MS apart, a "reset" line after each.
 * A round goes out RESET_BURST at a time, RESET_GAP_MS apart: ten thousand RSTs at once
 * would overrun the server's receive ring, and those it dropped would stay held. */
static void reset_rounds(struct lg *g)
{
    for (uint32_t i = 0; i < g->cfg.reset_rounds; i++) {
        double t = secs(g);
        uint64_t before = g->ct.rsts_sent;
        uint32_t next = 0;
        while (next < g->ct.opened) {
            if (conn_reset_some(g, &next, RESET_BURST, i > 0) && next < g->ct.opened)
                linger(g, RESET_GAP_MS);
        }
        printf("{\"event\":\"reset\",\"round\":%u,\"t\":%.3f,\"sent\":%llu,\"took_s\":%.3f}\n",
               i + 1, secs(g), U(g->ct.rsts_sent - before), secs(g) - t);
        fflush(stdout);
        linger(g, LINGER_MS);
    }
}

static int setup(struct lg *g, int argc, char **argv)
{
    if (args_parse(&g->cfg, argc, argv) || kernel_out(&g->cfg))
        return -1;
    g->conns = calloc(g->cfg.conns, sizeof(*g->conns));
    g->ackq_cap = ACKQ_CAP;
    g->ackq = calloc(g->ackq_cap, sizeof(*g->ackq));
    if (!g->conns || !g->ackq) {
        fprintf(stderr, "connload: out of memory for %u connections\n", g->cfg.conns);
        return -1;
    }
    uint8_t smac[6];
    g->ring = ring_open(g->cfg.ifname, g->cfg.src_net, g->cfg.src_mask, smac);
    if (!g->ring)
        return -1;
    memcpy(g->cfg.smac, smac, 6);
    g->t0_ns = mono_ns();
    return resolve(g);
}

int main(int argc, char **argv)
{
    static struct lg g;
    crc32c_init();
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    if (setup(&g, argc, argv))
        return 2;
    print_start(&g);
    struct phase ph = {-1, -1, -1, 0};
    double held_s = 0;
    run(&g, &ph, &held_s);
    if (g.cfg.reset)
        reset_rounds(&g);
    print_final(&g, ph.t_est, ph.t_ans, ph.t_fin, held_s);
    int lost = g.ct.rst_after + g.ct.closed_after > 0;  /* the hold is part of the job */
    return g.ct.answered == g.cfg.conns && errors(&g.ct) == 0 && !lost ? 0 : 1;
}
