/*
 * date.c - the Date header (RFC 9110 6.6.1), rendered once a second.
 *
 * loop.c (every pass) -> date_tick -> date_render, when the second changed
 * resp.c (resp_fill) -> date_for (the text for the second a response started in)
 *
 * Every template carries a fixed placeholder date, and its segment sums were computed
 * with it; at send time the segment gets the current text, and its checksum the
 * difference of the two sums (RFC 1624). A response keeps the second it started in, so
 * a retransmission repeats the same bytes and no response mixes two dates.
 */
#include <string.h>
#include <time.h>
#include "base/csum.h"
#include "serve/engine.h"


static void put2(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)('0' + v / 10 % 10);
    p[1] = (uint8_t)('0' + v % 10);
}

/* IMF-fixdate for a Unix time: "Sun, 06 Nov 1994 08:49:37 GMT". */
void date_render(uint64_t unix_sec, uint8_t out[DATE_LEN])
{
    static const char days[] = "ThuFriSatSunMonTueWed";  /* 1970-01-01 was a Thursday */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    uint64_t d = unix_sec / 86400, s = unix_sec % 86400;
    memcpy(out, days + 3 * (d % 7), 3);
    /* Civil date from a day count (the algorithm of H. Hinnant's date library). */
    uint64_t z = d + 719468, era = z / 146097, doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    unsigned mon = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    uint64_t year = yoe + era * 400 + (mon <= 2);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, day);
    out[7] = ' ';
    memcpy(out + 8, months + 3 * (mon - 1), 3);
    out[11] = ' ';
    put2(out + 12, (unsigned)(year / 100));
    put2(out + 14, (unsigned)(year % 100));
    out[16] = ' ';
    put2(out + 17, (unsigned)(s / 3600));
    out[19] = ':';
    put2(out + 20, (unsigned)(s / 60 % 60));
    out[22] = ':';
    put2(out + 23, (unsigned)(s % 60));
    memcpy(out + 25, " GMT", 4);
}

static uint64_t wall_sec(const struct ssdk_engine *e)
{
    if (e->tcp.net.cfg.virtual_clock)
        return e->tcp.net.now_us / 1000000u;  /* tests: the virtual clock counts from the epoch */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec;
}

/* Once per loop pass: render the date again when the second has changed. */
void date_tick(struct ssdk_engine *e)
{
    uint64_t now = wall_sec(e);
    if (now == e->date_sec && e->date_valid)
        return;
    e->date_sec = now;
    e->date_valid = 1;
    date_render(now, e->date);
}

/* The text for the second `sec`: the cached one, or rendered into `buf`. */
const uint8_t *date_for(const struct ssdk_engine *e, uint64_t sec, uint8_t buf[DATE_LEN])
{
    if (sec == e->date_sec)
        return e->date;
    date_render(sec, buf);
    return buf;
}
