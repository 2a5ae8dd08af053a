/*
 * tls.h - the TLS layer's interface (docs/tls.md): HTTPS that stays bufferless.
 *
 * listener set-up -> tls_server_new, tls_server_add_cert (PEM pairs, picked by SNI),
 *                    tls_server_ticket_key (resumption, shareable across a fleet);
 *                    tls_selfsigned_write makes a pair for development
 * a connection    -> tls_hs_new -> tls_hs_input / tls_hs_pending / tls_hs_sent (GnuTLS,
 *                    over memory) -> tls_hs_finish (keys into struct tls_conn) -> tls_hs_free
 * then, bufferless -> tls_conn_input (client records: reassembly, tls_open, KeyUpdate,
 *                    alerts) and tls_seal (our records, laid out ahead, rebuilt on
 *                    retransmission), tls_conn_output (KeyUpdate reply, close_notify, alert)
 *
 * The handshake is GnuTLS's; the record layer after it is ssdk's (tls_record.c), so a
 * connection keeps only keys, IVs, sequence numbers and traffic secrets: struct tls_conn.
 * Everything between the CDEF markers is also read by cffi (ssdk/_ffi_build.py) so that
 * the tests drive the layer from Python: plain declarations only.
 */
#ifndef SSDK_TLS_H
#define SSDK_TLS_H
#include <stddef.h>
#include <stdint.h>

/* CDEF BEGIN */
/* The AEAD ciphers of RFC 8446 B.4 (and their TLS 1.2 suites, RFC 5288 and RFC 7905). */
enum tls_cipher {
    TLS_CIPHER_NONE = 0,
    TLS_AES_128_GCM = 1,
    TLS_AES_256_GCM = 2,
    TLS_CHACHA20_POLY1305 = 3
};

/* Alert descriptions (RFC 8446 6, and no_renegotiation of RFC 5246 7.2.2). */
enum tls_alert {
    TLS_ALERT_CLOSE_NOTIFY = 0,
    TLS_ALERT_UNEXPECTED_MESSAGE = 10,
    TLS_ALERT_BAD_RECORD_MAC = 20,
    TLS_ALERT_RECORD_OVERFLOW = 22,
    TLS_ALERT_HANDSHAKE_FAILURE = 40,
    TLS_ALERT_ILLEGAL_PARAMETER = 47,
    TLS_ALERT_DECODE_ERROR = 50,
    TLS_ALERT_INTERNAL_ERROR = 80,
    TLS_ALERT_USER_CANCELED = 90,
    TLS_ALERT_NO_RENEGOTIATION = 100,
    TLS_ALERT_NO_APPLICATION_PROTOCOL = 120
};

/* Sizes the caller allocates by: a record's header, its plaintext at most, the
 * reassembly buffer (one whole record of 2^14 + 256 bytes and its header, RFC 8446 5.2). */
enum { TLS_RECORD_HDR = 5, TLS_RECORD_MAX_PLAIN = 16384, TLS_RX_BUFFER = 16645 };

/* One direction's record protection: 56 bytes (static-asserted in tls_record.c). */
struct tls_keys {
    uint64_t seq;    /* the next record's sequence number (RFC 8446 5.3) */
    uint8_t key[32]; /* 16 bytes for AES-128-GCM, 32 for the others */
    uint8_t iv[12];  /* TLS 1.3 and 1.2 ChaCha20: the write IV; 1.2 AES-GCM: the salt (4) */
    uint8_t cipher;  /* enum tls_cipher */
    uint8_t minor;   /* the protocol version's minor number: 4 TLS 1.3, 3 TLS 1.2 */
    uint8_t pad[2];
};

/* A connection's TLS state after the handshake: 216 bytes, plus the reassembly buffer
 * (TLS_RX_BUFFER bytes) that the caller lends to tls_conn_input while a record is
 * incomplete. The traffic secrets are kept for KeyUpdate (TLS 1.3 only, RFC 8446 7.2). */
struct tls_conn {
    struct tls_keys rd, wr;
    uint8_t rd_secret[48], wr_secret[48];
    uint8_t hash_len; /* 32 (SHA-256) or 48 (SHA-384) in TLS 1.3; 0 in TLS 1.2 */
    uint8_t pending;  /* TLS_PEND_*: records tls_conn_output owes the client */
    uint8_t alert;    /* the fatal alert to send when TLS_PEND_ALERT */
    uint8_t phase;    /* TLS_OPEN, TLS_CLOSED, TLS_FAILED */
    uint16_t rx_have; /* bytes of a client record held in the reassembly buffer */
    uint8_t pad[2];
};

enum {
    TLS_PEND_KEY_UPDATE = 1,      /* a KeyUpdate(update_not_requested), then new write keys */
    TLS_PEND_CLOSE_NOTIFY = 2,    /* our close_notify, in answer to the client's */
    TLS_PEND_ALERT = 4,           /* a fatal alert (tls_conn.alert) */
    TLS_PEND_NO_RENEGOTIATION = 8 /* TLS 1.2: the warning declining a ClientHello */
};
enum {
    TLS_OPEN = 0,
    TLS_CLOSED = 1, /* the client's close_notify came: nothing more is read */
    TLS_FAILED = 2  /* a fatal alert, sent or received: the connection is over */
};

/* What one call of tls_conn_input did. */
enum tls_event {
    TLS_EV_MORE = 0,    /* all the bytes were taken; no whole record yet */
    TLS_EV_DATA = 1,    /* application data: rx + *off, *len bytes, until the next call */
    TLS_EV_CONTROL = 2, /* a KeyUpdate or a warning taken in; maybe records owed */
    TLS_EV_CLOSE = 3,   /* close_notify: ours is owed (tls_conn_output), then FIN */
    TLS_EV_FATAL = 4    /* an alert received, or one we owe (tls_conn_output): close */
};

struct tls_server;
struct tls_hs;

int tls_keys_size(void);
int tls_conn_size(void);

int tls_seal_buf(const struct tls_keys *k, uint64_t seq, uint8_t type, const uint8_t *plain,
                 size_t len, uint8_t *out, size_t cap);
int tls_open(const struct tls_keys *k, uint64_t seq, uint8_t *rec, size_t len, uint8_t *type,
             size_t *off, size_t *plen);

int tls_server_new(uint32_t ciphers, uint32_t versions, struct tls_server **out, char *err,
                   size_t errlen);
int tls_server_add_cert(struct tls_server *s, const char *cert_file, const char *key_file,
                        char *err, size_t errlen);
int tls_server_ticket_key(struct tls_server *s, const char *file, char *err, size_t errlen);
int tls_ticket_key_write(const char *file, char *err, size_t errlen);
void tls_server_free(struct tls_server *s);

/* A self-signed certificate for development (tls_cert.c; ssdk dev --tls): an ECDSA
 * P-256 key written to key_file (PKCS #8 PEM, mode 0600) and a certificate to cert_file
 * (PEM), CA:FALSE, for serverAuth, valid for `days` (1 to 3650) from a few minutes ago,
 * with a random serial; `names` is a comma-separated list, each an IP address (v4 or v6)
 * or a DNS name, all in subjectAltName. 0, or -1 with one line in err. */
int tls_selfsigned_write(const char *cert_file, const char *key_file, const char *names,
                         unsigned days, char *err, size_t errlen);

int tls_hs_new(struct tls_server *s, struct tls_hs **out);
int tls_hs_input(struct tls_hs *h, const uint8_t *data, size_t len);
size_t tls_hs_pending(struct tls_hs *h, const uint8_t **bytes);
void tls_hs_sent(struct tls_hs *h, size_t n);
int tls_hs_finish(struct tls_hs *h, struct tls_conn *c, const uint8_t **rest, size_t *restlen);
const char *tls_hs_error(struct tls_hs *h);
const char *tls_hs_server_name(struct tls_hs *h);
int tls_hs_alpn(struct tls_hs *h);
int tls_hs_resumed(struct tls_hs *h);
void tls_hs_free(struct tls_hs *h);

int tls_conn_input(struct tls_conn *c, uint8_t *rx, const uint8_t *data, size_t len, size_t *used,
                   size_t *off, size_t *plen);
int tls_conn_output(struct tls_conn *c, uint8_t *out, size_t cap);
int tls_conn_key_update(struct tls_conn *c, int write);

/* For tests only (tls_test_client.c): a GnuTLS client over memory, to send what Python's
 * ssl cannot (KeyUpdate) and to check ssdk's records against another implementation. */
struct tls_test_client;
int tls_test_client_new(const char *priority, const char *server_name, const char *alpn,
                        struct tls_test_client **out);
int tls_test_client_input(struct tls_test_client *t, const uint8_t *data, size_t len);
size_t tls_test_client_pending(struct tls_test_client *t, const uint8_t **bytes);
void tls_test_client_sent(struct tls_test_client *t, size_t n);
int tls_test_client_send(struct tls_test_client *t, const uint8_t *data, size_t len);
int tls_test_client_recv(struct tls_test_client *t, uint8_t *buf, size_t cap);
int tls_test_client_key_update(struct tls_test_client *t, int request_peer);
int tls_test_client_bye(struct tls_test_client *t);
void tls_test_client_free(struct tls_test_client *t);
/* CDEF END */

#endif
