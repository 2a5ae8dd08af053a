/*
 * connload.h - what the files of bench/connload share: the run's settings, one
 * connection's state, the counters, and the calls between
 *
 *   main.c   the loop, its phases, signals, the JSON lines
 *   args.c   the command line
 *   ring.c   the AF_PACKET socket pair and its mmap'd rings
 *   pkt.c    building and parsing Ethernet/IPv4/TCP/ARP frames
 *   conn.c   the client side of TCP for every connection, and its timers
 *   http.c   the request, the response's header, the body's checksum
 *
 * The design is written at the top of main.c.
 */
#ifndef CONNLOAD_H
#define CONNLOAD_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <net/if.h>

#define MAX_TARGETS 8
#define REQ_MAX 512

/* One connection's state (enum cstate). What is not stored is derived from the index:
 * the source address and port, our ISN, the path, the request's length. */
enum cstate {
    CS_NEW = 0,     /* not opened yet */
    CS_SYN_SENT,    /* SYN sent, no SYN-ACK yet */
    CS_WAIT,        /* handshake done, request sent, the response not complete */
    CS_DONE,        /* answered, byte-exact: held open, sending nothing */
    CS_FAILED,      /* gave up on it or it answered wrongly; counted as an error */
    CS_RESET,       /* the server reset it, or we did at the end */
    CS_CLOSED,      /* the server closed it (FIN); our FIN went back */
};

#define CF_ACK_QUEUED 0x01 /* on the list of ACKs sent after this batch of frames */
#define CF_REQ_ACKED 0x02  /* the server acknowledged the whole request */
#define CF_OUR_RST 0x04    /* reset by us on exit */

struct conn {
    uint32_t rcv_nxt;  /* the next byte expected from the server */
    uint32_t left;     /* body bytes still due; LEFT_HEADER before the header came */
    uint32_t sum;      /* CRC32C state of the body so far (http.c) */
    uint32_t t_ms;     /* when we last sent what wants an answer, or last saw progress */
    uint8_t state;     /* enum cstate */
    uint8_t tries;     /* timeouts in a row in this state */
    uint8_t flags;     /* CF_* */
    uint8_t pad;
};
#define LEFT_HEADER 0xffffffffu

struct target {
    char path[256];
    char req[REQ_MAX];
    uint32_t req_len;
    uint64_t want_len;  /* the body's length and CRC32C, from the expected file */
    uint32_t want_sum;
};

struct cfg {
    char ifname[IF_NAMESIZE];
    uint32_t dst_ip;        /* host order, as every address here */
    uint16_t dport;
    uint32_t src_net;       /* source addresses src_net+1 ... src_net+naddrs */
    uint32_t src_mask;
    uint32_t naddrs;
    uint16_t port_lo;       /* source ports port_lo ... port_lo+nports-1 */
    uint32_t nports;
    uint32_t conns;
    double rate;            /* SYNs per second, new connections */
    uint32_t window;        /* connections opened and not yet finished, at most */
    uint32_t rto_ms;        /* first retransmission timeout; doubles per try */
    uint32_t tries;         /* sends of a SYN or a request before giving up */
    double open_timeout;    /* seconds for the opening phase; then the rest fail */
    double hold;            /* seconds to hold once all finished; <0: until a signal */
    double progress;        /* seconds between progress lines; 0: none */
    int reset;              /* reset every open connection on exit */
    uint32_t reset_rounds;  /* sends of those RSTs, against loss */
    uint8_t smac[6], dmac[6];
    int have_dmac;
    uint32_t seed;          /* our ISNs */
    struct target tg[MAX_TARGETS];
    uint32_t ntargets;
};

struct counters {
    uint64_t opened, established, answered, finished;
    uint64_t half_open, waiting, held;    /* now in CS_SYN_SENT, CS_WAIT, CS_DONE */
    uint64_t rx_bytes, body_bytes;
    uint64_t err_rst, err_syn_timeout, err_resp_timeout, err_status, err_length,
        err_checksum, err_closed, err_not_opened;
    uint64_t rst_after, closed_after;     /* held (answered) connections lost later */
    uint64_t data_after;                  /* segments of data after a whole answer */
    uint64_t reset_at_exit;               /* open connections we reset on exit */
    uint64_t dup_segs, ooo_segs, syn_retries, req_retries, acks, rsts_sent;
    uint64_t rx_frames, tx_frames, rx_ignored, arp_replies, tx_lost;
};

/* ring.c */
struct ring;
struct ring *ring_open(const char *ifname, uint32_t net, uint32_t mask, uint8_t mac[6]);
typedef void (*frame_fn)(void *ctx, const uint8_t *frame, uint32_t len);
uint64_t ring_rx(struct ring *r, frame_fn fn, void *ctx);
uint8_t *ring_tx_slot(struct ring *r);
void ring_tx_commit(struct ring *r, uint32_t len);
void ring_tx_flush(struct ring *r);
int ring_wait(struct ring *r, int ms);
uint64_t ring_drops(struct ring *r);
uint64_t ring_tx_waits(const struct ring *r);

/* pkt.c */
struct seg {
    uint32_t idx;           /* the connection: its index */
    uint32_t seq, ack;
    uint8_t flags;
    const uint8_t *data;
    uint32_t len;
};
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
int pkt_parse(const struct cfg *c, const uint8_t *f, uint32_t len, struct seg *s);
uint32_t pkt_tcp(const struct cfg *c, uint8_t *out, uint32_t idx, uint32_t seq, uint32_t ack,
                 uint8_t flags, const void *data, uint32_t len);
uint32_t pkt_arp(const struct cfg *c, uint8_t *out, int op, const uint8_t tha[6],
                 uint32_t spa, uint32_t tpa);
int pkt_arp_parse(const uint8_t *f, uint32_t len, int *op, uint8_t sha[6], uint32_t *spa,
                  uint32_t *tpa);

/* args.c */
int args_parse(struct cfg *c, int argc, char **argv);

/* http.c */
void crc32c_init(void);
uint32_t crc32c(uint32_t c, const uint8_t *p, uint32_t n);
#define CRC32C_INIT 0xffffffffu
#define crc32c_final(c) ((c) ^ 0xffffffffu)
int target_add(struct target *t, const char *spec, uint32_t dst_ip);
/* 1: a 200 with Content-Length, *hdr_len and *clen set; 0: not (or not in one segment) */
int http_header(const uint8_t *p, uint32_t n, uint32_t *hdr_len, uint64_t *clen);

/* conn.c */
struct lg {
    struct cfg cfg;
    struct counters ct;
    struct conn *conns;
    struct ring *ring;
    uint64_t t0_ns;
    uint32_t lo;            /* every connection below lo is finished: sweeps start here */
    uint32_t *ackq;         /* connections owed an ACK after this batch */
    uint32_t nackq, ackq_cap;
};
uint64_t mono_ns(void);
uint32_t now_ms(const struct lg *g);
uint32_t conn_iss(const struct lg *g, uint32_t idx);
void conn_open(struct lg *g, uint32_t idx);
void conn_frame(void *ctx, const uint8_t *frame, uint32_t len);
void conn_flush_acks(struct lg *g);
void conn_sweep(struct lg *g);
void conn_expire(struct lg *g);
uint32_t conn_reset_some(struct lg *g, uint32_t *next, uint32_t max, int again);

#endif
