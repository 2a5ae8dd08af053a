/*
 * tls_test_client.c - a GnuTLS client over memory, for tests only (tests/tls/): it sends
 * what Python's ssl module cannot (KeyUpdate, a chosen TLS 1.3 suite) and reads ssdk's
 * records with another implementation than the one that sealed them.
 *
 * tests -> tls_test_client_new -> _input / _pending / _sent (handshake bytes, as
 * tls_hs.c's) -> _send / _recv / _key_update / _bye (gnutls_record_*) -> _free
 */
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"
#include "tls/tls_priv.h"

struct tls_test_client {
    gnutls_session_t s;
    gnutls_certificate_credentials_t cred;
    struct tls_mem mem;
    int done;
};

/* The certificate is not verified: the tests check which one came by its bytes. */
int tls_test_client_new(const char *priority, const char *server_name, const char *alpn,
                        struct tls_test_client **out)
{
    struct tls_test_client *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    int r = gnutls_certificate_allocate_credentials(&t->cred);
    if (r >= 0)
        r = gnutls_init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (r >= 0)
        r = gnutls_priority_set_direct(t->s, priority && *priority ? priority : "NORMAL", NULL);
    if (r >= 0)
        r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, t->cred);
    if (r >= 0 && server_name && *server_name)
        r = gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, server_name, strlen(server_name));
    if (r >= 0 && alpn && *alpn) {
        gnutls_datum_t p = { (unsigned char *)alpn, (unsigned)strlen(alpn) };
        r = gnutls_alpn_set_protocols(t->s, &p, 1, 0);
    }
    if (r < 0) {
        tls_test_client_free(t);
        return r;
    }
    tls_mem_attach(t->s, &t->mem);
    *out = t;
    return 0;
}

/* Bytes from the server; during the handshake, runs it: 1 done, 0 more needed, or a
 * GnuTLS error code. */
int tls_test_client_input(struct tls_test_client *t, const uint8_t *data, size_t len)
{
    if (tls_queue_add(&t->mem.in, data, len) < 0)
        return GNUTLS_E_MEMORY_ERROR;
    if (t->done)
        return 1;
    int r = gnutls_handshake(t->s);
    if (r == GNUTLS_E_AGAIN)
        return 0;
    if (r < 0)
        return r;
    t->done = 1;
    return 1;
}

size_t tls_test_client_pending(struct tls_test_client *t, const uint8_t **bytes)
{
    *bytes = t->mem.out.p + t->mem.out.off;
    return t->mem.out.len - t->mem.out.off;
}

void tls_test_client_sent(struct tls_test_client *t, size_t n) { tls_queue_drop(&t->mem.out, n); }

int tls_test_client_send(struct tls_test_client *t, const uint8_t *data, size_t len)
{
    return (int)gnutls_record_send(t->s, data, len);
}

/* Bytes of application data, 0 at the server's close_notify, or a GnuTLS error code
 * (GNUTLS_E_AGAIN: nothing whole yet). */
int tls_test_client_recv(struct tls_test_client *t, uint8_t *buf, size_t cap)
{
    return (int)gnutls_record_recv(t->s, buf, cap);
}

int tls_test_client_key_update(struct tls_test_client *t, int request_peer)
{
    return gnutls_session_key_update(t->s, request_peer ? GNUTLS_KU_PEER : 0);
}

int tls_test_client_bye(struct tls_test_client *t) { return gnutls_bye(t->s, GNUTLS_SHUT_WR); }

void tls_test_client_free(struct tls_test_client *t)
{
    if (!t)
        return;
    if (t->s)
        gnutls_deinit(t->s);
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    tls_mem_free(&t->mem);
    free(t);
}
