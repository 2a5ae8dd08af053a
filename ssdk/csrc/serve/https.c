/*
 * https.c - HTTP over TLS on the stack's connections (docs/tls.md): the TLS port's
 * handshakes, and the records between TCP's byte stream and HTTP's.
 *
 * Python -> ssdk_engine_tls: the server whose handshakes open cfg.tls_port's connections
 */
#include <stdio.h>
#include "serve/engine.h"

int ssdk_engine_tls(struct ssdk_engine *e, struct tls_server *srv, char *err, size_t errlen)
{
    if (!srv) {
        snprintf(err, errlen, "no TLS server given");
        return -1;
    }
    if (!e->tcp.net.cfg.tls_port) {
        snprintf(err, errlen, "the engine has no TLS port (ssdk_config.tls_port)");
        return -1;
    }
    e->tls_srv = srv;
    return 0;
}
