#include "gateway/httpdate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char wday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void two(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void pt_httpdate_format(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999)
        year = year < 0 ? 0 : 9999;
    memcpy(out, wday[tm.tm_wday], 3);
    out[3] = ',';
    out[4] = ' ';
    two(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, mon[tm.tm_mon], 3);
    out[11] = ' ';
    two(out + 12, year / 100);
    two(out + 14, year % 100);
    out[16] = ' ';
    two(out + 17, tm.tm_hour);
    out[19] = ':';
    two(out + 20, tm.tm_min);
    out[22] = ':';
    two(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 5);
}

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(m, mon[i], 3) == 0)
            return i;
    return -1;
}

time_t pt_httpdate_parse(const char *s, size_t len)
{
    char buf[64], mname[4] = {0};
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct tm tm = {0};
    int n = 0;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT%n", &tm.tm_mday, mname,
               &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 6 && n == (int)len) {
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
    } else if (sscanf(buf, "%*[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", &tm.tm_mday, mname,
                      &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 6 && n == (int)len) {
        tm.tm_year += tm.tm_year < 70 ? 2000 : 1900;
    /* asctime: Sun Nov  6 08:49:37 1994 */
    } else if (sscanf(buf, "%*3s %3s %d %2d:%2d:%2d %4d%n", mname, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tm.tm_year, &n) == 6 && n == (int)len) {
    } else {
        return -1;
    }
    /* A date that does not exist ("31 Feb", a negative hour: sscanf reads
     * "-1") is not a valid HTTP-date, to be ignored (RFC 9110 13.1.3), not
     * normalized by timegm into another one. */
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = tm.tm_year;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    tm.tm_mon = month_index(mname);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > mdays[tm.tm_mon] ||
        (tm.tm_mon == 1 && tm.tm_mday == 29 && !leap) || tm.tm_hour < 0 ||
        tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
        tm.tm_sec > 60 || tm.tm_year < 1970)
        return -1;
    tm.tm_year -= 1900;
    return timegm(&tm);
}

static _Thread_local time_t cached_t = -1;
static _Thread_local char cached_http[PT_HTTPDATE_LEN + 1];
static _Thread_local char cached_log[32];

static void refresh(void)
{
    time_t now = time(NULL);
    if (now == cached_t)
        return;
    cached_t = now;
    pt_httpdate_format(now, cached_http);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(cached_log, sizeof(cached_log), "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

const char *pt_httpdate_now(void)
{
    refresh();
    return cached_http;
}

const char *pt_logdate_now(void)
{
    refresh();
    return cached_log;
}

void pt_isotime(double t, char *out)
{
    static _Thread_local time_t iso_t = -1;
    static _Thread_local char iso[20];
    time_t s = (time_t)t;
    if (s != iso_t) {
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
        iso_t = s;
    }
    int ms = (int)((t - (double)s) * 1000);
    if (ms > 999)
        ms = 999;
    memcpy(out, iso, 19);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10);
    memcpy(out + 23, "+00:00", 6);
}
