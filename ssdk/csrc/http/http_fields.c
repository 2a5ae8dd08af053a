/*
 * http_fields.c - what the header fields of a request mean (RFC 9110 5.6.1, 7.2, 7.6.1,
 * 8.6, 10.1.1; RFC 9112 3.2, 6.1, 6.3): a table of the fields we act on, each with its
 * rule, and what only the whole block can tell. The rules of the fields that choose a
 * response's variant (Accept-Encoding, If-None-Match, If-Modified-Since, Range,
 * If-Range) are in http_prefs.c.
 *
 * http_parse.c (hp_run, at each field line's end) -> hp_field_line -> field_rules[]
 *              (at the block's end)              -> hp_block_end
 *              (target_form)                     -> hp_host_ok
 *
 * A rule sees one field line's value, without the whitespace around it, while the
 * bytes are still in the buffer; it records what it learned in struct http_parse and
 * refuses (hp_fail) as soon as a value makes the request unframeable or invalid. Fields
 * that repeat are folded in as lists would be (RFC 9110 5.3).
 */
#include <string.h>
#include "http/http_grammar.h"
#include "table/table.h"

/* A non-empty run of bytes that all belong to the sets in bits. */
static int all(const uint8_t *a, size_t n, uint8_t bits)
{
    for (size_t i = 0; i < n; i++)
        if (!(hp_bits[a[i]] & bits))
            return 0;
    return n > 0;
}

/*
 * The next element of a comma-separated list (RFC 9110 5.6.1) in v[*at..n), without the
 * whitespace around it; empty elements are skipped, as a recipient must. 0: none left.
 */
int hp_list_next(const uint8_t *v, size_t n, size_t *at, const uint8_t **el, size_t *len)
{
    size_t i = *at;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
        i++;
    if (i >= n) {
        *at = n;
        return 0;
    }
    size_t s = i;
    while (i < n && v[i] != ',')
        i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    *at = i;
    *el = v + s;
    *len = e - s;
    return 1;
}

/*
 * uri-host [ ":" port ] (RFC 3986 3.2.2-3.2.3, as RFC 9110 7.2 and RFC 9112 3.2 use it).
 * need_host: an empty host is an error (an http URI's authority, RFC 9110 4.2.1);
 * need_port: the authority-form of CONNECT (RFC 9112 3.2.3).
 */
int hp_host_ok(const uint8_t *h, size_t n, int need_host, int need_port)
{
    size_t i = 0;
    if (n && h[0] == '[') {  /* IP-literal, checked for its characters only */
        for (i = 1; i < n && h[i] != ']'; i++)
            if (!(hp_bits[h[i]] & B_REG) && h[i] != ':')
                return 0;
        if (i == n || i == 1)
            return 0;
        i++;
    } else {
        for (; i < n && h[i] != ':'; i++) {
            if (h[i] == '%') {
                if (i + 2 >= n || !(hp_bits[h[i + 1]] & hp_bits[h[i + 2]] & B_HEX))
                    return 0;
                i += 2;
            } else if (!(hp_bits[h[i]] & B_REG)) {
                return 0;
            }
        }
        if (i == 0 && need_host)
            return 0;
    }
    if (i == n)
        return !need_port;
    if (h[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (!(hp_bits[h[i]] & B_DIGIT))
            return 0;
    return 1;
}

/* RFC 9112 3.2: one Host, and a valid one, except that the authority of an absolute-form
 * target stands in for its value (RFC 9112 3.2.2). */
static enum hp_result on_host(struct http_parse *p, const uint8_t *v, size_t n)
{
    if (++p->hosts > 1)
        return hp_fail(p, SP_400, W_HOST);
    /* RFC 9112 3.2: an invalid Host is 400 even beside an absolute-form target, whose
     * authority is then the one that counts (3.2.2, recorded by target_form). */
    if (!hp_host_ok(v, n, 0, 0))
        return hp_fail(p, SP_400, W_HOST);
    if (p->form != TF_ABSOLUTE) {
        p->host = p->vstart;
        p->host_len = (uint16_t)n;
    }
    return HP_MORE;
}

/* RFC 9110 7.6.1: a list of case-insensitive options; only two mean anything to us. */
static enum hp_result on_connection(struct http_parse *p, const uint8_t *v, size_t n)
{
    const uint8_t *el;
    size_t len, at = 0;
    while (hp_list_next(v, n, &at, &el, &len)) {
        if (hp_ieq(el, len, "close"))
            p->flags |= HF_CLOSE;
        else if (hp_ieq(el, len, "keep-alive"))
            p->flags |= HF_KEEP;
    }
    return HP_MORE;
}

/*
 * RFC 9112 6.3: decimal digits. Repeats (in one line as a list, or on several lines) are
 * accepted when they all agree, which RFC 9112 6.3 allows; any disagreement, a
 * non-digit, an empty value, or a Transfer-Encoding beside it is bad framing. Values past
 * 32 bits are kept as UINT32_MAX: they are too large either way (413).
 */
static enum hp_result on_content_length(struct http_parse *p, const uint8_t *v, size_t n)
{
    const uint8_t *el;
    size_t len, at = 0;
    int any = 0;
    if (p->flags & HF_TE)
        return hp_fail(p, SP_400, W_FRAMING);
    while (hp_list_next(v, n, &at, &el, &len)) {
        if (!all(el, len, B_DIGIT))
            return hp_fail(p, SP_400, W_FRAMING);
        uint64_t x = 0;
        for (size_t i = 0; i < len; i++)
            if (x <= UINT32_MAX)
                x = x * 10 + (uint64_t)(el[i] - '0');
        uint32_t cl = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
        if ((p->flags & HF_LENGTH) && cl != p->content_length)
            return hp_fail(p, SP_400, W_FRAMING);
        p->flags |= HF_LENGTH;
        p->content_length = cl;
        any = 1;
    }
    return any ? HP_MORE : hp_fail(p, SP_400, W_FRAMING);
}

/*
 * RFC 9112 6.1: a list of codings, tokens with optional parameters, of which chunked, if
 * any, comes last and once (RFC 9112 7). Anything after chunked is bad framing at once;
 * whether chunked came at all is known at the end of the block.
 */
static enum hp_result on_transfer_encoding(struct http_parse *p, const uint8_t *v, size_t n)
{
    const uint8_t *el;
    size_t len, at = 0;
    if (p->flags & HF_LENGTH)
        return hp_fail(p, SP_400, W_FRAMING);
    p->flags |= HF_TE;
    while (hp_list_next(v, n, &at, &el, &len)) {
        size_t name = 0;
        while (name < len && el[name] != ';' && el[name] != ' ' && el[name] != '\t')
            name++;
        if ((p->flags & HF_TE_CHUNKED) || !all(el, name, B_TCHAR))
            return hp_fail(p, SP_400, W_FRAMING);
        if (hp_ieq(el, name, "chunked")) {
            if (name != len)
                return hp_fail(p, SP_400, W_FRAMING);  /* chunked takes no parameters */
            p->flags |= HF_TE_CHUNKED;
        } else {
            p->flags |= HF_TE_CODED;
        }
    }
    return HP_MORE;
}

/* RFC 9110 10.1.1: 100-continue is the only expectation there is (case-insensitive). */
static enum hp_result on_expect(struct http_parse *p, const uint8_t *v, size_t n)
{
    const uint8_t *el;
    size_t len, at = 0;
    while (hp_list_next(v, n, &at, &el, &len))
        p->flags |= hp_ieq(el, len, "100-continue") ? HF_CONTINUE : HF_EXPECT_BAD;
    return HP_MORE;
}

/* The fields we act on; every other field is checked for syntax only. */
static const struct {
    const char *name;  /* lower case: names are case-insensitive (RFC 9110 5.1) */
    enum hp_result (*apply)(struct http_parse *p, const uint8_t *v, size_t n);
} field_rules[] = {
    {"host", on_host},
    {"connection", on_connection},
    {"content-length", on_content_length},
    {"transfer-encoding", on_transfer_encoding},
    {"expect", on_expect},
    /* what chooses among a route's variants (http_prefs.c) */
    {"accept-encoding", hp_on_accept_encoding},
    {"if-none-match", hp_on_if_none_match},
    {"if-modified-since", hp_on_if_modified_since},
    {"range", hp_on_range},
    {"if-range", hp_on_if_range},
};

enum hp_result hp_field_line(struct http_parse *p, const uint8_t *b)
{
    if (++p->fields > HTTP_FIELDS_MAX)
        return hp_fail(p, SP_431, W_NONE);  /* RFC 6585 5 */
    const uint8_t *name = b + p->mark;
    size_t n = (size_t)(p->name_end - p->mark);
    for (size_t i = 0; i < sizeof(field_rules) / sizeof(field_rules[0]); i++)
        if (hp_ieq(name, n, field_rules[i].name))
            return field_rules[i].apply(p, b + p->vstart, (size_t)(p->vend - p->vstart));
    return HP_MORE;
}

/* The block is whole: what only all of its fields together can tell. */
enum hp_result hp_block_end(struct http_parse *p)
{
    if (p->minor >= 1 && p->hosts == 0)
        return hp_fail(p, SP_400, W_HOST);  /* RFC 9112 3.2 */
    if (p->flags & HF_TE) {
        /* RFC 9112 6.1: in HTTP/1.0 the framing is faulty; RFC 9112 6.3: chunked not last
         * means the length cannot be known. A well-framed chunked body is read only for
         * the application (serve/dynamic.c); serve.c answers 411 for any other (RFC 9112 6.3,
         * RFC 9110 15.5.12). */
        if (p->minor == 0 || !(p->flags & HF_TE_CHUNKED))
            return hp_fail(p, SP_400, W_FRAMING);
    } else if ((p->flags & HF_LENGTH) && p->content_length > HTTP_BODY_SKIP_MAX)
        return hp_fail(p, SP_413, W_NONE);  /* RFC 9110 15.5.14 */
    if (p->flags & HF_EXPECT_BAD)
        return hp_fail(p, SP_417, W_NONE);  /* RFC 9110 10.1.1 */
    return HP_DONE;
}
