/* pt_dispatch(): request -> vhost -> mount -> (basic auth) -> handler, and
 * pt_req_reprocess() for internal redirects. */
#include <string.h>

#include "gateway/handler.h"
#include "gateway/limits.h"
#include "gateway/mount.h"
#include "gateway/request.h"
#include "gateway/vhost.h"

bool (*pt_dispatch_upgrade)(struct pt_req *r);

void pt_dispatch(struct pt_req *r)
{
    /* An error-document internal redirect comes back with the vhost set:
     * it stays on the vhost that produced the error. */
    if (!r->vhost) {
        r->vhost = pt_vhost_lookup(r->listen, r->authority, r->authority_len);
        if (!r->vhost && r->listen && r->listen->n_vhosts) {
            r->vhost = r->listen->vhosts[0];
            if (r->vhost->strict_host_check) {
                /* strict-host-check: a name nobody here serves is refused,
                 * not served by whichever vhost comes first. */
                pt_respond_error(r, 400, "unknown Host (strict-host-check)");
                return;
            }
        }
    }
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
    if (r->session && *r->session && (*r->session)->owner != (m ? m->session_owner : NULL))
        pt_session_drop(r->session); /* the session left the plugin's URL space */
    if (!m) {
        pt_respond_error(r, 404, "no mount");
        return;
    }
    r->mount = m;
    r->rest = pt_mount_rest(m, r->path, r->path_len, &r->rest_len);

    if (m->basic_auth && !pt_basic_auth_check(r)) {
        pt_basic_auth_refuse(r);
        return;
    }
    if (!m->ready) {
        /* Only possible if the loader kept a mount whose setup failed. */
        pt_respond_error(r, 500, "mount not set up");
        return;
    }
    if ((r->upgrade || r->upgrade_proto) && pt_dispatch_upgrade &&
        !pt_handler_owns_upgrades(m->handler) && pt_dispatch_upgrade(r))
        return;
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
