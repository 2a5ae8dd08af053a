/*
 * tls_conn.c - the client's record stream after the handshake, with no buffer but one
 * record's (docs/tls.md, "The client's records").
 *
 * tls_conn_input -> take_bytes (the reassembly buffer: one record at most) -> tls_open
 *   -> on_alert / on_handshake (KeyUpdate: tls_conn_key_update) / application data out
 * tls_conn_output -> the records we owe (KeyUpdate, close_notify, alerts) -> tls_seal
 * tls_conn_key_update -> next_secret, tls_keys_from_secret (HKDF-Expand-Label, RFC 8446 7)
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "tls/tls.h"
#include "tls/tls_hs.h"
#include "tls/tls_record.h"

/* RFC 8446 7.1: HKDF-Expand-Label(Secret, Label, "", Length), the HkdfLabel being
 * uint16 length || opaque label<7..255> = "tls13 " + Label || opaque context<0..255>. */
static int expand_label(const uint8_t *secret, unsigned hash_len, const char *label, uint8_t *out,
                        unsigned len)
{
    uint8_t info[2 + 1 + 255 + 1];
    size_t l = strlen(label);
    if (l > 249)
        return -1;
    info[0] = (uint8_t)(len >> 8);
    info[1] = (uint8_t)len;
    info[2] = (uint8_t)(6 + l);
    memcpy(info + 3, "tls13 ", 6);
    memcpy(info + 9, label, l);
    info[9 + l] = 0; /* no context */
    gnutls_datum_t key = { (unsigned char *)secret, hash_len };
    gnutls_datum_t inf = { info, (unsigned)(10 + l) };
    gnutls_mac_algorithm_t mac = hash_len == 48 ? GNUTLS_MAC_SHA384 : GNUTLS_MAC_SHA256;
    return gnutls_hkdf_expand(mac, &key, &inf, out, len) < 0 ? -1 : 0;
}

int tls_keys_from_secret(struct tls_keys *k, const uint8_t *secret, unsigned hash_len)
{
    unsigned klen = k->cipher == TLS_AES_128_GCM ? 16 : 32;
    memset(k->key, 0, sizeof k->key);
    if (expand_label(secret, hash_len, "key", k->key, klen) < 0
        || expand_label(secret, hash_len, "iv", k->iv, 12) < 0)
        return -1;
    return 0;
}

/* RFC 8446 7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd",
 * "", Hash.length); the keys and IV follow from it, and the sequence number restarts at
 * 0 (5.3). write: our direction, else the client's. */
int tls_conn_key_update(struct tls_conn *c, int write)
{
    uint8_t *secret = write ? c->wr_secret : c->rd_secret;
    struct tls_keys *k = write ? &c->wr : &c->rd;
    uint8_t next[48];
    if (c->hash_len == 0 || expand_label(secret, c->hash_len, "traffic upd", next, c->hash_len))
        return -1;
    memcpy(secret, next, c->hash_len);
    gnutls_memset(next, 0, sizeof next);
    k->seq = 0;
    return tls_keys_from_secret(k, secret, c->hash_len);
}

static int fail(struct tls_conn *c, int alert)
{
    c->phase = TLS_FAILED;
    c->pending = TLS_PEND_ALERT; /* nothing else is sent once we give up */
    c->alert = (uint8_t)alert;
    return TLS_EV_FATAL;
}

/* RFC 8446 6 (RFC 5246 7.2 for TLS 1.2): close_notify is answered with ours; user_canceled
 * and, in TLS 1.2, warnings are taken in; every other alert ends the connection. */
static int on_alert(struct tls_conn *c, const uint8_t *p, size_t n)
{
    if (n != 2)
        return fail(c, TLS_ALERT_DECODE_ERROR);
    if (p[1] == TLS_ALERT_CLOSE_NOTIFY) {
        c->phase = TLS_CLOSED;
        c->pending |= TLS_PEND_CLOSE_NOTIFY;
        return TLS_EV_CLOSE;
    }
    if (p[1] == TLS_ALERT_USER_CANCELED || (c->rd.minor == 3 && p[0] == 1))
        return TLS_EV_CONTROL;
    c->phase = TLS_FAILED;
    c->pending = 0; /* RFC 8446 6.2: a fatal alert received closes without a reply */
    return TLS_EV_FATAL;
}

/* RFC 8446 4.6.3: KeyUpdate moves the client's keys at once; update_requested asks for
 * ours, owed before our next application data (tls_conn_output). Several requests before
 * we answer get one KeyUpdate. */
static int on_key_update(struct tls_conn *c, const uint8_t *body, uint32_t len, int last)
{
    if (len != 1)
        return fail(c, TLS_ALERT_DECODE_ERROR);
    if (body[0] > 1)
        return fail(c, TLS_ALERT_ILLEGAL_PARAMETER);
    if (!last) /* 5.1: KeyUpdate ends its record, since the keys change after it */
        return fail(c, TLS_ALERT_UNEXPECTED_MESSAGE);
    if (tls_conn_key_update(c, 0) < 0)
        return fail(c, TLS_ALERT_INTERNAL_ERROR);
    if (body[0] == 1)
        c->pending |= TLS_PEND_KEY_UPDATE;
    return TLS_EV_CONTROL;
}

/* Handshake messages after the handshake. TLS 1.3: KeyUpdate only (a client sends no
 * other post-handshake message to a server that asked for no certificate, 4.6); each whole
 * in the record, since no handshake buffer is kept. TLS 1.2: a ClientHello asks for
 * renegotiation, which we decline with the warning RFC 5246 7.2.2 defines. */
static int on_handshake(struct tls_conn *c, const uint8_t *p, size_t n)
{
    if (c->rd.minor == 3) {
        if (n >= 4 && p[0] == 1) {
            c->pending |= TLS_PEND_NO_RENEGOTIATION;
            return TLS_EV_CONTROL;
        }
        return fail(c, TLS_ALERT_UNEXPECTED_MESSAGE);
    }
    int ev = TLS_EV_CONTROL;
    while (n > 0 && ev == TLS_EV_CONTROL) {
        if (n < 4)
            return fail(c, TLS_ALERT_UNEXPECTED_MESSAGE);
        uint32_t len = (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (len > n - 4)
            return fail(c, TLS_ALERT_UNEXPECTED_MESSAGE);
        if (p[0] != 24) /* key_update (4) */
            return fail(c, TLS_ALERT_UNEXPECTED_MESSAGE);
        ev = on_key_update(c, p + 4, len, 4 + len == n);
        p += 4 + len;
        n -= 4 + len;
    }
    return ev;
}

/* Moves bytes into the reassembly buffer until it holds one whole record (header first,
 * then as many as the header says). Returns the bytes taken; *whole says if it is. */
static size_t take_bytes(struct tls_conn *c, uint8_t *rx, const uint8_t *data, size_t len,
                         int *whole)
{
    size_t used = 0;
    *whole = 0;
    for (;;) {
        size_t need = TLS_HDR;
        if (c->rx_have >= TLS_HDR)
            need += (size_t)rx[3] << 8 | rx[4];
        if (need > TLS_RX_CAP)
            return used; /* the caller sees the header and refuses the record */
        if (c->rx_have == need) {
            *whole = 1;
            return used;
        }
        size_t n = need - c->rx_have < len - used ? need - c->rx_have : len - used;
        if (n == 0)
            return used;
        memcpy(rx + c->rx_have, data + used, n);
        c->rx_have = (uint16_t)(c->rx_have + n);
        used += n;
    }
}

static int dispatch(struct tls_conn *c, uint8_t type, const uint8_t *p, size_t n)
{
    if (type == TLS_CT_APPDATA)
        return TLS_EV_DATA; /* a zero-length one too (RFC 8446 5.1 allows it) */
    if (n == 0)             /* RFC 8446 5.1: no zero-length handshake or alert fragments */
        return fail(c, TLS_ALERT_UNEXPECTED_MESSAGE);
    if (type == TLS_CT_ALERT)
        return on_alert(c, p, n);
    if (type == TLS_CT_HANDSHAKE)
        return on_handshake(c, p, n);
    return fail(c, TLS_ALERT_UNEXPECTED_MESSAGE); /* RFC 8446 5: an unexpected type */
}

/* Takes the client's bytes in: at most one record is opened per call. *used says how many
 * bytes were taken (the rest is for the next call); TLS_EV_DATA points (*off, *plen) into
 * rx, valid until the next call. rx (TLS_RX_BUFFER bytes) holds the part of a record
 * received so far between calls: the same buffer each time for a connection. */
int tls_conn_input(struct tls_conn *c, uint8_t *rx, const uint8_t *data, size_t len, size_t *used,
                   size_t *off, size_t *plen)
{
    *off = *plen = 0;
    *used = len;
    if (c->phase != TLS_OPEN)
        return TLS_EV_MORE; /* RFC 8446 6.1: nothing after close_notify is read */
    int whole;
    *used = take_bytes(c, rx, data, len, &whole);
    if (c->rx_have >= TLS_HDR && TLS_HDR + ((size_t)rx[3] << 8 | rx[4]) > TLS_RX_CAP)
        return fail(c, TLS_ALERT_RECORD_OVERFLOW); /* RFC 8446 5.2: 2^14 + 256 at most */
    if (!whole)
        return TLS_EV_MORE;
    size_t rlen = c->rx_have;
    c->rx_have = 0;
    uint8_t type;
    int r = tls_open(&c->rd, c->rd.seq, rx, rlen, &type, off, plen);
    if (r < 0)
        return fail(c, -r);
    if (++c->rd.seq == 0) /* RFC 8446 5.3: a sequence number never wraps */
        return fail(c, TLS_ALERT_INTERNAL_ERROR);
    return dispatch(c, type, rx + *off, *plen);
}

static int seal_control(struct tls_conn *c, uint8_t type, const uint8_t *p, size_t n, uint8_t *out,
                        size_t cap)
{
    int r = tls_seal_buf(&c->wr, c->wr.seq, type, p, n, out, cap);
    if (r >= 0)
        c->wr.seq++;
    return r;
}

/* Seals the records owed to the client, in order, with the next write sequence numbers:
 * our KeyUpdate (then our keys move, RFC 8446 4.6.3), a no_renegotiation warning, our
 * close_notify, a fatal alert. Returns the bytes written (0: none owed), -1 when out is
 * too small (TLS_RECORD_HDR + 32 bytes a record suffice). */
int tls_conn_output(struct tls_conn *c, uint8_t *out, size_t cap)
{
    static const uint8_t key_update[5] = { 24, 0, 0, 1, 0 }; /* update_not_requested */
    size_t n = 0;
    int r = 0;
    if (c->pending & TLS_PEND_KEY_UPDATE) {
        r = seal_control(c, TLS_CT_HANDSHAKE, key_update, 5, out, cap);
        if (r < 0 || tls_conn_key_update(c, 1) < 0)
            return -1;
        n += (size_t)r;
        c->pending &= (uint8_t)~TLS_PEND_KEY_UPDATE;
    }
    const uint8_t warn[2] = { 1, TLS_ALERT_NO_RENEGOTIATION }, close[2] = { 1, 0 };
    const uint8_t fatal[2] = { 2, c->alert };
    const struct {
        uint8_t flag;
        const uint8_t *alert;
    } alerts[] = { { TLS_PEND_NO_RENEGOTIATION, warn },
                   { TLS_PEND_CLOSE_NOTIFY, close },
                   { TLS_PEND_ALERT, fatal } };
    for (unsigned i = 0; i < 3; i++) {
        if (!(c->pending & alerts[i].flag))
            continue;
        r = seal_control(c, TLS_CT_ALERT, alerts[i].alert, 2, out + n, cap - n);
        if (r < 0)
            return -1;
        n += (size_t)r;
        c->pending &= (uint8_t)~alerts[i].flag;
    }
    return (int)n;
}
