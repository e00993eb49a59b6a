/* libFuzzer target for the conditional request fields: the entity-tag
 * lists of If-Match / If-None-Match (mounts/etag.c) and the HTTP-dates of
 * If-Modified-Since / If-Unmodified-Since / If-Range (gateway/httpdate.c).
 * The first 33 bytes pick a file's identity (mtime, nanoseconds, size,
 * inode, CRC, flags) and so its ETag; the rest is a field value.
 *
 * Invariants: an ETag is a quoted string shorter than PT_ETAG_MAX with no
 * quote inside, and two identities (or representations) that differ get
 * different tags.  A value matches a tag only if it is "*" or contains it
 * (strongly: an occurrence without "W/"), a strong match is also a weak
 * one, "W/" tags never match strongly, a list that starts with the tag
 * matches whatever follows, and one that matched still does with more
 * elements after it.  Every time from 1970 to 9999 formats to an
 * IMF-fixdate that parses back to it, as do its RFC 850 (years 1970-2069)
 * and asctime forms; a value that parses is a time that formats and parses
 * back to itself, and an IMF-fixdate that parses names that very time
 * (apart from the day name, a leap second and how sscanf reads a number):
 * no "31 Feb" read as March, no negative hour.  Violations abort.  Run
 * by `make fuzz`. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/httpdate.h"
#include "mounts/etag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD 33
#define MAX_TIME 253402300799LL /* 9999-12-31 23:59:59 */

static bool lm(const char *h, size_t len, const char *e, size_t elen, bool weak)
{
    /* An exact-size copy: ASan sees any read past the value. */
    char *c = malloc(len ? len : 1);
    memcpy(c, h, len);
    bool m = pt_etag_list_match(c, len, e, elen, weak);
    free(c);
    return m;
}

static size_t tag(const struct pt_fstat *st, const char *coding, char *buf)
{
    size_t n = pt_etag_format_rep(st, coding, buf);
    if (n < 2 || n >= PT_ETAG_MAX || strlen(buf) != n || buf[0] != '"' ||
        buf[n - 1] != '"' || memchr(buf + 1, '"', n - 2))
        abort();
    return n;
}

static void etags(const uint64_t *w, uint8_t flags, const char *h, size_t len)
{
    struct pt_fstat a;
    memset(&a, 0, sizeof a);
    /* mtimes within +-272 years of 1970: nanoseconds fit 64 bits */
    a.mtime = (int64_t)(w[0] % (1ULL << 34)) - (1LL << 33);
    a.mtime_nsec = (int64_t)(w[1] % 1000000000u);
    a.size = w[2];
    a.ino = w[3];
    a.has_crc = flags & 1;
    a.crc32 = (uint32_t)(w[1] >> 32);
    const char *coding = flags & 2 ? "gz" : NULL;
    char e[PT_ETAG_MAX], f[PT_ETAG_MAX];
    size_t n = tag(&a, coding, e);

    /* another identity or representation: another tag */
    struct pt_fstat b = a;
    switch ((flags >> 2) % 4) {
    case 0: b.mtime = a.has_crc ? a.mtime : a.mtime + 1; b.crc32 ^= a.has_crc; break;
    case 1: b.mtime_nsec = a.has_crc ? a.mtime_nsec : (a.mtime_nsec + 1) % 1000000000;
            b.ino ^= a.has_crc; break;
    case 2: b.size ^= 1; break;
    case 3: b.ino ^= 1; break;
    }
    size_t m = tag(&b, coding, f);
    if (m == n && memcmp(e, f, n) == 0)
        abort();
    m = tag(&a, coding ? NULL : "gz", f);
    if (m == n && memcmp(e, f, n) == 0)
        abort();

    bool mw = lm(h, len, e, n, true), ms = lm(h, len, e, n, false);
    if (ms && !mw)
        abort();
    size_t i = 0, j = len;
    while (i < j && (h[i] == ' ' || h[i] == '\t'))
        i++;
    while (j > i && (h[j - 1] == ' ' || h[j - 1] == '\t'))
        j--;
    bool star = j == i + 1 && h[i] == '*';
    if (mw && !star) {
        bool any = false, strong = false;
        for (size_t p = 0; p + n <= len; p++) {
            if (memcmp(h + p, e, n) != 0)
                continue;
            any = true;
            strong = strong || !(p >= 2 && h[p - 2] == 'W' && h[p - 1] == '/');
        }
        if (!any || (ms && !strong))
            abort();
    }

    char *buf = malloc(len + n + 16);
    memcpy(buf, e, n);
    if (!lm(buf, n, e, n, true) || !lm(buf, n, e, n, false))
        abort();
    memcpy(buf, "W/", 2);
    memcpy(buf + 2, e, n);
    if (!lm(buf, n + 2, e, n, true) || lm(buf, n + 2, e, n, false))
        abort();
    /* the tag first: whatever follows */
    memcpy(buf, e, n);
    memcpy(buf + n, ", ", 2);
    memcpy(buf + n + 2, h, len);
    if (!lm(buf, n + 2 + len, e, n, true) || !lm(buf, n + 2 + len, e, n, false))
        abort();
    /* a match stays one with more elements after it */
    if (mw && !star) {
        memcpy(buf, h, len);
        memcpy(buf + len, ", \"x\"", 5);
        if (!lm(buf, len + 5, e, n, true) || lm(buf, len + 5, e, n, false) != ms)
            abort();
    }
    free(buf);
}

static time_t parse(const char *s, size_t len)
{
    char *c = malloc(len ? len : 1);
    memcpy(c, s, len);
    time_t t = pt_httpdate_parse(c, len);
    free(c);
    return t;
}

static void dates(uint64_t seed, const char *h, size_t len)
{
    time_t t = (time_t)(seed % (uint64_t)(MAX_TIME + 1));
    char s[64];
    pt_httpdate_format(t, s);
    if (strlen(s) != PT_HTTPDATE_LEN || parse(s, PT_HTTPDATE_LEN) != t)
        abort();
    struct tm tm;
    gmtime_r(&t, &tm);
    if (tm.tm_year + 1900 < 2070) {
        size_t k = strftime(s, sizeof s, "%A, %d-%b-%y %H:%M:%S GMT", &tm);
        if (parse(s, k) != t)
            abort();
    }
    size_t k = strftime(s, sizeof s, "%a %b %e %H:%M:%S %Y", &tm);
    if (parse(s, k) != t)
        abort();

    time_t r = parse(h, len);
    if (r == -1)
        return;
    if (r < 0 || r > MAX_TIME + 1)
        abort();
    if (r > MAX_TIME)
        return; /* a leap second at the end of 9999: year 10000 */
    pt_httpdate_format(r, s);
    if (parse(s, PT_HTTPDATE_LEN) != r)
        abort();
    /* "Www, DD Mon YYYY hh:mm:ss GMT" that parses: the same date again
     * (a two-digit field may be written " 6", "+6", "6 " or "-0", any
     * white space for the space: sscanf reads the same number) */
    if (len != PT_HTTPDATE_LEN || h[3] != ',' || h[4] != ' ' || h[7] != ' ' ||
        h[11] != ' ' || h[16] != ' ' || h[19] != ':' || h[22] != ':' ||
        memcmp(h + 25, " GMT", 4) != 0 || memcmp(h + 23, "60", 2) == 0)
        return;
    char v[PT_HTTPDATE_LEN];
    memcpy(v, h, sizeof v);
    static const int two[] = {5, 17, 20, 23};
    for (int i = 0; i < 4; i++) {
        char *f = v + two[i];
        if (f[0] >= '0' && f[0] <= '9' && isspace((unsigned char)f[1])) {
            f[1] = f[0];
            f[0] = '0';
        } else if (isspace((unsigned char)f[0]) || f[0] == '+' || (f[0] == '-' && f[1] == '0')) {
            f[0] = '0';
        }
    }
    if (memcmp(s + 5, v + 5, PT_HTTPDATE_LEN - 5) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t head[HEAD] = {0};
    memcpy(head, data, size < HEAD ? size : HEAD);
    uint64_t w[4];
    memcpy(w, head, sizeof w);
    const char *h = size > HEAD ? (const char *)data + HEAD : "";
    size_t len = size > HEAD ? size - HEAD : 0;
    etags(w, head[32], h, len);
    dates(w[0] ^ w[2], h, len);
    return 0;
}
