/*
 * table.c - opens a bundle blob and answers "which response for this path".
 *
 * ssdk_table_load -> table_open (validate once) -> table_publish (hot swap)
 * http_serve -> table_lookup / table_special -> resp_hold ... resp_release
 *
 * The blob is immutable and mapped read-only; the engine keeps only pointers into it.
 * Everything that could make a later access go out of bounds is rejected here.
 *
 * Hot swap (DESIGN.md): a table loaded while another serves is published as the next
 * generation. New responses come from the current generation; a connection holds the
 * generation its response started from (resp_hold) until the response is acknowledged
 * or the connection goes (resp_release), so no response mixes two versions. A
 * generation that is not current and held by nobody is retired: its slot is reused and
 * ssdk_table_retired tells the owner of its blob that the memory may go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"

uint64_t fnv1a64(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int fits(uint64_t off, uint64_t n, uint64_t size, uint64_t len)
{
    return n <= UINT64_MAX / (size ? size : 1) && off <= len && n * size <= len - off;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Check one response: its stream, its segments, its Connection slot. */
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
    return 0;
}

int table_open(struct table *t, const uint8_t *blob, uint64_t len, char *err, size_t errlen)
{
    const struct ssdk_table_hdr *h = (const void *)blob;
    if (len < sizeof(*h) || memcmp(h->magic, "SSDKTBL1", 8) != 0)
        FAIL("not a ssdk table (bad magic)");
    if (h->mss < 64 || h->mss > NIC_FRAME_MAX - HDRS_LEN)
        FAIL("template MSS %u out of range (64..%d)", h->mss, NIC_FRAME_MAX - HDRS_LEN);
    if (h->hash_slots == 0 || (h->hash_slots & (h->hash_slots - 1)))
        FAIL("hash table size %u is not a power of two", h->hash_slots);
    if (!fits(h->hash_off, h->hash_slots, sizeof(struct ssdk_route_slot), len)
        || !fits(h->resp_off, h->nresp, sizeof(struct ssdk_resp), len)
        || !fits(h->seg_off, h->nseg, sizeof(uint32_t), len))
        FAIL("table section outside the blob");
    struct table n = {
        .blob = blob, .len = len, .hdr = h, .mss = h->mss,
        .slots = (const void *)(blob + h->hash_off),
        .resp = (const void *)(blob + h->resp_off),
        .seg_sum = (const void *)(blob + h->seg_off),
    };
    for (uint32_t i = 0; i < h->nresp; i++)
        if (resp_check(&n, i, err, errlen))
            return -1;
    for (uint32_t i = 0; i < h->hash_slots; i++) {
        const struct ssdk_route_slot *s = &n.slots[i];
        if (!s->path_len)
            continue;
        if (!fits(s->path_off, s->path_len, 1, len) || s->get_resp >= h->nresp
            || s->head_resp >= h->nresp)
            FAIL("route slot %u out of bounds", i);
    }
    for (int i = 0; i < SP_COUNT; i++)
        if (h->special[i] != NONE32 && h->special[i] >= h->nresp)
            FAIL("special response %d out of bounds", i);
    for (int i = 0; i < SP_USED; i++)
        if (h->special[i] == NONE32)
            FAIL("table lacks special response %d (a bundle older than this ssdk?)", i);
    *t = n;
    return 0;
}

uint32_t table_lookup(const struct table *t, const uint8_t *path, size_t len, int head)
{
    uint64_t hv = fnv1a64(path, len);
    uint32_t mask = t->hdr->hash_slots - 1;
    for (uint32_t i = (uint32_t)hv & mask, n = 0; n <= mask; i = (i + 1) & mask, n++) {
        const struct ssdk_route_slot *s = &t->slots[i];
        if (!s->path_len)
            return NONE32;
        if (s->hash == hv && s->path_len == len && !memcmp(t->blob + s->path_off, path, len))
            return head ? s->head_resp : s->get_resp;
    }
    return NONE32;
}

/* Publish t as the newest generation, in a free slot; -1 if all GEN_MAX are in use. */
static int table_publish(struct ssdk_engine *e, const struct table *t)
{
    for (uint8_t i = 0; i < GEN_MAX; i++) {
        if (e->gen_id[i])
            continue;
        e->tables[i] = *t;
        e->gen_refs[i] = 0;
        e->gen_id[i] = ++e->gen_next;
        e->cur = i;
        e->table_loaded = 1;
        return 0;
    }
    return -1;
}

void resp_hold(struct ssdk_engine *e, struct conn *c, uint32_t idx)
{
    resp_release(e, c);
    c->resp = idx;
    c->gen = e->cur;
    e->gen_refs[e->cur]++;
}

uint8_t gen_hold(struct ssdk_engine *e)
{
    e->gen_refs[e->cur]++;
    return e->cur;
}

void resp_take(struct conn *c, uint32_t idx, uint8_t gen)
{
    c->resp = idx;
    c->gen = gen;
}

void resp_release(struct ssdk_engine *e, struct conn *c)
{
    if (c->resp == NONE32 || c->resp == RESP_WAIT)
        return;  /* a request with the application keeps its connection waiting */
    if (c->resp == RESP_DYN) {
        free(c->dyn_out);
        c->dyn_out = NULL;
    } else {
        e->gen_refs[c->gen]--;
    }
    c->resp = NONE32;
}

uint64_t ssdk_table_load(struct ssdk_engine *e, const uint8_t *blob, uint64_t len, char *err,
                         size_t errlen)
{
    struct table t;
    if (table_open(&t, blob, len, err, errlen))
        return 0;
    if (table_publish(e, &t)) {
        snprintf(err, errlen, "all %d table slots hold tables with responses in flight "
                 "(or not yet reaped by ssdk_table_retired); try again when some have "
                 "finished", GEN_MAX);
        return 0;
    }
    return e->gen_next;
}

int ssdk_table_retired(struct ssdk_engine *e, uint64_t *gens, int max)
{
    int n = 0;
    for (uint8_t i = 0; i < GEN_MAX && n < max; i++) {
        if (!e->gen_id[i] || i == e->cur || e->gen_refs[i])
            continue;
        gens[n++] = e->gen_id[i];
        e->gen_id[i] = 0;
    }
    return n;
}

uint32_t table_special(const struct table *t, enum special_resp sp)
{
    uint32_t r = t->hdr->special[sp];
    return r != NONE32 ? r : t->hdr->special[SP_400];
}
