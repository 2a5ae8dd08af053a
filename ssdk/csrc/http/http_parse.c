/*
 * http_parse.c - the request side of HTTP/1.1 (RFC 9112 2-5) as data: character classes,
 * a transition table over them with a length limit per state, the methods we know; and
 * the driver that walks them, reading a request's header block as it arrives.
 *
 * tcp/ (up->sent) -> serve/serve.c (http_serve) -> hp_run -> act -> request_line
 *                                                                  -> hp_field_line
 *                                                                  -> hp_block_end
 * serve/dynamic.c (dyn_in_new: a request for the application) -> hp_run_fields: the same,
 *                                     recording where the method, target and fields are
 * http_fields.c says what the header fields mean; http_path.c makes a path's route key.
 *
 * Invariants:
 *  - the driver reads each byte once, at p->pos, and advances p->pos by one per byte; the
 *    only other reads are of a lexeme that has just ended (method, target, version, one
 *    field's name and value), whose bytes stay in the buffer until serve.c consumes the
 *    whole request;
 *  - a state that loops on itself has a limit in state_limit[], or belongs to a field
 *    line, whose bytes are bounded by the buffer and whose number by HTTP_FIELDS_MAX; so
 *    a request line always fits the buffer (32 + 1 + 2048 + 1 + 8 + 2 bytes at most) and
 *    a full buffer can only mean header fields too large (431);
 *  - an error is reported on the byte that makes it certain (a target is 414 at its
 *    2049th byte, a second Host at its line end), and the state is final from then on,
 *    as it is after HP_DONE; a zeroed struct starts the next request.
 */
#include <string.h>
#include "base/check.h"
#include "http/http_grammar.h"
#include "table/table.h"

/* --- character classes ---------------------------------------------------------------
 * Both tables are computed by the compiler from the grammar's sets, one entry per byte. */

#define IN(c, a, b) ((c) >= (a) && (c) <= (b))
#define ALPHA(c) (IN(c, 'a', 'z') || IN(c, 'A', 'Z'))
#define DIGIT(c) IN(c, '0', '9')
#define HEXDIG(c) (DIGIT(c) || IN(c, 'a', 'f') || IN(c, 'A', 'F'))
/* RFC 9110 5.6.2: tchar, beyond ALPHA and DIGIT */
#define TSYM(c) ((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' \
                 || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' \
                 || (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define TCHAR(c) (ALPHA(c) || DIGIT(c) || TSYM(c))
/* RFC 3986 2.2-2.3 */
#define UNRESERVED(c) (ALPHA(c) || DIGIT(c) || (c) == '-' || (c) == '.' || (c) == '_' \
                       || (c) == '~')
#define SUBDELIM(c) ((c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' \
                     || (c) == ')' || (c) == '*' || (c) == '+' || (c) == ',' || (c) == ';' \
                     || (c) == '=')
/* What `ssdk build` leaves unescaped in a route key: quote(safe="/:@!$&'()*+,;=-._~") */
#define KEYSAFE(c) (UNRESERVED(c) || SUBDELIM(c) || (c) == '/' || (c) == ':' || (c) == '@')

#define R4(f, c) f(c), f((c) + 1), f((c) + 2), f((c) + 3)
#define R16(f, c) R4(f, c), R4(f, (c) + 4), R4(f, (c) + 8), R4(f, (c) + 12)
#define R64(f, c) R16(f, c), R16(f, (c) + 16), R16(f, (c) + 32), R16(f, (c) + 48)
#define R256(f) R64(f, 0), R64(f, 64), R64(f, 128), R64(f, 192)

/* The classes the transition table is written over. */
enum cclass { C_TCHAR, C_VCHAR, C_COLON, C_SP, C_HT, C_CR, C_LF, C_OBS, C_CTL, C_N };
#define CLASS(c) ((c) == ' ' ? C_SP : (c) == '\t' ? C_HT : (c) == '\r' ? C_CR               \
                  : (c) == '\n' ? C_LF : (c) == ':' ? C_COLON : TCHAR(c) ? C_TCHAR         \
                  : IN(c, 0x21, 0x7e) ? C_VCHAR : (c) >= 0x80 ? C_OBS : C_CTL)
static const uint8_t char_class[256] = {R256(CLASS)};

/* The sets the lexemes are checked against once they are whole (B_*, http_grammar.h). */
#define BITS(c) ((TCHAR(c) ? B_TCHAR : 0) | (HEXDIG(c) ? B_HEX : 0) | (DIGIT(c) ? B_DIGIT : 0) \
                 | (KEYSAFE(c) ? B_KEY : 0) | (UNRESERVED(c) || SUBDELIM(c) ? B_REG : 0)      \
                 | (ALPHA(c) || DIGIT(c) || (c) == '+' || (c) == '-' || (c) == '.'            \
                    ? B_SCHEME : 0) | (ALPHA(c) ? B_ALPHA : 0))
const uint8_t hp_bits[256] = {R256(BITS)};

/* B_KEY is the route-key set ssdk build escapes by: letters, digits and ROUTE_KEY_SAFE
 * (http_grammar.h, which ssdk/core/cdefs.py reads). The table above is made by macros
 * at compile time, so this compares the two at engine start in debug builds. */
void hp_grammar_check(void)
{
    for (int c = 1; c < 256; c++) {
        int listed = ALPHA(c) || DIGIT(c) || strchr(ROUTE_KEY_SAFE, c) != NULL;
        SSDK_ASSERT(!!(hp_bits[c] & B_KEY) == listed);
        (void)listed;
    }
    SSDK_ASSERT(!(hp_bits[0] & B_KEY));
}

/* --- the header block as a state machine ---------------------------------------------
 *
 *   request-line = method SP request-target SP HTTP-version CRLF      (RFC 9112 3)
 *   field-line   = field-name ":" OWS field-value OWS CRLF           (RFC 9112 5)
 *   header block = request-line *( field-line ) CRLF
 *
 * A bare LF ends a line too (RFC 9112 2.2 allows it); a CR must be followed by LF. A line
 * that starts with whitespace (obsolete folding, RFC 9112 5.2), whitespace before a colon
 * (RFC 9112 5.1), control characters, and more than one SP between the parts of the
 * request line are errors: leniency there is what request smuggling is made of.
 */
enum state {
    S_METHOD0, S_METHOD, S_TARGET0, S_TARGET, S_VERSION0, S_VERSION, S_RL_LF,
    S_LINE0, S_NAME, S_OWS, S_VALUE, S_FIELD_LF, S_END_LF, S_DONE, S_ERR, S_N
};

/* What happens on a transition, at the byte it is made on. */
enum action {
    A_NONE,
    A_MARK,    /* a lexeme starts here */
    A_METHOD,  /* the method ends */
    A_TARGET,  /* the target ends */
    A_LINE,    /* the version and the request line end */
    A_NAME,    /* a field name ends (at the colon) */
    A_VSTART,  /* a field value starts */
    A_VEND,    /* a field value goes on at least to here */
    A_FIELD,   /* a field line ends */
    A_END,     /* the header block ends */
    A_BAD,     /* a byte the grammar has no place for: 400 */
};

struct tr {
    uint8_t next, act;
};
#define GO(s) {S_##s, A_NONE}
#define DO(s, a) {S_##s, A_##a}
#define BAD {S_ERR, A_BAD}

/* One row per state, one entry per class, in the order of enum cclass:
 *                    tchar                 other vchar           ":"
 *                    SP                    HT                    CR
 *                    LF                    obs-text              CTL
 * S_DONE and S_ERR have no row: the driver never reads on from them. */
static const struct tr dfa[S_N][C_N] = {
    [S_METHOD0]  = {DO(METHOD, MARK),     BAD,                  BAD,
                    BAD,                  BAD,                  BAD,
                    BAD,                  BAD,                  BAD},
    [S_METHOD]   = {GO(METHOD),           BAD,                  BAD,
                    DO(TARGET0, METHOD),  BAD,                  BAD,
                    BAD,                  BAD,                  BAD},
    [S_TARGET0]  = {DO(TARGET, MARK),     DO(TARGET, MARK),     DO(TARGET, MARK),
                    BAD,                  BAD,                  BAD,
                    BAD,                  BAD,                  BAD},
    [S_TARGET]   = {GO(TARGET),           GO(TARGET),           GO(TARGET),
                    DO(VERSION0, TARGET), BAD,                  BAD,
                    BAD,                  BAD,                  BAD},
    [S_VERSION0] = {DO(VERSION, MARK),    DO(VERSION, MARK),    DO(VERSION, MARK),
                    BAD,                  BAD,                  BAD,
                    BAD,                  BAD,                  BAD},
    [S_VERSION]  = {GO(VERSION),          GO(VERSION),          GO(VERSION),
                    BAD,                  BAD,                  DO(RL_LF, LINE),
                    DO(LINE0, LINE),      BAD,                  BAD},
    [S_RL_LF]    = {BAD,                  BAD,                  BAD,
                    BAD,                  BAD,                  BAD,
                    GO(LINE0),            BAD,                  BAD},
    [S_LINE0]    = {DO(NAME, MARK),       BAD,                  BAD,
                    BAD,                  BAD,                  GO(END_LF),
                    DO(DONE, END),        BAD,                  BAD},
    [S_NAME]     = {GO(NAME),             BAD,                  DO(OWS, NAME),
                    BAD,                  BAD,                  BAD,
                    BAD,                  BAD,                  BAD},
    [S_OWS]      = {DO(VALUE, VSTART),    DO(VALUE, VSTART),    DO(VALUE, VSTART),
                    GO(OWS),              GO(OWS),              DO(FIELD_LF, FIELD),
                    DO(LINE0, FIELD),     DO(VALUE, VSTART),    BAD},
    [S_VALUE]    = {DO(VALUE, VEND),      DO(VALUE, VEND),      DO(VALUE, VEND),
                    GO(VALUE),            GO(VALUE),            DO(FIELD_LF, FIELD),
                    DO(LINE0, FIELD),     DO(VALUE, VEND),      BAD},
    [S_FIELD_LF] = {BAD,                  BAD,                  BAD,
                    BAD,                  BAD,                  BAD,
                    GO(LINE0),            BAD,                  BAD},
    [S_END_LF]   = {BAD,                  BAD,                  BAD,
                    BAD,                  BAD,                  BAD,
                    DO(DONE, END),        BAD,                  BAD},
};

/* How long a lexeme may grow in the states that loop on themselves, and what an overlong
 * one is answered. A method longer than any we know is one we do not implement; a version
 * longer than "HTTP/1.1" is no version. */
static const struct {
    uint16_t max;
    uint8_t error, why;
} state_limit[S_N] = {
    [S_METHOD] = {HTTP_METHOD_MAX, SP_501, W_NONE},
    [S_TARGET] = {HTTP_TARGET_MAX, SP_414, W_NONE},
    [S_VERSION] = {8, SP_400, W_SYNTAX},
};

/* Methods are case-sensitive tokens (RFC 9110 9.1). */
static const struct {
    const char *name;
    uint8_t len, method;
} methods[] = {
    {"GET", 3, M_GET},         {"HEAD", 4, M_HEAD},       {"OPTIONS", 7, M_OPTIONS},
    {"POST", 4, M_OTHER},      {"PUT", 3, M_OTHER},       {"DELETE", 6, M_OTHER},
    {"PATCH", 5, M_OTHER},     {"CONNECT", 7, M_CONNECT}, {"TRACE", 5, M_OTHER},
};

/* The request is refused: the state is final, the answer is special response `error`. */
enum hp_result hp_fail(struct http_parse *p, uint8_t error, uint8_t why)
{
    p->state = S_ERR;
    p->error = error;
    p->why = why;
    return HP_ERROR;
}

/* The length of the path part of t: up to the query or a fragment. */
static uint16_t path_end(const uint8_t *t, size_t n)
{
    size_t i = 0;
    while (i < n && t[i] != '?' && t[i] != '#')
        i++;
    return (uint16_t)i;
}

/* --- the request line ------------------------------------------------------------------ */

/*
 * RFC 9112 3.2: which form the target has, and where its path is. The absolute form is
 * taken for http and https; its authority is then the request's host (RFC 9112 3.2.2),
 * checked here, and the Host field's value is not looked at. A userinfo part is an
 * error (RFC 9110 4.2.4).
 */
static enum hp_result target_form(struct http_parse *p, const uint8_t *b)
{
    const uint8_t *t = b + p->path;
    size_t n = p->path_len;
    if (t[0] == '/') {
        p->form = TF_ORIGIN;
        p->path_len = path_end(t, n);
        return HP_MORE;
    }
    if (n == 1 && t[0] == '*') {  /* RFC 9112 3.2.4: for OPTIONS only */
        if (p->method != M_OPTIONS)
            return hp_fail(p, SP_400, W_SYNTAX);
        p->form = TF_ASTERISK;
        p->path_len = 0;
        return HP_MORE;
    }
    size_t s = 0;
    while (s < n && (hp_bits[t[s]] & B_SCHEME))
        s++;
    if (s > 0 && (hp_bits[t[0]] & B_ALPHA) && n - s >= 3 && !memcmp(t + s, "://", 3)) {
        if (!hp_ieq(t, s, "http") && !hp_ieq(t, s, "https"))
            return hp_fail(p, SP_400, W_SYNTAX);
        size_t a = s + 3, ae = a;
        while (ae < n && t[ae] != '/' && t[ae] != '?' && t[ae] != '#')
            ae++;
        if (memchr(t + a, '@', ae - a) || !hp_host_ok(t + a, ae - a, 1, 0))
            return hp_fail(p, SP_400, W_HOST);
        p->form = TF_ABSOLUTE;
        p->host = (uint16_t)(p->path + a);
        p->host_len = (uint16_t)(ae - a);
        p->path = (uint16_t)(p->path + ae);
        p->path_len = path_end(t + ae, n - ae);
        return HP_MORE;
    }
    if (p->method == M_CONNECT) {
        if (!hp_host_ok(t, n, 1, 1))
            return hp_fail(p, SP_400, W_HOST);
        p->form = TF_AUTHORITY;
        p->path_len = 0;
        return HP_MORE;
    }
    return hp_fail(p, SP_400, W_SYNTAX);
}

/* The request line is whole: version (RFC 9112 2.3), method (RFC 9110 9.1), target. */
static enum hp_result request_line(struct http_parse *p, const uint8_t *b)
{
    const uint8_t *v = b + p->mark;
    size_t n = (size_t)(p->pos - p->mark);
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !(hp_bits[v[5]] & B_DIGIT) || v[6] != '.'
        || !(hp_bits[v[7]] & B_DIGIT))
        return hp_fail(p, SP_400, W_SYNTAX);
    if (v[5] != '1')
        return hp_fail(p, SP_505, W_NONE);  /* RFC 9110 15.6.6 */
    p->minor = (uint8_t)(v[7] - '0');
    if (p->method == M_UNKNOWN)
        return hp_fail(p, SP_501, W_NONE);  /* RFC 9110 9.1: a method we do not know */
    return target_form(p, b);
}

/* --- the driver ---------------------------------------------------------------------------- */

/* One transition's action, at the byte p->pos: marks a lexeme, or hands a whole one on.
 * out (hp_run_fields): where the request line's parts and the field lines are, or NULL. */
static inline __attribute__((always_inline)) enum hp_result
act(struct http_parse *p, const uint8_t *b, uint8_t a, struct hp_fields *out)
{
    uint16_t at = p->pos;
    switch (a) {
    case A_MARK:
        p->mark = at;
        return HP_MORE;
    case A_METHOD:
        p->method = M_UNKNOWN;
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
            if (methods[i].len == at - p->mark
                && !memcmp(b + p->mark, methods[i].name, methods[i].len))
                p->method = methods[i].method;
        if (out)
            out->method_len = at;  /* the method is the request's first lexeme */
        return HP_MORE;
    case A_TARGET:
        p->path = p->mark;
        p->path_len = (uint16_t)(at - p->mark);
        return HP_MORE;
    case A_LINE: {
        enum hp_result r = request_line(p, b);
        if (out && r == HP_MORE) {  /* the target ended one SP before the version */
            out->target_off = p->path;
            out->target_len = (uint16_t)(p->mark - 1 - p->path);
        }
        return r;
    }
    case A_NAME:
        p->name_end = at;
        p->vstart = p->vend = (uint16_t)(at + 1);
        return HP_MORE;
    case A_VSTART:
        p->vstart = at;
        p->vend = (uint16_t)(at + 1);
        return HP_MORE;
    case A_VEND:
        p->vend = (uint16_t)(at + 1);
        return HP_MORE;
    case A_FIELD:
        if (out && out->n < out->cap) {
            SSDK_ASSERT(p->mark < p->name_end && p->name_end < p->vstart
                        && p->vstart <= p->vend && p->vend <= at);
            out->f[out->n++] = (struct ssdk_field){
                p->mark, (uint16_t)(p->name_end - p->mark), p->vstart,
                (uint16_t)(p->vend - p->vstart)};
        }
        return hp_field_line(p, b);
    case A_END:
        return hp_block_end(p);
    default:
        return hp_fail(p, SP_400, W_SYNTAX);
    }
}

/* The driver: each byte's class picks the transition; a state that loops on itself is
 * held to its length limit first. Inlined into its two entry points, so hp_run's copy
 * has no trace of out. */
static inline __attribute__((always_inline)) enum hp_result
drive(struct http_parse *p, const uint8_t *b, uint32_t len, struct hp_fields *out)
{
    if (p->state == S_DONE)
        return HP_DONE;
    if (p->state == S_ERR)
        return HP_ERROR;
    while (p->pos < len) {
        struct tr t = dfa[p->state][char_class[b[p->pos]]];
        if (t.next == p->state && state_limit[t.next].max
            && p->pos - p->mark >= state_limit[t.next].max)
            return hp_fail(p, state_limit[t.next].error, state_limit[t.next].why);
        p->state = t.next;
        enum hp_result r = t.act == A_NONE ? HP_MORE : act(p, b, t.act, out);
        p->pos++;
        if (r != HP_MORE)
            return r;
    }
    return HP_MORE;
}

enum hp_result hp_run(struct http_parse *p, const uint8_t *b, uint32_t len)
{
    return drive(p, b, len, NULL);
}

enum hp_result hp_run_fields(struct http_parse *p, const uint8_t *b, uint32_t len,
                             struct hp_fields *out)
{
    return drive(p, b, len, out);
}
