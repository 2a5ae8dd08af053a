/*
 * http_body.c - a request body as it arrives (RFC 9112 6): Content-Length bytes counted
 * down, or the chunked coding (7.1) decoded, byte after byte across segments.
 *
 * serve/serve.c (the engine's up->recv: bytes as they come) -> hp_body_run
 *                                          -> sink->chunk (room for a chunk), sink->data
 * fuzz/fuzz_http.c -> hp_body_run (read at once or a byte at a time: the same body)
 *
 * Like the request parser, the decoder does no I/O and keeps no bytes: it reports the
 * body's data to a sink as it finds it (nothing, for a body that is read to be
 * discarded), and says how many of the bytes it was given were the body's; the rest
 * belongs to the next request. A malformed chunked body is 400, a chunk size of more
 * than 32 bits or one the sink has no room for 413: the caller refuses the request.
 */
#include "http/http_parse.h"

/* The chunk decoder's states (RFC 9112 7.1): a size line (hex digits, then extensions
 * up to CRLF), that many data bytes and their CRLF, and after the last (size 0) chunk,
 * trailer lines up to an empty line. */
enum { CS_SIZE, CS_EXT, CS_SIZE_LF, CS_DATA, CS_DATA_CR, CS_DATA_LF, CS_TRAILER_START,
       CS_TRAILER, CS_TRAILER_LF, CS_END_LF };

void hp_body_start(struct hp_body *b, int chunked, uint32_t length)
{
    *b = (struct hp_body){.kind = chunked ? HB_CHUNKED : length ? HB_LENGTH : HB_NONE,
                          .left = chunked ? 0 : length};
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static void data(const struct hp_body_sink *s, const uint8_t *p, uint32_t n)
{
    if (s && s->data && n)
        s->data(s->arg, p, n);
}

/* The decoder gives up with the special response sp, at the byte that made it. */
static uint32_t fail(struct hp_body *b, uint8_t sp, uint32_t used)
{
    b->kind = HB_NONE;
    b->failed = 1;
    b->error = sp;
    return used;
}

static uint32_t chunked(struct hp_body *b, const uint8_t *p, uint32_t n,
                        const struct hp_body_sink *s)
{
    uint32_t i = 0;
    while (i < n && b->kind == HB_CHUNKED) {
        uint8_t ch = p[i];
        switch (b->state) {
        case CS_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                if (b->digits++ == 8)  /* more than 32 bits of size */
                    return fail(b, SP_413, i + 1);
                b->left = b->left * 16 + (uint32_t)v;
            } else if (b->digits && (ch == ';' || ch == ' ' || ch == '\t')) {
                b->state = CS_EXT;
            } else if (b->digits && ch == '\r') {
                b->state = CS_SIZE_LF;
            } else {
                return fail(b, SP_400, i + 1);
            }
            i++;
            break;
        }
        case CS_EXT:  /* chunk extensions are ignored (RFC 9112 7.1.1) */
            if (ch == '\r')
                b->state = CS_SIZE_LF;
            else if (ch == '\n' || (ch < 0x20 && ch != '\t') || ch == 0x7f)
                return fail(b, SP_400, i + 1);
            i++;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                return fail(b, SP_400, i + 1);
            b->digits = 0;
            b->state = b->left ? CS_DATA : CS_TRAILER_START;
            if (b->left && s && s->chunk && !s->chunk(s->arg, b->left))
                return fail(b, SP_413, i + 1);
            i++;
            break;
        case CS_DATA: {
            uint32_t take = n - i < b->left ? n - i : b->left;
            data(s, p + i, take);
            b->left -= take;
            i += take;
            if (!b->left)
                b->state = CS_DATA_CR;
            break;
        }
        case CS_DATA_CR:
        case CS_DATA_LF:
            if (ch != (b->state == CS_DATA_CR ? '\r' : '\n'))
                return fail(b, SP_400, i + 1);
            b->state = b->state == CS_DATA_CR ? CS_DATA_LF : CS_SIZE;
            i++;
            break;
        case CS_TRAILER_START:  /* an empty line ends the body; anything else a trailer */
            b->state = ch == '\r' ? CS_END_LF : CS_TRAILER;
            if (ch == '\n')
                return fail(b, SP_400, i + 1);
            i++;
            break;
        case CS_TRAILER:
            if (ch == '\r')
                b->state = CS_TRAILER_LF;
            i++;
            break;
        case CS_TRAILER_LF:
            if (ch != '\n')
                return fail(b, SP_400, i + 1);
            b->state = CS_TRAILER_START;
            i++;
            break;
        case CS_END_LF:
            if (ch != '\n')
                return fail(b, SP_400, i + 1);
            b->kind = HB_NONE;  /* done: the rest is the next request's */
            i++;
            break;
        }
    }
    return i;
}

uint32_t hp_body_run(struct hp_body *b, const uint8_t *p, uint32_t n,
                     const struct hp_body_sink *s)
{
    if (b->kind == HB_CHUNKED)
        return chunked(b, p, n, s);
    if (b->kind != HB_LENGTH)
        return 0;
    uint32_t take = n < b->left ? n : b->left;
    data(s, p, take);
    b->left -= take;
    if (!b->left)
        b->kind = HB_NONE;
    return take;
}
