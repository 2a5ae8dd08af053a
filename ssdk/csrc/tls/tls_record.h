/*
 * tls_record.h - TLS record protection with ssdk's own record layer (docs/tls.md).
 *
 * tls_seal (a response's records, as segments are built or rebuilt) and tls_open (a
 * client's records, from tls_conn.c) -> tls_aead (a per-worker handle per cipher) ->
 * GnuTLS's AEAD API (gnutls/crypto.h).
 *
 * TLS 1.3 records are RFC 8446 5.2-5.3; TLS 1.2 ones are RFC 5288 (AES-GCM) and RFC 7905
 * (ChaCha20-Poly1305). A record's bytes are a pure function of (keys, seq, type,
 * plaintext): the nonce comes from the sequence number only (and, for TLS 1.2 AES-GCM,
 * the explicit nonce carried in the record is the sequence number too), so a segment
 * lost and rebuilt carries the same ciphertext, and a nonce is never used for two
 * different plaintexts as long as a sequence number is given to one record only.
 */
#ifndef SSDK_TLS_RECORD_H
#define SSDK_TLS_RECORD_H
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "tls/tls.h"

/* RFC 8446 5.1-5.2 (and RFC 5246 6.2.1): a plaintext fragment is at most 2^14 bytes; a
 * protected record's fragment at most 2^14 + 256. The reassembly buffer holds one whole
 * record with its header. */
#define TLS_HDR        5
#define TLS_TAG        16
#define TLS_MAX_PLAIN  16384u
#define TLS_MAX_CIPHER (TLS_MAX_PLAIN + 256u)
#define TLS_RX_CAP     (TLS_HDR + TLS_MAX_CIPHER)

/* Content types (RFC 8446 B.1). */
enum {
    TLS_CT_CCS = 20,
    TLS_CT_ALERT = 21,
    TLS_CT_HANDSHAKE = 22,
    TLS_CT_APPDATA = 23,
};

/* The 16-byte tag, the inner content type (1.3) and the explicit nonce (1.2 AES-GCM): what
 * a record adds to its plaintext besides the 5-byte header. */
unsigned tls_overhead(const struct tls_keys *k);

/* The length of the record holding len bytes of plaintext, header included. */
static inline size_t tls_record_len(const struct tls_keys *k, size_t len)
{
    return TLS_HDR + len + tls_overhead(k);
}

/* Seals the iov's bytes (at most TLS_MAX_PLAIN in all) as one record of content type
 * `type` with sequence number seq into out (tls_record_len bytes); returns that length,
 * or -1 (too long, out too small, over 16 iovecs, no cipher). keys->seq is not read nor
 * moved: the caller says which record this is. */
int tls_seal(const struct tls_keys *k, uint64_t seq, uint8_t type, const struct iovec *iov,
             int iovcnt, uint8_t *out, size_t cap);

/* Opens one whole record rec[0..len) (header included, len as the header says) with
 * sequence number seq, in place: on success returns 0 with *type the (inner) content
 * type and the plaintext at rec + *off, *plen bytes. Otherwise a negative alert
 * description (-TLS_ALERT_*): bad_record_mac (RFC 8446 5.2: authentication failed),
 * record_overflow (too long a record or plaintext), unexpected_message (an outer type
 * other than application_data in TLS 1.3, an inner plaintext of zeros only), decode_error
 * (shorter than its tag). */
int tls_open(const struct tls_keys *k, uint64_t seq, uint8_t *rec, size_t len, uint8_t *type,
             size_t *off, size_t *plen);

/* The per-worker AEAD handles, one per cipher, made on first use: a GnuTLS AEAD handle is
 * 752 bytes of heap for AES-GCM (416 for ChaCha20-Poly1305), too many to keep one per
 * connection and direction; one is made again when a record's key is not the one it
 * was made with (consecutive records of one connection share it). Thread-local: one set
 * per worker thread. tls_aead_release frees the calling thread's (its end). */
void tls_aead_release(void);

#endif
