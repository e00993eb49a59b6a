/* permessage-deflate: negotiation and per-message (de)compression. */
#include "ws/deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* ---- negotiation ---------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static bool is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* One offer: "permessage-deflate; a; b=1".  Returns whether acceptable;
 * *server_bits: the client's server_max_window_bits, or 0. */
static bool offer_ok(const char *p, const char *end, int *server_bits)
{
    bool seen_s = false, seen_c = false, seen_sb = false, seen_cb = false;
    *server_bits = 0;
    p = skip_ws(p, end);
    const char *name = p;
    while (p < end && *p != ';' && *p != ' ' && *p != '\t')
        p++;
    if (!is(name, (size_t)(p - name), "permessage-deflate"))
        return false;
    while ((p = skip_ws(p, end)) < end) {
        if (*p != ';')
            return false;
        p = skip_ws(p + 1, end);
        const char *k = p;
        while (p < end && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t klen = (size_t)(p - k);
        const char *v = NULL;
        size_t vlen = 0;
        p = skip_ws(p, end);
        if (p < end && *p == '=') {
            p = skip_ws(p + 1, end);
            bool q = p < end && *p == '"';
            v = p + q;
            p = v;
            while (p < end && *p != ';' && *p != '"' && *p != ' ' && *p != '\t')
                p++;
            vlen = (size_t)(p - v);
            if (q && (p >= end || *p++ != '"'))
                return false;
        }
        int n = 0;
        if (v) {
            if (vlen < 1 || vlen > 2)
                return false;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return false;
                n = n * 10 + (v[i] - '0');
            }
            if (n < 8 || n > 15)
                return false;
        }
        bool *seen;
        if (is(k, klen, "server_no_context_takeover") && !v)
            seen = &seen_s;
        else if (is(k, klen, "client_no_context_takeover") && !v)
            seen = &seen_c;
        else if (is(k, klen, "server_max_window_bits") && v)
            seen = &seen_sb, *server_bits = n;
        else if (is(k, klen, "client_max_window_bits"))
            seen = &seen_cb;
        else
            return false; /* unknown, or a value where none belongs */
        if (*seen)
            return false; /* RFC 7692 7: a repeated parameter declines the offer */
        *seen = true;
    }
    /* zlib cannot make raw streams with an 8-bit window. */
    return *server_bits != 8;
}

bool pt_ws_deflate_agree(const char *offer, size_t len, char *resp, size_t cap, int *bits)
{
    const char *p = offer, *end = offer + len;
    while (p < end) {
        /* Offers are comma-separated; no quoted commas in these values. */
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        int sb;
        if (offer_ok(p, stop, &sb)) {
            *bits = sb && sb < 10 ? sb : 10;
            if (sb)
                snprintf(resp, cap, "permessage-deflate; server_no_context_takeover; "
                         "client_no_context_takeover; server_max_window_bits=%d", sb);
            else
                snprintf(resp, cap, "permessage-deflate; server_no_context_takeover; "
                         "client_no_context_takeover");
            return true;
        }
        p = comma ? comma + 1 : end;
    }
    return false;
}

/* ---- messages ------------------------------------------------------------- */

int pt_ws_inflate(const uint8_t *in, size_t len, size_t max, char **out, size_t *out_len)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* The client may use any window: 15 bits inflate them all. */
    if (inflateInit2(&z, -15) != Z_OK)
        return -1;
    size_t cap = len * 2 + 64 < max + 1 ? len * 2 + 64 : max + 1;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -1;
    size_t n = 0;
    bool ended = false;               /* a final block was seen */
    for (int pass = 0; pass < 2 && rc == 0 && !ended; pass++) {
        z.next_in = (Bytef *)(pass ? tail : in);
        z.avail_in = (uInt)(pass ? sizeof(tail) : len);
        while (rc == 0 && (z.avail_in || n == cap)) {
            if (n == cap) {
                if (cap > max) {
                    rc = -2; /* one byte past max: too big */
                    break;
                }
                size_t ncap = cap * 2 < max + 1 ? cap * 2 : max + 1;
                char *nb = realloc(buf, ncap);
                if (!nb) {
                    rc = -1;
                    break;
                }
                buf = nb;
                cap = ncap;
            }
            z.next_out = (Bytef *)buf + n;
            z.avail_out = (uInt)(cap - n);
            uInt in_before = z.avail_in;
            int zr = inflate(&z, Z_SYNC_FLUSH);
            size_t produced = cap - z.avail_out - n;
            n = cap - z.avail_out;
            if (zr == Z_STREAM_END) {
                if (pass == 0 && z.avail_in)
                    rc = -1; /* data after the final block */
                ended = true;
                break;
            }
            if (zr != Z_OK && zr != Z_BUF_ERROR)
                rc = -1;
            else if (!produced && z.avail_in == in_before && n < cap)
                break; /* no progress: it needs input it will not get */
        }
    }
    inflateEnd(&z);
    if (rc == 0 && n > max)
        rc = -2;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = n;
    return 0;
}

int pt_ws_deflate(const void *in, size_t len, int bits, uint8_t **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 4, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = deflateBound(&z, (uLong)len) + 16;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_SYNC_FLUSH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_OK || n < 4 || z.avail_in) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = n - 4; /* RFC 7692 7.2.1: without the empty block's 00 00 ff ff */
    return 0;
}
