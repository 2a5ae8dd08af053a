/*
 * tls_mem.c - GnuTLS over memory: the transport under a handshake, so that the
 * session never touches a socket and the caller moves the bytes (docs/tls.md).
 *
 * gnutls_handshake -> mem_pull (from tls_mem.in, which tls_queue_add fills) and
 * mem_push (into tls_mem.out, which the caller drains with tls_queue_drop)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_priv.h"

int tls_queue_add(struct tls_queue *q, const uint8_t *data, size_t len)
{
    if (q->off == q->len)
        q->off = q->len = 0;
    if (q->len + len > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + len)
            cap *= 2;
        uint8_t *p = realloc(q->p, cap);
        if (!p)
            return -1;
        q->p = p;
        q->cap = cap;
    }
    if (len)
        memcpy(q->p + q->len, data, len);
    q->len += len;
    return 0;
}

void tls_queue_drop(struct tls_queue *q, size_t n)
{
    q->off += n < q->len - q->off ? n : q->len - q->off;
}

static ssize_t mem_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
    struct tls_mem *m = ptr;
    if (tls_queue_add(&m->out, data, len) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return (ssize_t)len;
}

/* Nothing unread is EAGAIN: the handshake waits for the caller's next bytes. */
static ssize_t mem_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
    struct tls_mem *m = ptr;
    size_t have = m->in.len - m->in.off;
    if (have == 0) {
        errno = EAGAIN;
        return -1;
    }
    size_t n = len < have ? len : have;
    memcpy(data, m->in.p + m->in.off, n);
    m->in.off += n;
    return (ssize_t)n;
}

/* GnuTLS asks before some reads whether bytes are there; 0 is "not yet" (a timeout). */
static int mem_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
    struct tls_mem *m = ptr;
    (void)ms;
    return m->in.len > m->in.off ? 1 : 0;
}

void tls_mem_attach(gnutls_session_t s, struct tls_mem *m)
{
    gnutls_transport_set_ptr(s, m);
    gnutls_transport_set_push_function(s, mem_push);
    gnutls_transport_set_pull_function(s, mem_pull);
    gnutls_transport_set_pull_timeout_function(s, mem_pull_timeout);
}

void tls_mem_free(struct tls_mem *m)
{
    free(m->in.p);
    free(m->out.p);
    memset(m, 0, sizeof *m);
}
