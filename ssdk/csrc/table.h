/*
 * table.h - the route and template table, as laid out in the bundle blob
 * (docs/bundle.md). The structs mirror the file byte for byte; table_load checks every
 * offset against the blob's length once, so lookups and sends need no bounds checks.
 */
#ifndef SSDK_TABLE_H
#define SSDK_TABLE_H
#include <stdint.h>
#include <stddef.h>

/* The responses the C core answers on its own (docs/bundle.md, docs/http.md). SP_USED of
 * them must be in every table: the parser can call for any. */
enum special_resp {
    SP_400 = 0, SP_404_GET, SP_404_HEAD, SP_405, SP_431, SP_501, SP_505, SP_414, SP_408,
    SP_411, SP_413, SP_417, SP_CONTINUE, SP_OPTIONS,
    SP_USED, SP_COUNT = 16
};

struct ssdk_table_hdr {
    char     magic[8];
    uint32_t mss;
    uint32_t hash_slots;
    uint64_t hash_off;
    uint64_t resp_off;
    uint64_t seg_off;
    uint32_t nresp;
    uint32_t nseg;
    uint32_t special[SP_COUNT];
    uint8_t  reserved[16];
} __attribute__((packed));

struct ssdk_route_slot {
    uint64_t hash;
    uint32_t path_off;
    uint16_t path_len;
    uint16_t flags;
    uint32_t get_resp;
    uint32_t head_resp;
} __attribute__((packed));

struct ssdk_resp {
    uint64_t stream_off;
    uint64_t stream_len;
    uint32_t hdr_len;
    uint32_t seg_first;
    uint32_t nseg;
    uint32_t conn_off;
    uint16_t status;
    uint16_t flags;
    uint32_t date_off;           /* offset in the stream of the 29-byte Date value */
} __attribute__((packed));

#define RESP_CLOSE 0x1
#define CONN_TOKEN_LEN 10
#define DATE_LEN 29
extern const uint8_t date_placeholder[DATE_LEN];

struct table {
    const uint8_t *blob;
    uint64_t len;
    const struct ssdk_table_hdr *hdr;
    const struct ssdk_route_slot *slots;
    const struct ssdk_resp *resp;
    const uint32_t *seg_sum;
    uint32_t mss;
};

int table_open(struct table *t, const uint8_t *blob, uint64_t len, char *err, size_t errlen);
/* Response index for a method (0 GET, 1 HEAD) and raw path, or NONE32. */
uint32_t table_lookup(const struct table *t, const uint8_t *path, size_t len, int head);
uint32_t table_special(const struct table *t, enum special_resp sp);
uint64_t fnv1a64(const uint8_t *p, size_t len);

static inline const uint8_t *resp_stream(const struct table *t, const struct ssdk_resp *r)
{
    return t->blob + r->stream_off;
}

#endif
