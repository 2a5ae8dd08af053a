/*
 * tls_priv.h - what the TLS layer's files share and no other layer sees: the memory
 * transport under a GnuTLS session during the handshake (tls_mem.c).
 *
 * tls_hs.c, tls_test_client.c -> tls_mem_attach (gnutls push/pull on tls_mem) ->
 * tls_mem_add (bytes in) / tls_mem_take (bytes out)
 */
#ifndef SSDK_TLS_PRIV_H
#define SSDK_TLS_PRIV_H
#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>

/* A growing byte queue: bytes [off, len) are unread. */
struct tls_queue {
    uint8_t *p;
    size_t off, len, cap;
};

/* A session's two directions: in (from the peer, read by GnuTLS's pull) and out (written
 * by its push, drained by the caller). Freed with the session's owner. */
struct tls_mem {
    struct tls_queue in, out;
};

int tls_queue_add(struct tls_queue *q, const uint8_t *data, size_t len);
void tls_queue_drop(struct tls_queue *q, size_t n);
void tls_mem_attach(gnutls_session_t s, struct tls_mem *m);
void tls_mem_free(struct tls_mem *m);

#endif
