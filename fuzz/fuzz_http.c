/*
 * fuzz/fuzz_http.c - libFuzzer harness: arbitrary bytes as the request stream of real
 * TCP connections, for the HTTP request parser (http.c), the choice of response
 * (table.c) and the sending of it (tcp_out.c).
 *
 * Build and run: fuzz/run.sh SECONDS (or fuzz/build.sh, then
 * fuzz/build/fuzz_http -dict=fuzz/http.dict CORPUS_DIR SEED_DIR); see docs/testing.md.
 *
 * The harness is a well-behaved client: it opens a connection with a proper handshake,
 * sends the request bytes in order as the server's window allows, and acknowledges
 * everything the server sends, so no input is lost to TCP before it reaches the parser.
 * An input is:
 *
 *     opts (1 byte) | sizes (opts & 7 bytes) | request bytes (the rest)
 *
 * The request bytes are cut into segments whose lengths cycle through `sizes` (a size
 * byte s gives s bytes; 0, or no sizes at all, as many as the window and an MSS of
 * 1460 allow), so a request line or header can be split anywhere. The other bits of
 * opts:
 *   0x08  the SYN offers an MSS of 100, below the template's: the stack cuts and sums
 *         segments as it sends them instead of using the prebuilt ones
 *   0x10  the SYN offers window scaling (shift 2)
 *   0x20  the client's window is 700 bytes, so responses go out in small pieces
 *   0x40  the client sends its FIN after the last byte
 *   0x80  the virtual clock moves 700 ms after every segment: a Date changes mid-response
 * When the server closes (a 400, Connection: close, HTTP/1.0) or resets, the client
 * closes too and carries on with the rest of the bytes on a new connection, up to 6.
 * At the end the clock runs through the idle timeout and every other timer.
 *
 * Before any of that, the request bytes go straight to the parser (http_parse.c), which
 * does no I/O and so can be checked on its own: read at once or a byte at a time it
 * must come to the same result, its offsets must stay inside what it read, and the
 * route key of an accepted path must be canonical: what hp_path_key makes of it again.
 * The same bytes go to the body decoder (http_body.c) as a chunked body and as a
 * Content-Length one, at once and a byte at a time: the same body, the same end. The
 * parser that records where a request's parts are (hp_run_fields) must read as the
 * plain one and keep every offset inside the head. Then the kernel-socket path
 * (ssdk_http_answer, ssdk_http_body) answers the same bytes with the same decision
 * (serve/decide.c) as the connections will; what it hands the application is checked as
 * fz_app checks what the stack hands it.
 */
#include "harness.h"

#define O_NSIZES 0x07
#define O_SMALL_MSS 0x08
#define O_WSCALE 0x10
#define O_SMALL_WND 0x20
#define O_FIN 0x40
#define O_SLOW 0x80
#define CLIENT_MSS 1460
#define MAX_CONNS_PER_INPUT 6
#define CLIENT_ISS 1000u

struct client {
    struct ssdk_engine *e;
    uint8_t opts;
    uint16_t port;
    uint32_t snd_nxt;   /* our next sequence number */
    uint32_t acked;     /* the last acknowledgment we sent */
    uint16_t win;
    struct fz_peer *p;  /* what the server has sent us, on this connection */
};

/* The connection the hook checks segments against. */
static struct client *cur;

/*
 * What a server may never send to a client that only ever moves its ACK forward and
 * keeps its window: data beyond the window offered (RFC 9293 3.8.6; the client never
 * closes it, so no probe is due), or an ACK of bytes the client has not sent.
 */
static void check_seg(const struct fz_seg *s)
{
    if (!cur || !cur->p || s->peer_port != cur->port || (s->flags & TH_RST))
        return;
    uint32_t wnd = (uint32_t)cur->win << ((cur->opts & O_WSCALE) ? 2 : 0);
    if (s->len && cur->acked && seq_lt(cur->acked + wnd, s->seq + s->len))
        fz_fail("port %u: data up to %u beyond the window offered, %u + %u", cur->port,
                s->seq + s->len, cur->acked, wnd);
    if ((s->flags & TH_ACK) && seq_lt(cur->snd_nxt, s->ack))
        fz_fail("port %u: ACK %u of bytes never sent (SND.NXT %u)", cur->port, s->ack,
                cur->snd_nxt);
}

/* Build and inject one TCP segment from the client. */
static void send_seg(struct client *cl, uint8_t flags, uint32_t seq, const uint8_t *data,
                     uint32_t len)
{
    static uint8_t f[FZ_WIRE_MAX];
    uint8_t opt[8];
    uint32_t ol = 0;
    if (flags & TH_SYN) {
        uint16_t mss = (cl->opts & O_SMALL_MSS) ? 100 : CLIENT_MSS;
        opt[0] = TCPOPT_MSS, opt[1] = 4, opt[2] = (uint8_t)(mss >> 8), opt[3] = (uint8_t)mss;
        ol = 4;
        if (cl->opts & O_WSCALE)
            opt[4] = TCPOPT_NOP, opt[5] = TCPOPT_WS, opt[6] = 3, opt[7] = 2, ol = 8;
    }
    uint32_t tl = 20 + 20 + ol + len;
    memcpy(f, fz_server_mac, 6);
    memcpy(f + 6, fz_client_mac, 6);
    put16(f + 12, ETHTYPE_IP);
    uint8_t *ip = f + 14, *th = ip + 20;
    memset(ip, 0, 40);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)tl);
    put16(ip + 6, IP_DF);
    ip[8] = 64;
    ip[9] = IPPROTO_TCP_;
    put32(ip + 12, FZ_CLIENT_IP);
    put32(ip + 16, FZ_SERVER_IP);
    put16(ip + 10, (uint16_t)~fz_sum(ip, 20, 0));
    put16(th, cl->port);
    put16(th + 2, FZ_PORT);
    put32(th + 4, seq);
    put32(th + 8, (flags & TH_ACK) ? cl->p->snd_nxt : 0);
    th[12] = (uint8_t)(((20 + ol) / 4) << 4);
    th[13] = flags;
    put16(th + 14, cl->win);
    memcpy(th + 20, opt, ol);
    if (len)
        memcpy(th + 20 + ol, data, len);
    put16(th + 16, (uint16_t)~fz_sum(th, tl - 20, fz_pseudo(ip, IPPROTO_TCP_, tl - 20)));
    if (flags & TH_ACK)
        cl->acked = cl->p->snd_nxt;
    uint32_t n = 14 + tl;
    if (n < 60) {
        memset(f + n, 0, 60 - n);
        n = 60;
    }
    if (ssdk_mem_inject(cl->e, f, n))
        fz_fail("the RX ring refused a frame from the well-behaved client");
}

/* Acknowledge whatever the server sent, until it sends nothing new. */
static void ack_round(struct client *cl)
{
    for (int i = 0; i < 256 && cl->p->snd_nxt != cl->acked && !cl->p->rst; i++) {
        send_seg(cl, TH_ACK, cl->snd_nxt, NULL, 0);
        fz_poll(cl->e, 1);
    }
}

/* A new connection on the next port; 0 if the server did not answer the SYN. */
static int conn_open(struct client *cl)
{
    cl->port++;
    fz_peer_forget(&fz_client_addr, cl->port, FZ_PORT);
    cl->p = NULL;  /* the SYN acknowledges nothing */
    cl->acked = 0;
    cl->snd_nxt = CLIENT_ISS + 1;  /* the SYN's sequence number is used */
    send_seg(cl, TH_SYN, CLIENT_ISS, NULL, 0);
    fz_poll(cl->e, 1);
    cl->p = fz_peer(&fz_client_addr, cl->port, FZ_PORT, 0);
    if (!cl->p || !cl->p->have_iss || cl->p->rst)
        return 0;
    send_seg(cl, TH_ACK, cl->snd_nxt, NULL, 0);
    fz_poll(cl->e, 1);
    ack_round(cl);
    return !cl->p->rst;
}

/* The server closed or reset: check what it sent, and close our side. */
static void conn_close(struct client *cl)
{
    struct fz_peer *p = cl->p;
    fz_check_responses(cl->e, p);
    if (p->rst)
        return;
    send_seg(cl, TH_FIN | TH_ACK, cl->snd_nxt, NULL, 0);
    cl->snd_nxt++;
    fz_poll(cl->e, 1);
    ack_round(cl);
}

/*
 * A route key is "/" and segments, none "." or "..", none empty but a last one (a
 * trailing slash); every byte a character `ssdk build` leaves as it is, or "%" and two
 * upper-case hex digits; and a key is its own key.
 */
static void check_key(const uint8_t *k, size_t n)
{
    static const char keep[] = "-._~!$&'()*+,;=:@/";
    static uint8_t dec[3 * HTTP_TARGET_MAX], again[9 * HTTP_TARGET_MAX];
    if (n == 0 || k[0] != '/')
        fz_fail("route key does not start with /: %.*s", (int)n, k);
    for (size_t i = 0, seg = 1; i <= n; i++) {
        if (i == n || k[i] == '/') {
            size_t len = i - seg;
            if ((len == 0 && i > 0 && i < n) || (len == 1 && k[seg] == '.')
                || (len == 2 && k[seg] == '.' && k[seg + 1] == '.'))
                fz_fail("route key keeps an empty or dot segment: %.*s", (int)n, k);
            seg = i + 1;
            continue;
        }
        uint8_t ch = k[i];
        if (ch == '%') {
            for (int j = 1; j <= 2; j++)
                if (i + (size_t)j >= n || !((k[i + j] >= '0' && k[i + j] <= '9')
                                            || (k[i + j] >= 'A' && k[i + j] <= 'F')))
                    fz_fail("route key has a bad escape: %.*s", (int)n, k);
            i += 2;
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                     || (ch >= '0' && ch <= '9') || (ch && strchr(keep, ch)))) {
            fz_fail("route key has a raw %#04x: %.*s", ch, (int)n, k);
        }
    }
    size_t m;
    if (hp_path_key(k, n, dec, again, &m) || m != n || memcmp(again, k, n) != 0)
        fz_fail("route key %.*s is not its own key", (int)n, k);
}

/* The parser alone, on the first request of the input. */
static void check_parser(const uint8_t *req, size_t size)
{
    static uint8_t dec[HTTP_TARGET_MAX], key[3 * HTTP_TARGET_MAX];
    uint32_t len = size < TCP_RCV_CAP ? (uint32_t)size : TCP_RCV_CAP;
    struct http_parse whole = {0}, bytes = {0};
    enum hp_result a = hp_run(&whole, req, len), b = HP_MORE;
    for (uint32_t n = 1; n <= len && b == HP_MORE; n++)
        b = hp_run(&bytes, req, n);
    if (a != b || memcmp(&whole, &bytes, sizeof(whole)) != 0)
        fz_fail("the parser read at once says %d at %u (error %u), byte by byte %d at %u",
                a, whole.pos, whole.error, b, bytes.pos);
    if (whole.pos > len || (a == HP_MORE && whole.pos != len))
        fz_fail("the parser stopped at %u of %u bytes with result %d", whole.pos, len, a);
    if (a == HP_ERROR && (whole.error >= SP_USED || whole.error == SP_CONTINUE
                          || whole.error == SP_OPTIONS || whole.error == SP_404_GET
                          || whole.error == SP_404_HEAD))
        fz_fail("the parser refused a request with special response %u", whole.error);
    /* The parser that records where the parts are (for the application) reads alike,
     * at once and a byte at a time, and records the same. */
    static struct ssdk_field fw[HTTP_FIELDS_MAX], fb[HTTP_FIELDS_MAX];
    struct http_parse rw = {0}, rb = {0};
    struct hp_fields ow = {.f = fw, .cap = HTTP_FIELDS_MAX}, ob = {.f = fb, .cap = HTTP_FIELDS_MAX};
    enum hp_result c = hp_run_fields(&rw, req, len, &ow), d = HP_MORE;
    for (uint32_t n = 1; n <= len && d == HP_MORE; n++)
        d = hp_run_fields(&rb, req, n, &ob);
    if (c != a || d != a || memcmp(&rw, &whole, sizeof(whole)) || memcmp(&rb, &whole, sizeof(whole))
        || ow.n != ob.n || ow.method_len != ob.method_len || ow.target_off != ob.target_off
        || ow.target_len != ob.target_len || memcmp(fw, fb, ow.n * sizeof(fw[0])))
        fz_fail("the parser recording fields read otherwise: %d, %d (%u, %u fields)", c, d,
                ow.n, ob.n);
    for (uint32_t i = 0; i < ow.n; i++)
        if ((uint32_t)fw[i].name_off + fw[i].name_len > whole.pos
            || (uint32_t)fw[i].value_off + fw[i].value_len > whole.pos)
            fz_fail("field %u outside the %u bytes read", i, whole.pos);
    if (a != HP_DONE)
        return;
    if (ow.n != whole.fields || (uint32_t)ow.target_off + ow.target_len > whole.pos
        || ow.method_len == 0 || ow.method_len >= whole.pos)
        fz_fail("recorded %u of %u fields, target [%u, +%u), method %u in %u bytes", ow.n,
                whole.fields, ow.target_off, ow.target_len, ow.method_len, whole.pos);
    if (whole.path + whole.path_len > whole.pos || whole.path_len > HTTP_TARGET_MAX)
        fz_fail("path [%u, +%u) outside the %u bytes read", whole.path, whole.path_len,
                whole.pos);
    if (whole.method == M_NONE || whole.method == M_UNKNOWN || whole.form == TF_NONE)
        fz_fail("a request accepted with method %u, form %u", whole.method, whole.form);
    if ((whole.form == TF_ORIGIN || whole.form == TF_ABSOLUTE) && whole.path_len) {
        size_t k;
        if (!hp_path_key(req + whole.path, whole.path_len, dec, key, &k))
            check_key(key, k);
    }
}

/* What a body decoder reported, for comparing two reads of the same bytes. */
struct body_seen {
    uint8_t data[TCP_RCV_CAP];
    uint32_t len, chunks;
};

static int seen_chunk(void *arg, uint32_t size)
{
    struct body_seen *b = arg;
    b->chunks++;
    return size <= sizeof(b->data) - b->len;  /* no room beyond the buffer: 413 */
}

static void seen_data(void *arg, const uint8_t *p, uint32_t n)
{
    struct body_seen *b = arg;
    if (n > sizeof(b->data) - b->len)
        fz_fail("the body decoder gave %u bytes after %u, beyond a chunk it was told of", n,
                b->len);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* The body decoder (http/http_body.c) alone, on the input's bytes as a chunked body and
 * as a Content-Length body: read at once or a byte at a time it must come to the same
 * body, end or error at the same byte, and never take more bytes than it was given. */
static void check_body(const uint8_t *p, size_t size)
{
    static struct body_seen whole, bytes;
    uint32_t len = size < TCP_RCV_CAP ? (uint32_t)size : TCP_RCV_CAP;
    for (int chunked = 0; chunked <= 1; chunked++) {
        struct hp_body a, b;
        hp_body_start(&a, chunked, len / 2);
        hp_body_start(&b, chunked, len / 2);
        whole.len = whole.chunks = bytes.len = bytes.chunks = 0;
        const struct hp_body_sink ws = {&whole, seen_chunk, seen_data};
        const struct hp_body_sink bs = {&bytes, seen_chunk, seen_data};
        uint32_t ua = hp_body_run(&a, p, len, &ws), ub = 0;
        while (ub < len && b.kind != HB_NONE)
            ub += hp_body_run(&b, p + ub, 1, &bs);
        if (ua > len || ua != ub || a.kind != b.kind || a.failed != b.failed
            || a.error != b.error || whole.len != bytes.len || whole.chunks != bytes.chunks
            || memcmp(whole.data, bytes.data, whole.len) != 0)
            fz_fail("the %s decoder read at once took %u bytes (%u of body, failed %u), "
                    "byte by byte %u (%u, failed %u)", chunked ? "chunked" : "length", ua,
                    whole.len, a.failed, ub, bytes.len, b.failed);
        if (!chunked && (whole.len != len / 2 || a.kind != HB_NONE || a.failed))
            fz_fail("a Content-Length body of %u bytes read as %u", len / 2, whole.len);
        if (a.failed && a.error != SP_400 && a.error != SP_413)
            fz_fail("the body decoder refused with special response %u", a.error);
    }
}

/*
 * The kernel-socket path (serve/answer.c) on the same bytes, on the engine with the
 * application's route: the same decision (serve/decide.c) with no connection. Its
 * answer stays inside the request and the table; a request for the application reads
 * its body from the bytes after the head, and hands over a record fz_check_request
 * accepts.
 */
static void check_answer(struct ssdk_engine *e, const uint8_t *req, size_t size)
{
    uint32_t len = size > 3 * TCP_RCV_CAP ? 3 * TCP_RCV_CAP : (uint32_t)size;
    struct ssdk_answer a, refused;
    int rc = ssdk_http_answer(e, req, len, &a);
    if (rc < 0)
        fz_fail("ssdk_http_answer: %d", rc);
    if (rc == 0)
        return;
    if (a.consumed > len || (a.app && (a.status || !a.pending || a.stream_len))
        || (!a.app && (a.pending || !a.status || a.chunked))
        || (a.interim_len && !a.keep && !a.app) || (a.chunked && a.body))
        fz_fail("answer: status %u, consumed %u of %u, app %u, keep %u, chunked %u",
                a.status, a.consumed, len, a.app, a.keep, a.chunked);
    if (!a.app) {
        if (a.stream_off + a.stream_len > fz_blob_len || (!a.keep && a.body))
            fz_fail("answer: stream [%lu, +%lu), body %u, keep %u",
                    (unsigned long)a.stream_off, (unsigned long)a.stream_len, a.body, a.keep);
        return;
    }
    struct ssdk_request r;
    uint32_t used = 0, at = a.consumed;
    rc = 0;
    while (rc == 0 && at <= len) {  /* the body as it comes: a few bytes at a time */
        uint32_t n = len - at < 7 ? len - at : 7;
        rc = ssdk_http_body(e, a.pending, req + at, n, &used, &r, &refused);
        if (used > n || (rc == 0 && used != n))
            fz_fail("the body took %u of %u bytes (result %d)", used, n, rc);
        at += used;
        if (n == 0)
            break;
    }
    if (rc == 1) {
        fz_check_request(&r);
        if (r.keep != a.keep)
            fz_fail("the request's keep %u is not the answer's %u", r.keep, a.keep);
    } else if (rc == 2 && (refused.keep || (refused.status != 400 && refused.status != 413))) {
        fz_fail("a body refused with %u, keep %u", refused.status, refused.keep);
    } else if (rc < 0) {
        fz_fail("ssdk_http_body: %d", rc);
    }
    ssdk_http_pending_free(a.pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct client cl = {.opts = data[0], .port = 40000};
    size_t nsizes = data[0] & O_NSIZES;
    if (size < 1 + nsizes)
        return 0;
    const uint8_t *sizes = data + 1, *req = data + 1 + nsizes;
    size_t len = size - 1 - nsizes, pos = 0, k = 0;
    check_parser(req, len);
    check_body(req, len);
    cl.win = (cl.opts & O_SMALL_WND) ? 700 : 65535;
    cur = &cl;
    fz_seg_hook = check_seg;
    fz_peers_reset();
    cl.e = fz_engine();
    check_answer(cl.e, req, len);
    int conns = 1, live = conn_open(&cl), stuck = 0;
    while (live && pos < len) {
        struct fz_peer *p = cl.p;
        if (p->rst || p->fin) {
            conn_close(&cl);
            if (++conns > MAX_CONNS_PER_INPUT)
                break;
            live = conn_open(&cl);
            continue;
        }
        int32_t room = (int32_t)(p->rcv_nxt + p->wnd - cl.snd_nxt);
        if (room <= 0) {
            /* The server holds a full buffer until its response is acknowledged; the
             * ACKs went out already, so only its timers can move it now. */
            if (++stuck > 8)
                break;
            ssdk_clock_set(cl.e, ssdk_clock_now(cl.e) + 1000000);
            fz_poll(cl.e, 1);
            ack_round(&cl);
            continue;
        }
        stuck = 0;
        uint8_t s = nsizes ? sizes[k++ % nsizes] : 0;
        uint32_t n = s ? s : CLIENT_MSS;
        if (n > (uint32_t)room)
            n = (uint32_t)room;
        if (n > len - pos)
            n = (uint32_t)(len - pos);
        send_seg(&cl, TH_PSH | TH_ACK, cl.snd_nxt, req + pos, n);
        cl.snd_nxt += n;
        pos += n;
        if (cl.opts & O_SLOW)
            ssdk_clock_set(cl.e, ssdk_clock_now(cl.e) + 700000);
        fz_poll(cl.e, 1);
        ack_round(&cl);
    }
    if (live && (cl.p->fin || cl.p->rst)) {
        conn_close(&cl);
    } else if (live) {
        if (cl.opts & O_FIN) {
            send_seg(&cl, TH_FIN | TH_ACK, cl.snd_nxt, NULL, 0);
            cl.snd_nxt++;
            fz_poll(cl.e, 1);
            ack_round(&cl);
        }
        /* Past the idle timeout: the server closes a quiet keep-alive connection. */
        ssdk_clock_set(cl.e, ssdk_clock_now(cl.e) + 6000000);
        fz_poll(cl.e, 1);
        ack_round(&cl);
        if ((cl.p->fin || cl.p->rst) && !(cl.opts & O_FIN))
            conn_close(&cl);
    }
    fz_run_out_clock(cl.e);
    fz_report(cl.e);
    ssdk_engine_free(cl.e);
    cur = NULL;
    return 0;
}
