/* The protocol-independent half of a request: header access, building the
 * response head, and the end of an exchange. */
#include "gateway/request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/accesslog.h"
#include "gateway/config.h"
#include "gateway/http.h"
#include "gateway/limits.h"
#include "gateway/log.h"
#include "gateway/stats.h"
#include "gateway/worker.h"

const char *pt_req_header(const struct pt_req *r, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < r->n_hdrs; i++) {
        const struct pt_hdr *h = &r->hdrs[i];
        if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

/* A field a handler produced must not be able to split the head: names
 * are tokens, values have no CR, LF or NUL. */
static bool field_ok(const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (nlen == 0)
        return false;
    for (size_t i = 0; i < nlen; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f || c == ':')
            return false;
    }
    return !memchr(value, '\n', vlen) && !memchr(value, '\r', vlen) &&
           !memchr(value, '\0', vlen);
}

struct pt_hdr *pt_hdr_push(struct pt_pool *pool, struct pt_hdr **arr, size_t *n,
                           size_t *cap)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 12;
        struct pt_hdr *h = pt_pool_alloc(pool, c * sizeof(*h));
        if (*n)
            memcpy(h, *arr, *n * sizeof(*h));
        *arr = h;
        *cap = c;
    }
    return &(*arr)[(*n)++];
}

static struct pt_hdr *next_resp_hdr(struct pt_req *r)
{
    return pt_hdr_push(r->pool, &r->resp_hdrs, &r->n_resp_hdrs, &r->cap_resp_hdrs);
}

void pt_resp_headern(struct pt_req *r, const char *name, size_t nlen,
                     const char *value, size_t vlen)
{
    if (!field_ok(name, nlen, value, vlen)) {
        pt_warn("dropping response header \"%.*s\": invalid characters", (int)nlen, name);
        return;
    }
    struct pt_hdr *h = next_resp_hdr(r);
    h->name = pt_pool_strndup(r->pool, name, nlen);
    h->name_len = nlen;
    h->value = pt_pool_strndup(r->pool, value, vlen);
    h->value_len = vlen;
}

void pt_resp_trailer(struct pt_req *r, const char *name, size_t nlen, const char *value,
                     size_t vlen)
{
    if (!pt_http_trailer_allowed(name, nlen))
        return;
    if (!field_ok(name, nlen, value, vlen)) {
        pt_warn("dropping trailer \"%.*s\": invalid characters", (int)nlen, name);
        return;
    }
    struct pt_hdr *h = pt_hdr_push(r->pool, &r->resp_trailers, &r->n_resp_trailers,
                                   &r->cap_resp_trailers);
    h->name = pt_pool_strndup(r->pool, name, nlen);
    h->name_len = nlen;
    h->value = pt_pool_strndup(r->pool, value, vlen);
    h->value_len = vlen;
}

void pt_resp_header_ref(struct pt_req *r, const char *name, size_t nlen,
                        const char *value, size_t vlen)
{
    struct pt_hdr *h = next_resp_hdr(r);
    h->name = name;
    h->name_len = nlen;
    h->value = value;
    h->value_len = vlen;
}

void pt_req_set_authority(struct pt_req *r, const char *h, size_t len)
{
    size_t end = len;
    if (len && h[0] == '[') {
        const char *rb = memchr(h, ']', len);
        end = rb ? (size_t)(rb - h) + 1 : len;
    } else {
        const char *colon = memchr(h, ':', len);
        if (colon)
            end = (size_t)(colon - h);
    }
    char *a = pt_pool_alloc(r->pool, end + 1);
    for (size_t i = 0; i < end; i++) {
        char ch = h[i];
        a[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    a[end] = '\0';
    r->authority = a;
    r->authority_len = end;
}

void pt_resp_header(struct pt_req *r, const char *name, const char *value)
{
    pt_resp_headern(r, name, strlen(name), value, strlen(value));
}

/* Config headers were checked at load and live as long as the snapshot
 * the request holds: referenced, not copied. */
static void add_kvlist(struct pt_req *r, const struct pt_kvlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        pt_resp_header_ref(r, l->v[i].name, strlen(l->v[i].name), l->v[i].value,
                           strlen(l->v[i].value));
}

void pt_respond(struct pt_req *r, int status, int64_t length,
                const struct pt_body_ops *body, void *ctx)
{
    if (r->responded) {
        pt_err("BUG: second response to %s", r->path ? r->path : "?");
        abort();
    }
    r->responded = true;
    /* error-document-NNN: the document's content keeps the error status. */
    if (r->status_override && status >= 200 && status < 300)
        status = r->status_override;
    r->status = status;
    r->resp_length = length;
    r->body = body;
    r->body_ctx = ctx;
    if (r->vhost)
        add_kvlist(r, &r->vhost->headers);
    if (r->tls && r->vhost && r->vhost->sts)
        pt_resp_header_ref(r, "Strict-Transport-Security", 25,
                           "max-age=15768000 ; includeSubDomains", 36);
    if (r->mount)
        add_kvlist(r, &r->mount->headers);
    r->proto->respond(r);
}

void pt_respond_interim(struct pt_req *r, int status, const struct pt_hdr *hdrs, size_t n)
{
    if (r->responded || status < 102 || status > 199 || !r->proto->interim)
        return;
    struct pt_hdr *ok = pt_pool_alloc(r->pool, (n ? n : 1) * sizeof(*ok));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (field_ok(hdrs[i].name, hdrs[i].name_len, hdrs[i].value, hdrs[i].value_len))
            ok[k++] = hdrs[i];
    r->proto->interim(r, status, ok, k);
}

void pt_req_resume(struct pt_req *r)
{
    r->proto->resume(r);
}

void pt_req_body_keep(struct pt_req *r)
{
    r->body_taken = true;
}

ssize_t pt_req_body_read(struct pt_req *r, char *buf, size_t len)
{
    ssize_t n = r->proto->body_read(r, buf, len);
    if (n > 0)
        r->bytes_received += (uint64_t)n;
    return n;
}

void pt_session_drop(struct pt_session **slot)
{
    struct pt_session *s = *slot;
    if (s) {
        *slot = NULL;
        s->drop(s);
    }
}

void pt_req_abort(struct pt_req *r)
{
    if (r->proto->abort)
        r->proto->abort(r);
}

void pt_req_drain(struct pt_req *r)
{
    void (*fn)(struct pt_req *) = r->on_drain;
    r->on_drain = NULL;
    if (fn)
        fn(r);
}

void pt_req_finish(struct pt_req *r)
{
    pt_limits_request_done(r);
    if (r->on_finish) {
        void (*fin)(struct pt_req *) = r->on_finish;
        r->on_finish = NULL;
        fin(r);
    }
    if (r->body && r->body->close)
        r->body->close(r);
    r->body = NULL;
    pt_session_drop(&r->own_session);
    pt_stats_request(r);
    if (r->vhost && r->vhost->access_log_fd >= 0)
        pt_access_log(r);
    if (r->conf_held) {
        r->conf_held = false;
        pt_worker_conf_release(r->worker, r->conf); /* taken by pt_conn_init_req */
    }
}

const struct pt_vhost *pt_req_default_vhost(const struct pt_req *r)
{
    if (r->sni_vhost)
        return r->sni_vhost;
    return r->listen && r->listen->n_vhosts ? r->listen->vhosts[0] : NULL;
}

enum pt_method pt_method_from(const char *s, size_t len)
{
#define M(str, val) if (len == sizeof(str) - 1 && memcmp(s, str, len) == 0) return val
    switch (len) {
    case 3: M("GET", PT_M_GET); M("PUT", PT_M_PUT); break;
    case 4: M("HEAD", PT_M_HEAD); M("POST", PT_M_POST); break;
    case 5: M("PATCH", PT_M_PATCH); M("TRACE", PT_M_TRACE); break;
    case 6: M("DELETE", PT_M_DELETE); break;
    case 7: M("OPTIONS", PT_M_OPTIONS); M("CONNECT", PT_M_CONNECT); break;
    }
#undef M
    return PT_M_OTHER;
}

const char *pt_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    if (status >= 500) return "Server Error";
    if (status >= 400) return "Client Error";
    if (status >= 300) return "Redirect";
    return "OK";
}
