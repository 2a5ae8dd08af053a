/*
 * gen.c - the tables responses come from: their generations, for hot swap.
 *
 * Python -> ssdk_table_load -> table_open (table/) -> table_publish
 *        -> ssdk_table_retired
 * resp.c (resp_hold, resp_release), serve.c (the answer behind a 100 Continue)
 *        -> gen_hold, gen_release
 *
 * Hot swap (docs/architecture.md): a table loaded while another serves is published as
 * the next generation. New responses come from the current generation; a response holds
 * the generation it started from (resp_hold) until it is acknowledged or the connection
 * goes, so no response mixes two versions. A generation that is not current and held by
 * nobody is retired: its slot is reused and ssdk_table_retired tells the owner of its
 * blob that the memory may go.
 */
#include <stdio.h>
#include "serve/engine.h"

/* Publish t as the newest generation, in a free slot; -1 if all GEN_MAX are in use. TCP
 * then serves its port, with the template's segment size as its limit. */
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
        e->tcp.listening = 1;
        e->tcp.mss_max = (uint16_t)t->mss;
        return 0;
    }
    return -1;
}

/* The hot-swap invariant (above): a response holds a generation that is published and
 * counted, and the current one is always published. */
static void gen_check(const struct ssdk_engine *e, uint8_t gen)
{
    SSDK_ASSERT(gen < GEN_MAX && e->gen_id[gen] != 0 && e->gen_id[e->cur] != 0);
}

/* A hold on the current generation, for a response started from it now (or chosen now
 * and started later: behind a 100 Continue). */
uint8_t gen_hold(struct ssdk_engine *e)
{
    gen_check(e, e->cur);
    e->gen_refs[e->cur]++;
    return e->cur;
}

/* A hold taken with gen_hold goes: once, when its response does. */
void gen_release(struct ssdk_engine *e, uint8_t gen)
{
    gen_check(e, gen);
    SSDK_ASSERT(e->gen_refs[gen] > 0);  /* every hold is released once */
    e->gen_refs[gen]--;
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
        SSDK_ASSERT(e->gen_id[i] < e->gen_id[e->cur]);  /* only older ones retire */
        gens[n++] = e->gen_id[i];
        e->gen_id[i] = 0;
    }
    return n;
}
