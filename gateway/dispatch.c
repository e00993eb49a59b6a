/* pt_dispatch(): request -> vhost -> mount -> (basic auth) -> handler, and
 * pt_req_reprocess() for internal redirects. */
#include <string.h>

#include "gateway/handler.h"
#include "gateway/limits.h"
#include "gateway/mount.h"
#include "gateway/request.h"
#include "gateway/vhost.h"

/* The vhost name as an RFC 9110 quoted-string body: '"' and '\' escaped,
 * anything that cannot appear in a header dropped. */
static const char *realm(struct pt_pool *pool, const char *name)
{
    size_t n = strlen(name);
    char *out = pt_pool_alloc(pool, 2 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            continue;
        if (c == '"' || c == '\\')
            *o++ = '\\';
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

void pt_dispatch(struct pt_req *r)
{
    /* An error-document internal redirect comes back with the vhost set:
     * it stays on the vhost that produced the error. */
    if (!r->vhost)
        r->vhost = pt_vhost_select(r->listen, r->authority, r->authority_len);
    r->mount = NULL;
    r->rest = NULL;
    r->rest_len = 0;
    r->remote_user = NULL;
    if (!r->vhost) {
        pt_respond_error(r, 404, "no vhost");
        return;
    }
    if (r->sni_vhost && r->vhost != r->sni_vhost &&
        strcmp(r->vhost->ssl_cert ? r->vhost->ssl_cert : "",
               r->sni_vhost->ssl_cert ? r->sni_vhost->ssl_cert : "") != 0) {
        /* The handshake served another vhost's certificate: this connection
         * cannot speak for that name (RFC 9110 15.5.20).  Vhosts sharing a
         * certificate may share connections (browsers coalesce them). */
        const struct pt_vhost *asked = r->vhost;
        r->vhost = r->sni_vhost;
        pt_respond_error(r, 421, asked->name);
        return;
    }
    if (r->vhost->client_cert_required && !r->client_cert) {
        /* Reached through a connection made for another name (one sharing
         * the certificate): this vhost's handshake would have asked for a
         * client certificate. */
        pt_respond_error(r, 421, "client certificate required");
        return;
    }
    if (pt_limits_request(r))
        pt_dispatch_resume(r);
}

void pt_dispatch_resume(struct pt_req *r)
{
    const struct pt_mount *m = pt_mount_match(r->vhost, r->path, r->path_len);
    if (!m) {
        pt_respond_error(r, 404, "no mount");
        return;
    }
    r->mount = m;
    r->rest = pt_mount_rest(m, r->path, r->path_len, &r->rest_len);

    if (m->auth_users.n && !pt_basic_auth_check(r)) {
        size_t alen;
        bool sent = pt_req_header(r, "authorization", &alen) != NULL;
        const char *name = r->vhost->name ? r->vhost->name : "";
        pt_resp_header(r, "WWW-Authenticate",
                       pt_pool_printf(r->pool,
                                      "Basic realm=\"%s\", charset=\"UTF-8\"",
                                      realm(r->pool, name)));
        pt_respond_error(r, 401,
                         sent ? "bad credentials" : "credentials required");
        return;
    }
    if (!m->ready) {
        /* Only possible if the loader kept a mount whose setup failed. */
        pt_respond_error(r, 500, "mount not set up");
        return;
    }
    m->handler->handle(r);
}

void pt_req_reprocess(struct pt_req *r, const char *target, size_t target_len,
                      const char *path, size_t path_len, const char *query,
                      size_t query_len)
{
    r->internal_redirects++;
    if (target) {
        r->target = target;
        r->target_len = target_len;
    }
    r->path = path;
    r->path_len = path_len;
    r->query = query;
    r->query_len = query ? query_len : 0;
    /* What routing and the first handler set no longer applies; the vhost
     * stays (the new path is served by the same site). */
    r->mount = NULL;
    r->rest = NULL;
    r->rest_len = 0;
    r->remote_user = NULL;
    r->handler_ctx = NULL;
    r->on_body_ready = NULL;
    r->on_finish = NULL;
    pt_dispatch(r);
}
