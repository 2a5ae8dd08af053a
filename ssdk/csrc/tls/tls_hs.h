/*
 * tls_hs.h - the server handshake driver's inner declarations (the API is in tls.h).
 *
 * tls_hs_finish -> tls_keys_from_secret (tls_conn.c: the same derivation KeyUpdate uses)
 */
#ifndef SSDK_TLS_HS_H
#define SSDK_TLS_HS_H
#include <stdint.h>

#include "tls/tls.h"

/* RFC 8446 7.3: a direction's key and IV from its traffic secret (k->cipher set). */
int tls_keys_from_secret(struct tls_keys *k, const uint8_t *secret, unsigned hash_len);

#endif
