/* Shared HTTP rules (see http.h). */
#include "gateway/http.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "gateway/config.h"
#include "gateway/fmt.h"
#include "gateway/httpdate.h"
#include "gateway/log.h"
#include "gateway/pool.h"
#include "gateway/request.h"


bool pt_http_list_has(const char *list, size_t len, const char *name, size_t nlen)
{
    const char *v = list, *end = list + len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *e = v;
        while (e < end && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if ((size_t)(e - v) == nlen && strncasecmp(v, name, nlen) == 0)
            return true;
        v = e;
    }
    return false;
}

bool pt_http_connection_specific(const char *n, size_t len)
{
    switch (len) {
    case 7: return strncasecmp(n, "upgrade", 7) == 0;
    case 10: return strncasecmp(n, "connection", 10) == 0 ||
                    strncasecmp(n, "keep-alive", 10) == 0;
    case 16: return strncasecmp(n, "proxy-connection", 16) == 0;
    case 17: return strncasecmp(n, "transfer-encoding", 17) == 0;
    }
    return false;
}

bool pt_http_hop_by_hop(const char *n, size_t len)
{
    return pt_http_connection_specific(n, len) || pt_http_name_is(n, len, "te") ||
           pt_http_name_is(n, len, "trailer");
}

bool pt_http_trailer_allowed(const char *n, size_t len)
{
    static const char *const banned[] = {
        "content-length", "content-encoding", "content-type", "content-range", "host",
        "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate",
        "set-cookie", "cookie", "cache-control", "expires", "date", "location", "age",
        "retry-after", "vary", "expect", "max-forwards", "range", "if-match",
        "if-none-match", "if-modified-since", "if-unmodified-since", "if-range", NULL,
    };
    if (!len || n[0] == ':' || pt_http_hop_by_hop(n, len))
        return false;
    for (size_t i = 0; banned[i]; i++)
        if (pt_http_name_is(n, len, banned[i]))
            return false;
    return true;
}

const char *pt_http_origin_form(struct pt_pool *pool, const char *t, size_t len,
                                size_t *out_len, const char **auth, size_t *alen)
{
    *auth = NULL;
    *alen = 0;
    if (len && t[0] == '/') {
        *out_len = len;
        return t;
    }
    const char *s = memchr(t, ':', len);
    if (!s || (size_t)(s - t) + 3 > len || s[1] != '/' || s[2] != '/')
        return NULL;
    const char *a = s + 3, *end = t + len, *p = a;
    while (p < end && *p != '/' && *p != '?')
        p++;
    *auth = a;
    *alen = (size_t)(p - a);
    size_t n = (size_t)(end - p);
    if (n && p[0] == '/') {
        *out_len = n;
        return p;
    }
    char *o = pt_pool_alloc(pool, n + 2);
    o[0] = '/';
    memcpy(o + 1, p, n);
    o[n + 1] = '\0';
    *out_len = n + 1;
    return o;
}

void pt_http_std_fields(const struct pt_req *r, struct pt_std_fields *f)
{
    f->date = pt_httpdate_now();
    f->server = r->conf->g.server_string;
    f->server_len = r->conf->g.server_string_len;
    f->clen_len = 0;
    if (pt_http_status_has_body(r->status) && r->resp_length >= 0)
        f->clen_len = pt_fmt_u64(f->clen, (uint64_t)r->resp_length);
}

bool pt_http_body_short(const struct pt_req *r)
{
    if (r->resp_length < 0 || r->bytes_sent >= (uint64_t)r->resp_length)
        return false;
    pt_err("%s: body ended %" PRIu64 " bytes short", r->path,
           (uint64_t)r->resp_length - r->bytes_sent);
    return true;
}
