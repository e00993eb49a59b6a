/* The mount table: per-mount setup (basic-auth users, then the handler's
 * own) and mountpoint matching: exact, regex, then prefix mountpoints. */
#include "gateway/mount.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "gateway/authstate.h"
#include "gateway/diag.h"
#include "gateway/handler.h"
#include "gateway/pool.h"
#include "gateway/regex.h"
#include "gateway/urlpath.h"

/* ---- origins ---- */

bool pt_mount_is(const struct pt_mount *m, const char *scheme)
{
    size_t n = strlen(scheme);
    return m->origin && strncasecmp(m->origin, scheme, n) == 0;
}

/* ---- basic-auth on a plaintext vhost ---- */

static bool loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        const uint8_t *b = a->sin6_addr.s6_addr;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && b[12] == 127);
    }
    return false;
}

/* Whether every address vh listens on is a loopback one (an unset
 * interface is all addresses; a name, every address it has). */
static bool loopback_only(const struct pt_config *conf, const struct pt_vhost *vh)
{
    bool any = false;
    for (size_t i = 0; i < conf->n_listens; i++) {
        const struct pt_listen *l = &conf->listens[i];
        for (size_t j = 0; j < l->n_vhosts; j++) {
            if (l->vhosts[j] != vh)
                continue;
            if (!loopback(&l->addr))
                return false;
            any = true;
        }
    }
    return any;
}

/* Passwords of Basic auth travel as base64: over plaintext HTTP anyone on
 * the way reads them. */
static void warn_exposed(const struct pt_config *conf, const struct pt_vhost *vh,
                         struct pt_diag *d)
{
    if (vh->ssl_cert || loopback_only(conf, vh))
        return;
    for (size_t j = 0; j < vh->n_mounts; j++) {
        const struct pt_mount *m = &vh->mounts[j];
        if (!m->basic_auth)
            continue;
        const struct pt_srcpos *p = pt_mount_key_pos(m, "basic-auth");
        pt_diag_warn(d, p->file, p->line, p->col,
                     "basic-auth on mount \"%s\" of vhost \"%s\", which is "
                     "plaintext HTTP on %s: passwords would cross the network "
                     "in clear (give the vhost a certificate, or listen on "
                     "loopback only behind a TLS proxy)", m->mountpoint, vh->name,
                     vh->interface ? "a non-loopback address" : "every address");
    }
}

/* ---- setup / teardown ---- */

int pt_mount_setup(struct pt_mount *m, struct pt_diag *d)
{
    const struct pt_handler *h = m->handler;
    const struct pt_srcpos *op = &m->origin_pos;
    if (!h) {
        pt_diag_error(d, op->file, op->line, op->col, "origin: no handler");
        return -1;
    }
    /* Run both steps even if one fails, so every error is reported. */
    int auth_rc = 0;
    if (m->basic_auth) {
        m->auth = pt_authstate_new(m->basic_auth, &m->pos, d);
        auth_rc = m->auth ? 0 : -1;
    }
    int h_rc = h->setup ? h->setup(m, d) : 0;
    if (h_rc == 0 && auth_rc == 0) {
        m->ready = true;
        return 0;
    }
    /* Leave the mount as if never set up: teardown stays safe. */
    if (h_rc == 0 && h->teardown)
        h->teardown(m);
    m->handler_data = NULL;
    pt_authstate_free(m->auth);
    m->auth = NULL;
    return -1;
}

void pt_mount_teardown(struct pt_mount *m)
{
    if (m->ready && m->handler->teardown)
        m->handler->teardown(m);
    m->ready = false;
    m->handler_data = NULL;
    pt_authstate_free(m->auth);
    m->auth = NULL;
}

int pt_mount_setup_vhost(const struct pt_config *conf, struct pt_vhost *vh,
                         struct pt_diag *d)
{
    int failed = 0;
    for (size_t j = 0; j < vh->n_mounts; j++) {
        vh->mounts[j].vhost = vh;
        vh->mounts[j].conf = conf;
        if (pt_mount_setup(&vh->mounts[j], d) < 0)
            failed++;
    }
    warn_exposed(conf, vh, d);
    return failed;
}

/* ---- matching ---- */

/* Whether path lies under m on a segment boundary ("/foo" takes "/foo",
 * "/foo/" and "/foo/x" but not "/foobar"). */
static bool mount_covers(const struct pt_mount *m, const char *path,
                            size_t len)
{
    size_t mlen = m->mountpoint_len;
    if (mlen == 0 || len < mlen || memcmp(path, m->mountpoint, mlen) != 0)
        return false;
    bool mp_slash = m->mountpoint[mlen - 1] == '/'; /* only "/" normally */
    if (m->exact_match)
        return len == mlen ||
               (len == mlen + 1 && path[mlen] == '/' && !mp_slash);
    return len == mlen || mp_slash || path[mlen] == '/';
}

/* The exact-match mount that takes path (*exact: it wins outright), else
 * the longest prefix mount.  Regex mounts (mountpoint_len 0) cover
 * nothing here. */
static const struct pt_mount *match_prefix(const struct pt_vhost *vh, const char *path,
                                           size_t len, bool *exact)
{
    const struct pt_mount *best = NULL;
    *exact = false;
    /* Few mounts per vhost: a linear pass; ties go to the first in config
     * order, and the cheap length test comes before memcmp. */
    for (size_t i = 0; i < vh->n_mounts; i++) {
        const struct pt_mount *m = &vh->mounts[i];
        if (m->exact_match && mount_covers(m, path, len)) {
            *exact = true;
            return m;
        }
        if (m->exact_match || (best && m->mountpoint_len <= best->mountpoint_len))
            continue;
        if (mount_covers(m, path, len))
            best = m;
    }
    return best;
}

/* The first regex mount, in config order, whose pattern matches path. */
static enum pt_route match_regex(const struct pt_vhost *vh, const char *path, size_t len,
                                 const struct pt_mount **m, struct pt_regex_caps *caps,
                                 const char **why)
{
    for (size_t i = 0; i < vh->n_mounts; i++) {
        const struct pt_mount *rm = &vh->mounts[i];
        if (!rm->regex)
            continue;
        int rc = pt_regex_match(rm->regex, path, len, caps, why);
        if (rc == 0)
            continue;
        *m = rm;
        return rc > 0 ? PT_ROUTE_OK : PT_ROUTE_FAILED;
    }
    return PT_ROUTE_NONE;
}

/* Exact, then regex, then prefix (caps: a regex mount's captures). */
static enum pt_route pick(const struct pt_vhost *vh, const char *path, size_t len,
                          const struct pt_mount **m, struct pt_regex_caps *caps,
                          const char **why)
{
    bool exact;
    *m = NULL;
    if (!vh)
        return PT_ROUTE_NONE;
    const struct pt_mount *p = match_prefix(vh, path, len, &exact);
    if (!exact && vh->has_regex) {
        enum pt_route rc = match_regex(vh, path, len, m, caps, why);
        if (rc != PT_ROUTE_NONE)
            return rc;
    }
    *m = p;
    return p ? PT_ROUTE_OK : PT_ROUTE_NONE;
}

/* A regex mount's rest: its template filled in, then normalized, so that
 * captures put side by side cannot make a ".." (or "//") that leaves the
 * mount's root. */
static enum pt_route regex_rest(const struct pt_mount *m, const char *path, size_t len,
                                const struct pt_regex_caps *caps, struct pt_pool *pool,
                                const char **rest, size_t *rest_len)
{
    if (!m->rest_tmpl) {
        *rest = path;
        *rest_len = len;
        return PT_ROUTE_OK;
    }
    size_t n;
    const char *filled = pt_regex_expand(pool, m->rest_tmpl, path, caps, &n);
    char *out = pt_pool_alloc(pool, n + 1);
    long o = pt_path_clean(filled, n, out);
    if (o < 0)
        return PT_ROUTE_CLIMB;
    *rest = out;
    *rest_len = (size_t)o;
    return PT_ROUTE_OK;
}

enum pt_route pt_mount_route(const struct pt_vhost *vh, const char *path, size_t len,
                             struct pt_pool *pool, const struct pt_mount **m,
                             const char **rest, size_t *rest_len, const char **why)
{
    struct pt_regex_caps caps;
    *rest = NULL;
    *rest_len = 0;
    *why = NULL;
    enum pt_route rc = pick(vh, path, len, m, &caps, why);
    if (rc != PT_ROUTE_OK)
        return rc;
    if ((*m)->regex)
        return regex_rest(*m, path, len, &caps, pool, rest, rest_len);
    *rest = pt_mount_rest(*m, path, len, rest_len);
    return PT_ROUTE_OK;
}

const struct pt_mount *pt_mount_match(const struct pt_vhost *vh,
                                      const char *path, size_t len)
{
    const struct pt_mount *m;
    struct pt_regex_caps caps;
    const char *why;
    return pick(vh, path, len, &m, &caps, &why) == PT_ROUTE_NONE ? NULL : m;
}

const char *pt_mount_rest(const struct pt_mount *m, const char *path,
                          size_t len, size_t *rest_len)
{
    size_t skip = m->mountpoint_len;
    /* A mountpoint ending in '/' ("/") keeps that '/' in the rest, so the
     * rest is always "" or starts with '/'. */
    if (skip && m->mountpoint[skip - 1] == '/')
        skip--;
    if (skip > len)
        skip = len;
    *rest_len = len - skip;
    return path + skip;
}
