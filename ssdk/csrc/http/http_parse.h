/*
 * http_parse.h - the HTTP/1.1 request grammar (http_parse.c) and body decoder
 * (http_body.c) as serve/ and the fuzz harness see them: a parser state that lives in
 * the engine's HTTP connection (serve/engine.h), its driver, the route key of a path,
 * and the decoder of a request body. The grammar's own files share http_grammar.h.
 *
 * The parser reads a request's header block from the connection's buffer as it arrives,
 * byte after byte, never the same byte twice; it keeps only offsets into that buffer and
 * what the header fields said. It does no I/O and chooses no response: it reports "more",
 * "done" or "error" (with the special response the error calls for), and serve/serve.c acts.
 * A zeroed struct http_parse is the state before the first byte of a request.
 */
#ifndef SSDK_HTTP_PARSE_H
#define SSDK_HTTP_PARSE_H
#include <stddef.h>
#include <stdint.h>
#include "ssdk.h"
#include "table/table.h"

#define HTTP_TARGET_MAX 2048   /* request-target bytes: longer is 414 */
#define HTTP_METHOD_MAX 32     /* longer than any method we know: 501 at once */
#define HTTP_FIELDS_MAX 100    /* header field lines: more is 431 */
#define HTTP_BODY_SKIP_MAX (1u << 20)  /* request body bytes we will read to discard */

enum hp_result { HP_MORE, HP_DONE, HP_ERROR };

/* What the method asks of us (serve/serve.c chooses the response from it). M_OTHER: a method we
 * know and do not allow (405); M_UNKNOWN: one we do not know (501). */
enum hp_method { M_NONE, M_GET, M_HEAD, M_OPTIONS, M_CONNECT, M_OTHER, M_UNKNOWN };

/* RFC 9112 3.2: the four forms of request-target. */
enum hp_form { TF_NONE, TF_ORIGIN, TF_ABSOLUTE, TF_AUTHORITY, TF_ASTERISK };

/* Why a request was refused, beyond its status: counted apart (ssdk_stats). */
enum hp_why { W_NONE, W_SYNTAX, W_HOST, W_FRAMING, W_PATH };

#define HF_CLOSE      0x0001  /* Connection: close */
#define HF_KEEP       0x0002  /* Connection: keep-alive */
#define HF_CONTINUE   0x0004  /* Expect: 100-continue */
#define HF_EXPECT_BAD 0x0008  /* an expectation other than 100-continue */
#define HF_LENGTH     0x0010  /* a Content-Length was given */
#define HF_TE         0x0020  /* a Transfer-Encoding was given */
#define HF_TE_CHUNKED 0x0040  /* ... and its last coding so far is chunked */
#define HF_TE_TWICE   0x0080  /* chunked was applied more than once */
#define HF_TE_CODED   0x0100  /* a coding besides chunked (gzip, ...) was applied */

/*
 * An HTTP-date as written (RFC 9110 5.6.7). It becomes seconds only when compared
 * (hp_date_seconds), since a two-digit year (rfc850-date) is read against the current
 * date.
 */
struct hp_date {
    uint16_t year;            /* four digits; two when yy2 */
    uint8_t  mon, day;        /* 1..12, 1..31 (checked against the month) */
    uint8_t  hour, min, sec;
    uint8_t  yy2;
};

#define INM_MAX 4             /* If-None-Match tags of ssdk's form kept */
#define AE_STAR CODING_N      /* ae_q[] has one entry per coding (table.h), then "*" */

/*
 * What the fields that choose among a route's variants said (http_prefs.c): content
 * coding preferences, validators and a byte range, each reduced as its field line ends
 * to what serve/variant.c compares with the table. ssdk's entity-tags are a double quote, 16
 * lower-case hex digits and a double quote; a tag of another form cannot match one of
 * them, so only tags of that form are kept, as numbers.
 */
struct hp_prefs {
    uint16_t ae_q[AE_STAR + 1];  /* Accept-Encoding weights, 0..1000, per coding and "*" */
    uint8_t  ae_named;        /* bit per entry of ae_q: the field named it */
    uint8_t  ninm;            /* tags in inm[] */
    uint16_t flags;           /* PF_* */
    uint64_t inm[INM_MAX];    /* If-None-Match: the tags of ssdk's form */
    uint64_t if_range_tag;    /* If-Range: a strong tag of ssdk's form (PF_IR_TAG) */
    struct hp_date ims;       /* If-Modified-Since (PF_IMS) */
    struct hp_date if_range_date;  /* If-Range (PF_IR_DATE) */
    uint64_t range_first;     /* Range: bytes=first-last, first- (PF_OPEN) or -last */
    uint64_t range_last;      /*   (PF_SUFFIX: the last range_last bytes) */
};

#define PF_AE        0x0001   /* an Accept-Encoding field came */
#define PF_INM       0x0002   /* an If-None-Match field came */
#define PF_INM_STAR  0x0004   /* ... and said "*" */
#define PF_INM_MORE  0x0008   /* ... with more tags of ssdk's form than inm[] keeps */
#define PF_IMS       0x0010   /* one If-Modified-Since, a valid HTTP-date */
#define PF_IMS_SEEN  0x0020   /* an If-Modified-Since line came (a second one voids it) */
#define PF_RANGE     0x0040   /* one Range field of one valid byte range */
#define PF_RANGE_SEEN 0x0080  /* a Range line came (a second one voids it) */
#define PF_SUFFIX    0x0100   /* the range is the last range_last bytes */
#define PF_OPEN      0x0200   /* the range runs from range_first to the end */
#define PF_IR        0x0400   /* an If-Range field came */
#define PF_IR_TAG    0x0800   /* ... holding a strong entity-tag of ssdk's form */
#define PF_IR_DATE   0x1000   /* ... holding an HTTP-date */

struct http_parse {
    uint16_t pos;             /* bytes of the buffer read so far */
    uint16_t mark;            /* where the current lexeme (or field line) began */
    uint16_t name_end;        /* the current field's name is [mark, name_end) */
    uint16_t vstart, vend;    /* its value, without surrounding whitespace */
    uint16_t path, path_len;  /* the path of an origin- or absolute-form target */
    uint16_t host, host_len;  /* the request's host: Host's value, or the absolute form's
                                 authority (RFC 9112 3.2.2); in the buffer like the path */
    uint16_t flags;           /* HF_* */
    uint8_t  state;           /* the grammar's state (http_parse.c) */
    uint8_t  method;          /* enum hp_method */
    uint8_t  minor;           /* HTTP/1.minor */
    uint8_t  form;            /* enum hp_form */
    uint8_t  hosts;           /* Host field lines, up to 255 */
    uint8_t  fields;          /* field lines so far */
    uint8_t  error;           /* the special response (SP_*) when the result is HP_ERROR */
    uint8_t  why;             /* enum hp_why */
    uint32_t content_length;
    struct hp_prefs pf;
};

/* Read buf[p->pos .. len) on from where the last call stopped. */
enum hp_result hp_run(struct http_parse *p, const uint8_t *buf, uint32_t len);

/*
 * Where the parts of a request are in its head, for the application: the method is
 * buf[0 .. method_len) (a request starts at the buffer's first byte); the target's path
 * and query [target_off, +target_len) (of an absolute-form target, what follows the
 * authority); and each field line's name and value (without the whitespace around it)
 * in f[0 .. n), in the order received, up to cap of them. hp_run_fields is hp_run that
 * records them as it reads: serve/ runs it once more over the head of a request it
 * hands to the application, so no connection keeps a field index while it reads.
 */
struct hp_fields {
    uint16_t method_len, target_off, target_len;
    uint16_t n, cap;
    struct ssdk_field *f;
};
enum hp_result hp_run_fields(struct http_parse *p, const uint8_t *buf, uint32_t len,
                             struct hp_fields *out);
/* Debug builds: the parser's character tables agree with what they are derived from. */
void hp_grammar_check(void);

/* Give up on the request with a special response (e.g. 431 when the buffer is full). */
enum hp_result hp_fail(struct http_parse *p, uint8_t error, uint8_t why);

/*
 * The route key of a path (docs/bundle.md, "Route keys"): percent-decoded, its
 * dot-segments removed (RFC 3986 5.2.4), repeated slashes merged, then encoded again the
 * way `ssdk build` encodes keys. path[0] is '/'. dec needs n bytes and key 3n. Returns 0,
 * or -1 for a bad escape, an escaped NUL, or a ".." above the root.
 */
int hp_path_key(const uint8_t *path, size_t n, uint8_t *dec, uint8_t *key, size_t *keylen);

/*
 * A request body as it arrives (http_body.c): Content-Length bytes, or the chunked
 * coding. kind goes back to HB_NONE when the body ends or is refused (failed, with the
 * special response in error: SP_400 or SP_413).
 */
enum hb_kind { HB_NONE, HB_LENGTH, HB_CHUNKED };
struct hp_body {
    uint32_t left;            /* body bytes still to come; chunked: of this chunk */
    uint8_t  kind;            /* enum hb_kind */
    uint8_t  state;           /* the chunk decoder's state */
    uint8_t  digits;          /* hex digits of the chunk size so far */
    uint8_t  failed;          /* the body was refused */
    uint8_t  error;           /* ...with this special response (SP_*) */
};

/* Where the body's data goes: data() gets its bytes in order (none: read and dropped);
 * chunk() hears of each chunk's size before its data and returns 0 to refuse it (413).
 * Either may be NULL. */
struct hp_body_sink {
    void *arg;
    int  (*chunk)(void *arg, uint32_t size);
    void (*data)(void *arg, const uint8_t *p, uint32_t n);
};

void hp_body_start(struct hp_body *b, int chunked, uint32_t length);
/* Read p[0..n) on: returns how many of the bytes were the body's (its data and its
 * framing; on an error, up to the byte that made it). Stops where the body ends. */
uint32_t hp_body_run(struct hp_body *b, const uint8_t *p, uint32_t n,
                     const struct hp_body_sink *s);

/* http_date.c: an HTTP-date in any of its three forms (0), or -1; and its time in
 * seconds since 1970, a two-digit year taken relative to the time `now`. */
int hp_date_parse(const uint8_t *v, size_t n, struct hp_date *d);
int64_t hp_date_seconds(const struct hp_date *d, int64_t now);

#endif
