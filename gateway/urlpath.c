/* Request-path canonicalisation: percent-decoding and dot-segment removal.
 *
 * Both happen in a single left-to-right pass over the raw path.  Segments
 * are split on raw '/' only (an encoded "%2F" is refused, since accepting
 * it would let "a%2F..%2Fb" mean different things to us and to a
 * backend), and every segment is decoded before it is compared with "."
 * and "..", so "%2e%2e" cannot slip past the traversal check. */
#include "gateway/urlpath.h"

#include <stdbool.h>
#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes the escape at in[i] == '%'.  Returns the byte or -1. */
static int decode_escape(const char *in, size_t len, size_t i)
{
    if (len - i < 3) return -1;
    int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
    if (hi < 0 || lo < 0) return -1;
    return hi << 4 | lo;
}

static bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

/* pt_path_normalize(), or pt_path_clean() when !decode ('%' is a byte). */
static long normalize(const char *in, size_t len, char *out, bool decode)
{
    if (len == 0 || in[0] != '/') return -1;

    /* Invariant: out[0..o) is the canonical prefix and ends with '/'. */
    size_t o = 1, i = 1;
    bool last_regular = false; /* the last segment was appended as a name */
    out[0] = '/';

    while (i <= len) {
        /* Decode one segment (up to the next raw '/' or the end) to out+o. */
        size_t n = 0;
        while (i < len && in[i] != '/') {
            unsigned char c = (unsigned char)in[i];
            if (c == '%' && decode) {
                int d = decode_escape(in, len, i);
                if (d <= 0 || d == '/') return -1; /* bad, %00 or %2F */
                c = (unsigned char)d;
                i += 3;
            } else {
                i++;
            }
            if (is_ctl(c)) return -1;
            out[o + n++] = (char)c;
        }
        i++; /* past the '/' (or past the end) */

        const char *seg = out + o;
        if (n == 0 || (n == 1 && seg[0] == '.')) {
            last_regular = false;                 /* "//" or "/./" */
        } else if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            if (o == 1) return -1;                /* above the root */
            o--;                                  /* drop the last name */
            while (out[o - 1] != '/') o--;
            last_regular = false;
        } else {
            o += n;
            out[o++] = '/';
            last_regular = true;
        }
    }
    /* "/a/b" keeps no trailing slash; "/a/", "/a/." and "/a/b/.." do. */
    if (last_regular) o--;
    out[o] = '\0';
    return (long)o;
}

long pt_path_normalize(const char *in, size_t len, char *out)
{
    return normalize(in, len, out, true);
}

long pt_path_clean(const char *in, size_t len, char *out)
{
    return normalize(in, len, out, false);
}

long pt_percent_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; ) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            int d = decode_escape(in, len, i);
            if (d < 0) return -1;
            c = (unsigned char)d;
            i += 3;
        } else {
            i++;
        }
        if (c == '\0') return -1;
        out[o++] = (char)c;
    }
    return (long)o;
}

/* RFC 3986 pchar and '/'. */
static bool path_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("-._~!$&'()*+,;=:@/", c));
}

static bool query_safe(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

static size_t encode(char *out, const char *in, size_t len, bool (*safe)(unsigned char))
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (safe(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    return (size_t)(o - out);
}

size_t pt_path_encode(char *out, const char *in, size_t len)
{
    return encode(out, in, len, path_safe);
}

size_t pt_query_encode(char *out, const char *in, size_t len)
{
    return encode(out, in, len, query_safe);
}
