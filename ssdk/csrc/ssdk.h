/*
 * ssdk.h - the one header the Python side (cffi) sees.
 *
 * Python -> ssdk_engine_new -> ssdk_nic_* (attach one backend) -> ssdk_table_load
 *        -> ssdk_run / ssdk_poll (the loop) -> ssdk_stats_get -> ssdk_engine_free
 *
 * Everything between the CDEF markers must stay parseable by cffi's cdef: plain
 * declarations, no preprocessor logic. Addresses are in host byte order here; the
 * C core converts once, at configuration time.
 */
#ifndef SSDK_H
#define SSDK_H
#include <stdint.h>
#include <stddef.h>

/* CDEF BEGIN */
struct ssdk_engine;

/* One of our addresses (docs/ipv6.md): bytes in network order, an IPv4 address in the
 * last 4 (the first 12 are ignored); prefix is the length the address was given with. */
struct ssdk_addr {
    uint8_t  addr[16];
    uint8_t  prefix;
    uint8_t  v6;             /* 1 IPv6, 0 IPv4 */
};

struct ssdk_config {
    uint32_t ip;             /* our IPv4 address, host byte order */
    uint8_t  mac[6];         /* our MAC; overwritten by backends that own a real one */
    uint16_t port;           /* the one TCP port we listen on */
    uint32_t max_conns;      /* size of the connection pool, fixed at start */
    uint16_t rx_mss;         /* MSS we advertise */
    uint32_t rto_init_ms;    /* RFC 6298 initial RTO */
    uint32_t rto_min_ms;
    uint32_t rto_max_ms;
    uint32_t time_wait_ms;   /* how long a connection we closed lingers in TIME-WAIT */
    uint32_t time_wait_max;  /* TIME-WAIT entries kept; beyond, the oldest goes early */
    uint32_t max_retries;    /* RTO expiries in a row before the connection is dropped */
    uint32_t idle_ms;        /* an idle keep-alive connection is closed after this */
    uint32_t header_timeout_ms; /* a request's header block must be complete by then */
    uint32_t cc;             /* congestion control: 0 CUBIC (RFC 9438), 1 NewReno,
                                2 BBR (draft-ietf-ccwg-bbr) */
    uint32_t options;        /* bit 0 timestamps, bit 1 SACK (accepted from the SYN),
                                bit 2 loss probes (RFC 8985 7), bit 3 pacing */
    uint32_t syn_backlog;    /* half-open connections before SYN cookies take over (half
                                of max_conns at most: tcp/conn.c) */
    uint64_t seed;           /* ISN secret; 0 = from getrandom() */
    int      virtual_clock;  /* 1: time moves only through ssdk_clock_set */
    uint32_t gso;            /* 1: AF_PACKET and TAP open for super-frames (segmentation
                                offload, nic.h); ssdk_nic_gso_max says if one did */
    uint32_t synack_retries; /* SYN-ACKs sent again before a half-open connection is
                                given up (Linux's tcp_synack_retries) */
    uint32_t max_conns_per_ip; /* connections one peer address may hold; 0: no limit
                                  (nginx's limit_conn) */
    uint32_t send_timeout_ms; /* a connection we have data for that acknowledges nothing
                                 new this long is reset (nginx send_timeout); 0: never */
    uint32_t body_timeout_ms; /* a request body with no new byte this long gets 408 and
                                 a close (nginx client_body_timeout); 0: never */
    uint32_t rx_buffers;     /* 4 KiB buffers for requests that arrive in parts (tcp/rxbuf.c);
                                0: max(1024, max_conns / 16), at most max_conns */
    struct ssdk_addr addrs[8]; /* our addresses, IPv4 and IPv6 (at most 8); with
                                  naddrs 0, `ip` is the only one */
    uint32_t naddrs;
    uint16_t tls_port;       /* HTTPS on this TCP port too, with the handshakes of
                                ssdk_engine_tls's server (docs/tls.md); 0: none */
};

/* Every counter the engine keeps. Gauges are marked; all others only grow. */
struct ssdk_stats {
    uint64_t rx_frames;
    uint64_t rx_bytes;
    uint64_t tx_frames;
    uint64_t tx_bytes;
    uint64_t tx_ring_full;        /* frames not sent because the TX ring had no slot */
    uint64_t drop_rx_ring;        /* dropped by the backend: the RX ring was full */
    uint64_t drop_runt;           /* shorter than the headers they claim */
    uint64_t drop_truncated;      /* backend captured fewer bytes than the frame had */
    uint64_t drop_not_ours;       /* another MAC or IP address */
    uint64_t drop_ethertype;
    uint64_t drop_arp;            /* malformed ARP or not a request for us */
    uint64_t drop_ip_version;
    uint64_t drop_ip_len;         /* bad header or total length */
    uint64_t drop_ip_csum;
    uint64_t drop_ip_frag;
    uint64_t drop_ip_proto;
    uint64_t drop_icmp;           /* bad checksum, too short, or not an echo request */
    uint64_t drop_tcp_len;
    uint64_t drop_tcp_csum;
    uint64_t drop_tcp_port;       /* SYN or segment for a port we do not listen on */
    uint64_t drop_tcp_seq;        /* outside the receive window */
    uint64_t drop_tcp_ack;        /* acknowledges data never sent */
    uint64_t drop_tcp_ooo;        /* in window, not in order, and no room to hold it */
    uint64_t drop_paws;           /* an old timestamp: a segment from an earlier wrap (RFC 7323 5) */
    uint64_t ooo_held;            /* request segments held beyond a gap until it fills */
    uint64_t drop_tcp_flags;      /* no ACK, SYN+FIN, and other impossible sets */
    uint64_t csum_offloaded;      /* frames whose L4 checksum the backend vouched for */
    uint64_t csum_partial_local;  /* accepted with the partial checksum a local sender left
                                     (virtual links only, see nic_af_xdp.c) */
    uint64_t rx_gso_segs;         /* segments cut from super-frames the kernel passed whole */
    uint64_t arp_replies;
    uint64_t icmp_echo_replies;
    uint64_t rst_sent;
    uint64_t rst_received;
    uint64_t challenge_acks;
    uint64_t syn_received;
    uint64_t syn_dropped_pool_full; /* none since a full pool answers with cookies; kept so
                                     that the counters' layout stays */
    uint64_t syncookies_sent;
    uint64_t syncookies_ok;       /* connections made from a valid cookie */
    uint64_t syncookies_failed;   /* ACKs for no connection that were no valid cookie */
    uint64_t conns_syn_received;  /* gauge: the SYN backlog */
    uint64_t conns_opened;        /* reached ESTABLISHED */
    uint64_t conns_closed;        /* left the table, any way */
    uint64_t conns_reset;         /* closed by a RST, sent or received */
    uint64_t conns_timed_out;     /* dropped after max_retries RTO expiries */
    uint64_t conns_active;        /* gauge: connections in the table */
    uint64_t conns_time_wait;     /* gauge: connections in TIME-WAIT (outside the pool) */
    uint64_t tw_evicted;          /* TIME-WAIT entries given up early: the table was full */
    uint64_t retransmits;         /* segments sent again */
    uint64_t rto_expired;
    uint64_t fast_retransmits;    /* loss recoveries entered on duplicate ACKs */
    uint64_t sack_blocks;         /* SACK blocks received */
    uint64_t tail_probes;         /* tail loss probes sent (RFC 8985 7) */
    uint64_t rtx_lost;            /* retransmissions found lost and sent again in recovery */
    uint64_t dsack_received;      /* ACKs reporting a duplicate segment (D-SACK, RFC 2883) */
    uint64_t undo_recoveries;     /* window reductions undone: every resend D-SACKed (RFC 3708) */
    uint64_t spurious_rtos;       /* timeouts F-RTO found spurious, their reduction undone (RFC 5682) */
    uint64_t sack_merged;         /* holes a full SACK scoreboard closed over (tcp_sack.c) */
    uint64_t http_requests;
    uint64_t http_2xx;
    uint64_t http_4xx;
    uint64_t http_5xx;
    uint64_t http_400;            /* malformed requests */
    uint64_t http_404;
    uint64_t http_408;            /* requests whose header or body did not come in time */
    uint64_t http_405;            /* a known method a route does not allow (only GET, HEAD, OPTIONS) */
    uint64_t http_411;            /* chunked request bodies, which we do not read */
    uint64_t http_413;            /* request bodies longer than we will read to discard */
    uint64_t http_414;            /* request targets longer than 2048 bytes */
    uint64_t http_417;            /* expectations other than 100-continue */
    uint64_t http_431;            /* header blocks beyond the request buffer or 100 fields */
    uint64_t http_501;            /* methods we do not know */
    uint64_t http_505;            /* HTTP versions other than 1.x */
    uint64_t http_bad_host;       /* 400s for Host: missing, repeated or invalid; bad authority */
    uint64_t http_bad_framing;    /* 400s for Content-Length and Transfer-Encoding */
    uint64_t http_bad_path;       /* 400s for bad escapes, %00, and ".." above the root */
    uint64_t http_options;        /* OPTIONS answered with Allow */
    uint64_t http_continue;       /* 100 Continue interim responses sent */
    uint64_t http_pipelined;      /* responses queued while an earlier one was in flight */
    uint64_t dyn_requests;        /* requests handed to the application */
    uint64_t dyn_orphans;         /* answers refused: the connection had gone, or an
                                     earlier answer that closed cut the response */
    uint64_t dyn_bad_bodies;      /* chunked bodies refused: malformed, or over the limit */
    uint64_t tx_payload_bytes;    /* response bytes, retransmissions included */
    uint64_t http_3xx;
    uint64_t http_304;            /* a validator matched (If-None-Match, If-Modified-Since) */
    uint64_t http_206;            /* one byte range of a 200 */
    uint64_t http_416;            /* a byte range past the end of the representation */
    uint64_t http_encoded;        /* answers with a content coding (gzip, br) chosen */
    uint64_t tx_gso_frames;       /* super-frames handed to the backend to cut (also in tx_frames) */
    uint64_t tx_gso_segs;         /* the segments they are cut into */
    uint64_t tx_summed_bytes;     /* payload summed as it was copied (no precomputed sum) */
    uint64_t synack_gave_up;      /* half-open connections given up after synack_retries */
    uint64_t syncookies_no_slot;  /* valid cookie ACKs reset: no slot, none idle to evict */
    uint64_t conns_evicted_idle;  /* idle keep-alive connections reset to make room */
    uint64_t syn_refused_per_ip;  /* SYNs (and cookie ACKs) reset: max_conns_per_ip reached */
    uint64_t send_timeouts;       /* reset: nothing new acknowledged for send_timeout_ms
                                     while we had data for the peer (zero window included) */
    uint64_t body_timeouts;       /* 408s for request bodies that stopped arriving */
    uint64_t http_abandoned;      /* requests (header or body) the client's FIN cut short:
                                     closed at once */
    uint64_t conns_fin_wait_2;    /* gauge: connections in FIN-WAIT-2 (outside the pool,
                                     in the TIME-WAIT table) */
    uint64_t rx_buffers_in_use;   /* gauge: receive buffers connections hold (partial
                                     requests, requests waiting, bytes beyond a gap) */
    uint64_t rx_buffers_peak;     /* gauge: the most receive buffers held at once */
    uint64_t rx_read_in_frame;    /* segments read where they lay in the RX frame, whole:
                                     no receive buffer taken */
    uint64_t rx_window_closed;    /* windows of 0 shown for want of a receive buffer */
    uint64_t rx_window_updates;   /* windows sent again when receive buffers came back */
    uint64_t rx_buffer_refused;   /* segments given back or not held for want of a receive
                                     buffer, though the window had room for them */
    uint64_t drop_ip6_src;        /* IPv6 from a multicast or unspecified source */
    uint64_t drop_ip6_ext;        /* extension headers cut short or out of place, and
                                     unknown options whose type says discard (RFC 8200 4) */
    uint64_t drop_ip6_frag;       /* IPv6 fragments: we never reassemble */
    uint64_t drop_ip6_routing;    /* routing headers with segments left: we never route */
    uint64_t drop_nd;             /* neighbour solicitations invalid (hop limit not 255 ...)
                                     or for an address not ours */
    uint64_t drop_ptb;            /* Packet Too Big matching no connection, no sequence
                                     number in flight, or no lower MSS */
    uint64_t nd_adverts;          /* neighbour advertisements sent */
    uint64_t mld_reports;         /* MLDv2 reports sent */
    uint64_t icmp6_echo_replies;
    uint64_t icmp6_param_probs;   /* ICMPv6 parameter problems sent */
    uint64_t icmp6_pp_limited;    /* parameter problems not sent: the rate limit */
    uint64_t ptb_mss_lowered;     /* connections whose MSS a Packet Too Big lowered */
    uint64_t flights_in_use;      /* gauge: flight blocks held (connections with data or a
                                     FIN in flight or to send: tcp/flight.c) */
    uint64_t flights_peak;        /* gauge: the most flight blocks held at once */
    uint64_t scoreboards_in_use;  /* gauge: SACK scoreboards held (peers holding ranges
                                     above a hole) */
    uint64_t http_req_blocks_in_use;   /* gauge: requests held in part (a header block not
                                          whole, a body being read, a 100's answer) */
    uint64_t http_req_blocks_peak;     /* gauge: the most request blocks held at once */
    uint64_t http_resp_entries_in_use; /* gauge: responses queued and not yet acknowledged */
    uint64_t tls_handshakes;      /* TLS handshakes completed (serve/https.c) */
    uint64_t tls_resumed;         /* ... of them resumed with a session ticket */
    uint64_t tls_handshake_failed; /* handshakes refused, failed or timed out */
    uint64_t tls_failed;          /* open TLS connections ended by an alert (sent or
                                     received) */
    uint64_t tls_records_in;      /* client records opened after the handshake */
    uint64_t tls_records_sealed;  /* our records sealed: first sends and resends */
    uint64_t tls_no_buffer;       /* client records left with TCP: no TLS buffer free */
    uint64_t tls_handshakes_in_use; /* gauge: GnuTLS sessions held */
    uint64_t tls_buffers_in_use;  /* gauge: TLS buffers held (a record or a request in part) */
};

void ssdk_config_default(struct ssdk_config *cfg);
int  ssdk_engine_new(const struct ssdk_config *cfg, struct ssdk_engine **out,
                     char *err, size_t errlen);
void ssdk_engine_free(struct ssdk_engine *e);
/* The TLS server (tls/tls.h: tls_server_new, its certificates and ticket key) whose
 * handshakes open connections to cfg.tls_port. Not owned: it outlives the engine, and
 * several engines may share it. Required before serving when tls_port is set. 0 or -1. */
struct tls_server;
int  ssdk_engine_tls(struct ssdk_engine *e, struct tls_server *srv, char *err, size_t errlen);

/* Backends: exactly one per engine. */
int  ssdk_nic_memory(struct ssdk_engine *e, uint32_t ring_frames, char *err, size_t errlen);
/* The in-memory backend offering segmentation offload: super-frames of up to gso_max
 * bytes; every frame taken has a virtio_net_hdr (10 bytes) in front. */
int  ssdk_nic_memory_gso(struct ssdk_engine *e, uint32_t ring_frames, uint32_t gso_max,
                         char *err, size_t errlen);
/* The largest super-frame the engine's backend takes (0: it cuts nothing, and every
 * segment goes as its own frame): 0 under a wrapper (impairment works frame by frame). */
uint32_t ssdk_nic_gso_max(struct ssdk_engine *e);
/* fanout: 0, or a PACKET_FANOUT group id shared by the engines of one interface (each
 * connection's frames then reach one engine, chosen by flow hash). */
int  ssdk_nic_af_packet(struct ssdk_engine *e, const char *ifname, uint32_t ring_frames,
                        uint16_t fanout, char *err, size_t errlen);
/* AF_XDP on (ifname, queue); flags: 0 native then SKB mode, 1 native only, 2 SKB only.
 * xsks_map_fd: -1 has libxdp load its default program (every frame of the queue to this
 * socket); or the XSKMAP of ssdk's program (ssdk_xdp_filter_map_fd), which the socket
 * joins, with flags the mode that program runs in (ssdk_xdp_filter_mode).
 * Fails with a message when ssdk was built without libxdp (ssdk_have_af_xdp() == 0). */
int  ssdk_nic_af_xdp(struct ssdk_engine *e, const char *ifname, uint32_t queue,
                     uint32_t ring_frames, uint32_t flags, int xsks_map_fd, char *err,
                     size_t errlen);
int  ssdk_have_af_xdp(void);
/* ssdk's XDP program (ssdk/bpf/xdp_share.bpf.c, compiled to the object obj) on ifname,
 * through libxdp, native or SKB mode as flags says (as ssdk_nic_af_xdp's): frames for
 * addrs[i] (host byte order) on TCP ports[j] go to the sockets in its XSKMAP, and ARP and
 * ICMP for those addresses whose addr_flags[i] has bit 0; the rest go to the kernel. */
struct ssdk_xdp_filter;
int  ssdk_xdp_filter_attach(const char *ifname, const char *obj, uint32_t flags,
                            const uint32_t *addrs, const uint32_t *addr_flags,
                            uint32_t naddrs, const uint16_t *ports, uint32_t nports,
                            struct ssdk_xdp_filter **out, char *err, size_t errlen);
/* Its IPv6 side, after ssdk_xdp_filter_attach (naddrs there may be 0: IPv6 only) and
 * before any socket joins: frames for addrs6[i] (16 bytes each, network byte order, as
 * on the wire) on TCP ports[j] go to the sockets, and so do neighbour solicitations
 * targeting, and echo requests and neighbour advertisements sent to, the addresses
 * whose addr6_flags[i] has bit 0 (the kernel does not hold them); ICMPv6 errors quoting
 * a segment from (addrs6[i], ports[j]) go there whatever the flag. 0, or -1 with err. */
int  ssdk_xdp_filter_add6(struct ssdk_xdp_filter *f, const uint8_t *addrs6,
                          const uint32_t *addr6_flags, uint32_t naddrs6,
                          const uint16_t *ports, uint32_t nports, char *err, size_t errlen);
int  ssdk_xdp_filter_map_fd(struct ssdk_xdp_filter *f);
uint32_t ssdk_xdp_filter_mode(struct ssdk_xdp_filter *f);  /* 1 native, 2 SKB */
int  ssdk_xdp_filter_shared(struct ssdk_xdp_filter *f);   /* 1: libxdp's dispatcher */
void ssdk_xdp_filter_detach(struct ssdk_xdp_filter *f);
/* The program's action for one frame, as if received on queue 0 (BPF_PROG_TEST_RUN):
 * 2 XDP_PASS, 4 XDP_REDIRECT; a negative errno if the kernel would not run it. */
int  ssdk_xdp_filter_test_run(struct ssdk_xdp_filter *f, const uint8_t *frame, uint32_t len);
/* A classic BPF program (n instructions, struct sock_filter's 8 bytes each) on the
 * AF_PACKET backend's socket: only the frames it accepts reach the rings. */
int  ssdk_nic_socket_filter(struct ssdk_engine *e, const uint8_t *prog, uint32_t n,
                            char *err, size_t errlen);
/* A TAP device (made if it does not exist): the stack as a host on this machine's own
 * link, reachable by its local programs. One system call per frame: for development. */
int  ssdk_nic_tap(struct ssdk_engine *e, const char *ifname, char *err, size_t errlen);
/* netmap (nic/nic_netmap.c): one ring pair of ifname (NR_REG_ONE_NIC, ring `ring`)
 * through /dev/netmap. Fails with a message where there is no /dev/netmap. */
int  ssdk_nic_netmap(struct ssdk_engine *e, const char *ifname, uint32_t ring, char *err,
                     size_t errlen);
/* The system calls the netmap backend makes, as a table: libc's for a real device, the
 * emulation's (below) in tests. Each returns as libc does (-1 with errno set); mmap maps
 * the whole region shared and read-write at offset 0 (NULL on failure); poll returns the
 * revents of fd, 0 on timeout, -1 on failure. release frees ctx (NULL: nothing to do). */
struct ssdk_netmap_sys {
    void *ctx;
    int   (*open)(void *ctx, const char *path);
    int   (*ioctl)(void *ctx, int fd, unsigned long req, void *arg);
    void *(*mmap)(void *ctx, int fd, size_t len);
    int   (*munmap)(void *ctx, void *addr, size_t len);
    int   (*poll)(void *ctx, int fd, short events, int timeout_ms);
    int   (*close)(void *ctx, int fd);
    void  (*release)(void *ctx);
};
/* For tests only, never a backend a user can choose: an in-process emulation of the
 * kernel's side of netmap's ring protocol (nic/netmap_emu.c), which the netmap backend
 * drives through its ssdk_netmap_sys in place of /dev/netmap. Its "wire" is two queues:
 * frames put in arrive on the RX rings, frames the backend sends are taken out. */
struct ssdk_netmap_emu;
struct ssdk_netmap_emu_stats {
    uint64_t txsyncs, rxsyncs, polls;  /* NIOCTXSYNC, NIOCRXSYNC and poll calls */
    uint64_t tx_frames;                /* frames put on the wire from TX slots */
    uint64_t rx_frames;                /* frames put into RX slots */
    uint64_t errors;                   /* calls that failed (errno set) */
    uint64_t resets;                   /* rings reset for a bad head, cur or slot */
    uint64_t wire_waiting;             /* frames on the wire not yet in a ring */
    int32_t  last_errno;
};
/* An emulated port named ifname with nrings ring pairs of `slots` slots, 2048-byte
 * buffers, and extra_bufs buffers to hand out on NIOCREGIF (nr_arg3). NULL: no memory
 * or bad sizes. */
struct ssdk_netmap_emu *ssdk_netmap_emu_new(const char *ifname, uint32_t nrings,
                                            uint32_t slots, uint32_t extra_bufs);
void ssdk_netmap_emu_free(struct ssdk_netmap_emu *m);
const struct ssdk_netmap_sys *ssdk_netmap_emu_sys(struct ssdk_netmap_emu *m);
/* A frame arriving from the wire (0; -1: longer than a buffer, dropped as a NIC does). */
int  ssdk_netmap_emu_wire_in(struct ssdk_netmap_emu *m, const uint8_t *frame, uint32_t len);
/* The oldest frame sent: its length, 0 if none, -1 if cap is short. */
int  ssdk_netmap_emu_wire_out(struct ssdk_netmap_emu *m, uint8_t *buf, uint32_t cap);
/* From now on the emulated NIC reports at most n more TX slots sent, over all syncs,
 * until the next call (a link that drains at the test's pace: the slots stay the
 * kernel's until reported); n < 0: no limit, the default. */
void ssdk_netmap_emu_tx_credit(struct ssdk_netmap_emu *m, int32_t n);
/* The next sync of direction dir (0 TX, 1 RX) fails with err; reset: the ring is also
 * put back to the kernel's view, as for a bad head. */
void ssdk_netmap_emu_fail_next(struct ssdk_netmap_emu *m, uint32_t dir, int err, int reset);
void ssdk_netmap_emu_stats(struct ssdk_netmap_emu *m, struct ssdk_netmap_emu_stats *out);
/* The netmap backend over the emulation m, which the engine owns from then on (freed
 * with it, and on failure). */
int  ssdk_nic_netmap_emulated(struct ssdk_engine *e, struct ssdk_netmap_emu *m,
                              const char *ifname, uint32_t ring, char *err, size_t errlen);
/* The emulation under the engine's netmap backend, NULL if there is none. */
struct ssdk_netmap_emu *ssdk_netmap_emu_of(struct ssdk_engine *e);
/* How the backend runs ("native, copy", "SKB, copy"...), "" when it does not say. */
const char *ssdk_nic_mode(struct ssdk_engine *e);
void ssdk_mac_get(struct ssdk_engine *e, uint8_t mac[6]);

/* The in-memory backend: frames in and out, from Python. */
int  ssdk_mem_inject(struct ssdk_engine *e, const uint8_t *frame, uint32_t len);
int  ssdk_mem_take(struct ssdk_engine *e, uint8_t *buf, uint32_t cap);

/* The route table. The first call loads one; each later call publishes a new
 * generation (hot swap): requests from then on are answered from it, and a response
 * already started finishes from the table it started from. Returns the generation's
 * number (1, 2, ...), or 0 with err set (a bad table, or too many generations still in
 * flight). `blob` must stay mapped until ssdk_table_retired names its generation. */
uint64_t ssdk_table_load(struct ssdk_engine *e, const uint8_t *blob, uint64_t len,
                         char *err, size_t errlen);
/* Generations that are neither current nor used by any response: their blobs may be
 * unmapped now. Writes up to max numbers to gens; returns how many. */
int  ssdk_table_retired(struct ssdk_engine *e, uint64_t *gens, int max);

/* The loop. poll: one pass, never sleeps. run: passes for up to ms, sleeping when idle. */
int  ssdk_poll(struct ssdk_engine *e);
int  ssdk_run(struct ssdk_engine *e, uint32_t ms);
void ssdk_clock_set(struct ssdk_engine *e, uint64_t now_us);
uint64_t ssdk_clock_now(struct ssdk_engine *e);

/* The answer to one request read from a kernel socket (ssdk dev's fallback): the same
 * parser and the same decision (serve/decide.c) as the stack's, no TCP. A table's
 * response is bytes [stream_off, stream_off + stream_len) of the blob of table
 * `generation`, with the Date value at date_off and the Connection value at conn_off to
 * be written as on the wire ("     close" when keep is 0). interim_len != 0: a 100
 * Continue to send first. app = 1: the application answers instead (dynamic route
 * `route`; no stream): the request's body, if any (`body` bytes, or chunked), goes
 * through ssdk_http_body with `pending`, which hands back the whole request. */
struct ssdk_pending;
struct ssdk_answer {
    uint32_t status;        /* the table's response; 0 when app = 1 */
    uint32_t consumed;      /* request bytes the header block took (the body follows) */
    uint32_t body;          /* Content-Length body bytes that follow (a table's answer:
                               to read and discard before the next request) */
    uint32_t keep;          /* 1: the connection stays open */
    uint64_t generation;
    uint64_t stream_off, stream_len;
    uint32_t date_off, conn_off;
    uint64_t interim_off, interim_len;
    uint32_t interim_date_off;
    uint32_t app;           /* 1: the application's (dynamic route `route`) */
    uint32_t route;
    uint32_t chunked;       /* the body that follows is chunked (app = 1 only) */
    struct ssdk_pending *pending;  /* app = 1: the request, the caller's to free */
};
/* 1: answered; 0: the header block is not complete yet; -1: no table. */
int  ssdk_http_answer(struct ssdk_engine *e, const uint8_t *req, uint32_t len,
                      struct ssdk_answer *a);

/* Dynamic routes: requests the application answers itself. A request whose route key
 * starts with `key` (exact: equals it) and that no table holds is handed to `fn`, with
 * the other requests made ready in the same pass of the loop (in calls of up to 256);
 * each is answered, then or later, in any order, with ssdk_respond(token). Pipelined
 * requests of one connection are handed up together (up to the pipelining depth) and
 * their answers are sent in request order. The arrays live for that call. */
/* A header field of a request: its name and value (without the whitespace around it)
 * are bytes of the request's head, as the C parser found them (http/http_parse.c). */
struct ssdk_field {
    uint16_t name_off, name_len;
    uint16_t value_off, value_len;
};
struct ssdk_request {
    uint64_t token;          /* names this request's response on its connection (the
                                connection's slot and incarnation, the response's
                                serial): an answer for no other */
    uint32_t route;          /* the id given to ssdk_dynamic_route */
    const uint8_t *head;     /* the request line and header fields, as received */
    uint32_t head_len;
    const uint8_t *body;
    uint32_t body_len;
    uint32_t keep;           /* the request lets the connection stay open */
    uint32_t is_head;        /* HEAD: the answer carries no body */
    uint16_t method_len;     /* the method is head[0 .. method_len) */
    uint16_t target_off;     /* the target's path and query (of an absolute-form target, */
    uint16_t target_len;     /*   what follows the authority) */
    uint16_t nfields;        /* fields[]: every field line, in the order received */
    const struct ssdk_field *fields;
};
typedef void (*ssdk_request_fn)(void *ctx, const struct ssdk_request *reqs, uint32_t n);
int  ssdk_dynamic_route(struct ssdk_engine *e, const uint8_t *key, uint32_t len, int exact,
                        uint32_t id, uint32_t max_body);
void ssdk_dynamic_set(struct ssdk_engine *e, ssdk_request_fn fn, void *ctx);
/* Forget every dynamic route (the application's code changed: ssdk dev). */
void ssdk_dynamic_clear(struct ssdk_engine *e);
/* The body of the request an answer with app = 1 gave to the application (kernel
 * sockets): p[0..n) are bytes that followed what was consumed; *used of them were the
 * body's (Content-Length bytes, or the chunked coding, decoded as the stack does, with
 * the route's limit). 1: the request is whole, in *req (its arrays live as long as pd);
 * 0: more bytes are needed (all were used); 2: the body is refused (malformed chunked:
 * 400, over the limit: 413), *a holds the table's answer, which closes; -1: pd waits for
 * no body. pd is freed with ssdk_http_pending_free. */
int  ssdk_http_body(struct ssdk_engine *e, struct ssdk_pending *pd, const uint8_t *p,
                    uint32_t n, uint32_t *used, struct ssdk_request *req,
                    struct ssdk_answer *a);
void ssdk_http_pending_free(struct ssdk_pending *pd);
/* The answer: a whole response (header block with Date and Connection slots at date_off
 * and conn_off, then the body), copied and kept until acknowledged. keep = 0 closes the
 * connection after it: the responses queued behind it are cut. 0, or -1 when the token
 * names nothing waiting (the connection is gone, or the response was cut or answered),
 * -2 for a bad layout, -3 without memory. */
int  ssdk_respond(struct ssdk_engine *e, uint64_t token, const uint8_t *stream, uint64_t len,
                  uint32_t date_off, uint32_t conn_off, uint32_t status, int keep);

void ssdk_stats_get(struct ssdk_engine *e, struct ssdk_stats *out);
/* Move the counters to `mem` (kept mapped for the engine's life), where other processes
 * can read them live; they go on from their current values. */
void ssdk_stats_share(struct ssdk_engine *e, struct ssdk_stats *mem);
const char *ssdk_src_hash(void);

/* impairment (nic_impair.c, impair_queue.c) -----------------------------------------
 * Loss, duplication, reordering, delay, corruption and a bottleneck link between a
 * backend and what uses it, each direction on its own, decided by a seeded PRNG: the
 * same seed and the same frames give the same decisions, so a failing run replays.
 * Probabilities are in [0, 1]. A frame meets loss, duplication and corruption first,
 * then the bottleneck's queue, then the delay and jitter (propagation).
 */
struct ssdk_impair {
    double   loss;        /* the frame is dropped */
    double   duplicate;   /* a second copy follows it */
    double   reorder;     /* it is held until 1 to 3 later frames have passed it */
    double   corrupt;     /* one byte past the Ethernet header is changed */
    uint32_t delay_ms;    /* every frame waits this long... */
    uint32_t jitter_ms;   /* ...plus 0 to jitter_ms more, uniformly */
    uint64_t rate_bps;    /* the bottleneck: frames are sent at this many bits/s (0: none)... */
    uint32_t queue_bytes; /* ...through a drop-tail FIFO of this many bytes (needs a rate) */
};

struct ssdk_impair_stats {
    uint64_t frames;      /* entered this direction */
    uint64_t dropped;
    uint64_t duplicated;
    uint64_t reordered;
    uint64_t delayed;
    uint64_t corrupted;
    uint64_t pool_full;   /* times the wrapper pushed back because its pool was full */
    uint64_t held;        /* gauge: frames in the pool now */
    uint64_t queued;      /* accepted by the bottleneck's queue */
    uint64_t queue_drop;  /* dropped: the queue had no room for the frame */
    uint64_t queue_peak;  /* gauge: the most bytes the queue has held */
    uint64_t queue_wait_us; /* summed over queued frames: time before their first bit left */
};

/* Wrap the engine's backend (attach one with ssdk_nic_* first). rx: frames from the
 * wire to the stack; tx: frames the stack sends. NULL: that direction is untouched. */
int  ssdk_impair(struct ssdk_engine *e, const struct ssdk_impair *rx,
                 const struct ssdk_impair *tx, uint64_t seed, char *err, size_t errlen);
/* Zeroes when the engine's backend is not impaired. */
void ssdk_impair_stats(struct ssdk_engine *e, struct ssdk_impair_stats *rx,
                       struct ssdk_impair_stats *tx);

/* bridge (bridge.c): two interfaces joined through the impairment layer. ab impairs
 * the frames from a to b, ba those from b to a. */
struct ssdk_bridge;

struct ssdk_bridge_stats {
    uint64_t forwarded;
    uint64_t bytes;
    uint64_t tx_full;     /* dropped: the outgoing ring had no slot */
    uint64_t truncated;   /* dropped: captured shorter than on the wire */
    uint64_t rx_ring;     /* dropped by the kernel: the incoming ring was full */
    struct ssdk_impair_stats impair;
};

int  ssdk_bridge_new(const char *ifa, const char *ifb, const struct ssdk_impair *ab,
                     const struct ssdk_impair *ba, uint64_t seed, struct ssdk_bridge **out,
                     char *err, size_t errlen);
/* Forward for up to ms milliseconds; returns the frames received. */
int  ssdk_bridge_run(struct ssdk_bridge *b, uint32_t ms);
void ssdk_bridge_stats(struct ssdk_bridge *b, struct ssdk_bridge_stats *ab,
                       struct ssdk_bridge_stats *ba);
void ssdk_bridge_free(struct ssdk_bridge *b);
/* gso.c, for tests: cut an Ethernet/IPv4/TCP super-frame into segments of at most
 * seg_payload bytes (out: max_segs frames of stride bytes, lengths in lens); the number
 * of segments, or -1. And whether a frame's TCP checksum field holds what a sender
 * with checksum offload leaves there (1, 0, or -1: not an IPv4/TCP frame). */
int  ssdk_gso_split(const uint8_t *frame, uint32_t len, uint32_t seg_payload, int vouched,
                    uint8_t *out, uint32_t stride, uint32_t max_segs, uint32_t *lens);
int  ssdk_tcp_csum_partial(const uint8_t *frame, uint32_t len);
/* CDEF END */

#endif
