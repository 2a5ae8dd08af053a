/*
 * tls_hs.c - the server handshake, done by GnuTLS over memory (docs/tls.md, "Handshake").
 *
 * listener: tls_server_new (priorities) -> tls_server_add_cert (PEM pairs on one
 *   credentials object: GnuTLS picks by SNI) -> tls_server_ticket_key (file or random)
 * connection: tls_hs_new -> tls_hs_input (bytes in, gnutls_handshake) -> tls_hs_pending /
 *   tls_hs_sent (bytes out) -> tls_hs_finish (gnutls_record_get_state and the keylog's
 *   traffic secrets -> struct tls_conn) -> tls_hs_free: the session is gone, the record
 *   layer is ssdk's own from there on.
 */
#include "tls/tls_hs.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls.h"
#include "tls/tls_priv.h"
#include "tls/tls_record.h"

struct tls_server {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    gnutls_datum_t ticket; /* the session ticket master key (gnutls_malloc'd) */
    int certs;
};

struct tls_hs {
    gnutls_session_t s;
    struct tls_server *server;
    struct tls_mem mem;
    uint8_t secret[2][48]; /* [0] the client's traffic secret, [1] the server's */
    uint8_t secret_len[2];
    char err[160];
    char name[256];
};

static void set_err(char *err, size_t errlen, const char *what, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, detail);
}

/* The priority string: TLS 1.3 and TLS 1.2, the three AEADs only, ECDHE only (forward
 * secrecy; no finite-field DHE, whose parameters we would have to choose), no 0-RTT (GnuTLS
 * takes early data only when asked). ciphers: bits 1 << enum tls_cipher, 0 for all;
 * versions: bit 0 TLS 1.2, bit 1 TLS 1.3, 0 for both. */
static int priority_string(uint32_t ciphers, uint32_t versions, char *out, size_t cap)
{
    static const char *const names[] = { "", "AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305" };
    if (!ciphers)
        ciphers = 0xe;
    if (!versions)
        versions = 3;
    int n = snprintf(out, cap,
                     "SECURE128:-VERS-ALL:%s%s-CIPHER-ALL:", versions & 2 ? "+VERS-TLS1.3:" : "",
                     versions & 1 ? "+VERS-TLS1.2:" : "");
    for (unsigned c = 1; c <= 3; c++)
        if (ciphers & (1u << c))
            n += snprintf(out + n, cap - (size_t)n, "+%s:", names[c]);
    n += snprintf(out + n, cap - (size_t)n, "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA");
    return (ciphers & 0xe) && (versions & 3) && n < (int)cap ? 0 : -1;
}

int tls_server_new(uint32_t ciphers, uint32_t versions, struct tls_server **out, char *err,
                   size_t errlen)
{
    char prio[256];
    if (priority_string(ciphers, versions, prio, sizeof prio) < 0) {
        set_err(err, errlen, "tls", "no cipher or no protocol version allowed");
        return -1;
    }
    struct tls_server *s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "tls", "out of memory");
        return -1;
    }
    const char *where = NULL;
    int r = gnutls_certificate_allocate_credentials(&s->cred);
    if (r >= 0)
        r = gnutls_priority_init2(&s->prio, prio, &where, 0);
    /* A fresh ticket key, so resumption works in this process even with no file given. */
    if (r >= 0)
        r = gnutls_session_ticket_key_generate(&s->ticket);
    if (r < 0) {
        set_err(err, errlen, where ? where : "tls", gnutls_strerror(r));
        tls_server_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int tls_server_add_cert(struct tls_server *s, const char *cert_file, const char *key_file,
                        char *err, size_t errlen)
{
    char what[512];
    snprintf(what, sizeof what, "%s, %s", cert_file, key_file);
    for (const char *f = cert_file; f; f = f == cert_file ? key_file : NULL) {
        if (access(f, R_OK) != 0) {
            set_err(err, errlen, f, strerror(errno));
            return -1;
        }
    }
    int r = gnutls_certificate_set_x509_key_file2(s->cred, cert_file, key_file, GNUTLS_X509_FMT_PEM,
                                                  NULL, 0);
    if (r < 0) {
        set_err(err, errlen, what, gnutls_strerror(r));
        return -1;
    }
    s->certs++;
    return 0;
}

/* The master key's size, as gnutls_session_ticket_key_generate makes it (64 bytes in
 * GnuTLS 3.7): the file holds exactly those bytes. */
static size_t ticket_key_size(void)
{
    gnutls_datum_t k = { NULL, 0 };
    if (gnutls_session_ticket_key_generate(&k) < 0)
        return 0;
    size_t n = k.size;
    gnutls_memset(k.data, 0, k.size);
    gnutls_free(k.data);
    return n;
}

int tls_server_ticket_key(struct tls_server *s, const char *file, char *err, size_t errlen)
{
    size_t want = ticket_key_size();
    uint8_t buf[256];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, file, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0 || (size_t)n != want || want == 0) {
        char d[96];
        snprintf(d, sizeof d, "a ticket key file holds %zu bytes (tls_ticket_key_write)", want);
        set_err(err, errlen, file, n < 0 ? strerror(errno) : d);
        return -1;
    }
    gnutls_memset(s->ticket.data, 0, s->ticket.size);
    memcpy(s->ticket.data, buf, want);
    gnutls_memset(buf, 0, sizeof buf);
    return 0;
}

int tls_ticket_key_write(const char *file, char *err, size_t errlen)
{
    gnutls_datum_t k = { NULL, 0 };
    int r = gnutls_session_ticket_key_generate(&k);
    if (r < 0) {
        set_err(err, errlen, file, gnutls_strerror(r));
        return -1;
    }
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ssize_t n = fd < 0 ? -1 : write(fd, k.data, k.size);
    int e = errno;
    if (fd >= 0)
        close(fd);
    gnutls_memset(k.data, 0, k.size);
    gnutls_free(k.data);
    if (n != (ssize_t)k.size) {
        set_err(err, errlen, file, n < 0 ? strerror(e) : "short write");
        return -1;
    }
    return 0;
}

void tls_server_free(struct tls_server *s)
{
    if (!s)
        return;
    if (s->cred)
        gnutls_certificate_free_credentials(s->cred);
    if (s->prio)
        gnutls_priority_deinit(s->prio);
    if (s->ticket.data) {
        gnutls_memset(s->ticket.data, 0, s->ticket.size);
        gnutls_free(s->ticket.data);
    }
    free(s);
}

/* The keylog hook: GnuTLS hands each secret it derives over; we keep the first
 * application traffic secrets (RFC 8446 7.1), which KeyUpdate derives from (7.2). */
static int keylog(gnutls_session_t s, const char *label, const gnutls_datum_t *secret)
{
    struct tls_hs *h = gnutls_session_get_ptr(s);
    int dir = !strcmp(label, "CLIENT_TRAFFIC_SECRET_0") ? 0
        : !strcmp(label, "SERVER_TRAFFIC_SECRET_0")     ? 1
                                                        : -1;
    if (dir >= 0 && secret->size <= sizeof h->secret[0]) {
        memcpy(h->secret[dir], secret->data, secret->size);
        h->secret_len[dir] = (uint8_t)secret->size;
    }
    return 0;
}

int tls_hs_new(struct tls_server *srv, struct tls_hs **out)
{
    struct tls_hs *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->server = srv;
    /* RFC 7301 3.2: a client that offers protocols, none of them ours, gets
     * no_application_protocol (GnuTLS's MANDATORY); one that offers none is served. */
    static const gnutls_datum_t http11 = { (unsigned char *)"http/1.1", 8 };
    int r = gnutls_init(&h->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (r >= 0)
        r = gnutls_priority_set(h->s, srv->prio);
    if (r >= 0)
        r = gnutls_credentials_set(h->s, GNUTLS_CRD_CERTIFICATE, srv->cred);
    if (r >= 0)
        r = gnutls_session_ticket_enable_server(h->s, &srv->ticket);
    if (r >= 0)
        r = gnutls_alpn_set_protocols(h->s, &http11, 1, GNUTLS_ALPN_MANDATORY);
    if (r < 0) {
        tls_hs_free(h);
        return -1;
    }
    gnutls_session_set_ptr(h->s, h);
    gnutls_session_set_keylog_function(h->s, keylog);
    tls_mem_attach(h->s, &h->mem);
    *out = h;
    return 0;
}

/* Returns 1 when the handshake is complete, 0 when it needs more bytes from the client,
 * -1 when it failed (tls_hs_error says why; the alert is in the pending bytes). */
int tls_hs_input(struct tls_hs *h, const uint8_t *data, size_t len)
{
    if (tls_queue_add(&h->mem.in, data, len) < 0) {
        snprintf(h->err, sizeof h->err, "out of memory");
        return -1;
    }
    for (;;) {
        int r = gnutls_handshake(h->s);
        if (r == GNUTLS_E_SUCCESS)
            return 1;
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            return 0;
        if (!gnutls_error_is_fatal(r))
            continue; /* a warning alert: the handshake goes on */
        snprintf(h->err, sizeof h->err, "%s", gnutls_strerror(r));
        /* GnuTLS leaves the alert to the application (RFC 8446 6.2: a failed handshake
         * ends with the alert for its cause); it lands in the pending bytes. */
        gnutls_alert_send_appropriate(h->s, r);
        return -1;
    }
}

size_t tls_hs_pending(struct tls_hs *h, const uint8_t **bytes)
{
    if (!h->mem.out.p) {  /* nothing made yet (no offset may be added to NULL) */
        *bytes = NULL;
        return 0;
    }
    *bytes = h->mem.out.p + h->mem.out.off;
    return h->mem.out.len - h->mem.out.off;
}

void tls_hs_sent(struct tls_hs *h, size_t n) { tls_queue_drop(&h->mem.out, n); }

const char *tls_hs_error(struct tls_hs *h) { return h->err; }

const char *tls_hs_server_name(struct tls_hs *h)
{
    size_t n = sizeof h->name - 1;
    unsigned type = 0;
    if (gnutls_server_name_get(h->s, h->name, &n, &type, 0) < 0 || type != GNUTLS_NAME_DNS)
        return "";
    h->name[n] = 0;
    return h->name;
}

int tls_hs_alpn(struct tls_hs *h)
{
    gnutls_datum_t p;
    return gnutls_alpn_get_selected_protocol(h->s, &p) == 0 && p.size == 8
        && !memcmp(p.data, "http/1.1", 8);
}

int tls_hs_resumed(struct tls_hs *h) { return gnutls_session_is_resumed(h->s) != 0; }

static uint8_t cipher_of(gnutls_cipher_algorithm_t c)
{
    switch (c) {
    case GNUTLS_CIPHER_AES_128_GCM: return TLS_AES_128_GCM;
    case GNUTLS_CIPHER_AES_256_GCM: return TLS_AES_256_GCM;
    case GNUTLS_CIPHER_CHACHA20_POLY1305: return TLS_CHACHA20_POLY1305;
    default: return TLS_CIPHER_NONE;
    }
}

/* One direction's record state as GnuTLS left it (read: the client's). */
static int export_keys(struct tls_hs *h, int read, struct tls_keys *k)
{
    gnutls_datum_t iv, key;
    uint8_t seq[8];
    if (gnutls_record_get_state(h->s, (unsigned)read, NULL, &iv, &key, seq) < 0)
        return -1;
    if (key.size > sizeof k->key || iv.size > sizeof k->iv)
        return -1;
    memset(k, 0, sizeof *k);
    memcpy(k->key, key.data, key.size);
    memcpy(k->iv, iv.data, iv.size);
    for (int i = 0; i < 8; i++)
        k->seq = k->seq << 8 | seq[i];
    k->cipher = cipher_of(gnutls_cipher_get(h->s));
    k->minor = gnutls_protocol_get_version(h->s) == GNUTLS_TLS1_3 ? 4 : 3;
    return k->cipher == TLS_CIPHER_NONE ? -1 : 0;
}

/* The traffic secrets, checked against the keys GnuTLS uses: if the keylog ever gave
 * another secret than the one the records are keyed from, KeyUpdate would derive wrong
 * keys; refusing here finds that at the handshake instead. */
static int export_secrets(struct tls_hs *h, struct tls_conn *c)
{
    unsigned n = gnutls_hash_get_len(gnutls_prf_hash_get(h->s));
    if (n == 0 || n > 48 || h->secret_len[0] != n || h->secret_len[1] != n)
        return -1;
    memcpy(c->rd_secret, h->secret[0], n);
    memcpy(c->wr_secret, h->secret[1], n);
    c->hash_len = (uint8_t)n;
    struct tls_keys k = c->rd;
    if (tls_keys_from_secret(&k, c->rd_secret, n) < 0 || memcmp(k.key, c->rd.key, 32)
        || memcmp(k.iv, c->rd.iv, 12))
        return -1;
    k = c->wr;
    if (tls_keys_from_secret(&k, c->wr_secret, n) < 0 || memcmp(k.key, c->wr.key, 32)
        || memcmp(k.iv, c->wr.iv, 12))
        return -1;
    return 0;
}

/* After tls_hs_input returned 1 and its pending bytes were sent: the connection's state,
 * and the client's bytes that came after its Finished (records for tls_conn_input), which
 * stay valid until tls_hs_free. */
int tls_hs_finish(struct tls_hs *h, struct tls_conn *c, const uint8_t **rest, size_t *restlen)
{
    memset(c, 0, sizeof *c);
    /* GnuTLS reads a record at a time; had it decrypted application data already, those
     * bytes would be lost with the session. */
    if (gnutls_record_check_pending(h->s) != 0) {
        snprintf(h->err, sizeof h->err, "application data read during the handshake");
        return -1;
    }
    if (export_keys(h, 1, &c->rd) < 0 || export_keys(h, 0, &c->wr) < 0) {
        snprintf(h->err, sizeof h->err, "no AEAD record state to take over");
        return -1;
    }
    if (c->rd.minor == 4 && export_secrets(h, c) < 0) {
        snprintf(h->err, sizeof h->err, "traffic secrets do not match the record keys");
        return -1;
    }
    *rest = h->mem.in.p ? h->mem.in.p + h->mem.in.off : NULL;
    *restlen = h->mem.in.p ? h->mem.in.len - h->mem.in.off : 0;
    return 0;
}

void tls_hs_free(struct tls_hs *h)
{
    if (!h)
        return;
    if (h->s)
        gnutls_deinit(h->s);
    gnutls_memset(h->secret, 0, sizeof h->secret);
    tls_mem_free(&h->mem);
    free(h);
}
