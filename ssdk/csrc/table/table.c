/*
 * table.c - opens a bundle blob and answers "which response for this path".
 *
 * serve/resp.c (ssdk_table_load) -> table_open (validate once)
 * serve/serve.c (choose) -> table_host, table_route, table_special
 *
 * The blob is immutable and mapped read-only; the engine keeps only pointers into it.
 * Everything that could make a later access go out of bounds is rejected here. Which
 * table serves, and the hot swap between tables, is the engine's (serve/gen.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/seq.h"
#include "table/table.h"

/* Every template's Date value as built: its segments' sums were computed with it. */
const uint8_t date_placeholder[DATE_LEN] = "Thu, 01 Jan 1970 00:00:00 GMT";

/* FNV-1a 64 carried on over more bytes (the route hash covers section and path). */
static uint64_t fnv_more(uint64_t h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* FNV-1a 64 of a byte string (host names; ssdk.core.blob computes the same). */
uint64_t fnv1a64(const uint8_t *p, size_t len)
{
    return fnv_more(0xcbf29ce484222325ull, p, len);
}

static int fits(uint64_t off, uint64_t n, uint64_t size, uint64_t len)
{
    return n <= UINT64_MAX / (size ? size : 1) && off <= len && n * size <= len - off;
}

_Static_assert(sizeof(TABLE_MAGIC) - 1 == sizeof(((struct ssdk_table_hdr *)0)->magic),
               "the magic fills its field");

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* The width of a 206 template's Content-Range slot, as the build lays it out. */
uint32_t range_slot_len(uint64_t total)
{
    uint32_t d = 1;
    while (total >= 10) {
        total /= 10;
        d++;
    }
    return 8 + 3 * d;  /* "bytes " first "-" last "/" total, first and last < total */
}

/* A 206 template (RESP_RANGE): a header block whose two slots lie inside it, sending
 * parts of the body of a 200 that is no template itself. */
static int range_check(const struct table *t, uint32_t i, char *err, size_t errlen)
{
    const struct ssdk_resp *r = &t->resp[i];
    if (r->stream_len != r->hdr_len || r->body >= t->hdr->nresp)
        FAIL("response %u: a range template with a body, or no 200 to take parts of", i);
    const struct ssdk_resp *b = &t->resp[r->body];
    if ((b->flags & RESP_RANGE) || b->hdr_len >= b->stream_len
        || b->stream_len - b->hdr_len > 0x7fffffffu)
        FAIL("response %u: response %u is no body to take parts of", i, r->body);
    uint64_t slot = range_slot_len(b->stream_len - b->hdr_len);
    if ((uint64_t)r->clen_off + CLEN_SLOT > r->hdr_len || (uint64_t)r->range_off + slot > r->hdr_len)
        FAIL("response %u: Content-Length or Content-Range slot outside the header", i);
    return 0;
}

/* Check one response: its stream, its segments, its Connection and Date slots. */
static int resp_check(const struct table *t, uint32_t i, char *err, size_t errlen)
{
    const struct ssdk_resp *r = &t->resp[i];
    if (!fits(r->stream_off, r->stream_len, 1, t->len))
        FAIL("response %u: stream outside the blob", i);
    if (r->hdr_len > r->stream_len)
        FAIL("response %u: header longer than stream", i);
    uint64_t want = r->stream_len ? (r->stream_len + t->mss - 1) / t->mss : 1;
    if (r->nseg != want || (uint64_t)r->seg_first + r->nseg > t->hdr->nseg)
        FAIL("response %u: %u segments, expected %llu", i, r->nseg, (unsigned long long)want);
    if ((uint64_t)r->conn_off + CONN_TOKEN_LEN > r->hdr_len)
        FAIL("response %u: Connection slot outside the header", i);
    if (memcmp(t->blob + r->stream_off + r->conn_off, "keep-alive", CONN_TOKEN_LEN) != 0)
        FAIL("response %u: Connection slot does not hold keep-alive", i);
    if ((uint64_t)r->date_off + DATE_LEN > r->hdr_len
        || memcmp(t->blob + r->stream_off + r->date_off, date_placeholder, DATE_LEN) != 0)
        FAIL("response %u: no Date placeholder at offset %u", i, r->date_off);
    return (r->flags & RESP_RANGE) ? range_check(t, i, err, errlen) : 0;
}

/* A response index that exists, or NONE32 where the table allows none. */
static int index_ok(const struct table *t, uint32_t i, int may_be_none)
{
    return i < t->hdr->nresp || (may_be_none && i == NONE32);
}

/* A response that may be sent as it is: anything but a 206 template, which only a
 * variant's `partial` may name (a 206 is sent with the part variant.c chose). */
static int whole_ok(const struct table *t, uint32_t i, int may_be_none)
{
    if (i == NONE32)
        return may_be_none;
    return i < t->hdr->nresp && !(t->resp[i].flags & RESP_RANGE);
}

/* One variant: its responses exist, and its 206 template takes parts of its own GET. */
static int variant_check(const struct table *t, uint32_t i, char *err, size_t errlen)
{
    const struct ssdk_variant *v = &t->var[i];
    if (!whole_ok(t, v->get, 0) || !whole_ok(t, v->head, 0) || !whole_ok(t, v->not_modified, 1)
        || !index_ok(t, v->partial, 1) || !whole_ok(t, v->unsatisfiable, v->partial == NONE32)
        || v->coding >= CODING_N)
        FAIL("variant %u: a response index or coding out of range", i);
    if (v->partial != NONE32
        && (!(t->resp[v->partial].flags & RESP_RANGE) || t->resp[v->partial].body != v->get))
        FAIL("variant %u: its 206 template does not send parts of its GET", i);
    return 0;
}

/* One route slot: its key and section, and variants that start with the identity one
 * and name each coding once (variant.c relies on both). */
static int route_check(const struct table *t, uint32_t i, char *err, size_t errlen)
{
    const struct ssdk_route_slot *s = &t->slots[i];
    if (!fits(s->path_off, s->path_len, 1, t->len) || s->section >= t->hdr->nsection
        || s->nvar == 0 || s->nvar > CODING_N || s->var_first >= t->hdr->nvar
        || s->nvar > t->hdr->nvar - s->var_first)
        FAIL("route slot %u out of bounds", i);
    unsigned seen = 0;
    for (uint32_t k = 0; k < s->nvar; k++) {
        unsigned bit = 1u << t->var[s->var_first + k].coding;
        if ((seen & bit) || (k == 0 && bit != 1u << CODING_IDENTITY))
            FAIL("route slot %u: variants not identity first, or a coding twice", i);
        seen |= bit;
    }
    return 0;
}

/* Every section has every special response the parser may call for; every host slot
 * names bytes in the blob and a section that exists. */
static int sections_check(const struct table *t, char *err, size_t errlen)
{
    for (uint32_t s = 0; s < t->hdr->nsection; s++)
        for (int i = 0; i < SP_COUNT; i++) {
            uint32_t r = t->sections[s].special[i];
            if (!whole_ok(t, r, 1))
                FAIL("section %u: special response %d out of bounds", s, i);
            if (i < SP_USED && r == NONE32)
                FAIL("section %u lacks special response %d (a bundle older than this ssdk?)",
                     s, i);
        }
    for (uint32_t i = 0; i < t->hdr->host_slots; i++) {
        const struct ssdk_host_slot *h = &t->hosts[i];
        if (h->name_len && (!fits(h->name_off, h->name_len, 1, t->len)
                            || h->section >= t->hdr->nsection))
            FAIL("host slot %u out of bounds", i);
    }
    return 0;
}

int table_open(struct table *t, const uint8_t *blob, uint64_t len, char *err, size_t errlen)
{
    const struct ssdk_table_hdr *h = (const void *)blob;
    if (len < sizeof(*h) || memcmp(h->magic, TABLE_MAGIC, sizeof(h->magic)) != 0)
        FAIL("not a ssdk table of format 3 (bad magic)");
    if (h->mss < TABLE_MSS_MIN || h->mss > TABLE_MSS_MAX)
        FAIL("template MSS %u out of range (%d..%d)", h->mss, TABLE_MSS_MIN, TABLE_MSS_MAX);
    if (h->hash_slots == 0 || (h->hash_slots & (h->hash_slots - 1))
        || (h->host_slots & (h->host_slots - 1)))
        FAIL("a hash table size (%u, %u) is not a power of two", h->hash_slots, h->host_slots);
    if (h->nsection == 0 || h->nsection > 0xffff)
        FAIL("%u sections (1..65535)", h->nsection);
    if (!fits(h->hash_off, h->hash_slots, sizeof(struct ssdk_route_slot), len)
        || !fits(h->resp_off, h->nresp, sizeof(struct ssdk_resp), len)
        || !fits(h->seg_off, h->nseg, sizeof(uint32_t), len)
        || !fits(h->var_off, h->nvar, sizeof(struct ssdk_variant), len)
        || !fits(h->host_off, h->host_slots, sizeof(struct ssdk_host_slot), len)
        || !fits(h->section_off, h->nsection, sizeof(struct ssdk_section), len))
        FAIL("table section outside the blob");
    struct table n = {
        .blob = blob, .len = len, .hdr = h, .mss = h->mss,
        .slots = (const void *)(blob + h->hash_off),
        .resp = (const void *)(blob + h->resp_off),
        .var = (const void *)(blob + h->var_off),
        .hosts = (const void *)(blob + h->host_off),
        .sections = (const void *)(blob + h->section_off),
        .seg_sum = (const void *)(blob + h->seg_off),
    };
    for (uint32_t i = 0; i < h->nresp; i++)
        if (resp_check(&n, i, err, errlen))
            return -1;
    for (uint32_t i = 0; i < h->nvar; i++)
        if (variant_check(&n, i, err, errlen))
            return -1;
    for (uint32_t i = 0; i < h->hash_slots; i++)
        if (n.slots[i].path_len && route_check(&n, i, err, errlen))
            return -1;
    if (sections_check(&n, err, errlen))
        return -1;
    *t = n;
    return 0;
}

/* Open addressing with linear probing over (section, key); an empty slot ends it. */
const struct ssdk_route_slot *table_route(const struct table *t, uint16_t section,
                                          const uint8_t *key, size_t len)
{
    const uint8_t sec[2] = {(uint8_t)section, (uint8_t)(section >> 8)};
    uint64_t hv = fnv_more(fnv_more(0xcbf29ce484222325ull, sec, 2), key, len);
    uint32_t mask = t->hdr->hash_slots - 1;
    for (uint32_t i = (uint32_t)hv & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
        const struct ssdk_route_slot *s = &t->slots[i];
        if (!s->path_len)
            return NULL;
        if (s->hash == hv && s->section == section && s->path_len == len
            && !memcmp(t->blob + s->path_off, key, len))
            return s;
    }
    return NULL;
}

#define HOST_NAME_MAX_ 255

/* RFC 9110 7.2 and 4.2.3: the host without its port, without a final dot, lower case
 * (RFC 3986 3.2.2: case-insensitive). IP literals keep their brackets. */
uint16_t table_host(const struct table *t, const uint8_t *host, size_t len)
{
    if (!t->hdr->host_slots || !len)
        return 0;
    size_t n = 0;
    if (host[0] == '[') {
        while (n < len && host[n] != ']')
            n++;
        n += n < len;
    } else {
        while (n < len && host[n] != ':')
            n++;
        if (n && host[n - 1] == '.')
            n--;
    }
    if (!n || n > HOST_NAME_MAX_)
        return 0;
    uint8_t name[HOST_NAME_MAX_];
    for (size_t i = 0; i < n; i++)
        name[i] = (uint8_t)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
    uint64_t hv = fnv_more(0xcbf29ce484222325ull, name, n);
    uint32_t mask = t->hdr->host_slots - 1;
    for (uint32_t i = (uint32_t)hv & mask, k = 0; k <= mask; i = (i + 1) & mask, k++) {
        const struct ssdk_host_slot *s = &t->hosts[i];
        if (!s->name_len)
            return 0;
        if (s->hash == hv && s->name_len == n && !memcmp(t->blob + s->name_off, name, n))
            return s->section;
    }
    return 0;
}

/* A section's special response (table_open saw to it that each one is there). */
uint32_t table_special(const struct table *t, uint16_t section, enum special_resp sp)
{
    const struct ssdk_section *s = &t->sections[section < t->hdr->nsection ? section : 0];
    return s->special[sp] != NONE32 ? s->special[sp] : s->special[SP_400];
}
