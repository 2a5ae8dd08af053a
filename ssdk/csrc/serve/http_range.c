/*
 * http_range.c - the bytes of a 206 (RFC 9110 14.4, 15.3.7): its precomputed header
 * block with the Content-Length and Content-Range values written into their slots, then
 * the chosen part of the body of its 200, read from the 200's stream in place. Nothing
 * is stored per response but the part (struct resp's rng), so a retransmission
 * rebuilds the same bytes, as for any template.
 *
 * serve.c (start_response)    -> resp_span
 * resp.c (resp_fill, a segment) -> range_fill -> slot_text
 *
 * The slots are right-aligned: the spaces before a value are the optional whitespace a
 * field value may start with (RFC 9110 5.6.3), as with the Connection slot. Their bytes'
 * sums are not precomputed: a 206's segments are summed as they are copied, since its
 * body rarely starts at a template segment's boundary.
 */
#include <string.h>
#include "serve/engine.h"

/* How many bytes response r sends on c: its header block for HEAD, a 206's header
 * block and part, or its whole stream. */
uint32_t resp_span(const struct ssdk_resp *r, const struct range_pick *rg, int head)
{
    if (head)
        return r->hdr_len;
    if (r->flags & RESP_RANGE)
        return r->hdr_len + rg->len;
    return (uint32_t)r->stream_len;
}

/* Decimal digits of x written backwards from end; returns where they start. */
static uint8_t *digits_back(uint8_t *end, uint64_t x)
{
    do {
        *--end = (uint8_t)('0' + x % 10);
        x /= 10;
    } while (x);
    return end;
}

/* The value of a slot of n bytes: `text` right-aligned after spaces. */
static void slot_text(uint8_t *slot, uint32_t n, const uint8_t *text, uint32_t len)
{
    memset(slot, ' ', n - len);
    memcpy(slot + n - len, text, len);
}

/* Write what of the field [at, at+n) falls in the segment [off, off+len) at pl. */
static void put(uint8_t *pl, uint64_t off, uint32_t len, uint64_t at, const uint8_t *v,
                uint32_t n)
{
    uint64_t a = at > off ? at : off, b = at + n < off + len ? at + n : off + len;
    if (a < b)
        memcpy(pl + (a - off), v + (a - at), b - a);
}

/* Bytes [off, off+len) of c's 206 into pl: the template's header with both slots
 * written, then the part of the body from the 200's stream. */
void range_fill(const struct table *t, const struct ssdk_resp *r, const struct range_pick *rg,
                uint8_t *pl, uint64_t off, uint32_t len)
{
    const struct ssdk_resp *b = &t->resp[r->body];
    uint64_t total = b->stream_len - b->hdr_len, hdr = r->hdr_len;
    if (off < hdr) {
        uint32_t n = (uint32_t)(off + len <= hdr ? len : hdr - off);
        memcpy(pl, resp_stream(t, r) + off, n);
        uint8_t num[24], slot[3 * 20 + 8];
        uint8_t *end = num + sizeof(num), *s = digits_back(end, rg->len);
        slot_text(slot, CLEN_SLOT, s, (uint32_t)(end - s));
        put(pl, off, n, r->clen_off, slot, CLEN_SLOT);
        /* "bytes first-last/total" */
        uint8_t text[3 * 20 + 8], *w = text + sizeof(text);
        w = digits_back(w, total);
        *--w = '/';
        w = digits_back(w, (uint64_t)rg->first + rg->len - 1);
        *--w = '-';
        w = digits_back(w, rg->first);
        w -= 6;
        memcpy(w, "bytes ", 6);
        uint32_t rlen = range_slot_len(total);
        slot_text(slot, rlen, w, (uint32_t)(text + sizeof(text) - w));
        put(pl, off, n, r->range_off, slot, rlen);
    }
    if (off + len > hdr) {
        uint64_t from = off > hdr ? off - hdr : 0;  /* offset in the part */
        uint64_t at = off > hdr ? 0 : hdr - off;    /* where it lands in the segment */
        memcpy(pl + at, resp_stream(t, b) + b->hdr_len + rg->first + from, len - at);
    }
}
