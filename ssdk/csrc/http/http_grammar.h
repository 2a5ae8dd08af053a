/*
 * http_grammar.h - what the request parser's own files share (http_parse.c,
 * http_fields.c, http_prefs.c, http_date.c, http_path.c; nothing outside http/ includes
 * it, scripts/check-layers sees to that): the character sets of RFC 9110 and RFC 3986
 * as one table of bits, and the parser's inner entry points.
 */
#ifndef SSDK_HTTP_GRAMMAR_H
#define SSDK_HTTP_GRAMMAR_H
#include <stddef.h>
#include <stdint.h>
#include "http/http_parse.h"

/* The sets a byte belongs to, one entry per byte (hp_bits, made in http_parse.c). */
#define B_TCHAR 0x01   /* RFC 9110 5.6.2 */
#define B_HEX   0x02
#define B_DIGIT 0x04
#define B_KEY   0x08   /* kept as it is in a route key: what `ssdk build` does not escape */
/* ...besides letters and digits: urllib.parse.quote's `safe` in ssdk/core/cdefs.py, which
 * reads it from here. KEYSAFE (http_parse.c) must make the same set: hp_grammar_check
 * asserts it in debug builds. */
#define ROUTE_KEY_SAFE "/:@!$&'()*+,;=-._~"
#define B_REG   0x10   /* reg-name: unreserved or sub-delims (RFC 3986 3.2.2) */
#define B_SCHEME 0x20  /* ALPHA DIGIT + - . (RFC 3986 3.1) */
#define B_ALPHA 0x40
extern const uint8_t hp_bits[256];

/* a[0..n) equals the lower-case literal s, letters compared without case */
static inline int hp_ieq(const uint8_t *a, size_t n, const char *s)
{
    size_t i = 0;
    for (; i < n && s[i]; i++) {
        uint8_t x = a[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x + 32);
        if (x != (uint8_t)s[i])
            return 0;
    }
    return i == n && !s[i];
}

/* http_fields.c */
int hp_host_ok(const uint8_t *h, size_t n, int need_host, int need_port);
int hp_list_next(const uint8_t *v, size_t n, size_t *at, const uint8_t **el, size_t *len);
enum hp_result hp_field_line(struct http_parse *p, const uint8_t *b);
enum hp_result hp_block_end(struct http_parse *p);

/* http_prefs.c: the rules of the fields that choose a variant */
enum hp_result hp_on_accept_encoding(struct http_parse *p, const uint8_t *v, size_t n);
enum hp_result hp_on_if_none_match(struct http_parse *p, const uint8_t *v, size_t n);
enum hp_result hp_on_if_modified_since(struct http_parse *p, const uint8_t *v, size_t n);
enum hp_result hp_on_range(struct http_parse *p, const uint8_t *v, size_t n);
enum hp_result hp_on_if_range(struct http_parse *p, const uint8_t *v, size_t n);

#endif
