/*
 * http_date.c - HTTP-dates as a request gives them (RFC 9110 5.6.7), for
 * If-Modified-Since and If-Range: the three forms a recipient must accept, read into a
 * struct hp_date, and that date's time in seconds once the current one is known.
 *
 * http_prefs.c (a field line ends) -> hp_date_parse
 * serve/variant.c (choosing)       -> hp_date_seconds
 *
 * Names of days and months and "GMT" are case-sensitive (%s in RFC 9110's grammar). The
 * day of the week must be a day's name but is not checked against the date, as no
 * recipient needs it to be.
 */
#include <string.h>
#include "http/http_grammar.h"

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
static const char *const days_long[] = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
};

/* A three-letter day name (IMF-fixdate, asctime-date). */
static int day_short(const uint8_t *v)
{
    for (int i = 0; i < 7; i++)
        if (!memcmp(v, days_long[i], 3))
            return 1;
    return 0;
}

/* A month name at v: its number, or 0. */
static int month_of(const uint8_t *v)
{
    for (int i = 0; i < 12; i++)
        if (!memcmp(v, months + 3 * i, 3))
            return i + 1;
    return 0;
}

/* n digits at v as a number, or -1. */
static int digits(const uint8_t *v, int n)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!(hp_bits[v[i]] & B_DIGIT))
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* time-of-day = hour ":" minute ":" second, 8 bytes at v. */
static int time_of_day(const uint8_t *v, struct hp_date *d)
{
    int h = digits(v, 2), m = digits(v + 3, 2), s = digits(v + 6, 2);
    if (h < 0 || m < 0 || s < 0 || v[2] != ':' || v[5] != ':' || h > 23 || m > 59 || s > 60)
        return -1;
    d->hour = (uint8_t)h, d->min = (uint8_t)m, d->sec = (uint8_t)s;
    return 0;
}

/* A Gregorian leap year. */
static int leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* The day exists in its month (a two-digit year is taken as leap when yy % 4 == 0: the
 * century it falls in is not known yet, and 2000 was leap). */
static int day_ok(const struct hp_date *d)
{
    static const uint8_t len[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d->mon < 1 || d->mon > 12 || d->day < 1 || d->day > len[d->mon - 1])
        return 0;
    return d->mon != 2 || d->day < 29 || (d->yy2 ? d->year % 4 == 0 : leap(d->year));
}

/*
 * IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"   (29 bytes)
 * rfc850-date  "Sunday, 06-Nov-94 08:49:37 GMT"  (30 to 33 bytes)
 * asctime-date "Sun Nov  6 08:49:37 1994"        (24 bytes)
 */
int hp_date_parse(const uint8_t *v, size_t n, struct hp_date *d)
{
    memset(d, 0, sizeof(*d));
    int day, year;
    if (n == 29 && day_short(v) && !memcmp(v + 3, ", ", 2) && v[7] == ' ' && v[11] == ' '
        && v[16] == ' ' && !memcmp(v + 25, " GMT", 4)) {
        day = digits(v + 5, 2), year = digits(v + 12, 4);
        d->mon = (uint8_t)month_of(v + 8);
        if (time_of_day(v + 17, d))
            return -1;
    } else if (n == 24 && day_short(v) && v[3] == ' ' && v[7] == ' ' && v[10] == ' '
               && v[19] == ' ') {
        day = v[8] == ' ' ? digits(v + 9, 1) : digits(v + 8, 2);
        year = digits(v + 20, 4);
        d->mon = (uint8_t)month_of(v + 4);
        if (time_of_day(v + 11, d))
            return -1;
    } else {
        size_t k = 0;  /* the long day name */
        for (int i = 0; i < 7 && !k; i++) {
            size_t len = strlen(days_long[i]);
            if (n > len && !memcmp(v, days_long[i], len))
                k = len;
        }
        if (!k || n != k + 24 || memcmp(v + k, ", ", 2) != 0)
            return -1;
        const uint8_t *w = v + k + 2;  /* "06-Nov-94 08:49:37 GMT" */
        if (w[2] != '-' || w[6] != '-' || w[9] != ' ' || memcmp(w + 18, " GMT", 4) != 0)
            return -1;
        day = digits(w, 2), year = digits(w + 7, 2);
        d->mon = (uint8_t)month_of(w + 3);
        d->yy2 = 1;
        if (time_of_day(w + 10, d))
            return -1;
    }
    if (day < 0 || year < 0)
        return -1;
    d->day = (uint8_t)day;
    d->year = (uint16_t)year;
    return day_ok(d) ? 0 : -1;
}

/* Days since 1970-01-01 of a civil date (the algorithm of H. Hinnant's date library). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The year of a time (its inverse, as date.c renders it). */
static int64_t year_of(int64_t now)
{
    int64_t z = (now >= 0 ? now / 86400 : (now - 86399) / 86400) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

/* Seconds since 1970 of a date in a given year. */
static int64_t seconds_in(const struct hp_date *d, int64_t year)
{
    return days_from_civil(year, d->mon, d->day) * 86400 + d->hour * 3600 + d->min * 60
         + d->sec;
}

/*
 * RFC 9110 5.6.7: a two-digit year that would be more than 50 years in the future is the
 * most recent past year with those digits; so it is the latest year with those digits
 * that is not more than 50 years (of 365.2425 days) ahead of now.
 */
int64_t hp_date_seconds(const struct hp_date *d, int64_t now)
{
    if (!d->yy2)
        return seconds_in(d, d->year);
    int64_t horizon = now + 50 * 31556952ll, cur = year_of(now);
    int64_t year = cur - cur % 100 + d->year + 100;
    while (seconds_in(d, year) > horizon)
        year -= 100;
    return seconds_in(d, year);
}
