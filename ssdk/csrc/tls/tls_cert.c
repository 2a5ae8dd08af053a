/*
 * tls_cert.c - a self-signed certificate for development (docs/tls.md, "ssdk dev over
 * HTTPS"): an ECDSA P-256 key and an X.509 v3 certificate made with GnuTLS's x509 API.
 *
 * ssdk dev --tls -> tls_selfsigned_write(cert, key, "localhost,127.0.0.1,...", days)
 *   -> names: each an IP address (iPAddress) or a DNS name (dNSName) in subjectAltName
 *   -> the key (PKCS #8 PEM, mode 0600) and the certificate (PEM) written beside each
 *      other, each through a temporary file renamed into place
 *
 * The certificate is an end entity (basicConstraints CA:FALSE, digitalSignature,
 * serverAuth) signed by its own key: a client that is given it as its trust anchor
 * (curl --cacert, Python's ssl cafile) accepts it for the names it carries and no other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"

enum { NAME_MAX_LEN = 253, CN_MAX_LEN = 64, DAYS_MAX = 3650, SERIAL_LEN = 16 };

static int fail(char *err, size_t errlen, const char *what, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, detail);
    return -1;
}

/* A DNS name as a certificate may carry it: labels of letters, digits and hyphens (not
 * at a label's ends), 63 bytes at most each, a leading "*." allowed (a wildcard). The
 * last label is not all digits: a URL's host ending so is read as an IPv4 address
 * (WHATWG URL, "ends in a number"), so such a name is a mistyped address. */
static int dns_name_ok(const char *s, size_t n)
{
    size_t last = n;
    while (last && s[last - 1] != '.')
        last--;
    if (n > last && strspn(s + last, "0123456789") == n - last)
        return 0;
    if (n >= 2 && s[0] == '*' && s[1] == '.') {
        s += 2;
        n -= 2;
    }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0))
            return 0;
        if (++label > 63)
            return 0;
    }
    return label > 0 && s[n - 1] != '-';
}

/* Adds one name to subjectAltName: an IPv4 or IPv6 address as an iPAddress, anything
 * else that is a DNS name as a dNSName. 1 for a DNS name, 0 for an address, -1 with err. */
static int add_name(gnutls_x509_crt_t crt, const char *s, size_t n, char *err, size_t errlen)
{
    char name[NAME_MAX_LEN + 1];
    if (n > NAME_MAX_LEN)
        return fail(err, errlen, "names", "a name is longer than 253 bytes");
    memcpy(name, s, n);
    name[n] = 0;
    unsigned char ip[16];
    int r, dns = 0;
    if (inet_pton(AF_INET, name, ip) == 1)
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                 GNUTLS_FSAN_APPEND);
    else if (inet_pton(AF_INET6, name, ip) == 1)
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                 GNUTLS_FSAN_APPEND);
    else if (dns_name_ok(name, n)) {
        dns = 1;
        r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, (unsigned)n,
                                                 GNUTLS_FSAN_APPEND);
    } else {
        char d[NAME_MAX_LEN + 64];
        snprintf(d, sizeof d, "'%s' is neither a DNS name nor an IP address", name);
        return fail(err, errlen, "names", d);
    }
    if (r < 0)
        return fail(err, errlen, name, gnutls_strerror(r));
    return dns;
}

/* Writes data to path through path.tmp (mode `mode`, whatever an old file had), renamed
 * into place, so a reader never finds half a file. */
static int write_file(const char *path, const gnutls_datum_t *data, mode_t mode, char *err,
                      size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return fail(err, errlen, path, strerror(ENAMETOOLONG));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return fail(err, errlen, path, strerror(errno));
    int ok = fchmod(fd, mode) == 0;
    size_t done = 0;
    while (ok && done < data->size) {
        ssize_t n = write(fd, data->data + done, data->size - done);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok)
            done += (size_t)n;
    }
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return fail(err, errlen, path, strerror(e ? e : EIO));
    }
    return 0;
}

int tls_selfsigned_write(const char *cert_file, const char *key_file, const char *names,
                         unsigned days, char *err, size_t errlen)
{
    if (!cert_file || !key_file || !names)
        return fail(err, errlen, "tls", "a file or the names are missing");
    if (days < 1 || days > DAYS_MAX)
        return fail(err, errlen, "days", "a certificate is valid for 1 to 3650 days");
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t key_pem = { NULL, 0 }, crt_pem = { NULL, 0 };
    int rc = -1, count = 0;
    const char *cn = NULL; /* the subject's common name: the first DNS name, else the first */
    size_t cn_len = 0;
    int cn_dns = 0;
    const char *step = "tls";
    int r = gnutls_x509_privkey_init(&key);
    if (r >= 0)
        r = gnutls_x509_crt_init(&crt);
    if (r >= 0) {
        step = "key";
        r = gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0,
                                          NULL, 0);
    }
    if (r < 0) {
        fail(err, errlen, step, gnutls_strerror(r));
        goto out;
    }
    for (const char *p = names; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n) {
            int dns = add_name(crt, s, n, err, errlen);
            if (dns < 0)
                goto out;
            if (n <= CN_MAX_LEN && (!cn || (dns && !cn_dns))) {
                cn = s;
                cn_len = n;
                cn_dns = dns;
            }
            count++;
        }
        p = end ? end + 1 : p + strlen(p);
    }
    if (!count) {
        fail(err, errlen, "names", "no name given (a comma-separated list)");
        goto out;
    }
    /* A positive serial of 16 random bytes (RFC 5280 4.1.2.2: at most 20). */
    unsigned char serial[SERIAL_LEN];
    step = "certificate";
    r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    time_t now = time(NULL);
    unsigned char id[64];
    size_t id_len = sizeof id;
    if (r >= 0)
        r = gnutls_x509_crt_set_version(crt, 3);
    /* RFC 6125 6.4.4: clients match the subjectAltName; the common name is for people. */
    if (r >= 0 && cn)
        r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                          (unsigned)cn_len);
    if (r >= 0)
        r = gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
    /* Valid from a few minutes back, for clocks a little behind this one. */
    if (r >= 0)
        r = gnutls_x509_crt_set_activation_time(crt, now - 300);
    if (r >= 0)
        r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400);
    if (r >= 0)
        r = gnutls_x509_crt_set_key(crt, key);
    if (r >= 0)
        r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
    if (r >= 0)
        r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
    if (r >= 0)
        r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    if (r >= 0)
        r = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &id_len);
    if (r >= 0)
        r = gnutls_x509_crt_set_subject_key_id(crt, id, id_len);
    if (r >= 0)
        r = gnutls_x509_crt_set_authority_key_id(crt, id, id_len);
    if (r >= 0)
        r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
    if (r >= 0)
        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem);
    if (r >= 0)
        r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                              &key_pem);
    if (r < 0) {
        fail(err, errlen, step, gnutls_strerror(r));
        goto out;
    }
    /* The key first: a certificate on disk always has its key beside it. */
    if (write_file(key_file, &key_pem, 0600, err, errlen) < 0 ||
        write_file(cert_file, &crt_pem, 0644, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    if (key_pem.data) {
        gnutls_memset(key_pem.data, 0, key_pem.size);
        gnutls_free(key_pem.data);
    }
    gnutls_free(crt_pem.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return rc;
}
