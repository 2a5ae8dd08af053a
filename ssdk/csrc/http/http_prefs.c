/*
 * http_prefs.c - the rules of the fields that choose among a route's precomputed
 * variants: Accept-Encoding (RFC 9110 12.5.3), If-None-Match (13.1.2), If-Modified-Since
 * (13.1.3), Range (14.2) and If-Range (13.1.5). Each reduces its field line to struct
 * hp_prefs while the bytes are in the buffer; serve/variant.c compares that with
 * the table.
 *
 * http_parse.c (hp_run) -> hp_field_line (http_fields.c: field_rules[]) -> hp_on_*
 *
 * None of these fields makes a request invalid: a value ssdk cannot read is ignored,
 * which leaves the plain 200 as the answer (RFC 9110 12.5.3, 13.1.3, 14.2 allow or
 * require it), so these rules never fail a request.
 */
#include <string.h>
#include "http/http_grammar.h"

/* "q=" qvalue (RFC 9110 12.4.2), as thousandths; -1 when it is not one. */
static int qvalue(const uint8_t *v, size_t n)
{
    if (n < 3 || (v[0] != 'q' && v[0] != 'Q') || v[1] != '=' || (v[2] != '0' && v[2] != '1'))
        return -1;
    int q = (v[2] - '0') * 1000;
    if (n == 3)
        return q;
    if (v[3] != '.' || n > 7)
        return -1;
    for (size_t i = 4, scale = 100; i < n; i++, scale /= 10) {
        if (!(hp_bits[v[i]] & B_DIGIT))
            return -1;
        q += (v[i] - '0') * (int)scale;
    }
    return q <= 1000 ? q : -1;
}

/* The entry of ae_q a coding name stands for; -1 for codings ssdk never sends. */
static int coding_of(const uint8_t *c, size_t n)
{
    if (hp_ieq(c, n, "identity"))
        return CODING_IDENTITY;
    if (hp_ieq(c, n, "gzip") || hp_ieq(c, n, "x-gzip"))  /* RFC 9110 8.4.1.3 */
        return CODING_GZIP;
    if (hp_ieq(c, n, "br"))  /* RFC 7932 */
        return CODING_BR;
    if (n == 1 && c[0] == '*')
        return AE_STAR;
    return -1;
}

/*
 * Accept-Encoding = #( codings [ OWS ";" OWS "q=" qvalue ] ). Each coding ssdk knows
 * keeps the weight it is first given (1 without one); a malformed element is skipped.
 * An empty value still counts as the field: it asks for no coding (RFC 9110 12.5.3).
 */
enum hp_result hp_on_accept_encoding(struct http_parse *p, const uint8_t *v, size_t n)
{
    struct hp_prefs *pf = &p->pf;
    const uint8_t *el;
    size_t len, at = 0;
    pf->flags |= PF_AE;
    while (hp_list_next(v, n, &at, &el, &len)) {
        size_t name = 0;
        while (name < len && (hp_bits[el[name]] & B_TCHAR))
            name++;
        int which = coding_of(el, name), q = 1000;
        size_t i = name;
        while (i < len && (el[i] == ' ' || el[i] == '\t'))
            i++;
        if (i < len) {
            if (el[i] != ';')
                continue;
            for (i++; i < len && (el[i] == ' ' || el[i] == '\t'); i++)
                ;
            q = qvalue(el + i, len - i);
        }
        if (which < 0 || q < 0 || (pf->ae_named & (1u << which)))
            continue;
        pf->ae_named |= (uint8_t)(1u << which);
        pf->ae_q[which] = (uint16_t)q;
    }
    return HP_MORE;
}

/* 16 lower-case hex digits: the value of one of ssdk's tags (1), or not ours (0). */
static int tag_value(const uint8_t *t, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n != 16)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = t[i];
        if (c >= '0' && c <= '9')
            x = x << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = x << 4 | (uint64_t)(c - 'a' + 10);
        else
            return 0;
    }
    *out = x;
    return 1;
}

/*
 * One entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 8.8.3) at v[*at..n). Sets
 * *weak, and *value when the tag is of ssdk's form (returns 2), else returns 1; 0 when
 * no entity-tag is there. A tag may hold commas, so lists of tags are read with this
 * rather than by splitting at commas.
 */
static int entity_tag(const uint8_t *v, size_t n, size_t *at, int *weak, uint64_t *value)
{
    size_t i = *at;
    *weak = i + 1 < n && v[i] == 'W' && v[i + 1] == '/';
    if (*weak)
        i += 2;
    if (i >= n || v[i] != '"')
        return 0;
    size_t s = ++i;
    while (i < n && v[i] != '"') {
        if (v[i] < 0x21 || v[i] == 0x7f)  /* etagc = %x21 / %x23-7E / obs-text */
            return 0;
        i++;
    }
    if (i == n)
        return 0;
    *at = i + 1;
    return tag_value(v + s, i - s, value) ? 2 : 1;
}

/* If-None-Match = "*" / #entity-tag. Reading stops at the first element that is
 * neither; what was read so far stands. */
enum hp_result hp_on_if_none_match(struct http_parse *p, const uint8_t *v, size_t n)
{
    struct hp_prefs *pf = &p->pf;
    size_t at = 0;
    pf->flags |= PF_INM;
    for (;;) {
        while (at < n && (v[at] == ' ' || v[at] == '\t' || v[at] == ','))
            at++;
        if (at >= n)
            return HP_MORE;
        if (v[at] == '*') {
            pf->flags |= PF_INM_STAR;
            at++;
            continue;
        }
        int weak;
        uint64_t value;
        int r = entity_tag(v, n, &at, &weak, &value);
        if (r == 0)
            return HP_MORE;
        if (r == 2 && pf->ninm < INM_MAX)
            pf->inm[pf->ninm++] = value;  /* weak comparison: W/ does not matter */
        else if (r == 2)
            pf->flags |= PF_INM_MORE;
    }
}

/* If-Modified-Since = HTTP-date; one that is not, or a second line, is ignored
 * (RFC 9110 13.1.3). */
enum hp_result hp_on_if_modified_since(struct http_parse *p, const uint8_t *v, size_t n)
{
    struct hp_prefs *pf = &p->pf;
    int again = pf->flags & PF_IMS_SEEN;
    pf->flags = (uint16_t)((pf->flags | PF_IMS_SEEN) & ~PF_IMS);
    if (!again && hp_date_parse(v, n, &pf->ims) == 0)
        pf->flags |= PF_IMS;
    return HP_MORE;
}

/* A decimal number, saturating far above any body's length; 0 when no digit. */
static size_t number(const uint8_t *v, size_t n, uint64_t *out)
{
    size_t i = 0;
    uint64_t x = 0;
    for (; i < n && (hp_bits[v[i]] & B_DIGIT); i++)
        x = x < (1ull << 56) ? x * 10 + (uint64_t)(v[i] - '0') : x;
    *out = x;
    return i;
}

/*
 * Range = ranges-specifier; ranges-specifier = range-unit "=" range-set, the unit
 * "bytes" case-insensitive (RFC 9110 14.1). One range-spec is kept: first-last, first-
 * or -suffix. Another unit, a malformed or invalid spec (last below first), more than
 * one range, or a second Range line: the field is ignored (RFC 9110 14.2 allows it, and
 * a server may answer several ranges with the whole representation).
 */
enum hp_result hp_on_range(struct http_parse *p, const uint8_t *v, size_t n)
{
    struct hp_prefs *pf = &p->pf;
    int again = pf->flags & PF_RANGE_SEEN;
    pf->flags = (uint16_t)((pf->flags | PF_RANGE_SEEN) & ~(PF_RANGE | PF_SUFFIX | PF_OPEN));
    if (again || n < 6 || !hp_ieq(v, 5, "bytes") || v[5] != '=')
        return HP_MORE;
    const uint8_t *el;
    size_t len, at = 6, count = 0;
    uint16_t kind = 0;
    uint64_t first = 0, last = 0;
    while (hp_list_next(v, n, &at, &el, &len)) {
        if (++count > 1)
            return HP_MORE;
        size_t a = number(el, len, &first);
        if (a == len || el[a] != '-')
            return HP_MORE;
        size_t b = number(el + a + 1, len - a - 1, &last);
        if (a + 1 + b != len || (a == 0 && b == 0))
            return HP_MORE;
        if (a == 0)
            kind = PF_SUFFIX;
        else if (b == 0)
            kind = PF_OPEN;
        else if (last < first)
            return HP_MORE;  /* RFC 9110 14.1.1: an invalid range-spec */
    }
    if (count == 1) {
        pf->flags |= (uint16_t)(PF_RANGE | kind);
        pf->range_first = first;
        pf->range_last = last;
    }
    return HP_MORE;
}

/*
 * If-Range = entity-tag / HTTP-date (RFC 9110 13.1.5). A strong tag of ssdk's form or a
 * date is kept; anything else (a weak tag, another tag, a second line, no valid value)
 * leaves only PF_IR, a condition that never holds: the range is not applied.
 */
enum hp_result hp_on_if_range(struct http_parse *p, const uint8_t *v, size_t n)
{
    struct hp_prefs *pf = &p->pf;
    int again = pf->flags & PF_IR;
    pf->flags = (uint16_t)((pf->flags | PF_IR) & ~(PF_IR_TAG | PF_IR_DATE));
    if (again)
        return HP_MORE;
    size_t at = 0;
    int weak;
    uint64_t value;
    int r = entity_tag(v, n, &at, &weak, &value);
    if (r == 2 && at == n && !weak) {
        pf->if_range_tag = value;
        pf->flags |= PF_IR_TAG;
    } else if (r == 0 && hp_date_parse(v, n, &pf->if_range_date) == 0) {
        pf->flags |= PF_IR_DATE;
    }
    return HP_MORE;
}
