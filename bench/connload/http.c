/*
 * http.c - the HTTP side: each target's request, the check of a response's header, and
 * the body's checksum.
 *
 * The checksum is CRC32C (Castagnoli, the CRC of iSCSI and ext4) over the body's bytes:
 * four bytes of state per connection, updated segment by segment as the body arrives in
 * order, a few lines in any language (bench/connload.py has it in Python), and one
 * instruction per 8 bytes on x86 (SSE4.2), where FNV-1a 64, byte by byte, took 41% of
 * the generator's time with 20 KiB bodies. A cryptographic hash would need a hundred
 * bytes of state per connection for no gain: this is a check that every byte arrived,
 * in order, unchanged, not a defence against an adversary. Any burst error of up to 32
 * bits is caught, and anything else but for one chance in four billion.
 *
 * The response's header must arrive whole in the first segment of the response: the
 * server builds its responses from templates whose headers are a few hundred bytes, far
 * under one segment; a header that does not end there counts as a bad status.
 */
#include "connload.h"
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CRC32C_POLY 0x82f63b78u  /* 0x1edc6f41, bits reflected */

static uint32_t crc_table[256];
static int crc_hw;

void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (c & 1 ? CRC32C_POLY : 0);
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
#include <nmmintrin.h>
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p,
                                                            uint32_t n)
{
    uint64_t c64 = c;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);  /* unaligned: a segment's payload starts anywhere */
        c64 = _mm_crc32_u64(c64, w);
    }
    c = (uint32_t)c64;
    for (; n; n--, p++)
        c = _mm_crc32_u8(c, *p);
    return c;
}
#endif

/* The running CRC32C state c (CRC32C_INIT at first) after n more bytes; the CRC of all of
 * them is the state with its bits inverted (crc32c_final). */
uint32_t crc32c(uint32_t c, const uint8_t *p, uint32_t n)
{
#if defined(__x86_64__)
    if (crc_hw)
        return crc_sse42(c, p, n);
#endif
    for (; n; n--, p++)
        c = crc_table[(c ^ *p) & 255] ^ (c >> 8);
    return c;
}

/* The length and checksum of the file at path; -1 if it cannot be read. */
static int file_sum(const char *path, uint64_t *len, uint32_t *sum)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "connload: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t buf[65536];
    size_t n;
    *len = 0;
    uint32_t c = CRC32C_INIT;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        c = crc32c(c, buf, (uint32_t)n);
        *len += n;
    }
    *sum = crc32c_final(c);
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

/* "PATH=FILE": GET PATH, whose body must be FILE's bytes. 0 on success. */
int target_add(struct target *t, const char *spec, uint32_t dst_ip)
{
    const char *eq = strchr(spec, '=');
    size_t plen = eq ? (size_t)(eq - spec) : 0;
    if (!eq || plen == 0 || plen >= sizeof(t->path) || spec[0] != '/') {
        fprintf(stderr, "connload: --get wants PATH=FILE, PATH starting with /: %s\n", spec);
        return -1;
    }
    memcpy(t->path, spec, plen);
    t->path[plen] = 0;
    for (size_t i = 0; i < plen; i++)
        if (t->path[i] <= ' ' || t->path[i] == 0x7f || t->path[i] == '"' || t->path[i] == '\\') {
            /* Neither HTTP's request line nor our JSON lines could carry them as they are. */
            fprintf(stderr, "connload: a path may not hold spaces, controls, quotes or "
                            "backslashes: %s\n", spec);
            return -1;
        }
    if (file_sum(eq + 1, &t->want_len, &t->want_sum))
        return -1;
    int n = snprintf(t->req, sizeof(t->req), "GET %s HTTP/1.1\r\nHost: %u.%u.%u.%u\r\n\r\n",
                     t->path, dst_ip >> 24, dst_ip >> 16 & 255, dst_ip >> 8 & 255,
                     dst_ip & 255);
    if (n < 0 || (size_t)n >= sizeof(t->req)) {
        fprintf(stderr, "connload: path too long: %s\n", t->path);
        return -1;
    }
    t->req_len = (uint32_t)n;
    return 0;
}

/* The value of the Content-Length field in header lines [p, end); -1 if none or bad. */
static int64_t content_length(const char *p, const char *end)
{
    static const char name[] = "content-length:";
    const size_t nl = sizeof(name) - 1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            int64_t n = 0;
            int digits = 0;
            for (; v < eol && isdigit((unsigned char)*v) && digits < 15; v++, digits++)
                n = n * 10 + (*v - '0');
            return digits ? n : -1;
        }
        p = eol + 1;
    }
    return -1;
}

int http_header(const uint8_t *p, uint32_t n, uint32_t *hdr_len, uint64_t *clen)
{
    static const char ok[] = "HTTP/1.1 200 ";
    const char *s = (const char *)p;
    if (n < sizeof(ok) - 1 || memcmp(s, ok, sizeof(ok) - 1) != 0)
        return 0;
    const char *end = memmem(s, n, "\r\n\r\n", 4);
    if (!end)
        return 0;
    int64_t cl = content_length(s, end + 2);
    if (cl < 0)
        return 0;
    *hdr_len = (uint32_t)(end + 4 - s);
    *clen = (uint64_t)cl;
    return 1;
}
