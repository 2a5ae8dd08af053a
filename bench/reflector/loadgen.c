/*
 * bench/reflector/loadgen.c - the client side of the ceiling measurement: one kernel UDP
 * socket that keeps a window of datagrams in flight towards bench/reflector/reflect.c and
 * counts what comes back, in batches (sendmmsg, recvmmsg).
 *
 * Built and run by bench/wrk_vs_nginx.py:
 *   gcc -O2 -Wall -Wextra -Werror loadgen.c -o loadgen
 *   ip netns exec CLIENT_NS taskset -c CORE ./loadgen SRC_IP DST_IP PORT SECONDS PAYLOAD WINDOW
 * It sends PAYLOAD-byte datagrams from SRC_IP:PORT to DST_IP:PORT for SECONDS, never more
 * than WINDOW of them unanswered, and prints one JSON line: datagrams sent and received,
 * the seconds, both rates, and how often the window was given up as lost (no answer for
 * LOSS_MS while it was full).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define LOSS_MS 20
#define MAX_PAYLOAD 1472

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s SRC_IP DST_IP PORT SECONDS PAYLOAD WINDOW\n", argv[0]);
        return 2;
    }
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    int port = atoi(argv[3]);
    double seconds = atof(argv[4]);
    int payload = atoi(argv[5]);
    long window = atol(argv[6]);
    if (inet_pton(AF_INET, argv[1], &src.sin_addr) != 1
        || inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 || port <= 0 || port > 65535
        || seconds <= 0 || payload < 1 || payload > MAX_PAYLOAD || window < 1) {
        fprintf(stderr, "loadgen: bad arguments\n");
        return 2;
    }
    src.sin_port = dst.sin_port = htons((uint16_t)port);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("loadgen: socket");
        return 1;
    }
    int buf = 8 << 20;
    /* FORCE variants pass net.core.[rw]mem_max (root); the plain ones are the fallback. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) || connect(fd, (struct sockaddr *)&dst,
                                                                  sizeof(dst))) {
        perror("loadgen: bind/connect");
        return 1;
    }

    static char txbuf[MAX_PAYLOAD], rxbuf[BATCH][MAX_PAYLOAD + 1];
    memset(txbuf, 0x5a, sizeof(txbuf));
    struct mmsghdr txm[BATCH], rxm[BATCH];
    struct iovec txv[BATCH], rxv[BATCH];
    memset(txm, 0, sizeof(txm));
    memset(rxm, 0, sizeof(rxm));
    for (int i = 0; i < BATCH; i++) {
        txv[i] = (struct iovec){.iov_base = txbuf, .iov_len = (size_t)payload};
        txm[i].msg_hdr.msg_iov = &txv[i];
        txm[i].msg_hdr.msg_iovlen = 1;
        rxv[i] = (struct iovec){.iov_base = rxbuf[i], .iov_len = sizeof(rxbuf[i])};
        rxm[i].msg_hdr.msg_iov = &rxv[i];
        rxm[i].msg_hdr.msg_iovlen = 1;
    }

    uint64_t sent = 0, received = 0, written_off = 0, loss_events = 0, send_errors = 0;
    double start = now_s(), end = start + seconds, t = start;
    while (t < end) {
        /* in flight: sent, not answered, not yet given up as lost (late answers to what
         * was given up make up for it) */
        if (received + written_off > sent)
            written_off = sent - received;
        long room = window - (long)(sent - received - written_off);
        if (room > 0) {
            unsigned n = room < BATCH ? (unsigned)room : BATCH;
            int k = sendmmsg(fd, txm, n, MSG_DONTWAIT);
            if (k > 0)
                sent += (uint64_t)k;
            else if (k < 0 && errno != EAGAIN && errno != ENOBUFS)
                send_errors++;
        }
        int r = recvmmsg(fd, rxm, BATCH, MSG_DONTWAIT, NULL);
        if (r > 0)
            received += (uint64_t)r;
        if (r <= 0 && room <= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, LOSS_MS) == 0) {
                /* a full window and no answer: what is out is lost */
                written_off = sent - received;
                loss_events++;
            }
        }
        t = now_s();
    }
    double elapsed = t - start;
    printf("{\"sent\": %llu, \"received\": %llu, \"seconds\": %.6f, \"tx_pps\": %.1f, "
           "\"rx_pps\": %.1f, \"payload\": %d, \"window\": %ld, \"loss_events\": %llu, "
           "\"send_errors\": %llu}\n",
           (unsigned long long)sent, (unsigned long long)received, elapsed,
           (double)sent / elapsed, (double)received / elapsed, payload, window,
           (unsigned long long)loss_events, (unsigned long long)send_errors);
    close(fd);
    return 0;
}
