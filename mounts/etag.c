/* Entity tags for files and the list matching of If-Match/If-None-Match. */
#include "mounts/etag.h"

#include <string.h>

static char *hex(char *o, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *o++ = tmp[--n];
    return o;
}

size_t pt_etag_format(const struct pt_fstat *st, char *buf)
{
    return pt_etag_format_rep(st, NULL, buf);
}

size_t pt_etag_format_rep(const struct pt_fstat *st, const char *coding,
                          char *buf)
{
    char *o = buf;
    *o++ = '"';
    if (st->has_crc) {
        /* An archive member: the archive's identity and the member's
         * CRC-32 and size (its DOS time is too coarse to tell edits). */
        *o++ = 'z';
        o = hex(o, st->ino);
        *o++ = '-';
        o = hex(o, st->crc32);
        *o++ = '-';
        o = hex(o, st->size);
    } else {
        /* Nanoseconds since the epoch fit 64 bits until 2554; before 1970
         * the value wraps, which is still unique. */
        uint64_t ns = (uint64_t)st->mtime * 1000000000u + (uint64_t)st->mtime_nsec;
        o = hex(o, ns);
        *o++ = '-';
        o = hex(o, st->size);
        *o++ = '-';
        o = hex(o, st->ino);
    }
    if (coding) {
        size_t n = strnlen(coding, 8);
        *o++ = '-';
        memcpy(o, coding, n);
        o += n;
    }
    *o++ = '"';
    *o = '\0';
    return (size_t)(o - buf);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool pt_etag_list_match(const char *hdr, size_t len, const char *etag,
                        size_t etag_len, bool weak)
{
    const char *p = hdr, *end = hdr + len;

    while (p < end && is_ows(*p))
        p++;
    if (p < end && *p == '*') {
        const char *q = p + 1;
        while (q < end && is_ows(*q))
            q++;
        if (q == end)
            return true;
    }
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        if (p == end)
            break;
        bool is_weak = false;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            is_weak = true;
            p += 2;
        }
        if (p == end || *p != '"')
            return false; /* malformed: treat the whole list as no match */
        const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        if (!q)
            return false;
        size_t tlen = (size_t)(q + 1 - p);
        if ((weak || !is_weak) && tlen == etag_len &&
            memcmp(p, etag, tlen) == 0)
            return true;
        p = q + 1;
    }
    return false;
}
