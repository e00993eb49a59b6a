/* What the proxy sends upstream and hands back, whatever the protocol to
 * the backend: the request's target and fields (with the X-Forwarded-*,
 * Forwarded and Via it adds), and the response fields it passes. */
#include "proxy/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/conn.h"
#include "gateway/http.h"
#include "gateway/pool.h"
#include "gateway/request.h"
#include "gateway/urlpath.h"

/* The upstream path: the client's path and query exactly as sent, with the
 * mountpoint replaced by the origin's path.  When the raw path does not
 * begin with the mountpoint as written, or holds anything that a backend
 * could resolve differently from us (dot segments, encoded dots), the
 * normalized path that was matched is sent instead, re-encoded: never a
 * path that would leave the mount at the backend.  So is the rest a regex
 * mount filled in from captures ("http://app/users/$1"). */
static char *upstream_target(struct px *p, size_t *len)
{
    struct pt_req *r = p->r;
    const struct pt_mount *m = r->mount;
    const struct pt_upstream *u = pt_px_upstream(p->pool);
    const char *t = r->target, *auth;
    size_t tlen = r->target_len, alen;
    if (t && tlen && t[0] != '/')
        t = pt_http_origin_form(r->pool, t, tlen, &tlen, &auth, &alen);
    size_t plen = t ? strcspn(t, "?") : 0;
    if (plen > tlen)
        plen = tlen;
    const char *q = t && plen < tlen ? t + plen : NULL; /* "?..." */
    size_t qlen = q ? tlen - plen : 0;
    size_t mlen = m->mountpoint_len == 1 ? 0 : m->mountpoint_len;
    bool raw = t && !m->rest_tmpl && plen >= mlen && memcmp(t, m->mountpoint, mlen) == 0 &&
               (plen == mlen || t[mlen] == '/');
    for (size_t i = 0; raw && i < plen; i++) {
        /* "/." begins a dot segment; "%2e" may spell one. */
        if ((t[i] == '/' && i + 1 < plen && t[i + 1] == '.') ||
            (t[i] == '%' && i + 2 < plen && t[i + 1] == '2' && (t[i + 2] | 32) == 'e'))
            raw = false;
    }
    const char *rest;
    size_t rlen;
    char *enc = NULL;
    if (raw) {
        rest = t + mlen;
        rlen = plen - mlen;
    } else {
        enc = pt_pool_alloc(r->pool, 3 * r->rest_len + 1);
        rlen = pt_path_encode(enc, r->rest, r->rest_len);
        rest = enc;
        if (!q && r->query) {
            q = r->query - 1;
            qlen = r->query_len + 1;
        }
    }
    char *out = pt_pool_alloc(r->pool, u->prefix_len + rlen + 3 * qlen + 2);
    char *o = out;
    memcpy(o, u->prefix, u->prefix_len);
    o += u->prefix_len;
    memcpy(o, rest, rlen);
    o += rlen;
    if (o == out)
        *o++ = '/';
    if (q) {
        *o++ = '?';
        o += pt_query_encode(o, q + 1, qlen - 1);
    }
    *o = '\0';
    *len = (size_t)(o - out);
    return out;
}

/* Whether the client's Connection header names this field (it is then
 * hop-by-hop too). */
static bool named_by_connection(const struct pt_req *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if (pt_http_name_is(h->name, h->name_len, "connection") &&
            pt_http_list_has(h->value, h->value_len, name, len))
            return true;
    }
    return false;
}

/* Fields the proxy writes itself, or that must not cross it (an Upgrade
 * being forwarded is written again). */
static bool request_field_dropped(const struct pt_req *r, const struct pt_hdr *h)
{
    const char *n = h->name;
    size_t l = h->name_len;
    return pt_http_hop_by_hop(n, l) || pt_http_name_is(n, l, "host") ||
           pt_http_name_is(n, l, "content-length") || pt_http_name_is(n, l, "expect") ||
           pt_http_name_is(n, l, "x-forwarded-for") || pt_http_name_is(n, l, "x-forwarded-proto") ||
           pt_http_name_is(n, l, "x-forwarded-host") || pt_http_name_is(n, l, "forwarded") ||
           pt_http_name_is(n, l, "via") || named_by_connection(r, n, l);
}

/* All values of a field, joined with ", " (NULL when absent). */
static const char *joined(const struct pt_req *r, const char *name, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if (!pt_http_name_is(h->name, h->name_len, name))
            continue;
        char *o = pt_pool_alloc(r->pool, n + h->value_len + 3);
        if (n) {
            memcpy(o, out, n);
            memcpy(o + n, ", ", 2);
            n += 2;
        }
        memcpy(o + n, h->value, h->value_len);
        n += h->value_len;
        o[n] = '\0';
        out = o;
    }
    *len = n;
    return out;
}

/* The value of Host (or :authority) sent upstream. */
static const char *authority(struct px *p, size_t *len)
{
    struct pt_req *r = p->r;
    size_t hlen = 0;
    const char *host = pt_req_header(r, "host", &hlen);
    if (!host) {
        host = r->authority;
        hlen = r->authority_len;
    }
    if (p->pm->o.preserve_host && host && hlen) {
        *len = hlen;
        return host;
    }
    const char *h = pt_px_upstream(p->pool)->host_header;
    *len = strlen(h);
    return h;
}

static void add(struct pt_req *r, struct px_fields *f, size_t *cap, const char *name,
                const char *value)
{
    struct pt_hdr *h = pt_hdr_push(r->pool, &f->v, &f->n, cap);
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

void pt_px_request_fields(struct px *p, struct px_fields *f)
{
    struct pt_req *r = p->r;
    size_t cap = 0, vl;
    memset(f, 0, sizeof(*f));
    f->target = upstream_target(p, &f->target_len);
    f->authority = authority(p, &f->authority_len);
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if (!request_field_dropped(r, h))
            *pt_hdr_push(r->pool, &f->v, &f->n, &cap) = *h;
    }
    /* Who asked, as nginx's $proxy_add_x_forwarded_for: appended.  The
     * hop is our peer: behind a trusted proxy that is the proxy (the
     * client it named is in the field already), else the client. */
    const char *hop = r->hop_ip ? r->hop_ip : r->peer_ip;
    const char *v = joined(r, "x-forwarded-for", &vl);
    add(r, f, &cap, "X-Forwarded-For",
        v ? pt_pool_strcat(r->pool, v, ", ", hop, NULL) : hop);
    const char *proto = r->tls ? "https" : "http";
    add(r, f, &cap, "X-Forwarded-Proto", proto);
    size_t hlen = 0;
    const char *host = pt_req_header(r, "host", &hlen);
    if (!host) {
        host = r->authority;
        hlen = r->authority_len;
    }
    if (host && hlen) {
        char *hz = pt_pool_strndup(r->pool, host, hlen);
        add(r, f, &cap, "X-Forwarded-Host", hz);
        bool v6 = strchr(hop, ':') != NULL;
        char *fw = pt_pool_strcat(r->pool, "for=", v6 ? "\"[" : "", hop, v6 ? "]\"" : "",
                                  ";host=\"", hz, "\";proto=", proto, NULL);
        v = joined(r, "forwarded", &vl);
        add(r, f, &cap, "Forwarded", v ? pt_pool_strcat(r->pool, v, ", ", fw, NULL) : fw);
    }
    const char *via = r->version == 20 ? "2 portico" : r->version == 10 ? "1.0 portico"
                                                                        : "1.1 portico";
    v = joined(r, "via", &vl);
    add(r, f, &cap, "Via", v ? pt_pool_strcat(r->pool, v, ", ", via, NULL) : via);
}

/* Location, Content-Location and Refresh pointing at the origin point at
 * the mount on the client's host instead (proxy-rewrite-location). */
static bool rewrite_location(struct px *p, const char *name, size_t nlen, const char *v,
                             size_t vlen)
{
    struct pt_req *r = p->r;
    const struct pt_upstream *u = pt_px_upstream(p->pool);
    /* A rest filled in from captures cannot be mapped back to a path. */
    if (!p->pm->o.rewrite_location || r->mount->rest_tmpl ||
        !(pt_http_name_is(name, nlen, "location") ||
          pt_http_name_is(name, nlen, "content-location")))
        return false;
    char origin[320];
    int olen = snprintf(origin, sizeof(origin), "%s://%s%s", u->tls ? "https" : "http",
                        u->host_header, u->prefix);
    if (olen <= 0 || (size_t)olen >= sizeof(origin) || vlen < (size_t)olen ||
        strncasecmp(v, origin, (size_t)olen) != 0 ||
        (vlen > (size_t)olen && v[olen] != '/' && v[olen] != '?'))
        return false;
    size_t hlen = 0;
    const char *host = pt_req_header(r, "host", &hlen);
    if (!host) {
        host = r->authority;
        hlen = r->authority_len;
    }
    if (!host || !hlen)
        return false;
    const struct pt_mount *m = r->mount;
    size_t mlen = m->mountpoint_len == 1 ? 0 : m->mountpoint_len;
    const char *rest = v + olen;
    size_t rlen = vlen - (size_t)olen;
    char *out = pt_pool_printf(r->pool, "%s://%.*s%.*s%.*s%s", r->tls ? "https" : "http",
                               (int)hlen, host, (int)mlen, m->mountpoint, (int)rlen, rest,
                               mlen == 0 && rlen == 0 ? "/" : "");
    pt_resp_headern(r, name, nlen, out, strlen(out));
    return true;
}

void pt_px_response_field(struct px *p, const char *n, size_t nl, const char *v, size_t vl)
{
    if (pt_http_name_is(n, nl, "content-length") || pt_http_name_is(n, nl, "date") ||
        pt_http_name_is(n, nl, "server"))
        return; /* the protocol writes its own */
    if (!rewrite_location(p, n, nl, v, vl))
        pt_resp_headern(p->r, n, nl, v, vl);
}

void pt_px_note_upstream(struct px *p, const struct pt_conn *c)
{
    struct pt_req *r = p->r;
    const struct pt_upstream *u = pt_px_upstream(p->pool);
    char ip[46];
    uint16_t port;
    r->upstream_time = ev_time() - p->started;
    if (u->unix_socket) {
        r->upstream_addr = u->name; /* "unix:/path", the snapshot's */
        return;
    }
    pt_conn_peer(c, ip, sizeof(ip), &port);
    r->upstream_addr = pt_pool_printf(r->pool, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip,
                                      port);
}
