/*
 * tls_record.c - AEAD protection of TLS records: RFC 8446 5.2-5.3 (TLS 1.3), RFC 5288 and
 * RFC 7905 (TLS 1.2), on GnuTLS's AEAD ciphers.
 *
 * tls_seal / tls_seal_buf (our records) and tls_open (the client's, from tls_conn.c)
 *   -> record_nonce, record_ad -> aead_handle (per-worker handles) -> gnutls_aead_cipher_*
 *
 * Nothing here keeps state per connection: the caller passes the keys and the record's
 * sequence number, and the same inputs give the same bytes (docs/tls.md, "Records").
 */
#include "tls/tls_record.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "tls/tls.h"

_Static_assert(sizeof(struct tls_keys) == 56, "struct tls_keys is 56 bytes (docs/tls.md)");
_Static_assert(sizeof(struct tls_conn) == 216, "struct tls_conn is 216 bytes (docs/tls.md)");
_Static_assert(TLS_RX_CAP == TLS_RX_BUFFER, "the reassembly buffer holds one whole record");

int tls_keys_size(void) { return (int)sizeof(struct tls_keys); }
int tls_conn_size(void) { return (int)sizeof(struct tls_conn); }

static gnutls_cipher_algorithm_t gnutls_cipher_of(uint8_t cipher)
{
    switch (cipher) {
    case TLS_AES_128_GCM: return GNUTLS_CIPHER_AES_128_GCM;
    case TLS_AES_256_GCM: return GNUTLS_CIPHER_AES_256_GCM;
    case TLS_CHACHA20_POLY1305: return GNUTLS_CIPHER_CHACHA20_POLY1305;
    default: return GNUTLS_CIPHER_UNKNOWN;
    }
}

static unsigned key_len(uint8_t cipher) { return cipher == TLS_AES_128_GCM ? 16 : 32; }

/* Handles per thread, found by their key: no connection holds a 752-byte handle of its
 * own, and a connection's keys (one per direction) keep theirs while the transmit round
 * turns from connection to connection, each segment under another key. A direct-mapped
 * cache of AEAD_SLOTS: a key (random bytes) picks its slot by its first bytes; another key
 * there makes a new handle (about 180 ns, docs/tls.md), since GnuTLS 3.7.9's
 * gnutls_aead_cipher_set_key gives AES-GCM a new cipher key but keeps the old GHASH key,
 * so its tags are wrong (tests/tls/test_tls_record.py shows it). At most 96 KB a thread,
 * made as keys come. */
#define AEAD_SLOTS 128
struct aead_slot {
    gnutls_aead_cipher_hd_t h;
    uint8_t key[32];
    uint8_t cipher;
};
static __thread struct aead_slot aead_slots[AEAD_SLOTS];

static gnutls_aead_cipher_hd_t aead_handle(const struct tls_keys *k)
{
    gnutls_cipher_algorithm_t alg = gnutls_cipher_of(k->cipher);
    if (alg == GNUTLS_CIPHER_UNKNOWN)
        return NULL;
    uint32_t pick;
    memcpy(&pick, k->key, sizeof(pick));
    struct aead_slot *s = &aead_slots[(pick ^ k->cipher) % AEAD_SLOTS];
    gnutls_datum_t key = { (unsigned char *)k->key, key_len(k->cipher) };
    if (s->h && s->cipher == k->cipher && memcmp(s->key, k->key, key.size) == 0)
        return s->h;
    if (s->h)
        gnutls_aead_cipher_deinit(s->h);
    if (gnutls_aead_cipher_init(&s->h, alg, &key) < 0) {
        s->h = NULL;
        return NULL;
    }
    memcpy(s->key, k->key, key.size);
    s->cipher = k->cipher;
    return s->h;
}

void tls_aead_release(void)
{
    for (unsigned i = 0; i < sizeof aead_slots / sizeof aead_slots[0]; i++) {
        if (aead_slots[i].h)
            gnutls_aead_cipher_deinit(aead_slots[i].h);
        memset(&aead_slots[i], 0, sizeof aead_slots[i]);
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Whether the record carries an explicit nonce: TLS 1.2 AES-GCM (RFC 5288 3), where we
 * send the sequence number itself, so that the nonce never repeats under one key and a
 * rebuilt record is the same. */
static int explicit_nonce(const struct tls_keys *k)
{
    return k->minor == 3 && k->cipher != TLS_CHACHA20_POLY1305;
}

unsigned tls_overhead(const struct tls_keys *k)
{
    if (k->minor == 4)
        return 1 + TLS_TAG; /* the inner content type (RFC 8446 5.2), no padding */
    return (explicit_nonce(k) ? 8 : 0) + TLS_TAG;
}

/* RFC 8446 5.3 (and RFC 7905 2): the 64-bit sequence number, padded to the IV's 12
 * bytes, XORed with the IV. RFC 5288 3: the 4-byte salt, then the 8 explicit bytes. */
static void record_nonce(const struct tls_keys *k, uint64_t seq, uint8_t nonce[12])
{
    uint8_t s[8];
    put64(s, seq);
    if (explicit_nonce(k)) {
        memcpy(nonce, k->iv, 4);
        memcpy(nonce + 4, s, 8);
        return;
    }
    memcpy(nonce, k->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] ^= s[i];
}

/* The additional data: RFC 8446 5.2, the record header as sent; RFC 5246 6.2.3.3 (for
 * both TLS 1.2 AEADs), seq_num || type || version || the plaintext's length. Returns
 * its length. */
static size_t record_ad(const struct tls_keys *k, uint64_t seq, const uint8_t hdr[5], size_t plen,
                        uint8_t ad[13])
{
    if (k->minor == 4) {
        memcpy(ad, hdr, 5);
        return 5;
    }
    put64(ad, seq);
    ad[8] = hdr[0];
    ad[9] = hdr[1];
    ad[10] = hdr[2];
    ad[11] = (uint8_t)(plen >> 8);
    ad[12] = (uint8_t)plen;
    return 13;
}

int tls_seal(const struct tls_keys *k, uint64_t seq, uint8_t type, const struct iovec *iov,
             int iovcnt, uint8_t *out, size_t cap)
{
    size_t plen = 0;
    for (int i = 0; i < iovcnt; i++)
        plen += iov[i].iov_len;
    size_t rlen = tls_record_len(k, plen);
    gnutls_aead_cipher_hd_t h = aead_handle(k);
    if (plen > TLS_MAX_PLAIN || rlen > cap || iovcnt < 0 || iovcnt > 16 || !h)
        return -1;
    int tls13 = k->minor == 4;
    out[0] = tls13 ? TLS_CT_APPDATA : type; /* RFC 8446 5.2: the outer type, opaque_type */
    out[1] = 3;
    out[2] = 3; /* legacy_record_version 0x0303 in both versions */
    out[3] = (uint8_t)((rlen - TLS_HDR) >> 8);
    out[4] = (uint8_t)(rlen - TLS_HDR);
    uint8_t nonce[12], ad[13];
    record_nonce(k, seq, nonce);
    size_t adlen = record_ad(k, seq, out, plen, ad);
    uint8_t *body = out + TLS_HDR;
    if (explicit_nonce(k)) {
        memcpy(body, nonce + 4, 8);
        body += 8;
    }
    giovec_t v[17];
    memcpy(v, iov, (size_t)iovcnt * sizeof v[0]);
    int n = iovcnt;
    if (tls13) /* TLSInnerPlaintext: content || type, with no zero padding (5.2, 5.4) */
        v[n++] = (giovec_t){ &type, 1 };
    giovec_t a = { ad, adlen };
    size_t clen = (size_t)(out + rlen - body);
    if (gnutls_aead_cipher_encryptv(h, nonce, 12, &a, 1, TLS_TAG, v, n, body, &clen) < 0
        || clen != (size_t)(out + rlen - body))
        return -1;
    return (int)rlen;
}

int tls_seal_buf(const struct tls_keys *k, uint64_t seq, uint8_t type, const uint8_t *plain,
                 size_t len, uint8_t *out, size_t cap)
{
    struct iovec v = { (void *)plain, len };
    return tls_seal(k, seq, type, &v, 1, out, cap);
}

/* RFC 8446 5.4: the inner plaintext ends with the content type, then zeros; a record
 * with no non-zero byte has no type. Returns the content's length, or -1. */
static long strip_padding(const uint8_t *p, size_t n, uint8_t *type)
{
    while (n > 0 && p[n - 1] == 0)
        n--;
    if (n == 0)
        return -1;
    *type = p[n - 1];
    return (long)n - 1;
}

int tls_open(const struct tls_keys *k, uint64_t seq, uint8_t *rec, size_t len, uint8_t *type,
             size_t *off, size_t *plen)
{
    size_t frag = len - TLS_HDR;
    size_t pre = explicit_nonce(k) ? 8 : 0;
    gnutls_aead_cipher_hd_t h = aead_handle(k);
    if (!h)
        return -TLS_ALERT_INTERNAL_ERROR;
    if (len < TLS_HDR || frag != (size_t)(rec[3] << 8 | rec[4]))
        return -TLS_ALERT_DECODE_ERROR;
    if (frag > TLS_MAX_CIPHER) /* RFC 8446 5.2; for TLS 1.2 AEADs, tighter than 6.2.3 */
        return -TLS_ALERT_RECORD_OVERFLOW;
    if (k->minor == 4 && rec[0] != TLS_CT_APPDATA) /* 5: after the handshake, only that */
        return -TLS_ALERT_UNEXPECTED_MESSAGE;
    if (frag < pre + TLS_TAG)
        return -TLS_ALERT_DECODE_ERROR;
    size_t clen = frag - pre - TLS_TAG;
    uint8_t nonce[12], ad[13];
    record_nonce(k, seq, nonce);
    if (pre) /* RFC 5288 3: the client's explicit nonce is the one it sent */
        memcpy(nonce + 4, rec + TLS_HDR, 8);
    size_t adlen = record_ad(k, seq, rec, clen, ad);
    uint8_t *c = rec + TLS_HDR + pre;
    giovec_t a = { ad, adlen }, v = { c, clen };
    if (gnutls_aead_cipher_decryptv2(h, nonce, 12, &a, 1, &v, 1, c + clen, TLS_TAG) < 0)
        return -TLS_ALERT_BAD_RECORD_MAC; /* RFC 8446 5.2 */
    *off = TLS_HDR + pre;
    if (k->minor != 4) {
        *type = rec[0];
        *plen = clen;
    } else {
        long n = strip_padding(c, clen, type);
        if (n < 0)
            return -TLS_ALERT_UNEXPECTED_MESSAGE;
        *plen = (size_t)n;
    }
    if (*plen > TLS_MAX_PLAIN)
        return -TLS_ALERT_RECORD_OVERFLOW; /* RFC 8446 5.2, RFC 5246 6.2.1 */
    return 0;
}
