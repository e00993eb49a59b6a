/* pt_dispatch(): request -> vhost -> (reject-service-keywords) -> mount ->
 * (basic auth) -> handler, and pt_req_reprocess() for internal redirects. */
#include <string.h>

#include "gateway/config.h"
#include "gateway/handler.h"
#include "gateway/limits.h"
#include "gateway/mount.h"
#include "gateway/regex.h"
#include "gateway/request.h"
#include "gateway/vhost.h"

bool (*pt_dispatch_upgrade)(struct pt_req *r);

/* reject-service-keywords (lwsws): a User-Agent that contains a keyword
 * (case-sensitive, like lwsws's strstr) or matches a "~" one gets the
 * keyword's status.  Returns whether it answered. */
static bool reject_agent(struct pt_req *r)
{
    const struct pt_global *g = &r->conf->g;
    size_t len;
    const char *ua = g->n_rejects ? pt_req_header(r, "user-agent", &len) : NULL;
    if (!ua)
        return false;
    for (size_t i = 0; i < g->n_rejects; i++) {
        const struct pt_reject *k = &g->rejects[i];
        const char *why = NULL;
        int rc = k->regex ? pt_regex_match(k->regex, ua, len, NULL, &why)
                          : memmem(ua, len, k->keyword, k->keyword_len) != NULL;
        if (rc == 0)
            continue;
        if (rc < 0)
            pt_respond_error(r, 500, pt_pool_strcat(r->pool, "reject-service-keywords \"",
                                                    k->keyword, "\": ", why, NULL));
        else
            pt_respond_error(r, k->status, pt_pool_strcat(r->pool, "User-Agent rejected by "
                                                          "reject-service-keywords \"",
                                                          k->keyword, "\"", NULL));
        return true;
    }
    return false;
}

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
    /* Once: an error document for the refusal is not refused again. */
    if (r->internal_redirects == 0 && reject_agent(r))
        return;
    if (pt_limits_request(r))
        pt_dispatch_resume(r);
}

void pt_dispatch_resume(struct pt_req *r)
{
    const struct pt_mount *m;
    const char *why;
    enum pt_route rc = pt_mount_route(r->vhost, r->path, r->path_len, r->pool, &m,
                                      &r->rest, &r->rest_len, &why);
    const void *owner = rc == PT_ROUTE_NONE || !m ? NULL : m->session_owner;
    /* The session left the plugin's URL space; not on an internal redirect
     * (an error document), whose plugin may still hold its data. */
    if (r->session && *r->session && (*r->session)->owner != owner && !r->internal_redirects)
        pt_session_drop(r->session);
    if (rc == PT_ROUTE_NONE) {
        pt_respond_error(r, 404, "no mount");
        return;
    }
    r->mount = m; /* the log line of an error below names it */
    if (rc == PT_ROUTE_CLIMB) {
        pt_respond_error(r, 400, "the captures make a path above the mount's root");
        return;
    }
    if (rc == PT_ROUTE_FAILED) {
        /* As nginx answers a PCRE error: the pattern, not the client, is
         * at fault (it backtracks without bound). */
        pt_respond_error(r, 500, why);
        return;
    }

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
