/*
 * bench/fctclient.c - the client of the flow-completion-time benchmark (bench/fct.py):
 * one connection at a time, one request at a time, every request timed.
 *
 * Built and run by bench/fct.py:
 *   gcc -O2 -Wall -Wextra -Werror fctclient.c -o fctclient
 *   ip netns exec CLIENT_NS taskset -c CORE \
 *       ./fctclient HOST PORT PATH SIZE MODE COUNT WARMUP SECONDS OUT
 *
 * MODE keepalive: one connection; each request is timed from the write of the request to
 * the read of the last byte of its response.
 * MODE close: a new connection per request ("Connection: close"); each is timed from
 * connect() to the server's FIN read after the last byte and the close(), so the
 * handshake and the teardown count.
 *
 * WARMUP requests are made first and not timed; then COUNT requests are timed, or fewer
 * if SECONDS (> 0) pass first. Every response must have status 200 and a Content-Length
 * of exactly SIZE, and exactly SIZE body bytes must follow (nothing more); anything else
 * stops the client with a message on stderr and exit status 1. Blocking sockets,
 * TCP_NODELAY, CLOCK_MONOTONIC. The timed requests' durations go to OUT as native
 * uint64 nanoseconds, one after another; stdout gets one JSON line of totals.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HDR_MAX 8192
#define BODY_BUF (256 * 1024)
#define IO_TIMEOUT_S 5

static char hdr[HDR_MAX + 1];
static char body[BODY_BUF];
static long req_no; /* the request being made, counted from 1, warm-up included */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what)
{
    fprintf(stderr, "fctclient: request %ld: %s\n", req_no, what);
    exit(1);
}

static void fail_errno(const char *what)
{
    fprintf(stderr, "fctclient: request %ld: %s: %s\n", req_no, what, strerror(errno));
    exit(1);
}

static int open_conn(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail_errno("socket");
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        fail_errno("TCP_NODELAY");
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0
        || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        fail_errno("SO_RCVTIMEO/SO_SNDTIMEO");
    return fd;
}

static void do_connect(int fd, const struct sockaddr_in *dst)
{
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) < 0)
        fail_errno("connect");
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail_errno("send");
        }
        buf += n;
        len -= (size_t)n;
    }
}

static ssize_t recv_some(int fd, char *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        fail_errno(errno == EAGAIN || errno == EWOULDBLOCK ? "recv timed out" : "recv");
    }
}

/* Read one response: the status must be 200 and Content-Length exactly `size`; read
 * its body and nothing beyond it. */
static void read_response(int fd, long size)
{
    size_t have = 0;
    char *end = NULL;
    while (end == NULL) {
        if (have == HDR_MAX)
            fail("response header longer than 8 KiB");
        ssize_t n = recv_some(fd, hdr + have, HDR_MAX - have);
        if (n == 0)
            fail("connection closed before the response header ended");
        have += (size_t)n;
        hdr[have] = '\0';
        end = memmem(hdr, have, "\r\n\r\n", 4);
    }
    if (strncmp(hdr, "HTTP/1.1 200 ", 13) != 0 && strncmp(hdr, "HTTP/1.0 200 ", 13) != 0) {
        char *eol = strstr(hdr, "\r\n");
        *eol = '\0';
        fprintf(stderr, "fctclient: request %ld: status line %s\n", req_no, hdr);
        exit(1);
    }
    long length = -1;
    for (char *line = strstr(hdr, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "content-length:", 15) == 0) {
            char *num = line + 15, *stop;
            errno = 0;
            length = strtol(num, &stop, 10);
            if (errno != 0 || stop == num || length < 0)
                fail("bad Content-Length");
        }
    }
    if (length < 0)
        fail("no Content-Length");
    if (length != size) {
        fprintf(stderr, "fctclient: request %ld: Content-Length %ld, want %ld\n", req_no, length,
                size);
        exit(1);
    }
    size_t got = have - (size_t)(end + 4 - hdr);
    if (got > (size_t)size)
        fail("more bytes than the body's length");
    while (got < (size_t)size) {
        size_t want = (size_t)size - got;
        ssize_t n = recv_some(fd, body, want < BODY_BUF ? want : BODY_BUF);
        if (n == 0)
            fail("connection closed before the body ended");
        got += (size_t)n;
    }
}

/* After a Connection: close response: the server's FIN, and no further byte. */
static void read_eof(int fd)
{
    char c;
    ssize_t n = recv_some(fd, &c, 1);
    if (n != 0)
        fail("bytes after the body of a Connection: close response");
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr,
                "usage: %s HOST PORT PATH SIZE keepalive|close COUNT WARMUP SECONDS OUT\n",
                argv[0]);
        return 2;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET};
    int port = atoi(argv[2]);
    const char *path = argv[3];
    long size = atol(argv[4]);
    const char *mode = argv[5];
    long count = atol(argv[6]);
    long warmup = atol(argv[7]);
    double seconds = atof(argv[8]);
    int keepalive = strcmp(mode, "keepalive") == 0;
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || port <= 0 || port > 65535
        || size < 0 || count < 1 || warmup < 0 || seconds < 0
        || (!keepalive && strcmp(mode, "close") != 0) || path[0] != '/') {
        fprintf(stderr, "fctclient: bad arguments\n");
        return 2;
    }
    dst.sin_port = htons((uint16_t)port);

    char req[1024];
    int reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, argv[1],
                          keepalive ? "" : "Connection: close\r\n");
    if (reqlen < 0 || (size_t)reqlen >= sizeof req) {
        fprintf(stderr, "fctclient: path too long\n");
        return 2;
    }
    uint64_t *ns = calloc((size_t)count, sizeof *ns);
    if (ns == NULL) {
        perror("fctclient: calloc");
        return 1;
    }

    int fd = -1;
    long conns = 0;
    if (keepalive) {
        fd = open_conn();
        do_connect(fd, &dst);
        conns = 1;
    }
    long done = 0;
    uint64_t start = 0, deadline = 0;
    for (long i = 0; i < warmup + count; i++) {
        req_no = i + 1;
        if (i == warmup) {
            start = now_ns();
            deadline = seconds > 0 ? start + (uint64_t)(seconds * 1e9) : 0;
        }
        uint64_t t0, t1;
        if (keepalive) {
            t0 = now_ns();
            send_all(fd, req, (size_t)reqlen);
            read_response(fd, size);
            t1 = now_ns();
        } else {
            fd = open_conn();
            t0 = now_ns();
            do_connect(fd, &dst);
            send_all(fd, req, (size_t)reqlen);
            read_response(fd, size);
            read_eof(fd);
            close(fd);
            t1 = now_ns();
            conns++;
        }
        if (i >= warmup) {
            ns[done++] = t1 - t0;
            if (deadline && t1 >= deadline)
                break;
        }
    }
    uint64_t stop = now_ns();
    if (keepalive)
        close(fd);

    FILE *out = fopen(argv[9], "wb");
    if (out == NULL || fwrite(ns, sizeof *ns, (size_t)done, out) != (size_t)done
        || fclose(out) != 0) {
        perror("fctclient: writing the samples");
        return 1;
    }
    printf("{\"mode\": \"%s\", \"requests\": %ld, \"warmup\": %ld, \"connections\": %ld, "
           "\"seconds\": %.6f, \"body_bytes\": %ld}\n",
           mode, done, warmup, conns, (double)(stop - start) / 1e9, done * size);
    free(ns);
    return 0;
}
