/*
 * slab.h - a pool of entries of one size, named by index, for the state a connection
 * takes only while in use: TCP's flight blocks and scoreboards (tcp/flight.c), the
 * responses in flight and the requests read in part (serve/resp.c, serve/serve.c).
 *
 * A pool is sized for the most entries that can be in use at once (a bound from
 * max_conns), so a take never fails and the fast path needs no error path. Its array
 * is calloc'ed: at that size glibc maps it fresh, and a page costs memory only once an
 * entry on it is first handed out. Entries go out from a bump index, then those given
 * back, the last first (a free list through the free entries: each holds the next one's
 * index at link_off), so the pages touched follow the most entries ever in use at once,
 * not the pool's size, and a freed entry is reused while its line is still warm. Taken
 * entries are all zero.
 */
#ifndef SSDK_SLAB_H
#define SSDK_SLAB_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/check.h"

#define SLAB_NONE UINT32_MAX

struct slab {
    uint8_t *base;
    uint32_t size, link_off;      /* bytes an entry; where a free one's link is */
    uint32_t cap, bump;           /* entries; those ever handed out are [0, bump) */
    uint32_t free_head;           /* the last given back, SLAB_NONE: none */
    uint32_t used;                /* entries in use now */
};

static inline uint8_t *slab_entry(const struct slab *s, uint32_t i)
{
    return s->base + (size_t)i * s->size;
}

/* cap entries of size bytes, a free one's link at link_off. 0, or -1: no memory. */
static inline int slab_init(struct slab *s, uint32_t cap, uint32_t size, uint32_t link_off)
{
    SSDK_ASSERT(link_off + sizeof(uint32_t) <= size);
    *s = (struct slab){.size = size, .link_off = link_off, .cap = cap, .free_head = SLAB_NONE};
    s->base = calloc(cap ? cap : 1, size);
    return s->base ? 0 : -1;
}

static inline void slab_free(struct slab *s)
{
    free(s->base);
    s->base = NULL;
}

/* An entry, all zero: never SLAB_NONE, since the pool holds as many as can be in use. */
static inline uint32_t slab_take(struct slab *s)
{
    SSDK_ASSERT(s->used < s->cap);
    uint32_t i = s->free_head;
    if (i != SLAB_NONE) {
        memcpy(&s->free_head, slab_entry(s, i) + s->link_off, sizeof(uint32_t));
        memset(slab_entry(s, i) + s->link_off, 0, sizeof(uint32_t));
    } else {
        SSDK_ASSERT(s->bump < s->cap);
        i = s->bump++;
    }
    s->used++;
    return i;
}

/* Entry i goes back, zeroed (the next take hands it out as calloc would), on top of
 * the free list. */
static inline void slab_give(struct slab *s, uint32_t i)
{
    SSDK_ASSERT(i < s->bump && s->used > 0);
    memset(slab_entry(s, i), 0, s->size);
    memcpy(slab_entry(s, i) + s->link_off, &s->free_head, sizeof(uint32_t));
    s->free_head = i;
    s->used--;
}

/* Debug builds: every entry handed out is in use or on the free list, once. A walk of
 * the free list: for teardown and the fuzzers, not the fast path. */
static inline void slab_check(const struct slab *s)
{
    if (!s->base)
        return;  /* never made (an engine that failed to start) */
    SSDK_ASSERT(s->used <= s->bump && s->bump <= s->cap);
    uint32_t n = 0;
    for (uint32_t i = s->free_head; i != SLAB_NONE; n++) {
        SSDK_ASSERT(i < s->bump && n < s->bump - s->used);
        memcpy(&i, slab_entry(s, i) + s->link_off, sizeof(uint32_t));
    }
    SSDK_ASSERT(n == s->bump - s->used);
}

/* Entry i's address, and the index of an entry's address. */
static inline void *slab_at(const struct slab *s, uint32_t i)
{
    SSDK_ASSERT(i < s->bump);
    return slab_entry(s, i);
}

static inline uint32_t slab_index(const struct slab *s, const void *p)
{
    size_t off = (size_t)((const uint8_t *)p - s->base);
    SSDK_ASSERT((const uint8_t *)p >= s->base && off % s->size == 0 && off / s->size < s->bump);
    return (uint32_t)(off / s->size);
}

#endif
