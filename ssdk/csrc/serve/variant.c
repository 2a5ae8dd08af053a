/*
 * variant.c - which of a route's precomputed responses answers a GET or HEAD: the
 * content coding the client prefers (RFC 9110 12.5.3), then a 304 when a validator
 * matches (13.1.2, 13.1.3, in the order of 13.2.2), then for a GET with one byte range a
 * 206 or a 416 (14.2), if If-Range allows (13.1.5). Everything compared was reduced to
 * numbers as the request's fields were read (http_prefs.c), so this is table work only.
 *
 * serve.c (choose) -> variant_choose -> negotiate, not_modified, range_pick
 */
#include "serve/engine.h"

/*
 * How much the request wants coding k, as a rank (0: not at all). RFC 9110 12.5.3: a
 * coding the field names has its weight; one it does not name has the weight of "*", or
 * none. The identity coding not named (nor "*") is acceptable all the same, below any
 * other. Ranks are weight * 4 plus a preference, so equal weights go to br, then gzip,
 * then identity: the smaller body.
 */
static uint32_t rank(const struct hp_prefs *pf, unsigned k)
{
    static const uint8_t pref[CODING_N] = {[CODING_IDENTITY] = 0, [CODING_GZIP] = 1,
                                           [CODING_BR] = 2};
    uint32_t w;
    if (pf->ae_named & (1u << k))
        w = pf->ae_q[k];
    else if (pf->ae_named & (1u << AE_STAR))
        w = pf->ae_q[AE_STAR];
    else
        return k == CODING_IDENTITY;
    return w ? w * 4 + pref[k] : 0;
}

/*
 * The variant to send: the acceptable one of the highest rank. Without Accept-Encoding
 * the identity one (any coding would do, RFC 9110 12.5.3, and identity is what every
 * client reads); when no variant is acceptable, the identity one too, disregarding the
 * field rather than answering 406 (RFC 9110 12.1 allows either).
 */
static const struct ssdk_variant *negotiate(const struct table *t,
                                            const struct ssdk_route_slot *s,
                                            const struct hp_prefs *pf)
{
    const struct ssdk_variant *best = &t->var[s->var_first];
    if (s->nvar == 1 || !(pf->flags & PF_AE))
        return best;
    uint32_t top = rank(pf, CODING_IDENTITY);
    for (uint32_t i = 1; i < s->nvar; i++) {
        const struct ssdk_variant *v = &t->var[s->var_first + i];
        uint32_t r = rank(pf, v->coding);
        if (r > top) {
            top = r;
            best = v;
        }
    }
    return best;
}

/*
 * RFC 9110 13.2.2, steps 3 and 4, for GET and HEAD: If-None-Match, when present, decides
 * alone (13.1.2: "*" or any listed tag equal to the variant's, W/ ignored: the weak
 * comparison); otherwise If-Modified-Since holds the 200 back when the variant was last
 * modified at or before the date given (13.1.3).
 */
static int not_modified(const struct hp_prefs *pf, const struct ssdk_variant *v, int64_t now)
{
    if (pf->flags & PF_INM) {
        if (pf->flags & PF_INM_STAR)
            return 1;
        for (uint8_t i = 0; i < pf->ninm; i++)
            if (pf->inm[i] == v->etag)
                return 1;
        return 0;
    }
    return (pf->flags & PF_IMS) && v->last_modified <= hp_date_seconds(&pf->ims, now);
}

/* RFC 9110 13.1.5: the range applies when If-Range is absent, or names the variant's
 * ETag (strong comparison) or exactly its Last-Modified date. */
static int if_range_holds(const struct hp_prefs *pf, const struct ssdk_variant *v, int64_t now)
{
    if (!(pf->flags & PF_IR))
        return 1;
    if (pf->flags & PF_IR_TAG)
        return pf->if_range_tag == v->etag;
    if (pf->flags & PF_IR_DATE)
        return hp_date_seconds(&pf->if_range_date, now) == v->last_modified;
    return 0;
}

/*
 * RFC 9110 14.1.2-14.1.3: the bytes a range-spec selects of a body of `total` bytes.
 * Returns 0 when none (unsatisfiable: a first byte at or past the end, a zero suffix).
 */
static int range_pick(const struct hp_prefs *pf, uint64_t total, struct range_pick *rg)
{
    uint64_t first, last = total - 1;
    if (pf->flags & PF_SUFFIX) {
        if (pf->range_last == 0)
            return 0;
        first = pf->range_last >= total ? 0 : total - pf->range_last;
    } else {
        first = pf->range_first;
        if (first >= total)
            return 0;
        if (!(pf->flags & PF_OPEN) && pf->range_last < last)
            last = pf->range_last;
    }
    rg->first = (uint32_t)first;
    rg->len = (uint32_t)(last - first + 1);
    return 1;
}

/* The response of route s for the GET or HEAD request p: the coding first, then a
 * 304, then (GET only) a 206 or 416; the part of a 206 goes to *rg. */
uint32_t variant_choose(struct ssdk_engine *e, const struct http_parse *p,
                        const struct table *t, const struct ssdk_route_slot *s,
                        struct range_pick *rg)
{
    const struct hp_prefs *pf = &p->pf;
    const struct ssdk_variant *v = negotiate(t, s, pf);
    int head = p->method == M_HEAD;
    int64_t now = (int64_t)e->date_sec;
    if (v->coding != CODING_IDENTITY)
        stats(e)->http_encoded++;
    if (v->not_modified != NONE32 && not_modified(pf, v, now))
        return v->not_modified;
    /* RFC 9110 14.2: Range is for GET only; a HEAD gets the 200's header block. */
    if (head || v->partial == NONE32 || !(pf->flags & PF_RANGE))
        return head ? v->head : v->get;
    if (!if_range_holds(pf, v, now))
        return v->get;
    const struct ssdk_resp *r = &t->resp[v->get];
    return range_pick(pf, r->stream_len - r->hdr_len, rg) ? v->partial : v->unsatisfiable;
}
