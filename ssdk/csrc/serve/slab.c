/*
 * slab.c - the engine's pools of per-connection state taken only while in use: the
 * responses in flight (struct resp) and the requests read in part (struct hreq), each
 * an array of entries of one size named by index (engine.h: struct slab).
 *
 * loop.c (ssdk_engine_new) -> slab_init; (ssdk_engine_free) -> slab_free
 * resp.c (resp_push, resp_retire, resp_cut) -> slab_take, slab_give
 * serve.c (req_hold, req_settle, req_drop) -> slab_take, slab_give
 *
 * A pool is sized for the most entries that can be in use at once (a bound from
 * max_conns), so a take never fails and the fast path needs no error path. Its array
 * is calloc'ed: at that size glibc maps it fresh, and a page costs memory only once an
 * entry on it is first handed out. Entries go out from a bump index, then those given
 * back, the last first (a free list through the free entries: each holds the next one's
 * index at link_off), so the pages touched follow the most entries ever in use at once,
 * not the pool's size, and a freed entry is reused while its line is still warm.
 */
#include <stdlib.h>
#include <string.h>
#include "serve/engine.h"

static uint8_t *entry(const struct slab *s, uint32_t i)
{
    return s->base + (size_t)i * s->size;
}

/* cap entries of size bytes, a free one's link at link_off. 0, or -1: no memory. */
int slab_init(struct slab *s, uint32_t cap, uint32_t size, uint32_t link_off)
{
    SSDK_ASSERT(link_off + sizeof(uint32_t) <= size);
    *s = (struct slab){.size = size, .link_off = link_off, .cap = cap, .free_head = NONE32};
    s->base = calloc(cap ? cap : 1, size);
    return s->base ? 0 : -1;
}

void slab_free(struct slab *s)
{
    free(s->base);
    s->base = NULL;
}

/* An entry, all zero: never NONE32, since the pool holds as many as can be in use. */
uint32_t slab_take(struct slab *s)
{
    SSDK_ASSERT(s->used < s->cap);
    uint32_t i = s->free_head;
    if (i != NONE32) {
        memcpy(&s->free_head, entry(s, i) + s->link_off, sizeof(uint32_t));
        memset(entry(s, i) + s->link_off, 0, sizeof(uint32_t));
    } else {
        SSDK_ASSERT(s->bump < s->cap);
        i = s->bump++;
    }
    s->used++;
    return i;
}

/* Entry i goes back, zeroed (the next take hands it out as calloc would), on top of
 * the free list. */
void slab_give(struct slab *s, uint32_t i)
{
    SSDK_ASSERT(i < s->bump && s->used > 0);
    memset(entry(s, i), 0, s->size);
    memcpy(entry(s, i) + s->link_off, &s->free_head, sizeof(uint32_t));
    s->free_head = i;
    s->used--;
}

/* Debug builds: every entry handed out is in use or on the free list, once. A walk of
 * the free list: for teardown and the fuzzers, not the fast path. */
void slab_check(const struct slab *s)
{
    if (!s->base)
        return;  /* never made (an engine that failed to start) */
    SSDK_ASSERT(s->used <= s->bump && s->bump <= s->cap);
    uint32_t n = 0;
    for (uint32_t i = s->free_head; i != NONE32; n++) {
        SSDK_ASSERT(i < s->bump && n < s->bump - s->used);
        memcpy(&i, entry(s, i) + s->link_off, sizeof(uint32_t));
    }
    SSDK_ASSERT(n == s->bump - s->used);
}
