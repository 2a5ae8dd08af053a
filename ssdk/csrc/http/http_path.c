/*
 * http_path.c - the route key of a request path (RFC 3986 2.1, 5.2.4, 6.2.2; docs/http.md):
 * percent-decoded, dot-segments removed, repeated slashes merged, and encoded again the
 * way `ssdk build` encodes route keys (docs/bundle.md, "Route keys"), so that every
 * spelling of a path finds the one key it was built under.
 *
 * serve/serve.c (choose) -> hp_path_key -> table_route (table/)
 *
 * A key is canonical: "/" and segments, none "." or "..", none empty but a trailing one;
 * every byte left as it is or escaped upper-case; hp_path_key of a key is the key itself.
 * A path whose ".." would climb above the root has no key.
 */
#include "http/http_grammar.h"

/* The value of a hex digit the caller has checked is one. */
static uint8_t hexval(uint8_t c)
{
    return (uint8_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

/*
 * One pass over the path: each byte percent-decoded as it is read, written to dec, and at
 * every slash (a decoded %2F is one too, as nginx has it) the segment just written is
 * looked at: "." goes, ".." takes the one before it with it, or is an error at the root;
 * an empty one (a repeated slash) leaves nothing. Then dec is encoded into key.
 */
int hp_path_key(const uint8_t *path, size_t n, uint8_t *dec, uint8_t *key, size_t *keylen)
{
    size_t o = 1, seg = 1;
    dec[0] = '/';
    for (size_t i = 1; i <= n; i++) {
        int end = i == n;
        if (!end) {
            uint8_t ch = path[i];
            if (ch == '%') {
                if (i + 2 >= n || !(hp_bits[path[i + 1]] & hp_bits[path[i + 2]] & B_HEX))
                    return -1;
                ch = (uint8_t)(hexval(path[i + 1]) << 4 | hexval(path[i + 2]));
                if (ch == 0)
                    return -1;
                i += 2;
            }
            if (ch != '/') {
                dec[o++] = ch;
                continue;
            }
        }
        size_t len = o - seg;
        if (len == 1 && dec[seg] == '.') {
            o = seg;
        } else if (len == 2 && dec[seg] == '.' && dec[seg + 1] == '.') {
            if (seg == 1)
                return -1;  /* above the root */
            o = seg - 1;
            while (dec[o - 1] != '/')
                o--;
        } else if (len > 0 && !end) {
            dec[o++] = '/';
        }
        seg = o;
    }
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (size_t i = 0; i < o; i++) {
        uint8_t ch = dec[i];
        if (hp_bits[ch] & B_KEY) {
            key[k++] = ch;
        } else {
            key[k++] = '%';
            key[k++] = (uint8_t)hex[ch >> 4];
            key[k++] = (uint8_t)hex[ch & 15];
        }
    }
    *keylen = k;
    return 0;
}

