/* Range header parsing (RFC 9110 14.1.1, 14.2).
 *
 * What we do with the odd cases, all of which the RFC leaves to the server
 * ("a server MAY ignore the Range header field"):
 *  - a syntax error anywhere, another unit, or an empty list: NONE (200);
 *  - more than PT_RANGE_MAX range-specs (satisfiable or not): NONE;
 *  - any two satisfiable ranges that overlap: NONE.  We do not coalesce:
 *    overlapping requests are rare from real clients and are the usual
 *    shape of amplification abuse, so the whole body once is the answer;
 *    adjacent ranges ("0-9,10-19") do not overlap and are served as sent;
 *  - an empty representation: NONE (there is no byte to select, and a 200
 *    with an empty body is always a correct answer);
 *  - "-0" is an unsatisfiable suffix; "a-b" with b past the end is clamped;
 *    a number too large for 64 bits saturates (so it is past any end). */
#include "mounts/range.h"

#include <stdbool.h>
#include <strings.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses 1*DIGIT at *p, saturating at UINT64_MAX.  false if no digit. */
static bool range_num(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        s++;
    }
    if (s == *p)
        return false;
    *p = s;
    *out = v;
    return true;
}

/* One range-spec in [p, end) (already trimmed).  Returns 1 and fills *r
 * when satisfiable, 0 when valid but unsatisfiable, -1 when invalid. */
static int range_spec(const char *p, const char *end, uint64_t size,
                         struct pt_range *r)
{
    uint64_t a, b;
    if (p < end && *p == '-') {
        p++;
        if (!range_num(&p, end, &b) || p != end)
            return -1;
        if (b == 0)
            return 0;
        r->start = b >= size ? 0 : size - b;
        r->end = size - 1;
        return 1;
    }
    if (!range_num(&p, end, &a) || p == end || *p != '-')
        return -1;
    p++;
    if (p == end) {
        b = UINT64_MAX;
    } else if (!range_num(&p, end, &b) || p != end || b < a) {
        return -1;
    }
    if (a >= size)
        return 0;
    r->start = a;
    r->end = b >= size ? size - 1 : b;
    return 1;
}

static bool ranges_overlap(const struct pt_range *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++)
            if (v[i].start <= v[j].end && v[j].start <= v[i].end)
                return true;
    return false;
}

int pt_range_parse(const char *hdr, size_t len, uint64_t size,
                   struct pt_range *out, unsigned *n)
{
    const char *p = hdr, *end = hdr + len;
    unsigned specs = 0, ok = 0;

    *n = 0;
    while (p < end && is_ows(*p))
        p++;
    if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return PT_RANGE_NONE;
    p += 6;

    /* 1#range-spec: elements separated by commas, with OWS around them;
     * empty elements are allowed and skipped (RFC 9110 5.6.1). */
    while (p < end) {
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        if (p < end)
            p++; /* the comma */
        while (s < e && is_ows(*s))
            s++;
        while (e > s && is_ows(e[-1]))
            e--;
        if (s == e)
            continue;
        if (++specs > PT_RANGE_MAX)
            return PT_RANGE_NONE;
        struct pt_range r;
        int rc = range_spec(s, e, size, &r);
        if (rc < 0)
            return PT_RANGE_NONE;
        if (rc > 0)
            out[ok++] = r;
    }
    if (specs == 0 || size == 0)
        return PT_RANGE_NONE;
    if (ok == 0)
        return PT_RANGE_UNSATISFIABLE;
    if (ranges_overlap(out, ok))
        return PT_RANGE_NONE;
    *n = ok;
    return PT_RANGE_OK;
}
