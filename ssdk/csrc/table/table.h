/*
 * table.h - the route and template table, as laid out in the bundle blob
 * (docs/bundle.md, format 3). The structs mirror the file byte for byte; table_load
 * checks every offset and index against the blob once, so lookups and sends need no
 * bounds checks.
 *
 * A request's host picks a section (struct ssdk_section: the default host is section 0,
 * every virtual host has its own); its path, within that section, picks a route; the
 * route's variants (one per content coding) each name the responses that can answer it:
 * GET and HEAD, 304, the 206 template and 416 (serve/variant.c picks one).
 *
 * This header is the one source of the layouts and constants the build shares with the
 * core: ssdk/core/cdefs.py reads its literal #defines, its enums and its packed structs
 * at import (keep them in that plain form), and tests/unit/test_cdefs.py checks the
 * result against cffi and the compiler. The sizes below are the bundle format's
 * (docs/bundle.md); a change to them is a new format.
 */
#ifndef SSDK_TABLE_H
#define SSDK_TABLE_H
#include <stdint.h>
#include <stddef.h>

/* The responses the C core answers on its own (docs/bundle.md, docs/http.md). SP_USED of
 * them must be in every section: the parser can call for any. */
#define TABLE_MAGIC "SSDKTBL3"
/* The template MSS (payload bytes per prebuilt segment): a segment with its headers fits
 * a NIC_FRAME_MAX frame (serve/resp.c checks the bound against nic.h and proto.h). */
#define TABLE_MSS_MIN 64
#define TABLE_MSS_MAX 1946
#define TABLE_MSS_DEFAULT 1448    /* a 1500-byte MTU with room for timestamps */

enum special_resp {
    SP_400 = 0, SP_404_GET, SP_404_HEAD, SP_405, SP_431, SP_501, SP_505, SP_414, SP_408,
    SP_411, SP_413, SP_417, SP_CONTINUE, SP_OPTIONS,
    SP_USED, SP_COUNT = 16
};

struct ssdk_table_hdr {
    char     magic[8];           /* TABLE_MAGIC */
    uint32_t mss;
    uint32_t hash_slots;
    uint64_t hash_off;
    uint64_t resp_off;
    uint64_t seg_off;
    uint32_t nresp;
    uint32_t nseg;
    uint64_t var_off;
    uint64_t host_off;
    uint64_t section_off;
    uint32_t nvar;
    uint32_t host_slots;         /* 0: no virtual hosts */
    uint32_t nsection;           /* at least 1: section 0 is the default host */
    uint8_t  reserved[44];
} __attribute__((packed));

struct ssdk_route_slot {
    uint64_t hash;               /* FNV-1a 64 of the section (2 bytes LE), then the path */
    uint32_t path_off;
    uint16_t path_len;
    uint16_t section;
    uint32_t var_first;          /* its variants: identity first, then encoded ones */
    uint16_t nvar;
    uint16_t flags;
} __attribute__((packed));

/* Content codings of a variant (RFC 9110 8.4.1). */
enum coding { CODING_IDENTITY, CODING_GZIP, CODING_BR, CODING_N };

struct ssdk_variant {
    uint64_t etag;               /* the 16 hex digits of its ETag, as a number */
    int64_t  last_modified;      /* seconds since 1970 */
    uint32_t get, head;
    uint32_t not_modified;       /* the 304; NONE32: no validators (not a 200) */
    uint32_t partial;            /* the 206 template; NONE32: Range is ignored */
    uint32_t unsatisfiable;      /* the 416 (NONE32 when partial is) */
    uint8_t  coding;             /* enum coding */
    uint8_t  reserved[3];
} __attribute__((packed));

struct ssdk_host_slot {
    uint64_t hash;               /* FNV-1a 64 of the lower-case name */
    uint32_t name_off;
    uint16_t name_len;           /* 0: empty slot */
    uint16_t section;
} __attribute__((packed));

struct ssdk_section {
    uint32_t special[SP_COUNT];  /* response index per SP_*; NONE32: none */
} __attribute__((packed));

struct ssdk_resp {
    uint64_t stream_off;
    uint64_t stream_len;
    uint32_t hdr_len;
    uint32_t seg_first;
    uint32_t nseg;
    uint32_t conn_off;
    uint16_t status;
    uint16_t flags;              /* RESP_* */
    uint32_t date_off;           /* offset in the stream of the 29-byte Date value */
    uint32_t clen_off;           /* a 206 template: its Content-Length slot */
    uint32_t range_off;          /* a 206 template: its Content-Range slot */
    uint32_t body;               /* a 206 template: the 200 whose body it sends part of */
    uint32_t reserved;
} __attribute__((packed));

#define RESP_CLOSE 0x1           /* always close the connection after it */
#define RESP_RANGE 0x2           /* a 206 template: header block only, parts of `body` */
#define CONN_TOKEN_LEN 10
#define DATE_LEN 29
#define CLEN_SLOT 10             /* a 206's Content-Length value: 10 bytes, right-aligned */
extern const uint8_t date_placeholder[DATE_LEN];

_Static_assert(sizeof(struct ssdk_table_hdr) == 128, "bundle format: table header");
_Static_assert(sizeof(struct ssdk_route_slot) == 24, "bundle format: route slot");
_Static_assert(sizeof(struct ssdk_variant) == 40, "bundle format: variant");
_Static_assert(sizeof(struct ssdk_host_slot) == 16, "bundle format: host slot");
_Static_assert(sizeof(struct ssdk_section) == 64, "bundle format: section");
_Static_assert(sizeof(struct ssdk_resp) == 56, "bundle format: response");
_Static_assert(offsetof(struct ssdk_table_hdr, reserved) == 84, "bundle format: table header");
_Static_assert(offsetof(struct ssdk_resp, date_off) == 36, "bundle format: response");
_Static_assert(SP_USED <= SP_COUNT, "every special response has a slot in a section");

struct table {
    const uint8_t *blob;
    uint64_t len;
    const struct ssdk_table_hdr *hdr;
    const struct ssdk_route_slot *slots;
    const struct ssdk_resp *resp;
    const struct ssdk_variant *var;
    const struct ssdk_host_slot *hosts;
    const struct ssdk_section *sections;
    const uint32_t *seg_sum;
    uint32_t mss;
};

int table_open(struct table *t, const uint8_t *blob, uint64_t len, char *err, size_t errlen);
/* The route for a route key in a section, or NULL. */
const struct ssdk_route_slot *table_route(const struct table *t, uint16_t section,
                                          const uint8_t *key, size_t len);
/* The section of a request's host (its Host value or authority; port and case do not
 * matter): a virtual host's, or 0. */
uint16_t table_host(const struct table *t, const uint8_t *host, size_t len);
uint32_t table_special(const struct table *t, uint16_t section, enum special_resp sp);
uint64_t fnv1a64(const uint8_t *p, size_t len);
/* Bytes of the Content-Range slot of a 206 whose whole body has `total` bytes. */
uint32_t range_slot_len(uint64_t total);

static inline const uint8_t *resp_stream(const struct table *t, const struct ssdk_resp *r)
{
    return t->blob + r->stream_off;
}

#endif
